//! Tokio's `tracing` instrumentation, read: which callsites are Tokio's, what their fields
//! hold, and what each means to the recorder. Shared by the two ways in: the recorder's
//! own subscriber ([`super::subscriber`], which owns Tokio's callsites) and the layer
//! ([`super::layer`], which reads them through `tracing_subscriber`'s registry).

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

use tracing::Metadata;
use tracing::field::{Field, Visit};

use crate::format::ring_codec::{self as codec, F_BY_REF, F_SRC_DRIVER, F_SRC_TASK, Kind};
use crate::format::{TaskKind, WakerOp};

use super::super::store::current_task;
use super::super::store::tasks::{FileName, SpawnInfo, Wakers};
use super::Capture;

pub(crate) const TARGET_TASK: &str = "tokio::task";
pub(crate) const TARGET_BLOCKING: &str = "tokio::task::blocking";
pub(crate) const TARGET_WAKER: &str = "tokio::task::waker";
pub(crate) const TARGET_STATE_UPDATE: &str = "runtime::resource::state_update";

/// What a Tokio callsite is to the recorder.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    /// A task span (`runtime.spawn`: async, local, `block_on` or blocking).
    TaskSpan,
    /// A waker op event (clone, drop, wake, wake by ref).
    WakerOp,
    /// A `Sleep`'s deadline (`state_update` with a `duration`).
    SleepArmed,
    /// The rest of Tokio's instrumentation (resources, async ops, other state updates):
    /// nothing the recorder keeps, and costly to enable (a semaphore under every mpsc send).
    Unused,
}

/// The recorder's role for `meta`, `None` if it is not Tokio's instrumentation. Tokio's
/// resource spans (`runtime.resource...`) carry no target of their own: their module's.
pub(crate) fn role(meta: &Metadata<'_>) -> Option<Role> {
    let target = meta.target();
    if target == TARGET_TASK || target == TARGET_BLOCKING {
        return Some(if meta.is_span() && meta.name() == "runtime.spawn" {
            Role::TaskSpan
        } else {
            Role::Unused
        });
    }
    if target == TARGET_WAKER {
        return Some(if meta.is_event() {
            Role::WakerOp
        } else {
            Role::Unused
        });
    }
    if target.starts_with("runtime::resource") {
        let sleep = target == TARGET_STATE_UPDATE
            && meta.is_event()
            && meta.fields().field("duration").is_some();
        return Some(if sleep {
            Role::SleepArmed
        } else {
            Role::Unused
        });
    }
    (target.starts_with("tokio::") && meta.name().starts_with("runtime.resource"))
        .then_some(Role::Unused)
}

/// Whether the recorder reads `meta` (the layer's per-callsite filter).
pub(crate) fn wanted(meta: &Metadata<'_>) -> bool {
    matches!(
        role(meta),
        Some(Role::TaskSpan | Role::WakerOp | Role::SleepArmed)
    )
}

/// Tokio's callsites the recorder reads, by metadata address: what each is, the index of
/// its `task.id` (or `duration`) field, and, for a waker-op callsite, its op. Each
/// `trace!` in `tokio/src/runtime/task/waker.rs` is a callsite of its own with a fixed
/// `op`, so after its first event the `op` string is never read again, and an event's
/// visit only takes its one number. A lookup is a scan of a few addresses; a callsite
/// met for the first time is classified by [`role`] (string compares) and, if the
/// recorder reads it, added.
#[derive(Default)]
pub(crate) struct Callsites {
    /// Metadata address (0: free), written last, after its entry.
    addrs: [AtomicUsize; CALLSITES],
    /// [`Callsite::code`].
    codes: [AtomicU8; CALLSITES],
    /// Index of the callsite's number field (a waker op's `task.id`, a `Sleep`'s
    /// `duration`).
    numbers: [AtomicU8; CALLSITES],
    /// [`Layout`] of a task span callsite's fields, in two words.
    layouts: [[AtomicU64; 2]; CALLSITES],
    used: AtomicUsize,
    adding: std::sync::Mutex<()>,
}

/// Tokio has a handful (a task span, a blocking one, four waker ops, `Sleep`'s updates).
const CALLSITES: usize = 16;

/// [`Callsite::code`]s: a task span, a `Sleep`'s deadline, a waker op not yet learnt,
/// then a waker op `WAKER + 1 + waker_op_code(op)`.
const TASK_SPAN: u8 = 1;
const SLEEP: u8 = 2;
const WAKER: u8 = 3;
const UNUSED: u8 = 8;

/// What each of a callsite's fields is, by field index (`NONE` for one the recorder does
/// not read), so a visit tells a field by one load rather than by comparing its name: a
/// waker op's `task.id` and a `Sleep`'s `duration` are 0; a task span's `task.id`,
/// `kind`, `task.name`, `loc.file`, `loc.line` and `loc.col` are 0 to 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout([u8; LAYOUT_FIELDS]);

/// Fields a layout covers (Tokio's task span has nine).
const LAYOUT_FIELDS: usize = 16;
const NONE: u8 = u8::MAX;

impl Layout {
    fn of(meta: &Metadata<'_>, names: &[&str]) -> Layout {
        let mut l = [NONE; LAYOUT_FIELDS];
        for (role, name) in names.iter().enumerate() {
            if let Some(f) = meta.fields().field(name)
                && let Some(slot) = l.get_mut(f.index())
            {
                *slot = role as u8;
            }
        }
        Layout(l)
    }

    /// What the field at `index` is.
    #[inline]
    fn which(&self, index: usize) -> u8 {
        self.0.get(index).copied().unwrap_or(NONE)
    }

    fn words(&self) -> [u64; 2] {
        let (a, b) = self.0.split_at(8);
        [
            u64::from_le_bytes(a.try_into().unwrap_or([NONE; 8])),
            u64::from_le_bytes(b.try_into().unwrap_or([NONE; 8])),
        ]
    }

    fn from_words([a, b]: [u64; 2]) -> Layout {
        let mut l = [NONE; LAYOUT_FIELDS];
        l[..8].copy_from_slice(&a.to_le_bytes());
        l[8..].copy_from_slice(&b.to_le_bytes());
        Layout(l)
    }
}

/// A task span's fields, in [`Layout`] order.
const SPAN_FIELDS: [&str; 6] = [
    "task.id",
    "kind",
    "task.name",
    "loc.file",
    "loc.line",
    "loc.col",
];
const F_ID: u8 = 0;
const F_KIND: u8 = 1;
const F_NAME: u8 = 2;
const F_FILE: u8 = 3;
const F_LINE: u8 = 4;
const F_COL: u8 = 5;

/// What [`Callsites::get`] knows of one of Tokio's callsites.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Callsite {
    code: u8,
    /// Index of its number field.
    number: u8,
    slot: usize,
}

impl Callsite {
    /// Whether the callsite is a waker op's.
    #[inline]
    pub(crate) fn is_waker_op(&self) -> bool {
        self.code >= WAKER && self.code < UNUSED
    }

    pub(crate) fn role(&self) -> Role {
        match self.code {
            TASK_SPAN => Role::TaskSpan,
            SLEEP => Role::SleepArmed,
            UNUSED => Role::Unused,
            _ => Role::WakerOp,
        }
    }

    /// A waker-op callsite's op, once learnt.
    #[inline]
    fn op(&self) -> Option<WakerOp> {
        (self.code > WAKER && self.code < UNUSED)
            .then(|| codec::waker_op_from_code(self.code - WAKER - 1))
    }
}

fn code_of(role: Role) -> u8 {
    match role {
        Role::TaskSpan => TASK_SPAN,
        Role::SleepArmed => SLEEP,
        Role::WakerOp => WAKER,
        Role::Unused => UNUSED,
    }
}

impl Callsites {
    /// What `meta` is to the recorder, `None` if it is not Tokio's.
    #[inline]
    pub(crate) fn get(&self, meta: &Metadata<'_>) -> Option<Callsite> {
        let addr = std::ptr::from_ref(meta) as usize;
        let used = self.used.load(Ordering::Acquire).min(CALLSITES);
        for slot in 0..used {
            if self.addrs[slot].load(Ordering::Acquire) == addr {
                return Some(Callsite {
                    code: self.codes[slot].load(Ordering::Relaxed),
                    number: self.numbers[slot].load(Ordering::Relaxed),
                    slot,
                });
            }
        }
        self.add(meta)
    }

    #[cold]
    #[inline(never)]
    fn add(&self, meta: &Metadata<'_>) -> Option<Callsite> {
        let role = role(meta)?;
        let layout = Layout::of(meta, &SPAN_FIELDS);
        let number_name = if role == Role::SleepArmed {
            "duration"
        } else {
            "task.id"
        };
        let number = meta
            .fields()
            .field(number_name)
            .map_or(NONE, |f| u8::try_from(f.index()).unwrap_or(NONE));
        let found = Callsite {
            code: code_of(role),
            number,
            slot: CALLSITES,
        };
        // Only what the recorder reads is kept (Tokio has dozens of others, disabled once
        // at registration); another thread adding one: this callsite is added next time.
        if role == Role::Unused {
            return Some(found);
        }
        let Ok(_adding) = self.adding.try_lock() else {
            return Some(found);
        };
        let used = self.used.load(Ordering::Acquire);
        let addr = std::ptr::from_ref(meta) as usize;
        if used >= CALLSITES
            || self.addrs[..used]
                .iter()
                .any(|a| a.load(Ordering::Relaxed) == addr)
        {
            return Some(found);
        }
        self.codes[used].store(found.code, Ordering::Relaxed);
        self.numbers[used].store(number, Ordering::Relaxed);
        for (word, value) in self.layouts[used].iter().zip(layout.words()) {
            word.store(value, Ordering::Relaxed);
        }
        self.addrs[used].store(addr, Ordering::Release);
        self.used.store(used + 1, Ordering::Release);
        Some(Callsite {
            slot: used,
            ..found
        })
    }

    /// A task span callsite's field layout (worked out again for one not in the table).
    pub(crate) fn layout(&self, site: &Callsite, meta: &Metadata<'_>) -> Layout {
        match self.layouts.get(site.slot) {
            Some(w) => {
                Layout::from_words([w[0].load(Ordering::Relaxed), w[1].load(Ordering::Relaxed)])
            }
            None => Layout::of(meta, &SPAN_FIELDS),
        }
    }

    /// Learns a waker-op callsite's op from its first event.
    #[cold]
    fn learn(&self, site: &Callsite, op: WakerOp) {
        if site.slot < CALLSITES {
            self.codes[site.slot].store(WAKER + 1 + codec::waker_op_code(op), Ordering::Relaxed);
        }
    }
}

/// A fixed-size string buffer so fields formatted with `%` do not allocate. `buf[..len]`
/// is always UTF-8: only `write_str` fills it, with whole chars.
pub(crate) struct StackStr<const N: usize> {
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
    pub(crate) fn as_str(&self) -> &str {
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

/// Longest name and file path kept (longer ones are cut at a char boundary): what a
/// spawn site holds.
use super::super::store::tasks::{FILE_MAX, NAME_MAX};

/// The task span's fields, written in place (no moves of the string buffers).
pub(crate) struct SpawnFields {
    layout: Layout,
    kind: Option<TaskKind>,
    name: StackStr<{ NAME_MAX }>,
    file: StackStr<{ FILE_MAX }>,
    has_file: bool,
    /// The Tokio task id (0: the span had none).
    pub(super) id: u64,
    line: u32,
    col: u32,
}

impl SpawnFields {
    /// For a task span of callsite `site` (of `sites`), described by `meta`.
    pub(crate) fn new(sites: &Callsites, site: &Callsite, meta: &Metadata<'_>) -> Self {
        SpawnFields {
            layout: sites.layout(site, meta),
            kind: None,
            name: StackStr::new(),
            file: StackStr::new(),
            has_file: false,
            id: 0,
            line: 0,
            col: 0,
        }
    }

    /// The task's kind: from its `kind` field, else from the span's target.
    pub(crate) fn kind(&self, meta: &Metadata<'_>) -> TaskKind {
        self.kind.unwrap_or(if meta.target() == TARGET_BLOCKING {
            TaskKind::Blocking
        } else {
            TaskKind::Unknown
        })
    }
}

impl Visit for SpawnFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match self.layout.which(field.index()) {
            F_ID => self.id = value,
            F_LINE => self.line = value as u32,
            F_COL => self.col = value as u32,
            _ => {}
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0) as u64);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match self.layout.which(field.index()) {
            F_FILE => {
                self.file.clear();
                let _ = self.file.write_str(value);
                self.has_file = true;
            }
            F_KIND | F_NAME => self.record_debug(field, &value),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match self.layout.which(field.index()) {
            F_KIND => {
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
            F_NAME => {
                self.name.clear();
                let _ = write!(self.name, "{value:?}");
            }
            F_FILE => {
                self.file.clear();
                let _ = write!(self.file, "{value:?}");
                self.has_file = true;
            }
            _ => {}
        }
    }
}

/// A waker event's fields, or a `Sleep` state update's: its number (the `task.id` span
/// id, or the `duration`), found by its index, and the `op` string only while the
/// callsite's op is not yet known.
pub(crate) struct EventFields {
    number_field: u8,
    pub(super) number: Option<u64>,
    pub(super) op: Option<WakerOp>,
    op_known: bool,
}

impl Visit for EventFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.index() == usize::from(self.number_field) {
            self.number = Some(value);
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

/// Reads the fields of an event of Tokio's callsite `site`, learning a waker callsite's
/// op from its first event.
#[inline]
pub(crate) fn read_event(
    sites: &Callsites,
    site: &Callsite,
    event: &tracing::Event<'_>,
) -> EventFields {
    let op = site.op();
    let mut f = EventFields {
        number_field: site.number,
        number: None,
        op,
        op_known: op.is_some() || site.code != WAKER,
    };
    event.record(&mut f);
    if let (None, Some(op)) = (op, f.op) {
        sites.learn(site, op);
    }
    f
}

/// What a waker op does to its task's live count: a clone adds one, a drop or a wake by
/// value (which consumes the waker) takes one away; a wake by reference leaves it.
pub(crate) fn waker_delta(op: WakerOp) -> i64 {
    match op {
        WakerOp::Clone => 1,
        WakerOp::Drop | WakerOp::Wake => -1,
        WakerOp::WakeByRef => 0,
    }
}

/// The span classes the recorder tells apart: an async task, a blocking task (workers
/// are blocking tasks entered for life, so their enters are not polls), a `block_on`
/// future (no runtime hooks).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Class {
    Task,
    Blocking,
    BlockOn,
}

impl Class {
    pub(crate) fn of(kind: TaskKind) -> Class {
        match kind {
            TaskKind::Blocking => Class::Blocking,
            TaskKind::BlockOn => Class::BlockOn,
            _ => Class::Task,
        }
    }
}

impl Capture {
    /// Tokio's instrumentation is read (the recorder's subscriber or its layer was
    /// installed): the dump says so.
    pub(crate) fn mark_instrumentation_read(&self) {
        self.layer_installed.store(true, Ordering::Relaxed);
        if let Some(p) = &self.store.persist {
            p.set_flag(crate::format::ring_file::FLAG_LAYER);
        }
    }

    /// A task span was created: the task's spawn, with its name, kind and location, into
    /// the task table and the ring.
    pub(crate) fn task_span(&self, f: &SpawnFields, kind: TaskKind) {
        self.store.spawn(SpawnInfo {
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

    /// A task span closed: the end of a task no hook will end (a `block_on` future, a
    /// blocking task, or any task when no runtime has the hooks or its own has none).
    pub(crate) fn task_span_closed(&self, task: u64, class: Class) {
        let hooks = self.hooks_installed.load(Ordering::Relaxed);
        match class {
            Class::BlockOn => self.store.terminate(task),
            Class::Blocking => self.store.blocking_span_closed(task),
            Class::Task if !hooks => self.store.terminate(task),
            // An async task the spawn hook never saw runs on a runtime without hooks
            // (another runtime has them): its close is its end too.
            Class::Task if !self.store.tasks.is_hooked(task) => self.store.terminate(task),
            Class::Task => {}
        }
    }

    /// A `Sleep`'s deadline, armed inside the current poll (if any).
    pub(crate) fn sleep_armed(&self, ms: u64) {
        let task = current_task().unwrap_or(0);
        self.store.record(Kind::TimerArm, 0, task, ms);
    }

    /// A waker op on `task`, its count (`wakers`, `None` if the table does not hold the
    /// task) already taken.
    #[inline(always)]
    pub(crate) fn waker_op(&self, task: u64, op: WakerOp, wakers: Option<Wakers>) {
        if wakers.is_some_and(|w| w.closed) {
            // A waker that outlived its task: keep the task's name as long as this event.
            self.store
                .tasks
                .late_event(task, self.store.task_window().0);
        }
        let live = wakers.and_then(|w| w.live);
        match op {
            // A task's own waker, cloned or dropped inside its own poll, with a known
            // count: netted into one op at the poll's end.
            WakerOp::Clone | WakerOp::Drop
                if self.fold
                    && live.is_some_and(|n| {
                        super::hooks::net_own_waker_op(task, waker_delta(op), n)
                    }) => {}
            // The count after the op rides in the event: the dump then knows the task's
            // live wakers at every op, whatever the ring lost before.
            WakerOp::Clone | WakerOp::Drop => {
                let kind = if op == WakerOp::Clone {
                    Kind::WakerClone
                } else {
                    Kind::WakerDrop
                };
                match live {
                    Some(n) => self.store.record(
                        kind,
                        codec::F_HAS_VALUE,
                        task,
                        (n.max(0) as u64).min(codec::AUX_MAX),
                    ),
                    None => self.store.record(kind, 0, task, 0),
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
                self.store.record(Kind::Wake, by_ref | src, task, waker);
            }
        }
    }

    /// A waker op on a span the recorder cannot map to a task.
    pub(crate) fn orphan_waker_op(&self, span: u64, op: WakerOp) {
        self.store
            .record(Kind::OrphanWaker, codec::waker_op_code(op), span, 0);
    }
}
