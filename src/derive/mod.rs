//! Stage 4 of the data path: population-wide columns, computed over every row of the run before
//! any factor runs, then attached to each batch so scripts read them by name.
//!
//! A first pass reads only the columns derives are computed from (one `f64` a row each, `NaN`
//! where a value is missing: the statistics leave both out, see [`stats::Number`]); the
//! derived columns are kept as Arrow arrays for the whole run (8 bytes a row each; buckets
//! and ranks 4, as `u32`) and sliced onto each batch of the second pass by its position in
//! the run. The manifest records the statistics and cut-offs used, so an analyst can
//! reproduce every value in SQL.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, RecordBatch, UInt32Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};

use crate::manifest::{Bucket, DeriveSummary, Spread};
use crate::pipeline::{Derive, DeriveKind};
use crate::source::{Scan, SourceError};
use crate::stats;

/// The derived columns of one run, in run order, and what was used to compute them.
#[derive(Debug, Clone)]
pub struct Population {
    columns: Vec<(Arc<Field>, ArrayRef)>,
    /// Per derive, the figures the manifest records.
    pub summaries: Vec<DeriveSummary>,
}

/// Why the derive pass failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DeriveError {
    /// Reading the input failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Source(#[from] SourceError),
    /// A derive could not be computed over this population.
    #[error("derive `{name}`: {message}")]
    #[diagnostic(code(derive::compute))]
    Compute { name: String, message: String },
}

impl Population {
    /// Computes every derive over the rows the run reads, advancing `progress` by each batch's
    /// rows.
    pub fn compute(
        derives: &[Derive],
        scan: &Scan<'_>,
        progress: &indicatif::ProgressBar,
    ) -> Result<Self, DeriveError> {
        let inputs = Self::inputs(derives);
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); inputs.len()];
        if !inputs.is_empty() {
            for batch in scan.batches(&inputs) {
                let batch = batch?;
                progress.inc(batch.batch.num_rows() as u64);
                Self::append_inputs(&inputs, &batch.batch, &mut values)
                    .map_err(|err| scan.decode_error(&batch, err))?;
            }
        }
        Self::from_values(derives, &inputs, values)
    }

    /// The columns derives are computed from, each once, in the order derives name them.
    pub fn inputs(derives: &[Derive]) -> Vec<String> {
        let mut inputs: Vec<String> = Vec::new();
        for derive in derives {
            if !inputs.contains(&derive.column) {
                inputs.push(derive.column.clone());
            }
        }
        inputs
    }

    /// Appends the values of the `inputs` columns of `batch` (one `f64` a row, see
    /// [`append_numbers`]) to `values`, one list per input.
    pub fn append_inputs(
        inputs: &[String],
        batch: &RecordBatch,
        values: &mut [Vec<f64>],
    ) -> Result<(), arrow::error::ArrowError> {
        for (column, values) in inputs.iter().zip(values.iter_mut()) {
            let array = batch.column_by_name(column).ok_or_else(|| {
                arrow::error::ArrowError::SchemaError(format!("column `{column}` was not decoded"))
            })?;
            append_numbers(array, values)?;
        }
        Ok(())
    }

    /// Computes every derive from the values of its input column over the whole run, in run
    /// order (`values[i]` holds the column `inputs[i]`). Each input's values are let go once
    /// the last derive naming it is computed, so the three inputs of an RFM pipeline are not
    /// all held while every column is derived.
    pub fn from_values(
        derives: &[Derive],
        inputs: &[String],
        mut values: Vec<Vec<f64>>,
    ) -> Result<Self, DeriveError> {
        let mut columns = Vec::with_capacity(derives.len());
        let mut summaries = Vec::with_capacity(derives.len());
        for (index, (derive, field)) in derives.iter().zip(Self::fields(derives)).enumerate() {
            let position = inputs.iter().position(|c| *c == derive.column).unwrap_or(0);
            let (array, summary) =
                compute_one(derive, &values[position]).map_err(|message| DeriveError::Compute {
                    name: derive.name.clone(),
                    message,
                })?;
            columns.push((Arc::new(field), array));
            summaries.push(summary);
            if derives[index + 1..]
                .iter()
                .all(|d| d.column != derive.column)
            {
                values[position] = Vec::new();
            }
        }
        Ok(Self { columns, summaries })
    }

    /// The derived columns of the `rows` rows from position `offset` of the run: what a task of
    /// a distributed run attaches to its rows ([`Population::of_rows`]).
    pub fn rows(
        &self,
        offset: usize,
        rows: usize,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let empty = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        self.attach(&empty, offset)
    }

    /// The derived columns of some rows ([`Population::rows`]), to attach from position 0; no
    /// summaries (the driver of a distributed run keeps those).
    pub fn of_rows(rows: &RecordBatch) -> Self {
        Self {
            columns: rows
                .schema()
                .fields()
                .iter()
                .cloned()
                .zip(rows.columns().iter().cloned())
                .collect(),
            summaries: Vec::new(),
        }
    }

    /// The derived columns as scripts see them (for the plan's names and test rows).
    pub fn fields(derives: &[Derive]) -> Vec<Field> {
        derives
            .iter()
            .map(|d| {
                let data_type = if d.kind.is_integer() {
                    DataType::Int64
                } else {
                    DataType::Float64
                };
                Field::new(&d.name, data_type, true)
            })
            .collect()
    }

    /// `batch` with the derived values of its rows appended; `offset` is the position in the run
    /// of its first row.
    pub fn attach(
        &self,
        batch: &RecordBatch,
        offset: usize,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        if self.columns.is_empty() {
            return Ok(batch.clone());
        }
        let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
        let mut arrays = batch.columns().to_vec();
        for (field, array) in &self.columns {
            if offset + batch.num_rows() > array.len() {
                return Err(arrow::error::ArrowError::InvalidArgumentError(format!(
                    "rows {offset}.. are beyond the {} rows the derive pass read",
                    array.len()
                )));
            }
            let slice = array.slice(offset, batch.num_rows());
            // Buckets and ranks are held as `u32` (4 bytes a row for the whole run, not 8) and
            // read by scripts as the `Int64` their field says.
            arrays.push(if slice.data_type() == field.data_type() {
                slice
            } else {
                cast(&slice, field.data_type())?
            });
            fields.push(field.clone());
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }
}

/// Appends a numeric, decimal, date or timestamp column as `f64` values (dates as days and
/// timestamps as their unit since the epoch), held as `V` ([`stats::Number`]).
pub fn append_numbers<V: stats::Number>(
    array: &ArrayRef,
    out: &mut Vec<V>,
) -> Result<(), arrow::error::ArrowError> {
    let numeric = match array.data_type() {
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => {
            cast(&cast(array, &DataType::Int64)?, &DataType::Float64)?
        }
        _ => cast(array, &DataType::Float64)?,
    };
    let floats = numeric
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("cast to Float64 gives a Float64Array");
    out.extend(floats.iter().map(V::from_number));
    Ok(())
}

/// Whether a derive can be computed from a column of this type (numbers, decimals, dates).
pub fn accepts(data_type: &DataType) -> bool {
    data_type.is_numeric()
        || matches!(
            data_type,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        )
}

fn compute_one(derive: &Derive, values: &[f64]) -> Result<(ArrayRef, DeriveSummary), String> {
    // The values the population holds: infinities are left out like nulls and NaN
    // ([`stats::clean`]), so they are not counted either.
    let count = values.iter().filter(|v| v.is_finite()).count() as u64;
    let mut summary = DeriveSummary {
        name: derive.name.clone(),
        kind: derive.kind.key().to_string(),
        column: derive.column.clone(),
        count,
        spread: Spread::default(),
        total: None,
        buckets: Vec::new(),
    };
    let array: ArrayRef = match derive.kind {
        DeriveKind::Ntile {
            buckets,
            descending,
        } => {
            let tiles = stats::ntile(values, buckets, descending)?;
            summary.buckets = bucket_summary(values, &tiles, buckets);
            Arc::new(UInt32Array::from(tiles))
        }
        DeriveKind::Rank { descending } => {
            Arc::new(UInt32Array::from(stats::rank(values, descending)?))
        }
        DeriveKind::PercentRank { descending } => {
            Arc::new(Float64Array::from(stats::percent_rank(values, descending)?))
        }
        DeriveKind::Zscore => {
            let (scaled, stats) = stats::zscore(values);
            summary.spread = stats.zscore_spread();
            Arc::new(Float64Array::from(scaled))
        }
        DeriveKind::Minmax => {
            let (scaled, stats) = stats::minmax(values);
            summary.spread = stats.minmax_spread();
            Arc::new(Float64Array::from(scaled))
        }
        DeriveKind::CumulativeShare => {
            let (shares, total) = stats::cumulative_share(values)?;
            summary.total = Some(total);
            Arc::new(Float64Array::from(shares))
        }
    };
    Ok((array, summary))
}

/// Per ntile bucket: how many values and the range they span.
fn bucket_summary(values: &[f64], tiles: &[Option<u32>], buckets: u32) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = (1..=buckets)
        .map(|bucket| Bucket {
            bucket,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        })
        .collect();
    for (value, tile) in values.iter().zip(tiles) {
        if let Some(t) = tile {
            let b = &mut out[*t as usize - 1];
            b.count += 1;
            b.min = b.min.min(*value);
            b.max = b.max.max(*value);
        }
    }
    out.retain(|b| b.count > 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, UInt32Type};

    /// Infinities, NaN and nulls are left out of every derive's population alike: their rows
    /// get null, and the manifest's count is the values used. It counted the infinities.
    #[test]
    fn non_finite_values_are_neither_derived_nor_counted() {
        let values = [3.0, f64::INFINITY, f64::NAN, 1.0, f64::NEG_INFINITY, 2.0];
        let kinds = [
            DeriveKind::Ntile {
                buckets: 2,
                descending: false,
            },
            DeriveKind::Rank { descending: false },
            DeriveKind::PercentRank { descending: false },
            DeriveKind::Zscore,
            DeriveKind::Minmax,
            DeriveKind::CumulativeShare,
        ];
        for kind in kinds {
            let derive = Derive {
                name: "d".into(),
                column: "x".into(),
                kind,
            };
            let (array, summary) = compute_one(&derive, &values).unwrap();
            assert_eq!(summary.count, 3, "{kind:?}");
            let present: Vec<bool> = (0..values.len()).map(|i| array.is_valid(i)).collect();
            assert_eq!(present, [true, false, false, true, false, true], "{kind:?}");
            let derived: Vec<f64> = if kind.is_integer() {
                let ints = array.as_primitive::<UInt32Type>();
                [0, 3, 5].map(|i| ints.value(i) as f64).to_vec()
            } else {
                let floats = array.as_primitive::<Float64Type>();
                [0, 3, 5].map(|i| floats.value(i)).to_vec()
            };
            // Each as if the population were 3, 1, 2 alone.
            let expected: Vec<f64> = match kind {
                DeriveKind::Ntile { .. } => vec![2.0, 1.0, 1.0],
                DeriveKind::Rank { .. } => vec![3.0, 1.0, 2.0],
                DeriveKind::PercentRank { .. } => vec![1.0, 0.0, 0.5],
                DeriveKind::Zscore => {
                    let std = (2.0f64 / 3.0).sqrt();
                    vec![1.0 / std, -1.0 / std, 0.0]
                }
                DeriveKind::Minmax => vec![1.0, 0.0, 0.5],
                DeriveKind::CumulativeShare => vec![0.5, 1.0, 5.0 / 6.0],
            };
            assert_eq!(derived, expected, "{kind:?}");
        }
    }
}
