//! End to end: the real binary in a real terminal (tmux), driven by keys, read back with
//! `capture-pane`, and the shell usable again after quitting.

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux is required for this test (.ci/run installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }
    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-t", "e2e", "-p"])
    }
    /// Waits until the screen contains `text`; returns the screen.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[test]
fn explorer_runs_in_a_real_terminal_and_restores_it() {
    let t = Tmux {
        socket: format!("dial9-e2e-{}", std::process::id()),
    };
    t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "120",
        "-y",
        "40",
        "bash --norc --noprofile",
    ]);
    let bin = env!("CARGO_BIN_EXE_dial9-tui");
    let dump = format!("{}/../sample-dumps/panic.bin", env!("CARGO_MANIFEST_DIR"));
    t.keys(&[&format!("{bin} {dump}"), "Enter"]);
    let s = t.wait_for("Swimlanes");
    assert!(s.contains("panic in thread 'tokio-rt-worker'"), "{s}");
    assert!(s.contains("record-parser-"), "{s}");

    t.keys(&["L"]);
    t.wait_for("longest poll #1");
    t.keys(&["?"]);
    t.wait_for("Keys · any key closes");
    t.keys(&["Escape"]);
    t.keys(&["p"]);
    t.wait_for("poll in progress at the dump");
    t.keys(&["/"]);
    t.keys(&["aggreg"]);
    t.wait_for("Find task");
    t.keys(&["Enter"]);
    t.wait_for("Task lifecycle · aggregator");

    t.keys(&["q"]);
    t.keys(&[
        "stty -a | grep -o ' icanon' ; echo shell-ok-$((6*7))",
        "Enter",
    ]);
    let s = t.wait_for("shell-ok-42");
    assert!(s.contains(" icanon"), "terminal left in raw mode:\n{s}");
    assert!(!s.contains("Swimlanes"), "alternate screen not left:\n{s}");
}
