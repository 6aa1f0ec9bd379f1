//! Pure render functions over the explorer state. Drawing takes `&App`, so it cannot
//! change anything.
//!
//! ```text
//! +--------------------------------------------------------------+
//! | header: reason, window, lanes, tasks, events, anomalies      |
//! +--------------------------------------------------------------+
//! | swimlanes: alerts row, one row per lane, axis with cursor    |
//! +------------------------------+-------------------------------+
//! | timeline | tasks | anomalies | task lifecycle (wide screens) |
//! +------------------------------+-------------------------------+
//! | hint bar / status                                            |
//! +--------------------------------------------------------------+
//! ```
//! Narrow screens show one pane below the swimlanes: the focused one.

mod describe;
pub mod detail;
mod lifecycle;
mod lists;
mod overlay;
mod swimlanes;
pub mod theme;
mod times;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::analysis::{Severity, SeverityCounts};
use crate::app::{App, Pane};
use crate::fmt::{duration, sanitize};
use theme::Theme;

/// Smallest terminal the layout fits.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From this width the lifecycle pane sits beside the list pane.
pub const WIDE: u16 = 120;

pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let theme = Theme::new(app.options());
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, &theme);
        return;
    }
    let lanes_shown = lanes_rows(app, area.height);
    let [header, lanes, body, hint] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(lanes_shown as u16 + 5),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, header, app, &theme);
    swimlanes::render(frame, lanes, app, &theme, lanes_shown);
    // The list area shows the focused pane; the swimlanes have their own area (and the
    // lifecycle its own on wide screens), so then it shows the timeline.
    let list_pane = match app.focus() {
        Pane::Tasks => ListPane::Tasks,
        Pane::Anomalies => ListPane::Anomalies,
        Pane::Lifecycle if area.width < WIDE => ListPane::Lifecycle,
        Pane::Lifecycle | Pane::Timeline | Pane::Swimlanes => ListPane::Timeline,
    };
    if area.width >= WIDE {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(56), Constraint::Percentage(44)])
                .areas(body);
        render_pane(frame, left, app, &theme, list_pane);
        lifecycle::render(frame, right, app, &theme);
    } else {
        render_pane(frame, body, app, &theme, list_pane);
    }
    render_hint(frame, hint, app, &theme);
    if app.detail() {
        detail::render(frame, area, app, &theme);
    }
    if app.help() {
        overlay::help(frame, area, app.help_scroll(), &theme);
    }
    if let Some(search) = &app.search() {
        overlay::search(frame, area, app, search, &theme);
    }
    if theme.ascii {
        asciify(frame.buffer_mut());
    }
}

/// `--ascii`: whatever Unicode is left (separators, `µs`, non-ASCII task names) becomes
/// ASCII, so a terminal without Unicode never sees a byte it cannot draw.
fn asciify(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        let sym = cell.symbol();
        if sym.is_ascii() {
            continue;
        }
        let rep = match sym {
            "·" => ".",
            "µ" => "u",
            "━" | "─" => "-",
            "┆" | "│" => "|",
            "▼" => "v",
            "▲" => "^",
            "…" => "~",
            _ => "?",
        };
        cell.set_symbol(rep);
    }
}

/// What the area below the swimlanes can show. A pane of its own type, so that a new
/// [`Pane`] must be mapped here explicitly (the matches are exhaustive).
#[derive(Clone, Copy)]
enum ListPane {
    Timeline,
    Tasks,
    Lifecycle,
    Anomalies,
}

fn render_pane(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, pane: ListPane) {
    match pane {
        ListPane::Tasks => lists::tasks(frame, area, app, theme),
        ListPane::Anomalies => lists::anomalies(frame, area, app, theme),
        ListPane::Lifecycle => lifecycle::render(frame, area, app, theme),
        ListPane::Timeline => lists::timeline(frame, area, app, theme),
    }
}

/// Lane rows that fit: all of them on a tall screen, fewer on a short one.
fn lanes_rows(app: &App, height: u16) -> usize {
    let budget = (height.saturating_sub(15) as usize).max(2);
    app.lanes_order().len().clamp(1, budget.min(16))
}

/// A bordered block whose border shows whether it has the focus.
pub(crate) fn pane_block<'a>(title: String, focused: bool, theme: &Theme) -> Block<'a> {
    let mark = if focused { "> " } else { "" };
    Block::bordered()
        .border_set(theme.border_set())
        .border_style(if focused {
            theme.focus_border()
        } else {
            theme.border()
        })
        .title(Span::styled(format!(" {mark}{title} "), theme.title()))
}

fn render_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let ix = app.index();
    let h = &ix.dump.header;
    let counts = SeverityCounts::of(&ix.anomalies);
    let reason = sanitize(&h.reason.to_string());
    let line1 = Line::from(vec![
        Span::styled(" dial9 ", theme.title().add_modifier(Modifier::REVERSED)),
        Span::raw(" "),
        Span::styled(reason, theme.title()),
    ]);
    let mut spans = vec![Span::raw(format!(
        " {} · window {} · {} lanes · {} tasks · {} events · {} overwritten · ",
        sanitize(app.source()),
        duration(ix.window_ns()),
        ix.lanes.len(),
        ix.tasks.len(),
        ix.event_count(),
        h.overwritten
    ))];
    for (sev, n) in [
        (Severity::Critical, counts.critical),
        (Severity::Warning, counts.warning),
        (Severity::Info, counts.info),
    ] {
        spans.push(Span::styled(
            format!("{} {n} {} ", theme.severity_glyph(sev), sev.as_str()),
            if n > 0 {
                theme.severity(sev)
            } else {
                theme.dim()
            },
        ));
    }
    if let Some(f) = &ix.foreign {
        spans.push(Span::styled(
            format!(
                " [{}: no lost-waker verdicts, no task names; `report` says what else]",
                f.format
            ),
            theme.severity(Severity::Warning),
        ));
    } else if !h.hooks_installed || !h.layer_installed {
        spans.push(Span::styled(
            if !h.hooks_installed {
                " [no runtime hooks]"
            } else {
                " [no tracing layer]"
            },
            theme.severity(Severity::Warning),
        ));
    }
    if let Some(d) = &ix.dump.damage {
        spans.push(Span::styled(
            format!(
                " [damaged dump: {} of {} events lost]",
                d.events_lost, d.events
            ),
            theme.severity(Severity::Warning),
        ));
    }
    // The verdict: what to look at first, in the colour of the worst finding.
    let worst = ix.groups.first().map(|g| g.severity);
    let verdict = Line::from(vec![
        Span::styled(" verdict ", theme.dim()),
        Span::styled(
            sanitize(&ix.verdict),
            worst.map_or(theme.dim(), |s| theme.severity(s)),
        ),
    ]);
    frame.render_widget(
        Paragraph::new(vec![line1, verdict, Line::from(spans)]),
        area,
    );
}

fn render_hint(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let status = app.status().map(|s| format!(" {} ", sanitize(s)));
    let room = (area.width as usize)
        .saturating_sub(status.as_ref().map_or(0, |s| s.chars().count() + 2))
        .saturating_sub(1);
    let keys = fit_hint(&crate::app::keys::hint_items(app.focus()), room);
    let line = match status {
        Some(s) => Line::from(vec![
            Span::styled(s, theme.title()),
            Span::styled(format!("| {keys}"), theme.dim()),
        ]),
        None => Line::from(Span::styled(format!(" {keys}"), theme.dim())),
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// As many hint items as fit in `room` columns, dropping from the middle so the last
/// two (help and quit) always show.
fn fit_hint(items: &[&str], room: usize) -> String {
    let (head, tail) = items.split_at(items.len().saturating_sub(2));
    let width = |n: usize| {
        head[..n]
            .iter()
            .chain(tail)
            .map(|s| s.chars().count() + 3)
            .sum::<usize>()
    };
    let n = (0..=head.len())
        .rev()
        .find(|&n| width(n) <= room)
        .unwrap_or(0);
    let kept: Vec<&str> = head[..n].iter().chain(tail).copied().collect();
    kept.join(" · ")
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let msg = format!(
        "Terminal too small: {}x{}. The explorer needs at least {MIN_WIDTH}x{MIN_HEIGHT}. \
         Enlarge the window, or use `dial9-tui report DUMP`. q quits.",
        area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(Span::styled(msg, theme.title())).wrap(Wrap { trim: true }),
        area,
    );
}

/// Like [`fit`], but a path-like label (an unnamed task's spawn location) keeps its end,
/// which identifies it (`~src/server.rs:276`), and loses its start instead.
pub(crate) fn fit_label(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width || !s.contains('/') || width < 2 {
        return fit(s, width);
    }
    let tail: String = s.chars().skip(n - (width - 1)).collect();
    format!("~{tail}")
}

/// Truncates to `width` columns (by chars), marking the cut with `~`.
pub(crate) fn fit(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        format!("{s:<width$}")
    } else if width == 0 {
        String::new()
    } else {
        let mut t: String = s.chars().take(width - 1).collect();
        t.push('~');
        t
    }
}
