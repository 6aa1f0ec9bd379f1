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
}
