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

/// A time column's format, chosen for the rows on screen: one unit for every row (the
/// largest value's), and as many decimals as the two closest rows need to read apart,
/// so stepping event by event always shows the time move. Digits are cut, not rounded:
/// rows stay in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Nanoseconds per unit: 1, 1e3, 1e6 or 1e9.
    unit: u64,
    decimals: u32,
}

impl Clock {
    /// For values up to `largest` (absolute) whose closest distinct neighbours are
    /// `finest` apart (0: none are).
    pub fn new(largest: u64, finest: u64) -> Clock {
        let unit: u64 = match largest {
            1_000_000_000.. => 1_000_000_000,
            1_000_000.. => 1_000_000,
            1_000.. => 1_000,
            _ => 1,
        };
        let most = unit.ilog10();
        // At least: milliseconds' worth of seconds, microseconds' of milliseconds.
        let least = match unit {
            1_000_000_000 | 1_000_000 => 3,
            1_000 => 1,
            _ => 0,
        };
        let mut decimals = least.min(most);
        while decimals < most && finest > 0 && unit / 10u64.pow(decimals) > finest {
            decimals += 1;
        }
        Clock { unit, decimals }
    }

    /// The format for signed `values` (nanoseconds), read in row order.
    pub fn fit(values: &[i128]) -> Clock {
        let largest = values.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
        let finest = values
            .windows(2)
            .map(|w| (w[1] - w[0]).unsigned_abs())
            .filter(|&d| d > 0)
            .min()
            .unwrap_or(0);
        let clamp = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        Clock::new(clamp(largest), clamp(finest))
    }

    /// `v` in this format: `-595.123 ms`, `+12.4 µs`, `0 ns` (with `plus`, positive
    /// values carry their sign).
    pub fn show(&self, v: i128, plus: bool) -> String {
        let sign = if v < 0 {
            "-"
        } else if plus && v > 0 {
            "+"
        } else {
            ""
        };
        let a = v.unsigned_abs();
        let unit = u128::from(self.unit);
        let name = match self.unit {
            1_000_000_000 => "s",
            1_000_000 => "ms",
            1_000 => "µs",
            _ => "ns",
        };
        if self.decimals == 0 {
            return format!("{sign}{} {name}", a / unit);
        }
        let frac = (a % unit) / (unit / 10u128.pow(self.decimals));
        format!(
            "{sign}{}.{frac:0d$} {name}",
            a / unit,
            d = self.decimals as usize
        )
    }
}

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

    /// Neighbouring rows always read apart, in a unit that suits the largest value.
    #[test]
    fn a_clock_tells_the_closest_rows_apart() {
        // 595 ms before the dump, rows 8 µs apart: milliseconds with microseconds.
        let c = Clock::fit(&[-595_000_000, -594_992_000]);
        assert_eq!(c.show(-595_000_000, false), "-595.000 ms");
        assert_eq!(c.show(-594_992_000, false), "-594.992 ms");
        // 120 ns apart: a decimal more than the microsecond, no more.
        let c = Clock::fit(&[-595_000_000, -594_999_880]);
        assert_eq!(c.show(-595_000_000, false), "-595.0000 ms");
        assert_eq!(c.show(-594_999_880, false), "-594.9998 ms");
        // Seconds with one row 3 ns after another: down to the nanosecond.
        let c = Clock::fit(&[-4_380_000_000, -4_379_999_997]);
        assert_eq!(c.show(-4_379_999_997, false), "-4.379999997 s");
        // Equal times stay equal; the rest keeps the unit's usual precision.
        let c = Clock::fit(&[-1_500, -1_500]);
        assert_eq!(c.show(-1_500, false), "-1.5 µs");
        assert_eq!(Clock::fit(&[0]).show(0, false), "0 ns");
        assert_eq!(Clock::fit(&[]).show(0, true), "0 ns");
        // Gaps and marks carry a sign; digits are cut, never rounded up past a neighbour.
        let c = Clock::fit(&[1_999_999, 2_000_000]);
        assert_eq!(c.show(1_999_999, true), "+1.999999 ms");
        assert_eq!(c.show(-7, true), "-0.000007 ms");
        // Extremes neither overflow nor panic.
        let c = Clock::fit(&[i128::from(u64::MAX), -i128::from(u64::MAX)]);
        assert!(c.show(-i128::from(u64::MAX), false).ends_with(" s"));
    }

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
