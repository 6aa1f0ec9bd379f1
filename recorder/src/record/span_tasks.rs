//! Tracing span id -> Tokio task id, without the registry.
//!
//! Tokio's waker events name their task by its tracing span id. Asking the registry
//! (`ctx.span(id)` and the span's extensions) costs a sharded-slab lookup and a lock on
//! every waker op. This direct-mapped table answers from one cache line instead; it is
//! filled when the task span is created. A slot taken by a newer span pushes the older
//! span's mapping into that span's registry extensions, so a miss here falls back to the
//! registry and still finds it. Slots are not cleared when a span closes: a waker that
//! outlives its task then still resolves to that task, until the id is reused for a new
//! task span (which overwrites the slot).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering, fence};

/// A waker count that can no longer be trusted (an op raced with the slot's reuse): any
/// value below this is unknown, however many ops follow.
const WAKERS_UNKNOWN: i64 = i64::MIN / 2;

const SLOTS: usize = 1 << 14;
/// A slot being written.
const LOCKED: u64 = u64::MAX;
/// The top two bits of the stored task word hold the span's class.
const CLASS_SHIFT: u32 = 62;
const TASK_MASK: u64 = (1 << CLASS_SHIFT) - 1;
/// Span classes: an async task, a blocking task (workers are blocking tasks entered for
/// life, so their enters are not polls), or a `block_on` future (no runtime hooks).
pub(crate) const CLASS_TASK: u8 = 0;
pub(crate) const CLASS_BLOCKING: u8 = 1;
pub(crate) const CLASS_BLOCK_ON: u8 = 2;

struct Slot {
    span: AtomicU64,
    task: AtomicU64,
    /// Bumped before and after every write (odd while writing), so a reader can tell that
    /// the slot changed under it even if the same span id came back (A-B-A).
    version: AtomicU64,
    /// The task's live wakers: clones - drops - wakes by value since the span was mapped
    /// here. Reset when the slot takes a new span.
    wakers: AtomicI64,
}

pub(crate) struct SpanTasks {
    slots: Box<[Slot]>,
}

fn index(span: u64) -> usize {
    (span.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize
}

impl SpanTasks {
    pub(crate) fn new() -> SpanTasks {
        SpanTasks {
            slots: (0..SLOTS)
                .map(|_| Slot {
                    span: AtomicU64::new(0),
                    task: AtomicU64::new(0),
                    version: AtomicU64::new(0),
                    wakers: AtomicI64::new(0),
                })
                .collect(),
        }
    }

    /// Maps `span` to `task`. Returns the mapping it displaced (another span's), if any,
    /// or `None` when the slot is busy with a concurrent writer (the caller then keeps the
    /// mapping elsewhere).
    pub(crate) fn insert(
        &self,
        span: u64,
        task: u64,
        class: u8,
    ) -> Result<Option<(u64, u64, u8)>, ()> {
        let slot = &self.slots[index(span)];
        let old = slot.span.load(Ordering::Relaxed);
        if old == LOCKED
            || slot
                .span
                .compare_exchange(old, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return Err(());
        }
        let old_task = slot.task.load(Ordering::Relaxed);
        slot.version.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        slot.task.store(
            (task & TASK_MASK) | (u64::from(class) << CLASS_SHIFT),
            Ordering::Relaxed,
        );
        slot.wakers.store(0, Ordering::Relaxed);
        slot.version.fetch_add(1, Ordering::Release);
        slot.span.store(span, Ordering::Release);
        Ok((old != 0 && old != span).then_some((
            old,
            old_task & TASK_MASK,
            (old_task >> CLASS_SHIFT) as u8,
        )))
    }

    /// The task of `span` and its class, if the table has it.
    pub(crate) fn get(&self, span: u64) -> Option<(u64, u8)> {
        let slot = &self.slots[index(span)];
        let v1 = slot.version.load(Ordering::Acquire);
        if v1 % 2 == 1 || slot.span.load(Ordering::Acquire) != span {
            return None;
        }
        let task = slot.task.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (slot.span.load(Ordering::Relaxed) == span && slot.version.load(Ordering::Relaxed) == v1)
            .then_some((task & TASK_MASK, (task >> CLASS_SHIFT) as u8))
    }
}

impl SpanTasks {
    /// The task of `span`, counting a waker op (`delta`: +1 clone, -1 drop or wake by
    /// value, 0 wake by reference) on the way: one more atomic on the cache line the
    /// lookup already read. An op that races with the slot's reuse cannot know which task
    /// it counted for, so it marks the count unknown rather than leave it wrong.
    ///
    /// Returns the task, its class, and its live wakers after this op (`None` if unknown).
    pub(crate) fn get_counting(&self, span: u64, delta: i64) -> Option<(u64, u8, Option<i64>)> {
        let slot = &self.slots[index(span)];
        let v1 = slot.version.load(Ordering::Acquire);
        if v1 % 2 == 1 || slot.span.load(Ordering::Acquire) != span {
            return None;
        }
        let task = slot.task.load(Ordering::Relaxed);
        let live = slot.wakers.fetch_add(delta, Ordering::AcqRel) + delta;
        fence(Ordering::Acquire);
        if slot.span.load(Ordering::Relaxed) == span && slot.version.load(Ordering::Relaxed) == v1 {
            // A count marked unknown stays far below zero whatever ops follow; a negative
            // count can only come from such a race: neither is a count.
            return Some((
                task & TASK_MASK,
                (task >> CLASS_SHIFT) as u8,
                (live >= 0).then_some(live),
            ));
        }
        if delta != 0 {
            slot.wakers.store(WAKERS_UNKNOWN, Ordering::Relaxed);
        }
        None
    }

    /// Every mapped task with a trustworthy waker count.
    pub(crate) fn waker_counts(&self) -> Vec<(u64, i64)> {
        self.slots
            .iter()
            .filter_map(|slot| {
                let v1 = slot.version.load(Ordering::Acquire);
                let span = slot.span.load(Ordering::Acquire);
                let task = slot.task.load(Ordering::Relaxed) & TASK_MASK;
                let wakers = slot.wakers.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                let stable = v1 % 2 == 0 && slot.version.load(Ordering::Relaxed) == v1;
                (stable && span != 0 && span != LOCKED && wakers >= 0).then_some((task, wakers))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_reports_what_it_displaced() {
        let t = SpanTasks::new();
        assert_eq!(t.insert(5, 50, CLASS_TASK), Ok(None));
        assert_eq!(t.get(5), Some((50, CLASS_TASK)));
        assert_eq!(t.get(6), None);
        // Find another span id that lands in the same slot.
        let other = (6..).find(|&s| index(s) == index(5)).unwrap();
        assert_eq!(
            t.insert(other, 70, CLASS_BLOCKING),
            Ok(Some((5, 50, CLASS_TASK)))
        );
        assert_eq!(t.get(other), Some((70, CLASS_BLOCKING)));
        assert_eq!(t.get(5), None);
        // Re-inserting the same span id (reused by the registry) just updates it.
        assert_eq!(t.insert(other, 71, CLASS_BLOCK_ON), Ok(None));
        assert_eq!(t.get(other), Some((71, CLASS_BLOCK_ON)));
    }

    #[test]
    fn counts_waker_ops_per_task_and_resets_on_reuse() {
        let t = SpanTasks::new();
        t.insert(5, 50, CLASS_TASK).unwrap();
        t.insert(9, 90, CLASS_TASK).unwrap();
        for delta in [1, 1, -1, 0, 1] {
            assert_eq!(
                t.get_counting(5, delta).map(|(t, c, _)| (t, c)),
                Some((50, CLASS_TASK))
            );
        }
        assert_eq!(t.get_counting(9, 1), Some((90, CLASS_TASK, Some(1))));
        assert_eq!(t.get_counting(9, -1), Some((90, CLASS_TASK, Some(0))));
        let mut counts = t.waker_counts();
        counts.sort();
        assert_eq!(counts, vec![(50, 2), (90, 0)]);
        // A new span in the slot (the registry reused the id) starts from zero.
        t.insert(5, 51, CLASS_TASK).unwrap();
        assert!(t.waker_counts().contains(&(51, 0)));
        assert_eq!(t.get_counting(404, 1), None, "unknown spans count nothing");
    }

    /// A count marked unknown (an op raced with the slot's reuse) never comes back as a
    /// count, however many ops follow: not in the ops, not in the dump's facts.
    #[test]
    fn an_unknown_count_stays_unknown() {
        let t = SpanTasks::new();
        t.insert(5, 50, CLASS_TASK).unwrap();
        t.slots[index(5)]
            .wakers
            .store(WAKERS_UNKNOWN, Ordering::Relaxed);
        for _ in 0..3 {
            assert_eq!(t.get_counting(5, 1), Some((50, CLASS_TASK, None)));
        }
        assert!(t.waker_counts().iter().all(|&(task, _)| task != 50));
    }
}
