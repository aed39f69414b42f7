//! A run split into tasks for a distributed engine (Spark, Ray; the wiring is in the Python
//! package): one task per row group of the input, scored on the engine's executors, merged and
//! committed by its driver, with the output a single-machine `tierscore run` commits.
//!
//! Exactness comes by construction: every step that depends on other rows runs on the driver
//! with the code `run` uses, over the same values in the same order.
//!
//! 1. Derive pass: each task returns the values of the columns derives read
//!    ([`Job::derive_values`]); the driver appends them in task order (file, then row group:
//!    the run's order) and computes the derive columns ([`Job::merge_derive`]).
//! 2. Ranking pass (normalisation, rank or ABC tiers): each task scores its rows once with its
//!    slice of the derive columns ([`Job::derived`]) and returns what ranking keeps
//!    ([`Job::rank_values`]); the driver ranks them all ([`Job::merge_ranking`]), ties going
//!    by position in the run as in `run`.
//! 3. Scoring: each task scores its rows with its slice of both ([`Job::ranked`]) and returns
//!    the scored batches ([`Job::score`]); the driver writes them in task order through the
//!    writing, counting and committing code of `run` ([`Job::commit`]), into the staging
//!    directory of [`crate::sink::Staging`].
//!
//! Tasks return their results to the driver instead of writing files: an engine keeps one
//! result per task whatever the attempts (a retried task's first attempt leaves nothing), and
//! the driver checks that it holds exactly one result for every task, each of the task's rows,
//! before anything is committed.

use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt64Type};
use indicatif::ProgressBar;
use std::sync::Arc;

use super::passes::Passes;
use super::ranking::{RankInputs, Ranking};
use super::{ExecError, RejectBudget, Run, RunOptions, ScoredInput, Started};
use crate::derive::Population;
use crate::manifest::Manifest;
use crate::pipeline::Pipeline;
use crate::plan::Plan;
use crate::score::{reject_code_of, Reject, ScoredBatch};
use crate::source::{Scan, Source, SourceBatch};
use crate::stats::Number;

/// One task: a row group of an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Index into [`Source::files`].
    pub file: usize,
    /// Row group within the file.
    pub row_group: usize,
    /// Row number (0-based, within the file) of its first row.
    pub first_row: u64,
    /// Its rows.
    pub rows: u64,
    /// Position in the run of its first row.
    pub position: u64,
}

/// One batch a task scored, as it travels back to the driver: three Arrow batches of the same
/// rows (each a plain Arrow batch, so any engine can carry it).
#[derive(Debug, Clone)]
pub struct ScoredPart {
    /// The input rows the rules read, with their derive columns.
    pub rows: RecordBatch,
    /// Per row: `factor_0` …, `reason_0` …, `score`, `tier` (UInt64, null where rejected).
    pub scored: RecordBatch,
    /// Per rejected row: `row` (within the batch), `step`, `code`, `message`, `inputs`.
    pub rejects: RecordBatch,
}

/// A pipeline split into tasks: the executors' calls (`derive_values`, `rank_values`, `score`)
/// and the driver's (`merge_derive`, `merge_ranking`, `derived`, `ranked`, `commit`).
pub struct Job {
    pipeline: Pipeline,
    plan: Plan,
    source: Source,
    tasks: Vec<Task>,
    started: Instant,
    population: Option<Population>,
    ranking: Option<Ranking>,
    derive_seconds: f64,
    rank_seconds: f64,
    /// Per rule, the rows the executors' plans handed to the interpreter.
    interpreted: Vec<u64>,
}

impl Job {
    /// The tasks of `pipeline` over `source` (the input the plan was built for), in run order.
    pub fn new(pipeline: Pipeline, plan: Plan, source: Source) -> Self {
        let mut tasks = Vec::new();
        let mut position = 0;
        for (file, input) in source.files().iter().enumerate() {
            let mut first_row = 0;
            for (row_group, rows) in input.row_group_rows().into_iter().enumerate() {
                tasks.push(Task {
                    file,
                    row_group,
                    first_row,
                    rows,
                    position,
                });
                first_row += rows;
                position += rows;
            }
        }
        Self {
            pipeline,
            plan,
            source,
            tasks,
            started: Instant::now(),
            population: None,
            ranking: None,
            derive_seconds: 0.0,
            rank_seconds: 0.0,
            interpreted: Vec::new(),
        }
    }

    /// Per rule, the rows this process's plan has handed to the interpreter so far. An
    /// executor reads it before and after a task and returns the difference, which the driver
    /// adds up ([`Job::add_interpreted`]) for the manifest's `rules[].rows_interpreted`.
    pub fn rows_interpreted(&self) -> Vec<u64> {
        self.plan
            .scorer
            .rules()
            .map(|r| r.rows_interpreted())
            .collect()
    }

    /// Driver: adds a task's rows handed to the interpreter, per rule.
    pub fn add_interpreted(&mut self, rows: &[u64]) {
        self.interpreted
            .resize(self.interpreted.len().max(rows.len()), 0);
        for (total, rows) in self.interpreted.iter_mut().zip(rows) {
            *total += rows;
        }
    }

    /// The tasks, in run order; a task is known by its index here.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// The path of input file `file` (a task's [`Task::file`]), as text.
    pub fn file(&self, file: usize) -> String {
        self.source.files()[file].path.display().to_string()
    }

    /// Whether the pipeline has derive columns (pass 1).
    pub fn needs_derive(&self) -> bool {
        !self.pipeline.derive.is_empty()
    }

    /// Whether the pipeline normalises or ranks over the run (pass 2).
    pub fn needs_ranking(&self) -> bool {
        Ranking::needed(&self.pipeline)
    }

    /// The input rows of `task`, in batches as `run` reads them.
    fn read(&self, task: usize, columns: &[String]) -> Result<Vec<SourceBatch>, ExecError> {
        let task = self.task(task)?;
        Ok(self
            .source
            .row_group_batches(columns, task.file, task.row_group, task.first_row)?)
    }

    fn task(&self, task: usize) -> Result<&Task, ExecError> {
        self.tasks.get(task).ok_or_else(|| ExecError::TaskResults {
            message: format!(
                "there is no task {task} (the input has {})",
                self.tasks.len()
            ),
        })
    }

    /// Executor, pass 1: the values of `task`'s rows the derives are computed from, one
    /// Float64 column per input column (missing and `NaN` values null: derives leave both out).
    pub fn derive_values(&self, task: usize) -> Result<RecordBatch, ExecError> {
        let inputs = Population::inputs(&self.pipeline.derive);
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); inputs.len()];
        for batch in self.read(task, &inputs)? {
            Population::append_inputs(&inputs, &batch.batch, &mut values)
                .map_err(|err| Scan::all(&self.source).decode_error(&batch, err))?;
        }
        let fields: Vec<Field> = inputs
            .iter()
            .map(|name| Field::new(name, DataType::Float64, true))
            .collect();
        let columns: Vec<ArrayRef> = values
            .into_iter()
            .map(|v| {
                let column: Float64Array =
                    v.into_iter().map(|x| (!x.is_nan()).then_some(x)).collect();
                Arc::new(column) as ArrayRef
            })
            .collect();
        batch_of(fields, columns, self.tasks[task].rows as usize)
    }

    /// Driver, after pass 1: computes the derive columns from every task's
    /// [`Job::derive_values`], given as `(task, values)` in task order.
    pub fn merge_derive(&mut self, results: &[(usize, RecordBatch)]) -> Result<(), ExecError> {
        self.check_results(results.iter().map(|(task, b)| (*task, b.num_rows())))?;
        let inputs = Population::inputs(&self.pipeline.derive);
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); inputs.len()];
        for (task, batch) in results {
            for (name, values) in inputs.iter().zip(values.iter_mut()) {
                let column = float_column(batch, name, *task)?;
                values.extend(column.iter().map(f64::from_number));
            }
        }
        self.population = Some(Population::from_values(
            &self.pipeline.derive,
            &inputs,
            values,
        )?);
        self.derive_seconds = self.started.elapsed().as_secs_f64();
        Ok(())
    }

    /// Driver: the derive columns of `task`'s rows (empty without derives), for its passes 2
    /// and 3.
    pub fn derived(&self, task: usize) -> Result<RecordBatch, ExecError> {
        let at = self.task(task)?;
        let (position, rows) = (at.position as usize, at.rows as usize);
        match &self.population {
            Some(population) => population
                .rows(position, rows)
                .map_err(ExecError::DeriveAttach),
            None if self.needs_derive() => Err(self.out_of_order("derive")),
            None => batch_of(vec![], vec![], rows),
        }
    }

    /// Executor, pass 2: scores `task`'s rows once with their derive columns (`derived`) and
    /// returns what ranking keeps of each row.
    pub fn rank_values(
        &self,
        task: usize,
        derived: &RecordBatch,
    ) -> Result<RecordBatch, ExecError> {
        let population = Population::of_rows(derived);
        let mut inputs = RankInputs::new(&self.plan, &self.pipeline);
        let mut offset = 0;
        for batch in self.read(task, &self.plan.rank_columns)? {
            let rows = population
                .attach(&batch.batch, offset)
                .map_err(ExecError::DeriveAttach)?;
            offset += rows.num_rows();
            inputs
                .score(&self.plan, &rows)
                .map_err(|err| Scan::all(&self.source).decode_error(&batch, err))?;
        }
        Ok(inputs.to_batch())
    }

    /// Driver, after pass 2: normalises and ranks every row from every task's
    /// [`Job::rank_values`], given as `(task, values)` in task order.
    pub fn merge_ranking(&mut self, results: &[(usize, RecordBatch)]) -> Result<(), ExecError> {
        self.check_results(results.iter().map(|(task, b)| (*task, b.num_rows())))?;
        let mut inputs = RankInputs::new(&self.plan, &self.pipeline);
        for (task, batch) in results {
            inputs
                .append_batch(batch)
                .ok_or_else(|| ExecError::TaskResults {
                    message: format!(
                        "the ranking values of task {task} lack a column or hold another type"
                    ),
                })?;
        }
        self.ranking = Some(inputs.finish(&self.plan, &self.pipeline)?);
        // From the derive merge (or the job's start) to here: the ranking pass on the engine.
        self.rank_seconds = self.started.elapsed().as_secs_f64() - self.derive_seconds;
        Ok(())
    }

    /// Driver: the normalised factors and tiers of `task`'s rows (empty without a ranking
    /// pass), for its pass 3.
    pub fn ranked(&self, task: usize) -> Result<RecordBatch, ExecError> {
        let at = self.task(task)?;
        match &self.ranking {
            Some(ranking) => Ok(ranking.rows(at.position as usize, at.rows as usize)),
            None if self.needs_ranking() => Err(self.out_of_order("ranking")),
            None => batch_of(vec![], vec![], at.rows as usize),
        }
    }

    /// Executor, pass 3: scores `task`'s rows with their derive columns and ranking results
    /// ([`Job::derived`], [`Job::ranked`]), batch by batch as `run` does.
    pub fn score(
        &self,
        task: usize,
        derived: &RecordBatch,
        ranked: &RecordBatch,
    ) -> Result<Vec<ScoredPart>, ExecError> {
        let ranking =
            Ranking::of_rows(ranked, self.plan.scorer.factors.len()).ok_or_else(|| {
                ExecError::TaskResults {
                    message: format!("the ranking results of task {task} lack a column"),
                }
            })?;
        let passes = Passes {
            population: Population::of_rows(derived),
            ranking,
            derive_seconds: 0.0,
            rank_seconds: 0.0,
        };
        let mut offset = 0;
        let mut parts = Vec::new();
        for batch in self.read(task, &self.plan.read_columns)? {
            let (rows, ranked) = passes.prepare(&batch.batch, offset)?;
            offset += rows.num_rows();
            let scored = self.plan.scorer.score_with(&rows, &ranked);
            parts.push(ScoredPart {
                scored: scored_batch(&scored)?,
                rejects: rejects_batch(&scored.rejects)?,
                rows,
            });
        }
        Ok(parts)
    }

    /// Driver, after pass 3: writes every task's scored parts, given as `(task, parts)` in task
    /// order, into a staging directory of `options.target` with the rejects file, the
    /// manifest, the report and `_SUCCESS`, checks every row is accounted for, and commits.
    /// The manifest is `run`'s, counted the same way from the same rows.
    pub fn commit(
        &mut self,
        results: Vec<(usize, Vec<ScoredPart>)>,
        options: &RunOptions,
        started: Started,
    ) -> Result<Manifest, ExecError> {
        self.check_results(
            results
                .iter()
                .map(|(task, parts)| (*task, parts.iter().map(|p| p.rows.num_rows()).sum())),
        )?;
        if self.needs_derive() && self.population.is_none() {
            return Err(self.out_of_order("derive"));
        }
        if self.needs_ranking() && self.ranking.is_none() {
            return Err(self.out_of_order("ranking"));
        }
        let pool = super::worker_pool(options.threads)?;
        let scan = Scan::all(&self.source);
        let passes = Passes {
            population: self.population.take().unwrap_or_else(|| {
                Population::of_rows(&RecordBatch::new_empty(Arc::new(Schema::empty())))
            }),
            ranking: self.ranking.take().unwrap_or_default(),
            derive_seconds: self.derive_seconds,
            rank_seconds: self.rank_seconds,
        };
        let incoming = results.into_iter().flat_map(|(task, parts)| {
            let mut first_row = self.tasks[task].first_row;
            parts.into_iter().map(move |part| {
                let at = first_row;
                first_row += part.rows.num_rows() as u64;
                Ok((task, at, part))
            })
        });
        let score = |(task, first_row, part): (usize, u64, ScoredPart), _: Option<&_>| {
            scored_input(&self.tasks[task], task, first_row, part)
        };
        let progress = ProgressBar::hidden();
        let run = Run {
            pipeline: &self.pipeline,
            plan: &self.plan,
            scan: &scan,
            options,
            progress: &progress,
            started,
            interpreted_elsewhere: &self.interpreted,
            limit: None,
        };
        run.score_and_commit(
            &pool,
            RejectBudget::new(&self.pipeline, &scan),
            &passes,
            None,
            incoming,
            score,
        )
    }

    /// Fails unless `results` (task, rows) hold one result for every task, in task order, each
    /// with the task's rows.
    fn check_results(
        &self,
        results: impl ExactSizeIterator<Item = (usize, usize)>,
    ) -> Result<(), ExecError> {
        let count = results.len();
        if count != self.tasks.len() {
            return Err(ExecError::TaskResults {
                message: format!("{count} results came back for {} tasks", self.tasks.len()),
            });
        }
        for (expected, (task, rows)) in results.enumerate() {
            if task != expected {
                return Err(ExecError::TaskResults {
                    message: format!("result {expected} is of task {task}, not task {expected}"),
                });
            }
            if rows as u64 != self.tasks[task].rows {
                return Err(ExecError::TaskResults {
                    message: format!(
                        "task {task} returned {rows} rows, and its row group holds {}",
                        self.tasks[task].rows
                    ),
                });
            }
        }
        Ok(())
    }

    fn out_of_order(&self, pass: &str) -> ExecError {
        ExecError::TaskResults {
            message: format!("the {pass} pass's results were not merged before they were used"),
        }
    }
}

/// A scored part back as the batch of input rows and the scoring the writing loop takes.
fn scored_input(
    at: &Task,
    task: usize,
    first_row: u64,
    part: ScoredPart,
) -> Result<ScoredInput, ExecError> {
    let bad = |what: &str| ExecError::TaskResults {
        message: format!("a scored batch of task {task}: {what}"),
    };
    let ScoredPart {
        rows,
        scored,
        rejects,
    } = part;
    if scored.num_rows() != rows.num_rows() {
        return Err(bad("its scores and its rows differ in number"));
    }
    let column = |name: &str| {
        scored
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| bad(&format!("no column `{name}`")))
    };
    let factors_count = scored
        .schema()
        .fields()
        .iter()
        .filter(|f| f.name().starts_with("factor_"))
        .count();
    let mut factors = Vec::with_capacity(factors_count);
    let mut reasons = Vec::with_capacity(factors_count);
    for i in 0..factors_count {
        factors.push(column(&format!("factor_{i}"))?);
        let reason = column(&format!("reason_{i}"))?;
        reasons.push(
            reason
                .as_string_opt::<i32>()
                .ok_or_else(|| bad("a reason column is not Utf8"))?
                .clone(),
        );
    }
    let score = column("score")?
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| bad("the score column is not Float64"))?
        .clone();
    let tier = column("tier")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| bad("the tier column is not UInt64"))?
        .iter()
        .map(|t| t.map(|t| t as usize))
        .collect();
    let text = |name: &str| -> Result<StringArray, ExecError> {
        Ok(rejects
            .column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| bad(&format!("its rejects have no Utf8 column `{name}`")))?
            .clone())
    };
    let (steps, codes, messages, inputs) = (
        text("step")?,
        text("code")?,
        text("message")?,
        text("inputs")?,
    );
    let reject_rows = rejects
        .column_by_name("row")
        .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        .ok_or_else(|| bad("its rejects have no UInt64 column `row`"))?;
    let mut list = Vec::with_capacity(rejects.num_rows());
    for i in 0..rejects.num_rows() {
        let spelled = codes.value(i);
        list.push(Reject {
            row: reject_rows.value(i) as usize,
            step: steps.value(i).to_string(),
            code: reject_code_of(spelled)
                .ok_or_else(|| bad(&format!("unknown reject code `{spelled}`")))?,
            message: messages.value(i).to_string(),
            inputs: inputs.is_valid(i).then(|| inputs.value(i).to_string()),
        });
    }
    let batch = SourceBatch {
        batch: rows,
        file: at.file,
        first_row,
        sampled_rows: None,
    };
    Ok((
        batch,
        ScoredBatch {
            factors,
            reasons,
            score,
            tier,
            rejects: list,
        },
    ))
}

/// A scoring's per-row results as one batch ([`ScoredPart::scored`]).
fn scored_batch(scored: &ScoredBatch) -> Result<RecordBatch, ExecError> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (i, factor) in scored.factors.iter().enumerate() {
        fields.push(Field::new(format!("factor_{i}"), DataType::Float64, true));
        columns.push(factor.clone());
    }
    for (i, reason) in scored.reasons.iter().enumerate() {
        fields.push(Field::new(format!("reason_{i}"), DataType::Utf8, true));
        columns.push(Arc::new(reason.clone()));
    }
    fields.push(Field::new("score", DataType::Float64, true));
    columns.push(Arc::new(scored.score.clone()));
    fields.push(Field::new("tier", DataType::UInt64, true));
    columns.push(Arc::new(UInt64Array::from_iter(
        scored.tier.iter().map(|t| t.map(|t| t as u64)),
    )));
    batch_of(fields, columns, scored.tier.len())
}

/// A scoring's rejects as one batch ([`ScoredPart::rejects`]).
fn rejects_batch(rejects: &[Reject]) -> Result<RecordBatch, ExecError> {
    let fields = vec![
        Field::new("row", DataType::UInt64, false),
        Field::new("step", DataType::Utf8, false),
        Field::new("code", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, false),
        Field::new("inputs", DataType::Utf8, true),
    ];
    let rows: ArrayRef = Arc::new(UInt64Array::from_iter_values(
        rejects.iter().map(|r| r.row as u64),
    ));
    let columns: Vec<ArrayRef> = std::iter::once(rows)
        .chain(Reject::text_columns(rejects))
        .collect();
    batch_of(fields, columns, rejects.len())
}

/// Column `name` of a task's result, as Float64.
fn float_column<'b>(
    batch: &'b RecordBatch,
    name: &str,
    task: usize,
) -> Result<&'b Float64Array, ExecError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .ok_or_else(|| ExecError::TaskResults {
            message: format!("the derive values of task {task} have no Float64 column `{name}`"),
        })
}

/// A batch of `rows` rows of these columns.
fn batch_of(
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
    rows: usize,
) -> Result<RecordBatch, ExecError> {
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|err| ExecError::Sink(err.into()))
}
