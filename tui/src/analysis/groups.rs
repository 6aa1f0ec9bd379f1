//! Anomalies grouped and ranked by impact, and the one-line verdict.
//!
//! Forty lines of the same four tasks' long polls bury the one victim that matters. So
//! occurrences are grouped by kind and cause: tasks spawned at one place of the code with
//! names of one family (`image-resize-0` .. `image-resize-3`: one cause; fifty unnamed
//! connection handlers of one spawn location: one), a lane for worker stalls. Groups are
//! ranked: severity, the dump's own cause, causes before their victims (a long poll
//! causes the delays and the stall around it), then the time lost in all. Every
//! occurrence stays reachable: a group lists its members.

use super::anomaly::{Anomaly, AnomalyKind, Ranked, Severity};
use super::index::{Index, TaskIdx};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub kind: AnomalyKind,
    /// The worst member's severity.
    pub severity: Severity,
    /// What the group is about: a task's name, an unnamed task's spawn location, a lane.
    pub subject: String,
    /// The worst member's task, if any.
    pub task: Option<TaskIdx>,
    /// Distinct tasks among the members.
    pub tasks: usize,
    /// Indices into `Index::anomalies`, worst first.
    pub members: Vec<usize>,
    /// Sum of the members' magnitudes (time lost, for every kind but self-wake storms).
    pub total: u64,
    /// The worst member's magnitude.
    pub worst: u64,
    pub is_dump_cause: bool,
    /// Every member is explained by the host taking the threads off the CPU.
    pub host_contention: bool,
    /// The first member (worst first) with the watchdog's looks at it, said in the
    /// summary when the worst has none (found once, not at every frame).
    pub looks: Option<usize>,
}

impl Group {
    pub fn count(&self) -> usize {
        self.members.len()
    }

    /// The group in one line, as the report and the explorer's anomaly list give it:
    /// the worst member's message alone, or the subject, how many times in how many
    /// tasks, the worst and the total, then the worst member's message.
    pub fn summary(&self, ix: &Index) -> String {
        use crate::fmt::sanitize;
        let worst = &ix.anomalies[self.members[0]];
        let summary = if self.count() == 1 {
            sanitize(&worst.message(ix))
        } else {
            format!(
                "{}: {} times{}, worst {}, {} in all; worst: {}",
                sanitize(&self.subject),
                self.count(),
                if self.tasks > 1 {
                    format!(" in {} tasks", self.tasks)
                } else {
                    String::new()
                },
                magnitude(self.kind, self.worst),
                magnitude(self.kind, self.total),
                sanitize(&worst.message(ix))
            )
        };
        // The worst occurrence's looks may be gone (the watchdog's ring block was
        // overwritten first): say what it saw in the group's next worst one.
        let other = if worst.why.is_none() {
            self.looks.and_then(|m| ix.anomalies[m].why.as_ref())
        } else {
            None
        };
        let summary = match other {
            Some(w) => format!("{summary}; in another of them: {}", sanitize(&w.summary())),
            None => summary,
        };
        if self.host_contention && !summary.contains("host contention") {
            format!("{summary} [host contention]")
        } else {
            summary
        }
    }

    /// Where the group's members are in `Index::anomalies`: together, worst first.
    pub fn range(&self) -> std::ops::Range<usize> {
        let first = self.members.first().copied().unwrap_or(0);
        first..first + self.members.len()
    }
}

/// A group's worst or total: time, or for self-wake storms a count.
fn magnitude(kind: AnomalyKind, m: u64) -> String {
    match kind {
        AnomalyKind::SelfWakeStorm => format!("{m} self-wakes"),
        _ => crate::fmt::duration(m),
    }
}

/// A task name's family: the name without the number it ends in (`image-resize-3` ->
/// `image-resize-`), or the name itself.
fn family(name: &str) -> &str {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() == name.len() || stem.is_empty() {
        name
    } else {
        stem
    }
}

/// What a task's anomalies are grouped by: where it was spawned, and its name's family.
fn cause_of(ix: &Index, t: TaskIdx) -> (String, String) {
    let task = &ix.tasks[t as usize];
    (
        task.short_location().unwrap_or_default(),
        family(&task.name).to_string(),
    )
}

/// The group's name, from its members' tasks: the task's own when there is one, the
/// name family with a star for several of one family (`image-resize-*`), else the spawn
/// location they share.
fn subject(ix: &Index, a: &Anomaly, tasks: &[TaskIdx]) -> String {
    if a.kind == AnomalyKind::WorkerStall {
        return a
            .lane
            .and_then(|l| ix.lane(l))
            .map_or_else(|| "a worker".into(), |l| l.label());
    }
    match tasks {
        [] => "the runtime".into(),
        [t] => ix.tasks[*t as usize].label(),
        [t, ..] => {
            let task = &ix.tasks[*t as usize];
            let fam = family(&task.name);
            if !task.name.is_empty() && fam.len() < task.name.len() {
                format!("{fam}*")
            } else {
                task.label()
            }
        }
    }
}

/// Each anomaly's cause as a number (the same number for the same cause, in no
/// particular order): a stalled worker's lane, a task's spawn site and name family, the
/// runtime; a task with neither a location nor a name is a cause by itself. Needs no
/// ranking, so it is worked out on a second thread while the anomalies are ranked.
pub(crate) fn causes(ix: &Index, anomalies: &[Anomaly]) -> Vec<u32> {
    // A task's cause made once, and named by a number after that: a 10M-event dump can
    // have a hundred thousand anomalies about a few thousand tasks.
    let mut numbers: rustc_hash::FxHashMap<(String, String), u32> = Default::default();
    let mut of_whom: rustc_hash::FxHashMap<(bool, Option<u32>), u32> = Default::default();
    anomalies
        .iter()
        .map(|a| {
            let stall = a.kind == AnomalyKind::WorkerStall;
            let whom = (stall, if stall { a.lane } else { a.task });
            *of_whom.entry(whom).or_insert_with(|| {
                let key = match (stall, a.task) {
                    (true, _) => (format!("lane {:?}", a.lane), String::new()),
                    (false, Some(t)) => cause_of(ix, t),
                    (false, None) => ("the runtime".into(), String::new()),
                };
                let key = match (key.0.is_empty() && key.1.is_empty(), a.task) {
                    (true, Some(t)) => (format!("#{}", ix.tasks[t as usize].id), String::new()),
                    _ => key,
                };
                let next = numbers.len() as u32;
                *numbers.entry(key).or_insert(next)
            })
        })
        .collect()
}

/// Groups the anomalies by kind and cause (`causes`, from [`causes`]) and ranks the
/// groups. `ranked` lists the anomalies worst first (from the ranking, positions in
/// `anomalies`); a group's members are places in that order.
pub(crate) fn group(
    ix: &Index,
    anomalies: &[Anomaly],
    ranked: &[Ranked],
    causes: &[u32],
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: rustc_hash::FxHashMap<(AnomalyKind, u32), usize> = Default::default();
    for (i, a) in ranked.iter().enumerate() {
        let g = *by_key
            .entry((a.kind, causes[a.at as usize]))
            .or_insert_with(|| {
                groups.push(Group {
                    kind: a.kind,
                    severity: a.severity,
                    subject: String::new(),
                    task: a.task(),
                    tasks: 0,
                    members: Vec::new(),
                    total: 0,
                    worst: 0,
                    is_dump_cause: false,
                    host_contention: true,
                    looks: None,
                });
                groups.len() - 1
            });
        let g = &mut groups[g];
        g.members.push(i);
        g.total = g.total.saturating_add(a.magnitude);
        if a.magnitude > g.worst || g.members.len() == 1 {
            g.worst = a.magnitude;
        }
        if a.severity > g.severity {
            g.severity = a.severity;
            g.task = a.task();
        }
        g.is_dump_cause |= a.is_dump_cause;
        g.host_contention &= a.host_contention;
    }
    for g in &mut groups {
        let mut tasks: Vec<TaskIdx> = g.members.iter().filter_map(|&i| ranked[i].task()).collect();
        tasks.sort_unstable();
        tasks.dedup();
        g.tasks = tasks.len();
        let first = &anomalies[ranked[g.members[0]].at as usize];
        g.subject = subject(ix, first, &tasks);
        g.members.sort_by_key(|&i| {
            (
                std::cmp::Reverse(ranked[i].severity),
                std::cmp::Reverse(ranked[i].magnitude),
            )
        });
    }
    groups.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.is_dump_cause.cmp(&a.is_dump_cause))
            .then(a.host_contention.cmp(&b.host_contention))
            .then(a.kind.rank().cmp(&b.kind.rank()))
            .then(b.total.cmp(&a.total))
            .then(a.subject.cmp(&b.subject))
    });
    groups
}

/// Up to three subjects, then how many more.
fn subjects(groups: &[&Group]) -> String {
    let mut names: Vec<&str> = groups.iter().map(|g| g.subject.as_str()).collect();
    names.dedup();
    let shown = names.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    match names.len() {
        n if n > 3 => format!("{shown} and {} more", n - 3),
        _ => shown,
    }
}

/// The dump in one line, worst first: what to look at before anything else.
pub fn verdict(ix: &Index) -> String {
    let d = crate::fmt::duration;
    let gs = &ix.groups;
    let serious = |g: &&Group| g.severity >= Severity::Warning && !g.host_contention;
    let of = |kind: AnomalyKind| -> Vec<&Group> {
        gs.iter()
            .filter(|g| g.kind == kind)
            .filter(serious)
            .collect()
    };
    let mut parts = Vec::new();
    if let Some(g) = gs.iter().find(|g| g.is_dump_cause) {
        parts.push(format!("panicked in {}'s poll", g.subject));
    }
    let hung: Vec<&Group> = of(AnomalyKind::PollInProgress)
        .into_iter()
        .filter(|g| !g.is_dump_cause)
        .collect();
    if !hung.is_empty() {
        let worst = hung.iter().map(|g| g.worst).max().unwrap_or(0);
        parts.push(format!(
            "in a poll for {} at the dump: {}",
            d(worst),
            subjects(&hung)
        ));
    }
    let lost = of(AnomalyKind::LostWaker);
    if !lost.is_empty() {
        parts.push(format!(
            "lost waker (nothing will wake it): {}",
            subjects(&lost)
        ));
    }
    let long = of(AnomalyKind::LongPoll);
    if !long.is_empty() {
        let worst = long.iter().map(|g| g.worst).max().unwrap_or(0);
        parts.push(format!(
            "workers blocked by long polls (up to {}) in {}",
            d(worst),
            subjects(&long)
        ));
    }
    // The victim worth naming: a task that waited and is not itself a cause.
    let causes: Vec<&str> = long.iter().map(|g| g.subject.as_str()).collect();
    let delayed: Vec<&Group> = of(AnomalyKind::SchedulingDelay)
        .into_iter()
        .filter(|g| !causes.contains(&g.subject.as_str()))
        .collect();
    if let Some(victim) = delayed.iter().max_by_key(|g| (g.severity, g.worst)) {
        let times = victim.count();
        parts.push(format!(
            "{} waited up to {} for a poll{}",
            victim.subject,
            d(victim.worst),
            if times > 1 {
                format!(", {times} times")
            } else {
                String::new()
            }
        ));
    }
    if gs.iter().any(|g| g.host_contention) {
        parts.push("some delays were the host's doing (threads waiting for a CPU)".into());
    }
    if parts.is_empty() {
        return match gs.first() {
            None => "healthy: no anomalies at these thresholds".into(),
            Some(_) => "no warnings: only informational findings".into(),
        };
    }
    parts.join("; ")
}
