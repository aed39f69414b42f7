//! Scoring rows already in memory: an Arrow batch handed over by a caller (the Python package)
//! instead of read from the pipeline's input. The same scorer, output rows and reject rows as
//! `run` makes for a batch it reads; nothing is written.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};

use super::ranking::Ranking;
use super::ExecError;
use crate::pipeline::{OnRowError, Pipeline};
use crate::plan::Plan;
use crate::sink::{RejectWriter, SinkError};
use crate::source::Source;

/// One batch scored: its output rows and its rejected rows.
#[derive(Debug)]
pub struct ScoredRows {
    /// The scored rows in input order, with the columns of the run's output files plus `tier`
    /// (which a run partitioned by tier keeps in the directory name).
    pub scored: RecordBatch,
    /// The rejected rows, with the columns of the run's rejects file.
    pub rejects: RecordBatch,
}

/// Scores `batch` as `run` scores the rows of one input batch. `batch` holds the input's
/// columns as its files name them (`input.rename` is applied here), with the types the plan
/// was checked against; extra columns are ignored. Columns are shared, not copied: output
/// columns copied from the input are the input's arrays when no row is rejected.
///
/// `source` is the input the plan was checked against: a column its footers prove null-free
/// must hold no null in `batch` either (the compiled rules rely on it). Rejects name
/// `source_file` as their file and `first_row` + their row within `batch` as `row_number`.
/// Pipelines with population steps (derive columns, normalisation, rank or ABC tiers) need
/// every row of the input before scoring one, so they are refused
/// ([`ExecError::NeedsWholeInput`]); `run` scores them.
pub fn score_batch(
    pipeline: &Pipeline,
    plan: &Plan,
    source: &Source,
    batch: &RecordBatch,
    source_file: &str,
    first_row: u64,
    run_id: &str,
) -> Result<ScoredRows, ExecError> {
    let mut steps = Vec::new();
    if !pipeline.derive.is_empty() {
        steps.push("derive columns");
    }
    if Ranking::needed(pipeline) {
        steps.push("normalised factors or whole-run tiers (rank, ABC)");
    }
    if !steps.is_empty() {
        return Err(ExecError::NeedsWholeInput {
            pipeline: pipeline.name.clone(),
            steps: steps.join(" and "),
        });
    }
    let rows = project(pipeline, plan, source, batch)?;
    let scored = plan.scorer.score(&rows);
    if let (OnRowError::Fail, Some(first)) = (pipeline.errors.on_row_error, scored.rejects.first())
    {
        return Err(ExecError::RowFailed {
            source_file: source_file.to_string(),
            row: first_row + first.row as u64,
            step: first.step.clone(),
            message: first.message.clone(),
        });
    }
    let (out, _tiers) = plan.layout.with_tier_column().build(&rows, &scored)?;
    let reject_schema = RejectWriter::schema_for(&plan.id_field);
    let ids = rows
        .column_by_name(&pipeline.input.id)
        .expect("the plan reads the id column");
    let rejects = RejectWriter::rows(
        &reject_schema,
        &scored.rejects,
        ids,
        source_file,
        |row| first_row + row as u64,
        run_id,
    )?
    .unwrap_or_else(|| RecordBatch::new_empty(reject_schema));
    Ok(ScoredRows {
        scored: out,
        rejects,
    })
}

/// The columns the plan reads, from `batch` renamed as `input.rename` says: the same arrays,
/// under the plan's names.
fn project(
    pipeline: &Pipeline,
    plan: &Plan,
    source: &Source,
    batch: &RecordBatch,
) -> Result<RecordBatch, ExecError> {
    let renamed = |name: &str| {
        pipeline
            .input
            .rename
            .iter()
            .find(|(from, _)| from == name)
            .map_or(name.to_string(), |(_, to)| to.clone())
    };
    let batch_schema = batch.schema();
    let mut fields: Vec<Field> = Vec::with_capacity(plan.read_columns.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(plan.read_columns.len());
    for name in &plan.read_columns {
        let expected = plan
            .schema
            .field_with_name(name)
            .expect("the plan's schema holds the columns it reads");
        let found = batch_schema
            .fields()
            .iter()
            .position(|f| renamed(f.name()) == *name)
            .ok_or_else(|| ExecError::BatchColumn {
                column: name.clone(),
                message: "the batch has no such column".into(),
            })?;
        let column = batch.column(found);
        if column.data_type() != expected.data_type() {
            return Err(ExecError::BatchColumn {
                column: name.clone(),
                message: format!(
                    "the batch holds {}, the pipeline's input {}",
                    column.data_type(),
                    expected.data_type()
                ),
            });
        }
        if column.null_count() > 0 && expected.is_nullable() && source.null_free(name) {
            return Err(ExecError::BatchColumn {
                column: name.clone(),
                message: format!(
                    "the batch holds {} null(s), and the pipeline's input, which the rules were checked against, none",
                    column.null_count()
                ),
            });
        }
        fields.push(expected.clone());
        columns.push(column.clone());
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|err| ExecError::Sink(SinkError::from(err)))
}
