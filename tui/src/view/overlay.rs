//! Overlays drawn over the main screen: the help screen and the task search.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::app::keys::{HelpRow, help_rows, help_visible_rows};
use crate::app::{App, Search};
use crate::fmt::sanitize;

use super::theme::Theme;
use super::{fit, pane_block};

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

/// The help: every key, both tables. Taller than the terminal, it shows the rows from
/// `scroll` on, and its title says which and how to see the rest.
pub fn help(frame: &mut Frame, area: Rect, scroll: usize, theme: &Theme) {
    let rows = help_rows();
    let rect = centered(
        area,
        76,
        rows.len().saturating_add(2).min(u16::MAX as usize) as u16,
    );
    frame.render_widget(Clear, rect);
    let shown = help_visible_rows(area.height).min(rect.height.saturating_sub(2) as usize);
    let first = scroll.min(rows.len() - shown);
    let title = if shown < rows.len() {
        format!(
            "Keys {}-{} of {} · j/k PgUp PgDn scroll · any other key closes",
            first + 1,
            first + shown,
            rows.len()
        )
    } else {
        "Keys · any key closes".to_string()
    };
    let block = pane_block(title, true, theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let width = inner.width as usize;
    let lines: Vec<Line> = rows
        .iter()
        .skip(first)
        .take(shown)
        .map(|row| match row {
            HelpRow::Key { label, does } => {
                // A label longer than its column pushes its text right, still in the box.
                let label = if label.chars().count() < 16 {
                    format!(" {label:<16}")
                } else {
                    format!(" {label} ")
                };
                let rest = width.saturating_sub(label.chars().count() + 1);
                Line::from(vec![
                    Span::styled(label, theme.title()),
                    Span::raw(fit(does, rest)),
                ])
            }
            HelpRow::Heading(text) => {
                Line::from(Span::styled(fit(&format!(" {text}"), width), theme.title()))
            }
            HelpRow::Note(text) => {
                Line::from(Span::styled(fit(&format!(" {text}"), width), theme.dim()))
            }
            HelpRow::Blank => Line::from(""),
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn search(frame: &mut Frame, area: Rect, app: &App, search: &Search, theme: &Theme) {
    let h = area.height.saturating_sub(4).min(20);
    let rect = centered(area, area.width.saturating_sub(8).min(90), h);
    frame.render_widget(Clear, rect);
    let title = format!(
        "Find task · {} matches · Enter select · Esc cancel",
        search.hits().len()
    );
    let block = pane_block(title, true, theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let w = inner.width as usize;
    let mut lines = vec![Line::from(vec![
        Span::styled("/ ", theme.title()),
        Span::raw(sanitize(search.query())),
        Span::styled("_", theme.title()),
    ])];
    let rows = (inner.height as usize).saturating_sub(1);
    let first = search.selected().saturating_sub(rows.saturating_sub(1));
    for (i, hit) in search.hits().iter().enumerate().skip(first).take(rows) {
        let text = app.search_text(hit.task);
        let task = &app.index().tasks[hit.task as usize];
        let selected = i == search.selected();
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
    if search.hits().is_empty() && !search.query().is_empty() {
        lines.push(Line::from(Span::styled("  no task matches", theme.dim())));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
