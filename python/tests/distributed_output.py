"""What the distributed-run tests share: the four pipelines they run, and the comparison of an
output with the CLI's (rows, rejects and manifest figures, floats bit for bit)."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from conftest import AS_OF, REPO
from test_api import read_scored

# customer_value with a rank rule over percent-ranked factors: rank tiers and normalisation.
RANK_TIERS = """tiers:
  by: rank
  levels:
    - { name: top, top: 0.1 }
    - { name: middle, top: 0.5 }
    - { name: rest }
"""


def pipelines(local_pipeline, tmp_path):
    """The pipelines each engine runs, by name: `(path, params)`. The referral rule of
    customer_value and rank rejects two customers, C00000007 and C00001999 (in the input's
    first and last row groups), so rejects come from two tasks."""
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    for script in (REPO / "rules").glob("*.rhai"):
        (rules / script.name).write_text(script.read_text())
    (rules / "referral.rhai").write_text(
        'if customer_id == "C00000007" || customer_id == "C00001999" '
        '{ throw "no referrals for this one" }\nreferrals * 1.0\n'
    )

    def rank(text):
        start, end = text.index("tiers:\n"), text.index("output:\n")
        text = text[:start] + RANK_TIERS + "\n" + text[end:]
        return text.replace(
            "combine: weighted_sum ", "combine: weighted_sum\n  normalize: percent_rank\n "
        )

    ranked = local_pipeline("customer_value", edit=rank, rules=rules)
    ranked = ranked.rename(tmp_path / "rank.yaml")
    cv = local_pipeline("customer_value", rules=rules)
    return {
        "customer_value": (cv, {"as_of": AS_OF}),
        "rfm": (local_pipeline("rfm"), {}),
        "abc": (local_pipeline("abc"), {}),
        "rank": (ranked, {"as_of": AS_OF}),
    }


def cli_output(cli, pipeline, params, out):
    """The CLI's run of `pipeline` with `params` into `out`."""
    sets = [arg for key, value in params.items() for arg in ("--set", f"{key}={value}")]
    cli("run", pipeline, *sets, "--output", out)
    return out


def assert_same_columns(left, right, key):
    """Equal tables once sorted by `key`: the same nulls, floats bit for bit."""
    assert left.schema == right.schema
    left, right = left.sort_by(key), right.sort_by(key)
    for name in left.column_names:
        a, b = left[name].combine_chunks(), right[name].combine_chunks()
        if pa.types.is_floating(a.type):
            assert a.is_null().equals(b.is_null()), f"{name}: nulls differ"
            bits = lambda column: column.fill_null(0.0).to_numpy().view(np.uint64)
            assert np.array_equal(bits(a), bits(b)), f"{name} differs bit for bit"
        else:
            assert a.equals(b), f"{name} differs"


# Manifest fields that differ between any two runs (ids, times, places, engine).
PER_RUN = {"run_id", "started_at", "finished_at", "phases_seconds", "threads"}


def assert_same_output(expected, actual):
    """`actual` (a distributed run's output folder) holds what `expected` (the CLI's) holds:
    the same scored rows with the same tiers, factors, scores and reasons, the same rejects
    (but their run ids), and the same manifest figures; returns the CLI's manifest."""
    scored = read_scored(expected)
    assert_same_columns(scored, read_scored(actual), "customer_id")
    rejects = [pq.read_table(out / "rejects").drop_columns(["run_id"]) for out in (expected, actual)]
    assert_same_columns(*rejects, "customer_id")
    cli, other = (json.loads((out / "_manifest.json").read_text()) for out in (expected, actual))
    assert set(cli) == set(other)
    for key in set(cli) - PER_RUN - {"output"}:
        assert cli[key] == other[key], key
    for key in ("id", "partition_by", "columns", "data_dir", "rejects_file"):
        assert cli["output"][key] == other["output"][key], key
    files = lambda m: [{**f, "sha256": None, "bytes": None} for f in m["output"]["files"]]
    assert files(cli) == files(other)
    assert cli["output"]["rejects"]["rows"] == other["output"]["rejects"]["rows"]
    assert (expected / "_SUCCESS").exists() and (actual / "_SUCCESS").exists()
    assert (expected / "_report.html").exists() == (actual / "_report.html").exists()
    return cli


def assert_population_steps(name, manifest):
    """The steps over the whole run that pipeline `name` takes are in its manifest: derive
    columns (rfm), ABC cut-offs (abc), rank cut-offs over normalised factors (rank)."""
    assert len(manifest["derive"]) == (3 if name == "rfm" else 0)
    assert (manifest["tier_cutoffs"] is not None) == (name in ("abc", "rank"))
    methods = [n["method"] for n in manifest["normalization"]]
    assert methods == (["percent_rank"] * 6 if name == "rank" else [])


def s3_input(s3, cli, pipeline, params, out):
    """The shipped pipelines' input (testdata/customers.parquet) uploaded to `s3://lake/in/`,
    and the CLI's run of `pipeline` from there into the local folder `out`; returns the input's
    URL."""
    s3.upload_file(str(REPO / "testdata" / "customers.parquet"), "lake", "in/customers.parquet")
    url = "s3://lake/in/"
    sets = [arg for key, value in params.items() for arg in ("--set", f"{key}={value}")]
    cli("run", pipeline, *sets, "--input", url, "--output", out)
    return url


def download_output(s3, prefix, local):
    """The output committed at `s3://lake/PREFIX`, as its readers find it (the run folder that
    `_SUCCESS` names: docs/object-storage.md), downloaded into the folder `local` with a
    `_SUCCESS` of its own; returns `local`."""
    run_dir = s3.get_object(Bucket="lake", Key=f"{prefix}/_SUCCESS")["Body"].read().decode()
    committed = f"{prefix}/{run_dir.strip()}"
    listed = s3.list_objects_v2(Bucket="lake", Prefix=committed)["Contents"]
    for key in (entry["Key"] for entry in listed):
        path = local / key[len(committed):]
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file("lake", key, str(path))
    (local / "_SUCCESS").write_text("")
    return local
