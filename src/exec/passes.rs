//! The passes over the whole input that come before scoring: population columns (`derive:`)
//! and the whole-run step (normalised factors, rank and ABC tiers).

use std::time::Instant;

use arrow::array::RecordBatch;

use super::ExecError;
use crate::derive::Population;
use crate::pipeline::Pipeline;
use crate::plan::Plan;
use crate::score::Given;
use crate::source::Scan;
use crate::whole_run::WholeRun;

/// What the passes before scoring computed over every row the run reads.
#[derive(Debug)]
pub struct Passes {
    /// The derive columns, by position in the run.
    pub population: Population,
    /// Normalised factors and rank or ABC tiers, by position in the run.
    pub whole: WholeRun,
    /// Seconds the derive pass took.
    pub derive_seconds: f64,
    /// Seconds the whole-run pass took.
    pub rank_seconds: f64,
}

impl Passes {
    /// Runs the passes `pipeline` needs over `scan`; `allowed` is the most rejects the run may
    /// have (more stops the whole-run pass early).
    pub fn compute(
        pipeline: &Pipeline,
        plan: &Plan,
        scan: &Scan<'_>,
        allowed: u64,
    ) -> Result<Self, ExecError> {
        let deriving = Instant::now();
        let population = Population::compute(&pipeline.derive, scan)?;
        let derive_seconds = deriving.elapsed().as_secs_f64();
        let ranking = Instant::now();
        let whole = if WholeRun::needed(pipeline) {
            WholeRun::compute(plan, pipeline, scan, &population, allowed)?
        } else {
            WholeRun::default()
        };
        Ok(Self {
            population,
            whole,
            derive_seconds,
            rank_seconds: ranking.elapsed().as_secs_f64(),
        })
    }

    /// The batch of input rows at `position` in the run with its derive columns attached, and
    /// what the whole-run step gave its rows: what the scorer takes.
    pub fn prepare(
        &self,
        batch: &RecordBatch,
        position: usize,
    ) -> Result<(RecordBatch, Given<'_>), ExecError> {
        let rows = self
            .population
            .attach(batch, position)
            .map_err(ExecError::DeriveAttach)?;
        let given = self.whole.given(position, rows.num_rows());
        Ok((rows, given))
    }
}
