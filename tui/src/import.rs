//! Opening the public dial9's traces (`dial9-tokio-telemetry` 0.5): its segment files,
//! gzipped or not, read with its own `dial9-trace-format` decoder and mapped into this
//! explorer's model, so `dial9-tui trace.0.bin.gz` (and `report`, `check`, `export`)
//! works on them.
//!
//! ```text
//! dial9 event          fields used                                  becomes
//! PollStartEvent       worker_id, task_id, spawn_loc,               a poll start (and Tokio's
//!                      [scheduling_delay_ns]                        schedule latency)
//! PollEndEvent         worker_id                                    the end of that worker's poll
//! TaskSpawnEvent       task_id, spawn_loc, worker_id?               a spawn, the task's location
//! TaskTerminateEvent   task_id                                      a termination
//! WakeEventEvent       waker_task_id, woken_task_id, target_worker  a wake (waker 0: outside any task)
//! WorkerPark/Unpark    worker_id, tid                               a park, an unpark
//! ClockSyncEvent       realtime_ns                                  the wall-clock anchor
//! SegmentMetadataEvent entries ("service", the recorder's version)  the program's name
//! ```
//! Worker ids are lanes (254 is the blocking pool, 255 a thread outside the runtime).
//! dial9 records no waker clone or drop, no task names, and wakes only for the tasks it
//! spawned: what cannot be judged is said as [`Foreign::limits`], which the header, the
//! report and `check` print. Batches of a segment come in no order: events are sorted by
//! time (stably) before a poll's end is paired with its start on the same worker.

use std::io::Read;
use std::path::{Path, PathBuf};

use dial9_format::{
    Activity, ClockAnchor, Dump, Event, EventKind, Facts, Header, LaneState, Reason, SpawnLocation,
    TaskInfo, TaskKind, ThreadInfo, ThreadKind, WakeSource,
};
use dial9_trace_format::decoder::{Decoder, RawEvent};
use dial9_trace_format::types::FieldValueRef;
use rustc_hash::FxHashMap as HashMap;

/// The first bytes of a dial9 trace segment.
pub const TRACE_MAGIC: [u8; 4] = *b"TRC\0";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decompressed bytes a segment may take, at most: a gzip bomb must not take the host's
/// memory (dial9 rotates its segments at 100 MiB by default).
const MAX_SEGMENT: u64 = 4 << 30;

/// Worker ids dial9 reserves.
const BLOCKING_WORKER: u64 = 254;
const UNKNOWN_WORKER: u64 = 255;

/// Where an imported dump came from, and what cannot be judged on it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Foreign {
    /// "dial9 trace", with the recorder's version when the segments say it (sanitized:
    /// safe to print as it is).
    pub format: String,
    pub segments: usize,
    /// One line each: the analyses that cannot run, and why.
    pub limits: Vec<String>,
}

/// Whether `paths` name dial9 trace segments (a directory of them, or files that start
/// with the trace magic or are gzipped) rather than a dial9-tui dump.
pub fn is_dial9(paths: &[PathBuf]) -> bool {
    paths.iter().any(|p| {
        if p.is_dir() {
            return true;
        }
        let mut head = Vec::with_capacity(4);
        std::fs::File::open(p)
            .and_then(|f| f.take(4).read_to_end(&mut head))
            .is_ok_and(|_| head.starts_with(&GZIP_MAGIC) || head.starts_with(&TRACE_MAGIC))
    })
}

/// The segment files of `paths`: each file as given, and a directory's `trace.N.bin` and
/// `trace.N.bin.gz` files (in `N` order; still-open `.active` ones too, last).
pub fn segment_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let entries =
            std::fs::read_dir(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        let mut found: Vec<(u64, bool, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let rest = name.strip_prefix("trace.")?;
                let (n, ext) = rest.split_once('.')?;
                let n: u64 = n.parse().ok()?;
                matches!(ext, "bin" | "bin.gz" | "bin.active")
                    .then(|| (n, ext == "bin.active", e.path()))
            })
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(format!(
                "{}: no dial9 trace segments (trace.N.bin or trace.N.bin.gz) in this directory",
                p.display()
            ));
        }
        out.extend(found.into_iter().map(|(_, _, p)| p));
    }
    Ok(out)
}

/// Reads the segments at `paths` (see [`segment_files`]) into a dump.
pub fn read(paths: &[PathBuf]) -> Result<(Dump, Foreign), String> {
    let files = segment_files(paths)?;
    // One segment's bytes in memory at a time (a trace is many segments of up to 100 MB).
    let mut gathered = Gathered::default();
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        gather(&f.display().to_string(), &bytes, &mut gathered)?;
    }
    let pid = paths
        .iter()
        .chain(&files)
        .find_map(|p| pid_of(p))
        .unwrap_or(0);
    let mut read = to_dump(gathered, files.len());
    read.0.header.pid = pid;
    if read.0.header.program.is_empty() {
        read.0.header.program = files
            .first()
            .and_then(|f| f.parent())
            .and_then(|d| d.file_name())
            .map_or_else(
                || "dial9 trace".into(),
                |n| n.to_string_lossy().into_owned(),
            );
    }
    Ok(read)
}

/// The pid in dial9's directory name for a process's segments (`{4 letters}-{pid}`).
fn pid_of(p: &Path) -> Option<u32> {
    let dir = if p.is_dir() { p } else { p.parent()? };
    let name = dir.file_name()?.to_str()?;
    let (letters, pid) = name.split_once('-')?;
    (letters.len() == 4 && letters.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Decompresses a gzipped segment (every member: a file may hold several), bounded.
fn gunzip(name: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_SEGMENT + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{name}: not a readable gzip file: {e}"))?;
    if out.len() as u64 > MAX_SEGMENT {
        return Err(format!(
            "{name}: decompresses to more than {} GiB",
            MAX_SEGMENT >> 30
        ));
    }
    Ok(out)
}

/// A dial9 event, as much of it as the mapping uses, in the order read.
#[derive(Clone, Debug)]
enum Raw {
    PollStart {
        worker: u64,
        task: u64,
        location: Option<Place>,
        delay_ns: Option<u64>,
    },
    PollEnd {
        worker: u64,
    },
    Spawn {
        task: u64,
        location: Option<Place>,
        instrumented: bool,
        worker: Option<u64>,
    },
    Terminate {
        task: u64,
    },
    Wake {
        waker: u64,
        woken: u64,
        worker: u64,
    },
    Park {
        worker: u64,
        tid: Option<u64>,
    },
    Unpark {
        worker: u64,
        tid: Option<u64>,
    },
    Clock {
        realtime_ns: u64,
    },
    Metadata(Vec<(String, String)>),
}

/// A spawn location, as its place in [`Places`]: every poll start names its task's, and
/// a trace has millions of polls of a few hundred places.
type Place = u32;

/// The spawn locations the events name, each once.
#[derive(Default)]
struct Places {
    names: Vec<String>,
    ids: HashMap<String, Place>,
}

impl Places {
    fn place(&mut self, name: &str) -> Place {
        if let Some(&p) = self.ids.get(name) {
            return p;
        }
        let p = self.names.len() as Place;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), p);
        p
    }
}

/// What the segments' events add up to before they become a dump.
#[derive(Default)]
struct Gathered {
    events: Vec<(u64, Raw)>,
    places: Places,
    /// Events of kinds the mapping does not use (CPU samples, custom events, ...).
    skipped: u64,
}

/// Reads segments (a name and its bytes each) into a dump. The foreign decoder runs
/// behind `catch_unwind`: a panic in it is an error naming the segment, not a crash.
pub fn from_segments(segments: &[(String, Vec<u8>)]) -> Result<(Dump, Foreign), String> {
    let mut read = Gathered::default();
    for (name, bytes) in segments {
        gather(name, bytes, &mut read)?;
    }
    Ok(to_dump(read, segments.len()))
}

/// One segment (gzipped or not) onto `read`.
fn gather(name: &str, bytes: &[u8], read: &mut Gathered) -> Result<(), String> {
    let plain;
    let data = if bytes.starts_with(&GZIP_MAGIC) {
        plain = gunzip(name, bytes)?;
        &plain[..]
    } else {
        bytes
    };
    decode_segment(name, data, read)
}

/// One segment's events onto `read`; the decoder's panics become errors.
fn decode_segment(name: &str, data: &[u8], read: &mut Gathered) -> Result<(), String> {
    if !data.starts_with(&TRACE_MAGIC) {
        return Err(format!("{name}: not a dial9 trace (no TRC header)"));
    }
    let before = read.events.len();
    let outcome = quietly(|| {
        let mut dec = Decoder::new(data).ok_or("the trace header is not one this reader knows")?;
        dec.for_each_event(|raw| match event(&raw, &mut read.places) {
            Some(ev) => read.events.push((raw.timestamp_ns, ev)),
            None => read.skipped += 1,
        })
        .map_err(|e| e.to_string())
    });
    match outcome {
        Ok(Ok(())) => Ok(()),
        // A cut segment still gives every event before the cut (a segment being written
        // when it was copied, say); anything else is a damaged file.
        Ok(Err(e)) if read.events.len() > before && e.contains("truncated") => Ok(()),
        Ok(Err(e)) => Err(format!("{name}: not a readable dial9 trace: {e}")),
        Err(panic) => Err(format!(
            "{name}: the dial9 trace decoder failed on this file ({panic})"
        )),
    }
}

/// Runs `f`, turning a panic into its message, without the default hook printing it.
fn quietly<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())
    })
}

/// The fields of `raw` that the mapping reads, by name.
struct Fields<'r, 'a, 'f> {
    raw: &'r RawEvent<'a, 'f>,
}

impl Fields<'_, '_, '_> {
    fn get(&self, name: &str) -> Option<&FieldValueRef<'_>> {
        self.raw
            .field_names()
            .position(|n| n == name)
            .and_then(|i| self.raw.fields.get(i))
    }

    fn uint(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            FieldValueRef::Varint(v) => Some(*v),
            FieldValueRef::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            FieldValueRef::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn text(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            FieldValueRef::String(s) => Some(s),
            // Pool ids are batch-local: resolved now, while the batch's pool is current.
            FieldValueRef::PooledString(id) => self.raw.string_pool.get(*id),
            _ => None,
        }
    }
}

/// The mapping's view of one dial9 event (`None`: a kind it does not use, or one that
/// lacks a field it needs).
fn event(raw: &RawEvent<'_, '_>, places: &mut Places) -> Option<Raw> {
    let f = Fields { raw };
    let mut place = |name| f.text(name).map(|s| places.place(s));
    Some(match raw.name {
        "PollStartEvent" => Raw::PollStart {
            worker: f.uint("worker_id")?,
            task: f.uint("task_id")?,
            location: place("spawn_loc"),
            delay_ns: f.uint("scheduling_delay_ns"),
        },
        "PollEndEvent" => Raw::PollEnd {
            worker: f.uint("worker_id")?,
        },
        "TaskSpawnEvent" => Raw::Spawn {
            task: f.uint("task_id")?,
            location: place("spawn_loc"),
            instrumented: f.flag("instrumented").unwrap_or(false),
            worker: f.uint("worker_id"),
        },
        "TaskTerminateEvent" => Raw::Terminate {
            task: f.uint("task_id")?,
        },
        "WakeEventEvent" => Raw::Wake {
            waker: f.uint("waker_task_id")?,
            woken: f.uint("woken_task_id")?,
            worker: f.uint("target_worker").unwrap_or(UNKNOWN_WORKER),
        },
        "WorkerParkEvent" => Raw::Park {
            worker: f.uint("worker_id")?,
            tid: f.uint("tid"),
        },
        "WorkerUnparkEvent" => Raw::Unpark {
            worker: f.uint("worker_id")?,
            tid: f.uint("tid"),
        },
        "ClockSyncEvent" => Raw::Clock {
            realtime_ns: f.uint("realtime_ns")?,
        },
        "SegmentMetadataEvent" => match f.get("entries")? {
            FieldValueRef::StringMap(m) => Raw::Metadata(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            _ => return None,
        },
        _ => return None,
    })
}

/// `file:line:col` (or `file:line`) as a spawn location; anything else as a file.
fn location(s: &str) -> SpawnLocation {
    fn split(s: &str) -> Option<(&str, u32)> {
        let (rest, n) = s.rsplit_once(':')?;
        Some((rest, n.parse().ok()?))
    }
    match split(s) {
        Some((rest, last)) => match split(rest) {
            Some((file, line)) => SpawnLocation {
                file: file.to_string(),
                line,
                col: last,
            },
            None => SpawnLocation {
                file: rest.to_string(),
                line: last,
                col: 0,
            },
        },
        None => SpawnLocation {
            file: s.to_string(),
            line: 0,
            col: 0,
        },
    }
}

/// A worker id as a lane id (dial9's are global across runtimes already).
fn lane(worker: u64) -> u32 {
    u32::try_from(worker).unwrap_or(UNKNOWN_WORKER as u32)
}

/// The dump the events make: sorted by time, each poll's end paired with the start
/// open on its worker.
fn to_dump(mut read: Gathered, segments: usize) -> (Dump, Foreign) {
    read.events.sort_by_key(|(ts, _)| *ts);
    let mut mapping = Mapping {
        events: Vec::with_capacity(read.events.len()),
        places: std::mem::take(&mut read.places.names),
        ..Mapping::default()
    };
    for (ts, raw) in read.events {
        mapping.add(ts, raw);
    }
    mapping.finish(segments)
}

/// Counts of the trace's events that say what cannot be judged on it ([`limits`]).
#[derive(Default)]
struct Tally {
    spawns: u64,
    /// Spawns of tasks dial9 did not instrument: their wakes are not recorded.
    uninstrumented: u64,
    /// Poll starts that carry Tokio's scheduling delay.
    delays: u64,
    /// Poll ends without their start.
    unpaired: u64,
}

/// The events mapped so far, in time order, and the tasks and lanes they name.
#[derive(Default)]
struct Mapping {
    events: Vec<Event>,
    /// The spawn locations the events name by place.
    places: Vec<String>,
    tasks: HashMap<u64, TaskInfo>,
    lanes: std::collections::BTreeMap<u32, ThreadInfo>,
    /// The poll open on each worker: its task and its start.
    open: HashMap<u64, (u64, u64)>,
    anchor: Option<ClockAnchor>,
    metadata: Vec<(String, String)>,
    tally: Tally,
}

impl Mapping {
    /// One dial9 event, at `ts`, onto the dump's events, tasks and lanes.
    fn add(&mut self, ts: u64, raw: Raw) {
        match raw {
            Raw::PollStart {
                worker: w,
                task: id,
                location,
                delay_ns,
            } => self.poll_start(ts, w, id, location, delay_ns),
            Raw::PollEnd { worker: w } => self.poll_end(ts, w),
            Raw::Spawn {
                task: id,
                location,
                instrumented,
                worker: w,
            } => self.spawn(ts, id, location, instrumented, w),
            Raw::Terminate { task: id } => {
                self.task(id, None);
                let l = self.worker(UNKNOWN_WORKER, None);
                self.push(ts, l, EventKind::Terminate { task: id });
            }
            Raw::Wake {
                waker,
                woken,
                worker: w,
            } => self.wake(ts, waker, woken, w),
            Raw::Park { worker: w, tid } => {
                let l = self.worker(w, tid);
                self.push(ts, l, EventKind::Park);
            }
            Raw::Unpark { worker: w, tid } => {
                let l = self.worker(w, tid);
                self.push(
                    ts,
                    l,
                    EventKind::Unpark {
                        io_ready_total: None,
                    },
                );
            }
            Raw::Clock { realtime_ns } => {
                self.anchor.get_or_insert(ClockAnchor {
                    mono_ns: ts,
                    unix_ns: realtime_ns,
                });
            }
            Raw::Metadata(entries) => self.metadata = entries,
        }
    }

    /// An event at `ts` (dial9's own timestamp, kept as is) on `lane`.
    fn push(&mut self, ts: u64, lane: u32, kind: EventKind) {
        self.events.push(Event {
            ts_ns: ts,
            lane,
            kind,
        });
    }

    /// A poll's start, after Tokio's scheduling delay when dial9 recorded it.
    fn poll_start(
        &mut self,
        ts: u64,
        w: u64,
        id: u64,
        location: Option<Place>,
        delay_ns: Option<u64>,
    ) {
        self.task(id, location);
        let l = self.worker(w, None);
        if let Some(d) = delay_ns {
            self.tally.delays += 1;
            self.push(
                ts,
                l,
                EventKind::Scheduled {
                    task: id,
                    latency_ns: d,
                },
            );
        }
        self.open.insert(w, (id, ts));
        self.push(ts, l, EventKind::PollStart { task: id });
    }

    /// A poll's end, paired with the start open on its worker; one without is counted,
    /// not guessed.
    fn poll_end(&mut self, ts: u64, w: u64) {
        match self.open.remove(&w) {
            Some((id, start)) => {
                let l = self.worker(w, None);
                self.push(
                    ts,
                    l,
                    EventKind::PollEnd {
                        task: id,
                        completed: false,
                        duration_ns: Some(ts.saturating_sub(start)),
                    },
                );
            }
            None => self.tally.unpaired += 1,
        }
    }

    /// A spawn, counted: whether dial9 instrumented the task says what its wakes show.
    fn spawn(
        &mut self,
        ts: u64,
        id: u64,
        location: Option<Place>,
        instrumented: bool,
        w: Option<u64>,
    ) {
        self.tally.spawns += 1;
        self.tally.uninstrumented += u64::from(!instrumented);
        self.task(id, location);
        let l = self.worker(w.unwrap_or(UNKNOWN_WORKER), None);
        self.push(
            ts,
            l,
            EventKind::Spawn {
                task: id,
                parent: None,
            },
        );
    }

    /// A wake; waker 0 is outside any task.
    fn wake(&mut self, ts: u64, waker: u64, woken: u64, w: u64) {
        self.task(woken, None);
        let l = self.worker(w, None);
        self.push(
            ts,
            l,
            EventKind::Wake {
                task: woken,
                // dial9 does not say whether the waker was consumed.
                by_ref: true,
                source: if waker == 0 {
                    WakeSource::Driver
                } else {
                    WakeSource::Task(waker)
                },
            },
        );
    }

    /// The task `id`, known from now on; its spawn location from the first event that
    /// names one.
    fn task(&mut self, id: u64, loc: Option<Place>) {
        let t = self.tasks.entry(id).or_insert_with(|| TaskInfo {
            id,
            name: String::new(),
            kind: TaskKind::Task,
            location: None,
            spawned_by: None,
        });
        if t.location.is_none() {
            let name = loc.and_then(|p| self.places.get(p as usize));
            t.location = name.map(|n| location(n));
        }
    }

    /// The lane of worker `w`, known from now on; its OS thread id from the first event
    /// that names one.
    fn worker(&mut self, w: u64, tid: Option<u64>) -> u32 {
        let l = self.lanes.entry(lane(w)).or_insert_with(|| ThreadInfo {
            lane: lane(w),
            os_tid: 0,
            name: match w {
                BLOCKING_WORKER => "blocking pool".into(),
                UNKNOWN_WORKER => "outside the runtime".into(),
                _ => "tokio-rt-worker".into(),
            },
            worker: (w < BLOCKING_WORKER).then_some(w as u32),
            kind: match w {
                BLOCKING_WORKER => ThreadKind::Blocking,
                UNKNOWN_WORKER => ThreadKind::Other,
                _ => ThreadKind::Worker,
            },
        });
        if let Some(tid) = tid.filter(|_| l.os_tid == 0) {
            l.os_tid = tid;
        }
        lane(w)
    }

    /// The dump and what it came from, once every event is mapped.
    fn finish(self, segments: usize) -> (Dump, Foreign) {
        let events = self.events;
        let end = events.last().map_or(0, |e| e.ts_ns);
        let meta = |key: &str| {
            self.metadata
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let version = meta("dial9.dial9-tokio-telemetry.version");
        let anchor = self.anchor.unwrap_or(ClockAnchor {
            mono_ns: 0,
            unix_ns: 0,
        });
        let mut tasks: Vec<TaskInfo> = self.tasks.into_values().collect();
        tasks.sort_by_key(|t| t.id);
        let threads: Vec<ThreadInfo> = self.lanes.into_values().collect();
        // No moment of a dump: a poll still open when the trace ends ran at least until its
        // lane's last event, and is not "in progress at the dump".
        let lane_states = threads
            .iter()
            .map(|t| LaneState {
                lane: t.lane,
                activity: Activity::Running,
                since_ns: end,
            })
            .collect();
        let n = events.len() as u64;
        let dump = Dump {
            header: Header {
                reason: Reason::Requested {
                    label: format!(
                        "dial9 trace, {segments} segment{}",
                        if segments == 1 { "" } else { "s" }
                    ),
                },
                dumped_at_unix_ns: anchor.to_unix_ns(end),
                dumped_at_ns: end,
                anchor,
                pid: 0,
                program: meta("service").unwrap_or_default(),
                host: String::new(),
                capacity: n,
                recorded_total: n,
                overwritten: 0,
                torn_skipped: 0,
                hooks_installed: true,
                layer_installed: false,
                recorder_version: version
                    .as_deref()
                    .map_or_else(|| "dial9".into(), |v| format!("dial9-tokio-telemetry {v}")),
            },
            threads,
            tasks,
            lane_states,
            events,
            facts: Facts::default(),
            damage: None,
        };
        let foreign = Foreign {
            format: version.map_or_else(
                || "dial9 trace".into(),
                // The trace's own words: made safe to print once, here.
                |v| crate::fmt::sanitize(&format!("dial9 trace (dial9-tokio-telemetry {v})")),
            ),
            segments,
            limits: limits(&self.tally),
        };
        (dump, foreign)
    }
}

/// What cannot be judged on a dial9 trace: always the three things dial9 never records,
/// then what these events lack.
fn limits(tally: &Tally) -> Vec<String> {
    let Tally {
        spawns,
        uninstrumented,
        delays,
        unpaired,
    } = *tally;
    let mut limits = vec![
        "dial9 records no waker clone or drop: no lost-waker verdicts".to_string(),
        "a wake from outside any task came from the timer or I/O driver or another thread: \
         dial9 does not say which"
            .to_string(),
        "dial9 records no task names: tasks are named by where they were spawned".to_string(),
    ];
    if spawns == 0 {
        limits.push(
            "no spawn or end of any task: the traced program was built without --cfg \
             tokio_unstable, so only tasks spawned through dial9 show their polls"
                .into(),
        );
    } else if uninstrumented > 0 && delays == 0 {
        limits.push(format!(
            "dial9 records wakes only of the tasks it spawned: {uninstrumented} of the \
             {spawns} tasks spawned in the trace {} not, and how long they waited for a \
             poll is not known",
            if uninstrumented == 1 { "was" } else { "were" }
        ));
    }
    if unpaired > 0 {
        limits.push(format!(
            "{unpaired} poll ends without their start (it was in an earlier segment)"
        ));
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The foreign decoder is wrapped: a panic in it is an error with its message, and
    /// the panic hook is back as it was after.
    #[test]
    fn a_panic_in_the_decoder_is_an_error_not_a_crash() {
        assert_eq!(quietly(|| 3), Ok(3));
        assert_eq!(
            quietly(|| -> u8 { panic!("index out of bounds") }),
            Err("index out of bounds".to_string())
        );
        let n = 7;
        assert_eq!(
            quietly(|| -> u8 { panic!("{n} bytes short") }),
            Err("7 bytes short".to_string())
        );
    }

    #[test]
    fn spawn_locations_read_with_and_without_a_column() {
        let l = location("src/main.rs:45:28");
        assert_eq!((l.file.as_str(), l.line, l.col), ("src/main.rs", 45, 28));
        let l = location("C:\\src\\lib.rs:7");
        assert_eq!((l.file.as_str(), l.line, l.col), ("C:\\src\\lib.rs", 7, 0));
        let l = location("<unknown>");
        assert_eq!((l.file.as_str(), l.line), ("<unknown>", 0));
    }

    #[test]
    fn the_traces_own_version_is_made_safe_to_print_once() {
        let mut m = Mapping::default();
        let version = "dial9.dial9-tokio-telemetry.version".to_string();
        m.add(1, Raw::Metadata(vec![(version, "0.5.7\x1b[2J\x07".into())]));
        let (_, foreign) = m.finish(1);
        assert!(!foreign.format.contains('\x1b'), "{:?}", foreign.format);
        assert!(foreign.format.contains("0.5.7"), "{:?}", foreign.format);
    }

    #[test]
    fn the_pid_is_read_from_dial9s_directory_name_only() {
        assert_eq!(
            pid_of(Path::new("/tmp/zjzu-32504/trace.0.bin")),
            Some(32504)
        );
        assert_eq!(pid_of(Path::new("/tmp/probe-32504/trace.0.bin")), None);
        assert_eq!(pid_of(Path::new("/tmp/ab1d-32504/trace.0.bin")), None);
        assert_eq!(pid_of(Path::new("trace.0.bin")), None);
    }
}
