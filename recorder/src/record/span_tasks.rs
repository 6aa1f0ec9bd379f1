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

use std::sync::atomic::{AtomicU64, Ordering, fence};

const SLOTS: usize = 1 << 14;
/// A slot being written.
const LOCKED: u64 = u64::MAX;
/// Top bit of the stored task word: the task is a blocking task.
const BLOCKING: u64 = 1 << 63;

struct Slot {
    span: AtomicU64,
    task: AtomicU64,
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
        blocking: bool,
    ) -> Result<Option<(u64, u64, bool)>, ()> {
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
        fence(Ordering::Release);
        slot.task.store(
            task | if blocking { BLOCKING } else { 0 },
            Ordering::Relaxed,
        );
        slot.span.store(span, Ordering::Release);
        Ok((old != 0 && old != span).then_some((
            old,
            old_task & !BLOCKING,
            old_task & BLOCKING != 0,
        )))
    }

    /// The task of `span` and whether it is a blocking task, if the table has it.
    pub(crate) fn get(&self, span: u64) -> Option<(u64, bool)> {
        let slot = &self.slots[index(span)];
        if slot.span.load(Ordering::Acquire) != span {
            return None;
        }
        let task = slot.task.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (slot.span.load(Ordering::Relaxed) == span)
            .then_some((task & !BLOCKING, task & BLOCKING != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_reports_what_it_displaced() {
        let t = SpanTasks::new();
        assert_eq!(t.insert(5, 50, false), Ok(None));
        assert_eq!(t.get(5), Some((50, false)));
        assert_eq!(t.get(6), None);
        // Find another span id that lands in the same slot.
        let other = (6..).find(|&s| index(s) == index(5)).unwrap();
        assert_eq!(t.insert(other, 70, true), Ok(Some((5, 50, false))));
        assert_eq!(t.get(other), Some((70, true)));
        assert_eq!(t.get(5), None);
        // Re-inserting the same span id (reused by the registry) just updates it.
        assert_eq!(t.insert(other, 71, false), Ok(None));
        assert_eq!(t.get(other), Some((71, false)));
    }
}
