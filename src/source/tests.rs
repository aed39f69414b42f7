use std::fs::File;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::*;

/// Writes ids `start..start+rows` and names, in row groups of `group` rows.
fn write(path: &Path, start: i64, rows: i64, group: usize) {
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(start..start + rows));
    let names: ArrayRef = Arc::new(StringArray::from_iter_values(
        (start..start + rows).map(|i| format!("n{i}")),
    ));
    let batch = RecordBatch::try_from_iter([("id", ids), ("年收入", names)]).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let mut writer =
        ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn ids(batches: &[SourceBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let ids = b.batch.column_by_name("id").unwrap();
            let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
            ids.values().to_vec()
        })
        .collect()
}

#[test]
fn a_directory_is_read_in_sorted_order_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("b.parquet"), 100, 5, 2);
    write(&dir.path().join("a.parquet"), 0, 3, 2);
    std::fs::write(dir.path().join("_rejects.parquet"), b"not read").unwrap();
    let source = Source::open(dir.path(), &[]).unwrap();
    assert_eq!(source.total_rows(), 8);
    assert_eq!(source.files().len(), 2);
    let batches: Vec<SourceBatch> = source
        .batches(&["id".to_string()], 2, None, None)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids(&batches), vec![0, 1, 2, 100, 101, 102, 103, 104]);
    let positions: Vec<(usize, u64)> = batches.iter().map(|b| (b.file, b.first_row)).collect();
    assert_eq!(positions, vec![(0, 0), (0, 2), (1, 0), (1, 2), (1, 4)]);
    assert_eq!(batches[0].batch.num_columns(), 1);
}

#[test]
fn a_glob_and_a_limit_and_a_rename() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("p1.parquet"), 0, 4, 10);
    write(&dir.path().join("p2.parquet"), 10, 4, 10);
    let rename = vec![("年收入".to_string(), "label".to_string())];
    let source = Source::open(&dir.path().join("p*.parquet"), &rename).unwrap();
    assert_eq!(source.schema().field(1).name(), "label");
    assert_eq!(source.file_schema().field(1).name(), "年收入");
    let batches: Vec<SourceBatch> = source
        .batches(&["id".to_string(), "label".to_string()], 3, Some(6), None)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids(&batches), vec![0, 1, 2, 3, 10, 11]);
    let labels = batches[2].batch.column_by_name("label").unwrap();
    assert_eq!(labels.len(), 2);
}

#[test]
fn missing_empty_and_corrupt_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Source::open(&dir.path().join("nope.parquet"), &[]),
        Err(SourceError::Missing { .. })
    ));
    assert!(matches!(
        Source::open(dir.path(), &[]),
        Err(SourceError::NoFiles { .. })
    ));
    // A device (or a named pipe) exists but is never read.
    let err = Source::open(Path::new("/dev/zero"), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read /dev/zero: it is a device, not a regular file"
    );
    let bad = dir.path().join("bad.parquet");
    std::fs::write(&bad, b"PAR1 this is not parquet at all PAR1").unwrap();
    let err = Source::open(&bad, &[]).unwrap_err();
    assert!(matches!(err, SourceError::Corrupt { .. }));
    assert!(
        err.to_string().contains("is not a readable Parquet file"),
        "{err}"
    );
}

#[test]
fn files_with_other_columns_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a.parquet"), 0, 2, 10);
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![1]));
    let batch = RecordBatch::try_from_iter([("id", ids)]).unwrap();
    let mut writer = ArrowWriter::try_new(
        File::create(dir.path().join("b.parquet")).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let err = Source::open(dir.path(), &[]).unwrap_err();
    assert!(
        err.to_string().ends_with("column `年收入` is missing"),
        "{err}"
    );
}

#[test]
fn a_sample_keeps_the_same_rows_whatever_the_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a.parquet"), 0, 1000, 300);
    let source = Source::open(dir.path(), &[]).unwrap();
    let sample = Sample {
        fraction: 0.1,
        seed: 7,
    };
    let read = |batch_size: usize| -> Vec<(i64, u64)> {
        source
            .batches(&["id".to_string()], batch_size, None, Some(sample))
            .flat_map(|b| {
                let b = b.unwrap();
                let ids = ids(std::slice::from_ref(&b));
                ids.into_iter()
                    .enumerate()
                    .map(|(i, id)| (id, b.row_number(i)))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let small = read(7);
    assert_eq!(small, read(1000));
    assert!((80..=120).contains(&small.len()), "{}", small.len());
    assert!(small.iter().all(|(id, row)| *id as u64 == *row));
    let other_seed = Sample { seed: 8, ..sample };
    assert!(!(0..1000).all(|r| sample.keeps(0, r) == other_seed.keeps(0, r)));
}

/// The damaged files the `parquet_input` fuzz target found, read whole as it reads them (every
/// column): each fails with a source error, never a panic or a hang.
#[test]
fn the_fuzz_findings_fail_as_damaged_files() {
    let findings = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz");
    for (file, expected) in [
        // These two looped in parquet's page reader until the read budget ran out; they are
        // now refused when opened, their page headers walked first (see `page_walk`).
        (
            "page_header_loop.parquet",
            "FILE is not a readable Parquet file: Parquet error: a page header of column \
             \"revenue_history.list.item\" in row group 0 is damaged: bad data",
        ),
        (
            "page_header_skips.parquet",
            "FILE is not a readable Parquet file: Parquet error: a page header of column \
             \"last_order_date\" in row group 2 is damaged: a list, map or text in it claims \
             more bytes than its chunk holds",
        ),
        // A review's find: `gen`'s 20 rows with the first page header's first eight bytes a
        // field holding a list of 2^31 booleans, which parquet skipped round an empty loop for
        // 14 s (a debug build), reading nothing the budget could count.
        (
            "page_header_bool_list.parquet",
            "FILE is not a readable Parquet file: Parquet error: a page header of column \
             \"customer_id\" in row group 0 is damaged: a list, map or text in it claims more \
             bytes than its chunk holds",
        ),
        (
            "row_count_overflow.parquet",
            "FILE is not a readable Parquet file: Parquet error: row group 1 claims -501 rows, \
             which cannot be (the footer is damaged)",
        ),
        (
            "truncated_chunks.parquet",
            "FILE is not a readable Parquet file: Parquet error: column \"cost_to_serve\" of row \
             group 3 lies outside the file's 87188 bytes (the file is truncated or its footer is \
             damaged)",
        ),
        // parquet's RLE decoder shifts past 64 bits on this file's definition levels: a panic
        // in a build with overflow checks (the tests', the fuzzer's), which the reader catches;
        // an optimised build decodes wrapped values instead.
        (
            "rle_shift_overflow.parquet",
            "FILE (rows from 0): Parquet argument error: the Parquet reader failed on this \
             file's data (attempt to shift left with overflow); the file is damaged",
        ),
    ] {
        let path = findings.join(file);
        let error = match Source::open(&path, &[]) {
            Err(error) => error,
            Ok(source) => {
                let columns: Vec<String> = source
                    .schema()
                    .fields()
                    .iter()
                    .map(|field| field.name().clone())
                    .collect();
                Scan::all(&source)
                    .batches(&columns)
                    .find_map(Result::err)
                    .expect("a damaged file fails")
            }
        };
        let message = error
            .to_string()
            .replace(&format!("{}", path.display()), "FILE");
        assert_eq!(message, expected, "{file}");
    }
}

/// Two columns of one name: which one a rule reads would be a guess (it was the first).
#[test]
fn a_file_with_two_columns_of_one_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.parquet");
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let revenue: ArrayRef = Arc::new(Int64Array::from(vec![10, 20]));
    let batch = RecordBatch::try_from_iter([
        ("id", ids),
        ("revenue", revenue.clone()),
        ("revenue", revenue),
    ])
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let err = Source::open(&path, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} has two columns named `revenue`", path.display())
    );
}

/// Opening for a plan only reads the footers: a file whose first page header is damaged (the
/// fuzz finding `run` refuses when it opens it) opens with its schema and footer statistics.
#[test]
fn open_footers_reads_the_footers_and_leaves_the_pages_unwalked() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz/page_header_bool_list.parquet");
    let err = Source::open(&path, &[]).unwrap_err();
    assert!(err
        .to_string()
        .contains("a page header of column \"customer_id\""));

    let source = Source::open_footers(&path, &[]).unwrap();

    assert_eq!(source.total_rows(), 20);
    assert_eq!(source.schema().field(0).name(), "customer_id");
    assert!(source.null_free("customer_id"));
    // The footer checks stay: a damaged footer is refused as `open` refuses it.
    let footer =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz/row_count_overflow.parquet");
    assert_eq!(
        Source::open_footers(&footer, &[]).unwrap_err().to_string(),
        Source::open(&footer, &[]).unwrap_err().to_string()
    );
}

/// A source opened for its footers walks the column chunks each read is to decode before it
/// decodes them: a row group's read walks that row group's projected columns only, and a
/// damaged one fails the read with the error `open` gives for it (here the first page header of
/// row group 2's `region`, forged as in `page_header_bool_list.parquet`: a list of 2^31
/// booleans, which parquet skips round an empty loop).
#[test]
fn a_source_opened_for_its_footers_walks_what_each_read_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers.parquet");
    let mut bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/customers.parquet"))
            .unwrap();
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&bytes::Bytes::from(bytes.clone()))
        .unwrap();
    let start = metadata.row_group(2).column(1).byte_range().0 as usize;
    bytes[start..start + 8].copy_from_slice(&[0xF9, 0xF1, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00]);
    std::fs::write(&path, &bytes).unwrap();
    let refused = Source::open(&path, &[]).unwrap_err().to_string();
    assert!(
        refused.contains("a page header of column \"region\" in row group 2 is damaged"),
        "{refused}"
    );

    let source = Source::open_footers(&path, &[]).unwrap();
    let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let (both, ids) = (names(&["customer_id", "region"]), names(&["customer_id"]));
    let rows =
        |batches: Vec<SourceBatch>| -> usize { batches.iter().map(|b| b.batch.num_rows()).sum() };
    for group in [0, 1, 3] {
        let read = source.row_group_batches(&both, 0, group, 500 * group as u64);
        assert_eq!(rows(read.unwrap()), 500, "row group {group}");
    }
    assert_eq!(
        rows(source.row_group_batches(&ids, 0, 2, 1000).unwrap()),
        500
    );
    let failed = source.row_group_batches(&both, 0, 2, 1000).unwrap_err();
    assert!(matches!(failed, SourceError::Corrupt { .. }), "{failed:?}");
    assert_eq!(failed.to_string(), refused);
    // A chunk found damaged is not taken as walked: the next read of it fails alike.
    let again = source.row_group_batches(&both, 0, 2, 1000).unwrap_err();
    assert_eq!(again.to_string(), refused);

    // The stream of the whole input walks a file's chunks when it starts reading it.
    let mut stream = source.batches(&both, 1000, None, None);
    assert_eq!(stream.next().unwrap().unwrap_err().to_string(), refused);
    assert!(stream.next().is_none());
    let read: usize = source
        .batches(&ids, 1000, None, None)
        .map(|batch| batch.unwrap().batch.num_rows())
        .sum();
    assert_eq!(read, 2000);
}

/// The files of a directory are opened on the threads of the pool `open` is called in; when
/// several are damaged, the one named is the first in reading order, whatever the threads and
/// however their work interleaves.
#[test]
fn of_several_damaged_files_the_first_in_reading_order_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..40 {
        let path = dir.path().join(format!("part-{i:02}.parquet"));
        write(&path, i * 10, 10, 5);
        if i == 7 || i == 30 {
            // The footer's length overwritten: the file ends as Parquet but its footer cannot
            // be read.
            let mut bytes = std::fs::read(&path).unwrap();
            let at = bytes.len() - 8;
            bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    for _ in 0..20 {
        let err = pool
            .install(|| Source::open(dir.path(), &[]))
            .expect_err("two damaged files");
        assert!(
            err.to_string().contains("part-07.parquet"),
            "named another file: {err}"
        );
    }
}
