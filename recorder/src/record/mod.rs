//! The capture side. What each module holds:
//!
//! - [`builder`]: configuration, [`BuildError`], and building a recorder;
//! - [`recorder`]: the [`FlightRecorder`] handle and the state it shares (`Inner`);
//! - [`record_path`]: one event onto the calling thread's lane of the [`ring`];
//! - [`layer`] and [`hooks`]: where events come from (Tokio's `tracing` instrumentation
//!   and its runtime hooks);
//! - [`lanes`], [`tasks`], [`span_tasks`]: per-thread lanes, the task table, span -> task
//!   ([`prefetch`]: fetching their lines ahead of a spawn);
//! - [`snapshot`] and [`dump_file`]: the ring read into a dump, written atomically;
//! - [`triggers`]: panic hook and signal thread; [`persist`]: the crash-surviving ring file;
//! - [`identity`]: program and host names, wall-clock time.

mod builder;
mod cpu_stat;
mod diag;
mod dump_file;
mod hooks;
mod identity;
mod instrumentation;
mod lanes;
mod layer;
mod persist;
mod prefetch;
mod record_path;
mod recorder;
mod ring;
mod snapshot;
mod span_tasks;
mod stacks;
mod subscriber;
mod symbolize;
mod tasks;
mod triggers;
mod watchdog;

pub use builder::{BuildError, Builder, MAX_CAPACITY, MIN_CAPACITY};
pub use hooks::UserHooks;
pub use layer::{RecorderLayer, TokioOnly};
pub use recorder::FlightRecorder;
pub use subscriber::RecorderSubscriber;

pub(crate) use identity::host_name;
pub(crate) use record_path::{current_task, task_id_u64};
pub(crate) use recorder::Inner;

#[cfg(test)]
mod tests {
    use super::ring::BLOCK_EVENTS;
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
        let held = r.inner.lanes.hold();
        let inner = r.inner.clone();
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            struct RecordsOnDrop(std::sync::Arc<Inner>, mpsc::Sender<()>);
            impl Drop for RecordsOnDrop {
                fn drop(&mut self) {
                    self.0
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
