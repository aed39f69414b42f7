//! `tierscore gen` — deterministic synthetic customers for tests, demos and benchmarks.
//!
//! ```text
//! tierscore gen --rows 100000 --seed 7 --out data/customers.parquet
//! ```
//!
//! The same `--rows` and `--seed` always give the same file, byte for byte, and the first N rows
//! of a larger file equal a smaller one's. Columns are listed in docs/synthetic-data.md.

use std::path::PathBuf;

use super::{CommandError, Ui};
use crate::synth::{self, SynthOptions};

/// Arguments of `tierscore gen`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  tierscore gen --rows 1000000 --seed 42 --out data/customers_1m.parquet"
)]
pub struct GenArgs {
    /// Number of customers to generate (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    pub rows: u64,
    /// Random seed; the same seed gives the same data.
    #[arg(long, default_value_t = 42, allow_negative_numbers = true)]
    pub seed: u64,
    /// Parquet file to write (written under a temporary name, then renamed into place).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace --out when it is an existing regular file (anything else is never replaced).
    #[arg(long)]
    pub force: bool,
    /// Rows per Parquet row group.
    #[arg(long, default_value_t = 65_536)]
    pub row_group_size: usize,
}

/// Writes the synthetic customers and reports what was written.
pub fn execute(args: &GenArgs, ui: Ui) -> Result<(), CommandError> {
    let started = std::time::Instant::now();
    let rows = synth::write_parquet(
        &SynthOptions {
            rows: args.rows,
            seed: args.seed,
            row_group_size: args.row_group_size,
        },
        &args.out,
        args.force,
    )?;
    tracing::info!(rows, seed = args.seed, out = %args.out.display(), "generated customers");
    if !ui.quiet && !ui.json {
        say!(
            "wrote {} customers to {} in {}",
            crate::human::count(rows),
            args.out.display(),
            crate::human::seconds(started.elapsed().as_secs_f64())
        );
    }
    Ok(())
}
