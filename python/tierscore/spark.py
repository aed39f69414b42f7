"""tierscore on Spark: a whole pipeline as a distributed job (:func:`run`), or a DataFrame's rows
scored on the executors (:func:`map_in_arrow`, row-wise pipelines only); the Rust core does the
work on the executors either way.
"""

import os

import pyarrow as pa

from tierscore import distributed
from tierscore._tierscore import DataError, Pipeline

# Tests only: a file naming `PASS:TASK` (e.g. `score:2`) makes the first attempt of that task
# exit its Python worker after computing its result and before returning it, as a crash would
# (writing the same text to a `.fired` file beside it first); Spark retries the task. Inert
# unless the variable is set and the file exists.
_KILL_FILE = "TIERSCORE_TEST_KILL_FILE"


def run(spark, pipeline, output, params=None, input=None):
    """Runs `pipeline` as a Spark job and commits its output to `output`, the output a
    single-machine ``tierscore run`` commits (the same files' rows, ``_manifest.json``,
    ``_rejects.parquet``, ``_SUCCESS``); returns the manifest as a dict.

    Each row group of the input is a task (a partition); population steps (derive columns,
    normalisation, rank and ABC tiers) take one more job each, whose per-task results the driver
    merges. The pipeline file, its scripts and its input must be readable at the same paths on
    the driver and every executor. The output is written by the driver. Failed task attempts
    are retried by Spark; the driver keeps one result per task.
    """
    context = spark.sparkContext

    def map_tasks(function, arguments):
        def attempt(item):
            index, argument = item
            result = function(argument)
            _maybe_die(function.__name__, index)
            return result

        if not arguments:
            return []
        rdd = context.parallelize(list(enumerate(arguments)), len(arguments))
        return rdd.map(attempt).collect()

    return distributed.run(
        pipeline, output, map_tasks, context.defaultParallelism, params=params, input=input
    )


def _maybe_die(function, index):
    """The test fault of ``TIERSCORE_TEST_KILL_FILE``: exits on the first attempt of the named
    task."""
    path = os.environ.get(_KILL_FILE)
    if not path or not os.path.exists(path):
        return
    from pyspark import TaskContext

    with open(path) as named:
        wanted = named.read().strip()
    if wanted == f"{function}:{index}" and TaskContext.get().attemptNumber() == 0:
        with open(os.path.splitext(path)[0] + ".fired", "w") as fired:
            fired.write(wanted)
        os._exit(17)


def map_in_arrow(df, pipeline, params=None):
    """Scores the rows of the Spark DataFrame `df` with `pipeline` (a pipeline file path that
    every executor can read, as can the pipeline's input, whose schema the rules are checked
    against) and returns a DataFrame of the scored rows: the columns of the run's output files
    plus ``tier``, in the order of each partition's rows.

    `df` holds the input's columns as its Parquet files name them; Spark's Arrow types (large
    strings, list items named ``element``) are cast to the input's types first, a copy of those
    columns. A batch with a rejected row fails the task with :class:`tierscore.DataError`
    naming the row: a DataFrame result has no place for the rejects file, so no row is dropped
    silently. Pipelines with population steps raise ``run::needs_whole_input``: :func:`run`
    runs them.
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    loaded = Pipeline.load(str(pipeline), params=params)
    schema = loaded.input_schema()
    empty = pa.RecordBatch.from_pylist([], schema=schema)
    scored_schema = loaded.score(empty)[0].schema
    path, overrides = loaded.path, dict(params or {})

    def score(batches):
        on_executor = Pipeline.load(str(path), params=overrides)
        for batch in batches:
            batch = pa.RecordBatch.from_arrays(
                [batch.column(field.name).cast(field.type) for field in schema], schema=schema
            )
            scored, rejects = on_executor.score(batch)
            if rejects.num_rows:
                first = rejects.to_pylist()[0]
                raise DataError(
                    f"{rejects.num_rows} row(s) of a batch rejected, the first {first}; "
                    "map_in_arrow has no rejects file: fix the rule or the data"
                )
            yield scored

    return df.mapInArrow(score, from_arrow_schema(scored_schema))
