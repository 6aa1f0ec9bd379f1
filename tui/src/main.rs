fn main() { eprintln!("dial9-tui: not built yet"); std::process::exit(2) }
