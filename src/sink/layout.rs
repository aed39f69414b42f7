//! The output schema and how one scored batch becomes output rows.
//!
//! Columns, in order: the id (its input type), pass-through columns, one `Float64` per factor,
//! `score`, `tier` (only when not partitioned by tier: there the directory carries it),
//! `tier_rank` (`Int32`, 1 for the top level: readers sort and compare tiers by it, where the
//! tier's name would sort alphabetically) and `reasons` (`List<Utf8>`, when asked for). Timestamps are written in microseconds because
//! Spark cannot read nanosecond Parquet timestamps.

use std::fmt::Write;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, UInt32Array,
};
use arrow::compute::{cast_with_options, filter, take, CastOptions};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use parquet::schema::types::ColumnPath;

use super::SinkError;
use crate::human;
use crate::score::ScoredBatch;

/// How output rows are laid out.
#[derive(Debug, Clone)]
pub struct OutputLayout {
    /// Input columns copied to the output (the id first).
    copied: Vec<String>,
    factors: Vec<String>,
    tier_names: Vec<String>,
    tier_column: bool,
    reasons: bool,
    schema: SchemaRef,
}

impl OutputLayout {
    /// The layout for an input schema (after rename); `copied` names input columns, id first.
    pub fn new(
        input: &Schema,
        copied: Vec<String>,
        factors: Vec<String>,
        tier_names: Vec<String>,
        tier_column: bool,
        reasons: bool,
    ) -> Result<Self, ArrowError> {
        let mut fields = Vec::new();
        for name in &copied {
            let field = input.field_with_name(name)?;
            fields.push(Field::new(
                name,
                written_type(field.data_type()),
                field.is_nullable(),
            ));
        }
        for name in &factors {
            fields.push(Field::new(name, DataType::Float64, false));
        }
        fields.push(Field::new("score", DataType::Float64, false));
        if tier_column {
            fields.push(Field::new("tier", DataType::Utf8, false));
        }
        fields.push(Field::new("tier_rank", DataType::Int32, false));
        if reasons {
            fields.push(Field::new(
                "reasons",
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                false,
            ));
        }
        Ok(Self {
            copied,
            factors,
            tier_names,
            tier_column,
            reasons,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The same layout with the `tier` column whether or not the output is partitioned by tier:
    /// rows handed to a caller in memory have no directory to carry their tier.
    pub fn with_tier_column(&self) -> Self {
        if self.tier_column {
            return self.clone();
        }
        let mut fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let tier_rank = fields.len() - 1 - usize::from(self.reasons);
        fields.insert(tier_rank, Field::new("tier", DataType::Utf8, false));
        Self {
            tier_column: true,
            schema: Arc::new(Schema::new(fields)),
            ..self.clone()
        }
    }

    /// The id column: mostly distinct values, so written without dictionary encoding.
    pub fn id_column(&self) -> &str {
        &self.copied[0]
    }

    /// The factor and score columns: some hold few values (bands, penalties), some hold
    /// mostly distinct ones (scales, sums), which only the data shows.
    pub fn number_columns(&self) -> Vec<String> {
        let mut columns = self.factors.clone();
        columns.push("score".into());
        columns
    }

    /// The leaf columns of free text, whose lowest and highest values mean nothing to a
    /// reader: the reasons' texts (`reasons.list.item`), when the output has them.
    pub fn free_text_columns(&self) -> Vec<ColumnPath> {
        if self.reasons {
            vec![ColumnPath::new(vec![
                "reasons".into(),
                "list".into(),
                "item".into(),
            ])]
        } else {
            Vec::new()
        }
    }

    /// The schema of every output file.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The scored rows of `input` as output rows, with each row's tier index.
    ///
    /// Without a tier column (the output is partitioned by tier) the rows come grouped by tier,
    /// in tier order and in input order within a tier, so that each tier's file takes one slice
    /// of the batch ([`OutputLayout::tier_ranges`]): one gather of every column, where cutting
    /// each tier out with a filter scanned and copied the batch once a tier. With one, they keep
    /// the input's order (and its buffers, when no row was rejected).
    pub fn build(
        &self,
        input: &RecordBatch,
        scored: &ScoredBatch,
    ) -> Result<(RecordBatch, Vec<usize>), SinkError> {
        let order = if self.tier_column {
            Order::Kept(BooleanArray::from_iter(
                scored.tier.iter().map(|t| Some(t.is_some())),
            ))
        } else {
            let (rows, tiers) = by_tier(&scored.tier, self.tier_names.len());
            Order::ByTier(UInt32Array::from(rows), tiers)
        };
        let pick = |column: &ArrayRef| match &order {
            Order::Kept(keep) => filter(column, keep),
            Order::ByTier(indices, _) => take(column, indices, None),
        };
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (name, field) in self.copied.iter().zip(self.schema.fields()) {
            let column = input
                .column_by_name(name)
                .ok_or_else(|| ArrowError::SchemaError(format!("column `{name}` not read")))?;
            columns.push(as_written(&pick(column)?, field)?);
        }
        for column in &scored.factors {
            columns.push(pick(column)?);
        }
        columns.push(pick(&(Arc::new(scored.score.clone()) as ArrayRef))?);
        let tiers: Vec<usize> = match &order {
            Order::Kept(_) => scored.tier.iter().flatten().copied().collect(),
            Order::ByTier(_, tiers) => tiers.clone(),
        };
        if self.tier_column {
            let names: StringArray = tiers
                .iter()
                .map(|t| Some(self.tier_names[*t].as_str()))
                .collect();
            columns.push(Arc::new(names));
        }
        let ranks: Int32Array = tiers.iter().map(|t| Some(*t as i32 + 1)).collect();
        columns.push(Arc::new(ranks));
        if self.reasons {
            let kept: Vec<u32>;
            let rows: &[u32] = match &order {
                Order::Kept(_) => {
                    kept = scored.scored_tiers().map(|(row, _)| row as u32).collect();
                    &kept
                }
                Order::ByTier(indices, _) => indices.values(),
            };
            columns.push(self.reasons_column(scored, rows)?);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        Ok((batch, tiers))
    }

    /// Per row of `rows` (rows of the scored batch, in output order), `factor: reason` for each
    /// factor that gave one, in factor order.
    fn reasons_column(&self, scored: &ScoredBatch, rows: &[u32]) -> Result<ArrayRef, ArrowError> {
        // Factors that gave no reason on any row of the batch are not looked at row by row.
        let giving: Vec<(&String, &StringArray)> = self
            .factors
            .iter()
            .zip(&scored.reasons)
            .filter(|(_, reasons)| reasons.null_count() < reasons.len())
            .collect();
        // Sized from the reasons arrays alone (every row of the batch is written, as a rule):
        // no pass over the rows, no regrowth.
        let (texts, bytes) = giving
            .iter()
            .fold((0, 0), |(texts, bytes), (factor, reasons)| {
                let given = reasons.len() - reasons.null_count();
                let offsets = reasons.value_offsets();
                let own_bytes = (offsets[offsets.len() - 1] - offsets[0]) as usize;
                let text_bytes = own_bytes + given * (factor.len() + 2);
                (texts + given, bytes + text_bytes)
            });
        // Each reason is at most `rules::MAX_REASON_BYTES`, but many factors giving long ones
        // on every row could pass what one Arrow text column holds.
        if bytes > i32::MAX as usize {
            return Err(ArrowError::InvalidArgumentError(format!(
                "the reasons of a batch of {} rows take {} bytes, more than the 2 GiB of text \
                 a column holds; give fewer or shorter reasons, or set output.reasons: false",
                human::count(scored.tier.len() as u64),
                human::count(bytes as u64)
            )));
        }
        let values = StringBuilder::with_capacity(texts, bytes);
        let mut builder = ListBuilder::with_capacity(values, rows.len());
        for &row in rows {
            let row = row as usize;
            for (factor, reasons) in &giving {
                if reasons.is_valid(row) {
                    // Written into the list's values as they are, not put together first.
                    let values = builder.values();
                    for part in [factor.as_str(), ": ", reasons.value(row)] {
                        values
                            .write_str(part)
                            .expect("a string builder takes any text");
                    }
                    values.append_value("");
                }
            }
            builder.append(true);
        }
        Ok(Arc::new(builder.finish()))
    }

    /// Each of `levels` tiers' rows in a batch [`OutputLayout::build`] grouped by tier, given
    /// its rows' tiers (ascending: the caller checks); empty for a tier without rows.
    pub fn tier_ranges(tiers: &[usize], levels: usize) -> Vec<Range<usize>> {
        (0..levels)
            .map(|tier| tiers.partition_point(|&t| t < tier)..tiers.partition_point(|&t| t <= tier))
            .collect()
    }
}

/// Which rows of a scored batch become output rows, in which order.
enum Order {
    /// The scored rows, in input order.
    Kept(BooleanArray),
    /// The scored rows' indices grouped by tier, and each one's tier (ascending).
    ByTier(UInt32Array, Vec<usize>),
}

/// The scored rows (`tiers[row]` is `Some`) grouped by tier, input order within a tier (a
/// counting sort over `levels` tiers), with the tier of each in that order.
fn by_tier(tiers: &[Option<usize>], levels: usize) -> (Vec<u32>, Vec<usize>) {
    let mut starts = vec![0usize; levels + 1];
    for tier in tiers.iter().flatten() {
        starts[tier + 1] += 1;
    }
    for level in 0..levels {
        starts[level + 1] += starts[level];
    }
    let grouped: Vec<usize> = (0..levels)
        .flat_map(|level| std::iter::repeat_n(level, starts[level + 1] - starts[level]))
        .collect();
    let mut order = vec![0u32; starts[levels]];
    for (row, tier) in tiers.iter().enumerate() {
        if let Some(tier) = *tier {
            order[starts[tier]] = row as u32;
            starts[tier] += 1;
        }
    }
    (order, grouped)
}

/// Casts that fail on a value they cannot carry over, rather than making it null.
const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: arrow::util::display::FormatOptions::new(),
};

/// Milliseconds in a day: a Date64 value is a whole number of them.
const DAY_MS: i64 = 86_400_000;

/// `column` as `field` (of [`written_type`]) takes it. Never a value made null or moved: a
/// timestamp beyond the microseconds' range (past year ±294,000, such as an `i64::MAX`
/// milliseconds sentinel), or a Date64 that is no whole day (its cast to days would move it
/// to another day, or make two ids one), fails the run naming the column.
pub(super) fn as_written(column: &ArrayRef, field: &Field) -> Result<ArrayRef, SinkError> {
    let unwritable = |detail: String| SinkError::Unwritable {
        column: field.name().clone(),
        as_type: field.data_type().to_string(),
        detail,
    };
    if let Some(dates) = column.as_any().downcast_ref::<arrow::array::Date64Array>() {
        if let Some(ms) = dates.iter().flatten().find(|ms| ms % DAY_MS != 0) {
            return Err(unwritable(format!(
                "the Date64 value {ms} is not a whole number of days ({DAY_MS} ms)"
            )));
        }
    }
    cast_with_options(column, field.data_type(), &STRICT).map_err(|err| unwritable(err.to_string()))
}

/// The type a column is written as, one every reader of Parquet takes as what it is:
/// timestamps of any unit become microseconds, and Date64 (milliseconds, which Parquet has no
/// type for: it was written as a plain INT64, and DuckDB read it back as an integer) becomes
/// Date32 (days).
pub fn written_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::Date64 => DataType::Date32,
        DataType::List(f) => DataType::List(field_written_type(f)),
        DataType::LargeList(f) => DataType::LargeList(field_written_type(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field_written_type(f), *n),
        DataType::Struct(fields) => DataType::Struct(Fields::from(
            fields.iter().map(field_written_type).collect::<Vec<_>>(),
        )),
        other => other.clone(),
    }
}

fn field_written_type(field: &Arc<Field>) -> Arc<Field> {
    Arc::new(
        field
            .as_ref()
            .clone()
            .with_data_type(written_type(field.data_type())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_become_microseconds_and_date64_date32_at_any_depth() {
        let ns = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        assert_eq!(
            written_type(&ns),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let list = DataType::List(Arc::new(Field::new_list_field(ns.clone(), true)));
        assert_eq!(
            written_type(&list),
            DataType::List(Arc::new(Field::new_list_field(
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true
            )))
        );
        assert_eq!(written_type(&DataType::Int32), DataType::Int32);
        let dates = DataType::List(Arc::new(Field::new_list_field(DataType::Date64, true)));
        assert_eq!(
            written_type(&dates),
            DataType::List(Arc::new(Field::new_list_field(DataType::Date32, true)))
        );
    }

    /// Many factors giving long reasons on every row can pass the 2 GiB of text an Arrow
    /// column holds: the batch is refused with an error before anything is allocated (it was a
    /// panic). The 40 factors here share one array of 65,536 reasons of 1 KiB (64 MiB): with
    /// `fN: ` before each, 65,536 x (40 x 1,026 + 10 x 2 + 30 x 3) bytes.
    #[test]
    fn a_batch_whose_reasons_pass_two_gib_is_an_error_not_a_panic() {
        use arrow::array::{Float64Array, Int64Array};
        let rows = 65_536;
        let input = RecordBatch::try_from_iter([(
            "id",
            Arc::new(Int64Array::from_iter_values(0..rows as i64)) as ArrayRef,
        )])
        .unwrap();
        let long = "r".repeat(crate::rules::MAX_REASON_BYTES);
        let reasons = StringArray::from_iter_values(std::iter::repeat_n(long.as_str(), rows));
        let factors = 40;
        let values: ArrayRef = Arc::new(Float64Array::from(vec![1.0; rows]));
        let scored = ScoredBatch {
            factors: vec![values; factors],
            reasons: vec![reasons; factors],
            score: Float64Array::from(vec![1.0; rows]),
            tier: vec![Some(0); rows],
            rejects: Vec::new(),
        };
        let names: Vec<String> = (0..factors).map(|f| format!("f{f}")).collect();
        let layout = OutputLayout::new(
            input.schema().as_ref(),
            vec!["id".into()],
            names,
            vec!["all".into()],
            false,
            true,
        )
        .unwrap();
        let error = layout.build(&input, &scored).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot assemble output rows: Invalid argument error: the reasons of a batch of 65,536 rows take 2,696,806,400 \
             bytes, more than the 2 GiB of text a column holds; give fewer or shorter reasons, \
             or set output.reasons: false"
        );
    }

    /// Six input rows, row 3 rejected, in tiers 1 0 1 - 2 0: partitioned by tier the rows come
    /// grouped (tier order, input order within a tier) with their own factors, score, rank and
    /// reasons (each factor's, in factor order; none of the rejected row's); with a tier column
    /// they keep the input order.
    #[test]
    fn partitioned_rows_come_grouped_by_tier_with_their_own_values() {
        use arrow::array::{Float64Array, Int64Array, ListArray};
        let input = RecordBatch::try_from_iter([(
            "id",
            Arc::new(Int64Array::from(vec![10, 11, 12, 13, 14, 15])) as ArrayRef,
        )])
        .unwrap();
        let scored = ScoredBatch {
            factors: vec![
                Arc::new(Float64Array::from(vec![
                    Some(0.0),
                    Some(1.0),
                    Some(2.0),
                    None,
                    Some(4.0),
                    Some(5.0),
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(0.0),
                    Some(0.0),
                    Some(0.0),
                    None,
                    Some(0.0),
                    Some(0.0),
                ])),
            ],
            reasons: vec![
                StringArray::from(vec![Some("a"), None, Some("c"), None, None, Some("f")]),
                StringArray::from(vec![None, Some("éé"), Some("z"), Some("w"), None, None]),
            ],
            score: Float64Array::from(vec![
                Some(0.5),
                Some(1.5),
                Some(2.5),
                None,
                Some(4.5),
                Some(5.5),
            ]),
            tier: vec![Some(1), Some(0), Some(1), None, Some(2), Some(0)],
            rejects: Vec::new(),
        };
        let layout = |tier_column| {
            OutputLayout::new(
                input.schema().as_ref(),
                vec!["id".into()],
                vec!["f".into(), "g".into()],
                vec!["top".into(), "mid".into(), "low".into()],
                tier_column,
                true,
            )
            .unwrap()
        };
        let ids = |batch: &RecordBatch| -> Vec<i64> {
            batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        };
        let reasons = |batch: &RecordBatch| -> Vec<Vec<String>> {
            let list = batch.column_by_name("reasons").unwrap();
            let list = list.as_any().downcast_ref::<ListArray>().unwrap();
            list.iter()
                .map(|row| {
                    let row = row.unwrap();
                    let texts = row.as_any().downcast_ref::<StringArray>().unwrap();
                    texts.iter().map(|t| t.unwrap().to_string()).collect()
                })
                .collect()
        };

        let (batch, tiers) = layout(false).build(&input, &scored).unwrap();
        assert_eq!(ids(&batch), [11, 15, 10, 12, 14]);
        assert_eq!(tiers, [0, 0, 1, 1, 2]);
        let score = batch.column_by_name("score").unwrap();
        let score = score.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(score.values().to_vec(), [1.5, 5.5, 0.5, 2.5, 4.5]);
        let rank = batch.column_by_name("tier_rank").unwrap();
        let rank = rank.as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(rank.values().to_vec(), [1, 1, 2, 2, 3]);
        assert_eq!(
            reasons(&batch),
            [
                vec!["g: éé".to_string()],
                vec!["f: f".into()],
                vec!["f: a".into()],
                vec!["f: c".into(), "g: z".into()],
                vec![]
            ]
        );
        assert_eq!(OutputLayout::tier_ranges(&tiers, 3), [0..2, 2..4, 4..5]);
        assert_eq!(OutputLayout::tier_ranges(&[0, 2, 2], 3), [0..1, 1..1, 1..3]);

        let (batch, tiers) = layout(true).build(&input, &scored).unwrap();
        assert_eq!(ids(&batch), [10, 11, 12, 14, 15]);
        assert_eq!(tiers, [1, 0, 1, 2, 0]);
        assert_eq!(
            reasons(&batch),
            [
                vec!["f: a".to_string()],
                vec!["g: éé".into()],
                vec!["f: c".into(), "g: z".into()],
                vec![],
                vec!["f: f".into()]
            ]
        );
    }
}
