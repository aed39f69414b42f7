"""tierscore.spark.run on Spark in local mode, 4 cores and 2 attempts a task (local[4,2]): each
shipped kind of pipeline (row-wise, derive + segment script, ABC, rank + normalisation) commits
the output the CLI commits on the same input, and a task whose first attempt dies is retried
without losing or repeating a row."""

import json

import pytest
from pyspark.sql import SparkSession

import tierscore.spark
from distributed_output import (
    assert_population_steps,
    assert_same_output,
    cli_output,
    download_output,
    pipelines,
    s3_input,
)


@pytest.fixture(scope="module")
def kill_file(tmp_path_factory):
    """The file naming the task whose first attempt dies (see tierscore.spark)."""
    return tmp_path_factory.mktemp("fault") / "kill"


@pytest.fixture(scope="module")
def spark(kill_file):
    session = (
        SparkSession.builder.master("local[4,2]")
        .appName("tierscore-run-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.executorEnv.TIERSCORE_TEST_KILL_FILE", str(kill_file))
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.mark.parametrize("name", ["customer_value", "rfm", "abc", "rank"])
def test_spark_run_commits_the_cli_output(cli, spark, tmp_path, local_pipeline, name):
    pipeline, params = pipelines(local_pipeline, tmp_path)[name]
    expected = cli_output(cli, pipeline, params, tmp_path / "cli")

    manifest = tierscore.spark.run(spark, pipeline, tmp_path / "spark", params=params)

    cli_manifest = assert_same_output(expected, tmp_path / "spark")
    assert manifest == json.loads((tmp_path / "spark" / "_manifest.json").read_text())
    assert manifest["rows"] == cli_manifest["rows"]
    assert manifest["rows"]["input"] == 2000
    assert_population_steps(name, manifest)
    rejected = {"customer_value": 2, "rfm": 0, "abc": 0, "rank": 2}[name]
    assert manifest["rows"]["rejected"] == rejected
    assert spark.sparkContext.defaultParallelism == 4
    assert manifest["threads"] == 4


def test_a_task_dying_mid_way_is_retried_and_the_output_stays_exact(
    cli, spark, tmp_path, local_pipeline, kill_file
):
    pipeline, params = pipelines(local_pipeline, tmp_path)["rank"]
    expected = cli_output(cli, pipeline, params, tmp_path / "cli")
    # The third of the four tasks: its first scoring attempt exits its Python worker.
    kill_file.write_text("score:2")
    try:
        tierscore.spark.run(spark, pipeline, tmp_path / "spark", params=params)
    finally:
        kill_file.unlink()

    assert kill_file.with_suffix(".fired").read_text() == "score:2"
    assert_same_output(expected, tmp_path / "spark")


def test_spark_run_reads_and_writes_s3_as_the_cli_does(cli, spark, s3, tmp_path, local_pipeline):
    """rfm (a derive pass, then scoring) read from and committed to a local S3 server (moto):
    the output the CLI commits to disk from the same S3 input."""
    import os

    pipeline, params = pipelines(local_pipeline, tmp_path)["rfm"]
    url = s3_input(s3, cli, pipeline, params, tmp_path / "cli")
    # The executors' Python workers take their environment from the context, not the test's.
    aws = {key: value for key, value in os.environ.items() if key.startswith("AWS_")}
    spark.sparkContext.environment.update(aws)
    try:
        manifest = tierscore.spark.run(
            spark, pipeline, "s3://lake/out/rfm", params=params, input=url
        )
    finally:
        for key in aws:
            spark.sparkContext.environment.pop(key, None)

    committed = download_output(s3, "out/rfm", tmp_path / "spark")
    assert_same_output(tmp_path / "cli", committed)
    assert manifest == json.loads((committed / "_manifest.json").read_text())
    assert manifest["inputs"][0]["path"] == "s3://lake/in/customers.parquet"
    assert manifest["output"]["path"] == "s3://lake/out/rfm"
    assert_population_steps("rfm", manifest)
