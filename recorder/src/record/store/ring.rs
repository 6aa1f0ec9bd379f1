//! The fixed-size event ring.
//!
//! Why blocks: a single ring with a shared write index costs an atomic read-modify-write
//! on one contended cache line per event, which on two busy workers costs more than the
//! whole rest of an event. Here the ring is cut into blocks of [`BLOCK_EVENTS`] slots; a
//! thread claims a whole block (one `fetch_add` per 64 events), then fills it alone with
//! plain stores. Blocks are claimed round-robin, so the block reused next is always the one
//! claimed longest ago: the oldest events are overwritten first, at block granularity.
//!
//! Why tags: a dump reads slots while other threads keep writing. Each slot is a small
//! seqlock whose sequence word is a hash of the block's claim header, the slot's position
//! and the payload. A reader accepts a slot only when the tag is the same before and after
//! reading the payload and matches the hash of what it read under the block's current
//! header. That rejects slots being written, slots left over from an earlier claim of the
//! block, and the rare slot written by a writer that was preempted for a whole lap of the
//! ring and then finished into a block someone else had claimed meanwhile.

use std::sync::atomic::{AtomicU64, Ordering, fence};

pub(crate) use crate::format::ring_codec::BLOCK_EVENTS;
use crate::format::ring_codec::{
    BLOCK_BASE_OFFSET, BLOCK_BYTES, BLOCK_SLOTS_OFFSET, LANE_BITS, SLOT_BUSY, SLOT_BYTES, SlotRead,
    scan_block, slot_word,
};

/// Lane ids live in the low 24 bits of a block header.
pub(crate) const MAX_LANES: u32 = 1 << LANE_BITS;

#[repr(C)]
struct Slot {
    /// Tag (high 32 bits) and timestamp offset from the block's base (low 32).
    word: AtomicU64,
    a: AtomicU64,
    b: AtomicU64,
}

/// A block, laid out exactly as `ring_codec` describes (a ring file is read from bytes).
#[repr(C, align(64))]
pub(crate) struct Block {
    /// `claim_number << 24 | lane`; 0 = never claimed.
    header: AtomicU64,
    /// Raw timestamp the slots' offsets count from, set at each claim.
    base: AtomicU64,
    _pad: [u64; 6],
    slots: [Slot; BLOCK_EVENTS],
}

const _: () = assert!(std::mem::size_of::<Block>() == BLOCK_BYTES);
const _: () = assert!(std::mem::size_of::<Slot>() == SLOT_BYTES);
const _: () = assert!(std::mem::offset_of!(Block, slots) == BLOCK_SLOTS_OFFSET);
const _: () = assert!(std::mem::offset_of!(Block, base) == BLOCK_BASE_OFFSET);

impl Block {
    fn new() -> Self {
        Block {
            header: AtomicU64::new(0),
            base: AtomicU64::new(0),
            _pad: [0; 6],
            slots: std::array::from_fn(|_| Slot {
                word: AtomicU64::new(0),
                a: AtomicU64::new(0),
                b: AtomicU64::new(0),
            }),
        }
    }
}

/// One thread's position in the ring. Only its owning thread touches it.
#[derive(Clone, Copy)]
pub(crate) struct Cursor {
    block: *const Block,
    header: u64,
    /// The block's base timestamp.
    base: u64,
    pos: usize,
    /// Raw timestamp of this thread's previous write.
    last_write: u64,
    /// The latest raw timestamp handed out on this lane, written or not (a poll's start
    /// is not written: its end carries it).
    last_ts: u64,
}

impl Cursor {
    pub(crate) const EMPTY: Cursor = Cursor {
        block: std::ptr::null(),
        header: 0,
        base: 0,
        pos: BLOCK_EVENTS,
        last_write: 0,
        last_ts: 0,
    };

    /// The timestamp for this lane's next event read as `raw`: strictly after every
    /// earlier one, so no two events of a lane share a timestamp (a folded poll start is
    /// placed by its timestamp alone; see `ring_codec::decode`). Takes it.
    #[inline]
    pub(crate) fn take_ts(&mut self, raw: u64) -> u64 {
        let ts = raw.max(self.last_ts.wrapping_add(1));
        self.last_ts = ts;
        ts
    }
}

/// A record as stored: a raw clock reading and two payload words (see `codec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawRecord {
    pub ts: u64,
    pub lane: u32,
    pub a: u64,
    pub b: u64,
    /// Position in the lane's write order: claim number and slot.
    pub order: (u64, u32),
}

/// Where the blocks live: on the heap, or in a shared file mapping that outlives the
/// process (see `persist`).
enum Storage {
    /// Blocks and claim counter from `Box::into_raw`, freed in `Drop` (raw from the start,
    /// so no `Box` move can invalidate the pointers the ring keeps).
    Heap,
    Mapped {
        _map: memmap2::MmapMut,
    },
}

pub(crate) struct Ring {
    /// Points into `storage`, which never moves or shrinks while the ring lives.
    blocks: *const Block,
    len: usize,
    next_claim: *const AtomicU64,
    /// A write this long (raw clock ticks) after the thread's previous one checks whether
    /// its block has grown old (see [`Ring::write`]); `u64::MAX` never checks.
    quiet_raw: u64,
    _storage: Storage,
}

impl Drop for Ring {
    fn drop(&mut self) {
        if let Storage::Heap = self._storage {
            // SAFETY: both came from `Box::into_raw` in `Ring::new` with these types and
            // length, and nothing else frees them.
            unsafe {
                drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                    self.blocks.cast_mut(),
                    self.len,
                )));
                drop(Box::from_raw(self.next_claim.cast_mut()));
            }
        }
    }
}

// SAFETY: the raw pointers point into storage owned by the ring and only accessed
// through atomics.
unsafe impl Send for Ring {}
unsafe impl Sync for Ring {}

impl Ring {
    /// Allocates (and touches) every block up front. `None` when the allocation fails.
    pub(crate) fn new(capacity: usize) -> Option<Ring> {
        let n = capacity.div_ceil(BLOCK_EVENTS).max(1);
        let mut blocks = Vec::new();
        blocks.try_reserve_exact(n).ok()?;
        blocks.extend((0..n).map(|_| Block::new()));
        let blocks: *mut [Block] = Box::into_raw(blocks.into_boxed_slice());
        let claims: *mut AtomicU64 = Box::into_raw(Box::new(AtomicU64::new(0)));
        Some(Ring {
            blocks: blocks.cast::<Block>(),
            len: n,
            next_claim: claims,
            quiet_raw: u64::MAX,
            _storage: Storage::Heap,
        })
    }

    /// A ring whose `blocks` blocks start at byte `blocks_at` of `map`, and whose claim
    /// counter is the `AtomicU64` at byte `claims_at`.
    ///
    /// # Safety
    /// `map` must be zero-filled or hold a ring of this layout, `blocks_at` must be
    /// 64-aligned and `claims_at` 8-aligned, and both regions must lie inside `map`.
    pub(crate) unsafe fn mapped(
        map: memmap2::MmapMut,
        blocks_at: usize,
        blocks: usize,
        claims_at: usize,
    ) -> Ring {
        let base = map.as_ptr();
        Ring {
            // SAFETY: in bounds and aligned per the contract; all-zero bytes are a valid
            // `Block` and `AtomicU64`.
            blocks: unsafe { base.add(blocks_at) }.cast(),
            len: blocks,
            next_claim: unsafe { base.add(claims_at) }.cast(),
            quiet_raw: u64::MAX,
            _storage: Storage::Mapped { _map: map },
        }
    }

    /// Sets how long a thread must have been quiet before a write checks its block's age.
    pub(crate) fn set_quiet_raw(&mut self, raw: u64) {
        self.quiet_raw = raw;
    }

    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self._storage, Storage::Mapped { .. })
    }

    fn block_slice(&self) -> &[Block] {
        // SAFETY: `blocks` points at `len` initialised blocks owned by `_storage`.
        unsafe { std::slice::from_raw_parts(self.blocks, self.len) }
    }

    fn claim_counter(&self) -> &AtomicU64 {
        // SAFETY: points into `_storage`, aligned, initialised.
        unsafe { &*self.next_claim }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.len * BLOCK_EVENTS
    }

    /// Number of block claims so far: a clock that advances once per block of events.
    pub(crate) fn claims(&self) -> u64 {
        self.claim_counter().load(Ordering::Relaxed)
    }

    pub(crate) fn blocks(&self) -> u64 {
        self.len as u64
    }

    /// Appends one record for `lane` at the cursor's position, claiming a block if needed.
    ///
    /// A thread that stayed in one block while the ring went round (a worker blocked in
    /// a 200 ms poll while others record 500k events a second) holds an old block: the
    /// next to be reused, or already taken by another writer. What it writes there is
    /// lost first, and that is the end of the long poll, the one event that says how long
    /// it was. So a write that follows a quiet spell (`quiet_raw`, 1 ms) claims a fresh
    /// block when its block is in the older half of the ring, and any write claims one
    /// when its block was taken. Busy threads pay one compare.
    #[inline]
    pub(crate) fn write(&self, cursor: &mut Cursor, lane: u32, ts: u64, a: u64, b: u64) {
        // SAFETY (both derefs): a non-null `cursor.block` points into `self.blocks`, set
        // by `claim` on this ring; the caller pairs cursors with rings by recorder id.
        if cursor.pos >= BLOCK_EVENTS
            || cursor.block.is_null()
            || unsafe { &*cursor.block }.header.load(Ordering::Relaxed) != cursor.header
            || (ts.wrapping_sub(cursor.last_write) >= self.quiet_raw && self.is_old(cursor))
        {
            self.claim(cursor, lane, ts);
        }
        let word = match slot_word(cursor.header, cursor.base, cursor.pos, ts, a, b) {
            Some(w) => w,
            None => {
                // Too far from the block's base for a 32-bit offset: a fresh block.
                self.claim(cursor, lane, ts);
                let w = slot_word(cursor.header, cursor.base, cursor.pos, ts, a, b);
                w.unwrap_or(SLOT_BUSY)
            }
        };
        cursor.last_write = ts;
        let block = unsafe { &*cursor.block };
        let slot = &block.slots[cursor.pos];
        slot.word.store(SLOT_BUSY, Ordering::Relaxed);
        fence(Ordering::Release);
        slot.a.store(a, Ordering::Relaxed);
        slot.b.store(b, Ordering::Relaxed);
        slot.word.store(word, Ordering::Release);
        cursor.pos += 1;
    }

    /// The cursor's block was claimed half a ring or more ago.
    #[cold]
    fn is_old(&self, cursor: &Cursor) -> bool {
        let claimed = (cursor.header >> 24).saturating_sub(1);
        self.claims().saturating_sub(claimed) >= (self.len as u64 / 2).max(1)
    }

    #[cold]
    fn claim(&self, cursor: &mut Cursor, lane: u32, base: u64) {
        let claim = self.claim_counter().fetch_add(1, Ordering::Relaxed);
        let idx = (claim % self.len as u64) as usize;
        let block = &self.block_slice()[idx];
        let header = ((claim + 1) << 24) | u64::from(lane & (MAX_LANES - 1));
        // Base first: a reader that sees the new header with the old base (or the reverse)
        // computes timestamps whose tags do not match, and skips the slots.
        block.base.store(base, Ordering::Relaxed);
        block.header.store(header, Ordering::Release);
        *cursor = Cursor {
            block,
            header,
            base,
            pos: 0,
            last_write: cursor.last_write,
            last_ts: cursor.last_ts,
        };
    }

    /// Reads every intact record. Returns the records and how many torn ones were skipped.
    /// Safe to call while other threads write; never blocks them.
    pub(crate) fn snapshot(&self) -> (Vec<RawRecord>, u64) {
        // Only claimed blocks can hold records; and a failed allocation (in a panic hook,
        // on a huge ring) yields an empty snapshot rather than an abort.
        let claimed = (self.claims().min(self.len as u64) as usize) * BLOCK_EVENTS;
        let mut out = Vec::new();
        if out.try_reserve_exact(claimed).is_err() {
            return (out, 0);
        }
        let mut torn = 0u64;
        for block in self.block_slice() {
            let header = block.header.load(Ordering::Acquire);
            if header == 0 {
                continue;
            }
            let lane = (header & u64::from(MAX_LANES - 1)) as u32;
            let claim = header >> LANE_BITS;
            let base = block.base.load(Ordering::Relaxed);
            torn += scan_block(
                header,
                base,
                |pos| {
                    let slot = &block.slots[pos];
                    let word = slot.word.load(Ordering::Acquire);
                    let a = slot.a.load(Ordering::Relaxed);
                    let b = slot.b.load(Ordering::Relaxed);
                    fence(Ordering::Acquire);
                    SlotRead {
                        word,
                        a,
                        b,
                        word_again: slot.word.load(Ordering::Relaxed),
                    }
                },
                |pos, s| {
                    out.push(RawRecord {
                        ts: s.ts,
                        lane,
                        a: s.a,
                        b: s.b,
                        order: (claim, pos as u32),
                    })
                },
            );
        }
        (out, torn)
    }

    #[cfg(test)]
    fn scribble(&self, block: usize, pos: usize) {
        self.block_slice()[block].slots[pos]
            .a
            .fetch_xor(0xdead, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(ring: &Ring, cursor: &mut Cursor, lane: u32, n: u64) {
        for i in 0..n {
            ring.write(cursor, lane, i, i * 3, i * 7);
        }
    }

    #[test]
    fn keeps_newest_events_at_block_granularity() {
        let ring = Ring::new(4 * BLOCK_EVENTS).unwrap();
        let mut c = Cursor::EMPTY;
        fill(&ring, &mut c, 1, 10 * BLOCK_EVENTS as u64 + 5);
        let (recs, torn) = ring.snapshot();
        assert_eq!(torn, 0);
        // 4 blocks: the last 3 full ones plus the 5 records of the current block.
        assert_eq!(recs.len(), 3 * BLOCK_EVENTS + 5);
        let mut ts: Vec<u64> = recs.iter().map(|r| r.ts).collect();
        ts.sort_unstable();
        let first = 10 * BLOCK_EVENTS as u64 + 5 - ts.len() as u64;
        assert_eq!(ts, (first..first + ts.len() as u64).collect::<Vec<_>>());
        assert!(
            recs.iter()
                .all(|r| r.lane == 1 && r.a == r.ts * 3 && r.b == r.ts * 7)
        );
    }

    #[test]
    fn scribbled_slot_is_rejected_not_decoded() {
        let ring = Ring::new(BLOCK_EVENTS).unwrap();
        let mut c = Cursor::EMPTY;
        fill(&ring, &mut c, 2, 10);
        ring.scribble(0, 3);
        let (recs, _) = ring.snapshot();
        assert_eq!(recs.len(), 9);
        assert!(recs.iter().all(|r| r.ts != 3));
    }

    /// A writer quiet for a while (blocked in a long poll) whose block is in the older
    /// half of the ring claims a fresh one, so its next events are among the newest kept.
    #[test]
    fn a_quiet_writer_in_an_old_block_claims_a_fresh_one() {
        let mut ring = Ring::new(8 * BLOCK_EVENTS).unwrap();
        ring.set_quiet_raw(1_000);
        let mut slow = Cursor::EMPTY;
        ring.write(&mut slow, 1, 10, 1, 1);
        // Others claim five blocks meanwhile: the slow writer's block is now old.
        let mut busy = Cursor::EMPTY;
        for i in 0..5 * BLOCK_EVENTS as u64 - 10 {
            ring.write(&mut busy, 2, 20 + i, 2, 2);
        }
        let old_header = slow.header;
        ring.write(&mut slow, 1, 5_000, 1, 1);
        assert_ne!(slow.header, old_header, "re-claimed after a quiet spell");
        // A writer whose block is new keeps filling it, quiet spell or not.
        let h = busy.header;
        ring.write(&mut busy, 2, 5_001, 2, 2);
        assert_eq!(busy.header, h);
        // Then the ring laps once more: the slow writer's latest event survives.
        for i in 0..6 * BLOCK_EVENTS as u64 {
            ring.write(&mut busy, 2, 6_000 + i, 2, 2);
        }
        let (recs, _) = ring.snapshot();
        assert!(recs.iter().any(|r| r.lane == 1 && r.ts == 5_000));
    }

    #[test]
    fn a_lapped_writer_claims_a_fresh_block_and_never_forges() {
        // Writer A holds a cursor into block 0; the ring wraps and B claims block 0.
        let ring = Ring::new(BLOCK_EVENTS).unwrap();
        let mut a = Cursor::EMPTY;
        ring.write(&mut a, 1, 100, 1, 1);
        let mut b = Cursor::EMPTY;
        ring.write(&mut b, 2, 200, 2, 2);
        let before_lap = a;
        // A writes again after being lapped: it notices B's claim and claims a block of
        // its own (the oldest, B's), so its record is kept, under its own lane.
        ring.write(&mut a, 1, 101, 1, 1);
        let (recs, torn) = ring.snapshot();
        assert_eq!(torn, 0);
        assert_eq!(recs.len(), 1);
        assert_eq!((recs[0].lane, recs[0].ts), (1, 101));
        // Had A written with its pre-lap cursor into a block since claimed by another (the
        // race between its check and that claim), the tag, made from A's old claim, would
        // not match the block's: torn, never a forged record.
        let block = &ring.block_slice()[0];
        let slot = &block.slots[1];
        slot.a.store(1, Ordering::Relaxed);
        slot.b.store(1, Ordering::Relaxed);
        let base = block.base.load(Ordering::Relaxed);
        let word = slot_word(before_lap.header, base, 1, 999, 1, 1).unwrap();
        slot.word.store(word, Ordering::Release);
        let (recs, _) = ring.snapshot();
        assert!(recs.iter().all(|r| r.ts != 999));
    }

    /// Timestamps are stored as 32-bit offsets from the block's base: one too far ahead
    /// or behind (a poll's start written late) takes a fresh block, and every record
    /// reads back with its whole timestamp.
    #[test]
    fn far_timestamps_take_a_fresh_block_and_read_back_whole() {
        let ring = Ring::new(8 * BLOCK_EVENTS).unwrap();
        let mut c = Cursor::EMPTY;
        let far = 1u64 << 40;
        let stamps = [
            1_000,
            1_001,
            far,
            far + 5,
            far - (1 << 33),
            far + 6,
            u64::MAX - 3,
        ];
        for (i, &ts) in stamps.iter().enumerate() {
            ring.write(&mut c, 4, ts, i as u64, 0);
        }
        assert_eq!(ring.claims(), 5, "a claim per jump");
        let (mut recs, torn) = ring.snapshot();
        assert_eq!(torn, 0);
        recs.sort_by_key(|r| r.a);
        let read: Vec<u64> = recs.iter().map(|r| r.ts).collect();
        assert_eq!(read, stamps);
    }
}
