//! The output's file format: `_manifest.json`, what a run read, with which rules and params,
//! and what it wrote — written by `run` and read by `diff` and by the commit (which replaces
//! only an output it can read as tierscore's) through this one module.
//!
//! Schedulers and data teams read it for lineage and for the figures (rows, tiers, score and
//! factor statistics, time per phase) without opening the Parquet files. `schema_version`
//! changes whenever a field changes meaning or goes away. The types here are plain data of
//! their own: the stages fill them in, and nothing here knows the stages.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rules::coverage::RuleCoverage;

/// The manifest's schema version. 2: the scored rows moved into [`DATA_DIR`] and the rejects
/// into [`REJECTS_DIR`], so a `**/*.parquet` glob over the data meets nothing else.
pub const SCHEMA_VERSION: u32 = 2;

/// The manifest's file name in an output directory.
pub const MANIFEST_FILE: &str = "_manifest.json";

/// The folder of an output directory that holds the scored rows, and nothing else: the dataset
/// readers open (`scored/**/*.parquet`, hive-partitioned by `tier`).
pub const DATA_DIR: &str = "scored";

/// The folder of an output directory that holds the rejected rows, a dataset of its own.
pub const REJECTS_DIR: &str = "rejects";

/// The rejected rows' file, relative to the output directory.
pub const REJECTS_FILE: &str = "rejects/part-00000.parquet";

/// The run's HTML report's file name in an output directory.
pub const REPORT_FILE: &str = "_report.html";

/// The name `report` writes a page under before renaming it to [`REPORT_FILE`]: one of a
/// process that was killed or failed stays behind, and is tierscore's own to remove.
pub fn partial_report_file(process: u32) -> String {
    format!(".{REPORT_FILE}.{process}.partial")
}

/// Whether `name` (a file name in an output directory) is a page [`partial_report_file`] named.
pub fn is_partial_report_file(name: &str) -> bool {
    name.strip_prefix(&format!(".{REPORT_FILE}."))
        .and_then(|rest| rest.strip_suffix(".partial"))
        .is_some_and(|process| !process.is_empty() && process.bytes().all(|b| b.is_ascii_digit()))
}

/// The marker written last into a committed output.
pub const SUCCESS_FILE: &str = "_SUCCESS";

/// Whether `path`, as a manifest lists a file, names a place inside the output: relative, of
/// plain names only (no `..`, `.` or root). Commands reading an output back (`diff`, `report`)
/// read nothing else, however the manifest was edited.
pub fn is_inside_output(path: &str) -> bool {
    let path = std::path::Path::new(path);
    path.components().next().is_some()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// The manifest of one committed run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    /// Always `tierscore`.
    pub tool: String,
    pub tool_version: String,
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
    /// The params `--set` gave, in the order given.
    #[serde(default)]
    pub params_from_set: Vec<String>,
    pub inputs: Vec<InputInfo>,
    /// sha256 over every input file's size and footer hash, in order: equal fingerprints, the
    /// same input.
    #[serde(default)]
    pub input_fingerprint: String,
    /// `--limit`, when the run read only the first rows.
    pub limit: Option<u64>,
    /// `--sample`, when the run scored a sample of the rows.
    pub sample: Option<SampleInfo>,
    pub threads: usize,
    pub rows: RowCounts,
    /// Rejected rows counted by step and code, sorted by both.
    #[serde(default)]
    pub rejects_by: Vec<RejectCount>,
    pub score: Summary,
    /// Percentiles of the score over the scored rows (none when no row was scored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_quantiles: Option<ScoreQuantiles>,
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
    /// The HTML report: whether it was written, and the value column it shows.
    #[serde(default)]
    pub report: ReportInfo,
    /// `run --coverage`: each rule's branches and the rows that took each (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Vec<RuleCoverage>>,
    pub phases_seconds: Phases,
}

/// The run's HTML report (`output.report`, `report.value`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportInfo {
    /// `_report.html` when the run wrote it; `None` with `output.report: false`.
    pub file: Option<String>,
    /// The column the tiers' value share and the whale curve are of; `None`: the score.
    pub value: Option<String>,
}

/// A rule (factor, score script, tier script) and the engine that ran it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleSummary {
    pub name: String,
    /// `compiled` or `interpreted`.
    pub engine: String,
    /// Why the interpreter ran it: the construct the compiler does not take, and where.
    pub because: Option<String>,
    /// Rows the compiled rule handed to the interpreter (they failed, or took a path not
    /// compiled), in every pass; 0 for an interpreted rule.
    pub rows_interpreted: u64,
}

/// The pipeline file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineInfo {
    /// As given on the command line.
    pub path: String,
    /// The same, absolute.
    #[serde(default)]
    pub absolute_path: String,
    pub name: String,
    pub sha256: String,
}

/// A script file and its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileHash {
    pub path: String,
    pub sha256: String,
}

/// An input file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputInfo {
    /// As resolved from `input.path` (or `--input`), relative paths staying relative.
    pub path: String,
    /// The same, absolute.
    #[serde(default)]
    pub absolute_path: String,
    pub bytes: u64,
    pub rows: u64,
    /// sha256 of the file's size and Parquet footer: changes when the file does (in practice),
    /// without reading its data.
    #[serde(default)]
    pub footer_sha256: String,
}

/// How many rows one step rejected with one code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectCount {
    /// The step (`factor` column of the rejects): a factor, `id`, `score` or `tier`.
    pub step: String,
    pub code: String,
    pub count: u64,
}

/// The sample a run scored (`--sample`, `--seed`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SampleInfo {
    pub fraction: f64,
    pub seed: u64,
}

/// The consistency figures of AHP weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AhpFigures {
    pub weights: Vec<f64>,
    pub lambda_max: f64,
    pub ci: f64,
    pub ri: f64,
    pub cr: f64,
}

/// Rows in = scored + rejected, checked before commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    pub input: u64,
    pub scored: u64,
    pub rejected: u64,
}

/// Count, min, max and mean of a set of values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    #[serde(skip)]
    sum: f64,
}

impl Summary {
    /// Adds `values` in order (input order, so the result is the same whatever the thread
    /// count). The mean is divided out once, after the last: the same as after each.
    pub fn add_all(&mut self, values: impl IntoIterator<Item = f64>) {
        let before = self.count;
        for value in values {
            self.push(value);
        }
        self.settle_mean(before);
    }

    /// Adds each `(group, value)` to `summaries[group]`, in order: the same as
    /// [`Summary::add_all`] on each group's values, in one pass.
    pub fn add_grouped(summaries: &mut [Summary], values: impl IntoIterator<Item = (usize, f64)>) {
        let before: Vec<u64> = summaries.iter().map(|s| s.count).collect();
        for (group, value) in values {
            summaries[group].push(value);
        }
        for (summary, before) in summaries.iter_mut().zip(before) {
            summary.settle_mean(before);
        }
    }

    /// Counts `value`, leaving the mean as it was.
    fn push(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = Some(self.min.map_or(value, |m| m.min(value)));
        self.max = Some(self.max.map_or(value, |m| m.max(value)));
    }

    /// The mean, once values were pushed since the count was `before`.
    fn settle_mean(&mut self, before: u64) {
        if self.count > before {
            self.mean = Some(self.sum / self.count as f64);
        }
    }
}

/// The score's spread over the scored rows. `pNN` is the NNth percentile by nearest rank: the
/// score at 1-based rank ⌈NN × n / 100⌉ of the scores sorted ascending (n scored rows), that
/// is the lowest score with at least NN% of the scores at or below it; always one of the
/// scores, never interpolated. `mean` is the exact sum of the scores, rounded once, divided by
/// n.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreQuantiles {
    pub p01: f64,
    pub p05: f64,
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// One tier: its level as the pipeline defines it, and what fell in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TierSummary {
    pub name: String,
    /// Score threshold (`by: score`); absent on the catch-all level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Share of customers from the top (`by: rank`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<f64>,
    /// Cumulative share of the total (`by: cumulative_share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upto: Option<f64>,
    pub count: u64,
    pub score: Summary,
}

/// One factor: its weight and the spread of its values over scored rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactorSummary {
    pub name: String,
    pub weight: Option<f64>,
    #[serde(flatten)]
    pub values: Summary,
}

/// What a derive used: enough to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeriveSummary {
    pub name: String,
    /// The derive's kind, as the pipeline spells it (`ntile`, `zscore` …).
    pub kind: String,
    pub column: String,
    /// Non-null values it was computed over.
    pub count: u64,
    #[serde(flatten)]
    pub spread: Spread,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// For ntile: per bucket (1..), its count and the lowest and highest value in it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<Bucket>,
}

/// The population figures a scaling used (mean and std for z-scores, min and max for min-max),
/// shown only when used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// One ntile bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub bucket: u32,
    pub count: u64,
    pub min: f64,
    pub max: f64,
}

/// How one factor was normalised over the run: enough to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub factor: String,
    /// `minmax`, `zscore` or `percent_rank`.
    pub method: String,
    pub count: u64,
    #[serde(flatten)]
    pub spread: Spread,
}

/// What a rank or ABC assignment used: per level its count and the highest and lowest value
/// (score, or the `of` column) in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalCutoffs {
    /// Rows ranked (every scored row).
    pub population: u64,
    /// The total the shares are of (`by: cumulative_share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    pub levels: Vec<LevelCutoff>,
}

/// One level of [`GlobalCutoffs`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelCutoff {
    pub name: String,
    pub count: u64,
    pub highest: Option<f64>,
    pub lowest: Option<f64>,
}

/// What was written, relative to the output directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputInfo {
    /// The customer id column (first of `columns`).
    pub id: String,
    /// `tier` or `none`.
    pub partition_by: String,
    pub columns: Vec<String>,
    pub files: Vec<WrittenFile>,
    /// The folder holding the scored rows (`scored`); empty in schema version 1, whose files
    /// sat at the top of the output.
    #[serde(default)]
    pub data_dir: String,
    pub rejects_file: String,
    /// The rejects file with its rows, size and hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejects: Option<WrittenFile>,
    /// The output directory as given (`output.path` or `--output`).
    #[serde(default)]
    pub path: String,
    /// The same, absolute.
    #[serde(default)]
    pub absolute_path: String,
}

/// A Parquet file the run wrote, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrittenFile {
    pub path: String,
    pub tier: Option<String>,
    pub rows: u64,
    /// The file's size (absent in manifests before schema version 2).
    #[serde(default)]
    pub bytes: u64,
    /// The sha256 of the file's bytes, hex.
    #[serde(default)]
    pub sha256: String,
}

/// Wall time of each phase of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Phases {
    pub plan: f64,
    /// The first pass over the input for derive columns (0 without derives).
    pub derive: f64,
    /// The pass that scores every row to rank it, for rank and ABC tiers (0 otherwise).
    pub rank: f64,
    /// Scoring and writing every row (on a distributed run's driver: taking the executors'
    /// scored batches and writing them), up to the files closed and synced.
    pub score_and_write: f64,
    /// What is left of the report's figures once the rows are written (0 without a report):
    /// ranking the whale curve's values, done beside the manifest's work (so it overlaps
    /// `finish`), and the tables.
    #[serde(default)]
    pub report: f64,
    /// Checking every row is accounted for (and with `input.unique_ids` that every id is
    /// unique), the score quantiles and the rest of the manifest's figures. Writing the
    /// manifest, the report page and `_SUCCESS`, and the swap into place, follow and are not
    /// timed.
    pub finish: f64,
}

/// Why a directory's manifest could not be read as tierscore's.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// There is no manifest, or it cannot be read at all.
    #[error("it has no {MANIFEST_FILE}")]
    Missing,
    /// The manifest is not JSON, or not written by tierscore.
    #[error("its {MANIFEST_FILE} {0}")]
    NotOurs(&'static str),
    /// The manifest is tierscore's but this version cannot understand it.
    #[error("{MANIFEST_FILE} {0}")]
    Unreadable(String),
    /// Reading failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ManifestError {
    /// Whether the directory is tierscore's (its manifest says so) though this version cannot
    /// read it.
    pub fn is_ours(&self) -> bool {
        matches!(self, ManifestError::Unreadable(_))
    }
}

impl Manifest {
    /// Writes `_manifest.json` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(MANIFEST_FILE), text + "\n")
    }

    /// Reads the manifest of the output in `dir`: written by tierscore, complete, and of a
    /// schema version this tierscore reads.
    pub fn read(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = match crate::local_file::read_text(&path, crate::local_file::MAX_MANIFEST_BYTES)
        {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ManifestError::Missing)
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(ManifestError::NotOurs("is not JSON"))
            }
            Err(source) => return Err(ManifestError::Io { path, source }),
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| ManifestError::NotOurs("is not JSON"))?;
        if value["tool"] != "tierscore" {
            return Err(ManifestError::NotOurs("was not written by tierscore"));
        }
        let manifest: Manifest = serde_json::from_value(value)
            .map_err(|e| ManifestError::Unreadable(format!("is incomplete: {e}")))?;
        if manifest.schema_version > SCHEMA_VERSION {
            return Err(ManifestError::Unreadable(format!(
                "has schema_version {}; this tierscore reads up to {SCHEMA_VERSION}",
                manifest.schema_version
            )));
        }
        // `diff` and `report` hold figures a tier (a square of them, in diff's table): an
        // edited manifest listing 6,000 tiers took 2.5 GB. A pipeline may have 256.
        let most = crate::pipeline::MAX_TIER_LEVELS;
        if manifest.tiers.len() > most {
            return Err(ManifestError::Unreadable(format!(
                "lists {} tiers, more than the {most} a pipeline may have",
                manifest.tiers.len()
            )));
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_tracks_count_min_max_mean() {
        let mut s = Summary::default();
        s.add_all([]);
        assert_eq!(
            serde_json::to_value(&s).unwrap()["mean"],
            serde_json::Value::Null
        );
        s.add_all([3.0, -1.0]);
        s.add_all([]);
        s.add_all([4.0]);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"count": 3, "min": -1.0, "max": 4.0, "mean": 2.0})
        );
    }

    /// Values added by group come out as each group's values added in order; a group that
    /// got none keeps no mean.
    #[test]
    fn grouped_summaries_equal_each_group_added_alone() {
        let values = [(1, 0.1), (0, 5.0), (1, 0.2), (1, f64::NAN), (1, 0.7)];
        let mut grouped = vec![Summary::default(); 3];
        Summary::add_grouped(&mut grouped, values);
        let mut alone = vec![Summary::default(); 3];
        for (group, summary) in alone.iter_mut().enumerate() {
            summary.add_all(values.iter().filter(|(g, _)| *g == group).map(|&(_, v)| v));
        }
        let json = |s: &[Summary]| serde_json::to_string(s).unwrap();
        assert_eq!(json(&grouped), json(&alone));
        assert_eq!(grouped[0].mean, Some(5.0));
        assert_eq!((grouped[1].min, grouped[1].max), (Some(0.1), Some(0.7)));
        assert!(grouped[1].mean.unwrap().is_nan());
        assert_eq!(grouped[2].mean, None);
    }
}
