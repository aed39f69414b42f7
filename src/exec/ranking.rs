//! The whole-run step between scoring and writing, for what depends on every row:
//! factors normalised over the population (`score.normalize`) and rank or ABC tiers.
//!
//! A first scoring pass keeps only a few numbers a row (each factor's value when normalising,
//! and the score or `tiers.of` value when ranking); then factors are normalised, scores
//! recomputed from them, and tiers assigned. The writing pass scores again and takes these
//! per-row results by position in the run ([`WholeRun::given`]), so memory stays at a few bytes
//! a row and no copy of the input is kept.

use arrow::array::Array;
use serde::Serialize;

use crate::derive::{append_numbers, population, Population, Spread};
use crate::pipeline::{Normalize, Pipeline, TierRule};
use crate::plan::Plan;
use crate::score::Given;
use crate::source::{Scan, SourceError};
use crate::tiers::GlobalCutoffs;

/// The per-row results of the whole-run step, in run order.
#[derive(Debug, Default)]
pub struct WholeRun {
    /// Per factor, its normalised value for every row (`None` for rejected rows).
    normalized: Option<Vec<Vec<Option<f64>>>>,
    /// Every row's tier under a rank or ABC rule.
    tiers: Option<Vec<Option<usize>>>,
    /// What normalisation used, per factor.
    pub normalization: Vec<Normalization>,
    /// Where each rank or ABC level ends.
    pub cutoffs: Option<GlobalCutoffs>,
    /// Rows the first pass rejected (the writing pass rejects the same rows).
    pub rejected: u64,
}

/// How one factor was normalised: enough to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Normalization {
    pub factor: String,
    pub method: &'static str,
    pub count: u64,
    #[serde(flatten)]
    pub spread: Spread,
}

/// Why the whole-run step failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WholeRunError {
    /// Reading the input failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Source(#[from] SourceError),
    /// More rows were rejected than the pipeline allows, before any was written.
    #[error("{rejected} rows rejected so far while scoring every row to rank or normalise them, more than errors.max_reject_fraction allows ({allowed}); nothing was committed")]
    #[diagnostic(
        code(run::too_many_rejects),
        help("first rejected rows:\n{examples}\nfix the rule or the data, or raise errors.max_reject_fraction")
    )]
    TooManyRejects {
        rejected: u64,
        allowed: u64,
        examples: String,
    },
    /// The population could not be normalised or ranked.
    #[error("cannot {what} over the run: {message}")]
    #[diagnostic(
        code(run::whole_run),
        help("ABC tiers need a total above 0; rank and normalise need at most 4 billion rows")
    )]
    Compute { what: &'static str, message: String },
}

impl WholeRun {
    /// Whether a pipeline needs the whole-run step.
    pub fn needed(pipeline: &Pipeline) -> bool {
        pipeline.normalize != Normalize::None || pipeline.tiers.rule.is_global()
    }

    /// Scores every row of the run once and computes the normalised factors and tiers.
    /// `allowed` is the most rejects the run may have; more stops the pass early.
    pub fn compute(
        plan: &Plan,
        pipeline: &Pipeline,
        scan: &Scan<'_>,
        population: &Population,
        allowed: u64,
    ) -> Result<Self, WholeRunError> {
        let source = scan.source;
        let normalize = pipeline.normalize != Normalize::None;
        let of = match &pipeline.tiers.rule {
            TierRule::CumulativeShare { of } => of.as_deref(),
            _ => None,
        };
        let mut factors: Vec<Vec<Option<f64>>> = vec![Vec::new(); plan.scorer.factors.len()];
        let mut scores: Vec<Option<f64>> = Vec::new();
        let mut ranked_by: Vec<Option<f64>> = Vec::new();
        let mut rejected = 0u64;
        let mut examples: Vec<String> = Vec::new();
        for batch in scan.batches(&plan.read_columns) {
            let batch = batch?;
            let rows =
                population
                    .attach(&batch.batch, scores.len())
                    .map_err(|e| SourceError::Decode {
                        path: source.files()[batch.file].path.clone(),
                        first_row: batch.first_row,
                        source: e,
                    })?;
            let scored = plan.scorer.score_with(
                &rows,
                &Given {
                    scores_only: true,
                    ..Given::default()
                },
            );
            rejected += scored.rejects.len() as u64;
            for reject in scored
                .rejects
                .iter()
                .take(3usize.saturating_sub(examples.len()))
            {
                examples.push(format!(
                    "  {} row {} (step {}): {}",
                    source.files()[batch.file].path.display(),
                    batch.row_number(reject.row),
                    reject.step,
                    reject.message
                ));
            }
            if rejected > allowed {
                return Err(WholeRunError::TooManyRejects {
                    rejected,
                    allowed,
                    examples: examples.join("\n"),
                });
            }
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
                append_numbers(column, &mut ranked_by).map_err(|e| SourceError::Decode {
                    path: source.files()[batch.file].path.clone(),
                    first_row: batch.first_row,
                    source: e,
                })?;
                for (row, value) in ranked_by[start..].iter_mut().enumerate() {
                    if scored.score.is_null(row) {
                        *value = None;
                    }
                }
            }
            scores.extend(scored.score.iter());
        }

        let mut whole = WholeRun {
            rejected,
            ..WholeRun::default()
        };
        if normalize {
            let mut normalized = Vec::with_capacity(factors.len());
            for (step, values) in plan.scorer.factors.iter().zip(&factors) {
                let (values, used) = normalize_factor(pipeline.normalize, step.name(), values)
                    .map_err(|message| WholeRunError::Compute {
                        what: "normalise the factors",
                        message,
                    })?;
                normalized.push(values);
                whole.normalization.push(used);
            }
            scores = (0..scores.len())
                .map(|row| {
                    scores[row].map(|_| {
                        plan.scorer
                            .factors
                            .iter()
                            .zip(&normalized)
                            .map(|(step, values)| {
                                step.weight.unwrap_or(1.0) * values[row].unwrap_or(0.0)
                            })
                            .sum()
                    })
                })
                .collect();
            whole.normalized = Some(normalized);
        }
        if plan.scorer.tiers.is_global() {
            let values = if of.is_some() { &ranked_by } else { &scores };
            let (tiers, cutoffs) = plan.scorer.tiers.assign_global(values).map_err(|message| {
                WholeRunError::Compute {
                    what: "assign tiers",
                    message,
                }
            })?;
            if cutoffs.total == Some(0.0) {
                return Err(WholeRunError::Compute {
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
    pub fn given(&self, offset: usize, rows: usize) -> Given<'_> {
        Given {
            scores_only: false,
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
        method: match method {
            Normalize::None => "none",
            Normalize::Minmax => "minmax",
            Normalize::Zscore => "zscore",
            Normalize::PercentRank => "percent_rank",
        },
        count,
        spread: Spread::default(),
    };
    let normalized = match method {
        Normalize::None => values.to_vec(),
        Normalize::Minmax => {
            let (scaled, stats) = population::minmax(values);
            used.spread = Spread::of_minmax(&stats);
            scaled
        }
        Normalize::Zscore => {
            let (scaled, stats) = population::zscore(values);
            used.spread = Spread::of_zscore(&stats);
            scaled
        }
        Normalize::PercentRank => population::percent_rank(values, false)?,
    };
    Ok((normalized, used))
}
