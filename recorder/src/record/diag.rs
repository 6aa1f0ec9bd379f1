//! The recorder's own messages to standard error: where a dump went, why one could not be
//! written, a watchdog that could not start.
//!
//! A service's stderr is often a pipe to a log shipper, and a pipe whose reader has exited
//! fails every write with `EPIPE` (Rust ignores `SIGPIPE`): `eprintln!` then panics, and a
//! panic in the panic hook or in the signal thread aborts the host. A reader that is alive
//! but not reading fills the pipe, and a write then blocks. So a message here is formatted
//! on the stack, and written with one `write(2)` on descriptor 2 only when the descriptor
//! says it has room; any failure is ignored. A message is never worth the host.

use std::fmt::{self, Write as _};

/// Longest message written (longer ones are cut, at a char boundary).
const MAX_LINE: usize = 512;

/// Writes `dial9: {args}` and a newline to standard error, if it can without blocking;
/// never panics, never allocates.
pub(crate) fn write_line(args: fmt::Arguments<'_>) {
    let mut line = Line {
        buf: [0; MAX_LINE],
        len: 0,
    };
    let _ = write!(line, "dial9: {args}");
    line.end();
    write_stderr(&line.buf[..line.len]);
}

/// `say!("...", args)`: [`write_line`] with `format_args!`.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::record::diag::write_line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// A line formatted on the stack, cut to fit with room for its newline.
struct Line {
    buf: [u8; MAX_LINE],
    len: usize,
}

impl Line {
    fn end(&mut self) {
        let at = self.len.min(MAX_LINE - 1);
        self.buf[at] = b'\n';
        self.len = at + 1;
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // One byte stays free for the newline.
        let room = MAX_LINE - 1 - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// One write to descriptor 2, skipped if a zero-timeout `poll` says it would block (a
/// full pipe); errors ignored. Not through `std::io::stderr()`, whose lock a thread
/// blocked on that full pipe would hold. A line shorter than `PIPE_BUF` is written whole
/// or not at all, so it never interleaves with another writer's.
#[cfg(unix)]
fn write_stderr(bytes: &[u8]) {
    let mut fd = libc::pollfd {
        fd: libc::STDERR_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    if ready != 1 || fd.revents & libc::POLLOUT == 0 {
        return;
    }
    // SAFETY: the buffer is valid for its length; a failed write is ignored.
    let _ = unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
}

#[cfg(not(unix))]
fn write_stderr(bytes: &[u8]) {
    use std::io::Write as _;
    let _ = std::io::stderr().write_all(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_at_a_char_boundary_and_ends_its_line() {
        let mut line = Line {
            buf: [0; MAX_LINE],
            len: 0,
        };
        let long = "é".repeat(MAX_LINE);
        let _ = write!(line, "dial9: {long}");
        line.end();
        assert!(
            line.len > MAX_LINE - 3 && line.len <= MAX_LINE,
            "{}",
            line.len
        );
        let text = std::str::from_utf8(&line.buf[..line.len]).expect("whole chars");
        assert!(text.starts_with("dial9: éé"));
        assert!(text.ends_with('\n'));
        assert_eq!(text.matches('\n').count(), 1);
    }
}
