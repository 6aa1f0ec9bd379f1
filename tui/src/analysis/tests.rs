//! One test per rule on small dumps built for the purpose, with the edges that matter.

use dial9_format::*;

use super::{AnomalyKind, Index, Segment, Severity, TaskState, Thresholds};

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
    damage: Option<Damage>,
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
            damage: None,
        }
    }
    /// The reader lost the events between `after` and `before` (a damaged block).
    fn lost(mut self, after: Option<u64>, before: Option<u64>) -> B {
        let d = self.damage.get_or_insert_with(Damage::default);
        d.blocks_lost += 1;
        d.gaps
            .push((after.map(|ms| ms * MS), before.map(|ms| ms * MS)));
        self
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
            damage: self.damage,
        };
        Index::build(dump, th)
    }
}

/// The anomalies' kinds and severities, in order, once each is checked to be placed and
/// counted: the explorer shows an anomaly on its task's line and its lane, so each names
/// its task (all but a worker stall, which is a lane's) and its lane (all but a self-wake
/// storm, which spans lanes, and a lost waker that did nothing in the window), and each
/// task's count of anomalies is theirs.
fn kinds(ix: &Index) -> Vec<(AnomalyKind, Severity)> {
    for a in &ix.anomalies {
        assert_eq!(
            a.task.is_some(),
            a.kind != AnomalyKind::WorkerStall,
            "{a:?}"
        );
        let nowhere = a.kind == AnomalyKind::SelfWakeStorm
            || matches!(a.detail, super::Detail::LostWakerIdle);
        assert_eq!(a.lane.is_some(), !nowhere, "{a:?}");
    }
    // Each task's count of its anomalies (the task list's column) is theirs.
    for (t, task) in ix.tasks.iter().enumerate() {
        let theirs = (ix.anomalies.iter())
            .filter(|a| a.task == Some(t as u32))
            .count();
        assert_eq!(task.anomalies as usize, theirs, "{}", task.label());
    }
    ix.anomalies.iter().map(|a| (a.kind, a.severity)).collect()
}

/// More polls than the ranking keeps, of three lengths (ties everywhere): lane 0 alone
/// fills the ranking, and lane 1's, read after it, all come earlier, so at each length
/// they must take the places of lane 0's. The kept ones are the longest, the earlier
/// first among equals, as a sort of them all would say.
#[test]
fn the_longest_polls_are_those_a_full_sort_ranks_first() {
    let mut b = B::new().task(1, "a").task(2, "b");
    let lane0 = super::index::LONGEST_KEPT + 500;
    let mut at = [100_000u64, 0];
    for i in 0..lane0 + 1_500 {
        let lane = usize::from(i >= lane0);
        let len = 4 + (i as u64 * 7919) % 3;
        let from = at[lane];
        b = b.poll(from, from + len, lane as u32, 1 + lane as u64);
        at[lane] = from + len + 1;
    }
    assert!(at[1] < 100_000, "lane 1's polls all come first");
    let ix = b.end(at[0] + 1).build();
    let mut all: Vec<(u64, u64, u32)> = ix
        .polls
        .iter()
        .map(|(p, poll)| (poll.end_ns.unwrap() - poll.start_ns, poll.start_ns, p))
        .collect();
    assert_eq!(all.len(), lane0 + 1_500);
    all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let want: Vec<u32> = all
        .iter()
        .take(super::index::LONGEST_KEPT)
        .map(|k| k.2)
        .collect();
    // Ranked only when asked for: building the index (all the report needs) leaves it.
    assert!(ix.longest.get().is_none());
    assert_eq!(ix.polls_by_duration(), want);
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
    assert_eq!(ix.polls_by_duration()[0], 1);
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
    assert_eq!(ix.wake(0).unwrap().delay_ns, 5 * MS);
    assert_eq!(ix.wake(1).unwrap().delay_ns, 4 * MS);
    assert_eq!(ix.tasks[0].self_wakes, 1);
}

/// A wake whose poll the damaged dump lost looks like a wake answered late, or never: the
/// same events with the gap between them are at most a warning that says why.
#[test]
fn no_critical_claim_is_made_across_events_the_reader_lost() {
    // Polled once, then woken from outside at 10 ms.
    let woken = || {
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
    let base = || woken().poll(400, 401, 0, 1).end(500);
    let whole = base().build();
    assert_eq!(
        kinds(&whole),
        vec![
            (AnomalyKind::SchedulingDelay, Severity::Critical),
            (AnomalyKind::WorkerStall, Severity::Critical)
        ]
    );
    let damaged = base().lost(Some(20), Some(390)).build();
    assert_eq!(
        kinds(&damaged),
        vec![
            (AnomalyKind::SchedulingDelay, Severity::Warning),
            (AnomalyKind::WorkerStall, Severity::Warning)
        ]
    );
    assert!(
        damaged
            .anomalies
            .iter()
            .all(|a| a.message(&damaged).contains("damaged dump"))
    );
    // A gap after the delay leaves it critical; the worker stall spans the whole window,
    // so the gap reaches it.
    let elsewhere = base().lost(Some(450), Some(460)).build();
    assert_eq!(
        kinds(&elsewhere),
        vec![
            (AnomalyKind::SchedulingDelay, Severity::Critical),
            (AnomalyKind::WorkerStall, Severity::Warning)
        ]
    );
    // Never polled again: a gap at the window's end reaches the wait that runs to it.
    let never = || woken().end(70);
    assert_eq!(
        kinds(&never().build()),
        vec![(AnomalyKind::SchedulingDelay, Severity::Critical)]
    );
    assert_eq!(
        kinds(&never().lost(Some(60), None).build()),
        vec![(AnomalyKind::SchedulingDelay, Severity::Warning)]
    );
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
    assert!(ix.anomalies[0].message(&ix).contains("never polled"));
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
        ix.anomalies[0].message(&ix).contains("panicked"),
        "{}",
        ix.anomalies[0].message(&ix)
    );
    assert!(k.contains(&(AnomalyKind::PollInProgress, Severity::Critical)));
    assert_eq!(ix.tasks[0].state, TaskState::Running);
    assert_eq!(ix.poll(0).unwrap().duration(ix.end_ns), 100 * MS);
    assert_eq!(ix.polls.of_lane(0).len() + ix.lanes[0].parks.len(), 1);
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
    assert!(ix.wake(0).unwrap().timer);
    assert!(!ix.wake(1).unwrap().timer);
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
    // Polls are numbered lane by lane: lane 0's (task 1's) first.
    assert_eq!(ix.poll_at_event(4), Some(1));
    assert_eq!(ix.poll(1).unwrap().start_event, 2);
    assert_eq!(ix.poll_at_event(0), None);
    assert_eq!(ix.poll_at_event(3), Some(0));
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
        a.message(&ix).contains("was scheduled and waited"),
        "{}",
        a.message(&ix)
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
            .all(|(_, p)| p.end_ns.is_some() && !p.end_unknown)
    );
    assert_eq!(ix.poll(0).unwrap().lane, 0);
    assert_eq!(ix.poll(0).unwrap().duration(ix.end_ns), 2 * MS);
    assert_eq!(ix.poll(1).unwrap().duration(ix.end_ns), MS);
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
    let torn = &ix.poll(0).unwrap();
    assert!(torn.end_unknown);
    assert_eq!(torn.end_ns, Some(400 * MS));
    assert!(ix.poll(2).unwrap().end_unknown);
    assert_eq!(
        ix.polls_by_duration().len(),
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

/// A poll's segment is the same made from its columns or from the poll read whole, an
/// open one's running up to the time given (never ending before it starts).
#[test]
fn a_polls_segment_is_the_same_from_its_columns_and_from_the_poll() {
    let ix = B::new()
        .task(1, "a")
        .poll(1, 11, 0, 1)
        .poll(20, 70, 1, 1)
        .ev(80, 0, EventKind::PollStart { task: 1 })
        .lane_state(0, Activity::Polling { task: 1 })
        .end(4380)
        .build();
    let mut open = 0;
    for li in 0..ix.polls.lane_count() {
        for i in 0..ix.polls.of_lane(li).len() {
            let p = ix.polls.at(li, i);
            open += usize::from(p.end_ns.is_none());
            let of_poll = Segment::of_poll(&p, ix.polls.idx(li, i), ix.end_ns);
            assert_eq!(of_poll, Segment::poll(&ix, li, i));
            // Counted up to a time before its start, a poll ends where it starts.
            let early = Segment::of_poll(&p, ix.polls.idx(li, i), 0);
            assert_eq!(early.end_ns, ix.polls.of_lane(li).end_or(i, 0));
        }
    }
    assert_eq!((ix.polls.len(), open), (3, 1));
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
        lost.anomalies[0]
            .message(&lost)
            .contains("during other's poll"),
        "{}",
        lost.anomalies[0].message(&lost)
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
    // The victim's, on the lane where its last waker was dropped.
    assert_eq!((lost[0].task, lost[0].lane), (Some(0), Some(1)));
    assert!(
        lost[0].message(&stuck).contains("until it was cancelled"),
        "{}",
        lost[0].message(&stuck)
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
        late[0].message(&ix).contains("after its timer was due"),
        "{}",
        late[0].message(&ix)
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
    let mut dump = ix.dump.clone();
    dump.events = ix.events.iter().collect();
    let ix = Index::build(dump, Thresholds::default());
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
        long[0].message(&host).contains("host contention"),
        "{}",
        long[0].message(&host)
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
    assert!(lost.anomalies[0].message(&lost).contains("whole window"));
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
    assert!(ix.poll(1).unwrap().open_at_window_end);
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
    assert!(!long[0].host_contention, "{}", long[0].message(&ix));
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
    let at = |kind: EventKind| ix.events.iter().position(|e| e.kind == kind).unwrap() as u32;
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
    assert!(
        lost.message(&ix).contains("in its own poll"),
        "{}",
        lost.message(&ix)
    );
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
        a.message(&ix)
            .contains("blocked 95 ms of the 95 ms watched in clock_nanosleep"),
        "{}",
        a.message(&ix)
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
    assert!(!a.message(&ix).contains("watched"));
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

// ---- What the rules claim, at their edges (mutation testing found these unasserted) --

/// `check --kind` and `report --json` spell the kinds and severities this way; every
/// kind's name parses back to it, an unknown one to nothing.
#[test]
fn kinds_and_severities_have_their_cli_names() {
    let names: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "long-poll",
            "scheduling-delay",
            "lost-waker",
            "poll-in-progress",
            "self-wake-storm",
            "worker-stall"
        ]
    );
    for k in AnomalyKind::ALL {
        assert_eq!(AnomalyKind::parse(k.as_str()), Some(k));
    }
    assert_eq!(AnomalyKind::parse("long_poll"), None);
    assert_eq!(
        [Severity::Info, Severity::Warning, Severity::Critical].map(Severity::as_str),
        ["info", "warning", "critical"]
    );
}

/// Each kind says what it usually means in words of its own.
#[test]
fn every_kind_has_advice_of_its_own() {
    let advice: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.advice()).collect();
    for (i, a) in advice.iter().enumerate() {
        assert!(a.len() > 40, "{:?}: {a:?}", AnomalyKind::ALL[i]);
        assert_eq!(advice.iter().filter(|b| *b == a).count(), 1, "{a:?}");
    }
    assert!(AnomalyKind::LostWaker.advice().contains("waker"));
    assert!(AnomalyKind::LongPoll.advice().contains("spawn_blocking"));
}

/// A 10 ms and a 50 ms poll that finished, and a 2 ms poll still running at the dump:
/// one anomaly of each severity, counted as such, the long one's message with its
/// duration and its worker.
#[test]
fn severity_counts_and_the_long_polls_words() {
    let ix = B::new()
        .task(1, "a")
        .task(2, "b")
        .spawn(0, 1)
        .spawn(0, 2)
        .poll(1, 11, 0, 1)
        .poll(20, 70, 0, 1)
        .ev(98, 1, EventKind::PollStart { task: 2 })
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Polling { task: 2 })
        .end(100)
        .build();
    assert_eq!(
        kinds(&ix),
        vec![
            (AnomalyKind::LongPoll, Severity::Critical),
            (AnomalyKind::LongPoll, Severity::Warning),
            (AnomalyKind::PollInProgress, Severity::Info),
        ]
    );
    assert_eq!(
        super::SeverityCounts::of(&ix.anomalies),
        super::SeverityCounts {
            critical: 1,
            warning: 1,
            info: 1
        }
    );
    assert!(
        ix.anomalies[0]
            .message(&ix)
            .starts_with("a polled for 50 ms without yielding on worker 0"),
        "{}",
        ix.anomalies[0].message(&ix)
    );
    assert!(
        ix.anomalies[2]
            .message(&ix)
            .contains("b was being polled at the dump on worker 1 after 2.0 ms"),
        "{}",
        ix.anomalies[2].message(&ix)
    );
}

/// Among critical anomalies the cause comes before its consequence whatever their
/// sizes: the 50 ms long poll before the 60 ms wait it caused.
#[test]
fn a_long_poll_ranks_before_the_longer_delay_it_caused() {
    let ix = B::new()
        .task(1, "hog")
        .task(2, "victim")
        .spawn(0, 1)
        .spawn(0, 2)
        // The victim's first poll registers its waker.
        .poll(0, 1, 0, 2)
        .poll(1, 51, 0, 1)
        // Woken from outside the runtime while the hog held worker 0.
        .ev(
            2,
            2,
            EventKind::Wake {
                task: 2,
                by_ref: false,
                source: WakeSource::Foreign,
            },
        )
        .poll(62, 63, 0, 2)
        .ev(64, 0, EventKind::Park)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(100)
        .build();
    let critical: Vec<_> = ix
        .anomalies
        .iter()
        .filter(|a| a.severity == Severity::Critical)
        .map(|a| (a.kind, a.magnitude))
        .collect();
    assert_eq!(
        critical,
        vec![
            (AnomalyKind::LongPoll, 50 * MS),
            (AnomalyKind::SchedulingDelay, 60 * MS)
        ]
    );
}

/// The panicking poll is the dump's cause; another poll still open is not, and is
/// graded by how long it has run: 20 ms a warning, 2 ms information.
#[test]
fn only_the_panicking_poll_is_the_dumps_cause_and_open_polls_are_graded_by_age() {
    let mut b = B::new()
        .task(1, "stuck")
        .task(2, "boom")
        .ev(80, 0, EventKind::PollStart { task: 1 })
        .ev(98, 1, EventKind::PollStart { task: 2 })
        .lane_state(0, Activity::Polling { task: 1 })
        .lane_state(1, Activity::Polling { task: 2 })
        .end(100);
    b.reason = Reason::Panic {
        message: "x".into(),
        location: None,
        thread: "w".into(),
        task: Some(2),
    };
    let ix = b.build();
    let open: Vec<_> = ix
        .anomalies
        .iter()
        .map(|a| (a.task, a.severity, a.is_dump_cause))
        .collect();
    assert_eq!(
        open,
        vec![
            (Some(1), Severity::Critical, true),
            (Some(0), Severity::Warning, false)
        ]
    );
    assert!(
        ix.anomalies[0]
            .message(&ix)
            .contains("boom panicked in this poll")
    );
    assert!(
        ix.anomalies[1]
            .message(&ix)
            .contains("stuck was still in this poll at the dump")
    );
    assert_eq!(
        ix.verdict,
        "panicked in boom's poll; in a poll for 20 ms at the dump: stuck"
    );
}

/// A task woken twice before one poll waited once, from the first wake; two tasks never
/// polled after their wakes are two waits.
#[test]
fn one_scheduling_delay_per_poll_and_one_per_task_never_polled() {
    let foreign = |task| EventKind::Wake {
        task,
        by_ref: false,
        source: WakeSource::Foreign,
    };
    let ix = B::new()
        .task(1, "twice")
        .task(2, "never-a")
        .task(3, "never-b")
        .spawn(0, 1)
        .spawn(0, 2)
        .spawn(0, 3)
        // First polls register the wakers the wakes below use (two for `twice`).
        .poll(1, 2, 0, 1)
        .ev(
            2,
            0,
            EventKind::WakerClone {
                task: 1,
                live: None,
            },
        )
        .poll(3, 4, 0, 2)
        .poll(5, 6, 0, 3)
        .ev(10, 2, foreign(1))
        // Woken again while already queued (a second notification).
        .ev(
            12,
            1,
            EventKind::Wake {
                task: 1,
                by_ref: false,
                source: WakeSource::Driver,
            },
        )
        .poll(30, 31, 0, 1)
        .ev(40, 2, foreign(2))
        .ev(41, 2, foreign(3))
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(100)
        .build();
    let delays: Vec<_> = ix
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::SchedulingDelay)
        .map(|a| (a.task, a.magnitude))
        .collect();
    assert_eq!(
        delays,
        vec![(Some(1), 60 * MS), (Some(2), 59 * MS), (Some(0), 20 * MS)]
    );
}

/// What woke a task that then waited says who to look at: itself, another task, its
/// timer, or the runtime.
#[test]
fn a_delays_message_names_what_woke_the_task() {
    let message = |ix: &Index, task: u32| {
        ix.anomalies
            .iter()
            .find(|a| a.kind == AnomalyKind::SchedulingDelay && a.task == Some(task))
            .map(|a| a.message(ix))
            .unwrap_or_else(|| panic!("a delay of task {task}: {:?}", ix.anomalies))
    };
    let ix = B::new()
        .task(1, "spinner")
        .task(2, "consumer")
        .task(3, "producer")
        .task(4, "sleeper")
        .task(5, "reader")
        .spawn(0, 1)
        .spawn(0, 2)
        .spawn(0, 3)
        .spawn(0, 4)
        .spawn(0, 5)
        // spinner wakes itself in its poll, then waits 10 ms for the next.
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            1,
            0,
            EventKind::Wake {
                task: 1,
                by_ref: true,
                source: WakeSource::Task(1),
            },
        )
        .poll_end(2, 0, 1, false)
        .poll(12, 13, 0, 1)
        // consumer and reader register their wakers.
        .poll(14, 15, 0, 2)
        .poll(16, 17, 0, 5)
        // producer wakes consumer, polled 10 ms later.
        .ev(20, 1, EventKind::PollStart { task: 3 })
        .ev(
            20,
            1,
            EventKind::Wake {
                task: 2,
                by_ref: false,
                source: WakeSource::Task(3),
            },
        )
        .poll_end(21, 1, 3, false)
        .poll(30, 31, 0, 2)
        // sleeper's timer (2 ms) fires and it is never polled again.
        .ev(40, 0, EventKind::PollStart { task: 4 })
        .ev(
            40,
            0,
            EventKind::TimerArm {
                task: Some(4),
                duration_ms: 2,
            },
        )
        .ev(
            40,
            0,
            EventKind::WakerClone {
                task: 4,
                live: None,
            },
        )
        .poll_end(40, 0, 4, false)
        .ev(
            42,
            0,
            EventKind::Wake {
                task: 4,
                by_ref: false,
                source: WakeSource::Driver,
            },
        )
        // reader is woken by the I/O driver and never polled again.
        .ev(
            43,
            0,
            EventKind::Wake {
                task: 5,
                by_ref: false,
                source: WakeSource::Driver,
            },
        )
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(100)
        .build();
    let m = message(&ix, 0);
    assert!(
        m.contains("spinner was woken by itself and waited 10 ms"),
        "{m}"
    );
    let m = message(&ix, 1);
    assert!(
        m.contains("consumer was woken by producer and waited 10 ms"),
        "{m}"
    );
    let m = message(&ix, 3);
    assert!(
        m.contains("sleeper was woken by its timer and never polled"),
        "{m}"
    );
    let m = message(&ix, 4);
    assert!(
        m.contains("reader was woken by the runtime (I/O driver or yield_now) and never polled"),
        "{m}"
    );
}

/// A task with no waker and no event in the window is lost only once every worker
/// parked: here worker 0 polled the whole time and never parked (the task may sit in
/// its queue), though worker 1 polled and parked.
#[test]
fn a_worker_that_polled_but_never_parked_leaves_an_idle_task_unjudged() {
    let ix = B::new()
        .task(1, "queued")
        .task(2, "hog")
        .task(3, "quick")
        .ev(0, 0, EventKind::PollStart { task: 2 })
        .poll(3, 4, 1, 3)
        .ev(5, 1, EventKind::Park)
        .lane_state(0, Activity::Polling { task: 2 })
        .lane_state(1, Activity::Parked)
        .wakers(1, 0)
        .wakers(2, 1)
        .wakers(3, 1)
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

/// A `spawn_blocking` task queued behind a busy blocking pool has no waker and does
/// nothing for the whole window: blocking tasks have no wakers, it is not lost.
#[test]
fn a_queued_blocking_task_is_not_a_lost_waker() {
    let build = |kind| {
        let mut b = B::new()
            .task(1, "queued")
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
            .wakers(1, 0)
            .wakers(2, 1)
            .end(100);
        b.tasks[0].kind = kind;
        b.build()
    };
    assert_eq!(
        kinds(&build(TaskKind::Task)),
        vec![(AnomalyKind::LostWaker, Severity::Critical)],
        "the same for an async task is a lost waker"
    );
    for kind in [TaskKind::Blocking, TaskKind::BlockOn] {
        let ix = build(kind);
        assert!(ix.anomalies.is_empty(), "{kind:?}: {:?}", ix.anomalies);
    }
}

/// Stuck until cancelled: polled (a waker registered), the waker dropped by another
/// task at `drop_at`, then the task cancelled at `cancel_at` with no poll in between.
/// `spawn`: the window holds the task's spawn; `counts`: the ops carry the recorder's
/// count.
fn cancelled(spawn: bool, counts: bool, drop_at: u64, cancel_at: u64) -> Index {
    let mut b = B::new().task(1, "victim").task(2, "culprit");
    if spawn {
        b = b.spawn(0, 1);
    }
    b.ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(
            1,
            0,
            EventKind::WakerClone {
                task: 1,
                live: counts.then_some(1),
            },
        )
        .poll_end(2, 0, 1, false)
        .ev(drop_at, 1, EventKind::PollStart { task: 2 })
        .ev(
            drop_at,
            1,
            EventKind::WakerDrop {
                task: 1,
                live: counts.then_some(0),
            },
        )
        .poll_end(drop_at, 1, 2, false)
        .ev(cancel_at, 1, EventKind::Terminate { task: 1 })
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(cancel_at + 50)
        .build()
}

fn lost(ix: &Index) -> Vec<(Severity, u64)> {
    ix.anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::LostWaker)
        .map(|a| (a.severity, a.magnitude))
        .collect()
}

/// The count at the cancellation must be known: from the spawn, or from the recorder's
/// count in the ops. With the spawn overwritten and no count, nothing is claimed.
#[test]
fn stuck_until_cancelled_needs_a_known_count() {
    assert_eq!(
        lost(&cancelled(true, false, 10, 110)),
        vec![(Severity::Critical, 100 * MS)]
    );
    assert_eq!(
        lost(&cancelled(false, true, 10, 110)),
        vec![(Severity::Critical, 100 * MS)],
        "the recorder's count in the ops"
    );
    assert_eq!(lost(&cancelled(false, false, 10, 110)), vec![]);
}

/// Stuck from 5 ms (a warning) and from 50 ms (critical); less is the cancellation
/// dropping the future and its wakers.
#[test]
fn stuck_until_cancelled_thresholds_are_inclusive() {
    assert_eq!(lost(&cancelled(true, false, 10, 14)), vec![]);
    assert_eq!(
        lost(&cancelled(true, false, 10, 15)),
        vec![(Severity::Warning, 5 * MS)]
    );
    assert_eq!(
        lost(&cancelled(true, false, 10, 59)),
        vec![(Severity::Warning, 49 * MS)]
    );
    assert_eq!(
        lost(&cancelled(true, false, 10, 60)),
        vec![(Severity::Critical, 50 * MS)]
    );
}

/// The last waker dropped inside the last poll, at the very instant it began (the
/// clock's resolution), still went after the poll started: stuck until cancelled.
#[test]
fn a_waker_dropped_as_the_last_poll_began_is_after_it() {
    let ix = B::new()
        .task(1, "victim")
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
        .ev(10, 0, EventKind::PollStart { task: 1 })
        // The future replaced its registration with none: the old waker goes.
        .ev(
            10,
            0,
            EventKind::WakerDrop {
                task: 1,
                live: None,
            },
        )
        .poll_end(11, 0, 1, false)
        .ev(110, 1, EventKind::Terminate { task: 1 })
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(200)
        .build();
    assert_eq!(lost(&ix), vec![(Severity::Critical, 100 * MS)]);
    let a = ix
        .anomalies
        .iter()
        .find(|a| a.kind == AnomalyKind::LostWaker)
        .unwrap();
    assert!(
        a.message(&ix).contains("in its own poll"),
        "{}",
        a.message(&ix)
    );
}

/// `n` polls of a task each waking itself (`wake_by_ref` in the poll), and `others`
/// wakes of it by another task between them.
fn wakes(n: u64, others: u64) -> Index {
    let mut b = B::new().task(1, "spinner").task(2, "producer").spawn(0, 1);
    for i in 0..n.max(others) {
        let t = 10 + 2 * i;
        if i < n {
            b = b
                .ev(t, 0, EventKind::PollStart { task: 1 })
                .ev(
                    t,
                    0,
                    EventKind::WakerClone {
                        task: 1,
                        live: None,
                    },
                )
                .ev(
                    t,
                    0,
                    EventKind::Wake {
                        task: 1,
                        by_ref: true,
                        source: WakeSource::Task(1),
                    },
                )
                .poll_end(t, 0, 1, false);
        }
        if i < others {
            b = b
                .ev(t + 1, 1, EventKind::PollStart { task: 2 })
                .ev(
                    t + 1,
                    1,
                    EventKind::Wake {
                        task: 1,
                        by_ref: false,
                        source: WakeSource::Task(2),
                    },
                )
                .poll_end(t + 1, 1, 2, false);
        }
    }
    b.lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(10 + 2 * n.max(others) + 10)
        .build()
}

fn storms(ix: &Index) -> Vec<(Severity, u64)> {
    ix.anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::SelfWakeStorm)
        .map(|a| (a.severity, a.magnitude))
        .collect()
}

/// A storm: at least 100 wakes, more than half of them by the task itself.
#[test]
fn self_wake_storm_thresholds() {
    assert_eq!(storms(&wakes(100, 0)), vec![(Severity::Warning, 100)]);
    assert_eq!(storms(&wakes(99, 0)), vec![], "99 wakes are not enough");
    assert_eq!(
        storms(&wakes(100, 20)),
        vec![(Severity::Warning, 100)],
        "100 of 120 by itself"
    );
    assert_eq!(storms(&wakes(60, 60)), vec![], "half is not most");
    assert_eq!(storms(&wakes(61, 60)), vec![(Severity::Warning, 61)]);
}

/// Worker 0 is awake from 100 ms to 200 ms (a 95 ms poll, then the task woken at 110 ms)
/// and worker 1 for 20 ms while another task waited 15 ms: one stall, exactly the first
/// stretch; 100 ms is the threshold, included, and 20 ms is no stall.
#[test]
fn a_worker_stall_is_the_stretch_between_parks_from_the_threshold_on() {
    let foreign = |task| EventKind::Wake {
        task,
        by_ref: false,
        source: WakeSource::Foreign,
    };
    let unpark = EventKind::Unpark {
        io_ready_total: None,
    };
    let ix = B::new()
        .task(1, "hog")
        .task(2, "victim")
        .task(3, "other")
        .spawn(0, 1)
        .spawn(0, 2)
        .spawn(0, 3)
        // First polls register the wakers the wakes below use.
        .poll(0, 0, 0, 2)
        .poll(0, 0, 1, 3)
        .ev(0, 0, EventKind::Park)
        .ev(0, 1, EventKind::Park)
        .ev(100, 0, unpark)
        .poll(100, 195, 0, 1)
        .ev(110, 2, foreign(2))
        .poll(195, 196, 0, 2)
        .ev(200, 0, EventKind::Park)
        .ev(250, 2, foreign(3))
        .ev(250, 1, unpark)
        .poll(265, 266, 1, 3)
        .ev(270, 1, EventKind::Park)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(400)
        .build();
    let stalls: Vec<_> = ix
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::WorkerStall)
        .map(|a| (a.lane, a.start_ns, a.end_ns, a.magnitude, a.severity))
        .collect();
    assert_eq!(
        stalls,
        vec![(Some(0), 100 * MS, 200 * MS, 100 * MS, Severity::Warning)]
    );
}

/// A 20 ms poll on worker 0 (80 ms to 100 ms), its thread parked from 10 ms until
/// `unpark_at`, CPU samples at the park and after the poll; `runq_ms` of waiting for a
/// CPU between them. Only what the bracket's time outside the poll cannot hold counts.
fn host_poll(unpark_at: u64, runq_ms: u64) -> Index {
    B::new()
        .task(1, "handler")
        .spawn(0, 1)
        .ev(10, 0, EventKind::Park)
        .ev(
            10,
            0,
            EventKind::CpuStat {
                on_cpu_ns: 500 * MS,
                runq_wait_ns: 7 * MS,
            },
        )
        .ev(
            unpark_at,
            0,
            EventKind::Unpark {
                io_ready_total: None,
            },
        )
        .poll(80, 100, 0, 1)
        .ev(
            100,
            0,
            EventKind::CpuStat {
                on_cpu_ns: 506 * MS,
                runq_wait_ns: (7 + runq_ms) * MS,
            },
        )
        .ev(101, 0, EventKind::Park)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(200)
        .build()
}

/// The samples bracket the poll tightly enough when the thread was awake at most half
/// again as long as the poll (its parked time does not count); then 10 ms of the 20 ms
/// waiting for a CPU, beyond what the 70 ms of the 90 ms bracket outside the poll can
/// hold, is the host's doing.
#[test]
fn host_contention_from_cpu_samples_around_a_park() {
    let host = |ix: &Index| {
        let a = long_poll(ix);
        assert_eq!(a.magnitude, 20 * MS);
        assert_eq!(a.severity, Severity::Warning);
        assert_eq!(
            a.host_contention,
            a.message(ix).contains("[host contention: "),
            "{}",
            a.message(ix)
        );
        a.host_contention
    };
    // Awake 20 ms of the bracket, 94 ms waiting: 24 ms beyond the 70 outside.
    assert!(host(&host_poll(80, 94)));
    // Awake exactly 30 ms, half again the poll: still tight; 20 ms beyond.
    assert!(host(&host_poll(70, 90)));
    // Awake 40 ms: too loose to say.
    assert!(!host(&host_poll(60, 90)));
    // Tight, but only 9 ms beyond what the outside can hold: not most of the poll.
    assert!(!host(&host_poll(80, 79)));
}

/// Both workers parked, a task woken from outside at 1 ms, and the workers' threads
/// (woken too) waiting for a CPU until 80 ms: the 79 ms delay is the host's doing, a
/// warning. If one worker did not wait (`second_waited` false), the code is to blame.
fn host_delay(second_waited: bool) -> Index {
    // Its first poll registers the waker the wake uses.
    let mut b = B::new().task(1, "victim").spawn(0, 1).poll(0, 0, 0, 1);
    for lane in 0..2 {
        b = b.ev(0, lane, EventKind::Park).ev(
            0,
            lane,
            EventKind::CpuStat {
                on_cpu_ns: 500 * MS,
                runq_wait_ns: 7 * MS,
            },
        );
    }
    b = b.ev(
        1,
        2,
        EventKind::Wake {
            task: 1,
            by_ref: false,
            source: WakeSource::Foreign,
        },
    );
    for lane in 0..2 {
        b = b.ev(
            80,
            lane,
            EventKind::Unpark {
                io_ready_total: None,
            },
        );
    }
    b = b.poll(80, 81, 0, 1);
    for lane in 0..2 {
        let waited = if lane == 0 || second_waited { 78 } else { 0 };
        b = b.ev(82, lane, EventKind::Park).ev(
            82,
            lane,
            EventKind::CpuStat {
                on_cpu_ns: 501 * MS,
                runq_wait_ns: (7 + waited) * MS,
            },
        );
    }
    b.lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(200)
        .build()
}

#[test]
fn host_contention_explains_a_delay_only_if_every_worker_waited() {
    let delay = |ix: &Index| {
        ix.anomalies
            .iter()
            .find(|a| a.kind == AnomalyKind::SchedulingDelay)
            .map(|a| (a.magnitude, a.severity, a.host_contention))
            .unwrap_or_else(|| panic!("a delay: {:?}", ix.anomalies))
    };
    assert_eq!(delay(&host_delay(true)), (79 * MS, Severity::Warning, true));
    assert_eq!(
        delay(&host_delay(false)),
        (79 * MS, Severity::Critical, false)
    );
}

// ---- Groups and the verdict ----------------------------------------------------------

/// Two tasks of one name, each a critical long poll: one group of two tasks, led by the
/// worse one's task.
#[test]
fn a_group_is_led_by_its_worst_member() {
    let ix = B::new()
        .task(1, "conn")
        .task(2, "conn")
        .spawn(0, 1)
        .spawn(0, 2)
        .poll(1, 81, 0, 1)
        .poll(1, 61, 1, 2)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(100)
        .build();
    assert_eq!(ix.groups.len(), 1, "{:?}", ix.groups);
    let g = &ix.groups[0];
    assert_eq!(
        (g.kind, g.severity, g.subject.as_str(), g.task, g.tasks),
        (
            AnomalyKind::LongPoll,
            Severity::Critical,
            "conn",
            Some(0),
            2
        )
    );
    assert_eq!((g.count(), g.worst, g.total), (2, 80 * MS, 140 * MS));
}

/// A group's worst is its longest member, even one the host explains (ranked below as
/// a warning); its severity stays the critical member's, and the host does not explain
/// the group.
#[test]
fn a_groups_worst_is_its_longest_member_and_its_severity_the_highest() {
    let ix = B::new()
        .task(1, "handler")
        .spawn(0, 1)
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
        // 100 ms, 80 of them waiting for a CPU: the host's doing, a warning.
        .poll(1, 101, 0, 1)
        .ev(
            101,
            0,
            EventKind::CpuStat {
                on_cpu_ns: 520 * MS,
                runq_wait_ns: 87 * MS,
            },
        )
        .ev(102, 0, EventKind::Park)
        // 60 ms on worker 1, nothing to explain it: critical.
        .poll(110, 170, 1, 1)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(200)
        .build();
    assert_eq!(
        kinds(&ix),
        vec![
            (AnomalyKind::LongPoll, Severity::Critical),
            (AnomalyKind::LongPoll, Severity::Warning)
        ]
    );
    assert!(ix.anomalies[1].host_contention);
    assert_eq!(ix.groups.len(), 1);
    let g = &ix.groups[0];
    assert_eq!(
        (g.severity, g.worst, g.total, g.count(), g.host_contention),
        (Severity::Critical, 100 * MS, 160 * MS, 2, false)
    );
}

/// `n` tasks, each one critical long poll, 90 ms, 80 ms, ...
fn long_polls_of(n: u64) -> Index {
    let names = ["a", "b", "c", "d", "e"];
    let mut b = B::new();
    for i in 0..n {
        b = b.task(i + 1, names[i as usize]).spawn(0, i + 1);
    }
    let mut at = 1;
    for i in 0..n {
        let d = 90 - 10 * i;
        b = b.poll(at, at + d, 0, i + 1);
        at += d + 1;
    }
    b.ev(at, 0, EventKind::Park)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(at + 10)
        .build()
}

#[test]
fn the_verdict_names_three_subjects_then_counts_the_rest() {
    assert_eq!(
        long_polls_of(3).verdict,
        "workers blocked by long polls (up to 90 ms) in a, b, c"
    );
    assert_eq!(
        long_polls_of(4).verdict,
        "workers blocked by long polls (up to 90 ms) in a, b, c and 1 more"
    );
    assert_eq!(
        long_polls_of(5).verdict,
        "workers blocked by long polls (up to 90 ms) in a, b, c and 2 more"
    );
}

/// The verdict says what matters and nothing else: a hang, only information, nothing,
/// only the host's doing.
#[test]
fn the_verdict_of_a_hang_of_information_of_nothing_and_of_the_host() {
    let open = |ms: u64| {
        B::new()
            .task(1, "hung")
            .ev(100 - ms, 0, EventKind::PollStart { task: 1 })
            .lane_state(0, Activity::Polling { task: 1 })
            .lane_state(1, Activity::Parked)
            .end(100)
            .build()
    };
    assert_eq!(open(60).verdict, "in a poll for 60 ms at the dump: hung");
    assert_eq!(open(2).verdict, "no warnings: only informational findings");
    let healthy = B::new()
        .task(1, "fine")
        .spawn(0, 1)
        .poll(1, 2, 0, 1)
        .ev(3, 0, EventKind::Park)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(100)
        .build();
    assert_eq!(healthy.verdict, "healthy: no anomalies at these thresholds");
    assert_eq!(
        host_poll(80, 94).verdict,
        "some delays were the host's doing (threads waiting for a CPU)"
    );
    let lost = B::new()
        .task(1, "forgot")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .poll_end(2, 0, 1, false)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(100)
        .build();
    assert_eq!(lost.verdict, "lost waker (nothing will wake it): forgot");
}

// ---- Why a poll ran long ------------------------------------------------------------

#[test]
fn causes_have_their_json_names() {
    use super::why::Cause;
    assert_eq!(
        [
            Cause::OnCpu,
            Cause::Blocked,
            Cause::WaitingForCpu,
            Cause::Mixed
        ]
        .map(Cause::as_str),
        ["on-cpu", "blocked", "waiting-for-cpu", "mixed"]
    );
}

fn why_of(cause: super::why::Cause, call: Option<&'static str>) -> super::why::PollWhy {
    super::why::PollWhy {
        looks: 4,
        watched_ns: 40 * MS,
        on_cpu_ns: 0,
        runq_ns: 0,
        blocked_ns: 40 * MS,
        syscall: call.map(|name| super::why::Syscall {
            nr: 0,
            name: Some(name),
            looks: 4,
            blocked_looks: 4,
        }),
        cause,
        samples: vec![],
        stack: vec![],
        callee: None,
        stack_captures: (0, 0),
    }
}

/// What the watchdog saw leads to advice of its own: the host's doing, a lock, a sleep,
/// a spinning loop, another blocking call.
#[test]
fn the_advice_follows_the_cause_and_the_call() {
    use super::why::Cause;
    let advice = |cause, call| why_of(cause, call).advice();
    assert!(advice(Cause::WaitingForCpu, Some("futex")).starts_with("the host, not the code"));
    assert!(advice(Cause::Blocked, Some("futex")).contains("tokio::sync"));
    assert!(advice(Cause::Mixed, Some("futex")).contains("tokio::sync"));
    assert!(advice(Cause::Blocked, Some("nanosleep")).contains("tokio::time::sleep"));
    assert!(advice(Cause::OnCpu, Some("futex")).contains("yield_now"));
    assert!(advice(Cause::Blocked, Some("read")).contains("spawn_blocking"));
}

/// A blocking call's name says what it usually is in Rust code; an unknown one is named
/// only.
#[test]
fn a_blocked_poll_says_what_its_call_usually_is() {
    use super::why::Cause;
    for (call, hint) in [
        (
            "clock_nanosleep",
            "std::thread::sleep or another blocking sleep",
        ),
        (
            "futex_waitv",
            "a std::sync::Mutex, RwLock, Condvar, a blocking channel or a join",
        ),
        (
            "recvfrom",
            "a blocking read: std::fs, std::net or a blocking client",
        ),
        ("sendfile", "a blocking write"),
        ("fdatasync", "a blocking flush to disk"),
        ("accept4", "a blocking network call"),
        ("statx", "a blocking file-system call"),
        (
            "epoll_pwait2",
            "waiting on file descriptors: a nested event loop or block_on",
        ),
        ("waitid", "waiting for a child process"),
        ("getrandom", "waiting for the kernel's entropy"),
    ] {
        assert_eq!(
            why_of(Cause::Blocked, Some(call)).summary(),
            format!("blocked 40 ms of the 40 ms watched in {call} ({hint})")
        );
    }
    assert_eq!(
        why_of(Cause::Blocked, Some("membarrier")).summary(),
        "blocked 40 ms of the 40 ms watched in membarrier"
    );
}

#[test]
fn system_calls_are_named_by_the_recording_architecture() {
    use super::why::syscall_name;
    assert_eq!(syscall_name("x86_64", 202), Some("futex"));
    assert_eq!(syscall_name("aarch64", 98), Some("futex"));
    assert_eq!(syscall_name("aarch64", 101), Some("nanosleep"));
    assert_eq!(
        syscall_name("x86_64", 101),
        None,
        "ptrace: not a blocking call"
    );
    assert_eq!(syscall_name("riscv64", 98), None);
}

/// A 100 ms poll with one look at 60 ms: the look and the poll's end CPU sample make
/// the two readings needed, when the sample is within 1 ms of the end (`cpu_at`); alone
/// the look says nothing.
fn one_look(cpu_at: Option<u64>) -> Index {
    let mut b = B::new()
        .task(1, "slow")
        .spawn(0, 1)
        .ev(0, 0, EventKind::PollStart { task: 1 })
        .ev(
            60,
            2,
            EventKind::PollSample {
                task: 1,
                state: b'S',
                syscall: Some(230),
                on_cpu_us: 100,
                runq_wait_us: 0,
            },
        )
        .poll_end(100, 0, 1, false);
    b.facts.arch = "x86_64".into();
    if let Some(at) = cpu_at {
        b = b.ev(
            at,
            0,
            EventKind::CpuStat {
                on_cpu_ns: 100_000,
                runq_wait_ns: 0,
            },
        );
    }
    b.lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(200)
        .build()
}

#[test]
fn a_single_look_needs_the_end_sample_within_a_millisecond() {
    let why = long_poll(&one_look(Some(100)))
        .why
        .clone()
        .expect("explained");
    assert_eq!(
        (why.looks, why.watched_ns, why.blocked_ns),
        (1, 40 * MS, 40 * MS)
    );
    assert!(
        long_poll(&one_look(Some(101))).why.is_none(),
        "1 ms after: not the poll's"
    );
    assert!(long_poll(&one_look(None)).why.is_none());
}

/// Looks that find the thread runnable, blocked, runnable: each interval's time on a CPU
/// and waiting for one from the counters (capped at the interval), the rest blocked,
/// unless both ends found it runnable (then a wait the kernel had not counted yet). The
/// call most blocked looks found, and how many did.
#[test]
fn the_watched_time_splits_exactly_between_cpu_wait_and_blocked() {
    // (ms, state, call, on_cpu_us, runq_wait_us)
    let looks: [(u64, u8, Option<u16>, u32, u32); 6] = [
        (10, b'R', None, 0, 0),
        (20, b'S', Some(202), 3_000, 2_000),
        (30, b'S', Some(0), 4_000, 2_000),
        (40, b'S', Some(0), 5_000, 3_000),
        (50, b'R', None, 8_000, 4_000),
        (55, b'R', None, 10_000, 5_000),
    ];
    let mut b = B::new()
        .task(1, "mixed")
        .spawn(0, 1)
        .ev(0, 0, EventKind::PollStart { task: 1 });
    b.facts.arch = "x86_64".into();
    for (ms, state, syscall, on_cpu_us, runq_wait_us) in looks {
        b = b.ev(
            ms,
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
    let ix = b
        .poll_end(60, 0, 1, false)
        // 4 ms more on a CPU and 5 ms more waiting, in a 5 ms interval: the counters were
        // read a little apart from the timestamps; at most the interval counts.
        .ev(
            60,
            0,
            EventKind::CpuStat {
                on_cpu_ns: 14 * MS,
                runq_wait_ns: 10 * MS,
            },
        )
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(100)
        .build();
    let why = long_poll(&ix).why.clone().expect("explained");
    assert_eq!(why.looks, 6);
    assert_eq!(
        (why.watched_ns, why.on_cpu_ns, why.runq_ns, why.blocked_ns),
        (50 * MS, 14 * MS, 8 * MS, 28 * MS)
    );
    assert_eq!(why.cause, super::why::Cause::Mixed);
    let call = why.syscall.expect("a call");
    assert_eq!(
        (call.name, call.looks, call.blocked_looks),
        (Some("read"), 2, 3)
    );
}

/// The stack the watchdog captured most, by the application's frames: two stacks with
/// the same application frame over different runtime frames are one (5 captures), more
/// than another (4); one without application frames (6) is never the answer.
#[test]
fn the_stack_seen_most_by_its_application_frames() {
    let lines = |ls: &[&str]| ls.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let handler = "   0: my_app::handler";
    let at = "             at ./src/handler.rs:10:5";
    let mut b = B::new()
        .task(1, "slow")
        .spawn(0, 1)
        .ev(0, 0, EventKind::PollStart { task: 1 });
    b.facts.arch = "x86_64".into();
    b.facts.stacks = vec![
        Stack {
            id: 1,
            frames: lines(&[
                handler,
                at,
                "   1: tokio::runtime::task::harness::poll_inner",
            ]),
        },
        Stack {
            id: 2,
            frames: lines(&["   0: my_app::other", "             at ./src/other.rs:3:1"]),
        },
        Stack {
            id: 3,
            frames: lines(&[
                "   0: std::thread::sleep",
                "             at /rustc/abc/library/std/src/thread/mod.rs:1:1",
                "   1: tokio::runtime::task::raw::poll",
            ]),
        },
        Stack {
            id: 4,
            frames: lines(&[handler, at, "   1: tokio::runtime::coop::budget"]),
        },
    ];
    for (ms, state) in [(5, b'S'), (50, b'S')] {
        b = b.ev(
            ms,
            2,
            EventKind::PollSample {
                task: 1,
                state,
                syscall: Some(230),
                on_cpu_us: 0,
                runq_wait_us: 0,
            },
        );
    }
    // Captures, interleaved: 3 of stack 1, 4 of 2, 6 of 3, 2 of 4.
    let order = [1, 2, 3, 3, 4, 1, 2, 3, 3, 2, 4, 1, 3, 2, 3];
    for (i, stack) in order.into_iter().enumerate() {
        b = b.ev(10 + i as u64, 2, EventKind::PollStack { task: 1, stack });
    }
    let ix = b
        .poll_end(60, 0, 1, false)
        .lane_state(0, Activity::Parked)
        .lane_state(1, Activity::Parked)
        .end(100)
        .build();
    let why = long_poll(&ix).why.clone().expect("explained");
    assert_eq!(
        why.stack.iter().map(|f| f.label()).collect::<Vec<_>>(),
        ["my_app::handler at src/handler.rs:10:5"]
    );
    assert_eq!(why.stack_captures, (5, 15));
    assert_eq!(why.looks, 2, "stack captures are not looks");
}

/// Task ids at both ends of u64 (a hand-made or damaged table): the ids too far apart for
/// the dense lookup still find their tasks, and tasks the table lacks are added.
#[test]
fn task_ids_anywhere_in_u64_find_their_tasks() {
    let ix = B::new()
        .task(0, "zero")
        .task(u64::MAX, "max")
        .ev(0, 0, EventKind::PollStart { task: 0 })
        .poll_end(1, 0, 0, false)
        .ev(2, 0, EventKind::PollStart { task: u64::MAX })
        .poll_end(3, 0, u64::MAX, false)
        .ev(4, 0, EventKind::PollStart { task: 7 })
        .poll_end(5, 0, 7, false)
        .end(10)
        .build();
    for (id, polls) in [(0, 1), (u64::MAX, 1), (7, 1)] {
        let t = ix.task_idx(id).expect("every id resolves");
        assert_eq!(ix.tasks[t as usize].id, id);
        assert_eq!(ix.tasks[t as usize].polls, polls, "{id}");
        assert_eq!(ix.task_events(t).len(), 2, "{id}");
    }
    assert_eq!(
        ix.tasks[ix.task_idx(u64::MAX).unwrap() as usize].name,
        "max"
    );
}

/// Dense ids (Tokio numbers tasks in order) and a task the table lacks, above its range:
/// the same answers through the dense lookup as through the map.
#[test]
fn dense_task_ids_and_one_beyond_the_table() {
    let mut b = B::new();
    for id in 100..120 {
        b = b.task(id, &format!("t{id}"));
    }
    let ix = b
        .ev(0, 0, EventKind::PollStart { task: 105 })
        .poll_end(1, 0, 105, false)
        .ev(2, 0, EventKind::PollStart { task: 1_000_000 })
        .poll_end(3, 0, 1_000_000, false)
        .ev(4, 0, EventKind::PollStart { task: 105 })
        .poll_end(5, 0, 105, true)
        .end(10)
        .build();
    let t = ix.task_idx(105).unwrap();
    assert_eq!(
        (
            ix.tasks[t as usize].name.as_str(),
            ix.tasks[t as usize].polls
        ),
        ("t105", 2)
    );
    let beyond = ix.task_idx(1_000_000).unwrap();
    assert_eq!(beyond as usize, 20, "added after the table's twenty");
    assert_eq!(ix.tasks[beyond as usize].polls, 1);
}

/// A pass read ahead over several blocks gets what its picker made of exactly the events
/// of the kinds it named, in order, each with its index; the picker's state carries from
/// one block to the next, and what it declines is left out.
#[test]
fn a_pass_read_ahead_gets_the_picks_of_its_kinds_in_order_across_blocks() {
    use dial9_format::blocks::BLOCK_EVENTS;
    let mut b = B::new().task(1, "a");
    // Two and a half blocks of events, a wake among every five.
    for i in 0..(BLOCK_EVENTS as u64 * 5 / 2) {
        let kind = match i % 5 {
            0 => EventKind::PollStart { task: 1 },
            1 => EventKind::Wake {
                task: 1,
                by_ref: i % 2 == 0,
                source: WakeSource::Driver,
            },
            2 => EventKind::PollEnd {
                task: 1,
                completed: false,
                duration_ns: None,
            },
            3 => EventKind::Park,
            _ => EventKind::Unpark {
                io_ready_total: None,
            },
        };
        b = b.ev(i / 5, 0, kind);
    }
    let ix = b.end(BLOCK_EVENTS as u64).build();
    assert!(ix.events.blocks().len() >= 3);
    let wakes = Kinds::which(|k| matches!(k, EventKind::Wake { .. }));
    // The picker numbers the wakes it sees and declines every third.
    let mut seen = 0u64;
    let picked: Vec<(usize, u64, u64)> = ix.events.read_ahead(
        &wakes,
        move |e, ev| {
            seen += 1;
            (!seen.is_multiple_of(3)).then_some((e, ev.ts_ns, seen))
        },
        |events| events.collect(),
    );
    let expected: Vec<(usize, u64, u64)> = (ix.events.iter().enumerate())
        .filter(|(_, ev)| matches!(ev.kind, EventKind::Wake { .. }))
        .zip(1u64..)
        .filter(|(_, n)| !n.is_multiple_of(3))
        .map(|((e, ev), n)| (e, ev.ts_ns, n))
        .collect();
    let wakes_in_all = BLOCK_EVENTS / 2;
    assert_eq!(picked.len(), wakes_in_all - wakes_in_all / 3);
    assert_eq!(picked, expected);
}

/// A task whose waker count moved over more levels than the pass keeps (it took 100
/// wakers in one poll, and another task's poll dropped them one by one) is walked back
/// through its events: the lost waker points at the same drop, on the same lane, during
/// the same poll, as when the pass kept the levels (3 wakers).
#[test]
fn a_lost_waker_whose_count_wandered_past_the_levels_kept_points_at_the_same_drop() {
    let lost = |n: u64| {
        let mut b = B::new()
            .task(1, "fan-out")
            .task(2, "dropper")
            .spawn(0, 1)
            .spawn(0, 2)
            .ev(1, 0, EventKind::PollStart { task: 1 });
        for _ in 0..n {
            b = b.ev(
                2,
                0,
                EventKind::WakerClone {
                    task: 1,
                    live: None,
                },
            );
        }
        b = b
            .poll_end(3, 0, 1, false)
            .ev(10, 1, EventKind::PollStart { task: 2 });
        // All at 11 ms, in this order: a short poll, no long poll to report.
        for _ in 0..n {
            b = b.ev(
                11,
                1,
                EventKind::WakerDrop {
                    task: 1,
                    live: None,
                },
            );
        }
        b.ev(12, 1, EventKind::Terminate { task: 2 })
            .poll_end(12, 1, 2, true)
            .end(1000)
            .build()
    };
    for n in [3, 100] {
        let ix = lost(n);
        assert_eq!(
            kinds(&ix),
            vec![(AnomalyKind::LostWaker, Severity::Critical)],
            "{n}"
        );
        let last_drop = (ix.events.iter().enumerate())
            .filter(|(_, e)| matches!(e.kind, EventKind::WakerDrop { .. }))
            .map(|(i, _)| i as u32)
            .last()
            .unwrap();
        let a = &ix.anomalies[0];
        assert_eq!(
            (a.event, a.lane),
            (last_drop, Some(1)),
            "{n}: points at the drop"
        );
        let m = a.message(&ix);
        assert!(m.contains("dropped during dropper's poll"), "{n}: {m}");
    }
}
