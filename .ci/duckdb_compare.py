"""Checks tierscore's population columns and whole-run tiers against DuckDB window functions.

Usage: python3 .ci/duckdb_compare.py TIERSCORE_BINARY

Generates customers with `tierscore gen` (many ties: order counts, ratings with nulls), runs
pipelines that pass every derive kind through to the output and assign rank and ABC tiers,
computes the same with DuckDB's window functions on the same Parquet file, and compares every
row: integers exactly, floats within 1e-9 (summation order may differ in the last bits). Every
kind also runs over a rating column with nulls, which must stay null on both sides.
"""

import pathlib
import subprocess
import sys
import tempfile

import duckdb

ROWS = 20_000

DERIVES = """
derive:
  - { name: r_tile, ntile: last_order_date, buckets: 5, order: asc }
  - { name: f_tile, ntile: orders_12m, buckets: 5, order: desc }
  - { name: pull_tile, ntile: product_pull, buckets: 3 }
  - { name: m_pct, percent_rank: revenue_12m }
  - { name: o_pct, percent_rank: orders_12m, order: desc }
  - { name: o_rank, rank: orders_12m, order: desc }
  - { name: pull_rank, rank: product_pull }
  - { name: m_z, zscore: revenue_12m }
  - { name: pull_z, zscore: product_pull }
  - { name: c_mm, minmax: cost_to_serve }
  - { name: m_share, cumulative_share: revenue_12m }
  - { name: pull_pct, percent_rank: product_pull, order: desc }
  - { name: brand_mm, minmax: brand_contribution }
  - { name: innov_share, cumulative_share: innovation }
"""

# DuckDB's equivalent of each derive; nulls are left out of the window (PARTITION BY x IS NULL)
# and stay null, as tierscore documents.
SQL = {
    "r_tile": "ntile(5) over (partition by last_order_date is null order by last_order_date, pos)",
    "f_tile": "ntile(5) over (partition by orders_12m is null order by orders_12m desc, pos)",
    "pull_tile": "ntile(3) over (partition by product_pull is null order by product_pull, pos)",
    "m_pct": "percent_rank() over (partition by revenue_12m is null order by revenue_12m)",
    "o_pct": "percent_rank() over (partition by orders_12m is null order by orders_12m desc)",
    "o_rank": "rank() over (partition by orders_12m is null order by orders_12m desc)",
    "pull_rank": "rank() over (partition by product_pull is null order by product_pull)",
    "m_z": "(revenue_12m - avg(revenue_12m) over ()) / stddev_pop(revenue_12m) over ()",
    "pull_z": "(product_pull - avg(product_pull) over ()) / stddev_pop(product_pull) over ()",
    "c_mm": "(cost_to_serve - min(cost_to_serve) over ()) / (max(cost_to_serve) over () - min(cost_to_serve) over ())",
    "m_share": "sum(revenue_12m) over (order by revenue_12m desc, pos rows between unbounded preceding and current row) / sum(revenue_12m) over ()",
    "pull_pct": "percent_rank() over (partition by product_pull is null order by product_pull desc)",
    "brand_mm": "(brand_contribution - min(brand_contribution) over ()) / (max(brand_contribution) over () - min(brand_contribution) over ())",
    "innov_share": "sum(innovation) over (partition by innovation is null order by innovation desc, pos rows between unbounded preceding and current row) / sum(innovation) over ()",
}
# Derives of columns with nulls (the ratings): null where the column is, on both sides.
NULLABLE = {"pull_tile": "product_pull", "pull_rank": "product_pull", "pull_z": "product_pull",
            "pull_pct": "product_pull", "brand_mm": "brand_contribution", "innov_share": "innovation"}


def pipeline(name, body, columns="[]"):
    return f"""version: 1
name: {name}
input: {{ path: customers.parquet, id: customer_id }}
{body}
output: {{ path: out_{name}, partition_by: none, columns: {columns} }}
"""


def run(binary, workdir, text, name):
    (workdir / f"{name}.yaml").write_text(text)
    subprocess.run([binary, "--quiet", "run", f"{name}.yaml"], cwd=workdir, check=True)
    return workdir / f"out_{name}" / "scored" / "part-00000.parquet"


def fail(message):
    """Stops with a message (a bare assert would be skipped under `python -O`)."""
    raise SystemExit(f"duckdb_compare: FAILED: {message}")


def compare(con, ours, theirs, columns, what):
    mine = con.execute(f"select customer_id, {', '.join(columns)} from read_parquet('{ours}')").fetchall()
    expected = con.execute(theirs).fetchall()
    if not len(mine) == len(expected) == ROWS:
        fail(f"{what}: tierscore wrote {len(mine)} rows, DuckDB has {len(expected)}, expected {ROWS}")
    nulls = dict.fromkeys(columns, 0)
    for got, want in zip(mine, expected):
        if got[0] != want[0]:
            fail(f"{what}: row order differs: tierscore {got[0]}, DuckDB {want[0]}")
        for column, a, b in zip(columns, got[1:], want[1:]):
            if isinstance(b, str) or a is None or b is None:
                same = a == b
            else:
                same = abs(a - b) <= 1e-9 * max(1.0, abs(b))
            if not same:
                fail(f"{what} {column} of {got[0]}: tierscore {a}, DuckDB {b}")
            nulls[column] += a is None
    for column in columns:
        if (column in NULLABLE) != (nulls[column] > 0):
            fail(f"{what} {column}: {nulls[column]} nulls, expected {'some' if column in NULLABLE else 'none'}")
    with_nulls = [f"{c} ({nulls[c]} nulls)" for c in columns if nulls[c]]
    print(f"duckdb: {what}: {len(mine)} rows agree on {', '.join(columns)}"
          + (f"; nulls where the column is null: {', '.join(with_nulls)}" if with_nulls else ""))


def main(binary):
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        subprocess.run([binary, "--quiet", "gen", "--rows", str(ROWS), "--seed", "11",
                        "--row-group-size", "3000", "--out", str(workdir / "customers.parquet")], check=True)
        con = duckdb.connect()
        con.execute(f"create view t as select row_number() over () - 1 as pos, * "
                    f"from read_parquet('{workdir / 'customers.parquet'}')")

        names = list(SQL)
        derives = run(binary, workdir, pipeline(
            "derives", DERIVES + "factors:\n  - { name: one, expr: \"1.0\", weight: 1 }\ntiers:\n  levels: [{ name: all }]",
            "[" + ", ".join(names) + "]"), "derives")
        selects = ", ".join(
            f"case when {NULLABLE[n]} is null then null else {SQL[n]} end" if n in NULLABLE else SQL[n]
            for n in names)
        compare(con, derives, f"select customer_id, {selects} from t order by pos", names, "derive")

        rank = run(binary, workdir, pipeline("rank", """factors:
  - { name: orders, expr: "orders_12m * 1.0", weight: 1 }
tiers:
  by: rank
  levels: [{ name: A, top: 0.2 }, { name: B, top: 0.5 }, { name: C }]"""), "rank")
        con.execute("create view ranked as select pos, customer_id, row_number() over (order by orders_12m desc, pos) - 1 as i from t")
        compare(con, rank,
                f"""select customer_id, case when i < 0.2 * {ROWS} then 'A' when i < 0.5 * {ROWS} then 'B' else 'C' end
                    from ranked order by pos""", ["tier"], "rank tiers (ties in orders)")

        abc = run(binary, workdir, pipeline("abc", """factors:
  - { name: cost, expr: "cost_to_serve", weight: 1 }
tiers:
  by: cumulative_share
  of: revenue_12m
  levels: [{ name: A, upto: 0.8 }, { name: B, upto: 0.95 }, { name: C }]"""), "abc")
        compare(con, abc, f"""select customer_id, case when s <= 0.8 then 'A' when s <= 0.95 then 'B' else 'C' end from (
                select pos, customer_id, {SQL['m_share']} as s from t) order by pos""", ["tier"],
                "ABC tiers (of revenue_12m)")


if __name__ == "__main__":
    main(sys.argv[1])
