//! Task names, kinds and spawn locations, kept apart from the ring.
//!
//! A task's spawn event is overwritten long before the task ends in a long-running
//! service, yet a dump must still name every task its events mention. So spawn info lives
//! in this table while the task is alive, and for a while after it terminates: until the
//! ring has been claimed all the way round since (then no event of that task can remain).
//!
//! Spawn and terminate write the table (polls and parks never touch it; a span's close
//! reads it, and a waker op after its task ended moves the task's end forward), and they
//! take no lock: each task has a slot picked by its id (Tokio numbers tasks in spawn
//! order, so consecutive spawns take consecutive slots), written under a per-slot
//! sequence number that a dump reads consistently. A slot is reused once its task has
//! terminated and left the window. A task whose slot is still taken (a long-lived task
//! of the same id modulo the table's size, or a window holding more tasks than the table
//! has slots), or whose spawn site does not fit the [`sites`] table, goes to the
//! [`overflow`] table, sharded and locked as before, so nothing is ever dropped; only the
//! cost differs.

mod live;
mod overflow;
mod sites;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, fence};

use crate::format::{SpawnLocation, TaskInfo, TaskKind};

use super::ring_file::Persist;
use live::LiveEntry;
pub(crate) use live::Wakers;
use overflow::Overflow;
use sites::Sites;
pub(crate) use sites::{FILE_MAX, NAME_MAX};

pub(crate) struct SpawnInfo<'a> {
    pub task: u64,
    pub name: &'a str,
    pub kind: TaskKind,
    pub location: Option<(FileName<'a>, u32, u32)>,
    pub parent: Option<u64>,
    /// Spawned through the runtime hooks (an instrumented runtime).
    pub hooked: bool,
}

/// A spawn location's file: from the hooks it is `'static` (interned by address in the
/// overflow table), from the span it is a copy (interned by content).
#[derive(Clone, Copy)]
pub(crate) enum FileName<'a> {
    Static(&'static str),
    Copied(&'a str),
}

impl SpawnInfo<'_> {
    /// Writes this task to the crash-surviving ring file, its strings already there at
    /// `name_off` and `file_off`.
    fn persist(&self, p: &Persist, name_off: u32, file_off: u32) {
        let (line, col) = self.location.map_or((0, 0), |(_, l, c)| (l, c));
        p.task(
            self.task,
            self.parent,
            name_off,
            file_off,
            line,
            col,
            self.kind,
        );
    }
}

impl<'a> FileName<'a> {
    pub(crate) fn as_str(&self) -> &'a str {
        match *self {
            FileName::Static(s) => s,
            FileName::Copied(s) => s,
        }
    }
}

/// Whether a task that terminated at ring claim `done_at` (0: still alive) can have no
/// event left in the ring at claim `now`: the ring has been claimed all the way round
/// (`horizon` claims) since.
pub(crate) fn expired(done_at: u64, now: u64, horizon: u64) -> bool {
    done_at != 0 && now.saturating_sub(done_at) > horizon
}

/// `meta`: the site id, and whether the hooks saw the task spawn.
const HOOKED: u32 = 1 << 31;
const SITE_MASK: u32 = HOOKED - 1;

/// One task, or none (`id == 0`: Tokio's task ids start at 1). The report's memory
/// figures count it at `TASK_SLOT_BYTES`.
#[repr(C)]
struct Slot {
    /// Odd while a spawn writes the slot: a reader retries or skips it.
    seq: AtomicU32,
    meta: AtomicU32,
    id: AtomicU64,
    /// The spawning task, 0 if none.
    parent: AtomicU64,
    /// Ring claim count when the task terminated; 0 while it lives.
    done_at: AtomicU64,
}

/// The slots' tasks read before the ring, for [`TaskTable::snapshot`].
pub(crate) struct Early(Vec<SlotView>);

const _: () = assert!(
    std::mem::size_of::<Slot>() + std::mem::size_of::<LiveEntry>()
        == crate::format::ring_codec::TASK_SLOT_BYTES,
    "the report's memory figures assume this slot size"
);

/// What a consistent read of a slot found.
struct SlotView {
    id: u64,
    site: u32,
    hooked: bool,
    parent: u64,
    done_at: u64,
}

impl Slot {
    /// The slot's task, read consistently; `None` if empty or being written.
    fn read(&self) -> Option<SlotView> {
        for _ in 0..8 {
            let seq = self.seq.load(Ordering::Acquire);
            if seq % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let meta = self.meta.load(Ordering::Relaxed);
            let view = SlotView {
                id: self.id.load(Ordering::Relaxed),
                site: meta & SITE_MASK,
                hooked: meta & HOOKED != 0,
                parent: self.parent.load(Ordering::Relaxed),
                done_at: self.done_at.load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == seq {
                return (view.id != 0).then_some(view);
            }
        }
        None
    }
}

pub(crate) struct TaskTable {
    slots: Box<[Slot]>,
    /// Each slot's task's live wakers and span handles ([`live`]), at the slot's index.
    live: Box<[LiveEntry]>,
    sites: Sites,
    overflow: Overflow,
    /// Some task went to the overflow table: until then a miss in the slots needs no
    /// look there.
    overflowed: AtomicBool,
}

impl TaskTable {
    /// A table for a ring of `capacity` records: 0.75-1.5 slots a record
    /// (`ring_codec::task_slots`), so a window of tasks that each wrote two records or more
    /// (a spawn, and the poll whose end carries the termination) leaves each slot's
    /// previous task out of the window by the time its id comes round again. The slots are
    /// touched here, as the ring is: a first touch on the hot path is a page fault, and in
    /// a VM one that interrupts the other cores too.
    pub(crate) fn new(capacity: usize) -> TaskTable {
        let n = crate::format::ring_codec::task_slots(capacity);
        let table = TaskTable {
            slots: (0..n)
                .map(|_| Slot {
                    seq: AtomicU32::new(0),
                    meta: AtomicU32::new(0),
                    id: AtomicU64::new(0),
                    parent: AtomicU64::new(0),
                    done_at: AtomicU64::new(0),
                })
                .collect(),
            live: (0..n).map(|_| LiveEntry::new()).collect(),
            sites: Sites::new(),
            overflow: Overflow::new(),
            overflowed: AtomicBool::new(false),
        };
        for slot in table.slots.iter() {
            slot.seq.store(0, Ordering::Relaxed);
        }
        for entry in table.live.iter() {
            entry.touch();
        }
        table
    }

    /// Starts bringing `task`'s slot into this core's cache for writing (see
    /// the layer's span table's).
    #[inline]
    pub(crate) fn prefetch(&self, task: u64) {
        super::prefetch::for_write(self.slot(task));
    }

    /// `task`'s slot if the task holds it (else it is in the overflow table, or unknown).
    /// Only the task's own spawn wrote its id there, and the slot cannot be reused while
    /// the task lives or is in the window, so no sequence check is needed.
    fn own_slot(&self, task: u64) -> Option<&Slot> {
        let slot = self.slot(task);
        (task != 0 && slot.id.load(Ordering::Acquire) == task).then_some(slot)
    }

    fn slot(&self, task: u64) -> &Slot {
        &self.slots[(task as usize) & (self.slots.len() - 1)]
    }

    fn live_entry(&self, task: u64) -> &LiveEntry {
        &self.live[(task as usize) & (self.live.len() - 1)]
    }

    /// The index bits of a task's slot: a live entry's tag is the id's bits above them.
    #[inline]
    fn shift(&self) -> u32 {
        self.live.len().trailing_zeros()
    }

    /// Records a spawn. `now` and `horizon` (ring claims) say whether the slot's previous
    /// task has left the window.
    pub(crate) fn insert(
        &self,
        info: SpawnInfo<'_>,
        persist: Option<&Persist>,
        (now, horizon): (u64, u64),
    ) {
        if info.task != 0
            && let Some((site, (name_off, file_off))) = self.sites.intern(&info, persist)
            && self.claim_slot(&info, site, now, horizon)
        {
            if let Some(p) = persist {
                info.persist(p, name_off, file_off);
            }
            return;
        }
        // Stored only once: every slot miss reads this line.
        if !self.overflowed.load(Ordering::Relaxed) {
            self.overflowed.store(true, Ordering::Relaxed);
        }
        self.overflow.insert(&info, persist);
    }

    /// Writes `info` into its slot if the slot is free, or holds a task that left the
    /// window (or this same task, spawned twice); false if taken or busy.
    fn claim_slot(&self, info: &SpawnInfo<'_>, site: u32, now: u64, horizon: u64) -> bool {
        let slot = self.slot(info.task);
        // Acquire: a spawn that wrote the slot (its `seq` store is a release) must be
        // seen whole here, or its task would look absent and be overwritten.
        let seq = slot.seq.load(Ordering::Acquire);
        let id = slot.id.load(Ordering::Relaxed);
        // A terminated task's `done_at` only ever goes from 0 to set, so a slot found
        // free here stays free; another spawn into it changes `seq` and fails the claim.
        let free = id == 0
            || id == info.task
            || expired(slot.done_at.load(Ordering::Relaxed), now, horizon);
        if seq % 2 == 1
            || !free
            || slot
                .seq
                .compare_exchange(
                    seq,
                    seq.wrapping_add(1),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return false;
        }
        fence(Ordering::Release);
        slot.id.store(info.task, Ordering::Relaxed);
        slot.meta.store(
            site | if info.hooked { HOOKED } else { 0 },
            Ordering::Relaxed,
        );
        slot.parent
            .store(info.parent.unwrap_or(0), Ordering::Relaxed);
        slot.done_at.store(0, Ordering::Relaxed);
        self.live_entry(info.task).claim(info.task, self.shift());
        slot.seq.store(seq.wrapping_add(2), Ordering::Release);
        true
    }

    /// Marks a task terminated at ring claim `now`; the overflow table also forgets its
    /// tasks that left the window (`horizon` claims ago).
    ///
    /// Once per task, and only after its spawn: the runtime hook says it, or the span's
    /// close when no hook saw the task (a blocking task may have both; the second finds
    /// it ended, see `Inner::terminate_once`). The id check below relies on it: the slot
    /// cannot be reused before this store, because only this store lets its task expire.
    pub(crate) fn terminate(&self, task: u64, now: u64, horizon: u64) {
        if let Some(slot) = self.own_slot(task) {
            slot.done_at.store(now.max(1), Ordering::Release);
        } else if self.overflowed.load(Ordering::Relaxed) {
            self.overflow.terminate(task, now, horizon);
        }
    }

    /// Whether any task has gone to the overflow table.
    #[cfg(test)]
    pub(crate) fn has_overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Whether `task` is in the table and alive.
    pub(crate) fn is_live(&self, task: u64) -> bool {
        self.done_at(task) == Some(0)
    }

    /// Whether `task` is in the table and has ended.
    pub(crate) fn has_ended(&self, task: u64) -> bool {
        self.done_at(task).is_some_and(|d| d != 0)
    }

    /// When `task` ended (0: alive), if the table holds it.
    fn done_at(&self, task: u64) -> Option<u64> {
        if let Some(slot) = self.own_slot(task) {
            Some(slot.done_at.load(Ordering::Acquire))
        } else if self.overflowed.load(Ordering::Relaxed) {
            self.overflow.done_at(task)
        } else {
            None
        }
    }

    /// Whether the runtime hooks saw `task` spawn (so they, not its span's close, say
    /// when it ends).
    pub(crate) fn is_hooked(&self, task: u64) -> bool {
        if let Some(slot) = self.own_slot(task) {
            slot.meta.load(Ordering::Relaxed) & HOOKED != 0
        } else {
            self.overflowed.load(Ordering::Relaxed) && self.overflow.is_hooked(task)
        }
    }

    /// A waker op of `task` after it terminated (a waker outlives its task): its info must
    /// stay as long as that event can, so its termination counts from `now`. Only moves a
    /// set `done_at` forward, by compare-and-swap: a slot since reused by a newer task has
    /// another `done_at` (0 while that task lives), which this leaves alone.
    pub(crate) fn late_event(&self, task: u64, now: u64) {
        if let Some(slot) = self.own_slot(task) {
            let done = slot.done_at.load(Ordering::Relaxed);
            if done != 0 && done < now {
                let _ =
                    slot.done_at
                        .compare_exchange(done, now, Ordering::Release, Ordering::Relaxed);
            }
        } else if self.overflowed.load(Ordering::Relaxed) {
            self.overflow.late_event(task, now);
        }
    }

    /// Marks `task` as seen by the runtime hooks (its span was recorded first).
    /// Returns whether the table had the task.
    pub(crate) fn mark_hooked(&self, task: u64) -> bool {
        if let Some(slot) = self.own_slot(task) {
            slot.meta.fetch_or(HOOKED, Ordering::Relaxed);
            true
        } else {
            self.overflowed.load(Ordering::Relaxed) && self.overflow.mark_hooked(task)
        }
    }

    /// Counts a waker op of `task` (`delta`: +1 clone, -1 drop or wake by value, 0 wake
    /// by reference): one compare-and-swap on the task's entry. `None` if the table does
    /// not hold the task.
    #[inline]
    pub(crate) fn waker_op(&self, task: u64, delta: i64) -> Option<Wakers> {
        if let Some(w) = self.live_entry(task).waker_op(task, self.shift(), delta) {
            return Some(w);
        }
        if self.overflowed.load(Ordering::Relaxed) {
            self.overflow.waker_op(task, delta)
        } else {
            None
        }
    }

    /// Marks `task`'s span closed (a waker op after it comes from a waker that outlived
    /// the task).
    pub(crate) fn span_closed(&self, task: u64) {
        if !self.live_entry(task).close(task, self.shift())
            && self.overflowed.load(Ordering::Relaxed)
        {
            self.overflow.span_closed(task);
        }
    }

    /// One more handle of `task`'s span (the recorder's subscriber owns Tokio's spans).
    pub(crate) fn span_cloned(&self, task: u64) {
        if !self.live_entry(task).span_cloned(task, self.shift())
            && self.overflowed.load(Ordering::Relaxed)
        {
            self.overflow.span_cloned(task);
        }
    }

    /// One handle of `task`'s span fewer; true when it was the last (the span closed).
    /// A task the table does not hold has no count: its span closes at once.
    pub(crate) fn span_released(&self, task: u64) -> bool {
        if let Some(last) = self.live_entry(task).span_released(task, self.shift()) {
            return last;
        }
        if self.overflowed.load(Ordering::Relaxed) {
            self.overflow.span_released(task).unwrap_or(true)
        } else {
            true
        }
    }

    /// The live wakers of each task in `live` that has a count: from the slots `early`
    /// read and the overflow table.
    pub(crate) fn live_wakers(
        &self,
        patient: bool,
        live: &HashSet<u64>,
        early: &Early,
    ) -> Vec<(u64, i64)> {
        let mut out: Vec<(u64, i64)> = early
            .0
            .iter()
            .filter(|v| live.contains(&v.id))
            .filter_map(|v| Some((v.id, self.live_entry(v.id).live(v.id, self.shift())?)))
            .collect();
        self.overflow.live_wakers(patient, live, &mut out);
        out.sort_unstable();
        out.dedup_by_key(|w| w.0);
        out
    }

    /// The ids of the tasks alive now (spawned, not terminated), and of the async tasks
    /// in the window the hooks never saw spawn (they run on a runtime without the hooks).
    /// From the slots `early` read (in the window `now_horizon`) and the overflow table.
    pub(crate) fn live_and_unhooked(
        &self,
        patient: bool,
        now_horizon: (u64, u64),
        early: &Early,
    ) -> (HashSet<u64>, Vec<u64>) {
        let (mut live, mut unhooked) = (HashSet::new(), Vec::new());
        // After the scan: a site interned meanwhile is in the list (ids only grow).
        let sites = self.sites.all(patient);
        for v in &early.0 {
            if v.done_at == 0 {
                live.insert(v.id);
            }
            let async_task = sites
                .get(v.site as usize)
                .is_some_and(|s| matches!(s.kind(), TaskKind::Task | TaskKind::Local));
            if !v.hooked && async_task {
                unhooked.push(v.id);
            }
        }
        self.overflow
            .live_and_unhooked(patient, now_horizon, &mut live, &mut unhooked);
        unhooked.sort_unstable();
        (live, unhooked)
    }

    /// The slots' tasks in the window `now_horizon`, read before the ring is: a task
    /// whose events the ring read still holds may leave the window (and its slot be
    /// reused) before [`snapshot`](Self::snapshot) reads the table again.
    pub(crate) fn early(&self, (now, horizon): (u64, u64)) -> Early {
        Early(
            self.slots
                .iter()
                .filter_map(Slot::read)
                .filter(|v| !expired(v.done_at, now, horizon))
                .collect(),
        )
    }

    /// Every task the ring may still hold events of, and every live task: those `early`
    /// read before the ring and those the slots hold now, in the window `now_horizon`
    /// (taken before the ring too), and the overflow table's. With `patient == false`
    /// (panic hook) a lock held (perhaps by the panicking thread) is skipped rather than
    /// waited for.
    pub(crate) fn snapshot(
        &self,
        patient: bool,
        now_horizon: (u64, u64),
        early: Early,
    ) -> Vec<TaskInfo> {
        let mut views = early.0;
        views.extend(self.early(now_horizon).0);
        views.sort_unstable_by_key(|v| v.id);
        views.dedup_by_key(|v| v.id);
        // After the scans: a site interned meanwhile is in the list (ids only grow).
        let sites = self.sites.all(patient);
        let mut out: Vec<TaskInfo> = views
            .into_iter()
            .map(|v| {
                // Without its site (the panic hook could not take the site table's lock)
                // the task is still listed, nameless, with its parent.
                let site = sites.get(v.site as usize);
                TaskInfo {
                    id: v.id,
                    name: site.map_or_else(String::new, |s| s.name().to_string()),
                    kind: site.map_or(TaskKind::Unknown, |s| s.kind()),
                    location: site
                        .and_then(|s| s.location())
                        .map(|(f, line, col)| SpawnLocation {
                            // A dependency's path names the build machine's home.
                            file: dial9_format::short_source_path(f),
                            line,
                            col,
                        }),
                    spawned_by: (v.parent != 0).then_some(v.parent),
                }
            })
            .collect();
        self.overflow.snapshot(patient, now_horizon, &mut out);
        out.sort_by_key(|t| t.id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(t: &TaskTable, id: u64, name: &str, now: u64) {
        t.insert(
            SpawnInfo {
                task: id,
                name,
                kind: TaskKind::Task,
                location: Some((FileName::Static("src/main.rs"), 1, 2)),
                parent: (id > 1).then_some(id - 1),
                hooked: false,
            },
            None,
            (now, 50),
        );
    }

    fn snapshot(t: &TaskTable, patient: bool, window: (u64, u64)) -> Vec<TaskInfo> {
        t.snapshot(patient, window, t.early(window))
    }

    fn live_and_unhooked(t: &TaskTable, window: (u64, u64)) -> (HashSet<u64>, Vec<u64>) {
        t.live_and_unhooked(true, window, &t.early(window))
    }

    fn ids(t: &TaskTable, now: u64) -> Vec<u64> {
        snapshot(t, true, (now, 50)).iter().map(|t| t.id).collect()
    }

    #[test]
    fn a_task_keeps_its_slot_while_alive_and_a_collision_overflows() {
        let t = TaskTable::new(0);
        let n = t.slots.len() as u64;
        spawn(&t, 5, "long-lived", 1);
        // The same slot, while task 5 lives: the overflow table takes it.
        spawn(&t, 5 + n, "newer", 1);
        assert!(t.overflowed.load(Ordering::Relaxed));
        let tasks = snapshot(&t, true, (1, 50));
        assert_eq!(
            tasks
                .iter()
                .map(|t| (t.id, t.name.as_str(), t.spawned_by))
                .collect::<Vec<_>>(),
            [(5, "long-lived", Some(4)), (5 + n, "newer", Some(4 + n))]
        );
        assert_eq!(tasks[0].location.as_ref().unwrap().file, "src/main.rs");
        // Both terminate, each in its own table; both stay while in the window.
        t.terminate(5, 10, 50);
        t.terminate(5 + n, 10, 50);
        assert_eq!(ids(&t, 60), [5, 5 + n]);
        let (live, _) = live_and_unhooked(&t, (60, 50));
        assert!(live.is_empty());
        // Left the window: gone from the dump, and the slot is free again.
        assert!(ids(&t, 61).is_empty());
        spawn(&t, 5 + 2 * n, "reuser", 61);
        assert_eq!(t.slot(5).id.load(Ordering::Relaxed), 5 + 2 * n);
    }

    #[test]
    fn a_terminated_task_in_the_window_keeps_its_slot() {
        let t = TaskTable::new(0);
        let n = t.slots.len() as u64;
        spawn(&t, 3, "first", 1);
        t.terminate(3, 20, 50);
        // 70 - 20 = 50 claims: not yet round the ring, so task 3 may still have events.
        spawn(&t, 3 + n, "second", 70);
        assert_eq!(t.slot(3).id.load(Ordering::Relaxed), 3);
        assert_eq!(ids(&t, 70), [3, 3 + n]);
    }

    /// A waker op after the task ended keeps its info as long as that event can last.
    #[test]
    fn a_late_waker_op_extends_the_window() {
        let t = TaskTable::new(0);
        spawn(&t, 4, "outlived", 1);
        t.terminate(4, 10, 50);
        t.late_event(4, 40);
        assert_eq!(ids(&t, 90), [4], "40 + 50: still in the window");
        assert!(ids(&t, 91).is_empty());
        // Never moves backwards, and leaves a live task alone.
        t.late_event(4, 20);
        assert_eq!(ids(&t, 90), [4]);
        spawn(&t, 5, "alive", 1);
        t.late_event(5, 40);
        assert_eq!(t.slot(5).done_at.load(Ordering::Relaxed), 0);
    }

    /// A task read before the ring stays in the dump even if its slot is reused before
    /// the table is read again.
    #[test]
    fn the_early_read_keeps_a_task_whose_slot_was_reused_meanwhile() {
        let t = TaskTable::new(0);
        let n = t.slots.len() as u64;
        spawn(&t, 6, "old", 1);
        t.terminate(6, 10, 50);
        let window = (55, 50);
        let early = t.early(window);
        // Meanwhile the ring moves on and a new task takes the slot.
        spawn(&t, 6 + n, "new", 70);
        let got: Vec<u64> = t
            .snapshot(true, window, early)
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(got, [6, 6 + n]);
    }

    /// The panic hook does not wait for the site table's lock: tasks are still listed,
    /// with their parents, only without names.
    #[test]
    fn a_held_site_lock_costs_names_not_tasks() {
        let t = TaskTable::new(0);
        spawn(&t, 2, "named", 1);
        let _held = t.sites.hold();
        let tasks = snapshot(&t, false, (1, 50));
        assert_eq!(tasks.len(), 1);
        assert_eq!((tasks[0].id, tasks[0].name.as_str()), (2, ""));
        assert_eq!(tasks[0].spawned_by, Some(1));
    }

    #[test]
    fn hooked_marks_reach_either_table() {
        let t = TaskTable::new(0);
        let n = t.slots.len() as u64;
        spawn(&t, 9, "a", 1);
        spawn(&t, 9 + n, "b", 1);
        spawn(&t, 10, "c", 1);
        t.mark_hooked(9);
        t.mark_hooked(9 + n);
        let (live, unhooked) = live_and_unhooked(&t, (1, 50));
        assert_eq!(live.len(), 3);
        assert_eq!(unhooked, [10]);
    }

    #[test]
    fn concurrent_spawns_and_terminations_lose_no_task() {
        let t = std::sync::Arc::new(TaskTable::new(0));
        let n = t.slots.len() as u64;
        // Miri (data races, unsynchronised reads) runs a smaller version.
        let per_thread = if cfg!(miri) { 60 } else { 2_000 };
        // Four threads spawn into the same slots at once (ids equal modulo the size):
        // every task is found once, in one table or the other.
        let threads: Vec<_> = (0..4u64)
            .map(|k| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for i in 1..=per_thread {
                        let id = i + k * n * 4;
                        spawn(&t, id, if i % 2 == 0 { "even" } else { "odd" }, 1);
                        if i % 3 == 0 {
                            t.terminate(id, 2, 50);
                        }
                    }
                })
            })
            .collect();
        let reader = {
            let t = t.clone();
            std::thread::spawn(move || {
                for _ in 0..if cfg!(miri) { 2 } else { 50 } {
                    for task in snapshot(&t, true, (2, 50)) {
                        assert!(task.name == "even" || task.name == "odd", "{task:?}");
                    }
                }
            })
        };
        for th in threads {
            th.join().unwrap();
        }
        reader.join().unwrap();
        let mut got = ids(&t, 2);
        let before = got.len();
        got.dedup();
        assert_eq!(got.len(), before, "no task twice");
        assert_eq!(got.len() as u64, 4 * per_thread);
        let (live, _) = live_and_unhooked(&t, (2, 50));
        assert_eq!(live.len() as u64, 4 * (per_thread - per_thread / 3));
    }
}
