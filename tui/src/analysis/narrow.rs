//! A column of `u64`s that nearly always fit in 32 bits (a poll's length, a wake's wait
//! in nanoseconds: over 4.3 s is rare): four bytes a value, the rare wider one in a map
//! beside it. Polls and wakes each keep one.

use rustc_hash::FxHashMap as HashMap;

/// In `values`: the value is in `wide`.
const WIDE: u32 = u32::MAX;

#[derive(Clone, Debug, Default)]
pub(crate) struct Narrow {
    values: Vec<u32>,
    wide: HashMap<u32, u64>,
}

impl Narrow {
    pub(crate) fn push(&mut self, v: u64) {
        self.values.push(0);
        self.set(self.values.len() - 1, v);
    }

    pub(crate) fn get(&self, i: usize) -> u64 {
        match self.values[i] {
            WIDE => self
                .wide
                .get(&(i as u32))
                .copied()
                .unwrap_or(u64::from(WIDE)),
            v => u64::from(v),
        }
    }

    pub(crate) fn set(&mut self, i: usize, v: u64) {
        match u32::try_from(v) {
            Ok(n) if n != WIDE => {
                if self.values[i] == WIDE {
                    self.wide.remove(&(i as u32));
                }
                self.values[i] = n;
            }
            _ => {
                self.values[i] = WIDE;
                self.wide.insert(i as u32, v);
            }
        }
    }

    /// Whether value `i` is below `limit`, without looking in the map: the common case
    /// of a pass over every value.
    pub(crate) fn below(&self, i: usize, limit: u64) -> bool {
        self.values[i] != WIDE && u64::from(self.values[i]) < limit
    }

    /// Reorders the values: the new `i`-th is the old `order[i]`; `moved` is the inverse.
    pub(crate) fn permute(&mut self, order: &[u32], moved: &[u32]) {
        self.values = order.iter().map(|&i| self.values[i as usize]).collect();
        self.wide = std::mem::take(&mut self.wide)
            .into_iter()
            .map(|(i, v)| (moved[i as usize], v))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_values_keep_their_place_through_sets_and_a_permutation() {
        let mut n = Narrow::default();
        for v in [5, u64::from(u32::MAX), 7, u64::MAX] {
            n.push(v);
        }
        assert_eq!(
            (0..4).map(|i| n.get(i)).collect::<Vec<_>>(),
            [5, u64::from(u32::MAX), 7, u64::MAX]
        );
        assert!(n.below(0, 6) && !n.below(2, 7) && !n.below(3, u64::MAX));
        n.set(3, 9);
        n.set(0, 1 << 40);
        // New order: old 3, 0, 2, 1.
        n.permute(&[3, 0, 2, 1], &[1, 3, 2, 0]);
        assert_eq!(
            (0..4).map(|i| n.get(i)).collect::<Vec<_>>(),
            [9, 1 << 40, 7, u64::from(u32::MAX)]
        );
        assert_eq!(n.wide.len(), 2);
    }
}
