//! The analysis: a pure index built from a dump, and the anomaly rules over it. Never
//! touches the terminal, so tests can build an index from any dump and assert on it.

pub mod anomaly;
pub mod backtrace;
mod build;
pub mod cells;
pub mod events;
pub mod groups;
pub mod index;
mod narrow;
pub(crate) mod par;
pub mod polls;
pub mod task_events;
pub mod wakes;
pub mod why;

pub use anomaly::{Anomaly, AnomalyKind, Detail, Severity, SeverityCounts, Thresholds};
pub use groups::Group;
pub use index::{Index, Lane, Park, Poll, Segment, SegmentKind, Task, TaskState, Wake};
pub use task_events::TaskEvents;

#[cfg(test)]
mod tests;
