//! `score.weights.ahp`: factor weights from a pairwise comparison matrix, checked for
//! consistency when the pipeline loads.

use serde_yaml::Value;

use super::ahp::{self, Ahp, Entry};
use super::{Checker, Factor};
use crate::diagnostic::codes;

impl Checker<'_> {
    /// Computes AHP weights over `factors` (in their order) and sets each factor's weight.
    /// A matrix of the wrong size, a malformed cell or a consistency ratio of 0.10 or more is
    /// an error with the figures; factors must not also carry a `weight`.
    pub(super) fn ahp_weights(
        &mut self,
        rows: &[Vec<Value>],
        factors: &mut [Factor],
    ) -> Option<Ahp> {
        let key = "score.weights.ahp";
        if let Some(weighted) = factors.iter().find(|f| f.weight.is_some()) {
            self.error(
                codes::pipeline::AHP,
                key,
                format!(
                    "factor `{}` has a weight, but the weights come from the AHP matrix",
                    weighted.name
                ),
                "remove `weight:` from the factors, or remove score.weights",
            );
            return None;
        }
        if rows.len() != factors.len() {
            self.error(
                codes::pipeline::AHP,
                key,
                format!(
                    "the AHP matrix has {} rows but the pipeline has {} factors",
                    rows.len(),
                    factors.len()
                ),
                "one row and one column per factor, in the order the factors are listed",
            );
            return None;
        }
        let entries: Vec<Vec<Entry>> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|cell| match cell {
                        Value::Number(n) => Entry::Number(n.as_f64().unwrap_or(f64::NAN)),
                        Value::String(text) => Entry::Text(text.clone()),
                        other => Entry::Text(
                            serde_yaml::to_string(other)
                                .unwrap_or_default()
                                .trim()
                                .to_string(),
                        ),
                    })
                    .collect()
            })
            .collect();
        let result = ahp::matrix_from_entries(&entries).and_then(|matrix| ahp::weights(&matrix));
        match result {
            Ok(figures) => {
                for (factor, weight) in factors.iter_mut().zip(&figures.weights) {
                    factor.weight = Some(*weight);
                }
                Some(figures)
            }
            Err(err) => {
                self.error(
                    codes::pipeline::AHP,
                    key,
                    err.to_string(),
                    "rows and columns follow the order of `factors`; a_ij says how much more factor i matters than j (1-9), and a_ji = 1/a_ij",
                );
                None
            }
        }
    }
}
