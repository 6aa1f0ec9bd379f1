//! Prints every event of the tasks an anomaly kind points at, with the analysis's view
//! of them: for looking into a finding by hand.
//!
//! ```sh
//! cargo run -p dial9-tui --example task_events -- DUMP lost-waker
//! ```

use dial9_tui::analysis::{AnomalyKind, Index, Thresholds};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (path, kind) = match (args.get(1), args.get(2).and_then(|k| AnomalyKind::parse(k))) {
        (Some(p), Some(k)) => (p, k),
        _ => {
            eprintln!("usage: task_events DUMP KIND");
            std::process::exit(2);
        }
    };
    let ix = Index::open(path.as_ref(), Thresholds::default(), &mut |_| {}).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    for a in ix.anomalies.iter().filter(|a| a.kind == kind) {
        println!("{} {}", a.severity.as_str(), a.message(&ix));
        let Some(t) = a.task else { continue };
        let task = &ix.tasks[t as usize];
        println!(
            "  task {} state {} live_wakers {:?} (from recorder: {}) alive {}",
            task.id,
            task.state.as_str(),
            task.live_wakers,
            task.wakers_from_recorder,
            task.alive_at_dump
        );
        for e in ix.task_events(t).all(&ix) {
            let ev = &ix.events.at(e as usize);
            println!(
                "  #{e:<6} {:>12} lane {:<3} {:?}",
                dial9_tui::fmt::relative(ev.ts_ns, ix.end_ns),
                ev.lane,
                ev.kind
            );
        }
        let facts = ix.dump.facts.live_wakers.iter().find(|w| w.task == task.id);
        println!("  facts: {facts:?}");
    }
}
