//! The event section of a dump (format version 7): the events in independent blocks.
//!
//! ```text
//! block   size  field
//!     0      4  magic b"D9EB"
//!     4      4  payload length in bytes, u32 little-endian
//!     8      4  events in the block, u32 little-endian
//!    12      4  CRC-32 of bytes 4..12 and of the payload
//!    16      n  payload: five columns, each a u32 little-endian byte length, then:
//!                 kinds   one byte per event: the variant and its flags (`code`)
//!                 times   zigzag varint, the time less the block's event before it
//!                 lanes   varint
//!                 tasks   zigzag varint, the task less the last task on the same lane
//!                         (a poll's end names the task its start did: one byte)
//!                 values  every other field of the events, in order, as varints
//! ```
//! A block holds at most [`BLOCK_EVENTS`] events and needs nothing from any other block, so
//! a damaged block costs only its own events: the reader checks each block's CRC, skips
//! one that fails to the next block magic whose CRC holds, and says what it lost
//! ([`Damage`]). Times and tasks are deltas because consecutive events are close in time
//! and a lane's events are mostly about the task it polls: a typical event takes 5-7
//! bytes against 16 in bincode.

use crate::event_code::{self as ec, zigzag};
use crate::types::Event;

/// The first 4 bytes of every event block: where a reader picks up again after a
/// damaged block.
pub const BLOCK_MAGIC: [u8; 4] = *b"D9EB";
/// Bytes of a block's header: magic, payload length, event count, CRC.
pub const BLOCK_HEADER_LEN: usize = 16;
/// Events per block: small enough that a damaged block loses little, large enough that
/// the 16-byte header and the per-block restart of the deltas cost nothing measurable.
pub const BLOCK_EVENTS: usize = 1 << 15;
pub(crate) const COLUMNS: usize = 5;
/// Lanes whose last task is tracked on its own; any higher lane shares one slot (only the
/// size suffers, never the meaning).
pub(crate) const LANE_SLOTS: usize = 256;

/// What a reader could not read of the event section. The rest of the dump is intact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Damage {
    /// Blocks the file should hold, by its own count.
    pub blocks: u64,
    /// Blocks that could not be read.
    pub blocks_lost: u64,
    /// Events the dump should hold, by its own count.
    pub events: u64,
    /// Events missing from what was read.
    pub events_lost: u64,
    /// The file ends early (the lost blocks include its last ones).
    pub truncated: bool,
    /// Each run of lost blocks: the time of the last event read before it and of the
    /// first read after it (`None`: the window's edge). An analysis must not claim
    /// anything about the time between.
    pub gaps: Vec<(Option<u64>, Option<u64>)>,
}

impl Damage {
    /// Whether `[start, end]` touches a time the lost blocks covered.
    pub fn overlaps(&self, start_ns: u64, end_ns: u64) -> bool {
        self.gaps.iter().any(|&(after, before)| {
            after.is_none_or(|a| a < end_ns) && before.is_none_or(|b| b > start_ns)
        })
    }
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the dump is damaged: {} of its {} event blocks could not be read{} ({} of {} \
             events lost); the rest of the dump is intact",
            self.blocks_lost,
            self.blocks,
            if self.truncated {
                " (the file ends early)"
            } else {
                ""
            },
            self.events_lost,
            self.events
        )
    }
}

/// Appends `events` to `out` as blocks.
pub fn write(events: &[Event], out: &mut Vec<u8>) {
    for block in events.chunks(BLOCK_EVENTS) {
        write_block(block, out);
    }
}

/// The blocks `events` take.
pub fn block_count(events: usize) -> u64 {
    events.div_ceil(BLOCK_EVENTS) as u64
}

/// One block: each column in its own pass over the events, straight into `out` (no
/// scratch buffer: the dump path allocates nothing here beyond `out` itself).
fn write_block(events: &[Event], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&BLOCK_MAGIC);
    out.extend_from_slice(&[0; 12]);
    for column in 0..COLUMNS {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        match column {
            0 => out.extend(events.iter().map(|e| ec::code(&e.kind))),
            1 => {
                let mut prev = 0u64;
                for e in events {
                    put(out, zigzag(e.ts_ns.wrapping_sub(prev)));
                    prev = e.ts_ns;
                }
            }
            2 => events.iter().for_each(|e| put(out, u64::from(e.lane))),
            3 => {
                let mut last = [0u64; LANE_SLOTS + 1];
                for e in events {
                    if let Some(task) = ec::task_of(&e.kind) {
                        let slot = &mut last[(e.lane as usize).min(LANE_SLOTS)];
                        put(out, zigzag(task.wrapping_sub(*slot)));
                        *slot = task;
                    }
                }
            }
            _ => {
                for e in events {
                    for &v in ec::values(&e.kind).as_slice() {
                        put(out, v);
                    }
                }
            }
        }
        let len = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    let payload_len = (out.len() - start - BLOCK_HEADER_LEN) as u32;
    out[start + 4..start + 8].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&(events.len() as u32).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out[start + 4..start + 12]);
    crc.update(&out[start + BLOCK_HEADER_LEN..]);
    out[start + 12..start + 16].copy_from_slice(&crc.finalize().to_le_bytes());
}

/// LEB128: seven bits a byte, low first, the high bit set on every byte but the last.
fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Why a block's payload does not decode (its CRC held: a writer bug or a forgery).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Undecodable(pub(crate) &'static str);

/// A column being read.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// The next varint. With eight bytes left, one of up to eight bytes (any value below
    /// 2^56) is read without a branch on its length: the first byte without its high bit
    /// says where it ends, and its seven-bit groups are gathered by shifts. Lengths vary
    /// from value to value, so a byte-at-a-time loop mispredicts its exit about once a
    /// value; this does not. Longer values, and a column's last few bytes, take the
    /// careful way.
    #[inline(always)]
    pub(crate) fn get(&mut self) -> Result<u64, Undecodable> {
        let pos = self.pos;
        if let Some(window) = self
            .bytes
            .get(pos..pos + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
        {
            let w = u64::from_le_bytes(window);
            let ends = !w & 0x8080_8080_8080_8080;
            if ends != 0 {
                let len = (ends.trailing_zeros() as usize + 1) / 8;
                let x = if len == 8 {
                    w
                } else {
                    w & ((1u64 << (len * 8)) - 1)
                };
                let v = (x & 0x7f)
                    | ((x >> 1) & (0x7f << 7))
                    | ((x >> 2) & (0x7f << 14))
                    | ((x >> 3) & (0x7f << 21))
                    | ((x >> 4) & (0x7f << 28))
                    | ((x >> 5) & (0x7f << 35))
                    | ((x >> 6) & (0x7f << 42))
                    | ((x >> 7) & (0x7f << 49));
                self.pos = pos + len;
                return Ok(v);
            }
        }
        self.get_slow()
    }

    #[cold]
    fn get_slow(&mut self) -> Result<u64, Undecodable> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(Undecodable("a column ends in the middle of a value"));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(Undecodable("a value does not fit in 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Undecodable("a value does not fit in 64 bits"))
    }

    #[inline(always)]
    pub(crate) fn narrow<T: TryFrom<u64>>(&mut self) -> Result<T, Undecodable> {
        T::try_from(self.get()?).map_err(|_| Undecodable("a value is wider than its field"))
    }

    pub(crate) fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

/// A block found in the event section: its events and where the next one starts.
pub(crate) struct Block<'a> {
    pub(crate) count: usize,
    pub(crate) payload: &'a [u8],
    pub(crate) next: usize,
}

/// The least and most payload bytes a block of `count` events takes: five column lengths,
/// then per event a kind byte and at least one byte of time and of lane (at most 66 in
/// all: ten for a time, five for a lane, ten for a task, four ten-byte values).
pub(crate) fn plausible(len: usize, count: usize) -> bool {
    (1..=BLOCK_EVENTS).contains(&count)
        && len >= 4 * COLUMNS + 3 * count
        && len <= 4 * COLUMNS + 66 * count
}

/// The block at `at` if its header is whole and plausible, its payload fits the section
/// and its CRC holds. The length checks come before the CRC: a forged header can then
/// neither claim events its bytes cannot hold (the reader allocates for every event
/// claimed) nor cost a CRC over more than its events could take.
pub(crate) fn block_at(section: &[u8], at: usize) -> Option<Block<'_>> {
    let header = section.get(at..at.checked_add(BLOCK_HEADER_LEN)?)?;
    if header[..4] != BLOCK_MAGIC {
        return None;
    }
    let u32_at =
        |o: usize| u32::from_le_bytes([header[o], header[o + 1], header[o + 2], header[o + 3]]);
    let len = u32_at(4) as usize;
    let count = u32_at(8) as usize;
    if !plausible(len, count) {
        return None;
    }
    let payload = section.get(at + BLOCK_HEADER_LEN..(at + BLOCK_HEADER_LEN).checked_add(len)?)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header[4..12]);
    crc.update(payload);
    (crc.finalize() == u32_at(12)).then_some(Block {
        count,
        payload,
        next: at + BLOCK_HEADER_LEN + len,
    })
}

/// Decodes a block's events onto `out`; on an error `out` is left as it was.
pub(crate) fn decode(block: &Block<'_>, out: &mut Vec<Event>) -> Result<(), Undecodable> {
    let mut cols = crate::columns::EventColumns::default();
    crate::columns::decode_block(block, &mut cols)?;
    out.extend(cols.iter());
    Ok(())
}

/// A block's payload split into its five columns (kinds, times, lanes, tasks, values),
/// each checked to lie within the payload, and the kinds column to hold one byte an
/// event of the block's count.
pub(crate) fn columns<'a>(block: &Block<'a>) -> Result<[&'a [u8]; COLUMNS], Undecodable> {
    let mut rest = block.payload;
    let mut columns: [&[u8]; COLUMNS] = [&[]; COLUMNS];
    for column in &mut columns {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(Undecodable("a column's length is cut short"));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > tail.len() {
            return Err(Undecodable("a column is longer than its block"));
        }
        (*column, rest) = tail.split_at(len);
    }
    if !rest.is_empty() || columns[0].len() != block.count {
        return Err(Undecodable(
            "the columns do not match the block's event count",
        ));
    }
    Ok(columns)
}

/// Reads the event section into a vector: every block whose CRC holds, in order,
/// resynchronising past the others. `blocks`, `events` and `len` are the counts and the
/// section length the dump's metadata gives. What could not be read is returned as
/// [`Damage`] (`None`: every block read). The explorer streams the section instead
/// (`crate::section`), through the same [`Tally`] and [`walk_careful`].
pub(crate) fn read(
    section: &[u8],
    blocks: u64,
    events: u64,
    len: u64,
) -> (Vec<Event>, Option<Damage>) {
    // Every event takes at least three bytes (kind, time, lane): a hostile count cannot
    // make this allocate more than the file justifies.
    let mut out = Vec::with_capacity((events as usize).min(section.len() / 3));
    let mut tally = Tally::default();
    walk_careful(section, 0, &mut tally, &mut |_, b| {
        let before = out.len();
        decode(b, &mut out).is_ok().then(|| {
            let first = out[before].ts_ns;
            (first, out.last().map_or(first, |e| e.ts_ns))
        })
    });
    let damage = tally.finish(blocks, events, len, section.len() as u64);
    (out, damage)
}

/// What a pass over an event section has read so far, and the runs it could not read:
/// turned into [`Damage`] at the end.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    blocks_read: u64,
    events_read: u64,
    /// While in a run of lost bytes: where it began, and the time of the last event read
    /// before it.
    lost: Option<(u64, Option<u64>)>,
    gaps: Vec<(Option<u64>, Option<u64>)>,
    last_ts: Option<u64>,
}

impl Tally {
    /// A block that read, with its first and last event's times.
    pub(crate) fn good(&mut self, count: usize, first_ts: u64, last_ts: u64) {
        self.blocks_read += 1;
        self.events_read += count as u64;
        if let Some((_, after)) = self.lost.take() {
            self.gaps.push((after, Some(first_ts)));
        }
        self.last_ts = Some(last_ts);
    }

    /// The bytes at section offset `at` do not read.
    pub(crate) fn lost(&mut self, at: u64) {
        self.lost.get_or_insert((at, self.last_ts));
    }

    /// The damage, given the metadata's counts and length and the bytes the file holds
    /// of the section (`None` when every block was read).
    pub(crate) fn finish(
        mut self,
        blocks: u64,
        events: u64,
        len: u64,
        available: u64,
    ) -> Option<Damage> {
        let mut damage = Damage {
            blocks,
            events,
            truncated: available < len,
            blocks_lost: blocks.saturating_sub(self.blocks_read),
            events_lost: events.saturating_sub(self.events_read),
            gaps: std::mem::take(&mut self.gaps),
        };
        match self.lost {
            // Bytes after the section the metadata gives: nothing of the dump is in them.
            Some((from, _)) if from >= len => {}
            Some((_, after)) => damage.gaps.push((after, None)),
            // The file ends on a block boundary, before the blocks it says it holds.
            None if damage.truncated => damage.gaps.push((self.last_ts, None)),
            None => {}
        }
        let whole = damage.gaps.is_empty() && damage.events_lost == 0 && !damage.truncated;
        (!whole).then_some(damage)
    }
}

/// Decodes a block found at an offset, giving its first and last event's times.
pub(crate) type ReadBlock<'a> = dyn FnMut(u64, &Block<'_>) -> Option<(u64, u64)> + 'a;

/// Walks the blocks of `section` (which starts at offset `base` of the whole event
/// section) the careful way: each block whose CRC holds is handed to `read`, with its
/// offset, to decode; `read` returns its first and last event's times, or `None` if it
/// does not decode. Past a block that does not read, resynchronises on the next block
/// magic whose block does, within a work budget.
pub(crate) fn walk_careful(section: &[u8], base: u64, tally: &mut Tally, read: &mut ReadBlock<'_>) {
    // Resynchronising may try every block magic left: its CRCs are bounded in all.
    let mut budget = RESYNC_BUDGET.max(section.len().saturating_mul(8));
    let mut at = 0;
    while at < section.len() {
        let offset = base + at as u64;
        let Some((b, (first, last))) =
            block_at(section, at).and_then(|b| read(offset, &b).map(|t| (b, t)))
        else {
            tally.lost(offset);
            // Resynchronise on the next block magic whose block reads.
            at = next_block(section, at + 1, &mut budget);
            continue;
        };
        tally.good(b.count, first, last);
        at = b.next;
    }
}

/// Bytes a careful read may check while resynchronising, at least (a section of forged
/// headers would otherwise cost a CRC over up to 2 MB for every four bytes).
const RESYNC_BUDGET: usize = 256 << 20;

/// The offset of the first block at or after `from` that reads, or the section's end (also
/// once the candidates tried have cost `budget` bytes: what is left is lost).
fn next_block(section: &[u8], from: usize, budget: &mut usize) -> usize {
    let mut at = from;
    let mut probe = Vec::new();
    while let Some(i) = section
        .get(at..)
        .and_then(|rest| rest.windows(4).position(|w| w == BLOCK_MAGIC))
    {
        let candidate = at + i;
        let claimed = section
            .get(candidate + 4..candidate + 8)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let Some(left) = budget.checked_sub(claimed.min(section.len() - candidate)) else {
            return section.len();
        };
        *budget = left;
        probe.clear();
        if let Some(b) = block_at(section, candidate)
            && decode(&b, &mut probe).is_ok()
        {
            return candidate;
        }
        at = candidate + 1;
    }
    section.len()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event_code::unzigzag;
    use crate::event_code::{LAST_CODE, code};
    use crate::types::{EventKind, WakeSource, WakerOp};

    fn ev(ts_ns: u64, lane: u32, kind: EventKind) -> Event {
        Event { ts_ns, lane, kind }
    }

    /// One event of every kind and every flag combination, with values at their widths'
    /// edges.
    pub(crate) fn every_kind() -> Vec<Event> {
        let t = u64::MAX;
        let kinds = [
            EventKind::Spawn {
                task: 1,
                parent: None,
            },
            EventKind::Spawn {
                task: 1,
                parent: Some(t),
            },
            EventKind::PollStart { task: t },
            EventKind::PollEnd {
                task: t,
                completed: false,
                duration_ns: None,
            },
            EventKind::PollEnd {
                task: 3,
                completed: true,
                duration_ns: None,
            },
            EventKind::PollEnd {
                task: 3,
                completed: false,
                duration_ns: Some(t),
            },
            EventKind::PollEnd {
                task: 3,
                completed: true,
                duration_ns: Some(0),
            },
            EventKind::Wake {
                task: 2,
                by_ref: false,
                source: WakeSource::Task(0),
            },
            EventKind::Wake {
                task: 2,
                by_ref: true,
                source: WakeSource::Task(t),
            },
            EventKind::Wake {
                task: 2,
                by_ref: false,
                source: WakeSource::Driver,
            },
            EventKind::Wake {
                task: 2,
                by_ref: true,
                source: WakeSource::Driver,
            },
            EventKind::Wake {
                task: 2,
                by_ref: false,
                source: WakeSource::Foreign,
            },
            EventKind::Wake {
                task: 2,
                by_ref: true,
                source: WakeSource::Foreign,
            },
            EventKind::WakerClone {
                task: 4,
                live: None,
            },
            EventKind::WakerClone {
                task: 4,
                live: Some(t),
            },
            EventKind::WakerDrop {
                task: 4,
                live: None,
            },
            EventKind::WakerDrop {
                task: 4,
                live: Some(0),
            },
            EventKind::OrphanWaker {
                op: WakerOp::Clone,
                span: t,
            },
            EventKind::OrphanWaker {
                op: WakerOp::Drop,
                span: 0,
            },
            EventKind::OrphanWaker {
                op: WakerOp::Wake,
                span: 9,
            },
            EventKind::OrphanWaker {
                op: WakerOp::WakeByRef,
                span: 10,
            },
            EventKind::Terminate { task: 5 },
            EventKind::Park,
            EventKind::Unpark {
                io_ready_total: None,
            },
            EventKind::Unpark {
                io_ready_total: Some(t),
            },
            EventKind::ThreadStart,
            EventKind::ThreadStop,
            EventKind::TimerArm {
                task: None,
                duration_ms: t,
            },
            EventKind::TimerArm {
                task: Some(6),
                duration_ms: 0,
            },
            EventKind::Scheduled {
                task: 6,
                latency_ns: t,
            },
            EventKind::CpuStat {
                on_cpu_ns: t,
                runq_wait_ns: 1,
            },
            EventKind::PollSample {
                task: 7,
                state: u8::MAX,
                syscall: None,
                on_cpu_us: u32::MAX,
                runq_wait_us: 0,
            },
            EventKind::PollSample {
                task: 7,
                state: b'R',
                syscall: Some(u16::MAX),
                on_cpu_us: 1,
                runq_wait_us: u32::MAX,
            },
            EventKind::PollStack {
                task: 8,
                stack: u32::MAX,
            },
        ];
        kinds
            .into_iter()
            .enumerate()
            // Times that go back as well as forth, and lanes past the tracked ones.
            .map(|(i, k)| {
                ev(
                    if i % 3 == 0 { t - i as u64 } else { i as u64 },
                    (i as u32) * 97,
                    k,
                )
            })
            .collect()
    }

    /// Three full blocks of parks: the events, their section, where the second begins.
    fn three_blocks() -> (Vec<Event>, Vec<u8>, usize) {
        let events: Vec<Event> = (0..BLOCK_EVENTS as u64 * 3)
            .map(|i| ev(i * 10, 0, EventKind::Park))
            .collect();
        let bytes = encoded(&events);
        let second = block_at(&bytes, 0).unwrap().next;
        (events, bytes, second)
    }

    fn encoded(events: &[Event]) -> Vec<u8> {
        let mut out = Vec::new();
        write(events, &mut out);
        out
    }

    #[test]
    fn every_kind_and_flag_round_trips_with_a_code_of_its_own() {
        let events = every_kind();
        let codes: std::collections::HashSet<u8> = events.iter().map(|e| code(&e.kind)).collect();
        assert_eq!(codes.len(), events.len());
        assert_eq!(codes.iter().max(), Some(&LAST_CODE));
        let bytes = encoded(&events);
        let (back, damage) = read(&bytes, 1, events.len() as u64, bytes.len() as u64);
        assert_eq!(damage, None);
        assert_eq!(back, events);
    }

    /// Blocks of uneven sizes read back exactly.
    #[test]
    fn uneven_blocks_read_back() {
        let kinds = every_kind();
        let events: Vec<Event> = (0..3000)
            .map(|i| Event {
                ts_ns: i as u64 * 7,
                ..kinds[i % kinds.len()]
            })
            .collect();
        let mut bytes = Vec::new();
        for chunk in [
            &events[..1],
            &events[1..700],
            &events[700..701],
            &events[701..],
        ] {
            for block in chunk.chunks(250) {
                write_block(block, &mut bytes);
            }
        }
        let mut at = 0;
        let mut found = vec![];
        while let Some(b) = block_at(&bytes, at) {
            at = b.next;
            found.push(b);
        }
        let (careful, damage) = read(&bytes, found.len() as u64, 3000, bytes.len() as u64);
        assert_eq!((careful, damage), (events.clone(), None));
    }

    /// A header with a CRC that holds but more events than its bytes can hold is not a
    /// block: a 1 MB file of such headers must not make the reader allocate for 2^31
    /// events, nor resynchronising cost a CRC over the rest of the file for each of them.
    #[test]
    fn forged_headers_are_not_blocks_and_resync_work_is_bounded() {
        let forged = |len: u32, count: u32| {
            let mut b = BLOCK_MAGIC.to_vec();
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
            let mut crc = crc32fast::Hasher::new();
            crc.update(&b[4..12]);
            crc.update(&vec![0; len as usize]);
            b.extend_from_slice(&crc.finalize().to_le_bytes());
            b.resize(BLOCK_HEADER_LEN + len as usize, 0);
            b
        };
        for (len, count) in [
            (0, BLOCK_EVENTS as u32),
            (0, 0),
            (20, 1),
            (20 + 3, 2),
            (20 + 66 * 2 + 1, 2),
            (20 + 3 * 40_000, 40_000),
        ] {
            let b = forged(len, count);
            assert!(block_at(&b, 0).is_none(), "len {len}, count {count}");
        }
        assert!(plausible(20 + 3, 1) && plausible(20 + 66, 1));
        let many: Vec<u8> = (0..1000)
            .flat_map(|_| forged(0, BLOCK_EVENTS as u32))
            .collect();
        let (events, damage) = read(&many, 1000, 1000 * BLOCK_EVENTS as u64, many.len() as u64);
        assert!(events.is_empty());
        assert_eq!(damage.unwrap().blocks_lost, 1000);
        // Each candidate tried costs what it claims (at most the rest of the section);
        // one that would take more than is left ends the search untried.
        let claim = |at: usize, len: u32, section: &mut Vec<u8>| {
            section.resize(at, 0);
            section.extend_from_slice(&BLOCK_MAGIC);
            section.extend_from_slice(&len.to_le_bytes());
        };
        let mut claims = Vec::new();
        claim(8, 60, &mut claims);
        claim(40, 60, &mut claims);
        claims.resize(2000, 0);
        let mut budget = 100;
        assert_eq!(next_block(&claims, 0, &mut budget), claims.len());
        assert_eq!(budget, 40, "the first tried, the second past the budget");
        let mut far = Vec::new();
        claim(8, 5000, &mut far);
        far.resize(2000, 0);
        let mut budget = 2000;
        assert_eq!(next_block(&far, 0, &mut budget), far.len());
        assert_eq!(
            budget, 8,
            "a claim past the end costs the rest of the section"
        );
    }

    /// Bytes after the section the metadata counts are not a lost end, even when a
    /// block in the middle was lost.
    #[test]
    fn trailing_bytes_after_a_lost_middle_block_are_not_a_gap_at_the_end() {
        let (events, bytes, second) = three_blocks();
        let mut bad = bytes.clone();
        bad[second + BLOCK_HEADER_LEN + 100] ^= 1;
        bad.extend_from_slice(b"XYZ");
        let (back, damage) = read(&bad, 3, events.len() as u64, bytes.len() as u64);
        assert_eq!(back.len(), 2 * BLOCK_EVENTS);
        let damage = damage.unwrap();
        assert_eq!(damage.gaps.len(), 1, "{:?}", damage.gaps);
        assert!(damage.gaps[0].1.is_some(), "the one gap closes");
        assert!(!damage.truncated);
    }

    #[test]
    fn varints_and_zigzag_round_trip_at_every_width() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put(&mut out, v);
            assert_eq!(
                out.len(),
                (64 - v.leading_zeros() as usize).div_ceil(7).max(1)
            );
            assert_eq!(Cursor::new(&out).get(), Ok(v));
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(u64::MAX), 1, "-1 is one byte");
        assert_eq!(zigzag(1), 2);
        // Eleven bytes, or a tenth byte past bit 63: not a u64.
        assert!(Cursor::new(&[0xff; 11]).get().is_err());
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert!(Cursor::new(&over).get().is_err());
        assert!(Cursor::new(&[0x80]).get().is_err());
    }

    #[test]
    fn blocks_split_at_the_block_size_and_each_restarts_its_deltas() {
        let events: Vec<Event> = (0..BLOCK_EVENTS as u64 * 2 + 5)
            .map(|i| {
                ev(
                    1_000_000 + i * 100,
                    (i % 4) as u32,
                    EventKind::PollStart { task: i / 2 },
                )
            })
            .collect();
        let bytes = encoded(&events);
        let first = block_at(&bytes, 0).unwrap();
        assert_eq!(first.count, BLOCK_EVENTS);
        let second = block_at(&bytes, first.next).unwrap();
        let third = block_at(&bytes, second.next).unwrap();
        assert_eq!(third.count, 5);
        assert_eq!(third.next, bytes.len());
        // The third block alone decodes to its own events.
        let mut alone = Vec::new();
        decode(&third, &mut alone).unwrap();
        assert_eq!(alone, events[2 * BLOCK_EVENTS..]);
        assert_eq!(block_count(events.len()), 3);
        assert_eq!(block_count(0), 0);
        assert_eq!(block_count(BLOCK_EVENTS), 1);
        // Close times, four lanes, a task per two events: 2 bytes a time, 1 a lane, 1 a
        // task, 1 a kind.
        assert!(bytes.len() < events.len() * 6, "{} bytes", bytes.len());
    }

    #[test]
    fn a_damaged_block_costs_only_its_own_events() {
        let (events, bytes, second) = three_blocks();
        let mut bad = bytes.clone();
        bad[second + BLOCK_HEADER_LEN + 100] ^= 1;
        let (back, damage) = read(&bad, 3, events.len() as u64, bytes.len() as u64);
        let damage = damage.unwrap();
        assert_eq!((damage.blocks, damage.events), (3, events.len() as u64));
        assert_eq!(back.len(), 2 * BLOCK_EVENTS);
        assert_eq!(back[..BLOCK_EVENTS], events[..BLOCK_EVENTS]);
        assert_eq!(back[BLOCK_EVENTS..], events[2 * BLOCK_EVENTS..]);
        assert_eq!(
            (damage.blocks_lost, damage.events_lost),
            (1, BLOCK_EVENTS as u64)
        );
        assert!(!damage.truncated);
        let gap = (
            Some(events[BLOCK_EVENTS - 1].ts_ns),
            Some(events[2 * BLOCK_EVENTS].ts_ns),
        );
        assert_eq!(damage.gaps, vec![gap]);
        assert!(damage.overlaps(gap.0.unwrap() + 1, gap.0.unwrap() + 2));
        assert!(!damage.overlaps(0, gap.0.unwrap()));
        assert!(!damage.overlaps(gap.1.unwrap(), u64::MAX));
        // A damaged header (its length) resynchronises on the next block too.
        let mut bad = bytes.clone();
        bad[second + 5] ^= 0x10;
        let (back, damage) = read(&bad, 3, events.len() as u64, bytes.len() as u64);
        assert_eq!(back.len(), 2 * BLOCK_EVENTS);
        assert_eq!(damage.unwrap().blocks_lost, 1);
        // A lost middle block and a file cut after the next one: both gaps, and the end
        // is known missing.
        let third = block_at(&bytes, second).unwrap().next;
        let mut bad = bytes[..third].to_vec();
        bad[second + BLOCK_HEADER_LEN + 100] ^= 1;
        let (back, damage) = read(&bad, 3, events.len() as u64, bytes.len() as u64);
        let damage = damage.unwrap();
        assert_eq!(back.len(), BLOCK_EVENTS);
        assert!(damage.truncated);
        assert_eq!(damage.gaps.len(), 1, "{:?}", damage.gaps);
        assert_eq!(damage.blocks_lost, 2);
        // Bytes after the last block lose nothing.
        let mut extra = bytes.clone();
        extra.extend_from_slice(b"D9E");
        assert_eq!(
            read(&extra, 3, events.len() as u64, bytes.len() as u64),
            (events.clone(), None)
        );
    }

    /// Random damage anywhere in a section of many blocks: what is read is exactly the
    /// blocks the damage did not touch, in order, and the counts say what is missing.
    #[test]
    fn any_flip_or_cut_costs_exactly_the_blocks_it_touches() {
        let per = 1000;
        let events: Vec<Event> = (0..per as u64 * 6)
            .map(|i| {
                let kind = if i % 3 == 0 {
                    EventKind::PollEnd {
                        task: i / 7,
                        completed: i % 2 == 0,
                        duration_ns: Some(i),
                    }
                } else {
                    EventKind::Wake {
                        task: i / 5,
                        by_ref: true,
                        source: WakeSource::Task(i),
                    }
                };
                ev(i * 31, (i % 5) as u32, kind)
            })
            .collect();
        let mut bytes = Vec::new();
        let mut starts = vec![];
        for chunk in events.chunks(per) {
            starts.push(bytes.len());
            write_block(chunk, &mut bytes);
        }
        let block_of = |at: usize| starts.iter().rposition(|&s| s <= at).unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x % bytes.len() as u64) as usize;
            let cut = round % 4 == 0;
            let bad = if cut {
                bytes[..at].to_vec()
            } else {
                let mut b = bytes.clone();
                b[at] ^= 1 << (x >> 60 & 7);
                b
            };
            let (back, damage) = read(&bad, 6, events.len() as u64, bytes.len() as u64);
            let hit = block_of(at);
            let expect: Vec<Event> = events
                .chunks(per)
                .enumerate()
                .filter(|&(b, _)| if cut { b < hit } else { b != hit })
                .flat_map(|(_, c)| c.iter().copied())
                .collect();
            assert_eq!(back, expect, "round {round}: cut {cut} at {at}");
            let damage = damage.unwrap();
            assert_eq!(damage.blocks_lost, if cut { 6 - hit as u64 } else { 1 });
            assert_eq!(damage.events_lost, (events.len() - expect.len()) as u64);
            assert_eq!(damage.truncated, cut, "round {round}");
        }
    }

    #[test]
    fn a_cut_section_keeps_the_whole_blocks_before_the_cut() {
        let events: Vec<Event> = (0..BLOCK_EVENTS as u64 + 10)
            .map(|i| ev(i, 1, EventKind::PollStart { task: i }))
            .collect();
        let bytes = encoded(&events);
        let second = block_at(&bytes, 0).unwrap().next;
        for cut in [
            second + 3,
            second + BLOCK_HEADER_LEN + 1,
            bytes.len() - 1,
            second,
        ] {
            let (back, damage) = read(&bytes[..cut], 2, events.len() as u64, bytes.len() as u64);
            assert_eq!(back, events[..BLOCK_EVENTS], "cut at {cut}");
            let damage = damage.unwrap();
            assert!(damage.truncated, "cut at {cut}");
            assert_eq!((damage.blocks_lost, damage.events_lost), (1, 10));
            assert_eq!(damage.gaps, vec![(Some(BLOCK_EVENTS as u64 - 1), None)]);
            assert!(
                damage.to_string().contains("1 of its 2 event blocks"),
                "{damage}"
            );
            assert!(damage.to_string().contains("ends early"), "{damage}");
        }
        let (_, damage) = read(&bytes, 2, events.len() as u64, bytes.len() as u64);
        assert_eq!(damage, None);
    }

    #[test]
    fn a_block_whose_crc_holds_but_does_not_decode_is_lost_not_half_read() {
        let events: Vec<Event> = (0..10)
            .map(|i| ev(i, 0, EventKind::Terminate { task: i }))
            .collect();
        for (what, patch) in [
            ("unknown kind", 0usize),
            ("extra value byte", 1),
            ("count mismatch", 2),
        ] {
            let mut bytes = encoded(&events);
            match patch {
                // The first kind byte (after the header and the kinds column's length).
                0 => bytes[BLOCK_HEADER_LEN + 4] = LAST_CODE + 1,
                1 => {
                    bytes.push(0);
                    let len = bytes.len() - BLOCK_HEADER_LEN;
                    bytes[4..8].copy_from_slice(&(len as u32).to_le_bytes());
                    let at = bytes.len() - 5;
                    let col = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
                    bytes[at..at + 4].copy_from_slice(&(col + 1).to_le_bytes());
                }
                _ => bytes[8..12].copy_from_slice(&9u32.to_le_bytes()),
            }
            let mut crc = crc32fast::Hasher::new();
            crc.update(&bytes[4..12]);
            crc.update(&bytes[BLOCK_HEADER_LEN..]);
            bytes[12..16].copy_from_slice(&crc.finalize().to_le_bytes());
            let block = block_at(&bytes, 0).unwrap();
            let mut out = vec![ev(0, 0, EventKind::Park)];
            assert!(decode(&block, &mut out).is_err(), "{what}");
            assert_eq!(out.len(), 1, "{what}: nothing half-decoded stays");
            let (back, damage) = read(&bytes, 1, 10, bytes.len() as u64);
            assert!(back.is_empty(), "{what}");
            assert_eq!(damage.unwrap().events_lost, 10, "{what}");
        }
    }
}
