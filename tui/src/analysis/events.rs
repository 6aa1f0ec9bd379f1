//! The dump's events, read on demand: the index keeps the directory of the event
//! section's blocks, not the events. An event is found by its block (a binary search in
//! the directory), and the block is decoded again, from the dump file, the first time
//! one of its events is wanted; the last few decoded blocks are kept. A frame of the
//! explorer shows a few dozen events, so a 30M-event dump costs the memory of a handful of
//! blocks rather than 29 bytes an event.
//!
//! Questions that walk many events (a pass for the export, a task's history) go through
//! [`EventStore::cursor`], which decodes each block once, in order, without the cache.

use std::sync::{Arc, Mutex};

use dial9_format::{BlockEntry, Event, EventBlocks, EventColumns, EventKind, Kinds};

use super::index::EventIdx;
use super::par;

/// Decoded blocks kept for random access: a screen's events and the neighbours a key
/// moves to, with room to spare (a block decoded is ~1 MB).
const CACHED_BLOCKS: usize = 8;

/// The event a block that no longer reads stands in with (the dump file was truncated or
/// rewritten in place after the explorer opened it): a stop of no lane at the block's
/// first time, and [`EventStore::unreadable`] says so.
const UNREADABLE_LANE: u32 = u32::MAX;

pub struct EventStore {
    blocks: EventBlocks,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    tick: u64,
    /// (block, last use, its events).
    blocks: Vec<(usize, u64, Arc<EventColumns>)>,
    /// A block could not be read again.
    unreadable: bool,
}

impl EventStore {
    pub fn new(blocks: EventBlocks) -> EventStore {
        EventStore {
            blocks,
            cache: Mutex::new(Cache::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.blocks.events() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The blocks, in order (each with its first event and time range).
    pub fn blocks(&self) -> &[BlockEntry] {
        self.blocks.entries()
    }

    /// Whether a block could not be read again (the file changed on disk since the
    /// explorer opened it): those events show as stand-ins.
    pub fn unreadable(&self) -> bool {
        self.lock().unreadable
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Block `b`'s events, decoded now or earlier.
    pub fn block(&self, b: usize) -> Arc<EventColumns> {
        {
            let mut cache = self.lock();
            cache.tick += 1;
            let tick = cache.tick;
            if let Some(entry) = cache.blocks.iter_mut().find(|(x, _, _)| *x == b) {
                entry.1 = tick;
                return entry.2.clone();
            }
        }
        // Decoded without the lock held: another thread's lookups need not wait for it.
        let mut cols = EventColumns::default();
        self.decode(b, &mut cols);
        let cols = Arc::new(cols);
        let mut cache = self.lock();
        let tick = cache.tick;
        // Another thread may have decoded it meanwhile: one copy in the cache.
        if let Some(entry) = cache.blocks.iter().find(|(x, _, _)| *x == b) {
            return entry.2.clone();
        }
        if cache.blocks.len() >= CACHED_BLOCKS
            && let Some(oldest) = (0..cache.blocks.len()).min_by_key(|&i| cache.blocks[i].1)
        {
            cache.blocks.swap_remove(oldest);
        }
        cache.blocks.push((b, tick, cols.clone()));
        cols
    }

    /// Block `b` decoded into `cols`, or stand-ins for its events if it no longer reads
    /// (and the store says so from then on).
    fn decode(&self, b: usize, cols: &mut EventColumns) {
        if self.blocks.decode(b, cols).is_err() {
            self.lock().unreadable = true;
            *cols = self.stand_in(b);
        }
    }

    /// Stand-ins for the events of a block that no longer reads, so every index into it
    /// still answers.
    fn stand_in(&self, b: usize) -> EventColumns {
        let e = &self.blocks.entries()[b];
        let stop = Event {
            ts_ns: e.first_ts,
            lane: UNREADABLE_LANE,
            kind: EventKind::ThreadStop,
        };
        EventColumns::from_events(&vec![stop; e.count as usize])
    }

    /// The block holding event `i`.
    pub fn block_of(&self, i: usize) -> Option<usize> {
        self.blocks.block_of(i as u64)
    }

    /// The block holding event `i` and `i`'s position in it.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        let b = self.blocks.block_of(i as u64)?;
        Some((b, i - self.blocks.entries()[b].first_event as usize))
    }

    /// The event at `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<Event> {
        let (b, at) = self.locate(i)?;
        Some(self.block(b).at(at))
    }

    /// The event at `i` (which must be in range, like a slice index).
    pub fn at(&self, i: usize) -> Event {
        match self.get(i) {
            Some(e) => e,
            None => panic!("event {i} of {}", self.len()),
        }
    }

    pub fn ts(&self, i: usize) -> u64 {
        self.at(i).ts_ns
    }

    pub fn lane(&self, i: usize) -> u32 {
        self.at(i).lane
    }

    pub fn kind(&self, i: usize) -> EventKind {
        self.at(i).kind
    }

    pub fn first(&self) -> Option<Event> {
        self.get(0)
    }

    pub fn last(&self) -> Option<Event> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// The first event at or after `ns`, or the last event (O(log n): the blocks' time
    /// ranges, then one block).
    pub fn first_at(&self, ns: u64) -> EventIdx {
        let entries = self.blocks();
        if entries.is_empty() {
            return 0;
        }
        let b = entries.partition_point(|e| e.last_ts < ns);
        if b == entries.len() {
            return (self.len() - 1) as EventIdx;
        }
        let cols = self.block(b);
        let at = cols.times().partition_point(|&t| t < ns);
        (entries[b].first_event as usize + at).min(self.len() - 1) as EventIdx
    }

    /// Events from `from` on, in order, each block read once (through the cache).
    pub fn cursor(&self, from: usize) -> Cursor<'_> {
        Cursor {
            store: self,
            next: from,
            block: None,
        }
    }

    /// Every event, in order.
    pub fn iter(&self) -> Cursor<'_> {
        self.cursor(0)
    }

    /// Runs `f` on what `pick` makes of the events of `kinds`, in order (it is given each
    /// event with its index): decoded, picked out and made on another thread a few blocks
    /// ahead of `f`, so a pass over all the events (the export's) costs the caller's
    /// thread only what it does with those it uses. On this thread if no other can be had.
    pub fn read_ahead<T: Copy + Send, R>(
        &self,
        kinds: &Kinds,
        mut pick: impl FnMut(usize, Event) -> Option<T> + Send,
        f: impl FnOnce(&mut dyn Iterator<Item = T>) -> R,
    ) -> R {
        let blocks = self.blocks().len();
        let (mut cols, mut b) = (EventColumns::default(), 0);
        // A block's picks into each batch.
        let decode = move |kept: &mut Vec<T>| {
            if b >= blocks {
                return false;
            }
            self.decode(b, &mut cols);
            let first = self.blocks.entries()[b].first_event as usize;
            kept.clear();
            kept.extend((cols.positions_of(kinds)).filter_map(|i| pick(first + i, cols.at(i))));
            b += 1;
            true
        };
        std::thread::scope(|s| {
            let mut ahead = Ahead {
                blocks: par::Ahead::start(s, "dial9-read", 3, decode),
                block: Vec::new(),
                at: 0,
            };
            f(&mut ahead)
        })
    }
}

/// What a pass made of a block's events a few blocks ahead (see
/// [`EventStore::read_ahead`]).
struct Ahead<T, F> {
    blocks: par::Ahead<Vec<T>, F>,
    block: Vec<T>,
    at: usize,
}

impl<T: Copy + Send, F: FnMut(&mut Vec<T>) -> bool + Send> Iterator for Ahead<T, F> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        while self.at >= self.block.len() {
            let used = std::mem::take(&mut self.block);
            self.block = self.blocks.next(used)?;
            self.at = 0;
        }
        self.at += 1;
        Some(self.block[self.at - 1])
    }
}

/// A pass over the events in order (see [`EventStore::cursor`]).
pub struct Cursor<'a> {
    store: &'a EventStore,
    next: usize,
    /// The block being read: its first event and its events (through the store's cache,
    /// so a look a few events ahead costs no decode of a block already read).
    block: Option<(usize, Arc<EventColumns>)>,
}

impl Cursor<'_> {
    /// Moves on to event `i` (at or after where the cursor is; an earlier `i` is ignored).
    pub fn skip_to(&mut self, i: usize) {
        self.next = self.next.max(i);
    }
}

impl Iterator for Cursor<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let i = self.next;
        let inside = self
            .block
            .as_ref()
            .is_some_and(|(first, cols)| i >= *first && i < first + cols.len());
        if !inside {
            let (b, _) = self.store.locate(i)?;
            let first = self.store.blocks()[b].first_event as usize;
            self.block = Some((first, self.store.block(b)));
        }
        let (first, cols) = self.block.as_ref()?;
        self.next += 1;
        Some(cols.at(i - first))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.store.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Cursor<'_> {}
