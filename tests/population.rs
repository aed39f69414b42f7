//! Contract: the population-aware features of `tierscore` — factor weights from an AHP pairwise
//! matrix (`score.weights.ahp`), factors normalised over the whole run (`score.normalize`), tier
//! scripts (`tiers.script`), rank and ABC tiers (`tiers.by: rank | cumulative_share`, `tiers.of`),
//! the same output for any `--threads`, `explain` agreeing with `run` on them, and `test` on the
//! shipped RFM and ABC pipelines.
//!
//! Every expected value is computed here from the input Parquet with the reference formula
//! (power iteration for AHP, min-max, population z-score, SQL PERCENT_RANK, rank shares,
//! cumulative shares), never taken from the tool's own output.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::*;
use serde_json::Value;

/// Rows of the generated input: enough for every branch below, small enough for debug builds.
const ROWS: usize = 3000;

/// The tier of rows rejected because their `tiers.of` value is null.
const NULL_RANK_MESSAGE: &str =
    "no rank or ABC tier: the value this row is ranked by (the score or tiers.of) is null";

/// A temporary folder holding `customers.parquet` (`tierscore gen`, ROWS rows, several row
/// groups).
fn workspace() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    gen(tmp.path(), "customers.parquet", ROWS as u64, 11, 700);
    tmp
}

/// The input columns the pipelines below read, straight from the Parquet file.
struct Customers {
    ids: Vec<String>,
    revenue: Vec<f64>,
    orders: Vec<i64>,
    tickets: Vec<i64>,
    referrals: Vec<i64>,
    product_pull: Vec<Option<i64>>,
}

fn customers(dir: &Path) -> Customers {
    let input = read_parquet(&dir.join("customers.parquet"));
    assert_eq!(input.num_rows(), ROWS);
    Customers {
        ids: texts(&input, "customer_id"),
        revenue: floats(&input, "revenue_12m"),
        orders: ints(&input, "orders_12m"),
        tickets: ints(&input, "support_tickets_12m"),
        referrals: ints(&input, "referrals"),
        product_pull: optional_ints(&input, "product_pull"),
    }
}

fn as_floats(values: &[i64]) -> Vec<f64> {
    values.iter().map(|v| *v as f64).collect()
}

/// The single file of a `partition_by: none` output.
fn flat_output(out: &Path) -> RecordBatch {
    read_parquet(&out.join("scored/part-00000.parquet"))
}

/// One rejected row: id, row number, step and message.
struct Rejected {
    id: String,
    row: i64,
    step: String,
    message: String,
}

fn rejects(out: &Path) -> Vec<Rejected> {
    let batch = read_parquet(&out.join("rejects/part-00000.parquet"));
    let ids = texts(&batch, "customer_id");
    let rows = ints(&batch, "row_number");
    let steps = texts(&batch, "factor");
    let messages = texts(&batch, "message");
    (0..batch.num_rows())
        .map(|i| Rejected {
            id: ids[i].clone(),
            row: rows[i],
            step: steps[i].clone(),
            message: messages[i].clone(),
        })
        .collect()
}

fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} != {expected} (tolerance {tolerance})"
    );
}

/// Relative closeness, for figures whose summation order may differ in the last bits.
fn assert_relative(actual: f64, expected: f64, what: &str) {
    assert_close(actual, expected, 1e-12 * expected.abs().max(1.0), what);
}

fn number(value: &Value, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"))
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

// ---------------------------------------------------------------------------------------------
// Reference formulas

/// AHP by the book: the principal eigenvector of the pairwise matrix by power iteration,
/// normalised to sum 1, with λmax = mean of (A·w)ᵢ / wᵢ, CI = (λmax − n)/(n − 1), CR = CI / RI.
struct AhpReference {
    weights: Vec<f64>,
    lambda_max: f64,
    ci: f64,
    cr: f64,
}

fn ahp_reference(matrix: &[[f64; 3]; 3]) -> AhpReference {
    let n = matrix.len();
    let multiply = |w: &[f64]| -> Vec<f64> {
        matrix
            .iter()
            .map(|row| row.iter().zip(w).map(|(a, w)| a * w).sum())
            .collect()
    };
    let mut w = vec![1.0 / n as f64; n];
    for _ in 0..10_000 {
        let next = multiply(&w);
        let total: f64 = next.iter().sum();
        let next: Vec<f64> = next.iter().map(|x| x / total).collect();
        let change: f64 = next.iter().zip(&w).map(|(a, b)| (a - b).abs()).sum();
        w = next;
        if change < 1e-15 {
            break;
        }
    }
    let aw = multiply(&w);
    let lambda_max = aw.iter().zip(&w).map(|(a, w)| a / w).sum::<f64>() / n as f64;
    let ci = (lambda_max - n as f64) / (n as f64 - 1.0);
    AhpReference {
        weights: w,
        lambda_max,
        ci,
        cr: ci / 0.58, // Saaty's random index for n = 3
    }
}

/// (x − min) / (max − min), with min and max.
fn minmax(values: &[f64]) -> (Vec<f64>, f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(max > min, "the test data must not be constant");
    let scaled = values.iter().map(|x| (x - min) / (max - min)).collect();
    (scaled, min, max)
}

/// (x − mean) / population standard deviation (ddof 0), with the mean and std.
fn zscore(values: &[f64]) -> (Vec<f64>, f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(std > 0.0, "the test data must not be constant");
    let scaled = values.iter().map(|x| (x - mean) / std).collect();
    (scaled, mean, std)
}

/// SQL `PERCENT_RANK() OVER (ORDER BY x)`: (rank − 1) / (n − 1), where rank − 1 is the number
/// of values strictly below x, so ties share a rank.
fn percent_rank(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = values.len();
    values
        .iter()
        .map(|x| sorted.partition_point(|s| s < x) as f64 / (n - 1) as f64)
        .collect()
}

/// `by: rank`: rows ordered by score descending, ties by input order; the row at 0-based
/// position i gets the first level whose `top × n > i`, else the catch-all.
fn rank_tiers(scores: &[f64], tops: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
    let n = scores.len() as f64;
    let mut tiers = vec![usize::MAX; scores.len()];
    for (position, row) in order.into_iter().enumerate() {
        tiers[row] = tops
            .iter()
            .position(|top| top * n > position as f64)
            .unwrap_or(tops.len());
    }
    tiers
}

/// `by: cumulative_share` over the non-null values: ordered by value descending, ties by input
/// order, a row's share is the running total up to it over the grand total; it gets the first
/// level whose `upto` is at least that share. Also gives the total.
fn abc_tiers(values: &[Option<f64>], uptos: &[f64]) -> (Vec<Option<usize>>, f64) {
    let mut order: Vec<usize> = (0..values.len()).filter(|i| values[*i].is_some()).collect();
    order.sort_by(|a, b| {
        values[*b]
            .unwrap()
            .total_cmp(&values[*a].unwrap())
            .then(a.cmp(b))
    });
    let total: f64 = order.iter().map(|i| values[*i].unwrap()).sum();
    let mut running = 0.0;
    let mut tiers = vec![None; values.len()];
    for row in order {
        running += values[row].unwrap();
        let share = running / total;
        tiers[row] = Some(
            uptos
                .iter()
                .position(|upto| *upto >= share)
                .unwrap_or(uptos.len()),
        );
    }
    (tiers, total)
}

// ---------------------------------------------------------------------------------------------
// 1. AHP weights

const AHP_CONSISTENT: &str = r#"[[1, 3, 5], ["1/3", 1, 3], ["1/5", "1/3", 1]]"#;
const AHP_CIRCULAR: &str = r#"[[1, 9, "1/9"], ["1/9", 1, 9], [9, "1/9", 1]]"#;

/// Three factors weighted by `matrix`; `orders_weight` adds a `weight:` to the second factor.
fn ahp_pipeline(matrix: &str, orders_weight: Option<f64>) -> String {
    let weight = orders_weight.map_or(String::new(), |w| format!(", weight: {w}"));
    format!(
        r#"version: 1
name: ahp
input: {{ path: customers.parquet, id: customer_id }}
factors:
  - {{ name: revenue, expr: "revenue_12m / 1000.0" }}
  - {{ name: orders, expr: "orders_12m"{weight} }}
  - {{ name: refs, expr: "referrals" }}
score:
  weights:
    ahp: {matrix}
tiers:
  levels:
    - {{ name: high, min: 20 }}
    - {{ name: rest }}
output: {{ path: out, partition_by: none }}
"#
    )
}

#[test]
fn ahp_weights_are_the_principal_eigenvector_and_weigh_the_score() {
    let tmp = workspace();
    let dir = tmp.path();
    write(dir, "ahp.yaml", &ahp_pipeline(AHP_CONSISTENT, None));
    run(dir, &["--quiet", "run", "ahp.yaml"]).expect_code(0);
    let out = dir.join("out");
    let m = manifest_exact(&out);

    // The published figures of this textbook matrix, to 3 decimals.
    let ahp = &m["ahp"];
    let weights: Vec<f64> = ahp["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| number(w, "ahp.weights[]"))
        .collect();
    let shown: Vec<String> = weights.iter().map(|w| format!("{w:.3}")).collect();
    assert_eq!(
        shown,
        ["0.637", "0.258", "0.105"],
        "ahp.weights {weights:?}"
    );
    assert_eq!(format!("{:.3}", number(&ahp["cr"], "ahp.cr")), "0.033");
    assert_eq!(number(&ahp["ri"], "ahp.ri"), 0.58);

    // And the eigenvector computed here, to full precision.
    let reference = ahp_reference(&[
        [1.0, 3.0, 5.0],
        [1.0 / 3.0, 1.0, 3.0],
        [1.0 / 5.0, 1.0 / 3.0, 1.0],
    ]);
    for (i, (got, want)) in weights.iter().zip(&reference.weights).enumerate() {
        assert_close(*got, *want, 1e-9, &format!("ahp.weights[{i}]"));
    }
    assert_close(
        number(&ahp["lambda_max"], "λmax"),
        reference.lambda_max,
        1e-9,
        "ahp.lambda_max",
    );
    assert_close(number(&ahp["ci"], "ci"), reference.ci, 1e-9, "ahp.ci");
    assert_close(number(&ahp["cr"], "cr"), reference.cr, 1e-9, "ahp.cr");

    // Each factor's weight is its AHP weight.
    let factors = m["factors"].as_array().unwrap();
    let names: Vec<&str> = factors
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["revenue", "orders", "refs"]);
    for (factor, weight) in factors.iter().zip(&weights) {
        assert_eq!(
            number(&factor["weight"], "factors[].weight"),
            *weight,
            "factor {}",
            factor["name"]
        );
    }

    // Every row: the factors as the rules give them, and score = Σ weight × factor.
    let input = customers(dir);
    let output = flat_output(&out);
    assert_eq!(texts(&output, "customer_id"), input.ids);
    let expected: [Vec<f64>; 3] = [
        input.revenue.iter().map(|r| r / 1000.0).collect(),
        as_floats(&input.orders),
        as_floats(&input.referrals),
    ];
    for (name, values) in ["revenue", "orders", "refs"].iter().zip(&expected) {
        assert_eq!(floats(&output, name), *values, "factor {name}");
    }
    let scores = floats(&output, "score");
    let tiers = texts(&output, "tier");
    for row in 0..ROWS {
        let sum: f64 = (0..3).map(|f| weights[f] * expected[f][row]).sum();
        assert_close(scores[row], sum, 1e-9, &format!("score of row {row}"));
        let tier = if scores[row] >= 20.0 { "high" } else { "rest" };
        assert_eq!(tiers[row], tier, "tier of row {row}");
    }
    assert!(
        tiers.iter().any(|t| t == "high"),
        "the data reaches the high tier"
    );
    assert_eq!(m["rows"]["scored"], ROWS);
}

#[test]
fn ahp_refuses_inconsistent_judgements_with_the_figures() {
    let tmp = workspace();
    let dir = tmp.path();
    write(dir, "ahp.yaml", &ahp_pipeline(AHP_CIRCULAR, None));
    // 1 ≫ 2 ≫ 3 ≫ 1: the figures, computed here.
    let reference = ahp_reference(&[
        [1.0, 9.0, 1.0 / 9.0],
        [1.0 / 9.0, 1.0, 9.0],
        [9.0, 1.0 / 9.0, 1.0],
    ]);
    for command in ["run", "check"] {
        let result = run(dir, &[command, "ahp.yaml"]);
        result.expect_code(1);
        let headline = result.headline();
        for part in [
            "CR = ".to_string(),
            "λmax = ".to_string(),
            "RI for n = 3 is 0.58".to_string(),
            format!("CR = {}", tierscore::human::number(reference.cr)),
            format!("CI = {}", tierscore::human::number(reference.ci)),
            format!("λmax = {}", tierscore::human::number(reference.lambda_max)),
            "CR must be below 0.10".to_string(),
        ] {
            assert!(
                headline.contains(&part),
                "{command}: {part:?} missing from {headline:?}"
            );
        }
        assert_eq!(
            snippet_location(&result.stderr),
            "ahp.yaml:10:5",
            "{command}: points at score.weights.ahp"
        );
    }
    assert!(!dir.join("out").exists(), "nothing was written");
}

#[test]
fn ahp_refuses_a_factor_weight_and_a_matrix_of_the_wrong_size() {
    let tmp = workspace();
    let dir = tmp.path();
    let cases: [(String, &str); 4] = [
        (
            ahp_pipeline(AHP_CONSISTENT, Some(2.0)),
            "factor `orders` has a weight, but the weights come from the AHP matrix",
        ),
        (
            ahp_pipeline(r#"[[1, 3], ["1/3", 1]]"#, None),
            "the AHP matrix has 2 rows but the pipeline has 3 factors",
        ),
        (
            ahp_pipeline(
                r#"[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]"#,
                None,
            ),
            "the AHP matrix has 4 rows but the pipeline has 3 factors",
        ),
        (
            ahp_pipeline(r#"[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]"#, None),
            "the pairwise matrix is not square: row 1 has 4 entries but there are 3 rows",
        ),
    ];
    for (yaml, message) in &cases {
        write(dir, "ahp.yaml", yaml);
        for command in ["run", "check"] {
            let result = run(dir, &[command, "ahp.yaml"]);
            result.expect_code(1);
            assert_eq!(result.headline(), *message, "{command}");
        }
    }
    assert!(!dir.join("out").exists(), "nothing was written");
}

// ---------------------------------------------------------------------------------------------
// 2. Normalisation

const NORMALISED_WEIGHTS: [(&str, f64); 3] = [("revenue", 0.5), ("orders", 0.3), ("tickets", -0.2)];
const RANK_TOPS: [f64; 2] = [0.1, 0.5];
const RANK_LEVELS: [&str; 3] = ["top", "middle", "rest"];

/// Three raw factors normalised with `method`, ranked into top 10% / next 40% / rest.
fn normalised_pipeline(method: &str, partition_by: &str) -> String {
    format!(
        r#"version: 1
name: norm_{method}
input: {{ path: customers.parquet, id: customer_id }}
factors:
  - {{ name: revenue, expr: "revenue_12m", weight: 0.5 }}
  - {{ name: orders, expr: "orders_12m", weight: 0.3 }}
  - {{ name: tickets, expr: "support_tickets_12m", weight: -0.2 }}
score:
  normalize: {method}
tiers:
  by: rank
  levels:
    - {{ name: top, top: 0.1 }}
    - {{ name: middle, top: 0.5 }}
    - {{ name: rest }}
output: {{ path: out, partition_by: {partition_by} }}
"#
    )
}

/// Runs the normalised pipeline and checks factors, scores, tiers and the manifest against the
/// reference formula of `method`.
fn check_normalisation(method: &str) {
    let tmp = workspace();
    let dir = tmp.path();
    write(dir, "norm.yaml", &normalised_pipeline(method, "none"));
    run(dir, &["--quiet", "run", "norm.yaml"]).expect_code(0);
    let out = dir.join("out");
    let input = customers(dir);
    let raw = [
        input.revenue.clone(),
        as_floats(&input.orders),
        as_floats(&input.tickets),
    ];

    let m = manifest_exact(&out);
    assert_eq!(m["rows"]["input"], ROWS);
    assert_eq!(m["rows"]["scored"], ROWS);
    assert_eq!(m["rows"]["rejected"], 0);
    let recorded = m["normalization"].as_array().unwrap();
    assert_eq!(recorded.len(), 3);

    let mut normalised: Vec<Vec<f64>> = Vec::new();
    for (((name, _), values), entry) in NORMALISED_WEIGHTS.iter().zip(&raw).zip(recorded) {
        assert_eq!(entry["factor"], *name);
        assert_eq!(entry["method"], method);
        assert_eq!(entry["count"], ROWS);
        let scaled = match method {
            "minmax" => {
                let (scaled, min, max) = minmax(values);
                assert_eq!(keys(entry), ["count", "factor", "max", "method", "min"]);
                assert_eq!(number(&entry["min"], "min"), min, "{name} min");
                assert_eq!(number(&entry["max"], "max"), max, "{name} max");
                scaled
            }
            "zscore" => {
                let (scaled, mean, std) = zscore(values);
                assert_eq!(keys(entry), ["count", "factor", "mean", "method", "std"]);
                assert_relative(
                    number(&entry["mean"], "mean"),
                    mean,
                    &format!("{name} mean"),
                );
                assert_relative(number(&entry["std"], "std"), std, &format!("{name} std"));
                scaled
            }
            "percent_rank" => {
                assert_eq!(keys(entry), ["count", "factor", "method"]);
                percent_rank(values)
            }
            other => panic!("no reference for {other}"),
        };
        normalised.push(scaled);
    }

    let output = flat_output(&out);
    assert_eq!(
        texts(&output, "customer_id"),
        input.ids,
        "every row, in input order"
    );
    for ((name, _), expected) in NORMALISED_WEIGHTS.iter().zip(&normalised) {
        let got = floats(&output, name);
        for row in 0..ROWS {
            if method == "zscore" {
                assert_relative(got[row], expected[row], &format!("{name} of row {row}"));
            } else {
                assert_eq!(got[row], expected[row], "{name} of row {row}");
            }
        }
    }
    let scores = floats(&output, "score");
    for (row, score) in scores.iter().enumerate() {
        let sum: f64 = NORMALISED_WEIGHTS
            .iter()
            .zip(&normalised)
            .map(|((_, weight), values)| weight * values[row])
            .sum();
        assert_close(*score, sum, 1e-12, &format!("score of row {row}"));
    }

    // Rank tiers over the written scores.
    let tiers = texts(&output, "tier");
    let expected = rank_tiers(&scores, &RANK_TOPS);
    for row in 0..ROWS {
        assert_eq!(
            tiers[row], RANK_LEVELS[expected[row]],
            "tier of row {row} (score {})",
            scores[row]
        );
    }
    let counts: Vec<u64> = m["tier_cutoffs"]["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [300, 1200, 1500]);
    assert_eq!(m["tier_cutoffs"]["population"], ROWS);
}

#[test]
fn minmax_normalises_every_factor_over_the_run() {
    check_normalisation("minmax");
}

#[test]
fn zscore_normalises_every_factor_over_the_run() {
    check_normalisation("zscore");
}

#[test]
fn percent_rank_normalises_every_factor_over_the_run() {
    check_normalisation("percent_rank");
}

#[test]
fn normalize_with_a_score_script_is_refused() {
    let tmp = workspace();
    let dir = tmp.path();
    write(dir, "score.rhai", "revenue * 2.0\n");
    write(
        dir,
        "norm.yaml",
        r#"version: 1
name: norm_script
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: revenue, expr: "revenue_12m" }
score:
  script: score.rhai
  normalize: minmax
tiers:
  levels:
    - { name: high, min: 100 }
    - { name: rest }
output: { path: out }
"#,
    );
    for command in ["run", "check"] {
        let result = run(dir, &[command, "norm.yaml"]);
        result.expect_code(1);
        assert_eq!(
            result.headline(),
            "`score.normalize` needs `combine: weighted_sum`",
            "{command}"
        );
    }
    assert!(!dir.join("out").exists(), "nothing was written");
}

// ---------------------------------------------------------------------------------------------
// 3. Tier scripts

#[test]
fn a_tier_script_naming_no_level_rejects_exactly_those_rows() {
    let tmp = workspace();
    let dir = tmp.path();
    write(
        dir,
        "tier.rhai",
        r#"if revenue_12m > 20000.0 { "big" }
else if orders_12m == 0 { "ghost" }
else if support_tickets_12m >= 5 { () }
else if referrals >= 5 { 42 }
else { "small" }
"#,
    );
    write(
        dir,
        "tiers.yaml",
        r#"version: 1
name: tier_script
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: revenue, expr: "revenue_12m", weight: 1.0 }
tiers:
  script: tier.rhai
  levels:
    - { name: big }
    - { name: small }
output: { path: out, partition_by: none }
errors: { max_reject_fraction: 1.0 }
"#,
    );
    run(dir, &["--quiet", "run", "tiers.yaml"]).expect_code(0);
    let out = dir.join("out");
    let input = customers(dir);

    /// What the script gives a row, computed here.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Named {
        Level(&'static str),
        Ghost,
        Unit,
        Number,
    }
    let named: Vec<Named> = (0..ROWS)
        .map(|i| {
            if input.revenue[i] > 20000.0 {
                Named::Level("big")
            } else if input.orders[i] == 0 {
                Named::Ghost
            } else if input.tickets[i] >= 5 {
                Named::Unit
            } else if input.referrals[i] >= 5 {
                Named::Number
            } else {
                Named::Level("small")
            }
        })
        .collect();
    for kind in [
        Named::Level("big"),
        Named::Level("small"),
        Named::Ghost,
        Named::Unit,
        Named::Number,
    ] {
        assert!(named.contains(&kind), "the data has rows giving {kind:?}");
    }

    let suffix = "it must give one of the levels: big, small";
    let got = rejects(&out);
    let expected_rows: Vec<usize> = (0..ROWS)
        .filter(|i| !matches!(named[*i], Named::Level(_)))
        .collect();
    assert_eq!(
        got.iter().map(|r| r.row as usize).collect::<Vec<_>>(),
        expected_rows,
        "exactly the rows the script gives no level are rejected"
    );
    for reject in &got {
        let row = reject.row as usize;
        assert_eq!(reject.id, input.ids[row]);
        assert_eq!(reject.step, "tier", "row {row}");
        match named[row] {
            Named::Ghost => assert_eq!(
                reject.message,
                "tier.rhai: the tier script gave \"ghost\", which is not one of the levels: big, small",
                "row {row}"
            ),
            Named::Unit => assert!(
                reject
                    .message
                    .starts_with("tier.rhai: the tier script gave ()")
                    && reject.message.ends_with(suffix),
                "row {row}: {}",
                reject.message
            ),
            Named::Number => assert!(
                reject
                    .message
                    .starts_with("tier.rhai: the tier script gave i64 (42)")
                    && reject.message.ends_with(suffix),
                "row {row}: {}",
                reject.message
            ),
            Named::Level(_) => unreachable!(),
        }
    }

    let output = flat_output(&out);
    let ids = texts(&output, "customer_id");
    let tiers = texts(&output, "tier");
    let scores = floats(&output, "score");
    let position: HashMap<&str, usize> = input
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let written: Vec<usize> = ids.iter().map(|id| position[id.as_str()]).collect();
    let expected_written: Vec<usize> = (0..ROWS)
        .filter(|i| matches!(named[*i], Named::Level(_)))
        .collect();
    assert_eq!(written, expected_written, "every other row, in input order");
    for (i, row) in written.iter().enumerate() {
        let Named::Level(level) = named[*row] else {
            unreachable!()
        };
        assert_eq!(tiers[i], level, "tier of row {row}");
        assert_eq!(scores[i], input.revenue[*row], "score of row {row}");
    }
    let m = manifest(&out);
    assert_eq!(m["rows"]["input"], ROWS);
    assert_eq!(m["rows"]["scored"], expected_written.len());
    assert_eq!(m["rows"]["rejected"], expected_rows.len());
}

/// A tier script reads the score the run writes: with `score.normalize`, the normalised one.
/// Min-max scaled factors weighted 0.5 and 0.5 give scores in 0..=1, so a script accepting
/// only such scores must accept every row, and every row counts in the normalisation.
#[test]
fn a_tier_script_sees_the_normalised_score() {
    let tmp = workspace();
    let dir = tmp.path();
    write(
        dir,
        "tier.rhai",
        "if score >= 0.0 && score <= 1.0 { \"in_range\" } else { \"out_of_range\" }\n",
    );
    write(
        dir,
        "tiers.yaml",
        r#"version: 1
name: normalised_tier_script
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: revenue, expr: "revenue_12m", weight: 0.5 }
  - { name: orders, expr: "orders_12m", weight: 0.5 }
score:
  normalize: minmax
tiers:
  script: tier.rhai
  levels:
    - { name: in_range }
output: { path: out, partition_by: none }
"#,
    );
    let result = run(dir, &["--quiet", "run", "tiers.yaml"]);
    result.expect_code(0);
    let out = dir.join("out");
    let input = customers(dir);
    let (revenue, min_revenue, max_revenue) = minmax(&input.revenue);
    let (orders, _, _) = minmax(&as_floats(&input.orders));
    let output = flat_output(&out);
    assert_eq!(texts(&output, "customer_id"), input.ids);
    assert!(texts(&output, "tier").iter().all(|t| t == "in_range"));
    let scores = floats(&output, "score");
    for row in 0..ROWS {
        assert_close(
            scores[row],
            0.5 * revenue[row] + 0.5 * orders[row],
            1e-12,
            &format!("score of row {row}"),
        );
    }
    let m = manifest_exact(&out);
    assert_eq!(m["normalization"][0]["count"], ROWS);
    assert_eq!(number(&m["normalization"][0]["min"], "min"), min_revenue);
    assert_eq!(number(&m["normalization"][0]["max"], "max"), max_revenue);
}

// ---------------------------------------------------------------------------------------------
// 4. ABC tiers of a column with nulls, and of a zero total

#[test]
fn abc_of_a_column_with_nulls_rejects_those_rows_and_tiers_the_rest() {
    let tmp = workspace();
    let dir = tmp.path();
    write(
        dir,
        "abc.yaml",
        r#"version: 1
name: abc_pull
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: revenue, expr: "revenue_12m", weight: 1.0 }
tiers:
  by: cumulative_share
  of: product_pull
  levels:
    - { name: A, upto: 0.5 }
    - { name: B, upto: 0.8 }
    - { name: C }
output: { path: out, partition_by: tier, columns: [product_pull] }
errors: { max_reject_fraction: 0.5 }
"#,
    );
    run(dir, &["--quiet", "run", "abc.yaml"]).expect_code(0);
    let out = dir.join("out");
    let input = customers(dir);
    let pull: Vec<Option<f64>> = input
        .product_pull
        .iter()
        .map(|v| v.map(|v| v as f64))
        .collect();
    let nulls: Vec<usize> = (0..ROWS).filter(|i| pull[*i].is_none()).collect();
    assert!(
        !nulls.is_empty() && nulls.len() < ROWS / 2,
        "product_pull has some nulls"
    );
    let uptos = [0.5, 0.8];
    let names = ["A", "B", "C"];
    let (expected, total) = abc_tiers(&pull, &uptos);

    // Null `of` values: rejected at the tier step, nothing else.
    let got = rejects(&out);
    assert_eq!(
        got.iter().map(|r| r.row as usize).collect::<Vec<_>>(),
        nulls
    );
    for reject in &got {
        assert_eq!(reject.id, input.ids[reject.row as usize]);
        assert_eq!(reject.step, "tier");
        assert_eq!(reject.message, NULL_RANK_MESSAGE);
    }

    // Every other row in its ABC tier, in input order within each tier.
    let position: HashMap<&str, usize> = input
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut written = 0;
    for (level, name) in names.iter().enumerate() {
        let batch = read_parquet(&out.join(format!("scored/tier={name}/part-00000.parquet")));
        let rows: Vec<usize> = texts(&batch, "customer_id")
            .iter()
            .map(|id| position[id.as_str()])
            .collect();
        let wanted: Vec<usize> = (0..ROWS).filter(|i| expected[*i] == Some(level)).collect();
        assert_eq!(rows, wanted, "tier {name}");
        let passed = optional_ints(&batch, "product_pull");
        let scores = floats(&batch, "score");
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(passed[i], input.product_pull[*row], "row {row}");
            assert_eq!(scores[i], input.revenue[*row], "score of row {row}");
        }
        written += rows.len();
    }
    assert_eq!(written + nulls.len(), ROWS);

    let m = manifest_exact(&out);
    assert_eq!(m["rows"]["input"], ROWS);
    assert_eq!(m["rows"]["scored"], written);
    assert_eq!(m["rows"]["rejected"], nulls.len());
    let cutoffs = &m["tier_cutoffs"];
    assert_eq!(cutoffs["population"], written);
    assert_eq!(number(&cutoffs["total"], "total"), total);
    for (level, entry) in cutoffs["levels"].as_array().unwrap().iter().enumerate() {
        let values: Vec<f64> = (0..ROWS)
            .filter(|i| expected[*i] == Some(level))
            .map(|i| pull[i].unwrap())
            .collect();
        assert_eq!(entry["name"], names[level]);
        assert_eq!(entry["count"], values.len());
        let highest = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lowest = values.iter().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(number(&entry["highest"], "highest"), highest);
        assert_eq!(number(&entry["lowest"], "lowest"), lowest);
    }
}

#[test]
fn abc_of_a_zero_total_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("value", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            arc(StringArray::from(vec!["a", "b", "c", "d"])),
            arc(Float64Array::from(vec![0.0; 4])),
            arc(Float64Array::from(vec![4.0, 1.0, 3.0, 2.0])),
        ],
    )
    .unwrap();
    write_parquet(&dir.join("zero.parquet"), &batch);
    write(
        dir,
        "zero.yaml",
        r#"version: 1
name: zero
input: { path: zero.parquet, id: customer_id }
factors:
  - { name: worth, expr: "value", weight: 1.0 }
tiers:
  by: cumulative_share
  of: amount
  levels:
    - { name: A, upto: 0.8 }
    - { name: C }
output: { path: out }
"#,
    );
    let result = run(dir, &["run", "zero.yaml"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "cannot assign ABC tiers over the run: the total of the values ranked is 0, so no row has a share of it"
    );
    assert_eq!(
        result.help(),
        "ABC tiers need a total above 0; rank and normalise need at most 4 billion rows"
    );
    assert!(!dir.join("out").exists(), "nothing was committed");
    assert!(staging_dirs(dir).is_empty(), "no staging left behind");
}

// ---------------------------------------------------------------------------------------------
// 5. Determinism

#[test]
fn rank_and_normalised_outputs_are_the_same_for_any_thread_count() {
    let tmp = workspace();
    let dir = tmp.path();
    write(
        dir,
        "rank.yaml",
        r#"version: 1
name: rank
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: revenue, expr: "revenue_12m / 1000.0", weight: 1.0 }
  - { name: pull, expr: "product_pull * 2", weight: 3.0 }
tiers:
  by: rank
  levels:
    - { name: gold, top: 0.05 }
    - { name: silver, top: 0.3 }
    - { name: bronze }
output: { path: out, partition_by: tier, columns: [region] }
errors: { max_reject_fraction: 0.5 }
"#,
    );
    write(dir, "norm.yaml", &normalised_pipeline("zscore", "tier"));
    for pipeline in ["rank.yaml", "norm.yaml"] {
        let one = dir.join(format!("{pipeline}.1"));
        let two = dir.join(format!("{pipeline}.2"));
        for (out, threads) in [(&one, "1"), (&two, "2")] {
            run(
                dir,
                &[
                    "--quiet",
                    "run",
                    pipeline,
                    "--threads",
                    threads,
                    "--output",
                    out.to_str().unwrap(),
                ],
            )
            .expect_code(0);
        }
        let (first, second) = (output_data(&one), output_data(&two));
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            second.keys().collect::<Vec<_>>(),
            "{pipeline}: the same files"
        );
        assert!(first.len() >= 3, "{pipeline}: several tiers: {first:?}");
        for (name, batch) in &first {
            assert_eq!(*batch, second[name], "{pipeline}: {name}");
        }
        assert_eq!(
            manifest_figures(&one),
            manifest_figures(&two),
            "{pipeline}: manifest figures"
        );
        assert!(manifest(&one)["tier_cutoffs"].is_object());
    }
    let rejected = manifest(&dir.join("rank.yaml.1"))["rows"]["rejected"]
        .as_u64()
        .unwrap();
    assert!(
        rejected > 0,
        "the rank pipeline rejects rows without product_pull"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. explain

#[test]
fn explain_gives_the_numbers_run_writes_on_a_normalised_rank_pipeline() {
    let tmp = workspace();
    let dir = tmp.path();
    write(
        dir,
        "norm.yaml",
        &normalised_pipeline("percent_rank", "none"),
    );
    run(dir, &["--quiet", "run", "norm.yaml"]).expect_code(0);
    let output = flat_output(&dir.join("out"));
    let ids = texts(&output, "customer_id");
    let tiers = texts(&output, "tier");
    let scores = floats(&output, "score");
    let factors: Vec<Vec<f64>> = NORMALISED_WEIGHTS
        .iter()
        .map(|(name, _)| floats(&output, name))
        .collect();
    let top = tiers.iter().position(|t| t == "top").unwrap();
    let rest = tiers.iter().position(|t| t == "rest").unwrap();

    for row in [top, rest] {
        let id = &ids[row];
        let result = run(
            dir,
            &["explain", "norm.yaml", "--id", id, "--format", "json"],
        );
        result.expect_code(0);
        let e = parse_json_exact(&result.stdout);
        assert_eq!(e["id"], id.as_str());
        assert_eq!(e["row_number"], row);
        assert_eq!(e["combine"], "weighted_sum");
        assert_eq!(e["rejected"], Value::Null);
        let explained = e["factors"].as_array().unwrap();
        assert_eq!(explained.len(), NORMALISED_WEIGHTS.len());
        let mut sum = 0.0;
        for ((factor, (name, weight)), values) in
            explained.iter().zip(&NORMALISED_WEIGHTS).zip(&factors)
        {
            assert_eq!(factor["name"], *name);
            let value = number(&factor["value"], "value");
            let contribution = number(&factor["contribution"], "contribution");
            assert_eq!(value, values[row], "{id}: {name} as run wrote it");
            assert_eq!(number(&factor["weight"], "weight"), *weight, "{id}: {name}");
            assert_eq!(
                contribution,
                values[row] * weight,
                "{id}: {name} contribution"
            );
            sum += contribution;
        }
        let score = number(&e["score"], "score");
        assert_eq!(score, scores[row], "{id}: score as run wrote it");
        assert_close(sum, score, 1e-12, "contributions add up to the score");
        assert_eq!(e["tier"]["name"], tiers[row].as_str(), "{id}: tier");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. test on the shipped RFM and ABC pipelines

/// How many cases a pipeline has: its own `tests:` and those of `NAME.tests.yaml`.
fn case_count(pipeline: &Path) -> usize {
    let count = |path: &Path| -> usize {
        if !path.exists() {
            return 0;
        }
        let doc: serde_yaml::Value = serde_yaml::from_str(&fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        doc["tests"].as_sequence().map_or(0, Vec::len)
    };
    count(pipeline) + count(&pipeline.with_extension("tests.yaml"))
}

#[test]
fn test_passes_the_rfm_and_abc_cases() {
    let repo = repo();
    let rfm = case_count(&repo.join("pipelines/rfm.yaml"));
    let abc = case_count(&repo.join("pipelines/abc.yaml"));
    assert!(rfm > 0 && abc > 0);
    let result = run(&repo, &["test", "pipelines/rfm.yaml", "pipelines/abc.yaml"]);
    result.expect_code(0);
    let lines: Vec<&str> = result.stdout.lines().collect();
    assert!(lines.contains(&format!("running {rfm} tests from pipelines/rfm.yaml").as_str()));
    assert!(lines.contains(&format!("running {abc} tests from pipelines/abc.yaml").as_str()));
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(" ... ok")).count(),
        rfm + abc,
        "{}",
        result.stdout
    );
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "test result: ok. {} passed; 0 failed; finished in ",
            rfm + abc
        )),
        "{last}"
    );
}

#[test]
fn a_tier_expected_under_abc_cannot_be_checked_per_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example(dir);
    let tests = dir.join("pipelines/abc.tests.yaml");
    let mut text = fs::read_to_string(&tests).unwrap();
    text.push_str(
        "  - name: a big customer is in class A\n    \
         row: { revenue_12m: 900000.0, revenue_history: [900000.0] }\n    \
         expect: { tier: A }\n",
    );
    fs::write(&tests, text).unwrap();
    let cases = case_count(&dir.join("pipelines/abc.yaml"));

    let result = run(dir, &["test", "pipelines/abc.yaml"]);
    result.expect_code(1);
    let lines: Vec<&str> = result.stdout.lines().collect();
    assert!(
        lines.contains(&"test a big customer is in class A ... FAILED"),
        "{}",
        result.stdout
    );
    let at = lines
        .iter()
        .position(|l| *l == "---- a big customer is in class A ----")
        .unwrap_or_else(|| panic!("no failure block:\n{}", result.stdout));
    let words = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(words(lines[at + 1]), "field expected actual");
    assert_eq!(
        words(lines[at + 2]),
        "tier A (rank and ABC tiers depend on every row; check them with run)"
    );
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "test result: FAILED. {} passed; 1 failed; finished in ",
            cases - 1
        )),
        "{last}"
    );
    assert_eq!(result.headline(), format!("1 of {cases} test cases failed"));
}
