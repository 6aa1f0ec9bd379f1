//! `dial9-tui report`: the dump in words, or as one JSON document.

use std::fmt::Write as _;

use dial9_format::{Reason, ThreadKind};
use serde::Serialize;

use crate::analysis::{Index, SeverityCounts};
use crate::fmt::{duration, relative, sanitize};
use crate::import::Foreign;

/// The JSON document of `report --json`. Field names are stable; see docs/headless.md.
#[derive(Serialize)]
pub struct ReportJson {
    pub report_version: u32,
    /// The dump in one line: what to look at first.
    pub verdict: String,
    pub dump: DumpJson,
    pub thresholds: ThresholdsJson,
    pub anomaly_counts: Counts,
    /// Anomalies grouped by kind and subject, ranked by impact (causes first).
    pub groups: Vec<GroupJson>,
    /// Every occurrence, in group order.
    pub anomalies: Vec<AnomalyJson>,
    pub top_busy: Vec<TaskJson>,
    pub top_longest_poll: Vec<TaskJson>,
    pub workers: Vec<LaneJson>,
}

#[derive(Serialize)]
pub struct DumpJson {
    pub reason: ReasonJson,
    pub program: String,
    pub pid: u32,
    pub host: String,
    pub dumped_at_unix_ns: u64,
    pub window_ns: u64,
    pub events: usize,
    /// Ring records the events came from (a poll's end can stand for its start and its
    /// own waker op as well; before dial9 folded them, one record per event).
    pub records: u64,
    /// Records the ring can hold.
    pub capacity: u64,
    pub recorded_total: u64,
    pub overwritten: u64,
    pub torn_skipped: u64,
    pub lanes: usize,
    pub tasks: usize,
    pub hooks_installed: bool,
    pub layer_installed: bool,
    /// What the reader could not read (a damaged or cut dump file), in one line; `null`
    /// when it read every event.
    pub damage: Option<String>,
    /// Events recorded per second over the window.
    pub events_per_s: f64,
    /// Ring records written per second over the window.
    pub records_per_s: f64,
    /// The capacity (in records) that would have kept 10 s at that rate (rounded up to
    /// 64k records).
    pub capacity_for_10s: u64,
    /// `dial9-tui dump`, or what it was imported from (`dial9 trace (...)`).
    pub format: String,
    /// For an imported trace, what cannot be judged on it, a line each.
    pub limits: Vec<String>,
}

#[derive(Serialize)]
pub struct ReasonJson {
    /// `panic`, `signal`, `requested`, `recovered` (a crash-surviving ring read back after
    /// its process died, or live) or `exited` (such a ring whose process exited cleanly).
    pub kind: &'static str,
    /// One line, as the text report prints it.
    pub summary: String,
    pub message: Option<String>,
    pub location: Option<String>,
    pub thread: Option<String>,
    pub task_id: Option<u64>,
    pub signal: Option<i32>,
    pub label: Option<String>,
    /// For `recovered` and `exited`: whether the process was still running (a live snapshot).
    pub writer_alive: Option<bool>,
    /// A panic's backtrace (format v6): the application's frames, innermost first, as
    /// `function at file:line:col` (std, core, tokio and the recorder's frames folded).
    pub backtrace: Vec<String>,
    /// The whole backtrace, as std printed it, one line an entry.
    pub backtrace_lines: Vec<String>,
}

#[derive(Serialize)]
pub struct ThresholdsJson {
    pub long_poll_warn_ns: u64,
    pub long_poll_crit_ns: u64,
    pub sched_delay_warn_ns: u64,
    pub sched_delay_crit_ns: u64,
    pub worker_stall_ns: u64,
}

#[derive(Serialize, Default)]
pub struct Counts {
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
}

#[derive(Serialize)]
pub struct GroupJson {
    pub kind: &'static str,
    pub severity: &'static str,
    /// A task's name, an unnamed task's spawn location, or a lane.
    pub subject: String,
    pub count: usize,
    /// Distinct tasks among the occurrences.
    pub tasks: usize,
    /// Sum and maximum of the occurrences' magnitudes.
    pub total: u64,
    pub worst: u64,
    /// All explained by the host taking the threads off the CPU.
    pub host_contention: bool,
    /// Indices into `anomalies`, worst first.
    pub members: Vec<usize>,
}

#[derive(Serialize)]
pub struct AnomalyJson {
    pub kind: &'static str,
    pub severity: &'static str,
    pub task_id: Option<u64>,
    pub task_name: Option<String>,
    /// The task as shown: its name, or its shortened spawn location when unnamed.
    pub task_label: Option<String>,
    /// Spawn location, shortened (`mini-redis-0.4.1/src/server.rs:276`).
    pub task_location: Option<String>,
    /// Explained by host contention (then at most a warning).
    pub host_contention: bool,
    pub lane: Option<u32>,
    /// Start and end, nanoseconds before the dump.
    pub start_before_dump_ns: u64,
    pub end_before_dump_ns: u64,
    pub magnitude: u64,
    /// Index of the event to look at, in the dump's event list.
    pub event: u32,
    pub message: String,
    /// What to do about it: from the watchdog's reading when there is one, else what this
    /// kind of anomaly usually means.
    pub advice: &'static str,
    /// For a long or unfinished poll the recorder's watchdog looked at: what its thread
    /// was doing.
    pub why: Option<WhyJson>,
}

#[derive(Serialize)]
pub struct WhyJson {
    /// `on-cpu`, `blocked`, `waiting-for-cpu` or `mixed`.
    pub cause: &'static str,
    pub summary: String,
    pub looks: usize,
    /// Time the looks cover, and how it split.
    pub watched_ns: u64,
    pub on_cpu_ns: u64,
    pub runq_wait_ns: u64,
    pub blocked_ns: u64,
    /// The system call the looks at the blocked thread found most, by name where known.
    pub syscall: Option<String>,
    pub syscall_nr: Option<u16>,
    /// Where in the code (when the recorder captured stacks): the application's frames of
    /// the stack seen most, innermost first, as `function at file:line:col`.
    pub stack: Vec<String>,
}

#[derive(Serialize)]
pub struct TaskJson {
    pub task_id: u64,
    pub name: String,
    /// Name, or shortened spawn location for an unnamed task.
    pub label: String,
    pub location: Option<String>,
    pub state: &'static str,
    pub polls: u32,
    pub busy_ns: u64,
    pub longest_poll_ns: u64,
    pub longest_sched_delay_ns: u64,
}

#[derive(Serialize)]
pub struct LaneJson {
    pub lane: u32,
    pub label: String,
    pub worker: Option<u32>,
    pub busy_ns: u64,
    pub busy_share: f64,
    pub parked_share: f64,
}

fn counts(ix: &Index) -> Counts {
    let c = SeverityCounts::of(&ix.anomalies);
    Counts {
        critical: c.critical,
        warning: c.warning,
        info: c.info,
    }
}

fn reason_json(r: &Reason) -> ReasonJson {
    let mut j = ReasonJson {
        kind: "requested",
        summary: sanitize(&r.to_string()),
        message: None,
        location: None,
        thread: None,
        task_id: None,
        signal: None,
        label: None,
        writer_alive: None,
        backtrace: Vec::new(),
        backtrace_lines: Vec::new(),
    };
    match r {
        Reason::Panic {
            message,
            location,
            thread,
            task,
        } => {
            j.kind = "panic";
            j.message = Some(message.clone());
            j.location = location.clone();
            j.thread = Some(thread.clone());
            j.task_id = *task;
        }
        Reason::Signal { signal, .. } => {
            j.kind = "signal";
            j.signal = Some(*signal);
        }
        Reason::Requested { label } => j.label = Some(label.clone()),
        Reason::Recovered { writer_alive, .. } => {
            j.kind = "recovered";
            j.writer_alive = Some(*writer_alive);
        }
        Reason::Exited { .. } => {
            j.kind = "exited";
            j.writer_alive = Some(false);
        }
    }
    j
}

fn task_json(ix: &Index, t: usize) -> TaskJson {
    let task = &ix.tasks[t];
    TaskJson {
        task_id: task.id,
        name: task.name.clone(),
        label: task.label(),
        location: task.short_location(),
        state: task.state.as_str(),
        polls: task.polls,
        busy_ns: task.busy_ns,
        longest_poll_ns: task.longest_poll_ns,
        longest_sched_delay_ns: task.longest_sched_ns,
    }
}

const TOP: usize = 10;

/// The report as JSON: the summary, and every group and occurrence.
pub fn build(ix: &Index) -> ReportJson {
    let mut r = summary(ix);
    r.groups = ix
        .groups
        .iter()
        .map(|g| GroupJson {
            kind: g.kind.as_str(),
            severity: g.severity.as_str(),
            subject: g.subject.clone(),
            count: g.count(),
            tasks: g.tasks,
            total: g.total,
            worst: g.worst,
            host_contention: g.host_contention,
            members: g.members.clone(),
        })
        .collect();
    r.anomalies = ix.anomalies.iter().map(|a| anomaly_json(ix, a)).collect();
    r
}

fn anomaly_json(ix: &Index, a: &crate::analysis::Anomaly) -> AnomalyJson {
    AnomalyJson {
        kind: a.kind.as_str(),
        severity: a.severity.as_str(),
        task_id: a.task.map(|t| ix.tasks[t as usize].id),
        task_name: a.task.map(|t| ix.tasks[t as usize].name.clone()),
        task_label: a.task.map(|t| ix.tasks[t as usize].label()),
        task_location: a.task.and_then(|t| ix.tasks[t as usize].short_location()),
        host_contention: a.host_contention,
        lane: a.lane,
        start_before_dump_ns: ix.end_ns.saturating_sub(a.start_ns),
        end_before_dump_ns: ix.end_ns.saturating_sub(a.end_ns),
        magnitude: a.magnitude,
        event: a.event,
        message: a.message(ix),
        advice: a.advice(),
        why: a.why.as_ref().map(|w| WhyJson {
            cause: w.cause.as_str(),
            summary: w.summary(),
            looks: w.looks,
            watched_ns: w.watched_ns,
            on_cpu_ns: w.on_cpu_ns,
            runq_wait_ns: w.runq_ns,
            blocked_ns: w.blocked_ns,
            syscall: w.syscall.map(|s| s.label()),
            syscall_nr: w.syscall.map(|s| s.nr),
            stack: w.stack.iter().map(|f| f.label()).collect(),
        }),
    }
}

/// The report without its groups and occurrences (a 10M-event dump can have a hundred
/// thousand): what the text report prints besides the top groups.
fn summary(ix: &Index) -> ReportJson {
    let h = &ix.dump.header;
    let mut by_busy: Vec<usize> = (0..ix.tasks.len())
        .filter(|&t| ix.tasks[t].busy_ns > 0)
        .collect();
    by_busy.sort_by_key(|&t| std::cmp::Reverse(ix.tasks[t].busy_ns));
    let mut by_poll: Vec<usize> = (0..ix.tasks.len())
        .filter(|&t| ix.tasks[t].polls > 0)
        .collect();
    by_poll.sort_by_key(|&t| std::cmp::Reverse(ix.tasks[t].longest_poll_ns));
    let window = ix.window_ns().max(1);
    let workers = ix
        .display_lanes()
        .into_iter()
        .map(|i| &ix.lanes[i])
        .filter(|l| l.info.kind == ThreadKind::Worker)
        .map(|l| LaneJson {
            lane: l.info.lane,
            label: l.label(),
            worker: l.info.worker,
            busy_ns: l.busy_ns,
            busy_share: l.busy_ns as f64 / window as f64,
            parked_share: l.parked_ns as f64 / window as f64,
        })
        .collect();
    let th = ix.thresholds;
    ReportJson {
        report_version: 2,
        verdict: ix.verdict.clone(),
        dump: DumpJson {
            reason: ReasonJson {
                backtrace: crate::analysis::backtrace::app_frames(&ix.dump.facts.panic_backtrace)
                    .iter()
                    .map(|f| f.label())
                    .collect(),
                backtrace_lines: ix.dump.facts.panic_backtrace.clone(),
                ..reason_json(&h.reason)
            },
            program: h.program.clone(),
            pid: h.pid,
            host: h.host.clone(),
            dumped_at_unix_ns: h.dumped_at_unix_ns,
            window_ns: ix.window_ns(),
            events: ix.event_count(),
            records: records_kept(ix),
            capacity: h.capacity,
            recorded_total: h.recorded_total,
            overwritten: h.overwritten,
            torn_skipped: h.torn_skipped,
            lanes: ix.lanes.len(),
            tasks: ix.tasks.len(),
            hooks_installed: h.hooks_installed,
            layer_installed: h.layer_installed,
            damage: ix.dump.damage.as_ref().map(|d| d.to_string()),
            events_per_s: per_second(ix, ix.event_count() as u64),
            records_per_s: per_second(ix, records_kept(ix)),
            capacity_for_10s: capacity_for(ix, 10.0),
            format: ix
                .foreign
                .as_ref()
                .map_or_else(|| "dial9-tui dump".into(), |f| f.format.clone()),
            limits: ix
                .foreign
                .as_ref()
                .map_or_else(Vec::new, |f| f.limits.clone()),
        },
        thresholds: ThresholdsJson {
            long_poll_warn_ns: th.long_poll_warn,
            long_poll_crit_ns: th.long_poll_crit,
            sched_delay_warn_ns: th.sched_warn,
            sched_delay_crit_ns: th.sched_crit,
            worker_stall_ns: th.stall,
        },
        anomaly_counts: counts(ix),
        groups: Vec::new(),
        anomalies: Vec::new(),
        top_busy: by_busy
            .into_iter()
            .take(TOP)
            .map(|t| task_json(ix, t))
            .collect(),
        top_longest_poll: by_poll
            .into_iter()
            .take(TOP)
            .map(|t| task_json(ix, t))
            .collect(),
        workers,
    }
}

/// Ring records in the dump: what was written, less what was overwritten or torn.
fn records_kept(ix: &Index) -> u64 {
    let h = &ix.dump.header;
    h.recorded_total
        .saturating_sub(h.overwritten)
        .saturating_sub(h.torn_skipped)
}

/// `n` per second over the window.
fn per_second(ix: &Index, n: u64) -> f64 {
    let secs = ix.window_ns() as f64 / 1e9;
    if secs <= 0.0 { 0.0 } else { n as f64 / secs }
}

/// The ring capacity that would keep `secs` at this dump's record rate, rounded up to a
/// multiple of 65,536 records.
fn capacity_for(ix: &Index, secs: f64) -> u64 {
    let want = (per_second(ix, records_kept(ix)) * secs).ceil() as u64;
    want.div_ceil(65_536).max(1).saturating_mul(65_536)
}

pub fn json(ix: &Index) -> String {
    serde_json::to_string_pretty(&build(ix)).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The human-readable report. `limit` caps the anomalies listed.
pub fn text(ix: &Index, source: &str, limit: usize) -> String {
    let r = summary(ix);
    let mut s = String::new();
    let what = if ix.foreign.is_some() {
        "dial9 trace"
    } else {
        "dial9 dump "
    };
    let _ = writeln!(s, "{what} {}", sanitize(source));
    let _ = writeln!(s, "verdict     {}", sanitize(&r.verdict));
    let _ = writeln!(s, "reason      {}", r.dump.reason.summary);
    // The panic's own frames: where in the code.
    const FRAMES: usize = 5;
    for (i, f) in r.dump.reason.backtrace.iter().take(FRAMES).enumerate() {
        let head = if i == 0 { "backtrace" } else { "" };
        let _ = writeln!(s, "{head:<12}{}", sanitize(f));
    }
    match &ix.foreign {
        Some(f) => trace_head(&mut s, f, &r.dump),
        None => {
            dump_head(&mut s, &r.dump);
            dump_notes(&mut s, ix, &r.dump);
        }
    }
    anomalies_and_tops(ix, &r, s, limit)
}

/// The dump's last moment on the wall clock, to the second.
fn wall_clock(d: &DumpJson) -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(d.dumped_at_unix_ns),
    )
}

/// The head of a report on a dial9 trace: not a dump of this recorder, so where it came
/// from, no ring to speak of, and what cannot be judged on it.
fn trace_head(s: &mut String, f: &Foreign, d: &DumpJson) {
    let when = wall_clock(d);
    let _ = writeln!(
        s,
        "format      {}, {} segment{}",
        f.format,
        f.segments,
        if f.segments == 1 { "" } else { "s" }
    );
    let pid = if d.pid == 0 {
        String::new()
    } else {
        format!(" (pid {})", d.pid)
    };
    let _ = writeln!(
        s,
        "program     {}{pid}, last event {when}",
        sanitize(&d.program)
    );
    let _ = writeln!(
        s,
        "window      {} with {} events, {} lanes, {} tasks",
        duration(d.window_ns),
        d.events,
        d.lanes,
        d.tasks
    );
    for l in &f.limits {
        let _ = writeln!(s, "limit       {}", sanitize(l));
    }
}

/// The head of a report on a dump of this recorder: the program, and the window with what
/// the ring kept of it.
fn dump_head(s: &mut String, d: &DumpJson) {
    let when = wall_clock(d);
    let _ = writeln!(
        s,
        "program     {} (pid {}) on {}, dumped {when}",
        sanitize(&d.program),
        d.pid,
        sanitize(&d.host)
    );
    let _ = writeln!(
        s,
        "window      {} with {} events in {} records ({} recorded, {} overwritten{}), {} lanes, \
         {} tasks",
        duration(d.window_ns),
        d.events,
        d.records,
        d.recorded_total,
        d.overwritten,
        if d.torn_skipped > 0 {
            format!(", {} torn", d.torn_skipped)
        } else {
            String::new()
        },
        d.lanes,
        d.tasks
    );
    if let Some(damage) = &d.damage {
        let _ = writeln!(s, "damaged     {damage}");
    }
}

/// Notes on what the dump lacks, and what would have kept more of it.
fn dump_notes(s: &mut String, ix: &Index, d: &DumpJson) {
    // Was the window long enough? Say what it would take to keep 10 s.
    if d.overwritten > 0 && d.window_ns < 10_000_000_000 && d.records_per_s > 0.0 {
        let cap = d.capacity_for_10s;
        let _ = writeln!(
            s,
            "note        this dump covers {} at {:.0}k records/s: `.capacity({})` (about {} MiB) \
             would keep 10 s",
            duration(d.window_ns),
            d.records_per_s / 1e3,
            group_digits(cap),
            dial9_format::ring_codec::recorder_bytes(usize::try_from(cap).unwrap_or(usize::MAX))
                .div_ceil(1 << 20)
        );
    }
    if ix.reordered > 0 {
        let _ = writeln!(
            s,
            "note        {} events were out of time order in the file and were sorted \
             (a damaged or hand-made dump)",
            ix.reordered
        );
    }
    let unobserved = ix
        .tasks
        .iter()
        .filter(|t| t.state == crate::analysis::TaskState::Unobserved)
        .count();
    if unobserved > 0 {
        let _ = writeln!(
            s,
            "note        {unobserved} tasks run on a runtime without dial9's hooks: their polls \
             are not recorded, so nothing is said about their scheduling (instrument every runtime)"
        );
    }
    if !d.hooks_installed {
        let _ = writeln!(
            s,
            "note        runtime hooks were not installed: no park/unpark data"
        );
    }
    if !d.layer_installed {
        let _ = writeln!(
            s,
            "note        tracing layer was not installed: no wakes or task names"
        );
    }
}

/// The report's anomalies (`limit` groups), top tasks and workers, after its head `s`.
fn anomalies_and_tops(ix: &Index, r: &ReportJson, mut s: String, limit: usize) -> String {
    let c = &r.anomaly_counts;
    let _ = writeln!(
        s,
        "\nanomalies   {} critical, {} warning, {} info, in {} groups ranked by impact",
        c.critical,
        c.warning,
        c.info,
        ix.groups.len()
    );
    for g in ix.groups.iter().take(limit) {
        let worst = &ix.anomalies[g.members[0]];
        let _ = writeln!(
            s,
            "  {:<8} {:<16} {:>10}  {}",
            g.severity.as_str().to_uppercase(),
            g.kind.as_str(),
            relative(worst.start_ns, ix.end_ns),
            g.summary(ix),
        );
    }
    if ix.groups.len() > limit {
        let _ = writeln!(
            s,
            "  ... and {} more groups (--limit N; --json lists every occurrence)",
            ix.groups.len() - limit
        );
    }
    // Labels as wide as the widest (unnamed tasks are their spawn location), within reason.
    let w = r
        .top_busy
        .iter()
        .chain(&r.top_longest_poll)
        .map(|t| label(t).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(20, 56);
    let _ = writeln!(s, "\ntop tasks by busy time");
    for t in &r.top_busy {
        let _ = writeln!(
            s,
            "  {:<w$} {:>10}  {:>6} polls  longest {}",
            sanitize(&label(t)),
            duration(t.busy_ns),
            t.polls,
            duration(t.longest_poll_ns)
        );
    }
    let _ = writeln!(s, "\ntop tasks by longest poll");
    for t in &r.top_longest_poll {
        let _ = writeln!(
            s,
            "  {:<w$} {:>10}",
            sanitize(&label(t)),
            duration(t.longest_poll_ns)
        );
    }
    let _ = writeln!(s, "\nworkers");
    for w in &r.workers {
        let _ = writeln!(
            s,
            "  {:<18} busy {:>5.1}%  parked {:>5.1}%",
            sanitize(&w.label),
            w.busy_share * 100.0,
            w.parked_share * 100.0
        );
    }
    s
}

/// `1300000` -> `1_300_000`, as it would be written in Rust.
fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

fn label(t: &TaskJson) -> String {
    format!("{} #{}", t.label, t.task_id)
}
