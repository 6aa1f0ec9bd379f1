//! The detail view (`i`): everything about the selected item, wrapped to the width, for
//! what a pane row has to cut short: the whole panic message and location, an anomaly's
//! whole message and its advice, every field of an event, a task's spawn location.

use dial9_format::{EventKind, Reason, WakeSource};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::analysis::index::{EventIdx, TaskIdx};
use crate::analysis::{Anomaly, Index};
use crate::app::{App, Pane};
use crate::fmt::{duration, relative, sanitize};

use super::describe::{detail, lane_tag};
use super::pane_block;
use super::theme::Theme;

/// A label and its value (long values wrap to the overlay's width).
type Field = (&'static str, String);

/// What the detail view shows for the focused pane.
pub fn fields(app: &App) -> (String, Vec<Field>) {
    let ix = app.index();
    // The dump's reason in full first, whatever is selected (the header cuts it at the
    // width, and the overlay does not scroll): the panic message is always readable.
    let mut out = vec![("dump", sanitize(&ix.dump.header.reason.to_string()))];
    if let Reason::Panic {
        location: Some(loc),
        ..
    } = &ix.dump.header.reason
    {
        out.push(("panic at", sanitize(loc)));
    }
    out.push(("verdict", sanitize(&ix.verdict)));
    let title = match app.focus() {
        Pane::Tasks => match app.task_table().rows().get(app.task_table().row()) {
            Some(&t) => {
                task_fields(ix, t, &mut out);
                format!("Task {}", sanitize(&ix.tasks[t as usize].label()))
            }
            None => "No task selected".into(),
        },
        Pane::Anomalies => match ix.anomalies.get(app.selection().anomaly()) {
            Some(a) => {
                anomaly_fields(ix, a, &mut out);
                let i = app.selection().anomaly();
                let g = &ix.groups[crate::app::anomaly_rows::group_of(&ix.groups, i)];
                if g.count() > 1 {
                    let after_kind = out.iter().position(|f| f.0 == "kind").map_or(0, |k| k + 1);
                    out.insert(
                        after_kind,
                        (
                            "cause",
                            format!(
                                "{} of {} in {}{} (Enter on the group lists them)",
                                i - g.range().start + 1,
                                g.count(),
                                sanitize(&g.subject),
                                if g.tasks > 1 {
                                    format!(", {} tasks", g.tasks)
                                } else {
                                    String::new()
                                }
                            ),
                        ),
                    );
                }
                format!(
                    "Anomaly {}/{}",
                    app.selection().anomaly() + 1,
                    ix.anomalies.len()
                )
            }
            None => "No anomalies".into(),
        },
        Pane::Lifecycle | Pane::Timeline | Pane::Swimlanes => {
            // In the lifecycle, the highlighted row's event.
            let e = match (app.focus(), app.task()) {
                (Pane::Lifecycle, Some(t)) => ix
                    .task_events(t)
                    .get(ix, app.selection().lifecycle_row())
                    .unwrap_or(app.event()),
                _ => app.event(),
            };
            if ix.event_count() == 0 {
                "No events in this dump".into()
            } else {
                event_fields(ix, e, &mut out);
                format!("Event {}/{}", e + 1, ix.event_count())
            }
        }
    };
    (title, out)
}

fn task_fields(ix: &Index, t: TaskIdx, out: &mut Vec<Field>) {
    let task = &ix.tasks[t as usize];
    out.push((
        "task",
        format!("{} (id {})", sanitize(&task.label()), task.id),
    ));
    out.push((
        "spawned at",
        task.location
            .as_ref()
            .map_or("unknown location".into(), |l| sanitize(&l.to_string())),
    ));
    if let Some(p) = task.spawned_by {
        out.push(("spawned by", sanitize(&ix.task_label(p))));
    }
    out.push((
        "kind, state",
        format!("{}, {}", task.kind.as_str(), task.state.as_str()),
    ));
    out.push((
        "polls",
        format!(
            "{} ({} busy, longest {}, longest wait for a poll {})",
            task.polls,
            duration(task.busy_ns),
            duration(task.longest_poll_ns),
            duration(task.longest_sched_ns)
        ),
    ));
    out.push((
        "wakes",
        format!("{} ({} from its own poll)", task.wakes, task.self_wakes),
    ));
    out.push((
        "live wakers",
        wakers(task.live_wakers, task.wakers_from_recorder),
    ));
    for a in ix.anomalies.iter().filter(|a| a.task == Some(t)) {
        out.push((a.severity.as_str(), sanitize(&a.message(ix))));
    }
}

/// The live waker count, and where it comes from.
fn wakers(live: Option<i64>, from_recorder: bool) -> String {
    let n = crate::fmt::wakers(live);
    match (live, from_recorder) {
        (Some(_), true) => format!("{n} (counted by the recorder)"),
        (Some(_), false) => format!("{n} (counted in the window, which holds the whole task)"),
        (None, _) => "unknown (the task's beginning was overwritten)".into(),
    }
}

fn anomaly_fields(ix: &Index, a: &Anomaly, out: &mut Vec<Field>) {
    out.push((
        "kind",
        format!("{} {}", a.severity.as_str(), a.kind.as_str()),
    ));
    if let Some(t) = a.task {
        let task = &ix.tasks[t as usize];
        out.push((
            "task",
            format!("{} (id {})", sanitize(&task.label()), task.id),
        ));
        if let Some(l) = &task.location {
            out.push(("spawned at", sanitize(&l.to_string())));
        }
    }
    if let Some(lane) = a.lane {
        out.push(("lane", lane_name(ix, lane)));
    }
    out.push((
        "when",
        format!(
            "{} to {} ({})",
            relative(a.start_ns, ix.end_ns),
            relative(a.end_ns, ix.end_ns),
            duration(a.end_ns.saturating_sub(a.start_ns))
        ),
    ));
    explanation(ix, a, "what", out);
}

/// An anomaly's message under `head`, then what the watchdog saw, the panic's frames, the
/// advice, and the watchdog's looks last (on a small terminal they are what gets cut).
fn explanation(ix: &Index, a: &Anomaly, head: &'static str, out: &mut Vec<Field>) {
    out.push((head, sanitize(&a.message(ix))));
    if let Some(w) = &a.why {
        why_fields(w, out);
    }
    if a.is_dump_cause {
        backtrace_fields(ix, out);
    }
    out.push(("advice", a.advice().to_string()));
    if let Some(w) = &a.why {
        look_fields(ix, w, out);
    }
}

/// The panic's own frames (std, core, tokio and the recorder folded), innermost first.
fn backtrace_fields(ix: &Index, out: &mut Vec<Field>) {
    const SHOWN: usize = 8;
    let frames = crate::analysis::backtrace::app_frames(&ix.dump.facts.panic_backtrace);
    for f in frames.iter().take(SHOWN) {
        out.push(("frame", sanitize(&f.label())));
    }
    if frames.len() > SHOWN {
        out.push((
            "frame",
            format!(
                "... {} more (report --json: backtrace)",
                frames.len() - SHOWN
            ),
        ));
    }
}

/// The watchdog's reading of a poll: the split and the system call.
fn why_fields(w: &crate::analysis::why::PollWhy, out: &mut Vec<Field>) {
    out.push((
        "watched",
        format!(
            "{} looks over {}: on a CPU {}, waiting for a CPU {}, blocked {}",
            w.looks,
            duration(w.watched_ns),
            duration(w.on_cpu_ns),
            duration(w.runq_ns),
            duration(w.blocked_ns)
        ),
    ));
    for (i, f) in w.stack.iter().enumerate() {
        let head = if i == 0 { "stack" } else { "" };
        out.push((head, sanitize(&f.label())));
    }
    if let Some(sys) = &w.syscall {
        out.push((
            "blocked in",
            format!(
                "{} ({} of {} looks at the blocked thread)",
                sys.label(),
                sys.looks,
                sys.blocked_looks
            ),
        ));
    }
}

/// Each of the watchdog's looks at a poll.
fn look_fields(ix: &Index, w: &crate::analysis::why::PollWhy, out: &mut Vec<Field>) {
    const SHOWN: usize = 64;
    for &e in w.samples.iter().take(SHOWN) {
        let ev = &ix.events.at(e as usize);
        out.push((
            "look",
            format!(
                "{}  {}",
                relative(ev.ts_ns, ix.end_ns),
                super::describe::detail(ix, e)
            ),
        ));
    }
    if w.samples.len() > SHOWN {
        out.push(("look", format!("... and {} more", w.samples.len() - SHOWN)));
    }
}

fn lane_name(ix: &Index, lane: u32) -> String {
    match ix.lane(lane) {
        Some(l) => format!(
            "{} ({}, thread '{}', tid {})",
            sanitize(&l.label()),
            lane_tag(ix, lane),
            sanitize(&l.info.name),
            l.info.os_tid
        ),
        None => format!("lane {lane}"),
    }
}

fn event_fields(ix: &Index, e: EventIdx, out: &mut Vec<Field>) {
    let ev = &ix.events.at(e as usize);
    out.push((
        "event",
        format!(
            "{} at {} ({} ns)",
            ev.kind.name(),
            relative(ev.ts_ns, ix.end_ns),
            ev.ts_ns
        ),
    ));
    out.push(("lane", lane_name(ix, ev.lane)));
    if let Some(t) = ix.task_of_event(e) {
        let task = &ix.tasks[t as usize];
        out.push((
            "task",
            format!(
                "{} (id {}, {})",
                sanitize(&task.label()),
                task.id,
                task.state.as_str()
            ),
        ));
        out.push((
            "spawned at",
            task.location
                .as_ref()
                .map_or("unknown location".into(), |l| sanitize(&l.to_string())),
        ));
    }
    let what = detail(ix, e);
    if !what.is_empty() {
        out.push(("detail", what));
    }
    match ev.kind {
        EventKind::PollStart { .. } | EventKind::PollEnd { .. } => {
            if let Some(p) = ix.poll_at_event(e).and_then(|p| ix.poll(p)) {
                let end = match p.end_ns {
                    Some(end) => relative(end, ix.end_ns),
                    None => "still running at the dump".into(),
                };
                out.push((
                    "poll",
                    format!(
                        "{} to {}: {}{}",
                        relative(p.start_ns, ix.end_ns),
                        end,
                        duration(p.duration(ix.end_ns)),
                        if p.completed {
                            ", completed the task"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        EventKind::Wake { source, by_ref, .. } => {
            let source = match source {
                WakeSource::Task(t) => format!("task {}", sanitize(&ix.task_label(t))),
                WakeSource::Driver => "the runtime (timer or I/O driver)".into(),
                WakeSource::Foreign => "a thread outside the runtime".into(),
            };
            out.push((
                "woken by",
                format!(
                    "{source}, {}",
                    if by_ref {
                        "by reference"
                    } else {
                        "consuming the waker"
                    }
                ),
            ));
            if let Some(w) = ix.wake_at_event(e) {
                out.push((
                    "waited",
                    match w.poll_at {
                        Some(at) => format!(
                            "{} for a poll (polled at {})",
                            duration(w.delay_ns),
                            relative(at, ix.end_ns)
                        ),
                        None => {
                            format!("{} and never polled before the dump", duration(w.delay_ns))
                        }
                    },
                ));
            }
        }
        _ => {}
    }
    for a in ix.anomalies.iter().filter(|a| a.event == e) {
        explanation(ix, a, a.severity.as_str(), out);
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let (title, fields) = fields(app);
    let w = area.width.saturating_sub(4).min(100);
    let h = area.height.saturating_sub(2);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, rect);
    let block = pane_block(format!("{title} · any key closes"), true, theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    const LABEL: usize = 12;
    let lines: Vec<Line> = fields
        .into_iter()
        .map(|(label, value)| {
            Line::from(vec![
                Span::styled(format!("{label:<LABEL$}"), theme.title()),
                Span::raw(value),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
