//! `tierscore diff` through the binary on small hand-made outputs: factors added and removed,
//! integer ids of different widths matched, dictionary-encoded and plain ids matched, timestamp
//! zones spelled differently matched, and ids that occur twice or are null refused.

mod common;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use common::*;
use serde_json::{json, Value};

/// Customers `ids` with `x` = 1, 2, 3, … in `NAME.parquet`.
fn write_input(dir: &Path, name: &str, ids: ArrayRef) {
    let x: Vec<f64> = (1..=ids.len()).map(|i| i as f64).collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", ids.data_type().clone(), true),
            Field::new("x", DataType::Float64, false),
        ])),
        vec![ids, arc(Float64Array::from(x))],
    )
    .unwrap();
    write_parquet(&dir.join(format!("{name}.parquet")), &batch);
}

/// A pipeline over `INPUT.parquet` with `factors` (YAML list items), tiers `high` (score >=
/// 10) and `low`, into `out/NAME`.
fn write_pipeline(dir: &Path, name: &str, input: &str, factors: &[&str]) {
    let factors: String = factors.iter().map(|f| format!("  - {f}\n")).collect();
    write(
        dir,
        &format!("{name}.yaml"),
        &format!(
            r#"version: 1
name: {name}
input: {{ path: {input}.parquet, id: id, unique_ids: false }}
factors:
{factors}tiers:
  levels:
    - {{ name: high, min: 10 }}
    - {{ name: low }}
output: {{ path: out/{name} }}
"#
        ),
    );
    run(dir, &["--quiet", "run", &format!("{name}.yaml")]).expect_code(0);
}

fn diff_json(dir: &Path, old: &str, new: &str) -> Value {
    let result = run(
        dir,
        &[
            "diff",
            &format!("out/{old}"),
            &format!("out/{new}"),
            "--format",
            "json",
        ],
    );
    result.expect_code(0);
    parse_json_exact(&result.stdout)
}

#[test]
fn factors_added_and_removed_are_named_and_integer_ids_of_any_width_match() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The same customers 1..=4, as Int32 ids in the old input and Int64 ids in the new one.
    write_input(dir, "old", arc(Int32Array::from(vec![1, 2, 3, 4])));
    write_input(dir, "new", arc(Int64Array::from(vec![1, 2, 3, 4])));
    write_pipeline(
        dir,
        "before",
        "old",
        &[
            r#"{ name: a, expr: "x", weight: 1.0 }"#,
            r#"{ name: b, expr: "x * 2.0", weight: 1.0 }"#,
            r#"{ name: c, expr: "1.0", weight: 1.0 }"#,
        ],
    );
    write_pipeline(
        dir,
        "after",
        "new",
        &[
            r#"{ name: c, expr: "1.0", weight: 1.0 }"#,
            r#"{ name: a, expr: "x * 4.0", weight: 1.0 }"#,
            r#"{ name: d, expr: "x", weight: 1.0 }"#,
        ],
    );
    assert_eq!(
        parquet_schema(&dir.join("out/before/scored/tier=low/part-00000.parquet"))
            .field_with_name("id")
            .unwrap()
            .data_type(),
        &DataType::Int32
    );

    // Old scores: x + 2x + 1 = 4, 7, 10, 13; new: 1 + 4x + x = 6, 11, 16, 21, so customer 2
    // moves from low to high. Tiers in the new pipeline's order: high, low.
    let report = diff_json(dir, "before", "after");
    assert_eq!(report["id_column"], "id");
    assert_eq!(report["factors"], json!(["c", "a"]));
    assert_eq!(report["factors_added"], json!(["d"]));
    assert_eq!(report["factors_removed"], json!(["b"]));
    assert_eq!(report["only_in_old"], json!({"count": 0, "ids": []}));
    assert_eq!(report["only_in_new"], json!({"count": 0, "ids": []}));
    assert_eq!(report["matrix_rows"], json!([[2, 0], [1, 1]]));
    assert_eq!(
        report["top_movers"],
        json!([
            { "id": 4, "old_score": 13.0, "new_score": 21.0, "change": 8.0, "old_tier": "high",
              "new_tier": "high", "factor_changes": { "c": 0.0, "a": 12.0 } },
            { "id": 3, "old_score": 10.0, "new_score": 16.0, "change": 6.0, "old_tier": "high",
              "new_tier": "high", "factor_changes": { "c": 0.0, "a": 9.0 } },
            { "id": 2, "old_score": 7.0, "new_score": 11.0, "change": 4.0, "old_tier": "low",
              "new_tier": "high", "factor_changes": { "c": 0.0, "a": 6.0 } },
            { "id": 1, "old_score": 4.0, "new_score": 6.0, "change": 2.0, "old_tier": "low",
              "new_tier": "low", "factor_changes": { "c": 0.0, "a": 3.0 } },
        ])
    );
    let text = run(dir, &["diff", "out/before", "out/after"]);
    text.expect_code(0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines.contains(&"factors added: d") && lines.contains(&"factors removed: b"),
        "{}",
        text.stdout
    );
}

#[test]
fn an_id_twice_or_null_in_either_output_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_input(dir, "unique", arc(Int64Array::from(vec![1, 2, 3])));
    write_input(dir, "twice", arc(Int64Array::from(vec![1, 2, 2])));
    let factor = [r#"{ name: a, expr: "x", weight: 1.0 }"#];
    write_pipeline(dir, "unique", "unique", &factor);
    write_pipeline(dir, "twice", "twice", &factor);

    for (old, new, side) in [("twice", "unique", "old"), ("unique", "twice", "new")] {
        let result = run(dir, &["diff", &format!("out/{old}"), &format!("out/{new}")]);
        result.expect_code(3);
        assert_eq!(
            result.headline(),
            format!("{side} output out/twice has id 2 more than once")
        );
        assert_eq!(
            result.help(),
            "diff matches customers by id, so ids must be unique; deduplicate the pipeline's input"
        );
        assert_eq!(result.stdout, "");
    }

    // A run rejects a null id, so only an edited output can hold one. Every score is below 10:
    // the three customers are all in tier=low.
    let part = dir.join("out/unique/scored/tier=low/part-00000.parquet");
    let batch = read_parquet(&part);
    let ids = arc(Int64Array::from(vec![None, Some(2), Some(3)]));
    let edited = RecordBatch::try_new(
        Arc::new(Schema::new(
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        )),
        [vec![ids], batch.columns()[1..].to_vec()].concat(),
    )
    .unwrap();
    write_parquet(&part, &edited);
    run(
        dir,
        &["--quiet", "run", "unique.yaml", "--output", "out/clean"],
    )
    .expect_code(0);
    for (old, new) in [("out/unique", "out/clean"), ("out/clean", "out/unique")] {
        let result = run(dir, &["diff", old, new]);
        result.expect_code(3);
        assert_eq!(
            result.headline(),
            "out/unique/scored/tier=low/part-00000.parquet: id column `id` is null in row 0",
            "diff {old} {new}"
        );
        assert_eq!(
            result.help(),
            "the output does not match its _manifest.json; run `tierscore run` again into it"
        );
        assert_eq!(result.stdout, "");
    }
}

/// Dates and decimals are ids `run` accepts; diff refused them ("diff joins on integer or
/// string ids") with the advice to run again into the output, which failed the same way. They
/// join on their text with ids of the same type, shown as that text.
#[test]
fn date_and_decimal_ids_match_ids_of_their_own_type() {
    use arrow::array::{Date32Array, Decimal128Array};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let decimals = |cents: Vec<i128>| {
        arc(Decimal128Array::from(cents)
            .with_precision_and_scale(5, 2)
            .unwrap())
    };
    write_input(dir, "old", decimals(vec![150, 200, 325]));
    write_input(dir, "new", decimals(vec![200, 325, 400]));
    // 2026-01-01 and 2026-01-02.
    write_input(dir, "dates", arc(Date32Array::from(vec![20454, 20455])));
    let factor = |expr: &str| format!(r#"{{ name: a, expr: "{expr}", weight: 1.0 }}"#);
    write_pipeline(dir, "before", "old", &[&factor("x * 3.0")]);
    write_pipeline(dir, "after", "new", &[&factor("x * 5.0")]);
    write_pipeline(dir, "dated", "dates", &[&factor("x * 3.0")]);
    write_pipeline(dir, "dated_after", "dates", &[&factor("x * 4.0")]);

    // Old: 1.50 -> 3, 2.00 -> 6, 3.25 -> 9; new: 2.00 -> 5, 3.25 -> 10, 4.00 -> 15.
    let report = diff_json(dir, "before", "after");
    assert_eq!(report["only_in_old"], json!({"count": 1, "ids": ["1.50"]}));
    assert_eq!(report["only_in_new"], json!({"count": 1, "ids": ["4.00"]}));
    assert_eq!(report["matrix_rows"], json!([[0, 0], [1, 1]]));
    assert_eq!(
        report["top_movers"],
        json!([
            { "id": "2.00", "old_score": 6.0, "new_score": 5.0, "change": -1.0,
              "old_tier": "low", "new_tier": "low", "factor_changes": { "a": -1.0 } },
            { "id": "3.25", "old_score": 9.0, "new_score": 10.0, "change": 1.0,
              "old_tier": "low", "new_tier": "high", "factor_changes": { "a": 1.0 } },
        ])
    );
    let report = diff_json(dir, "dated", "dated_after");
    assert_eq!(report["only_in_old"], json!({"count": 0, "ids": []}));
    assert_eq!(
        report["top_movers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["id"].as_str().unwrap(), m["change"].as_f64().unwrap()))
            .collect::<Vec<_>>(),
        [("2026-01-02", 2.0), ("2026-01-01", 1.0)]
    );

    // A date is not a decimal.
    let result = run(dir, &["diff", "out/before", "out/dated"]);
    result.expect_code(3);
    assert!(
        result.stderr.contains("diff::id_types_differ"),
        "{}",
        result.stderr
    );
    assert_eq!(
        result.headline(),
        "id column `id` is Decimal128(5, 2) in the old output and Date32 in the new one"
    );
    assert_eq!(
        result.help(),
        "diff matches integer ids with integer ids, string ids with string ids, and ids of \
         another type (dates, decimals, …) with ids of the same type; compare outputs of the \
         same input"
    );
    assert_eq!(result.stdout, "");
}

/// The headline and help of a refusal of `out/OLD` against `out/NEW` as different id types.
fn id_types_refusal(dir: &Path, old: &str, new: &str) -> (String, String) {
    let result = run(dir, &["diff", &format!("out/{old}"), &format!("out/{new}")]);
    result.expect_code(3);
    assert!(
        result.stderr.contains("diff::id_types_differ"),
        "{}",
        result.stderr
    );
    assert_eq!(result.stdout, "");
    (result.headline(), result.help())
}

const ID_TYPES_HELP: &str = "diff matches integer ids with integer ids, string ids with string \
    ids, and ids of another type (dates, decimals, …) with ids of the same type; compare \
    outputs of the same input";

/// An input whose date ids are dictionary-encoded (as some writers store a column of few
/// distinct values) gives an output of dictionary-encoded ids; diff refused it against an
/// output of the same dates stored plainly ("id column `id` is Date32 in the old output and
/// Dictionary(Int32, Date32) in the new one"). The ids are the dictionary's values: they match.
/// A date is still not a timestamp, dictionary or not.
#[test]
fn dictionary_encoded_and_plain_date_ids_match() {
    use arrow::array::{Date32Array, DictionaryArray, TimestampMicrosecondArray};
    use arrow::datatypes::Int32Type;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 2026-01-01, -02, -03 plainly; 2026-01-02, -03, -04 as indices into [-04, -03, -02].
    write_input(
        dir,
        "plain",
        arc(Date32Array::from(vec![20454, 20455, 20456])),
    );
    let encoded = DictionaryArray::<Int32Type>::try_new(
        vec![2, 1, 0].into(),
        arc(Date32Array::from(vec![20457, 20456, 20455])),
    )
    .unwrap();
    write_input(dir, "encoded", arc(encoded));
    write_input(
        dir,
        "instants",
        arc(TimestampMicrosecondArray::from(vec![1_767_225_600_000_000]).with_timezone("UTC")),
    );
    let factor = |expr: &str| format!(r#"{{ name: a, expr: "{expr}", weight: 1.0 }}"#);
    write_pipeline(dir, "before", "plain", &[&factor("x * 3.0")]);
    write_pipeline(dir, "after", "encoded", &[&factor("x * 5.0")]);
    write_pipeline(dir, "instants", "instants", &[&factor("x")]);
    let id_type = |output: &str, tier: &str| {
        parquet_schema(&dir.join(format!(
            "out/{output}/scored/tier={tier}/part-00000.parquet"
        )))
        .field_with_name("id")
        .unwrap()
        .data_type()
        .clone()
    };
    assert_eq!(id_type("before", "low"), DataType::Date32);
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Date32));
    assert_eq!(id_type("after", "high"), dictionary);

    // Old: 01-01 -> 3, 01-02 -> 6, 01-03 -> 9; new: 01-02 -> 5, 01-03 -> 10, 01-04 -> 15.
    let report = diff_json(dir, "before", "after");
    assert_eq!(report["new"]["rows"], 3);
    assert_eq!(
        report["only_in_old"],
        json!({"count": 1, "ids": ["2026-01-01"]})
    );
    assert_eq!(
        report["only_in_new"],
        json!({"count": 1, "ids": ["2026-01-04"]})
    );
    assert_eq!(report["matrix_rows"], json!([[0, 0], [1, 1]]));
    assert_eq!(
        report["top_movers"],
        json!([
            { "id": "2026-01-02", "old_score": 6.0, "new_score": 5.0, "change": -1.0,
              "old_tier": "low", "new_tier": "low", "factor_changes": { "a": -1.0 } },
            { "id": "2026-01-03", "old_score": 9.0, "new_score": 10.0, "change": 1.0,
              "old_tier": "low", "new_tier": "high", "factor_changes": { "a": 1.0 } },
        ])
    );
    let report = diff_json(dir, "after", "before");
    assert_eq!(
        report["only_in_old"],
        json!({"count": 1, "ids": ["2026-01-04"]})
    );
    assert_eq!(
        report["only_in_new"],
        json!({"count": 1, "ids": ["2026-01-01"]})
    );
    assert_eq!(report["matrix_rows"], json!([[0, 1], [0, 1]]));

    assert_eq!(
        id_types_refusal(dir, "after", "instants"),
        (
            "id column `id` is Dictionary(Int32, Date32) in the old output and \
             Timestamp(µs, \"UTC\") in the new one"
                .to_string(),
            ID_TYPES_HELP.to_string()
        )
    );
}

/// Timestamp ids zoned `UTC` in one output and `+00:00` in the other name the same instants;
/// diff refused them as different types. They match now, by the instant. A named zone and the
/// offset it has only in winter (`America/New_York`, `-05:00`) are still refused.
#[test]
fn timestamp_ids_in_utc_and_plus_zero_match_and_a_named_zone_is_not_its_offset() {
    use arrow::array::TimestampMicrosecondArray;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 2026-01-01T00:00:00 plus 0, 1, 2 and 3 hours.
    let instants = |hours: &[i64], zone: &str| {
        let micros: Vec<i64> = hours
            .iter()
            .map(|h| 1_767_225_600_000_000 + h * 3_600_000_000)
            .collect();
        arc(TimestampMicrosecondArray::from(micros).with_timezone(zone))
    };
    write_input(dir, "utc", instants(&[0, 1, 2], "UTC"));
    write_input(dir, "plus_zero", instants(&[1, 2, 3], "+00:00"));
    write_input(dir, "new_york", instants(&[0], "America/New_York"));
    write_input(dir, "minus_five", instants(&[0], "-05:00"));
    let factor = |expr: &str| format!(r#"{{ name: a, expr: "{expr}", weight: 1.0 }}"#);
    write_pipeline(dir, "before", "utc", &[&factor("x * 3.0")]);
    write_pipeline(dir, "after", "plus_zero", &[&factor("x * 5.0")]);
    write_pipeline(dir, "new_york", "new_york", &[&factor("x")]);
    write_pipeline(dir, "minus_five", "minus_five", &[&factor("x")]);

    // Old: 00:00 -> 3, 01:00 -> 6, 02:00 -> 9; new: 01:00 -> 5, 02:00 -> 10, 03:00 -> 15.
    let report = diff_json(dir, "before", "after");
    assert_eq!(
        report["only_in_old"],
        json!({"count": 1, "ids": ["2026-01-01T00:00:00"]})
    );
    assert_eq!(
        report["only_in_new"],
        json!({"count": 1, "ids": ["2026-01-01T03:00:00"]})
    );
    assert_eq!(report["matrix_rows"], json!([[0, 0], [1, 1]]));
    assert_eq!(
        report["top_movers"],
        json!([
            { "id": "2026-01-01T01:00:00", "old_score": 6.0, "new_score": 5.0, "change": -1.0,
              "old_tier": "low", "new_tier": "low", "factor_changes": { "a": -1.0 } },
            { "id": "2026-01-01T02:00:00", "old_score": 9.0, "new_score": 10.0, "change": 1.0,
              "old_tier": "low", "new_tier": "high", "factor_changes": { "a": 1.0 } },
        ])
    );

    assert_eq!(
        id_types_refusal(dir, "new_york", "minus_five"),
        (
            "id column `id` is Timestamp(µs, \"America/New_York\") in the old output and \
             Timestamp(µs, \"-05:00\") in the new one"
                .to_string(),
            ID_TYPES_HELP.to_string()
        )
    );
}
