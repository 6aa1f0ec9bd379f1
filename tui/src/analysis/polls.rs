//! Every poll in the window, as columns, each lane's polls together in time order.
//!
//! A poll takes 21 bytes here (its start, length, task, start event and flags) where the
//! struct it is handed out as takes 48: a 10M-event dump has ~2M polls. A lane's polls
//! are a table of their own, so a lane's activity between two times is a binary search,
//! and a poll's index ([`PollIdx`]) is its lane's base plus its place in the lane.

use super::narrow::Narrow;

use super::index::{EventIdx, NONE, TaskIdx};

pub type PollIdx = u32;

/// A poll, as the tables hand it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poll {
    pub task: TaskIdx,
    /// The lane's id (`ThreadInfo::lane`).
    pub lane: u32,
    pub start_ns: u64,
    /// `None`: in progress at the dump (its lane says it was polling this task then).
    pub end_ns: Option<u64>,
    /// The poll's start event; for a poll known only from its end, that end.
    pub start_event: EventIdx,
    pub completed: bool,
    /// The poll's end was never recorded (torn, lost): `end_ns` is when its lane was
    /// next seen doing something else, an upper bound, not a measurement.
    pub end_unknown: bool,
    /// Still running when the dump read the ring, but over by the time it read the lane
    /// states: `end_ns` is the lane's last event, a lower bound on when it ended.
    pub open_at_window_end: bool,
    /// The start was overwritten: the poll is known from its end, which carries its
    /// duration (`start_event` is then the end event).
    pub start_overwritten: bool,
}

impl Poll {
    /// Duration, counting an in-progress poll up to `dump_ns`.
    pub fn duration(&self, dump_ns: u64) -> u64 {
        self.end_ns.unwrap_or(dump_ns).saturating_sub(self.start_ns)
    }
}

const COMPLETED: u8 = 1;
const END_UNKNOWN: u8 = 2;
const OPEN_AT_WINDOW_END: u8 = 4;
const START_OVERWRITTEN: u8 = 8;
/// Not ended (yet, while building; at the dump, once built).
const OPEN: u8 = 16;

/// One lane's polls.
#[derive(Clone, Debug, Default)]
pub struct LanePolls {
    start: Vec<u64>,
    dur: Narrow,
    task: Vec<TaskIdx>,
    event: Vec<EventIdx>,
    flags: Vec<u8>,
    /// Places of the polls at least as long as the long-poll warning threshold and
    /// shorter than the critical one, and of those at least critical (in time order):
    /// the swimlanes mark a long poll at any zoom with two binary searches here.
    slow: Vec<u32>,
    critical: Vec<u32>,
}

/// How long a poll ran, by the long-poll thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PollClass {
    Short,
    /// At least the warning threshold.
    Long,
    /// At least the critical threshold.
    Critical,
}

impl LanePolls {
    pub fn len(&self) -> usize {
        self.start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    pub fn start(&self, i: usize) -> u64 {
        self.start[i]
    }

    pub fn task(&self, i: usize) -> TaskIdx {
        self.task[i]
    }

    pub fn is_open(&self, i: usize) -> bool {
        self.flags[i] & OPEN != 0
    }

    /// The poll's end, `None` while open.
    pub fn end(&self, i: usize) -> Option<u64> {
        (!self.is_open(i)).then(|| self.start[i].saturating_add(self.dur(i)))
    }

    /// Its end, counting an open poll up to `until`.
    pub fn end_or(&self, i: usize, until: u64) -> u64 {
        self.end(i).unwrap_or(until.max(self.start[i]))
    }

    fn dur(&self, i: usize) -> u64 {
        self.dur.get(i)
    }

    /// A poll of `task` from `start_ns`, not yet ended; its place in the lane.
    pub(crate) fn open(&mut self, task: TaskIdx, start_ns: u64, event: EventIdx) -> u32 {
        self.start.push(start_ns);
        self.dur.push(0);
        self.task.push(task);
        self.event.push(event);
        self.flags.push(OPEN);
        (self.start.len() - 1) as u32
    }

    pub(crate) fn close(&mut self, i: usize, end_ns: u64, completed: bool, end_unknown: bool) {
        self.dur.set(i, end_ns.saturating_sub(self.start[i]));
        let f = &mut self.flags[i];
        *f &= !(OPEN | COMPLETED | END_UNKNOWN);
        if completed {
            *f |= COMPLETED;
        }
        if end_unknown {
            *f |= END_UNKNOWN;
        }
    }

    pub(crate) fn mark_start_overwritten(&mut self, i: usize) {
        self.flags[i] |= START_OVERWRITTEN;
    }

    pub(crate) fn mark_open_at_window_end(&mut self, i: usize) {
        self.flags[i] |= OPEN_AT_WINDOW_END;
    }

    pub fn event(&self, i: usize) -> EventIdx {
        self.event[i]
    }

    /// The first poll starting at or after `ts`.
    pub fn first_from(&self, ts: u64) -> usize {
        partition(self.len(), |i| self.start[i] < ts)
    }

    /// Polls overlapping `[from, to)`: a range of places (polls on a lane follow one
    /// another, so both their starts and their ends are in order).
    pub fn range(&self, from: u64, to: u64, until: u64) -> std::ops::Range<usize> {
        let first = partition(self.len(), |i| self.end_or(i, until) <= from);
        let last = partition(self.len(), |i| self.start[i] < to);
        first..last.max(first)
    }

    /// Sorts the lane's polls by start (then end), as a lane's polls nearly are already
    /// (a poll known only from its end is placed when its end arrives). Returns where
    /// each poll went (`moved[old] = new`), or `None` if none moved.
    pub(crate) fn sort(&mut self, until: u64) -> Option<Vec<u32>> {
        let key = |i: usize| (self.start[i], self.end_or(i, until));
        // Nearly always sorted by start alone: an end is worked out only at a tie.
        let in_order = self.start.windows(2).enumerate().all(|(i, w)| {
            w[0] < w[1] || (w[0] == w[1] && self.end_or(i, until) <= self.end_or(i + 1, until))
        });
        if in_order {
            return None;
        }

        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_by_key(|&i| key(i as usize));
        fn permute<T: Copy>(v: &mut Vec<T>, order: &[u32]) {
            *v = order.iter().map(|&i| v[i as usize]).collect();
        }
        permute(&mut self.start, &order);
        permute(&mut self.task, &order);
        permute(&mut self.event, &order);
        permute(&mut self.flags, &order);
        let mut moved = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            moved[old as usize] = new as u32;
        }
        self.dur.permute(&order, &moved);
        Some(moved)
    }
}

/// The first `i` in `0..n` for which `before(i)` is false (`before` is true, then false).
fn partition(n: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Every lane's polls (see the module's doc).
#[derive(Clone, Debug, Default)]
pub struct Polls {
    lanes: Vec<LanePolls>,
    /// Lane ids, by lane position (`Index::lanes`).
    ids: Vec<u32>,
    /// Where each lane's polls start among all polls; one more than lanes.
    bases: Vec<u32>,
}

impl Polls {
    pub(crate) fn new(lanes: Vec<LanePolls>, ids: Vec<u32>) -> Polls {
        let mut bases = Vec::with_capacity(lanes.len() + 1);
        let mut at = 0u32;
        bases.push(0);
        for l in &lanes {
            at += l.len() as u32;
            bases.push(at);
        }
        Polls { lanes, ids, bases }
    }

    pub fn len(&self) -> usize {
        self.bases.last().copied().unwrap_or(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many lanes (one table of polls each, as `Index::lanes`).
    pub fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// The polls of the lane at position `li`.
    pub fn of_lane(&self, li: usize) -> &LanePolls {
        &self.lanes[li]
    }

    /// The index of place `i` of lane `li`.
    pub fn idx(&self, li: usize, i: usize) -> PollIdx {
        self.bases[li] + i as u32
    }

    /// Lane position and place of poll `p`.
    pub fn locate(&self, p: PollIdx) -> Option<(usize, usize)> {
        if p as usize >= self.len() {
            return None;
        }
        let li = self.bases.partition_point(|&b| b <= p) - 1;
        Some((li, (p - self.bases[li]) as usize))
    }

    pub fn get(&self, p: PollIdx) -> Option<Poll> {
        let (li, i) = self.locate(p)?;
        Some(self.at(li, i))
    }

    /// Place `i` of lane `li`'s polls (panics past the lane's last), for a pass over a
    /// lane's polls that knows where it is.
    pub fn at(&self, li: usize, i: usize) -> Poll {
        let l = &self.lanes[li];
        let f = l.flags[i];
        Poll {
            task: l.task[i],
            lane: self.ids[li],
            start_ns: l.start[i],
            end_ns: l.end(i),
            start_event: l.event[i],
            completed: f & COMPLETED != 0,
            end_unknown: f & END_UNKNOWN != 0,
            open_at_window_end: f & OPEN_AT_WINDOW_END != 0,
            start_overwritten: f & START_OVERWRITTEN != 0,
        }
    }

    /// Every poll, lane by lane, each lane's in time order.
    pub fn iter(&self) -> impl Iterator<Item = (PollIdx, Poll)> + '_ {
        (0..self.len() as PollIdx).filter_map(|p| Some((p, self.get(p)?)))
    }

    /// The polls still open at the dump (in progress), read from the flags alone.
    pub fn open(&self) -> impl Iterator<Item = PollIdx> + '_ {
        self.lanes.iter().enumerate().flat_map(move |(li, l)| {
            (0..l.len())
                .filter(move |&i| l.is_open(i))
                .map(move |i| self.idx(li, i))
        })
    }
}

impl LanePolls {
    /// Sorts the polls into [`PollClass`]es once they are in time order. A poll whose end
    /// was lost is left short (its length is a guess), as the long-poll rule leaves it
    /// out; one still running at the dump counts up to `until`.
    pub(crate) fn classify(&mut self, warn: u64, crit: u64, until: u64) {
        self.slow.clear();
        self.critical.clear();
        for i in 0..self.len() {
            if self.dur.below(i, warn) && !self.is_open(i) {
                continue;
            }
            if !self.measured(i) {
                continue;
            }
            let d = self.end_or(i, until).saturating_sub(self.start[i]);
            if d >= crit {
                self.critical.push(i as u32);
            } else if d >= warn {
                self.slow.push(i as u32);
            }
        }
    }

    /// The places of the polls at least long (warning or critical), each class in time
    /// order: those [`Self::classify`] found.
    pub(crate) fn long_places(&self) -> impl Iterator<Item = usize> + '_ {
        self.slow.iter().chain(&self.critical).map(|&i| i as usize)
    }

    /// Poll `i`'s length (an open one's up to `until`) if it is at least `floor`: most
    /// polls are turned away on their stored length alone.
    pub(crate) fn at_least(&self, i: usize, floor: u64, until: u64) -> Option<u64> {
        if !self.is_open(i) && self.dur.below(i, floor) {
            return None;
        }
        let d = self.end_or(i, until).saturating_sub(self.start[i]);
        (d >= floor).then_some(d)
    }

    /// Whether poll `i`'s length is a measurement, or at least a floor (its end was
    /// recorded, or it ran past the window's end): not a guess from a lost end.
    pub(crate) fn measured(&self, i: usize) -> bool {
        !self.end_unknown(i) || self.open_at_window_end(i)
    }

    /// The longest class of poll overlapping `[from, to)`, and whether a poll of that
    /// class starts there (where a run of long-poll cells begins).
    pub fn class_in(&self, from: u64, to: u64, until: u64) -> (PollClass, bool) {
        for (places, class) in [
            (&self.critical, PollClass::Critical),
            (&self.slow, PollClass::Long),
        ] {
            let at = |k: usize| places[k] as usize;
            let first = partition(places.len(), |k| self.end_or(at(k), until) <= from);
            if first < places.len() && self.start(at(first)) < to {
                let k = partition(places.len(), |k| self.start(at(k)) < from);
                let starts = k < places.len() && self.start(at(k)) < to;
                return (class, starts);
            }
        }
        (PollClass::Short, false)
    }

    /// Whether any of the polls at `places` was of task `t`.
    pub fn polled(&self, places: std::ops::Range<usize>, t: TaskIdx) -> bool {
        self.task[places].contains(&t)
    }
}

/// `NONE` as a poll index: no poll.
pub const NO_POLL: PollIdx = NONE;

/// What `LanePolls` flags say, for the builder's checks.
impl LanePolls {
    pub(crate) fn end_unknown(&self, i: usize) -> bool {
        self.flags[i] & END_UNKNOWN != 0
    }

    pub(crate) fn open_at_window_end(&self, i: usize) -> bool {
        self.flags[i] & OPEN_AT_WINDOW_END != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_keep_their_fields_and_long_durations() {
        let mut l = LanePolls::default();
        let a = l.open(3, 100, 7) as usize;
        l.close(a, 150, true, false);
        let b = l.open(4, 200, 9) as usize;
        l.close(b, 200 + (1u64 << 40), false, true);
        let c = l.open(5, u64::MAX - 10, 11) as usize;
        let polls = Polls::new(vec![LanePolls::default(), l], vec![8, 9]);
        assert_eq!(polls.len(), 3);
        assert_eq!(polls.locate(0), Some((1, 0)));
        assert_eq!(polls.locate(3), None);
        let p = polls.get(0).unwrap();
        assert_eq!(
            (
                p.task,
                p.lane,
                p.start_ns,
                p.end_ns,
                p.start_event,
                p.completed
            ),
            (3, 9, 100, Some(150), 7, true)
        );
        let p = polls.get(1).unwrap();
        assert_eq!(p.duration(0), 1u64 << 40);
        assert!(p.end_unknown && !p.completed);
        let p = polls.get(c as u32).unwrap();
        assert_eq!((p.end_ns, p.duration(u64::MAX)), (None, 10));
        assert_eq!(polls.iter().count(), 3);
    }

    #[test]
    fn a_lane_range_is_the_polls_overlapping_it_and_sorting_says_where_they_went() {
        let mut l = LanePolls::default();
        for (s, e) in [(10, 20), (30, 40), (5, 8), (50, 60)] {
            let i = l.open(0, s, 0) as usize;
            l.close(i, e, false, false);
        }
        let moved = l.sort(100).unwrap();
        assert_eq!(moved, vec![1, 2, 0, 3]);
        let starts: Vec<u64> = (0..l.len()).map(|i| l.start(i)).collect();
        assert_eq!(starts, vec![5, 10, 30, 50]);
        assert_eq!(l.range(9, 31, 100), 1..3);
        assert_eq!(l.range(20, 30, 100), 2..2);
        assert_eq!(l.range(0, 1000, 100), 0..4);
        assert_eq!(l.sort(100), None);
    }

    /// Polls that start together are in order by their ends (an open one's is the dump):
    /// a later end first is out of order, ends in order are not.
    #[test]
    fn polls_starting_together_sort_by_their_ends() {
        let lane = |polls: &[(u64, Option<u64>)]| {
            let mut l = LanePolls::default();
            for &(s, e) in polls {
                let i = l.open(0, s, 0) as usize;
                if let Some(e) = e {
                    l.close(i, e, false, false);
                }
            }
            l
        };
        let mut l = lane(&[(5, Some(6)), (10, Some(30)), (10, Some(20))]);
        assert_eq!(l.sort(100), Some(vec![0, 2, 1]));
        assert_eq!(l.end(1), Some(20));
        assert_eq!(
            lane(&[(10, Some(20)), (10, Some(30)), (40, Some(50))]).sort(100),
            None
        );
        // Open: it runs until the dump (100), after a poll of the same start that ended.
        assert_eq!(
            lane(&[(10, None), (10, Some(20))]).sort(100),
            Some(vec![1, 0])
        );
        assert_eq!(lane(&[(10, Some(20)), (10, None)]).sort(100), None);
    }
}
