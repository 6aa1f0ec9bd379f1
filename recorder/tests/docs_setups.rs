//! The docs' other setups (`recorder/examples/docs.rs`, whose regions the docs' Rust
//! blocks are) run: each in a child process of its own, since a process has one global
//! subscriber, and each records the tasks it spawns.

use std::process::Command;

#[path = "../examples/docs.rs"]
#[allow(dead_code)]
mod docs;

const VAR: &str = "DIAL9_DOCS_SETUP";

#[test]
#[ignore = "child process for every_setup_in_the_docs_runs_and_records"]
fn child_runs_one_setup() {
    let which = std::env::var(VAR).expect("run by the test below");
    let run = match which.as_str() {
        "layer" => docs::layer,
        "no-subscriber" => docs::no_subscriber,
        "hooks-only" => docs::hooks_only,
        "user-hooks" => docs::user_hooks,
        "stacks" => docs::stacks,
        "persist-ring" => docs::persist_ring,
        other => panic!("no setup {other}"),
    };
    run().unwrap();
}

#[test]
fn every_setup_in_the_docs_runs_and_records() {
    for which in [
        "layer",
        "no-subscriber",
        "hooks-only",
        "user-hooks",
        "stacks",
        "persist-ring",
    ] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "child_runs_one_setup",
                "--nocapture",
            ])
            .env(VAR, which)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{which}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // `work` spawns eight tasks and prints how many events the snapshot holds.
        let events: usize = stdout
            .lines()
            .find_map(|l| l.strip_suffix(" events"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{which}: no event count in {stdout}"));
        assert!(events >= 16, "{which}: {events} events for eight tasks");
    }
}
