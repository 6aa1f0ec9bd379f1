//! Reading the ring and the tables into a [`Dump`], and writing it to a dump file.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::format::ring_codec as codec;
use crate::format::{Dump, Event, Facts, Header, LaneState, Reason, TaskWakers};

use super::dump_file;
use super::identity::{host_name, program_name, unix_now_ns};
use super::recorder::Inner;

impl Inner {
    /// Reads the ring and tables into a dump. `patient == false` (panic hook) never waits
    /// on a lock the panicking thread might hold.
    pub(crate) fn snapshot(&self, reason: Reason, patient: bool) -> Dump {
        let lanes = self.lanes.all(patient);
        // Waker counts of the tasks alive at the dump (a span's slot outlives its task).
        let (live, unhooked) = self.tasks.live_and_unhooked(patient);
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
        let (mut raw, torn) = self.ring.snapshot();
        // Counted after the events were read, so it is never less than what was kept.
        let recorded_total: u64 = lanes
            .iter()
            .map(|l| l.written.load(Ordering::Relaxed))
            .sum();
        raw.sort_unstable_by_key(|r| (r.ts, r.lane, r.order));
        let events: Vec<Event> = raw
            .iter()
            .filter_map(|r| {
                Some(Event {
                    ts_ns: self.raw_to_ns(r.ts),
                    lane: r.lane,
                    kind: codec::unpack(r.a, r.b)?,
                })
            })
            .collect();
        let mut tasks = self.tasks.snapshot(patient);
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
        let overwritten = recorded_total.saturating_sub(events.len() as u64 + torn);
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
                live_wakers,
                unhooked,
            },
        }
    }

    pub(super) fn write_dump(&self, dump: &Dump) -> io::Result<PathBuf> {
        let path = dump_file::expand_template(&self.dump_path, &program_name());
        dump_file::write_atomic(&path, &dump.to_bytes()?)
    }
}
