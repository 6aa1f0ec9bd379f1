//! Scenario `why-slow`: five polls of about 150 ms each, slow for five different reasons,
//! one after another on a two-worker runtime, so the watchdog's looks say what each
//! thread was doing:
//!
//! - `sleeps-in-poll`: `std::thread::sleep` inside async code (blocked in
//!   `clock_nanosleep`);
//! - `cpu-bound`: a computation that never yields (on a CPU the whole time);
//! - `waits-on-mutex`: a `std::sync::Mutex` another thread holds (blocked in `futex`);
//! - `blocking-read`: a blocking `std::net::TcpStream` read from a slow peer (blocked in a
//!   socket read);
//! - `starved-by-host`: a short computation while more threads than CPUs spin outside the
//!   runtime (runnable, waiting for a CPU: host contention).
//!
//! Stacks on (`Builder::stacks`): each slow poll also says where in the code it was, in a
//! function of its own here. Dumped on request after the last one.

#[path = "support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{named, spin};

const SLOW: Duration = Duration::from_millis(150);

fn main() {
    let out = support::out_path("why-slow");
    let (rec, rt) = support::start(&out, |b| b.stacks(true));
    rt.block_on(async move {
        // Background work, so the dump has a service around the slow polls.
        for i in 0..3u64 {
            named(&format!("ticker-{i}"), async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(4 + i)).await;
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;

        // The bug: a synchronous sleep (or any blocking call) inside async code.
        run("sleeps-in-poll", sleep_in_handler).await;

        // A computation that never yields.
        run("cpu-bound", compute_checksum).await;

        // A std mutex held by another thread for the whole time.
        let lock = Arc::new(Mutex::new(0u64));
        let held = lock.clone();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let mut guard = held.lock().unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(SLOW);
            *guard += 1;
        });
        locked_rx.recv().unwrap();
        run("waits-on-mutex", move || update_shared_counter(&lock)).await;
        holder.join().unwrap();

        // A blocking socket read from a peer that answers late.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            std::thread::sleep(SLOW);
            s.write_all(b"late answer").unwrap();
        });
        run("blocking-read", move || read_from_slow_peer(addr)).await;
        peer.join().unwrap();

        // More spinning threads than CPUs: a short computation waits for a CPU.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hogs: Vec<_> = (0..cpus * 3)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        spin(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        run("starved-by-host", crunch_while_the_host_is_busy).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for h in hogs {
            h.join().unwrap();
        }

        tokio::time::sleep(Duration::from_millis(100)).await;
        let path = rec.dump_labeled("why-slow scenario").expect("dump");
        println!("{}", path.display());
    });
    rt.shutdown_background();
}

// The planted bugs, each in a function of its own so the stacks name them.

// (Each ends in `black_box` so the compiler cannot turn its last call into a jump,
// which would leave it out of the stack.)

#[inline(never)]
fn sleep_in_handler() {
    std::thread::sleep(SLOW);
    std::hint::black_box(());
}

#[inline(never)]
fn compute_checksum() {
    std::hint::black_box(spin(SLOW));
}

#[inline(never)]
fn update_shared_counter(lock: &Mutex<u64>) {
    *lock.lock().unwrap() += 1;
    std::hint::black_box(());
}

#[inline(never)]
fn read_from_slow_peer(addr: std::net::SocketAddr) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut buf = [0u8; 16];
    let _ = s.read(&mut buf).unwrap();
    std::hint::black_box(buf);
}

#[inline(never)]
fn crunch_while_the_host_is_busy() {
    // About 25 ms of work; with three spinners a CPU it takes several times that.
    let until = Instant::now() + SLOW;
    let mut done = 0u64;
    while done < 25 && Instant::now() < until {
        let t = cpu_time();
        while cpu_time() - t < Duration::from_millis(1) {
            std::hint::black_box(spin(Duration::from_micros(50)));
        }
        done += 1;
    }
    std::hint::black_box(done);
}

/// Runs `f` inside one poll of a task named `name`, and waits for it.
async fn run(name: &str, f: impl FnOnce() + Send + 'static) {
    named(name, async move {
        tokio::task::yield_now().await;
        f();
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
}

/// This thread's CPU time.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer; the thread CPU clock always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
