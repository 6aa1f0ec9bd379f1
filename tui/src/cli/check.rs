//! `dial9-tui check`: pass/fail for CI gates and scripts.

use std::fmt::Write as _;

use crate::analysis::{AnomalyKind, Index, Severity};
use crate::fmt::{duration, relative, sanitize};

/// Exit status of `check` when no threshold is crossed.
pub const CLEAN: i32 = 0;
/// Exit status when at least one threshold is crossed.
pub const VIOLATIONS: i32 = 1;
/// Exit status when the dump cannot be read.
pub const UNREADABLE: i32 = 2;

/// The verdict: every critical anomaly whose kind is not allowed is a violation.
pub fn run(ix: &Index, allow: &[AnomalyKind]) -> (i32, String) {
    let violations: Vec<_> = ix
        .anomalies
        .iter()
        .filter(|a| a.severity == Severity::Critical && !allow.contains(&a.kind))
        .collect();
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
    if violations.is_empty() {
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
        violations.len(),
        if violations.len() == 1 { "" } else { "s" },
        duration(th.long_poll_crit),
        duration(th.sched_crit),
        allowed(allow)
    );
    for a in violations {
        let _ = writeln!(
            s,
            "  {:<16} {:>10}  {}",
            a.kind.as_str(),
            relative(a.start_ns, ix.end_ns),
            sanitize(&a.message(ix))
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
