#!/usr/bin/env python3
"""pipelines/customer_value.yaml in DuckDB: one SQL query over read_parquet, written to Parquet.

Computes, for every customer, the six factors exactly as rules/*.rhai do, the weighted sum
(weights from the YAML, added in pipeline order) and the threshold tier (levels from the YAML):

  economic   0..100, log scale of the mean of the non-null revenue_history (else revenue_12m)
             between 1,000 and params.top_revenue; 0 at or below 1,000
  margin     clamp(100 * (revenue_12m * gross_margin_rate - cost_to_serve) / high_margin, -100, 100)
  risk       bad debt: -(30 + 30 * clamp(bad_debt_amount / max(revenue_12m, 1), 0, 1)); litigation -30
  loyalty    0 when lapsed (days since last order > lapsed_after_days), else the recency, frequency
             and tenure bands (band = scores[number of cuts <= x])
  referral   band(referrals, [1,3,5,10], [0,30,60,85,100])
  strategic  scale(mean of the non-null ratings, 1, 5), 0 when none is rated

Run:  python3 bench/peers/duckdb_cv.py customers.parquet out_duckdb.parquet [--pipeline YAML]
DuckDB uses all cores (its default `threads` = number of cores); the script prints the setting.
"""

import sys
import os

import duckdb

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402


def num(x):
    """A float as a SQL DOUBLE literal that reads back to the same value."""
    return f"CAST({float(x)!r} AS DOUBLE)"


def band(x, cuts_scores):
    """band(x, cuts, scores): scores[number of cuts <= x], cuts ascending."""
    cuts, scores = cuts_scores
    arms = " ".join(f"WHEN {x} < {c} THEN {s}" for c, s in zip(cuts, scores))
    return f"(CASE {arms} ELSE {scores[-1]} END)"


def clamp(x, lo, hi):
    return f"least(greatest({x}, {lo}), {hi})"


def query(p, source, id_col):
    as_of = f"DATE '{p.as_of.isoformat()}'"
    ln_floor = f"ln({num(common.ECONOMIC_FLOOR)})"
    weighted = " + ".join(f"{num(w)} * {name}" for name, w in p.weights)
    tier_arms = " ".join(f"WHEN score >= {num(lo)} THEN '{name}'" for name, lo in p.tiers
                         if lo is not None)
    catch_all = p.tiers[-1][0]
    ratings_n = " + ".join(f"CAST({r} IS NOT NULL AS INTEGER)" for r in common.RATINGS)
    ratings_sum = " + ".join(f"coalesce({r}, 0)" for r in common.RATINGS)
    lo, hi = common.RATING_LO, common.RATING_HI
    return f"""
WITH base AS (
    SELECT
        "{id_col}" AS id,
        revenue_12m, gross_margin_rate, cost_to_serve, bad_debt, bad_debt_amount, litigation,
        orders_12m, referrals,
        list_filter(revenue_history, lambda v: v IS NOT NULL) AS history,
        {as_of} - last_order_date AS days_since_order,          -- integer days, like rhai d1 - d2
        {as_of} - customer_since AS days_as_customer,
        {ratings_n} AS rated,
        {ratings_sum} AS rating_total
    FROM read_parquet('{source}')
), averaged AS (
    SELECT *,
        CASE WHEN len(history) > 0 THEN list_sum(history) / len(history) ELSE revenue_12m END
            AS cycle_average
    FROM base
), factors AS (
    SELECT
        id,
        CASE WHEN cycle_average <= {num(common.ECONOMIC_FLOOR)} THEN 0.0
             ELSE {clamp(f"(ln(cycle_average) - {ln_floor}) / (ln({num(p.top_revenue)}) - {ln_floor}) * 100.0", "0.0", "100.0")}
        END AS economic,
        {clamp(f"100.0 * (revenue_12m * gross_margin_rate - cost_to_serve) / {num(p.high_margin)}", "-100.0", "100.0")}
            AS margin,
        (0.0 - CASE WHEN bad_debt
                    THEN {num(common.BAD_DEBT_PENALTY)} + {num(common.BAD_DEBT_PENALTY)} * {clamp("bad_debt_amount / greatest(revenue_12m, 1.0)", "0.0", "1.0")}
                    ELSE 0.0 END)
            - CASE WHEN litigation THEN {num(common.LITIGATION_PENALTY)} ELSE 0.0 END AS risk,
        CAST(CASE WHEN days_since_order > {p.lapsed_after_days} THEN 0
             ELSE {band("days_since_order", common.RECENCY)}
                + {band("orders_12m", common.FREQUENCY)}
                + {band(f"(days_as_customer / {common.DAYS_PER_YEAR!r})", common.TENURE)}
        END AS DOUBLE) AS loyalty,
        CAST({band("referrals", common.REFERRAL)} AS DOUBLE) AS referral,
        CASE WHEN rated = 0 THEN 0.0
             ELSE {clamp(f"(rating_total / rated - {lo}.0) / {hi - lo}.0 * 100.0", "0.0", "100.0")}
        END AS strategic
    FROM averaged
), scored AS (
    SELECT *, {weighted} AS score FROM factors
)
SELECT id AS "{id_col}", {", ".join(common.FACTORS)}, score,
       CASE {tier_arms} ELSE '{catch_all}' END AS tier
FROM scored
"""


def main():
    args = common.arguments(__doc__.splitlines()[0])
    p = common.Pipeline(args.pipeline)
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"duckdb {duckdb.__version__}, threads={threads} (default: all cores)", file=sys.stderr)
    sql = query(p, args.input.replace("'", "''"), p.id)
    out = args.output.replace("'", "''")
    con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")


if __name__ == "__main__":
    main()
