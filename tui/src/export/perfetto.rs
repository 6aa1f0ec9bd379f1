//! `dial9-tui export --perfetto`: the dump as a Perfetto trace (protobuf `TrackEvent`s),
//! for ui.perfetto.dev, which opens a local file in the browser without uploading it.
//!
//! ```text
//! process "program (pid N)"                     track 1
//! ├─ a thread track per lane ("worker 0", ...)  polls as slices named after the task,
//! │                                             parked time as "parked" slices, each wake
//! │                                             an instant where it happened, an arrow
//! │                                             (flow) to the poll it led to, anomalies
//! │                                             as instants
//! ├─ "dial9" track                              the dump's reason, anomalies of no lane
//! └─ counters                                   live tasks; tasks woken and not yet polled
//! ```
//! Packets are written in time order as they are made, a k-way merge of the lanes'
//! segments, the wakes and the anomalies: nothing of the size of the trace is held.
//! Times are the dump's own clock (nanoseconds from the recorder's start); the wall-clock
//! time of zero rides on the reason's instant.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

use prost::Message;

use dial9_format::{Event, EventKind, Kinds};

use super::proto::{
    self, CounterDescriptor, DebugAnnotation, ProcessDescriptor, ThreadDescriptor, TracePacket,
    TrackDescriptor, TrackEvent,
};
use super::wire::{self, Arg};
use crate::analysis::index::{EventIdx, TaskIdx};
use crate::analysis::par;
use crate::analysis::{Index, Poll, Segment, SegmentKind, Severity};

const SEQUENCE: u32 = 1;
const PROCESS_TRACK: u64 = 1;
const DIAL9_TRACK: u64 = 2;
const WOKEN_TRACK: u64 = 3;
const LIVE_TRACK: u64 = 4;
/// Lane tracks: this plus the lane's position in the index.
const LANE_TRACKS: u64 = 0x100;

/// What the export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub packets: u64,
    pub bytes: u64,
    pub polls: u64,
    pub wakes: u64,
    pub flows: u64,
    pub anomalies: u64,
}

/// Writes the index as a Perfetto trace to `out`, from a thread of its own: the packets
/// are made here and handed over a megabyte at a time, so the file is written while the
/// next ones are made (a 10M-event dump's trace is 400 MB). Without a thread to be had,
/// all of it here.
pub fn write(ix: &Index, mut out: impl Write + Send) -> io::Result<Written> {
    // Two full buffers wait at most: with the one being written, the one being handed
    // over and the one being filled, five megabytes.
    let (full, to_write) = sync_channel::<Vec<u8>>(2);
    let (give_back, empty) = channel::<Vec<u8>>();
    let threaded = std::thread::scope(|s| {
        let out = &mut out;
        let writer = std::thread::Builder::new()
            .name("dial9-export".into())
            .spawn_scoped(s, move || -> io::Result<()> {
                for mut buf in to_write {
                    out.write_all(&buf)?;
                    buf.clear();
                    // The maker may be done and gone: the buffer is then dropped.
                    let _ = give_back.send(buf);
                }
                out.flush()
            })
            .ok()?;
        let made = make(ix, Sink::Thread { full, empty });
        // A write error stops the writer, and then the maker (its sends fail): the
        // writer's error is the one that says what went wrong.
        let wrote = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Some(wrote.and(made))
    });
    match threaded {
        Some(written) => written,
        None => {
            let made = make(ix, Sink::Here(&mut out))?;
            out.flush()?;
            Ok(made)
        }
    }
}

/// Every packet, in time order, into `sink`.
fn make(ix: &Index, sink: Sink<'_>) -> io::Result<Written> {
    let mut w = Writer::new(sink, ix);
    w.tracks(ix)?;
    // Only the events the merge reads: wakes, spawns and task ends, each made ready for
    // it on the reading thread.
    let kinds = Kinds::which(|k| {
        matches!(
            k,
            EventKind::Wake { .. } | EventKind::Spawn { .. } | EventKind::Terminate { .. }
        )
    });
    let mut picker = Picker { ix, next_wake: 0 };
    ix.events.read_ahead(
        &kinds,
        move |e, ev| picker.pick(e, ev),
        |events| merge(ix, &mut w, events),
    )?;
    // Last, at the dump's moment: every packet is in time order.
    w.reason(ix)?;
    w.flush()?;
    Ok(w.written)
}

/// Where the packets go: full buffers to the writing thread and empty ones back from it,
/// or straight to the output.
enum Sink<'a> {
    Thread {
        full: SyncSender<Vec<u8>>,
        empty: Receiver<Vec<u8>>,
    },
    Here(&'a mut dyn Write),
}

impl Sink<'_> {
    /// Hands `buf`'s bytes on, leaving `buf` empty (to the writer: then a buffer it gave
    /// back, or a new one).
    fn send(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Sink::Thread { full, empty } => {
                let next = empty
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(FLUSH_AT + 4096));
                let bytes = std::mem::replace(buf, next);
                full.send(bytes)
                    .map_err(|_| io::Error::other("the trace's writer stopped"))
            }
            Sink::Here(out) => {
                out.write_all(buf)?;
                buf.clear();
                Ok(())
            }
        }
    }
}

/// Writes the trace's events in time order, the anomalies' made ahead on a thread of
/// their own when one can be had.
fn merge(
    ix: &Index,
    w: &mut Writer<'_>,
    events: &mut dyn Iterator<Item = (u64, Next)>,
) -> io::Result<()> {
    std::thread::scope(|s| {
        let mut maker = AnomalyMaker::new(ix);
        let made = par::Ahead::start(s, "dial9-anomalies", 2, move |m: &mut Made| maker.batch(m));
        merge_with(ix, w, events, &mut Anomalies::new(made))
        // The maker, if still at work (a write failed), stops when its channel closes.
    })
}

fn merge_with(
    ix: &Index,
    w: &mut Writer<'_>,
    events: &mut dyn Iterator<Item = (u64, Next)>,
    anomalies: &mut Anomalies<impl FnMut(&mut Made) -> bool + Send>,
) -> io::Result<()> {
    // The k-way merge: each stream's next time, and the stream (at one time, the lower
    // stream first). Streams: the events first (a wake, a spawn or an end: at one time, a
    // wake's arrow starts before the poll it leads to begins), the anomalies, then each
    // lane's segments (a slice's begin, then its end). The events are read again as the
    // merge reaches them. Where a stream is, is kept beside: a stream has one entry.
    const EVENTS: usize = 0;
    const ANOMALIES: usize = 1;
    const LANES: usize = 2;
    let lanes = ix.lanes.len();
    let mut heap: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
    let key = |ts: u64, stream: usize| Reverse((ts, stream as u32));
    let mut lane_end = vec![0u64; lanes];
    // Per lane: its slice is open (its end comes next).
    let mut in_slice = vec![false; lanes];
    let mut segments: Vec<LaneSegments> = (0..lanes).map(LaneSegments::new).collect();
    for (li, segs) in segments.iter_mut().enumerate() {
        if let Some(s) = segs.peek(ix) {
            heap.push(key(s.start_ns, LANES + li));
        }
    }
    let mut events = events.peekable();
    if let Some(&(ts, _)) = events.peek() {
        heap.push(key(ts, EVENTS));
    }
    if let Some(start) = anomalies.peek() {
        heap.push(key(start, ANOMALIES));
    }
    let mut woken = Woken {
        now: 0,
        pending: vec![false; ix.tasks.len()],
    };
    let mut live = live_at_start(ix);
    // Per task, its wakes that led to a poll, in event order, until that poll begins.
    let mut led: Vec<Vec<(u32, EventIdx)>> = vec![Vec::new(); ix.tasks.len()];
    // The count as the trace begins: at the window's start, or at the first thing the merge
    // writes if that is earlier (a poll known from its end can have begun before it).
    let first = heap
        .peek()
        .map_or(ix.start_ns, |Reverse((ts, _))| (*ts).min(ix.start_ns));
    w.counter(LIVE_TRACK, first, live)?;
    // The stream that comes next is replaced in place by its next entry (one sift where a
    // pop and a push take two), or popped when it has no more.
    while let Some(mut top) = heap.peek_mut() {
        let Reverse((ts, stream)) = *top;
        let stream = stream as usize;
        let next = if stream >= LANES {
            let li = stream - LANES;
            if !in_slice[li] {
                let Some((seg, poll)) = segments[li].next(ix) else {
                    PeekMut::pop(top);
                    continue;
                };
                // Slices on a track must nest: a segment never starts before the last ended.
                let start = seg.start_ns.max(lane_end[li]);
                let end = seg.end_ns.max(start);
                let count = woken.polled(&seg);
                w.begin(ix, (li, &seg, poll), (start, end), &mut led, count)?;
                in_slice[li] = true;
                Some(end)
            } else {
                w.fast(
                    ts,
                    &wire::Event {
                        kind: proto::SLICE_END,
                        track: LANE_TRACKS + li as u64,
                        ..Default::default()
                    },
                )?;
                lane_end[li] = ts;
                in_slice[li] = false;
                segments[li].peek(ix).map(|next| next.start_ns.max(ts))
            }
        } else if stream == EVENTS {
            match events.next() {
                Some((_, Next::Wake { w: i, ev, t, track })) => {
                    w.wake(ix, (i, &ev, t, track), woken.woke(t))?;
                    if ix.wakes.polled(i as usize) {
                        led[t as usize].push((i, ix.wakes.event(i as usize)));
                    }
                }
                Some((_, Next::Live(d))) => {
                    live += d;
                    w.counter(LIVE_TRACK, ts, live)?;
                }
                None => {}
            }
            events.peek().map(|&(ts, _)| ts)
        } else {
            if let Some((start, event, name)) = anomalies.next() {
                w.premade(start, event, name)?;
            }
            anomalies.peek()
        };
        match next {
            Some(ts) => *top = key(ts, stream),
            None => {
                PeekMut::pop(top);
            }
        }
    }
    Ok(())
}

/// Anomalies' events made ahead: a batch of them, each its time, where its bytes end in
/// `bytes` (a prost encoding of its `TrackEvent`), and the name it is the first of (its
/// iid and text, to send with it).
#[derive(Default)]
struct Made {
    bytes: Vec<u8>,
    items: Vec<(u64, usize, FirstOf)>,
}

/// The name an event is the first of: its iid and its text, to send with it.
type FirstOf = Option<(u64, String)>;

/// Anomalies a batch holds.
const MADE_BATCH: usize = 1024;

/// Makes the anomalies' events in time order. Each is a message to write out and a prost
/// encoding, where the hot packets are a few varints: made on the merge's thread, the
/// 10M-event dump's 129,000 anomalies took a tenth of it.
struct AnomalyMaker<'a> {
    ix: &'a Index,
    /// The anomalies by time, each with its place in the table (which is in ranking
    /// order: reading a start there for each would jump about it).
    order: Vec<(u64, u32)>,
    next: usize,
    /// Each anomaly name's iid, the names numbered as they first come, after the tasks'.
    names: rustc_hash::FxHashMap<String, u64>,
}

impl AnomalyMaker<'_> {
    fn new(ix: &Index) -> AnomalyMaker<'_> {
        let mut order: Vec<(u64, u32)> = (ix.anomalies.iter())
            .zip(0u32..)
            .map(|(a, i)| (a.start_ns, i))
            .collect();
        order.sort_by_key(|&(start, _)| start);
        AnomalyMaker {
            ix,
            order,
            next: 0,
            names: Default::default(),
        }
    }

    /// The next batch into `made` (emptied first); false once there are no more.
    fn batch(&mut self, made: &mut Made) -> bool {
        made.bytes.clear();
        made.items.clear();
        let ix = self.ix;
        let upto = (self.next + MADE_BATCH).min(self.order.len());
        let batch = &self.order[self.next..upto];
        // The table is in group order and read here in time order, so each row is a cache
        // miss: read in a loop of their own (for their tracks), the misses overlap, where
        // the formatting between them would keep them one after another.
        let tracks: Vec<u64> = (batch.iter())
            .map(|&(_, i)| {
                (ix.anomalies[i as usize].lane)
                    .and_then(|l| ix.lane_by_id.get(&l))
                    .map_or(DIAL9_TRACK, |&li| LANE_TRACKS + li as u64)
            })
            .collect();
        for (&(start, i), track) in batch.iter().zip(tracks) {
            let a = &ix.anomalies[i as usize];
            let name = format!("{} {}", a.severity.as_str(), a.kind.as_str());
            let (iid, first) = match self.names.get(&name) {
                Some(&iid) => (iid, None),
                None => {
                    let iid = TASK_NAMES + 2 * ix.tasks.len() as u64 + self.names.len() as u64;
                    self.names.insert(name.clone(), iid);
                    (iid, Some((iid, name)))
                }
            };
            let event = TrackEvent {
                r#type: Some(proto::INSTANT),
                track_uuid: Some(track),
                name_iid: Some(iid),
                category_iids: vec![ANOMALY],
                debug_annotations: vec![
                    DebugAnnotation::text(arg::SEVERITY, a.severity.as_str()),
                    DebugAnnotation::text(arg::EXPLANATION, a.message(ix)),
                    DebugAnnotation::uint(arg::DURATION_NS, a.end_ns.saturating_sub(a.start_ns)),
                    DebugAnnotation::flag(arg::CRITICAL, a.severity == Severity::Critical),
                ],
                ..Default::default()
            };
            // Into a vector: prost cannot run out of room.
            let _ = event.encode(&mut made.bytes);
            made.items.push((start, made.bytes.len(), first));
        }
        self.next = upto;
        !made.items.is_empty()
    }
}

/// The anomalies' events in time order, as the merge takes them: made a batch ahead on
/// a thread of their own, or here when no thread can be had.
struct Anomalies<F> {
    batches: par::Ahead<Made, F>,
    made: Made,
    /// The next item in `made`, and where its bytes start.
    at: usize,
    from: usize,
}

impl<F: FnMut(&mut Made) -> bool + Send> Anomalies<F> {
    fn new(batches: par::Ahead<Made, F>) -> Anomalies<F> {
        Anomalies {
            batches,
            made: Made::default(),
            at: 0,
            from: 0,
        }
    }

    /// Makes sure an item is at hand, if one is left.
    fn fill(&mut self) {
        if self.at < self.made.items.len() {
            return;
        }
        let used = std::mem::take(&mut self.made);
        (self.at, self.from) = (0, 0);
        self.made = self.batches.next(used).unwrap_or_default();
    }

    /// The next anomaly's time.
    fn peek(&mut self) -> Option<u64> {
        self.fill();
        self.made.items.get(self.at).map(|&(start, _, _)| start)
    }

    /// The next anomaly: its time, its event's bytes, and the name it is the first of.
    fn next(&mut self) -> Option<(u64, &[u8], FirstOf)> {
        self.fill();
        let (start, end, first) = self.made.items.get_mut(self.at)?;
        let (start, end, first) = (*start, *end, first.take());
        let from = std::mem::replace(&mut self.from, end);
        self.at += 1;
        Some((start, &self.made.bytes[from..end], first))
    }
}

/// Live tasks at the window's start: those the recorder listed alive at the dump, less
/// the spawns and plus the ends in the window; without the recorder's list (an older
/// dump, a ring file), the fewest the window's spawns and ends allow.
fn live_at_start(ix: &Index) -> i64 {
    let (net, lowest) = ix.spawns_less_ends;
    let alive_at_dump = ix.tasks.iter().filter(|t| t.alive_at_dump).count() as i64;
    if alive_at_dump > 0 {
        alive_at_dump - net
    } else {
        -lowest
    }
}

/// A lane's polls and parks in time order, read from the index one at a time.
struct LaneSegments {
    li: usize,
    poll: usize,
    park: usize,
    /// The next segment and its poll (`None`: a park), once looked at.
    ahead: Option<Option<(Segment, Option<Poll>)>>,
}

impl LaneSegments {
    fn new(li: usize) -> LaneSegments {
        LaneSegments {
            li,
            poll: 0,
            park: 0,
            ahead: None,
        }
    }

    /// The next segment, and its poll if it is one.
    fn find(&self, ix: &Index) -> Option<(Segment, Option<Poll>)> {
        let (li, i) = (self.li, self.poll);
        // The poll read once, whole, and its segment made of it.
        let poll = (i < ix.polls.of_lane(li).len()).then(|| {
            let p = ix.polls.at(li, i);
            (Segment::of_poll(&p, ix.polls.idx(li, i), ix.end_ns), p)
        });
        let park = ix.lanes[li].parks.get(self.park).map(Segment::park);
        match (poll, park) {
            (Some((a, _)), Some(b)) if (b.start_ns, b.end_ns) < (a.start_ns, a.end_ns) => {
                Some((b, None))
            }
            (Some((a, p)), _) => Some((a, Some(p))),
            (None, Some(b)) => Some((b, None)),
            (None, None) => None,
        }
    }

    fn ahead(&mut self, ix: &Index) -> Option<(Segment, Option<Poll>)> {
        if self.ahead.is_none() {
            self.ahead = Some(self.find(ix));
        }
        self.ahead.flatten()
    }

    fn peek(&mut self, ix: &Index) -> Option<Segment> {
        self.ahead(ix).map(|(s, _)| s)
    }

    fn next(&mut self, ix: &Index) -> Option<(Segment, Option<Poll>)> {
        let (s, poll) = self.ahead(ix)?;
        self.ahead = None;
        if poll.is_some() {
            self.poll += 1;
        } else {
            self.park += 1;
        }
        Some((s, poll))
    }
}

/// What the events stream hands the merge, each with its time: a wake of a task the
/// index knows (its index in `Index::wakes`, its event, the task and the track it
/// happened on), or a change of the live tasks (a spawn, an end).
#[derive(Clone, Copy)]
enum Next {
    Wake {
        w: u32,
        ev: Event,
        t: TaskIdx,
        track: u64,
    },
    Live(i64),
}

/// Makes the events the merge reads (wakes, spawns and ends, in event order) into what
/// it needs of them, on the thread that reads them: which of the index's wakes a wake
/// is, its task and its track are lookups the merge's thread is spared.
struct Picker<'a> {
    ix: &'a Index,
    /// The next of the index's wakes not yet passed.
    next_wake: usize,
}

impl Picker<'_> {
    fn pick(&mut self, e: usize, ev: Event) -> Option<(u64, Next)> {
        let ix = self.ix;
        // The index's wakes are in event order, each of its own event; those of events
        // not read here (Tokio's schedule latency, a timer's lateness) are passed by.
        while self.next_wake < ix.wakes.len() && (ix.wakes.event(self.next_wake) as usize) < e {
            self.next_wake += 1;
        }
        // (The next event's pass goes past this one's wake.)
        let wake = (self.next_wake < ix.wakes.len()
            && ix.wakes.event(self.next_wake) as usize == e)
            .then_some(self.next_wake);
        let next = match ev.kind {
            // A wake of a task the index does not know has nothing to show.
            EventKind::Wake { task, .. } => Next::Wake {
                w: wake? as u32,
                ev,
                t: ix.task_idx(task)?,
                track: (ix.lane_by_id.get(&ev.lane))
                    .map_or(DIAL9_TRACK, |&li| LANE_TRACKS + li as u64),
            },
            EventKind::Spawn { .. } => Next::Live(1),
            EventKind::Terminate { .. } => Next::Live(-1),
            _ => return None,
        };
        Some((ev.ts_ns, next))
    }
}

/// The counter of tasks woken and not yet polled: a task counts from its first wake after
/// a poll to its next poll, however many wakes came between. It changes only at a wake or
/// a poll's begin, so its values ride on those events (`extra_counter_values`, Perfetto's
/// encoding for a counter sampled at an event) instead of taking millions of packets.
struct Woken {
    now: i64,
    pending: Vec<bool>,
}

impl Woken {
    /// A wake of `t`: the count's new value, if it changed.
    fn woke(&mut self, t: TaskIdx) -> Option<i64> {
        let p = self.pending.get_mut(t as usize).filter(|p| !**p)?;
        *p = true;
        self.now += 1;
        Some(self.now)
    }

    /// A segment begins: a poll's task is no longer waiting (the count's new value, if
    /// it changed).
    fn polled(&mut self, seg: &Segment) -> Option<i64> {
        let SegmentKind::Polling(t) = seg.kind else {
            return None;
        };
        let p = self.pending.get_mut(t as usize).filter(|p| **p)?;
        *p = false;
        self.now -= 1;
        Some(self.now)
    }
}

/// Argument names, interned on the first packet (`ARG_NAMES[iid - 1]`).
mod arg {
    pub const TASK_ID: u64 = 1;
    pub const POLL_NS: u64 = 2;
    pub const OUTCOME: u64 = 3;
    pub const SCHEDULING_DELAY_NS: u64 = 4;
    pub const WOKEN_BY: u64 = 5;
    pub const WAITED_NS: u64 = 6;
    pub const SEVERITY: u64 = 7;
    pub const EXPLANATION: u64 = 8;
    pub const DURATION_NS: u64 = 9;
    pub const CRITICAL: u64 = 10;
    pub const VERDICT: u64 = 11;
    pub const UNIX_NS_AT_TIME_ZERO: u64 = 12;
    pub const DUMPED_AT_UNIX_NS: u64 = 13;
    pub const HOST: u64 = 14;
    pub const WAKER_TASK_ID: u64 = 15;
}
const ARG_NAMES: [&str; 15] = [
    "task_id",
    "poll_ns",
    "outcome",
    "scheduling_delay_ns",
    "woken_by",
    "waited_ns",
    "severity",
    "explanation",
    "duration_ns",
    "critical",
    "verdict",
    "unix_ns_at_time_zero",
    "dumped_at_unix_ns",
    "host",
    "waker_task_id",
];
/// Categories (`CATEGORIES[iid - 1]`), for filtering in the UI.
const POLL: u64 = 1;
const PARK: u64 = 2;
const WAKE: u64 = 3;
const ANOMALY: u64 = 4;
const CATEGORIES: [&str; 4] = ["poll", "park", "wake", "anomaly"];
/// Event names: "parked", then per task its poll's name and its wake's name
/// (`TASK_NAMES + 2 t` and `+ 1`), then the anomalies' names as they come.
const PARKED: u64 = 1;
const TASK_NAMES: u64 = 16;

/// An event packet's head: its time, the sequence, and that it uses the sequence's names.
fn head(ts: u64) -> (u64, u32, u32) {
    (ts, SEQUENCE, proto::SEQ_NEEDS_INCREMENTAL_STATE)
}

/// Bytes of packets gathered before a write to the output.
const FLUSH_AT: usize = 1 << 20;

struct Writer<'a> {
    out: Sink<'a>,
    /// Packets not yet written to `out`.
    buf: Vec<u8>,
    written: Written,
    /// The latest time written.
    last_ts: u64,
    /// Per task: its names were sent.
    named: Vec<bool>,
    /// Names to send with the next event.
    pending: proto::InternedData,
    /// Each task's Tokio id, side by side: every poll's begin names it, and the task
    /// table's rows are far apart.
    ids: Vec<u64>,
}

impl<'a> Writer<'a> {
    fn new(out: Sink<'a>, ix: &Index) -> Writer<'a> {
        Writer {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            written: Written::default(),
            last_ts: 0,
            named: vec![false; ix.tasks.len()],
            pending: proto::InternedData::default(),
            ids: ix.tasks.iter().map(|t| t.id).collect(),
        }
    }

    /// Counts the packet just added to `buf` (`len` bytes), and writes out what gathered.
    fn added(&mut self, len: usize) -> io::Result<()> {
        self.written.packets += 1;
        self.written.bytes += len as u64;
        if self.buf.len() >= FLUSH_AT {
            self.out.send(&mut self.buf)?;
        }
        Ok(())
    }

    /// Hands over what is left; the writer flushes its output once it has it all.
    fn flush(&mut self) -> io::Result<()> {
        self.out.send(&mut self.buf)
    }

    /// One packet, as field 1 of the `Trace` message the file is (prost's encoding: the
    /// few packets that are not events, and the events of rare shapes).
    fn packet(&mut self, packet: &TracePacket) -> io::Result<()> {
        let before = self.buf.len();
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut self.buf);
        prost::encoding::encode_varint(packet.encoded_len() as u64, &mut self.buf);
        packet
            .encode(&mut self.buf)
            .map_err(|e| io::Error::other(format!("cannot encode a packet: {e}")))?;
        self.added(self.buf.len() - before)
    }

    /// A counter's value from `ts` on (never below zero).
    fn counter(&mut self, track: u64, ts: u64, value: i64) -> io::Result<()> {
        self.fast(
            ts,
            &wire::Event {
                kind: proto::COUNTER,
                track,
                counter: Some(value.max(0)),
                ..Default::default()
            },
        )
    }

    /// An event of the hot shapes, written straight to bytes (see [`wire`]).
    fn fast(&mut self, ts: u64, ev: &wire::Event<'_>) -> io::Result<()> {
        let interned = self.names_at(ts);
        let len = wire::packet(&mut self.buf, head(ts), ev, interned.as_deref());
        self.added(len)
    }

    /// The names waiting to be sent, encoded, for the packet at `ts` to carry.
    fn names_at(&mut self, ts: u64) -> Option<Vec<u8>> {
        self.last_ts = self.last_ts.max(ts);
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending).encode_to_vec())
    }

    /// An event of any shape, through prost.
    fn event(&mut self, ts: u64, event: TrackEvent) -> io::Result<()> {
        self.last_ts = self.last_ts.max(ts);
        let packet = TracePacket {
            timestamp: Some(ts),
            trusted_packet_sequence_id: Some(SEQUENCE),
            sequence_flags: Some(proto::SEQ_NEEDS_INCREMENTAL_STATE),
            track_event: Some(event),
            interned_data: (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending)),
            track_descriptor: None,
        };
        self.packet(&packet)
    }

    /// Task `t`'s poll and wake names, sent with the next event the first time.
    fn task_names(&mut self, ix: &Index, t: usize) -> u64 {
        if !self.named[t] {
            let label = ix.tasks[t].label();
            let base = TASK_NAMES + 2 * t as u64;
            for (iid, name) in [(base, label.clone()), (base + 1, format!("wake {label}"))] {
                self.pending.event_names.push(proto::Interned {
                    iid: Some(iid),
                    name: Some(name),
                });
            }
            self.named[t] = true;
        }
        TASK_NAMES + 2 * t as u64
    }

    fn track(&mut self, d: TrackDescriptor, flags: Option<u32>) -> io::Result<()> {
        self.packet(&TracePacket {
            trusted_packet_sequence_id: Some(SEQUENCE),
            track_descriptor: Some(d),
            sequence_flags: flags,
            ..Default::default()
        })
    }

    fn tracks(&mut self, ix: &Index) -> io::Result<()> {
        let h = &ix.dump.header;
        let pid = i32::try_from(h.pid).unwrap_or(i32::MAX);
        // The first packet clears the sequence's interned state; the fixed names ride on
        // the first event.
        let named = |iid: u64, name: &str| proto::Interned {
            iid: Some(iid),
            name: Some(name.into()),
        };
        self.pending = proto::InternedData {
            event_categories: (1..).zip(CATEGORIES).map(|(i, n)| named(i, n)).collect(),
            event_names: vec![named(PARKED, "parked")],
            debug_annotation_names: (1..).zip(ARG_NAMES).map(|(i, n)| named(i, n)).collect(),
        };
        self.track(
            TrackDescriptor {
                uuid: Some(PROCESS_TRACK),
                process: Some(ProcessDescriptor {
                    pid: Some(pid),
                    process_name: Some(format!("{} (pid {})", h.program, h.pid)),
                }),
                ..Default::default()
            },
            Some(proto::SEQ_INCREMENTAL_STATE_CLEARED),
        )?;
        for (li, lane) in ix.lanes.iter().enumerate() {
            // A lane's thread id, else one of its own (a dump from a ring file has none).
            let tid = match lane.info.os_tid {
                0 => 1_000_000 + i64::from(lane.info.lane),
                t => i64::try_from(t).unwrap_or(i64::MAX),
            };
            self.track(
                TrackDescriptor {
                    uuid: Some(LANE_TRACKS + li as u64),
                    parent_uuid: Some(PROCESS_TRACK),
                    thread: Some(ThreadDescriptor {
                        pid: Some(pid),
                        tid: Some(tid),
                        thread_name: Some(lane.label()),
                    }),
                    ..Default::default()
                },
                None,
            )?;
        }
        self.track(
            TrackDescriptor {
                uuid: Some(DIAL9_TRACK),
                parent_uuid: Some(PROCESS_TRACK),
                name: Some("dial9".into()),
                ..Default::default()
            },
            None,
        )?;
        self.track(
            TrackDescriptor {
                uuid: Some(WOKEN_TRACK),
                parent_uuid: Some(PROCESS_TRACK),
                name: Some("tasks woken, not yet polled".into()),
                counter: Some(CounterDescriptor {}),
                ..Default::default()
            },
            None,
        )?;
        self.track(
            TrackDescriptor {
                uuid: Some(LIVE_TRACK),
                parent_uuid: Some(PROCESS_TRACK),
                name: Some("live tasks".into()),
                counter: Some(CounterDescriptor {}),
                ..Default::default()
            },
            None,
        )
    }

    /// The dump's reason at the dump's moment, with the wall clock of time zero.
    fn reason(&mut self, ix: &Index) -> io::Result<()> {
        let h = &ix.dump.header;
        self.event(
            h.dumped_at_ns.max(self.last_ts),
            TrackEvent {
                r#type: Some(proto::INSTANT),
                track_uuid: Some(DIAL9_TRACK),
                name: Some(format!("dump: {}", h.reason)),
                debug_annotations: vec![
                    DebugAnnotation::text(arg::VERDICT, ix.verdict.clone()),
                    DebugAnnotation::uint(arg::UNIX_NS_AT_TIME_ZERO, h.anchor.to_unix_ns(0)),
                    DebugAnnotation::uint(arg::DUMPED_AT_UNIX_NS, h.dumped_at_unix_ns),
                    DebugAnnotation::text(arg::HOST, h.host.clone()),
                ],
                ..Default::default()
            },
        )
    }

    fn begin(
        &mut self,
        ix: &Index,
        (li, seg, poll): (usize, &Segment, Option<Poll>),
        (start, end): (u64, u64),
        led: &mut [Vec<(u32, EventIdx)>],
        woken: Option<i64>,
    ) -> io::Result<()> {
        let track = LANE_TRACKS + li as u64;
        let SegmentKind::Polling(t) = seg.kind else {
            return self.fast(
                start,
                &wire::Event {
                    kind: proto::SLICE_BEGIN,
                    track,
                    name_iid: Some(PARKED),
                    category: Some(PARK),
                    ..Default::default()
                },
            );
        };
        let name = self.task_names(ix, t as usize);
        let mut delay = None;
        let mut ends = [0u64; 8];
        let mut more = Vec::new();
        let mut n = 0;
        // The wakes that led to this poll: its task's, before its start event (the way the
        // index pairs them: a task's wakes wait for its next poll start). A poll known only
        // from its end has no start for a wake to lead to.
        let mut none = Vec::new();
        let waiting = led.get_mut(t as usize).unwrap_or(&mut none);
        let led_here = match &poll {
            Some(p) if !p.start_overwritten => waiting.partition_point(|&(_, e)| e < p.start_event),
            _ => 0,
        };
        for (wk, _) in waiting.drain(..led_here) {
            let flow = u64::from(wk) + 1;
            match ends.get_mut(n) {
                Some(slot) => *slot = flow,
                None => more.push(flow),
            }
            n += 1;
            delay = delay.max(Some(ix.wakes.delay(wk as usize)));
        }
        let flows: Vec<u64>;
        let terminating = if more.is_empty() {
            &ends[..n]
        } else {
            flows = ends.iter().copied().chain(more).collect();
            &flows[..]
        };
        self.written.polls += 1;
        self.written.flows += terminating.len() as u64;
        let outcome = match poll {
            Some(p) if p.end_ns.is_none() => "running at the dump",
            Some(p) if p.open_at_window_end => "running at the window's end",
            Some(p) if p.end_unknown => "end lost",
            Some(p) if p.completed => "completed",
            _ => "pending",
        };
        let args = [
            Arg::Uint(arg::TASK_ID, self.ids[t as usize]),
            Arg::Uint(arg::POLL_NS, end - start),
            Arg::Text(arg::OUTCOME, outcome),
            Arg::Uint(arg::SCHEDULING_DELAY_NS, delay.unwrap_or(0)),
        ];
        self.fast(
            start,
            &wire::Event {
                kind: proto::SLICE_BEGIN,
                track,
                name_iid: Some(name),
                category: Some(POLL),
                args: &args[..if delay.is_some() { 4 } else { 3 }],
                extra_counter: woken.map(|n| (WOKEN_TRACK, n)),
                terminating_flows: terminating,
                ..Default::default()
            },
        )
    }

    /// A wake: an instant where it happened (with the woken count's new value, if it
    /// changed), the start of an arrow to the poll it led to.
    fn wake(
        &mut self,
        ix: &Index,
        (i, ev, t, track): (u32, &Event, TaskIdx, u64),
        woken: Option<i64>,
    ) -> io::Result<()> {
        let EventKind::Wake { task, source, .. } = ev.kind else {
            return Ok(());
        };
        let w = i as usize;
        let name = self.task_names(ix, t as usize) + 1;
        let by = match source {
            dial9_format::WakeSource::Task(t) => Arg::Uint(arg::WAKER_TASK_ID, t),
            dial9_format::WakeSource::Driver if ix.wakes.timer(w) => {
                Arg::Text(arg::WOKEN_BY, "the timer driver")
            }
            dial9_format::WakeSource::Driver => {
                Arg::Text(arg::WOKEN_BY, "the runtime (I/O or timer driver)")
            }
            dial9_format::WakeSource::Foreign => Arg::Text(arg::WOKEN_BY, "another thread"),
        };
        let args = [
            Arg::Uint(arg::TASK_ID, task),
            Arg::Uint(arg::WAITED_NS, ix.wakes.delay(w)),
            by,
        ];
        let flow = [u64::from(i) + 1];
        self.written.wakes += 1;
        self.fast(
            ev.ts_ns,
            &wire::Event {
                kind: proto::INSTANT,
                track,
                name_iid: Some(name),
                category: Some(WAKE),
                args: &args,
                extra_counter: woken.map(|n| (WOKEN_TRACK, n)),
                flows: if ix.wakes.polled(w) { &flow } else { &[] },
                ..Default::default()
            },
        )
    }

    /// An anomaly's event, made ahead ([`AnomalyMaker`]), with its name if it is the
    /// first of it.
    fn premade(&mut self, ts: u64, event: &[u8], name: FirstOf) -> io::Result<()> {
        if let Some((iid, name)) = name {
            self.pending.event_names.push(proto::Interned {
                iid: Some(iid),
                name: Some(name),
            });
        }
        self.written.anomalies += 1;
        let interned = self.names_at(ts);
        let len = wire::packet_of_event(&mut self.buf, head(ts), event, interned.as_deref());
        self.added(len)
    }
}

#[cfg(test)]
mod tests {
    use dial9_format::*;

    use super::proto::{self, TracePacket};
    use crate::analysis::{Index, Thresholds};

    fn dump(events: Vec<(u64, u32, EventKind)>) -> Dump {
        let worker = |lane: u32| ThreadInfo {
            lane,
            os_tid: 100 + u64::from(lane),
            name: "tokio-rt-worker".into(),
            worker: Some(lane),
            kind: ThreadKind::Worker,
        };
        let task = |id: u64, name: &str| TaskInfo {
            id,
            name: name.into(),
            kind: TaskKind::Task,
            location: None,
            spawned_by: None,
        };
        Dump {
            header: Header {
                reason: Reason::Requested { label: "t".into() },
                dumped_at_unix_ns: 1_000,
                dumped_at_ns: 100,
                anchor: ClockAnchor {
                    mono_ns: 0,
                    unix_ns: 500,
                },
                pid: 7,
                program: "p".into(),
                host: "h".into(),
                capacity: 1024,
                recorded_total: events.len() as u64,
                overwritten: 0,
                torn_skipped: 0,
                hooks_installed: true,
                layer_installed: true,
                recorder_version: "0".into(),
            },
            threads: vec![worker(0), worker(1)],
            tasks: vec![task(1, "a"), task(2, "b")],
            lane_states: vec![],
            events: events
                .into_iter()
                .map(|(ts_ns, lane, kind)| Event { ts_ns, lane, kind })
                .collect(),
            // Task 2 alive at the dump, by the recorder's count.
            facts: Facts {
                live_wakers: vec![TaskWakers { task: 2, live: 1 }],
                ..Facts::default()
            },
            damage: None,
        }
    }

    /// The packets of a trace, decoded with the export's own messages.
    fn packets(mut bytes: &[u8]) -> Vec<TracePacket> {
        use prost::Message;
        let mut out = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], 0x0a, "field 1, length-delimited");
            bytes = &bytes[1..];
            let len = prost::encoding::decode_varint(&mut bytes).unwrap() as usize;
            out.push(TracePacket::decode(&bytes[..len]).unwrap());
            bytes = &bytes[len..];
        }
        out
    }

    /// Takes `room` bytes, then fails as a full disk does.
    struct FillsUp {
        room: usize,
        took: usize,
    }

    impl std::io::Write for FillsUp {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.took + buf.len() > self.room {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on the test's device",
                ));
            }
            self.took += buf.len();
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The file's own error, whether it comes while packets are still being made (a
    /// trace of several megabytes) or with the last of them; and the export returns.
    /// Written on this thread instead, the same bytes.
    #[test]
    fn a_write_error_is_the_exports_error() {
        let mut events = Vec::new();
        for i in 0..60_000u64 {
            let (ts, task) = (1_000 + 10 * i, 1 + i % 2);
            events.push((ts, 0, EventKind::PollStart { task }));
            let end = EventKind::PollEnd {
                task,
                completed: false,
                duration_ns: Some(5),
            };
            events.push((ts + 5, 0, end));
        }
        let ix = Index::build(dump(events), Thresholds::default());
        let mut whole = Vec::new();
        super::write(&ix, &mut whole).unwrap();
        assert!(whole.len() > 3 * super::FLUSH_AT, "{} bytes", whole.len());
        for room in [0, super::FLUSH_AT + 1, whole.len() - 1] {
            let err = super::write(&ix, FillsUp { room, took: 0 }).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{room}: {err}");
        }
        let mut exact = FillsUp {
            room: whole.len(),
            took: 0,
        };
        super::write(&ix, &mut exact).unwrap();
        assert_eq!(exact.took, whole.len());
        // Without a thread for the writing (none to be had), the same bytes, and the
        // same error.
        let mut here = Vec::new();
        super::make(&ix, super::Sink::Here(&mut here)).unwrap();
        assert_eq!(here, whole);
        let mut full = FillsUp {
            room: super::FLUSH_AT + 1,
            took: 0,
        };
        let err = super::make(&ix, super::Sink::Here(&mut full)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    }

    /// The anomalies' events, made ahead on their own thread in batches: the same ones,
    /// in time order, as made here, each name sent with its first; and an export that
    /// fails at its first byte returns while the maker still has batches to hand over.
    #[test]
    fn anomalies_made_ahead_are_those_made_here_and_a_failed_write_stops_their_maker() {
        const MS: u64 = 1_000_000;
        let mut events = Vec::new();
        // 3,500 long polls (over three batches), of two tasks, some 60 ms (critical).
        for i in 0..3_500u64 {
            let (ts, task) = (1_000 + 100 * MS * i, 1 + i % 2);
            let d = if i % 7 == 0 { 60 * MS } else { 20 * MS };
            events.push((ts, 0, EventKind::PollStart { task }));
            let end = EventKind::PollEnd {
                task,
                completed: false,
                duration_ns: Some(d),
            };
            events.push((ts + d, 0, end));
        }
        let ix = Index::build(dump(events), Thresholds::default());
        let n = ix.anomalies.len();
        assert!(n > 3 * super::MADE_BATCH, "{n} anomalies");
        type Item = (u64, Vec<u8>, super::FirstOf);
        fn drain(
            a: &mut super::Anomalies<impl FnMut(&mut super::Made) -> bool + Send>,
        ) -> Vec<Item> {
            let mut out = Vec::new();
            while a.peek().is_some() {
                let (t, bytes, name) = a.next().unwrap();
                out.push((t, bytes.to_vec(), name));
            }
            out
        }
        let maker = |ix| {
            let mut m = super::AnomalyMaker::new(ix);
            move |made: &mut super::Made| m.batch(made)
        };
        let ahead = std::thread::scope(|s| {
            let batches = super::par::Ahead::start(s, "test-anomalies", 2, maker(&ix));
            drain(&mut super::Anomalies::new(batches))
        });
        let here = drain(&mut super::Anomalies::new(super::par::Ahead::here(maker(
            &ix,
        ))));
        assert_eq!(ahead.len(), n);
        assert!(ahead == here, "made ahead and made here differ");
        assert!(ahead.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
        // Each item is its anomaly's event alone: the anomalies by time (ties in table
        // order), each message in its own event.
        let mut by_time: Vec<&crate::analysis::Anomaly> = ix.anomalies.iter().collect();
        by_time.sort_by_key(|a| a.start_ns);
        for ((t, bytes, _), a) in ahead.iter().zip(by_time) {
            let ev = <super::TrackEvent as prost::Message>::decode(&bytes[..]).unwrap();
            assert_eq!(*t, a.start_ns);
            assert_eq!(ev.debug_annotations.len(), 4, "{ev:?}");
            let explanation = ev.debug_annotations[1].string_value.as_deref();
            assert_eq!(explanation, Some(a.message(&ix).as_str()));
        }
        let firsts: Vec<&str> = ahead
            .iter()
            .filter_map(|x| x.2.as_ref())
            .map(|(_, name)| name.as_str())
            .collect();
        assert_eq!(firsts, ["critical long-poll", "warning long-poll"]);
        let mut whole = Vec::new();
        assert_eq!(super::write(&ix, &mut whole).unwrap().anomalies, n as u64);
        let err = super::write(&ix, FillsUp { room: 0, took: 0 }).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    }

    /// Three wakes before one poll are one task waiting; a wake and the poll it leads to
    /// at one nanosecond are written wake first, so the arrow starts before it ends.
    #[test]
    fn the_counter_counts_tasks_and_a_wake_precedes_its_poll_at_one_time() {
        let wake = |task| EventKind::Wake {
            task,
            by_ref: false,
            source: WakeSource::Task(2),
        };
        let ix = Index::build(
            dump(vec![
                (
                    0,
                    0,
                    EventKind::Spawn {
                        task: 1,
                        parent: None,
                    },
                ),
                (1, 0, EventKind::PollStart { task: 1 }),
                (
                    2,
                    0,
                    EventKind::PollEnd {
                        task: 1,
                        completed: false,
                        duration_ns: Some(1),
                    },
                ),
                (10, 1, EventKind::PollStart { task: 2 }),
                (11, 1, wake(1)),
                (12, 1, wake(1)),
                (20, 1, wake(1)),
                (20, 0, EventKind::PollStart { task: 1 }),
                (
                    21,
                    1,
                    EventKind::PollEnd {
                        task: 2,
                        completed: false,
                        duration_ns: Some(11),
                    },
                ),
                (
                    22,
                    0,
                    EventKind::PollEnd {
                        task: 1,
                        completed: true,
                        duration_ns: Some(2),
                    },
                ),
                (22, 0, EventKind::Terminate { task: 1 }),
            ]),
            Thresholds::default(),
        );
        let mut bytes = Vec::new();
        let written = super::write(&ix, &mut bytes).unwrap();
        assert_eq!((written.polls, written.wakes, written.flows), (3, 3, 3));
        let packets = packets(&bytes);
        assert_eq!(packets.len() as u64, written.packets);
        let counter: Vec<i64> = packets
            .iter()
            .filter_map(|p| p.track_event.as_ref())
            .filter(|e| e.r#type == Some(proto::COUNTER))
            .filter_map(|e| e.counter_value)
            .collect();
        // The woken count rides on the wake and the poll's begin (time, event type, value).
        let woken: Vec<(u64, i32, i64)> = packets
            .iter()
            .filter_map(|p| Some((p.timestamp?, p.track_event.as_ref()?)))
            .filter(|(_, e)| e.extra_counter_track_uuids == [super::WOKEN_TRACK])
            .map(|(ts, e)| (ts, e.r#type.unwrap(), e.extra_counter_values[0]))
            .collect();
        assert_eq!(
            woken,
            vec![(11, proto::INSTANT, 1), (20, proto::SLICE_BEGIN, 0)],
            "one task waited, however often woken"
        );
        // Task 2 was alive before the window and at the dump: 1 at the start, 2 from task
        // 1's spawn, 1 again from its end.
        let live: Vec<(u64, i64)> = packets
            .iter()
            .filter(|p| {
                p.track_event.as_ref().and_then(|e| e.track_uuid) == Some(super::LIVE_TRACK)
            })
            .map(|p| {
                (
                    p.timestamp.unwrap(),
                    p.track_event.as_ref().unwrap().counter_value.unwrap(),
                )
            })
            .collect();
        assert_eq!(
            counter.len(),
            live.len(),
            "no counter packet but the live tasks'"
        );
        assert_eq!(live, vec![(0, 1), (0, 2), (22, 1)]);
        let at_20: Vec<i32> = packets
            .iter()
            .filter(|p| p.timestamp == Some(20))
            .filter_map(|p| p.track_event.as_ref()?.r#type)
            .collect();
        let first_begin = at_20.iter().position(|&t| t == proto::SLICE_BEGIN).unwrap();
        let wake_at = at_20.iter().position(|&t| t == proto::INSTANT).unwrap();
        assert!(wake_at < first_begin, "{at_20:?}");
        // Every arrow that starts ends, after it starts.
        let mut started = std::collections::HashSet::new();
        for e in packets.iter().filter_map(|p| p.track_event.as_ref()) {
            started.extend(e.flow_ids.iter().copied());
            for f in &e.terminating_flow_ids {
                assert!(started.remove(f), "flow {f} ends before it starts");
            }
        }
        assert!(started.is_empty(), "{started:?}");
    }

    /// Without the recorder's list of the tasks alive at the dump (a ring file, an older
    /// dump), the live tasks start at the fewest the window's ends and spawns allow.
    #[test]
    fn without_the_recorders_list_live_tasks_start_at_the_fewest_possible() {
        let mut d = dump(vec![
            (1, 0, EventKind::Terminate { task: 5 }),
            (2, 0, EventKind::Terminate { task: 7 }),
            (
                3,
                0,
                EventKind::Spawn {
                    task: 6,
                    parent: None,
                },
            ),
            (4, 0, EventKind::Terminate { task: 6 }),
        ]);
        d.facts.live_wakers.clear();
        let ix = Index::build(d, Thresholds::default());
        let mut bytes = Vec::new();
        super::write(&ix, &mut bytes).unwrap();
        let live: Vec<(u64, i64)> = packets(&bytes)
            .iter()
            .filter_map(|p| Some((p.timestamp?, p.track_event.as_ref()?)))
            .filter(|(_, e)| e.track_uuid == Some(super::LIVE_TRACK))
            .filter_map(|(ts, e)| Some((ts, e.counter_value?)))
            .collect();
        assert_eq!(live, vec![(1, 2), (1, 1), (2, 0), (3, 1), (4, 0)]);
    }

    /// The index's waits of events the export does not read (Tokio's schedule latency
    /// here) are passed by: the wake after them still gets its arrow.
    #[test]
    fn a_wake_after_a_schedule_latency_keeps_its_arrow() {
        let ix = Index::build(
            dump(vec![
                (
                    5,
                    0,
                    EventKind::Scheduled {
                        task: 2,
                        latency_ns: 3,
                    },
                ),
                (5, 0, EventKind::PollStart { task: 2 }),
                (
                    6,
                    0,
                    EventKind::Wake {
                        task: 1,
                        by_ref: true,
                        source: WakeSource::Task(2),
                    },
                ),
                (
                    7,
                    0,
                    EventKind::PollEnd {
                        task: 2,
                        completed: false,
                        duration_ns: Some(2),
                    },
                ),
                (8, 1, EventKind::PollStart { task: 1 }),
                (
                    9,
                    1,
                    EventKind::PollEnd {
                        task: 1,
                        completed: false,
                        duration_ns: Some(1),
                    },
                ),
            ]),
            Thresholds::default(),
        );
        assert_eq!(ix.wakes.len(), 2, "the latency's wait and the wake's");
        let mut bytes = Vec::new();
        let written = super::write(&ix, &mut bytes).unwrap();
        assert_eq!((written.wakes, written.flows), (1, 1));
    }

    /// A poll known only from its end began before the window's first event: the trace
    /// still begins there, every packet in time order.
    #[test]
    fn a_poll_begun_before_the_window_comes_first() {
        let ix = Index::build(
            dump(vec![
                (
                    100,
                    0,
                    EventKind::PollEnd {
                        task: 1,
                        completed: false,
                        duration_ns: Some(50),
                    },
                ),
                (120, 0, EventKind::PollStart { task: 1 }),
                (
                    130,
                    0,
                    EventKind::PollEnd {
                        task: 1,
                        completed: false,
                        duration_ns: Some(10),
                    },
                ),
            ]),
            Thresholds::default(),
        );
        let mut bytes = Vec::new();
        super::write(&ix, &mut bytes).unwrap();
        let times: Vec<u64> = packets(&bytes)
            .iter()
            .filter(|p| p.track_event.is_some())
            .filter_map(|p| p.timestamp)
            .collect();
        assert_eq!(times.first(), Some(&50), "{times:?}");
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    }

    /// A wake recorded just after a poll's start, at the same nanosecond, came during
    /// that poll: its arrow goes to the task's next poll, as the index pairs them.
    #[test]
    fn a_wake_after_a_polls_start_at_its_time_leads_to_the_next_poll() {
        let end = |duration_ns| EventKind::PollEnd {
            task: 1,
            completed: false,
            duration_ns: Some(duration_ns),
        };
        let wake = EventKind::Wake {
            task: 1,
            by_ref: false,
            source: WakeSource::Driver,
        };
        let ix = Index::build(
            dump(vec![
                (10, 0, EventKind::PollStart { task: 1 }),
                (10, 0, wake),
                (11, 0, end(1)),
                (20, 0, EventKind::PollStart { task: 1 }),
                (21, 0, end(1)),
            ]),
            Thresholds::default(),
        );
        let mut bytes = Vec::new();
        super::write(&ix, &mut bytes).unwrap();
        let arrows_in: Vec<(u64, usize)> = packets(&bytes)
            .iter()
            .filter_map(|p| Some((p.timestamp?, p.track_event.as_ref()?)))
            .filter(|(_, e)| e.r#type == Some(proto::SLICE_BEGIN))
            .map(|(ts, e)| (ts, e.terminating_flow_ids.len()))
            .collect();
        assert_eq!(arrows_in, vec![(10, 0), (20, 1)]);
    }
}
