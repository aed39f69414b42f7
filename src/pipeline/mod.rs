//! Stage 1 of the data path: a pipeline YAML file, read and validated into a [`Pipeline`].
//!
//! Everything that can be checked without the data is checked here, and every problem is
//! reported at once with its position in the file. Paths in the file are relative to it.

pub mod ahp;
mod derive_section;
mod locate;
pub mod params;
pub mod path_params;
pub mod spec;
mod tiers_section;
mod weights;

use std::path::{Component, Path, PathBuf};

use miette::SourceSpan;

use crate::diagnostic::codes;
use crate::diagnostic::suggest;
use crate::diagnostic::{FileProblem, Problems, SourceFile};
use crate::human;
pub use derive_section::{Derive, DeriveKind};

/// Factors a pipeline may have: each sees every factor before it, so checking a pipeline takes
/// time with the square of their number. Real pipelines have a handful.
pub const MAX_FACTORS: usize = 1_000;
pub use locate::{too_deep, KeyIndex, MAX_DEPTH};
pub use params::Params;
pub use spec::{yaml_name, Normalize, OnRowError, OutputCompression, PartitionBy};
pub use tiers_section::{TierLevel, TierRule, Tiers, MAX_TIER_LEVELS};

/// Names tierscore gives columns of its own (output columns, the `params` a script reads): no
/// factor, derive or input column may take them.
pub const RESERVED_NAMES: [&str; 5] = ["score", "tier", "tier_rank", "reasons", "params"];

/// The columns tierscore writes into an output (`tier` as the `tier=NAME` folder when
/// partitioned by tier). DuckDB and Spark match column names ignoring case, so another output
/// column named like one of these in any case (`TIER`) reads as it, or beside it.
const WRITTEN_COLUMNS: [&str; 4] = ["score", "tier", "tier_rank", "reasons"];

/// The column tierscore writes that an output column `name` would clash with in a reader that
/// ignores case: `Some("tier")` for `TIER` or `Tier`, and for `tier` itself.
pub fn written_column_like(name: &str) -> Option<&'static str> {
    WRITTEN_COLUMNS
        .into_iter()
        .find(|written| written.eq_ignore_ascii_case(name))
}

/// The message for an output column `name` that differs from `other` (a column tierscore
/// writes, a factor or another output column) only in case; `what` says which column
/// (`output column`, `factor name`, …).
pub fn case_clash(what: &str, name: &str, other: &str) -> String {
    let other = match written_column_like(other) {
        Some(written) if written == other => format!("`{other}`, a column tierscore writes"),
        _ => format!("the output column `{other}`"),
    };
    format!(
        "{what} `{name}` clashes with {other}: DuckDB and Spark match column names ignoring case"
    )
}

/// A validated pipeline with every path resolved against the YAML file's folder.
#[derive(Debug)]
pub struct Pipeline {
    /// The YAML file as the user named it.
    pub path: PathBuf,
    /// Its text, for diagnostics and the manifest's hash.
    pub source: SourceFile,
    pub name: String,
    pub description: Option<String>,
    pub input: Input,
    pub params: Params,
    /// Population-wide columns computed before factors run.
    pub derive: Vec<Derive>,
    pub factors: Vec<Factor>,
    pub score: Combine,
    /// How factors are put on a common scale before weighting.
    pub normalize: Normalize,
    /// The AHP figures when weights come from a pairwise matrix (each factor's weight is set
    /// from it).
    pub ahp: Option<ahp::Ahp>,
    pub tiers: Tiers,
    pub output: Output,
    pub errors: ErrorPolicy,
    pub limits: Limits,
    /// Rule test cases written in the pipeline file (`tests:`).
    pub tests: Vec<spec::TestCaseSpec>,
    keys: KeyIndex,
}

/// Where customers come from.
#[derive(Debug, Clone)]
pub struct Input {
    /// A file, a directory (every `*.parquet` below it) or a glob, resolved against the YAML,
    /// with `${param}`s filled in.
    pub path: PathBuf,
    /// `input.path` as the YAML writes it (`${param}`s and all).
    pub path_as_written: String,
    /// The customer id column (as named after `rename`).
    pub id: String,
    /// Column renames, file name -> name scripts and output use.
    pub rename: Vec<(String, String)>,
    /// Whether a run refuses an input in which an id occurs twice (`input.unique_ids`, default
    /// true).
    pub unique_ids: bool,
}

/// Where a rule's code comes from.
#[derive(Debug, Clone)]
pub enum RuleSource {
    /// A `.rhai` file, resolved against the YAML file.
    Script(PathBuf),
    /// An `expr:` written inline in the YAML; `key` is its key path, e.g. `factors[1].expr`.
    Inline { code: String, key: String },
}

/// One value factor.
#[derive(Debug, Clone)]
pub struct Factor {
    pub name: String,
    pub rule: RuleSource,
    /// Its weight in a weighted sum (required there; optional with a combine script).
    pub weight: Option<f64>,
    pub description: Option<String>,
}

/// How factors combine into a score.
#[derive(Debug, Clone)]
pub enum Combine {
    /// Σ weight × factor.
    WeightedSum,
    /// A script that sees every factor and returns the score.
    Script(RuleSource),
}

/// The longest name of the output folder, in bytes: its staging folder,
/// `.NAME.tierscore-staging-RUNID`, must still be a valid file name (255 bytes).
pub const MAX_OUTPUT_NAME_BYTES: usize = 200;

/// Where and how output is written.
#[derive(Debug, Clone)]
pub struct Output {
    /// The output directory, resolved against the YAML, with `${param}`s filled in.
    pub path: PathBuf,
    /// `output.path` as the YAML writes it.
    pub path_as_written: String,
    pub partition_by: PartitionBy,
    /// Input columns passed through to the output (the id always is).
    pub columns: Vec<String>,
    /// Whether to write the `reasons` column.
    pub reasons: bool,
    /// Whether to write `_report.html` (`output.report`).
    pub report: bool,
    /// The column the report's value shares and whale curve are of (`report.value`); `None`
    /// means the score.
    pub report_value: Option<String>,
    /// The codec of every file written (`output.compression`).
    pub compression: OutputCompression,
}

/// What failing rows do to the run.
#[derive(Debug, Clone, Copy)]
pub struct ErrorPolicy {
    pub on_row_error: OnRowError,
    /// The largest share of input rows that may be rejected before the run fails.
    pub max_reject_fraction: f64,
}

/// Sandbox bounds for one script evaluating one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Wall time one script may take on one row, in milliseconds.
    pub max_row_ms: u64,
    /// Memory one script may allocate (net) on one row, in bytes, as the allocator counts it.
    pub max_row_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 1_000_000,
            max_call_depth: 32,
            max_string_size: 100_000,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_row_ms: 5_000,
            max_row_memory: 64 << 20,
        }
    }
}

/// Why a pipeline could not be loaded.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PipelineError {
    /// The file could not be read at all.
    #[error("cannot read pipeline file {}: {source}", path.display())]
    #[diagnostic(
        code(pipeline::unreadable),
        help("check the path; a pipeline is a YAML file of at most 16 MiB, such as pipelines/customer_value.yaml")
    )]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read and has problems, all listed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] Problems),
}

impl Pipeline {
    /// Reads and validates a pipeline file.
    pub fn load(path: &Path) -> Result<Self, PipelineError> {
        let (pipeline, problems) = Self::load_collecting(path)?;
        Self::without_problems(pipeline, problems)
    }

    /// Validates pipeline text as if read from `path` (which anchors relative paths).
    pub fn parse(path: &Path, text: String) -> Result<Self, PipelineError> {
        let (pipeline, problems) = Self::parse_collecting(path, text)?;
        Self::without_problems(pipeline, problems)
    }

    fn without_problems(pipeline: Self, problems: Vec<FileProblem>) -> Result<Self, PipelineError> {
        if problems.is_empty() {
            Ok(pipeline)
        } else {
            Err(Problems(problems).into())
        }
    }

    /// Reads a pipeline file, returning it with its validation problems rather than failing on
    /// them, so `check` can go on and report the problems later stages find too. Fails only when
    /// the file cannot be read or its YAML does not have the pipeline's shape.
    pub fn load_collecting(path: &Path) -> Result<(Self, Vec<FileProblem>), PipelineError> {
        let text = crate::local_file::read_text(path, crate::local_file::MAX_YAML_BYTES).map_err(
            |source| PipelineError::Unreadable {
                path: path.to_path_buf(),
                source,
            },
        )?;
        Self::parse_collecting(path, text)
    }

    /// [`Pipeline::load_collecting`] for text already read.
    pub fn parse_collecting(
        path: &Path,
        text: String,
    ) -> Result<(Self, Vec<FileProblem>), PipelineError> {
        let source = SourceFile::new(path.display().to_string(), text);
        if let Some(at) = locate::too_deep(source.text(), locate::MAX_DEPTH) {
            let problem = FileProblem::error(
                codes::pipeline::NESTING,
                &source,
                Some((at, 1).into()),
                format!(
                    "the pipeline nests deeper than {} levels here, the most a pipeline file may",
                    locate::MAX_DEPTH
                ),
            )
            .with_help("a pipeline needs a few levels; look for a `[` or `{` left unclosed");
            return Err(Problems(vec![problem]).into());
        }
        let keys = KeyIndex::build(source.text());
        let (spec, mut problems) = deserialize(&source, &keys)?;
        let (pipeline, more) = Self::from_spec(path, source, keys, spec);
        problems.extend(more);
        Ok((pipeline, problems))
    }

    /// A problem located at a key path of this file, e.g. `tiers.levels[2].min`.
    pub fn problem_at(&self, code: &'static str, key: &str, message: String) -> FileProblem {
        FileProblem::error(code, &self.source, self.keys.span(key), message)
    }

    /// The span of a key path, for problems built elsewhere.
    pub fn span_of(&self, key: &str) -> Option<SourceSpan> {
        self.keys.span(key)
    }

    /// Applies `--set KEY=VALUE` overrides to the params and fills the paths' `${param}`s
    /// again with the new values.
    pub fn set_params(&mut self, overrides: &[String]) -> Result<(), params::OverrideError> {
        params::apply_overrides(&mut self.params, overrides)?;
        let dir = base_dir(&self.path).to_path_buf();
        // The templates were checked when the pipeline loaded and overrides keep every param a
        // scalar, so they fill; a failure would leave the path as loaded.
        if let Ok(input) = path_params::fill(&self.input.path_as_written, &self.params) {
            self.input.path = join_clean(&dir, &input);
        }
        if let Ok(output) = path_params::fill(&self.output.path_as_written, &self.params) {
            self.output.path = join_clean(&dir, &output);
        }
        Ok(())
    }

    /// The folder relative paths in the file are resolved against.
    pub fn dir(&self) -> &Path {
        base_dir(&self.path)
    }

    fn from_spec(
        path: &Path,
        source: SourceFile,
        keys: KeyIndex,
        spec: spec::PipelineSpec,
    ) -> (Self, Vec<FileProblem>) {
        let mut check = Checker {
            source: &source,
            keys: &keys,
            problems: Vec::new(),
        };
        let dir = base_dir(path);

        if spec.version != 1 {
            check.error(
                codes::pipeline::VERSION,
                "version",
                format!("unsupported pipeline version {}", spec.version),
                "this tierscore reads `version: 1`",
            );
        }
        if spec.name.trim().is_empty() {
            check.error(
                codes::pipeline::NAME,
                "name",
                "the pipeline name is empty".into(),
                "give it a name such as `customer_value`; it is recorded in the output",
            );
        }

        let score = match (spec.score.combine, &spec.score.script) {
            (Some(_), Some(_)) => {
                check.error(
                    codes::pipeline::SCORE,
                    "score",
                    "`score` has both `combine` and `script`".into(),
                    "keep one: `combine: weighted_sum` or `script: ../rules/score.rhai`",
                );
                Combine::WeightedSum
            }
            (_, Some(script)) => Combine::Script(RuleSource::Script(join_clean(dir, script))),
            (_, None) => Combine::WeightedSum,
        };

        let derive = check.derive(&spec.derive);
        let ahp_given = spec.score.weights.is_some();
        let mut factors = check.factors(
            &spec.factors,
            dir,
            matches!(score, Combine::WeightedSum) && !ahp_given,
        );
        let ahp = spec
            .score
            .weights
            .as_ref()
            .and_then(|weights| check.ahp_weights(&weights.ahp, &mut factors));
        let normalize = spec.score.normalize.unwrap_or_default();
        if normalize != Normalize::None && !matches!(score, Combine::WeightedSum) {
            check.error(
                codes::pipeline::NORMALIZE,
                "score.normalize",
                "`score.normalize` needs `combine: weighted_sum`".into(),
                "a score script sees the factors as the rules give them; normalise inside it, or use weighted_sum",
            );
        }
        for factor in &factors {
            if derive.iter().any(|d| d.name == factor.name) {
                check.error(
                    codes::pipeline::FACTOR_NAME,
                    "factors",
                    format!("factor `{}` has the name of a derive column", factor.name),
                    "factors and derive columns share one namespace in scripts; rename one",
                );
            }
        }
        let tiers = check.tiers(&spec.tiers, dir);
        let mut output = check.output(&spec.output, &spec.report, dir, &factors);
        output.path = join_clean(
            dir,
            &check.path_params("output.path", &spec.output.path, &spec.params),
        );
        let input_path = check.path_params("input.path", &spec.input.path, &spec.params);
        for (name, value) in &spec.params {
            if !params::finite(value) {
                check.error(
                    codes::pipeline::PARAM_NOT_FINITE,
                    &format!("params.{name}"),
                    format!("param `{name}` holds an infinity or NaN"),
                    "give a finite number: the manifest records params as JSON, which has no \
                     infinities or NaN, so the run could not be told or repeated",
                );
            }
        }

        let max_reject_fraction = spec.errors.max_reject_fraction.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&max_reject_fraction) {
            check.error(
                codes::pipeline::REJECT_FRACTION,
                "errors.max_reject_fraction",
                format!("max_reject_fraction is {max_reject_fraction}, outside 0..1"),
                "write a share of the input rows, e.g. 0.001 for one row in a thousand",
            );
        }
        let limits = check.limits(&spec.limits);

        let problems = check.problems;
        let pipeline = Self {
            path: path.to_path_buf(),
            name: spec.name,
            description: spec.description,
            input: Input {
                path: join_clean(dir, &input_path),
                path_as_written: spec.input.path,
                id: spec.input.id,
                rename: spec.input.rename.into_iter().collect(),
                unique_ids: spec.input.unique_ids.unwrap_or(true),
            },
            params: spec.params,
            derive,
            factors,
            score,
            normalize,
            ahp,
            tiers,
            output,
            errors: ErrorPolicy {
                on_row_error: spec.errors.on_row_error.unwrap_or(OnRowError::Reject),
                max_reject_fraction,
            },
            limits,
            tests: spec.tests,
            source,
            keys,
        };
        (pipeline, problems)
    }
}

/// `dir/relative` with `.` and `..` folded lexically, so messages show `rules/x.rhai`, not
/// `pipelines/../rules/x.rhai`. Absolute `relative` paths and URLs (`s3://…`, `file://…`) are
/// kept as they are.
fn join_clean(dir: &Path, relative: &str) -> PathBuf {
    if crate::store::url_scheme(relative).is_some() {
        return PathBuf::from(relative);
    }
    let mut out = PathBuf::new();
    for part in dir.join(relative).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn base_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// Collects validation problems with their positions.
struct Checker<'a> {
    source: &'a SourceFile,
    keys: &'a KeyIndex,
    problems: Vec<FileProblem>,
}

impl Checker<'_> {
    fn error(&mut self, code: &'static str, key: &str, message: String, help: &str) {
        self.problems.push(
            FileProblem::error(code, self.source, self.keys.span(key), message).with_help(help),
        );
    }

    /// `text` (the path at `key`) with its `${param}`s filled in from `params`; unchanged, with
    /// an error, when one names no param or a param that is no scalar.
    fn path_params(&mut self, key: &str, text: &str, params: &Params) -> String {
        let (code, message, help) = match path_params::fill(text, params) {
            Ok(filled) => return filled,
            Err(path_params::PathParamError::Unclosed) => (
                codes::pipeline::PATH_PARAM,
                format!("`{key}` has a `${{` without its `}}`"),
                "write a param as ${name}, e.g. lake/dt=${as_of}/".to_string(),
            ),
            Err(path_params::PathParamError::Unknown(name)) => {
                let known: Vec<&str> = params.keys().map(String::as_str).collect();
                (
                    codes::pipeline::PATH_PARAM,
                    format!("`{key}` reads `${{{name}}}`, which is no param of the pipeline"),
                    suggest::help_for(&name, &known, "params"),
                )
            }
            Err(path_params::PathParamError::NotScalar(name)) => (
                codes::pipeline::PATH_PARAM,
                format!("`{key}` reads `${{{name}}}`, a list or map, not a value a path can hold"),
                "only strings, numbers and booleans can be put into a path".to_string(),
            ),
        };
        self.error(code, key, message, &help);
        text.to_string()
    }

    fn factors(
        &mut self,
        specs: &[spec::FactorSpec],
        dir: &Path,
        weights_required: bool,
    ) -> Vec<Factor> {
        if specs.is_empty() {
            self.error(
                codes::pipeline::NO_FACTORS,
                "factors",
                "the pipeline has no factors".into(),
                "add at least one: `- { name: economic, script: ../rules/economic.rhai, weight: 0.4 }`",
            );
        }
        if specs.len() > MAX_FACTORS {
            self.error(
                codes::pipeline::TOO_MANY_FACTORS,
                &format!("factors[{MAX_FACTORS}]"),
                format!(
                    "the pipeline has {} factors, more than {}",
                    human::count(specs.len() as u64),
                    human::count(MAX_FACTORS as u64)
                ),
                "combine factors in a script (a factor can compute several parts and add them), \
                 or split the pipeline",
            );
        }
        // Past the limit no more are checked: each sees the ones before it, so checking them
        // all took time with the square of their number (6,000: 14 s in a debug build).
        let specs = &specs[..specs.len().min(MAX_FACTORS)];
        let mut factors: Vec<Factor> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let key = format!("factors[{i}]");
            if !is_identifier(&spec.name) {
                self.error(
                    codes::pipeline::FACTOR_NAME,
                    &format!("{key}.name"),
                    format!("factor name `{}` is not a valid name", spec.name),
                    "use letters, digits and `_`, not starting with a digit, so later scripts can read it by name",
                );
            } else if RESERVED_NAMES.contains(&spec.name.as_str()) {
                self.error(
                    codes::pipeline::FACTOR_NAME,
                    &format!("{key}.name"),
                    format!("factor name `{}` is reserved", spec.name),
                    "the output already has columns `score`, `tier` and `reasons`; pick another name",
                );
            } else if let Some(written) = written_column_like(&spec.name) {
                self.error(
                    codes::pipeline::FACTOR_NAME,
                    &format!("{key}.name"),
                    case_clash("factor name", &spec.name, written),
                    "a factor's name is its output column's; pick another name",
                );
            } else if factors.iter().any(|f| f.name == spec.name) {
                self.error(
                    codes::pipeline::DUPLICATE_FACTOR,
                    &format!("{key}.name"),
                    format!("factor `{}` is defined twice", spec.name),
                    "factor names become output columns and must be unique",
                );
            } else if let Some(other) = factors
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(&spec.name))
            {
                self.error(
                    codes::pipeline::FACTOR_NAME,
                    &format!("{key}.name"),
                    case_clash("factor name", &spec.name, &other.name),
                    "a factor's name is its output column's: pick names that differ in more than case",
                );
            }
            let rule = match (&spec.script, &spec.expr) {
                (Some(script), None) => RuleSource::Script(join_clean(dir, script)),
                (None, Some(code)) => RuleSource::Inline {
                    code: code.clone(),
                    key: format!("{key}.expr"),
                },
                (Some(_), Some(_)) => {
                    self.error(
                        codes::pipeline::FACTOR_RULE,
                        &key,
                        format!("factor `{}` has both `script` and `expr`", spec.name),
                        "keep one of them",
                    );
                    continue;
                }
                (None, None) => {
                    self.error(
                        codes::pipeline::FACTOR_RULE,
                        &key,
                        format!("factor `{}` has neither `script` nor `expr`", spec.name),
                        "add `script: ../rules/NAME.rhai` or an inline `expr: \"...\"`",
                    );
                    continue;
                }
            };
            match spec.weight {
                None if weights_required => self.error(
                    codes::pipeline::WEIGHT,
                    &key,
                    format!("factor `{}` has no weight", spec.name),
                    "a weighted_sum score needs `weight:` on every factor",
                ),
                Some(w) if !w.is_finite() => self.error(
                    codes::pipeline::WEIGHT,
                    &format!("{key}.weight"),
                    format!("factor `{}` has weight {w}", spec.name),
                    "a weight is a finite number",
                ),
                _ => {}
            }
            factors.push(Factor {
                name: spec.name.clone(),
                rule,
                weight: spec.weight,
                description: spec.description.clone(),
            });
        }
        factors
    }

    fn output(
        &mut self,
        spec: &spec::OutputSpec,
        report: &spec::ReportSpec,
        dir: &Path,
        factors: &[Factor],
    ) -> Output {
        if let Some(value) = &report.value {
            let known = value == "score"
                || factors.iter().any(|f| &f.name == value)
                || spec.columns.contains(value);
            if !known {
                self.error(
                    codes::pipeline::REPORT_VALUE,
                    "report.value",
                    format!("report.value `{value}` is not a factor, `score` or an output column"),
                    "name a factor (e.g. `margin`), `score`, or a numeric column listed in output.columns",
                );
            }
        }
        for (i, column) in spec.columns.iter().enumerate() {
            let clash = RESERVED_NAMES.contains(&column.as_str())
                || factors.iter().any(|f| &f.name == column);
            if clash {
                self.error(
                    codes::pipeline::OUTPUT_COLUMN,
                    &format!("output.columns[{i}]"),
                    format!("output column `{column}` clashes with a factor or a column tierscore writes"),
                    "rename the input column with `input.rename` or the factor",
                );
            } else if let Some(written) = written_column_like(column) {
                self.error(
                    codes::pipeline::OUTPUT_COLUMN,
                    &format!("output.columns[{i}]"),
                    case_clash("output column", column, written),
                    &format!(
                        "rename the input column with `input.rename`, e.g. {{ {column}: old_{written} }}, \
                         and list `old_{written}` in output.columns"
                    ),
                );
            } else if spec.columns[..i].contains(column) {
                self.error(
                    codes::pipeline::OUTPUT_COLUMN,
                    &format!("output.columns[{i}]"),
                    format!("output column `{column}` is listed twice"),
                    "list each column once",
                );
            } else if let Some(other) = factors
                .iter()
                .map(|f| &f.name)
                .chain(&spec.columns[..i])
                .find(|other| other.eq_ignore_ascii_case(column))
            {
                self.error(
                    codes::pipeline::OUTPUT_COLUMN,
                    &format!("output.columns[{i}]"),
                    case_clash("output column", column, other),
                    "rename the input column with `input.rename` so no two output columns differ only in case",
                );
            }
        }
        let name_bytes = Path::new(&spec.path)
            .file_name()
            .map_or(0, |name| name.as_encoded_bytes().len());
        if name_bytes > MAX_OUTPUT_NAME_BYTES {
            self.error(
                codes::pipeline::OUTPUT_PATH,
                "output.path",
                format!(
                    "the output folder's name is {name_bytes} bytes long, more than {MAX_OUTPUT_NAME_BYTES}"
                ),
                "use a shorter name: the staging folder beside it adds about 50 bytes, and file names end at 255",
            );
        }
        Output {
            path: join_clean(dir, &spec.path),
            path_as_written: spec.path.clone(),
            partition_by: spec.partition_by.unwrap_or(PartitionBy::Tier),
            columns: spec.columns.clone(),
            reasons: spec.reasons,
            report: spec.report.unwrap_or(true),
            report_value: report.value.clone(),
            compression: spec.compression.unwrap_or(OutputCompression::Zstd),
        }
    }

    fn limits(&mut self, spec: &spec::LimitsSpec) -> Limits {
        let default = Limits::default();
        let mut positive = |key: &str, value: Option<u64>, fallback: u64| -> u64 {
            match value {
                Some(0) => {
                    self.error(
                        codes::pipeline::LIMITS,
                        &format!("limits.{key}"),
                        format!("limits.{key} is 0"),
                        "a limit is a positive number; leave it out for the default",
                    );
                    fallback
                }
                Some(v) => v,
                None => fallback,
            }
        };
        let as_u64 = |v: Option<usize>| v.map(|v| v as u64);
        Limits {
            max_operations: positive(
                "max_operations",
                spec.max_operations,
                default.max_operations,
            ),
            max_call_depth: positive(
                "max_call_depth",
                as_u64(spec.max_call_depth),
                default.max_call_depth as u64,
            ) as usize,
            max_string_size: positive(
                "max_string_size",
                as_u64(spec.max_string_size),
                default.max_string_size as u64,
            ) as usize,
            max_array_size: positive(
                "max_array_size",
                as_u64(spec.max_array_size),
                default.max_array_size as u64,
            ) as usize,
            max_map_size: positive(
                "max_map_size",
                as_u64(spec.max_map_size),
                default.max_map_size as u64,
            ) as usize,
            max_row_ms: positive("max_row_ms", spec.max_row_ms, default.max_row_ms),
            max_row_memory: positive(
                "max_row_memory",
                spec.max_row_memory,
                default.max_row_memory,
            ),
        }
    }
}

/// Whether scripts can refer to `name` as a variable.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Drops serde_yaml's " at line L column C" mentions (the problem carries the position itself).
fn without_position(message: &str) -> String {
    let mut message = message.to_string();
    while let Some(start) = message.find(" at line ") {
        let rest = &message[start..];
        let end = rest.find(" column ").map_or(rest.len(), |c| {
            let digits = c + " column ".len();
            digits
                + rest[digits..]
                    .find(|ch: char| !ch.is_ascii_digit())
                    .unwrap_or(rest.len() - digits)
        });
        message.replace_range(start..start + end, "");
    }
    message
}

/// Turns a serde_yaml error into a located problem with a "did you mean" where one fits.
/// Unknown keys (and unknown variants) reported before the rest of the file is checked without
/// them; at most this many, as each costs a pass over the file.
const MAX_UNKNOWN_KEYS: usize = 32;

/// The pipeline's shape from its YAML. A misspelt key does not hide the rest: it is reported
/// and, for the rest of the check, read as the name it suggests (or left out when there is no
/// close name), so `check` still finds every independent problem. Any other shape error (a
/// missing key, a wrong type) ends the reading with what was found.
fn deserialize(
    source: &SourceFile,
    keys: &KeyIndex,
) -> Result<(spec::PipelineSpec, Vec<FileProblem>), Problems> {
    let mut problems = Vec::new();
    let mut value: Option<serde_yaml::Value> = None;
    loop {
        let attempt = match &value {
            None => serde_yaml::from_str::<spec::PipelineSpec>(source.text()),
            Some(v) => serde_yaml::to_string(v)
                .and_then(|text| serde_yaml::from_str::<spec::PipelineSpec>(&text)),
        };
        let err = match attempt {
            Ok(spec) => return Ok((spec, problems)),
            Err(err) => err,
        };
        let message = without_position(&err.to_string());
        let unknown = UnknownName::of(&message);
        if unknown.is_none() && value.is_some() {
            // Possibly a consequence of an earlier repair: left unsaid.
            return Err(Problems(problems));
        }
        // After the first pass the text is re-serialised: locate by key path, not position.
        let span = match (&value, &unknown) {
            (Some(_), Some(unknown)) => keys.span(&unknown.path),
            _ => None,
        };
        problems.push(yaml_problem(source, &err, span));
        let Some(unknown) = unknown.filter(|_| problems.len() < MAX_UNKNOWN_KEYS) else {
            return Err(Problems(problems));
        };
        let mut current = match value.take() {
            Some(v) => v,
            None => serde_yaml::from_str(source.text()).map_err(|_| Problems(problems.clone()))?,
        };
        if !unknown.repair(&mut current) {
            return Err(Problems(problems));
        }
        value = Some(current);
    }
}

/// A misspelt key or variant, from serde's message.
struct UnknownName {
    /// The key path: `factors[0].wieght` for an unknown field, `output.partition_by` for an
    /// unknown variant.
    path: String,
    /// The misspelt key (an unknown field), or `None` for an unknown variant.
    field: Option<String>,
    /// The accepted name closest to the misspelt one.
    suggestion: Option<String>,
}

impl UnknownName {
    /// Reads `factors[0]: unknown field `wieght`, expected one of …` or `output.partition_by:
    /// unknown variant `tiers`, expected …`.
    fn of(message: &str) -> Option<Self> {
        let (prefix, rest) = match message.split_once(": ") {
            Some((prefix, rest)) if !prefix.contains(' ') => (prefix, rest),
            _ => ("", message),
        };
        let names: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        let (wrong, expected) = names.split_first()?;
        let suggestion = suggest::did_you_mean(wrong, expected.iter().copied()).map(String::from);
        if rest.starts_with("unknown field `") {
            let path = if prefix.is_empty() {
                wrong.to_string()
            } else {
                format!("{prefix}.{wrong}")
            };
            Some(Self {
                path,
                field: Some(wrong.to_string()),
                suggestion,
            })
        } else if rest.starts_with("unknown variant `") && !prefix.is_empty() {
            Some(Self {
                path: prefix.to_string(),
                field: None,
                suggestion,
            })
        } else {
            None
        }
    }

    /// Reads the misspelt name as the suggested one in `value`, or leaves it out; whether the
    /// file changed.
    fn repair(&self, value: &mut serde_yaml::Value) -> bool {
        let Some((map, last)) = parent_mapping(value, &self.path) else {
            return false;
        };
        match (&self.field, &self.suggestion) {
            (Some(_), Some(good)) if !map.contains_key(good.as_str()) => match map.remove(last) {
                Some(moved) => {
                    map.insert(good.as_str().into(), moved);
                    true
                }
                None => false,
            },
            (None, Some(good)) => match map.get_mut(last) {
                Some(slot) => {
                    *slot = good.as_str().into();
                    true
                }
                None => false,
            },
            _ => map.remove(last).is_some(),
        }
    }
}

/// The mapping holding the key at `path` (`a.b[2].c`), and that key.
fn parent_mapping<'v>(
    value: &'v mut serde_yaml::Value,
    path: &str,
) -> Option<(&'v mut serde_yaml::Mapping, String)> {
    let mut parts: Vec<String> = Vec::new();
    for dotted in path.split('.') {
        let mut rest = dotted;
        while let Some(open) = rest.find('[') {
            if open > 0 {
                parts.push(rest[..open].to_string());
            }
            let close = open + rest[open..].find(']')?;
            parts.push(rest[open..=close].to_string());
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(rest.to_string());
        }
    }
    let (last, parents) = parts.split_last()?;
    let mut node = value;
    for part in parents {
        node = match part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            Some(index) => node
                .as_sequence_mut()?
                .get_mut(index.parse::<usize>().ok()?)?,
            None => node.as_mapping_mut()?.get_mut(part.as_str())?,
        };
    }
    Some((node.as_mapping_mut()?, last.clone()))
}

/// A YAML shape error as a problem, at `span` when given, else where serde_yaml says.
fn yaml_problem(
    source: &SourceFile,
    err: &serde_yaml::Error,
    span: Option<SourceSpan>,
) -> FileProblem {
    let message = without_position(&err.to_string());
    let span = span.or_else(|| {
        err.location()
            .map(|loc| SourceSpan::from((loc.index().min(source.text().len()), 1)))
    });
    let names: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let (code, help) = if message.contains("unknown field") || message.contains("unknown variant") {
        let (wrong, expected) = names.split_first().unwrap_or((&"", &[]));
        (
            codes::pipeline::UNKNOWN_KEY,
            suggest::help_for(wrong, expected, "accepted names"),
        )
    } else if message.contains("missing field") {
        (
            codes::pipeline::MISSING_KEY,
            format!(
                "add `{}:`; see the pipeline format in docs/pipeline.md",
                names.first().unwrap_or(&"")
            ),
        )
    } else {
        (
            codes::pipeline::YAML,
            "fix the YAML at this position (indentation, quotes and `:` are the usual suspects)"
                .to_string(),
        )
    };
    FileProblem::error(code, source, span, message).with_help(help)
}

#[cfg(test)]
mod tests;
