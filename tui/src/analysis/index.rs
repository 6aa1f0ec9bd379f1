//! The index: everything the report and the explorer look up, built in one pass over
//! the events as they stream from the dump (see `analysis::build`).
//!
//! What it keeps is what the questions need, in columns: every poll (`polls`), every
//! wake's wait (`wakes`), each lane's parks and CPU samples, each task's counts, and per
//! block of the event section which tasks it holds. The events themselves stay in the
//! dump file and are read again a block at a time ([`EventStore`]), so memory follows the
//! polls and wakes, not the events. Every question (a task's polls, the next event of the
//! same task, what a lane did at time t) is an array lookup, a binary search, or a scan
//! of one block.

use std::sync::{Arc, Mutex, OnceLock};

use rustc_hash::FxHashMap as HashMap;

use dial9_format::{Dump, EventKind, SpawnLocation, TaskKind, ThreadInfo, ThreadKind};

use super::anomaly::{Anomaly, Thresholds};
use super::build::{SincePoll, Zeroing};
pub use super::events::EventStore;
use super::groups::Group;
pub use super::polls::{Poll, PollIdx, Polls};
use super::task_events::{BlockTasks, TaskEvents};
pub use super::wakes::{Wake, Wakes};

/// Index of a task in [`Index::tasks`].
pub type TaskIdx = u32;
/// Index of an event in the dump's event list.
pub type EventIdx = u32;

pub const NONE: u32 = u32::MAX;

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
    /// Its events in the window, and the first of them (`NONE` for none).
    pub events: u32,
    pub first_event: EventIdx,
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
            events: 0,
            first_event: NONE,
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

/// A source path as the explorer shows it: as the recorder writes it.
pub use dial9_format::short_source_path as short_path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    Polling(TaskIdx),
    Parked,
}

/// A stretch of a lane's time: a poll or a park.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start_ns: u64,
    pub end_ns: u64,
    pub kind: SegmentKind,
    /// The poll, for polling segments (`NONE` for a park).
    pub poll: PollIdx,
}

impl Segment {
    /// Place `i` of lane `li`'s polls (an open one's up to the dump).
    pub fn poll(ix: &Index, li: usize, i: usize) -> Segment {
        let polls = ix.polls.of_lane(li);
        Segment {
            start_ns: polls.start(i),
            end_ns: polls.end_or(i, ix.end_ns),
            kind: SegmentKind::Polling(polls.task(i)),
            poll: ix.polls.idx(li, i),
        }
    }

    /// Poll `p` (index `idx`), read whole already (an open one's up to `until`, as
    /// [`Segment::poll`] makes it).
    pub fn of_poll(p: &Poll, idx: PollIdx, until: u64) -> Segment {
        Segment {
            start_ns: p.start_ns,
            end_ns: p.end_ns.unwrap_or(until.max(p.start_ns)),
            kind: SegmentKind::Polling(p.task),
            poll: idx,
        }
    }

    /// A park of the lane's thread.
    pub fn park(p: &Park) -> Segment {
        Segment {
            start_ns: p.start_ns,
            end_ns: p.end_ns,
            kind: SegmentKind::Parked,
            poll: NONE,
        }
    }
}

/// A time a lane's thread slept with nothing to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Park {
    pub start_ns: u64,
    pub end_ns: u64,
}

/// A wait for a poll of at least the scheduling-delay warning: what the rules need of
/// the few wakes that waited long, kept whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongWait {
    /// Its index in [`Index::wakes`].
    pub wake: u32,
    pub task: TaskIdx,
    /// What its event said: who woke the task (`None` for a wait known from Tokio's
    /// schedule latency or a timer's deadline alone), on which lane, and when.
    pub source: Option<dial9_format::WakeSource>,
    pub lane: u32,
    pub at_ns: u64,
    pub waits_from_ns: u64,
    /// Start of the poll it led to, `None` if none did before the dump.
    pub poll_at: Option<u64>,
    pub delay_ns: u64,
    /// The first long wait the poll it led to ended (a poll's scheduling delay is one
    /// anomaly, however many wakes came before it); every unanswered one is.
    pub first_of_poll: bool,
}

#[derive(Clone, Debug)]
pub struct Lane {
    pub info: ThreadInfo,
    /// Its parks in time order (its polls are in `Index::polls`); time in neither is
    /// "running".
    pub parks: Vec<Park>,
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
            parks: Vec::new(),
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

    /// Parks overlapping `[from, to)`.
    pub fn parks_in(&self, from: u64, to: u64) -> &[Park] {
        let first = self.parks.partition_point(|s| s.end_ns <= from);
        let last = self.parks.partition_point(|s| s.start_ns < to);
        &self.parks[first..last.max(first)]
    }
}

/// The indexed dump.
pub struct Index {
    /// The dump's header, tables and facts; its events are in `events`.
    pub dump: Dump,
    /// The events, in time order, read from the dump on demand.
    pub events: EventStore,
    /// First event (or dump time if there are none).
    pub start_ns: u64,
    /// The dump's moment.
    pub end_ns: u64,
    pub tasks: Vec<Task>,
    /// Task positions by id, for the ids `dense_ids` does not cover (see
    /// [`Index::task_idx`]).
    pub task_by_id: HashMap<u64, TaskIdx>,
    /// Task positions for the ids the task table's range covers, as an array (most
    /// lookups).
    pub(crate) dense_ids: super::build::DenseIds,
    /// Per block of events, its tasks (a task's events are found from them).
    pub(crate) block_tasks: BlockTasks,
    pub(crate) task_events_cache: Mutex<Vec<(TaskIdx, Arc<TaskEvents>)>>,
    /// Polls, lane by lane, each lane's in start order.
    pub polls: Polls,
    /// [`Index::polls_by_duration`], once asked for.
    pub(crate) longest: OnceLock<Vec<PollIdx>>,
    /// The watchdog's looks (`PollSample` and `PollStack` events) at each poll it looked
    /// at, in time order (see [`super::why`]).
    pub poll_samples: HashMap<PollIdx, Vec<EventIdx>>,
    /// Every wake's wait, in event order.
    pub wakes: Wakes,
    /// The waits of at least the scheduling-delay warning, by wake.
    pub long_waits: Vec<LongWait>,
    /// Per task: what it did since its last poll started.
    pub(crate) since_poll: Vec<SincePoll>,
    /// Per task: the waker op that last took its live wakers to zero, were they zero at
    /// the dump (the lost-waker rule's question).
    pub(crate) zeroed: Vec<Zeroing>,
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
    /// The window's spawns less its task ends, and the lowest that count reached as the
    /// events went by: how many tasks were alive at the window's start, at the least,
    /// when the recorder did not list those alive at the dump (the export's counter).
    pub spawns_less_ends: (i64, i64),
    /// Where the dump came from when it is not a dial9-tui dump (the public dial9's
    /// trace), and what cannot be judged on it.
    pub foreign: Option<crate::import::Foreign>,
}

/// Polls kept in the ranking by length: far more than anyone steps through with `L`.
pub const LONGEST_KEPT: usize = 1 << 12;

/// The longest polls, longest first, ties by start (see [`Index::polls_by_duration`]):
/// the [`LONGEST_KEPT`] longest, chosen with a heap of that size as the polls go by, so
/// ranking 10M events' polls takes no memory of their size.
pub(crate) fn longest_polls(ix: &Index) -> Vec<PollIdx> {
    use std::cmp::Reverse;
    let end = ix.end_ns;
    // A poll's rank: its length, then the earlier start (and lower index) first.
    type Key = (u64, Reverse<(u64, PollIdx)>);
    // A min-heap of the best so far: its top is the one to drop for a better poll.
    let mut best: std::collections::BinaryHeap<Reverse<Key>> =
        std::collections::BinaryHeap::with_capacity(LONGEST_KEPT.min(ix.polls.len()) + 1);
    // Once the heap is full, the length of its shortest: a poll shorter than that cannot
    // get in (most polls), and is passed by on its length alone.
    let mut floor = 0;
    for li in 0..ix.polls.lane_count() {
        let l = ix.polls.of_lane(li);
        for i in 0..l.len() {
            let Some(d) = l.at_least(i, floor, end) else {
                continue;
            };
            if !l.measured(i) {
                continue;
            }
            let key = (d, Reverse((l.start(i), ix.polls.idx(li, i))));
            if best.len() < LONGEST_KEPT {
                best.push(Reverse(key));
            } else if best.peek().is_some_and(|Reverse(worst)| key > *worst) {
                best.pop();
                best.push(Reverse(key));
            }
            if best.len() == LONGEST_KEPT {
                floor = best.peek().map_or(0, |Reverse((shortest, _))| *shortest);
            }
        }
    }
    let mut keyed: Vec<(u64, Reverse<(u64, PollIdx)>)> =
        best.into_iter().map(|Reverse(k)| k).collect();
    keyed.sort_unstable_by(|a, b| b.cmp(a));
    keyed.into_iter().map(|(_, Reverse((_, p)))| p).collect()
}

impl Index {
    /// The longest polls, longest first (at most [`LONGEST_KEPT`]): measured polls, and
    /// those known to have lasted at least so long; never a poll whose end was lost.
    /// Ranked at the first asking (the explorer's `L`): the report never needs them, and
    /// ranking a 10M-event dump's polls would add 7 ms to its first screen.
    pub fn polls_by_duration(&self) -> &[PollIdx] {
        self.longest.get_or_init(|| longest_polls(self))
    }

    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    pub fn window_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    pub fn task_idx(&self, id: u64) -> Option<TaskIdx> {
        self.dense_ids
            .get(id)
            .or_else(|| self.task_by_id.get(&id).copied())
    }

    /// Poll `p` (`None` past the last).
    pub fn poll(&self, p: PollIdx) -> Option<Poll> {
        self.polls.get(p)
    }

    /// The task an event is about.
    pub fn task_of_event(&self, e: EventIdx) -> Option<TaskIdx> {
        self.task_idx(self.events.get(e as usize)?.kind.task()?)
    }

    /// Row of event `e` in task `t`'s event list, if `e` is one of its events.
    pub fn task_event_row(&self, t: TaskIdx, e: EventIdx) -> Option<usize> {
        (self.task_of_event(e) == Some(t)).then(|| self.task_events(t).rank(self, e))
    }

    /// Row of the event of task `t` nearest to event `e`: its first event at or after
    /// `e`, else its last (0 for a task with no events in the window).
    pub fn task_row_near(&self, t: TaskIdx, e: EventIdx) -> usize {
        let list = self.task_events(t);
        list.rank(self, e).min(list.len().saturating_sub(1))
    }

    /// The event of task `t` nearest to event `e` (see [`Index::task_row_near`]).
    pub fn task_event_near(&self, t: TaskIdx, e: EventIdx) -> Option<EventIdx> {
        self.task_events(t).get(self, self.task_row_near(t, e))
    }

    /// Previous/next event of the same task as `e`.
    pub fn task_neighbour(&self, e: EventIdx, forward: bool) -> Option<EventIdx> {
        let t = self.task_of_event(e)?;
        let list = self.task_events(t);
        if forward {
            list.from(self, e.saturating_add(1)).next()
        } else {
            list.before(self, e).next()
        }
    }

    /// The first event at or after `ns` (O(log n)).
    pub fn event_at(&self, ns: u64) -> EventIdx {
        self.events.first_at(ns)
    }

    pub fn lane(&self, lane: u32) -> Option<&Lane> {
        self.lane_by_id.get(&lane).map(|&i| &self.lanes[i])
    }

    /// The poll that event `e` starts or ends (O(log n)).
    pub fn poll_at_event(&self, e: EventIdx) -> Option<PollIdx> {
        let ev = self.events.get(e as usize)?;
        let li = *self.lane_by_id.get(&ev.lane)?;
        let polls = self.polls.of_lane(li);
        let starting_at = |ts: u64| {
            (polls.first_from(ts)..polls.len())
                .take_while(move |&i| polls.start(i) <= ts)
                .filter(move |&i| polls.start(i) == ts)
        };
        let found = match ev.kind {
            EventKind::PollStart { .. } => starting_at(ev.ts_ns).find(|&i| polls.event(i) == e),
            EventKind::PollEnd {
                task, duration_ns, ..
            } => {
                let t = self.task_idx(task)?;
                // A poll known only from its end starts (for the index) at its end.
                duration_ns
                    .and_then(|d| {
                        starting_at(ev.ts_ns.saturating_sub(d)).find(|&i| polls.event(i) == e)
                    })
                    .or_else(|| {
                        // Else the poll this end closed: on the same lane, ending now (the
                        // lane's polls end in order, so it is among the last to start).
                        let upto = polls.first_from(ev.ts_ns.saturating_add(1));
                        (0..upto)
                            .rev()
                            .take_while(|&i| polls.end_or(i, self.end_ns) >= ev.ts_ns)
                            .find(|&i| {
                                polls.task(i) == t
                                    && polls.end(i) == Some(ev.ts_ns)
                                    && !polls.end_unknown(i)
                            })
                    })
            }
            _ => None,
        }?;
        Some(self.polls.idx(li, found))
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
        self.events
            .cursor(e as usize + 1)
            .take_while(|n| n.ts_ns == ev.ts_ns)
            .find_map(|n| match n.kind {
                EventKind::PollEnd { task, .. } if n.lane == ev.lane => self.task_idx(task),
                _ => None,
            })
    }

    /// The task a lane was polling at `ns`, if it was inside a poll: who was running when
    /// a waker was cloned or dropped, say.
    pub fn polling_at(&self, lane: u32, ns: u64) -> Option<TaskIdx> {
        let li = *self.lane_by_id.get(&lane)?;
        let polls = self.polls.of_lane(li);
        polls
            .range(ns, ns.saturating_add(1), self.end_ns)
            .find(|&i| polls.start(i) <= ns)
            .map(|i| polls.task(i))
    }

    /// Lane `li`'s polls and parks overlapping `[from, to)`, in time order.
    pub fn segments(&self, li: usize, from: u64, to: u64) -> Vec<Segment> {
        let polls = self.polls.of_lane(li);
        let mut out: Vec<Segment> = polls
            .range(from, to, self.end_ns)
            .map(|i| Segment::poll(self, li, i))
            .collect();
        let parks = self.lanes[li].parks_in(from, to);
        if !parks.is_empty() {
            out.extend(parks.iter().map(Segment::park));
            out.sort_by_key(|s| (s.start_ns, s.end_ns, s.poll));
        }
        out
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
