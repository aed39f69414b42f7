#!/usr/bin/env python3
"""Reads tierscore outputs with the calls data teams use, as docs/output.md shows them.

usage: python3 .ci/readers.py OUT...   (OUT: a directory written by `tierscore run`)

For each output, every reader must get exactly the scored rows the manifest counts, each with
its tier (the `tier=NAME` folder or the `tier` column), per tier the manifest's count, and a
`tier_rank` that is the tier's level (1 = top); the rejects, read with their own call, must be
exactly the manifest's rejected rows. Readers:

  DuckDB   read_parquet('OUT/scored/**/*.parquet', hive_partitioning=true)
  Polars   scan_parquet('OUT/scored/**/*.parquet', hive_partitioning=True)  (lazy)
  Polars   read_parquet('OUT/scored')                                       (eager)
  pandas   read_parquet('OUT/scored')
  pyarrow  pyarrow.dataset.dataset('OUT/scored', partitioning='hive')
  Spark    spark.read.parquet('OUT/scored')   (local mode; only when pyspark is installed,
           or required with --spark)

It prints one line per reader with the rows it read, and exits 1 on the first disagreement.
"""

import argparse
import json
import pathlib
import sys


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def expect(name, manifest, rows):
    """`rows` are (tier, tier_rank) pairs read by one reader; they must match the manifest."""
    levels = [level["name"] for level in manifest["tiers"]]
    scored = manifest["rows"]["scored"]
    check(len(rows) == scored, f"{name} read {len(rows)} rows; the manifest counts {scored} scored")
    counts = {}
    for tier, rank in rows:
        check(tier in levels, f"{name}: tier {tier!r} is no level of {levels}")
        check(rank == levels.index(tier) + 1,
              f"{name}: tier {tier} has tier_rank {rank}, its level is {levels.index(tier) + 1}")
        counts[tier] = counts.get(tier, 0) + 1
    for level in manifest["tiers"]:
        got = counts.get(level["name"], 0)
        check(got == level["count"], f"{name}: tier {level['name']} has {got} rows, the manifest {level['count']}")
    print(f"readers: ok: {name}: {len(rows)} rows, {len(counts)} tiers")


def check_rejects(name, manifest, count):
    rejected = manifest["rows"]["rejected"]
    check(count == rejected, f"{name} read {count} rejects; the manifest counts {rejected}")
    print(f"readers: ok: {name} (rejects): {count} rows")


def pairs(tiers, ranks):
    return list(zip((str(t) for t in tiers), (int(r) for r in ranks)))


def check_output(out, spark):
    manifest = json.loads((out / "_manifest.json").read_text())
    check(manifest["tool"] == "tierscore", f"{out} is not a tierscore output")
    data = out / manifest["output"]["data_dir"]
    rejects = out / manifest["output"]["rejects_file"]
    rejects_dir = rejects.parent
    glob = f"{data}/**/*.parquet"

    import duckdb
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT tier, tier_rank FROM read_parquet('{glob}', hive_partitioning = true)").fetchall()
    expect("DuckDB read_parquet('OUT/scored/**/*.parquet', hive_partitioning=true)", manifest,
           pairs(*zip(*rows)) if rows else [])
    (count,) = con.execute(f"SELECT count(*) FROM read_parquet('{rejects_dir}/*.parquet')").fetchone()
    check_rejects("DuckDB read_parquet('OUT/rejects/*.parquet')", manifest, count)

    import polars as pl
    lazy = pl.scan_parquet(glob, hive_partitioning=True).select("tier", "tier_rank").collect()
    expect("Polars scan_parquet('OUT/scored/**/*.parquet', hive_partitioning=True)", manifest,
           pairs(lazy["tier"], lazy["tier_rank"]))
    eager = pl.read_parquet(data)
    expect("Polars read_parquet('OUT/scored')", manifest, pairs(eager["tier"], eager["tier_rank"]))
    check_rejects("Polars read_parquet('OUT/rejects')", manifest, pl.read_parquet(rejects_dir).height)

    import pandas as pd
    frame = pd.read_parquet(data)
    expect("pandas read_parquet('OUT/scored')", manifest, pairs(frame["tier"], frame["tier_rank"]))
    check_rejects("pandas read_parquet('OUT/rejects')", manifest, len(pd.read_parquet(rejects_dir)))

    import pyarrow.dataset as ds
    partitioning = "hive" if manifest["output"]["partition_by"] == "tier" else None
    table = ds.dataset(data, format="parquet", partitioning=partitioning).to_table(
        columns=["tier", "tier_rank"])
    expect("pyarrow.dataset.dataset('OUT/scored', partitioning='hive')", manifest,
           pairs(table["tier"].to_pylist(), table["tier_rank"].to_pylist()))
    check_rejects("pyarrow.dataset.dataset('OUT/rejects')", manifest,
                  ds.dataset(rejects_dir, format="parquet").count_rows())

    if spark is not None:
        df = spark.read.parquet(str(data)).select("tier", "tier_rank").collect()
        expect("Spark spark.read.parquet('OUT/scored')", manifest,
               pairs([r["tier"] for r in df], [r["tier_rank"] for r in df]))
        check_rejects("Spark spark.read.parquet('OUT/rejects')", manifest,
                      spark.read.parquet(str(rejects_dir)).count())


def start_spark(required):
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        if required:
            raise SystemExit("readers: FAILED: --spark given but pyspark is not installed")
        print("readers: skipped: Spark (pyspark is not installed; pip install pyspark)")
        return None
    return (SparkSession.builder.master("local[1]").appName("tierscore-readers")
            .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
            .getOrCreate())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outputs", nargs="+", metavar="OUT")
    parser.add_argument("--spark", action="store_true", help="fail when pyspark is missing")
    args = parser.parse_args()
    spark = start_spark(args.spark)
    try:
        for out in args.outputs:
            try:
                check_output(pathlib.Path(out), spark)
            except Failed as failure:
                raise SystemExit(f"readers: FAILED: {out}: {failure}")
    finally:
        if spark is not None:
            spark.stop()


if __name__ == "__main__":
    sys.exit(main())
