//! dial9-tui: the explorer for dial9 flight-recorder dumps, and its headless commands.
//!
//! ```text
//!  dump file --Dump::open--> event blocks --analysis::Index::open (streamed)--+
//!  dial9 trace segments --import::read--> Dump --analysis::Index::build-------+
//!                                                                             v
//!                                     Index (tasks, polls, wakes, lanes, anomalies)
//!            |                        |
//!            v                        v
//!      cli::report / check      app::App (state)  <--apply--  Action  <--keys--  terminal
//!      (text, JSON, verdict)          |
//!                                     v
//!                               view::render(&App) --> frame
//! ```
//!
//! Layers, each readable and testable alone:
//! - [`analysis`]: a pure index built from a dump (tasks, polls, wakes, lanes, swimlane
//!   cells, anomalies); never touches a terminal;
//! - [`load`]: one way to open what the user names (a dump, or the public dial9's
//!   traces through [`import`]);
//! - [`cli`]: `report` and `check` over the index;
//! - [`app`]: the explorer's state, the key table, and keys turned into actions applied
//!   to the state (the only place it changes);
//! - [`view`]: pure render functions over `&App`;
//! - [`fmt`]: durations, times and the one sanitizer for strings from a dump.

pub mod analysis;
pub mod app;
pub mod cli;
pub mod export;
pub mod fmt;
pub mod import;
pub mod load;
pub mod view;
