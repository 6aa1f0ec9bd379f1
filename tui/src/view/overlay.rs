//! Overlays drawn over the main screen: the help screen and the task search.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::app::{App, Search};
use crate::fmt::sanitize;

use super::theme::Theme;
use super::{fit, pane_block};

/// Every key, as the help overlay lists them (also the README's key table).
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous pane"),
    ("j k  Down Up", "move in the pane"),
    ("PgUp PgDn  g G", "page; first / last"),
    (
        "Enter",
        "open: event -> task, task -> lifecycle, anomaly -> its event",
    ),
    ("Esc", "back: clear task filter, close overlay"),
    ("/", "fuzzy task search (name, location, id)"),
    ("L", "longest poll (again: the next longest)"),
    ("p", "the panic / dump point: poll in progress"),
    ("[ ]", "one event back / forward in time"),
    ("{ }", "previous / next event of the selected task"),
    ("n N", "next / previous anomaly, worst first"),
    ("t", "timeline: only the selected task (toggle)"),
    ("w s  + -", "zoom the swimlanes in / out"),
    ("a d  Left Right", "pan the swimlanes"),
    ("0", "fit the whole dump"),
    ("h l  i", "task table: sort column, invert"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub fn help(frame: &mut Frame, area: Rect, theme: &Theme) {
    let rect = centered(area, 76, KEYS.len() as u16 + 5);
    frame.render_widget(Clear, rect);
    let block = pane_block("Keys · any key closes".into(), true, theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<16}"), theme.title()),
                Span::raw(fit(what, inner.width.saturating_sub(18) as usize)),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        fit(
            " Swimlanes: letter = task polling (see legend), . or · parked, - awake",
            inner.width as usize,
        ),
        theme.dim(),
    )));
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn search(frame: &mut Frame, area: Rect, app: &App, search: &Search, theme: &Theme) {
    let h = area.height.saturating_sub(4).min(20);
    let rect = centered(area, area.width.saturating_sub(8).min(90), h);
    frame.render_widget(Clear, rect);
    let title = format!(
        "Find task · {} matches · Enter select · Esc cancel",
        search.hits.len()
    );
    let block = pane_block(title, true, theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let w = inner.width as usize;
    let mut lines = vec![Line::from(vec![
        Span::styled("/ ", theme.title()),
        Span::raw(sanitize(&search.query)),
        Span::styled("_", theme.title()),
    ])];
    let rows = (inner.height as usize).saturating_sub(1);
    let first = search.selected.saturating_sub(rows.saturating_sub(1));
    for (i, hit) in search.hits.iter().enumerate().skip(first).take(rows) {
        let text = &app.search_text[hit.task as usize];
        let task = &app.index.tasks[hit.task as usize];
        let selected = i == search.selected;
        let mut spans = vec![Span::styled(
            if selected { "> " } else { "  " },
            theme.title(),
        )];
        for (ci, ch) in text.chars().enumerate().take(w.saturating_sub(14)) {
            let mut st = if hit.matched.contains(&ci) {
                theme.matched()
            } else {
                Default::default()
            };
            if selected {
                st = st.patch(theme.selected());
            }
            spans.push(Span::styled(ch.to_string(), st));
        }
        spans.push(Span::styled(
            format!("  {}", task.state.as_str()),
            theme.dim(),
        ));
        lines.push(Line::from(spans));
    }
    if search.hits.is_empty() && !search.query.is_empty() {
        lines.push(Line::from(Span::styled("  no task matches", theme.dim())));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
