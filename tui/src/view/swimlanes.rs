//! Swimlanes: one row per lane, time left to right. Each cell shows what the lane did in
//! that slice: a task's letter while polling it (letters follow the legend, busiest task
//! first), `·` parked, `-` awake but not polling. The alert row marks where anomalies
//! start; the axis row carries the cursor (the selected event's time).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::analysis::index::SegmentKind;
use crate::app::{App, Pane};
use crate::fmt::{duration, relative, sanitize};

use super::theme::Theme;
use super::{fit, pane_block};

const LABEL: usize = 11;
/// Segments looked at per cell, at most.
const SAMPLE: usize = 64;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, rows: usize) {
    let ix = &app.index;
    let span = app.view_end.saturating_sub(app.view_start).max(1);
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
    let block = pane_block(title, app.focus == Pane::Swimlanes, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = (inner.width as usize).saturating_sub(LABEL);
    if width == 0 {
        return;
    }
    let col_start = |c: usize| {
        app.view_start
            .saturating_add((span as u128 * c as u128 / width as u128) as u64)
    };
    let cursor_ts = ix.dump.events.get(app.event as usize).map(|e| e.ts_ns);
    let cursor_col = cursor_ts
        .filter(|&t| t >= app.view_start && t < app.view_end)
        .map(|t| ((t - app.view_start) as u128 * width as u128 / span as u128) as usize);

    let mut lines = Vec::with_capacity(rows + 3);
    // Alert row: the worst anomaly starting in each column.
    let mut alerts: Vec<Option<crate::analysis::Severity>> = vec![None; width];
    for a in &ix.anomalies {
        if a.start_ns >= app.view_start && a.start_ns < app.view_end {
            let c = ((a.start_ns - app.view_start) as u128 * width as u128 / span as u128) as usize;
            let c = c.min(width - 1);
            alerts[c] = alerts[c].max(Some(a.severity));
        }
    }
    let mut spans = vec![Span::styled(fit("anomalies", LABEL), theme.dim())];
    for (c, a) in alerts.iter().enumerate() {
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
    let first = app.lane_row.saturating_sub(rows.saturating_sub(1));
    for (row, &li) in app.lanes_order.iter().enumerate().skip(first).take(rows) {
        let lane = &ix.lanes[li];
        let selected = app.focus == Pane::Swimlanes && row == app.lane_row;
        let label_style = if selected {
            theme.selected()
        } else {
            theme.dim()
        };
        let mut spans = vec![Span::styled(
            fit(&sanitize(&lane.label()), LABEL),
            label_style,
        )];
        for c in 0..width {
            let (t0, t1) = (
                col_start(c),
                col_start(c + 1).max(col_start(c).saturating_add(1)),
            );
            let mut best: Option<(u64, SegmentKind)> = None;
            let mut parked = 0;
            // A cell of a zoomed-out 10M-event dump covers ~100k segments: judge it from an
            // even sample so a frame costs the same at any size.
            let segs = lane.segments_in(t0, t1);
            let stride = (segs.len() / SAMPLE).max(1);
            let scale = stride as u64;
            for s in segs.iter().step_by(stride) {
                let ov = s
                    .end_ns
                    .min(t1)
                    .saturating_sub(s.start_ns.max(t0))
                    .max(1)
                    .saturating_mul(scale);
                match s.kind {
                    SegmentKind::Polling(_) => {
                        if best.is_none_or(|(b, _)| ov > b) {
                            best = Some((ov, s.kind));
                        }
                    }
                    SegmentKind::Parked => parked = ov.saturating_add(parked),
                }
            }
            let (glyph, style) = match best {
                Some((_, SegmentKind::Polling(t))) => {
                    let letter = app.lane_letter[t as usize].unwrap_or('#');
                    (letter.to_string(), theme.task_cell(t))
                }
                _ if parked.saturating_mul(2) >= t1 - t0 => {
                    let (g, s) = theme.parked();
                    (g.to_string(), s)
                }
                _ if lane.events > 0 && t1 > lane.first_ns && t0 <= lane.last_ns => {
                    let (g, s) = theme.running();
                    (g.to_string(), s)
                }
                _ => (" ".to_string(), Style::default()),
            };
            spans.push(Span::styled(
                glyph,
                cursor_style(cursor_col == Some(c), style, theme),
            ));
        }
        lines.push(Line::from(spans));
    }
    // Axis: start time, cursor, end time.
    let mut axis: Vec<char> = vec![' '; width];
    let left = relative(app.view_start, ix.end_ns);
    let right = relative(app.view_end, ix.end_ns);
    for (i, ch) in left.chars().enumerate().take(width) {
        axis[i] = ch;
    }
    let rlen = right.chars().count();
    if width > left.len() + rlen + 2 {
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
    // Legend: letters of the busiest tasks, and the cursor's time.
    let mut legend = vec![Span::styled(
        fit(
            &format!("{} {}", theme.cursor(), cursor_label.unwrap_or_default()),
            LABEL,
        ),
        theme.title(),
    )];
    let mut used = LABEL;
    let mut by_letter: Vec<(char, u32)> = app
        .lane_letter
        .iter()
        .enumerate()
        .filter_map(|(t, l)| l.map(|l| (l, t as u32)))
        .collect();
    by_letter.sort();
    for (l, t) in by_letter {
        let name = sanitize(&ix.tasks[t as usize].label());
        let item = format!("{l} {} ", fit(&name, name.chars().count().min(16)));
        if used + item.chars().count() > inner.width as usize {
            break;
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
