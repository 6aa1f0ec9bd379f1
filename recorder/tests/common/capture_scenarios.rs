// End-to-end capture on real multi-thread runtimes: the scenarios `capture.rs` runs with
// the recorder's layer and `capture_subscriber.rs` with its own subscriber (see
// `common::via_subscriber`). Included, not a module: each test binary runs them all.

use common::{events_of, harness, id_of, task_named, terminations};
use dial9_recorder::format::{EventKind, ThreadKind, WakeSource};
use std::time::Duration;

#[test]
fn oneshot_handoff_shows_spawn_pending_poll_wake_by_sender_ready_poll_and_termination() {
    let (rec, rt, _g) = harness(65_536);
    rt.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let receiver = tokio::task::Builder::new()
            .name("receiver")
            .spawn(async move { rx.await.unwrap() })
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        tokio::task::Builder::new()
            .name("sender")
            .spawn(async move { tx.send(7).unwrap() })
            .unwrap()
            .await
            .unwrap();
        assert_eq!(receiver.await.unwrap(), 7);
    });
    // Tokio wakes the JoinHandle before running the terminate hook: let the workers finish.
    drop(rt);
    let dump = rec.snapshot();
    let recv = task_named(&dump, "receiver");
    let send = task_named(&dump, "sender");
    let info = dump.tasks.iter().find(|t| t.id == recv).unwrap();
    let loc = info.location.as_ref().expect("spawn location");
    assert!(loc.file.ends_with("capture_scenarios.rs"), "{loc:?}");

    let evs = events_of(&dump, recv);
    let pos = |pred: &dyn Fn(&EventKind) -> bool| evs.iter().position(pred);
    let spawn = pos(&|e| matches!(e, EventKind::Spawn { .. })).expect("spawn");
    let pending = pos(&|e| {
        matches!(
            e,
            EventKind::PollEnd {
                completed: false,
                ..
            }
        )
    })
    .expect("pending poll");
    let wake =
        pos(&|e| matches!(e, EventKind::Wake { source: WakeSource::Task(s), .. } if *s == send))
            .unwrap_or_else(|| panic!("wake by sender: {evs:?}"));
    let last_start = evs
        .iter()
        .rposition(|e| matches!(e, EventKind::PollStart { .. }))
        .unwrap();
    let term = pos(&|e| matches!(e, EventKind::Terminate { .. })).expect("terminate");
    let ready = pos(&|e| {
        matches!(
            e,
            EventKind::PollEnd {
                completed: true,
                ..
            }
        )
    })
    .expect("ready poll");
    // Tokio runs the terminate hook inside the final poll, before the after-poll hook.
    assert!(
        spawn < pending && pending < wake && wake < last_start,
        "{evs:?}"
    );
    assert!(last_start < term && term < ready, "{evs:?}");

    // Polls ran on worker lanes.
    for e in dump
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::PollStart { task } if task == recv))
    {
        let lane = &dump.threads[e.lane as usize];
        assert_eq!(lane.kind, ThreadKind::Worker, "{lane:?}");
    }
    assert!(dump.header.hooks_installed && dump.header.layer_installed);
    // Time order.
    assert!(dump.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
}

#[test]
fn overwrite_keeps_newest_counts_the_rest_and_names_every_task() {
    let cap = dial9_recorder::MIN_CAPACITY;
    let (rec, rt, _g) = harness(cap);
    rt.block_on(async {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let long = tokio::task::Builder::new()
            .name("long-lived")
            .spawn(async move {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            })
            .unwrap();
        for i in 0..3000u32 {
            tokio::task::Builder::new()
                .name(&format!("short-{}", i % 10))
                .spawn(async { tokio::task::yield_now().await })
                .unwrap()
                .await
                .unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        long.await.unwrap();
    });
    drop(rt); // the terminate hook runs after the JoinHandle is woken
    let dump = rec.snapshot();
    // A record holds one to three events (a poll's end carries its start and its own
    // waker op).
    let h = &dump.header;
    let records = h.recorded_total - h.overwritten - h.torn_skipped;
    assert!(records <= cap as u64);
    assert!(records >= cap as u64 / 2, "kept {records}");
    let events = dump.events.len() as u64;
    assert!(
        (records..=3 * records).contains(&events),
        "{events} events in {records} records"
    );
    assert!(dump.header.overwritten > 10_000, "{:?}", dump.header);
    // The newest events are kept: the long-lived task's termination is there but its
    // spawn (the first thing recorded) is long gone, and it is still named.
    let long = task_named(&dump, "long-lived");
    let evs = events_of(&dump, long);
    assert!(evs.iter().any(|e| matches!(e, EventKind::Terminate { .. })));
    assert!(!evs.iter().any(|e| matches!(e, EventKind::Spawn { .. })));
    let known: std::collections::HashSet<u64> = dump.tasks.iter().map(|t| t.id).collect();
    for e in &dump.events {
        if let Some(t) = e.kind.task() {
            assert!(known.contains(&t), "task {t} has no table entry");
            let info = dump.tasks.iter().find(|x| x.id == t).unwrap();
            assert!(
                !info.name.is_empty()
                    || matches!(
                        info.kind,
                        dial9_recorder::format::TaskKind::BlockOn
                            | dial9_recorder::format::TaskKind::Blocking
                    ),
                "{info:?}"
            );
        }
    }
}

#[test]
fn concurrent_dumps_while_recording_all_parse() {
    let (rec, rt, _g) = harness(4096);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        rt.spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let hs: Vec<_> = (0..8)
                    .map(|_| tokio::spawn(async { tokio::task::yield_now().await }))
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let rec2 = dial9_recorder::FlightRecorder::builder()
        .capacity(4096)
        .install_panic_hook(false)
        .dump_path(dir.path().join("d-{pid}-{time}.bin").to_string_lossy())
        .build()
        .unwrap();
    drop(rec2);
    for _ in 0..50 {
        let snap = rec.snapshot();
        let bytes = snap.to_bytes().unwrap();
        let back = dial9_recorder::Dump::from_bytes(&bytes).expect("parses");
        assert_eq!(back, snap);
        assert!(back.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    rt.block_on(load).unwrap();
}

#[test]
fn dump_writes_a_readable_file_and_unwritable_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dial9_recorder::FlightRecorder::builder()
        .install_panic_hook(false)
        .dump_path(dir.path().join("flight-{pid}-{time}.bin").to_string_lossy())
        .build()
        .unwrap();
    let path = rec.dump().unwrap();
    let dump = dial9_recorder::Dump::read(&path).unwrap();
    assert!(matches!(
        dump.header.reason,
        dial9_recorder::format::Reason::Requested { .. }
    ));
    assert_eq!(dump.header.pid, std::process::id());

    let bad = dial9_recorder::FlightRecorder::builder()
        .install_panic_hook(false)
        .dump_path("/proc/definitely/not/writable/{pid}.bin")
        .build()
        .unwrap();
    let err = bad.dump().unwrap_err();
    assert!(err.to_string().contains("/proc/definitely"), "{err}");
}

/// `block_on` futures get no runtime hooks; their span's close ends them, so the task
/// table does not keep one entry per `block_on` call for the life of the process.
#[test]
fn block_on_calls_terminate_and_do_not_accumulate() {
    let (rec, rt, _g) = harness(dial9_recorder::MIN_CAPACITY);
    for _ in 0..20_000 {
        rt.block_on(async { tokio::task::yield_now().await });
    }
    let dump = rec.snapshot();
    let block_ons = dump
        .tasks
        .iter()
        .filter(|t| t.kind == dial9_recorder::format::TaskKind::BlockOn)
        .count();
    // The table keeps terminated tasks only while the ring may still hold their events
    // (and sweeps when a shard doubles): far fewer than the 20,000 calls.
    assert!(block_ons < 5_000, "{block_ons} block_on entries kept");
    let terminated = dump
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Terminate { task } if dump.tasks.iter().any(|t| t.id == task && t.kind == dial9_recorder::format::TaskKind::BlockOn)))
        .count();
    assert!(terminated > 0);
}

/// With only the runtime hooks (no tracing layer): spawns carry locations but no names,
/// polls, terminations and parks are there, and the header says the layer was missing.
#[test]
fn hooks_only_records_polls_and_spawn_locations() {
    let rec = dial9_recorder::FlightRecorder::builder()
        .install_panic_hook(false)
        .build()
        .unwrap();
    let rt = rec
        .instrument(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all(),
        )
        .build()
        .unwrap();
    let id = rt.block_on(async {
        let h = tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
        });
        let id = h.id();
        h.await.unwrap();
        id
    });
    drop(rt);
    let dump = rec.snapshot();
    assert!(dump.header.hooks_installed && !dump.header.layer_installed);
    let task: u64 = id.to_string().parse().unwrap();
    let info = dump
        .tasks
        .iter()
        .find(|t| t.id == task)
        .expect("task entry");
    assert!(info.location.as_ref().unwrap().file.ends_with("capture_scenarios.rs"));
    let evs = events_of(&dump, task);
    assert!(
        matches!(evs.first(), Some(EventKind::Spawn { .. })),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .filter(|e| matches!(e, EventKind::PollStart { .. }))
            .count()
            >= 2
    );
    assert!(evs.iter().any(|e| matches!(e, EventKind::Terminate { .. })));
    assert!(
        !evs.iter().any(|e| matches!(e, EventKind::Wake { .. })),
        "no wakes without the layer"
    );
    assert!(
        dump.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Park))
    );
}

/// A thread that alternates between two recorders keeps one lane and fills whole blocks in
/// each (it does not register a new lane or start a new block at every switch).
#[test]
fn alternating_between_recorders_keeps_one_lane_each() {
    let a = dial9_recorder::FlightRecorder::builder()
        .install_panic_hook(false)
        .build()
        .unwrap();
    let b = dial9_recorder::FlightRecorder::builder()
        .install_panic_hook(false)
        .build()
        .unwrap();
    for i in 0..20_000 {
        a.__bench_record_waker_op(i);
        b.__bench_record_waker_op(i);
    }
    for rec in [&a, &b] {
        let d = rec.snapshot();
        assert_eq!(d.threads.len(), 1, "{:?}", d.threads);
        assert_eq!(d.events.len(), 20_000);
    }
}

/// `schedule_latency(true)` with hooks only: Tokio's measure of how long a task waited
/// since it was scheduled is recorded before each poll.
#[test]
fn schedule_latency_is_recorded_without_the_layer() {
    let rec = dial9_recorder::FlightRecorder::builder()
        .install_panic_hook(false)
        .schedule_latency(true)
        .build()
        .unwrap();
    let rt = rec
        .instrument(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all(),
        )
        .build()
        .unwrap();
    let victim = rt.block_on(async {
        // The victim is woken (by a oneshot) while the only worker is blocked for 30 ms.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let victim = tokio::spawn(async move {
            rx.await.unwrap();
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        tokio::spawn(async move {
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(30));
        })
        .await
        .unwrap();
        let id = victim.id();
        victim.await.unwrap();
        id
    });
    drop(rt);
    let dump = rec.snapshot();
    let task: u64 = victim.to_string().parse().unwrap();
    let worst = dump
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Scheduled {
                task: t,
                latency_ns,
            } if t == task => Some(latency_ns),
            _ => None,
        })
        .max()
        .expect("scheduled events for the victim");
    assert!(worst >= 25_000_000, "waited only {worst} ns");
}

/// What the recorder knows for sure, on a real runtime: a task waiting on a oneshot holds
/// one live waker and one that dropped its waker holds none (at the dump, and in each
/// waker op's count); a poll's end carries its duration; a blocking poll gets a CPU
/// sample at its end.
#[test]
fn facts_live_wakers_poll_durations_and_cpu_samples() {
    struct DropsItsWaker;
    impl std::future::Future for DropsItsWaker {
        type Output = ();
        fn poll(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            drop(cx.waker().clone());
            std::task::Poll::Pending
        }
    }
    let (rec, rt, _g) = harness(65_536);
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    rt.block_on(async {
        tokio::task::Builder::new()
            .name("waiting")
            .spawn(async move {
                let _ = rx.await;
            })
            .unwrap();
        tokio::task::Builder::new()
            .name("lost")
            .spawn(DropsItsWaker)
            .unwrap();
        tokio::task::Builder::new()
            .name("blocker")
            .spawn(async { std::thread::sleep(Duration::from_millis(30)) })
            .unwrap()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    });
    let dump = rec.snapshot();
    let live = |name: &str| {
        let id = task_named(&dump, name);
        dump.facts
            .live_wakers
            .iter()
            .find(|w| w.task == id)
            .map(|w| w.live)
    };
    assert_eq!(live("waiting"), Some(1), "{:?}", dump.facts);
    assert_eq!(live("lost"), Some(0), "{:?}", dump.facts);
    assert!(dump.facts.unhooked.is_empty(), "one runtime, instrumented");
    // The lost task cloned and dropped its own waker inside its own poll: one op at the
    // poll's end, a drop, carrying the count it left (0).
    let lost = events_of(&dump, task_named(&dump, "lost"));
    let counts: Vec<Option<u64>> = lost
        .iter()
        .filter_map(|e| match e {
            EventKind::WakerClone { live, .. } | EventKind::WakerDrop { live, .. } => Some(*live),
            _ => None,
        })
        .collect();
    assert_eq!(counts, vec![Some(0)], "{lost:?}");
    assert!(
        lost.iter()
            .any(|e| matches!(e, EventKind::WakerDrop { live: Some(0), .. })),
        "{lost:?}"
    );
    // The blocker's poll end says how long it ran; its lane then sampled its CPU.
    let blocker = task_named(&dump, "blocker");
    let (i, d) = dump
        .events
        .iter()
        .enumerate()
        .find_map(|(i, e)| match e.kind {
            EventKind::PollEnd {
                task,
                duration_ns: Some(d),
                ..
            } if task == blocker => Some((i, d)),
            _ => None,
        })
        .expect("poll end with a duration");
    assert!((30_000_000..1_000_000_000).contains(&d), "{d}");
    #[cfg(target_os = "linux")]
    if std::path::Path::new("/proc/thread-self/schedstat").exists() {
        let lane = dump.events[i].lane;
        assert!(
            dump.events[i..]
                .iter()
                .any(|e| e.lane == lane && matches!(e.kind, EventKind::CpuStat { .. })),
            "a CPU sample after the long poll"
        );
    }
}

/// A dump never says it kept more events than were recorded.
#[test]
fn recorded_total_is_never_below_the_events_kept() {
    let (rec, rt, _g) = harness(65_536);
    rt.block_on(async {
        for _ in 0..200 {
            tokio::spawn(async { tokio::task::yield_now().await });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    });
    for _ in 0..20 {
        let d = rec.snapshot();
        // Nothing was overwritten, and no poll here nests or panics: every event is a
        // record but the poll starts, the own waker ops and the terminations inside a
        // poll (at the poll end's timestamp), which the polls' ends carry.
        let carried = d
            .events
            .iter()
            .zip(d.events.iter().skip(1).map(Some).chain([None]))
            .filter(|(e, next)| {
                let next_at_same_ts = |want: &dyn Fn(&EventKind) -> bool| {
                    next.is_some_and(|n| n.ts_ns == e.ts_ns && want(&n.kind))
                };
                match e.kind {
                    EventKind::PollStart { .. } => true,
                    // An own op: followed by its poll's end, or by the termination it
                    // carries.
                    EventKind::WakerClone { task, .. } | EventKind::WakerDrop { task, .. } => {
                        next_at_same_ts(&|k| {
                            matches!(k, EventKind::PollEnd { task: t, .. }
                                | EventKind::Terminate { task: t } if *t == task)
                        })
                    }
                    // A carried termination: followed by its poll's end only.
                    EventKind::Terminate { task } => next_at_same_ts(
                        &|k| matches!(k, EventKind::PollEnd { task: t, .. } if *t == task),
                    ),
                    _ => false,
                }
            })
            .count();
        let kept = (d.events.len() - carried) as u64;
        assert!(
            d.header.recorded_total >= kept,
            "{} recorded, {kept} kept",
            d.header.recorded_total,
        );
    }
}

/// A recorder whose runtime has hooks (and has run), and a second runtime without them.
/// The last element keeps the first runtime and the thread's dispatcher alive.
fn beside_a_runtime_without_hooks() -> (
    dial9_recorder::FlightRecorder,
    tokio::runtime::Runtime,
    (tokio::runtime::Runtime, tracing::dispatcher::DefaultGuard),
) {
    let (rec, rt, g) = harness(65_536);
    rt.block_on(async { tokio::task::yield_now().await });
    let plain = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (rec, plain, (rt, g))
}

/// A task on a second runtime without the hooks, while the first has them: its span's
/// close is its end (it used to stay live forever, pinning its task-table slot).
#[test]
fn a_task_on_a_runtime_without_hooks_ends_at_its_close() {
    let (rec, plain, _g) = beside_a_runtime_without_hooks();
    plain.block_on(async {
        tokio::task::Builder::new()
            .name("unhooked")
            .spawn(async { tokio::task::yield_now().await })
            .unwrap()
            .await
            .unwrap();
    });
    let dump = rec.snapshot();
    let id = task_named(&dump, "unhooked");
    assert!(
        dump.facts.unhooked.contains(&id),
        "the dump says its runtime has no hooks"
    );
    assert!(
        events_of(&dump, id)
            .iter()
            .any(|e| matches!(e, EventKind::Terminate { .. })),
        "{:?}",
        events_of(&dump, id)
    );
    assert!(
        dump.facts.live_wakers.iter().all(|w| w.task != id),
        "not live"
    );
}

/// A task spawned from a thread whose tracing dispatcher lacks the layer (dispatch is
/// per thread): the runtime hooks still record its spawn, with its location.
#[test]
fn a_spawn_the_layer_did_not_see_is_recorded_by_the_hook() {
    let (rec, rt, _g) = harness(65_536);
    let handle = rt.handle().clone();
    let unseen = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
            handle.spawn(async { tokio::task::yield_now().await })
        })
    })
    .join()
    .unwrap();
    let id = id_of(unseen.id());
    rt.block_on(unseen).unwrap();
    let dump = rec.snapshot();
    let task = dump.tasks.iter().find(|t| t.id == id).expect("listed");
    assert!(
        task.location
            .as_ref()
            .is_some_and(|l| l.file.ends_with("capture_scenarios.rs")),
        "{task:?}"
    );
    assert!(
        events_of(&dump, id)
            .iter()
            .any(|e| matches!(e, EventKind::Spawn { .. })),
        "{:?}",
        events_of(&dump, id)
    );
}

/// A blocking task on the instrumented runtime ends once: Tokio runs the terminate hook
/// for it (but no spawn hook), and its span's close must not end it a second time.
#[test]
fn a_blocking_task_terminates_once() {
    let (rec, rt, _g) = harness(65_536);
    let handle = rt.block_on(async {
        let h = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2)));
        let id = id_of(h.id());
        h.await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        id
    });
    let dump = rec.snapshot();
    assert_eq!(
        terminations(&dump, handle),
        1,
        "{:?}",
        events_of(&dump, handle)
    );
}

/// A blocking task on a runtime without hooks, while another runtime has them: Tokio runs
/// no terminate hook there, so its span's close is its end (it used to stay live
/// forever); once.
#[test]
fn a_blocking_task_on_a_runtime_without_hooks_ends_once() {
    let (rec, plain, _g) = beside_a_runtime_without_hooks();
    let id = plain.block_on(async {
        let h = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2)));
        let id = id_of(h.id());
        h.await.unwrap();
        id
    });
    let dump = rec.snapshot();
    assert_eq!(terminations(&dump, id), 1, "{:?}", events_of(&dump, id));
    assert!(
        dump.facts.live_wakers.iter().all(|w| w.task != id),
        "not live"
    );
}
