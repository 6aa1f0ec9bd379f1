//! Shared set-up for the scenario programs that make `sample-dumps/`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dial9_recorder::FlightRecorder;
use tracing_subscriber::prelude::*;

/// Where this scenario writes its dump: the first argument, or `sample-dumps/NAME.bin`
/// at the workspace root. An old dump there is replaced.
pub fn out_path(name: &str) -> PathBuf {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../sample-dumps")
                .join(format!("{name}.bin"))
        });
    let _ = std::fs::remove_file(&path);
    path
}

/// A recorder writing to `out`, installed as the global subscriber's only layer, and a
/// two-worker runtime instrumented by it.
pub fn start(
    out: &std::path::Path,
    configure: impl FnOnce(dial9_recorder::Builder) -> dial9_recorder::Builder,
) -> (FlightRecorder, tokio::runtime::Runtime) {
    let rec = configure(
        FlightRecorder::builder()
            .capacity(65_536)
            .dump_path(out.to_string_lossy()),
    )
    .build()
    .expect("recorder");
    tracing_subscriber::registry().with(rec.layer()).init();
    let rt = rec
        .instrument(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all(),
        )
        .build()
        .expect("runtime");
    (rec, rt)
}

/// Burns CPU on the current thread for `d` (blocking code inside a poll).
pub fn spin(d: Duration) -> u64 {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        for i in 0..1000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    x
}

#[track_caller]
pub fn named<F>(name: &str, fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::task::Builder::new()
        .name(name)
        .spawn(fut)
        .expect("spawn")
}
