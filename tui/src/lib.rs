//! dial9-tui: the explorer for dial9 flight-recorder dumps, and its headless commands.
//!
//! Layers, each readable and testable alone:
//! - [`analysis`]: a pure index built from a dump (tasks, polls, wakes, lanes, anomalies);
//! - [`cli`]: `report` and `check` over the index;
//! - [`app`]: the explorer's state, and keys turned into actions applied to it;
//! - [`view`]: pure render functions over the app state.

pub mod analysis;
pub mod app;
pub mod cli;
pub mod fmt;
pub mod view;
