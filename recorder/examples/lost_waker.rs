//! Scenario `lost-waker`: a hand-written notification with a single waker slot. Two tasks
//! wait on it; the second overwrites (drops) the first one's waker, so when the flag is
//! set only the second wakes and `config-reloader` hangs forever with no live waker,
//! while the rest of the service keeps working. Dumped by SIGUSR1, which the program
//! sends to itself as an operator would.

#[path = "support/mod.rs"]
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use support::named;

/// The bug: one slot for the waker, so a second waiter silently replaces the first.
#[derive(Default)]
struct ReadyFlag {
    set: AtomicBool,
    waiter: Mutex<Option<Waker>>,
}

impl ReadyFlag {
    fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        if let Some(w) = self.waiter.lock().unwrap().take() {
            w.wake();
        }
    }
    fn wait(self: &Arc<Self>) -> Wait {
        Wait(self.clone())
    }
}

struct Wait(Arc<ReadyFlag>);

impl Future for Wait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.set.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        // Replaces (and drops) whatever waker was stored before.
        *self.0.waiter.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn main() {
    let out = support::out_path("lost-waker");
    let (_rec, rt) = support::start(&out, |b| b.dump_on_signal(libc::SIGUSR1));
    rt.block_on(async move {
        let flag = Arc::new(ReadyFlag::default());
        let f = flag.clone();
        named("config-reloader", async move {
            f.wait().await;
            println!("config reloaded"); // never printed
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let f = flag.clone();
        named("cache-warmer", async move {
            f.wait().await;
        });
        // The rest of the service keeps working.
        named("heartbeat", async {
            loop {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        });
        for i in 0..3 {
            named(&format!("request-worker-{i}"), async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(7 + i)).await;
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    named("db-query", async move {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        let _ = tx.send(42u32);
                    });
                    let _ = rx.await;
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        named("config-source", async move { flag.set() });
        tokio::time::sleep(Duration::from_millis(700)).await;
        // The operator notices the stuck reload and asks for a dump.
        // SAFETY: raising a signal we registered a handler for.
        unsafe { libc::raise(libc::SIGUSR1) };
        for _ in 0..500 {
            if out.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        println!("{}", out.display());
    });
    rt.shutdown_background();
}
