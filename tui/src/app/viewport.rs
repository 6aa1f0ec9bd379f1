//! The time range the swimlanes show: kept inside the dump's window, at least 1 µs wide.

use crate::analysis::Index;

/// Narrowest zoom: below this a column would be shorter than the clock's resolution.
const MIN_SPAN_NS: u64 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewport {
    start: u64,
    end: u64,
}

impl Viewport {
    /// The whole dump.
    pub(super) fn whole(ix: &Index) -> Viewport {
        Viewport {
            start: ix.start_ns,
            end: ix.end_ns.max(ix.start_ns.saturating_add(1)),
        }
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    pub fn span(&self) -> u64 {
        self.end - self.start
    }

    pub fn contains(&self, ts: u64) -> bool {
        ts >= self.start && ts < self.end
    }

    /// Shows `span` ns from `start`, moved back inside the dump's window if needed.
    pub(super) fn show(&mut self, ix: &Index, start: u64, span: u64) {
        let latest = ix.end_ns.saturating_sub(span).max(ix.start_ns);
        self.start = start.max(ix.start_ns).min(latest);
        self.end = self.start.saturating_add(span);
    }

    /// Keeps the zoom and centres on `ts` if it is out of view.
    pub(super) fn follow(&mut self, ix: &Index, ts: u64) {
        if !self.contains(ts) {
            let span = self.span();
            self.show(ix, ts.saturating_sub(span / 2), span);
        }
    }

    /// Halves or doubles the span around `cursor`.
    pub(super) fn zoom(&mut self, ix: &Index, cursor: u64, zoom_in: bool) {
        let span = self.span();
        let new_span = if zoom_in {
            (span / 2).max(MIN_SPAN_NS)
        } else {
            span.saturating_mul(2).min(ix.window_ns().max(1))
        };
        self.show(ix, cursor.saturating_sub(new_span / 2), new_span);
    }

    /// Moves a quarter of the span left or right.
    pub(super) fn pan(&mut self, ix: &Index, right: bool) {
        let span = self.span();
        let step = (span / 4).max(1);
        let start = if right {
            self.start.saturating_add(step)
        } else {
            self.start.saturating_sub(step)
        };
        self.show(ix, start, span);
    }
}
