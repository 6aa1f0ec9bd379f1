//! The store: where recorded facts live until a dump reads them. The [`ring`] of
//! records in per-thread blocks, the [`lanes`] (one per recording thread, with what it
//! is doing now), the [`tasks`] table (names, kinds, locations, parents, live wakers:
//! what outlives the ring's window), the crash-surviving [`ring_file`] mapping, and the
//! [`record`] path that puts one event on the calling thread's lane.
//!
//! Nothing here knows where events come from: capture calls in, dumps read out. Writers
//! never lock (a thread's very first event aside); readers never stop writers.

pub(crate) mod identity;
pub(crate) mod lanes;
pub(crate) mod prefetch;
pub(crate) mod record;
pub(crate) mod ring;
pub(crate) mod ring_file;
pub(crate) mod tasks;

pub(crate) use record::{LaneWriter, current_task, task_id_u64};

use crate::format::ClockAnchor;

/// The recorder's storage, shared by every stage above it.
pub(crate) struct Store {
    /// This recorder's id, unique in the process (a thread's lane cache is keyed by it).
    pub(crate) id: u64,
    pub(crate) ring: ring::Ring,
    pub(crate) persist: Option<ring_file::Persist>,
    pub(crate) lanes: lanes::Lanes,
    pub(crate) tasks: tasks::TaskTable,
    pub(crate) clock: quanta::Clock,
    /// Raw clock reading at the recorder's start (time 0 of the dump's clock).
    pub(crate) start_raw: u64,
    /// Nanoseconds per raw clock tick.
    pub(crate) ns_per_raw: f64,
    pub(crate) anchor: ClockAnchor,
    /// The ring lives in a shared file mapping (a forked child must not write to it).
    pub(crate) mapped: bool,
    /// Fork generation when the ring was mapped.
    pub(crate) fork_generation: u64,
    /// A lane notes its thread's pthread and stack bounds (for stack capture).
    pub(crate) lanes_with_thread: bool,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(p) = &self.persist {
            p.remove();
        }
    }
}
