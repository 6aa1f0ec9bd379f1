//! The explorer at scale: synthetic dumps of 1M and 10M events (4 workers, 10k tasks),
//! rendered into a 160x48 TestBackend.
//!
//! `cargo bench -p dial9-tui --bench explorer` prints, per size: time from start to the
//! first frame (read + index + first draw), time per navigation key (the action and the
//! redraw it causes, median and worst), and peak memory, against the targets. Each size
//! runs in a child process so its peak memory is its own.

#[path = "../examples/synth/mod.rs"]
mod synth;

use std::process::Command;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dial9_format::Dump;
use dial9_tui::analysis::{Index, Thresholds};
use dial9_tui::app::{self, Action, App, Options};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZES: &[(usize, &str, f64, f64)] = &[
    // events, label, first-frame target (s), peak memory target (MB)
    (1_000_000, "1M", 0.5, 300.0),
    (10_000_000, "10M", 5.0, 2500.0),
];
const KEY_TARGET_MS: f64 = 16.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1]);
        return;
    }
    let dir = std::env::temp_dir().join("dial9-explorer-bench");
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "explorer at scale, 160x48 TestBackend, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for &(n, label, first_target, mem_target) in SIZES {
        let path = dir.join(format!("synthetic-{label}.bin"));
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
        let size_mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--child", path.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            panic!("child failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        println!("\n{label} events ({size_mb:.0} MB file)");
        for line in text.lines() {
            let verdict = if let Some(v) = line.strip_prefix("first_frame_s=") {
                let s: f64 = v.split_whitespace().next().unwrap().parse().unwrap();
                format!(
                    "first frame {:>9.3} s    target <= {first_target} s   {}",
                    s,
                    ok(s <= first_target)
                )
            } else if let Some(v) = line.strip_prefix("peak_mb=") {
                let mb: f64 = v.parse().unwrap();
                format!(
                    "peak memory {mb:>9.0} MB   target <= {mem_target} MB {}",
                    ok(mb <= mem_target)
                )
            } else if let Some(v) = line.strip_prefix("key ") {
                let mut it = v.split_whitespace();
                let name = it.next().unwrap();
                let med: f64 = it.next().unwrap().parse().unwrap();
                let max: f64 = it.next().unwrap().parse().unwrap();
                format!(
                    "key {name:<16} median {med:>7.2} ms, worst {max:>7.2} ms   target <= {KEY_TARGET_MS} ms {}",
                    ok(max <= KEY_TARGET_MS)
                )
            } else {
                line.to_string()
            };
            println!("  {verdict}");
        }
    }
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
    let dump = Dump::read(path).unwrap();
    let read = start.elapsed();
    let index = Index::build(dump, Thresholds::default());
    let indexed = start.elapsed();
    let mut app = App::new(index, Options::default(), path.to_string());
    app::apply(&mut app, Action::Resize(160, 48));
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    draw(&mut term, &app);
    let first = start.elapsed();
    println!(
        "first_frame_s={:.3} (read {:.3} s, index {:.3} s, app + draw {:.3} s)",
        first.as_secs_f64(),
        read.as_secs_f64(),
        (indexed - read).as_secs_f64(),
        (first - indexed).as_secs_f64()
    );
    let report = |name: &str, times: Vec<Duration>| {
        let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(|a, b| a.total_cmp(b));
        let name = name.replace(' ', "_");
        println!("key {name} {:.3} {:.3}", ms[ms.len() / 2], ms[ms.len() - 1]);
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
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    println!("peak_mb={:.1}", hwm / 1024.0);
}
