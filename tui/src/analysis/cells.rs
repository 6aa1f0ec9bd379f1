//! What each swimlane column shows: a time range split into columns, and for each lane
//! and column the task it polled longest, parked, running, or nothing. Computed here, not
//! in the view, so it can be tested without a terminal.

use super::Severity;
use super::index::{Index, Lane, TaskIdx};
use super::polls::LanePolls;

/// Polls (and parks) looked at per cell, at most: a cell of a zoomed-out 10M-event dump
/// covers ~100k polls, and an even sample of them gives the same answer at a fixed cost.
const SAMPLE: usize = 64;

/// One lane's activity in one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Polling this task for most of the polled time in the column.
    Polling(TaskIdx),
    /// Parked at least half the column.
    Parked,
    /// Awake but not polling (or polling too briefly to show).
    Running,
    /// No events from the lane around this time.
    Empty,
}

/// A time range `[start, end)` split into `width` columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    pub start: u64,
    pub end: u64,
    pub width: usize,
}

impl Columns {
    fn span(&self) -> u64 {
        self.end.saturating_sub(self.start).max(1)
    }

    /// Where column `c` begins.
    pub fn start_of(&self, c: usize) -> u64 {
        self.start
            .saturating_add((self.span() as u128 * c as u128 / self.width.max(1) as u128) as u64)
    }

    /// The column holding time `ts`, if it is in the range.
    pub fn column_of(&self, ts: u64) -> Option<usize> {
        if ts < self.start || ts >= self.end || self.width == 0 {
            return None;
        }
        let c = (ts - self.start) as u128 * self.width as u128 / self.span() as u128;
        Some((c as usize).min(self.width - 1))
    }

    /// What the lane at position `li` did in each column.
    pub fn lane_cells(&self, ix: &Index, li: usize) -> Vec<Cell> {
        self.cells(&ix.lanes[li], ix.polls.of_lane(li), ix.end_ns)
    }

    /// What a lane with `polls` did in each column (open polls run until `until`).
    fn cells(&self, lane: &Lane, polls: &LanePolls, until: u64) -> Vec<Cell> {
        (0..self.width)
            .map(|c| {
                let t0 = self.start_of(c);
                let t1 = self.start_of(c + 1).max(t0.saturating_add(1));
                cell(lane, polls, until, t0, t1)
            })
            .collect()
    }

    /// The first time `column_of` puts in column `c` (or beyond).
    fn first_of(&self, c: usize) -> u64 {
        let w = self.width.max(1) as u128;
        self.start
            .saturating_add((self.span() as u128 * c as u128).div_ceil(w) as u64)
    }

    /// The worst anomaly starting in each column: for each column and severity, a binary
    /// search in that severity's sorted start times (a 30M-event dump has ~400k
    /// anomalies; a pass over them all took most of a frame).
    pub fn alerts(&self, ix: &Index) -> Vec<Option<Severity>> {
        self.alerts_of(&ix.anomaly_starts)
    }

    fn alerts_of(&self, by_severity: &[Vec<u64>; 3]) -> Vec<Option<Severity>> {
        let mut alerts = vec![None; self.width];
        for sev in [Severity::Info, Severity::Warning, Severity::Critical] {
            let starts = &by_severity[sev as usize];
            if starts.is_empty() {
                continue;
            }
            for (c, alert) in alerts.iter_mut().enumerate() {
                let t0 = self.first_of(c);
                let t1 = if c + 1 == self.width {
                    self.end
                } else {
                    self.first_of(c + 1)
                };
                let i = starts.partition_point(|&s| s < t0);
                if starts.get(i).is_some_and(|&s| s < t1) {
                    *alert = Some(sev);
                }
            }
        }
        alerts
    }
}

fn cell(lane: &Lane, polls: &LanePolls, until: u64, t0: u64, t1: u64) -> Cell {
    let mut best: Option<(u64, TaskIdx)> = None;
    let range = polls.range(t0, t1, until);
    let stride = (range.len() / SAMPLE).max(1);
    let scale = stride as u64;
    let overlap = |start: u64, end: u64| {
        end.min(t1)
            .saturating_sub(start.max(t0))
            .max(1)
            .saturating_mul(scale)
    };
    for i in range.step_by(stride) {
        let o = overlap(polls.start(i), polls.end_or(i, until));
        if best.is_none_or(|(b, _)| o > b) {
            best = Some((o, polls.task(i)));
        }
    }
    if let Some((_, t)) = best {
        return Cell::Polling(t);
    }
    let parks = lane.parks_in(t0, t1);
    let stride = (parks.len() / SAMPLE).max(1);
    let scale = stride as u64;
    let parked: u64 = parks
        .iter()
        .step_by(stride)
        .map(|p| {
            p.end_ns
                .min(t1)
                .saturating_sub(p.start_ns.max(t0))
                .max(1)
                .saturating_mul(scale)
        })
        .fold(0, u64::saturating_add);
    if parked.saturating_mul(2) >= t1 - t0 {
        Cell::Parked
    } else if lane.events > 0 && t1 > lane.first_ns && t0 <= lane.last_ns {
        Cell::Running
    } else {
        Cell::Empty
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::index::Park;
    use dial9_format::{ThreadInfo, ThreadKind};

    /// A lane that polled `(start, end, task)` and parked `(start, end)`.
    fn lane(
        polls: &[(u64, u64, TaskIdx)],
        parks: &[(u64, u64)],
        first_ns: u64,
        last_ns: u64,
    ) -> (Lane, LanePolls) {
        let mut l = Lane::new(ThreadInfo {
            lane: 0,
            os_tid: 1,
            name: "w".into(),
            worker: Some(0),
            kind: ThreadKind::Worker,
        });
        l.parks = parks
            .iter()
            .map(|&(start_ns, end_ns)| Park { start_ns, end_ns })
            .collect();
        l.events = 2;
        l.first_ns = first_ns;
        l.last_ns = last_ns;
        let mut p = LanePolls::default();
        for &(s, e, t) in polls {
            let i = p.open(t, s, 0) as usize;
            p.close(i, e, false, false);
        }
        (l, p)
    }

    #[test]
    fn columns_show_the_longest_poll_then_parked_then_running() {
        // 0..100 ns in 10 columns of 10 ns: task 1 polls 0..25, task 2 25..28, task 3
        // 28..40; parked 50..100, awake between. Column 2 (20..30) holds 5 ns of task 1,
        // 3 of task 2 and 2 of task 3: it shows task 1.
        let (l, p) = lane(
            &[(0, 25, 1), (25, 28, 2), (28, 40, 3)],
            &[(50, 100)],
            0,
            100,
        );
        let cols = Columns {
            start: 0,
            end: 100,
            width: 10,
        };
        let cells = cols.cells(&l, &p, 100);
        assert_eq!(
            cells,
            vec![
                Cell::Polling(1),
                Cell::Polling(1),
                Cell::Polling(1),
                Cell::Polling(3),
                Cell::Running,
                Cell::Parked,
                Cell::Parked,
                Cell::Parked,
                Cell::Parked,
                Cell::Parked,
            ]
        );
    }

    #[test]
    fn time_before_a_lanes_first_event_is_empty_and_columns_map_back() {
        let (l, p) = lane(&[], &[], 60, 90);
        let cols = Columns {
            start: 0,
            end: 100,
            width: 4,
        };
        assert_eq!(
            cols.cells(&l, &p, 100),
            vec![Cell::Empty, Cell::Empty, Cell::Running, Cell::Running]
        );
        assert_eq!(cols.column_of(0), Some(0));
        assert_eq!(cols.column_of(99), Some(3));
        assert_eq!(cols.column_of(100), None);
        assert_eq!(cols.start_of(2), 50);
        // Extreme ranges neither overflow nor divide by zero.
        let huge = Columns {
            start: u64::MAX - 10,
            end: u64::MAX,
            width: 3,
        };
        assert_eq!(huge.cells(&l, &p, u64::MAX).len(), 3);
        assert_eq!(huge.column_of(u64::MAX - 1), Some(2));
    }

    /// The binary searches put each anomaly in the column `column_of` gives it, at any
    /// width and span (column edges that fall between nanoseconds included).
    #[test]
    fn alerts_are_the_worst_severity_column_of_puts_in_each_column() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m.max(1)
        };
        for _ in 0..300 {
            let start = next(1_000);
            let cols = Columns {
                start,
                end: start + 1 + next(10_000),
                width: 1 + next(200) as usize,
            };
            let mut starts: [Vec<u64>; 3] = Default::default();
            let mut brute = vec![None; cols.width];
            for _ in 0..next(50) {
                let sev = [Severity::Info, Severity::Warning, Severity::Critical][next(3) as usize];
                let at = next(12_000);
                starts[sev as usize].push(at);
                if let Some(c) = cols.column_of(at) {
                    brute[c] = brute[c].max(Some(sev));
                }
            }
            for s in &mut starts {
                s.sort_unstable();
            }
            assert_eq!(cols.alerts_of(&starts), brute, "{cols:?}");
        }
    }
}
