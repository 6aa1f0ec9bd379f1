//! The recorder's interest in Tokio's TRACE callsites (its subscriber's level hint is
//! TRACE) turns on none of the application's TRACE callsites, and asks a dynamic filter
//! no more often than without the recorder. One test in a binary of its own: callsite
//! interest is process-wide, and any other dispatcher alive would change it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// A filter as a layer: INFO and above always; DEBUG callsites of target `dynamic` asked
/// at each event (a dynamic filter's `sometimes`); everything else never. Counts the
/// questions and the events it lets through.
#[derive(Clone, Default)]
struct Counting {
    asked: Arc<AtomicUsize>,
    events: Arc<AtomicUsize>,
    /// Its level hint, if any (an `EnvFilter`'s is its most verbose directive).
    hint: Option<tracing_subscriber::filter::LevelFilter>,
}

impl<S: Subscriber> Layer<S> for Counting {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if *meta.level() <= tracing::Level::INFO {
            Interest::always()
        } else if meta.target() == "dynamic" {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }
    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.asked.fetch_add(1, Ordering::Relaxed);
        *meta.level() <= tracing::Level::INFO || meta.target() == "dynamic"
    }
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
    fn max_level_hint(&self) -> Option<tracing_subscriber::filter::LevelFilter> {
        self.hint
    }
}

/// The application's callsites, the same ones in both runs.
fn application() {
    for i in 0..1_000 {
        tracing::trace!(i, "an application trace");
        tracing::debug!(target: "dynamic", i, "a dynamically filtered debug");
    }
    tracing::info!("one info");
}

#[test]
fn tokios_trace_interest_turns_on_nothing_of_the_applications() {
    let count = |wrap: bool, hint| {
        let filter = Counting {
            hint,
            ..Counting::default()
        };
        let rec = dial9_recorder::FlightRecorder::builder()
            .install_panic_hook(false)
            .watchdog(None)
            .build()
            .unwrap();
        let inner = tracing_subscriber::registry().with(filter.clone());
        let dispatch = if wrap {
            tracing::Dispatch::new(rec.subscriber(inner))
        } else {
            tracing::Dispatch::new(inner)
        };
        tracing::dispatcher::with_default(&dispatch, application);
        drop(dispatch);
        (
            filter.asked.load(Ordering::Relaxed),
            filter.events.load(Ordering::Relaxed),
        )
    };
    // No level hint: the trace callsite is never asked (interest `never`, cached); the
    // dynamic one is asked once per event, in both.
    let plain = count(false, None);
    assert_eq!(plain, (1_000, 1_001), "without the recorder");
    assert_eq!(count(true, None), plain, "with the recorder");
    // A hint of INFO: without the recorder the global level filter stops the debug
    // callsite before any question; with it (its own hint is TRACE), the same.
    let hint = Some(tracing_subscriber::filter::LevelFilter::INFO);
    let plain = count(false, hint);
    assert_eq!(plain, (0, 1), "without the recorder");
    assert_eq!(count(true, hint), plain, "with the recorder");
}
