//! The scenarios of `capture.rs` again, through the recorder's own subscriber wrapping a
//! registry (`FlightRecorder::subscriber`): the two ways in must record the same facts.

mod common;

include!("common/capture_scenarios.rs");
