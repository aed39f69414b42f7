//! `tiers:`, validated: thresholds on the score, rank shares, ABC by cumulative share, or a
//! script that names the tier.

use std::path::Path;

use super::spec::{LevelSpec, TierBy, TiersSpec};
use super::{join_clean, Checker, RuleSource};
use crate::diagnostic::codes;
use crate::human;

/// How rows are put into tiers.
#[derive(Debug, Clone)]
pub enum TierRule {
    /// The first level whose `min` the score reaches (levels highest first).
    Thresholds,
    /// Rows ordered by score descending (ties by input order); row i (0-based) gets the first
    /// level whose `top × n > i`.
    Rank,
    /// A row gets the first level whose `upto` is at least its cumulative share of the total
    /// score, or of the column `of`.
    CumulativeShare { of: Option<String> },
    /// A script returning one of the level names.
    Script(RuleSource),
}

impl TierRule {
    /// Whether tiers can only be assigned once every row is scored (a second pass).
    pub fn is_global(&self) -> bool {
        matches!(self, TierRule::Rank | TierRule::CumulativeShare { .. })
    }
}

/// The tiers of a pipeline.
#[derive(Debug, Clone)]
pub struct Tiers {
    pub rule: TierRule,
    pub levels: Vec<TierLevel>,
}

impl Tiers {
    /// The levels' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.levels.iter().map(|level| level.name.clone()).collect()
    }
}

/// One tier level; its bound (`min`, `top` or `upto`, by the rule) is `None` on the last,
/// catch-all level and on every level of a script.
#[derive(Debug, Clone, PartialEq)]
pub struct TierLevel {
    pub name: String,
    pub min: Option<f64>,
    pub top: Option<f64>,
    pub upto: Option<f64>,
}

/// Reads the bound a rule uses off a level.
type BoundOf = fn(&LevelSpec) -> Option<f64>;

impl Checker<'_> {
    /// Validates `tiers:` for its rule: names usable as folders and unique, bounds in order, a
    /// catch-all last (except for scripts, which name their level).
    pub(super) fn tiers(&mut self, spec: &TiersSpec, dir: &Path) -> Tiers {
        let rule = match (spec.by, &spec.script) {
            (Some(_), Some(_)) => {
                self.error(
                    codes::pipeline::TIERS,
                    "tiers.script",
                    "`tiers` has both `by` and `script`".into(),
                    "keep one: a script names the tier itself",
                );
                TierRule::Thresholds
            }
            (_, Some(script)) => TierRule::Script(RuleSource::Script(join_clean(dir, script))),
            (Some(TierBy::Rank), None) => TierRule::Rank,
            (Some(TierBy::CumulativeShare), None) => TierRule::CumulativeShare {
                of: spec.of.clone(),
            },
            (Some(TierBy::Score) | None, None) => TierRule::Thresholds,
        };
        if spec.of.is_some() && !matches!(rule, TierRule::CumulativeShare { .. }) {
            self.error(
                codes::pipeline::TIERS,
                "tiers.of",
                "`tiers.of` only applies to `by: cumulative_share`".into(),
                "remove it",
            );
        }
        let levels = &spec.levels;
        if levels.is_empty() {
            self.error(
                codes::pipeline::TIERS,
                "tiers.levels",
                "`tiers.levels` is empty".into(),
                "list levels from the highest down, ending with a catch-all such as `{ name: general }`",
            );
        }
        if levels.len() > MAX_TIER_LEVELS {
            self.error(
                codes::pipeline::TOO_MANY_TIERS,
                &format!("tiers.levels[{MAX_TIER_LEVELS}]"),
                format!(
                    "`tiers.levels` lists {} levels, more than {MAX_TIER_LEVELS}",
                    human::count(levels.len() as u64)
                ),
                "tiers are the groups customers are served by, a few at most; for a finer order \
                 use the score, or `by: rank` with fewer levels",
            );
        }
        // Names seen so far: looked up, not compared with every level before (100,000 levels
        // took a minute to check).
        let mut seen = std::collections::HashSet::with_capacity(levels.len());
        for (i, level) in levels.iter().enumerate() {
            let key = format!("tiers.levels[{i}]");
            if !is_path_safe(&level.name) {
                self.error(
                    codes::pipeline::TIER_NAME,
                    &format!("{key}.name"),
                    format!("tier name `{}` cannot name an output folder", level.name),
                    "use letters, digits, `_` and `-` only (it becomes `tier=NAME/`)",
                );
            } else if level.name.len() > MAX_TIER_NAME_BYTES {
                self.error(
                    codes::pipeline::TIER_NAME,
                    &format!("{key}.name"),
                    format!(
                        "tier name `{}…` is {} bytes long, more than {MAX_TIER_NAME_BYTES}",
                        level.name.chars().take(20).collect::<String>(),
                        level.name.len()
                    ),
                    "use a shorter name (it becomes the folder `tier=NAME/`)",
                );
            }
            if !seen.insert(level.name.as_str()) {
                self.error(
                    codes::pipeline::TIER_NAME,
                    &format!("{key}.name"),
                    format!("tier `{}` is listed twice", level.name),
                    "tier names must be unique",
                );
            }
            self.level_bounds(&rule, levels, i);
        }
        Tiers {
            rule,
            levels: levels
                .iter()
                .map(|l| TierLevel {
                    name: l.name.clone(),
                    min: l.min,
                    top: l.top,
                    upto: l.upto,
                })
                .collect(),
        }
    }

    /// The bound a level needs under its rule, present, in range and in order.
    fn level_bounds(&mut self, rule: &TierRule, levels: &[LevelSpec], i: usize) {
        let level = &levels[i];
        let key = format!("tiers.levels[{i}]");
        let (bound, name, pick): (&str, &str, BoundOf) = match rule {
            TierRule::Thresholds => ("min", "score threshold", |l| l.min),
            TierRule::Rank => ("top", "share of customers from the top", |l| l.top),
            TierRule::CumulativeShare { .. } => ("upto", "cumulative share", |l| l.upto),
            TierRule::Script(_) => ("", "", |_| None),
        };
        for (other, value) in [("min", level.min), ("top", level.top), ("upto", level.upto)] {
            if value.is_some() && other != bound {
                let help = match rule {
                    TierRule::Script(_) => {
                        "a tier script names the level; levels list the allowed names only"
                            .to_string()
                    }
                    _ => format!("levels of this rule take `{bound}` ({name})"),
                };
                self.error(
                    codes::pipeline::TIER_BOUND,
                    &format!("{key}.{other}"),
                    format!(
                        "tier `{}` has `{other}`, which this rule does not use",
                        level.name
                    ),
                    &help,
                );
            }
        }
        if bound.is_empty() {
            return;
        }
        let last = i + 1 == levels.len();
        match (pick(level), last) {
            (None, false) => self.error(
                codes::pipeline::TIER_CATCH_ALL,
                &key,
                format!("tier `{}` has no `{bound}` but is not the last level", level.name),
                &format!("only the last level may omit `{bound}`; it catches every row the others do not"),
            ),
            (Some(_), true) => self.error(
                codes::pipeline::TIER_CATCH_ALL,
                &format!("{key}.{bound}"),
                format!("the last tier `{}` has a `{bound}`, so some rows would match no tier", level.name),
                "end with a catch-all level without a bound, e.g. `{ name: loss_making }`",
            ),
            (Some(value), false) => {
                let in_range = match rule {
                    TierRule::Thresholds => value.is_finite(),
                    _ => value > 0.0 && value <= 1.0,
                };
                if !in_range {
                    self.error(
                        codes::pipeline::TIER_ORDER,
                        &format!("{key}.{bound}"),
                        format!("tier `{}` has {bound} {value}", level.name),
                        if matches!(rule, TierRule::Thresholds) {
                            "a threshold is a finite number"
                        } else {
                            "a share is above 0 and at most 1"
                        },
                    );
                }
                let previous = levels[..i].iter().rev().find_map(|l| pick(l).map(|v| (l, v)));
                if let Some((above, before)) = previous {
                    let wrong = match rule {
                        TierRule::Thresholds => value >= before,
                        _ => value <= before,
                    };
                    if wrong {
                        let (relation, order) = match rule {
                            TierRule::Thresholds => ("is not below", "from the highest `min` down"),
                            _ => ("is not above", "with growing shares"),
                        };
                        self.error(
                            codes::pipeline::TIER_ORDER,
                            &format!("{key}.{bound}"),
                            format!(
                                "tier `{}` ({bound} {value}) {relation} tier `{}` ({bound} {before})",
                                level.name, above.name
                            ),
                            &format!("levels are tried top-down and the first match wins: list them {order}"),
                        );
                    }
                }
            }
            (None, true) => {}
        }
    }
}

/// The most levels `tiers.levels` may list. Each tier keeps exact sums over 4,096 cells (64 KiB
/// a thread) and a file of its own: 100,000 levels took 7.2 GB for 2,000 rows. Tiers are the
/// groups customers are served by; percentiles need 100.
pub const MAX_TIER_LEVELS: usize = 256;

/// The longest tier name, in bytes: `tier=NAME` must be a valid file name (255 bytes on
/// common file systems) with room to spare.
pub const MAX_TIER_NAME_BYTES: usize = 100;

fn is_path_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}
