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

criterion_group!(benches, record, dump);
criterion_main!(benches);
