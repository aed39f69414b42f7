//! The join: the old output indexed by id, the new one streamed against it, into the
//! migration matrix, score shifts and top movers.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use super::keys::Key;
use super::report::{Cell, Mover, OneSided, Shift};

/// An old row in the index.
#[derive(Debug, Clone, Copy)]
struct OldRow {
    score: f64,
    tier: usize,
    matched: bool,
}

/// Running sums of the customers in both, per old tier.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    count: u64,
    old: f64,
    new: f64,
}

impl Sums {
    fn add(&mut self, old: f64, new: f64) {
        self.count += 1;
        self.old += old;
        self.new += new;
    }

    fn shift(&self, tier: Option<String>) -> Shift {
        let mean = |sum: f64| (self.count > 0).then(|| sum / self.count as f64);
        Shift {
            tier,
            count: self.count,
            mean_old: mean(self.old),
            mean_new: mean(self.new),
            mean_shift: mean(self.new - self.old),
        }
    }
}

/// A mover candidate; orders "worse" as greater so a max-heap evicts the least interesting.
#[derive(Debug)]
struct Candidate {
    key: Key,
    old_score: f64,
    new_score: f64,
    old_tier: usize,
    new_tier: usize,
    factor_changes: Vec<f64>,
}

impl Candidate {
    fn rank(&self) -> (f64, &Key) {
        ((self.new_score - self.old_score).abs(), &self.key)
    }
}

/// Bigger |change| first, then smaller id: `Less` means `a` ranks before `b`.
fn by_rank(a: (f64, &Key), b: (f64, &Key)) -> Ordering {
    b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1))
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        by_rank(self.rank(), other.rank())
    }
}

/// The join itself: index the old side, then feed the new side row by row.
#[derive(Debug)]
pub(super) struct Join {
    factor_count: usize,
    top: usize,
    index: HashMap<Key, usize>,
    old: Vec<OldRow>,
    /// Row-major factor values of the old rows.
    old_factors: Vec<f64>,
    only_new: HashSet<Key>,
    /// `matrix[old tier][new tier]`, grown as tiers appear.
    matrix: Vec<Vec<u64>>,
    sums: Vec<Sums>,
    all: Sums,
    movers: BinaryHeap<Candidate>,
}

/// The join's figures, with tier indices resolved to names.
pub(super) struct JoinReport {
    pub(super) matrix: Vec<Cell>,
    pub(super) matrix_rows: Vec<Vec<u64>>,
    pub(super) only_in_old: OneSided,
    pub(super) only_in_new: OneSided,
    pub(super) score_shift: Vec<Shift>,
    pub(super) score_shift_all: Shift,
    pub(super) top_movers: Vec<Mover>,
}

impl Join {
    pub(super) fn new(factor_count: usize, top: usize) -> Self {
        Self {
            factor_count,
            top,
            index: HashMap::new(),
            old: Vec::new(),
            old_factors: Vec::new(),
            only_new: HashSet::new(),
            matrix: Vec::new(),
            sums: Vec::new(),
            all: Sums::default(),
            movers: BinaryHeap::new(),
        }
    }

    /// Makes room for the old side's rows up front (its manifest's count), so the index does
    /// not grow by doubling; when that much memory is not there, growing is left to inserts.
    pub(super) fn reserve(&mut self, rows: u64) {
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        let _ = self.index.try_reserve(rows);
        let _ = self.old.try_reserve_exact(rows);
        let _ = self
            .old_factors
            .try_reserve_exact(rows.saturating_mul(self.factor_count));
    }

    /// Adds an old row; `Err` gives back an id met before.
    pub(super) fn index_old(
        &mut self,
        key: Key,
        score: f64,
        tier: usize,
        factors: &[f64],
    ) -> Result<(), Key> {
        if self.index.contains_key(&key) {
            return Err(key);
        }
        self.index.insert(key, self.old.len());
        self.old.push(OldRow {
            score,
            tier,
            matched: false,
        });
        self.old_factors.extend_from_slice(factors);
        Ok(())
    }

    /// Joins a new row; `Err` gives back an id met before on the new side.
    pub(super) fn add_new(
        &mut self,
        key: &Key,
        score: f64,
        tier: usize,
        factors: &[f64],
    ) -> Result<(), Key> {
        let Some(&at) = self.index.get(key) else {
            return if self.only_new.insert(key.clone()) {
                Ok(())
            } else {
                Err(key.clone())
            };
        };
        let old = &mut self.old[at];
        if old.matched {
            return Err(key.clone());
        }
        old.matched = true;
        let old = *old;
        let size = old.tier.max(tier) + 1;
        if self.matrix.len() < size {
            self.matrix.resize(size, Vec::new());
            self.sums.resize(size, Sums::default());
        }
        let row = &mut self.matrix[old.tier];
        if row.len() <= tier {
            row.resize(tier + 1, 0);
        }
        row[tier] += 1;
        self.sums[old.tier].add(old.score, score);
        self.all.add(old.score, score);

        if self.top == 0 {
            return Ok(());
        }
        let change = (score - old.score).abs();
        if self.movers.len() == self.top {
            let worst = self.movers.peek().map(Candidate::rank);
            if worst.is_some_and(|worst| by_rank((change, key), worst) != Ordering::Less) {
                return Ok(());
            }
            self.movers.pop();
        }
        let before = &self.old_factors[at * self.factor_count..(at + 1) * self.factor_count];
        self.movers.push(Candidate {
            key: key.clone(),
            old_score: old.score,
            new_score: score,
            old_tier: old.tier,
            new_tier: tier,
            factor_changes: factors.iter().zip(before).map(|(n, o)| n - o).collect(),
        });
        Ok(())
    }

    /// Old tiers of the rows indexed so far (matched or not).
    pub(super) fn old_tiers_seen(&self) -> impl Iterator<Item = usize> + '_ {
        let mut seen = vec![false; self.old.iter().map(|r| r.tier + 1).max().unwrap_or(0)];
        for row in &self.old {
            seen[row.tier] = true;
        }
        seen.into_iter()
            .enumerate()
            .filter(|(_, s)| *s)
            .map(|(t, _)| t)
    }

    /// Resolves the figures; `shift_tiers` are the old tiers to report shifts for, in order.
    pub(super) fn finish(
        self,
        tiers: &[String],
        shift_tiers: &[usize],
        factors: &[String],
    ) -> JoinReport {
        let n = tiers.len();
        let matrix_rows: Vec<Vec<u64>> = (0..n)
            .map(|from| {
                (0..n)
                    .map(|to| {
                        self.matrix
                            .get(from)
                            .and_then(|row| row.get(to))
                            .copied()
                            .unwrap_or(0)
                    })
                    .collect()
            })
            .collect();
        let matrix = matrix_rows
            .iter()
            .enumerate()
            .flat_map(|(from, row)| {
                row.iter()
                    .enumerate()
                    .filter(|(_, &count)| count > 0)
                    .map(move |(to, &count)| Cell {
                        from: tiers[from].clone(),
                        to: tiers[to].clone(),
                        count,
                    })
            })
            .collect();
        let mut only_old: Vec<&Key> = self
            .index
            .iter()
            .filter(|(_, &at)| !self.old[at].matched)
            .map(|(key, _)| key)
            .collect();
        only_old.sort_unstable();
        let only_in_old = OneSided {
            count: only_old.len() as u64,
            ids: only_old.into_iter().take(self.top).cloned().collect(),
        };
        let mut only_new: Vec<Key> = self.only_new.into_iter().collect();
        only_new.sort_unstable();
        let only_in_new = OneSided {
            count: only_new.len() as u64,
            ids: only_new.into_iter().take(self.top).collect(),
        };
        let score_shift = shift_tiers
            .iter()
            .map(|&t| {
                self.sums
                    .get(t)
                    .copied()
                    .unwrap_or_default()
                    .shift(Some(tiers[t].clone()))
            })
            .collect();
        // Only customers whose score moved: identical outputs list none.
        let top_movers = self
            .movers
            .into_sorted_vec()
            .into_iter()
            .filter(|c| c.new_score != c.old_score)
            .map(|c| Mover {
                change: c.new_score - c.old_score,
                old_score: c.old_score,
                new_score: c.new_score,
                old_tier: tiers[c.old_tier].clone(),
                new_tier: tiers[c.new_tier].clone(),
                factor_changes: factors
                    .iter()
                    .zip(&c.factor_changes)
                    .map(|(name, &d)| (name.clone(), (!d.is_nan()).then_some(d)))
                    .collect(),
                id: c.key,
            })
            .collect();
        JoinReport {
            matrix,
            matrix_rows,
            only_in_old,
            only_in_new,
            score_shift,
            score_shift_all: self.all.shift(None),
            top_movers,
        }
    }
}
