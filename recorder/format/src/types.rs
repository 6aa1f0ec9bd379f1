//! The dump's data model: what a reader gets back and what a writer encodes.
//!
//! Times are nanoseconds on the recorder's monotonic clock, counted from the moment the
//! recorder was built (`ClockAnchor` maps them to wall-clock time). Task ids are Tokio's
//! task ids (never the tracing span id), so they match `tokio::task::Id`'s `Display`.

use serde::{Deserialize, Serialize};

/// The modulus of a `PollSample`'s CPU times (microseconds).
pub const SAMPLE_US_MOD: u32 = 1 << 24;

/// A whole dump: header, the tables that give names to ids, and the events in time order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dump {
    /// Why and when the dump was written, by which process, and the ring's counters.
    pub header: Header,
    /// One entry per lane (recording thread), indexed by `ThreadInfo::lane`.
    pub threads: Vec<ThreadInfo>,
    /// Every task an event refers to, plus every task alive at dump time, even when the
    /// task's spawn event was overwritten long ago.
    pub tasks: Vec<TaskInfo>,
    /// What each lane was doing at the moment of the dump.
    pub lane_states: Vec<LaneState>,
    /// The events still in the ring, in time order.
    pub events: Vec<Event>,
    /// What the recorder knows for sure at the dump, beyond the window (format v5; empty
    /// in older dumps and in crash-surviving rings).
    pub facts: Facts,
    /// What the reader could not read of the events (format v7: a damaged or missing
    /// block), `None` when it read them all. Never written: it describes one reading.
    #[serde(skip)]
    pub damage: Option<crate::blocks::Damage>,
}

/// Counts the recorder keeps whatever the ring lost: an analysis prefers these over
/// reconstructing the same thing from a window that may have lost a task's beginning.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Live wakers of each task the recorder saw spawn and that was alive at the dump:
    /// clones - drops - wakes by value, since its spawn. Taken just before the events were
    /// read, so an op after it is in the window (with its own count).
    pub live_wakers: Vec<TaskWakers>,
    /// Tasks the runtime hooks never saw spawn although hooks were installed: they run on
    /// a runtime that was not instrumented, so their polls are not recorded (only their
    /// wakes, through the tracing layer). Nothing can be said about their scheduling.
    pub unhooked: Vec<u64>,
    /// The recording process's architecture (`std::env::consts::ARCH`), which gives the
    /// system call numbers of `PollSample` their names (format v6; empty before).
    pub arch: String,
    /// The panicking thread's backtrace, one frame a line, for a dump written by the
    /// panic hook (format v6; empty otherwise).
    pub panic_backtrace: Vec<String>,
    /// The stacks `PollStack` events name, symbolized at the dump (format v6).
    pub stacks: Vec<Stack>,
}

/// A captured stack: its id, and its frames as text lines in the shape std prints a
/// backtrace (`N: function`, then `at file:line:col`), innermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    /// The id [`EventKind::PollStack`] events refer to.
    pub id: u32,
    /// The frames as text lines, innermost first.
    pub frames: Vec<String>,
}

/// One task's live wakers at the dump (an entry of [`Facts::live_wakers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskWakers {
    /// Tokio's task id.
    pub task: u64,
    /// Its live wakers: clones minus drops minus wakes by value, since its spawn.
    pub live: i64,
}

/// Why and when a dump was written, by which process, and how much the ring held.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Why the dump was written.
    pub reason: Reason,
    /// Wall-clock time of the dump, nanoseconds since the Unix epoch.
    pub dumped_at_unix_ns: u64,
    /// Monotonic time of the dump (same clock as event timestamps).
    pub dumped_at_ns: u64,
    /// Maps event times to wall-clock time.
    pub anchor: ClockAnchor,
    /// Process id of the recording process.
    pub pid: u32,
    /// The recording program's executable file name (`unknown` if it could not be read).
    pub program: String,
    /// The recording machine's host name (`unknown` if it could not be read; `unknown
    /// host` in a ring file written before the field existed).
    pub host: String,
    /// Records (slots) the ring can hold. A poll's end can also stand for the poll's
    /// start and its own waker op (`ring_codec::decode`), so a dump holds more events
    /// than records; older recorders wrote one record per event.
    pub capacity: u64,
    /// Records written since the recorder was built.
    pub recorded_total: u64,
    /// Records written but no longer in the ring (overwritten by newer ones).
    pub overwritten: u64,
    /// Records that were being written while the dump read them and were skipped.
    pub torn_skipped: u64,
    /// Whether the runtime hooks (`FlightRecorder::instrument`) were installed.
    pub hooks_installed: bool,
    /// Whether the tracing layer was installed in a subscriber.
    pub layer_installed: bool,
    /// `dial9-recorder` version that wrote the dump.
    pub recorder_version: String,
}

/// Maps the monotonic event clock to wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockAnchor {
    /// Monotonic time of the anchor (normally 0: the recorder's start).
    pub mono_ns: u64,
    /// Wall-clock time at `mono_ns`, nanoseconds since the Unix epoch.
    pub unix_ns: u64,
}

impl ClockAnchor {
    /// Wall-clock nanoseconds since the Unix epoch for a monotonic timestamp.
    pub fn to_unix_ns(&self, mono_ns: u64) -> u64 {
        self.unix_ns
            .saturating_add(mono_ns.saturating_sub(self.mono_ns))
    }
}

/// Why the dump was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// A panic, dumped by the recorder's panic hook before the previous hook ran.
    Panic {
        /// The panic message (`<non-string panic payload>` when the payload is not a
        /// string).
        message: String,
        /// `file:line:col` of the panic, the file from its crate's directory down
        /// ([`short_source_path`](crate::short_source_path)).
        location: Option<String>,
        /// Name of the panicking thread (`<unnamed>` when it has none).
        thread: String,
        /// The Tokio task being polled on the panicking thread, if any.
        task: Option<u64>,
    },
    /// A signal the recorder was asked to dump on (`Builder::dump_on_signal`).
    Signal {
        /// The signal number.
        signal: i32,
        /// Its name, e.g. `SIGUSR1` (`unknown` when it has none).
        name: String,
    },
    /// A call to the recorder: `FlightRecorder::dump`, `dump_labeled` or `snapshot`.
    Requested {
        /// The caller's label: `dump() called` for `dump()`, `snapshot` for `snapshot()`.
        label: String,
    },
    /// Read back from a crash-surviving ring file rather than dumped by the process.
    Recovered {
        /// Process id of the process that wrote the ring file.
        pid: u32,
        /// The writing process still held the file's lock: a live snapshot.
        writer_alive: bool,
    },
    /// Read back from a crash-surviving ring file whose process exited cleanly (it marks
    /// the file as it exits, then removes it; this is seen only if the removal failed).
    /// Format version 4.
    Exited {
        /// Process id of the process that wrote the ring file.
        pid: u32,
    },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Panic {
                message,
                location,
                thread,
                task,
            } => {
                write!(f, "panic in thread '{thread}'")?;
                if let Some(t) = task {
                    write!(f, " (task {t})")?;
                }
                if let Some(loc) = location {
                    write!(f, " at {loc}")?;
                }
                write!(f, ": {message}")
            }
            Reason::Signal { signal, name } => write!(f, "signal {name} ({signal})"),
            Reason::Requested { label } => write!(f, "requested: {label}"),
            Reason::Recovered {
                pid,
                writer_alive: false,
            } => write!(
                f,
                "recovered after process {pid} died (crash-surviving ring)"
            ),
            Reason::Recovered {
                pid,
                writer_alive: true,
            } => write!(
                f,
                "live snapshot of running process {pid} (crash-surviving ring)"
            ),
            Reason::Exited { pid } => write!(
                f,
                "crash-surviving ring of process {pid}, which exited cleanly (not a crash)"
            ),
        }
    }
}

/// A recording thread. Every event happened on one lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadInfo {
    /// The lane's id, which [`Event::lane`] and [`LaneState::lane`] refer to.
    pub lane: u32,
    /// The OS thread id (`gettid` on Linux); 0 where unknown, and for a lane a ring file
    /// kept no record of.
    pub os_tid: u64,
    /// The thread's name (`<unnamed>` when it has none; `lane N` for a lane a ring file
    /// kept no record of).
    pub name: String,
    /// Tokio worker index for multi-thread runtime workers.
    pub worker: Option<u32>,
    /// Which of the runtime's threads it is, if any.
    pub kind: ThreadKind,
}

/// What kind of thread a lane is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThreadKind {
    /// A runtime worker thread (has a worker index).
    Worker,
    /// A runtime thread without a worker index: the blocking pool.
    Blocking,
    /// A thread the runtime did not start (e.g. the `block_on` thread, or a foreign one).
    Other,
}

/// A task: its id, name, kind, and where and by whom it was spawned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Tokio's task id (as `tokio::task::Id` displays it).
    pub id: u64,
    /// Empty for unnamed tasks (names need `tokio::task::Builder::name`).
    pub name: String,
    /// How it was spawned.
    pub kind: TaskKind,
    /// Where it was spawned; `None` when the recorder never learned it (a placeholder
    /// entry from [`fill_missing_tasks`](crate::fill_missing_tasks)).
    pub location: Option<SpawnLocation>,
    /// The task that spawned it, when spawned from inside a task.
    pub spawned_by: Option<u64>,
}

/// How a task was spawned, from the `kind` field of Tokio's task span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    /// `tokio::spawn` (Tokio's kind `task`).
    Task,
    /// `spawn_local`, on a `LocalSet` or local runtime (kind `local`).
    Local,
    /// The future given to `block_on` (kind `block_on`).
    BlockOn,
    /// A `spawn_blocking` closure on the blocking pool (kind `blocking`).
    Blocking,
    /// Not known: the spawn was seen by the runtime hooks alone (no task span), or the
    /// entry is a placeholder for a task the recorder lost.
    Unknown,
}

impl TaskKind {
    /// The kind's name as Tokio spells it (`task`, `local`, `block_on`, `blocking`), or
    /// `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Task => "task",
            TaskKind::Local => "local",
            TaskKind::BlockOn => "block_on",
            TaskKind::Blocking => "blocking",
            TaskKind::Unknown => "unknown",
        }
    }
}

/// Where a task was spawned: the caller of the spawn function (Tokio's
/// `#[track_caller]` location). Displays as `file:line:col`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnLocation {
    /// The source file. The recorder writes it from the crate's directory down
    /// ([`short_source_path`](crate::short_source_path)); a ring file keeps the
    /// compiler's path.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl std::fmt::Display for SpawnLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// What a lane was doing when the dump was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneState {
    /// The lane ([`ThreadInfo::lane`]).
    pub lane: u32,
    /// What it was doing.
    pub activity: Activity,
    /// Monotonic time the activity started.
    pub since_ns: u64,
}

/// What a lane was doing at the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activity {
    /// Inside a poll of `task`.
    Polling {
        /// The task being polled.
        task: u64,
    },
    /// A worker parked, waiting for work.
    Parked,
    /// Awake but not inside a task poll (driver, scheduler, or non-task work).
    Running,
    /// The thread stopped (the runtime's `on_thread_stop`).
    Stopped,
    /// The recorder could not tell.
    Unknown,
}

/// One event: when, on which lane, and what happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Nanoseconds since the recorder was built, on its monotonic clock
    /// ([`Header::anchor`] converts to wall-clock time).
    pub ts_ns: u64,
    /// The lane (recording thread) it happened on: a [`ThreadInfo::lane`].
    pub lane: u32,
    /// What happened.
    pub kind: EventKind,
}

/// What an event says happened. Task ids are Tokio's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A task was spawned, from inside `parent` if it was spawned by a task.
    Spawn {
        /// The new task.
        task: u64,
        /// The task whose poll spawned it; `None` when spawned outside any task.
        parent: Option<u64>,
    },
    /// A poll of `task` began.
    PollStart {
        /// The task polled.
        task: u64,
    },
    /// A poll of `task` ended.
    PollEnd {
        /// The task polled.
        task: u64,
        /// True when the future finished (or was cancelled) in this poll.
        completed: bool,
        /// How long the poll ran in nanoseconds, as its thread measured it (format v5;
        /// `None` in older dumps), so a poll whose start the ring overwrote is measured.
        duration_ns: Option<u64>,
    },
    /// `task` was woken.
    Wake {
        /// The task woken.
        task: u64,
        /// `wake_by_ref`; a wake by value (`false`) also consumes (drops) its waker.
        by_ref: bool,
        /// Who called `wake`.
        source: WakeSource,
    },
    /// A waker of `task` was cloned.
    WakerClone {
        /// The task the waker wakes.
        task: u64,
        /// The task's live wakers after this op, as the recorder counted them (format
        /// v5; `None` when it could not count them, and in older dumps).
        live: Option<u64>,
    },
    /// A waker of `task` was dropped.
    WakerDrop {
        /// The task the waker wakes.
        task: u64,
        /// The task's live wakers after this op, as for [`EventKind::WakerClone`].
        live: Option<u64>,
    },
    /// A waker op on a task whose span was already closed (the waker outlived its task).
    /// Only the tracing span id is known, so the op cannot be tied to a task id.
    OrphanWaker {
        /// What was done with the waker.
        op: WakerOp,
        /// The closed task span's tracing id (not a task id).
        span: u64,
    },
    /// `task` ended: its future completed or was dropped (cancelled, or at the runtime's
    /// shutdown).
    Terminate {
        /// The task that ended.
        task: u64,
    },
    /// The lane's worker parked: it had nothing to run.
    Park,
    /// The lane's worker woke from a park.
    Unpark {
        /// The runtime's cumulative count of I/O readiness events; `None` when the thread
        /// had no runtime handle to read it from.
        io_ready_total: Option<u64>,
    },
    /// A runtime thread started (the runtime's `on_thread_start`).
    ThreadStart,
    /// A runtime thread is stopping (the runtime's `on_thread_stop`).
    ThreadStop,
    /// A task armed a timer (`tokio::time::Sleep`) that fires after `duration_ms`.
    TimerArm {
        /// The task that armed it; `None` when armed outside any task.
        task: Option<u64>,
        /// Milliseconds from arming to the deadline.
        duration_ms: u64,
    },
    /// Just before a poll: how long the task had been scheduled (woken) before this poll
    /// began, as Tokio measured it (`Builder::schedule_latency`). Gives scheduling delays
    /// without the tracing layer's wake events. Added in format version 3.
    Scheduled {
        /// The task about to be polled.
        task: u64,
        /// Nanoseconds from being scheduled to the start of this poll.
        latency_ns: u64,
    },
    /// What the OS did with this lane's thread: cumulative time on a CPU and time waiting
    /// for one (runnable but not running: host contention), from the kernel's schedstat.
    /// Recorded when a worker parks and at the end of long polls, so the analysis can tell a
    /// worker taken off the CPU from a busy one. Added in format version 5.
    CpuStat {
        /// The thread's cumulative time on a CPU, in nanoseconds.
        on_cpu_ns: u64,
        /// Its cumulative time runnable but waiting for a CPU, in nanoseconds modulo 2^48
        /// (78 hours): take differences, which stay right across a wrap.
        runq_wait_ns: u64,
    },
    /// The recorder's watchdog looked at a thread polling `task` for long (format v6): the
    /// thread's state as the kernel reported it (`b'R'` running or runnable, `b'S'`
    /// sleeping, `b'D'` in uninterruptible I/O...), the system call it was blocked in,
    /// and its cumulative time on a CPU and waiting for one, in microseconds modulo 2^24
    /// ([`SAMPLE_US_MOD`], 16.7 s): the difference between two looks (at most a second
    /// apart), or between a look and the `CpuStat` after the poll's end, is exact with
    /// wrapping arithmetic. Between two looks, time that is neither is time blocked.
    PollSample {
        /// The task whose poll ran long.
        task: u64,
        /// The kernel's state letter for the thread (`b'?'` when it was not one the
        /// recorder knows).
        state: u8,
        /// The system call it was blocked in, numbered for [`Facts::arch`]; `None` when
        /// it was running or in none.
        syscall: Option<u16>,
        /// Cumulative time on a CPU, microseconds modulo [`SAMPLE_US_MOD`].
        on_cpu_us: u32,
        /// Cumulative time waiting for a CPU, microseconds modulo [`SAMPLE_US_MOD`].
        runq_wait_us: u32,
    },
    /// The watchdog captured the stack of the thread polling `task` (format v6, opt-in):
    /// `stack` is an id into `Facts::stacks`.
    PollStack {
        /// The task whose poll ran long.
        task: u64,
        /// The [`Stack::id`] of its stack in [`Facts::stacks`].
        stack: u32,
    },
}

impl EventKind {
    /// The task this event is about, if any.
    pub fn task(&self) -> Option<u64> {
        match *self {
            EventKind::Spawn { task, .. }
            | EventKind::PollStart { task }
            | EventKind::PollEnd { task, .. }
            | EventKind::Wake { task, .. }
            | EventKind::WakerClone { task, .. }
            | EventKind::WakerDrop { task, .. }
            | EventKind::Terminate { task } => Some(task),
            EventKind::TimerArm { task, .. } => task,
            EventKind::Scheduled { task, .. }
            | EventKind::PollSample { task, .. }
            | EventKind::PollStack { task, .. } => Some(task),
            _ => None,
        }
    }

    /// A short name for the event kind, as shown by the explorer and `report`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Spawn { .. } => "spawn",
            EventKind::PollStart { .. } => "poll-start",
            EventKind::PollEnd { .. } => "poll-end",
            EventKind::Wake { by_ref: false, .. } => "wake",
            EventKind::Wake { by_ref: true, .. } => "wake-by-ref",
            EventKind::WakerClone { .. } => "waker-clone",
            EventKind::WakerDrop { .. } => "waker-drop",
            EventKind::OrphanWaker { .. } => "orphan-waker",
            EventKind::Terminate { .. } => "terminate",
            EventKind::Park => "park",
            EventKind::Unpark { .. } => "unpark",
            EventKind::ThreadStart => "thread-start",
            EventKind::ThreadStop => "thread-stop",
            EventKind::TimerArm { .. } => "timer-arm",
            EventKind::Scheduled { .. } => "scheduled",
            EventKind::CpuStat { .. } => "cpu-stat",
            EventKind::PollSample { .. } => "poll-sample",
            EventKind::PollStack { .. } => "poll-stack",
        }
    }
}

/// Who called `wake`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WakeSource {
    /// From inside another task's poll (or the task's own: a self-wake).
    Task(u64),
    /// From a runtime worker thread outside any poll: the I/O or timer driver.
    Driver,
    /// From a thread that is not a runtime worker (blocking pool, std thread).
    Foreign,
}

/// What was done with a waker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WakerOp {
    /// The waker was cloned.
    Clone,
    /// The waker was dropped.
    Drop,
    /// `Waker::wake`, which consumes the waker.
    Wake,
    /// `Waker::wake_by_ref`, which keeps it.
    WakeByRef,
}
