//! One customer, factor by factor: what each rule read, gave and weighed.
//!
//! Built by the same scorer `run` uses, on the customer's one-row batch, so every number equals
//! that customer's row in the run's output.

use arrow::array::{new_null_array, Array, ArrayRef, Float64Array, RecordBatch};
use arrow::datatypes::DataType;

use super::{CombineStep, Ranked, Reject, Scorer};

/// The explanation of one customer's score and tier.
#[derive(Debug, Clone)]
pub struct Breakdown {
    pub factors: Vec<FactorBreakdown>,
    /// `None` when the row was rejected.
    pub score: Option<f64>,
    /// Index into the tier levels; `None` when the row was rejected.
    pub tier: Option<usize>,
    /// Why the row was rejected, if it was.
    pub reject: Option<Reject>,
    /// Whether the score is the weighted sum (so contributions add up to it).
    pub weighted_sum: bool,
}

/// One factor of an explanation.
#[derive(Debug, Clone)]
pub struct FactorBreakdown {
    pub name: String,
    /// Each name the rule read (columns and earlier factors) with its value for this row, as a
    /// one-row Arrow array.
    pub inputs: Vec<(String, ArrayRef)>,
    /// `None` when the factor failed or was not reached.
    pub value: Option<f64>,
    pub weight: Option<f64>,
    /// weight × value, under a weighted sum.
    pub contribution: Option<f64>,
    pub reason: Option<String>,
}

impl Scorer {
    /// Breaks down the score of the first row of `row` (a one-row batch holding the columns the rules read),
    /// with what the whole-run step gave that row (normalised factors, rank or ABC tier).
    pub fn breakdown(&self, row: &RecordBatch, ranked: &Ranked<'_>) -> Breakdown {
        let scored = self.score_showing_reasons(row, ranked);
        let weighted_sum = matches!(self.combine, CombineStep::WeightedSum);
        let value_of = |column: &ArrayRef| {
            let values = column.as_any().downcast_ref::<Float64Array>()?;
            (!values.is_null(0)).then(|| values.value(0))
        };
        let factors = self
            .factors
            .iter()
            .zip(&scored.factors)
            .zip(&scored.reasons)
            .map(|((step, column), reasons)| {
                let inputs = step
                    .rule
                    .info()
                    .reads
                    .iter()
                    .map(|(name, _)| {
                        (
                            name.clone(),
                            input_value(row, &self.factors, &scored.factors, name),
                        )
                    })
                    .collect();
                let value = value_of(column);
                FactorBreakdown {
                    name: step.name().to_string(),
                    inputs,
                    value,
                    weight: step.weight,
                    contribution: weighted_sum
                        .then(|| value.map(|v| v * step.weight.unwrap_or(1.0)))
                        .flatten(),
                    reason: (!reasons.is_null(0)).then(|| reasons.value(0).to_string()),
                }
            })
            .collect();
        Breakdown {
            factors,
            score: (!scored.score.is_null(0)).then(|| scored.score.value(0)),
            tier: scored.tier[0],
            reject: scored.rejects.into_iter().next(),
            weighted_sum,
        }
    }
}

/// The value a rule saw for `name`: an input column or an earlier factor (null if neither).
fn input_value(
    row: &RecordBatch,
    steps: &[super::FactorStep],
    factor_columns: &[ArrayRef],
    name: &str,
) -> ArrayRef {
    let column = row.column_by_name(name).or_else(|| {
        steps
            .iter()
            .position(|s| s.name() == name)
            .and_then(|i| factor_columns.get(i))
    });
    column.map_or_else(|| new_null_array(&DataType::Null, 1), |c| c.slice(0, 1))
}
