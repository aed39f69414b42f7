//! The report's figures, counted by [`Counts`] from output rows: during a run from each batch
//! as it is written (and from each batch of rejects), and by `tierscore report` from the
//! committed output's Parquet files (one row group a unit, units in parallel). Both feed the
//! same [`Counts::add_scored`] and [`Counts::add_rejects`], and every figure is the same
//! whatever the batches and their order: counts are integers, sums are exact
//! ([`ExactSum`], rounded once), histograms have bars whose width is a power of two (merged
//! exactly, see [`Bars`]), the whale curve's points are exact sums too ([`WhaleValues`]), and
//! the reject groups keep the rejects file's order. So the run's page and the re-rendered one
//! are the same, on any number of threads.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use serde::Serialize;

pub use super::whale::WhaleValues;
pub use super::whale::{Whale, WhalePoint};
use super::ReportError;
use crate::manifest::{Manifest, REJECTS_FILE};
use crate::stats::exact::ExactSum;
use crate::stats::keys::SpillError;

/// Most bars in the score histogram.
const SCORE_BINS: usize = 40;
/// Most bars in each factor's histogram.
const FACTOR_BINS: usize = 24;
/// Reasons listed per tier.
const TOP_REASONS: usize = 8;
/// Reject groups listed, and the ids shown for each.
const REJECT_GROUPS: usize = 30;
const REJECT_IDS: usize = 5;
/// Distinct (step, message) pairs the report counts one by one. Messages can differ on every
/// row (a script throws the customer's id), and counting each would hold every message in
/// memory; rows with a message beyond these are counted together per step, as
/// [`OTHER_MESSAGES`]. At most about 10,000 × 1 KiB (the reject message cap) is held.
const MAX_REJECT_GROUPS: usize = 10_000;
/// The message of the group that counts the rows past [`MAX_REJECT_GROUPS`].
const OTHER_MESSAGES: &str = "(other messages: more than 10,000 distinct ones)";

/// Everything the report shows beyond the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// The column value shares and the whale curve are of (`score` unless `report.value`).
    pub value: String,
    /// Scored customers.
    pub customers: u64,
    pub total_score: f64,
    /// Sum of the value column over customers that have one.
    pub total_value: f64,
    /// Per tier, in the pipeline's level order.
    pub tiers: Vec<TierFigures>,
    pub whale: Whale,
    pub score_histogram: Histogram,
    pub factors: Vec<FactorFigures>,
    pub reasons: Vec<TierReasons>,
    pub rejects: Rejects,
}

/// One tier's size and what it holds.
#[derive(Debug, Clone, Serialize)]
pub struct TierFigures {
    pub name: String,
    pub count: u64,
    /// count / customers.
    pub customer_share: Option<f64>,
    pub score_sum: f64,
    /// score_sum / total score.
    pub score_share: Option<f64>,
    pub value_sum: f64,
    /// value_sum / total value.
    pub value_share: Option<f64>,
}

/// Bars of equal width, a power of two, from `min` (a multiple of it): bar `i` counts the values
/// in [min + i·width, min + (i+1)·width). Non-finite values are left out.
#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    pub min: f64,
    pub width: f64,
    pub counts: Vec<u64>,
}

/// One factor: its spread and what it brings each tier.
#[derive(Debug, Clone, Serialize)]
pub struct FactorFigures {
    pub name: String,
    pub weight: Option<f64>,
    pub histogram: Histogram,
    /// Per tier: mean value and mean weighted contribution (weight × mean; the mean alone when
    /// the factor has no weight).
    pub per_tier: Vec<FactorInTier>,
}

/// A factor within one tier.
#[derive(Debug, Clone, Serialize)]
pub struct FactorInTier {
    pub tier: String,
    pub mean: Option<f64>,
    pub contribution: Option<f64>,
}

/// The most frequent reasons in one tier.
#[derive(Debug, Clone, Serialize)]
pub struct TierReasons {
    pub tier: String,
    /// Rows in the tier with at least one reason.
    pub rows_with_reasons: u64,
    pub top: Vec<ReasonCount>,
}

/// A reason (numbers in it written `N`) and how many rows carry it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
}

/// Rejected rows grouped by the step that failed and its message.
#[derive(Debug, Clone, Serialize)]
pub struct Rejects {
    pub total: u64,
    /// Largest groups first (ties by step and message), at most 30.
    pub groups: Vec<RejectGroup>,
}

/// Rejected rows with the same step and message.
#[derive(Debug, Clone, Serialize)]
pub struct RejectGroup {
    pub step: String,
    pub message: String,
    pub count: u64,
    /// The ids of its first rows, in the order of `_rejects.parquet`.
    pub first_ids: Vec<String>,
}

/// The reasons' hash maps: ahash (not SipHash; the keys are our own strings).
type Hasher = std::hash::BuildHasherDefault<ahash::AHasher>;

/// ⌊log2 |x|⌋ of a finite, non-zero `x` (−1023 for subnormals and zero).
fn floor_log2(x: f64) -> i32 {
    ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// The lowest power-of-two exponent a histogram's width takes for values up to `magnitude` in
/// absolute value: about a thousandth of it (so one value alone gets a visible bar), never
/// below 2^-1000 (so the width and its inverse are normal numbers).
fn lowest_exponent(magnitude: f64) -> i32 {
    (floor_log2(magnitude) - 10).max(-1000)
}

/// A histogram being counted: at most `limit` bars of width 2^`exponent`, bar `i` holding the
/// values `x` with ⌊x / 2^exponent⌋ = `first` + i. The exponent is the smallest one, not below
/// [`lowest_exponent`] of the largest magnitude, at which the values' bars number at most
/// `limit`. That exponent only grows as values are added, bars of a power-of-two width nest in
/// those of the next, so two histograms merge by widening the narrower one: the result is
/// the same for any batches in any order.
#[derive(Debug, Clone)]
struct Bars {
    limit: usize,
    exponent: i32,
    first: f64,
    /// Empty before the first finite value; otherwise its first and last bars are not zero.
    counts: Vec<u64>,
    /// The largest magnitude counted.
    magnitude: f64,
}

impl Bars {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            exponent: -1000,
            first: 0.0,
            counts: Vec::new(),
            magnitude: 0.0,
        }
    }

    /// The bars of the finite values among `values`.
    fn of(values: &[f64], limit: usize) -> Self {
        // The lowest and highest in four lanes, with a comparison that passes over NaN (a
        // loop the compiler vectorises); only when an infinity turns up are the finite values'
        // bounds found again, one by one.
        let (mut lows, mut highs) = ([f64::INFINITY; 4], [f64::NEG_INFINITY; 4]);
        let mut nans = [false; 4];
        let mut see = |lane: usize, x: f64| {
            lows[lane] = if x < lows[lane] { x } else { lows[lane] };
            highs[lane] = if x > highs[lane] { x } else { highs[lane] };
            nans[lane] |= x.is_nan();
        };
        let mut quads = values.chunks_exact(4);
        for quad in quads.by_ref() {
            for (lane, &x) in quad.iter().enumerate() {
                see(lane, x);
            }
        }
        for (lane, &x) in quads.remainder().iter().enumerate() {
            see(lane, x);
        }
        let (mut lo, mut hi) = (
            lows.into_iter().fold(f64::INFINITY, f64::min),
            highs.into_iter().fold(f64::NEG_INFINITY, f64::max),
        );
        let all_finite = lo.is_finite() && hi.is_finite() && !nans.contains(&true);
        if lo.is_infinite() || hi.is_infinite() {
            (lo, hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for &x in values {
                if x.is_finite() {
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
            }
        }
        let mut bars = Self::new(limit);
        if lo > hi {
            return bars;
        }
        bars.magnitude = lo.abs().max(hi.abs());
        // At 2^start and below, the values span more than `limit` bars (hi − lo ≥ 2^(⌊log2
        // half⌋ + 1) > 2^start × limit); step up from there.
        let half = hi / 2.0 - lo / 2.0;
        let start = if half > 0.0 {
            floor_log2(half) - (usize::BITS - limit.leading_zeros()) as i32
        } else {
            -1000
        };
        let mut exponent = start.max(lowest_exponent(bars.magnitude));
        while bar(hi, exponent) - bar(lo, exponent) >= limit as f64 {
            exponent += 1;
        }
        bars.exponent = exponent;
        bars.first = bar(lo, exponent);
        bars.counts = vec![0; (bar(hi, exponent) - bars.first) as usize + 1];
        // Each value's bar as an integer, without `floor` (a library call per value): at this
        // exponent (not below `lowest_exponent` of the largest magnitude) every x / 2^exponent
        // is below 2^11 in absolute value, far inside `i64`.
        let (scale, first) = (pow2(-exponent), bars.first as i64);
        if all_finite {
            // Counted in four lanes of counts, summed at the end: neighbouring values often
            // share a bar, and one count would wait for the store of the one before.
            let width = bars.counts.len();
            let mut lanes = vec![0u64; 4 * width];
            for (i, &x) in values.iter().enumerate() {
                lanes[(i % 4) * width + (floor_small(x * scale) - first) as usize] += 1;
            }
            for lane in lanes.chunks_exact(width) {
                add_all(&mut bars.counts, lane);
            }
        } else {
            for &x in values {
                if x.is_finite() {
                    bars.counts[(floor_small(x * scale) - first) as usize] += 1;
                }
            }
        }
        bars
    }

    /// Makes the bars 2^`exponent` wide (not narrower than they are).
    fn widen(&mut self, exponent: i32) {
        while self.exponent < exponent {
            let first = (self.first / 2.0).floor();
            let last = ((self.first + (self.counts.len() - 1) as f64) / 2.0).floor();
            let mut counts = vec![0; (last - first) as usize + 1];
            for (i, c) in self.counts.iter().enumerate() {
                counts[(((self.first + i as f64) / 2.0).floor() - first) as usize] += c;
            }
            self.first = first;
            self.counts = counts;
            self.exponent += 1;
        }
    }

    fn merge(&mut self, mut other: Bars) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            *self = other;
            return;
        }
        let mut exponent = self
            .exponent
            .max(other.exponent)
            .max(lowest_exponent(self.magnitude.max(other.magnitude)));
        loop {
            self.widen(exponent);
            other.widen(exponent);
            let first = self.first.min(other.first);
            let last = (self.first + (self.counts.len() - 1) as f64)
                .max(other.first + (other.counts.len() - 1) as f64);
            if last - first < self.limit as f64 {
                let mut counts = vec![0; (last - first) as usize + 1];
                for bars in [&*self, &other] {
                    let at = (bars.first - first) as usize;
                    for (i, c) in bars.counts.iter().enumerate() {
                        counts[at + i] += c;
                    }
                }
                self.first = first;
                self.counts = counts;
                self.magnitude = self.magnitude.max(other.magnitude);
                return;
            }
            exponent += 1;
        }
    }

    fn histogram(&self) -> Histogram {
        let width = 2f64.powi(self.exponent);
        Histogram {
            min: self.first * width,
            width,
            counts: self.counts.clone(),
        }
    }
}

/// The bar of `x` for bars 2^`exponent` wide (a whole number, as `f64`). Multiplying by
/// 2^−`exponent` is dividing by 2^`exponent` (both exact but for the one rounding of the same
/// quotient).
fn bar(x: f64, exponent: i32) -> f64 {
    (x * pow2(-exponent)).floor()
}

/// 2^`e`, exactly: from its bits for the normal powers (all the exponents bars take: never
/// below −1000, and a finite value's bars are never 2^1022 wide).
fn pow2(e: i32) -> f64 {
    if (-1022..=1023).contains(&e) {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        2f64.powi(e)
    }
}

/// ⌊`y`⌋ of a `y` well inside `i64`: truncated, then one less for a negative fraction.
fn floor_small(y: f64) -> i64 {
    let t = y as i64;
    t - i64::from((t as f64) > y)
}

/// The report's figures being counted, from output rows (see the module's comment).
#[derive(Debug)]
pub struct Counts {
    /// The value column's name (`score` unless `report.value`).
    value: String,
    /// The factors' column names.
    factors: Vec<String>,
    /// Per tier.
    counts: Vec<u64>,
    score_sums: Vec<ExactSum>,
    value_sums: Vec<ExactSum>,
    score_bars: Bars,
    factor_bars: Vec<Bars>,
    /// [factor][tier]
    factor_sums: Vec<Vec<ExactSum>>,
    /// Per tier: reason (numbers written `N`) -> rows.
    reasons: Vec<HashMap<String, u64, Hasher>>,
    rows_with_reasons: Vec<u64>,
    /// The value column of every row that has one, for the whale curve.
    whale: WhaleValues,
    rejects: Rejects,
    /// The reject groups' places in `rejects.groups`, by step and message.
    reject_index: HashMap<(String, String), usize, Hasher>,
}

impl Counts {
    /// Nothing counted yet, for an output with `tiers` tiers, the factor columns `factors` and
    /// the value column `value`, the whale curve's values kept in `whale` (in memory, or
    /// spilled by a run to its staging directory).
    pub fn new(tiers: usize, factors: Vec<String>, value: String, whale: WhaleValues) -> Self {
        Self {
            value,
            counts: vec![0; tiers],
            score_sums: vec![ExactSum::default(); tiers],
            value_sums: vec![ExactSum::default(); tiers],
            score_bars: Bars::new(SCORE_BINS),
            factor_bars: vec![Bars::new(FACTOR_BINS); factors.len()],
            factor_sums: vec![vec![ExactSum::default(); tiers]; factors.len()],
            reasons: vec![HashMap::default(); tiers],
            rows_with_reasons: vec![0; tiers],
            whale,
            rejects: Rejects {
                total: 0,
                groups: Vec::new(),
            },
            reject_index: HashMap::default(),
            factors,
        }
    }

    /// Counts the scored rows `batch` (columns as the output files have them), row `i` in tier
    /// `tiers[i]`.
    pub fn add_scored(&mut self, batch: &RecordBatch, tiers: &[usize]) -> Result<(), ArrowError> {
        let score = float_column(batch, "score")?;
        let values = float_column(batch, &self.value)?;
        for &tier in tiers {
            self.counts[tier] += 1;
        }
        ExactSum::add_grouped(&mut self.score_sums, score.values(), tiers);
        self.score_bars.merge(Bars::of(score.values(), SCORE_BINS));
        if values.null_count() == 0 {
            ExactSum::add_grouped(&mut self.value_sums, values.values(), tiers);
            self.whale.extend(values.values());
        } else {
            for (x, &tier) in values.iter().zip(tiers) {
                if let Some(x) = x {
                    self.value_sums[tier].add(x);
                    self.whale.extend(&[x]);
                }
            }
        }
        for (f, name) in self.factors.iter().enumerate() {
            let column = float_column(batch, name)?;
            ExactSum::add_grouped(&mut self.factor_sums[f], column.values(), tiers);
            self.factor_bars[f].merge(Bars::of(column.values(), FACTOR_BINS));
        }
        if let Some(list) = batch.column_by_name("reasons") {
            let list = list
                .as_list_opt::<i32>()
                .ok_or_else(|| ArrowError::SchemaError("`reasons` is not a list".into()))?;
            let strings = list
                .values()
                .as_string_opt::<i32>()
                .ok_or_else(|| ArrowError::SchemaError("`reasons` is not a list of text".into()))?;
            // Each reason is looked up in its tier's map of the few distinct reasons (numbers
            // written `N`), which stays in the cache: no map of each batch's texts, which are
            // mostly distinct (the numbers differ) and would be as large as the batch.
            let offsets = list.value_offsets();
            let mut masked = String::new();
            for (row, &tier) in tiers.iter().enumerate() {
                if list.is_null(row) {
                    continue;
                }
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                if end > start {
                    self.rows_with_reasons[tier] += 1;
                }
                for i in start..end {
                    if strings.is_valid(i) {
                        let reason = strings.value(i);
                        let key = if numbers_as_n(reason, &mut masked) {
                            masked.as_str()
                        } else {
                            reason
                        };
                        match self.reasons[tier].get_mut(key) {
                            Some(c) => *c += 1,
                            None => {
                                self.reasons[tier].insert(key.to_string(), 1);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Counts rows of the rejects file (its columns), in the order of the file.
    pub fn add_rejects(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let ids = cast(batch.column(0), &DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| ArrowError::SchemaError(format!("no text column `{name}`")))
        };
        let (steps, messages) = (text("factor")?, text("message")?);
        for row in 0..batch.num_rows() {
            let id = if ids.is_valid(row) {
                ids.value(row).to_string()
            } else {
                "null".into()
            };
            self.add_reject(steps.value(row), messages.value(row), 1, &[id]);
        }
        Ok(())
    }

    /// Adds `count` rejects of `step` and `message`, whose first ids are `ids`.
    fn add_reject(&mut self, step: &str, message: &str, count: u64, ids: &[String]) {
        self.rejects.total += count;
        let mut key = (step.to_string(), message.to_string());
        if self.reject_index.len() >= MAX_REJECT_GROUPS && !self.reject_index.contains_key(&key) {
            key.1 = OTHER_MESSAGES.to_string();
        }
        let groups = &mut self.rejects.groups;
        let at = *self.reject_index.entry(key.clone()).or_insert_with(|| {
            groups.push(RejectGroup {
                step: key.0,
                message: key.1,
                count: 0,
                first_ids: Vec::new(),
            });
            groups.len() - 1
        });
        let group = &mut groups[at];
        group.count += count;
        let room = REJECT_IDS - group.first_ids.len();
        group.first_ids.extend(ids.iter().take(room).cloned());
    }

    /// Adds everything `later` counted; its rows come after these (for the rejects' order).
    pub fn merge(&mut self, later: Counts) -> Result<(), SpillError> {
        add_all(&mut self.counts, &later.counts);
        add_all(&mut self.rows_with_reasons, &later.rows_with_reasons);
        for (mine, theirs) in self.score_sums.iter_mut().zip(&later.score_sums) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.value_sums.iter_mut().zip(&later.value_sums) {
            mine.merge(theirs);
        }
        self.score_bars.merge(later.score_bars);
        for (mine, theirs) in self.factor_bars.iter_mut().zip(later.factor_bars) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.factor_sums.iter_mut().zip(&later.factor_sums) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                a.merge(b);
            }
        }
        for (mine, theirs) in self.reasons.iter_mut().zip(later.reasons) {
            for (reason, count) in theirs {
                *mine.entry(reason).or_default() += count;
            }
        }
        self.whale.merge(later.whale)?;
        for group in later.rejects.groups {
            self.add_reject(&group.step, &group.message, group.count, &group.first_ids);
        }
        Ok(())
    }

    /// The figures, with the tiers' names and the factors' weights from `manifest`.
    pub fn finish(self, manifest: &Manifest) -> Result<Figures, SpillError> {
        Ok(self.ranked()?.finish(manifest))
    }

    /// Everything counted, with the whale curve drawn: most of what is left to do at the end,
    /// which a run does beside building its manifest.
    pub fn ranked(mut self) -> Result<Ranked, SpillError> {
        let whale = std::mem::take(&mut self.whale).curve()?;
        Ok(Ranked {
            counts: self,
            whale,
        })
    }
}

/// [`Counts`] with the whale curve drawn ([`Counts::ranked`]), ready for the manifest.
#[derive(Debug)]
pub struct Ranked {
    /// Everything but the whale curve's values.
    counts: Counts,
    whale: Whale,
}

impl Ranked {
    /// The figures, with the tiers' names and the factors' weights from `manifest`.
    pub fn finish(self, manifest: &Manifest) -> Figures {
        let Ranked {
            counts: this,
            whale,
        } = self;
        let sum = |sums: &[ExactSum]| {
            let mut all = ExactSum::default();
            for s in sums {
                all.merge(s);
            }
            all.value()
        };
        let customers: u64 = this.counts.iter().sum();
        let total_score = sum(&this.score_sums);
        let total_value = sum(&this.value_sums);
        let tiers = manifest
            .tiers
            .iter()
            .enumerate()
            .map(|(t, tier)| {
                let (score_sum, value_sum) =
                    (this.score_sums[t].value(), this.value_sums[t].value());
                TierFigures {
                    name: tier.name.clone(),
                    count: this.counts[t],
                    customer_share: share(this.counts[t] as f64, customers as f64),
                    score_sum,
                    score_share: share(score_sum, total_score),
                    value_sum,
                    value_share: share(value_sum, total_value),
                }
            })
            .collect();
        let factors = manifest
            .factors
            .iter()
            .enumerate()
            .map(|(f, factor)| FactorFigures {
                name: factor.name.clone(),
                weight: factor.weight,
                histogram: this.factor_bars[f].histogram(),
                per_tier: manifest
                    .tiers
                    .iter()
                    .enumerate()
                    .map(|(t, tier)| {
                        let count = this.counts[t];
                        let mean =
                            (count > 0).then(|| this.factor_sums[f][t].value() / count as f64);
                        FactorInTier {
                            tier: tier.name.clone(),
                            mean,
                            contribution: mean.map(|m| m * factor.weight.unwrap_or(1.0)),
                        }
                    })
                    .collect(),
            })
            .collect();
        let reasons = manifest
            .tiers
            .iter()
            .zip(this.reasons)
            .zip(&this.rows_with_reasons)
            .map(|((tier, counts), &rows)| {
                let mut top: Vec<ReasonCount> = counts
                    .into_iter()
                    .map(|(reason, count)| ReasonCount { reason, count })
                    .collect();
                top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
                top.truncate(TOP_REASONS);
                TierReasons {
                    tier: tier.name.clone(),
                    rows_with_reasons: rows,
                    top,
                }
            })
            .collect();
        let mut rejects = this.rejects;
        rejects.groups.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.step.cmp(&b.step))
                .then_with(|| a.message.cmp(&b.message))
        });
        rejects.groups.truncate(REJECT_GROUPS);
        Figures {
            customers,
            total_score,
            total_value,
            tiers,
            whale,
            score_histogram: this.score_bars.histogram(),
            factors,
            reasons,
            rejects,
            value: this.value,
        }
    }
}

fn add_all<T: Copy + std::ops::AddAssign>(to: &mut [T], from: &[T]) {
    for (a, b) in to.iter_mut().zip(from) {
        *a += *b;
    }
}

/// Where the tier of a unit's rows comes from.
#[derive(Clone, Copy)]
enum TierOf {
    /// The file is one tier's partition.
    File(usize),
    /// The `tier` column.
    Column,
}

/// One row group of one output file.
struct Unit {
    path: std::path::PathBuf,
    /// The file's footer, read once for all its row groups.
    metadata: ArrowReaderMetadata,
    row_group: usize,
    tier: TierOf,
}

/// Row groups read side by side before their counts are merged (in order): the counts of a
/// unit hold a tier's figures each, so holding every unit's at once took memory with row
/// groups times tiers (1.7 GB for 1,796 row groups and 200 tiers).
fn units_at_once() -> usize {
    4 * rayon::current_num_threads()
}

/// Computes the figures of the output in `dir`, described by `manifest`, from its files.
pub fn collect(dir: &Path, manifest: &Manifest) -> Result<Figures, ReportError> {
    let value = manifest
        .report
        .value
        .clone()
        .unwrap_or_else(|| "score".into());
    let factors: Vec<String> = manifest.factors.iter().map(|f| f.name.clone()).collect();
    let empty = || {
        Counts::new(
            manifest.tiers.len(),
            factors.clone(),
            value.clone(),
            WhaleValues::default(),
        )
    };
    let mut units = Vec::new();
    let mut listed = std::collections::HashSet::new();
    for file in &manifest.output.files {
        let path = dir.join(&file.path);
        if !crate::manifest::is_inside_output(&file.path) {
            return Err(ReportError::unexpected(
                &path,
                "its manifest lists it, outside the output".into(),
            ));
        }
        // Compared as components: `a/./b` and `a//b` name `a/b`.
        if !listed.insert(
            std::path::Path::new(&file.path)
                .components()
                .collect::<Vec<_>>(),
        ) {
            return Err(ReportError::unexpected(
                &path,
                "its manifest lists it twice".into(),
            ));
        }
        let tier = match &file.tier {
            Some(name) => TierOf::File(tier_index(manifest, name, &path)?),
            None => TierOf::Column,
        };
        let metadata = ArrowReaderMetadata::load(&open_file(&path)?, Default::default())
            .map_err(|e| ReportError::unexpected(&path, e.to_string()))?;
        let rows = metadata.metadata().file_metadata().num_rows();
        if u64::try_from(rows).ok() != Some(file.rows) {
            return Err(ReportError::unexpected(
                &path,
                format!("it holds {rows} rows, and its manifest says {}", file.rows),
            ));
        }
        for row_group in 0..metadata.metadata().num_row_groups() {
            units.push(Unit {
                path: path.clone(),
                metadata: metadata.clone(),
                row_group,
                tier,
            });
        }
    }
    let listed_rows: u64 = manifest.output.files.iter().map(|f| f.rows).sum();
    if listed_rows != manifest.rows.scored {
        return Err(ReportError::unexpected(
            &dir.join(crate::manifest::MANIFEST_FILE),
            format!(
                "its files hold {listed_rows} rows, and it counts {} scored",
                manifest.rows.scored
            ),
        ));
    }
    let mut all = empty();
    let in_memory = |e: SpillError| ReportError::unexpected(dir, e.to_string());
    for some in units.chunks(units_at_once()) {
        let partials: Vec<Counts> = some
            .par_iter()
            .map(|unit| {
                let mut counts = empty();
                read_unit(unit, manifest, &mut counts)?;
                Ok(counts)
            })
            .collect::<Result<_, ReportError>>()?;
        for partial in partials {
            all.merge(partial).map_err(in_memory)?;
        }
    }
    let path = dir.join(if manifest.output.rejects_file.is_empty() {
        REJECTS_FILE
    } else {
        &manifest.output.rejects_file
    });
    let reader = open(&path)?
        .build()
        .map_err(|e| ReportError::unexpected(&path, e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(|e| ReportError::unexpected(&path, e.to_string()))?;
        all.add_rejects(&batch)
            .map_err(|e| ReportError::unexpected(&path, e.to_string()))?;
    }
    all.finish(manifest).map_err(in_memory)
}

fn tier_index(manifest: &Manifest, name: &str, path: &Path) -> Result<usize, ReportError> {
    manifest
        .tiers
        .iter()
        .position(|t| t.name == name)
        .ok_or_else(|| {
            ReportError::unexpected(path, format!("tier `{name}` is not in the manifest"))
        })
}

/// The output file at `path`, open for reading (a regular file only: see `local_file`).
fn open_file(path: &Path) -> Result<File, ReportError> {
    crate::local_file::open(path)
        .map(|(file, _)| file)
        .map_err(|e| ReportError::unexpected(path, e.to_string()))
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, ReportError> {
    ParquetRecordBatchReaderBuilder::try_new(open_file(path)?)
        .map_err(|e| ReportError::unexpected(path, e.to_string()))
}

/// Reads one unit, only the columns the figures need, into `counts`.
fn read_unit(unit: &Unit, manifest: &Manifest, counts: &mut Counts) -> Result<(), ReportError> {
    let path = &unit.path;
    let failed = |e: ArrowError| ReportError::unexpected(path, e.to_string());
    let builder =
        ParquetRecordBatchReaderBuilder::new_with_metadata(open_file(path)?, unit.metadata.clone());
    let schema = builder.schema().clone();
    let mut wanted: Vec<&str> = vec!["score", counts.value.as_str()];
    wanted.extend(counts.factors.iter().map(String::as_str));
    if matches!(unit.tier, TierOf::Column) {
        wanted.push("tier");
    }
    if schema.column_with_name("reasons").is_some() {
        wanted.push("reasons");
    }
    let mut indices = Vec::new();
    for name in &wanted {
        let (index, _) = schema
            .column_with_name(name)
            .ok_or_else(|| ReportError::unexpected(path, format!("it has no column `{name}`")))?;
        indices.push(index);
    }
    indices.sort_unstable();
    indices.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder
        .with_projection(mask)
        .with_row_groups(vec![unit.row_group])
        .with_batch_size(65_536)
        .build()
        .map_err(|e| ReportError::unexpected(path, e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(failed)?;
        let tiers: Vec<usize> = match unit.tier {
            TierOf::File(tier) => vec![tier; batch.num_rows()],
            TierOf::Column => {
                let names = batch
                    .column_by_name("tier")
                    .and_then(|c| c.as_string_opt::<i32>())
                    .ok_or_else(|| {
                        ReportError::unexpected(path, "its `tier` column is not text".into())
                    })?;
                names
                    .iter()
                    .map(|name| tier_index(manifest, name.unwrap_or_default(), path))
                    .collect::<Result<_, _>>()?
            }
        };
        counts.add_scored(&batch, &tiers).map_err(failed)?;
    }
    Ok(())
}

/// A column as `Float64` (integers and decimals are cast).
fn float_column(batch: &RecordBatch, name: &str) -> Result<Float64Array, ArrowError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("it has no column `{name}`")))?;
    if !column.data_type().is_numeric() {
        return Err(ArrowError::SchemaError(format!(
            "column `{name}` is {}, not a number",
            column.data_type()
        )));
    }
    Ok(cast(column, &DataType::Float64)?.as_primitive().clone())
}

/// `reason` with each number (digits, with `.` or `,` between digits) written `N`, into `out`;
/// false (and `out` left as it was) when `reason` has no number, to be used as it is.
/// Works on bytes: digits and separators are ASCII, so every cut is a character boundary.
fn numbers_as_n(reason: &str, out: &mut String) -> bool {
    let bytes = reason.as_bytes();
    let (mut i, mut copied, mut found) = (0, 0, false);
    while i < bytes.len() {
        // Most of a reason is words: skipped 8 bytes at a time while none is a digit.
        if let Some(&word) = bytes
            .get(i..i + 8)
            .and_then(|b| <&[u8; 8]>::try_from(b).ok())
        {
            if !has_digit(u64::from_le_bytes(word)) {
                i += 8;
                continue;
            }
        }
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        if !found {
            out.clear();
            found = true;
        }
        out.push_str(&reason[copied..i]);
        out.push('N');
        i += 1;
        while i < bytes.len()
            && (bytes[i].is_ascii_digit()
                || (matches!(bytes[i], b'.' | b',')
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)))
        {
            i += 1;
        }
        copied = i;
    }
    if found {
        out.push_str(&reason[copied..]);
    }
    found
}

/// Whether one of the eight bytes of `word` is an ASCII digit, tested on all eight at once: a
/// byte is a digit when its XOR with `0` is below 10. Subtracting 10 from every byte of those
/// XORs sets a byte's top bit, where the XOR's own top bit is clear, only at a byte below 10 or
/// above one that borrowed from it, so only when some byte is below 10.
fn has_digit(word: u64) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    let from_zero = word ^ (ONES * u64::from(b'0'));
    from_zero.wrapping_sub(ONES * 10) & !from_zero & (ONES * 0x80) != 0
}

fn share(part: f64, whole: f64) -> Option<f64> {
    (whole != 0.0).then(|| part / whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::exact::xorshift;

    #[test]
    fn numbers_in_reasons_become_n() {
        let mut out = String::new();
        assert!(numbers_as_n(
            "lapsed: no order for 412 days (win-back list)",
            &mut out
        ));
        assert_eq!(out, "lapsed: no order for N days (win-back list)");
        assert!(numbers_as_n("cost 1,234.5 exceeds 17. Done", &mut out));
        assert_eq!(out, "cost N exceeds N. Done");
        assert!(!numbers_as_n("in litigation with us", &mut out));
        assert_eq!(out, "cost N exceeds N. Done", "left as it was");
        assert!(numbers_as_n("7", &mut out));
        assert_eq!(out, "N");
    }

    #[test]
    fn digits_are_found_in_any_byte_of_a_word() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for word in [
                    [a, b, b'x', 0xff, 0, b'/', b':', 0x80],
                    [0xb9, b' ', 9, 0x7f, 1, 0x3a, a, b],
                ] {
                    assert_eq!(
                        has_digit(u64::from_le_bytes(word)),
                        word.iter().any(u8::is_ascii_digit),
                        "{word:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn numbers_are_found_wherever_they_fall_against_the_words() {
        // Each offset of a number against the eight-byte words, and numbers across them.
        for pad in 0..17 {
            let reason = format!(
                "{}bad debt 1,145.50 and 7 {}9",
                "é".repeat(pad),
                "x".repeat(pad)
            );
            let mut out = String::new();
            assert!(numbers_as_n(&reason, &mut out));
            assert_eq!(
                out,
                format!("{}bad debt N and N {}N", "é".repeat(pad), "x".repeat(pad))
            );
        }
    }

    #[test]
    fn bars_are_a_power_of_two_wide_from_a_multiple_of_it() {
        let values: Vec<f64> = (0..=100).map(f64::from).collect();
        // 2 wide would need 51 bars: 4 wide, 26 bars from 0.
        let bars = Bars::of(&values, 40);
        let h = bars.histogram();
        assert_eq!((h.min, h.width, h.counts.len()), (0.0, 4.0, 26));
        assert_eq!((h.counts[0], h.counts[25]), (4, 1));
        // One value alone: a bar about a thousandth of it wide (2^-9 for 3).
        let h = Bars::of(&[3.0; 5], 40).histogram();
        assert_eq!(
            (h.min, h.width, h.counts.clone()),
            (3.0, 0.001_953_125, vec![5])
        );
        // Non-finite values are left out; nothing at all gives no bars.
        let h = Bars::of(&[f64::NAN, -1.5, f64::INFINITY], 40).histogram();
        assert_eq!(h.counts.iter().sum::<u64>(), 1);
        assert!(Bars::of(&[f64::NAN], 40).histogram().counts.is_empty());
    }

    #[test]
    fn bars_are_found_without_floor_or_division_as_with_them() {
        for e in [-1000, -1022, -3, 0, 5, 1000, 1023] {
            assert_eq!(pow2(e), 2f64.powi(e), "2^{e}");
        }
        for y in [
            -2048.0, -3.5, -3.0, -0.25, -0.0, 0.0, 0.25, 3.0, 3.5, 2047.75,
        ] {
            assert_eq!(floor_small(y) as f64, f64::floor(y), "floor {y}");
        }
        for (x, e) in [(-7.3, -2), (1e-300, -1000), (123.456, 3), (-0.001, -11)] {
            assert_eq!(bar(x, e), (x / 2f64.powi(e)).floor(), "{x} at 2^{e}");
        }
    }

    #[test]
    fn bars_leave_out_nan_and_infinities_wherever_they_are() {
        let finite: Vec<f64> = (0..11).map(|i| f64::from(i) * 7.5 - 20.0).collect();
        let expected = Bars::of(&finite, 24).histogram();
        assert_eq!(expected.counts.iter().sum::<u64>(), 11);
        for odd in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            for at in 0..=finite.len() {
                let mut values = finite.clone();
                values.insert(at, odd);
                let bars = Bars::of(&values, 24).histogram();
                assert_eq!(
                    (bars.min, bars.width, &bars.counts),
                    (expected.min, expected.width, &expected.counts),
                    "{odd} at {at}"
                );
            }
        }
        assert!(Bars::of(&[f64::NAN, f64::INFINITY], 24).counts.is_empty());
    }

    #[test]
    fn bars_merge_to_the_same_histogram_in_any_grouping() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let values: Vec<f64> = (0..3000)
            .map(|i| {
                let x = (next() >> 11) as f64 / (1u64 << 53) as f64;
                // Batches of very different spreads: narrow ones first, a wide one late.
                if i < 2000 {
                    10.0 + x
                } else {
                    -300.0 + 900.0 * x
                }
            })
            .collect();
        let all = Bars::of(&values, 24);
        for size in [1, 7, 64, 1000] {
            for reverse in [false, true] {
                let mut chunks: Vec<&[f64]> = values.chunks(size).collect();
                if reverse {
                    chunks.reverse();
                }
                let mut merged = Bars::new(24);
                for chunk in chunks {
                    merged.merge(Bars::of(chunk, 24));
                }
                assert_eq!(
                    (merged.exponent, merged.first, &merged.counts),
                    (all.exponent, all.first, &all.counts),
                    "chunks of {size}, reversed: {reverse}"
                );
            }
        }
        assert_eq!(all.counts.iter().sum::<u64>(), 3000);
        assert!(all.counts.len() <= 24 && all.counts.len() > 12);
    }
}
