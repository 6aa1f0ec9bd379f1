//! Formatting shared by the report and the views: durations, times relative to the dump,
//! and untrusted strings made safe for a terminal.

/// `1.204 s`, `12.3 ms`, `850 µs`, `420 ns`.
pub fn duration(ns: u64) -> String {
    let f = ns as f64;
    if ns >= 1_000_000_000 {
        format!("{:.3} s", f / 1e9)
    } else if ns >= 10_000_000 {
        format!("{:.0} ms", f / 1e6)
    } else if ns >= 1_000_000 {
        format!("{:.1} ms", f / 1e6)
    } else if ns >= 1_000 {
        format!("{:.0} µs", f / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// Time of `ns` relative to the dump at `end_ns`, with the precision that tells events
/// apart where they crowd: `-420 ns`, `-11.4 µs`, `-312 µs`, `-1.204 ms`, `-12.345 ms`,
/// `-0.312 s`, `-4.380 s`; `0 ns` at the dump itself. Used by every view and by `report` and `check`.
pub fn relative(ns: u64, end_ns: u64) -> String {
    let d = end_ns.saturating_sub(ns);
    if d == 0 {
        "0 ns".into()
    } else if d < 1_000 {
        format!("-{d} ns")
    } else if d < 100_000 {
        format!("-{}.{} µs", d / 1_000, (d / 100) % 10)
    } else if d < 1_000_000 {
        format!("-{} µs", d / 1_000)
    } else if d < 100_000_000 {
        format!("-{}.{:03} ms", d / 1_000_000, (d / 1_000) % 1000)
    } else {
        format!("-{}.{:03} s", d / 1_000_000_000, (d / 1_000_000) % 1000)
    }
}

/// Columns [`relative`] takes at most for windows under 1,000 s (`-999.999 s`), for
/// aligning a time column.
pub const RELATIVE_WIDTH: usize = 10;

/// A task's live waker count: the number, or `?` when nobody can know it (never a
/// negative number reconstructed from a window that lost the task's beginning).
pub fn wakers(live: Option<i64>) -> String {
    live.map_or_else(|| "?".into(), |n| n.max(0).to_string())
}

/// Makes a string from a dump (task names, file paths: untrusted) safe to print: control
/// characters and escape sequences are shown escaped (`\u{1b}`), never emitted.
pub fn sanitize(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Sanitizes every string a dump carries, once, as it enters the analysis: from then on
/// no output path (report text and JSON, check, the explorer) can print a raw control
/// character from the file, whether or not it remembers to call [`sanitize`].
pub fn sanitize_dump(d: &mut dial9_format::Dump) {
    use dial9_format::Reason;
    let clean = |s: &mut String| {
        if s.chars().any(needs_escape) {
            *s = sanitize(s);
        }
    };
    let h = &mut d.header;
    clean(&mut h.program);
    clean(&mut h.host);
    clean(&mut h.recorder_version);
    match &mut h.reason {
        Reason::Panic {
            message,
            location,
            thread,
            ..
        } => {
            clean(message);
            clean(thread);
            if let Some(l) = location {
                clean(l);
            }
        }
        Reason::Signal { name, .. } => clean(name),
        Reason::Requested { label } => clean(label),
        Reason::Recovered { .. } | Reason::Exited { .. } => {}
    }
    for t in &mut d.threads {
        clean(&mut t.name);
    }
    for t in &mut d.tasks {
        clean(&mut t.name);
        if let Some(l) = &mut t.location {
            clean(&mut l.file);
        }
    }
    clean(&mut d.facts.arch);
    for l in &mut d.facts.panic_backtrace {
        clean(l);
    }
    for s in &mut d.facts.stacks {
        for l in &mut s.frames {
            clean(l);
        }
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Parses `50ms`, `1s`, `250us`, `2.5ms`, or a bare number of milliseconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 50ms, 1s, 250us)"))?;
    let scale = match unit.trim() {
        "" | "ms" => 1e6,
        "s" => 1e9,
        "us" | "µs" => 1e3,
        "ns" => 1.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{s}' (use s, ms, us, ns)"
            ));
        }
    };
    Ok((value * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(420), "420 ns");
        assert_eq!(duration(850_000), "850 µs");
        assert_eq!(duration(1_234_567), "1.2 ms");
        assert_eq!(duration(123_456_789), "123 ms");
        assert_eq!(duration(1_204_000_000), "1.204 s");
        assert_eq!(relative(1_000, 1_205_000_000), "-1.204 s");
        assert_eq!(relative(5, 5), "0 ns");
        assert_eq!(relative(0, 420), "-420 ns");
        assert_eq!(relative(0, 11_400), "-11.4 µs");
        assert_eq!(relative(0, 312_999), "-312 µs");
        assert_eq!(relative(0, 1_204_500), "-1.204 ms");
        assert_eq!(relative(0, 12_345_678), "-12.345 ms");
        assert_eq!(relative(0, 312_000_000), "-0.312 s");
        assert_eq!(relative(0, 999_999_999_999).chars().count(), RELATIVE_WIDTH);
        assert_eq!(parse_duration("50ms"), Ok(50_000_000));
        assert_eq!(parse_duration("1s"), Ok(1_000_000_000));
        assert_eq!(parse_duration("2.5ms"), Ok(2_500_000));
        assert_eq!(parse_duration("7"), Ok(7_000_000));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn escapes_control_characters_and_bidi_overrides() {
        assert_eq!(sanitize("plain-name"), "plain-name");
        let evil = "x\u{1b}[2J\u{1b}]0;pwned\u{7}\r\n\u{202e}y";
        let safe = sanitize(evil);
        assert!(!safe.chars().any(|c| c.is_control()));
        assert!(safe.contains("\\u{1b}[2J"), "{safe}");
        assert!(!safe.contains('\u{202e}'));
    }
}
