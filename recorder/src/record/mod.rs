//! The capture side: the recorder handle, its builder, and the per-event record path.

mod dump_file;
mod hooks;
mod lanes;
mod layer;
mod persist;
mod ring;
mod span_tasks;
mod tasks;
mod triggers;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::format::{ClockAnchor, Dump, Event, Header, LaneState, Reason};

pub use hooks::UserHooks;
pub use layer::{RecorderLayer, TokioOnly};

use crate::format::ring_codec::{self as codec, Kind};
use lanes::{LOCAL, LaneSlot, Lanes};
use ring::{BLOCK_EVENTS, Cursor, Ring};
use tasks::{SpawnInfo, TaskTable};

/// Smallest ring: a few blocks, so that a handful of threads do not evict each other's
/// only block on every claim.
pub const MIN_CAPACITY: usize = 16 * BLOCK_EVENTS;
/// Largest ring: 2^28 events (8 GiB at 32 bytes an event).
pub const MAX_CAPACITY: usize = 1 << 28;

static NEXT_RECORDER_ID: AtomicU64 = AtomicU64::new(1);

/// Configures a [`FlightRecorder`].
#[derive(Clone, Debug)]
pub struct Builder {
    capacity: usize,
    panic_hook: bool,
    signals: Vec<i32>,
    dump_path: String,
    persist_dir: Option<PathBuf>,
    schedule_latency: bool,
}

/// Why [`Builder::build`] failed.
#[derive(Debug)]
pub enum BuildError {
    /// The capacity is outside [`MIN_CAPACITY`]..=[`MAX_CAPACITY`].
    Capacity(usize),
    /// The ring could not be allocated.
    OutOfMemory(usize),
    /// The signal handler could not be registered (e.g. SIGKILL, SIGSEGV).
    Signal { signal: i32, source: io::Error },
    /// The crash-surviving ring file could not be created, allocated, locked or mapped.
    Persist(io::Error),
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
        }
    }
}

impl Builder {
    /// Events kept (rounded up to a multiple of 64). The ring takes 32 bytes per event,
    /// allocated and touched by `build`. Default 65,536 (2 MiB).
    pub fn capacity(mut self, events: usize) -> Self {
        self.capacity = events;
        self
    }

    /// Dump when any thread panics, before the previously installed hook runs (which then
    /// runs as usual). Default on.
    pub fn install_panic_hook(mut self, on: bool) -> Self {
        self.panic_hook = on;
        self
    }

    /// Dump whenever the process receives `signal` (e.g. `libc::SIGUSR1`), and keep
    /// running. The dump is written by a dedicated thread, not in the signal handler.
    pub fn dump_on_signal(mut self, signal: i32) -> Self {
        self.signals.push(signal);
        self
    }

    /// Where dumps go. `{pid}`, `{time}` (UTC, millisecond precision) and `{program}` are
    /// replaced, so dumps never overwrite each other. Default
    /// `$TMPDIR/dial9-{program}-{pid}-{time}.bin`.
    pub fn dump_path(mut self, template: impl Into<String>) -> Self {
        self.dump_path = template.into();
        self
    }

    /// Keep the ring in a shared file mapping in `dir` (`dir/dial9-PROGRAM-PID.ring`), so
    /// its last events can be read back after the process dies in a way no hook sees:
    /// SIGKILL (the OOM killer), `abort()`, a stack overflow. The file is preallocated and
    /// prefaulted by `build` (a full filesystem fails there, never later), locked while the
    /// process lives, and removed when the recorder is dropped. `dial9-tui` opens it like
    /// a dump. Prefer tmpfs (see [`Builder::persist_ring_default`]).
    pub fn persist_ring(mut self, dir: impl Into<PathBuf>) -> Self {
        self.persist_dir = Some(dir.into());
        self
    }

    /// [`persist_ring`](Self::persist_ring) in `/dev/shm` (tmpfs) where it exists, else
    /// the temporary directory. A disk-backed mapping would stall recording threads with
    /// page faults after each writeback; tmpfs never writes back. The file survives the
    /// process's death, not a reboot.
    pub fn persist_ring_default(self) -> Self {
        self.persist_ring(persist::default_dir())
    }

    /// Have Tokio measure, for every poll, how long the task waited since it was scheduled
    /// (`track_task_schedule_latency`), recorded as a `scheduled` event before the poll.
    /// This gives scheduling delays even without the tracing layer (hooks-only mode), at
    /// the cost of a clock read in Tokio per schedule and per poll. Default off; takes
    /// effect through [`FlightRecorder::instrument`].
    pub fn schedule_latency(mut self, on: bool) -> Self {
        self.schedule_latency = on;
        self
    }

    pub fn build(self) -> Result<FlightRecorder, BuildError> {
        if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(BuildError::Capacity(self.capacity));
        }
        let clock = quanta::Clock::new();
        let start_raw = clock.raw();
        let unix_ns = unix_now_ns();
        let (ring, persist) = match &self.persist_dir {
            None => (
                Ring::new(self.capacity).ok_or(BuildError::OutOfMemory(self.capacity))?,
                None,
            ),
            Some(dir) => {
                // Nanoseconds per raw clock tick, for a reader in another process.
                let big = 1u64 << 40;
                let ns_per_raw = clock.delta_as_nanos(0, big) as f64 / big as f64;
                let (p, ring) = persist::Persist::create(
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
        let inner = Arc::new(Inner {
            id: NEXT_RECORDER_ID.fetch_add(1, Ordering::Relaxed),
            schedule_latency: self.schedule_latency,
            mapped: ring.is_mapped(),
            fork_generation: persist.as_ref().map_or(0, |p| p.generation()),
            ring,
            persist,
            lanes: Lanes::default(),
            tasks: TaskTable::new(),
            span_tasks: span_tasks::SpanTasks::new(),
            clock,
            start_raw,
            anchor: ClockAnchor {
                mono_ns: 0,
                unix_ns,
            },
            dump_path: self.dump_path,
            hooks_installed: AtomicBool::new(false),
            layer_installed: AtomicBool::new(false),
            panic_dumped: AtomicBool::new(false),
            signal_handle: std::sync::Mutex::new(None),
        });
        if !self.signals.is_empty() {
            triggers::dump_on_signals(&inner, &self.signals)?;
        }
        if self.panic_hook {
            triggers::install_panic_hook(&inner);
        }
        Ok(FlightRecorder { inner })
    }
}

/// The flight recorder. Cheap to clone; all clones share one ring.
///
/// Install both halves:
/// - [`layer`](Self::layer) in the `tracing` subscriber: task spawns (with names and
///   locations), wakes and who woke, waker clones and drops, timers.
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
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FlightRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightRecorder")
            .field("capacity", &self.inner.ring.capacity())
            .field("dump_path", &self.inner.dump_path)
            .finish()
    }
}

impl FlightRecorder {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Events the ring holds.
    pub fn capacity(&self) -> usize {
        self.inner.ring.capacity()
    }

    /// The crash-surviving ring file, when [`Builder::persist_ring`] is on.
    pub fn ring_path(&self) -> Option<&std::path::Path> {
        self.inner.persist.as_ref().map(|p| p.path())
    }

    /// Writes a dump now (reason: "requested") and returns its path.
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

pub(crate) struct Inner {
    id: u64,
    /// `Builder::schedule_latency`.
    schedule_latency: bool,
    /// The ring lives in a shared file mapping (a forked child must not write to it).
    mapped: bool,
    /// Fork generation when the ring was mapped.
    fork_generation: u64,
    ring: Ring,
    persist: Option<persist::Persist>,
    lanes: Lanes,
    tasks: TaskTable,
    span_tasks: span_tasks::SpanTasks,
    clock: quanta::Clock,
    start_raw: u64,
    anchor: ClockAnchor,
    dump_path: String,
    hooks_installed: AtomicBool,
    layer_installed: AtomicBool,
    panic_dumped: AtomicBool,
    signal_handle: std::sync::Mutex<Option<signal_hook::iterator::Handle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(p) = &self.persist {
            p.remove();
        }
        if let Ok(mut h) = self.signal_handle.lock()
            && let Some(h) = h.take()
        {
            h.close();
        }
    }
}

fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Tokio's `task::Id` has no public integer accessor; its derived `Hash` writes exactly
/// the inner `u64` (the same number its `Display` prints), so a capturing hasher reads it
/// without formatting. A test pins this against `Display`.
pub(crate) fn task_id_u64(id: tokio::task::Id) -> u64 {
    use std::hash::{Hash, Hasher};
    struct Capture(u64);
    impl Hasher for Capture {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 << 8) | u64::from(b);
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }
    let mut h = Capture(0);
    id.hash(&mut h);
    h.0
}

/// The task being polled on this thread, if any (as seen by this crate's poll hooks or,
/// without hooks, the task span's enter/exit).
#[inline]
pub(crate) fn current_task() -> Option<u64> {
    LOCAL.try_with(|l| l.polling.get()).ok().filter(|&t| t != 0)
}

impl Inner {
    /// Records one event on the calling thread's lane. Lock-free and allocation-free
    /// except for a thread's very first event. `on_lane` runs with the lane and the
    /// event's raw timestamp (to update the lane's activity).
    #[inline]
    fn record_with(
        &self,
        kind: Kind,
        flags: u8,
        a: u64,
        aux: u64,
        on_lane: impl FnOnce(&LaneSlot, u64),
    ) {
        let _ = LOCAL.try_with(|local| {
            if local.busy.get()
                || (self.mapped && persist::fork_generation() != self.fork_generation)
            {
                return;
            }
            if local.recorder.get() != self.id && !self.attach(local) {
                return;
            }
            local.busy.set(true);
            // SAFETY: set by `attach` for this recorder (ids are unique and checked above);
            // lanes are never removed from `self.lanes`, which outlives this call.
            let lane = unsafe { &*local.lane.get() };
            let ts = self.clock.raw();
            let mut cursor = local.cursor.get();
            self.ring
                .write(&mut cursor, lane.lane, ts, a, codec::pack(kind, flags, aux));
            local.cursor.set(cursor);
            lane.written
                .store(lane.written.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            on_lane(lane, ts);
            local.busy.set(false);
        });
    }

    #[inline]
    fn record(&self, kind: Kind, flags: u8, a: u64, aux: u64) {
        self.record_with(kind, flags, a, aux, |_, _| {});
    }

    #[cold]
    fn attach(&self, local: &lanes::Local) -> bool {
        let mut others = local.others.get();
        let current = (local.recorder.get(), local.lane.get(), local.cursor.get());
        if let Some(i) = others.iter().position(|o| o.0 == self.id) {
            // Back to a recorder this thread used before: its lane and block.
            let (_, lane, cursor) = others[i];
            others[i] = current;
            local.others.set(others);
            local.recorder.set(self.id);
            local.lane.set(lane);
            local.cursor.set(cursor);
            return true;
        }
        let Some(slot) = self.lanes.register() else {
            return false;
        };
        if current.0 != 0 {
            others.rotate_right(1);
            others[0] = current;
            local.others.set(others);
        }
        local.lane.set(Arc::as_ptr(&slot));
        local.cursor.set(Cursor::EMPTY);
        local.recorder.set(self.id);
        self.persist_lane(&slot);
        true
    }

    /// Writes a lane's identity to the ring file (on registration, and when it learns it
    /// is a runtime thread or its worker index).
    fn persist_lane(&self, lane: &LaneSlot) {
        if let Some(p) = &self.persist {
            let info = lane.info();
            p.lane(&info, lane.persisted_name(p));
        }
    }

    fn raw_to_ns(&self, raw: u64) -> u64 {
        if raw <= self.start_raw {
            return 0;
        }
        self.clock.delta_as_nanos(self.start_raw, raw)
    }

    fn spawn(&self, info: SpawnInfo<'_>) {
        let task = info.task;
        let parent = info.parent;
        self.tasks.insert(info, self.persist.as_ref());
        self.record(Kind::Spawn, 0, task, codec::opt_aux(parent));
    }

    fn terminate(&self, task: u64) {
        self.record(Kind::Terminate, 0, task, 0);
        self.tasks
            .terminate(task, self.ring.claims(), self.ring.blocks());
    }

    /// Reads the ring and tables into a dump. `patient == false` (panic hook) never waits
    /// on a lock the panicking thread might hold.
    pub(crate) fn snapshot(&self, reason: Reason, patient: bool) -> Dump {
        let lanes = self.lanes.all(patient);
        let recorded_total: u64 = lanes
            .iter()
            .map(|l| l.written.load(Ordering::Relaxed))
            .sum();
        let dumped_raw = self.clock.raw();
        let (mut raw, torn) = self.ring.snapshot();
        raw.sort_unstable_by_key(|r| (r.ts, r.lane, r.order));
        let events: Vec<Event> = raw
            .iter()
            .filter_map(|r| {
                Some(Event {
                    ts_ns: self.raw_to_ns(r.ts),
                    lane: r.lane,
                    kind: codec::unpack(r.a, r.b)?,
                })
            })
            .collect();
        let mut tasks = self.tasks.snapshot(patient);
        crate::format::fill_missing_tasks(&mut tasks, &events, &reason);
        let lane_states = lanes
            .iter()
            .map(|l| {
                let (activity, since) = l.activity();
                LaneState {
                    lane: l.lane,
                    activity,
                    since_ns: self.raw_to_ns(since),
                }
            })
            .collect();
        let overwritten = recorded_total.saturating_sub(events.len() as u64 + torn);
        Dump {
            header: Header {
                reason,
                dumped_at_unix_ns: unix_now_ns(),
                dumped_at_ns: self.raw_to_ns(dumped_raw),
                anchor: self.anchor,
                pid: std::process::id(),
                program: program_name(),
                host: host_name(),
                capacity: self.ring.capacity() as u64,
                recorded_total,
                overwritten,
                torn_skipped: torn,
                hooks_installed: self.hooks_installed.load(Ordering::Relaxed),
                layer_installed: self.layer_installed.load(Ordering::Relaxed),
                recorder_version: env!("CARGO_PKG_VERSION").to_string(),
            },
            threads: lanes.iter().map(|l| l.info()).collect(),
            tasks,
            lane_states,
            events,
        }
    }

    fn write_dump(&self, dump: &Dump) -> io::Result<PathBuf> {
        let path = dump_file::expand_template(&self.dump_path, &program_name());
        dump_file::write_atomic(&path, &dump.to_bytes()?)
    }
}

fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| std::env::args().next())
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success
    // (and we bound the search by the buffer anyway).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Entry points for the benchmarks in `benches/`; not part of the API.
#[doc(hidden)]
impl FlightRecorder {
    pub fn __bench_record_waker_op(&self, task: u64) {
        self.inner.record(Kind::WakerClone, 0, task, 0);
    }

    pub fn __bench_record_poll(&self, task: u64) {
        self.inner.poll_start(task);
        self.inner.poll_end(task, false);
    }

    pub fn __bench_fill(&self, events: usize) {
        for i in 0..events as u64 {
            self.inner
                .record(Kind::Wake, codec::F_SRC_TASK, i % 1000 + 1, i % 7 + 1);
        }
    }
}

#[cfg(test)]
mod tests {
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
