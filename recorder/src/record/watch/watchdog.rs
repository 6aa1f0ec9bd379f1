//! The long-poll watchdog: what a thread was doing while it polled one task for long.
//!
//! A dump says a poll ran 200 ms; the next question is why: was the thread on a CPU, blocked
//! in a system call (which), or runnable and not given a CPU by the host? The thread cannot
//! say while it is stuck, so a separate thread looks at it: every couple of milliseconds it
//! reads each lane's current poll (the lanes already keep it), and for one running longer
//! than half the threshold reads what the kernel says of that thread, with no privileges:
//! `/proc/self/task/TID/stat` (its state), `.../syscall` (the call it is blocked in) and
//! `.../schedstat` (its time on a CPU and waiting for one). Each look is a
//! [`Kind::PollSample`] record on the watchdog's own lane, tied to the poll by its task.
//!
//! Looks back off (every tick for the first 16, then at doubling intervals up to a
//! second), so a worker hung for minutes takes a few hundred records, not the ring. The
//! record path and the workers are never touched: the watchdog only reads atomics and
//! files, and a poll shorter than half the threshold costs nothing at all.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::format::Activity;
use crate::format::ring_codec::{Kind, pack_sample};

use super::super::store::lanes::LaneSlot;
use super::Watch;

/// Looks at the tick period before backing off.
const EAGER_LOOKS: u32 = 16;
/// The longest interval between two looks at one poll.
const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// What the watchdog knows of one lane's current long poll.
struct Watching {
    task: u64,
    since_raw: u64,
    looks: u32,
    /// Raw time of the next look.
    next_raw: u64,
}

/// The watchdog's settings.
#[derive(Clone, Copy)]
pub(crate) struct Settings {
    /// Polls at least this long get looked at (the first look, a baseline, at half).
    pub threshold: Duration,
    /// How often the watchdog wakes.
    pub tick: Duration,
}

impl Settings {
    pub(crate) fn for_threshold(threshold: Duration) -> Settings {
        // Below a millisecond every poll would be looked at (and, with stacks, signalled).
        let threshold = threshold.max(Duration::from_millis(1));
        Settings {
            threshold,
            tick: (threshold / 5).clamp(Duration::from_millis(1), Duration::from_millis(50)),
        }
    }
}

impl Watch {
    /// One round of looks at the lanes polling for long. `now` (at a dump): look at every
    /// long poll now, whatever its back-off says.
    fn look(
        &self,
        watches: &mut HashMap<u32, Watching>,
        settings: Settings,
        now: bool,
        patient: bool,
    ) {
        // At a dump from the panic hook, never wait for the lane table's lock.
        let lanes = self.store().lanes.all(patient);
        let now_raw = self.store().clock.raw();
        let ns = |raw: u64| self.store().raw_to_ns(raw);
        let threshold = settings.threshold.as_nanos() as u64;
        for lane in &lanes {
            let (Activity::Polling { task }, since) = lane.activity() else {
                watches.remove(&lane.lane);
                continue;
            };
            let age = ns(now_raw).saturating_sub(ns(since));
            if age < threshold / 2 || lane.os_tid() == 0 {
                continue;
            }
            let fresh = watches
                .get(&lane.lane)
                .is_none_or(|w| w.task != task || w.since_raw != since);
            if fresh {
                // The first look, at half the threshold: a baseline for the times.
                let Some(look) = look_at(lane) else { continue };
                self.record_look(task, &look);
                watches.insert(
                    lane.lane,
                    Watching {
                        task,
                        since_raw: since,
                        looks: 1,
                        next_raw: now_raw.saturating_add(self.store().ns_to_raw(settings.tick)),
                    },
                );
                continue;
            }
            let Some(w) = watches.get_mut(&lane.lane) else {
                continue;
            };
            if (now_raw < w.next_raw && !now) || age < threshold {
                continue;
            }
            let Some(look) = look_at(lane) else { continue };
            self.record_look(task, &look);
            w.looks += 1;
            // A stack at the 2nd, 4th, 8th... look, and at a dump (not the panic hook's:
            // it must not wait for anyone): a handful a poll.
            if (w.looks.is_power_of_two() && !now) || (now && patient) {
                self.record_stack(task, lane, &look, now);
            }
            let interval = if w.looks <= EAGER_LOOKS {
                settings.tick
            } else {
                settings
                    .tick
                    .saturating_mul(2u32.saturating_pow(w.looks - EAGER_LOOKS))
                    .min(MAX_INTERVAL)
            };
            w.next_raw = now_raw.saturating_add(self.store().ns_to_raw(interval));
        }
        // Lanes that went away.
        watches.retain(|l, _| lanes.iter().any(|s| s.lane == *l));
    }

    /// Captures the stack of the thread polling `task` on `lane`, if stacks are on and
    /// the call it is blocked in is one a signal cannot disturb.
    fn record_stack(&self, task: u64, lane: &LaneSlot, look: &Look, now: bool) {
        let (Some(table), Some((thread, stack))) = (&self.stacks, lane.thread) else {
            return;
        };
        if look.state != b'R' && look.syscall.is_some_and(super::stacks::never_restarted) {
            return;
        }
        let target = super::stacks::Target {
            tid: lane.os_tid() as i32,
            thread,
            stack,
        };
        let Some(frames) = super::stacks::capture(target) else {
            return;
        };
        let table = if now {
            table.try_lock().ok()
        } else {
            table.lock().ok()
        };
        let Some(mut table) = table else { return };
        if let Some(id) = table.intern(frames) {
            drop(table);
            self.store().record(Kind::PollStack, 0, task, u64::from(id));
        }
    }

    fn record_look(&self, task: u64, look: &Look) {
        if let Some((a, aux)) =
            pack_sample(task, look.state, look.syscall, look.on_cpu_ns, look.runq_ns)
        {
            self.store().record(Kind::PollSample, 0, a, aux);
        }
    }

    /// At a dump: one more look at every poll running longer than the threshold (a hung
    /// worker, the SIGUSR1 case), so the dump says what it is doing right now. Skipped if
    /// the watchdog is off or looking right now (never waits for it).
    pub(crate) fn look_now(&self, patient: bool) {
        let Some(w) = &self.watchdog else { return };
        if let Ok(mut watches) = w.watches.try_lock() {
            self.look(&mut watches, w.settings, true, patient);
        }
    }
}

/// The watchdog's state shared with dumps.
pub(crate) struct Watchdog {
    pub(crate) settings: Settings,
    watches: std::sync::Mutex<HashMap<u32, Watching>>,
}

impl Watchdog {
    pub(crate) fn new(settings: Settings) -> Watchdog {
        Watchdog {
            settings,
            watches: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

/// Starts the watchdog thread for `inner` (if it has a watchdog). It stops when the
/// recorder is dropped.
pub(crate) fn start(inner: &Arc<Watch>) -> std::io::Result<()> {
    let Some(w) = &inner.watchdog else {
        return Ok(());
    };
    let tick = w.settings.tick;
    let weak: Weak<Watch> = Arc::downgrade(inner);
    std::thread::Builder::new()
        .name("dial9-watchdog".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                if let Some(w) = &inner.watchdog
                    && let Ok(mut watches) = w.watches.lock()
                {
                    inner.look(&mut watches, w.settings, false, true);
                }
            }
        })
        .map(|_| ())
}

/// What the kernel says of a thread right now.
struct Look {
    state: u8,
    syscall: Option<u16>,
    on_cpu_ns: u64,
    runq_ns: u64,
}

#[cfg(target_os = "linux")]
fn look_at(lane: &LaneSlot) -> Option<Look> {
    let tid = lane.os_tid();
    let read = |file: &str| std::fs::read(format!("/proc/self/task/{tid}/{file}")).ok();
    let stat = read("stat")?;
    let state = parse_state(&stat)?;
    let (on_cpu_ns, runq_ns) = read("schedstat")
        .and_then(|s| super::super::capture::cpu_stat::parse(&s))
        .unwrap_or((0, 0));
    // Only a thread that is not running is in a call worth naming.
    let syscall = if state == b'R' {
        None
    } else {
        read("syscall").and_then(|s| parse_syscall(&s))
    };
    Some(Look {
        state,
        syscall,
        on_cpu_ns,
        runq_ns,
    })
}

#[cfg(not(target_os = "linux"))]
fn look_at(_: &LaneSlot) -> Option<Look> {
    None
}

/// The state letter of `/proc/.../stat`: after the command name, which is in parentheses
/// and may itself hold spaces and parentheses (so after the last `)`).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_state(stat: &[u8]) -> Option<u8> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied().filter(u8::is_ascii_alphabetic)
}

/// `/proc/.../syscall`: the call's number first when the thread is blocked in one;
/// `running`, or `-1` (blocked, not in a call), otherwise.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_syscall(text: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(text).ok()?;
    text.split_ascii_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dump that may wait (a signal's, `dump()`) waits for the lane list rather than
    /// look at no lane: a thread registering holds its lock only briefly.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_patient_look_at_a_dump_waits_for_the_lane_list() {
        use std::sync::mpsc;
        let rec = crate::FlightRecorder::builder()
            .install_panic_hook(false)
            .watchdog(None)
            .build()
            .unwrap();
        let watch = rec.inner.watch.clone();
        let inner = watch.capture.clone();
        let (started, polling) = mpsc::channel();
        let (release, done) = mpsc::channel::<()>();
        let stuck = {
            let inner = inner.clone();
            std::thread::spawn(move || {
                inner.poll_start(7);
                started.send(()).unwrap();
                let _ = done.recv();
                inner.poll_end(7, crate::record::capture::hooks::Ended::No);
            })
        };
        polling.recv().unwrap();
        // Older than the threshold.
        std::thread::sleep(Duration::from_millis(20));
        let settings = Settings::for_threshold(Duration::from_millis(10));
        let held = inner.store.lanes.hold();
        let looker = {
            let watch = watch.clone();
            std::thread::spawn(move || watch.look(&mut HashMap::new(), settings, true, true))
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(held);
        looker.join().unwrap();
        let d = rec.snapshot();
        assert!(
            d.events
                .iter()
                .any(|e| matches!(e.kind, crate::format::EventKind::PollSample { task: 7, .. })),
            "no look at the stuck poll"
        );
        release.send(()).unwrap();
        stuck.join().unwrap();
    }

    #[test]
    fn parses_what_the_kernel_writes() {
        assert_eq!(parse_state(b"42 (tokio-rt-worker) S 1 42 42 0"), Some(b'S'));
        // A thread name with spaces and parentheses.
        assert_eq!(parse_state(b"42 (a) b (c)) R 1 2"), Some(b'R'));
        assert_eq!(parse_state(b"42 (cut"), None);
        assert_eq!(
            parse_syscall(b"230 0x1 0x0 0x7ffd 0x0 0x0 0x0 0x7ffd 0x7f\n"),
            Some(230)
        );
        assert_eq!(parse_syscall(b"running\n"), None);
        assert_eq!(parse_syscall(b"-1 0x7ffd 0x7f\n"), None);
    }
}
