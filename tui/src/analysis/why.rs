//! Why a poll ran long: what the recorder's watchdog saw its thread doing.
//!
//! The watchdog looks at a thread polling one task for long every few milliseconds
//! (`EventKind::PollSample`): its state, the system call it is blocked in, and its
//! cumulative time on a CPU and waiting for one. Between two looks, the time that was
//! neither on a CPU nor waiting for one was spent blocked. A CPU sample the thread itself
//! takes at the end of a long poll (`CpuStat`) closes the last interval. The split is
//! exact over the time watched (from the first look, at half the long-poll threshold, to
//! the end); the system call is what the looks found, so a call shorter than the look
//! interval can be missed.

use dial9_format::{EventKind, SAMPLE_US_MOD};

use super::backtrace::{Frame, app_frames};
use super::index::{EventIdx, Index, PollIdx};

/// What the watchdog's looks say about one poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollWhy {
    /// Looks at the thread during the poll.
    pub looks: usize,
    /// Time the looks cover (the first look to the last, or to the poll's end).
    pub watched_ns: u64,
    pub on_cpu_ns: u64,
    /// Runnable but not running: waiting for a CPU.
    pub runq_ns: u64,
    /// Neither: blocked (sleeping, in I/O, on a lock).
    pub blocked_ns: u64,
    /// The system call most looks at a blocked thread found it in.
    pub syscall: Option<Syscall>,
    pub cause: Cause,
    /// The look events (and stack captures), in time order.
    pub samples: Vec<EventIdx>,
    /// Where in the code: the application's frames (innermost first) of the stack the
    /// watchdog captured most often during the poll (stacks are opt-in in the recorder).
    pub stack: Vec<Frame>,
    /// The library function the innermost of those called (`std::thread::sleep`), when
    /// it is Rust code.
    pub callee: Option<Frame>,
    /// Captures of that stack, of all captures during the poll.
    pub stack_captures: (usize, usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syscall {
    pub nr: u16,
    pub name: Option<&'static str>,
    /// Looks that found the thread blocked in it, of those that found it blocked.
    pub looks: usize,
    pub blocked_looks: usize,
}

impl Syscall {
    pub fn label(&self) -> String {
        self.name
            .map_or_else(|| format!("system call {}", self.nr), str::to_string)
    }
}

/// Where most of the watched time went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    OnCpu,
    Blocked,
    WaitingForCpu,
    /// No one part was most of it.
    Mixed,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::OnCpu => "on-cpu",
            Cause::Blocked => "blocked",
            Cause::WaitingForCpu => "waiting-for-cpu",
            Cause::Mixed => "mixed",
        }
    }
}

/// One part is "most of it" from this share of the watched time.
const DOMINANT_PCT: u64 = 60;

impl PollWhy {
    /// One line: where the time went, when blocked in what, and where in the code.
    pub fn summary(&self) -> String {
        let mut s = self.split();
        if let Some(place) = self.place() {
            s.push_str("; ");
            s.push_str(&place);
        }
        s
    }

    /// Where in the code, in a few words: the library function it was in (when Rust),
    /// the innermost application function with its file:line (an inlined function is a
    /// frame of its own), and that function's caller: `in std::thread::sleep, called
    /// from load (src/db.rs:40), called from {async_block#1} (src/main.rs:264)`.
    pub fn place(&self) -> Option<String> {
        let top = self.stack.first()?;
        let mut s = match &self.callee {
            Some(c) => format!("in {}, called from {}", c.function, top.brief()),
            None => format!("in {}", top.brief()),
        };
        if let Some(caller) = self.stack.get(1) {
            s.push_str(&format!(", called from {}", caller.brief()));
        }
        Some(s)
    }

    fn split(&self) -> String {
        let ms = crate::fmt::duration;
        let of = ms(self.watched_ns);
        match self.cause {
            Cause::OnCpu => format!(
                "on a CPU {} of the {of} watched (code that does not yield)",
                ms(self.on_cpu_ns)
            ),
            Cause::WaitingForCpu => format!(
                "waited {} of the {of} watched for a CPU (host contention: the host, not the \
                 code)",
                ms(self.runq_ns)
            ),
            Cause::Blocked => {
                let mut s = format!("blocked {} of the {of} watched", ms(self.blocked_ns));
                if let Some(sys) = &self.syscall {
                    s.push_str(&format!(" in {}", sys.label()));
                    if let Some(hint) = syscall_hint(sys.name) {
                        s.push_str(&format!(" ({hint})"));
                    }
                }
                s
            }
            Cause::Mixed => format!(
                "on a CPU {}, waiting for a CPU {}, blocked {}{} of the {of} watched",
                ms(self.on_cpu_ns),
                ms(self.runq_ns),
                ms(self.blocked_ns),
                self.syscall
                    .map(|s| format!(" (in {})", s.label()))
                    .unwrap_or_default(),
            ),
        }
    }

    /// What to do about it.
    pub fn advice(&self) -> &'static str {
        match (self.cause, self.syscall.and_then(|s| s.name)) {
            (Cause::OnCpu, _) => {
                "split the work and yield between chunks (tokio::task::yield_now), or run it \
                 with spawn_blocking or block_in_place"
            }
            (Cause::WaitingForCpu, _) => {
                "the host, not the code: check what else runs there, CPU limits and steal time"
            }
            (_, Some("futex")) => {
                "a std lock (or a blocking channel or join) held across slow work: shorten the \
                 critical section, or use tokio::sync and .await it"
            }
            (_, Some("nanosleep" | "clock_nanosleep")) => {
                "a blocking sleep in async code: use tokio::time::sleep"
            }
            _ => {
                "a blocking call inside async code: move it to tokio::task::spawn_blocking, or \
                 use the async equivalent (tokio::fs, tokio::net, an async client)"
            }
        }
    }
}

/// What a blocking system call usually is in Rust code.
fn syscall_hint(name: Option<&str>) -> Option<&'static str> {
    Some(match name? {
        "nanosleep" | "clock_nanosleep" => "std::thread::sleep or another blocking sleep",
        "futex" | "futex_waitv" => {
            "a std::sync::Mutex, RwLock, Condvar, a blocking channel or a join"
        }
        "read" | "pread64" | "readv" | "recvfrom" | "recvmsg" | "recvmmsg" => {
            "a blocking read: std::fs, std::net or a blocking client"
        }
        "write" | "pwrite64" | "writev" | "sendto" | "sendmsg" | "sendmmsg" | "sendfile"
        | "splice" => "a blocking write",
        "fsync" | "fdatasync" => "a blocking flush to disk",
        "connect" | "accept" | "accept4" => "a blocking network call",
        "openat" | "newfstatat" | "statx" | "getdents64" | "flock" | "ftruncate" => {
            "a blocking file-system call"
        }
        "poll" | "ppoll" | "select" | "pselect6" | "epoll_wait" | "epoll_pwait"
        | "epoll_pwait2" => "waiting on file descriptors: a nested event loop or block_on",
        "wait4" | "waitid" => "waiting for a child process",
        "getrandom" => "waiting for the kernel's entropy",
        _ => return None,
    })
}

/// The name of system call `nr` on `arch` (`std::env::consts::ARCH`), for the calls a
/// blocked async worker is usually found in.
pub fn syscall_name(arch: &str, nr: u16) -> Option<&'static str> {
    const X86_64: &[(u16, &str)] = &[
        (0, "read"),
        (1, "write"),
        (7, "poll"),
        (17, "pread64"),
        (18, "pwrite64"),
        (19, "readv"),
        (20, "writev"),
        (23, "select"),
        (35, "nanosleep"),
        (40, "sendfile"),
        (42, "connect"),
        (43, "accept"),
        (44, "sendto"),
        (45, "recvfrom"),
        (46, "sendmsg"),
        (47, "recvmsg"),
        (61, "wait4"),
        (73, "flock"),
        (74, "fsync"),
        (75, "fdatasync"),
        (77, "ftruncate"),
        (202, "futex"),
        (217, "getdents64"),
        (230, "clock_nanosleep"),
        (232, "epoll_wait"),
        (247, "waitid"),
        (257, "openat"),
        (262, "newfstatat"),
        (270, "pselect6"),
        (271, "ppoll"),
        (275, "splice"),
        (281, "epoll_pwait"),
        (288, "accept4"),
        (299, "recvmmsg"),
        (307, "sendmmsg"),
        (318, "getrandom"),
        (332, "statx"),
        (441, "epoll_pwait2"),
        (449, "futex_waitv"),
    ];
    const AARCH64: &[(u16, &str)] = &[
        (22, "epoll_pwait"),
        (32, "flock"),
        (46, "ftruncate"),
        (56, "openat"),
        (61, "getdents64"),
        (63, "read"),
        (64, "write"),
        (65, "readv"),
        (66, "writev"),
        (67, "pread64"),
        (68, "pwrite64"),
        (71, "sendfile"),
        (72, "pselect6"),
        (73, "ppoll"),
        (76, "splice"),
        (79, "newfstatat"),
        (82, "fsync"),
        (83, "fdatasync"),
        (95, "waitid"),
        (98, "futex"),
        (101, "nanosleep"),
        (115, "clock_nanosleep"),
        (202, "accept"),
        (203, "connect"),
        (206, "sendto"),
        (207, "recvfrom"),
        (211, "sendmsg"),
        (212, "recvmsg"),
        (242, "accept4"),
        (243, "recvmmsg"),
        (260, "wait4"),
        (269, "sendmmsg"),
        (278, "getrandom"),
        (291, "statx"),
        (441, "epoll_pwait2"),
        (449, "futex_waitv"),
    ];
    let table = match arch {
        "x86_64" => X86_64,
        "aarch64" => AARCH64,
        _ => return None,
    };
    table.iter().find(|&&(n, _)| n == nr).map(|&(_, name)| name)
}

/// The architecture whose system call numbers a dump's looks carry: the recording
/// process's (format v6), else (an older dump, a ring file) this machine's.
pub fn dump_arch(ix: &Index) -> &str {
    if ix.dump.facts.arch.is_empty() {
        std::env::consts::ARCH
    } else {
        &ix.dump.facts.arch
    }
}

/// The lane's next event after the event that ended `poll` (at `end`), within the 64
/// events that follow it: where the CPU sample a long poll takes at its end is.
fn after_poll(ix: &Index, poll: &super::index::Poll, end: u64) -> Option<dial9_format::Event> {
    let task = ix.tasks.get(poll.task as usize)?.id;
    let mut events = ix.events.cursor(ix.event_at(end) as usize);
    // The end: the poll's own end, or what its lane did next when that was lost.
    events.by_ref().take_while(|e| e.ts_ns <= end).find(|e| {
        e.lane == poll.lane
            && match e.kind {
                EventKind::PollEnd { task: t, .. } => t == task,
                EventKind::PollStart { .. } | EventKind::Park | EventKind::ThreadStop => {
                    poll.end_unknown
                }
                _ => false,
            }
    })?;
    events.take(64).find(|e| e.lane == poll.lane)
}

/// What the watchdog saw of poll `p`, if it looked at it at least twice (or once, with the
/// poll's end CPU sample after it).
pub fn explain(ix: &Index, p: PollIdx) -> Option<PollWhy> {
    let samples = ix.poll_samples.get(&p)?;
    let poll = ix.poll(p)?;
    let mut looks = looks(ix, samples);
    // The watchdog's own looks, before the poll's end CPU sample joins them.
    let looked = looks.marks.len();
    if let Some(end) = poll.end_ns
        && let Some(stat) = after_poll(ix, &poll, end)
        && let EventKind::CpuStat {
            on_cpu_ns,
            runq_wait_ns,
        } = stat.kind
        && stat.ts_ns.saturating_sub(end) < 1_000_000
    {
        let us = |ns: u64| ((ns / 1_000) % u64::from(SAMPLE_US_MOD)) as u32;
        let running = looks.marks.last().is_some_and(|m| m.3);
        looks
            .marks
            .push((stat.ts_ns, us(on_cpu_ns), us(runq_wait_ns), running));
    }
    if looks.marks.len() < 2 {
        return None;
    }
    let split = split_time(&looks.marks);
    let syscall = looks
        .blocked_in
        .iter()
        .max_by_key(|(_, c)| *c)
        .map(|&(nr, n)| Syscall {
            nr,
            name: syscall_name(dump_arch(ix), nr),
            looks: n,
            blocked_looks: looks.blocked_looks,
        });
    let captures = looks.stack_ids.iter().map(|(_, c)| c).sum();
    let (stack, seen, callee) = most_seen_stack(ix, looks.stack_ids);
    Some(PollWhy {
        stack,
        callee,
        stack_captures: (seen, captures),
        looks: looked,
        watched_ns: split.watched,
        on_cpu_ns: split.cpu,
        runq_ns: split.runq,
        blocked_ns: split.blocked,
        syscall,
        cause: split.cause(),
        samples: samples.clone(),
    })
}

/// What the watchdog's looks at one poll found, before they are added up.
struct Looks {
    /// (ts, on_cpu_us, runq_us, running) of each look (one a `PollSample`), then of the
    /// CPU sample at the poll's end (running: as the last look found it).
    marks: Vec<(u64, u32, u32, bool)>,
    /// Looks that found the thread blocked in a system call, by the call.
    blocked_in: Vec<(u16, usize)>,
    /// Looks that found the thread blocked.
    blocked_looks: usize,
    /// Captures of each stack, by its id.
    stack_ids: Vec<(u32, usize)>,
}

/// The poll's look and stack capture events, read into marks and counts.
fn looks(ix: &Index, samples: &[EventIdx]) -> Looks {
    let events = &ix.events;
    let mut looks = Looks {
        marks: Vec::new(),
        blocked_in: Vec::new(),
        blocked_looks: 0,
        stack_ids: Vec::new(),
    };
    for &e in samples {
        let Some(ev) = events.get(e as usize) else {
            continue;
        };
        if let EventKind::PollStack { stack, .. } = ev.kind {
            match looks.stack_ids.iter_mut().find(|(id, _)| *id == stack) {
                Some((_, c)) => *c += 1,
                None => looks.stack_ids.push((stack, 1)),
            }
            continue;
        }
        if let EventKind::PollSample {
            state,
            syscall,
            on_cpu_us,
            runq_wait_us,
            ..
        } = ev.kind
        {
            looks
                .marks
                .push((ev.ts_ns, on_cpu_us, runq_wait_us, state == b'R'));
            if state != b'R' {
                looks.blocked_looks += 1;
                if let Some(nr) = syscall {
                    match looks.blocked_in.iter_mut().find(|(n, _)| *n == nr) {
                        Some((_, c)) => *c += 1,
                        None => looks.blocked_in.push((nr, 1)),
                    }
                }
            }
        }
    }
    looks
}

/// The time the marks watched, split by where it went.
struct Split {
    cpu: u64,
    runq: u64,
    blocked: u64,
    watched: u64,
}

impl Split {
    /// Where most of the watched time went, if one part dominates.
    fn cause(&self) -> Cause {
        let most = |part: u64| {
            u128::from(part) * 100 >= u128::from(self.watched) * u128::from(DOMINANT_PCT)
        };
        if most(self.cpu) {
            Cause::OnCpu
        } else if most(self.runq) {
            Cause::WaitingForCpu
        } else if most(self.blocked) {
            Cause::Blocked
        } else {
            Cause::Mixed
        }
    }
}

/// Each interval between two marks, split into time on a CPU, waiting for one, and
/// blocked (the rest).
fn split_time(marks: &[(u64, u32, u32, bool)]) -> Split {
    let (mut cpu, mut runq, mut blocked, mut watched) = (0u64, 0u64, 0u64, 0u64);
    for w in marks.windows(2) {
        let dt = w[1].0.saturating_sub(w[0].0);
        let diff = |a: u32, b: u32| u64::from(b.wrapping_sub(a) % SAMPLE_US_MOD) * 1_000;
        let c = diff(w[0].1, w[1].1).min(dt);
        let r = diff(w[0].2, w[1].2).min(dt - c);
        cpu += c;
        runq += r;
        // The kernel adds a wait for a CPU to the thread's count only once it runs again:
        // time unaccounted between two looks that both found it runnable was such a
        // wait, not a block.
        if w[0].3 && w[1].3 {
            runq += dt - c - r;
        } else {
            blocked += dt - c - r;
        }
        watched += dt;
    }
    Split {
        cpu,
        runq,
        blocked,
        watched,
    }
}

/// The stack seen most, by its application frames (the same code line can come with
/// different runtime frames below it): its frames, its captures, and its callee.
fn most_seen_stack(ix: &Index, stack_ids: Vec<(u32, usize)>) -> (Vec<Frame>, usize, Option<Frame>) {
    let mut by_frames: Vec<(Vec<Frame>, usize, Option<Frame>)> = Vec::new();
    for (id, n) in stack_ids {
        let Some(s) = ix.dump.facts.stacks.iter().find(|s| s.id == id) else {
            continue;
        };
        let frames = app_frames(&s.frames);
        match by_frames.iter_mut().find(|(f, _, _)| *f == frames) {
            Some((_, c, _)) => *c += n,
            None => by_frames.push((frames, n, super::backtrace::callee(&s.frames))),
        }
    }
    by_frames
        .into_iter()
        .filter(|(f, _, _)| !f.is_empty())
        .max_by_key(|(_, n, _)| *n)
        .unwrap_or_default()
}
