//! Bad values on the command line and names too long for a file system are refused before any
//! row is read: `--set` of the wrong type (exit 2), long tier and output names (exit 1), and an
//! absurd `--threads` is capped with a warning.

use crate::common::*;
use crate::{pipeline, plain};

#[test]
fn a_set_value_of_the_wrong_type_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline(
        dir,
        r#"expr: "orders_12m * params.k""#,
        "{ k: 2.0, flag: true, list: [1] }",
        "{}",
    );
    let before = snapshot(dir);
    for (set, expected, help) in [
        ("k=abc", "a number", "give a number, e.g. --set k=250000"),
        // The manifest writes params as JSON, where an infinity or NaN becomes null.
        (
            "k=.inf",
            "a finite number",
            "give a finite number, e.g. --set k=250000",
        ),
        (
            "k=.nan",
            "a finite number",
            "give a finite number, e.g. --set k=250000",
        ),
        (
            "flag=yes please",
            "a boolean",
            "give a boolean, e.g. --set flag=true",
        ),
        (
            "list=1",
            "a list",
            "--set cannot set a list; edit the pipeline file instead",
        ),
    ] {
        let result = run(dir, &["run", "p.yaml", "--set", set]);
        result.expect_code(2);
        let (key, value) = set.split_once('=').unwrap();
        assert_eq!(
            result.headline(),
            format!(
                "--set {set}: param `{key}` is {expected} in the pipeline, and `{value}` is not"
            )
        );
        assert_eq!(result.help(), help);
    }
    assert_eq!(snapshot(dir), before, "no row read, nothing written");
}

#[test]
fn an_overlong_tier_name_is_refused_at_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let long = "t".repeat(300);
    let yaml = std::fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(
        dir,
        "p.yaml",
        &yaml.replace("name: low", &format!("name: {long}")),
    );
    let before = snapshot(dir);
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(1);
    assert!(
        result
            .stderr
            .contains("tier name `tttttttttttttttttttt…` is 300 bytes long, more than 100"),
        "{}",
        result.stderr
    );
    // The previous output and every other file as they were.
    assert_eq!(snapshot(dir), before);
    assert!(dir.join("out/_manifest.json").exists());
}

#[test]
fn an_overlong_output_name_is_refused_at_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    let long = "o".repeat(230);
    let yaml = std::fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(
        dir,
        "p.yaml",
        &yaml.replace("path: out", &format!("path: {long}")),
    );
    let result = run(dir, &["check", "p.yaml"]);
    result.expect_code(1);
    assert!(
        result
            .stderr
            .contains("the output folder's name is 230 bytes long, more than 200"),
        "{}",
        result.stderr
    );
}

#[test]
fn too_many_threads_are_capped_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    let result = run(dir, &["run", "p.yaml", "--threads", "65535"]);
    result.expect_code(0);
    let cores = std::thread::available_parallelism().unwrap().get();
    assert!(
        result.stderr.contains(&format!(
            "--threads 65535 is more than 4 per core; using {} ({cores} cores)",
            cores * 4
        )),
        "{}",
        result.stderr
    );
    assert_eq!(manifest(&dir.join("out"))["threads"], cores * 4);
}

/// A param holding an infinity or NaN (`.inf`, `.nan`, also inside a list) is refused where it
/// is written: the manifest records params as JSON, which writes them as null, so the run could
/// be neither told nor repeated (a review's find: `.inf` committed with `"k": null`).
#[test]
fn a_param_that_is_not_finite_is_refused_where_it_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (params, line) in [("{ k: .inf }", 4), ("{ k: 2.0, cuts: [1, .nan] }", 4)] {
        pipeline(dir, r#"expr: "orders_12m * 1.0""#, params, "{}");
        let result = run(dir, &["check", "p.yaml"]);
        result.expect_code(1);
        let key = if params.contains("cuts") { "cuts" } else { "k" };
        assert_eq!(
            result.headline(),
            format!("param `{key}` holds an infinity or NaN")
        );
        assert!(result.stderr.contains("pipeline::param_not_finite"));
        assert!(
            result.stderr.contains(&format!("p.yaml:{line}:")),
            "{}",
            result.stderr
        );
    }
}

/// A negative number given to a numeric option is that option's value, refused as what it is
/// ("invalid digit"), and a negative id is an id: clap took `-1` for an unknown flag and
/// suggested `-- -1`, which does not work for an option's value.
#[test]
fn negative_numbers_are_values_of_the_option_they_follow() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    for (args, option) in [
        (&["run", "p.yaml", "--limit", "-1"][..], "'--limit <N>'"),
        (
            &["run", "p.yaml", "--sample", "0.5", "--seed", "-1"],
            "'--seed <SEED>'",
        ),
        (
            &["gen", "--rows", "-5", "--out", "g.parquet"],
            "'--rows <ROWS>'",
        ),
    ] {
        let result = run(dir, args);
        result.expect_code(2);
        assert!(
            result.stderr.starts_with("error: invalid value '-")
                && result
                    .stderr
                    .contains(&format!("for {option}: invalid digit found in string")),
            "{args:?}: {}",
            result.stderr
        );
    }
    let sample = run(dir, &["run", "p.yaml", "--sample", "-0.1"]);
    sample.expect_code(2);
    assert!(
        sample
            .stderr
            .starts_with("error: invalid value '-0.1' for '--sample <FRACTION>'"),
        "{}",
        sample.stderr
    );
    let explained = run(dir, &["explain", "p.yaml", "--id", "-3"]);
    explained.expect_code(3);
    assert!(
        explained
            .headline()
            .starts_with("no customer with customer_id = \"-3\""),
        "{}",
        explained.stderr
    );
}
