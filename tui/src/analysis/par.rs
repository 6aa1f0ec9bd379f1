//! Two pieces of the index's work at once. The machines it runs on have a couple of
//! cores; once the events are read, the reader's core would otherwise sit idle while the
//! rules, the sorts and the rankings run one after another.

use std::sync::Mutex;

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

#[cfg(test)]
mod tests {
    use super::*;

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
