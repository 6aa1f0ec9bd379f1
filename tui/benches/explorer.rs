//! The explorer at scale: synthetic dumps of 1M, 10M and 30M events (4 workers, 10k
//! tasks), against `sha256sum` over the same file (the speed of just reading it).
//!
//! `cargo bench -p dial9-tui --bench explorer [-- --sizes 1M,10M]` prints, per size: the
//! file's size and bytes per event; `sha256sum`'s time; `report`'s time and peak memory
//! (the code `dial9-tui report` runs: read, index, the text); the explorer's first frame
//! (read + index + first draw into a 160x48 `TestBackend`) and its peak memory; and each
//! navigation key's time (the action and the redraw it causes, median and worst over
//! every press of every run). Five rounds, each a `sha256sum`, a report and a first
//! screen one after another, so that a ratio compares runs made under the same load:
//! times are medians of the rounds, ratios (to `sha256sum`, against the goals of issue
//! 26) the medians of each round's ratio, peaks the highest. Each run is a child
//! process, so its peak memory is its own.

#[path = "../examples/synth/mod.rs"]
mod synth;

use std::process::Command;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dial9_tui::analysis::{Index, Thresholds};
use dial9_tui::app::{self, Action, App, Options};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZES: &[(usize, &str)] = &[(1_000_000, "1M"), (10_000_000, "10M"), (30_000_000, "30M")];
/// The goals: times at most this many times `sha256sum`'s, peak memory at most this many
/// times the file.
const TIME_GOAL: f64 = 2.0;
const MEMORY_GOAL: f64 = 2.0;
const KEY_TARGET_MS: f64 = 50.0;
const RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    if let Some(path) = arg("--child") {
        return child(path);
    }
    if let Some(path) = arg("--report") {
        return report_child(path);
    }
    let wanted: Option<Vec<&str>> = arg("--sizes").map(|s| s.split(',').collect());
    let dir = std::env::temp_dir().join("dial9-explorer-bench");
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "explorer at scale, {} cores; {RUNS} rounds of sha256sum, report and first screen: times are medians, ratios the medians of each round's",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for &(n, label) in SIZES {
        if wanted.as_ref().is_some_and(|w| !w.contains(&label)) {
            continue;
        }
        let path = dir.join(format!(
            "synthetic-v{}-{label}.bin",
            dial9_format::FORMAT_VERSION
        ));
        if !path.exists() {
            let t = Instant::now();
            let dump = synth::generate(n);
            std::fs::write(&path, dump.to_bytes().unwrap()).unwrap();
            eprintln!(
                "generated {} ({} events) in {:.1} s",
                path.display(),
                dump.events.len(),
                t.elapsed().as_secs_f64()
            );
        }
        let p = path.to_str().unwrap();
        let file_mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
        println!(
            "\n{label} events: {file_mb:.0} MB file, {:.2} bytes an event",
            file_mb * 1e6 / n as f64
        );
        // Rounds of sha256sum, `report` and the first screen, one after another, so each
        // ratio compares runs made under the same load (a 2-core VM's drifts over a
        // bench): a ratio is the median of the rounds' ratios; a peak, the highest.
        let rounds: Vec<(f64, [String; 2])> = (0..RUNS)
            .map(|_| {
                let sha = sha256sum(p);
                (sha, [run_child("--report", p), run_child("--child", p)])
            })
            .collect();
        let sha = median(rounds.iter().map(|r| r.0));
        println!("  sha256sum        {sha:>8.3} s");
        for (what, child, time) in [
            ("report", 0, "report_s"),
            ("first screen", 1, "first_frame_s"),
        ] {
            let secs = |r: &(f64, [String; 2])| field(&r.1[child], time);
            let peak = rounds.iter().map(|r| field(&r.1[child], "peak_mb"));
            verdict(
                what,
                median(rounds.iter().map(secs)),
                median(rounds.iter().map(|r| secs(r) / r.0)),
                peak.fold(0.0, f64::max),
                file_mb,
            );
        }
        let mut runs: Vec<String> = rounds.into_iter().map(|(_, [_, screen])| screen).collect();
        runs.sort_by(|a, b| field(a, "first_frame_s").total_cmp(&field(b, "first_frame_s")));
        let text = &runs[runs.len() / 2];
        if let Some(v) = text.lines().find_map(|l| l.strip_prefix("first_frame_s=")) {
            println!(
                "    ({})",
                v.split_once(' ')
                    .map_or("", |(_, rest)| rest)
                    .trim_matches(['(', ')'])
            );
        }
        // Each key's median and worst over all its presses in every round.
        for (name, mut ms) in key_times(&runs) {
            ms.sort_by(f64::total_cmp);
            let (med, max) = (ms[ms.len() / 2], ms[ms.len() - 1]);
            println!(
                "  key {name:<16} median {med:>7.2} ms, worst {max:>7.2} ms   goal <= {KEY_TARGET_MS} ms {}",
                ok(max <= KEY_TARGET_MS)
            );
        }
    }
}

/// Each key's press times (ms) from the children's `key NAME MS MS ...` lines, keys in
/// the order the first child pressed them.
fn key_times(runs: &[String]) -> Vec<(String, Vec<f64>)> {
    let mut keys: Vec<(String, Vec<f64>)> = Vec::new();
    for line in runs.iter().flat_map(|t| t.lines()) {
        let Some(v) = line.strip_prefix("key ") else {
            continue;
        };
        let mut it = v.split_whitespace();
        let Some(name) = it.next() else { continue };
        let times = it.filter_map(|x| x.parse::<f64>().ok());
        match keys.iter_mut().find(|(n, _)| n == name) {
            Some((_, all)) => all.extend(times),
            None => keys.push((name.to_string(), times.collect())),
        }
    }
    keys
}

/// One `sha256sum` of the file, in seconds.
fn sha256sum(path: &str) -> f64 {
    let t = Instant::now();
    let ok = Command::new("sha256sum")
        .arg(path)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "sha256sum {path} failed");
    t.elapsed().as_secs_f64()
}

fn run_child(mode: &str, path: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([mode, path])
        .output()
        .unwrap();
    if !out.status.success() {
        panic!("child failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The number after `name=` in a child's output.
fn field(text: &str, name: &str) -> f64 {
    let prefix = format!("{name}=");
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in: {text}"))
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A row: the median time, the median of the rounds' ratios to `sha256sum`, the peak.
fn verdict(what: &str, secs: f64, t: f64, mb: f64, file_mb: f64) {
    let m = mb / file_mb;
    println!(
        "  {what:<16} {secs:>8.3} s, {t:>5.1}x sha256sum (goal <= {TIME_GOAL}x) {:<6}  peak {mb:>6.0} MB = {m:>4.1}x the file (goal <= {MEMORY_GOAL}x) {}",
        ok(t <= TIME_GOAL),
        ok(m <= MEMORY_GOAL)
    );
}

/// What `dial9-tui report` does: read, index, the text report.
fn report_child(path: &str) {
    let start = Instant::now();
    let index = Index::open(path.as_ref(), Thresholds::default(), &mut |_| {}).unwrap();
    let text = dial9_tui::cli::report::text(&index, path, 10);
    let secs = start.elapsed().as_secs_f64();
    assert!(text.contains("verdict"));
    println!("report_s={secs:.3} peak_mb={:.1}", peak_mb());
}

fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn ok(pass: bool) -> &'static str {
    if pass { "ok" } else { "MISSED" }
}

fn draw(term: &mut Terminal<TestBackend>, app: &App) {
    term.draw(|f| dial9_tui::view::render(f, app)).unwrap();
}

fn press(term: &mut Terminal<TestBackend>, app: &mut App, code: KeyCode) -> Duration {
    let t = Instant::now();
    if let Some(a) = app::from_key(app, KeyEvent::new(code, KeyModifiers::NONE)) {
        app::apply(app, a);
    }
    draw(term, app);
    t.elapsed()
}

fn child(path: &str) {
    let start = Instant::now();
    let index = Index::open(path.as_ref(), Thresholds::default(), &mut |_| {}).unwrap();
    let indexed = start.elapsed();
    let mut app = App::new(index, Options::default(), path.to_string());
    app::apply(&mut app, Action::Resize(160, 48));
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    draw(&mut term, &app);
    let first = start.elapsed();
    println!(
        "first_frame_s={:.3} (read and index {:.3} s, app + draw {:.3} s)",
        first.as_secs_f64(),
        indexed.as_secs_f64(),
        (first - indexed).as_secs_f64()
    );
    // Every press's time: the parent takes the median and worst over all runs.
    let report = |name: &str, times: Vec<Duration>| {
        let ms: Vec<String> = times
            .iter()
            .map(|d| format!("{:.3}", d.as_secs_f64() * 1e3))
            .collect();
        println!("key {} {}", name.replace(' ', "_"), ms.join(" "));
    };
    report(
        "] step",
        (0..200)
            .map(|_| press(&mut term, &mut app, KeyCode::Char(']')))
            .collect(),
    );
    report(
        "[ step",
        (0..200)
            .map(|_| press(&mut term, &mut app, KeyCode::Char('[')))
            .collect(),
    );
    report(
        "L longest",
        (0..30)
            .map(|_| press(&mut term, &mut app, KeyCode::Char('L')))
            .collect(),
    );
    report(
        "n anomaly",
        (0..30)
            .map(|_| press(&mut term, &mut app, KeyCode::Char('n')))
            .collect(),
    );
    report(
        "} task next",
        (0..50)
            .map(|_| press(&mut term, &mut app, KeyCode::Char('}')))
            .collect(),
    );
    let mut zoom: Vec<Duration> = (0..8)
        .map(|_| press(&mut term, &mut app, KeyCode::Char('w')))
        .collect();
    zoom.extend((0..8).map(|_| press(&mut term, &mut app, KeyCode::Char('s'))));
    report("w/s zoom", zoom);
    report(
        "a/d pan",
        (0..20)
            .map(|i| {
                press(
                    &mut term,
                    &mut app,
                    KeyCode::Char(if i % 2 == 0 { 'a' } else { 'd' }),
                )
            })
            .collect(),
    );
    press(&mut term, &mut app, KeyCode::Char('/'));
    report(
        "search keystroke",
        "cache-refresh-12"
            .chars()
            .map(|c| press(&mut term, &mut app, KeyCode::Char(c)))
            .collect(),
    );
    press(&mut term, &mut app, KeyCode::Enter);
    report(
        "Tab pane",
        (0..10)
            .map(|_| press(&mut term, &mut app, KeyCode::Tab))
            .collect(),
    );
    println!("peak_mb={:.1}", peak_mb());
}
