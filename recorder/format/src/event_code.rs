//! An event as the dump's columns hold it: a code byte (the variant and the flags that
//! decide which fields follow), the task it is about, and up to four more values. Shared
//! by the file's event blocks (`blocks`) and the reader's in-memory columns (`columns`).

use crate::types::{EventKind, WakeSource, WakerOp};

pub(crate) const WAKE: u8 = 7;
pub(crate) const ORPHAN: u8 = 17;
pub(crate) const CPU_STAT: u8 = 30;
pub(crate) const POLL_SAMPLE: u8 = 31;
pub(crate) const LAST_CODE: u8 = 33;

/// An event's values beyond its code and task: `n` of them, in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Values {
    pub(crate) n: u8,
    pub(crate) v: [u64; 4],
}

impl Values {
    fn of(v: &[u64]) -> Values {
        let mut out = Values {
            n: v.len() as u8,
            v: [0; 4],
        };
        out.v[..v.len()].copy_from_slice(v);
        out
    }

    pub(crate) fn as_slice(&self) -> &[u64] {
        &self.v[..usize::from(self.n)]
    }
}

/// The code byte of an event.
pub(crate) fn code(kind: &EventKind) -> u8 {
    match *kind {
        EventKind::Spawn { parent, .. } => parent.is_some() as u8,
        EventKind::PollStart { .. } => 2,
        EventKind::PollEnd {
            completed,
            duration_ns,
            ..
        } => 3 + completed as u8 + 2 * duration_ns.is_some() as u8,
        EventKind::Wake { by_ref, source, .. } => {
            let source = match source {
                WakeSource::Task(_) => 0,
                WakeSource::Driver => 1,
                WakeSource::Foreign => 2,
            };
            WAKE + by_ref as u8 + 2 * source
        }
        EventKind::WakerClone { live, .. } => 13 + live.is_some() as u8,
        EventKind::WakerDrop { live, .. } => 15 + live.is_some() as u8,
        EventKind::OrphanWaker { op, .. } => ORPHAN + op_code(op),
        EventKind::Terminate { .. } => 21,
        EventKind::Park => 22,
        EventKind::Unpark { io_ready_total } => 23 + io_ready_total.is_some() as u8,
        EventKind::ThreadStart => 25,
        EventKind::ThreadStop => 26,
        EventKind::TimerArm { task, .. } => 27 + task.is_some() as u8,
        EventKind::Scheduled { .. } => 29,
        EventKind::CpuStat { .. } => CPU_STAT,
        EventKind::PollSample { syscall, .. } => POLL_SAMPLE + syscall.is_some() as u8,
        EventKind::PollStack { .. } => LAST_CODE,
    }
}

fn op_code(op: WakerOp) -> u8 {
    match op {
        WakerOp::Clone => 0,
        WakerOp::Drop => 1,
        WakerOp::Wake => 2,
        WakerOp::WakeByRef => 3,
    }
}

/// Whether events of `code` carry a task (a timer armed outside any task has none; an
/// orphan waker op only a span id, kept with the values).
#[inline]
pub(crate) fn has_task(code: u8) -> bool {
    HAS_TASK.get(usize::from(code)).copied().unwrap_or(false)
}

const HAS_TASK: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c <= LAST_CODE {
        t[c as usize] = !(c >= ORPHAN && c < ORPHAN + 4) && !matches!(c, 22..=27 | CPU_STAT);
        c += 1;
    }
    t
};

/// The task an event of `kind` carries in the task column.
pub(crate) fn task_of(kind: &EventKind) -> Option<u64> {
    match *kind {
        EventKind::OrphanWaker { .. } => None,
        ref k => k.task(),
    }
}

/// How many values an event of `code` has.
#[inline]
pub(crate) fn values_len(code: u8) -> usize {
    VALUES_LEN[usize::from(code)] as usize
}

const VALUES_LEN: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = values_len_of(c as u8) as u8;
        c += 1;
    }
    t
};

const fn values_len_of(code: u8) -> usize {
    match code {
        0 | 2 | 3 | 4 | 9..=13 | 15 | 21..=23 | 25 | 26 => 0,
        CPU_STAT => 2,
        POLL_SAMPLE => 3,
        32 => 4,
        _ => 1,
    }
}

/// The values of an event. Task ids that are usually close to the event's own task (a
/// parent, a waking task) are zigzag deltas from it, so they encode short.
pub(crate) fn values(kind: &EventKind) -> Values {
    match *kind {
        EventKind::Spawn {
            task,
            parent: Some(p),
        } => Values::of(&[zigzag(p.wrapping_sub(task))]),
        EventKind::PollEnd {
            duration_ns: Some(d),
            ..
        } => Values::of(&[d]),
        EventKind::Wake {
            task,
            source: WakeSource::Task(by),
            ..
        } => Values::of(&[zigzag(by.wrapping_sub(task))]),
        EventKind::WakerClone { live: Some(n), .. }
        | EventKind::WakerDrop { live: Some(n), .. } => Values::of(&[n]),
        EventKind::OrphanWaker { span, .. } => Values::of(&[span]),
        EventKind::Unpark {
            io_ready_total: Some(n),
        } => Values::of(&[n]),
        EventKind::TimerArm { duration_ms, .. } => Values::of(&[duration_ms]),
        EventKind::Scheduled { latency_ns, .. } => Values::of(&[latency_ns]),
        EventKind::CpuStat {
            on_cpu_ns,
            runq_wait_ns,
        } => Values::of(&[on_cpu_ns, runq_wait_ns]),
        EventKind::PollSample {
            state,
            syscall: None,
            on_cpu_us,
            runq_wait_us,
            ..
        } => Values::of(&[state.into(), on_cpu_us.into(), runq_wait_us.into()]),
        EventKind::PollSample {
            state,
            syscall: Some(s),
            on_cpu_us,
            runq_wait_us,
            ..
        } => Values::of(&[
            state.into(),
            s.into(),
            on_cpu_us.into(),
            runq_wait_us.into(),
        ]),
        EventKind::PollStack { stack, .. } => Values::of(&[stack.into()]),
        _ => Values::default(),
    }
}

/// Whether `values` fit the narrow fields of `code`'s event (a sample's state is a byte,
/// its system call 16 bits, its times and a stack id 32).
#[inline]
pub(crate) fn fits(code: u8, values: &[u64]) -> bool {
    if code < POLL_SAMPLE {
        return true;
    }
    let widths: &[u32] = match code {
        POLL_SAMPLE => &[8, 32, 32],
        32 => &[8, 16, 32, 32],
        LAST_CODE => &[32],
        _ => return code <= LAST_CODE,
    };
    values.len() == widths.len() && values.iter().zip(widths).all(|(&v, &w)| v >> w == 0)
}

/// The event of `code` about `task` with `values` (`values_len(code)` of them, which
/// [`fits`] accepted; a short slice reads as zeros).
#[inline]
pub(crate) fn kind_from(code: u8, task: u64, values: &[u64]) -> EventKind {
    let v = |i: usize| values.get(i).copied().unwrap_or(0);
    let delta = |i: usize| task.wrapping_add(unzigzag(v(i)));
    match code {
        0 => EventKind::Spawn { task, parent: None },
        1 => EventKind::Spawn {
            task,
            parent: Some(delta(0)),
        },
        2 => EventKind::PollStart { task },
        3..=6 => EventKind::PollEnd {
            task,
            completed: (code - 3) & 1 == 1,
            duration_ns: (code >= 5).then(|| v(0)),
        },
        WAKE..=12 => EventKind::Wake {
            task,
            by_ref: (code - WAKE) & 1 == 1,
            source: match (code - WAKE) / 2 {
                0 => WakeSource::Task(delta(0)),
                1 => WakeSource::Driver,
                _ => WakeSource::Foreign,
            },
        },
        13 | 14 => EventKind::WakerClone {
            task,
            live: (code == 14).then(|| v(0)),
        },
        15 | 16 => EventKind::WakerDrop {
            task,
            live: (code == 16).then(|| v(0)),
        },
        ORPHAN..=20 => EventKind::OrphanWaker {
            op: [
                WakerOp::Clone,
                WakerOp::Drop,
                WakerOp::Wake,
                WakerOp::WakeByRef,
            ][usize::from(code - ORPHAN)],
            span: v(0),
        },
        21 => EventKind::Terminate { task },
        22 => EventKind::Park,
        23 => EventKind::Unpark {
            io_ready_total: None,
        },
        24 => EventKind::Unpark {
            io_ready_total: Some(v(0)),
        },
        25 => EventKind::ThreadStart,
        26 => EventKind::ThreadStop,
        27 => EventKind::TimerArm {
            task: None,
            duration_ms: v(0),
        },
        28 => EventKind::TimerArm {
            task: Some(task),
            duration_ms: v(0),
        },
        29 => EventKind::Scheduled {
            task,
            latency_ns: v(0),
        },
        CPU_STAT => EventKind::CpuStat {
            on_cpu_ns: v(0),
            runq_wait_ns: v(1),
        },
        POLL_SAMPLE => EventKind::PollSample {
            task,
            state: v(0) as u8,
            syscall: None,
            on_cpu_us: v(1) as u32,
            runq_wait_us: v(2) as u32,
        },
        32 => EventKind::PollSample {
            task,
            state: v(0) as u8,
            syscall: Some(v(1) as u16),
            on_cpu_us: v(2) as u32,
            runq_wait_us: v(3) as u32,
        },
        _ => EventKind::PollStack {
            task,
            stack: v(0) as u32,
        },
    }
}

pub(crate) fn zigzag(d: u64) -> u64 {
    let d = d as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

pub(crate) fn unzigzag(z: u64) -> u64 {
    ((z >> 1) as i64 ^ -((z & 1) as i64)) as u64
}
