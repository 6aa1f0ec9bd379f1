//! Opening the public dial9's traces: fixtures written by the real `dial9` 0.5.7 crate
//! (`tests/fixtures/dial9/probe.rs.txt`: 20 producers on a channel, a consumer, a 30 ms
//! blocking poll, an untracked task), and edge cases written with `dial9-trace-format`'s
//! own encoder.

use std::path::{Path, PathBuf};
use std::process::Command;

use dial9_trace_format::TraceEvent;
use dial9_trace_format::encoder::Encoder;
use dial9_tui::analysis::{AnomalyKind, Index, Severity, Thresholds};
use dial9_tui::import;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dial9")
}

fn open(paths: &[PathBuf]) -> Index {
    dial9_tui::load::open(paths, Thresholds::default(), &mut |_| {}).unwrap()
}

fn tui(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dial9-tui"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The probe's facts, found in the real crate's trace: its 30 ms blocking poll is the one
/// long poll (a warning: under 50 ms), named by its spawn location; every producer is a
/// task; the workers parked; nothing is claimed about lost wakers.
#[test]
fn a_real_dial9_trace_opens_with_its_long_poll_and_says_what_it_cannot_tell() {
    let ix = open(&[fixtures().join("zjzu-32504")]);
    let f = ix.foreign.as_ref().expect("an imported trace says so");
    assert_eq!(f.format, "dial9 trace (dial9-tokio-telemetry 0.5.7)");
    assert!(
        f.limits
            .iter()
            .any(|l| l.contains("no lost-waker verdicts"))
    );
    assert_eq!(ix.dump.header.pid, 32504, "from dial9's directory name");
    let long: Vec<_> = ix
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::LongPoll)
        .collect();
    assert_eq!(long.len(), 1, "{:?}", ix.anomalies);
    assert_eq!(long[0].severity, Severity::Warning);
    assert!((30_000_000..40_000_000).contains(&long[0].magnitude));
    let task = &ix.tasks[long[0].task.unwrap() as usize];
    assert_eq!(task.label(), "src/main.rs:55");
    assert!(
        ix.anomalies
            .iter()
            .all(|a| a.kind != AnomalyKind::LostWaker && a.severity != Severity::Critical)
    );
    // 20 producers spawned at one line, each polled about 50 times (sleep, send).
    let producers: Vec<_> = ix
        .tasks
        .iter()
        .filter(|t| t.label() == "src/main.rs:45")
        .collect();
    assert_eq!(producers.len(), 20);
    assert!(
        producers.iter().all(|t| t.polls >= 50 && t.wakes >= 49),
        "{producers:?}"
    );
    let workers = ix
        .lanes
        .iter()
        .filter(|l| l.info.kind == dial9_format::ThreadKind::Worker)
        .count();
    assert_eq!(workers, 2);
    assert!(
        ix.lanes
            .iter()
            .any(|l| l.parked_ns > 0 && l.info.os_tid != 0)
    );
    // Every poll's end met its start: the polls are measured, none open.
    assert!(
        ix.polls
            .iter()
            .all(|(_, p)| p.end_ns.is_some() && !p.end_unknown)
    );
}

/// Gzipped segments (dial9 seals them so), the same segments as files, and their
/// directory all give one index.
#[test]
fn gzip_several_paths_and_a_directory_read_the_same() {
    let dir = fixtures().join("segments");
    let files = vec![dir.join("trace.0.bin"), dir.join("trace.1.bin")];
    let gz = fixtures().join("gz");
    let summary = |ix: &Index| {
        (
            ix.event_count(),
            ix.tasks.len(),
            ix.polls.len(),
            ix.wakes.len(),
            ix.anomalies.len(),
            ix.foreign.as_ref().map(|f| f.segments),
        )
    };
    let from_dir = summary(&open(std::slice::from_ref(&dir)));
    assert_eq!(from_dir.5, Some(2));
    assert!(from_dir.0 > 6000, "{from_dir:?}");
    assert_eq!(summary(&open(&files)), from_dir);
    assert_eq!(summary(&open(std::slice::from_ref(&gz))), from_dir);
    // In the other order on the command line: segments are events, sorted by time.
    let reversed = vec![files[1].clone(), files[0].clone()];
    assert_eq!(summary(&open(&reversed)), from_dir);
    // One segment alone: fewer events, and still a trace.
    let one = summary(&open(&files[..1]));
    assert!(one.0 < from_dir.0 && one.5 == Some(1), "{one:?}");
}

#[test]
fn report_check_and_export_work_on_a_trace() {
    let dir = fixtures().join("zjzu-32504");
    let dir = dir.to_str().unwrap();
    let (code, out, err) = tui(&["report", dir]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("dial9 trace "), "{out}");
    assert!(out.contains("format      dial9 trace (dial9-tokio-telemetry 0.5.7), 1 segment"));
    assert!(
        out.contains("limit       dial9 records no waker clone or drop"),
        "{out}"
    );
    assert!(!out.contains("tracing layer was not installed"), "{out}");
    let (code, out, _) = tui(&["report", "--json", dir]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        json["dump"]["format"],
        "dial9 trace (dial9-tokio-telemetry 0.5.7)"
    );
    assert!(json["dump"]["limits"].as_array().unwrap().len() >= 3);
    let (code, out, _) = tui(&["check", dir]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("note: dial9 trace"), "{out}");
    assert!(out.contains("OK: no violations"), "{out}");
    // The 30 ms poll fails a 20 ms gate.
    let (code, out, _) = tui(&["check", "--max-poll", "20ms", dir]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("long-poll") && out.contains("src/main.rs:55"),
        "{out}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("t.pftrace");
    let (code, out, err) = tui(&["export", "--perfetto", dir, "-o", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(" polls, "), "{out}");
    assert!(std::fs::metadata(&trace).unwrap().len() > 10_000);
}

#[test]
fn what_is_not_a_trace_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.gz", vec![0x1f, 0x8b], "not a readable gzip file"),
        ("short.bin", b"TRC\0".to_vec(), "not a readable dial9 trace"),
        (
            "gz-of-text.gz",
            gzip(b"hello"),
            "not a dial9 trace (no TRC header)",
        ),
    ];
    for (name, bytes, want) in cases {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let (code, out, err) = tui(&["report", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {out}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        assert!(err.contains(want), "{name}: {err}");
    }
    let empty = tmp.path().join("nothing-here");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = tui(&["report", empty.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no dial9 trace segments"), "{err}");
    // A dump and a trace segment together are not one thing.
    let dump = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-dumps/healthy.bin");
    let (code, _, err) = tui(&["report", dump.to_str().unwrap(), dump.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("several paths"), "{err}");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

// Edge cases, written with the trace format's own encoder and structs named and shaped
// as dial9-tokio-telemetry 0.5.7's (`telemetry/format.rs`).

#[derive(TraceEvent)]
struct PollStartEvent {
    #[traceevent(timestamp)]
    timestamp_ns: u64,
    worker_id: u64,
    local_queue: u8,
    task_id: u64,
    spawn_loc: dial9_trace_format::InternedString,
}

#[derive(TraceEvent)]
struct PollEndEvent {
    #[traceevent(timestamp)]
    timestamp_ns: u64,
    worker_id: u64,
}

#[derive(TraceEvent)]
struct WakeEventEvent {
    #[traceevent(timestamp)]
    timestamp_ns: u64,
    waker_task_id: u64,
    woken_task_id: u64,
    target_worker: u8,
}

/// A segment of `batches`, each a batch of its own (dial9 writes a thread's events as a
/// batch, and batches come in no time order), every event of the same two tasks.
fn segment(batches: &[Vec<(u64, &str, u64)>]) -> Vec<u8> {
    let mut out = Vec::new();
    for batch in batches {
        let mut enc = Encoder::new();
        let loc = enc.intern_string("src/lib.rs:7:5").unwrap();
        for &(ts, what, arg) in batch {
            match what {
                "start" => enc
                    .write(&PollStartEvent {
                        timestamp_ns: ts,
                        worker_id: 0,
                        local_queue: 0,
                        task_id: arg,
                        spawn_loc: loc,
                    })
                    .unwrap(),
                "end" => enc
                    .write(&PollEndEvent {
                        timestamp_ns: ts,
                        worker_id: 0,
                    })
                    .unwrap(),
                _ => enc
                    .write(&WakeEventEvent {
                        timestamp_ns: ts,
                        waker_task_id: arg,
                        woken_task_id: 2,
                        target_worker: 255,
                    })
                    .unwrap(),
            }
        }
        out.extend(enc.finish());
    }
    out
}

/// A poll's end in an earlier batch than its start (and a wake from outside any task in
/// another) still pairs by time on its worker; the end carries the poll's length.
#[test]
fn batches_out_of_order_pair_by_time_and_a_wake_from_no_task_is_the_runtimes() {
    const MS: u64 = 1_000_000;
    let bytes = segment(&[
        vec![(30 * MS, "end", 0), (60 * MS, "end", 0)],
        vec![(10 * MS, "start", 2), (40 * MS, "start", 1)],
        vec![(5 * MS, "wake", 0), (35 * MS, "wake", 1)],
    ]);
    let (dump, foreign) = import::from_segments(&[("s".into(), bytes)]).unwrap();
    assert!(
        foreign
            .limits
            .iter()
            .any(|l| l.contains("built without --cfg tokio_unstable"))
    );
    let ix = Index::build(dump, Thresholds::default());
    let polls: Vec<(u64, u64, u64)> = ix
        .polls
        .iter()
        .map(|(_, p)| {
            (
                ix.tasks[p.task as usize].id,
                p.start_ns,
                p.duration(ix.end_ns),
            )
        })
        .collect();
    assert_eq!(polls, vec![(2, 10 * MS, 20 * MS), (1, 40 * MS, 20 * MS)]);
    let long: Vec<_> = ix
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::LongPoll)
        .map(|a| (ix.tasks[a.task.unwrap() as usize].id, a.magnitude))
        .collect();
    assert_eq!(long, vec![(2, 20 * MS), (1, 20 * MS)]);
    // The wake from no task came from the runtime, and led to task 2's poll at 10 ms;
    // task 1 woke task 2 at 35 ms, and no poll of task 2 followed.
    let w = ix.wake(0).unwrap();
    assert_eq!(
        (w.source, w.poll_at),
        (Some(dial9_format::WakeSource::Driver), Some(10 * MS))
    );
    let w = ix.wake(1).unwrap();
    assert_eq!(w.source, Some(dial9_format::WakeSource::Task(1)));
    assert_eq!(w.poll_at, None, "no poll of task 2 after it");
}

/// A segment cut short still gives every event before the cut; one cut inside its header,
/// or damaged bytes, is an error that names the file, never a panic.
#[test]
fn a_cut_or_damaged_segment_is_read_to_the_cut_or_refused_in_one_line() {
    let bytes = std::fs::read(fixtures().join("segments/trace.0.bin")).unwrap();
    let (whole, _) = import::from_segments(&[("t".into(), bytes.clone())]).unwrap();
    let cut = &bytes[..bytes.len() * 2 / 3];
    match import::from_segments(&[("t".into(), cut.to_vec())]) {
        Ok((part, _)) => assert!(part.events.len() < whole.events.len()),
        Err(e) => assert!(e.starts_with("t: "), "{e}"),
    }
    for at in [2usize, 6, 30, 200, bytes.len() / 2] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5a;
        if let Err(e) = import::from_segments(&[("seg".into(), bad)]) {
            assert!(e.starts_with("seg: ") && !e.contains('\n'), "{e}");
        }
    }
}
