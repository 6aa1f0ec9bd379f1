//! Every wake in the window and how long it waited for a poll, as columns: 9 bytes a
//! wake. What the wake event itself says (the task, when, who woke it) is read from the
//! event when asked ([`super::Index::wake`]); the poll it led to is found from the task's
//! next poll start.

use super::narrow::Narrow;

use dial9_format::{EventKind, WakeSource};

use super::index::{EventIdx, Index, TaskIdx};
use super::polls::PollIdx;

/// A wake and the poll it led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    pub event: EventIdx,
    pub task: TaskIdx,
    pub at_ns: u64,
    /// When waiting began: the wake, or the end of the poll that was running when it came.
    pub waits_from_ns: u64,
    /// `None` for a wait known only from Tokio's schedule latency (no wake event: the
    /// tracing layer was not installed), or from a timer's deadline alone.
    pub source: Option<WakeSource>,
    /// A runtime wake that matches a timer the task armed (its deadline had come): Tokio
    /// does not say whether the driver woke a task for I/O or a timer, this tells them apart.
    pub timer: bool,
    /// The wait is measured from the deadline of a timer the task armed, not from the
    /// wake: the timer fired late (a hog held back the driver), or no wake was seen.
    pub late_timer: bool,
    /// Start of the task's next poll, `None` if it was not polled before the dump.
    pub poll_at: Option<u64>,
    /// The poll it led to.
    pub poll: Option<PollIdx>,
    /// Time the task waited to be polled: from the wake (or, if the task was running when
    /// woken, from the end of that poll) to its next poll, or to the dump.
    pub delay_ns: u64,
}

const TIMER: u8 = 1;
const LATE_TIMER: u8 = 2;
const POLLED: u8 = 4;

/// The wakes, in event order (see the module's doc).
#[derive(Clone, Debug, Default)]
pub struct Wakes {
    event: Vec<EventIdx>,
    delay: Narrow,
    flags: Vec<u8>,
}

impl Wakes {
    pub fn len(&self) -> usize {
        self.event.len()
    }

    pub fn is_empty(&self) -> bool {
        self.event.is_empty()
    }

    pub fn event(&self, w: usize) -> EventIdx {
        self.event[w]
    }

    pub fn delay(&self, w: usize) -> u64 {
        self.delay.get(w)
    }

    pub fn polled(&self, w: usize) -> bool {
        self.flags[w] & POLLED != 0
    }

    pub fn timer(&self, w: usize) -> bool {
        self.flags[w] & TIMER != 0
    }

    pub fn late_timer(&self, w: usize) -> bool {
        self.flags[w] & LATE_TIMER != 0
    }

    /// A wake waiting for a poll; its index.
    pub(crate) fn push(&mut self, event: EventIdx, timer: bool) -> u32 {
        self.event.push(event);
        self.delay.push(0);
        self.flags.push(if timer { TIMER } else { 0 });
        (self.event.len() - 1) as u32
    }

    /// The wait ended (with a poll, or at the dump).
    pub(crate) fn settle(&mut self, w: u32, delay_ns: u64, polled: bool, late_timer: bool) {
        let i = w as usize;
        self.delay.set(i, delay_ns);
        if polled {
            self.flags[i] |= POLLED;
        }
        if late_timer {
            self.flags[i] |= LATE_TIMER;
        }
    }

    /// The wake of event `e`, if there is one (a binary search: wakes are in event order).
    pub fn at_event(&self, e: EventIdx) -> Option<usize> {
        self.event.binary_search(&e).ok()
    }
}

impl Index {
    /// Wake `w` in full: what its event says, and the poll it led to.
    pub fn wake(&self, w: usize) -> Option<Wake> {
        let wakes = &self.wakes;
        let e = *wakes.event.get(w)?;
        let ev = self.events.get(e as usize)?;
        let task = self.task_idx(ev.kind.task()?)?;
        let delay_ns = wakes.delay(w);
        let poll = if wakes.polled(w) {
            self.next_poll_of(task, e)
        } else {
            None
        };
        let poll_at = poll.and_then(|p| self.polls.get(p)).map(|p| p.start_ns);
        let (source, at_ns) = match ev.kind {
            EventKind::Wake { source, .. } => (Some(source), ev.ts_ns),
            EventKind::Scheduled { latency_ns, .. } => (None, ev.ts_ns.saturating_sub(latency_ns)),
            // A timer's lateness alone, recorded at the poll: the wait began at its deadline.
            _ => (None, ev.ts_ns.saturating_sub(delay_ns)),
        };
        let waits_from_ns = poll_at.unwrap_or(self.end_ns).saturating_sub(delay_ns);
        Some(Wake {
            event: e,
            task,
            at_ns,
            waits_from_ns,
            source,
            timer: wakes.timer(w),
            late_timer: wakes.late_timer(w),
            poll_at,
            poll,
            delay_ns,
        })
    }

    /// The wake record of a wake event.
    pub fn wake_at_event(&self, e: EventIdx) -> Option<Wake> {
        self.wake(self.wakes.at_event(e)?)
    }

    /// The poll of task `t` that starts at or after event `e`: the first poll start of the
    /// task from `e` on (a poll known only from its end has no start, and takes no wake).
    pub fn next_poll_of(&self, t: TaskIdx, e: EventIdx) -> Option<PollIdx> {
        let id = self.tasks.get(t as usize)?.id;
        let from = self.task_row_near(t, e);
        let list = self.task_events(t);
        (from..list.len())
            .filter_map(|row| list.get(self, row))
            .filter(|&x| x >= e)
            .find(|&x| matches!(self.events.kind(x as usize), EventKind::PollStart { task } if task == id))
            .and_then(|x| self.poll_at_event(x))
    }
}
