//! The run's report: one self-contained HTML page, `_report.html`. `run` counts its figures
//! while it writes the output; `tierscore report` counts the same figures again from a
//! committed output alone (its manifest and Parquet files) and gives the same page.
//!
//! - [`figures`]: the numbers, counted from output rows (the run's batches or the files);
//! - [`whale`]: the whale curve, exact without sorting every value;
//! - [`charts`]: the Vega-Lite specifications of the charts;
//! - [`diff_page`]: `tierscore diff --format html`, the comparison of two outputs;
//! - [`page`]: the HTML, with Vega and Vega-Lite inlined (`vendor/`), so the page opens
//!   offline and asks no other host for anything.

pub mod charts;
pub mod diff_page;
pub mod figures;
pub mod page;
pub mod whale;

use std::path::{Path, PathBuf};

use crate::manifest::{Manifest, ManifestError, REPORT_FILE};
pub use figures::{Counts, Figures, WhaleValues};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ReportError {
    /// The directory is not a committed tierscore output.
    #[error("{} is not a tierscore output: {source}", dir.display())]
    #[diagnostic(
        code(report::not_an_output),
        help("name a directory written by `tierscore run` (it holds _manifest.json)")
    )]
    NotAnOutput { dir: PathBuf, source: ManifestError },
    /// A file of the output does not read as the manifest describes it.
    #[error("cannot read {}: {detail}", path.display())]
    #[diagnostic(
        code(report::unreadable),
        help("the output was changed after the run; run the pipeline again")
    )]
    Unreadable { path: PathBuf, detail: String },
    /// The page could not be written.
    #[error("cannot write {}: {source}", path.display())]
    #[diagnostic(
        code(report::write),
        help("check free disk space and permissions on the output folder")
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ReportError {
    /// A file of the output that does not read as expected.
    fn unexpected(path: &Path, detail: String) -> Self {
        ReportError::Unreadable {
            path: path.to_path_buf(),
            detail,
        }
    }
}

/// Reads the figures of the output in `dir` (committed or staged) described by `manifest`.
pub fn figures(dir: &Path, manifest: &Manifest) -> Result<Figures, ReportError> {
    figures::collect(dir, manifest)
}

/// Writes the page for `manifest` and `figures` as `_report.html` into `dir`: into a
/// temporary file first, renamed over the old page, so a reader never sees half a page.
pub fn write(dir: &Path, manifest: &Manifest, figures: &Figures) -> Result<PathBuf, ReportError> {
    let path = dir.join(REPORT_FILE);
    let partial = dir.join(crate::manifest::partial_report_file(std::process::id()));
    // A page that cannot be written whole, or renamed, is removed: left behind, it would make
    // the output one the next run refuses to replace. (A killed process's page stays; the next
    // run removes it, see `sink::staging`.)
    let failed = |source| {
        let _ = std::fs::remove_file(&partial);
        ReportError::Write {
            path: path.clone(),
            source,
        }
    };
    std::fs::write(&partial, page::render(manifest, figures)).map_err(failed)?;
    std::fs::rename(&partial, &path).map_err(failed)?;
    Ok(path)
}

/// Renders the committed output in `dir` again and writes its `_report.html`.
pub fn rewrite(dir: &Path) -> Result<PathBuf, ReportError> {
    let manifest = Manifest::read(dir).map_err(|source| ReportError::NotAnOutput {
        dir: dir.to_path_buf(),
        source,
    })?;
    let figures = figures(dir, &manifest)?;
    write(dir, &manifest, &figures)
}
