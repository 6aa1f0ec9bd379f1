//! Scenario `long-poll`: a request handler calls blocking code (a synchronous sleep
//! standing in for a blocking DNS lookup) inside a poll for 350 ms, holding its worker
//! while other tasks queued on that worker wait. Dumped on request.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;
use support::named;

fn main() {
    let out = support::out_path("long-poll");
    let (rec, rt) = support::start(&out, |b| b);
    rt.block_on(async move {
        for i in 0..4 {
            named(&format!("session-ticker-{i}"), async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5 + i)).await;
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for req in 0..6u32 {
            named(&format!("http-request-{req}"), async move {
                tokio::time::sleep(Duration::from_millis(3)).await;
                if req == 3 {
                    // The bug: blocking call inside async code.
                    std::thread::sleep(Duration::from_millis(350));
                }
                tokio::task::yield_now().await;
            })
            .await
            .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let path = rec.dump_labeled("long-poll scenario").expect("dump");
        println!("{}", path.display());
    });
    rt.shutdown_background();
}
