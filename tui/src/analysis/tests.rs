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
}

impl B {
    fn new() -> B {
        B {
            events: vec![],
            tasks: vec![],
            end: 0,
            reason: Reason::Requested { label: "t".into() },
            layer: true,
        }
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
        self.ev(ms, lane, EventKind::PollEnd { task, completed })
    }
    /// A pending poll that registers its waker, as real futures do.
    fn poll(self, from: u64, to: u64, lane: u32, task: u64) -> B {
        self.ev(from, lane, EventKind::PollStart { task })
            .ev(from, lane, EventKind::WakerClone { task })
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
            lane_states: vec![],
            events: self.events,
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
        .ev(2, 0, EventKind::WakerClone { task: 1 })
        .poll_end(3, 0, 1, false)
        .ev(5, 1, EventKind::WakerDrop { task: 1 })
        .end(100)
        .build();
    assert_eq!(
        kinds(&full),
        vec![(AnomalyKind::LostWaker, Severity::Critical)]
    );
    assert_eq!(full.anomalies[0].event, 4, "points at the drop");
    assert_eq!(full.tasks[0].live_wakers, 0);

    // Spawn (and perhaps earlier clones) overwritten: only "possible".
    let tail = B::new()
        .task(1, "maybe")
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .poll_end(3, 0, 1, false)
        .ev(5, 1, EventKind::WakerDrop { task: 1 })
        .end(100)
        .build();
    assert_eq!(
        kinds(&tail),
        vec![(AnomalyKind::LostWaker, Severity::Warning)]
    );
    assert!(tail.anomalies[0].message.contains("may have"));

    // A live waker, a later wake, or a finished task: not lost.
    let held = B::new()
        .task(1, "held")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(2, 0, EventKind::WakerClone { task: 1 })
        .poll_end(3, 0, 1, false)
        .end(100)
        .build();
    assert!(held.anomalies.is_empty());
    let done = B::new()
        .task(1, "done")
        .spawn(0, 1)
        .ev(1, 0, EventKind::PollStart { task: 1 })
        .ev(2, 0, EventKind::WakerClone { task: 1 })
        .ev(2, 0, EventKind::WakerDrop { task: 1 })
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
        .ev(2, 0, EventKind::WakerClone { task: 1 })
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
        ix.tasks[0].live_wakers, 1,
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

#[test]
fn without_the_layer_no_lost_waker_is_claimed() {
    let mut b = B::new().task(1, "a").spawn(0, 1).poll(1, 2, 0, 1).end(100);
    b.layer = false;
    assert!(b.build().anomalies.is_empty());
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
