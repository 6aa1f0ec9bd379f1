//! Anomaly rules: each looks at the index and says what went wrong, where, and what it
//! usually means.

use dial9_format::{EventKind, Reason, TaskKind, ThreadKind, WakeSource};

use super::index::{EventIdx, Index, NONE, TaskIdx, TaskState};

const MS: u64 = 1_000_000;

/// Detection thresholds (nanoseconds). Defaults follow dial9's published red flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub long_poll_warn: u64,
    pub long_poll_crit: u64,
    pub sched_warn: u64,
    pub sched_crit: u64,
    pub stall: u64,
    pub self_wake_min: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            long_poll_warn: 10 * MS,
            long_poll_crit: 50 * MS,
            sched_warn: 5 * MS,
            sched_crit: 50 * MS,
            stall: 100 * MS,
            self_wake_min: 100,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    LongPoll,
    SchedulingDelay,
    LostWaker,
    PollInProgress,
    SelfWakeStorm,
    WorkerStall,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 6] = [
        AnomalyKind::LongPoll,
        AnomalyKind::SchedulingDelay,
        AnomalyKind::LostWaker,
        AnomalyKind::PollInProgress,
        AnomalyKind::SelfWakeStorm,
        AnomalyKind::WorkerStall,
    ];

    /// Order among anomalies of one severity: causes first.
    pub(crate) fn rank(self) -> u8 {
        match self {
            AnomalyKind::PollInProgress => 0,
            AnomalyKind::LostWaker => 1,
            AnomalyKind::LongPoll => 2,
            AnomalyKind::SchedulingDelay => 3,
            AnomalyKind::WorkerStall => 4,
            AnomalyKind::SelfWakeStorm => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::LongPoll => "long-poll",
            AnomalyKind::SchedulingDelay => "scheduling-delay",
            AnomalyKind::LostWaker => "lost-waker",
            AnomalyKind::PollInProgress => "poll-in-progress",
            AnomalyKind::SelfWakeStorm => "self-wake-storm",
            AnomalyKind::WorkerStall => "worker-stall",
        }
    }

    pub fn parse(s: &str) -> Option<AnomalyKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What it usually means and what to do: shown with each anomaly in the explorer's
    /// detail view and as `advice` in `report --json`.
    pub fn advice(self) -> &'static str {
        match self {
            AnomalyKind::LongPoll => {
                "a poll ran long without yielding: blocking I/O, a lock, or CPU work inside \
                 async code; move it to spawn_blocking or add yield points"
            }
            AnomalyKind::SchedulingDelay => {
                "a woken task waited for a worker: the workers were busy with other polls; \
                 look at what ran on the lanes meanwhile"
            }
            AnomalyKind::LostWaker => {
                "the task is waiting but nothing holds its waker, so nothing can wake it: \
                 a future returned Pending without arranging a wake-up"
            }
            AnomalyKind::PollInProgress => {
                "a poll was running when the dump was taken: the panicking or hung poll"
            }
            AnomalyKind::SelfWakeStorm => {
                "the task mostly wakes itself: a busy loop through yield_now or wake_by_ref \
                 that burns CPU while looking idle"
            }
            AnomalyKind::WorkerStall => {
                "a worker did not park for a long time while woken tasks waited: long polls \
                 back to back on one worker"
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub severity: Severity,
    /// Index into `Index::tasks`.
    pub task: Option<TaskIdx>,
    pub lane: Option<u32>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// How bad, in the rule's own unit (ns for durations, a count for storms); ranks
    /// anomalies of one severity.
    pub magnitude: u64,
    /// The event to jump to.
    pub event: EventIdx,
    pub message: String,
    /// The dump's own cause (the panicking poll): ranked first whatever its magnitude.
    pub is_dump_cause: bool,
    /// Explained by the host, not the code: the thread was waiting for a CPU (runnable,
    /// not running) for most of the time. Then the severity is at most a warning.
    pub host_contention: bool,
    /// For a long or unfinished poll: what the recorder's watchdog saw its thread doing.
    pub why: Option<super::why::PollWhy>,
}

impl Anomaly {
    /// What to do: the watchdog's reading of this poll when there is one, else the
    /// kind's general advice.
    pub fn advice(&self) -> &'static str {
        self.why
            .as_ref()
            .map_or_else(|| self.kind.advice(), |w| w.advice())
    }
}

/// How many anomalies there are of each severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeverityCounts {
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
}

impl SeverityCounts {
    pub fn of(anomalies: &[Anomaly]) -> SeverityCounts {
        let mut c = SeverityCounts::default();
        for a in anomalies {
            match a.severity {
                Severity::Critical => c.critical += 1,
                Severity::Warning => c.warning += 1,
                Severity::Info => c.info += 1,
            }
        }
        c
    }
}

fn ms(ns: u64) -> String {
    crate::fmt::duration(ns)
}

/// Runs every rule and ranks the result, worst first.
pub fn detect(ix: &Index) -> Vec<Anomaly> {
    let th = ix.thresholds;
    let mut out = Vec::new();
    long_polls(ix, &th, &mut out);
    in_progress(ix, &th, &mut out);
    scheduling_delays(ix, &th, &mut out);
    lost_wakers(ix, &th, &mut out);
    self_wake_storms(ix, &th, &mut out);
    worker_stalls(ix, &th, &mut out);
    host_contention(ix, &mut out);
    damaged(ix, &mut out);
    // Worst first: severity, then root causes before their consequences (a long poll
    // causes the scheduling delays and the worker stall around it), then magnitude.
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.is_dump_cause.cmp(&a.is_dump_cause))
            .then(a.kind.rank().cmp(&b.kind.rank()))
            .then(b.magnitude.cmp(&a.magnitude))
            .then(a.start_ns.cmp(&b.start_ns))
    });
    out
}

fn long_polls(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    for &p in &ix.polls_by_duration {
        let poll = &ix.polls[p as usize];
        let Some(end) = poll.end_ns else { continue };
        let d = end.saturating_sub(poll.start_ns);
        if d < th.long_poll_warn {
            break;
        }
        let severity = if d >= th.long_poll_crit {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let task = &ix.tasks[poll.task as usize];
        let how_long = if poll.open_at_window_end {
            format!(
                "at least {} (still running when the dump read the ring)",
                ms(d)
            )
        } else {
            ms(d)
        };
        let why = super::why::explain(ix, p);
        // The watchdog saw the thread wait for a CPU most of the poll: the host's doing.
        let host = why.as_ref().is_some_and(|w| {
            w.cause == super::why::Cause::WaitingForCpu && w.watched_ns.saturating_mul(2) >= d
        });
        let mut message = format!(
            "{} polled for {} without yielding on {}, blocking every other task queued there",
            task.label(),
            how_long,
            lane_label(ix, poll.lane)
        );
        if let Some(w) = &why {
            message.push_str(&format!(": {}", w.summary()));
        }
        out.push(Anomaly {
            kind: AnomalyKind::LongPoll,
            severity: if host {
                severity.min(Severity::Warning)
            } else {
                severity
            },
            task: Some(poll.task),
            lane: Some(poll.lane),
            start_ns: poll.start_ns,
            end_ns: end,
            magnitude: d,
            event: poll.start_event,
            is_dump_cause: false,
            host_contention: host,
            why,
            message,
        });
    }
}

fn in_progress(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    let panic_task = match &ix.dump.header.reason {
        Reason::Panic { task, .. } => *task,
        _ => None,
    };
    for (p, poll) in ix.polls.iter().enumerate() {
        if poll.end_ns.is_some() {
            continue;
        }
        let d = ix.end_ns.saturating_sub(poll.start_ns);
        let why = super::why::explain(ix, p as super::index::PollIdx);
        let task = &ix.tasks[poll.task as usize];
        let panicked = panic_task == Some(task.id);
        let (severity, what) = if panicked {
            (Severity::Critical, "panicked in this poll")
        } else if d >= th.long_poll_crit {
            (
                Severity::Critical,
                "was still in this poll at the dump (a long poll, or a hang)",
            )
        } else if d >= th.long_poll_warn {
            (Severity::Warning, "was still in this poll at the dump")
        } else {
            (Severity::Info, "was being polled at the dump")
        };
        out.push(Anomaly {
            kind: AnomalyKind::PollInProgress,
            severity,
            task: Some(poll.task),
            lane: Some(poll.lane),
            start_ns: poll.start_ns,
            end_ns: ix.end_ns,
            magnitude: d,
            event: poll.start_event,
            is_dump_cause: panicked,
            host_contention: false,
            message: format!(
                "{} {what} on {} after {} of polling{}",
                task.label(),
                lane_label(ix, poll.lane),
                ms(d),
                why.as_ref()
                    .map(|w| format!(": {}", w.summary()))
                    .unwrap_or_default()
            ),
            why,
        });
    }
}

fn scheduling_delays(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    // One anomaly per poll that ended a wait: the earliest wake leading to it.
    let mut seen_poll = std::collections::HashSet::new();
    for w in &ix.wakes {
        if w.delay_ns < th.sched_warn {
            continue;
        }
        if w.poll != NONE && !seen_poll.insert(w.poll) {
            continue;
        }
        let task = &ix.tasks[w.task as usize];
        if task.kind == TaskKind::Blocking || task.state == TaskState::Unobserved {
            continue;
        }
        let severity = if w.delay_ns >= th.sched_crit {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let source = match w.source {
            Some(WakeSource::Task(t)) if t == task.id => "woken by itself".to_string(),
            Some(WakeSource::Task(t)) => format!("woken by {}", ix.task_label(t)),
            Some(WakeSource::Driver) if w.timer => "woken by its timer".into(),
            Some(WakeSource::Driver) => "woken by the runtime (I/O driver or yield_now)".into(),
            Some(WakeSource::Foreign) => "woken by a thread outside the runtime".into(),
            None => "scheduled".into(),
        };
        let lane = ix.events.lane(w.event as usize);
        let message = match w.poll_at {
            Some(_) if w.late_timer => format!(
                "{} was polled {} after its timer was due: the timer fired late or the \
                 task waited for a worker (something held the runtime)",
                task.label(),
                ms(w.delay_ns)
            ),
            Some(_) => format!(
                "{} was {} and waited {} for a worker to poll it",
                task.label(),
                source,
                ms(w.delay_ns)
            ),
            None => format!(
                "{} was {} and never polled: {} until the dump",
                task.label(),
                source,
                ms(w.delay_ns)
            ),
        };
        out.push(Anomaly {
            kind: AnomalyKind::SchedulingDelay,
            severity,
            task: Some(w.task),
            lane: Some(lane),
            start_ns: w.at_ns,
            end_ns: w.poll_at.unwrap_or(ix.end_ns),
            magnitude: w.delay_ns,
            event: w.event,
            message,
            is_dump_cause: false,
            host_contention: false,
            why: None,
        });
    }
}

/// Every worker whose activity was recorded parked at least once in the window.
fn every_worker_parked(ix: &Index) -> bool {
    let mut workers = ix
        .lanes
        .iter()
        .filter(|l| l.info.kind == ThreadKind::Worker && !l.segments.is_empty())
        .peekable();
    workers.peek().is_some()
        && workers.all(|l| {
            l.segments
                .iter()
                .any(|s| s.kind == super::index::SegmentKind::Parked && s.start_ns >= ix.start_ns)
        })
}

/// Waker ops of a task in the window: (event, change in its live wakers).
fn waker_ops(ix: &Index, ti: usize) -> impl DoubleEndedIterator<Item = (EventIdx, i64)> + '_ {
    ix.task_events[ti].iter().filter_map(|&e| {
        let delta = match ix.events.kind(e as usize) {
            EventKind::WakerClone { .. } => 1,
            EventKind::WakerDrop { .. } | EventKind::Wake { by_ref: false, .. } => -1,
            _ => return None,
        };
        Some((e, delta))
    })
}

/// The task's live wakers just before event `before`: from the count the recorder put in
/// its waker ops, or counted from its spawn; `None` if neither is in the window.
fn count_before(ix: &Index, ti: usize, before: EventIdx) -> Option<i64> {
    let mut known = None;
    for &e in ix.task_events[ti].iter().take_while(|&&e| e < before) {
        known = match ix.events.kind(e as usize) {
            EventKind::Spawn { .. } => Some(0),
            EventKind::WakerClone { live: Some(n), .. }
            | EventKind::WakerDrop { live: Some(n), .. } => Some(n as i64),
            EventKind::WakerClone { live: None, .. } => known.map(|k| k + 1),
            EventKind::WakerDrop { live: None, .. } | EventKind::Wake { by_ref: false, .. } => {
                known.map(|k| k - 1)
            }
            _ => known,
        };
    }
    known
}

/// The op that took the task's live wakers to zero for the last time, found by walking
/// back from a count known at `end` (0) through the ops before `end`.
fn zeroing_op(ix: &Index, ti: usize, end: EventIdx) -> Option<EventIdx> {
    let mut after = 0i64;
    for (e, delta) in waker_ops(ix, ti).rev().filter(|&(e, _)| e <= end) {
        let before = after - delta;
        if after == 0 && before > 0 {
            return Some(e);
        }
        after = before;
    }
    None
}

fn during_whose_poll(ix: &Index, ti: usize, at: EventIdx) -> String {
    match ix.polling_at_event(at) {
        Some(t) if t as usize == ti => " in its own poll".to_string(),
        Some(t) => format!(" during {}'s poll", ix.tasks[t as usize].label()),
        None => String::new(),
    }
}

/// A task that waits with no live waker: nothing can wake it again. Claimed only on a
/// count known for sure (the recorder's, or a window that holds the whole task), never
/// on a guess from a window that lost the task's beginning.
fn lost_wakers(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    if !ix.dump.header.layer_installed {
        return; // no waker events were recorded at all
    }
    for (ti, task) in ix.tasks.iter().enumerate() {
        if matches!(task.kind, TaskKind::Blocking | TaskKind::BlockOn)
            || task.state == TaskState::Unobserved
        {
            continue;
        }
        let events = &ix.task_events[ti];
        // Alive at the dump with no live waker, and no event at all in the window: it
        // did nothing for the whole window and nothing can wake it.
        if events.is_empty() && task.alive_at_dump && task.live_wakers == Some(0) {
            // A task woken (or spawned) before the window and still waiting in a run
            // queue also holds no waker. A worker parks only with nothing left to run, so
            // once every worker parked during the window, no task was left queued.
            if task.state == TaskState::Idle
                && ix.window_ns() >= th.sched_warn
                && every_worker_parked(ix)
            {
                out.push(Anomaly {
                    kind: AnomalyKind::LostWaker,
                    severity: Severity::Critical,
                    task: Some(ti as TaskIdx),
                    lane: None,
                    start_ns: ix.start_ns,
                    end_ns: ix.end_ns,
                    magnitude: ix.window_ns(),
                    event: 0,
                    message: format!(
                        "{} holds no live waker (the recorder's count) and did nothing in the \
                         whole window ({}): nothing can wake it again",
                        task.label(),
                        ms(ix.window_ns())
                    ),
                    is_dump_cause: false,
                    host_contention: false,
                    why: None,
                });
            }
            continue;
        }
        let Some(last_poll_pos) = events
            .iter()
            .rposition(|&e| matches!(ix.events.kind(e as usize), EventKind::PollStart { .. }))
        else {
            continue;
        };
        let after_poll = &events[last_poll_pos..];
        let kind_after = |pred: fn(&EventKind) -> bool| {
            after_poll
                .iter()
                .any(|&e| pred(&ix.events.kind(e as usize)))
        };
        // Woken since its last poll started, or a timer armed then will wake it: not lost.
        if kind_after(|k| matches!(k, EventKind::Wake { .. } | EventKind::TimerArm { .. })) {
            continue;
        }
        // The recorder's own count at the dump must agree: an op's count is read before its
        // timestamp, so two racing ops can leave the window's last op with a stale count.
        let facts_agree = ix
            .dump
            .facts
            .live_wakers
            .iter()
            .find(|w| w.task == task.id)
            .is_none_or(|w| w.live == 0);
        if task.state == TaskState::Idle && task.live_wakers == Some(0) && facts_agree {
            let idle_since = ix.events.ts(events[last_poll_pos] as usize);
            let zeroing = zeroing_op(ix, ti, *events.last().unwrap_or(&0));
            let at = zeroing.unwrap_or(events[last_poll_pos]);
            let at_ns = ix.events.ts(at as usize);
            let how = match zeroing {
                Some(_) => format!(
                    "its last waker was dropped{} {} before the dump",
                    during_whose_poll(ix, ti, at),
                    ms(ix.end_ns.saturating_sub(at_ns))
                ),
                None => "it holds no waker (the drop that released the last one is older \
                         than the window)"
                    .to_string(),
            };
            out.push(Anomaly {
                kind: AnomalyKind::LostWaker,
                severity: Severity::Critical,
                task: Some(ti as TaskIdx),
                lane: Some(ix.events.lane(at as usize)),
                start_ns: idle_since,
                end_ns: ix.end_ns,
                magnitude: ix.end_ns.saturating_sub(idle_since),
                event: at,
                message: format!(
                    "{} is waiting but {how}, and nothing can wake it again",
                    task.label()
                ),
                is_dump_cause: false,
                host_contention: false,
                why: None,
            });
            continue;
        }
        // Stuck until cancelled: its last waker went while it waited, and it ended (shut
        // down, aborted) without another poll. Needs the whole task in the window, as
        // terminated tasks have no count from the recorder.
        let Some(term_ns) = task.terminated_ns else {
            continue;
        };
        let last_poll = &ix.events.at(events[last_poll_pos] as usize);
        let completed = after_poll.iter().any(|&e| {
            matches!(
                ix.events.kind(e as usize),
                EventKind::PollEnd {
                    completed: true,
                    ..
                }
            )
        });
        if completed {
            continue;
        }
        let Some(term_e) = after_poll
            .iter()
            .copied()
            .find(|&e| matches!(ix.events.kind(e as usize), EventKind::Terminate { .. }))
        else {
            continue;
        };
        // The count just before the termination must be known to be zero.
        if count_before(ix, ti, term_e) != Some(0) {
            continue;
        }
        let Some(zero) = zeroing_op(ix, ti, term_e) else {
            continue;
        };
        let zero_ns = ix.events.ts(zero as usize);
        // Cancelling a task drops its future, and its wakers with it, just before the
        // termination: only a gap long enough to matter is a task that was stuck.
        let stuck = term_ns.saturating_sub(zero_ns);
        if zero_ns < last_poll.ts_ns || stuck < th.sched_warn {
            continue;
        }
        out.push(Anomaly {
            kind: AnomalyKind::LostWaker,
            severity: if stuck >= th.sched_crit {
                Severity::Critical
            } else {
                Severity::Warning
            },
            task: Some(ti as TaskIdx),
            lane: Some(ix.events.lane(zero as usize)),
            start_ns: zero_ns,
            end_ns: term_ns,
            magnitude: stuck,
            event: zero,
            message: format!(
                "{} lost its last waker{} and sat stuck for {} until it was cancelled \
                 (shutdown or abort): nothing would have woken it",
                task.label(),
                during_whose_poll(ix, ti, zero),
                ms(stuck)
            ),
            is_dump_cause: false,
            host_contention: false,
            why: None,
        });
    }
}

fn self_wake_storms(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    for (ti, task) in ix.tasks.iter().enumerate() {
        if task.wakes < th.self_wake_min || task.self_wakes * 2 <= task.wakes {
            continue;
        }
        let events = &ix.task_events[ti];
        let first = events.first().copied().unwrap_or(0);
        out.push(Anomaly {
            kind: AnomalyKind::SelfWakeStorm,
            severity: Severity::Warning,
            task: Some(ti as TaskIdx),
            lane: None,
            start_ns: ix.events.ts(first as usize),
            end_ns: events
                .last()
                .map_or(ix.end_ns, |&e| ix.events.ts(e as usize)),
            magnitude: u64::from(task.self_wakes),
            event: first,
            is_dump_cause: false,
            host_contention: false,
            why: None,
            message: format!(
                "{} woke itself {} of {} times",
                task.label(),
                task.self_wakes,
                task.wakes
            ),
        });
    }
}

fn worker_stalls(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    // Waits (wake -> poll or dump) sorted by start, to test overlap.
    let mut waits: Vec<(u64, u64)> = ix
        .wakes
        .iter()
        .filter(|w| w.delay_ns >= th.sched_warn)
        .filter(|w| ix.tasks[w.task as usize].state != TaskState::Unobserved)
        .map(|w| (w.waits_from_ns, w.poll_at.unwrap_or(ix.end_ns)))
        .collect();
    waits.sort_unstable();
    // Only workers whose activity was recorded (polls or parks: a runtime with the hooks);
    // a worker of a runtime without them shows only wakes, and says nothing of parking.
    for lane in ix
        .lanes
        .iter()
        .filter(|l| l.info.kind == ThreadKind::Worker && !l.segments.is_empty())
    {
        // Unparked stretches: between parked segments.
        let mut from = ix.start_ns;
        let parks: Vec<(u64, u64)> = lane
            .segments
            .iter()
            .filter(|s| s.kind == super::index::SegmentKind::Parked)
            .map(|s| (s.start_ns, s.end_ns))
            .chain(std::iter::once((ix.end_ns, ix.end_ns)))
            .collect();
        for (ps, pe) in parks {
            let (s, e) = (from, ps);
            from = from.max(pe);
            if e <= s || e - s < th.stall {
                continue;
            }
            // Does any wait overlap [s, e) by at least sched_warn?
            let hi = waits.partition_point(|w| w.0 < e);
            let overlaps = waits[..hi]
                .iter()
                .any(|&(ws, we)| we.min(e).saturating_sub(ws.max(s)) >= th.sched_warn);
            if !overlaps {
                continue;
            }
            let d = e - s;
            let severity = if d >= 5 * th.stall {
                Severity::Critical
            } else {
                Severity::Warning
            };
            let event = ix.event_at(s);
            out.push(Anomaly {
                kind: AnomalyKind::WorkerStall,
                severity,
                task: None,
                lane: Some(lane.info.lane),
                start_ns: s,
                end_ns: e,
                magnitude: d,
                event,
                is_dump_cause: false,
                host_contention: false,
                why: None,
                message: format!(
                    "{} did not park for {} while woken tasks waited for a poll",
                    lane.label(),
                    ms(d)
                ),
            });
        }
    }
}

/// Run-queue wait of `lane`'s thread that certainly fell within `[from, to]`, from the CPU
/// samples closest
/// around it (taken when it parks and after long polls); `None` unless they bracket it
/// tightly: the bracket, less the time the thread was parked (asleep, so neither running
/// nor waiting for a CPU), at most half again as long as the interval, so time outside
/// it cannot explain much.
fn wait_during(ix: &Index, lane: u32, from: u64, to: u64) -> Option<u64> {
    let l = ix.lane(lane)?;
    let cpu = &l.cpu;
    let i = cpu.partition_point(|s| s.at_ns <= from).checked_sub(1)?;
    let j = i + cpu[i..].iter().position(|s| s.at_ns >= to)?;
    let (a, b) = (&cpu[i], &cpu[j]);
    let parked: u64 = l
        .segments_in(a.at_ns, b.at_ns)
        .iter()
        .filter(|s| s.kind == super::index::SegmentKind::Parked)
        .map(|s| {
            s.end_ns
                .min(b.at_ns)
                .saturating_sub(s.start_ns.max(a.at_ns))
        })
        .sum();
    let awake = (b.at_ns - a.at_ns).saturating_sub(parked);
    let len = to.saturating_sub(from).max(1);
    if awake > len.saturating_add(len / 2) {
        return None;
    }
    // Only the wait that cannot have happened outside the interval counts: the bracket's
    // time outside it (parked time included: a thread woken from a park waits for a CPU
    // before its unpark is recorded) could hold the rest.
    let outside = (b.at_ns - a.at_ns).saturating_sub(len);
    Some(super::index::wait_between(a, b).saturating_sub(outside))
}

/// Long polls and scheduling delays the host explains: the thread (for a delay: every
/// worker) spent at least half the time runnable but not running. They stay listed, at
/// most as warnings, labelled as the host's doing rather than the code's.
fn host_contention(ix: &Index, out: &mut [Anomaly]) {
    let workers: Vec<u32> = ix
        .lanes
        .iter()
        .filter(|l| l.info.kind == ThreadKind::Worker)
        .map(|l| l.info.lane)
        .collect();
    for a in out.iter_mut().filter(|a| !a.host_contention) {
        let len = a.end_ns.saturating_sub(a.start_ns);
        let waited = match a.kind {
            AnomalyKind::LongPoll => a
                .lane
                .and_then(|l| wait_during(ix, l, a.start_ns, a.end_ns)),
            AnomalyKind::SchedulingDelay if !workers.is_empty() => workers
                .iter()
                .map(|&l| wait_during(ix, l, a.start_ns, a.end_ns))
                .collect::<Option<Vec<u64>>>()
                .and_then(|w| w.into_iter().min()),
            _ => None,
        };
        if let Some(w) = waited
            && w.saturating_mul(2) >= len
        {
            a.host_contention = true;
            a.severity = a.severity.min(Severity::Warning);
            a.message.push_str(&format!(
                " [host contention: {} of it waiting for a CPU]",
                ms(w.min(len))
            ));
        }
    }
}

/// Anomalies next to events the reader lost (a damaged block of the dump file): a lost
/// block may have held the poll's end or the poll a wake led to, so the rule's reading
/// is a guess there. They stay listed, at most as warnings, and say so; the dump's own
/// cause (the panicking poll) is the header's fact and stays as it is.
fn damaged(ix: &Index, out: &mut [Anomaly]) {
    let Some(damage) = &ix.dump.damage else {
        return;
    };
    for a in out.iter_mut().filter(|a| !a.is_dump_cause) {
        // An anomaly that ends at the window's end reaches a lost end of the file.
        if damage.overlaps(a.start_ns, a.end_ns.max(a.start_ns.saturating_add(1))) {
            a.severity = a.severity.min(Severity::Warning);
            a.message
                .push_str(" [next to events lost from the damaged dump: unconfirmed]");
        }
    }
}

fn lane_label(ix: &Index, lane: u32) -> String {
    ix.lane(lane)
        .map_or_else(|| format!("lane {lane}"), |l| l.label())
}
