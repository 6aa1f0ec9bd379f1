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

pub fn generate(events: usize) -> Dump {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out: Vec<Event> = Vec::with_capacity(events + 64);
    let foreign = WORKERS; // lane of a non-runtime thread
    let mut clock = [1_000_000u64; WORKERS as usize];
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
            lane: foreign,
            kind: EventKind::Spawn {
                task: id,
                parent: None,
            },
        });
    }
    let mut alive = vec![true; TASKS as usize + 1];
    let mut w = 0usize;
    while out.len() < events {
        w = (w + 1) % WORKERS as usize;
        let lane = w as u32;
        let task = 1 + rng.below(TASKS);
        if !alive[task as usize] {
            continue;
        }
        let t = clock[w];
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
            foreign
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
        out.push(Event {
            ts_ns: t,
            lane,
            kind: EventKind::PollStart { task },
        });
        out.push(Event {
            ts_ns: t + dur / 3,
            lane,
            kind: EventKind::WakerClone { task, live: None },
        });
        if rng.below(4) == 0 {
            out.push(Event {
                ts_ns: t + dur / 2,
                lane,
                kind: EventKind::TimerArm {
                    task: Some(task),
                    duration_ms: 1 + rng.below(100),
                },
            });
        }
        let done = rng.below(2000) == 0;
        if done {
            alive[task as usize] = false;
            out.push(Event {
                ts_ns: t + dur,
                lane,
                kind: EventKind::Terminate { task },
            });
        }
        out.push(Event {
            ts_ns: t + dur,
            lane,
            kind: EventKind::PollEnd {
                task,
                completed: done,
                duration_ns: Some(dur),
            },
        });
        clock[w] = t + dur + 500;
        if rng.below(8) == 0 {
            let idle = 10_000 + rng.below(500_000);
            out.push(Event {
                ts_ns: clock[w],
                lane,
                kind: EventKind::Park,
            });
            out.push(Event {
                ts_ns: clock[w] + idle,
                lane,
                kind: EventKind::Unpark {
                    io_ready_total: Some(out.len() as u64),
                },
            });
            clock[w] += idle + 500;
        }
    }
    out.sort_by_key(|e| e.ts_ns);
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
        lane: foreign,
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
