//! `tierscore diff` end to end: two runs of the same input that differ in one factor weight,
//! compared by the command and, independently, by reading both outputs with the parquet crate;
//! customers in only one output; directories that are not tierscore outputs.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use assert_cmd::Command;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

const FACTORS: [&str; 6] = common::CUSTOMER_VALUE_FACTORS;

/// What a finished command gave.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// stderr with miette's frame and line wrapping taken out: words separated by single spaces.
fn flat(stderr: &str) -> String {
    stderr
        .replace(['│', '×'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `tierscore ARGS` in `dir`.
fn tierscore(dir: &Path, args: &[&str]) -> Outcome {
    let output = Command::cargo_bin("tierscore")
        .unwrap()
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap();
    let outcome = Outcome {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    assert!(
        !outcome.stderr.contains("panicked"),
        "tierscore panicked:\n{}",
        outcome.stderr
    );
    outcome
}

/// Runs `tierscore ARGS` in `dir` and asserts it succeeded.
fn ok(dir: &Path, args: &[&str]) -> String {
    let outcome = tierscore(dir, args);
    assert_eq!(
        outcome.code,
        Some(0),
        "tierscore {args:?} failed:\n{}",
        outcome.stderr
    );
    outcome.stdout
}

/// The shipped example's structure with a given margin weight and `output.partition_by`;
/// scripts by absolute path.
fn pipeline(dir: &Path, name: &str, margin_weight: f64, partition_by: &str) -> PathBuf {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let weights = [0.30, margin_weight, 1.0, 0.15, 0.10, 0.20];
    let mut factors = String::new();
    for (factor, weight) in FACTORS.iter().zip(weights) {
        factors.push_str(&format!(
            "  - {{ name: {factor}, script: \"{}\", weight: {weight} }}\n",
            rules.join(format!("{factor}.rhai")).display()
        ));
    }
    let text = format!(
        r#"version: 1
name: {name}
input:
  path: customers.parquet
  id: customer_id
params:
  as_of: "2026-11-01"
  top_revenue: 200000
  high_margin: 20000
  lapsed_after_days: 365
factors:
{factors}score:
  combine: weighted_sum
tiers:
  by: score
  levels:
    - {{ name: strategic, min: 40 }}
    - {{ name: key, min: 28 }}
    - {{ name: general, min: 15 }}
    - {{ name: low_value, min: 0 }}
    - {{ name: loss_making }}
output:
  path: out/{name}
  partition_by: {partition_by}
  columns: [region]
errors:
  max_reject_fraction: 0.01
"#
    );
    let path = dir.join(format!("{name}.yaml"));
    fs::write(&path, text).unwrap();
    path
}

/// Generates `rows` customers into `dir/customers.parquet`.
fn generate(dir: &Path, rows: u64) {
    ok(
        dir,
        &[
            "--quiet",
            "gen",
            "--rows",
            &rows.to_string(),
            "--seed",
            "7",
            "--out",
            "customers.parquet",
            "--row-group-size",
            "1000",
        ],
    );
}

/// Scores the pipeline into `dir/OUT`, optionally only the first `limit` rows.
fn score(dir: &Path, pipeline: &Path, out: &str, limit: Option<u64>) -> PathBuf {
    let limit = limit.map(|l| l.to_string());
    let mut args = vec![
        "--quiet",
        "run",
        pipeline.to_str().unwrap(),
        "--output",
        out,
    ];
    if let Some(limit) = &limit {
        args.extend(["--limit", limit.as_str()]);
    }
    ok(dir, &args);
    dir.join(out)
}

/// A customer as an output holds it.
#[derive(Debug, Clone, PartialEq)]
struct Customer {
    score: f64,
    tier: String,
    factors: Vec<f64>,
}

/// Every customer of an output, read with the parquet crate; the tier from the partition folder.
fn read_output(out: &Path) -> HashMap<String, Customer> {
    let mut customers = HashMap::new();
    for entry in fs::read_dir(out.join("scored")).unwrap() {
        let folder = entry.unwrap().path();
        let name = folder.file_name().unwrap().to_str().unwrap().to_string();
        let Some(tier) = name.strip_prefix("tier=") else {
            continue;
        };
        let file = File::open(folder.join("part-00000.parquet")).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch: RecordBatch = batch.unwrap();
            let floats = |name: &str| {
                batch
                    .column_by_name(name)
                    .unwrap()
                    .as_primitive::<Float64Type>()
                    .values()
                    .to_vec()
            };
            let scores = floats("score");
            let factors: Vec<Vec<f64>> = FACTORS.iter().map(|f| floats(f)).collect();
            let ids = batch
                .column_by_name("customer_id")
                .unwrap()
                .as_string::<i32>();
            for row in 0..batch.num_rows() {
                let previous = customers.insert(
                    ids.value(row).to_string(),
                    Customer {
                        score: scores[row],
                        tier: tier.to_string(),
                        factors: factors.iter().map(|f| f[row]).collect(),
                    },
                );
                assert_eq!(previous, None, "ids are unique");
            }
        }
    }
    customers
}

fn diff_json(dir: &Path, old: &Path, new: &Path, top: u64) -> Value {
    let stdout = ok(
        dir,
        &[
            "diff",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
            "--top",
            &top.to_string(),
            "--format",
            "json",
        ],
    );
    serde_json::from_str(&stdout).unwrap()
}

fn close(a: f64, b: &Value) -> bool {
    (a - b.as_f64().unwrap()).abs() <= 1e-9
}

#[test]
fn a_weight_change_is_reported_as_the_outputs_show_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, 5000);
    let before = score(dir, &pipeline(dir, "before", 0.25, "tier"), "before", None);
    let after = score(dir, &pipeline(dir, "after", 0.35, "tier"), "after", None);
    let report = diff_json(dir, &before, &after, 25);

    let old = read_output(&before);
    let new = read_output(&after);
    let tiers = ["strategic", "key", "general", "low_value", "loss_making"];
    assert_eq!(report["tiers"], serde_json::json!(tiers));
    assert_eq!(report["id_column"], "customer_id");
    let manifest = |out: &Path| -> Value {
        serde_json::from_str(&fs::read_to_string(out.join("_manifest.json")).unwrap()).unwrap()
    };
    for (side, out, customers) in [("old", &before, &old), ("new", &after, &new)] {
        assert_eq!(report[side]["path"], out.to_str().unwrap());
        assert_eq!(report[side]["run_id"], manifest(out)["run_id"]);
        assert_eq!(report[side]["rows"], customers.len() as u64);
    }
    assert_eq!(report["factors"], serde_json::json!(FACTORS));
    assert_eq!(report["factors_added"], serde_json::json!([]));
    assert_eq!(report["factors_removed"], serde_json::json!([]));
    // What changed: the margin weight, and so the pipeline file; nothing else.
    assert_eq!(
        report["changes"],
        serde_json::json!([
            {"kind": "weight", "name": "margin", "old": 0.25, "new": 0.35},
            {"kind": "pipeline", "name": manifest(&after)["pipeline"]["path"],
             "old": manifest(&before)["pipeline"]["sha256"],
             "new": manifest(&after)["pipeline"]["sha256"]},
        ])
    );
    assert_eq!(
        report["only_in_old"],
        serde_json::json!({"count": 0, "ids": []})
    );
    assert_eq!(
        report["only_in_new"],
        serde_json::json!({"count": 0, "ids": []})
    );

    // The matrix, counted independently.
    let mut expected: BTreeMap<(usize, usize), u64> = BTreeMap::new();
    let position = |tier: &str| tiers.iter().position(|t| *t == tier).unwrap();
    for (id, o) in &old {
        let n = &new[id];
        *expected
            .entry((position(&o.tier), position(&n.tier)))
            .or_default() += 1;
    }
    let rows: Vec<Vec<u64>> = serde_json::from_value(report["matrix_rows"].clone()).unwrap();
    let from_rows: BTreeMap<(usize, usize), u64> = rows
        .iter()
        .enumerate()
        .flat_map(|(from, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, &count)| count > 0)
                .map(move |(to, &count)| ((from, to), count))
        })
        .collect();
    assert_eq!(from_rows, expected);
    let cells: BTreeMap<(usize, usize), u64> = report["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    position(c["from"].as_str().unwrap()),
                    position(c["to"].as_str().unwrap()),
                ),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(cells, expected);
    assert_eq!(cells.values().sum::<u64>(), 5000);
    assert!(
        expected.keys().any(|(from, to)| from != to),
        "the weight change moves some customers between tiers"
    );

    // Score shift per old tier.
    let shifts = report["score_shift"].as_array().unwrap();
    assert_eq!(shifts.len(), tiers.len());
    for (shift, tier) in shifts.iter().zip(tiers) {
        let members: Vec<&String> = old.keys().filter(|id| old[*id].tier == tier).collect();
        assert_eq!(shift["tier"], tier);
        assert_eq!(shift["count"], members.len() as u64);
        let mean = |f: &dyn Fn(&String) -> f64| {
            members.iter().map(|id| f(id)).sum::<f64>() / members.len() as f64
        };
        assert!(close(mean(&|id| old[id].score), &shift["mean_old"]));
        assert!(close(mean(&|id| new[id].score), &shift["mean_new"]));
        assert!(close(
            mean(&|id| new[id].score - old[id].score),
            &shift["mean_shift"]
        ));
    }
    assert_eq!(report["score_shift_all"]["count"], 5000);

    // Top movers: the 25 largest |change|, ties by id, with numbers from the outputs.
    let mut changes: Vec<(&String, f64)> = old
        .iter()
        .map(|(id, o)| (id, new[id].score - o.score))
        .collect();
    changes.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
    let movers = report["top_movers"].as_array().unwrap();
    let ids: Vec<&str> = movers.iter().map(|m| m["id"].as_str().unwrap()).collect();
    let expected_ids: Vec<&str> = changes[..25].iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, expected_ids);
    for pair in movers.windows(2) {
        let (a, b) = (
            pair[0]["change"].as_f64().unwrap().abs(),
            pair[1]["change"].as_f64().unwrap().abs(),
        );
        assert!(a > b || (a == b && pair[0]["id"].as_str() < pair[1]["id"].as_str()));
    }
    for mover in movers {
        let id = mover["id"].as_str().unwrap();
        let (o, n) = (&old[id], &new[id]);
        assert!(close(o.score, &mover["old_score"]));
        assert!(close(n.score, &mover["new_score"]));
        assert!(close(n.score - o.score, &mover["change"]));
        assert_eq!(mover["old_tier"], o.tier.as_str());
        assert_eq!(mover["new_tier"], n.tier.as_str());
        let factor_changes = mover["factor_changes"].as_object().unwrap();
        assert_eq!(factor_changes.len(), FACTORS.len());
        for (i, factor) in FACTORS.iter().enumerate() {
            assert!(close(n.factors[i] - o.factors[i], &factor_changes[*factor]));
        }
    }

    // The text report.
    let text = ok(dir, &["diff", "before", "after"]);
    assert!(
        text.starts_with(&format!(
            "diff: before (run {}, 5,000 customers) -> after (run {}, 5,000 customers)\n",
            report["old"]["run_id"].as_str().unwrap(),
            report["new"]["run_id"].as_str().unwrap()
        )),
        "{text}"
    );
    assert!(text.contains(
        "\ntier migration (5,000 customers in both; rows: old tier, columns: new tier)\n  old \\ new    strategic  key  general  low_value  loss_making  total\n"
    ), "{text}");
    assert!(text.contains("\nonly in old: 0 customers\nonly in new: 0 customers\n"));
    assert!(
        text.contains("\nchanged weight margin: 0.25 -> 0.35\n"),
        "{text}"
    );
    let header = text
        .lines()
        .find(|l| l.starts_with("  customer_id  "))
        .unwrap_or_else(|| panic!("no movers table:\n{text}"));
    assert_eq!(
        header
            .split("  ")
            .filter(|w| !w.is_empty())
            .map(str::trim)
            .collect::<Vec<_>>(),
        [
            "customer_id",
            "old score",
            "new score",
            "change",
            "old tier",
            "new tier",
            "economic",
            "margin",
            "risk",
            "loyalty",
            "referral",
            "strategic"
        ]
    );
}

#[test]
fn customers_in_only_one_output_are_counted_and_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, 300);
    let spec = pipeline(dir, "cv", 0.25, "tier");
    let full = score(dir, &spec, "full", None);
    let first = score(dir, &spec, "first", Some(296));

    let report = diff_json(dir, &full, &first, 3);
    assert_eq!(
        report["only_in_old"],
        serde_json::json!({"count": 4, "ids": ["C00000297", "C00000298", "C00000299"]})
    );
    assert_eq!(
        report["only_in_new"],
        serde_json::json!({"count": 0, "ids": []})
    );
    assert_eq!(report["score_shift_all"]["count"], 296);
    // The same rules on the same rows: nobody moves.
    let rows: Vec<Vec<u64>> = serde_json::from_value(report["matrix_rows"].clone()).unwrap();
    let diagonal: u64 = (0..rows.len()).map(|i| rows[i][i]).sum();
    assert_eq!(diagonal, 296);
    assert_eq!(report["score_shift_all"]["mean_shift"], 0.0);

    let reverse = diff_json(dir, &first, &full, 20);
    assert_eq!(
        reverse["only_in_new"],
        serde_json::json!({"count": 4, "ids": ["C00000297", "C00000298", "C00000299", "C00000300"]})
    );
    let text = ok(dir, &["diff", "first", "full", "--top", "2"]);
    assert!(
        text.contains("\nonly in old: 0 customers\nonly in new: 4 customers (first 2 by id: C00000297, C00000298)\n"),
        "{text}"
    );

    // One file with a `tier` column instead of tier=NAME folders: the same tiers.
    let single = score(dir, &pipeline(dir, "single", 0.25, "none"), "single", None);
    let report = diff_json(dir, &single, &full, 3);
    let rows: Vec<Vec<u64>> = serde_json::from_value(report["matrix_rows"].clone()).unwrap();
    let diagonal: u64 = (0..rows.len()).map(|i| rows[i][i]).sum();
    assert_eq!(diagonal, 300);
    assert_eq!(rows.iter().flatten().sum::<u64>(), 300);
    // No score moved: no movers; what changed is the pipeline file (its partition_by).
    assert_eq!(report["top_movers"], serde_json::json!([]));
    let changes = report["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["kind"], "pipeline");
    let text = ok(dir, &["diff", "single", "full"]);
    assert!(
        text.contains("\n  (none: no customer's score changed)\n"),
        "{text}"
    );
    let same = ok(dir, &["diff", "full", "full"]);
    assert!(
        same.contains("\nchanged: nothing (params, weights, rules, tiers as before)\n"),
        "{same}"
    );

    // A manifest naming another id column cannot be joined.
    let renamed = dir.join("renamed");
    fs::create_dir(&renamed).unwrap();
    let mut manifest: Value =
        serde_json::from_str(&fs::read_to_string(full.join("_manifest.json")).unwrap()).unwrap();
    manifest["output"]["id"] = "region".into();
    fs::write(renamed.join("_manifest.json"), manifest.to_string()).unwrap();
    let outcome = tierscore(dir, &["diff", "first", "renamed"]);
    assert_eq!(outcome.code, Some(3));
    assert!(flat(&outcome.stderr).contains(
        "the outputs use different id columns: `customer_id` in the old one, `region` in the new one"
    ), "{}", outcome.stderr);
}

#[test]
fn directories_that_are_not_tierscore_outputs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::create_dir(dir.join("plain")).unwrap();
    fs::write(dir.join("plain/data.parquet"), b"not ours").unwrap();
    fs::create_dir(dir.join("foreign")).unwrap();
    fs::write(
        dir.join("foreign/_manifest.json"),
        r#"{"tool": "other", "output": {}}"#,
    )
    .unwrap();

    for (args, message, code) in [
        (
            ["diff", "plain", "foreign"],
            "old output plain is not a tierscore output: it has no _manifest.json",
            "diff::not_an_output",
        ),
        (
            ["diff", "foreign", "plain"],
            "old output foreign is not a tierscore output: its _manifest.json was not written by tierscore",
            "diff::not_an_output",
        ),
        (
            ["diff", "missing", "plain"],
            "old output missing is not a tierscore output: it does not exist",
            "diff::not_an_output",
        ),
    ] {
        let outcome = tierscore(dir, &args);
        assert_eq!(outcome.code, Some(3), "{}", outcome.stderr);
        assert_eq!(outcome.stdout, "");
        let stderr = flat(&outcome.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert!(stderr.contains(code), "{stderr}");
        assert!(
            stderr.contains("help: pass two directories written by `tierscore run` (each holds a _manifest.json written by tierscore)"),
            "{stderr}"
        );
    }

    // The new side is checked too, and JSON logs carry the code and exit code.
    generate(dir, 20);
    let yaml = pipeline(dir, "old", 0.3, "tier");
    score(dir, &yaml, "old", None);
    let outcome = tierscore(dir, &["--log-format", "json", "diff", "old", "plain"]);
    assert_eq!(outcome.code, Some(3));
    let line: Value = serde_json::from_str(outcome.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(
        line["message"],
        "new output plain is not a tierscore output: it has no _manifest.json"
    );
    assert_eq!(line["code"], "diff::not_an_output");
    assert_eq!(line["exit_code"], 3);
}

#[test]
fn a_weight_change_is_named_in_the_html_page_and_numbers_read_as_in_the_text() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, 400);
    let before = score(dir, &pipeline(dir, "before", 0.25, "tier"), "before", None);
    let after = score(dir, &pipeline(dir, "after", 0.35, "tier"), "after", None);
    let report = diff_json(dir, &before, &after, 5);
    let pipeline_change = &report["changes"][1];
    assert_eq!(pipeline_change["kind"], "pipeline");

    let html = ok(dir, &["diff", "before", "after", "--format", "html"]);
    assert!(html.contains("<section id=\"changes\"><h2>What changed between the runs</h2>"));
    assert!(
        html.contains(
            "<tr><td>weight</td><td><code>margin</code></td><td>0.25</td><td>0.35</td></tr>"
        ),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<tr><td>pipeline</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
        pipeline_change["name"].as_str().unwrap(),
        pipeline_change["old"].as_str().unwrap(),
        pipeline_change["new"].as_str().unwrap()
    )));

    // The text names the same changes; its figures are written as for people everywhere:
    // counts with separators, values with at most three decimals, changes with their sign.
    let text = ok(dir, &["diff", "before", "after", "--top", "5"]);
    assert!(
        text.contains("\nchanged weight margin: 0.25 -> 0.35\n"),
        "{text}"
    );
    let mover = &report["top_movers"][0];
    let id = mover["id"].as_str().unwrap();
    let row = text
        .lines()
        .find(|line| line.starts_with(&format!("  {id} ")))
        .unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    let figure = |name: &str| mover[name].as_f64().unwrap();
    assert_eq!(cells[1], tierscore::human::number(figure("old_score")));
    assert_eq!(cells[2], tierscore::human::number(figure("new_score")));
    assert_eq!(cells[3], tierscore::human::signed(figure("change")));
    assert!(cells[3].starts_with(['+', '-']), "{row}");
}

#[test]
fn a_changed_param_rule_and_tier_bound_are_each_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, 2000);
    // The rules copied beside the pipeline, so that one can be edited between the runs.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let rules = dir.join("rules");
    fs::create_dir(&rules).unwrap();
    for factor in FACTORS {
        let file = format!("{factor}.rhai");
        fs::copy(shipped.join(&file), rules.join(&file)).unwrap();
    }
    let text = fs::read_to_string(pipeline(dir, "before", 0.25, "tier"))
        .unwrap()
        .replace(shipped.to_str().unwrap(), rules.to_str().unwrap());
    fs::write(dir.join("before.yaml"), &text).unwrap();
    let before = score(dir, &dir.join("before.yaml"), "before", None);

    // The new run: a comment added to one rule, the key tier's bound raised, a param set.
    let economic = rules.join("economic.rhai");
    let mut script = fs::read_to_string(&economic).unwrap();
    script.push_str("\n// reviewed 2026-12-02\n");
    fs::write(&economic, script).unwrap();
    fs::write(
        dir.join("after.yaml"),
        text.replace("name: key, min: 28", "name: key, min: 30")
            .replace("name: before", "name: after")
            .replace("out/before", "out/after"),
    )
    .unwrap();
    ok(
        dir,
        &[
            "--quiet",
            "run",
            "after.yaml",
            "--output",
            "after",
            "--set",
            "top_revenue=250000",
        ],
    );
    let after = dir.join("after");

    let manifest = |out: &Path| -> Value {
        serde_json::from_str(&fs::read_to_string(out.join("_manifest.json")).unwrap()).unwrap()
    };
    let (old, new) = (manifest(&before), manifest(&after));
    let rule_hash = |m: &Value| -> (Value, Value) {
        let script = m["scripts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["path"].as_str().unwrap().ends_with("economic.rhai"))
            .unwrap();
        (script["path"].clone(), script["sha256"].clone())
    };
    let (rule_path, old_hash) = rule_hash(&old);
    let (_, new_hash) = rule_hash(&new);
    assert_ne!(old_hash, new_hash);
    let report = diff_json(dir, &before, &after, 5);
    assert_eq!(
        report["changes"],
        serde_json::json!([
            {"kind": "param", "name": "top_revenue", "old": 200000, "new": 250000},
            {"kind": "rule", "name": rule_path, "old": old_hash, "new": new_hash},
            {"kind": "pipeline", "name": new["pipeline"]["path"],
             "old": old["pipeline"]["sha256"], "new": new["pipeline"]["sha256"]},
            {"kind": "tier", "name": "key",
             "old": {"min": 28.0, "top": null, "upto": null},
             "new": {"min": 30.0, "top": null, "upto": null}},
        ])
    );
    // The text names the same changes, numbers as people read them.
    let text = ok(
        dir,
        &["diff", before.to_str().unwrap(), after.to_str().unwrap()],
    );
    for line in [
        "changed param top_revenue: 200000 -> 250000".to_string(),
        format!(
            "changed rule {}: {} -> {}",
            rule_path.as_str().unwrap(),
            old_hash.as_str().unwrap(),
            new_hash.as_str().unwrap()
        ),
        "changed tier key: min 28 -> min 30".to_string(),
    ] {
        assert!(text.contains(&line), "no `{line}` in:\n{text}");
    }
}

/// An output edited to name a tier on every row (its manifest listing five) is refused once
/// more than 256 names no manifest lists are met: the report's tier table is a square of the
/// names, and 20,000 of them took 13 GB before (a review's find).
#[test]
fn an_output_naming_hundreds_of_unlisted_tiers_is_refused() {
    use arrow::array::{ArrayRef, StringArray};
    use parquet::arrow::ArrowWriter;
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, 400);
    let yaml = pipeline(dir, "p", 0.3, "none");
    let old = score(dir, &yaml, "old", None);
    let new = score(dir, &yaml, "new", None);
    let part = new.join("scored/part-00000.parquet");
    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(File::open(&part).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let schema = batches[0].schema();
    let tier = schema.index_of("tier").unwrap();
    let mut writer =
        ArrowWriter::try_new(File::create(&part).unwrap(), schema.clone(), None).unwrap();
    let mut row = 0;
    for batch in &batches {
        let names: ArrayRef = Arc::new(StringArray::from_iter_values(
            (row..row + batch.num_rows()).map(|i| format!("t{i}")),
        ));
        row += batch.num_rows();
        let mut columns = batch.columns().to_vec();
        columns[tier] = names;
        writer
            .write(&RecordBatch::try_new(schema.clone(), columns).unwrap())
            .unwrap();
    }
    writer.close().unwrap();
    let outcome = tierscore(dir, &["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(outcome.code, Some(3), "{}", outcome.stderr);
    let stderr = flat(&outcome.stderr);
    assert!(
        stderr.contains(
            "scored/part-00000.parquet: holds more than 256 tier names its manifest does not \
             list, `t256` among them"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("diff::unexpected_content"), "{stderr}");
}

/// `--top 0` asks for no movers: the text says so, not that no score changed (it said so
/// whatever changed, a review's find).
#[test]
fn top_zero_lists_no_movers_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, 100);
    let old = score(dir, &pipeline(dir, "old", 0.3, "tier"), "old", None);
    let new = score(dir, &pipeline(dir, "new", 0.9, "tier"), "new", None);
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    let text = ok(dir, &["diff", old, new, "--top", "0"]);
    assert!(text.contains("  (none asked for: --top 0)"), "{text}");
    assert!(!text.contains("no customer's score changed"), "{text}");
    let text = ok(dir, &["diff", old, old]);
    assert!(
        text.contains("  (none: no customer's score changed)"),
        "{text}"
    );
}
