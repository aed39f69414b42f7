"""tierscore from Python: the same core as the ``tierscore`` CLI.

``Pipeline.load(path, params=...)`` loads a pipeline; ``check()``, ``run()`` and ``explain()``
do what the commands of their name do, and ``score()`` scores Arrow data in memory, sharing its
buffers (the Arrow C data interface). ``tierscore.spark.run`` and ``tierscore.ray.run`` run a
whole pipeline as a distributed job (``Job`` is the core's side of it). Failures raise
``TierscoreError`` subclasses carrying the CLI's message, code, exit code and located problems.
"""

from tierscore._tierscore import (
    DataError,
    InvalidPipelineError,
    Job,
    OutputLockedError,
    Pipeline,
    Problem,
    TierscoreError,
    UsageError,
    __version__,
)

__all__ = [
    "DataError",
    "InvalidPipelineError",
    "Job",
    "OutputLockedError",
    "Pipeline",
    "Problem",
    "TierscoreError",
    "UsageError",
    "__version__",
]
