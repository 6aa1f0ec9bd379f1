//! What each swimlane column shows: a time range split into columns, and for each lane
//! and column the task it polled longest, how busy it was, how long its longest poll
//! ran, whether a marked task ran there; or parked, running, nothing. Computed here, not
//! in the view, so it can be tested without a terminal.

use super::Severity;
use super::index::{Index, Lane, TaskIdx};
use super::polls::{LanePolls, PollClass};

/// Polls (and parks) looked at per cell, at most: a cell of a zoomed-out 10M-event dump
/// covers ~100k polls, and an even sample of them gives the same answer at a fixed cost.
/// What must not be missed is not sampled: long polls have lists of their own, and a
/// marked task is looked for among all the cell's polls.
const SAMPLE: usize = 64;

/// One lane's activity in one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Polling in the column.
    Busy(Busy),
    /// Parked at least half the column.
    Parked,
    /// Awake but not polling.
    Running,
    /// No events from the lane around this time.
    Empty,
}

/// A column in which a lane polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy {
    /// The task polled for most of the polled time in the column.
    pub task: TaskIdx,
    /// How much of the column was spent polling, in quarters (1 to 4).
    pub fill: u8,
    /// The longest class of poll overlapping the column.
    pub class: PollClass,
    /// A poll of that class (long or critical) starts in this column.
    pub class_starts: bool,
    /// One of the marked tasks (the selected one) was polled in the column: the first
    /// of them that was.
    pub marked: Option<TaskIdx>,
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

    /// What the lane at position `li` did in each column; `marked` are the tasks to
    /// find wherever they ran (the selected task first).
    pub fn lane_cells(&self, ix: &Index, li: usize, marked: &[TaskIdx]) -> Vec<Cell> {
        self.cells(&ix.lanes[li], ix.polls.of_lane(li), ix.end_ns, marked)
    }

    /// What a lane with `polls` did in each column (open polls run until `until`).
    fn cells(&self, lane: &Lane, polls: &LanePolls, until: u64, marked: &[TaskIdx]) -> Vec<Cell> {
        (0..self.width)
            .map(|c| {
                let t0 = self.start_of(c);
                let t1 = self.start_of(c + 1).max(t0.saturating_add(1));
                cell(lane, polls, until, (t0, t1), marked)
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

fn cell(
    lane: &Lane,
    polls: &LanePolls,
    until: u64,
    (t0, t1): (u64, u64),
    marked: &[TaskIdx],
) -> Cell {
    let range = polls.range(t0, t1, until);
    if !range.is_empty() {
        return Cell::Busy(busy(polls, until, (t0, t1), range, marked));
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

/// The busy column `[t0, t1)` whose polls are at `range`.
fn busy(
    polls: &LanePolls,
    until: u64,
    (t0, t1): (u64, u64),
    range: std::ops::Range<usize>,
    marked: &[TaskIdx],
) -> Busy {
    let stride = (range.len() / SAMPLE).max(1);
    let scale = stride as u64;
    let mut best: Option<(u64, TaskIdx)> = None;
    let mut polled: u64 = 0;
    for i in range.clone().step_by(stride) {
        let (start, end) = (polls.start(i), polls.end_or(i, until));
        let o = end
            .min(t1)
            .saturating_sub(start.max(t0))
            .saturating_mul(scale);
        polled = polled.saturating_add(o);
        if best.is_none_or(|(b, _)| o > b) {
            best = Some((o, polls.task(i)));
        }
    }
    let width = t1 - t0;
    // Quarters, rounded up: any polling at all shows.
    let fill = (polled.min(width) as u128 * 4)
        .div_ceil(width as u128)
        .clamp(1, 4) as u8;
    let (class, class_starts) = polls.class_in(t0, t1, until);
    Busy {
        task: best.map_or(polls.task(range.start), |(_, t)| t),
        fill,
        class,
        class_starts,
        marked: marked
            .iter()
            .copied()
            .find(|&t| polls.polled(range.clone(), t)),
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
        // Long from 10 ns, critical from 20 ns.
        p.classify(10, 20, last_ns);
        (l, p)
    }

    /// The task each busy cell shows, `0` for any other cell.
    fn tasks(cells: &[Cell]) -> Vec<TaskIdx> {
        cells
            .iter()
            .map(|c| match c {
                Cell::Busy(b) => b.task,
                _ => 0,
            })
            .collect()
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
        let cells = cols.cells(&l, &p, 100, &[]);
        assert_eq!(tasks(&cells), [1, 1, 1, 3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(cells[4], Cell::Running);
        assert!(cells[5..].iter().all(|&c| c == Cell::Parked));
    }

    /// How much of each column was polling, in quarters rounded up; how long the
    /// longest poll there ran, and where a long one begins; where a marked task ran
    /// even when another one took most of the column.
    #[test]
    fn busy_cells_say_how_busy_how_long_and_whether_marked() {
        // Columns of 8 ns. Task 1: 0..2 (2 of 8: a quarter), task 2: 8..14 (6 of 8:
        // three quarters, short), task 3: 16..40 (critical, 24 ns, from column 2 to 4),
        // task 4: 40..41 and task 5: 41..53 (long, 12 ns, starts in column 5; 5 of
        // column 6, rounded up to three quarters).
        let (l, p) = lane(
            &[(0, 2, 1), (8, 14, 2), (16, 40, 3), (40, 41, 4), (41, 53, 5)],
            &[],
            0,
            64,
        );
        let cols = Columns {
            start: 0,
            end: 64,
            width: 8,
        };
        let cells = cols.cells(&l, &p, 64, &[4, 1]);
        let busy: Vec<Busy> = cells
            .iter()
            .filter_map(|c| match c {
                Cell::Busy(b) => Some(*b),
                _ => None,
            })
            .collect();
        let fills: Vec<u8> = busy.iter().map(|b| b.fill).collect();
        assert_eq!(fills, [1, 3, 4, 4, 4, 4, 3]);
        let classes: Vec<(PollClass, bool)> =
            busy.iter().map(|b| (b.class, b.class_starts)).collect();
        use PollClass::*;
        assert_eq!(
            classes,
            [
                (Short, false),
                (Short, false),
                (Critical, true),
                (Critical, false),
                (Critical, false),
                (Long, true),
                (Long, false),
            ]
        );
        // Column 5 (40..48): task 5 ran 7 ns, task 4 1 ns; task 4 is marked there.
        assert_eq!((busy[5].task, busy[5].marked), (5, Some(4)));
        assert_eq!(busy[0].marked, Some(1));
        assert!(busy[1..5].iter().all(|b| b.marked.is_none()));
        assert_eq!(cells[7], Cell::Running);
    }

    /// A poll whose end was lost is not called long: its length is a guess.
    #[test]
    fn a_poll_with_a_guessed_end_is_not_long() {
        let (l, mut p) = lane(&[], &[], 0, 100);
        let i = p.open(1, 0, 0) as usize;
        p.close(i, 90, false, true);
        p.classify(10, 20, 100);
        assert_eq!(p.class_in(0, 100, 100), (PollClass::Short, false));
        let cols = Columns {
            start: 0,
            end: 100,
            width: 1,
        };
        assert!(matches!(
            cols.cells(&l, &p, 100, &[])[0],
            Cell::Busy(Busy {
                class: PollClass::Short,
                fill: 4,
                ..
            })
        ));
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
            cols.cells(&l, &p, 100, &[]),
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
        assert_eq!(huge.cells(&l, &p, u64::MAX, &[]).len(), 3);
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
