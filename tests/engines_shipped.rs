//! Every shipped pipeline gives the same output under both engines (issue 9): `tierscore run
//! --engine interpreted` and `--engine compiled` write Parquet files with the same content —
//! every file, column and row, floats to the bit — and `tierscore test` passes on both.

mod common;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Float32Type, Float64Type};

use common::{output_data, repo, run};

/// The shipped pipelines (`pipelines/*.yaml` without the `*.tests.yaml` files), sorted.
fn shipped() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml") && !n.ends_with(".tests.yaml"))
        .collect();
    names.sort();
    names
}

/// The bits of every value of a float column (0 for nulls, whose nulls are compared apart).
fn float_bits<T: ArrowPrimitiveType>(
    column: &dyn Array,
    to_bits: fn(T::Native) -> u64,
) -> Vec<u64> {
    let column = column.as_primitive::<T>();
    (0..column.len())
        .map(|i| {
            if column.is_null(i) {
                0
            } else {
                to_bits(column.value(i))
            }
        })
        .collect()
}

/// Asserts two batches hold the same schema and values, floats compared by their bits.
fn assert_same(file: &str, a: &RecordBatch, b: &RecordBatch) {
    assert_eq!(a.schema(), b.schema(), "{file}: schemas differ");
    assert_eq!(a.num_rows(), b.num_rows(), "{file}: row counts differ");
    for (field, (x, y)) in a
        .schema()
        .fields()
        .iter()
        .zip(a.columns().iter().zip(b.columns()))
    {
        let name = format!("{file} column `{}`", field.name());
        assert_eq!(x.nulls(), y.nulls(), "{name}: nulls differ");
        match field.data_type() {
            DataType::Float64 => {
                let bits = |c: &dyn Array| float_bits::<Float64Type>(c, f64::to_bits);
                assert_eq!(bits(x.as_ref()), bits(y.as_ref()), "{name}: values differ");
            }
            DataType::Float32 => {
                let bits = |c: &dyn Array| float_bits::<Float32Type>(c, |v| v.to_bits().into());
                assert_eq!(bits(x.as_ref()), bits(y.as_ref()), "{name}: values differ");
            }
            // Lists, strings, ints, dates: Arrow's equality is exact for these (a list of
            // floats would compare with `==`; the outputs hold none).
            other => {
                assert!(
                    !matches!(other, DataType::List(f) if f.data_type().is_floating()),
                    "{name}: compare this list of floats by bits"
                );
                assert_eq!(x.to_data(), y.to_data(), "{name}: values differ");
            }
        }
    }
}

#[test]
fn shipped_pipelines_give_the_same_output_on_both_engines() {
    let names = shipped();
    assert_eq!(names, ["abc.yaml", "customer_value.yaml", "rfm.yaml"]);
    let dir = tempfile::tempdir().unwrap();
    for name in &names {
        let pipeline = repo().join("pipelines").join(name);
        let pipeline = pipeline.to_str().unwrap();
        let stem = name.trim_end_matches(".yaml");
        let mut outputs = Vec::new();
        for engine in ["interpreted", "compiled"] {
            let out = dir.path().join(format!("{stem}-{engine}"));
            run(
                dir.path(),
                &[
                    "--quiet",
                    "run",
                    pipeline,
                    "--engine",
                    engine,
                    "--output",
                    out.to_str().unwrap(),
                ],
            )
            .expect_code(0);
            outputs.push(output_data(&out));
        }
        let (interpreted, compiled) = (&outputs[0], &outputs[1]);
        assert!(
            interpreted
                .keys()
                .any(|f| f.ends_with("part-00000.parquet")),
            "{name}: no output files: {:?}",
            interpreted.keys()
        );
        assert_eq!(
            interpreted.keys().collect::<Vec<_>>(),
            compiled.keys().collect::<Vec<_>>(),
            "{name}: the engines wrote different files"
        );
        let mut rows = 0;
        for (file, batch) in interpreted {
            assert_same(&format!("{stem}/{file}"), batch, &compiled[file]);
            rows += batch.num_rows();
        }
        assert!(rows >= 2000, "{name}: only {rows} rows written");
    }
}

#[test]
fn shipped_pipeline_tests_pass_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    for name in shipped() {
        let pipeline = repo().join("pipelines").join(&name);
        for engine in ["interpreted", "compiled"] {
            let outcome = run(
                dir.path(),
                &["test", pipeline.to_str().unwrap(), "--engine", engine],
            );
            outcome.expect_code(0);
            assert!(
                outcome.stdout.contains("test result: ok.") && outcome.stdout.contains(" 0 failed"),
                "{name} on {engine}:\n{}",
                outcome.stdout
            );
        }
    }
}
