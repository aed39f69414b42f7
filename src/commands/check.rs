//! `tierscore check` — every problem in a pipeline and its rules, before any row is read.
//!
//! ```text
//! tierscore check pipelines/customer_value.yaml
//! tierscore check pipelines/customer_value.yaml --format json
//! ```
//!
//! Loads the YAML, reads only the input's Parquet footers, compiles every script, and reports
//! all problems at once with file:line:col: unknown keys, tier levels out of order, names a
//! script reads that are no column, factor or variable, `params.x` not defined, columns whose
//! type an operator cannot take, columns scripts cannot read, output columns that do not exist
//! (errors); params no rule uses and nullable columns read without `??` (warnings).
//! Exit 1 on any error, 0 with warnings only.

use std::collections::HashMap;
use std::path::PathBuf;

use miette::Severity;
use serde::Serialize;

use super::{CommandError, Findings, Format, Ui};
use crate::diagnostic::codes;
use crate::diagnostic::{FileProblem, ProblemJson, Problems};
use crate::pipeline::{Pipeline, PipelineError};
use crate::plan::Plan;
use crate::rules::{EngineChoice, RuleEngine};
use crate::source::Source;

/// Arguments of `tierscore check`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tierscore check pipelines/customer_value.yaml
  tierscore check pipelines/customer_value.yaml --format json   # for editors and CI")]
pub struct CheckArgs {
    /// The pipeline YAML file.
    pub pipeline: PathBuf,
    /// `json` prints one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Check that every rule compiles (`compiled`), or check for the interpreter alone.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// Override a param as `run` would (paths' `${param}`s follow): --set KEY=VALUE.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Check against this input instead of the pipeline's input.path, as `run --input` reads.
    #[arg(long, value_name = "PATH")]
    pub input: Option<PathBuf>,
}

/// The JSON report of `check --format json`.
#[derive(Debug, Serialize)]
struct Report {
    pipeline: String,
    ok: bool,
    errors: usize,
    warnings: usize,
    problems: Vec<ProblemJson>,
    /// Which engine runs each rule (when the plan builds).
    rules: Vec<RuleJson>,
}

/// One rule and its engine, in `check --format json`.
#[derive(Debug, Serialize)]
struct RuleJson {
    name: String,
    engine: &'static str,
    /// Why the interpreter runs it: the construct the compiler does not take, and where.
    because: Option<String>,
}

/// Problems of one code drawn with their source lines; the rest of that code get a line each.
const DRAWN_PER_CODE: usize = 20;

/// Checks the pipeline and prints every problem; fails (exit 1) when any is an error.
pub fn execute(args: &CheckArgs, ui: Ui) -> Result<(), CommandError> {
    let (problems, engines) = find_problems(args)?;
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    match args.format {
        Format::Json => {
            let report = Report {
                pipeline: args.pipeline.display().to_string(),
                ok: errors == 0,
                errors,
                warnings,
                problems: problems.iter().map(FileProblem::to_json).collect(),
                rules: engines
                    .iter()
                    .map(|(name, engine)| RuleJson {
                        name: name.clone(),
                        engine: match engine {
                            RuleEngine::Compiled => "compiled",
                            RuleEngine::Interpreted { .. } => "interpreted",
                        },
                        because: match engine {
                            RuleEngine::Interpreted { because } => because.clone(),
                            RuleEngine::Compiled => None,
                        },
                    })
                    .collect(),
            };
            say!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        Format::Text => {
            // `--quiet` leaves nothing but errors on stderr. Past the first few problems of a
            // code, each is one line (a file with 50,000 unused params gives 50,000 warnings:
            // drawn with their source lines, that took minutes).
            let mut shown: HashMap<&str, usize> = HashMap::new();
            for problem in problems
                .iter()
                .filter(|p| !ui.quiet || p.severity == Severity::Error)
            {
                let count = shown.entry(problem.code).or_default();
                *count += 1;
                if *count <= DRAWN_PER_CODE {
                    super::to_stderr(&crate::diagnostic::render(problem));
                } else {
                    super::to_stderr(&format!(
                        "{}: {} {}: {}\n",
                        problem.location(),
                        problem.severity_name(),
                        problem.code,
                        problem.message
                    ));
                }
            }
        }
    }
    let summary = format!(
        "{}: {errors} error(s), {warnings} warning(s)",
        args.pipeline.display()
    );
    if errors > 0 {
        return Err(Findings(format!("check failed: {summary}")).into());
    }
    if !ui.quiet && args.format == Format::Text {
        for (name, engine) in &engines {
            say!("rule {name}: {engine}");
        }
        say!("check ok: {summary}");
    }
    Ok(())
}

/// Each rule's name and the engine that runs it.
pub type RuleEngines = Vec<(String, RuleEngine)>;

/// All problems of the pipeline, its input's schema and its rules; and, when the plan builds,
/// which engine runs each rule. The Python package's `check` returns these.
pub fn find_problems(args: &CheckArgs) -> Result<(Vec<FileProblem>, RuleEngines), CommandError> {
    let (mut pipeline, mut problems) = match Pipeline::load_collecting(&args.pipeline) {
        Ok(loaded) => loaded,
        Err(PipelineError::Invalid(Problems(problems))) => return Ok((problems, Vec::new())),
        Err(err) => return Err(err.into()),
    };
    pipeline.set_params(&args.set)?;
    if let Some(input) = &args.input {
        pipeline.input.path = input.clone();
    }
    let mut engines = Vec::new();
    match Source::open(&pipeline.input.path, &pipeline.input.rename) {
        Ok(source) => {
            if let Some(plan) =
                Plan::build_collecting(&pipeline, &source, args.engine, &mut problems)
            {
                engines = plan.scorer.engines();
            }
        }
        Err(err) => {
            let mut problem = pipeline.problem_at(
                codes::check::INPUT,
                "input.path",
                format!("{err}; names and types cannot be checked without it"),
            );
            problem.help = miette::Diagnostic::help(&err).map(|h| h.to_string());
            problems.push(problem);
        }
    }
    Ok((problems, engines))
}
