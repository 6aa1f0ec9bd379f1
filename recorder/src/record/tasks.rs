//! Task names, kinds and spawn locations, kept apart from the ring.
//!
//! A task's spawn event is overwritten long before the task ends in a long-running
//! service, yet a dump must still name every task its events mention. So spawn info lives
//! in this table while the task is alive, and for a while after it terminates: until the
//! ring has been claimed all the way round since (then no event of that task can remain).
//!
//! Only spawn and terminate touch the table (polls, wakes and parks never do). It is split
//! into shards by task id, each behind its own short lock, the same way Tokio's own task
//! list is sharded, so two workers contend only when they spawn into the same shard at the
//! same instant. Names and file paths are interned per shard, so steady-state spawns of
//! already-seen names do not allocate strings.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use crate::format::{SpawnLocation, TaskInfo, TaskKind};

const SHARDS: usize = 64;

struct Entry {
    name: Arc<str>,
    kind: TaskKind,
    location: Option<(Arc<str>, u32, u32)>,
    parent: Option<u64>,
}

#[derive(Default)]
struct Shard {
    tasks: HashMap<u64, Entry>,
    /// Terminated tasks, oldest first, with the ring claim count at termination.
    done: VecDeque<(u64, u64)>,
    strings: HashSet<Arc<str>>,
}

impl Shard {
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(v) = self.strings.get(s) {
            return v.clone();
        }
        let v: Arc<str> = Arc::from(s);
        self.strings.insert(v.clone());
        v
    }
}

pub(crate) struct SpawnInfo<'a> {
    pub task: u64,
    pub name: &'a str,
    pub kind: TaskKind,
    pub location: Option<(&'a str, u32, u32)>,
    pub parent: Option<u64>,
}

pub(crate) struct TaskTable {
    shards: Box<[Mutex<Shard>]>,
}

impl TaskTable {
    pub(crate) fn new() -> TaskTable {
        TaskTable {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, task: u64) -> MutexGuard<'_, Shard> {
        self.shards[(task % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, info: SpawnInfo<'_>) {
        let mut shard = self.shard(info.task);
        let name = shard.intern(info.name);
        let location = info.location.map(|(f, l, c)| (shard.intern(f), l, c));
        shard.tasks.insert(
            info.task,
            Entry {
                name,
                kind: info.kind,
                location,
                parent: info.parent,
            },
        );
    }

    /// Marks a task terminated at ring claim `now`, and forgets terminated tasks whose
    /// events the ring has certainly overwritten (`horizon` claims ago).
    pub(crate) fn terminate(&self, task: u64, now: u64, horizon: u64) {
        let mut shard = self.shard(task);
        if !shard.tasks.contains_key(&task) {
            return;
        }
        shard.done.push_back((now, task));
        while let Some(&(at, old)) = shard.done.front() {
            if now.saturating_sub(at) <= horizon {
                break;
            }
            shard.done.pop_front();
            shard.tasks.remove(&old);
        }
    }

    /// Every task the table knows. With `patient == false` (panic hook) a shard whose lock
    /// is held (perhaps by the panicking thread) is skipped rather than waited for.
    pub(crate) fn snapshot(&self, patient: bool) -> Vec<TaskInfo> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let guard = if patient {
                Some(shard.lock().unwrap_or_else(|p| p.into_inner()))
            } else {
                let mut got = None;
                for _ in 0..100 {
                    match shard.try_lock() {
                        Ok(g) => {
                            got = Some(g);
                            break;
                        }
                        Err(TryLockError::Poisoned(p)) => {
                            got = Some(p.into_inner());
                            break;
                        }
                        Err(TryLockError::WouldBlock) => std::thread::yield_now(),
                    }
                }
                got
            };
            let Some(shard) = guard else { continue };
            out.extend(shard.tasks.iter().map(|(&id, e)| TaskInfo {
                id,
                name: e.name.to_string(),
                kind: e.kind,
                location: e.location.as_ref().map(|(f, l, c)| SpawnLocation {
                    file: f.to_string(),
                    line: *l,
                    col: *c,
                }),
                spawned_by: e.parent,
            }));
        }
        out.sort_by_key(|t| t.id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(t: &TaskTable, id: u64, name: &str) {
        t.insert(SpawnInfo {
            task: id,
            name,
            kind: TaskKind::Task,
            location: Some(("src/main.rs", 1, 2)),
            parent: None,
        });
    }

    #[test]
    fn terminated_tasks_are_kept_until_the_ring_has_wrapped() {
        let t = TaskTable::new();
        spawn(&t, 1, "a");
        spawn(&t, 65, "b"); // same shard as 1
        t.terminate(1, 10, 4);
        assert_eq!(t.snapshot(true).len(), 2);
        t.terminate(65, 14, 4);
        assert_eq!(
            t.snapshot(true).len(),
            2,
            "claim 10 is exactly at the horizon"
        );
        spawn(&t, 129, "c");
        t.terminate(129, 15, 4);
        let ids: Vec<u64> = t.snapshot(true).iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![65, 129]);
    }

    #[test]
    fn names_are_interned() {
        let t = TaskTable::new();
        spawn(&t, 1, "worker");
        spawn(&t, 65, "worker");
        let shard = t.shard(1);
        assert!(Arc::ptr_eq(&shard.tasks[&1].name, &shard.tasks[&65].name));
    }
}
