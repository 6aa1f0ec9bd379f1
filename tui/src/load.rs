//! Opening what the user names: a dial9-tui dump (streamed into the index), or the public
//! dial9's trace segments (read whole through [`crate::import`]): one function for every
//! command, so `report`, `check`, `export` and the explorer read the same things.

use std::path::PathBuf;

use crate::analysis::{Index, Thresholds};

/// Why what was named could not be opened.
#[derive(Debug)]
pub enum LoadError {
    /// A dump that does not read (the format crate's error says which way).
    Dump(PathBuf, dial9_format::ReadError),
    /// Anything else: a dial9 trace that does not read, paths that do not go together.
    Other(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Dump(_, e @ dial9_format::ReadError::Io { .. }) => write!(f, "{e}"),
            LoadError::Dump(p, e) => write!(f, "{}: {e}", p.display()),
            LoadError::Other(s) => write!(f, "{s}"),
        }
    }
}

/// How the named paths appear in titles and reports: the one path, or the first and a
/// count.
pub fn shown(paths: &[PathBuf]) -> String {
    match paths {
        [one] => one.display().to_string(),
        [first, rest @ ..] => format!("{} and {} more", first.display(), rest.len()),
        [] => String::new(),
    }
}

/// Opens and indexes `paths`: one dump, or the segments of one dial9 trace (files, or a
/// directory of them). `progress` hears a fraction in 0..=1 now and then.
pub fn open(
    paths: &[PathBuf],
    thresholds: Thresholds,
    progress: &mut dyn FnMut(f64),
) -> Result<Index, LoadError> {
    if crate::import::is_dial9(paths) {
        let (dump, foreign) = crate::import::read(paths).map_err(LoadError::Other)?;
        let mut ix = Index::build_with_progress(dump, thresholds, progress);
        ix.foreign = Some(foreign);
        return Ok(ix);
    }
    match paths {
        [path] => {
            Index::open(path, thresholds, progress).map_err(|e| LoadError::Dump(path.clone(), e))
        }
        [] => Err(LoadError::Other("no dump given".into())),
        _ => Err(LoadError::Other(
            "several paths open together only as the segments of one dial9 trace; give one dump"
                .into(),
        )),
    }
}
