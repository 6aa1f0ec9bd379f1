//! Capture: where events come from, and the thread-local bookkeeping that turns them
//! into records. Two sources, often both: Tokio's runtime [`hooks`] (polls, spawns,
//! terminations, park/unpark, thread start/stop) and its `tracing` instrumentation
//! (task spans with names and locations, waker ops, `Sleep` deadlines), read either by
//! the recorder's own [`subscriber`] or, for a service that can only add one, by its
//! [`layer`]; [`instrumentation`] is what both know of Tokio's callsites. The
//! [`cpu_stat`] sampler says how much of a long poll or a park the thread spent on a
//! CPU.
//!
//! Capture writes into the store below it and reads nothing above it. Its types are
//! held by Tokio (hooks) and by the tracing dispatcher (subscriber, layer), so each also
//! holds a [`Keep`]: the whole recorder stays alive, and a panic still dumps, while any
//! of them records, even after the user's [`FlightRecorder`](super::FlightRecorder)
//! handle is gone.

pub(crate) mod cpu_stat;
pub(crate) mod hooks;
pub(crate) mod instrumentation;
pub(crate) mod layer;
mod span_tasks;
pub(crate) mod subscriber;

pub use hooks::UserHooks;
pub use layer::{RecorderLayer, TokioOnly};
pub use subscriber::RecorderSubscriber;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::store::Store;

/// Keeps the recorder alive (its dump side, which capture cannot name) for as long as a
/// hook, subscriber or layer holding it lives.
pub(crate) type Keep = Arc<dyn std::any::Any + Send + Sync>;

/// The capture stage's state: the store it writes, its settings, and which sources are
/// installed.
pub(crate) struct Capture {
    pub(crate) store: Store,
    /// `Builder::schedule_latency`.
    pub(crate) schedule_latency: bool,
    /// `Builder::cpu_stats`.
    pub(crate) cpu_stats: bool,
    /// A poll at least this long (raw clock ticks, 1 ms) gets a CPU sample at its end.
    pub(crate) long_poll_raw: u64,
    /// A poll's end carries its own waker ops (and, unless `write_starts`, its start).
    pub(crate) fold: bool,
    /// Each poll's start is written: a crash-surviving ring keeps no lane states to read
    /// a running poll from.
    pub(crate) write_starts: bool,
    /// The runtime hooks were installed on some runtime.
    pub(crate) hooks_installed: AtomicBool,
    /// Tokio's tracing instrumentation is read (the subscriber or the layer installed).
    pub(crate) layer_installed: AtomicBool,
}
