//! Script compile-and-evaluate under the limits: any rule text either fails to build with
//! located problems, or evaluates over a batch of edge values without panicking, and where both
//! engines take the rule, the compiled engine and the interpreter give the same values (to the
//! bit), reasons and failures.
//!
//! The first byte picks what the rule must give (factor, score or tier) and whether it runs
//! under tight limits; the rest is the rule's code.
#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{Float64Type, UInt32Type};
use libfuzzer_sys::fuzz_target;
use tierscore::pipeline::{Pipeline, RuleSource};
use tierscore::rules::{EngineChoice, Reasons, Returns, RuleBuilder, RuleOutput};

/// Columns of the batch, and the names a rule may read.
const COLUMNS: [&str; 4] = ["qty", "rev", "region", "vip"];
const LEVELS: [&str; 3] = ["gold", "silver", "bronze"];

/// Operation counts bound the time of every row, so the wall-time budget is set far beyond
/// them: a row's outcome must not depend on how loaded the machine is.
const PIPELINE: &str = r#"
version: 1
name: fuzz
input: { path: x.parquet, id: id }
params:
  k: 3
  w: 0.25
  big: 9223372036854775807
  name: gold
  cuts: [10, 50, 200]
factors:
  - { name: f, expr: "0", weight: 1.0 }
tiers:
  levels:
    - { name: gold, min: 1 }
    - { name: silver }
output: { path: out }
"#;
const NORMAL: &str =
    "limits: { max_operations: 20000, max_row_ms: 600000, max_row_memory: 8388608 }\n";
const TIGHT: &str = "limits: { max_operations: 600, max_string_size: 24, max_array_size: 3, max_map_size: 3, max_call_depth: 4, max_row_ms: 600000 }\n";

struct Setup {
    pipelines: [Pipeline; 2],
    batch: RecordBatch,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        // As in `run`: a panic the guard turns into a row's rejection is no crash; any other
        // panic still reaches libFuzzer's hook.
        tierscore::panic_guard::install_panic_hook();
        let pipeline = |limits: &str| {
            Pipeline::parse(Path::new("/fuzz/p.yaml"), format!("{PIPELINE}{limits}"))
                .expect("the fuzz pipeline is valid")
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![
                Some(0),
                Some(-1),
                Some(i64::MAX),
                Some(i64::MIN),
                None,
                Some(7),
            ])),
            Arc::new(Float64Array::from(vec![
                Some(-0.0),
                Some(f64::NAN),
                Some(f64::INFINITY),
                Some(1e308),
                Some(2.5),
                None,
            ])),
            Arc::new(StringArray::from(vec![
                Some(""),
                Some("north"),
                Some("é✓"),
                None,
                Some("south"),
                Some("north"),
            ])),
            Arc::new(BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
                Some(true),
                Some(false),
                Some(true),
            ])),
        ];
        let batch = RecordBatch::try_from_iter(COLUMNS.iter().zip(columns))
            .expect("the fuzz batch is valid");
        Setup {
            pipelines: [pipeline(NORMAL), pipeline(TIGHT)],
            batch,
        }
    })
}

/// Panics where the two outputs differ.
fn assert_same(code: &str, interpreted: &RuleOutput, compiled: &RuleOutput) {
    assert_eq!(
        interpreted.failures, compiled.failures,
        "failures differ for {code:?}"
    );
    // Each row's reason; no reasons column (a compiled rule that gives none) is no reason on
    // any row.
    let reasons = |output: &RuleOutput| -> Vec<Option<String>> {
        (0..output.values.len())
            .map(|row| {
                output
                    .reasons
                    .as_ref()
                    .filter(|r| r.is_valid(row))
                    .map(|r| r.value(row).to_string())
            })
            .collect()
    };
    assert_eq!(
        reasons(interpreted),
        reasons(compiled),
        "reasons differ for {code:?}"
    );
    let (a, b) = (&interpreted.values, &compiled.values);
    assert_eq!(a.data_type(), b.data_type());
    assert_eq!(a.len(), b.len());
    for row in 0..a.len() {
        assert_eq!(
            a.is_null(row),
            b.is_null(row),
            "null at row {row} for {code:?}"
        );
        if a.is_null(row) {
            continue;
        }
        if let Some(a) = a.as_primitive_opt::<Float64Type>() {
            let b = b.as_primitive::<Float64Type>();
            assert_eq!(
                a.value(row).to_bits(),
                b.value(row).to_bits(),
                "value at row {row} for {code:?}"
            );
        } else {
            let (a, b) = (
                a.as_primitive::<UInt32Type>(),
                b.as_primitive::<UInt32Type>(),
            );
            assert_eq!(a.value(row), b.value(row), "tier at row {row} for {code:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, code)) = data.split_first() else {
        return;
    };
    let Ok(code) = std::str::from_utf8(code) else {
        return;
    };
    let setup = setup();
    let pipeline = &setup.pipelines[usize::from(mode & 1)];
    let returns = match (mode >> 1) % 3 {
        0 => Returns::Factor,
        1 => Returns::Score,
        _ => Returns::Tier(LEVELS.iter().map(|l| l.to_string()).collect()),
    };
    let source = RuleSource::Inline {
        code: code.to_string(),
        key: "factors[0].expr".into(),
    };
    let build = |choice| {
        RuleBuilder::new(pipeline, choice).build(
            pipeline,
            "f",
            &source,
            "factors[0].expr",
            &COLUMNS,
            returns.clone(),
        )
    };
    let interpreted = build(EngineChoice::Interpreted);
    let Some(interpreted) = interpreted.rule.filter(|_| interpreted.problems.is_empty()) else {
        return;
    };
    // Every row and a selection that skips some, with reasons kept; and every row with reasons
    // dropped (the same values and failures, no reasons).
    let all: Vec<u32> = (0..setup.batch.num_rows() as u32).collect();
    let some = [1u32, 2, 5];
    let cases: [(&[u32], Reasons); 3] = [
        (&all, Reasons::Keep),
        (&some, Reasons::Keep),
        (&all, Reasons::Drop),
    ];
    let expected: Vec<RuleOutput> = cases
        .iter()
        .map(|&(rows, reasons)| interpreted.evaluate(&setup.batch, rows, reasons))
        .collect();
    let compiled = build(EngineChoice::Compiled);
    if let Some(compiled) = compiled.rule.filter(|_| compiled.problems.is_empty()) {
        for (&(rows, reasons), expected) in cases.iter().zip(&expected) {
            assert_same(
                code,
                expected,
                &compiled.evaluate(&setup.batch, rows, reasons),
            );
        }
    }
});
