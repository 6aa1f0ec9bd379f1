//! The ring's in-memory layout, shared by the writer (`record`) and by the reader of
//! crash-surviving ring files: how events pack into a slot's two payload words, the tag
//! that validates a slot, and where blocks and slots sit.
//!
//! `a` is the task id (or span id for orphan waker ops); `b` is
//! `kind (8 bits) | flags (8 bits) | aux (48 bits)`, where `aux` holds a second id or a
//! number (parent task, waking task, timer duration, I/O readiness count). Keeping a
//! record at four words keeps two records per cache line.
//!
//! Why one record can stand for three events: a poll's end is the one record a poll
//! needs. Its duration says where it started (the lane state covers a poll still
//! running at the dump), and the net of the task's own waker clones and drops inside the
//! poll rides in the task word's high bits. A busy I/O task's cycle (wake, poll start,
//! own waker op, poll end) takes two slots instead of four: the ring keeps twice the
//! time. [`decode`] expands a record back into the events it stands for.

use crate::{EventKind, WakeSource, WakerOp};

/// Slots per block.
pub const BLOCK_EVENTS: usize = 64;
/// Bytes of one slot: a word holding the tag (high 32 bits) and the timestamp as a signed
/// 32-bit offset from the block's base (low 32), then the two payload words.
///
/// Why not a whole word each for tag and timestamp: a 24-byte slot keeps a third more
/// records per MiB than a 32-byte one. A 32-bit tag still rejects a torn or stale slot
/// but once in four billion, and a writer whose timestamp is more than 2^31 ticks (0.7 s
/// at 3 GHz) from its block's base takes a fresh block.
pub const SLOT_BYTES: usize = 24;
/// Offset of the first slot in a block (after the header, the base timestamp and padding
/// to a cache line).
pub const BLOCK_SLOTS_OFFSET: usize = 64;
/// Offset of the block's base timestamp (raw ticks), after the header word.
pub const BLOCK_BASE_OFFSET: usize = 8;
/// Bytes of one block, a cache line multiple.
pub const BLOCK_BYTES: usize = BLOCK_SLOTS_OFFSET + BLOCK_EVENTS * SLOT_BYTES;
/// Bytes of one task-table slot in the recorder, with its task's live wakers and span
/// handles (it has 0.75-1.5 slots per record).
pub const TASK_SLOT_BYTES: usize = 48;

/// Task-table slots of a recorder whose ring holds `capacity` records: three per four
/// records rounded up to a power of two (0.75-1.5 per record), at least 1,024 and at
/// most 2^21 (64 MiB). A task can take as few as two records (its spawn, and the one poll
/// whose end carries its termination), so a full window of such tasks holds
/// `capacity / 2` of them; a slot is reused only once the ring has gone a full turn past
/// its task's end, so half a slot per record would leave no slack and send such tasks to
/// the slower overflow table.
pub fn task_slots(capacity: usize) -> usize {
    (capacity / 4 * 3)
        .next_power_of_two()
        .clamp(1 << 10, 1 << 21)
}

/// What a recorder of `capacity` records allocates up front: the ring's blocks and the
/// task table's slots (the span table's fixed 512 KiB aside).
pub fn recorder_bytes(capacity: usize) -> u64 {
    let ring = (capacity.div_ceil(BLOCK_EVENTS) as u64).saturating_mul(BLOCK_BYTES as u64);
    ring.saturating_add((task_slots(capacity) * TASK_SLOT_BYTES) as u64)
}

/// Lane ids live in the low 24 bits of a block header.
pub const LANE_BITS: u32 = 24;
/// A slot's first word while it is being written (tag 0, offset 1): torn if read so.
pub const SLOT_BUSY: u64 = 1;

/// A slot's tag: written last, it validates the slot. It hashes the block's claim header,
/// the slot's position, the whole timestamp and the payload, so a slot being written,
/// left from an earlier claim of the block, or mixed from two writers, does not match.
/// 32 bits, never 0.
#[inline]
pub fn tag(header: u64, pos: usize, ts: u64, a: u64, b: u64) -> u32 {
    let mut h = header.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ pos as u64;
    h = (h ^ ts).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ a).wrapping_mul(0x94D0_49BB_1331_11EB);
    h = (h ^ b).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h ^ (h >> 31)) >> 32) as u32 | 1
}

/// A slot's first word for a record at `ts` in a block based at `base`; `None` when `ts`
/// is too far from the base (the writer takes a fresh block).
#[inline]
pub fn slot_word(header: u64, base: u64, pos: usize, ts: u64, a: u64, b: u64) -> Option<u64> {
    let offset = i32::try_from(ts.wrapping_sub(base) as i64).ok()?;
    Some((u64::from(tag(header, pos, ts, a, b)) << 32) | u64::from(offset as u32))
}

/// The largest `aux` a record holds (48 bits); [`pack`] saturates a larger one to it.
pub const AUX_MAX: u64 = (1 << 48) - 1;

/// A record's kind, the low byte of `b`: one per [`EventKind`] variant. Each variant
/// says what `a` and `aux` hold; [`decode`] is the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// `a`: the task; `aux`: the parent task ([`opt_aux`]).
    Spawn = 1,
    /// `a`: the task.
    PollStart,
    /// `a`: the task (or a folded task word, [`fold_op`]); `aux`: the duration in ns
    /// with [`F_HAS_VALUE`], in raw ticks with [`F_START_FOLDED`].
    PollEnd,
    /// `a`: the task woken; `aux`: the waking task with [`F_SRC_TASK`].
    Wake,
    /// `a`: the task; `aux`: its live wakers after the op, with [`F_HAS_VALUE`].
    WakerClone,
    /// `a`: the task; `aux`: its live wakers after the op, with [`F_HAS_VALUE`].
    WakerDrop,
    /// `a`: the closed task span's id; flags: the op ([`waker_op_code`]).
    OrphanWaker,
    /// `a`: the task.
    Terminate,
    /// No payload.
    Park,
    /// `aux`: the I/O readiness count, with [`F_HAS_VALUE`].
    Unpark,
    /// No payload.
    ThreadStart,
    /// No payload.
    ThreadStop,
    /// `a`: the task (0: none); `aux`: the duration in milliseconds.
    TimerArm,
    /// `a`: the task; `aux`: the scheduling latency in ns.
    Scheduled,
    /// `a`: time on a CPU in ns; `aux`: run-queue wait in ns, modulo 2^48.
    CpuStat,
    /// `a` and `aux` as [`pack_sample`] packs them.
    PollSample,
    /// `a`: the task; `aux`: the stack id.
    PollStack,
}

const KINDS: [Kind; 17] = [
    Kind::Spawn,
    Kind::PollStart,
    Kind::PollEnd,
    Kind::Wake,
    Kind::WakerClone,
    Kind::WakerDrop,
    Kind::OrphanWaker,
    Kind::Terminate,
    Kind::Park,
    Kind::Unpark,
    Kind::ThreadStart,
    Kind::ThreadStop,
    Kind::TimerArm,
    Kind::Scheduled,
    Kind::CpuStat,
    Kind::PollSample,
    Kind::PollStack,
];

// Flag bits.
/// PollEnd: the future finished (or was cancelled) in this poll.
pub const F_COMPLETED: u8 = 1;
/// Wake: `wake_by_ref` (the same bit as [`F_COMPLETED`], on another kind).
pub const F_BY_REF: u8 = 1;
/// Wake: from inside a task's poll; `aux` is that task.
pub const F_SRC_TASK: u8 = 2;
/// Wake: from a runtime worker outside any poll (the I/O or timer driver). With neither
/// source flag, the wake came from a thread that is not a worker.
pub const F_SRC_DRIVER: u8 = 4;
/// `aux` holds the kind's optional value (a poll's duration, a live waker count, the I/O
/// readiness count); without it the value reads as `None`.
pub const F_HAS_VALUE: u8 = 8;
/// PollEnd: `aux` is the poll's duration in raw clock ticks, and the poll's start (not
/// written) is at `ts - aux`. The writer keeps each lane's raw timestamps strictly
/// increasing, so no other record of the lane shares the start's timestamp.
pub const F_START_FOLDED: u8 = 16;
/// PollEnd with a folded own waker op: the op was a drop (else a clone).
pub const F_OP_DROP: u8 = 32;
/// PollEnd carrying a folded own waker op (see [`fold_op`]).
pub const F_OP_FOLDED: u8 = 64;
/// PollEnd of the poll that ended its task: the task's Terminate (not written) happened
/// inside the poll, and reads back just before the end, at its timestamp. Tokio runs the
/// terminate hook inside the poll that completes a task, so this saves a record and a
/// clock read for almost every task; a task that ends outside a poll (dropped at the
/// runtime's shutdown) still gets a Terminate record of its own.
pub const F_TERMINATED: u8 = 128;

/// With [`F_OP_FOLDED`], a PollEnd's task id lives in the low 40 bits of `a` and the op's
/// live count plus one in the high 24.
pub const FOLD_TASK_BITS: u32 = 40;
/// The largest task id a folded PollEnd, or a PollSample, can carry.
pub const FOLD_TASK_MAX: u64 = (1 << FOLD_TASK_BITS) - 1;
/// Largest live count a folded op can carry.
pub const FOLD_LIVE_MAX: u64 = (1 << (64 - FOLD_TASK_BITS)) - 2;

/// A PollEnd's task word with a folded waker op whose live count is `live`, if both fit.
#[inline]
pub fn fold_op(task: u64, live: u64) -> Option<u64> {
    (task <= FOLD_TASK_MAX && live <= FOLD_LIVE_MAX).then(|| task | ((live + 1) << FOLD_TASK_BITS))
}

/// A record's `b` word: the kind, its flags, and `aux` (saturated at [`AUX_MAX`]).
#[inline]
pub fn pack(kind: Kind, flags: u8, aux: u64) -> u64 {
    (kind as u64) | (u64::from(flags) << 8) | (aux.min(AUX_MAX) << 16)
}

/// Thread states a [`Kind::PollSample`] carries, as the kernel's `/proc/.../stat` letters.
const SAMPLE_STATES: [u8; 8] = [b'?', b'R', b'S', b'D', b'T', b'Z', b'X', b'I'];
const SAMPLE_NO_SYSCALL: u64 = 0xfff;
const SAMPLE_US_BITS: u32 = 24;

/// The words of a [`Kind::PollSample`], `(a, aux)`: the task (40 bits), the system call
/// (12) and the state (4) in `a`; the cumulative CPU and run-queue times in microseconds
/// modulo 2^24, 24 bits each, in `aux`. `None` for a task id over 40 bits.
pub fn pack_sample(
    task: u64,
    state: u8,
    syscall: Option<u16>,
    on_cpu_ns: u64,
    runq_ns: u64,
) -> Option<(u64, u64)> {
    if task > FOLD_TASK_MAX {
        return None;
    }
    let code = SAMPLE_STATES.iter().position(|&s| s == state).unwrap_or(0) as u64;
    let sys = syscall.map_or(SAMPLE_NO_SYSCALL, |n| {
        u64::from(n).min(SAMPLE_NO_SYSCALL - 1)
    });
    let us = |ns: u64| (ns / 1_000) & ((1 << SAMPLE_US_BITS) - 1);
    Some((
        task | (sys << FOLD_TASK_BITS) | (code << (FOLD_TASK_BITS + 12)),
        us(on_cpu_ns) | (us(runq_ns) << SAMPLE_US_BITS),
    ))
}

/// An aux value where 0 means "none".
#[inline]
pub fn opt_aux(v: Option<u64>) -> u64 {
    v.map_or(0, |v| v.saturating_add(1))
}

fn from_opt_aux(aux: u64) -> Option<u64> {
    aux.checked_sub(1)
}

/// [`waker_op_code`]'s inverse, on the code's low two bits.
pub fn waker_op_from_code(code: u8) -> WakerOp {
    match code & 3 {
        0 => WakerOp::Clone,
        1 => WakerOp::Drop,
        2 => WakerOp::Wake,
        _ => WakerOp::WakeByRef,
    }
}

/// A waker op's 2-bit code, which an OrphanWaker record keeps in its flags.
pub fn waker_op_code(op: WakerOp) -> u8 {
    match op {
        WakerOp::Clone => 0,
        WakerOp::Drop => 1,
        WakerOp::Wake => 2,
        WakerOp::WakeByRef => 3,
    }
}

/// Where [`decode`] puts a folded poll start relative to the record's other events:
/// first of everything at its timestamp on its lane.
pub const SUB_START: u8 = 0;

/// How many events [`decode`] makes of a record, at most: what a reader reserves room for
/// before it decodes (1 for every kind but a poll's end, which also carries its start, its
/// task's own waker op and its task's end).
pub fn events_in(a: u64, b: u64) -> usize {
    if (b & 0xff) as u8 != Kind::PollEnd as u8 {
        return 1;
    }
    let flags = ((b >> 8) & 0xff) as u8;
    let op = flags & F_OP_FOLDED != 0 && a >> FOLD_TASK_BITS != 0;
    1 + usize::from(flags & F_START_FOLDED != 0)
        + usize::from(op)
        + usize::from(flags & F_TERMINATED != 0)
}

/// Decodes a stored record at raw time `ts` into the events it stands for, in order:
/// `out(raw_ts, sub, kind)`, where `sub` orders events of one record that share a
/// timestamp ([`SUB_START`] for a folded poll start). `to_ns` converts raw ticks, for a
/// folded poll's duration. Returns false for an unknown kind (never written by this
/// build), emitting nothing.
pub fn decode(
    ts: u64,
    a: u64,
    b: u64,
    to_ns: impl Fn(u64) -> u64,
    mut out: impl FnMut(u64, u8, EventKind),
) -> bool {
    let flags = ((b >> 8) & 0xff) as u8;
    if (b & 0xff) as u8 != Kind::PollEnd as u8 {
        return match unpack(a, b) {
            Some(kind) => {
                out(ts, 1, kind);
                true
            }
            None => false,
        };
    }
    let aux = b >> 16;
    let op = if flags & F_OP_FOLDED != 0 {
        a >> FOLD_TASK_BITS
    } else {
        0
    };
    let task = if op != 0 { a & FOLD_TASK_MAX } else { a };
    let mut duration_ns = (flags & F_HAS_VALUE != 0).then_some(aux);
    if flags & F_START_FOLDED != 0 {
        let start = ts.saturating_sub(aux);
        duration_ns = Some(to_ns(ts).saturating_sub(to_ns(start)));
        out(start, SUB_START, EventKind::PollStart { task });
    }
    if op != 0 {
        let live = Some(op - 1);
        let kind = if flags & F_OP_DROP != 0 {
            EventKind::WakerDrop { task, live }
        } else {
            EventKind::WakerClone { task, live }
        };
        out(ts, 1, kind);
    }
    if flags & F_TERMINATED != 0 {
        out(ts, 2, EventKind::Terminate { task });
    }
    out(
        ts,
        3,
        EventKind::PollEnd {
            task,
            completed: flags & F_COMPLETED != 0,
            duration_ns,
        },
    );
    true
}

/// Decodes a record that stands for one event (every kind but a PollEnd with folded
/// parts, which [`decode`] handles); `None` for an unknown kind.
fn unpack(a: u64, b: u64) -> Option<EventKind> {
    let code = (b & 0xff) as u8;
    let flags = ((b >> 8) & 0xff) as u8;
    let aux = b >> 16;
    let kind = *KINDS.get(usize::from(code).checked_sub(1)?)?;
    let task = a;
    Some(match kind {
        Kind::Spawn => EventKind::Spawn {
            task,
            parent: from_opt_aux(aux),
        },
        Kind::PollStart => EventKind::PollStart { task },
        Kind::PollEnd => EventKind::PollEnd {
            task,
            completed: flags & F_COMPLETED != 0,
            duration_ns: (flags & F_HAS_VALUE != 0).then_some(aux),
        },
        Kind::Wake => EventKind::Wake {
            task,
            by_ref: flags & F_BY_REF != 0,
            source: if flags & F_SRC_TASK != 0 {
                WakeSource::Task(aux)
            } else if flags & F_SRC_DRIVER != 0 {
                WakeSource::Driver
            } else {
                WakeSource::Foreign
            },
        },
        Kind::WakerClone => EventKind::WakerClone {
            task,
            live: (flags & F_HAS_VALUE != 0).then_some(aux),
        },
        Kind::WakerDrop => EventKind::WakerDrop {
            task,
            live: (flags & F_HAS_VALUE != 0).then_some(aux),
        },
        Kind::OrphanWaker => EventKind::OrphanWaker {
            op: waker_op_from_code(flags),
            span: a,
        },
        Kind::Terminate => EventKind::Terminate { task },
        Kind::Park => EventKind::Park,
        Kind::Unpark => EventKind::Unpark {
            io_ready_total: (flags & F_HAS_VALUE != 0).then_some(aux),
        },
        Kind::ThreadStart => EventKind::ThreadStart,
        Kind::ThreadStop => EventKind::ThreadStop,
        Kind::TimerArm => EventKind::TimerArm {
            task: (a != 0).then_some(a),
            duration_ms: aux,
        },
        Kind::Scheduled => EventKind::Scheduled {
            task,
            latency_ns: aux,
        },
        // Time on a CPU in `a`; run-queue wait in `aux`, modulo 2^48 ns (78 hours):
        // readers take differences, which stay right across a wrap.
        Kind::CpuStat => EventKind::CpuStat {
            on_cpu_ns: a,
            runq_wait_ns: aux,
        },
        Kind::PollStack => EventKind::PollStack {
            task,
            stack: aux as u32,
        },
        Kind::PollSample => {
            let sys = (a >> FOLD_TASK_BITS) & SAMPLE_NO_SYSCALL;
            let mask = (1 << SAMPLE_US_BITS) - 1;
            EventKind::PollSample {
                task: a & FOLD_TASK_MAX,
                state: SAMPLE_STATES[((a >> (FOLD_TASK_BITS + 12)) & 7) as usize],
                syscall: (sys != SAMPLE_NO_SYSCALL).then_some(sys as u16),
                on_cpu_us: (aux & mask) as u32,
                runq_wait_us: ((aux >> SAMPLE_US_BITS) & mask) as u32,
            }
        }
    })
}

/// One slot as a reader saw it: the tag, the payload, and the tag read again after the
/// payload (equal to `tag` when reading a file nobody writes any more).
#[derive(Clone, Copy, Debug, Default)]
pub struct SlotRead {
    /// The tag and timestamp word (see [`SLOT_BYTES`]).
    pub word: u64,
    /// The first payload word (see the module docs).
    pub a: u64,
    /// The second payload word: kind, flags and `aux`.
    pub b: u64,
    /// The first word read again after the payload (equal to `word` when reading a file
    /// nobody writes any more).
    pub word_again: u64,
}

/// An intact slot's record: its whole raw timestamp and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRecord {
    /// The whole raw timestamp (clock ticks, not nanoseconds).
    pub ts: u64,
    /// The first payload word.
    pub a: u64,
    /// The second payload word: kind, flags and `aux`.
    pub b: u64,
}

/// Scans the slots of one claimed block (`header` is its claim header, `base` its base
/// timestamp), calling `keep` with the position and record of every intact slot; returns
/// how many torn slots it skipped. The one implementation behind both readers: the
/// in-memory ring's snapshot (while other threads write) and the crash-surviving ring
/// file (after the writer died).
///
/// A slot is intact when its tag is set, did not change while it was read, and matches
/// the block's claim, the position, the timestamp and the payload. A slot whose first
/// word changed, or that is marked busy ([`SLOT_BUSY`]), was being written: torn. Other
/// invalid slots are left from an earlier claim of the block and count as torn only when
/// an intact slot follows them (the writer fills a block in order, so they were
/// overwritten and lost).
pub fn scan_block(
    header: u64,
    base: u64,
    mut slot: impl FnMut(usize) -> SlotRead,
    mut keep: impl FnMut(usize, SlotRecord),
) -> u64 {
    let mut torn = 0;
    let mut pending = 0;
    for pos in 0..BLOCK_EVENTS {
        let s = slot(pos);
        let stored_tag = (s.word >> 32) as u32;
        let ts = base.wrapping_add_signed(i64::from(s.word as u32 as i32));
        if stored_tag != 0 && s.word == s.word_again && stored_tag == tag(header, pos, ts, s.a, s.b)
        {
            torn += pending;
            pending = 0;
            keep(pos, SlotRecord { ts, a: s.a, b: s.b });
        } else if s.word != s.word_again || s.word == SLOT_BUSY {
            torn += 1;
        } else if s.word != 0 {
            pending += 1;
        }
    }
    torn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        let cases = [
            (
                7,
                pack(Kind::Spawn, 0, opt_aux(Some(3))),
                EventKind::Spawn {
                    task: 7,
                    parent: Some(3),
                },
            ),
            (
                7,
                pack(Kind::Spawn, 0, 0),
                EventKind::Spawn {
                    task: 7,
                    parent: None,
                },
            ),
            (
                7,
                pack(Kind::PollEnd, F_COMPLETED, 0),
                EventKind::PollEnd {
                    task: 7,
                    completed: true,
                    duration_ns: None,
                },
            ),
            (
                7,
                pack(Kind::PollEnd, F_HAS_VALUE, 1_500),
                EventKind::PollEnd {
                    task: 7,
                    completed: false,
                    duration_ns: Some(1_500),
                },
            ),
            (
                7,
                pack(Kind::WakerDrop, F_HAS_VALUE, 2),
                EventKind::WakerDrop {
                    task: 7,
                    live: Some(2),
                },
            ),
            (
                7,
                pack(Kind::Wake, F_BY_REF | F_SRC_TASK, 9),
                EventKind::Wake {
                    task: 7,
                    by_ref: true,
                    source: WakeSource::Task(9),
                },
            ),
            (
                7,
                pack(Kind::Wake, F_SRC_DRIVER, 0),
                EventKind::Wake {
                    task: 7,
                    by_ref: false,
                    source: WakeSource::Driver,
                },
            ),
            (
                5,
                pack(Kind::OrphanWaker, waker_op_code(WakerOp::Drop), 0),
                EventKind::OrphanWaker {
                    op: WakerOp::Drop,
                    span: 5,
                },
            ),
            (
                0,
                pack(Kind::Unpark, F_HAS_VALUE, 42),
                EventKind::Unpark {
                    io_ready_total: Some(42),
                },
            ),
            (
                123_456_789,
                pack(Kind::CpuStat, 0, 42),
                EventKind::CpuStat {
                    on_cpu_ns: 123_456_789,
                    runq_wait_ns: 42,
                },
            ),
            (
                0,
                pack(Kind::TimerArm, 0, 10),
                EventKind::TimerArm {
                    task: None,
                    duration_ms: 10,
                },
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(unpack(a, b), Some(want));
        }
        assert_eq!(unpack(1, 0), None);
        assert_eq!(unpack(1, 200), None);
    }

    fn decoded(ts: u64, a: u64, b: u64) -> Vec<(u64, u8, EventKind)> {
        let mut out = Vec::new();
        // Two raw ticks a nanosecond, from raw 0.
        assert!(decode(
            ts,
            a,
            b,
            |t| t / 2,
            |t, sub, k| out.push((t, sub, k))
        ));
        out
    }

    #[test]
    fn a_folded_poll_end_stands_for_its_start_and_its_own_waker_op() {
        let a = fold_op(7, 1).unwrap();
        let b = pack(Kind::PollEnd, F_START_FOLDED | F_OP_FOLDED, 600);
        assert_eq!(
            decoded(1_000, a, b),
            [
                (400, SUB_START, EventKind::PollStart { task: 7 }),
                (
                    1_000,
                    1,
                    EventKind::WakerClone {
                        task: 7,
                        live: Some(1)
                    }
                ),
                (
                    1_000,
                    3,
                    EventKind::PollEnd {
                        task: 7,
                        completed: false,
                        duration_ns: Some(300)
                    }
                ),
            ]
        );
        let b = pack(Kind::PollEnd, F_COMPLETED | F_OP_FOLDED | F_OP_DROP, 0);
        assert_eq!(
            decoded(9, fold_op(7, 0).unwrap(), b)[0].2,
            EventKind::WakerDrop {
                task: 7,
                live: Some(0)
            }
        );
    }

    /// The poll that ended its task: its own op, then the Terminate, then the end, all at
    /// the end's timestamp; a large id (not folded with an op) ends the same way.
    #[test]
    fn a_poll_end_that_terminated_stands_for_the_terminate() {
        let a = fold_op(7, 0).unwrap();
        let b = pack(
            Kind::PollEnd,
            F_COMPLETED | F_TERMINATED | F_START_FOLDED | F_OP_FOLDED | F_OP_DROP,
            600,
        );
        let got: Vec<(u64, u8, EventKind)> = decoded(1_000, a, b);
        let kinds: Vec<&EventKind> = got.iter().map(|e| &e.2).collect();
        assert_eq!(
            kinds,
            [
                &EventKind::PollStart { task: 7 },
                &EventKind::WakerDrop {
                    task: 7,
                    live: Some(0)
                },
                &EventKind::Terminate { task: 7 },
                &EventKind::PollEnd {
                    task: 7,
                    completed: true,
                    duration_ns: Some(300)
                },
            ]
        );
        assert!(got[1..].iter().all(|e| e.0 == 1_000));
        assert!(got.windows(2).all(|w| w[0].1 < w[1].1), "{got:?}");
        let big = FOLD_TASK_MAX + 9;
        assert_eq!(
            decoded(5, big, pack(Kind::PollEnd, F_COMPLETED | F_TERMINATED, 0))
                .into_iter()
                .map(|e| e.2)
                .collect::<Vec<_>>(),
            [
                EventKind::Terminate { task: big },
                EventKind::PollEnd {
                    task: big,
                    completed: true,
                    duration_ns: None
                }
            ]
        );
    }

    #[test]
    fn large_ids_are_never_read_as_folded_ops() {
        let big = FOLD_TASK_MAX + 1;
        assert_eq!(fold_op(big, 0), None);
        assert_eq!(fold_op(1, FOLD_LIVE_MAX + 1), None);
        assert_eq!(
            fold_op(FOLD_TASK_MAX, FOLD_LIVE_MAX).map(|a| a >> FOLD_TASK_BITS),
            Some(FOLD_LIVE_MAX + 1)
        );
        assert_eq!(
            decoded(5, big, pack(Kind::PollEnd, F_HAS_VALUE, 3)),
            [(
                5,
                3,
                EventKind::PollEnd {
                    task: big,
                    completed: false,
                    duration_ns: Some(3)
                }
            )]
        );
        assert!(!decode(
            5,
            1,
            200,
            |t| t,
            |_, _, _| panic!("unknown kind emits nothing")
        ));
    }

    #[test]
    fn a_poll_sample_round_trips_at_its_precision() {
        let round = |task, state, sys, cpu, runq| {
            let (a, aux) = pack_sample(task, state, sys, cpu, runq)?;
            unpack(a, pack(Kind::PollSample, 0, aux))
        };
        assert_eq!(
            round(9, b'S', Some(230), 1_500, 2_000_000),
            Some(EventKind::PollSample {
                task: 9,
                state: b'S',
                syscall: Some(230),
                on_cpu_us: 1,
                runq_wait_us: 2_000,
            })
        );
        // Times wrap at 2^24 us; an unknown state letter is '?'.
        assert_eq!(
            round(FOLD_TASK_MAX, b'W', None, (1 << 24) * 1_000 + 7_000, 0),
            Some(EventKind::PollSample {
                task: FOLD_TASK_MAX,
                state: b'?',
                syscall: None,
                on_cpu_us: 7,
                runq_wait_us: 0,
            })
        );
        assert_eq!(round(FOLD_TASK_MAX + 1, b'R', None, 0, 0), None);
    }

    /// The room a reader reserves is never short of what `decode` makes, and never more
    /// than it: every flag combination of a poll's end, folded op or not, and other kinds.
    #[test]
    fn events_in_counts_what_decode_makes() {
        let count = |a, b| {
            let mut n = 0;
            decode(1_000, a, b, |t| t, |_, _, _| n += 1);
            n
        };
        for flags in 0..=u8::MAX {
            for a in [7, fold_op(7, 0).unwrap(), fold_op(7, 3).unwrap()] {
                let b = pack(Kind::PollEnd, flags, 5);
                assert_eq!(events_in(a, b), count(a, b), "flags {flags:#x}, a {a:#x}");
            }
        }
        for kind in [Kind::Spawn, Kind::Wake, Kind::Park, Kind::Terminate] {
            let b = pack(kind, F_HAS_VALUE, 3);
            assert_eq!(events_in(9, b), 1);
            assert_eq!(count(9, b), 1);
        }
    }

    // ---- What mutation testing found unasserted (cargo mutants on this file) ----

    /// The sizes the report's memory figures and the ring file's layout are made of.
    #[test]
    fn sizes_are_what_the_readers_assume() {
        assert_eq!(BLOCK_BYTES, 64 + 64 * 24);
        assert_eq!(task_slots(0), 1 << 10, "the minimum");
        assert_eq!(
            task_slots(65_536),
            65_536,
            "three per four records, up to a power of two"
        );
        assert_eq!(task_slots(4_096), 4_096);
        assert_eq!(task_slots(1 << 22), 1 << 21, "the maximum");
        assert_eq!(task_slots(3_000), 4_096);
        assert_eq!(
            recorder_bytes(65_536),
            (65_536 / 64) * BLOCK_BYTES as u64 + 65_536 * TASK_SLOT_BYTES as u64
        );
        assert_eq!(
            recorder_bytes(100),
            2 * BLOCK_BYTES as u64 + 1_024 * TASK_SLOT_BYTES as u64,
            "a partial block is a whole block"
        );
    }

    /// A slot's tag changes with every bit of what it covers (the block's claim, the
    /// position, the timestamp and both payload words), and is never 0 (an empty slot).
    #[test]
    fn a_tag_changes_with_every_bit_it_covers() {
        let mut x = 0x243F_6A88_85A3_08D3u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200 {
            let (h, pos, ts, a, b) = (next(), (next() % 64) as usize, next(), next(), next());
            let t = tag(h, pos, ts, a, b);
            assert_ne!(t, 0);
            for bit in 0..64 {
                let m = 1u64 << bit;
                assert_ne!(tag(h ^ m, pos, ts, a, b), t, "header bit {bit}");
                assert_ne!(tag(h, pos, ts ^ m, a, b), t, "ts bit {bit}");
                assert_ne!(tag(h, pos, ts, a ^ m, b), t, "a bit {bit}");
                assert_ne!(tag(h, pos, ts, a, b ^ m), t, "b bit {bit}");
            }
            assert_ne!(tag(h, pos ^ 1, ts, a, b), t, "position");
        }
    }

    /// Values past what a field holds are clamped, never spilled into the next field.
    #[test]
    fn fields_clamp_at_their_width() {
        let b = pack(Kind::Wake, F_SRC_TASK, u64::MAX);
        assert_eq!(
            unpack(3, b),
            Some(EventKind::Wake {
                task: 3,
                by_ref: false,
                source: WakeSource::Task(AUX_MAX)
            })
        );
        assert_eq!(AUX_MAX, 0xFFFF_FFFF_FFFF);
        let most = (1 << 24) - 2;
        assert_eq!(FOLD_LIVE_MAX, most);
        assert!(fold_op(7, most).is_some());
        assert_eq!(fold_op(7, most + 1), None);
        assert_eq!(fold_op(FOLD_TASK_MAX + 1, 0), None);
        let (a, aux) = pack_sample(9, b'S', Some(u16::MAX), 0, 0).unwrap();
        assert_eq!(
            unpack(a, pack(Kind::PollSample, 0, aux)),
            Some(EventKind::PollSample {
                task: 9,
                state: b'S',
                syscall: Some(0xffe),
                on_cpu_us: 0,
                runq_wait_us: 0,
            }),
            "a call number past 12 bits is the largest one, the state intact"
        );
    }

    #[test]
    fn every_waker_op_has_its_own_code() {
        let ops = [
            WakerOp::Clone,
            WakerOp::Drop,
            WakerOp::Wake,
            WakerOp::WakeByRef,
        ];
        let codes: Vec<u8> = ops.iter().map(|&o| waker_op_code(o)).collect();
        assert_eq!(codes, [0, 1, 2, 3]);
        for op in ops {
            assert_eq!(waker_op_from_code(waker_op_code(op)), op);
        }
    }

    /// Each flag is read on its own: a wake from a task, from the driver, from elsewhere;
    /// a count or none on a clone, a drop and an unpark.
    #[test]
    fn flags_read_each_on_its_own() {
        let wake = |flags| unpack(5, pack(Kind::Wake, flags, 9));
        let src = |e: Option<EventKind>| match e {
            Some(EventKind::Wake { source, by_ref, .. }) => (source, by_ref),
            other => panic!("{other:?}"),
        };
        assert_eq!(src(wake(F_SRC_TASK)), (WakeSource::Task(9), false));
        assert_eq!(src(wake(F_SRC_DRIVER)), (WakeSource::Driver, false));
        assert_eq!(src(wake(F_BY_REF)), (WakeSource::Foreign, true));
        for (kind, with, without) in [
            (
                Kind::WakerClone,
                EventKind::WakerClone {
                    task: 5,
                    live: Some(9),
                },
                EventKind::WakerClone {
                    task: 5,
                    live: None,
                },
            ),
            (
                Kind::WakerDrop,
                EventKind::WakerDrop {
                    task: 5,
                    live: Some(9),
                },
                EventKind::WakerDrop {
                    task: 5,
                    live: None,
                },
            ),
            (
                Kind::Unpark,
                EventKind::Unpark {
                    io_ready_total: Some(9),
                },
                EventKind::Unpark {
                    io_ready_total: None,
                },
            ),
        ] {
            assert_eq!(unpack(5, pack(kind, F_HAS_VALUE, 9)), Some(with));
            assert_eq!(unpack(5, pack(kind, F_SRC_TASK, 9)), Some(without));
        }
    }

    /// A block's slots as the snapshot reads them: intact records kept; a slot being
    /// written (busy, or changing under the read) torn; a stale slot (left from an
    /// earlier claim) torn only when an intact one follows it, since the writer fills a
    /// block in order.
    #[test]
    fn a_block_scan_tells_torn_from_stale_from_kept() {
        let (header, base) = ((7 << 24) | 3, 1_000u64);
        let intact = |pos: usize, ts: u64| {
            let word = slot_word(header, base, pos, ts, 11, 22).unwrap();
            SlotRead {
                word,
                a: 11,
                b: 22,
                word_again: word,
            }
        };
        let stale = |pos: usize, ts: u64| SlotRead {
            a: 12,
            ..intact(pos, ts)
        };
        let empty = SlotRead {
            word: 0,
            a: 0,
            b: 0,
            word_again: 0,
        };
        let scan = |slots: Vec<SlotRead>| {
            let mut kept = Vec::new();
            let torn = scan_block(
                header,
                base,
                |pos| slots.get(pos).copied().unwrap_or(empty),
                |pos, r| kept.push((pos, r.ts)),
            );
            (torn, kept)
        };
        // Kept, stale then kept (the stale one was overwritten: torn), busy, changing.
        let mut busy = intact(3, 1_003);
        busy.word = SLOT_BUSY;
        busy.word_again = SLOT_BUSY;
        let mut changing = intact(4, 1_004);
        changing.word_again ^= 1 << 40;
        let (torn, kept) = scan(vec![
            intact(0, 1_000),
            stale(1, 1_001),
            intact(2, 1_002),
            busy,
            changing,
        ]);
        assert_eq!(kept, [(0, 1_000), (2, 1_002)]);
        assert_eq!(torn, 3);
        // Stale slots at the end (the writer had not got there): not torn.
        let (torn, kept) = scan(vec![intact(0, 999), stale(1, 1_001), stale(2, 1_002)]);
        assert_eq!((torn, kept), (0, vec![(0, 999)]));
        // Two stale slots before an intact one: both torn.
        let (torn, _) = scan(vec![stale(0, 1_000), stale(1, 1_001), intact(2, 1_002)]);
        assert_eq!(torn, 2);
    }
}
