"""Parses a trace written by `dial9-tui export --perfetto` with Perfetto's own generated
definitions (the `perfetto` package's perfetto_trace_pb2) and checks what the UI relies on:
every packet parses, every event is on a declared track and in time order, tracks form one
process's tree (each names a declared parent), slices nest per track (each end closes the
track's latest open slice), every flow has both ends, every counter value (a counter
event's or one riding on another event) is on a declared counter track, every slice and
instant has a name, and every interned name or category an event names was sent before
it, on its own sequence, whose state an earlier packet of that sequence cleared.
Prints a JSON summary for the Rust test to compare with the dump: with the names of the
anomalies, the arguments each category's events carry, and the dump's reason."""

import json
import sys
from collections import Counter, defaultdict

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

BEGIN, END, INSTANT, COUNTER = 1, 2, 3, 4

trace = pb.Trace()
with open(sys.argv[1], "rb") as f:
    trace.ParseFromString(f.read())

tracks = {}
parents = {}
processes = set()
counter_tracks = set()
extra_counter_values = 0
types = Counter()
categories = Counter()
open_slices = defaultdict(list)
flows_out, flows_in = Counter(), Counter()
problems = []
last_ts = 0
names = Counter()
anomaly_names = Counter()
# Per category, the names of the arguments its events carry.
args = defaultdict(set)
reason = None
# Per sequence, its interned tables: what an event names must have come on its own
# sequence, after a packet of that sequence cleared its state.
TABLES = ("event_names", "event_categories", "debug_annotation_names")
interned = defaultdict(lambda: {t: {} for t in TABLES})
cleared = set()
for packet in trace.packet:
    seq = packet.trusted_packet_sequence_id
    if packet.sequence_flags & pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED:
        cleared.add(seq)
        interned[seq] = {t: {} for t in TABLES}
    if packet.HasField("interned_data"):
        for table, entries in interned[seq].items():
            for entry in getattr(packet.interned_data, table):
                entries[entry.iid] = entry.name
    if packet.HasField("track_descriptor"):
        d = packet.track_descriptor
        if not d.HasField("uuid") or d.uuid in tracks:
            problems.append(f"track {d.uuid} declared twice, or without a uuid")
        name = d.thread.thread_name or d.process.process_name or d.name
        if d.HasField("process"):
            processes.add(d.uuid)
        elif d.parent_uuid not in tracks:
            # (Declared before it: a track cannot be its own parent.)
            problems.append(f"track {name!r} under no declared track")
        tracks[d.uuid] = name
        parents[d.uuid] = d.parent_uuid
        if d.HasField("counter"):
            counter_tracks.add(d.uuid)
        continue
    if not packet.HasField("track_event"):
        problems.append("a packet with neither a track nor an event")
        continue
    e = packet.track_event
    uses_state = e.HasField("name_iid") or e.category_iids or any(
        a.HasField("name_iid") for a in e.debug_annotations
    )
    if uses_state and not (
        seq in cleared and packet.sequence_flags & pb.TracePacket.SEQ_NEEDS_INCREMENTAL_STATE
    ):
        problems.append("an interned name on a sequence whose state was never cleared")
    state = interned[seq]
    name = e.name
    if e.HasField("name_iid"):
        name = state["event_names"].get(e.name_iid)
        if name is None:
            problems.append(f"event name {e.name_iid} used before it was sent")
    if e.type in (BEGIN, INSTANT) and not name:
        problems.append(f"a slice or instant without a name on track {e.track_uuid}")
    cats = list(e.categories)
    for iid in e.category_iids:
        if iid not in state["event_categories"]:
            problems.append(f"category {iid} used before it was sent")
        cats.append(state["event_categories"].get(iid, "?"))
    arg_names = []
    for a in e.debug_annotations:
        if a.HasField("name_iid") and a.name_iid not in state["debug_annotation_names"]:
            problems.append(f"argument name {a.name_iid} used before it was sent")
        arg_names.append(a.name or state["debug_annotation_names"].get(a.name_iid, "?"))
    for c in cats:
        args[c].update(arg_names)
    if e.type == COUNTER and e.track_uuid not in counter_tracks:
        problems.append(f"a counter event on {e.track_uuid}, not a declared counter track")
    if "anomaly" in cats:
        anomaly_names[name or "?"] += 1
    if not cats and e.type == INSTANT and name and name.startswith("dump: "):
        reason = {"name": name, "args": sorted(arg_names)}
    if packet.timestamp < last_ts:
        problems.append(f"event at {packet.timestamp} after one at {last_ts}")
    last_ts = packet.timestamp
    if e.track_uuid not in tracks:
        problems.append(f"event on undeclared track {e.track_uuid}")
    types[e.type] += 1
    if len(e.extra_counter_values) != len(e.extra_counter_track_uuids):
        problems.append("counter values on an event without their tracks")
    for uuid in e.extra_counter_track_uuids:
        if uuid not in counter_tracks:
            problems.append(f"a counter value on {uuid}, not a declared counter track")
    extra_counter_values += len(e.extra_counter_values)
    for c in cats:
        categories[c] += 1
    if e.type == BEGIN:
        open_slices[e.track_uuid].append(packet.timestamp)
        if "poll" in cats:
            names[name] += 1
    elif e.type == END:
        if not open_slices[e.track_uuid]:
            problems.append(f"slice end without a begin on track {e.track_uuid}")
        else:
            open_slices[e.track_uuid].pop()
    for f in e.flow_ids:
        flows_out[f] += 1
    for f in e.terminating_flow_ids:
        flows_in[f] += 1

unmatched = set(flows_out) ^ set(flows_in)
if unmatched:
    problems.append(f"{len(unmatched)} flows with one end")
if any(n != 1 for n in flows_out.values()) or any(n != 1 for n in flows_in.values()):
    problems.append("a flow id used twice")
still_open = sum(len(v) for v in open_slices.values())
if still_open:
    problems.append(f"{still_open} slices never ended")
if len(processes) != 1:
    problems.append(f"{len(processes)} process tracks, not one")
if reason is None:
    problems.append("no instant gives the dump's reason")

print(json.dumps({
    "packets": len(trace.packet),
    "tracks": sorted(tracks.values()),
    "slices": types[BEGIN],
    "instants": types[INSTANT],
    # Counter packets and counter values riding on other events alike.
    "counter_values": types[COUNTER] + extra_counter_values,
    "polls": categories["poll"],
    "parks": categories["park"],
    "wakes": categories["wake"],
    "anomalies": categories["anomaly"],
    "flows": len(flows_out),
    "top_slice_names": [n for n, _ in names.most_common(3)],
    "anomaly_names": dict(sorted(anomaly_names.items())),
    "args": {c: sorted(a) for c, a in sorted(args.items())},
    "reason": reason,
    # The first few, with how many there were in all.
    "problems": problems[:10] + ([f"... {len(problems)} in all"] if len(problems) > 10 else []),
}, indent=1, sort_keys=True))
