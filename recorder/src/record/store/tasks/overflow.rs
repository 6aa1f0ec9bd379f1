//! The slow path of the task table: tasks that did not get a slot of their own (their
//! slot held a task still alive or still in the window, or their spawn site did not fit
//! in the site table), in shards by task id, each behind its own short lock, the same way
//! Tokio's own task list is sharded. Names and file paths are interned per shard and
//! dropped when no entry uses them, so services that name every task uniquely
//! (`conn-{peer}`) do not grow it forever.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use rustc_hash::FxHashMap;

use crate::format::{SpawnLocation, TaskInfo, TaskKind};

use super::super::lanes;
use super::super::ring_file::{NOT_PERSISTED, Persist};
use super::{FileName, SpawnInfo, Wakers, expired};

const SHARDS: usize = 64;

/// Strings are ids into the shard's string list: no reference counts to bounce between
/// workers on every spawn.
struct Entry {
    name: u32,
    kind: TaskKind,
    location: Option<(u32, u32, u32)>,
    parent: Option<u64>,
    /// Ring claim count when the task terminated; 0 while it lives.
    done_at: u64,
    /// The runtime hooks saw its spawn (it runs on an instrumented runtime).
    hooked: bool,
    /// Live wakers; below zero once ops were missed (no longer a count).
    wakers: i64,
    /// Handles of its span (the recorder's subscriber path).
    refs: u32,
    /// Its span has closed.
    closed: bool,
}

#[derive(Default)]
struct Shard {
    tasks: FxHashMap<u64, Entry>,
    /// Sweep out long-terminated tasks when the map reaches this size (amortised O(1)).
    sweep_at: usize,
    strings: Vec<Box<str>>,
    string_ids: FxHashMap<Box<str>, u32>,
    /// `&'static str`s (spawn locations from the hooks) by address: no string compare.
    static_ids: FxHashMap<(usize, usize), u32>,
    /// Offset of each string in the crash-surviving ring file, once written there.
    persisted: Vec<u32>,
}

impl Shard {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.into());
        self.string_ids.insert(s.into(), id);
        id
    }

    fn intern_static(&mut self, s: &'static str) -> u32 {
        let key = (s.as_ptr() as usize, s.len());
        if let Some(&id) = self.static_ids.get(&key) {
            return id;
        }
        let id = self.intern(s);
        self.static_ids.insert(key, id);
        id
    }

    /// The string's offset in the ring file's string area, writing it there first if new.
    fn persisted(&mut self, id: u32, p: &Persist) -> u32 {
        let i = id as usize;
        if self.persisted.len() <= i {
            self.persisted.resize(i + 1, NOT_PERSISTED);
        }
        if self.persisted[i] == NOT_PERSISTED {
            self.persisted[i] = p.string(self.string(id));
        }
        self.persisted[i]
    }

    /// Drops interned strings no entry uses any more (services that name tasks uniquely,
    /// `conn-{peer}`, would otherwise grow this forever). Runs at sweeps, and only when
    /// at least half the strings are unused, so it is amortised O(1).
    fn compact_strings(&mut self) {
        let n = self.strings.len();
        if n < 256 {
            return;
        }
        let mut used = vec![false; n];
        for e in self.tasks.values() {
            used[e.name as usize] = true;
            if let Some((f, _, _)) = e.location {
                used[f as usize] = true;
            }
        }
        if used.iter().filter(|&&u| u).count() * 2 > n {
            return;
        }
        let mut remap = vec![u32::MAX; n];
        let old = std::mem::take(&mut self.strings);
        let old_persisted = std::mem::take(&mut self.persisted);
        self.string_ids.clear();
        for (i, s) in old.into_iter().enumerate() {
            if used[i] {
                let id = self.strings.len() as u32;
                remap[i] = id;
                if let Some(&p) = old_persisted.get(i) {
                    self.persisted.resize(id as usize, NOT_PERSISTED);
                    self.persisted.push(p);
                }
                self.string_ids.insert(s.clone(), id);
                self.strings.push(s);
            }
        }
        self.static_ids.retain(|_, id| {
            let new = remap[*id as usize];
            *id = new;
            new != u32::MAX
        });
        for e in self.tasks.values_mut() {
            e.name = remap[e.name as usize];
            if let Some((f, _, _)) = &mut e.location {
                *f = remap[*f as usize];
            }
        }
    }

    fn string(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |s| s)
    }
}

pub(crate) struct Overflow {
    shards: Box<[Mutex<Shard>]>,
}

impl Overflow {
    pub(crate) fn new() -> Overflow {
        Overflow {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, task: u64) -> MutexGuard<'_, Shard> {
        self.shards[(task % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, info: &SpawnInfo<'_>, persist: Option<&Persist>) {
        let mut shard = self.shard(info.task);
        let name = shard.intern(info.name);
        let location = info.location.map(|(f, l, c)| {
            let f = match f {
                FileName::Static(f) => shard.intern_static(f),
                FileName::Copied(f) => shard.intern(f),
            };
            (f, l, c)
        });
        shard.tasks.insert(
            info.task,
            Entry {
                name,
                kind: info.kind,
                location,
                parent: info.parent,
                done_at: 0,
                hooked: info.hooked,
                wakers: 0,
                refs: 1,
                closed: false,
            },
        );
        if let Some(p) = persist {
            let name_off = shard.persisted(name, p);
            let file_off = location.map_or(crate::format::ring_file::NO_STRING, |(f, _, _)| {
                shard.persisted(f, p)
            });
            info.persist(p, name_off, file_off);
        }
    }

    /// Marks a task terminated at ring claim `now`, and forgets terminated tasks whose
    /// events the ring has certainly overwritten (`horizon` claims ago).
    pub(crate) fn terminate(&self, task: u64, now: u64, horizon: u64) {
        let mut shard = self.shard(task);
        if let Some(e) = shard.tasks.get_mut(&task) {
            e.done_at = now.max(1);
        }
        if shard.tasks.len() >= shard.sweep_at {
            shard.tasks.retain(|_, e| !expired(e.done_at, now, horizon));
            shard.sweep_at = (shard.tasks.len() * 2).max(64);
            shard.compact_strings();
        }
    }

    /// When `task` ended (0: alive), if the table holds it.
    pub(crate) fn done_at(&self, task: u64) -> Option<u64> {
        self.shard(task).tasks.get(&task).map(|e| e.done_at)
    }

    pub(crate) fn is_hooked(&self, task: u64) -> bool {
        self.shard(task).tasks.get(&task).is_some_and(|e| e.hooked)
    }

    /// See [`TaskTable::late_event`](super::TaskTable::late_event).
    pub(crate) fn late_event(&self, task: u64, now: u64) {
        if let Some(e) = self.shard(task).tasks.get_mut(&task)
            && e.done_at != 0
        {
            e.done_at = e.done_at.max(now);
        }
    }

    /// Marks `task` as seen by the runtime hooks (its span was recorded first).
    pub(crate) fn mark_hooked(&self, task: u64) -> bool {
        self.shard(task)
            .tasks
            .get_mut(&task)
            .map(|e| e.hooked = true)
            .is_some()
    }

    /// See [`TaskTable::waker_op`](super::TaskTable::waker_op).
    pub(crate) fn waker_op(&self, task: u64, delta: i64) -> Option<Wakers> {
        let mut shard = self.shard(task);
        let e = shard.tasks.get_mut(&task)?;
        e.wakers = e.wakers.saturating_add(delta);
        Some(Wakers {
            live: (e.wakers >= 0).then_some(e.wakers),
            closed: e.closed,
        })
    }

    pub(crate) fn span_closed(&self, task: u64) {
        if let Some(e) = self.shard(task).tasks.get_mut(&task) {
            e.closed = true;
        }
    }

    pub(crate) fn span_cloned(&self, task: u64) {
        if let Some(e) = self.shard(task).tasks.get_mut(&task) {
            e.refs = e.refs.saturating_add(1);
        }
    }

    /// One handle fewer: `Some(true)` for the last, `None` if the table lacks the task.
    pub(crate) fn span_released(&self, task: u64) -> Option<bool> {
        let mut shard = self.shard(task);
        let e = shard.tasks.get_mut(&task)?;
        e.refs = e.refs.saturating_sub(1);
        e.closed |= e.refs == 0;
        Some(e.refs == 0)
    }

    /// Adds the live wakers of the tasks in `live` this table holds to `out`.
    pub(crate) fn live_wakers(
        &self,
        patient: bool,
        live: &HashSet<u64>,
        out: &mut Vec<(u64, i64)>,
    ) {
        for shard in self.shards.iter() {
            let Some(shard) = lanes::lock(shard, patient, lanes::SHARD_LOCK_TRIES) else {
                continue;
            };
            out.extend(
                shard
                    .tasks
                    .iter()
                    .filter(|(id, e)| e.wakers >= 0 && live.contains(*id))
                    .map(|(&id, e)| (id, e.wakers)),
            );
        }
    }

    /// Adds the ids of the tasks alive now (spawned, not terminated) to `live`, and those
    /// of the async tasks the hooks never saw spawn (they run on a runtime without the
    /// hooks) to `unhooked`.
    pub(crate) fn live_and_unhooked(
        &self,
        patient: bool,
        (now, horizon): (u64, u64),
        live: &mut HashSet<u64>,
        unhooked: &mut Vec<u64>,
    ) {
        for shard in self.shards.iter() {
            let Some(shard) = lanes::lock(shard, patient, lanes::SHARD_LOCK_TRIES) else {
                continue;
            };
            for (&id, e) in &shard.tasks {
                if e.done_at == 0 {
                    live.insert(id);
                }
                if !e.hooked
                    && matches!(e.kind, TaskKind::Task | TaskKind::Local)
                    && !expired(e.done_at, now, horizon)
                {
                    unhooked.push(id);
                }
            }
        }
    }

    /// Adds every task the ring may still hold events of to `out`. With `patient ==
    /// false` (panic hook) a shard whose lock is held (perhaps by the panicking thread)
    /// is skipped rather than waited for.
    pub(crate) fn snapshot(
        &self,
        patient: bool,
        (now, horizon): (u64, u64),
        out: &mut Vec<TaskInfo>,
    ) {
        for shard in self.shards.iter() {
            let Some(shard) = lanes::lock(shard, patient, lanes::SHARD_LOCK_TRIES) else {
                continue;
            };
            out.extend(
                shard
                    .tasks
                    .iter()
                    .filter(|(_, e)| !expired(e.done_at, now, horizon))
                    .map(|(&id, e)| TaskInfo {
                        id,
                        name: shard.string(e.name).to_string(),
                        kind: e.kind,
                        location: e.location.map(|(f, line, col)| SpawnLocation {
                            file: dial9_format::short_source_path(shard.string(f)),
                            line,
                            col,
                        }),
                        spawned_by: e.parent,
                    }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(t: &Overflow, id: u64, name: &str) {
        t.insert(
            &SpawnInfo {
                task: id,
                name,
                kind: TaskKind::Task,
                location: Some((FileName::Static("src/main.rs"), 1, 2)),
                parent: None,
                hooked: true,
            },
            None,
        );
    }

    fn snapshot(t: &Overflow, now_horizon: (u64, u64)) -> Vec<u64> {
        let mut out = Vec::new();
        t.snapshot(true, now_horizon, &mut out);
        out.iter().map(|t| t.id).collect()
    }

    #[test]
    fn terminated_tasks_are_kept_until_the_ring_has_wrapped() {
        let t = Overflow::new();
        // All in the shard of task 1: ids 1, 65, 129, ...
        let ids: Vec<u64> = (0..600).map(|i| 1 + 64 * i).collect();
        spawn(&t, 2, "live elsewhere");
        // 100 tasks end at claim 10, then 500 more at claim 100; horizon 50. The table
        // sweeps whenever it has doubled, so memory stays within twice what it must keep.
        for &id in &ids[..100] {
            spawn(&t, id, "a");
            t.terminate(id, 10, 50);
        }
        for &id in &ids[100..] {
            spawn(&t, id, "b");
            t.terminate(id, 100, 50);
        }
        // What the shard still holds, expired or not: the sweep, not the snapshot's
        // filter, dropped the old ones.
        let left: Vec<u64> = t.shard(1).tasks.keys().copied().collect();
        assert!(snapshot(&t, (100, 50)).contains(&2));
        assert!(
            ids[..100].iter().all(|id| !left.contains(id)),
            "claim 10 is beyond the horizon"
        );
        assert!(
            ids[100..].iter().all(|id| left.contains(id)),
            "claim 100 is within it"
        );
    }

    #[test]
    fn unused_names_are_forgotten() {
        let t = Overflow::new();
        // 2,000 uniquely named tasks in one shard, all ended long ago, then one live task.
        for i in 0..2000u64 {
            let id = 1 + 64 * i;
            spawn(&t, id, &format!("conn-{i}"));
            t.terminate(id, 1, 0);
        }
        spawn(&t, 1 + 64 * 5000, "keeper");
        t.terminate(1 + 64 * 5001, 1_000, 0); // unknown id: just triggers a sweep
        for i in 0..300u64 {
            let id = 1 + 64 * (10_000 + i);
            spawn(&t, id, "late");
            t.terminate(id, 1_000, 0);
        }
        let shard = t.shard(1);
        assert!(
            shard.strings.len() < 100,
            "{} strings kept",
            shard.strings.len()
        );
        drop(shard);
        let mut out = Vec::new();
        t.snapshot(true, (1_000, 0), &mut out);
        let names: Vec<String> = out.into_iter().map(|t| t.name).collect();
        assert!(names.contains(&"keeper".to_string()));
    }

    #[test]
    fn names_are_interned() {
        let t = Overflow::new();
        spawn(&t, 1, "worker");
        spawn(&t, 65, "worker");
        let shard = t.shard(1);
        assert_eq!(shard.tasks[&1].name, shard.tasks[&65].name);
        assert_eq!(shard.strings.len(), 2, "one name, one file");
    }
}
