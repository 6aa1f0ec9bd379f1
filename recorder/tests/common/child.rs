//! Tests that need a process of their own (a panic, a signal, a crash, a global
//! subscriber) run this test binary again for one ignored test: the child.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// This test binary, to run only the ignored test `name`, alone, its output shown and
/// without a backtrace on a panic it plants.
pub fn this_test(name: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary's path"));
    cmd.args([
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ])
    .env("RUST_BACKTRACE", "0");
    cmd
}

/// The dumps (`*.bin`) in `dir`, by name.
pub fn dumps_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    v.sort();
    v
}
