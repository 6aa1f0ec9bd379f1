//! The recorder's own `tracing` subscriber: it owns Tokio's instrumentation and hands
//! everything else, unchanged, to the subscriber it wraps (the application's own: a
//! `tracing_subscriber::registry()` with its layers, say).
//!
//! Why: through a layer, every Tokio task span is a span of the application's registry:
//! a slab slot created, entered and exited on per-thread span stacks, closed, with the
//! per-layer filter's bookkeeping on each step; and every waker op asks a table which
//! task the span is. The recorder is the only reader of those spans, so here they never
//! reach the registry. A task span's id is made from its Tokio task id ([`ids`]), so
//! every later step (enter, exit, a waker op, a clone, the close) finds the task's slot
//! from the id alone; enter and exit are O(1) with no span stack (the runtime hooks, when
//! installed, mark the polls: one source per fact); the span's handles and its task's
//! live wakers are counted in the task table.
//!
//! What the wrapped subscriber sees is exactly what it would see if Tokio had no
//! instrumentation: its own spans and events, their parents, `Span::current()` (which is
//! never a Tokio task span), `downcast_raw` (so `tracing-error`, `tracing-opentelemetry`
//! and the like find their layers), its filters. The recorder's interest in Tokio's
//! TRACE callsites raises the global level hint to TRACE, so the application's TRACE
//! callsites are asked once, at registration, and stay disabled when its filter says so
//! (the cost is one load of the callsite's cached interest per hit, instead of one load
//! of the global level). Tokio's other instrumentation (resource spans, async ops, state
//! updates other than a `Sleep`'s deadline) is disabled: nothing the recorder keeps, and
//! costly (a semaphore under every mpsc send) to have on.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};
use tracing_core::span::Current;
use tracing_subscriber::filter::LevelFilter;

use super::instrumentation::{
    Callsite, Callsites, Class, Role, SpawnFields, read_event, waker_delta,
};
use super::{Capture, Keep};

/// Span ids of the recorder's own spans.
///
/// An id is the recorder's when bit 50 is set and nothing above it. tracing-subscriber's
/// registry numbers a span by its sharded-slab index plus one: the slot's address in bits
/// 0-37, its shard (the creating thread's slab index) in bits 38-50, a generation above;
/// bit 50, the shard field's top bit, is set only by a thread registered while 4,096
/// others are, and an address never reaches the carry. So a registry never makes an id of
/// this shape. Another subscriber that does has such ids renumbered ([`Remap`]), so no two
/// spans ever share an id.
mod ids {
    use super::Class;

    const OURS: u64 = 1 << 50;
    const KIND_SHIFT: u32 = 47;
    /// Task ids and remap numbers below this fit (at a million spawns a second, four
    /// years of them).
    pub(crate) const VALUE_LIMIT: u64 = 1 << KIND_SHIFT;

    /// What one of the recorder's ids names.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(crate) enum Kind {
        /// A Tokio task span, with its class.
        Task(Class),
        /// A task span the recorder cannot tie to a task (no task id, or one too large).
        Untracked,
        /// A span of the wrapped subscriber's, whose own id had this shape.
        Remapped,
    }

    #[inline]
    pub(crate) fn ours(id: u64) -> bool {
        id >> 50 == 1
    }

    pub(crate) fn encode(kind: Kind, value: u64) -> u64 {
        let code = match kind {
            Kind::Task(Class::Task) => 0,
            Kind::Task(Class::Blocking) => 1,
            Kind::Task(Class::BlockOn) => 2,
            Kind::Untracked => 3,
            Kind::Remapped => 4,
        };
        OURS | (code << KIND_SHIFT) | (value & (VALUE_LIMIT - 1))
    }

    /// What `id`, one of the recorder's ([`ours`]), names, and its value (a task id).
    #[inline]
    pub(crate) fn decode(id: u64) -> (Kind, u64) {
        let value = id & (VALUE_LIMIT - 1);
        let kind = match (id >> KIND_SHIFT) & 0b111 {
            0 => Kind::Task(Class::Task),
            1 => Kind::Task(Class::Blocking),
            2 => Kind::Task(Class::BlockOn),
            4 => Kind::Remapped,
            _ => Kind::Untracked,
        };
        (kind, value)
    }
}

use ids::Kind as IdKind;

/// The wrapped subscriber's spans whose ids had the shape of the recorder's: renumbered
/// into the recorder's range (never with a registry: see [`ids`]). Slow, and never taken
/// unless `used`.
#[derive(Default)]
struct Remap {
    used: AtomicBool,
    maps: Mutex<RemapMaps>,
}

#[derive(Default)]
struct RemapMaps {
    to_inner: HashMap<u64, u64>,
    to_outer: HashMap<u64, u64>,
    next: u64,
}

impl Remap {
    fn maps(&self) -> std::sync::MutexGuard<'_, RemapMaps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The id the dispatcher sees for the wrapped subscriber's `id`.
    #[inline]
    fn outer(&self, id: Id) -> Id {
        if !ids::ours(id.into_u64()) {
            return id;
        }
        self.used.store(true, Ordering::Relaxed);
        let mut m = self.maps();
        let inner = id.into_u64();
        if let Some(&outer) = m.to_outer.get(&inner) {
            return Id::from_u64(outer);
        }
        m.next += 1;
        let outer = ids::encode(IdKind::Remapped, m.next);
        m.to_outer.insert(inner, outer);
        m.to_inner.insert(outer, inner);
        Id::from_u64(outer)
    }

    /// The wrapped subscriber's own id for a renumbered one.
    fn inner(&self, outer: u64) -> Option<Id> {
        if !self.used.load(Ordering::Relaxed) {
            return None;
        }
        self.maps().to_inner.get(&outer).map(|&i| Id::from_u64(i))
    }

    fn forget(&self, outer: u64) {
        let mut m = self.maps();
        if let Some(inner) = m.to_inner.remove(&outer) {
            m.to_outer.remove(&inner);
        }
    }
}

/// The subscriber returned by [`FlightRecorder::subscriber`](crate::FlightRecorder::subscriber):
/// Tokio's instrumentation into the recorder, everything else into `S`.
pub struct RecorderSubscriber<S> {
    inner: S,
    rec: Arc<Capture>,
    _keep: Keep,
    sites: Callsites,
    remap: Remap,
    untracked: AtomicU64,
}

impl<S> RecorderSubscriber<S> {
    pub(crate) fn new(rec: &Arc<Capture>, keep: Keep, inner: S) -> Self {
        RecorderSubscriber {
            inner,
            rec: rec.clone(),
            _keep: keep,
            sites: Callsites::default(),
            remap: Remap::default(),
            untracked: AtomicU64::new(0),
        }
    }

    /// The subscriber it wraps.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S> std::fmt::Debug for RecorderSubscriber<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecorderSubscriber").finish_non_exhaustive()
    }
}

impl<S: Subscriber> RecorderSubscriber<S> {
    /// A Tokio task span: the spawn recorded, an id made from the task id.
    fn task_span(&self, site: &Callsite, attrs: &Attributes<'_>) -> Id {
        let mut f = SpawnFields::new(&self.sites, site, attrs.metadata());
        attrs.record(&mut f);
        if f.id == 0 || f.id >= ids::VALUE_LIMIT {
            let n = self.untracked.fetch_add(1, Ordering::Relaxed) + 1;
            return Id::from_u64(ids::encode(IdKind::Untracked, n));
        }
        self.rec.store.tasks.prefetch(f.id);
        let kind = f.kind(attrs.metadata());
        self.rec.task_span(&f, kind);
        Id::from_u64(ids::encode(IdKind::Task(Class::of(kind)), f.id))
    }

    /// What Tokio's callsite `meta` is to the recorder, `None` if not Tokio's. Tokio's
    /// callsites are all TRACE: anything else is the wrapped subscriber's with one compare.
    #[inline]
    fn tokio_site(&self, meta: &Metadata<'_>) -> Option<Callsite> {
        if *meta.level() != Level::TRACE {
            return None;
        }
        self.sites.get(meta)
    }

    fn waker_event(&self, site: &Callsite, event: &Event<'_>) {
        let f = read_event(&self.sites, site, event);
        let (Some(op), Some(span)) = (f.op, f.number) else {
            return;
        };
        match ids::ours(span).then(|| ids::decode(span)) {
            Some((IdKind::Task(_), task)) => {
                let wakers = self.rec.store.tasks.waker_op(task, waker_delta(op));
                self.rec.waker_op(task, op, wakers);
            }
            _ => self.rec.orphan_waker_op(span, op),
        }
    }

    /// `meta` is more verbose than the wrapped subscriber's own level hint allows (asked
    /// once per callsite, at its registration).
    fn above_inner_hint(&self, meta: &Metadata<'_>) -> bool {
        self.inner
            .max_level_hint()
            .is_some_and(|hint| *meta.level() > hint)
    }

    /// The wrapped subscriber's id for `span`, `None` for one of the recorder's task
    /// spans.
    #[inline]
    fn inner_id<'a>(&self, span: &'a Id) -> Option<std::borrow::Cow<'a, Id>> {
        let id = span.into_u64();
        if !ids::ours(id) {
            return Some(std::borrow::Cow::Borrowed(span));
        }
        match ids::decode(id).0 {
            IdKind::Remapped => self.remap.inner(id).map(std::borrow::Cow::Owned),
            _ => None,
        }
    }
}

impl<S: Subscriber> Subscriber for RecorderSubscriber<S> {
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        self.rec.mark_instrumentation_read();
        self.inner.on_register_dispatch(dispatch);
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        match self.tokio_site(meta) {
            Some(site) if site.role() == Role::Unused => Interest::never(),
            Some(_) => Interest::always(),
            // Past the wrapped subscriber's own level hint: what the global level filter
            // would have made it, had the recorder's hint not raised it to TRACE.
            None if self.above_inner_hint(meta) => Interest::never(),
            None => self.inner.register_callsite(meta),
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        match self.tokio_site(meta) {
            Some(site) => site.role() != Role::Unused,
            None => self.inner.enabled(meta),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let meta = attrs.metadata();
        if let Some(site) = self.tokio_site(meta)
            && site.role() == Role::TaskSpan
        {
            return self.task_span(&site, attrs);
        }
        let id = match attrs.parent() {
            Some(parent) if ids::ours(parent.into_u64()) => match self.inner_id(parent) {
                Some(p) => {
                    self.inner
                        .new_span(&Attributes::child_of(p.into_owned(), meta, attrs.values()))
                }
                // A Tokio task span as an explicit parent: the wrapped subscriber does not
                // know it, so the span is placed by that subscriber's own current span.
                None => self.inner.new_span(&Attributes::new(meta, attrs.values())),
            },
            _ => self.inner.new_span(attrs),
        };
        self.remap.outer(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(id) = self.inner_id(span) {
            self.inner.record(&id, values);
        }
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        if let (Some(s), Some(f)) = (self.inner_id(span), self.inner_id(follows)) {
            self.inner.record_follows_from(&s, &f);
        }
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        match self.tokio_site(event.metadata()) {
            Some(site) => site.role() != Role::Unused,
            None => self.inner.event_enabled(event),
        }
    }

    fn event(&self, event: &Event<'_>) {
        match self.tokio_site(event.metadata()) {
            Some(site) if site.is_waker_op() => self.waker_event(&site, event),
            Some(site) if site.role() == Role::SleepArmed => {
                let f = read_event(&self.sites, &site, event);
                if let Some(ms) = f.number {
                    self.rec.sleep_armed(ms);
                }
            }
            Some(_) => {}
            // Nothing of the application's has one of Tokio's task spans as an explicit
            // parent (it cannot reach one: `Span::current()` is never one).
            None => self.inner.event(event),
        }
    }

    #[inline]
    fn enter(&self, span: &Id) {
        let id = span.into_u64();
        if !ids::ours(id) {
            return self.inner.enter(span);
        }
        match ids::decode(id) {
            // With the runtime hooks installed they mark the polls (one source per fact).
            (IdKind::Task(Class::Task), task)
                if !self.rec.hooks_installed.load(Ordering::Relaxed) =>
            {
                self.rec.poll_start(task)
            }
            (IdKind::Remapped, _) => {
                if let Some(inner) = self.remap.inner(id) {
                    self.inner.enter(&inner);
                }
            }
            _ => {}
        }
    }

    #[inline]
    fn exit(&self, span: &Id) {
        let id = span.into_u64();
        if !ids::ours(id) {
            return self.inner.exit(span);
        }
        match ids::decode(id) {
            (IdKind::Task(Class::Task), task)
                if !self.rec.hooks_installed.load(Ordering::Relaxed) =>
            {
                self.rec.poll_end(task, super::hooks::Ended::No)
            }
            (IdKind::Remapped, _) => {
                if let Some(inner) = self.remap.inner(id) {
                    self.inner.exit(&inner);
                }
            }
            _ => {}
        }
    }

    fn clone_span(&self, span: &Id) -> Id {
        let id = span.into_u64();
        if !ids::ours(id) {
            return self.remap.outer(self.inner.clone_span(span));
        }
        match ids::decode(id) {
            (IdKind::Task(_), task) => {
                self.rec.store.tasks.span_cloned(task);
                span.clone()
            }
            (IdKind::Remapped, _) => match self.remap.inner(id) {
                Some(inner) => self.remap.outer(self.inner.clone_span(&inner)),
                None => span.clone(),
            },
            (IdKind::Untracked, _) => span.clone(),
        }
    }

    fn try_close(&self, span: Id) -> bool {
        let id = span.into_u64();
        if !ids::ours(id) {
            return self.inner.try_close(span);
        }
        match ids::decode(id) {
            (IdKind::Task(class), task) => {
                let last = self.rec.store.tasks.span_released(task);
                if last {
                    self.rec.task_span_closed(task, class);
                }
                last
            }
            (IdKind::Remapped, _) => {
                let Some(inner) = self.remap.inner(id) else {
                    return false;
                };
                let closed = self.inner.try_close(inner);
                if closed {
                    self.remap.forget(id);
                }
                closed
            }
            (IdKind::Untracked, _) => true,
        }
    }

    fn current_span(&self) -> Current {
        let current = self.inner.current_span();
        if !current.is_known() {
            return current;
        }
        match current.into_inner() {
            Some((id, meta)) => Current::new(self.remap.outer(id), meta),
            None => Current::none(),
        }
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(std::ptr::from_ref(self).cast());
        }
        // SAFETY: the wrapped subscriber's own contract.
        unsafe { self.inner.downcast_raw(id) }
    }
}
