//! # dial9-recorder
//!
//! A flight recorder for Tokio. It keeps the last N runtime events (spawns, polls, wakes
//! and who woke, waker clones and drops, terminations, worker park/unpark, timers) in a
//! fixed-size in-memory ring, at a small constant cost per event and no I/O. On a panic, a
//! Unix signal or a call to [`FlightRecorder::dump`] it writes them to a dump file, which
//! the `dial9-tui` explorer opens to show why a task was slow, stuck or never woken.
//!
//! ## Setup
//!
//! Two things outside your code:
//!
//! - **`--cfg tokio_unstable`**: Tokio's task spans, waker events and runtime hooks exist
//!   only with it. Add it to `.cargo/config.toml`:
//!   ```toml
//!   [build]
//!   rustflags = ["--cfg", "tokio_unstable"]
//!   rustdocflags = ["--cfg", "tokio_unstable"]   # doc tests and `cargo doc` too
//!   ```
//!   A `RUSTFLAGS` environment variable replaces the config's rustflags (many CI setups
//!   set one): add the cfg there too. Without it this crate fails to build, with one error
//!   that says what to add.
//! - **Tokio's `tracing` feature**, which emits that instrumentation. dial9-recorder's own
//!   dependency on tokio switches it on.
//!
//! Then, at the top of `main`: build a recorder, wrap your `tracing` subscriber in it, and
//! add its hooks to the runtime builder (`recorder/examples/setup.rs` is the whole
//! program). Besides this crate and tokio, it uses `tracing-subscriber` (features
//! `registry`, `fmt`, `env-filter`) and `libc`:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use dial9_recorder::format::EventKind;
//! use tracing_subscriber::prelude::*;
//!
//! // Where dumps go, e.g. "/var/log/myservice/tokio-flight-{pid}-{time}.bin".
//! let dump_path = std::env::temp_dir().join("tokio-flight-{pid}-{time}.bin");
//! let recorder = dial9_recorder::FlightRecorder::builder()
//!     .capacity(65_536) // records kept (61-97 bytes each, ring and task table), allocated up front
//!     .install_panic_hook(true) // dump before the previous hook runs, then chain to it
//!     .dump_on_signal(libc::SIGUSR1) // optional; dump and keep running
//!     .dump_path(dump_path.to_string_lossy())
//!     .build()?;
//! // Your subscriber, as it was: the recorder wraps it and takes Tokio's instrumentation,
//! // which your layers and filters then never see.
//! recorder
//!     .subscriber(
//!         tracing_subscriber::registry()
//!             .with(tracing_subscriber::EnvFilter::new("info"))
//!             .with(tracing_subscriber::fmt::layer()),
//!     )
//!     .init();
//! let rt = recorder
//!     .instrument(tokio::runtime::Builder::new_multi_thread().enable_all())
//!     .build()?;
//!
//! // The service runs as before.
//! rt.block_on(async { tokio::spawn(async { tokio::task::yield_now().await }).await })?;
//!
//! // Later, anywhere: a dump written now, then read back as the explorer reads it.
//! let path = recorder.dump()?;
//! let dump = dial9_recorder::Dump::read(&path)?;
//! assert!(dump.header.hooks_installed && dump.header.layer_installed);
//! assert!(dump.events.iter().any(|e| matches!(e.kind, EventKind::PollEnd { .. })));
//! # std::fs::remove_file(&path)?;
//! # Ok(()) }
//! ```
//!
//! [`FlightRecorder::snapshot`] gives the same [`Dump`] in memory, without touching the
//! disk. Each option of the [`Builder`] says what it costs and when it helps:
//! [`Builder::capacity`] (how much history, and its memory), the triggers
//! ([`Builder::install_panic_hook`], [`Builder::dump_on_signal`]), [`Builder::dump_path`],
//! the long-poll [`Builder::watchdog`] and its [`Builder::stacks`], and the crash-surviving
//! ring ([`Builder::persist_ring`]).
//!
//! ## Both halves
//!
//! [`FlightRecorder::subscriber`] reads Tokio's `tracing` instrumentation: spawns with
//! names, kinds and locations, wakes and who woke, waker clones and drops, `Sleep` timers.
//! [`FlightRecorder::instrument`] adds runtime hooks: polls, terminations, worker
//! park/unpark, thread start/stop. Install both: with one missing the dump says so
//! ([`format::Header::hooks_installed`], [`format::Header::layer_installed`]) and has less
//! to tell. A service that can only add a layer to its subscriber uses
//! [`FlightRecorder::layer`]; one with runtime hooks of its own passes them through
//! [`FlightRecorder::instrument_with`].
//!
//! ## How it works
//!
//! Tokio's runtime hooks and its `tracing` instrumentation (read by the recorder's own
//! subscriber, or its layer) -> the record path packs each event into a slot of the
//! calling thread's block of the ring -> on a panic, a signal or
//! [`FlightRecorder::dump`], a snapshot of the ring and the task table becomes a [`Dump`]
//! -> written as a dump file by [`dial9_format`] (re-exported as [`format`](mod@format)),
//! which `dial9-tui` reads into its index. With [`Builder::persist_ring`] the ring itself
//! lives in a file that `dial9-tui` reads after the process died.

#![warn(missing_docs)]

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
