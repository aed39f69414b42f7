//! Finding one customer by id without reading the whole input.
//!
//! Row groups whose id statistics (min/max in the Parquet footer) rule the id out are skipped;
//! the rest are read one at a time, projected, until the id is found.

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use parquet::basic::{ConvertedType, LogicalType};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescriptor;

use super::{InputFile, Source, SourceBatch, SourceError};

/// A customer found by id, and how much of the input the search read.
#[derive(Debug)]
pub struct Found {
    /// The customer's row (one row, the projected columns).
    pub row: SourceBatch,
    pub row_groups_read: usize,
    pub row_groups_total: usize,
}

impl Source {
    /// The first row whose id column (`id_column`, name after rename) reads as `id`, with the
    /// named `columns`; `None` when no row has it.
    pub fn find(
        &self,
        id_column: &str,
        id: &str,
        columns: &[String],
    ) -> Result<Option<Found>, SourceError> {
        let file_column = self.file_name_of(id_column);
        let total: usize = self
            .files
            .iter()
            .map(|f| f.metadata.metadata().num_row_groups())
            .sum();
        let mut read = 0;
        for (index, file) in self.files.iter().enumerate() {
            let metadata = file.metadata.metadata();
            let leaf = metadata
                .file_metadata()
                .schema_descr()
                .columns()
                .iter()
                .position(|c| c.path().string() == file_column);
            // Integers as Arrow reads them too: a Date64 written by arrow-rs is a plain INT64
            // of milliseconds, which an id as written (`2026-01-02`) is no number of.
            let read_as_integers = file
                .metadata
                .schema()
                .field_with_name(file_column)
                .is_ok_and(|f| match f.data_type() {
                    DataType::Dictionary(_, values) => values.is_integer(),
                    other => other.is_integer(),
                });
            let integers = leaf
                .and_then(|leaf| integers(&metadata.file_metadata().schema_descr().column(leaf)))
                .filter(|_| read_as_integers);
            let mut first_row = 0u64;
            for group in 0..metadata.num_row_groups() {
                let rows = metadata.row_group(group).num_rows().max(0) as u64;
                let stats =
                    leaf.and_then(|leaf| metadata.row_group(group).column(leaf).statistics());
                if stats.is_none_or(|s| may_hold(s, id, integers)) {
                    read += 1;
                    if let Some(row) =
                        self.find_in_group(file, index, group, first_row, id_column, id, columns)?
                    {
                        return Ok(Some(Found {
                            row,
                            row_groups_read: read,
                            row_groups_total: total,
                        }));
                    }
                }
                first_row += rows;
            }
        }
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    fn find_in_group(
        &self,
        file: &InputFile,
        index: usize,
        group: usize,
        first_row: u64,
        id_column: &str,
        id: &str,
        columns: &[String],
    ) -> Result<Option<SourceBatch>, SourceError> {
        let schema = self.projected_schema(columns);
        let reader = self.reader(index, &schema, 8192, Some(vec![group]))?;
        let mut row = first_row;
        for batch in reader {
            // A damaged remote chunk the walk found reads as damaged, as in a run.
            let failed = |error| super::read_failure(&file.path, row, error);
            let batch = self
                .conform(&batch.map_err(failed)?, &schema)
                .map_err(failed)?;
            // Dates in milliseconds are found as written (`2026-01-03`), as the output writes
            // them (days), not as Arrow shows them (`2026-01-03T00:00:00`).
            let as_text = |ids: &ArrayRef| match ids.data_type() {
                DataType::Date64 => cast(&cast(ids, &DataType::Date32)?, &DataType::Utf8),
                _ => cast(ids, &DataType::Utf8),
            };
            let ids = batch
                .column_by_name(id_column)
                .map(as_text)
                .transpose()
                .map_err(failed)?;
            let hit = ids.as_ref().and_then(|ids| {
                let ids = ids.as_any().downcast_ref::<StringArray>()?;
                (0..ids.len()).find(|&i| ids.is_valid(i) && ids.value(i) == id)
            });
            if let Some(i) = hit {
                return Ok(Some(SourceBatch {
                    batch: batch.slice(i, 1),
                    file: index,
                    first_row: row + i as u64,
                    sampled_rows: None,
                }));
            }
            row += batch.num_rows() as u64;
        }
        Ok(None)
    }
}

/// How an integer column's statistics compare: `Some(true)` for unsigned integers (UInt8 to
/// UInt64 in Arrow, stored in the signed physical types), `Some(false)` for signed ones, `None`
/// when the integers stand for something else (dates, timestamps, decimals, times), whose
/// statistics an id as written (`2026-11-01`) cannot be compared with: every row group is read.
fn integers(column: &ColumnDescriptor) -> Option<bool> {
    match column.logical_type_ref() {
        Some(LogicalType::Integer(int)) => Some(!int.is_signed),
        Some(_) => None,
        None => match column.converted_type() {
            ConvertedType::UINT_8
            | ConvertedType::UINT_16
            | ConvertedType::UINT_32
            | ConvertedType::UINT_64 => Some(true),
            ConvertedType::NONE
            | ConvertedType::INT_8
            | ConvertedType::INT_16
            | ConvertedType::INT_32
            | ConvertedType::INT_64 => Some(false),
            _ => None,
        },
    }
}

/// Whether `id` lies within `min..=max` of a row group's statistics (absent bounds rule
/// nothing out); `false` when `id` is no value of the type.
fn within<T: std::str::FromStr + PartialOrd>(id: &str, min: Option<T>, max: Option<T>) -> bool {
    match id.parse::<T>() {
        Ok(v) => min.is_none_or(|m| m <= v) && max.is_none_or(|m| v <= m),
        Err(_) => false,
    }
}

/// Whether a row group with these id statistics may hold `id`; `integers` says how integer
/// statistics compare (see [`integers`]; `None`: they cannot rule anything out).
fn may_hold(stats: &Statistics, id: &str, integers: Option<bool>) -> bool {
    let unsigned = match (stats, integers) {
        (Statistics::Int32(_) | Statistics::Int64(_), None) => return true,
        (_, integers) => integers == Some(true),
    };
    match stats {
        Statistics::Int32(s) if unsigned => within(
            id,
            s.min_opt().map(|m| *m as u32),
            s.max_opt().map(|m| *m as u32),
        ),
        Statistics::Int32(s) => within(id, s.min_opt().copied(), s.max_opt().copied()),
        Statistics::Int64(s) if unsigned => within(
            id,
            s.min_opt().map(|m| *m as u64),
            s.max_opt().map(|m| *m as u64),
        ),
        Statistics::Int64(s) => within(id, s.min_opt().copied(), s.max_opt().copied()),
        Statistics::ByteArray(s) => {
            let v = id.as_bytes();
            s.min_bytes_opt().is_none_or(|m| m <= v) && s.max_bytes_opt().is_none_or(|m| v <= m)
        }
        _ => true,
    }
}
