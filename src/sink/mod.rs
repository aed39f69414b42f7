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
pub use staging::Staging;
pub use writer::{OutputWriter, RejectWriter};

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
    /// Another run holds the target's lock.
    #[error("another tierscore run is writing {}", target.display())]
    #[diagnostic(
        code(sink::locked),
        help("wait for it to finish; two runs must not write the same output at once")
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
}

impl From<crate::stats::keys::SpillError> for SinkError {
    fn from(e: crate::stats::keys::SpillError) -> Self {
        SinkError::io("spill keys to", &e.dir, e.source)
    }
}

impl SinkError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
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
