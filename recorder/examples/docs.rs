//! The code blocks of `docs/`, as functions the build compiles and `main` runs: a test
//! (`tui/tests/docs.rs`) fails if a block in the docs is not exactly one of the regions
//! marked here. Each variant runs in a child process of its own (a process has one
//! global subscriber): `cargo run -p dial9-recorder --example docs -- NAME`.

use std::error::Error;

pub type Result = std::result::Result<(), Box<dyn Error>>;

/// A service that can only add a layer to its registry.
pub fn layer() -> Result {
    // DOC: layer begins
    use tracing_subscriber::prelude::*;

    let recorder = dial9_recorder::FlightRecorder::builder().build()?;
    tracing_subscriber::registry()
        .with(recorder.layer())
        // Your layers need their own filter: a global one would hide Tokio's
        // instrumentation from the recorder's layer too.
        .with(
            tracing_subscriber::fmt::layer()
                .with_filter(tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let rt = recorder
        .instrument(tokio::runtime::Builder::new_multi_thread().enable_all())
        .build()?;
    // DOC: layer ends
    rt.block_on(work(&recorder))
}

/// A service with no subscriber of its own.
pub fn no_subscriber() -> Result {
    // DOC: no-subscriber begins
    use tracing_subscriber::prelude::*;

    let recorder = dial9_recorder::FlightRecorder::builder().build()?;
    recorder
        .subscriber(tracing::subscriber::NoSubscriber::default())
        .init();
    let rt = recorder
        .instrument(tokio::runtime::Builder::new_multi_thread().enable_all())
        .build()?;
    // DOC: no-subscriber ends
    rt.block_on(work(&recorder))
}

/// The runtime hooks alone: polls, spawns, terminations, parks; no names, no wakes.
pub fn hooks_only() -> Result {
    // DOC: hooks-only begins
    let recorder = dial9_recorder::FlightRecorder::builder()
        .schedule_latency(true) // scheduling delays without the subscriber's wakes
        .build()?;
    let rt = recorder
        .instrument(tokio::runtime::Builder::new_multi_thread().enable_all())
        .build()?;
    // DOC: hooks-only ends
    rt.block_on(work(&recorder))
}

/// Your own runtime hooks beside the recorder's.
pub fn user_hooks() -> Result {
    // DOC: user-hooks begins
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let recorder = dial9_recorder::FlightRecorder::builder().build()?;
    let parks = Arc::new(AtomicU64::new(0));
    let counted = parks.clone();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    let rt = recorder
        .instrument_with(
            &mut builder,
            dial9_recorder::UserHooks {
                on_thread_park: Some(Arc::new(move || {
                    counted.fetch_add(1, Ordering::Relaxed);
                })),
                ..Default::default()
            },
        )
        .build()?;
    // DOC: user-hooks ends
    rt.block_on(work(&recorder))?;
    println!("{} parks", parks.load(Ordering::Relaxed));
    Ok(())
}

/// The long-poll watchdog with stacks.
pub fn stacks() -> Result {
    // DOC: stacks begins
    let recorder = dial9_recorder::FlightRecorder::builder()
        .watchdog(Some(std::time::Duration::from_millis(10))) // the default
        .stacks(true) // needs -C force-frame-pointers=yes and line tables
        .build()?;
    // DOC: stacks ends
    let rt = recorder
        .instrument(tokio::runtime::Builder::new_multi_thread().enable_all())
        .build()?;
    rt.block_on(work(&recorder))
}

/// The crash-surviving ring.
pub fn persist_ring() -> Result {
    // DOC: persist-ring begins
    let recorder = dial9_recorder::FlightRecorder::builder()
        .persist_ring_default() // or .persist_ring("/some/tmpfs/dir")
        .build()?;
    // DOC: persist-ring ends
    let rt = recorder
        .instrument(tokio::runtime::Builder::new_multi_thread().enable_all())
        .build()?;
    rt.block_on(work(&recorder))
}

/// Some tasks, then a dump into the temp directory, read back.
async fn work(recorder: &dial9_recorder::FlightRecorder) -> Result {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(i)).await;
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let dump = recorder.snapshot();
    println!("{} events", dump.events.len());
    Ok(())
}

/// One of the docs' setups, run as a service would run it.
pub type Setup = fn() -> Result;

/// Every setup, by the name `main` (and the test that runs them all) knows it by.
pub const SETUPS: [(&str, Setup); 6] = [
    ("layer", layer),
    ("no-subscriber", no_subscriber),
    ("hooks-only", hooks_only),
    ("user-hooks", user_hooks),
    ("stacks", stacks),
    ("persist-ring", persist_ring),
];

fn main() -> Result {
    let name = std::env::args().nth(1).unwrap_or_default();
    match SETUPS.iter().find(|(n, _)| *n == name) {
        Some((_, run)) => run(),
        None => {
            let names: Vec<&str> = SETUPS.iter().map(|(n, _)| *n).collect();
            Err(format!("which? {} (got {name:?})", names.join(", ")).into())
        }
    }
}
