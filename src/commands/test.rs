//! `tierscore test` — run the rule test cases of one or more pipelines, like `cargo test`.
//!
//! ```text
//! tierscore test pipelines/customer_value.yaml
//! tierscore test pipelines/*.yaml
//! ```
//!
//! Cases come from each pipeline's `tests:` and from `NAME.tests.yaml` beside it. Each row is
//! scored by the same plan `run` builds (the input's footers give the column types). One line a
//! case, then expected against actual for every failure, then a total. Exit 1 if any fails.

use std::path::PathBuf;
use std::time::Instant;

use super::{CommandError, Findings, Ui};
use crate::pipeline::Pipeline;
use crate::plan::Plan;
use crate::rule_tests::{self, Outcome};
use crate::rules::EngineChoice;
use crate::source::Source;

/// Arguments of `tierscore test`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tierscore test pipelines/customer_value.yaml
  tierscore test pipelines/customer_value.yaml pipelines/rfm.yaml")]
pub struct TestArgs {
    /// Pipeline YAML files whose test cases to run.
    #[arg(required = true)]
    pub pipelines: Vec<PathBuf>,
    /// Which engine runs the rules: compiled where possible (`auto`), or every rule on one.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
}

/// Runs every case of every pipeline and prints a cargo-test-like report.
pub fn execute(args: &TestArgs, _ui: Ui) -> Result<(), CommandError> {
    let started = Instant::now();
    let mut passed = 0;
    let mut failures: Vec<Outcome> = Vec::new();
    for path in &args.pipelines {
        let pipeline = Pipeline::load(path)?;
        let cases = rule_tests::load(&pipeline).map_err(|e| Findings(e.to_string()))?;
        let source = Source::open(&pipeline.input.path, &pipeline.input.rename)?;
        let (plan, _warnings) = Plan::build(&pipeline, &source, args.engine)?;
        say!("\nrunning {} tests from {}", cases.len(), path.display());
        for outcome in rule_tests::run(&cases, &plan, &pipeline.input.id) {
            if outcome.mismatches.is_empty() {
                say!("test {} ... ok", outcome.name);
                passed += 1;
            } else {
                say!("test {} ... FAILED", outcome.name);
                failures.push(outcome);
            }
        }
    }
    if !failures.is_empty() {
        say!("\nfailures:");
        for failure in &failures {
            print_failure(failure);
        }
    }
    let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
    say!(
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
fn print_failure(failure: &Outcome) {
    say!("\n---- {} ----", failure.name);
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
    say!(
        "  {:<field_w$}  {:<expected_w$}  actual",
        "field",
        "expected"
    );
    for m in &failure.mismatches {
        say!(
            "  {:<field_w$}  {:<expected_w$}  {}",
            m.field,
            m.expected,
            m.actual
        );
    }
}
