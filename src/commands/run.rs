//! `tierscore run` — score the input and commit tiered output.
//!
//! ```text
//! tierscore run pipelines/customer_value.yaml
//! tierscore run pipelines/customer_value.yaml --set as_of=2026-12-01 --output /tmp/cv
//! tierscore run pipelines/customer_value.yaml --limit 1000 --threads 1
//! ```
//!
//! Steps: load and validate the pipeline; read the input's footers; build the plan (compile
//! rules, resolve names, fix the projection); then [`crate::exec::run`] streams the input
//! through the scorer into a staging directory, checks that every row is accounted for, writes
//! the manifest and `_SUCCESS` and swaps the staging directory into place. Any failure leaves
//! the previous output as it was.

use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use super::{CommandError, Ui};
use crate::exec::{self, RunOptions, Started};
use crate::manifest::Manifest;
use crate::pipeline::{params, Pipeline};
use crate::plan::Plan;
use crate::rules::EngineChoice;
use crate::sink::staging;
use crate::source::{Sample, Scan, Source};

/// Arguments of `tierscore run`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tierscore run pipelines/customer_value.yaml
  tierscore run pipelines/customer_value.yaml --set as_of=2026-12-01 --output /tmp/cv
  tierscore run pipelines/customer_value.yaml --limit 1000 --threads 1")]
pub struct RunArgs {
    /// The pipeline YAML file.
    pub pipeline: PathBuf,
    /// Override a param: --set KEY=VALUE (numbers stay numbers); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Write to this directory instead of the pipeline's output.path.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Score only the first N input rows (a quick look).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Score a deterministic sample of about this share of the rows (0..1), e.g. 0.01.
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction)]
    pub sample: Option<f64>,
    /// Seed of --sample: the same seed picks the same rows.
    #[arg(long, default_value_t = 0, requires = "sample")]
    pub seed: u64,
    /// Worker threads (default: all cores). With 1, decoding and writing take turns with
    /// scoring, so the run uses one core. The output is the same for any value.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Which engine runs the rules: compiled where the compiler takes a rule (`auto`), or every
    /// rule on one (`compiled` fails naming a rule it cannot take). Results are the same.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// Also count, per rule, the rows that took each branch: into the manifest's `coverage`
    /// and the report's rule coverage section (slower: the rules run again, traced).
    #[arg(long)]
    pub coverage: bool,
}

/// Parses a share of rows between 0 and 1.
fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "{text} is not a share between 0 and 1, such as 0.01"
        )),
    }
}

/// Runs the pipeline and commits its output.
pub fn execute(args: &RunArgs, ui: Ui) -> Result<(), CommandError> {
    let clock = Instant::now();
    let started_at = Utc::now();
    let mut pipeline = Pipeline::load(&args.pipeline)?;
    params::apply_overrides(&mut pipeline.params, &args.set)?;
    let target = args
        .output
        .clone()
        .unwrap_or_else(|| pipeline.output.path.clone());
    staging::ensure_replaceable(&target)?;
    let source = Source::open(&pipeline.input.path, &pipeline.input.rename)?;
    let (plan, warnings) = Plan::build(&pipeline, &source, args.engine)?;
    for warning in &warnings {
        tracing::warn!(
            code = warning.code,
            "{}: {}",
            warning.location(),
            warning.message
        );
    }
    let scan = Scan {
        source: &source,
        limit: args.limit,
        sample: args.sample.map(|fraction| Sample {
            fraction,
            seed: args.seed,
        }),
    };
    let options = RunOptions {
        target: target.clone(),
        threads: args.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            usize::from,
        ),
        coverage: args.coverage,
    };
    let started = Started {
        at: started_at,
        plan_seconds: clock.elapsed().as_secs_f64(),
    };
    let manifest = exec::run(
        &pipeline,
        &plan,
        &scan,
        &options,
        &progress_bar(ui),
        started,
    )?;
    report(ui, &manifest, &target, clock.elapsed().as_secs_f64());
    Ok(())
}

/// A progress bar on a terminal, hidden otherwise; the run sets its length.
fn progress_bar(ui: Ui) -> ProgressBar {
    if !ui.progress_allowed() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} rows ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// The closing summary: stdout for people, one JSON log line for schedulers.
fn report(ui: Ui, manifest: &Manifest, target: &std::path::Path, seconds: f64) {
    let rows = manifest.rows;
    tracing::info!(
        run_id = %manifest.run_id,
        pipeline = %manifest.pipeline.name,
        rows_in = rows.input,
        scored = rows.scored,
        rejected = rows.rejected,
        tiers = %serde_json::to_string(&manifest.tiers.iter().map(|t| (&t.name, t.count)).collect::<Vec<_>>()).unwrap_or_default(),
        output = %target.display(),
        seconds,
        "run committed"
    );
    if ui.quiet || ui.json {
        return;
    }
    say!(
        "{}: {} rows in, {} scored, {} rejected in {seconds:.2}s",
        manifest.pipeline.name,
        rows.input,
        rows.scored,
        rows.rejected
    );
    let width = manifest
        .tiers
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(16);
    for tier in &manifest.tiers {
        let share = if rows.scored == 0 {
            0.0
        } else {
            100.0 * tier.count as f64 / rows.scored as f64
        };
        say!("  {:<width$} {:>10}  {share:5.1}%", tier.name, tier.count);
    }
    say!("output: {}", target.display());
}
