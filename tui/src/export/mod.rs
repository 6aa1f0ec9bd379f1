//! Writing a dump for other tools: `dial9-tui export`.

pub mod perfetto;
mod proto;
mod wire;
