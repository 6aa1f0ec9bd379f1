//! The `tracing` layer: reads Tokio's own instrumentation and nothing else, for a service
//! that can only add a layer to its subscriber. The slower way in (every task span goes
//! through the registry's slab, per-thread span stacks and per-layer filter state, and
//! each waker op through a span -> task table); the recorder's own subscriber
//! ([`super::subscriber`]) skips all of that.
//!
//! Interest is decided once per callsite by exact target and name (a per-layer filter), so
//! the application's spans and events never reach this layer, and a `fmt` layer stacked
//! beside it still sees them: a plain (unfiltered) layer that said "never" would disable
//! them for every layer.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::span::{Attributes, Id};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::{Filtered, LevelFilter};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::instrumentation::{
    self as inst, Callsites, Class, Role, SpawnFields, read_event, waker_delta,
};
use super::span_tasks::{CLASS_BLOCK_ON, CLASS_BLOCKING, CLASS_TASK, SpanTasks};
use super::{Capture, Keep};

/// The layer returned by [`FlightRecorder::layer`](crate::FlightRecorder::layer), before
/// its per-callsite filter.
pub struct RecorderLayer {
    inner: Arc<Capture>,
    _keep: Keep,
    sites: Callsites,
    /// Registry span id -> task (span ids are the registry's own, so each layer keeps its
    /// own table).
    spans: SpanTasks,
}

/// Says yes to exactly Tokio's task spans, waker events and `Sleep` deadline updates.
pub struct TokioOnly;

impl<S> Filter<S> for TokioOnly {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        inst::wanted(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if inst::wanted(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }
}

/// The layer for `inner`, filtered to Tokio's callsites; it holds `keep`.
pub(crate) fn filtered<S>(inner: &Arc<Capture>, keep: Keep) -> Filtered<RecorderLayer, TokioOnly, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    RecorderLayer {
        inner: inner.clone(),
        _keep: keep,
        sites: Callsites::default(),
        spans: SpanTasks::new(),
    }
    .with_filter(TokioOnly)
}

/// The Tokio task id stored in a task span's extensions, and the span's class
/// (`span_tasks::CLASS_*`).
struct TaskOfSpan(u64, u8);

fn class_code(class: Class) -> u8 {
    match class {
        Class::Task => CLASS_TASK,
        Class::Blocking => CLASS_BLOCKING,
        Class::BlockOn => CLASS_BLOCK_ON,
    }
}

fn class_of_code(code: u8) -> Class {
    match code {
        CLASS_BLOCKING => Class::Blocking,
        CLASS_BLOCK_ON => Class::BlockOn,
        _ => Class::Task,
    }
}

impl<S> Layer<S> for RecorderLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, _: &tracing::Dispatch) {
        self.inner.mark_instrumentation_read();
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // Both tables' lines are likely in another worker's cache: fetch them while the
        // fields are read.
        self.spans.prefetch(id.into_u64());
        let Some(site) = self.sites.get(attrs.metadata()) else {
            return;
        };
        let mut f = SpawnFields::new(&self.sites, &site, attrs.metadata());
        attrs.record(&mut f);
        if f.id == 0 {
            return;
        }
        self.inner.store.tasks.prefetch(f.id);
        let kind = f.kind(attrs.metadata());
        let class = class_code(Class::of(kind));
        // An open span's mapping pushed out of the table moves to its registry
        // extensions, where a miss finds it; so does this one's if the set is busy.
        let to_registry = |span: &Id, task, class| {
            if let Some(span) = ctx.span(span) {
                span.extensions_mut().insert(TaskOfSpan(task, class));
            }
        };
        let inserted = self
            .spans
            .insert(id.into_u64(), f.id, class, |old, task, class| {
                to_registry(&Id::from_u64(old), task, class)
            });
        if inserted.is_err() {
            to_registry(id, f.id, class);
        }
        self.inner.task_span(&f, kind);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(site) = self.sites.get(event.metadata()) else {
            return;
        };
        let f = read_event(&self.sites, &site, event);
        if site.role() == Role::SleepArmed {
            if let Some(ms) = f.number {
                self.inner.sleep_armed(ms);
            }
            return;
        }
        let (Some(op), Some(span)) = (f.op, f.number) else {
            return;
        };
        let id = Id::from_u64(span.max(1));
        let Some((task, _)) = self.task_of(&id, &ctx) else {
            self.inner.orphan_waker_op(span, op);
            return;
        };
        let wakers = self.inner.store.tasks.waker_op(task, waker_delta(op));
        self.inner.waker_op(task, op, wakers);
    }

    // Fallbacks for when the runtime hooks are not installed: polls and terminations from
    // the task span. With hooks, these return after one relaxed load.

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if self.inner.hooks_installed.load(Ordering::Relaxed) {
            return;
        }
        if let Some((task, CLASS_TASK)) = self.task_of(id, &ctx) {
            self.inner.poll_start(task);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if self.inner.hooks_installed.load(Ordering::Relaxed) {
            return;
        }
        if let Some((task, CLASS_TASK)) = self.task_of(id, &ctx) {
            self.inner.poll_end(task, super::hooks::Ended::No);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let task = self
            .spans
            .close(id.into_u64())
            .or_else(|| registry_task_of(&id, &ctx));
        if let Some((task, class)) = task {
            self.inner.store.tasks.span_closed(task);
            self.inner.task_span_closed(task, class_of_code(class));
        }
    }
}

impl RecorderLayer {
    /// The task of a task span: from the span table, else from the registry.
    fn task_of<S>(&self, id: &Id, ctx: &Context<'_, S>) -> Option<(u64, u8)>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.spans
            .get(id.into_u64())
            .or_else(|| registry_task_of(id, ctx))
    }
}

/// The task of a task span whose mapping the span table no longer holds: from the span's
/// registry extensions.
fn registry_task_of<S>(id: &Id, ctx: &Context<'_, S>) -> Option<(u64, u8)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.span(id)
        .and_then(|s| s.extensions().get::<TaskOfSpan>().map(|t| (t.0, t.1)))
}
