//! The executor: runs stages 3 to 7 of the data path for a plan. One module runs the passes a
//! pipeline needs over the same scan of its input (derive, ranking, then scoring and writing),
//! checks that every row is accounted for, and commits the output with its manifest.
//!
//! - [`passes`]: the population-wide passes before scoring;
//! - [`lanes`]: batches scored side by side on the pool, taken back in run order;
//! - [`write`]: the writing end, in turn with scoring or on the pool behind it;
//! - [`handoff`]: the writer's messages, written by whichever pool thread comes first;
//! - this file: the scoring loop, the tally, the manifest and the commit.

mod batch;
mod handoff;
mod lanes;
pub mod passes;
pub mod ranking;
mod rejects;
pub mod tasks;
mod unique;
mod write;

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::array::{Array, Float64Array, RecordBatch};
use chrono::{SecondsFormat, Utc};
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use crate::derive::DeriveError;
use crate::human::count;
use crate::manifest::{
    AhpFigures, FactorSummary, InputInfo, Manifest, OutputInfo, Phases, PipelineInfo, RejectCount,
    ReportInfo, RowCounts, RuleSummary, SampleInfo, ScoreQuantiles, Summary, TierSummary,
    WrittenFile, DATA_DIR, MANIFEST_FILE, REJECTS_FILE, REPORT_FILE, SCHEMA_VERSION, SUCCESS_FILE,
};
use crate::pipeline::{yaml_name, OnRowError, Pipeline};
use crate::plan::{sha256_hex, Plan};
use crate::report::Counts;
use crate::report::WhaleValues;
use crate::rules::RuleEngine;
use crate::score::{BatchLimit, RejectLimit, ScoredBatch, Sharing};
use crate::sink::chain::{Chain, Chains};
use crate::sink::writer::properties;
use crate::sink::{OutputWriter, RejectWriter, SinkError, Staging};
use crate::source::{Scan, SourceBatch, SourceError};
use crate::stats::exact::{nearest_rank, ExactSum};
use crate::stats::keys::{ascending_key, ascending_value, Keys, SpillError};
use crate::store::Location;
pub use batch::{score_batch, ScoredRows};
pub use passes::Passes;
pub use rejects::RejectBudget;
use unique::IdHashes;
use write::{ToWriter, WriteStage, Writing};

/// Why executing a plan failed. Nothing is committed in any of these cases (exit code 3).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExecError {
    /// The input could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Source(#[from] SourceError),
    /// The derive pass failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Derive(#[from] DeriveError),
    /// An id occurs more than once in the input (`input.unique_ids`).
    #[error("{count} id(s) of column `{column}` occur more than once in the input: {first}; nothing was committed")]
    #[diagnostic(
        code(run::duplicate_ids),
        help("deduplicate the input, or set `input.unique_ids: false` to score every row anyway")
    )]
    DuplicateIds {
        count: usize,
        column: String,
        first: String,
    },
    /// The ids could not be read for the duplicate check.
    #[error("cannot read the ids to check they are unique: {0}")]
    #[diagnostic(code(run::ids))]
    Ids(String),
    /// The population could not be normalised or ranked.
    #[error("cannot {what} over the run: {message}")]
    #[diagnostic(
        code(run::whole_run),
        help("ABC tiers need a total above 0; rank and normalise need at most 4 billion rows")
    )]
    Ranking { what: &'static str, message: String },
    /// Output could not be written or committed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Sink(#[from] SinkError),
    /// The report could not be made from the staged output.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Report(#[from] crate::report::ReportError),
    /// More rows were rejected than `errors.max_reject_fraction` allows.
    #[error(
        "{} of {} input rows rejected{so_far}{during}, more than errors.max_reject_fraction {fraction} allows ({}); nothing was committed",
        count(*.rejected),
        count(*.rows),
        count(*.allowed)
    )]
    #[diagnostic(code(run::too_many_rejects))]
    TooManyRejects {
        rejected: u64,
        rows: u64,
        so_far: &'static str,
        during: &'static str,
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
    DeriveAttach(arrow::error::ArrowError),
    /// The worker threads could not be started.
    #[error("cannot start {threads} worker threads: {message}")]
    #[diagnostic(
        code(run::threads),
        help("the machine refused new threads; run with fewer (--threads) or free some resources")
    )]
    Threads { threads: usize, message: String },
    /// A batch handed over in memory was scored with a pipeline whose steps need the whole
    /// input ([`score_batch`]).
    #[error("pipeline `{pipeline}` has {steps}, which need every row of the input before one is scored; a batch alone cannot be scored")]
    #[diagnostic(
        code(run::needs_whole_input),
        help("run the pipeline over its input (`tierscore run`), which makes those passes first")
    )]
    NeedsWholeInput { pipeline: String, steps: String },
    /// A batch handed over in memory lacks a column the rules read, or holds another type.
    #[error("column `{column}`: {message}")]
    #[diagnostic(
        code(run::batch_column),
        help("hand over the input's columns as its Parquet files name and type them")
    )]
    BatchColumn { column: String, message: String },
    /// A distributed run's engine returned results that are not one for every task with the
    /// task's rows, or not as the tasks make them.
    #[error("the tasks' results do not match the tasks: {message}; nothing was committed")]
    #[diagnostic(
        code(run::task_results),
        help("the engine lost, repeated or reordered task results; run the job again, and report it with the engine's version if it persists")
    )]
    TaskResults { message: String },
    /// Rows in did not equal rows scored plus rows rejected: a bug, never committed.
    #[error(
        "rows in ({}) != rows scored ({}) + rows rejected ({}); nothing was committed",
        count(*.input),
        count(*.scored),
        count(*.rejected)
    )]
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

/// How a run reads and where it writes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The output directory or prefix (the pipeline's `output.path`, or `--output`).
    pub target: Location,
    /// Worker threads; with more than one, decoding and writing overlap scoring.
    pub threads: usize,
    /// The run's id, in the manifest, the files' metadata and the staging folder's name.
    pub run_id: String,
    /// The params `--set` gave, in order (the manifest records them).
    pub params_from_set: Vec<String>,
    /// Count the branches each rule's rows take (`run --coverage`) into the manifest's
    /// `coverage`; a traced interpreter run on top of scoring, so off unless asked for.
    pub coverage: bool,
}

/// Runs `plan` over `scan` and commits the output to `options.target`; the committed
/// manifest comes back. `started` is when the command started (the manifest's times count
/// from it), `plan_seconds` how long loading and planning took.
pub fn run(
    pipeline: &Pipeline,
    plan: &Plan,
    scan: &Scan<'_>,
    options: &RunOptions,
    progress: &ProgressBar,
    started: Started,
) -> Result<Manifest, ExecError> {
    let pool = worker_pool(options.threads)?;
    let rows_expected = scan.rows_expected();
    // One bar over every pass, so its rate and time left cover the whole run.
    progress.set_length(rows_expected * Passes::names(pipeline).len() as u64);
    let budget = RejectBudget::new(pipeline, scan);
    let limit = RejectLimit::new(budget.allowed());
    let passes = Passes::compute(pipeline, plan, scan, &budget, progress, &pool)?;
    let coverage = options
        .coverage
        .then(|| crate::rules::coverage::Tally::new(plan.scorer.rules()));
    let batches = positioned(scan, &plan.read_columns);
    let score = |(batch, position): (SourceBatch, usize),
                 coverage: Option<&crate::rules::coverage::Tally>| {
        let (rows, ranked) = passes.prepare(&batch.batch, position)?;
        // Batches are scored side by side in the lanes of `score_and_commit`.
        let scored = plan.scorer.score_counted(
            &rows,
            &ranked,
            Sharing::Whole,
            coverage,
            Some(BatchLimit {
                limit: &limit,
                first_row: position,
            }),
        );
        Ok((
            SourceBatch {
                batch: rows,
                ..batch
            },
            scored,
        ))
    };
    let run = Run {
        pipeline,
        plan,
        scan,
        options,
        progress,
        started,
        interpreted_elsewhere: &[],
        limit: Some(&limit),
    };
    run.score_and_commit(&pool, budget, &passes, coverage, batches, score)
}

/// The batches of `columns` that `scan` reads, each with its position in the run: where its
/// rows are in the whole-run passes' per-row results.
pub(crate) fn positioned<'s>(
    scan: &'s Scan<'_>,
    columns: &'s [String],
) -> impl Iterator<Item = Result<(SourceBatch, usize), ExecError>> + Send + 's {
    let mut position = 0;
    scan.batches(columns).map(move |batch| {
        let batch = batch.map_err(ExecError::from)?;
        let at = position;
        position += batch.batch.num_rows();
        Ok((batch, at))
    })
}

/// The pool of `threads` workers a run opens its input (the page walk), scores and encodes
/// on. Each worker gets the main thread's usual stack ([`WORKER_STACK`]).
pub(crate) fn worker_pool(threads: usize) -> Result<rayon::ThreadPool, ExecError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(WORKER_STACK)
        .build()
        .map_err(|e| ExecError::Threads {
            threads,
            message: e.to_string(),
        })
}

/// The stack of a run's worker (8 MiB, the main thread's on Linux). `run` opens its input on
/// them, and parquet's footer load recurses once a level of a nested schema: on rayon's
/// default 2 MiB a schema nested about 2,000 levels deep overflowed the stack (an abort), where
/// the main thread's reads it and names the problem.
const WORKER_STACK: usize = 8 << 20;

/// What a run scores and where it commits: the arguments of [`run`], shared with a
/// distributed run's driver ([`tasks::Job::commit`]).
pub(crate) struct Run<'r, 'a> {
    pub pipeline: &'r Pipeline,
    pub plan: &'r Plan,
    pub scan: &'r Scan<'a>,
    pub options: &'r RunOptions,
    pub progress: &'r ProgressBar,
    pub started: Started,
    /// Per rule, rows other processes' copies of the plan handed to the interpreter (a
    /// distributed run's executors), added to this plan's own counts in the manifest.
    pub interpreted_elsewhere: &'r [u64],
    /// The reject limit the scoring skips slices (or whole batches, [`Sharing::Whole`]) at,
    /// settled here in run order (none when the rows were scored elsewhere).
    pub limit: Option<&'r RejectLimit>,
}

/// A batch of input rows (with their derive columns) and what scoring gave them.
pub(crate) type ScoredInput = (SourceBatch, ScoredBatch);

/// A scored batch and its output rows with their tiers, as a scoring lane leaves it.
type Laid = (
    SourceBatch,
    ScoredBatch,
    Result<(RecordBatch, Vec<usize>), SinkError>,
);

impl Run<'_, '_> {
    /// The scoring-and-writing pass of a run whose passes before scoring are done, then the
    /// checks, the manifest and the commit: `incoming` gives the batches in run order (read
    /// ahead on a thread of their own with more than one thread) and `score` scores each, on
    /// the worker `pool`. Every figure of the manifest is counted here, whoever scored.
    pub(crate) fn score_and_commit<T: Send>(
        self,
        pool: &rayon::ThreadPool,
        mut budget: RejectBudget,
        passes: &Passes,
        coverage: Option<crate::rules::coverage::Tally>,
        incoming: impl Iterator<Item = Result<T, ExecError>> + Send,
        score: impl Fn(T, Option<&crate::rules::coverage::Tally>) -> Result<ScoredInput, ExecError>
            + Sync,
    ) -> Result<Manifest, ExecError> {
        let Run {
            pipeline,
            plan,
            scan,
            options,
            progress,
            started,
            interpreted_elsewhere,
            limit,
        } = self;
        let source = scan.source;
        let threads = options.threads;
        let rows_expected = scan.rows_expected();
        let run_id = options.run_id.clone();
        let staging = Staging::prepare(&options.target, &run_id)?;
        let props = properties(
            vec![
                ("tierscore.run_id".into(), run_id.clone()),
                ("tierscore.pipeline".into(), pipeline.name.clone()),
                ("tierscore.version".into(), env!("CARGO_PKG_VERSION").into()),
                ("tierscore.rules_sha256".into(), plan.rules_sha256.clone()),
            ],
            plan.layout.id_column(),
            &plan.layout.number_columns(),
            &plan.layout.free_text_columns(),
            pipeline.output.compression,
        );
        let tier_names = plan.scorer.tiers.names();
        // With one thread each file's writes run as they come, on it.
        let chains = Chains::new(threads <= 1);
        let output = OutputWriter::new(
            staging.dir(),
            pipeline.output.partition_by,
            tier_names.clone(),
            plan.layout.schema().clone(),
            props.clone(),
            &chains,
        )?;
        let rejects = RejectWriter::create(staging.dir(), &plan.id_field, &props)?;
        let mut tally = Tally {
            rows: RowCounts {
                input: 0,
                scored: 0,
                rejected: 0,
            },
            score: Summary::default(),
            scores: Keys::spilled_to(staging.dir()).map_err(SinkError::from)?,
            score_sum: ExactSum::default(),
            tiers: vec![Summary::default(); tier_names.len()],
            factors: vec![Summary::default(); pipeline.factors.len()],
            rejects_by: BTreeMap::new(),
        };

        let scoring = Instant::now();
        let reject_schema = rejects.schema();
        let mut id_hashes = pipeline
            .input
            .unique_ids
            .then(|| IdHashes::spilled_to(staging.dir(), rows_expected))
            .transpose()?;
        // With more than one thread, decoding, scoring and encoding overlap: a reader thread
        // decodes ahead (a channel of two batches), the scoring lanes score and lay out a few
        // batches at once on the worker pool, this thread takes them back in order to count
        // them, and the writer encodes behind it (two messages waiting at most), also on the
        // pool: a lane about to start writes what waits first, else the writer's thread puts it
        // on the pool; writing a message hands each file its rows, and the files encode side by
        // side, each in run order (`crate::sink::chain`, the rows of three messages at most).
        // Memory stays bounded by the channels, the chains and the lanes (`threads +
        // SPARE_LANES` batches, so it grows with the thread count). With one thread they take
        // turns on it, so `--threads 1` uses one core.
        let overlap = threads > 1;
        let (written_files, rejects_file, report_counts, score_seconds) = std::thread::scope(
            |scope| -> Result<(Vec<WrittenFile>, WrittenFile, Option<Counts>, f64), ExecError> {
                let whale = if pipeline.output.report {
                    Some(WhaleValues::spilled_to(staging.dir()).map_err(SinkError::from)?)
                } else {
                    None
                };
                let writing = Writing {
                    output,
                    rejects,
                    written: 0,
                    figures: whale.map(|whale| {
                        let counts = crate::report::Counts::new(
                            tier_names.len(),
                            pipeline.factors.iter().map(|f| f.name.clone()).collect(),
                            pipeline
                                .output
                                .report_value
                                .clone()
                                .unwrap_or_else(|| "score".into()),
                            whale,
                        );
                        Chain::new(&chains, counts)
                    }),
                    chains: std::sync::Arc::clone(&chains),
                };
                let mut writer = if overlap {
                    WriteStage::on_pool(scope, pool, writing)
                } else {
                    WriteStage::Inline {
                        writing: Box::new(writing),
                        failed: None,
                    }
                };
                // One lane's work: what waits for the writer written first (so the writing
                // goes ahead of the lanes queued on the pool), then a batch scored and laid out
                // as output rows. A layout error waits for the taking, so a failed row of the
                // same batch is reported first. Of the input rows, only the ids are kept past
                // it (the lists a rule reads can be most of a batch's memory).
                let handoff = writer.lanes_handoff();
                let lane = |item: T| -> Result<Laid, ExecError> {
                    if let Some(handoff) = &handoff {
                        handoff.write_waiting();
                    }
                    let (mut batch, scored) = score(item, coverage.as_ref())?;
                    let rows = plan.layout.build(&batch.batch, &scored);
                    let id = batch
                        .batch
                        .schema()
                        .index_of(&pipeline.input.id)
                        .expect("the plan reads the id column");
                    batch.batch = batch.batch.project(&[id]).map_err(SinkError::from)?;
                    Ok((batch, scored, rows))
                };
                // Takes each batch back in run order: checks, counts and sends it to the writer;
                // false once the writer has stopped on an error (finishing it reports it).
                let take = |laid: Result<Laid, ExecError>| -> Result<bool, ExecError> {
                    let (batch, mut scored, rows) = laid?;
                    if let Some(limit) = limit {
                        limit.settle(&mut scored.rejects);
                    }
                    let file = source.files()[batch.file].path.display().to_string();
                    if let (OnRowError::Fail, Some(first)) =
                        (pipeline.errors.on_row_error, scored.rejects.first())
                    {
                        return Err(ExecError::RowFailed {
                            source_file: file,
                            row: batch.row_number(first.row),
                            step: first.step.clone(),
                            message: first.message.clone(),
                        });
                    }
                    // The id: the one column the lane kept of the input rows.
                    let ids = batch.batch.column(0);
                    if let Some(hashes) = id_hashes.as_mut() {
                        hashes.add(ids.as_ref())?;
                    }
                    let reject_rows = RejectWriter::rows(
                        &reject_schema,
                        &scored.rejects,
                        ids,
                        &file,
                        |row| batch.row_number(row),
                        &run_id,
                    )?;
                    tally.add(&scored);
                    progress.inc(batch.batch.num_rows() as u64);
                    budget.count(scan, &batch, &scored.rejects)?;
                    let (rows, tiers) = rows?;
                    Ok(
                        reject_rows.is_none_or(|rows| writer.send(ToWriter::Rejects(rows)))
                            && writer.send(ToWriter::Rows(rows, tiers)),
                    )
                };
                let scored = lanes::pass(pool, scope, incoming, lane, take);
                let written = writer.finish();
                let score_seconds = scoring.elapsed().as_secs_f64();
                scored?;
                let (files, rejected, counts) = written?;
                Ok((files, rejected, counts, score_seconds))
            },
        )?;
        progress.finish_and_clear();

        let finishing = Instant::now();
        // `drop_row` (tests only, see `crate::test_fault`) loses one row from the count.
        let written: u64 = written_files.iter().map(|f| f.rows).sum::<u64>()
            - u64::from(crate::test_fault("drop_row"));
        let counts = tally.rows;
        if counts.input != counts.scored + counts.rejected
            || written != counts.scored
            || rejects_file.rows != counts.rejected
            || (scan.sample.is_none() && counts.input != rows_expected)
        {
            return Err(ExecError::RowsLost {
                input: counts.input.max(rows_expected),
                scored: written,
                rejected: rejects_file.rows,
            });
        }
        budget.check_total(counts.input)?;

        // What is left runs side by side on the pool: the duplicate-id check (over one hash a
        // row), the manifest (whose score quantiles are a selection over one score a row) and
        // the report's whale curve. The report's figures were counted from the rows as they
        // were written (`tierscore report` counts the same from the committed files);
        // `phases_seconds.report` is the time of the whale curve and the tables.
        let (checked, (manifest, ranked)) = pool.install(|| {
            rayon::join(
                || id_hashes.map_or(Ok(()), |hashes| hashes.check(scan, &pipeline.input.id)),
                || {
                    rayon::join(
                        || {
                            manifest(
                                pipeline,
                                plan,
                                scan,
                                options,
                                &started,
                                tally,
                                (written_files, rejects_file),
                                passes,
                            )
                        },
                        || {
                            report_counts.map(|counts| {
                                let ranking = Instant::now();
                                (counts.ranked(), ranking.elapsed().as_secs_f64())
                            })
                        },
                    )
                },
            )
        });
        checked?;
        let mut manifest = manifest?;
        for (rule, elsewhere) in manifest.rules.iter_mut().zip(interpreted_elsewhere) {
            rule.rows_interpreted += elsewhere;
        }
        manifest.phases_seconds.score_and_write = score_seconds;
        manifest.coverage = coverage.map(crate::rules::coverage::Tally::finish);
        manifest.phases_seconds.finish = finishing.elapsed().as_secs_f64();
        let figures = match ranked {
            Some((ranked, ranking_seconds)) => {
                let ranked = ranked.map_err(SinkError::from)?;
                let reporting = Instant::now();
                let figures = ranked.finish(&manifest);
                manifest.phases_seconds.report =
                    ranking_seconds + reporting.elapsed().as_secs_f64();
                Some(figures)
            }
            None => None,
        };
        manifest.finished_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        crate::test_pause("closed");
        manifest
            .write(staging.dir())
            .map_err(|source| SinkError::Io {
                action: "write",
                path: staging.dir().join(MANIFEST_FILE),
                source,
            })?;
        crate::test_pause("manifest");
        if let Some(figures) = &figures {
            crate::report::write(staging.dir(), &manifest, figures)?;
            crate::test_pause("report");
        }
        let success = staging.dir().join(SUCCESS_FILE);
        std::fs::write(&success, b"").map_err(|source| SinkError::Io {
            action: "write",
            path: success.clone(),
            source,
        })?;
        crate::test_pause("success");
        staging.commit()?;
        Ok(manifest)
    }
}

/// When a run started, and how long it took to load and plan.
#[derive(Debug, Clone)]
pub struct Started {
    pub at: chrono::DateTime<Utc>,
    pub plan_seconds: f64,
}

/// What the run counted while streaming.
struct Tally {
    rows: RowCounts,
    score: Summary,
    /// Every scored row's score as its [`ascending_key`], for the quantiles (spilled to the
    /// staging directory: 8 bytes a row on disk, not in memory).
    scores: Keys,
    score_sum: ExactSum,
    /// Score statistics per tier (their count is the tier's row count).
    tiers: Vec<Summary>,
    factors: Vec<Summary>,
    /// Rejected rows by step and code.
    rejects_by: BTreeMap<(String, &'static str), u64>,
}

impl Tally {
    /// Counts one scored batch: rows, and the score and factor statistics of its scored rows,
    /// in input order so the figures do not depend on the thread count.
    fn add(&mut self, scored: &ScoredBatch) {
        let kept: Vec<(usize, usize)> = scored.scored_tiers().collect();
        let scores = scored.score.values();
        for &(row, _) in &kept {
            self.scores.push(ascending_key(scores[row]));
            self.score_sum.add(scores[row]);
        }
        self.score.add_all(kept.iter().map(|&(row, _)| scores[row]));
        Summary::add_grouped(
            &mut self.tiers,
            kept.iter().map(|&(row, tier)| (tier, scores[row])),
        );
        let factors = scored
            .factors
            .iter()
            .filter_map(|column| column.as_any().downcast_ref::<Float64Array>());
        for (summary, values) in self.factors.iter_mut().zip(factors) {
            let values = values.values();
            summary.add_all(kept.iter().map(|&(row, _)| values[row]));
        }
        for reject in &scored.rejects {
            *self
                .rejects_by
                .entry((reject.step.clone(), reject.code))
                .or_default() += 1;
        }
        self.rows.input += scored.tier.len() as u64;
        self.rows.scored += scored.scored_rows() as u64;
        self.rows.rejected += scored.rejects.len() as u64;
    }
}

/// The run's manifest, all but the times of its last phases; `written` are the output files
/// and the rejects file.
#[allow(clippy::too_many_arguments)]
fn manifest(
    pipeline: &Pipeline,
    plan: &Plan,
    scan: &Scan<'_>,
    options: &RunOptions,
    started: &Started,
    tally: Tally,
    written: (Vec<WrittenFile>, WrittenFile),
    passes: &Passes,
) -> Result<Manifest, ExecError> {
    let (files, rejects) = written;
    let (threads, run_id) = (options.threads, options.run_id.as_str());
    let levels = plan.scorer.tiers.levels();
    let mut inputs = Vec::with_capacity(scan.source.files().len());
    let mut fingerprint = Sha256::new();
    for file in scan.source.files() {
        let footer_sha256 = file.footer_sha256().to_string();
        fingerprint.update(format!("{} {footer_sha256}\n", file.bytes));
        inputs.push(InputInfo {
            path: file.path.display().to_string(),
            absolute_path: if crate::store::url_scheme(&file.path.to_string_lossy()).is_some() {
                file.path.display().to_string()
            } else {
                absolute(&file.path)
            },
            bytes: file.bytes,
            rows: file.rows,
            footer_sha256,
        });
    }
    Ok(Manifest {
        schema_version: SCHEMA_VERSION,
        tool: "tierscore".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        run_id: run_id.to_string(),
        started_at: started.at.to_rfc3339_opts(SecondsFormat::Millis, true),
        finished_at: String::new(),
        pipeline: PipelineInfo {
            path: pipeline.path.display().to_string(),
            absolute_path: absolute(&pipeline.path),
            name: pipeline.name.clone(),
            sha256: sha256_hex(pipeline.source.text().as_bytes()),
        },
        scripts: plan.scripts.clone(),
        rules: plan
            .scorer
            .rules()
            .map(|rule| {
                let (engine, because) = match rule.engine() {
                    RuleEngine::Compiled => ("compiled", None),
                    RuleEngine::Interpreted { because } => ("interpreted", because),
                };
                RuleSummary {
                    name: rule.info().name.clone(),
                    engine: engine.into(),
                    because,
                    rows_interpreted: rule.rows_interpreted(),
                }
            })
            .collect(),
        rules_sha256: plan.rules_sha256.clone(),
        params: serde_json::to_value(&pipeline.params).unwrap_or_default(),
        params_from_set: options.params_from_set.clone(),
        inputs,
        input_fingerprint: hex::encode(fingerprint.finalize()),
        limit: scan.limit,
        sample: scan.sample.map(|sample| SampleInfo {
            fraction: sample.fraction,
            seed: sample.seed,
        }),
        threads,
        rows: tally.rows,
        rejects_by: tally
            .rejects_by
            .into_iter()
            .map(|((step, code), count)| RejectCount {
                step,
                code: code.to_string(),
                count,
            })
            .collect(),
        score: tally.score,
        score_quantiles: score_quantiles(tally.scores, &tally.score_sum)
            .map_err(SinkError::from)?,
        tiers: levels
            .iter()
            .zip(&tally.tiers)
            .map(|(level, score)| TierSummary {
                name: level.name.clone(),
                min: level.min,
                top: level.top,
                upto: level.upto,
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
            partition_by: yaml_name(&pipeline.output.partition_by),
            columns: plan
                .layout
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            files,
            data_dir: DATA_DIR.into(),
            rejects_file: REJECTS_FILE.into(),
            rejects: Some(rejects),
            path: options.target.display(),
            absolute_path: match &options.target {
                Location::Local(path) => absolute(path),
                Location::Remote(remote) => remote.url(),
            },
        },
        coverage: None,
        report: ReportInfo {
            file: pipeline.output.report.then(|| REPORT_FILE.into()),
            value: pipeline.output.report_value.clone(),
        },
        derive: passes.population.summaries.clone(),
        tier_cutoffs: passes.ranking.cutoffs.clone(),
        normalization: passes.ranking.normalization.clone(),
        ahp: pipeline.ahp.as_ref().map(|ahp| AhpFigures {
            weights: ahp.weights.clone(),
            lambda_max: ahp.lambda_max,
            ci: ahp.ci,
            ri: ahp.ri,
            cr: ahp.cr,
        }),
        phases_seconds: Phases {
            plan: started.plan_seconds,
            derive: passes.derive_seconds,
            rank: passes.rank_seconds,
            score_and_write: 0.0,
            report: 0.0,
            finish: 0.0,
        },
    })
}

/// The manifest's `score_quantiles` of the scored rows' `scores` (their [`ascending_key`]s),
/// whose exact sum is `sum`: the values a sort would put at those ranks, found by
/// [`Keys::select_ranks`] (only the few buckets of keys holding a rank are read into memory).
fn score_quantiles(mut scores: Keys, sum: &ExactSum) -> Result<Option<ScoreQuantiles>, SpillError> {
    const PERCENTS: [u32; 9] = [1, 5, 10, 25, 50, 75, 90, 95, 99];
    let n = scores.len();
    let Some(last) = n.checked_sub(1) else {
        return Ok(None);
    };
    let mut ranks = [0; 11];
    for (rank, percent) in ranks[1..10].iter_mut().zip(PERCENTS) {
        *rank = nearest_rank(n, percent).expect("there are scores");
    }
    ranks[10] = last;
    let Some(keys) = scores.select_ranks(ranks)? else {
        return Ok(None);
    };
    let [min, p01, p05, p10, p25, p50, p75, p90, p95, p99, max] = keys.map(ascending_value);
    Ok(Some(ScoreQuantiles {
        p01,
        p05,
        p10,
        p25,
        p50,
        p75,
        p90,
        p95,
        p99,
        min,
        max,
        mean: sum.value() / n as f64,
    }))
}

/// `path` made absolute against the current directory (not resolving links), as text.
fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
