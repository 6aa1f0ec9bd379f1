//! What the OS did with the calling thread: its cumulative time on a CPU and time spent
//! runnable but waiting for one, from `/proc/thread-self/schedstat` (Linux; no privileges
//! needed). Sampled when a worker parks and at the end of long polls, so a dump can tell a
//! worker that the host took off the CPU (host contention) from one busy with a slow
//! task.
//!
//! Each thread opens its own file once and re-reads it with `pread` (about a microsecond:
//! the kernel formats three numbers); a thread that cannot open it stops trying.

/// `(on_cpu_ns, runq_wait_ns)` of the calling thread, or `None` where the kernel does not
/// say (not Linux, no schedstat, /proc not mounted).
#[cfg(target_os = "linux")]
pub(crate) fn sample() -> Option<(u64, u64)> {
    use std::cell::RefCell;
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    enum State {
        Unopened,
        Open(File),
        Unavailable,
    }
    thread_local! {
        static SCHEDSTAT: RefCell<State> = const { RefCell::new(State::Unopened) };
    }
    SCHEDSTAT
        .try_with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            if let State::Unopened = *s {
                *s = match File::open("/proc/thread-self/schedstat") {
                    Ok(f) => State::Open(f),
                    Err(_) => State::Unavailable,
                };
            }
            let State::Open(f) = &*s else {
                return None;
            };
            let mut buf = [0u8; 96];
            let n = f.read_at(&mut buf, 0).ok()?;
            parse(&buf[..n])
        })
        .ok()
        .flatten()
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn sample() -> Option<(u64, u64)> {
    None
}

/// `"on_cpu_ns runq_wait_ns timeslices\n"`: the first two numbers.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn parse(text: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(text).ok()?;
    let mut it = text.split_ascii_whitespace().map(|n| n.parse::<u64>().ok());
    Some((it.next()??, it.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schedstat_and_reads_this_thread() {
        assert_eq!(parse(b"1234 567 89\n"), Some((1234, 567)));
        assert_eq!(parse(b"garbage"), None);
        assert_eq!(parse(b""), None);
        #[cfg(target_os = "linux")]
        if std::path::Path::new("/proc/thread-self/schedstat").exists() {
            let (a, _) = sample().unwrap();
            // Burn a little CPU: the on-CPU time moves.
            let mut x = 0u64;
            for i in 0..5_000_000u64 {
                x = x.wrapping_add(std::hint::black_box(i));
            }
            std::hint::black_box(x);
            let (b, _) = sample().unwrap();
            assert!(b > a, "{a} -> {b}");
        }
    }
}
