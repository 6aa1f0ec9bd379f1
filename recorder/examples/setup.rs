//! The README's setup, as a program the tests run: the recorder beside the service's own
//! `fmt` logging, dumps on panic and on SIGUSR1. `cargo run -p dial9-recorder --example
//! setup -- DIR` serves until SIGTERM and writes dumps into DIR.

use std::time::Duration;

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Where dumps go: the first argument (or, under the README test, its environment).
    let dir = std::env::var("DIAL9_SETUP_DIR")
        .ok()
        .or_else(|| std::env::args().nth(1).filter(|a| !a.starts_with('-')))
        .unwrap_or_else(|| "/tmp".into());
    let dump_path = format!("{dir}/tokio-flight-{{pid}}-{{time}}.bin");
    // README: setup begins
    use tracing_subscriber::prelude::*;

    let recorder = dial9_recorder::FlightRecorder::builder()
        .capacity(65_536) // records kept (61-97 bytes each, ring and task table), allocated up front
        .install_panic_hook(true) // dump before the previous hook runs, then chain to it
        .dump_on_signal(libc::SIGUSR1) // optional; dump and keep running
        .dump_path(dump_path) // e.g. "/var/log/myservice/tokio-flight-{pid}-{time}.bin"
        .build()?;
    // Your subscriber, as it was: the recorder wraps it and takes Tokio's instrumentation,
    // which your layers and filters then never see.
    recorder
        .subscriber(
            tracing_subscriber::registry()
                .with(tracing_subscriber::EnvFilter::new("info"))
                .with(tracing_subscriber::fmt::layer()),
        )
        .init();
    let rt = recorder
        .instrument(tokio::runtime::Builder::new_multi_thread().enable_all())
        .build()?;
    // later, anywhere: recorder.dump() -> io::Result<PathBuf>; recorder.snapshot() -> Dump
    // README: setup ends
    rt.block_on(service())
}

/// A small service: a ticker and some request handlers, logging at INFO like real code.
async fn service() -> Result<(), Box<dyn std::error::Error>> {
    tracing::info!("service started");
    for i in 0..4u64 {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5 + i)).await;
                tokio::task::yield_now().await;
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    println!("READY");
    term.recv().await;
    tracing::info!("service stopping");
    Ok(())
}
