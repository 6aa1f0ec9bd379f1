//! Tokio runtime hooks: polls, terminations, park/unpark and thread lifetimes.
//!
//! Hooks are cheaper than reading the same facts from the task span (no registry lookup
//! per poll), and park/unpark and worker identity exist only as hooks.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::runtime::{Builder as RuntimeBuilder, TaskMeta};

use crate::format::{Activity, TaskKind};

use super::lanes::LOCAL;
use super::tasks::{FileName, SpawnInfo};
use super::{Inner, current_task, task_id_u64};
use crate::format::ring_codec::{self as codec, F_COMPLETED, F_HAS_VALUE, Kind};

type ThreadHook = Arc<dyn Fn() + Send + Sync>;
type TaskHook = Arc<dyn Fn(&TaskMeta<'_>) + Send + Sync>;

/// Your own runtime hooks, run after the recorder's.
///
/// Tokio's runtime builder keeps one callback per hook and cannot hand back one that was
/// set before, so [`FlightRecorder::instrument`](super::FlightRecorder::instrument) would replace hooks you had set, and
/// hooks you set after it replace the recorder's. Pass yours here instead.
#[derive(Default, Clone)]
pub struct UserHooks {
    pub on_thread_start: Option<ThreadHook>,
    pub on_thread_stop: Option<ThreadHook>,
    pub on_thread_park: Option<ThreadHook>,
    pub on_thread_unpark: Option<ThreadHook>,
    pub on_task_spawn: Option<TaskHook>,
    pub on_task_terminate: Option<TaskHook>,
    pub on_before_task_poll: Option<TaskHook>,
    pub on_after_task_poll: Option<TaskHook>,
}

impl std::fmt::Debug for UserHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserHooks").finish_non_exhaustive()
    }
}

fn thread_hook(
    inner: &Arc<Inner>,
    ours: impl Fn(&Inner) + Send + Sync + 'static,
    user: Option<ThreadHook>,
) -> impl Fn() + Send + Sync + 'static {
    let inner = inner.clone();
    move || {
        ours(&inner);
        if let Some(u) = &user {
            u();
        }
    }
}

fn task_hook(
    inner: &Arc<Inner>,
    ours: impl Fn(&Inner, &TaskMeta<'_>) + Send + Sync + 'static,
    user: Option<TaskHook>,
) -> impl Fn(&TaskMeta<'_>) + Send + Sync + 'static {
    let inner = inner.clone();
    move |meta| {
        ours(&inner, meta);
        if let Some(u) = &user {
            u(meta);
        }
    }
}

/// Sets every thread and task hook on `builder`: the recorder's, then `user`'s.
pub(super) fn install<'b>(
    inner: &Arc<Inner>,
    builder: &'b mut RuntimeBuilder,
    user: UserHooks,
) -> &'b mut RuntimeBuilder {
    {
        inner.hooks_installed.store(true, Ordering::Relaxed);
        if inner.schedule_latency {
            builder.track_task_schedule_latency();
        }
        if let Some(p) = &inner.persist {
            p.set_flag(crate::format::ring_file::FLAG_HOOKS);
        }
        builder
            .on_thread_start(thread_hook(
                inner,
                Inner::thread_start,
                user.on_thread_start,
            ))
            .on_thread_stop(thread_hook(inner, Inner::thread_stop, user.on_thread_stop))
            .on_thread_park(thread_hook(inner, Inner::park, user.on_thread_park))
            .on_thread_unpark(thread_hook(inner, Inner::unpark, user.on_thread_unpark))
            .on_task_spawn(task_hook(inner, Inner::hook_spawn, user.on_task_spawn))
            .on_task_terminate(task_hook(
                inner,
                |i, m| {
                    let task = task_id_u64(m.id());
                    let _ = LOCAL.try_with(|l| l.terminated.set(task));
                    i.terminate(task);
                },
                user.on_task_terminate,
            ))
            .on_before_task_poll(task_hook(
                inner,
                |i, m| {
                    let task = task_id_u64(m.id());
                    if let Some(latency) = m.schedule_latency() {
                        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
                        i.record(Kind::Scheduled, 0, task, ns);
                    }
                    i.poll_start(task)
                },
                user.on_before_task_poll,
            ))
            .on_after_task_poll(task_hook(
                inner,
                |i, m| {
                    let task = task_id_u64(m.id());
                    let completed = LOCAL
                        .try_with(|l| l.terminated.replace(0) == task)
                        .unwrap_or(false);
                    i.poll_end(task, completed);
                },
                user.on_after_task_poll,
            ))
    }
}

/// Nets a clone or drop of `task`'s own waker (`delta`, `live` after it) into the op
/// pending for its poll, when `task` is the one being polled on this thread; returns
/// whether it did. One thread-local access on the waker-op path.
pub(super) fn net_own_waker_op(task: u64, delta: i64, live: i64) -> bool {
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

impl Inner {
    pub(super) fn poll_start(&self, task: u64) {
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
        self.record_with(Kind::PollStart, 0, task, 0, |lane, ts| {
            // Tokio starts workers through the blocking spawner, and a worker stuck in
            // its first poll never parks: learn the worker index here too.
            if lane.note_worker_index() {
                self.persist_lane(lane);
            }
            lane.set_activity(Activity::Polling { task }, ts)
        });
    }

    pub(super) fn poll_end(&self, task: u64, completed: bool) {
        let _ = LOCAL.try_with(|l| l.polling.set(0));
        self.flush_own_waker_ops(task);
        let flags = if completed { F_COMPLETED } else { 0 };
        let mut long = false;
        self.record_computed(
            Kind::PollEnd,
            task,
            // The poll's duration, which the lane knows for sure: a window that lost the
            // poll's start still knows how long it ran.
            |lane, ts| match lane.activity() {
                (Activity::Polling { task: t }, since) if t == task && since <= ts => {
                    long = ts - since >= self.long_poll_raw;
                    let ns = self.clock.delta_as_nanos(since, ts);
                    (flags | F_HAS_VALUE, ns.min(codec::AUX_MAX))
                }
                _ => (flags, 0),
            },
            |lane, ts| lane.set_activity(Activity::Running, ts),
        );
        // A long poll: what the OS did meanwhile says whether the task was slow or the
        // thread was kept off the CPU.
        if long {
            self.cpu_stat();
        }
    }

    /// Records the netted waker ops of `task`'s own poll as one op: a drop if the poll
    /// lost wakers or left none (so a task that dropped its last waker still shows the
    /// drop that did it), else a clone; with the live count after the poll.
    fn flush_own_waker_ops(&self, task: u64) {
        let Ok((t, net, live)) = LOCAL.try_with(|l| l.own_ops.replace((0, 0, 0))) else {
            return;
        };
        if t != task || t == 0 {
            return;
        }
        let kind = if net < 0 || live == 0 {
            Kind::WakerDrop
        } else {
            Kind::WakerClone
        };
        self.record(
            kind,
            codec::F_HAS_VALUE,
            task,
            (live.max(0) as u64).min(codec::AUX_MAX),
        );
    }

    /// Records the thread's CPU time and run-queue wait, if enabled and available.
    fn cpu_stat(&self) {
        if !self.cpu_stats {
            return;
        }
        if let Some((on_cpu, wait)) = super::cpu_stat::sample() {
            self.record(Kind::CpuStat, 0, on_cpu, wait & codec::AUX_MAX);
        }
    }

    fn thread_start(&self) {
        self.record_with(Kind::ThreadStart, 0, 0, 0, |lane, ts| {
            let changed = lane.mark_runtime_thread() | lane.note_worker_index();
            lane.set_activity(Activity::Running, ts);
            if changed {
                self.persist_lane(lane);
            }
        });
    }

    fn thread_stop(&self) {
        self.record_with(Kind::ThreadStop, 0, 0, 0, |lane, ts| {
            lane.set_activity(Activity::Stopped, ts)
        });
    }

    fn park(&self) {
        self.cpu_stat();
        self.record_with(Kind::Park, 0, 0, 0, |lane, ts| {
            if lane.note_worker_index() {
                self.persist_lane(lane);
            }
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
        self.record_with(Kind::Unpark, flags, 0, aux, |lane, ts| {
            lane.set_activity(Activity::Running, ts)
        });
    }

    fn hook_spawn(&self, meta: &TaskMeta<'_>) {
        // With the layer installed, the span already recorded the spawn with its name;
        // the hook only says this task's polls will be recorded (its runtime has hooks).
        if self.layer_installed.load(Ordering::Relaxed) {
            self.tasks.mark_hooked(task_id_u64(meta.id()));
            return;
        }
        let loc = meta.spawned_at();
        self.spawn(SpawnInfo {
            task: task_id_u64(meta.id()),
            name: "",
            kind: TaskKind::Unknown,
            location: Some((FileName::Static(loc.file()), loc.line(), loc.column())),
            parent: current_task(),
            hooked: true,
        });
    }
}
