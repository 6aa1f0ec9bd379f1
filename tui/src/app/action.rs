//! Keys become actions; one function applies an action to the state.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use dial9_format::Reason;

use super::state::{App, Pane, Search, TaskColumn};

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
    SortNext,
    SortPrev,
    SortInvert,
    Resize(u16, u16),
}

/// What a key means in the current state (`None`: nothing).
pub fn from_key(app: &App, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return Some(Action::Quit);
    }
    if app.search.is_some() {
        return Some(match key.code {
            KeyCode::Esc => Action::SearchCancel,
            KeyCode::Enter => Action::SearchAccept,
            KeyCode::Backspace => Action::SearchBackspace,
            KeyCode::Up => Action::SearchUp,
            KeyCode::Down | KeyCode::Tab => Action::SearchDown,
            KeyCode::Char('p') if ctrl => Action::SearchUp,
            KeyCode::Char('n') if ctrl => Action::SearchDown,
            KeyCode::Char(c) if !ctrl => Action::SearchInput(c),
            _ => return None,
        });
    }
    if app.help {
        return Some(match key.code {
            KeyCode::Char('q') => Action::Quit,
            _ => Action::ToggleHelp,
        });
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Tab => Action::FocusNext,
        KeyCode::BackTab => Action::FocusPrev,
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        KeyCode::Enter => Action::Enter,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('/') => Action::OpenSearch,
        KeyCode::Char('L') => Action::LongestPoll,
        KeyCode::Char('p') => Action::PanicPoint,
        KeyCode::Char('[') => Action::StepBack,
        KeyCode::Char(']') => Action::StepForward,
        KeyCode::Char('{') => Action::TaskPrev,
        KeyCode::Char('}') => Action::TaskNext,
        KeyCode::Char('n') => Action::NextAnomaly,
        KeyCode::Char('N') => Action::PrevAnomaly,
        KeyCode::Char('t') => Action::ToggleTaskFilter,
        KeyCode::Char('w') | KeyCode::Char('+') | KeyCode::Char('=') => Action::ZoomIn,
        KeyCode::Char('s') | KeyCode::Char('-') => Action::ZoomOut,
        KeyCode::Char('a') | KeyCode::Left => Action::PanLeft,
        KeyCode::Char('d') | KeyCode::Right => Action::PanRight,
        KeyCode::Char('0') => Action::FitAll,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('h') | KeyCode::Char('<') if app.focus == Pane::Tasks => Action::SortPrev,
        KeyCode::Char('l') | KeyCode::Char('>') if app.focus == Pane::Tasks => Action::SortNext,
        KeyCode::Char('i') if app.focus == Pane::Tasks => Action::SortInvert,
        KeyCode::Char('h') => Action::PanLeft,
        KeyCode::Char('l') => Action::PanRight,
        _ => return None,
    })
}

/// Applies one action. The only place the explorer's state changes.
pub fn apply(app: &mut App, action: Action) {
    if !matches!(action, Action::Resize(..)) {
        app.status = None;
    }
    if action != Action::LongestPoll {
        app.longest_rank = 0;
    }
    match action {
        Action::Quit => app.quit = true,
        Action::Resize(w, h) => app.size = (w, h),
        Action::FocusNext | Action::FocusPrev => {
            let i = Pane::ORDER
                .iter()
                .position(|&p| p == app.focus)
                .unwrap_or(0);
            let n = Pane::ORDER.len();
            let j = if action == Action::FocusNext {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            app.focus = Pane::ORDER[j];
        }
        Action::Up => move_by(app, -1),
        Action::Down => move_by(app, 1),
        Action::PageUp => move_by(app, -(app.page() as i64)),
        Action::PageDown => move_by(app, app.page() as i64),
        Action::Top => move_by(app, i64::MIN / 2),
        Action::Bottom => move_by(app, i64::MAX / 2),
        Action::Enter => enter(app),
        Action::Back => {
            if app.task_filter {
                app.task_filter = false;
            } else if app.focus != Pane::Timeline {
                app.focus = Pane::Timeline;
            }
        }
        Action::OpenSearch => app.search = Some(Search::default()),
        Action::SearchInput(c) => {
            if let Some(mut s) = app.search.take() {
                s.query.push(c);
                s.hits = app.run_search(&s.query);
                s.selected = 0;
                app.search = Some(s);
            }
        }
        Action::SearchBackspace => {
            if let Some(mut s) = app.search.take() {
                s.query.pop();
                s.hits = app.run_search(&s.query);
                s.selected = 0;
                app.search = Some(s);
            }
        }
        Action::SearchUp => {
            if let Some(s) = &mut app.search {
                s.selected = s.selected.saturating_sub(1);
            }
        }
        Action::SearchDown => {
            if let Some(s) = &mut app.search
                && s.selected + 1 < s.hits.len()
            {
                s.selected += 1;
            }
        }
        Action::SearchCancel => app.search = None,
        Action::SearchAccept => {
            if let Some(s) = app.search.take() {
                match s.hits.get(s.selected) {
                    Some(hit) => {
                        let t = hit.task;
                        app.select_task(t);
                        // Put the timeline on the task's latest event.
                        if let Some(&e) = app.index.task_events[t as usize].last() {
                            app.select_event(e);
                        }
                        app.focus = Pane::Lifecycle;
                    }
                    None => app.status = Some(format!("no task matches '{}'", s.query)),
                }
            }
        }
        Action::LongestPoll => {
            let rank = app.longest_rank;
            match app.index.polls_by_duration.get(rank) {
                Some(&p) => {
                    let poll = app.index.polls[p as usize];
                    app.select_event(poll.start_event);
                    app.select_task(poll.task);
                    app.status = Some(format!(
                        "longest poll #{}: {} ({}); L again for the next",
                        rank + 1,
                        crate::fmt::duration(poll.duration(app.index.end_ns)),
                        app.index.tasks[poll.task as usize].label()
                    ));
                    app.longest_rank = rank + 1;
                }
                None => {
                    app.status = Some("no more polls".into());
                    app.longest_rank = 0;
                }
            }
        }
        Action::PanicPoint => panic_point(app),
        Action::StepBack | Action::StepForward => {
            let fwd = action == Action::StepForward;
            let row = app.timeline_row() as i64 + if fwd { 1 } else { -1 };
            if row < 0 || row as usize >= app.timeline_len() {
                app.status = Some(
                    if fwd {
                        "at the last event"
                    } else {
                        "at the first event"
                    }
                    .into(),
                );
            } else if let Some(e) = app.timeline_event(row as usize) {
                app.select_event(e);
            }
        }
        Action::TaskPrev | Action::TaskNext => step_task(app, action == Action::TaskNext),
        Action::NextAnomaly | Action::PrevAnomaly => {
            let n = app.index.anomalies.len();
            if n == 0 {
                app.status = Some("no anomalies in this dump".into());
                return;
            }
            // The first `n` shows the worst (which the explorer opened on) again only if
            // the user moved away; otherwise it moves to the next rank.
            app.anomaly = if action == Action::NextAnomaly {
                (app.anomaly + 1) % n
            } else {
                (app.anomaly + n - 1) % n
            };
            jump_to_anomaly(app);
        }
        Action::ToggleTaskFilter => {
            if app.task.is_none() {
                app.status = Some("select a task first (Enter on an event, or /)".into());
            } else {
                app.task_filter = !app.task_filter;
                if app.task_filter
                    && let Some(t) = app.task
                    && app.index.task_of_event(app.event) != Some(t)
                {
                    let list = &app.index.task_events[t as usize];
                    let i = list
                        .partition_point(|&x| x < app.event)
                        .min(list.len().saturating_sub(1));
                    if let Some(&e) = list.get(i) {
                        app.select_event(e);
                    }
                }
            }
        }
        Action::ZoomIn | Action::ZoomOut => {
            let cursor = app
                .index
                .dump
                .events
                .get(app.event as usize)
                .map_or(app.view_start, |e| e.ts_ns);
            let span = app.view_end - app.view_start;
            let new_span = if action == Action::ZoomIn {
                (span / 2).max(1_000)
            } else {
                (span.saturating_mul(2)).min(app.index.window_ns().max(1))
            };
            app.set_view(cursor.saturating_sub(new_span / 2), new_span);
        }
        Action::PanLeft | Action::PanRight => {
            let span = app.view_end - app.view_start;
            let step = (span / 4).max(1);
            let start = if action == Action::PanLeft {
                app.view_start.saturating_sub(step)
            } else {
                app.view_start.saturating_add(step)
            };
            app.set_view(start, span);
            // The cursor follows the view when it falls out of it.
            if let Some(ev) = app.index.dump.events.get(app.event as usize)
                && (ev.ts_ns < app.view_start || ev.ts_ns >= app.view_end)
            {
                let e = app.index.event_at(app.view_start.saturating_add(span / 2));
                app.event = e;
            }
        }
        Action::FitAll => {
            app.view_start = app.index.start_ns;
            app.view_end = app.index.end_ns.max(app.index.start_ns.saturating_add(1));
        }
        Action::ToggleHelp => app.help = !app.help,
        Action::SortNext | Action::SortPrev => {
            let cols = TaskColumn::ALL;
            let i = cols.iter().position(|&c| c == app.sort).unwrap_or(0);
            let j = if action == Action::SortNext {
                (i + 1) % cols.len()
            } else {
                (i + cols.len() - 1) % cols.len()
            };
            app.sort = cols[j];
            app.sort_desc = !matches!(app.sort, TaskColumn::Name | TaskColumn::Id);
            app.sort_tasks();
        }
        Action::SortInvert => {
            app.sort_desc = !app.sort_desc;
            app.sort_tasks();
        }
    }
}

fn move_by(app: &mut App, delta: i64) {
    let clamp = |cur: usize, len: usize| -> usize {
        if len == 0 {
            return 0;
        }
        (cur as i64 + delta).clamp(0, len as i64 - 1) as usize
    };
    match app.focus {
        Pane::Timeline => {
            let row = clamp(app.timeline_row(), app.timeline_len());
            if let Some(e) = app.timeline_event(row) {
                app.select_event(e);
            }
        }
        Pane::Swimlanes => {
            app.lane_row = clamp(app.lane_row, app.lanes_order.len());
        }
        Pane::Tasks => {
            app.task_row = clamp(app.task_row, app.task_rows.len());
            if let Some(&t) = app.task_rows.get(app.task_row) {
                app.task = Some(t);
                app.lifecycle_row = 0;
            }
        }
        Pane::Lifecycle => {
            if let Some(t) = app.task {
                let len = app.index.task_events[t as usize].len();
                app.lifecycle_row = clamp(app.lifecycle_row, len);
                if let Some(&e) = app.index.task_events[t as usize].get(app.lifecycle_row) {
                    let row = app.lifecycle_row;
                    app.select_event(e);
                    app.lifecycle_row = row;
                }
            }
        }
        Pane::Anomalies => {
            app.anomaly = clamp(app.anomaly, app.index.anomalies.len());
        }
    }
}

fn enter(app: &mut App) {
    match app.focus {
        Pane::Timeline | Pane::Swimlanes => {
            if let Some(t) = app.index.task_of_event(app.event) {
                app.select_task(t);
                app.focus = Pane::Lifecycle;
            }
        }
        Pane::Tasks => {
            if let Some(&t) = app.task_rows.get(app.task_row) {
                app.select_task(t);
                if let Some(&e) = app.index.task_events[t as usize].last() {
                    app.select_event(e);
                }
                app.focus = Pane::Lifecycle;
            }
        }
        Pane::Lifecycle => app.focus = Pane::Timeline,
        Pane::Anomalies => {
            jump_to_anomaly(app);
            app.focus = Pane::Timeline;
        }
    }
}

fn jump_to_anomaly(app: &mut App) {
    let Some(a) = app.index.anomalies.get(app.anomaly) else {
        return;
    };
    let (e, t, kind, sev) = (a.event, a.task, a.kind, a.severity);
    app.select_event(e);
    if let Some(t) = t {
        app.select_task(t);
    }
    app.status = Some(format!(
        "anomaly {}/{}: {} {}",
        app.anomaly + 1,
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
    let mut open = ix.polls.iter().filter(|p| p.end_ns.is_none());
    let pick = match panic_task {
        Some(t) => open.rfind(|p| p.task == t).copied(),
        None => open.min_by_key(|p| p.start_ns).copied(),
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

fn step_task(app: &mut App, forward: bool) {
    let Some(t) = app.task else {
        app.status = Some("select a task first (Enter on an event, or /)".into());
        return;
    };
    let next = if app.index.task_of_event(app.event) == Some(t) {
        app.index.task_neighbour(app.event, forward)
    } else {
        let list = &app.index.task_events[t as usize];
        let i = list.partition_point(|&x| x < app.event);
        if forward {
            list.get(i).copied()
        } else {
            i.checked_sub(1).map(|i| list[i])
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
