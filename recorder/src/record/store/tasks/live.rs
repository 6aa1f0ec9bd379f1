//! What changes about a task while it lives, beside its slot: its live wakers (clones -
//! drops - wakes by value), whether its span has closed, and how many handles its span
//! has (the recorder's own subscriber counts them: it is the span's only owner).
//!
//! One entry per task slot, at the same index, so a waker op finds its task's count from
//! the task id alone, with no lookup. An entry is written by the spawn that claims the
//! slot, then by waker ops from any thread: its one word carries a tag of the task it
//! counts for (the id's low bits), so an op that raced with the slot's reuse (a waker
//! that outlived its task by a full ring turn) fails its compare-and-swap against the new
//! tag and counts nothing, rather than counting for the wrong task.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// `word`: the tag in the top 31 bits, the closed bit, and the live count as an `i32`.
const TAG_SHIFT: u32 = 33;
const CLOSED: u64 = 1 << 32;
const COUNT_MASK: u64 = (1 << 32) - 1;

/// The live state of one task slot's task.
#[repr(C, align(16))]
pub(crate) struct LiveEntry {
    word: AtomicU64,
    /// Handles of the task's span (subscriber path): 1 at the spawn, +1 a clone, -1 a close.
    refs: AtomicU32,
    _pad: u32,
}

const _: () = assert!(std::mem::size_of::<LiveEntry>() == 16);

/// What a waker op learnt of its task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wakers {
    /// Live wakers after the op; `None` when no longer a count (it went below zero:
    /// ops were missed).
    pub live: Option<i64>,
    /// The task's span has closed: the waker outlived its task.
    pub closed: bool,
}

/// A tag of `task`'s for the entry's word, from the id's bits above the slot index
/// (`shift`: the table's index bits): never 0 (an unclaimed entry matches no task), and
/// different for any two tasks that share a slot, whose ids differ by a multiple of the
/// table's size, unless 2^30 such multiples apart (2^40 tasks at least).
#[inline]
fn tag(task: u64, shift: u32) -> u64 {
    (((task >> shift) & 0x3FFF_FFFF) | 0x4000_0000) << TAG_SHIFT
}

impl LiveEntry {
    pub(crate) fn new() -> LiveEntry {
        LiveEntry {
            word: AtomicU64::new(0),
            refs: AtomicU32::new(0),
            _pad: 0,
        }
    }

    /// Writes the entry once, as the table's slots are (a first touch on the hot path is a
    /// page fault).
    pub(crate) fn touch(&self) {
        self.word.store(0, Ordering::Relaxed);
    }

    /// Starts counting for `task`, which just claimed the slot.
    pub(crate) fn claim(&self, task: u64, shift: u32) {
        self.refs.store(1, Ordering::Relaxed);
        self.word.store(tag(task, shift), Ordering::Release);
    }

    /// Counts a waker op (`delta`: +1 clone, -1 drop or wake by value, 0 wake by ref)
    /// for `task`; `None` if the entry counts for another task (or none).
    #[inline]
    pub(crate) fn waker_op(&self, task: u64, shift: u32, delta: i64) -> Option<Wakers> {
        let tag = tag(task, shift);
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & !(CLOSED | COUNT_MASK) != tag {
                return None;
            }
            let count = i64::from((word & COUNT_MASK) as u32 as i32);
            let after = count.saturating_add(delta);
            let closed = word & CLOSED != 0;
            if delta == 0 {
                return Some(Wakers {
                    live: (after >= 0).then_some(after),
                    closed,
                });
            }
            let stored = after.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            let new = (word & !COUNT_MASK) | u64::from(stored as u32);
            match self
                .word
                .compare_exchange_weak(word, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return Some(Wakers {
                        live: (after >= 0).then_some(after),
                        closed,
                    });
                }
                Err(now) => word = now,
            }
        }
    }

    /// Marks `task`'s span closed; false if the entry is not `task`'s.
    pub(crate) fn close(&self, task: u64, shift: u32) -> bool {
        let tag = tag(task, shift);
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & !(CLOSED | COUNT_MASK) != tag {
                return false;
            }
            match self.word.compare_exchange_weak(
                word,
                word | CLOSED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// One more handle of `task`'s span; false if the entry is not `task`'s.
    pub(crate) fn span_cloned(&self, task: u64, shift: u32) -> bool {
        if !self.is_for(task, shift) {
            return false;
        }
        self.refs.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// One handle of `task`'s span fewer: `Some(true)` when it was the last (the span is
    /// closed, and marked so), `None` if the entry is not `task`'s.
    pub(crate) fn span_released(&self, task: u64, shift: u32) -> Option<bool> {
        if !self.is_for(task, shift) {
            return None;
        }
        // AcqRel: the last release sees every other handle's work done.
        let last = self.refs.fetch_sub(1, Ordering::AcqRel) == 1;
        if last {
            self.close(task, shift);
        }
        Some(last)
    }

    fn is_for(&self, task: u64, shift: u32) -> bool {
        self.word.load(Ordering::Acquire) & !(CLOSED | COUNT_MASK) == tag(task, shift)
    }

    /// `task`'s live wakers, if the entry counts for it and the count is one.
    pub(crate) fn live(&self, task: u64, shift: u32) -> Option<i64> {
        self.waker_op(task, shift, 0).and_then(|w| w.live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of 1,024 slots.
    const S: u32 = 10;

    #[test]
    fn counts_for_its_task_only() {
        let e = LiveEntry::new();
        assert_eq!(e.waker_op(5, S, 1), None, "unclaimed");
        e.claim(5, S);
        let op = |d| e.waker_op(5, S, d).unwrap();
        assert_eq!(op(1).live, Some(1));
        assert_eq!(op(1).live, Some(2));
        assert_eq!(op(-1).live, Some(1));
        assert_eq!(op(0).live, Some(1));
        assert_eq!(
            e.waker_op(5 + (1 << 20), S, 1),
            None,
            "another task of the slot"
        );
        assert!(e.close(5, S));
        assert_eq!(
            op(-1),
            Wakers {
                live: Some(0),
                closed: true
            }
        );
        // A missed clone: below zero is no count, whatever follows.
        assert_eq!(op(-1).live, None);
        // The slot's next task starts afresh.
        e.claim(5 + (1 << 20), S);
        assert_eq!(
            e.waker_op(5 + (1 << 20), S, 1),
            Some(Wakers {
                live: Some(1),
                closed: false
            })
        );
        assert_eq!(e.waker_op(5, S, 1), None);
    }

    #[test]
    fn tags_tell_apart_tasks_that_share_a_slot() {
        for shift in [10, 21] {
            let mates: std::collections::HashSet<u64> =
                (0..20_000).map(|k| tag(7 + (k << shift), shift)).collect();
            assert_eq!(mates.len(), 20_000, "{shift} index bits");
            assert!((0..100_000).all(|t| tag(t, shift) != 0));
        }
    }

    #[test]
    fn the_last_handle_closes_the_span() {
        let e = LiveEntry::new();
        e.claim(9, S);
        assert!(e.span_cloned(9, S));
        assert_eq!(e.span_released(9, S), Some(false));
        assert_eq!(e.span_released(9, S), Some(true));
        assert!(e.waker_op(9, S, 0).unwrap().closed);
        assert_eq!(
            e.span_released(9 + (1 << S), S),
            None,
            "the slot's next task"
        );
    }

    #[test]
    fn concurrent_ops_lose_no_count() {
        let e = std::sync::Arc::new(LiveEntry::new());
        e.claim(3, S);
        let per = if cfg!(miri) { 50 } else { 20_000 };
        let threads: Vec<_> = (0..4)
            .map(|k| {
                let e = e.clone();
                std::thread::spawn(move || {
                    for _ in 0..per {
                        e.waker_op(3, S, if k % 2 == 0 { 2 } else { -1 });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(e.live(3, S), Some(2 * per));
    }
}
