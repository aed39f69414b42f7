//! Stage 3 of the data path: Parquet input files to a projected stream of `RecordBatch`es.
//!
//! Opening reads only the footers (schema, row counts); [`Source::batches`] then streams row
//! groups with a projection, so only the columns the plan needs are decoded and the whole input
//! is never in memory. Each batch remembers its file and first row for reject reports.
//!
//! Files are local or in object storage ([`Location`]); a remote file is read through the same
//! footer and projection, fetching only the byte ranges of the columns and row groups read.
//! Every column chunk's pages are walked before parquet decodes them ([`page_walk`]): a local
//! file's all when it is opened by [`Source::open`], or, opened by [`Source::open_footers`], each
//! read's chunks as the read starts ([`PageWalk`]); a remote file's as each chunk is fetched
//! ([`remote_walk`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderBuilder, ArrowReaderMetadata, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use read_budget::BudgetedFile;

use crate::store::{block_on, Location, Remote, StoreError};

mod footer_walk;
mod lookup;
mod page_walk;
mod read_budget;
mod remote_walk;
pub use lookup::Found;

/// One input file, as its footer describes it.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// The file's path, or its URL in object storage (as messages and the manifest show it).
    pub path: PathBuf,
    at: Location,
    pub bytes: u64,
    pub rows: u64,
    pub row_groups: usize,
    metadata: ArrowReaderMetadata,
    /// See [`InputFile::footer_sha256`]; hashed from the bytes the footer walk read.
    footer_sha256: String,
}

impl InputFile {
    /// The rows of each row group, from the footer: a distributed run makes one task of each
    /// ([`crate::exec::tasks`]).
    pub fn row_group_rows(&self) -> Vec<u64> {
        self.metadata
            .metadata()
            .row_groups()
            .iter()
            .map(|group| group.num_rows().max(0) as u64)
            .collect()
    }
}

/// The input of a pipeline: its files, in order, and their common schema.
#[derive(Debug)]
pub struct Source {
    files: Vec<InputFile>,
    file_schema: SchemaRef,
    schema: SchemaRef,
    rename: Vec<(String, String)>,
    /// When its local files' pages are walked.
    walk: PageWalk,
    /// The column chunks reads have walked ([`PageWalk::WhenRead`]), by file (its index in
    /// `files`), row group and Parquet leaf: each is walked once, not once a pass (a
    /// distributed task reads its row group once in each of up to three passes), as the walk
    /// when opened walks each once for every pass of a run.
    walked: std::sync::Mutex<std::collections::HashSet<(usize, usize, usize)>>,
}

/// When a source walks its local files' pages ([`page_walk`]) before parquet decodes them. A
/// remote file's chunks are walked as they are fetched either way ([`remote_walk`]): they are
/// not there to walk before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageWalk {
    /// Every page of every file when the source is opened ([`Source::open`]): a damaged input
    /// is refused before a row is read, as `run`, `check`, `explain` and `test` want, whatever
    /// the rows later read.
    WhenOpened,
    /// The column chunks each read is to decode (the projected columns of the row groups it
    /// reads), before it decodes any ([`Source::open_footers`]): what is never read is never
    /// walked. A damaged chunk fails the read in the words of the walk when opened. A row
    /// group's read ([`Source::row_group_batches`], [`Source::find`]) walks that row group's;
    /// [`Source::batches`] walks a file's every row group when it starts reading the file.
    WhenRead,
}

/// Rows decoded at a time by every pass over the input (chosen by measurement against 8,192
/// and 65,536).
pub const BATCH_ROWS: usize = 32768;

/// The rows a run reads: the input, cut to `--limit` rows or sampled by `--sample`. Every pass
/// of a run (derive, whole-run, scoring) reads the same rows in the same batches.
#[derive(Debug, Clone, Copy)]
pub struct Scan<'a> {
    pub source: &'a Source,
    /// Read only the first `limit` rows.
    pub limit: Option<u64>,
    /// Keep only a sample of the rows read.
    pub sample: Option<Sample>,
}

impl<'a> Scan<'a> {
    /// Every row of `source`.
    pub fn all(source: &'a Source) -> Self {
        Self {
            source,
            limit: None,
            sample: None,
        }
    }

    /// Streams the named columns (names after rename) of the scanned rows, in batches of
    /// [`BATCH_ROWS`].
    pub fn batches(&self, columns: &[String]) -> Batches<'a> {
        self.source
            .batches(columns, BATCH_ROWS, self.limit, self.sample)
    }

    /// Rows read from the files (before a sample keeps some of them).
    pub fn rows_read(&self) -> u64 {
        let total = self.source.total_rows();
        self.limit.map_or(total, |limit| limit.min(total))
    }

    /// Rows the run expects to score: every row read, or the expected size of the sample (known
    /// exactly only at the end).
    pub fn rows_expected(&self) -> u64 {
        let read = self.rows_read();
        match self.sample {
            Some(sample) => (read as f64 * sample.fraction).ceil() as u64,
            None => read,
        }
    }

    /// The error for a batch whose columns could not be decoded or converted.
    pub fn decode_error(
        &self,
        batch: &SourceBatch,
        error: arrow::error::ArrowError,
    ) -> SourceError {
        SourceError::Decode {
            path: self.source.files()[batch.file].path.clone(),
            first_row: batch.first_row,
            source: error,
        }
    }
}

/// A batch of input rows and where they came from.
#[derive(Debug, Clone)]
pub struct SourceBatch {
    /// Projected, renamed columns.
    pub batch: RecordBatch,
    /// Index into [`Source::files`].
    pub file: usize,
    /// Row number (0-based, within the file) of the batch's first row.
    pub first_row: u64,
    /// Row numbers of every row when a sample left gaps; `None` when rows are consecutive.
    pub sampled_rows: Option<Arc<[u64]>>,
}

impl SourceBatch {
    /// Row number (0-based, within its file) of row `i` of the batch.
    pub fn row_number(&self, i: usize) -> u64 {
        match &self.sampled_rows {
            Some(rows) => rows[i],
            None => self.first_row + i as u64,
        }
    }
}

/// A deterministic sample of rows: each row is kept or not by a hash of the seed, its file and
/// its row number, so the sample does not depend on batch sizes or threads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Share of rows kept, 0..=1.
    pub fraction: f64,
    pub seed: u64,
}

impl Sample {
    /// Whether row `row` of file `file` is in the sample.
    pub fn keeps(&self, file: usize, row: u64) -> bool {
        // The seed and the row's position are each mixed before they meet, so two seeds give
        // unrelated samples (a plain XOR of seed and row would only relabel the rows).
        let key = splitmix64(splitmix64(row) ^ (file as u64).rotate_left(40));
        let x = splitmix64(key ^ splitmix64(self.seed ^ 0x5EED_5EED_5EED_5EED));
        ((x >> 11) as f64 / (1u64 << 53) as f64) < self.fraction
    }
}

/// splitmix64's finaliser: a well-mixed, portable 64-bit hash.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Why the input could not be read. These are data failures (exit code 3).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SourceError {
    /// Nothing exists at the input path.
    #[error("input {} does not exist", path.display())]
    #[diagnostic(
        code(source::missing),
        help("input.path is relative to the pipeline file; check it, or generate data with `tierscore gen`")
    )]
    Missing { path: PathBuf },
    /// A directory or glob that matches no Parquet file.
    #[error("input {} matches no Parquet files", path.display())]
    #[diagnostic(
        code(source::no_files),
        help("a directory is searched for *.parquet files (names starting with `_` or `.` are skipped)")
    )]
    NoFiles { path: PathBuf },
    /// The file system refused.
    #[error("cannot read {}: {source}", path.display())]
    #[diagnostic(code(source::io))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not Parquet, or is damaged.
    #[error("{} is not a readable Parquet file: {source}", path.display())]
    #[diagnostic(
        code(source::corrupt),
        help("the file may be truncated or not Parquet at all; rewrite it from its source")
    )]
    Corrupt {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    /// The file is something else than Parquet: CSV, JSON, compressed text …
    #[error("{} is not a Parquet file: it holds {looks_like}", path.display())]
    #[diagnostic(
        code(source::not_parquet),
        help("tierscore reads Parquet (a file starting with `PAR1`); convert it first, e.g. with DuckDB: COPY (SELECT * FROM 'customers.csv') TO 'customers.parquet' (FORMAT parquet)")
    )]
    NotParquet { path: PathBuf, looks_like: String },
    /// The object store could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    /// Decoding rows failed part-way.
    #[error("{} (rows from {first_row}): {source}", path.display())]
    #[diagnostic(
        code(source::decode),
        help("the file is damaged; rewrite it from its source")
    )]
    Decode {
        path: PathBuf,
        first_row: u64,
        source: arrow::error::ArrowError,
    },
    /// Files of one input disagree on their columns.
    #[error("{} has other columns than {}: {detail}", path.display(), first.display())]
    #[diagnostic(
        code(source::schema_mismatch),
        help("every file of one input must have the same columns and types")
    )]
    SchemaMismatch {
        path: PathBuf,
        first: PathBuf,
        detail: String,
    },
    /// Two top-level columns of the input share a name: which one a rule or the output read
    /// would be a guess (it was silently the first).
    #[error("{} has two columns named `{name}`", path.display())]
    #[diagnostic(
        code(source::duplicate_column),
        help("columns are read by name: rename one of them in the file")
    )]
    DuplicateColumn { path: PathBuf, name: String },
    /// A column chunk is compressed with a codec tierscore cannot read: LZO (no decoder; the
    /// Parquet format deprecates it and no common writer produces it). Refused when the file is
    /// opened rather than halfway through a run, and not taken for damage.
    #[error(
        "{} compresses column `{column}` (row group {group}) with {codec}, which tierscore cannot read",
        path.display()
    )]
    #[diagnostic(
        code(source::codec),
        help("tierscore reads uncompressed, zstd, snappy, gzip, brotli and lz4 Parquet, local or in object storage; rewrite the file with zstd or snappy, e.g. with DuckDB: COPY (SELECT * FROM 'in.parquet') TO 'out.parquet' (FORMAT parquet, COMPRESSION zstd)")
    )]
    Codec {
        path: PathBuf,
        column: String,
        group: usize,
        codec: String,
    },
}

impl Source {
    /// Resolves the input path (file, directory or glob) and reads every file's footer, and
    /// walks every page header of each local file ([`page_walk`]) before any is decoded, on the
    /// threads of the rayon pool it is called in ([`PageWalk::WhenOpened`]).
    pub fn open(path: &Path, rename: &[(String, String)]) -> Result<Self, SourceError> {
        Self::opened(path, rename, PageWalk::WhenOpened)
    }

    /// [`Source::open`] reading the footers only, with their checks; a local file's pages are
    /// walked as they are read instead ([`PageWalk::WhenRead`]). The walk when opened reads
    /// every page header of a local input, all of a 10M-row file's, on every core, and inflates
    /// every page of a gzip one; this is for readers of a part of the input or none: a plan
    /// that reads no row of it (Python's `Pipeline.score` scores the batches it is handed; it
    /// needs the input's schema and footer statistics) and a distributed run's executors, each
    /// reading the row groups of its tasks ([`crate::exec::tasks`]).
    pub fn open_footers(path: &Path, rename: &[(String, String)]) -> Result<Self, SourceError> {
        Self::opened(path, rename, PageWalk::WhenRead)
    }

    fn opened(
        path: &Path,
        rename: &[(String, String)],
        walk: PageWalk,
    ) -> Result<Self, SourceError> {
        // Each file's footer (and, opened so, its pages) on the threads of the pool this is
        // called in: an input of many small files opens several files at once. The failure
        // given is the first in file order, whatever the threads.
        use rayon::prelude::*;
        let opened: Vec<Result<InputFile, SourceError>> = resolve(path)?
            .into_par_iter()
            .map(|(at, size)| open_file(at, size, walk))
            .collect();
        let files = opened.into_iter().collect::<Result<Vec<_>, _>>()?;
        let file_schema = unified_schema(&files)?;
        let mut names = std::collections::HashSet::new();
        if let Some(twice) = file_schema
            .fields()
            .iter()
            .find(|f| !names.insert(f.name().as_str()))
        {
            return Err(SourceError::DuplicateColumn {
                path: files[0].path.clone(),
                name: twice.name().clone(),
            });
        }
        let schema = Arc::new(Schema::new(
            file_schema
                .fields()
                .iter()
                .map(|f| {
                    let name = renamed(rename, f.name());
                    Field::new(name, f.data_type().clone(), f.is_nullable())
                })
                .collect::<Vec<_>>(),
        ));
        Ok(Self {
            files,
            file_schema,
            schema,
            rename: rename.to_vec(),
            walk,
            walked: Default::default(),
        })
    }

    /// The input files, in reading order.
    pub fn files(&self) -> &[InputFile] {
        &self.files
    }

    /// Columns as the files name them.
    pub fn file_schema(&self) -> &SchemaRef {
        &self.file_schema
    }

    /// Columns as scripts and output see them (after `rename`).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Whether the footers prove that column `name` (name after rename) holds no null: every
    /// row group of every file has statistics for each of the column's Parquet leaves, and each
    /// counts 0 nulls. Files from pandas, pyarrow or Spark mark every column nullable whether
    /// or not a value is null; this tells the two apart. `false` when statistics are missing.
    pub fn null_free(&self, name: &str) -> bool {
        let file_name = self.file_name_of(name);
        self.files.iter().all(|file| {
            let metadata = file.metadata.metadata();
            let descr = metadata.file_metadata().schema_descr();
            let leaves: Vec<usize> = (0..descr.num_columns())
                .filter(|&i| descr.get_column_root(i).name() == file_name)
                .collect();
            !leaves.is_empty()
                && metadata.row_groups().iter().all(|group| {
                    leaves.iter().all(|&leaf| {
                        group
                            .column(leaf)
                            .statistics()
                            .is_some_and(|stats| stats.null_count_opt() == Some(0))
                    })
                })
        })
    }

    /// Position in the whole input (all files in order) of row `row` of file `file`.
    pub fn position(&self, file: usize, row: u64) -> u64 {
        self.files[..file].iter().map(|f| f.rows).sum::<u64>() + row
    }

    /// Rows in all files, from the footers.
    pub fn total_rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Streams the named columns (names after rename) of the first `limit` rows, or of a
    /// sample of them.
    pub fn batches(
        &self,
        columns: &[String],
        batch_size: usize,
        limit: Option<u64>,
        sample: Option<Sample>,
    ) -> Batches<'_> {
        Batches {
            source: self,
            schema: self.projected_schema(columns),
            batch_size,
            sample,
            remaining: limit.unwrap_or(u64::MAX),
            file: 0,
            reader: None,
            row: 0,
        }
    }
}

impl Source {
    /// Streams the named columns (names after rename) of row group `group` of file `file`,
    /// whose first row is row `first_row` of the file, in batches of [`BATCH_ROWS`]: one task
    /// of a distributed run reads exactly the rows a run reads there, in the same order.
    pub fn row_group_batches(
        &self,
        columns: &[String],
        file: usize,
        group: usize,
        first_row: u64,
    ) -> Result<Vec<SourceBatch>, SourceError> {
        let input = &self.files[file];
        let schema = self.projected_schema(columns);
        let reader = self.reader(file, &schema, BATCH_ROWS, Some(vec![group]))?;
        let mut row = first_row;
        let mut batches = Vec::new();
        for batch in reader {
            let failed = |error| read_failure(&input.path, row, error);
            let batch = self
                .conform(&batch.map_err(failed)?, &schema)
                .map_err(failed)?;
            let rows = batch.num_rows() as u64;
            batches.push(SourceBatch {
                batch,
                file,
                first_row: row,
                sampled_rows: None,
            });
            row += rows;
        }
        Ok(batches)
    }

    /// The renamed schema of the named columns (names after rename), in schema order.
    fn projected_schema(&self, columns: &[String]) -> SchemaRef {
        let indices: Vec<usize> = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| columns.contains(f.name()))
            .map(|(i, _)| i)
            .collect();
        Arc::new(
            self.schema
                .project(&indices)
                .unwrap_or_else(|_| Schema::empty()),
        )
    }

    /// The name the files give a column that scripts know by `name`.
    fn file_name_of<'a>(&'a self, name: &'a str) -> &'a str {
        self.rename
            .iter()
            .find(|(_, to)| to == name)
            .map_or(name, |(from, _)| from.as_str())
    }

    /// A reader of file `index` decoding only the columns of `schema` (found by name in that
    /// file, so files with the same columns in another order read right), optionally some row
    /// groups (every one when `None`). A local file opened by [`Source::open_footers`] has the
    /// chunks the reader decodes walked first ([`Source::walk_read`]).
    fn reader(
        &self,
        index: usize,
        schema: &Schema,
        batch_size: usize,
        row_groups: Option<Vec<usize>>,
    ) -> Result<FileReader, SourceError> {
        let file = &self.files[index];
        let corrupt = |source| SourceError::Corrupt {
            path: file.path.clone(),
            source,
        };
        match &file.at {
            Location::Local(path) => {
                let io = |source| SourceError::Io {
                    path: file.path.clone(),
                    source,
                };
                let (opened, _) = crate::local_file::open(path).map_err(io)?;
                if self.walk == PageWalk::WhenRead {
                    self.walk_read(index, &opened, schema, row_groups.as_deref())?;
                }
                let handle = BudgetedFile::new(opened).map_err(io)?;
                let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(
                    handle,
                    file.metadata.clone(),
                );
                let builder = self.project(file, builder, schema, batch_size, row_groups);
                Ok(FileReader::Local(builder.build().map_err(corrupt)?))
            }
            Location::Remote(remote) => {
                let walked = remote_walk::Walked::new(
                    remote.parquet_reader(file.bytes),
                    file.metadata.metadata().clone(),
                    row_groups.as_deref(),
                );
                let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(
                    walked,
                    file.metadata.clone(),
                );
                let builder = self.project(file, builder, schema, batch_size, row_groups);
                Ok(FileReader::Remote(Box::new(
                    builder.build().map_err(corrupt)?,
                )))
            }
        }
    }

    /// Walks the pages of the column chunks a reader of file `index` (`handle`, opened)
    /// decodes: the Parquet leaves of `schema`'s columns in each of `row_groups` (every one when
    /// `None`), in file order, before any is decoded, each once ([`Source::walked`]); the first
    /// damaged chunk's error is the one [`Source::open`] gives for it. On the calling thread,
    /// not a rayon pool: a distributed task reads on the thread its engine gave it, and its
    /// executor was given no other.
    fn walk_read(
        &self,
        index: usize,
        handle: &std::fs::File,
        schema: &Schema,
        row_groups: Option<&[usize]>,
    ) -> Result<(), SourceError> {
        let file = &self.files[index];
        let metadata = file.metadata.metadata();
        let roots = self.projected_roots(file, schema);
        let descr = metadata.file_metadata().schema_descr();
        let leaves: Vec<usize> = (0..descr.num_columns())
            .filter(|&leaf| roots.contains(&descr.get_column_root_idx(leaf)))
            .collect();
        let groups: Vec<usize> =
            row_groups.map_or_else(|| (0..metadata.num_row_groups()).collect(), <[_]>::to_vec);
        for group in groups {
            let Some(row_group) = metadata.row_groups().get(group) else {
                continue;
            };
            for &leaf in &leaves {
                let chunk = (index, group, leaf);
                if self.walked_chunks().contains(&chunk) {
                    continue;
                }
                page_walk::check_chunk(handle, group, row_group.column(leaf))
                    .map_err(|message| damaged(&file.path, message))?;
                self.walked_chunks().insert(chunk);
            }
        }
        Ok(())
    }

    /// [`Source::walked`], locked (a panic elsewhere while it was held left it whole: it is
    /// only read or added to).
    fn walked_chunks(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashSet<(usize, usize, usize)>> {
        self.walked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The indices, among `file`'s top-level columns, of the columns of `schema` (by name).
    fn projected_roots(&self, file: &InputFile, schema: &Schema) -> Vec<usize> {
        let wanted: Vec<&str> = schema
            .fields()
            .iter()
            .map(|f| self.file_name_of(f.name()))
            .collect();
        file.metadata
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| wanted.contains(&f.name().as_str()))
            .map(|(i, _)| i)
            .collect()
    }

    /// `builder` set to decode only the columns of `schema` (by name), in batches of
    /// `batch_size`, optionally only some row groups.
    fn project<T>(
        &self,
        file: &InputFile,
        builder: ArrowReaderBuilder<T>,
        schema: &Schema,
        batch_size: usize,
        row_groups: Option<Vec<usize>>,
    ) -> ArrowReaderBuilder<T> {
        let indices = self.projected_roots(file, schema);
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        let mut builder = builder.with_projection(mask).with_batch_size(batch_size);
        if let Some(groups) = row_groups {
            builder = builder.with_row_groups(groups);
        }
        builder
    }

    /// A decoded batch with its columns renamed and in `schema`'s order, picked by name.
    fn conform(
        &self,
        batch: &RecordBatch,
        schema: &SchemaRef,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let name = self.file_name_of(field.name());
                let column = batch.column_by_name(name).ok_or_else(|| {
                    arrow::error::ArrowError::SchemaError(format!(
                        "column `{name}` was not decoded"
                    ))
                })?;
                // A file whose writer chose other physical or nominal types (see
                // `unified_schema`) is cast to the input's one schema.
                if column.data_type() == field.data_type() {
                    Ok(column.clone())
                } else {
                    arrow::compute::cast(column, field.data_type())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(schema.clone(), columns)
    }
}

fn renamed<'a>(rename: &'a [(String, String)], name: &'a str) -> &'a str {
    rename
        .iter()
        .find(|(from, _)| from == name)
        .map_or(name, |(_, to)| to.as_str())
}

/// The one schema of an input's files, checked to agree on their logical columns.
///
/// Writers differ in what they call the same data: pyarrow and Spark name a list's child
/// `element` where arrow-rs names it `item`, pandas marks every field nullable, strings come as
/// Utf8, LargeUtf8 or Utf8View, dictionary-encoded or not. Files are compared by [`logical`]
/// type, ignoring these, and by name (never position). Where every file has exactly the same
/// type, that type is kept; where they differ only so, the column takes its logical type and
/// each file's batches are cast to it when read. A field is nullable when it is in any file.
fn unified_schema(files: &[InputFile]) -> Result<SchemaRef, SourceError> {
    let first = files[0].metadata.schema();
    for file in &files[1..] {
        if let Some(detail) = schema_difference(first, file.metadata.schema()) {
            return Err(SourceError::SchemaMismatch {
                path: file.path.clone(),
                first: files[0].path.clone(),
                detail,
            });
        }
    }
    if files.len() == 1 {
        return Ok(first.clone());
    }
    let fields: Vec<Field> = first
        .fields()
        .iter()
        .map(|field| {
            let others = files[1..].iter().map(|file| {
                file.metadata
                    .schema()
                    .field_with_name(field.name())
                    .expect("schema_difference checked every name")
            });
            let mut nullable = field.is_nullable();
            let mut same = true;
            for other in others {
                nullable |= other.is_nullable();
                same &= other.data_type() == field.data_type();
            }
            let data_type = if same {
                field.data_type().clone()
            } else {
                logical(field.data_type())
            };
            Field::new(field.name(), data_type, nullable).with_metadata(field.metadata().clone())
        })
        .collect();
    Ok(Arc::new(Schema::new_with_metadata(
        fields,
        first.metadata().clone(),
    )))
}

/// A type as scripts and readers of the output see it: strings of every encoding as Utf8,
/// dictionaries as their values, list children named `item` and nested fields nullable.
fn logical(data_type: &DataType) -> DataType {
    let item = |child: &FieldRef| Arc::new(Field::new_list_field(logical(child.data_type()), true));
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Dictionary(_, value) => logical(value),
        DataType::List(child) => DataType::List(item(child)),
        DataType::LargeList(child) => DataType::LargeList(item(child)),
        DataType::FixedSizeList(child, size) => DataType::FixedSizeList(item(child), *size),
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Field::new(f.name(), logical(f.data_type()), true))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn schema_difference(first: &Schema, other: &Schema) -> Option<String> {
    for field in first.fields() {
        match other.field_with_name(field.name()) {
            Err(_) => return Some(format!("column `{}` is missing", field.name())),
            Ok(f) if logical(f.data_type()) != logical(field.data_type()) => {
                return Some(format!(
                    "column `{}` is {} here and {} there",
                    field.name(),
                    logical(f.data_type()),
                    logical(field.data_type())
                ))
            }
            Ok(_) => {}
        }
    }
    other
        .fields()
        .iter()
        .find(|f| first.field_with_name(f.name()).is_err())
        .map(|f| format!("column `{}` is extra", f.name()))
}

impl InputFile {
    /// The sha256 (hex) of the file's size and footer (its metadata, the length and `PAR1` at
    /// the end): a fingerprint that changes with the file's data in practice, read without its
    /// data (hashed when the file is opened, from the bytes the footer walk read).
    pub fn footer_sha256(&self) -> &str {
        &self.footer_sha256
    }
}

/// The bytes `range` of the file at `at` (`path` as the user gave it, for errors).
fn read_range(
    path: &Path,
    at: &Location,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, SourceError> {
    match at {
        Location::Local(local) => {
            read_local_range(local, range).map_err(|source| SourceError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
        Location::Remote(remote) => Ok(remote.read_range(range)?.to_vec()),
    }
}

/// Loads a file's metadata with `load`, a panic of parquet's on a damaged footer becoming its
/// error (as [`FileReader::next`] does for the data).
fn load_guarded(
    load: impl FnOnce() -> parquet::errors::Result<ArrowReaderMetadata>,
) -> parquet::errors::Result<ArrowReaderMetadata> {
    crate::panic_guard::catch(load).unwrap_or_else(|message| {
        Err(parquet::errors::ParquetError::General(format!(
            "the Parquet reader failed on this file's footer ({message})"
        )))
    })
}

/// Walks the footer of the file at `at` (`bytes` long) as Thrift before parquet decodes it
/// ([`footer_walk`]: a forged footer could keep parquet busy for minutes), and returns
/// [`InputFile::footer_sha256`] of it. A file too short for a footer, or without `PAR1` at its
/// end, is left to parquet, whose errors say so (`None`).
fn walk_footer(path: &Path, at: &Location, bytes: u64) -> Result<Option<String>, SourceError> {
    use sha2::{Digest, Sha256};
    let Some(start) = bytes.checked_sub(8).filter(|start| *start >= 4) else {
        return Ok(None);
    };
    let tail = read_range(path, at, start..bytes)?;
    if tail.get(4..) != Some(b"PAR1".as_slice()) {
        return Ok(None);
    }
    let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let Some(footer_start) = start.checked_sub(length) else {
        return Ok(None);
    };
    let footer = read_range(path, at, footer_start..start)?;
    footer_walk::check(&footer).map_err(|message| SourceError::Corrupt {
        path: path.to_path_buf(),
        source: parquet::errors::ParquetError::General(message),
    })?;
    let mut hasher = Sha256::new();
    hasher.update(bytes.to_le_bytes());
    hasher.update(&footer);
    hasher.update(&tail);
    Ok(Some(hex::encode(hasher.finalize())))
}

/// Opens one input file found at `at` (`size` as listed, for a remote one): its footer walked
/// and loaded, its row count and codecs checked, and, [`PageWalk::WhenOpened`], a local file's
/// pages walked.
fn open_file(at: Location, size: Option<u64>, walk: PageWalk) -> Result<InputFile, SourceError> {
    let path = PathBuf::from(at.display());
    let (bytes, walked, loaded, local) = match &at {
        Location::Local(local) => {
            let io = |source| SourceError::Io {
                path: path.clone(),
                source,
            };
            let (file, metadata) = crate::local_file::open(local).map_err(io)?;
            let bytes = metadata.len();
            let walked = walk_footer(&path, &at, bytes)?;
            let loaded = load_guarded(|| ArrowReaderMetadata::load(&file, Default::default()));
            (bytes, walked, loaded, Some(file))
        }
        Location::Remote(remote) => {
            let bytes = size.unwrap_or_default();
            let walked = walk_footer(&path, &at, bytes)?;
            let mut reader = remote.parquet_reader(bytes);
            let loaded = load_guarded(|| {
                block_on(ArrowReaderMetadata::load_async(
                    &mut reader,
                    Default::default(),
                ))
            });
            let loaded = match loaded {
                Err(error) => Err(remote.parquet_failure(error)?),
                loaded => loaded,
            };
            (bytes, walked, loaded, None)
        }
    };
    let metadata = loaded.map_err(|source| match sniff(&at) {
        Some(looks_like) => SourceError::NotParquet {
            path: path.clone(),
            looks_like,
        },
        None => SourceError::Corrupt {
            path: path.clone(),
            source,
        },
    })?;
    let rows = check_footer(&path, bytes, metadata.metadata())?;
    check_codecs(&path, metadata.metadata())?;
    if let (PageWalk::WhenOpened, Some(file)) = (walk, &local) {
        page_walk::check(file, metadata.metadata()).map_err(|message| damaged(&path, message))?;
    }
    let row_groups = metadata.metadata().num_row_groups();
    // parquet read a footer, so the walk found one: `None` cannot meet a loaded file.
    let footer_sha256 = walked.ok_or_else(|| SourceError::Corrupt {
        path: path.clone(),
        source: parquet::errors::ParquetError::General("its footer cannot be read".into()),
    })?;
    Ok(InputFile {
        path,
        at,
        bytes,
        rows,
        row_groups,
        metadata,
        footer_sha256,
    })
}

/// The bytes `range` of the local file `path`.
fn read_local_range(path: &Path, range: std::ops::Range<u64>) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let (mut file, _) = crate::local_file::open(path)?;
    file.seek(SeekFrom::Start(range.start))?;
    let mut bytes = Vec::new();
    file.take(range.end.saturating_sub(range.start))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What a file that is not Parquet looks like, from its first bytes; `None` when it starts as
/// Parquet does (then it is a damaged Parquet file).
fn sniff(at: &Location) -> Option<String> {
    let head = match at {
        Location::Local(path) => read_local_range(path, 0..512).ok()?,
        Location::Remote(remote) => {
            let size = remote.size().ok()??;
            remote.read_range(0..size.min(512)).ok()?.to_vec()
        }
    };
    if head.starts_with(b"PAR1") {
        return None;
    }
    if head.is_empty() {
        return Some("nothing (the file is empty)".into());
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some("gzip-compressed data".into());
    }
    let text = match std::str::from_utf8(&head) {
        Ok(text) => text,
        // A multi-byte character cut at 512 bytes is still text.
        Err(e) if e.valid_up_to() + 4 > head.len() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()?
        }
        Err(_) => return Some("binary data in another format".into()),
    };
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return Some("JSON text".into());
    }
    let first_line = trimmed.lines().next().unwrap_or("");
    let shown: String = first_line.chars().take(60).collect();
    if first_line.contains([',', ';', '\t']) {
        Some(format!("CSV text (its first line is `{shown}`)"))
    } else {
        Some(format!("text (its first line is `{shown}`)"))
    }
}

/// A file, every `*.parquet` below a directory or prefix (sorted), or every file a glob
/// matches (sorted); with each remote file its size, from the listing.
fn resolve(path: &Path) -> Result<Vec<(Location, Option<u64>)>, SourceError> {
    let text = path.to_string_lossy();
    let glob_at = crate::store::glob_start(&text);
    let at = match glob_at {
        // A glob in object storage lists the prefix before its first wildcard.
        Some(at) if crate::store::url_scheme(&text).is_some() => {
            Location::of(Path::new(&text[..text[..at].rfind('/').unwrap_or(at)]))?
        }
        _ => Location::of(path)?,
    };
    let local = match at {
        Location::Remote(remote) => return resolve_remote(&remote, path, glob_at.is_some()),
        Location::Local(local) => local,
    };
    let text = local.to_string_lossy();
    let mut found = Vec::new();
    if glob_at.is_some() {
        let entries = glob::glob(&text).map_err(|err| SourceError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, err.to_string()),
        })?;
        found.extend(entries.filter_map(Result::ok).filter(|p| p.is_file()));
    } else if local.is_dir() {
        collect_parquet(&local, &mut found)?;
    } else if local.exists() {
        // A file, or a named pipe or a device, which opening it refuses (see `local_file`).
        return Ok(vec![(Location::Local(local), None)]);
    } else {
        return Err(SourceError::Missing {
            path: path.to_path_buf(),
        });
    }
    found.sort();
    if found.is_empty() {
        return Err(SourceError::NoFiles {
            path: path.to_path_buf(),
        });
    }
    Ok(found
        .into_iter()
        .map(|p| (Location::Local(p), None))
        .collect())
}

/// The remote counterpart of [`resolve`]: the object `remote` names, or the `*.parquet` objects
/// below it as a folder (keys with a part starting with `_` or `.` skipped), or, for a `glob`,
/// the objects below `remote` (the glob's fixed prefix) whose URL matches `path`.
fn resolve_remote(
    remote: &Remote,
    path: &Path,
    glob: bool,
) -> Result<Vec<(Location, Option<u64>)>, SourceError> {
    let found: Vec<(Location, Option<u64>)> = if glob {
        let pattern =
            glob::Pattern::new(&path.to_string_lossy()).map_err(|err| SourceError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, err.to_string()),
            })?;
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..Default::default()
        };
        remote
            .list()?
            .into_iter()
            .filter(|(object, _)| pattern.matches_with(&object.url(), options))
            .map(|(object, size)| (Location::Remote(object), Some(size)))
            .collect()
    } else {
        if let Some(size) = remote.size()? {
            return Ok(vec![(Location::Remote(remote.clone()), Some(size))]);
        }
        let below = remote.list()?;
        if below.is_empty() {
            return Err(SourceError::Missing {
                path: path.to_path_buf(),
            });
        }
        below
            .into_iter()
            .filter(|(object, _)| {
                let relative = remote.relative(object).unwrap_or_default();
                relative.ends_with(".parquet")
                    && !relative.split('/').any(|part| part.starts_with(['.', '_']))
            })
            .map(|(object, size)| (Location::Remote(object), Some(size)))
            .collect()
    };
    if found.is_empty() {
        return Err(SourceError::NoFiles {
            path: path.to_path_buf(),
        });
    }
    Ok(found)
}

fn collect_parquet(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SourceError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| SourceError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(['.', '_']) {
            continue;
        }
        if path.is_dir() {
            collect_parquet(&path, found)?;
        } else if name.ends_with(".parquet") {
            found.push(path);
        }
    }
    Ok(())
}

/// Checks what a damaged footer can claim before anything is read, and returns the file's row
/// count: every column chunk must lie inside the file's `bytes` (a truncated file's footer places
/// them past its end, which sends parquet's page reader into a loop of reads), and the row
/// groups' counts must be non-negative and add up to the file's (parquet sums them into a
/// `usize` while decoding, which overflows on forged counts).
fn check_footer(
    path: &Path,
    bytes: u64,
    metadata: &parquet::file::metadata::ParquetMetaData,
) -> Result<u64, SourceError> {
    let corrupt = |message: String| SourceError::Corrupt {
        path: path.to_path_buf(),
        source: parquet::errors::ParquetError::General(message),
    };
    let mut rows: u64 = 0;
    for (group, row_group) in metadata.row_groups().iter().enumerate() {
        for chunk in row_group.columns() {
            let start = chunk
                .dictionary_page_offset()
                .unwrap_or(chunk.data_page_offset());
            let end = u64::try_from(start)
                .ok()
                .zip(u64::try_from(chunk.compressed_size()).ok())
                .and_then(|(start, size)| start.checked_add(size));
            if end.is_none_or(|end| end > bytes) {
                return Err(corrupt(format!(
                    "column {} of row group {group} lies outside the file's {bytes} bytes \
                     (the file is truncated or its footer is damaged)",
                    chunk.column_path()
                )));
            }
        }
        rows = u64::try_from(row_group.num_rows())
            .ok()
            .and_then(|group_rows| rows.checked_add(group_rows))
            .filter(|rows| i64::try_from(*rows).is_ok())
            .ok_or_else(|| {
                corrupt(format!(
                    "row group {group} claims {} rows, which cannot be (the footer is damaged)",
                    row_group.num_rows()
                ))
            })?;
    }
    let claimed = metadata.file_metadata().num_rows();
    if u64::try_from(claimed) != Ok(rows) {
        return Err(corrupt(format!(
            "the footer claims {claimed} rows but its row groups hold {rows} (the footer is damaged)"
        )));
    }
    Ok(rows)
}

/// Refuses a file with a column chunk in a codec tierscore cannot read: LZO. Every other
/// codec's pages are walked before they are decoded, local or remote ([`page_walk`]).
fn check_codecs(
    path: &Path,
    metadata: &parquet::file::metadata::ParquetMetaData,
) -> Result<(), SourceError> {
    for (group, row_group) in metadata.row_groups().iter().enumerate() {
        for chunk in row_group.columns() {
            if chunk.compression() == parquet::basic::Compression::LZO {
                return Err(SourceError::Codec {
                    path: path.to_path_buf(),
                    column: chunk.column_path().string(),
                    group,
                    codec: "LZO".to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The error for the file at `path` found damaged, saying how (`message`).
fn damaged(path: &Path, message: String) -> SourceError {
    SourceError::Corrupt {
        path: path.to_path_buf(),
        source: parquet::errors::ParquetError::General(message),
    }
}

/// The error for a read of the file at `path` that failed from row `first_row` on: a remote
/// chunk the page walk found damaged is called so, in the words a local file's walk gives when
/// it is opened; anything else is a decoding failure.
fn read_failure(path: &Path, first_row: u64, error: arrow::error::ArrowError) -> SourceError {
    let source = match error {
        arrow::error::ArrowError::ExternalError(inner) => {
            match inner.downcast::<remote_walk::Damaged>() {
                Ok(found) => return damaged(path, found.0),
                Err(inner) => arrow::error::ArrowError::ExternalError(inner),
            }
        }
        other => other,
    };
    SourceError::Decode {
        path: path.to_path_buf(),
        first_row,
        source,
    }
}

/// The stream behind [`Source::batches`].
pub struct Batches<'a> {
    source: &'a Source,
    schema: SchemaRef,
    batch_size: usize,
    sample: Option<Sample>,
    remaining: u64,
    file: usize,
    reader: Option<FileReader>,
    row: u64,
}

/// The decoder of one input file: Parquet's synchronous reader for a local file; for a remote
/// one, its async stream driven from here (it fetches the byte ranges of the projected columns
/// of the row groups read, coalesced, a row group at a time, each chunk walked first).
enum FileReader {
    Local(ParquetRecordBatchReader),
    Remote(Box<ParquetRecordBatchStream<remote_walk::Walked>>),
}

impl Iterator for FileReader {
    type Item = Result<RecordBatch, arrow::error::ArrowError>;

    /// The next batch; a panic of parquet's decoder (an overflowing shift in its RLE decoder on
    /// damaged data, where overflow checks are on) is this file's error, not the run's end.
    /// A remote chunk the walk found damaged comes as [`remote_walk::Damaged`], kept whole
    /// for [`read_failure`]. After an error the reader is not read again.
    fn next(&mut self) -> Option<Self::Item> {
        crate::panic_guard::catch(|| match self {
            FileReader::Local(reader) => reader.next(),
            FileReader::Remote(stream) => {
                use futures::StreamExt;
                block_on(stream.next()).map(|batch| {
                    batch.map_err(|error| match error {
                        parquet::errors::ParquetError::External(inner)
                            if inner.is::<remote_walk::Damaged>() =>
                        {
                            arrow::error::ArrowError::ExternalError(inner)
                        }
                        other => other.into(),
                    })
                })
            }
        })
        .unwrap_or_else(|message| {
            Some(Err(arrow::error::ArrowError::ParquetError(format!(
                "the Parquet reader failed on this file's data ({message}); the file is damaged"
            ))))
        })
    }
}

impl Batches<'_> {
    /// Renames the decoded columns and applies the sample; `None` when the sample keeps no row.
    fn shape(
        &self,
        batch: RecordBatch,
        first_row: u64,
    ) -> Result<Option<SourceBatch>, arrow::error::ArrowError> {
        let batch = self.source.conform(&batch, &self.schema)?;
        let Some(sample) = self.sample else {
            return Ok(Some(SourceBatch {
                batch,
                file: self.file,
                first_row,
                sampled_rows: None,
            }));
        };
        let rows: Vec<u64> = (first_row..first_row + batch.num_rows() as u64)
            .filter(|row| sample.keeps(self.file, *row))
            .collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let keep = arrow::array::BooleanArray::from_iter(
            (first_row..first_row + batch.num_rows() as u64)
                .map(|row| Some(sample.keeps(self.file, row))),
        );
        Ok(Some(SourceBatch {
            batch: arrow::compute::filter_record_batch(&batch, &keep)?,
            file: self.file,
            first_row: rows[0],
            sampled_rows: Some(rows.into()),
        }))
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<SourceBatch, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.remaining > 0 {
            let file = self.source.files.get(self.file)?;
            if self.reader.is_none() {
                match self
                    .source
                    .reader(self.file, &self.schema, self.batch_size, None)
                {
                    Ok(reader) => self.reader = Some(reader),
                    Err(err) => {
                        self.remaining = 0;
                        return Some(Err(err));
                    }
                }
                self.row = 0;
            }
            match self.reader.as_mut().and_then(Iterator::next) {
                None => {
                    self.reader = None;
                    self.file += 1;
                }
                Some(Err(error)) => {
                    self.remaining = 0;
                    return Some(Err(read_failure(&file.path, self.row, error)));
                }
                Some(Ok(batch)) => {
                    let take = (batch.num_rows() as u64).min(self.remaining) as usize;
                    let first_row = self.row;
                    self.row += take as u64;
                    self.remaining -= take as u64;
                    let decoded = self.shape(batch.slice(0, take), first_row);
                    match decoded {
                        Ok(Some(batch)) => return Some(Ok(batch)),
                        Ok(None) => continue,
                        Err(source) => {
                            self.remaining = 0;
                            return Some(Err(SourceError::Decode {
                                path: file.path.clone(),
                                first_row,
                                source,
                            }));
                        }
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
