//! Compares two committed tierscore outputs customer by customer (`tierscore diff`).
//!
//! Analysts change a rule, a weight or a threshold, run again into a second directory and need
//! to see what the change does to customers: who moves between tiers, how scores shift, who
//! moved most and which factors moved them. This module reads both outputs (their
//! `_manifest.json` and Parquet files), joins them by the id column and computes the figures;
//! the command only prints them.
//!
//! Memory is bounded by the columns compared: the old side is indexed by id (id, score, tier,
//! the factors both sides have), the new side is streamed batch by batch against that index.
//! Only those columns are decoded (a projection), and results do not depend on hash order.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{
    DataType, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use indexmap::IndexMap;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde::Serialize;

use crate::manifest::{Manifest, ManifestError};

pub mod changes;

/// Rows decoded at a time.
const BATCH_ROWS: usize = 8192;

/// Why two outputs could not be compared. All are data failures (exit code 3).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DiffError {
    /// The directory holds no `_manifest.json` written by tierscore.
    #[error("{side} output {} is not a tierscore output: {reason}", dir.display())]
    #[diagnostic(
        code(diff::not_an_output),
        help("pass two directories written by `tierscore run` (each holds a _manifest.json written by tierscore)")
    )]
    NotAnOutput {
        side: Side,
        dir: PathBuf,
        reason: String,
    },
    /// The manifest is tierscore's but cannot be understood by this version.
    #[error("{side} output {}: _manifest.json {detail}", dir.display())]
    #[diagnostic(
        code(diff::bad_manifest),
        help("the output was written by another version of tierscore, or edited; run `tierscore run` again into it")
    )]
    BadManifest {
        side: Side,
        dir: PathBuf,
        detail: String,
    },
    /// The two outputs name different id columns, so their customers cannot be matched.
    #[error(
        "the outputs use different id columns: `{old}` in the old one, `{new}` in the new one"
    )]
    #[diagnostic(
        code(diff::id_columns_differ),
        help("diff matches customers by id; compare outputs of pipelines with the same input.id")
    )]
    IdColumnsDiffer { old: String, new: String },
    /// One id column holds integers and the other strings.
    #[error("id column `{column}` is {old} in the old output and {new} in the new one")]
    #[diagnostic(
        code(diff::id_types_differ),
        help("diff matches integer ids with integer ids and string ids with string ids; compare outputs of the same input")
    )]
    IdTypesDiffer {
        column: String,
        old: DataType,
        new: DataType,
    },
    /// An id occurs twice on one side, so the join would be ambiguous.
    #[error("{side} output {} has id {id} more than once", dir.display())]
    #[diagnostic(
        code(diff::duplicate_id),
        help(
            "diff matches customers by id, so ids must be unique; deduplicate the pipeline's input"
        )
    )]
    DuplicateId { side: Side, dir: PathBuf, id: Key },
    /// A data file could not be opened or decoded.
    #[error("cannot read {}: {detail}", path.display())]
    #[diagnostic(
        code(diff::unreadable),
        help("the file is missing or damaged; run `tierscore run` again into that output")
    )]
    Unreadable { path: PathBuf, detail: String },
    /// A data file does not hold what its manifest says (a column, a type, a row count).
    #[error("{}: {detail}", path.display())]
    #[diagnostic(
        code(diff::unexpected_content),
        help("the output does not match its _manifest.json; run `tierscore run` again into it")
    )]
    UnexpectedContent { path: PathBuf, detail: String },
    /// The report could not be written to stdout.
    #[error("cannot write the report: {0}")]
    #[diagnostic(
        code(diff::write),
        help("check where stdout goes: a redirect's disk may be full")
    )]
    Write(#[source] std::io::Error),
}

/// Which of the two outputs a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The output before the change (`OLD_OUT`).
    Old,
    /// The output after the change (`NEW_OUT`).
    New,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Old => "old",
            Side::New => "new",
        })
    }
}

/// A customer id normalised for joining: every integer type compares with every other, every
/// string type with every other. Serialised as a JSON number or string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Key {
    /// Any signed or unsigned integer id.
    Int(i128),
    /// Any string id (Utf8, LargeUtf8, Utf8View, dictionary-encoded).
    Str(Box<str>),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(v) => write!(f, "{v}"),
            Key::Str(v) => f.write_str(v),
        }
    }
}

/// Whether an id column holds integers or strings; `None` for types diff cannot join on.
fn id_kind(data_type: &DataType) -> Option<bool> {
    match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Some(true),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(false),
        DataType::Dictionary(_, values) => id_kind(values).filter(|integer| !integer),
        _ => None,
    }
}

/// The keys of an id column of a type [`id_kind`] accepts; `first_row` numbers rows in errors.
fn keys(array: &ArrayRef, first_row: u64) -> Result<Vec<Key>, String> {
    if let Some(row) = (0..array.len()).find(|&row| array.is_null(row)) {
        return Err(format!("is null in row {}", first_row + row as u64));
    }
    fn ints<T: arrow::datatypes::ArrowPrimitiveType>(array: &ArrayRef) -> Vec<Key>
    where
        T::Native: Into<i128>,
    {
        array
            .as_primitive::<T>()
            .values()
            .iter()
            .map(|&v| Key::Int(v.into()))
            .collect()
    }
    Ok(match array.data_type() {
        DataType::Int8 => ints::<Int8Type>(array),
        DataType::Int16 => ints::<Int16Type>(array),
        DataType::Int32 => ints::<Int32Type>(array),
        DataType::Int64 => ints::<Int64Type>(array),
        DataType::UInt8 => ints::<UInt8Type>(array),
        DataType::UInt16 => ints::<UInt16Type>(array),
        DataType::UInt32 => ints::<UInt32Type>(array),
        DataType::UInt64 => ints::<UInt64Type>(array),
        other => arrow::compute::cast(array, &DataType::Utf8)
            .map_err(|e| format!("is {other}, which cannot be read as text: {e}"))?
            .as_string::<i32>()
            .iter()
            .map(|v| Key::Str(v.unwrap_or_default().into()))
            .collect(),
    })
}

/// One committed output as its manifest describes it.
#[derive(Debug)]
struct Output {
    side: Side,
    dir: PathBuf,
    run_id: String,
    id: String,
    /// `partition_by: none`: the tier is a column rather than the `tier=NAME` directory.
    tier_column: bool,
    /// Data files (absolute) with the rows the manifest records and their partition's tier.
    files: Vec<(PathBuf, u64, Option<String>)>,
    factors: Vec<String>,
    tiers: Vec<String>,
    /// The whole manifest, for what changed between the runs.
    manifest: Manifest,
}

impl Output {
    fn open(side: Side, dir: &Path) -> Result<Self, DiffError> {
        let not_an_output = |reason: &str| DiffError::NotAnOutput {
            side,
            dir: dir.to_path_buf(),
            reason: reason.to_string(),
        };
        if !dir.is_dir() {
            return Err(not_an_output(if dir.exists() {
                "it is not a directory"
            } else {
                "it does not exist"
            }));
        }
        let bad = |detail: String| DiffError::BadManifest {
            side,
            dir: dir.to_path_buf(),
            detail,
        };
        let manifest = Manifest::read(dir).map_err(|e| match e {
            ManifestError::Unreadable(detail) => bad(detail),
            other => not_an_output(&other.to_string()),
        })?;
        let whole = manifest.clone();
        let tier_column = match manifest.output.partition_by.as_str() {
            "tier" => false,
            "none" => true,
            other => return Err(bad(format!("has an unknown output.partition_by `{other}`"))),
        };
        let mut files = Vec::with_capacity(manifest.output.files.len());
        for file in manifest.output.files {
            let relative = Path::new(&file.path);
            if !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
            {
                return Err(bad(format!(
                    "lists `{}`, which is not a path inside the output",
                    file.path
                )));
            }
            let tier = if tier_column {
                None
            } else {
                let tier = relative.components().find_map(|c| {
                    c.as_os_str()
                        .to_str()
                        .and_then(|s| s.strip_prefix("tier="))
                        .map(str::to_string)
                });
                Some(tier.ok_or_else(|| {
                    bad(format!(
                        "lists `{}`, which is in no tier=NAME directory",
                        file.path
                    ))
                })?)
            };
            files.push((dir.join(relative), file.rows, tier));
        }
        Ok(Self {
            side,
            dir: dir.to_path_buf(),
            run_id: manifest.run_id,
            id: manifest.output.id,
            tier_column,
            files,
            factors: manifest.factors.into_iter().map(|f| f.name).collect(),
            tiers: manifest.tiers.into_iter().map(|t| t.name).collect(),
            manifest: whole,
        })
    }

    /// The id column's type in the first data file (`None` when the output has no rows).
    fn id_type(&self) -> Result<Option<DataType>, DiffError> {
        let Some((path, _, _)) = self.files.first() else {
            return Ok(None);
        };
        let builder = open_parquet(path)?;
        let field = builder
            .schema()
            .field_with_name(&self.id)
            .map_err(|_| missing_column(path, &self.id))?;
        Ok(Some(field.data_type().clone()))
    }

    /// Streams the id, score, tier and the named factors of every row, file by file in manifest
    /// order; returns the rows read.
    fn stream(
        &self,
        factors: &[String],
        tiers: &mut TierNames,
        mut each: impl FnMut(Rows) -> Result<(), DiffError>,
    ) -> Result<u64, DiffError> {
        let mut total = 0;
        for (path, expected, partition_tier) in &self.files {
            let builder = open_parquet(path)?;
            let schema = builder.schema().clone();
            let mut wanted: Vec<&str> = vec![self.id.as_str(), "score"];
            wanted.extend(factors.iter().map(String::as_str));
            if self.tier_column {
                wanted.push("tier");
            }
            let mut indices = Vec::with_capacity(wanted.len());
            for name in &wanted {
                indices.push(
                    schema
                        .index_of(name)
                        .map_err(|_| missing_column(path, name))?,
                );
            }
            let id_type = schema.field(indices[0]).data_type();
            if id_kind(id_type).is_none() {
                return Err(unexpected(
                    path,
                    format!(
                        "id column `{}` is {id_type}; diff joins on integer or string ids",
                        self.id
                    ),
                ));
            }
            let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
            let reader = builder
                .with_projection(mask)
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| unreadable(path, e))?;
            let partition = partition_tier.as_deref().map(|name| tiers.index(name));
            let mut rows_in_file = 0u64;
            for batch in reader {
                let batch = batch.map_err(|e| unreadable(path, e))?;
                let rows = Rows::new(
                    &batch,
                    &wanted,
                    factors.len(),
                    partition,
                    tiers,
                    rows_in_file,
                )
                .map_err(|detail| unexpected(path, detail))?;
                rows_in_file += batch.num_rows() as u64;
                each(rows)?;
            }
            if rows_in_file != *expected {
                return Err(unexpected(
                    path,
                    format!("has {rows_in_file} rows; the manifest says {expected}"),
                ));
            }
            total += rows_in_file;
        }
        Ok(total)
    }
}

fn open_parquet(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, DiffError> {
    let file = File::open(path).map_err(|e| unreadable(path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(path, e))
}

fn unreadable(path: &Path, detail: impl fmt::Display) -> DiffError {
    DiffError::Unreadable {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

fn unexpected(path: &Path, detail: String) -> DiffError {
    DiffError::UnexpectedContent {
        path: path.to_path_buf(),
        detail,
    }
}

fn missing_column(path: &Path, name: &str) -> DiffError {
    unexpected(path, format!("has no column `{name}`"))
}

/// Tier names in report order, each with a stable index: the new output's levels, then the old
/// one's it lacks, then any name met only in the data (in reading order).
#[derive(Debug, Default)]
struct TierNames {
    names: Vec<String>,
    indices: HashMap<String, usize>,
}

impl TierNames {
    fn index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.indices.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.indices.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }
}

/// One decoded batch: keys, scores, tier indices and factor values (NaN where null).
struct Rows {
    keys: Vec<Key>,
    scores: Vec<f64>,
    tiers: Vec<usize>,
    /// Row-major: `factors[row * count + factor]`.
    factors: Vec<f64>,
}

impl Rows {
    /// `wanted` is id, score, the factors, then `tier` when the tier is a column; `first_row`
    /// (the batch's first row in its file) numbers rows in errors.
    fn new(
        batch: &RecordBatch,
        wanted: &[&str],
        factor_count: usize,
        partition: Option<usize>,
        tiers: &mut TierNames,
        first_row: u64,
    ) -> Result<Self, String> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("has no column `{name}`"))
        };
        let floats = |name: &str| -> Result<&Float64Array, String> {
            let array = column(name)?;
            array
                .as_primitive_opt()
                .ok_or_else(|| format!("column `{name}` is {}, not Float64", array.data_type()))
        };
        let keys = keys(column(wanted[0])?, first_row)
            .map_err(|e| format!("id column `{}` {e}", wanted[0]))?;
        let score = floats("score")?;
        if let Some(row) = (0..score.len()).find(|&row| score.is_null(row)) {
            return Err(format!("score is null in row {}", first_row + row as u64));
        }
        let scores = score.values().to_vec();
        let mut factors = vec![f64::NAN; batch.num_rows() * factor_count];
        for (f, name) in wanted[2..2 + factor_count].iter().enumerate() {
            let values = floats(name)?;
            for (row, value) in values.iter().enumerate() {
                if let Some(value) = value {
                    factors[row * factor_count + f] = value;
                }
            }
        }
        let tiers = match partition {
            Some(tier) => vec![tier; batch.num_rows()],
            None => {
                let array = column("tier")?;
                let text = arrow::compute::cast(array, &DataType::Utf8)
                    .map_err(|_| format!("column `tier` is {}, not Utf8", array.data_type()))?;
                text.as_string::<i32>()
                    .iter()
                    .enumerate()
                    .map(|(row, name)| {
                        name.map(|name| tiers.index(name)).ok_or_else(|| {
                            format!("tier is null in row {}", first_row + row as u64)
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        Ok(Self {
            keys,
            scores,
            tiers,
            factors,
        })
    }
}

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
    pub changes: Vec<changes::Change>,
}

/// Reads both outputs and compares them; `top` bounds the movers and the ids listed.
pub fn compare(old_dir: &Path, new_dir: &Path, top: usize) -> Result<Comparison, DiffError> {
    let old = Output::open(Side::Old, old_dir)?;
    let new = Output::open(Side::New, new_dir)?;
    if old.id != new.id {
        return Err(DiffError::IdColumnsDiffer {
            old: old.id,
            new: new.id,
        });
    }
    if let (Some(old_type), Some(new_type)) = (old.id_type()?, new.id_type()?) {
        if id_kind(&old_type).is_some()
            && id_kind(&new_type).is_some()
            && id_kind(&old_type) != id_kind(&new_type)
        {
            return Err(DiffError::IdTypesDiffer {
                column: old.id.clone(),
                old: old_type,
                new: new_type,
            });
        }
    }
    let factors: Vec<String> = new
        .factors
        .iter()
        .filter(|f| old.factors.contains(f))
        .cloned()
        .collect();
    let factors_added = new
        .factors
        .iter()
        .filter(|f| !old.factors.contains(f))
        .cloned()
        .collect();
    let factors_removed = old
        .factors
        .iter()
        .filter(|f| !new.factors.contains(f))
        .cloned()
        .collect();
    let mut tiers = TierNames::default();
    for name in new.tiers.iter().chain(&old.tiers) {
        tiers.index(name);
    }
    let old_tiers: Vec<usize> = old.tiers.iter().map(|t| tiers.index(t)).collect();

    let mut join = Join::new(factors.len(), top);
    join.reserve(old.files.iter().map(|(_, rows, _)| *rows).sum());
    let duplicate = |output: &Output, key: Key| DiffError::DuplicateId {
        side: output.side,
        dir: output.dir.clone(),
        id: key,
    };
    let old_rows = old.stream(&factors, &mut tiers, |rows| {
        for (row, key) in rows.keys.into_iter().enumerate() {
            let values = &rows.factors[row * factors.len()..(row + 1) * factors.len()];
            join.index_old(key, rows.scores[row], rows.tiers[row], values)
                .map_err(|key| duplicate(&old, key))?;
        }
        Ok(())
    })?;
    let new_rows = new.stream(&factors, &mut tiers, |rows| {
        for (row, key) in rows.keys.iter().enumerate() {
            let values = &rows.factors[row * factors.len()..(row + 1) * factors.len()];
            join.add_new(key, rows.scores[row], rows.tiers[row], values)
                .map_err(|key| duplicate(&new, key))?;
        }
        Ok(())
    })?;
    let mut shift_tiers: Vec<usize> = old_tiers.into_iter().chain(join.old_tiers_seen()).collect();
    shift_tiers.sort_unstable();
    shift_tiers.dedup();
    let report = join.finish(&tiers.names, &shift_tiers, &factors);
    Ok(Comparison {
        old: OutputSummary {
            path: old_dir.display().to_string(),
            run_id: old.run_id,
            rows: old_rows,
        },
        new: OutputSummary {
            path: new_dir.display().to_string(),
            run_id: new.run_id,
            rows: new_rows,
        },
        id_column: old.id,
        tiers: tiers.names,
        matrix: report.matrix,
        matrix_rows: report.matrix_rows,
        only_in_old: report.only_in_old,
        only_in_new: report.only_in_new,
        score_shift: report.score_shift,
        score_shift_all: report.score_shift_all,
        top_movers: report.top_movers,
        factors,
        factors_added,
        factors_removed,
        changes: changes::between(&old.manifest, &new.manifest),
    })
}

/// An old row in the index.
#[derive(Debug, Clone, Copy)]
struct OldRow {
    score: f64,
    tier: usize,
    matched: bool,
}

/// Running sums of the customers in both, per old tier.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    count: u64,
    old: f64,
    new: f64,
}

impl Sums {
    fn add(&mut self, old: f64, new: f64) {
        self.count += 1;
        self.old += old;
        self.new += new;
    }

    fn shift(&self, tier: Option<String>) -> Shift {
        let mean = |sum: f64| (self.count > 0).then(|| sum / self.count as f64);
        Shift {
            tier,
            count: self.count,
            mean_old: mean(self.old),
            mean_new: mean(self.new),
            mean_shift: mean(self.new - self.old),
        }
    }
}

/// A mover candidate; orders "worse" as greater so a max-heap evicts the least interesting.
#[derive(Debug)]
struct Candidate {
    key: Key,
    old_score: f64,
    new_score: f64,
    old_tier: usize,
    new_tier: usize,
    factor_changes: Vec<f64>,
}

impl Candidate {
    fn rank(&self) -> (f64, &Key) {
        ((self.new_score - self.old_score).abs(), &self.key)
    }
}

/// Bigger |change| first, then smaller id: `Less` means `a` ranks before `b`.
fn by_rank(a: (f64, &Key), b: (f64, &Key)) -> Ordering {
    b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1))
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        by_rank(self.rank(), other.rank())
    }
}

/// The join itself: index the old side, then feed the new side row by row.
#[derive(Debug)]
struct Join {
    factor_count: usize,
    top: usize,
    index: HashMap<Key, usize>,
    old: Vec<OldRow>,
    /// Row-major factor values of the old rows.
    old_factors: Vec<f64>,
    only_new: HashSet<Key>,
    /// `matrix[old tier][new tier]`, grown as tiers appear.
    matrix: Vec<Vec<u64>>,
    sums: Vec<Sums>,
    all: Sums,
    movers: BinaryHeap<Candidate>,
}

/// The join's figures, with tier indices resolved to names.
struct JoinReport {
    matrix: Vec<Cell>,
    matrix_rows: Vec<Vec<u64>>,
    only_in_old: OneSided,
    only_in_new: OneSided,
    score_shift: Vec<Shift>,
    score_shift_all: Shift,
    top_movers: Vec<Mover>,
}

impl Join {
    fn new(factor_count: usize, top: usize) -> Self {
        Self {
            factor_count,
            top,
            index: HashMap::new(),
            old: Vec::new(),
            old_factors: Vec::new(),
            only_new: HashSet::new(),
            matrix: Vec::new(),
            sums: Vec::new(),
            all: Sums::default(),
            movers: BinaryHeap::new(),
        }
    }

    /// Makes room for the old side's rows up front (its manifest's count), so the index does
    /// not grow by doubling; when that much memory is not there, growing is left to inserts.
    fn reserve(&mut self, rows: u64) {
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        let _ = self.index.try_reserve(rows);
        let _ = self.old.try_reserve_exact(rows);
        let _ = self
            .old_factors
            .try_reserve_exact(rows.saturating_mul(self.factor_count));
    }

    /// Adds an old row; `Err` gives back an id met before.
    fn index_old(&mut self, key: Key, score: f64, tier: usize, factors: &[f64]) -> Result<(), Key> {
        if self.index.contains_key(&key) {
            return Err(key);
        }
        self.index.insert(key, self.old.len());
        self.old.push(OldRow {
            score,
            tier,
            matched: false,
        });
        self.old_factors.extend_from_slice(factors);
        Ok(())
    }

    /// Joins a new row; `Err` gives back an id met before on the new side.
    fn add_new(&mut self, key: &Key, score: f64, tier: usize, factors: &[f64]) -> Result<(), Key> {
        let Some(&at) = self.index.get(key) else {
            return if self.only_new.insert(key.clone()) {
                Ok(())
            } else {
                Err(key.clone())
            };
        };
        let old = &mut self.old[at];
        if old.matched {
            return Err(key.clone());
        }
        old.matched = true;
        let old = *old;
        let size = old.tier.max(tier) + 1;
        if self.matrix.len() < size {
            self.matrix.resize(size, Vec::new());
            self.sums.resize(size, Sums::default());
        }
        let row = &mut self.matrix[old.tier];
        if row.len() <= tier {
            row.resize(tier + 1, 0);
        }
        row[tier] += 1;
        self.sums[old.tier].add(old.score, score);
        self.all.add(old.score, score);

        if self.top == 0 {
            return Ok(());
        }
        let change = (score - old.score).abs();
        if self.movers.len() == self.top {
            let worst = self.movers.peek().map(Candidate::rank);
            if worst.is_some_and(|worst| by_rank((change, key), worst) != Ordering::Less) {
                return Ok(());
            }
            self.movers.pop();
        }
        let before = &self.old_factors[at * self.factor_count..(at + 1) * self.factor_count];
        self.movers.push(Candidate {
            key: key.clone(),
            old_score: old.score,
            new_score: score,
            old_tier: old.tier,
            new_tier: tier,
            factor_changes: factors.iter().zip(before).map(|(n, o)| n - o).collect(),
        });
        Ok(())
    }

    /// Old tiers of the rows indexed so far (matched or not).
    fn old_tiers_seen(&self) -> impl Iterator<Item = usize> + '_ {
        let mut seen = vec![false; self.old.iter().map(|r| r.tier + 1).max().unwrap_or(0)];
        for row in &self.old {
            seen[row.tier] = true;
        }
        seen.into_iter()
            .enumerate()
            .filter(|(_, s)| *s)
            .map(|(t, _)| t)
    }

    /// Resolves the figures; `shift_tiers` are the old tiers to report shifts for, in order.
    fn finish(self, tiers: &[String], shift_tiers: &[usize], factors: &[String]) -> JoinReport {
        let n = tiers.len();
        let matrix_rows: Vec<Vec<u64>> = (0..n)
            .map(|from| {
                (0..n)
                    .map(|to| {
                        self.matrix
                            .get(from)
                            .and_then(|row| row.get(to))
                            .copied()
                            .unwrap_or(0)
                    })
                    .collect()
            })
            .collect();
        let matrix = matrix_rows
            .iter()
            .enumerate()
            .flat_map(|(from, row)| {
                row.iter()
                    .enumerate()
                    .filter(|(_, &count)| count > 0)
                    .map(move |(to, &count)| Cell {
                        from: tiers[from].clone(),
                        to: tiers[to].clone(),
                        count,
                    })
            })
            .collect();
        let mut only_old: Vec<&Key> = self
            .index
            .iter()
            .filter(|(_, &at)| !self.old[at].matched)
            .map(|(key, _)| key)
            .collect();
        only_old.sort_unstable();
        let only_in_old = OneSided {
            count: only_old.len() as u64,
            ids: only_old.into_iter().take(self.top).cloned().collect(),
        };
        let mut only_new: Vec<Key> = self.only_new.into_iter().collect();
        only_new.sort_unstable();
        let only_in_new = OneSided {
            count: only_new.len() as u64,
            ids: only_new.into_iter().take(self.top).collect(),
        };
        let score_shift = shift_tiers
            .iter()
            .map(|&t| {
                self.sums
                    .get(t)
                    .copied()
                    .unwrap_or_default()
                    .shift(Some(tiers[t].clone()))
            })
            .collect();
        // Only customers whose score moved: identical outputs list none.
        let top_movers = self
            .movers
            .into_sorted_vec()
            .into_iter()
            .filter(|c| c.new_score != c.old_score)
            .map(|c| Mover {
                change: c.new_score - c.old_score,
                old_score: c.old_score,
                new_score: c.new_score,
                old_tier: tiers[c.old_tier].clone(),
                new_tier: tiers[c.new_tier].clone(),
                factor_changes: factors
                    .iter()
                    .zip(&c.factor_changes)
                    .map(|(name, &d)| (name.clone(), (!d.is_nan()).then_some(d)))
                    .collect(),
                id: c.key,
            })
            .collect();
        JoinReport {
            matrix,
            matrix_rows,
            only_in_old,
            only_in_new,
            score_shift,
            score_shift_all: self.all.shift(None),
            top_movers,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{DictionaryArray, Int32Array, LargeStringArray, StringArray, UInt64Array};
    use arrow::datatypes::Int8Type;
    use proptest::prelude::*;

    use super::*;

    fn tiers() -> Vec<String> {
        ["a", "b", "c"].map(String::from).to_vec()
    }

    fn int(v: i128) -> Key {
        Key::Int(v)
    }

    #[test]
    fn matrix_shift_and_one_sided_customers() {
        let mut join = Join::new(1, 10);
        // id, score, tier, factor
        for (id, score, tier, f) in [(1, 10.0, 0, 1.0), (2, 20.0, 0, 2.0), (3, 30.0, 1, 3.0)] {
            join.index_old(int(id), score, tier, &[f]).unwrap();
        }
        join.index_old(int(9), 5.0, 2, &[0.0]).unwrap();
        for (id, score, tier, f) in [(2, 26.0, 1, 4.0), (1, 12.0, 0, 1.5), (3, 27.0, 1, 3.0)] {
            join.add_new(&int(id), score, tier, &[f]).unwrap();
        }
        join.add_new(&int(8), 1.0, 2, &[0.0]).unwrap();
        join.add_new(&int(7), 1.0, 2, &[0.0]).unwrap();
        let report = join.finish(&tiers(), &[0, 1, 2], &["f".to_string()]);

        assert_eq!(
            report.matrix_rows,
            vec![vec![1, 1, 0], vec![0, 1, 0], vec![0, 0, 0]]
        );
        let cells: Vec<(&str, &str, u64)> = report
            .matrix
            .iter()
            .map(|c| (c.from.as_str(), c.to.as_str(), c.count))
            .collect();
        assert_eq!(cells, [("a", "a", 1), ("a", "b", 1), ("b", "b", 1)]);
        assert_eq!(
            report.only_in_old,
            OneSided {
                count: 1,
                ids: vec![int(9)]
            }
        );
        assert_eq!(
            report.only_in_new,
            OneSided {
                count: 2,
                ids: vec![int(7), int(8)]
            }
        );
        let shift = |tier: Option<&str>, count, old: Option<f64>, new: Option<f64>, by| Shift {
            tier: tier.map(String::from),
            count,
            mean_old: old,
            mean_new: new,
            mean_shift: by,
        };
        assert_eq!(
            report.score_shift,
            [
                shift(Some("a"), 2, Some(15.0), Some(19.0), Some(4.0)),
                shift(Some("b"), 1, Some(30.0), Some(27.0), Some(-3.0)),
                shift(Some("c"), 0, None, None, None),
            ]
        );
        assert_eq!(
            report.score_shift_all,
            shift(None, 3, Some(20.0), Some(65.0 / 3.0), Some(5.0 / 3.0))
        );
        let movers: Vec<(Key, f64, &str, &str, Option<f64>)> = report
            .top_movers
            .iter()
            .map(|m| {
                (
                    m.id.clone(),
                    m.change,
                    m.old_tier.as_str(),
                    m.new_tier.as_str(),
                    m.factor_changes["f"],
                )
            })
            .collect();
        assert_eq!(
            movers,
            [
                (int(2), 6.0, "a", "b", Some(2.0)),
                (int(3), -3.0, "b", "b", Some(0.0)),
                (int(1), 2.0, "a", "a", Some(0.5)),
            ]
        );
    }

    #[test]
    fn ids_listed_are_the_smallest_and_bounded_by_top() {
        let mut join = Join::new(0, 2);
        for id in ["d", "b", "c", "a"] {
            join.index_old(Key::Str(id.into()), 0.0, 0, &[]).unwrap();
        }
        let report = join.finish(&tiers(), &[0], &[]);
        assert_eq!(
            report.only_in_old,
            OneSided {
                count: 4,
                ids: vec![Key::Str("a".into()), Key::Str("b".into())]
            }
        );
        assert_eq!(report.top_movers, []);
    }

    #[test]
    fn a_repeated_id_on_either_side_is_refused() {
        let mut join = Join::new(0, 3);
        join.index_old(int(1), 0.0, 0, &[]).unwrap();
        assert_eq!(join.index_old(int(1), 1.0, 0, &[]), Err(int(1)));
        join.add_new(&int(1), 0.0, 0, &[]).unwrap();
        assert_eq!(join.add_new(&int(1), 0.0, 0, &[]), Err(int(1)));
        join.add_new(&int(2), 0.0, 0, &[]).unwrap();
        assert_eq!(join.add_new(&int(2), 0.0, 0, &[]), Err(int(2)));
    }

    #[test]
    fn a_null_factor_has_no_change() {
        let mut join = Join::new(2, 1);
        join.index_old(int(1), 0.0, 0, &[f64::NAN, 1.0]).unwrap();
        join.add_new(&int(1), 1.0, 0, &[2.0, 3.0]).unwrap();
        let names = ["x".to_string(), "y".to_string()];
        let report = join.finish(&tiers(), &[0], &names);
        let changes: Vec<(&String, &Option<f64>)> =
            report.top_movers[0].factor_changes.iter().collect();
        assert_eq!(changes, [(&names[0], &None), (&names[1], &Some(2.0))]);
    }

    #[test]
    fn integer_and_string_ids_of_any_width_become_the_same_keys() {
        let int32: ArrayRef = Arc::new(Int32Array::from(vec![-1, 7]));
        let uint64: ArrayRef = Arc::new(UInt64Array::from(vec![7, u64::MAX]));
        assert_eq!(keys(&int32, 0), Ok(vec![int(-1), int(7)]));
        assert_eq!(keys(&uint64, 0), Ok(vec![int(7), int(u64::MAX as i128)]));

        let utf8: ArrayRef = Arc::new(StringArray::from(vec!["C1", "C2"]));
        let large: ArrayRef = Arc::new(LargeStringArray::from(vec!["C1", "C2"]));
        let dictionary: ArrayRef = Arc::new(
            vec!["C1", "C2"]
                .into_iter()
                .collect::<DictionaryArray<Int8Type>>(),
        );
        let expected = vec![Key::Str("C1".into()), Key::Str("C2".into())];
        for array in [&utf8, &large, &dictionary] {
            assert_eq!(id_kind(array.data_type()), Some(false));
            assert_eq!(keys(array, 0), Ok(expected.clone()));
        }
        assert_eq!(id_kind(int32.data_type()), Some(true));
        assert_eq!(id_kind(&DataType::Float64), None);

        let with_null: ArrayRef = Arc::new(StringArray::from(vec![Some("C1"), None]));
        assert_eq!(keys(&with_null, 100), Err("is null in row 101".to_string()));
    }

    #[test]
    fn ids_serialise_as_json_numbers_and_strings() {
        assert_eq!(
            serde_json::to_string(&[int(-3), Key::Str("C1".into())]).unwrap(),
            r#"[-3,"C1"]"#
        );
    }

    proptest! {
        /// The bounded heap picks exactly what sorting every customer would.
        #[test]
        fn top_movers_equal_a_full_sort(
            rows in prop::collection::vec((0i128..40, 0u8..5, 0u8..5), 0..60),
            top in 0usize..8,
        ) {
            let mut join = Join::new(0, top);
            let mut seen = HashSet::new();
            let mut expected = Vec::new();
            for (id, old, new) in rows {
                if !seen.insert(id) {
                    continue;
                }
                join.index_old(int(id), f64::from(old), 0, &[]).unwrap();
                join.add_new(&int(id), f64::from(new), 0, &[]).unwrap();
                expected.push((int(id), f64::from(new) - f64::from(old)));
            }
            expected.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
            expected.truncate(top);
            // Only customers whose score moved are movers.
            expected.retain(|(_, change)| *change != 0.0);
            let report = join.finish(&tiers(), &[0], &[]);
            let got: Vec<(Key, f64)> =
                report.top_movers.into_iter().map(|m| (m.id, m.change)).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
