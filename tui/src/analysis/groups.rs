//! Anomalies grouped and ranked by impact, and the one-line verdict.
//!
//! Forty lines of the same four tasks' long polls bury the one victim that matters. So
//! occurrences are grouped by kind and subject (a named task, or for unnamed tasks their
//! spawn location, so fifty connection handlers are one group; a lane for worker stalls),
//! and groups are ranked: severity, the dump's own cause, causes before their victims
//! (a long poll causes the delays and the stall around it), then the time lost in all.
//! Every occurrence stays reachable: a group lists its members.

use super::anomaly::{Anomaly, AnomalyKind, Severity};
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
}

impl Group {
    pub fn count(&self) -> usize {
        self.members.len()
    }
}

fn subject(ix: &Index, a: &Anomaly) -> String {
    if a.kind == AnomalyKind::WorkerStall {
        return a
            .lane
            .and_then(|l| ix.lane(l))
            .map_or_else(|| "a worker".into(), |l| l.label());
    }
    match a.task {
        Some(t) => ix.tasks[t as usize].label(),
        None => "the runtime".into(),
    }
}

/// Groups `anomalies` (already ranked worst first) and ranks the groups.
pub fn group(ix: &Index, anomalies: &[Anomaly]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    // A subject's name made once per task or lane, and named by a number after that: a
    // 10M-event dump can have a hundred thousand anomalies about a few thousand tasks.
    let mut names: Vec<String> = Vec::new();
    let mut name_ids: rustc_hash::FxHashMap<String, u32> = Default::default();
    let mut of_whom: rustc_hash::FxHashMap<(bool, Option<u32>), u32> = Default::default();
    let mut by_key: rustc_hash::FxHashMap<(AnomalyKind, u32), usize> = Default::default();
    for (i, a) in anomalies.iter().enumerate() {
        let stall = a.kind == AnomalyKind::WorkerStall;
        let whom = (stall, if stall { a.lane } else { a.task });
        let name = *of_whom.entry(whom).or_insert_with(|| {
            let name = subject(ix, a);
            *name_ids.entry(name).or_insert_with_key(|name| {
                names.push(name.clone());
                (names.len() - 1) as u32
            })
        });
        let g = *by_key.entry((a.kind, name)).or_insert_with(|| {
            groups.push(Group {
                kind: a.kind,
                severity: a.severity,
                subject: names[name as usize].clone(),
                task: a.task,
                tasks: 0,
                members: Vec::new(),
                total: 0,
                worst: 0,
                is_dump_cause: false,
                host_contention: true,
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
            g.task = a.task;
        }
        g.is_dump_cause |= a.is_dump_cause;
        g.host_contention &= a.host_contention;
    }
    for g in &mut groups {
        let mut tasks: Vec<TaskIdx> = g
            .members
            .iter()
            .filter_map(|&i| anomalies[i].task)
            .collect();
        tasks.sort_unstable();
        tasks.dedup();
        g.tasks = tasks.len();
        g.members.sort_by_key(|&i| {
            (
                std::cmp::Reverse(anomalies[i].severity),
                std::cmp::Reverse(anomalies[i].magnitude),
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
