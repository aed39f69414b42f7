//! Stage 6 of the data path: scores to tiers.
//!
//! Threshold tiers: levels are tried top-down and the first whose `min` the score reaches wins;
//! the last level has no `min` and catches everything else (a loss-making tier, typically).

use serde::Serialize;

use crate::pipeline::Tiers;

/// The tier levels of a pipeline, ready to assign.
#[derive(Debug, Clone)]
pub struct TierRules {
    levels: Vec<Level>,
}

/// One level as recorded in the manifest: its name and the score it starts at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Level {
    pub name: String,
    /// `None` on the catch-all level.
    pub min: Option<f64>,
}

impl TierRules {
    /// The levels of a validated pipeline (ordered, catch-all last).
    pub fn new(tiers: &Tiers) -> Self {
        Self {
            levels: tiers
                .levels
                .iter()
                .map(|l| Level {
                    name: l.name.clone(),
                    min: l.min,
                })
                .collect(),
        }
    }

    /// The levels, highest first.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// The index of the level a score falls in.
    pub fn assign(&self, score: f64) -> usize {
        self.levels
            .iter()
            .position(|level| level.min.is_none_or(|min| score >= min))
            .unwrap_or(self.levels.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::TierLevel;

    #[test]
    fn first_reached_threshold_wins_and_the_last_catches_all() {
        let rules = TierRules::new(&Tiers {
            levels: vec![
                TierLevel {
                    name: "strategic".into(),
                    min: Some(75.0),
                },
                TierLevel {
                    name: "key".into(),
                    min: Some(50.0),
                },
                TierLevel {
                    name: "loss_making".into(),
                    min: None,
                },
            ],
        });
        assert_eq!(rules.assign(75.0), 0);
        assert_eq!(rules.assign(74.999), 1);
        assert_eq!(rules.assign(50.0), 1);
        assert_eq!(rules.assign(49.9), 2);
        assert_eq!(rules.assign(-1e9), 2);
        assert_eq!(rules.levels()[2].name, "loss_making");
    }
}
