//! A seeded random source with the few draws the generator needs.

use std::ops::Range;

use rand::rngs::ChaCha8Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};

/// A deterministic stream of draws: the same seed and stream name give the
/// same values on every machine (ChaCha8 is portable).
#[derive(Debug)]
pub struct Dice(ChaCha8Rng);

impl Dice {
    /// A stream for one part of the generator. Each table draws from its own
    /// stream so that changing one table's recipe leaves the others alone.
    pub fn new(seed: u64, stream: &str) -> Dice {
        let mut mixed = seed ^ 0x9e37_79b9_7f4a_7c15;
        for byte in stream.bytes() {
            mixed = (mixed ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        Dice(ChaCha8Rng::seed_from_u64(mixed))
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.0.random_bool(p.clamp(0.0, 1.0))
    }

    /// A value in `range` (which must not be empty).
    pub fn range(&mut self, range: Range<i64>) -> i64 {
        if range.is_empty() {
            return range.start;
        }
        self.0.random_range(range)
    }

    /// An index below `len` (0 when `len` is 0).
    pub fn index(&mut self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        self.0.random_range(0..len)
    }

    /// One element of a non-empty slice; the first when the slice is empty is
    /// impossible, so callers pass only non-empty slices.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        items.choose(&mut self.0).unwrap_or_else(|| &items[0])
    }

    /// A weighted choice among `(weight, value)` pairs.
    pub fn weighted<T: Copy>(&mut self, choices: &[(u32, T)]) -> T {
        let total: u32 = choices.iter().map(|(weight, _)| weight).sum();
        let mut roll = self.0.random_range(0..total.max(1));
        for &(weight, value) in choices {
            if roll < weight {
                return value;
            }
            roll -= weight;
        }
        choices[choices.len() - 1].1
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        items.shuffle(&mut self.0);
    }

    /// `count` distinct indices below `len`, in increasing order.
    pub fn sample_indices(&mut self, len: usize, count: usize) -> Vec<usize> {
        let mut picked = rand::seq::index::sample(&mut self.0, len, count.min(len)).into_vec();
        picked.sort_unstable();
        picked
    }
}

impl Dice {
    /// Labels `len` items with disjoint categories: exactly `counts[k]` items
    /// get label `k + 1`, the rest 0. (Capped at `len` in total.)
    pub fn assign(&mut self, len: usize, counts: &[usize]) -> Vec<u8> {
        let wanted: usize = counts.iter().sum();
        let mut picked = self.sample_indices(len, wanted);
        self.shuffle(&mut picked);
        let mut labels = vec![0u8; len];
        let mut cursor = picked.into_iter();
        for (category, count) in counts.iter().enumerate() {
            let label = u8::try_from(category + 1).unwrap_or(u8::MAX);
            for index in cursor.by_ref().take(*count) {
                labels[index] = label;
            }
        }
        labels
    }
}

/// Chooses exactly `wanted` items out of `total` offered one at a time, each
/// with equal chance (Knuth's selection sampling), without storing them.
#[derive(Debug)]
pub struct Selector {
    remaining_items: usize,
    remaining_wanted: usize,
}

impl Selector {
    pub fn new(total: usize, wanted: usize) -> Selector {
        Selector {
            remaining_items: total,
            remaining_wanted: wanted.min(total),
        }
    }

    /// Whether the next offered item is chosen.
    pub fn next(&mut self, dice: &mut Dice) -> bool {
        if self.remaining_items == 0 {
            return false;
        }
        let chosen = dice.index(self.remaining_items) < self.remaining_wanted;
        self.remaining_items -= 1;
        if chosen {
            self.remaining_wanted -= 1;
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_independent() {
        let a: Vec<usize> = (0..5).map(|_| Dice::new(7, "users").index(1000)).collect();
        let mut first = Dice::new(7, "users");
        let mut second = Dice::new(7, "users");
        let mut other = Dice::new(7, "journal");
        let x: Vec<usize> = (0..20).map(|_| first.index(1000)).collect();
        let y: Vec<usize> = (0..20).map(|_| second.index(1000)).collect();
        let z: Vec<usize> = (0..20).map(|_| other.index(1000)).collect();
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_eq!(a.len(), 5);
    }

    #[test]
    fn assign_labels_exact_disjoint_counts() {
        let labels = Dice::new(3, "a").assign(100, &[10, 5, 1]);
        for (label, count) in [(1u8, 10), (2, 5), (3, 1), (0, 84)] {
            assert_eq!(labels.iter().filter(|l| **l == label).count(), count);
        }
    }

    #[test]
    fn selector_picks_exactly_the_wanted_count() {
        let mut dice = Dice::new(1, "s");
        let mut selector = Selector::new(1000, 37);
        let chosen = (0..1000).filter(|_| selector.next(&mut dice)).count();
        assert_eq!(chosen, 37);
    }
}
