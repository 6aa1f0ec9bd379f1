//! Naming code addresses for a dump without risking the thread that asked: the panic's
//! own backtrace, and the stacks the watchdog captured.
//!
//! Turning an address into `function at file:line` loads the binary's line tables (tens to
//! hundreds of milliseconds, allocation-heavy, the first time) under the `backtrace`
//! crate's global lock. A panic hook must not do that on the panicking thread: another
//! thread may hold that lock (or std's backtrace lock, which std's own `Backtrace` and its
//! default panic hook take) for as long as it likes, the panicking thread may itself hold
//! it (a panic inside a symbolization), and anything going wrong inside the symbolizer
//! would be a panic inside the panic hook, which aborts.
//!
//! So the panic hook captures return addresses only ([`capture_here`]: the unwinder's
//! walk, no lock of std's or the `backtrace` crate's, no allocation), and a thread of its
//! own names them ([`off_thread`]), while the hook reads the ring. The hook waits for the
//! names at most [`WAIT`]; when they do not come (the lock is held, the thread could not
//! start, it panicked), the dump keeps the raw addresses, each with its module and offset,
//! which `addr2line -e MODULE OFFSET` names later.

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest a panic hook waits for names: the first symbolization of a large debug
/// build takes about a second on a busy host; a release build with line tables far less.
pub(crate) const WAIT: Duration = Duration::from_secs(3);

/// Return addresses kept of a panic's backtrace (std prints at most 100 frames).
pub(crate) const PANIC_FRAMES: usize = 128;

/// Return addresses of the calling thread's stack, innermost first, in a fixed array.
pub(crate) struct Captured {
    ips: [usize; PANIC_FRAMES],
    len: usize,
}

impl Captured {
    pub(crate) fn frames(&self) -> &[usize] {
        &self.ips[..self.len]
    }
}

/// Walks the calling thread's stack with the platform's unwinder, taking no lock of
/// std's or of the `backtrace` crate's and allocating nothing.
#[inline(never)]
pub(crate) fn capture_here() -> Captured {
    let mut c = Captured {
        ips: [0; PANIC_FRAMES],
        len: 0,
    };
    let mut push = |frame: &backtrace::Frame| {
        c.ips[c.len] = frame.ip() as usize;
        c.len += 1;
        c.len < PANIC_FRAMES
    };
    // SAFETY: `trace_unsynchronized` differs from `trace` only in not taking the
    // `backtrace` crate's global lock, which serializes platform APIs that are not
    // thread-safe (Windows' dbghelp). On Unix the walk is `_Unwind_Backtrace`, which is
    // thread-safe and is what the panic's own unwinding runs.
    #[cfg(unix)]
    unsafe {
        backtrace::trace_unsynchronized(&mut push)
    };
    #[cfg(not(unix))]
    backtrace::trace(&mut push);
    c
}

/// Names being looked up on a thread of their own.
pub(crate) struct Pending {
    rx: Option<mpsc::Receiver<Vec<Vec<String>>>>,
    started: Instant,
}

/// Starts naming each of `stacks` on a new thread (`dial9-symbolize`). `None` from
/// [`Pending::wait`] if the thread cannot start.
pub(crate) fn off_thread(stacks: Vec<Vec<usize>>) -> Pending {
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("dial9-symbolize".into())
        .spawn(move || {
            let named = stacks
                .iter()
                .map(|f| super::super::watch::stacks::symbolize(f))
                .collect();
            // The hook may have stopped waiting: nobody to tell.
            let _ = tx.send(named);
        });
    Pending {
        rx: spawned.ok().map(|_| rx),
        started: Instant::now(),
    }
}

impl Pending {
    /// The names, if they come within `wait` of the start.
    pub(crate) fn wait(self, wait: Duration) -> Option<Vec<Vec<String>>> {
        let left = wait.saturating_sub(self.started.elapsed());
        self.rx?.recv_timeout(left).ok()
    }
}

/// Lines for frames nobody could name: each address with the module it lies in and its
/// offset there (what `addr2line -e MODULE OFFSET` takes), after a note saying why.
pub(crate) fn unnamed(frames: &[usize], why: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(frames.len() + 1);
    out.push(format!("note: frames not symbolized ({why})"));
    for (i, &addr) in frames.iter().enumerate() {
        out.push(match module_of(addr) {
            Some((module, offset)) => format!("{i:4}: {addr:#x} ({module}+{offset:#x})"),
            None => format!("{i:4}: {addr:#x}"),
        });
    }
    out
}

/// The file of the module (executable or shared library) `addr` lies in, and `addr`'s
/// offset from the module's load address. `dladdr` reads the loader's list of modules
/// (the unwinder reads the same list) and loads nothing.
#[cfg(unix)]
fn module_of(addr: usize) -> Option<(String, usize)> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out-pointer; `dladdr` only reads the loader's tables.
    if unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) } == 0
        || info.dli_fname.is_null()
    {
        return None;
    }
    // SAFETY: a non-null `dli_fname` is a NUL-terminated path owned by the loader.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    Some((
        name.to_string_lossy().into_owned(),
        addr.wrapping_sub(info.dli_fbase as usize),
    ))
}

#[cfg(not(unix))]
fn module_of(_: usize) -> Option<(String, usize)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_planted_frame() -> Captured {
        std::hint::black_box(capture_here())
    }

    #[test]
    fn captured_frames_are_named_off_thread() {
        let c = a_planted_frame();
        assert!(c.frames().len() > 3, "{}", c.frames().len());
        let named = off_thread(vec![c.frames().to_vec()])
            .wait(Duration::from_secs(60))
            .expect("named");
        let text = named[0].join("\n");
        assert!(text.contains("a_planted_frame"), "{text}");
        assert!(text.contains("symbolize.rs:"), "{text}");
    }

    #[test]
    fn unnamed_frames_keep_their_module_and_offset() {
        let c = a_planted_frame();
        let lines = unnamed(c.frames(), "test");
        assert_eq!(lines[0], "note: frames not symbolized (test)");
        let exe = std::env::current_exe().unwrap();
        let exe = exe.file_name().unwrap().to_string_lossy();
        assert!(
            lines[1..]
                .iter()
                .any(|l| l.contains(&*exe) && l.contains("+0x")),
            "{lines:?}"
        );
    }
}
