//! Lanes: one per thread that records, with what it is doing right now.
//!
//! A thread registers itself (takes a lock, allocates) on its first event only; after that
//! it finds its lane and its ring cursor through a thread-local with no lock and no
//! allocation.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::format::{Activity, ThreadInfo, ThreadKind};

use super::ring_file::NOT_PERSISTED;

use super::ring::Cursor;

const NO_WORKER: u32 = u32::MAX;

// Activity codes in the top byte of `LaneSlot::activity`.
const ACT_UNKNOWN: u64 = 0;
const ACT_POLLING: u64 = 1;
const ACT_PARKED: u64 = 2;
const ACT_RUNNING: u64 = 3;
const ACT_STOPPED: u64 = 4;

/// A lane's shared state. Written only by its own thread; read by dumps.
#[repr(align(64))]
pub(crate) struct LaneSlot {
    pub(crate) lane: u32,
    os_tid: u64,
    name: String,
    worker: AtomicU32,
    /// Set when the runtime started this thread (`on_thread_start`).
    runtime_thread: AtomicBool,
    /// `code << 56 | task`.
    activity: AtomicU64,
    /// Raw clock reading when the activity began.
    since: AtomicU64,
    /// Events this lane has recorded.
    pub(crate) written: AtomicU64,
    /// Offset of the lane's name in the ring file ([`NOT_PERSISTED`] until written).
    persisted_name: AtomicU32,
    /// The thread's `pthread_self()` and stack `[lo, hi)`, when its recorder captures
    /// stacks: who a capture's signal is for, and the bounds it copies within.
    pub(crate) thread: Option<(usize, (usize, usize))>,
}

impl LaneSlot {
    pub(crate) fn new(lane: u32, with_thread: bool) -> LaneSlot {
        let current = std::thread::current();
        LaneSlot {
            lane,
            os_tid: os_tid(),
            name: current.name().unwrap_or("<unnamed>").to_string(),
            worker: AtomicU32::new(tokio::runtime::worker_index().map_or(NO_WORKER, |w| w as u32)),
            runtime_thread: AtomicBool::new(false),
            activity: AtomicU64::new(ACT_RUNNING << 56),
            since: AtomicU64::new(0),
            written: AtomicU64::new(0),
            persisted_name: AtomicU32::new(NOT_PERSISTED),
            thread: if with_thread { own_thread() } else { None },
        }
    }

    pub(crate) fn persisted_name(&self, p: &super::ring_file::Persist) -> u32 {
        let cur = self.persisted_name.load(Ordering::Relaxed);
        if cur != NOT_PERSISTED {
            return cur;
        }
        let off = p.string(&self.name);
        self.persisted_name.store(off, Ordering::Relaxed);
        off
    }

    #[inline]
    pub(crate) fn set_activity(&self, activity: Activity, raw_ts: u64) {
        let word = match activity {
            Activity::Polling { task } => (ACT_POLLING << 56) | (task & ((1 << 56) - 1)),
            Activity::Parked => ACT_PARKED << 56,
            Activity::Running => ACT_RUNNING << 56,
            Activity::Stopped => ACT_STOPPED << 56,
            Activity::Unknown => ACT_UNKNOWN << 56,
        };
        self.since.store(raw_ts, Ordering::Relaxed);
        self.activity.store(word, Ordering::Release);
    }

    /// The activity and the raw clock reading it began at.
    pub(crate) fn activity(&self) -> (Activity, u64) {
        let word = self.activity.load(Ordering::Acquire);
        let since = self.since.load(Ordering::Relaxed);
        let act = match word >> 56 {
            ACT_POLLING => Activity::Polling {
                task: word & ((1 << 56) - 1),
            },
            ACT_PARKED => Activity::Parked,
            ACT_RUNNING => Activity::Running,
            ACT_STOPPED => Activity::Stopped,
            _ => Activity::Unknown,
        };
        (act, since)
    }

    /// Returns whether this changed anything.
    pub(crate) fn mark_runtime_thread(&self) -> bool {
        !self.runtime_thread.swap(true, Ordering::Relaxed)
    }

    /// Learns the worker index late: a worker's first event may come before Tokio sets it.
    /// Returns whether it was learned now.
    #[inline]
    pub(crate) fn note_worker_index(&self) -> bool {
        if self.worker.load(Ordering::Relaxed) == NO_WORKER
            && let Some(w) = tokio::runtime::worker_index()
        {
            self.worker.store(w as u32, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// The thread's OS id (0 where unknown), without copying the rest of its info.
    pub(crate) fn os_tid(&self) -> u64 {
        self.os_tid
    }

    pub(crate) fn info(&self) -> ThreadInfo {
        let worker = match self.worker.load(Ordering::Relaxed) {
            NO_WORKER => None,
            w => Some(w),
        };
        let kind = if worker.is_some() {
            ThreadKind::Worker
        } else if self.runtime_thread.load(Ordering::Relaxed) {
            ThreadKind::Blocking
        } else {
            ThreadKind::Other
        };
        ThreadInfo {
            lane: self.lane,
            os_tid: self.os_tid,
            name: self.name.clone(),
            worker,
            kind,
        }
    }
}

#[cfg(target_os = "linux")]
fn os_tid() -> u64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u64 }
}

#[cfg(target_os = "macos")]
fn os_tid() -> u64 {
    let mut tid = 0u64;
    // SAFETY: a null thread means the calling thread; `tid` is a valid out pointer.
    unsafe { libc::pthread_threadid_np(0, &mut tid) };
    tid
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn os_tid() -> u64 {
    0
}

/// The calling thread's `pthread_self()` and stack `[lo, hi)`, for a later capture of its
/// stack; `None` when unknown.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub(crate) fn own_thread() -> Option<(usize, (usize, usize))> {
    // SAFETY: `attr` is initialised by `pthread_getattr_np` before it is read and
    // destroyed once; the out-pointers are valid.
    unsafe {
        let me = libc::pthread_self();
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(me, &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        (ok && !addr.is_null()).then(|| (me as usize, (addr as usize, addr as usize + size)))
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
pub(crate) fn own_thread() -> Option<(usize, (usize, usize))> {
    None
}

/// Per-thread recording state for the recorder this thread last recorded into.
pub(crate) struct Local {
    /// Id of that recorder (0 = none yet). Recorder ids are never reused.
    pub(crate) recorder: Cell<u64>,
    /// Kept alive by the recorder's lane table, which the recorder never shrinks.
    pub(crate) lane: Cell<*const LaneSlot>,
    pub(crate) cursor: Cell<Cursor>,
    /// Task whose terminate hook ran during the current poll on this thread, so the
    /// after-poll hook can say the poll completed the task; and whether the hook left the
    /// Terminate for the poll's end to carry.
    pub(crate) terminated: Cell<(u64, bool)>,
    /// Task being polled on this thread (0 = none). Tokio's own `task::try_id()` is not
    /// enough: on a worker thread outside any poll it names the worker itself (each worker
    /// runs as a blocking task), which would make driver wakes look like task wakes.
    pub(crate) polling: Cell<u64>,
    /// Guards against recording from inside the recorder itself (e.g. a panic hook that
    /// runs while this thread is mid-record).
    pub(crate) busy: Cell<bool>,
    /// This thread's lane and cursor in the recorders it recorded into before the current
    /// one, so a thread that alternates between recorders keeps one lane and one block in
    /// each instead of registering a new lane (and starting a new block) at every switch.
    pub(crate) others: Cell<[(u64, *const LaneSlot, Cursor); 3]>,
    /// Waker clones and drops of the task being polled on this thread, on its own waker,
    /// not yet recorded: `(task, net change, live count after the last op)`, task 0 when
    /// none. They are recorded as one op at the poll's end (a poll that drops its old
    /// waker and clones the new one, as most I/O futures do, carries no information in
    /// three events: the count after the poll is what matters).
    pub(crate) own_ops: Cell<(u64, i64, i64)>,
}

thread_local! {
    pub(crate) static LOCAL: Local = const {
        Local {
            recorder: Cell::new(0),
            lane: Cell::new(std::ptr::null()),
            cursor: Cell::new(Cursor::EMPTY),
            terminated: Cell::new((0, false)),
            polling: Cell::new(0),
            busy: Cell::new(false),
            own_ops: Cell::new((0, 0, 0)),
            others: Cell::new([(0, std::ptr::null(), Cursor::EMPTY); 3]),
        }
    };
}

/// The recorder's table of lanes. Only grows; a lane outlives its thread so its events and
/// name stay readable.
#[derive(Default)]
pub(crate) struct Lanes {
    slots: std::sync::Mutex<Vec<Arc<LaneSlot>>>,
}

impl Lanes {
    /// Registers the calling thread (noting its pthread and stack when `with_thread`).
    /// `None` when the lane id space is exhausted, or when `patient == false` (a thread
    /// that is panicking: the panic hook's dump, a `Drop` during unwinding) and the lock
    /// stays taken.
    pub(crate) fn register(&self, with_thread: bool, patient: bool) -> Option<Arc<LaneSlot>> {
        let mut slots = lock(&self.slots, patient, LANES_LOCK_TRIES)?;
        let lane = u32::try_from(slots.len()).ok()?;
        if lane >= super::ring::MAX_LANES {
            return None;
        }
        let slot = Arc::new(LaneSlot::new(lane, with_thread));
        slots.push(slot.clone());
        Some(slot)
    }

    /// All lanes. With `patient == false` (panic hook) gives up instead of waiting on a
    /// lock that the panicking thread itself might hold.
    pub(crate) fn all(&self, patient: bool) -> Vec<Arc<LaneSlot>> {
        lock(&self.slots, patient, LANES_LOCK_TRIES).map_or_else(Vec::new, |g| g.clone())
    }

    /// Holds the lane list's lock, as a thread registering would.
    #[cfg(test)]
    pub(crate) fn hold(&self) -> std::sync::MutexGuard<'_, Vec<Arc<LaneSlot>>> {
        self.slots.lock().unwrap()
    }
}

/// Tries at the lane list's lock on the panic path: the list changes only when a thread
/// first records, so a held lock is released within microseconds unless the panicking
/// thread holds it itself (then every try fails and the dump has no lanes).
pub(crate) const LANES_LOCK_TRIES: usize = 1000;
/// Tries at each overflow-table shard's lock (and the site table's) on the panic path
/// (fewer: there are many shards, and a lock the panicking thread holds only loses names).
pub(crate) const SHARD_LOCK_TRIES: usize = 100;

/// Locks `m`, ignoring poisoning (the data stays readable). With `patient == false` (the
/// panic hook) it only tries, `tries` times, and gives up rather than wait on a lock the
/// panicking thread itself might hold.
pub(crate) fn lock<T>(
    m: &std::sync::Mutex<T>,
    patient: bool,
    tries: usize,
) -> Option<std::sync::MutexGuard<'_, T>> {
    if patient {
        return Some(m.lock().unwrap_or_else(|p| p.into_inner()));
    }
    for _ in 0..tries {
        match m.try_lock() {
            Ok(g) => return Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => std::thread::yield_now(),
        }
    }
    None
}
