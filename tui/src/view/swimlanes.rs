//! Swimlanes: one row per lane, time left to right. Each cell shows what the lane did in
//! that slice: a task's letter while polling it (letters follow the legend, busiest task
//! first), `·` parked, `-` awake but not polling. The alert row marks where anomalies
//! start; the axis row carries the cursor (the selected event's time).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::analysis::cells::{Cell, Columns};
use crate::app::{App, Pane};
use crate::fmt::{duration, relative, sanitize};

use super::theme::Theme;
use super::{fit, fit_label, pane_block};

const LABEL: usize = 11;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, rows: usize) {
    let ix = app.index();
    let span = app
        .viewport()
        .end()
        .saturating_sub(app.viewport().start())
        .max(1);
    let title = format!(
        "{} · {} shown{}",
        Pane::Swimlanes.title(),
        duration(span),
        if span < ix.window_ns() {
            " (0 fits all)"
        } else {
            ""
        }
    );
    let block = pane_block(title, app.focus() == Pane::Swimlanes, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = (inner.width as usize).saturating_sub(LABEL);
    if width == 0 {
        return;
    }
    let v = app.viewport();
    let cols = Columns {
        start: v.start(),
        end: v.end(),
        width,
    };
    let cursor_ts = ix.events.get(app.event() as usize).map(|e| e.ts_ns);
    let cursor_col = cursor_ts.and_then(|t| cols.column_of(t));

    let mut lines = Vec::with_capacity(rows + 3);
    // Alert row: the worst anomaly starting in each column.
    let mut spans = vec![Span::styled(fit("anomalies", LABEL), theme.dim())];
    for (c, a) in cols.alerts(ix).iter().enumerate() {
        let (g, st) = match a {
            Some(s) => (theme.severity_glyph(*s), theme.severity(*s)),
            None => (" ", Style::default()),
        };
        spans.push(Span::styled(
            g,
            cursor_style(cursor_col == Some(c), st, theme),
        ));
    }
    lines.push(Line::from(spans));

    // Lane rows, scrolled so the selected lane is visible.
    // Tasks the cells show, and those under the cursor, for the legend.
    let mut shown: Vec<u32> = Vec::new();
    let mut at_cursor: Vec<u32> = Vec::new();
    let lane_row = app.selection().lane_row();
    let first = lane_row.saturating_sub(rows.saturating_sub(1));
    for (row, &li) in app.lanes_order().iter().enumerate().skip(first).take(rows) {
        let lane = &ix.lanes[li];
        let selected = app.focus() == Pane::Swimlanes && row == lane_row;
        let label_style = if selected {
            theme.selected()
        } else {
            theme.dim()
        };
        let mut spans = vec![Span::styled(
            fit(&sanitize(&lane.label()), LABEL),
            label_style,
        )];
        for (c, cell) in cols.lane_cells(ix, li).into_iter().enumerate() {
            if let Cell::Polling(t) = cell {
                shown.push(t);
                if cursor_col == Some(c) {
                    at_cursor.push(t);
                }
            }
            let (glyph, style) = match cell {
                Cell::Polling(t) => (
                    app.lane_letter(t).unwrap_or('#').to_string(),
                    theme.task_cell(t),
                ),
                Cell::Parked => {
                    let (g, s) = theme.parked();
                    (g.to_string(), s)
                }
                Cell::Running => {
                    let (g, s) = theme.running();
                    (g.to_string(), s)
                }
                Cell::Empty => (" ".to_string(), Style::default()),
            };
            spans.push(Span::styled(
                glyph,
                cursor_style(cursor_col == Some(c), style, theme),
            ));
        }
        lines.push(Line::from(spans));
    }
    // Axis: start time, cursor, end time. A label the cursor would cut through is left
    // out (the legend row below gives the cursor's time).
    let mut axis: Vec<char> = vec![' '; width];
    let left = relative(v.start(), ix.end_ns);
    let right = relative(v.end(), ix.end_ns);
    let llen = left.chars().count();
    if cursor_col.is_none_or(|c| c > llen) {
        for (i, ch) in left.chars().enumerate().take(width) {
            axis[i] = ch;
        }
    }
    let rlen = right.chars().count();
    if width > llen + rlen + 2 && cursor_col.is_none_or(|c| c + rlen + 1 < width) {
        for (i, ch) in right.chars().enumerate() {
            axis[width - rlen + i] = ch;
        }
    }
    let mut spans = vec![Span::styled(fit("time", LABEL), theme.dim())];
    let cursor_label = cursor_ts.map(|t| relative(t, ix.end_ns));
    for (c, ch) in axis.iter().enumerate() {
        if cursor_col == Some(c) {
            spans.push(Span::styled(theme.cursor(), theme.title()));
        } else {
            spans.push(Span::styled(ch.to_string(), theme.dim()));
        }
    }
    lines.push(Line::from(spans));
    // Legend: the cursor's time, then the letters that matter here first: the selected
    // event's task (the cell under the cursor may show the poll that ended as it began),
    // the other tasks under the cursor, the others on screen, then the rest (busiest
    // first, by letter).
    let mut legend = vec![Span::styled(
        fit(
            &format!("{} {}", theme.cursor(), cursor_label.unwrap_or_default()),
            LABEL,
        ),
        theme.title(),
    )];
    let mut used = LABEL;
    let mut by_letter = app.lettered_tasks();
    let selected = ix.task_of_event(app.event());
    by_letter.sort_by_key(|&(l, t)| {
        (
            selected != Some(t),
            !at_cursor.contains(&t),
            !shown.contains(&t),
            l,
        )
    });
    for (l, t) in by_letter {
        let name = sanitize(&ix.tasks[t as usize].label());
        let item = format!("{l} {} ", fit_label(&name, name.chars().count().min(22)));
        if used + item.chars().count() > inner.width as usize {
            continue;
        }
        used += item.chars().count();
        legend.push(Span::styled(format!("{l}"), theme.task_cell(t)));
        legend.push(Span::raw(item[1..].to_string()));
    }
    lines.push(Line::from(legend));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn cursor_style(on_cursor: bool, base: Style, theme: &Theme) -> Style {
    if on_cursor {
        base.patch(theme.selected())
    } else {
        base
    }
}
