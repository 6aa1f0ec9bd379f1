//! Synthetic dumps with a realistic mix, for scale tests of the explorer: four workers
//! polling 10,000 long-lived tasks, wakes from other tasks, the driver, timers and outside
//! threads (with scheduling delays), waker clones and drops, timers, parks, occasional
//! long polls, spawns and terminations.
#![allow(dead_code)]

use dial9_format::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub const WORKERS: u32 = 4;
pub const TASKS: u64 = 10_000;

/// A dump of about `events` events (a few more: the last poll is written whole).
pub fn generate(events: usize) -> Dump {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out: Vec<Event> = Vec::with_capacity(events + 64);
    let tasks = spawn_tasks(&mut out);
    let mut clock = [1_000_000u64; WORKERS as usize];
    let mut alive = vec![true; TASKS as usize + 1];
    let mut w = 0usize;
    while out.len() < events {
        w = (w + 1) % WORKERS as usize;
        let task = 1 + rng.below(TASKS);
        if !alive[task as usize] {
            continue;
        }
        let (end, done) = poll(&mut rng, &mut out, w as u32, task, clock[w]);
        alive[task as usize] &= !done;
        clock[w] = end + 500;
        if rng.below(8) == 0 {
            clock[w] = park(&mut rng, &mut out, w as u32, clock[w]);
        }
    }
    out.sort_by_key(|e| e.ts_ns);
    dump_of(out, tasks)
}

/// A lane of a non-runtime thread.
const FOREIGN: u32 = WORKERS;

/// The tasks, each spawned from the foreign lane at the start.
fn spawn_tasks(out: &mut Vec<Event>) -> Vec<TaskInfo> {
    let names = [
        "http-handler",
        "db-pool",
        "cache-refresh",
        "metrics",
        "ws-session",
        "queue-consumer",
    ];
    let mut tasks: Vec<TaskInfo> = Vec::with_capacity(TASKS as usize);
    for id in 1..=TASKS {
        tasks.push(TaskInfo {
            id,
            name: format!("{}-{id}", names[(id % names.len() as u64) as usize]),
            kind: TaskKind::Task,
            location: Some(SpawnLocation {
                file: format!("src/{}.rs", names[(id % 6) as usize]),
                line: 40 + (id % 200) as u32,
                col: 9,
            }),
            spawned_by: None,
        });
        out.push(Event {
            ts_ns: 100 * id,
            lane: FOREIGN,
            kind: EventKind::Spawn {
                task: id,
                parent: None,
            },
        });
    }
    tasks
}

/// A poll of `task` on `lane` at `t`, with the wake that made it runnable before it and
/// what it does inside; returns when it ended and whether the task completed.
fn poll(rng: &mut Rng, out: &mut Vec<Event>, lane: u32, task: u64, t: u64) -> (u64, bool) {
    // The wake that made it runnable, 2 µs .. 2 ms earlier (rarely 80 ms: a delay).
    let delay = if rng.below(5000) == 0 {
        80_000_000
    } else {
        2_000 + rng.below(2_000_000)
    };
    let source = match rng.below(4) {
        0 => WakeSource::Driver,
        1 => WakeSource::Foreign,
        _ => WakeSource::Task(1 + rng.below(TASKS)),
    };
    let wake_lane = if source == WakeSource::Foreign {
        FOREIGN
    } else {
        rng.below(WORKERS as u64) as u32
    };
    out.push(Event {
        ts_ns: t.saturating_sub(delay),
        lane: wake_lane,
        kind: EventKind::Wake {
            task,
            by_ref: false,
            source,
        },
    });
    // The poll: 1..300 µs, rarely 20 ms.
    let dur = if rng.below(20_000) == 0 {
        20_000_000
    } else {
        1_000 + rng.below(300_000)
    };
    let at = |ts_ns: u64, kind: EventKind| Event { ts_ns, lane, kind };
    out.push(at(t, EventKind::PollStart { task }));
    out.push(at(t + dur / 3, EventKind::WakerClone { task, live: None }));
    if rng.below(4) == 0 {
        let duration_ms = 1 + rng.below(100);
        out.push(at(
            t + dur / 2,
            EventKind::TimerArm {
                task: Some(task),
                duration_ms,
            },
        ));
    }
    let done = rng.below(2000) == 0;
    if done {
        out.push(at(t + dur, EventKind::Terminate { task }));
    }
    out.push(at(
        t + dur,
        EventKind::PollEnd {
            task,
            completed: done,
            duration_ns: Some(dur),
        },
    ));
    (t + dur, done)
}

/// The worker on `lane` parks at `t` for a while; returns when it is next free.
fn park(rng: &mut Rng, out: &mut Vec<Event>, lane: u32, t: u64) -> u64 {
    let idle = 10_000 + rng.below(500_000);
    out.push(Event {
        ts_ns: t,
        lane,
        kind: EventKind::Park,
    });
    out.push(Event {
        ts_ns: t + idle,
        lane,
        kind: EventKind::Unpark {
            io_ready_total: Some(out.len() as u64),
        },
    });
    t + idle + 500
}

/// The dump of `out` (in time order) and `tasks`: the workers' and the foreign thread's
/// lanes, dumped just after the last event.
fn dump_of(out: Vec<Event>, tasks: Vec<TaskInfo>) -> Dump {
    let end = out.last().map_or(0, |e| e.ts_ns) + 1_000;
    let mut threads: Vec<ThreadInfo> = (0..WORKERS)
        .map(|w| ThreadInfo {
            lane: w,
            os_tid: 100 + w as u64,
            name: "tokio-rt-worker".into(),
            worker: Some(w),
            kind: ThreadKind::Worker,
        })
        .collect();
    threads.push(ThreadInfo {
        lane: FOREIGN,
        os_tid: 99,
        name: "main".into(),
        worker: None,
        kind: ThreadKind::Other,
    });
    let n = out.len() as u64;
    Dump {
        header: Header {
            reason: Reason::Requested {
                label: format!("synthetic {n} events"),
            },
            dumped_at_unix_ns: 1_800_000_000_000_000_000,
            dumped_at_ns: end,
            anchor: ClockAnchor {
                mono_ns: 0,
                unix_ns: 1_800_000_000_000_000_000 - end,
            },
            pid: 1,
            program: "synthetic".into(),
            host: "bench".into(),
            capacity: n,
            recorded_total: n,
            overwritten: 0,
            torn_skipped: 0,
            hooks_installed: true,
            layer_installed: true,
            recorder_version: "synthetic".into(),
        },
        threads,
        tasks,
        lane_states: vec![],
        events: out,
        facts: Default::default(),
        damage: None,
    }
}
