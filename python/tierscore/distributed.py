"""A whole pipeline run as a distributed job, whatever the engine: the driver's side.

The input's row groups are the tasks. Executors run the Rust core on their task
(:class:`tierscore.Job`: ``derive_values``, ``rank_values``, ``score``); the driver merges what
the population steps need with the core code ``tierscore run`` uses (``merge_derive``,
``merge_ranking``), hands each task its slice, and commits one output through the core's staging
and commit (``commit``), so the output equals a single-machine run row for row. An engine only
supplies ``map_tasks``: run a function over a list of arguments on its executors and return the
results in the same order, one per argument (engines retry failed attempts and keep one result).
"""

from tierscore._tierscore import Job

# The executors' Jobs, by pipeline, params and input: each loads the pipeline and builds its
# plan once per worker process, not once per task. Loaded without an output, a Job reads the
# input's footers only; each task walks the pages it reads (the driver's Job walked them all).
_loaded = {}


def _job(path, params, input):
    key = (path, tuple(sorted(params.items())), input)
    if key not in _loaded:
        _loaded[key] = Job.load(path, params=params, input=input)
    return _loaded[key]


def derive_values(args):
    """Executor, derive pass: ``(task, values)``."""
    path, params, input, task = args
    return task, _job(path, params, input).derive_values(task)


def rank_values(args):
    """Executor, ranking pass: ``(task, values, rows handed to the interpreter per rule)``."""
    path, params, input, task, derived = args
    job = _job(path, params, input)
    return _counted(job, lambda: job.rank_values(task, derived), task)


def score(args):
    """Executor, scoring: ``(task, parts, rows handed to the interpreter per rule)``."""
    path, params, input, task, derived, ranked = args
    job = _job(path, params, input)
    return _counted(job, lambda: job.score(task, derived, ranked), task)


def _counted(job, call, task):
    """``(task, call(), the rows the call handed to the interpreter, per rule)``."""
    before = job.rows_interpreted()
    result = call()
    return task, result, [a - b for a, b in zip(job.rows_interpreted(), before)]


def _merged(job, results):
    """The ``(task, result)`` pairs of scoring results, their interpreted rows added up."""
    for _, _, interpreted in results:
        job.add_interpreted(interpreted)
    return [(task, result) for task, result, _ in results]


def run(pipeline, output, map_tasks, parallelism, params=None, input=None):
    """Runs `pipeline` (a path every executor can read, as is its input) with `params`, its
    input replaced by `input` if given, as tasks through `map_tasks(function, arguments)`, and
    commits to `output`; returns the committed manifest as a dict. `parallelism` is recorded
    as the manifest's ``threads`` and writes the output."""
    path, params = str(pipeline), dict(params or {})
    input = None if input is None else str(input)
    job = Job.load(path, params=params, output=str(output), input=input)
    tasks = range(job.task_count)
    if job.needs_derive:
        job.merge_derive(map_tasks(derive_values, [(path, params, input, t) for t in tasks]))
    if job.needs_ranking:
        ranked = map_tasks(rank_values, [(path, params, input, t, job.derived(t)) for t in tasks])
        job.merge_ranking(_merged(job, ranked))
    scored = map_tasks(
        score, [(path, params, input, t, job.derived(t), job.ranked(t)) for t in tasks]
    )
    return job.commit(_merged(job, scored), threads=parallelism)
