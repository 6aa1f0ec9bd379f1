//! Bad input: every damaged or foreign file gets its own clear error, and none panics.

use dial9_recorder::format::*;
use dial9_recorder::{Dump, ReadError};

fn sample() -> Dump {
    Dump {
        header: Header {
            reason: Reason::Requested {
                label: "test".into(),
            },
            dumped_at_unix_ns: 1,
            dumped_at_ns: 2,
            anchor: ClockAnchor {
                mono_ns: 0,
                unix_ns: 1,
            },
            pid: 3,
            program: "prog".into(),
            host: "host".into(),
            capacity: 1024,
            recorded_total: 10,
            overwritten: 0,
            torn_skipped: 0,
            hooks_installed: true,
            layer_installed: true,
            recorder_version: "0".into(),
        },
        threads: vec![ThreadInfo {
            lane: 0,
            os_tid: 9,
            name: "w".into(),
            worker: Some(0),
            kind: ThreadKind::Worker,
        }],
        tasks: vec![TaskInfo {
            id: 5,
            name: "t".into(),
            kind: TaskKind::Task,
            location: None,
            spawned_by: None,
        }],
        lane_states: vec![LaneState {
            lane: 0,
            activity: Activity::Parked,
            since_ns: 1,
        }],
        events: (0..50)
            .map(|i| Event {
                ts_ns: i,
                lane: 0,
                kind: EventKind::PollStart { task: 5 },
            })
            .collect(),
        facts: Facts {
            live_wakers: vec![TaskWakers { task: 5, live: 1 }],
            unhooked: vec![7],
            arch: "x86_64".into(),
            panic_backtrace: vec!["   0: app::main".into()],
            stacks: vec![dial9_recorder::format::Stack {
                id: 0,
                frames: vec!["   0: app::handler".into()],
            }],
        },
        damage: None,
    }
}

#[test]
fn round_trip() {
    let d = sample();
    assert_eq!(Dump::from_bytes(&d.to_bytes().unwrap()).unwrap(), d);
}

/// Where the metadata ends and the event blocks begin.
fn events_at(bytes: &[u8]) -> usize {
    ENVELOPE_LEN + u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize
}

/// Cut inside the envelope or the metadata: truncated, nothing to open. Cut among the
/// event blocks: the dump opens with the blocks before the cut and says what it lost.
#[test]
fn truncated_at_every_offset_is_truncated_or_opens_with_what_it_lost() {
    let d = sample();
    let bytes = d.to_bytes().unwrap();
    let events = events_at(&bytes);
    for cut in 0..bytes.len() {
        match Dump::from_bytes(&bytes[..cut]) {
            Err(ReadError::Truncated { expected, actual }) if cut < events => {
                assert_eq!(actual, cut as u64);
                assert!(expected > actual);
            }
            Err(ReadError::NotADump { .. }) if cut == 0 => {}
            Ok(back) if cut >= events => {
                let damage = back.damage.expect("a cut dump says so");
                assert!(damage.truncated, "cut at {cut}");
                assert_eq!(damage.events_lost, d.events.len() as u64);
                assert!(back.events.is_empty());
                assert_eq!(back.tasks, d.tasks, "the tables are whole");
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn random_bytes_and_wrong_magic_are_not_a_dump() {
    let mut x: u64 = 0x1234_5678;
    for len in [1usize, 7, 28, 100, 5000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(matches!(
            Dump::from_bytes(&bytes),
            Err(ReadError::NotADump { .. })
        ));
    }
    let mut bytes = sample().to_bytes().unwrap();
    bytes[0] = b'X';
    let err = Dump::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, ReadError::NotADump { .. }));
    assert!(err.to_string().contains("not a dial9 dump"));
}

#[test]
fn newer_version_says_so() {
    let mut bytes = sample().to_bytes().unwrap();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let err = Dump::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(err, ReadError::NewerVersion { found, supported } if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION)
    );
    assert!(err.to_string().contains("newer"));
}

/// A flipped bit in the metadata (names, lane states, facts) makes the dump corrupt; one
/// in the events costs only the block it falls in, and the reader says so.
#[test]
fn any_flipped_byte_is_corrupt_or_costs_only_its_block() {
    let d = sample();
    let bytes = d.to_bytes().unwrap();
    let events = events_at(&bytes);
    for i in ENVELOPE_LEN..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x40;
        match Dump::from_bytes(&b) {
            Err(ReadError::Corrupt { .. }) if i < events => {}
            Ok(back) if i >= events => {
                let damage = back.damage.expect("damage is reported");
                assert_eq!((damage.blocks_lost, damage.blocks), (1, 1), "byte {i}");
                assert_eq!(damage.events_lost, d.events.len() as u64);
                assert_eq!(back.threads, d.threads);
            }
            other => panic!("byte {i}: {other:?}"),
        }
    }
    // Bytes after the last block lose nothing.
    let mut b = bytes.clone();
    b.push(0);
    assert_eq!(Dump::from_bytes(&b).unwrap(), d);
}

/// A body with a valid checksum whose first string claims an absurd length must fail
/// cleanly, without trying to allocate it.
#[test]
fn hostile_length_with_valid_checksum_is_corrupt_not_an_allocation() {
    // Reason::Requested is variant 2; then a String length varint: 0xFD + u64 LE.
    let mut body = vec![2u8, 0xFD];
    body.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
    body.extend_from_slice(b"abc");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    let err = Dump::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, ReadError::Corrupt { .. }), "{err:?}");

    // Same for a vector length.
    let mut d = sample();
    d.events.clear();
    d.facts = Facts::default();
    let good = d.to_bytes().unwrap();
    let body = &good[ENVELOPE_LEN..];
    // The last vector's length (the facts' stacks) is the third byte from the end of the
    // bincode (0), before the counts of blocks and events (0, 0) and the event section's
    // length (8 bytes): make it enormous.
    let mut body = body[..body.len() - 8 - 3].to_vec();
    body.push(0xFD);
    body.extend_from_slice(&(1u64 << 60).to_le_bytes());
    body.extend_from_slice(&[0; 2 + 8]);
    let mut bytes = good[..16].to_vec();
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    assert!(matches!(
        Dump::from_bytes(&bytes),
        Err(ReadError::Corrupt { .. })
    ));
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = Dump::read("/nonexistent/d.bin").unwrap_err();
    assert!(matches!(err, ReadError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/d.bin"));
}

/// Every format version ever released still reads: one real dump of each (the long-poll
/// sample as each version wrote it) is kept in `tests/fixtures/`.
#[test]
fn every_released_format_version_reads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for v in OLDEST_FORMAT_VERSION..=FORMAT_VERSION {
        let path = dir.join(format!("long-poll-v{v}.bin"));
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("no fixture for format version {v}: {e}"));
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), v);
        let d = Dump::read(&path).unwrap_or_else(|e| panic!("version {v}: {e}"));
        assert!(d.events.len() > 1000, "version {v}");
        assert!(
            d.tasks.iter().any(|t| t.name == "http-request-3"),
            "version {v}"
        );
    }
}

#[test]
fn decode_errors_are_words_with_a_position_not_debug_text() {
    let good = sample().to_bytes().unwrap();
    // Cut the metadata short but keep the envelope consistent (length and checksum
    // fixed).
    let body = &good[ENVELOPE_LEN..events_at(&good) - 10];
    let mut bytes = good[..16].to_vec();
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    bytes.extend_from_slice(body);
    let msg = Dump::from_bytes(&bytes).unwrap_err().to_string();
    assert!(msg.contains("ends in the middle of a value"), "{msg}");
    // Where the metadata's bincode stops, before the section length that closes it.
    assert!(
        msg.contains(&format!("at byte {}", bytes.len() - 8)),
        "{msg}"
    );
    assert!(
        !msg.contains('{') && !msg.contains("UnexpectedEnd"),
        "{msg}"
    );
}

#[test]
fn ring_magic_on_a_dump_body_is_corrupt_not_a_newer_version() {
    let mut bytes = sample().to_bytes().unwrap();
    bytes[..8].copy_from_slice(&RING_MAGIC);
    bytes.resize(8192, 0);
    let err = Dump::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, ReadError::Corrupt { .. }), "{err}");
    assert!(!err.to_string().contains("newer"), "{err}");
}

/// The dump a streamed reading gives: its tables, every event the scan hands over, and
/// what the scan says was lost.
fn streamed((mut dump, section): (Dump, dial9_format::EventSection)) -> Dump {
    let mut events = Vec::new();
    let (blocks, damage) = section
        .scan(|cols, entry| {
            assert_eq!(entry.first_event, events.len() as u64);
            events.extend(cols.iter());
            std::ops::ControlFlow::<()>::Continue(())
        })
        .unwrap();
    assert_eq!(blocks.events(), events.len() as u64);
    assert!(dump.events.is_empty());
    dump.events = events;
    dump.damage = dump.damage.or(damage);
    dump
}

/// Streaming a dump (from its file or its bytes, the explorer's way) gives the events,
/// damage and tables a plain read gives: for every sample and fixture, and for the same
/// dump cut and damaged.
#[test]
fn streaming_reads_what_a_plain_read_does() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<std::path::PathBuf> = ["../sample-dumps", "tests/fixtures"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    assert!(files.len() >= 14, "{files:?}");
    let dir = tempfile::tempdir().unwrap();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let mut cases = vec![bytes.clone()];
        if u32::from_le_bytes(bytes[8..12].try_into().unwrap()) >= 7 {
            let events_at =
                ENVELOPE_LEN + u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
            let mut flipped = bytes.clone();
            flipped[events_at + (bytes.len() - events_at) / 2] ^= 0x08;
            cases.push(flipped);
            cases.push(bytes[..bytes.len() - 7].to_vec());
        }
        for (i, case) in cases.iter().enumerate() {
            let plain = Dump::from_bytes(case).unwrap();
            assert_eq!(i > 0, plain.damage.is_some(), "{path:?} case {i}");
            let from_bytes = streamed(Dump::open_bytes(case.clone()).unwrap());
            assert_eq!(from_bytes, plain, "{path:?} case {i}, from its bytes");
            let file = dir.path().join(format!("case-{i}.bin"));
            std::fs::write(&file, case).unwrap();
            let from_file = streamed(Dump::open(&file).unwrap());
            assert_eq!(from_file, plain, "{path:?} case {i}, from a file");
        }
    }
}
