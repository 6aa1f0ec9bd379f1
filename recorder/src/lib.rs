//! # dial9-recorder
//!
//! A flight recorder for Tokio: it keeps the last N runtime events (spawns, polls, wakes and
//! who woke, waker clones and drops, terminations, worker park/unpark, timers) in a
//! fixed-size in-memory ring, at a small constant cost per event and no I/O, and writes them
//! to a dump file on a panic, a Unix signal or a call to [`FlightRecorder::dump`].
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tracing_subscriber::prelude::*;
//! let recorder = dial9_recorder::FlightRecorder::builder()
//!     .capacity(65_536)
//!     .install_panic_hook(true)
//!     .dump_on_signal(libc::SIGUSR1)
//!     .dump_path("/tmp/tokio-flight-{pid}-{time}.bin")
//!     .build()?;
//! tracing_subscriber::registry().with(recorder.layer()).init();
//! let rt = recorder
//!     .instrument(tokio::runtime::Builder::new_multi_thread().enable_all())
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! Build with `--cfg tokio_unstable` (see the workspace `.cargo/config.toml`): without it
//! Tokio emits no instrumentation and has no task hooks.
//!
//! Data flow: Tokio's runtime hooks and its `tracing` instrumentation (read by the
//! recorder's own subscriber, or its layer) -> the record path packs each event into a
//! slot of the calling thread's block of the ring -> on a panic, a signal or
//! [`FlightRecorder::dump`], a snapshot of the ring and the task table becomes a [`Dump`]
//! -> written as a dump file by [`dial9_format`] (re-exported as [`format`]), which
//! `dial9-tui` reads into its index. With `persist_ring` the ring itself lives in a file
//! that `dial9-tui` reads after the process died.

/// The dump format crate, [`dial9_format`].
pub use dial9_format as format;
#[cfg(tokio_unstable)]
mod record;

// Tokio's task hooks and its task spans exist only with this cfg: without it, the build
// would fail with a handful of errors inside this crate that do not name the cause.
#[cfg(not(tokio_unstable))]
compile_error!(
    "dial9-recorder needs Tokio's unstable instrumentation: build with `--cfg tokio_unstable`. \
     Add to .cargo/config.toml: [build] rustflags = [\"--cfg\", \"tokio_unstable\"] \
     (note: a RUSTFLAGS environment variable replaces the config's rustflags; add \
     `--cfg tokio_unstable` to it too)"
);

pub use format::{Dump, ReadError};
#[cfg(tokio_unstable)]
pub use record::{
    BuildError, Builder, FlightRecorder, MAX_CAPACITY, MIN_CAPACITY, RecorderLayer,
    RecorderSubscriber, TokioOnly, UserHooks,
};
