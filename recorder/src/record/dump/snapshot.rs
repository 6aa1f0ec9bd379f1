//! Reading the ring and the tables into a [`Dump`], and writing it to a dump file.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::format::ring_codec as codec;
use crate::format::{
    Activity, Dump, Event, EventKind, Facts, Header, LaneState, Reason, TaskWakers,
};

use super::super::store::identity::{host_name, program_name, unix_now_ns};
use super::super::store::ring::RawRecord;
use super::Dumper;
use super::{file as dump_file, symbolize};

/// An event decoded from a ring record, with its sort key: raw timestamp, lane, and order
/// in the lane (claim, slot, position among the record's events; `(0, 0, 0)` for a start
/// a poll's end carries, first at its timestamp).
type Expanded = (u64, u32, (u64, u32, u8), EventKind);

impl Dumper {
    /// Reads the ring and tables into a dump. `patient == false` (panic hook) never waits
    /// on a lock the panicking thread might hold.
    pub(crate) fn snapshot(&self, reason: Reason, patient: bool) -> Dump {
        // What a poll running long right now is doing (a hung worker): into the ring first.
        self.watch.look_now(patient);
        let lanes = self.store().lanes.all(patient);
        // The task table's window and slots before the ring: a task whose events the
        // ring read holds stays named even if it leaves the window meanwhile.
        let task_window = self.store().task_window();
        let early_tasks = self.store().tasks.early(task_window);
        // Waker counts of the tasks alive at the dump (a span's slot outlives its task).
        let (live, unhooked) =
            self.store()
                .tasks
                .live_and_unhooked(patient, task_window, &early_tasks);
        let live_wakers: Vec<TaskWakers> = self
            .store()
            .tasks
            .live_wakers(patient, &live, &early_tasks)
            .into_iter()
            .map(|(task, live)| TaskWakers { task, live })
            .collect();
        let unhooked = if self.capture().hooks_installed.load(Ordering::Relaxed) {
            unhooked
        } else {
            Vec::new()
        };
        // The counts above were taken before the events are read: a waker op after them
        // is in the window, carrying its own count, so the two never disagree.
        let dumped_raw = self.store().clock.raw();
        // A poll's start is carried by its end; one still running is read from its lane,
        // before the ring (it may end while the ring is read: its end then carries the
        // same start) and after.
        let mut open = self.open_polls(&lanes);
        let (mut raw, torn) = self.store().ring.snapshot();
        open.extend(self.open_polls(&lanes));
        // Counted after the events were read, so it is never less than what was kept.
        let recorded_total: u64 = lanes
            .iter()
            .map(|l| l.written.load(Ordering::Relaxed))
            .sum();
        let (room, left_out) = room_for_events(&mut raw, open.len(), reserve);
        let kept = raw.len() as u64;
        // Records left out for want of memory count as overwritten: the window starts
        // later, as if the ring had gone round.
        let lapped = left_out || self.store().ring.claims() > self.store().ring.blocks();
        let events = self.events_of(&raw, open, lapped, room);
        let mut tasks = self
            .store()
            .tasks
            .snapshot(patient, task_window, early_tasks);
        crate::format::fill_missing_tasks(&mut tasks, &events, &reason);
        let lane_states = lanes
            .iter()
            .map(|l| {
                let (activity, since) = l.activity();
                LaneState {
                    lane: l.lane,
                    activity,
                    since_ns: self.store().raw_to_ns(since),
                }
            })
            .collect();
        let overwritten = recorded_total.saturating_sub(kept + torn);
        let stacks = self.stack_texts(&events, patient);
        Dump {
            header: Header {
                reason,
                dumped_at_unix_ns: unix_now_ns(),
                dumped_at_ns: self.store().raw_to_ns(dumped_raw),
                anchor: self.store().anchor,
                pid: std::process::id(),
                program: program_name(),
                host: host_name(),
                capacity: self.store().ring.capacity() as u64,
                recorded_total,
                overwritten,
                torn_skipped: torn,
                hooks_installed: self.capture().hooks_installed.load(Ordering::Relaxed),
                layer_installed: self.capture().layer_installed.load(Ordering::Relaxed),
                recorder_version: env!("CARGO_PKG_VERSION").to_string(),
            },
            threads: lanes.iter().map(|l| l.info()).collect(),
            tasks,
            lane_states,
            events,
            facts: Facts {
                arch: std::env::consts::ARCH.to_string(),
                panic_backtrace: Vec::new(),
                stacks,
                live_wakers,
                unhooked,
            },
            damage: None,
        }
    }

    /// The events of the ring's `raw` records, in order, and the starts of the polls
    /// still running (`open`: lane, task, start) that no record carries, into `room`.
    /// `lapped`: the window lost its beginning, so a start older than its oldest record is
    /// left out.
    fn events_of(
        &self,
        raw: &[RawRecord],
        open: Vec<(u32, u64, u64)>,
        lapped: bool,
        (mut expanded, mut events): (Vec<Expanded>, Vec<Event>),
    ) -> Vec<Event> {
        let oldest = raw.iter().map(|r| r.ts).min().unwrap_or(u64::MAX);
        // Within the room reserved: pushing past it could abort on an allocation failure.
        let mut push = |e: Expanded| {
            if expanded.len() < expanded.capacity() {
                expanded.push(e);
            }
        };
        for r in raw {
            codec::decode(
                r.ts,
                r.a,
                r.b,
                |t| self.store().raw_to_ns(t),
                |ts, sub, kind| {
                    let order = if sub == codec::SUB_START {
                        // A start from before the window (the ring lost everything else
                        // of that time) is left out, as a written one would have been:
                        // the end still says how long the poll ran.
                        if lapped && ts < oldest {
                            return;
                        }
                        (0, 0, 0)
                    } else {
                        (r.order.0, r.order.1, sub)
                    };
                    push((ts, r.lane, order, kind));
                },
            );
        }
        // (raw ts, lane, order in the lane): a folded start sorts first at its timestamp,
        // which no other event of its lane shares.
        expanded.sort_unstable_by_key(|e| (e.0, e.1, e.2));
        for (lane, task, since) in open {
            // Likewise for a poll still running.
            if (since < oldest && lapped) || expanded.len() == expanded.capacity() {
                continue;
            }
            let key = (since, lane, (0, 0, 0));
            if expanded
                .binary_search_by_key(&key, |e| (e.0, e.1, e.2))
                .is_err()
            {
                let at = expanded.partition_point(|e| (e.0, e.1, e.2) < key);
                expanded.insert(at, (since, lane, (0, 0, 0), EventKind::PollStart { task }));
            }
        }
        events.extend(expanded.into_iter().map(|(ts, lane, _, kind)| Event {
            ts_ns: self.store().raw_to_ns(ts),
            lane,
            kind,
        }));
        events
    }

    /// The stacks the window's `PollStack` events name, symbolized (the binary's line
    /// tables; the first dump loads them). The panic hook never waits for the stack table,
    /// and has them named on a thread of its own, waiting at most [`symbolize::WAIT`]
    /// (see [`symbolize`]): past that, they stay unnamed.
    fn stack_texts(&self, events: &[Event], patient: bool) -> Vec<crate::format::Stack> {
        let Some(table) = self.watch.stacks.as_ref() else {
            return Vec::new();
        };
        let mut ids: Vec<u32> = events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::PollStack { stack, .. } => Some(stack),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Vec::new();
        }
        let table = if patient {
            table.lock().ok()
        } else {
            table.try_lock().ok()
        };
        let Some(table) = table else {
            return Vec::new();
        };
        let (ids, frames): (Vec<u32>, Vec<Vec<usize>>) = ids
            .into_iter()
            .filter_map(|id| Some((id, table.get(id)?.to_vec())))
            .unzip();
        drop(table);
        let named = if patient {
            frames
                .iter()
                .map(|f| super::super::watch::stacks::symbolize(f))
                .collect()
        } else {
            match symbolize::off_thread(frames).wait(symbolize::WAIT) {
                Some(named) => named,
                None => return Vec::new(),
            }
        };
        ids.into_iter()
            .zip(named)
            .map(|(id, frames)| crate::format::Stack { id, frames })
            .collect()
    }

    /// `(lane, task, since)` of each poll running now whose start no record carries
    /// (every poll's, unless the ring is a crash-surviving file, which writes starts).
    fn open_polls(
        &self,
        lanes: &[std::sync::Arc<super::super::store::lanes::LaneSlot>],
    ) -> Vec<(u32, u64, u64)> {
        if self.capture().write_starts {
            return Vec::new();
        }
        lanes
            .iter()
            .filter_map(|l| match l.activity() {
                (Activity::Polling { task }, since) => Some((l.lane, task, since)),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn write_dump(&self, dump: &Dump) -> io::Result<PathBuf> {
        let path = dump_file::expand_template(&self.dump_path, &program_name());
        dump_file::write_atomic(&path, &dump.to_bytes()?)
    }
}

/// Room for the events of `raw` and `extra` more, both as decoded (`Expanded`) and as
/// the dump's events, reserved up front by `reserve(n)`. When that fails (memory is short:
/// a huge ring, a process near its limit), the oldest half of the records is left out and
/// it tries again, down to none, so a dump under memory pressure is smaller, never an
/// abort. Returns the room and whether records were left out.
fn room_for_events(
    raw: &mut Vec<RawRecord>,
    extra: usize,
    reserve: impl Fn(usize) -> Option<(Vec<Expanded>, Vec<Event>)>,
) -> ((Vec<Expanded>, Vec<Event>), bool) {
    let mut sorted = false;
    let mut left_out = false;
    loop {
        let n = raw
            .iter()
            .map(|r| codec::events_in(r.a, r.b))
            .sum::<usize>()
            + extra;
        if let Some(room) = reserve(n) {
            return (room, left_out);
        }
        if raw.is_empty() {
            return ((Vec::new(), Vec::new()), left_out);
        }
        if !sorted {
            // Oldest first; sorting in place allocates nothing.
            raw.sort_unstable_by_key(|r| r.ts);
            sorted = true;
        }
        raw.drain(..raw.len().div_ceil(2));
        left_out = true;
    }
}

/// Both vectors of [`room_for_events`], with room for exactly `n`, or `None`.
fn reserve(n: usize) -> Option<(Vec<Expanded>, Vec<Event>)> {
    let mut expanded = Vec::new();
    expanded.try_reserve_exact(n).ok()?;
    let mut events = Vec::new();
    events.try_reserve_exact(n).ok()?;
    Some((expanded, events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ring_codec::{Kind, pack};

    fn record(ts: u64) -> RawRecord {
        RawRecord {
            ts,
            lane: 0,
            a: ts,
            b: pack(Kind::Wake, 0, 0),
            order: (0, ts as u32),
        }
    }

    /// Room for fewer events than the ring holds: the newest records are kept, the
    /// oldest left out, and nothing is reserved past what `reserve` granted.
    #[test]
    fn short_memory_leaves_out_the_oldest_records_not_the_dump() {
        // Blocks are read in ring order, not time order.
        let mut raw: Vec<RawRecord> = (1..=100).rev().map(record).collect();
        let granted = |n: usize| (n <= 30).then(|| (Vec::with_capacity(n), Vec::with_capacity(n)));
        let ((expanded, _), left_out) = room_for_events(&mut raw, 2, granted);
        assert!(left_out);
        assert_eq!(
            raw.len(),
            25,
            "halved until 25 records and 2 open polls fit"
        );
        let mut kept: Vec<u64> = raw.iter().map(|r| r.ts).collect();
        kept.sort_unstable();
        assert_eq!(kept, (76..=100).collect::<Vec<_>>());
        assert!(expanded.capacity() >= 27);

        let mut all: Vec<RawRecord> = (1..=100).map(record).collect();
        let (_, left_out) = room_for_events(&mut all, 0, reserve);
        assert!(!left_out);
        assert_eq!(all.len(), 100);

        let mut none: Vec<RawRecord> = (1..=10).map(record).collect();
        let ((expanded, events), left_out) = room_for_events(&mut none, 1, |_| None);
        assert!(left_out && none.is_empty());
        assert_eq!((expanded.capacity(), events.capacity()), (0, 0));
    }
}
