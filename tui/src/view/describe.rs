//! One-line descriptions of events, shared by the timeline and the lifecycle pane.

use dial9_format::{EventKind, ThreadKind, WakeSource, WakerOp};

use crate::analysis::Index;
use crate::analysis::index::EventIdx;
use crate::fmt::{duration, sanitize};

/// Short lane tag: `w0` worker 0, `b5` blocking lane 5, `o2` other lane 2.
pub fn lane_tag(ix: &Index, lane: u32) -> String {
    match ix.lane(lane) {
        Some(l) => match (l.info.kind, l.info.worker) {
            (ThreadKind::Worker, Some(w)) => format!("w{w}"),
            (ThreadKind::Blocking, _) => format!("b{lane}"),
            _ => format!("o{lane}"),
        },
        None => format!("?{lane}"),
    }
}

/// What happened at event `e`, beyond its kind: durations, who woke whom, delays.
pub fn detail(ix: &Index, e: EventIdx) -> String {
    let ev = &ix.events.at(e as usize);
    match ev.kind {
        EventKind::Spawn { parent, .. } => {
            let t = ix.task_of_event(e).map(|t| &ix.tasks[t as usize]);
            let at = t
                .and_then(|t| t.location.as_ref())
                .map(|l| format!(" at {}", sanitize(&l.to_string())))
                .unwrap_or_default();
            match parent {
                Some(p) => format!("by {}{at}", sanitize(&ix.task_label(p))),
                None => at.trim_start().to_string(),
            }
        }
        EventKind::PollStart { .. } => match ix.poll_at_event(e).and_then(|p| ix.poll(p)) {
            Some(p) if p.end_ns.is_none() => {
                format!(
                    "still polling at the dump ({})",
                    duration(p.duration(ix.end_ns))
                )
            }
            Some(p) => format!("runs {}", duration(p.duration(ix.end_ns))),
            None => String::new(),
        },
        EventKind::PollEnd { completed, .. } => {
            let d = ix
                .poll_at_event(e)
                .and_then(|p| ix.poll(p))
                .map(|p| duration(p.duration(ix.end_ns)))
                .unwrap_or_default();
            if completed {
                format!("after {d}, completed")
            } else {
                format!("after {d}, pending")
            }
        }
        EventKind::Wake { task, source, .. } => wake(ix, e, task, source),
        EventKind::OrphanWaker { op, span } => {
            let op = match op {
                WakerOp::Clone => "clone",
                WakerOp::Drop => "drop",
                WakerOp::Wake => "wake",
                WakerOp::WakeByRef => "wake_by_ref",
            };
            format!("{op} of a waker of an ended task (span {span})")
        }
        EventKind::WakerClone { task, live } | EventKind::WakerDrop { task, live } => {
            waker_op(ix, e, task, live)
        }
        EventKind::Unpark {
            io_ready_total: Some(n),
        } => format!("io ready total {n}"),
        EventKind::PollStack { stack, .. } => watchdog_stack(ix, stack),
        EventKind::PollSample { state, syscall, .. } => watchdog_look(ix, state, syscall),
        EventKind::TimerArm { duration_ms, .. } => format!("sleep {duration_ms} ms"),
        EventKind::Scheduled { latency_ns, .. } => {
            format!("waited {} since scheduled", duration(latency_ns))
        }
        _ => String::new(),
    }
}

/// A wake: who woke the task, and when (if ever) it was polled after. What the row says
/// is in the wakes' columns: no walk to the poll it led to.
fn wake(ix: &Index, e: EventIdx, task: u64, source: WakeSource) -> String {
    let wake = ix.wakes.at_event(e);
    let timer = wake.is_some_and(|w| ix.wakes.timer(w));
    let by = match source {
        WakeSource::Task(t) if t == task => "itself".to_string(),
        WakeSource::Task(t) => sanitize(&ix.task_label(t)),
        WakeSource::Driver if timer => "timer".into(),
        WakeSource::Driver => "runtime".into(),
        WakeSource::Foreign => "outside thread".into(),
    };
    match wake {
        Some(w) if ix.wakes.polled(w) => {
            format!("by {by}, polled {} later", duration(ix.wakes.delay(w)))
        }
        Some(w) => format!(
            "by {by}, not polled ({} to dump)",
            duration(ix.wakes.delay(w))
        ),
        None => format!("by {by}"),
    }
}

/// A waker's clone or drop: in whose poll, and the live wakers after it when recorded.
fn waker_op(ix: &Index, e: EventIdx, task: u64, live: Option<u64>) -> String {
    let whose = match ix.polling_at_event(e) {
        Some(t) if ix.tasks[t as usize].id == task => "in its own poll".into(),
        Some(t) => format!("in {}'s poll", sanitize(&ix.tasks[t as usize].label())),
        None => "outside any poll".into(),
    };
    match live {
        Some(n) => format!("{whose}; {n} live after"),
        None => whose,
    }
}

/// The watchdog's stack of a long poll: its first frame of the application's.
fn watchdog_stack(ix: &Index, stack: u32) -> String {
    let frames = ix
        .dump
        .facts
        .stacks
        .iter()
        .find(|s| s.id == stack)
        .map(|s| crate::analysis::backtrace::app_frames(&s.frames))
        .unwrap_or_default();
    match frames.first() {
        Some(f) => format!("watchdog: stack at {}", sanitize(&f.label())),
        None => "watchdog: stack (no application frame)".into(),
    }
}

/// The watchdog's look at a long poll's thread: its state, and the system call it was in.
fn watchdog_look(ix: &Index, state: u8, syscall: Option<u16>) -> String {
    let what = match state {
        b'R' => "running or waiting for a CPU",
        b'S' => "sleeping",
        b'D' => "in uninterruptible I/O",
        b'T' => "stopped",
        _ => "in another state",
    };
    match syscall.filter(|_| state != b'R') {
        Some(nr) => {
            let arch = crate::analysis::why::dump_arch(ix);
            match crate::analysis::why::syscall_name(arch, nr) {
                Some(name) => format!("watchdog: {what} in {name}"),
                None => format!("watchdog: {what} in system call {nr}"),
            }
        }
        None => format!("watchdog: {what}"),
    }
}
