"""tierscore.ray.run on a local Ray cluster of 2 CPUs: each shipped kind of pipeline
(row-wise, derive + segment script, ABC, rank + normalisation) commits the output the CLI
commits on the same input."""

import json

import pytest
import ray

import tierscore.ray
from distributed_output import (
    assert_population_steps,
    assert_same_output,
    cli_output,
    download_output,
    pipelines,
    s3_input,
)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("name", ["customer_value", "rfm", "abc", "rank"])
def test_ray_run_commits_the_cli_output(cli, cluster, tmp_path, local_pipeline, name):
    pipeline, params = pipelines(local_pipeline, tmp_path)[name]
    expected = cli_output(cli, pipeline, params, tmp_path / "cli")

    manifest = tierscore.ray.run(pipeline, tmp_path / "ray", params=params)

    cli_manifest = assert_same_output(expected, tmp_path / "ray")
    assert manifest == json.loads((tmp_path / "ray" / "_manifest.json").read_text())
    assert manifest["rows"] == cli_manifest["rows"]
    assert manifest["rows"]["input"] == 2000
    assert_population_steps(name, manifest)
    assert manifest["threads"] == 2


def test_ray_run_reads_and_writes_s3_as_the_cli_does(cli, cluster, s3, tmp_path, local_pipeline):
    """customer_value (rejects in two tasks) read from and committed to a local S3 server
    (moto): the output the CLI commits to disk from the same S3 input. Last in this file: it
    restarts the cluster so that its workers start with the S3 settings."""
    pipeline, params = pipelines(local_pipeline, tmp_path)["customer_value"]
    url = s3_input(s3, cli, pipeline, params, tmp_path / "cli")
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)

    manifest = tierscore.ray.run(pipeline, "s3://lake/out/cv", params=params, input=url)

    committed = download_output(s3, "out/cv", tmp_path / "ray")
    assert_same_output(tmp_path / "cli", committed)
    assert manifest == json.loads((committed / "_manifest.json").read_text())
    assert manifest["inputs"][0]["path"] == "s3://lake/in/customers.parquet"
    assert manifest["rows"]["rejected"] == 2
