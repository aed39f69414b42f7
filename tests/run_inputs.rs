//! How `input` is read: a folder (every `*.parquet` below it, sorted, `_`/`.` names skipped),
//! a glob, `input.rename` (Unicode names included), and several files that must agree on
//! their columns — matched by name, never by position.

mod common;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use common::*;

fn table(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

fn ids(values: &[&str]) -> ArrayRef {
    arc(StringArray::from(values.to_vec()))
}

fn f64s(values: &[f64]) -> ArrayRef {
    arc(Float64Array::from(values.to_vec()))
}

/// A pipeline reading `input` with factor `fx = x * 10`, passing `y` through, one file out.
fn write_xy_pipeline(dir: &std::path::Path, input: &str) {
    write(
        dir,
        "p.yaml",
        &format!(
            r#"version: 1
name: xy
input: {{ path: "{input}", id: id }}
factors:
  - {{ name: fx, expr: "x * 10.0", weight: 1.0 }}
tiers:
  levels:
    - {{ name: all }}
output: {{ path: out, partition_by: none, columns: [y] }}
"#
        ),
    );
}

fn xy(id: &[&str], x: &[f64], y: &[f64]) -> RecordBatch {
    table(vec![("id", ids(id)), ("x", f64s(x)), ("y", f64s(y))])
}

#[test]
fn a_folder_input_reads_every_parquet_file_below_it_in_sorted_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_parquet(
        &dir.join("data/b.parquet"),
        &xy(&["b1", "b2"], &[1.0, 2.0], &[10.0, 20.0]),
    );
    write_parquet(
        &dir.join("data/sub/c.parquet"),
        &xy(&["c1"], &[3.0], &[30.0]),
    );
    write_parquet(&dir.join("data/a_empty.parquet"), &xy(&[], &[], &[]));
    // Skipped: names starting with `_` or `.`, and files not ending in .parquet.
    write_parquet(
        &dir.join("data/_skip.parquet"),
        &xy(&["z1"], &[9.0], &[9.0]),
    );
    write_parquet(
        &dir.join("data/.hidden.parquet"),
        &xy(&["z2"], &[9.0], &[9.0]),
    );
    write_parquet(
        &dir.join("data/_meta/d.parquet"),
        &xy(&["z3"], &[9.0], &[9.0]),
    );
    write(dir, "data/notes.txt", "not parquet");
    write_xy_pipeline(dir, "data");

    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(0);
    let m = manifest(&dir.join("out"));
    let inputs = pairs(&m["inputs"], "path", "rows", serde_json::Value::as_u64);
    assert_eq!(
        inputs,
        [
            ("data/a_empty.parquet".to_string(), 0),
            ("data/b.parquet".to_string(), 2),
            ("data/sub/c.parquet".to_string(), 1)
        ]
    );
    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    assert_eq!(texts(&out, "id"), ["b1", "b2", "c1"]);
    assert_eq!(floats(&out, "fx"), [10.0, 20.0, 30.0]);
}

#[test]
fn a_glob_input_reads_the_matching_files_in_sorted_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_parquet(
        &dir.join("data/x2.parquet"),
        &xy(&["second"], &[2.0], &[20.0]),
    );
    write_parquet(
        &dir.join("data/x1.parquet"),
        &xy(&["first"], &[1.0], &[10.0]),
    );
    write_parquet(
        &dir.join("data/other.parquet"),
        &xy(&["other"], &[9.0], &[9.0]),
    );
    write_xy_pipeline(dir, "data/x*.parquet");
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    assert_eq!(texts(&out, "id"), ["first", "second"]);
    assert_eq!(floats(&out, "y"), [10.0, 20.0]);

    write_xy_pipeline(dir, "data/nothing*.parquet");
    let result = run(dir, &["run", "p.yaml", "--output", "none"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "input data/nothing*.parquet matches no Parquet files"
    );
}

#[test]
fn rename_exposes_columns_under_the_names_scripts_use() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_parquet(
        &dir.join("customers.parquet"),
        &table(vec![
            ("客户", ids(&["a1", "a2"])),
            ("年收入", f64s(&[1.5, 2.5])),
            ("地区", ids(&["north", "south"])),
        ]),
    );
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: rename
input:
  path: customers.parquet
  id: customer_id
  rename: { "客户": customer_id, "年收入": annual_revenue }
factors:
  - { name: 价值, expr: "annual_revenue * 10.0", weight: 1.0 }
  - { name: 地区分, expr: "if 地区 == \"north\" { 1.0 } else { 2.0 }", weight: 1.0 }
tiers:
  levels:
    - { name: all }
output: { path: out, partition_by: none, columns: [annual_revenue, 地区] }
"#,
    );
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    let names = column_names(out.schema_ref());
    assert_eq!(
        names,
        [
            "customer_id",
            "annual_revenue",
            "地区",
            "价值",
            "地区分",
            "score",
            "tier",
            "tier_rank"
        ]
    );
    assert_eq!(texts(&out, "customer_id"), ["a1", "a2"]);
    assert_eq!(floats(&out, "annual_revenue"), [1.5, 2.5]);
    assert_eq!(floats(&out, "价值"), [15.0, 25.0]);
    assert_eq!(floats(&out, "地区分"), [1.0, 2.0]);

    // A rename of a column the file does not have is a pipeline error with a suggestion.
    write(
        dir,
        "p.yaml",
        &std::fs::read_to_string(dir.join("p.yaml"))
            .unwrap()
            .replace("\"年收入\": annual_revenue", "\"年收\": annual_revenue"),
    );
    let result = run(dir, &["run", "p.yaml", "--output", "other"]);
    result.expect_code(1);
    // Reported together with what follows from it (the output column and the script's name).
    assert_eq!(result.headline(), "3 problem(s) found");
    assert!(
        result
            .stderr
            .contains("  × input.rename: the input has no column `年收`\n"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("  help: did you mean `年收入`?\n"));
    assert!(result
        .stderr
        .contains("  × output column `annual_revenue` is not a column of the input\n"));
}

#[test]
fn files_with_other_columns_or_types_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_parquet(&dir.join("data/a.parquet"), &xy(&["a1"], &[1.0], &[10.0]));
    write_parquet(
        &dir.join("data/b.parquet"),
        &table(vec![
            ("id", ids(&["b1"])),
            ("x", f64s(&[2.0])),
            ("y", f64s(&[20.0])),
            ("z", f64s(&[0.0])),
        ]),
    );
    write_xy_pipeline(dir, "data");
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "data/b.parquet has other columns than data/a.parquet: column `z` is extra"
    );
    assert_eq!(
        result.help(),
        "every file of one input must have the same columns and types"
    );

    write_parquet(
        &dir.join("data/b.parquet"),
        &table(vec![
            ("id", ids(&["b1"])),
            ("x", arc(Int64Array::from(vec![2]))),
            ("y", f64s(&[20.0])),
        ]),
    );
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "data/b.parquet has other columns than data/a.parquet: column `x` is Int64 here and \
         Float64 there"
    );
    assert!(!dir.join("out").exists());
}

/// Files with the same columns in another order are read by name, never by position (values
/// once landed in the wrong columns without any error).
#[test]
fn files_with_the_same_columns_in_another_order_are_read_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_parquet(
        &dir.join("data/a.parquet"),
        &xy(&["a1", "a2"], &[1.0, 2.0], &[100.0, 200.0]),
    );
    write_parquet(
        &dir.join("data/b.parquet"),
        &table(vec![
            ("id", ids(&["b1", "b2"])),
            ("y", f64s(&[300.0, 400.0])),
            ("x", f64s(&[3.0, 4.0])),
        ]),
    );
    write_xy_pipeline(dir, "data");
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    assert_eq!(texts(&out, "id"), ["a1", "a2", "b1", "b2"]);
    assert_eq!(
        floats(&out, "y"),
        [100.0, 200.0, 300.0, 400.0],
        "y of b.parquet"
    );
    assert_eq!(
        floats(&out, "fx"),
        [10.0, 20.0, 30.0, 40.0],
        "x of b.parquet"
    );
}

/// Renaming a column onto the name of another input column is refused (it once shadowed the
/// original silently in scripts and output).
#[test]
fn renaming_onto_an_existing_column_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_parquet(
        &dir.join("xy.parquet"),
        &xy(&["a1", "a2"], &[1.0, 2.0], &[10.0, 20.0]),
    );
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: clash
input: { path: xy.parquet, id: id, rename: { x: y } }
factors:
  - { name: f, expr: "y", weight: 1.0 }
tiers:
  levels:
    - { name: all }
output: { path: out, partition_by: none }
"#,
    );
    let result = run(dir, &["run", "p.yaml"]);
    assert_eq!(
        result.code,
        Some(1),
        "the ambiguous rename was accepted:\n{}{}",
        result.stdout,
        result.stderr
    );
    assert_eq!(
        result.headline(),
        "input.rename: `x` -> `y`, but the input already has a column `y`"
    );
    assert_eq!(
        result.help(),
        "pick a name the input does not use, or rename `y` too"
    );
    assert!(!dir.join("out").exists());
}

/// A pipeline over the folder `data/` reading a list, two strings and the id, passing them
/// through: `history` = sum(revenue_history), `north_software` = 1 for North software firms.
fn write_writers_pipeline(dir: &std::path::Path) {
    write(
        dir,
        "w.yaml",
        r#"version: 1
name: writers
input: { path: data, id: customer_id, unique_ids: false }
factors:
  - { name: history, expr: "sum(revenue_history)", weight: 1.0 }
  - { name: north_software, expr: "if region == \"North\" && industry == \"software\" { 1.0 } else { 0.0 }", weight: 0.0 }
tiers:
  levels:
    - { name: all }
output: { path: out, partition_by: none, columns: [region, industry, revenue_history] }
"#,
    );
}

/// The papercut of issue 15: pyarrow and Spark name a list's child `element`, pandas marks every
/// column nullable, strings come as LargeUtf8, Utf8View or dictionaries. A file so written beside
/// a `tierscore gen` file holds the same logical columns; both are read, each as itself, and the
/// output has one schema (the canonical logical types) whichever file sorts first.
#[test]
fn files_from_different_writers_with_the_same_logical_columns_are_read_as_one_input() {
    use arrow::datatypes::{DataType, Field};
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "gen_a.parquet", 300, 5, 100);
    gen(dir, "gen_b.parquet", 200, 6, 100);
    let a = read_parquet(&dir.join("gen_a.parquet"));
    let b = read_parquet(&dir.join("gen_b.parquet"));
    // The pyarrow-style file sorts first, so its types are the first the reader sees.
    write_parquet(&dir.join("data/1_pyarrow.parquet"), &as_other_writer(&a));
    std::fs::rename(dir.join("gen_b.parquet"), dir.join("data/2_gen.parquet")).unwrap();
    let other = parquet_schema(&dir.join("data/1_pyarrow.parquet"));
    assert_eq!(
        other
            .field_with_name("revenue_history")
            .unwrap()
            .data_type(),
        &DataType::List(Arc::new(Field::new("element", DataType::Float64, true))),
        "the test file names its list child as pyarrow does"
    );
    assert_eq!(
        other.field_with_name("customer_id").unwrap().data_type(),
        &DataType::LargeUtf8
    );
    write_writers_pipeline(dir);

    run(dir, &["check", "w.yaml"]).expect_code(0);
    run(dir, &["run", "w.yaml"]).expect_code(0);
    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    let schema = out.schema();
    assert_eq!(
        schema.field_with_name("customer_id").unwrap().data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        schema.field_with_name("region").unwrap().data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        schema.field_with_name("industry").unwrap().data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        schema
            .field_with_name("revenue_history")
            .unwrap()
            .data_type(),
        &DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
    );

    let both = |f: &dyn Fn(&RecordBatch) -> Vec<String>| [f(&a), f(&b)].concat();
    assert_eq!(
        texts(&out, "customer_id"),
        both(&|t| texts(t, "customer_id"))
    );
    assert_eq!(texts(&out, "region"), both(&|t| texts(t, "region")));
    assert_eq!(texts(&out, "industry"), both(&|t| texts(t, "industry")));
    let histories = [
        float_lists(&a, "revenue_history"),
        float_lists(&b, "revenue_history"),
    ]
    .concat();
    assert_eq!(float_lists(&out, "revenue_history"), histories);
    let sums: Vec<f64> = histories
        .iter()
        .map(|h| h.as_ref().unwrap().iter().flatten().sum())
        .collect();
    assert_eq!(floats(&out, "history"), sums);
    let expected_flags: Vec<f64> = both(&|t| {
        texts(t, "region")
            .into_iter()
            .zip(texts(t, "industry"))
            .map(|(r, i)| (r == "North" && i == "software").to_string())
            .collect()
    })
    .iter()
    .map(|flag| if flag == "true" { 1.0 } else { 0.0 })
    .collect();
    assert!(expected_flags.contains(&1.0) && expected_flags.contains(&0.0));
    assert_eq!(floats(&out, "north_software"), expected_flags);

    // Logical differences still refuse: a list of integers is not a list of floats.
    let mut columns = b.columns().to_vec();
    let index = b.schema().index_of("revenue_history").unwrap();
    columns[index] = arrow::compute::cast(
        &columns[index],
        &DataType::List(Arc::new(Field::new("element", DataType::Int64, true))),
    )
    .unwrap();
    let ints_history = RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(
            b.schema()
                .fields()
                .iter()
                .zip(&columns)
                .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        )),
        columns,
    )
    .unwrap();
    write_parquet(&dir.join("data/3_ints.parquet"), &ints_history);
    let result = run(dir, &["run", "w.yaml", "--output", "refused"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "data/3_ints.parquet has other columns than data/1_pyarrow.parquet: column \
         `revenue_history` is List(Int64) here and List(Float64) there"
    );
}

/// Writes `batch` to `path` with every column compressed by `codec`, in row groups of 500.
fn write_compressed(
    path: &std::path::Path,
    batch: &RecordBatch,
    codec: parquet::basic::Compression,
) {
    write_pages(
        path,
        batch,
        codec,
        parquet::file::properties::WriterVersion::PARQUET_1_0,
    );
}

/// [`write_compressed`] with data pages of `version` (v2 pages keep their levels uncompressed
/// before the values).
fn write_pages(
    path: &std::path::Path,
    batch: &RecordBatch,
    codec: parquet::basic::Compression,
    version: parquet::file::properties::WriterVersion,
) {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(codec)
        .set_writer_version(version)
        .set_max_row_group_row_count(Some(500))
        .build();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// Data teams' files come in every codec their writers offer (Spark and Hive often gzip, pyarrow
/// lz4 or brotli on request). Each is read as the same rows: the shipped pipeline over the
/// example's customers gives the same output files whichever codec holds them. Before, gzip,
/// brotli and lz4 inputs failed with "Disabled feature at compile time" and were called damaged.
#[test]
fn inputs_in_every_codec_common_writers_use_give_the_same_output() {
    use parquet::basic::{BrotliLevel, Compression, GzipLevel};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example(dir);
    let pipeline = "pipelines/customer_value.yaml";
    run(dir, &["--quiet", "run", pipeline, "--output", "as_shipped"]).expect_code(0);
    let expected = output_data(&dir.join("as_shipped"));
    assert_eq!(expected.len(), 6, "five tier files and the rejects");

    let customers = read_parquet(&dir.join("testdata/customers.parquet"));
    let codecs = [
        ("gzip", Compression::GZIP(GzipLevel::default())),
        ("brotli", Compression::BROTLI(BrotliLevel::default())),
        ("lz4_raw", Compression::LZ4_RAW),
        ("lz4_hadoop", Compression::LZ4),
        ("snappy", Compression::SNAPPY),
        ("uncompressed", Compression::UNCOMPRESSED),
    ];
    // Every codec in v1 data pages; gzip and brotli in v2 pages too, and with a column of
    // nulls only (a v2 page whose values inflate to nothing is not inflated).
    use parquet::file::properties::WriterVersion::{PARQUET_1_0, PARQUET_2_0};
    let mut with_nulls = customers.clone();
    let index = with_nulls.schema().index_of("product_pull").unwrap();
    let mut columns = with_nulls.columns().to_vec();
    columns[index] = arrow::array::new_null_array(columns[index].data_type(), customers.num_rows());
    with_nulls = RecordBatch::try_new(with_nulls.schema(), columns).unwrap();
    let pages = codecs
        .iter()
        .map(|&(name, codec)| (name, codec, PARQUET_1_0, &customers))
        .chain([
            (
                "gzip_v2",
                Compression::GZIP(GzipLevel::default()),
                PARQUET_2_0,
                &customers,
            ),
            (
                "brotli_v2",
                Compression::BROTLI(BrotliLevel::default()),
                PARQUET_2_0,
                &customers,
            ),
            (
                "gzip_v2_nulls",
                Compression::GZIP(GzipLevel::default()),
                PARQUET_2_0,
                &with_nulls,
            ),
        ]);
    for (name, codec, version, batch) in pages {
        write_pages(
            &dir.join("testdata/customers.parquet"),
            batch,
            codec,
            version,
        );
        let expected = if std::ptr::eq(batch, &with_nulls) {
            write_pages(
                &dir.join("nulls_zstd.parquet"),
                batch,
                Compression::ZSTD(Default::default()),
                PARQUET_1_0,
            );
            run(
                dir,
                &[
                    "--quiet",
                    "run",
                    pipeline,
                    "--input",
                    "nulls_zstd.parquet",
                    "--output",
                    "nulls_zstd",
                ],
            )
            .expect_code(0);
            output_data(&dir.join("nulls_zstd"))
        } else {
            expected.clone()
        };
        assert_eq!(
            codecs_of(&dir.join("testdata/customers.parquet")),
            vec![codec],
            "{name}: the input holds the codec under test"
        );
        let out = format!("out_{name}");
        run(dir, &["--quiet", "run", pipeline, "--output", &out]).expect_code(0);
        assert!(
            output_data(&dir.join(&out)) == expected,
            "{name}: the output differs from the zstd input's"
        );
    }
}

/// The codecs of a Parquet file's column chunks, each once.
fn codecs_of(path: &std::path::Path) -> Vec<parquet::basic::Compression> {
    let mut all = codecs(path);
    all.dedup();
    all
}

/// LZO is the one codec of the Parquet format tierscore has no decoder for. A file using it is
/// refused when opened, by `check` as by `run`, naming the column and the fix, not called
/// damaged halfway through a run. No common writer produces LZO, so the test file is an
/// uncompressed one whose footer says LZO (the pages are the same bytes either way).
#[test]
fn an_lzo_input_is_refused_at_open_naming_the_codec() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("data.parquet");
    write_compressed(
        &path,
        &xy(&["a", "b"], &[1.0, 2.0], &[3.0, 4.0]),
        parquet::basic::Compression::UNCOMPRESSED,
    );
    let mut bytes = std::fs::read(&path).unwrap();
    let footer_len =
        u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap());
    let footer = bytes.len() - 8 - footer_len as usize;
    // ColumnMetaData: path_in_schema's one string, then field 4 (codec, an i32: header 0x15),
    // UNCOMPRESSED = 0 becomes LZO = 3 (zigzag 6).
    let mut patched = 0;
    for name in ["id", "x", "y"] {
        let mut pattern = vec![name.len() as u8];
        pattern.extend_from_slice(name.as_bytes());
        pattern.extend_from_slice(&[0x15, 0x00]);
        let at = bytes[footer..]
            .windows(pattern.len())
            .position(|w| w == pattern.as_slice())
            .unwrap_or_else(|| panic!("column `{name}`'s codec in the footer"));
        bytes[footer + at + pattern.len() - 1] = 0x06;
        patched += 1;
    }
    assert_eq!(patched, 3);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(
        codecs_of(&path),
        vec![parquet::basic::Compression::LZO],
        "the footer now says LZO"
    );
    write_xy_pipeline(dir, "data.parquet");
    let headline = "data.parquet compresses column `id` (row group 0) with LZO, which tierscore \
                    cannot read";
    let fix = "tierscore reads uncompressed, zstd, snappy, gzip, brotli and lz4 Parquet";
    // `check` points at the pipeline's input (its problems are located, exit 1); `run` exits 3.
    let checked = run(dir, &["check", "p.yaml"]);
    checked.expect_code(1);
    assert!(
        checked.stderr.contains("check::input"),
        "{}",
        checked.stderr
    );
    assert_eq!(
        checked.headline(),
        format!("{headline}; names and types cannot be checked without it")
    );
    assert!(checked.help().starts_with(fix), "{}", checked.help());
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    assert!(result.stderr.contains("source::codec"), "{}", result.stderr);
    assert_eq!(result.headline(), headline);
    assert!(result.help().starts_with(fix), "{}", result.help());
    assert!(!dir.join("out").exists(), "nothing written");
}

/// An id is one value a row. An id column of lists or structs passed `check` and `run` (its
/// uniqueness checked on its text) and then `explain` called the file damaged and `diff`
/// refused the output; `check` and `run` now refuse it at `input.id`.
#[test]
fn an_id_column_of_lists_or_structs_is_refused_at_input_id() {
    use arrow::array::{ListArray, StructArray};
    use arrow::datatypes::{DataType, Field, Int64Type};
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let lists: ArrayRef = arc(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
        Some(vec![Some(1)]),
        Some(vec![Some(2)]),
    ]));
    let structs: ArrayRef = arc(StructArray::from(vec![(
        Arc::new(Field::new("a", DataType::Int64, true)),
        arc(Int64Array::from(vec![1, 2])),
    )]));
    for (name, ids, shown) in [
        ("lists", lists, "List(Int64)"),
        ("structs", structs, "Struct(\"a\": Int64)"),
    ] {
        let batch = table(vec![
            ("id", ids),
            ("x", f64s(&[1.0, 2.0])),
            ("y", f64s(&[3.0, 4.0])),
        ]);
        write_parquet(&dir.join(format!("{name}.parquet")), &batch);
        write_xy_pipeline(dir, &format!("{name}.parquet"));
        for command in ["check", "run"] {
            let result = run(dir, &[command, "p.yaml"]);
            result.expect_code(1);
            assert!(result.stderr.contains("plan::id_type"), "{}", result.stderr);
            assert_eq!(
                result.headline(),
                format!("id column `id` is {shown}, not one value a row"),
                "{name} {command}"
            );
            let line = std::fs::read_to_string(dir.join("p.yaml")).unwrap();
            let line = line.lines().nth(2).unwrap();
            let id_key = line.find("id: id").unwrap() + 1;
            assert_eq!(
                snippet_location(&result.stderr),
                format!("p.yaml:3:{id_key}"),
                "at input.id"
            );
            assert!(result
                .help()
                .starts_with("an id is a string, an integer, a date or a decimal"));
        }
        assert!(!dir.join("out").exists(), "{name}: nothing written");
    }
}

/// Timestamps are written in microseconds. One beyond their range (past year ±294,000: an
/// `i64::MAX` milliseconds sentinel) was written as null, silently; the run now fails naming
/// the column, and writes nothing. Within the range, milliseconds come out exact.
#[test]
fn a_passed_through_timestamp_beyond_the_microseconds_range_fails_the_run() {
    use arrow::array::TimestampMillisecondArray;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let batch = |t: Vec<i64>| {
        let rows = t.len();
        table(vec![
            ("id", ids(&["a", "b"][..rows])),
            ("x", f64s(&[1.0, 2.0][..rows])),
            ("y", arc(TimestampMillisecondArray::from(t))),
        ])
    };
    // 9999-12-31, a common far-future sentinel, fits.
    write_parquet(
        &dir.join("data.parquet"),
        &batch(vec![253_402_214_400_000, -1]),
    );
    write_xy_pipeline(dir, "data.parquet");
    run(dir, &["--quiet", "run", "p.yaml"]).expect_code(0);
    let out = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    let micros = out
        .column_by_name("y")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
        .unwrap()
        .iter()
        .collect::<Vec<_>>();
    assert_eq!(micros, [Some(253_402_214_400_000_000), Some(-1_000)]);

    write_parquet(&dir.join("data.parquet"), &batch(vec![1, i64::MAX]));
    let result = run(dir, &["run", "p.yaml", "--output", "beyond"]);
    result.expect_code(3);
    assert!(
        result.stderr.contains("sink::unwritable_value"),
        "{}",
        result.stderr
    );
    assert_eq!(
        result.headline(),
        "output column `y` holds a value that cannot be written as Timestamp(µs): Arithmetic \
         overflow: Overflow happened on: 9223372036854775807 * 1000"
    );
    assert!(!dir.join("beyond").exists(), "nothing committed");
}

/// A Date64 id (milliseconds of whole days, as pandas and pyarrow write dates) is written as a
/// date (Date32) in the scored files and the rejects, and `explain` finds it as written. It was
/// written as a plain INT64, read back by DuckDB and pyarrow as an integer, and `explain` found
/// it only as `2026-01-02T00:00:00`.
#[test]
fn a_date64_id_is_written_as_a_date_and_found_as_written() {
    use arrow::array::Date64Array;
    use arrow::datatypes::DataType;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    const DAY_MS: i64 = 86_400_000;
    let days = [20_455i64, 20_456]; // 2026-01-02, 2026-01-03
    let batch = table(vec![
        (
            "id",
            arc(Date64Array::from(days.map(|d| d * DAY_MS).to_vec())),
        ),
        ("x", f64s(&[1.0, f64::NAN])),
        ("y", f64s(&[3.0, 4.0])),
    ]);
    write_parquet(&dir.join("data.parquet"), &batch);
    write(
        dir,
        "p.yaml",
        "version: 1\nname: d\ninput: { path: data.parquet, id: id }\nfactors:\n  - { name: fx, \
         expr: \"if x.is_nan() { throw \\\"no x\\\" } else { x }\", weight: 1.0 }\ntiers:\n  \
         levels:\n    - { name: all }\noutput: { path: out, partition_by: none }\nerrors: { \
         max_reject_fraction: 0.5 }\n",
    );
    run(dir, &["--quiet", "run", "p.yaml"]).expect_code(0);
    for file in ["scored/part-00000.parquet", "rejects/part-00000.parquet"] {
        let out = read_parquet(&dir.join("out").join(file));
        assert_eq!(
            out.schema().field_with_name("id").unwrap().data_type(),
            &DataType::Date32,
            "{file}"
        );
    }
    let scored = read_parquet(&dir.join("out/scored/part-00000.parquet"));
    assert_eq!(
        scored.column_by_name("id").unwrap(),
        &arc(arrow::array::Date32Array::from(vec![20_455]))
    );
    let rejects = read_parquet(&dir.join("out/rejects/part-00000.parquet"));
    assert_eq!(
        rejects.column_by_name("id").unwrap(),
        &arc(arrow::array::Date32Array::from(vec![Some(20_456)]))
    );
    let explained = run(dir, &["explain", "p.yaml", "--id", "2026-01-02"]);
    explained.expect_code(0);
    assert!(
        explained
            .stdout
            .starts_with("customer 2026-01-02 (data.parquet, row 0;"),
        "{}",
        explained.stdout
    );

    // A Date64 that is no whole day (2026-01-02 01:00) would move to another day, or make two
    // ids one: refused by name.
    let batch = table(vec![
        (
            "id",
            arc(Date64Array::from(vec![
                days[0] * DAY_MS,
                days[0] * DAY_MS + 3_600_000,
            ])),
        ),
        ("x", f64s(&[1.0, 2.0])),
        ("y", f64s(&[3.0, 4.0])),
    ]);
    write_parquet(&dir.join("data.parquet"), &batch);
    let result = run(dir, &["run", "p.yaml", "--output", "hours"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "output column `id` holds a value that cannot be written as Date32: the Date64 value \
         1767315600000 is not a whole number of days (86400000 ms)"
    );
    assert!(!dir.join("hours").exists());
}

/// DuckDB and Spark match column names ignoring case: an input column `TIER` passed through
/// was written beside the `tier=NAME` folder, and they showed the folder's value in its place.
/// Such a column (or id) is refused before anything is read; renamed, it is written.
#[test]
fn a_passed_through_column_or_id_named_like_tier_in_another_case_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let batch = table(vec![
        ("id", ids(&["a", "b"])),
        ("x", f64s(&[1.0, 2.0])),
        ("TIER", ids(&["gold", "tin"])),
    ]);
    write_parquet(&dir.join("in.parquet"), &batch);
    let pipeline = |input: &str, output: &str| {
        write(
            dir,
            "p.yaml",
            &format!(
                "version: 1\nname: p\ninput: {input}\nfactors:\n  - {{ name: f, expr: \"x\", \
                 weight: 1 }}\ntiers:\n  levels:\n    - {{ name: hi, min: 1.5 }}\n    - {{ name: lo \
                 }}\noutput: {output}\n"
            ),
        )
    };
    pipeline(
        "{ path: in.parquet, id: id }",
        "{ path: out, columns: [TIER] }",
    );
    for command in ["check", "run"] {
        let result = run(dir, &[command, "p.yaml"]);
        result.expect_code(1);
        assert!(
            result.stderr.contains("pipeline::output_column"),
            "{}",
            result.stderr
        );
        assert_eq!(
            result.headline(),
            "output column `TIER` clashes with `tier`, a column tierscore writes: DuckDB and \
             Spark match column names ignoring case"
        );
        assert_eq!(snippet_location(&result.stderr), "p.yaml:10:32");
        assert_eq!(
            result.help(),
            "rename the input column with `input.rename`, e.g. { TIER: old_tier }, and list \
             `old_tier` in output.columns"
        );
    }
    assert!(!dir.join("out").exists(), "nothing written");

    pipeline("{ path: in.parquet, id: TIER }", "{ path: out }");
    for command in ["check", "run"] {
        let result = run(dir, &[command, "p.yaml"]);
        result.expect_code(1);
        assert!(
            result.stderr.contains("plan::reserved_column"),
            "{}",
            result.stderr
        );
        assert_eq!(
            result.headline(),
            "id column `TIER` clashes with `tier`, a column tierscore writes: DuckDB and Spark \
             match column names ignoring case"
        );
        assert_eq!(snippet_location(&result.stderr), "p.yaml:3:28");
        assert_eq!(
            result.help(),
            "rename it with input.rename, e.g. { TIER: old_tier }, and name `old_tier` in input.id"
        );
    }
    assert!(!dir.join("out").exists(), "nothing written");

    // The help's fix works.
    pipeline(
        "{ path: in.parquet, id: id, rename: { TIER: old_tier } }",
        "{ path: out, columns: [old_tier] }",
    );
    run(dir, &["--quiet", "run", "p.yaml"]).expect_code(0);
    let written = read_parquet(&dir.join("out/scored/tier=hi/part-00000.parquet"));
    assert_eq!(
        written
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>(),
        ["id", "old_tier", "f", "score", "tier_rank"]
    );
    assert_eq!(texts(&written, "old_tier"), ["tin"]);
}

/// A run that scores no row (an empty input, `--limit 0`) writes each tier's file empty, schema
/// and all: with no file under `scored/`, DuckDB's and Polars' `scored/**/*.parquet` failed
/// ("No files found") where pandas and pyarrow read 0 rows. One file out is written empty too.
#[test]
fn a_run_scoring_no_row_writes_every_tiers_file_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example(dir);
    let pipeline = "pipelines/customer_value.yaml";
    run(
        dir,
        &[
            "--quiet", "run", pipeline, "--limit", "0", "--output", "none",
        ],
    )
    .expect_code(0);
    let out = dir.join("none");
    let files: Vec<String> = output_data(&out).into_keys().collect();
    assert_eq!(
        files,
        [
            "rejects/part-00000.parquet",
            "scored/tier=general/part-00000.parquet",
            "scored/tier=key/part-00000.parquet",
            "scored/tier=loss_making/part-00000.parquet",
            "scored/tier=low_value/part-00000.parquet",
            "scored/tier=strategic/part-00000.parquet",
        ]
    );
    let full = dir.join("full");
    run(
        dir,
        &[
            "--quiet", "run", pipeline, "--limit", "10", "--output", "full",
        ],
    )
    .expect_code(0);
    let some = read_parquet(&full.join("scored/tier=general/part-00000.parquet"));
    for (name, batch) in output_data(&out) {
        assert_eq!(batch.num_rows(), 0, "{name}");
        if name.starts_with("scored/") {
            assert_eq!(
                batch.schema(),
                some.schema(),
                "{name}: the schema of a non-empty file"
            );
        }
    }
    let listed: Vec<(String, u64)> = pairs(
        &manifest(&out)["output"]["files"],
        "path",
        "rows",
        serde_json::Value::as_u64,
    );
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert!(listed.iter().all(|(_, rows)| *rows == 0), "{listed:?}");
}

/// Every tier has its file in every run, empty (schema and all) when no row fell into it: a
/// scheduled job reading one tier's folder (`scored/tier=key/`) failed on the day the tier was
/// empty, since the folder was missing. Three rows of the shipped example all fall into
/// `general`; the four other tiers' files are written empty and listed with 0 rows.
#[test]
fn every_tier_has_its_file_when_no_row_falls_into_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example(dir);
    run(
        dir,
        &[
            "--quiet",
            "run",
            "pipelines/customer_value.yaml",
            "--limit",
            "3",
            "--output",
            "three",
        ],
    )
    .expect_code(0);
    let out = dir.join("three");
    let written = output_data(&out);
    let rows: Vec<(&str, usize)> = written
        .iter()
        .map(|(name, batch)| (name.as_str(), batch.num_rows()))
        .collect();
    assert_eq!(
        rows,
        [
            ("rejects/part-00000.parquet", 0),
            ("scored/tier=general/part-00000.parquet", 3),
            ("scored/tier=key/part-00000.parquet", 0),
            ("scored/tier=loss_making/part-00000.parquet", 0),
            ("scored/tier=low_value/part-00000.parquet", 0),
            ("scored/tier=strategic/part-00000.parquet", 0),
        ]
    );
    let general = &written["scored/tier=general/part-00000.parquet"];
    for (name, batch) in &written {
        if name.starts_with("scored/") {
            assert_eq!(batch.schema(), general.schema(), "{name}");
        }
    }
    let listed: Vec<(String, u64)> = pairs(
        &manifest(&out)["output"]["files"],
        "path",
        "rows",
        serde_json::Value::as_u64,
    );
    assert_eq!(
        listed,
        [
            ("scored/tier=strategic/part-00000.parquet".to_string(), 0),
            ("scored/tier=key/part-00000.parquet".to_string(), 0),
            ("scored/tier=general/part-00000.parquet".to_string(), 3),
            ("scored/tier=low_value/part-00000.parquet".to_string(), 0),
            ("scored/tier=loss_making/part-00000.parquet".to_string(), 0),
        ]
    );
}
