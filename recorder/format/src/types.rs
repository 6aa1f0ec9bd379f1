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
    pub id: u32,
    pub frames: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskWakers {
    pub task: u64,
    pub live: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub reason: Reason,
    /// Wall-clock time of the dump, nanoseconds since the Unix epoch.
    pub dumped_at_unix_ns: u64,
    /// Monotonic time of the dump (same clock as event timestamps).
    pub dumped_at_ns: u64,
    pub anchor: ClockAnchor,
    pub pid: u32,
    pub program: String,
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
    Panic {
        message: String,
        /// `file:line:col` of the panic.
        location: Option<String>,
        thread: String,
        /// The Tokio task being polled on the panicking thread, if any.
        task: Option<u64>,
    },
    Signal {
        signal: i32,
        name: String,
    },
    Requested {
        label: String,
    },
    /// Read back from a crash-surviving ring file rather than dumped by the process.
    Recovered {
        pid: u32,
        /// The writing process still held the file's lock: a live snapshot.
        writer_alive: bool,
    },
    /// Read back from a crash-surviving ring file whose process exited cleanly (it marks
    /// the file as it exits, then removes it; this is seen only if the removal failed).
    /// Format version 4.
    Exited {
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
    pub lane: u32,
    pub os_tid: u64,
    pub name: String,
    /// Tokio worker index for multi-thread runtime workers.
    pub worker: Option<u32>,
    pub kind: ThreadKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThreadKind {
    /// A runtime worker thread (has a worker index).
    Worker,
    /// A runtime thread without a worker index: the blocking pool.
    Blocking,
    /// A thread the runtime did not start (e.g. the `block_on` thread, or a foreign one).
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub id: u64,
    /// Empty for unnamed tasks (names need `tokio::task::Builder::name`).
    pub name: String,
    pub kind: TaskKind,
    pub location: Option<SpawnLocation>,
    /// The task that spawned it, when spawned from inside a task.
    pub spawned_by: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    Task,
    Local,
    BlockOn,
    Blocking,
    Unknown,
}

impl TaskKind {
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnLocation {
    pub file: String,
    pub line: u32,
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
    pub lane: u32,
    pub activity: Activity,
    /// Monotonic time the activity started.
    pub since_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activity {
    Polling {
        task: u64,
    },
    Parked,
    /// Awake but not inside a task poll (driver, scheduler, or non-task work).
    Running,
    Stopped,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub ts_ns: u64,
    pub lane: u32,
    pub kind: EventKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A task was spawned, from inside `parent` if it was spawned by a task.
    Spawn {
        task: u64,
        parent: Option<u64>,
    },
    PollStart {
        task: u64,
    },
    /// `completed` is true when the future finished (or was cancelled) in this poll.
    /// `duration_ns`: how long the poll ran, as its thread measured it (format v5; `None`
    /// in older dumps), so a poll whose start the ring overwrote is still measured.
    PollEnd {
        task: u64,
        completed: bool,
        duration_ns: Option<u64>,
    },
    /// `by_ref` is `wake_by_ref`; a wake by value also consumes (drops) its waker.
    Wake {
        task: u64,
        by_ref: bool,
        source: WakeSource,
    },
    /// `live`: the task's live wakers after this op, as the recorder counted them (format
    /// v5; `None` when it could not count them, and in older dumps).
    WakerClone {
        task: u64,
        live: Option<u64>,
    },
    WakerDrop {
        task: u64,
        live: Option<u64>,
    },
    /// A waker op on a task whose span was already closed (the waker outlived its task).
    /// Only the tracing span id is known, so the op cannot be tied to a task id.
    OrphanWaker {
        op: WakerOp,
        span: u64,
    },
    Terminate {
        task: u64,
    },
    Park,
    /// `io_ready_total` is the runtime's cumulative count of I/O readiness events.
    Unpark {
        io_ready_total: Option<u64>,
    },
    ThreadStart,
    ThreadStop,
    /// A task armed a timer (`tokio::time::Sleep`) that fires after `duration_ms`.
    TimerArm {
        task: Option<u64>,
        duration_ms: u64,
    },
    /// Just before a poll: how long the task had been scheduled (woken) before this poll
    /// began, as Tokio measured it (`Builder::schedule_latency`). Gives scheduling delays
    /// without the tracing layer's wake events. Added in format version 3.
    Scheduled {
        task: u64,
        latency_ns: u64,
    },
    /// What the OS did with this lane's thread: cumulative time on a CPU and time waiting
    /// for one (runnable but not running: host contention), from the kernel's schedstat.
    /// Recorded when a worker parks and at the end of long polls, so the analysis can tell a
    /// worker taken off the CPU from a busy one. Added in format version 5.
    CpuStat {
        on_cpu_ns: u64,
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
        task: u64,
        state: u8,
        syscall: Option<u16>,
        on_cpu_us: u32,
        runq_wait_us: u32,
    },
    /// The watchdog captured the stack of the thread polling `task` (format v6, opt-in):
    /// `stack` is an id into `Facts::stacks`.
    PollStack {
        task: u64,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WakerOp {
    Clone,
    Drop,
    Wake,
    WakeByRef,
}
