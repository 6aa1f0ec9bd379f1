//! The events of a dump as columns in memory (struct of arrays): what the explorer
//! indexes. 29 bytes an event against 48 for a `Vec<Event>`, and decoded straight from
//! the file's blocks ([`crate::Dump::read_columns`]), so no `Vec<Event>` of the whole
//! dump is ever held. An event is rebuilt on demand ([`EventColumns::get`]); its time and
//! lane, which most questions need alone, are read without it.

use crate::blocks::{self, Block, Cursor, Undecodable};
use crate::event_code as ec;
use crate::event_code::unzigzag;
use crate::types::{Event, EventKind};

/// A dump's events as columns in memory (struct of arrays): 29 bytes an event against 48
/// for a `Vec<Event>`. An event is rebuilt on demand ([`get`](Self::get),
/// [`at`](Self::at)); its time and lane are read without it. Indexes are positions in
/// the order the events were pushed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventColumns {
    ts: Vec<u64>,
    lane: Vec<u32>,
    code: Vec<u8>,
    task: Vec<u64>,
    /// The event's one value; for an event of several (`values_len(code) > 1`), where
    /// they start in `more`.
    value: Vec<u64>,
    more: Vec<u64>,
}

impl EventColumns {
    /// Columns holding `events`, in their order.
    pub fn from_events(events: &[Event]) -> EventColumns {
        let mut c = EventColumns::with_capacity(events.len());
        for e in events {
            c.push(e);
        }
        c
    }

    /// Empty columns with room for `n` events.
    pub fn with_capacity(n: usize) -> EventColumns {
        EventColumns {
            ts: Vec::with_capacity(n),
            lane: Vec::with_capacity(n),
            code: Vec::with_capacity(n),
            task: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
            more: Vec::new(),
        }
    }

    /// Appends an event.
    pub fn push(&mut self, e: &Event) {
        self.ts.push(e.ts_ns);
        self.lane.push(e.lane);
        self.code.push(ec::code(&e.kind));
        self.task.push(ec::task_of(&e.kind).unwrap_or(0));
        let values = ec::values(&e.kind);
        let v = values.as_slice();
        if v.len() > 1 {
            self.value.push(self.more.len() as u64);
            self.more.extend_from_slice(v);
        } else {
            self.value.push(v.first().copied().unwrap_or(0));
        }
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Empties the columns, keeping their memory for the next block.
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    fn truncate(&mut self, n: usize) {
        let more = (n..self.len())
            .find(|&i| ec::values_len(self.code[i]) > 1)
            .map_or(self.more.len(), |i| self.value[i] as usize);
        self.ts.truncate(n);
        self.lane.truncate(n);
        self.code.truncate(n);
        self.task.truncate(n);
        self.value.truncate(n);
        self.more.truncate(more);
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Every event's time, in order: for a binary search by time.
    pub fn times(&self) -> &[u64] {
        &self.ts
    }

    /// The time of event `i` (panics out of range, like a slice index).
    pub fn ts(&self, i: usize) -> u64 {
        self.ts[i]
    }

    /// The lane of event `i` (panics out of range).
    pub fn lane(&self, i: usize) -> u32 {
        self.lane[i]
    }

    /// The task event `i` is about (what `kind(i).task()` gives, without building it).
    pub fn task_of(&self, i: usize) -> Option<u64> {
        ec::has_task(self.code[i]).then(|| self.task[i])
    }

    /// What event `i` says happened, rebuilt from its columns (panics out of range).
    #[inline]
    pub fn kind(&self, i: usize) -> EventKind {
        self.rebuild(self.code[i], self.task[i], self.value[i])
    }

    /// An event's kind from its code, task and value columns (the value, for an event
    /// of several, says where they are in `more`).
    #[inline]
    fn rebuild(&self, code: u8, task: u64, value: u64) -> EventKind {
        let n = ec::values_len(code);
        let one = [value];
        let values = if n > 1 {
            let at = value as usize;
            self.more.get(at..at + n).unwrap_or(&[])
        } else {
            &one[..n]
        };
        ec::kind_from(code, task, values)
    }

    /// Every event's kind in order, as [`kind`](Self::kind) gives it: for a pass over a
    /// block, without a bounds check per column per event.
    #[inline]
    pub fn kinds(&self) -> impl ExactSizeIterator<Item = EventKind> + '_ {
        let rows = self.code.iter().zip(&self.task).zip(&self.value);
        rows.map(|((&code, &task), &value)| self.rebuild(code, task, value))
    }

    /// The positions of the events of `kinds`, in order, told by their code bytes: a
    /// pass that wants a few kinds rebuilds only their events.
    pub fn positions_of<'a>(&'a self, kinds: &'a Kinds) -> impl Iterator<Item = usize> + 'a {
        (self.code.iter().enumerate()).filter_map(|(i, &c)| kinds.has_code(c).then_some(i))
    }

    /// The event at `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<Event> {
        (i < self.len()).then(|| self.at(i))
    }

    /// The event at `i` (which must be in range, like a slice index).
    pub fn at(&self, i: usize) -> Event {
        Event {
            ts_ns: self.ts[i],
            lane: self.lane[i],
            kind: self.kind(i),
        }
    }

    /// The first event; `None` when there are none.
    pub fn first(&self) -> Option<Event> {
        self.get(0)
    }

    /// The last event; `None` when there are none.
    pub fn last(&self) -> Option<Event> {
        self.len().checked_sub(1).map(|i| self.at(i))
    }

    /// Every event in order, each rebuilt as it is reached.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Event> + DoubleEndedIterator + '_ {
        (0..self.len()).map(|i| self.at(i))
    }

    /// Every event in a `Vec`: the memory the columns save, spent again.
    pub fn to_events(&self) -> Vec<Event> {
        self.iter().collect()
    }

    /// Puts the events in time order (stably: same-time events keep their order) and
    /// says how many neighbours were out of order.
    pub fn sort_by_time(&mut self) -> usize {
        let reordered = self.ts.windows(2).filter(|w| w[1] < w[0]).count();
        if reordered == 0 {
            return 0;
        }
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_by_key(|&i| self.ts[i as usize]);
        fn permute<T: Copy>(v: &mut Vec<T>, order: &[u32]) {
            *v = order.iter().map(|&i| v[i as usize]).collect();
        }
        permute(&mut self.ts, &order);
        permute(&mut self.lane, &order);
        permute(&mut self.code, &order);
        permute(&mut self.task, &order);
        // A value that points into `more` moves with its event; `more` stays.
        permute(&mut self.value, &order);
        reordered
    }
}

/// Kinds of events, as a table of the code bytes that stand for them: a pass that wants
/// a few kinds picks their events out without rebuilding the others
/// ([`EventColumns::positions_of`]).
#[derive(Clone, Copy, Debug)]
pub struct Kinds {
    codes: [bool; ec::LAST_CODE as usize + 1],
}

impl Kinds {
    /// The kinds `wanted` says yes to. It is asked about one event of each code byte,
    /// made with a task and values of zero, so it must decide by what a code says: the
    /// kind, and flags such as a wake's source or a poll end's completion (a `matches!`
    /// on the variants, say), not the task or the values.
    pub fn which(wanted: impl Fn(&EventKind) -> bool) -> Kinds {
        let mut codes = [false; ec::LAST_CODE as usize + 1];
        for (code, yes) in (0..).zip(&mut codes) {
            *yes = wanted(&ec::kind_from(code, 0, &[]));
        }
        Kinds { codes }
    }

    fn has_code(&self, code: u8) -> bool {
        self.codes.get(usize::from(code)).copied().unwrap_or(false)
    }
}

/// Decodes a block's events onto the end of `out`; on an error `out` is left as it was.
pub(crate) fn decode_block(block: &Block<'_>, out: &mut EventColumns) -> Result<(), Undecodable> {
    let before = out.len();
    let result = decode_columns(block, out);
    if result.is_err() {
        out.truncate(before);
    }
    result
}

/// The block's columns one after another, each in a loop of its own (the times, then
/// the lanes, ...): each loop does one kind of work, which the CPU predicts far better
/// than an event's fields in turn. A column must hold exactly its events' values.
fn decode_columns(block: &Block<'_>, out: &mut EventColumns) -> Result<(), Undecodable> {
    let [kinds, times, lanes, tasks, values] = blocks::columns(block)?;
    if kinds.iter().any(|&c| c > ec::LAST_CODE) {
        return Err(Undecodable("an unknown event kind"));
    }
    let n = kinds.len();
    let before = out.len();
    // Each column sized first and written in place: a push per value cost a quarter of
    // the decoding.
    out.ts.resize(before + n, 0);
    out.lane.resize(before + n, 0);
    out.task.resize(before + n, 0);
    out.value.resize(before + n, 0);
    let whole = |c: &Cursor<'_>| {
        c.done()
            .then_some(())
            .ok_or(Undecodable("a column holds more than its events"))
    };
    let lane_slots = &mut out.lane[before..];
    if lanes.len() == n && lanes.iter().all(|&b| b < 0x80) {
        // Every lane one byte (below 128 lanes): the column is the lanes.
        for (slot, &b) in lane_slots.iter_mut().zip(lanes) {
            *slot = u32::from(b);
        }
    } else {
        let mut c = Cursor::new(lanes);
        for slot in lane_slots.iter_mut() {
            *slot = c.narrow()?;
        }
        whole(&c)?;
    }
    out.code.extend_from_slice(kinds);
    // The times, tasks and values columns in one loop: each varint's end is known only
    // once it is read, so each column is a chain of dependent reads; three chains side
    // by side keep the CPU busy where one would leave it waiting.
    let (mut times, mut tasks, mut values) =
        (Cursor::new(times), Cursor::new(tasks), Cursor::new(values));
    let mut ts = 0u64;
    // A task is the delta from the last task on its lane.
    let mut last = [0u64; blocks::LANE_SLOTS + 1];
    let more = &mut out.more;
    let rows = kinds
        .iter()
        .zip(&mut out.ts[before..])
        .zip(&out.lane[before..])
        .zip(&mut out.task[before..])
        .zip(&mut out.value[before..]);
    for ((((&code, t), &lane), task), value) in rows {
        ts = ts.wrapping_add(unzigzag(times.get()?));
        *t = ts;
        if ec::has_task(code) {
            let prev = &mut last[(lane as usize).min(blocks::LANE_SLOTS)];
            *prev = prev.wrapping_add(unzigzag(tasks.get()?));
            *task = *prev;
        }
        let k = ec::values_len(code);
        if k == 1 {
            let v = values.get()?;
            if !ec::fits(code, &[v]) {
                return Err(Undecodable("a value is wider than its field"));
            }
            *value = v;
        } else if k > 1 {
            let mut v = [0u64; 4];
            for x in &mut v[..k] {
                *x = values.get()?;
            }
            if !ec::fits(code, &v[..k]) {
                return Err(Undecodable("a value is wider than its field"));
            }
            more.extend_from_slice(&v[..k]);
            *value = (more.len() - k) as u64;
        }
    }
    whole(&times)?;
    whole(&tasks)?;
    whole(&values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::tests::every_kind;

    #[test]
    fn every_kind_reads_back_from_its_columns() {
        let events = every_kind();
        let c = EventColumns::from_events(&events);
        assert_eq!(c.len(), events.len());
        assert_eq!(c.to_events(), events);
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(c.kinds().collect::<Vec<_>>(), kinds);
        assert_eq!(c.kinds().len(), events.len());
        assert_eq!(c.first(), events.first().copied());
        assert_eq!(c.last(), events.last().copied());
        for (i, e) in events.iter().enumerate() {
            assert_eq!((c.ts(i), c.lane(i), c.kind(i)), (e.ts_ns, e.lane, e.kind));
        }
        assert_eq!(c.iter().next_back(), events.last().copied());
        assert_eq!(c.get(events.len()), None);
        assert_eq!(c.get(events.len() - 1), events.last().copied());
        assert!(!c.is_empty() && EventColumns::default().is_empty());
        let times: Vec<u64> = events.iter().map(|e| e.ts_ns).collect();
        assert_eq!(c.times(), &times[..]);
    }

    #[test]
    fn positions_of_kinds_are_those_of_the_events_of_those_kinds() {
        let events = every_kind();
        let c = EventColumns::from_events(&events);
        let wanted: [&dyn Fn(&EventKind) -> bool; 5] = [
            &|k| {
                matches!(
                    k,
                    EventKind::Wake { .. } | EventKind::Spawn { .. } | EventKind::Terminate { .. }
                )
            },
            &|k| matches!(k, EventKind::Wake { by_ref: true, .. }),
            &|k| {
                matches!(
                    k,
                    EventKind::PollEnd {
                        completed: true,
                        ..
                    }
                )
            },
            &|_| true,
            &|_| false,
        ];
        for (n, wanted) in wanted.into_iter().enumerate() {
            let expected: Vec<usize> = (events.iter().enumerate())
                .filter(|(_, e)| wanted(&e.kind))
                .map(|(i, _)| i)
                .collect();
            let kinds = Kinds::which(wanted);
            assert_eq!(c.positions_of(&kinds).collect::<Vec<_>>(), expected, "{n}");
        }
    }

    /// Equal times are in order: only a later event with an earlier time counts.
    #[test]
    fn equal_times_are_not_reordered() {
        let kinds = every_kind();
        let at = |ts_ns: u64, i: usize| Event { ts_ns, ..kinds[i] };
        let events = vec![at(5, 30), at(5, 31), at(4, 32), at(4, 1), at(9, 0)];
        let mut c = EventColumns::from_events(&events);
        assert_eq!(c.sort_by_time(), 1);
        assert_eq!(
            c.to_events(),
            vec![at(4, 32), at(4, 1), at(5, 30), at(5, 31), at(9, 0)]
        );
    }

    #[test]
    fn sorting_by_time_is_stable_and_keeps_values_of_several_with_their_event() {
        let mut events = every_kind();
        let mut c = EventColumns::from_events(&events);
        let reordered = c.sort_by_time();
        assert_eq!(
            reordered,
            events
                .windows(2)
                .filter(|w| w[1].ts_ns < w[0].ts_ns)
                .count()
        );
        assert!(reordered > 0);
        events.sort_by_key(|e| e.ts_ns);
        assert_eq!(c.to_events(), events);
        assert_eq!(c.sort_by_time(), 0);
    }
}
