//! Numbers for people are written alike everywhere (`src/human.rs`): counts with thousands
//! separators, values with at most three decimals, shares with one decimal and a `%`,
//! durations as values with an `s`. JSON keeps full precision.

mod common;

use common::*;

/// Checks that `line` is `before` followed by seconds written for people.
fn seconds_after(line: &str, before: &str) {
    let rest = line
        .strip_prefix(before)
        .unwrap_or_else(|| panic!("{line:?} does not start with {before:?}"));
    let figure = rest.strip_suffix('s').unwrap_or_else(|| panic!("{line}"));
    // Rounded already: at most three decimals (three significant digits below 0.1).
    let value: f64 = figure.parse().unwrap_or_else(|_| panic!("{line}"));
    assert_eq!(figure, tierscore::human::number(value), "{line}");
}

#[test]
fn run_gen_and_test_write_counts_shares_and_seconds_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let generated = run(
        dir,
        &["gen", "--rows", "1500", "--seed", "3", "--out", "c.parquet"],
    );
    generated.expect_code(0);
    seconds_after(
        generated.stdout.trim_end(),
        "wrote 1,500 customers to c.parquet in ",
    );
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: alike
input: { path: c.parquet, id: customer_id }
factors:
  - { name: flat, expr: "1.0", weight: 1.0 }
tiers:
  levels:
    - { name: all, min: 0 }
    - { name: none }
output: { path: out }
"#,
    );
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(0);
    let lines: Vec<&str> = result.stdout.lines().collect();
    seconds_after(
        lines[0],
        "alike: 1,500 rows in, 1,500 scored, 0 rejected in ",
    );
    assert_eq!(
        lines[1..],
        [
            "  all                   1,500  100.0%",
            "  none                      0    0.0%",
            "output: out",
        ]
    );
}

#[test]
fn test_coverage_and_explain_write_shares_as_percentages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example(dir);
    let result = run(
        dir,
        &["test", "pipelines/customer_value.yaml", "--coverage"],
    );
    result.expect_code(0);
    let closing = result
        .stdout
        .lines()
        .find(|line| line.starts_with("test result: "))
        .unwrap();
    seconds_after(
        closing,
        "test result: ok. 28 passed; 0 failed; finished in ",
    );
    let coverage = result
        .stdout
        .lines()
        .find(|line| line.starts_with("coverage of "))
        .unwrap();
    assert!(
        coverage.starts_with("coverage of pipelines/customer_value.yaml: ")
            && coverage.ends_with(" branches taken by the test cases (100.0%)"),
        "{coverage}"
    );

    let explained = run(dir, &["explain", "pipelines/abc.yaml", "--id", "C00000001"]);
    explained.expect_code(0);
    assert!(
        explained
            .stdout
            .contains("\ntier          = B  (cumulative share up to 95.0%)\n"),
        "{}",
        explained.stdout
    );
}
