//! The explorer's state: what is selected, focused, zoomed and searched. Views only read
//! it; [`super::action::apply`] is the only thing that changes it.

use crate::analysis::index::{EventIdx, TaskIdx};
use crate::analysis::{Index, Severity};

use super::anomaly_rows::{Row, Rows, group_of};
use super::search::Search;
use super::viewport::Viewport;

/// Panes that take the keyboard, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Swimlanes,
    Timeline,
    Tasks,
    Lifecycle,
    Anomalies,
}

impl Pane {
    pub const ORDER: [Pane; 5] = [
        Pane::Swimlanes,
        Pane::Timeline,
        Pane::Tasks,
        Pane::Lifecycle,
        Pane::Anomalies,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Swimlanes => "Swimlanes",
            Pane::Timeline => "Timeline",
            Pane::Tasks => "Tasks",
            Pane::Lifecycle => "Task lifecycle",
            Pane::Anomalies => "Anomalies",
        }
    }
}

/// Columns of the task table, in display order; the sort key cycles through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskColumn {
    Name,
    Id,
    State,
    Polls,
    Busy,
    LongestPoll,
    LongestSched,
    Wakers,
    Anomalies,
    Location,
}

impl TaskColumn {
    pub const ALL: [TaskColumn; 10] = [
        TaskColumn::Name,
        TaskColumn::Id,
        TaskColumn::State,
        TaskColumn::Polls,
        TaskColumn::Busy,
        TaskColumn::LongestPoll,
        TaskColumn::LongestSched,
        TaskColumn::Wakers,
        TaskColumn::Anomalies,
        TaskColumn::Location,
    ];

    pub fn title(self) -> &'static str {
        match self {
            TaskColumn::Name => "Name",
            TaskColumn::Id => "Id",
            TaskColumn::State => "State",
            TaskColumn::Polls => "Polls",
            TaskColumn::Busy => "Busy",
            TaskColumn::LongestPoll => "MaxPoll",
            TaskColumn::LongestSched => "MaxSched",
            TaskColumn::Wakers => "Wakers",
            TaskColumn::Anomalies => "Anom",
            TaskColumn::Location => "Location",
        }
    }
}

/// What the time columns count from (`T` cycles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeMode {
    /// Time before the dump (negative): where the explorer opens.
    #[default]
    Dump,
    /// The gap since the row above: a burst and a stall read at once.
    Gap,
    /// Time from the mark (`m`): KernelShark's two markers, the cursor being the second.
    Mark,
}

impl TimeMode {
    pub fn label(self) -> &'static str {
        match self {
            TimeMode::Dump => "times to the dump",
            TimeMode::Gap => "times: gap to the row above",
            TimeMode::Mark => "times from the mark",
        }
    }
}

/// Rendering options from the command line and the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub ascii: bool,
    pub color: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ascii: false,
            color: true,
        }
    }
}

/// What is selected. Fields are visible to the `app` module only: actions change them,
/// views read them through the getters.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// The selected event: the timeline's selection and the swimlane cursor.
    pub(super) event: EventIdx,
    /// The task shown in the lifecycle pane.
    pub(super) task: Option<TaskIdx>,
    /// The timeline lists only the selected task's events.
    pub(super) task_filter: bool,
    /// Row in the lifecycle pane (index into the task's events).
    pub(super) lifecycle_row: usize,
    /// The selected anomaly (an index into `Index::anomalies`).
    pub(super) anomaly: usize,
    /// The anomaly list's open group: its occurrences are listed under it.
    pub(super) anomaly_open: Option<usize>,
    /// The selected row is the anomaly's own, under its open group (not its group's).
    pub(super) anomaly_member: bool,
    /// Row in the swimlane pane (index into [`App::lanes_order`]).
    pub(super) lane_row: usize,
    /// How many times `L` was pressed in a row (rank of the poll it selects next).
    pub(super) longest_rank: usize,
    /// The marked event (`m`), whose time the time columns can count from.
    pub(super) mark: Option<EventIdx>,
}

impl Selection {
    pub fn event(&self) -> EventIdx {
        self.event
    }
    pub fn task(&self) -> Option<TaskIdx> {
        self.task
    }
    pub fn task_filter(&self) -> bool {
        self.task_filter
    }
    pub fn lifecycle_row(&self) -> usize {
        self.lifecycle_row
    }
    pub fn anomaly(&self) -> usize {
        self.anomaly
    }
    pub fn anomaly_open(&self) -> Option<usize> {
        self.anomaly_open
    }
    pub fn lane_row(&self) -> usize {
        self.lane_row
    }
    pub fn mark(&self) -> Option<EventIdx> {
        self.mark
    }
}

/// The task table's order and selected row.
#[derive(Clone, Debug)]
pub struct TaskTable {
    pub(super) rows: Vec<TaskIdx>,
    pub(super) row: usize,
    pub(super) sort: TaskColumn,
    pub(super) desc: bool,
}

impl TaskTable {
    pub fn rows(&self) -> &[TaskIdx] {
        &self.rows
    }
    pub fn row(&self) -> usize {
        self.row
    }
    pub fn sort(&self) -> TaskColumn {
        self.sort
    }
    pub fn descending(&self) -> bool {
        self.desc
    }

    /// Re-sorts by the current column, keeping the selected task selected.
    pub(super) fn resort(&mut self, ix: &Index) {
        let mut rows: Vec<TaskIdx> = (0..ix.tasks.len() as TaskIdx).collect();
        let key = self.sort;
        rows.sort_by(|&a, &b| {
            let (ta, tb) = (&ix.tasks[a as usize], &ix.tasks[b as usize]);
            let ord = match key {
                TaskColumn::Name => ta.label().cmp(&tb.label()),
                TaskColumn::Id => ta.id.cmp(&tb.id),
                TaskColumn::State => ta.state.cmp(&tb.state),
                TaskColumn::Polls => ta.polls.cmp(&tb.polls),
                TaskColumn::Busy => ta.busy_ns.cmp(&tb.busy_ns),
                TaskColumn::LongestPoll => ta.longest_poll_ns.cmp(&tb.longest_poll_ns),
                TaskColumn::LongestSched => ta.longest_sched_ns.cmp(&tb.longest_sched_ns),
                TaskColumn::Wakers => ta.live_wakers.cmp(&tb.live_wakers),
                TaskColumn::Anomalies => ta.anomalies.cmp(&tb.anomalies),
                TaskColumn::Location => ta.short_location().cmp(&tb.short_location()),
            };
            let ord = if self.desc { ord.reverse() } else { ord };
            ord.then(ta.id.cmp(&tb.id))
        });
        let keep = self.rows.get(self.row).copied();
        self.rows = rows;
        if let Some(t) = keep {
            self.row = self.rows.iter().position(|&r| r == t).unwrap_or(0);
        }
    }

    /// Selects the row of task `t`, if it has one.
    pub(super) fn select(&mut self, t: TaskIdx) {
        if let Some(r) = self.rows.iter().position(|&x| x == t) {
            self.row = r;
        }
    }
}

/// The explorer's state. Fields are visible to the `app` module only, so the one thing
/// that changes them is [`super::apply`]; views and tests read them through getters.
pub struct App {
    pub(super) index: Index,
    pub(super) options: Options,
    pub(super) source: String,
    pub(super) focus: Pane,
    pub(super) selection: Selection,
    pub(super) viewport: Viewport,
    pub(super) task_table: TaskTable,
    pub(super) search: Option<Search>,
    pub(super) help: bool,
    pub(super) time_mode: TimeMode,
    /// The help's first row shown, when it is taller than the terminal.
    pub(super) help_scroll: usize,
    /// The detail view of the selected item is open.
    pub(super) detail: bool,
    pub(super) status: Option<String>,
    pub(super) quit: bool,
    /// Terminal size from the last resize, for page sizes.
    pub(super) size: (u16, u16),
    /// Lanes in display order (workers, then blocking threads, then others).
    lanes_order: Vec<usize>,
    /// Searchable text of each task: name, spawn location, id.
    search_text: Vec<String>,
    /// One-letter code of each task on the swimlanes (busiest first), `None` past 'Z'.
    lane_letter: Vec<Option<char>>,
    /// Events that are an anomaly's jump target, with its severity (sorted by event).
    anomaly_events: Vec<(EventIdx, Severity)>,
}

/// What the search matches each task against: its label, spawn location and id.
fn search_texts(index: &Index) -> Vec<String> {
    index
        .tasks
        .iter()
        .map(|t| {
            let loc = t
                .location
                .as_ref()
                .map(|l| l.to_string())
                .unwrap_or_default();
            crate::fmt::sanitize(&format!("{} {} #{}", t.label(), loc, t.id))
        })
        .collect()
}

impl App {
    pub fn new(index: Index, options: Options, source: String) -> App {
        let mut by_busy: Vec<TaskIdx> = (0..index.tasks.len() as TaskIdx)
            .filter(|&t| index.tasks[t as usize].busy_ns > 0)
            .collect();
        by_busy.sort_by_key(|&t| std::cmp::Reverse(index.tasks[t as usize].busy_ns));
        let mut lane_letter = vec![None; index.tasks.len()];
        for (i, &t) in by_busy.iter().take(26).enumerate() {
            lane_letter[t as usize] = Some((b'A' + i as u8) as char);
        }
        // The search's texts on a second thread while the anomalies' events are sorted
        // (a few milliseconds each at 10M events, before the first screen).
        let (search_text, anomaly_events) = crate::analysis::par::both(
            || search_texts(&index),
            || {
                // Mark the events anomalies point at; not the stand-in event of an anomaly
                // whose task has no event left in the window (a task idle for the whole
                // window).
                let mut events: Vec<(EventIdx, Severity)> = index
                    .anomalies
                    .iter()
                    .filter(|a| a.task.is_none_or(|t| index.tasks[t as usize].events > 0))
                    .map(|a| (a.event, a.severity))
                    .collect();
                // Whole pairs compared: equal ones are alike, so no need for a stable sort.
                events.sort_unstable();
                events
            },
        );
        let lanes_order = index.display_lanes();
        let last = index.event_count().saturating_sub(1) as EventIdx;
        let mut app = App {
            focus: Pane::Timeline,
            selection: Selection {
                event: last,
                ..Selection::default()
            },
            viewport: Viewport::whole(&index),
            task_table: TaskTable {
                rows: Vec::new(),
                row: 0,
                sort: TaskColumn::Busy,
                desc: true,
            },
            search: None,
            help: false,
            time_mode: TimeMode::Dump,
            help_scroll: 0,
            detail: false,
            status: None,
            quit: false,
            size: (80, 24),
            lanes_order,
            search_text,
            lane_letter,
            anomaly_events,
            index,
            options,
            source,
        };
        app.task_table.resort(&app.index);
        // Open on the worst anomaly if there is one: that is what the user came for.
        if let Some(a) = app.index.anomalies.first() {
            let (e, t) = (a.event, a.task);
            app.select_event(e);
            if let Some(t) = t {
                app.select_task(t);
            }
            app.status = Some("showing the worst anomaly: n/N for the others, ? for help".into());
        } else if let Some(t) = app.index.task_of_event(app.selection.event) {
            app.select_task(t);
        }
        app
    }

    pub fn index(&self) -> &Index {
        &self.index
    }
    pub fn options(&self) -> Options {
        self.options
    }
    /// The dump's path as given on the command line.
    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn focus(&self) -> Pane {
        self.focus
    }
    pub fn selection(&self) -> &Selection {
        &self.selection
    }
    /// The selected event (shorthand for `selection().event()`).
    pub fn event(&self) -> EventIdx {
        self.selection.event
    }
    /// The task in the lifecycle pane (shorthand for `selection().task()`).
    pub fn task(&self) -> Option<TaskIdx> {
        self.selection.task
    }
    pub fn viewport(&self) -> Viewport {
        self.viewport
    }
    pub fn task_table(&self) -> &TaskTable {
        &self.task_table
    }
    pub fn search(&self) -> Option<&Search> {
        self.search.as_ref()
    }
    pub fn help(&self) -> bool {
        self.help
    }
    /// What the time columns count from: the dump unless asked otherwise, never a mark
    /// that is not set.
    pub fn time_mode(&self) -> TimeMode {
        match self.time_mode {
            TimeMode::Mark if self.selection.mark.is_none() => TimeMode::Dump,
            m => m,
        }
    }
    /// The marked event's time.
    pub fn mark_ts(&self) -> Option<u64> {
        let e = self.selection.mark?;
        Some(self.index.events.ts(e as usize))
    }
    /// The help's first row shown.
    pub fn help_scroll(&self) -> usize {
        self.help_scroll
    }
    /// The terminal's size (columns, rows) from the last resize.
    pub fn size(&self) -> (u16, u16) {
        self.size
    }
    pub fn detail(&self) -> bool {
        self.detail
    }
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }
    pub fn quit(&self) -> bool {
        self.quit
    }
    pub fn lanes_order(&self) -> &[usize] {
        &self.lanes_order
    }
    pub fn search_text(&self, t: TaskIdx) -> &str {
        &self.search_text[t as usize]
    }
    pub fn lane_letter(&self, t: TaskIdx) -> Option<char> {
        self.lane_letter[t as usize]
    }
    /// Tasks that have a swimlane letter, by letter.
    pub fn lettered_tasks(&self) -> Vec<(char, TaskIdx)> {
        let mut v: Vec<(char, TaskIdx)> = self
            .lane_letter
            .iter()
            .enumerate()
            .filter_map(|(t, l)| l.map(|l| (l, t as TaskIdx)))
            .collect();
        v.sort();
        v
    }

    /// Selects an event: moves the timeline selection and the swimlane cursor, panning
    /// the swimlanes to keep it in view.
    pub(super) fn select_event(&mut self, e: EventIdx) {
        let n = self.index.event_count();
        if n == 0 {
            return;
        }
        self.selection.event = e.min(n as EventIdx - 1);
        let ts = self.index.events.ts(self.selection.event as usize);
        self.viewport.follow(&self.index, ts);
        if let Some(t) = self.selection.task
            && let Some(pos) = self.index.task_event_row(t, self.selection.event)
        {
            self.selection.lifecycle_row = pos;
        }
    }

    /// Shows `t` in the lifecycle pane and selects it in the task table.
    pub(super) fn select_task(&mut self, t: TaskIdx) {
        self.selection.task = Some(t);
        self.task_table.select(t);
        self.selection.lifecycle_row = self
            .index
            .task_event_row(t, self.selection.event)
            .unwrap_or_else(|| self.index.task_row_near(t, self.selection.event));
    }

    /// Events listed by the timeline: all, or the selected task's.
    pub fn timeline_len(&self) -> usize {
        match self.filtered_task() {
            Some(t) => self.index.task_events(t).len(),
            None => self.index.event_count(),
        }
    }

    /// The `row`-th event of the timeline (`None` past its end: a filtered timeline of a
    /// task whose events were all overwritten is empty).
    pub fn timeline_event(&self, row: usize) -> Option<EventIdx> {
        match self.filtered_task() {
            Some(t) => self.index.task_events(t).get(&self.index, row),
            None => (row < self.index.event_count()).then_some(row as EventIdx),
        }
    }

    /// Row of the selected event in the timeline.
    pub fn timeline_row(&self) -> usize {
        match self.filtered_task() {
            Some(t) => self.index.task_row_near(t, self.selection.event),
            None => self.selection.event as usize,
        }
    }

    /// The task the timeline is filtered to, if it is.
    pub fn filtered_task(&self) -> Option<TaskIdx> {
        self.selection.task.filter(|_| self.selection.task_filter)
    }

    /// Severity of the anomaly that points at event `e`, if any.
    pub fn anomaly_at(&self, e: EventIdx) -> Option<Severity> {
        let i = self.anomaly_events.partition_point(|&(x, _)| x < e);
        self.anomaly_events[i..]
            .iter()
            .take_while(|&&(x, _)| x == e)
            .map(|&(_, s)| s)
            .max()
    }

    /// The anomaly list's rows: groups, and the open group's occurrences.
    pub fn anomaly_rows(&self) -> Rows<'_> {
        Rows {
            groups: &self.index.groups,
            open: self.selection.anomaly_open,
        }
    }

    /// The anomaly list's selected row.
    pub fn anomaly_row(&self) -> usize {
        let rows = self.anomaly_rows();
        let a = self.selection.anomaly;
        rows.index_of(if self.selection.anomaly_member {
            Row::Member(a)
        } else {
            Row::Group(group_of(&self.index.groups, a))
        })
    }

    /// Rows available to a list pane, for PgUp/PgDn.
    pub fn page(&self) -> usize {
        (self.size.1 as usize / 3).max(3)
    }

    /// Searchable texts of every task, for the search box.
    pub(super) fn search_texts(&self) -> &[String] {
        &self.search_text
    }
}
