//! The explorer: state, keys -> actions -> state, and the terminal loop.
//!
//! ```text
//! terminal event --keys::from_key--> Action --action::apply--> App (state.rs, with its
//!   Selection, Viewport, TaskTable, Search) --&App--> view::render --> frame
//! ```

pub mod action;
pub mod anomaly_rows;
pub mod keys;
pub mod search;
pub mod state;
pub mod viewport;

pub use action::{Action, apply};
pub use keys::from_key;
pub use search::{Search, SearchHit};
pub use state::{App, Options, Pane, Selection, TaskColumn, TaskTable, TimeMode};
pub use viewport::Viewport;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::analysis::{Index, Thresholds};
use crossterm::event::{self, Event};

/// Loads a dump and builds its index, showing progress on stderr when it takes a while.
/// Runs before the terminal is touched, so an unreadable dump leaves it as it was.
pub fn load(paths: &[PathBuf], thresholds: Thresholds) -> Result<Index, String> {
    let started = Instant::now();
    let show = std::io::stderr().is_terminal();
    let size: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    if show && size > 32 << 20 {
        eprint!("\rdial9-tui: reading {} MB...", size >> 20);
    }
    let mut last = Instant::now();
    // A bar, not a number: at a glance over SSH, how far and how fast.
    let index = crate::load::open(paths, thresholds, &mut |f| {
        if show
            && started.elapsed() > Duration::from_millis(300)
            && last.elapsed() > Duration::from_millis(100)
        {
            last = Instant::now();
            const BAR: usize = 30;
            let done = ((f.clamp(0.0, 1.0) * BAR as f64) as usize).min(BAR);
            eprint!(
                "\rdial9-tui: reading and indexing [{}{}] {:>3.0}%   ",
                "#".repeat(done),
                " ".repeat(BAR - done),
                f * 100.0
            );
            let _ = std::io::stderr().flush();
        }
    })
    .map_err(|e| e.to_string())?;
    if show && started.elapsed() > Duration::from_millis(300) {
        eprint!("\r{:60}\r", "");
    }
    Ok(index)
}

/// Opens the explorer on `path` until the user quits.
pub fn run(paths: &[PathBuf], options: Options, thresholds: Thresholds) -> Result<(), String> {
    let index = load(paths, thresholds)?;
    if !std::io::stdout().is_terminal() {
        return Err(
            "the explorer needs a terminal (for scripts, use `dial9-tui report` or `check`)".into(),
        );
    }
    let mut app = App::new(index, options, crate::load::shown(paths));
    // Installs a panic hook that restores the terminal before the panic message prints.
    let mut terminal =
        ratatui::try_init().map_err(|e| format!("cannot start the terminal UI: {e}"))?;
    restore_on_signals();
    let result = event_loop(&mut terminal, &mut app);
    ratatui::restore();
    result.map_err(|e| format!("terminal error: {e}"))
}

/// SIGTERM, SIGINT sent with `kill`, SIGHUP (the SSH connection dropped) and SIGQUIT would
/// otherwise end the process with the terminal still raw, the cursor hidden and the
/// alternate screen on. A thread waits for them, restores the terminal and exits with
/// 128 + the signal, as a shell expects. After a SIGHUP the terminal is gone: restoring
/// fails quietly and the process still exits instead of spinning on a dead tty.
#[cfg(unix)]
fn restore_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGQUIT])
    else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("dial9-tui-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                ratatui::restore();
                std::process::exit(128 + signal);
            }
        });
    // Without the thread the explorer still works; only these signals stay as they were.
    drop(spawned);
}

/// Elsewhere Ctrl-C arrives as a key (raw mode) and quits through the normal path.
#[cfg(not(unix))]
fn restore_on_signals() {}

fn event_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> std::io::Result<()> {
    let size = terminal.size()?;
    apply(app, Action::Resize(size.width, size.height));
    // Redraw only after input or a resize: nothing changes otherwise, and over a slow
    // SSH link every frame costs.
    terminal.draw(|f| crate::view::render(f, app))?;
    loop {
        let redraw = match event::read()? {
            Event::Key(key) => match from_key(app, key) {
                Some(action) => {
                    apply(app, action);
                    true
                }
                None => false,
            },
            Event::Resize(w, h) => {
                apply(app, Action::Resize(w, h));
                true
            }
            _ => false,
        };
        if app.quit() {
            return Ok(());
        }
        if redraw {
            terminal.draw(|f| crate::view::render(f, app))?;
        }
    }
}
