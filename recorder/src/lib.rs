//! # dial9-recorder
//!
//! A flight recorder for Tokio: it keeps the last N runtime events (spawns, polls, wakes and
//! who woke, waker clones and drops, terminations, worker park/unpark, timers) in a
//! fixed-size in-memory ring, at a small constant cost per event and no I/O, and writes them
//! to a dump file on a panic, a Unix signal or a call to [`FlightRecorder::dump`].
//!
//! ```no_run
//! # #[cfg(feature = "record")] fn main() -> Result<(), Box<dyn std::error::Error>> {
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
//! # #[cfg(not(feature = "record"))] fn main() {}
//! ```
//!
//! Build with `--cfg tokio_unstable` (see the workspace `.cargo/config.toml`): without it
//! Tokio emits no instrumentation and has no task hooks.
//!
//! The [`format`] module (dump types, reader, writer) is available without the default
//! `record` feature.

pub mod format;
#[cfg(feature = "record")]
mod record;

pub use format::{Dump, ReadError};
#[cfg(feature = "record")]
pub use record::{
    BuildError, Builder, FlightRecorder, MAX_CAPACITY, MIN_CAPACITY, RecorderLayer, TokioOnly,
    UserHooks,
};
