//! # dial9-format
//!
//! The dump format, shared by the recorder that writes it and the explorer that reads it,
//! and depending on neither: data types ([`Dump`] and what it holds), the file envelope
//! with its reader and writer, and the crash-surviving ring's file layout with both its
//! pack (writer) and unpack (reader) functions side by side.
//!
//! ```text
//!  dial9-recorder                         dial9-format                     dial9-tui
//!  tracing layer + runtime hooks          types.rs   Dump, Event, ...      analysis: Index
//!        | ring_codec::pack                                                   |
//!        v                                file.rs    envelope, read/write  app: state
//!  in-memory Ring --snapshot--> Dump ----------------> dump file ----------->  |
//!  (or a ring file) ------------------------------> ring_file.rs read_ring   view: render
//! ```

#![warn(missing_docs)]

pub mod blocks;
mod columns;
mod event_code;
mod file;
pub mod ring_codec;
pub mod ring_file;
mod section;
mod types;

pub use blocks::Damage;
pub use columns::{EventColumns, Kinds};
pub use file::{ENVELOPE_LEN, FORMAT_VERSION, MAGIC, OLDEST_FORMAT_VERSION, ReadError};
pub use ring_file::{RING_MAGIC, RING_SUFFIX, RING_VERSION};
pub use section::{BlockEntry, EventBlocks, EventSection};
pub use types::*;

/// Gives a placeholder entry to every task an event mentions that the table does not know
/// (spawned before the recorder, or its entry was dropped), so every id resolves.
pub fn fill_missing_tasks(tasks: &mut Vec<TaskInfo>, events: &[Event], reason: &Reason) {
    let known: std::collections::HashSet<u64> = tasks.iter().map(|t| t.id).collect();
    let mut missing = std::collections::BTreeSet::new();
    for e in events {
        if let Some(t) = e.kind.task()
            && !known.contains(&t)
        {
            missing.insert(t);
        }
        if let EventKind::Wake {
            source: WakeSource::Task(t),
            ..
        } = e.kind
            && !known.contains(&t)
        {
            missing.insert(t);
        }
    }
    if let Reason::Panic { task: Some(t), .. } = reason
        && !known.contains(t)
    {
        missing.insert(*t);
    }
    tasks.extend(missing.into_iter().map(|id| TaskInfo {
        id,
        name: String::new(),
        kind: TaskKind::Unknown,
        location: None,
        spawned_by: None,
    }));
    tasks.sort_by_key(|t| t.id);
}

/// A source path without what says nothing about the code and may say too much about the
/// machine it was built on: the cargo registry (`~/.cargo/registry/src/index.crates.io-HASH/`),
/// git checkouts (`~/.cargo/git/checkouts/REPO-HASH/REV/`), the Rust toolchain
/// (`/rustc/HASH/library/`, `.rustup/toolchains/NAME/lib/rustlib/src/rust/library/`), and
/// for any other absolute path everything before the crate's directory (the one holding
/// `src/`, `examples/`, `tests/`, `benches/` or `build.rs`'s `src`). What is left starts
/// with the crate: `mini-redis-0.4.1/src/server.rs`, `std/src/thread/mod.rs`,
/// `myservice/src/main.rs` (for `/home/alice/myservice/src/main.rs`). A relative path
/// stays as it is. The recorder writes stacks this way and the explorer shows every path
/// this way, so a dump sent to someone names no home directory.
pub fn short_source_path(file: &str) -> String {
    let file = file.strip_prefix("./").unwrap_or(file);
    if let Some(i) = file.find("/registry/src/") {
        let rest = &file[i + "/registry/src/".len()..];
        return rest.split_once('/').map_or(rest, |(_, r)| r).to_string();
    }
    if let Some(i) = file.find("/git/checkouts/") {
        let rest = &file[i + "/git/checkouts/".len()..];
        if let Some((repo_hash, after)) = rest.split_once('/')
            && let Some((_rev, path)) = after.split_once('/')
        {
            let repo = repo_hash.rsplit_once('-').map_or(repo_hash, |(r, _)| r);
            return format!("{repo}/{path}");
        }
        return rest.to_string();
    }
    if (file.starts_with("/rustc/") || file.contains("/rustlib/"))
        && let Some(i) = file.rfind("/library/")
    {
        return file[i + "/library/".len()..].to_string();
    }
    let absolute = file.starts_with('/') || file.get(1..3) == Some(":\\") || file.starts_with('\\');
    if absolute {
        let sep = if file.contains('\\') && !file.contains('/') {
            '\\'
        } else {
            '/'
        };
        let parts: Vec<&str> = file.split(sep).collect();
        // The last directory called src (or examples, tests, benches): its parent is the
        // crate's directory.
        if let Some(at) = parts[..parts.len().saturating_sub(1)]
            .iter()
            .rposition(|p| matches!(*p, "src" | "examples" | "tests" | "benches"))
            && at >= 1
        {
            return parts[at - 1..].join(&sep.to_string());
        }
        // No crate layout: the file's own name is all that is safe to say.
        return parts.last().map_or(String::new(), |s| s.to_string());
    }
    file.to_string()
}

#[cfg(test)]
mod path_tests {
    use super::short_source_path as short;

    #[test]
    fn paths_keep_the_crate_and_lose_the_machine() {
        assert_eq!(
            short(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/mini-redis-0.4.1/src/server.rs"
            ),
            "mini-redis-0.4.1/src/server.rs"
        );
        assert_eq!(
            short("/root/.cargo/git/checkouts/tokio-4a5e90f3eb3c1c9c/8f2fa0a/tokio/src/net/tcp.rs"),
            "tokio/tokio/src/net/tcp.rs"
        );
        assert_eq!(
            short("/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/thread/mod.rs"),
            "std/src/thread/mod.rs"
        );
        assert_eq!(
            short("/home/alice/work/myservice/src/main.rs"),
            "myservice/src/main.rs"
        );
        assert_eq!(
            short("/work/main/recorder/examples/why_slow.rs"),
            "recorder/examples/why_slow.rs"
        );
        // The last src: a crate inside a src directory keeps its own name.
        assert_eq!(short("/home/bob/src/svc/src/lib.rs"), "svc/src/lib.rs");
        assert_eq!(
            short("C:\\Users\\carol\\svc\\src\\main.rs"),
            "svc\\src\\main.rs"
        );
        assert_eq!(short("/usr/include/stdio.h"), "stdio.h");
        assert_eq!(
            short("./time/../sysdeps/unix/clock_nanosleep.c"),
            "time/../sysdeps/unix/clock_nanosleep.c"
        );
        assert_eq!(short("src/main.rs"), "src/main.rs");
        assert_eq!(short(""), "");
    }
}
