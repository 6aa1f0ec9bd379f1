//! The dump format: data types, the file envelope, and its reader and writer.
//!
//! This module has no dependency on the capture side, so the explorer builds it with
//! `default-features = false`.

mod file;
mod types;

pub use file::{ENVELOPE_LEN, FORMAT_VERSION, MAGIC, ReadError};
pub use types::*;
