//! Helpers shared by the integration tests: running the `tierscore` binary inside a temporary
//! folder, writing pipelines and inputs there, and reading Parquet output and manifests back.
//!
//! Every test works in its own temporary folder and runs the binary with that folder as the
//! current directory, so pipeline and output paths (and the paths in messages) stay short and
//! relative, and nothing is ever written into the repository.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch, StringArray,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{Float64Type, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;

/// The shipped customer_value pipeline's factors, in order.
pub const CUSTOMER_VALUE_FACTORS: [&str; 6] = [
    "economic",
    "margin",
    "risk",
    "loyalty",
    "referral",
    "strategic",
];

/// The root of the repository (where `pipelines/` and `testdata/` live).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The environment variables tierscore reads for its options (the table in docs/scheduling.md).
pub const TIERSCORE_ENV: [&str; 4] = [
    "TIERSCORE_THREADS",
    "TIERSCORE_LOG_FORMAT",
    "TIERSCORE_QUIET",
    "TIERSCORE_LOG",
];

/// `tierscore` with `dir` as its working directory and a clean logging environment (none of
/// [`TIERSCORE_ENV`] set, whatever the caller's).
pub fn tierscore(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("tierscore").expect("the tierscore binary");
    cmd.current_dir(dir).env_remove("RUST_LOG");
    for name in TIERSCORE_ENV {
        cmd.env_remove(name);
    }
    cmd
}

/// What a finished command gave.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Asserts the exit code, showing stdout and stderr when it differs.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "tierscore panicked:\n{}",
            self.stderr
        );
        self
    }

    /// The error's one-line message, unwrapped from miette's rendering.
    pub fn headline(&self) -> String {
        headline(&self.stderr)
    }

    /// The error's help text, unwrapped (its own line breaks become spaces too).
    pub fn help(&self) -> String {
        help(&self.stderr)
    }
}

/// Runs `tierscore ARGS` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Outcome {
    run_with_fault(dir, None, args)
}

/// Runs `tierscore ARGS` in `dir` with the test-only fault `TIERSCORE_TEST_FAULT=fault` (see
/// `tierscore::test_fault`), or without any when `None`.
pub fn run_with_fault(dir: &Path, fault: Option<&str>, args: &[&str]) -> Outcome {
    let mut cmd = tierscore(dir);
    match fault {
        Some(fault) => cmd.env("TIERSCORE_TEST_FAULT", fault),
        None => cmd.env_remove("TIERSCORE_TEST_FAULT"),
    };
    let output = cmd.args(args).output().expect("run tierscore");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

/// The `  × message` line of a miette report with its `  │ ` continuation lines, joined with
/// spaces (miette wraps long messages at word boundaries).
pub fn headline(stderr: &str) -> String {
    let mut lines = stderr.lines().skip_while(|l| !l.starts_with("  × "));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no `  × ` line in stderr:\n{stderr}"));
    let mut text = first["  × ".len()..].to_string();
    for line in lines {
        match line.strip_prefix("  │ ") {
            Some(rest) => {
                text.push(' ');
                text.push_str(rest);
            }
            None => break,
        }
    }
    text
}

/// The `  help: ` text of a miette report with its continuation lines, whitespace collapsed.
pub fn help(stderr: &str) -> String {
    let mut lines = stderr.lines().skip_while(|l| !l.starts_with("  help: "));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no `  help: ` line in stderr:\n{stderr}"));
    let mut words: Vec<&str> = first["  help: ".len()..].split_whitespace().collect();
    for line in lines {
        if !line.starts_with("        ") {
            break;
        }
        words.extend(line.split_whitespace());
    }
    words.join(" ")
}

/// The `[file:line:col]` of the first source snippet in a miette report.
pub fn snippet_location(stderr: &str) -> String {
    let start = stderr
        .find("╭─[")
        .unwrap_or_else(|| panic!("no source snippet in stderr:\n{stderr}"));
    let rest = &stderr[start + "╭─[".len()..];
    rest[..rest.find(']').expect("closing ]")].to_string()
}

/// Writes `text` to `dir/name`, creating folders.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, text).unwrap();
    path
}

/// `tierscore gen` into `dir/name`, replacing a file generated there before.
pub fn gen(dir: &Path, name: &str, rows: u64, seed: u64, row_group_size: u64) -> PathBuf {
    let rows = rows.to_string();
    let seed = seed.to_string();
    let group = row_group_size.to_string();
    run(
        dir,
        &[
            "--quiet",
            "gen",
            "--rows",
            &rows,
            "--seed",
            &seed,
            "--out",
            name,
            "--row-group-size",
            &group,
            "--force",
        ],
    )
    .expect_code(0);
    dir.join(name)
}

/// Writes `batch` as a Parquet file (default writer settings), creating folders.
pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    write_parquet_with(path, batch, None);
}

/// Writes `batch` as a Parquet file with the writer's `props` (its defaults when `None`),
/// creating folders.
pub fn write_parquet_with(
    path: &Path,
    batch: &RecordBatch,
    props: Option<parquet::file::properties::WriterProperties>,
) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), props)
            .unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// Writes `batch` as a Parquet file without any statistics in its footer (as some writers do),
/// creating folders.
pub fn write_parquet_without_statistics(path: &Path, batch: &RecordBatch) {
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    let props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::None)
        .build();
    write_parquet_with(path, batch, Some(props));
}

/// Every row of a Parquet file as one batch. The schema's metadata (the Parquet key-value
/// metadata, which holds the run id) is dropped so batches of two runs compare by data; read it
/// with [`key_values`].
pub fn read_parquet(path: &Path) -> RecordBatch {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = Arc::new(
        builder
            .schema()
            .as_ref()
            .clone()
            .with_metadata(HashMap::new()),
    );
    let batches: Vec<RecordBatch> = builder
        .build()
        .unwrap()
        .map(|b| b.unwrap().with_schema(schema.clone()).unwrap())
        .collect();
    concat_batches(&schema, &batches).unwrap()
}

/// `(name, value)` of each object in a manifest's JSON list: e.g. `pairs(&m["tiers"], "name",
/// "count", Value::as_u64)`.
pub fn pairs<T>(
    list: &serde_json::Value,
    name: &str,
    value: &str,
    get: fn(&serde_json::Value) -> Option<T>,
) -> Vec<(String, T)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let name = item[name].as_str().unwrap().to_string();
            (name, get(&item[value]).unwrap())
        })
        .collect()
}

/// The column names of a schema, in order.
pub fn column_names(schema: &arrow::datatypes::Schema) -> Vec<String> {
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

/// The Arrow schema stored in a Parquet file.
pub fn parquet_schema(path: &Path) -> SchemaRef {
    let file = File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .schema()
        .clone()
}

/// A Parquet file's key-value metadata (without the embedded Arrow schema).
pub fn key_values(path: &Path) -> HashMap<String, String> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .filter(|kv| kv.key != "ARROW:schema")
                .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// The compression codec of every column chunk of a Parquet file.
pub fn codecs(path: &Path) -> Vec<parquet::basic::Compression> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    reader
        .metadata()
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns().iter().map(|c| c.compression()))
        .collect()
}

/// The columns of a Parquet file (dotted paths, `reasons.list.item`) whose every chunk carries
/// its lowest and highest value, and those of which no chunk does; a column with statistics in
/// some chunks only is in neither.
pub fn columns_by_min_max(path: &Path) -> (Vec<String>, Vec<String>) {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let metadata = reader.metadata();
    let schema = metadata.file_metadata().schema_descr();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for column in 0..schema.num_columns() {
        let has: Vec<bool> = metadata
            .row_groups()
            .iter()
            .map(|rg| {
                rg.column(column)
                    .statistics()
                    .is_some_and(|s| s.min_bytes_opt().is_some() && s.max_bytes_opt().is_some())
            })
            .collect();
        let name = schema.column(column).path().string();
        if has.iter().all(|h| *h) {
            with.push(name);
        } else if !has.iter().any(|h| *h) {
            without.push(name);
        }
    }
    (with, without)
}

/// Every file below `dir` (relative path -> bytes), recursively; hidden names included.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(relative, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The names in a folder, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// Staging folders (`.NAME.tierscore-staging-*`) in `dir`.
pub fn staging_dirs(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.contains(".tierscore-staging-"))
        .collect()
}

/// The `_manifest.json` of an output folder.
pub fn manifest(out: &Path) -> serde_json::Value {
    let text = fs::read_to_string(out.join("_manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The `_manifest.json` of an output folder with every number exactly as written (see
/// [`parse_json_exact`]), for comparing its figures with values computed in a test.
pub fn manifest_exact(out: &Path) -> serde_json::Value {
    parse_json_exact(&fs::read_to_string(out.join("_manifest.json")).unwrap())
}

/// The column `name` of `batch` as the Arrow array type `A`; panics naming what is wrong.
fn column<'a, A: Array + 'static>(batch: &'a RecordBatch, name: &str) -> &'a A {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    column.as_any().downcast_ref::<A>().unwrap_or_else(|| {
        panic!(
            "{name} is {}, not a {}",
            column.data_type(),
            std::any::type_name::<A>()
        )
    })
}

/// A Utf8 column as strings (nulls as `None`).
pub fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    column::<StringArray>(batch, name)
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

/// A Utf8 column without nulls.
pub fn texts(batch: &RecordBatch, name: &str) -> Vec<String> {
    strings(batch, name)
        .into_iter()
        .map(|v| v.unwrap_or_else(|| panic!("null in {name}")))
        .collect()
}

/// A Float64 column without nulls.
pub fn floats(batch: &RecordBatch, name: &str) -> Vec<f64> {
    let array = column::<Float64Array>(batch, name);
    assert_eq!(array.null_count(), 0, "nulls in {name}");
    array.values().to_vec()
}

/// An Int64 column without nulls.
pub fn ints(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let array = column::<Int64Array>(batch, name);
    assert_eq!(array.null_count(), 0, "nulls in {name}");
    array.values().to_vec()
}

/// An Int32 column without nulls.
pub fn int32s(batch: &RecordBatch, name: &str) -> Vec<i32> {
    let array = column::<arrow::array::Int32Array>(batch, name);
    assert_eq!(array.null_count(), 0, "nulls in {name}");
    array.values().to_vec()
}

/// An Int64 column with its nulls as `None`.
pub fn optional_ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    column::<Int64Array>(batch, name).iter().collect()
}

/// A Boolean column without nulls.
pub fn bools(batch: &RecordBatch, name: &str) -> Vec<bool> {
    column::<BooleanArray>(batch, name)
        .iter()
        .map(|v| v.expect("no nulls"))
        .collect()
}

/// A `List<Utf8>` column as vectors of strings.
pub fn string_lists(batch: &RecordBatch, name: &str) -> Vec<Vec<String>> {
    let array: &ListArray = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_list::<i32>();
    (0..array.len())
        .map(|row| {
            let values = array.value(row);
            values
                .as_string::<i32>()
                .iter()
                .map(|v| v.expect("no null reasons").to_string())
                .collect()
        })
        .collect()
}

/// A `List<Float64>` column's rows (nulls in the list as `None`).
pub fn float_lists(batch: &RecordBatch, name: &str) -> Vec<Option<Vec<Option<f64>>>> {
    let array: &ListArray = batch.column_by_name(name).unwrap().as_list::<i32>();
    (0..array.len())
        .map(|row| {
            array.is_valid(row).then(|| {
                array
                    .value(row)
                    .as_primitive::<Float64Type>()
                    .iter()
                    .collect()
            })
        })
        .collect()
}

/// The batch with only the named columns, in that order.
pub fn project(batch: &RecordBatch, names: &[&str]) -> RecordBatch {
    let indices: Vec<usize> = names
        .iter()
        .map(|n| batch.schema().index_of(n).unwrap())
        .collect();
    batch.project(&indices).unwrap()
}

/// Shorthand for `Arc::new`, for building arrays.
pub fn arc<T: Array + 'static>(array: T) -> Arc<dyn Array> {
    Arc::new(array)
}

/// Copies a folder and everything below it to `to`, creating folders.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            fs::copy(&path, &target).unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
        }
    }
}

/// Copies the shipped example (`pipelines/`, `rules/` and `testdata/`) into `dir` with its
/// layout, so a test can change a copy and run `pipelines/customer_value.yaml` in `dir`.
pub fn copy_example(dir: &Path) {
    for folder in ["pipelines", "rules", "testdata"] {
        copy_tree(&repo().join(folder), &dir.join(folder));
    }
}

/// Parses JSON keeping every number exactly as printed. serde_json's default parser (its
/// `float_roundtrip` feature is off) is one ULP off for about one float in ten with 16-17
/// digits, so values compared exactly with Parquet must not go through it: every number is
/// quoted first and then read with Rust's correctly rounded `str::parse`.
pub fn parse_json_exact(text: &str) -> serde_json::Value {
    const MARK: &str = "\u{1}number:";
    let bytes = text.as_bytes();
    let mut quoted = String::with_capacity(text.len() * 2);
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'-' || b.is_ascii_digit() {
            let end = i + bytes[i..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
                .count();
            quoted.push_str(&format!("\"\\u0001number:{}\"", &text[i..end]));
            i = end;
            continue;
        }
        // Copy the whole UTF-8 character starting here.
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        quoted.push_str(&text[i..i + len]);
        i += len;
    }
    fn unquote(value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) if s.starts_with(MARK) => {
                let number = &s[MARK.len()..];
                if let Ok(i) = number.parse::<i64>() {
                    Value::from(i)
                } else if let Ok(u) = number.parse::<u64>() {
                    Value::from(u)
                } else {
                    let f: f64 = number
                        .parse()
                        .unwrap_or_else(|e| panic!("number {number}: {e}"));
                    Value::from(f)
                }
            }
            Value::Array(items) => Value::Array(items.into_iter().map(unquote).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, unquote(v))).collect())
            }
            other => other,
        }
    }
    unquote(serde_json::from_str(&quoted).unwrap_or_else(|e| panic!("{e} in JSON:\n{text}")))
}

/// Factor weights as (name, weight).
pub type Weights = Vec<(String, f64)>;
/// Threshold tier levels as (name, min).
pub type Thresholds = Vec<(String, Option<f64>)>;

/// A pipeline's factor weights and threshold tier levels, read from its YAML, so tests follow
/// the shipped example when its numbers change.
pub fn weights_and_thresholds(spec: &serde_yaml::Value) -> (Weights, Thresholds) {
    let weights = spec["factors"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["weight"].as_f64().unwrap(),
            )
        })
        .collect();
    let levels = spec["tiers"]["levels"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap().to_string(), l["min"].as_f64()))
        .collect();
    (weights, levels)
}

/// `batch` (columns of `tierscore gen`) as pyarrow, pandas or Spark would write the same data:
/// every field nullable, a list's child field named `element` instead of arrow-rs's `item`, the
/// id as LargeUtf8, `region` dictionary-encoded and `industry` a Utf8View. The values are the
/// same; only the physical and nominal types differ.
pub fn as_other_writer(batch: &RecordBatch) -> RecordBatch {
    use arrow::compute::cast;
    use arrow::datatypes::{DataType, Field, Schema};
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let target = match (field.name().as_str(), field.data_type()) {
            ("customer_id", _) => DataType::LargeUtf8,
            ("region", _) => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            ("industry", _) => DataType::Utf8View,
            (_, DataType::List(child)) => DataType::List(Arc::new(Field::new(
                "element",
                child.data_type().clone(),
                true,
            ))),
            (_, other) => other.clone(),
        };
        let column = cast(column, &target).unwrap();
        fields.push(Field::new(field.name(), target, true));
        columns.push(column);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// Every Parquet file's rows in an output folder, as [`run_data`] reads them.
pub fn output_data(out: &Path) -> BTreeMap<String, RecordBatch> {
    snapshot(out)
        .into_keys()
        .filter(|name| name.ends_with(".parquet"))
        .map(|name| {
            let batch = run_data(&out.join(&name));
            (name, batch)
        })
        .collect()
}

/// A Parquet file's rows without what names the run (its metadata and the rejects' `run_id`
/// column), so that two runs that must agree compare equal.
pub fn run_data(path: &Path) -> RecordBatch {
    let mut batch = read_parquet(path);
    if let Ok(index) = batch.schema().index_of("run_id") {
        batch.remove_column(index);
    }
    batch
}

/// A manifest's `output` without what differs between two runs of the same rows: the output's
/// path, each file's sha256 (every file's metadata holds the run id) and the rejects' size.
pub fn output_figures(output: &serde_json::Value) -> serde_json::Value {
    let mut output = output.clone();
    let object = output.as_object_mut().unwrap();
    object.remove("path");
    object.remove("absolute_path");
    // The rejects' rows carry the run id: their hash differs between any two runs, and so
    // does their size, through their pages' checksums (a CRC is written as a varint, whose
    // length depends on its value).
    if let Some(rejects) = object.get_mut("rejects") {
        let rejects = rejects.as_object_mut().unwrap();
        rejects.remove("sha256");
        rejects.remove("bytes");
    }
    for file in object["files"].as_array_mut().unwrap() {
        file.as_object_mut().unwrap().remove("sha256");
    }
    output
}

/// The manifest without what differs between any two runs (id, times, threads, output path
/// and file hashes).
pub fn manifest_figures(out: &Path) -> serde_json::Value {
    let mut m = manifest_exact(out);
    m["output"] = output_figures(&m["output"]);
    let object = m.as_object_mut().unwrap();
    for volatile in [
        "run_id",
        "started_at",
        "finished_at",
        "threads",
        "phases_seconds",
    ] {
        assert!(
            object.remove(volatile).is_some(),
            "the manifest has {volatile}"
        );
    }
    m
}

/// Rows of the files of [`several_batches_input`]. The first file alone holds more than one
/// read batch (the run's BATCH_ROWS, 32,768), and together they make five batches.
pub const SEVERAL_BATCHES_FILES: [(&str, u64); 3] = [
    ("data/part-1.parquet", 36_000),
    ("data/part-2.parquet", 30_000),
    ("data/part-3.parquet", 9_000),
];

/// Characters of the `note` column of [`several_batches_input`].
pub const NOTE_CHARS: usize = 400;

/// An input of several files and several read batches in `dir/data/`: `tierscore gen`
/// customers (seeds 31, 32, 33; row groups of 7,000 rows; ids prefixed `P1-`, `P2-`, `P3-` by
/// file so they are unique) with a `note` column of
/// [`NOTE_CHARS`] pseudo-random characters a row. Notes barely compress, so an output passing
/// them through outgrows the writer's 16 MiB row-group limit. Returns every row of the input,
/// in reading order.
pub fn several_batches_input(dir: &Path) -> RecordBatch {
    use arrow::datatypes::{Field, Schema};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x1234_5678_9ABC_DEF0;
    let mut batches = Vec::new();
    for (i, (name, rows)) in SEVERAL_BATCHES_FILES.iter().enumerate() {
        let generated = format!("gen-{i}.parquet");
        gen(dir, &generated, *rows, 31 + i as u64, 7_000);
        let customers = read_parquet(&dir.join(&generated));
        fs::remove_file(dir.join(&generated)).unwrap();
        let notes: Vec<String> = (0..customers.num_rows())
            .map(|_| {
                (0..NOTE_CHARS)
                    .map(|_| {
                        // splitmix64: a portable, well-mixed stream.
                        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                        let mut z = state;
                        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                        ALPHABET[((z ^ (z >> 31)) % 64) as usize] as char
                    })
                    .collect()
            })
            .collect();
        let mut fields: Vec<Field> = customers
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("note", arrow::datatypes::DataType::Utf8, false));
        let mut columns = customers.columns().to_vec();
        columns.push(arc(StringArray::from(notes)));
        // Ids unique over the files: `P2-C00000001` is the first customer of the second file.
        let ids: Vec<String> = texts(&customers, "customer_id")
            .iter()
            .map(|id| format!("P{}-{id}", i + 1))
            .collect();
        columns[customers.schema().index_of("customer_id").unwrap()] = arc(StringArray::from(ids));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(7_000))
            .build();
        write_parquet_with(&dir.join(name), &batch, Some(props));
        batches.push(batch);
    }
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// The rows of each Parquet file's row groups.
pub fn row_group_rows(path: &Path) -> Vec<i64> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    reader
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| rg.num_rows())
        .collect()
}

/// A number, decimal or date column as floats (dates as days since 1970), nulls as `None`.
pub fn numbers(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    use arrow::datatypes::DataType;
    let mut column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .clone();
    if column.data_type() == &DataType::Date32 {
        column = arrow::compute::cast(&column, &DataType::Int32).unwrap();
    }
    let column = arrow::compute::cast(&column, &DataType::Float64).unwrap();
    column.as_primitive::<Float64Type>().iter().collect()
}

/// Reference formulas of the derive kinds, as SQL and scikit-learn define them, over the
/// non-null values (nulls stay null); ties broken by input position where order matters.
pub mod reference {
    /// Positions of the non-null values, ordered by value (descending when `desc`), ties by
    /// position.
    fn order(values: &[Option<f64>], desc: bool) -> Vec<usize> {
        let mut order: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_some()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (values[a].unwrap(), values[b].unwrap());
            let by_value = if desc {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            };
            by_value.then(a.cmp(&b))
        });
        order
    }

    /// `NTILE(buckets) OVER (ORDER BY x [DESC], pos)`.
    pub fn ntile(values: &[Option<f64>], buckets: usize, desc: bool) -> Vec<Option<i64>> {
        let order = order(values, desc);
        let n = order.len();
        let (base, extra) = (n / buckets, n % buckets);
        let mut out = vec![None; values.len()];
        let mut position = 0;
        for bucket in 0..buckets {
            let size = base + usize::from(bucket < extra);
            for &row in &order[position..position + size] {
                out[row] = Some(bucket as i64 + 1);
            }
            position += size;
        }
        out
    }

    /// How many non-null values come strictly before each value in the order.
    fn before(values: &[Option<f64>], desc: bool) -> Vec<Option<usize>> {
        let mut sorted: Vec<f64> = values.iter().flatten().copied().collect();
        sorted.sort_by(f64::total_cmp);
        values
            .iter()
            .map(|v| {
                v.map(|x| {
                    if desc {
                        sorted.len() - sorted.partition_point(|s| *s <= x)
                    } else {
                        sorted.partition_point(|s| *s < x)
                    }
                })
            })
            .collect()
    }

    /// `RANK() OVER (ORDER BY x [DESC])`.
    pub fn rank(values: &[Option<f64>], desc: bool) -> Vec<Option<i64>> {
        before(values, desc)
            .into_iter()
            .map(|b| b.map(|b| b as i64 + 1))
            .collect()
    }

    /// `PERCENT_RANK() OVER (ORDER BY x [DESC])`: (rank − 1) / (n − 1), 0 for a single value.
    pub fn percent_rank(values: &[Option<f64>], desc: bool) -> Vec<Option<f64>> {
        let n = values.iter().flatten().count();
        before(values, desc)
            .into_iter()
            .map(|b| {
                b.map(|b| {
                    if n == 1 {
                        0.0
                    } else {
                        b as f64 / (n - 1) as f64
                    }
                })
            })
            .collect()
    }

    /// `StandardScaler`: (x − mean) / population std (0 when all are equal); with mean, std.
    pub fn zscore(values: &[Option<f64>]) -> (Vec<Option<f64>>, f64, f64) {
        let present: Vec<f64> = values.iter().flatten().copied().collect();
        let n = present.len() as f64;
        let mean = present.iter().sum::<f64>() / n;
        let std = (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        let scaled = values
            .iter()
            .map(|v| v.map(|x| if std == 0.0 { 0.0 } else { (x - mean) / std }))
            .collect();
        (scaled, mean, std)
    }

    /// `MinMaxScaler`: (x − min) / (max − min) (0 when all are equal); with min, max.
    pub fn minmax(values: &[Option<f64>]) -> (Vec<Option<f64>>, f64, f64) {
        let min = values
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let max = values
            .iter()
            .flatten()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let scaled = values
            .iter()
            .map(|v| {
                v.map(|x| {
                    if max == min {
                        0.0
                    } else {
                        (x - min) / (max - min)
                    }
                })
            })
            .collect();
        (scaled, min, max)
    }

    /// `SUM(x) OVER (ORDER BY x DESC, pos ROWS UNBOUNDED PRECEDING) / SUM(x) OVER ()`; with
    /// the total.
    pub fn cumulative_share(values: &[Option<f64>]) -> (Vec<Option<f64>>, f64) {
        let order = order(values, true);
        let total: f64 = order.iter().map(|&i| values[i].unwrap()).sum();
        let mut running = 0.0;
        let mut out = vec![None; values.len()];
        for row in order {
            running += values[row].unwrap();
            out[row] = Some(running / total);
        }
        (out, total)
    }
}

/// Kills the child if the test ends early, so no run outlives its test.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the child says it paused at `point` (it must, within two minutes) and kills it.
pub fn kill_at_pause(mut child: KillOnDrop, point: &str) {
    wait_for_pause(&mut child, point);
    kill(child);
}

/// Waits until the child (its stderr piped) says it paused at `point`; it must, within two
/// minutes.
pub fn wait_for_pause(child: &mut KillOnDrop, point: &str) {
    let stderr = child.0.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wanted = format!("paused at {point}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line == wanted => break,
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "the run never paused at {point} (exit {:?}); stderr:\n{}",
                child.0.try_wait().ok().flatten(),
                seen.join("\n")
            ),
        }
    }
}

/// Kills the child with SIGKILL and checks that is how it ended.
pub fn kill(mut child: KillOnDrop) {
    child.0.kill().expect("kill the run");
    let status = child.0.wait().expect("wait for the run");
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL, not ended");
}

/// 2,000 rows of `id` and `s` (40 letters each, which barely compress) in one row group, each
/// column one page (no dictionary) compressed with `codec`: `s`'s page has room for a forged
/// one in its place. [`TEXTS_PIPELINE`] scores it.
pub fn write_texts(path: &Path, codec: parquet::basic::Compression) {
    let mut state = 7u64;
    let texts: Vec<String> = (0..2_000)
        .map(|_| {
            (0..40)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    char::from(b'a' + (state >> 59) as u8)
                })
                .collect()
        })
        .collect();
    let batch = RecordBatch::try_from_iter(vec![
        ("id", arc(Int64Array::from_iter_values(0..2_000))),
        ("s", arc(StringArray::from(texts))),
    ])
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(codec)
        .set_dictionary_enabled(false)
        .set_data_page_size_limit(64 << 20)
        .build();
    write_parquet_with(path, &batch, Some(props));
}

/// A pipeline scoring [`write_texts`]'s file at `bomb.parquet` (beside it) into `out`.
pub const TEXTS_PIPELINE: &str = "version: 1\nname: bomb\ninput: { path: bomb.parquet, id: id \
     }\nfactors:\n  - { name: f, expr: \"s.len().to_float()\", weight: 1.0 }\ntiers:\n  \
     levels:\n    - { name: all }\noutput: { path: out, partition_by: none }\n";

/// Where the one page of column `column` of row group 0 of a Parquet file lies in `bytes`, and
/// the first three fields of its header (compact Thrift i32s: the page's type, inflated size
/// and stored size).
#[derive(Debug)]
pub struct OnePage {
    /// Where the chunk, and the page's header, starts.
    pub start: usize,
    /// The page's type, inflated size and stored size.
    pub fields: [i64; 3],
    /// Where the header's three first fields end.
    pub fields_end: usize,
    /// Where the page's data starts (it runs to the chunk's end).
    pub data: usize,
}

/// [`OnePage`] for column `column` of the Parquet file at `path`.
pub fn one_page(path: &Path, column: usize) -> OnePage {
    let meta = SerializedFileReader::new(File::open(path).unwrap())
        .unwrap()
        .metadata()
        .clone();
    let (start, length) = meta.row_group(0).column(column).byte_range();
    let (start, length) = (start as usize, length as usize);
    let bytes = fs::read(path).unwrap();
    let mut at = start;
    let mut fields = [0i64; 3];
    for field in &mut fields {
        assert_eq!(bytes[at], 0x15, "an i32 field");
        let (value, next) = zigzag_varint(&bytes, at + 1);
        *field = value;
        at = next;
    }
    OnePage {
        start,
        fields,
        fields_end: at,
        data: start + length - fields[2] as usize,
    }
}

/// The compact Thrift varint (zigzag) at `at` of `bytes`, and where it ends.
pub fn zigzag_varint(bytes: &[u8], mut at: usize) -> (i64, usize) {
    let (mut value, mut shift) = (0u64, 0);
    loop {
        let byte = bytes[at];
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return (((value >> 1) as i64) ^ -((value & 1) as i64), at);
        }
    }
}

/// `value` as a compact Thrift varint (zigzag).
pub fn to_zigzag_varint(value: i64) -> Vec<u8> {
    let mut rest = ((value << 1) ^ (value >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        if rest < 0x80 {
            out.push(rest as u8);
            return out;
        }
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
}
