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
use tierscore::human::count;

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
        .filter(|name| name.starts_with("scored/tier="))
        .collect();
    let wanted: Vec<String> = expected
        .keys()
        .map(|tier| format!("scored/tier={tier}/part-00000.parquet"))
        .collect();
    assert_eq!(files, wanted, "one file per tier with rows");
    for (tier, rows) in &expected {
        let batch = read_parquet(&out.join(format!("scored/tier={tier}/part-00000.parquet")));
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
    let low = read_parquet(&out.join("scored/tier=low/part-00000.parquet"));
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
    let groups = row_group_rows(&out.join("scored/tier=low/part-00000.parquet"));
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
    let rejects = read_parquet(&out.join("rejects/part-00000.parquet"));
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
    let inputs = pairs(&m["inputs"], "path", "rows", serde_json::Value::as_u64);
    let expected_inputs: Vec<(String, u64)> = SEVERAL_BATCHES_FILES
        .iter()
        .map(|(f, r)| (f.to_string(), *r))
        .collect();
    assert_eq!(inputs, expected_inputs);
}

/// Every derive kind, each also over a column with nulls (the ratings), passed through.
const DERIVES: &str = r#"version: 1
name: derives
input: { path: data, id: customer_id }
derive:
  - { name: r_tile, ntile: last_order_date, buckets: 5, order: asc }
  - { name: pull_tile, ntile: product_pull, buckets: 3, order: desc }
  - { name: m_pct, percent_rank: revenue_12m }
  - { name: pull_pct, percent_rank: product_pull, order: desc }
  - { name: o_rank, rank: orders_12m, order: desc }
  - { name: pull_rank, rank: product_pull }
  - { name: m_z, zscore: revenue_12m }
  - { name: pull_z, zscore: product_pull }
  - { name: c_mm, minmax: cost_to_serve }
  - { name: brand_mm, minmax: brand_contribution }
  - { name: m_share, cumulative_share: revenue_12m }
  - { name: innov_share, cumulative_share: innovation }
factors:
  - { name: rfm, expr: "r_tile + m_pct * 10.0 + (pull_tile ?? 0)", weight: 1.0 }
  - { name: rated, expr: "(pull_z ?? 0.0) + (brand_mm ?? 0.0) + (innov_share ?? 0.0) + (pull_pct ?? 0.0)", weight: 1.0 }
tiers:
  levels:
    - { name: top, min: 10 }
    - { name: rest }
output:
  path: out
  partition_by: none
  columns: [r_tile, pull_tile, m_pct, pull_pct, o_rank, pull_rank, m_z, pull_z, c_mm, brand_mm, m_share, innov_share]
"#;

/// Float closeness for figures whose summation order may differ in the last bits.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

fn assert_close_options(actual: &[Option<f64>], expected: &[Option<f64>], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}");
    for (row, (a, b)) in actual.iter().zip(expected).enumerate() {
        let same = match (a, b) {
            (Some(a), Some(b)) => close(*a, *b),
            (None, None) => true,
            _ => false,
        };
        assert!(same, "{what} of row {row}: {a:?}, expected {b:?}");
    }
}

#[test]
fn every_derive_kind_over_several_batches_and_files_equals_the_reference() {
    use common::reference;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = several_batches_input(dir);
    write(dir, "derives.yaml", DERIVES);
    let out = run_every_thread_count(dir, "derives.yaml");
    let output = read_parquet(&out.join("scored/part-00000.parquet"));
    assert_eq!(output.num_rows(), total_rows(), "no row is rejected");
    assert_eq!(texts(&output, "customer_id"), texts(&input, "customer_id"));

    let column = |name: &str| numbers(&input, name);
    for rating in ["product_pull", "brand_contribution", "innovation"] {
        let nulls = column(rating).iter().filter(|v| v.is_none()).count();
        assert!(nulls > 1000, "{rating} has nulls in the input");
    }
    let ints = |values: Vec<Option<i64>>| -> Vec<Option<f64>> {
        values.into_iter().map(|v| v.map(|v| v as f64)).collect()
    };
    let (m_z, m_mean, m_std) = reference::zscore(&column("revenue_12m"));
    let (pull_z, pull_mean, pull_std) = reference::zscore(&column("product_pull"));
    let (c_mm, c_min, c_max) = reference::minmax(&column("cost_to_serve"));
    let (brand_mm, brand_min, brand_max) = reference::minmax(&column("brand_contribution"));
    let (m_share, m_total) = reference::cumulative_share(&column("revenue_12m"));
    let (innov_share, innov_total) = reference::cumulative_share(&column("innovation"));
    let expected: Vec<(&str, Vec<Option<f64>>)> = vec![
        (
            "r_tile",
            ints(reference::ntile(&column("last_order_date"), 5, false)),
        ),
        (
            "pull_tile",
            ints(reference::ntile(&column("product_pull"), 3, true)),
        ),
        (
            "m_pct",
            reference::percent_rank(&column("revenue_12m"), false),
        ),
        (
            "pull_pct",
            reference::percent_rank(&column("product_pull"), true),
        ),
        ("o_rank", ints(reference::rank(&column("orders_12m"), true))),
        (
            "pull_rank",
            ints(reference::rank(&column("product_pull"), false)),
        ),
        ("m_z", m_z),
        ("pull_z", pull_z),
        ("c_mm", c_mm),
        ("brand_mm", brand_mm),
        ("m_share", m_share),
        ("innov_share", innov_share),
    ];
    for (name, values) in &expected {
        assert_close_options(&numbers(&output, name), values, name);
    }
    let derived: BTreeMap<&str, &Vec<Option<f64>>> =
        expected.iter().map(|(n, v)| (*n, v)).collect();
    let rfm: Vec<Option<f64>> = (0..total_rows())
        .map(|r| {
            Some(
                derived["r_tile"][r].unwrap()
                    + derived["m_pct"][r].unwrap() * 10.0
                    + derived["pull_tile"][r].unwrap_or(0.0),
            )
        })
        .collect();
    assert_close_options(&numbers(&output, "rfm"), &rfm, "rfm");
    let rated: Vec<Option<f64>> = (0..total_rows())
        .map(|r| {
            Some(
                ["pull_z", "brand_mm", "innov_share", "pull_pct"]
                    .iter()
                    .map(|n| derived[n][r].unwrap_or(0.0))
                    .sum(),
            )
        })
        .collect();
    assert_close_options(&numbers(&output, "rated"), &rated, "rated");

    // The manifest's figures: per derive its count and what it used.
    let m = manifest_exact(&out);
    let figures = m["derive"].as_array().unwrap();
    assert_eq!(figures.len(), expected.len());
    let count = |name: &str| column(name).iter().flatten().count();
    let buckets = |name: &str, tiles: &Vec<Option<f64>>| -> Value {
        let values = column(name);
        let mut out = Vec::new();
        for bucket in 1..=5 {
            let inside: Vec<f64> = (0..values.len())
                .filter(|&r| tiles[r] == Some(bucket as f64))
                .map(|r| values[r].unwrap())
                .collect();
            if !inside.is_empty() {
                out.push(json!({
                    "bucket": bucket,
                    "count": inside.len(),
                    "min": inside.iter().copied().fold(f64::INFINITY, f64::min),
                    "max": inside.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                }));
            }
        }
        Value::Array(out)
    };
    let entry = |name: &str, kind: &str, column: &str| -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        map.insert("name".into(), json!(name));
        map.insert("kind".into(), json!(kind));
        map.insert("column".into(), json!(column));
        map.insert("count".into(), json!(count(column)));
        map
    };
    let mut wanted: Vec<serde_json::Map<String, Value>> = vec![
        entry("r_tile", "ntile", "last_order_date"),
        entry("pull_tile", "ntile", "product_pull"),
        entry("m_pct", "percent_rank", "revenue_12m"),
        entry("pull_pct", "percent_rank", "product_pull"),
        entry("o_rank", "rank", "orders_12m"),
        entry("pull_rank", "rank", "product_pull"),
        entry("m_z", "zscore", "revenue_12m"),
        entry("pull_z", "zscore", "product_pull"),
        entry("c_mm", "minmax", "cost_to_serve"),
        entry("brand_mm", "minmax", "brand_contribution"),
        entry("m_share", "cumulative_share", "revenue_12m"),
        entry("innov_share", "cumulative_share", "innovation"),
    ];
    wanted[0].insert(
        "buckets".into(),
        buckets("last_order_date", derived["r_tile"]),
    );
    wanted[1].insert(
        "buckets".into(),
        buckets("product_pull", derived["pull_tile"]),
    );
    wanted[8].insert("min".into(), json!(c_min));
    wanted[8].insert("max".into(), json!(c_max));
    wanted[9].insert("min".into(), json!(brand_min));
    wanted[9].insert("max".into(), json!(brand_max));
    for (figure, wanted) in figures.iter().zip(wanted) {
        let mut figure = figure.as_object().unwrap().clone();
        // Sums whose order may differ in the last bits: compared within 1e-12, then dropped.
        for (key, value) in [
            ("mean", (m_mean, pull_mean)),
            ("std", (m_std, pull_std)),
            ("total", (m_total, innov_total)),
        ] {
            if let Some(actual) = figure.remove(key) {
                let expected = match (wanted["name"].as_str().unwrap(), key) {
                    ("m_z", _) | ("m_share", _) => value.0,
                    ("pull_z", _) | ("innov_share", _) => value.1,
                    (other, _) => panic!("{other} has a {key}"),
                };
                assert!(
                    close(actual.as_f64().unwrap(), expected),
                    "{} {key}: {actual}, expected {expected}",
                    wanted["name"]
                );
            }
        }
        assert_eq!(Value::Object(figure), Value::Object(wanted));
    }
    for (name, keys) in [
        ("m_z", ["mean", "std"]),
        ("pull_z", ["mean", "std"]),
        ("m_share", ["total", "total"]),
        ("innov_share", ["total", "total"]),
    ] {
        let figure = figures.iter().find(|f| f["name"] == name).unwrap();
        for key in keys {
            assert!(figure[key].is_number(), "{name} records its {key}");
        }
    }
}

/// The tier of each row: the first level whose bound `reached(bound)` holds, else the last.
fn first_level<'a>(levels: &[&'a str], bounds: &[f64], reached: impl Fn(f64) -> bool) -> &'a str {
    bounds
        .iter()
        .position(|b| reached(*b))
        .map_or(levels[levels.len() - 1], |i| levels[i])
}

#[test]
fn rank_tiers_over_several_batches_break_ties_by_input_order_for_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = several_batches_input(dir);
    write(
        dir,
        "rank.yaml",
        r#"version: 1
name: rank
input: { path: data, id: customer_id }
factors:
  - { name: orders, expr: "orders_12m * 1.0", weight: 1.0 }
tiers:
  by: rank
  levels:
    - { name: A, top: 0.2 }
    - { name: B, top: 0.5 }
    - { name: C }
output: { path: out }
"#,
    );
    let out = run_every_thread_count(dir, "rank.yaml");
    // Rows by orders descending, ties (there are many) by position across files and batches.
    let orders = ints(&input, "orders_12m");
    let mut order: Vec<usize> = (0..orders.len()).collect();
    order.sort_by(|&a, &b| orders[b].cmp(&orders[a]).then(a.cmp(&b)));
    let n = orders.len() as f64;
    let mut tiers = vec![None; orders.len()];
    for (position, row) in order.into_iter().enumerate() {
        tiers[row] = Some(first_level(&["A", "B", "C"], &[0.2, 0.5], |top| {
            top * n > position as f64
        }));
    }
    assert_tiers(&out, &input, &tiers, &[("orders", &|r| orders[r] as f64)]);
    let m = manifest(&out);
    let counts: Vec<u64> = m["tier_cutoffs"]["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [15_000, 22_500, 37_500]);
}

#[test]
fn abc_tiers_over_several_batches_are_the_same_for_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = several_batches_input(dir);
    write(
        dir,
        "abc.yaml",
        r#"version: 1
name: abc
input: { path: data, id: customer_id }
factors:
  - { name: cost, expr: "cost_to_serve", weight: 1.0 }
tiers:
  by: cumulative_share
  of: revenue_12m
  levels:
    - { name: A, upto: 0.8 }
    - { name: B, upto: 0.95 }
    - { name: C }
output: { path: out }
"#,
    );
    let out = run_every_thread_count(dir, "abc.yaml");
    let (shares, _) = common::reference::cumulative_share(&numbers(&input, "revenue_12m"));
    let tiers: Vec<Option<&str>> = shares
        .iter()
        .map(|share| {
            let share = share.unwrap();
            Some(first_level(&["A", "B", "C"], &[0.8, 0.95], |upto| {
                upto >= share
            }))
        })
        .collect();
    let cost = floats(&input, "cost_to_serve");
    assert_tiers(&out, &input, &tiers, &[("cost", &|r| cost[r])]);
}

#[test]
fn normalised_factors_over_several_batches_are_the_same_for_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = several_batches_input(dir);
    write(
        dir,
        "norm.yaml",
        r#"version: 1
name: norm
input: { path: data, id: customer_id }
factors:
  - { name: revenue, expr: "revenue_12m", weight: 0.7 }
  - { name: tickets, expr: "support_tickets_12m", weight: -0.3 }
score:
  normalize: minmax
tiers:
  levels:
    - { name: top, min: 0.02 }
    - { name: rest }
output: { path: out }
"#,
    );
    let out = run_every_thread_count(dir, "norm.yaml");
    let (revenue, ..) = common::reference::minmax(&numbers(&input, "revenue_12m"));
    let (tickets, ..) = common::reference::minmax(&numbers(&input, "support_tickets_12m"));
    let score = |r: usize| 0.7 * revenue[r].unwrap() + -0.3 * tickets[r].unwrap();
    let tiers: Vec<Option<&str>> = (0..input.num_rows())
        .map(|r| Some(if score(r) >= 0.02 { "top" } else { "rest" }))
        .collect();
    assert!(tiers.contains(&Some("top")) && tiers.contains(&Some("rest")));
    assert_tiers(
        &out,
        &input,
        &tiers,
        &[
            ("revenue", &|r| revenue[r].unwrap()),
            ("tickets", &|r| tickets[r].unwrap()),
            ("score", &score),
        ],
    );
}

/// Derives, a factor that rejects unrated customers, a score script and a tier script.
const EXPLAINED: &str = r#"version: 1
name: explained
input: { path: data, id: customer_id }
derive:
  - { name: m_pct, percent_rank: revenue_12m }
  - { name: pull_z, zscore: product_pull }
factors:
  - { name: value, expr: "m_pct * 100.0", weight: 1.0 }
  - { name: rated, script: rated.rhai }
score:
  script: score.rhai
tiers:
  script: tier.rhai
  levels: [{ name: gold }, { name: silver }, { name: rest }]
output: { path: out, partition_by: none, columns: [m_pct, pull_z] }
errors: { max_reject_fraction: 0.5 }
tests:
  # value = 100 x m_pct; rated = 10 x pull_z; score = value + max(rated, 0) / 2
  - name: a well rated customer with a high revenue rank is gold
    row: { customer_id: T1, m_pct: 0.9, pull_z: 1.5, product_pull: 5 }
    expect: { value: 90.0, rated: 15.0, score: 97.5, tier: gold, reasons: ["rated: pull 5"] }
  - name: the well rated are silver on a low score
    row: { customer_id: T2, m_pct: 0.1, pull_z: 0.8, product_pull: 4 }
    expect: { value: 10.0, rated: 8.0, score: 14.0, tier: silver }
  - name: a derive left null by a null rating rejects the row
    row: { customer_id: T3, m_pct: 0.5, pull_z: null, product_pull: null }
    expect: { error: "rated.rhai:2:25: Runtime error: unrated" }
"#;

const RATED: &str = r#"// unrated customers cannot be ranked by rating
if product_pull == () { throw "unrated" }
#{ value: pull_z * 10.0, reason: `pull ${product_pull}` }
"#;

const SCORE: &str = "// value, plus the rating for the well rated\nvalue + max(rated, 0.0) / 2.0\n";

const TIER: &str = r#"// gold and silver by score, and the well rated are never below silver
if score >= 80.0 { "gold" } else if score >= 50.0 || rated > 5.0 { "silver" } else { "rest" }
"#;

#[test]
fn explain_gives_what_run_wrote_on_several_files_for_derive_script_and_rejected_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = several_batches_input(dir);
    write(dir, "explained.yaml", EXPLAINED);
    write(dir, "rated.rhai", RATED);
    write(dir, "score.rhai", SCORE);
    write(dir, "tier.rhai", TIER);
    run(dir, &["--quiet", "run", "explained.yaml"]).expect_code(0);
    let out = dir.join("out");
    // `test` on the same pipeline: rows set derive values directly.
    let cases = run(dir, &["test", "explained.yaml"]);
    cases.expect_code(0);
    assert!(
        cases
            .stdout
            .contains("\ntest result: ok. 3 passed; 0 failed; finished in "),
        "{}",
        cases.stdout
    );
    let output = read_parquet(&out.join("scored/part-00000.parquet"));
    let rejects = read_parquet(&out.join("rejects/part-00000.parquet"));
    let ids = texts(&output, "customer_id");
    let tiers = texts(&output, "tier");
    // Where an id is in the input: `P2-C00000007` is row 6 of the second file.
    let origin = |id: &str| -> (String, u64) {
        let file = &SEVERAL_BATCHES_FILES[id[1..2].parse::<usize>().unwrap() - 1].0;
        (file.to_string(), id[4..].parse::<u64>().unwrap() - 1)
    };
    let explain = |id: &str| -> Value {
        let result = run(
            dir,
            &["explain", "explained.yaml", "--id", id, "--format", "json"],
        );
        result.expect_code(0);
        let e = parse_json_exact(&result.stdout);
        let (file, row) = origin(id);
        assert_eq!(e["id"], id);
        assert_eq!(e["source_file"], file.as_str(), "{id}");
        assert_eq!(e["row_number"], row, "{id}");
        assert_eq!(e["combine"], "script");
        e
    };

    // One scored customer of each tier: from the last file, the second read batch of the first
    // file and the middle file.
    let pick = |tier: &str, file: &str, from_row: u64| -> usize {
        (0..ids.len())
            .find(|&i| {
                let (f, row) = origin(&ids[i]);
                tiers[i] == tier && f.ends_with(file) && row >= from_row
            })
            .unwrap_or_else(|| panic!("a {tier} customer in {file} from row {from_row}"))
    };
    let picks = [
        pick("gold", "part-3.parquet", 0),
        pick("silver", "part-1.parquet", 32_768),
        pick("rest", "part-2.parquet", 0),
    ];
    let m_pct = floats(&output, "m_pct");
    let pull_z = floats(&output, "pull_z");
    let (value, rated, score) = (
        floats(&output, "value"),
        floats(&output, "rated"),
        floats(&output, "score"),
    );
    let pull = optional_ints(&input, "product_pull");
    let input_ids = texts(&input, "customer_id");
    for i in picks {
        let id = &ids[i];
        let e = explain(id);
        let input_row = input_ids.iter().position(|x| x == id).unwrap();
        assert_eq!(e["rejected"], Value::Null);
        assert_eq!(
            e["factors"],
            json!([
                { "name": "value", "inputs": { "m_pct": m_pct[i] }, "value": value[i],
                  "weight": 1.0, "contribution": null, "reason": null },
                { "name": "rated", "inputs": { "product_pull": pull[input_row], "pull_z": pull_z[i] },
                  "value": rated[i], "weight": null, "contribution": null,
                  "reason": format!("pull {}", pull[input_row].unwrap()) },
            ]),
            "{id}"
        );
        assert_eq!(e["score"], score[i], "{id}");
        assert_eq!(e["tier"]["name"], tiers[i].as_str(), "{id}");
    }

    // Rejected customers in the second and third file: the step and message run wrote.
    let reject_ids = texts(&rejects, "customer_id");
    let messages = texts(&rejects, "message");
    for prefix in ["P2-", "P3-"] {
        let r = reject_ids
            .iter()
            .position(|id| id.starts_with(prefix))
            .unwrap();
        let id = &reject_ids[r];
        let e = explain(id);
        assert_eq!(texts(&rejects, "factor")[r], "rated");
        assert_eq!(messages[r], "rated.rhai:2:25: Runtime error: unrated");
        assert_eq!(
            e["rejected"],
            json!({ "factor": "rated", "message": messages[r] })
        );
        assert_eq!((&e["score"], &e["tier"]), (&Value::Null, &Value::Null));
        let (file, row) = origin(id);
        assert_eq!(texts(&rejects, "source_file")[r], file);
        assert_eq!(ints(&rejects, "row_number")[r] as u64, row);

        let text = run(dir, &["explain", "explained.yaml", "--id", id]);
        text.expect_code(0);
        let lines: Vec<&str> = text.stdout.lines().collect();
        assert_eq!(
            lines[0],
            format!("customer {id} ({file}, row {row}; read 1 of 13 row groups)")
        );
        assert!(
            lines.contains(&"value = (not kept: the row was rejected)  (weight 1)"),
            "{}",
            text.stdout
        );
        assert!(lines.contains(&"rated = (failed)"), "{}", text.stdout);
        assert_eq!(
            lines.last().unwrap(),
            &"rejected by rated: rated.rhai:2:25: Runtime error: unrated"
        );
    }
}

/// Rejects every tenth customer (ids ending in 7: rows 6, 16, 26, … of each file).
const SEVENS: &str = r#"// rejects every tenth customer
if customer_id.ends_with("7") { throw "seven" }
orders_12m * 1.0
"#;

/// Both the scoring pass and the pass that scores every row first to rank or normalise report
/// rejects slice by slice (4,096 rows of a batch, in row order): up to the slice that takes
/// them past the limit, on any number of threads.
const SCORING_SLICE: u64 = 4_096;

/// The rejects of [`SEVENS`] after the first read batch or slice (of `batch` rows, never
/// spanning two files) of the first `limit` rows at which they exceed `allowed`: where a run
/// checking after every batch or slice must stop. `None` when it never does.
fn rejects_at_stop(batch: u64, limit: u64, allowed: u64) -> Option<u64> {
    let (mut left, mut rejected) = (limit, 0);
    for (_, rows) in SEVERAL_BATCHES_FILES {
        let mut start = 0;
        while start < rows.min(left) {
            let end = (start + batch).min(rows).min(start + left);
            rejected += (start..end).filter(|r| r % 10 == 6).count() as u64;
            if rejected > allowed {
                return Some(rejected);
            }
            left -= end - start;
            start = end;
        }
    }
    None
}

/// What a failed run's headline says of the pass it stopped in: the ranking pass, for the rank
/// and normalised pipelines of [`too_many_rejects_stop_rank_and_normalised_runs_early_and_with_limit_or_sample`].
fn while_ranking(pipeline: &str) -> &'static str {
    if pipeline == "plain.yaml" {
        ""
    } else {
        " while scoring every row to rank or normalise them"
    }
}

#[test]
fn too_many_rejects_stop_rank_and_normalised_runs_early_and_with_limit_or_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    several_batches_input(dir);
    write(dir, "sevens.rhai", SEVENS);
    let pipeline = |name: &str, tiers: &str, score: &str| {
        format!(
            r#"version: 1
name: {name}
input: {{ path: data, id: customer_id }}
factors:
  - {{ name: orders, script: sevens.rhai, weight: 1.0 }}
  - {{ name: revenue, expr: "revenue_12m", weight: 0.5 }}
{score}
tiers:
{tiers}
output: {{ path: out }}
errors: {{ max_reject_fraction: 0.05 }}
"#
        )
    };
    let thresholds = "  levels: [{ name: high, min: 10 }, { name: low }]";
    let ranks = "  by: rank\n  levels: [{ name: A, top: 0.2 }, { name: B }]";
    write(dir, "plain.yaml", &pipeline("plain", thresholds, ""));
    write(dir, "rank.yaml", &pipeline("rank", ranks, ""));
    write(
        dir,
        "norm.yaml",
        &pipeline("norm", thresholds, "score: { normalize: zscore }"),
    );

    // 10% of the rows fail and 5% may: 3,750 of 75,000. Scoring stops after the slice that
    // passes them (4,009 rejects, in the second file), and so does the ranking pass, without
    // reading the third file.
    let stop = rejects_at_stop(SCORING_SLICE, 75_000, 3_750).unwrap();
    assert_eq!(stop, 4_009);
    for threads in ["1", "2", "4"] {
        for pipeline in ["plain.yaml", "rank.yaml", "norm.yaml"] {
            let result = run(dir, &["run", pipeline, "--threads", threads]);
            result.expect_code(3);
            assert_eq!(
                result.headline(),
                format!(
                    "{} of 75,000 input rows rejected so far{}, more than \
                     errors.max_reject_fraction 0.05 allows (3,750); nothing was committed",
                    count(stop),
                    while_ranking(pipeline)
                ),
                "{pipeline} on {threads} threads"
            );
            assert!(
                result
                    .help()
                    .starts_with("first rejected rows: data/part-1.parquet row 6 (step orders): sevens.rhai:2:33: Runtime error: seven"),
                "{pipeline}: {}",
                result.help()
            );
        }
    }

    // --limit: 5% of 50,000 is 2,500, passed within the first 32,768 rows.
    let stop = rejects_at_stop(SCORING_SLICE, 50_000, 2_500).unwrap();
    assert_eq!(stop, 2_867);
    for pipeline in ["plain.yaml", "rank.yaml", "norm.yaml"] {
        let result = run(dir, &["run", pipeline, "--limit", "50000"]);
        result.expect_code(3);
        let expected = format!(
            "{} of 50,000 input rows rejected so far{}, more than \
             errors.max_reject_fraction 0.05 allows (2,500); nothing was committed",
            count(stop),
            while_ranking(pipeline)
        );
        assert_eq!(result.headline(), expected, "{pipeline} --limit");
    }

    // --sample 0.8: the sample's size is known only at the end, so the early stop allows 5% of
    // every row read (3,750); the sample holds about 6,000 failing rows, more than that, and
    // the run stops before reading them all: after the slice passing 3,750, whose 4,096
    // sampled rows hold about 410 failing ones (one in ten; 600 is far past the sample's
    // spread). The three pipelines sample the same rows, so stop alike.
    let mut counts = Vec::new();
    for pipeline in ["plain.yaml", "rank.yaml", "norm.yaml"] {
        let result = run(dir, &["run", pipeline, "--sample", "0.8", "--seed", "5"]);
        result.expect_code(3);
        let headline = result.headline();
        let (count, rest) = headline.split_once(' ').unwrap();
        let count: u64 = count.replace(',', "").parse().unwrap();
        let expected = format!(
            "of 60,000 input rows rejected so far{}, more than errors.max_reject_fraction 0.05 \
             allows (3,750); nothing was committed",
            while_ranking(pipeline)
        );
        assert_eq!(rest, expected, "{pipeline} --sample");
        assert!(
            count > 3_750 && count < 3_750 + 600,
            "{pipeline} --sample: stopped at {count} rejects"
        );
        counts.push(count);
    }
    assert_eq!(counts, vec![counts[0]; 3]);
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
    assert!(!dir.join("out").exists());
}
