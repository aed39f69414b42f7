"""The overhead of running a pipeline as a Spark or Ray job against the CLI on the same input.

    python3 bench/distributed.py ROWS [PIPELINE] [--bin path/to/tierscore]

Generates ROWS customers (`tierscore gen --seed 42`, row groups of 65,536 rows: the tasks),
then times, in one process each after the other: `tierscore run --threads 2` (as
`Pipeline.run`, the command itself in the same build of the core as the engines), Spark local[2]
(`tierscore.spark.run`; session start reported apart) and a local Ray cluster of
2 CPUs (`tierscore.ray.run`, start apart). Wall times; each output's manifest figures are
checked equal to the CLI's. Needs the wheel installed (`pip install ./python`, release profile
for figures worth comparing), pyspark and ray.
"""

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAME = ("rows", "rejects_by", "score", "score_quantiles", "tiers", "factors", "derive",
        "tier_cutoffs", "normalization")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", type=int)
    parser.add_argument("pipeline", nargs="?", default="pipelines/customer_value.yaml")
    parser.add_argument("--bin", default=str(REPO / "target" / "debug" / "tierscore"),
                        help="the tierscore that generates the data")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tierscore-distributed-"))
    data = work / "customers.parquet"
    subprocess.run([args.bin, "--quiet", "gen", "--rows", str(args.rows), "--seed", "42",
                    "--row-group-size", "65536", "--out", str(data)], check=True)
    pipeline = str(REPO / args.pipeline)
    figures = {}

    import tierscore

    started = time.perf_counter()
    expected = tierscore.Pipeline.load(pipeline).run(output=work / "cli", input=data, threads=2)
    figures["CLI, 2 threads"] = (time.perf_counter() - started, 0.0)

    import tierscore.spark
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "8g").config("spark.driver.maxResultSize", "0")
             .getOrCreate())
    start_up = time.perf_counter() - started
    started = time.perf_counter()
    manifest = tierscore.spark.run(spark, pipeline, work / "spark", input=data)
    figures["Spark local[2]"] = (time.perf_counter() - started, start_up)
    spark.stop()
    check(expected, manifest, "spark")

    import ray
    import tierscore.ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    start_up = time.perf_counter() - started
    started = time.perf_counter()
    manifest = tierscore.ray.run(pipeline, work / "ray", input=data)
    figures["Ray, 2 CPUs"] = (time.perf_counter() - started, start_up)
    ray.shutdown()
    check(expected, manifest, "ray")

    tasks = -(-args.rows // 65536)
    print(f"{args.rows:,} rows, {tasks} tasks, {Path(args.pipeline).name}")
    print("| engine | run (s) | engine start-up (s) | vs the CLI |")
    print("|---|---|---|---|")
    cli = figures["CLI, 2 threads"][0]
    for engine, (seconds, start_up) in figures.items():
        print(f"| {engine} | {seconds:.1f} | {start_up:.1f} | {seconds / cli:.1f}x |")


def check(expected, manifest, engine):
    for key in SAME:
        assert manifest[key] == expected[key], f"{engine}: {key} differs from the CLI's"


if __name__ == "__main__":
    main()
