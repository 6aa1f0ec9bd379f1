//! Writes a synthetic dump: `cargo run --release -p dial9-tui --example synth_dump -- EVENTS PATH`
//! (e.g. `10000000 /tmp/10m.bin`). See `synth/mod.rs` for the mix.

mod synth;

fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let path = args.next().unwrap_or_else(|| "synthetic.bin".into());
    let dump = synth::generate(events);
    std::fs::write(&path, dump.to_bytes().unwrap()).expect("write");
    println!(
        "{path}: {} events, {} tasks",
        dump.events.len(),
        dump.tasks.len()
    );
}
