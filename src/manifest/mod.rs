//! `_manifest.json`: what a run read, with which rules and params, and what it wrote.
//!
//! Schedulers and data teams read it for lineage and for the figures (rows, tiers, score and
//! factor statistics, time per phase) without opening the Parquet files. `schema_version`
//! changes whenever a field changes meaning or goes away.

use std::path::Path;

use serde::Serialize;

use super::writer::WrittenFile;
use super::SinkError;
use crate::derive::DeriveSummary;
use crate::pipeline::ahp::Ahp;
use crate::tiers::{GlobalCutoffs, Level};
use crate::whole_run::Normalization;

/// The manifest's schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// The manifest of one committed run.
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub tool: &'static str,
    pub tool_version: &'static str,
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub pipeline: PipelineInfo,
    pub scripts: Vec<FileHash>,
    /// Each rule and the engine that ran it.
    pub rules: Vec<RuleSummary>,
    /// sha256 over the pipeline file and every script, in order.
    pub rules_sha256: String,
    /// Params after `--set` overrides.
    pub params: serde_json::Value,
    pub inputs: Vec<InputInfo>,
    /// `--limit`, when the run read only the first rows.
    pub limit: Option<u64>,
    /// `--sample`, when the run scored a sample of the rows.
    pub sample: Option<SampleInfo>,
    pub threads: usize,
    pub rows: RowCounts,
    pub score: Summary,
    pub tiers: Vec<TierSummary>,
    pub factors: Vec<FactorSummary>,
    /// The population statistics and cut-offs each derive column used.
    pub derive: Vec<DeriveSummary>,
    /// Rank and ABC tiers: what each level holds and where it ends.
    pub tier_cutoffs: Option<GlobalCutoffs>,
    /// `score.normalize`: what each factor was normalised with.
    pub normalization: Vec<Normalization>,
    /// `score.weights.ahp`: the figures behind the factors' weights.
    pub ahp: Option<AhpFigures>,
    pub output: OutputInfo,
    pub phases_seconds: Phases,
}

/// A rule (factor, score script, tier script) and the engine that ran it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleSummary {
    pub name: String,
    /// `compiled` or `interpreted`.
    pub engine: &'static str,
    /// Why the interpreter ran it: the construct the compiler does not take, and where.
    pub because: Option<String>,
    /// Rows the compiled rule handed to the interpreter (they failed, or took a path not
    /// compiled); 0 for an interpreted rule.
    pub rows_interpreted: u64,
}

/// The pipeline file.
#[derive(Debug, Serialize)]
pub struct PipelineInfo {
    pub path: String,
    pub name: String,
    pub sha256: String,
}

/// A script file and its hash.
#[derive(Debug, Clone, Serialize)]
pub struct FileHash {
    pub path: String,
    pub sha256: String,
}

/// An input file.
#[derive(Debug, Serialize)]
pub struct InputInfo {
    pub path: String,
    pub bytes: u64,
    pub rows: u64,
}

/// The sample a run scored (`--sample`, `--seed`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SampleInfo {
    pub fraction: f64,
    pub seed: u64,
}

/// The consistency figures of AHP weights.
#[derive(Debug, Clone, Serialize)]
pub struct AhpFigures {
    pub weights: Vec<f64>,
    pub lambda_max: f64,
    pub ci: f64,
    pub ri: f64,
    pub cr: f64,
}

impl From<&Ahp> for AhpFigures {
    fn from(ahp: &Ahp) -> Self {
        Self {
            weights: ahp.weights.clone(),
            lambda_max: ahp.lambda_max,
            ci: ahp.ci,
            ri: ahp.ri,
            cr: ahp.cr,
        }
    }
}

/// Rows in = scored + rejected, checked before commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    pub input: u64,
    pub scored: u64,
    pub rejected: u64,
}

/// Count, min, max and mean of a set of values.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    #[serde(skip)]
    sum: f64,
}

impl Summary {
    /// Adds one value (in input order, so the result is the same whatever the thread count).
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = Some(self.min.map_or(value, |m| m.min(value)));
        self.max = Some(self.max.map_or(value, |m| m.max(value)));
        self.mean = Some(self.sum / self.count as f64);
    }
}

/// One tier: its rule and what fell in it.
#[derive(Debug, Clone, Serialize)]
pub struct TierSummary {
    #[serde(flatten)]
    pub level: Level,
    pub count: u64,
    pub score: Summary,
}

/// One factor: its weight and the spread of its values over scored rows.
#[derive(Debug, Clone, Serialize)]
pub struct FactorSummary {
    pub name: String,
    pub weight: Option<f64>,
    #[serde(flatten)]
    pub values: Summary,
}

/// What was written, relative to the output directory.
#[derive(Debug, Serialize)]
pub struct OutputInfo {
    /// The customer id column (first of `columns`).
    pub id: String,
    pub partition_by: &'static str,
    pub columns: Vec<String>,
    pub files: Vec<WrittenFile>,
    pub rejects_file: &'static str,
}

/// Wall time of each phase of the run.
#[derive(Debug, Default, Serialize)]
pub struct Phases {
    pub plan: f64,
    /// The first pass over the input for derive columns (0 without derives).
    pub derive: f64,
    /// The pass that scores every row to rank it, for rank and ABC tiers (0 otherwise).
    pub rank: f64,
    pub score_and_write: f64,
    /// Closing the files, checking every row is accounted for and writing the manifest (the
    /// swap into place follows and is not timed).
    pub finish: f64,
}

impl Manifest {
    /// Writes `_manifest.json` into the staging directory.
    pub fn write(&self, dir: &Path) -> Result<(), SinkError> {
        let path = dir.join("_manifest.json");
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| SinkError::io("encode", &path, std::io::Error::other(e.to_string())))?;
        std::fs::write(&path, text + "\n").map_err(|e| SinkError::io("write", &path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_tracks_count_min_max_mean() {
        let mut s = Summary::default();
        assert_eq!(
            serde_json::to_value(&s).unwrap()["mean"],
            serde_json::Value::Null
        );
        for v in [3.0, -1.0, 4.0] {
            s.add(v);
        }
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"count": 3, "min": -1.0, "max": 4.0, "mean": 2.0})
        );
    }
}
