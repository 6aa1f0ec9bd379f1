//! What writes a dump without being asked: a panic anywhere, or a Unix signal.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

#[cfg(unix)]
use signal_hook::iterator::Signals;

/// What stops the signal thread when the recorder goes away.
#[cfg(unix)]
pub(crate) type SignalHandle = signal_hook::iterator::Handle;

/// No signal thread where there are no Unix signals.
#[cfg(not(unix))]
pub(crate) struct SignalHandle;

#[cfg(not(unix))]
impl SignalHandle {
    pub(crate) fn close(&self) {}
}

use crate::format::Reason;

use super::super::store::current_task;
use super::{Dumper, symbolize};

/// Chains a hook in front of the current panic hook.
///
/// The first panic dumps (once, however many threads panic together: later ones skip
/// straight to the previous hook, they never wait). The dump reads the ring without locks
/// and only *tries* the table locks, so a panic inside the recorder or while a lock is
/// held cannot deadlock it. The backtrace is captured as addresses (no lock) and named on
/// a thread of its own, waited for at most [`symbolize::WAIT`] (see [`symbolize`]). The
/// previous hook always runs afterwards, so the panic message and exit status are exactly
/// what they would be without the recorder.
pub(crate) fn install_panic_hook(inner: &Arc<Dumper>) {
    let weak: Weak<Dumper> = Arc::downgrade(inner);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(inner) = weak.upgrade()
            && !inner.panic_dumped.swap(true, Ordering::AcqRel)
        {
            panic_dump(&inner, info);
        }
        previous(info);
    }));
}

/// The panic hook's dump: the backtrace named while the ring is read.
fn panic_dump(inner: &Dumper, info: &std::panic::PanicHookInfo<'_>) {
    let frames = symbolize::capture_here();
    let naming = symbolize::off_thread(vec![frames.frames().to_vec()]);
    let reason = Reason::Panic {
        message: info
            .payload_as_str()
            .unwrap_or("<non-string panic payload>")
            .to_string(),
        location: info.location().map(|l| {
            let file = dial9_format::short_source_path(l.file());
            format!("{file}:{}:{}", l.line(), l.column())
        }),
        thread: std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_string(),
        task: current_task(),
    };
    let mut dump = inner.snapshot(reason, false);
    dump.facts.panic_backtrace = match naming.wait(symbolize::WAIT) {
        Some(mut named) => bounded(named.pop().unwrap_or_default()),
        None => bounded(symbolize::unnamed(
            frames.frames(),
            "the symbolizer did not answer in time",
        )),
    };
    if let Err(e) = inner.write_dump(&dump) {
        crate::record::diag::say!("could not write the panic dump: {e}");
    }
}

/// At most [`BACKTRACE_LINES`] lines of a backtrace.
fn bounded(mut lines: Vec<String>) -> Vec<String> {
    lines.truncate(BACKTRACE_LINES);
    lines
}

/// Bound on a panic backtrace's lines in a dump (about a hundred frames).
const BACKTRACE_LINES: usize = 240;

/// A signal that cannot be dumped on, and why.
pub(crate) struct SignalError {
    pub(crate) signal: i32,
    pub(crate) source: std::io::Error,
}

/// Signals are Unix's; elsewhere asking for a signal dump is a build error, not a
/// silently missing dump.
#[cfg(not(unix))]
pub(crate) fn dump_on_signals(_inner: &Arc<Dumper>, signals: &[i32]) -> Result<(), SignalError> {
    Err(SignalError {
        signal: signals[0],
        source: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "dumps on signals need a Unix platform (use dump() from your own handler)",
        ),
    })
}

/// Registers `signals` and starts the thread that dumps on each delivery. The handler
/// itself only wakes that thread (writing a file is not async-signal-safe).
#[cfg(unix)]
pub(crate) fn dump_on_signals(inner: &Arc<Dumper>, signals: &[i32]) -> Result<(), SignalError> {
    // signal-hook panics (rather than erring) on signals it forbids; refuse them first.
    if let Some(&signal) = signals
        .iter()
        .find(|s| signal_hook::consts::FORBIDDEN.contains(s) || **s <= 0)
    {
        return Err(SignalError {
            signal,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "this signal cannot be handled (SIGKILL, SIGSTOP, SIGILL, SIGFPE, SIGSEGV or invalid)",
            ),
        });
    }
    let mut set = Signals::new(Vec::<i32>::new()).map_err(|source| SignalError {
        signal: signals[0],
        source,
    })?;
    for &signal in signals {
        set.add_signal(signal)
            .map_err(|source| SignalError { signal, source })?;
    }
    let handle = set.handle();
    let weak = Arc::downgrade(inner);
    std::thread::Builder::new()
        .name("dial9-signal".into())
        .spawn(move || {
            for signal in set.forever() {
                let Some(inner) = weak.upgrade() else { break };
                let name = signal_hook::low_level::signal_name(signal)
                    .unwrap_or("unknown")
                    .to_string();
                let dump = inner.snapshot(Reason::Signal { signal, name }, true);
                if let Err(e) = inner.write_dump(&dump) {
                    crate::record::diag::say!("could not write the dump for signal {signal}: {e}");
                }
            }
        })
        .map_err(|source| SignalError {
            signal: signals[0],
            source,
        })?;
    if let Ok(mut h) = inner.signal_handle.lock() {
        *h = Some(handle);
    }
    Ok(())
}
