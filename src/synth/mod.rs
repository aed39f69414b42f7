//! Deterministic synthetic customer data for `tierscore gen`.
//!
//! Tests, demos and benchmarks need realistic customers without shipping real
//! ones. The generator shapes every column after how customer value behaves in
//! B2B trade (Pareto revenue, loss-making customers, cyclical industries, lapsed
//! accounts, a few advocates, partly rated strategic value), and it is
//! reproducible: rows are produced in chunks of [`CHUNK_ROWS`], chunk `k` draws
//! from a ChaCha8 stream keyed by `(seed, k)`, so the output depends only on
//! `(rows, seed)` — never on thread count or batch boundaries — and the first
//! `n` rows of a larger run equal a run of `n` rows.

use std::collections::VecDeque;
use std::f64::consts::TAU;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, ListBuilder,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Poisson, StandardNormal};
use rayon::prelude::*;

use crate::sink::checksummed::ChecksummedWriter;

/// Rows per generated chunk; fixed because chunk `k`'s random stream covers
/// exactly these rows, so changing it would change every generated data set.
pub const CHUNK_ROWS: usize = 65_536;

/// Largest row count whose customer ids still fit the 8-digit `C00000001` form.
pub const MAX_ROWS: u64 = 99_999_999;

/// The most row groups a generated file may have. The Parquet writer keeps every row group's
/// metadata and page indexes until it closes the file, about 18 KB each for these columns:
/// `--rows 200000 --row-group-size 1` reached 3.4 GB before it was stopped. 10,000 keep that
/// under 200 MB, and let [`MAX_ROWS`] rows be written in row groups of 10,000.
pub const MAX_ROW_GROUPS: u64 = 10_000;

/// "Today" of the synthetic world (2026-11-01, days since 1970-01-01).
const AS_OF: i32 = 20_758;
/// Earliest first order (2008-01-01).
const SINCE_MIN: i32 = 13_879;
/// Latest first order (2026-10-01).
const SINCE_MAX: i32 = 20_727;
/// Fiscal year length used for `revenue_history` windows and lapsing.
const YEAR: i32 = 365;
/// Mean customer age in days below `SINCE_MAX`; makes recent cohorts larger.
const SINCE_AGE_MEAN: f64 = 5.0 * 365.25;
/// Lapse probability for customers old enough to lapse (~83%), giving ~15% overall.
const P_LAPSED: f64 = 0.18;
/// Mean days between the lapse threshold and a lapsed customer's last order.
const LAPSE_GAP_MEAN: f64 = 540.0;
/// Pareto minimum of cycle-average annual revenue.
const PARETO_MIN: f64 = 1_000.0;
/// Pareto shape giving the 80/20 rule.
const PARETO_SHAPE: f64 = 1.16;
/// Share of customers with costly habits (service load, disputes, bad payment).
const P_PROBLEM: f64 = 0.2;

/// Region names and their share of customers.
const REGIONS: &[(&str, f64)] = &[
    ("North", 0.24),
    ("South", 0.18),
    ("East", 0.26),
    ("West", 0.20),
    ("Central", 0.12),
];

/// What drives an industry's numbers.
struct Industry {
    name: &'static str,
    /// Share of customers.
    weight: f64,
    /// Follows the ~4-year business cycle (±40%) instead of a steady trend.
    cyclical: bool,
    /// Mean gross margin rate.
    margin: f64,
    /// Shift of the mean innovation rating.
    innovation: f64,
}

const INDUSTRIES: &[Industry] = &[
    Industry {
        name: "manufacturing",
        weight: 0.22,
        cyclical: true,
        margin: 0.24,
        innovation: 0.2,
    },
    Industry {
        name: "construction",
        weight: 0.14,
        cyclical: true,
        margin: 0.18,
        innovation: -0.2,
    },
    Industry {
        name: "automotive",
        weight: 0.10,
        cyclical: true,
        margin: 0.16,
        innovation: 0.4,
    },
    Industry {
        name: "retail",
        weight: 0.18,
        cyclical: false,
        margin: 0.30,
        innovation: -0.1,
    },
    Industry {
        name: "logistics",
        weight: 0.12,
        cyclical: false,
        margin: 0.13,
        innovation: 0.0,
    },
    Industry {
        name: "software",
        weight: 0.12,
        cyclical: false,
        margin: 0.45,
        innovation: 0.9,
    },
    Industry {
        name: "healthcare",
        weight: 0.12,
        cyclical: false,
        margin: 0.34,
        innovation: 0.6,
    },
];

/// What to generate; `rows` and `seed` alone determine the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthOptions {
    /// Number of customers (1..=[`MAX_ROWS`] for [`write_parquet`]).
    pub rows: u64,
    /// Seed of the random streams; same seed, same data.
    pub seed: u64,
    /// Rows per Parquet row group in [`write_parquet`] (at least 1).
    pub row_group_size: usize,
}

/// Why `tierscore gen` could not write its file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SynthError {
    /// Nothing to generate.
    #[error("cannot generate 0 rows")]
    #[diagnostic(code(gen::zero_rows), help("ask for at least 1 row"))]
    ZeroRows,
    /// Parquet needs at least one row per row group.
    #[error("row group size must be at least 1")]
    #[diagnostic(
        code(gen::zero_row_group_size),
        help("use a row group size such as 1048576")
    )]
    ZeroRowGroupSize,
    /// More row groups than [`MAX_ROW_GROUPS`].
    #[error(
        "{rows} rows in row groups of {row_group_size} make {groups} row groups, more than the {max} a generated file may have"
    )]
    #[diagnostic(
        code(gen::too_many_row_groups),
        help("use --row-group-size {smallest} or more for {rows} rows")
    )]
    TooManyRowGroups {
        rows: u64,
        row_group_size: usize,
        groups: u64,
        max: u64,
        /// The smallest row group size that makes at most `max` row groups.
        smallest: u64,
    },
    /// Customer ids would outgrow their 8 digits.
    #[error("cannot generate {rows} rows: customer ids have 8 digits, so at most {max}")]
    #[diagnostic(code(gen::too_many_rows))]
    TooManyRows {
        /// Rows asked for.
        rows: u64,
        /// [`MAX_ROWS`].
        max: u64,
    },
    /// The output's directory is missing and cannot be made.
    #[error("cannot create directory {}: {error}", path.display())]
    #[diagnostic(code(gen::create_dir))]
    CreateDir {
        /// Directory that could not be created.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// The temporary file next to the output cannot be created.
    #[error("cannot create file {}: {error}", path.display())]
    #[diagnostic(
        code(gen::create_file),
        help("the directory must be writable: the file is written there under a temporary name first")
    )]
    CreateFile {
        /// Output file asked for.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// Writing the Parquet data failed (disk full, I/O error…).
    #[error("cannot write {}: {error}", path.display())]
    #[diagnostic(code(gen::write))]
    Write {
        /// Output file asked for.
        path: PathBuf,
        /// What the Parquet writer or the OS said.
        error: ParquetError,
    },
    /// The output file exists and `--force` was not given.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    #[diagnostic(
        code(gen::exists),
        help("pass --force to replace it, or choose another --out")
    )]
    Exists {
        /// Output file asked for.
        path: PathBuf,
    },
    /// The output path is taken by something that is not a regular file.
    #[error("{} is {kind}, not a regular file; refusing to replace it", path.display())]
    #[diagnostic(
        code(gen::not_a_file),
        help("choose an --out path that is a new or a regular file")
    )]
    NotAFile {
        /// Output file asked for.
        path: PathBuf,
        /// What is there instead.
        kind: &'static str,
    },
    /// The finished file cannot be renamed into place.
    #[error("cannot move the finished file to {}: {error}", path.display())]
    #[diagnostic(code(gen::rename), help("the output path must not be a directory"))]
    Rename {
        /// Output file asked for.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
}

/// The generated columns; a contract shared with rules, docs and tests.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("industry", DataType::Utf8, false),
        Field::new("customer_since", DataType::Date32, false),
        Field::new("last_order_date", DataType::Date32, false),
        Field::new("orders_12m", DataType::Int64, false),
        Field::new("revenue_12m", DataType::Float64, false),
        Field::new(
            "revenue_history",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
            false,
        ),
        Field::new("gross_margin_rate", DataType::Float64, false),
        Field::new("cost_to_serve", DataType::Float64, false),
        Field::new("support_tickets_12m", DataType::Int64, false),
        Field::new("bad_debt", DataType::Boolean, false),
        Field::new("bad_debt_amount", DataType::Float64, false),
        Field::new("litigation", DataType::Boolean, false),
        Field::new("referrals", DataType::Int64, false),
        Field::new("product_pull", DataType::Int64, true),
        Field::new("brand_contribution", DataType::Int64, true),
        Field::new("innovation", DataType::Int64, true),
    ]))
}

/// All `opts.rows` customers in order, as batches of at most [`CHUNK_ROWS`] rows.
///
/// Chunks are generated in parallel on rayon's pool, a window of up to 16 at a
/// time, and yielded in order; the data is the same whatever the thread count.
/// `row_group_size` is ignored. Ids widen past 8 digits beyond [`MAX_ROWS`],
/// which [`write_parquet`] refuses.
pub fn batches(opts: &SynthOptions) -> impl Iterator<Item = RecordBatch> + Send + 'static {
    Batches {
        rows: opts.rows,
        seed: opts.seed,
        next_chunk: 0,
        ready: VecDeque::new(),
    }
}

/// The start of the name `gen` writes a file under before renaming it into place, followed by
/// its process id: `.tierscore-gen-PID-XXXXXX.tmp`.
const LEFTOVER_PREFIX: &str = ".tierscore-gen-";

/// Removes from `dir` the files a killed `gen` left (`.tierscore-gen-PID-….tmp` of a process
/// that no longer runs; a live one's, another `gen` writing there now, is left alone). Without
/// it each killed run left up to the whole file behind (233 MB, a review's find). One that
/// cannot be removed is reported and left.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(LEFTOVER_PREFIX))
            .filter(|rest| rest.ends_with(".tmp"))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if !gone || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if let Err(err) = fs::remove_file(entry.path()) {
            tracing::warn!(path = %entry.path().display(), "cannot remove a file a killed gen left ({err})");
        }
    }
}

/// Writes `opts.rows` customers to the zstd-compressed Parquet file `out` and
/// returns the number of rows written.
///
/// Creates `out`'s directory if missing. Writes to a temporary file in that
/// directory and renames it into place only when complete, so `out` is never
/// left half-written. Generation runs in parallel with the (sequential) writing.
/// An existing `out` is replaced only when it is a regular file and `replace` is set;
/// anything else there (a directory, FIFO, device or symlink) is refused untouched.
pub fn write_parquet(opts: &SynthOptions, out: &Path, replace: bool) -> Result<u64, SynthError> {
    if opts.rows == 0 {
        return Err(SynthError::ZeroRows);
    }
    if opts.row_group_size == 0 {
        return Err(SynthError::ZeroRowGroupSize);
    }
    if opts.rows > MAX_ROWS {
        return Err(SynthError::TooManyRows {
            rows: opts.rows,
            max: MAX_ROWS,
        });
    }
    let groups = opts.rows.div_ceil(opts.row_group_size as u64);
    if groups > MAX_ROW_GROUPS {
        return Err(SynthError::TooManyRowGroups {
            rows: opts.rows,
            row_group_size: opts.row_group_size,
            groups,
            max: MAX_ROW_GROUPS,
            smallest: opts.rows.div_ceil(MAX_ROW_GROUPS),
        });
    }
    check_target(out, replace)?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|error| SynthError::CreateDir {
        path: dir.to_path_buf(),
        error,
    })?;
    remove_leftovers(dir);
    let prefix = format!("{LEFTOVER_PREFIX}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        // tempfile defaults to 0600; let the umask decide like for any other output.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|error| SynthError::CreateFile {
            path: out.to_path_buf(),
            error,
        })?;
    let rows = write_batches(opts, tmp.as_file_mut()).map_err(|error| SynthError::Write {
        path: out.to_path_buf(),
        error,
    })?;
    // Checked again: something may have appeared at `out` while the rows were written.
    check_target(out, replace)?;
    let persisted = if replace {
        tmp.persist(out)
    } else {
        tmp.persist_noclobber(out)
    };
    persisted.map_err(|e| SynthError::Rename {
        path: out.to_path_buf(),
        error: e.error,
    })?;
    Ok(rows)
}

/// Refuses an `out` that exists and is not a regular file, or is one and may not be replaced.
fn check_target(out: &Path, replace: bool) -> Result<(), SynthError> {
    match fs::symlink_metadata(out) {
        Err(_) => Ok(()),
        Ok(meta) if meta.file_type().is_file() => {
            if replace {
                Ok(())
            } else {
                Err(SynthError::Exists {
                    path: out.to_path_buf(),
                })
            }
        }
        Ok(meta) => Err(SynthError::NotAFile {
            path: out.to_path_buf(),
            kind: file_kind(&meta.file_type()),
        }),
    }
}

/// What a file that is not a regular one is, for messages.
fn file_kind(kind: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Streams [`batches`] from a producer thread into a Parquet writer on `file`
/// and syncs it to disk.
fn write_batches(opts: &SynthOptions, file: &mut File) -> Result<u64, ParquetError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(opts.row_group_size))
        .build();
    let mut writer = ChecksummedWriter::try_new(&mut *file, schema(), props)?;
    let (tx, rx) = mpsc::sync_channel(1);
    let opts = *opts;
    let rows = thread::scope(|s| {
        s.spawn(move || {
            for batch in batches(&opts) {
                // The receiver is gone only when writing failed: stop generating.
                if tx.send(batch).is_err() {
                    break;
                }
            }
        });
        let mut rows = 0;
        for batch in rx {
            writer.write(&batch)?;
            rows += batch.num_rows() as u64;
        }
        writer.close()?;
        Ok::<_, ParquetError>(rows)
    })?;
    file.sync_all()?;
    Ok(rows)
}

/// Iterator behind [`batches`]: generates a window of chunks in parallel when
/// its buffer runs dry.
struct Batches {
    rows: u64,
    seed: u64,
    next_chunk: u64,
    ready: VecDeque<RecordBatch>,
}

impl Iterator for Batches {
    type Item = RecordBatch;

    fn next(&mut self) -> Option<RecordBatch> {
        if self.ready.is_empty() {
            let chunks = self.rows.div_ceil(CHUNK_ROWS as u64);
            let window = rayon::current_num_threads().clamp(1, 16) as u64;
            let end = chunks.min(self.next_chunk + window);
            let (first, rows, seed) = (self.next_chunk, self.rows, self.seed);
            self.ready = (0..(end - first) as usize)
                .into_par_iter()
                .map(|i| chunk(rows, seed, first + i as u64))
                .collect::<Vec<_>>()
                .into();
            self.next_chunk = end;
        }
        self.ready.pop_front()
    }
}

/// Chunk `k` of a `rows`-row data set: rows `k * CHUNK_ROWS ..`, drawn from
/// ChaCha8 stream `k` of the key derived from `seed`.
fn chunk(rows: u64, seed: u64, k: u64) -> RecordBatch {
    let start = k * CHUNK_ROWS as u64;
    let n = (rows - start).min(CHUNK_ROWS as u64) as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(k);
    let mut columns = Columns::with_capacity(n);
    for i in 0..n {
        columns.push(start + i as u64 + 1, &customer(&mut rng));
    }
    columns.finish()
}

/// One generated customer, before it goes into the column builders.
struct Customer {
    region: &'static str,
    industry: &'static str,
    customer_since: i32,
    last_order_date: i32,
    orders_12m: i64,
    revenue_12m: f64,
    revenue_history: [Option<f64>; 4],
    gross_margin_rate: f64,
    cost_to_serve: f64,
    support_tickets_12m: i64,
    bad_debt: bool,
    bad_debt_amount: f64,
    litigation: bool,
    referrals: i64,
    product_pull: Option<i64>,
    brand_contribution: Option<i64>,
    innovation: Option<i64>,
}

/// Draws one customer; the order of draws is part of the data's identity.
fn customer(rng: &mut ChaCha8Rng) -> Customer {
    let region = pick(rng, REGIONS, |r| r.1).0;
    let industry = pick(rng, INDUSTRIES, |i| i.weight);

    // First order: exponential age below SINCE_MAX, truncated at SINCE_MIN.
    let span = f64::from(SINCE_MAX - SINCE_MIN);
    let u: f64 = rng.random();
    let age = -SINCE_AGE_MEAN * (1.0 - u * (1.0 - (-span / SINCE_AGE_MEAN).exp())).ln();
    let since = SINCE_MAX - (age as i32).min(SINCE_MAX - SINCE_MIN);

    // Lapsed: last order more than a year ago (only possible for older customers).
    let lapse_threshold = AS_OF - YEAR - 1;
    let lapsed = since <= lapse_threshold && rng.random_bool(P_LAPSED);
    let active_until = if lapsed {
        (lapse_threshold - exponential(rng, LAPSE_GAP_MEAN) as i32).max(since)
    } else {
        AS_OF
    };

    // Cycle-average annual revenue (Pareto), shaped per fiscal year by the
    // industry's cycle or trend and prorated to the days the customer was active.
    let base = PARETO_MIN * (1.0 - rng.random::<f64>()).powf(-1.0 / PARETO_SHAPE);
    let factors = year_factors(rng, industry.cyclical);
    let mut history = [None; 4];
    for (j, (slot, factor)) in history.iter_mut().zip(factors).enumerate() {
        let end = AS_OF - (3 - j as i32) * YEAR;
        if since < end {
            let days = (active_until.min(end) - since.max(end - YEAR)).max(0);
            *slot = Some(cents(base * factor * f64::from(days) / f64::from(YEAR)));
        }
    }
    let revenue = history[3].unwrap_or_default();

    let problem = rng.random_bool(P_PROBLEM);
    let margin_rate =
        ((industry.margin + 0.05 * normal(rng)).clamp(0.05, 0.55) * 10_000.0).round() / 10_000.0;
    let ticket_cost = rng.random_range(35.0..90.0);
    let (orders, days_since_order, tickets, cost) = if lapsed {
        let tickets = poisson(rng, if problem { 1.0 } else { 0.2 });
        let upkeep = rng.random_range(20.0..120.0);
        (
            0,
            AS_OF - active_until,
            tickets,
            upkeep + tickets as f64 * ticket_cost,
        )
    } else {
        let orders = 1 + poisson(rng, 4.0 * (revenue / PARETO_MIN).powf(0.45) - 1.0);
        let gap = exponential(rng, 0.7 * f64::from(YEAR) / orders as f64) as i32;
        let days_since_order = gap.min(YEAR - 1).min(AS_OF - since);
        let load = (0.2 + 0.2 * (orders as f64).powf(0.6)) * if problem { 4.0 } else { 1.0 };
        let tickets = poisson(rng, load);
        let handling = orders as f64 * rng.random_range(6.0..16.0);
        let coverage = revenue * rng.random_range(0.01..0.04);
        let tail = if problem {
            revenue * margin_rate * (1.2_f64.ln() + 0.7 * normal(rng)).exp()
        } else {
            0.0
        };
        let cost = handling + tickets as f64 * ticket_cost + coverage + tail;
        (orders, days_since_order, tickets, cost)
    };

    let bad_debt = rng.random_bool(if problem { 0.075 } else { 0.019 });
    let bad_debt_amount = if bad_debt {
        cents(base * rng.random_range(0.05..0.5))
    } else {
        0.0
    };
    let litigation = rng.random_bool(if problem { 0.025 } else { 0.0025 });
    let referrals = if rng.random_bool(if problem { 0.01 } else { 0.06 }) {
        rng.random_range(5..=10)
    } else {
        // Geometric with P(0) = 0.65, capped below the advocates' range.
        let u: f64 = rng.random();
        ((1.0 - u).ln() / 0.35_f64.ln()).min(4.0) as i64
    };

    // Standardised size: ln(base / min) * shape is Exp(1), mean 1 and sd 1.
    let size = (base / PARETO_MIN).ln() * PARETO_SHAPE - 1.0;
    let advocacy = if referrals >= 5 {
        1.2
    } else {
        0.15 * referrals as f64
    };
    let product_pull = rating(rng, 0.35, 3.0 + 0.9 * size, 0.9);
    let brand_contribution = rating(rng, 0.35, 2.8 + 0.4 * size + advocacy, 0.9);
    let innovation = rating(rng, 0.40, 2.6 + industry.innovation + 0.2 * size, 1.0);

    Customer {
        region,
        industry: industry.name,
        customer_since: since,
        last_order_date: AS_OF - days_since_order,
        orders_12m: orders,
        revenue_12m: revenue,
        revenue_history: history,
        gross_margin_rate: margin_rate,
        cost_to_serve: cents(cost),
        support_tickets_12m: tickets,
        bad_debt,
        bad_debt_amount,
        litigation,
        referrals,
        product_pull,
        brand_contribution,
        innovation,
    }
}

/// Revenue multipliers of the last 4 fiscal years, oldest first: a ±40% sine
/// on a 4-year cycle with random phase for cyclical industries, otherwise a
/// growth trend with ±10% noise ending at 1.
fn year_factors(rng: &mut ChaCha8Rng, cyclical: bool) -> [f64; 4] {
    let mut factors = [1.0; 4];
    if cyclical {
        let phase = rng.random_range(0.0..TAU);
        for (j, f) in factors.iter_mut().enumerate() {
            *f = 1.0 + 0.4 * (phase + TAU * j as f64 / 4.0).sin() + 0.05 * normal(rng);
        }
    } else {
        let growth = 0.04 + 0.06 * normal(rng);
        for (j, f) in factors.iter_mut().enumerate() {
            *f = (1.0 + growth).powi(j as i32 - 3) * rng.random_range(0.9..1.1);
        }
    }
    factors.map(|f| f.max(0.05))
}

/// An analyst's 1–5 rating around `mean`, or `None` (not rated) with `p_null`.
fn rating(rng: &mut ChaCha8Rng, p_null: f64, mean: f64, sd: f64) -> Option<i64> {
    if rng.random_bool(p_null) {
        return None;
    }
    Some((mean + sd * normal(rng)).round().clamp(1.0, 5.0) as i64)
}

/// Weighted choice; weights sum to 1.
fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T], weight: impl Fn(&T) -> f64) -> &'a T {
    let mut u: f64 = rng.random();
    for item in items {
        u -= weight(item);
        if u < 0.0 {
            return item;
        }
    }
    &items[items.len() - 1]
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// Poisson count; 0 for a non-positive rate.
fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> i64 {
    Poisson::new(lambda).map_or(0, |p| rng.sample(p) as i64)
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Column builders for one chunk, in schema order.
struct Columns {
    customer_id: StringBuilder,
    region: StringBuilder,
    industry: StringBuilder,
    customer_since: Date32Builder,
    last_order_date: Date32Builder,
    orders_12m: Int64Builder,
    revenue_12m: Float64Builder,
    revenue_history: ListBuilder<Float64Builder>,
    gross_margin_rate: Float64Builder,
    cost_to_serve: Float64Builder,
    support_tickets_12m: Int64Builder,
    bad_debt: BooleanBuilder,
    bad_debt_amount: Float64Builder,
    litigation: BooleanBuilder,
    referrals: Int64Builder,
    product_pull: Int64Builder,
    brand_contribution: Int64Builder,
    innovation: Int64Builder,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        let f64s = || Float64Builder::with_capacity(n);
        let i64s = || Int64Builder::with_capacity(n);
        let strings = |bytes| StringBuilder::with_capacity(n, n * bytes);
        Columns {
            customer_id: strings(9),
            region: strings(6),
            industry: strings(10),
            customer_since: Date32Builder::with_capacity(n),
            last_order_date: Date32Builder::with_capacity(n),
            orders_12m: i64s(),
            revenue_12m: f64s(),
            revenue_history: ListBuilder::with_capacity(Float64Builder::with_capacity(4 * n), n),
            gross_margin_rate: f64s(),
            cost_to_serve: f64s(),
            support_tickets_12m: i64s(),
            bad_debt: BooleanBuilder::with_capacity(n),
            bad_debt_amount: f64s(),
            litigation: BooleanBuilder::with_capacity(n),
            referrals: i64s(),
            product_pull: i64s(),
            brand_contribution: i64s(),
            innovation: i64s(),
        }
    }

    fn push(&mut self, id: u64, c: &Customer) {
        write!(self.customer_id, "C{id:08}").expect("writing to a string builder cannot fail");
        self.customer_id.append_value("");
        self.region.append_value(c.region);
        self.industry.append_value(c.industry);
        self.customer_since.append_value(c.customer_since);
        self.last_order_date.append_value(c.last_order_date);
        self.orders_12m.append_value(c.orders_12m);
        self.revenue_12m.append_value(c.revenue_12m);
        self.revenue_history
            .append_value(c.revenue_history.iter().copied());
        self.gross_margin_rate.append_value(c.gross_margin_rate);
        self.cost_to_serve.append_value(c.cost_to_serve);
        self.support_tickets_12m.append_value(c.support_tickets_12m);
        self.bad_debt.append_value(c.bad_debt);
        self.bad_debt_amount.append_value(c.bad_debt_amount);
        self.litigation.append_value(c.litigation);
        self.referrals.append_value(c.referrals);
        self.product_pull.append_option(c.product_pull);
        self.brand_contribution.append_option(c.brand_contribution);
        self.innovation.append_option(c.innovation);
    }

    fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.customer_id.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.industry.finish()),
            Arc::new(self.customer_since.finish()),
            Arc::new(self.last_order_date.finish()),
            Arc::new(self.orders_12m.finish()),
            Arc::new(self.revenue_12m.finish()),
            Arc::new(self.revenue_history.finish()),
            Arc::new(self.gross_margin_rate.finish()),
            Arc::new(self.cost_to_serve.finish()),
            Arc::new(self.support_tickets_12m.finish()),
            Arc::new(self.bad_debt.finish()),
            Arc::new(self.bad_debt_amount.finish()),
            Arc::new(self.litigation.finish()),
            Arc::new(self.referrals.finish()),
            Arc::new(self.product_pull.finish()),
            Arc::new(self.brand_contribution.finish()),
            Arc::new(self.innovation.finish()),
        ];
        RecordBatch::try_new(schema(), columns).expect("builders follow the schema")
    }
}

#[cfg(test)]
mod tests;
