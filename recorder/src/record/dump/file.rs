//! Writing a dump to disk: path templates and the atomic write.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Replaces `{pid}`, `{time}` (UTC, e.g. `20261126T222626.123Z`) and `{program}`.
pub(crate) fn expand_template(template: &str, program: &str) -> PathBuf {
    let time = humantime::format_rfc3339_millis(SystemTime::now())
        .to_string()
        .replace(['-', ':'], "");
    let program = crate::record::store::identity::file_name_safe(program);
    PathBuf::from(
        template
            .replace("{pid}", &std::process::id().to_string())
            .replace("{time}", &time)
            .replace("{program}", &program),
    )
}

/// Writes `bytes` to `path` atomically: a temporary file (mode 0600) in the same
/// directory, fsync, then a rename that never replaces an existing file and never follows
/// a symlink at `path`. If `path` exists, `-1`, `-2`, ... is added before the extension.
/// Prints the final path to stderr as one line.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".dial9-dump-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| with_path(e, &dir))?;
    tmp.write_all(bytes).map_err(|e| with_path(e, tmp.path()))?;
    tmp.as_file().sync_all()?;
    let mut candidate = path.to_path_buf();
    let mut attempt = 0u32;
    let final_path = loop {
        match tmp.persist_noclobber(&candidate) {
            Ok(_) => break candidate,
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => {
                tmp = e.file;
                attempt += 1;
                candidate = numbered(path, attempt);
            }
            Err(e) => return Err(with_path(e.error, &candidate)),
        }
    };
    // Make the rename itself durable.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    crate::record::diag::say!("wrote flight-recorder dump to {}", final_path.display());
    Ok(final_path)
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fields_are_replaced() {
        let p = expand_template("/x/{program}-{pid}-{time}.bin", "my svc");
        let s = p.to_string_lossy();
        assert!(
            s.starts_with(&format!("/x/my_svc-{}-", std::process::id())),
            "{s}"
        );
        assert!(s.ends_with("Z.bin"), "{s}");
        assert!(!s.contains('{'));
    }

    #[test]
    fn never_overwrites_and_never_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("d.bin");
        let a = write_atomic(&target, b"one").unwrap();
        let b = write_atomic(&target, b"two").unwrap();
        assert_eq!(a, target);
        assert_ne!(b, target);
        assert_eq!(std::fs::read(&a).unwrap(), b"one");
        assert_eq!(std::fs::read(&b).unwrap(), b"two");

        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("link.bin");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let c = write_atomic(&link, b"three").unwrap();
        assert_ne!(c, link);
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");

        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn unwritable_directory_is_an_error_naming_the_path() {
        let err = write_atomic(Path::new("/nonexistent-dir/x/d.bin"), b"x").unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x"), "{err}");
    }
}
