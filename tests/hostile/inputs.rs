//! Input that would silently corrupt the output: duplicate ids are refused by default, naming
//! the first ones and where they are, unless `input.unique_ids: false`.

use std::fs;

use crate::common::*;
use crate::plain;

#[test]
fn duplicate_ids_are_refused_by_default_naming_the_first_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    // Two files with the same customers: every id occurs twice.
    fs::create_dir(dir.join("data")).unwrap();
    fs::copy(dir.join("customers.parquet"), dir.join("data/a.parquet")).unwrap();
    fs::copy(dir.join("customers.parquet"), dir.join("data/b.parquet")).unwrap();
    let yaml = fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(
        dir,
        "p.yaml",
        &yaml.replace("path: customers.parquet", "path: data"),
    );
    run(dir, &["run", "p.yaml", "--limit", "200"]).expect_code(0);
    let before = snapshot(&dir.join("out"));

    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    // miette may wrap after a `/`.
    assert_eq!(
        result.headline().replace("/ ", "/"),
        "200 id(s) of column `customer_id` occur more than once in the input: C00000001 \
         (data/a.parquet row 0, data/b.parquet row 0); C00000002 (data/a.parquet row 1, \
         data/b.parquet row 1); C00000003 (data/a.parquet row 2, data/b.parquet row 2); \
         C00000004 (data/a.parquet row 3, data/b.parquet row 3); C00000005 (data/a.parquet row \
         4, data/b.parquet row 4); nothing was committed"
    );
    assert_eq!(
        result.help(),
        "deduplicate the input, or set `input.unique_ids: false` to score every row anyway"
    );
    assert_eq!(
        snapshot(&dir.join("out")),
        before,
        "the previous output is intact"
    );
    assert_eq!(staging_dirs(dir), Vec::<String>::new());

    let yaml = fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(
        dir,
        "p.yaml",
        &yaml.replace("id: customer_id }", "id: customer_id, unique_ids: false }"),
    );
    run(dir, &["run", "p.yaml"]).expect_code(0);
    assert_eq!(manifest(&dir.join("out"))["rows"]["scored"], 400);
}

/// A file whose pages carry CRC checksums (pyarrow's `write_page_checksum`; see
/// testdata/checksummed.py) is read with them verified: intact it scores, and with one byte
/// flipped in a data page the run fails naming the file and commits nothing.
#[test]
fn a_flipped_byte_in_a_checksummed_page_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::copy(
        repo().join("testdata/checksummed.parquet"),
        dir.join("customers.parquet"),
    )
    .unwrap();
    write(
        dir,
        "p.yaml",
        "version: 1\nname: crc\ninput: { path: customers.parquet, id: customer_id }\n\
         factors:\n  - { name: value, expr: \"revenue\", weight: 1.0 }\n\
         tiers:\n  levels:\n    - { name: all }\noutput: { path: out }\n",
    );
    run(dir, &["run", "p.yaml"]).expect_code(0);
    assert_eq!(manifest(&dir.join("out"))["rows"]["scored"], 1000);

    // The last byte of the revenue column's chunk lies in its last data page.
    let path = dir.join("customers.parquet");
    let reader =
        parquet::file::reader::SerializedFileReader::new(fs::File::open(&path).unwrap()).unwrap();
    let (start, length) = parquet::file::reader::FileReader::metadata(&reader)
        .row_group(0)
        .column(1)
        .byte_range();
    drop(reader);
    let mut bytes = fs::read(&path).unwrap();
    bytes[(start + length - 1) as usize] ^= 0x55;
    fs::write(&path, bytes).unwrap();
    let before = snapshot(&dir.join("out"));

    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    let headline = result.headline();
    assert!(
        headline.starts_with("customers.parquet")
            && headline.contains("Page CRC checksum mismatch"),
        "{headline}"
    );
    assert_eq!(
        snapshot(&dir.join("out")),
        before,
        "the previous output is intact"
    );
}

/// UInt64 ids above i64::MAX: `run` scores them and `explain` finds them, reading only the row
/// group whose (unsigned) statistics can hold the id.
#[test]
fn explain_finds_a_uint64_id_above_i64_max() {
    use arrow::array::{Int64Array, RecordBatch, UInt64Array};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let big = i64::MAX as u64 + 5;
    let batch = RecordBatch::try_from_iter([
        (
            "customer_id",
            arc(UInt64Array::from(vec![1, 2, big, u64::MAX])),
        ),
        ("orders_12m", arc(Int64Array::from(vec![3, 9, 12, 1]))),
    ])
    .unwrap();
    // Two row groups: [1, 2] and [big, u64::MAX].
    write_customers(dir, &batch, 2);
    plain(dir);

    run(dir, &["run", "p.yaml"]).expect_code(0);
    let scored: Vec<String> = output_data(&dir.join("out"))
        .values()
        .filter(|b| b.schema().index_of("score").is_ok())
        .flat_map(|b| {
            let ids = arrow::compute::cast(
                b.column_by_name("customer_id").unwrap(),
                &arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            texts(&RecordBatch::try_from_iter([("id", ids)]).unwrap(), "id")
        })
        .collect();
    assert!(scored.contains(&u64::MAX.to_string()), "{scored:?}");

    for (id, row, orders) in [
        (u64::MAX.to_string(), 3, 1.0),
        (big.to_string(), 2, 12.0),
        ("2".to_string(), 1, 9.0),
    ] {
        let result = run(dir, &["explain", "p.yaml", "--id", &id, "--format", "json"]);
        result.expect_code(0);
        let e = parse_json_exact(&result.stdout);
        assert_eq!(e["id"], id.as_str());
        assert_eq!(e["row_number"], row, "{id}");
        assert_eq!(e["row_groups_total"], 2);
        assert_eq!(
            e["row_groups_read"], 1,
            "{id}: statistics rule out one group"
        );
        assert_eq!(e["score"], orders, "{id}");
    }
    let missing = run(dir, &["explain", "p.yaml", "--id", "18446744073709551614"]);
    missing.expect_code(3);
    assert_eq!(
        missing.headline(),
        "no customer with customer_id = \"18446744073709551614\" in the input's 1 file(s) and 2 row group(s)"
    );
}

/// A file whose footer places column chunks past its end (a truncated file, found by the
/// `parquet_input` fuzz target) is refused when opened, naming the column: read, it sent
/// parquet's page reader into a loop that did not end for minutes.
#[test]
fn a_file_whose_chunks_lie_past_its_end_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::copy(
        repo().join("testdata/fuzz/truncated_chunks.parquet"),
        dir.join("customers.parquet"),
    )
    .unwrap();
    plain(dir);
    let refused = "customers.parquet is not a readable Parquet file: Parquet error: column \
                   \"cost_to_serve\" of row group 3 lies outside the file's 87188 bytes (the \
                   file is truncated or its footer is damaged)";
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    assert_eq!(result.headline(), refused);
    let result = run(dir, &["check", "p.yaml"]);
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        format!("{refused}; names and types cannot be checked without it")
    );
    assert!(!dir.join("out").exists());
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
}

/// Runs the plain pipeline over `finding` (a file of testdata/fuzz) and checks the run fails
/// with `headline`, exit code 3 and nothing written.
fn refuses_finding(finding: &str, headline: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::copy(
        repo().join("testdata/fuzz").join(finding),
        dir.join("customers.parquet"),
    )
    .unwrap();
    plain(dir);
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    assert_eq!(result.headline(), headline);
    assert!(!dir.join("out").exists());
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
}

/// A file whose footer claims a negative row count for a row group (found by the
/// `parquet_input` fuzz target) is refused when opened: parquet adds the row groups' counts into
/// a `usize` while decoding, which overflowed (a panic in a debug build, a wrapped count in a
/// release one).
#[test]
fn a_file_whose_row_counts_are_forged_is_refused() {
    refuses_finding(
        "row_count_overflow.parquet",
        "customers.parquet is not a readable Parquet file: Parquet error: row group 1 claims \
         -501 rows, which cannot be (the footer is damaged)",
    );
}

/// A file whose page headers send parquet's reader round in a loop (found by the
/// `parquet_input` fuzz target: it read for minutes) is refused as damaged when opened, its
/// page headers walked first; so is one whose first page header claims a list of 2^31
/// booleans, which parquet skipped round an empty loop for 14 s, reading nothing (a review's
/// find).
#[test]
fn a_file_whose_page_headers_loop_is_refused_as_damaged() {
    refuses_finding(
        "page_header_loop.parquet",
        "customers.parquet is not a readable Parquet file: Parquet error: a page header of \
         column \"revenue_history.list.item\" in row group 0 is damaged: bad data",
    );
    refuses_finding(
        "page_header_bool_list.parquet",
        "customers.parquet is not a readable Parquet file: Parquet error: a page header of \
         column \"customer_id\" in row group 0 is damaged: a list, map or text in it claims \
         more bytes than its chunk holds",
    );
}

/// A footer whose unknown fields declare lists of 2^31 booleans, seven bytes each, is refused
/// before parquet decodes it: parquet 60.1 skips such a list by going round an empty loop 2^31
/// times, and fifty of them kept a run busy for minutes (found beside the fuzz target's slow
/// footer; the forged file is made here from the shipped test data).
#[test]
fn a_footer_of_forged_boolean_lists_is_refused_at_once() {
    let file = fs::read(repo().join("testdata/customers.parquet")).unwrap();
    let end = file.len() - 8;
    let length = u32::from_le_bytes(file[end..end + 4].try_into().unwrap()) as usize;
    let (data, footer) = file[..end].split_at(end - length);
    // FileMetaData's fields, then fifty unknown ones (long form: type list, field id 100 + n as
    // a zigzag varint), each a list of bools whose size (2^31 - 1) follows, then the stop byte.
    let mut forged = footer[..footer.len() - 1].to_vec();
    for field in 100u16..150 {
        let zigzag = field * 2;
        forged.extend([0x09, (zigzag & 0x7F) as u8 | 0x80, (zigzag >> 7) as u8]);
        forged.extend([0xF1, 0xFF, 0xFF, 0xFF, 0xFF, 0x07]);
    }
    forged.push(0x00);
    let mut bytes = data.to_vec();
    bytes.extend(&forged);
    bytes.extend(u32::try_from(forged.len()).unwrap().to_le_bytes());
    bytes.extend(b"PAR1");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("customers.parquet"), bytes).unwrap();
    plain(dir);
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "customers.parquet is not a readable Parquet file: Parquet error: its footer is \
         damaged: a list, map or text in it claims more bytes than the footer holds"
    );
    assert!(!dir.join("out").exists());
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
}

/// Small row groups are valid input. The reader's budget against damaged page headers charged
/// 8 KiB for every page read, so `gen`'s own output in row groups of 500 rows (5,000 rows) was
/// refused as damaged (a review's find); now only a page read again pays it. Row groups of 2
/// rows (1,000 of them) read too.
#[test]
fn files_of_many_small_row_groups_are_read_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_example(dir);
    for (rows, group) in [(5_000, 500), (2_000, 2)] {
        let name = format!("small_groups_{group}.parquet");
        gen(dir, &name, rows, 1, group);
        let out = format!("out_{group}");
        run(
            dir,
            &[
                "run",
                "pipelines/customer_value.yaml",
                "--input",
                &name,
                "--output",
                &out,
                "--quiet",
            ],
        )
        .expect_code(0);
        let manifest = manifest_exact(&dir.join(&out));
        assert_eq!(manifest["rows"]["input"], rows, "{group}");
        assert_eq!(manifest["rows"]["scored"], rows, "{group}");
    }
}

/// Date ids: `explain --id 2026-01-03` finds the customer `run` scored. Their statistics are
/// days since 1970, which the id as written never parsed as (a review's find: no date or
/// timestamp id was ever found); such row groups are now read rather than ruled out.
#[test]
fn explain_finds_a_date_id() {
    use arrow::array::{Date32Array, Int64Array, RecordBatch};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 2026-01-01 is day 20,454 since 1970-01-01.
    let batch = RecordBatch::try_from_iter([
        (
            "customer_id",
            arc(Date32Array::from(vec![20_454, 20_455, 20_456, 20_457])),
        ),
        ("orders_12m", arc(Int64Array::from(vec![3, 9, 12, 1]))),
    ])
    .unwrap();
    write_customers(dir, &batch, 2);
    plain(dir);
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let result = run(
        dir,
        &[
            "explain",
            "p.yaml",
            "--id",
            "2026-01-03",
            "--format",
            "json",
        ],
    );
    result.expect_code(0);
    let e = parse_json_exact(&result.stdout);
    assert_eq!(e["id"], "2026-01-03");
    assert_eq!(e["row_number"], 2);
    assert_eq!(e["row_groups_total"], 2);
}

/// One id on every row: the error names its first three places and counts the rest (each of
/// 20,000 rows was named, 543 KB of error, a review's find).
#[test]
fn an_id_on_every_row_is_named_with_its_first_places() {
    use arrow::array::{Int64Array, RecordBatch, StringArray};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rows = 2_000;
    let batch = RecordBatch::try_from_iter([
        (
            "customer_id",
            arc(StringArray::from_iter_values(std::iter::repeat_n(
                "C1", rows,
            ))),
        ),
        ("orders_12m", arc(Int64Array::from(vec![3; rows]))),
    ])
    .unwrap();
    write_customers(dir, &batch, rows);
    plain(dir);
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    assert!(
        result.headline().contains(
            "C1 (customers.parquet row 0, customers.parquet row 1, customers.parquet row 2 and \
             1,997 more rows)"
        ),
        "{}",
        result.stderr
    );
    assert!(result.stderr.len() < 2_000, "{}", result.stderr.len());
}

/// Writes `batch` as `customers.parquet` in `dir`, in row groups of `rows_a_group` rows.
fn write_customers(dir: &std::path::Path, batch: &arrow::array::RecordBatch, rows_a_group: usize) {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_a_group))
        .build();
    let file = fs::File::create(dir.join("customers.parquet")).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        file,
        std::sync::Arc::new(batch.schema().as_ref().clone()),
        Some(props),
    )
    .unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// A Parquet file's page whose data inflates far past the size its header gives (a
/// "decompression bomb"): parquet's gzip, brotli and LZ4-frame decoders read to the end
/// whatever the header says, so a 3.8 KB brotli file took 1.6 GB before parquet found the size
/// wrong. The page walk inflates such pages first, into nothing, one byte past the claim, and
/// refuses the file when it is opened.
#[test]
fn pages_inflating_past_their_header_are_refused_before_decoding() {
    use parquet::basic::{BrotliLevel, Compression, GzipLevel};
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 4 MiB of zeros, inflated from a few KB: 40 times what the page claims.
    let zeros = vec![0u8; 4 << 20];
    let gzip = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&zeros).unwrap();
        encoder.finish().unwrap()
    };
    let brotli = {
        let mut out = Vec::new();
        let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        encoder.write_all(&zeros).unwrap();
        drop(encoder);
        out
    };
    let lz4 = {
        let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
        encoder.write_all(&zeros).unwrap();
        encoder.finish().unwrap()
    };
    write(dir, "p.yaml", TEXTS_PIPELINE);
    for (name, codec, bomb) in [
        ("gzip", Compression::GZIP(GzipLevel::default()), gzip),
        (
            "brotli",
            Compression::BROTLI(BrotliLevel::default()),
            brotli,
        ),
        ("lz4", Compression::LZ4, lz4),
    ] {
        let path = dir.join("bomb.parquet");
        write_texts(&path, codec);
        run(dir, &["check", "p.yaml"]).expect_code(0);

        // Column `s`'s one page: its data replaced by the bomb and zeros after it.
        let page = one_page(&path, 1);
        let mut bytes = fs::read(&path).unwrap();
        let (claimed, stored) = (page.fields[1], page.fields[2] as usize);
        assert!(
            bomb.len() < stored,
            "{name}: the bomb ({}) fits the page ({stored})",
            bomb.len()
        );
        assert!(
            (claimed as usize) < zeros.len() / 40,
            "{name}: the header claims {claimed}"
        );
        bytes[page.data..page.data + stored].fill(0);
        bytes[page.data..page.data + bomb.len()].copy_from_slice(&bomb);
        fs::write(&path, &bytes).unwrap();

        for command in ["check", "run"] {
            let result = run(dir, &[command, "p.yaml"]);
            let headline = result.headline();
            // `check` adds that it cannot check names and types without the input.
            assert!(
                headline.starts_with("bomb.parquet is not a readable Parquet file")
                    && headline.contains(&format!(
                        "a page of column \"s\" in row group 0 is damaged: it inflates to more \
                         than the {claimed} bytes its header gives"
                    )),
                "{name} {command}: {}",
                result.stderr
            );
        }
        assert!(!dir.join("out").exists(), "{name}: nothing written");
    }
}
