//! End-to-end capture on real multi-thread runtimes, through the recorder's layer in a
//! `tracing_subscriber` registry (`FlightRecorder::layer`).

mod common;

include!("common/capture_scenarios.rs");
