//! The ranking pass, between the derive pass and scoring, for what depends on every row:
//! factors normalised over the population (`score.normalize`) and rank or ABC tiers.
//!
//! It scores every row once, keeping only a few numbers a row (each factor's value when
//! normalising, and the score or `tiers.of` value when ranking); then factors are normalised,
//! scores recomputed from them, and tiers assigned. The writing pass scores again and takes these
//! per-row results by position in the run ([`Ranking::for_rows`]), so memory stays at a few
//! bytes a row and no copy of the input is kept.

use arrow::array::Array;

use crate::derive::{append_numbers, Population};
use crate::manifest::{GlobalCutoffs, Normalization, Spread};
use crate::pipeline::{yaml_name, Normalize, Pipeline, TierRule};
use crate::plan::Plan;
use crate::score::Ranked;
use crate::source::Scan;
use crate::stats;

use super::{ExecError, RejectBudget};

/// The per-row results of the ranking pass, in run order.
#[derive(Debug, Default)]
pub struct Ranking {
    /// Per factor, its normalised value for every row (`None` for rejected rows).
    normalized: Option<Vec<Vec<Option<f64>>>>,
    /// Every row's tier under a rank or ABC rule.
    tiers: Option<Vec<Option<usize>>>,
    /// What normalisation used, per factor.
    pub normalization: Vec<Normalization>,
    /// Where each rank or ABC level ends.
    pub cutoffs: Option<GlobalCutoffs>,
}

impl Ranking {
    /// Whether a pipeline needs the ranking pass.
    pub fn needed(pipeline: &Pipeline) -> bool {
        pipeline.normalize != Normalize::None || pipeline.tiers.rule.is_global()
    }

    /// Scores every row of the run once and computes the normalised factors and tiers.
    /// Stops early once its rejects pass `budget`.
    pub fn compute(
        plan: &Plan,
        pipeline: &Pipeline,
        scan: &Scan<'_>,
        population: &Population,
        budget: &RejectBudget,
        progress: &indicatif::ProgressBar,
    ) -> Result<Self, ExecError> {
        let normalize = pipeline.normalize != Normalize::None;
        let of = match &pipeline.tiers.rule {
            TierRule::CumulativeShare { of } => of.as_deref(),
            _ => None,
        };
        let mut factors: Vec<Vec<Option<f64>>> = vec![Vec::new(); plan.scorer.factors.len()];
        let mut scores: Vec<Option<f64>> = Vec::new();
        let mut ranked_by: Vec<Option<f64>> = Vec::new();
        let mut budget = budget.for_ranking();
        for batch in scan.batches(&plan.read_columns) {
            let batch = batch?;
            let rows = population
                .attach(&batch.batch, scores.len())
                .map_err(ExecError::DeriveAttach)?;
            let scored = plan.scorer.score_with(
                &rows,
                &Ranked {
                    first_pass: true,
                    ..Ranked::default()
                },
            );
            budget.count(scan, &batch, &scored.rejects)?;
            progress.inc(rows.num_rows() as u64);
            if normalize {
                for (values, column) in factors.iter_mut().zip(&scored.factors) {
                    let column = column
                        .as_any()
                        .downcast_ref::<arrow::array::Float64Array>()
                        .expect("factor columns are Float64");
                    values.extend(column.iter());
                }
            }
            if let Some(column) = of.and_then(|of| rows.column_by_name(of)) {
                let start = ranked_by.len();
                append_numbers(column, &mut ranked_by).map_err(|e| scan.decode_error(&batch, e))?;
                for (row, value) in ranked_by[start..].iter_mut().enumerate() {
                    if scored.score.is_null(row) {
                        *value = None;
                    }
                }
            }
            scores.extend(scored.score.iter());
        }

        let mut whole = Ranking::default();
        if normalize {
            let mut normalized = Vec::with_capacity(factors.len());
            for (step, values) in plan.scorer.factors.iter().zip(&factors) {
                let (values, used) = normalize_factor(pipeline.normalize, step.name(), values)
                    .map_err(|message| ExecError::Ranking {
                        what: "normalise the factors",
                        message,
                    })?;
                normalized.push(values);
                whole.normalization.push(used);
            }
            scores = (0..scores.len())
                .map(|row| scores[row].map(|_| plan.scorer.weighted_sum(&normalized, row)))
                .collect();
            whole.normalized = Some(normalized);
        }
        if plan.scorer.tiers.is_global() {
            let values = if of.is_some() { &ranked_by } else { &scores };
            let (tiers, cutoffs) =
                plan.scorer
                    .tiers
                    .assign_global(values)
                    .map_err(|message| ExecError::Ranking {
                        what: "assign tiers",
                        message,
                    })?;
            if cutoffs.total == Some(0.0) {
                return Err(ExecError::Ranking {
                    what: "assign ABC tiers",
                    message: "the total of the values ranked is 0, so no row has a share of it"
                        .into(),
                });
            }
            whole.tiers = Some(tiers);
            whole.cutoffs = Some(cutoffs);
        }
        Ok(whole)
    }

    /// The results for `rows` rows starting at position `offset` of the run.
    pub fn for_rows(&self, offset: usize, rows: usize) -> Ranked<'_> {
        Ranked {
            first_pass: false,
            tiers: self.tiers.as_ref().map(|t| &t[offset..offset + rows]),
            factors: self
                .normalized
                .as_ref()
                .map(|factors| factors.iter().map(|f| &f[offset..offset + rows]).collect()),
        }
    }
}

/// One factor's values normalised over the population, with what was used.
fn normalize_factor(
    method: Normalize,
    factor: &str,
    values: &[Option<f64>],
) -> Result<(Vec<Option<f64>>, Normalization), String> {
    let count = values.iter().flatten().count() as u64;
    let mut used = Normalization {
        factor: factor.to_string(),
        method: yaml_name(&method),
        count,
        spread: Spread::default(),
    };
    let normalized = match method {
        Normalize::None => values.to_vec(),
        Normalize::Minmax => {
            let (scaled, stats) = stats::minmax(values);
            used.spread = stats.minmax_spread();
            scaled
        }
        Normalize::Zscore => {
            let (scaled, stats) = stats::zscore(values);
            used.spread = stats.zscore_spread();
            scaled
        }
        Normalize::PercentRank => stats::percent_rank(values, false)?,
    };
    Ok((normalized, used))
}
