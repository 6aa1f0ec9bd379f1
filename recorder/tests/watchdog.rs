//! The long-poll watchdog on a real runtime: what it records of a thread stuck in a poll.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{harness, task_named};
use dial9_recorder::format::{Dump, EventKind};

/// `(state, syscall)` of every look at `task`.
fn looks(d: &Dump, task: u64) -> Vec<(u8, Option<u16>)> {
    d.events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::PollSample {
                task: t,
                state,
                syscall,
                ..
            } if t == task => Some((state, syscall)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_sleeping_poll_is_seen_asleep_and_a_spinning_one_running() {
    let (rec, rt, _g) = harness(65_536);
    rt.block_on(async {
        tokio::task::Builder::new()
            .name("sleeper")
            .spawn(async { std::thread::sleep(Duration::from_millis(80)) })
            .unwrap()
            .await
            .unwrap();
        tokio::task::Builder::new()
            .name("spinner")
            .spawn(async {
                let until = std::time::Instant::now() + Duration::from_millis(80);
                while std::time::Instant::now() < until {
                    std::hint::spin_loop();
                }
            })
            .unwrap()
            .await
            .unwrap();
        // A poll shorter than half the threshold is never looked at.
        tokio::task::Builder::new()
            .name("quick")
            .spawn(async { std::thread::sleep(Duration::from_millis(2)) })
            .unwrap()
            .await
            .unwrap();
    });
    let d = rec.snapshot();
    let sleeper = looks(&d, task_named(&d, "sleeper"));
    assert!(sleeper.len() >= 10, "{sleeper:?}");
    // std::thread::sleep is nanosleep or clock_nanosleep, whatever the libc.
    let sleeping: &[u16] = if cfg!(target_arch = "x86_64") {
        &[35, 230]
    } else {
        &[101, 115]
    };
    // (The last look may catch the thread just woken, running the poll's last lines.)
    let asleep = sleeper
        .iter()
        .filter(|&&(s, sys)| s == b'S' && sys.is_some_and(|n| sleeping.contains(&n)))
        .count();
    assert!(asleep + 1 >= sleeper.len(), "{sleeper:?}");
    let spinner = looks(&d, task_named(&d, "spinner"));
    assert!(spinner.len() >= 10, "{spinner:?}");
    assert!(spinner.iter().all(|&(s, _)| s == b'R'), "{spinner:?}");
    assert!(looks(&d, task_named(&d, "quick")).is_empty());
    assert_eq!(d.facts.arch, std::env::consts::ARCH);
}

/// A dump while a worker is stuck in a poll (the SIGUSR1-on-a-hung-service case) looks at
/// it once more, so the dump says what it is doing right then.
#[test]
fn a_dump_looks_at_a_poll_still_running() {
    let (rec, rt, _g) = harness(65_536);
    let handle = rt.spawn(async {
        std::thread::sleep(Duration::from_millis(300));
    });
    std::thread::sleep(Duration::from_millis(150));
    let started = std::time::Instant::now();
    let d = rec.snapshot();
    let took = started.elapsed().as_nanos() as u64;
    let task = d
        .events
        .iter()
        .rev()
        .find_map(|e| match e.kind {
            EventKind::PollSample { task, .. } => Some((task, e.ts_ns)),
            _ => None,
        })
        .expect("a look");
    // The last look is the dump's own: taken while the dump ran (it reads the tables
    // after the look, which takes a few ms in a debug build on a busy machine), not one
    // of the watchdog's, which by now are tens of ms apart.
    assert!(
        d.header.dumped_at_ns - task.1 <= took + 1_000_000,
        "{task:?}, dump took {took} ns"
    );
    assert!(
        d.lane_states
            .iter()
            .any(|s| s.activity == dial9_recorder::format::Activity::Polling { task: task.0 })
    );
    rt.block_on(handle).unwrap();
}

/// A recorder configured by `configure` (hooks only, no layer), a one-worker runtime, one
/// task whose single poll runs `work`; the dump after the runtime is gone (the after-poll
/// hook runs once the task has been released).
fn one_poll(
    configure: impl FnOnce(dial9_recorder::Builder) -> dial9_recorder::Builder,
    work: impl FnOnce() + Send + 'static,
) -> Dump {
    let rec = configure(dial9_recorder::FlightRecorder::builder().install_panic_hook(false))
        .build()
        .unwrap();
    let rt = rec
        .instrument(tokio::runtime::Builder::new_multi_thread().worker_threads(1))
        .build()
        .unwrap();
    rt.block_on(async { tokio::spawn(async { work() }).await.unwrap() });
    drop(rt);
    rec.snapshot()
}

#[test]
fn off_means_no_looks() {
    let d = one_poll(
        |b| b.watchdog(None),
        || std::thread::sleep(Duration::from_millis(40)),
    );
    assert!(
        d.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::PollEnd { .. }))
    );
    assert!(
        !d.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::PollSample { .. }))
    );
}

/// The bug this test plants: blocking inside a poll, in a function of its own.
#[inline(never)]
fn planted_blocking_sleep() {
    std::thread::sleep(Duration::from_millis(120));
    std::hint::black_box(());
}

/// With stacks on, a look at a stuck poll says where in the code it is stuck: the planted
/// function, by name and file (the test build has frame pointers and line tables).
#[test]
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn with_stacks_on_a_stuck_poll_names_its_function_and_file() {
    let d = one_poll(|b| b.stacks(true), planted_blocking_sleep);
    let ids: Vec<u32> = d
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::PollStack { stack, .. } => Some(stack),
            _ => None,
        })
        .collect();
    assert!(ids.len() >= 2, "{ids:?}");
    let stack = d
        .facts
        .stacks
        .iter()
        .find(|s| s.id == ids[0])
        .expect("the stack's text");
    let text = stack.frames.join("\n");
    assert!(text.contains("planted_blocking_sleep"), "{text}");
    // The file and line of the blocking call inside it, as the README promises.
    let line = include_str!("watchdog.rs")
        .lines()
        .position(|l| l.trim() == "std::thread::sleep(Duration::from_millis(120));")
        .expect("the planted call")
        + 1;
    assert!(
        text.contains(&format!("watchdog.rs:{line}:")),
        "line {line}:\n{text}"
    );
}

#[test]
fn stacks_without_the_watchdog_is_a_build_error() {
    let err = dial9_recorder::FlightRecorder::builder()
        .install_panic_hook(false)
        .watchdog(None)
        .stacks(true)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("watchdog"), "{err}");
}
