//! The crash-surviving ring: a child recording a real Tokio workload dies by SIGKILL,
//! `abort()` or a stack overflow; its ring file is found and read back, and ends with the
//! events the child recorded just before dying.

#[path = "common/child.rs"]
mod child;
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use dial9_recorder::format::{EventKind, Reason};
use dial9_recorder::{Dump, FlightRecorder, ReadError};

const DIR_VAR: &str = "DIAL9_TEST_RING_DIR";
const MODE_VAR: &str = "DIAL9_TEST_CRASH_MODE";

#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == u64::MAX {
        return 0;
    }
    let buf = std::hint::black_box([n; 64]);
    recurse(buf[3] + 1) + buf[5]
}

#[test]
#[ignore = "child process for the crash tests"]
fn child_records_then_dies() {
    let dir = std::env::var(DIR_VAR).unwrap();
    let mode = std::env::var(MODE_VAR).unwrap();
    let rec = FlightRecorder::builder()
        .install_panic_hook(false)
        .persist_ring(&dir)
        .build()
        .unwrap();
    let rt = common::global_runtime(&rec);
    rt.block_on(async {
        for i in 0..20 {
            tokio::task::Builder::new()
                .name(&format!("background-{i}"))
                .spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(3 + i)).await;
                    }
                })
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        tokio::task::Builder::new()
            .name(&format!("marker-{mode}"))
            .spawn(async { tokio::task::yield_now().await })
            .unwrap()
            .await
            .unwrap();
        // Tokio wakes the JoinHandle before the worker runs the terminate and after-poll
        // hooks: give it a moment to record them before announcing.
        tokio::time::sleep(Duration::from_millis(20)).await;
        println!("MARKER");
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        match mode.as_str() {
            "abort" => std::process::abort(),
            // A clean exit with the recorder in the global subscriber (never dropped).
            "exit" | "exit-linked" => {
                if mode == "exit-linked" {
                    // A second name for the file survives the recorder's removal of its
                    // own name, and shows what the file said at exit.
                    let ring = rec.ring_path().unwrap();
                    std::fs::hard_link(ring, Path::new(&dir).join("linked.ring")).unwrap();
                }
                std::process::exit(0)
            }
            "stack-overflow" => {
                std::hint::black_box(recurse(1));
            }
            _ => loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
            },
        }
    });
}

fn ring_in(dir: &Path) -> PathBuf {
    let rings: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ring"))
        .collect();
    assert_eq!(rings.len(), 1, "{rings:?}");
    rings[0].clone()
}

/// This test binary, running only the child test in `mode`, with its ring in `dir`.
fn child(mode: &str, dir: &Path) -> Command {
    let mut cmd = child::this_test("child_records_then_dies");
    cmd.env(DIR_VAR, dir).env(MODE_VAR, mode);
    cmd
}

fn crash(mode: &str) -> (Dump, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = child(mode, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("MARKER") => break,
            Some(_) => {}
            None => panic!("child exited before its marker"),
        }
    }
    if mode == "kill" {
        // SAFETY: killing our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "{mode}: the child must die: {status:?}");
    let ring = ring_in(dir.path());
    let dump = Dump::read(&ring).unwrap_or_else(|e| panic!("{mode}: {e}"));
    (dump, ring, dir)
}

fn check_recovered(mode: &str) {
    let (dump, _ring, _dir) = crash(mode);
    assert!(
        matches!(
            dump.header.reason,
            Reason::Recovered {
                writer_alive: false,
                ..
            }
        ),
        "{mode}: {:?}",
        dump.header.reason
    );
    assert!(dump.header.hooks_installed && dump.header.layer_installed);
    let marker = common::task_named(&dump, &format!("marker-{mode}"));
    let evs = common::events_of(&dump, marker);
    // Nothing the marker recorded is lost: spawn, two polls, termination.
    assert!(
        matches!(evs.first(), Some(EventKind::Spawn { .. })),
        "{mode}: {evs:?}"
    );
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, EventKind::PollStart { .. }))
            .count(),
        2,
        "{mode}: {evs:?}"
    );
    assert!(
        evs.iter().any(|e| matches!(
            e,
            EventKind::PollEnd {
                completed: true,
                ..
            }
        )),
        "{mode}: {evs:?}"
    );
    assert!(
        evs.iter().any(|e| matches!(e, EventKind::Terminate { .. })),
        "{mode}: {evs:?}"
    );
    // And it is among the last things recorded: after the marker ended, only the moments
    // before death (the announcement delay, background timers) follow.
    let last_marker = dump
        .events
        .iter()
        .rposition(|e| e.kind.task() == Some(marker))
        .unwrap();
    let tail_ns = dump.events.last().unwrap().ts_ns - dump.events[last_marker].ts_ns;
    let limit_ms = if mode == "kill" { 2_000 } else { 200 };
    assert!(
        tail_ns < limit_ms * 1_000_000,
        "{mode}: {} ms recorded after the marker",
        tail_ns / 1_000_000
    );
    assert!(
        dump.header.torn_skipped <= 1,
        "{mode}: at most the record in flight: {}",
        dump.header.torn_skipped
    );
    // Background tasks are named from the ring file's task records.
    assert!(
        dump.tasks
            .iter()
            .filter(|t| t.name.starts_with("background-"))
            .count()
            == 20
    );
    assert!(dump.threads.iter().any(|t| t.worker == Some(0)));
}

#[test]
fn sigkill_leaves_a_readable_ring() {
    check_recovered("kill");
}

#[test]
fn abort_leaves_a_readable_ring() {
    check_recovered("abort");
}

#[test]
fn stack_overflow_leaves_a_readable_ring() {
    check_recovered("stack-overflow");
}

#[test]
fn damaged_ring_files_give_clear_errors_never_panics() {
    let (_, ring, _dir) = crash("abort");
    let bytes = std::fs::read(&ring).unwrap();
    for cut in [
        0,
        3,
        8,
        100,
        4095,
        4096,
        10_000,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        match Dump::from_bytes(&bytes[..cut]) {
            Err(ReadError::Truncated { .. }) | Err(ReadError::NotADump { .. }) => {}
            other => panic!("cut at {cut}: {:?}", other.map(|d| d.events.len())),
        }
    }
    // Scribbles over the header fields, the blocks and the name areas: an error or a dump
    // with the damaged records skipped, never a panic or garbage.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..200 {
        let mut b = bytes.clone();
        for _ in 0..8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = if round % 2 == 0 {
                (x as usize) % 512
            } else {
                (x as usize) % b.len()
            };
            b[at] ^= (x >> 32) as u8 | 1;
        }
        if let Ok(d) = Dump::from_bytes(&b) {
            assert!(d.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        }
    }
    // A damaged length field is corrupt, not "truncated: expected 18446744073709551615".
    let mut bad_len = bytes.clone();
    bad_len[96..104].copy_from_slice(&u64::MAX.to_ne_bytes());
    let err = Dump::from_bytes(&bad_len).unwrap_err();
    assert!(matches!(err, ReadError::Corrupt { .. }), "{err}");
    assert!(!err.to_string().contains("18446744073709551615"), "{err}");
    // A real truncation still says so, with the real length.
    let err = Dump::from_bytes(&bytes[..bytes.len() - 4096]).unwrap_err();
    assert!(
        matches!(err, ReadError::Truncated { expected, .. } if expected == bytes.len() as u64),
        "{err}"
    );
    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&99u32.to_ne_bytes());
    assert!(matches!(
        Dump::from_bytes(&newer),
        Err(ReadError::NewerVersion { found: 99, .. })
    ));
}

#[test]
fn live_ring_reads_as_a_snapshot_and_clean_shutdown_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let rec = FlightRecorder::builder()
        .install_panic_hook(false)
        .persist_ring(dir.path())
        .build()
        .unwrap();
    rec.__bench_fill(1000);
    let path = rec.ring_path().unwrap().to_path_buf();
    let dump = Dump::read(&path).unwrap();
    assert!(matches!(
        dump.header.reason,
        Reason::Recovered {
            writer_alive: true,
            ..
        }
    ));
    assert_eq!(dump.events.len(), 1000);
    // The same events as the in-memory snapshot.
    assert_eq!(rec.snapshot().events.len(), 1000);
    drop(rec);
    assert!(!path.exists(), "removed on clean shutdown");
}

/// Runs the child in a clean-exit mode; returns its ring directory.
fn exit_cleanly(mode: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = child(mode, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{mode}: {status:?}");
    dir
}

#[test]
fn clean_exit_with_a_global_subscriber_removes_the_ring() {
    let dir = exit_cleanly("exit");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "ring left after a clean exit: {left:?}");
}

#[test]
fn a_ring_that_outlives_a_clean_exit_says_so() {
    let dir = exit_cleanly("exit-linked");
    let dump = Dump::read(dir.path().join("linked.ring")).unwrap();
    assert!(
        matches!(dump.header.reason, Reason::Exited { .. }),
        "{:?}",
        dump.header.reason
    );
    assert!(dump.header.reason.to_string().contains("exited cleanly"));
    assert!(!dump.header.host.is_empty());
    assert_eq!(ring_count(dir.path()), 1, "only the second name is left");
}

fn ring_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "ring")
        })
        .count()
}

/// PID reuse (PID 1 in every container) or another local user's files at the names a
/// recorder might pick must never stop it from starting.
#[test]
fn existing_files_at_ring_names_do_not_stop_the_recorder() {
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let program = std::env::current_exe()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // The old, predictable name, and a symlink at it pointing somewhere it must not write.
    let target = dir.path().join("victim");
    std::fs::write(&target, b"keep me").unwrap();
    for name in [
        format!("dial9-{program}-{pid}.ring"),
        format!("dial9-crash-{pid}.ring"),
    ] {
        std::os::unix::fs::symlink(&target, dir.path().join(name)).unwrap();
    }
    let first = FlightRecorder::builder()
        .install_panic_hook(false)
        .persist_ring(dir.path())
        .build()
        .unwrap();
    // A second recorder in the same process (the same PID) gets a name of its own too.
    let second = FlightRecorder::builder()
        .install_panic_hook(false)
        .persist_ring(dir.path())
        .build()
        .unwrap();
    let (a, b) = (first.ring_path().unwrap(), second.ring_path().unwrap());
    assert_ne!(a, b);
    for p in [a, b] {
        let meta = std::fs::symlink_metadata(p).unwrap();
        assert!(meta.file_type().is_file(), "{p:?}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("dial9-") && name.ends_with(".ring"),
            "{name}"
        );
        assert!(name.contains(&pid.to_string()), "{name}");
    }
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
}

#[test]
fn unwritable_ring_directory_fails_at_build() {
    let err = FlightRecorder::builder()
        .install_panic_hook(false)
        .persist_ring("/nonexistent/dial9")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/dial9"), "{err}");
}
