//! Anomaly rules: each looks at the index and says what went wrong, where, and what it
//! usually means.

use dial9_format::{EventKind, Reason, TaskKind, ThreadKind, WakeSource};

use super::build::{Dropped, SincePoll, Zeroing};
use super::index::{EventIdx, Index, NONE, PollIdx, Task, TaskIdx, TaskState};

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
    /// The dump's own cause (the panicking poll): ranked first whatever its magnitude.
    pub is_dump_cause: bool,
    /// Explained by the host, not the code: the thread was waiting for a CPU (runnable,
    /// not running) for most of the time. Then the severity is at most a warning.
    pub host_contention: bool,
    /// For a long or unfinished poll: what the recorder's watchdog saw its thread doing.
    pub why: Option<Box<super::why::PollWhy>>,
    /// What the message says beyond the fields above (see [`Anomaly::message`]).
    pub detail: Detail,
    /// The time the host kept the thread waiting for a CPU, when that explains it.
    pub host_wait_ns: Option<u64>,
    /// It touches events lost from a damaged dump: unconfirmed.
    pub near_damage: bool,
}

/// What an anomaly's message needs beyond its fields: a 10M-event dump can have a
/// hundred thousand anomalies, so the sentence is made when it is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    LongPoll {
        /// Still running when the dump read the ring: its length is a lower bound.
        open_at_window_end: bool,
    },
    PollInProgress {
        what: &'static str,
    },
    SchedulingDelay {
        source: Option<WakeSource>,
        timer: bool,
        late_timer: bool,
        polled: bool,
    },
    /// Alive with no live waker and no event in the whole window.
    LostWakerIdle,
    /// Waiting with no live waker: when the last one went (ns before the dump) and in
    /// whose poll, if the drop is in the window.
    LostWakerWaiting {
        dropped: Option<(u64, Whose)>,
    },
    /// Lost its last waker and sat stuck until cancelled.
    LostWakerStuck {
        whose: Whose,
    },
    SelfWakeStorm {
        wakes: u32,
    },
    WorkerStall,
}

/// Whose poll a waker op happened in, as the task it is about sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whose {
    Own,
    Other(TaskIdx),
    Outside,
}

impl Anomaly {
    /// What to do: the watchdog's reading of this poll when there is one, else the
    /// kind's general advice.
    pub fn advice(&self) -> &'static str {
        self.why
            .as_ref()
            .map_or_else(|| self.kind.advice(), |w| w.advice())
    }

    /// The anomaly in one sentence, with what explains it (the host, lost events).
    pub fn message(&self, ix: &Index) -> String {
        let mut m = self.sentence(ix);
        if let Some(w) = self.host_wait_ns {
            m.push_str(&format!(
                " [host contention: {} of it waiting for a CPU]",
                ms(w)
            ));
        }
        if self.near_damage {
            m.push_str(" [next to events lost from the damaged dump: unconfirmed]");
        }
        m
    }

    /// What happened, as the anomaly's kind tells it.
    fn sentence(&self, ix: &Index) -> String {
        let label = || self.task_label(ix);
        let lane = || {
            self.lane
                .map_or_else(|| "a lane".into(), |l| lane_label(ix, l))
        };
        let why = || {
            self.why
                .as_ref()
                .map(|w| format!(": {}", w.summary()))
                .unwrap_or_default()
        };
        let d = self.magnitude;
        match self.detail {
            Detail::LongPoll { open_at_window_end } => {
                let how_long = if open_at_window_end {
                    format!(
                        "at least {} (still running when the dump read the ring)",
                        ms(d)
                    )
                } else {
                    ms(d)
                };
                format!(
                    "{} polled for {how_long} without yielding on {}, blocking every other task \
                     queued there{}",
                    label(),
                    lane(),
                    why()
                )
            }
            Detail::PollInProgress { what } => format!(
                "{} {what} on {} after {} of polling{}",
                label(),
                lane(),
                ms(d),
                why()
            ),
            Detail::SchedulingDelay {
                source,
                timer,
                late_timer,
                polled,
            } => self.scheduling_delay(ix, source, timer, late_timer, polled),
            Detail::LostWakerIdle => format!(
                "{} holds no live waker (the recorder's count) and did nothing in the whole \
                 window ({}): nothing can wake it again",
                label(),
                ms(d)
            ),
            Detail::LostWakerWaiting { dropped } => {
                let how = match dropped {
                    Some((ago, whose)) => format!(
                        "its last waker was dropped{} {} before the dump",
                        whose.during(ix),
                        ms(ago)
                    ),
                    None => "it holds no waker (the drop that released the last one is older \
                             than the window)"
                        .to_string(),
                };
                format!(
                    "{} is waiting but {how}, and nothing can wake it again",
                    label()
                )
            }
            Detail::LostWakerStuck { whose } => format!(
                "{} lost its last waker{} and sat stuck for {} until it was cancelled \
                 (shutdown or abort): nothing would have woken it",
                label(),
                whose.during(ix),
                ms(d)
            ),
            Detail::SelfWakeStorm { wakes } => {
                format!("{} woke itself {} of {wakes} times", label(), d)
            }
            Detail::WorkerStall => format!(
                "{} did not park for {} while woken tasks waited for a poll",
                lane(),
                ms(d)
            ),
        }
    }

    /// A scheduling delay's sentence: who woke the task, and whether a worker ever polled
    /// it.
    fn scheduling_delay(
        &self,
        ix: &Index,
        source: Option<WakeSource>,
        timer: bool,
        late_timer: bool,
        polled: bool,
    ) -> String {
        let d = self.magnitude;
        let own = self
            .task
            .and_then(|t| ix.tasks.get(t as usize))
            .map(|t| t.id);
        let source = match source {
            Some(WakeSource::Task(t)) if Some(t) == own => "woken by itself".to_string(),
            Some(WakeSource::Task(t)) => format!("woken by {}", ix.task_label(t)),
            Some(WakeSource::Driver) if timer => "woken by its timer".into(),
            Some(WakeSource::Driver) => "woken by the runtime (I/O driver or yield_now)".into(),
            Some(WakeSource::Foreign) => "woken by a thread outside the runtime".into(),
            None => "scheduled".into(),
        };
        match (polled, late_timer) {
            (true, true) => format!(
                "{} was polled {} after its timer was due: the timer fired late or the \
                 task waited for a worker (something held the runtime)",
                self.task_label(ix),
                ms(d)
            ),
            (true, false) => format!(
                "{} was {source} and waited {} for a worker to poll it",
                self.task_label(ix),
                ms(d)
            ),
            (false, _) => format!(
                "{} was {source} and never polled: {} until the dump",
                self.task_label(ix),
                ms(d)
            ),
        }
    }

    /// The task's label, or "a task" for an anomaly of no task.
    fn task_label(&self, ix: &Index) -> String {
        self.task
            .and_then(|t| ix.tasks.get(t as usize))
            .map_or_else(|| "a task".into(), |t| t.label())
    }
}

impl Whose {
    /// " in its own poll", " during X's poll", or nothing.
    fn during(self, ix: &Index) -> String {
        match self {
            Whose::Own => " in its own poll".to_string(),
            Whose::Other(t) => format!(" during {}'s poll", ix.tasks[t as usize].label()),
            Whose::Outside => String::new(),
        }
    }

    /// Whose poll the op `d` happened in: the poll its lane was in at its time, or (at a
    /// poll's last instant, before its end) the one the pass saw open at it.
    fn of(ix: &Index, ti: usize, d: &Dropped) -> Whose {
        let inside = (d.inside != NONE).then_some(d.inside);
        match ix.polling_at(d.lane, d.ts_ns).or(inside) {
            Some(t) if t as usize == ti => Whose::Own,
            Some(t) => Whose::Other(t),
            None => Whose::Outside,
        }
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

/// Runs every rule, groups and orders the anomalies, and puts them in the index with
/// what follows from them (the verdict, each task's count, the swimlanes' marks).
pub(crate) fn settle(ix: &mut Index) {
    let mut all = detect_unranked(ix);
    // The ranking, and beside it what needs no ranking: each anomaly's cause, and the
    // swimlanes' marks (each severity's start times, in time order).
    let ((causes, starts), ranked) = super::par::both(
        || {
            let mut starts: [Vec<u64>; 3] = Default::default();
            for a in &all {
                starts[a.severity as usize].push(a.start_ns);
            }
            for s in &mut starts {
                s.sort_unstable();
            }
            (super::groups::causes(ix, &all), starts)
        },
        || rank(&all),
    );
    ix.anomaly_starts = starts;
    let mut groups = super::groups::group(ix, &all, &ranked, &causes);
    // Occurrences in group order, so stepping through them (n/N) goes cause first:
    // moved once, in place (a 10M-event dump's hundred thousand would otherwise be
    // copied), from where the rules made them.
    let mut to = vec![0u32; all.len()];
    let mut at = 0u32;
    for g in &mut groups {
        for m in &mut g.members {
            to[ranked[*m].at as usize] = at;
            *m = at as usize;
            at += 1;
        }
    }
    drop(ranked);
    permute(&mut all, &mut to);
    let ranked = all;
    for g in &mut groups {
        g.looks = g.members.iter().copied().find(|&m| ranked[m].why.is_some());
    }
    ix.anomalies = ranked;
    ix.groups = groups;
    ix.verdict = super::groups::verdict(ix);
    for a in &ix.anomalies {
        if let Some(t) = a.task {
            ix.tasks[t as usize].anomalies += 1;
        }
    }
}

/// Every rule's anomalies in the rules' order, unranked: the rules that only add in two
/// halves, one on a second thread (the scheduling delays, most of the work at 10M events,
/// are one rule and stay whole: 11 ms against the other half's 7), then the two that
/// revise what the others found.
fn detect_unranked(ix: &Index) -> Vec<Anomaly> {
    let th = ix.thresholds;
    let (mut later, earlier) = super::par::both(
        || {
            let mut out = Vec::new();
            lost_wakers(ix, &th, &mut out);
            self_wake_storms(ix, &th, &mut out);
            worker_stalls(ix, &th, &mut out);
            out
        },
        || {
            let mut out = Vec::new();
            long_polls(ix, &th, &mut out);
            in_progress(ix, &th, &mut out);
            scheduling_delays(ix, &th, &mut out);
            out
        },
    );
    // In the order they ran in one after another: ties in the ranking fall the same way.
    let mut all = earlier;
    all.append(&mut later);
    // These two look again at what the rules found.
    host_contention(ix, &mut all);
    damaged(ix, &mut all);
    all
}

/// An anomaly's place in the ranking ([`rank`]), with what grouping reads of it: the
/// grouping goes through these in order, where reading each from the anomaly table (a
/// hundred bytes an anomaly, in no order) missed the cache on nearly every one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ranked {
    /// Its position among the rules' anomalies.
    pub(crate) at: u32,
    pub(crate) kind: AnomalyKind,
    pub(crate) severity: Severity,
    pub(crate) is_dump_cause: bool,
    pub(crate) host_contention: bool,
    pub(crate) magnitude: u64,
    pub(crate) start_ns: u64,
    /// Its task (`NONE`: none).
    pub(crate) task: TaskIdx,
}

impl Ranked {
    pub(crate) fn task(&self) -> Option<TaskIdx> {
        (self.task != NONE).then_some(self.task)
    }
}

/// The anomalies worst first.
fn rank(out: &[Anomaly]) -> Vec<Ranked> {
    // Worst first: severity, then root causes before their consequences (a long poll
    // causes the scheduling delays and the worker stall around it), then magnitude.
    // Sorted as small records beside positions: an anomaly is a hundred bytes, and a
    // 10M-event dump can have a hundred thousand; they are moved once, into their
    // groups' order.
    let mut ranked: Vec<Ranked> = (out.iter().zip(0u32..))
        .map(|(a, at)| Ranked {
            at,
            kind: a.kind,
            severity: a.severity,
            is_dump_cause: a.is_dump_cause,
            host_contention: a.host_contention,
            magnitude: a.magnitude,
            start_ns: a.start_ns,
            task: a.task.unwrap_or(NONE),
        })
        .collect();
    // Positions are distinct: no two compare equal, so an unstable sort's order is the
    // only one.
    ranked.sort_unstable_by_key(|r| {
        (
            std::cmp::Reverse(r.severity),
            std::cmp::Reverse(r.is_dump_cause),
            r.kind.rank(),
            std::cmp::Reverse(r.magnitude),
            r.start_ns,
            r.at,
        )
    });
    ranked
}

/// Moves `v[i]` to `v[to[i]]` for every `i`, in place (`to` is a permutation, and is
/// left as the identity).
pub(crate) fn permute<T>(v: &mut [T], to: &mut [u32]) {
    for i in 0..v.len() {
        // Follow the cycle through `i` until `i` holds what belongs there.
        while to[i] as usize != i {
            let j = to[i] as usize;
            v.swap(i, j);
            to.swap(i, j);
        }
    }
}

/// An anomaly of `kind` with the fields every rule sets; the rest as most rules leave it.
fn anomaly(
    kind: AnomalyKind,
    severity: Severity,
    (start_ns, end_ns, magnitude): (u64, u64, u64),
    event: EventIdx,
    detail: Detail,
) -> Anomaly {
    Anomaly {
        kind,
        severity,
        task: None,
        lane: None,
        start_ns,
        end_ns,
        magnitude,
        event,
        is_dump_cause: false,
        host_contention: false,
        why: None,
        detail,
        host_wait_ns: None,
        near_damage: false,
    }
}

fn long_polls(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    // The polls the lanes classed long (measured, or known to have lasted at least so
    // long; never one whose end was lost), but not one still running (`in_progress`).
    let mut long: Vec<(u64, PollIdx)> = (0..ix.lanes.len())
        .flat_map(|li| {
            let l = ix.polls.of_lane(li);
            l.long_places()
                .filter(move |&i| !l.is_open(i))
                .map(move |i| {
                    let d = l.end_or(i, ix.end_ns).saturating_sub(l.start(i));
                    (d, ix.polls.idx(li, i))
                })
        })
        .collect();
    long.sort_unstable_by_key(|&(d, p)| (std::cmp::Reverse(d), p));
    for (d, p) in long {
        let Some(poll) = ix.poll(p) else { continue };
        let Some(end) = poll.end_ns else { continue };
        let severity = if d >= th.long_poll_crit {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let why = super::why::explain(ix, p);
        // The watchdog saw the thread wait for a CPU most of the poll: the host's doing.
        let host = why.as_ref().is_some_and(|w| {
            w.cause == super::why::Cause::WaitingForCpu && w.watched_ns.saturating_mul(2) >= d
        });
        out.push(Anomaly {
            task: Some(poll.task),
            lane: Some(poll.lane),
            host_contention: host,
            why: why.map(Box::new),
            ..anomaly(
                AnomalyKind::LongPoll,
                if host {
                    severity.min(Severity::Warning)
                } else {
                    severity
                },
                (poll.start_ns, end, d),
                poll.start_event,
                Detail::LongPoll {
                    open_at_window_end: poll.open_at_window_end,
                },
            )
        });
    }
}

fn in_progress(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    let panic_task = match &ix.dump.header.reason {
        Reason::Panic { task, .. } => *task,
        _ => None,
    };
    for (p, poll) in ix.polls.open().filter_map(|p| Some((p, ix.poll(p)?))) {
        let d = ix.end_ns.saturating_sub(poll.start_ns);
        let why = super::why::explain(ix, p);
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
            task: Some(poll.task),
            lane: Some(poll.lane),
            is_dump_cause: panicked,
            why: why.map(Box::new),
            ..anomaly(
                AnomalyKind::PollInProgress,
                severity,
                (poll.start_ns, ix.end_ns, d),
                poll.start_event,
                Detail::PollInProgress { what },
            )
        });
    }
}

fn scheduling_delays(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    // One anomaly per poll that ended a wait: the earliest wake leading to it.
    for w in ix.long_waits.iter().filter(|w| w.first_of_poll) {
        let task = &ix.tasks[w.task as usize];
        if task.kind == TaskKind::Blocking || task.state == TaskState::Unobserved {
            continue;
        }
        let severity = if w.delay_ns >= th.sched_crit {
            Severity::Critical
        } else {
            Severity::Warning
        };
        out.push(Anomaly {
            task: Some(w.task),
            lane: Some(w.lane),
            ..anomaly(
                AnomalyKind::SchedulingDelay,
                severity,
                (w.at_ns, w.poll_at.unwrap_or(ix.end_ns), w.delay_ns),
                ix.wakes.event(w.wake as usize),
                Detail::SchedulingDelay {
                    source: w.source,
                    timer: ix.wakes.timer(w.wake as usize),
                    late_timer: ix.wakes.late_timer(w.wake as usize),
                    polled: w.poll_at.is_some(),
                },
            )
        });
    }
}

/// Every worker whose activity was recorded parked at least once in the window.
fn every_worker_parked(ix: &Index) -> bool {
    let mut workers = recorded_workers(ix).peekable();
    workers.peek().is_some()
        && workers.all(|(_, l)| l.parks.iter().any(|s| s.start_ns >= ix.start_ns))
}

/// Workers whose activity was recorded (polls or parks: a runtime with the hooks); a
/// worker of a runtime without them shows only wakes, and says nothing of parking.
fn recorded_workers(ix: &Index) -> impl Iterator<Item = (usize, &super::index::Lane)> {
    ix.lanes.iter().enumerate().filter(|(li, l)| {
        l.info.kind == ThreadKind::Worker
            && (!l.parks.is_empty() || !ix.polls.of_lane(*li).is_empty())
    })
}

/// The change an event makes to its task's live wakers, if it is a waker op.
fn waker_delta(kind: &EventKind) -> Option<i64> {
    match kind {
        EventKind::WakerClone { .. } => Some(1),
        EventKind::WakerDrop { .. } | EventKind::Wake { by_ref: false, .. } => Some(-1),
        _ => None,
    }
}

/// The op that took the task's live wakers to zero for the last time, found by walking
/// back from a count known at `end` (0) through the ops at or before `end`; the walk
/// gives up at events before `stop_ns`, where no answer would be used.
fn zeroing_op(ix: &Index, ti: usize, end: EventIdx, stop_ns: u64) -> Option<EventIdx> {
    let list = ix.task_events(ti as TaskIdx);
    let mut after = 0i64;
    for e in list.before(ix, end.saturating_add(1)) {
        let ev = ix.events.get(e as usize)?;
        if ev.ts_ns < stop_ns {
            return None;
        }
        let Some(delta) = waker_delta(&ev.kind) else {
            continue;
        };
        let before = after - delta;
        if after == 0 && before > 0 {
            return Some(e);
        }
        after = before;
    }
    None
}

/// Event `e` as the pass would have kept it, were it a drop (for a task whose count
/// wandered too far for the pass to keep its drops).
fn dropped_at(ix: &Index, e: EventIdx) -> Option<Dropped> {
    let ev = ix.events.get(e as usize)?;
    let inside = ix.polling_at_event(e).unwrap_or(NONE);
    Some(Dropped {
        event: e,
        ts_ns: ev.ts_ns,
        lane: ev.lane,
        inside,
    })
}

/// A task that waits with no live waker: nothing can wake it again. Claimed only on a
/// count known for sure (the recorder's, or a window that holds the whole task), never
/// on a guess from a window that lost the task's beginning. The pass kept what each task
/// did since its last poll; only a task that fits has its events read.
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
        if task.events == 0 {
            out.extend(lost_waker_idle(ix, th, ti, task));
            continue;
        }
        let since = ix.since_poll[ti];
        // Woken since its last poll started, or a timer armed then will wake it: not lost.
        if since.poll_start == NONE || since.woken {
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
            out.push(lost_waker_waiting(ix, ti, &since));
            continue;
        }
        out.extend(lost_waker_stuck(ix, th, ti, task, &since));
    }
}

/// Alive at the dump with no live waker, and no event at all in the window: it did
/// nothing for the whole window and nothing can wake it.
fn lost_waker_idle(ix: &Index, th: &Thresholds, ti: usize, task: &Task) -> Option<Anomaly> {
    // A task woken (or spawned) before the window and still waiting in a run queue also
    // holds no waker. A worker parks only with nothing left to run, so once every worker
    // parked during the window, no task was left queued.
    let lost = task.alive_at_dump
        && task.live_wakers == Some(0)
        && task.state == TaskState::Idle
        && ix.window_ns() >= th.sched_warn
        && every_worker_parked(ix);
    lost.then(|| Anomaly {
        task: Some(ti as TaskIdx),
        ..anomaly(
            AnomalyKind::LostWaker,
            Severity::Critical,
            (ix.start_ns, ix.end_ns, ix.window_ns()),
            0,
            Detail::LostWakerIdle,
        )
    })
}

/// Idle at the dump with no live waker since its last poll: the anomaly points at the op
/// that dropped the last one, or at that poll when the drop is not in the window.
fn lost_waker_waiting(ix: &Index, ti: usize, since: &SincePoll) -> Anomaly {
    let zeroing = match ix.zeroed[ti] {
        Zeroing::At(d) => Some(d),
        Zeroing::None => None,
        Zeroing::Unknown => {
            let last = ix
                .task_events(ti as TaskIdx)
                .last(ix)
                .unwrap_or(since.poll_start);
            zeroing_op(ix, ti, last, 0).and_then(|e| dropped_at(ix, e))
        }
    };
    let (at, lane) = match zeroing {
        Some(d) => (d.event, d.lane),
        None => (since.poll_start, since.poll_start_lane),
    };
    let dropped = zeroing.map(|d| (ix.end_ns.saturating_sub(d.ts_ns), Whose::of(ix, ti, &d)));
    let idle_since = since.poll_start_ns;
    Anomaly {
        task: Some(ti as TaskIdx),
        lane: Some(lane),
        ..anomaly(
            AnomalyKind::LostWaker,
            Severity::Critical,
            (idle_since, ix.end_ns, ix.end_ns.saturating_sub(idle_since)),
            at,
            Detail::LostWakerWaiting { dropped },
        )
    }
}

/// Stuck until cancelled: its last waker went while it waited, and it ended (shut down,
/// aborted) without another poll. Needs the whole task in the window, as terminated tasks
/// have no count from the recorder.
fn lost_waker_stuck(
    ix: &Index,
    th: &Thresholds,
    ti: usize,
    task: &Task,
    since: &SincePoll,
) -> Option<Anomaly> {
    let term_ns = task.terminated_ns?;
    // The count just before the termination must be known to be zero.
    if since.completed || since.terminate == NONE || since.wakers_at_terminate != Some(0) {
        return None;
    }
    let zero = match since.zeroed_before_terminate {
        Zeroing::At(d) => d,
        Zeroing::None => return None,
        // An op before the last poll would not count: the walk stops there.
        Zeroing::Unknown => zeroing_op(ix, ti, since.terminate, since.poll_start_ns)
            .and_then(|e| dropped_at(ix, e))?,
    };
    let zero_ns = zero.ts_ns;
    // Cancelling a task drops its future, and its wakers with it, just before the
    // termination: only a gap long enough to matter is a task that was stuck.
    let stuck = term_ns.saturating_sub(zero_ns);
    if zero_ns < since.poll_start_ns || stuck < th.sched_warn {
        return None;
    }
    Some(Anomaly {
        task: Some(ti as TaskIdx),
        lane: Some(zero.lane),
        ..anomaly(
            AnomalyKind::LostWaker,
            if stuck >= th.sched_crit {
                Severity::Critical
            } else {
                Severity::Warning
            },
            (zero_ns, term_ns, stuck),
            zero.event,
            Detail::LostWakerStuck {
                whose: Whose::of(ix, ti, &zero),
            },
        )
    })
}

fn self_wake_storms(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    for (ti, task) in ix.tasks.iter().enumerate() {
        if task.wakes < th.self_wake_min || task.self_wakes * 2 <= task.wakes {
            continue;
        }
        let first = task.first_event;
        let ts = |e: EventIdx| ix.events.get(e as usize).map(|e| e.ts_ns);
        let last = ix.task_events(ti as TaskIdx).last(ix);
        out.push(Anomaly {
            task: Some(ti as TaskIdx),
            ..anomaly(
                AnomalyKind::SelfWakeStorm,
                Severity::Warning,
                (
                    ts(first).unwrap_or(ix.start_ns),
                    last.and_then(ts).unwrap_or(ix.end_ns),
                    u64::from(task.self_wakes),
                ),
                if first == NONE { 0 } else { first },
                Detail::SelfWakeStorm { wakes: task.wakes },
            )
        });
    }
}

fn worker_stalls(ix: &Index, th: &Thresholds, out: &mut Vec<Anomaly>) {
    // Waits (wake -> poll or dump) sorted by start, to test overlap.
    let mut waits: Vec<(u64, u64)> = ix
        .long_waits
        .iter()
        .filter(|w| ix.tasks[w.task as usize].state != TaskState::Unobserved)
        .map(|w| (w.waits_from_ns, w.poll_at.unwrap_or(ix.end_ns)))
        .collect();
    waits.sort_unstable();
    for (_, lane) in recorded_workers(ix) {
        // Unparked stretches: between parked segments.
        let mut from = ix.start_ns;
        let parks = lane
            .parks
            .iter()
            .map(|s| (s.start_ns, s.end_ns))
            .chain(std::iter::once((ix.end_ns, ix.end_ns)));
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
            out.push(Anomaly {
                lane: Some(lane.info.lane),
                ..anomaly(
                    AnomalyKind::WorkerStall,
                    severity,
                    (s, e, d),
                    ix.event_at(s),
                    Detail::WorkerStall,
                )
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
        .parks_in(a.at_ns, b.at_ns)
        .iter()
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
            a.host_wait_ns = Some(w.min(len));
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
            a.near_damage = true;
        }
    }
}

fn lane_label(ix: &Index, lane: u32) -> String {
    ix.lane(lane)
        .map_or_else(|| format!("lane {lane}"), |l| l.label())
}
