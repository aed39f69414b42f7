//! `tierscore test --format json` and `--format junit`: machine-readable results for CI, each
//! parsed here (the JUnit XML with an XML parser), with the exit code of the text report.

mod common;

use std::path::Path;

use common::*;
use quick_xml::events::Event;
use quick_xml::XmlVersion;
use serde_json::Value;

/// A pipeline with two cases: one passes, one (with XML's special characters in its name)
/// expects the wrong value.
fn write_cases(dir: &Path) {
    gen(dir, "customers.parquet", 20, 1, 20);
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: cases
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: orders, expr: "orders_12m * 2.0", weight: 1.0 }
tiers:
  levels:
    - { name: many, min: 20 }
    - { name: few }
output: { path: out }
tests:
  - name: ten orders count twenty
    row: { orders_12m: 10 }
    expect: { orders: 20.0, tier: many }
  - name: three orders <are> "few" & small
    row: { orders_12m: 3 }
    expect: { orders: 7.0, tier: few }
"#,
    );
}

/// An element's attributes as (name, value) pairs, unescaped.
fn attributes(start: &quick_xml::events::BytesStart<'_>) -> Vec<(String, String)> {
    start
        .attributes()
        .map(|a| {
            let a = a.unwrap();
            (
                a.key.as_ref().to_string(),
                a.normalized_value(XmlVersion::Implicit1_0)
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

fn attribute<'a>(attributes: &'a [(String, String)], name: &str) -> &'a str {
    &attributes
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no attribute {name} in {attributes:?}"))
        .1
}

#[test]
fn junit_report_parses_and_names_the_failing_case() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_cases(dir);
    let result = run(dir, &["test", "p.yaml", "--format", "junit"]);
    result.expect_code(1);

    let mut reader = quick_xml::Reader::from_str(&result.stdout);
    let mut path: Vec<String> = Vec::new();
    let mut suites = Vec::new();
    let mut cases = Vec::new();
    let mut failures = Vec::new();
    let mut failure_text = String::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(start) | Event::Empty(start) if start.name().as_ref() == "testsuites" => {
                let a = attributes(&start);
                assert_eq!(attribute(&a, "tests"), "2");
                assert_eq!(attribute(&a, "failures"), "1");
                path.push("testsuites".into());
            }
            Event::Start(start) => {
                let name = start.name().as_ref().to_string();
                let a = attributes(&start);
                match name.as_str() {
                    "testsuite" => suites.push(a),
                    "testcase" => cases.push((a, true)),
                    "failure" => failures.push(a),
                    other => panic!("unexpected element {other}"),
                }
                path.push(name);
            }
            Event::Empty(start) => {
                assert_eq!(start.name().as_ref(), "testcase");
                cases.push((attributes(&start), false));
            }
            Event::Text(text) if path.last().is_some_and(|p| p == "failure") => {
                failure_text.push_str(&text.into_inner());
            }
            Event::GeneralRef(reference) if path.last().is_some_and(|p| p == "failure") => {
                let name = reference.into_inner();
                failure_text.push_str(match name.as_ref() {
                    "lt" => "<",
                    "gt" => ">",
                    "amp" => "&",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("entity {other}"),
                });
            }
            Event::End(end) => {
                assert_eq!(path.pop().as_deref(), Some(end.name().as_ref()));
            }
            _ => {}
        }
    }
    assert!(path.is_empty(), "every element closed");
    assert_eq!(suites.len(), 1);
    assert_eq!(attribute(&suites[0], "name"), "p.yaml");
    assert_eq!(attribute(&suites[0], "tests"), "2");
    assert_eq!(attribute(&suites[0], "failures"), "1");
    assert_eq!(cases.len(), 2);
    assert_eq!(attribute(&cases[0].0, "name"), "ten orders count twenty");
    assert!(!cases[0].1, "a passing case has no children");
    assert_eq!(
        attribute(&cases[1].0, "name"),
        r#"three orders <are> "few" & small"#
    );
    assert_eq!(attribute(&cases[1].0, "classname"), "p.yaml");
    assert_eq!(attribute(&cases[1].0, "file"), "p.yaml");
    assert_eq!(failures.len(), 1);
    assert_eq!(
        attribute(&failures[0], "message"),
        "1 expectation(s) did not hold"
    );
    assert!(
        failure_text.contains("orders: expected 7") && failure_text.contains("actual 6"),
        "{failure_text}"
    );
}

#[test]
fn json_report_lists_every_case_with_its_mismatches() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_cases(dir);
    let result = run(dir, &["test", "p.yaml", "--format", "json"]);
    result.expect_code(1);
    let report: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 1);
    let cases = report["pipelines"][0]["cases"].as_array().unwrap();
    assert_eq!(report["pipelines"][0]["pipeline"], "p.yaml");
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0]["ok"], true);
    assert_eq!(cases[0]["mismatches"], serde_json::json!([]));
    assert_eq!(cases[1]["ok"], false);
    assert_eq!(cases[1]["file"], "p.yaml");
    let mismatch = &cases[1]["mismatches"][0];
    assert_eq!(mismatch["field"], "orders");
    assert!(mismatch["actual"].as_str().unwrap().starts_with('6'));

    // All passing: exit 0 and ok.
    let text = std::fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(dir, "p.yaml", &text.replace("orders: 7.0", "orders: 6.0"));
    let result = run(dir, &["test", "p.yaml", "--format", "json"]);
    result.expect_code(0);
    let report: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["failed"], 0);
}

/// A negative or NaN tolerance failed every comparison with an expected value that seemed to
/// match (`3 ± -1`); now the case fails naming the tolerance itself (a review's find).
#[test]
fn a_tolerance_that_is_negative_or_nan_is_named_as_the_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 20, 1, 20);
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: tolerances
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: orders, expr: "orders_12m * 1.0", weight: 1.0 }
tiers:
  levels:
    - { name: all }
output: { path: out }
tests:
  - name: negative
    row: { orders_12m: 3 }
    tolerance: -1
    expect: { orders: 3.0 }
  - name: nan
    row: { orders_12m: 3 }
    expect: { orders: { value: 3.0, tolerance: .nan } }
  - name: fine
    row: { orders_12m: 3 }
    expect: { orders: { value: 3.5, tolerance: 0.5 } }
"#,
    );
    let result = run(dir, &["test", "p.yaml", "--format", "json"]);
    result.expect_code(1);
    let report: Value = serde_json::from_str(&result.stdout).unwrap();
    let cases = report["pipelines"][0]["cases"].as_array().unwrap();
    let mismatch = |case: usize| cases[case]["mismatches"][0].clone();
    assert_eq!(
        mismatch(0),
        serde_json::json!({"field": "tolerance", "expected": "a finite number of 0 or more", "actual": "-1"})
    );
    assert_eq!(
        mismatch(1),
        serde_json::json!({"field": "orders", "expected": "a tolerance that is a finite number of 0 or more", "actual": "NaN"})
    );
    assert_eq!(cases[2]["ok"], true);
}

/// A test row goes through JSON into the input's types: an infinity or NaN became null and 1.5
/// in an integer column became 1, so a case tested something else than it said (a review's
/// find). Both are now the case's mismatch, naming the column.
#[test]
fn a_row_value_the_input_cannot_take_is_named_as_the_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 20, 1, 20);
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: rows
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: value, expr: "orders_12m * 1.0 + revenue_12m", weight: 1.0 }
tiers:
  levels:
    - { name: all }
output: { path: out }
tests:
  - name: nan
    row: { orders_12m: 3, revenue_12m: .nan }
    expect: { value: 3.0 }
  - name: fractional orders
    row: { orders_12m: 1.5, revenue_12m: 1.0 }
    expect: { value: 2.5 }
  - name: an integer in a float column
    row: { orders_12m: 3, revenue_12m: 2 }
    expect: { value: 5.0 }
"#,
    );
    let result = run(dir, &["test", "p.yaml", "--format", "json"]);
    result.expect_code(1);
    let report: Value = serde_json::from_str(&result.stdout).unwrap();
    let cases = report["pipelines"][0]["cases"].as_array().unwrap();
    let actual = |case: usize| cases[case]["mismatches"][0]["actual"].clone();
    assert_eq!(
        actual(0),
        "`revenue_12m` holds an infinity or NaN, which a test row cannot give; test such values \
         with run on a file holding them"
    );
    assert_eq!(
        actual(1),
        "column `orders_12m` holds integers, and 1.5 is not one"
    );
    assert_eq!(cases[2]["ok"], true);
}

/// A decimal with more places than its column keeps was rounded into it (1.255 tested as
/// 1.26); it is now the case's mismatch. And a timestamp column with a named time zone
/// (`America/New_York`, as pandas writes them) failed every case of the pipeline, mentioned or
/// not, with arrow's "only offset based timezones supported without chrono-tz feature".
#[test]
fn decimals_beyond_their_scale_and_named_time_zones_in_test_rows() {
    use arrow::array::{Decimal128Array, Float64Array, StringArray, TimestampNanosecondArray};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let batch = arrow::array::RecordBatch::try_from_iter(vec![
        ("id", arc(StringArray::from(vec!["a"]))),
        ("x", arc(Float64Array::from(vec![1.0]))),
        (
            "d",
            arc(Decimal128Array::from(vec![125])
                .with_precision_and_scale(10, 2)
                .unwrap()),
        ),
        (
            "t",
            arc(TimestampNanosecondArray::from(vec![0]).with_timezone("America/New_York")),
        ),
    ])
    .unwrap();
    write_parquet(&dir.join("data.parquet"), &batch);
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: rows
input: { path: data.parquet, id: id }
factors:
  - { name: value, expr: "x * 2.0", weight: 1.0 }
tiers:
  levels:
    - { name: all }
output: { path: out }
tests:
  - name: two places
    row: { x: 1.5, d: 1.25 }
    expect: { value: 3.0 }
  - name: three places
    row: { x: 1.5, d: 1.255 }
    expect: { value: 3.0 }
  - name: trailing zeros and a string
    row: { x: 1.5, d: "1.2500" }
    expect: { value: 3.0 }
  - name: an exponent
    row: { x: 1.5, d: 1.5e-3 }
    expect: { value: 3.0 }
  - name: a time in its zone
    row: { x: 2.0, t: "2026-01-01T12:00:00-05:00" }
    expect: { value: 4.0 }
"#,
    );
    let result = run(dir, &["test", "p.yaml", "--format", "json"]);
    result.expect_code(1);
    let report: Value = serde_json::from_str(&result.stdout).unwrap();
    let cases = report["pipelines"][0]["cases"].as_array().unwrap();
    let ok: Vec<bool> = cases.iter().map(|c| c["ok"] == true).collect();
    assert_eq!(ok, [true, false, true, false, true], "{}", result.stdout);
    assert_eq!(
        cases[1]["mismatches"][0]["actual"],
        "column `d` keeps 2 decimal place(s), and 1.255 has 3; give a value the column holds \
         as written"
    );
    assert_eq!(
        cases[3]["mismatches"][0]["actual"],
        "column `d` keeps 2 decimal place(s), and 0.0015 has 4; give a value the column holds \
         as written"
    );
}
