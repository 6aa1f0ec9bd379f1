//! The index: everything the report and the explorer look up, built once from a dump.
//!
//! Building is one pass over the events (plus sorting the polls by duration); every later
//! question (a task's polls, the next event of the same task, what a lane did at time t)
//! is an array lookup or a binary search.

use rustc_hash::FxHashMap as HashMap;

use dial9_format::{
    Dump, EventColumns, EventKind, SpawnLocation, TaskKind, ThreadInfo, ThreadKind, WakeSource,
};

use super::anomaly::{Anomaly, Thresholds};
use super::groups::Group;

/// Index of a task in [`Index::tasks`].
pub type TaskIdx = u32;
/// Index of an event in the dump's event list.
pub type EventIdx = u32;

pub const NONE: u32 = u32::MAX;

/// Each task's events in time order, `task_events[t]` a slice: one array cut per task,
/// filled after the pass over the events from the task of each event. (A `Vec` per task
/// grew by doubling, each copy a burst of page faults, ten thousand of them scattered.)
#[derive(Clone, Debug, Default)]
pub struct TaskEvents {
    /// Where each task's slice starts in `events`; one more entry than tasks.
    starts: Vec<u32>,
    events: Vec<EventIdx>,
}

impl TaskEvents {
    /// From the task of each event (`NONE` for none) and how many events each task has.
    pub(crate) fn new(event_task: &[TaskIdx], counts: &[u32]) -> TaskEvents {
        let mut starts = Vec::with_capacity(counts.len() + 1);
        let mut at = 0u32;
        starts.push(0);
        for &c in counts {
            at += c;
            starts.push(at);
        }
        let mut fill: Vec<u32> = starts[..counts.len()].to_vec();
        let mut events = vec![0; at as usize];
        for (e, &t) in event_task.iter().enumerate() {
            if t != NONE {
                let slot = &mut fill[t as usize];
                events[*slot as usize] = e as EventIdx;
                *slot += 1;
            }
        }
        TaskEvents { starts, events }
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::ops::Index<usize> for TaskEvents {
    type Output = [EventIdx];

    fn index(&self, t: usize) -> &[EventIdx] {
        &self.events[self.starts[t] as usize..self.starts[t + 1] as usize]
    }
}

/// What a task was doing at the moment of the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskState {
    /// Inside a poll.
    Running,
    /// Woken and waiting for a poll.
    Scheduled,
    /// Waiting for a wake.
    Idle,
    /// Completed or cancelled.
    Done,
    /// Runs on a runtime without dial9's hooks: its polls are not recorded, so its state
    /// (and any delay before its polls) is unknown.
    Unobserved,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Scheduled => "scheduled",
            TaskState::Idle => "idle",
            TaskState::Done => "done",
            TaskState::Unobserved => "unobserved",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Task {
    pub id: u64,
    pub name: String,
    pub kind: TaskKind,
    pub location: Option<SpawnLocation>,
    pub spawned_by: Option<u64>,
    pub state: TaskState,
    pub polls: u32,
    pub wakes: u32,
    /// Wakes that came from inside the task's own poll.
    pub self_wakes: u32,
    pub busy_ns: u64,
    pub longest_poll: Option<PollIdx>,
    pub longest_poll_ns: u64,
    pub longest_sched_ns: u64,
    /// Live wakers at the dump (clones - drops - wakes by value): the recorder's count
    /// when it kept one, else the window's when it holds the whole task; `None` when
    /// neither can know (the task's beginning was overwritten). Never negative.
    pub live_wakers: Option<i64>,
    /// `live_wakers` is the recorder's own count (a fact, not a reconstruction).
    pub wakers_from_recorder: bool,
    /// The window holds the task's spawn.
    pub whole_history: bool,
    /// When the task terminated (completed, aborted or cancelled), if in the window.
    pub terminated_ns: Option<u64>,
    /// The recorder listed it among the tasks alive at the dump.
    pub alive_at_dump: bool,
    pub anomalies: u32,
}

impl Task {
    pub(crate) fn new(
        id: u64,
        name: String,
        kind: TaskKind,
        location: Option<SpawnLocation>,
        spawned_by: Option<u64>,
    ) -> Task {
        Task {
            id,
            name,
            kind,
            location,
            spawned_by,
            state: TaskState::Idle,
            polls: 0,
            wakes: 0,
            self_wakes: 0,
            busy_ns: 0,
            longest_poll: None,
            longest_poll_ns: 0,
            longest_sched_ns: 0,
            live_wakers: None,
            wakers_from_recorder: false,
            whole_history: false,
            terminated_ns: None,
            alive_at_dump: false,
            anomalies: 0,
        }
    }

    /// The name to show: the task's name; for an unnamed task (most real code spawns
    /// without names) its spawn location, shortened to what identifies it
    /// (`mini-redis-0.4.1/src/server.rs:276`); `#id` when neither is known.
    pub fn label(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        match &self.location {
            Some(l) => format!("{}:{}", short_path(&l.file), l.line),
            None => format!("#{}", self.id),
        }
    }

    /// The spawn location shortened like the label (`None` if unknown).
    pub fn short_location(&self) -> Option<String> {
        self.location
            .as_ref()
            .map(|l| format!("{}:{}", short_path(&l.file), l.line))
    }
}

/// A source path without the prefixes that say nothing about the code: the cargo
/// registry (`~/.cargo/registry/src/index.crates.io-HASH/`), git checkouts
/// (`~/.cargo/git/checkouts/REPO-HASH/REV/`), the Rust toolchain (`/rustc/HASH/library/`,
/// `.rustup/toolchains/NAME/lib/rustlib/src/rust/library/`). What is left starts with the
/// crate and its version (`mini-redis-0.4.1/src/server.rs`), or is the path as given.
pub fn short_path(file: &str) -> String {
    let file = file.strip_prefix("./").unwrap_or(file);
    if let Some(i) = file.find("/registry/src/") {
        let rest = &file[i + "/registry/src/".len()..];
        return rest.split_once('/').map_or(rest, |(_, r)| r).to_string();
    }
    if let Some(i) = file.find("/git/checkouts/") {
        let rest = &file[i + "/git/checkouts/".len()..];
        if let Some((repo_hash, after)) = rest.split_once('/')
            && let Some((_rev, path)) = after.split_once('/')
        {
            let repo = repo_hash.rsplit_once('-').map_or(repo_hash, |(r, _)| r);
            return format!("{repo}/{path}");
        }
        return rest.to_string();
    }
    if (file.starts_with("/rustc/") || file.contains("/rustlib/"))
        && let Some(i) = file.rfind("/library/")
    {
        return file[i + "/library/".len()..].to_string();
    }
    file.to_string()
}

pub type PollIdx = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poll {
    pub task: TaskIdx,
    pub lane: u32,
    pub start_ns: u64,
    /// `None`: in progress at the dump (its lane says it was polling this task then).
    pub end_ns: Option<u64>,
    pub start_event: EventIdx,
    pub end_event: EventIdx,
    pub completed: bool,
    /// The poll's end was never recorded (torn, lost): `end_ns` is when its lane was
    /// next seen doing something else, an upper bound, not a measurement.
    pub end_unknown: bool,
    /// Still running when the dump read the ring, but over by the time it read the lane
    /// states: `end_ns` is the lane's last event, a lower bound on when it ended.
    pub open_at_window_end: bool,
    /// The start was overwritten: the poll is known from its end, which carries its
    /// duration (`start_event` is then the end event).
    pub start_overwritten: bool,
}

impl Poll {
    /// Duration, counting an in-progress poll up to `dump_ns`.
    pub fn duration(&self, dump_ns: u64) -> u64 {
        self.end_ns.unwrap_or(dump_ns).saturating_sub(self.start_ns)
    }
}

/// A wake and the poll it led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    pub event: EventIdx,
    pub task: TaskIdx,
    pub at_ns: u64,
    /// When waiting began: the wake, or the end of the poll that was running when it came.
    pub waits_from_ns: u64,
    /// `None` for a wait known only from Tokio's schedule latency (no wake event: the
    /// tracing layer was not installed).
    pub source: Option<WakeSource>,
    /// A runtime wake that matches a timer the task armed (its deadline had come): Tokio
    /// does not say whether the driver woke a task for I/O or a timer, this tells them apart.
    pub timer: bool,
    /// The wait is measured from the deadline of a timer the task armed, not from the
    /// wake: the timer fired late (a hog held back the driver), or no wake was seen.
    pub late_timer: bool,
    /// Start of the task's next poll, `None` if it was not polled before the dump.
    pub poll_at: Option<u64>,
    pub poll: PollIdx,
    /// Time the task waited to be polled: from the wake (or, if the task was running when
    /// woken, from the end of that poll) to its next poll, or to the dump.
    pub delay_ns: u64,
}

impl Wake {
    /// A wake at `at_ns` waiting for the task's next poll.
    pub(crate) fn waiting(
        event: EventIdx,
        task: TaskIdx,
        at_ns: u64,
        source: Option<WakeSource>,
        timer: bool,
    ) -> Wake {
        Wake {
            event,
            task,
            at_ns,
            waits_from_ns: at_ns,
            source,
            timer,
            late_timer: false,
            poll_at: None,
            poll: NONE,
            delay_ns: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    Polling(TaskIdx),
    Parked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start_ns: u64,
    pub end_ns: u64,
    pub kind: SegmentKind,
    /// The poll, for polling segments.
    pub poll: PollIdx,
}

#[derive(Clone, Debug)]
pub struct Lane {
    pub info: ThreadInfo,
    /// Polling and parked spans in time order; time between them is "running".
    pub segments: Vec<Segment>,
    pub busy_ns: u64,
    pub parked_ns: u64,
    pub events: u32,
    /// Time of the lane's first and last event in the window.
    pub first_ns: u64,
    pub last_ns: u64,
    /// What the OS did with the lane's thread, sampled at parks and after long polls.
    pub cpu: Vec<CpuSample>,
    /// Another lane has the same worker index (another runtime's worker): the label
    /// then names the lane too.
    pub shared_worker_index: bool,
}

/// A lane's thread's cumulative CPU time and run-queue wait at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSample {
    pub at_ns: u64,
    pub on_cpu_ns: u64,
    /// Modulo 2^48 (see `EventKind::CpuStat`): take differences with [`wait_between`].
    pub runq_wait_ns: u64,
}

/// Run-queue wait between two samples of one thread (the counter is kept mod 2^48).
pub fn wait_between(a: &CpuSample, b: &CpuSample) -> u64 {
    b.runq_wait_ns.wrapping_sub(a.runq_wait_ns) & ((1 << 48) - 1)
}

impl Lane {
    pub fn new(info: ThreadInfo) -> Lane {
        Lane {
            info,
            segments: Vec::new(),
            busy_ns: 0,
            parked_ns: 0,
            events: 0,
            first_ns: 0,
            last_ns: 0,
            cpu: Vec::new(),
            shared_worker_index: false,
        }
    }

    pub fn label(&self) -> String {
        match (self.info.kind, self.info.worker) {
            // Short enough for the swimlanes' label column: `w0 (lane 3)`.
            (ThreadKind::Worker, Some(w)) if self.shared_worker_index => {
                format!("w{w} (lane {})", self.info.lane)
            }
            (ThreadKind::Worker, Some(w)) => format!("worker {w}"),
            (ThreadKind::Worker, None) => format!("worker (lane {})", self.info.lane),
            (ThreadKind::Blocking, _) => format!("blocking {}", self.info.lane),
            _ => format!("{} ({})", self.info.name, self.info.lane),
        }
    }

    /// Segments overlapping `[from, to)`.
    pub fn segments_in(&self, from: u64, to: u64) -> &[Segment] {
        let first = self.segments.partition_point(|s| s.end_ns <= from);
        let last = self.segments.partition_point(|s| s.start_ns < to);
        &self.segments[first..last.max(first)]
    }
}

/// The indexed dump.
pub struct Index {
    /// The dump's header, tables and facts; its events are in `events`.
    pub dump: Dump,
    /// The events, in time order, as columns.
    pub events: EventColumns,
    /// First event (or dump time if there are none).
    pub start_ns: u64,
    /// The dump's moment.
    pub end_ns: u64,
    pub tasks: Vec<Task>,
    pub task_by_id: HashMap<u64, TaskIdx>,
    /// Task of each event (`NONE` if it has none).
    pub event_task: Vec<TaskIdx>,
    /// Position of each event in its task's event list (`NONE` if it has no task).
    pub event_task_pos: Vec<u32>,
    /// Each task's events in time order.
    pub task_events: TaskEvents,
    /// Polls in start order.
    pub polls: Vec<Poll>,
    /// Poll indices, longest first.
    pub polls_by_duration: Vec<PollIdx>,
    /// The watchdog's looks (`PollSample` and `PollStack` events) at each poll it looked
    /// at, in time order (see [`super::why`]).
    pub poll_samples: HashMap<PollIdx, Vec<EventIdx>>,
    pub wakes: Vec<Wake>,
    pub lanes: Vec<Lane>,
    pub lane_by_id: HashMap<u32, usize>,
    /// Every occurrence, in the order of their groups (worst group first).
    pub anomalies: Vec<Anomaly>,
    /// Each severity's anomaly start times, sorted (`Severity as usize`): which
    /// swimlane columns hold one, by binary search rather than a pass over them all.
    pub anomaly_starts: [Vec<u64>; 3],
    /// Anomalies grouped by kind and subject, ranked by impact.
    pub groups: Vec<Group>,
    /// The dump in one line (see [`super::groups::verdict`]).
    pub verdict: String,
    pub thresholds: Thresholds,
    /// Events that were out of time order in the file (sorted here; a recorder writes
    /// them in order, so a non-zero count means a damaged or hand-made file).
    pub reordered: usize,
}

impl Index {
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    pub fn window_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    pub fn task_idx(&self, id: u64) -> Option<TaskIdx> {
        self.task_by_id.get(&id).copied()
    }

    /// The task an event is about.
    pub fn task_of_event(&self, e: EventIdx) -> Option<TaskIdx> {
        match self.event_task.get(e as usize) {
            Some(&t) if t != NONE => Some(t),
            _ => None,
        }
    }

    /// Row of event `e` in task `t`'s event list, if `e` is one of its events (O(1)).
    pub fn task_event_row(&self, t: TaskIdx, e: EventIdx) -> Option<usize> {
        (self.task_of_event(e) == Some(t)).then(|| self.event_task_pos[e as usize] as usize)
    }

    /// Row of the event of task `t` nearest to event `e`: its first event at or after
    /// `e`, else its last (0 for a task with no events in the window).
    pub fn task_row_near(&self, t: TaskIdx, e: EventIdx) -> usize {
        let list = &self.task_events[t as usize];
        list.partition_point(|&x| x < e)
            .min(list.len().saturating_sub(1))
    }

    /// The event of task `t` nearest to event `e` (see [`Index::task_row_near`]).
    pub fn task_event_near(&self, t: TaskIdx, e: EventIdx) -> Option<EventIdx> {
        self.task_events[t as usize]
            .get(self.task_row_near(t, e))
            .copied()
    }

    /// Previous/next event of the same task as `e` (O(1)).
    pub fn task_neighbour(&self, e: EventIdx, forward: bool) -> Option<EventIdx> {
        let t = self.task_of_event(e)?;
        let pos = self.event_task_pos[e as usize] as usize;
        let list = &self.task_events[t as usize];
        if forward {
            list.get(pos + 1).copied()
        } else {
            pos.checked_sub(1).map(|p| list[p])
        }
    }

    /// The first event at or after `ns` (O(log n)).
    pub fn event_at(&self, ns: u64) -> EventIdx {
        let i = self.events.times().partition_point(|&t| t < ns);
        i.min(self.events.len().saturating_sub(1)) as EventIdx
    }

    /// The wake record of a wake event (O(log n)).
    pub fn wake_at_event(&self, e: EventIdx) -> Option<&Wake> {
        self.wakes
            .binary_search_by_key(&e, |w| w.event)
            .ok()
            .map(|i| &self.wakes[i])
    }

    pub fn lane(&self, lane: u32) -> Option<&Lane> {
        self.lane_by_id.get(&lane).map(|&i| &self.lanes[i])
    }

    /// The poll that event `e` starts or ends (O(log n)).
    pub fn poll_at_event(&self, e: EventIdx) -> Option<PollIdx> {
        let by_start = |start: EventIdx| {
            self.polls
                .binary_search_by_key(&start, |p| p.start_event)
                .ok()
                .map(|p| p as PollIdx)
        };
        match self.events.get(e as usize)?.kind {
            EventKind::PollStart { .. } => by_start(e),
            EventKind::PollEnd { .. } => {
                // A poll known only from its end starts (for the index) at its end.
                if let Some(p) = by_start(e) {
                    return Some(p);
                }
                // Else the start this end was paired with: on the same lane, earlier.
                let mut cur = e;
                loop {
                    cur = self.task_neighbour(cur, false)?;
                    if matches!(self.events.kind(cur as usize), EventKind::PollStart { .. })
                        && let Some(p) = by_start(cur)
                        && self.polls[p as usize].end_event == e
                    {
                        return Some(p);
                    }
                }
            }
            _ => None,
        }
    }

    /// The task whose poll event `e` happened inside, on its lane: who was running when a
    /// waker was cloned or dropped, say. By time, and an event at a poll's last instant,
    /// before its end, belongs to that poll (a poll's end carries the task's own waker op
    /// at its own timestamp).
    pub fn polling_at_event(&self, e: EventIdx) -> Option<TaskIdx> {
        let ev = self.events.get(e as usize)?;
        if let Some(t) = self.polling_at(ev.lane, ev.ts_ns) {
            return Some(t);
        }
        (e as usize + 1..self.events.len())
            .map(|i| self.events.at(i))
            .take_while(|n| n.ts_ns == ev.ts_ns)
            .find_map(|n| match n.kind {
                EventKind::PollEnd { task, .. } if n.lane == ev.lane => self.task_idx(task),
                _ => None,
            })
    }

    /// The task a lane was polling at `ns`, if it was inside a poll: who was running when
    /// a waker was cloned or dropped, say.
    pub fn polling_at(&self, lane: u32, ns: u64) -> Option<TaskIdx> {
        self.lane(lane)?
            .segments_in(ns, ns.saturating_add(1))
            .iter()
            .find_map(|s| match s.kind {
                SegmentKind::Polling(t) if s.start_ns <= ns => Some(t),
                _ => None,
            })
    }

    /// Name of the task with Tokio id `id`, or `#id`.
    pub fn task_label(&self, id: u64) -> String {
        self.task_idx(id)
            .map(|t| self.tasks[t as usize].label())
            .unwrap_or_else(|| format!("#{id}"))
    }

    /// Lanes sorted for display: workers by index, then blocking threads, then the rest.
    pub fn display_lanes(&self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.lanes.len()).collect();
        v.sort_by_key(|&i| {
            let l = &self.lanes[i].info;
            let rank = match l.kind {
                ThreadKind::Worker => 0,
                ThreadKind::Blocking => 1,
                ThreadKind::Other => 2,
            };
            (rank, l.worker.unwrap_or(u32::MAX), l.lane)
        });
        v
    }
}
