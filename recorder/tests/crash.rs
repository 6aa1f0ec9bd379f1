//! The crash-surviving ring: a child recording a real Tokio workload dies by SIGKILL,
//! `abort()` or a stack overflow; its ring file is found and read back, and ends with the
//! events the child recorded just before dying.

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

fn crash(mode: &str) -> (Dump, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_records_then_dies",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir.path())
        .env(MODE_VAR, mode)
        .env("RUST_BACKTRACE", "0")
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

#[test]
fn unwritable_ring_directory_fails_at_build() {
    let err = FlightRecorder::builder()
        .install_panic_hook(false)
        .persist_ring("/nonexistent/dial9")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/dial9"), "{err}");
}
