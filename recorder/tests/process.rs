//! Dumps written by a child process on panic and on a signal, and the filtering contract.
//!
//! Children are this same test binary re-run with `--ignored --exact child_…` and an
//! environment variable naming the dump directory; the `child_…` functions do nothing in a
//! normal run (they are ignored) and are not tests of their own.

#[path = "common/child.rs"]
mod child;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dial9_recorder::format::{Activity, EventKind, Reason};
use dial9_recorder::{Dump, FlightRecorder};

use child::{dumps_in, this_test};

const DIR_VAR: &str = "DIAL9_TEST_DUMP_DIR";

fn child(name: &str, dir: &Path) -> Command {
    let mut cmd = this_test(name);
    cmd.env(DIR_VAR, dir);
    cmd
}

fn recorder_for_child(
    extra: impl FnOnce(dial9_recorder::Builder) -> dial9_recorder::Builder,
) -> FlightRecorder {
    let dir = std::env::var(DIR_VAR).expect("child run without a dump dir");
    extra(FlightRecorder::builder().dump_path(format!("{dir}/child-{{pid}}-{{time}}.bin")))
        .build()
        .unwrap()
}

#[test]
#[ignore = "child process for panic_in_a_task_dumps_and_exits_like_a_normal_panic"]
fn child_panics_in_task() {
    let rec = recorder_for_child(|b| b.install_panic_hook(true));
    let rt = common::global_runtime(&rec);
    rt.block_on(async {
        let h = tokio::task::Builder::new()
            .name("doomed-handler")
            .spawn(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let v: Vec<u32> = std::hint::black_box(vec![1, 2, 3]);
                let i = std::hint::black_box(7);
                v[i]
            })
            .unwrap();
        if let Err(e) = h.await {
            std::panic::resume_unwind(e.into_panic());
        }
    });
}

#[test]
fn panic_in_a_task_dumps_and_exits_like_a_normal_panic() {
    let dir = tempfile::tempdir().unwrap();
    let out = child("child_panics_in_task", dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("panicked at"), "{stderr}");
    assert!(stderr.contains("index out of bounds"), "{stderr}");
    assert!(
        stderr.contains("dial9: wrote flight-recorder dump to"),
        "{stderr}"
    );
    let dumps = dumps_in(dir.path());
    assert_eq!(dumps.len(), 1, "exactly one dump: {dumps:?}");
    let dump = Dump::read(&dumps[0]).unwrap();
    let Reason::Panic {
        message,
        location,
        thread,
        task,
    } = &dump.header.reason
    else {
        panic!("{:?}", dump.header.reason)
    };
    assert!(message.contains("index out of bounds"), "{message}");
    assert!(
        location.as_deref().unwrap().contains("process.rs"),
        "{location:?}"
    );
    assert_eq!(thread, "tokio-rt-worker");
    let doomed = common::task_named(&dump, "doomed-handler");
    assert_eq!(*task, Some(doomed));
    // The panicking poll is in progress: started, never ended, and its lane says so.
    let evs = common::events_of(&dump, doomed);
    let last_start = evs
        .iter()
        .rposition(|e| matches!(e, EventKind::PollStart { .. }))
        .unwrap();
    assert!(
        !evs[last_start..]
            .iter()
            .any(|e| matches!(e, EventKind::PollEnd { .. })),
        "{evs:?}"
    );
    assert!(
        dump.lane_states
            .iter()
            .any(|l| l.activity == Activity::Polling { task: doomed })
    );
}

#[test]
#[ignore = "child process for signal_dumps_and_keeps_running"]
fn child_waits_for_signal() {
    let rec = recorder_for_child(|b| b.install_panic_hook(false).dump_on_signal(libc::SIGUSR1));
    let rt = common::global_runtime(&rec);
    let dir = PathBuf::from(std::env::var(DIR_VAR).unwrap());
    rt.block_on(async move {
        println!("ready");
        let deadline = Instant::now() + Duration::from_secs(20);
        while dumps_in(&dir).is_empty() && Instant::now() < deadline {
            tokio::task::Builder::new()
                .name("ticker")
                .spawn(tokio::time::sleep(Duration::from_millis(2)))
                .unwrap()
                .await
                .unwrap();
        }
        // Keep working after the dump: the process was not stopped by the signal.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        println!("still running");
    });
}

#[test]
fn signal_dumps_and_keeps_running() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut c = child("child_waits_for_signal", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(c.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("child exited before ready").unwrap();
        if line.contains("ready") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(50));
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(c.id() as i32, libc::SIGUSR1) }, 0);
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = c.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(rest.iter().any(|l| l.contains("still running")), "{rest:?}");
    let dumps = dumps_in(dir.path());
    assert_eq!(dumps.len(), 1);
    let dump = Dump::read(&dumps[0]).unwrap();
    assert!(
        matches!(&dump.header.reason, Reason::Signal { signal, name } if *signal == libc::SIGUSR1 && name == "SIGUSR1")
    );
    let ticker_polls = dump
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::PollStart { task } if dump.tasks.iter().any(|t| t.id == task && t.name == "ticker")))
        .count();
    assert!(ticker_polls > 0);
}

/// Application spans and events never enter the dump (with only the layer installed, an
/// app span entered inside a task would otherwise show as extra polls), and a `fmt` layer
/// beside the recorder still prints them.
#[test]
fn application_spans_and_events_are_not_recorded_and_still_reach_fmt() {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::prelude::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let rec = FlightRecorder::builder()
        .install_panic_hook(false)
        .build()
        .unwrap();
    let w = buf.clone();
    let subscriber = tracing_subscriber::registry().with(rec.layer()).with(
        tracing_subscriber::fmt::layer()
            .with_writer(move || w.clone())
            .with_ansi(false)
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
    );
    let _g = tracing::subscriber::set_default(subscriber);
    // Layer only, current-thread runtime: everything happens on this thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::task::Builder::new()
            .name("app-task")
            .spawn(async {
                for i in 0..3 {
                    let span = tracing::info_span!("app_span", i);
                    let _e = span.enter();
                    tracing::info!(target: "myapp", "app event {i}");
                }
                tokio::task::yield_now().await;
            })
            .unwrap()
            .await
            .unwrap();
    });
    let printed = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(printed.contains("app event 2"), "{printed}");
    assert!(printed.contains("app_span"), "{printed}");

    let dump = rec.snapshot();
    let task = common::task_named(&dump, "app-task");
    let polls = common::events_of(&dump, task)
        .iter()
        .filter(|e| matches!(e, EventKind::PollStart { .. }))
        .count();
    // Two real polls (before and after the yield) plus Tokio's enter at drop; three app
    // span entries would add three more.
    assert!(
        polls <= 3,
        "app spans leaked into the dump as polls: {polls}"
    );
    assert!(dump.tasks.iter().all(|t| t.name != "app_span"));
    assert!(!dump.header.hooks_installed);
}
