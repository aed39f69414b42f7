//! Inputs of several read batches (the run reads 32,768 rows at a time) in several files, so the
//! reader thread decoding ahead, the writer thread encoding behind, the writer's 16 MiB
//! row-group flush and derive values attached to later batches all run: threshold, derive,
//! rank, ABC and normalised pipelines give the same output with 1, 2, 4 and 8 threads, and
//! that output equals what the rules and reference formulas give for every row.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use common::*;
use serde_json::{json, Value};

const THREADS: [&str; 4] = ["1", "2", "4", "8"];

/// The rows of the input, and how many there are.
fn total_rows() -> usize {
    SEVERAL_BATCHES_FILES
        .iter()
        .map(|(_, rows)| *rows as usize)
        .sum()
}

/// Runs `pipeline` with 1, 2, 4 and 8 threads (into `NAME-THREADS`), asserts every output file
/// holds the same rows and the manifests the same figures, and returns the first output.
fn run_every_thread_count(dir: &Path, pipeline: &str) -> PathBuf {
    let outputs: Vec<PathBuf> = THREADS
        .iter()
        .map(|threads| {
            let out = format!("{pipeline}-{threads}");
            run(
                dir,
                &[
                    "--quiet",
                    "run",
                    pipeline,
                    "--threads",
                    threads,
                    "--output",
                    &out,
                ],
            )
            .expect_code(0);
            assert_eq!(
                manifest(&dir.join(&out))["threads"],
                threads.parse::<u64>().unwrap()
            );
            dir.join(out)
        })
        .collect();
    let first = output_data(&outputs[0]);
    let figures = manifest_figures(&outputs[0]);
    assert_eq!(figures["rows"]["input"], total_rows(), "{pipeline}");
    for (out, threads) in outputs.iter().zip(THREADS).skip(1) {
        let other = output_data(out);
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            other.keys().collect::<Vec<_>>(),
            "{pipeline}: the same files with {threads} threads"
        );
        for (name, batch) in &first {
            assert!(
                *batch == other[name],
                "{pipeline}: {name} differs with {threads} threads"
            );
        }
        assert_eq!(
            manifest_figures(out),
            figures,
            "{pipeline}: manifest figures with {threads} threads"
        );
    }
    outputs[0].clone()
}

/// Input rows (by position) of each tier, in input order: what each `tier=NAME` file must hold.
fn rows_by_tier(tiers: &[Option<&str>]) -> BTreeMap<String, Vec<usize>> {
    let mut by_tier: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (row, tier) in tiers.iter().enumerate() {
        if let Some(tier) = tier {
            by_tier.entry(tier.to_string()).or_default().push(row);
        }
    }
    by_tier
}

/// Asserts the `tier=NAME/part-00000.parquet` files hold exactly the expected rows: their ids
/// and the float columns `checks` give for each input row.
fn assert_tiers(
    out: &Path,
    input: &RecordBatch,
    tiers: &[Option<&str>],
    checks: &[(&str, &dyn Fn(usize) -> f64)],
) {
    let ids = texts(input, "customer_id");
    let expected = rows_by_tier(tiers);
    let files: Vec<String> = output_data(out)
        .into_keys()
        .filter(|name| name.starts_with("tier="))
        .collect();
    let wanted: Vec<String> = expected
        .keys()
        .map(|tier| format!("tier={tier}/part-00000.parquet"))
        .collect();
    assert_eq!(files, wanted, "one file per tier with rows");
    for (tier, rows) in &expected {
        let batch = read_parquet(&out.join(format!("tier={tier}/part-00000.parquet")));
        let expected_ids: Vec<&String> = rows.iter().map(|&r| &ids[r]).collect();
        assert_eq!(
            texts(&batch, "customer_id").iter().collect::<Vec<_>>(),
            expected_ids,
            "ids of tier {tier}"
        );
        for (column, value) in checks {
            let expected: Vec<f64> = rows.iter().map(|&r| value(r)).collect();
            assert_eq!(floats(&batch, column), expected, "{column} of tier {tier}");
        }
    }
}

/// Revenue in thousands, and a service factor that rejects customers with bad debt (about 3%,
/// some in every batch) and gives the others a reason naming their support tickets.
const THRESHOLD: &str = r#"version: 1
name: threshold
input: { path: data, id: customer_id }
factors:
  - { name: revenue, expr: "revenue_12m / 1000.0", weight: 1.0 }
  - { name: service, script: service.rhai, weight: 2.0 }
tiers:
  levels:
    - { name: high, min: 200 }
    - { name: mid, min: 60 }
    - { name: low }
output: { path: out, columns: [note], reasons: true }
errors: { max_reject_fraction: 0.2 }
"#;

const SERVICE: &str = r#"// rejects customers with bad debt; reasons name the tickets
if bad_debt { throw "bad debt" }
#{ value: 10.0 - support_tickets_12m, reason: `tickets: ${support_tickets_12m}` }
"#;

#[test]
fn a_threshold_pipeline_over_several_batches_and_files_is_the_same_for_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = several_batches_input(dir);
    write(dir, "threshold.yaml", THRESHOLD);
    write(dir, "service.rhai", SERVICE);
    let out = run_every_thread_count(dir, "threshold.yaml");

    // Which rows each tier and the rejects hold, from the input alone.
    let revenue = floats(&input, "revenue_12m");
    let tickets = ints(&input, "support_tickets_12m");
    let notes = texts(&input, "note");
    let bad_debt = bools(&input, "bad_debt");
    let score = |r: usize| revenue[r] / 1000.0 + 2.0 * (10.0 - tickets[r] as f64);
    let tiers: Vec<Option<&str>> = (0..input.num_rows())
        .map(|r| {
            (!bad_debt[r]).then(|| match score(r) {
                s if s >= 200.0 => "high",
                s if s >= 60.0 => "mid",
                _ => "low",
            })
        })
        .collect();
    assert_tiers(
        &out,
        &input,
        &tiers,
        &[
            ("revenue", &|r| revenue[r] / 1000.0),
            ("service", &|r| 10.0 - tickets[r] as f64),
            ("score", &|r| score(r)),
        ],
    );
    let by_tier = rows_by_tier(&tiers);
    let low = read_parquet(&out.join("tier=low/part-00000.parquet"));
    let expected_notes: Vec<&String> = by_tier["low"].iter().map(|&r| &notes[r]).collect();
    assert_eq!(
        texts(&low, "note").iter().collect::<Vec<_>>(),
        expected_notes
    );
    let reasons: Vec<Vec<String>> = by_tier["low"]
        .iter()
        .map(|&r| vec![format!("service: tickets: {}", tickets[r])])
        .collect();
    assert_eq!(string_lists(&low, "reasons"), reasons);
    // The low tier's notes alone are more than 16 MiB, so its file has several row groups.
    let groups = row_group_rows(&out.join("tier=low/part-00000.parquet"));
    assert!(groups.len() >= 2, "row groups of tier=low: {groups:?}");
    assert_eq!(groups.iter().sum::<i64>() as usize, by_tier["low"].len());

    // The rejects point back at their file and row, across batches and files.
    let mut expected_rejects = Vec::new();
    let mut start = 0;
    for (file, rows) in SEVERAL_BATCHES_FILES {
        for row in 0..rows as usize {
            if bad_debt[start + row] {
                expected_rejects.push((file.to_string(), row as i64));
            }
        }
        start += rows as usize;
    }
    assert!(expected_rejects
        .iter()
        .any(|(f, r)| f.ends_with("part-1.parquet") && *r >= 32_768));
    assert!(expected_rejects
        .iter()
        .any(|(f, _)| f.ends_with("part-3.parquet")));
    let rejects = read_parquet(&out.join("_rejects.parquet"));
    let found: Vec<(String, i64)> = texts(&rejects, "source_file")
        .into_iter()
        .zip(ints(&rejects, "row_number"))
        .collect();
    assert_eq!(found, expected_rejects);
    let m = manifest(&out);
    let scored = total_rows() - expected_rejects.len();
    assert_eq!(
        m["rows"],
        json!({"input": total_rows(), "scored": scored, "rejected": expected_rejects.len()})
    );
    let inputs: Vec<(String, u64)> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_string(),
                i["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected_inputs: Vec<(String, u64)> = SEVERAL_BATCHES_FILES
        .iter()
        .map(|(f, r)| (f.to_string(), *r))
        .collect();
    assert_eq!(inputs, expected_inputs);
}
