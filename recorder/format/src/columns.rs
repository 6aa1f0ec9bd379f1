//! The events of a dump as columns in memory (struct of arrays): what the explorer
//! indexes. 29 bytes an event against 48 for a `Vec<Event>`, and decoded straight from
//! the file's blocks ([`crate::Dump::read_columns`]), so no `Vec<Event>` of the whole
//! dump is ever held. An event is rebuilt on demand ([`EventColumns::get`]); its time and
//! lane, which most questions need alone, are read without it.

use crate::blocks::{self, Block, RawEvent};
use crate::event_code as ec;
use crate::types::{Event, EventKind};

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
    pub fn from_events(events: &[Event]) -> EventColumns {
        let mut c = EventColumns::with_capacity(events.len());
        for e in events {
            c.push(e);
        }
        c
    }

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

    pub fn push(&mut self, e: &Event) {
        self.push_raw(&RawEvent {
            ts_ns: e.ts_ns,
            lane: e.lane,
            code: ec::code(&e.kind),
            task: ec::task_of(&e.kind).unwrap_or(0),
            values: ec::values(&e.kind),
        });
    }

    fn push_raw(&mut self, r: &RawEvent) {
        self.ts.push(r.ts_ns);
        self.lane.push(r.lane);
        self.code.push(r.code);
        self.task.push(r.task);
        let v = r.values.as_slice();
        if v.len() > 1 {
            self.value.push(self.more.len() as u64);
            self.more.extend_from_slice(v);
        } else {
            self.value.push(v.first().copied().unwrap_or(0));
        }
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Every event's time, in order: for a binary search by time.
    pub fn times(&self) -> &[u64] {
        &self.ts
    }

    pub fn ts(&self, i: usize) -> u64 {
        self.ts[i]
    }

    pub fn lane(&self, i: usize) -> u32 {
        self.lane[i]
    }

    pub fn kind(&self, i: usize) -> EventKind {
        let code = self.code[i];
        let n = ec::values_len(code);
        let one = [self.value[i]];
        let values = if n > 1 {
            let at = self.value[i] as usize;
            self.more.get(at..at + n).unwrap_or(&[])
        } else {
            &one[..n]
        };
        ec::kind_from(code, self.task[i], values)
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

    pub fn first(&self) -> Option<Event> {
        self.get(0)
    }

    pub fn last(&self) -> Option<Event> {
        self.len().checked_sub(1).map(|i| self.at(i))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Event> + DoubleEndedIterator + '_ {
        (0..self.len()).map(|i| self.at(i))
    }

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

/// The columns of whole blocks, decoded on as many threads as pay: each thread takes a
/// run of blocks and its own part of every column. `None` if a block does not decode.
pub(crate) fn decode_all(
    found: &[Block<'_>],
    events: usize,
    per_thread: usize,
) -> Option<EventColumns> {
    if found.iter().map(|b| b.count).sum::<usize>() != events {
        return None;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(events / per_thread.max(1))
        .clamp(1, 8);
    // Zeroed allocations: the pages come from the OS zeroed, untouched until decoded
    // into, so this costs no pass of its own.
    let mut c = EventColumns {
        ts: vec![0; events],
        lane: vec![0; events],
        code: vec![0; events],
        task: vec![0; events],
        value: vec![0; events],
        more: Vec::new(),
    };
    // Runs of blocks of about equal events: (blocks, first event).
    let mut runs = Vec::with_capacity(threads);
    let (mut blocks, mut first) = (found, 0);
    for left in (1..=threads).rev() {
        let want = (events - first).div_ceil(left);
        let (mut n, mut take) = (0, 0);
        while n < blocks.len() && (take < want || left == 1) {
            take += blocks[n].count;
            n += 1;
        }
        let (run, rest) = blocks.split_at(n);
        runs.push((run, first, take));
        (blocks, first) = (rest, first + take);
    }
    let mores = {
        let mut parts = Parts {
            ts: &mut c.ts,
            lane: &mut c.lane,
            code: &mut c.code,
            task: &mut c.task,
            value: &mut c.value,
        };
        let mut jobs = Vec::with_capacity(runs.len());
        for &(run, _, take) in &runs {
            let (mine, rest) = parts.split_at(take);
            jobs.push((run, mine));
            parts = rest;
        }
        std::thread::scope(|s| {
            let mut jobs = jobs.into_iter();
            let first = jobs.next();
            let handles: Vec<_> = jobs
                .map(|job| {
                    std::thread::Builder::new()
                        .name("dial9-decode".into())
                        .spawn_scoped(s, move || decode_run(job))
                        .ok()
                })
                .collect();
            let mut mores = vec![first.and_then(decode_run)];
            for h in handles {
                mores.push(h.and_then(|h| h.join().ok().flatten()));
            }
            mores
        })
    };
    // Each run's values of several events point into its own `more`: append them in
    // order, moving those pointers by what the runs before added.
    for ((_, first, take), more) in runs.iter().zip(mores) {
        let more = more?;
        let base = c.more.len() as u64;
        if base > 0 {
            for i in *first..first + take {
                if ec::values_len(c.code[i]) > 1 {
                    c.value[i] += base;
                }
            }
        }
        c.more.extend_from_slice(&more);
    }
    Some(c)
}

/// A run's part of each column.
struct Parts<'a> {
    ts: &'a mut [u64],
    lane: &'a mut [u32],
    code: &'a mut [u8],
    task: &'a mut [u64],
    value: &'a mut [u64],
}

impl<'a> Parts<'a> {
    fn split_at(self, n: usize) -> (Parts<'a>, Parts<'a>) {
        let (ts, ts2) = self.ts.split_at_mut(n);
        let (lane, lane2) = self.lane.split_at_mut(n);
        let (code, code2) = self.code.split_at_mut(n);
        let (task, task2) = self.task.split_at_mut(n);
        let (value, value2) = self.value.split_at_mut(n);
        (
            Parts {
                ts,
                lane,
                code,
                task,
                value,
            },
            Parts {
                ts: ts2,
                lane: lane2,
                code: code2,
                task: task2,
                value: value2,
            },
        )
    }
}

/// Decodes a run of blocks into its parts; its values of several events go to the
/// returned `more`, pointed to from the run's start.
fn decode_run((blocks, parts): (&[Block<'_>], Parts<'_>)) -> Option<Vec<u64>> {
    let mut more = Vec::new();
    let mut at = 0;
    for b in blocks {
        if at + b.count > parts.ts.len() {
            return None;
        }
        blocks::decode_into(b, &mut |i, r| {
            let i = at + i;
            parts.ts[i] = r.ts_ns;
            parts.lane[i] = r.lane;
            parts.code[i] = r.code;
            parts.task[i] = r.task;
            let v = r.values.as_slice();
            parts.value[i] = if v.len() > 1 {
                more.extend_from_slice(v);
                (more.len() - v.len()) as u64
            } else {
                v.first().copied().unwrap_or(0)
            };
        })
        .ok()?;
        at += b.count;
    }
    Some(more)
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

    /// Threads, each with its own `more`, give the columns one reader would.
    #[test]
    fn threaded_decoding_gives_the_columns_of_one_reader() {
        let kinds = every_kind();
        let events: Vec<Event> = (0..3000)
            .map(|i| Event {
                ts_ns: i as u64 * 3,
                ..kinds[(i * 7) % kinds.len()]
            })
            .collect();
        let mut bytes = Vec::new();
        for chunk in events.chunks(333) {
            blocks::write(chunk, &mut bytes);
        }
        let mut at = 0;
        let mut found = vec![];
        while let Some(b) = blocks::block_at(&bytes, at) {
            at = b.next;
            found.push(b);
        }
        let one = EventColumns::from_events(&events);
        for per_thread in [1, 500, 1000, 10_000] {
            let c = decode_all(&found, events.len(), per_thread).unwrap();
            assert_eq!(c.to_events(), events, "{per_thread}");
            assert_eq!(
                c, one,
                "{per_thread}: the same columns, not only the same events"
            );
        }
        assert_eq!(decode_all(&found, events.len() + 1, 1), None);
    }
}
