//! The recorder allocates nothing per task in steady state: a counting global allocator
//! counts every allocation of the process while a runtime spawns tasks that each yield
//! once, with and without the recorder (layer + hooks), after a warm-up. Tokio and the
//! tracing registry allocate the same either way; the difference is the recorder's.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per task while `rt` spawns `n` named tasks (in batches, from one task).
fn per_task(rt: &tokio::runtime::Runtime, n: u64) -> f64 {
    let run = |n: u64| {
        rt.block_on(async move {
            tokio::spawn(async move {
                for batch in 0..n / 100 {
                    let hs: Vec<_> = (0..100)
                        .map(|i| {
                            let name = if (batch + i) % 2 == 0 { "even" } else { "odd" };
                            tokio::task::Builder::new()
                                .name(name)
                                .spawn(async { tokio::task::yield_now().await })
                                .unwrap()
                        })
                        .collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                }
            })
            .await
            .unwrap();
        })
    };
    run(n); // warm-up: lanes, task table slots, spawn sites, slabs
    let before = ALLOCS.load(Ordering::Relaxed);
    run(n);
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / n as f64
}

#[test]
fn the_recorder_allocates_nothing_per_task_in_steady_state() {
    let n = 20_000;
    let plain = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let baseline = per_task(&plain, n);
    drop(plain);
    let (_rec, rt, _guard) = common::harness(65_536);
    let recorded = per_task(&rt, n);
    eprintln!("allocations per task: {recorded:.3} with the recorder, {baseline:.3} without");
    // The tracing registry allocates nothing per span in steady state either (its slab
    // reuses slots), so the difference is the recorder's own.
    assert!(
        recorded - baseline < 0.05,
        "allocations per task: {recorded:.3} with the recorder, {baseline:.3} without"
    );
}
