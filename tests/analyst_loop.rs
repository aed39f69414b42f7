//! The analyst's loop contract (docs/commands.md, "The analyst's loop"; docs/exit-codes.md):
//! `check` reports every problem of a pipeline and its rules at once, each with its exact code,
//! file, line, column and help, in text and JSON, exit 1 on an error; `test` runs the rule test
//! cases of `tests:` and `NAME.tests.yaml` like `cargo test`, expected against actual, exit 1 on a
//! failure; `explain` gives the numbers `run` writes for the customer, exactly, reads only the row
//! group that can hold the id, and exits 3 for an unknown id; `run --sample F --seed S` scores the
//! same rows for the same seed and records the sample, with usage errors (exit 2) for a seed
//! without a sample and a share outside 0..1.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;

use common::*;
use serde_json::{json, Value};
use tierscore::human::number;

const PIPELINE: &str = "pipelines/customer_value.yaml";
const TESTS_FILE: &str = "pipelines/customer_value.tests.yaml";

/// Replaces the one occurrence of `old` in `path` with `new`.
fn replace_once(path: &Path, old: &str, new: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(old).count(),
        1,
        "{old:?} is not in {} exactly once",
        path.display()
    );
    fs::write(path, text.replacen(old, new, 1)).unwrap();
}

/// The names of the cases in a tests file, in order.
fn case_names(path: &Path) -> Vec<String> {
    let spec: serde_yaml::Value = serde_yaml::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    spec["tests"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|case| case["name"].as_str().unwrap().to_string())
        .collect()
}

/// Every `file:line:col` in the `╭─[…]` headers of a miette text report, in order.
fn snippet_locations(stderr: &str) -> Vec<String> {
    stderr
        .split("╭─[")
        .skip(1)
        .map(|rest| rest[..rest.find(']').unwrap()].to_string())
        .collect()
}

/// The text of the last `  × ` line of stderr (the closing error).
fn last_error_line(stderr: &str) -> String {
    stderr
        .lines()
        .rfind(|l| l.starts_with("  × "))
        .unwrap_or_else(|| panic!("no `  × ` line in:\n{stderr}"))["  × ".len()..]
        .to_string()
}

/// Problems sorted by where they are, so the comparison does not depend on report order.
fn by_location(problems: &Value) -> Vec<Value> {
    let mut list = problems.as_array().unwrap().clone();
    list.sort_by_key(|p| {
        (
            p["file"].as_str().unwrap().to_string(),
            p["line"].as_u64(),
            p["column"].as_u64(),
        )
    });
    list
}

// ---------------------------------------------------------------------------------------------
// check

#[test]
fn check_accepts_the_shipped_pipeline() {
    let repo = repo();
    let text = run(&repo, &["check", PIPELINE]);
    text.expect_code(0);
    assert_eq!(
        text.stdout,
        "rule economic: compiled\nrule margin: compiled\nrule risk: compiled\n\
         rule loyalty: compiled\nrule referral: compiled\nrule strategic: compiled\n\
         check ok: pipelines/customer_value.yaml: 0 error(s), 0 warning(s)\n"
    );
    assert_eq!(text.stderr, "", "no problem is reported");

    let report = run(&repo, &["check", PIPELINE, "--format", "json"]);
    report.expect_code(0);
    let compiled_rules: Vec<Value> = CUSTOMER_VALUE_FACTORS
        .iter()
        .map(|name| json!({"name": name, "engine": "compiled", "because": null}))
        .collect();
    assert_eq!(
        parse_json_exact(&report.stdout),
        json!({
            "pipeline": "pipelines/customer_value.yaml",
            "ok": true,
            "errors": 0,
            "warnings": 0,
            "problems": [],
            "rules": compiled_rules,
        })
    );
    assert_eq!(report.stderr, "");
}

/// A pipeline with one problem of each kind the brief names, over the shipped customers.
fn write_broken_pipeline(dir: &Path) {
    fs::copy(
        repo().join("testdata/customers.parquet"),
        dir.join("customers.parquet"),
    )
    .unwrap();
    // Line 2: `revenu_12m` at column 9 and `cost_to_serv` at column 28; line 3: `hihg` at 15.
    write(
        dir,
        "value.rhai",
        "// value of a customer: revenue against the bar, less the cost to serve\n\
         let r = revenu_12m * 2.0 - cost_to_serv;\n\
         if r > params.hihg { 100.0 } else if r > params.high / 2 { 50.0 } else { 0.0 }\n",
    );
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: broken
input:
  path: customers.parquet
  id: customer_id
params:
  high: 1000
  unused_knob: 5
factors:
  - name: value
    script: value.rhai
    weight: 1.0
  - name: pull
    expr: "product_pull * 10"
    weight: 0.5
tiers:
  by: score
  levels:
    - { name: low, min: 10 }
    - { name: high, min: 50 }
    - { name: rest }
output:
  path: out
  columns: [regoin]
"#,
    );
}

#[test]
fn check_reports_every_problem_with_its_exact_location_and_help() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_broken_pipeline(dir);

    let result = run(dir, &["check", "p.yaml", "--format", "json"]);
    result.expect_code(1);
    let report = parse_json_exact(&result.stdout);
    assert_eq!(report["pipeline"], "p.yaml");
    assert_eq!(report["ok"], false);
    assert_eq!(report["errors"], 5);
    assert_eq!(report["warnings"], 2);
    let expected = json!([
        {
            "code": "pipeline::tier_order", "severity": "error",
            "message": "tier `high` (min 50) is not below tier `low` (min 10)",
            "file": "p.yaml", "line": 20, "column": 21,
            "help": "levels are tried top-down and the first match wins: list them from the highest `min` down",
        },
        {
            "code": "plan::unknown_column", "severity": "error",
            "message": "output column `regoin` is not a column of the input",
            "file": "p.yaml", "line": 24, "column": 13,
            "help": "did you mean `region`?",
        },
        {
            "code": "rules::compile", "severity": "error",
            "message": "`revenu_12m` is not a column, factor or variable here",
            "file": "value.rhai", "line": 2, "column": 9,
            "help": "did you mean `revenue_12m`?",
        },
        {
            "code": "rules::compile", "severity": "error",
            "message": "`cost_to_serv` is not a column, factor or variable here",
            "file": "value.rhai", "line": 2, "column": 28,
            "help": "did you mean `cost_to_serve`?",
        },
        {
            "code": "plan::unknown_param", "severity": "error",
            "message": "`params.hihg` is not defined in the pipeline",
            "file": "value.rhai", "line": 3, "column": 15,
            "help": "did you mean `params.high`?",
        },
        {
            "code": "plan::nullable", "severity": "warning",
            "message": "factors[1].expr: column `product_pull` can be null and is used without a default (at 1:1 of the expression)",
            "file": "p.yaml", "line": 14, "column": 5,
            "help": "a null makes the row fail; write `(product_pull ?? 0)` or test `product_pull == ()` first",
        },
        {
            "code": "plan::unused_param", "severity": "warning",
            "message": "param `unused_knob` is not used by any rule",
            "file": "p.yaml", "line": 8, "column": 3,
            "help": "remove it, or read it in a rule as `params.NAME`",
        },
    ]);
    assert_eq!(
        by_location(&report["problems"]),
        by_location(&expected),
        "the JSON report:\n{}",
        result.stdout
    );

    // The text report: the same problems in the same order, each at `[file:line:col]`.
    let text = run(dir, &["check", "p.yaml"]);
    text.expect_code(1);
    assert_eq!(
        text.stdout, "",
        "a failed check prints its report on stderr"
    );
    let json_locations: Vec<String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}:{}:{}",
                p["file"].as_str().unwrap(),
                p["line"],
                p["column"]
            )
        })
        .collect();
    assert_eq!(snippet_locations(&text.stderr), json_locations);
    let codes: Vec<&str> = text
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with("plan::") || l.starts_with("pipeline::") || l.starts_with("rules::")
        })
        .collect();
    let json_codes: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, json_codes);
    assert_eq!(
        text.stderr
            .lines()
            .filter(|l| l.starts_with("  ⚠ "))
            .count(),
        2,
        "two warnings:\n{}",
        text.stderr
    );
    assert_eq!(
        last_error_line(&text.stderr),
        "check failed: p.yaml: 5 error(s), 2 warning(s)"
    );
}

#[test]
fn check_reports_a_script_syntax_error_at_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_broken_pipeline(dir);
    write(dir, "value.rhai", "// broken\nlet x = revenue_12m *;\nx\n");
    write(
        dir,
        "p.yaml",
        "version: 1\nname: syntax\ninput: { path: customers.parquet, id: customer_id }\n\
         factors:\n  - { name: value, script: value.rhai, weight: 1.0 }\n\
         tiers:\n  levels:\n    - { name: top, min: 10 }\n    - { name: rest }\noutput: { path: out }\n",
    );
    let result = run(dir, &["check", "p.yaml", "--format", "json"]);
    result.expect_code(1);
    assert_eq!(
        parse_json_exact(&result.stdout),
        json!({
            "pipeline": "p.yaml", "ok": false, "errors": 1, "warnings": 0,
            "problems": [{
                "code": "rules::compile", "severity": "error", "message": "Unexpected ';'",
                "file": "value.rhai", "line": 2, "column": 22,
                "help": "fix the syntax at this position; docs/scripts.md lists the script API",
            }],
            "rules": [],
        })
    );
    let text = run(dir, &["check", "p.yaml"]);
    text.expect_code(1);
    assert_eq!(snippet_locations(&text.stderr), ["value.rhai:2:22"]);
    assert_eq!(text.headline(), "Unexpected ';'");
    assert_eq!(
        last_error_line(&text.stderr),
        "check failed: p.yaml: 1 error(s), 0 warning(s)"
    );
}

#[test]
fn check_reports_a_missing_input_at_input_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "value.rhai", "revenue_12m * 2.0\n");
    write(
        dir,
        "p.yaml",
        "version: 1\nname: missing\ninput:\n  path: nothere.parquet\n  id: customer_id\n\
         factors:\n  - { name: value, script: value.rhai, weight: 1.0 }\n\
         tiers:\n  levels:\n    - { name: top, min: 10 }\n    - { name: rest }\noutput: { path: out }\n",
    );
    let result = run(dir, &["check", "p.yaml", "--format", "json"]);
    result.expect_code(1);
    assert_eq!(
        parse_json_exact(&result.stdout),
        json!({
            "pipeline": "p.yaml", "ok": false, "errors": 1, "warnings": 0,
            "problems": [{
                "code": "check::input", "severity": "error",
                "message": "input nothere.parquet does not exist; names and types cannot be checked without it",
                "file": "p.yaml", "line": 4, "column": 3,
                "help": "input.path is relative to the pipeline file; check it, or generate data with `tierscore gen`",
            }],
            "rules": [],
        })
    );
    let text = run(dir, &["check", "p.yaml"]);
    text.expect_code(1);
    assert_eq!(snippet_locations(&text.stderr), ["p.yaml:4:3"]);
    assert_eq!(
        text.headline(),
        "input nothere.parquet does not exist; names and types cannot be checked without it"
    );
}

// ---------------------------------------------------------------------------------------------
// test

/// The closing line of a `test` report, checked up to its time, which must read as
/// `tierscore::human::seconds` writes it (`0.337s`).
fn assert_result_line(stdout: &str, prefix: &str) {
    let last = stdout.lines().last().unwrap_or_default();
    let seconds = last
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("the last line is not `{prefix}…`:\n{stdout}"));
    let number: f64 = seconds
        .strip_suffix('s')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a time in seconds: {last}"));
    assert_eq!(seconds, tierscore::human::seconds(number), "{last}");
}

#[test]
fn test_passes_the_shipped_cases() {
    let repo = repo();
    let result = run(&repo, &["test", PIPELINE]);
    result.expect_code(0);
    let names = case_names(&repo.join(TESTS_FILE));
    assert_eq!(names.len(), 28);
    let mut expected = vec![
        String::new(),
        "running 28 tests from pipelines/customer_value.yaml".to_string(),
    ];
    expected.extend(names.iter().map(|n| format!("test {n} ... ok")));
    expected.push(String::new());
    let lines: Vec<&str> = result.stdout.lines().collect();
    assert_eq!(
        lines[..lines.len() - 1],
        expected,
        "stdout:\n{}",
        result.stdout
    );
    assert_result_line(
        &result.stdout,
        "test result: ok. 28 passed; 0 failed; finished in ",
    );
    assert_eq!(result.stderr, "");
}

#[test]
fn test_reports_wrong_expectations_with_expected_and_actual() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example(dir);
    let cases = dir.join(TESTS_FILE);
    replace_once(
        &cases,
        "expect: { referral: 60.0, reasons: [] }",
        "expect: { referral: 65.0, reasons: [] }",
    );
    replace_once(
        &cases,
        "expect: { margin: -100.0, tier: low_value }",
        "expect: { margin: -100.0, tier: general }",
    );
    let deep_loss = "margin - a deep loss is capped at -100 and drags the customer to low value";
    let referrals = "referral - three referrals";

    let result = run(dir, &["test", PIPELINE]);
    result.expect_code(1);
    let stdout = &result.stdout;
    let names = case_names(&cases);
    for name in &names {
        let verdict = if name == deep_loss || name == referrals {
            "FAILED"
        } else {
            "ok"
        };
        let line = format!("\ntest {name} ... {verdict}\n");
        assert!(stdout.contains(&line), "no `{}` in:\n{stdout}", line.trim());
    }
    let failures = format!(
        "\nfailures:\n\
         \n---- {deep_loss} ----\n\
         \x20 field  expected  actual\n\
         \x20 tier   general   low_value\n\
         \n---- {referrals} ----\n\
         \x20 field     expected       actual\n\
         \x20 referral  65 ± 0.000001  60\n\
         \ntest result: FAILED. 26 passed; 2 failed; finished in "
    );
    assert!(stdout.contains(&failures), "stdout:\n{stdout}");
    assert_result_line(
        stdout,
        "test result: FAILED. 26 passed; 2 failed; finished in ",
    );
    assert!(
        result
            .stderr
            .trim_end()
            .ends_with("2 of 28 test cases failed"),
        "stderr:\n{}",
        result.stderr
    );
    assert_eq!(last_error_line(&result.stderr), "2 of 28 test cases failed");
}

#[test]
fn test_runs_the_pipelines_own_cases_and_reports_bad_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example(dir);
    // Two cases in the pipeline itself (no base_row there: every column the rules read is
    // given); one more in the tests file beside it.
    let pipeline = dir.join(PIPELINE);
    let mut text = fs::read_to_string(&pipeline).unwrap();
    text.push_str(
        r#"
tests:
  - name: own - a lapsed unrated customer with no margin scores 0 and is low value
    row: &lapsed
      customer_id: T1
      revenue_12m: 1000.0
      revenue_history: [1000.0, 1000.0]
      gross_margin_rate: 0.3
      cost_to_serve: 300.0
      bad_debt: false
      bad_debt_amount: 0.0
      litigation: false
      last_order_date: "2025-01-01"
      orders_12m: 0
      customer_since: "2010-01-01"
      referrals: 0
    expect:
      economic: 0.0
      margin: 0.0
      loyalty: 0.0
      score: 0.0
      tier: low_value
      reasons: ["loyalty: lapsed: no order for 669 days (win-back list)", "strategic: not rated by an account manager"]
  - name: own - an unknown expectation key
    row: *lapsed
    expect: { loyalti: 0.0 }
"#,
    );
    fs::write(&pipeline, text).unwrap();
    let mut cases = fs::read_to_string(dir.join(TESTS_FILE)).unwrap();
    cases.push_str(
        r#"
  - name: file - a row naming a column the input lacks
    row: { revenu_12m: 5.0 }
    expect: { economic: 0.0 }
"#,
    );
    fs::write(dir.join(TESTS_FILE), cases).unwrap();

    let result = run(dir, &["test", PIPELINE]);
    result.expect_code(1);
    let stdout = &result.stdout;
    assert!(
        stdout.starts_with(
            "\nrunning 31 tests from pipelines/customer_value.yaml\n\
             test own - a lapsed unrated customer with no margin scores 0 and is low value ... ok\n\
             test own - an unknown expectation key ... FAILED\n"
        ),
        "the pipeline's own cases come first:\n{stdout}"
    );
    assert!(stdout.contains("\ntest file - a row naming a column the input lacks ... FAILED\n"));
    assert!(
        stdout.contains(
            "\n---- own - an unknown expectation key ----\n\
             \x20 field    expected                                 actual\n\
             \x20 loyalti  a factor, score, tier, reasons or error  did you mean `loyalty`?\n"
        ),
        "stdout:\n{stdout}"
    );
    assert!(
        stdout.contains(
            "\n---- file - a row naming a column the input lacks ----\n\
             \x20 field  expected                      actual\n\
             \x20 row    a row of the input's columns  the input has no column `revenu_12m`; did you mean `revenue_12m`?\n"
        ),
        "stdout:\n{stdout}"
    );
    assert_result_line(
        stdout,
        "test result: FAILED. 29 passed; 2 failed; finished in ",
    );
    assert_eq!(last_error_line(&result.stderr), "2 of 31 test cases failed");
}

// ---------------------------------------------------------------------------------------------
// explain

/// One customer's row in a run's output.
struct OutputRow {
    tier: String,
    factors: HashMap<String, f64>,
    score: f64,
    reasons: Vec<String>,
}

/// Every row of a tier-partitioned output by id, and the ids of each tier in file order.
fn read_output(
    out: &Path,
    factors: &[String],
) -> (HashMap<String, OutputRow>, HashMap<String, Vec<String>>) {
    let mut rows = HashMap::new();
    let mut ids_by_tier = HashMap::new();
    for folder in listing(&out.join("scored"))
        .into_iter()
        .filter(|n| n.starts_with("tier="))
    {
        let tier = folder["tier=".len()..].to_string();
        let batch = read_parquet(&out.join("scored").join(&folder).join("part-00000.parquet"));
        let ids = texts(&batch, "customer_id");
        let scores = floats(&batch, "score");
        let reasons = string_lists(&batch, "reasons");
        let values: Vec<Vec<f64>> = factors.iter().map(|f| floats(&batch, f)).collect();
        for (i, id) in ids.iter().enumerate() {
            rows.insert(
                id.clone(),
                OutputRow {
                    tier: tier.clone(),
                    factors: factors
                        .iter()
                        .zip(&values)
                        .map(|(f, v)| (f.clone(), v[i]))
                        .collect(),
                    score: scores[i],
                    reasons: reasons[i].clone(),
                },
            );
        }
        ids_by_tier.insert(tier, ids);
    }
    (rows, ids_by_tier)
}

#[test]
fn explain_gives_the_numbers_run_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let repo = repo();
    run(
        &repo,
        &[
            "--quiet",
            "run",
            PIPELINE,
            "--output",
            out.to_str().unwrap(),
        ],
    )
    .expect_code(0);

    // The pipeline and the input, read independently of tierscore.
    let spec: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(repo.join(PIPELINE)).unwrap()).unwrap();
    let (weights, levels) = weights_and_thresholds(&spec);
    let factor_names: Vec<String> = weights.iter().map(|(n, _)| n.clone()).collect();
    let input = read_parquet(&repo.join("testdata/customers.parquet"));
    let input_ids = texts(&input, "customer_id");
    let revenue = floats(&input, "revenue_12m");
    let margin_rate = floats(&input, "gross_margin_rate");
    let cost = floats(&input, "cost_to_serve");

    let (rows, ids_by_tier) = read_output(&out, &factor_names);
    let strategic = ids_by_tier["strategic"][0].clone();
    let loss_making = ids_by_tier["loss_making"][0].clone();
    let with_reasons = ids_by_tier["general"]
        .iter()
        .find(|id| rows[*id].reasons.len() >= 2)
        .expect("a general customer with reasons from two factors")
        .clone();

    for id in [&strategic, &loss_making, &with_reasons] {
        let row = &rows[id];
        let result = run(
            &repo,
            &["explain", PIPELINE, "--id", id, "--format", "json"],
        );
        result.expect_code(0);
        let e = parse_json_exact(&result.stdout);
        let row_number = input_ids.iter().position(|i| i == id).unwrap();
        assert_eq!(e["id"], id.as_str());
        assert_eq!(e["source_file"], "testdata/customers.parquet");
        assert_eq!(e["row_number"], row_number);
        assert_eq!(
            e["row_groups_read"], 1,
            "{id}: ids are sorted, one group can hold it"
        );
        assert_eq!(e["row_groups_total"], 4);
        assert_eq!(e["combine"], "weighted_sum");
        assert_eq!(e["rejected"], Value::Null);

        let factors = e["factors"].as_array().unwrap();
        let names: Vec<&str> = factors
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, factor_names, "{id}: every factor, in pipeline order");
        let mut sum = 0.0;
        let mut reasons = Vec::new();
        for (factor, (name, weight)) in factors.iter().zip(&weights) {
            let value = factor["value"].as_f64().unwrap();
            let contribution = factor["contribution"].as_f64().unwrap();
            assert_eq!(value, row.factors[name], "{id}: {name} as run wrote it");
            assert_eq!(factor["weight"].as_f64(), Some(*weight), "{id}: {name}");
            assert_eq!(contribution, value * weight, "{id}: {name} contribution");
            assert_eq!(contribution, row.factors[name] * weight);
            sum += contribution;
            if let Some(reason) = factor["reason"].as_str() {
                reasons.push(format!("{name}: {reason}"));
            }
        }
        assert_eq!(reasons, row.reasons, "{id}: reasons as run wrote them");
        let score = e["score"].as_f64().unwrap();
        assert_eq!(score, row.score, "{id}: score as run wrote it");
        assert!((sum - score).abs() <= 1e-9, "{id}: {sum} != {score}");

        // The inputs are the customer's values in the input file.
        let inputs = &factors[1]["inputs"];
        assert_eq!(
            *inputs,
            json!({
                "revenue_12m": revenue[row_number],
                "gross_margin_rate": margin_rate[row_number],
                "cost_to_serve": cost[row_number],
            }),
            "{id}: margin's inputs"
        );

        let tier = &e["tier"];
        let level = levels.iter().position(|(n, _)| *n == row.tier).unwrap();
        assert_eq!(
            tier["name"],
            row.tier.as_str(),
            "{id}: tier as run wrote it"
        );
        assert_eq!(tier["min"].as_f64(), levels[level].1);
        if level == 0 {
            assert_eq!(tier["next_up"], Value::Null, "{id}: the top tier");
        } else {
            let (above, min) = &levels[level - 1];
            let min = min.unwrap();
            assert_eq!(tier["next_up"]["name"], above.as_str());
            assert_eq!(tier["next_up"]["min"].as_f64(), Some(min));
            assert_eq!(tier["next_up"]["gap"].as_f64(), Some(min - score));
        }

        // The text format: every factor with its value x weight = contribution and `reads`.
        let text = run(&repo, &["explain", PIPELINE, "--id", id]);
        text.expect_code(0);
        let lines: Vec<&str> = text.stdout.lines().collect();
        assert_eq!(
            lines[0],
            format!("customer {id} (testdata/customers.parquet, row {row_number}; read 1 of 4 row groups)")
        );
        for factor in factors {
            let name = factor["name"].as_str().unwrap();
            // Rounded for people (the JSON above has full precision).
            let head = format!(
                "{name:<9} = {}  x {} = {}",
                number(factor["value"].as_f64().unwrap()),
                number(factor["weight"].as_f64().unwrap()),
                number(factor["contribution"].as_f64().unwrap())
            );
            let at = lines
                .iter()
                .position(|l| *l == head)
                .unwrap_or_else(|| panic!("no line `{head}` in:\n{}", text.stdout));
            let block: Vec<&str> = lines[at + 1..]
                .iter()
                .take_while(|l| l.starts_with("  "))
                .copied()
                .collect();
            assert!(block[0].starts_with("  reads  "), "{name}: {block:?}");
            let read: BTreeSet<&str> = block
                .iter()
                .filter(|l| !l.starts_with("  reason "))
                .map(|l| l[9..].split(" = ").next().unwrap())
                .collect();
            let wanted: BTreeSet<&str> = factor["inputs"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(read, wanted, "{id}: {name} reads");
            let reason: Vec<String> = block
                .iter()
                .filter_map(|l| l.strip_prefix("  reason "))
                .map(str::to_string)
                .collect();
            let json_reason: Vec<String> = factor["reason"]
                .as_str()
                .map(str::to_string)
                .into_iter()
                .collect();
            assert_eq!(reason, json_reason, "{id}: {name} reason");
        }
        assert!(
            lines.contains(
                &format!(
                    "score     = {}  (weighted sum of the contributions)",
                    number(score)
                )
                .as_str()
            ),
            "{}",
            text.stdout
        );
        let rule = match levels[level].1 {
            Some(min) => format!("score >= {}", number(min)),
            None => "the catch-all level".to_string(),
        };
        assert!(
            lines.contains(&format!("tier      = {}  ({rule})", row.tier).as_str()),
            "{}",
            text.stdout
        );
        let next = if level == 0 {
            "            the top tier".to_string()
        } else {
            let (above, min) = &levels[level - 1];
            let min = min.unwrap();
            format!(
                "            {} below {above} (min {})",
                number(min - score),
                number(min)
            )
        };
        // No figure in the text has more than a few decimals.
        for word in text.stdout.split([' ', '(', ')', ',', '[', ']']) {
            if let Some((whole, decimals)) = word.split_once('.') {
                if whole.trim_start_matches('-').parse::<u64>().is_ok()
                    && decimals.chars().all(|c| c.is_ascii_digit())
                {
                    assert!(decimals.len() <= 6, "{word} in:\n{}", text.stdout);
                }
            }
        }
        assert_eq!(
            lines.last().copied(),
            Some(next.as_str()),
            "{}",
            text.stdout
        );
    }
}

#[test]
fn explain_of_an_unknown_id_exits_3() {
    let result = run(
        &repo(),
        &["explain", PIPELINE, "--id", "C09999999", "--format", "json"],
    );
    result.expect_code(3);
    assert_eq!(result.stdout, "");
    assert_eq!(
        result.headline(),
        "no customer with customer_id = \"C09999999\" in the input's 1 file(s) and 4 row group(s)"
    );
    assert_eq!(
        result.help(),
        "ids are matched as text; check the id, or the input.path of the pipeline"
    );
}

#[test]
fn explain_reads_only_the_row_group_that_can_hold_the_id() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example(dir);
    gen(dir, "testdata/big.parquet", 20_000, 5, 1000);
    let big = dir.join("pipelines/big.yaml");
    fs::copy(dir.join(PIPELINE), &big).unwrap();
    replace_once(
        &big,
        "path: ../testdata/customers.parquet",
        "path: ../testdata/big.parquet",
    );

    let result = run(
        dir,
        &[
            "explain",
            "pipelines/big.yaml",
            "--id",
            "C00019500",
            "--format",
            "json",
        ],
    );
    result.expect_code(0);
    let e = parse_json_exact(&result.stdout);
    assert_eq!(e["source_file"], "testdata/big.parquet");
    assert_eq!(e["row_number"], 19_499);
    assert_eq!(e["row_groups_total"], 20);
    assert_eq!(
        e["row_groups_read"], 1,
        "statistics rule out 19 of the 20 groups"
    );

    let text = run(dir, &["explain", "pipelines/big.yaml", "--id", "C00019500"]);
    text.expect_code(0);
    assert_eq!(
        text.stdout.lines().next(),
        Some("customer C00019500 (testdata/big.parquet, row 19499; read 1 of 20 row groups)")
    );
}

// ---------------------------------------------------------------------------------------------
// run --sample --seed

/// The ids of an output (every tier), and the rows it rejected.
fn output_ids(out: &Path) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    for folder in listing(&out.join("scored"))
        .into_iter()
        .filter(|n| n.starts_with("tier="))
    {
        ids.extend(texts(
            &read_parquet(&out.join("scored").join(folder).join("part-00000.parquet")),
            "customer_id",
        ));
    }
    let rejected = read_parquet(&out.join("rejects/part-00000.parquet")).num_rows();
    (ids, rejected)
}

/// Runs the shipped pipeline with `--sample 0.1 --seed SEED` into `out` (relative to the repo
/// or absolute).
fn sample_run(out: &Path, seed: &str, extra: &[&str]) {
    let mut args = vec![
        "--quiet",
        "run",
        PIPELINE,
        "--sample",
        "0.1",
        "--seed",
        seed,
        "--output",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    run(&repo(), &args).expect_code(0);
}

/// The rows (0-based, in the input) of a sample's ids.
fn sampled_rows(out: &Path) -> BTreeSet<usize> {
    let input = texts(
        &read_parquet(&repo().join("testdata/customers.parquet")),
        "customer_id",
    );
    let row_of: HashMap<&str, usize> = input
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    output_ids(out)
        .0
        .iter()
        .map(|id| row_of[id.as_str()])
        .collect()
}

#[test]
fn sample_is_the_same_for_the_same_seed_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    sample_run(&a, "7", &[]);
    sample_run(&b, "7", &["--threads", "1"]);

    // Identical output: the same files with the same rows (only the run id differs).
    let files = |out: &Path| -> Vec<String> {
        listing(&out.join("scored"))
            .into_iter()
            .filter(|n| n.starts_with("tier="))
            .map(|n| format!("scored/{n}/part-00000.parquet"))
            .chain(["rejects/part-00000.parquet".to_string()])
            .collect()
    };
    assert_eq!(files(&a), files(&b));
    for file in files(&a) {
        assert_eq!(run_data(&a.join(&file)), run_data(&b.join(&file)), "{file}");
    }
    let (ma, mb) = (manifest(&a), manifest(&b));
    assert_eq!(ma["rows"], mb["rows"]);
    assert_eq!(output_figures(&ma["output"]), output_figures(&mb["output"]));

    // The manifest counts the sampled rows and records the sample.
    let (ids, rejected) = output_ids(&a);
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "no customer twice");
    let sampled = (ids.len() + rejected) as u64;
    assert_eq!(ma["rows"]["input"], sampled);
    assert_eq!(ma["rows"]["scored"], ids.len() as u64);
    assert_eq!(ma["rows"]["rejected"], rejected as u64);
    assert!(
        (150..=250).contains(&sampled),
        "about 10% of 2000 rows, got {sampled}"
    );
    assert_eq!(ma["sample"], json!({"fraction": 0.1, "seed": 7}));
    assert_eq!(ma["limit"], Value::Null);
    assert_eq!(
        ma["inputs"][0]["rows"], 2000,
        "the input is still named in full"
    );

    // Another seed, other customers.
    sample_run(&c, "8", &[]);
    assert_eq!(manifest(&c)["sample"], json!({"fraction": 0.1, "seed": 8}));
    let (seven, eight) = (sampled_rows(&a), sampled_rows(&c));
    assert_ne!(seven, eight, "seed 8 picks other customers than seed 7");
    let both = seven.intersection(&eight).count();
    assert!(
        both < seven.len() / 2,
        "seeds 7 and 8 share {both} of {} customers",
        seven.len()
    );
}

/// Samples of different seeds are independent draws: of 40,000 rows each 10% sample holds about
/// 4,000, and any two share about 10% of their rows (400, standard deviation about 19; the
/// bounds are about four of those). A seed that only relabelled or shifted the rows of another
/// would share far more or far fewer.
#[test]
fn different_seeds_draw_unrelated_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 40_000, 3, 10_000);
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: sampled
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: orders, expr: "orders_12m * 1.0", weight: 1.0 }
tiers:
  levels:
    - { name: all }
output: { path: out, partition_by: none }
"#,
    );
    let sample = |seed: &str| -> BTreeSet<String> {
        let out = format!("out-{seed}");
        run(
            dir,
            &[
                "--quiet", "run", "p.yaml", "--sample", "0.1", "--seed", seed, "--output", &out,
            ],
        )
        .expect_code(0);
        let ids = texts(
            &read_parquet(&dir.join(&out).join("scored/part-00000.parquet")),
            "customer_id",
        );
        let set: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(set.len(), ids.len());
        assert!(
            (3_800..=4_200).contains(&set.len()),
            "seed {seed}: {} of 40,000 rows",
            set.len()
        );
        set
    };
    let samples: Vec<(&str, BTreeSet<String>)> =
        ["7", "8", "9"].iter().map(|s| (*s, sample(s))).collect();
    for (i, (seed_a, a)) in samples.iter().enumerate() {
        for (seed_b, b) in &samples[i + 1..] {
            let shared = a.intersection(b).count() as f64 / a.len() as f64;
            assert!(
                (0.08..=0.12).contains(&shared),
                "seeds {seed_a} and {seed_b} share {:.1}% of their rows, not about 10%",
                100.0 * shared
            );
        }
    }
}

#[test]
fn sample_usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let repo = repo();

    let seed_alone = run(
        &repo,
        &[
            "run",
            PIPELINE,
            "--seed",
            "7",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    seed_alone.expect_code(2);
    assert!(
        seed_alone.stderr.starts_with(
            "error: the following required arguments were not provided:\n  --sample <FRACTION>\n"
        ),
        "{}",
        seed_alone.stderr
    );

    let too_large = run(
        &repo,
        &[
            "run",
            PIPELINE,
            "--sample",
            "1.5",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    too_large.expect_code(2);
    assert!(
        too_large.stderr.starts_with(
            "error: invalid value '1.5' for '--sample <FRACTION>': 1.5 is not a share between 0 and 1, such as 0.01\n"
        ),
        "{}",
        too_large.stderr
    );
    assert!(!out.exists(), "a usage error writes nothing");
    assert_eq!(listing(tmp.path()), Vec::<String>::new());
}

/// With `output.reasons: false` the rules' reasons are not gathered, but nothing else changes:
/// `run` writes the shipped run's rows without the reasons column, and `test` and `explain`,
/// which show reasons, still get them.
#[test]
fn without_reasons_in_the_output_the_rows_are_the_same_and_test_and_explain_keep_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    copy_example(tmp.path());
    let pipeline = tmp.path().join(PIPELINE);
    let shipped = fs::read_to_string(&pipeline).unwrap();
    let plain = shipped.replace("  reasons: true", "  reasons: false");
    assert_ne!(plain, shipped, "the shipped pipeline writes reasons");
    fs::write(&pipeline, plain).unwrap();

    let with_reasons = tmp.path().join("with");
    let without = tmp.path().join("without");
    for (dir, out) in [
        (repo(), &with_reasons),
        (tmp.path().to_path_buf(), &without),
    ] {
        run(
            &dir,
            &[
                "--quiet",
                "run",
                PIPELINE,
                "--output",
                out.to_str().unwrap(),
            ],
        )
        .expect_code(0);
    }
    let (with_files, without_files) = (output_data(&with_reasons), output_data(&without));
    assert_eq!(
        with_files.keys().collect::<Vec<_>>(),
        without_files.keys().collect::<Vec<_>>()
    );
    let mut rows = 0;
    for (file, batch) in &with_files {
        let mut expected = batch.clone();
        if let Ok(index) = expected.schema().index_of("reasons") {
            expected.remove_column(index);
        }
        assert_eq!(&expected, &without_files[file], "{file}");
        rows += batch.num_rows();
    }
    assert_eq!(rows, 2000);

    // The cases check reasons (they would fail on none), and explain shows them.
    let tested = run(tmp.path(), &["test", PIPELINE]);
    tested.expect_code(0);
    assert!(tested.stdout.contains(" 0 failed"), "{}", tested.stdout);
    let factors: Vec<String> = CUSTOMER_VALUE_FACTORS.map(String::from).to_vec();
    let (written, _) = read_output(&with_reasons, &factors);
    let (id, row) = written
        .iter()
        .find(|(_, row)| row.reasons.len() >= 2)
        .expect("a customer with reasons from two factors");
    let explained = run(
        tmp.path(),
        &["explain", PIPELINE, "--id", id, "--format", "json"],
    );
    explained.expect_code(0);
    let e = parse_json_exact(&explained.stdout);
    let reasons: Vec<String> = e["factors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| {
            Some(format!(
                "{}: {}",
                f["name"].as_str()?,
                f["reason"].as_str()?
            ))
        })
        .collect();
    assert_eq!(&reasons, &row.reasons, "{id}");
}

/// The tier rule `explain` prints: a pipeline of one unbounded level said the tier was
/// "named by the tier script" though it has none; a tier script naming one of two levels
/// says so.
#[test]
fn explain_names_the_tier_rule_of_one_level_and_of_a_tier_script() {
    use arrow::array::{Float64Array, StringArray};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let batch = arrow::array::RecordBatch::try_from_iter(vec![
        ("id", arc(StringArray::from(vec!["a", "b"]))),
        ("x", arc(Float64Array::from(vec![1.0, 20.0]))),
    ])
    .unwrap();
    write_parquet(&dir.join("data.parquet"), &batch);
    let pipeline = |tiers: &str| {
        format!(
            "version: 1\nname: one\ninput: {{ path: data.parquet, id: id }}\nfactors:\n  - \
             {{ name: fx, expr: \"x * 1.0\", weight: 1.0 }}\ntiers:\n{tiers}output: {{ path: \
             out, partition_by: none }}\n"
        )
    };
    write(
        dir,
        "one.yaml",
        &pipeline("  levels:\n    - { name: all }\n"),
    );
    write(
        dir,
        "big.rhai",
        "if score > 10.0 { \"big\" } else { \"small\" }\n",
    );
    write(
        dir,
        "scripted.yaml",
        &pipeline("  script: big.rhai\n  levels:\n    - { name: big }\n    - { name: small }\n"),
    );
    let tier_line = |yaml: &str, id: &str| {
        let result = run(dir, &["explain", yaml, "--id", id]);
        result.expect_code(0);
        result
            .stdout
            .lines()
            .find(|l| l.starts_with("tier "))
            .unwrap_or_else(|| panic!("no tier line in:\n{}", result.stdout))
            .to_string()
    };
    assert_eq!(tier_line("one.yaml", "a"), "tier  = all  (the only level)");
    assert_eq!(
        tier_line("scripted.yaml", "b"),
        "tier  = big  (named by the tier script)"
    );
    assert_eq!(
        tier_line("scripted.yaml", "a"),
        "tier  = small  (named by the tier script)"
    );
}
