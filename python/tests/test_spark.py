"""tierscore.spark.map_in_arrow on Spark in local mode with 4 partitions: the scored rows equal
the CLI's output on the same input, floats bit for bit."""

import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

import tierscore
from tierscore.spark import map_in_arrow
from conftest import AS_OF, REPO
from test_api import assert_same_rows, read_scored


@pytest.fixture(scope="module")
def spark():
    session = (
        SparkSession.builder.master("local[4]")
        .appName("tierscore-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_map_in_arrow_equals_the_cli_run(cli, spark, tmp_path):
    pipeline = REPO / "pipelines" / "customer_value.yaml"
    cli("run", pipeline, "--set", f"as_of={AS_OF}", "--output", tmp_path / "cli")
    df = spark.read.parquet(str(REPO / "testdata" / "customers.parquet")).repartition(4)
    assert df.rdd.getNumPartitions() == 4

    scored = map_in_arrow(df, pipeline, params={"as_of": AS_OF})
    rows = pa.Table.from_batches(scored._collect_as_arrow())

    expected = read_scored(tmp_path / "cli")
    assert rows.num_rows == expected.num_rows == 2000
    assert_same_rows(rows.cast(expected.select(rows.column_names).schema), expected)


def test_map_in_arrow_refuses_a_pipeline_with_population_steps(spark):
    df = spark.read.parquet(str(REPO / "testdata" / "customers.parquet"))
    with pytest.raises(tierscore.DataError) as raised:
        map_in_arrow(df, REPO / "pipelines" / "abc.yaml")
    assert raised.value.code == "run::needs_whole_input"


def test_a_rejected_row_fails_the_task_instead_of_vanishing(spark, tmp_path, local_pipeline):
    rules = tmp_path / "rules"
    rules.mkdir()
    for script in (REPO / "rules").glob("*.rhai"):
        (rules / script.name).write_text(script.read_text())
    (rules / "referral.rhai").write_text(
        'if customer_id == "C00000007" { throw "no referrals for this one" }\nreferrals * 1.0\n'
    )
    pipeline = local_pipeline("customer_value", rules=rules)
    df = spark.read.parquet(str(REPO / "testdata" / "customers.parquet"))

    with pytest.raises(Exception) as raised:
        map_in_arrow(df, pipeline).collect()

    assert "1 row(s) of a batch rejected" in str(raised.value)
    assert "C00000007" in str(raised.value)
    assert "no referrals for this one" in str(raised.value)
