//! The ranking pass, between the derive pass and scoring, for what depends on every row:
//! factors normalised over the population (`score.normalize`) and rank or ABC tiers.
//!
//! It scores every row once, keeping only a few numbers a row (each factor's value when
//! normalising, and the score or `tiers.of` value when ranking); then factors are normalised,
//! scores recomputed from them, and tiers assigned. The writing pass scores again and takes these
//! per-row results by position in the run ([`Ranking::for_rows`]), so memory stays at a few
//! bytes a row and no copy of the input is kept.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, RecordBatch, RecordBatchOptions, UInt64Array};
use arrow::datatypes::{Field, Schema};
use rayon::ThreadPool;

use crate::derive::{append_numbers, Population};
use crate::manifest::{GlobalCutoffs, Normalization, Spread};
use crate::pipeline::{yaml_name, Normalize, Pipeline, TierRule};
use crate::plan::Plan;
use crate::score::{BatchLimit, Ranked, Reject, RejectLimit, ScoredBatch, Sharing};
use crate::source::{Scan, SourceBatch};
use crate::stats;
use crate::tiers::global::RowLevels;

use super::{lanes, ExecError, RejectBudget};

/// The per-row results of the ranking pass, in run order.
#[derive(Debug, Default)]
pub struct Ranking {
    /// Per factor, its normalised value for every row (`None` for rejected rows).
    normalized: Option<Vec<Vec<Option<f64>>>>,
    /// Every row's tier under a rank or ABC rule.
    tiers: Option<RowLevels>,
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
    ///
    /// With more than one thread in `pool`, the batches are decoded on a thread of their own
    /// and scored side by side in lanes, like the scoring pass's (`lanes::pass`); what
    /// each keeps is taken back in run order. A rank pipeline at 10M rows took 0.86x the wall
    /// time of decoding and scoring each batch in turn (BENCHMARKS.md).
    pub fn compute(
        plan: &Plan,
        pipeline: &Pipeline,
        scan: &Scan<'_>,
        population: &Population,
        budget: &RejectBudget,
        progress: &indicatif::ProgressBar,
        pool: &ThreadPool,
    ) -> Result<Self, ExecError> {
        let mut inputs = RankInputs::new(plan, pipeline);
        let mut budget = budget.for_ranking();
        // As in the scoring pass: the lanes skip what comes after a batch known to pass the
        // limit, and the rejects counted are the same on any number of threads.
        let limit = RejectLimit::new(budget.allowed());
        let batches = super::positioned(scan, &plan.rank_columns);
        let of = inputs.of.clone();
        // One lane's work: the batch's derive columns attached, its rows scored (whole when
        // every rule is compiled). Of the input rows, only the row count and where they came
        // from are kept past it.
        let lane = |(mut batch, at): (SourceBatch, usize)| -> Result<Lane, ExecError> {
            let rows = population
                .attach(&batch.batch, at)
                .map_err(ExecError::DeriveAttach)?;
            let limit = BatchLimit {
                limit: &limit,
                first_row: at,
            };
            let scored = first_pass(plan, of.as_deref(), &rows, Sharing::Whole, Some(limit));
            let no_columns = batch
                .batch
                .project(&[])
                .map_err(|e| scan.decode_error(&batch, e))?;
            batch.batch = no_columns;
            Ok((batch, scored))
        };
        let take = |lane: Result<Lane, ExecError>| -> Result<bool, ExecError> {
            let (batch, mut scored) = lane?;
            limit.settle(&mut scored.scored.rejects);
            let rows = batch.batch.num_rows() as u64;
            let rejects = inputs
                .keep(scored)
                .map_err(|e| scan.decode_error(&batch, e))?;
            budget.count(scan, &batch, &rejects)?;
            progress.inc(rows);
            Ok(true)
        };
        std::thread::scope(|scope| lanes::pass(pool, scope, batches, lane, take))?;
        pool.install(|| inputs.finish(plan, pipeline))
    }

    /// The per-row results of the `rows` rows from position `offset` of the run, as columns
    /// `normalized_0` … (when normalising) and `tier` (UInt64, with a rank or ABC rule): what
    /// a task of a distributed run scores its rows with ([`Ranking::of_rows`]).
    pub fn rows(&self, offset: usize, rows: usize) -> RecordBatch {
        let mut columns: Vec<(String, ArrayRef)> = Vec::new();
        for (i, values) in self.normalized.iter().flatten().enumerate() {
            columns.push((
                format!("normalized_{i}"),
                floats(&values[offset..offset + rows]),
            ));
        }
        if let Some(tiers) = &self.tiers {
            let tiers = UInt64Array::from_iter(
                tiers[offset..offset + rows]
                    .iter()
                    .map(|t| t.map(|t| t as u64)),
            );
            columns.push((TIER.into(), Arc::new(tiers)));
        }
        float_batch(columns, rows)
    }

    /// The results of some rows ([`Ranking::rows`]), to score them from position 0; `None`
    /// when a column is missing or of another type. No cut-offs or normalisation figures (the
    /// driver of a distributed run keeps those).
    pub fn of_rows(rows: &RecordBatch, factors: usize) -> Option<Self> {
        let mut whole = Ranking::default();
        if rows.column_by_name("normalized_0").is_some() {
            let mut normalized = Vec::with_capacity(factors);
            for i in 0..factors {
                let column = rows
                    .column_by_name(&format!("normalized_{i}"))?
                    .as_any()
                    .downcast_ref::<Float64Array>()?;
                normalized.push(column.iter().collect());
            }
            whole.normalized = Some(normalized);
        }
        if let Some(column) = rows.column_by_name(TIER) {
            let tiers = column.as_any().downcast_ref::<UInt64Array>()?;
            // A tier that is not a `u32` level is a column of another meaning.
            let levels: Option<RowLevels> = tiers
                .iter()
                .map(|t| t.map_or(Some(None), |t| u32::try_from(t).ok().map(Some)))
                .collect();
            whole.tiers = Some(levels?);
        }
        Some(whole)
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

/// What the ranking pass keeps of each row, in run order: each factor's value (when
/// normalising), the score and the value ranked by (`tiers.of`). A distributed run gathers it
/// task by task ([`RankInputs::to_batch`], [`RankInputs::append_batch`]) and finishes it on the
/// driver with the code the CLI uses.
#[derive(Debug)]
pub struct RankInputs {
    normalize: bool,
    of: Option<String>,
    factors: Vec<Vec<Option<f64>>>,
    scores: Vec<Option<f64>>,
    ranked_by: Vec<Option<f64>>,
}

/// A batch as a lane of the ranking pass leaves it: where its rows came from (no columns: for
/// the reject budget's row numbers) and what its first pass gave.
type Lane = (SourceBatch, FirstPass);

/// What the ranking pass keeps of a batch's rows scored once.
struct FirstPass {
    /// The `tiers.of` column, when ranking by one.
    ranked_by: Option<ArrayRef>,
    /// The rows scored without tiers or reasons.
    scored: ScoredBatch,
}

/// `rows` scored once, without tiers or reasons, shared among the workers as `sharing` says,
/// skipping what `limit` (when given) knows the run fails before; with their column `of` (the
/// `tiers.of` ranked by, when given).
fn first_pass(
    plan: &Plan,
    of: Option<&str>,
    rows: &RecordBatch,
    sharing: Sharing,
    limit: Option<BatchLimit<'_>>,
) -> FirstPass {
    let ranked = Ranked {
        first_pass: true,
        ..Ranked::default()
    };
    FirstPass {
        ranked_by: of.and_then(|of| rows.column_by_name(of).cloned()),
        scored: plan
            .scorer
            .score_counted(rows, &ranked, sharing, None, limit),
    }
}

/// The column of [`Ranking::rows`] holding each row's tier.
const TIER: &str = "tier";
/// The column of [`RankInputs::to_batch`] holding the score.
const SCORE: &str = "score";
/// The column of [`RankInputs::to_batch`] holding the value ranked by (`tiers.of`).
const RANKED_BY: &str = "ranked_by";

impl RankInputs {
    /// Nothing kept yet.
    pub fn new(plan: &Plan, pipeline: &Pipeline) -> Self {
        Self {
            normalize: pipeline.normalize != Normalize::None,
            of: match &pipeline.tiers.rule {
                TierRule::CumulativeShare { of } => of.clone(),
                _ => None,
            },
            factors: vec![Vec::new(); plan.scorer.factors.len()],
            scores: Vec::new(),
            ranked_by: Vec::new(),
        }
    }

    /// Scores `rows` (input rows with their derive columns) once, without tiers, keeps what
    /// ranking needs and returns the rejects (for the reject budget): for batches that come one
    /// at a time (a task of a distributed run), cut into slices scored side by side.
    pub fn score(
        &mut self,
        plan: &Plan,
        rows: &RecordBatch,
    ) -> Result<Vec<Reject>, arrow::error::ArrowError> {
        let pass = first_pass(plan, self.of.as_deref(), rows, Sharing::Slices, None);
        self.keep(pass)
    }

    /// Keeps what ranking needs of a batch's rows scored once and returns their rejects.
    fn keep(&mut self, pass: FirstPass) -> Result<Vec<Reject>, arrow::error::ArrowError> {
        let FirstPass { ranked_by, scored } = pass;
        if self.normalize {
            for (values, column) in self.factors.iter_mut().zip(&scored.factors) {
                let column = column
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .expect("factor columns are Float64");
                values.extend(column.iter());
            }
        }
        if let Some(column) = ranked_by {
            let start = self.ranked_by.len();
            append_numbers(&column, &mut self.ranked_by)?;
            for (row, value) in self.ranked_by[start..].iter_mut().enumerate() {
                if scored.score.is_null(row) {
                    *value = None;
                }
            }
        }
        self.scores.extend(scored.score.iter());
        Ok(scored.rejects)
    }

    /// What was kept, as Float64 columns: `factor_0` … (when normalising), `score`, and
    /// `ranked_by` (with `tiers.of`).
    pub fn to_batch(&self) -> RecordBatch {
        let mut columns: Vec<(String, ArrayRef)> = Vec::new();
        if self.normalize {
            for (i, values) in self.factors.iter().enumerate() {
                columns.push((format!("factor_{i}"), floats(values)));
            }
        }
        columns.push((SCORE.into(), floats(&self.scores)));
        if self.of.is_some() {
            columns.push((RANKED_BY.into(), floats(&self.ranked_by)));
        }
        float_batch(columns, self.scores.len())
    }

    /// Appends the rows of a batch [`RankInputs::to_batch`] made; `None` when it lacks a
    /// column or holds another type.
    pub fn append_batch(&mut self, batch: &RecordBatch) -> Option<()> {
        let column = |name: &str| {
            batch
                .column_by_name(name)?
                .as_any()
                .downcast_ref::<Float64Array>()
        };
        if self.normalize {
            for (i, values) in self.factors.iter_mut().enumerate() {
                values.extend(column(&format!("factor_{i}"))?.iter());
            }
        }
        if self.of.is_some() {
            self.ranked_by.extend(column(RANKED_BY)?.iter());
        }
        self.scores.extend(column(SCORE)?.iter());
        Some(())
    }

    /// Normalises the factors, recomputes the scores from them and assigns the tiers.
    pub fn finish(self, plan: &Plan, pipeline: &Pipeline) -> Result<Ranking, ExecError> {
        let RankInputs {
            normalize,
            of,
            factors,
            mut scores,
            ranked_by,
        } = self;
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
                .map(|row| scores[row].map(|_| plan.scorer.weighted_sum(|k| normalized[k][row])))
                .collect();
            whole.normalized = Some(normalized);
        }
        if plan.scorer.tiers.is_global() {
            // The vector not ranked by is let go first: ABC tiers sort the other in its memory.
            let values = if of.is_some() {
                drop(scores);
                ranked_by
            } else {
                drop(ranked_by);
                scores
            };
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
}

/// `values` as a Float64 column.
fn floats(values: &[Option<f64>]) -> ArrayRef {
    Arc::new(Float64Array::from(values.to_vec()))
}

/// A batch of `rows` rows of nullable columns, by name.
fn float_batch(columns: Vec<(String, ArrayRef)>, rows: usize) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(name, array.data_type().clone(), true))
        .collect();
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, array)| array).collect(),
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .expect("the fields and the row count are made from the columns")
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
