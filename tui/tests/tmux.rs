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
        // Generous: CI builds and tests on two busy cores.
        let deadline = Instant::now() + Duration::from_secs(60);
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
    /// Waits until the shell is the pane's foreground process again: keys sent while the
    /// explorer is still quitting are its own to read (or the terminal's to discard when
    /// it leaves raw mode), not the shell's.
    fn wait_for_shell(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let command = self.cmd(&[
                "display-message",
                "-p",
                "-t",
                "e2e",
                "#{pane_current_command}",
            ]);
            if command.trim() == "bash" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the shell never came back (pane runs {command:?}); screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// Waits until the screen no longer contains `text`.
    fn wait_gone(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.screen().contains(text) {
            assert!(Instant::now() < deadline, "{text:?} never went away");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// Has the shell write `stty -a` into a file of `dir` and returns that output alone,
    /// split into its flags and settings: the screen also shows the typed command line,
    /// whose words would match whatever the terminal's state.
    fn stty_flags(&self, dir: &std::path::Path) -> Vec<String> {
        let file = dir.join("stty.txt");
        // The quotes keep the typed command line from matching the marker it waits for.
        self.keys(&[
            &format!("stty -a > {}; echo stty\"\"-done", file.display()),
            "Enter",
        ]);
        self.wait_for("stty-done");
        let out = std::fs::read_to_string(&file).expect("stty -a wrote its file");
        out.split(|c: char| c.is_whitespace() || c == ';')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Asserts the terminal is in line mode with echo and signals: `icanon`, `echo` and `isig`
/// among `stty -a`'s flags, none of them negated.
fn assert_cooked(flags: &[String], context: &str) {
    for flag in ["icanon", "echo", "isig"] {
        assert!(
            flags.iter().any(|f| f == flag),
            "{flag} not set {context}; stty -a: {flags:?}"
        );
        let negated = format!("-{flag}");
        assert!(
            !flags.contains(&negated),
            "{negated} {context}; stty -a: {flags:?}"
        );
    }
}

impl Tmux {
    /// A tmux server of its own (`socket`) with one 120x40 session running a bare shell.
    fn start(socket: String) -> Tmux {
        let t = Tmux { socket };
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
        t
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
    let t = Tmux::start(format!("dial9-e2e-{}", std::process::id()));
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
    // Escape alone: sent together with the next key, a terminal reads the pair as Alt-p.
    t.keys(&["Escape"]);
    t.wait_gone("Keys · any key closes");
    t.keys(&["p"]);
    t.wait_for("poll in progress at the dump");
    t.keys(&["/"]);
    t.keys(&["aggreg"]);
    t.wait_for("Find task");
    t.keys(&["Enter"]);
    t.wait_for("Task lifecycle · aggregator");

    t.keys(&["q"]);
    t.wait_for_shell();
    let dir = tempfile::tempdir().unwrap();
    let flags = t.stty_flags(dir.path());
    assert_cooked(&flags, "after quitting");
    let s = t.screen();
    assert!(!s.contains("Swimlanes"), "alternate screen not left:\n{s}");
}

/// Starts the explorer in a fresh tmux session, sends it `signal`, and checks the exit
/// status and that the terminal works again (line mode, echo, no alternate screen).
fn survives_signal(signal: &str, code: i32) {
    let t = Tmux::start(format!("dial9-sig-{signal}-{}", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_dial9-tui");
    // A copy of its own, so the signal reaches this test's explorer and no other.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join(format!("sig-{signal}.bin"));
    let sample = format!("{}/../sample-dumps/panic.bin", env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(sample, &dump).unwrap();
    let dump = dump.display();
    // Under `sh -c`, as a wrapper script would run it: nobody else restores the tty.
    // (The quotes keep the typed command line from matching the marker it waits for.)
    t.keys(&[
        &format!("sh -c '{bin} {dump}'; echo exit\"\"-status-$?"),
        "Enter",
    ]);
    t.wait_for("Swimlanes");
    let killed = Command::new("pkill")
        .args([&format!("-{signal}"), "-f", &format!("^{bin} {dump}$")])
        .status()
        .unwrap();
    assert!(killed.success(), "no explorer process to signal");
    let s = t.wait_for("exit-status-");
    assert!(s.contains(&format!("exit-status-{code}")), "{s}");
    assert!(!s.contains("Swimlanes"), "alternate screen not left:\n{s}");
    let flags = t.stty_flags(dir.path());
    assert_cooked(&flags, &format!("after SIG{signal}"));
}

#[test]
fn sigterm_restores_the_terminal() {
    survives_signal("TERM", 143);
}

#[test]
fn sighup_restores_the_terminal_and_exits() {
    survives_signal("HUP", 129);
}

/// Columns of the row starting with `label` drawn in reverse video, from `capture-pane -e`
/// (the escape sequences tmux re-emits for what the program drew).
fn reversed_columns(escaped: &str, label: &str) -> Vec<usize> {
    let line = escaped
        .lines()
        .find(|l| strip_escapes(l).contains(label))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{escaped}"));
    let mut reversed = false;
    let mut cols = Vec::new();
    let mut col = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            let params: String = chars.by_ref().take_while(|&c| c != 'm').collect();
            for p in params.split(';') {
                match p {
                    "" | "0" | "27" => reversed = false,
                    "7" => reversed = true,
                    _ => {}
                }
            }
            continue;
        }
        if reversed {
            cols.push(col);
        }
        col += 1;
    }
    cols
}

fn strip_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.by_ref().take_while(|&c| c != 'm').for_each(drop);
        } else {
            out.push(c);
        }
    }
    out
}

/// In a real terminal without colour, the selected task's cells on the swimlanes are in
/// reverse video; searching for another task moves them to where that one ran.
#[test]
fn the_selected_tasks_marks_move_with_the_selection() {
    let t = Tmux::start(format!("dial9-marks-{}", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_dial9-tui");
    let dump = format!(
        "{}/../sample-dumps/starvation.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    t.keys(&[&format!("NO_COLOR=1 {bin} {dump}"), "Enter"]);
    t.wait_for("Task lifecycle · image-resize-");
    let escaped = || t.cmd(&["capture-pane", "-e", "-t", "e2e", "-p"]);
    let workers = || -> Vec<usize> {
        let screen = escaped();
        ["│worker 0", "│worker 1"]
            .iter()
            .flat_map(|l| reversed_columns(&screen, l))
            .collect()
    };
    let before = workers();
    assert!(
        before.len() > 20,
        "an image resize ran a good part of the workers: {before:?}"
    );
    t.keys(&["/"]);
    t.keys(&["latency"]);
    t.wait_for("Find task");
    t.keys(&["Enter"]);
    t.wait_for("Task lifecycle · latency-probe");
    let after = workers();
    assert!(
        !after.is_empty() && after.len() < before.len(),
        "the short polls of latency-probe, not the image resize's: {after:?} (was {before:?})"
    );
    t.keys(&["q"]);
}
