//! Scenario `starvation`: CPU-heavy tasks keep both workers busy with long polls while a
//! latency-sensitive task, woken every 10 ms by a timer thread, waits 100+ ms between its
//! wake and its next poll. Dumped on request after ~2 s.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};
use support::{named, spin};

fn main() {
    let out = support::out_path("starvation");
    let (rec, rt) = support::start(&out, |b| b);
    let (tick_tx, mut tick_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    // The timer: a plain thread that ticks every 10 ms, as a metrics or heartbeat timer
    // living outside the runtime would.
    std::thread::Builder::new()
        .name("tick-source".into())
        .spawn(move || {
            while tick_tx.send(Instant::now()).is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
        })
        .unwrap();
    rt.block_on(async move {
        let probe = named("latency-probe", async move {
            let mut worst = Duration::ZERO;
            let mut ticks = 0u32;
            while let Some(sent) = tick_rx.recv().await {
                worst = worst.max(sent.elapsed());
                ticks += 1;
                if ticks >= 150 {
                    break;
                }
            }
            worst
        });
        // Let the probe run alone for a moment: the dump shows it healthy first.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for i in 0..4 {
            named(&format!("image-resize-{i}"), async move {
                loop {
                    // 150 ms of CPU per poll: no await point inside.
                    spin(Duration::from_millis(150));
                    tokio::task::yield_now().await;
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(1800)).await;
        drop(probe);
        let path = rec
            .dump_labeled("starvation scenario: 2 s in")
            .expect("dump");
        println!("{}", path.display());
    });
    // The hogs never finish; don't wait for them.
    rt.shutdown_background();
}
