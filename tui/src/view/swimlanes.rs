//! Swimlanes: one row per lane, time left to right. A busy cell shows how much of its
//! slice the lane spent polling (`░▒▓█`), or the polled task's letter when few tasks are
//! in view; a long poll is yellow and a critical one red, its first cell marked `▲` or
//! `✖`, at any zoom; `·` is parked, `-` awake but not polling. Cells where the selected
//! task ran are reversed. The alert row marks where anomalies start; the axis row
//! carries the cursor (the selected event's time), whose column is underlined.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::analysis::Index;
use crate::analysis::cells::{Busy, Cell, Columns};
use crate::analysis::index::TaskIdx;
use crate::analysis::polls::PollClass;
use crate::app::{App, Pane};
use crate::fmt::{duration, relative, sanitize};

use super::theme::Theme;
use super::{fit, fit_label, pane_block};

const LABEL: usize = 11;

/// Busy cells carry their task's letter while at most this many tasks are in view; past
/// it, letters repeat too often to tell tasks apart and density says more.
const LETTERS: usize = 8;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, rows: usize) {
    let ix = app.index();
    let v = app.viewport();
    let span = v.end().saturating_sub(v.start()).max(1);
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
    let cols = Columns {
        start: v.start(),
        end: v.end(),
        width,
    };
    let cursor_ts = ix.events.get(app.event() as usize).map(|e| e.ts_ns);
    let cursor_col = cursor_ts.and_then(|t| cols.column_of(t));
    let marked = marked_tasks(app);

    // Lane rows, scrolled so the selected lane is visible.
    let lane_row = app.selection().lane_row();
    let first = lane_row.saturating_sub(rows.saturating_sub(1));
    let shown: Vec<(usize, usize)> = app
        .lanes_order()
        .iter()
        .copied()
        .enumerate()
        .skip(first)
        .take(rows)
        .collect();
    let cells: Vec<Vec<Cell>> = shown
        .iter()
        .map(|&(_, li)| cols.lane_cells(ix, li, &marked))
        .collect();
    let in_view = tasks_in_view(&cells);
    let letters = in_view.len() <= LETTERS && in_view.iter().all(|&t| app.lane_letter(t).is_some());
    let look = Look {
        app,
        theme,
        letters,
        cursor_col,
    };

    let mut lines = Vec::with_capacity(rows + 3);
    lines.push(alert_row(&cols, ix, &look));
    for (&(row, li), cells) in shown.iter().zip(&cells) {
        let selected = app.focus() == Pane::Swimlanes && row == lane_row;
        let label_style = if selected {
            theme.selected()
        } else {
            theme.dim()
        };
        let mut spans = vec![Span::styled(
            fit(&sanitize(&ix.lanes[li].label()), LABEL),
            label_style,
        )];
        spans.extend(cells.iter().enumerate().map(|(c, cell)| look.cell(c, cell)));
        lines.push(Line::from(spans));
    }
    lines.push(axis_row(&cols, ix, &look, cursor_ts));
    let at_cursor: Vec<TaskIdx> = cursor_col
        .map(|c| {
            cells
                .iter()
                .filter_map(|l| match l.get(c) {
                    Some(Cell::Busy(b)) => Some(b.task),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let legend = Legend {
        marked: &marked,
        in_view: &in_view,
        at_cursor: &at_cursor,
        cursor_label: cursor_ts.map(|t| relative(t, ix.end_ns)),
    };
    lines.push(legend.line(&look, inner.width as usize));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The tasks to find wherever they ran: the one in the lifecycle pane (the selected
/// task), then the selected event's (an anomaly's, once one is chosen).
fn marked_tasks(app: &App) -> Vec<TaskIdx> {
    let mut marked: Vec<TaskIdx> = app.task().into_iter().collect();
    if let Some(t) = app.index().task_of_event(app.event())
        && !marked.contains(&t)
    {
        marked.push(t);
    }
    marked
}

/// The tasks the busy cells show, each once, in order of index.
fn tasks_in_view(cells: &[Vec<Cell>]) -> Vec<TaskIdx> {
    let mut tasks: Vec<TaskIdx> = cells
        .iter()
        .flatten()
        .filter_map(|c| match c {
            Cell::Busy(b) => Some(b.task),
            _ => None,
        })
        .collect();
    tasks.sort_unstable();
    tasks.dedup();
    tasks
}

/// How this frame draws cells.
struct Look<'a> {
    app: &'a App,
    theme: &'a Theme,
    /// Busy cells show their task's letter.
    letters: bool,
    cursor_col: Option<usize>,
}

impl Look<'_> {
    fn at_cursor(&self, c: usize, style: Style) -> Style {
        if self.cursor_col == Some(c) {
            style.patch(self.theme.cursor_column())
        } else {
            style
        }
    }

    fn cell(&self, c: usize, cell: &Cell) -> Span<'static> {
        let theme = self.theme;
        let (glyph, style) = match cell {
            Cell::Busy(b) => self.busy(b),
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
        Span::styled(glyph, self.at_cursor(c, style))
    }

    /// A busy cell: the long poll's glyph where one begins; else the task's letter (the
    /// marked task's, if it ran here) or the density of polling. Coloured by the poll's
    /// class, or by task when lettered; reversed where a marked task ran.
    fn busy(&self, b: &Busy) -> (String, Style) {
        let theme = self.theme;
        let shown = b.marked.unwrap_or(b.task);
        let letter = self.letters.then(|| self.app.lane_letter(shown)).flatten();
        let class = theme.poll_class(b.class);
        let (glyph, density) = match (class, letter) {
            (Some((g, _)), _) if b.class_starts => (g.to_string(), false),
            (_, Some(l)) => (l.to_string(), false),
            _ => (theme.busy(b.fill).0.to_string(), true),
        };
        let style = match (b.marked, class, letter) {
            // Shading drawn in the mark's colour keeps its density.
            (Some(_), _, _) if density => theme.marked_shade(),
            (Some(_), _, _) => theme.marked(),
            (None, Some((_, s)), _) => s,
            (None, None, Some(_)) => theme.task_cell(shown),
            (None, None, None) => theme.busy(b.fill).1,
        };
        (glyph, style)
    }
}

/// The worst anomaly starting in each column.
fn alert_row<'a>(cols: &Columns, ix: &Index, look: &Look) -> Line<'a> {
    let theme = look.theme;
    let mut spans = vec![Span::styled(fit("anomalies", LABEL), theme.dim())];
    for (c, a) in cols.alerts(ix).iter().enumerate() {
        let (g, st) = match a {
            Some(s) => (theme.severity_glyph(*s), theme.severity(*s)),
            None => (" ", Style::default()),
        };
        spans.push(Span::styled(g, look.at_cursor(c, st)));
    }
    Line::from(spans)
}

/// Start time, cursor, end time. A label the cursor would cut through is left out (the
/// legend row below gives the cursor's time).
fn axis_row<'a>(cols: &Columns, ix: &Index, look: &Look, cursor_ts: Option<u64>) -> Line<'a> {
    let theme = look.theme;
    let width = cols.width;
    let mut axis: Vec<char> = vec![' '; width];
    let left = relative(cols.start, ix.end_ns);
    let right = relative(cols.end, ix.end_ns);
    let llen = left.chars().count();
    let cursor_col = cursor_ts.and(look.cursor_col);
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
    let mark_col = look.app.mark_ts().and_then(|t| cols.column_of(t));
    let mut spans = vec![Span::styled(fit("time", LABEL), theme.dim())];
    for (c, ch) in axis.iter().enumerate() {
        if cursor_col == Some(c) {
            spans.push(Span::styled(theme.cursor(), theme.title()));
        } else if mark_col == Some(c) {
            spans.push(Span::styled(theme.mark(), theme.title()));
        } else {
            spans.push(Span::styled(ch.to_string(), theme.dim()));
        }
    }
    Line::from(spans)
}

/// The row under the axis: the cursor's time, then what the marks mean, most needed
/// first, as many as fit.
struct Legend<'a> {
    marked: &'a [TaskIdx],
    in_view: &'a [TaskIdx],
    at_cursor: &'a [TaskIdx],
    cursor_label: Option<String>,
}

impl Legend<'_> {
    fn line(&self, look: &Look, room: usize) -> Line<'static> {
        let (app, theme) = (look.app, look.theme);
        let ix = app.index();
        let mut spans = vec![Span::styled(
            fit(
                &format!(
                    "{} {}",
                    theme.cursor(),
                    self.cursor_label.clone().unwrap_or_default()
                ),
                LABEL,
            ),
            theme.title(),
        )];
        let mut used = LABEL;
        let mut push = |items: Vec<Span<'static>>| {
            let w: usize = items.iter().map(|s| s.content.chars().count()).sum();
            if used + w <= room {
                used += w;
                spans.extend(items);
            }
        };
        let name = |t: TaskIdx| {
            let n = sanitize(&ix.tasks[t as usize].label());
            fit_label(&n, n.chars().count().min(22))
        };
        // The marked tasks, drawn as their cells are.
        for &t in self.marked {
            push(vec![Span::styled(name(t), theme.marked()), Span::raw(" ")]);
        }
        if let Some(m) = super::times::since_mark(app) {
            push(vec![
                Span::styled(theme.mark(), theme.title()),
                Span::raw(format!(" {m} ")),
            ]);
        }
        let th = ix.thresholds;
        let ge = if theme.ascii { ">=" } else { "≥" };
        for (class, at_least) in [
            (PollClass::Critical, th.long_poll_crit),
            (PollClass::Long, th.long_poll_warn),
        ] {
            if let Some((g, s)) = theme.poll_class(class) {
                push(vec![
                    Span::styled(g, s),
                    Span::raw(format!(" poll {ge}{} ", duration(at_least))),
                ]);
            }
        }
        if look.letters {
            // The letters that matter here first: the marked tasks, those under the
            // cursor, then the rest in view, by letter.
            let mut by_letter: Vec<(char, TaskIdx)> = self
                .in_view
                .iter()
                .filter_map(|&t| Some((app.lane_letter(t)?, t)))
                .collect();
            by_letter.sort_by_key(|&(l, t)| {
                (!self.marked.contains(&t), !self.at_cursor.contains(&t), l)
            });
            for (l, t) in by_letter {
                push(vec![
                    Span::styled(l.to_string(), theme.task_cell(t)),
                    Span::raw(format!(" {} ", name(t))),
                ]);
            }
        } else {
            push(vec![
                Span::styled(theme.busy_scale(), theme.busy(4).1),
                Span::raw(" busy "),
            ]);
        }
        let (p, ps) = theme.parked();
        let (r, rs) = theme.running();
        push(vec![
            Span::styled(p, ps),
            Span::raw(" parked "),
            Span::styled(r, rs),
            Span::raw(" idle"),
        ]);
        Line::from(spans)
    }
}
