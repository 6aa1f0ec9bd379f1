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
    g.bench_function("poll start + poll end (2 events)", |b| {
        b.iter(|| rec.__bench_record_poll(black_box(42)))
    });
    g.finish();
}

/// A span shaped like Tokio's task span, created and closed.
fn task_span(id: u64) {
    let span = tracing::span!(
        target: "tokio::task",
        tracing::Level::TRACE,
        "runtime.spawn",
        kind = "task",
        task.name = "bench",
        task.id = id,
        loc.file = "src/bench.rs",
        loc.line = 12u32,
        loc.col = 5u32,
    );
    black_box(&span);
}

/// What a service pays per task and per waker op, beyond the ring.
fn bookkeeping(c: &mut Criterion) {
    use tracing_subscriber::prelude::*;
    let rec = recorder(65_536);
    let mut g = c.benchmark_group("bookkeeping");
    let mut id = 1_000u64;
    g.bench_function(
        "spawn + terminate (task table, span table, 2 events)",
        |b| {
            b.iter(|| {
                id += 1;
                rec.__bench_spawn_terminate(black_box(id), black_box(id % 10_000 + 1))
            })
        },
    );
    rec.__bench_spawn_terminate(7, 77);
    g.bench_function("waker op (span -> task, live count, event)", |b| {
        b.iter(|| rec.__bench_waker_op_counted(black_box(77)))
    });
    // The layer's on_new_span for Tokio's task span, through a real registry.
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(rec.layer()));
    let mut task_id = 1_000_000u64;
    // The same span through the registry and a layer that does nothing, interested in
    // the same callsites: the floor any tracing layer pays.
    struct Noop;
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Noop {}
    let floor = tracing::Dispatch::new(
        tracing_subscriber::registry().with(Noop.with_filter(dial9_recorder::TokioOnly)),
    );
    let mut floor_id = 2_000_000u64;
    g.bench_function("floor: the same span, registry + a no-op layer", |b| {
        tracing::dispatcher::with_default(&floor, || {
            b.iter(|| {
                floor_id += 1;
                task_span(floor_id);
            })
        })
    });
    g.bench_function(
        "layer: a task span created and closed (registry included)",
        |b| {
            tracing::dispatcher::with_default(&dispatch, || {
                b.iter(|| {
                    task_id += 1;
                    task_span(task_id);
                })
            })
        },
    );
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
