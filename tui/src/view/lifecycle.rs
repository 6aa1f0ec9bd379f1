//! The selected task's life in order: spawn, polls, wakes (who woke it and how long it
//! then waited), waker clones and drops, termination. The gap column shows the time since
//! the task's previous event, with a bar to scale against the task's largest gap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::analysis::index::{EventIdx, Index, TaskIdx};
use crate::app::{App, Pane};
use crate::fmt::{duration, sanitize};

use super::describe::{detail, lane_tag};
use super::theme::Theme;
use super::times;
use super::{fit, pane_block};

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let ix = app.index();
    let focused = app.focus() == Pane::Lifecycle;
    let Some(t) = app.task() else {
        let block = pane_block("Task lifecycle".into(), focused, theme);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new("No task selected: Enter on an event or a task, or / to search."),
            inner,
        );
        return;
    };
    let task = &ix.tasks[t as usize];
    let block = pane_block(
        format!("Task lifecycle · {} #{}", sanitize(&task.label()), task.id),
        focused,
        theme,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let mut lines = summary(ix, t, theme, w);
    let h = (inner.height as usize).saturating_sub(lines.len());
    lines.extend(event_rows(app, t, theme, focused, w, h));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The lines above the task's events: what it is, where it was spawned, its totals, and
/// its first two anomalies.
fn summary(ix: &Index, t: TaskIdx, theme: &Theme, w: usize) -> Vec<Line<'static>> {
    let task = &ix.tasks[t as usize];
    let mut lines = Vec::new();
    let loc = task
        .location
        .as_ref()
        .map(|l| sanitize(&l.to_string()))
        .unwrap_or_else(|| "unknown location".into());
    let by = task
        .spawned_by
        .map(|p| format!(" by {}", sanitize(&ix.task_label(p))))
        .unwrap_or_default();
    lines.push(Line::from(Span::styled(
        fit(
            &format!(
                "{} · {} · spawned at {loc}{by}",
                task.kind.as_str(),
                task.state.as_str()
            ),
            w,
        ),
        theme.title(),
    )));
    lines.push(Line::from(fit(
        &format!(
            "{} polls, busy {}, longest {} · {} wakes ({} self), longest wait {} · live wakers {}",
            task.polls,
            duration(task.busy_ns),
            duration(task.longest_poll_ns),
            task.wakes,
            task.self_wakes,
            duration(task.longest_sched_ns),
            crate::fmt::wakers(task.live_wakers),
        ),
        w,
    )));
    for a in ix.anomalies.iter().filter(|a| a.task == Some(t)).take(2) {
        lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    "{} {}",
                    theme.severity_glyph(a.severity),
                    sanitize(&a.message(ix))
                ),
                w,
            ),
            theme.severity(a.severity),
        )));
    }
    lines
}

/// The task's events, `h` rows scrolled to keep the selected one in view, each with its
/// time, the gap since the task's previous event and the event's detail.
fn event_rows(
    app: &App,
    t: TaskIdx,
    theme: &Theme,
    focused: bool,
    w: usize,
    h: usize,
) -> Vec<Line<'static>> {
    let ix = app.index();
    let mut lines = Vec::new();
    let list = ix.task_events(t);
    let len = list.len();
    let sel = app.selection().lifecycle_row().min(len.saturating_sub(1));
    let first = if len <= h {
        0
    } else {
        sel.saturating_sub(h / 2).min(len - h)
    };
    // The rows shown, and the event before the first (its gap): read from the blocks
    // they are in, not from a list of the task's every event.
    let from = first.saturating_sub(1);
    let shown: Vec<(usize, dial9_format::Event, EventIdx)> = (from..(first + h).min(len))
        .filter_map(|row| {
            let e = list.get(ix, row)?;
            Some((row, ix.events.get(e as usize)?, e))
        })
        .collect();
    // Each row's gap to the task's event before it, drawn against the longest on screen.
    let gaps: Vec<u64> = (0..shown.len())
        .map(|k| match (k.checked_sub(1).map(|j| &shown[j]), &shown[k]) {
            (Some(prev), cur) if cur.0 > 0 => cur.1.ts_ns.saturating_sub(prev.1.ts_ns),
            _ => 0,
        })
        .collect();
    let max_gap = gaps.iter().copied().max().unwrap_or(1).max(1);
    // The time and gap columns of the rows on screen, each in a clock fitted to them.
    let on_screen = usize::from(shown.first().is_some_and(|s| s.0 < first));
    let ts: Vec<u64> = shown[on_screen..].iter().map(|s| s.1.ts_ns).collect();
    let before = (on_screen == 1).then(|| shown[0].1.ts_ns);
    let times = times::align(times::column(app, &ts, before, false));
    let gap_texts = times::align(times::gap_column(&ts, before));
    const BAR: usize = 8;
    for ((k, &(i, ev, e)), (time, gap_text)) in shown
        .iter()
        .enumerate()
        .skip(on_screen)
        .zip(times.into_iter().zip(gap_texts))
    {
        let ev = &ev;
        let gap = gaps[k];
        let bar_len = ((gap as u128 * BAR as u128).div_ceil(max_gap as u128)) as usize;
        let bar: String = std::iter::repeat_n(theme.bar(), bar_len.min(BAR)).collect();
        let sev = app.anomaly_at(e);
        let text = format!(
            "{time} {gap_text} {} {} {:<3} {} {}",
            fit(&bar, BAR),
            theme.gap(),
            lane_tag(ix, ev.lane),
            fit(ev.kind.name(), 12),
            detail(ix, e),
        );
        let base = sev.map_or(Style::default(), |s| theme.severity(s));
        let style = if i == sel && (focused || e == app.event()) {
            base.patch(theme.selected())
        } else {
            base
        };
        lines.push(Line::from(vec![
            Span::styled(sev.map_or(" ", |s| theme.severity_glyph(s)), base),
            Span::styled(fit(&text, w.saturating_sub(1)), style),
        ]));
    }
    lines
}
