//! Rule coverage: `tierscore test --coverage` on the shipped example, and branch counts over
//! the example's population checked against the branch conditions recomputed from the input.

mod common;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use common::{read_parquet, repo, run, CUSTOMER_VALUE_FACTORS};
use tierscore::pipeline::Pipeline;
use tierscore::plan::Plan;
use tierscore::rules::coverage::{BranchKind, RuleCoverage, Tally};
use tierscore::rules::EngineChoice;
use tierscore::score::{Ranked, Sharing};
use tierscore::source::Source;

const PIPELINE: &str = "pipelines/customer_value.yaml";

#[test]
fn the_shipped_test_cases_take_every_branch_of_the_example() {
    let result = run(
        &repo(),
        &["test", PIPELINE, "--coverage", "--format", "json"],
    );
    assert_eq!(result.code, Some(0), "{}", result.stderr);
    let json: serde_json::Value = serde_json::from_str(&result.stdout).expect("JSON on stdout");
    let rules = json["pipelines"][0]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 6, "{json}");
    for rule in rules {
        let untaken: Vec<&serde_json::Value> = rule["branches"]
            .as_array()
            .expect("branches")
            .iter()
            .filter(|b| b["rows"] == 0)
            .collect();
        assert!(untaken.is_empty(), "{}: {untaken:?}", rule["rule"]);
        assert_eq!(rule["covered"], rule["total"], "{rule}");
    }
    // Every branch kind the example uses is listed: risk's two ifs, loyalty's early return,
    // economic's ??.
    let kinds: Vec<&str> = rules
        .iter()
        .flat_map(|r| r["branches"].as_array().unwrap().iter())
        .filter_map(|b| b["kind"].as_str())
        .collect();
    for kind in ["if", "else_if", "else", "return", "value", "fallback"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    // The test results travel in the same document as the coverage.
    assert_eq!(json["ok"], true, "{json}");
    assert_eq!(json["failed"], 0, "{json}");
    assert_eq!(
        json["passed"],
        json["pipelines"][0]["cases"].as_array().unwrap().len()
    );
}

#[test]
fn the_text_report_names_each_rule_and_marks_branches_no_case_took() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_example(dir.path());
    // Only the first case: the steady customer takes few branches.
    let tests =
        std::fs::read_to_string(dir.path().join("pipelines/customer_value.tests.yaml")).unwrap();
    let first_only = match tests.find("\n  - name: economic - a 4-year") {
        Some(end) => tests[..end].to_string(),
        None => panic!("the second case moved"),
    };
    common::write(
        dir.path(),
        "pipelines/customer_value.tests.yaml",
        &first_only,
    );
    let result = run(dir.path(), &["test", PIPELINE, "--coverage"]);
    assert_eq!(result.code, Some(0), "{}", result.stderr);
    let out = &result.stdout;
    assert!(
        out.contains("coverage of pipelines/customer_value.yaml:"),
        "{out}"
    );
    for rule in CUSTOMER_VALUE_FACTORS {
        assert!(out.contains(&format!("\n  {rule} (")), "{rule} in {out}");
    }
    // The steady customer has no bad debt: that arm is not taken; its line is quoted.
    let bad_debt = out
        .lines()
        .find(|l| l.contains("let share = bad_debt_amount"))
        .unwrap_or_else(|| panic!("no bad-debt branch line in {out}"));
    assert!(bad_debt.contains("NOT TAKEN"), "{bad_debt}");
    assert!(bad_debt.contains(" if "), "{bad_debt}");
    // The lapsed customer's early return is not taken either; the frequent path is.
    let lapsed = out
        .lines()
        .find(|l| l.contains("return #{"))
        .expect("return line");
    assert!(lapsed.contains("NOT TAKEN"), "{lapsed}");
}

/// The line (1-based) of the first line of `code` containing `text`.
fn line_of(code: &str, text: &str) -> usize {
    code.lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no {text:?} in the rule"))
        + 1
}

/// Rows that took the branch of `kind` at `line`.
fn taken(coverage: &RuleCoverage, kind: BranchKind, line: usize) -> u64 {
    let found: Vec<u64> = coverage
        .branches
        .iter()
        .filter(|b| b.kind == kind && b.line == line)
        .map(|b| b.rows)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{kind:?} at line {line}: {:?}",
        coverage.branches
    );
    found[0]
}

#[test]
fn population_counts_equal_the_branch_conditions_recomputed_from_the_input() {
    let root = repo();
    let pipeline = Pipeline::load(&root.join(PIPELINE)).unwrap();
    let source = Source::open(&pipeline.input.path, &pipeline.input.rename).unwrap();
    let (plan, _) = Plan::build(&pipeline, &source, EngineChoice::Auto).unwrap();
    let input = read_parquet(&root.join("testdata/customers.parquet"));
    let tally = Tally::new(plan.scorer.rules());
    let scored = plan.scorer.score_counted(
        &input,
        &Ranked::default(),
        Sharing::Slices,
        Some(&tally),
        None,
    );
    let coverage = tally.finish();
    let rule = |name: &str| coverage.iter().find(|c| c.rule == name).unwrap();
    let code = |file: &str| std::fs::read_to_string(root.join("rules").join(file)).unwrap();

    // The rows each rule saw: not rejected by a step before it.
    let before = |step: &str| -> Vec<bool> {
        let order: Vec<&str> = std::iter::once("id")
            .chain(CUSTOMER_VALUE_FACTORS)
            .collect();
        let at = order.iter().position(|s| *s == step).unwrap();
        let mut seen = vec![true; input.num_rows()];
        for reject in &scored.rejects {
            if order[..at].contains(&reject.step.as_str()) {
                seen[reject.row] = false;
            }
        }
        seen
    };

    // risk: `if bad_debt` and `if litigation`, each without else.
    let risk = rule("risk");
    let seen = before("risk");
    let count = |column: &BooleanArray| {
        (0..input.num_rows())
            .filter(|&r| seen[r] && column.is_valid(r) && column.value(r))
            .count() as u64
    };
    let bad_debt = count(input.column_by_name("bad_debt").unwrap().as_boolean());
    let litigation = count(input.column_by_name("litigation").unwrap().as_boolean());
    assert!(bad_debt > 0 && litigation > 0, "the example has both");
    let risk_code = code("risk.rhai");
    assert_eq!(
        taken(risk, BranchKind::If, line_of(&risk_code, "let share")),
        bad_debt
    );
    assert_eq!(
        taken(
            risk,
            BranchKind::If,
            line_of(&risk_code, "penalty -= 30.0;")
        ),
        litigation
    );
    assert_eq!(risk.rows, seen.iter().filter(|s| **s).count() as u64);

    // referral: advocates are those with 5 or more referrals.
    let referral = rule("referral");
    let seen = before("referral");
    let referrals = input
        .column_by_name("referrals")
        .unwrap()
        .as_primitive::<Int64Type>();
    let advocates = (0..input.num_rows())
        .filter(|&r| seen[r] && referrals.is_valid(r) && referrals.value(r) >= 5)
        .count() as u64;
    let referral_code = code("referral.rhai");
    let line = line_of(&referral_code, "advocate: referred");
    assert_eq!(taken(referral, BranchKind::If, line), advocates);
    let others = (0..input.num_rows())
        .filter(|&r| seen[r] && referrals.is_valid(r) && referrals.value(r) < 5)
        .count() as u64;
    assert_eq!(
        taken(
            referral,
            BranchKind::Else,
            line_of(&referral_code, "} else {") + 1
        ),
        others
    );

    // loyalty: lapsed customers (no order for more than 365 days) return early.
    let loyalty = rule("loyalty");
    let seen = before("loyalty");
    let as_of = (chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as i32;
    let last = input
        .column_by_name("last_order_date")
        .unwrap()
        .as_primitive::<Date32Type>();
    let lapsed = (0..input.num_rows())
        .filter(|&r| seen[r] && last.is_valid(r) && as_of - last.value(r) > 365)
        .count() as u64;
    assert!(lapsed > 0);
    let loyalty_code = code("loyalty.rhai");
    assert_eq!(
        taken(
            loyalty,
            BranchKind::Return,
            line_of(&loyalty_code, "return #{")
        ),
        lapsed
    );

    // margin: customers whose cost to serve exceeds their gross margin.
    let margin = rule("margin");
    let seen = before("margin");
    let f = |name: &str| {
        input
            .column_by_name(name)
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone()
    };
    let (revenue, rate, cost) = (f("revenue_12m"), f("gross_margin_rate"), f("cost_to_serve"));
    let losing = (0..input.num_rows())
        .filter(|&r| {
            seen[r]
                && revenue.is_valid(r)
                && rate.is_valid(r)
                && cost.is_valid(r)
                && revenue.value(r) * rate.value(r) - cost.value(r) < 0.0
        })
        .count() as u64;
    assert!(losing > 0);
    let margin_code = code("margin.rhai");
    let line = line_of(&margin_code, "if net_margin < 0.0") + 1;
    assert_eq!(taken(margin, BranchKind::If, line), losing);
}

/// The example's population, counted in this process as `run` counts it.
fn population_coverage() -> Vec<RuleCoverage> {
    let root = repo();
    let pipeline = Pipeline::load(&root.join(PIPELINE)).unwrap();
    let source = Source::open(&pipeline.input.path, &pipeline.input.rename).unwrap();
    let (plan, _) = Plan::build(&pipeline, &source, EngineChoice::Auto).unwrap();
    let input = read_parquet(&root.join("testdata/customers.parquet"));
    let tally = Tally::new(plan.scorer.rules());
    plan.scorer.score_counted(
        &input,
        &Ranked::default(),
        Sharing::Slices,
        Some(&tally),
        None,
    );
    tally.finish()
}

#[test]
fn run_with_coverage_records_the_counts_in_the_manifest_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_example(dir.path());
    let result = run(
        dir.path(),
        &["run", PIPELINE, "--coverage", "--output", "out"],
    );
    assert_eq!(result.code, Some(0), "{}", result.stderr);
    let manifest = common::manifest(&dir.path().join("out"));
    let recorded: Vec<RuleCoverage> =
        serde_json::from_value(manifest["coverage"].clone()).expect("coverage in the manifest");
    let expected = population_coverage();
    assert_eq!(recorded.len(), expected.len());
    for (got, want) in recorded.iter().zip(&expected) {
        assert_eq!(got.rule, want.rule);
        assert_eq!(got.rows, want.rows, "{}", got.rule);
        assert_eq!(got.branches, want.branches, "{}", got.rule);
    }
    // The report shows every branch, dead ones marked.
    let page = std::fs::read_to_string(dir.path().join("out/_report.html")).unwrap();
    assert!(page.contains(r#"<section id="coverage">"#));
    let dead = recorded
        .iter()
        .flat_map(|r| &r.branches)
        .filter(|b| b.rows == 0)
        .count();
    assert_eq!(page.matches(r#"class="warn dead""#).count(), dead);
    // …over each rule's code, line by line, the lines holding a dead branch shaded.
    let dead_lines: std::collections::HashSet<(&str, usize)> = recorded
        .iter()
        .flat_map(|r| {
            r.branches
                .iter()
                .filter(|b| b.rows == 0)
                .map(move |b| (r.rule.as_str(), b.line))
        })
        .collect();
    assert_eq!(
        page.matches(r#"class="dead-line""#).count(),
        dead_lines.len()
    );
    let risk = recorded.iter().find(|r| r.rule == "risk").unwrap();
    let risk_code = std::fs::read_to_string(repo().join("rules/risk.rhai")).unwrap();
    assert_eq!(risk.script, risk_code.lines().collect::<Vec<_>>());
    for branch in &risk.branches {
        assert!(page.contains(&branch.code), "{}", branch.code);
    }

    // `tierscore report` renders the same page from the committed output alone.
    let rendered = run(dir.path(), &["report", "out"]);
    assert_eq!(rendered.code, Some(0), "{}", rendered.stderr);
    let again = std::fs::read_to_string(dir.path().join("out/_report.html")).unwrap();
    assert_eq!(again, page);

    // Without --coverage the manifest has no coverage and the report no such section.
    let plain = run(dir.path(), &["run", PIPELINE, "--output", "plain"]);
    assert_eq!(plain.code, Some(0), "{}", plain.stderr);
    assert!(common::manifest(&dir.path().join("plain"))
        .get("coverage")
        .is_none());
    let page = std::fs::read_to_string(dir.path().join("plain/_report.html")).unwrap();
    assert!(!page.contains(r#"id="coverage""#));
}
