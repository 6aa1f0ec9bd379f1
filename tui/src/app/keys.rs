//! The one key table. Key dispatch ([`from_key`]), the help overlay ([`help_rows`]), the
//! hint line and the key table of docs/explorer.md are all read from [`BINDINGS`] and
//! [`SEARCH_BINDINGS`], so a key cannot work without being documented, or be documented
//! without working (a test compares docs/explorer.md with [`markdown`], another the help with
//! both tables).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::state::{App, Pane};

/// A key: its code, and whether Ctrl is held (Shift is part of the character).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

/// One row of the key table: keys that do one thing, where they act, and how it reads.
#[derive(Debug)]
pub struct Binding {
    /// The keys as the help and docs/explorer.md show them.
    pub label: &'static str,
    /// Each key and the action it becomes.
    pub keys: &'static [(Key, Action)],
    /// Panes where these keys act; empty: every pane.
    pub panes: &'static [Pane],
    /// What the keys do, for the help overlay and docs/explorer.md.
    pub help: &'static str,
    /// Short form for the hint line, and the panes whose hint line shows it.
    pub hint: Option<(&'static str, &'static [Pane])>,
}

use Pane::{Anomalies, Lifecycle, Swimlanes, Tasks, Timeline};

const ALL: &[Pane] = &[Swimlanes, Timeline, Tasks, Lifecycle, Anomalies];

/// The explorer's keys, in the order the help lists them. Pane-specific rows come before
/// rows for every pane, and the first row that has the key for the focused pane wins.
pub const BINDINGS: &[Binding] = &[
    Binding {
        label: "Tab / Shift-Tab",
        keys: &[
            (key(KeyCode::Tab), Action::FocusNext),
            (key(KeyCode::BackTab), Action::FocusPrev),
        ],
        panes: &[],
        help: "next / previous pane",
        hint: Some(("Tab pane", &[Tasks, Lifecycle, Anomalies])),
    },
    Binding {
        label: "j k, Down Up",
        keys: &[
            (ch('j'), Action::Down),
            (key(KeyCode::Down), Action::Down),
            (ch('k'), Action::Up),
            (key(KeyCode::Up), Action::Up),
        ],
        panes: &[],
        help: "move in the pane (swimlanes: choose a lane)",
        hint: Some(("j/k move", &[Swimlanes, Tasks, Lifecycle, Anomalies])),
    },
    Binding {
        label: "PgUp PgDn, g G",
        keys: &[
            (key(KeyCode::PageUp), Action::PageUp),
            (key(KeyCode::PageDown), Action::PageDown),
            (ch('g'), Action::Top),
            (key(KeyCode::Home), Action::Top),
            (ch('G'), Action::Bottom),
            (key(KeyCode::End), Action::Bottom),
        ],
        panes: &[],
        help: "page; first / last",
        hint: None,
    },
    Binding {
        label: "Enter",
        keys: &[(key(KeyCode::Enter), Action::Enter)],
        panes: &[],
        help: "open: event or task -> lifecycle; anomaly group -> its occurrences; anomaly -> its event",
        hint: Some(("Enter open", &[Tasks, Anomalies])),
    },
    Binding {
        label: "Esc",
        keys: &[(key(KeyCode::Esc), Action::Back)],
        panes: &[],
        help: "back: clear task filter, to timeline, close overlay",
        hint: None,
    },
    Binding {
        label: "[ ]",
        keys: &[(ch('['), Action::StepBack), (ch(']'), Action::StepForward)],
        panes: &[],
        help: "one event back / forward in time",
        hint: Some(("[/] step", &[Swimlanes, Timeline])),
    },
    Binding {
        label: "{ }",
        keys: &[(ch('{'), Action::TaskPrev), (ch('}'), Action::TaskNext)],
        panes: &[],
        help: "previous / next event of the selected task",
        hint: Some(("{/} task", &[Timeline, Lifecycle])),
    },
    Binding {
        label: "L",
        keys: &[(ch('L'), Action::LongestPoll)],
        panes: &[],
        help: "longest poll; again: the next longest",
        hint: Some(("L longest", &[Timeline])),
    },
    Binding {
        label: "p",
        keys: &[(ch('p'), Action::PanicPoint)],
        panes: &[],
        help: "the panic / dump point: the poll in progress",
        hint: Some(("p panic", &[Timeline])),
    },
    Binding {
        label: "n N",
        keys: &[
            (ch('n'), Action::NextAnomaly),
            (ch('N'), Action::PrevAnomaly),
        ],
        panes: &[],
        help: "next / previous anomaly, in rank order",
        hint: Some(("n/N anomaly", &[Timeline, Anomalies])),
    },
    Binding {
        label: "/",
        keys: &[(ch('/'), Action::OpenSearch)],
        panes: &[],
        help: "fuzzy task search: name, spawn location, id",
        hint: Some(("/ search", &[Timeline, Tasks])),
    },
    Binding {
        label: "i",
        keys: &[(ch('i'), Action::ToggleDetail)],
        panes: &[],
        help: "details: every field, whole messages, advice",
        hint: Some(("i details", &[Timeline, Tasks, Lifecycle, Anomalies])),
    },
    Binding {
        label: "t",
        keys: &[(ch('t'), Action::ToggleTaskFilter)],
        panes: &[],
        help: "timeline shows only the selected task (toggle)",
        hint: Some(("t filter", &[Lifecycle])),
    },
    Binding {
        label: "m",
        keys: &[(ch('m'), Action::ToggleMark)],
        panes: &[],
        help: "mark the selected event (again: unmark); the time between shows",
        hint: Some(("m mark", &[Timeline])),
    },
    Binding {
        label: "T",
        keys: &[(ch('T'), Action::CycleTime)],
        panes: &[],
        help: "times: to the dump, gap to the row above, from the mark",
        hint: None,
    },
    Binding {
        label: "w s, + = -",
        keys: &[
            (ch('w'), Action::ZoomIn),
            (ch('+'), Action::ZoomIn),
            (ch('='), Action::ZoomIn),
            (ch('s'), Action::ZoomOut),
            (ch('-'), Action::ZoomOut),
        ],
        panes: &[],
        help: "zoom the swimlanes in / out around the cursor",
        hint: Some(("w/s zoom", &[Swimlanes])),
    },
    Binding {
        label: "a d, Left Right",
        keys: &[
            (ch('a'), Action::PanLeft),
            (key(KeyCode::Left), Action::PanLeft),
            (ch('d'), Action::PanRight),
            (key(KeyCode::Right), Action::PanRight),
        ],
        panes: &[],
        help: "pan the swimlanes",
        hint: Some(("a/d pan", &[Swimlanes])),
    },
    Binding {
        label: "0",
        keys: &[(ch('0'), Action::FitAll)],
        panes: &[],
        help: "fit the whole dump",
        hint: Some(("0 fit", &[Swimlanes])),
    },
    Binding {
        label: "h l, r",
        keys: &[
            (ch('h'), Action::SortPrev),
            (ch('l'), Action::SortNext),
            (ch('r'), Action::SortInvert),
        ],
        panes: &[Tasks],
        help: "sort by previous / next column, reverse",
        hint: Some(("h/l sort · r reverse", &[Tasks])),
    },
    Binding {
        label: "?",
        keys: &[(ch('?'), Action::ToggleHelp)],
        panes: &[],
        help: "help",
        hint: Some(("? help", ALL)),
    },
    Binding {
        label: "q, Ctrl-C",
        keys: &[(ch('q'), Action::Quit), (ctrl('c'), Action::Quit)],
        panes: &[],
        help: "quit",
        hint: Some(("q quit", ALL)),
    },
];

/// Keys while the search box is open (every other character goes into the query).
pub const SEARCH_BINDINGS: &[Binding] = &[
    Binding {
        label: "Up Down, Ctrl-P Ctrl-N, Tab",
        keys: &[
            (key(KeyCode::Up), Action::SearchUp),
            (ctrl('p'), Action::SearchUp),
            (key(KeyCode::Down), Action::SearchDown),
            (ctrl('n'), Action::SearchDown),
            (key(KeyCode::Tab), Action::SearchDown),
        ],
        panes: &[],
        help: "search: previous / next match",
        hint: None,
    },
    Binding {
        label: "Backspace",
        keys: &[(key(KeyCode::Backspace), Action::SearchBackspace)],
        panes: &[],
        help: "search: delete the last character",
        hint: None,
    },
    Binding {
        label: "Enter",
        keys: &[(key(KeyCode::Enter), Action::SearchAccept)],
        panes: &[],
        help: "search: select the task (its lifecycle, its latest event)",
        hint: None,
    },
    Binding {
        label: "Esc",
        keys: &[(key(KeyCode::Esc), Action::SearchCancel)],
        panes: &[],
        help: "search: cancel",
        hint: None,
    },
    Binding {
        label: "Ctrl-C",
        keys: &[(ctrl('c'), Action::Quit)],
        panes: &[],
        help: "search: quit the explorer",
        hint: None,
    },
];

fn lookup(table: &[Binding], focus: Pane, k: Key) -> Option<Action> {
    table
        .iter()
        .filter(|b| b.panes.is_empty() || b.panes.contains(&focus))
        .flat_map(|b| b.keys.iter())
        .find(|(key, _)| *key == k)
        .map(|(_, a)| a.clone())
}

/// What a key means in the current state (`None`: nothing).
pub fn from_key(app: &App, event: KeyEvent) -> Option<Action> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    // AltGr arrives as Ctrl+Alt on Windows (`[`, `{`, `@` on many layouts): a character
    // typed with both is a plain character, not a Ctrl chord.
    let altgr = event
        .modifiers
        .contains(KeyModifiers::CONTROL | KeyModifiers::ALT);
    let k = Key {
        code: event.code,
        ctrl: event.modifiers.contains(KeyModifiers::CONTROL) && !altgr,
    };
    if app.search().is_some() {
        return lookup(SEARCH_BINDINGS, app.focus(), k).or(match k {
            Key {
                code: KeyCode::Char(c),
                ctrl: false,
            } => Some(Action::SearchInput(c)),
            _ => None,
        });
    }
    if app.help() || app.detail() {
        // Any key closes the overlay; quitting still quits. A help taller than the
        // terminal scrolls with the moving keys instead.
        let action = lookup(BINDINGS, app.focus(), k);
        let max = help_scroll_max(app.size().1) as i32;
        if app.help() && max > 0 {
            let page = (help_visible_rows(app.size().1) as i32 - 1).max(1);
            let by = match action {
                Some(Action::Down) => Some(1),
                Some(Action::Up) => Some(-1),
                Some(Action::PageDown) => Some(page),
                Some(Action::PageUp) => Some(-page),
                Some(Action::Top) => Some(-max),
                Some(Action::Bottom) => Some(max),
                _ => None,
            };
            if let Some(by) = by {
                return Some(Action::HelpScroll(by));
            }
        }
        return Some(match action {
            Some(Action::Quit) => Action::Quit,
            _ if app.help() => Action::ToggleHelp,
            _ => Action::ToggleDetail,
        });
    }
    lookup(BINDINGS, app.focus(), k)
}

/// The hint line's keys for `pane`, in table order.
pub fn hint(pane: Pane) -> String {
    hint_items(pane).join(" · ")
}

/// The hint line's items for `pane`, in table order (help and quit last).
pub fn hint_items(pane: Pane) -> Vec<&'static str> {
    BINDINGS
        .iter()
        .filter_map(|b| b.hint)
        .filter(|(_, panes)| panes.contains(&pane))
        .map(|(text, _)| text)
        .collect()
}

/// What a row's keys do, with the panes they are limited to.
fn does(b: &Binding) -> String {
    match b.panes {
        [] => b.help.to_string(),
        p => {
            let names: Vec<_> = p.iter().map(|p| p.title().to_lowercase()).collect();
            format!("{} (in {})", b.help, names.join(", "))
        }
    }
}

/// The key table of docs/explorer.md: both tables as Markdown rows.
pub fn markdown() -> String {
    let mut s = String::from("| key | does |\n|---|---|\n");
    for b in BINDINGS.iter().chain(SEARCH_BINDINGS) {
        s.push_str(&format!(
            "| {} | {} |\n",
            b.label.replace('|', "\\|"),
            does(b)
        ));
    }
    s
}

/// One row of the help overlay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelpRow {
    /// Keys and what they do.
    Key {
        label: &'static str,
        does: String,
    },
    /// The title of the rows below it.
    Heading(&'static str),
    Note(&'static str),
    Blank,
}

/// The help overlay's rows: every row of both key tables, the search box's under a
/// heading of their own, then how to read the swimlanes.
pub fn help_rows() -> Vec<HelpRow> {
    let mut rows: Vec<HelpRow> = BINDINGS
        .iter()
        .map(|b| HelpRow::Key {
            label: b.label,
            does: does(b),
        })
        .collect();
    rows.push(HelpRow::Blank);
    rows.push(HelpRow::Heading(
        "In the search box (/); any other character goes into the query:",
    ));
    rows.extend(SEARCH_BINDINGS.iter().map(|b| {
        // The heading says where they act.
        let d = does(b);
        HelpRow::Key {
            label: b.label,
            does: d.strip_prefix("search: ").map_or(d.clone(), str::to_string),
        }
    }));
    rows.push(HelpRow::Blank);
    rows.push(HelpRow::Note(
        "Swimlanes: letter = task polling (see legend), . or · parked, - awake",
    ));
    rows
}

/// Rows of the help a terminal `height` rows tall shows at once (inside its border).
pub fn help_visible_rows(height: u16) -> usize {
    help_rows().len().min(height.saturating_sub(2) as usize)
}

/// How far the help scrolls on a terminal `height` rows tall: 0 when it fits.
pub fn help_scroll_max(height: u16) -> usize {
    help_rows().len() - help_visible_rows(height)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No key means two things in one pane: a shadowed row would be documented but dead.
    #[test]
    fn no_key_is_bound_twice_in_a_pane() {
        for table in [BINDINGS, SEARCH_BINDINGS] {
            for pane in ALL {
                let mut seen = Vec::new();
                for b in table
                    .iter()
                    .filter(|b| b.panes.is_empty() || b.panes.contains(pane))
                {
                    for (k, _) in b.keys {
                        assert!(!seen.contains(k), "{k:?} bound twice in {pane:?}");
                        seen.push(*k);
                    }
                }
            }
        }
    }

    #[test]
    fn every_pane_has_a_hint_line_ending_in_help_and_quit() {
        for &pane in ALL {
            assert!(hint(pane).ends_with("? help · q quit"), "{pane:?}");
        }
    }
}
