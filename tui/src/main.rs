//! `dial9-tui`: open a dump in the explorer, or `report` / `check` it headless.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use dial9_format::Dump;
use dial9_tui::analysis::{AnomalyKind, Index, Thresholds};
use dial9_tui::cli::{check, report};
use dial9_tui::fmt::{parse_duration, sanitize};
use dial9_tui::load::{self, LoadError};

/// Explore a dial9 flight-recorder dump of a Tokio runtime.
///
/// `dial9-tui DUMP` opens the explorer; `dial9-tui report DUMP` and `dial9-tui check DUMP`
/// work without a terminal, for scripts and CI.
#[derive(Parser)]
#[command(
    name = "dial9-tui",
    version = version(),
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit status: 0 ok, 1 check found violations, 2 the dump cannot be read or bad usage."
)]
struct Cli {
    /// The dump to open in the explorer (or a dial9 trace: its segment files, or their
    /// directory).
    dump: Vec<PathBuf>,
    #[command(flatten)]
    view: ViewArgs,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Open the dump in the explorer (the same as `dial9-tui DUMP`).
    Open {
        #[arg(required = true)]
        dump: Vec<PathBuf>,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        thresholds: ThresholdArgs,
    },
    /// Describe the dump: reason, window, anomalies ranked, top tasks, worker busy share.
    Report {
        #[arg(required = true)]
        dump: Vec<PathBuf>,
        /// One JSON document instead of text (fields documented in docs/headless.md).
        #[arg(long)]
        json: bool,
        /// Anomalies listed in the text report.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        thresholds: ThresholdArgs,
    },
    /// Write the dump for another tool: `--perfetto` writes a Perfetto trace, which
    /// ui.perfetto.dev opens in the browser without uploading it: a track per lane, polls
    /// as slices named after their task, wakes as arrows to the poll they led to,
    /// anomalies as instants.
    Export {
        /// A Perfetto trace (protobuf TrackEvents).
        #[arg(long, required = true)]
        perfetto: bool,
        #[arg(required = true)]
        dump: Vec<PathBuf>,
        /// The file to write (never overwritten if it exists).
        #[arg(short, long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        thresholds: ThresholdArgs,
    },
    /// Turn a crash-surviving ring file (`*.ring`), or a dump of an older format version,
    /// into a dump file of the current format.
    Convert {
        ring: PathBuf,
        /// The dump to write (never overwritten if it exists).
        out: PathBuf,
    },
    /// List the crash-surviving rings (`dial9-*.ring`) in /dev/shm and the temp directory
    /// (or in DIR): which program, whether it is still running, died, or exited cleanly.
    ListRings {
        /// Look here instead.
        dir: Option<PathBuf>,
    },
    /// Pass/fail: exit 0 when clean, 1 when a threshold is crossed, 2 when unreadable.
    Check {
        #[arg(required = true)]
        dump: Vec<PathBuf>,
        /// Longest acceptable poll (the same as --long-poll-crit).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        max_poll: Option<u64>,
        /// Longest acceptable wait between a wake and the poll it leads to (the same as
        /// --sched-crit).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        max_sched_delay: Option<u64>,
        #[command(flatten)]
        thresholds: ThresholdArgs,
        /// Do not fail on this kind of anomaly (repeatable): long-poll, scheduling-delay,
        /// lost-waker, poll-in-progress, self-wake-storm, worker-stall.
        #[arg(long, value_name = "KIND", value_parser = parse_kind)]
        allow: Vec<AnomalyKind>,
        /// Groups of violations listed (a line per kind and task, as the report groups
        /// anomalies).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// List every violation on a line of its own instead of grouping them.
        #[arg(long, conflicts_with = "limit")]
        all: bool,
    },
}

#[derive(Args, Clone, Copy)]
struct ViewArgs {
    /// Draw with ASCII only (for terminals without Unicode block characters).
    #[arg(long)]
    ascii: bool,
    /// No colours (also when the NO_COLOR environment variable is set).
    #[arg(long)]
    no_color: bool,
}

/// The detection thresholds, the same flags on every command that analyses a dump.
#[derive(Args, Clone, Copy)]
struct ThresholdArgs {
    /// Long poll: warning from this duration.
    #[arg(long, value_name = "DURATION", default_value = "10ms", value_parser = parse_duration)]
    long_poll_warn: u64,
    /// Long poll: critical from this duration.
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = parse_duration)]
    long_poll_crit: u64,
    /// Scheduling delay (wake to poll): warning from this duration.
    #[arg(long, value_name = "DURATION", default_value = "5ms", value_parser = parse_duration)]
    sched_warn: u64,
    /// Scheduling delay: critical from this duration.
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = parse_duration)]
    sched_crit: u64,
    /// Worker stall: a worker that did not park for this long while tasks waited.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    stall: u64,
}

impl ThresholdArgs {
    fn thresholds(self) -> Thresholds {
        Thresholds {
            long_poll_warn: self.long_poll_warn,
            long_poll_crit: self.long_poll_crit,
            sched_warn: self.sched_warn,
            sched_crit: self.sched_crit,
            stall: self.stall,
            ..Thresholds::default()
        }
    }
}

fn parse_kind(s: &str) -> Result<AnomalyKind, String> {
    AnomalyKind::parse(s).ok_or_else(|| {
        let all: Vec<_> = AnomalyKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown anomaly kind '{s}' (one of: {})", all.join(", "))
    })
}

/// `--version`: this build, and the dump and ring file versions it reads.
fn version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{} (reads dump format {} to {}, crash-surviving ring format 1 to {})",
            env!("CARGO_PKG_VERSION"),
            dial9_format::OLDEST_FORMAT_VERSION,
            dial9_format::FORMAT_VERSION,
            dial9_format::RING_VERSION
        )
    })
}

/// Reads a dump or reports why not, as one line on stderr.
fn load(path: &Path) -> Result<Dump, ExitCode> {
    Dump::read(path).map_err(|e| unreadable(LoadError::Dump(path.to_path_buf(), e)))
}

/// The dump (or dial9 trace) at `paths`, indexed.
fn load_index(paths: &[PathBuf], thresholds: Thresholds) -> Result<Index, ExitCode> {
    dial9_tui::load::open(paths, thresholds, &mut |_| {}).map_err(unreadable)
}

/// Says why what was named did not open, as one line on stderr.
fn unreadable(e: LoadError) -> ExitCode {
    // The error may quote the file's bytes: through the sanitizer like everything else.
    eprintln!("dial9-tui: {}", sanitize(&e.to_string()));
    ExitCode::from(check::UNREADABLE as u8)
}

/// The checks `export` and `convert` make when they create their file, made up front:
/// a file already there is never overwritten, and a directory must be there to hold it.
/// (Creating the file itself stays the guard: this only says so early.)
fn writable(out: &Path) -> Result<(), ExitCode> {
    let problem = if std::fs::symlink_metadata(out).is_ok() {
        Some(os_error(std::io::ErrorKind::AlreadyExists))
    } else {
        let dir = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => None,
            Ok(_) => Some(os_error(std::io::ErrorKind::NotADirectory)),
            Err(e) => Some(e),
        }
    };
    match problem {
        None => Ok(()),
        Some(e) => Err(cannot_write(out, e)),
    }
}

/// Says `out` cannot be written, and why, as one line on stderr.
fn cannot_write(out: &Path, e: std::io::Error) -> ExitCode {
    eprintln!("dial9-tui: cannot write {}: {e}", out.display());
    ExitCode::from(2)
}

/// A new file at `out`, never one already there, that only its owner can read (0600,
/// like the recorder's dumps: task names and paths are nobody else's).
fn create_private(out: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(out)
}

/// The error creating the file would give, worded as the OS words it (as the other
/// errors are).
fn os_error(kind: std::io::ErrorKind) -> std::io::Error {
    #[cfg(target_os = "linux")]
    {
        let code = match kind {
            std::io::ErrorKind::AlreadyExists => libc::EEXIST,
            _ => libc::ENOTDIR,
        };
        std::io::Error::from_raw_os_error(code)
    }
    #[cfg(not(target_os = "linux"))]
    std::io::Error::from(kind)
}

/// `export --perfetto`: streams the trace into a new file (removed again if writing fails).
fn export(ix: &Index, out: &Path) -> Result<ExitCode, ExitCode> {
    let file = create_private(out).map_err(|e| cannot_write(out, e))?;
    let file = dial9_tui::export::file::WriteBehind::new(file);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let written = dial9_tui::export::perfetto::write(ix, &mut w).and_then(|n| {
        let file = w.into_inner().map_err(|e| e.into_error())?.into_inner();
        file.sync_all().map(|()| n)
    });
    match written {
        Ok(n) => emit(
            &format!(
                "{}: {} polls, {} wakes ({} arrows to the poll they led to), {} anomalies; \
                 {} packets, {:.1} MB. Open it at https://ui.perfetto.dev (the file stays \
                 on this machine).\n",
                out.display(),
                n.polls,
                n.wakes,
                n.flows,
                n.anomalies,
                n.packets,
                n.bytes as f64 / 1e6
            ),
            ExitCode::SUCCESS,
        ),
        Err(e) => {
            let _ = std::fs::remove_file(out);
            Err(cannot_write(out, e))
        }
    }
}

/// `convert`: a crash-surviving ring file rewritten as a dump (never over a file, never
/// from a ring that lost events to damage).
fn convert(ring: &Path, out: &Path) -> Result<ExitCode, ExitCode> {
    writable(out).and_then(|()| load(ring)).and_then(|d| {
        use std::io::Write;
        // A rewritten dump would read as whole: the loss would be forgotten.
        if let Some(damage) = &d.damage {
            eprintln!(
                "dial9-tui: {}: {damage}; not converted (open or report it as it is)",
                ring.display()
            );
            return Err(ExitCode::from(2));
        }
        let written = d.to_bytes().and_then(|bytes| {
            create_private(out).and_then(|mut f| f.write_all(&bytes).and_then(|_| f.sync_all()))
        });
        match written {
            Ok(()) => emit(
                &format!(
                    "{}: {} events from {}\n",
                    out.display(),
                    d.events.len(),
                    sanitize(&d.header.reason.to_string())
                ),
                ExitCode::SUCCESS,
            ),
            Err(e) => Err(cannot_write(out, e)),
        }
    })
}

/// Writes a command's output. A reader that went away (`| head -1`, `| true`) ends the
/// command quietly with the status it already had; any other write error is reported.
fn emit(text: &str, status: ExitCode) -> Result<ExitCode, ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(status),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(status),
        Err(e) => {
            eprintln!("dial9-tui: cannot write the output: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Report {
            dump,
            json,
            limit,
            thresholds,
        }) => load_index(&dump, thresholds.thresholds()).and_then(|ix| {
            let text = if json {
                report::json(&ix) + "\n"
            } else {
                report::text(&ix, &load::shown(&dump), limit)
            };
            // The process ends next: freeing a 10M-event index page by page would take
            // longer than the OS's taking it back at once.
            std::mem::forget(ix);
            emit(&text, ExitCode::SUCCESS)
        }),
        Some(Command::Check {
            dump,
            max_poll,
            max_sched_delay,
            thresholds,
            allow,
            limit,
            all,
        }) => {
            let mut th = thresholds.thresholds();
            if let Some(max) = max_poll {
                th.long_poll_crit = max;
            }
            if let Some(max) = max_sched_delay {
                th.sched_crit = max;
            }
            // A warning threshold above its critical one would make nothing a warning.
            th.long_poll_warn = th.long_poll_warn.min(th.long_poll_crit);
            th.sched_warn = th.sched_warn.min(th.sched_crit);
            load_index(&dump, th).and_then(|ix| {
                let listing = if all {
                    check::Listing::Every
                } else {
                    check::Listing::Groups(limit)
                };
                let (code, out) = check::run(&ix, &allow, listing);
                // As for `report`: the OS takes the index back faster than freeing it.
                std::mem::forget(ix);
                emit(&out, ExitCode::from(code as u8))
            })
        }
        Some(Command::ListRings { dir }) => list_rings(dir),
        Some(Command::Open {
            dump,
            view,
            thresholds,
        }) => explore(&dump, view, thresholds),
        Some(Command::Export {
            perfetto: _,
            dump,
            out,
            thresholds,
        }) => {
            // Said before the dump is read (seconds, for a big one), not after.
            writable(&out)
                .and_then(|()| load_index(&dump, thresholds.thresholds()))
                .and_then(|ix| {
                    let done = export(&ix, &out);
                    // As for `report`: the OS takes the index back faster than freeing it.
                    std::mem::forget(ix);
                    done
                })
        }
        Some(Command::Convert { ring, out }) => convert(&ring, &out),
        None => match cli.dump {
            dump if !dump.is_empty() => explore(&dump, cli.view, cli.thresholds),
            _ => {
                eprintln!(
                    "dial9-tui: no dump given. Usage: dial9-tui DUMP | dial9-tui report DUMP | dial9-tui check DUMP (--help for more)"
                );
                Err(ExitCode::from(2))
            }
        },
    };
    result.unwrap_or_else(|code| code)
}

/// `list-rings`: every ring file found, newest first, one line each.
fn list_rings(dir: Option<PathBuf>) -> Result<ExitCode, ExitCode> {
    let dirs = match dir {
        Some(d) => vec![d],
        None => vec![PathBuf::from("/dev/shm"), std::env::temp_dir()],
    };
    let mut found = Vec::new();
    for d in &dirs {
        let Ok(entries) = std::fs::read_dir(d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("dial9-") && name.ends_with(dial9_format::RING_SUFFIX) {
                let modified = e.metadata().and_then(|m| m.modified()).ok();
                found.push((modified, e.path()));
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut out = String::new();
    if found.is_empty() {
        let names: Vec<_> = dirs.iter().map(|d| d.display().to_string()).collect();
        out.push_str(&format!(
            "no crash-surviving rings in {}\n",
            names.join(" or ")
        ));
    }
    for (_, path) in found {
        let line = match Dump::read(&path) {
            Ok(d) => format!(
                "{}  {} (pid {}): {}, {} events\n",
                path.display(),
                d.header.program,
                d.header.pid,
                d.header.reason,
                d.events.len()
            ),
            Err(e) => format!("{}  unreadable: {e}\n", path.display()),
        };
        out.push_str(&sanitize(line.trim_end()));
        out.push('\n');
    }
    emit(&out, ExitCode::SUCCESS)
}

fn explore(
    paths: &[PathBuf],
    view: ViewArgs,
    thresholds: ThresholdArgs,
) -> Result<ExitCode, ExitCode> {
    let opts = dial9_tui::app::Options {
        ascii: view.ascii,
        color: !view.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    dial9_tui::app::run(paths, opts, thresholds.thresholds()).map_err(|e| {
        eprintln!("dial9-tui: {}", sanitize(&e));
        ExitCode::from(2)
    })?;
    Ok(ExitCode::SUCCESS)
}
