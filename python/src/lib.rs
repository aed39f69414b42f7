//! `tierscore._tierscore`: the Python bindings of tierscore (the package `tierscore` re-exports
//! them). Each method is the wiring of the command of the same name over the core crate; Arrow
//! data crosses through the Arrow C data interface (the PyCapsule protocol), sharing buffers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::ffi_stream::RecordBatchStreamReader;
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use miette::Diagnostic;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString};

use tierscore::commands::check::{find_problems, CheckArgs};
use tierscore::commands::explain::{self, ExplainArgs};
use tierscore::commands::run::{self, RunArgs};
use tierscore::commands::{CommandError, Format, Ui};
use tierscore::diagnostic::FileProblem;
use tierscore::exec::{tasks, RunOptions, Started};
use tierscore::plan::Plan;
use tierscore::rules::EngineChoice;
use tierscore::sink::{data_files, staging, SinkError};
use tierscore::source::Source;
use tierscore::store::Location;

create_exception!(
    tierscore,
    TierscoreError,
    PyException,
    "A tierscore command failed. `code` is the problem code (e.g. `plan::unknown_name`), `exit_code` the CLI's exit code, `problems` the located problems (a list of `Problem`), `help` what to do; `str()` is the message the CLI prints."
);
create_exception!(
    tierscore,
    InvalidPipelineError,
    TierscoreError,
    "The pipeline or its rules are wrong (the CLI's exit code 1)."
);
create_exception!(
    tierscore,
    UsageError,
    TierscoreError,
    "A param override is malformed or names no param (the CLI's exit code 2)."
);
create_exception!(
    tierscore,
    DataError,
    TierscoreError,
    "Reading, scoring or writing failed (the CLI's exit code 3); nothing was committed."
);
create_exception!(
    tierscore,
    OutputLockedError,
    TierscoreError,
    "Another command (a run, or the CLI's `report`) is writing the output (the CLI's exit code 4); retry later."
);

/// One located problem, as `tierscore check --format json` reports it.
#[pyclass(frozen, get_all, module = "tierscore")]
#[derive(Debug)]
struct Problem {
    /// Stable code, e.g. `pipeline::unknown_key`.
    code: String,
    /// `error`, `warning` or `advice`.
    severity: String,
    /// What is wrong, in one sentence.
    message: String,
    /// The file it is in.
    file: String,
    /// 1-based line, when known.
    line: Option<usize>,
    /// 1-based column, when known.
    col: Option<usize>,
    /// What to do about it.
    help: Option<String>,
}

#[pymethods]
impl Problem {
    fn __repr__(&self) -> String {
        let at = match (self.line, self.col) {
            (Some(line), Some(col)) => format!("{}:{line}:{col}", self.file),
            _ => self.file.clone(),
        };
        format!(
            "Problem({at}: {}[{}]: {})",
            self.severity, self.code, self.message
        )
    }
}

impl From<&FileProblem> for Problem {
    fn from(problem: &FileProblem) -> Self {
        let json = problem.to_json();
        Self {
            code: json.code.to_string(),
            severity: json.severity.to_string(),
            message: json.message,
            file: json.file,
            line: json.line,
            col: json.column,
            help: json.help,
        }
    }
}

/// `err` as the exception of its exit code, its `str()` the text the CLI prints on stderr.
fn to_py_err(err: CommandError) -> PyErr {
    let problems: Vec<Problem> = err.problems().iter().map(Problem::from).collect();
    let code = err
        .code()
        .map(|c| c.to_string())
        .or_else(|| problems.first().map(|p| p.code.clone()));
    let help = err.help().map(|h| h.to_string());
    let exit_code = err.exit_code();
    let message = tierscore::diagnostic::render(&err);
    let py_err = match exit_code {
        tierscore::commands::EXIT_INVALID => InvalidPipelineError::new_err(message),
        tierscore::commands::EXIT_USAGE => UsageError::new_err(message),
        tierscore::commands::EXIT_LOCKED => OutputLockedError::new_err(message),
        _ => DataError::new_err(message),
    };
    Python::attach(|py| {
        let value = py_err.value(py);
        let set = || -> PyResult<()> {
            value.setattr("code", code)?;
            value.setattr("exit_code", exit_code)?;
            value.setattr("help", help)?;
            value.setattr("problems", problems)?;
            Ok(())
        };
        match set() {
            Ok(()) => py_err,
            Err(failed) => failed,
        }
    })
}

/// Runs `f` without the GIL (other Python threads go on), turning its error into an exception.
fn detached<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, CommandError> + Send,
) -> PyResult<T> {
    py.detach(f).map_err(to_py_err)
}

/// A value given in `params` as the text `--set KEY=VALUE` takes.
fn param_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if value.is_instance_of::<PyBool>() {
        return Ok(if value.extract::<bool>()? {
            "true"
        } else {
            "false"
        }
        .into());
    }
    if value.is_instance_of::<PyString>() {
        return value.extract();
    }
    Ok(value.str()?.to_string())
}

/// A JSON document as Python objects (dicts, lists, numbers, strings, None).
fn to_python<'py>(py: Python<'py>, json: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?
        .call_method1("loads", (json.to_string(),))
}

/// A pipeline file with its param overrides; each method does what the CLI command of its name
/// does with `--set` for every param.
///
/// `score` and `input_schema` read the pipeline, its scripts and its input's footers once, at
/// the first call of either, and use that snapshot for the object's life: the file, a script or
/// the input changed (or removed) on disk later is not seen, until a new `Pipeline` is loaded.
/// `check`, `run` and `explain` read them anew at each call.
#[pyclass(frozen, module = "tierscore")]
struct Pipeline {
    path: PathBuf,
    set: Vec<String>,
    /// What `score` needs, built by the first `score` or `input_schema` (see [`Scoring`]).
    scoring: Mutex<Option<Arc<Scoring>>>,
}

/// The pipeline as loaded, its input opened for its footers only and its plan: built once per
/// `Pipeline` rather than at every `score` (Spark's `map_in_arrow` scores each 10,000-row batch
/// with one call), and shared by the threads scoring with it.
struct Scoring {
    pipeline: tierscore::pipeline::Pipeline,
    source: Source,
    plan: Plan,
}

impl Pipeline {
    /// The [`Scoring`] state, built on the first call; a failure is not kept (the next call
    /// tries again). One thread builds it, the others wait for it: call without the GIL.
    fn scoring(&self) -> Result<Arc<Scoring>, CommandError> {
        // A panic while building left it unbuilt: the lock stays usable.
        let mut built = self
            .scoring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(scoring) = built.as_ref() {
            return Ok(Arc::clone(scoring));
        }
        let mut pipeline = tierscore::pipeline::Pipeline::load(&self.path)?;
        pipeline.set_params(&self.set)?;
        // The plan needs the input's schema and footer statistics, never its pages.
        let source = Source::open_footers(&pipeline.input.path, &pipeline.input.rename)?;
        let (plan, _warnings) = Plan::build(&pipeline, &source, EngineChoice::Auto)?;
        let scoring = Arc::new(Scoring {
            pipeline,
            source,
            plan,
        });
        *built = Some(Arc::clone(&scoring));
        Ok(scoring)
    }
}

#[pymethods]
impl Pipeline {
    /// Loads and validates the pipeline at `path` with `params` overriding its params (as
    /// `--set KEY=VALUE` does). Raises `InvalidPipelineError` for an invalid pipeline and
    /// `UsageError` for a param it does not define.
    #[staticmethod]
    #[pyo3(signature = (path, params = None))]
    fn load(py: Python<'_>, path: PathBuf, params: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut set = Vec::new();
        if let Some(params) = params {
            for (key, value) in params.iter() {
                set.push(format!("{}={}", key.str()?, param_text(&value)?));
            }
        }
        detached(py, || {
            let mut pipeline = tierscore::pipeline::Pipeline::load(&path)?;
            pipeline.set_params(&set)?;
            Ok(())
        })?;
        Ok(Self {
            path,
            set,
            scoring: Mutex::default(),
        })
    }

    /// The pipeline file.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The overrides, as `--set` takes them.
    #[getter]
    fn params(&self) -> Vec<String> {
        self.set.clone()
    }

    /// The Arrow schema of the pipeline's input as its Parquet files name and type the columns:
    /// what `score` takes (a pyarrow Schema). Read, with the plan, at the first call of this or
    /// `score` (see the class); raises what `score` raises when the plan cannot be built.
    fn input_schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let schema = detached(py, || {
            Ok(self.scoring()?.source.file_schema().as_ref().clone())
        })?;
        schema.to_pyarrow(py)
    }

    /// Every problem `tierscore check` reports (errors and warnings), as `Problem`s; an empty
    /// list when there is none. Problems are returned, not raised.
    fn check(&self, py: Python<'_>) -> PyResult<Vec<Problem>> {
        let args = CheckArgs {
            pipeline: self.path.clone(),
            format: Format::Json,
            engine: EngineChoice::Auto,
            set: self.set.clone(),
            input: None,
        };
        let (problems, _engines) = detached(py, || find_problems(&args))?;
        Ok(problems.iter().map(Problem::from).collect())
    }

    /// Runs the pipeline exactly as `tierscore run` does (the same output files, manifest,
    /// `_SUCCESS` and report) and returns the committed `_manifest.json` as a dict. `output`
    /// and `input` replace the pipeline's paths; `threads` defaults to one per core.
    #[pyo3(signature = (output = None, input = None, threads = None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        output: Option<PathBuf>,
        input: Option<PathBuf>,
        threads: Option<u16>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = RunArgs {
            pipeline: self.path.clone(),
            set: self.set.clone(),
            output,
            input,
            limit: None,
            sample: None,
            seed: 0,
            threads,
            engine: EngineChoice::Auto,
            coverage: false,
        };
        let ui = Ui {
            quiet: true,
            json: false,
        };
        let manifest = detached(py, || run::execute(&args, ui))?;
        to_python(
            py,
            &serde_json::to_value(&manifest).map_err(std::io::Error::other)?,
        )
    }

    /// The customer with id `id`, factor by factor: the document `tierscore explain --format
    /// json` prints, as a dict.
    fn explain<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let args = ExplainArgs {
            pipeline: self.path.clone(),
            id,
            set: self.set.clone(),
            format: Format::Json,
            engine: EngineChoice::Auto,
        };
        let json = detached(py, || explain::json(&args))?;
        to_python(py, &json)
    }

    /// Scores the rows of `data` as `run` scores its input's rows, and returns
    /// `(scored, rejects)`: the output rows (the run's output columns and `tier`) and the
    /// rejects file's rows. `data` is anything exporting Arrow through the PyCapsule protocol
    /// (a pyarrow RecordBatch or Table, a Polars DataFrame, a DuckDB result …), holding the
    /// columns of the pipeline's input as its files name and type them; the rules are checked
    /// against those files' footers (their schema and statistics; no row of them is read), once,
    /// at the first call (see the class). Buffers are shared, not copied, in both directions.
    ///
    /// A RecordBatch (`__arrow_c_array__`) gives two pyarrow RecordBatches; a stream
    /// (`__arrow_c_stream__`, e.g. a Table) two pyarrow Tables, one batch per batch in.
    /// Pipelines whose steps need the whole input (derive columns, normalisation, rank or ABC
    /// tiers) raise `DataError` (`run::needs_whole_input`): `run` scores them.
    fn score<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (batches, single) = if data.hasattr("__arrow_c_array__")? {
            (vec![RecordBatch::from_pyarrow_bound(data)?], true)
        } else if data.hasattr("__arrow_c_stream__")? {
            let reader = RecordBatchStreamReader::from_pyarrow_bound(data)?;
            let batches = reader
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| PyTypeError::new_err(err.to_string()))?;
            (batches, false)
        } else {
            return Err(PyTypeError::new_err(
                "score takes Arrow data: an object with __arrow_c_array__ or __arrow_c_stream__ (a pyarrow RecordBatch or Table, a Polars DataFrame …)",
            ));
        };
        let scored = detached(py, || {
            let Scoring {
                pipeline,
                source,
                plan,
            } = &*self.scoring()?;
            let run_id = tierscore::run_id::run_id();
            let mut first_row = 0;
            let mut scored = Vec::with_capacity(batches.len());
            for batch in &batches {
                let rows = tierscore::exec::score_batch(
                    pipeline, plan, source, batch, "(batch)", first_row, run_id,
                )
                .map_err(CommandError::from)?;
                first_row += batch.num_rows() as u64;
                scored.push(rows);
            }
            Ok(scored)
        })?;
        if single {
            let rows = &scored[0];
            return Ok((rows.scored.to_pyarrow(py)?, rows.rejects.to_pyarrow(py)?));
        }
        let table = py.import("pyarrow")?.getattr("Table")?;
        let mut tables = Vec::with_capacity(2);
        for part in [
            |rows: &tierscore::exec::ScoredRows| rows.scored.clone(),
            |rows: &tierscore::exec::ScoredRows| rows.rejects.clone(),
        ] {
            let batches: Vec<RecordBatch> = scored.iter().map(part).collect();
            let list = PyList::empty(py);
            for batch in &batches {
                list.append(batch.to_pyarrow(py)?)?;
            }
            tables.push(table.call_method1("from_batches", (list,))?);
        }
        let rejects = tables.pop().expect("two tables");
        let scored = tables.pop().expect("two tables");
        Ok((scored, rejects))
    }

    fn __repr__(&self) -> String {
        format!("Pipeline({:?}, params={:?})", self.path, self.set)
    }
}

/// A pipeline split into tasks (one per row group of its input) for a distributed engine: the
/// calls executors make on their task and the calls the driver makes to merge their results
/// and commit, each the core's (`tierscore::exec::tasks`). `tierscore.spark.run` and
/// `tierscore.ray.run` are the wiring; this class is what they share.
#[pyclass(frozen, module = "tierscore")]
struct Job {
    job: Mutex<tasks::Job>,
    /// Where the driver commits (`None` on executors).
    target: Option<Location>,
    /// The keys `params` overrode, for the manifest.
    params_from_set: Vec<String>,
    started: Started,
}

impl Job {
    fn lock(&self) -> std::sync::MutexGuard<'_, tasks::Job> {
        // A panic while holding the lock is a bug that already failed the task; the job's
        // state was only read or replaced whole, so it stays usable.
        self.job
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The `(task, batch)` pairs of a pass's results.
fn task_batches(results: &Bound<'_, PyList>) -> PyResult<Vec<(usize, RecordBatch)>> {
    results
        .iter()
        .map(|item| {
            let (task, batch): (usize, Bound<'_, PyAny>) = item.extract()?;
            Ok((task, RecordBatch::from_pyarrow_bound(&batch)?))
        })
        .collect()
}

#[pymethods]
impl Job {
    /// Loads the pipeline at `path` with `params` (as `Pipeline.load`), reads its input's
    /// footers (`input` replaces the pipeline's) and builds its plan. On the driver, `output`
    /// is where `commit` writes (checked as `tierscore run` checks it), and the input's pages
    /// are walked as `tierscore run` walks them; executors give none, and each task's read
    /// walks the pages it decodes (a damaged one fails the task in the words `run` uses).
    #[staticmethod]
    #[pyo3(signature = (path, params = None, output = None, input = None))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        params: Option<&Bound<'_, PyDict>>,
        output: Option<PathBuf>,
        input: Option<PathBuf>,
    ) -> PyResult<Self> {
        let clock = Instant::now();
        let at = chrono::Utc::now();
        let pipeline_file = Pipeline::load(py, path, params)?;
        let set = pipeline_file.set.clone();
        let (job, target) = detached(py, move || {
            let mut pipeline = tierscore::pipeline::Pipeline::load(&pipeline_file.path)?;
            pipeline.set_params(&pipeline_file.set)?;
            if let Some(input) = input {
                pipeline.input.path = input;
            }
            let target = output
                .map(|output| Location::of(&output))
                .transpose()
                .map_err(SinkError::from)?;
            if let Some(target) = &target {
                staging::ensure_replaceable(target)?;
            }
            // The driver walks every page of a local input, as `run` does: a damaged input is
            // refused before any task starts. An executor reads only its tasks' row groups, so
            // it walks only what it reads, as it reads it: opened so by every worker process,
            // the input's pages were walked once a worker, all of them on all of its cores.
            let source = match &target {
                Some(_) => Source::open(&pipeline.input.path, &pipeline.input.rename)?,
                None => Source::open_footers(&pipeline.input.path, &pipeline.input.rename)?,
            };
            if let Some(target) = &target {
                let inputs: Vec<PathBuf> = source.files().iter().map(|f| f.path.clone()).collect();
                let written = data_files(pipeline.output.partition_by, &pipeline.tiers.names());
                staging::ensure_apart(target, &pipeline.input.path, &inputs, &written)?;
            }
            let (plan, _warnings) = Plan::build(&pipeline, &source, EngineChoice::Auto)?;
            Ok((tasks::Job::new(pipeline, plan, source), target))
        })?;
        Ok(Self {
            job: Mutex::new(job),
            target,
            params_from_set: set
                .iter()
                .filter_map(|e| e.split_once('=').map(|(key, _)| key.trim().to_string()))
                .collect(),
            started: Started {
                at,
                plan_seconds: clock.elapsed().as_secs_f64(),
            },
        })
    }

    /// The number of tasks: the input's row groups, in run order (file, then row group).
    #[getter]
    fn task_count(&self) -> usize {
        self.lock().tasks().len()
    }

    /// Task `task` as a dict: `file` (its path), `row_group`, `first_row` (within the file),
    /// `rows`, `position` (in the run).
    fn task<'py>(&self, py: Python<'py>, task: usize) -> PyResult<Bound<'py, PyDict>> {
        let job = self.lock();
        let Some(at) = job.tasks().get(task) else {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "there is no task {task} (the input has {})",
                job.tasks().len()
            )));
        };
        let dict = PyDict::new(py);
        dict.set_item("file", job.file(at.file))?;
        dict.set_item("row_group", at.row_group)?;
        dict.set_item("first_row", at.first_row)?;
        dict.set_item("rows", at.rows)?;
        dict.set_item("position", at.position)?;
        Ok(dict)
    }

    /// Per rule, the rows this process's plan has handed to the interpreter so far (executors
    /// return the difference a task made, for the manifest).
    fn rows_interpreted(&self) -> Vec<u64> {
        self.lock().rows_interpreted()
    }

    /// Driver: adds the rows a task's executor handed to the interpreter, per rule.
    fn add_interpreted(&self, rows: Vec<u64>) {
        self.lock().add_interpreted(&rows);
    }

    /// Whether the pipeline has derive columns (the derive pass runs).
    #[getter]
    fn needs_derive(&self) -> bool {
        self.lock().needs_derive()
    }

    /// Whether it normalises factors or ranks over the run (the ranking pass runs).
    #[getter]
    fn needs_ranking(&self) -> bool {
        self.lock().needs_ranking()
    }

    /// Executor, derive pass: the values of the task's rows the derives read (a RecordBatch).
    fn derive_values<'py>(&self, py: Python<'py>, task: usize) -> PyResult<Bound<'py, PyAny>> {
        let values = detached(py, || Ok(self.lock().derive_values(task)?))?;
        values.to_pyarrow(py)
    }

    /// Driver: merges the derive pass's results, a list of `(task, values)` in task order.
    fn merge_derive(&self, py: Python<'_>, results: &Bound<'_, PyList>) -> PyResult<()> {
        let results = task_batches(results)?;
        detached(py, || Ok(self.lock().merge_derive(&results)?))
    }

    /// Driver: the derive columns of the task's rows, for its later passes.
    fn derived<'py>(&self, py: Python<'py>, task: usize) -> PyResult<Bound<'py, PyAny>> {
        let rows = detached(py, || Ok(self.lock().derived(task)?))?;
        rows.to_pyarrow(py)
    }

    /// Executor, ranking pass: the task's rows scored once, what ranking keeps of them.
    fn rank_values<'py>(
        &self,
        py: Python<'py>,
        task: usize,
        derived: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let derived = RecordBatch::from_pyarrow_bound(derived)?;
        let values = detached(py, || Ok(self.lock().rank_values(task, &derived)?))?;
        values.to_pyarrow(py)
    }

    /// Driver: merges the ranking pass's results, a list of `(task, values)` in task order.
    fn merge_ranking(&self, py: Python<'_>, results: &Bound<'_, PyList>) -> PyResult<()> {
        let results = task_batches(results)?;
        detached(py, || Ok(self.lock().merge_ranking(&results)?))
    }

    /// Driver: the normalised factors and tiers of the task's rows, for its scoring.
    fn ranked<'py>(&self, py: Python<'py>, task: usize) -> PyResult<Bound<'py, PyAny>> {
        let rows = detached(py, || Ok(self.lock().ranked(task)?))?;
        rows.to_pyarrow(py)
    }

    /// Executor, scoring: the task's rows scored, a list of `(rows, scored, rejects)`
    /// RecordBatches (one per batch read).
    fn score<'py>(
        &self,
        py: Python<'py>,
        task: usize,
        derived: &Bound<'py, PyAny>,
        ranked: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let derived = RecordBatch::from_pyarrow_bound(derived)?;
        let ranked = RecordBatch::from_pyarrow_bound(ranked)?;
        let parts = detached(py, || Ok(self.lock().score(task, &derived, &ranked)?))?;
        let list = PyList::empty(py);
        for part in parts {
            list.append((
                part.rows.to_pyarrow(py)?,
                part.scored.to_pyarrow(py)?,
                part.rejects.to_pyarrow(py)?,
            ))?;
        }
        Ok(list)
    }

    /// Driver: writes the scored tasks, a list of `(task, parts)` in task order (`parts` as
    /// `score` returns them), commits the output as `tierscore run` does and returns its
    /// manifest as a dict. `threads` is recorded in the manifest and writes the output.
    #[pyo3(signature = (results, threads = 1))]
    fn commit<'py>(
        &self,
        py: Python<'py>,
        results: &Bound<'py, PyList>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(target) = self.target.clone() else {
            return Err(PyTypeError::new_err(
                "this Job was loaded without an output: only the driver's Job commits",
            ));
        };
        let mut scored = Vec::with_capacity(results.len());
        for item in results.iter() {
            let (task, parts): (usize, Bound<'_, PyList>) = item.extract()?;
            let mut batches = Vec::with_capacity(parts.len());
            for part in parts.iter() {
                let (rows, scored, rejects): (
                    Bound<'_, PyAny>,
                    Bound<'_, PyAny>,
                    Bound<'_, PyAny>,
                ) = part.extract()?;
                batches.push(tasks::ScoredPart {
                    rows: RecordBatch::from_pyarrow_bound(&rows)?,
                    scored: RecordBatch::from_pyarrow_bound(&scored)?,
                    rejects: RecordBatch::from_pyarrow_bound(&rejects)?,
                });
            }
            scored.push((task, batches));
        }
        let options = RunOptions {
            target: target.clone(),
            threads: threads.max(1),
            run_id: tierscore::run_id::run_id().to_string(),
            params_from_set: self.params_from_set.clone(),
            coverage: false,
        };
        let started = self.started.clone();
        let manifest = detached(py, || Ok(self.lock().commit(scored, &options, started)?))?;
        to_python(
            py,
            &serde_json::to_value(&manifest).map_err(std::io::Error::other)?,
        )
    }
}

/// The native module; the package `tierscore` re-exports it.
#[pymodule]
fn _tierscore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", tierscore::VERSION)?;
    m.add_class::<Pipeline>()?;
    m.add_class::<Job>()?;
    m.add_class::<Problem>()?;
    m.add("TierscoreError", py.get_type::<TierscoreError>())?;
    m.add(
        "InvalidPipelineError",
        py.get_type::<InvalidPipelineError>(),
    )?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("OutputLockedError", py.get_type::<OutputLockedError>())?;
    Ok(())
}
