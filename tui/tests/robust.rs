//! Any dump the decoder accepts, however odd (events out of order, unknown tasks and lanes,
//! huge values, hostile strings), goes through the index, every anomaly rule, `report`
//! (text and JSON), `check` and the explorer without a panic, and no control character
//! from the file reaches any output.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dial9_format::{
    Activity, ClockAnchor, Dump, Event, EventKind, Facts, Header, LaneState, Reason, SpawnLocation,
    Stack, TaskInfo, TaskKind, ThreadInfo, ThreadKind, WakeSource, WakerOp,
};
use dial9_tui::analysis::{AnomalyKind, Index, Thresholds};
use dial9_tui::app::{self, App, Options};
use dial9_tui::cli::{check, report};
use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// Strings a crafted file might hold: terminal escapes, C0/C1 controls, bidi overrides.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("worker".to_string()),
        Just("\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31m".to_string()),
        Just("a\r\nb\tc\u{0}\u{7f}\u{85}\u{9b}31m".to_string()),
        Just("\u{202e}evil\u{2066}".to_string()),
        "[\\PC\\x00-\\x1f\\x7f-\\x9f]{0,40}",
    ]
}

/// Values near the edges, where wrapping arithmetic would show.
fn big() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..2_000_000_000u64,
        Just(u64::MAX),
        Just(u64::MAX / 2),
        any::<u64>()
    ]
}

fn task_id() -> impl Strategy<Value = u64> {
    prop_oneof![1..12u64, Just(u64::MAX), Just(0)]
}

fn kind() -> impl Strategy<Value = EventKind> {
    let wake_source = prop_oneof![
        task_id().prop_map(WakeSource::Task),
        Just(WakeSource::Driver),
        Just(WakeSource::Foreign),
    ];
    prop_oneof![
        (task_id(), proptest::option::of(task_id()))
            .prop_map(|(task, parent)| EventKind::Spawn { task, parent }),
        task_id().prop_map(|task| EventKind::PollStart { task }),
        (task_id(), any::<bool>()).prop_map(|(task, completed)| EventKind::PollEnd {
            task,
            completed,
            duration_ns: None
        }),
        (task_id(), any::<bool>(), wake_source).prop_map(|(task, by_ref, source)| {
            EventKind::Wake {
                task,
                by_ref,
                source,
            }
        }),
        task_id().prop_map(|task| EventKind::WakerClone { task, live: None }),
        task_id().prop_map(|task| EventKind::WakerDrop { task, live: None }),
        any::<u64>().prop_map(|span| EventKind::OrphanWaker {
            op: WakerOp::Drop,
            span
        }),
        task_id().prop_map(|task| EventKind::Terminate { task }),
        Just(EventKind::Park),
        proptest::option::of(big()).prop_map(|io_ready_total| EventKind::Unpark { io_ready_total }),
        Just(EventKind::ThreadStart),
        Just(EventKind::ThreadStop),
        (proptest::option::of(task_id()), big())
            .prop_map(|(task, duration_ms)| EventKind::TimerArm { task, duration_ms }),
        (task_id(), big()).prop_map(|(task, latency_ns)| EventKind::Scheduled { task, latency_ns }),
        (big(), big()).prop_map(|(on_cpu_ns, runq_wait_ns)| EventKind::CpuStat {
            on_cpu_ns,
            runq_wait_ns
        }),
        (
            task_id(),
            prop_oneof![Just(b'R'), Just(b'S'), Just(b'D'), any::<u8>()],
            proptest::option::of(any::<u16>()),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(task, state, syscall, on_cpu_us, runq_wait_us)| {
                EventKind::PollSample {
                    task,
                    state,
                    syscall,
                    on_cpu_us,
                    runq_wait_us,
                }
            }),
        (task_id(), 0..4u32).prop_map(|(task, stack)| EventKind::PollStack { task, stack }),
    ]
}

/// The facts a dump can carry, with hostile strings in every text.
fn facts() -> impl Strategy<Value = Facts> {
    (
        hostile(),
        proptest::collection::vec(hostile(), 0..4),
        proptest::collection::vec((0..4u32, proptest::collection::vec(hostile(), 0..4)), 0..3),
    )
        .prop_map(|(arch, panic_backtrace, stacks)| Facts {
            arch,
            panic_backtrace,
            stacks: stacks
                .into_iter()
                .map(|(id, frames)| Stack { id, frames })
                .collect(),
            ..Facts::default()
        })
}

fn event() -> impl Strategy<Value = Event> {
    (big(), prop_oneof![0..4u32, Just(u32::MAX)], kind()).prop_map(|(ts_ns, lane, kind)| Event {
        ts_ns,
        lane,
        kind,
    })
}

fn thread() -> impl Strategy<Value = ThreadInfo> {
    (
        prop_oneof![0..4u32, Just(u32::MAX)],
        any::<u64>(),
        hostile(),
        proptest::option::of(0..3u32),
        prop_oneof![
            Just(ThreadKind::Worker),
            Just(ThreadKind::Blocking),
            Just(ThreadKind::Other)
        ],
    )
        .prop_map(|(lane, os_tid, name, worker, kind)| ThreadInfo {
            lane,
            os_tid,
            name,
            worker,
            kind,
        })
}

fn task() -> impl Strategy<Value = TaskInfo> {
    (
        task_id(),
        hostile(),
        proptest::option::of((hostile(), any::<u32>(), any::<u32>())),
        proptest::option::of(task_id()),
    )
        .prop_map(|(id, name, loc, spawned_by)| TaskInfo {
            id,
            name,
            kind: TaskKind::Task,
            location: loc.map(|(file, line, col)| SpawnLocation { file, line, col }),
            spawned_by,
        })
}

fn reason() -> impl Strategy<Value = Reason> {
    prop_oneof![
        (
            hostile(),
            proptest::option::of(hostile()),
            hostile(),
            proptest::option::of(task_id())
        )
            .prop_map(|(message, location, thread, task)| Reason::Panic {
                message,
                location,
                thread,
                task
            }),
        (any::<i32>(), hostile()).prop_map(|(signal, name)| Reason::Signal { signal, name }),
        hostile().prop_map(|label| Reason::Requested { label }),
        (any::<u32>(), any::<bool>())
            .prop_map(|(pid, writer_alive)| Reason::Recovered { pid, writer_alive }),
    ]
}

fn lane_state() -> impl Strategy<Value = LaneState> {
    (
        prop_oneof![0..4u32, Just(u32::MAX)],
        prop_oneof![
            task_id().prop_map(|task| Activity::Polling { task }),
            Just(Activity::Parked),
            Just(Activity::Running),
            Just(Activity::Stopped),
            Just(Activity::Unknown),
        ],
        big(),
    )
        .prop_map(|(lane, activity, since_ns)| LaneState {
            lane,
            activity,
            since_ns,
        })
}

prop_compose! {
    fn dump()(
        reason in reason(),
        dumped_at_ns in big(),
        program in hostile(),
        host in hostile(),
        counts in (big(), big(), big(), big()),
        version in hostile(),
        threads in proptest::collection::vec(thread(), 0..5),
        tasks in proptest::collection::vec(task(), 0..8),
        lane_states in proptest::collection::vec(lane_state(), 0..4),
        mut events in proptest::collection::vec(event(), 0..80),
        sorted in any::<bool>(),
        facts in facts(),
    ) -> Dump {
        if sorted {
            events.sort_by_key(|e| e.ts_ns);
        }
        Dump {
            header: Header {
                reason,
                dumped_at_unix_ns: counts.0,
                dumped_at_ns,
                anchor: ClockAnchor { mono_ns: counts.1, unix_ns: counts.0 },
                pid: 7,
                program,
                host,
                capacity: counts.1,
                recorded_total: counts.2,
                overwritten: counts.3,
                torn_skipped: counts.2,
                hooks_installed: sorted,
                layer_installed: !sorted,
                recorder_version: version,
            },
            threads,
            tasks,
            lane_states,
            events,
            facts,
            damage: None,
        }
    }
}

/// A control character in printed text: anything but the newlines that end lines.
fn assert_clean(what: &str, text: &str) {
    if let Some(c) = text.chars().find(|&c| c.is_control() && c != '\n') {
        panic!("{what}: control character {c:?} in output:\n{text}");
    }
    for bidi in ['\u{202e}', '\u{2066}'] {
        assert!(!text.contains(bidi), "{what}: bidi override in output");
    }
}

const KEYS: &[KeyCode] = &[
    KeyCode::Char('j'),
    KeyCode::Char('k'),
    KeyCode::Tab,
    KeyCode::BackTab,
    KeyCode::Enter,
    KeyCode::Esc,
    KeyCode::Char('a'),
    KeyCode::Char('d'),
    KeyCode::Char('h'),
    KeyCode::Char('l'),
    KeyCode::Left,
    KeyCode::Right,
    KeyCode::Char('w'),
    KeyCode::Char('s'),
    KeyCode::Char('0'),
    KeyCode::Char('t'),
    KeyCode::Char('['),
    KeyCode::Char(']'),
    KeyCode::Char('{'),
    KeyCode::Char('}'),
    KeyCode::Char('n'),
    KeyCode::Char('N'),
    KeyCode::Char('L'),
    KeyCode::Char('p'),
    KeyCode::Char('g'),
    KeyCode::Char('G'),
    KeyCode::PageDown,
    KeyCode::PageUp,
    KeyCode::Char('i'),
    KeyCode::Char('<'),
    KeyCode::Char('>'),
    KeyCode::Char('?'),
    KeyCode::Char('/'),
    KeyCode::Char('x'),
    KeyCode::Backspace,
];

fn explore(ix: Index, keys: &[usize]) {
    let mut app = App::new(ix, Options::default(), "fuzz \u{1b}[2J.bin".into());
    for (n, &(w, h)) in [(80u16, 24u16), (20, 6), (160, 48), (1, 1)]
        .iter()
        .enumerate()
    {
        app::apply(&mut app, app::Action::Resize(w, h));
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        for &k in keys
            .iter()
            .skip(n * keys.len() / 4)
            .take(keys.len() / 4 + 1)
        {
            let code = KEYS[k % KEYS.len()];
            let mods = match code {
                KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
                _ => KeyModifiers::NONE,
            };
            if let Some(a) = app::from_key(&app, KeyEvent::new(code, mods)) {
                app::apply(&mut app, a);
            }
            if app.quit() {
                return;
            }
            term.draw(|f| dial9_tui::view::render(f, &app)).unwrap();
            let screen: String = term
                .backend()
                .buffer()
                .content()
                .iter()
                .map(|c| c.symbol())
                .collect();
            assert_clean("explorer", &screen);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_dump_is_safe_in_every_report(d in dump()) {
        // What the decoder accepts is what the index gets: go through the file format.
        let d = Dump::from_bytes(&d.to_bytes().unwrap()).unwrap();
        let ix = Index::build(d, Thresholds::default());
        assert_clean("report", &report::text(&ix, "x.bin", 1000));
        assert_clean("report --json", &report::json(&ix));
        serde_json::from_str::<serde_json::Value>(&report::json(&ix)).unwrap();
        for listing in [check::Listing::Groups(1000), check::Listing::Every] {
            let (_, out) = check::run(&ix, &[AnomalyKind::LongPoll], listing);
            assert_clean("check", &out);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Cut or damaged among its events, any dump still opens with its tables whole, says
    /// what it lost, and is safe in every report and view. (These dumps hold one block, so
    /// the damage takes all their events: what a lost block costs, and that no claim next
    /// to it is critical, the format's tests check on many blocks and the analysis's on gaps.)
    #[test]
    fn any_dump_damaged_among_its_events_opens_with_its_tables(
        d in dump(),
        at in any::<proptest::sample::Index>(),
        cut in any::<bool>(),
        keys in proptest::collection::vec(0..64usize, 20..60),
    ) {
        let bytes = d.to_bytes().unwrap();
        let events_at = dial9_format::ENVELOPE_LEN
            + u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
        prop_assume!(events_at < bytes.len());
        let i = events_at + at.index(bytes.len() - events_at);
        let mut bad = bytes.clone();
        if cut {
            bad.truncate(i);
        } else {
            bad[i] ^= 0x20;
        }
        let back = Dump::from_bytes(&bad).unwrap();
        let damage = back.damage.clone().expect("the loss is reported");
        prop_assert_eq!(damage.events, d.events.len() as u64);
        prop_assert_eq!(damage.events_lost, d.events.len() as u64);
        prop_assert!(back.events.is_empty());
        prop_assert_eq!(&back.tasks, &d.tasks);
        prop_assert_eq!(&back.lane_states, &d.lane_states);
        let ix = Index::build(back, Thresholds::default());
        assert_clean("report", &report::text(&ix, "x.bin", 1000));
        serde_json::from_str::<serde_json::Value>(&report::json(&ix)).unwrap();
        explore(ix, &keys);
    }
}

proptest! {
    // Hundreds of keys per dump (a quarter at each terminal size), so the explorer gets
    // deep into states (zoomed far in, a search typed, overlays over sorted tables), not
    // just a few keys from its opening screen. Each key redraws the screen, most of the
    // run time: fewer dumps than the reports above keep it in bounds.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_dump_survives_hundreds_of_explorer_keys(d in dump(), keys in proptest::collection::vec(0..64usize, 200..600)) {
        let d = Dump::from_bytes(&d.to_bytes().unwrap()).unwrap();
        explore(Index::build(d, Thresholds::default()), &keys);
    }
}

/// The two explorer panics the fuzz campaign found, as the key sequences that hit them.
#[test]
fn empty_dump_survives_every_key() {
    let d = Dump {
        header: Header {
            reason: Reason::Requested {
                label: "start-up".into(),
            },
            dumped_at_unix_ns: 1,
            dumped_at_ns: 5,
            anchor: ClockAnchor {
                mono_ns: 0,
                unix_ns: 0,
            },
            pid: 1,
            program: "p".into(),
            host: "h".into(),
            capacity: 1024,
            recorded_total: 0,
            overwritten: 0,
            torn_skipped: 0,
            hooks_installed: true,
            layer_installed: true,
            recorder_version: "t".into(),
        },
        threads: vec![],
        tasks: vec![],
        lane_states: vec![],
        events: vec![],
        facts: Default::default(),
        damage: None,
    };
    let keys: Vec<usize> = (0..KEYS.len()).chain(0..KEYS.len()).collect();
    explore(Index::build(d.clone(), Thresholds::default()), &keys);
    // Tab to the task table, then j (the reported sequence).
    let mut with_task = d;
    with_task.tasks.push(TaskInfo {
        id: 3,
        name: "idle".into(),
        kind: TaskKind::Task,
        location: None,
        spawned_by: None,
    });
    with_task.events.push(Event {
        ts_ns: 2,
        lane: 0,
        kind: EventKind::PollStart { task: 5 },
    });
    let ix = Index::build(with_task, Thresholds::default());
    let mut app = App::new(ix, Options::default(), "x".into());
    for code in [
        KeyCode::Tab,
        KeyCode::Char('j'),
        KeyCode::Char('/'),
        KeyCode::Char('i'),
        KeyCode::Char('d'),
        KeyCode::Enter,
        KeyCode::Char('t'),
        KeyCode::Enter,
        KeyCode::Char('j'),
        KeyCode::Char('k'),
        KeyCode::Char('['),
        KeyCode::Char('a'),
    ] {
        if let Some(a) = app::from_key(&app, KeyEvent::new(code, KeyModifiers::NONE)) {
            app::apply(&mut app, a);
        }
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        term.draw(|f| dial9_tui::view::render(f, &app)).unwrap();
    }
}

/// The public dial9's segments, as the real crate wrote them (`tests/fixtures/dial9`).
fn dial9_segments() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dial9");
    [
        "segments/trace.0.bin",
        "segments/trace.1.bin",
        "gz/trace.1.bin.gz",
    ]
    .iter()
    .map(|f| std::fs::read(dir.join(f)).unwrap())
    .collect()
}

/// A change to a segment's bytes: a run of bytes set, a cut, bytes put in.
fn damage() -> impl Strategy<Value = (usize, u8, Vec<u8>, bool)> {
    (
        any::<usize>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 1..8),
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any bytes in a dial9 segment (its own decoder is unfuzzed upstream): a dump or one
    /// line saying which segment does not read, never a panic; what reads is safe in
    /// every report and a few hundred explorer keys.
    #[test]
    fn any_damaged_dial9_trace_opens_or_is_refused_in_one_line(
        which in 0..3usize,
        changes in proptest::collection::vec(damage(), 1..6),
        keys in proptest::collection::vec(0..64usize, 0..80),
    ) {
        let mut bytes = dial9_segments().swap_remove(which);
        for (at, value, put, cut) in changes {
            let at = at % bytes.len().max(1);
            match (cut, value % 3) {
                (true, _) => bytes.truncate(at),
                (false, 0) => bytes.splice(at..at, put).for_each(drop),
                _ => bytes[at..].iter_mut().take(put.len()).for_each(|b| *b = value),
            }
        }
        match dial9_tui::import::from_segments(&[("seg \u{1b}[2J".into(), bytes)]) {
            Ok((dump, foreign)) => {
                prop_assert!(!foreign.limits.is_empty());
                let mut ix = Index::build(dump, Thresholds::default());
                ix.foreign = Some(foreign);
                assert_clean("report", &report::text(&ix, "x.bin", 1000));
                serde_json::from_str::<serde_json::Value>(&report::json(&ix)).unwrap();
                for listing in [check::Listing::Groups(1000), check::Listing::Every] {
                    let (_, out) = check::run(&ix, &[], listing);
                    assert_clean("check", &out);
                }
                explore(ix, &keys);
            }
            Err(e) => prop_assert!(e.starts_with("seg ") && !e.contains('\n'), "{e}"),
        }
    }
}
