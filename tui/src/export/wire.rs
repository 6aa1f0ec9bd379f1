//! The export's hot packets (a poll's begin and end, a wake, a counter's change: millions
//! of them in a 10M-event dump) written straight to bytes, field by field in the order
//! prost writes them, keys and varints as prost encodes them (inlined here). No message
//! is built and no string allocated per packet. The tests check the bytes equal prost's
//! encoding of the same message in [`super::proto`], which the Perfetto tests parse with
//! Perfetto's own definitions.

use prost::encoding::{WireType, encoded_len_varint, key_len};

/// Where a packet's bytes go: its room in the output, sized to the packet beforehand, and
/// how much is written. One check of the room per packet, where a push per byte checked
/// the vector's capacity and stored its length each time.
struct Room<'a> {
    bytes: &'a mut [u8],
    at: usize,
}

impl Room<'_> {
    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.bytes[self.at] = b;
        self.at += 1;
    }

    #[inline(always)]
    fn slice(&mut self, b: &[u8]) {
        self.bytes[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }

    /// `v` as a varint, as prost's `encode_varint` writes it.
    #[inline(always)]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    /// A field's key, as prost's `encode_key` writes it.
    #[inline(always)]
    fn key(&mut self, tag: u32, wire_type: WireType) {
        self.varint(u64::from(tag << 3 | wire_type as u32));
    }

    #[inline(always)]
    fn uint(&mut self, tag: u32, v: u64) {
        self.key(tag, WireType::Varint);
        self.varint(v);
    }

    /// A length-delimited field's key and length.
    #[inline(always)]
    fn head(&mut self, tag: u32, len: usize) {
        self.key(tag, WireType::LengthDelimited);
        self.varint(len as u64);
    }
}

/// A track event's fields, as the hot packets use them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Event<'a> {
    /// `TrackEvent.Type`.
    pub kind: i32,
    pub track: u64,
    pub name_iid: Option<u64>,
    pub category: Option<u64>,
    pub args: &'a [Arg<'a>],
    pub counter: Option<i64>,
    /// A counter's new value taken at this event (its track, the value), written with
    /// the event rather than as a packet of its own.
    pub extra_counter: Option<(u64, i64)>,
    pub flows: &'a [u64],
    pub terminating_flows: &'a [u64],
}

/// A debug annotation whose name is interned.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Uint(u64, u64),
    Text(u64, &'a str),
}

fn uint_len(tag: u32, v: u64) -> usize {
    key_len(tag) + encoded_len_varint(v)
}

fn bytes_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn arg_len(a: &Arg<'_>) -> usize {
    match *a {
        Arg::Uint(name, v) => uint_len(1, name) + uint_len(3, v),
        Arg::Text(name, v) => uint_len(1, name) + bytes_len(6, v.len()),
    }
}

/// Bytes of `ev` as a `TrackEvent`.
fn event_len(ev: &Event<'_>) -> usize {
    ev.category.map_or(0, |c| uint_len(3, c))
        + ev.args
            .iter()
            .map(|a| bytes_len(4, arg_len(a)))
            .sum::<usize>()
        + uint_len(9, ev.kind as u64)
        + ev.name_iid.map_or(0, |n| uint_len(10, n))
        + uint_len(11, ev.track)
        + ev.extra_counter
            .map_or(0, |(t, v)| uint_len(12, v as u64) + uint_len(31, t))
        + ev.counter.map_or(0, |v| uint_len(30, v as u64))
        + (ev.flows.len() + ev.terminating_flows.len()) * (key_len(47) + 8)
}

/// `ev`'s `TrackEvent` fields, in tag order.
#[inline(always)]
fn track_event(ev: &Event<'_>, out: &mut Room<'_>) {
    if let Some(c) = ev.category {
        out.uint(3, c);
    }
    for a in ev.args {
        out.head(4, arg_len(a));
        match *a {
            Arg::Uint(name, v) => {
                out.uint(1, name);
                out.uint(3, v);
            }
            Arg::Text(name, v) => {
                out.uint(1, name);
                out.head(6, v.len());
                out.slice(v.as_bytes());
            }
        }
    }
    // An enum (int32): negative values would take ten bytes; ours are 1 to 4.
    out.uint(9, ev.kind as u64);
    if let Some(n) = ev.name_iid {
        out.uint(10, n);
    }
    out.uint(11, ev.track);
    if let Some((_, v)) = ev.extra_counter {
        out.uint(12, v as u64);
    }
    if let Some(v) = ev.counter {
        out.uint(30, v as u64);
    }
    if let Some((t, _)) = ev.extra_counter {
        out.uint(31, t);
    }
    for &f in ev.flows {
        out.key(47, WireType::SixtyFourBit);
        out.slice(&f.to_le_bytes());
    }
    for &f in ev.terminating_flows {
        out.key(48, WireType::SixtyFourBit);
        out.slice(&f.to_le_bytes());
    }
}

/// A `TracePacket` at `ts` on sequence `sequence` carrying `ev` (and `interned`, the bytes
/// of an `InternedData`, when there are names to send), appended to `out` as field 1 of
/// the `Trace`: each message's length is worked out from its fields before its bytes are
/// written, so nothing is copied twice. Returns the bytes written.
pub fn packet(
    out: &mut Vec<u8>,
    head: (u64, u32, u32),
    ev: &Event<'_>,
    interned: Option<&[u8]>,
) -> usize {
    wrap(
        out,
        head,
        event_len(ev),
        |out| track_event(ev, out),
        interned,
    )
}

/// A `TracePacket` as [`packet`] writes it, carrying a `TrackEvent` already encoded (an
/// anomaly's, made ahead on another thread).
pub fn packet_of_event(
    out: &mut Vec<u8>,
    head: (u64, u32, u32),
    event: &[u8],
    interned: Option<&[u8]>,
) -> usize {
    wrap(out, head, event.len(), |out| out.slice(event), interned)
}

/// The packet around an event of `event` bytes that `write_event` writes.
#[inline(always)]
fn wrap(
    out: &mut Vec<u8>,
    (ts, sequence, flags): (u64, u32, u32),
    event: usize,
    write_event: impl FnOnce(&mut Room<'_>),
    interned: Option<&[u8]>,
) -> usize {
    let packet = uint_len(8, ts)
        + uint_len(10, u64::from(sequence))
        + bytes_len(11, event)
        + interned.map_or(0, |i| bytes_len(12, i.len()))
        + uint_len(13, u64::from(flags));
    let before = out.len();
    let len = bytes_len(1, packet);
    out.resize(before + len, 0);
    let mut room = Room {
        bytes: &mut out[before..],
        at: 0,
    };
    room.head(1, packet);
    room.uint(8, ts);
    room.uint(10, u64::from(sequence));
    room.head(11, event);
    write_event(&mut room);
    if let Some(i) = interned {
        room.head(12, i.len());
        room.slice(i);
    }
    room.uint(13, u64::from(flags));
    // The lengths worked out are the bytes written (the tests check them against prost).
    debug_assert_eq!(room.at, len);
    len
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::export::proto::{self, DebugAnnotation, InternedData, TracePacket, TrackEvent};

    /// The message prost would encode for `ev`.
    fn as_message(ev: &Event<'_>) -> TrackEvent {
        TrackEvent {
            category_iids: ev.category.into_iter().collect(),
            debug_annotations: ev
                .args
                .iter()
                .map(|a| match *a {
                    Arg::Uint(n, v) => DebugAnnotation::uint(n, v),
                    Arg::Text(n, v) => DebugAnnotation::text(n, v),
                })
                .collect(),
            r#type: Some(ev.kind),
            name_iid: ev.name_iid,
            track_uuid: Some(ev.track),
            extra_counter_values: ev.extra_counter.map(|(_, v)| v).into_iter().collect(),
            name: None,
            counter_value: ev.counter,
            extra_counter_track_uuids: ev.extra_counter.map(|(t, _)| t).into_iter().collect(),
            flow_ids: ev.flows.to_vec(),
            terminating_flow_ids: ev.terminating_flows.to_vec(),
        }
    }

    /// Every shape the export writes, at the edges of each field's width: the bytes are
    /// prost's, and decode back to the same message.
    #[test]
    fn hot_packets_are_the_bytes_prost_writes() {
        let args = [
            Arg::Uint(1, 0),
            Arg::Uint(2, u64::MAX),
            Arg::Text(3, "completed"),
            Arg::Text(5, ""),
            Arg::Text(
                5,
                "é and a long string past one hundred and twenty-seven bytes, \
                          which takes a two-byte length prefix in front of it ............",
            ),
        ];
        let flows = [0, 1, u64::MAX];
        let interned = InternedData {
            event_names: vec![proto::Interned {
                iid: Some(16),
                name: Some("task".into()),
            }],
            ..Default::default()
        }
        .encode_to_vec();
        let mut n = 0;
        for kind in [
            proto::SLICE_BEGIN,
            proto::SLICE_END,
            proto::INSTANT,
            proto::COUNTER,
        ] {
            for k in 0..=args.len() {
                for ((f, t), extra) in [(0, 0), (1, 0), (0, 2), (3, 3)].into_iter().zip([
                    None,
                    Some((3, 0)),
                    Some((u64::MAX, -1)),
                    Some((4, i64::MAX)),
                ]) {
                    for with_names in [false, true] {
                        let ev = Event {
                            kind,
                            track: 0x100 + k as u64 * 1_000_000_007,
                            name_iid: (k % 2 == 0).then_some(16 + k as u64),
                            category: (k % 3 != 0).then_some(k as u64),
                            args: &args[..k],
                            counter: (kind == proto::COUNTER).then_some(k as i64 * 1_000_000),
                            extra_counter: extra,
                            flows: &flows[..f],
                            terminating_flows: &flows[..t],
                        };
                        let ts = if k % 2 == 0 { 0 } else { u64::MAX - k as u64 };
                        let mut out = Vec::new();
                        let written = packet(
                            &mut out,
                            (ts, 1, proto::SEQ_NEEDS_INCREMENTAL_STATE),
                            &ev,
                            with_names.then_some(&interned[..]),
                        );
                        let message = TracePacket {
                            timestamp: Some(ts),
                            trusted_packet_sequence_id: Some(1),
                            track_event: Some(as_message(&ev)),
                            interned_data: with_names
                                .then(|| InternedData::decode(&interned[..]).unwrap()),
                            sequence_flags: Some(proto::SEQ_NEEDS_INCREMENTAL_STATE),
                            track_descriptor: None,
                        };
                        let mut want = Vec::new();
                        prost::encoding::encode_key(1, WireType::LengthDelimited, &mut want);
                        prost::encoding::encode_varint(message.encoded_len() as u64, &mut want);
                        message.encode(&mut want).unwrap();
                        assert_eq!(out, want, "{ev:?}");
                        assert_eq!(written, out.len());
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 4 * 6 * 4 * 2);
    }

    /// A packet around an event prost encoded (the anomalies', made ahead): the bytes
    /// prost writes for the whole packet, with and without names to send.
    #[test]
    fn a_packet_of_an_encoded_event_is_the_bytes_prost_writes() {
        let event = TrackEvent {
            r#type: Some(proto::INSTANT),
            track_uuid: Some(0x101),
            name_iid: Some(40_000),
            category_iids: vec![4],
            debug_annotations: vec![
                DebugAnnotation::text(7, "critical"),
                DebugAnnotation::text(8, "x".repeat(300)),
                DebugAnnotation::uint(9, u64::MAX),
                DebugAnnotation::flag(10, true),
            ],
            ..Default::default()
        };
        let names = InternedData {
            event_names: vec![proto::Interned {
                iid: Some(40_000),
                name: Some("critical long-poll".into()),
            }],
            ..Default::default()
        };
        for (ts, interned) in [(0, None), (u64::MAX, Some(names))] {
            let mut out = vec![9];
            let bytes = interned.as_ref().map(|i| i.encode_to_vec());
            let written = packet_of_event(
                &mut out,
                (ts, 1, proto::SEQ_NEEDS_INCREMENTAL_STATE),
                &event.encode_to_vec(),
                bytes.as_deref(),
            );
            let message = TracePacket {
                timestamp: Some(ts),
                trusted_packet_sequence_id: Some(1),
                track_event: Some(event.clone()),
                interned_data: interned,
                sequence_flags: Some(proto::SEQ_NEEDS_INCREMENTAL_STATE),
                track_descriptor: None,
            };
            let mut want = vec![9];
            prost::encoding::encode_key(1, WireType::LengthDelimited, &mut want);
            prost::encoding::encode_varint(message.encoded_len() as u64, &mut want);
            message.encode(&mut want).unwrap();
            assert_eq!(out, want);
            assert_eq!(written, out.len() - 1);
        }
    }
}
