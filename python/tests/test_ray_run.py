"""tierscore.ray.run on a local Ray cluster of 2 CPUs: each shipped kind of pipeline
(row-wise, derive + segment script, ABC, rank + normalisation) commits the output the CLI
commits on the same input."""

import json

import pytest
import ray

import tierscore.ray
from distributed_output import assert_population_steps, assert_same_output, cli_output, pipelines


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
