//! A dump's event section as the explorer reads it: streamed once, block by block, then
//! read again one block at a time when a block is wanted ([`EventBlocks`]).
//!
//! The stream checks and decodes each block on a second thread while the caller indexes
//! the block before, so indexing a dump costs about the slower of the two, not their sum.
//! Nothing of the size of the section is held: a block's bytes are read, decoded into a
//! reused [`EventColumns`] of one block, handed over and dropped, and the file is read
//! again for a block the explorer later shows. Only a damaged section takes the careful
//! way ([`crate::blocks::walk_careful`]), which resynchronises over the rest of the
//! section in memory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::sync::mpsc;

use crate::blocks::{self, BLOCK_HEADER_LEN, BLOCK_MAGIC, Damage, Tally};
use crate::columns::EventColumns;
use crate::types::Event;

/// Where one readable block of the event section is, and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockEntry {
    /// Offset of the block's header in the event section.
    pub offset: u64,
    /// Bytes of the block, header included.
    pub len: u32,
    /// Events in the block (at least one).
    pub count: u32,
    /// Position of its first event among the events read (lost blocks take none).
    pub first_event: u64,
    /// Time of its first event (ns, as [`Event::ts_ns`]).
    pub first_ts: u64,
    /// Time of its last event.
    pub last_ts: u64,
}

/// The bytes of an event section: in the dump file (read again on demand) or in memory
/// (a dump read from bytes, or the events of an older format encoded as blocks).
enum Source {
    File {
        file: Mutex<File>,
        /// Where the section starts in the file, and how many of its bytes the file holds.
        at: u64,
        available: u64,
    },
    Memory {
        bytes: Vec<u8>,
        at: usize,
    },
}

impl Source {
    fn available(&self) -> u64 {
        match self {
            Source::File { available, .. } => *available,
            Source::Memory { bytes, at } => (bytes.len() - at) as u64,
        }
    }

    /// The section's bytes `offset..offset + len` (fewer where the section ends), read into
    /// `buf` for a file, borrowed for memory.
    fn bytes<'a>(&'a self, offset: u64, len: usize, buf: &'a mut Vec<u8>) -> io::Result<&'a [u8]> {
        let len = (len as u64).min(self.available().saturating_sub(offset)) as usize;
        match self {
            Source::File { file, at, .. } => {
                buf.clear();
                buf.resize(len, 0);
                let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
                f.seek(SeekFrom::Start(at + offset))?;
                f.read_exact(buf)?;
                Ok(&buf[..])
            }
            Source::Memory { bytes, at } => {
                let from = at.saturating_add(offset as usize).min(bytes.len());
                Ok(&bytes[from..from + len])
            }
        }
    }
}

/// A dump's event section, not yet read: see [`EventSection::scan`].
pub struct EventSection {
    source: Source,
    /// The metadata's counts and the section's length.
    blocks: u64,
    events: u64,
    len: u64,
}

impl EventSection {
    pub(crate) fn file(
        file: File,
        at: u64,
        available: u64,
        blocks: u64,
        events: u64,
        len: u64,
    ) -> Self {
        EventSection {
            source: Source::File {
                file: Mutex::new(file),
                at,
                available,
            },
            blocks,
            events,
            len,
        }
    }

    pub(crate) fn memory(bytes: Vec<u8>, at: usize, blocks: u64, events: u64, len: u64) -> Self {
        EventSection {
            source: Source::Memory { bytes, at },
            blocks,
            events,
            len,
        }
    }

    /// The events of a dump of an older format (or a ring file, or one made in memory),
    /// encoded as blocks in memory so that they are read the way a format-7 file is.
    pub fn from_events(events: &[Event]) -> EventSection {
        let mut bytes = Vec::with_capacity(events.len() * 8);
        blocks::write(events, &mut bytes);
        let len = bytes.len() as u64;
        EventSection::memory(
            bytes,
            0,
            blocks::block_count(events.len()),
            events.len() as u64,
            len,
        )
    }

    /// The events the dump's metadata says the section holds.
    pub fn events_claimed(&self) -> u64 {
        self.events
    }

    /// Reads every block in order, handing each block's events to `f` (on this thread)
    /// while the next block is read and decoded on another. `f` may stop the pass. Returns
    /// the blocks' directory, to read them again, and what could not be read.
    pub fn scan<B>(
        self,
        mut f: impl FnMut(&EventColumns, &BlockEntry) -> ControlFlow<B>,
    ) -> Result<(EventBlocks, Option<Damage>), B> {
        self.scan_staged(|_, _, _: Option<()>| (), |cols, entry, ()| f(cols, entry))
    }

    /// [`EventSection::scan`] in two stages: `prepare` runs on the reading thread, after
    /// each block is decoded, and what it makes goes with the block to `f` on this thread
    /// (then back to `prepare`, to reuse its memory). Work that needs only the block and
    /// state of its own moves off the caller's thread this way.
    pub fn scan_staged<P: Send, B>(
        self,
        mut prepare: impl FnMut(&EventColumns, &BlockEntry, Option<P>) -> P + Send,
        mut f: impl FnMut(&EventColumns, &BlockEntry, &mut P) -> ControlFlow<B>,
    ) -> Result<(EventBlocks, Option<Damage>), B> {
        let mut entries = Vec::with_capacity(self.blocks.min(1 << 20) as usize);
        let mut producer = Producer::new(&self.source);
        let outcome = std::thread::scope(|s| {
            let (tx, rx) = mpsc::sync_channel::<(EventColumns, BlockEntry, P)>(2);
            let (free_tx, free_rx) = mpsc::channel::<(EventColumns, P)>();
            let prepare = &mut prepare;
            let reader = std::thread::Builder::new()
                .name("dial9-read".into())
                .spawn_scoped(s, {
                    let producer = &mut producer;
                    move || {
                        loop {
                            let (cols, reused) = match free_rx.try_recv() {
                                Ok((cols, p)) => (cols, Some(p)),
                                Err(_) => (EventColumns::default(), None),
                            };
                            let Some((cols, entry)) = producer.next(cols) else {
                                break;
                            };
                            let made = prepare(&cols, &entry, reused);
                            if tx.send((cols, entry, made)).is_err() {
                                break;
                            }
                        }
                    }
                });
            match reader {
                Ok(handle) => {
                    for (cols, entry, mut made) in rx.iter() {
                        entries.push(entry);
                        if let ControlFlow::Break(b) = f(&cols, &entry, &mut made) {
                            drop(rx);
                            let _ = handle.join();
                            return ControlFlow::Break(b);
                        }
                        let _ = free_tx.send((cols, made));
                    }
                    let _ = handle.join();
                    ControlFlow::Continue(())
                }
                Err(_) => ControlFlow::Continue(()),
            }
        });
        if let ControlFlow::Break(b) = outcome {
            return Err(b);
        }
        // No second thread to be had: the same pass on this one.
        if !producer.started {
            let (mut cols, mut reused) = (EventColumns::default(), None);
            while let Some((c, entry)) = producer.next(cols) {
                entries.push(entry);
                let mut made = prepare(&c, &entry, reused);
                if let ControlFlow::Break(b) = f(&c, &entry, &mut made) {
                    return Err(b);
                }
                (cols, reused) = (c, Some(made));
            }
        }
        let damage = producer.finish(self.blocks, self.events, self.len);
        Ok((
            EventBlocks {
                events: entries
                    .last()
                    .map_or(0, |e| e.first_event + u64::from(e.count)),
                entries,
                source: self.source,
            },
            damage,
        ))
    }
}

/// Reads blocks in order: straight through while they read, then, from the first that
/// does not, the careful way over the rest of the section in memory.
struct Producer<'a> {
    source: &'a Source,
    started: bool,
    buf: Vec<u8>,
    tally: Tally,
    next_event: u64,
    mode: Mode,
}

enum Mode {
    Fast {
        at: u64,
    },
    /// The rest of the section from `base`, and the blocks in it that read (offsets in
    /// the section), delivered in order.
    Careful {
        rest: Vec<u8>,
        base: u64,
        good: std::collections::VecDeque<u64>,
    },
    Done,
}

impl<'a> Producer<'a> {
    fn new(source: &'a Source) -> Self {
        Producer {
            source,
            started: false,
            buf: Vec::new(),
            tally: Tally::default(),
            next_event: 0,
            mode: Mode::Fast { at: 0 },
        }
    }

    /// The next block that reads, decoded into `cols` (reused).
    fn next(&mut self, mut cols: EventColumns) -> Option<(EventColumns, BlockEntry)> {
        self.started = true;
        loop {
            match &mut self.mode {
                Mode::Fast { at } => {
                    let at = *at;
                    if at >= self.source.available() {
                        self.mode = Mode::Done;
                        continue;
                    }
                    match read_block(self.source, at, &mut self.buf, &mut cols) {
                        Some(len) => {
                            self.mode = Mode::Fast { at: at + len };
                            let entry = self.entry(at, len, &cols);
                            return Some((cols, entry));
                        }
                        None => self.careful(at),
                    }
                }
                Mode::Careful { rest, base, good } => {
                    let Some(offset) = good.pop_front() else {
                        self.mode = Mode::Done;
                        continue;
                    };
                    let from = (offset - *base) as usize;
                    let b = blocks::block_at(rest, from)?;
                    let len = (b.next - from) as u64;
                    cols.clear();
                    // It decoded when the careful walk tried it.
                    crate::columns::decode_block(&b, &mut cols).ok()?;
                    let entry = self.entry(offset, len, &cols);
                    return Some((cols, entry));
                }
                Mode::Done => return None,
            }
        }
    }

    fn entry(&mut self, offset: u64, len: u64, cols: &EventColumns) -> BlockEntry {
        let count = cols.len() as u32;
        let entry = BlockEntry {
            offset,
            len: len as u32,
            count,
            first_event: self.next_event,
            first_ts: cols.ts(0),
            last_ts: cols.ts(cols.len() - 1),
        };
        self.next_event += u64::from(count);
        if matches!(self.mode, Mode::Fast { .. }) {
            self.tally.good(cols.len(), entry.first_ts, entry.last_ts);
        }
        entry
    }

    /// The block at `at` does not read: the rest of the section, the careful way. The
    /// walk decides which blocks read (and tallies what is lost); they are decoded again
    /// as they are delivered.
    fn careful(&mut self, at: u64) {
        let available = self.source.available();
        let mut rest = Vec::new();
        let copied = match self.source.bytes(at, (available - at) as usize, &mut rest) {
            // A file's bytes were read into `rest`; memory's are lent, and copied here.
            Ok(bytes) => match self.source {
                Source::Memory { .. } => Some(bytes.to_vec()),
                Source::File { .. } => None,
            },
            Err(_) => Some(Vec::new()),
        };
        let rest = copied.unwrap_or(rest);
        let mut good = std::collections::VecDeque::new();
        let mut scratch = EventColumns::default();
        if rest.is_empty() {
            self.tally.lost(at);
        }
        blocks::walk_careful(&rest, at, &mut self.tally, &mut |offset, b| {
            scratch.clear();
            crate::columns::decode_block(b, &mut scratch).ok()?;
            good.push_back(offset);
            Some((scratch.ts(0), scratch.ts(scratch.len() - 1)))
        });
        self.mode = Mode::Careful {
            rest,
            base: at,
            good,
        };
    }

    fn finish(self, blocks: u64, events: u64, len: u64) -> Option<Damage> {
        self.tally
            .finish(blocks, events, len, self.source.available())
    }
}

/// Reads, checks and decodes the block at section offset `at` into `cols`; its length in
/// bytes, or `None` if it does not read (the header is not a block's, the section ends
/// within it, its CRC fails or it does not decode).
fn read_block(source: &Source, at: u64, buf: &mut Vec<u8>, cols: &mut EventColumns) -> Option<u64> {
    let header = source.bytes(at, BLOCK_HEADER_LEN, buf).ok()?;
    if header.len() < BLOCK_HEADER_LEN || header[..4] != BLOCK_MAGIC {
        return None;
    }
    let u32_at = |o: usize| {
        u32::from_le_bytes([header[o], header[o + 1], header[o + 2], header[o + 3]]) as usize
    };
    let payload = u32_at(4);
    // Checked before reading the payload: a forged length must not make this read (and
    // hold) the rest of the file.
    if !blocks::plausible(payload, u32_at(8)) {
        return None;
    }
    let bytes = source.bytes(at, BLOCK_HEADER_LEN + payload, buf).ok()?;
    let b = blocks::block_at(bytes, 0)?;
    cols.clear();
    crate::columns::decode_block(&b, cols).ok()?;
    Some(b.next as u64)
}

/// The blocks of an event section that read, to read again one at a time (the explorer
/// keeps a few decoded and reads the rest from the file when it needs them).
pub struct EventBlocks {
    source: Source,
    entries: Vec<BlockEntry>,
    events: u64,
}

impl EventBlocks {
    /// Events in the blocks that read.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The blocks, in order.
    pub fn entries(&self) -> &[BlockEntry] {
        &self.entries
    }

    /// The block holding event `event` (a position among the events read).
    pub fn block_of(&self, event: u64) -> Option<usize> {
        if event >= self.events {
            return None;
        }
        Some(
            self.entries
                .partition_point(|e| e.first_event <= event)
                .saturating_sub(1),
        )
    }

    /// Reads block `b` again into `cols`. Fails only if the file changed since the pass
    /// (it was truncated or rewritten in place).
    pub fn decode(&self, b: usize, cols: &mut EventColumns) -> io::Result<()> {
        let e = self
            .entries
            .get(b)
            .ok_or_else(|| io::Error::other("no such block"))?;
        let mut buf = Vec::new();
        let bytes = self.source.bytes(e.offset, e.len as usize, &mut buf)?;
        let block = blocks::block_at(bytes, 0).ok_or_else(|| {
            io::Error::other("the dump file changed since it was opened: a block no longer reads")
        })?;
        cols.clear();
        crate::columns::decode_block(&block, cols)
            .map_err(|_| io::Error::other("a block no longer decodes"))?;
        if cols.len() as u32 != e.count {
            return Err(io::Error::other("a block no longer holds its events"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::BLOCK_EVENTS;
    use crate::blocks::tests::every_kind;

    fn events(n: usize) -> Vec<Event> {
        let kinds = every_kind();
        (0..n)
            .map(|i| Event {
                ts_ns: i as u64 * 3,
                ..kinds[(i * 7) % kinds.len()]
            })
            .collect()
    }

    fn section(bytes: &[u8], blocks: u64, events: u64, len: u64) -> EventSection {
        EventSection::memory(bytes.to_vec(), 0, blocks, events, len)
    }

    /// Every event of every block that reads, in order, and the damage.
    fn stream(s: EventSection) -> (Vec<Event>, EventBlocks, Option<Damage>) {
        let mut out = Vec::new();
        let (blocks, damage) = s
            .scan(|cols, entry| {
                assert_eq!(entry.first_event, out.len() as u64);
                assert_eq!(entry.count as usize, cols.len());
                out.extend(cols.iter());
                ControlFlow::<()>::Continue(())
            })
            .unwrap();
        (out, blocks, damage)
    }

    #[test]
    fn a_whole_section_streams_as_the_careful_read_gives_it_and_reads_again_block_by_block() {
        let evs = events(2 * BLOCK_EVENTS + 700);
        let s = EventSection::from_events(&evs);
        let (out, blocks, damage) = stream(s);
        assert_eq!((out.len(), damage), (evs.len(), None));
        assert_eq!(out, evs);
        assert_eq!(blocks.entries().len(), 3);
        assert_eq!(blocks.events(), evs.len() as u64);
        let mut cols = EventColumns::default();
        for (b, e) in blocks.entries().iter().enumerate() {
            blocks.decode(b, &mut cols).unwrap();
            let from = e.first_event as usize;
            assert_eq!(cols.to_events(), evs[from..from + e.count as usize]);
            assert_eq!(
                (e.first_ts, e.last_ts),
                (cols.ts(0), cols.ts(cols.len() - 1))
            );
            assert_eq!(blocks.block_of(e.first_event), Some(b));
            assert_eq!(
                blocks.block_of(e.first_event + u64::from(e.count) - 1),
                Some(b)
            );
        }
        assert_eq!(blocks.block_of(evs.len() as u64), None);
        assert!(blocks.decode(3, &mut cols).is_err());
    }

    /// Damage anywhere (a flip, a cut, bytes after the end, miscounts) streams the same
    /// events and the same [`Damage`] as the careful read of the whole section.
    #[test]
    fn damaged_sections_stream_what_the_careful_read_gives() {
        let evs = events(3 * 1000);
        let mut bytes = Vec::new();
        for chunk in evs.chunks(1000) {
            blocks::write(chunk, &mut bytes);
        }
        let (n, len) = (evs.len() as u64, bytes.len() as u64);
        let mut cases: Vec<(Vec<u8>, u64, u64)> = vec![
            (bytes.clone(), 3, n),
            (bytes.clone(), 4, n),
            (bytes.clone(), 3, n + 1),
            (bytes[..bytes.len() - 5].to_vec(), 3, n),
            (bytes[..bytes.len() / 3].to_vec(), 3, n),
            ([bytes.clone(), b"D9EB junk".to_vec()].concat(), 3, n),
            (Vec::new(), 3, n),
        ];
        for at in [0, 20, bytes.len() / 2, bytes.len() - 3] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            cases.push((bad, 3, n));
        }
        for (i, (case, blocks_claimed, events_claimed)) in cases.into_iter().enumerate() {
            let careful = blocks::read(&case, blocks_claimed, events_claimed, len);
            let (out, blocks, damage) = stream(section(&case, blocks_claimed, events_claimed, len));
            assert_eq!((out, damage), careful, "case {i}");
            let mut cols = EventColumns::default();
            for b in 0..blocks.entries().len() {
                blocks.decode(b, &mut cols).unwrap();
            }
        }
    }

    #[test]
    fn the_caller_can_stop_the_pass() {
        let evs = events(3 * BLOCK_EVENTS);
        let mut seen = 0;
        let r = EventSection::from_events(&evs).scan(|_, _| {
            seen += 1;
            ControlFlow::Break("stop")
        });
        assert_eq!((r.err(), seen), (Some("stop"), 1));
    }

    /// A section in a file reads as one in memory, and a block is read again from the file.
    #[test]
    fn a_section_in_a_file_streams_and_reads_again() {
        use std::io::Write;
        let evs = events(BLOCK_EVENTS + 10);
        let mut bytes = b"prefix".to_vec();
        blocks::write(&evs, &mut bytes);
        let mut f = tempfile_in_target();
        f.write_all(&bytes).unwrap();
        let len = (bytes.len() - 6) as u64;
        let s = EventSection::file(f, 6, len, 2, evs.len() as u64, len);
        let (out, blocks, damage) = stream(s);
        assert_eq!((out, damage), (evs.clone(), None));
        let mut cols = EventColumns::default();
        blocks.decode(1, &mut cols).unwrap();
        assert_eq!(cols.to_events(), evs[BLOCK_EVENTS..]);
    }

    fn tempfile_in_target() -> File {
        let path = std::env::temp_dir().join(format!(
            "dial9-section-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let _ = std::fs::remove_file(&path);
        f
    }
}
