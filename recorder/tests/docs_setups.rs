//! The docs' other setups (`recorder/examples/docs.rs`, whose regions the docs' Rust
//! blocks are) run: each in a child process of its own, since a process has one global
//! subscriber, and each records the tasks it spawns.

#[path = "common/child.rs"]
mod child;
#[path = "../examples/docs.rs"]
#[allow(dead_code)]
mod docs;

const VAR: &str = "DIAL9_DOCS_SETUP";

#[test]
#[ignore = "child process for every_setup_in_the_docs_runs_and_records"]
fn child_runs_one_setup() {
    let which = std::env::var(VAR).expect("run by the test below");
    let (_, run) = docs::SETUPS
        .iter()
        .find(|(name, _)| *name == which)
        .unwrap_or_else(|| panic!("no setup {which}"));
    run().unwrap();
}

#[test]
fn every_setup_in_the_docs_runs_and_records() {
    for (which, _) in docs::SETUPS {
        let out = child::this_test("child_runs_one_setup")
            .env(VAR, which)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{which}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // `work` spawns eight tasks and prints how many events the snapshot holds (on the
        // line libtest began with the test's name).
        let events: usize = stdout
            .lines()
            .find_map(|l| l.strip_suffix(" events"))
            .and_then(|n| n.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("{which}: no event count in {stdout}"));
        assert!(events >= 16, "{which}: {events} events for eight tasks");
    }
}
