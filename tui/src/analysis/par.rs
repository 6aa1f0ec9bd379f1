//! Work on a second thread. The machines this runs on have a couple of cores: once the
//! events are read, the reader's core would otherwise sit idle while the rules, the sorts
//! and the rankings run one after another ([`both`]); and a pass that makes its input as
//! it goes (the export's events and anomalies) has it made a few batches ahead
//! ([`Ahead`]).

use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::sync::{Arc, Mutex};

/// Runs `a` on a second thread while `b` runs on this one, and gives both results; runs
/// both here, one after the other, when no thread can be had. A panic in either is a
/// panic of this thread, as if both had run here.
pub(crate) fn both<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    // Kept where the fallback can still reach it if the thread is never started.
    let slot = Mutex::new(Some(a));
    std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("dial9-index".into())
            .spawn_scoped(s, || {
                let a = slot.lock().ok().and_then(|mut a| a.take());
                a.map(|a| a())
            });
        let from_b = b();
        let from_a = match spawned.map(|h| h.join()) {
            Ok(Ok(made)) => made,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => None,
        };
        let from_a = from_a.unwrap_or_else(|| {
            let a = slot.lock().ok().and_then(|mut a| a.take());
            a.expect("the second thread neither ran `a` nor left it")()
        });
        (from_a, from_b)
    })
}

/// Batches made ahead of their use: `make` fills each batch it is given (returning false
/// once there is nothing left) on a thread of its own, at most `depth` batches ahead, and
/// the used ones go back to it to be filled again; made here, as they are asked for, when
/// no thread can be had.
pub(crate) struct Ahead<B, F> {
    source: Source<B, F>,
}

enum Source<B, F> {
    Thread { full: Receiver<B>, empty: Sender<B> },
    Here(F),
}

impl<B: Default + Send, F: FnMut(&mut B) -> bool + Send> Ahead<B, F> {
    /// Starts `make` on a thread named `name` in `scope`; the thread stops once `make`
    /// has nothing left or this is dropped.
    pub(crate) fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        name: &str,
        depth: usize,
        make: F,
    ) -> Ahead<B, F>
    where
        B: 'scope,
        F: 'scope,
    {
        let (full, to_use) = sync_channel::<B>(depth);
        let (empty, emptied) = channel::<B>();
        // Kept where the fallback can still reach it if the thread is never started.
        let slot = Arc::new(Mutex::new(Some(make)));
        let theirs = Arc::clone(&slot);
        let spawned =
            std::thread::Builder::new()
                .name(name.into())
                .spawn_scoped(scope, move || {
                    let Some(mut make) = theirs.lock().ok().and_then(|mut m| m.take()) else {
                        return;
                    };
                    loop {
                        let mut batch = emptied.try_recv().unwrap_or_default();
                        // Nothing left, or the user is gone (it stopped early).
                        if !make(&mut batch) || full.send(batch).is_err() {
                            return;
                        }
                    }
                });
        match spawned {
            Ok(_) => Ahead {
                source: Source::Thread {
                    full: to_use,
                    empty,
                },
            },
            // The thread, never started, left `make` where it was.
            Err(_) => {
                let make = slot.lock().ok().and_then(|mut m| m.take());
                Ahead::here(make.expect("an unstarted thread took the maker"))
            }
        }
    }

    /// Batches made here, as they are asked for.
    pub(crate) fn here(make: F) -> Ahead<B, F> {
        Ahead {
            source: Source::Here(make),
        }
    }

    /// The next batch, given `used` back to be filled again; `None` once there are no
    /// more.
    pub(crate) fn next(&mut self, used: B) -> Option<B> {
        match &mut self.source {
            Source::Thread { full, empty } => {
                // The maker may be done and gone: the batch is then dropped.
                let _ = empty.send(used);
                full.recv().ok()
            }
            Source::Here(make) => {
                let mut batch = used;
                make(&mut batch).then_some(batch)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting to 10 in batches of up to 3: the same batches on a thread of its own as
    /// made here, and a user that stops early stops the maker (the scope ends).
    #[test]
    fn batches_made_ahead_are_those_made_here() {
        fn counter() -> impl FnMut(&mut Vec<u32>) -> bool + Send {
            let mut n = 0;
            move |b: &mut Vec<u32>| {
                b.clear();
                b.extend((n..10).take(3));
                n = (n + 3).min(10);
                !b.is_empty()
            }
        }
        let drain = |a: &mut dyn FnMut(Vec<u32>) -> Option<Vec<u32>>| {
            let (mut out, mut used) = (Vec::new(), Vec::new());
            while let Some(b) = a(used) {
                out.push(b.clone());
                used = b;
            }
            out
        };
        let ahead = std::thread::scope(|s| {
            let mut a = Ahead::start(s, "test-ahead", 1, counter());
            drain(&mut |used| a.next(used))
        });
        let mut here = Ahead::here(counter());
        let here = drain(&mut |used| here.next(used));
        assert_eq!(
            ahead,
            [vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
        );
        assert_eq!(here, ahead);
        // Taking one batch of an endless maker, then leaving: the scope still ends.
        std::thread::scope(|s| {
            let mut a = Ahead::start(s, "test-ahead", 1, |b: &mut Vec<u32>| {
                b.push(1);
                true
            });
            assert!(a.next(Vec::new()).is_some());
        });
    }

    #[test]
    fn both_results_come_back_in_their_places() {
        let here = std::thread::current().id();
        let (a, b) = both(|| (1, std::thread::current().id()), || "b");
        assert_eq!(a.0, 1);
        assert_ne!(a.1, here, "`a` ran on a thread of its own");
        assert_eq!(b, "b");
    }

    #[test]
    #[should_panic(expected = "from a")]
    fn a_panic_on_the_second_thread_is_this_threads() {
        both(|| panic!("from a"), || ());
    }
}
