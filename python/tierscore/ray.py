"""tierscore on Ray: a whole pipeline as a distributed job, its tasks Ray tasks running the
Rust core (:func:`run`)."""

from tierscore import distributed


def run(pipeline, output, params=None, input=None, max_retries=3):
    """Runs `pipeline` as Ray tasks on the cluster ``ray.init`` connected to (or a local one it
    starts) and commits its output to `output`, the output a single-machine ``tierscore run``
    commits; returns the manifest as a dict.

    Each row group of the input is a task; population steps (derive columns, normalisation,
    rank and ABC tiers) take one more round of tasks each, whose results the driver merges.
    The pipeline file, its scripts and its input must be readable at the same paths on the
    driver and every worker. A task whose worker dies is retried up to `max_retries` times; the
    driver keeps one result per task.
    """
    import ray

    if not ray.is_initialized():
        ray.init()

    def map_tasks(function, arguments):
        remote = ray.remote(max_retries=max_retries)(function)
        return ray.get([remote.remote(argument) for argument in arguments])

    parallelism = int(ray.cluster_resources().get("CPU", 1))
    return distributed.run(pipeline, output, map_tasks, parallelism, params=params, input=input)
