//! Tokio runtime hooks: polls, terminations, park/unpark and thread lifetimes.
//!
//! Hooks are cheaper than reading the same facts from the task span (no registry lookup
//! per poll), and park/unpark and worker identity exist only as hooks.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::runtime::{Builder as RuntimeBuilder, TaskMeta};

use crate::format::{Activity, TaskKind};

use super::super::store::lanes::LOCAL;
use super::super::store::tasks::{FileName, SpawnInfo};
use super::super::store::{LaneWriter, current_task, task_id_u64};
use super::{Capture, Keep};
use crate::format::ring_codec::{
    self as codec, F_COMPLETED, F_HAS_VALUE, F_START_FOLDED, F_TERMINATED, Kind,
};

type ThreadHook = Arc<dyn Fn() + Send + Sync>;
type TaskHook = Arc<dyn Fn(&TaskMeta<'_>) + Send + Sync>;

/// Your own runtime hooks, run after the recorder's.
///
/// Tokio's runtime builder keeps one callback per hook and cannot hand back one that was
/// set before, so [`FlightRecorder::instrument`](crate::FlightRecorder::instrument) would replace hooks you had set, and
/// hooks you set after it replace the recorder's. Pass yours here instead, to
/// [`FlightRecorder::instrument_with`](crate::FlightRecorder::instrument_with). Each field
/// is the callback Tokio's runtime builder method of the same name takes; `None` leaves
/// only the recorder's.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use dial9_recorder::{FlightRecorder, UserHooks};
///
/// let recorder = FlightRecorder::builder().build()?;
/// let spawned = Arc::new(AtomicUsize::new(0));
/// let count = spawned.clone();
/// let hooks = UserHooks {
///     on_task_spawn: Some(Arc::new(move |_: &tokio::runtime::TaskMeta<'_>| {
///         count.fetch_add(1, Ordering::Relaxed);
///     })),
///     ..UserHooks::default()
/// };
/// let rt = recorder
///     .instrument_with(&mut tokio::runtime::Builder::new_multi_thread(), hooks)
///     .build()?;
/// rt.block_on(rt.spawn(async {}))?;
/// assert_eq!(spawned.load(Ordering::Relaxed), 1);
/// # Ok(()) }
/// ```
#[derive(Default, Clone)]
pub struct UserHooks {
    /// Runs on each runtime thread as it starts.
    pub on_thread_start: Option<ThreadHook>,
    /// Runs on each runtime thread as it stops.
    pub on_thread_stop: Option<ThreadHook>,
    /// Runs on a worker just before it parks (waits for work).
    pub on_thread_park: Option<ThreadHook>,
    /// Runs on a worker just after it unparks.
    pub on_thread_unpark: Option<ThreadHook>,
    /// Runs when a task is spawned.
    pub on_task_spawn: Option<TaskHook>,
    /// Runs when a task terminates (completed, or dropped).
    pub on_task_terminate: Option<TaskHook>,
    /// Runs before each poll of a task.
    pub on_before_task_poll: Option<TaskHook>,
    /// Runs after each poll of a task.
    pub on_after_task_poll: Option<TaskHook>,
}

impl std::fmt::Debug for UserHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserHooks").finish_non_exhaustive()
    }
}

/// The recorder and what keeps it alive, as each hook closure holds them.
#[derive(Clone)]
struct Held {
    capture: Arc<Capture>,
    _keep: Keep,
}

fn thread_hook(
    held: &Held,
    ours: impl Fn(&Capture) + Send + Sync + 'static,
    user: Option<ThreadHook>,
) -> impl Fn() + Send + Sync + 'static {
    let held = held.clone();
    move || {
        ours(&held.capture);
        if let Some(u) = &user {
            u();
        }
    }
}

fn task_hook(
    held: &Held,
    ours: impl Fn(&Capture, &TaskMeta<'_>) + Send + Sync + 'static,
    user: Option<TaskHook>,
) -> impl Fn(&TaskMeta<'_>) + Send + Sync + 'static {
    let held = held.clone();
    move |meta| {
        ours(&held.capture, meta);
        if let Some(u) = &user {
            u(meta);
        }
    }
}

/// Sets every thread and task hook on `builder`: the recorder's, then `user`'s. Each
/// hook holds `keep`, so the recorder lives as long as the runtime.
pub(crate) fn install<'b>(
    capture: &Arc<Capture>,
    keep: Keep,
    builder: &'b mut RuntimeBuilder,
    user: UserHooks,
) -> &'b mut RuntimeBuilder {
    capture.hooks_installed.store(true, Ordering::Relaxed);
    if capture.schedule_latency {
        builder.track_task_schedule_latency();
    }
    if let Some(p) = &capture.store.persist {
        p.set_flag(crate::format::ring_file::FLAG_HOOKS);
    }
    let held = &Held {
        capture: capture.clone(),
        _keep: keep,
    };
    builder
        .on_thread_start(thread_hook(
            held,
            Capture::thread_start,
            user.on_thread_start,
        ))
        .on_thread_stop(thread_hook(held, Capture::thread_stop, user.on_thread_stop))
        .on_thread_park(thread_hook(held, Capture::park, user.on_thread_park))
        .on_thread_unpark(thread_hook(held, Capture::unpark, user.on_thread_unpark))
        .on_task_spawn(task_hook(held, Capture::hook_spawn, user.on_task_spawn))
        .on_task_terminate(task_hook(
            held,
            |c, m| c.terminate_hook(task_id_u64(m.id())),
            user.on_task_terminate,
        ))
        .on_before_task_poll(task_hook(
            held,
            |c, m| {
                let task = task_id_u64(m.id());
                if let Some(latency) = m.schedule_latency() {
                    let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
                    c.store.record(Kind::Scheduled, 0, task, ns);
                }
                c.poll_start(task)
            },
            user.on_before_task_poll,
        ))
        .on_after_task_poll(task_hook(
            held,
            |c, m| c.after_poll_hook(task_id_u64(m.id())),
            user.on_after_task_poll,
        ))
}

/// How a poll left its task.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Ended {
    /// Still running.
    No,
    /// Ended, and its Terminate is already recorded.
    Recorded,
    /// Ended inside this poll, and the poll's end carries the Terminate
    /// (`F_TERMINATED`) and ends the task in the table.
    Folded,
}

/// Nets a clone or drop of `task`'s own waker (`delta`, `live` after it) into the op
/// pending for its poll, when `task` is the one being polled on this thread; returns
/// whether it did. One thread-local access on the waker-op path.
#[inline]
pub(crate) fn net_own_waker_op(task: u64, delta: i64, live: i64) -> bool {
    LOCAL
        .try_with(|l| {
            if task == 0 || l.polling.get() != task {
                return false;
            }
            let (t, net, _) = l.own_ops.get();
            let net = if t == task { net } else { 0 };
            l.own_ops.set((task, net + delta, live));
            true
        })
        .unwrap_or(false)
}

/// A poll's netted own waker ops show as a drop if the poll lost wakers or left none (so
/// a task that dropped its last waker still shows the drop that did it), else a clone.
fn own_op_is_drop(net: i64, live: u64) -> bool {
    net < 0 || live == 0
}

/// A poll's netted own waker ops as a record of their own: kind, flags, value.
fn own_waker_op(net: i64, live: u64) -> (Kind, u8, u64) {
    let kind = if own_op_is_drop(net, live) {
        Kind::WakerDrop
    } else {
        Kind::WakerClone
    };
    (kind, F_HAS_VALUE, live.min(codec::AUX_MAX))
}

impl Capture {
    /// A poll's start is not written (unless the ring is a crash-surviving file, which
    /// keeps no lane states): the lane notes it, and the poll's end carries it (see
    /// `ring_codec::decode`); a poll still running at a dump is read from the lane.
    #[inline]
    pub(crate) fn poll_start(&self, task: u64) {
        let pending = LOCAL
            .try_with(|l| {
                l.polling.set(task);
                l.own_ops.get().0
            })
            .unwrap_or(0);
        // Ops left over from a poll whose end was never seen (it panicked) go out now.
        if pending != 0 {
            self.flush_own_waker_ops(pending);
        }
        let on_lane = |lane: &mut LaneWriter<'_>, ts| {
            // Tokio starts workers through the blocking spawner, and a worker stuck in
            // its first poll never parks: learn the worker index here too.
            if lane.note_worker_index() {
                self.store.persist_lane(lane);
            }
            self.write_open_poll_start(lane);
            lane.set_activity(Activity::Polling { task }, ts)
        };
        if self.write_starts {
            self.store.record_with(Kind::PollStart, 0, task, 0, on_lane);
        } else {
            self.store.mark_lane(on_lane);
        }
    }

    /// A poll this lane started and never ended (it panicked, or an inner poll, of a
    /// `LocalSet` say, runs inside it): its end cannot carry its start, so the start is
    /// written now, at its own timestamp (unless every start is written anyway).
    fn write_open_poll_start(&self, lane: &mut LaneWriter<'_>) {
        if self.write_starts {
            return;
        }
        if let (Activity::Polling { task }, since) = lane.activity() {
            lane.write(since, Kind::PollStart, task, 0, 0);
        }
    }

    /// Tokio's terminate hook. Tokio runs it inside the poll that completes the task
    /// (in `Harness::complete`, after the output is stored and the `JoinHandle` woken,
    /// before the task is released; then the after-poll hook), so that poll's end carries
    /// the Terminate: one record and one clock read fewer for almost every task. A task
    /// that ends outside its poll (dropped at the runtime's shutdown) gets a record of its
    /// own, as does every task when each poll's start is written (the ring file).
    pub(crate) fn terminate_hook(&self, task: u64) {
        let folds = LOCAL
            .try_with(|l| {
                let folds = !self.write_starts && task != 0 && l.polling.get() == task;
                // A fold still pending is kept: a user's terminate hook, which runs after
                // this one, may end another task (spawned onto a runtime shutting down)
                // before the polled task's after-poll hook.
                if folds || !l.terminated.get().1 {
                    l.terminated.set((task, folds));
                }
                folds
            })
            .unwrap_or(false);
        if folds {
            self.store.tasks.prefetch(task);
        } else {
            self.store.terminate_once(task);
        }
    }

    /// Tokio's after-poll hook: the poll's end, and whether the poll ended the task.
    #[inline]
    pub(crate) fn after_poll_hook(&self, task: u64) {
        let ended = LOCAL
            .try_with(|l| match l.terminated.replace((0, false)) {
                (t, true) if t == task => Ended::Folded,
                (t, false) if t == task => Ended::Recorded,
                _ => Ended::No,
            })
            .unwrap_or(Ended::No);
        self.poll_end(task, ended);
    }

    #[inline]
    pub(crate) fn poll_end(&self, task: u64, ended: Ended) {
        let own = LOCAL
            .try_with(|l| {
                l.polling.set(0);
                l.own_ops.replace((0, 0, 0))
            })
            .ok()
            .filter(|&(t, _, _)| t == task && t != 0);
        let mut long = false;
        self.store.record_computed(
            |lane, ts| {
                let mut flags = match ended {
                    Ended::No => 0,
                    Ended::Recorded => F_COMPLETED,
                    Ended::Folded => F_COMPLETED | F_TERMINATED,
                };
                let mut a = task;
                let mut aux = 0;
                // The poll's duration, which the lane knows for sure: a window that lost
                // the poll's start still knows how long it ran; and where it started.
                if let (Activity::Polling { task: t }, since) = lane.activity()
                    && t == task
                    && since <= ts
                {
                    long = ts - since >= self.long_poll_raw;
                    if !self.write_starts && ts - since <= codec::AUX_MAX {
                        flags |= F_START_FOLDED;
                        aux = ts - since;
                    } else {
                        flags |= F_HAS_VALUE;
                        aux = self
                            .store
                            .clock
                            .delta_as_nanos(since, ts)
                            .min(codec::AUX_MAX);
                        if !self.write_starts {
                            // Too long to fold (days): the start goes out on its own.
                            lane.write(since, Kind::PollStart, task, 0, 0);
                        }
                    }
                }
                if let Some((_, net, live)) = own.filter(|_| self.fold) {
                    let live = live.max(0) as u64;
                    match codec::fold_op(task, live) {
                        Some(folded) => {
                            a = folded;
                            flags |= codec::F_OP_FOLDED;
                            if own_op_is_drop(net, live) {
                                flags |= codec::F_OP_DROP;
                            }
                        }
                        None => {
                            let (kind, flags, aux) = own_waker_op(net, live);
                            lane.write(ts, kind, task, flags, aux);
                        }
                    }
                }
                (Kind::PollEnd, a, flags, aux)
            },
            |lane, ts| lane.set_activity(Activity::Running, ts),
        );
        if ended == Ended::Folded {
            self.store.end_in_table(task);
        }
        // A long poll: what the OS did meanwhile says whether the task was slow or the
        // thread was kept off the CPU.
        if long {
            self.cpu_stat();
        }
    }

    /// Records the netted waker ops of `task`'s own poll as one op, when its poll's end
    /// cannot carry them (a poll that panicked, or ids too large to fold).
    fn flush_own_waker_ops(&self, task: u64) {
        let Ok((t, net, live)) = LOCAL.try_with(|l| l.own_ops.replace((0, 0, 0))) else {
            return;
        };
        if t != task || t == 0 {
            return;
        }
        let (kind, flags, aux) = own_waker_op(net, live.max(0) as u64);
        self.store.record(kind, flags, task, aux);
    }

    /// Records the thread's CPU time and run-queue wait, if enabled and available.
    fn cpu_stat(&self) {
        if !self.cpu_stats {
            return;
        }
        if let Some((on_cpu, wait)) = super::cpu_stat::sample() {
            self.store
                .record(Kind::CpuStat, 0, on_cpu, wait & codec::AUX_MAX);
        }
    }

    fn thread_start(&self) {
        self.store
            .record_with(Kind::ThreadStart, 0, 0, 0, |lane, ts| {
                let changed = lane.mark_runtime_thread() | lane.note_worker_index();
                lane.set_activity(Activity::Running, ts);
                if changed {
                    self.store.persist_lane(lane);
                }
            });
    }

    fn thread_stop(&self) {
        self.store
            .record_with(Kind::ThreadStop, 0, 0, 0, |lane, ts| {
                self.write_open_poll_start(lane);
                lane.set_activity(Activity::Stopped, ts)
            });
    }

    fn park(&self) {
        self.cpu_stat();
        self.store.record_with(Kind::Park, 0, 0, 0, |lane, ts| {
            if lane.note_worker_index() {
                self.store.persist_lane(lane);
            }
            self.write_open_poll_start(lane);
            lane.set_activity(Activity::Parked, ts);
        });
    }

    fn unpark(&self) {
        // Tokio exposes I/O driver activity only as a cumulative count (unstable metrics);
        // sampling it per unpark shows how many readiness events each driver turn found.
        let io = tokio::runtime::Handle::try_current()
            .ok()
            .map(|h| h.metrics().io_driver_ready_count());
        let (flags, aux) = io.map_or((0, 0), |n| (F_HAS_VALUE, n));
        self.store
            .record_with(Kind::Unpark, flags, 0, aux, |lane, ts| {
                lane.set_activity(Activity::Running, ts)
            });
    }

    fn hook_spawn(&self, meta: &TaskMeta<'_>) {
        // With the layer installed, the span already recorded the spawn with its name;
        // the hook only says this task's polls will be recorded (its runtime has hooks).
        // Unless the spawning thread's dispatcher lacks the layer (tracing dispatch is
        // per thread): then the hook records the spawn, as without the layer.
        if self.layer_installed.load(Ordering::Relaxed)
            && self.store.tasks.mark_hooked(task_id_u64(meta.id()))
        {
            return;
        }
        let loc = meta.spawned_at();
        self.store.spawn(SpawnInfo {
            task: task_id_u64(meta.id()),
            name: "",
            kind: TaskKind::Unknown,
            location: Some((FileName::Static(loc.file()), loc.line(), loc.column())),
            parent: current_task(),
            hooked: true,
        });
    }
}

/// Polls in the order Tokio's hooks run them, on one thread: what the ring holds and what
/// a dump reads back.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlightRecorder;
    use crate::format::{Dump, EventKind};

    /// Without the watchdog: on a loaded machine its looks at a poll these tests hold
    /// open would add records to the counts.
    fn recorder() -> FlightRecorder {
        FlightRecorder::builder()
            .capacity(crate::MIN_CAPACITY)
            .install_panic_hook(false)
            .watchdog(None)
            .build()
            .unwrap()
    }

    fn kinds(d: &Dump) -> Vec<EventKind> {
        d.events.iter().map(|e| e.kind).collect()
    }

    fn records(d: &Dump) -> u64 {
        d.header.recorded_total - d.header.overwritten - d.header.torn_skipped
    }

    #[test]
    fn a_poll_and_its_own_waker_op_take_one_record() {
        let r = recorder();
        let i = r.capture();
        i.poll_start(7);
        // The poll drops its old waker and clones the new one, as an I/O future does.
        assert!(net_own_waker_op(7, -1, 0));
        assert!(net_own_waker_op(7, 1, 1));
        i.poll_end(7, Ended::No);
        let d = r.snapshot();
        assert_eq!(records(&d), 1);
        assert_eq!(
            kinds(&d),
            [
                EventKind::PollStart { task: 7 },
                EventKind::WakerClone {
                    task: 7,
                    live: Some(1)
                },
                EventKind::PollEnd {
                    task: 7,
                    completed: false,
                    duration_ns: Some(d.events[2].ts_ns - d.events[0].ts_ns)
                },
            ]
        );
        assert_eq!(d.events[1].ts_ns, d.events[2].ts_ns);
    }

    #[test]
    fn a_poll_that_left_no_waker_shows_the_drop() {
        let r = recorder();
        r.capture().poll_start(3);
        assert!(net_own_waker_op(3, -1, 0));
        r.capture().poll_end(3, Ended::Recorded);
        let d = r.snapshot();
        assert_eq!(
            kinds(&d)[1..],
            [
                EventKind::WakerDrop {
                    task: 3,
                    live: Some(0)
                },
                EventKind::PollEnd {
                    task: 3,
                    completed: true,
                    duration_ns: Some(d.events[2].ts_ns - d.events[0].ts_ns)
                },
            ]
        );
    }

    /// A spawn as the layer records it (`hooked`: and the spawn hook saw it).
    fn spawn(i: &Capture, task: u64, name: &str, kind: TaskKind, hooked: bool) {
        i.store.spawn(SpawnInfo {
            task,
            name,
            kind,
            location: None,
            parent: None,
            hooked,
        });
    }

    fn alive(i: &Capture, task: u64) -> bool {
        let window = i.store.task_window();
        let early = i.store.tasks.early(window);
        i.store
            .tasks
            .live_and_unhooked(true, window, &early)
            .0
            .contains(&task)
    }

    /// Tokio runs the terminate hook inside the poll that completes the task: that
    /// poll's end carries the Terminate (no record of its own), which reads back after
    /// the poll's own op and before its end. The task stays alive until the end.
    #[test]
    fn a_task_that_ends_in_its_poll_ends_with_the_poll() {
        let r = recorder();
        let i = r.capture();
        spawn(i, 4, "four", TaskKind::Task, true);
        i.poll_start(4);
        assert!(net_own_waker_op(4, -1, 0));
        i.terminate_hook(4);
        assert!(alive(i, 4), "ended before its poll did");
        i.after_poll_hook(4);
        assert!(!alive(i, 4));
        let d = r.snapshot();
        assert_eq!(records(&d), 2);
        let end = d.events[4].ts_ns;
        assert_eq!(
            kinds(&d),
            [
                EventKind::Spawn {
                    task: 4,
                    parent: None
                },
                EventKind::PollStart { task: 4 },
                EventKind::WakerDrop {
                    task: 4,
                    live: Some(0)
                },
                EventKind::Terminate { task: 4 },
                EventKind::PollEnd {
                    task: 4,
                    completed: true,
                    duration_ns: Some(end - d.events[1].ts_ns)
                },
            ]
        );
        assert_eq!(d.events[3].ts_ns, end);
        assert_eq!(
            d.tasks.iter().find(|t| t.id == 4).map(|t| &*t.name),
            Some("four")
        );
    }

    /// Tasks that finish in their first poll take two records each: the spawn, and the
    /// poll whose end carries the termination. Over several turns of the ring each finds
    /// its slot free (three slots per four records), so none goes to the slower overflow
    /// table, and every task with an event in the window is named.
    #[test]
    fn two_record_tasks_keep_to_their_slots() {
        // Above the table's 1,024-slot minimum, so the sizing is what is tested.
        let capacity = 8 * crate::MIN_CAPACITY;
        let r = FlightRecorder::builder()
            .capacity(capacity)
            .install_panic_hook(false)
            .build()
            .unwrap();
        let i = r.capture();
        let tasks = 4 * capacity as u64;
        for t in 1..=tasks {
            spawn(i, t, "short", TaskKind::Task, true);
            i.poll_start(t);
            i.terminate_hook(t);
            i.after_poll_hook(t);
        }
        assert!(!i.store.tasks.has_overflowed());
        let d = r.snapshot();
        assert!(d.header.overwritten > 0);
        let named: std::collections::HashSet<u64> = d
            .tasks
            .iter()
            .filter(|t| t.name == "short")
            .map(|t| t.id)
            .collect();
        let seen = d.events.iter().filter_map(|e| match e.kind {
            EventKind::Spawn { task, .. } | EventKind::Terminate { task } => Some(task),
            _ => None,
        });
        for task in seen {
            assert!(named.contains(&task), "task {task} unnamed");
        }
    }

    /// A task that ends outside a poll of its own (dropped at the runtime's shutdown, or
    /// inside another task's poll) gets a Terminate record of its own, and the poll it
    /// ended in does not complete.
    #[test]
    fn a_task_that_ends_outside_its_poll_has_its_own_record() {
        let r = recorder();
        let i = r.capture();
        i.poll_start(1);
        i.terminate_hook(2);
        i.after_poll_hook(1);
        i.terminate_hook(3);
        let d = r.snapshot();
        assert_eq!(records(&d), 3);
        let k = kinds(&d);
        assert_eq!(
            k[..2],
            [
                EventKind::PollStart { task: 1 },
                EventKind::Terminate { task: 2 }
            ]
        );
        assert!(matches!(
            k[2],
            EventKind::PollEnd {
                task: 1,
                completed: false,
                ..
            }
        ));
        assert_eq!(k[3], EventKind::Terminate { task: 3 });
    }

    /// A user's terminate hook runs after the recorder's, inside the poll: if it ends
    /// another task (outside that task's poll), the polled task's end is still carried by
    /// its poll, and each task ends once.
    #[test]
    fn a_termination_inside_anothers_fold_keeps_both() {
        let r = recorder();
        let i = r.capture();
        i.poll_start(1);
        i.terminate_hook(1);
        i.terminate_hook(2);
        i.after_poll_hook(1);
        let d = r.snapshot();
        let k = kinds(&d);
        assert_eq!(
            k[..3],
            [
                EventKind::PollStart { task: 1 },
                EventKind::Terminate { task: 2 },
                EventKind::Terminate { task: 1 },
            ]
        );
        assert!(matches!(
            k[3],
            EventKind::PollEnd {
                task: 1,
                completed: true,
                ..
            }
        ));
        assert_eq!(k.len(), 4);
    }

    /// A blocking task's span close put off by a child span (a `spawn_blocking` inside
    /// it) comes after the terminate hook: it finds the task ended, or, once the ring has
    /// gone round and the slot holds another task, gone; no second Terminate either way.
    #[test]
    fn a_late_blocking_close_does_not_end_the_task_again() {
        let r = recorder();
        let i = r.capture();
        let spawn = |task, name| spawn(i, task, name, TaskKind::Blocking, false);
        let terminations = |d: &crate::format::Dump, task| {
            kinds(d)
                .iter()
                .filter(|k| **k == EventKind::Terminate { task })
                .count()
        };
        spawn(5, "parent");
        i.terminate_hook(5);
        i.store.blocking_span_closed(5);
        assert_eq!(terminations(&r.snapshot(), 5), 1);
        // The ring goes round; 5's slot is taken by a newer task.
        let slots = crate::format::ring_codec::task_slots(crate::MIN_CAPACITY) as u64;
        let last = 4 * crate::MIN_CAPACITY as u64;
        for t in 6..=last {
            spawn(t, "later");
            i.terminate_hook(t);
        }
        let holder = 5 + (last - 5) / slots * slots;
        assert!(
            holder > 5 && i.store.tasks.has_ended(holder),
            "the slot went to {holder}"
        );
        assert!(!i.store.tasks.is_live(5) && !i.store.tasks.has_ended(5));
        i.store.blocking_span_closed(5);
        assert_eq!(terminations(&r.snapshot(), 5), 0);
        // A blocking task on a runtime without hooks: the close is its only end.
        spawn(1 << 40, "unhooked");
        i.store.blocking_span_closed(1 << 40);
        assert_eq!(terminations(&r.snapshot(), 1 << 40), 1);
    }

    /// The crash-surviving ring file keeps no lane states, so every poll's start is
    /// written: there a Terminate is written too, and the end says only "completed".
    #[test]
    fn unfolded_recording_writes_the_terminate() {
        let r = FlightRecorder::builder()
            .capacity(crate::MIN_CAPACITY)
            .install_panic_hook(false)
            .__unfolded()
            .build()
            .unwrap();
        let i = r.capture();
        i.poll_start(5);
        i.terminate_hook(5);
        i.after_poll_hook(5);
        let d = r.snapshot();
        assert_eq!(records(&d), 3);
        assert_eq!(
            kinds(&d)[..2],
            [
                EventKind::PollStart { task: 5 },
                EventKind::Terminate { task: 5 }
            ]
        );
        assert!(matches!(
            kinds(&d)[2],
            EventKind::PollEnd {
                task: 5,
                completed: true,
                ..
            }
        ));
    }

    #[test]
    fn a_poll_running_at_the_dump_is_read_from_its_lane() {
        let r = recorder();
        r.capture().poll_start(1);
        r.capture().poll_end(1, Ended::No);
        r.capture().poll_start(2);
        let d = r.snapshot();
        assert_eq!(records(&d), 1);
        let k = kinds(&d);
        assert_eq!(k.len(), 3, "{k:?}");
        assert_eq!(k[2], EventKind::PollStart { task: 2 });
        // At the lane's own moment, once.
        let state = d.lane_states.iter().find(|s| s.lane == d.events[2].lane);
        assert_eq!(state.map(|s| s.since_ns), Some(d.events[2].ts_ns));
        r.capture().poll_end(2, Ended::No);
    }

    /// A poll inside a poll (a `LocalSet`'s task, or `block_on` inside one): the outer
    /// poll's end no longer knows its start, so the start is written as the inner begins.
    #[test]
    fn nested_polls_keep_both_starts_in_order() {
        let r = recorder();
        let i = r.capture();
        i.poll_start(1);
        i.poll_start(2);
        i.poll_end(2, Ended::Recorded);
        i.poll_end(1, Ended::No);
        let d = r.snapshot();
        let k = kinds(&d);
        assert_eq!(
            k[..3],
            [
                EventKind::PollStart { task: 1 },
                EventKind::PollStart { task: 2 },
                EventKind::PollEnd {
                    task: 2,
                    completed: true,
                    duration_ns: Some(d.events[2].ts_ns - d.events[1].ts_ns)
                },
            ]
        );
        assert!(matches!(k[3], EventKind::PollEnd { task: 1, .. }));
        assert!(d.events.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns));
    }

    /// A poll that panicked never ends; the worker parks next. Its start is kept.
    #[test]
    fn a_poll_that_never_ended_keeps_its_start() {
        let r = recorder();
        r.capture().poll_start(9);
        r.capture().park();
        r.capture().unpark();
        r.capture().poll_start(10);
        r.capture().poll_end(10, Ended::No);
        let d = r.snapshot();
        let k = kinds(&d);
        assert_eq!(k[0], EventKind::PollStart { task: 9 });
        assert!(
            !k.iter()
                .any(|e| matches!(e, EventKind::PollEnd { task: 9, .. }))
        );
        assert_eq!(k.iter().filter(|e| **e == EventKind::Park).count(), 1);
        assert!(matches!(
            k.last(),
            Some(EventKind::PollEnd { task: 10, .. })
        ));
    }

    /// Ids too large to fold (or counts) go out as records of their own, read back the same.
    #[test]
    fn unfoldable_ops_are_written_apart() {
        let r = recorder();
        let big = codec::FOLD_TASK_MAX + 5;
        r.capture().poll_start(big);
        assert!(net_own_waker_op(big, 1, 2));
        r.capture().poll_end(big, Ended::No);
        let d = r.snapshot();
        assert_eq!(records(&d), 2);
        let k = kinds(&d);
        assert_eq!(k[0], EventKind::PollStart { task: big });
        assert_eq!(
            k[1],
            EventKind::WakerClone {
                task: big,
                live: Some(2)
            }
        );
        assert!(
            matches!(k[2], EventKind::PollEnd { task, duration_ns: Some(_), .. } if task == big)
        );
    }

    /// Back-to-back polls on a lane: every start follows the previous end, even when the
    /// clock reads the same twice (each lane's timestamps are strictly increasing).
    #[test]
    fn back_to_back_polls_pair_up() {
        let r = recorder();
        for t in 1..=500 {
            r.capture().poll_start(t);
            r.capture().poll_end(t, Ended::No);
        }
        let d = r.snapshot();
        assert_eq!(records(&d), 500);
        for (n, pair) in d.events.chunks(2).enumerate() {
            let t = n as u64 + 1;
            assert_eq!(pair[0].kind, EventKind::PollStart { task: t });
            assert!(matches!(pair[1].kind, EventKind::PollEnd { task, .. } if task == t));
        }
    }

    /// The ring went round during a long poll: its end survives, carrying the start,
    /// but everything else of that time is gone. The start is left out (as a written one
    /// would have been overwritten), so the window is what the ring really covers, and
    /// the end still says how long the poll ran.
    #[test]
    fn a_start_from_before_the_window_is_left_out() {
        let r = recorder();
        r.capture().poll_start(1);
        let inner = r.capture().clone();
        std::thread::spawn(move || {
            for i in 0..4 * crate::MIN_CAPACITY as u64 {
                inner
                    .store
                    .record(Kind::Wake, codec::F_SRC_DRIVER, i % 50 + 2, 0);
            }
        })
        .join()
        .unwrap();
        r.capture().poll_end(1, Ended::No);
        let d = r.snapshot();
        assert!(d.header.overwritten > 0);
        let k = kinds(&d);
        assert!(
            !k.contains(&EventKind::PollStart { task: 1 }),
            "{:?}",
            &k[..3]
        );
        let end = d
            .events
            .iter()
            .find_map(|e| match e.kind {
                EventKind::PollEnd {
                    task: 1,
                    duration_ns,
                    ..
                } => Some((e.ts_ns, duration_ns)),
                _ => None,
            })
            .expect("the poll's end is kept");
        let (end_ns, Some(duration)) = end else {
            panic!("the end carries the duration")
        };
        assert!(
            end_ns - duration < d.events[0].ts_ns,
            "the start predates the window"
        );
    }
}
