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

use std::path::PathBuf;

use miette::Severity;
use serde::Serialize;

use super::{CommandError, Findings, Format, Ui};
use crate::diagnostic::{FileProblem, ProblemJson, Problems};
use crate::pipeline::{Pipeline, PipelineError};
use crate::plan::Plan;
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
}

/// The JSON report of `check --format json`.
#[derive(Debug, Serialize)]
struct Report {
    pipeline: String,
    ok: bool,
    errors: usize,
    warnings: usize,
    problems: Vec<ProblemJson>,
}

/// Checks the pipeline and prints every problem; fails (exit 1) when any is an error.
pub fn execute(args: &CheckArgs, ui: Ui) -> Result<(), CommandError> {
    let problems = find_problems(args)?;
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
            };
            say!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        Format::Text => {
            // `--quiet` leaves nothing but errors on stderr.
            for problem in problems
                .iter()
                .filter(|p| !ui.quiet || p.severity == Severity::Error)
            {
                eprint!("{}", crate::diagnostic::render(problem));
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
        say!("check ok: {summary}");
    }
    Ok(())
}

/// All problems of the pipeline, its input's schema and its rules.
fn find_problems(args: &CheckArgs) -> Result<Vec<FileProblem>, CommandError> {
    let (pipeline, mut problems) = match Pipeline::load_collecting(&args.pipeline) {
        Ok(loaded) => loaded,
        Err(PipelineError::Invalid(Problems(problems))) => return Ok(problems),
        Err(err) => return Err(err.into()),
    };
    match Source::open(&pipeline.input.path, &pipeline.input.rename) {
        Ok(source) => {
            Plan::build_collecting(&pipeline, &source, &mut problems);
        }
        Err(err) => {
            let mut problem = pipeline.problem_at(
                "check::input",
                "input.path",
                format!("{err}; names and types cannot be checked without it"),
            );
            problem.help = miette::Diagnostic::help(&err).map(|h| h.to_string());
            problems.push(problem);
        }
    }
    Ok(problems)
}
