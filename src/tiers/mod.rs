//! Stage 6 of the data path: scores to tiers.
//!
//! - thresholds (`by: score`): levels are tried top-down and the first whose `min` the score
//!   reaches wins; the last level catches everything else;
//! - rank (`by: rank`) and ABC (`by: cumulative_share`): a row's tier depends on every other
//!   row, so they are assigned over the whole run at once ([`TierRules::assign_global`],
//!   [`global`]);
//! - a tier script names the level itself; [`TierRules::index_of`] checks the name.

pub mod global;

use crate::manifest::{GlobalCutoffs, LevelCutoff};
use crate::pipeline::{TierLevel, TierRule, Tiers};

/// The tier levels of a pipeline, ready to assign.
#[derive(Debug, Clone)]
pub struct TierRules {
    levels: Vec<TierLevel>,
    global: Option<GlobalRule>,
}

/// The whole-run rules, with the bounds of every level but the catch-all.
#[derive(Debug, Clone, PartialEq)]
enum GlobalRule {
    Rank { tops: Vec<f64> },
    CumulativeShare { uptos: Vec<f64> },
}

impl TierRules {
    /// The levels of a validated pipeline (ordered, catch-all last).
    pub fn new(tiers: &Tiers) -> Self {
        let levels = tiers.levels.clone();
        let global = match tiers.rule {
            TierRule::Rank => Some(GlobalRule::Rank {
                tops: levels.iter().filter_map(|l| l.top).collect(),
            }),
            TierRule::CumulativeShare { .. } => Some(GlobalRule::CumulativeShare {
                uptos: levels.iter().filter_map(|l| l.upto).collect(),
            }),
            TierRule::Thresholds | TierRule::Script(_) => None,
        };
        Self { levels, global }
    }

    /// The levels, highest first.
    pub fn levels(&self) -> &[TierLevel] {
        &self.levels
    }

    /// The level names, highest first (what a tier column holds).
    pub fn names(&self) -> Vec<String> {
        self.levels.iter().map(|l| l.name.clone()).collect()
    }

    /// Whether tiers are assigned over the whole run ([`TierRules::assign_global`]).
    pub fn is_global(&self) -> bool {
        self.global.is_some()
    }

    /// The index of the threshold level a score falls in.
    pub fn assign(&self, score: f64) -> usize {
        self.levels
            .iter()
            .position(|level| level.min.is_none_or(|min| score >= min))
            .unwrap_or(self.levels.len() - 1)
    }

    /// The index of the level a tier script named, if it is one.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.levels.iter().position(|l| l.name == name)
    }

    /// Rank or ABC tiers for every row of the run at once: `values` are the scores (or the
    /// `of` column), in run order, `None` for rejected rows (which get no tier). Taken by
    /// value: ABC tiers sort them in their own memory.
    pub fn assign_global(
        &self,
        values: Vec<Option<f64>>,
    ) -> Result<(global::RowLevels, GlobalCutoffs), String> {
        let population = values.iter().filter(|v| v.is_some()).count() as u64;
        let (tiers, total, cutoffs) = match &self.global {
            Some(GlobalRule::Rank { tops }) => {
                let (tiers, cutoffs) = global::tiers_by_rank(&values, tops)?;
                (tiers, None, cutoffs)
            }
            Some(GlobalRule::CumulativeShare { uptos }) => {
                let (tiers, total, cutoffs) = global::tiers_by_cumulative_share(values, uptos)?;
                (tiers, Some(total), cutoffs)
            }
            None => return Err("these tiers are not assigned over the whole run".into()),
        };
        let levels = self
            .levels
            .iter()
            .zip(cutoffs)
            .map(|(level, cut)| LevelCutoff {
                name: level.name.clone(),
                count: cut.count as u64,
                highest: cut.highest,
                lowest: cut.lowest,
            })
            .collect();
        Ok((
            tiers,
            GlobalCutoffs {
                population,
                total,
                levels,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(name: &str, min: Option<f64>, top: Option<f64>, upto: Option<f64>) -> TierLevel {
        TierLevel {
            name: name.into(),
            min,
            top,
            upto,
        }
    }

    #[test]
    fn first_reached_threshold_wins_and_the_last_catches_all() {
        let rules = TierRules::new(&Tiers {
            rule: TierRule::Thresholds,
            levels: vec![
                level("strategic", Some(75.0), None, None),
                level("key", Some(50.0), None, None),
                level("loss_making", None, None, None),
            ],
        });
        assert_eq!(rules.assign(75.0), 0);
        assert_eq!(rules.assign(74.999), 1);
        assert_eq!(rules.assign(50.0), 1);
        assert_eq!(rules.assign(49.9), 2);
        assert_eq!(rules.assign(-1e9), 2);
        assert!(!rules.is_global());
        assert_eq!(rules.index_of("key"), Some(1));
        assert_eq!(rules.index_of("gold"), None);
    }

    #[test]
    fn rank_tiers_count_from_the_top_and_skip_rejected_rows() {
        let rules = TierRules::new(&Tiers {
            rule: TierRule::Rank,
            levels: vec![
                level("A", None, Some(0.2), None),
                level("B", None, Some(0.5), None),
                level("C", None, None, None),
            ],
        });
        let scores: Vec<Option<f64>> = [5.0, 9.0, 1.0, 7.0, 3.0, 8.0, 2.0, 6.0, 4.0, 0.0]
            .into_iter()
            .map(Some)
            .chain([None])
            .collect();
        let (tiers, cutoffs) = rules.assign_global(scores).unwrap();
        // Ranked: 9 8 | 7 6 5 | 4 3 2 1 0
        assert_eq!(
            tiers,
            vec![
                Some(1),
                Some(0),
                Some(2),
                Some(1),
                Some(2),
                Some(0),
                Some(2),
                Some(1),
                Some(2),
                Some(2),
                None
            ]
        );
        assert_eq!(cutoffs.population, 10);
        assert_eq!(
            cutoffs.levels[1],
            LevelCutoff {
                name: "B".into(),
                count: 3,
                highest: Some(7.0),
                lowest: Some(5.0)
            }
        );
    }

    #[test]
    fn abc_tiers_follow_the_cumulative_share() {
        let rules = TierRules::new(&Tiers {
            rule: TierRule::CumulativeShare { of: None },
            levels: vec![
                level("A", None, None, Some(0.8)),
                level("B", None, None, Some(0.95)),
                level("C", None, None, None),
            ],
        });
        // total 100: shares 0.5, 0.8, 0.9, 0.95, 1.0 for 50, 30, 10, 5, 5
        let values = [Some(5.0), Some(50.0), Some(10.0), Some(30.0), Some(5.0)];
        let (tiers, cutoffs) = rules.assign_global(values.to_vec()).unwrap();
        assert_eq!(tiers, vec![Some(1), Some(0), Some(1), Some(0), Some(2)]);
        assert_eq!(cutoffs.total, Some(100.0));
    }
}
