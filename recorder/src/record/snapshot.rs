//! Reading the ring and the tables into a [`Dump`], and writing it to a dump file.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::format::ring_codec as codec;
use crate::format::{
    Activity, Dump, Event, EventKind, Facts, Header, LaneState, Reason, TaskWakers,
};

use super::dump_file;
use super::identity::{host_name, program_name, unix_now_ns};
use super::recorder::Inner;

/// An event decoded from a ring record, with its sort key: raw timestamp, lane, and order
/// in the lane (claim, slot, position among the record's events; `(0, 0, 0)` for a start
/// a poll's end carries, first at its timestamp).
type Expanded = (u64, u32, (u64, u32, u8), EventKind);

impl Inner {
    /// Reads the ring and tables into a dump. `patient == false` (panic hook) never waits
    /// on a lock the panicking thread might hold.
    pub(crate) fn snapshot(&self, reason: Reason, patient: bool) -> Dump {
        // What a poll running long right now is doing (a hung worker): into the ring first.
        self.look_now(patient);
        let lanes = self.lanes.all(patient);
        // The task table's window and slots before the ring: a task whose events the
        // ring read holds stays named even if it leaves the window meanwhile.
        let task_window = self.task_window();
        let early_tasks = self.tasks.early(task_window);
        // Waker counts of the tasks alive at the dump (a span's slot outlives its task).
        let (live, unhooked) = self
            .tasks
            .live_and_unhooked(patient, task_window, &early_tasks);
        let mut live_wakers: Vec<TaskWakers> = self
            .span_tasks
            .waker_counts()
            .into_iter()
            .filter(|(task, _)| live.contains(task))
            .map(|(task, live)| TaskWakers { task, live })
            .collect();
        live_wakers.sort_by_key(|w| w.task);
        let unhooked = if self.hooks_installed.load(Ordering::Relaxed) {
            unhooked
        } else {
            Vec::new()
        };
        // The counts above were taken before the events are read: a waker op after them
        // is in the window, carrying its own count, so the two never disagree.
        let dumped_raw = self.clock.raw();
        // A poll's start is carried by its end; one still running is read from its lane,
        // before the ring (it may end while the ring is read: its end then carries the
        // same start) and after.
        let open_before = self.open_polls(&lanes);
        let (raw, torn) = self.ring.snapshot();
        let open_after = self.open_polls(&lanes);
        // Counted after the events were read, so it is never less than what was kept.
        let recorded_total: u64 = lanes
            .iter()
            .map(|l| l.written.load(Ordering::Relaxed))
            .sum();
        let kept = raw.len() as u64;
        let oldest = raw.iter().map(|r| r.ts).min().unwrap_or(u64::MAX);
        let lapped = self.ring.claims() > self.ring.blocks();
        // (raw ts, lane, order in the lane, event): a folded start sorts first at its
        // timestamp, which no other event of its lane shares.
        let mut expanded: Vec<Expanded> = Vec::new();
        let _ = expanded.try_reserve(raw.len() * 3 / 2);
        for r in &raw {
            codec::decode(
                r.ts,
                r.a,
                r.b,
                |t| self.raw_to_ns(t),
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
                    expanded.push((ts, r.lane, order, kind));
                },
            );
        }
        expanded.sort_unstable_by_key(|e| (e.0, e.1, e.2));
        for (lane, task, since) in open_before.into_iter().chain(open_after) {
            // Likewise for a poll still running.
            if since < oldest && lapped {
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
        let events: Vec<Event> = expanded
            .into_iter()
            .map(|(ts, lane, _, kind)| Event {
                ts_ns: self.raw_to_ns(ts),
                lane,
                kind,
            })
            .collect();
        let mut tasks = self.tasks.snapshot(patient, task_window, early_tasks);
        crate::format::fill_missing_tasks(&mut tasks, &events, &reason);
        let lane_states = lanes
            .iter()
            .map(|l| {
                let (activity, since) = l.activity();
                LaneState {
                    lane: l.lane,
                    activity,
                    since_ns: self.raw_to_ns(since),
                }
            })
            .collect();
        let overwritten = recorded_total.saturating_sub(kept + torn);
        let stacks = self.stack_texts(&events, patient);
        Dump {
            header: Header {
                reason,
                dumped_at_unix_ns: unix_now_ns(),
                dumped_at_ns: self.raw_to_ns(dumped_raw),
                anchor: self.anchor,
                pid: std::process::id(),
                program: program_name(),
                host: host_name(),
                capacity: self.ring.capacity() as u64,
                recorded_total,
                overwritten,
                torn_skipped: torn,
                hooks_installed: self.hooks_installed.load(Ordering::Relaxed),
                layer_installed: self.layer_installed.load(Ordering::Relaxed),
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
        }
    }

    /// The stacks the window's `PollStack` events name, symbolized (the binary's line
    /// tables; the first dump loads them). The panic hook never waits for the table.
    fn stack_texts(&self, events: &[Event], patient: bool) -> Vec<crate::format::Stack> {
        // Not in the panic hook: symbolizing loads the binary's line tables, and anything
        // going wrong there would abort the process. Its stacks stay unnamed (the panic's
        // own backtrace names the panicking thread's).
        let Some(table) = self.stacks.as_ref().filter(|_| patient) else {
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
        let Ok(table) = table.lock() else {
            return Vec::new();
        };
        let frames: Vec<(u32, Vec<usize>)> = ids
            .into_iter()
            .filter_map(|id| Some((id, table.get(id)?.to_vec())))
            .collect();
        drop(table);
        frames
            .into_iter()
            .map(|(id, f)| crate::format::Stack {
                id,
                frames: super::stacks::symbolize(&f),
            })
            .collect()
    }

    /// `(lane, task, since)` of each poll running now whose start no record carries
    /// (every poll's, unless the ring is a crash-surviving file, which writes starts).
    fn open_polls(&self, lanes: &[std::sync::Arc<super::lanes::LaneSlot>]) -> Vec<(u32, u64, u64)> {
        if self.write_starts {
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

    pub(super) fn write_dump(&self, dump: &Dump) -> io::Result<PathBuf> {
        let path = dump_file::expand_template(&self.dump_path, &program_name());
        dump_file::write_atomic(&path, &dump.to_bytes()?)
    }
}
