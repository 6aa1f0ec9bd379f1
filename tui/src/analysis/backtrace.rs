//! A panic's backtrace as the recorder's panic hook stored it (std's text, one line a
//! line), reduced to the frames of the application: std, core, alloc, tokio, the tracing
//! machinery and the recorder's own hook are folded away.

/// One frame: the function, and where, when the binary had the line tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub function: String,
    pub location: Option<String>,
}

/// Crates (and runtime shims) whose frames say nothing about the application's code.
const FOLDED: &[&str] = &[
    "std::",
    "core::",
    "alloc::",
    "tokio::",
    "tracing::",
    "tracing_core::",
    "tracing_subscriber::",
    "dial9_recorder::",
    "backtrace::",
    "__rustc::",
    "rust_begin_unwind",
    "__libc_start",
    "_start",
    "<core::",
    "<alloc::",
    "<std::",
    "<tokio::",
    "<F as core::",
];

/// Every frame of `lines`, in order (innermost first).
pub fn frames(lines: &[String]) -> Vec<Frame> {
    let mut out: Vec<Frame> = Vec::new();
    for line in lines {
        let t = line.trim();
        if let Some(at) = t.strip_prefix("at ") {
            if let Some(f) = out.last_mut()
                && f.location.is_none()
            {
                f.location = Some(at.trim_start_matches("./").to_string());
            }
        } else if let Some((n, function)) = t.split_once(": ")
            && n.chars().all(|c| c.is_ascii_digit())
        {
            out.push(Frame {
                function: function.to_string(),
                location: None,
            });
        }
    }
    out
}

/// Crates (by their registry directory's name, `tokio-1.54.1`) whose frames say nothing
/// about the application's code, as [`FOLDED`] says by function name: a frame inlined
/// into another has only a short name, but its file says whose it is.
const FOLDED_CRATES: &[&str] = &[
    "backtrace",
    "tokio",
    "tracing",
    "tracing-core",
    "tracing-subscriber",
    "dial9-recorder",
];

/// Source paths of folded code that is not a registry crate: the recorder in this
/// workspace, glibc's sources.
const FOLDED_PATHS: &[&str] = &["recorder/src/record/", "nptl/", "sysdeps/"];

/// The standard library's crates, the first directory of their files' short paths.
const TOOLCHAIN: &[&str] = &[
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "panic_unwind",
    "panic_abort",
];

/// The crate a registry path names (`tokio` for `tokio-1.54.1/src/...`), if it is one:
/// its first directory is a name, a dash and a version.
fn registry_crate(short: &str) -> Option<&str> {
    let first = short.split(['/', '\\']).next()?;
    let (name, version) = first.rsplit_once('-')?;
    let semver = version.split('.').count() >= 3
        && version
            .split('.')
            .take(2)
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (semver && !name.is_empty()).then_some(name)
}

/// Whose a file is, from its path in either form: the build machine's
/// (`/root/.cargo/registry/src/…/tokio-1.54.1/src/…`, `/rustc/HASH/library/std/…`, as
/// older dumps and std's own backtraces have it) or the short one the recorder writes
/// now (`tokio-1.54.1/src/…`, `std/src/…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner<'a> {
    Toolchain,
    Registry(&'a str),
    Other,
}

fn owner(short: &str) -> Owner<'_> {
    let first = short.split(['/', '\\']).next().unwrap_or("");
    if TOOLCHAIN.contains(&first) {
        Owner::Toolchain
    } else if let Some(name) = registry_crate(short) {
        Owner::Registry(name)
    } else {
        Owner::Other
    }
}

impl Frame {
    /// The frame's file as the explorer shows paths.
    fn short_location(&self) -> Option<String> {
        self.location
            .as_deref()
            .map(crate::analysis::index::short_path)
    }

    /// Whether the frame is the application's (not std's, the runtime's, the recorder's).
    fn is_app(&self) -> bool {
        !FOLDED.iter().any(|p| self.function.starts_with(p))
            && match self.short_location() {
                Some(l) => match owner(&l) {
                    Owner::Toolchain => false,
                    Owner::Registry(name) => !FOLDED_CRATES.contains(&name),
                    Owner::Other => !FOLDED_PATHS.iter().any(|p| l.contains(p)),
                },
                // Without line tables only a qualified name says whose it is.
                None => self.function.contains("::"),
            }
    }

    /// Whether it is Rust library code (std's, a crate's), as opposed to C (libc's).
    fn is_rust_library(&self) -> bool {
        self.function.contains("::")
            || self
                .short_location()
                .is_some_and(|l| owner(&l) != Owner::Other)
    }

    /// `function at file:line:col`, the file as the explorer shows paths (no build
    /// machine's directories).
    pub fn label(&self) -> String {
        match &self.location {
            Some(l) => format!(
                "{} at {}",
                self.function,
                crate::analysis::index::short_path(l)
            ),
            None => self.function.clone(),
        }
    }

    /// `function (file:line)`: shorter, for a sentence.
    pub fn brief(&self) -> String {
        match &self.location {
            Some(l) => {
                let l = crate::analysis::index::short_path(l);
                // file:line:col -> file:line
                let l = match l.rsplit_once(':') {
                    Some((rest, col)) if col.chars().all(|c| c.is_ascii_digit()) => {
                        rest.to_string()
                    }
                    _ => l,
                };
                format!("{} ({l})", self.function)
            }
            None => self.function.clone(),
        }
    }
}

/// The application's frames, innermost first.
pub fn app_frames(lines: &[String]) -> Vec<Frame> {
    frames(lines).into_iter().filter(Frame::is_app).collect()
}

/// The library function the innermost application frame called, when it is Rust code
/// (`std::thread::sleep`, a crate's blocking call): what a poll was blocked or busy in,
/// when the application's own frame is only where it was called from.
pub fn callee(lines: &[String]) -> Option<Frame> {
    let all = frames(lines);
    let first_app = all.iter().position(Frame::is_app)?;
    let callee = all.get(first_app.checked_sub(1)?)?;
    (callee.is_rust_library() && !is_trampoline(&callee.function)).then(|| callee.clone())
}

/// Library frames that only pass control on (a closure's `call_once`, a
/// future's `poll`): naming them says nothing about what the code was doing.
fn is_trampoline(function: &str) -> bool {
    let bare = function.split('<').next().unwrap_or(function);
    let last = bare.rsplit("::").next().unwrap_or(bare);
    matches!(
        last,
        "call_once" | "call_mut" | "call" | "poll" | "into_future" | "__rust_begin_short_backtrace"
    ) || last.starts_with("{closure")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_runtime_frames_and_pairs_locations() {
        let text = "   0: __rustc::rust_begin_unwind
             at /rustc/abc/library/std/src/panicking.rs:689:5
   1: core::panicking::panic_bounds_check
             at /rustc/abc/library/core/src/panicking.rs:80:14
   2: panic::parse_record
             at ./recorder/examples/panic.rs:27:41
   3: panic::parser::{{closure}}
             at ./recorder/examples/panic.rs:58:30
   4: tokio::runtime::task::core::Core<T,S>::poll
   5: <F as core::future::into_future::IntoFuture>::into_future
   6: index<u8>
             at /rustc/abc/library/core/src/slice/index.rs:272:10
   7: poll<x>
             at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/runtime/task/core.rs:380:24";
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        assert_eq!(frames(&lines).len(), 8);
        let app = app_frames(&lines);
        assert_eq!(
            app.iter().map(Frame::label).collect::<Vec<_>>(),
            [
                "panic::parse_record at recorder/examples/panic.rs:27:41",
                "panic::parser::{{closure}} at recorder/examples/panic.rs:58:30",
            ]
        );
        assert_eq!(
            app[0].brief(),
            "panic::parse_record (recorder/examples/panic.rs:27)"
        );
        // The innermost application frame called core's bounds check.
        assert_eq!(
            callee(&lines).map(|f| f.function),
            Some("core::panicking::panic_bounds_check".into())
        );
    }

    /// A closure's `call_once` between the runtime and the task's code names no work:
    /// the explanation leaves it out rather than saying "in call_once".
    #[test]
    fn a_trampoline_is_not_named_as_the_callee() {
        let text = "   0: core::ops::function::FnOnce::call_once<fn(), ()>
             at /rustc/abc/library/core/src/ops/function.rs:250:5
   1: {async_block#0}<fn()>
             at ./recorder/examples/why_slow.rs:149:9";
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        assert_eq!(callee(&lines), None);
        assert!(is_trampoline("poll<tokio::time::Sleep>"));
        assert!(is_trampoline("svc::handler::{closure#2}"));
        assert!(!is_trampoline("std::thread::sleep"));
    }

    /// A function inlined into the task's async block (a release build) is a symbol of
    /// its own at the same address: it is the innermost application frame, named with
    /// its file:line, and the block is its caller; the build machine's directories go.
    #[test]
    fn an_inlined_function_is_a_frame_of_its_own_and_paths_lose_the_machine() {
        let text = "   0: __GI___clock_nanosleep
             at ./time/../sysdeps/unix/sysv/linux/clock_nanosleep.c:48:7
   1: std::thread::sleep
             at /rustc/abc/library/std/src/thread/mod.rs:300:5
   2: block_on_disk
             at /home/alice/svc/src/main.rs:120:9
   2: {async_block#1}
             at /home/alice/svc/src/main.rs:264:21
   3: tokio::runtime::task::core::Core<T,S>::poll";
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let app = app_frames(&lines);
        assert_eq!(
            app.iter().map(Frame::brief).collect::<Vec<_>>(),
            [
                "block_on_disk (svc/src/main.rs:120)",
                "{async_block#1} (svc/src/main.rs:264)"
            ]
        );
        assert!(app.iter().all(|f| !f.label().contains("alice")));
        assert_eq!(
            callee(&lines).map(|f| f.function),
            Some("std::thread::sleep".into())
        );
        // A C function inner to the application's is not named as its callee.
        assert_eq!(callee(&lines[..0]), None);
        let c_only: Vec<String> = text
            .lines()
            .take(2)
            .chain(text.lines().skip(4))
            .map(str::to_string)
            .collect();
        assert_eq!(callee(&c_only), None);
    }

    /// The recorder now writes short paths (no build machine's directories): the
    /// standard library, tokio and the recorder are still told from the application by
    /// their files, as a release build's inlined frames have only short names.
    #[test]
    fn short_paths_still_say_whose_a_frame_is() {
        let text = "   0: __GI___clock_nanosleep
             at ./time/../sysdeps/unix/sysv/linux/clock_nanosleep.c:48:7
   1: sleep
             at std/src/thread/mod.rs:300:5
   2: block_on_disk
             at svc/src/main.rs:120:9
   3: {async_block#1}
             at svc/src/main.rs:264:21
   4: poll<svc::Handler>
             at tokio-1.54.1/src/runtime/task/core.rs:380:24
   5: with_subscriber<F>
             at tracing-subscriber-0.3.19/src/layer.rs:10:1
   6: parse_frame
             at mini-redis-0.4.1/src/frame.rs:81:9
   7: trace_unsynchronized<&mut F>
             at backtrace-0.3.77/src/backtrace/mod.rs:66:14";
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let app = app_frames(&lines);
        assert_eq!(
            app.iter().map(|f| f.function.as_str()).collect::<Vec<_>>(),
            ["block_on_disk", "{async_block#1}", "parse_frame"]
        );
        assert_eq!(callee(&lines).map(|f| f.function), Some("sleep".into()));
        assert_eq!(owner("tokio-1.54.1/src/lib.rs"), Owner::Registry("tokio"));
        assert_eq!(
            owner("tracing-subscriber-0.3.19/src/lib.rs"),
            Owner::Registry("tracing-subscriber")
        );
        assert_eq!(owner("core/src/ops/function.rs"), Owner::Toolchain);
        // A crate of the application's own named with a dash is not a registry crate.
        assert_eq!(owner("my-svc/src/main.rs"), Owner::Other);
        assert_eq!(owner("svc-2/src/main.rs"), Owner::Other);
    }
}
