//! Which engine runs each rule: `check` lists it, `run --engine compiled` refuses a rule the
//! compiler does not take (naming the rule, the construct and where), the manifest records it,
//! and the results are the same whichever engine runs a rule.

mod common;

use std::path::Path;

use common::*;

/// A pipeline over 2,000 generated customers with one compiled rule and one with a loop.
fn pipeline_with_a_loop(dir: &Path) {
    gen(dir, "customers.parquet", 2000, 11, 500);
    write(
        dir,
        "margin.rhai",
        "revenue_12m * gross_margin_rate - cost_to_serve\n",
    );
    write(
        dir,
        "orders.rhai",
        "// points for each order, counted one by one\nlet points = 0;\nfor i in 0..orders_12m { points += 2; }\npoints\n",
    );
    write(
        dir,
        "p.yaml",
        "version: 1\nname: engines\ninput: { path: customers.parquet, id: customer_id }\n\
         factors:\n  - { name: margin, script: margin.rhai, weight: 0.01 }\n  - { name: orders, script: orders.rhai, weight: 1.0 }\n\
         tiers:\n  levels:\n    - { name: top, min: 40 }\n    - { name: rest }\noutput: { path: out }\n",
    );
}

/// Runs `p.yaml` with the default engine into `auto/` and with the interpreter alone into
/// `interpreted/`.
fn run_auto_and_interpreted(dir: &Path) {
    run(dir, &["run", "p.yaml", "--output", "auto"]).expect_code(0);
    run(
        dir,
        &[
            "run",
            "p.yaml",
            "--engine",
            "interpreted",
            "--output",
            "interpreted",
        ],
    )
    .expect_code(0);
}

#[test]
fn check_lists_each_rule_with_its_engine_and_why() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline_with_a_loop(dir);
    let text = run(dir, &["check", "p.yaml"]);
    text.expect_code(0);
    assert_eq!(
        text.stdout,
        "rule margin: compiled\nrule orders: interpreted: a `for` loop at orders.rhai:3:1\n\
         check ok: p.yaml: 0 error(s), 0 warning(s)\n"
    );
    let json = parse_json_exact(&run(dir, &["check", "p.yaml", "--format", "json"]).stdout);
    assert_eq!(
        json["rules"],
        serde_json::json!([
            {"name": "margin", "engine": "compiled", "because": null},
            {"name": "orders", "engine": "interpreted", "because": "a `for` loop at orders.rhai:3:1"},
        ])
    );
}

#[test]
fn engine_compiled_refuses_a_rule_the_compiler_does_not_take() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline_with_a_loop(dir);
    for command in [
        vec!["run", "p.yaml", "--engine", "compiled"],
        vec!["check", "p.yaml", "--engine", "compiled"],
    ] {
        let result = run(dir, &command);
        result.expect_code(1);
        assert!(
            result
                .headline()
                .contains("rule `orders` cannot be compiled: a `for` loop"),
            "{command:?}: {}",
            result.stderr
        );
        assert_eq!(snippet_location(&result.stderr), "orders.rhai:3:1");
        assert!(!dir.join("out").exists(), "nothing is written");
    }
}

#[test]
fn every_engine_gives_the_same_output_and_the_manifest_says_which_ran() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline_with_a_loop(dir);
    run_auto_and_interpreted(dir);
    let auto = output_data(&dir.join("auto"));
    let interpreted = output_data(&dir.join("interpreted"));
    assert_eq!(
        auto.keys().collect::<Vec<_>>(),
        interpreted.keys().collect::<Vec<_>>()
    );
    for (file, batch) in &auto {
        assert_eq!(batch, &interpreted[file], "{file}");
        if file.starts_with("rejects/") {
            continue;
        }
        for factor in ["margin", "orders", "score"] {
            let bits = |b: &arrow::array::RecordBatch| -> Vec<u64> {
                floats(b, factor).iter().map(|f| f.to_bits()).collect()
            };
            assert_eq!(bits(batch), bits(&interpreted[file]), "{file} {factor}");
        }
    }
    let rules = |out: &str| manifest(&dir.join(out))["rules"].clone();
    assert_eq!(
        rules("auto"),
        serde_json::json!([
            {"name": "margin", "engine": "compiled", "because": null, "rows_interpreted": 0},
            {"name": "orders", "engine": "interpreted",
             "because": "a `for` loop at orders.rhai:3:1", "rows_interpreted": 0},
        ])
    );
    assert_eq!(
        rules("interpreted"),
        serde_json::json!([
            {"name": "margin", "engine": "interpreted", "because": null, "rows_interpreted": 0},
            {"name": "orders", "engine": "interpreted", "because": null, "rows_interpreted": 0},
        ])
    );
}

#[test]
fn rows_a_compiled_rule_fails_get_the_interpreters_message_and_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 2000, 11, 500);
    // Integer division by zero fails on the rows with no order.
    write(
        dir,
        "per_order.rhai",
        "revenue_history.len() / orders_12m\n",
    );
    write(
        dir,
        "p.yaml",
        "version: 1\nname: failing\ninput: { path: customers.parquet, id: customer_id }\n\
         factors:\n  - { name: per_order, script: per_order.rhai, weight: 1.0 }\n\
         tiers:\n  levels:\n    - { name: top, min: 1 }\n    - { name: rest }\n\
         output: { path: out }\nerrors: { max_reject_fraction: 1.0 }\n",
    );
    run_auto_and_interpreted(dir);
    let auto = run_data(&dir.join("auto/rejects/part-00000.parquet"));
    let interpreted = run_data(&dir.join("interpreted/rejects/part-00000.parquet"));
    assert!(auto.num_rows() > 0, "some customers have no order");
    assert_eq!(auto, interpreted, "the same rows, with the same messages");
    let message = &texts(&auto, "message")[0];
    assert!(
        message.starts_with("per_order.rhai:1:23: Division by zero: "),
        "{message}"
    );
    let m = manifest(&dir.join("auto"));
    assert_eq!(m["rules"][0]["engine"], "compiled");
    assert_eq!(
        m["rules"][0]["rows_interpreted"].as_u64(),
        Some(auto.num_rows() as u64)
    );
}

#[test]
fn a_date_written_out_in_a_template_prints_as_a_date_on_either_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 50, 3, 50);
    write(
        dir,
        "dated.rhai",
        "let as_of = date(params.as_of);\n\
         #{ value: as_of - last_order_date, reason: `as of ${as_of}, since ${date(\"2020-02-29\")}` }\n",
    );
    write(
        dir,
        "p.yaml",
        "version: 1\nname: dated\ninput: { path: customers.parquet, id: customer_id }\n\
         params: { as_of: \"2026-11-01\" }\n\
         factors:\n  - { name: days, script: dated.rhai, weight: 1.0 }\n\
         tiers:\n  levels:\n    - { name: all }\noutput: { path: out, partition_by: none, reasons: true }\n",
    );
    for engine in ["compiled", "interpreted"] {
        let out = format!("out_{engine}");
        run(
            dir,
            &["run", "p.yaml", "--engine", engine, "--output", &out],
        )
        .expect_code(0);
        let rows = read_parquet(&dir.join(&out).join("scored/part-00000.parquet"));
        let reasons = string_lists(&rows, "reasons");
        assert_eq!(reasons.len(), 50);
        for reason in reasons {
            assert_eq!(
                reason,
                vec!["days: as of 2026-11-01, since 2020-02-29".to_string()],
                "{engine}"
            );
        }
    }
}
