//! Tracing span id -> Tokio task id, without the registry.
//!
//! Tokio's waker events name their task by its tracing span id. Asking the registry
//! (`ctx.span(id)` and the span's extensions) costs a sharded-slab lookup and a lock on
//! every waker op. This table answers from one cache line instead; it is filled when the
//! task span is created. A set holds two spans: a span that takes a set pushes out the
//! older of the two, whose mapping goes into that span's registry extensions, so a miss
//! here falls back to the registry and still finds it. Slots are not cleared when a span
//! closes: a waker that outlives its task then still resolves to that task until the set
//! has taken two newer spans.
//!
//! The registry numbers a span by its sharded-slab slot: the low 38 bits are the slot's
//! address in its shard, the next 13 the shard, the rest a generation bumped at each
//! reuse. Indexing by address and shard (not by the whole id) puts a reused slab slot in
//! the same set, so the set a spawn writes is the one the previous task of that slab slot
//! used: a line the cache already has, where a hash of the whole id sent every spawn to a
//! cold line. The layout is only used for speed: a registry that numbers spans otherwise
//! still gets a correct table, with other sets.

use std::sync::atomic::{AtomicU64, Ordering, fence};

const SETS: usize = 1 << 13;
/// The top two bits of the stored task word hold the span's class.
const CLASS_SHIFT: u32 = 62;
/// Set in the stored task word when the span closes: its mapping, once pushed out of the
/// table, need not go into the registry (where the span no longer is).
const CLOSED: u64 = 1 << 61;
const TASK_MASK: u64 = CLOSED - 1;
/// Span classes: an async task, a blocking task (workers are blocking tasks entered for
/// life, so their enters are not polls), or a `block_on` future (no runtime hooks).
pub(crate) const CLASS_TASK: u8 = 0;
pub(crate) const CLASS_BLOCKING: u8 = 1;
pub(crate) const CLASS_BLOCK_ON: u8 = 2;

/// sharded-slab's default layout, as tracing-subscriber's registry uses it (see above).
const SLAB_ADDR_BITS: u32 = 38;
const SLAB_SHARD_BITS: u32 = 13;

struct Slot {
    span: AtomicU64,
    task: AtomicU64,
    /// Odd while written. Each write makes it larger than both slots' versions in the
    /// set, so the smaller one is the older span, and a reader sees any change (A-B-A).
    version: AtomicU64,
}

/// Two slots in one cache line.
#[repr(align(64))]
struct Set([Slot; 2]);

pub(crate) struct SpanTasks {
    sets: Box<[Set]>,
}

fn index(span: u64) -> usize {
    let key = span.wrapping_sub(1);
    let addr = key & ((1 << SLAB_ADDR_BITS) - 1);
    let shard = (key >> SLAB_ADDR_BITS) & ((1 << SLAB_SHARD_BITS) - 1);
    // Shards (spawning threads) start at spread-out sets; addresses run consecutively.
    let offset = shard.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (addr.wrapping_add(offset) as usize) & (SETS - 1)
}

fn unpack(task: u64) -> (u64, u8) {
    (task & TASK_MASK, (task >> CLASS_SHIFT) as u8)
}

impl SpanTasks {
    pub(crate) fn new() -> SpanTasks {
        let slot = || Slot {
            span: AtomicU64::new(0),
            task: AtomicU64::new(0),
            version: AtomicU64::new(0),
        };
        let table = SpanTasks {
            sets: (0..SETS).map(|_| Set([slot(), slot()])).collect(),
        };
        // Touched now, as the ring is (see `TaskTable::new`).
        for set in table.sets.iter() {
            set.0[0].version.store(0, Ordering::Relaxed);
        }
        table
    }

    /// Starts bringing `span`'s set into this core's cache for writing, so that the miss
    /// (the set was last written by another worker's waker ops) overlaps with work the
    /// caller does before [`insert`](Self::insert).
    #[inline]
    pub(crate) fn prefetch(&self, span: u64) {
        super::super::store::prefetch::for_write(&self.sets[index(span)]);
    }

    /// Maps `span` to `task`. A mapping it pushes out (another span's, still open) is
    /// first handed to `displace`, before the slot is taken: a reader that misses it in
    /// the table while the slot is being written then finds it where `displace` put it
    /// (the span's registry extensions). `Err` when the set is busy with a concurrent
    /// writer (the caller then keeps the new mapping elsewhere).
    pub(crate) fn insert(
        &self,
        span: u64,
        task: u64,
        class: u8,
        displace: impl FnOnce(u64, u64, u8),
    ) -> Result<(), ()> {
        let set = &self.sets[index(span)].0;
        // Acquire: the spans read next must be the ones these versions were written with.
        let v = [
            set[0].version.load(Ordering::Acquire),
            set[1].version.load(Ordering::Acquire),
        ];
        if v[0] % 2 == 1 || v[1] % 2 == 1 {
            return Err(());
        }
        // The slot already holding this id (the registry reused it), else the older.
        let w = if set[0].span.load(Ordering::Relaxed) == span {
            0
        } else if set[1].span.load(Ordering::Relaxed) == span {
            1
        } else {
            usize::from(v[1] < v[0])
        };
        let slot = &set[w];
        // What the slot holds, read under its version: if the claim below succeeds, the
        // version did not move, so this is what gets pushed out.
        let old = slot.span.load(Ordering::Relaxed);
        let old_word = slot.task.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if slot.version.load(Ordering::Relaxed) != v[w] {
            return Err(());
        }
        if old != 0 && old != span && old_word & CLOSED == 0 {
            let (old_task, old_class) = unpack(old_word);
            displace(old, old_task, old_class);
        }
        let writing = v[0].max(v[1]) + 1;
        if slot
            .version
            .compare_exchange(v[w], writing, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(());
        }
        fence(Ordering::Release);
        slot.span.store(span, Ordering::Relaxed);
        slot.task.store(
            (task & TASK_MASK) | (u64::from(class) << CLASS_SHIFT),
            Ordering::Relaxed,
        );
        slot.version.store(writing + 1, Ordering::Release);
        Ok(())
    }

    /// The task of `span` and its class, if the table has it.
    pub(crate) fn get(&self, span: u64) -> Option<(u64, u8)> {
        self.find(span).map(|(_, word)| unpack(word))
    }

    /// The task of `span`, which is closing, marked so that it leaves the table quietly
    /// (see [`insert`](Self::insert)). A waker that outlives the task still finds it here.
    pub(crate) fn close(&self, span: u64) -> Option<(u64, u8)> {
        let (slot, word) = self.find(span)?;
        // Fails harmlessly if the slot was retaken meanwhile (another task's word).
        let _ =
            slot.task
                .compare_exchange(word, word | CLOSED, Ordering::Relaxed, Ordering::Relaxed);
        Some(unpack(word))
    }

    /// The slot holding `span` and its task word, read consistently.
    fn find(&self, span: u64) -> Option<(&Slot, u64)> {
        if span == 0 {
            return None;
        }
        let set = &self.sets[index(span)];
        for slot in &set.0 {
            let v1 = slot.version.load(Ordering::Acquire);
            if v1 % 2 == 1 || slot.span.load(Ordering::Acquire) != span {
                continue;
            }
            let word = slot.task.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if slot.span.load(Ordering::Relaxed) == span
                && slot.version.load(Ordering::Relaxed) == v1
            {
                return Some((slot, word));
            }
            return None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` span ids that share one set.
    fn same_set(n: usize) -> Vec<u64> {
        (1..).filter(|&s| index(s) == index(1)).take(n).collect()
    }

    /// Inserts, returning the open mapping it pushed out, if any.
    fn put(t: &SpanTasks, span: u64, task: u64, class: u8) -> Result<Option<(u64, u64, u8)>, ()> {
        let mut out = None;
        t.insert(span, task, class, |s, t, c| out = Some((s, t, c)))?;
        Ok(out)
    }

    #[test]
    fn maps_and_reports_what_it_displaced() {
        let t = SpanTasks::new();
        assert_eq!(put(&t, 5, 50, CLASS_TASK), Ok(None));
        assert_eq!(t.get(5), Some((50, CLASS_TASK)));
        assert_eq!(t.get(6), None);
        // Two more span ids in the same set: the second pushes out the oldest.
        let mut same = (6..).filter(|&s| index(s) == index(5));
        let (b, c) = (same.next().unwrap(), same.next().unwrap());
        assert_eq!(put(&t, b, 60, CLASS_TASK), Ok(None));
        assert_eq!(
            put(&t, c, 70, CLASS_BLOCKING),
            Ok(Some((5, 50, CLASS_TASK)))
        );
        assert_eq!(t.get(5), None);
        assert_eq!(t.get(b), Some((60, CLASS_TASK)));
        assert_eq!(t.get(c), Some((70, CLASS_BLOCKING)));
        // Re-inserting the same span id (reused by the registry) just updates it.
        assert_eq!(put(&t, c, 71, CLASS_BLOCK_ON), Ok(None));
        assert_eq!(t.get(c), Some((71, CLASS_BLOCK_ON)));
        assert_eq!(t.get(b), Some((60, CLASS_TASK)));
    }

    /// The registry's reuse of a slab slot (a new generation) lands in the same set, and
    /// the previous task of that slot stays findable for its late waker ops.
    #[test]
    fn a_reused_slab_slot_keeps_its_set_and_the_previous_task() {
        let t = SpanTasks::new();
        let generation = |g: u64| (g << (SLAB_ADDR_BITS + SLAB_SHARD_BITS)) + 42;
        assert_eq!(index(generation(1)), index(generation(2)));
        // Consecutive slab addresses take consecutive sets.
        assert_eq!(index(43), (index(42) + 1) % SETS);
        put(&t, generation(1), 1, CLASS_TASK).unwrap();
        put(&t, generation(2), 2, CLASS_TASK).unwrap();
        assert_eq!(t.get(generation(1)), Some((1, CLASS_TASK)));
        assert_eq!(t.get(generation(2)), Some((2, CLASS_TASK)));
    }

    /// A mapping is handed over before its slot is taken: a reader never finds it in
    /// neither place.
    #[test]
    fn the_displaced_mapping_is_handed_over_before_the_slot_is_taken() {
        let t = SpanTasks::new();
        let ids = same_set(3);
        put(&t, ids[0], 10, CLASS_TASK).unwrap();
        put(&t, ids[1], 11, CLASS_TASK).unwrap();
        let mut seen = None;
        t.insert(ids[2], 12, CLASS_TASK, |old, task, _| {
            seen = Some((old, task, t.get(old)));
        })
        .unwrap();
        assert_eq!(seen, Some((ids[0], 10, Some((10, CLASS_TASK)))));
        assert_eq!(t.get(ids[0]), None);
    }

    /// A closed span's mapping leaves the table without a registry push (the span is
    /// gone from the registry); an open one's is handed back for the registry.
    #[test]
    fn a_closed_span_leaves_quietly() {
        let t = SpanTasks::new();
        let ids = same_set(4);
        put(&t, ids[0], 10, CLASS_TASK).unwrap();
        put(&t, ids[1], 11, CLASS_TASK).unwrap();
        assert_eq!(t.close(ids[0]), Some((10, CLASS_TASK)));
        assert_eq!(
            t.get(ids[0]),
            Some((10, CLASS_TASK)),
            "a late waker still finds it"
        );
        assert_eq!(put(&t, ids[2], 12, CLASS_TASK), Ok(None));
        assert_eq!(
            put(&t, ids[3], 13, CLASS_TASK),
            Ok(Some((ids[1], 11, CLASS_TASK)))
        );
        assert_eq!(t.close(404), None);
    }
}
