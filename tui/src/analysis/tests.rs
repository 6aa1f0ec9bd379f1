//! One test per rule on small dumps built for the purpose, with the edges that matter.

use dial9_format::*;

use super::{AnomalyKind, Index, Severity, TaskState, Thresholds};

const MS: u64 = 1_000_000;

/// Builds a dump event by event. Lane 0 is worker 0, lane 1 worker 1, lane 2 a foreign
/// thread.
struct B {
    events: Vec<Event>,
    tasks: Vec<TaskInfo>,
    end: u64,
    reason: Reason,
    layer: bool,
    lane_states: Vec<LaneState>,
    facts: Facts,
}

impl B {
    fn new() -> B {
        B {
            events: vec![],
            tasks: vec![],
            end: 0,
            reason: Reason::Requested { label: "t".into() },
            layer: true,
            lane_states: vec![],
            facts: Facts::default(),
        }
    }
    /// What lane `lane` was doing at the dump (the recorder always writes every lane).
    fn lane_state(mut self, lane: u32, activity: Activity) -> B {
        self.lane_states.push(LaneState {
            lane,
            activity,
            since_ns: 0,
        });
        self
    }
    /// The recorder's own live waker count for `task` at the dump.
    fn wakers(mut self, task: u64, live: i64) -> B {
        self.facts.live_wakers.push(TaskWakers { task, live });
        self
    }
    /// The recorder's word that `task` runs on a runtime without its hooks.
    fn unhooked(mut self, task: u64) -> B {
        self.facts.unhooked.push(task);
        self
    }
    fn task(mut self, id: u64, name: &str) -> B {
        self.tasks.push(TaskInfo {
            id,
            name: name.into(),
            kind: TaskKind::Task,
            location: None,
            spawned_by: None,
        });
        self
    }
    fn ev(mut self, ms: u64, lane: u32, kind: EventKind) -> B {
        self.events.push(Event {
            ts_ns: ms * MS,
            lane,
            kind,
        });
        self
    }
    /// `task` spawned at `ms` on lane 0, by no task.
    fn spawn(self, ms: u64, task: u64) -> B {
        self.ev(ms, 0, EventKind::Spawn { task, parent: None })
    }
    fn poll_end(self, ms: u64, lane: u32, task: u64, completed: bool) -> B {
        self.ev(
            ms,
            lane,
            EventKind::PollEnd {
                task,
                completed,
                duration_ns: None,
            },
        )
    }
    /// A pending poll that registers its waker, as real futures do.
    fn poll(self, from: u64, to: u64, lane: u32, task: u64) -> B {
        self.ev(from, lane, EventKind::PollStart { task })
            .ev(from, lane, EventKind::WakerClone { task, live: None })
            .poll_end(to, lane, task, false)
    }
    fn end(mut self, ms: u64) -> B {
        self.end = ms * MS;
        self
    }
    fn build(self) -> Index {
        self.build_with(Thresholds::default())
    }
    fn build_with(self, th: Thresholds) -> Index {
        let threads = (0..3)
            .map(|l| ThreadInfo {
                lane: l,
                os_tid: l as u64,
                name: "t".into(),
                worker: (l < 2).then_some(l),
                kind: if l < 2 {
                    ThreadKind::Worker
                } else {
                    ThreadKind::Other
                },
            })
            .collect();
        let dump = Dump {
            header: Header {
                reason: self.reason,
                dumped_at_unix_ns: 0,
                dumped_at_ns: self.end,
                anchor: ClockAnchor {
                    mono_ns: 0,
                    unix_ns: 0,
                },
                pid: 1,
                program: "p".into(),
                host: "h".into(),
                capacity: 1024,
                recorded_total: self.events.len() as u64,
                overwritten: 0,
                torn_skipped: 0,
                hooks_installed: true,
                layer_installed: self.layer,
                recorder_version: "0".into(),
            },
            threads,
            tasks: self.tasks,
            lane_states: self.lane_states,
            events: self.events,
            facts: self.facts,
        };
        Index::build(dump, th)
    }
}

fn kinds(ix: &Index) -> Vec<(AnomalyKind, Severity)> {
    ix.anomalies.iter().map(|a| (a.kind, a.severity)).collect()
}

#[test]
fn long_poll_thresholds_are_inclusive() {
    let ix = B::new()
        .task(1, "a")
        .spawn(0, 1)
        .poll(1, 11, 0, 1) // exactly 10 ms: warning
        .poll(20, 70, 0, 1) // exactly 50 ms: critical
        .poll(80, 89, 0, 1) // 9 ms: nothing
        .end(100)
        .build();
    let k = kinds(&ix);
    assert_eq!(
        k,
        vec![
            (AnomalyKind::LongPoll, Severity::Critical),
            (AnomalyKind::LongPoll, Severity::Warning)
        ]
    );
    assert_eq!(ix.anomalies[0].magnitude, 50 * MS);
    assert_eq!(ix.tasks[0].longest_poll_ns, 50 * MS);
    assert_eq!(ix.polls_by_duration[0], 1);
}

#[test]
fn scheduling_delay_from_wake_or_from_end_of_running_poll() {
    let ix = B::new()
        .task(1, "a")
        .task(2, "b")
        .spawn(0, 1)
        // Woken by task 2 at 10, polled at 15: exactly 5 ms -> warning.
        .ev(
            10,
            1,
            EventKind::Wake {
                task: 1,
                by_ref: true,
                source: WakeSource::Task(2),
            },
        )
        .poll(15, 16, 0, 1)
        // Woken by itself during a poll (20..29), next poll at 33: 4 ms from the poll's
        // end, below the threshold even though 12 ms after the wake.
        .ev(20, 0, EventKind::PollStart { task: 1 })
        .ev(
            21,
            0,
            EventKind::Wake {
                task: 1,
                by_ref: true,
                source: WakeSource::Task(1),
            },
        )
        .poll_end(29, 0, 1, false)
        .poll(33, 35, 0, 1)
        .end(40)
        .build();
    assert_eq!(
        kinds(&ix),
        vec![(AnomalyKind::SchedulingDelay, Severity::Warning)]
    );
    assert_eq!(ix.wakes[0].delay_ns, 5 * MS);
    assert_eq!(ix.wakes[1].delay_ns, 4 * MS);
    assert_eq!(ix.tasks[0].self_wakes, 1);
}

#[test]
fn woken_never_polled_counts_only_when_the_rest_of_the_window_is_long_enough() {
    let base = || {
        B::new().task(1, "a").spawn(0, 1).poll(1, 2, 0, 1).ev(
            10,
            2,
            EventKind::Wake {
                task: 1,
                by_ref: false,
                source: WakeSource::Foreign,
            },
        )
    };
    let ix = base().end(70).build();
    assert_eq!(
        kinds(&ix),
        vec![(AnomalyKind::SchedulingDelay, Severity::Critical)]
    );
    assert!(ix.anomalies[0].message.contains("never polled"));
    assert_eq!(ix.tasks[0].state, TaskState::Scheduled);
    let ix = base().end(14).build();
    assert!(ix.anomalies.is_empty(), "{:?}", ix.anomalies);
}

#[test]
fn lost_waker_needs_whole_history_to_be_critical_and_points_at_the_drop() {
    let full = B::new()
        .task(1, "lost")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            2,
            0,
            EventKind::WakerClone {
                task: 1,
                live: None,
            },
        )
        .poll_end(3, 0, 1, false)
        .ev(
            5,
            1,
            EventKind::WakerDrop {
                task: 1,
                live: None,
            },
        )
        .end(100)
        .build();
    assert_eq!(
        kinds(&full),
        vec![(AnomalyKind::LostWaker, Severity::Critical)]
    );
    assert_eq!(full.anomalies[0].event, 4, "points at the drop");
    assert_eq!(full.tasks[0].live_wakers, Some(0));

    // Spawn (and perhaps earlier clones) overwritten, and no count from the recorder:
    // nobody can know, so nothing is claimed (no "may have" guesses).
    let tail = B::new()
        .task(1, "maybe")
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .poll_end(3, 0, 1, false)
        .ev(
            5,
            1,
            EventKind::WakerDrop {
                task: 1,
                live: None,
            },
        )
        .end(100)
        .build();
    assert!(tail.anomalies.is_empty(), "{:?}", tail.anomalies);
    assert_eq!(tail.tasks[0].live_wakers, None);

    // A live waker, a later wake, or a finished task: not lost.
    let held = B::new()
        .task(1, "held")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            2,
            0,
            EventKind::WakerClone {
                task: 1,
                live: None,
            },
        )
        .poll_end(3, 0, 1, false)
        .end(100)
        .build();
    assert!(held.anomalies.is_empty());
    let done = B::new()
        .task(1, "done")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            2,
            0,
            EventKind::WakerClone {
                task: 1,
                live: None,
            },
        )
        .ev(
            2,
            0,
            EventKind::WakerDrop {
                task: 1,
                live: None,
            },
        )
        .ev(3, 0, EventKind::Terminate { task: 1 })
        .poll_end(3, 0, 1, true)
        .end(100)
        .build();
    assert!(done.anomalies.is_empty(), "{:?}", done.anomalies);
    assert_eq!(done.tasks[0].state, TaskState::Done);
}

#[test]
fn a_waker_that_outlives_its_task_is_an_orphan_not_a_lost_waker() {
    let ix = B::new()
        .task(1, "gone")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            2,
            0,
            EventKind::WakerClone {
                task: 1,
                live: None,
            },
        )
        .ev(3, 0, EventKind::Terminate { task: 1 })
        .poll_end(3, 0, 1, true)
        .ev(
            9,
            1,
            EventKind::OrphanWaker {
                op: WakerOp::Drop,
                span: 77,
            },
        )
        .end(100)
        .build();
    assert!(ix.anomalies.is_empty());
    assert_eq!(
        ix.tasks[0].live_wakers,
        Some(1),
        "the drop came after the task was gone"
    );
    assert_eq!(ix.task_of_event(5), None);
}

#[test]
fn poll_still_open_at_the_dump_and_the_panicking_one() {
    let mut b = B::new()
        .task(1, "hung")
        .task(2, "boom")
        .ev(0, 0, EventKind::PollStart { task: 1 })
        .ev(95, 1, EventKind::PollStart { task: 2 })
        .end(100);
    b.reason = Reason::Panic {
        message: "x".into(),
        location: None,
        thread: "w".into(),
        task: Some(2),
    };
    let ix = b.build();
    let k = kinds(&ix);
    assert_eq!(k[0], (AnomalyKind::PollInProgress, Severity::Critical));
    assert!(
        ix.anomalies[0].message.contains("panicked"),
        "{}",
        ix.anomalies[0].message
    );
    assert!(k.contains(&(AnomalyKind::PollInProgress, Severity::Critical)));
    assert_eq!(ix.tasks[0].state, TaskState::Running);
    assert_eq!(ix.polls[0].duration(ix.end_ns), 100 * MS);
    assert_eq!(ix.lanes[0].segments.len(), 1);
}

#[test]
fn driver_wake_after_a_timer_deadline_is_a_timer_wake() {
    let ix = B::new()
        .task(1, "sleeper")
        .task(2, "io")
        .ev(0, 0, EventKind::PollStart { task: 1 })
        .ev(
            0,
            0,
            EventKind::TimerArm {
                task: Some(1),
                duration_ms: 10,
            },
        )
        .poll_end(1, 0, 1, false)
        .ev(
            10,
            0,
            EventKind::Wake {
                task: 1,
                by_ref: false,
                source: WakeSource::Driver,
            },
        )
        .ev(
            12,
            0,
            EventKind::Wake {
                task: 2,
                by_ref: false,
                source: WakeSource::Driver,
            },
        )
        .end(20)
        .build();
    assert!(ix.wakes[0].timer);
    assert!(!ix.wakes[1].timer);
}

#[test]
fn self_wake_storm_and_worker_stall() {
    let mut b = B::new().task(1, "spinner").task(2, "victim");
    for i in 0..120 {
        let t = 10 + i;
        b = b
            .ev(t, 1, EventKind::PollStart { task: 1 })
            .ev(
                t,
                1,
                EventKind::Wake {
                    task: 1,
                    by_ref: true,
                    source: WakeSource::Task(1),
                },
            )
            .ev(
                t,
                1,
                EventKind::PollEnd {
                    task: 1,
                    completed: false,
                    duration_ns: None,
                },
            );
    }
    // Worker 0 busy 0..200 without parking while task 2 waits 20..190.
    let ix = b
        .ev(
            0,
            0,
            EventKind::Unpark {
                io_ready_total: None,
            },
        )
        .ev(
            20,
            2,
            EventKind::Wake {
                task: 2,
                by_ref: false,
                source: WakeSource::Foreign,
            },
        )
        .poll(1, 190, 0, 3)
        .poll(190, 191, 0, 2)
        .ev(200, 0, EventKind::Park)
        .end(300)
        .build();
    let k = kinds(&ix);
    assert!(
        k.contains(&(AnomalyKind::SelfWakeStorm, Severity::Warning)),
        "{k:?}"
    );
    assert!(
        k.contains(&(AnomalyKind::WorkerStall, Severity::Warning)),
        "{k:?}"
    );
    assert!(
        ix.anomalies
            .iter()
            .any(|a| a.kind == AnomalyKind::WorkerStall && a.lane == Some(0))
    );
}

#[test]
fn navigation_is_by_task_and_by_time() {
    let ix = B::new()
        .task(1, "a")
        .task(2, "b")
        .spawn(0, 1)
        .ev(
            1,
            0,
            EventKind::Spawn {
                task: 2,
                parent: Some(1),
            },
        )
        .ev(2, 1, EventKind::PollStart { task: 2 })
        .ev(3, 0, EventKind::PollStart { task: 1 })
        .poll_end(4, 1, 2, false)
        .end(10)
        .build();
    assert_eq!(ix.task_neighbour(0, true), Some(3));
    assert_eq!(ix.task_neighbour(3, false), Some(0));
    assert_eq!(ix.task_neighbour(4, true), None);
    assert_eq!(ix.event_at(3 * MS), 3);
    assert_eq!(ix.poll_at_event(4), Some(0));
    assert_eq!(ix.poll_at_event(0), None);
    assert_eq!(ix.poll_at_event(3), Some(1));
}

/// A future that returns Pending without registering its waker: spawned, polled once, no
/// waker op at all. With the tracing layer that is the classic lost waker (0 live wakers,
/// never woken since); without it the same events are all a dump can hold (the waker ops
/// come from the layer), so the missing ops say nothing and nothing is claimed.
#[test]
fn without_the_layer_no_lost_waker_is_claimed() {
    let build = |layer: bool| {
        let mut b = B::new()
            .task(1, "forgot")
            .spawn(0, 1)
            .ev(1, 0, EventKind::PollStart { task: 1 })
            .poll_end(2, 0, 1, false)
            .lane_state(0, Activity::Parked)
            .lane_state(1, Activity::Parked)
            .end(100);
        b.layer = layer;
        b.build()
    };
    let with = build(true);
    assert_eq!(
        kinds(&with),
        vec![(AnomalyKind::LostWaker, Severity::Critical)]
    );
    assert_eq!(with.anomalies[0].task, Some(0));
    assert_eq!(with.tasks[0].live_wakers, Some(0));
    let without = build(false);
    assert!(without.anomalies.is_empty(), "{:?}", without.anomalies);
}

#[test]
fn hooks_only_scheduling_delay_from_tokio_schedule_latency() {
    let mut b = B::new()
        .task(1, "starved")
        .spawn(0, 1)
        .poll(1, 2, 0, 1)
        // Tokio says: scheduled 60 ms before this poll.
        .ev(
            100,
            1,
            EventKind::Scheduled {
                task: 1,
                latency_ns: 60 * MS,
            },
        )
        .poll(100, 101, 1, 1)
        // A short wait is not an anomaly.
        .ev(
            150,
            1,
            EventKind::Scheduled {
                task: 1,
                latency_ns: MS,
            },
        )
        .poll(150, 151, 1, 1)
        .end(200);
    b.layer = false;
    let ix = b.build();
    // (The lanes never park in this made-up dump, so worker stalls are reported too.)
    let delays: Vec<_> = ix
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::SchedulingDelay)
        .collect();
    assert_eq!(delays.len(), 1, "{:?}", ix.anomalies);
    let a = delays[0];
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.magnitude, 60 * MS);
    assert_eq!(a.start_ns, 40 * MS);
    assert!(
        a.message.contains("was scheduled and waited"),
        "{}",
        a.message
    );
    assert_eq!(ix.tasks[0].longest_sched_ns, 60 * MS);
}

// ---- Event sequences in the order Tokio really emits them --------------------------

/// The after-poll hook runs after the task was released: preempted between its poll and
/// that hook, worker 0 records the end after the same task's next poll began on worker 1.
/// Two overlapping polls on two lanes, both closed, nothing hung.
#[test]
fn poll_end_recorded_after_the_next_poll_started_elsewhere() {
    let ix = B::new()
        .task(1, "conn")
        .spawn(0, 1)
        .ev(10, 0, EventKind::PollStart { task: 1 })
        .ev(
            10,
            0,
            EventKind::WakerClone {
                task: 1,
                live: None,
            },
        )
        .ev(
            11,
            1,
            EventKind::Wake {
                task: 1,
                by_ref: false,
                source: WakeSource::Driver,
            },
        )
        .ev(12, 1, EventKind::PollStart { task: 1 })
        .ev(
            12,
            1,
            EventKind::WakerClone {
                task: 1,
                live: None,
            },
        )
        // Worker 0 gets the CPU back and runs the late after-poll hook.
        .poll_end(12, 0, 1, false)
        .poll_end(13, 1, 1, false)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(5000)
        .build();
    assert!(ix.anomalies.is_empty(), "{:?}", ix.anomalies);
    assert_eq!(ix.polls.len(), 2);
    assert!(
        ix.polls
            .iter()
            .all(|p| p.end_ns.is_some() && !p.end_unknown)
    );
    assert_eq!(ix.polls[0].lane, 0);
    assert_eq!(ix.polls[0].duration(ix.end_ns), 2 * MS);
    assert_eq!(ix.polls[1].duration(ix.end_ns), MS);
    assert_eq!(ix.tasks[0].state, TaskState::Idle);
}

/// A poll whose end was torn or lost: closed when its lane shows it moved on (parked,
/// or polled something else), marked end-unknown, never "hung" and never a long poll.
#[test]
fn a_lost_poll_end_closes_at_the_lanes_next_move_and_is_not_a_measurement() {
    let ix = B::new()
        .task(1, "torn")
        .task(2, "next")
        .ev(0, 0, EventKind::PollStart { task: 1 })
        // (its poll-end was torn)
        .ev(400, 0, EventKind::PollStart { task: 2 })
        .poll_end(401, 0, 2, false)
        .ev(900, 1, EventKind::PollStart { task: 1 })
        // (and this one's end was lost in the ring's wrap; the lane parked later)
        .ev(990, 1, EventKind::Park)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(1000)
        .build();
    assert!(ix.anomalies.is_empty(), "{:?}", ix.anomalies);
    let torn = &ix.polls[0];
    assert!(torn.end_unknown);
    assert_eq!(torn.end_ns, Some(400 * MS));
    assert!(ix.polls[2].end_unknown);
    assert_eq!(
        ix.polls_by_duration.len(),
        1,
        "only the measured poll ranks"
    );
    assert_eq!(ix.tasks[0].longest_poll_ns, 0);
}

/// "In progress at the dump" is what the lane's own state at the dump says: a poll whose
/// lane was parked (its end lost) is not hung; one whose lane was still in it is.
#[test]
fn in_progress_at_the_dump_only_when_the_lane_says_so() {
    let build = |activity| {
        B::new()
            .task(1, "slow")
            .ev(0, 0, EventKind::PollStart { task: 1 })
            .lane_state(0, activity)
            .lane_state(1, Activity::Parked)
            .end(4380)
            .build()
    };
    let lost_end = build(Activity::Parked);
    assert!(lost_end.anomalies.is_empty(), "{:?}", lost_end.anomalies);
    assert_ne!(lost_end.tasks[0].state, TaskState::Running);
    let hung = build(Activity::Polling { task: 1 });
    assert_eq!(
        kinds(&hung),
        vec![(AnomalyKind::PollInProgress, Severity::Critical)]
    );
    assert_eq!(hung.tasks[0].state, TaskState::Running);
}

/// The ring overwrote the task's spawn and early clones; the recorder still counted its
/// wakers and put the count in every op: 0 after the last drop is a lost waker for sure
/// (pointing at that drop), 1 is not. (The recorder's count taken at the dump agrees.)
#[test]
fn lost_waker_from_the_recorders_count_when_the_spawn_was_overwritten() {
    let seq = |live: u64| {
        B::new()
            .task(1, "reader")
            .task(2, "other")
            .ev(1, 0, EventKind::PollStart { task: 1 })
            .ev(
                1,
                0,
                EventKind::WakerClone {
                    task: 1,
                    live: Some(live + 1),
                },
            )
            .poll_end(2, 0, 1, false)
            .ev(5, 1, EventKind::PollStart { task: 2 })
            .ev(
                6,
                1,
                EventKind::WakerDrop {
                    task: 1,
                    live: Some(live),
                },
            )
            .ev(
                6,
                1,
                EventKind::WakerClone {
                    task: 2,
                    live: Some(1),
                },
            )
            .poll_end(7, 1, 2, false)
            .wakers(1, live as i64)
            .wakers(2, 1)
            .end(100)
            .build()
    };
    let lost = seq(0);
    assert_eq!(
        kinds(&lost),
        vec![(AnomalyKind::LostWaker, Severity::Critical)]
    );
    assert_eq!(lost.anomalies[0].event, 4, "the drop, not the clone");
    assert!(
        lost.anomalies[0].message.contains("during other's poll"),
        "{}",
        lost.anomalies[0].message
    );
    assert_eq!(lost.tasks[0].live_wakers, Some(0));
    let held = seq(1);
    assert!(held.anomalies.is_empty(), "{:?}", held.anomalies);
    assert_eq!(held.tasks[0].live_wakers, Some(1));
}

/// A task that armed a timer in its last poll will be woken by it: not lost, even with no
/// waker op in the window.
#[test]
fn a_task_sleeping_on_a_timer_is_not_lost() {
    let ix = B::new()
        .task(1, "ticker")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            1,
            0,
            EventKind::TimerArm {
                task: Some(1),
                duration_ms: 500,
            },
        )
        .poll_end(1, 0, 1, false)
        .end(100)
        .build();
    assert!(ix.anomalies.is_empty(), "{:?}", ix.anomalies);
}

/// Its last waker dropped while it waited, then cancelled 300 ms later (runtime shutdown
/// or `abort()`): stuck all that time, and reported. A plain abort, whose future drop
/// releases the wakers right before the termination, is not.
#[test]
fn stuck_until_cancelled_after_losing_its_waker() {
    let stuck = B::new()
        .task(1, "victim")
        .task(2, "culprit")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            1,
            0,
            EventKind::WakerClone {
                task: 1,
                live: None,
            },
        )
        .poll_end(2, 0, 1, false)
        .ev(10, 1, EventKind::PollStart { task: 2 })
        .ev(
            10,
            1,
            EventKind::WakerDrop {
                task: 1,
                live: None,
            },
        )
        .poll_end(11, 1, 2, false)
        .ev(310, 0, EventKind::Terminate { task: 1 })
        .end(400)
        .build();
    let lost: Vec<_> = stuck
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::LostWaker)
        .collect();
    assert_eq!(lost.len(), 1, "{:?}", stuck.anomalies);
    assert_eq!(lost[0].severity, Severity::Critical);
    assert_eq!(lost[0].magnitude, 300 * MS);
    assert!(
        lost[0].message.contains("until it was cancelled"),
        "{}",
        lost[0].message
    );

    let aborted = B::new()
        .task(1, "aborted")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            1,
            0,
            EventKind::WakerClone {
                task: 1,
                live: None,
            },
        )
        .poll_end(2, 0, 1, false)
        .ev(
            300,
            1,
            EventKind::WakerDrop {
                task: 1,
                live: None,
            },
        )
        .ev(300, 1, EventKind::Terminate { task: 1 })
        .end(400)
        .build();
    assert!(aborted.anomalies.is_empty(), "{:?}", aborted.anomalies);
}

/// Current-thread runtime: a hog spins 200 ms in one poll; the ticker's 5 ms timer comes
/// due meanwhile, but the driver only fires it after the hog returns, so the wake-to-poll
/// delay is tiny. Measured from the deadline, the ticker waited ~196 ms: starvation.
#[test]
fn a_timer_that_came_due_during_a_hog_is_late_from_its_deadline() {
    let ix = B::new()
        .task(1, "ticker")
        .task(2, "hog")
        .spawn(0, 1)
        .spawn(0, 2)
        .ev(0, 0, EventKind::PollStart { task: 1 })
        .ev(
            0,
            0,
            EventKind::TimerArm {
                task: Some(1),
                duration_ms: 5,
            },
        )
        .ev(
            0,
            0,
            EventKind::WakerClone {
                task: 1,
                live: None,
            },
        )
        .poll_end(0, 0, 1, false)
        .ev(1, 0, EventKind::PollStart { task: 2 })
        .poll_end(201, 0, 2, false)
        .ev(
            201,
            0,
            EventKind::Wake {
                task: 1,
                by_ref: false,
                source: WakeSource::Driver,
            },
        )
        .ev(201, 0, EventKind::PollStart { task: 1 })
        .poll_end(201, 0, 1, false)
        .end(300)
        .build();
    let late: Vec<_> = ix
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::SchedulingDelay)
        .collect();
    assert_eq!(late.len(), 1, "{:?}", ix.anomalies);
    assert_eq!(late[0].severity, Severity::Critical);
    assert_eq!(late[0].magnitude, 196 * MS);
    assert!(
        late[0].message.contains("after its timer was due"),
        "{}",
        late[0].message
    );
    assert!(
        ix.anomalies
            .iter()
            .any(|a| a.kind == AnomalyKind::LongPoll && a.severity == Severity::Critical)
    );
}

/// Tokio starts workers through the blocking spawner: a worker whose index was never
/// learned is recorded as a blocking thread. It polled tasks, so it is a worker.
#[test]
fn a_lane_that_polls_tasks_is_a_worker() {
    let mut b = B::new()
        .task(1, "t")
        .ev(0, 3, EventKind::PollStart { task: 1 })
        .poll_end(1, 3, 1, false)
        .end(10);
    b.events.insert(
        0,
        Event {
            ts_ns: 0,
            lane: 3,
            kind: EventKind::ThreadStart,
        },
    );
    let mut ix = b.build();
    let lane = ix.lane(3).unwrap().info.clone();
    assert_eq!(lane.kind, ThreadKind::Other, "unknown lanes stay other");
    // The same with the thread table calling it blocking.
    ix.dump.threads.push(ThreadInfo {
        lane: 3,
        os_tid: 9,
        name: "tokio-rt-worker".into(),
        worker: None,
        kind: ThreadKind::Blocking,
    });
    let ix = Index::build(ix.dump.clone(), Thresholds::default());
    assert_eq!(ix.lane(3).unwrap().info.kind, ThreadKind::Worker);
    assert!(ix.lane(3).unwrap().label().starts_with("worker"));
}

/// Unnamed tasks are their spawn location, without the cargo registry's prefix.
#[test]
fn unnamed_tasks_are_named_by_their_spawn_location() {
    let mut b = B::new().ev(0, 0, EventKind::PollStart { task: 44 }).end(1);
    b.tasks.push(TaskInfo {
        id: 44,
        name: String::new(),
        kind: TaskKind::Task,
        location: Some(SpawnLocation {
            file: "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/mini-redis-0.4.1/src/server.rs".into(),
            line: 276,
            col: 13,
        }),
        spawned_by: None,
    });
    let ix = b.build();
    assert_eq!(ix.tasks[0].label(), "mini-redis-0.4.1/src/server.rs:276");
    use super::index::short_path;
    assert_eq!(
        short_path(
            "/root/.cargo/git/checkouts/tokio-4a5e90f3eb3c1c9c/8f2fa0a/tokio/src/net/tcp.rs"
        ),
        "tokio/tokio/src/net/tcp.rs"
    );
    assert_eq!(
        short_path("/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/thread/mod.rs"),
        "std/src/thread/mod.rs"
    );
    assert_eq!(short_path("src/main.rs"), "src/main.rs");
}

/// A 100 ms poll during which the worker's thread waited 80 ms for a CPU (its run-queue
/// wait, sampled by the recorder at unpark and at the end of the long poll) is the host's
/// doing: kept, labelled, at most a warning. The same poll on CPU is the code's: critical.
#[test]
fn host_contention_explains_a_long_poll_only_with_the_schedulers_word() {
    let seq = |wait_ms: u64| {
        B::new()
            .task(1, "handler")
            .ev(
                0,
                0,
                EventKind::Unpark {
                    io_ready_total: None,
                },
            )
            .ev(
                0,
                0,
                EventKind::CpuStat {
                    on_cpu_ns: 500 * MS,
                    runq_wait_ns: 7 * MS,
                },
            )
            .ev(1, 0, EventKind::PollStart { task: 1 })
            .poll_end(101, 0, 1, false)
            .ev(
                101,
                0,
                EventKind::CpuStat {
                    on_cpu_ns: 500 * MS + (100 - wait_ms) * MS,
                    runq_wait_ns: 7 * MS + wait_ms * MS,
                },
            )
            .end(200)
            .build()
    };
    let host = seq(80);
    let long: Vec<_> = host
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::LongPoll)
        .collect();
    assert_eq!(long.len(), 1);
    assert!(long[0].host_contention);
    assert_eq!(long[0].severity, Severity::Warning);
    assert!(
        long[0].message.contains("host contention"),
        "{}",
        long[0].message
    );
    assert!(host.verdict.contains("host"), "{}", host.verdict);

    let code = seq(2);
    let long: Vec<_> = code
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::LongPoll)
        .collect();
    assert!(!long[0].host_contention);
    assert_eq!(long[0].severity, Severity::Critical);
    assert!(
        code.verdict.contains("blocked by long polls"),
        "{}",
        code.verdict
    );
}

/// Groups: one entry per kind and subject, ranked causes first; unnamed tasks from one
/// spawn location are one group; every occurrence stays listed.
#[test]
fn anomalies_group_by_subject_and_rank_causes_first() {
    let mut b = B::new().task(9, "probe");
    for (i, t) in [(0u64, 1u64), (1, 2), (2, 3)] {
        b.tasks.push(TaskInfo {
            id: t,
            name: String::new(),
            kind: TaskKind::Task,
            location: Some(SpawnLocation {
                file: "src/server.rs".into(),
                line: 40,
                col: 9,
            }),
            spawned_by: None,
        });
        b = b.poll(i * 100, i * 100 + 60, 0, t);
    }
    let ix = b
        .ev(
            5,
            1,
            EventKind::Wake {
                task: 9,
                by_ref: false,
                source: WakeSource::Foreign,
            },
        )
        .ev(65, 1, EventKind::PollStart { task: 9 })
        .poll_end(66, 1, 9, false)
        .end(400)
        .build();
    assert_eq!(ix.groups[0].kind, AnomalyKind::LongPoll);
    assert_eq!(ix.groups[0].subject, "src/server.rs:40");
    assert_eq!(ix.groups[0].count(), 3);
    assert_eq!(ix.groups[0].tasks, 3);
    assert_eq!(ix.groups[0].total, 180 * MS);
    assert_eq!(ix.groups[1].kind, AnomalyKind::SchedulingDelay);
    assert_eq!(ix.groups[1].subject, "probe");
    let listed: usize = ix.groups.iter().map(|g| g.count()).sum();
    assert_eq!(listed, ix.anomalies.len());
    assert!(ix.verdict.contains("src/server.rs:40"), "{}", ix.verdict);
    assert!(
        ix.verdict.contains("probe waited up to 60 ms"),
        "{}",
        ix.verdict
    );
}

/// A task of a second runtime that was not instrumented: the layer records its wakes, but
/// no poll. Nothing is said about its scheduling (no "never polled" delays by the
/// thousand), and the report says why.
#[test]
fn tasks_of_an_uninstrumented_runtime_are_unobserved_not_starved() {
    let mut b = B::new().task(7, "client");
    for i in 0..50 {
        b = b.ev(
            i * 2,
            2,
            EventKind::Wake {
                task: 7,
                by_ref: false,
                source: WakeSource::Driver,
            },
        );
    }
    let ix = b.unhooked(7).end(200).build();
    assert!(ix.anomalies.is_empty(), "{:?}", ix.anomalies);
    assert_eq!(ix.tasks[0].state, TaskState::Unobserved);
}

/// Alive at the dump with no live waker by the recorder's count, and not a single event in
/// the window (its spawn and last poll long overwritten): lost, for sure. The same task
/// holding a waker, or with no count from the recorder, is not claimed.
#[test]
fn a_task_idle_for_the_whole_window_without_a_waker_is_lost() {
    let base = || {
        B::new()
            .task(1, "forgotten")
            .task(2, "busy")
            .poll(10, 11, 0, 2)
            .ev(20, 0, EventKind::Park)
            .ev(
                80,
                0,
                EventKind::Unpark {
                    io_ready_total: None,
                },
            )
            .poll(90, 91, 0, 2)
            .end(100)
    };
    let lost = base().wakers(1, 0).wakers(2, 1).build();
    assert_eq!(
        kinds(&lost),
        vec![(AnomalyKind::LostWaker, Severity::Critical)]
    );
    assert!(lost.anomalies[0].message.contains("whole window"));
    assert!(
        base()
            .wakers(1, 1)
            .wakers(2, 1)
            .build()
            .anomalies
            .is_empty()
    );
    assert!(base().build().anomalies.is_empty());
}

/// The count rides in each waker op: a window that lost the task's spawn still knows it.
#[test]
fn waker_counts_carried_by_the_ops_survive_a_lost_beginning() {
    let ix = B::new()
        .task(1, "reader")
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            1,
            0,
            EventKind::WakerClone {
                task: 1,
                live: Some(3),
            },
        )
        .poll_end(2, 0, 1, false)
        .ev(
            5,
            1,
            EventKind::WakerDrop {
                task: 1,
                live: Some(2),
            },
        )
        .end(100)
        .build();
    assert_eq!(ix.tasks[0].live_wakers, Some(2));
    assert!(ix.anomalies.is_empty(), "{:?}", ix.anomalies);
}

/// Seen on mini-redis: the dump read the ring in the middle of a connection handler's
/// poll (its start and the drop of its old waker in the window, the new clones not yet),
/// then read the lane states after that poll ended. The task was mid-poll, not waiting:
/// no lost waker, no hang, its count at that instant is not a resting count.
#[test]
fn a_poll_open_when_the_ring_was_read_is_not_a_hang_nor_a_lost_waker() {
    let mut b = B::new()
        .task(98, "conn")
        .ev(90, 1, EventKind::PollStart { task: 98 })
        .ev(
            90,
            1,
            EventKind::WakerDrop {
                task: 98,
                live: Some(1),
            },
        )
        .ev(
            90,
            1,
            EventKind::WakerClone {
                task: 98,
                live: Some(2),
            },
        )
        .poll_end(91, 1, 98, false)
        .ev(
            95,
            0,
            EventKind::Wake {
                task: 98,
                by_ref: false,
                source: WakeSource::Driver,
            },
        )
        .ev(99, 1, EventKind::PollStart { task: 98 })
        .ev(
            99,
            1,
            EventKind::WakerDrop {
                task: 98,
                live: Some(0),
            },
        )
        .wakers(98, 2)
        .end(100);
    b.lane_states.push(LaneState {
        lane: 1,
        activity: Activity::Parked,
        since_ns: 100 * MS,
    });
    let ix = b.lane_state(0, Activity::Parked).build();
    assert!(ix.anomalies.is_empty(), "{:?}", ix.anomalies);
    assert_eq!(ix.tasks[0].state, TaskState::Running);
    assert!(ix.polls[1].open_at_window_end);
}

/// A worker of a runtime without the hooks records wakes only: no poll, no park. It is
/// never judged stalled (nothing says it did not park).
#[test]
fn a_worker_without_recorded_activity_is_not_stalled() {
    let mut b = B::new().task(7, "client").unhooked(7);
    for i in 0..100 {
        b = b.ev(
            i * 2,
            1,
            EventKind::Wake {
                task: 7,
                by_ref: false,
                source: WakeSource::Driver,
            },
        );
    }
    // Worker 0 is busy and parks; woken tasks wait meanwhile.
    let ix = b
        .task(1, "probe")
        .ev(0, 0, EventKind::Park)
        .ev(
            1,
            0,
            EventKind::Unpark {
                io_ready_total: None,
            },
        )
        .ev(
            10,
            2,
            EventKind::Wake {
                task: 1,
                by_ref: false,
                source: WakeSource::Foreign,
            },
        )
        .ev(30, 0, EventKind::PollStart { task: 1 })
        .poll_end(31, 0, 1, false)
        .ev(32, 0, EventKind::Park)
        .end(300)
        .build();
    assert!(
        ix.anomalies
            .iter()
            .all(|a| !(a.kind == AnomalyKind::WorkerStall && a.lane == Some(1))),
        "{:?}",
        ix.anomalies
    );
}

/// A task woken before the window and still queued behind a worker hung for the whole
/// window holds no waker either: with a worker that never parked in the window, nothing
/// is claimed (it may be in that worker's queue).
#[test]
fn no_lost_waker_claim_while_a_worker_never_parked() {
    let ix = B::new()
        .task(1, "queued")
        .task(2, "hog")
        .ev(0, 0, EventKind::PollStart { task: 2 })
        .ev(5, 1, EventKind::Park)
        .lane_state(0, Activity::Polling { task: 2 })
        .wakers(1, 0)
        .wakers(2, 1)
        .end(400)
        .build();
    assert!(
        ix.anomalies
            .iter()
            .all(|a| a.kind != AnomalyKind::LostWaker),
        "{:?}",
        ix.anomalies
    );
}

/// Two racing waker ops: the window's last op (by time) carries a stale 0, the recorder's
/// count at the dump says 1. No claim.
#[test]
fn a_stale_zero_in_the_last_op_is_not_a_lost_waker_when_the_recorder_disagrees() {
    let ix = B::new()
        .task(1, "conn")
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            1,
            0,
            EventKind::WakerClone {
                task: 1,
                live: Some(1),
            },
        )
        .poll_end(2, 0, 1, false)
        .ev(
            3,
            1,
            EventKind::WakerDrop {
                task: 1,
                live: Some(0),
            },
        )
        .wakers(1, 1)
        .end(100)
        .build();
    assert!(ix.anomalies.is_empty(), "{:?}", ix.anomalies);
}

/// `select!` on a sleep and a channel: the sleep is armed, the channel wins, then the task
/// waits 200 ms on a socket. The socket's wake is not measured from the old deadline.
#[test]
fn a_deadline_does_not_outlive_a_wake_from_elsewhere() {
    let ix = B::new()
        .task(1, "selector")
        .task(2, "sender")
        .spawn(0, 1)
        .ev(0, 0, EventKind::PollStart { task: 1 })
        .ev(
            0,
            0,
            EventKind::TimerArm {
                task: Some(1),
                duration_ms: 10,
            },
        )
        .ev(
            0,
            0,
            EventKind::WakerClone {
                task: 1,
                live: Some(1),
            },
        )
        .poll_end(0, 0, 1, false)
        .ev(
            2,
            1,
            EventKind::Wake {
                task: 1,
                by_ref: false,
                source: WakeSource::Task(2),
            },
        )
        .ev(2, 0, EventKind::PollStart { task: 1 })
        .ev(
            2,
            0,
            EventKind::WakerClone {
                task: 1,
                live: Some(1),
            },
        )
        .poll_end(2, 0, 1, false)
        .ev(
            200,
            1,
            EventKind::Wake {
                task: 1,
                by_ref: false,
                source: WakeSource::Driver,
            },
        )
        .ev(200, 0, EventKind::PollStart { task: 1 })
        .poll_end(200, 0, 1, false)
        .end(300)
        .build();
    assert!(
        ix.anomalies
            .iter()
            .all(|a| a.kind != AnomalyKind::SchedulingDelay),
        "{:?}",
        ix.anomalies
    );
}

/// Run-queue wait the thread built up while waking from a park (before its unpark was
/// recorded) cannot explain a CPU-bound poll after it: a 60 ms poll on CPU stays critical.
#[test]
fn wait_from_before_a_poll_does_not_excuse_it() {
    let ix = B::new()
        .task(1, "cruncher")
        .ev(
            0,
            0,
            EventKind::CpuStat {
                on_cpu_ns: 0,
                runq_wait_ns: 0,
            },
        )
        .ev(0, 0, EventKind::Park)
        .ev(
            40,
            0,
            EventKind::Unpark {
                io_ready_total: None,
            },
        )
        .ev(41, 0, EventKind::PollStart { task: 1 })
        .poll_end(101, 0, 1, false)
        .ev(
            101,
            0,
            EventKind::CpuStat {
                on_cpu_ns: 60 * MS,
                runq_wait_ns: 40 * MS,
            },
        )
        .end(200)
        .build();
    let long: Vec<_> = ix
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::LongPoll)
        .collect();
    assert_eq!(long.len(), 1);
    assert!(!long[0].host_contention, "{}", long[0].message);
    assert_eq!(long[0].severity, Severity::Critical);
}

/// A poll's end carries the task's own waker op at the end's own timestamp, decoded just
/// before the end: the op happened inside that poll, not after it.
#[test]
fn an_own_waker_op_at_a_polls_last_instant_is_inside_it() {
    let ix = B::new()
        .task(1, "lost")
        .task(2, "other")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            3,
            0,
            EventKind::WakerDrop {
                task: 1,
                live: Some(0),
            },
        )
        .poll_end(3, 0, 1, false)
        // Another lane's poll ending at the same instant claims nothing on lane 0.
        .ev(2, 1, EventKind::PollStart { task: 2 })
        .ev(
            4,
            0,
            EventKind::WakerClone {
                task: 2,
                live: Some(1),
            },
        )
        .poll_end(4, 1, 2, false)
        .end(100)
        .build();
    let at = |kind: EventKind| ix.dump.events.iter().position(|e| e.kind == kind).unwrap() as u32;
    let drop = at(EventKind::WakerDrop {
        task: 1,
        live: Some(0),
    });
    assert_eq!(ix.polling_at_event(drop), ix.task_idx(1));
    let clone = at(EventKind::WakerClone {
        task: 2,
        live: Some(1),
    });
    assert_eq!(ix.polling_at_event(clone), None);
    let lost = ix
        .anomalies
        .iter()
        .find(|a| a.kind == AnomalyKind::LostWaker)
        .expect("lost waker");
    assert!(lost.message.contains("in its own poll"), "{}", lost.message);
}

/// The watchdog's looks at one 100 ms poll of task 1 on lane 0, from lane 2 every 10 ms
/// from 5 ms (in the order the recorder writes them: the looks from another thread while
/// the poll runs, then the poll's end and its own CPU sample). `look(i)` gives the i-th
/// look's (state, syscall, cumulative on-CPU µs, cumulative run-queue µs); the CPU sample
/// at the end carries `end_cpu` (µs, cumulative).
fn watched_poll(look: impl Fn(u64) -> (u8, Option<u16>, u32, u32), end_cpu: (u64, u64)) -> Index {
    let mut b = B::new()
        .task(1, "slow")
        .spawn(0, 1)
        .ev(0, 0, EventKind::PollStart { task: 1 });
    b.facts.arch = "x86_64".into();
    for i in 0..10 {
        let (state, syscall, on_cpu_us, runq_wait_us) = look(i);
        b = b.ev(
            5 + 10 * i,
            2,
            EventKind::PollSample {
                task: 1,
                state,
                syscall,
                on_cpu_us,
                runq_wait_us,
            },
        );
    }
    b.poll_end(100, 0, 1, false)
        .ev(
            100,
            0,
            EventKind::CpuStat {
                on_cpu_ns: end_cpu.0 * 1_000,
                runq_wait_ns: end_cpu.1 * 1_000,
            },
        )
        .end(200)
        .build()
}

fn long_poll(ix: &Index) -> &super::Anomaly {
    ix.anomalies
        .iter()
        .find(|a| a.kind == AnomalyKind::LongPoll)
        .expect("a long poll")
}

#[test]
fn a_poll_blocked_in_a_sleep_says_so_and_where() {
    let ix = watched_poll(|_| (b'S', Some(230), 700, 50), (700, 50));
    let a = long_poll(&ix);
    let why = a.why.as_ref().expect("the watchdog's reading");
    assert_eq!(why.cause, super::why::Cause::Blocked);
    assert_eq!((why.looks, why.watched_ns), (10, 95 * MS));
    assert_eq!(why.blocked_ns, 95 * MS);
    assert_eq!(why.syscall.and_then(|s| s.name), Some("clock_nanosleep"));
    assert!(
        a.message
            .contains("blocked 95 ms of the 95 ms watched in clock_nanosleep"),
        "{}",
        a.message
    );
    assert!(a.advice().contains("tokio::time::sleep"));
    assert_eq!(a.severity, Severity::Critical);
}

#[test]
fn a_poll_on_a_cpu_is_code_that_does_not_yield() {
    // 10 ms on a CPU between looks, across the 2^24 µs wrap of the counters.
    let base = (1 << 24) - 25_000;
    let cpu = |i: u64| ((base + 10_000 * i) % (1 << 24)) as u32;
    let ix = watched_poll(|i| (b'R', None, cpu(i), 9), (base + 95_000, 9));
    let why = long_poll(&ix).why.clone().unwrap();
    assert_eq!(why.cause, super::why::Cause::OnCpu);
    assert_eq!(why.on_cpu_ns, 95 * MS);
    assert!(why.syscall.is_none());
    assert!(long_poll(&ix).advice().contains("yield_now"));
}

#[test]
fn a_poll_waiting_for_a_cpu_is_the_hosts_doing() {
    // Runnable the whole time, on a CPU a tenth of it: the kernel counts the wait only
    // once the thread runs, so the unaccounted time between two runnable looks is a wait.
    let ix = watched_poll(|i| (b'R', None, 1_000 * i as u32, 0), (9_500, 0));
    let a = long_poll(&ix);
    let why = a.why.as_ref().unwrap();
    assert_eq!(why.cause, super::why::Cause::WaitingForCpu);
    assert_eq!(why.runq_ns + why.on_cpu_ns, 95 * MS);
    assert!(a.host_contention);
    assert_eq!(a.severity, Severity::Warning, "the host, not the code");
}

#[test]
fn looks_at_another_task_or_after_the_poll_are_not_its_own() {
    let ix = B::new()
        .task(1, "quick")
        .task(2, "other")
        .spawn(0, 1)
        .ev(0, 0, EventKind::PollStart { task: 1 })
        .ev(
            5,
            2,
            EventKind::PollSample {
                task: 2,
                state: b'S',
                syscall: Some(202),
                on_cpu_us: 0,
                runq_wait_us: 0,
            },
        )
        .poll_end(20, 0, 1, false)
        .ev(
            25,
            2,
            EventKind::PollSample {
                task: 1,
                state: b'S',
                syscall: Some(202),
                on_cpu_us: 0,
                runq_wait_us: 0,
            },
        )
        .end(100)
        .build();
    assert!(ix.poll_samples.is_empty());
    let a = long_poll(&ix);
    assert!(a.why.is_none());
    assert!(!a.message.contains("watched"));
}

/// A group's worst occurrence whose looks the ring lost (the watchdog's block went
/// first): the report line says what the watchdog saw in another occurrence.
#[test]
fn a_group_without_looks_at_its_worst_borrows_another_occurrences() {
    let mut b = B::new()
        .task(1, "slow")
        .spawn(0, 1)
        // The worst poll, 120 ms, no looks left.
        .ev(0, 0, EventKind::PollStart { task: 1 })
        .poll_end(120, 0, 1, false)
        .ev(130, 0, EventKind::PollStart { task: 1 });
    b.facts.arch = "x86_64".into();
    for i in 0..8 {
        b = b.ev(
            135 + 10 * i,
            2,
            EventKind::PollSample {
                task: 1,
                state: b'S',
                syscall: Some(230),
                on_cpu_us: 7,
                runq_wait_us: 0,
            },
        );
    }
    let ix = b.poll_end(230, 0, 1, false).end(300).build();
    let text = crate::cli::report::text(&ix, "d", 10);
    assert!(
        text.contains(
            "; in another of them: blocked 70 ms of the 70 ms watched in clock_nanosleep"
        ),
        "{text}"
    );
}
