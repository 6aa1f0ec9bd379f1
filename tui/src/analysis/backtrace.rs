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

/// Source paths of the same: the standard library's, and crates from the registry
/// (an inlined frame has only a short name, but its file says whose it is).
const FOLDED_PATHS: &[&str] = &[
    "/rustc/",
    "/tokio-1.",
    "/tracing-0.",
    "/tracing-core-",
    "/tracing-subscriber-",
    "/dial9-recorder-",
    "recorder/src/record/",
    "nptl/",
    "sysdeps/",
];

/// The application's frames, innermost first.
pub fn app_frames(lines: &[String]) -> Vec<Frame> {
    frames(lines)
        .into_iter()
        .filter(|f| {
            !FOLDED.iter().any(|p| f.function.starts_with(p))
                && match f.location.as_deref() {
                    Some(l) => !FOLDED_PATHS.iter().any(|p| l.contains(p)),
                    // Without line tables only a qualified name says whose it is.
                    None => f.function.contains("::"),
                }
        })
        .collect()
}

impl Frame {
    pub fn label(&self) -> String {
        match &self.location {
            Some(l) => format!("{} at {l}", self.function),
            None => self.function.clone(),
        }
    }
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
    }
}
