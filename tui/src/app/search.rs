//! The task search box: the query, its ranked matches, and the highlighted one.

use fuzzy_matcher::FuzzyMatcher;
use fuzzy_matcher::skim::SkimMatcherV2;

use crate::analysis::index::TaskIdx;

/// Matches listed at most (the box shows a screenful; the rest would never be reached).
const MAX_HITS: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchHit {
    pub task: TaskIdx,
    pub score: i64,
    /// Char positions in the task's search text that matched.
    pub matched: Vec<usize>,
}

#[derive(Clone, Debug, Default)]
pub struct Search {
    query: String,
    hits: Vec<SearchHit>,
    selected: usize,
}

impl Search {
    pub fn query(&self) -> &str {
        &self.query
    }

    pub fn hits(&self) -> &[SearchHit] {
        &self.hits
    }

    /// Index of the highlighted match.
    pub fn selected(&self) -> usize {
        self.selected
    }

    pub fn selected_hit(&self) -> Option<&SearchHit> {
        self.hits.get(self.selected)
    }

    /// Adds `c` to the query and ranks `texts` (one per task) against it.
    pub(super) fn type_char(&mut self, c: char, texts: &[String]) {
        self.query.push(c);
        self.rerank(texts);
    }

    pub(super) fn backspace(&mut self, texts: &[String]) {
        self.query.pop();
        self.rerank(texts);
    }

    pub(super) fn up(&mut self) {
        self.selected = self.selected.saturating_sub(1);
    }

    pub(super) fn down(&mut self) {
        if self.selected + 1 < self.hits.len() {
            self.selected += 1;
        }
    }

    fn rerank(&mut self, texts: &[String]) {
        self.hits = rank(texts, &self.query);
        self.selected = 0;
    }
}

/// Ranks every task's text against `query` (fuzzy, smart case), best first.
pub fn rank(texts: &[String], query: &str) -> Vec<SearchHit> {
    if query.is_empty() {
        return Vec::new();
    }
    let matcher = SkimMatcherV2::default().smart_case();
    let mut hits: Vec<SearchHit> = texts
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
    hits.truncate(MAX_HITS);
    hits
}
