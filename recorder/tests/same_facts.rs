//! The two ways in record the same facts: one scenario, on a current-thread runtime
//! with the hooks, once through the recorder's layer in a registry and once through its
//! own subscriber, gives dumps equal in content: the same events in the same order, the
//! same tasks with the same names, kinds, spawn locations and parents, the same live
//! waker counts, the same header facts. Task ids, lanes and times are renumbered by
//! first appearance (the two runs' tasks have other ids, and other times).

use std::collections::HashMap;
use std::time::Duration;

use dial9_recorder::FlightRecorder;
use dial9_recorder::format::{Dump, EventKind, WakeSource};
use tracing_subscriber::prelude::*;

/// Everything the recorder keeps of a task's life, with no timing in it: named tasks,
/// a oneshot, a bounded channel, a `Notify`, a timer armed, a `block_on`, a task that
/// waits on a waker nobody holds (a lost waker), and join handles.
async fn scenario() {
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let waiter = tokio::task::Builder::new()
        .name("waiter")
        .spawn(async move { rx.await.unwrap() })
        .unwrap();
    let sender = tokio::task::Builder::new()
        .name("sender")
        .spawn(async move {
            tokio::task::yield_now().await;
            tx.send(7).unwrap();
        })
        .unwrap();
    let (ctx, mut crx) = tokio::sync::mpsc::channel::<u32>(1);
    let producer = tokio::spawn(async move {
        for i in 0..5 {
            ctx.send(i).await.unwrap();
        }
    });
    let consumer = tokio::spawn(async move {
        let mut n = 0;
        while let Some(v) = crx.recv().await {
            n += v;
        }
        n
    });
    let notify = std::sync::Arc::new(tokio::sync::Notify::new());
    let n2 = notify.clone();
    let notified = tokio::spawn(async move { n2.notified().await });
    tokio::task::yield_now().await;
    notify.notify_one();
    let timed = tokio::spawn(async {
        // The inner future yields once, so the timeout's timer is armed (Tokio arms it at
        // its first poll).
        tokio::time::timeout(Duration::from_secs(3600), async {
            tokio::task::yield_now().await;
            1
        })
        .await
    });
    // Holds no waker once polled: never woken again.
    let lost = tokio::task::Builder::new()
        .name("lost")
        .spawn(std::future::poll_fn(|_cx| std::task::Poll::<()>::Pending))
        .unwrap();
    assert_eq!(waiter.await.unwrap(), 7);
    sender.await.unwrap();
    producer.await.unwrap();
    assert_eq!(consumer.await.unwrap(), 10);
    notified.await.unwrap();
    timed.await.unwrap().unwrap();
    tokio::task::yield_now().await;
    // Alive at the dump, as the lost task is.
    std::mem::forget(lost);
}

/// The dump of `scenario` recorded through `install`.
fn dump_via(install: impl FnOnce(&FlightRecorder) -> tracing::Dispatch) -> Dump {
    let rec = FlightRecorder::builder()
        .install_panic_hook(false)
        .watchdog(None)
        .cpu_stats(false)
        .build()
        .unwrap();
    let dispatch = install(&rec);
    tracing::dispatcher::with_default(&dispatch, || -> Dump {
        let mut b = tokio::runtime::Builder::new_current_thread();
        b.enable_all();
        rec.instrument(&mut b);
        let rt = b.build().unwrap();
        rt.block_on(async {
            scenario().await;
            rec.snapshot()
        })
    })
}

/// A dump with task ids and lanes renumbered by first appearance and times dropped:
/// what it says, not when or under which numbers.
fn content(d: &Dump) -> Vec<String> {
    let mut tasks: HashMap<u64, usize> = HashMap::new();
    let mut lanes: HashMap<u32, usize> = HashMap::new();
    let mut id = |t: u64| {
        let n = tasks.len();
        *tasks.entry(t).or_insert(n)
    };
    let mut out = Vec::new();
    for e in &d.events {
        let lane = {
            let n = lanes.len();
            *lanes.entry(e.lane).or_insert(n)
        };
        let k = match e.kind {
            EventKind::Spawn { task, parent } => {
                format!("spawn {} parent {:?}", id(task), parent.map(&mut id))
            }
            EventKind::PollStart { task } => format!("poll-start {}", id(task)),
            EventKind::PollEnd {
                task,
                completed,
                duration_ns,
            } => format!(
                "poll-end {} completed {completed} timed {}",
                id(task),
                duration_ns.is_some()
            ),
            EventKind::Wake {
                task,
                by_ref,
                source,
            } => {
                let source = match source {
                    WakeSource::Task(t) => format!("task {}", id(t)),
                    other => format!("{other:?}"),
                };
                format!("wake {} by_ref {by_ref} from {source}", id(task))
            }
            EventKind::WakerClone { task, live } => format!("clone {} live {live:?}", id(task)),
            EventKind::WakerDrop { task, live } => format!("drop {} live {live:?}", id(task)),
            EventKind::Terminate { task } => format!("terminate {}", id(task)),
            EventKind::TimerArm { task, duration_ms } => {
                format!("timer {:?} {duration_ms} ms", task.map(&mut id))
            }
            other => format!("{other:?}"),
        };
        out.push(format!("lane {lane}: {k}"));
    }
    let mut infos: Vec<String> = d
        .tasks
        .iter()
        .filter(|t| tasks.contains_key(&t.id))
        .map(|t| {
            format!(
                "task {} {:?} {:?} at {:?} by {:?}",
                tasks[&t.id],
                t.name,
                t.kind,
                t.location.as_ref().map(|l| (&l.file, l.line, l.col)),
                t.spawned_by.map(|p| tasks.get(&p).copied())
            )
        })
        .collect();
    infos.sort();
    out.extend(infos);
    let mut live: Vec<String> = d
        .facts
        .live_wakers
        .iter()
        .filter(|w| tasks.contains_key(&w.task))
        .map(|w| format!("live wakers of {}: {}", tasks[&w.task], w.live))
        .collect();
    live.sort();
    out.extend(live);
    out.push(format!(
        "hooks {} instrumentation {} overwritten {} torn {}",
        d.header.hooks_installed,
        d.header.layer_installed,
        d.header.overwritten,
        d.header.torn_skipped
    ));
    out
}

#[test]
fn the_layer_and_the_subscriber_record_the_same_facts() {
    let via_layer =
        dump_via(|rec| tracing::Dispatch::new(tracing_subscriber::registry().with(rec.layer())));
    let via_subscriber =
        dump_via(|rec| tracing::Dispatch::new(rec.subscriber(tracing_subscriber::registry())));
    let (a, b) = (content(&via_layer), content(&via_subscriber));
    assert!(a.iter().any(|l| l.contains("\"lost\"")), "{a:#?}");
    assert!(a.iter().any(|l| l.starts_with("live wakers of")), "{a:#?}");
    assert!(a.iter().any(|l| l.contains("timer")), "{a:#?}");
    if a != b {
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "the dumps differ from line {first}:\nlayer:      {:#?}\nsubscriber: {:#?}",
            &a[first..a.len().min(first + 8)],
            &b[first..b.len().min(first + 8)]
        );
    }
}
