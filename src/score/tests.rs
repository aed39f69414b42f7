use std::path::Path;

use arrow::array::{Float64Array, Int64Array};

use super::*;
use crate::pipeline::{Pipeline, RuleSource};
use crate::rules::{EngineChoice, Returns, RuleBuilder};

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
