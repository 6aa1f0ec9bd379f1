//! The per-event record path: one event onto the calling thread's lane of the ring, and
//! the task bookkeeping that goes with a spawn or a termination.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::format::ring_codec::{self as codec, Kind};

use super::Store;
use super::lanes::{self, LOCAL, LaneSlot};
use super::ring::{Cursor, Ring};
use super::ring_file;
use super::tasks::SpawnInfo;

/// Tokio's `task::Id` has no public integer accessor; its derived `Hash` writes exactly
/// the inner `u64` (the same number its `Display` prints), so a capturing hasher reads it
/// without formatting. A test pins this against `Display`.
pub(crate) fn task_id_u64(id: tokio::task::Id) -> u64 {
    use std::hash::{Hash, Hasher};
    struct Capture(u64);
    impl Hasher for Capture {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 << 8) | u64::from(b);
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }
    let mut h = Capture(0);
    id.hash(&mut h);
    h.0
}

/// The task being polled on this thread, if any (as seen by this crate's poll hooks or,
/// without hooks, the task span's enter/exit).
#[inline]
pub(crate) fn current_task() -> Option<u64> {
    LOCAL.try_with(|l| l.polling.get()).ok().filter(|&t| t != 0)
}

/// The calling thread's lane while it records: the lane's slot (it derefs to it) and a
/// way to write further records on the lane from inside a record's closures.
pub(crate) struct LaneWriter<'a> {
    ring: &'a Ring,
    cursor: &'a mut Cursor,
    lane: &'a LaneSlot,
}

impl LaneWriter<'_> {
    /// Writes one record at `ts`, a timestamp taken on this lane (a poll's start, written
    /// late when its end cannot carry it).
    #[inline]
    pub(crate) fn write(&mut self, ts: u64, kind: Kind, a: u64, flags: u8, aux: u64) {
        self.ring.write(
            self.cursor,
            self.lane.lane,
            ts,
            a,
            codec::pack(kind, flags, aux),
        );
        let written = &self.lane.written;
        written.store(written.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

impl std::ops::Deref for LaneWriter<'_> {
    type Target = LaneSlot;
    fn deref(&self) -> &LaneSlot {
        self.lane
    }
}

impl Store {
    /// Records one event on the calling thread's lane. Lock-free and allocation-free
    /// except for a thread's very first event. `on_lane` runs with the lane and the
    /// event's raw timestamp (to update the lane's activity).
    #[inline]
    pub(crate) fn record_with(
        &self,
        kind: Kind,
        flags: u8,
        a: u64,
        aux: u64,
        on_lane: impl FnOnce(&mut LaneWriter<'_>, u64),
    ) {
        self.record_computed(|_, _| (kind, a, flags, aux), on_lane);
    }

    /// Like [`record_with`](Self::record_with), with the record computed from the lane
    /// and the event's raw timestamp (a poll's end carries its duration and start).
    #[inline]
    pub(crate) fn record_computed(
        &self,
        payload: impl FnOnce(&mut LaneWriter<'_>, u64) -> (Kind, u64, u8, u64),
        on_lane: impl FnOnce(&mut LaneWriter<'_>, u64),
    ) {
        self.on_lane(|w, ts| {
            let (kind, a, flags, aux) = payload(w, ts);
            w.write(ts, kind, a, flags, aux);
            on_lane(w, ts);
        });
    }

    /// Takes a timestamp on the calling thread's lane and runs `on_lane` with it, writing
    /// nothing itself: for a poll's start, which its end will carry.
    #[inline]
    pub(crate) fn mark_lane(&self, on_lane: impl FnOnce(&mut LaneWriter<'_>, u64)) {
        self.on_lane(on_lane);
    }

    /// Runs `f` with the calling thread's lane of this recorder and a fresh timestamp on
    /// it (strictly after the lane's previous one), unless the thread is already inside
    /// the recorder or cannot get a lane.
    #[inline]
    fn on_lane(&self, f: impl FnOnce(&mut LaneWriter<'_>, u64)) {
        let _ = LOCAL.try_with(|local| {
            if local.busy.get()
                || (self.mapped && ring_file::fork_generation() != self.fork_generation)
            {
                return;
            }
            if local.recorder.get() != self.id && !self.attach(local) {
                return;
            }
            local.busy.set(true);
            // SAFETY: set by `attach` for this recorder (ids are unique and checked above);
            // lanes are never removed from `self.lanes`, which outlives this call.
            let lane = unsafe { &*local.lane.get() };
            // SAFETY: only this thread touches its `Local`, and `busy` keeps any recording
            // re-entered from inside `f` from taking a second reference. In place rather
            // than a copy in and out of the `Cell`: the copy's reload right after the
            // write's narrower stores stalls store forwarding (a third of an event's cost).
            let cursor = unsafe { &mut *local.cursor.as_ptr() };
            let ts = cursor.take_ts(self.clock.raw());
            f(
                &mut LaneWriter {
                    ring: &self.ring,
                    cursor,
                    lane,
                },
                ts,
            );
            local.busy.set(false);
        });
    }

    #[inline]
    pub(crate) fn record(&self, kind: Kind, flags: u8, a: u64, aux: u64) {
        self.record_with(kind, flags, a, aux, |_, _| {});
    }

    #[cold]
    pub(crate) fn attach(&self, local: &lanes::Local) -> bool {
        let mut others = local.others.get();
        let current = (local.recorder.get(), local.lane.get(), local.cursor.get());
        if let Some(i) = others.iter().position(|o| o.0 == self.id) {
            // Back to a recorder this thread used before: its lane and block.
            let (_, lane, cursor) = others[i];
            others[i] = current;
            local.others.set(others);
            local.recorder.set(self.id);
            local.lane.set(lane);
            local.cursor.set(cursor);
            return true;
        }
        // A thread that is panicking (the panic hook's own records, a `Drop` during
        // unwinding) never waits for the lane list: it may be what holds its lock.
        let patient = !std::thread::panicking();
        let Some(slot) = self.lanes.register(self.lanes_with_thread, patient) else {
            return false;
        };
        if current.0 != 0 {
            others.rotate_right(1);
            others[0] = current;
            local.others.set(others);
        }
        local.lane.set(Arc::as_ptr(&slot));
        local.cursor.set(Cursor::EMPTY);
        local.recorder.set(self.id);
        self.persist_lane(&slot);
        true
    }

    /// Writes a lane's identity to the ring file (on registration, and when it learns it
    /// is a runtime thread or its worker index).
    pub(crate) fn persist_lane(&self, lane: &LaneSlot) {
        if let Some(p) = &self.persist {
            let info = lane.info();
            p.lane(&info, lane.persisted_name(p));
        }
    }

    /// Raw clock ticks in `d`.
    pub(crate) fn ns_to_raw(&self, d: std::time::Duration) -> u64 {
        (d.as_nanos() as f64 / self.ns_per_raw.max(1e-9)) as u64
    }

    pub(crate) fn raw_to_ns(&self, raw: u64) -> u64 {
        if raw <= self.start_raw {
            return 0;
        }
        self.clock.delta_as_nanos(self.start_raw, raw)
    }

    pub(crate) fn spawn(&self, info: SpawnInfo<'_>) {
        let task = info.task;
        let parent = info.parent;
        self.tasks
            .insert(info, self.persist.as_ref(), self.task_window());
        self.record(Kind::Spawn, 0, task, codec::opt_aux(parent));
    }

    pub(crate) fn terminate(&self, task: u64) {
        self.tasks.prefetch(task);
        self.record(Kind::Terminate, 0, task, 0);
        self.end_in_table(task);
    }

    /// Ends `task` in the task table, after the record that says so is written: its slot
    /// is kept until the ring has gone a full turn past that record.
    pub(crate) fn end_in_table(&self, task: u64) {
        let (now, horizon) = self.task_window();
        self.tasks.terminate(task, now, horizon);
    }

    /// The terminate hook's end of a task outside its own poll: unless the table says the
    /// task already ended (a blocking task whose span closed first). A task the table
    /// does not hold still ends: the hook is Tokio's word, once per task.
    pub(crate) fn terminate_once(&self, task: u64) {
        if !self.tasks.has_ended(task) {
            self.terminate(task);
        }
    }

    /// A blocking task's span closed: its end, if the table holds it alive. Tokio runs no
    /// spawn hook for blocking tasks, so nothing says whether its runtime has hooks; on
    /// one that has, the terminate hook runs just after on this thread and finds it ended.
    /// A close put off by a child span (a `spawn_blocking` inside it) comes after the
    /// hook, and finds it ended, or gone from the table if the ring has gone round since:
    /// either way no second Terminate.
    pub(crate) fn blocking_span_closed(&self, task: u64) {
        if self.tasks.is_live(task) {
            self.terminate(task);
        }
    }

    /// The ring's claims so far, and how many make a full turn: a task that terminated
    /// a full turn ago has no event left in the ring.
    pub(crate) fn task_window(&self) -> (u64, u64) {
        (self.ring.claims(), self.ring.blocks())
    }
}
