//! What `tierscore diff` reports: plain, serialisable figures the command prints or writes as
//! JSON.

use indexmap::IndexMap;
use serde::Serialize;

use super::keys::Key;

/// One output in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputSummary {
    /// The directory as given on the command line.
    pub path: String,
    /// The run that wrote it (from its manifest).
    pub run_id: String,
    /// Customers (scored rows) in the output.
    pub rows: u64,
}

/// One non-empty cell of the tier migration matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The old tier.
    pub from: String,
    /// The new tier.
    pub to: String,
    /// Customers in both outputs with these tiers.
    pub count: u64,
}

/// Customers on one side only: how many, and the first ids in ascending order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OneSided {
    /// Customers in that output only.
    pub count: u64,
    /// The smallest of their ids, at most `--top`, ascending.
    pub ids: Vec<Key>,
}

/// Scores of the customers in both outputs, grouped by their old tier (or all of them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shift {
    /// The old tier; `None` for the row over all customers in both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Customers in both outputs in the group.
    pub count: u64,
    /// Mean old score; `None` (like the other means) when `count` is 0.
    pub mean_old: Option<f64>,
    /// Mean new score.
    pub mean_new: Option<f64>,
    /// Mean of new − old score.
    pub mean_shift: Option<f64>,
}

/// A customer whose score changed among the most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    /// The customer.
    pub id: Key,
    /// Score in the old output.
    pub old_score: f64,
    /// Score in the new output.
    pub new_score: f64,
    /// `new_score - old_score`.
    pub change: f64,
    /// Tier in the old output.
    pub old_tier: String,
    /// Tier in the new output.
    pub new_tier: String,
    /// New minus old value of each factor both outputs have (`None` where one is null).
    pub factor_changes: IndexMap<String, Option<f64>>,
}

/// Everything `tierscore diff` reports; serialised as-is for `--format json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// `OLD_OUT`.
    pub old: OutputSummary,
    /// `NEW_OUT`.
    pub new: OutputSummary,
    /// The id column customers are matched by (`output.id` of both manifests).
    pub id_column: String,
    /// The new output's levels in order, then tiers only the old one has.
    pub tiers: Vec<String>,
    /// Every non-zero cell, old tier (`from`) by new tier (`to`), in tier order.
    pub matrix: Vec<Cell>,
    /// `matrix_rows[old][new]`: customers in both, indexed like `tiers`.
    pub matrix_rows: Vec<Vec<u64>>,
    /// Customers the new output lacks.
    pub only_in_old: OneSided,
    /// Customers the old output lacks.
    pub only_in_new: OneSided,
    /// One entry per old tier, in tier order.
    pub score_shift: Vec<Shift>,
    /// Over every customer in both.
    pub score_shift_all: Shift,
    /// By |change| descending, ties by id ascending; only customers whose score changed.
    pub top_movers: Vec<Mover>,
    /// Factors both outputs have, in the new output's order.
    pub factors: Vec<String>,
    /// Factors only the new output has, in its order.
    pub factors_added: Vec<String>,
    /// Factors only the old output has, in its order.
    pub factors_removed: Vec<String>,
    /// What changed between the runs: params, weights, rules by hash, tiers.
    pub changes: Vec<super::changes::Change>,
}
