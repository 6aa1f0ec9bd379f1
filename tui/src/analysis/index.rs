//! The index: everything the report and the explorer look up, built once from a dump.
//!
//! Building is one pass over the events (plus sorting the polls by duration); every later
//! question (a task's polls, the next event of the same task, what a lane did at time t)
//! is an array lookup or a binary search.

use rustc_hash::FxHashMap as HashMap;

use dial9_format::{
    Activity, Dump, EventKind, SpawnLocation, TaskKind, ThreadInfo, ThreadKind, WakeSource,
};

use super::anomaly::{self, Anomaly, Thresholds};

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
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Scheduled => "scheduled",
            TaskState::Idle => "idle",
            TaskState::Done => "done",
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
    /// Waker clones - drops - wakes by value, over the window.
    pub live_wakers: i64,
    /// The window holds the task's spawn, so counts (live wakers above all) are exact.
    pub whole_history: bool,
    pub anomalies: u32,
}

impl Task {
    /// The name to show: the task's name, or `#id` for unnamed tasks.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            format!("#{}", self.id)
        } else {
            self.name.clone()
        }
    }
}

pub type PollIdx = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poll {
    pub task: TaskIdx,
    pub lane: u32,
    pub start_ns: u64,
    /// `None`: still in progress at dump time.
    pub end_ns: Option<u64>,
    pub start_event: EventIdx,
    pub end_event: EventIdx,
    pub completed: bool,
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
    /// Start of the task's next poll, `None` if it was not polled before the dump.
    pub poll_at: Option<u64>,
    pub poll: PollIdx,
    /// Time the task waited to be polled: from the wake (or, if the task was running when
    /// woken, from the end of that poll) to its next poll, or to the dump.
    pub delay_ns: u64,
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
        }
    }

    pub fn label(&self) -> String {
        match (self.info.kind, self.info.worker) {
            (ThreadKind::Worker, Some(w)) => format!("worker {w}"),
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
    pub dump: Dump,
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
    pub task_events: Vec<Vec<EventIdx>>,
    /// Polls in start order.
    pub polls: Vec<Poll>,
    /// Poll indices, longest first.
    pub polls_by_duration: Vec<PollIdx>,
    pub wakes: Vec<Wake>,
    pub lanes: Vec<Lane>,
    pub lane_by_id: HashMap<u32, usize>,
    pub anomalies: Vec<Anomaly>,
    pub thresholds: Thresholds,
    /// Events that were out of time order in the file (sorted here; a recorder writes
    /// them in order, so a non-zero count means a damaged or hand-made file).
    pub reordered: usize,
}

impl Index {
    pub fn build(dump: Dump, thresholds: Thresholds) -> Index {
        Self::build_with_progress(dump, thresholds, &mut |_| {})
    }

    /// Builds the index, calling `progress` with a fraction in 0..=1 now and then.
    pub fn build_with_progress(
        dump: Dump,
        thresholds: Thresholds,
        progress: &mut dyn FnMut(f64),
    ) -> Index {
        let mut dump = dump;
        crate::fmt::sanitize_dump(&mut dump);
        // Every rule below assumes time order: a file that breaks it is sorted (stably,
        // so same-time events keep their recorded order) and says so.
        let reordered = dump
            .events
            .windows(2)
            .filter(|w| w[1].ts_ns < w[0].ts_ns)
            .count();
        if reordered > 0 {
            dump.events.sort_by_key(|e| e.ts_ns);
        }
        let n = dump.events.len();
        let end_ns = dump
            .header
            .dumped_at_ns
            .max(dump.events.last().map_or(0, |e| e.ts_ns));
        let start_ns = dump.events.first().map_or(end_ns, |e| e.ts_ns);

        // Tasks from the table, then any id only the events know.
        let mut tasks: Vec<Task> = Vec::with_capacity(dump.tasks.len());
        let mut task_by_id = HashMap::default();
        task_by_id.reserve(dump.tasks.len());
        for t in &dump.tasks {
            task_by_id.insert(t.id, tasks.len() as TaskIdx);
            tasks.push(new_task(
                t.id,
                t.name.clone(),
                t.kind,
                t.location.clone(),
                t.spawned_by,
            ));
        }
        let mut task_of = |id: u64, tasks: &mut Vec<Task>| -> TaskIdx {
            *task_by_id.entry(id).or_insert_with(|| {
                tasks.push(new_task(id, String::new(), TaskKind::Unknown, None, None));
                (tasks.len() - 1) as TaskIdx
            })
        };

        let mut lanes: Vec<Lane> = Vec::new();
        let mut lane_by_id = HashMap::default();
        for info in &dump.threads {
            lane_by_id.insert(info.lane, lanes.len());
            lanes.push(Lane::new(info.clone()));
        }

        let mut event_task = vec![NONE; n];
        let mut event_task_pos = vec![NONE; n];
        let mut task_events: Vec<Vec<EventIdx>> = Vec::new();
        // Reserved generously: untouched capacity costs address space, not memory, and
        // growing 10M-event vectors by doubling would copy (and fault in) them repeatedly.
        let mut polls: Vec<Poll> = Vec::with_capacity(n / 2 + 16);
        let mut wakes: Vec<Wake> = Vec::with_capacity(n / 2 + 16);
        // Per task: open poll, wakes waiting for a poll, whether a spawn was seen.
        let mut open_poll: Vec<PollIdx> = Vec::new();
        let mut waiting: Vec<Vec<u32>> = Vec::new();
        // Per lane: open poll, park start.
        let mut lane_open_poll: HashMap<u32, PollIdx> = HashMap::default();
        let mut lane_park: HashMap<u32, u64> = HashMap::default();
        // Per task: deadline of the last timer it armed and has not been woken since.
        let mut timer_deadline: HashMap<TaskIdx, u64> = HashMap::default();

        for (i, e) in dump.events.iter().enumerate() {
            if i % 262_144 == 0 {
                progress(i as f64 / n.max(1) as f64);
            }
            let ei = i as EventIdx;
            let lane_i = *lane_by_id.entry(e.lane).or_insert_with(|| {
                // A lane the thread table does not know (it should, but the file is input).
                lanes.push(Lane::new(ThreadInfo {
                    lane: e.lane,
                    os_tid: 0,
                    name: format!("lane {}", e.lane),
                    worker: None,
                    kind: ThreadKind::Other,
                }));
                lanes.len() - 1
            });
            let lane = &mut lanes[lane_i];
            if lane.events == 0 {
                lane.first_ns = e.ts_ns;
            }
            lane.last_ns = e.ts_ns;
            lane.events += 1;
            let tid = e.kind.task().map(|id| task_of(id, &mut tasks));
            if let Some(t) = tid {
                let t = t as usize;
                if task_events.len() < tasks.len() {
                    task_events.resize_with(tasks.len(), Vec::new);
                    open_poll.resize(tasks.len(), NONE);
                    waiting.resize_with(tasks.len(), Vec::new);
                }
                event_task[i] = t as TaskIdx;
                event_task_pos[i] = task_events[t].len() as u32;
                task_events[t].push(ei);
            }
            match e.kind {
                EventKind::Spawn { .. } => {
                    let t = tid.unwrap_or(0) as usize;
                    tasks[t].whole_history = true;
                }
                EventKind::PollStart { .. } => {
                    let t = tid.unwrap_or(0);
                    let p = polls.len() as PollIdx;
                    polls.push(Poll {
                        task: t,
                        lane: e.lane,
                        start_ns: e.ts_ns,
                        end_ns: None,
                        start_event: ei,
                        end_event: NONE,
                        completed: false,
                    });
                    open_poll[t as usize] = p;
                    lane_open_poll.insert(e.lane, p);
                    for w in waiting[t as usize].drain(..) {
                        let wake = &mut wakes[w as usize];
                        wake.poll_at = Some(e.ts_ns);
                        wake.poll = p;
                        wake.delay_ns = e.ts_ns.saturating_sub(wake.waits_from_ns);
                    }
                    let task = &mut tasks[t as usize];
                    task.polls += 1;
                }
                EventKind::PollEnd { completed, .. } => {
                    let t = tid.unwrap_or(0);
                    let p = open_poll[t as usize];
                    if p != NONE && polls[p as usize].end_ns.is_none() {
                        let poll = &mut polls[p as usize];
                        poll.end_ns = Some(e.ts_ns);
                        poll.end_event = ei;
                        poll.completed = completed;
                        let d = e.ts_ns.saturating_sub(poll.start_ns);
                        let task = &mut tasks[t as usize];
                        task.busy_ns = task.busy_ns.saturating_add(d);
                        if d >= task.longest_poll_ns || task.longest_poll.is_none() {
                            task.longest_poll_ns = d;
                            task.longest_poll = Some(p);
                        }
                        lanes[lane_i].busy_ns = lanes[lane_i].busy_ns.saturating_add(d);
                        lanes[lane_i].segments.push(Segment {
                            start_ns: poll.start_ns,
                            end_ns: e.ts_ns,
                            kind: SegmentKind::Polling(t),
                            poll: p,
                        });
                        // Wakes that arrived during this poll wait from its end.
                        for &w in &waiting[t as usize] {
                            let wake = &mut wakes[w as usize];
                            wake.waits_from_ns = wake.waits_from_ns.max(e.ts_ns);
                        }
                    }
                    open_poll[t as usize] = NONE;
                    if completed {
                        tasks[t as usize].state = TaskState::Done;
                    }
                    lane_open_poll.remove(&e.lane);
                }
                EventKind::Wake { by_ref, source, .. } => {
                    let t = tid.unwrap_or(0);
                    let task = &mut tasks[t as usize];
                    task.wakes += 1;
                    if source == WakeSource::Task(task.id) {
                        task.self_wakes += 1;
                    }
                    if !by_ref {
                        task.live_wakers -= 1;
                    }
                    // A driver wake at or after an armed timer's deadline (1 ms slack for
                    // the timer wheel's rounding) is that timer firing.
                    let timer = source == WakeSource::Driver
                        && timer_deadline
                            .remove(&t)
                            .is_some_and(|d| e.ts_ns.saturating_add(1_000_000) >= d);
                    // Waiting starts now, or when the poll in progress ends.
                    waiting[t as usize].push(wakes.len() as u32);
                    wakes.push(Wake {
                        event: ei,
                        task: t,
                        at_ns: e.ts_ns,
                        waits_from_ns: e.ts_ns,
                        source: Some(source),
                        timer,
                        poll_at: None,
                        poll: NONE,
                        delay_ns: 0,
                    });
                }
                EventKind::WakerClone { .. } => tasks[tid.unwrap_or(0) as usize].live_wakers += 1,
                EventKind::WakerDrop { .. } => tasks[tid.unwrap_or(0) as usize].live_wakers -= 1,
                EventKind::Terminate { .. } => {
                    tasks[tid.unwrap_or(0) as usize].state = TaskState::Done
                }
                EventKind::Scheduled { latency_ns, .. } => {
                    // Without wake events (no tracing layer), Tokio's own measure of how
                    // long the task waited since it was scheduled stands in for the wake.
                    let t = tid.unwrap_or(0);
                    if waiting[t as usize].is_empty() {
                        let from = e.ts_ns.saturating_sub(latency_ns);
                        waiting[t as usize].push(wakes.len() as u32);
                        wakes.push(Wake {
                            event: ei,
                            task: t,
                            at_ns: from,
                            waits_from_ns: from,
                            source: None,
                            timer: false,
                            poll_at: None,
                            poll: NONE,
                            delay_ns: 0,
                        });
                    }
                }
                EventKind::TimerArm {
                    task: Some(_),
                    duration_ms,
                } => {
                    if let Some(t) = tid {
                        timer_deadline.insert(
                            t,
                            e.ts_ns
                                .saturating_add(duration_ms.saturating_mul(1_000_000)),
                        );
                    }
                }
                EventKind::Park => {
                    lane_park.insert(e.lane, e.ts_ns);
                }
                EventKind::Unpark { .. } => {
                    if let Some(s) = lane_park.remove(&e.lane) {
                        lanes[lane_i].parked_ns = lanes[lane_i]
                            .parked_ns
                            .saturating_add(e.ts_ns.saturating_sub(s));
                        lanes[lane_i].segments.push(Segment {
                            start_ns: s,
                            end_ns: e.ts_ns,
                            kind: SegmentKind::Parked,
                            poll: NONE,
                        });
                    }
                }
                _ => {}
            }
        }
        task_events.resize_with(tasks.len(), Vec::new);
        open_poll.resize(tasks.len(), NONE);
        waiting.resize_with(tasks.len(), Vec::new);

        // Close what was still open at the dump.
        for (&lane, &p) in &lane_open_poll {
            let li = lane_by_id[&lane];
            let poll = polls[p as usize];
            lanes[li].busy_ns = lanes[li]
                .busy_ns
                .saturating_add(end_ns.saturating_sub(poll.start_ns));
            lanes[li].segments.push(Segment {
                start_ns: poll.start_ns,
                end_ns,
                kind: SegmentKind::Polling(poll.task),
                poll: p,
            });
            let task = &mut tasks[poll.task as usize];
            let d = poll.duration(end_ns);
            task.busy_ns = task.busy_ns.saturating_add(d);
            if d >= task.longest_poll_ns {
                task.longest_poll_ns = d;
                task.longest_poll = Some(p);
            }
        }
        for (&lane, &s) in &lane_park {
            let li = lane_by_id[&lane];
            lanes[li].parked_ns = lanes[li].parked_ns.saturating_add(end_ns.saturating_sub(s));
            lanes[li].segments.push(Segment {
                start_ns: s,
                end_ns,
                kind: SegmentKind::Parked,
                poll: NONE,
            });
        }
        // A lane parked since before the window (no events at all) still shows parked.
        for st in &dump.lane_states {
            if let (Activity::Parked, Some(&li)) = (st.activity, lane_by_id.get(&st.lane))
                && lanes[li].events == 0
            {
                let s = st.since_ns.max(start_ns);
                lanes[li].segments.push(Segment {
                    start_ns: s,
                    end_ns,
                    kind: SegmentKind::Parked,
                    poll: NONE,
                });
            }
        }
        for lane in &mut lanes {
            lane.segments
                .sort_unstable_by_key(|s| (s.start_ns, s.end_ns, s.poll));
        }
        // Wakes never followed by a poll wait until the dump.
        for w in &mut wakes {
            if w.poll_at.is_none() {
                w.delay_ns = end_ns.saturating_sub(w.waits_from_ns);
            }
        }
        for w in &wakes {
            let t = &mut tasks[w.task as usize];
            if w.poll_at.is_some() {
                t.longest_sched_ns = t.longest_sched_ns.max(w.delay_ns);
            }
        }
        // States at dump time.
        for (ti, task) in tasks.iter_mut().enumerate() {
            if task.state == TaskState::Done {
                continue;
            }
            task.state = if open_poll[ti] != NONE {
                TaskState::Running
            } else if !waiting[ti].is_empty() {
                TaskState::Scheduled
            } else {
                TaskState::Idle
            };
        }
        let mut polls_by_duration: Vec<PollIdx> = (0..polls.len() as PollIdx).collect();
        polls_by_duration.sort_unstable_by_key(|&p| {
            (
                std::cmp::Reverse(polls[p as usize].duration(end_ns)),
                polls[p as usize].start_ns,
            )
        });
        progress(1.0);

        let mut index = Index {
            dump,
            start_ns,
            end_ns,
            tasks,
            task_by_id,
            event_task,
            event_task_pos,
            task_events,
            polls,
            polls_by_duration,
            wakes,
            lanes,
            lane_by_id,
            anomalies: Vec::new(),
            thresholds,
            reordered,
        };
        index.anomalies = anomaly::detect(&index);
        for a in &index.anomalies {
            if let Some(t) = a.task {
                index.tasks[t as usize].anomalies += 1;
            }
        }
        index
    }

    pub fn event_count(&self) -> usize {
        self.dump.events.len()
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
        let i = self.dump.events.partition_point(|e| e.ts_ns < ns);
        i.min(self.dump.events.len().saturating_sub(1)) as EventIdx
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
        let start = match self.dump.events.get(e as usize)?.kind {
            EventKind::PollStart { .. } => e,
            EventKind::PollEnd { .. } => {
                let mut cur = e;
                loop {
                    cur = self.task_neighbour(cur, false)?;
                    if matches!(
                        self.dump.events[cur as usize].kind,
                        EventKind::PollStart { .. }
                    ) {
                        break cur;
                    }
                }
            }
            _ => return None,
        };
        self.polls
            .binary_search_by_key(&start, |p| p.start_event)
            .ok()
            .map(|p| p as PollIdx)
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

fn new_task(
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
        live_wakers: 0,
        whole_history: false,
        anomalies: 0,
    }
}
