use super::*;

const GOOD: &str = r#"
version: 1
name: demo
input: { path: ../data/c.parquet, id: customer_id, rename: { "年收入": annual_revenue } }
params: { as_of: "2026-11-01", high: 100000 }
factors:
  - { name: economic, script: ../rules/economic.rhai, weight: 0.5 }
  - { name: risk, expr: "if bad_debt { -30.0 } else { 0.0 }", weight: 1.0 }
tiers:
  levels:
    - { name: strategic, min: 75 }
    - { name: key, min: 50 }
    - { name: general }
output: { path: ../out/demo, columns: [region], reasons: true }
errors: { max_reject_fraction: 0.01 }
"#;

fn parse(text: &str) -> Result<Pipeline, PipelineError> {
    Pipeline::parse(Path::new("pipelines/demo.yaml"), text.to_string())
}

fn problems(text: &str) -> Vec<(String, String, Option<String>)> {
    match parse(text) {
        Err(PipelineError::Invalid(Problems(list))) => list
            .into_iter()
            .map(|p| (p.location(), p.message.clone(), p.help.clone()))
            .collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn a_good_pipeline_resolves_paths_against_its_file() {
    let p = parse(GOOD).unwrap();
    assert_eq!(p.name, "demo");
    assert_eq!(p.input.path, Path::new("data/c.parquet"));
    assert_eq!(join_clean(Path::new("/a/b"), "../../../x"), Path::new("/x"));
    assert_eq!(join_clean(Path::new(""), "../x"), Path::new("../x"));
    assert_eq!(
        p.input.rename,
        vec![("年收入".to_string(), "annual_revenue".to_string())]
    );
    assert_eq!(p.params["high"], serde_yaml::Value::from(100000));
    assert_eq!(p.factors.len(), 2);
    assert!(
        matches!(&p.factors[0].rule, RuleSource::Script(path) if path == Path::new("rules/economic.rhai"))
    );
    assert!(
        matches!(&p.factors[1].rule, RuleSource::Inline { key, .. } if key == "factors[1].expr")
    );
    assert_eq!(p.output.partition_by, PartitionBy::Tier);
    assert_eq!(p.errors.on_row_error, OnRowError::Reject);
    assert_eq!(p.errors.max_reject_fraction, 0.01);
    assert_eq!(p.limits, Limits::default());
    assert_eq!(p.tiers.levels[2].min, None);
}

#[test]
fn unknown_key_gets_position_and_suggestion() {
    let text = GOOD.replace("factors:", "facters:");
    assert_eq!(
        problems(&text),
        vec![(
            "pipelines/demo.yaml:6:1".to_string(),
            "unknown field `facters`, expected one of `version`, `name`, `description`, `input`, `params`, `derive`, `factors`, `score`, `tiers`, `output`, `errors`, `limits`, `tests`, `report`".to_string(),
            Some("did you mean `factors`?".to_string())
        )]
    );
}

#[test]
fn nested_unknown_key_and_bad_variant() {
    let text = GOOD.replace("weight: 0.5", "wieght: 0.5");
    let found = problems(&text);
    assert_eq!(found[0].0, "pipelines/demo.yaml:7:55");
    assert!(found[0].1.starts_with("factors[0]: unknown field `wieght`"));
    assert_eq!(found[0].2.as_deref(), Some("did you mean `weight`?"));

    let text = GOOD.replace("reasons: true", "reasons: true, partition_by: tiers");
    let found = problems(&text);
    assert!(found[0].1.contains("unknown variant `tiers`"), "{found:?}");
    assert_eq!(found[0].2.as_deref(), Some("did you mean `tier`?"));
}

#[test]
fn a_misspelt_key_does_not_hide_the_problems_after_it() {
    let text = GOOD
        .replace("weight: 0.5", "wieght: 0.5")
        .replace("reasons: true", "reasons: true, partition_by: tiers")
        .replace("{ name: key, min: 50 }", "{ name: key, min: 80 }");
    let found = problems(&text);
    let brief: Vec<(&str, &str)> = found
        .iter()
        .map(|(at, message, _)| (at.as_str(), message.split(',').next().unwrap()))
        .collect();
    assert_eq!(
        brief[0],
        (
            "pipelines/demo.yaml:7:55",
            "factors[0]: unknown field `wieght`"
        )
    );
    assert_eq!(brief[1].1, "output.partition_by: unknown variant `tiers`");
    assert!(
        brief[2..].iter().any(|(_, m)| m.contains("min")),
        "the tier order problem is still found: {found:?}"
    );
    assert_eq!(found[1].2.as_deref(), Some("did you mean `tier`?"));
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let found = problems("version: 1\nname: demo\ninput: { path: x\nfactors: []\n");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "pipelines/demo.yaml:4:8", "{found:?}");
    assert_eq!(
        found[0].1,
        "did not find expected ',' or '}', while parsing a flow mapping"
    );
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = GOOD
        .replace("{ name: key, min: 50 }", "{ name: key, min: 80 }")
        .replace("weight: 1.0", "weight: 1.0, script: x.rhai")
        .replace("{ name: general }", "{ name: general, min: 0 }")
        .replace("max_reject_fraction: 0.01", "max_reject_fraction: 2");
    let found = problems(&text);
    let messages: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "factor `risk` has both `script` and `expr`",
            "tier `key` (min 80) is not below tier `strategic` (min 75)",
            "the last tier `general` has a `min`, so some rows would match no tier",
            "max_reject_fraction is 2, outside 0..1",
        ]
    );
    assert_eq!(found[1].0, "pipelines/demo.yaml:12:20");
}

#[test]
fn weights_are_required_for_a_weighted_sum_only() {
    let text = GOOD.replace(", weight: 0.5", "");
    assert_eq!(problems(&text)[0].1, "factor `economic` has no weight");
    let text = text.replace("errors:", "score: { script: ../rules/score.rhai }\nerrors:");
    let p = parse(&text).unwrap();
    assert!(
        matches!(&p.score, Combine::Script(RuleSource::Script(path)) if path.ends_with("score.rhai"))
    );
}

#[test]
fn names_must_be_usable_by_scripts_and_folders() {
    let text = GOOD
        .replace("name: economic", "name: 2nd")
        .replace("name: key,", "name: \"key/one\",")
        .replace("columns: [region]", "columns: [region, score]");
    let messages: Vec<String> = problems(&text).into_iter().map(|p| p.1).collect();
    assert_eq!(
        messages,
        vec![
            "factor name `2nd` is not a valid name",
            "tier name `key/one` cannot name an output folder",
            "output column `score` clashes with a factor or a column tierscore writes",
        ]
    );
    assert!(is_identifier("年收入"));
}

/// DuckDB and Spark match column names ignoring case: an input column `TIER` passed through
/// read as the `tier=NAME` folder's value, and a factor `Score` as `score`. Derives are not
/// written to the output, so `Score` is a derive name scripts can tell from `score`.
#[test]
fn output_columns_named_like_a_column_tierscore_writes_in_any_case_are_refused() {
    let text = GOOD
        .replace("name: economic", "name: Score")
        .replace("name: risk", "name: TIER_rank")
        .replace("columns: [region]", "columns: [region, TIER, Reasons]");
    assert_eq!(
        problems(&text),
        vec![
            (
                "pipelines/demo.yaml:7:7".to_string(),
                "factor name `Score` clashes with `score`, a column tierscore writes: DuckDB and \
                 Spark match column names ignoring case"
                    .to_string(),
                Some("a factor's name is its output column's; pick another name".to_string()),
            ),
            (
                "pipelines/demo.yaml:8:7".to_string(),
                "factor name `TIER_rank` clashes with `tier_rank`, a column tierscore writes: \
                 DuckDB and Spark match column names ignoring case"
                    .to_string(),
                Some("a factor's name is its output column's; pick another name".to_string()),
            ),
            (
                "pipelines/demo.yaml:14:48".to_string(),
                "output column `TIER` clashes with `tier`, a column tierscore writes: DuckDB and \
                 Spark match column names ignoring case"
                    .to_string(),
                Some(
                    "rename the input column with `input.rename`, e.g. { TIER: old_tier }, and \
                     list `old_tier` in output.columns"
                        .to_string()
                ),
            ),
            (
                "pipelines/demo.yaml:14:54".to_string(),
                "output column `Reasons` clashes with `reasons`, a column tierscore writes: \
                 DuckDB and Spark match column names ignoring case"
                    .to_string(),
                Some(
                    "rename the input column with `input.rename`, e.g. { Reasons: old_reasons }, \
                     and list `old_reasons` in output.columns"
                        .to_string()
                ),
            ),
        ]
    );
    let derived = GOOD.replace(
        "factors:",
        "derive:\n  - { name: Score, zscore: revenue }\nfactors:",
    );
    assert_eq!(parse(&derived).unwrap().derive[0].name, "Score");
    assert_eq!(written_column_like("Tier_Rank"), Some("tier_rank"));
    assert_eq!(written_column_like("params"), None);
    assert_eq!(written_column_like("tiers"), None);
}

/// Two output columns that differ only in case clash in DuckDB and Spark as a reserved name
/// does: factors `risk` and `Risk`, an output column `Economic` beside the factor `economic`,
/// and output columns `region` and `REGION`.
#[test]
fn output_columns_differing_only_in_case_are_refused() {
    let text = GOOD
        .replace(
            "  - { name: risk,",
            "  - { name: Risk, expr: \"1.0\", weight: 0.0 }\n  - { name: risk,",
        )
        .replace("columns: [region]", "columns: [region, Economic, REGION]");
    assert_eq!(
        problems(&text),
        vec![
            (
                "pipelines/demo.yaml:9:7".to_string(),
                "factor name `risk` clashes with the output column `Risk`: DuckDB and Spark \
                 match column names ignoring case"
                    .to_string(),
                Some(
                    "a factor's name is its output column's: pick names that differ in more \
                     than case"
                        .to_string()
                ),
            ),
            (
                "pipelines/demo.yaml:15:48".to_string(),
                "output column `Economic` clashes with the output column `economic`: DuckDB and \
                 Spark match column names ignoring case"
                    .to_string(),
                Some(
                    "rename the input column with `input.rename` so no two output columns \
                     differ only in case"
                        .to_string()
                ),
            ),
            (
                "pipelines/demo.yaml:15:58".to_string(),
                "output column `REGION` clashes with the output column `region`: DuckDB and \
                 Spark match column names ignoring case"
                    .to_string(),
                Some(
                    "rename the input column with `input.rename` so no two output columns \
                     differ only in case"
                        .to_string()
                ),
            ),
        ]
    );
}

#[test]
fn derive_entries_are_validated() {
    let text = GOOD.replace(
        "factors:",
        "derive:\n  - { name: r_score, ntile: last_order_date, buckets: 5, order: desc }\n  - { name: share, cumulative_share: revenue }\nfactors:",
    );
    let p = parse(&text).unwrap();
    assert_eq!(
        p.derive,
        vec![
            Derive {
                name: "r_score".into(),
                column: "last_order_date".into(),
                kind: DeriveKind::Ntile {
                    buckets: 5,
                    descending: true
                }
            },
            Derive {
                name: "share".into(),
                column: "revenue".into(),
                kind: DeriveKind::CumulativeShare
            },
        ]
    );
    let bad = GOOD.replace(
        "factors:",
        "derive:\n  - { name: a, ntile: x }\n  - { name: b, zscore: x, minmax: y }\n  - { name: c, zscore: x, order: desc }\n  - { name: risk, rank: x }\nfactors:",
    );
    let messages: Vec<String> = problems(&bad).into_iter().map(|p| p.1).collect();
    assert_eq!(
        messages,
        vec![
            "derive `a` needs `buckets:` of 1 or more",
            "derive `b` must name exactly one of ntile, percent_rank, rank, zscore, minmax, cumulative_share (it names 2)",
            "`order` only applies to ntile, percent_rank and rank (derive `c`)",
            "factor `risk` has the name of a derive column",
        ]
    );
}

#[test]
fn rank_share_and_script_tiers_are_validated_for_their_bounds() {
    let with_tiers = |tiers: &str| {
        let start = GOOD.find("tiers:").unwrap();
        let end = GOOD.find("output:").unwrap();
        format!("{}{tiers}\n{}", &GOOD[..start], &GOOD[end..])
    };
    let p = parse(&with_tiers(
        "tiers:\n  by: rank\n  levels: [{name: A, top: 0.2}, {name: B, top: 0.5}, {name: C}]",
    ))
    .unwrap();
    assert!(matches!(p.tiers.rule, TierRule::Rank));
    assert_eq!(p.tiers.levels[1].top, Some(0.5));

    let messages = |tiers: &str| -> Vec<String> {
        problems(&with_tiers(tiers))
            .into_iter()
            .map(|p| p.1)
            .collect()
    };
    assert_eq!(
        messages(
            "tiers:\n  by: rank\n  levels: [{name: A, top: 0.5}, {name: B, top: 0.2}, {name: C}]"
        ),
        vec!["tier `B` (top 0.2) is not above tier `A` (top 0.5)"]
    );
    assert_eq!(
        messages("tiers:\n  by: cumulative_share\n  levels: [{name: A, upto: 1.5}, {name: B, min: 3}, {name: C}]"),
        vec![
            "tier `A` has upto 1.5",
            "tier `B` has `min`, which this rule does not use",
            "tier `B` has no `upto` but is not the last level",
        ]
    );
    assert_eq!(
        messages(
            "tiers:\n  script: seg.rhai\n  of: revenue\n  levels: [{name: A, min: 1}, {name: B}]"
        ),
        vec![
            "`tiers.of` only applies to `by: cumulative_share`",
            "tier `A` has `min`, which this rule does not use",
        ]
    );
}
