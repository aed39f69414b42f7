//! One committed output read back: its manifest, and its data files streamed as the
//! columns diff compares (id, score, tier, factors).

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::keys::{id_kind, keys, Key};
use super::{DiffError, Side};
use crate::manifest::{Manifest, ManifestError};

/// Rows decoded at a time.
const BATCH_ROWS: usize = 8192;

/// One committed output as its manifest describes it.
#[derive(Debug)]
pub(super) struct Output {
    pub(super) side: Side,
    pub(super) dir: PathBuf,
    pub(super) run_id: String,
    pub(super) id: String,
    /// `partition_by: none`: the tier is a column rather than the `tier=NAME` directory.
    pub(super) tier_column: bool,
    /// Data files (absolute) with the rows the manifest records and their partition's tier.
    pub(super) files: Vec<(PathBuf, u64, Option<String>)>,
    pub(super) factors: Vec<String>,
    pub(super) tiers: Vec<String>,
    /// The whole manifest, for what changed between the runs.
    pub(super) manifest: Manifest,
}

impl Output {
    pub(super) fn open(side: Side, dir: &Path) -> Result<Self, DiffError> {
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
            if !crate::manifest::is_inside_output(&file.path) {
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
    pub(super) fn id_type(&self) -> Result<Option<DataType>, DiffError> {
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
    pub(super) fn stream(
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
                        "id column `{}` is {id_type}, not one value a row; diff joins on ids such as strings, integers, dates or decimals",
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
            let partition = partition_tier
                .as_deref()
                .map(|name| tiers.index(name))
                .transpose()
                .map_err(|detail| unexpected(path, detail))?;
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
    let (file, _) = crate::local_file::open(path).map_err(|e| unreadable(path, e))?;
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
/// one's it lacks, then any name met only in the data (in reading order), at most
/// [`MAX_UNLISTED_TIERS`] of those.
#[derive(Debug, Default)]
pub(super) struct TierNames {
    pub(super) names: Vec<String>,
    pub(super) indices: HashMap<String, usize>,
    /// How many of `names` the manifests list.
    listed: usize,
}

/// Tier names a diff takes from the data beyond those the manifests list: the report's tier
/// table is a square of them, so an edited output naming 20,000 tiers took 13 GB before.
pub(super) const MAX_UNLISTED_TIERS: usize = 256;

impl TierNames {
    /// The index of a tier a manifest lists.
    pub(super) fn list(&mut self, name: &str) -> usize {
        let index = self.add(name);
        self.listed = self.listed.max(self.names.len());
        index
    }

    /// The index of a tier met in the data; an error past [`MAX_UNLISTED_TIERS`] names no
    /// manifest lists.
    pub(super) fn index(&mut self, name: &str) -> Result<usize, String> {
        if !self.indices.contains_key(name) && self.names.len() >= self.listed + MAX_UNLISTED_TIERS
        {
            return Err(format!(
                "holds more than {MAX_UNLISTED_TIERS} tier names its manifest does not list, \
                 `{}` among them",
                crate::rules::cap_message(name, 100)
            ));
        }
        Ok(self.add(name))
    }

    fn add(&mut self, name: &str) -> usize {
        if let Some(&i) = self.indices.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.indices.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }
}

/// One decoded batch: keys, scores, tier indices and factor values (NaN where null).
pub(super) struct Rows {
    pub(super) keys: Vec<Key>,
    pub(super) scores: Vec<f64>,
    pub(super) tiers: Vec<usize>,
    /// Row-major: `factors[row * count + factor]`.
    pub(super) factors: Vec<f64>,
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
                        name.ok_or_else(|| {
                            format!("tier is null in row {}", first_row + row as u64)
                        })
                        .and_then(|name| tiers.index(name))
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
