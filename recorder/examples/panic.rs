//! Scenario `panic`: a small ingest service (dozens of named tasks passing work over
//! channels) where one parser indexes out of bounds on a malformed record. The panic hook
//! writes the dump; the process then exits like any panicking program (status 101).

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;
use support::named;
use tokio::sync::mpsc;

fn main() {
    let out = support::out_path("panic");
    let (_rec, rt) = support::start(&out, |b| b.install_panic_hook(true));
    let result = rt.block_on(async move {
        let (agg_tx, mut agg_rx) = mpsc::channel::<usize>(64);
        let mut parsers = Vec::new();
        let mut handles = Vec::new();
        for p in 0..8 {
            let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
            parsers.push(tx);
            let agg = agg_tx.clone();
            handles.push(named(&format!("record-parser-{p}"), async move {
                while let Some(rec) = rx.recv().await {
                    // Header says how many fields follow; trust it (the bug).
                    let fields = rec[0] as usize;
                    let last_field = rec[fields];
                    let _ = agg.send(last_field as usize).await;
                }
            }));
        }
        drop(agg_tx);
        named("aggregator", async move {
            let mut total = 0usize;
            while let Some(v) = agg_rx.recv().await {
                total += v;
                if total.is_multiple_of(7) {
                    tokio::task::yield_now().await;
                }
            }
            total
        });
        for c in 0..16 {
            let parsers = parsers.clone();
            named(&format!("ingest-conn-{c}"), async move {
                for n in 0u32.. {
                    tokio::time::sleep(Duration::from_millis(3 + (c % 5) as u64)).await;
                    let mut rec = vec![3u8, 1, 2, 3];
                    // Connection 11 eventually sends a record whose header lies.
                    if c == 11 && n == 60 {
                        rec = vec![9u8, 1, 2];
                    }
                    let target = (n as usize + c) % parsers.len();
                    if parsers[target].send(rec).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(parsers);
        for h in handles {
            if let Err(e) = h.await
                && e.is_panic()
            {
                return Err(e.into_panic());
            }
        }
        Ok(())
    });
    if let Err(payload) = result {
        rt.shutdown_background();
        std::panic::resume_unwind(payload);
    }
}
