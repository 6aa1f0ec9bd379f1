//! The recorder handle users hold, and the shared state behind it.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::format::ring_codec::{self as codec, Kind};
use crate::format::{Dump, Reason};

use tokio::runtime::Builder as RuntimeBuilder;
use tracing::Subscriber;
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::registry::LookupSpan;

use super::builder::Builder;
use super::capture::{
    self, Capture, Keep, RecorderLayer, RecorderSubscriber, TokioOnly, UserHooks,
};
use super::dump::Dumper;

/// The flight recorder. Cheap to clone; all clones share one ring.
///
/// Install both halves:
/// - [`subscriber`](Self::subscriber) around your `tracing` subscriber (or
///   [`layer`](Self::layer) inside it): task spawns (with names and locations), wakes and
///   who woke, waker clones and drops, timers.
/// - [`instrument`](Self::instrument) on the runtime builder: polls, terminations, worker
///   park/unpark, thread start/stop, I/O readiness counts.
///
/// With only the layer, polls and terminations come from the task span's enter/exit/close
/// instead (slower, and the extra enter Tokio makes when it drops a finished future shows
/// as one more short poll); park/unpark and thread events are missing. With only the
/// hooks, spawns carry no names and wakes are missing. The dump header says which half was
/// installed, and the explorer warns about a missing one.
#[derive(Clone)]
pub struct FlightRecorder {
    pub(super) inner: Arc<Dumper>,
}

impl std::fmt::Debug for FlightRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightRecorder")
            .field("capacity", &self.inner.store().ring.capacity())
            .field("dump_path", &self.inner.dump_path)
            .finish()
    }
}

impl FlightRecorder {
    /// A [`Builder`] with the defaults: 65,536 records, the panic hook on, no signal,
    /// dumps in the temporary directory, the watchdog at 10 ms, CPU stats on; schedule
    /// latency, stack capture and the crash-surviving ring off.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The recorder's own `tracing` subscriber, wrapping yours: Tokio's instrumentation
    /// goes to the recorder and never reaches `inner`; everything else goes to `inner`
    /// unchanged. The way to install the recorder:
    ///
    /// ```no_run
    /// # let recorder = dial9_recorder::FlightRecorder::builder().build().unwrap();
    /// use tracing_subscriber::prelude::*;
    /// recorder
    ///     .subscriber(tracing_subscriber::registry().with(tracing_subscriber::fmt::layer()))
    ///     .init();
    /// ```
    ///
    /// See [`RecorderSubscriber`] for what `inner` sees.
    pub fn subscriber<S: Subscriber>(&self, inner: S) -> RecorderSubscriber<S> {
        RecorderSubscriber::new(self.capture(), self.keep(), inner)
    }

    /// The `tracing_subscriber` layer that captures Tokio's instrumentation, for a
    /// service that can only add a layer: slower than [`subscriber`](Self::subscriber)
    /// (Tokio's task spans then live in your registry).
    pub fn layer<S>(&self) -> Filtered<RecorderLayer, TokioOnly, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        capture::layer::filtered(self.capture(), self.keep())
    }

    /// Adds the recorder's runtime hooks to a Tokio runtime builder.
    ///
    /// This sets every thread and task hook on `builder`; use
    /// [`instrument_with`](Self::instrument_with) to keep hooks of your own.
    pub fn instrument<'b>(&self, builder: &'b mut RuntimeBuilder) -> &'b mut RuntimeBuilder {
        self.instrument_with(builder, UserHooks::default())
    }

    /// Like [`instrument`](Self::instrument), running `user`'s hooks after the recorder's.
    pub fn instrument_with<'b>(
        &self,
        builder: &'b mut RuntimeBuilder,
        user: UserHooks,
    ) -> &'b mut RuntimeBuilder {
        capture::hooks::install(self.capture(), self.keep(), builder, user)
    }

    /// Events the ring holds.
    pub fn capacity(&self) -> usize {
        self.inner.store().ring.capacity()
    }

    /// The crash-surviving ring file, when [`Builder::persist_ring`] is on.
    pub fn ring_path(&self) -> Option<&std::path::Path> {
        self.inner.store().persist.as_ref().map(|p| p.path())
    }

    /// Writes a dump now (reason: "requested") and returns its path. Fails when the file
    /// cannot be written (see [`Builder::dump_path`]).
    pub fn dump(&self) -> io::Result<PathBuf> {
        self.dump_labeled("dump() called")
    }

    /// Writes a dump with a label of your choosing as its reason.
    pub fn dump_labeled(&self, label: &str) -> io::Result<PathBuf> {
        let dump = self.inner.snapshot(
            Reason::Requested {
                label: label.to_string(),
            },
            true,
        );
        self.inner.write_dump(&dump)
    }

    /// The ring's current contents as an in-memory dump, without touching the disk.
    pub fn snapshot(&self) -> Dump {
        self.inner.snapshot(
            Reason::Requested {
                label: "snapshot".into(),
            },
            true,
        )
    }
}

impl FlightRecorder {
    /// The capture stage, for the hooks, the subscriber and the layer to record into.
    pub(crate) fn capture(&self) -> &Arc<Capture> {
        self.inner.capture()
    }

    /// What keeps the whole recorder alive while a hook, subscriber or layer lives.
    fn keep(&self) -> Keep {
        self.inner.clone()
    }
}

/// Entry points for the benchmarks in `benches/`; not part of the API.
#[doc(hidden)]
impl FlightRecorder {
    pub fn __bench_record_waker_op(&self, task: u64) {
        self.capture().store.record(Kind::WakerClone, 0, task, 0);
    }

    pub fn __bench_record_poll(&self, task: u64) {
        self.capture().poll_start(task);
        self.capture()
            .poll_end(task, super::capture::hooks::Ended::No);
    }

    /// The spawn hook with the subscriber or the layer installed: the task's hooked mark.
    pub fn __bench_spawn_hook(&self, task: u64) {
        let _ = self.capture().store.tasks.mark_hooked(task);
    }

    /// The before-poll hook.
    pub fn __bench_poll_start(&self, task: u64) {
        self.capture().poll_start(task);
    }

    /// The after-poll hook.
    pub fn __bench_poll_end(&self, task: u64) {
        self.capture().after_poll_hook(task);
    }

    /// The terminate hook, inside the task's poll or not.
    pub fn __bench_terminate_hook(&self, task: u64) {
        self.capture().terminate_hook(task);
    }

    /// A termination as the hooks record it outside the task's poll (the task table, the
    /// event).
    pub fn __bench_terminate(&self, task: u64) {
        self.capture().store.terminate(task);
    }

    pub fn __bench_fill(&self, events: usize) {
        for i in 0..events as u64 {
            self.capture()
                .store
                .record(Kind::Wake, codec::F_SRC_TASK, i % 1000 + 1, i % 7 + 1);
        }
    }
}
