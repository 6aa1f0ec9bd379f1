//! The explorer's state: what is selected, focused, zoomed and searched. Views only read
//! it; [`super::action::apply`] is the only thing that changes it.

use fuzzy_matcher::FuzzyMatcher;
use fuzzy_matcher::skim::SkimMatcherV2;

use crate::analysis::index::{EventIdx, TaskIdx};
use crate::analysis::{Index, Severity};

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
}

impl TaskColumn {
    pub const ALL: [TaskColumn; 9] = [
        TaskColumn::Name,
        TaskColumn::Id,
        TaskColumn::State,
        TaskColumn::Polls,
        TaskColumn::Busy,
        TaskColumn::LongestPoll,
        TaskColumn::LongestSched,
        TaskColumn::Wakers,
        TaskColumn::Anomalies,
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
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchHit {
    pub task: TaskIdx,
    pub score: i64,
    /// Char positions in [`App::search_text`] of the task that matched.
    pub matched: Vec<usize>,
}

#[derive(Clone, Debug, Default)]
pub struct Search {
    pub query: String,
    pub hits: Vec<SearchHit>,
    pub selected: usize,
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

pub struct App {
    pub index: Index,
    pub options: Options,
    pub source: String,
    pub focus: Pane,
    /// The selected event: the timeline's selection and the swimlane cursor.
    pub event: EventIdx,
    /// The task shown in the lifecycle pane.
    pub task: Option<TaskIdx>,
    /// Timeline shows only the selected task's events.
    pub task_filter: bool,
    /// Selected row in the lifecycle pane (index into the task's events).
    pub lifecycle_row: usize,
    /// Task table order and selection.
    pub task_rows: Vec<TaskIdx>,
    pub task_row: usize,
    pub sort: TaskColumn,
    pub sort_desc: bool,
    pub anomaly: usize,
    /// Lane row selected in the swimlane pane (index into `lanes_order`).
    pub lane_row: usize,
    pub lanes_order: Vec<usize>,
    /// Visible time range of the swimlanes.
    pub view_start: u64,
    pub view_end: u64,
    /// How many times `L` was pressed in a row (rank of the poll it selects next).
    pub longest_rank: usize,
    pub search: Option<Search>,
    pub help: bool,
    pub status: Option<String>,
    pub quit: bool,
    /// Terminal size from the last draw/resize, for page sizes.
    pub size: (u16, u16),
    /// Searchable text of each task: name, spawn location, id.
    pub search_text: Vec<String>,
    /// One-letter code of each task on the swimlanes (busiest first), `None` past 'Z'.
    pub lane_letter: Vec<Option<char>>,
    /// Anomaly indices for each event that is an anomaly's jump target (sorted by event).
    pub anomaly_events: Vec<(EventIdx, Severity)>,
}

impl App {
    pub fn new(index: Index, options: Options, source: String) -> App {
        let search_text = index
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
            .collect();
        let mut by_busy: Vec<TaskIdx> = (0..index.tasks.len() as TaskIdx)
            .filter(|&t| index.tasks[t as usize].busy_ns > 0)
            .collect();
        by_busy.sort_by_key(|&t| std::cmp::Reverse(index.tasks[t as usize].busy_ns));
        let mut lane_letter = vec![None; index.tasks.len()];
        for (i, &t) in by_busy.iter().take(26).enumerate() {
            lane_letter[t as usize] = Some((b'A' + i as u8) as char);
        }
        let mut anomaly_events: Vec<(EventIdx, Severity)> = index
            .anomalies
            .iter()
            .map(|a| (a.event, a.severity))
            .collect();
        anomaly_events.sort();
        let lanes_order = index.display_lanes();
        let (start, end) = (
            index.start_ns,
            index.end_ns.max(index.start_ns.saturating_add(1)),
        );
        let last = index.event_count().saturating_sub(1) as EventIdx;
        let mut app = App {
            focus: Pane::Timeline,
            event: last,
            task: None,
            task_filter: false,
            lifecycle_row: 0,
            task_rows: Vec::new(),
            task_row: 0,
            sort: TaskColumn::Busy,
            sort_desc: true,
            anomaly: 0,
            lane_row: 0,
            lanes_order,
            view_start: start,
            view_end: end,
            longest_rank: 0,
            search: None,
            help: false,
            status: None,
            quit: false,
            size: (80, 24),
            search_text,
            lane_letter,
            anomaly_events,
            index,
            options,
            source,
        };
        app.sort_tasks();
        // Open on the worst anomaly if there is one: that is what the user came for.
        if let Some(a) = app.index.anomalies.first() {
            let (e, t) = (a.event, a.task);
            app.select_event(e);
            if let Some(t) = t {
                app.select_task(t);
            }
            app.status = Some("showing the worst anomaly: n/N for the others, ? for help".into());
        } else if let Some(t) = app.index.task_of_event(app.event) {
            app.select_task(t);
        }
        app
    }

    pub fn sort_tasks(&mut self) {
        let ix = &self.index;
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
            };
            let ord = if self.sort_desc { ord.reverse() } else { ord };
            ord.then(ta.id.cmp(&tb.id))
        });
        let keep = self.task_rows.get(self.task_row).copied();
        self.task_rows = rows;
        if let Some(t) = keep {
            self.task_row = self.task_rows.iter().position(|&r| r == t).unwrap_or(0);
        }
    }

    /// Selects an event: moves the timeline selection and the swimlane cursor, panning
    /// the swimlanes to keep it in view.
    pub fn select_event(&mut self, e: EventIdx) {
        let n = self.index.event_count();
        if n == 0 {
            return;
        }
        self.event = e.min(n as EventIdx - 1);
        let ts = self.index.dump.events[self.event as usize].ts_ns;
        if ts < self.view_start || ts >= self.view_end {
            let span = self.view_end - self.view_start;
            self.set_view(ts.saturating_sub(span / 2), span);
        }
        if let Some(t) = self.task
            && let Some(pos) = self.index.task_events[t as usize]
                .iter()
                .position(|&x| x == self.event)
        {
            self.lifecycle_row = pos;
        }
    }

    /// Shows `span` ns of the swimlanes from `start`, kept inside the dump's window.
    pub fn set_view(&mut self, start: u64, span: u64) {
        let latest = self
            .index
            .end_ns
            .saturating_sub(span)
            .max(self.index.start_ns);
        self.view_start = start.max(self.index.start_ns).min(latest);
        self.view_end = self.view_start.saturating_add(span);
    }

    /// Shows `t` in the lifecycle pane and selects it in the task table.
    pub fn select_task(&mut self, t: TaskIdx) {
        self.task = Some(t);
        if let Some(r) = self.task_rows.iter().position(|&x| x == t) {
            self.task_row = r;
        }
        let events = &self.index.task_events[t as usize];
        self.lifecycle_row = events
            .iter()
            .position(|&x| x == self.event)
            .unwrap_or_else(|| {
                events
                    .partition_point(|&x| x < self.event)
                    .min(events.len().saturating_sub(1))
            });
    }

    /// Events listed by the timeline: all, or the selected task's.
    pub fn timeline_len(&self) -> usize {
        match (self.task_filter, self.task) {
            (true, Some(t)) => self.index.task_events[t as usize].len(),
            _ => self.index.event_count(),
        }
    }

    /// The `row`-th event of the timeline (`None` past its end: a filtered timeline of a
    /// task whose events were all overwritten is empty).
    pub fn timeline_event(&self, row: usize) -> Option<EventIdx> {
        match (self.task_filter, self.task) {
            (true, Some(t)) => self.index.task_events[t as usize].get(row).copied(),
            _ => (row < self.index.event_count()).then_some(row as EventIdx),
        }
    }

    /// Row of the selected event in the timeline.
    pub fn timeline_row(&self) -> usize {
        match (self.task_filter, self.task) {
            (true, Some(t)) => {
                let list = &self.index.task_events[t as usize];
                list.partition_point(|&x| x < self.event)
                    .min(list.len().saturating_sub(1))
            }
            _ => self.event as usize,
        }
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

    /// Ranks every task against `query` (fuzzy, over name, spawn location and id).
    pub fn run_search(&self, query: &str) -> Vec<SearchHit> {
        if query.is_empty() {
            return Vec::new();
        }
        let matcher = SkimMatcherV2::default().smart_case();
        let mut hits: Vec<SearchHit> = self
            .search_text
            .iter()
            .enumerate()
            .filter_map(|(i, text)| {
                matcher
                    .fuzzy_indices(text, query)
                    .map(|(score, matched)| SearchHit {
                        task: i as TaskIdx,
                        score,
                        matched,
                    })
            })
            .collect();
        hits.sort_by(|a, b| b.score.cmp(&a.score).then(a.task.cmp(&b.task)));
        hits.truncate(200);
        hits
    }

    /// Rows available to a list pane, for PgUp/PgDn.
    pub fn page(&self) -> usize {
        (self.size.1 as usize / 3).max(3)
    }
}
