//! The recorder, in stages, each a folder whose imports point only down:
//!
//! ```text
//!   recorder, builder     the handle users hold, and building one
//!         |
//!   dump                  a snapshot of the ring and the tables, written to a file;
//!         |               what triggers one (panic, signal), naming code addresses
//!   watch                 the long-poll watchdog and the stacks it captures
//!         |
//!   capture               where events come from: Tokio's runtime hooks, its tracing
//!         |               instrumentation (the recorder's subscriber, or its layer)
//!   store                 the ring, the lanes, the task table, the crash-surviving ring
//!                         file, and the record path onto them
//! ```
//!
//! Each stage's state is a struct that holds the one below: a [`dump::Dumper`] holds the
//! [`watch::Watch`], which holds the [`capture::Capture`], which holds the
//! [`store::Store`]. [`diag`] (messages to stderr) is used by all.

mod builder;
mod capture;
mod diag;
mod dump;
mod recorder;
mod store;
mod watch;

pub use builder::{BuildError, Builder, MAX_CAPACITY, MIN_CAPACITY};
pub use capture::{RecorderLayer, RecorderSubscriber, TokioOnly, UserHooks};
pub use recorder::FlightRecorder;

#[cfg(test)]
mod tests {
    use super::store::ring::BLOCK_EVENTS;
    use super::store::task_id_u64;
    use super::*;

    #[test]
    fn task_id_matches_display() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ids = rt.block_on(async {
            let mut ids = Vec::new();
            for _ in 0..5 {
                let h = tokio::spawn(async {});
                ids.push(h.id());
                h.await.unwrap();
            }
            ids
        });
        for id in ids {
            assert_eq!(task_id_u64(id).to_string(), id.to_string());
        }
    }

    #[test]
    fn capacity_bounds_are_errors() {
        assert!(matches!(
            FlightRecorder::builder()
                .capacity(1)
                .install_panic_hook(false)
                .build(),
            Err(BuildError::Capacity(1))
        ));
        let r = FlightRecorder::builder()
            .capacity(MIN_CAPACITY + 1)
            .install_panic_hook(false)
            .build()
            .unwrap();
        assert_eq!(r.capacity(), MIN_CAPACITY + BLOCK_EVENTS);
    }

    /// A thread that is panicking (here a `Drop` during unwinding) and has no lane yet
    /// records without waiting for the lane list's lock: it may be what holds it. The
    /// record is lost, the thread is not.
    #[test]
    fn a_panicking_thread_never_waits_for_the_lane_list() {
        use std::sync::mpsc;
        let r = FlightRecorder::builder()
            .install_panic_hook(false)
            .build()
            .unwrap();
        let store = r.capture();
        let held = store.store.lanes.hold();
        let inner = store.clone();
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            struct RecordsOnDrop(std::sync::Arc<capture::Capture>, mpsc::Sender<()>);
            impl Drop for RecordsOnDrop {
                fn drop(&mut self) {
                    self.0
                        .store
                        .record(crate::format::ring_codec::Kind::Park, 0, 0, 0);
                    let _ = self.1.send(());
                }
            }
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _g = RecordsOnDrop(inner, tx);
                panic!("planted: unwinding with the lane list's lock taken elsewhere");
            }));
        });
        let answered = rx.recv_timeout(std::time::Duration::from_secs(10));
        drop(held);
        t.join().unwrap();
        assert!(answered.is_ok(), "the unwinding thread waited for the lock");
    }

    #[test]
    fn bad_signal_is_a_build_error() {
        let err = FlightRecorder::builder()
            .install_panic_hook(false)
            .dump_on_signal(libc::SIGKILL)
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::Signal { .. }), "{err}");
    }
}
