//! Writing a dump for other tools: `dial9-tui export`.

pub mod file;
pub mod perfetto;
mod proto;
mod wire;
