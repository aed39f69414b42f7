//! `tierscore test` — run the rule test cases of one or more pipelines, like `cargo test`.
//!
//! ```text
//! tierscore test pipelines/customer_value.yaml
//! tierscore test pipelines/*.yaml
//! tierscore test pipelines/customer_value.yaml --coverage
//! tierscore test pipelines/customer_value.yaml --coverage --format json > coverage.json
//! ```
//!
//! Cases come from each pipeline's `tests:` and from `NAME.tests.yaml` beside it. Each row is
//! scored by the same plan `run` builds (the input's footers give the column types). One line a
//! case, then expected against actual for every failure, then a total. Exit 1 if any fails.
//!
//! `--coverage` then lists, per rule, every branch and how many cases took it, marking those
//! none did (like `opa test --coverage`); `--format json` prints the same as JSON on stdout
//! (the case lines go to stderr). Coverage does not change the exit code.

use std::path::PathBuf;
use std::time::Instant;

use super::{CommandError, Findings, Ui};
use crate::pipeline::Pipeline;
use crate::plan::Plan;
use crate::rule_tests::{self, Outcome};
use crate::rules::coverage::RuleCoverage;
use crate::rules::EngineChoice;
use crate::source::Source;

/// Arguments of `tierscore test`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tierscore test pipelines/customer_value.yaml
  tierscore test pipelines/customer_value.yaml pipelines/rfm.yaml
  tierscore test pipelines/customer_value.yaml --coverage
  tierscore test pipelines/customer_value.yaml --coverage --format json > coverage.json")]
pub struct TestArgs {
    /// Pipeline YAML files whose test cases to run.
    #[arg(required = true)]
    pub pipelines: Vec<PathBuf>,
    /// Which engine runs the rules: compiled where possible (`auto`), or every rule on one.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// Also list, per rule, every branch and how many test cases took it.
    #[arg(long)]
    pub coverage: bool,
    /// How coverage is printed: for people, or JSON on stdout for CI (needs --coverage).
    #[arg(long, value_enum, default_value_t = TestFormat::Text, requires = "coverage")]
    pub format: TestFormat,
}

/// How `test --coverage` prints coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    /// Lines for people after the test results.
    Text,
    /// `{ "pipelines": [{ "pipeline", "rules": [...] }] }` on stdout; case lines on stderr.
    Json,
}

/// One pipeline's coverage.
struct Covered {
    pipeline: PathBuf,
    rules: Vec<RuleCoverage>,
}

/// A line for people: on stdout, or on stderr when stdout carries JSON.
macro_rules! tell {
    ($json:expr, $($arg:tt)*) => {{
        if $json {
            eprintln!($($arg)*);
        } else {
            say!($($arg)*);
        }
    }};
}

/// Runs every case of every pipeline and prints a cargo-test-like report.
pub fn execute(args: &TestArgs, _ui: Ui) -> Result<(), CommandError> {
    let started = Instant::now();
    let mut passed = 0;
    let mut failures: Vec<Outcome> = Vec::new();
    let mut covered: Vec<Covered> = Vec::new();
    let json = args.format == TestFormat::Json;
    for path in &args.pipelines {
        let pipeline = Pipeline::load(path)?;
        let cases = rule_tests::load(&pipeline).map_err(|e| Findings(e.to_string()))?;
        let source = Source::open(&pipeline.input.path, &pipeline.input.rename)?;
        let (plan, _warnings) = Plan::build(&pipeline, &source, args.engine)?;
        tell!(
            json,
            "\nrunning {} tests from {}",
            cases.len(),
            path.display()
        );
        for outcome in rule_tests::run(&cases, &plan, &pipeline.input.id) {
            if outcome.mismatches.is_empty() {
                tell!(json, "test {} ... ok", outcome.name);
                passed += 1;
            } else {
                tell!(json, "test {} ... FAILED", outcome.name);
                failures.push(outcome);
            }
        }
        if args.coverage {
            covered.push(Covered {
                pipeline: path.clone(),
                rules: rule_tests::coverage(&cases, &plan, &pipeline.input.id),
            });
        }
    }
    if !failures.is_empty() {
        tell!(json, "\nfailures:");
        for failure in &failures {
            print_failure(failure, json);
        }
    }
    if json {
        print_json(&covered)?;
    } else {
        for pipeline in &covered {
            print_coverage(pipeline);
        }
    }
    let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
    tell!(
        json,
        "\ntest result: {verdict}. {passed} passed; {} failed; finished in {:.2}s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Findings(format!(
            "{} of {} test cases failed",
            failures.len(),
            failures.len() + passed
        ))
        .into())
    }
}

/// Expected against actual, side by side.
fn print_failure(failure: &Outcome, json: bool) {
    tell!(json, "\n---- {} ----", failure.name);
    let width = |pick: fn(&rule_tests::Mismatch) -> &str, title: &str| {
        failure
            .mismatches
            .iter()
            .map(|m| pick(m).chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let field_w = width(|m| &m.field, "field");
    let expected_w = width(|m| &m.expected, "expected");
    tell!(
        json,
        "  {:<field_w$}  {:<expected_w$}  actual",
        "field",
        "expected"
    );
    for m in &failure.mismatches {
        tell!(
            json,
            "  {:<field_w$}  {:<expected_w$}  {}",
            m.field,
            m.expected,
            m.actual
        );
    }
}

/// Per rule, each branch with the cases that took it and its line of code; branches no case
/// took are marked `NOT TAKEN`.
fn print_coverage(pipeline: &Covered) {
    let total: usize = pipeline.rules.iter().map(|c| c.branches.len()).sum();
    let taken: usize = pipeline.rules.iter().map(RuleCoverage::covered).sum();
    say!(
        "\ncoverage of {}: {taken} of {total} branches taken by the test cases ({})",
        pipeline.pipeline.display(),
        percent(taken, total)
    );
    for rule in &pipeline.rules {
        say!(
            "\n  {} ({}): {} of {} branches",
            rule.rule,
            rule.source,
            rule.covered(),
            rule.branches.len()
        );
        for branch in &rule.branches {
            let mark = if branch.rows == 0 { "NOT TAKEN" } else { "" };
            let kind = if branch.implicit {
                format!("{} (unwritten)", branch.kind.label())
            } else {
                branch.kind.label().to_string()
            };
            say!(
                "    {:>4}:{:<3} {:<20} {:>5}  {:<9}  {}",
                branch.line,
                branch.column,
                kind,
                branch.rows,
                mark,
                branch.code
            );
        }
    }
}

/// A share as a percentage; 100% when there is nothing to take.
fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "100%".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

/// The coverage as JSON on stdout (the README shows the shape).
fn print_json(covered: &[Covered]) -> Result<(), CommandError> {
    let pipelines: Vec<serde_json::Value> = covered
        .iter()
        .map(|pipeline| {
            let rules: Vec<serde_json::Value> = pipeline
                .rules
                .iter()
                .map(|rule| {
                    serde_json::json!({
                        "rule": rule.rule,
                        "source": rule.source,
                        "rows": rule.rows,
                        "covered": rule.covered(),
                        "total": rule.branches.len(),
                        "branches": rule.branches,
                    })
                })
                .collect();
            serde_json::json!({
                "pipeline": pipeline.pipeline.display().to_string(),
                "rules": rules,
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&serde_json::json!({ "pipelines": pipelines }))
        .map_err(|e| Findings(format!("cannot write the coverage as JSON: {e}")))?;
    say!("{text}");
    Ok(())
}
