//! Overlays drawn over the main screen: the help screen and the task search.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::app::keys::BINDINGS;
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

pub fn help(frame: &mut Frame, area: Rect, theme: &Theme) {
    let rect = centered(area, 76, BINDINGS.len() as u16 + 5);
    frame.render_widget(Clear, rect);
    let block = pane_block("Keys · any key closes".into(), true, theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .map(|b| {
            let what = match b.panes {
                [] => b.help.to_string(),
                panes => {
                    let names: Vec<_> = panes.iter().map(|p| p.title().to_lowercase()).collect();
                    format!("{} (in {})", b.help, names.join(", "))
                }
            };
            Line::from(vec![
                Span::styled(format!(" {:<16}", b.label), theme.title()),
                Span::raw(fit(&what, inner.width.saturating_sub(18) as usize)),
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
