//! Rows that fail their rules: an endless loop stopped by `limits.max_operations`, runtime
//! errors on some rows (exact counts, and `_rejects.parquet` pointing back at the right input
//! file and row), and `on_row_error: fail`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use serde_json::json;

const LOOP_MESSAGE: &str = "loop.rhai:2:6: stopped after limits.max_operations (1000) operations \
     on this row; an endless loop? raise limits.max_operations if the work is real";

#[test]
fn an_endless_loop_rejects_every_row_and_the_run_still_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 500, 21, 200);
    write(
        dir,
        "loop.yaml",
        r#"version: 1
name: loop
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: spin, script: loop.rhai, weight: 1.0 }
tiers:
  levels:
    - { name: all }
output: { path: out }
errors: { max_reject_fraction: 1.0 }
limits: { max_operations: 1000 }
"#,
    );
    write(dir, "loop.rhai", "// never ends\nloop {}\n");

    let result = run(dir, &["run", "loop.yaml"]);
    result.expect_code(0);
    assert!(
        result
            .stdout
            .starts_with("loop: 500 rows in, 0 scored, 500 rejected in "),
        "{}",
        result.stdout
    );

    let out = dir.join("out");
    assert_eq!(
        listing(&out),
        [
            "_SUCCESS",
            "_manifest.json",
            "_report.html",
            "rejects",
            "scored"
        ],
        "the scored dataset exists when no row is scored"
    );
    // Each tier's file, empty: readers' globs find the schema.
    assert_eq!(listing(&out.join("scored")), ["tier=all"]);
    let empty = read_parquet(&out.join("scored/tier=all/part-00000.parquet"));
    assert_eq!(empty.num_rows(), 0);
    let m = manifest(&out);
    assert_eq!(
        m["rows"],
        json!({"input": 500, "scored": 0, "rejected": 500})
    );
    let files = m["output"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["path"], "scored/tier=all/part-00000.parquet");
    assert_eq!(files[0]["rows"], 0);
    assert_eq!(m["tiers"][0]["count"], 0);

    let input = read_parquet(&dir.join("customers.parquet"));
    let rejects = read_parquet(&out.join("rejects/part-00000.parquet"));
    assert_eq!(rejects.num_rows(), 500);
    assert_eq!(texts(&rejects, "customer_id"), texts(&input, "customer_id"));
    assert_eq!(ints(&rejects, "row_number"), (0..500).collect::<Vec<i64>>());
    assert!(texts(&rejects, "source_file")
        .iter()
        .all(|f| f == "customers.parquet"));
    assert!(texts(&rejects, "factor").iter().all(|f| f == "spin"));
    assert!(texts(&rejects, "code")
        .iter()
        .all(|c| c == "limit_operations"));
    for message in texts(&rejects, "message") {
        assert_eq!(message, LOOP_MESSAGE);
    }
}

/// A pipeline over the folder `data/` whose second factor throws when `orders_12m > 10`.
fn write_throwing_pipeline(dir: &Path, errors: &str) {
    write(
        dir,
        "p.yaml",
        &format!(
            r#"version: 1
name: busy
input: {{ path: data, id: customer_id, unique_ids: false }}
factors:
  - {{ name: base, expr: "1.0", weight: 1.0 }}
  - {{ name: check, script: check.rhai, weight: 1.0 }}
tiers:
  levels:
    - {{ name: all }}
output: {{ path: out, partition_by: none }}
errors: {errors}
"#
        ),
    );
    write(
        dir,
        "check.rhai",
        "// rejects customers with too many orders\nif orders_12m > 10 { throw \"too many\" }\norders_12m * 1.0\n",
    );
}

#[test]
fn runtime_errors_reject_exactly_the_failing_rows_and_point_back_at_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Two files in a folder; the first is longer than one read batch (the run's BATCH_ROWS,
    // 32,768 rows), so row numbers must carry across batches and restart at 0 in the second.
    gen(dir, "data/a.parquet", 34_000, 11, 8000);
    gen(dir, "data/b.parquet", 1500, 12, 700);
    write_throwing_pipeline(dir, "{ max_reject_fraction: 1.0 }");

    // Which rows fail, worked out from the input alone.
    let mut expected: BTreeSet<(String, i64)> = BTreeSet::new();
    let mut inputs = Vec::new();
    for file in ["data/a.parquet", "data/b.parquet"] {
        let batch = read_parquet(&dir.join(file));
        for (row, orders) in ints(&batch, "orders_12m").iter().enumerate() {
            if *orders > 10 {
                expected.insert((file.to_string(), row as i64));
            }
        }
        inputs.push((file, batch));
    }
    let in_a = expected.iter().filter(|(f, _)| f == "data/a.parquet");
    assert!(
        in_a.clone().any(|(_, r)| *r >= 32_768),
        "a failing row after the first batch"
    );
    assert!(expected.iter().any(|(f, _)| f == "data/b.parquet"));

    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(0);
    let total = 34_000 + 1500;
    let rejected = expected.len();
    assert!(
        result.stdout.starts_with(&format!(
            "busy: 35,500 rows in, {} scored, {} rejected in ",
            tierscore::human::count((total - rejected) as u64),
            tierscore::human::count(rejected as u64)
        )),
        "{}",
        result.stdout
    );
    let out = dir.join("out");
    let m = manifest(&out);
    assert_eq!(
        m["rows"],
        json!({"input": total, "scored": total - rejected, "rejected": rejected})
    );

    let rejects = read_parquet(&out.join("rejects/part-00000.parquet"));
    let names = column_names(rejects.schema_ref());
    assert_eq!(
        names,
        [
            "customer_id",
            "source_file",
            "row_number",
            "factor",
            "code",
            "message",
            "inputs",
            "run_id"
        ]
    );
    assert_eq!(rejects.num_rows(), rejected);
    let files = texts(&rejects, "source_file");
    let rows = ints(&rejects, "row_number");
    let ids = texts(&rejects, "customer_id");
    let got: BTreeSet<(String, i64)> = files.iter().cloned().zip(rows.iter().copied()).collect();
    assert_eq!(got, expected);
    // Rejects come in input order.
    let order: Vec<(String, i64)> = files.iter().cloned().zip(rows.iter().copied()).collect();
    assert_eq!(order, expected.iter().cloned().collect::<Vec<_>>());
    let input_ids: Vec<Vec<String>> = inputs
        .iter()
        .map(|(_, batch)| texts(batch, "customer_id"))
        .collect();
    for (i, (file, row)) in order.iter().enumerate() {
        let which = inputs.iter().position(|(f, _)| f == file).unwrap();
        assert_eq!(ids[i], input_ids[which][*row as usize], "{file} row {row}");
    }
    // Spot-check one row past the first batch by hand.
    let late = order
        .iter()
        .position(|(f, r)| f == "data/a.parquet" && *r >= 32_768)
        .unwrap();
    let row = rows[late] as usize;
    assert!(ints(&inputs[0].1, "orders_12m")[row] > 10);
    assert_eq!(ids[late], input_ids[0][row]);

    assert!(texts(&rejects, "factor").iter().all(|f| f == "check"));
    for message in texts(&rejects, "message") {
        assert_eq!(message, "check.rhai:2:22: Runtime error: too many");
    }
    // A stable code, the run's id and the values the failing rule read, as JSON.
    assert!(texts(&rejects, "code").iter().all(|c| c == "thrown"));
    assert_eq!(
        m["rejects_by"],
        json!([{"step": "check", "code": "thrown", "count": rejected}])
    );
    assert!(texts(&rejects, "run_id").iter().all(|r| *r == m["run_id"]));
    let orders = ints(&inputs[0].1, "orders_12m");
    let read: Vec<serde_json::Value> = texts(&rejects, "inputs")
        .iter()
        .map(|text| serde_json::from_str(text).unwrap())
        .collect();
    assert_eq!(read[late], json!({ "orders_12m": orders[row] }));
    assert!(read.iter().all(|v| v["orders_12m"].as_i64().unwrap() > 10));

    // The scored rows are exactly the others, in input order.
    let output = read_parquet(&out.join("scored/part-00000.parquet"));
    assert_eq!(output.num_rows(), total - rejected);
    let mut kept_orders = Vec::new();
    for (_, batch) in &inputs {
        kept_orders.extend(
            ints(batch, "orders_12m")
                .into_iter()
                .filter(|o| *o <= 10)
                .map(|o| o as f64),
        );
    }
    assert_eq!(floats(&output, "check"), kept_orders);
}

#[test]
fn on_row_error_fail_stops_at_the_first_failing_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "data/a.parquet", 1000, 11, 1000);
    write_throwing_pipeline(dir, "{ on_row_error: fail }");
    let orders = ints(&read_parquet(&dir.join("data/a.parquet")), "orders_12m");
    let first = orders.iter().position(|&o| o > 10).unwrap();

    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        format!(
            "data/a.parquet row {first}: `check` failed: check.rhai:2:22: Runtime error: \
             too many; nothing was committed"
        )
    );
    assert_eq!(
        result.help(),
        "errors.on_row_error is `fail`; fix the rule or the data, or set it to `reject`"
    );
    assert!(!dir.join("out").exists());
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
}

/// A weighted sum that overflows to infinity rejects its row, as a factor value that is not
/// finite does (it was once written as the row's score, in the top tier, and the manifest's
/// score statistics became `null`).
#[test]
fn a_score_that_is_not_finite_is_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_parquet(
        &dir.join("big.parquet"),
        &arrow::array::RecordBatch::try_from_iter([
            (
                "id",
                arc(arrow::array::StringArray::from(vec!["huge", "small"])),
            ),
            (
                "big",
                arc(arrow::array::Float64Array::from(vec![1e308, 1.0])),
            ),
        ])
        .unwrap(),
    );
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: overflow
input: { path: big.parquet, id: id }
factors:
  - { name: f, expr: "big", weight: 10.0 }
tiers:
  levels:
    - { name: top, min: 100 }
    - { name: rest }
output: { path: out, partition_by: none }
errors: { max_reject_fraction: 1.0 }
"#,
    );
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    let scores = floats(&out, "score");
    assert!(
        scores.iter().all(|s| s.is_finite()),
        "scores written: {scores:?}"
    );
    assert_eq!(texts(&out, "id"), ["small"]);
    let rejects = read_parquet(&dir.join("out/rejects/part-00000.parquet"));
    assert_eq!(texts(&rejects, "id"), ["huge"]);
    assert_eq!(texts(&rejects, "factor"), ["score"]);
    let m = manifest(&dir.join("out"));
    assert_eq!(m["rows"], json!({"input": 2, "scored": 1, "rejected": 1}));
    assert_eq!(m["score"]["max"], 10.0);
}

/// Scripts that each grow one thing with the row's `n`: nested calls, a string, an array, a map
/// and loop turns. Each is the factor `v` of its own pipeline `NAME.yaml`.
const GROWING: [(&str, &str); 5] = [
    (
        "depth",
        "// nests n + 1 calls\nfn f(k) { if k == 0 { 0 } else { 1 + f(k - 1) } }\nf(n) * 1.0\n",
    ),
    (
        "string",
        "// a string of n characters\nlet s = \"\";\ns.pad(n, 'x');\ns.len() * 1.0\n",
    ),
    (
        "array",
        "// an array of n items\nlet a = [];\na.pad(n, 0);\na.len() * 1.0\n",
    ),
    (
        "map",
        "// a map of n entries\nlet m = #{};\nfor i in 0..n { m[`k${i}`] = i; }\nm.len() * 1.0\n",
    ),
    ("ops", "// n empty loop turns\nfor i in 0..n { }\nn * 1.0\n"),
];

/// Writes `n.parquet` (ids `n=N` for each of `ns`) and one pipeline per growing script, with
/// `limits` (YAML, or empty for the defaults).
fn write_limit_pipelines(dir: &Path, ns: &[i64], limits: &str) {
    write_parquet(
        &dir.join("n.parquet"),
        &arrow::array::RecordBatch::try_from_iter([
            (
                "id",
                arc(arrow::array::StringArray::from(
                    ns.iter().map(|n| format!("n={n}")).collect::<Vec<_>>(),
                )),
            ),
            ("n", arc(arrow::array::Int64Array::from(ns.to_vec()))),
        ])
        .unwrap(),
    );
    for (name, script) in GROWING {
        write(dir, &format!("{name}.rhai"), script);
        write(
            dir,
            &format!("{name}.yaml"),
            &format!(
                r#"version: 1
name: {name}
input: {{ path: n.parquet, id: id }}
factors:
  - {{ name: v, script: {name}.rhai, weight: 1.0 }}
tiers:
  levels:
    - {{ name: all }}
output: {{ path: out_{name}, partition_by: none }}
errors: {{ max_reject_fraction: 1.0 }}
{limits}
"#
            ),
        );
    }
}

/// Ids scored with their values.
type Scored = Vec<(String, f64)>;
/// Ids rejected with their messages.
type Rejected = Vec<(String, String)>;

/// Runs `NAME.yaml`: the ids scored with their values, and the ids rejected with messages.
fn limit_run(dir: &Path, name: &str) -> (Scored, Rejected) {
    run(dir, &["--quiet", "run", &format!("{name}.yaml")]).expect_code(0);
    let out = dir.join(format!("out_{name}"));
    let part = out.join("scored/part-00000.parquet");
    let scored = if part.exists() {
        let scored = read_parquet(&part);
        texts(&scored, "id")
            .into_iter()
            .zip(floats(&scored, "v"))
            .collect()
    } else {
        Vec::new()
    };
    let rejects = read_parquet(&out.join("rejects/part-00000.parquet"));
    assert!(texts(&rejects, "factor").iter().all(|f| f == "v"));
    (
        scored,
        texts(&rejects, "id")
            .into_iter()
            .zip(texts(&rejects, "message"))
            .collect(),
    )
}

/// `n=N` ids and values of the rows with `n` in `ns`.
fn scored_ns(ns: &[i64]) -> Scored {
    ns.iter().map(|n| (format!("n={n}"), *n as f64)).collect()
}

/// `n=N` ids of the rows with `n` in `ns`, each with `message`.
fn rejected_ns(ns: &[i64], message: &str) -> Rejected {
    ns.iter()
        .map(|n| (format!("n={n}"), message.to_string()))
        .collect()
}

#[test]
fn each_limit_rejects_exactly_the_rows_that_exceed_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ns = [0, 4, 5, 10, 11];
    write_limit_pipelines(
        dir,
        &ns,
        "limits: { max_call_depth: 5, max_string_size: 10, max_array_size: 10, max_map_size: 10 }",
    );
    // f(n) nests n + 1 calls: f(4) nests 5, the most allowed.
    assert_eq!(
        limit_run(dir, "depth"),
        (
            scored_ns(&[0, 4]),
            rejected_ns(
                &[5, 10, 11],
                "depth.rhai:3:1: calls nested deeper than limits.max_call_depth (5); endless \
                 recursion?"
            )
        )
    );
    assert_eq!(
        limit_run(dir, "string"),
        (
            scored_ns(&[0, 4, 5, 10]),
            rejected_ns(&[11], "string.rhai:3:3: a string is over limits.max_string_size (10 bytes) on this row; raise limits.max_string_size if the data is real")
        )
    );
    assert_eq!(
        limit_run(dir, "array"),
        (
            scored_ns(&[0, 4, 5, 10]),
            rejected_ns(&[11], "array.rhai:3:3: an array is over limits.max_array_size (10 items) on this row; raise limits.max_array_size if the data is real")
        )
    );
    assert_eq!(
        limit_run(dir, "map"),
        (
            scored_ns(&[0, 4, 5, 10]),
            rejected_ns(&[11], "map.rhai:4:3: a map is over limits.max_map_size (10 entries) on this row; raise limits.max_map_size if the data is real")
        )
    );
    // Without max_operations the default (1,000,000) leaves these short loops alone.
    assert_eq!(limit_run(dir, "ops"), (scored_ns(&ns), vec![]));
}

/// The defaults docs/pipeline.md documents: max_operations 1,000,000, max_call_depth 32,
/// max_string_size 100,000, max_array_size 10,000, max_map_size 10,000.
#[test]
fn the_default_limits_are_the_documented_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ns = [31, 32, 10_000, 10_001, 100_000, 100_001, 300_000, 2_000_000];
    // The counting limits at their defaults. The wall-time budget (limits.max_row_ms, 5 s) is
    // tested on its own (tests/hostile): raised here, since a debug build on a loaded machine can
    // take longer than 5 s to fill a map of 100,000 keys, which would reject that row by time.
    write_limit_pipelines(dir, &ns, "limits: { max_row_ms: 600000 }");
    assert_eq!(
        limit_run(dir, "depth"),
        (
            scored_ns(&[31]),
            rejected_ns(
                &ns[1..],
                "depth.rhai:3:1: calls nested deeper than limits.max_call_depth (32); endless \
                 recursion?"
            )
        )
    );
    assert_eq!(
        limit_run(dir, "string"),
        (
            scored_ns(&ns[..5]),
            rejected_ns(&ns[5..], "string.rhai:3:3: a string is over limits.max_string_size (100000 bytes) on this row; raise limits.max_string_size if the data is real")
        )
    );
    assert_eq!(
        limit_run(dir, "array"),
        (
            scored_ns(&ns[..3]),
            rejected_ns(&ns[3..], "array.rhai:3:3: an array is over limits.max_array_size (10000 items) on this row; raise limits.max_array_size if the data is real")
        )
    );
    // rhai checks a map's size as the loop goes, but the two longest loops (300,000 and
    // 2,000,000 turns) reach the operation limit before the map is checked too large.
    let (scored, rejected) = limit_run(dir, "map");
    assert_eq!(scored, scored_ns(&ns[..3]));
    assert_eq!(
        rejected,
        [
            rejected_ns(&ns[3..6], "map.rhai:4:3: a map is over limits.max_map_size (10000 entries) on this row; raise limits.max_map_size if the data is real"),
            rejected_ns(
                &ns[6..],
                "map.rhai:3:19: stopped after limits.max_operations (1000000) operations on \
                 this row; an endless loop? raise limits.max_operations if the work is real"
            )
        ]
        .concat()
    );
    assert_eq!(
        limit_run(dir, "ops"),
        (
            scored_ns(&ns[..7]),
            rejected_ns(
                &ns[7..],
                "ops.rhai:2:15: stopped after limits.max_operations (1000000) operations on this \
                 row; an endless loop? raise limits.max_operations if the work is real"
            )
        )
    );
}

/// Each way a row can fail carries its own stable code in the rejects file and the manifest's
/// `rejects_by`: one row for each, chosen by the input's `n`.
#[test]
fn each_kind_of_failure_carries_its_own_code() {
    use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ids: Vec<Option<String>> = (1..=10)
        .map(|i| (i != 9).then(|| format!("C{i}")))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
            Field::new("x", DataType::Float64, true),
        ])),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Int64Array::from((1..=10).collect::<Vec<i64>>())),
            Arc::new(Float64Array::from(
                (1..=10)
                    .map(|i| (i != 2).then_some(1.5))
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    write_parquet(&dir.join("customers.parquet"), &batch);
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: codes
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: value, script: value.rhai, weight: 10.0 }
tiers:
  levels:
    - { name: all }
output: { path: out }
errors: { max_reject_fraction: 1.0 }
limits: { max_operations: 10000, max_array_size: 100, max_call_depth: 16 }
"#,
    );
    write(
        dir,
        "value.rhai",
        r#"// One way to fail for each n.
fn deeper(k) { deeper(k + 1) }
if n == 1 { throw "bad row"; }
if n == 2 { return x + 1.0; }
if n == 3 { return 1 / 0; }
if n == 4 { loop { } }
if n == 5 { return deeper(0); }
if n == 6 { let a = []; loop { a.push(1); } }
if n == 7 { return "text"; }
if n == 10 { return 1e308; }
x
"#,
    );
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let out = dir.join("out");
    let rejects = read_parquet(&out.join("rejects/part-00000.parquet"));
    let got: Vec<(i64, String)> = ints(&rejects, "row_number")
        .into_iter()
        .zip(texts(&rejects, "code"))
        .collect();
    let expected = [
        (0, "thrown"),
        (1, "null_value"),
        (2, "arithmetic"),
        (3, "limit_operations"),
        (4, "limit_call_depth"),
        (5, "limit_size"),
        (6, "bad_value"),
        (8, "null_id"),
        (9, "score_not_finite"),
    ];
    assert_eq!(
        got,
        expected
            .iter()
            .map(|(row, code)| (*row, code.to_string()))
            .collect::<Vec<_>>()
    );
    let m = manifest(&out);
    let mut by_code: Vec<(String, u64)> = m["rejects_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    by_code.sort();
    let mut expected_codes: Vec<(String, u64)> = expected
        .iter()
        .map(|(_, code)| (code.to_string(), 1))
        .collect();
    expected_codes.sort();
    assert_eq!(by_code, expected_codes);
    assert_eq!(m["rows"], json!({"input": 10, "scored": 1, "rejected": 9}));
}

/// A pipeline `p.yaml` of one factor, `expr`, over `customers.parquet`, allowing 1% of rows
/// rejected.
fn write_limited_pipeline(dir: &Path, expr: &str) {
    write(
        dir,
        "p.yaml",
        &format!(
            r#"version: 1
name: limited
input: {{ path: customers.parquet, id: customer_id }}
factors:
  - {{ name: value, expr: '{expr}', weight: 1.0 }}
tiers:
  levels:
    - {{ name: all }}
output: {{ path: out }}
errors: {{ max_reject_fraction: 0.01 }}
"#
        ),
    );
}

/// Runs `p.yaml` on 1, 2 and 8 threads: each fails with `headline` and commits nothing.
fn assert_fails_alike_on_any_number_of_threads(dir: &Path, headline: &str) {
    for threads in ["1", "2", "8"] {
        let result = run(dir, &["run", "p.yaml", "--threads", threads]);
        result.expect_code(3);
        assert_eq!(result.headline(), headline, "{threads} threads");
        assert!(!dir.join("out").exists());
    }
}

/// A rule that rejects every row stops the run after its first slice (all rejected, past the
/// 400 allowed), and reports the rejects of the first 4,096 rows, the same count on any number
/// of threads.
#[test]
fn a_rule_rejecting_every_row_stops_the_run_after_one_slice() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 40_000, 5, 40_000);
    write_limited_pipeline(dir, r#"throw "refused""#);
    assert_fails_alike_on_any_number_of_threads(
        dir,
        "4,096 of 40,000 input rows rejected so far, more than errors.max_reject_fraction 0.01 \
         allows (400); nothing was committed",
    );
}

/// How far a hostile rule gets: every row of 200,000 prints, then throws. On one thread the
/// run stops after exactly its first 4,096 rows (an interpreted rule's slice), which pass the
/// 2,000 rejects allowed; no later slice or batch is scored. (With more threads, the slices
/// begun before the first one passing the limit is done also run, as many as timing gives;
/// `score::tests::a_batch_passing_the_limit_skips_the_batches_after_it_only` holds the
/// skipping of later batches.)
#[test]
fn a_hostile_rule_stops_being_run_once_a_slice_passes_the_limit() {
    let (headline, scored) = hostile_run(None);
    assert_eq!(
        headline,
        "4,096 of 200,000 input rows rejected so far, more than errors.max_reject_fraction \
         0.01 allows (2,000); nothing was committed"
    );
    assert_eq!(scored, 4_096);
}

/// The same hostile rule in a rank pipeline: its ranking pass, which scores every row before
/// the output is written, stops being run the same way (it used to score the whole batch of
/// 32,768 rows before counting).
#[test]
fn a_hostile_rule_stops_the_ranking_pass_once_a_slice_passes_the_limit() {
    let rank = "tiers:\n  by: rank\n  levels:\n    - { name: top, top: 0.5 }\n    - { name: rest }";
    let (headline, scored) = hostile_run(Some(rank));
    assert_eq!(
        headline,
        "4,096 of 200,000 input rows rejected so far while scoring every row to rank or \
         normalise them, more than errors.max_reject_fraction 0.01 allows (2,000); nothing was \
         committed"
    );
    assert_eq!(scored, 4_096);
}

/// Runs the hostile rule (prints, then throws) over 200,000 rows on one thread, with the
/// pipeline's `tiers` section replaced by `tiers` when given; the run must fail (exit 3). Its
/// headline and how many rows the rule ran on.
fn hostile_run(tiers: Option<&str>) -> (String, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200_000, 5, 65_536);
    write_limited_pipeline(dir, r#"print("scored"); throw "refused""#);
    if let Some(tiers) = tiers {
        let shipped = "tiers:\n  levels:\n    - { name: all }";
        let pipeline = std::fs::read_to_string(dir.join("p.yaml")).unwrap();
        assert!(pipeline.contains(shipped));
        write(dir, "p.yaml", &pipeline.replace(shipped, tiers));
    }
    let result = tierscore(dir)
        .env("TIERSCORE_LOG", "tierscore::script=debug")
        .args(["run", "p.yaml", "--threads", "1"])
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(3));
    let stderr = String::from_utf8(result.stderr).unwrap();
    let scored = stderr.lines().filter(|l| l.ends_with(" scored")).count();
    (headline(&stderr), scored)
}

/// A limit passed in a later batch, while the batches after it are scored at once: the run
/// reports the rejects up to the end of the 4,096 rows holding the one that passes it, the same
/// count on any number of threads (batches of 32,768 rows, so those blocks of 4,096 rows start
/// at multiples of 4,096 in the file).
#[test]
fn a_limit_passed_in_a_later_batch_stops_at_the_same_slice_on_any_number_of_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200_000, 5, 200_000);
    write_limited_pipeline(
        dir,
        r#"if orders_12m > 20 { throw "too busy" } else { 1.0 }"#,
    );
    let orders = ints(&read_parquet(&dir.join("customers.parquet")), "orders_12m");
    let failing: Vec<usize> = (0..orders.len()).filter(|&i| orders[i] > 20).collect();
    // The 2,001st failing row passes the 2,000 allowed; its block of 4,096 rows all count.
    let passing = failing[2000];
    assert!(
        passing > 32_768 * 2,
        "the limit is passed in the third batch or later"
    );
    let slice_end = (passing / 4096 + 1) * 4096;
    let expected = failing.iter().filter(|&&row| row < slice_end).count();
    assert_fails_alike_on_any_number_of_threads(
        dir,
        &format!(
            "{} of 200,000 input rows rejected so far, more than errors.max_reject_fraction 0.01 \
             allows (2,000); nothing was committed",
            tierscore::human::count(expected as u64)
        ),
    );
}
