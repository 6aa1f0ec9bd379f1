//! Recorder overhead, side by side with other ways of recording Tokio's runtime.
//!
//! ```sh
//! cargo run --release -p dial9-overhead --bin overhead            # all workloads, 3 rounds
//! cargo run --release -p dial9-overhead --bin overhead -- --help
//! cargo run --release -p dial9-overhead --bin overhead -- --soak 60
//! ```
//!
//! Each (configuration, workload) run is a fresh child process of this binary, so every
//! configuration gets its own global subscriber and its own peak-memory figure. Rounds
//! alternate the configurations (rotating their order each round) so that drift in a
//! noisy machine spreads over all of them; the table shows medians, and each ratio is the
//! median of per-round ratios to the baseline run in the same round.

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

/// Configurations. `dial9` is the README's setup with everything a dump keeps: the
/// recorder's own subscriber over a registry, and its runtime hooks. `service` is a
/// service that already uses tracing (a registry, a global `EnvFilter("info")`, a `fmt`
/// layer writing to a sink), `service-dial9` the same with the recorder wrapping it:
/// their ratio is what adding dial9 costs such a service.
const CONFIGS: &[&str] = &[
    "baseline",
    "dial9",
    "dial9-layer",
    "dial9-no-cpustat",
    "dial9-no-watchdog",
    "dial9-stacks",
    "dial9-hooks-only",
    "dial9-hooks-sched",
    "service",
    "service-dial9",
    "tracing-floor",
    "floor-with-hooks",
    "console-subscriber",
    "json-file",
];
const WORKLOADS: &[&str] = &[
    "spawn-storm",
    "ping-pong",
    "ping-pong-1w",
    "tcp-echo",
    "slow-polls",
];

/// Recorder overhead, side by side with other ways of recording Tokio's runtime: each
/// (configuration, workload) run in a child process of its own, configurations rotated
/// within each round, every ratio the median of per-round ratios.
#[derive(clap::Parser)]
#[command(name = "overhead", version)]
struct Cli {
    /// Rounds of every configuration.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Workloads to run (default: all).
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(WORKLOADS))]
    workloads: Vec<String>,
    /// Configurations to run besides `baseline` (default: all).
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(CONFIGS))]
    configs: Vec<String>,
    /// Instead: a soak of this many seconds per configuration (RSS every 5 s).
    #[arg(long, value_name = "SECONDS", conflicts_with_all = ["rounds", "workloads", "configs"])]
    soak: Option<u64>,
    /// Internal: run one configuration and workload in this process.
    #[arg(long, hide = true, num_args = 2..=3, value_names = ["CONFIG", "WORKLOAD", "ARG"])]
    child: Option<Vec<String>>,
}

fn main() {
    use clap::Parser as _;
    let cli = Cli::parse();
    if let Some(child_args) = &cli.child {
        child(
            &child_args[0],
            &child_args[1],
            child_args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0),
        );
        return;
    }
    let rounds = cli.rounds.max(1);
    let configs: Vec<&str> = CONFIGS
        .iter()
        .copied()
        .filter(|c| {
            *c == "baseline" || cli.configs.is_empty() || cli.configs.iter().any(|w| w == c)
        })
        .collect();
    if let Some(soak) = cli.soak {
        run_soak(soak);
        return;
    }
    let workloads: Vec<&str> = WORKLOADS
        .iter()
        .copied()
        .filter(|w| cli.workloads.is_empty() || cli.workloads.iter().any(|x| x == w))
        .collect();
    println!(
        "machine: {} cores; {} rounds; configurations alternate within each round\n",
        cores(),
        rounds
    );
    for w in workloads {
        // results[config] = per-round (ops/s, peak RSS kB, CPU seconds per op)
        let mut results: Vec<Vec<(f64, u64, f64)>> = vec![Vec::new(); configs.len()];
        for r in 0..rounds {
            for k in 0..configs.len() {
                let c = (k + r) % configs.len();
                results[c].push(run_child(configs[c], w));
                eprint!(".");
            }
        }
        eprintln!();
        println!("{w} ({})", unit(w));
        println!(
            "  {:<20} {:>14} {:>12} {:>12} {:>14} {:>12}",
            "configuration",
            "median ops/s",
            "vs baseline",
            "CPU vs base",
            "peak RSS MB",
            "CPU ns/op"
        );
        for (c, runs) in results.iter().enumerate() {
            let ops: Vec<f64> = runs.iter().map(|x| x.0).collect();
            let (speed, cpu_ratio) = paired(&results[c], &results[0]);
            let hwm = runs.iter().map(|x| x.1).max().unwrap_or(0);
            let cpu: Vec<f64> = runs.iter().map(|x| x.2 * 1e9).collect();
            println!(
                "  {:<20} {:>14.0} {:>11.3}x {:>11.3}x {:>14.1} {:>12.0}",
                configs[c],
                median(&ops),
                speed,
                cpu_ratio,
                hwm as f64 / 1024.0,
                median(&cpu)
            );
        }
        // Side by side, round by round: the new way in against the layer, what dial9
        // adds to a service that already traces, and the other recorders.
        for (a, b) in [
            ("dial9", "dial9-layer"),
            ("service-dial9", "service"),
            ("dial9", "tracing-floor"),
            ("dial9", "console-subscriber"),
        ] {
            let (Some(i), Some(j)) = (
                configs.iter().position(|c| *c == a),
                configs.iter().position(|c| *c == b),
            ) else {
                continue;
            };
            let (speed, cpu) = paired(&results[i], &results[j]);
            println!(
                "  {a} / {b}: throughput {speed:.3}x, by CPU per op {cpu:.3}x (medians of per-round \
                 ratios)"
            );
        }
        println!();
    }
}

/// Medians over rounds of `a`'s throughput over `b`'s, and of `b`'s CPU per op over `a`'s
/// (above 1: `a` is faster, or cheaper), each round against the same round.
fn paired(a: &[(f64, u64, f64)], b: &[(f64, u64, f64)]) -> (f64, f64) {
    let speed: Vec<f64> = a.iter().zip(b).map(|(x, y)| x.0 / y.0).collect();
    let cpu: Vec<f64> = a.iter().zip(b).map(|(x, y)| y.2 / x.2).collect();
    (median(&speed), median(&cpu))
}

fn unit(w: &str) -> &'static str {
    match w {
        "spawn-storm" => "1,000,000 tasks that each yield once; ops = tasks",
        "ping-pong" => "64 task pairs over channels, 5,000 round trips each; ops = round trips",
        "ping-pong-1w" => "the same on one worker: no cross-core effects; ops = round trips",
        "slow-polls" => "200 polls of 20 ms, half asleep, half on a CPU; ops = polls",
        _ => {
            "loopback TCP echo, 50 clients x 2,000 64-byte round trips, 2 workers; ops = round trips"
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn run_child(config: &str, workload: &str) -> (f64, u64, f64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--child", config, workload])
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "{config} {workload} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let field = |k: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    (
        field("ops") / field("secs"),
        field("hwm_kb") as u64,
        field("cpu_s") / field("ops"),
    )
}

fn run_soak(secs: u64) {
    for config in [
        "baseline",
        "tracing-floor",
        "dial9-hooks-only",
        "dial9",
        "dial9-stacks",
    ] {
        soak_one(config, secs);
    }
}

fn soak_one(config: &str, secs: u64) {
    println!(
        "soak: {config} on TCP echo + spawn bursts + 20 ms polls for {secs} s (RSS every 5 s)"
    );
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args(["--child", config, "soak", &secs.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = c.stdout.take().unwrap();
    use std::io::BufRead;
    let mut samples = Vec::new();
    let mut line_out = String::new();
    for line in std::io::BufReader::new(out).lines() {
        let line = line.unwrap();
        if let Some(kb) = line
            .split("rss_kb=")
            .nth(1)
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            samples.push(kb);
            line_out.push_str(&format!(" {:.1}", kb as f64 / 1024.0));
        }
    }
    c.wait().unwrap();
    println!("  RSS MB:{line_out}");
    if samples.len() > 3 {
        let settled = &samples[2..];
        let (lo, hi) = (settled.iter().min().unwrap(), settled.iter().max().unwrap());
        println!(
            "  after 10 s: min {:.1} MB, max {:.1} MB, growth {:.1} MB\n",
            *lo as f64 / 1024.0,
            *hi as f64 / 1024.0,
            (hi - lo) as f64 / 1024.0
        );
    }
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// User and system CPU time of this process so far, all threads.
fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` fills the struct it is given; zeroed is a valid `rusage`.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// Sets up `config` in this (child) process and returns the runtime.
fn setup(config: &str, workload: &str) -> (tokio::runtime::Runtime, Box<dyn std::any::Any>) {
    use tracing_subscriber::prelude::*;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let workers = if workload == "ping-pong-1w" { 1 } else { 2 };
    builder.worker_threads(workers).enable_all();
    let keep: Box<dyn std::any::Any> = match config {
        "baseline" => Box::new(()),
        "dial9" | "dial9-layer" | "dial9-no-cpustat" | "dial9-no-watchdog" | "dial9-stacks"
        | "dial9-hooks-only" | "dial9-hooks-sched" | "service-dial9" => {
            let mut b = dial9_recorder::FlightRecorder::builder()
                .install_panic_hook(false)
                .schedule_latency(config == "dial9-hooks-sched")
                .cpu_stats(config != "dial9-no-cpustat");
            if config == "dial9-no-watchdog" {
                b = b.watchdog(None);
            }
            if config == "dial9-stacks" {
                b = b.stacks(true);
            }
            let rec = b.build().unwrap();
            match config {
                "dial9-hooks-only" | "dial9-hooks-sched" => {}
                "dial9-layer" => tracing_subscriber::registry().with(rec.layer()).init(),
                "service-dial9" => rec.subscriber(service_subscriber()).init(),
                // No subscriber of the service's own: the recorder wraps one that takes
                // nothing (a bare registry would take every callsite).
                _ => rec
                    .subscriber(tracing::subscriber::NoSubscriber::default())
                    .init(),
            }
            rec.instrument(&mut builder);
            Box::new(rec)
        }
        "service" => {
            service_subscriber().init();
            Box::new(())
        }
        // The floor of any tracing-layer design: the registry plus a layer that does
        // nothing, interested in exactly the callsites dial9's layer reads.
        "tracing-floor" | "floor-with-hooks" => {
            struct Noop;
            impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Noop {}
            tracing_subscriber::registry()
                .with(Noop.with_filter(dial9_recorder::TokioOnly))
                .init();
            if config == "floor-with-hooks" {
                let rec = dial9_recorder::FlightRecorder::builder()
                    .install_panic_hook(false)
                    .build()
                    .unwrap();
                rec.instrument(&mut builder);
                return (builder.build().unwrap(), Box::new(rec));
            }
            Box::new(())
        }
        "console-subscriber" => {
            let layer = console_subscriber::ConsoleLayer::builder().spawn();
            tracing_subscriber::registry().with(layer).init();
            Box::new(())
        }
        "json-file" => {
            let path =
                std::env::temp_dir().join(format!("dial9-bench-{}.jsonl", std::process::id()));
            let file = std::fs::File::create(&path).unwrap();
            // Not lossy: every event reaches the file (writers wait when the queue is full).
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .lossy(false)
                .finish(file);
            let filter = tracing_subscriber::filter::Targets::new()
                .with_target("tokio", tracing::Level::TRACE)
                .with_target("runtime", tracing::Level::TRACE);
            tracing_subscriber::registry()
                .with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
                        .with_writer(writer)
                        .with_filter(filter),
                )
                .init();
            Box::new((guard, path))
        }
        other => panic!("unknown configuration {other}"),
    };
    (builder.build().unwrap(), keep)
}

/// A service that already traces: a registry, a global `EnvFilter("info")`, and a `fmt`
/// layer writing its lines to a sink.
fn service_subscriber() -> impl tracing::Subscriber + Send + Sync {
    use tracing_subscriber::prelude::*;
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
}

fn child(config: &str, workload: &str, arg: u64) {
    let (rt, keep) = setup(config, workload);
    if workload == "soak" {
        soak(&rt, arg);
        return;
    }
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let ops = rt.block_on(async {
        match workload {
            "spawn-storm" => spawn_storm(1_000_000).await,
            "ping-pong" | "ping-pong-1w" => ping_pong(64, 5_000).await,
            "tcp-echo" => tcp_echo(50, 2_000).await,
            "slow-polls" => slow_polls(200).await,
            other => panic!("unknown workload {other}"),
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu_start;
    let hwm = status_kb("VmHWM:");
    drop(rt);
    if let Ok((_, path)) = keep
        .downcast::<(
            tracing_appender::non_blocking::WorkerGuard,
            std::path::PathBuf,
        )>()
        .map(|b| *b)
    {
        let _ = std::fs::remove_file(path);
    }
    println!("RESULT ops={ops} secs={secs:.6} hwm_kb={hwm} cpu_s={cpu_s:.6}");
    let _ = std::io::stdout().flush();
}

/// `n` polls of 20 ms each, on both workers (half blocked in a sleep, half on a CPU):
/// what the long-poll watchdog costs when it has polls to look at. Ops = polls.
async fn slow_polls(n: u64) -> u64 {
    let hs: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(async move {
                if i % 2 == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                } else {
                    let until = Instant::now() + Duration::from_millis(20);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.await.unwrap();
    }
    n
}

async fn spawn_storm(n: u64) -> u64 {
    // Spawned from a task, in batches, so a million JoinHandles are never held at once.
    tokio::spawn(async move {
        let batch = 10_000;
        for _ in 0..n / batch {
            let hs: Vec<_> = (0..batch)
                .map(|_| tokio::spawn(async { tokio::task::yield_now().await }))
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        }
    })
    .await
    .unwrap();
    n
}

async fn ping_pong(pairs: u64, trips: u64) -> u64 {
    let mut hs = Vec::new();
    for _ in 0..pairs {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
        tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v + 1).await.is_err() {
                    break;
                }
            }
        });
        hs.push(tokio::spawn(async move {
            for i in 0..trips {
                ping_tx.send(i).await.unwrap();
                pong_rx.recv().await.unwrap();
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    pairs * trips
}

async fn tcp_echo(clients: u64, trips: u64) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    let mut hs = Vec::new();
    for _ in 0..clients {
        hs.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let msg = [7u8; 64];
            let mut buf = [0u8; 64];
            for _ in 0..trips {
                s.write_all(&msg).await.unwrap();
                s.read_exact(&mut buf).await.unwrap();
            }
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    server.abort();
    clients * trips
}

fn soak(rt: &tokio::runtime::Runtime, secs: u64) {
    let start = Instant::now();
    let mut next = Duration::ZERO;
    while start.elapsed() < Duration::from_secs(secs) {
        rt.block_on(tcp_echo(50, 200));
        rt.block_on(spawn_storm(20_000));
        // Frequent 20 ms polls: the watchdog looks at every one of them.
        rt.block_on(slow_polls(20));
        if start.elapsed() >= next {
            println!(
                "t={:>3}s rss_kb={}",
                start.elapsed().as_secs(),
                status_kb("VmRSS:")
            );
            let _ = std::io::stdout().flush();
            next += Duration::from_secs(5);
        }
    }
    println!(
        "t={:>3}s rss_kb={}",
        start.elapsed().as_secs(),
        status_kb("VmRSS:")
    );
}
