"""`Pipeline.run` reading from and writing to S3 (a local moto server started here; without
`moto[server]` these tests fail, they never skip; the `s3` fixture is in conftest.py): the committed output equals the CLI's on
disk, and follows the object-storage commit protocol (docs/object-storage.md)."""

import json

import pyarrow.parquet as pq
import pytest

import tierscore
from conftest import AS_OF, REPO

CUSTOMER_VALUE = REPO / "pipelines" / "customer_value.yaml"


def test_run_reads_and_writes_s3_as_the_cli_writes_disk(cli, s3, tmp_path):
    cli("run", CUSTOMER_VALUE, "--set", f"as_of={AS_OF}", "--output", tmp_path / "cli")
    s3.upload_file(str(REPO / "testdata" / "customers.parquet"), "lake", "in/customers.parquet")

    pipeline = tierscore.Pipeline.load(str(CUSTOMER_VALUE), params={"as_of": AS_OF})
    manifest = pipeline.run(input="s3://lake/in/", output="s3://lake/out/cv")

    run_dir = s3.get_object(Bucket="lake", Key="out/cv/_SUCCESS")["Body"].read().decode()
    assert run_dir == f"_runs/{manifest['run_id']}/\n"
    prefix = "out/cv/" + run_dir.strip()
    stored = json.loads(s3.get_object(Bucket="lake", Key=prefix + "_manifest.json")["Body"].read())
    assert stored == manifest
    assert manifest["output"]["path"] == "s3://lake/out/cv"
    assert manifest["inputs"][0]["path"] == "s3://lake/in/customers.parquet"

    expected = json.loads((tmp_path / "cli" / "_manifest.json").read_text())
    files = lambda m: [(f["path"], f["rows"]) for f in m["output"]["files"]]
    assert files(manifest) == files(expected)
    for key in ["rows", "rejects_by", "score", "tiers", "factors", "input_fingerprint"]:
        assert manifest[key] == expected[key], key
    for path, _ in files(expected):
        local = tmp_path / "from_s3" / path
        local.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file("lake", prefix + path, str(local))
        assert pq.read_table(local).equals(pq.read_table(tmp_path / "cli" / path)), path
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="lake", Prefix="out/cv/")["Contents"]}
    assert {k for k in keys if not k.startswith(prefix)} == {"out/cv/_SUCCESS"}


def test_run_into_a_prefix_holding_other_data_raises_not_ours(s3):
    s3.put_object(Bucket="lake", Key="data/notes.txt", Body=b"mine")
    pipeline = tierscore.Pipeline.load(str(CUSTOMER_VALUE), params={"as_of": AS_OF})
    with pytest.raises(tierscore.DataError) as raised:
        pipeline.run(output="s3://lake/data")
    assert raised.value.code == "sink::not_ours"
    assert raised.value.exit_code == 3
    assert "output s3://lake/data exists and is not a tierscore output (it holds notes.txt;" in str(
        raised.value
    )
    assert s3.get_object(Bucket="lake", Key="data/notes.txt")["Body"].read() == b"mine"
