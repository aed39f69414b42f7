#!/usr/bin/env python3
"""What DuckDB's plain customer_value query spends on reading and on writing, apart from its
scoring (BENCHMARKS.md, issue 9: where the gap at 10M rows lies).

Times, ROUNDS times in turn (default 3), on all cores (DuckDB's default):
  read   a query reading every input column the plain query reads (duckdb_cv.py), each summed
         or counted so that none is skipped: DuckDB's reading alone
  copy   COPY of nine columns named as the plain output's (id, six factors, score, tier) to one
         zstd Parquet file: the id and six input columns as they are, a doubled revenue as the
         score and a constant tier; its reading and writing with no scoring
The plain query itself is bench/compare.sh's `duckdb` run; its time less `copy` is about what
the scoring costs DuckDB.

Run:  python3 bench/peers/duckdb_parts.py customers.parquet [ROUNDS]
      (the input from `tierscore gen --rows 10000000 --seed 42`, as compare.sh makes it)
"""

import os
import sys
import tempfile
import time

import duckdb


def main():
    source, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    read = f"""SELECT count(*), sum(length(customer_id)), max(customer_since),
        max(last_order_date), sum(orders_12m), sum(revenue_12m), sum(list_sum(revenue_history)),
        sum(gross_margin_rate), sum(cost_to_serve), count(bad_debt), sum(bad_debt_amount),
        count(litigation), sum(referrals), sum(product_pull), sum(brand_contribution),
        sum(innovation)
        FROM read_parquet('{source}')"""
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "copy.parquet")
        copy = f"""COPY (SELECT customer_id, revenue_12m AS economic, gross_margin_rate AS margin,
            cost_to_serve AS risk, bad_debt_amount AS loyalty, referrals::DOUBLE AS referral,
            product_pull::DOUBLE AS strategic, revenue_12m * 2 AS score, 'general' AS tier
            FROM read_parquet('{source}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)"""
        con = duckdb.connect()
        threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
        print(f"duckdb {duckdb.__version__}, threads {threads}")
        times = {"read": [], "copy": []}
        for _ in range(rounds):
            for name, query in (("read", read), ("copy", copy)):
                start = time.perf_counter()
                con.execute(query).fetchall()
                times[name].append(time.perf_counter() - start)
        for name, seconds in times.items():
            seconds.sort()
            runs = " ".join(f"{s:.2f}" for s in seconds)
            print(f"{name}: median {seconds[len(seconds) // 2]:.2f} s (runs, sorted: {runs})")


if __name__ == "__main__":
    main()
