//! What a scheduler relies on: `--input` and `${param}` paths (checked by `check`), exit 4 for
//! "locked, retry later", JSON log lines whose fields are JSON values with a timestamp and the
//! run id on every line (text lines reading those values out for people), the `TIERSCORE_*`
//! environment variables, and no lock file left behind.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// A pipeline reading `lake/dt=${as_of}/` and writing `out/${as_of}`.
fn write_dated_pipeline(dir: &Path) {
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: dated
input: { path: "lake/dt=${as_of}/", id: customer_id }
params: { as_of: "2026-11-01" }
factors:
  - { name: value, expr: "orders_12m * 1.0", weight: 1.0 }
tiers:
  levels:
    - { name: many, min: 20 }
    - { name: few }
output: { path: "out/${as_of}" }
"#,
    );
}

/// Every stderr line parsed as JSON (each must be one object).
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

#[test]
fn params_in_paths_pick_the_partition_and_set_moves_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "lake/dt=2026-11-01/part.parquet", 30, 1, 30);
    gen(dir, "lake/dt=2026-12-01/part.parquet", 40, 2, 40);
    write_dated_pipeline(dir);

    run(dir, &["--quiet", "run", "p.yaml"]).expect_code(0);
    let first = manifest(&dir.join("out/2026-11-01"));
    assert_eq!(first["rows"]["input"], 30);
    assert_eq!(first["params_from_set"], json!([]));

    run(
        dir,
        &["--quiet", "run", "p.yaml", "--set", "as_of=2026-12-01"],
    )
    .expect_code(0);
    let m = manifest(&dir.join("out/2026-12-01"));
    assert_eq!(m["rows"]["input"], 40);
    assert_eq!(m["inputs"][0]["path"], "lake/dt=2026-12-01/part.parquet");
    // The manifest says which params --set gave, and records paths as given and absolute.
    assert_eq!(m["params_from_set"], json!(["as_of"]));
    assert_eq!(m["output"]["path"], "out/2026-12-01");
    let absolute = |relative: &str| {
        std::path::absolute(dir.join(relative))
            .unwrap()
            .display()
            .to_string()
    };
    assert_eq!(m["output"]["absolute_path"], absolute("out/2026-12-01"));
    assert_eq!(
        m["inputs"][0]["absolute_path"],
        absolute("lake/dt=2026-12-01/part.parquet")
    );
    assert_eq!(m["pipeline"]["path"], "p.yaml");
    assert_eq!(m["pipeline"]["absolute_path"], absolute("p.yaml"));
    // Another input, another fingerprint; the same input again, the same one.
    assert_ne!(m["input_fingerprint"], first["input_fingerprint"]);
    run(dir, &["--quiet", "run", "p.yaml", "--output", "again"]).expect_code(0);
    assert_eq!(
        manifest(&dir.join("again"))["input_fingerprint"],
        first["input_fingerprint"]
    );

    // `check --set` fills the paths as `run` does: a day without data is named.
    let missing = run(dir, &["check", "p.yaml", "--set", "as_of=2026-12-02"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("lake/dt=2026-12-02"),
        "{}",
        missing.stderr
    );
}

#[test]
fn input_overrides_the_pipeline_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "lake/dt=2026-11-01/part.parquet", 30, 1, 30);
    gen(dir, "elsewhere/today.parquet", 25, 3, 25);
    write_dated_pipeline(dir);

    run(
        dir,
        &["check", "p.yaml", "--input", "elsewhere/today.parquet"],
    )
    .expect_code(0);
    // `check` reads the input it is given, not the pipeline's: a missing one is named.
    let missing = run(
        dir,
        &["check", "p.yaml", "--input", "elsewhere/tomorrow.parquet"],
    );
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("elsewhere/tomorrow.parquet"),
        "{}",
        missing.stderr
    );
    run(
        dir,
        &[
            "--quiet",
            "run",
            "p.yaml",
            "--input",
            "elsewhere/today.parquet",
            "--output",
            "today",
        ],
    )
    .expect_code(0);
    let m = manifest(&dir.join("today"));
    assert_eq!(m["rows"]["input"], 25);
    assert_eq!(m["inputs"][0]["path"], "elsewhere/today.parquet");

    let absent = run(dir, &["run", "p.yaml", "--input", "nowhere.parquet"]);
    absent.expect_code(3);
    assert_eq!(absent.headline(), "input nowhere.parquet does not exist");
}

#[test]
fn check_reports_a_path_param_that_is_no_param_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_dated_pipeline(dir);
    let text = std::fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(dir, "p.yaml", &text.replace("dt=${as_of}", "dt=${asof}"));
    let result = run(dir, &["check", "p.yaml", "--format", "json"]);
    result.expect_code(1);
    let report: Value = serde_json::from_str(&result.stdout).unwrap();
    let problem = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "pipeline::path_param")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(
        problem["message"],
        "`input.path` reads `${asof}`, which is no param of the pipeline"
    );
    assert_eq!(problem["help"], "did you mean `as_of`?");
    assert_eq!(problem["file"], "p.yaml");
    assert_eq!(problem["line"], 3);
}

#[test]
fn a_locked_output_exits_4_and_leaves_no_lock_file_once_released() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "lake/dt=2026-11-01/part.parquet", 30, 1, 30);
    write_dated_pipeline(dir);
    run(dir, &["--quiet", "run", "p.yaml"]).expect_code(0);
    let target = dir.join("out/2026-11-01");
    let before = snapshot(&target);
    assert_eq!(listing(&dir.join("out")), ["2026-11-01"], "no lock file");

    // Another run (here, this test) holds the lock.
    let held = tierscore::sink::Staging::prepare(
        &tierscore::store::Location::Local(target.clone()),
        "holder",
    )
    .unwrap();
    let refused = run(dir, &["--log-format", "json", "run", "p.yaml"]);
    refused.expect_code(4);
    let lines = json_lines(&refused.stderr);
    let last = lines.last().unwrap();
    assert_eq!(last["exit_code"], 4);
    assert_eq!(last["code"], "sink::locked");
    assert_eq!(
        last["message"],
        "another tierscore command is writing out/2026-11-01"
    );
    assert_eq!(snapshot(&target), before);
    drop(held);

    run(dir, &["--quiet", "run", "p.yaml"]).expect_code(0);
    assert_eq!(listing(&dir.join("out")), ["2026-11-01"], "no lock file");
}

#[test]
fn json_logs_hold_json_values_with_a_timestamp_and_the_run_id_on_every_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "lake/dt=2026-11-01/part.parquet", 50, 1, 50);
    write_dated_pipeline(dir);
    // A param no rule reads gives a warning line before the closing line.
    let text = std::fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(
        dir,
        "p.yaml",
        &text.replace("params: {", "params: { unused: 1,"),
    );
    let result = run(dir, &["--log-format", "json", "run", "p.yaml"]);
    result.expect_code(0);
    assert_eq!(result.stdout, "", "nothing for people on stdout");
    let lines = json_lines(&result.stderr);
    assert!(lines.len() >= 2, "{}", result.stderr);
    let m = manifest(&dir.join("out/2026-11-01"));
    for line in &lines {
        assert_eq!(line["run_id"], m["run_id"], "{line}");
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok() && timestamp.ends_with('Z'),
            "{timestamp}"
        );
        assert!(line["level"].is_string() && line["message"].is_string());
    }
    assert_eq!(lines[0]["level"], "WARN");
    let last = lines.last().unwrap();
    assert_eq!(last["message"], "run committed");
    assert_eq!(last["rows_in"], 50);
    assert_eq!(last["scored"], 50);
    assert_eq!(last["rejected"], 0);
    assert!(last["seconds"].is_f64());
    let tiers: Vec<Value> = m["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!({"name": t["name"], "count": t["count"]}))
        .collect();
    assert_eq!(last["tiers"], Value::from(tiers));

    // An error line carries them too.
    let failed = run(dir, &["--log-format", "json", "run", "absent.yaml"]);
    failed.expect_code(1);
    let lines = json_lines(&failed.stderr);
    let error = lines.last().unwrap();
    assert_eq!(error["level"], "ERROR");
    assert!(error["run_id"].as_str().is_some_and(|id| id.len() > 16));
    assert!(error["timestamp"].is_string());
}

#[test]
fn tierscore_environment_variables_set_the_options_a_scheduler_sets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "lake/dt=2026-11-01/part.parquet", 30, 1, 30);
    write_dated_pipeline(dir);
    let output = tierscore(dir)
        .env("TIERSCORE_THREADS", "1")
        .env("TIERSCORE_LOG_FORMAT", "json")
        .args(["run", "p.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        json_lines(&stderr).last().unwrap()["message"],
        "run committed"
    );
    assert_eq!(manifest(&dir.join("out/2026-11-01"))["threads"], 1);

    // A flag wins over the variable; TIERSCORE_QUIET silences the run.
    let output = tierscore(dir)
        .env("TIERSCORE_THREADS", "1")
        .env("TIERSCORE_QUIET", "true")
        .args(["run", "p.yaml", "--threads", "2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
    assert_eq!(manifest(&dir.join("out/2026-11-01"))["threads"], 2);

    // A bad value is a usage error naming the variable.
    let output = tierscore(dir)
        .env("TIERSCORE_THREADS", "0")
        .args(["run", "p.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--threads"), "{stderr}");
}

/// docs/scheduling.md: `true`, `1`, `yes`, `on` turn quiet on; `false`, `0`, `no`, `off` or
/// empty leave it off, in any case. Only `true` and `false` were accepted: `TIERSCORE_QUIET=0`
/// failed every command with exit 2.
#[test]
fn tierscore_quiet_takes_the_documented_values_and_refuses_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "lake/dt=2026-11-01/part.parquet", 30, 1, 30);
    write_dated_pipeline(dir);
    let run_with = |value: &str| {
        let output = tierscore(dir)
            .env("TIERSCORE_QUIET", value)
            .args(["run", "p.yaml"])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    for value in ["true", "1", "yes", "on", "TRUE", "Yes", "oN"] {
        assert_eq!(
            run_with(value),
            (Some(0), String::new(), String::new()),
            "TIERSCORE_QUIET={value:?}"
        );
    }
    for value in ["false", "0", "no", "off", "", "FALSE", "No", "OFF"] {
        // The summary on stdout, the log on stderr.
        let (code, stdout, stderr) = run_with(value);
        assert_eq!(code, Some(0), "TIERSCORE_QUIET={value:?}");
        assert!(
            stdout.starts_with("dated: 30 rows in, 30 scored, 0 rejected in "),
            "TIERSCORE_QUIET={value:?}: {stdout}"
        );
        assert!(
            stderr.contains("run committed"),
            "TIERSCORE_QUIET={value:?}: {stderr}"
        );
    }
    for value in ["2", "maybe", "y", " true"] {
        assert_eq!(
            run_with(value),
            (
                Some(2),
                String::new(),
                format!(
                    "error: invalid value '{value}' for '--quiet': TIERSCORE_QUIET takes true, 1, \
                     yes or on to turn --quiet on, and false, 0, no, off or empty to leave it \
                     off\n\nFor more information, try '--help'.\n"
                )
            ),
            "TIERSCORE_QUIET={value:?}"
        );
    }
    // The flag needs no variable, and wins over a variable that leaves it off.
    let output = tierscore(dir)
        .env("TIERSCORE_QUIET", "0")
        .args(["--quiet", "run", "p.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
}

#[test]
fn tierscore_log_sets_the_log_filter_and_rust_log_stands_in_for_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "lake/dt=2026-11-01/part.parquet", 30, 1, 30);
    write_dated_pipeline(dir);
    let stderr_of = |vars: &[(&str, &str)]| {
        let mut command = tierscore(dir);
        command.env_remove("RUST_LOG").env_remove("TIERSCORE_LOG");
        for (name, value) in vars {
            command.env(name, value);
        }
        let output = command.args(["run", "p.yaml"]).output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8(output.stderr).unwrap()
    };
    assert!(stderr_of(&[]).contains("run committed"));
    assert_eq!(stderr_of(&[("TIERSCORE_LOG", "error")]), "");
    assert_eq!(stderr_of(&[("RUST_LOG", "error")]), "");
    assert!(
        stderr_of(&[("TIERSCORE_LOG", "info"), ("RUST_LOG", "error")]).contains("run committed")
    );
}

#[test]
fn text_logs_read_the_tiers_out_for_people() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "lake/dt=2026-11-01/part.parquet", 1500, 1, 1500);
    write_dated_pipeline(dir);
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(0);
    let m = manifest(&dir.join("out/2026-11-01"));
    let tiers: Vec<String> = m["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let count = tierscore::human::count(t["count"].as_u64().unwrap());
            format!("{} {count}", t["name"].as_str().unwrap())
        })
        .collect();
    let line = result
        .stderr
        .lines()
        .find(|line| line.contains("run committed"))
        .unwrap_or_else(|| panic!("{}", result.stderr));
    let (head, rest) = line.split_once(" seconds=").unwrap();
    assert_eq!(
        head,
        " INFO run committed pipeline=dated rows_in=1,500 scored=1,500 rejected=0 output=out/2026-11-01"
    );
    let (seconds, tail) = rest.split_once(' ').unwrap();
    let value: f64 = seconds.parse().unwrap();
    assert_eq!(
        seconds,
        tierscore::human::number(value),
        "rounded for people: {line}"
    );
    assert_eq!(tail, format!("tiers: {}", tiers.join(", ")));
    assert!(!result.stderr.contains("json."), "{}", result.stderr);
}

/// On a terminal (`script` gives the run one), the progress bar names each pass, counts the rows
/// of every pass in its length, and writes rates as whole rows a second with separators.
#[test]
fn the_progress_bar_names_each_pass_and_counts_rows_over_every_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rfm");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let command = format!(
        "{} run pipelines/rfm.yaml --output {}",
        env!("CARGO_BIN_EXE_tierscore"),
        out.display()
    );
    let output = std::process::Command::new("script")
        .current_dir(repo)
        .env_remove("RUST_LOG")
        .env_remove("TIERSCORE_LOG")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    // What the terminal showed, each redraw on a line, colours and cursor moves taken out.
    let shown = String::from_utf8(output.stdout)
        .unwrap()
        .replace('\r', "\n");
    let mut frames = Vec::new();
    for line in shown.lines() {
        let mut plain = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        if plain.contains(" rows (") {
            frames.push(plain.trim().to_string());
        }
    }
    assert!(
        frames.iter().any(|f| f.starts_with("pass 1/2 derive ")),
        "{frames:#?}"
    );
    let last = frames.last().unwrap();
    assert!(last.starts_with("pass 2/2 score "), "{last}");
    // 2,000 customers, two passes: 4,000 steps, the rate in whole rows with separators.
    assert!(last.contains("] 4,000/4,000 rows ("), "{last}");
    let rate = last.split(" rows (").nth(1).unwrap();
    let (rate, left) = rate.split_once(" rows/s, ").unwrap();
    assert!(
        rate.split(',').enumerate().all(|(i, group)| {
            group.chars().all(|c| c.is_ascii_digit()) && (i == 0 || group.len() == 3)
        }),
        "{last}"
    );
    assert_eq!(left, "0s left)", "{last}");
}
