//! The headless commands on the real sample dumps and on unreadable input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sample-dumps")
        .join(format!("{name}.bin"))
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dial9-tui"))
        .args(args)
        .output()
        .unwrap()
}

fn report(name: &str) -> serde_json::Value {
    let out = run(&["report", "--json", sample(name).to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The anomalies of `kind` on the task named `task`.
fn has(report: &serde_json::Value, kind: &str, severity: &str, task_prefix: &str) -> bool {
    report["anomalies"].as_array().unwrap().iter().any(|a| {
        a["kind"] == kind
            && a["severity"] == severity
            && a["task_name"]
                .as_str()
                .is_some_and(|n| n.starts_with(task_prefix))
    })
}

#[test]
fn report_finds_each_samples_ground_truth() {
    let r = report("starvation");
    assert!(has(&r, "scheduling-delay", "critical", "latency-probe"));
    assert!(has(&r, "long-poll", "critical", "image-resize-"));

    let r = report("lost-waker");
    assert!(has(&r, "lost-waker", "critical", "config-reloader"));
    assert_eq!(
        r["anomalies"][0]["task_name"], "config-reloader",
        "ranked first"
    );
    // It names who dropped the waker: the task that overwrote the single waker slot.
    let msg = r["anomalies"][0]["message"].as_str().unwrap();
    assert!(msg.contains("during cache-warmer's poll"), "{msg}");
    assert_eq!(r["dump"]["reason"]["kind"], "signal");

    let r = report("long-poll");
    assert!(has(&r, "long-poll", "critical", "http-request-3"));
    assert!(r["anomalies"][0]["magnitude"].as_u64().unwrap() >= 300_000_000);

    let r = report("panic");
    assert_eq!(r["dump"]["reason"]["kind"], "panic");
    assert!(
        r["dump"]["reason"]["message"]
            .as_str()
            .unwrap()
            .contains("index out of bounds")
    );
    assert_eq!(r["anomalies"][0]["kind"], "poll-in-progress");
    assert!(
        r["anomalies"][0]["message"]
            .as_str()
            .unwrap()
            .contains("panicked")
    );
    assert!(has(&r, "poll-in-progress", "critical", "record-parser-"));
    // Where in the code: the panic's own frame, std and tokio folded.
    assert_eq!(
        r["dump"]["reason"]["backtrace"][0]
            .as_str()
            .map(|f| f.ends_with("recorder/examples/panic.rs:27:41")),
        Some(true),
        "{}",
        r["dump"]["reason"]["backtrace"]
    );

    let r = report("healthy");
    assert_eq!(r["anomaly_counts"]["critical"], 0, "{}", r["anomalies"]);
    assert!(r["workers"].as_array().unwrap().len() == 2);
}

/// Each slow poll of the why-slow sample is explained by what its thread was doing.
#[test]
fn each_slow_poll_says_what_its_thread_was_doing() {
    let r = report("why-slow");
    let why = |task: &str| {
        r["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "long-poll" && a["task_name"] == task)
            .unwrap_or_else(|| panic!("no long poll of {task}"))
            .clone()
    };
    let cases = [
        (
            "sleeps-in-poll",
            "blocked",
            Some("clock_nanosleep"),
            "critical",
        ),
        ("cpu-bound", "on-cpu", None, "critical"),
        ("waits-on-mutex", "blocked", Some("futex"), "critical"),
        ("blocking-read", "blocked", Some("recvfrom"), "critical"),
        ("starved-by-host", "waiting-for-cpu", None, "warning"),
    ];
    for (task, cause, syscall, severity) in cases {
        let a = why(task);
        assert_eq!(a["why"]["cause"], cause, "{task}: {}", a["message"]);
        if let Some(sys) = syscall {
            assert_eq!(a["why"]["syscall"], sys, "{task}");
            assert!(a["message"].as_str().unwrap().contains(sys), "{task}");
        }
        assert_eq!(a["severity"], severity, "{task}");
        let watched = a["why"]["watched_ns"].as_u64().unwrap();
        assert!(watched >= 50_000_000, "{task}: watched {watched} ns");
    }
    // Where in the code: the planted function, by name and file:line (stacks are on in
    // this scenario).
    for (task, function) in [
        ("sleeps-in-poll", "sleep_in_handler"),
        ("blocking-read", "read_from_slow_peer"),
        ("waits-on-mutex", "update_shared_counter"),
        ("cpu-bound", "compute_checksum"),
    ] {
        let stack = why(task)["why"]["stack"].clone();
        let frames: Vec<&str> = stack
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f.as_str())
            .collect();
        assert!(
            frames
                .iter()
                .take(2)
                .any(|f| f.starts_with(function) && f.contains("why_slow.rs:")),
            "{task}: {frames:?}"
        );
    }
    assert_eq!(why("starved-by-host")["host_contention"], true);
    assert!(
        why("waits-on-mutex")["advice"]
            .as_str()
            .unwrap()
            .contains("tokio::sync")
    );
}

#[test]
fn text_report_reads_like_the_json() {
    let out = run(&["report", sample("lost-waker").to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("reason      signal SIGUSR1"), "{text}");
    assert!(text.contains("CRITICAL lost-waker"), "{text}");
    assert!(text.contains("config-reloader"), "{text}");
}

#[test]
fn check_fails_on_each_failure_sample_and_passes_healthy() {
    for name in ["starvation", "lost-waker", "long-poll", "panic"] {
        let out = run(&["check", sample(name).to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("FAIL:"));
    }
    let out = run(&["check", sample("healthy").to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("OK:"));
}

#[test]
fn check_thresholds_and_allow_change_the_verdict() {
    let p = sample("long-poll");
    let p = p.to_str().unwrap();
    // The 350 ms blocking poll, and the session tickers it held back 345-350 ms past
    // their timers' deadlines (its victims).
    let lenient = ["--max-poll", "400ms", "--max-sched-delay", "400ms"];
    assert_eq!(
        run(&[&["check", p][..], &lenient[..]].concat())
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&[
            "check",
            p,
            "--max-poll",
            "300ms",
            "--max-sched-delay",
            "400ms"
        ])
        .status
        .code(),
        Some(1)
    );
    let allowed = run(&[
        "check",
        p,
        "--allow",
        "long-poll",
        "--allow",
        "scheduling-delay",
    ]);
    assert_eq!(allowed.status.code(), Some(0));
    // The pass says what it let through.
    assert_eq!(
        String::from_utf8_lossy(&allowed.stdout),
        "OK: no violations (max poll 50 ms, max scheduling delay 50 ms, allowed: long-poll, scheduling-delay)\n"
    );
    let bad = run(&["check", p, "--allow", "slow-vibes"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown anomaly kind"));
}

/// `check` lists its violations a line per group, as the report groups anomalies: the
/// starvation sample's 41 violations are five lines, worst group first; `--limit` says
/// how many more there are, `--all` lists each violation, and a group only partly
/// over the threshold says how many of it are.
#[test]
fn check_lists_violations_by_group() {
    let p = sample("starvation");
    let p = p.to_str().unwrap();
    let lines = |args: &[&str]| -> Vec<String> {
        let out = run(&[&["check", p][..], args].concat());
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    let grouped = lines(&[]);
    assert!(grouped[0].starts_with("FAIL: 41 violations"), "{grouped:?}");
    assert_eq!(grouped.len(), 1 + 5, "{grouped:#?}");
    assert!(
        grouped[1].contains("long-poll")
            && grouped[1].contains("image-resize-*: 24 times in 4 tasks"),
        "{grouped:#?}"
    );
    // The report's groups, in its order, less the one with no violation (its info).
    let report = run(&["report", p]);
    let report = String::from_utf8(report.stdout).unwrap();
    let report: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("  CRITICAL "))
        .collect();
    assert_eq!(report.len(), 5);
    for (check, report) in grouped[1..].iter().zip(report) {
        assert_eq!(
            check.trim_start(),
            report["  CRITICAL ".len()..].trim_start()
        );
    }
    let limited = lines(&["--limit", "2"]);
    assert_eq!(limited.len(), 1 + 2 + 1, "{limited:#?}");
    assert_eq!(limited[1..3], grouped[1..3]);
    assert!(
        limited[3].contains("... and 3 more groups with violations"),
        "{limited:#?}"
    );
    let every = lines(&["--all"]);
    assert_eq!(every.len(), 1 + 41, "{every:#?}");
    // Both at once is a mistake, said as one.
    let both = run(&["check", p, "--all", "--limit", "3"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
    assert_eq!(every.iter().filter(|l| l.contains("long-poll")).count(), 24);
    // Critical from 151 ms: one of the group's 24 long polls (152 ms) is a violation.
    let partly = lines(&["--max-poll", "151ms"]);
    assert!(
        partly[1].contains("image-resize-*: 24 times, 1 of them critical; worst of those: image-resize-2 polled for 152 ms"),
        "{partly:#?}"
    );
}

/// Where a dump's metadata ends and its event blocks begin (format v7).
fn events_at(bytes: &[u8]) -> usize {
    dial9_format::ENVELOPE_LEN + u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize
}

/// A dump cut or damaged among its events opens with the rest: `report` and `check` say
/// in one line what was lost, and nothing next to the loss is critical.
#[test]
fn a_damaged_dump_opens_and_says_what_it_lost() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(sample("mini-redis")).unwrap();
    let whole = report("mini-redis");
    let events = whole["dump"]["events"].as_u64().unwrap();
    assert!(whole["dump"]["damage"].is_null());
    let mut flipped = good.clone();
    flipped[events_at(&good) + 100] ^= 0x55;
    let cut = good[..good.len() - 1000].to_vec();
    for (name, bytes, expect) in [("flipped", flipped, "1 of its"), ("cut", cut, "ends early")] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let out = run(&["report", "--json", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{name}");
        assert!(out.stderr.is_empty(), "{name}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let damage = json["dump"]["damage"].as_str().expect("damage is reported");
        assert!(damage.contains(expect), "{name}: {damage}");
        let left = json["dump"]["events"].as_u64().unwrap();
        assert!(
            left < events && left > events / 2,
            "{name}: {left} of {events}"
        );
        let text = run(&["report", p.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("damaged ")).count(),
            1,
            "{text}"
        );
        let check = run(&["check", p.to_str().unwrap()]);
        let check = String::from_utf8_lossy(&check.stdout);
        assert!(
            check.starts_with("note: the dump is damaged"),
            "{name}: {check}"
        );
        // Rewriting it would hide the loss.
        let out_path = dir.path().join(format!("{name}-converted"));
        let conv = run(&["convert", p.to_str().unwrap(), out_path.to_str().unwrap()]);
        assert_eq!(conv.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&conv.stderr);
        assert!(err.contains("not converted"), "{name}: {err}");
        assert!(!out_path.exists(), "{name}");
    }
}

#[test]
fn every_unreadable_input_is_one_clear_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(sample("long-poll")).unwrap();
    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&99u32.to_le_bytes());
    // The metadata (names, lane states) must be whole; damage among the events is not
    // an unreadable dump (`a_damaged_dump_opens_and_says_what_it_lost`).
    let meta_end = events_at(&good);
    let mut corrupt = good.clone();
    corrupt[meta_end / 2] ^= 0xff;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "random",
            b"hello, this is not a dump at all".to_vec(),
            "not a dial9 dump",
        ),
        ("empty", vec![], "not a dial9 dump"),
        ("truncated", good[..meta_end / 2].to_vec(), "truncated"),
        ("newer", newer, "newer than this build supports"),
        ("corrupt", corrupt, "corrupt"),
    ];
    for (name, bytes, expect) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        for cmd in [vec!["report"], vec!["check"], vec![]] {
            let mut args = cmd.clone();
            args.push(p.to_str().unwrap());
            let out = run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {cmd:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
            assert!(stderr.contains(expect), "{name}: {stderr}");
            assert!(out.stdout.is_empty(), "{name}: terminal untouched");
        }
    }
    let out = run(&["report", "/nonexistent/x.bin"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.bin"));
}

#[test]
fn ring_files_open_in_report_and_convert_to_a_dump() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dial9_recorder::FlightRecorder::builder()
        .install_panic_hook(false)
        .persist_ring(dir.path())
        .build()
        .unwrap();
    rec.__bench_fill(5000);
    let ring = rec.ring_path().unwrap().to_str().unwrap().to_string();
    // This process holds the writer's lock: a live snapshot.
    let out = run(&["report", "--json", &ring]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["dump"]["reason"]["kind"], "recovered");
    assert_eq!(r["dump"]["reason"]["writer_alive"], true);
    assert_eq!(r["dump"]["events"], 5000);

    let converted = dir.path().join("converted.bin");
    let out = run(&["convert", &ring, converted.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = dial9_format::Dump::read(&converted).unwrap();
    assert_eq!(d.events.len(), 5000);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&converted).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "private like the recorder's dumps");
    // The ring knows its host.
    assert!(!d.header.host.is_empty() && d.header.host != "unknown host");
    // Never overwrites.
    let again = run(&["convert", &ring, converted.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    // Said before the ring is read: with a ring that cannot be read either, the output's
    // problem is the one reported.
    let missing = dir.path().join("missing.ring");
    let again = run(&[
        "convert",
        missing.to_str().unwrap(),
        converted.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("cannot write") && err.contains("converted.bin"),
        "{err}"
    );

    // list-rings finds it and says the process is still running.
    let out = run(&["list-rings", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&ring), "{listed}");
    assert!(
        listed.contains("live snapshot of running process"),
        "{listed}"
    );
    assert!(listed.contains("5000 events"), "{listed}");
    drop(rec);
    let out = run(&["list-rings", dir.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no crash-surviving rings"));
}

/// `report X | head -1` and `check X | true`: the reader goes away; the command ends
/// quietly (no panic, no message) and `check` keeps its documented exit status.
#[test]
fn closed_stdout_ends_quietly_with_the_same_status() {
    use std::process::Stdio;
    for (args, code) in [
        (vec!["report", "starvation"], 0),
        (vec!["report", "--json", "starvation"], 0),
        (vec!["check", "starvation"], 1),
        (vec!["check", "healthy"], 0),
    ] {
        let path = sample(args[args.len() - 1]);
        let mut full: Vec<&str> = args[..args.len() - 1].to_vec();
        full.push(path.to_str().unwrap());
        let mut child = Command::new(env!("CARGO_BIN_EXE_dial9-tui"))
            .args(&full)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{full:?}");
        assert!(
            out.stderr.is_empty(),
            "{full:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A decode error quoting hostile bytes prints them escaped, on one line.
#[test]
fn errors_never_print_raw_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil\u{1b}[2J.bin");
    std::fs::write(&path, b"DIAL9DM").unwrap();
    let out = run(&["report", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\u{1b}'), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn version_names_the_formats_it_reads() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(
        v.contains(&format!(
            "reads dump format {} to {}",
            dial9_format::OLDEST_FORMAT_VERSION,
            dial9_format::FORMAT_VERSION
        )),
        "{v}"
    );
}
