//! The anomaly list's rows: one a group (a cause: one kind at one spawn site or name
//! family), and under the one group opened, its occurrences. A cause with a hundred
//! occurrences is one row, so the causes after it (a victim's delays) reach the first
//! screen; rows are counted, not built, since a group can have a hundred thousand.

use crate::analysis::groups::Group;

/// One row of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    /// Group `g`.
    Group(usize),
    /// Anomaly `a` (an index into `Index::anomalies`), under its open group.
    Member(usize),
}

/// The rows of `groups` with group `open` (if any) showing its members.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    pub groups: &'a [Group],
    pub open: Option<usize>,
}

impl Rows<'_> {
    /// Members shown under the open group (none for a group of one: its row is it).
    fn shown(&self) -> usize {
        self.open
            .and_then(|g| self.groups.get(g))
            .map_or(0, |g| if g.count() > 1 { g.count() } else { 0 })
    }

    pub fn len(&self) -> usize {
        self.groups.len() + self.shown()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// What row `r` is.
    pub fn at(&self, r: usize) -> Option<Row> {
        if r >= self.len() {
            return None;
        }
        let shown = self.shown();
        match self.open {
            Some(g) if shown > 0 && r > g && r <= g + shown => {
                Some(Row::Member(self.groups[g].range().start + (r - g - 1)))
            }
            Some(g) if shown > 0 && r > g + shown => Some(Row::Group(r - shown)),
            _ => Some(Row::Group(r)),
        }
    }

    /// The row showing `row`: a group's row, or a member's when its group is open.
    pub fn index_of(&self, row: Row) -> usize {
        let shown = self.shown();
        let after_open = |g: usize| match self.open {
            Some(o) if g > o => shown,
            _ => 0,
        };
        match row {
            Row::Group(g) => g + after_open(g),
            Row::Member(a) => {
                let g = group_of(self.groups, a);
                if self.open == Some(g) && shown > 0 {
                    g + 1 + (a - self.groups[g].range().start)
                } else {
                    g + after_open(g)
                }
            }
        }
    }
}

/// The group anomaly `a` belongs to (groups hold consecutive anomalies, in order).
pub fn group_of(groups: &[Group], a: usize) -> usize {
    groups
        .partition_point(|g| g.range().end <= a)
        .min(groups.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnomalyKind, Severity};

    fn groups(sizes: &[usize]) -> Vec<Group> {
        let mut at = 0;
        sizes
            .iter()
            .map(|&n| {
                let g = Group {
                    kind: AnomalyKind::LongPoll,
                    severity: Severity::Critical,
                    subject: String::new(),
                    task: None,
                    tasks: 1,
                    members: (at..at + n).collect(),
                    total: 0,
                    worst: 0,
                    is_dump_cause: false,
                    host_contention: false,
                    looks: None,
                };
                at += n;
                g
            })
            .collect()
    }

    /// Every row maps to what it shows and back, with any group open.
    #[test]
    fn rows_and_what_they_show_map_both_ways() {
        let gs = groups(&[3, 1, 4, 1]);
        let closed = Rows {
            groups: &gs,
            open: None,
        };
        assert_eq!(closed.len(), 4);
        assert_eq!(closed.at(2), Some(Row::Group(2)));
        assert_eq!(
            closed.index_of(Row::Member(5)),
            2,
            "a closed group's member is its group's row"
        );
        let open = Rows {
            groups: &gs,
            open: Some(2),
        };
        assert_eq!(open.len(), 8);
        let all: Vec<Row> = (0..open.len()).filter_map(|r| open.at(r)).collect();
        use Row::*;
        assert_eq!(
            all,
            [
                Group(0),
                Group(1),
                Group(2),
                Member(4),
                Member(5),
                Member(6),
                Member(7),
                Group(3)
            ]
        );
        for (r, &row) in all.iter().enumerate() {
            assert_eq!(open.index_of(row), r, "{row:?}");
        }
        assert_eq!(open.at(8), None);
        // A group of one opens to nothing: its row is its anomaly.
        let one = Rows {
            groups: &gs,
            open: Some(1),
        };
        assert_eq!(one.len(), 4);
        assert_eq!(one.index_of(Member(3)), 1);
        assert_eq!(group_of(&gs, 0), 0);
        assert_eq!(group_of(&gs, 3), 1);
        assert_eq!(group_of(&gs, 8), 3);
    }
}
