//! Crash-surviving ring files: the layout of a recorder's shared file mapping, and reading
//! one back into a [`Dump`] after its process died (or while it still runs).
//!
//! ```text
//! offset        what
//! 0             header page (4096 bytes): magic b"DIAL9RNG", version, pid, clock anchor
//!               and scale, area offsets, the ring's claim counter, flags (hooks, layer,
//!               clean exit), program name (at 256), host name (at 512)
//! 4096          the ring's blocks, exactly as in memory (see `ring_codec`)
//! lanes_at      1,024 lane records of 32 bytes (tag, lane | worker, OS tid, name | kind)
//! tasks_at      task records of 48 bytes in a circle (tag, task, parent, name | file,
//!               line | col, sequence | kind), overwritten oldest first
//! strings_at    append-only strings: u32 (length + 1, written last) then the bytes
//! ```
//! Integers are native-endian (the file is read on the machine that wrote it). Every
//! record carries a tag written last, so the one record being written when the process
//! died is detected and skipped, never decoded.

#![cfg_attr(not(feature = "record"), allow(dead_code))]

use super::ring_codec::{self, BLOCK_BYTES, BLOCK_EVENTS, BLOCK_SLOTS_OFFSET, SLOT_BYTES};
use super::{
    ClockAnchor, Dump, Event, Header, ReadError, Reason, SpawnLocation, TaskInfo, TaskKind,
    ThreadInfo, ThreadKind,
};

pub const RING_MAGIC: [u8; 8] = *b"DIAL9RNG";
/// The ring file layout version this build writes and the newest it reads.
pub const RING_VERSION: u32 = 1;

pub(crate) const HEADER_BYTES: usize = 4096;
pub(crate) const H_VERSION: usize = 8;
pub(crate) const H_PID: usize = 16;
pub(crate) const H_START_UNIX: usize = 24;
pub(crate) const H_START_RAW: usize = 32;
pub(crate) const H_NS_PER_RAW: usize = 40;
pub(crate) const H_BLOCKS: usize = 48;
pub(crate) const H_LANES_AT: usize = 56;
pub(crate) const H_TASKS_AT: usize = 64;
pub(crate) const H_TASK_SLOTS: usize = 72;
pub(crate) const H_STRINGS_AT: usize = 80;
pub(crate) const H_STRINGS_LEN: usize = 88;
pub(crate) const H_FILE_LEN: usize = 96;
pub(crate) const H_CLAIMS: usize = 104;
pub(crate) const H_STRINGS_USED: usize = 112;
pub(crate) const H_TASK_SEQ: usize = 120;
pub(crate) const H_FLAGS: usize = 128;
pub(crate) const H_PROGRAM: usize = 256;
/// Length byte then up to 255 bytes; zero (unknown) in files written before it existed.
pub(crate) const H_HOST: usize = 512;
pub(crate) const BLOCKS_AT: usize = HEADER_BYTES;
pub(crate) const MAX_PERSISTED_LANES: usize = 1024;
pub(crate) const LANE_WORDS: usize = 4;
pub(crate) const TASK_WORDS: usize = 6;
pub(crate) const NO_STRING: u32 = u32::MAX;
pub(crate) const FLAG_HOOKS: u64 = 1;
pub(crate) const FLAG_LAYER: u64 = 2;
/// Set by the writer as it exits cleanly, just before it removes the file: a ring that
/// still has it was not left by a crash.
pub(crate) const FLAG_CLEAN_EXIT: u64 = 4;
/// Ring files are named `dial9-PROGRAM-PID-RANDOM.ring`.
pub const RING_SUFFIX: &str = ".ring";

/// Tag of a lane or task record: its index and its payload words.
pub(crate) fn record_tag(index: u64, words: &[u64]) -> u64 {
    let mut h = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1A9;
    for &w in words {
        h = (h ^ w).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 29;
    }
    h | 1
}

pub(crate) fn kind_code(k: TaskKind) -> u64 {
    match k {
        TaskKind::Task => 1,
        TaskKind::Local => 2,
        TaskKind::BlockOn => 3,
        TaskKind::Blocking => 4,
        TaskKind::Unknown => 0,
    }
}

fn kind_from(code: u64) -> TaskKind {
    match code {
        1 => TaskKind::Task,
        2 => TaskKind::Local,
        3 => TaskKind::BlockOn,
        4 => TaskKind::Blocking,
        _ => TaskKind::Unknown,
    }
}

pub(crate) fn thread_kind_code(k: ThreadKind) -> u64 {
    match k {
        ThreadKind::Worker => 1,
        ThreadKind::Blocking => 2,
        ThreadKind::Other => 0,
    }
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u64(&self, at: usize) -> Option<u64> {
        let b = self.0.get(at..at.checked_add(8)?)?;
        Some(u64::from_ne_bytes(b.try_into().ok()?))
    }
    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.0.get(at..at.checked_add(4)?)?;
        Some(u32::from_ne_bytes(b.try_into().ok()?))
    }
}

fn corrupt(detail: &str) -> ReadError {
    ReadError::Corrupt {
        detail: format!("ring file: {detail}"),
    }
}

/// Reads a ring file's bytes. `writer_alive`: whether the writing process still holds
/// the file's lock (then this is a live snapshot).
pub(crate) fn read_ring(bytes: &[u8], writer_alive: bool) -> Result<Dump, ReadError> {
    if bytes.len() < HEADER_BYTES {
        return Err(ReadError::Truncated {
            expected: HEADER_BYTES as u64,
            actual: bytes.len() as u64,
        });
    }
    let b = Bytes(bytes);
    let field = |at: usize| b.u64(at).ok_or_else(|| corrupt("header"));
    let file_len = field(H_FILE_LEN)?;
    // The areas' offsets add up to the file's length in every file a recorder wrote; when
    // they do not, the length field itself is damaged and no "expected N bytes" can be
    // believed (nor can a version number from such a header).
    let consistent = field(H_STRINGS_AT)?
        .checked_add(field(H_STRINGS_LEN)?)
        .is_some_and(|end| end == file_len && file_len >= HEADER_BYTES as u64);
    let version = b.u32(H_VERSION).unwrap_or(0);
    if version > RING_VERSION {
        if !consistent {
            return Err(corrupt(
                "the header is damaged (the ring file magic on something else?)",
            ));
        }
        return Err(ReadError::NewerVersion {
            found: version,
            supported: RING_VERSION,
        });
    }
    if version == 0 {
        return Err(corrupt("version 0 does not exist"));
    }
    if !consistent {
        return Err(corrupt("the header's length fields are damaged"));
    }
    if (bytes.len() as u64) < file_len {
        return Err(ReadError::Truncated {
            expected: file_len,
            actual: bytes.len() as u64,
        });
    }
    if bytes.len() as u64 > file_len {
        return Err(corrupt("longer than its header says"));
    }
    let len = bytes.len();
    let blocks = field(H_BLOCKS)? as usize;
    let lanes_at = field(H_LANES_AT)? as usize;
    let tasks_at = field(H_TASKS_AT)? as usize;
    let task_slots = field(H_TASK_SLOTS)? as usize;
    let strings_at = field(H_STRINGS_AT)? as usize;
    let strings_len = field(H_STRINGS_LEN)? as usize;
    let layout_ok = blocks
        .checked_mul(BLOCK_BYTES)
        .and_then(|n| n.checked_add(BLOCKS_AT))
        .is_some_and(|end| end <= lanes_at)
        && lanes_at
            .checked_add(MAX_PERSISTED_LANES * LANE_WORDS * 8)
            .is_some_and(|end| end <= tasks_at)
        && task_slots
            .checked_mul(TASK_WORDS * 8)
            .and_then(|n| n.checked_add(tasks_at))
            .is_some_and(|end| end <= strings_at)
        && strings_at
            .checked_add(strings_len)
            .is_some_and(|end| end <= len);
    if !layout_ok {
        return Err(corrupt("areas overlap or lie outside the file"));
    }
    let pid = field(H_PID)? as u32;
    let start_unix = field(H_START_UNIX)?;
    let start_raw = field(H_START_RAW)?;
    let ns_per_raw = f64::from_bits(field(H_NS_PER_RAW)?);
    if !(ns_per_raw.is_finite() && ns_per_raw > 0.0 && ns_per_raw < 1e6) {
        return Err(corrupt("clock scale"));
    }
    let claims = field(H_CLAIMS)?;
    let flags = field(H_FLAGS)?;
    let short_string = |at: usize| {
        let n = usize::from(bytes[at]);
        String::from_utf8_lossy(&bytes[at + 1..at + 1 + n]).into_owned()
    };
    let program = short_string(H_PROGRAM);
    let host = short_string(H_HOST);
    let to_ns = |raw: u64| (raw.saturating_sub(start_raw) as f64 * ns_per_raw) as u64;

    // Strings: (length + 1) as u32, written last, then the bytes.
    let string = |off: u32| -> Option<String> {
        if off == NO_STRING {
            return None;
        }
        let at = strings_at.checked_add(off as usize)?;
        let n = (b.u32(at)? as usize).checked_sub(1)?;
        let end = (at + 4).checked_add(n)?;
        if end > strings_at + strings_len {
            return None;
        }
        Some(String::from_utf8_lossy(&bytes[at + 4..end]).into_owned())
    };
    // Words past the end of the file read as 0 (an invalid tag), never as a panic.
    fn words<const N: usize>(b: &Bytes<'_>, at: usize) -> [u64; N] {
        std::array::from_fn(|i| at.checked_add(8 * i).and_then(|a| b.u64(a)).unwrap_or(0))
    }

    // Events.
    let mut raw = Vec::new();
    let mut torn = 0u64;
    for i in 0..blocks {
        let at = BLOCKS_AT + i * BLOCK_BYTES;
        let header = b.u64(at).unwrap_or(0);
        if header == 0 {
            continue;
        }
        let lane = (header & ((1 << ring_codec::LANE_BITS) - 1)) as u32;
        let mut pending = 0;
        for pos in 0..BLOCK_EVENTS {
            let w: [u64; 4] = words(&b, at + BLOCK_SLOTS_OFFSET + pos * SLOT_BYTES);
            let (t, ts, a, bb) = (w[0], w[1], w[2], w[3]);
            if t != 0 && t == ring_codec::tag(header, pos, ts, a, bb) {
                torn += pending;
                pending = 0;
                if let Some(kind) = ring_codec::unpack(a, bb) {
                    raw.push((ts, lane, header >> ring_codec::LANE_BITS, pos, kind));
                }
            } else if t != 0 || ts != 0 {
                pending += 1;
            }
        }
    }
    raw.sort_unstable_by_key(|r| (r.0, r.1, r.2, r.3));
    let events: Vec<Event> = raw
        .iter()
        .map(|&(ts, lane, _, _, kind)| Event {
            ts_ns: to_ns(ts),
            lane,
            kind,
        })
        .collect();

    // Lanes.
    let mut threads = Vec::new();
    for i in 0..MAX_PERSISTED_LANES {
        let w: [u64; LANE_WORDS] = words(&b, lanes_at + i * LANE_WORDS * 8);
        if w[0] == 0 || w[0] != record_tag(i as u64, &w[1..]) {
            continue;
        }
        let worker = (w[1] >> 32) as u32;
        threads.push(ThreadInfo {
            lane: w[1] as u32,
            os_tid: w[2],
            name: string((w[3] >> 8) as u32).unwrap_or_else(|| format!("lane {i}")),
            worker: (worker != u32::MAX).then_some(worker),
            kind: match w[3] & 0xff {
                1 => ThreadKind::Worker,
                2 => ThreadKind::Blocking,
                _ => ThreadKind::Other,
            },
        });
    }
    let mut known: std::collections::HashSet<u32> = threads.iter().map(|t| t.lane).collect();
    for e in &events {
        if known.insert(e.lane) {
            threads.push(ThreadInfo {
                lane: e.lane,
                os_tid: 0,
                name: format!("lane {}", e.lane),
                worker: None,
                kind: ThreadKind::Other,
            });
        }
    }
    threads.sort_by_key(|t| t.lane);

    // Tasks: the newest record of each task id wins.
    let mut by_id: std::collections::HashMap<u64, (u64, TaskInfo)> = Default::default();
    for i in 0..task_slots {
        let w: [u64; TASK_WORDS] = words(&b, tasks_at + i * TASK_WORDS * 8);
        if w[0] == 0 || w[0] != record_tag(i as u64, &w[1..]) {
            continue;
        }
        let seq = w[5] >> 8;
        let file = string((w[3] >> 32) as u32);
        let info = TaskInfo {
            id: w[1],
            name: string(w[3] as u32).unwrap_or_default(),
            kind: kind_from(w[5] & 0xff),
            location: file.map(|file| SpawnLocation {
                file,
                line: (w[4] >> 32) as u32,
                col: w[4] as u32,
            }),
            spawned_by: w[2].checked_sub(1),
        };
        match by_id.get(&info.id) {
            Some((s, _)) if *s > seq => {}
            _ => {
                by_id.insert(info.id, (seq, info));
            }
        }
    }
    let mut tasks: Vec<TaskInfo> = by_id.into_values().map(|(_, t)| t).collect();
    let reason = if flags & FLAG_CLEAN_EXIT != 0 && !writer_alive {
        Reason::Exited { pid }
    } else {
        Reason::Recovered { pid, writer_alive }
    };
    super::fill_missing_tasks(&mut tasks, &events, &reason);

    let last_ns = events.last().map_or(0, |e| e.ts_ns);
    let capacity = (blocks * BLOCK_EVENTS) as u64;
    // Every claim beyond the first lap overwrote a block of up to 64 events.
    let overwritten = claims
        .saturating_sub(blocks as u64)
        .saturating_mul(BLOCK_EVENTS as u64);
    Ok(Dump {
        header: Header {
            reason,
            dumped_at_unix_ns: start_unix.saturating_add(last_ns),
            dumped_at_ns: last_ns,
            anchor: ClockAnchor {
                mono_ns: 0,
                unix_ns: start_unix,
            },
            pid,
            program,
            host: if host.is_empty() {
                "unknown host".into()
            } else {
                host
            },
            capacity,
            recorded_total: (events.len() as u64)
                .saturating_add(overwritten)
                .saturating_add(torn),
            overwritten,
            torn_skipped: torn,
            hooks_installed: flags & FLAG_HOOKS != 0,
            layer_installed: flags & FLAG_LAYER != 0,
            recorder_version: "ring file".into(),
        },
        threads,
        tasks,
        lane_states: Vec::new(),
        events,
    })
}
