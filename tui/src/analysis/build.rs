//! Building the index: one pass over the events, one method per event kind.
//!
//! Events arrive as Tokio emits them, which is not always the order they happened in:
//! the after-poll hook runs after the task was released, so when the OS preempts a worker
//! between the poll and its hook, the same task's next poll can start on another worker
//! before the first poll's end is recorded. So polls are paired per lane (a poll's end is
//! on the lane its start is on), and a task may have two polls open on two lanes. A poll
//! whose end is missing (torn, or the ring lost it) is closed at its lane's next sign of
//! leaving it and marked end-unknown; it is "in progress at the dump" only when the
//! lane's own state at the dump says so.

use rustc_hash::FxHashMap as HashMap;

use dial9_format::{
    Activity, Dump, EventColumns, EventKind, TaskKind, ThreadInfo, ThreadKind, WakeSource,
};

use super::anomaly::{self, Thresholds};
use super::index::{
    CpuSample, EventIdx, Index, Lane, NONE, Poll, PollIdx, Segment, SegmentKind, Task, TaskEvents,
    TaskIdx, TaskState, Wake,
};

/// A timer a task armed and has not been polled since: when it should fire.
#[derive(Clone, Copy)]
struct Armed {
    deadline_ns: u64,
}

struct Builder {
    /// The window: its first event and the dump's moment. Busy time counts inside it only
    /// (a poll known from its end may have started before the window).
    start_ns: u64,
    end_ns: u64,
    tasks: Vec<Task>,
    task_by_id: HashMap<u64, TaskIdx>,
    lanes: Vec<Lane>,
    lane_by_id: HashMap<u32, usize>,
    event_task: Vec<TaskIdx>,
    event_task_pos: Vec<u32>,
    /// Per task: its events so far (the row of its next one).
    task_event_count: Vec<u32>,
    /// The watchdog's looks and stacks (`PollSample`, `PollStack`), few among many.
    samples: Vec<EventIdx>,
    polls: Vec<Poll>,
    wakes: Vec<Wake>,
    /// Per task: wakes waiting for its next poll.
    waiting: Vec<Vec<u32>>,
    /// Per task: its live wakers after its latest waker op in the window, when known
    /// (from the count the recorder put in the op, or counted from its spawn).
    wakers_now: Vec<Option<i64>>,
    /// Per task: it had a waker op in the window.
    had_waker_op: Vec<bool>,
    /// Per lane: the poll open on it, and when it parked.
    lane_open_poll: HashMap<u32, PollIdx>,
    lane_park: HashMap<u32, u64>,
    /// Per task: the timer it armed last and has not been polled since.
    armed: HashMap<TaskIdx, Armed>,
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
        let (dump, events) = dump.into_columns();
        Self::build_columns(dump, events, thresholds, progress)
    }

    /// Builds the index of a dump whose events are columns (`Dump::read_columns`).
    pub fn build_columns(
        dump: Dump,
        events: EventColumns,
        thresholds: Thresholds,
        progress: &mut dyn FnMut(f64),
    ) -> Index {
        let (mut dump, mut events) = (dump, events);
        crate::fmt::sanitize_dump(&mut dump);
        // Every rule assumes time order: a file that breaks it is sorted (stably, so
        // same-time events keep their recorded order) and says so.
        let reordered = events.sort_by_time();
        let mut b = Builder::new(&dump, &events);
        let n = events.len();
        for i in 0..n {
            if i % 262_144 == 0 {
                progress(i as f64 / n.max(1) as f64);
            }
            b.event(i as EventIdx, events.ts(i), events.lane(i), events.kind(i));
        }
        let start_ns = events.first().map_or(b.end_ns, |e| e.ts_ns);
        b.finish(&dump, start_ns);
        progress(1.0);
        // Measured polls, and those known to have lasted at least so long; never a poll
        // whose end was lost (its length is a guess).
        let end_ns = b.end_ns;
        // Sorted on keys gathered into one array: sorting indices by a key looked up in
        // `polls` would read it at random, a cache miss per comparison.
        let mut keyed: Vec<(std::cmp::Reverse<u64>, u64, PollIdx)> = b
            .polls
            .iter()
            .enumerate()
            .filter(|(_, poll)| !poll.end_unknown || poll.open_at_window_end)
            .map(|(p, poll)| {
                (
                    std::cmp::Reverse(poll.duration(end_ns)),
                    poll.start_ns,
                    p as PollIdx,
                )
            })
            .collect();
        keyed.sort_unstable();
        let polls_by_duration: Vec<PollIdx> = keyed.into_iter().map(|(_, _, p)| p).collect();
        let task_events = TaskEvents::new(&b.event_task, &b.task_event_count);
        let poll_samples = poll_samples(&b.polls, &b.samples, &b.event_task, &events, end_ns);
        let mut index = Index {
            poll_samples,
            dump,
            events,
            start_ns,
            end_ns,
            tasks: b.tasks,
            task_by_id: b.task_by_id,
            event_task: b.event_task,
            event_task_pos: b.event_task_pos,
            task_events,
            polls: b.polls,
            polls_by_duration,
            wakes: b.wakes,
            lanes: b.lanes,
            lane_by_id: b.lane_by_id,
            anomalies: Vec::new(),
            anomaly_starts: Default::default(),
            groups: Vec::new(),
            verdict: String::new(),
            thresholds,
            reordered,
        };
        let ranked = anomaly::detect(&index);
        let mut groups = super::groups::group(&index, &ranked);
        // Occurrences in group order, so stepping through them (n/N) goes cause first.
        let mut slots: Vec<Option<super::Anomaly>> = ranked.into_iter().map(Some).collect();
        let mut ordered = Vec::with_capacity(slots.len());
        for g in &mut groups {
            for m in &mut g.members {
                ordered.extend(slots[*m].take());
                *m = ordered.len() - 1;
            }
        }
        index.anomalies = ordered;
        for a in &index.anomalies {
            index.anomaly_starts[a.severity as usize].push(a.start_ns);
        }
        for starts in &mut index.anomaly_starts {
            starts.sort_unstable();
        }
        index.groups = groups;
        index.verdict = super::groups::verdict(&index);
        for a in &index.anomalies {
            if let Some(t) = a.task {
                index.tasks[t as usize].anomalies += 1;
            }
        }
        index
    }
}

/// The watchdog's looks at each poll: the task's `PollSample` events within the poll.
fn poll_samples(
    polls: &[Poll],
    samples: &[EventIdx],
    event_task: &[TaskIdx],
    events: &EventColumns,
    end_ns: u64,
) -> HashMap<PollIdx, Vec<EventIdx>> {
    let mut out: HashMap<PollIdx, Vec<EventIdx>> = HashMap::default();
    if samples.is_empty() {
        return out;
    }
    let mut samples_of: HashMap<TaskIdx, Vec<EventIdx>> = HashMap::default();
    for &e in samples {
        samples_of
            .entry(event_task[e as usize])
            .or_default()
            .push(e);
    }
    for (p, poll) in polls.iter().enumerate() {
        let Some(of) = samples_of.get(&poll.task) else {
            continue;
        };
        let within = poll.start_ns..=poll.end_ns.unwrap_or(end_ns);
        let mine: Vec<EventIdx> = of
            .iter()
            .copied()
            .filter(|&e| within.contains(&events.ts(e as usize)))
            .collect();
        if !mine.is_empty() {
            out.insert(p as PollIdx, mine);
        }
    }
    out
}

impl Builder {
    fn new(dump: &Dump, events: &EventColumns) -> Builder {
        let n = events.len();
        let end_ns = dump
            .header
            .dumped_at_ns
            .max(events.last().map_or(0, |e| e.ts_ns));
        let mut b = Builder {
            start_ns: events.first().map_or(end_ns, |e| e.ts_ns),
            end_ns,
            tasks: Vec::with_capacity(dump.tasks.len()),
            task_by_id: HashMap::default(),
            lanes: Vec::new(),
            lane_by_id: HashMap::default(),
            event_task: vec![NONE; n],
            event_task_pos: vec![NONE; n],
            task_event_count: Vec::new(),
            samples: Vec::new(),
            // Reserved generously: untouched capacity costs address space, not memory,
            // and growing 10M-event vectors by doubling would copy them repeatedly.
            polls: Vec::with_capacity(n / 2 + 16),
            wakes: Vec::with_capacity(n / 2 + 16),
            waiting: Vec::new(),
            wakers_now: Vec::new(),
            had_waker_op: Vec::new(),
            lane_open_poll: HashMap::default(),
            lane_park: HashMap::default(),
            armed: HashMap::default(),
        };
        b.task_by_id.reserve(dump.tasks.len());
        for t in &dump.tasks {
            b.task_by_id.insert(t.id, b.tasks.len() as TaskIdx);
            b.tasks.push(Task::new(
                t.id,
                t.name.clone(),
                t.kind,
                t.location.clone(),
                t.spawned_by,
            ));
        }
        for info in &dump.threads {
            b.lane_by_id.insert(info.lane, b.lanes.len());
            b.lanes.push(Lane::new(info.clone()));
        }
        b
    }

    /// The task with Tokio id `id`, added if the table does not know it.
    fn task(&mut self, id: u64) -> TaskIdx {
        let t = *self.task_by_id.entry(id).or_insert_with(|| {
            self.tasks
                .push(Task::new(id, String::new(), TaskKind::Unknown, None, None));
            (self.tasks.len() - 1) as TaskIdx
        });
        let n = self.tasks.len();
        if self.task_event_count.len() < n {
            self.task_event_count.resize(n, 0);
            self.waiting.resize_with(n, Vec::new);
            self.wakers_now.resize(n, None);
            self.had_waker_op.resize(n, false);
        }
        t
    }

    /// A waker op: the count it carries, or the last known count moved by `delta`.
    fn waker_op(&mut self, t: TaskIdx, live: Option<u64>, delta: i64) {
        let t = t as usize;
        self.had_waker_op[t] = true;
        self.wakers_now[t] = match live {
            Some(n) => Some(n as i64),
            None => self.wakers_now[t].map(|n| n + delta),
        };
    }

    /// The lane with id `lane`, added if the thread table does not know it.
    fn lane(&mut self, lane: u32) -> usize {
        *self.lane_by_id.entry(lane).or_insert_with(|| {
            self.lanes.push(Lane::new(ThreadInfo {
                lane,
                os_tid: 0,
                name: format!("lane {lane}"),
                worker: None,
                kind: ThreadKind::Other,
            }));
            self.lanes.len() - 1
        })
    }

    fn event(&mut self, e: EventIdx, ts: u64, lane: u32, kind: EventKind) {
        let li = self.lane(lane);
        let l = &mut self.lanes[li];
        if l.events == 0 {
            l.first_ns = ts;
        }
        l.last_ns = ts;
        l.events += 1;
        let task = kind.task().map(|id| self.task(id));
        if let Some(t) = task {
            self.event_task[e as usize] = t;
            let count = &mut self.task_event_count[t as usize];
            self.event_task_pos[e as usize] = *count;
            *count += 1;
        }
        match (kind, task) {
            (EventKind::Spawn { .. }, Some(t)) => {
                self.tasks[t as usize].whole_history = true;
                self.wakers_now[t as usize] = Some(0);
            }
            (EventKind::PollStart { .. }, Some(t)) => self.poll_start(e, ts, lane, t),
            (
                EventKind::PollEnd {
                    completed,
                    duration_ns,
                    ..
                },
                Some(t),
            ) => self.poll_end(e, ts, lane, t, completed, duration_ns),
            (EventKind::Wake { by_ref, source, .. }, Some(t)) => {
                self.wake(e, ts, t, by_ref, source)
            }
            (EventKind::WakerClone { live, .. }, Some(t)) => self.waker_op(t, live, 1),
            (EventKind::WakerDrop { live, .. }, Some(t)) => self.waker_op(t, live, -1),
            (EventKind::Terminate { .. }, Some(t)) => {
                self.tasks[t as usize].state = TaskState::Done;
                self.tasks[t as usize].terminated_ns = Some(ts);
            }
            (EventKind::Scheduled { latency_ns, .. }, Some(t)) => {
                self.scheduled(e, ts, t, latency_ns)
            }
            (EventKind::TimerArm { duration_ms, .. }, Some(t)) => {
                let deadline_ns = ts.saturating_add(duration_ms.saturating_mul(1_000_000));
                self.armed.insert(t, Armed { deadline_ns });
            }
            (EventKind::PollSample { .. } | EventKind::PollStack { .. }, Some(_)) => {
                self.samples.push(e)
            }
            (EventKind::Park, _) => {
                self.leave_poll(lane, ts, e);
                self.lane_park.insert(lane, ts);
            }
            (EventKind::ThreadStop, _) => self.leave_poll(lane, ts, e),
            (EventKind::Unpark { .. }, _) => self.unpark(li, lane, ts),
            (
                EventKind::CpuStat {
                    on_cpu_ns,
                    runq_wait_ns,
                },
                _,
            ) => self.lanes[li].cpu.push(CpuSample {
                at_ns: ts,
                on_cpu_ns,
                runq_wait_ns,
            }),
            _ => {}
        }
    }

    fn poll_start(&mut self, e: EventIdx, ts: u64, lane: u32, t: TaskIdx) {
        // A poll still open on this lane lost its end: this lane has moved on.
        self.leave_poll(lane, ts, e);
        let p = self.open_poll(t, lane, ts, e, false);
        self.lane_open_poll.insert(lane, p);
        // A timer that came due before this poll: the task waited for it from its
        // deadline, however late the wake itself came (a hog holding the only worker
        // also holds back the timer driver).
        let armed = self.armed.remove(&t);
        let mut timer_wait_found = false;
        let had_wakes = !self.waiting[t as usize].is_empty();
        for w in self.waiting[t as usize].drain(..) {
            let wake = &mut self.wakes[w as usize];
            // Only a wake from the runtime (the timer driver) is the timer's; a wake from
            // elsewhere means the task waited on something else (`select!` on a sleep and
            // a channel), and its deadline says nothing about this wait.
            if let Some(a) = armed
                && a.deadline_ns <= ts
                && wake.at_ns >= a.deadline_ns
                && matches!(wake.source, Some(WakeSource::Driver) | None)
            {
                wake.waits_from_ns = wake.waits_from_ns.min(a.deadline_ns);
                wake.late_timer = true;
                timer_wait_found = true;
            }
            wake.poll_at = Some(ts);
            wake.poll = p;
            wake.delay_ns = ts.saturating_sub(wake.waits_from_ns);
        }
        if let Some(a) = armed
            && a.deadline_ns <= ts
            && !timer_wait_found
            && !had_wakes
        {
            // No wake event for it (no tracing layer): the timer's lateness alone, pointing
            // at this poll (wakes stay in event order).
            self.wakes.push(Wake {
                late_timer: true,
                poll_at: Some(ts),
                poll: p,
                delay_ns: ts.saturating_sub(a.deadline_ns),
                ..Wake::waiting(e, t, a.deadline_ns, None, true)
            });
        }
        self.tasks[t as usize].polls += 1;
    }

    fn poll_end(
        &mut self,
        e: EventIdx,
        ts: u64,
        lane: u32,
        t: TaskIdx,
        completed: bool,
        duration_ns: Option<u64>,
    ) {
        match self.lane_open_poll.get(&lane).copied() {
            Some(p) if self.polls[p as usize].task == t => {
                self.lane_open_poll.remove(&lane);
                self.close_poll(p, ts, e, completed, false);
            }
            // Another task's poll is open here: both ends are confused (lost events);
            // that one ends now with its end unknown, and this end has no start.
            Some(_) => self.leave_poll(lane, ts, e),
            // The start was overwritten; the end still says how long the poll ran (the
            // recorder measured it), which is all a long poll needs.
            None => {
                if let Some(d) = duration_ns {
                    let p = self.open_poll(t, lane, ts.saturating_sub(d), e, true);
                    self.tasks[t as usize].polls += 1;
                    self.close_poll(p, ts, e, completed, false);
                }
            }
        }
        if completed {
            self.tasks[t as usize].state = TaskState::Done;
        }
    }

    /// A new poll of `t` on `lane` from `start_ns`, not yet ended.
    fn open_poll(
        &mut self,
        t: TaskIdx,
        lane: u32,
        start_ns: u64,
        e: EventIdx,
        start_overwritten: bool,
    ) -> PollIdx {
        self.polls.push(Poll {
            task: t,
            lane,
            start_ns,
            end_ns: None,
            start_event: e,
            end_event: NONE,
            completed: false,
            end_unknown: false,
            open_at_window_end: false,
            start_overwritten,
        });
        (self.polls.len() - 1) as PollIdx
    }

    /// The lane left whatever poll it had open, whose end was not recorded.
    fn leave_poll(&mut self, lane: u32, ts: u64, e: EventIdx) {
        if let Some(p) = self.lane_open_poll.remove(&lane) {
            self.close_poll(p, ts, e, false, true);
        }
    }

    fn close_poll(&mut self, p: PollIdx, ts: u64, e: EventIdx, completed: bool, unknown: bool) {
        let poll = &mut self.polls[p as usize];
        poll.end_ns = Some(ts);
        poll.end_event = e;
        poll.completed = completed;
        poll.end_unknown = unknown;
        let (t, start, lane) = (poll.task, poll.start_ns, poll.lane);
        let d = ts.saturating_sub(start);
        let li = self.lane_by_id[&lane];
        let l = &mut self.lanes[li];
        l.busy_ns = l
            .busy_ns
            .saturating_add(ts.saturating_sub(start.max(self.start_ns)));
        l.segments.push(Segment {
            start_ns: start,
            end_ns: ts,
            kind: SegmentKind::Polling(t),
            poll: p,
        });
        let task = &mut self.tasks[t as usize];
        task.busy_ns = task
            .busy_ns
            .saturating_add(ts.saturating_sub(start.max(self.start_ns)));
        // A poll whose end is unknown is not a measurement: never the longest.
        if !unknown && (d >= task.longest_poll_ns || task.longest_poll.is_none()) {
            task.longest_poll_ns = d;
            task.longest_poll = Some(p);
        }
        // Wakes that arrived during this poll wait from its end.
        for &w in &self.waiting[t as usize] {
            let wake = &mut self.wakes[w as usize];
            wake.waits_from_ns = wake.waits_from_ns.max(ts);
        }
    }

    fn wake(&mut self, e: EventIdx, ts: u64, t: TaskIdx, by_ref: bool, source: WakeSource) {
        let task = &mut self.tasks[t as usize];
        task.wakes += 1;
        if source == WakeSource::Task(task.id) {
            task.self_wakes += 1;
        }
        if !by_ref {
            self.waker_op(t, None, -1);
        }
        // A driver wake at or after an armed timer's deadline (1 ms slack for the timer
        // wheel's rounding) is that timer firing. Any other wake: the task is woken for
        // something else, and the armed timer no longer says when it meant to run.
        let timer = source == WakeSource::Driver
            && self
                .armed
                .get(&t)
                .is_some_and(|a| ts.saturating_add(1_000_000) >= a.deadline_ns);
        if source != WakeSource::Driver {
            self.armed.remove(&t);
        }
        self.waiting[t as usize].push(self.wakes.len() as u32);
        self.wakes
            .push(Wake::waiting(e, t, ts, Some(source), timer));
    }

    /// Without wake events (no tracing layer), Tokio's own measure of how long the task
    /// waited since it was scheduled stands in for the wake.
    fn scheduled(&mut self, e: EventIdx, ts: u64, t: TaskIdx, latency_ns: u64) {
        if !self.waiting[t as usize].is_empty() {
            return;
        }
        let from = ts.saturating_sub(latency_ns);
        self.waiting[t as usize].push(self.wakes.len() as u32);
        self.wakes.push(Wake::waiting(e, t, from, None, false));
    }

    fn unpark(&mut self, li: usize, lane: u32, ts: u64) {
        if let Some(s) = self.lane_park.remove(&lane) {
            let l = &mut self.lanes[li];
            l.parked_ns = l.parked_ns.saturating_add(ts.saturating_sub(s));
            l.segments.push(Segment {
                start_ns: s,
                end_ns: ts,
                kind: SegmentKind::Parked,
                poll: NONE,
            });
        }
    }

    /// Closes what was still open at the dump and settles each task's state.
    fn finish(&mut self, dump: &Dump, start_ns: u64) {
        let n = self.tasks.len();
        self.task_event_count.resize(n, 0);
        self.waiting.resize_with(n, Vec::new);
        self.wakers_now.resize(n, None);
        self.had_waker_op.resize(n, false);
        let end_ns = self.end_ns;
        // A poll open at the end is in progress at the dump only if its lane says so;
        // without lane states (a crash-surviving ring, an old dump) it is taken to be.
        let polling_at_dump: HashMap<u32, u64> = dump
            .lane_states
            .iter()
            .filter_map(|s| match s.activity {
                Activity::Polling { task } => Some((s.lane, task)),
                _ => None,
            })
            .collect();
        let state_since: HashMap<u32, u64> = dump
            .lane_states
            .iter()
            .map(|s| (s.lane, s.since_ns))
            .collect();
        let mut open: Vec<(u32, PollIdx)> = self.lane_open_poll.drain().collect();
        open.sort_unstable();
        let mut in_progress = vec![false; n];
        for (lane, p) in open {
            let li = self.lane_by_id[&lane];
            let task_id = self.tasks[self.polls[p as usize].task as usize].id;
            let confirmed =
                dump.lane_states.is_empty() || polling_at_dump.get(&lane) == Some(&task_id);
            let last = self.lanes[li].last_ns.max(self.polls[p as usize].start_ns);
            if !confirmed && state_since.get(&lane).is_some_and(|&since| since <= last) {
                // The lane's state at the dump began within the window, yet the window
                // has no event of it: the poll's end (and what followed) was lost.
                let e = self.polls[p as usize].start_event;
                self.close_poll(p, last, e, false, true);
                continue;
            }
            if !confirmed {
                // Over by the time the lane states were read, just after the events: it
                // ran at least until its lane's last event, and its task was in it when
                // the window ends.
                let e = self.polls[p as usize].start_event;
                self.close_poll(p, last, e, false, true);
                self.polls[p as usize].open_at_window_end = true;
                let t = self.polls[p as usize].task as usize;
                in_progress[t] = true;
                let task = &mut self.tasks[t];
                let d = last.saturating_sub(self.polls[p as usize].start_ns);
                if d >= task.longest_poll_ns {
                    task.longest_poll_ns = d;
                    task.longest_poll = Some(p);
                }
                continue;
            }
            let poll = self.polls[p as usize];
            in_progress[poll.task as usize] = true;
            let l = &mut self.lanes[li];
            l.busy_ns = l
                .busy_ns
                .saturating_add(end_ns.saturating_sub(poll.start_ns));
            l.segments.push(Segment {
                start_ns: poll.start_ns,
                end_ns,
                kind: SegmentKind::Polling(poll.task),
                poll: p,
            });
            let task = &mut self.tasks[poll.task as usize];
            let d = poll.duration(end_ns);
            task.busy_ns = task.busy_ns.saturating_add(d);
            if d >= task.longest_poll_ns {
                task.longest_poll_ns = d;
                task.longest_poll = Some(p);
            }
        }
        for (&lane, &s) in &self.lane_park {
            let li = self.lane_by_id[&lane];
            let l = &mut self.lanes[li];
            l.parked_ns = l.parked_ns.saturating_add(end_ns.saturating_sub(s));
            l.segments.push(Segment {
                start_ns: s,
                end_ns,
                kind: SegmentKind::Parked,
                poll: NONE,
            });
        }
        // A lane parked since before the window (no events at all) still shows parked.
        for st in &dump.lane_states {
            if let (Activity::Parked, Some(&li)) = (st.activity, self.lane_by_id.get(&st.lane))
                && self.lanes[li].events == 0
            {
                let s = st.since_ns.max(start_ns);
                self.lanes[li].segments.push(Segment {
                    start_ns: s,
                    end_ns,
                    kind: SegmentKind::Parked,
                    poll: NONE,
                });
            }
        }
        // Two runtimes each have a worker 0: tell their lanes apart.
        let mut seen_workers = std::collections::HashMap::new();
        for lane in &self.lanes {
            if let (ThreadKind::Worker, Some(w)) = (lane.info.kind, lane.info.worker) {
                *seen_workers.entry(w).or_insert(0u32) += 1;
            }
        }
        for lane in &mut self.lanes {
            lane.shared_worker_index = lane
                .info
                .worker
                .is_some_and(|w| seen_workers.get(&w).copied().unwrap_or(0) > 1);
            // Nearly in order already: a stable sort finds the runs and merges them.
            lane.segments
                .sort_by_key(|s| (s.start_ns, s.end_ns, s.poll));
            // Tokio starts its workers through the blocking spawner, so a worker whose
            // index was never learned looks like a blocking thread; only workers poll
            // tasks, so one that polled is a worker.
            if lane.info.kind == ThreadKind::Blocking
                && lane
                    .segments
                    .iter()
                    .any(|s| matches!(s.kind, SegmentKind::Polling(_)))
            {
                lane.info.kind = ThreadKind::Worker;
            }
        }
        // Wakes never followed by a poll wait until the dump.
        for w in &mut self.wakes {
            if w.poll_at.is_none() {
                w.delay_ns = end_ns.saturating_sub(w.waits_from_ns);
            }
        }
        for w in &self.wakes {
            let t = &mut self.tasks[w.task as usize];
            if w.poll_at.is_some() {
                t.longest_sched_ns = t.longest_sched_ns.max(w.delay_ns);
            }
        }
        // Live wakers: after the task's last waker op in the window (the recorder's own
        // count carried by the op, or counted from its spawn); for a task with no op in
        // the window, the recorder's count taken just before the events were read.
        let recorded: HashMap<u64, i64> = dump
            .facts
            .live_wakers
            .iter()
            .map(|w| (w.task, w.live))
            .collect();
        let unhooked: std::collections::HashSet<u64> =
            dump.facts.unhooked.iter().copied().collect();
        for (ti, task) in self.tasks.iter_mut().enumerate() {
            let from_recorder = !self.had_waker_op[ti] && recorded.contains_key(&task.id);
            task.live_wakers = if from_recorder {
                recorded.get(&task.id).map(|&n| n.max(0))
            } else {
                self.wakers_now[ti].map(|n| n.max(0))
            };
            task.wakers_from_recorder =
                from_recorder || dump.facts.live_wakers.iter().any(|w| w.task == task.id);
            task.alive_at_dump = recorded.contains_key(&task.id);
            if unhooked.contains(&task.id) {
                task.state = TaskState::Unobserved;
                continue;
            }
            if task.state == TaskState::Done {
                continue;
            }
            task.state = if in_progress[ti] {
                TaskState::Running
            } else if !self.waiting[ti].is_empty() {
                TaskState::Scheduled
            } else {
                TaskState::Idle
            };
        }
    }
}
