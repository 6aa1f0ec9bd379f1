//! What recording costs a real service: mini-redis's own CPU time per operation under
//! the same client load, without the recorder, with the runtime hooks only, with the
//! recorder's own subscriber and the hooks (the README's setup), and with its layer and
//! the hooks.
//!
//! Each configuration runs in a process of its own (the tracing subscriber is global),
//! in rotating order each round; the clients run in yet another process, so the server
//! process's CPU time (`getrusage(RUSAGE_SELF)`) is the service's alone. A ratio is the
//! median over rounds of (CPU per operation with the recorder) / (without), both measured
//! in the same round.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dial9_recorder::FlightRecorder;
use tracing_subscriber::prelude::*;

/// `dial9` is the README's setup (the recorder's own subscriber and its hooks),
/// `dial9-layer` the recorder's layer in a registry with its hooks.
const CONFIGS: [&str; 4] = ["none", "hooks-only", "dial9", "dial9-layer"];

/// The parent: `rounds` rounds of every configuration, `seconds` measured each.
pub fn run(rounds: usize, seconds: u64) {
    let exe = std::env::current_exe().expect("own path");
    // Per round, per configuration: (ops/s, CPU µs per op), `None` for a round whose
    // child gave no result (a ratio pairs only rounds both configurations completed).
    let mut by_round: Vec<Vec<Option<(f64, f64)>>> = vec![vec![None; CONFIGS.len()]; rounds];
    for (round, got) in by_round.iter_mut().enumerate() {
        for k in 0..CONFIGS.len() {
            let i = (k + round) % CONFIGS.len();
            let out = std::process::Command::new(&exe)
                .args(["--cost-child", CONFIGS[i], &seconds.to_string()])
                .output()
                .expect("run a configuration");
            let text = String::from_utf8_lossy(&out.stdout);
            let field = |name: &str| -> Option<f64> {
                let line = text.lines().find(|l| l.starts_with("RESULT"))?;
                let v = line.split_whitespace().find_map(|w| w.strip_prefix(name))?;
                v.parse().ok()
            };
            match (field("ops="), field("cpu_us="), field("secs=")) {
                (Some(ops), Some(cpu), Some(secs)) if ops > 0.0 => {
                    got[i] = Some((ops / secs, cpu / ops));
                    eprint!(".");
                }
                _ => eprintln!(
                    "\n{}: no result ({})",
                    CONFIGS[i],
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            }
        }
    }
    eprintln!();
    // Per configuration, per round.
    let got: Vec<Vec<Option<(f64, f64)>>> = (0..CONFIGS.len())
        .map(|i| by_round.iter().map(|r| r[i]).collect())
        .collect();
    let median = |mut v: Vec<f64>| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "mini-redis 0.4.1, {} clients in a child process, 2 workers; {rounds} rounds of {seconds} s",
        super::CLIENTS
    );
    println!("| configuration | ops/s | server CPU per op | CPU per op vs none |");
    println!("|---|---|---|---|");
    for (i, name) in CONFIGS.iter().enumerate() {
        let done: Vec<(f64, f64)> = got[i].iter().flatten().copied().collect();
        println!(
            "| {name} | {:.0}k | {:.2} µs | {:.3}x |",
            median(done.iter().map(|g| g.0).collect()) / 1e3,
            median(done.iter().map(|g| g.1).collect()),
            median(paired_ratios(&got[i], &got[0]))
        );
    }
}

/// CPU per op of `config` over `base`, round by round, for the rounds both completed.
fn paired_ratios(config: &[Option<(f64, f64)>], base: &[Option<(f64, f64)>]) -> Vec<f64> {
    config
        .iter()
        .zip(base)
        .filter_map(|(c, b)| Some(c.as_ref()?.1 / b.as_ref()?.1))
        .collect()
}

/// One configuration's process: the server, a client process, one second of warm-up,
/// then `seconds` measured.
pub fn child(config: &str, seconds: u64) {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    let _recorder = match config {
        "none" => None,
        "hooks-only" | "dial9" | "dial9-layer" => {
            let recorder = FlightRecorder::builder()
                .install_panic_hook(false)
                .build()
                .expect("recorder");
            match config {
                // mini-redis traces its own handlers: with no subscriber of the service's
                // own, the recorder wraps one that takes nothing, as "none" has none.
                "dial9" => recorder
                    .subscriber(tracing::subscriber::NoSubscriber::default())
                    .init(),
                "dial9-layer" => tracing_subscriber::registry().with(recorder.layer()).init(),
                _ => {}
            }
            recorder.instrument(&mut builder);
            Some(recorder)
        }
        other => panic!("unknown configuration {other}"),
    };
    let rt = builder.build().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let _ = mini_redis::server::run(listener, std::future::pending::<()>()).await;
    });
    let ops = Arc::new(AtomicU64::new(0));
    let _clients = super::client_process(addr, ops.clone());
    std::thread::sleep(Duration::from_secs(1));
    let (o0, c0, t0) = (ops.load(Ordering::Relaxed), cpu_us(), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (o1, c1, secs) = (
        ops.load(Ordering::Relaxed),
        cpu_us(),
        t0.elapsed().as_secs_f64(),
    );
    println!(
        "RESULT ops={} cpu_us={} secs={secs:.3}",
        o1.saturating_sub(o0),
        c1.saturating_sub(c0)
    );
    // The client process goes when its stdin closes; the runtime is left to the exit.
    std::process::exit(0);
}

/// This process's user + system CPU time, in microseconds.
fn cpu_us() -> u64 {
    // SAFETY: `getrusage` fills the struct it is given; all-zero is a valid `rusage`.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a `rusage` we own.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0;
    }
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(u.ru_utime) + us(u.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round one configuration lost compares nothing: the others stay paired with
    /// their own round.
    #[test]
    fn a_lost_round_pairs_nothing() {
        let base = [Some((1.0, 10.0)), None, Some((1.0, 30.0))];
        let config = [Some((1.0, 11.0)), Some((1.0, 99.0)), Some((1.0, 33.0))];
        assert_eq!(paired_ratios(&config, &base), [1.1, 1.1]);
    }
}
