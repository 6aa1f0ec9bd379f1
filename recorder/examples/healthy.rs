//! Scenario `healthy`: a busy but healthy service (many short tasks, channels, timers and
//! a loopback TCP echo server with clients). The control: nothing crosses the default
//! critical thresholds. Dumped on request.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;
use support::named;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let out = support::out_path("healthy");
    let (rec, rt) = support::start(&out, |b| b);
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        named("echo-acceptor", async move {
            let mut n = 0;
            while let Ok((mut sock, _)) = listener.accept().await {
                n += 1;
                named(&format!("echo-conn-{n}"), async move {
                    let mut buf = [0u8; 256];
                    while let Ok(k) = sock.read(&mut buf).await {
                        if k == 0 || sock.write_all(&buf[..k]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        for c in 0..6 {
            named(&format!("echo-client-{c}"), async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                let mut buf = [0u8; 64];
                for i in 0u32..200 {
                    s.write_all(&i.to_le_bytes()).await.unwrap();
                    s.read_exact(&mut buf[..4]).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(4)).await;
                }
            });
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(128);
        named("metrics-sink", async move {
            let mut sum = 0;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            sum
        });
        for w in 0..4 {
            let tx = tx.clone();
            named(&format!("job-producer-{w}"), async move {
                for i in 0..400u64 {
                    let h = named("short-job", async move { i * 2 });
                    let v = h.await.unwrap();
                    if tx.send(v).await.is_err() {
                        break;
                    }
                    if i.is_multiple_of(10) {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            });
        }
        drop(tx);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let path = rec.dump_labeled("healthy control").expect("dump");
        println!("{}", path.display());
    });
    rt.shutdown_background();
}
