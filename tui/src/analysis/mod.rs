//! The analysis: a pure index built from a dump, and the anomaly rules over it. Never
//! touches the terminal, so tests can build an index from any dump and assert on it.

pub mod anomaly;
pub mod backtrace;
mod build;
pub mod cells;
pub mod groups;
pub mod index;
pub mod why;

pub use anomaly::{Anomaly, AnomalyKind, Severity, SeverityCounts, Thresholds};
pub use groups::Group;
pub use index::{Index, Lane, Poll, Segment, SegmentKind, Task, TaskEvents, TaskState, Wake};

#[cfg(test)]
mod tests;
