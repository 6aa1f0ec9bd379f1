//! The exported trace's file, handed to the disk as it is written: a 10M-event dump's
//! trace is 400 MB, and left to the page cache until the `fsync` that makes the export
//! durable, all of it would go to the disk then, with the export waiting (0.19 s of
//! 1.4 s on this box). Each few megabytes written are given to the disk at once instead
//! (`sync_file_range`, which starts the writing and does not wait for it), so the
//! `fsync` at the end waits for little more than the last of them.

use std::fs::File;
use std::io::{self, Write};

/// Bytes written between two hand-overs to the disk.
const EVERY: u64 = 8 << 20;

/// Starts writing `len` bytes of `file` from `offset` to its disk, without waiting.
pub type StartWriting = fn(file: &File, offset: u64, len: u64);

/// A file whose written bytes are handed to the disk every [`EVERY`] bytes.
pub struct WriteBehind {
    file: File,
    written: u64,
    /// Where the bytes not yet handed over begin.
    handed: u64,
    start: StartWriting,
}

impl WriteBehind {
    pub fn new(file: File) -> WriteBehind {
        WriteBehind::with(file, start_writing)
    }

    pub fn with(file: File, start: StartWriting) -> WriteBehind {
        WriteBehind {
            file,
            written: 0,
            handed: 0,
            start,
        }
    }

    /// The file, to make it durable (`sync_all`): what was handed over is on its way.
    pub fn into_inner(self) -> File {
        self.file
    }
}

impl Write for WriteBehind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.handed >= EVERY {
            (self.start)(&self.file, self.handed, self.written - self.handed);
            self.handed = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(target_os = "linux")]
fn start_writing(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is the open file's own, and the call touches no memory of
    // ours. Its error, if any, is the final `sync_all`'s to report (this only starts the
    // writing early).
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writing(_file: &File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    thread_local! {
        static HANDED: std::cell::RefCell<Vec<(u64, u64)>> = Default::default();
    }

    fn record(_file: &File, offset: u64, len: u64) {
        HANDED.with(|h| h.borrow_mut().push((offset, len)));
    }

    /// Every byte reaches the file; each run of [`EVERY`] bytes is handed over once, in
    /// order, from where the last ended, and the tail is left to the final `sync_all`.
    #[test]
    fn each_few_megabytes_are_handed_to_the_disk_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pftrace");
        let mut w = WriteBehind::with(File::create(&path).unwrap(), record);
        let chunk: Vec<u8> = (0..(3 << 20) + 7).map(|i| i as u8).collect();
        for _ in 0..10 {
            w.write_all(&chunk).unwrap();
        }
        w.flush().unwrap();
        w.into_inner().sync_all().unwrap();
        let handed = HANDED.with(|h| std::mem::take(&mut *h.borrow_mut()));
        let total = 10 * chunk.len() as u64;
        assert_eq!(handed.len(), 3, "{handed:?}");
        let mut at = 0;
        for &(offset, len) in &handed {
            assert_eq!(offset, at);
            assert!((EVERY..EVERY + chunk.len() as u64).contains(&len), "{len}");
            at += len;
        }
        assert!(total - at < EVERY);
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len() as u64, total);
        assert!(back.chunks(chunk.len()).all(|c| c == chunk));
    }

    /// The real call, on a real file: the file reads back whole.
    #[test]
    fn the_kernel_takes_the_hand_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pftrace");
        let mut w = WriteBehind::new(File::create(&path).unwrap());
        let block = vec![7u8; EVERY as usize + 1];
        w.write_all(&block).unwrap();
        w.write_all(&block).unwrap();
        w.into_inner().sync_all().unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 2 * block.len());
    }
}
