//! Stage 5 of the data path: a batch of customers to factor columns, a score and a tier per
//! row, and the rows that failed.
//!
//! Factors run in pipeline order, each over the whole batch; a factor sees the columns and the
//! factors before it (added to the batch as `Float64` columns). A row that fails any step is
//! rejected with the step's name and message and skipped by the steps after it.

mod explain;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use crate::rules::outcome::{factor_value, number, FactorValue};
use crate::rules::{CompiledRule, RowOutcome, RuleContext};
use crate::tiers::TierRules;
pub use explain::{Explanation, FactorExplanation};

/// A factor ready to evaluate, with its weight in a weighted sum.
pub struct FactorStep {
    pub rule: CompiledRule,
    pub weight: Option<f64>,
}

/// How factor values become a score.
pub enum CombineStep {
    /// Σ weight × factor.
    WeightedSum,
    /// A script returning the score.
    Script(CompiledRule),
}

/// Scores batches: the compiled factors, the combination and the tiers of one pipeline.
pub struct Scorer {
    /// The id column; a row whose id is null is rejected before any rule runs.
    pub id_column: Option<String>,
    pub context: RuleContext,
    pub factors: Vec<FactorStep>,
    pub combine: CombineStep,
    pub tiers: TierRules,
}

/// A row that could not be scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// Row index within the batch.
    pub row: usize,
    /// The factor (or `score`) that failed.
    pub step: String,
    pub message: String,
}

/// Everything scoring produced for one batch, aligned with its rows.
pub struct ScoredBatch {
    /// One `Float64` column per factor; null where the row was rejected.
    pub factors: Vec<ArrayRef>,
    /// Per factor, the reason each row gave (if any).
    pub reasons: Vec<Vec<Option<String>>>,
    /// Null where the row was rejected.
    pub score: Float64Array,
    /// Tier index per row; `None` where the row was rejected.
    pub tier: Vec<Option<usize>>,
    /// Rejected rows, in row order.
    pub rejects: Vec<Reject>,
}

impl Scorer {
    /// Scores every row of `batch` (which holds the columns the rules read).
    pub fn score(&self, batch: &RecordBatch) -> ScoredBatch {
        let rows = batch.num_rows();
        let mut failed: Vec<Option<Reject>> = vec![None; rows];
        let mut skip = vec![false; rows];
        if let Some(ids) = self
            .id_column
            .as_deref()
            .and_then(|id| batch.column_by_name(id))
        {
            for row in (0..rows).filter(|row| ids.is_null(*row)) {
                skip[row] = true;
                failed[row] = Some(Reject {
                    row,
                    step: "id".into(),
                    message: format!(
                        "the id column `{}` is null; every customer needs an id to be scored",
                        self.id_column.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
        let mut working = batch.clone();
        let mut factors = Vec::with_capacity(self.factors.len());
        let mut reasons = Vec::with_capacity(self.factors.len());
        let mut values_by_factor: Vec<Vec<Option<f64>>> = Vec::with_capacity(self.factors.len());

        for step in &self.factors {
            let outcomes = step.rule.evaluate(
                &self.context.engine,
                &self.context.params,
                &working,
                &skip,
                factor_value,
            );
            let mut values = Vec::with_capacity(rows);
            let mut why = Vec::with_capacity(rows);
            for (row, outcome) in outcomes.into_iter().enumerate() {
                match outcome {
                    RowOutcome::Value(FactorValue { value, reason }) => {
                        values.push(Some(value));
                        why.push(reason);
                    }
                    RowOutcome::Skipped => {
                        values.push(None);
                        why.push(None);
                    }
                    RowOutcome::Failed(message) => {
                        values.push(None);
                        why.push(None);
                        skip[row] = true;
                        failed[row] = Some(Reject {
                            row,
                            step: step.rule.name.clone(),
                            message,
                        });
                    }
                }
            }
            let column: ArrayRef = Arc::new(Float64Array::from(values.clone()));
            working = with_column(&working, &step.rule.name, column.clone());
            factors.push(column);
            reasons.push(why);
            values_by_factor.push(values);
        }

        let scores: Vec<Option<f64>> = match &self.combine {
            CombineStep::WeightedSum => (0..rows)
                .map(|row| {
                    if skip[row] {
                        return None;
                    }
                    let score: f64 = self
                        .factors
                        .iter()
                        .zip(&values_by_factor)
                        .map(|(step, values)| step.weight.unwrap_or(1.0) * values[row].unwrap_or(0.0))
                        .sum();
                    if score.is_finite() {
                        Some(score)
                    } else {
                        failed[row] = Some(Reject {
                            row,
                            step: "score".into(),
                            message: format!(
                                "the weighted sum is {score}: a factor value too large for its weight"
                            ),
                        });
                        None
                    }
                })
                .collect(),
            CombineStep::Script(rule) => rule
                .evaluate(
                    &self.context.engine,
                    &self.context.params,
                    &working,
                    &skip,
                    |value| number(value, "the score script"),
                )
                .into_iter()
                .enumerate()
                .map(|(row, outcome)| match outcome {
                    RowOutcome::Value(score) => Some(score),
                    RowOutcome::Skipped => None,
                    RowOutcome::Failed(message) => {
                        failed[row] = Some(Reject {
                            row,
                            step: "score".into(),
                            message,
                        });
                        None
                    }
                })
                .collect(),
        };

        let tier = scores
            .iter()
            .map(|score| score.map(|s| self.tiers.assign(s)))
            .collect();
        // A row rejected by the score script still has factor values; null them so every
        // output column agrees that the row is not scored.
        let rejected_late = failed
            .iter()
            .any(|f| f.as_ref().is_some_and(|r| r.step == "score"));
        if rejected_late {
            factors = values_by_factor
                .iter()
                .map(|values| {
                    let masked: Float64Array =
                        values.iter().zip(&scores).map(|(v, s)| s.and(*v)).collect();
                    Arc::new(masked) as ArrayRef
                })
                .collect();
        }
        ScoredBatch {
            factors,
            reasons,
            score: Float64Array::from(scores),
            tier,
            rejects: failed.into_iter().flatten().collect(),
        }
    }
}

fn with_column(batch: &RecordBatch, name: &str, column: ArrayRef) -> RecordBatch {
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(name, DataType::Float64, true)));
    let mut columns = batch.columns().to_vec();
    columns.push(column);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("a Float64 column of the batch's length always fits")
}

impl ScoredBatch {
    /// Rows scored (not rejected).
    pub fn scored_rows(&self) -> usize {
        self.score.len() - self.score.null_count()
    }
}

#[cfg(test)]
mod tests;
