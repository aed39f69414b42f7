//! The report's figures, from one pass over a committed output's Parquet files.
//!
//! Each unit of work is one row group of one file, read with only the columns the report
//! shows (score, the factors, the value column, the tier column and reasons); units are read
//! in parallel and merged in file order, so the figures do not depend on the thread count.
//! Histogram ranges come from the manifest's minima and maxima, so one pass is enough; the
//! whale curve keeps one number a customer and sorts them.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use serde::Serialize;

use super::ReportError;
use crate::manifest::{Manifest, REJECTS_FILE};

/// Bars in the score histogram.
const SCORE_BINS: usize = 40;
/// Bars in each factor's histogram.
const FACTOR_BINS: usize = 24;
/// Points drawn on the whale curve (besides its peak and ends).
const WHALE_POINTS: usize = 200;
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

/// Customers ranked by value, highest first: how the value accumulates (Kaplan & Cooper).
#[derive(Debug, Clone, Serialize)]
pub struct Whale {
    /// Customers with a value (nulls are left out).
    pub customers: u64,
    pub total: f64,
    /// From (0, 0) to (1, total), thinned to about 200 points, the peak included.
    pub points: Vec<WhalePoint>,
    /// Where the cumulative value is highest.
    pub peak: WhalePoint,
    /// peak − total: what the customers after the peak give back.
    pub given_back: f64,
    /// The first point holding 80% of the total (none when the total is not above 0).
    pub pareto: Option<WhalePoint>,
}

/// A point of the whale curve: the first `customers` customers by value hold `cumulative`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WhalePoint {
    pub customers: u64,
    /// customers / all customers with a value.
    pub customer_share: f64,
    pub cumulative: f64,
}

/// Equal-width bars over [min, max] (the last bar includes max).
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

/// Where the tier of a unit's rows comes from.
#[derive(Clone, Copy)]
enum TierOf {
    /// The file is one tier's partition.
    File(usize),
    /// The `tier` column.
    Column,
}

/// One row group of one output file.
struct Unit<'a> {
    path: std::path::PathBuf,
    row_group: usize,
    tier: TierOf,
    manifest: &'a Manifest,
}

/// What one unit adds up.
struct Partial {
    counts: Vec<u64>,
    score_sums: Vec<f64>,
    value_sums: Vec<f64>,
    score_bins: Vec<u64>,
    /// [factor][bin]
    factor_bins: Vec<Vec<u64>>,
    /// [factor][tier]
    factor_sums: Vec<Vec<f64>>,
    /// Per tier: reason -> rows.
    reasons: Vec<HashMap<String, u64, Hasher>>,
    rows_with_reasons: Vec<u64>,
    values: Vec<f64>,
}

impl Partial {
    fn new(tiers: usize, factors: usize) -> Self {
        Self {
            counts: vec![0; tiers],
            score_sums: vec![0.0; tiers],
            value_sums: vec![0.0; tiers],
            score_bins: vec![0; SCORE_BINS],
            factor_bins: vec![vec![0; FACTOR_BINS]; factors],
            factor_sums: vec![vec![0.0; tiers]; factors],
            reasons: vec![HashMap::default(); tiers],
            rows_with_reasons: vec![0; tiers],
            values: Vec::new(),
        }
    }

    fn merge(&mut self, other: Partial) {
        add_all(&mut self.counts, &other.counts);
        add_all(&mut self.score_sums, &other.score_sums);
        add_all(&mut self.value_sums, &other.value_sums);
        add_all(&mut self.score_bins, &other.score_bins);
        add_all(&mut self.rows_with_reasons, &other.rows_with_reasons);
        for (mine, theirs) in self.factor_bins.iter_mut().zip(&other.factor_bins) {
            add_all(mine, theirs);
        }
        for (mine, theirs) in self.factor_sums.iter_mut().zip(&other.factor_sums) {
            add_all(mine, theirs);
        }
        for (mine, theirs) in self.reasons.iter_mut().zip(other.reasons) {
            for (reason, count) in theirs {
                *mine.entry(reason).or_default() += count;
            }
        }
        self.values.extend(other.values);
    }
}

fn add_all<T: Copy + std::ops::AddAssign>(to: &mut [T], from: &[T]) {
    for (a, b) in to.iter_mut().zip(from) {
        *a += *b;
    }
}

/// Computes the figures of the output in `dir`, described by `manifest`.
pub fn collect(dir: &Path, manifest: &Manifest) -> Result<Figures, ReportError> {
    let value = manifest
        .report
        .value
        .clone()
        .unwrap_or_else(|| "score".into());
    let mut units = Vec::new();
    for file in &manifest.output.files {
        let path = dir.join(&file.path);
        let tier = match &file.tier {
            Some(name) => TierOf::File(
                manifest
                    .tiers
                    .iter()
                    .position(|t| &t.name == name)
                    .ok_or_else(|| {
                        ReportError::unexpected(
                            &path,
                            format!("tier `{name}` is not in the manifest"),
                        )
                    })?,
            ),
            None => TierOf::Column,
        };
        let builder = open(&path)?;
        for row_group in 0..builder.metadata().num_row_groups() {
            units.push(Unit {
                path: path.clone(),
                row_group,
                tier,
                manifest,
            });
        }
    }
    let partials: Vec<Partial> = units
        .par_iter()
        .map(|unit| read_unit(unit, &value))
        .collect::<Result<_, _>>()?;
    let mut all = Partial::new(manifest.tiers.len(), manifest.factors.len());
    for partial in partials {
        all.merge(partial);
    }
    let rejects = rejects(dir, manifest)?;
    Ok(finish(manifest, value, all, rejects))
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, ReportError> {
    let file = File::open(path).map_err(|e| ReportError::unexpected(path, e.to_string()))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| ReportError::unexpected(path, e.to_string()))
}

fn read_unit(unit: &Unit<'_>, value: &str) -> Result<Partial, ReportError> {
    let manifest = unit.manifest;
    let path = &unit.path;
    let builder = open(path)?;
    let schema = builder.schema().clone();
    let mut wanted: Vec<&str> = vec!["score", value];
    wanted.extend(manifest.factors.iter().map(|f| f.name.as_str()));
    if matches!(unit.tier, TierOf::Column) {
        wanted.push("tier");
    }
    let has_reasons = schema.column_with_name("reasons").is_some();
    if has_reasons {
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
    let tiers = &manifest.tiers;
    let mut partial = Partial::new(tiers.len(), manifest.factors.len());
    let score_bins = Bins::new(manifest.score.min, manifest.score.max, SCORE_BINS);
    let factor_bins: Vec<Bins> = manifest
        .factors
        .iter()
        .map(|f| Bins::new(f.values.min, f.values.max, FACTOR_BINS))
        .collect();
    let mut key = String::new();
    for batch in reader {
        let batch = batch.map_err(|e| ReportError::unexpected(path, e.to_string()))?;
        let score = float_column(&batch, "score", path)?;
        let values = float_column(&batch, value, path)?;
        let factors: Vec<Float64Array> = manifest
            .factors
            .iter()
            .map(|f| float_column(&batch, &f.name, path))
            .collect::<Result<_, _>>()?;
        let row_tiers: Vec<usize> = match unit.tier {
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
                    .map(|name| {
                        let name = name.unwrap_or_default();
                        tiers.iter().position(|t| t.name == name).ok_or_else(|| {
                            ReportError::unexpected(
                                path,
                                format!("tier `{name}` is not in the manifest"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        let reasons = batch
            .column_by_name("reasons")
            .and_then(|c| c.as_list_opt::<i32>())
            .filter(|list| list.null_count() == 0)
            .and_then(|list| {
                let strings = list.values().as_string_opt::<i32>()?;
                Some((list.value_offsets(), strings))
            });
        for (row, &tier) in row_tiers.iter().enumerate() {
            let s = score.value(row);
            partial.counts[tier] += 1;
            partial.score_sums[tier] += s;
            partial.score_bins[score_bins.index(s)] += 1;
            if values.is_valid(row) {
                let v = values.value(row);
                partial.value_sums[tier] += v;
                partial.values.push(v);
            }
            for (f, column) in factors.iter().enumerate() {
                let x = column.value(row);
                partial.factor_sums[f][tier] += x;
                partial.factor_bins[f][factor_bins[f].index(x)] += 1;
            }
            // The reasons of a row, straight from the list's offsets (no array per row).
            if let Some((offsets, strings)) = &reasons {
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                if end > start {
                    partial.rows_with_reasons[tier] += 1;
                }
                for i in start..end {
                    if strings.is_null(i) {
                        continue;
                    }
                    numbers_as_n(strings.value(i), &mut key);
                    match partial.reasons[tier].get_mut(key.as_str()) {
                        Some(count) => *count += 1,
                        None => {
                            partial.reasons[tier].insert(key.clone(), 1);
                        }
                    }
                }
            }
        }
    }
    Ok(partial)
}

/// A column as `Float64` (integers and decimals are cast).
fn float_column(batch: &RecordBatch, name: &str, path: &Path) -> Result<Float64Array, ReportError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ReportError::unexpected(path, format!("it has no column `{name}`")))?;
    if !column.data_type().is_numeric() {
        return Err(ReportError::unexpected(
            path,
            format!("column `{name}` is {}, not a number", column.data_type()),
        ));
    }
    let column = cast(column, &DataType::Float64)
        .map_err(|e| ReportError::unexpected(path, e.to_string()))?;
    Ok(column.as_primitive().clone())
}

/// `reason` with each number (digits, with `.` or `,` between digits) written `N`, into `out`.
/// Works on bytes: digits and separators are ASCII, so every cut is a character boundary.
fn numbers_as_n(reason: &str, out: &mut String) {
    out.clear();
    let bytes = reason.as_bytes();
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
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
    out.push_str(&reason[copied..]);
}

/// Equal-width bins over [min, max].
struct Bins {
    min: f64,
    width: f64,
    count: usize,
}

impl Bins {
    fn new(min: Option<f64>, max: Option<f64>, count: usize) -> Self {
        let min = min.unwrap_or(0.0);
        let max = max.unwrap_or(min);
        let width = if max > min {
            (max - min) / count as f64
        } else {
            1.0
        };
        Self { min, width, count }
    }

    fn index(&self, x: f64) -> usize {
        // `as` truncates, which is floor for the non-negative values it sees (NaN gives 0).
        let i = (x - self.min) / self.width;
        if i <= 0.0 {
            0
        } else {
            (i as usize).min(self.count - 1)
        }
    }

    fn histogram(&self, counts: Vec<u64>) -> Histogram {
        Histogram {
            min: self.min,
            width: self.width,
            counts,
        }
    }
}

fn share(part: f64, whole: f64) -> Option<f64> {
    (whole != 0.0).then(|| part / whole)
}

fn finish(manifest: &Manifest, value: String, all: Partial, rejects: Rejects) -> Figures {
    let customers: u64 = all.counts.iter().sum();
    let total_score: f64 = all.score_sums.iter().sum();
    let total_value: f64 = all.value_sums.iter().sum();
    let tiers = manifest
        .tiers
        .iter()
        .enumerate()
        .map(|(t, tier)| TierFigures {
            name: tier.name.clone(),
            count: all.counts[t],
            customer_share: share(all.counts[t] as f64, customers as f64),
            score_sum: all.score_sums[t],
            score_share: share(all.score_sums[t], total_score),
            value_sum: all.value_sums[t],
            value_share: share(all.value_sums[t], total_value),
        })
        .collect();
    let factors = manifest
        .factors
        .iter()
        .enumerate()
        .map(|(f, factor)| FactorFigures {
            name: factor.name.clone(),
            weight: factor.weight,
            histogram: Bins::new(factor.values.min, factor.values.max, FACTOR_BINS)
                .histogram(all.factor_bins[f].clone()),
            per_tier: manifest
                .tiers
                .iter()
                .enumerate()
                .map(|(t, tier)| {
                    let mean =
                        (all.counts[t] > 0).then(|| all.factor_sums[f][t] / all.counts[t] as f64);
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
        .zip(all.reasons)
        .zip(&all.rows_with_reasons)
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
    Figures {
        customers,
        total_score,
        total_value,
        tiers,
        whale: whale(all.values),
        score_histogram: Bins::new(manifest.score.min, manifest.score.max, SCORE_BINS)
            .histogram(all.score_bins),
        factors,
        reasons,
        rejects,
        value,
    }
}

/// The whale curve of `values`: sorted highest first and accumulated.
fn whale(mut values: Vec<f64>) -> Whale {
    values.par_sort_unstable_by(|a, b| b.total_cmp(a));
    let n = values.len();
    let point = |customers: usize, cumulative: f64| WhalePoint {
        customers: customers as u64,
        customer_share: if n == 0 {
            0.0
        } else {
            customers as f64 / n as f64
        },
        cumulative,
    };
    let step = n.div_ceil(WHALE_POINTS).max(1);
    let mut points = vec![point(0, 0.0)];
    let mut peak = point(0, 0.0);
    let mut cumulative = 0.0;
    let mut pareto_index = None;
    let mut sums = Vec::with_capacity(n);
    for (i, v) in values.iter().enumerate() {
        cumulative += v;
        sums.push(cumulative);
        if cumulative > peak.cumulative {
            peak = point(i + 1, cumulative);
        }
    }
    let total = cumulative;
    if total > 0.0 {
        pareto_index = sums.iter().position(|&s| s >= 0.8 * total);
    }
    for (i, &s) in sums.iter().enumerate() {
        let customers = i + 1;
        if customers.is_multiple_of(step) || customers == n || customers == peak.customers as usize
        {
            points.push(point(customers, s));
        }
    }
    Whale {
        customers: n as u64,
        total,
        points,
        peak,
        given_back: peak.cumulative - total,
        pareto: pareto_index.map(|i| point(i + 1, sums[i])),
    }
}

/// Rejected rows grouped by step and message.
fn rejects(dir: &Path, manifest: &Manifest) -> Result<Rejects, ReportError> {
    let path = dir.join(if manifest.output.rejects_file.is_empty() {
        REJECTS_FILE
    } else {
        &manifest.output.rejects_file
    });
    let reader = open(&path)?
        .build()
        .map_err(|e| ReportError::unexpected(&path, e.to_string()))?;
    let mut groups: Vec<RejectGroup> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut total = 0;
    for batch in reader {
        let batch = batch.map_err(|e| ReportError::unexpected(&path, e.to_string()))?;
        let ids = cast(batch.column(0), &DataType::Utf8)
            .map_err(|e| ReportError::unexpected(&path, e.to_string()))?;
        let ids = ids.as_string::<i32>();
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| {
                    ReportError::unexpected(&path, format!("it has no text column `{name}`"))
                })
        };
        let steps = text("factor")?;
        let messages = text("message")?;
        for row in 0..batch.num_rows() {
            total += 1;
            let mut key = (
                steps.value(row).to_string(),
                messages.value(row).to_string(),
            );
            if index.len() >= MAX_REJECT_GROUPS && !index.contains_key(&key) {
                key.1 = OTHER_MESSAGES.to_string();
            }
            let at = *index.entry(key.clone()).or_insert_with(|| {
                groups.push(RejectGroup {
                    step: key.0,
                    message: key.1,
                    count: 0,
                    first_ids: Vec::new(),
                });
                groups.len() - 1
            });
            let group = &mut groups[at];
            group.count += 1;
            if group.first_ids.len() < REJECT_IDS {
                group.first_ids.push(if ids.is_valid(row) {
                    ids.value(row).to_string()
                } else {
                    "null".into()
                });
            }
        }
    }
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.step.cmp(&b.step))
            .then_with(|| a.message.cmp(&b.message))
    });
    groups.truncate(REJECT_GROUPS);
    Ok(Rejects { total, groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_reasons_become_n() {
        let mut out = String::new();
        numbers_as_n("lapsed: no order for 412 days (win-back list)", &mut out);
        assert_eq!(out, "lapsed: no order for N days (win-back list)");
        numbers_as_n("cost 1,234.5 exceeds 17. Done", &mut out);
        assert_eq!(out, "cost N exceeds N. Done");
    }

    #[test]
    fn whale_curve_has_peak_give_back_and_pareto_point() {
        let w = whale(vec![-2.0, 10.0, 1.0, 5.0, -4.0]);
        assert_eq!(w.total, 10.0);
        assert_eq!(
            w.peak,
            WhalePoint {
                customers: 3,
                customer_share: 0.6,
                cumulative: 16.0
            }
        );
        assert_eq!(w.given_back, 6.0);
        assert_eq!(w.pareto.map(|p| p.customers), Some(1));
        let cumulative: Vec<f64> = w.points.iter().map(|p| p.cumulative).collect();
        assert_eq!(cumulative, [0.0, 10.0, 15.0, 16.0, 14.0, 10.0]);
    }

    #[test]
    fn bins_clamp_both_ends() {
        let bins = Bins::new(Some(0.0), Some(10.0), 5);
        assert_eq!(
            [
                bins.index(0.0),
                bins.index(1.99),
                bins.index(2.0),
                bins.index(10.0)
            ],
            [0, 0, 1, 4]
        );
        let flat = Bins::new(Some(3.0), Some(3.0), 5);
        assert_eq!(flat.index(3.0), 0);
    }
}
