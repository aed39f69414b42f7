//! Stage 7 of the data path: scored rows to committed, tiered Parquet output.
//!
//! - [`layout`]: the output schema and the output batch for each scored input batch;
//! - [`writer`]: hive-partitioned (or single-file) Parquet and `_rejects.parquet`;
//! - [`chain`]: each file's (and the report's counts') writes in order, files side by side;
//! - [`checksummed`]: the Parquet writer of every file tierscore writes, a CRC-32 on every page;
//! - [`manifest`]: `_manifest.json`, the run's lineage and figures;
//! - [`staging`]: the staging directory and the atomic commit;
//! - [`remote`]: the commit protocol of an output in object storage.

pub mod chain;
pub mod checksummed;
pub mod layout;
pub mod remote;
pub mod staging;
pub mod writer;

use std::path::{Path, PathBuf};

pub use layout::OutputLayout;
pub use staging::{OutputLock, Staging};
pub use writer::{data_files, OutputWriter, RejectWriter};

/// Why output could not be written or committed. These are runtime failures (exit code 3).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SinkError {
    /// The target exists and holds something other than a tierscore output.
    #[error("output {} exists and is not a tierscore output ({reason}); refusing to replace it", target.display())]
    #[diagnostic(
        code(sink::not_ours),
        help("a tierscore output holds a _manifest.json written by tierscore and only the files it lists; choose another output.path (or --output), or move that data away yourself")
    )]
    NotOurs { target: PathBuf, reason: String },
    /// The input and the output overlap: committing would replace input, or the output would
    /// become input.
    #[error("input {} and output {} overlap: {how}", input.display(), target.display())]
    #[diagnostic(
        code(sink::overlap),
        help("keep the output directory (output.path or --output) apart from every input file and folder")
    )]
    Overlap {
        target: PathBuf,
        input: PathBuf,
        how: &'static str,
    },
    /// The target path has no final component (e.g. `/` or `..`).
    #[error("output path {} does not name a directory to write", target.display())]
    #[diagnostic(
        code(sink::bad_target),
        help("name a directory such as ../out/customer_value")
    )]
    BadTarget { target: PathBuf },
    /// Another command holds the target's lock: a run, or a `report` rendering its page.
    #[error("another tierscore command is writing {}", target.display())]
    #[diagnostic(
        code(sink::locked),
        help("wait for it to finish (a run, or a report rendering the output's page); two commands must not write the same output at once")
    )]
    Locked { target: PathBuf },
    /// Another run holds the lock object of an output in object storage, or a killed run left
    /// it.
    #[error("another tierscore run is writing {} (its lock {lock} holds {holder})", target.display())]
    #[diagnostic(
        code(sink::locked),
        help("wait for it to finish; if no run is writing (a killed run leaves its lock), delete the lock object and run again")
    )]
    RemoteLocked {
        target: PathBuf,
        lock: String,
        holder: String,
    },
    /// The object store failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    #[diagnostic(
        code(sink::io),
        help("check free disk space and permissions on the output folder")
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The process may not open another file: a tier-partitioned output keeps one open a tier.
    #[error("cannot {action} {}: too many open files (this process may open {limit})", path.display())]
    #[diagnostic(
        code(sink::open_files),
        help("a tier-partitioned output keeps one file open a tier: raise the open-file limit (`ulimit -n`; tierscore already raised its own up to the hard limit), or write `output.partition_by: none`")
    )]
    TooManyOpenFiles {
        action: &'static str,
        path: PathBuf,
        limit: u64,
    },
    /// Encoding Parquet failed.
    #[error("cannot write {}: {source}", path.display())]
    #[diagnostic(code(sink::parquet))]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    /// Building an output batch failed.
    #[error("cannot assemble output rows: {0}")]
    #[diagnostic(code(sink::arrow))]
    Arrow(#[from] arrow::error::ArrowError),
    /// A passed-through value the output's type cannot hold: a timestamp beyond the
    /// microseconds' range (past year ±294,000, such as an `i64::MAX` milliseconds sentinel).
    /// It was written as null.
    #[error(
        "output column `{column}` holds a value that cannot be written as {as_type}: {detail}"
    )]
    #[diagnostic(
        code(sink::unwritable_value),
        help("timestamps are written in microseconds, which reach about year 294,000 either side of 1970: replace such values (a far-future sentinel, say) where the data is prepared, or leave the column out of output.columns")
    )]
    Unwritable {
        column: String,
        as_type: String,
        detail: String,
    },
}

impl From<crate::stats::keys::SpillError> for SinkError {
    fn from(e: crate::stats::keys::SpillError) -> Self {
        SinkError::io("spill keys to", &e.dir, e.source)
    }
}

impl SinkError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        if source.raw_os_error() == Some(libc::EMFILE) {
            return SinkError::TooManyOpenFiles {
                action,
                path: path.to_path_buf(),
                limit: open_files_limit().0,
            };
        }
        SinkError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// A Parquet writer's failure on the file at `path`: a failed write of the file (a full
    /// disk, say) is said as that, without parquet's `External:` in front.
    fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        use parquet::errors::ParquetError;
        let source = match source {
            ParquetError::External(error) => match error.downcast::<std::io::Error>() {
                Ok(error) => return SinkError::io("write", path, *error),
                Err(error) => ParquetError::External(error),
            },
            source => source,
        };
        SinkError::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Files a run may hold open beside its output files: the input, the rejects, the staging
/// folder, the standard streams, rayon's and the allocator's own.
const OPEN_FILES_SPARE: u64 = 64;

/// This process's open-file limits: the soft one in force, and the hard one it may be raised to.
fn open_files_limit() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` only writes the `rlimit` it is given, which lives on this stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return (u64::MAX, u64::MAX);
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// Raises this process's open-file limit (the soft one, at most to the hard one) so that
/// `files` output files can be open at once beside the run's others: a tier-partitioned output
/// keeps one a tier, and the usual default of 1,024 is below a few hundred tiers and the rest.
pub fn make_room_for_open_files(files: usize) {
    let (soft, hard) = open_files_limit();
    let wanted = (files as u64).saturating_add(OPEN_FILES_SPARE);
    if soft >= wanted {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: wanted.min(hard),
        rlim_max: hard,
    };
    // SAFETY: `setrlimit` only reads the `rlimit` it is given. Failing leaves the limit as it
    // was, and opening too many files is then its own clear error.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
}
