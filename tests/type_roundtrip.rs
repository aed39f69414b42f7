//! Every Arrow type scripts can read, end to end through Parquet: (a) passed through
//! `output.columns` unchanged (timestamps as microseconds, same instants; Date64 as Date32,
//! same days), and (b) read by a
//! factor script that proves the value arrived with its type and value, nulls as `()`.
//!
//! Beyond the required types this also covers Float16, Decimal256, Date64, Utf8View, a
//! dictionary of strings, LargeList, FixedSizeList and the Null type: the Parquet writer
//! round-trips all of them (checked below before tierscore reads the file).

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Date64Array, Decimal128Array, Decimal256Array,
    DictionaryArray, FixedSizeListArray, Float32Array, Float64Array, Int16Array, Int32Array,
    Int64Array, Int8Array, LargeListArray, LargeStringArray, ListArray, NullArray, RecordBatch,
    StringArray, StringViewArray, StructArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, UInt16Array, UInt32Array, UInt64Array,
    UInt8Array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{
    i256, DataType, Field, Fields, Float64Type, Int32Type, Int64Type, Schema, TimeUnit,
};
use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use common::*;
use parquet::arrow::ArrowWriter;

const ROWS: usize = 5;

/// One input column: its values, the body of a factor script reading it as `x`, and the
/// factor value expected for each row (-1 for null).
struct Case {
    column: &'static str,
    array: ArrayRef,
    script: &'static str,
    expected: [f64; ROWS],
}

const INT: &str = r#"if x == () { -1.0 } else if type_of(x) == "i64" { x } else { -2.0 }"#;
const FLOAT: &str = r#"if x == () { -1.0 } else if type_of(x) == "f64" { x } else { -2.0 }"#;
const TEXT: &str = "if x == () { -1.0 } else { x.len() }";
const DATE: &str = "if x == () { -1.0 } else { x.year * 1000 + (x - date(x.year, 1, 1)) }";
const TIMESTAMP: &str =
    "if x == () { -1.0 } else { x.year * 1000000 + x.month * 10000 + x.day * 100 + x.hour }";
const LIST: &str = "if x == () { -1.0 } else { sum(x) + x.len() * 1000.0 }";

const NS_2026_11_01_0830: i64 = 1_793_521_800_000_000_000;
const S_2000_02_29_2300: i64 = 951_865_200;
const DAY_MS: i64 = 86_400_000;

/// `year * 1000 + day of the year (0-based)` of a day count since 1970-01-01.
fn date_code(days: i64) -> f64 {
    let date = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days);
    f64::from(date.year() * 1000) + f64::from(date.ordinal0())
}

/// `YYYYMMDDHH` of an instant in microseconds since the epoch, in UTC.
fn hour_code(micros: i64) -> f64 {
    let t = DateTime::from_timestamp_micros(micros).unwrap();
    (i64::from(t.year()) * 1_000_000
        + i64::from(t.month()) * 10_000
        + i64::from(t.day()) * 100
        + i64::from(t.hour())) as f64
}

fn text_lengths(values: &[Option<&str>]) -> [f64; ROWS] {
    let lengths: Vec<f64> = values
        .iter()
        .map(|v| v.map_or(-1.0, |s| s.chars().count() as f64))
        .collect();
    lengths.try_into().unwrap()
}

fn cases() -> Vec<Case> {
    let utf8 = [
        Some("gold"),
        None,
        Some(""),
        Some("年收入"),
        Some("a longer string value"),
    ];
    let large = [Some("silver"), None, Some("ü"), Some(""), Some("xyz")];
    let view = [
        Some("short"),
        None,
        Some("a string longer than twelve bytes"),
        Some(""),
        Some("ü"),
    ];
    let dictionary = [
        Some("gold"),
        None,
        Some("silver"),
        Some("gold"),
        Some("bronze"),
    ];
    let ns = [
        Some(NS_2026_11_01_0830),
        None,
        Some(-1_000),
        Some(0),
        Some(S_2000_02_29_2300 * 1_000_000_000),
    ];
    let ms = [
        Some(1_793_521_800_250),
        None,
        Some(-1),
        Some(253_402_300_799_000),
        Some(DAY_MS * 365),
    ];
    let days = [Some(20_758), None, Some(-1), Some(-719_162), Some(11_016)];
    let big_decimal = "999999999999999999999999999999999999999"; // 39 digits, beyond i128
    let struct_array = StructArray::new(
        Fields::from(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]),
        vec![
            arc(Int64Array::from(vec![
                Some(1),
                None,
                None,
                Some(-5),
                Some(7),
            ])),
            arc(StringArray::from(vec![
                Some("x"),
                None,
                Some("yy"),
                None,
                Some("年"),
            ])),
        ],
        Some(NullBuffer::from(vec![true, false, true, true, true])),
    );
    let float16 = cast(
        &Float32Array::from(vec![Some(1.5), None, Some(-2.0), Some(65504.0), Some(0.5)]),
        &DataType::Float16,
    )
    .unwrap();

    vec![
        Case {
            column: "c_i8",
            array: arc(Int8Array::from(vec![
                Some(i8::MIN),
                None,
                Some(0),
                Some(i8::MAX),
                Some(5),
            ])),
            script: INT,
            expected: [-128.0, -1.0, 0.0, 127.0, 5.0],
        },
        Case {
            column: "c_i16",
            array: arc(Int16Array::from(vec![
                Some(i16::MIN),
                None,
                Some(0),
                Some(i16::MAX),
                Some(7),
            ])),
            script: INT,
            expected: [-32768.0, -1.0, 0.0, 32767.0, 7.0],
        },
        Case {
            column: "c_i32",
            array: arc(Int32Array::from(vec![
                Some(i32::MIN),
                None,
                Some(0),
                Some(i32::MAX),
                Some(9),
            ])),
            script: INT,
            expected: [f64::from(i32::MIN), -1.0, 0.0, f64::from(i32::MAX), 9.0],
        },
        Case {
            column: "c_i64",
            array: arc(Int64Array::from(vec![
                Some(i64::MIN),
                None,
                Some(0),
                Some(i64::MAX),
                Some(11),
            ])),
            // The last five digits prove the exact 64-bit integer arrived, not a float.
            script: r#"if x == () { -1.0 } else if type_of(x) == "i64" { x % 100000 } else { -2.0 }"#,
            expected: [-75808.0, -1.0, 0.0, 75807.0, 11.0],
        },
        Case {
            column: "c_u8",
            array: arc(UInt8Array::from(vec![
                Some(0),
                None,
                Some(u8::MAX),
                Some(1),
                Some(2),
            ])),
            script: INT,
            expected: [0.0, -1.0, 255.0, 1.0, 2.0],
        },
        Case {
            column: "c_u16",
            array: arc(UInt16Array::from(vec![
                Some(0),
                None,
                Some(u16::MAX),
                Some(1),
                Some(2),
            ])),
            script: INT,
            expected: [0.0, -1.0, 65535.0, 1.0, 2.0],
        },
        Case {
            column: "c_u32",
            array: arc(UInt32Array::from(vec![
                Some(0),
                None,
                Some(u32::MAX),
                Some(1),
                Some(2),
            ])),
            script: INT,
            expected: [0.0, -1.0, f64::from(u32::MAX), 1.0, 2.0],
        },
        Case {
            column: "c_u64",
            array: arc(UInt64Array::from(vec![
                Some(0),
                None,
                Some(u64::MAX),
                Some(i64::MAX as u64),
                Some(1 << 63),
            ])),
            // Up to i64::MAX an integer (exact last digits), above it a float.
            script: r#"if x == () { -1.0 } else if type_of(x) == "f64" { x / 1000000000000000.0 } else { x % 100000 }"#,
            expected: [
                0.0,
                -1.0,
                u64::MAX as f64 / 1e15,
                75807.0,
                (1u64 << 63) as f64 / 1e15,
            ],
        },
        Case {
            column: "c_f16",
            array: float16,
            script: FLOAT,
            expected: [1.5, -1.0, -2.0, 65504.0, 0.5],
        },
        Case {
            column: "c_f32",
            array: arc(Float32Array::from(vec![
                Some(1.5),
                None,
                Some(-0.25),
                Some(f32::MAX),
                Some(3.140625),
            ])),
            script: FLOAT,
            expected: [1.5, -1.0, -0.25, f64::from(f32::MAX), 3.140625],
        },
        Case {
            column: "c_f64",
            array: arc(Float64Array::from(vec![
                Some(1.5),
                None,
                Some(-2.75),
                Some(1e300),
                Some(0.1),
            ])),
            script: FLOAT,
            expected: [1.5, -1.0, -2.75, 1e300, 0.1],
        },
        Case {
            column: "c_dec",
            array: arc(Decimal128Array::from(vec![
                Some(1234),
                None,
                Some(-9999),
                Some(9_999_999_999),
                Some(-5),
            ])
            .with_precision_and_scale(10, 2)
            .unwrap()),
            script: FLOAT,
            expected: [12.34, -1.0, -99.99, 99_999_999.99, -0.05],
        },
        Case {
            column: "c_dec256",
            array: arc(Decimal256Array::from(vec![
                Some(i256::from_i128(12345)),
                None,
                Some(i256::from_i128(-1)),
                Some(i256::from_string(big_decimal).unwrap()),
                Some(i256::from_i128(0)),
            ])
            .with_precision_and_scale(40, 3)
            .unwrap()),
            script: FLOAT,
            expected: [
                12.345,
                -1.0,
                -0.001,
                big_decimal.parse::<f64>().unwrap() / 1000.0,
                0.0,
            ],
        },
        Case {
            column: "c_bool",
            array: arc(BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
                Some(true),
                Some(false),
            ])),
            script: "if x == () { -1.0 } else if x { 1.0 } else { 0.0 }",
            expected: [1.0, -1.0, 0.0, 1.0, 0.0],
        },
        Case {
            column: "c_utf8",
            array: arc(StringArray::from(utf8.to_vec())),
            script: TEXT,
            expected: text_lengths(&utf8),
        },
        Case {
            column: "c_large_utf8",
            array: arc(LargeStringArray::from(large.to_vec())),
            script: TEXT,
            expected: text_lengths(&large),
        },
        Case {
            column: "c_utf8_view",
            array: arc(StringViewArray::from(view.to_vec())),
            script: TEXT,
            expected: text_lengths(&view),
        },
        Case {
            column: "c_dict",
            array: arc(dictionary
                .iter()
                .copied()
                .collect::<DictionaryArray<Int32Type>>()),
            script: TEXT,
            expected: text_lengths(&dictionary),
        },
        Case {
            column: "c_date32",
            array: arc(Date32Array::from(days.to_vec())),
            script: DATE,
            expected: days.map(|d| d.map_or(-1.0, |d| date_code(d.into()))),
        },
        Case {
            column: "c_date64",
            array: arc(Date64Array::from(
                days.iter()
                    .map(|d| d.map(|d| i64::from(d) * DAY_MS))
                    .collect::<Vec<_>>(),
            )),
            script: DATE,
            expected: days.map(|d| d.map_or(-1.0, |d| date_code(d.into()))),
        },
        Case {
            column: "c_ts_ns_utc",
            array: arc(TimestampNanosecondArray::from(ns.to_vec()).with_timezone("UTC")),
            script: TIMESTAMP,
            expected: ns.map(|t| t.map_or(-1.0, |t| hour_code(t.div_euclid(1000)))),
        },
        Case {
            column: "c_ts_ms",
            array: arc(TimestampMillisecondArray::from(ms.to_vec())),
            script: TIMESTAMP,
            expected: ms.map(|t| t.map_or(-1.0, |t| hour_code(t * 1000))),
        },
        Case {
            column: "c_list",
            array: arc(ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
                Some(vec![Some(1.5), Some(2.5)]),
                None,
                Some(vec![]),
                Some(vec![Some(1.0), None, Some(2.0)]),
                Some(vec![Some(-1.5)]),
            ])),
            script: LIST,
            expected: [2004.0, -1.0, 0.0, 3003.0, 998.5],
        },
        Case {
            column: "c_large_list",
            array: arc(LargeListArray::from_iter_primitive::<Int32Type, _, _>(
                vec![
                    Some(vec![Some(4)]),
                    None,
                    Some(vec![Some(-1), Some(-2)]),
                    Some(vec![]),
                    Some(vec![None]),
                ],
            )),
            script: LIST,
            expected: [1004.0, -1.0, 1997.0, 0.0, 1000.0],
        },
        Case {
            column: "c_fixed_list",
            array: arc(FixedSizeListArray::from_iter_primitive::<Int64Type, _, _>(
                vec![
                    Some(vec![Some(1), Some(2)]),
                    None,
                    Some(vec![None, Some(6)]),
                    Some(vec![Some(7), Some(8)]),
                    Some(vec![Some(0), Some(0)]),
                ],
                2,
            )),
            script: LIST,
            expected: [2003.0, -1.0, 2006.0, 2015.0, 2000.0],
        },
        Case {
            column: "c_struct",
            array: arc(struct_array),
            script: r#"if x == () { -1.0 } else { (x.a ?? 100) * 10 + (x.b ?? "").len() }"#,
            expected: [11.0, -1.0, 1002.0, -50.0, 71.0],
        },
        Case {
            column: "c_null",
            array: arc(NullArray::new(ROWS)),
            script: "if x == () { -1.0 } else { -2.0 }",
            expected: [-1.0; ROWS],
        },
    ]
}

/// The input batch: an Int64 `id` and one column per case.
fn input_batch(cases: &[Case]) -> RecordBatch {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    let mut columns: Vec<ArrayRef> = vec![arc(Int64Array::from_iter_values(1..=ROWS as i64))];
    for case in cases {
        fields.push(Field::new(
            case.column,
            case.array.data_type().clone(),
            true,
        ));
        columns.push(case.array.clone());
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// Writes `types.parquet` and checks the Parquet writer and reader round-trip every column, so
/// any difference later is tierscore's.
fn write_input(dir: &Path, cases: &[Case]) -> RecordBatch {
    let batch = input_batch(cases);
    let file = fs::File::create(dir.join("types.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let back = read_parquet(&dir.join("types.parquet"));
    for case in cases {
        assert_eq!(
            back.column_by_name(case.column).unwrap(),
            &case.array,
            "the Parquet writer does not round-trip {}",
            case.column
        );
    }
    batch
}

#[test]
fn every_type_passes_through_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cases = cases();
    write_input(dir, &cases);
    let columns: Vec<&str> = cases.iter().map(|c| c.column).collect();
    write(
        dir,
        "p.yaml",
        &format!(
            r#"version: 1
name: types
input: {{ path: types.parquet, id: id }}
factors:
  - {{ name: one, expr: "1.0", weight: 1.0 }}
tiers:
  levels:
    - {{ name: all }}
output:
  path: out
  partition_by: none
  columns: [{}]
"#,
            columns.join(", ")
        ),
    );
    run(dir, &["run", "p.yaml"]).expect_code(0);

    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    let mut names = vec!["id"];
    names.extend(&columns);
    names.extend(["one", "score", "tier", "tier_rank"]);
    let got = column_names(out.schema_ref());
    assert_eq!(got, names);
    assert_eq!(out.num_rows(), ROWS);
    assert_eq!(
        out.column_by_name("id").unwrap(),
        &arc(Int64Array::from_iter_values(1..=ROWS as i64))
    );
    assert_eq!(
        out.schema_ref().field_with_name("id").unwrap().data_type(),
        &DataType::Int64
    );

    for case in &cases {
        let field = out
            .schema_ref()
            .field_with_name(case.column)
            .unwrap()
            .clone();
        assert!(field.is_nullable(), "{}", case.column);
        let column = out.column_by_name(case.column).unwrap();
        match case.column {
            // Nanoseconds come back as microseconds: the same instants (all whole µs here).
            "c_ts_ns_utc" => {
                let micros = TimestampMicrosecondArray::from(vec![
                    Some(NS_2026_11_01_0830 / 1000),
                    None,
                    Some(-1),
                    Some(0),
                    Some(S_2000_02_29_2300 * 1_000_000),
                ])
                .with_timezone("UTC");
                assert_eq!(
                    field.data_type(),
                    &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
                );
                assert_eq!(column, &arc(micros));
            }
            "c_ts_ms" => {
                let micros = TimestampMicrosecondArray::from(vec![
                    Some(1_793_521_800_250_000),
                    None,
                    Some(-1000),
                    Some(253_402_300_799_000_000),
                    Some(DAY_MS * 365 * 1000),
                ]);
                assert_eq!(
                    field.data_type(),
                    &DataType::Timestamp(TimeUnit::Microsecond, None)
                );
                assert_eq!(column, &arc(micros));
            }
            // Milliseconds of whole days come back as the days: Parquet has no Date64, which
            // was written as a plain INT64 that pyarrow and DuckDB read as an integer.
            "c_date64" => {
                assert_eq!(field.data_type(), &DataType::Date32);
                assert_eq!(
                    column,
                    &arrow::compute::cast(&case.array, &DataType::Date32).unwrap()
                );
                assert_eq!(
                    column,
                    &cases.iter().find(|c| c.column == "c_date32").unwrap().array
                );
            }
            _ => {
                assert_eq!(field.data_type(), case.array.data_type(), "{}", case.column);
                assert_eq!(column, &case.array, "{}", case.column);
            }
        }
    }
}

#[test]
fn scripts_read_every_type_with_its_value() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cases = cases();
    write_input(dir, &cases);
    let mut factors = String::new();
    for case in &cases {
        let factor = format!("f_{}", case.column);
        write(
            dir,
            &format!("{factor}.rhai"),
            &format!("let x = {};\n{}\n", case.column, case.script),
        );
        factors.push_str(&format!(
            "  - {{ name: {factor}, script: {factor}.rhai, weight: 0.0 }}\n"
        ));
    }
    write(
        dir,
        "p.yaml",
        &format!(
            r#"version: 1
name: types
input: {{ path: types.parquet, id: id }}
factors:
{factors}tiers:
  levels:
    - {{ name: all }}
output: {{ path: out, partition_by: none }}
"#
        ),
    );
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(0);
    assert!(
        result
            .stdout
            .starts_with("types: 5 rows in, 5 scored, 0 rejected in "),
        "{}",
        result.stdout
    );

    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    assert_eq!(ints(&out, "id"), [1, 2, 3, 4, 5]);
    let mut wrong = Vec::new();
    for case in &cases {
        let got = floats(&out, &format!("f_{}", case.column));
        if got != case.expected {
            wrong.push(format!(
                "{}: got {got:?}, expected {:?}",
                case.column, case.expected
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn timestamps_nested_in_lists_and_structs_become_microseconds_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ns = |v: &[Option<i64>]| TimestampNanosecondArray::from(v.to_vec());
    let us = |v: &[Option<i64>]| TimestampMicrosecondArray::from(v.to_vec());
    let ns_field = Field::new("t", DataType::Timestamp(TimeUnit::Nanosecond, None), true);
    let us_field = Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true);
    let nested = |field: Field, values: ArrayRef| {
        StructArray::new(
            Fields::from(vec![Field::new("a", DataType::Int64, true), field]),
            vec![arc(Int64Array::from(vec![Some(1), Some(2)])), values],
            None,
        )
    };
    let list = |field: Field, values: ArrayRef| {
        ListArray::new(
            Arc::new(field),
            arrow::buffer::OffsetBuffer::from_lengths([2, 0]),
            values,
            Some(NullBuffer::from(vec![true, false])),
        )
    };
    let input = RecordBatch::try_from_iter([
        ("id", arc(StringArray::from(vec!["a", "b"]))),
        (
            "s",
            arc(nested(
                ns_field.clone(),
                arc(ns(&[Some(NS_2026_11_01_0830), None])),
            )),
        ),
        (
            "l",
            arc(list(
                ns_field.with_name("item"),
                arc(ns(&[Some(1_000), Some(-2_000)])),
            )),
        ),
    ])
    .unwrap();
    write_parquet(&dir.join("nested.parquet"), &input);
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: nested
input: { path: nested.parquet, id: id }
factors:
  - { name: f, expr: "if s.t == () { -1.0 } else { s.t.hour }", weight: 1.0 }
tiers:
  levels:
    - { name: all }
output: { path: out, partition_by: none, columns: [s, l] }
"#,
    );
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    assert_eq!(floats(&out, "f"), [8.0, -1.0]);
    assert_eq!(
        out.column_by_name("s").unwrap(),
        &arc(nested(
            us_field.clone(),
            arc(us(&[Some(NS_2026_11_01_0830 / 1000), None]))
        ))
    );
    assert_eq!(
        out.column_by_name("l").unwrap(),
        &arc(list(
            us_field.with_name("item"),
            arc(us(&[Some(1), Some(-2)]))
        ))
    );
}

#[test]
fn unsupported_types_are_refused_only_when_a_script_reads_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let blob = arrow::array::BinaryArray::from(vec![Some(b"x".as_ref()), None]);
    let input = RecordBatch::try_from_iter([
        ("id", arc(StringArray::from(vec!["a", "b"]))),
        ("blob", arc(blob.clone())),
    ])
    .unwrap();
    write_parquet(&dir.join("blob.parquet"), &input);
    let pipeline = |script: &str| {
        write(dir, "f.rhai", script);
        write(
            dir,
            "p.yaml",
            r#"version: 1
name: blob
input: { path: blob.parquet, id: id }
factors:
  - { name: f, script: f.rhai, weight: 1.0 }
tiers:
  levels:
    - { name: all }
output: { path: out, partition_by: none, columns: [blob] }
"#,
        );
    };

    pipeline("// reads the binary column\nif blob == () { 0.0 } else { 1.0 }\n");
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        "column `blob` cannot be read by scripts: Binary is not a type scripts can read; \
         supported: integers, floats, decimals, booleans, strings, dates, timestamps, lists, \
         structs"
    );
    assert_eq!(snippet_location(&result.stderr), "f.rhai:2:4");
    assert!(!dir.join("out").exists());

    // Not read by any script: passed through as it is.
    pipeline("1.0\n");
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    assert_eq!(out.column_by_name("blob").unwrap(), &arc(blob));
}
