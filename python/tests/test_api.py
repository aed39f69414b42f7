"""The Python API against the CLI: score, run, check and explain give what the commands give,
and failures raise exceptions with the CLI's codes and located messages."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import tierscore
from conftest import AS_OF, REPO, check_json

CUSTOMER_VALUE = REPO / "pipelines" / "customer_value.yaml"


def load_cv():
    return tierscore.Pipeline.load(str(CUSTOMER_VALUE), params={"as_of": AS_OF})


def read_scored(out):
    """A run's scored rows, `tier` read from the folder names as a string column."""
    return ds.dataset(
        out / "scored", partitioning=ds.partitioning(pa.schema([("tier", pa.string())]), flavor="hive")
    ).to_table()


def assert_same_rows(left, right, key="customer_id"):
    """Equal tables once sorted by `key`, float columns compared bit for bit."""
    assert sorted(left.column_names) == sorted(right.column_names)
    left = left.sort_by(key)
    right = right.sort_by(key).select(left.column_names)
    assert left.num_rows == right.num_rows
    for name in left.column_names:
        a, b = left[name].combine_chunks(), right[name].combine_chunks()
        if pa.types.is_floating(a.type):
            assert a.type == b.type, name
            assert a.null_count == b.null_count == 0, name
            assert np.array_equal(
                a.to_numpy().view(np.uint64), b.to_numpy().view(np.uint64)
            ), f"{name} differs bit for bit"
        else:
            assert a.equals(b), f"{name} differs"


def test_score_equals_the_cli_run_row_for_row(cli, tmp_path):
    cli("run", CUSTOMER_VALUE, "--set", f"as_of={AS_OF}", "--output", tmp_path / "cli")
    table = pq.read_table(REPO / "testdata" / "customers.parquet")

    scored, rejects = load_cv().score(table)

    assert isinstance(scored, pa.Table) and isinstance(rejects, pa.Table)
    expected = read_scored(tmp_path / "cli")
    assert scored.num_rows == expected.num_rows > 0
    assert_same_rows(scored, expected)
    # Input order, less the rejected rows.
    rejected = set(rejects["customer_id"].to_pylist())
    in_order = [i for i in table["customer_id"].to_pylist() if i not in rejected]
    assert scored["customer_id"].to_pylist() == in_order
    cli_rejects = pq.read_table(tmp_path / "cli" / "rejects")
    same = ["customer_id", "row_number", "factor", "code", "message", "inputs"]
    assert rejects.select(same).equals(cli_rejects.select(same))
    assert set(rejects["source_file"].to_pylist()) <= {"(batch)"}


def test_a_record_batch_gives_record_batches_and_the_same_rows(cli, tmp_path):
    table = pq.read_table(REPO / "testdata" / "customers.parquet")
    batch = table.combine_chunks().to_batches()[0]
    assert batch.num_rows == table.num_rows

    scored, rejects = load_cv().score(batch)

    assert isinstance(scored, pa.RecordBatch) and isinstance(rejects, pa.RecordBatch)
    from_table, _ = load_cv().score(table)
    assert_same_rows(pa.Table.from_batches([scored]), from_table)


def test_run_writes_what_the_cli_writes(cli, tmp_path):
    cli("run", CUSTOMER_VALUE, "--set", f"as_of={AS_OF}", "--output", tmp_path / "cli")

    manifest = load_cv().run(output=str(tmp_path / "py"))

    expected = json.loads((tmp_path / "cli" / "_manifest.json").read_text())
    assert manifest == json.loads((tmp_path / "py" / "_manifest.json").read_text())
    assert (tmp_path / "py" / "_SUCCESS").exists()
    assert (tmp_path / "py" / "_report.html").exists()
    files = lambda m: [(f["path"], f["rows"]) for f in m["output"]["files"]]
    assert files(manifest) == files(expected)
    for key in ["rows", "rejects_by", "score", "tiers", "factors", "params", "rules_sha256",
                "input_fingerprint", "tier_cutoffs", "derive"]:
        assert manifest[key] == expected[key], key
    for path, _ in files(expected):
        cli_table = pq.read_table(tmp_path / "cli" / path)
        py_table = pq.read_table(tmp_path / "py" / path)
        assert cli_table.schema.remove_metadata() == py_table.schema.remove_metadata()
        assert cli_table.equals(py_table), path
    assert pq.read_table(tmp_path / "py" / "rejects").drop_columns("run_id").equals(
        pq.read_table(tmp_path / "cli" / "rejects").drop_columns("run_id")
    )


def test_explain_equals_explain_format_json(cli):
    done = cli("explain", CUSTOMER_VALUE, "--id", "C00000042", "--set", f"as_of={AS_OF}",
               "--format", "json")

    assert load_cv().explain("C00000042") == json.loads(done.stdout)


def test_check_of_a_good_pipeline_finds_what_the_cli_finds(cli):
    problems = load_cv().check()

    assert [p.code for p in problems] == [p["code"] for p in check_json(cli, CUSTOMER_VALUE)]
    assert all(p.severity != "error" for p in problems)


def test_check_of_a_broken_rule_gives_the_cli_codes_and_positions(cli, tmp_path, local_pipeline):
    rules = tmp_path / "rules"
    rules.mkdir()
    for script in (REPO / "rules").glob("*.rhai"):
        (rules / script.name).write_text(script.read_text())
    (rules / "referral.rhai").write_text("// referrals, misspelt\nlet n = referals;\nn * 10.0\n")
    pipeline = local_pipeline("customer_value", rules=rules)

    problems = tierscore.Pipeline.load(str(pipeline)).check()

    expected = check_json(cli, pipeline)
    assert any(p["severity"] == "error" for p in expected)
    assert [(p.code, p.severity, p.message, p.file, p.line, p.col, p.help) for p in problems] == [
        (p["code"], p["severity"], p["message"], p["file"], p["line"], p["column"], p["help"])
        for p in expected
    ]
    unknown = next(p for p in problems if p.severity == "error")
    assert (unknown.file, unknown.line) == (str(rules / "referral.rhai"), 2)


def test_an_invalid_pipeline_raises_with_the_cli_message_and_problems(cli, local_pipeline):
    pipeline = local_pipeline("customer_value", lambda t: t.replace("score:\n", "scroe:\n", 1))

    with pytest.raises(tierscore.InvalidPipelineError) as raised:
        tierscore.Pipeline.load(str(pipeline))

    err = raised.value
    assert isinstance(err, tierscore.TierscoreError)
    assert err.exit_code == 1
    expected = check_json(cli, pipeline)
    assert [(p.code, p.file, p.line, p.col) for p in err.problems] == [
        (p["code"], p["file"], p["line"], p["column"]) for p in expected
    ]
    assert err.code == expected[0]["code"]
    done = cli("run", pipeline, check=False)
    assert done.returncode == 1
    assert str(err) == done.stderr
    assert f"{pipeline}:" in str(err)


def test_an_unknown_param_raises_a_usage_error():
    with pytest.raises(tierscore.UsageError) as raised:
        tierscore.Pipeline.load(str(CUSTOMER_VALUE), params={"as_off": AS_OF})

    assert raised.value.exit_code == 2
    assert "as_off" in str(raised.value)


def test_an_unknown_customer_raises_a_data_error(cli):
    with pytest.raises(tierscore.DataError) as raised:
        load_cv().explain("C99999999")

    assert raised.value.code == "explain::not_found"
    assert raised.value.exit_code == 3
    done = cli("explain", CUSTOMER_VALUE, "--id", "C99999999", check=False)
    assert str(raised.value) == done.stderr


def test_score_refuses_a_pipeline_that_ranks_the_whole_input():
    abc = tierscore.Pipeline.load(str(REPO / "pipelines" / "abc.yaml"))
    table = pq.read_table(REPO / "testdata" / "customers.parquet")

    with pytest.raises(tierscore.DataError) as raised:
        abc.score(table)

    assert raised.value.code == "run::needs_whole_input"
    assert "whole-run tiers" in str(raised.value)


def test_score_names_a_missing_or_mistyped_column():
    table = pq.read_table(REPO / "testdata" / "customers.parquet")

    with pytest.raises(tierscore.DataError) as missing:
        load_cv().score(table.drop_columns("referrals"))
    with pytest.raises(tierscore.DataError) as mistyped:
        load_cv().score(table.set_column(
            table.schema.get_field_index("referrals"), "referrals",
            table["referrals"].cast(pa.int32()),
        ))

    assert missing.value.code == mistyped.value.code == "run::batch_column"
    assert "`referrals`: the batch has no such column" in str(missing.value)
    assert "the batch holds Int32, the pipeline's input Int64" in str(mistyped.value)


def test_score_takes_any_arrow_c_stream_exporter():
    """Not only pyarrow: any object with `__arrow_c_stream__` (here a bare wrapper, as Polars
    and DuckDB results are) is read through the PyCapsule protocol."""
    table = pq.read_table(REPO / "testdata" / "customers.parquet")

    class Stream:
        def __arrow_c_stream__(self, requested_schema=None):
            return table.__arrow_c_stream__(requested_schema)

    scored, _ = load_cv().score(Stream())
    expected, _ = load_cv().score(table)
    assert scored.equals(expected)


def test_score_refuses_what_is_not_arrow():
    with pytest.raises(TypeError, match="__arrow_c_array__ or __arrow_c_stream__"):
        load_cv().score([1, 2, 3])


def cv_on(local_pipeline, tmp_path, input_bytes):
    """The shipped example as a Pipeline whose input is a copy of its customers file (`input_bytes`
    applied to the copy's bytes); returns the Pipeline and the copy's path."""
    copy = tmp_path / "customers.parquet"
    copy.write_bytes(input_bytes((REPO / "testdata" / "customers.parquet").read_bytes()))
    path = local_pipeline(
        "customer_value", lambda text: text.replace(f"{REPO}/testdata/customers.parquet", str(copy))
    )
    assert str(copy) in path.read_text()
    return tierscore.Pipeline.load(str(path), params={"as_of": AS_OF}), copy


def assert_same_scores(got, expected):
    """`score`'s two results equal, the scored rows and the rejects."""
    assert got[0].equals(expected[0]) and got[1].equals(expected[1])


def test_score_plans_once_and_keeps_that_plan_when_the_files_change(tmp_path, local_pipeline):
    """The plan (pipeline, scripts, the input's footers) is built by the first `input_schema` or
    `score` and used for the object's life: with the input and the pipeline file then replaced
    by garbage, the same object scores as before and as a fresh Pipeline of the shipped example
    does."""
    pipeline, copy = cv_on(local_pipeline, tmp_path, lambda data: data)
    table = pq.read_table(REPO / "testdata" / "customers.parquet")
    schema = pipeline.input_schema()
    first = pipeline.score(table)

    copy.write_bytes(b"customer_id,revenue\n")
    pipeline.path.write_text("not: [a pipeline")

    assert_same_scores(pipeline.score(table), first)
    assert_same_scores(pipeline.score(table), load_cv().score(table))
    assert pipeline.input_schema() == schema
    # The other methods read the files at each call.
    assert any(problem.severity == "error" for problem in pipeline.check())


def forged_page_header(row_group):
    """A `cv_on` edit of testdata/customers.parquet: the first page header of `customer_id` in
    `row_group` forged as the fuzz finding `page_header_bool_list.parquet` is (a damaged page
    that `run` refuses the input for)."""
    metadata = pq.ParquetFile(REPO / "testdata" / "customers.parquet").metadata
    chunk = metadata.row_group(row_group).column(0)
    at = chunk.dictionary_page_offset or chunk.data_page_offset
    forged = bytes.fromhex("f9f1ffffffff0700")
    return lambda data: data[:at] + forged + data[at + len(forged):]


def test_score_reads_the_input_footers_not_its_pages(tmp_path, local_pipeline):
    """`score` checks the rules against the input's footers and scores the data it is given: a
    damaged page of the input (the first page header of `customer_id`, forged as the fuzz finding
    `page_header_bool_list.parquet` is), which `run` refuses, is no concern of it."""
    pipeline, _ = cv_on(local_pipeline, tmp_path, forged_page_header(row_group=0))
    with pytest.raises(tierscore.DataError) as raised:
        pipeline.run(output=str(tmp_path / "out"))
    assert raised.value.code == "source::corrupt"
    assert 'a page header of column "customer_id" in row group 0 is damaged' in str(raised.value)

    table = pq.read_table(REPO / "testdata" / "customers.parquet")
    assert_same_scores(pipeline.score(table), load_cv().score(table))


def test_an_executor_task_reading_a_damaged_page_fails_with_the_error_of_run(
    tmp_path, local_pipeline
):
    """An executor's Job (loaded without an output, as `tierscore.distributed` loads it once a
    worker) reads the input's footers, and each task walks the pages it reads as it reads them:
    with the first page header of row group 2's `customer_id` damaged, that task fails with the
    error `run` refuses the input with, and the other tasks score. The driver's Job (with an
    output) refuses the input when loaded, as `run` does, before any task starts."""
    from tierscore import distributed

    pipeline, _ = cv_on(local_pipeline, tmp_path, forged_page_header(row_group=2))
    with pytest.raises(tierscore.DataError) as run_refused:
        pipeline.run(output=str(tmp_path / "out"))
    assert 'a page header of column "customer_id" in row group 2 is damaged' in str(
        run_refused.value
    )
    path, params = str(pipeline.path), {"as_of": AS_OF}
    with pytest.raises(tierscore.DataError) as driver_refused:
        tierscore.Job.load(path, params=params, output=str(tmp_path / "out"))
    assert str(driver_refused.value) == str(run_refused.value)

    executor = distributed._job(path, params, None)
    assert executor.task_count == 4
    for task in range(4):
        args = (path, params, None, task, executor.derived(task), executor.ranked(task))
        if task == 2:
            with pytest.raises(tierscore.DataError) as failed:
                distributed.score(args)
            assert failed.value.code == "source::corrupt"
            assert str(failed.value) == str(run_refused.value)
        else:
            _, parts, _ = distributed.score(args)
            assert sum(rows.num_rows for rows, _, _ in parts) == 500


def test_threads_scoring_with_one_fresh_pipeline_get_the_same_rows():
    """The plan is built once, by whichever thread comes first, while the others wait for it."""
    from concurrent.futures import ThreadPoolExecutor

    table = pq.read_table(REPO / "testdata" / "customers.parquet")
    expected = load_cv().score(table)
    pipeline = load_cv()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: pipeline.score(table), range(8)))
    for got in results:
        assert_same_scores(got, expected)
