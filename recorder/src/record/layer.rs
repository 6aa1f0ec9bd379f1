//! The `tracing` layer: reads Tokio's own instrumentation and nothing else.
//!
//! Interest is decided once per callsite by exact target and name (a per-layer filter), so
//! the application's spans and events never reach this layer, and a `fmt` layer stacked
//! beside it still sees them: a plain (unfiltered) layer that said "never" would disable
//! them for every layer.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::{Filtered, LevelFilter};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::format::{TaskKind, WakerOp};

use super::span_tasks::{CLASS_BLOCK_ON, CLASS_BLOCKING, CLASS_TASK};
use super::tasks::{FileName, SpawnInfo};
use super::{Inner, current_task};
use crate::format::ring_codec::{self as codec, F_BY_REF, F_SRC_DRIVER, F_SRC_TASK, Kind};

const TARGET_TASK: &str = "tokio::task";
const TARGET_BLOCKING: &str = "tokio::task::blocking";
const TARGET_WAKER: &str = "tokio::task::waker";
const TARGET_STATE_UPDATE: &str = "runtime::resource::state_update";

/// The layer returned by [`FlightRecorder::layer`], before its per-callsite filter.
pub struct RecorderLayer {
    inner: Arc<Inner>,
    ops: OpCallsites,
}

/// Tokio's waker-op callsites, learnt from their first event. Each `trace!` in
/// `tokio/src/runtime/task/waker.rs` is a callsite of its own with a fixed `op`, so later
/// events of a known callsite need not have their `op` string read and matched: their
/// visit only takes the span id.
#[derive(Default)]
struct OpCallsites {
    /// Metadata address (0: free) and the op's code (`waker_op_code`), the address
    /// written last.
    entries: [(AtomicUsize, AtomicU8); 8],
    adding: std::sync::Mutex<()>,
}

impl OpCallsites {
    #[inline]
    fn get(&self, meta: usize) -> Option<WakerOp> {
        self.entries
            .iter()
            .find(|(addr, _)| addr.load(Ordering::Acquire) == meta)
            .map(|(_, op)| codec::waker_op_from_code(op.load(Ordering::Relaxed)))
    }

    #[cold]
    fn add(&self, meta: usize, op: WakerOp) {
        let Ok(_adding) = self.adding.try_lock() else {
            return; // another thread is adding one: this one is learnt next time
        };
        if self.get(meta).is_some() {
            return;
        }
        if let Some((addr, code)) = self
            .entries
            .iter()
            .find(|(addr, _)| addr.load(Ordering::Relaxed) == 0)
        {
            code.store(codec::waker_op_code(op), Ordering::Relaxed);
            addr.store(meta, Ordering::Release);
        }
    }
}

/// Says yes to exactly Tokio's task spans, waker events and `Sleep` deadline updates.
pub struct TokioOnly;

fn wanted(meta: &Metadata<'_>) -> bool {
    match meta.target() {
        TARGET_TASK | TARGET_BLOCKING => meta.is_span() && meta.name() == "runtime.spawn",
        TARGET_WAKER => meta.is_event(),
        TARGET_STATE_UPDATE => meta.is_event() && meta.fields().field("duration").is_some(),
        _ => false,
    }
}

impl<S> Filter<S> for TokioOnly {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        wanted(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if wanted(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }
}

/// The layer for `inner`, filtered to Tokio's callsites.
pub(super) fn filtered<S>(inner: &Arc<Inner>) -> Filtered<RecorderLayer, TokioOnly, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    RecorderLayer {
        inner: inner.clone(),
        ops: OpCallsites::default(),
    }
    .with_filter(TokioOnly)
}

/// The Tokio task id stored in a task span's extensions, and the span's class
/// (`span_tasks::CLASS_*`).
struct TaskOfSpan(u64, u8);

/// A fixed-size string buffer so fields formatted with `%` do not allocate. `buf[..len]`
/// is always UTF-8: only `write_str` fills it, with whole chars.
struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    fn new() -> Self {
        StackStr {
            buf: [0; N],
            len: 0,
        }
    }
    fn clear(&mut self) {
        self.len = 0;
    }
    fn as_str(&self) -> &str {
        let bytes = &self.buf[..self.len];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `write_str` is the only writer, and it copies whole `&str`s or a prefix
        // cut at a char boundary, so `buf[..len]` is always UTF-8. (Validating here cost
        // as much as interning the spawn's site.)
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

impl<const N: usize> fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        if s.len() <= room {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            return Ok(());
        }
        // Truncate at a char boundary.
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.buf[self.len..self.len + cut].copy_from_slice(&s.as_bytes()[..cut]);
        self.len += cut;
        Err(fmt::Error)
    }
}

/// The task span's fields, written in place (no moves of the string buffers).
struct SpawnFields {
    kind: Option<TaskKind>,
    name: StackStr<{ NAME_MAX }>,
    file: StackStr<{ FILE_MAX }>,
    has_file: bool,
    id: u64,
    line: u32,
    col: u32,
}

/// Longest name and file path kept (longer ones are cut at a char boundary).
pub(super) const NAME_MAX: usize = 128;
pub(super) const FILE_MAX: usize = 256;

impl SpawnFields {
    fn new() -> Self {
        SpawnFields {
            kind: None,
            name: StackStr::new(),
            file: StackStr::new(),
            has_file: false,
            id: 0,
            line: 0,
            col: 0,
        }
    }
}

impl Visit for SpawnFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "task.id" => self.id = value,
            "loc.line" => self.line = value as u32,
            "loc.col" => self.col = value as u32,
            _ => {}
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0) as u64);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "loc.file" {
            self.file.clear();
            let _ = self.file.write_str(value);
            self.has_file = true;
        } else {
            self.record_debug(field, &value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "kind" => {
                let mut s = StackStr::<16>::new();
                let _ = write!(s, "{value:?}");
                self.kind = Some(match s.as_str() {
                    "task" => TaskKind::Task,
                    "local" => TaskKind::Local,
                    "block_on" => TaskKind::BlockOn,
                    "blocking" => TaskKind::Blocking,
                    _ => TaskKind::Unknown,
                });
            }
            "task.name" => {
                self.name.clear();
                let _ = write!(self.name, "{value:?}");
            }
            "loc.file" => {
                self.file.clear();
                let _ = write!(self.file, "{value:?}");
                self.has_file = true;
            }
            _ => {}
        }
    }
}

#[derive(Default)]
struct EventFields {
    op: Option<WakerOp>,
    /// The op came from the callsite cache: the `op` field need not be read.
    op_known: bool,
    span: Option<u64>,
    duration: Option<u64>,
}

impl Visit for EventFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "task.id" => self.span = Some(value),
            "duration" => self.duration = Some(value),
            _ => {}
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0) as u64);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.op_known && field.name() == "op" {
            self.op = match value {
                "waker.clone" => Some(WakerOp::Clone),
                "waker.drop" => Some(WakerOp::Drop),
                "waker.wake" => Some(WakerOp::Wake),
                "waker.wake_by_ref" => Some(WakerOp::WakeByRef),
                _ => None,
            };
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.op_known && field.name() == "op" {
            let mut s = StackStr::<32>::new();
            let _ = write!(s, "{value:?}");
            self.record_str(field, s.as_str().trim_matches('"'));
        }
    }
}

impl<S> Layer<S> for RecorderLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, _: &tracing::Dispatch) {
        self.inner.layer_installed.store(true, Ordering::Relaxed);
        if let Some(p) = &self.inner.persist {
            p.set_flag(crate::format::ring_file::FLAG_LAYER);
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // Both tables' lines are likely in another worker's cache: fetch them while the
        // fields are read.
        self.inner.span_tasks.prefetch(id.into_u64());
        let mut f = SpawnFields::new();
        attrs.record(&mut f);
        if f.id == 0 {
            return;
        }
        self.inner.tasks.prefetch(f.id);
        let kind = f
            .kind
            .unwrap_or(if attrs.metadata().target() == TARGET_BLOCKING {
                TaskKind::Blocking
            } else {
                TaskKind::Unknown
            });
        let class = match kind {
            TaskKind::Blocking => CLASS_BLOCKING,
            TaskKind::BlockOn => CLASS_BLOCK_ON,
            _ => CLASS_TASK,
        };
        // An open span's mapping pushed out of the table moves to its registry
        // extensions, where a miss finds it; so does this one's if the set is busy.
        let to_registry = |span: &Id, task, class| {
            if let Some(span) = ctx.span(span) {
                span.extensions_mut().insert(TaskOfSpan(task, class));
            }
        };
        let inserted =
            self.inner
                .span_tasks
                .insert(id.into_u64(), f.id, class, |old, task, class| {
                    to_registry(&Id::from_u64(old), task, class)
                });
        if inserted.is_err() {
            to_registry(id, f.id, class);
        }
        self.inner.spawn(SpawnInfo {
            task: f.id,
            name: f.name.as_str(),
            kind,
            location: f
                .has_file
                .then(|| (FileName::Copied(f.file.as_str()), f.line, f.col)),
            parent: current_task(),
            hooked: false,
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let callsite = std::ptr::from_ref(meta) as usize;
        let known = self.ops.get(callsite);
        let mut f = EventFields {
            op: known,
            op_known: known.is_some(),
            ..EventFields::default()
        };
        event.record(&mut f);
        if let (None, Some(op)) = (known, f.op) {
            self.ops.add(callsite, op);
        }
        if known.is_none() && meta.target() == TARGET_STATE_UPDATE {
            if let Some(ms) = f.duration {
                let task = current_task().unwrap_or(0);
                self.inner.record(Kind::TimerArm, 0, task, ms);
            }
            return;
        }
        let (Some(op), Some(span)) = (f.op, f.span) else {
            return;
        };
        // Live wakers: a clone adds one, a drop or a wake by value (which consumes the
        // waker) takes one away; a wake by reference leaves the count.
        let delta = match op {
            WakerOp::Clone => 1,
            WakerOp::Drop | WakerOp::Wake => -1,
            WakerOp::WakeByRef => 0,
        };
        let id = Id::from_u64(span.max(1));
        let found = self
            .inner
            .span_tasks
            .get_counting(id.into_u64(), delta)
            .or_else(|| self.task_of(&id, &ctx).map(|(t, c)| (t, c, None, false)));
        let Some((task, _, live, closed)) = found else {
            self.inner
                .record(Kind::OrphanWaker, codec::waker_op_code(op), span, 0);
            return;
        };
        if closed {
            // A waker that outlived its task: keep the task's name as long as this event.
            self.inner
                .tasks
                .late_event(task, self.inner.task_window().0);
        }
        match op {
            // A task's own waker, cloned or dropped inside its own poll, with a known
            // count: netted into one op at the poll's end.
            WakerOp::Clone | WakerOp::Drop
                if self.inner.fold
                    && live.is_some_and(|n| super::hooks::net_own_waker_op(task, delta, n)) => {}
            // The count after the op rides in the event: the dump then knows the task's
            // live wakers at every op, whatever the ring lost before.
            WakerOp::Clone | WakerOp::Drop => {
                let kind = if op == WakerOp::Clone {
                    Kind::WakerClone
                } else {
                    Kind::WakerDrop
                };
                match live {
                    Some(n) => self.inner.record(
                        kind,
                        codec::F_HAS_VALUE,
                        task,
                        (n.max(0) as u64).min(codec::AUX_MAX),
                    ),
                    None => self.inner.record(kind, 0, task, 0),
                }
            }
            WakerOp::Wake | WakerOp::WakeByRef => {
                let by_ref = if op == WakerOp::WakeByRef {
                    F_BY_REF
                } else {
                    0
                };
                let (src, waker) = match current_task() {
                    Some(t) => (F_SRC_TASK, t),
                    None if tokio::runtime::worker_index().is_some() => (F_SRC_DRIVER, 0),
                    None => (0, 0),
                };
                self.inner.record(Kind::Wake, by_ref | src, task, waker);
            }
        }
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
        // `block_on` futures get no runtime hooks: their span's close is their end, with or
        // without hooks (otherwise the task table would keep every `block_on` forever).
        let hooks = self.inner.hooks_installed.load(Ordering::Relaxed);
        let task = self
            .inner
            .span_tasks
            .close(id.into_u64())
            .or_else(|| registry_task_of(&id, &ctx));
        match task {
            Some((task, CLASS_BLOCK_ON)) => self.inner.terminate(task),
            Some((task, CLASS_BLOCKING)) => self.inner.blocking_span_closed(task),
            Some((task, _)) if !hooks => self.inner.terminate(task),
            // An async task the spawn hook never saw runs on a runtime without hooks
            // (another runtime has them): its close is its end too.
            Some((task, CLASS_TASK)) if !self.inner.tasks.is_hooked(task) => {
                self.inner.terminate(task)
            }
            _ => {}
        }
    }
}

impl RecorderLayer {
    /// The task of a task span: from the span table, else from the registry.
    fn task_of<S>(&self, id: &Id, ctx: &Context<'_, S>) -> Option<(u64, u8)>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.inner
            .span_tasks
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
