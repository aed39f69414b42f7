//! Parquet files of one run: the tiered output (hive-partitioned or one file) under `scored/`
//! and the rejects under `rejects/`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::chain::{Chain, Chains, Held};
use super::checksummed::ChecksummedWriter;
use super::layout::{as_written, written_type, OutputLayout};
use super::SinkError;
use crate::manifest::{WrittenFile, DATA_DIR, REJECTS_FILE};
use crate::pipeline::{OutputCompression, PartitionBy};
use crate::score::Reject;

/// The scored rows' file of the tier `tier` (the one file when not partitioned), relative to
/// the output directory.
pub fn data_file(partition: PartitionBy, tier: &str) -> String {
    match partition {
        PartitionBy::Tier => format!("{DATA_DIR}/tier={tier}/part-00000.parquet"),
        PartitionBy::None => format!("{DATA_DIR}/part-00000.parquet"),
    }
}

/// Every data file an output of `tier_names` will hold, relative to it: each tier's (or the one
/// file) and the rejects'. The run and a distributed job check them against a glob input.
pub fn data_files(partition: PartitionBy, tier_names: &[String]) -> Vec<String> {
    let mut files: Vec<String> = match partition {
        PartitionBy::Tier => tier_names
            .iter()
            .map(|tier| data_file(partition, tier))
            .collect(),
        PartitionBy::None => vec![data_file(partition, "")],
    };
    files.push(REJECTS_FILE.to_string());
    files
}

/// Writer properties shared by every file of a run: its codec (`output.compression`), and the
/// run's key-value metadata.
///
/// The `id` column is written without dictionary encoding: its values are mostly distinct
/// (unique unless `input.unique_ids` is off), so a dictionary only costs hashing every value
/// and ends up larger than the plain pages zstd compresses. The `numbers` columns (factors,
/// score) keep a dictionary only while it stays under [`NUMBER_DICTIONARY_BYTES`]: a factor of
/// bands repeats a few values and stays dictionary-encoded (smaller pages, less for zstd), a
/// factor of distinct values falls back to plain pages after its first 512 values of each row
/// group. Each name is one top-level column, dots and all.
///
/// The `free_text` columns (the reasons' texts) are written without statistics (min, max, null
/// count): the lowest and highest text of a page help no reader skip anything, and finding
/// them compared every text twice, 1.5% of the shipped pipeline's CPU time at 10M rows
/// (BENCHMARKS.md).
pub fn properties(
    metadata: Vec<(String, String)>,
    id: &str,
    numbers: &[String],
    free_text: &[ColumnPath],
    compression: OutputCompression,
) -> WriterProperties {
    let mut builder =
        WriterProperties::builder().set_column_dictionary_enabled(ColumnPath::from(id), false);
    for column in numbers {
        builder = builder.set_column_dictionary_page_size_limit(
            ColumnPath::from(column.as_str()),
            NUMBER_DICTIONARY_BYTES,
        );
    }
    for column in free_text {
        builder = builder.set_column_statistics_enabled(column.clone(), EnabledStatistics::None);
    }
    builder
        .set_compression(match compression {
            OutputCompression::Zstd => Compression::ZSTD(ZstdLevel::default()),
            OutputCompression::Snappy => Compression::SNAPPY,
            OutputCompression::Lz4 => Compression::LZ4_RAW,
            OutputCompression::None => Compression::UNCOMPRESSED,
        })
        .set_key_value_metadata(Some(
            metadata
                .into_iter()
                .map(|(key, value)| KeyValue::new(key, value))
                .collect(),
        ))
        .build()
}

/// The dictionary a factor or score column may grow to before its row group falls back to
/// plain pages: fewer than 512 distinct values. Measured on the shipped pipeline
/// (BENCHMARKS.md), against no dictionary on these columns: 2.2% fewer instructions for the
/// run and 4.8% smaller output; a 32 KB limit saved half of those instructions and a third of
/// those bytes, and 128 KB cost 1% more instructions than no dictionary.
const NUMBER_DICTIONARY_BYTES: usize = 4 << 10;

/// Memory a file's unfinished row group may hold before it is written out. Without a bound
/// each file buffers up to a million rows (the writer's default row group), so a run's memory
/// grew with its size until every tier's file reached it; with it, memory is the same for 1M
/// rows as for 10M, and row groups hold a few hundred thousand rows.
const ROW_GROUP_MEMORY: usize = 16 << 20;

/// Memory the unfinished row groups of the scored output's files may hold together: one file
/// keeps [`ROW_GROUP_MEMORY`], the files of a tier-partitioned output (open at once, one a
/// tier) share this. Five tiers at 16 MB each held 80 MB and more beside the run's per-row
/// figures (BENCHMARKS.md: 527 MB against 449 MB peak at 10M rows, files no larger).
const OUTPUT_ROW_GROUPS_MEMORY: usize = 32 << 20;

/// The bytes a file's writes are gathered into. parquet hands its pages over in pieces of a few
/// kilobytes; with std's default 8 KiB buffer each became a `write(2)` of its own (35,816 for
/// the shipped pipeline's 280 MB at 10M rows), with 256 KiB they are 2,012.
const WRITE_BUFFER: usize = 256 << 10;

/// Bytes of a file written and not yet handed to the disk, at most, before their writeback is
/// started ([`Hashing`]). Without it the kernel wrote nothing back before the closing `fsync`
/// (its background writeback starts at 10% of memory), so a run's end waited for all of its
/// output to reach the disk: at 10M rows on two threads, 130 ms with both threads idle.
const WRITEBACK_STEP: u64 = 8 << 20;

/// A file being written, hashed (sha256) and counted on the way, so the manifest records each
/// file's size and hash without reading it again. Every [`WRITEBACK_STEP`] bytes, the disk is
/// asked to start writing back what is in the file so far, so that the `fsync` closing it has
/// little left to wait for.
struct Hashing {
    file: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
    /// Where the bytes not yet handed to the disk begin.
    unsynced: u64,
}

impl Hashing {
    /// Starts the writeback of the bytes in the file (not those still in the buffer) from
    /// `unsynced` on, once they are [`WRITEBACK_STEP`] or more, without waiting for it.
    fn start_writeback(&mut self) {
        let in_file = self.bytes - self.file.buffer().len() as u64;
        if in_file - self.unsynced < WRITEBACK_STEP {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a plain system call on an open descriptor this file owns; no memory is
            // passed. Its outcome is only a hint: the closing `fsync` reports any error.
            unsafe {
                libc::sync_file_range(
                    self.file.get_ref().as_raw_fd(),
                    // `off64_t` with glibc, `off_t` with musl: 64 bits either way.
                    self.unsynced as _,
                    (in_file - self.unsynced) as _,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.unsynced = in_file;
    }
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        self.start_writeback();
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// What [`OpenFile::finish`] gives: the file's path relative to the output, rows, bytes and
/// sha256.
type Finished = (String, u64, u64, String);

struct OpenFile {
    relative: String,
    path: PathBuf,
    writer: ChecksummedWriter<Hashing>,
    rows: u64,
    /// The unfinished row group's memory at which it is written out.
    flush_at: usize,
}

impl OpenFile {
    fn create(
        dir: &Path,
        relative: String,
        schema: &SchemaRef,
        props: &WriterProperties,
        flush_at: usize,
    ) -> Result<Self, SinkError> {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| SinkError::io("create", parent, e))?;
        }
        let file = File::create(&path).map_err(|e| SinkError::io("create", &path, e))?;
        let hashing = Hashing {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            hasher: Sha256::new(),
            bytes: 0,
            unsynced: 0,
        };
        let writer = ChecksummedWriter::try_new(hashing, schema.clone(), props.clone())
            .map_err(|source| SinkError::parquet(&path, source))?;
        Ok(Self {
            relative,
            path,
            writer,
            rows: 0,
            flush_at,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .map_err(|source| SinkError::parquet(&self.path, source))?;
        if self.writer.memory_size() >= self.flush_at {
            self.writer
                .flush()
                .map_err(|source| SinkError::parquet(&self.path, source))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Finished, SinkError> {
        let path = self.path;
        let hashing = self
            .writer
            .into_inner()
            .map_err(|source| SinkError::parquet(&path, source))?;
        let file = hashing
            .file
            .into_inner()
            .map_err(|e| SinkError::io("write", &path, e.into_error()))?;
        file.sync_all()
            .map_err(|e| SinkError::io("sync", &path, e))?;
        let sha256 = hex::encode(hashing.hasher.finalize());
        Ok((self.relative, self.rows, hashing.bytes, sha256))
    }
}

/// The tiered output files of a run, opened as their first rows arrive.
pub struct OutputWriter {
    dir: PathBuf,
    partition: PartitionBy,
    tier_names: Vec<String>,
    schema: SchemaRef,
    props: WriterProperties,
    /// Each slot's file once its first rows came, written by its own chain.
    files: Vec<Option<Arc<Chain<OpenFile>>>>,
    chains: Arc<Chains>,
}

impl OutputWriter {
    /// Writes into the [`DATA_DIR`] folder of `dir` (the staging directory), created here so
    /// that an output without scored rows still has its (empty) dataset.
    pub fn new(
        dir: &Path,
        partition: PartitionBy,
        tier_names: Vec<String>,
        schema: SchemaRef,
        props: WriterProperties,
        chains: &Arc<Chains>,
    ) -> Result<Self, SinkError> {
        let data = dir.join(DATA_DIR);
        fs::create_dir_all(&data).map_err(|e| SinkError::io("create", &data, e))?;
        let slots = match partition {
            PartitionBy::Tier => tier_names.len(),
            PartitionBy::None => 1,
        };
        super::make_room_for_open_files(slots);
        Ok(Self {
            dir: dir.to_path_buf(),
            partition,
            tier_names,
            schema,
            props,
            files: (0..slots).map(|_| None).collect(),
            chains: Arc::clone(chains),
        })
    }

    /// Appends output rows, each with its tier index; partitioned by tier, the rows come
    /// grouped by tier (as [`OutputLayout::build`] lays them out) and each tier's file gets its
    /// slice. Each file encodes its rows in its own [`Chain`]: files side by side on the rayon
    /// pool this is called in, each file's rows in the order they came, each job keeping
    /// `held`. An error encoding them comes later, from [`Chains::wait_for_room`] or
    /// [`OutputWriter::finish`].
    pub fn write(
        &mut self,
        batch: &RecordBatch,
        tiers: &[usize],
        held: &Arc<Held>,
    ) -> Result<(), SinkError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let ranges = match self.partition {
            PartitionBy::None => std::iter::once(0..batch.num_rows()).collect(),
            PartitionBy::Tier => {
                if !tiers.is_sorted() {
                    // A slice a tier would put rows in the wrong tier's file.
                    return Err(SinkError::Arrow(ArrowError::InvalidArgumentError(
                        "rows of a tier-partitioned output must come grouped by tier".into(),
                    )));
                }
                OutputLayout::tier_ranges(tiers, self.tier_names.len())
            }
        };
        for (slot, range) in ranges.into_iter().enumerate() {
            if !range.is_empty() {
                let rows = batch.slice(range.start, range.len());
                self.file(slot)?
                    .push(held, move |file: &mut OpenFile| file.write(&rows));
            }
        }
        Ok(())
    }

    fn file(&mut self, slot: usize) -> Result<&Arc<Chain<OpenFile>>, SinkError> {
        if self.files[slot].is_none() {
            let relative = data_file(self.partition, &self.tier_names[slot]);
            let flush_at = ROW_GROUP_MEMORY.min(OUTPUT_ROW_GROUPS_MEMORY / self.files.len());
            let file = OpenFile::create(&self.dir, relative, &self.schema, &self.props, flush_at)?;
            self.files[slot] = Some(Chain::new(&self.chains, file));
        }
        Ok(self.files[slot].as_ref().expect("opened just above"))
    }

    /// Closes every file (in parallel: each is flushed and synced); returns them in tier order.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, SinkError> {
        // Every tier's file is written, empty (schema and all) when no row fell into the tier:
        // the layout is the same from run to run, so a scheduled reader of one tier's folder
        // finds it on the day the tier is empty, and readers globbing `scored/**/*.parquet`
        // find a file when no row was scored (DuckDB and Polars refuse a folder with no file).
        for slot in 0..self.files.len() {
            self.file(slot)?;
        }
        self.chains.finish()?;
        let partition = self.partition;
        let tier_names = &self.tier_names;
        // Every slot holds its file now, so the flattened files keep their slots' order.
        let files: Vec<Arc<Chain<OpenFile>>> = self.files.into_iter().flatten().collect();
        files
            .into_par_iter()
            .enumerate()
            .map(|(slot, file)| {
                let (path, rows, bytes, sha256) = file.into_state().finish()?;
                let tier = match partition {
                    PartitionBy::Tier => Some(tier_names[slot].clone()),
                    PartitionBy::None => None,
                };
                Ok(WrittenFile {
                    path,
                    tier,
                    rows,
                    bytes,
                    sha256,
                })
            })
            .collect()
    }
}

/// `rejects/part-00000.parquet`: one row per rejected input row, written as rejects happen.
pub struct RejectWriter {
    file: OpenFile,
    schema: SchemaRef,
}

impl RejectWriter {
    /// Creates the file; `id` is the id column's field (rejects keep its type).
    pub fn create(dir: &Path, id: &Field, props: &WriterProperties) -> Result<Self, SinkError> {
        let schema = Self::schema_for(id);
        let file = OpenFile::create(
            dir,
            REJECTS_FILE.to_string(),
            &schema,
            props,
            ROW_GROUP_MEMORY,
        )?;
        Ok(Self { file, schema })
    }

    /// The schema of the rejects file when `id` is the id column's field.
    pub fn schema_for(id: &Field) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(id.name(), written_type(id.data_type()), true),
            Field::new("source_file", DataType::Utf8, false),
            Field::new("row_number", DataType::Int64, false),
            Field::new("factor", DataType::Utf8, false),
            Field::new("code", DataType::Utf8, false),
            Field::new("message", DataType::Utf8, false),
            Field::new("inputs", DataType::Utf8, true),
            Field::new("run_id", DataType::Utf8, false),
        ]))
    }

    /// The schema of the rejects, for [`RejectWriter::rows`].
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The rejects of one batch as rows of the rejects file (`None` when there are none):
    /// `ids` is the batch's id column, `row_number` gives a row's number within `source_file`,
    /// `run_id` is the run's.
    pub fn rows(
        schema: &SchemaRef,
        rejects: &[Reject],
        ids: &ArrayRef,
        source_file: &str,
        row_number: impl Fn(usize) -> u64,
        run_id: &str,
    ) -> Result<Option<RecordBatch>, SinkError> {
        if rejects.is_empty() {
            return Ok(None);
        }
        let rows =
            arrow::array::UInt64Array::from_iter_values(rejects.iter().map(|r| r.row as u64));
        let mut columns: Vec<ArrayRef> = vec![
            as_written(&take(ids, &rows, None)?, schema.field(0))?,
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|_| source_file),
            )),
            Arc::new(Int64Array::from_iter_values(
                rejects.iter().map(|r| row_number(r.row) as i64),
            )),
        ];
        columns.extend(Reject::text_columns(rejects));
        columns.push(Arc::new(StringArray::from_iter_values(
            rejects.iter().map(|_| run_id),
        )));
        Ok(Some(RecordBatch::try_new(schema.clone(), columns)?))
    }

    /// Appends rows made by [`RejectWriter::rows`].
    pub fn write(&mut self, rows: &RecordBatch) -> Result<(), SinkError> {
        self.file.write(rows)
    }

    /// Closes the file; returns it as written.
    pub fn finish(self) -> Result<WrittenFile, SinkError> {
        let (path, rows, bytes, sha256) = self.file.finish()?;
        Ok(WrittenFile {
            path,
            tier: None,
            rows,
            bytes,
            sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Float64Array;
    use parquet::basic::{Encoding, PageType};

    /// The pages of each column of a one-row-group Parquet file: (page type, encoding).
    fn pages(path: &Path) -> Vec<(String, Vec<(PageType, Encoding)>)> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let row_group = reader.get_row_group(0).unwrap();
        (0..row_group.num_columns())
            .map(|column| {
                let name = row_group.metadata().column(column).column_path().string();
                let mut pages = row_group.get_column_page_reader(column).unwrap();
                let mut kinds = Vec::new();
                while let Some(page) = pages.get_next_page().unwrap() {
                    kinds.push((page.page_type(), page.encoding()));
                }
                (name, kinds)
            })
            .collect()
    }

    /// The id (named with a dot: one column, not a path) is written plain; a number column of
    /// few values keeps its dictionary; one of distinct values falls back to plain pages.
    #[test]
    fn number_columns_keep_a_dictionary_only_while_their_values_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("cust.id", DataType::Int64, false),
            Field::new("band", DataType::Float64, false),
            Field::new("scale", DataType::Float64, false),
        ]));
        let chains = Chains::new(true);
        let mut output = OutputWriter::new(
            dir.path(),
            PartitionBy::None,
            vec!["all".into()],
            schema.clone(),
            properties(
                Vec::new(),
                "cust.id",
                &["band".into(), "scale".into()],
                &[],
                OutputCompression::Zstd,
            ),
            &chains,
        )
        .unwrap();
        let rows = 5000;
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef,
                Arc::new(Float64Array::from_iter_values(
                    (0..rows).map(|i| (i % 5) as f64 * 10.0),
                )),
                Arc::new(Float64Array::from_iter_values(
                    (0..rows).map(|i| i as f64 * 0.37),
                )),
            ],
        )
        .unwrap();
        output
            .write(&batch, &vec![0; rows as usize], &chains.hold())
            .unwrap();
        output.finish().unwrap();
        let (dictionary, plain) = (
            (PageType::DICTIONARY_PAGE, Encoding::PLAIN),
            (PageType::DATA_PAGE, Encoding::PLAIN),
        );
        let indices = (PageType::DATA_PAGE, Encoding::RLE_DICTIONARY);
        assert_eq!(
            pages(&dir.path().join(DATA_DIR).join("part-00000.parquet")),
            [
                ("cust.id".to_string(), vec![plain]),
                ("band".to_string(), vec![dictionary, indices]),
                ("scale".to_string(), vec![dictionary, indices, plain]),
            ]
        );
    }

    /// Rows of a tier-partitioned output that are not grouped by tier are refused, not written
    /// into another tier's file; grouped ones land in their tiers' files.
    #[test]
    fn partitioned_rows_must_come_grouped_by_tier() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let chains = Chains::new(true);
        let mut output = OutputWriter::new(
            dir.path(),
            PartitionBy::Tier,
            vec!["top".into(), "rest".into()],
            schema.clone(),
            properties(Vec::new(), "id", &[], &[], OutputCompression::Zstd),
            &chains,
        )
        .unwrap();
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef],
        )
        .unwrap();
        let err = output
            .write(&batch, &[1, 0, 1], &chains.hold())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot assemble output rows: Invalid argument error: rows of a tier-partitioned \
             output must come grouped by tier"
        );
        output.write(&batch, &[0, 1, 1], &chains.hold()).unwrap();
        let files = output.finish().unwrap();
        let rows: Vec<(Option<String>, u64)> =
            files.iter().map(|f| (f.tier.clone(), f.rows)).collect();
        assert_eq!(
            rows,
            [(Some("top".to_string()), 1), (Some("rest".to_string()), 2)]
        );
    }

    /// The writeback is started on whole steps of bytes already in the file, never on bytes
    /// still in the buffer; the size and hash count every byte once.
    #[test]
    fn writeback_starts_every_step_on_bytes_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut hashing = Hashing {
            file: BufWriter::with_capacity(WRITE_BUFFER, File::create(&path).unwrap()),
            hasher: Sha256::new(),
            bytes: 0,
            unsynced: 0,
        };
        let piece = vec![7u8; 100_000];
        let mut started = Vec::new();
        while started.len() < 3 && hashing.bytes < 4 * WRITEBACK_STEP {
            hashing.write_all(&piece).unwrap();
            if *started.last().unwrap_or(&0) != hashing.unsynced {
                started.push(hashing.unsynced);
            }
            assert!(hashing.unsynced <= hashing.bytes - hashing.file.buffer().len() as u64);
        }
        // Started three times: each once a step more had reached the file, and no later than
        // the buffer and the piece after that.
        assert_eq!(started.len(), 3, "{started:?}");
        let mut before = 0;
        for at in &started {
            let gap = at - before;
            assert!(
                (WRITEBACK_STEP..WRITEBACK_STEP + (WRITE_BUFFER + piece.len()) as u64)
                    .contains(&gap),
                "{started:?}"
            );
            before = *at;
        }
        hashing.flush().unwrap();
        assert_eq!(fs::read(&path).unwrap().len() as u64, hashing.bytes);
        assert_eq!(
            hex::encode(hashing.hasher.finalize()),
            hex::encode(Sha256::digest(fs::read(&path).unwrap()))
        );
    }
}
