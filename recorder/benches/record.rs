//! Cost of recording one event, and of dumping a full 65,536-event ring.
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

/// A task's span life: created, entered once (Tokio enters it around each poll), closed.
fn task_span(id: u64) {
    tokio_task_span(id).in_scope(|| black_box(id));
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

/// Benches one phase of a task's life over fresh task ids, a thousand at a time:
/// `[before, timed, after]` each run on every id, and only `timed` is measured.
fn phase(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    next: &mut u64,
    name: &str,
    [before, timed, after]: [&dyn Fn(u64); 3],
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            chunked(iters, next, |ids, took| {
                ids.clone().for_each(before);
                let start = std::time::Instant::now();
                for id in ids.clone() {
                    timed(black_box(id));
                }
                *took += start.elapsed();
                ids.for_each(after);
            })
        })
    });
}

/// What a service pays per task and per waker op, beyond the ring.
fn bookkeeping(c: &mut Criterion) {
    use tracing_subscriber::prelude::*;
    let rec = recorder(65_536);
    let mut g = c.benchmark_group("bookkeeping");
    // Tasks that each write three records (spawn, a poll, termination), as the smallest
    // real task does, a thousand alive at a time: the task table then reuses slots as a
    // service would. Only the part named is timed.
    let mut next = 1_000u64;
    let untimed = |_: u64| {};
    let spawn = |id: u64| rec.__bench_spawn(id);
    let poll_and_terminate = |id: u64| {
        rec.__bench_record_poll(id);
        rec.__bench_terminate(id);
    };
    phase(
        &mut g,
        &mut next,
        "spawn (span table, task table, hooked mark, event)",
        [&untimed, &spawn, &poll_and_terminate],
    );
    phase(
        &mut g,
        &mut next,
        "terminate (task table, event)",
        [
            &|id| {
                spawn(id);
                rec.__bench_record_poll(id);
            },
            &|id| rec.__bench_terminate(id),
            &untimed,
        ],
    );
    // A task's last poll: before, a poll (one record) and then the termination (another);
    // now the poll's end carries the termination.
    phase(
        &mut g,
        &mut next,
        "last poll + terminate, two records (as before)",
        [&spawn, &poll_and_terminate, &untimed],
    );
    phase(
        &mut g,
        &mut next,
        "last poll carrying the termination (one record)",
        [&spawn, &|id| rec.__bench_last_poll(id), &untimed],
    );
    rec.__bench_spawn(77);
    g.bench_function("waker op (span -> task, live count, event)", |b| {
        b.iter(|| rec.__bench_waker_op_counted(black_box(77)))
    });
    // Tokio's task span through a real registry: created and closed.
    struct Noop;
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Noop {}
    let floor = tracing::Dispatch::new(
        tracing_subscriber::registry().with(Noop.with_filter(dial9_recorder::TokioOnly)),
    );
    let mut span_id = 2_000_000u64;
    // Times `iters` spans; `after` then runs untimed on each task id (the hooks' part).
    let mut span_bench =
        |g: &mut criterion::BenchmarkGroup<'_, _>, name: &str, d, after: &dyn Fn(u64)| {
            g.bench_function(name, |b| {
                tracing::dispatcher::with_default(d, || {
                    b.iter_custom(|iters| {
                        chunked(iters, &mut span_id, |ids, took| {
                            let start = std::time::Instant::now();
                            for id in ids.clone() {
                                task_span(id);
                            }
                            *took += start.elapsed();
                            ids.for_each(after);
                        })
                    })
                })
            });
        };
    // The floor any tracing layer pays: the registry and a layer that does nothing,
    // interested in the same callsites.
    span_bench(
        &mut g,
        "task span, floor: registry + a no-op layer",
        &floor,
        &|_| {},
    );
    // dial9's layer as a service runs it, with the runtime hooks: the span's fields,
    // both tables and the spawn event at creation; the close only marks the span table
    // (the hooks record the termination).
    let hooked = recorder(65_536);
    hooked.instrument(&mut tokio::runtime::Builder::new_current_thread());
    let with_hooks = tracing::Dispatch::new(tracing_subscriber::registry().with(hooked.layer()));
    span_bench(
        &mut g,
        "task span, dial9's layer (with hooks: on_new_span + on_close)",
        &with_hooks,
        &|id| {
            hooked.__bench_record_poll(id);
            hooked.__bench_terminate(id);
        },
    );
    // Without the hooks the close also records the termination.
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(rec.layer()));
    span_bench(
        &mut g,
        "task span, dial9's layer (layer only: also the termination)",
        &dispatch,
        &|_| {},
    );
    // A waker op as Tokio emits it (`tokio/src/runtime/task/waker.rs`), on a live task
    // span, through each subscriber: a clone outside any poll, so it is recorded.
    for (name, d) in [
        ("waker event, floor: registry + a no-op layer", &floor),
        ("waker event, dial9's layer", &with_hooks),
    ] {
        tracing::dispatcher::with_default(d, || {
            let span = tokio_task_span(5);
            let id = span.id().map_or(0, |i| i.into_u64());
            g.bench_function(name, |b| {
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
    g.finish();
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

criterion_group!(benches, record, bookkeeping, dump);
criterion_main!(benches);
