//! Actions, and the one function that applies them to the state. Keys become actions in
//! [`super::keys`].

use dial9_format::Reason;

use super::anomaly_rows::{Row, group_of};
use super::search::Search;
use super::state::{App, Pane, TaskColumn};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    FocusNext,
    FocusPrev,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Enter,
    Back,
    OpenSearch,
    SearchInput(char),
    SearchBackspace,
    SearchUp,
    SearchDown,
    SearchAccept,
    SearchCancel,
    LongestPoll,
    PanicPoint,
    StepBack,
    StepForward,
    TaskPrev,
    TaskNext,
    NextAnomaly,
    PrevAnomaly,
    ToggleTaskFilter,
    ZoomIn,
    ZoomOut,
    PanLeft,
    PanRight,
    FitAll,
    ToggleHelp,
    /// Scrolls a help taller than the terminal by this many rows.
    HelpScroll(i32),
    ToggleDetail,
    SortNext,
    SortPrev,
    SortInvert,
    /// Marks the selected event (again: clears the mark).
    ToggleMark,
    /// The time columns count from the dump, the row above, the mark.
    CycleTime,
    Resize(u16, u16),
}

/// Applies one action. The only place the explorer's state changes.
pub fn apply(app: &mut App, action: Action) {
    if !matches!(action, Action::Resize(..)) {
        app.status = None;
    }
    if action != Action::LongestPoll {
        app.selection.longest_rank = 0;
    }
    match action {
        Action::Quit => app.quit = true,
        Action::Resize(w, h) => app.size = (w, h),
        Action::FocusNext => cycle_focus(app, 1),
        Action::FocusPrev => cycle_focus(app, Pane::ORDER.len() - 1),
        Action::Up => move_by(app, -1),
        Action::Down => move_by(app, 1),
        Action::PageUp => move_by(app, -(app.page() as i64)),
        Action::PageDown => move_by(app, app.page() as i64),
        Action::Top => move_by(app, i64::MIN / 2),
        Action::Bottom => move_by(app, i64::MAX / 2),
        Action::Enter => enter(app),
        Action::Back => back(app),
        Action::OpenSearch => app.search = Some(Search::default()),
        Action::SearchInput(c) => edit_search(app, |s, texts| s.type_char(c, texts)),
        Action::SearchBackspace => edit_search(app, |s, texts| s.backspace(texts)),
        Action::SearchUp => edit_search(app, |s, _| s.up()),
        Action::SearchDown => edit_search(app, |s, _| s.down()),
        Action::SearchCancel => app.search = None,
        Action::SearchAccept => accept_search(app),
        Action::LongestPoll => longest_poll(app),
        Action::PanicPoint => panic_point(app),
        Action::StepBack => step(app, false),
        Action::StepForward => step(app, true),
        Action::TaskPrev => step_task(app, false),
        Action::TaskNext => step_task(app, true),
        Action::NextAnomaly => next_anomaly(app, true),
        Action::PrevAnomaly => next_anomaly(app, false),
        Action::ToggleTaskFilter => toggle_task_filter(app),
        Action::ZoomIn => zoom(app, true),
        Action::ZoomOut => zoom(app, false),
        Action::PanLeft => pan(app, false),
        Action::PanRight => pan(app, true),
        Action::FitAll => app.viewport = super::viewport::Viewport::whole(&app.index),
        Action::ToggleHelp => {
            app.help = !app.help;
            app.help_scroll = 0;
        }
        Action::HelpScroll(by) => {
            let max = super::keys::help_scroll_max(app.size.1) as i64;
            app.help_scroll = (app.help_scroll as i64 + i64::from(by)).clamp(0, max) as usize;
        }
        Action::ToggleDetail => app.detail = !app.detail,
        Action::SortNext => cycle_sort(app, 1),
        Action::SortPrev => cycle_sort(app, TaskColumn::ALL.len() - 1),
        Action::SortInvert => {
            app.task_table.desc = !app.task_table.desc;
            app.task_table.resort(&app.index);
        }
        Action::ToggleMark => toggle_mark(app),
        Action::CycleTime => cycle_time(app),
    }
}

fn toggle_mark(app: &mut App) {
    let e = app.selection.event;
    if app.selection.mark == Some(e) {
        app.selection.mark = None;
        app.status = Some("mark cleared".into());
    } else {
        app.selection.mark = Some(e);
        let at = crate::fmt::relative(app.index.events.ts(e as usize), app.index.end_ns);
        app.status = Some(format!(
            "marked the event at {at}: the timeline's title gives the time from it; T counts times from it"
        ));
    }
}

fn cycle_time(app: &mut App) {
    use super::state::TimeMode;
    app.time_mode = match app.time_mode() {
        TimeMode::Dump => TimeMode::Gap,
        TimeMode::Gap if app.selection.mark.is_some() => TimeMode::Mark,
        TimeMode::Gap | TimeMode::Mark => TimeMode::Dump,
    };
    let mut status = app.time_mode.label().to_string();
    if app.time_mode == TimeMode::Dump && app.selection.mark.is_none() {
        status.push_str(" (m marks an event to count from)");
    }
    app.status = Some(status);
}

fn cycle_focus(app: &mut App, by: usize) {
    let n = Pane::ORDER.len();
    let i = Pane::ORDER
        .iter()
        .position(|&p| p == app.focus)
        .unwrap_or(0);
    app.focus = Pane::ORDER[(i + by) % n];
    // Entering the lifecycle: the event it highlights becomes the selected one.
    if app.focus == Pane::Lifecycle
        && let Some(t) = app.selection.task
        && app.index.task_of_event(app.selection.event) != Some(t)
        && let Some(e) = app
            .index
            .task_events(t)
            .get(&app.index, app.selection.lifecycle_row)
    {
        let row = app.selection.lifecycle_row;
        app.select_event(e);
        app.selection.lifecycle_row = row;
    }
}

fn cycle_sort(app: &mut App, by: usize) {
    let cols = TaskColumn::ALL;
    let i = cols
        .iter()
        .position(|&c| c == app.task_table.sort)
        .unwrap_or(0);
    let sort = cols[(i + by) % cols.len()];
    app.task_table.sort = sort;
    // Names and ids read best ascending, quantities worst first.
    app.task_table.desc = !matches!(
        sort,
        TaskColumn::Name | TaskColumn::Id | TaskColumn::Location
    );
    app.task_table.resort(&app.index);
}

/// Moves the focused pane's selection by `delta` rows, clamped to its list.
fn move_by(app: &mut App, delta: i64) {
    let clamp = |cur: usize, len: usize| -> usize {
        if len == 0 {
            return 0;
        }
        (cur as i64).saturating_add(delta).clamp(0, len as i64 - 1) as usize
    };
    match app.focus {
        Pane::Timeline => {
            let row = clamp(app.timeline_row(), app.timeline_len());
            if let Some(e) = app.timeline_event(row) {
                app.select_event(e);
            }
        }
        Pane::Swimlanes => {
            app.selection.lane_row = clamp(app.selection.lane_row, app.lanes_order().len());
        }
        Pane::Tasks => {
            let table = &mut app.task_table;
            table.row = clamp(table.row, table.rows.len());
            // The timeline follows the table: the task's latest event, as Enter selects,
            // so the lifecycle, the detail view and `{`/`}` all talk about one event.
            if let Some(&t) = table.rows.get(table.row) {
                app.select_task(t);
                if let Some(e) = app.index.task_events(t).last(&app.index) {
                    app.select_event(e);
                }
            }
        }
        Pane::Lifecycle => {
            if let Some(t) = app.selection.task {
                let events = app.index.task_events(t);
                let row = clamp(app.selection.lifecycle_row, events.len());
                if let Some(e) = events.get(&app.index, row) {
                    app.select_event(e);
                }
                app.selection.lifecycle_row = row;
            }
        }
        Pane::Anomalies => {
            let rows = app.anomaly_rows();
            match rows.at(clamp(app.anomaly_row(), rows.len())) {
                Some(Row::Group(g)) => {
                    app.selection.anomaly = app.index.groups[g].range().start;
                    app.selection.anomaly_member = false;
                }
                Some(Row::Member(a)) => {
                    app.selection.anomaly = a;
                    app.selection.anomaly_member = true;
                }
                None => {}
            }
        }
    }
}

fn enter(app: &mut App) {
    match app.focus {
        Pane::Timeline | Pane::Swimlanes => {
            if let Some(t) = app.index.task_of_event(app.selection.event) {
                app.select_task(t);
                app.focus = Pane::Lifecycle;
            }
        }
        Pane::Tasks => {
            if let Some(&t) = app.task_table.rows.get(app.task_table.row) {
                open_task(app, t);
            }
        }
        Pane::Lifecycle => app.focus = Pane::Timeline,
        Pane::Anomalies => {
            let g = group_of(&app.index.groups, app.selection.anomaly);
            let many = app.index.groups.get(g).is_some_and(|g| g.count() > 1);
            if many && !app.selection.anomaly_member {
                // A group's row opens (or closes) its occurrences; opening shows its worst.
                if app.selection.anomaly_open == Some(g) {
                    app.selection.anomaly_open = None;
                } else {
                    app.selection.anomaly_open = Some(g);
                    jump_to_anomaly(app);
                }
            } else {
                jump_to_anomaly(app);
                app.focus = Pane::Timeline;
            }
        }
    }
}

fn back(app: &mut App) {
    if app.selection.task_filter {
        app.selection.task_filter = false;
    } else {
        app.focus = Pane::Timeline;
    }
}

/// Shows task `t` in its lifecycle, with the timeline on its latest event.
fn open_task(app: &mut App, t: u32) {
    app.select_task(t);
    if let Some(e) = app.index.task_events(t).last(&app.index) {
        app.select_event(e);
    }
    app.focus = Pane::Lifecycle;
}

fn edit_search(app: &mut App, edit: impl FnOnce(&mut Search, &[String])) {
    if let Some(mut s) = app.search.take() {
        edit(&mut s, app.search_texts());
        app.search = Some(s);
    }
}

fn accept_search(app: &mut App) {
    let Some(s) = app.search.take() else {
        return;
    };
    match s.selected_hit() {
        Some(hit) => open_task(app, hit.task),
        None => app.status = Some(format!("no task matches '{}'", s.query())),
    }
}

fn longest_poll(app: &mut App) {
    let rank = app.selection.longest_rank;
    let Some(&p) = app.index.polls_by_duration().get(rank) else {
        app.status = Some("no more polls".into());
        app.selection.longest_rank = 0;
        return;
    };
    let Some(poll) = app.index.poll(p) else {
        return;
    };
    app.select_event(poll.start_event);
    app.select_task(poll.task);
    app.status = Some(format!(
        "longest poll #{}: {} ({}); L again for the next",
        rank + 1,
        crate::fmt::duration(poll.duration(app.index.end_ns)),
        app.index.tasks[poll.task as usize].label()
    ));
    app.selection.longest_rank = rank + 1;
}

/// `[` and `]`: one row back or forward in the timeline (all events, or the task's).
fn step(app: &mut App, forward: bool) {
    let row = app.timeline_row() as i64 + if forward { 1 } else { -1 };
    let target = usize::try_from(row)
        .ok()
        .and_then(|r| app.timeline_event(r));
    match target {
        Some(e) => app.select_event(e),
        None => {
            app.status = Some(
                if forward {
                    "at the last event"
                } else {
                    "at the first event"
                }
                .into(),
            )
        }
    }
}

fn next_anomaly(app: &mut App, forward: bool) {
    let n = app.index.anomalies.len();
    if n == 0 {
        app.status = Some("no anomalies in this dump".into());
        return;
    }
    let a = app.selection.anomaly;
    app.selection.anomaly = if forward {
        (a + 1) % n
    } else {
        (a + n - 1) % n
    };
    // The list shows where the step went: its group open, on its own row.
    let g = group_of(&app.index.groups, app.selection.anomaly);
    let many = app.index.groups.get(g).is_some_and(|g| g.count() > 1);
    app.selection.anomaly_open = many.then_some(g);
    app.selection.anomaly_member = many;
    jump_to_anomaly(app);
}

fn toggle_task_filter(app: &mut App) {
    let Some(t) = app.selection.task else {
        app.status = Some("select a task first (Enter on an event, or /)".into());
        return;
    };
    app.selection.task_filter = !app.selection.task_filter;
    if app.selection.task_filter
        && app.index.task_of_event(app.selection.event) != Some(t)
        && let Some(e) = app.index.task_event_near(t, app.selection.event)
    {
        app.select_event(e);
    }
}

fn zoom(app: &mut App, zoom_in: bool) {
    let cursor = app
        .index
        .events
        .get(app.selection.event as usize)
        .map_or(app.viewport.start(), |e| e.ts_ns);
    app.viewport.zoom(&app.index, cursor, zoom_in);
}

fn pan(app: &mut App, right: bool) {
    app.viewport.pan(&app.index, right);
    // The cursor follows the view when it falls out of it.
    if let Some(ev) = app.index.events.get(app.selection.event as usize)
        && !app.viewport.contains(ev.ts_ns)
    {
        let v = app.viewport;
        app.selection.event = app.index.event_at(v.start().saturating_add(v.span() / 2));
    }
}

fn jump_to_anomaly(app: &mut App) {
    let Some(a) = app.index.anomalies.get(app.selection.anomaly) else {
        return;
    };
    let (e, t, kind, sev) = (a.event, a.task, a.kind, a.severity);
    app.select_event(e);
    if let Some(t) = t {
        app.select_task(t);
    }
    app.status = Some(format!(
        "anomaly {}/{}: {} {}",
        app.selection.anomaly + 1,
        app.index.anomalies.len(),
        sev.as_str(),
        kind.as_str()
    ));
}

/// `p`: the poll in progress at the dump: the panicking task's if there was a panic,
/// else the longest-running one; with none, the last event.
fn panic_point(app: &mut App) {
    let ix = &app.index;
    let panic_task = match &ix.dump.header.reason {
        Reason::Panic { task, .. } => task.and_then(|id| ix.task_idx(id)),
        _ => None,
    };
    let open = ix.polls.open().filter_map(|p| ix.poll(p));
    let pick = match panic_task {
        // Its latest open poll (polls are in start order on each lane).
        Some(t) => open
            .filter(|p| p.task == t)
            .max_by_key(|p| (p.start_ns, p.start_event)),
        None => open.min_by_key(|p| p.start_ns),
    };
    match pick {
        Some(poll) => {
            app.select_event(poll.start_event);
            app.select_task(poll.task);
            app.status = Some(format!(
                "poll in progress at the dump: {} for {}; [ steps back through what led to it",
                app.index.tasks[poll.task as usize].label(),
                crate::fmt::duration(poll.duration(app.index.end_ns))
            ));
        }
        None => {
            let last = app.index.event_count().saturating_sub(1) as u32;
            app.select_event(last);
            app.status = Some("no poll was in progress at the dump: showing the last event".into());
        }
    }
}

/// `{` and `}`: the selected task's previous or next event.
fn step_task(app: &mut App, forward: bool) {
    let Some(t) = app.selection.task else {
        app.status = Some("select a task first (Enter on an event, or /)".into());
        return;
    };
    let e = app.selection.event;
    let next = if app.index.task_of_event(e) == Some(t) {
        app.index.task_neighbour(e, forward)
    } else {
        let list = app.index.task_events(t);
        if forward {
            list.from(&app.index, e).next()
        } else {
            list.before(&app.index, e).next()
        }
    };
    match next {
        Some(e) => app.select_event(e),
        None => {
            app.status = Some(format!(
                "no {} event of this task",
                if forward { "later" } else { "earlier" }
            ))
        }
    }
}
