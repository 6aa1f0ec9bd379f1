//! Shared set-up for tests that run a real multi-thread runtime under a recorder.
#![allow(dead_code)]

use std::sync::Arc;

use dial9_recorder::format::{Dump, EventKind};
use dial9_recorder::{FlightRecorder, UserHooks};
use tracing_subscriber::prelude::*;

/// Whether this test binary installs the recorder through its own subscriber (a binary
/// named `*_subscriber`) rather than its layer.
pub fn via_subscriber() -> bool {
    env!("CARGO_CRATE_NAME").ends_with("_subscriber")
}

/// The recorder installed as this binary's way says, over a bare registry.
pub fn dispatch_for(rec: &FlightRecorder) -> tracing::Dispatch {
    if via_subscriber() {
        tracing::Dispatch::new(rec.subscriber(tracing_subscriber::registry()))
    } else {
        tracing::Dispatch::new(tracing_subscriber::registry().with(rec.layer()))
    }
}

/// A recorder, a 2-worker runtime instrumented by it, and the recorder's layer as the
/// tracing dispatcher on this thread and every runtime thread. Tests in one binary run in
/// parallel, so each uses a scoped dispatcher instead of the process-wide default.
pub fn harness(
    capacity: usize,
) -> (
    FlightRecorder,
    tokio::runtime::Runtime,
    tracing::dispatcher::DefaultGuard,
) {
    let rec = FlightRecorder::builder()
        .capacity(capacity)
        .install_panic_hook(false)
        .build()
        .expect("recorder");
    let dispatch = dispatch_for(&rec);
    let guard = tracing::dispatcher::set_default(&dispatch);
    let hooks = UserHooks {
        on_thread_start: Some(Arc::new(move || {
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })),
        ..UserHooks::default()
    };
    let rt = rec
        .instrument_with(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all(),
            hooks,
        )
        .build()
        .expect("runtime");
    (rec, rt, guard)
}

/// For child processes: the recorder's layer as the process-wide subscriber, and a
/// two-worker runtime instrumented by it.
pub fn global_runtime(rec: &FlightRecorder) -> tokio::runtime::Runtime {
    tracing::dispatcher::set_global_default(dispatch_for(rec)).expect("one global subscriber");
    rec.instrument(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all(),
    )
    .build()
    .unwrap()
}

pub fn task_named(dump: &Dump, name: &str) -> u64 {
    dump.tasks
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no task named {name}: {:?}", dump.tasks))
        .id
}

/// A Tokio task id as the dump numbers tasks (its `Display`).
pub fn id_of(id: tokio::task::Id) -> u64 {
    id.to_string().parse().expect("a task id is a number")
}

/// How many Terminate events `task` has in the dump.
pub fn terminations(dump: &Dump, task: u64) -> usize {
    events_of(dump, task)
        .iter()
        .filter(|e| matches!(e, EventKind::Terminate { .. }))
        .count()
}

/// Events about `task`, in order.
pub fn events_of(dump: &Dump, task: u64) -> Vec<EventKind> {
    dump.events
        .iter()
        .filter(|e| e.kind.task() == Some(task))
        .map(|e| e.kind)
        .collect()
}
