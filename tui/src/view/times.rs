//! The time columns of the event lists: each row's time in the mode the user chose (to
//! the dump, gap to the row above, from the mark), in a [`Clock`] fitted to the rows on
//! screen, so neighbouring events always read apart.

use crate::app::{App, TimeMode};
use crate::fmt::Clock;

/// The time column for rows at times `ts` (row order); `before` is the time of the row
/// above the first, for its gap. `gaps` is false where the pane has a gap column of its
/// own (then a gap mode shows times to the dump).
pub fn column(app: &App, ts: &[u64], before: Option<u64>, gaps: bool) -> Vec<String> {
    let end = app.index().end_ns;
    let signed = |a: u64, b: u64| i128::from(a) - i128::from(b);
    match (app.time_mode(), app.mark_ts()) {
        (TimeMode::Gap, _) if gaps => gap_column(ts, before),
        (TimeMode::Mark, Some(mark)) => {
            let v: Vec<i128> = ts.iter().map(|&t| signed(t, mark)).collect();
            let clock = Clock::fit(&v);
            v.iter().map(|&x| clock.show(x, true)).collect()
        }
        _ => {
            let v: Vec<i128> = ts.iter().map(|&t| signed(t, end)).collect();
            let clock = Clock::fit(&v);
            v.iter().map(|&x| clock.show(x, false)).collect()
        }
    }
}

/// Each row's gap to the row above (`+…`), each in its own unit (gaps are not in order:
/// a gap of microseconds next to one of milliseconds reads best as `+2.2 µs`, `+6.282
/// ms`); the first row's is blank when nothing is above it.
pub fn gap_column(ts: &[u64], before: Option<u64>) -> Vec<String> {
    ts.iter()
        .enumerate()
        .map(|(i, &t)| {
            let prev = if i == 0 { before } else { Some(ts[i - 1]) };
            prev.map_or_else(String::new, |p| {
                let g = t.saturating_sub(p);
                Clock::new(g, 0).show(i128::from(g), true)
            })
        })
        .collect()
}

/// The time from the mark to the selected event, for titles: `+1.204 ms from the mark`.
pub fn since_mark(app: &App) -> Option<String> {
    let mark = app.mark_ts()?;
    let at = app.index().events.ts(app.event() as usize);
    let d = i128::from(at) - i128::from(mark);
    Some(format!("{} from the mark", Clock::fit(&[d]).show(d, true)))
}

/// Right-aligns a column's cells to its widest.
pub fn align(cells: Vec<String>) -> Vec<String> {
    let w = cells.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    cells.into_iter().map(|c| format!("{c:>w$}")).collect()
}
