//! Configuring and building a recorder: capacity, triggers, dump path, crash-surviving ring.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::format::ClockAnchor;

use super::capture::Capture;
use super::dump::{Dumper, triggers};
use super::recorder::FlightRecorder;
use super::store::identity::{program_name, unix_now_ns};
use super::store::lanes::Lanes;
use super::store::ring::{BLOCK_EVENTS, Ring};
use super::store::tasks::TaskTable;
use super::store::{Store, ring_file};
use super::watch::{Watch, stacks, watchdog};

/// Smallest ring: a few blocks, so that a handful of threads do not evict each other's
/// only block on every claim.
pub const MIN_CAPACITY: usize = 16 * BLOCK_EVENTS;
/// Largest ring: 2^28 records (6.25 GiB at 25 bytes a record, block headers included).
pub const MAX_CAPACITY: usize = 1 << 28;

static NEXT_RECORDER_ID: AtomicU64 = AtomicU64::new(1);

/// Configures a [`FlightRecorder`]: from [`FlightRecorder::builder`], then
/// [`build`](Builder::build). Every option has a default (listed at
/// [`FlightRecorder::builder`]).
///
/// ```
/// # fn main() -> Result<(), dial9_recorder::BuildError> {
/// let recorder = dial9_recorder::FlightRecorder::builder()
///     .capacity(65_536)
///     .dump_on_signal(libc::SIGUSR1)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    capacity: usize,
    panic_hook: bool,
    signals: Vec<i32>,
    dump_path: String,
    persist_dir: Option<PathBuf>,
    schedule_latency: bool,
    cpu_stats: bool,
    fold: bool,
    watchdog: Option<Duration>,
    stacks: bool,
}

/// Why [`Builder::build`] failed.
#[derive(Debug)]
pub enum BuildError {
    /// The capacity is outside [`MIN_CAPACITY`]..=[`MAX_CAPACITY`].
    Capacity(usize),
    /// The ring could not be allocated.
    OutOfMemory(usize),
    /// The signal handler could not be registered (e.g. SIGKILL, SIGSEGV).
    Signal {
        /// The signal given to [`Builder::dump_on_signal`].
        signal: i32,
        /// Why it could not be registered.
        source: io::Error,
    },
    /// The crash-surviving ring file could not be created, allocated, locked or mapped.
    Persist(io::Error),
    /// Stack capture was asked for where it cannot work (not Linux on x86_64 or aarch64,
    /// the watchdog off) or its signal handler could not be installed.
    Stacks(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Capacity(c) => write!(
                f,
                "capacity {c} is out of range ({MIN_CAPACITY}..={MAX_CAPACITY} events)"
            ),
            BuildError::OutOfMemory(c) => write!(f, "cannot allocate a ring of {c} events"),
            BuildError::Signal { signal, source } => {
                write!(f, "cannot dump on signal {signal}: {source}")
            }
            BuildError::Persist(e) => write!(f, "crash-surviving ring: {e}"),
            BuildError::Stacks(e) => write!(f, "stack capture: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            capacity: 65_536,
            panic_hook: true,
            signals: Vec::new(),
            dump_path: std::env::temp_dir()
                .join("dial9-{program}-{pid}-{time}.bin")
                .to_string_lossy()
                .into_owned(),
            persist_dir: None,
            schedule_latency: false,
            cpu_stats: true,
            fold: true,
            watchdog: Some(Duration::from_millis(10)),
            stacks: false,
        }
    }
}

impl Builder {
    /// One record per event, as before a poll's end carried its start and own waker ops:
    /// the baseline the validation harness measures the window against. Not part of the
    /// API.
    #[doc(hidden)]
    pub fn __unfolded(mut self) -> Self {
        self.fold = false;
        self
    }

    /// Records kept (rounded up to a multiple of 64). The ring takes 25 bytes per record
    /// (a 24-byte slot and its share of a block header) and the task table 36-72 more (a
    /// 48-byte slot, with its task's live wakers and span handles, per three quarters of a
    /// record, rounded up to a power of two, at most 96 MiB), both allocated and touched by
    /// `build`. Default 65,536 (1.6 MiB of ring, 3 MiB of task table). A record is one
    /// event, except that a poll's end also carries the poll's start, the task's own waker
    /// clones and drops inside it, and the task's end if the poll completed it: a poll
    /// takes one record.
    ///
    /// [`build`](Self::build) returns [`BuildError::Capacity`] outside
    /// [`MIN_CAPACITY`]..=[`MAX_CAPACITY`].
    ///
    /// ```
    /// # fn main() -> Result<(), dial9_recorder::BuildError> {
    /// use dial9_recorder::{BuildError, FlightRecorder};
    ///
    /// let recorder = FlightRecorder::builder().capacity(10_000).build()?;
    /// assert_eq!(recorder.capacity(), 10_048); // 157 blocks of 64
    ///
    /// let too_small = FlightRecorder::builder().capacity(100).build();
    /// assert!(matches!(too_small, Err(BuildError::Capacity(100))));
    /// # Ok(()) }
    /// ```
    pub fn capacity(mut self, events: usize) -> Self {
        self.capacity = events;
        self
    }

    /// Dump when any thread panics, before the previously installed hook runs (which then
    /// runs as usual, so the panic message and exit status are unchanged). Only the first
    /// panic dumps; a concurrent panic does not wait for its dump. If the dump cannot be
    /// written, the hook prints one line to stderr and carries on. Default on.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use dial9_recorder::{Dump, FlightRecorder, format::Reason};
    ///
    /// let dir = std::env::temp_dir().join(format!("dial9-doc-panic-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// std::fs::create_dir_all(&dir)?;
    /// let _recorder = FlightRecorder::builder()
    ///     .install_panic_hook(true)
    ///     .dump_path(dir.join("{program}-{time}.bin").to_string_lossy())
    ///     .build()?;
    ///
    /// let _ = std::panic::catch_unwind(|| panic!("boom"));
    ///
    /// // The hook wrote the dump before the panic went on.
    /// let path = std::fs::read_dir(&dir)?.next().expect("a dump")?.path();
    /// let dump = Dump::read(&path)?;
    /// assert!(matches!(&dump.header.reason, Reason::Panic { message, .. } if message == "boom"));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn install_panic_hook(mut self, on: bool) -> Self {
        self.panic_hook = on;
        self
    }

    /// Dump whenever the process receives `signal` (e.g. `libc::SIGUSR1`), and keep
    /// running. The dump is written by a dedicated thread (`dial9-signal`), not in the
    /// signal handler. Call it once per signal to dump on several. A signal that cannot
    /// be handled (SIGKILL, SIGSTOP, SIGSEGV, SIGILL, SIGFPE) makes
    /// [`build`](Self::build) return [`BuildError::Signal`]: a recorder that would never
    /// dump is worse than an error.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use dial9_recorder::{BuildError, Dump, FlightRecorder, format::Reason};
    ///
    /// let dir = std::env::temp_dir().join(format!("dial9-doc-signal-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// std::fs::create_dir_all(&dir)?;
    /// let recorder = FlightRecorder::builder()
    ///     .dump_on_signal(libc::SIGUSR1)
    ///     .dump_path(dir.join("{pid}-{time}.bin").to_string_lossy())
    ///     .build()?;
    ///
    /// // What `kill -USR1 <pid>` does from outside; the process carries on.
    /// unsafe { libc::raise(libc::SIGUSR1) };
    ///
    /// // The dump thread writes the dump soon after.
    /// let mut found = None;
    /// for _ in 0..3000 {
    ///     found = std::fs::read_dir(&dir)?
    ///         .filter_map(|entry| Some(entry.ok()?.path()))
    ///         .find(|path| path.extension().is_some_and(|ext| ext == "bin"));
    ///     if found.is_some() {
    ///         break;
    ///     }
    ///     std::thread::sleep(std::time::Duration::from_millis(10));
    /// }
    /// let dump = Dump::read(found.expect("a dump within 30 s"))?;
    /// assert!(matches!(&dump.header.reason, Reason::Signal { name, .. } if name == "SIGUSR1"));
    ///
    /// let refused = FlightRecorder::builder().dump_on_signal(libc::SIGKILL).build();
    /// assert!(matches!(refused, Err(BuildError::Signal { signal: libc::SIGKILL, .. })));
    /// # drop(recorder);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn dump_on_signal(mut self, signal: i32) -> Self {
        self.signals.push(signal);
        self
    }

    /// Where dumps go. `{pid}`, `{time}` (UTC, millisecond precision, e.g.
    /// `20261126T222626.123Z`) and `{program}` (the executable's name) are replaced at
    /// each dump. Default `$TMPDIR/dial9-{program}-{pid}-{time}.bin`.
    ///
    /// A dump is written atomically (a temporary file in the same directory, fsync,
    /// rename), mode 0600, never over an existing file or through a symlink (`-1`, `-2`,
    /// ... is added before the extension instead); its path goes to stderr as one line.
    /// Nothing checks the path at [`build`](Self::build): its directory must exist when a
    /// dump is written, else [`FlightRecorder::dump`] returns the error.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let template = std::env::temp_dir().join("myservice-{pid}-{time}.bin");
    /// let recorder = dial9_recorder::FlightRecorder::builder()
    ///     .dump_path(template.to_string_lossy())
    ///     .build()?;
    ///
    /// let path = recorder.dump()?;
    /// let name = path.file_name().unwrap().to_string_lossy();
    /// assert!(name.starts_with(&format!("myservice-{}-", std::process::id())));
    /// assert!(name.ends_with("Z.bin"));
    /// # std::fs::remove_file(&path)?;
    /// # Ok(()) }
    /// ```
    pub fn dump_path(mut self, template: impl Into<String>) -> Self {
        self.dump_path = template.into();
        self
    }

    /// Keep the ring in a shared file mapping in `dir` (`dir/dial9-PROGRAM-PID-RANDOM.ring`), so
    /// its last events can be read back after the process dies in a way no hook sees:
    /// SIGKILL (the OOM killer), `abort()`, a stack overflow. The file is preallocated and
    /// prefaulted by `build` (a full filesystem fails there, never later), locked while the
    /// process lives, and removed when the recorder is dropped. `dial9-tui` opens it like
    /// a dump. Prefer tmpfs (see [`Builder::persist_ring_default`]). Linux and macOS only:
    /// elsewhere `build` returns [`BuildError::Persist`] saying so.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use dial9_recorder::{Dump, FlightRecorder, format::Reason};
    ///
    /// let dir = std::env::temp_dir().join(format!("dial9-doc-ring-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let recorder = FlightRecorder::builder().persist_ring(&dir).build()?;
    /// let ring = recorder.ring_path().expect("a ring file").to_path_buf();
    ///
    /// // What the explorer reads after a crash; while the process lives, a live snapshot.
    /// let dump = Dump::read(&ring)?;
    /// assert!(matches!(dump.header.reason, Reason::Recovered { writer_alive: true, .. }));
    ///
    /// drop(recorder); // a clean shutdown removes the file
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn persist_ring(mut self, dir: impl Into<PathBuf>) -> Self {
        self.persist_dir = Some(dir.into());
        self
    }

    /// [`persist_ring`](Self::persist_ring) in `/dev/shm` (tmpfs) where it exists, else
    /// the temporary directory. A disk-backed mapping would stall recording threads with
    /// page faults after each writeback; tmpfs never writes back. The file survives the
    /// process's death, not a reboot.
    ///
    /// ```
    /// # fn main() -> Result<(), dial9_recorder::BuildError> {
    /// let recorder = dial9_recorder::FlightRecorder::builder()
    ///     .persist_ring_default()
    ///     .build()?;
    /// let ring = recorder.ring_path().expect("a ring file");
    /// assert!(ring.extension().is_some_and(|ext| ext == "ring"));
    /// # Ok(()) }
    /// ```
    pub fn persist_ring_default(self) -> Self {
        self.persist_ring(ring_file::default_dir())
    }

    /// Have Tokio measure, for every poll, how long the task waited since it was scheduled
    /// (`track_task_schedule_latency`), recorded as a `scheduled` event before the poll.
    /// This gives scheduling delays even without the tracing layer (hooks-only mode), at
    /// the cost of a clock read in Tokio per schedule and per poll. Default off; takes
    /// effect through [`FlightRecorder::instrument`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use dial9_recorder::{FlightRecorder, format::EventKind};
    ///
    /// let recorder = FlightRecorder::builder().schedule_latency(true).build()?;
    /// let rt = recorder
    ///     .instrument(&mut tokio::runtime::Builder::new_multi_thread())
    ///     .build()?;
    /// rt.block_on(rt.spawn(async {}))?;
    ///
    /// let events = recorder.snapshot().events;
    /// assert!(events.iter().any(|e| matches!(e.kind, EventKind::Scheduled { .. })));
    /// # Ok(()) }
    /// ```
    pub fn schedule_latency(mut self, on: bool) -> Self {
        self.schedule_latency = on;
        self
    }

    /// Sample each worker thread's CPU time and run-queue wait (Linux schedstat, no
    /// privileges) when it parks and at the end of polls over 1 ms, so the analysis can
    /// tell the host taking threads off the CPU (host contention) from slow code. About a
    /// microsecond per sample; default on (nothing measurable on ping-pong and a TCP
    /// echo, within the noise on a park-heavy spawn storm). Elsewhere than Linux it
    /// records nothing.
    ///
    /// ```
    /// # fn main() -> Result<(), dial9_recorder::BuildError> {
    /// // A service that parks very often, and runs on a host of its own.
    /// let recorder = dial9_recorder::FlightRecorder::builder()
    ///     .cpu_stats(false)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn cpu_stats(mut self, on: bool) -> Self {
        self.cpu_stats = on;
        self
    }

    /// The long-poll watchdog (Linux): a thread that looks at every poll running longer
    /// than `threshold` (default 10 ms, the long-poll warning) while it runs, and records
    /// what the kernel says of its thread: running, blocked (in which system call: a
    /// `clock_nanosleep` is a `std::thread::sleep`, a `futex` a lock), or runnable and
    /// waiting for a CPU; no privileges needed. It wakes every `threshold / 5` and reads
    /// only lane states until a poll runs long. `None` turns it off. Its looks are
    /// [`EventKind::PollSample`](crate::format::EventKind::PollSample) events. If its
    /// thread cannot start, [`build`](Self::build) prints one line and the recorder runs
    /// without it.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use dial9_recorder::{FlightRecorder, format::EventKind};
    ///
    /// let recorder = FlightRecorder::builder()
    ///     .watchdog(Some(Duration::from_millis(20)))
    ///     .build()?;
    /// let rt = recorder
    ///     .instrument(&mut tokio::runtime::Builder::new_multi_thread())
    ///     .build()?;
    /// // A poll that blocks its worker for 200 ms: what the watchdog is for.
    /// rt.block_on(rt.spawn(async { std::thread::sleep(Duration::from_millis(200)) }))?;
    ///
    /// let events = recorder.snapshot().events;
    /// let looked = events.iter().any(|e| matches!(e.kind, EventKind::PollSample { .. }));
    /// assert_eq!(looked, cfg!(target_os = "linux"));
    /// # Ok(()) }
    /// ```
    pub fn watchdog(mut self, threshold: Option<Duration>) -> Self {
        self.watchdog = threshold;
        self
    }

    /// Also capture the stack of a thread stuck in a long poll (Linux on x86_64 and
    /// aarch64; needs the watchdog): where in the code it is stuck, as `function at
    /// file:line`. The watchdog sends the worker a real-time signal (`SIGRTMIN+7`) whose
    /// handler copies its registers and the top of its stack; the walk follows frame
    /// pointers, so build with `-C force-frame-pointers=yes` (std has them), and with line
    /// tables (`debug = "line-tables-only"`) for file:line. A blocking call the signal
    /// interrupts is restarted, or returns `EINTR` where Linux does not restart it (a sleep
    /// or futex wait with a timeout, which std retries; a socket read with a timeout, which
    /// std hands to the caller as `Interrupted`); a thread in `poll`, `select`,
    /// `epoll_wait` and the like is never signalled. Off by default.
    ///
    /// The stacks are named (symbolized) at the dump, into
    /// [`Facts::stacks`](crate::format::Facts::stacks). Asked for where it cannot work,
    /// [`build`](Self::build) returns [`BuildError::Stacks`].
    ///
    /// ```
    /// # fn main() -> Result<(), dial9_recorder::BuildError> {
    /// use dial9_recorder::{BuildError, FlightRecorder};
    ///
    /// if cfg!(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))) {
    ///     let recorder = FlightRecorder::builder().stacks(true).build()?;
    /// }
    /// // The watchdog is what finds the stuck thread: without it, no stacks.
    /// let refused = FlightRecorder::builder().stacks(true).watchdog(None).build();
    /// assert!(matches!(refused, Err(BuildError::Stacks(_))));
    /// # Ok(()) }
    /// ```
    pub fn stacks(mut self, on: bool) -> Self {
        self.stacks = on;
        self
    }

    /// Builds the recorder: allocates and touches the ring and the task table (or maps
    /// the crash-surviving ring file), registers the signals and the panic hook, and
    /// starts the watchdog's thread.
    ///
    /// # Errors
    ///
    /// - [`BuildError::Capacity`]: the capacity is out of range.
    /// - [`BuildError::OutOfMemory`]: the ring could not be allocated.
    /// - [`BuildError::Signal`]: a signal of [`dump_on_signal`](Self::dump_on_signal)
    ///   cannot be handled.
    /// - [`BuildError::Persist`]: the ring file of [`persist_ring`](Self::persist_ring)
    ///   could not be set up.
    /// - [`BuildError::Stacks`]: [`stacks`](Self::stacks) cannot work here.
    pub fn build(self) -> Result<FlightRecorder, BuildError> {
        if self.stacks {
            if self.watchdog.is_none() {
                return Err(BuildError::Stacks("it needs the watchdog".into()));
            }
            stacks::install().map_err(BuildError::Stacks)?;
        }
        if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(BuildError::Capacity(self.capacity));
        }
        let store = self.store()?;
        // Raw clock ticks in a millisecond: a long poll gets a CPU sample at its end.
        let ms_raw = store.ns_to_raw(Duration::from_millis(1));
        let write_starts = store.mapped || !self.fold;
        let capture = Arc::new(Capture {
            store,
            schedule_latency: self.schedule_latency,
            cpu_stats: self.cpu_stats,
            long_poll_raw: ms_raw,
            fold: self.fold,
            write_starts,
            hooks_installed: AtomicBool::new(false),
            layer_installed: AtomicBool::new(false),
        });
        let watch = Arc::new(Watch {
            capture,
            stacks: self.stacks.then(stacks::Stacks::default),
            watchdog: self
                .watchdog
                .filter(|_| cfg!(target_os = "linux"))
                .map(|t| watchdog::Watchdog::new(watchdog::Settings::for_threshold(t))),
        });
        let inner = Arc::new(Dumper {
            watch,
            dump_path: self.dump_path,
            panic_dumped: AtomicBool::new(false),
            signal_handle: std::sync::Mutex::new(None),
        });
        if !self.signals.is_empty() {
            triggers::dump_on_signals(&inner, &self.signals).map_err(|e| BuildError::Signal {
                signal: e.signal,
                source: e.source,
            })?;
        }
        if self.panic_hook {
            triggers::install_panic_hook(&inner);
        }
        if let Err(e) = watchdog::start(&inner.watch) {
            super::diag::say!("no long-poll watchdog: could not start its thread: {e}");
        }
        Ok(FlightRecorder { inner })
    }

    /// The store: the clock, the ring (on the heap, or in the crash-surviving file), the
    /// lanes and the task table.
    fn store(&self) -> Result<Store, BuildError> {
        let clock = quanta::Clock::new();
        let start_raw = clock.raw();
        let unix_ns = unix_now_ns();
        let ns_per_raw = {
            let big = 1u64 << 40;
            clock.delta_as_nanos(0, big) as f64 / big as f64
        };
        let (mut ring, persist) = match &self.persist_dir {
            None => (
                Ring::new(self.capacity).ok_or(BuildError::OutOfMemory(self.capacity))?,
                None,
            ),
            Some(dir) => {
                // Nanoseconds per raw clock tick, for a reader in another process.
                let (p, ring) = ring_file::Persist::create(
                    dir,
                    self.capacity,
                    &program_name(),
                    unix_ns,
                    start_raw,
                    ns_per_raw,
                )
                .map_err(BuildError::Persist)?;
                (ring, Some(p))
            }
        };
        // A quiet spell (a millisecond) after which a thread checks whether its ring
        // block has grown old.
        ring.set_quiet_raw((1e6 / ns_per_raw.max(1e-9)) as u64);
        let tasks = TaskTable::new(ring.capacity());
        Ok(Store {
            id: NEXT_RECORDER_ID.fetch_add(1, Ordering::Relaxed),
            mapped: ring.is_mapped(),
            fork_generation: persist.as_ref().map_or(0, |p| p.generation()),
            ring,
            persist,
            lanes: Lanes::default(),
            tasks,
            clock,
            start_raw,
            ns_per_raw,
            anchor: ClockAnchor {
                mono_ns: 0,
                unix_ns,
            },
            lanes_with_thread: self.stacks,
        })
    }
}
