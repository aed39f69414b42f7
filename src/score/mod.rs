//! Stage 5 of the data path: a batch of customers to factor columns, a score and a tier per
//! row, and the rows that failed.
//!
//! Factors run in pipeline order, each over the whole batch; a factor sees the columns and the
//! factors before it (added to the batch as `Float64` columns). A row that fails any step is
//! rejected with the step's name and message and skipped by the steps after it.

mod breakdown;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt32Type};
use rayon::prelude::*;

use crate::rules::coverage::Tally;
use crate::rules::{Reasons, Rule, RuleEngine, RuleOutput};
use crate::tiers::TierRules;
pub use breakdown::{Breakdown, FactorBreakdown};

/// A factor ready to evaluate, with its weight in a weighted sum.
#[derive(Debug)]
pub struct FactorStep {
    pub rule: Box<dyn Rule>,
    pub weight: Option<f64>,
}

impl FactorStep {
    /// The factor's name.
    pub fn name(&self) -> &str {
        &self.rule.info().name
    }
}

/// How factor values become a score.
#[derive(Debug)]
pub enum CombineStep {
    /// Σ weight × factor.
    WeightedSum,
    /// A script returning the score.
    Script(Box<dyn Rule>),
}

/// Scores batches: the rules of the factors, the combination and the tiers of one pipeline.
#[derive(Debug)]
pub struct Scorer {
    /// The id column; a row whose id is null is rejected before any rule runs.
    pub id_column: String,
    pub factors: Vec<FactorStep>,
    pub combine: CombineStep,
    pub tiers: TierRules,
    /// A script naming each row's tier (`tiers.script`), run after the score.
    pub tier_script: Option<Box<dyn Rule>>,
    /// Whether a run's scoring gathers the factors' reasons: when the output writes them. The
    /// whole-run pass (`Ranked::first_pass`) never does; [`Scorer::score_showing_reasons`]
    /// always does.
    pub reasons: Reasons,
}

/// A row that could not be scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// Row index within the batch.
    pub row: usize,
    /// The factor (or `score`) that failed.
    pub step: String,
    /// What kind of failure, stable for grouping: a rule's [`crate::rules::RowFailure::code`],
    /// or `null_id`, `not_normalised`, `score_not_finite`, `no_rank_tier`.
    pub code: &'static str,
    pub message: String,
    /// The names the failing rule read and their values on this row, as a JSON object (`None`
    /// when no rule failed).
    pub inputs: Option<String>,
}

impl Reject {
    /// The step, code, message and inputs of `rejects` as text columns (inputs nullable), as
    /// the rejects file and a distributed task's results both hold them.
    pub fn text_columns(rejects: &[Reject]) -> [ArrayRef; 4] {
        [
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|r| r.step.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|r| r.code),
            )),
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|r| r.message.as_str()),
            )),
            Arc::new(StringArray::from_iter(
                rejects.iter().map(|r| r.inputs.as_deref()),
            )),
        ]
    }
}

/// Rows a worker scores at a time, every factor in turn, when every rule is compiled and the
/// batches come one at a time ([`Sharing::Slices`]): two slices a batch. Compiled rules have
/// no loops, so a row costs microseconds even when it fails. Measured at 10M rows
/// (BENCHMARKS.md) against slices of 4,096 rows: each slice's set-up and the joining of a
/// batch's slices cost 2-3% of the run's CPU.
const SLICE_ROWS: usize = 16384;

/// How the workers share a batch while it is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Cut into slices that workers score side by side: for batches that come one at a time
    /// (a task of a distributed run, Python's `score`, `test` and `explain`), whose only
    /// parallelism is within the batch.
    Slices,
    /// Scored whole by one worker when every rule is compiled: for batches scored side by side
    /// in lanes, which keep the threads busy already; slices would only add their set-up and
    /// the copying that joins them (the shipped pipeline at 10M rows on two threads: wall
    /// 0.94x, BENCHMARKS.md). The price: an input of fewer batches than threads, and the last
    /// batches of any run, keep fewer threads busy. With a rule on the interpreter, slices as
    /// for [`Sharing::Slices`], to bound what a hostile rule costs.
    Whole,
}

/// Rows a worker scores at a time when a rule runs on the interpreter, where each row may
/// take its whole budget: a failing rule then costs at most this many rows a worker before
/// the run stops.
const INTERPRETED_SLICE_ROWS: usize = 4096;

/// The rows a run's reported rejects are counted to: those up to the end of the
/// `REJECT_SLICE_ROWS` rows holding the reject that passes the limit ([`RejectLimit::settle`]).
/// Fixed, whatever the slices scored at once, so the report is the same on any number of
/// threads.
const REJECT_SLICE_ROWS: usize = 4096;
// Every slice after a batch's first starts at a multiple of REJECT_SLICE_ROWS (a batch scored
// whole has no other slice).
const _: () = assert!(
    SLICE_ROWS.is_multiple_of(REJECT_SLICE_ROWS)
        && INTERPRETED_SLICE_ROWS.is_multiple_of(REJECT_SLICE_ROWS)
);

/// The rejects a run may take before it fails (`errors.max_reject_fraction`), for the workers
/// scoring a batch's slices (a batch scored whole, [`Sharing::Whole`], is one slice). Once the
/// slices up to one of them hold more rejects than allowed (with the batches before), the run
/// fails whatever the other rows give: the later slices not yet begun are skipped (scored as
/// nothing: the run stops at this batch and writes none of it), and so is every slice not yet
/// begun of a batch after it, whose rows the run never reaches.
/// When the batch is taken back in run order ([`RejectLimit::settle`]), its rejects past the
/// 4,096 rows ([`REJECT_SLICE_ROWS`]) holding the one that passes the limit are dropped, so the
/// rejects the run reports are the same on any number of threads and whichever batches were
/// scored at once. A hostile or broken rule then costs, beyond the allowed rejects, the slices
/// begun before the first slice to pass them is done (a few a thread, at most the batches in
/// flight), each row at most its budget.
#[derive(Debug)]
pub struct RejectLimit {
    allowed: u64,
    /// Rejects of the batches settled so far (taken back in run order).
    before: AtomicU64,
    /// The run position of the first row of the earliest batch whose slices, with the batches
    /// settled before it, are known to pass the limit (`usize::MAX` while none is): the run
    /// fails at or before that batch, so the batches after it need no scoring.
    passed_at: AtomicUsize,
}

/// A batch's [`RejectLimit`]: the run's, with where the batch is in the run, which tells whether
/// a batch known to pass the limit comes before it.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimit<'a> {
    pub limit: &'a RejectLimit,
    /// The run position of the batch's first row.
    pub first_row: usize,
}

/// A slice's reject count before the slice is scored.
const NOT_SCORED: u64 = u64::MAX;

impl RejectLimit {
    /// A limit of `allowed` rejected rows, none counted yet.
    pub fn new(allowed: u64) -> Self {
        Self {
            allowed,
            before: AtomicU64::new(0),
            passed_at: AtomicUsize::new(usize::MAX),
        }
    }

    /// Whether slice `i` of the batch whose first row is at run position `first_row` can be
    /// skipped: a batch before it passes the limit, or the batch's slices before `i`, whose
    /// reject counts are `counts` ([`NOT_SCORED`] until scored), are all scored up to one that
    /// takes the run past the limit.
    fn passed_before(&self, counts: &[AtomicU64], i: usize, first_row: usize) -> bool {
        self.passed_at.load(Ordering::Relaxed) < first_row || self.passes_limit(&counts[..i])
    }

    /// Once a slice of the batch at `first_row` is scored: if the batch's slices scored from
    /// its first (`counts`, in whatever order they finished) pass the limit, no batch after
    /// this one needs scoring.
    fn note_scored(&self, counts: &[AtomicU64], first_row: usize) {
        if self.passes_limit(counts) {
            self.passed_at.fetch_min(first_row, Ordering::Relaxed);
        }
    }

    /// Whether the batches settled and `counts`, scored from the first up to one of them (the
    /// first [`NOT_SCORED`] ends them), hold more rejects than allowed.
    fn passes_limit(&self, counts: &[AtomicU64]) -> bool {
        let mut total = self.before.load(Ordering::Relaxed);
        if total > self.allowed {
            return true;
        }
        for count in counts {
            let count = count.load(Ordering::Acquire);
            if count == NOT_SCORED {
                return false;
            }
            total += count;
            if total > self.allowed {
                return true;
            }
        }
        false
    }

    /// Counts a batch's rejects (in row order), taken back in run order after every batch
    /// before it: keeps those up to the end of the [`REJECT_SLICE_ROWS`] rows holding the one
    /// that takes the run past the limit, dropping the rest. A skipped slice lies past those
    /// rows (the batch's slices before it pass the limit), or in a batch after one that passes
    /// it, which the run never takes; so the rejects kept are the same whichever batches were
    /// scored at once.
    pub fn settle(&self, rejects: &mut Vec<Reject>) {
        let before = self.before.load(Ordering::Relaxed);
        // The reject that takes the run past the limit, if this batch has it.
        let passing = self.allowed.saturating_sub(before) as usize;
        if let Some(past) = rejects.get(passing) {
            let slice_end = (past.row / REJECT_SLICE_ROWS + 1) * REJECT_SLICE_ROWS;
            rejects.retain(|reject| reject.row < slice_end);
        }
        self.before
            .fetch_add(rejects.len() as u64, Ordering::Relaxed);
    }
}

impl Ranked<'_> {
    /// The part of these results for `len` rows from `start`.
    fn slice(&self, start: usize, len: usize) -> Ranked<'_> {
        Ranked {
            tiers: self.tiers.map(|t| &t[start..start + len]),
            factors: self
                .factors
                .as_ref()
                .map(|factors| factors.iter().map(|f| &f[start..start + len]).collect()),
            first_pass: self.first_pass,
        }
    }
}

/// Every code a [`Reject`] can carry: the rules' [`crate::rules::RowFailure::code`]s, then the
/// scorer's own.
const REJECT_CODES: &[&str] = &[
    "thrown",
    "null_value",
    "arithmetic",
    "limit_operations",
    "limit_call_depth",
    "limit_size",
    "limit_row_ms",
    "limit_row_memory",
    "panic",
    "bad_value",
    "script_error",
    "missing_column",
    "null_id",
    "not_normalised",
    "score_not_finite",
    "no_rank_tier",
];

/// The code of [`REJECT_CODES`] spelled `code`: rejects scored on another machine (a
/// distributed run's tasks) come back as text.
pub fn reject_code_of(code: &str) -> Option<&'static str> {
    REJECT_CODES.iter().copied().find(|known| *known == code)
}

/// What the ranking pass computed for the rows of one batch ([`crate::exec::ranking`]).
#[derive(Debug, Default)]
pub struct Ranked<'a> {
    /// Each row's rank or ABC tier.
    pub tiers: Option<&'a [Option<u32>]>,
    /// Per factor, each row's normalised value.
    pub factors: Option<Vec<&'a [Option<f64>]>>,
    /// The ranking pass's own scoring: it wants factor values and scores only, so no tier is
    /// assigned and tier scripts do not run (they must see the final, normalised score).
    pub first_pass: bool,
}

/// Everything scoring produced for one batch, aligned with its rows.
pub struct ScoredBatch {
    /// One `Float64` column per factor; null where the row was rejected.
    pub factors: Vec<ArrayRef>,
    /// Per factor, the reason each row gave (null where it gave none, and on every row when
    /// the scoring did not gather reasons).
    pub reasons: Vec<StringArray>,
    /// Null where the row was rejected.
    pub score: Float64Array,
    /// Tier index per row; `None` where the row was rejected.
    pub tier: Vec<Option<usize>>,
    /// Rejected rows, in row order.
    pub rejects: Vec<Reject>,
}

impl Scorer {
    /// Every rule: the factors', then the score script and the tier script if there are any.
    pub fn rules(&self) -> impl Iterator<Item = &dyn Rule> {
        let script = match &self.combine {
            CombineStep::Script(rule) => Some(rule),
            CombineStep::WeightedSum => None,
        };
        self.factors
            .iter()
            .map(|f| &f.rule)
            .chain(script)
            .chain(self.tier_script.as_ref())
            .map(|rule| rule.as_ref())
    }

    /// Each rule with the engine that runs it.
    pub fn engines(&self) -> Vec<(String, RuleEngine)> {
        self.rules()
            .map(|rule| (rule.info().name.clone(), rule.engine()))
            .collect()
    }

    /// Scores every row of `batch` (which holds the columns the rules read).
    ///
    /// With ranking tiers (rank, ABC) and no `given` tiers, rows get no tier: that pass only
    /// wants the scores.
    pub fn score(&self, batch: &RecordBatch) -> ScoredBatch {
        self.score_with(batch, &Ranked::default())
    }

    /// Σ weight × factor value of one row (a missing value counts 0, a missing weight 1):
    /// `combine: weighted_sum`, and the score the whole-run step ranks after normalising.
    /// `value(k)` is the row's value of factor `k`.
    pub fn weighted_sum(&self, value: impl Fn(usize) -> Option<f64>) -> f64 {
        self.factors
            .iter()
            .enumerate()
            .map(|(k, step)| step.weight.unwrap_or(1.0) * value(k).unwrap_or(0.0))
            .sum()
    }

    /// [`Scorer::weighted_sum`] of every row of `values` (one column per factor), a column at a
    /// time: each row's terms are added in the same order from the same start, so the sums
    /// have the same bits.
    fn weighted_sums(&self, values: &[Float64Array], rows: usize) -> Vec<f64> {
        let mut sums = vec![std::iter::empty::<f64>().sum::<f64>(); rows];
        for (step, column) in self.factors.iter().zip(values) {
            let weight = step.weight.unwrap_or(1.0);
            let terms = column.values();
            match column.nulls().filter(|nulls| nulls.null_count() > 0) {
                None => {
                    for (sum, &value) in sums.iter_mut().zip(terms.iter()) {
                        *sum += weight * value;
                    }
                }
                Some(nulls) => {
                    for (row, sum) in sums.iter_mut().enumerate() {
                        let value = if nulls.is_valid(row) { terms[row] } else { 0.0 };
                        *sum += weight * value;
                    }
                }
            }
        }
        sums
    }

    /// [`Scorer::score`] with what the ranking pass computed for these rows: normalised
    /// factor values (weighted instead of the rules' values, and written as the factor
    /// columns) and rank or ABC tiers.
    ///
    /// The batch is cut into slices that workers score whole, every factor in turn, so workers
    /// do not wait for each other between factors; the slices' results are joined in row order.
    pub fn score_with(&self, batch: &RecordBatch, ranked: &Ranked<'_>) -> ScoredBatch {
        self.score_counted(batch, ranked, Sharing::Slices, None, None)
    }

    /// [`Scorer::score_with`], the batch shared among the workers as `sharing` says, adding
    /// to `tally` (when given) the branches each rule's rows take (the same rows the rule
    /// scores, traced on the interpreter), and skipping the slices not yet begun once `limit`
    /// (when given) knows the run fails before them. The caller settles the batch's rejects in
    /// run order ([`RejectLimit::settle`]).
    pub fn score_counted(
        &self,
        batch: &RecordBatch,
        ranked: &Ranked<'_>,
        sharing: Sharing,
        tally: Option<&Tally>,
        limit: Option<BatchLimit<'_>>,
    ) -> ScoredBatch {
        let reasons = if ranked.first_pass {
            Reasons::Drop
        } else {
            self.reasons
        };
        self.score_parts(batch, ranked, sharing, tally, limit, reasons)
    }

    /// [`Scorer::score_with`] with every factor's reasons, whatever the output writes: for
    /// `explain` and `test`, which show them.
    pub fn score_showing_reasons(&self, batch: &RecordBatch, ranked: &Ranked<'_>) -> ScoredBatch {
        self.score_parts(batch, ranked, Sharing::Slices, None, None, Reasons::Keep)
    }

    /// [`Scorer::score_counted`], gathering the factors' reasons as `reasons` says.
    fn score_parts(
        &self,
        batch: &RecordBatch,
        ranked: &Ranked<'_>,
        sharing: Sharing,
        tally: Option<&Tally>,
        limit: Option<BatchLimit<'_>>,
        reasons: Reasons,
    ) -> ScoredBatch {
        let rows = batch.num_rows();
        if rows == 0 {
            return self.score_slice(batch, ranked, tally, reasons);
        }
        let compiled = self
            .rules()
            .all(|rule| rule.engine() == RuleEngine::Compiled);
        let slice_rows = match (compiled, sharing) {
            (true, Sharing::Whole) => rows,
            (true, Sharing::Slices) => SLICE_ROWS,
            (false, _) => INTERPRETED_SLICE_ROWS,
        };
        let starts: Vec<usize> = (0..rows).step_by(slice_rows).collect();
        let counts: Vec<AtomicU64> = starts.iter().map(|_| AtomicU64::new(NOT_SCORED)).collect();
        let score_part = |i: usize, start: usize| {
            let len = slice_rows.min(rows - start);
            if limit.is_some_and(|at| at.limit.passed_before(&counts, i, at.first_row)) {
                return (start, self.skipped(len));
            }
            let part = if len == rows {
                self.score_slice(batch, ranked, tally, reasons)
            } else {
                let (batch, ranked) = (batch.slice(start, len), ranked.slice(start, len));
                self.score_slice(&batch, &ranked, tally, reasons)
            };
            counts[i].store(part.rejects.len() as u64, Ordering::Release);
            if let Some(at) = limit {
                at.limit.note_scored(&counts, at.first_row);
            }
            (start, part)
        };
        let parts: Vec<(usize, ScoredBatch)> = if starts.len() == 1 {
            vec![score_part(0, 0)]
        } else {
            starts
                .par_iter()
                .enumerate()
                .map(|(i, &start)| score_part(i, start))
                .collect()
        };
        match <[_; 1]>::try_from(parts) {
            Ok([(_, only)]) => only,
            Err(parts) => ScoredBatch::join(parts, self.factors.len()),
        }
    }

    /// `rows` rows left unscored because the run already has more rejects than it allows:
    /// no values, no tier, no reject (the run fails before they are written).
    fn skipped(&self, rows: usize) -> ScoredBatch {
        let nothing: ArrayRef = Arc::new(Float64Array::new_null(rows));
        ScoredBatch {
            factors: vec![nothing; self.factors.len()],
            reasons: vec![StringArray::new_null(rows); self.factors.len()],
            score: Float64Array::new_null(rows),
            tier: vec![None; rows],
            rejects: Vec::new(),
        }
    }

    /// Scores one slice of rows, factor after factor.
    fn score_slice(
        &self,
        batch: &RecordBatch,
        ranked: &Ranked<'_>,
        tally: Option<&Tally>,
        wanted: Reasons,
    ) -> ScoredBatch {
        let rows = batch.num_rows();
        let mut fate = Fate::new(rows);
        if let Some(ids) = batch.column_by_name(&self.id_column) {
            for row in (0..rows).filter(|row| ids.is_null(*row)) {
                fate.reject(Reject {
                    row,
                    step: "id".into(),
                    code: "null_id",
                    inputs: None,
                    message: format!(
                        "the id column `{}` is null; every customer needs an id to be scored",
                        self.id_column
                    ),
                });
            }
        }
        let mut working = batch.clone();
        let mut reasons = Vec::with_capacity(self.factors.len());
        let mut values: Vec<Float64Array> = Vec::with_capacity(self.factors.len());

        for step in &self.factors {
            let output = run_rule(step.rule.as_ref(), &working, &mut fate, tally, wanted);
            let column = output.values;
            values.push(column.as_primitive::<Float64Type>().clone());
            working = with_column(&working, step.name(), column);
            reasons.push(
                output
                    .reasons
                    .unwrap_or_else(|| StringArray::new_null(rows)),
            );
        }

        if let Some(normalized) = &ranked.factors {
            for ((step, values), normal) in self.factors.iter().zip(&mut values).zip(normalized) {
                *values = Float64Array::from_iter(normal.iter().copied());
                for (row, value) in normal.iter().enumerate() {
                    if value.is_none() && fate.alive[row] {
                        fate.reject(Reject {
                            row,
                            step: step.name().to_string(),
                            code: "not_normalised",
                            inputs: None,
                            message: format!(
                                "factor `{}` could not be normalised over the run",
                                step.name()
                            ),
                        });
                    }
                }
            }
        }

        let scores: Vec<Option<f64>> = match &self.combine {
            CombineStep::WeightedSum => self
                .weighted_sums(&values, rows)
                .into_iter()
                .zip(&fate.alive)
                .map(|(sum, &alive)| alive.then_some(sum))
                .collect(),
            CombineStep::Script(rule) => {
                run_rule(rule.as_ref(), &working, &mut fate, tally, Reasons::Drop)
                    .values
                    .as_primitive::<Float64Type>()
                    .iter()
                    .collect()
            }
        };
        let scores: Vec<Option<f64>> = scores
            .into_iter()
            .enumerate()
            .map(|(row, score)| match score {
                Some(s) if !s.is_finite() => {
                    fate.reject(Reject {
                        row,
                        step: "score".into(),
                        code: "score_not_finite",
                        inputs: None,
                        message: format!(
                            "the score is {s}: a factor value too large for its weight"
                        ),
                    });
                    None
                }
                other => other,
            })
            .collect();

        let tier: Vec<Option<usize>> = match (ranked.tiers, &self.tier_script) {
            _ if ranked.first_pass => vec![None; rows],
            (Some(given), _) => scores
                .iter()
                .zip(given)
                .enumerate()
                .map(|(row, (score, tier))| match (score, tier) {
                    (Some(_), None) => {
                        fate.reject(Reject {
                            row,
                            step: "tier".into(),
                            code: "no_rank_tier",
                            inputs: None,
                            message: "no rank or ABC tier: the value this row is ranked by (the score or tiers.of) is null".into(),
                        });
                        None
                    }
                    (score, tier) => score.and(tier.map(|t| t as usize)),
                })
                .collect(),
            (None, Some(rule)) => {
                let score_column: ArrayRef = Arc::new(Float64Array::from(scores.clone()));
                let working = with_column(&working, "score", score_column);
                run_rule(rule.as_ref(), &working, &mut fate, tally, Reasons::Drop)
                    .values
                    .as_primitive::<UInt32Type>()
                    .iter()
                    .map(|tier| tier.map(|t| t as usize))
                    .collect()
            }
            (None, None) if self.tiers.is_global() => vec![None; rows],
            (None, None) => scores
                .iter()
                .map(|score| score.map(|s| self.tiers.assign(s)))
                .collect(),
        };

        // Every output column agrees on which rows are scored: a row that failed a later
        // step (score, tier) has its factor values nulled too.
        let factors = values
            .iter()
            .map(|column| Arc::new(fate.mask(column)) as ArrayRef)
            .collect();
        let score = nullable(
            scores
                .iter()
                .zip(&fate.alive)
                .map(|(s, &alive)| s.filter(|_| alive)),
        );
        let tier = tier
            .into_iter()
            .zip(&fate.alive)
            .map(|(t, &alive)| t.filter(|_| alive))
            .collect();
        ScoredBatch {
            factors,
            reasons,
            score,
            tier,
            rejects: fate.into_rejects(),
        }
    }
}

/// A `Float64` column of `values`, with a null buffer only when one is null (null slots hold
/// 0, as arrow's builder leaves them).
fn nullable(values: impl ExactSizeIterator<Item = Option<f64>>) -> Float64Array {
    let mut numbers = Vec::with_capacity(values.len());
    let mut valid = Vec::with_capacity(values.len());
    for value in values {
        numbers.push(value.unwrap_or(0.0));
        valid.push(value.is_some());
    }
    let nulls = valid.contains(&false).then(|| NullBuffer::from(valid));
    Float64Array::new(numbers.into(), nulls)
}

/// Which rows of a slice are still scored, and the rejects of those that are not (a row fails
/// at most once: every step runs on the rows still alive only).
struct Fate {
    /// Whether each row is still scored.
    alive: Vec<bool>,
    rejects: Vec<Reject>,
    /// The rows still alive, ascending; rebuilt after a reject.
    selection: Vec<u32>,
    selection_stale: bool,
}

impl Fate {
    fn new(rows: usize) -> Self {
        Self {
            alive: vec![true; rows],
            rejects: Vec::new(),
            selection: (0..rows as u32).collect(),
            selection_stale: false,
        }
    }

    /// Rejects a row still alive (a row keeps its first failure: the steps after it skip it).
    fn reject(&mut self, reject: Reject) {
        debug_assert!(self.alive[reject.row], "a row fails once");
        if !self.alive[reject.row] {
            return;
        }
        self.alive[reject.row] = false;
        self.rejects.push(reject);
        self.selection_stale = true;
    }

    /// The rows still alive, ascending.
    fn selection(&mut self) -> &[u32] {
        if self.selection_stale {
            self.selection.clear();
            self.selection
                .extend((0..self.alive.len() as u32).filter(|&row| self.alive[row as usize]));
            self.selection_stale = false;
        }
        &self.selection
    }

    /// `column` null where it is or the row is no longer scored (null slots hold 0).
    fn mask(&self, column: &Float64Array) -> Float64Array {
        if self.rejects.is_empty() && column.null_count() == 0 {
            return column.clone();
        }
        nullable(
            column
                .iter()
                .zip(&self.alive)
                .map(|(value, &alive)| value.filter(|_| alive)),
        )
    }

    /// The rejects in row order.
    fn into_rejects(mut self) -> Vec<Reject> {
        self.rejects.sort_by_key(|reject| reject.row);
        self.rejects
    }
}

/// Evaluates a rule on the rows no earlier step rejected, keeping its reasons as `reasons` says,
/// and rejects the rows it failed; with a tally, counts the branches those rows take.
fn run_rule(
    rule: &dyn Rule,
    working: &RecordBatch,
    fate: &mut Fate,
    tally: Option<&Tally>,
    reasons: Reasons,
) -> RuleOutput {
    let selection = fate.selection();
    if let Some(tally) = tally {
        tally.record(rule, working, selection);
    }
    let output = rule.evaluate(working, selection, reasons);
    let info = rule.info();
    for failure in &output.failures {
        fate.reject(Reject {
            row: failure.row,
            step: info.name.clone(),
            code: failure.code,
            message: crate::rules::cap_message(&failure.message, MAX_REJECT_MESSAGE_BYTES),
            inputs: inputs_json(
                working,
                info.reads.iter().map(|(name, _)| name),
                failure.row,
            ),
        });
    }
    output
}

/// The columns `names` of `batch` at `row` as one JSON object, nulls included (rare: only
/// for failing rows).
fn inputs_json<'a>(
    batch: &RecordBatch,
    names: impl Iterator<Item = &'a String>,
    row: usize,
) -> Option<String> {
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = names
        .filter_map(|name| {
            let column = batch.column_by_name(name)?;
            Some((
                Field::new(name, column.data_type().clone(), true),
                column.slice(row, 1),
            ))
        })
        .unzip();
    if fields.is_empty() {
        return Some("{}".into());
    }
    let one = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).ok()?;
    let mut writer = arrow_json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow_json::writer::LineDelimited>(Vec::new());
    writer.write(&one).ok()?;
    writer.finish().ok()?;
    let text = String::from_utf8(writer.into_inner()).ok()?;
    let text = text.trim_end();
    if text.len() <= MAX_REJECT_INPUTS_BYTES {
        return Some(text.to_string());
    }
    Some(cut_inputs(text))
}

/// The most bytes a reject's `inputs` keep: a row can hold a 60,000-character text or a list of
/// a million items, and a batch's rejects kept whole passed the 2 GiB an Arrow text column
/// holds (a panic). Longer inputs keep each value to [`MAX_REJECT_INPUT_VALUE_BYTES`] of its
/// JSON (a longer one becomes a string of its start, saying how much was cut), and as many
/// names as fit, the rest counted under `"…"`: still one JSON object.
pub const MAX_REJECT_INPUTS_BYTES: usize = 4096;

/// The most bytes of one value's JSON a cut `inputs` keeps.
const MAX_REJECT_INPUT_VALUE_BYTES: usize = 256;

/// `inputs` (a JSON object over [`MAX_REJECT_INPUTS_BYTES`]) cut to fit it.
fn cut_inputs(inputs: &str) -> String {
    let Ok(serde_json::Value::Object(values)) = serde_json::from_str(inputs) else {
        return serde_json::json!({ "…": crate::rules::cap_message(inputs, 200) }).to_string();
    };
    let total = values.len();
    let mut kept = serde_json::Map::new();
    // Room for the braces and the count of the names left out.
    let mut room = MAX_REJECT_INPUTS_BYTES - 40;
    for (name, value) in values {
        let text = value.to_string();
        let value = if text.len() <= MAX_REJECT_INPUT_VALUE_BYTES {
            value
        } else {
            serde_json::Value::String(crate::rules::cap_message(
                &text,
                MAX_REJECT_INPUT_VALUE_BYTES,
            ))
        };
        let entry =
            serde_json::Value::String(name.clone()).to_string().len() + value.to_string().len() + 2;
        if entry > room {
            break;
        }
        room -= entry;
        kept.insert(name, value);
    }
    if kept.len() < total {
        let left = total - kept.len();
        kept.insert("…".into(), format!("{left} more names").into());
    }
    serde_json::Value::Object(kept).to_string()
}

/// The longest message a reject keeps, in bytes (a script can throw any string): longer ones are
/// cut, saying by how much.
pub const MAX_REJECT_MESSAGE_BYTES: usize = 1024;

/// `batch` with one more, nullable `Float64` column: a factor's values (or the score) for the
/// rules after it.
pub fn with_column(batch: &RecordBatch, name: &str, column: ArrayRef) -> RecordBatch {
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(name, DataType::Float64, true)));
    let mut columns = batch.columns().to_vec();
    columns.push(column);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("a Float64 column of the batch's length always fits")
}

impl ScoredBatch {
    /// The results of consecutive slices (each with its first row) as one batch's.
    fn join(parts: Vec<(usize, ScoredBatch)>, factors: usize) -> ScoredBatch {
        let column = |pick: &dyn Fn(&ScoredBatch) -> &dyn Array| -> ArrayRef {
            let arrays: Vec<&dyn Array> = parts.iter().map(|(_, p)| pick(p)).collect();
            arrow::compute::concat(&arrays).expect("slices of one batch have the same types")
        };
        let factor_columns = (0..factors)
            .map(|i| column(&|p: &ScoredBatch| p.factors[i].as_ref()))
            .collect();
        let score = column(&|p: &ScoredBatch| &p.score as &dyn Array);
        let score = score
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("scores are Float64")
            .clone();
        let reasons = (0..factors)
            .map(|i| {
                column(&|p: &ScoredBatch| &p.reasons[i] as &dyn Array)
                    .as_string::<i32>()
                    .clone()
            })
            .collect();
        let tier = parts
            .iter()
            .flat_map(|(_, p)| p.tier.iter().copied())
            .collect();
        let rejects = parts
            .into_iter()
            .flat_map(|(start, p)| {
                p.rejects.into_iter().map(move |mut reject| {
                    reject.row += start;
                    reject
                })
            })
            .collect();
        ScoredBatch {
            factors: factor_columns,
            reasons,
            score,
            tier,
            rejects,
        }
    }

    /// Rows scored (not rejected).
    pub fn scored_rows(&self) -> usize {
        self.score.len() - self.score.null_count()
    }

    /// Each scored row (not rejected) with its tier index, in input order.
    pub fn scored_tiers(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.tier
            .iter()
            .enumerate()
            .filter_map(|(row, tier)| Some((row, (*tier)?)))
    }
}

#[cfg(test)]
mod tests;
