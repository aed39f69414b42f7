//! `tierscore run` — score the input and commit tiered output.
//!
//! ```text
//! tierscore run pipelines/customer_value.yaml
//! tierscore run pipelines/customer_value.yaml --set as_of=2026-12-01 --output /tmp/cv
//! tierscore run pipelines/customer_value.yaml --limit 1000 --threads 1
//! ```
//!
//! Steps: load and validate the pipeline; read the input's footers; build the plan (compile
//! rules, resolve names, fix the projection); stream the input batch by batch through the
//! scorer into a staging directory; check that every row is accounted for; write the manifest
//! and `_SUCCESS`; swap the staging directory into place. Any failure leaves the previous
//! output as it was.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Instant;

use arrow::array::{Array, Float64Array, RecordBatch};
use chrono::{SecondsFormat, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::ThreadPool;

use super::{CommandError, Ui};
use crate::derive::Population;
use crate::pipeline::{params, OnRowError, PartitionBy, Pipeline};
use crate::plan::{sha256_hex, Plan};
use crate::score::ScoredBatch;
use crate::sink::manifest::{
    AhpFigures, FactorSummary, InputInfo, Manifest, OutputInfo, Phases, PipelineInfo, RowCounts,
    SampleInfo, Summary, TierSummary, SCHEMA_VERSION,
};
use crate::sink::writer::{properties, WrittenFile, REJECTS_FILE};
use crate::sink::{staging, OutputLayout, OutputWriter, RejectWriter, SinkError, Staging};
use crate::source::{Sample, Source};
use crate::whole_run::WholeRun;

/// Rows decoded and scored at a time (chosen by measurement against 8,192 and 65,536; the
/// scripts-alone benchmark reads batches of the same size).
pub const BATCH_ROWS: usize = 32768;

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
}

/// Why a run failed after it started reading rows. Nothing is committed in any of these cases.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    /// More rows were rejected than `errors.max_reject_fraction` allows.
    #[error(
        "{rejected} of {rows} input rows rejected{so_far}, more than errors.max_reject_fraction {fraction} allows ({allowed}); nothing was committed"
    )]
    #[diagnostic(code(run::too_many_rejects))]
    TooManyRejects {
        rejected: u64,
        rows: u64,
        so_far: &'static str,
        fraction: f64,
        allowed: u64,
        #[help]
        help: String,
    },
    /// A row failed under `errors.on_row_error: fail`.
    #[error("{source_file} row {row}: `{step}` failed: {message}; nothing was committed")]
    #[diagnostic(
        code(run::row_failed),
        help("errors.on_row_error is `fail`; fix the rule or the data, or set it to `reject`")
    )]
    RowFailed {
        source_file: String,
        row: u64,
        step: String,
        message: String,
    },
    /// The derive columns could not be attached to a batch: the derive pass and the scoring
    /// pass read different rows, a bug.
    #[error("cannot attach the derive columns: {0}")]
    #[diagnostic(
        code(run::derive_attach),
        help("this is a tierscore bug; please report it with the pipeline")
    )]
    Derive(arrow::error::ArrowError),
    /// Rows in did not equal rows scored plus rows rejected: a bug, never committed.
    #[error("rows in ({input}) != rows scored ({scored}) + rows rejected ({rejected}); nothing was committed")]
    #[diagnostic(
        code(run::rows_lost),
        help("this is a tierscore bug; please report it with the pipeline and the manifest of the last good run")
    )]
    RowsLost {
        input: u64,
        scored: u64,
        rejected: u64,
    },
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

/// What goes to the writer.
enum ToWriter {
    /// A scored input batch, laid out as output rows by the writer thread (so the scoring loop
    /// does not wait for it).
    Scored(RecordBatch, ScoredBatch),
    /// Rows of `_rejects.parquet`.
    Rejects(RecordBatch),
}

/// The writing end of the run: scored batches laid out and encoded into the staging directory.
struct Writing<'a> {
    layout: &'a OutputLayout,
    output: OutputWriter,
    rejects: RejectWriter,
}

impl Writing<'_> {
    fn write(&mut self, message: ToWriter) -> Result<(), SinkError> {
        match message {
            ToWriter::Scored(batch, scored) => {
                let (rows, tiers) = self.layout.build(&batch, &scored)?;
                self.output.write(&rows, &tiers)
            }
            ToWriter::Rejects(rows) => self.rejects.write(&rows),
        }
    }

    /// Closes every file: the output files written and the number of rejects.
    fn finish(self) -> Result<(Vec<WrittenFile>, u64), SinkError> {
        Ok((self.output.finish()?, self.rejects.finish()?))
    }
}

/// Where [`Writing`] happens: in turn with scoring, or on its own thread behind it.
enum WriteStage<'scope, 'a> {
    Inline {
        writing: Box<Writing<'a>>,
        /// The first error; nothing is written after it.
        failed: Option<SinkError>,
    },
    Thread {
        messages: SyncSender<ToWriter>,
        thread: ScopedJoinHandle<'scope, Result<(Vec<WrittenFile>, u64), SinkError>>,
    },
}

impl<'scope, 'a: 'scope> WriteStage<'scope, 'a> {
    /// A writer thread in `scope`, two messages behind the sender; it encodes partitions in
    /// parallel on the run's worker `pool`.
    fn on_thread(
        scope: &'scope Scope<'scope, '_>,
        pool: &'scope ThreadPool,
        mut writing: Writing<'a>,
    ) -> Self {
        let (messages, received) = sync_channel::<ToWriter>(2);
        let thread = scope.spawn(move || {
            for message in received {
                pool.install(|| writing.write(message))?;
            }
            pool.install(|| writing.finish())
        });
        WriteStage::Thread { messages, thread }
    }

    /// Hands `message` to the writer; `false` once the writer has stopped on an error, which
    /// [`WriteStage::finish`] returns.
    fn send(&mut self, message: ToWriter) -> bool {
        match self {
            WriteStage::Inline { writing, failed } => {
                if failed.is_none() {
                    *failed = writing.write(message).err();
                }
                failed.is_none()
            }
            WriteStage::Thread { messages, .. } => messages.send(message).is_ok(),
        }
    }

    /// Waits for everything sent to be written and closes the files.
    fn finish(self) -> Result<(Vec<WrittenFile>, u64), SinkError> {
        match self {
            WriteStage::Inline {
                writing,
                failed: None,
            } => writing.finish(),
            WriteStage::Inline {
                failed: Some(err), ..
            } => Err(err),
            WriteStage::Thread { messages, thread } => {
                drop(messages);
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }
}

/// What the run counted while streaming.
struct Tally {
    rows: RowCounts,
    score: Summary,
    /// Score statistics per tier (their count is the tier's row count).
    tiers: Vec<Summary>,
    factors: Vec<Summary>,
    first_rejects: Vec<String>,
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
    let (plan, warnings) = Plan::build(&pipeline, &source)?;
    for warning in &warnings {
        tracing::warn!(
            code = warning.code,
            "{}: {}",
            warning.location(),
            warning.message
        );
    }
    let plan_seconds = clock.elapsed().as_secs_f64();

    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| crate::sink::SinkError::Io {
            action: "start worker threads for",
            path: target.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let sample = args.sample.map(|fraction| Sample {
        fraction,
        seed: args.seed,
    });
    let rows_read = args
        .limit
        .map_or(source.total_rows(), |l| l.min(source.total_rows()));
    // With a sample the exact count is known only at the end; the expected count stops a
    // hopeless run early and the exact check happens before commit.
    let rows_expected = match sample {
        Some(s) => (rows_read as f64 * s.fraction).ceil() as u64,
        None => rows_read,
    };
    // The early stop must never stop a run that would pass: with a sample, whose size is known
    // only at the end, it allows rejects up to the share of every row read.
    let allowed = (pipeline.errors.max_reject_fraction * rows_read as f64).floor() as u64;

    let deriving = Instant::now();
    let population = Population::compute(&pipeline.derive, &source, args.limit, sample)?;
    let derive_seconds = deriving.elapsed().as_secs_f64();

    let run_id = new_run_id(&started_at);
    let staging = Staging::prepare(&target, &run_id)?;
    let props = properties(vec![
        ("tierscore.run_id".into(), run_id.clone()),
        ("tierscore.pipeline".into(), pipeline.name.clone()),
        ("tierscore.version".into(), env!("CARGO_PKG_VERSION").into()),
        ("tierscore.rules_sha256".into(), plan.rules_sha256.clone()),
    ]);
    let tier_names: Vec<String> = plan
        .scorer
        .tiers
        .levels()
        .iter()
        .map(|l| l.name.clone())
        .collect();
    let output = OutputWriter::new(
        staging.dir(),
        pipeline.output.partition_by,
        tier_names.clone(),
        plan.layout.schema().clone(),
        props.clone(),
    );
    let rejects = RejectWriter::create(staging.dir(), &plan.id_field, &props)?;
    let progress = progress_bar(ui, rows_expected);
    let mut tally = Tally {
        rows: RowCounts {
            input: 0,
            scored: 0,
            rejected: 0,
        },
        score: Summary::default(),
        tiers: vec![Summary::default(); tier_names.len()],
        factors: vec![Summary::default(); pipeline.factors.len()],
        first_rejects: Vec::new(),
    };

    let ranking = Instant::now();
    let whole = if WholeRun::needed(&pipeline) {
        pool.install(|| {
            WholeRun::compute(
                &plan,
                &pipeline,
                &source,
                &population,
                args.limit,
                sample,
                allowed,
            )
        })?
    } else {
        WholeRun::default()
    };
    let rank_seconds = ranking.elapsed().as_secs_f64();

    let scoring = Instant::now();
    let reject_schema = rejects.schema();
    // With more than one thread, decoding, scoring and encoding overlap: a reader thread decodes
    // ahead and a writer thread encodes behind the scoring loop, each through a channel of two
    // batches (memory stays bounded); the loop scores with the worker pool. With one thread
    // they take turns on it, so `--threads 1` uses one core.
    let overlap = threads > 1;
    let (written_files, rejected_written, score_seconds) = std::thread::scope(
        |scope| -> Result<(Vec<WrittenFile>, u64, f64), CommandError> {
            let batches = source.batches(&plan.read_columns, BATCH_ROWS, args.limit, sample);
            let incoming: Box<dyn Iterator<Item = _> + Send> = if overlap {
                let (read_tx, read_rx) = sync_channel(2);
                scope.spawn(move || {
                    for batch in batches {
                        if read_tx.send(batch).is_err() {
                            break;
                        }
                    }
                });
                Box::new(read_rx.into_iter())
            } else {
                Box::new(batches)
            };
            let writing = Writing {
                layout: &plan.layout,
                output,
                rejects,
            };
            let mut writer = if overlap {
                WriteStage::on_thread(scope, &pool, writing)
            } else {
                WriteStage::Inline {
                    writing: Box::new(writing),
                    failed: None,
                }
            };
            let scored = pool.install(|| -> Result<(), CommandError> {
                for batch in incoming {
                    let mut batch = batch?;
                    let file = source.files()[batch.file].path.display().to_string();
                    let offset = tally.rows.input as usize;
                    batch.batch = population
                        .attach(&batch.batch, offset)
                        .map_err(RunError::Derive)?;
                    let given = whole.given(offset, batch.batch.num_rows());
                    let scored = plan.scorer.score_with(&batch.batch, &given);
                    if let (OnRowError::Fail, Some(first)) =
                        (pipeline.errors.on_row_error, scored.rejects.first())
                    {
                        return Err(RunError::RowFailed {
                            source_file: file,
                            row: batch.row_number(first.row),
                            step: first.step.clone(),
                            message: first.message.clone(),
                        }
                        .into());
                    }
                    let ids = batch
                        .batch
                        .column_by_name(&pipeline.input.id)
                        .expect("the plan reads the id column");
                    let reject_rows =
                        RejectWriter::rows(&reject_schema, &scored.rejects, ids, &file, |row| {
                            batch.row_number(row)
                        })?;
                    for reject in scored
                        .rejects
                        .iter()
                        .take(3 - tally.first_rejects.len().min(3))
                    {
                        tally.first_rejects.push(format!(
                            "{file} row {} (step {}): {}",
                            batch.row_number(reject.row),
                            reject.step,
                            reject.message
                        ));
                    }
                    tally.add(&scored);
                    progress.inc(batch.batch.num_rows() as u64);
                    if tally.rows.rejected > allowed {
                        return Err(too_many_rejects(&tally, rows_expected, &pipeline, allowed));
                    }
                    let sent = reject_rows.is_none_or(|rows| writer.send(ToWriter::Rejects(rows)))
                        && writer.send(ToWriter::Scored(batch.batch, scored));
                    if !sent {
                        // The writer stopped on an error; finishing it below reports it.
                        break;
                    }
                }
                Ok(())
            });
            let score_seconds = scoring.elapsed().as_secs_f64();
            let written = writer.finish();
            scored?;
            let (files, rejected) = written?;
            Ok((files, rejected, score_seconds))
        },
    )?;
    progress.finish_and_clear();

    let finishing = Instant::now();
    let files = written_files;
    // `drop_row` (tests only, see `crate::test_fault`) loses one row from the count.
    let written: u64 =
        files.iter().map(|f| f.rows).sum::<u64>() - u64::from(crate::test_fault("drop_row"));
    let counts = tally.rows;
    if counts.input != counts.scored + counts.rejected
        || written != counts.scored
        || rejected_written != counts.rejected
        || (sample.is_none() && counts.input != rows_expected)
    {
        return Err(RunError::RowsLost {
            input: counts.input.max(rows_expected),
            scored: written,
            rejected: rejected_written,
        }
        .into());
    }
    if counts.rejected as f64 > pipeline.errors.max_reject_fraction * counts.input as f64 {
        return Err(too_many_rejects(&tally, rows_expected, &pipeline, allowed));
    }

    let levels = plan.scorer.tiers.levels();
    let mut manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        tool: "tierscore",
        tool_version: env!("CARGO_PKG_VERSION"),
        run_id: run_id.clone(),
        started_at: started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        finished_at: String::new(),
        pipeline: PipelineInfo {
            path: pipeline.path.display().to_string(),
            name: pipeline.name.clone(),
            sha256: sha256_hex(pipeline.source.text().as_bytes()),
        },
        scripts: plan.scripts.clone(),
        rules_sha256: plan.rules_sha256.clone(),
        params: serde_json::to_value(&pipeline.params).unwrap_or_default(),
        inputs: source
            .files()
            .iter()
            .map(|f| InputInfo {
                path: f.path.display().to_string(),
                bytes: f.bytes,
                rows: f.rows,
            })
            .collect(),
        limit: args.limit,
        sample: args.sample.map(|fraction| SampleInfo {
            fraction,
            seed: args.seed,
        }),
        threads,
        rows: counts,
        score: tally.score.clone(),
        tiers: levels
            .iter()
            .zip(&tally.tiers)
            .map(|(level, score)| TierSummary {
                level: level.clone(),
                count: score.count,
                score: score.clone(),
            })
            .collect(),
        factors: pipeline
            .factors
            .iter()
            .zip(&tally.factors)
            .map(|(factor, values)| FactorSummary {
                name: factor.name.clone(),
                weight: factor.weight,
                values: values.clone(),
            })
            .collect(),
        output: OutputInfo {
            id: pipeline.input.id.clone(),
            partition_by: match pipeline.output.partition_by {
                PartitionBy::Tier => "tier",
                PartitionBy::None => "none",
            },
            columns: plan
                .layout
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            files,
            rejects_file: REJECTS_FILE,
        },
        derive: population.summaries.clone(),
        tier_cutoffs: whole.cutoffs.clone(),
        normalization: whole.normalization.clone(),
        ahp: pipeline.ahp.as_ref().map(AhpFigures::from),
        phases_seconds: Phases {
            plan: plan_seconds,
            derive: derive_seconds,
            rank: rank_seconds,
            score_and_write: score_seconds,
            finish: 0.0,
        },
    };
    manifest.phases_seconds.finish = finishing.elapsed().as_secs_f64();
    manifest.finished_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    manifest.write(staging.dir())?;
    let success = staging.dir().join("_SUCCESS");
    std::fs::write(&success, b"").map_err(|source| crate::sink::SinkError::Io {
        action: "write",
        path: success.clone(),
        source,
    })?;
    staging.commit()?;

    report(ui, &manifest, &target, clock.elapsed().as_secs_f64());
    Ok(())
}

impl Tally {
    /// Counts one scored batch: rows, and the score and factor statistics of its scored rows,
    /// in input order so the figures do not depend on the thread count.
    fn add(&mut self, scored: &ScoredBatch) {
        let factors: Vec<&Float64Array> = scored
            .factors
            .iter()
            .filter_map(|column| column.as_any().downcast_ref::<Float64Array>())
            .collect();
        for (row, tier) in scored.tier.iter().enumerate() {
            let Some(tier) = *tier else { continue };
            let score = scored.score.value(row);
            self.score.add(score);
            self.tiers[tier].add(score);
            for (summary, values) in self.factors.iter_mut().zip(&factors) {
                summary.add(values.value(row));
            }
        }
        self.rows.input += scored.tier.len() as u64;
        self.rows.scored += scored.scored_rows() as u64;
        self.rows.rejected += scored.rejects.len() as u64;
    }
}

fn too_many_rejects(tally: &Tally, rows: u64, pipeline: &Pipeline, allowed: u64) -> CommandError {
    let so_far = if tally.rows.input < rows {
        " so far"
    } else {
        ""
    };
    let mut help = String::from("first rejected rows:");
    for line in &tally.first_rejects {
        help.push_str("\n  ");
        help.push_str(line);
    }
    help.push_str("\nfix the rule or the data, or raise errors.max_reject_fraction");
    RunError::TooManyRejects {
        rejected: tally.rows.rejected,
        rows,
        so_far,
        fraction: pipeline.errors.max_reject_fraction,
        allowed,
        help,
    }
    .into()
}

/// A run id that sorts by time and differs between runs started in the same second.
fn new_run_id(started_at: &chrono::DateTime<Utc>) -> String {
    let nonce = sha256_hex(
        format!(
            "{}-{}-{:?}",
            started_at.timestamp_nanos_opt().unwrap_or_default(),
            std::process::id(),
            std::thread::current().id()
        )
        .as_bytes(),
    );
    format!("{}-{}", started_at.format("%Y%m%dT%H%M%SZ"), &nonce[..8])
}

fn progress_bar(ui: Ui, rows: u64) -> ProgressBar {
    if !ui.progress_allowed() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(rows);
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
        tiers = %serde_json::to_string(&manifest.tiers.iter().map(|t| (&t.level.name, t.count)).collect::<Vec<_>>()).unwrap_or_default(),
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
        .map(|t| t.level.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(16);
    for tier in &manifest.tiers {
        let share = if rows.scored == 0 {
            0.0
        } else {
            100.0 * tier.count as f64 / rows.scored as f64
        };
        say!(
            "  {:<width$} {:>10}  {share:5.1}%",
            tier.level.name,
            tier.count
        );
    }
    say!("output: {}", target.display());
}
