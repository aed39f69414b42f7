use std::path::Path;

use arrow::array::{Float64Array, Int64Array};

use super::*;
use crate::pipeline::{Pipeline, RuleSource};
use crate::rules::{EngineChoice, Reasons, Returns, RuleBuilder};

const PIPELINE: &str = r##"
version: 1
name: t
input: { path: x.parquet, id: id }
params: { cap: 10 }
factors:
  - { name: base, expr: "if revenue < 0 { throw \"negative revenue\" } else { revenue }", weight: 0.5 }
  - { name: bonus, expr: "#{ value: base * 2.0, reason: if base > 5.0 { \"big\" } else { () } }", weight: 1.0 }
tiers:
  levels:
    - { name: top, min: 20 }
    - { name: rest }
output: { path: out }
"##;

fn batch() -> RecordBatch {
    let id: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3)]));
    let revenue: ArrayRef = Arc::new(Float64Array::from(vec![4.0, -1.0, 10.0]));
    RecordBatch::try_from_iter([("id", id), ("revenue", revenue)]).unwrap()
}

/// Builds a rule of `pipeline` or fails the test with its problems.
fn build(
    pipeline: &Pipeline,
    name: &str,
    rule: &RuleSource,
    visible: &[&str],
    returns: Returns,
) -> Box<dyn Rule> {
    let built = RuleBuilder::new(pipeline, EngineChoice::Auto)
        .build(pipeline, name, rule, name, visible, returns);
    assert!(built.problems.is_empty(), "{:?}", built.problems);
    built.rule.expect("the rule builds")
}

fn scorer(text: &str) -> Scorer {
    let pipeline = Pipeline::parse(Path::new("t.yaml"), text.to_string()).unwrap();
    let mut visible = vec!["id", "revenue"];
    let mut factors = Vec::new();
    for factor in &pipeline.factors {
        let rule = build(
            &pipeline,
            &factor.name,
            &factor.rule,
            &visible,
            Returns::Factor,
        );
        factors.push(FactorStep {
            rule,
            weight: factor.weight,
        });
        visible.push(&factor.name);
    }
    Scorer {
        id_column: "id".into(),
        factors,
        combine: CombineStep::WeightedSum,
        tiers: TierRules::new(&pipeline.tiers),
        tier_script: None,
        reasons: Reasons::Keep,
    }
}

fn floats(array: &ArrayRef) -> Vec<Option<f64>> {
    array
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .iter()
        .collect()
}

#[test]
fn factors_see_earlier_factors_and_failures_reject_the_row() {
    let scored = scorer(PIPELINE).score(&batch());
    assert_eq!(
        floats(&scored.factors[0]),
        vec![Some(4.0), None, Some(10.0)]
    );
    assert_eq!(
        floats(&scored.factors[1]),
        vec![Some(8.0), None, Some(20.0)]
    );
    assert_eq!(
        scored.score.iter().collect::<Vec<_>>(),
        vec![Some(10.0), None, Some(25.0)]
    );
    assert_eq!(scored.tier, vec![Some(1), None, Some(0)]);
    assert_eq!(
        scored.reasons[1].iter().collect::<Vec<_>>(),
        vec![None, None, Some("big")]
    );
    assert_eq!(
        scored.rejects,
        vec![Reject {
            row: 1,
            step: "base".into(),
            code: "thrown",
            message: "t.yaml factors[0].expr:1:18: Runtime error: negative revenue".into(),
            inputs: Some(r#"{"revenue":-1.0}"#.into()),
        }]
    );
    assert_eq!(scored.scored_rows(), 2);
}

#[test]
fn a_failing_combine_script_rejects_the_row_and_nulls_its_factors() {
    let text = PIPELINE.replace("tiers:", "score: { script: s.rhai }\ntiers:");
    let mut scorer = scorer(&text);
    let pipeline = Pipeline::parse(Path::new("t.yaml"), text.clone()).unwrap();
    let rule = build(
        &pipeline,
        "score",
        &RuleSource::Inline {
            code: "if base > 5.0 { \"oops\" } else { base + bonus }".into(),
            key: "score.script".into(),
        },
        &["id", "revenue", "base", "bonus"],
        Returns::Score,
    );
    scorer.combine = CombineStep::Script(rule);
    let scored = scorer.score(&batch());
    assert_eq!(
        scored.score.iter().collect::<Vec<_>>(),
        vec![Some(12.0), None, None]
    );
    assert_eq!(floats(&scored.factors[0]), vec![Some(4.0), None, None]);
    assert_eq!(scored.rejects.len(), 2);
    assert_eq!(scored.rejects[1].step, "score");
    assert_eq!(scored.rejects[1].code, "bad_value");
    assert_eq!(
        scored.rejects[1].inputs.as_deref(),
        Some(r#"{"base":10.0,"bonus":20.0}"#)
    );
    assert_eq!(
        scored.rejects[1].message,
        "t.yaml score.script: the score script gave a string (oops); it must be a number"
    );
}

#[test]
fn a_row_without_an_id_is_rejected_before_any_rule_runs() {
    let id: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
    let revenue: ArrayRef = Arc::new(Float64Array::from(vec![4.0, 5.0]));
    let batch = RecordBatch::try_from_iter([("id", id), ("revenue", revenue)]).unwrap();
    let scored = scorer(PIPELINE).score(&batch);
    assert_eq!(scored.tier, vec![Some(1), None]);
    assert_eq!(
        scored.rejects,
        vec![Reject {
            row: 1,
            step: "id".into(),
            code: "null_id",
            message: "the id column `id` is null; every customer needs an id to be scored".into(),
            inputs: None,
        }]
    );
}

#[test]
fn batches_larger_than_a_slice_keep_row_order_and_reject_positions() {
    let rows = 10_000;
    let id: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
    let revenue: ArrayRef = Arc::new(Float64Array::from_iter_values((0..rows).map(|i| {
        if i == 4_100 || i == 9_999 {
            -1.0
        } else {
            i as f64
        }
    })));
    let batch = RecordBatch::try_from_iter([("id", id), ("revenue", revenue)]).unwrap();
    let scored = scorer(PIPELINE).score(&batch);
    let rejected: Vec<usize> = scored.rejects.iter().map(|r| r.row).collect();
    assert_eq!(rejected, vec![4_100, 9_999]);
    let base = floats(&scored.factors[0]);
    assert_eq!(base.len(), rows);
    assert_eq!(base[4_095], Some(4_095.0));
    assert_eq!(base[4_096], Some(4_096.0));
    assert_eq!(base[4_100], None);
    assert_eq!(scored.score.value(8_192), 0.5 * 8_192.0 + 2.0 * 8_192.0);
    assert_eq!(scored.reasons[1].len(), rows);
    assert!(scored.reasons[1].is_null(3));
    assert_eq!(scored.reasons[1].value(4_097), "big");
    assert_eq!(scored.tier.len(), rows);
}

/// Rejects at these rows (step `f`, code `throws`).
fn rejects_at(rows: &[usize]) -> Vec<Reject> {
    rows.iter()
        .map(|&row| Reject {
            row,
            step: "f".into(),
            code: "throws",
            message: "m".into(),
            inputs: None,
        })
        .collect()
}

/// `settle` keeps every reject of a batch that stays within the limit (reaching it exactly is
/// not passing it), and of a batch that passes it, those up to the end of the 4,096 rows
/// (`REJECT_SLICE_ROWS`) holding the reject that passes it, whatever the batch held after.
#[test]
fn settle_keeps_the_rejects_up_to_the_slice_that_passes_the_limit() {
    let rows = |rejects: &[Reject]| rejects.iter().map(|r| r.row).collect::<Vec<_>>();
    let limit = RejectLimit::new(5);
    let mut first = rejects_at(&[1, 2, 3]);
    limit.settle(&mut first);
    assert_eq!(rows(&first), [1, 2, 3]);
    // 3 settled: the third reject here is the sixth of the run, at row 4,096 (the second
    // 4,096 rows).
    let mut second = rejects_at(&[10, 4095, 4096, 5000, 8191, 8192, 9000]);
    limit.settle(&mut second);
    assert_eq!(rows(&second), [10, 4095, 4096, 5000, 8191]);

    let limit = RejectLimit::new(5);
    let mut exactly = rejects_at(&[0, 1, 2, 3, 4]);
    limit.settle(&mut exactly);
    assert_eq!(rows(&exactly), [0, 1, 2, 3, 4]);
    // 5 settled: the first reject of the next batch passes the limit, at row 4,095 (the first
    // 4,096 rows).
    let mut next = rejects_at(&[4095, 4096]);
    limit.settle(&mut next);
    assert_eq!(rows(&next), [4095]);
}

/// `rows` rows at ids from `first`, every revenue `revenue` (negative: every row rejected).
fn rows_of(first: i64, rows: usize, revenue: f64) -> RecordBatch {
    let id: ArrayRef = Arc::new(Int64Array::from_iter_values(first..first + rows as i64));
    let revenue: ArrayRef = Arc::new(Float64Array::from_iter_values(vec![revenue; rows]));
    RecordBatch::try_from_iter([("id", id), ("revenue", revenue)]).unwrap()
}

/// Once a batch's slices pass the limit, the batches after it in the run are skipped whole
/// (no value, no tier, no reject: the run fails before them), while a batch before it, whose
/// rejects the run still counts, is scored in full: in slices and scored whole alike.
#[test]
fn a_batch_passing_the_limit_skips_the_batches_after_it_only() {
    let scorer = scorer(PIPELINE);
    for sharing in [Sharing::Slices, Sharing::Whole] {
        let limit = RejectLimit::new(5);
        let score = |first_row, revenue| {
            let at = BatchLimit {
                limit: &limit,
                first_row,
            };
            let rows = rows_of(first_row as i64, 20_000, revenue);
            scorer.score_counted(&rows, &Ranked::default(), sharing, None, Some(at))
        };
        let passing = score(40_000, -1.0);
        assert!(passing.rejects.len() > 5, "{sharing:?}");
        let after = score(60_000, 1.0);
        assert_eq!(after.scored_rows(), 0, "{sharing:?}");
        assert!(after.rejects.is_empty(), "{sharing:?}");
        assert!(after.tier.iter().all(Option::is_none), "{sharing:?}");
        let before = score(0, 1.0);
        assert_eq!(before.scored_rows(), 20_000, "{sharing:?}");
    }
}

/// A batch scored whole (the lanes of a run) and in slices side by side (the batches that come
/// one at a time) gives the same values to the bit, reasons, tiers and rejects.
#[test]
fn a_batch_scored_whole_or_in_slices_gives_the_same_results() {
    let scorer = scorer(PIPELINE);
    // Slices are cut only when every rule is compiled (an interpreted rule's are the same).
    assert!(scorer
        .rules()
        .all(|rule| rule.engine() == RuleEngine::Compiled));
    let rows: usize = 40_000;
    let id: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
    // Every 7th row negative (rejected), the rest on both sides of the `big` reason and of
    // the top tier.
    let revenue: ArrayRef = Arc::new(Float64Array::from_iter_values((0..rows).map(|i| {
        if i % 7 == 3 {
            -1.0
        } else {
            (i % 23) as f64 * 0.75
        }
    })));
    let batch = RecordBatch::try_from_iter([("id", id), ("revenue", revenue)]).unwrap();
    let score = |sharing| scorer.score_counted(&batch, &Ranked::default(), sharing, None, None);
    let (whole, slices) = (score(Sharing::Whole), score(Sharing::Slices));
    let bits = |column: &Float64Array| {
        column
            .iter()
            .map(|v| v.map(f64::to_bits))
            .collect::<Vec<_>>()
    };
    for (w, s) in whole.factors.iter().zip(&slices.factors) {
        assert_eq!(bits(w.as_primitive()), bits(s.as_primitive()));
    }
    assert_eq!(bits(&whole.score), bits(&slices.score));
    assert_eq!(whole.reasons, slices.reasons);
    assert_eq!(whole.tier, slices.tier);
    assert_eq!(whole.rejects, slices.rejects);
    assert_eq!(
        whole.rejects.len(),
        (0..rows).filter(|i| i % 7 == 3).count()
    );
    assert!(whole.reasons[1].iter().any(|r| r == Some("big")));
    assert!(whole.tier.contains(&Some(0)));
}

/// A reject's `inputs` stay within 4 KiB and one JSON object: a 60,000-character text and a
/// list of a million numbers become strings of their start, and names past the room are
/// counted under `…`; small inputs are kept as written.
#[test]
fn a_rejects_inputs_are_cut_to_four_kib_as_one_json_object() {
    use arrow::array::{ListArray, StringArray};
    use arrow::datatypes::Float64Type;
    let long = "n".repeat(60_000);
    let list = ListArray::from_iter_primitive::<Float64Type, _, _>([Some(
        (0..1_000_000).map(|i| Some(i as f64)).collect::<Vec<_>>(),
    )]);
    let mut columns: Vec<(String, ArrayRef)> = vec![
        (
            "note".into(),
            Arc::new(StringArray::from(vec![long.as_str()])),
        ),
        ("history".into(), Arc::new(list)),
        ("orders".into(), Arc::new(Int64Array::from(vec![7]))),
    ];
    for i in 0..100 {
        columns.push((
            format!("x{i:03}"),
            Arc::new(StringArray::from(vec!["y".repeat(60)])),
        ));
    }
    let batch = RecordBatch::try_from_iter(columns.clone()).unwrap();
    let names: Vec<String> = columns.iter().map(|(name, _)| name.clone()).collect();
    let inputs = inputs_json(&batch, names.iter(), 0).unwrap();
    assert!(inputs.len() <= MAX_REJECT_INPUTS_BYTES, "{}", inputs.len());
    let object: serde_json::Value = serde_json::from_str(&inputs).unwrap();
    let note = object["note"].as_str().unwrap();
    assert_eq!(note, format!("\"{}… (59746 more bytes)", "n".repeat(255)));
    assert!(object["history"]
        .as_str()
        .unwrap()
        .starts_with("[0.0,1.0,2.0,"));
    assert_eq!(object["orders"], 7);
    let kept = object.as_object().unwrap().len();
    assert_eq!(
        object["…"],
        format!("{} more names", 103 - (kept - 1)).as_str()
    );

    let small = inputs_json(&batch, names[2..3].iter(), 0).unwrap();
    assert_eq!(small, r#"{"orders":7}"#);
}
