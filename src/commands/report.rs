//! `tierscore report` — the run's HTML page, rendered again from a committed output.
//!
//! ```text
//! tierscore report out/customer_value
//! tierscore report out/customer_value --open
//! ```
//!
//! `run` writes `_report.html` into its output already; this renders it again from the
//! output alone (after an upgrade of tierscore, or for an output written with
//! `output.report: false`). [`crate::report`] does the work; this file wires it.

use std::path::PathBuf;

use super::{CommandError, Ui};
use crate::manifest::Manifest;
use crate::sink::{OutputLock, SinkError};

/// Arguments of `tierscore report`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tierscore report out/customer_value
  tierscore report out/customer_value --open")]
pub struct ReportArgs {
    /// A directory written by `tierscore run`; the page is written into it as _report.html.
    pub out_dir: PathBuf,
    /// Open the page in the default browser afterwards.
    #[arg(long)]
    pub open: bool,
}

/// Renders the output's report and prints where it is.
pub fn execute(args: &ReportArgs, ui: Ui) -> Result<(), CommandError> {
    let started = std::time::Instant::now();
    // Held while the page is rendered and renamed in: a run committing into this output
    // meanwhile would swap its files from under the page. Taken only for an output (anything
    // else gets the report's own error below, and no lock file beside it); where no lock file
    // can be made beside the output (a folder the user may not write), the page is rendered
    // without it, as before `report` took one. The manifest read here only tells an output;
    // the page is made from the one read under the lock (a run may commit in between).
    let lock = if Manifest::read(&args.out_dir).is_ok() {
        match OutputLock::take(&args.out_dir) {
            Ok(lock) => Some(lock),
            Err(locked @ SinkError::Locked { .. }) => return Err(locked.into()),
            Err(other) => {
                tracing::warn!(error = %other, "rendering the report without the output's lock");
                None
            }
        }
    } else {
        None
    };
    crate::test_pause("report locked");
    let path = crate::report::rewrite(&args.out_dir)?;
    drop(lock);
    tracing::info!(
        report = %path.display(),
        seconds = started.elapsed().as_secs_f64(),
        "report written"
    );
    if !ui.quiet {
        say!("report: {}", path.display());
    }
    if args.open {
        if let Err(e) = open::that_detached(&path) {
            tracing::warn!(report = %path.display(), error = %e, "cannot open the report in a browser");
        }
    }
    Ok(())
}
