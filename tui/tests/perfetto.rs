//! `export --perfetto` checked against Perfetto's own schema: each sample's export is
//! parsed by the `perfetto` Python package's generated definitions (installed into
//! `target/` on first use), whose summary must match the dump.

use std::path::{Path, PathBuf};
use std::process::Command;

use dial9_tui::analysis::{SegmentKind, Thresholds};

const PERFETTO: &str = "perfetto==0.59.1";
const PROTOBUF: &str = "protobuf==7.36.2";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A `PYTHONPATH` under which Perfetto's definitions import, installing them there first
/// (once per test binary: the tests run in parallel).
fn python_path() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(install).clone()
}

fn install() -> PathBuf {
    let dir = root().join("target/python-perfetto");
    // Quietly: on a fresh checkout the first probe fails, and its traceback in a CI log
    // would read like a failure.
    let imports = |dir: &Path| {
        Command::new("python3")
            .env("PYTHONPATH", dir)
            .args([
                "-c",
                "from perfetto.protos.perfetto.trace import perfetto_trace_pb2",
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !imports(&dir) {
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(&dir)
            .args([PERFETTO, PROTOBUF])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "cannot install {PERFETTO} {PROTOBUF} for the check: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            imports(&dir),
            "Perfetto's definitions do not import after install"
        );
    }
    dir
}

/// `dial9-tui export --perfetto SAMPLE -o OUT`.
fn run_export(sample: &Path, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dial9-tui"))
        .args(["export", "--perfetto"])
        .arg(sample)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

fn export(sample: &Path, out: &Path) {
    let run = run_export(sample, out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(said.contains("ui.perfetto.dev"), "{said}");
}

fn checked(py: &Path, trace: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .env("PYTHONPATH", py)
        .arg(root().join("tui/tests/perfetto_check.py"))
        .arg(trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Perfetto's parser refused {}: {}",
        trace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_sample_exports_a_trace_perfettos_schema_reads_whole() {
    let py = python_path();
    let dir = tempfile::tempdir().unwrap();
    let mut samples: Vec<PathBuf> = std::fs::read_dir(root().join("sample-dumps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    samples.sort();
    assert!(samples.len() >= 7);
    // And a trace of the public dial9, imported (its real crate wrote it).
    samples.push(root().join("tui/tests/fixtures/dial9/zjzu-32504"));
    for sample in samples {
        let name = sample.file_stem().unwrap().to_string_lossy().into_owned();
        let trace = dir.path().join(format!("{name}.pftrace"));
        export(&sample, &trace);
        let got = checked(&py, &trace);
        assert_eq!(got["problems"], serde_json::json!([]), "{name}: {got}");
        let ix = dial9_tui::load::open(
            std::slice::from_ref(&sample),
            Thresholds::default(),
            &mut |_| {},
        )
        .unwrap();
        let polling: usize = (0..ix.lanes.len())
            .flat_map(|li| ix.segments(li, 0, u64::MAX))
            .filter(|s| matches!(s.kind, SegmentKind::Polling(_)))
            .count();
        assert_eq!(
            got["polls"],
            ix.polls.len(),
            "{name}: every poll is a slice"
        );
        assert_eq!(polling, ix.polls.len(), "{name}");
        let wakes: Vec<_> = (0..ix.wakes.len()).filter_map(|w| ix.wake(w)).collect();
        assert_eq!(wakes.len(), ix.wakes.len());
        let with_source = wakes.iter().filter(|w| w.source.is_some()).count();
        assert_eq!(
            got["wakes"], with_source,
            "{name}: every wake is an instant"
        );
        let led_to_a_poll = wakes
            .iter()
            .filter(|w| w.source.is_some() && w.poll_at.is_some())
            .count();
        assert_eq!(
            got["flows"], led_to_a_poll,
            "{name}: an arrow per answered wake"
        );
        assert_eq!(got["anomalies"], ix.anomalies.len(), "{name}");
        assert_eq!(
            got["tracks"].as_array().unwrap().len(),
            ix.lanes.len() + 4,
            "{name}: the process, a track per lane, the dial9 track, two counters"
        );
        insta::assert_snapshot!(
            format!("perfetto-{name}"),
            serde_json::to_string_pretty(&got).unwrap()
        );
    }
}

#[test]
fn an_existing_file_is_never_overwritten_and_a_bad_path_is_one_line_said_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let sample = root().join("sample-dumps/starvation.bin");
    let taken = dir.path().join("taken.pftrace");
    std::fs::write(&taken, b"mine").unwrap();
    for out in [taken.clone(), dir.path().join("no/such/dir/x.pftrace")] {
        let run = run_export(&sample, &out);
        assert_eq!(run.status.code(), Some(2));
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("cannot write"), "{err}");
    }
    assert_eq!(std::fs::read(&taken).unwrap(), b"mine");
    // Said before the dump is read: with a dump that cannot be read either, the output's
    // problem is the one reported.
    let run = run_export(&dir.path().join("missing.bin"), &taken);
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("cannot write") && err.contains("taken.pftrace"),
        "{err}"
    );
    // No format chosen: clap says which flag is missing.
    let run = Command::new(env!("CARGO_BIN_EXE_dial9-tui"))
        .arg("export")
        .arg(&sample)
        .args(["-o", "/tmp/never-written.pftrace"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--perfetto"));
}
