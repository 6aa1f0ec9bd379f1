//! Building the index: one pass over the events as the event section streams in, block by
//! block, one method per event kind. Nothing of the size of the event list is kept: what
//! the pass keeps per event is a poll's or a wake's few columns, and a block's tasks.
//!
//! Events arrive as Tokio emits them, which is not always the order they happened in:
//! the after-poll hook runs after the task was released, so when the OS preempts a worker
//! between the poll and its hook, the same task's next poll can start on another worker
//! before the first poll's end is recorded. So polls are paired per lane (a poll's end is
//! on the lane its start is on), and a task may have two polls open on two lanes. A poll
//! whose end is missing (torn, or the ring lost it) is closed at its lane's next sign of
//! leaving it and marked end-unknown; it is "in progress at the dump" only when the
//! lane's own state at the dump says so.

use std::ops::ControlFlow;

use rustc_hash::FxHashMap as HashMap;

use dial9_format::{
    Activity, Dump, EventColumns, EventKind, EventSection, ReadError, TaskKind, ThreadInfo,
    ThreadKind, WakeSource,
};

use super::anomaly::{self, Thresholds};
use super::events::EventStore;
use super::index::{CpuSample, EventIdx, Index, Lane, LongWait, NONE, Park, TaskIdx, TaskState};
use super::polls::{LanePolls, PollIdx, Polls};
use super::task_events::BlockTasks;
use super::wakes::Wakes;

/// Lane ids below this are looked up in a vector; others (hand-made dumps) in a map.
const DIRECT_LANES: u32 = 1 << 16;

/// The stream was not in time order (a damaged or hand-made file): it is read whole and
/// sorted instead.
pub(crate) struct Disordered;

/// A task's wait for its next poll: a wake (its index in `Wakes`) and since when it waits.
#[derive(Clone, Copy)]
struct Waiting {
    wake: u32,
    at_ns: u64,
    /// Who woke it (`None`: Tokio's schedule latency), and the lane of its event.
    source: Option<WakeSource>,
    lane: u32,
    waits_from_ns: u64,
    /// The wake came from the runtime (the timer or I/O driver), or is Tokio's schedule
    /// latency (no wake event): a timer may explain it.
    driver: bool,
}

/// Per task, what most of its events touch, side by side in one cache line: a 10M-event
/// dump's events come for thousands of tasks in no order, and a field in each of several
/// arrays costs a cache miss each. Copied into the task table when the pass is over.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Hot {
    id: u64,
    /// Its live wakers after its latest waker op in the window, when known (`KNOWN`:
    /// from the count the recorder put in the op, or counted from its spawn).
    wakers: i64,
    /// The deadline of the timer it armed last and has not been polled since (`ARMED`).
    armed: u64,
    busy_ns: u64,
    longest_poll_ns: u64,
    longest_sched_ns: u64,
    polls: u32,
    wakes: u32,
    self_wakes: u32,
    flags: u8,
}

/// `Hot::flags`: the live wakers are known, a timer is armed, it had a waker op in the
/// window, it was woken (or armed a timer) since its last poll started, a poll completed
/// it since.
const KNOWN: u8 = 1;
const ARMED: u8 = 2;
const HAD_OP: u8 = 4;
const WOKEN: u8 = 8;
const COMPLETED: u8 = 16;

impl Hot {
    fn wakers(&self) -> Option<i64> {
        (self.flags & KNOWN != 0).then_some(self.wakers)
    }

    fn set_wakers(&mut self, n: Option<i64>) {
        match n {
            Some(n) => {
                self.wakers = n;
                self.flags |= KNOWN;
            }
            None => self.flags &= !KNOWN,
        }
    }

    fn armed(&self) -> Option<u64> {
        (self.flags & ARMED != 0).then_some(self.armed)
    }

    fn set_armed(&mut self, deadline: Option<u64>) {
        match deadline {
            Some(d) => {
                self.armed = d;
                self.flags |= ARMED;
            }
            None => self.flags &= !ARMED,
        }
    }

    fn flag(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// What a task did since its last poll started, for the lost-waker rule.
#[derive(Clone, Copy, Default)]
pub(crate) struct SincePoll {
    /// Its last poll start (`NONE` before any).
    pub(crate) poll_start: EventIdx,
    pub(crate) poll_start_ns: u64,
    pub(crate) poll_start_lane: u32,
    /// A wake or a timer armed since.
    pub(crate) woken: bool,
    pub(crate) completed: bool,
    /// Its first termination since, the live wakers just before it (if known), and the
    /// op that last took them to zero before it (see [`WakerLevels`]).
    pub(crate) terminate: EventIdx,
    pub(crate) wakers_at_terminate: Option<i64>,
    pub(crate) zeroed_before_terminate: Zeroing,
}

/// The waker op that last took a task's live wakers to zero, as far as the ops in the
/// window tell (see [`WakerLevels`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Zeroing {
    /// No op did.
    #[default]
    None,
    At(Dropped),
    /// The task's count moved over more levels than are kept: walk its events to know.
    Unknown,
}

/// A waker op that dropped a task's count, and where it happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub(crate) event: EventIdx,
    pub(crate) ts_ns: u64,
    pub(crate) lane: u32,
    /// The task its lane was polling at the op (`NONE`: none).
    pub(crate) inside: TaskIdx,
}

/// A task's waker ops as levels: its live wakers relative to the first op in the window
/// (deltas only, as a count that is not known absolutely can only be), and for each
/// level the last op that dropped the count to it. Whatever the count is at a moment, the
/// op that last took it to zero, were that count zero, is the last drop to that level.
/// Most tasks' counts move between two levels, kept in place (a list elsewhere would
/// cost a cache miss on every drop); up to [`LEVELS_KEPT`] levels in all: a task whose
/// count wanders further is walked.
#[derive(Clone, Debug, Default)]
pub(crate) struct WakerLevels {
    level: i32,
    near: [(i32, Dropped); 2],
    near_len: u8,
    far: Vec<(i32, Dropped)>,
    overflowed: bool,
}

const LEVELS_KEPT: usize = 64;

impl WakerLevels {
    fn rise(&mut self) {
        self.level = self.level.saturating_add(1);
    }

    fn op(&mut self, op: Dropped, delta: i64) {
        self.level = self.level.saturating_add(delta as i32);
        if delta >= 0 || self.overflowed {
            return;
        }
        let level = self.level;
        let near_len = usize::from(self.near_len);
        let found = self.near[..near_len]
            .iter_mut()
            .chain(self.far.iter_mut())
            .find(|(l, _)| *l == level);
        if let Some((_, d)) = found {
            *d = op;
        } else if near_len < self.near.len() {
            self.near[near_len] = (level, op);
            self.near_len += 1;
        } else if self.far.len() + near_len >= LEVELS_KEPT {
            self.overflowed = true;
            self.far = Vec::new();
        } else {
            self.far.push((level, op));
        }
    }

    /// The op that last took the count to zero, were it zero now.
    pub(crate) fn zeroing(&self) -> Zeroing {
        if self.overflowed {
            return Zeroing::Unknown;
        }
        self.near[..usize::from(self.near_len)]
            .iter()
            .chain(&self.far)
            .find(|(l, _)| *l == self.level)
            .map_or(Zeroing::None, |&(_, d)| Zeroing::At(d))
    }
}

struct Builder {
    /// The window: its first event and the dump's moment. Busy time counts inside it only
    /// (a poll known from its end may have started before the window).
    start_ns: u64,
    tasks: Vec<super::index::Task>,
    /// Task positions by id for the ids the dense table does not cover: the mapper's,
    /// once the pass is over (it gives the positions; nothing here looks one up before).
    task_by_id: HashMap<u64, TaskIdx>,
    lanes: Vec<Lane>,
    lane_polls: Vec<LanePolls>,
    /// Per lane: the poll open on it (its place in the lane), and since when it parked.
    lane_open: Vec<Option<u32>>,
    lane_park: Vec<Option<u64>>,
    /// The mapper's, as `task_by_id` is.
    lane_by_id: HashMap<u32, usize>,
    /// Per task: what it did since its last poll.
    since_poll: Vec<SincePoll>,
    /// Per task: where its longest poll is (lane position, place).
    longest: Vec<Option<(u32, u32)>>,
    /// The watchdog's looks and stacks (`PollSample`, `PollStack`), few among many: the
    /// event, its task and its time.
    samples: Vec<(EventIdx, TaskIdx, u64)>,
    wakes: Wakes,
    long_waits: Vec<LongWait>,
    sched_warn: u64,
    /// Per task: wakes waiting for its next poll.
    waiting: Vec<Vec<Waiting>>,
    /// Per task: what most of its events touch, in one cache line.
    hot: Vec<Hot>,
    /// Per task: its waker ops as levels.
    levels: Vec<WakerLevels>,
    /// Per block of events, its tasks, and the dense part of the task ids' lookup (the
    /// mapper's, once the pass is over).
    block_tasks: BlockTasks,
    dense: DenseIds,
    /// See [`Index::spawns_less_ends`].
    spawns_less_ends: (i64, i64),
}

/// The first stage of the pass, on the thread that reads the blocks: each event's task
/// and lane as positions in the index's tables (adding those the tables lack), and what
/// is counted per task and lane. The builder, on the caller's thread, does the rest.
struct Mapper {
    tasks: u32,
    task_by_id: HashMap<u64, TaskIdx>,
    /// Task ids to positions for the ids the task table's range covers (Tokio numbers its
    /// tasks in order, so a dump's ids are nearly dense): a lookup in a small array
    /// instead of a hash map, once per event.
    dense: DenseIds,
    lanes: u32,
    lane_direct: Vec<u32>,
    lane_by_id: HashMap<u32, usize>,
    /// Per lane: its events, and the time of its first and last.
    lane_events: Vec<(u32, u64, u64)>,
    /// Per task, side by side (one cache line for all four): its events, its first, the
    /// block it was last seen in and its events there.
    per_task: Vec<TaskCounts>,
    block_seen: Vec<TaskIdx>,
    block_tasks: BlockTasks,
    /// The last event's time (the stream must be in time order).
    last_ts: u64,
}

#[derive(Clone, Copy)]
struct TaskCounts {
    events: u32,
    first_event: EventIdx,
    block: u32,
    in_block: u32,
}

/// What the first stage made of a block.
#[derive(Default)]
struct Mapped {
    /// Each event's task (`NONE`: none) and lane, as positions.
    task: Vec<TaskIdx>,
    lane: Vec<u32>,
    /// Tasks and lanes first seen in the block, in the order they were given positions.
    new_tasks: Vec<u64>,
    new_lanes: Vec<u32>,
    /// The block breaks time order.
    disordered: bool,
}

impl Mapper {
    fn new(dump: &Dump) -> Mapper {
        let mut m = Mapper {
            tasks: 0,
            task_by_id: HashMap::default(),
            dense: DenseIds::new(dump.tasks.iter().map(|t| t.id)),
            lanes: 0,
            lane_direct: Vec::new(),
            lane_by_id: HashMap::default(),
            lane_events: Vec::new(),
            per_task: Vec::new(),
            block_seen: Vec::new(),
            block_tasks: BlockTasks::default(),
            last_ts: 0,
        };
        m.task_by_id.reserve(dump.tasks.len());
        for t in &dump.tasks {
            m.add_task(t.id);
        }
        for info in &dump.threads {
            m.add_lane(info.lane);
        }
        m
    }

    fn add_task(&mut self, id: u64) -> TaskIdx {
        let t = self.tasks;
        self.tasks += 1;
        match self.dense.slot(id) {
            Some(slot) => *slot = t,
            None => {
                self.task_by_id.insert(id, t);
            }
        }
        self.per_task.push(TaskCounts {
            events: 0,
            first_event: NONE,
            block: NONE,
            in_block: 0,
        });
        t
    }

    /// The position of task `id`, added (and listed in `new`) if not known.
    fn task(&mut self, id: u64, new: &mut Vec<u64>) -> TaskIdx {
        if let Some(&mut t) = self.dense.slot(id)
            && t != NONE
        {
            return t;
        }
        if let Some(&t) = self.task_by_id.get(&id) {
            return t;
        }
        new.push(id);
        self.add_task(id)
    }

    fn add_lane(&mut self, lane: u32) -> usize {
        let li = self.lanes as usize;
        self.lanes += 1;
        if lane < DIRECT_LANES {
            let at = lane as usize;
            if self.lane_direct.len() <= at {
                self.lane_direct.resize(at + 1, NONE);
            }
            self.lane_direct[at] = li as u32;
        }
        self.lane_by_id.insert(lane, li);
        self.lane_events.push((0, 0, 0));
        li
    }

    /// The position of lane `lane`, added (and listed in `new`) if not known.
    fn lane(&mut self, lane: u32, new: &mut Vec<u32>) -> usize {
        if let Some(&li) = self.lane_direct.get(lane as usize)
            && li != NONE
        {
            return li as usize;
        }
        if let Some(&li) = self.lane_by_id.get(&lane) {
            return li;
        }
        new.push(lane);
        self.add_lane(lane)
    }

    /// Maps a block whose first event is `first`, into `out` (reused).
    fn block(&mut self, cols: &EventColumns, first: EventIdx, out: &mut Mapped) {
        out.task.clear();
        out.lane.clear();
        out.new_tasks.clear();
        out.new_lanes.clear();
        out.disordered = false;
        if first == 0 && !cols.is_empty() {
            self.last_ts = cols.ts(0);
        }
        let block = self.block_tasks.len() as u32;
        for i in 0..cols.len() {
            let ts = cols.ts(i);
            if ts < self.last_ts {
                out.disordered = true;
                return;
            }
            self.last_ts = ts;
            let li = self.lane(cols.lane(i), &mut out.new_lanes);
            out.lane.push(li as u32);
            let l = &mut self.lane_events[li];
            if l.0 == 0 {
                l.1 = ts;
            }
            l.2 = ts;
            l.0 += 1;
            let t = match cols.task_of(i) {
                Some(id) => self.task(id, &mut out.new_tasks),
                None => NONE,
            };
            out.task.push(t);
            if t != NONE {
                let c = &mut self.per_task[t as usize];
                c.events += 1;
                if c.first_event == NONE {
                    c.first_event = first + i as EventIdx;
                }
                if c.block != block {
                    c.block = block;
                    c.in_block = 0;
                    self.block_seen.push(t);
                }
                c.in_block += 1;
            }
        }
        let tasks: Vec<(TaskIdx, u32)> = self
            .block_seen
            .drain(..)
            .map(|t| (t, self.per_task[t as usize].in_block))
            .collect();
        self.block_tasks.push(&tasks);
    }
}

/// Task indices by id for ids in `base..base + slots.len()` (`NONE`: not seen yet).
#[derive(Clone, Debug, Default)]
pub(crate) struct DenseIds {
    base: u64,
    slots: Vec<TaskIdx>,
}

impl DenseIds {
    /// Covers the ids of `ids` when they are dense enough to pay.
    fn new(ids: impl Iterator<Item = u64> + Clone) -> DenseIds {
        let (Some(min), Some(max)) = (ids.clone().min(), ids.clone().max()) else {
            return DenseIds::default();
        };
        let n = ids.count() as u64;
        // Ids anywhere in u64 (a hand-made or damaged table): the map alone.
        let span = (max - min).saturating_add(1);
        if span > n.saturating_mul(4).saturating_add(1 << 16) {
            return DenseIds::default();
        }
        // Room above for the tasks spawned in the window that the table does not hold.
        let room = span + span / 4 + 1024;
        DenseIds {
            base: min,
            slots: vec![NONE; room as usize],
        }
    }

    fn slot(&mut self, id: u64) -> Option<&mut TaskIdx> {
        let at = id.checked_sub(self.base)?;
        self.slots.get_mut(usize::try_from(at).ok()?)
    }

    /// The task of `id`, if its slot holds one.
    pub(crate) fn get(&self, id: u64) -> Option<TaskIdx> {
        let at = usize::try_from(id.checked_sub(self.base)?).ok()?;
        self.slots.get(at).copied().filter(|&t| t != NONE)
    }
}

impl Index {
    pub fn build(dump: Dump, thresholds: Thresholds) -> Index {
        Self::build_with_progress(dump, thresholds, &mut |_| {})
    }

    /// Indexes a dump held in memory (its events encoded as blocks in memory first, so it
    /// goes the way a file does), calling `progress` with a fraction in 0..=1 now and then.
    pub fn build_with_progress(
        mut dump: Dump,
        thresholds: Thresholds,
        progress: &mut dyn FnMut(f64),
    ) -> Index {
        // Every rule assumes time order: a dump that breaks it is sorted (stably, so
        // same-time events keep their recorded order) and says so.
        let reordered = dump
            .events
            .windows(2)
            .filter(|w| w[1].ts_ns < w[0].ts_ns)
            .count();
        if reordered > 0 {
            dump.events.sort_by_key(|e| e.ts_ns);
        }
        let (dump, section) = dump.into_section();
        match Self::from_section(dump, section, thresholds, progress) {
            Ok(mut ix) => {
                ix.reordered = reordered;
                ix
            }
            // Sorted above: a stream of sorted events is in order.
            Err(Disordered) => unreachable!("sorted events streamed out of order"),
        }
    }

    /// Opens the dump at `path` and indexes it as it streams from the file.
    pub fn open(
        path: &std::path::Path,
        thresholds: Thresholds,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Index, ReadError> {
        let (dump, section) = Dump::open(path)?;
        match Self::from_section(dump, section, thresholds, progress) {
            Ok(ix) => Ok(ix),
            // Not in time order: the whole dump in memory, sorted.
            Err(Disordered) => Ok(Self::build_with_progress(
                Dump::read(path)?,
                thresholds,
                progress,
            )),
        }
    }

    fn from_section(
        mut dump: Dump,
        section: EventSection,
        thresholds: Thresholds,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Index, Disordered> {
        crate::fmt::sanitize_dump(&mut dump);
        let claimed = section.events_claimed().max(1) as f64;
        let mut b = Builder::new(&dump, thresholds.sched_warn);
        let mut mapper = Mapper::new(&dump);
        let mut seen = 0u64;
        let (blocks, damage) = section
            .scan_staged(
                |cols, entry, reused: Option<Mapped>| {
                    let mut out = reused.unwrap_or_default();
                    mapper.block(cols, entry.first_event as EventIdx, &mut out);
                    out
                },
                |cols, entry, mapped| {
                    progress(seen as f64 / claimed);
                    seen += u64::from(entry.count);
                    b.block(cols, entry.first_event as EventIdx, mapped)
                },
            )
            .map_err(|_| Disordered)?;
        b.take_counts(mapper);
        // A dump read whole says what its reading lost; one streamed, what the stream did.
        if dump.damage.is_none() {
            dump.damage = damage;
        }
        let events = EventStore::new(blocks);
        let start_ns = events.first().map_or(dump.header.dumped_at_ns, |e| e.ts_ns);
        let end_ns = dump
            .header
            .dumped_at_ns
            .max(events.last().map_or(0, |e| e.ts_ns));
        let mut ix = b.finish(dump, events, start_ns, end_ns, thresholds);
        progress(1.0);
        anomaly::settle(&mut ix);
        Ok(ix)
    }
}

impl Builder {
    fn new(dump: &Dump, sched_warn: u64) -> Builder {
        let mut b = Builder {
            start_ns: 0,
            tasks: Vec::with_capacity(dump.tasks.len()),
            task_by_id: HashMap::default(),
            lanes: Vec::new(),
            lane_polls: Vec::new(),
            lane_open: Vec::new(),
            lane_park: Vec::new(),
            lane_by_id: HashMap::default(),
            since_poll: Vec::new(),
            longest: Vec::new(),
            samples: Vec::new(),
            wakes: Wakes::default(),
            long_waits: Vec::new(),
            sched_warn,
            waiting: Vec::new(),
            hot: Vec::new(),
            levels: Vec::new(),
            block_tasks: BlockTasks::default(),
            dense: DenseIds::default(),
            spawns_less_ends: (0, 0),
        };
        for t in &dump.tasks {
            b.tasks.push(super::index::Task::new(
                t.id,
                t.name.clone(),
                t.kind,
                t.location.clone(),
                t.spawned_by,
            ));
        }
        b.grow_tasks();
        for info in &dump.threads {
            b.add_lane(info.clone());
        }
        b
    }

    fn grow_tasks(&mut self) {
        let n = self.tasks.len();
        if self.since_poll.len() < n {
            self.since_poll.resize(
                n,
                SincePoll {
                    poll_start: NONE,
                    terminate: NONE,
                    ..SincePoll::default()
                },
            );
            self.longest.resize(n, None);
            self.waiting.resize_with(n, Vec::new);
            let from = self.hot.len();
            self.hot.extend(self.tasks[from..].iter().map(|t| Hot {
                id: t.id,
                ..Hot::default()
            }));
            self.levels.resize_with(n, WakerLevels::default);
        }
    }

    /// A task the mapper first saw in the window, added at the position it gave it.
    fn add_task(&mut self, id: u64) {
        self.tasks.push(super::index::Task::new(
            id,
            String::new(),
            TaskKind::Unknown,
            None,
            None,
        ));
        self.grow_tasks();
    }

    fn add_lane(&mut self, info: ThreadInfo) -> usize {
        let li = self.lanes.len();
        self.lanes.push(Lane::new(info));
        self.lane_polls.push(LanePolls::default());
        self.lane_open.push(None);
        self.lane_park.push(None);
        li
    }

    /// One block of events, as the mapper mapped it; stops the stream if they are out of
    /// time order.
    fn block(
        &mut self,
        cols: &EventColumns,
        first: EventIdx,
        mapped: &Mapped,
    ) -> ControlFlow<Disordered> {
        if mapped.disordered {
            return ControlFlow::Break(Disordered);
        }
        if first == 0 && !cols.is_empty() {
            self.start_ns = cols.ts(0);
        }
        for &id in &mapped.new_tasks {
            self.add_task(id);
        }
        for &lane in &mapped.new_lanes {
            self.add_lane(ThreadInfo {
                lane,
                os_tid: 0,
                name: format!("lane {lane}"),
                worker: None,
                kind: ThreadKind::Other,
            });
        }
        // The mapper gave each event a lane and a task: a block's columns are as long.
        debug_assert!(mapped.lane.len() == cols.len() && mapped.task.len() == cols.len());
        let rows = cols
            .kinds()
            .zip(cols.times())
            .zip(&mapped.lane)
            .zip(&mapped.task);
        for ((((kind, &ts), &lane), &t), e) in rows.zip(first..) {
            self.event(e, ts, lane as usize, (t != NONE).then_some(t), kind);
        }
        ControlFlow::Continue(())
    }

    /// What the mapper counted, once the pass is over.
    fn take_counts(&mut self, m: Mapper) {
        self.dense = m.dense;
        self.task_by_id = m.task_by_id;
        self.lane_by_id = m.lane_by_id;
        for (li, &(events, first_ns, last_ns)) in m.lane_events.iter().enumerate() {
            let l = &mut self.lanes[li];
            (l.events, l.first_ns, l.last_ns) = (events, first_ns, last_ns);
        }
        for (task, c) in self.tasks.iter_mut().zip(&m.per_task) {
            task.events = c.events;
            task.first_event = c.first_event;
        }
        self.block_tasks = m.block_tasks;
    }

    /// A waker op: the count it carries, or the last known count moved by `delta`.
    fn waker_op(&mut self, op: (EventIdx, u64, usize), t: TaskIdx, live: Option<u64>, delta: i64) {
        let t = t as usize;
        self.hot[t].flags |= HAD_OP;
        if delta < 0 {
            let (event, ts_ns, li) = op;
            let inside = self.lane_open[li].map_or(NONE, |i| self.lane_polls[li].task(i as usize));
            let lane = self.lanes[li].info.lane;
            self.levels[t].op(
                Dropped {
                    event,
                    ts_ns,
                    lane,
                    inside,
                },
                delta,
            );
        } else {
            self.levels[t].rise();
        }
        let hot = &mut self.hot[t];
        hot.set_wakers(match live {
            Some(n) => Some(n as i64),
            None => hot.wakers().map(|n| n + delta),
        });
    }

    /// Event `e` at `ts` on the lane at position `li`, about `task`.
    ///
    /// Inlined into the block's loop, where `kind` is decoded from its code byte: the
    /// compiler then goes from the code straight to this match's arm (one jump on the
    /// event's kind, which no CPU predicts, where there were two). 8% of `report` on the
    /// 10M-event bench dump.
    #[inline(always)]
    fn event(&mut self, e: EventIdx, ts: u64, li: usize, task: Option<TaskIdx>, kind: EventKind) {
        let lane = self.lanes[li].info.lane;
        let born = match kind {
            EventKind::Spawn { .. } => 1,
            EventKind::Terminate { .. } => -1,
            _ => 0,
        };
        if born != 0 {
            let (net, lowest) = &mut self.spawns_less_ends;
            *net += born;
            *lowest = (*lowest).min(*net);
        }
        match (kind, task) {
            (EventKind::Spawn { .. }, Some(t)) => {
                self.tasks[t as usize].whole_history = true;
                self.hot[t as usize].set_wakers(Some(0));
            }
            (EventKind::PollStart { .. }, Some(t)) => self.poll_start(e, ts, li, t),
            (
                EventKind::PollEnd {
                    completed,
                    duration_ns,
                    ..
                },
                Some(t),
            ) => self.poll_end(e, ts, li, t, completed, duration_ns),
            (EventKind::Wake { by_ref, source, .. }, Some(t)) => {
                self.wake((e, ts, li), lane, t, by_ref, source)
            }
            (EventKind::WakerClone { live, .. }, Some(t)) => self.waker_op((e, ts, li), t, live, 1),
            (EventKind::WakerDrop { live, .. }, Some(t)) => self.waker_op((e, ts, li), t, live, -1),
            (EventKind::Terminate { .. }, Some(t)) => {
                let task = &mut self.tasks[t as usize];
                task.state = TaskState::Done;
                task.terminated_ns = Some(ts);
                let since = &mut self.since_poll[t as usize];
                if since.poll_start != NONE && since.terminate == NONE {
                    since.terminate = e;
                    since.wakers_at_terminate = self.hot[t as usize].wakers();
                    since.zeroed_before_terminate = self.levels[t as usize].zeroing();
                }
            }
            (EventKind::Scheduled { latency_ns, .. }, Some(t)) => {
                self.scheduled(e, ts, lane, t, latency_ns)
            }
            (EventKind::TimerArm { duration_ms, .. }, Some(t)) => {
                let deadline_ns = ts.saturating_add(duration_ms.saturating_mul(1_000_000));
                let hot = &mut self.hot[t as usize];
                hot.set_armed(Some(deadline_ns));
                hot.flags |= WOKEN;
            }
            (EventKind::PollSample { .. } | EventKind::PollStack { .. }, Some(t)) => {
                self.samples.push((e, t, ts))
            }
            (EventKind::Park, _) => {
                self.leave_poll(li, ts);
                self.lane_park[li] = Some(ts);
            }
            (EventKind::ThreadStop, _) => self.leave_poll(li, ts),
            (EventKind::Unpark { .. }, _) => self.unpark(li, ts),
            (
                EventKind::CpuStat {
                    on_cpu_ns,
                    runq_wait_ns,
                },
                _,
            ) => self.lanes[li].cpu.push(CpuSample {
                at_ns: ts,
                on_cpu_ns,
                runq_wait_ns,
            }),
            _ => {}
        }
    }

    fn poll_start(&mut self, e: EventIdx, ts: u64, li: usize, t: TaskIdx) {
        // A poll still open on this lane lost its end: this lane has moved on.
        self.leave_poll(li, ts);
        let i = self.lane_polls[li].open(t, ts, e);
        self.lane_open[li] = Some(i);
        let ti = t as usize;
        self.since_poll[ti] = SincePoll {
            poll_start: e,
            poll_start_ns: ts,
            poll_start_lane: self.lanes[li].info.lane,
            terminate: NONE,
            ..SincePoll::default()
        };
        let hot = &mut self.hot[ti];
        hot.flags &= !(WOKEN | COMPLETED);
        hot.polls += 1;
        // A timer that came due before this poll: the task waited for it from its
        // deadline, however late the wake itself came (a hog holding the only worker
        // also holds back the timer driver).
        let armed = hot.armed();
        hot.set_armed(None);
        let mut timer_wait_found = false;
        let had_wakes = !self.waiting[ti].is_empty();
        let mut first_long = true;
        let waiting = std::mem::take(&mut self.waiting[ti]);
        for w in &waiting {
            let mut waits_from = w.waits_from_ns;
            let mut late = false;
            // Only a wake from the runtime (the timer driver) is the timer's; a wake from
            // elsewhere means the task waited on something else (`select!` on a sleep and
            // a channel), and its deadline says nothing about this wait.
            if let Some(deadline) = armed
                && deadline <= ts
                && w.at_ns >= deadline
                && w.driver
            {
                waits_from = waits_from.min(deadline);
                late = true;
                timer_wait_found = true;
            }
            let delay = ts.saturating_sub(waits_from);
            self.wakes.settle(w.wake, delay, true, late);
            let hot = &mut self.hot[ti];
            hot.longest_sched_ns = hot.longest_sched_ns.max(delay);
            if self.long_wait(w, t, waits_from, Some(ts), delay, first_long) {
                first_long = false;
            }
        }
        // Keep the vector's room for the task's next wait.
        let mut waiting = waiting;
        waiting.clear();
        self.waiting[ti] = waiting;
        if let Some(deadline) = armed
            && deadline <= ts
            && !timer_wait_found
            && !had_wakes
        {
            // No wake event for it (no tracing layer): the timer's lateness alone, pointing
            // at this poll (wakes stay in event order).
            let wake = self.wakes.push(e, true);
            let delay = ts.saturating_sub(deadline);
            self.wakes.settle(wake, delay, true, true);
            let hot = &mut self.hot[ti];
            hot.longest_sched_ns = hot.longest_sched_ns.max(delay);
            let w = Waiting {
                wake,
                at_ns: deadline,
                source: None,
                lane: self.lanes[li].info.lane,
                waits_from_ns: deadline,
                driver: true,
            };
            self.long_wait(&w, t, deadline, Some(ts), delay, first_long);
        }
    }

    /// A wait of at least the scheduling-delay warning, kept for the rules (the first
    /// of those a poll ended is that poll's delay).
    /// Returns whether it was one.
    fn long_wait(
        &mut self,
        w: &Waiting,
        task: TaskIdx,
        waits_from_ns: u64,
        poll_at: Option<u64>,
        delay_ns: u64,
        first_of_poll: bool,
    ) -> bool {
        if delay_ns < self.sched_warn {
            return false;
        }
        self.long_waits.push(LongWait {
            wake: w.wake,
            task,
            source: w.source,
            lane: w.lane,
            at_ns: w.at_ns,
            waits_from_ns,
            poll_at,
            delay_ns,
            first_of_poll,
        });
        true
    }

    fn poll_end(
        &mut self,
        e: EventIdx,
        ts: u64,
        li: usize,
        t: TaskIdx,
        completed: bool,
        duration_ns: Option<u64>,
    ) {
        match self.lane_open[li] {
            Some(i) if self.lane_polls[li].task(i as usize) == t => {
                self.lane_open[li] = None;
                self.close_poll(li, i, ts, completed, false);
            }
            // Another task's poll is open here: both ends are confused (lost events);
            // that one ends now with its end unknown, and this end has no start.
            Some(_) => self.leave_poll(li, ts),
            // The start was overwritten; the end still says how long the poll ran (the
            // recorder measured it), which is all a long poll needs.
            None => {
                if let Some(d) = duration_ns {
                    let i = self.lane_polls[li].open(t, ts.saturating_sub(d), e);
                    self.lane_polls[li].mark_start_overwritten(i as usize);
                    self.hot[t as usize].polls += 1;
                    self.close_poll(li, i, ts, completed, false);
                }
            }
        }
        if completed {
            self.tasks[t as usize].state = TaskState::Done;
            self.hot[t as usize].flags |= COMPLETED;
        }
    }

    /// The lane left whatever poll it had open, whose end was not recorded.
    fn leave_poll(&mut self, li: usize, ts: u64) {
        if let Some(i) = self.lane_open[li].take() {
            self.close_poll(li, i, ts, false, true);
        }
    }

    fn close_poll(&mut self, li: usize, i: u32, ts: u64, completed: bool, unknown: bool) {
        let polls = &mut self.lane_polls[li];
        let (t, start) = (polls.task(i as usize), polls.start(i as usize));
        polls.close(i as usize, ts, completed, unknown);
        let d = ts.saturating_sub(start);
        let inside = ts.saturating_sub(start.max(self.start_ns));
        let l = &mut self.lanes[li];
        l.busy_ns = l.busy_ns.saturating_add(inside);
        let hot = &mut self.hot[t as usize];
        hot.busy_ns = hot.busy_ns.saturating_add(inside);
        // A poll whose end is unknown is not a measurement: never the longest.
        if !unknown && (d >= hot.longest_poll_ns || self.longest[t as usize].is_none()) {
            hot.longest_poll_ns = d;
            self.longest[t as usize] = Some((li as u32, i));
        }
        // Wakes that arrived during this poll wait from its end.
        for w in &mut self.waiting[t as usize] {
            w.waits_from_ns = w.waits_from_ns.max(ts);
        }
    }

    fn wake(
        &mut self,
        (e, ts, li): (EventIdx, u64, usize),
        lane: u32,
        t: TaskIdx,
        by_ref: bool,
        source: WakeSource,
    ) {
        let ti = t as usize;
        let hot = &mut self.hot[ti];
        hot.wakes += 1;
        if source == WakeSource::Task(hot.id) {
            hot.self_wakes += 1;
        }
        hot.flags |= WOKEN;
        if !by_ref {
            self.waker_op((e, ts, li), t, None, -1);
        }
        // A driver wake at or after an armed timer's deadline (1 ms slack for the timer
        // wheel's rounding) is that timer firing. Any other wake: the task is woken for
        // something else, and the armed timer no longer says when it meant to run.
        let hot = &mut self.hot[ti];
        let timer = source == WakeSource::Driver
            && hot
                .armed()
                .is_some_and(|d| ts.saturating_add(1_000_000) >= d);
        if source != WakeSource::Driver {
            hot.set_armed(None);
        }
        let wake = self.wakes.push(e, timer);
        self.waiting[ti].push(Waiting {
            wake,
            at_ns: ts,
            source: Some(source),
            lane,
            waits_from_ns: ts,
            driver: source == WakeSource::Driver,
        });
    }

    /// Without wake events (no tracing layer), Tokio's own measure of how long the task
    /// waited since it was scheduled stands in for the wake.
    fn scheduled(&mut self, e: EventIdx, ts: u64, lane: u32, t: TaskIdx, latency_ns: u64) {
        if !self.waiting[t as usize].is_empty() {
            return;
        }
        let from = ts.saturating_sub(latency_ns);
        let wake = self.wakes.push(e, false);
        self.waiting[t as usize].push(Waiting {
            wake,
            at_ns: from,
            source: None,
            lane,
            waits_from_ns: from,
            driver: true,
        });
    }

    fn unpark(&mut self, li: usize, ts: u64) {
        if let Some(s) = self.lane_park[li].take() {
            let l = &mut self.lanes[li];
            l.parked_ns = l.parked_ns.saturating_add(ts.saturating_sub(s));
            l.parks.push(Park {
                start_ns: s,
                end_ns: ts,
            });
        }
    }

    /// Closes what was still open at the dump, settles each task's state, and puts the
    /// index together.
    fn finish(
        mut self,
        dump: Dump,
        events: EventStore,
        start_ns: u64,
        end_ns: u64,
        thresholds: Thresholds,
    ) -> Index {
        let n = self.tasks.len();
        let in_progress = self.close_open_polls(&dump, end_ns);
        self.close_parks(&dump, start_ns, end_ns);
        self.settle_lanes();
        // Wakes never followed by a poll wait until the dump.
        for ti in 0..n {
            let waiting = std::mem::take(&mut self.waiting[ti]);
            for w in &waiting {
                let delay = end_ns.saturating_sub(w.waits_from_ns);
                self.wakes.settle(w.wake, delay, false, false);
                // Each unanswered wake is a wait of its own.
                self.long_wait(w, ti as TaskIdx, w.waits_from_ns, None, delay, true);
            }
            if !waiting.is_empty() {
                // Still waiting at the dump: scheduled (the state reads this).
                self.waiting[ti] = waiting;
            }
        }
        // The long waits in wake order, beside each lane's polls in time order (they nearly
        // are): on two threads.
        let mut long_waits = std::mem::take(&mut self.long_waits);
        let lane_polls = &mut self.lane_polls;
        let (long_waits, moved) = super::par::both(
            move || {
                // Sorted as keys beside positions (so in a stable sort's order), then
                // moved once in place: a wait is 80 bytes to move, and a copy of them all
                // would raise the peak.
                let mut keys: Vec<(u32, u32)> = (long_waits.iter().zip(0u32..))
                    .map(|(w, i)| (w.wake, i))
                    .collect();
                keys.sort_unstable();
                let mut to = vec![0u32; keys.len()];
                for (at, &(_, i)) in (0u32..).zip(&keys) {
                    to[i as usize] = at;
                }
                drop(keys);
                anomaly::permute(&mut long_waits, &mut to);
                long_waits
            },
            || {
                let (warn, crit) = (thresholds.long_poll_warn, thresholds.long_poll_crit);
                let sorted = |polls: &mut LanePolls| {
                    let moved = polls.sort(end_ns);
                    polls.classify(warn, crit, end_ns);
                    moved
                };
                lane_polls.iter_mut().map(sorted).collect::<Vec<_>>()
            },
        );
        self.long_waits = long_waits;
        self.settle_tasks(&dump, &in_progress);
        let ids: Vec<u32> = self.lanes.iter().map(|l| l.info.lane).collect();
        // The longest poll of each task follows its poll.
        let polls = Polls::new(std::mem::take(&mut self.lane_polls), ids);
        for (ti, longest) in self.longest.iter().enumerate() {
            self.tasks[ti].longest_poll = longest.map(|(li, i)| {
                let i = moved[li as usize].as_ref().map_or(i, |m| m[i as usize]);
                polls.idx(li as usize, i as usize)
            });
        }
        let poll_samples = poll_samples(&polls, &self.samples, end_ns);
        let lost_waker_state = std::mem::take(&mut self.since_poll);
        let zeroed = self.levels.iter().map(WakerLevels::zeroing).collect();
        Index {
            dump,
            events,
            start_ns,
            end_ns,
            tasks: self.tasks,
            task_by_id: self.task_by_id,
            dense_ids: self.dense,
            block_tasks: self.block_tasks,
            task_events_cache: Default::default(),
            polls,
            longest: Default::default(),
            poll_samples,
            wakes: self.wakes,
            long_waits: self.long_waits,
            since_poll: lost_waker_state,
            zeroed,
            lanes: self.lanes,
            lane_by_id: self.lane_by_id,
            anomalies: Vec::new(),
            anomaly_starts: Default::default(),
            groups: Vec::new(),
            verdict: String::new(),
            thresholds,
            reordered: 0,
            spawns_less_ends: self.spawns_less_ends,
            foreign: None,
        }
    }

    /// Closes the polls still open at the end of the window; which tasks were in a poll
    /// at the dump.
    fn close_open_polls(&mut self, dump: &Dump, end_ns: u64) -> Vec<bool> {
        let mut in_progress = vec![false; self.tasks.len()];
        // A poll open at the end is in progress at the dump only if its lane says so;
        // without lane states (a crash-surviving ring, an old dump) it is taken to be.
        let polling_at_dump: HashMap<u32, u64> = dump
            .lane_states
            .iter()
            .filter_map(|s| match s.activity {
                Activity::Polling { task } => Some((s.lane, task)),
                _ => None,
            })
            .collect();
        let state_since: HashMap<u32, u64> = dump
            .lane_states
            .iter()
            .map(|s| (s.lane, s.since_ns))
            .collect();
        for li in 0..self.lanes.len() {
            let Some(i) = self.lane_open[li].take() else {
                continue;
            };
            let lane = self.lanes[li].info.lane;
            let (t, start) = {
                let p = &self.lane_polls[li];
                (p.task(i as usize), p.start(i as usize))
            };
            let task_id = self.tasks[t as usize].id;
            let confirmed =
                dump.lane_states.is_empty() || polling_at_dump.get(&lane) == Some(&task_id);
            let last = self.lanes[li].last_ns.max(start);
            if !confirmed && state_since.get(&lane).is_some_and(|&since| since <= last) {
                // The lane's state at the dump began within the window, yet the window
                // has no event of it: the poll's end (and what followed) was lost.
                self.close_poll(li, i, last, false, true);
                continue;
            }
            if !confirmed {
                // Over by the time the lane states were read, just after the events: it
                // ran at least until its lane's last event, and its task was in it when
                // the window ends.
                self.close_poll(li, i, last, false, true);
                self.lane_polls[li].mark_open_at_window_end(i as usize);
                in_progress[t as usize] = true;
                let d = last.saturating_sub(start);
                if d >= self.hot[t as usize].longest_poll_ns {
                    self.hot[t as usize].longest_poll_ns = d;
                    self.longest[t as usize] = Some((li as u32, i));
                }
                continue;
            }
            in_progress[t as usize] = true;
            let l = &mut self.lanes[li];
            let d = end_ns.saturating_sub(start);
            l.busy_ns = l.busy_ns.saturating_add(d);
            let hot = &mut self.hot[t as usize];
            hot.busy_ns = hot.busy_ns.saturating_add(d);
            if d >= hot.longest_poll_ns {
                hot.longest_poll_ns = d;
                self.longest[t as usize] = Some((li as u32, i));
            }
        }
        in_progress
    }

    fn close_parks(&mut self, dump: &Dump, start_ns: u64, end_ns: u64) {
        for li in 0..self.lanes.len() {
            if let Some(s) = self.lane_park[li].take() {
                let l = &mut self.lanes[li];
                l.parked_ns = l.parked_ns.saturating_add(end_ns.saturating_sub(s));
                l.parks.push(Park {
                    start_ns: s,
                    end_ns,
                });
            }
        }
        // A lane parked since before the window (no events at all) still shows parked.
        for st in &dump.lane_states {
            if let (Activity::Parked, Some(&li)) = (st.activity, self.lane_by_id.get(&st.lane))
                && self.lanes[li].events == 0
            {
                self.lanes[li].parks.push(Park {
                    start_ns: st.since_ns.max(start_ns),
                    end_ns,
                });
            }
        }
    }

    fn settle_lanes(&mut self) {
        // Two runtimes each have a worker 0: tell their lanes apart.
        let mut seen_workers = std::collections::HashMap::new();
        for lane in &self.lanes {
            if let (ThreadKind::Worker, Some(w)) = (lane.info.kind, lane.info.worker) {
                *seen_workers.entry(w).or_insert(0u32) += 1;
            }
        }
        for (li, lane) in self.lanes.iter_mut().enumerate() {
            lane.shared_worker_index = lane
                .info
                .worker
                .is_some_and(|w| seen_workers.get(&w).copied().unwrap_or(0) > 1);
            // Nearly in order already: a stable sort finds the runs and merges them.
            lane.parks.sort_by_key(|p| (p.start_ns, p.end_ns));
            lane.parks.shrink_to_fit();
            // Tokio starts its workers through the blocking spawner, so a worker whose
            // index was never learned looks like a blocking thread; only workers poll
            // tasks, so one that polled is a worker.
            if lane.info.kind == ThreadKind::Blocking && !self.lane_polls[li].is_empty() {
                lane.info.kind = ThreadKind::Worker;
            }
        }
    }

    fn settle_tasks(&mut self, dump: &Dump, in_progress: &[bool]) {
        // Live wakers: after the task's last waker op in the window (the recorder's own
        // count carried by the op, or counted from its spawn); for a task with no op in
        // the window, the recorder's count taken just before the events were read.
        let recorded: HashMap<u64, i64> = dump
            .facts
            .live_wakers
            .iter()
            .map(|w| (w.task, w.live))
            .collect();
        let unhooked: std::collections::HashSet<u64> =
            dump.facts.unhooked.iter().copied().collect();
        for (ti, task) in self.tasks.iter_mut().enumerate() {
            let hot = &self.hot[ti];
            task.polls = hot.polls;
            task.wakes = hot.wakes;
            task.self_wakes = hot.self_wakes;
            task.busy_ns = hot.busy_ns;
            task.longest_poll_ns = hot.longest_poll_ns;
            task.longest_sched_ns = hot.longest_sched_ns;
            let since = &mut self.since_poll[ti];
            since.woken = hot.flag(WOKEN);
            since.completed = hot.flag(COMPLETED);
            let from_recorder = !hot.flag(HAD_OP) && recorded.contains_key(&task.id);
            task.live_wakers = if from_recorder {
                recorded.get(&task.id).map(|&n| n.max(0))
            } else {
                hot.wakers().map(|n| n.max(0))
            };
            task.wakers_from_recorder = from_recorder || recorded.contains_key(&task.id);
            task.alive_at_dump = recorded.contains_key(&task.id);
            if unhooked.contains(&task.id) {
                task.state = TaskState::Unobserved;
                continue;
            }
            if task.state == TaskState::Done {
                continue;
            }
            task.state = if in_progress[ti] {
                TaskState::Running
            } else if !self.waiting[ti].is_empty() {
                TaskState::Scheduled
            } else {
                TaskState::Idle
            };
        }
    }
}

/// The watchdog's looks at each poll: the task's `PollSample` events within the poll.
fn poll_samples(
    polls: &Polls,
    samples: &[(EventIdx, TaskIdx, u64)],
    end_ns: u64,
) -> HashMap<PollIdx, Vec<EventIdx>> {
    let mut out: HashMap<PollIdx, Vec<EventIdx>> = HashMap::default();
    if samples.is_empty() {
        return out;
    }
    let mut samples_of: HashMap<TaskIdx, Vec<(EventIdx, u64)>> = HashMap::default();
    for &(e, t, ts) in samples {
        samples_of.entry(t).or_default().push((e, ts));
    }
    for (p, poll) in polls.iter() {
        let Some(of) = samples_of.get(&poll.task) else {
            continue;
        };
        let within = poll.start_ns..=poll.end_ns.unwrap_or(end_ns);
        let mine: Vec<EventIdx> = of
            .iter()
            .filter(|(_, ts)| within.contains(ts))
            .map(|&(e, _)| e)
            .collect();
        if !mine.is_empty() {
            out.insert(p, mine);
        }
    }
    out
}
