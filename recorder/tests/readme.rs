//! The README's setup works when copied: its code block is exactly the setup example
//! (`examples/setup.rs`, checked with every other block in `tui/tests/docs.rs`), which
//! this test runs as a service: its own logs carry no Tokio instrumentation, and SIGUSR1
//! writes a readable dump.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[path = "common/child.rs"]
mod child;
#[path = "../examples/setup.rs"]
#[allow(dead_code)]
mod setup;

const DIR_VAR: &str = "DIAL9_README_DIR";

#[test]
#[ignore = "child process for readme_setup_runs_quietly_and_dumps_on_sigusr1"]
fn child_runs_the_setup_example() {
    assert!(std::env::var(DIR_VAR).is_ok(), "run by the test below");
    setup::main().unwrap();
}

/// Kills the child if the test fails half way.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn readme_setup_runs_quietly_and_dumps_on_sigusr1() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Child(
        child::this_test("child_runs_the_setup_example")
            .env(DIR_VAR, dir.path())
            .env("DIAL9_SETUP_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Drain its output all along (a flood of log lines must not block it on a full pipe).
    let out = BufReader::new(child.0.stdout.take().unwrap());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    const NOISE: [&str; 5] = ["runtime.spawn", "tokio::task", "waker", "TRACE", "DEBUG"];
    let reader = std::thread::spawn(move || {
        let (mut log, mut noise) = (String::new(), None);
        for line in out.lines().map_while(Result::ok) {
            if line.contains("READY") {
                let _ = ready_tx.send(());
            }
            if noise.is_none() && NOISE.iter().any(|n| line.contains(n)) {
                noise = Some(line.clone());
            }
            if line.contains("service") || log.len() < 4096 {
                log.push_str(&line);
                log.push('\n');
            }
        }
        (log, noise)
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the service did not start");
    // Let it run a while (tasks, timers, wakes), then ask for a dump.
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGUSR1) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let dump = loop {
        if let Some(p) = child::dumps_in(dir.path()).pop() {
            std::thread::sleep(Duration::from_millis(100));
            break p;
        }
        assert!(Instant::now() < deadline, "no dump after SIGUSR1");
        std::thread::sleep(Duration::from_millis(20));
    };
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    let (log, noise) = reader.join().unwrap();
    assert_eq!(
        noise, None,
        "Tokio's instrumentation leaked into the service's logs"
    );
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        log.contains("service started"),
        "its own INFO logs print:\n{log}"
    );
    assert!(log.contains("service stopping"), "{log}");
    let d = dial9_recorder::Dump::read(&dump).unwrap();
    assert!(matches!(
        d.header.reason,
        dial9_recorder::format::Reason::Signal { .. }
    ));
    assert!(d.events.len() > 50, "{}", d.events.len());
}
