//! The host's worst day: the recorder must never take it down or hang it.
//!
//! - Standard error is a pipe whose reader has exited (a log shipper that died): every
//!   write fails with `EPIPE`, and an `eprintln!` would panic (in the panic hook or the
//!   signal thread: an abort). A `dump()`, a signal's dump and a panic must each write
//!   their dump and exit as they would without the recorder.
//! - Another thread holds std's backtrace lock (here: stuck in an allocation inside
//!   `Backtrace::force_capture`) or the `backtrace` crate's lock (stuck in a symbol
//!   callback) when a thread panics: the panic hook must still write its dump. The lock
//!   holder is released only by a hook that runs after the recorder's (the previous hook
//!   in the chain), so a recorder hook that waited for either lock would never finish.
//!
//! Children are this test binary re-run with `--ignored --exact child_…`, as in
//! `process.rs`.

#[path = "common/child.rs"]
mod child;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dial9_recorder::format::Reason;
use dial9_recorder::{Dump, FlightRecorder};

use child::{dumps_in, this_test};

const DIR_VAR: &str = "DIAL9_TEST_DUMP_DIR";

/// Set by the hook that runs after the recorder's: lets the lock holder go.
static RELEASE: AtomicBool = AtomicBool::new(false);
/// The lock holder is stuck inside the lock.
static HOLDING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's next allocation blocks until [`RELEASE`].
    static BLOCK_ALLOCATIONS: Cell<bool> = const { Cell::new(false) };
}

/// The system allocator, except that a thread that set [`BLOCK_ALLOCATIONS`] blocks in
/// its next allocation until [`RELEASE`] (sleeping, which allocates nothing).
struct Stalling;

// SAFETY: forwards to the system allocator; the wait touches only atomics and a
// const-initialised thread-local.
unsafe impl GlobalAlloc for Stalling {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if BLOCK_ALLOCATIONS.try_with(Cell::get).unwrap_or(false) {
            HOLDING.store(true, Ordering::SeqCst);
            while !RELEASE.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Stalling = Stalling;

fn dir() -> PathBuf {
    PathBuf::from(std::env::var(DIR_VAR).expect("child run without a dump dir"))
}

fn recorder_for_child(
    extra: impl FnOnce(dial9_recorder::Builder) -> dial9_recorder::Builder,
) -> FlightRecorder {
    let dir = dir();
    extra(
        FlightRecorder::builder()
            .dump_path(format!("{}/child-{{pid}}-{{time}}.bin", dir.display())),
    )
    .build()
    .unwrap()
}

/// Some recorded activity, so a dump holds events.
fn run_a_little(rec: &FlightRecorder) {
    let rt = rec
        .instrument(tokio::runtime::Builder::new_multi_thread().worker_threads(1))
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..10 {
            tokio::spawn(async { tokio::task::yield_now().await })
                .await
                .unwrap();
        }
    });
}

/// A hook in front of std's, installed before the recorder (so it runs after the
/// recorder's): sets [`RELEASE`], then prints as std does.
fn release_after_the_recorders_hook() {
    let std_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        RELEASE.store(true, Ordering::SeqCst);
        std_hook(info);
    }));
}

#[inline(never)]
fn planted_panic() {
    std::hint::black_box(());
    panic!("planted panic");
}

fn wait_until_holding() {
    let start = Instant::now();
    while !HOLDING.load(Ordering::SeqCst) {
        assert!(start.elapsed() < Duration::from_secs(30), "never held");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
#[ignore = "child process for dump_with_dead_stderr"]
fn child_dump() {
    let rec = recorder_for_child(|b| b);
    run_a_little(&rec);
    rec.dump().expect("dump() writes its dump");
}

#[test]
#[ignore = "child process for signal_dump_with_dead_stderr"]
fn child_signal() {
    let rec = recorder_for_child(|b| b.dump_on_signal(libc::SIGUSR1));
    run_a_little(&rec);
    // SAFETY: raising a signal the recorder handles.
    unsafe { libc::raise(libc::SIGUSR1) };
    let start = Instant::now();
    while dumps_in(&dir()).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "no signal dump");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The signal thread says where the dump went after writing it.
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
#[ignore = "child process for panic_with_dead_stderr"]
fn child_panic() {
    let rec = recorder_for_child(|b| b);
    run_a_little(&rec);
    planted_panic();
}

#[test]
#[ignore = "child process for a_panic_while_std_holds_its_backtrace_lock_still_dumps"]
fn child_panic_while_std_backtrace_lock_is_held() {
    release_after_the_recorders_hook();
    let rec = recorder_for_child(|b| b);
    run_a_little(&rec);
    std::thread::spawn(|| {
        BLOCK_ALLOCATIONS.with(|b| b.set(true));
        // Takes std's backtrace lock, then allocates its frame list under it.
        let _ = std::hint::black_box(std::backtrace::Backtrace::force_capture());
    });
    wait_until_holding();
    planted_panic();
}

#[test]
#[ignore = "child process for a_panic_while_the_backtrace_crates_lock_is_held_still_dumps"]
fn child_panic_while_backtrace_crate_lock_is_held() {
    release_after_the_recorders_hook();
    let rec = recorder_for_child(|b| b);
    run_a_little(&rec);
    std::thread::spawn(|| {
        let mut ip = std::ptr::null_mut();
        backtrace::trace(|frame| {
            ip = frame.ip();
            false
        });
        // The callback runs under the crate's global lock.
        backtrace::resolve(ip, |_| {
            HOLDING.store(true, Ordering::SeqCst);
            while !RELEASE.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
    });
    wait_until_holding();
    planted_panic();
}

/// Runs child `name` with its dumps in `dir`, standard error a pipe whose reader is
/// already closed when `dead_stderr`; kills it after a minute (a hang).
fn run_child(name: &str, dir: &Path, dead_stderr: bool) -> (ExitStatus, String) {
    let mut cmd = this_test(name);
    cmd.env(DIR_VAR, dir).stdout(Stdio::null());
    let mut stderr_reader = None;
    if dead_stderr {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        cmd.stderr(writer);
    } else {
        let (reader, writer) = std::io::pipe().unwrap();
        cmd.stderr(writer);
        stderr_reader = Some(reader);
    }
    let mut child: Child = cmd.spawn().unwrap();
    // Our copy of the write end is gone with `cmd`: the child holds the only one.
    drop(cmd);
    let reading = stderr_reader.map(|mut r| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut r, &mut s);
            s
        })
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child {name} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reading.map_or_else(String::new, |t| t.join().unwrap());
    (status, stderr)
}

fn the_one_dump(dir: &Path) -> Dump {
    let dumps = dumps_in(dir);
    assert_eq!(dumps.len(), 1, "exactly one dump: {dumps:?}");
    Dump::read(&dumps[0]).unwrap()
}

#[test]
fn dump_with_dead_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _) = run_child("child_dump", dir.path(), true);
    assert_eq!(status.code(), Some(0), "{status}");
    let d = the_one_dump(dir.path());
    assert!(matches!(d.header.reason, Reason::Requested { .. }));
    assert!(!d.events.is_empty());
}

#[test]
fn signal_dump_with_dead_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _) = run_child("child_signal", dir.path(), true);
    assert_eq!(status.code(), Some(0), "{status}");
    let d = the_one_dump(dir.path());
    assert!(matches!(d.header.reason, Reason::Signal { .. }));
}

/// The panic's exit status is std's (101), not an abort (134), and its backtrace, named
/// off the panicking thread, has the planted frame with its file and line.
#[test]
fn panic_with_dead_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _) = run_child("child_panic", dir.path(), true);
    assert_eq!(status.code(), Some(101), "{status}");
    let d = the_one_dump(dir.path());
    assert!(matches!(d.header.reason, Reason::Panic { .. }));
    let text = d.facts.panic_backtrace.join("\n");
    assert!(text.contains("planted_panic"), "{text}");
    assert!(text.contains("hostile.rs:"), "{text}");
}

/// With standard error alive, the recorder says where the dump went.
#[test]
fn a_live_stderr_gets_the_dump_path() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = run_child("child_panic", dir.path(), false);
    assert_eq!(status.code(), Some(101), "{stderr}");
    let d = dumps_in(dir.path());
    assert!(
        stderr.contains(&format!(
            "dial9: wrote flight-recorder dump to {}",
            d[0].display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("planted panic"), "{stderr}");
}

/// The recorder's hook never takes std's backtrace lock: with another thread stuck
/// inside it, the dump is written (with its backtrace named), then std's own hook,
/// which does take it, prints once the holder is let go.
#[test]
fn a_panic_while_std_holds_its_backtrace_lock_still_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = run_child(
        "child_panic_while_std_backtrace_lock_is_held",
        dir.path(),
        false,
    );
    assert_eq!(status.code(), Some(101), "{stderr}");
    let d = the_one_dump(dir.path());
    let text = d.facts.panic_backtrace.join("\n");
    assert!(text.contains("planted_panic"), "{text}");
}

/// With the `backtrace` crate's lock held, the names do not come: after the bounded wait
/// the dump keeps the addresses, each with its module and offset.
#[test]
fn a_panic_while_the_backtrace_crates_lock_is_held_still_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (status, stderr) = run_child(
        "child_panic_while_backtrace_crate_lock_is_held",
        dir.path(),
        false,
    );
    assert_eq!(status.code(), Some(101), "{stderr}");
    let d = the_one_dump(dir.path());
    let lines = &d.facts.panic_backtrace;
    assert!(
        lines[0].starts_with("note: frames not symbolized"),
        "{lines:?}"
    );
    let exe = std::env::current_exe().unwrap();
    let exe = exe.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        lines.iter().any(|l| l.contains(&exe) && l.contains("+0x")),
        "{lines:?}"
    );
    // Bounded: the wait, not the minute the parent allows.
    assert!(started.elapsed() < Duration::from_secs(30));
}
