//! The pipeline file exactly as written: serde structures for YAML version 1.
//!
//! Every struct denies unknown keys so a typo is an error, not a silently ignored setting.
//! Validation and path resolution happen in [`super::Pipeline::from_spec`].

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The whole pipeline file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    pub version: u32,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub input: InputSpec,
    #[serde(default)]
    pub params: IndexMap<String, serde_yaml::Value>,
    #[serde(default)]
    pub derive: Vec<DeriveSpec>,
    pub factors: Vec<FactorSpec>,
    #[serde(default)]
    pub score: ScoreSpec,
    pub tiers: TiersSpec,
    pub output: OutputSpec,
    #[serde(default)]
    pub errors: ErrorsSpec,
    #[serde(default)]
    pub limits: LimitsSpec,
    #[serde(default)]
    pub tests: Vec<TestCaseSpec>,
    /// `report:` — what the run's HTML report shows.
    #[serde(default)]
    pub report: ReportSpec,
}

/// One rule test case: an input row and what the pipeline must make of it.
///
/// Columns the row leaves out are null. `expect` may name factors (a number, or
/// `{ value, tolerance }`), `score`, `tier`, `reasons` (the exact list) and `error` (a text the
/// row's reject message must contain).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCaseSpec {
    pub name: String,
    #[serde(default)]
    pub row: IndexMap<String, serde_yaml::Value>,
    pub expect: IndexMap<String, serde_yaml::Value>,
    /// Largest accepted difference for numbers in `expect` (default 1e-6).
    #[serde(default)]
    pub tolerance: Option<f64>,
}

/// A file of test cases kept beside a pipeline (`NAME.tests.yaml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFileSpec {
    /// Columns every case's row starts from; a case's `row` overrides them.
    #[serde(default)]
    pub base_row: IndexMap<String, serde_yaml::Value>,
    pub tests: Vec<TestCaseSpec>,
}

/// `input:` — where the customers come from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub path: String,
    pub id: String,
    #[serde(default)]
    pub rename: IndexMap<String, String>,
    #[serde(default)]
    pub unique_ids: Option<bool>,
}

/// One entry of `derive:` — a column computed over the whole input before factors run.
/// Exactly one of the kinds names the input column it is computed from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveSpec {
    pub name: String,
    #[serde(default)]
    pub ntile: Option<String>,
    #[serde(default)]
    pub buckets: Option<u32>,
    #[serde(default)]
    pub order: Option<SortOrder>,
    #[serde(default)]
    pub percent_rank: Option<String>,
    #[serde(default)]
    pub rank: Option<String>,
    #[serde(default)]
    pub zscore: Option<String>,
    #[serde(default)]
    pub minmax: Option<String>,
    #[serde(default)]
    pub cumulative_share: Option<String>,
}

/// Sort order of ranking derives (`order:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// One entry of `factors:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorSpec {
    pub name: String,
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default)]
    pub expr: Option<String>,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default)]
    pub description: Option<String>,
}

/// `score:` — how factor values combine into one score.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreSpec {
    #[serde(default)]
    pub combine: Option<CombineKind>,
    #[serde(default)]
    pub script: Option<String>,
    /// Put every factor on a common scale over the population before weighting.
    #[serde(default)]
    pub normalize: Option<Normalize>,
    #[serde(default)]
    pub weights: Option<WeightsSpec>,
}

/// How the pipeline file spells a choice (its serde name), so the code never spells it twice.
pub fn yaml_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `score.normalize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// Factor values as the rules give them.
    #[default]
    None,
    /// (x − min) / (max − min) over the population.
    Minmax,
    /// (x − mean) / population standard deviation.
    Zscore,
    /// PERCENT_RANK over the population, ascending.
    PercentRank,
}

/// `score.weights`: weights derived rather than written on each factor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsSpec {
    /// A reciprocal pairwise comparison matrix over the factors, in factor order (Saaty's 1-9
    /// scale; cells are numbers or fractions such as "1/3").
    pub ahp: Vec<Vec<serde_yaml::Value>>,
}

/// The built-in combinations (`score.combine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CombineKind {
    WeightedSum,
}

/// `tiers:` — how a score maps to a tier.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TiersSpec {
    #[serde(default)]
    pub by: Option<TierBy>,
    /// With `by: cumulative_share`: the column whose share counts (default: the score).
    #[serde(default)]
    pub of: Option<String>,
    /// A script returning the tier's name (segment maps such as RFM's).
    #[serde(default)]
    pub script: Option<String>,
    pub levels: Vec<LevelSpec>,
}

/// What tiers are assigned by (`tiers.by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierBy {
    /// Thresholds on the score (`min`).
    Score,
    /// Position in the score ranking (`top`: a share of the customers).
    Rank,
    /// ABC / Pareto: cumulative share of the total (`upto`).
    CumulativeShare,
}

/// One tier level; the last one has no bound and catches everything else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelSpec {
    pub name: String,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub top: Option<f64>,
    #[serde(default)]
    pub upto: Option<f64>,
}

/// `output:` — where and how tiered Parquet is written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub path: String,
    #[serde(default)]
    pub partition_by: Option<PartitionBy>,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub reasons: bool,
    /// Whether to write `_report.html` (default: true).
    #[serde(default)]
    pub report: Option<bool>,
    /// The codec of every file written (default: zstd).
    #[serde(default)]
    pub compression: Option<OutputCompression>,
}

/// `report:` — what the run's HTML report shows.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// The value column the tiers' value share and the whale curve are of: a factor, `score`
    /// or a numeric `output.columns` column (default: the score).
    #[serde(default)]
    pub value: Option<String>,
}

/// Output layout (`output.partition_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionBy {
    /// One `tier=NAME/` directory per tier (hive style).
    Tier,
    /// One file holding every tier, with a `tier` column.
    None,
}

/// The codec of the output's Parquet files (`output.compression`). zstd is the default: the
/// smallest files for about the time of the others. The rest are there for readers that lack
/// zstd (older Hive and Impala read snappy) and for runs that trade size for time: snappy and
/// lz4 took 0.93x and 0.91x the wall of zstd on the shipped pipeline at 10M rows, for files 21%
/// and 20% larger (BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputCompression {
    /// zstd at level 1.
    Zstd,
    /// Snappy.
    Snappy,
    /// LZ4 as the format's `LZ4_RAW` (the older Hadoop-framed `LZ4` is deprecated).
    Lz4,
    /// No compression.
    None,
}

/// `errors:` — what a failing row does to the run.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsSpec {
    #[serde(default)]
    pub on_row_error: Option<OnRowError>,
    #[serde(default)]
    pub max_reject_fraction: Option<f64>,
}

/// `errors.on_row_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRowError {
    /// The row goes to `_rejects.parquet` and the run goes on.
    Reject,
    /// The first failing row fails the run.
    Fail,
}

/// `limits:` — the sandbox's bounds for one script on one row.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    #[serde(default)]
    pub max_operations: Option<u64>,
    #[serde(default)]
    pub max_call_depth: Option<usize>,
    #[serde(default)]
    pub max_string_size: Option<usize>,
    #[serde(default)]
    pub max_array_size: Option<usize>,
    #[serde(default)]
    pub max_map_size: Option<usize>,
    #[serde(default)]
    pub max_row_ms: Option<u64>,
    #[serde(default)]
    pub max_row_memory: Option<u64>,
}
