//! The passes over the whole input that come before scoring: population columns (`derive:`)
//! and the whole-run step (normalised factors, rank and ABC tiers).

use std::time::Instant;

use arrow::array::RecordBatch;
use indicatif::ProgressBar;
use rayon::ThreadPool;

use super::ranking::Ranking;
use super::{ExecError, RejectBudget};
use crate::derive::Population;
use crate::pipeline::Pipeline;
use crate::plan::Plan;
use crate::score::Ranked;
use crate::source::Scan;

/// What the passes before scoring computed over every row the run reads.
#[derive(Debug)]
pub struct Passes {
    /// The derive columns, by position in the run.
    pub population: Population,
    /// Normalised factors and rank or ABC tiers, by position in the run.
    pub ranking: Ranking,
    /// Seconds the derive pass took.
    pub derive_seconds: f64,
    /// Seconds the whole-run pass took.
    pub rank_seconds: f64,
}

impl Passes {
    /// The passes over the input a run of `pipeline` makes, the scoring pass included, by
    /// name: `derive`, `rank` (when needed), `score`.
    pub fn names(pipeline: &Pipeline) -> Vec<&'static str> {
        let mut names = Vec::with_capacity(3);
        if !pipeline.derive.is_empty() {
            names.push("derive");
        }
        if Ranking::needed(pipeline) {
            names.push("rank");
        }
        names.push("score");
        names
    }

    /// Runs the passes `pipeline` needs over `scan` on the workers of `pool`; the ranking pass
    /// stops early once its rejects pass `budget`. `progress` advances over every pass, its
    /// prefix naming the pass.
    pub fn compute(
        pipeline: &Pipeline,
        plan: &Plan,
        scan: &Scan<'_>,
        budget: &RejectBudget,
        progress: &ProgressBar,
        pool: &ThreadPool,
    ) -> Result<Self, ExecError> {
        let names = Self::names(pipeline);
        let label = |name: &str| {
            let at = names.iter().position(|n| *n == name).unwrap_or(0) + 1;
            progress.set_prefix(format!("pass {at}/{} {name}", names.len()));
        };
        let deriving = Instant::now();
        if !pipeline.derive.is_empty() {
            label("derive");
        }
        let population = pool.install(|| Population::compute(&pipeline.derive, scan, progress))?;
        let derive_seconds = deriving.elapsed().as_secs_f64();
        let ranking_started = Instant::now();
        let ranking = if Ranking::needed(pipeline) {
            label("rank");
            Ranking::compute(plan, pipeline, scan, &population, budget, progress, pool)?
        } else {
            Ranking::default()
        };
        let rank_seconds = ranking_started.elapsed().as_secs_f64();
        label("score");
        Ok(Self {
            population,
            ranking,
            derive_seconds,
            rank_seconds,
        })
    }

    /// The batch of input rows at `position` in the run with its derive columns attached, and
    /// what the whole-run step gave its rows: what the scorer takes.
    pub fn prepare(
        &self,
        batch: &RecordBatch,
        position: usize,
    ) -> Result<(RecordBatch, Ranked<'_>), ExecError> {
        let rows = self
            .population
            .attach(batch, position)
            .map_err(ExecError::DeriveAttach)?;
        let ranked = self.ranking.for_rows(position, rows.num_rows());
        Ok((rows, ranked))
    }
}
