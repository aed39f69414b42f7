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
use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use super::{CommandError, Ui};
use crate::exec::{self, RunOptions, Started};
use crate::human::{self, count};
use crate::manifest::Manifest;
use crate::pipeline::Pipeline;
use crate::plan::Plan;
use crate::rules::EngineChoice;
use crate::sink::{data_files, staging, SinkError};
use crate::source::{Sample, Scan, Source};
use crate::store::Location;

/// Arguments of `tierscore run`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tierscore run pipelines/customer_value.yaml
  tierscore run pipelines/customer_value.yaml --set as_of=2026-12-01 --output /tmp/cv
  tierscore run pipelines/customer_value.yaml --limit 1000 --threads 1
  tierscore run pipelines/customer_value.yaml --input lake/customers/dt=2026-12-01/")]
pub struct RunArgs {
    /// The pipeline YAML file.
    pub pipeline: PathBuf,
    /// Override a param: --set KEY=VALUE (numbers stay numbers); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Write to this directory instead of the pipeline's output.path.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Read this input instead of the pipeline's input.path: a Parquet file, a directory or a
    /// glob, relative to the current directory.
    #[arg(long, value_name = "PATH")]
    pub input: Option<PathBuf>,
    /// Score only the first N input rows (a quick look).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub limit: Option<u64>,
    /// Score a deterministic sample of about this share of the rows (0..1), e.g. 0.01.
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, allow_negative_numbers = true)]
    pub sample: Option<f64>,
    /// Seed of --sample: the same seed picks the same rows.
    #[arg(
        long,
        default_value_t = 0,
        requires = "sample",
        allow_negative_numbers = true
    )]
    pub seed: u64,
    /// Worker threads (default: all cores). With 1, decoding and writing take turns with
    /// scoring, so the run uses one core. The output is the same for any value.
    #[arg(long, value_name = "N", env = "TIERSCORE_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
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

/// The most worker threads per core a run starts: more only costs start-up time and memory.
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The worker threads for `--threads` (default: one per core), at most
/// [`MAX_THREADS_PER_CORE`] per core, with a warning when capped.
fn threads(asked: Option<u16>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Some(asked) = asked.map(usize::from) else {
        return cores;
    };
    let cap = cores * MAX_THREADS_PER_CORE;
    if asked > cap {
        tracing::warn!(
            "--threads {asked} is more than {MAX_THREADS_PER_CORE} per core; using {cap} ({cores} cores)"
        );
        cap
    } else {
        asked
    }
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

/// Runs the pipeline and commits its output; returns the committed manifest.
pub fn execute(args: &RunArgs, ui: Ui) -> Result<Manifest, CommandError> {
    let clock = Instant::now();
    let started_at = Utc::now();
    let mut pipeline = Pipeline::load(&args.pipeline)?;
    pipeline.set_params(&args.set)?;
    if let Some(input) = &args.input {
        pipeline.input.path = input.clone();
    }
    let target = Location::of(
        args.output
            .as_deref()
            .unwrap_or(pipeline.output.path.as_path()),
    )
    .map_err(SinkError::from)?;
    staging::ensure_replaceable(&target)?;
    let threads = threads(args.threads);
    // Opening walks every page of a local input (`source::page_walk`): on the run's threads.
    let source = exec::worker_pool(threads)?
        .install(|| Source::open(&pipeline.input.path, &pipeline.input.rename))?;
    let inputs: Vec<PathBuf> = source.files().iter().map(|f| f.path.clone()).collect();
    let written = data_files(pipeline.output.partition_by, &pipeline.tiers.names());
    staging::ensure_apart(&target, &pipeline.input.path, &inputs, &written)?;
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
        run_id: crate::run_id::run_id().to_string(),
        params_from_set: args
            .set
            .iter()
            .filter_map(|entry| entry.split_once('=').map(|(key, _)| key.trim().to_string()))
            .collect(),
        target: target.clone(),
        threads,
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
    report(
        ui,
        &manifest,
        &target.display(),
        clock.elapsed().as_secs_f64(),
    );
    Ok(manifest)
}

/// A progress bar on a terminal, hidden otherwise; the run sets its length.
fn progress_bar(ui: Ui) -> ProgressBar {
    if !ui.progress_allowed() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    // The prefix names the pass (`pass 2/3 rank`); the length counts the rows of every pass, so
    // the rate is rows per second over the run and the time left covers the passes to come,
    // extrapolated from the run so far (indicatif's own estimate follows recent steps and ran
    // far off on short runs).
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:<13} {elapsed_precise} [{bar:40}] {human_pos}/{human_len} rows ({rate}, {left})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{} rows/s", count(state.per_sec().max(0.0) as u64));
        })
        .with_key("left", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let total = state.len().unwrap_or(0);
            let _ = match time_left(state.elapsed().as_secs_f64(), state.pos(), total) {
                Some(seconds) => write!(w, "{seconds:.0}s left"),
                None => write!(w, "time left unknown"),
            };
        })
        .progress_chars("=> "),
    );
    bar
}

/// Seconds left at the run's pace so far: `elapsed` × rows to go ÷ rows `done` (`None` before
/// the first row).
fn time_left(elapsed: f64, done: u64, total: u64) -> Option<f64> {
    (done > 0).then(|| elapsed * total.saturating_sub(done) as f64 / done as f64)
}

/// The closing summary: stdout for people, one JSON log line for schedulers.
fn report(ui: Ui, manifest: &Manifest, target: &str, seconds: f64) {
    let rows = manifest.rows;
    tracing::info!(
        pipeline = %manifest.pipeline.name,
        rows_in = rows.input,
        scored = rows.scored,
        rejected = rows.rejected,
        output = %target,
        seconds,
        // Last, so that a text line reads `… tiers: strategic 121, key 376`.
        json.tiers = %serde_json::Value::from_iter(manifest.tiers.iter().map(
            |t| serde_json::json!({ "name": t.name, "count": t.count })
        )),
        "run committed"
    );
    if ui.quiet || ui.json {
        return;
    }
    say!(
        "{}: {} rows in, {} scored, {} rejected in {}",
        manifest.pipeline.name,
        count(rows.input),
        count(rows.scored),
        count(rows.rejected),
        human::seconds(seconds)
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
            tier.count as f64 / rows.scored as f64
        };
        say!(
            "  {:<width$} {:>10}  {:>6}",
            tier.name,
            count(tier.count),
            human::percent(share)
        );
    }
    say!("output: {target}");
}

#[cfg(test)]
mod tests {
    use super::time_left;

    #[test]
    fn time_left_extrapolates_the_pace_over_every_pass() {
        // A two-pass run of 1,000 rows (2,000 steps), 500 done in 2 s: 6 s to go.
        assert_eq!(time_left(2.0, 500, 2000), Some(6.0));
        assert_eq!(time_left(3.3, 2000, 2000), Some(0.0));
        assert_eq!(time_left(0.1, 0, 2000), None);
    }
}
