//! The list panes: timeline (event list), task table, anomaly list. Each renders only
//! the rows that fit, so a 10M-event dump draws as fast as a small one.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::analysis::index::{EventIdx, TaskIdx};
use crate::app::anomaly_rows::Row;
use crate::app::{App, Pane, TaskColumn, TimeMode};
use crate::fmt::{RELATIVE_WIDTH, duration, relative, sanitize};

use super::describe::{detail, lane_tag};
use super::theme::Theme;
use super::times;
use super::{fit, fit_label, pane_block};

/// First row to show so that `selected` stays visible, centred when possible.
fn scroll(selected: usize, len: usize, height: usize) -> usize {
    if len <= height {
        return 0;
    }
    selected.saturating_sub(height / 2).min(len - height)
}

pub fn timeline(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let ix = app.index();
    let len = app.timeline_len();
    let row = app.timeline_row();
    let mut title = match (app.selection().task_filter(), app.task()) {
        (true, Some(t)) => format!(
            "Timeline · only {} (t: all) · {}/{}",
            sanitize(&ix.tasks[t as usize].label()),
            row + 1,
            len
        ),
        _ => format!("Timeline · event {}/{}", row + 1, len),
    };
    if app.time_mode() != TimeMode::Dump {
        title.push_str(&format!(" · {}", app.time_mode().label()));
    }
    if let Some(m) = times::since_mark(app) {
        title.push_str(&format!(" · {m}"));
    }
    let block = pane_block(title, app.focus() == Pane::Timeline, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let h = inner.height as usize;
    let w = inner.width as usize;
    let first = scroll(row, len, h);
    let rows: Vec<EventIdx> = (first..(first + h).min(len))
        .map_while(|r| app.timeline_event(r))
        .collect();
    let ts: Vec<u64> = rows.iter().map(|&e| ix.events.ts(e as usize)).collect();
    let before = first
        .checked_sub(1)
        .and_then(|r| app.timeline_event(r))
        .map(|e| ix.events.ts(e as usize));
    let times = times::align(times::column(app, &ts, before, true));
    let mut lines = Vec::with_capacity(h);
    for (&e, time) in rows.iter().zip(times) {
        let ev = &ix.events.at(e as usize);
        let sev = app.anomaly_at(e);
        let mark = sev.map_or(" ", |s| theme.severity_glyph(s));
        let task = ix
            .task_of_event(e)
            .map(|t| sanitize(&ix.tasks[t as usize].label()))
            .unwrap_or_default();
        let text = format!(
            "{time} {:<3} {} {} {}",
            lane_tag(ix, ev.lane),
            fit_label(&task, 18),
            fit(ev.kind.name(), 12),
            detail(ix, e),
        );
        let base = sev.map_or(Style::default(), |s| theme.severity(s));
        let style = if e == app.event() {
            base.patch(theme.selected())
        } else {
            base
        };
        lines.push(Line::from(vec![
            Span::styled(mark, sev.map_or(Style::default(), |s| theme.severity(s))),
            Span::styled(fit(&text, w.saturating_sub(1)), style),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn cell(app: &App, t: TaskIdx, col: TaskColumn) -> String {
    let task = &app.index().tasks[t as usize];
    match col {
        TaskColumn::Name => sanitize(&task.label()),
        TaskColumn::Id => task.id.to_string(),
        TaskColumn::State => task.state.as_str().to_string(),
        TaskColumn::Polls => task.polls.to_string(),
        TaskColumn::Busy => duration(task.busy_ns),
        TaskColumn::LongestPoll => duration(task.longest_poll_ns),
        TaskColumn::LongestSched => duration(task.longest_sched_ns),
        TaskColumn::Wakers => crate::fmt::wakers(task.live_wakers),
        TaskColumn::Location => task
            .short_location()
            .map_or_else(|| "unknown".into(), |l| sanitize(&l)),
        TaskColumn::Anomalies => {
            if task.anomalies > 0 {
                format!("!{}", task.anomalies)
            } else {
                "0".into()
            }
        }
    }
}

pub fn tasks(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let ix = app.index();
    let arrow = match (app.task_table().descending(), theme.ascii) {
        (true, false) => "▼",
        (false, false) => "▲",
        (true, true) => "v",
        (false, true) => "^",
    };
    let title = format!(
        "Tasks · {} · sorted by {} {arrow} (h/l column, r reverse)",
        ix.tasks.len(),
        app.task_table().sort().title()
    );
    let block = pane_block(title, app.focus() == Pane::Tasks, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    // Name, then: id, state, polls, busy, longest poll, longest wait, wakers, anomalies,
    // spawn location. Numbers fit their columns ("1.350 s", "scheduled"); the name and
    // the location share what is left (the location only where there is room for it).
    let mut widths = [0usize, 6, 9, 6, 8, 8, 8, 6, 4, 0];
    let fixed: usize = widths[1..9].iter().map(|x| x + 1).sum();
    let flex = w.saturating_sub(fixed + 1);
    let name_w = if flex >= 20 {
        (flex / 2).clamp(8, 48)
    } else {
        flex.clamp(8, 48)
    };
    widths[0] = name_w;
    widths[9] = flex.saturating_sub(name_w + 1);
    // Text columns read left-aligned, numbers right-aligned; a column without room hides.
    let left = |col: TaskColumn| matches!(col, TaskColumn::Name | TaskColumn::Location);
    let mut header = Vec::new();
    for (i, col) in TaskColumn::ALL.iter().enumerate() {
        let cw = widths[i];
        if cw == 0 {
            continue;
        }
        let title = if *col == app.task_table().sort() {
            format!("{}{arrow}", col.title())
        } else {
            col.title().to_string()
        };
        let text = if left(*col) {
            fit(&title, cw)
        } else {
            format!("{:>cw$}", fit(&title, cw).trim_end())
        };
        header.push(Span::styled(format!("{text} "), theme.title()));
    }
    let mut lines = vec![Line::from(header)];
    let h = (inner.height as usize).saturating_sub(1);
    let first = scroll(app.task_table().row(), app.task_table().rows().len(), h);
    for (r, &t) in app
        .task_table()
        .rows()
        .iter()
        .enumerate()
        .skip(first)
        .take(h)
    {
        let mut text = String::new();
        for (i, col) in TaskColumn::ALL.iter().enumerate() {
            let cw = widths[i];
            if cw == 0 {
                continue;
            }
            let c = cell(app, t, *col);
            if left(*col) {
                text.push_str(&fit_label(&c, cw));
            } else {
                text.push_str(&format!("{:>cw$}", fit(&c, cw).trim_end()));
            }
            text.push(' ');
        }
        let task = &ix.tasks[t as usize];
        let base = if task.anomalies > 0 {
            theme.severity(crate::analysis::Severity::Warning)
        } else {
            Style::default()
        };
        let style = if r == app.task_table().row() {
            base.patch(theme.selected())
        } else {
            base
        };
        lines.push(Line::from(Span::styled(fit(&text, w), style)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn anomalies(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let ix = app.index();
    let title = format!(
        "Anomalies · {} in {} groups, worst first · Enter opens a group, jumps",
        ix.anomalies.len(),
        ix.groups.len()
    );
    let block = pane_block(title, app.focus() == Pane::Anomalies, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    if ix.anomalies.is_empty() {
        frame.render_widget(
            Paragraph::new("No anomalies at the current thresholds. This dump looks healthy."),
            inner,
        );
        return;
    }
    let h = inner.height as usize;
    let rows = app.anomaly_rows();
    let selected = app.anomaly_row();
    let first = scroll(selected, rows.len(), h);
    let (closed, open) = if theme.ascii {
        ("+ ", "- ")
    } else {
        ("▸ ", "▾ ")
    };
    let mut lines = Vec::new();
    for r in first..(first + h).min(rows.len()) {
        let (text, sev) = match rows.at(r) {
            Some(Row::Group(g)) => {
                let group = &ix.groups[g];
                let worst = &ix.anomalies[group.range().start];
                let marker = match (group.count() > 1, rows.open == Some(g)) {
                    (false, _) => "  ",
                    (true, false) => closed,
                    (true, true) => open,
                };
                (
                    format!(
                        "{} {:<8} {:<16} {:>tw$} {marker}{}",
                        theme.severity_glyph(group.severity),
                        group.severity.as_str(),
                        group.kind.as_str(),
                        relative(worst.start_ns, ix.end_ns),
                        group.summary(ix),
                        tw = RELATIVE_WIDTH
                    ),
                    group.severity,
                )
            }
            Some(Row::Member(a)) => {
                let a = &ix.anomalies[a];
                (
                    format!(
                        "    {} {:>tw$} {}",
                        theme.severity_glyph(a.severity),
                        relative(a.start_ns, ix.end_ns),
                        sanitize(&a.message(ix)),
                        tw = RELATIVE_WIDTH
                    ),
                    a.severity,
                )
            }
            None => break,
        };
        let base = theme.severity(sev);
        let style = if r == selected {
            base.patch(theme.selected())
        } else {
            base
        };
        lines.push(Line::from(Span::styled(fit(&text, w), style)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
