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

use super::ring_codec::{self, BLOCK_BYTES, BLOCK_EVENTS, BLOCK_SLOTS_OFFSET, SLOT_BYTES};
use super::{
    ClockAnchor, Dump, Event, EventKind, Header, ReadError, Reason, SpawnLocation, TaskInfo,
    TaskKind, ThreadInfo, ThreadKind,
};

/// The first 8 bytes of a ring file: [`Dump::read`] tells a ring file from a dump by them.
pub const RING_MAGIC: [u8; 8] = *b"DIAL9RNG";
/// The ring file layout version this build writes and the newest it reads. Version 2: a
/// poll's end can carry its own waker op (`ring_codec::F_OP_FOLDED`), which a version 1
/// reader would misread as a task id.
pub const RING_VERSION: u32 = 2;

/// Bytes of the header page.
pub const HEADER_BYTES: usize = 4096;
// Offsets in the header page. Each field is a native-endian u64 unless said otherwise.
/// Header offset of the layout version (a u32, [`RING_VERSION`]).
pub const H_VERSION: usize = 8;
/// Header offset of the writer's process id.
pub const H_PID: usize = 16;
/// Header offset of the wall-clock time the recorder started, ns since the Unix epoch.
pub const H_START_UNIX: usize = 24;
/// Header offset of the raw clock reading at the recorder's start (event time 0).
pub const H_START_RAW: usize = 32;
/// Header offset of the nanoseconds per raw clock tick (an f64's bits).
pub const H_NS_PER_RAW: usize = 40;
/// Header offset of the ring's number of blocks.
pub const H_BLOCKS: usize = 48;
/// Header offset of the lane area's offset in the file.
pub const H_LANES_AT: usize = 56;
/// Header offset of the task area's offset in the file.
pub const H_TASKS_AT: usize = 64;
/// Header offset of the number of task records.
pub const H_TASK_SLOTS: usize = 72;
/// Header offset of the string area's offset in the file.
pub const H_STRINGS_AT: usize = 80;
/// Header offset of the string area's length in bytes.
pub const H_STRINGS_LEN: usize = 88;
/// Header offset of the file's length in bytes.
pub const H_FILE_LEN: usize = 96;
/// Header offset of the ring's claim counter: blocks claimed so far (more than the ring
/// has means it went round and overwrote).
pub const H_CLAIMS: usize = 104;
/// Header offset of the bytes of the string area in use.
pub const H_STRINGS_USED: usize = 112;
/// Header offset of the task records written so far: the next record's sequence number
/// (records go round the task area, oldest overwritten first).
pub const H_TASK_SEQ: usize = 120;
/// Header offset of the flags word: [`FLAG_HOOKS`], [`FLAG_LAYER`], [`FLAG_CLEAN_EXIT`].
pub const H_FLAGS: usize = 128;
/// Header offset of the program name: a length byte then up to 255 bytes.
pub const H_PROGRAM: usize = 256;
/// Length byte then up to 255 bytes; zero (unknown) in files written before it existed.
pub const H_HOST: usize = 512;
/// File offset of the ring's first block: right after the header page.
pub const BLOCKS_AT: usize = HEADER_BYTES;
/// Lane records the file has room for; a higher lane gets none (its events still read,
/// under the name `lane N`).
pub const MAX_PERSISTED_LANES: usize = 1024;
/// u64 words of a lane record, its tag included.
pub const LANE_WORDS: usize = 4;
/// u64 words of a task record, its tag included.
pub const TASK_WORDS: usize = 6;
/// A string offset that means no string: none was given, or the string area was full.
pub const NO_STRING: u32 = u32::MAX;
/// Flag: the runtime hooks were installed ([`Header::hooks_installed`]).
pub const FLAG_HOOKS: u64 = 1;
/// Flag: the recorder's subscriber or layer was installed ([`Header::layer_installed`]).
pub const FLAG_LAYER: u64 = 2;
/// Set by the writer as it exits cleanly, just before it removes the file: a ring that
/// still has it was not left by a crash.
pub const FLAG_CLEAN_EXIT: u64 = 4;
/// Ring files are named `dial9-PROGRAM-PID-RANDOM.ring`.
pub const RING_SUFFIX: &str = ".ring";

/// Tag of a lane or task record: its index and its payload words.
pub fn record_tag(index: u64, words: &[u64]) -> u64 {
    let mut h = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1A9;
    for &w in words {
        h = (h ^ w).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 29;
    }
    h | 1
}

/// A task kind's code in a task record (0: [`TaskKind::Unknown`]).
pub fn kind_code(k: TaskKind) -> u64 {
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

/// A thread kind's code in a lane record (0: [`ThreadKind::Other`]).
pub fn thread_kind_code(k: ThreadKind) -> u64 {
    match k {
        ThreadKind::Worker => 1,
        ThreadKind::Blocking => 2,
        ThreadKind::Other => 0,
    }
}

/// Where each area of a ring file sits, from the ring's capacity: the writer lays the
/// file out with it, and the reader checks a file's header against the same sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    /// The ring's blocks, of [`BLOCK_EVENTS`] slots each.
    pub blocks: usize,
    /// Offset of the lane area.
    pub lanes_at: usize,
    /// Offset of the task area.
    pub tasks_at: usize,
    /// Task records the task area holds.
    pub task_slots: usize,
    /// Offset of the string area.
    pub strings_at: usize,
    /// Bytes of the string area.
    pub strings_len: usize,
    /// Bytes of the whole file.
    pub file_len: usize,
}

impl RingLayout {
    /// The layout for a ring of `capacity` events (rounded up to whole blocks); task
    /// records get an eighth of the events (at least 1,024), strings 4 MiB.
    pub fn for_capacity(capacity: usize) -> RingLayout {
        let blocks = capacity.div_ceil(BLOCK_EVENTS).max(1);
        let task_slots = (blocks * BLOCK_EVENTS / 8).max(1024);
        let strings_len = 4 << 20;
        let lanes_at = BLOCKS_AT + blocks * BLOCK_BYTES;
        let tasks_at = lanes_at + MAX_PERSISTED_LANES * LANE_WORDS * 8;
        let strings_at = tasks_at + task_slots * TASK_WORDS * 8;
        RingLayout {
            blocks,
            lanes_at,
            tasks_at,
            task_slots,
            strings_at,
            strings_len,
            file_len: strings_at + strings_len,
        }
    }
}

/// The writer's identity and clock, as the header page records them.
#[derive(Clone, Debug)]
pub struct RingIdentity<'a> {
    /// The writer's process id.
    pub pid: u32,
    /// Wall-clock time of the recorder's start, ns since the Unix epoch.
    pub start_unix_ns: u64,
    /// Raw clock reading at the recorder's start: event time 0.
    pub start_raw: u64,
    /// Nanoseconds per raw clock tick.
    pub ns_per_raw: f64,
    /// The program's name (the first 255 bytes are kept).
    pub program: &'a str,
    /// The host's name (the first 255 bytes are kept).
    pub host: &'a str,
}

/// Packs the header page into `page` (at least [`HEADER_BYTES`] long, zeroed). Counters
/// and flags start at zero and are then updated in place by the writer.
pub fn pack_header(page: &mut [u8], layout: &RingLayout, id: &RingIdentity<'_>) {
    let mut put = |at: usize, v: u64| page[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    put(H_PID, u64::from(id.pid));
    put(H_START_UNIX, id.start_unix_ns);
    put(H_START_RAW, id.start_raw);
    put(H_NS_PER_RAW, id.ns_per_raw.to_bits());
    put(H_BLOCKS, layout.blocks as u64);
    put(H_LANES_AT, layout.lanes_at as u64);
    put(H_TASKS_AT, layout.tasks_at as u64);
    put(H_TASK_SLOTS, layout.task_slots as u64);
    put(H_STRINGS_AT, layout.strings_at as u64);
    put(H_STRINGS_LEN, layout.strings_len as u64);
    put(H_FILE_LEN, layout.file_len as u64);
    page[..8].copy_from_slice(&RING_MAGIC);
    page[H_VERSION..H_VERSION + 4].copy_from_slice(&RING_VERSION.to_ne_bytes());
    for (at, s) in [(H_PROGRAM, id.program), (H_HOST, id.host)] {
        let s = &s.as_bytes()[..s.len().min(255)];
        page[at] = s.len() as u8;
        page[at + 1..at + 1 + s.len()].copy_from_slice(s);
    }
}

/// A lane record's payload: `lane | worker << 32`, OS thread id, `name << 8 | kind`.
pub fn pack_lane(info: &ThreadInfo, name: u32) -> [u64; LANE_WORDS - 1] {
    let worker = info.worker.unwrap_or(u32::MAX);
    [
        (u64::from(worker) << 32) | u64::from(info.lane),
        info.os_tid,
        (u64::from(name) << 8) | thread_kind_code(info.kind),
    ]
}

/// The inverse of [`pack_lane`], given the name its string offset points at.
pub fn lane_from_words(w: [u64; LANE_WORDS - 1], name: String) -> ThreadInfo {
    let worker = (w[0] >> 32) as u32;
    ThreadInfo {
        lane: w[0] as u32,
        os_tid: w[1],
        name,
        worker: (worker != u32::MAX).then_some(worker),
        kind: match w[2] & 0xff {
            1 => ThreadKind::Worker,
            2 => ThreadKind::Blocking,
            _ => ThreadKind::Other,
        },
    }
}

/// Strings of a task record: offsets of its name and its spawn file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskStrings {
    /// Offset of the task's name in the string area ([`NO_STRING`]: none).
    pub name: u32,
    /// Offset of its spawn location's file ([`NO_STRING`]: none).
    pub file: u32,
}

/// A task record's payload: task, parent + 1 (0: none), `file << 32 | name`,
/// `line << 32 | col`, `sequence << 8 | kind`. The sequence orders records of one task.
pub fn pack_task(
    task: u64,
    parent: Option<u64>,
    strings: TaskStrings,
    line: u32,
    col: u32,
    seq: u64,
    kind: TaskKind,
) -> [u64; TASK_WORDS - 1] {
    [
        task,
        parent.map_or(0, |p| p.saturating_add(1)),
        (u64::from(strings.file) << 32) | u64::from(strings.name),
        (u64::from(line) << 32) | u64::from(col),
        (seq << 8) | kind_code(kind),
    ]
}

/// The string offsets in a task record, to look up before [`task_from_words`].
pub fn task_strings(w: &[u64; TASK_WORDS - 1]) -> TaskStrings {
    TaskStrings {
        name: w[2] as u32,
        file: (w[2] >> 32) as u32,
    }
}

/// The inverse of [`pack_task`]: the record's sequence and the task.
pub fn task_from_words(
    w: [u64; TASK_WORDS - 1],
    name: Option<String>,
    file: Option<String>,
) -> (u64, TaskInfo) {
    (
        w[4] >> 8,
        TaskInfo {
            id: w[0],
            name: name.unwrap_or_default(),
            kind: kind_from(w[4] & 0xff),
            location: file.map(|file| SpawnLocation {
                file,
                line: (w[3] >> 32) as u32,
                col: w[3] as u32,
            }),
            spawned_by: w[1].checked_sub(1),
        },
    )
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
    /// A header field: one that cannot be read means the header is damaged.
    fn field(&self, at: usize) -> Result<u64, ReadError> {
        self.u64(at).ok_or_else(|| corrupt("header"))
    }
    /// A record's words: words past the end of the file read as 0 (an invalid tag),
    /// never as a panic.
    fn words<const N: usize>(&self, at: usize) -> [u64; N] {
        std::array::from_fn(|i| at.checked_add(8 * i).and_then(|a| self.u64(a)).unwrap_or(0))
    }
}

fn corrupt(detail: &str) -> ReadError {
    ReadError::Corrupt {
        detail: format!("ring file: {detail}"),
    }
}

/// A ring file's header page, checked: its areas lie inside the file, its clock scale is
/// sane.
struct RingHeader {
    layout: RingLayout,
    pid: u32,
    start_unix: u64,
    start_raw: u64,
    ns_per_raw: f64,
    /// Blocks claimed so far (more than the ring has: it went round and overwrote).
    claims: u64,
    flags: u64,
    program: String,
    host: String,
}

impl RingHeader {
    /// Event time of a raw clock reading: ns since the recorder's start.
    fn to_ns(&self, raw: u64) -> u64 {
        (raw.saturating_sub(self.start_raw) as f64 * self.ns_per_raw) as u64
    }
}

/// Reads the header page, checked before any of its offsets is trusted.
fn read_header(bytes: &[u8]) -> Result<RingHeader, ReadError> {
    if bytes.len() < HEADER_BYTES {
        return Err(ReadError::Truncated {
            expected: HEADER_BYTES as u64,
            actual: bytes.len() as u64,
        });
    }
    let b = Bytes(bytes);
    check_version_and_length(&b)?;
    let layout = read_layout(&b)?;
    let pid = b.field(H_PID)? as u32;
    let start_unix = b.field(H_START_UNIX)?;
    let start_raw = b.field(H_START_RAW)?;
    let ns_per_raw = f64::from_bits(b.field(H_NS_PER_RAW)?);
    if !(ns_per_raw.is_finite() && ns_per_raw > 0.0 && ns_per_raw < 1e6) {
        return Err(corrupt("clock scale"));
    }
    let short_string = |at: usize| {
        let n = usize::from(bytes[at]);
        String::from_utf8_lossy(&bytes[at + 1..at + 1 + n]).into_owned()
    };
    Ok(RingHeader {
        layout,
        pid,
        start_unix,
        start_raw,
        ns_per_raw,
        claims: b.field(H_CLAIMS)?,
        flags: b.field(H_FLAGS)?,
        program: short_string(H_PROGRAM),
        host: short_string(H_HOST),
    })
}

/// Checks the layout version and the file's length against the header's, telling a
/// damaged header from a newer layout and from a truncated file.
fn check_version_and_length(b: &Bytes<'_>) -> Result<(), ReadError> {
    let len = b.0.len() as u64;
    let file_len = b.field(H_FILE_LEN)?;
    // The areas' offsets add up to the file's length in every file a recorder wrote; when
    // they do not, the length field itself is damaged and no "expected N bytes" can be
    // believed (nor can a version number from such a header).
    let consistent = b
        .field(H_STRINGS_AT)?
        .checked_add(b.field(H_STRINGS_LEN)?)
        .is_some_and(|end| end == file_len && file_len >= HEADER_BYTES as u64);
    let version = b.u32(H_VERSION).unwrap_or(0);
    if version > RING_VERSION {
        // A newer layout may add areas; its length field (at the same place) is kept.
        if file_len != len {
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
    if len < file_len {
        return Err(ReadError::Truncated {
            expected: file_len,
            actual: len,
        });
    }
    if len > file_len {
        return Err(corrupt("longer than its header says"));
    }
    Ok(())
}

/// Where the header says the areas sit, checked to follow one another inside the file.
fn read_layout(b: &Bytes<'_>) -> Result<RingLayout, ReadError> {
    let len = b.0.len();
    let blocks = b.field(H_BLOCKS)? as usize;
    let lanes_at = b.field(H_LANES_AT)? as usize;
    let tasks_at = b.field(H_TASKS_AT)? as usize;
    let task_slots = b.field(H_TASK_SLOTS)? as usize;
    let strings_at = b.field(H_STRINGS_AT)? as usize;
    let strings_len = b.field(H_STRINGS_LEN)? as usize;
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
    Ok(RingLayout {
        blocks,
        lanes_at,
        tasks_at,
        task_slots,
        strings_at,
        strings_len,
        file_len: len,
    })
}

/// An event as a block holds it: raw timestamp, lane, its order among the events of that
/// timestamp on that lane, kind.
type RawEvent = (u64, u32, (u64, usize, u8), EventKind);

/// What the scan of the blocks counted, for the header's totals and the window's start.
struct BlockCounts {
    /// Records kept (one can stand for several events: see `ring_codec::decode`).
    kept: u64,
    torn: u64,
    /// Raw timestamp of the oldest record kept.
    oldest: u64,
}

/// A ring file whose header checked out, read area by area.
struct RingReader<'a> {
    b: Bytes<'a>,
    h: RingHeader,
}

impl RingReader<'_> {
    /// The events of every block, in time order.
    fn events(&self) -> (Vec<Event>, BlockCounts) {
        let mut raw = Vec::new();
        let mut counts = BlockCounts {
            kept: 0,
            torn: 0,
            oldest: u64::MAX,
        };
        for i in 0..self.h.layout.blocks {
            self.read_block(i, &mut raw, &mut counts);
        }
        // A folded start from before the window (the ring lost everything else of that
        // time) is left out, as a written one would have been: the end says how long the
        // poll ran.
        if self.h.claims > self.h.layout.blocks as u64 {
            raw.retain(|r| !(r.2 == (0, 0, 0) && r.0 < counts.oldest));
        }
        raw.sort_unstable_by_key(|r| (r.0, r.1, r.2));
        let events = raw
            .iter()
            .map(|&(ts, lane, _, kind)| Event {
                ts_ns: self.h.to_ns(ts),
                lane,
                kind,
            })
            .collect();
        (events, counts)
    }

    /// Decodes block `i`'s whole records into `raw`, skipping the torn one.
    fn read_block(&self, i: usize, raw: &mut Vec<RawEvent>, counts: &mut BlockCounts) {
        let b = &self.b;
        let at = BLOCKS_AT + i * BLOCK_BYTES;
        let header = b.u64(at).unwrap_or(0);
        if header == 0 {
            return;
        }
        let lane = (header & ((1 << ring_codec::LANE_BITS) - 1)) as u32;
        let base = b.u64(at + ring_codec::BLOCK_BASE_OFFSET).unwrap_or(0);
        counts.torn += ring_codec::scan_block(
            header,
            base,
            |pos| {
                let w: [u64; 3] = b.words(at + BLOCK_SLOTS_OFFSET + pos * SLOT_BYTES);
                ring_codec::SlotRead {
                    word: w[0],
                    a: w[1],
                    b: w[2],
                    word_again: w[0],
                }
            },
            |pos, s| {
                counts.kept += 1;
                counts.oldest = counts.oldest.min(s.ts);
                let claim = header >> ring_codec::LANE_BITS;
                ring_codec::decode(
                    s.ts,
                    s.a,
                    s.b,
                    |t| self.h.to_ns(t),
                    |ts, sub, kind| {
                        // A folded start sorts first at its timestamp on its lane.
                        let order = if sub == ring_codec::SUB_START {
                            (0, 0, 0)
                        } else {
                            (claim, pos, sub)
                        };
                        raw.push((ts, lane, order, kind));
                    },
                );
            },
        );
    }

    /// The threads: each lane record, then a `lane N` for a lane with events but no
    /// record.
    fn lanes(&self, events: &[Event]) -> Vec<ThreadInfo> {
        let mut threads = Vec::new();
        for i in 0..MAX_PERSISTED_LANES {
            let w: [u64; LANE_WORDS] = self.b.words(self.h.layout.lanes_at + i * LANE_WORDS * 8);
            if w[0] == 0 || w[0] != record_tag(i as u64, &w[1..]) {
                continue;
            }
            threads.push(lane_from_words(
                [w[1], w[2], w[3]],
                self.string((w[3] >> 8) as u32)
                    .unwrap_or_else(|| format!("lane {i}")),
            ));
        }
        let mut known: std::collections::HashSet<u32> = threads.iter().map(|t| t.lane).collect();
        for e in events {
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
        threads
    }

    /// The tasks: the newest record of each task id wins.
    fn tasks(&self) -> Vec<TaskInfo> {
        let mut by_id: std::collections::HashMap<u64, (u64, TaskInfo)> = Default::default();
        for i in 0..self.h.layout.task_slots {
            let w: [u64; TASK_WORDS] = self.b.words(self.h.layout.tasks_at + i * TASK_WORDS * 8);
            if w[0] == 0 || w[0] != record_tag(i as u64, &w[1..]) {
                continue;
            }
            let words = [w[1], w[2], w[3], w[4], w[5]];
            let strings = task_strings(&words);
            let (seq, info) =
                task_from_words(words, self.string(strings.name), self.string(strings.file));
            match by_id.get(&info.id) {
                Some((s, _)) if *s > seq => {}
                _ => {
                    by_id.insert(info.id, (seq, info));
                }
            }
        }
        by_id.into_values().map(|(_, t)| t).collect()
    }

    /// The string at `off` in the string area: (length + 1) as u32, written last, then the
    /// bytes; `None` for [`NO_STRING`] or one that was being written.
    fn string(&self, off: u32) -> Option<String> {
        if off == NO_STRING {
            return None;
        }
        let (strings_at, strings_len) = (self.h.layout.strings_at, self.h.layout.strings_len);
        let at = strings_at.checked_add(off as usize)?;
        let n = (self.b.u32(at)? as usize).checked_sub(1)?;
        let end = (at + 4).checked_add(n)?;
        if end > strings_at + strings_len {
            return None;
        }
        Some(String::from_utf8_lossy(&self.b.0[at + 4..end]).into_owned())
    }
}

/// Reads a ring file's bytes. `writer_alive`: whether the writing process still holds
/// the file's lock (then this is a live snapshot).
pub fn read_ring(bytes: &[u8], writer_alive: bool) -> Result<Dump, ReadError> {
    let ring = RingReader {
        b: Bytes(bytes),
        h: read_header(bytes)?,
    };
    let (events, counts) = ring.events();
    let threads = ring.lanes(&events);
    let mut tasks = ring.tasks();
    let h = ring.h;
    let reason = if h.flags & FLAG_CLEAN_EXIT != 0 && !writer_alive {
        Reason::Exited { pid: h.pid }
    } else {
        Reason::Recovered {
            pid: h.pid,
            writer_alive,
        }
    };
    super::fill_missing_tasks(&mut tasks, &events, &reason);

    let last_ns = events.last().map_or(0, |e| e.ts_ns);
    let blocks = h.layout.blocks;
    let capacity = (blocks * BLOCK_EVENTS) as u64;
    // Every claim beyond the first lap overwrote a block of up to 64 events.
    let overwritten = h
        .claims
        .saturating_sub(blocks as u64)
        .saturating_mul(BLOCK_EVENTS as u64);
    Ok(Dump {
        header: Header {
            reason,
            dumped_at_unix_ns: h.start_unix.saturating_add(last_ns),
            dumped_at_ns: last_ns,
            anchor: ClockAnchor {
                mono_ns: 0,
                unix_ns: h.start_unix,
            },
            pid: h.pid,
            program: h.program,
            host: if h.host.is_empty() {
                "unknown host".into()
            } else {
                h.host
            },
            capacity,
            recorded_total: counts
                .kept
                .saturating_add(overwritten)
                .saturating_add(counts.torn),
            overwritten,
            torn_skipped: counts.torn,
            hooks_installed: h.flags & FLAG_HOOKS != 0,
            layer_installed: h.flags & FLAG_LAYER != 0,
            recorder_version: "ring file".into(),
        },
        threads,
        tasks,
        lane_states: Vec::new(),
        events,
        facts: Default::default(),
        damage: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    /// Writes a tagged record the way the recorder does (tag last), into a plain buffer.
    fn put_record(file: &mut [u8], at: usize, index: u64, words: &[u64]) {
        for (i, w) in words.iter().enumerate() {
            file[at + 8 * (i + 1)..at + 8 * (i + 2)].copy_from_slice(&w.to_ne_bytes());
        }
        file[at..at + 8].copy_from_slice(&record_tag(index, words).to_ne_bytes());
    }

    fn put_string(file: &mut [u8], layout: &RingLayout, off: usize, s: &str) -> u32 {
        let at = layout.strings_at + off;
        file[at + 4..at + 4 + s.len()].copy_from_slice(s.as_bytes());
        file[at..at + 4].copy_from_slice(&(s.len() as u32 + 1).to_ne_bytes());
        off as u32
    }

    /// What the writer packs, the reader unpacks: header, a lane, a task, an event.
    #[test]
    fn pack_then_read_round_trips() {
        let layout = RingLayout::for_capacity(1000);
        assert_eq!(layout.blocks, 16);
        let mut file = vec![0u8; layout.file_len];
        pack_header(
            &mut file,
            &layout,
            &RingIdentity {
                pid: 4242,
                start_unix_ns: 1_700_000_000_000_000_000,
                start_raw: 1000,
                ns_per_raw: 0.5,
                program: "svc",
                host: "prod-7",
            },
        );
        let worker_name = put_string(&mut file, &layout, 0, "tokio-rt-worker");
        let lane = ThreadInfo {
            lane: 3,
            os_tid: 777,
            name: "tokio-rt-worker".into(),
            worker: Some(1),
            kind: ThreadKind::Worker,
        };
        put_record(
            &mut file,
            layout.lanes_at + 3 * LANE_WORDS * 8,
            3,
            &pack_lane(&lane, worker_name),
        );
        let strings = TaskStrings {
            name: put_string(&mut file, &layout, 24, "fetcher"),
            file: put_string(&mut file, &layout, 40, "src/main.rs"),
        };
        let task_words = pack_task(9, Some(2), strings, 12, 5, 0, TaskKind::Task);
        put_record(&mut file, layout.tasks_at, 0, &task_words);
        // One event in block 0, claimed once by lane 3.
        let header = (1u64 << ring_codec::LANE_BITS) | 3;
        let at = BLOCKS_AT;
        file[at..at + 8].copy_from_slice(&header.to_ne_bytes());
        let (a, b) = (9, ring_codec::pack(ring_codec::Kind::PollStart, 0, 0));
        let (base, ts) = (2000u64, 3000u64);
        file[at + ring_codec::BLOCK_BASE_OFFSET..at + ring_codec::BLOCK_BASE_OFFSET + 8]
            .copy_from_slice(&base.to_ne_bytes());
        let slot = at + BLOCK_SLOTS_OFFSET;
        let word = ring_codec::slot_word(header, base, 0, ts, a, b).unwrap();
        for (i, w) in [word, a, b].iter().enumerate() {
            file[slot + 8 * i..slot + 8 * i + 8].copy_from_slice(&w.to_ne_bytes());
        }

        let d = read_ring(&file, false).unwrap();
        assert_eq!(d.header.pid, 4242);
        assert_eq!(d.header.program, "svc");
        assert_eq!(d.header.host, "prod-7");
        assert_eq!(d.header.capacity, 1024);
        assert_eq!(d.threads, vec![lane]);
        let task = d.tasks.iter().find(|t| t.id == 9).unwrap();
        assert_eq!(task.name, "fetcher");
        assert_eq!(task.spawned_by, Some(2));
        let loc = task.location.as_ref().unwrap();
        assert_eq!(
            (loc.file.as_str(), loc.line, loc.col),
            ("src/main.rs", 12, 5)
        );
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.events[0].kind, EventKind::PollStart { task: 9 });
        assert_eq!(d.events[0].lane, 3);
        assert_eq!(d.events[0].ts_ns, 1000, "(3000 - 1000) raw ticks at 0.5 ns");
        assert_eq!(d.header.torn_skipped, 0);
    }
}
