//! Warnings of `check` and `run`: a nullable column read outside `??` warns only when the
//! input's Parquet statistics cannot rule nulls out, and `--quiet` leaves nothing on stderr but
//! errors.

mod common;

use std::path::Path;

use arrow::array::{Float64Array, RecordBatch};
use common::*;
use serde_json::Value;

/// Reads `revenue_12m`, `orders_12m` and the derive `rev_pct` (percent_rank of revenue_12m)
/// without a default in factor `value`, and `product_pull` in factor `pull`.
const PIPELINE: &str = r#"version: 1
name: nulls
input: { path: data, id: customer_id }
derive:
  - { name: rev_pct, percent_rank: revenue_12m }
factors:
  - { name: value, expr: "revenue_12m * 1.0 + orders_12m + rev_pct", weight: 1.0 }
  - { name: pull, expr: "(product_pull ?? 0) * 1.0 + (brand_contribution ?? 0)", weight: 1.0 }
  - { name: innovative, expr: "innovation * 1.0", weight: 1.0 }
tiers:
  levels:
    - { name: all }
output: { path: out }
errors: { max_reject_fraction: 1.0 }
"#;

/// The `column `NAME` can be null` warnings of `check --format json`, as column names in
/// report order; the check must pass.
fn nullable_warnings(dir: &Path) -> Vec<String> {
    let result = run(dir, &["check", "p.yaml", "--format", "json"]);
    result.expect_code(0);
    let report: Value = serde_json::from_str(&result.stdout).unwrap();
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["code"], "plan::nullable", "{p}");
            assert_eq!(p["severity"], "warning", "{p}");
            let message = p["message"].as_str().unwrap();
            let start = message.find("column `").unwrap() + "column `".len();
            let end = start + message[start..].find('`').unwrap();
            message[start..end].to_string()
        })
        .collect()
}

/// `batch` with `revenue_12m` null on row `row`.
fn with_null_revenue(batch: &RecordBatch, row: usize) -> RecordBatch {
    let index = batch.schema().index_of("revenue_12m").unwrap();
    let mut columns = batch.columns().to_vec();
    let values = floats(batch, "revenue_12m");
    columns[index] = arc(Float64Array::from(
        (0..values.len())
            .map(|i| (i != row).then_some(values[i]))
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

#[test]
fn a_nullable_column_warns_only_when_the_statistics_cannot_rule_nulls_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "p.yaml", PIPELINE);
    gen(dir, "gen.parquet", 3000, 9, 1000);
    let customers = as_other_writer(&read_parquet(&dir.join("gen.parquet")));
    let schema = customers.schema();
    assert!(
        schema.fields().iter().all(|f| f.is_nullable()),
        "every column nullable, as pandas writes it"
    );
    let nulls = |name: &str| customers.column_by_name(name).unwrap().null_count();
    assert_eq!((nulls("revenue_12m"), nulls("orders_12m")), (0, 0));
    assert!(nulls("innovation") > 0, "gen leaves ratings missing");

    // One file, statistics in every row group: only the column with nulls warns.
    write_parquet(&dir.join("data/a.parquet"), &customers);
    assert_eq!(nullable_warnings(dir), ["innovation"]);

    // Two files, the second with one null revenue: revenue and its derive warn too.
    write_parquet(
        &dir.join("data/b.parquet"),
        &with_null_revenue(&customers.slice(0, 500), 123),
    );
    assert_eq!(
        nullable_warnings(dir),
        ["revenue_12m", "rev_pct", "innovation"]
    );

    // The second file without statistics: nothing can be ruled out in it.
    write_parquet_without_statistics(&dir.join("data/b.parquet"), &customers.slice(0, 500));
    assert_eq!(
        nullable_warnings(dir),
        ["revenue_12m", "orders_12m", "rev_pct", "innovation"]
    );

    // A column that is not nullable in the schema (as `tierscore gen` writes all but the
    // ratings) never warns, statistics or not.
    std::fs::remove_file(dir.join("data/b.parquet")).unwrap();
    write_parquet_without_statistics(
        &dir.join("data/a.parquet"),
        &read_parquet(&dir.join("gen.parquet")),
    );
    assert_eq!(nullable_warnings(dir), ["innovation"]);
}

/// A rule reading seven nullable columns without a default, over a pandas-style file whose
/// statistics are missing: seven warnings.
const SEVEN: &str = r#"version: 1
name: seven
input: { path: customers.parquet, id: customer_id }
factors:
  - name: value
    expr: "revenue_12m + cost_to_serve + gross_margin_rate + bad_debt_amount + orders_12m + referrals + support_tickets_12m"
    weight: 1.0
tiers:
  levels:
    - { name: all }
output: { path: out }
"#;

fn warn_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("WARN")).collect()
}

#[test]
fn quiet_prints_nothing_but_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "gen.parquet", 200, 3, 200);
    write_parquet_without_statistics(
        &dir.join("customers.parquet"),
        &as_other_writer(&read_parquet(&dir.join("gen.parquet"))),
    );
    write(dir, "p.yaml", SEVEN);

    // Without --quiet, `run` logs each warning and `check` renders it.
    let loud = run(dir, &["run", "p.yaml"]);
    loud.expect_code(0);
    let warns = warn_lines(&loud.stderr);
    assert_eq!(warns.len(), 7, "{}", loud.stderr);
    assert_eq!(
        warns[0],
        " WARN p.yaml:6:5: factors[0].expr: column `revenue_12m` can be null and is used without \
         a default (at 1:1 of the expression) code=plan::nullable"
    );
    let checked = run(dir, &["check", "p.yaml"]);
    checked.expect_code(0);
    assert_eq!(
        checked
            .stderr
            .lines()
            .filter(|l| l.starts_with("  ⚠ "))
            .count(),
        7,
        "{}",
        checked.stderr
    );
    assert_eq!(
        checked.stdout,
        "rule value: compiled\ncheck ok: p.yaml: 0 error(s), 7 warning(s)\n"
    );

    // With --quiet: nothing at all on success.
    let quiet = run(dir, &["--quiet", "run", "p.yaml", "--output", "out2"]);
    quiet.expect_code(0);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));
    assert_eq!(manifest(&dir.join("out2"))["rows"]["scored"], 200);
    let quiet = run(dir, &["--quiet", "check", "p.yaml"]);
    quiet.expect_code(0);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));

    // ... and errors still, without the warnings around them.
    write(
        dir,
        "p.yaml",
        &SEVEN.replace("support_tickets_12m\"", "support_tickets\""),
    );
    for args in [
        &["--quiet", "run", "p.yaml", "--output", "out3"][..],
        &["--quiet", "check", "p.yaml"][..],
    ] {
        let failed = run(dir, args);
        failed.expect_code(1);
        assert_eq!(failed.stdout, "", "{args:?}");
        assert_eq!(warn_lines(&failed.stderr), Vec::<&str>::new(), "{args:?}");
        assert!(!failed.stderr.contains('⚠'), "{args:?}: {}", failed.stderr);
        assert!(
            failed.stderr.contains(
                "  × factors[0].expr: `support_tickets` is not a column, factor or variable here"
            ),
            "{args:?}: {}",
            failed.stderr
        );
        assert!(
            failed
                .stderr
                .contains("  help: did you mean `support_tickets_12m`?"),
            "{args:?}: {}",
            failed.stderr
        );
    }
    assert!(!dir.join("out3").exists());
}
