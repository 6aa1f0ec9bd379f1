//! Styles and glyphs. Colour is never the only signal: every coloured thing also has a
//! glyph or text, so `NO_COLOR` and `--no-color` lose nothing; `--ascii` swaps the
//! Unicode glyphs for ASCII ones. Only the 16 basic colours are used.

use ratatui::style::{Color, Modifier, Style};

use crate::analysis::Severity;
use crate::analysis::polls::PollClass;
use crate::app::Options;

#[derive(Clone, Copy)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
}

impl Theme {
    pub fn new(o: Options) -> Theme {
        Theme {
            color: o.color,
            ascii: o.ascii,
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    /// Secondary text (labels, borders, hints): the terminal's default colour. Not dark
    /// grey: in popular palettes (Solarized) "bright black" is the background itself.
    pub fn dim(&self) -> Style {
        Style::default()
    }
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    pub fn focus_border(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    pub fn border(&self) -> Style {
        self.dim()
    }
    pub fn matched(&self) -> Style {
        self.fg(Color::Yellow)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }
    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Critical => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Severity::Warning => self.fg(Color::Yellow),
            Severity::Info => self.fg(Color::Blue),
        }
    }
    /// Text marker for a severity, so it reads without colour.
    pub fn severity_glyph(&self, s: Severity) -> &'static str {
        match (s, self.ascii) {
            (Severity::Critical, false) => "✖",
            (Severity::Warning, false) => "▲",
            (Severity::Info, false) => "●",
            (Severity::Critical, true) => "X",
            (Severity::Warning, true) => "!",
            (Severity::Info, true) => "i",
        }
    }
    /// Colour for a task's cells on the swimlanes (the letter tells tasks apart too).
    pub fn task_cell(&self, task: u32) -> Style {
        const PALETTE: [Color; 6] = [
            Color::Green,
            Color::Cyan,
            Color::Blue,
            Color::LightGreen,
            Color::LightCyan,
            Color::LightBlue,
        ];
        if self.color {
            Style::default()
                .fg(Color::Black)
                .bg(PALETTE[task as usize % PALETTE.len()])
        } else {
            Style::default()
        }
    }
    /// A busy cell without a letter: how much of it was polling, as density.
    pub fn busy(&self, fill: u8) -> (&'static str, Style) {
        const UNICODE: [&str; 4] = ["░", "▒", "▓", "█"];
        const ASCII: [&str; 4] = [":", "+", "*", "#"];
        let i = usize::from(fill.clamp(1, 4) - 1);
        (
            if self.ascii { ASCII[i] } else { UNICODE[i] },
            self.fg(Color::Green),
        )
    }
    /// The glyphs of [`Theme::busy`], least to most, for the legend.
    pub fn busy_scale(&self) -> &'static str {
        if self.ascii { ":+*#" } else { "░▒▓█" }
    }
    /// A cell in a long (warning) or critical poll: the severity's colour; the poll's
    /// first cell carries the severity's glyph, so it reads without colour.
    pub fn poll_class(&self, class: PollClass) -> Option<(&'static str, Style)> {
        let sev = match class {
            PollClass::Short => return None,
            PollClass::Long => Severity::Warning,
            PollClass::Critical => Severity::Critical,
        };
        Some((self.severity_glyph(sev), self.severity(sev)))
    }
    /// Cells where the selected task ran: a colour no other cell uses (not reversed:
    /// a reversed red cell is the red block an unselected critical poll also is);
    /// reversed without colour.
    pub fn marked(&self) -> Style {
        if self.color {
            Style::default()
                .fg(Color::Black)
                .bg(Color::LightMagenta)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
    /// Density glyphs (`░▒▓█`) where the selected task ran: in the mark's colour.
    pub fn marked_shade(&self) -> Style {
        if self.color {
            Style::default()
                .fg(Color::LightMagenta)
                .add_modifier(Modifier::BOLD)
        } else {
            self.marked()
        }
    }
    /// The swimlanes' column under the cursor (the selected event's time).
    pub fn cursor_column(&self) -> Style {
        Style::default().add_modifier(Modifier::UNDERLINED | Modifier::BOLD)
    }
    pub fn parked(&self) -> (&'static str, Style) {
        (if self.ascii { "." } else { "·" }, self.dim())
    }
    pub fn running(&self) -> (&'static str, Style) {
        ("-", self.dim())
    }
    pub fn cursor(&self) -> &'static str {
        if self.ascii { "v" } else { "▼" }
    }
    /// The mark (`m`) on the swimlanes' time axis.
    pub fn mark(&self) -> &'static str {
        if self.ascii { "M" } else { "◆" }
    }
    pub fn gap(&self) -> &'static str {
        if self.ascii { "|" } else { "┆" }
    }
    pub fn bar(&self) -> char {
        if self.ascii { '=' } else { '━' }
    }
    pub fn border_set(&self) -> ratatui::symbols::border::Set<'static> {
        if self.ascii {
            ratatui::symbols::border::Set {
                top_left: "+",
                top_right: "+",
                bottom_left: "+",
                bottom_right: "+",
                vertical_left: "|",
                vertical_right: "|",
                horizontal_top: "-",
                horizontal_bottom: "-",
            }
        } else {
            ratatui::symbols::border::PLAIN
        }
    }
}
