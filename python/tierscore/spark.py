"""tierscore on Spark: a DataFrame's rows scored on the executors by the Rust core.

Only :func:`map_in_arrow` exists: row-wise pipelines (no derive columns, normalisation, rank or
ABC tiers) scored batch by batch inside Spark's ``mapInArrow``. A whole pipeline run as a
distributed job (``run``) is not built yet.
"""

import pyarrow as pa

from tierscore._tierscore import DataError, Pipeline


def map_in_arrow(df, pipeline, params=None):
    """Scores the rows of the Spark DataFrame `df` with `pipeline` (a pipeline file path that
    every executor can read, as can the pipeline's input, whose schema the rules are checked
    against) and returns a DataFrame of the scored rows: the columns of the run's output files
    plus ``tier``, in the order of each partition's rows.

    `df` holds the input's columns as its Parquet files name them; Spark's Arrow types (large
    strings, list items named ``element``) are cast to the input's types first, a copy of those
    columns. A batch with a rejected row fails the task with :class:`tierscore.DataError`
    naming the row: a DataFrame result has no place for the rejects file, so no row is dropped
    silently. Pipelines with population steps raise ``run::needs_whole_input``.
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
