//! # dial9-format
//!
//! The dump format, shared by the recorder that writes it and the explorer that reads it,
//! and depending on neither: data types ([`Dump`] and what it holds), the file envelope
//! with its reader and writer, and the crash-surviving ring's file layout with both its
//! pack (writer) and unpack (reader) functions side by side.
//!
//! ```text
//!  dial9-recorder                         dial9-format                     dial9-tui
//!  tracing layer + runtime hooks          types.rs   Dump, Event, ...      analysis: Index
//!        | ring_codec::pack                                                   |
//!        v                                file.rs    envelope, read/write  app: state
//!  in-memory Ring --snapshot--> Dump ----------------> dump file ----------->  |
//!  (or a ring file) ------------------------------> ring_file.rs read_ring   view: render
//! ```

pub mod blocks;
mod columns;
mod event_code;
mod file;
pub mod ring_codec;
pub mod ring_file;
mod section;
mod types;

pub use blocks::Damage;
pub use columns::EventColumns;
pub use file::{ENVELOPE_LEN, FORMAT_VERSION, MAGIC, OLDEST_FORMAT_VERSION, ReadError};
pub use ring_file::{RING_MAGIC, RING_SUFFIX, RING_VERSION};
pub use section::{BlockEntry, EventBlocks, EventSection};
pub use types::*;

/// Gives a placeholder entry to every task an event mentions that the table does not know
/// (spawned before the recorder, or its entry was dropped), so every id resolves.
pub fn fill_missing_tasks(tasks: &mut Vec<TaskInfo>, events: &[Event], reason: &Reason) {
    let known: std::collections::HashSet<u64> = tasks.iter().map(|t| t.id).collect();
    let mut missing = std::collections::BTreeSet::new();
    for e in events {
        if let Some(t) = e.kind.task()
            && !known.contains(&t)
        {
            missing.insert(t);
        }
        if let EventKind::Wake {
            source: WakeSource::Task(t),
            ..
        } = e.kind
            && !known.contains(&t)
        {
            missing.insert(t);
        }
    }
    if let Reason::Panic { task: Some(t), .. } = reason
        && !known.contains(t)
    {
        missing.insert(*t);
    }
    tasks.extend(missing.into_iter().map(|id| TaskInfo {
        id,
        name: String::new(),
        kind: TaskKind::Unknown,
        location: None,
        spawned_by: None,
    }));
    tasks.sort_by_key(|t| t.id);
}
