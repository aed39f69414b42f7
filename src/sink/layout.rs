//! The output schema and how one scored batch becomes output rows.
//!
//! Columns, in order: the id (its input type), pass-through columns, one `Float64` per factor,
//! `score`, `tier` (only when not partitioned by tier: there the directory carries it),
//! `tier_rank` (`Int32`, 1 for the top level: readers sort and compare tiers by it, where the
//! tier's name would sort alphabetically) and `reasons` (`List<Utf8>`, when asked for). Timestamps are written in microseconds because
//! Spark cannot read nanosecond Parquet timestamps.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
};
use arrow::compute::{cast, filter, filter_record_batch};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

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
                in_microseconds(field.data_type()),
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

    /// Columns that hold mostly distinct values (the id, the factors and the score), written
    /// without dictionary encoding.
    pub fn distinct_columns(&self) -> Vec<String> {
        let mut columns = vec![self.copied[0].clone()];
        columns.extend(self.factors.iter().cloned());
        columns.push("score".into());
        columns
    }

    /// The schema of every output file.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The scored rows of `input` as output rows, with each row's tier index.
    pub fn build(
        &self,
        input: &RecordBatch,
        scored: &ScoredBatch,
    ) -> Result<(RecordBatch, Vec<usize>), ArrowError> {
        let keep = BooleanArray::from_iter(scored.tier.iter().map(|t| Some(t.is_some())));
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (name, field) in self.copied.iter().zip(self.schema.fields()) {
            let column = input
                .column_by_name(name)
                .ok_or_else(|| ArrowError::SchemaError(format!("column `{name}` not read")))?;
            columns.push(cast(&filter(column, &keep)?, field.data_type())?);
        }
        for column in &scored.factors {
            columns.push(filter(column, &keep)?);
        }
        columns.push(filter(&scored.score, &keep)?);
        let tiers: Vec<usize> = scored.tier.iter().flatten().copied().collect();
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
            columns.push(filter(&self.reasons_column(scored), &keep)?);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        Ok((batch, tiers))
    }

    /// Per row, `factor: reason` for each factor that gave one, in factor order.
    fn reasons_column(&self, scored: &ScoredBatch) -> ArrayRef {
        let rows = scored.tier.len();
        // Factors that gave no reason on any row of the batch are not looked at row by row.
        let giving: Vec<(&String, &StringArray)> = self
            .factors
            .iter()
            .zip(&scored.reasons)
            .filter(|(_, reasons)| reasons.null_count() < reasons.len())
            .collect();
        let mut builder = ListBuilder::new(StringBuilder::new());
        let mut text = String::new();
        for row in 0..rows {
            for (factor, reasons) in &giving {
                if reasons.is_valid(row) {
                    text.clear();
                    text.push_str(factor);
                    text.push_str(": ");
                    text.push_str(reasons.value(row));
                    builder.values().append_value(&text);
                }
            }
            builder.append(true);
        }
        Arc::new(builder.finish())
    }

    /// Keeps only the rows of tier `tier` (for hive partitioning).
    pub fn rows_of_tier(
        batch: &RecordBatch,
        tiers: &[usize],
        tier: usize,
    ) -> Result<RecordBatch, ArrowError> {
        let mask = BooleanArray::from_iter(tiers.iter().map(|t| Some(*t == tier)));
        filter_record_batch(batch, &mask)
    }
}

/// The type a column is written as: timestamps of any unit become microseconds.
pub fn in_microseconds(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::List(f) => DataType::List(field_in_microseconds(f)),
        DataType::LargeList(f) => DataType::LargeList(field_in_microseconds(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field_in_microseconds(f), *n),
        DataType::Struct(fields) => DataType::Struct(Fields::from(
            fields.iter().map(field_in_microseconds).collect::<Vec<_>>(),
        )),
        other => other.clone(),
    }
}

fn field_in_microseconds(field: &Arc<Field>) -> Arc<Field> {
    Arc::new(
        field
            .as_ref()
            .clone()
            .with_data_type(in_microseconds(field.data_type())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_become_microseconds_at_any_depth() {
        let ns = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        assert_eq!(
            in_microseconds(&ns),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let list = DataType::List(Arc::new(Field::new_list_field(ns.clone(), true)));
        assert_eq!(
            in_microseconds(&list),
            DataType::List(Arc::new(Field::new_list_field(
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true
            )))
        );
        assert_eq!(in_microseconds(&DataType::Int32), DataType::Int32);
    }
}
