//! Styles and glyphs. Colour is never the only signal: every coloured thing also has a
//! glyph or text, so `NO_COLOR` and `--no-color` lose nothing; `--ascii` swaps the
//! Unicode glyphs for ASCII ones. Only the 16 basic colours are used.

use ratatui::style::{Color, Modifier, Style};

use crate::analysis::Severity;
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
            Color::Magenta,
            Color::Blue,
            Color::LightGreen,
            Color::LightCyan,
        ];
        if self.color {
            Style::default()
                .fg(Color::Black)
                .bg(PALETTE[task as usize % PALETTE.len()])
        } else {
            Style::default()
        }
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
