//! Cost of recording one event, of each fact of a task's life against no recorder, and
//! of dumping a full 65,536-event ring.
//!
//! `cargo bench -p dial9-recorder`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dial9_recorder::FlightRecorder;

fn recorder(capacity: usize) -> FlightRecorder {
    FlightRecorder::builder()
        .capacity(capacity)
        .install_panic_hook(false)
        .dump_path(
            std::env::temp_dir()
                .join("dial9-bench-{pid}-{time}.bin")
                .to_string_lossy(),
        )
        .build()
        .unwrap()
}

fn record(c: &mut Criterion) {
    let rec = recorder(65_536);
    let dir = tempfile::Builder::new()
        .prefix("dial9-bench-ring")
        .tempdir_in(if std::path::Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        })
        .unwrap();
    let mapped = FlightRecorder::builder()
        .capacity(65_536)
        .install_panic_hook(false)
        .persist_ring(dir.path())
        .build()
        .unwrap();
    let mut g = c.benchmark_group("record");
    g.bench_function("one event (waker op)", |b| {
        b.iter(|| rec.__bench_record_waker_op(black_box(42)))
    });
    g.bench_function("one event, crash-surviving ring (tmpfs mapping)", |b| {
        b.iter(|| mapped.__bench_record_waker_op(black_box(42)))
    });
    g.bench_function(
        "a poll (its end carries its start: one record, two clock reads)",
        |b| b.iter(|| rec.__bench_record_poll(black_box(42))),
    );
    g.finish();
}

/// A span shaped like Tokio's task span (`tokio/src/util/trace.rs`).
fn tokio_task_span(id: u64) -> tracing::Span {
    tracing::span!(
        target: "tokio::task",
        tracing::Level::TRACE,
        "runtime.spawn",
        kind = %"task",
        task.name = %"bench",
        task.id = id,
        original_size.bytes = Option::<usize>::None,
        size.bytes = 128usize,
        loc.file = "src/bench.rs",
        loc.line = 12u32,
        loc.col = 5u32,
    )
}

/// Runs `f` over the next `iters` task ids from `next`, a thousand at a time, with the
/// time it adds to; returns the total.
fn chunked(
    iters: u64,
    next: &mut u64,
    mut f: impl FnMut(std::ops::RangeInclusive<u64>, &mut std::time::Duration),
) -> std::time::Duration {
    let mut took = std::time::Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(1_000);
        f(*next + 1..=*next + n, &mut took);
        *next += n;
        left -= n;
    }
    took
}

/// What a service pays per fact, through the same tracing machinery and hooks Tokio
/// calls: each fact once with no recorder (the baseline: Tokio's instrumentation
/// compiled in, disabled) and once with the recorder's own subscriber and its hooks
/// (the README's setup); spawns and waker ops also through its layer in a registry (the
/// slower way in). The table in docs/ is the difference, per fact.
fn per_fact(c: &mut Criterion) {
    use tracing_subscriber::prelude::*;
    let mut g = c.benchmark_group("per fact");
    let mut next = 1_000u64;
    // Baselines first, before any recorder's dispatcher exists: Tokio's callsites are
    // then disabled, as in a service without a recorder.
    let none = tracing::Dispatch::none();
    facts(&mut g, "no recorder", &none, None, &mut next);
    let rec = recorder(65_536);
    rec.instrument(&mut tokio::runtime::Builder::new_current_thread());
    let dial9 =
        tracing::Dispatch::new(rec.subscriber(tracing::subscriber::NoSubscriber::default()));
    facts(&mut g, "dial9", &dial9, Some(&rec), &mut next);
    let layered = recorder(65_536);
    layered.instrument(&mut tokio::runtime::Builder::new_current_thread());
    let layer = tracing::Dispatch::new(tracing_subscriber::registry().with(layered.layer()));
    facts(&mut g, "dial9's layer", &layer, Some(&layered), &mut next);
    g.finish();
}

/// The facts of a task's life under `d`, recorded (hooks included) by `rec` if any.
fn facts(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    d: &tracing::Dispatch,
    rec: Option<&FlightRecorder>,
    next: &mut u64,
) {
    tracing::dispatcher::with_default(d, || {
        // A spawn: the task span created with its fields, the spawn hook, and at the end
        // the span's close (the hooks record the termination).
        g.bench_function(format!("spawn: {label}"), |b| {
            b.iter_custom(|iters| {
                chunked(iters, next, |ids, took| {
                    let start = std::time::Instant::now();
                    for id in ids.clone() {
                        let span = tokio_task_span(id);
                        if let Some(r) = rec {
                            r.__bench_spawn_hook(id);
                        }
                        drop(black_box(span));
                    }
                    *took += start.elapsed();
                    if let Some(r) = rec {
                        ids.for_each(|id| r.__bench_terminate(id));
                    }
                })
            })
        });
        // A poll: the hooks around it and the span's enter and exit inside.
        let span = tokio_task_span(7);
        g.bench_function(format!("poll: {label}"), |b| {
            b.iter(|| {
                if let Some(r) = rec {
                    r.__bench_poll_start(black_box(7));
                }
                span.in_scope(|| black_box(()));
                if let Some(r) = rec {
                    r.__bench_poll_end(black_box(7));
                }
            })
        });
        // A task's last poll, whose end carries the termination (most tasks end so).
        g.bench_function(
            format!("last poll (its end carries the termination): {label}"),
            |b| {
                b.iter_custom(|iters| {
                    chunked(iters, next, |ids, took| {
                        let spans: Vec<_> = ids.clone().map(tokio_task_span).collect();
                        if let Some(r) = rec {
                            ids.clone().for_each(|id| r.__bench_spawn_hook(id));
                        }
                        let start = std::time::Instant::now();
                        for (id, span) in ids.zip(&spans) {
                            if let Some(r) = rec {
                                r.__bench_poll_start(id);
                            }
                            span.in_scope(|| black_box(()));
                            if let Some(r) = rec {
                                r.__bench_terminate_hook(id);
                                r.__bench_poll_end(id);
                            }
                        }
                        *took += start.elapsed();
                    })
                })
            },
        );
        // Waker ops as Tokio emits them (`tokio/src/runtime/task/waker.rs`), on a live
        // task span, outside its poll: each recorded with the task's live count.
        let id = span.id().map_or(0, |i| i.into_u64());
        g.bench_function(format!("wake: {label}"), |b| {
            b.iter(|| {
                tracing::trace!(
                    target: "tokio::task::waker",
                    op = "waker.wake_by_ref",
                    task.id = black_box(id),
                )
            })
        });
        g.bench_function(format!("waker clone: {label}"), |b| {
            b.iter(|| {
                tracing::trace!(
                    target: "tokio::task::waker",
                    op = "waker.clone",
                    task.id = black_box(id),
                )
            })
        });
    });
}

fn dump(c: &mut Criterion) {
    let rec = recorder(65_536);
    rec.__bench_fill(200_000);
    let mut g = c.benchmark_group("dump full 65,536-event ring");
    g.sample_size(20);
    g.bench_function("snapshot (in memory)", |b| {
        b.iter(|| black_box(rec.snapshot()))
    });
    g.bench_function("snapshot + encode", |b| {
        b.iter(|| black_box(rec.snapshot().to_bytes().unwrap()))
    });
    // The encoding alone, this format against the one before it (format 6: the whole dump
    // in bincode), on the same snapshot.
    let snap = rec.snapshot();
    g.bench_function("encode, format 7 (event blocks)", |b| {
        b.iter(|| black_box(snap.to_bytes().unwrap()))
    });
    g.bench_function("encode, format 6 (bincode, the baseline)", |b| {
        b.iter(|| {
            black_box(bincode::serde::encode_to_vec(&snap, bincode::config::standard()).unwrap())
        })
    });
    g.bench_function("dump() to a file (fsync + rename)", |b| {
        b.iter_batched(
            || (),
            |_| {
                let p = rec.dump().unwrap();
                std::fs::remove_file(p).unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, record, per_fact, dump);
criterion_main!(benches);
