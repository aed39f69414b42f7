//! Page checksums: every page (dictionary and data) of every file tierscore writes — the tiered
//! output, the rejects, `gen` — carries the CRC-32 of its data, so a reader that verifies them
//! (parquet's `crc` feature, as tierscore reads) refuses a damaged page instead of decoding it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Float64Builder, Int64Array, ListBuilder, RecordBatch, StringArray,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use tierscore::sink::checksummed::ChecksummedWriter;

use crate::common::*;

const MISMATCH: &str = "Page CRC checksum mismatch";

fn metadata(path: &Path) -> ParquetMetaData {
    ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Required)
        .parse_and_finish(&File::open(path).unwrap())
        .unwrap()
}

/// The last byte of every page of `path`, dictionary pages and data pages of every column
/// chunk, found from the footer and the offset index.
fn page_ends(path: &Path) -> Vec<usize> {
    let metadata = metadata(path);
    let mut ends = Vec::new();
    for (g, group) in metadata.row_groups().iter().enumerate() {
        let index = metadata.page_index_for_row_group(g);
        for (c, column) in group.columns().iter().enumerate() {
            if column.dictionary_page_offset().is_some() {
                ends.push(column.data_page_offset() as usize - 1);
            }
            for page in index
                .offset_index(c)
                .expect("an offset index")
                .page_locations()
            {
                ends.push((page.offset + i64::from(page.compressed_page_size) - 1) as usize);
            }
        }
    }
    ends
}

/// Every row of `path`, every page decoded (and its checksum verified where it has one).
fn read_all(path: &Path) -> Result<RecordBatch, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .map_err(|e| e.to_string())?;
    let schema = builder.schema().clone();
    let batches = builder
        .build()
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(concat_batches(&schema, &batches).unwrap())
}

/// A copy of `path`, next to it, with the bits of byte `at` flipped.
fn flipped(path: &Path, at: usize) -> PathBuf {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0xFF;
    let damaged = path.with_extension("damaged");
    fs::write(&damaged, bytes).unwrap();
    damaged
}

/// Asserts that `path` reads whole, and that flipping the last byte of any one of its pages
/// makes reading it fail on that page's checksum; returns how many pages it has.
fn assert_every_page_checksummed(path: &Path) -> usize {
    read_all(path).unwrap();
    let ends = page_ends(path);
    for &end in &ends {
        let error = read_all(&flipped(path, end)).expect_err("a damaged page is refused");
        assert!(
            error.contains(MISMATCH),
            "{}: page ending at {end}: {error}",
            path.display()
        );
    }
    ends.len()
}

/// 3,000 rows: plain and dictionary-encoded strings, floats, nullable integers and lists.
fn rows() -> RecordBatch {
    let n = 3000;
    let mut history = ListBuilder::new(Float64Builder::new());
    for i in 0..n {
        if i % 11 == 0 {
            history.append_null();
        } else {
            history.values().append_slice(&[i as f64, (i * 3) as f64]);
            history.append(true);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("C{i:08}")),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| ["north", "south", "east"][i % 3]),
        )),
        Arc::new(Float64Array::from_iter_values(
            (0..n).map(|i| ((i * 7919) % 100_000) as f64),
        )),
        Arc::new(Int64Array::from_iter(
            (0..n).map(|i| (i % 7 != 0).then_some(i as i64)),
        )),
        Arc::new(history.finish()),
    ];
    RecordBatch::try_new(schema(), columns).unwrap()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("revenue", DataType::Float64, false),
        Field::new("orders", DataType::Int64, true),
        Field::new(
            "history",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
            true,
        ),
    ]))
}

/// Uncompressed (so that a flipped byte in a file without checksums still decodes), small pages
/// and row groups of 1,200 rows across two batches of 1,500.
fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_data_page_row_count_limit(400)
        .set_write_batch_size(100)
        .set_max_row_group_row_count(Some(1200))
        .build()
}

/// Writes [`rows`] in two batches to `path` with `ChecksummedWriter`, or with parquet's own
/// `ArrowWriter`.
fn written(path: PathBuf, checksummed: bool) -> PathBuf {
    let rows = rows();
    let halves = [rows.slice(0, 1500), rows.slice(1500, 1500)];
    let out = File::create(&path).unwrap();
    if checksummed {
        let mut writer = ChecksummedWriter::try_new(out, schema(), properties()).unwrap();
        for half in &halves {
            writer.write(half).unwrap();
        }
        writer.close().unwrap();
    } else {
        let mut writer = ArrowWriter::try_new(out, schema(), Some(properties())).unwrap();
        for half in &halves {
            writer.write(half).unwrap();
        }
        writer.close().unwrap();
    }
    path
}

#[test]
fn every_page_carries_its_checksum_and_the_content_is_the_writers() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = written(tmp.path().join("ours.parquet"), true);
    let theirs = written(tmp.path().join("theirs.parquet"), false);

    // The same rows, row groups, statistics, encodings and key-value metadata (the embedded
    // Arrow schema) as parquet's own writer; only the page headers are longer.
    assert_eq!(read_all(&ours).unwrap(), rows());
    assert_eq!(read_all(&theirs).unwrap(), rows());
    let (ours_meta, theirs_meta) = (metadata(&ours), metadata(&theirs));
    assert_eq!(
        ours_meta.file_metadata().key_value_metadata(),
        theirs_meta.file_metadata().key_value_metadata()
    );
    let groups =
        |m: &ParquetMetaData| -> Vec<i64> { m.row_groups().iter().map(|g| g.num_rows()).collect() };
    assert_eq!(groups(&ours_meta), [1200, 1200, 600]);
    assert_eq!(groups(&theirs_meta), [1200, 1200, 600]);
    for (g, (ours_group, theirs_group)) in ours_meta
        .row_groups()
        .iter()
        .zip(theirs_meta.row_groups())
        .enumerate()
    {
        let (ours_index, theirs_index) = (
            ours_meta.page_index_for_row_group(g),
            theirs_meta.page_index_for_row_group(g),
        );
        for (c, (a, b)) in ours_group
            .columns()
            .iter()
            .zip(theirs_group.columns())
            .enumerate()
        {
            assert_eq!(ours_index.column_index(c), theirs_index.column_index(c));
            assert_eq!(a.statistics(), b.statistics());
            assert_eq!(a.encodings_mask(), b.encodings_mask());
            assert_eq!(a.num_values(), b.num_values());
            assert!(a.compressed_size() > b.compressed_size());
        }
    }

    // Every page is checked: one flipped byte in any of them is refused.
    let ends = page_ends(&ours);
    let dictionaries = ours_meta
        .row_groups()
        .iter()
        .flat_map(|g| g.columns())
        .filter(|c| c.dictionary_page_offset().is_some())
        .count();
    assert!(dictionaries >= 3, "a dictionary page in every row group");
    assert_eq!(ends.len(), page_ends(&theirs).len());
    assert!(ends.len() > 3 * 5 + dictionaries, "several pages per chunk");
    for &end in &ends {
        let error = read_all(&flipped(&ours, end)).expect_err("a damaged page is refused");
        assert!(error.contains(MISMATCH), "page ending at {end}: {error}");
    }

    // Without checksums the same damage is not caught as such: some pages decode to wrong rows.
    let silent = page_ends(&theirs)
        .into_iter()
        .filter(|&end| read_all(&flipped(&theirs, end)).is_ok_and(|rows| rows != self::rows()))
        .count();
    assert!(silent > 0);
}

#[test]
fn run_and_gen_write_every_page_with_its_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = gen(dir, "customers.parquet", 3000, 5, 1000);
    assert!(assert_every_page_checksummed(&input) > 3 * 18);

    write(
        dir,
        "p.yaml",
        "version: 1\nname: crc\ninput: { path: customers.parquet, id: customer_id }\n\
         factors:\n  - { name: orders, script: check.rhai, weight: 1.0 }\n\
         tiers:\n  levels:\n    - { name: top, min: 8 }\n    - { name: rest }\n\
         output: { path: out }\nerrors: { max_reject_fraction: 1.0 }\n",
    );
    write(
        dir,
        "check.rhai",
        "// rejects customers with too many orders\nif orders_12m > 10 { throw \"too many\" }\norders_12m * 1.0\n",
    );
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let out = dir.join("out");
    let manifest = manifest(&out);
    assert!(manifest["rows"]["rejected"].as_u64().unwrap() > 0);
    let mut files: Vec<&str> = manifest["output"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    files.push(manifest["output"]["rejects_file"].as_str().unwrap());
    assert_eq!(
        files,
        [
            "scored/tier=top/part-00000.parquet",
            "scored/tier=rest/part-00000.parquet",
            "rejects/part-00000.parquet"
        ]
    );
    for file in files {
        assert!(assert_every_page_checksummed(&out.join(file)) > 0);
    }
}
