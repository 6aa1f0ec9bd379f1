//! dial9's diagnosis on a real service nobody here wrote: mini-redis 0.4.1 (the Tokio
//! tutorial's Redis server, from the crates registry) in a 2-worker runtime set up as the
//! README says, 50 clients doing SET/GET, the host kept busy by other processes, dumps by
//! SIGUSR1 and `dump_labeled()`. Then two planted faults: a 200 ms blocking call inside a
//! poll, and a future that drops its waker and waits forever.
//!
//! ```sh
//! cargo run --release -p dial9-validate                 # 6 healthy dumps, 2 with faults
//! cargo run --release -p dial9-validate -- --healthy 10 --busy 2
//! cargo run --release -p dial9-validate -- --unfolded   # one record per event (the old window)
//! cargo run --release -p dial9-validate -- --no-watchdog   # or --stacks: what they cost
//! cargo run --release -p dial9-validate -- --cost 5 --seconds-between 5   # CPU per op
//! cargo run --release -p dial9-validate -- --help
//! ```
//!
//! The clients run in a child process (a service's clients are elsewhere; in-process they
//! would be recorded too, through the global tracing layer): `--clients-in-process` keeps
//! them in, on a runtime without hooks.
//!
//! Prints one row per dump: critical anomalies on healthy dumps (must be 0), and the
//! rank of each planted fault among the groups of its kind (must be 1), with the verdict.

mod cost;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dial9_recorder::FlightRecorder;
use dial9_tui::analysis::{AnomalyKind, Index, Severity, Thresholds};
use tracing_subscriber::prelude::*;

const CLIENTS: usize = 50;

/// dial9's diagnosis on mini-redis under client load on a busy host: healthy dumps
/// (critical anomalies must be 0), then dumps with planted faults (each must rank first
/// of its kind).
#[derive(clap::Parser)]
#[command(name = "validate", version)]
struct Args {
    /// Healthy dumps to take.
    #[arg(long, default_value_t = 6)]
    healthy: usize,
    /// Busy processes keeping the host's CPUs taken.
    #[arg(long, default_value_t = 2)]
    busy: usize,
    /// Seconds of load before each dump (and of each `--cost` round).
    #[arg(long, default_value_t = 2)]
    seconds_between: u64,
    /// Copy the first dump with the faults planted here (`sample-dumps/mini-redis.bin`).
    #[arg(long, value_name = "PATH")]
    save: Option<PathBuf>,
    /// Ring capacity (records).
    #[arg(long, default_value_t = 65_536)]
    capacity: usize,
    /// Instead of the diagnosis table: how much dumps delay the service's workers.
    #[arg(long)]
    stall: bool,
    /// One record per event (`Builder::__unfolded`): the baseline window.
    #[arg(long)]
    unfolded: bool,
    /// The long-poll watchdog off (`Builder::watchdog(None)`), to measure what it costs.
    #[arg(long)]
    no_watchdog: bool,
    /// Stack capture on (`Builder::stacks(true)`).
    #[arg(long, conflicts_with = "no_watchdog")]
    stacks: bool,
    /// The recorder's layer in a registry (`FlightRecorder::layer`) instead of its own
    /// subscriber.
    #[arg(long)]
    layer: bool,
    /// The clients in this process, on a runtime without hooks.
    #[arg(long)]
    clients_in_process: bool,
    /// Instead of the diagnosis table: the server's CPU per operation in this many rounds
    /// of each configuration (`--seconds-between` seconds each).
    #[arg(long, value_name = "ROUNDS")]
    cost: Option<usize>,
    /// Internal: run as the client process against this address.
    #[arg(long, hide = true, value_name = "ADDR")]
    client_of: Option<String>,
    /// Internal: run one configuration of the cost measurement for some seconds.
    #[arg(long, hide = true, num_args = 2, value_names = ["CONFIG", "SECONDS"])]
    cost_child: Option<Vec<String>>,
}

/// A future that takes its waker, drops it, and waits forever: the lost-waker bug of a
/// hand-written future (a waker slot overwritten, a cancelled branch holding the only
/// clone).
struct DropsItsWaker;

impl Future for DropsItsWaker {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let w = cx.waker().clone();
        drop(w);
        Poll::Pending
    }
}

/// Other processes keeping the host's CPUs busy, as on a shared production host.
struct Busy(Vec<std::process::Child>);

impl Busy {
    fn start(n: usize) -> Busy {
        Busy(
            (0..n)
                .map(|_| {
                    std::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("sh")
                })
                .collect(),
        )
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn newest_dump(dir: &Path, after: &[PathBuf]) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin") && !after.contains(p))
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

struct Row {
    label: String,
    window: String,
    /// Milliseconds of window per MiB of ring.
    ms_per_mib: f64,
    events: usize,
    records: u64,
    rate: f64,
    critical: usize,
    warning: usize,
    host: usize,
    planted: String,
    verdict: String,
}

fn analyse(label: &str, path: &Path, planted: &[(&str, AnomalyKind)]) -> Row {
    let dump = dial9_format::Dump::read(path).expect("read dump");
    let ix = Index::build(dump, Thresholds::default());
    let crit = ix
        .anomalies
        .iter()
        .filter(|a| a.severity == Severity::Critical)
        .count();
    let warn = ix
        .anomalies
        .iter()
        .filter(|a| a.severity == Severity::Warning)
        .count();
    let host = ix.anomalies.iter().filter(|a| a.host_contention).count();
    let mut found = Vec::new();
    for (name, kind) in planted {
        let of_kind: Vec<_> = ix.groups.iter().filter(|g| g.kind == *kind).collect();
        let rank = of_kind.iter().position(|g| g.subject == *name);
        found.push(match rank {
            Some(r) => format!(
                "{name} {}: #{} of {} ({})",
                kind.as_str(),
                r + 1,
                of_kind.len(),
                of_kind[r].severity.as_str()
            ),
            None => format!("{name} {}: MISSED", kind.as_str()),
        });
    }
    let window_s = ix.window_ns() as f64 / 1e9;
    let h = &ix.dump.header;
    let records = h.recorded_total - h.overwritten - h.torn_skipped;
    let mib =
        (h.capacity * dial9_format::ring_codec::BLOCK_BYTES as u64 / 64) as f64 / (1 << 20) as f64;
    Row {
        label: label.into(),
        window: dial9_tui::fmt::duration(ix.window_ns()),
        ms_per_mib: if h.overwritten > 0 {
            window_s * 1e3 / mib
        } else {
            f64::NAN
        },
        events: ix.event_count(),
        records,
        rate: ix.event_count() as f64 / window_s.max(1e-9),
        critical: crit,
        warning: warn,
        host,
        planted: found.join("; "),
        verdict: ix.verdict.clone(),
    }
}

/// The client process: 50 connections doing SET/GET against `addr`, printing the total
/// operations done every 100 ms; it exits when its parent closes its stdin.
fn clients(addr: std::net::SocketAddr) {
    let rt = client_runtime();
    let ops = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    spawn_clients(&rt, addr, ops.clone(), running);
    std::thread::spawn(|| {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
        std::process::exit(0);
    });
    loop {
        std::thread::sleep(Duration::from_millis(100));
        println!("{}", ops.load(Ordering::Relaxed));
    }
}

/// The clients' runtime: two workers, no recorder hooks.
fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn spawn_clients(
    rt: &tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    ops: Arc<AtomicU64>,
    running: Arc<AtomicBool>,
) {
    for c in 0..CLIENTS {
        let ops = ops.clone();
        let running = running.clone();
        rt.spawn(async move {
            let mut client = loop {
                match mini_redis::client::connect(addr).await {
                    Ok(cl) => break cl,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            };
            let mut i = 0u64;
            while running.load(Ordering::Relaxed) {
                let key = format!("k{c}-{}", i % 64);
                if client
                    .set(&key, bytes::Bytes::from(vec![b'x'; 64]))
                    .await
                    .is_err()
                    || client.get(&key).await.is_err()
                {
                    break;
                }
                ops.fetch_add(2, Ordering::Relaxed);
                i += 1;
            }
        });
    }
}

/// The client process against `addr`, its running total of operations kept in `ops`;
/// it ends when the returned handle is dropped (or this process exits).
fn client_process(addr: std::net::SocketAddr, ops: Arc<AtomicU64>) -> Busy {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--client-of", &addr.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the client process");
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(n) = line.trim().parse() {
                ops.store(n, Ordering::Relaxed);
            }
        }
    });
    Busy(vec![child])
}

fn main() {
    let a = <Args as clap::Parser>::parse();
    if let Some(addr) = &a.client_of {
        clients(addr.parse().expect("a socket address"));
        return;
    }
    if let Some(child) = &a.cost_child {
        let seconds = child[1].parse().expect("seconds");
        cost::child(&child[0], seconds);
        return;
    }
    if let Some(rounds) = a.cost {
        cost::run(rounds, a.seconds_between);
        return;
    }
    let dir = std::env::temp_dir().join(format!("dial9-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let recorder = install(&a, &dir);
    let server_rt = recorder
        .instrument(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all(),
        )
        .build()
        .unwrap();
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(tokio::sync::Notify::new());
    let stop2 = stop.clone();
    server_rt.spawn(async move {
        let _ = mini_redis::server::run(listener, stop2.notified()).await;
    });

    // Clients in a process of their own (or, with --clients-in-process, a runtime of
    // their own without hooks): 50 connections doing SET/GET.
    let client_rt = client_runtime();
    let ops = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let _client_process = if a.clients_in_process {
        spawn_clients(&client_rt, addr, ops.clone(), running.clone());
        None
    } else {
        Some(client_process(addr, ops.clone()))
    };
    let _busy = Busy::start(a.busy);
    std::thread::sleep(Duration::from_secs(1));
    if a.stall {
        stall_test(&recorder, &server_rt, a.capacity);
    } else {
        let mut seen = Vec::new();
        let mut rows = healthy_rows(&a, &recorder, &dir, &ops, &mut seen);
        let dump_ms = planted_rows(&a, &recorder, &server_rt, &dir, &mut seen, &mut rows);
        print_rows(&a, &rows, dump_ms, &dir);
    }
    running.store(false, Ordering::Relaxed);
    stop.notify_waiters();
    client_rt.shutdown_timeout(Duration::from_secs(1));
    server_rt.shutdown_timeout(Duration::from_secs(1));
}

/// The README's setup: the recorder, wrapping the service's own logging.
fn install(a: &Args, dir: &Path) -> FlightRecorder {
    let builder = if a.unfolded {
        FlightRecorder::builder().__unfolded()
    } else {
        FlightRecorder::builder()
    };
    let builder = if a.no_watchdog {
        builder.watchdog(None)
    } else {
        builder.stacks(a.stacks)
    };
    let recorder = builder
        .capacity(a.capacity)
        .install_panic_hook(true)
        .dump_on_signal(libc::SIGUSR1)
        .dump_path(dir.join("redis-{pid}-{time}.bin").to_string_lossy())
        .build()
        .expect("recorder");
    // The service's own logging, as a service has it; the recorder wraps it.
    fn logging<S>() -> impl tracing_subscriber::Layer<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::filter::LevelFilter::WARN)
    }
    if a.layer {
        tracing_subscriber::registry()
            .with(recorder.layer())
            .with(logging())
            .init();
    } else {
        recorder
            .subscriber(tracing_subscriber::registry().with(logging()))
            .init();
    }
    recorder
}

/// Sends SIGUSR1, as an operator would (the signal thread writes the dump), and waits
/// for the dump that is not one of `seen`.
fn dump_on_signal(dir: &Path, seen: &[PathBuf]) -> PathBuf {
    unsafe { libc::raise(libc::SIGUSR1) };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(p) = newest_dump(dir, seen) {
            std::thread::sleep(Duration::from_millis(50));
            return p;
        }
        assert!(Instant::now() < deadline, "no dump after SIGUSR1");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `--healthy` dumps of the service under load, by SIGUSR1 and `dump_labeled` in turn,
/// each `--seconds-between` after the last, analysed.
fn healthy_rows(
    a: &Args,
    recorder: &FlightRecorder,
    dir: &Path,
    ops: &AtomicU64,
    seen: &mut Vec<PathBuf>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for i in 0..a.healthy {
        let t0 = Instant::now();
        let o0 = ops.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(a.seconds_between));
        let rate = (ops.load(Ordering::Relaxed) - o0) as f64 / t0.elapsed().as_secs_f64();
        let path = if i % 2 == 0 {
            dump_on_signal(dir, seen)
        } else {
            recorder.dump_labeled(&format!("healthy {i}")).unwrap()
        };
        seen.push(path.clone());
        let mut row = analyse(
            &format!("healthy {} ({:.0} ops/s)", i + 1, rate),
            &path,
            &[],
        );
        row.label = format!(
            "healthy {} via {} ({:.1}k ops/s)",
            i + 1,
            if i % 2 == 0 {
                "SIGUSR1"
            } else {
                "dump_labeled"
            },
            rate / 1e3
        );
        rows.push(row);
    }
    rows
}

/// Plants a lost waker and a blocking poll in the service's own runtime, dumps at once
/// and again by SIGUSR1 later, and adds both analyses to `rows`; returns how long the
/// first dump took, in ms.
fn planted_rows(
    a: &Args,
    recorder: &FlightRecorder,
    server_rt: &tokio::runtime::Runtime,
    dir: &Path,
    seen: &mut Vec<PathBuf>,
    rows: &mut Vec<Row>,
) -> f64 {
    server_rt.spawn(async {
        tokio::task::Builder::new()
            .name("planted-lost-waker")
            .spawn(DropsItsWaker)
            .unwrap()
            .await
            .ok();
    });
    std::thread::sleep(Duration::from_millis(500));
    server_rt.spawn(async {
        tokio::task::Builder::new()
            .name("planted-block")
            .spawn(async {
                tokio::task::yield_now().await;
                // The bug: a blocking call inside async code.
                std::thread::sleep(Duration::from_millis(200));
            })
            .unwrap()
            .await
            .ok();
    });
    // Dump soon after the blocking poll ended: at this load the default ring holds only
    // the last ~100 ms (see the window column).
    std::thread::sleep(Duration::from_millis(260));
    let planted = [
        ("planted-block", AnomalyKind::LongPoll),
        ("planted-lost-waker", AnomalyKind::LostWaker),
    ];
    let t0 = Instant::now();
    let path = recorder.dump_labeled("faults planted").unwrap();
    let dump_ms = t0.elapsed().as_secs_f64() * 1e3;
    rows.push(analyse("faults planted, dump_labeled", &path, &planted));
    if let Some(save) = &a.save {
        std::fs::copy(&path, save).expect("save the dump");
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(save, std::fs::Permissions::from_mode(0o644));
    }
    seen.push(path);
    let path = dump_on_signal(dir, seen);
    // By now the blocking poll may have left the window: only the lost waker must stay.
    rows.push(analyse(
        "faults planted, SIGUSR1 later",
        &path,
        &[("planted-lost-waker", AnomalyKind::LostWaker)],
    ));
    dump_ms
}

/// The table of dumps and their analyses, their verdicts, and the run's outcome.
fn print_rows(a: &Args, rows: &[Row], dump_ms: f64, dir: &Path) {
    println!(
        "mini-redis 0.4.1, {CLIENTS} clients ({}), 2 workers, {} busy processes on {} CPUs, {}; dumps in {}",
        if a.clients_in_process {
            "in process, on a runtime without hooks"
        } else {
            "in a child process"
        },
        a.busy,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        match (a.unfolded, a.no_watchdog, a.stacks) {
            (true, _, _) => "one record per event (--unfolded)",
            (_, true, _) => "polls folded, no watchdog",
            (_, _, true) => "polls folded, watchdog with stacks",
            _ => "polls folded, watchdog",
        },
        dir.display()
    );
    println!(
        "| dump | window | ms per MiB | events in records (events per s) | critical | warning | host contention | planted fault: rank in its kind |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {} in {} ({:.0}k/s) | {} | {} | {} | {} |",
            r.label,
            r.window,
            r.ms_per_mib,
            r.events,
            r.records,
            r.rate / 1e3,
            r.critical,
            r.warning,
            r.host,
            if r.planted.is_empty() {
                "-"
            } else {
                &r.planted
            }
        );
    }
    println!();
    for r in rows {
        println!("{}: {}", r.label, r.verdict);
    }
    let healthy_crit: usize = rows.iter().take(a.healthy).map(|r| r.critical).sum();
    let missed = rows
        .iter()
        .any(|r| r.planted.contains("MISSED") || r.planted.contains(": #2"));
    println!(
        "dump_labeled() under this load took {dump_ms:.1} ms ({}-record ring)",
        a.capacity
    );
    println!(
        "\nhealthy dumps: {healthy_crit} critical in all (must be 0); planted faults: {}",
        if missed {
            "NOT all found first"
        } else {
            "all found first of their kind"
        }
    );
}

/// How late a 1 ms ticker on the service's own runtime runs, in the second before each of
/// five dumps and during them: a dump must never stall the workers (it reads the ring
/// and the task table without locks; it locks each overflow-table shard only to copy it).
fn stall_test(recorder: &FlightRecorder, rt: &tokio::runtime::Runtime, capacity: usize) {
    let worst = Arc::new(AtomicU64::new(0));
    let w = worst.clone();
    rt.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Instant::now();
        loop {
            tick.tick().await;
            let now = Instant::now();
            let late = now.duration_since(last).as_micros() as u64;
            w.fetch_max(late.saturating_sub(1000), Ordering::Relaxed);
            last = now;
        }
    });
    // Fill the ring first.
    std::thread::sleep(Duration::from_secs(3));
    let (mut quiet, mut dumping, mut took) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..5 {
        worst.store(0, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(1000));
        quiet.push(worst.swap(0, Ordering::Relaxed));
        let t0 = Instant::now();
        let path = recorder.dump_labeled(&format!("stall {i}")).unwrap();
        took.push(t0.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(5));
        dumping.push(worst.swap(0, Ordering::Relaxed));
        let _ = std::fs::remove_file(path);
    }
    let med = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let mut tookm = took.clone();
    tookm.sort_by(f64::total_cmp);
    println!(
        "{capacity}-record ring under load: dump_labeled() took {:.0} ms (median of 5; {:.0}-{:.0})",
        tookm[2], tookm[0], tookm[4]
    );
    println!(
        "1 ms ticker on the service's runtime, worst lateness: {} µs in a second without a dump \
         (median of 5, {:?}), {} µs across a dump (median of 5, {:?})",
        med(&mut quiet.clone()),
        quiet,
        med(&mut dumping.clone()),
        dumping
    );
}
