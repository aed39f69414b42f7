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
//! `--format json` prints one JSON document and `--format junit` JUnit XML, for CI.
//!
//! `--coverage` also lists, per rule, every branch and how many cases took it, marking those
//! none did (like `opa test --coverage`); with `--format json` each pipeline's entry carries the
//! same as `rules`. JUnit has no place for it. Coverage does not change the exit code.

use std::path::PathBuf;
use std::time::Instant;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::json;

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
  tierscore test pipelines/*.yaml --format junit > test-results.xml
  tierscore test pipelines/customer_value.yaml --coverage
  tierscore test pipelines/customer_value.yaml --coverage --format json > coverage.json")]
pub struct TestArgs {
    /// Pipeline YAML files whose test cases to run.
    #[arg(required = true)]
    pub pipelines: Vec<PathBuf>,
    /// Which engine runs the rules: compiled where possible (`auto`), or every rule on one.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// The report on stdout: `text` like cargo test, `json` one document, `junit` JUnit XML.
    #[arg(long, value_enum, default_value_t = TestFormat::Text)]
    pub format: TestFormat,
    /// Also list, per rule, every branch and how many test cases took it.
    #[arg(long)]
    pub coverage: bool,
}

/// Report format of `tierscore test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    /// One line a case, failures side by side, a total (like `cargo test`).
    Text,
    /// One JSON document: every case of every pipeline with its mismatches.
    Json,
    /// JUnit XML (one `testsuite` a pipeline), as CI systems read test results.
    Junit,
}

/// The cases of one pipeline and what each came to.
struct Suite {
    pipeline: PathBuf,
    seconds: f64,
    /// Each case's file and outcome, in order.
    outcomes: Vec<(PathBuf, Outcome)>,
    /// Per rule, the branches the cases took (with `--coverage`).
    coverage: Option<Vec<RuleCoverage>>,
}

/// Runs every case of every pipeline and prints the report in the format asked for.
pub fn execute(args: &TestArgs, _ui: Ui) -> Result<(), CommandError> {
    let started = Instant::now();
    let text = args.format == TestFormat::Text;
    let mut suites = Vec::new();
    for path in &args.pipelines {
        let suite_started = Instant::now();
        let pipeline = Pipeline::load(path)?;
        let cases = rule_tests::load(&pipeline).map_err(|e| Findings(e.to_string()))?;
        let source = Source::open(&pipeline.input.path, &pipeline.input.rename)?;
        let (plan, _warnings) = Plan::build(&pipeline, &source, args.engine)?;
        if text {
            say!("\nrunning {} tests from {}", cases.len(), path.display());
        }
        let outcomes = rule_tests::run(&cases, &plan, &pipeline.input.id);
        let coverage = args
            .coverage
            .then(|| rule_tests::coverage(&cases, &plan, &pipeline.input.id));
        if text {
            for outcome in &outcomes {
                let verdict = if outcome.mismatches.is_empty() {
                    "ok"
                } else {
                    "FAILED"
                };
                say!("test {} ... {verdict}", outcome.name);
            }
        }
        suites.push(Suite {
            pipeline: path.clone(),
            seconds: suite_started.elapsed().as_secs_f64(),
            outcomes: cases.into_iter().map(|c| c.file).zip(outcomes).collect(),
            coverage,
        });
    }
    let seconds = started.elapsed().as_secs_f64();
    let failures: Vec<&Outcome> = suites
        .iter()
        .flat_map(|s| &s.outcomes)
        .map(|(_, outcome)| outcome)
        .filter(|o| !o.mismatches.is_empty())
        .collect();
    let total: usize = suites.iter().map(|s| s.outcomes.len()).sum();
    let passed = total - failures.len();
    match args.format {
        TestFormat::Text => {
            if !failures.is_empty() {
                say!("\nfailures:");
                for failure in &failures {
                    print_failure(failure);
                }
            }
            let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
            say!(
                "\ntest result: {verdict}. {passed} passed; {} failed; finished in {}",
                failures.len(),
                crate::human::seconds(seconds),
            );
            for suite in &suites {
                if let Some(rules) = &suite.coverage {
                    print_coverage(&suite.pipeline, rules);
                }
            }
        }
        TestFormat::Json => say!("{:#}", to_json(&suites, passed, failures.len(), seconds)),
        TestFormat::Junit => say!("{}", to_junit(&suites, failures.len(), seconds)),
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Findings(format!("{} of {} test cases failed", failures.len(), total)).into())
    }
}

/// `test --format json`: `{ ok, passed, failed, seconds, pipelines: [{ pipeline, seconds,
/// cases: [{ name, file, ok, mismatches: [{ field, expected, actual }] }], rules }] }`, with
/// `rules` (each rule's branches, see [`rule_json`]) under `--coverage`.
fn to_json(suites: &[Suite], passed: usize, failed: usize, seconds: f64) -> serde_json::Value {
    let pipelines: Vec<serde_json::Value> = suites
        .iter()
        .map(|suite| {
            let cases: Vec<serde_json::Value> = suite
                .outcomes
                .iter()
                .map(|(file, outcome)| {
                    let mismatches: Vec<serde_json::Value> = outcome
                        .mismatches
                        .iter()
                        .map(|m| json!({"field": m.field, "expected": m.expected, "actual": m.actual}))
                        .collect();
                    json!({
                        "name": outcome.name,
                        "file": file.display().to_string(),
                        "ok": mismatches.is_empty(),
                        "mismatches": mismatches,
                    })
                })
                .collect();
            let mut entry = json!({
                "pipeline": suite.pipeline.display().to_string(),
                "seconds": suite.seconds,
                "cases": cases,
            });
            if let Some(rules) = &suite.coverage {
                entry["rules"] = rules.iter().map(rule_json).collect();
            }
            entry
        })
        .collect();
    json!({
        "ok": failed == 0,
        "passed": passed,
        "failed": failed,
        "seconds": seconds,
        "pipelines": pipelines,
    })
}

/// `test --format junit`: `<testsuites>` with one `<testsuite>` a pipeline and one
/// `<testcase>` a case (`classname` the pipeline, `file` the case's file); a failing case holds
/// a `<failure>` whose text is expected against actual, one mismatch a line.
fn to_junit(suites: &[Suite], failed: usize, seconds: f64) -> String {
    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    let total: usize = suites.iter().map(|s| s.outcomes.len()).sum();
    let mut events = vec![
        Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
        Event::Start(element(
            "testsuites",
            &[
                ("name", "tierscore test".to_string()),
                ("tests", total.to_string()),
                ("failures", failed.to_string()),
                ("errors", "0".into()),
                ("time", format!("{seconds:.3}")),
            ],
        )),
    ];
    for suite in suites {
        let name = suite.pipeline.display().to_string();
        let suite_failures = suite
            .outcomes
            .iter()
            .filter(|(_, o)| !o.mismatches.is_empty())
            .count();
        events.push(Event::Start(element(
            "testsuite",
            &[
                ("name", name.clone()),
                ("tests", suite.outcomes.len().to_string()),
                ("failures", suite_failures.to_string()),
                ("errors", "0".into()),
                ("skipped", "0".into()),
                ("time", format!("{:.3}", suite.seconds)),
            ],
        )));
        for (file, outcome) in &suite.outcomes {
            let case = element(
                "testcase",
                &[
                    ("name", outcome.name.clone()),
                    ("classname", name.clone()),
                    ("file", file.display().to_string()),
                ],
            );
            if outcome.mismatches.is_empty() {
                events.push(Event::Empty(case));
                continue;
            }
            let details: Vec<String> = outcome
                .mismatches
                .iter()
                .map(|m| format!("{}: expected {}, actual {}", m.field, m.expected, m.actual))
                .collect();
            events.push(Event::Start(case));
            events.push(Event::Start(element(
                "failure",
                &[
                    (
                        "message",
                        format!("{} expectation(s) did not hold", details.len()),
                    ),
                    ("type", "mismatch".into()),
                ],
            )));
            events.push(Event::Text(
                BytesText::new(&details.join("\n")).into_owned(),
            ));
            events.push(Event::End(BytesEnd::new("failure")));
            events.push(Event::End(BytesEnd::new("testcase")));
        }
        events.push(Event::End(BytesEnd::new("testsuite")));
    }
    events.push(Event::End(BytesEnd::new("testsuites")));
    for event in events {
        // Writing into a Vec cannot fail.
        let _ = writer.write_event(event);
    }
    String::from_utf8_lossy(&writer.into_inner()).into_owned()
}

/// An XML element's start tag with `attributes` (escaped by quick-xml).
fn element(name: &str, attributes: &[(&str, String)]) -> BytesStart<'static> {
    let mut start = BytesStart::new(name.to_string());
    for (key, value) in attributes {
        start.push_attribute((*key, value.as_str()));
    }
    start
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

/// Per rule, each branch with the cases that took it and its line of code; branches no case
/// took are marked `NOT TAKEN`.
fn print_coverage(pipeline: &std::path::Path, rules: &[RuleCoverage]) {
    let total: usize = rules.iter().map(|c| c.branches.len()).sum();
    let taken: usize = rules.iter().map(RuleCoverage::covered).sum();
    say!(
        "\ncoverage of {}: {taken} of {total} branches taken by the test cases ({})",
        pipeline.display(),
        percent(taken, total)
    );
    for rule in rules {
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

/// A share as a percentage; 100.0% when there is nothing to take.
fn percent(part: usize, whole: usize) -> String {
    let share = if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    };
    crate::human::percent(share)
}

/// One rule's coverage in `--format json`: `{ rule, source, rows, covered, total, branches }`.
fn rule_json(rule: &RuleCoverage) -> serde_json::Value {
    json!({
        "rule": rule.rule,
        "source": rule.source,
        "rows": rule.rows,
        "covered": rule.covered(),
        "total": rule.branches.len(),
        "branches": rule.branches,
    })
}
