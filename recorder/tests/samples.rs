//! The committed sample dumps parse with the current reader (a format change must
//! regenerate them in the same commit) and contain their ground truth in the raw events.
//! `sample-dumps/README.md` describes each scenario.

mod common;

use std::path::PathBuf;

use dial9_recorder::Dump;
use dial9_recorder::format::{EventKind, Reason};

fn load(name: &str) -> Dump {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sample-dumps")
        .join(format!("{name}.bin"));
    let meta = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(meta.len() < 4 << 20, "{name} is {} bytes", meta.len());
    Dump::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (start, end) of every completed poll of `task`.
fn polls(d: &Dump, task: u64) -> Vec<(u64, u64)> {
    let mut open = None;
    let mut out = Vec::new();
    for e in &d.events {
        match e.kind {
            EventKind::PollStart { task: t } if t == task => open = Some(e.ts_ns),
            EventKind::PollEnd { task: t, .. } if t == task => {
                if let Some(s) = open.take() {
                    out.push((s, e.ts_ns));
                }
            }
            _ => {}
        }
    }
    out
}

fn all_polls(d: &Dump) -> Vec<(u64, u64, u64)> {
    let mut open = std::collections::HashMap::new();
    let mut out = Vec::new();
    for e in &d.events {
        match e.kind {
            EventKind::PollStart { task } => {
                open.insert((e.lane, task), e.ts_ns);
            }
            EventKind::PollEnd { task, .. } => {
                if let Some(s) = open.remove(&(e.lane, task)) {
                    out.push((task, s, e.ts_ns));
                }
            }
            _ => {}
        }
    }
    out
}

const MS: u64 = 1_000_000;

#[test]
fn starvation_probe_waits_100ms_between_wake_and_poll() {
    let d = load("starvation");
    let probe = common::task_named(&d, "latency-probe");
    let mut worst = 0;
    let mut pending_wake: Option<u64> = None;
    for e in &d.events {
        match e.kind {
            EventKind::Wake { task, .. } if task == probe => {
                pending_wake.get_or_insert(e.ts_ns);
            }
            EventKind::PollStart { task } if task == probe => {
                if let Some(w) = pending_wake.take() {
                    worst = worst.max(e.ts_ns - w);
                }
            }
            _ => {}
        }
    }
    assert!(worst >= 100 * MS, "worst wake-to-poll {} ms", worst / MS);
    // And the hogs' polls are long.
    assert!(all_polls(&d).iter().any(|&(_, s, e)| e - s >= 100 * MS));
}

#[test]
fn lost_waker_task_has_no_live_waker_and_no_wake_after_its_last_poll() {
    let d = load("lost-waker");
    assert!(
        matches!(d.header.reason, Reason::Signal { .. }),
        "{:?}",
        d.header.reason
    );
    let t = common::task_named(&d, "config-reloader");
    let evs = common::events_of(&d, t);
    assert!(
        matches!(evs.first(), Some(EventKind::Spawn { .. })),
        "whole history in the window"
    );
    let mut live: i64 = 0;
    for e in &evs {
        match e {
            EventKind::WakerClone { .. } => live += 1,
            EventKind::WakerDrop { .. } => live -= 1,
            EventKind::Wake { by_ref: false, .. } => live -= 1,
            _ => {}
        }
    }
    assert_eq!(live, 0, "{evs:?}");
    let last_poll = evs
        .iter()
        .rposition(|e| matches!(e, EventKind::PollStart { .. }))
        .unwrap();
    assert!(
        !evs[last_poll..]
            .iter()
            .any(|e| matches!(e, EventKind::Wake { .. })),
        "{evs:?}"
    );
    assert!(
        matches!(evs.last(), Some(EventKind::WakerDrop { .. })),
        "{evs:?}"
    );
    assert!(!evs.iter().any(|e| matches!(e, EventKind::Terminate { .. })));
    // The rest of the service kept working after the reloader got stuck.
    let hb = common::task_named(&d, "heartbeat");
    assert!(polls(&d, hb).len() > 10);
}

#[test]
fn long_poll_has_a_poll_of_300ms() {
    let d = load("long-poll");
    let t = common::task_named(&d, "http-request-3");
    assert!(
        polls(&d, t).iter().any(|&(s, e)| e - s >= 300 * MS),
        "{:?}",
        polls(&d, t)
    );
}

#[test]
fn panic_reason_names_the_panic() {
    let d = load("panic");
    let Reason::Panic {
        message,
        location,
        task,
        ..
    } = &d.header.reason
    else {
        panic!("{:?}", d.header.reason)
    };
    assert!(message.contains("index out of bounds"), "{message}");
    assert!(location.as_deref().unwrap_or("").contains("panic.rs"));
    let name = &d.tasks.iter().find(|t| Some(t.id) == *task).unwrap().name;
    assert!(name.starts_with("record-parser-"), "{name}");
    assert!(d.tasks.len() >= 24, "dozens of tasks: {}", d.tasks.len());
}

#[test]
fn healthy_has_no_poll_over_50ms() {
    let d = load("healthy");
    let worst = all_polls(&d).iter().map(|&(_, s, e)| e - s).max().unwrap();
    assert!(worst < 50 * MS, "worst poll {} ms", worst / MS);
    assert!(d.events.len() > 10_000);
}

/// A dump names no directory of the machine it was made on (a home directory's name in
/// every dump someone is sent): spawn locations, the panic's location and backtrace and
/// the watchdog's stacks are written with paths from the crate down.
#[test]
fn samples_name_no_directory_of_the_machine_they_were_made_on() {
    for name in [
        "healthy",
        "long-poll",
        "lost-waker",
        "mini-redis",
        "panic",
        "starvation",
        "why-slow",
    ] {
        let d = load(name);
        let mut paths: Vec<String> = d
            .tasks
            .iter()
            .filter_map(|t| t.location.as_ref().map(|l| l.file.clone()))
            .collect();
        paths.extend(d.facts.panic_backtrace.iter().cloned());
        paths.extend(d.facts.stacks.iter().flat_map(|s| s.frames.iter().cloned()));
        if let Reason::Panic {
            location: Some(l), ..
        } = &d.header.reason
        {
            paths.push(l.clone());
        }
        for p in &paths {
            for machine in [
                "/root/", "/home/", "/Users/", "/.cargo/", "/rustc/", "/work/",
            ] {
                assert!(!p.contains(machine), "{name}: {p:?} names {machine}");
            }
        }
        assert!(
            !paths.is_empty() || name == "healthy",
            "{name}: no paths at all"
        );
    }
}
