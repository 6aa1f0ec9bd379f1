//! A task's events, found without a list of every event's task: the index keeps, per
//! block of the event section, which tasks have events in it and how many (sorted by
//! task), and a task's events are read from those blocks when asked. A 10M-event dump's
//! tasks take ~1.3 bytes an event this way, against 12 for a task and a position per
//! event.
//!
//! [`TaskEvents`] is one task's view: its blocks with the number of its events before
//! each, so its `row`-th event is a binary search and a scan of one block.

use std::sync::{Arc, Mutex};

use dial9_format::EventColumns;

use super::index::{EventIdx, Index, TaskIdx};

/// Per block, the tasks with events in it and how many, sorted by task.
#[derive(Clone, Debug, Default)]
pub struct BlockTasks {
    blocks: Vec<Vec<(TaskIdx, u32)>>,
}

impl BlockTasks {
    /// Adds the next block's tasks (any order; each task once).
    pub(crate) fn push(&mut self, tasks: &[(TaskIdx, u32)]) {
        // Sorted as one integer each: a block has thousands.
        let mut packed: Vec<u64> = tasks
            .iter()
            .map(|&(t, n)| (u64::from(t) << 32) | u64::from(n))
            .collect();
        packed.sort_unstable();
        self.blocks.push(
            packed
                .into_iter()
                .map(|p| ((p >> 32) as u32, p as u32))
                .collect(),
        );
    }

    /// Blocks so far.
    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Task `t`'s blocks, with its events in each.
    fn of(&self, t: TaskIdx) -> Vec<(u32, u32)> {
        self.blocks
            .iter()
            .enumerate()
            .filter_map(|(b, tasks)| {
                let i = tasks.binary_search_by_key(&t, |&(t, _)| t).ok()?;
                Some((b as u32, tasks[i].1))
            })
            .collect()
    }
}

/// One task's events (see the module's doc).
#[derive(Debug)]
pub struct TaskEvents {
    task: u64,
    /// (block, the task's events before it, its events in it).
    blocks: Vec<(u32, u32, u32)>,
    len: usize,
    /// The positions of the task's events in the block last scanned.
    scanned: Mutex<Option<(u32, Arc<Vec<EventIdx>>)>>,
}

impl TaskEvents {
    pub(crate) fn new(ix: &Index, t: TaskIdx) -> TaskEvents {
        let mut before = 0u32;
        let blocks: Vec<(u32, u32, u32)> = ix
            .block_tasks
            .of(t)
            .into_iter()
            .map(|(b, n)| {
                let entry = (b, before, n);
                before += n;
                entry
            })
            .collect();
        TaskEvents {
            task: ix.tasks.get(t as usize).map_or(0, |t| t.id),
            blocks,
            len: before as usize,
            scanned: Mutex::new(None),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The task's events in block `b` (which must be one of its blocks).
    fn in_block(&self, ix: &Index, b: u32) -> Arc<Vec<EventIdx>> {
        let mut scanned = self.scanned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((sb, list)) = scanned.as_ref()
            && *sb == b
        {
            return list.clone();
        }
        let cols = ix.events.block(b as usize);
        let first = ix.events.blocks()[b as usize].first_event as EventIdx;
        let list = Arc::new(positions(&cols, self.task, first));
        *scanned = Some((b, list.clone()));
        list
    }

    /// The task's `row`-th event.
    pub fn get(&self, ix: &Index, row: usize) -> Option<EventIdx> {
        if row >= self.len {
            return None;
        }
        let k = self
            .blocks
            .partition_point(|&(_, before, _)| before as usize <= row)
            - 1;
        let (b, before, _) = self.blocks[k];
        self.in_block(ix, b).get(row - before as usize).copied()
    }

    pub fn first(&self, ix: &Index) -> Option<EventIdx> {
        self.get(ix, 0)
    }

    pub fn last(&self, ix: &Index) -> Option<EventIdx> {
        self.len.checked_sub(1).and_then(|r| self.get(ix, r))
    }

    /// How many of the task's events come before event `e`.
    pub fn rank(&self, ix: &Index, e: EventIdx) -> usize {
        let Some(b) = ix.events.block_of(e as usize) else {
            return self.len;
        };
        let k = self.blocks.partition_point(|&(x, _, _)| (x as usize) < b);
        match self.blocks.get(k) {
            Some(&(x, before, _)) if x as usize == b => {
                let list = self.in_block(ix, x);
                before as usize + list.partition_point(|&x| x < e)
            }
            Some(&(_, before, _)) => before as usize,
            None => self.len,
        }
    }

    /// The task's events from event `e` on, in order.
    pub fn from<'a>(&'a self, ix: &'a Index, e: EventIdx) -> impl Iterator<Item = EventIdx> + 'a {
        let start = self.rank(ix, e);
        let k = self
            .blocks
            .partition_point(|&(_, before, n)| (before + n) as usize <= start);
        self.blocks[k.min(self.blocks.len())..]
            .iter()
            .flat_map(move |&(b, before, _)| {
                let list = self.in_block(ix, b);
                let skip = start.saturating_sub(before as usize);
                (skip..list.len()).map(move |i| list[i])
            })
    }

    /// The task's events before event `e`, latest first.
    pub fn before<'a>(&'a self, ix: &'a Index, e: EventIdx) -> impl Iterator<Item = EventIdx> + 'a {
        let end = self.rank(ix, e);
        let k = self
            .blocks
            .partition_point(|&(_, before, _)| (before as usize) < end);
        self.blocks[..k]
            .iter()
            .rev()
            .flat_map(move |&(b, before, _)| {
                let list = self.in_block(ix, b);
                let take = (end - before as usize).min(list.len());
                (0..take).rev().map(move |i| list[i])
            })
    }

    /// Every event of the task, in order.
    pub fn all<'a>(&'a self, ix: &'a Index) -> impl Iterator<Item = EventIdx> + 'a {
        self.blocks.iter().flat_map(move |&(b, _, _)| {
            let list = self.in_block(ix, b);
            (0..list.len()).map(move |i| list[i])
        })
    }
}

/// Where task `id`'s events are in a block whose first event is `first`.
fn positions(cols: &EventColumns, id: u64, first: EventIdx) -> Vec<EventIdx> {
    (0..cols.len())
        .filter(|&i| cols.task_of(i) == Some(id))
        .map(|i| first + i as EventIdx)
        .collect()
}

impl Index {
    /// Task `t`'s events (kept for the last few tasks asked about).
    pub fn task_events(&self, t: TaskIdx) -> Arc<TaskEvents> {
        let mut cache = self
            .task_events_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(i) = cache.iter().position(|(x, _)| *x == t) {
            let hit = cache.remove(i);
            let list = hit.1.clone();
            cache.push(hit);
            return list;
        }
        let list = Arc::new(TaskEvents::new(self, t));
        if cache.len() >= 8 {
            cache.remove(0);
        }
        cache.push((t, list.clone()));
        list
    }
}
