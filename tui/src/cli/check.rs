//! `dial9-tui check`: pass/fail for CI gates and scripts.

use std::fmt::Write as _;

use crate::analysis::{Anomaly, AnomalyKind, Index, Severity};
use crate::fmt::{duration, relative, sanitize};

/// Exit status of `check` when no threshold is crossed.
pub const CLEAN: i32 = 0;
/// Exit status when at least one threshold is crossed.
pub const VIOLATIONS: i32 = 1;
/// Exit status when the dump cannot be read.
pub const UNREADABLE: i32 = 2;

/// How `check` lists the violations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// A line per group of anomalies (kind and subject, as the report groups them) that
    /// holds a violation, in the report's order, at most this many groups: a dump can
    /// hold a hundred thousand violations, which no CI log should print one by one.
    Groups(usize),
    /// Every violation on a line of its own.
    Every,
}

/// The verdict: every critical anomaly whose kind is not allowed is a violation.
pub fn run(ix: &Index, allow: &[AnomalyKind], listing: Listing) -> (i32, String) {
    let violates = |a: &Anomaly| a.severity == Severity::Critical && !allow.contains(&a.kind);
    let violations = ix.anomalies.iter().filter(|a| violates(a)).count();
    let th = ix.thresholds;
    let mut s = String::new();
    // A pass on a damaged dump is a pass on what could be read: say so first.
    if let Some(damage) = &ix.dump.damage {
        let _ = writeln!(s, "note: {damage}");
    }
    // A pass on an imported trace is a pass on what it can tell.
    if let Some(f) = &ix.foreign {
        for l in &f.limits {
            let _ = writeln!(s, "note: {}: {l}", f.format);
        }
    }
    if violations == 0 {
        let _ = writeln!(
            s,
            "OK: no violations (max poll {}, max scheduling delay {}{})",
            duration(th.long_poll_crit),
            duration(th.sched_crit),
            allowed(allow)
        );
        return (CLEAN, s);
    }
    let _ = writeln!(
        s,
        "FAIL: {} violation{} (max poll {}, max scheduling delay {}{})",
        violations,
        if violations == 1 { "" } else { "s" },
        duration(th.long_poll_crit),
        duration(th.sched_crit),
        allowed(allow)
    );
    let line = |s: &mut String, a: &Anomaly, text: &str| {
        let _ = writeln!(
            s,
            "  {:<16} {:>10}  {}",
            a.kind.as_str(),
            relative(a.start_ns, ix.end_ns),
            text
        );
    };
    let limit = match listing {
        Listing::Every => {
            for a in ix.anomalies.iter().filter(|a| violates(a)) {
                line(&mut s, a, &sanitize(&a.message(ix)));
            }
            return (VIOLATIONS, s);
        }
        Listing::Groups(limit) => limit,
    };
    // Each group with a violation: its line in the report when every member is one,
    // else how many are, and the worst of those.
    let groups = ix.groups.iter().filter_map(|g| {
        let mut members = g.members.iter().map(|&m| &ix.anomalies[m]);
        // Members are worst first: the first violation is the worst of them.
        let worst = members.find(|a| violates(a))?;
        let n = 1 + members.filter(|a| violates(a)).count();
        Some((g, worst, n))
    });
    let mut more = 0;
    for (i, (g, worst, n)) in groups.enumerate() {
        if i >= limit {
            more += 1;
            continue;
        }
        let text = if n == g.count() {
            g.summary(ix)
        } else {
            format!(
                "{}: {} times, {n} of them critical; worst of those: {}",
                sanitize(&g.subject),
                g.count(),
                sanitize(&worst.message(ix))
            )
        };
        line(&mut s, worst, &text);
    }
    if more > 0 {
        let _ = writeln!(
            s,
            "  ... and {more} more group{} with violations (--limit N; --all lists every violation)",
            if more == 1 { "" } else { "s" }
        );
    }
    (VIOLATIONS, s)
}

fn allowed(allow: &[AnomalyKind]) -> String {
    if allow.is_empty() {
        String::new()
    } else {
        let names: Vec<_> = allow.iter().map(|k| k.as_str()).collect();
        format!(", allowed: {}", names.join(", "))
    }
}
