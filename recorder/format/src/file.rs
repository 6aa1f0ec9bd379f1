//! The on-disk envelope of a [`Dump`].
//!
//! ```text
//! offset  size  field
//!      0     8  magic  b"DIAL9DMP"
//!      8     4  format version, u32 little-endian
//!     12     4  reserved, zero
//!     16     8  metadata length in bytes, u64 little-endian
//!     24     4  CRC-32 of the metadata, u32 little-endian
//!     28     n  metadata: the Dump without its events, then the counts of event blocks
//!               and events, bincode 2 (standard config, serde); then the length of the
//!               event section in bytes, u64 little-endian (so a cut is told from damage)
//!   28+n   ...  the events, in independent blocks to the end of the file (`blocks`)
//! ```
//! The fixed envelope lets a reader tell "not a dump", "newer version", "truncated" and
//! "corrupt" apart before decoding anything, and the CRC catches bit rot that would
//! otherwise decode as plausible garbage. The metadata (names, lane states, the
//! recorder's facts) is small and must be whole; the events are most of the file and are
//! read block by block, so damage there costs only the damaged blocks.
//!
//! Before version 7 the body was the whole `Dump` in bincode, events included, and the
//! envelope covered the whole file.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::blocks;
use super::ring_file::RING_MAGIC;
use super::section::EventSection;
use super::types::{Dump, Event, Facts, Header, LaneState, TaskInfo, ThreadInfo};

/// The metadata as written: the dump's tables, borrowed.
#[derive(Serialize)]
struct MetaOut<'a> {
    header: &'a Header,
    threads: &'a [ThreadInfo],
    tasks: &'a [TaskInfo],
    lane_states: &'a [LaneState],
    facts: &'a Facts,
    blocks: u64,
    events: u64,
}

/// The metadata as read.
#[derive(Deserialize)]
struct Meta {
    header: Header,
    threads: Vec<ThreadInfo>,
    tasks: Vec<TaskInfo>,
    lane_states: Vec<LaneState>,
    facts: Facts,
    blocks: u64,
    events: u64,
}

/// The first 8 bytes of every dump file.
pub const MAGIC: [u8; 8] = *b"DIAL9DMP";
/// The format version this build writes and the newest it reads.
/// Version 2 added `Reason::Recovered`, version 3 `EventKind::Scheduled`, version 4
/// `Reason::Exited`, version 5 `Dump::facts` and `EventKind::CpuStat`, version 6
/// `EventKind::PollSample` and `PollStack` and the facts' architecture, panic backtrace
/// and stacks, version 7 the events in blocks after the metadata. Older dumps still read (variants were only ever appended; a dump before version 5 decodes without
/// its facts, one before 6 without the new facts), and `recorder/tests/fixtures/` keeps a
/// dump of every version to prove it.
pub const FORMAT_VERSION: u32 = 7;
/// The first version whose events are in blocks after the metadata.
const BLOCKS_VERSION: u32 = 7;
/// The oldest format version this build reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// Bytes of the fixed envelope (magic, version, lengths, CRC) before the metadata.
pub const ENVELOPE_LEN: usize = 28;

/// Why a dump could not be read. Each variant is a different thing for the user to do.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read (missing, no permission, ...).
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The bytes do not start with the dump magic.
    NotADump {
        /// What was found instead (an empty file, wrong magic bytes).
        detail: String,
    },
    /// Written by a newer dial9: upgrade the reader.
    NewerVersion {
        /// The file's format version.
        found: u32,
        /// The newest version this build reads ([`FORMAT_VERSION`], or
        /// [`RING_VERSION`](crate::RING_VERSION) for a ring file).
        supported: u32,
    },
    /// The file ends early (an interrupted copy, a full disk).
    Truncated {
        /// Bytes the reader needed, by the file's own header.
        expected: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// The bytes are damaged or inconsistent.
    Corrupt {
        /// What is wrong, in words for the user.
        detail: String,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            ReadError::NotADump { detail } => write!(f, "not a dial9 dump: {detail}"),
            ReadError::NewerVersion { found, supported } => write!(
                f,
                "dump format version {found} is newer than this build supports ({supported}); \
                 upgrade dial9-tui"
            ),
            ReadError::Truncated { expected, actual } => write!(
                f,
                "dump is truncated: expected {expected} bytes, found {actual}"
            ),
            ReadError::Corrupt { detail } => write!(f, "dump is corrupt: {detail}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

impl Dump {
    /// Encodes the dump into the file envelope. Encoding plain owned data into a `Vec` has
    /// no known failure mode in bincode 2, but a failure must never become an empty file
    /// reported as written: it is an error.
    pub fn to_bytes(&self) -> io::Result<Vec<u8>> {
        let blocks = blocks::block_count(self.events.len());
        let mut meta = bincode::serde::encode_to_vec(
            MetaOut {
                header: &self.header,
                threads: &self.threads,
                tasks: &self.tasks,
                lane_states: &self.lane_states,
                facts: &self.facts,
                blocks,
                events: self.events.len() as u64,
            },
            config(),
        )
        .map_err(|e| io::Error::other(format!("cannot encode the dump: {e}")))?;
        // Most events take 5-7 bytes: sized so that a typical dump never reallocates.
        let events = self.events.len() * 8 + blocks as usize * blocks::BLOCK_HEADER_LEN;
        let mut out = Vec::with_capacity(ENVELOPE_LEN + meta.len() + 8 + events);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&[0; 12]);
        // The section's length closes the metadata: written after the blocks are.
        let section_len_at = ENVELOPE_LEN + meta.len();
        meta.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&meta);
        blocks::write(&self.events, &mut out);
        let section_len = (out.len() - section_len_at - 8) as u64;
        out[section_len_at..section_len_at + 8].copy_from_slice(&section_len.to_le_bytes());
        let body = &out[ENVELOPE_LEN..section_len_at + 8];
        let (crc, body_len) = (crc32fast::hash(body), body.len() as u64);
        out[16..24].copy_from_slice(&body_len.to_le_bytes());
        out[24..28].copy_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Writes the encoded dump to `w`.
    pub fn write_to(&self, mut w: impl Write) -> io::Result<()> {
        w.write_all(&self.to_bytes()?)
    }

    /// Reads a dump file.
    pub fn read(path: impl AsRef<Path>) -> Result<Dump, ReadError> {
        let (bytes, alive) = read_file(path.as_ref())?;
        if bytes.starts_with(&RING_MAGIC) {
            return super::ring_file::read_ring(&bytes, alive);
        }
        Dump::from_bytes(&bytes)
    }

    /// Opens a dump to stream its events (the explorer's way): the dump without its
    /// events, and its event section to [`EventSection::scan`]. A format-7 dump's events
    /// stay in the file, read block by block during the scan and again on demand; an
    /// older dump or a ring file is read whole and its events are encoded as blocks in
    /// memory. The damage the scan finds is the caller's to put in `Dump::damage`.
    pub fn open(path: impl AsRef<Path>) -> Result<(Dump, EventSection), ReadError> {
        let path = path.as_ref();
        let io_err = |source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(io_err)?;
        let file_len = file.metadata().map_err(io_err)?.len();
        let mut head = vec![0; (ENVELOPE_LEN as u64).min(file_len) as usize];
        file.read_exact(&mut head).map_err(io_err)?;
        let version = head
            .get(8..12)
            .map_or(0, |v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]));
        if !head.starts_with(&MAGIC) || head.len() < ENVELOPE_LEN || version < BLOCKS_VERSION {
            // A ring file, an older format, or not a dump at all: the whole way (which
            // also gives the right error).
            return Dump::read(path).map(Dump::into_section);
        }
        let body_len = u64::from_le_bytes(head[16..24].try_into().unwrap_or_default());
        let present = body_len.min(file_len - ENVELOPE_LEN as u64) as usize;
        head.resize(ENVELOPE_LEN + present, 0);
        file.read_exact(&mut head[ENVELOPE_LEN..]).map_err(io_err)?;
        let (_, body, _) = check_envelope(&head)?;
        let (meta, len) = split_meta(body)?;
        let at = ENVELOPE_LEN as u64 + body_len;
        let (blocks, events) = (meta.blocks, meta.events);
        Ok((
            meta.into_dump(Vec::new(), None),
            EventSection::file(file, at, file_len - at, blocks, events, len),
        ))
    }

    /// [`Dump::open`] for a dump's bytes in memory.
    pub fn open_bytes(bytes: Vec<u8>) -> Result<(Dump, EventSection), ReadError> {
        match parse(&bytes)? {
            Parsed::Blocks { meta, section, len } => {
                let at = bytes.len() - section.len();
                let (blocks, events) = (meta.blocks, meta.events);
                Ok((
                    meta.into_dump(Vec::new(), None),
                    EventSection::memory(bytes, at, blocks, events, len),
                ))
            }
            Parsed::Whole(dump) => Ok(dump.into_section()),
        }
    }

    /// Moves the events out into an event section in memory.
    pub fn into_section(mut self) -> (Dump, EventSection) {
        let section = EventSection::from_events(&self.events);
        self.events = Vec::new();
        (self, section)
    }

    /// Decodes a dump (or a crash-surviving ring file) from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Dump, ReadError> {
        Ok(match parse(bytes)? {
            Parsed::Blocks { meta, section, len } => {
                let (events, damage) = blocks::read(section, meta.blocks, meta.events, len);
                meta.into_dump(events, damage)
            }
            Parsed::Whole(dump) => dump,
        })
    }
}

/// A dump's bytes with the envelope checked: a format-7 dump's metadata and its event
/// section still to decode, or an older dump (or a ring file) already read whole.
enum Parsed<'a> {
    Blocks {
        meta: Meta,
        section: &'a [u8],
        /// The section's length by the metadata.
        len: u64,
    },
    Whole(Dump),
}

fn parse(bytes: &[u8]) -> Result<Parsed<'_>, ReadError> {
    if bytes.starts_with(&RING_MAGIC) {
        return super::ring_file::read_ring(bytes, false).map(Parsed::Whole);
    }
    let (version, body, rest) = check_envelope(bytes)?;
    if version >= BLOCKS_VERSION {
        let (meta, len) = split_meta(body)?;
        return Ok(Parsed::Blocks {
            meta,
            section: rest,
            len,
        });
    }
    if !rest.is_empty() {
        return Err(ReadError::Corrupt {
            detail: format!("{} unexpected bytes after the end of the dump", rest.len()),
        });
    }
    let dump = match version {
        ..5 => decode_body::<legacy::DumpV4>(body).map(Dump::from),
        5 => decode_body::<legacy::DumpV5>(body).map(Dump::from),
        _ => decode_body(body),
    };
    dump.map(Parsed::Whole)
}

/// A file's bytes, and whether it is a ring file whose writer still holds its lock.
fn read_file(path: &Path) -> Result<(Vec<u8>, bool), ReadError> {
    let io_err = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_err)?;
    // The writer of a ring file holds an exclusive lock for as long as it lives.
    let alive = bytes.starts_with(&RING_MAGIC)
        && matches!(
            file.try_lock_shared(),
            Err(std::fs::TryLockError::WouldBlock)
        );
    Ok((bytes, alive))
}

/// The metadata of a format-7 body, and the event section's length that closes it.
fn split_meta(body: &[u8]) -> Result<(Meta, u64), ReadError> {
    let Some((meta, section_len)) = body.split_last_chunk::<8>() else {
        return Err(ReadError::Corrupt {
            detail: "the metadata is too short to hold the event section's length".into(),
        });
    };
    Ok((decode_body(meta)?, u64::from_le_bytes(*section_len)))
}

impl Meta {
    fn into_dump(self, events: Vec<Event>, damage: Option<blocks::Damage>) -> Dump {
        Dump {
            header: self.header,
            threads: self.threads,
            tasks: self.tasks,
            lane_states: self.lane_states,
            events,
            facts: self.facts,
            damage,
        }
    }
}

/// Validates the envelope and returns the format version, the body it covers and the
/// bytes after it.
fn check_envelope(bytes: &[u8]) -> Result<(u32, &[u8], &[u8]), ReadError> {
    if bytes.is_empty() {
        return Err(ReadError::NotADump {
            detail: "the file is empty".into(),
        });
    }
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes.len() < MAGIC.len() && bytes == &RING_MAGIC[..bytes.len()] {
        return Err(ReadError::Truncated {
            expected: MAGIC.len() as u64,
            actual: bytes.len() as u64,
        });
    }
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(ReadError::NotADump {
            detail: "wrong magic bytes".into(),
        });
    }
    if bytes.len() < ENVELOPE_LEN {
        return Err(ReadError::Truncated {
            expected: ENVELOPE_LEN as u64,
            actual: bytes.len() as u64,
        });
    }
    let u32_at =
        |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    let version = u32_at(8);
    if version > FORMAT_VERSION {
        return Err(ReadError::NewerVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(ReadError::Corrupt {
            detail: "format version 0 does not exist".into(),
        });
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&bytes[16..24]);
    let body_len = u64::from_le_bytes(len_bytes);
    let crc = u32_at(24);
    let available = (bytes.len() - ENVELOPE_LEN) as u64;
    if body_len > available {
        return Err(ReadError::Truncated {
            expected: (ENVELOPE_LEN as u64).saturating_add(body_len),
            actual: bytes.len() as u64,
        });
    }
    let (body, rest) = bytes[ENVELOPE_LEN..].split_at(body_len as usize);
    if crc32fast::hash(body) != crc {
        return Err(ReadError::Corrupt {
            detail: "checksum mismatch (the file was damaged after it was written)".into(),
        });
    }
    Ok((version, body, rest))
}

/// Decodes the body with an allocation limit derived from its size, so a hostile length
/// field can never make the reader allocate much more than the file itself.
fn decode_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ReadError> {
    // bincode counts every decoded value at its in-memory size (a 1-byte varint claims 8
    // bytes), and checks a string's or byte vector's claimed length against the limit
    // before allocating. No value expands more than 16x from its encoding, so a limit of
    // 16x the body (rounded up to a power of two, as it is a const generic) accepts every
    // honest dump and bounds any allocation a hostile length can cause to ~32x the file.
    let bits = body
        .len()
        .saturating_mul(16)
        .max(1 << 16)
        .next_power_of_two()
        .trailing_zeros();
    let mut reader = CountingReader {
        bytes: body,
        pos: 0,
    };
    macro_rules! with_limit {
        ($($b:literal)*) => {
            match bits {
                $( $b => bincode::serde::decode_from_reader::<T, _, _>(
                    &mut reader,
                    bincode::config::standard().with_limit::<{ 1usize << $b }>(),
                ), )*
                _ => bincode::serde::decode_from_reader::<T, _, _>(
                    &mut reader,
                    bincode::config::standard().with_limit::<{ 1usize << 40 }>(),
                ),
            }
        };
    }
    let decoded =
        with_limit!(16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39);
    let at = ENVELOPE_LEN + reader.pos;
    match decoded {
        Ok(dump) if reader.pos == body.len() => Ok(dump),
        Ok(_) => Err(ReadError::Corrupt {
            detail: format!(
                "{} bytes after the end of the dump's data at byte {at}",
                body.len() - reader.pos
            ),
        }),
        Err(e) => Err(ReadError::Corrupt {
            detail: format!("{} at byte {at}", in_words(&e)),
        }),
    }
}

/// A decode error as a sentence for the user, not Rust debug text.
fn in_words(e: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as E;
    match e {
        E::UnexpectedEnd { .. } => "the data ends in the middle of a value".into(),
        E::LimitExceeded => "a length field claims more data than the file holds".into(),
        E::UnexpectedVariant {
            type_name, found, ..
        } => format!("unknown {type_name} variant {found}"),
        E::Utf8 { .. } => "a string is not valid UTF-8".into(),
        E::InvalidBooleanValue(v) => format!("{v} is not a valid true/false value"),
        E::InvalidCharEncoding(_) => "a character is not valid UTF-8".into(),
        E::OutsideUsizeRange(n) => format!("a length of {n} is too large"),
        E::InvalidIntegerType { .. } => "an integer has the wrong width".into(),
        E::Other(s) => format!("an invalid value ({s})"),
        E::OtherString(s) => format!("an invalid value ({s})"),
        E::Io { inner, .. } => format!("read error ({inner})"),
        other => format!("an undecodable value ({other})"),
    }
}

/// A slice reader that remembers how far decoding got, to say where a file is damaged.
struct CountingReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl bincode::de::read::Reader for CountingReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> Result<(), bincode::error::DecodeError> {
        let rest = &self.bytes[self.pos..];
        if out.len() > rest.len() {
            self.pos = self.bytes.len();
            return Err(bincode::error::DecodeError::UnexpectedEnd {
                additional: out.len() - rest.len(),
            });
        }
        out.copy_from_slice(&rest[..out.len()]);
        self.pos += out.len();
        Ok(())
    }

    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.bytes.get(self.pos..self.pos.checked_add(n)?)
    }

    fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.bytes.len());
    }
}

/// Dumps before format version 6: before 5 no `facts`, and waker ops without counts; in
/// 5 the facts without the architecture and the panic backtrace.
mod legacy {
    use serde::Deserialize;

    use crate::types::{
        Dump, Event, EventKind, Facts, Header, LaneState, TaskInfo, TaskWakers, ThreadInfo,
        WakeSource, WakerOp,
    };

    #[derive(Deserialize)]
    pub(super) struct DumpV5 {
        header: Header,
        threads: Vec<ThreadInfo>,
        tasks: Vec<TaskInfo>,
        lane_states: Vec<LaneState>,
        events: Vec<Event>,
        facts: FactsV5,
    }

    #[derive(Deserialize)]
    pub(super) struct FactsV5 {
        live_wakers: Vec<TaskWakers>,
        unhooked: Vec<u64>,
    }

    impl From<DumpV5> for Dump {
        fn from(d: DumpV5) -> Dump {
            Dump {
                header: d.header,
                threads: d.threads,
                tasks: d.tasks,
                lane_states: d.lane_states,
                events: d.events,
                facts: Facts {
                    live_wakers: d.facts.live_wakers,
                    unhooked: d.facts.unhooked,
                    ..Facts::default()
                },
                damage: None,
            }
        }
    }

    #[derive(Deserialize)]
    pub(super) struct DumpV4 {
        header: Header,
        threads: Vec<ThreadInfo>,
        tasks: Vec<TaskInfo>,
        lane_states: Vec<LaneState>,
        events: Vec<EventV4>,
    }

    #[derive(Deserialize)]
    pub(super) struct EventV4 {
        ts_ns: u64,
        lane: u32,
        kind: EventKindV4,
    }

    #[derive(Deserialize)]
    pub(super) enum EventKindV4 {
        Spawn {
            task: u64,
            parent: Option<u64>,
        },
        PollStart {
            task: u64,
        },
        PollEnd {
            task: u64,
            completed: bool,
        },
        Wake {
            task: u64,
            by_ref: bool,
            source: WakeSource,
        },
        WakerClone {
            task: u64,
        },
        WakerDrop {
            task: u64,
        },
        OrphanWaker {
            op: WakerOp,
            span: u64,
        },
        Terminate {
            task: u64,
        },
        Park,
        Unpark {
            io_ready_total: Option<u64>,
        },
        ThreadStart,
        ThreadStop,
        TimerArm {
            task: Option<u64>,
            duration_ms: u64,
        },
        Scheduled {
            task: u64,
            latency_ns: u64,
        },
    }

    impl From<EventKindV4> for EventKind {
        fn from(k: EventKindV4) -> EventKind {
            use EventKindV4 as V;
            match k {
                V::Spawn { task, parent } => EventKind::Spawn { task, parent },
                V::PollStart { task } => EventKind::PollStart { task },
                V::PollEnd { task, completed } => EventKind::PollEnd {
                    task,
                    completed,
                    duration_ns: None,
                },
                V::Wake {
                    task,
                    by_ref,
                    source,
                } => EventKind::Wake {
                    task,
                    by_ref,
                    source,
                },
                V::WakerClone { task } => EventKind::WakerClone { task, live: None },
                V::WakerDrop { task } => EventKind::WakerDrop { task, live: None },
                V::OrphanWaker { op, span } => EventKind::OrphanWaker { op, span },
                V::Terminate { task } => EventKind::Terminate { task },
                V::Park => EventKind::Park,
                V::Unpark { io_ready_total } => EventKind::Unpark { io_ready_total },
                V::ThreadStart => EventKind::ThreadStart,
                V::ThreadStop => EventKind::ThreadStop,
                V::TimerArm { task, duration_ms } => EventKind::TimerArm { task, duration_ms },
                V::Scheduled { task, latency_ns } => EventKind::Scheduled { task, latency_ns },
            }
        }
    }

    impl From<DumpV4> for Dump {
        fn from(d: DumpV4) -> Dump {
            Dump {
                header: d.header,
                threads: d.threads,
                tasks: d.tasks,
                lane_states: d.lane_states,
                events: d
                    .events
                    .into_iter()
                    .map(|e| Event {
                        ts_ns: e.ts_ns,
                        lane: e.lane,
                        kind: e.kind.into(),
                    })
                    .collect(),
                facts: Facts::default(),
                damage: None,
            }
        }
    }
}
