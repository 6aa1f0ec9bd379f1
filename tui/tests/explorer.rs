//! The explorer on the sample dumps: snapshots of the screens (ratatui TestBackend +
//! insta) and key sequences asserted on the state.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dial9_format::Dump;
use dial9_tui::analysis::{Index, Thresholds};
use dial9_tui::app::{self, Action, App, Options, Pane};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;

fn open(name: &str) -> App {
    open_with(name, Options::default())
}

fn open_with(name: &str, options: Options) -> App {
    let path = format!("{}/../sample-dumps/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    let dump = Dump::read(&path).unwrap();
    App::new(
        Index::build(dump, Thresholds::default()),
        options,
        format!("sample-dumps/{name}.bin"),
    )
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    drawn(app, w, h).backend().to_string()
}

/// One frame drawn at `w`x`h`, the terminal kept for its cells' styles.
fn drawn(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    app::apply(app, Action::Resize(w, h));
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| dial9_tui::view::render(f, app)).unwrap();
    t
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn key(app: &mut App, code: KeyCode) {
    let mods = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    if let Some(a) = app::from_key(app, KeyEvent::new(code, mods)) {
        app::apply(app, a);
    }
}

fn task_named(app: &App, name: &str) -> u32 {
    app.index()
        .tasks
        .iter()
        .position(|t| t.name == name)
        .unwrap() as u32
}

#[test]
fn snapshot_main_screen_starvation() {
    let mut app = open("starvation");
    insta::assert_snapshot!("starvation_80x24", screen(&mut app, 80, 24));
    insta::assert_snapshot!("starvation_160x48", screen(&mut app, 160, 48));
}

#[test]
fn snapshot_main_screen_panic() {
    let mut app = open("panic");
    insta::assert_snapshot!("panic_80x24", screen(&mut app, 80, 24));
    insta::assert_snapshot!("panic_160x48", screen(&mut app, 160, 48));
}

#[test]
fn snapshot_lost_waker_task_lifecycle() {
    let mut app = open("lost-waker");
    key(&mut app, KeyCode::Char('/'));
    press(&mut app, "config-rel");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.focus(), Pane::Lifecycle);
    insta::assert_snapshot!("lost_waker_lifecycle_80x24", screen(&mut app, 80, 24));
    insta::assert_snapshot!("lost_waker_lifecycle_160x48", screen(&mut app, 160, 48));
}

#[test]
fn snapshot_search_with_a_partial_query() {
    let mut app = open("panic");
    key(&mut app, KeyCode::Char('/'));
    press(&mut app, "pars3");
    insta::assert_snapshot!("search_80x24", screen(&mut app, 80, 24));
    insta::assert_snapshot!("search_160x48", screen(&mut app, 160, 48));
}

#[test]
fn snapshot_help_overlay() {
    let mut app = open("starvation");
    key(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!("help_80x24", screen(&mut app, 80, 24));
    insta::assert_snapshot!("help_160x48", screen(&mut app, 160, 48));
}

/// `?` lists every key of both tables, the search box's under their own heading. Taller
/// than an 80x24 terminal, it says so in its title and scrolls down to its last row.
#[test]
fn help_lists_every_key_and_scrolls_when_taller_than_the_terminal() {
    use dial9_tui::app::keys::{BINDINGS, Binding, SEARCH_BINDINGS};
    // A binding's row: its label, then (perhaps cut) what it does.
    fn row_of(lines: &[String], b: &Binding) -> Option<usize> {
        let does = b.help.strip_prefix("search: ").unwrap_or(b.help);
        let does: String = does.chars().take(30).collect();
        lines
            .iter()
            .position(|l| l.contains(&format!(" {} ", b.label)) && l.contains(&does))
    }
    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    let mut app = open("starvation");
    key(&mut app, KeyCode::Char('?'));
    let all = lines(&screen(&mut app, 160, 48));
    assert!(
        all.iter().any(|l| l.contains("Keys · any key closes")),
        "{all:#?}"
    );
    let heading = all
        .iter()
        .position(|l| l.contains("In the search box (/)"))
        .unwrap_or_else(|| panic!("the search keys' heading:\n{all:#?}"));
    for b in BINDINGS {
        let r = row_of(&all, b).unwrap_or_else(|| panic!("{:?} in the help:\n{all:#?}", b.label));
        assert!(r < heading, "{:?} above the search keys", b.label);
    }
    // Enter and Esc are in both tables: the search box's own rows are below the heading.
    for b in SEARCH_BINDINGS {
        assert!(
            row_of(&all[heading..], b).is_some(),
            "{:?} under the search heading:\n{all:#?}",
            b.label
        );
    }

    // 80x24: the first rows, a title that says there are more, then down to the end.
    let first = screen(&mut app, 80, 24);
    assert!(first.contains("Keys 1-22 of "), "{first}");
    assert!(first.contains("scroll"), "{first}");
    let mut seen = lines(&first);
    for _ in 0..40 {
        key(&mut app, KeyCode::Char('j'));
        seen.extend(lines(&screen(&mut app, 80, 24)));
    }
    assert!(app.help(), "j scrolls, it does not close the help");
    let rows = dial9_tui::app::keys::help_rows().len();
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("-{rows} of {rows}"))),
        "scrolled to the last row"
    );
    for b in BINDINGS.iter().chain(SEARCH_BINDINGS) {
        assert!(
            row_of(&seen, b).is_some(),
            "{:?} reachable at 80x24",
            b.label
        );
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("Swimlanes: letter = task polling")),
        "the last row reachable at 80x24"
    );
    key(&mut app, KeyCode::Esc);
    assert!(!app.help(), "any other key closes it");
}

#[test]
fn too_small_terminal_says_so() {
    let mut app = open("starvation");
    let s = screen(&mut app, 40, 10);
    assert!(s.contains("Terminal too small"), "{s}");
}

#[test]
fn ascii_and_no_color_keep_every_signal() {
    let mut app = open_with(
        "starvation",
        Options {
            ascii: true,
            color: false,
        },
    );
    let s = screen(&mut app, 160, 40);
    assert!(s.is_ascii(), "{s}");
    // Severity glyphs and task letters, not colour, carry the meaning.
    let crit = app
        .index()
        .anomalies
        .iter()
        .filter(|a| a.severity == dial9_tui::analysis::Severity::Critical)
        .count();
    assert!(s.contains(&format!("X {crit} critical")), "{s}");
    assert!(s.contains("A image-resize-0"), "{s}");
}

#[test]
fn key_l_selects_the_longest_poll_and_again_the_next() {
    let mut app = open("long-poll");
    press(&mut app, "L");
    let p = app
        .index()
        .poll(app.index().polls_by_duration()[0])
        .unwrap();
    assert_eq!(app.event(), p.start_event);
    assert_eq!(app.task(), Some(p.task));
    assert_eq!(app.index().tasks[p.task as usize].name, "http-request-3");
    press(&mut app, "L");
    let p2 = app
        .index()
        .poll(app.index().polls_by_duration()[1])
        .unwrap();
    assert_eq!(app.event(), p2.start_event);
}

#[test]
fn key_p_on_panic_selects_the_poll_in_progress() {
    let mut app = open("panic");
    press(&mut app, "gp"); // move away first
    let dial9_format::Reason::Panic { task: Some(id), .. } = app.index().dump.header.reason else {
        panic!()
    };
    let t = app.index().task_idx(id).unwrap();
    let open = app
        .index()
        .polls
        .iter()
        .map(|(_, p)| p)
        .find(|p| p.task == t && p.end_ns.is_none())
        .unwrap();
    assert_eq!(app.event(), open.start_event);
    assert_eq!(app.task(), Some(t));
}

#[test]
fn search_then_enter_selects_the_task() {
    let mut app = open("lost-waker");
    key(&mut app, KeyCode::Char('/'));
    press(&mut app, "cfgrel");
    let hits = app.search().unwrap().hits();
    assert_eq!(
        app.index().tasks[hits[0].task as usize].name,
        "config-reloader"
    );
    key(&mut app, KeyCode::Enter);
    assert!(app.search().is_none());
    assert_eq!(app.task(), Some(task_named(&app, "config-reloader")));
    // Esc cancels without changing the selection.
    let before = app.task();
    key(&mut app, KeyCode::Char('/'));
    press(&mut app, "heart");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.task(), before);
}

#[test]
fn bracket_steps_events_back_and_forward() {
    let mut app = open("panic");
    let start = app.event();
    press(&mut app, "[[[");
    assert_eq!(app.event(), start - 3);
    press(&mut app, "]");
    assert_eq!(app.event(), start - 2);
}

#[test]
fn braces_step_through_the_selected_tasks_events() {
    let mut app = open("lost-waker");
    let t = task_named(&app, "heartbeat");
    key(&mut app, KeyCode::Char('/'));
    press(&mut app, "heartbeat");
    key(&mut app, KeyCode::Enter);
    let list: Vec<u32> = app.index().task_events(t).all(app.index()).collect();
    assert_eq!(app.event(), *list.last().unwrap());
    press(&mut app, "{{");
    assert_eq!(app.event(), list[list.len() - 3]);
    press(&mut app, "t");
    assert!(app.selection().task_filter());
    assert_eq!(app.timeline_len(), list.len());
}

#[test]
fn n_walks_the_anomalies_in_rank_order() {
    let mut app = open("starvation");
    assert_eq!(
        app.event(),
        app.index().anomalies[0].event,
        "opens on the worst"
    );
    for i in 1..5 {
        press(&mut app, "n");
        assert_eq!(app.selection().anomaly(), i);
        assert_eq!(app.event(), app.index().anomalies[i].event);
    }
    press(&mut app, "N");
    assert_eq!(app.selection().anomaly(), 3);
}

#[test]
fn zoom_pan_and_fit() {
    let mut app = open("starvation");
    let full = app.viewport().end() - app.viewport().start();
    press(&mut app, "ww");
    assert_eq!(app.viewport().end() - app.viewport().start(), full / 4);
    let s0 = app.viewport().start();
    press(&mut app, "d");
    assert!(app.viewport().start() > s0 || app.viewport().end() == app.index().end_ns);
    press(&mut app, "0");
    assert_eq!(
        (app.viewport().start(), app.viewport().end()),
        (app.index().start_ns, app.index().end_ns)
    );
}

#[test]
fn untrusted_task_names_are_escaped_on_screen() {
    let path = format!(
        "{}/../sample-dumps/long-poll.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut dump = Dump::read(&path).unwrap();
    let t = dump
        .tasks
        .iter()
        .position(|t| t.name == "http-request-3")
        .unwrap();
    dump.tasks[t].name = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J".into();
    let mut app = App::new(
        Index::build(dump, Thresholds::default()),
        Options::default(),
        "x".into(),
    );
    app::apply(&mut app, Action::FocusNext); // tasks table
    let s = screen(&mut app, 160, 48);
    assert!(!s.contains('\u{1b}') && !s.contains('\u{7}'));
    assert!(s.contains("evil\\u{1b}"), "{s}");
}

#[test]
fn quit_keys() {
    let mut app = open("healthy");
    press(&mut app, "q");
    assert!(app.quit());
    let mut app = open("healthy");
    if let Some(a) = app::from_key(
        &app,
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
    ) {
        app::apply(&mut app, a);
    }
    assert!(app.quit());
}

#[test]
fn snapshot_task_table_and_anomaly_list() {
    let mut app = open("starvation");
    key(&mut app, KeyCode::Tab); // tasks
    insta::assert_snapshot!("tasks_80x24", screen(&mut app, 80, 24));
    key(&mut app, KeyCode::Char('l')); // sort by the next column
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab); // anomalies
    insta::assert_snapshot!("anomalies_160x48", screen(&mut app, 160, 48));
}

/// Stepping back from a panic at 80x24: the last millisecond's events have distinct,
/// readable times (not all `-0.000 s`), and the detail view shows the whole panic.
#[test]
fn snapshot_panic_detail_and_step_back_at_80x24() {
    let mut app = open("panic");
    press(&mut app, "p[[[");
    let s = screen(&mut app, 80, 24);
    assert!(!s.contains("-0.000 s"), "{s}");
    assert!(s.contains(" µs "), "times near the dump in µs:\n{s}");
    insta::assert_snapshot!("panic_step_back_80x24", s);
    press(&mut app, "]]]i");
    assert!(app.detail());
    let s = screen(&mut app, 80, 24);
    let (_, fields) = dial9_tui::view::detail::fields(&app);
    assert!(
        fields.iter().any(|(_, v)| v.ends_with(
            "at recorder/examples/panic.rs:27:41: index out of bounds: the len is 3 but the index is 9"
        )),
        "{fields:?}"
    );
    // Wrapped, every part of it is on the 80-column screen.
    for part in [
        "index out of bounds",
        "the index is 9",
        "panic.rs:27:41",
        "advice",
    ] {
        assert!(s.contains(part), "{part}:\n{s}");
    }
    insta::assert_snapshot!("panic_detail_80x24", s);
    key(&mut app, KeyCode::Esc);
    assert!(!app.detail());
}

/// An anomaly's whole message and its advice, wrapped at 80 columns.
#[test]
fn snapshot_anomaly_detail_at_80x24() {
    let mut app = open("starvation");
    for _ in 0..3 {
        key(&mut app, KeyCode::Tab);
    }
    assert_eq!(app.focus(), Pane::Anomalies);
    key(&mut app, KeyCode::Char('i'));
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("advice"), "{s}");
    // Inside the overlay (the panes behind it show at its sides), nothing is cut short.
    let inside: String = s
        .lines()
        .map(|l| l.chars().skip(4).take(74).collect::<String>())
        .collect();
    assert!(!inside.contains('~'), "nothing cut short:\n{s}");
    insta::assert_snapshot!("anomaly_detail_80x24", s);
}

/// The swimlane legend lists the task under the cursor first, whatever its letter: the
/// cursor is put on the start of a long poll (`L`, again for the next) of a task whose
/// letter is not the first, which would lead the legend anyway.
#[test]
fn legend_follows_the_cursor() {
    let mut app = open("starvation");
    app::apply(&mut app, Action::Resize(80, 24));
    let ix = app.index();
    let first_letter = app.lettered_tasks()[0].0;
    let rank = ix
        .polls_by_duration()
        .iter()
        .position(|&p| {
            let t = ix.poll(p).unwrap().task;
            app.lane_letter(t).is_some_and(|l| l != first_letter)
        })
        .expect("a long poll of a task that does not have the first letter");
    let poll = ix.poll(ix.polls_by_duration()[rank]).unwrap();
    for _ in 0..=rank {
        key(&mut app, KeyCode::Char('L'));
    }
    assert_eq!(
        app.event(),
        poll.start_event,
        "the cursor is on the poll's start"
    );
    let t = poll.task;
    let letter = app.lane_letter(t).unwrap();
    let name = app.index().tasks[t as usize].label();
    let s = screen(&mut app, 80, 24);
    let legend = s
        .lines()
        .find(|l| l.starts_with("\"│▼ "))
        .unwrap_or_else(|| panic!("no legend:\n{s}"));
    // After the cursor's time (the label column), the first item: the task under the
    // cursor, drawn as its marked cells are; its letter says which cells were its own.
    let items: String = legend.chars().skip(2 + 11).collect();
    assert!(
        items.starts_with(&name[..name.len().min(8)]),
        "{name:?} first in the legend:\n{legend}\n{s}"
    );
    let want = format!("{letter} {}", &name[..name.len().min(8)]);
    assert!(
        items.contains(&want),
        "{want:?} in the legend:\n{legend}\n{s}"
    );
    // Wherever the cursor goes, the legend still fits the width and names tasks.
    press(&mut app, "LL");
    let s = screen(&mut app, 80, 24);
    let t = app
        .index()
        .poll(app.index().polls_by_duration()[1])
        .unwrap()
        .task;
    let letter = app.lane_letter(t).unwrap();
    let legend_line = s
        .lines()
        .rev()
        .find(|l| l.contains(&format!(" {letter} ")))
        .unwrap_or_else(|| panic!("{letter} in the legend:\n{s}"));
    assert!(legend_line.chars().count() <= 82);
}

/// The task table, the lifecycle and the selected event stay on one task: moving in the
/// table moves the timeline to that task's latest event, so `i` describes what is shown.
#[test]
fn the_selected_event_follows_the_task_table_into_the_lifecycle() {
    let mut app = open("starvation");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus(), Pane::Tasks);
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('j'));
        let t = app.task().unwrap();
        assert_eq!(app.index().task_of_event(app.event()), Some(t));
    }
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus(), Pane::Lifecycle);
    key(&mut app, KeyCode::Char('k'));
    let t = app.task().unwrap();
    assert_eq!(app.index().task_of_event(app.event()), Some(t));
    key(&mut app, KeyCode::Char('i'));
    let (title, fields) = dial9_tui::view::detail::fields(&app);
    assert_eq!(
        title,
        format!("Event {}/{}", app.event() + 1, app.index().event_count())
    );
    assert_eq!(fields[0].0, "dump", "the dump's reason comes first");
}

/// AltGr arrives as Ctrl+Alt on Windows: `[` typed that way still steps back.
#[test]
fn altgr_characters_are_characters() {
    let mut app = open("panic");
    let before = app.event();
    let altgr = KeyModifiers::CONTROL | KeyModifiers::ALT;
    let a = app::from_key(&app, KeyEvent::new(KeyCode::Char('['), altgr));
    assert_eq!(a, Some(Action::StepBack));
    app::apply(&mut app, a.unwrap());
    assert!(app.event() < before);
    // A real Ctrl chord is still one.
    let q = app::from_key(
        &app,
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
    );
    assert_eq!(q, Some(Action::Quit));
}

/// Columns of the swimlane row labelled `lane` drawn in the mark's style, at 120x36.
fn marked_columns(app: &mut App, lane: &str) -> Vec<u16> {
    let buf = drawn(app, 120, 36).backend().buffer().clone();
    let row = (0..36)
        .find(|&y| {
            let line: String = (0..120).map(|x| buf[(x, y)].symbol().to_string()).collect();
            line.contains(lane)
        })
        .expect("lane row");
    (12..119)
        .filter(|&x| {
            let c = &buf[(x, row)];
            c.bg == ratatui::style::Color::LightMagenta
                || c.fg == ratatui::style::Color::LightMagenta
                || (!app.options().color && c.modifier.contains(Modifier::REVERSED))
        })
        .collect()
}

/// The selected task stands out on the lanes where it ran, and nowhere else; choosing
/// another task moves the marks to where that one ran, with or without colour.
#[test]
fn the_selected_tasks_cells_are_marked_and_follow_the_selection() {
    for options in [
        Options::default(),
        Options {
            color: false,
            ascii: true,
        },
    ] {
        let mut app = open_with("starvation", options);
        // The explorer opens on the worst anomaly: an image resize's long poll.
        let first = app.task().unwrap();
        assert!(
            app.index().tasks[first as usize]
                .name
                .starts_with("image-resize-")
        );
        let w0 = marked_columns(&mut app, "worker 0");
        let w1 = marked_columns(&mut app, "worker 1");
        assert!(
            w0.len() + w1.len() > 20,
            "an image resize ran a good part of the workers: {w0:?} {w1:?}"
        );
        // Another task: latency-probe, found by search.
        press(&mut app, "/latency");
        key(&mut app, KeyCode::Enter);
        let probe = app.task().unwrap();
        assert_eq!(app.index().tasks[probe as usize].name, "latency-probe");
        let w0_after = marked_columns(&mut app, "worker 0");
        let w1_after = marked_columns(&mut app, "worker 1");
        assert_ne!((&w0, &w1), (&w0_after, &w1_after), "the marks moved");
        // The probe's polls are short and between the image resizes: few columns.
        assert!(
            w0_after.len() + w1_after.len() < w0.len() + w1.len(),
            "{w0_after:?} {w1_after:?}"
        );
        assert!(!w0_after.is_empty() || !w1_after.is_empty());
    }
}

/// `m` marks the selected event and the timeline says how far the cursor is from it; `T`
/// counts the time column from the dump, the row above, the mark, and back.
#[test]
fn a_mark_measures_time_and_t_cycles_the_time_column() {
    let mut app = open("mini-redis");
    press(&mut app, "g");
    assert!(app.selection().mark().is_none());
    press(&mut app, "m");
    assert_eq!(app.selection().mark(), Some(app.event()));
    let marked_ts = app.index().events.ts(app.event() as usize);
    press(&mut app, "jjjj");
    let d = app.index().events.ts(app.event() as usize) - marked_ts;
    let s = screen(&mut app, 120, 36);
    let want = dial9_tui::fmt::Clock::new(d, 0).show(i128::from(d), true);
    assert!(
        s.contains(&format!("{want} from the mark")),
        "{want} from the mark:\n{s}"
    );
    // Times to the dump: the first rows of mini-redis are microseconds apart, and the
    // column tells each pair of neighbours apart (no two rows read the same unless
    // their events share a nanosecond).
    let rows = |s: &str| -> Vec<String> {
        s.lines()
            .skip_while(|l| !l.contains("Timeline"))
            .skip(1)
            .take(8)
            .map(|l| {
                l.chars()
                    .skip(2)
                    .take_while(|&c| c != 'w' && c != 'o')
                    .collect()
            })
            .collect()
    };
    let times = rows(&s);
    for (i, pair) in times.windows(2).enumerate() {
        let (a, b) = (app.index().events.ts(i), app.index().events.ts(i + 1));
        assert!(a == b || pair[0] != pair[1], "{pair:?} at rows {i}:\n{s}");
    }
    assert!(
        times[0].trim().starts_with('-') && times[0].contains("ms"),
        "{times:?}"
    );
    press(&mut app, "T");
    let s = screen(&mut app, 120, 36);
    assert!(s.contains("gap to the row above"), "{s}");
    assert!(rows(&s)[1].trim().starts_with('+'), "{:?}", rows(&s));
    press(&mut app, "T");
    let s = screen(&mut app, 120, 36);
    assert!(s.contains("times from the mark"), "{s}");
    // The marked row reads zero, the rows after it positive.
    assert!(
        rows(&s)[0].trim() == "0 ns" || rows(&s)[0].trim().starts_with("0."),
        "{:?}",
        rows(&s)
    );
    press(&mut app, "T");
    assert_eq!(app.time_mode(), dial9_tui::app::TimeMode::Dump);
    // Unmarking leaves no mark to count from: T skips that mode.
    press(&mut app, "gm");
    assert!(app.selection().mark().is_none());
    press(&mut app, "TT");
    assert_eq!(app.time_mode(), dial9_tui::app::TimeMode::Dump);
}

/// One cause is one row: the image resizes' two dozen long polls are the first row and
/// the victim's delays the second, on the first screen. Enter opens a group to list its
/// occurrences (and shows the worst); Enter on one jumps to it; n steps into the groups.
#[test]
fn the_anomaly_list_is_one_row_a_cause_and_opens_to_its_occurrences() {
    let mut app = open("starvation");
    let groups = app.index().groups.len();
    assert_eq!(app.anomaly_rows().len(), groups);
    for _ in 0..4 {
        key(&mut app, KeyCode::Tab);
        if app.focus() == Pane::Anomalies {
            break;
        }
    }
    assert_eq!(app.focus(), Pane::Anomalies);
    let s = screen(&mut app, 160, 48);
    let list: Vec<&str> = s
        .lines()
        .skip_while(|l| !l.contains("Anomalies ·"))
        .skip(1)
        .take(2)
        .collect();
    assert!(
        list[0].contains("image-resize-*: 24 times in 4 tasks"),
        "{s}"
    );
    assert!(list[1].contains("latency-probe"), "the victim second:\n{s}");
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        app.focus(),
        Pane::Anomalies,
        "opening a group stays in the list"
    );
    assert_eq!(app.selection().anomaly_open(), Some(0));
    assert_eq!(app.anomaly_rows().len(), groups + 24);
    let worst = &app.index().anomalies[0];
    assert_eq!(app.event(), worst.event, "opening shows the worst");
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selection().anomaly(), 1, "the second occurrence");
    let second = app.index().anomalies[1].event;
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.event(), second);
    assert_eq!(app.focus(), Pane::Timeline, "an occurrence jumps");
    // n past the last occurrence of the first group lands on the victim's group, open.
    for _ in 0..23 {
        press(&mut app, "n");
    }
    let g = &app.index().groups[1];
    assert_eq!(app.selection().anomaly(), g.range().start);
    assert_eq!(app.selection().anomaly_open(), Some(1));
    assert!(
        app.index().anomalies[g.range().start]
            .task
            .is_some_and(|t| { app.index().tasks[t as usize].name == "latency-probe" })
    );
}
