//! Failures before a row is scored: script syntax errors and misspelt names (exit 1, with
//! `file:line:col`), malformed YAML and unknown keys (exit 1, with a "did you mean"), missing or
//! corrupt input (exit 3, the file named, no panic, no output), and `--log-format json` errors.

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// A pipeline over `customers.parquet` with one factor: `rule` is the factor's YAML body.
fn write_pipeline(dir: &Path, input: &str, rule: &str) {
    write(
        dir,
        "p.yaml",
        &format!(
            r#"version: 1
name: failing
input: {{ path: {input}, id: customer_id }}
factors:
  - {{ name: value, {rule}, weight: 1.0 }}
tiers:
  levels:
    - {{ name: all }}
output: {{ path: out }}
"#
        ),
    );
}

/// Runs `tierscore run p.yaml` in `dir` and checks it wrote nothing: no output, no lock file,
/// no staging folder.
fn run_writing_nothing(dir: &Path, extra: &[&str]) -> Outcome {
    let before = listing(dir);
    let mut args = extra.to_vec();
    args.extend(["run", "p.yaml"]);
    let result = run(dir, &args);
    assert_eq!(listing(dir), before, "the failed run left files behind");
    result
}

fn with_input(rows: u64) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    gen(tmp.path(), "customers.parquet", rows, 1, rows);
    tmp
}

#[test]
fn script_syntax_error_names_the_file_line_and_column() {
    let tmp = with_input(50);
    let dir = tmp.path();
    write_pipeline(dir, "customers.parquet", "script: bad.rhai");
    write(dir, "bad.rhai", "let a = orders_12m;\nlet b = ;\na\n");
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(1);
    assert_eq!(result.headline(), "Unexpected ';'");
    assert_eq!(snippet_location(&result.stderr), "bad.rhai:2:9");
    assert!(
        result.stderr.starts_with("rules::compile\n"),
        "{}",
        result.stderr
    );
    assert_eq!(
        result.help(),
        "fix the syntax at this position; docs/scripts.md lists the script API"
    );
}

#[test]
fn misspelt_column_in_a_script_suggests_the_column() {
    let tmp = with_input(50);
    let dir = tmp.path();
    write_pipeline(dir, "customers.parquet", "script: typo.rhai");
    write(
        dir,
        "typo.rhai",
        "// orders\nlet a = orders_12n;\na * 1.0\n",
    );
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        "`orders_12n` is not a column, factor or variable here"
    );
    assert_eq!(snippet_location(&result.stderr), "typo.rhai:2:9");
    assert_eq!(result.help(), "did you mean `orders_12m`?");
}

#[test]
fn misspelt_column_in_an_inline_expression_points_into_the_yaml() {
    let tmp = with_input(50);
    let dir = tmp.path();
    write_pipeline(dir, "customers.parquet", r#"expr: "revenue_12 * 2.0""#);
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        "factors[0].expr: `revenue_12` is not a column, factor or variable here (at 1:1 of the \
         expression)"
    );
    assert_eq!(snippet_location(&result.stderr), "p.yaml:5:20");
    assert_eq!(result.help(), "did you mean `revenue_12m`?");
}

/// The `[file:line:col]` header of the text report counts characters, not bytes, so after
/// Chinese text on the same line it agrees with the editor and with `--log-format json` (it
/// once counted bytes).
#[test]
fn error_columns_count_characters_after_unicode_text() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_parquet(
        &dir.join("customers.parquet"),
        &arrow::array::RecordBatch::try_from_iter([
            (
                "customer_id",
                arc(arrow::array::StringArray::from(vec!["a1"])),
            ),
            ("年收入", arc(arrow::array::Float64Array::from(vec![1.0]))),
        ])
        .unwrap(),
    );
    write_pipeline(dir, "customers.parquet", "script: u.rhai");
    write(dir, "u.rhai", "// 价值\nlet 收入 = 年收 * 2.0;\n收入\n");

    let json = run_writing_nothing(dir, &["--log-format", "json"]);
    json.expect_code(1);
    let line: serde_json::Value =
        serde_json::from_str(json.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(line["problems"][0]["line"], 2);
    assert_eq!(
        line["problems"][0]["column"], 10,
        "`年收` is the 10th character"
    );

    let text = run_writing_nothing(dir, &[]);
    text.expect_code(1);
    assert_eq!(
        text.headline(),
        "`年收` is not a column, factor or variable here"
    );
    assert_eq!(text.help(), "did you mean `年收入`?");
    assert_eq!(snippet_location(&text.stderr), "u.rhai:2:10");
}

#[test]
fn malformed_yaml_is_reported_at_its_line_and_column() {
    let tmp = with_input(50);
    let dir = tmp.path();
    write(
        dir,
        "p.yaml",
        "version: 1\nname: x\ninput:\n  path: customers.parquet\n   id: customer_id\n",
    );
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        "mapping values are not allowed in this context"
    );
    assert_eq!(snippet_location(&result.stderr), "p.yaml:5:6");
    assert_eq!(
        result.help(),
        "fix the YAML at this position (indentation, quotes and `:` are the usual suspects)"
    );

    write(
        dir,
        "p.yaml",
        "version: 1\nname: x\ninput: { path: customers.parquet, id: customer_id\nfactors: []\n",
    );
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        "did not find expected ',' or '}', while parsing a flow mapping"
    );
    assert_eq!(snippet_location(&result.stderr), "p.yaml:4:8");
}

#[test]
fn unknown_keys_are_errors_with_a_suggestion() {
    let tmp = with_input(50);
    let dir = tmp.path();
    write_pipeline(dir, "customers.parquet", r#"expr: "1.0""#);
    let good = fs::read_to_string(dir.join("p.yaml")).unwrap();

    fs::write(dir.join("p.yaml"), good.replace("factors:", "facters:")).unwrap();
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(1);
    // The list of accepted keys grows with the format; the start and `factors` are fixed.
    let headline = result.headline();
    assert!(
        headline.starts_with("unknown field `facters`, expected one of `version`, `name`, "),
        "{headline}"
    );
    assert!(headline.contains(" `factors`, "), "{headline}");
    assert_eq!(snippet_location(&result.stderr), "p.yaml:4:1");
    assert_eq!(result.help(), "did you mean `factors`?");
    assert!(result.stderr.starts_with("pipeline::unknown_key\n"));

    fs::write(dir.join("p.yaml"), good.replace("weight:", "weigth:")).unwrap();
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(1);
    let headline = result.headline();
    assert!(
        headline.contains(
            "unknown field `weigth`, expected one of `name`, `script`, `expr`, `weight`, \
             `description`"
        ),
        "{headline}"
    );
    assert_eq!(snippet_location(&result.stderr), "p.yaml:5:33");
    assert_eq!(result.help(), "did you mean `weight`?");
}

#[test]
fn missing_input_file_is_a_data_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_pipeline(dir, "missing.parquet", r#"expr: "1.0""#);
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(3);
    assert_eq!(result.headline(), "input missing.parquet does not exist");
    assert_eq!(
        result.help(),
        "input.path is relative to the pipeline file; check it, or generate data with `tierscore \
         gen`"
    );
}

#[test]
fn random_bytes_are_not_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Deterministic pseudo-random bytes.
    let mut x: u32 = 2_463_534_242;
    let bytes: Vec<u8> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    fs::write(dir.join("random.parquet"), bytes).unwrap();
    write_pipeline(dir, "random.parquet", r#"expr: "1.0""#);
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "random.parquet is not a Parquet file: it holds binary data in another format"
    );
    assert!(result
        .help()
        .starts_with("tierscore reads Parquet (a file starting with `PAR1`)"));
}

#[test]
fn truncated_parquet_is_refused_naming_the_file() {
    let tmp = with_input(2000);
    let dir = tmp.path();
    let whole = fs::read(dir.join("customers.parquet")).unwrap();
    fs::write(dir.join("truncated.parquet"), &whole[..whole.len() * 2 / 3]).unwrap();
    fs::remove_file(dir.join("customers.parquet")).unwrap();
    write_pipeline(dir, "truncated.parquet", r#"expr: "1.0""#);
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(3);
    assert!(
        result
            .headline()
            .starts_with("truncated.parquet is not a readable Parquet file: "),
        "{}",
        result.stderr
    );
}

#[test]
fn corrupt_data_page_fails_the_run_naming_the_file_and_commits_nothing() {
    let tmp = with_input(2000);
    let dir = tmp.path();
    // Keep the footer intact and scramble the start of the first column's first data page, so
    // the file opens and decoding fails mid-run (after the staging folder exists).
    let path = dir.join("customers.parquet");
    let offset = {
        use parquet::file::reader::FileReader;
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(
            fs::File::open(&path).unwrap(),
        )
        .unwrap();
        reader.metadata().row_group(0).column(0).data_page_offset() as usize
    };
    let mut bytes = fs::read(&path).unwrap();
    for b in &mut bytes[offset + 30..offset + 130] {
        *b ^= 0x5a;
    }
    fs::write(dir.join("damaged.parquet"), bytes).unwrap();
    fs::remove_file(&path).unwrap();
    write_pipeline(dir, "damaged.parquet", r#"expr: "1.0""#);

    let before = listing(dir);
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    assert!(
        result
            .headline()
            .starts_with("damaged.parquet (rows from 0): "),
        "{}",
        result.stderr
    );
    assert!(result.stderr.starts_with("source::decode\n"));
    assert!(!dir.join("out").exists());
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
    // Not even a lock file is left (the run had started writing).
    assert_eq!(listing(dir), before);
}

#[test]
fn json_log_format_reports_the_error_as_one_json_line() {
    let tmp = with_input(50);
    let dir = tmp.path();
    write_pipeline(dir, "customers.parquet", "script: typo.rhai");
    write(
        dir,
        "typo.rhai",
        "// orders\nlet a = orders_12n;\na * 1.0\n",
    );
    let result = run_writing_nothing(dir, &["--log-format", "json"]);
    result.expect_code(1);
    let last = result.stderr.lines().last().unwrap();
    let line: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(line["exit_code"], 1);
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["code"], "rules::compile");
    assert_eq!(
        line["message"],
        "`orders_12n` is not a column, factor or variable here"
    );
    assert_eq!(line["help"], "did you mean `orders_12m`?");
    assert_eq!(
        line["problems"],
        serde_json::json!([{
            "code": "rules::compile",
            "severity": "error",
            "message": "`orders_12n` is not a column, factor or variable here",
            "file": "typo.rhai",
            "line": 2,
            "column": 9,
            "help": "did you mean `orders_12m`?"
        }])
    );
    assert!(
        !result.stderr.contains("╭─["),
        "no miette report in JSON mode"
    );

    // A pipeline error points into the YAML.
    write(
        dir,
        "p.yaml",
        &fs::read_to_string(dir.join("p.yaml"))
            .unwrap()
            .replace("factors:", "facters:"),
    );
    let result = run_writing_nothing(dir, &["--log-format", "json"]);
    result.expect_code(1);
    let line: serde_json::Value =
        serde_json::from_str(result.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(line["exit_code"], 1);
    assert_eq!(line["code"], "pipeline::unknown_key");
    assert_eq!(line["problems"][0]["file"], "p.yaml");
    assert_eq!(line["problems"][0]["line"], 4);
    assert_eq!(line["problems"][0]["column"], 1);
    assert_eq!(line["problems"][0]["help"], "did you mean `factors`?");

    // A data error has an exit code of 3 and no located problems.
    write_pipeline(dir, "missing.parquet", r#"expr: "1.0""#);
    let result = run_writing_nothing(dir, &["--log-format", "json"]);
    result.expect_code(3);
    let line: serde_json::Value =
        serde_json::from_str(result.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(line["exit_code"], 3);
    assert_eq!(line["code"], "source::missing");
    assert_eq!(line["message"], "input missing.parquet does not exist");
    assert_eq!(line["problems"], serde_json::json!([]));
}

#[test]
fn a_csv_input_is_named_as_csv_not_as_a_damaged_parquet_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "customers.csv", "customer_id,revenue_12m\nC1,100.5\n");
    write_pipeline(dir, "customers.csv", r#"expr: "1.0""#);
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(3);
    assert!(
        result.stderr.starts_with("source::not_parquet\n"),
        "{}",
        result.stderr
    );
    assert_eq!(
        result.headline(),
        "customers.csv is not a Parquet file: it holds CSV text (its first line is `customer_id,revenue_12m`)"
    );
    assert!(
        result
            .help()
            .contains("COPY (SELECT * FROM 'customers.csv')"),
        "{}",
        result.stderr
    );

    write(dir, "customers.json", "[{\"customer_id\": \"C1\"}]");
    write_pipeline(dir, "customers.json", r#"expr: "1.0""#);
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "customers.json is not a Parquet file: it holds JSON text"
    );
}

#[test]
fn a_url_of_no_known_object_store_is_refused_with_store_bad_url() {
    let tmp = with_input(10);
    let dir = tmp.path();
    write_pipeline(dir, "ftp://host/customers/", r#"expr: "1.0""#);
    let result = run_writing_nothing(dir, &[]);
    result.expect_code(3);
    assert!(
        result.stderr.starts_with("store::bad_url\n"),
        "{}",
        result.stderr
    );
    assert_eq!(
        result.headline(),
        "cannot use ftp://host/customers/: `ftp://` is no object store tierscore knows (s3://, gs://, az://, file://)"
    );

    // A bucket-less URL given with --input, to a valid pipeline.
    write_pipeline(dir, "customers.parquet", r#"expr: "1.0""#);
    let result = run(dir, &["run", "p.yaml", "--input", "gs:///x.parquet"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "cannot use gs:///x.parquet: it names no bucket or container"
    );
    assert!(!dir.join("out").exists());

    // A file:// URL is a local path.
    let absolute = format!("file://{}", dir.join("customers.parquet").display());
    run(dir, &["--quiet", "run", "p.yaml", "--input", &absolute]).expect_code(0);
    assert_eq!(manifest(&dir.join("out"))["rows"]["input"], 10);
}

/// `check`'s closing line follows its problems without a `findings` code standing alone on a
/// line above it; JSON lines keep the code.
#[test]
fn the_closing_line_of_check_carries_no_lone_code() {
    let tmp = with_input(50);
    let dir = tmp.path();
    write_pipeline(dir, "customers.parquet", r#"expr: "revenue_12 * 2.0""#);
    let result = run(dir, &["check", "p.yaml"]);
    result.expect_code(1);
    assert!(
        !result.stderr.lines().any(|line| line.trim() == "findings"),
        "{}",
        result.stderr
    );
    assert!(
        result
            .stderr
            .trim_end()
            .ends_with("× check failed: p.yaml: 1 error(s), 0 warning(s)"),
        "{}",
        result.stderr
    );
    let json = run(dir, &["--log-format", "json", "check", "p.yaml"]);
    json.expect_code(1);
    let last: serde_json::Value =
        serde_json::from_str(json.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["code"], "findings");
    assert_eq!(
        last["message"],
        "check failed: p.yaml: 1 error(s), 0 warning(s)"
    );
}
