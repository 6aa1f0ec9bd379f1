//! Stacks of threads stuck in a long poll: where in the code (opt-in, `Builder::stacks`;
//! Linux on x86_64 and aarch64).
//!
//! Why this design: a thread cannot be unwound from outside, so the watchdog sends the
//! stuck worker a signal. The handler only copies the interrupted registers and the top of
//! the thread's stack into one preallocated slot (no allocation, no lock, no unwinding:
//! nothing that is not async-signal-safe), bounded by the stack's limits the lane noted
//! when it registered, so it can never read unmapped memory. The walk happens afterwards,
//! on the watchdog's thread, over the copy, along frame pointers (Rust's std is built with
//! them; the application needs `-C force-frame-pointers=yes`): a frame pointer outside the
//! copy, or not increasing, ends the walk, so a build without them gives a short stack,
//! never a crash. Addresses become `function at file:line` only at a dump (the `backtrace`
//! crate, the binary's own line tables). Stacks are interned: a look records an id.
//!
//! The cost is the host's: a signal interrupts the worker for the copy (tens of
//! microseconds), and a system call it was blocked in is restarted (`SA_RESTART`), or
//! returns `EINTR` where Linux does not restart it (timed sleeps and futex waits, which
//! std retries; sockets with timeouts, which std hands to the caller). A thread blocked
//! in a call Linux never restarts (`poll`, `epoll_wait`...) is not signalled. That is
//! why it is off by default.

use std::collections::HashMap;
use std::sync::Mutex;

/// Stacks kept (interned) per recorder; looks past this record no stack.
const MAX_STACKS: usize = 4096;
/// Return addresses walked per stack.
#[cfg_attr(
    not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )),
    allow(dead_code)
)]
const MAX_FRAMES: usize = 64;

/// Interned stacks: return addresses, innermost first.
#[derive(Default)]
pub(crate) struct StackTable {
    ids: HashMap<Vec<usize>, u32>,
    stacks: Vec<Vec<usize>>,
}

impl StackTable {
    /// The id of `frames`, interning it; `None` when the table is full.
    pub(crate) fn intern(&mut self, frames: Vec<usize>) -> Option<u32> {
        if let Some(&id) = self.ids.get(&frames) {
            return Some(id);
        }
        if self.stacks.len() >= MAX_STACKS {
            return None;
        }
        let id = self.stacks.len() as u32;
        self.stacks.push(frames.clone());
        self.ids.insert(frames, id);
        Some(id)
    }

    pub(crate) fn get(&self, id: u32) -> Option<&[usize]> {
        self.stacks.get(id as usize).map(Vec::as_slice)
    }
}

/// The frames of a stack as text lines in the shape std prints a backtrace (`N: function`,
/// then `at file:line:col`), so one reader folds both.
pub(crate) fn symbolize(frames: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, &addr) in frames.iter().enumerate() {
        // A return address points after the call: look up the call itself.
        let at = if i == 0 { addr } else { addr.saturating_sub(1) };
        let mut named = false;
        // One symbol per function inlined at the address, innermost first: a function
        // inlined into its caller still shows.
        backtrace::resolve(at as *mut std::ffi::c_void, |sym| {
            named = true;
            let name = sym
                .name()
                .map_or_else(|| format!("{addr:#x}"), |n| format!("{n:#}"));
            out.push(format!("{i:4}: {name}"));
            // Paths as the explorer shows them: no build machine's directories (a home
            // directory's name) in a dump someone is sent.
            if let (Some(file), Some(line)) = (sym.filename(), sym.lineno()) {
                out.push(format!(
                    "             at {}:{line}:{}",
                    dial9_format::short_source_path(&file.to_string_lossy()),
                    sym.colno().unwrap_or(0)
                ));
            }
        });
        if !named {
            out.push(format!("{i:4}: {addr:#x}"));
        }
    }
    out
}

/// Whether a thread blocked in system call `nr` should not be signalled: calls Linux
/// never restarts after a handler, whose `EINTR` the caller might not retry (waits on
/// file descriptors, timed signal and AIO waits). What they are is said by the syscall
/// alone, without a stack.
pub(crate) fn never_restarted(nr: u16) -> bool {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    const NEVER: &[i64] = &[
        libc::SYS_poll,
        libc::SYS_select,
        libc::SYS_pselect6,
        libc::SYS_ppoll,
        libc::SYS_epoll_wait,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
        libc::SYS_io_getevents,
        libc::SYS_rt_sigtimedwait,
        libc::SYS_pause,
    ];
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    const NEVER: &[i64] = &[
        libc::SYS_pselect6,
        libc::SYS_ppoll,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
        libc::SYS_io_getevents,
        libc::SYS_rt_sigtimedwait,
    ];
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    const NEVER: &[i64] = &[];
    NEVER.contains(&i64::from(nr))
}

pub(crate) use capture::{capture, install};

/// The thread a capture is for: its tid (the signal's target), its `pthread_self()` (so a
/// reused tid is never mistaken for it) and its stack's bounds.
#[cfg_attr(
    not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )),
    allow(dead_code)
)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    pub tid: i32,
    pub thread: usize,
    pub stack: (usize, usize),
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod capture {
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use super::{MAX_FRAMES, Target};

    /// Bytes of stack copied from the interrupted stack pointer up.
    const COPY: usize = 64 * 1024;
    /// How long the watchdog waits for the handler (a thread in uninterruptible sleep
    /// takes the signal only when it wakes: then the request is abandoned).
    const WAIT: Duration = Duration::from_millis(20);

    const IDLE: u64 = 0;
    const REQUESTED: u64 = 1;
    /// A handler claimed the request and is copying: nothing else touches the slot.
    const COPYING: u64 = 2;
    const DONE: u64 = 3;

    /// The one slot the handler fills: registers, the copied stack, its length.
    ///
    /// The protocol: the requester fills `tid`, `thread`, `lo`, `hi` only while the state
    /// is IDLE or DONE (no handler can be copying), then publishes `seq|REQUESTED`. A
    /// handler claims exactly that request by compare-and-swap to `seq|COPYING` before it
    /// reads the bounds or writes the buffer, and publishes `seq|DONE` after. A requester
    /// that gives up swaps `seq|REQUESTED` back to IDLE; if a handler claimed it first,
    /// the slot stays COPYING until that handler finishes, and captures meanwhile return
    /// `None`. So at most one handler writes the buffer, with the bounds of its own
    /// thread, and the requester reads it only after DONE.
    struct Slot {
        /// `sequence << 2 | IDLE/REQUESTED/COPYING/DONE`.
        state: AtomicU64,
        tid: AtomicI32,
        /// The target's `pthread_self()`: a reused tid of a thread that exited does not
        /// match.
        thread: AtomicUsize,
        lo: AtomicUsize,
        hi: AtomicUsize,
        pc: AtomicUsize,
        sp: AtomicUsize,
        fp: AtomicUsize,
        len: AtomicUsize,
        buf: UnsafeCell<[u8; COPY]>,
    }

    // SAFETY: `buf` is written only by the one handler that claimed the current request
    // (COPYING) and read only by the requester after DONE, under `REQUEST` (see `Slot`).
    unsafe impl Sync for Slot {}

    static SLOT: Slot = Slot {
        state: AtomicU64::new(IDLE),
        tid: AtomicI32::new(0),
        thread: AtomicUsize::new(0),
        lo: AtomicUsize::new(0),
        hi: AtomicUsize::new(0),
        pc: AtomicUsize::new(0),
        sp: AtomicUsize::new(0),
        fp: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        buf: UnsafeCell::new([0; COPY]),
    };
    /// One request at a time, process-wide (several recorders share the slot).
    static REQUEST: Mutex<()> = Mutex::new(());
    /// The signal the handler is installed on, once.
    static SIGNAL: OnceLock<Result<i32, String>> = OnceLock::new();

    /// Installs the handler (once per process) on a real-time signal nothing else in
    /// Rust's or Tokio's runtime uses; refuses if something else already handles it.
    pub(crate) fn install() -> Result<(), String> {
        SIGNAL
            .get_or_init(|| {
                let sig = libc::SIGRTMIN() + 7;
                // SAFETY: zeroed sigactions are valid; `sigaction` is given valid
                // pointers; our handler has the SA_SIGINFO signature.
                unsafe {
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                        return Err(std::io::Error::last_os_error().to_string());
                    }
                    if old.sa_sigaction != libc::SIG_DFL {
                        return Err(format!("signal {sig} (SIGRTMIN+7) is already handled"));
                    }
                    let mut sa: libc::sigaction = std::mem::zeroed();
                    sa.sa_sigaction = handler as *const () as usize;
                    sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
                    libc::sigemptyset(&mut sa.sa_mask);
                    if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                        return Err(std::io::Error::last_os_error().to_string());
                    }
                }
                Ok(sig)
            })
            .clone()
            .map(|_| ())
    }

    /// Whether `sig` still runs our handler (nothing replaced it since): a signal whose
    /// handler was reset to the default would terminate the process.
    fn still_ours(sig: i32) -> bool {
        // SAFETY: a query only (no new action); `old` is a valid out-pointer.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == handler as *const () as usize
        }
    }

    /// Async-signal-safe: atomics, a bounded copy of the thread's own stack, `gettid`,
    /// `pthread_self`; errno is left as it was.
    extern "C" fn handler(_: libc::c_int, _: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: errno is thread-local; reading and restoring it is what a handler
        // that might change it must do (none of the calls below sets it today).
        let errno = unsafe { *libc::__errno_location() };
        claim_and_copy(ctx);
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno };
    }

    fn claim_and_copy(ctx: *mut libc::c_void) {
        let state = SLOT.state.load(Ordering::Acquire);
        // SAFETY: gettid and pthread_self have no preconditions and never fail.
        let (me, thread) = unsafe { (libc::gettid(), libc::pthread_self() as usize) };
        if state & 3 != REQUESTED
            || SLOT.tid.load(Ordering::Acquire) != me
            || SLOT.thread.load(Ordering::Acquire) != thread
            || ctx.is_null()
        {
            return;
        }
        let copying = (state & !3) | COPYING;
        if SLOT
            .state
            .compare_exchange(state, copying, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        // SAFETY: the kernel passes a valid ucontext for an SA_SIGINFO handler.
        let (pc, sp, fp) = unsafe { registers(&*(ctx as *const libc::ucontext_t)) };
        let (lo, hi) = (
            SLOT.lo.load(Ordering::Acquire),
            SLOT.hi.load(Ordering::Acquire),
        );
        let len = if lo <= sp && sp < hi {
            (hi - sp).min(COPY)
        } else {
            0
        };
        // SAFETY: [sp, sp + len) lies inside this thread's own stack (the bounds are this
        // thread's: the request names it by tid and pthread, and they cannot change while
        // we hold COPYING), which is mapped from sp up; only this handler writes the
        // buffer while the state is COPYING.
        unsafe {
            std::ptr::copy_nonoverlapping(sp as *const u8, SLOT.buf.get().cast::<u8>(), len);
        }
        SLOT.pc.store(pc, Ordering::Relaxed);
        SLOT.sp.store(sp, Ordering::Relaxed);
        SLOT.fp.store(fp, Ordering::Relaxed);
        SLOT.len.store(len, Ordering::Relaxed);
        SLOT.state.store((state & !3) | DONE, Ordering::Release);
    }

    #[cfg(target_arch = "x86_64")]
    fn registers(uc: &libc::ucontext_t) -> (usize, usize, usize) {
        let g = &uc.uc_mcontext.gregs;
        (
            g[libc::REG_RIP as usize] as usize,
            g[libc::REG_RSP as usize] as usize,
            g[libc::REG_RBP as usize] as usize,
        )
    }

    #[cfg(target_arch = "aarch64")]
    fn registers(uc: &libc::ucontext_t) -> (usize, usize, usize) {
        let m = &uc.uc_mcontext;
        (m.pc as usize, m.sp as usize, m.regs[29] as usize)
    }

    /// The stack of `target` right now: return addresses, innermost first. `None` if
    /// another capture is under way (or a late handler is still copying), the handler is
    /// not installed (or was replaced), or the thread did not answer in time. Never waits
    /// on a lock.
    pub(crate) fn capture(target: Target) -> Option<Vec<usize>> {
        let sig = *SIGNAL.get()?.as_ref().ok()?;
        let _one = REQUEST.try_lock().ok()?;
        let now = SLOT.state.load(Ordering::Acquire);
        if matches!(now & 3, REQUESTED | COPYING) || !still_ours(sig) {
            return None;
        }
        let seq = (now >> 2) + 1;
        SLOT.tid.store(target.tid, Ordering::Relaxed);
        SLOT.thread.store(target.thread, Ordering::Relaxed);
        SLOT.lo.store(target.stack.0, Ordering::Relaxed);
        SLOT.hi.store(target.stack.1, Ordering::Relaxed);
        SLOT.state.store((seq << 2) | REQUESTED, Ordering::Release);
        // SAFETY: tgkill to a thread of this process with a signal we handle.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_tgkill,
                libc::getpid(),
                libc::c_long::from(target.tid),
                libc::c_long::from(sig),
            )
        } == 0;
        let start = Instant::now();
        let done = sent
            && loop {
                if SLOT.state.load(Ordering::Acquire) == (seq << 2) | DONE {
                    break true;
                }
                if start.elapsed() > WAIT {
                    break false;
                }
                std::thread::sleep(Duration::from_micros(50));
            };
        if !done {
            // Give the request up unless a handler has claimed it (then it finishes on
            // its own, and later captures wait for that). If it finished meanwhile, the
            // copy is good: use it.
            let requested = (seq << 2) | REQUESTED;
            match SLOT.state.compare_exchange(
                requested,
                seq << 2,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return None,
                Err(s) if s != (seq << 2) | DONE => return None,
                Err(_) => {}
            }
        }
        let (pc, sp, fp, len) = (
            SLOT.pc.load(Ordering::Relaxed),
            SLOT.sp.load(Ordering::Relaxed),
            SLOT.fp.load(Ordering::Relaxed),
            SLOT.len.load(Ordering::Relaxed).min(COPY),
        );
        // SAFETY: DONE was published with Release after the copy; no handler writes the
        // buffer until a new request is claimed, which only this holder of `REQUEST`
        // publishes.
        let buf: &[u8] = unsafe { &(&*SLOT.buf.get())[..len] };
        let frames = walk(pc, sp, fp, buf);
        SLOT.state.store(seq << 2, Ordering::Release);
        Some(frames)
    }

    /// Frame-pointer walk over a copy of the stack starting at `sp`: each frame holds the
    /// caller's frame pointer, then the return address. When the interrupted code keeps no
    /// frame pointer (a libc call that uses the register for itself: `recv`, say), the
    /// walk starts instead from the first word near the stack pointer that begins a
    /// well-formed chain of more than [`MIN_SCANNED_CHAIN`] frames.
    pub(crate) fn walk(pc: usize, sp: usize, fp: usize, stack: &[u8]) -> Vec<usize> {
        let mut frames = vec![pc];
        chain(sp, fp, stack, &mut frames);
        if frames.len() == 1 {
            for off in (0..SCAN.min(stack.len())).step_by(std::mem::size_of::<usize>()) {
                let Some(candidate) = word(sp, stack, sp + off) else {
                    break;
                };
                if candidate <= sp + off {
                    continue;
                }
                let mut found = vec![pc];
                chain(sp, candidate, stack, &mut found);
                if found.len() > MIN_SCANNED_CHAIN {
                    return found;
                }
            }
        }
        frames
    }

    /// Bytes above the stack pointer searched for a frame chain.
    const SCAN: usize = 1024;
    /// Links a chain found by searching must have, so a stray stack value is not taken
    /// for one.
    const MIN_SCANNED_CHAIN: usize = 4;

    fn word(sp: usize, stack: &[u8], addr: usize) -> Option<usize> {
        let off = addr.checked_sub(sp)?;
        let bytes = stack.get(off..off.checked_add(std::mem::size_of::<usize>())?)?;
        Some(usize::from_ne_bytes(bytes.try_into().ok()?))
    }

    /// Appends the return addresses along the frame-pointer chain from `fp`, while it
    /// stays inside the copy and goes up the stack.
    fn chain(sp: usize, mut fp: usize, stack: &[u8], frames: &mut Vec<usize>) {
        while frames.len() < MAX_FRAMES {
            let (Some(next), Some(ret)) = (
                word(sp, stack, fp),
                word(sp, stack, fp.wrapping_add(std::mem::size_of::<usize>())),
            ) else {
                break;
            };
            if ret < 4096 {
                break;
            }
            frames.push(ret);
            if next <= fp {
                break;
            }
            fp = next;
        }
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod capture {
    pub(crate) fn install() -> Result<(), String> {
        Err("stack capture needs Linux on x86_64 or aarch64".into())
    }

    pub(crate) fn capture(_: super::Target) -> Option<Vec<usize>> {
        None
    }
}

/// The stack table of a recorder that captures stacks.
pub(crate) type Stacks = Mutex<StackTable>;

#[cfg(all(
    test,
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod tests {
    use super::*;

    /// Return addresses from here up, as a walk of the stack gives them.
    #[inline(always)]
    fn captured_in_an_inlined_function() -> Vec<usize> {
        let mut frames = Vec::new();
        backtrace::trace(|f| {
            frames.push(f.ip() as usize);
            frames.len() < 16
        });
        frames
    }

    #[inline(never)]
    fn calls_the_inlined_function() -> Vec<usize> {
        captured_in_an_inlined_function()
    }

    /// A function inlined into its caller (as a release build inlines into a task's
    /// async block) is a frame of its own, with its own file:line, before its caller;
    /// paths are written from the crate down.
    #[test]
    fn an_inlined_function_is_named_with_its_own_line_then_its_caller() {
        let lines = symbolize(&calls_the_inlined_function());
        let text = lines.join("\n");
        let inlined = lines
            .iter()
            .position(|l| l.contains("captured_in_an_inlined_function"))
            .unwrap_or_else(|| panic!("no inlined frame:\n{text}"));
        let caller = lines
            .iter()
            .position(|l| l.contains("calls_the_inlined_function"))
            .unwrap_or_else(|| panic!("no caller:\n{text}"));
        assert!(inlined < caller, "{text}");
        assert!(
            lines[inlined + 1].contains("recorder/src/record/watch/stacks.rs:"),
            "{text}"
        );
        assert!(
            !text.contains("/root/") && !text.contains("/rustc/"),
            "{text}"
        );
    }

    #[test]
    fn a_walk_stays_inside_the_copy_and_stops_on_a_bad_chain() {
        // A fake stack at 0x1000: frame at 0x1010 -> 0x1030 -> (0x1020: not increasing).
        let sp = 0x1000usize;
        let mut stack = vec![0u8; 0x60];
        let put = |s: &mut Vec<u8>, at: usize, v: usize| {
            s[at - sp..at - sp + 8].copy_from_slice(&v.to_ne_bytes())
        };
        put(&mut stack, 0x1010, 0x1030);
        put(&mut stack, 0x1018, 0xaaaa);
        put(&mut stack, 0x1030, 0x1020);
        put(&mut stack, 0x1038, 0xbbbb);
        assert_eq!(
            capture::walk(0x42, sp, 0x1010, &stack),
            [0x42, 0xaaaa, 0xbbbb]
        );
        // A frame pointer outside the copy: the interrupted pc alone.
        assert_eq!(capture::walk(0x42, sp, 0x9000, &stack), [0x42]);
        assert_eq!(capture::walk(0x42, sp, 0x0800, &stack), [0x42]);
    }

    #[test]
    fn threads_in_calls_linux_never_restarts_are_not_signalled() {
        assert!(never_restarted(libc::SYS_ppoll as u16));
        assert!(never_restarted(libc::SYS_epoll_pwait as u16));
        assert!(!never_restarted(libc::SYS_clock_nanosleep as u16));
        assert!(!never_restarted(libc::SYS_futex as u16));
    }

    #[test]
    fn interning_is_bounded_and_stable() {
        let mut t = StackTable::default();
        assert_eq!(t.intern(vec![1, 2]), Some(0));
        assert_eq!(t.intern(vec![3]), Some(1));
        assert_eq!(t.intern(vec![1, 2]), Some(0));
        assert_eq!(t.get(1), Some(&[3usize][..]));
    }
}
