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

By default it writes ONE Parquet file: id, the six factors, score, tier. With --same-work it does
the work tierscore does for this pipeline (output.partition_by: tier, output.columns: [region,
industry], output.reasons: true): the output is then a DIRECTORY (new or empty), hive-partitioned
by tier with COPY ... TO dir (PARTITION_BY (tier)): tier=NAME/data_0.parquet, the tier in the
folder name only. The files hold what tierscore writes (columns and reasons: common.py).

Run:  python3 bench/peers/duckdb_cv.py customers.parquet out_duckdb.parquet [--pipeline YAML]
      python3 bench/peers/duckdb_cv.py customers.parquet out_duckdb_dir --same-work
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


def lit(text):
    """A Python string as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def fmt(template, *values):
    """A reason template (common.*_REASON, "{}" where rhai interpolates) filled with SQL values:
    literal || CAST(value AS VARCHAR) || ...; NULL when a value is NULL."""
    parts = template.split("{}")
    assert len(parts) == len(values) + 1, template
    terms = [lit(parts[0])] if parts[0] else []
    for value, part in zip(values, parts[1:]):
        terms.append(f"CAST({value} AS VARCHAR)")
        if part:
            terms.append(lit(part))
    return " || ".join(terms)


def to_int(x):
    """rhai's x.round().to_int(): half away from zero (DuckDB's round of a DOUBLE), then an
    integer, so it prints without decimals."""
    return f"CAST(round({x}) AS BIGINT)"


def joined(items):
    """A rhai array reason: the items that apply (the others NULL) joined with "; "; NULL when
    none applies (an empty array gives no reason)."""
    return f"nullif(concat_ws({lit(common.REASON_JOIN)}, {', '.join(items)}), '')"


def reasons(p):
    """tierscore's reasons column: "<factor>: <reason>" for each factor, in pipeline order, whose
    rule gave a reason (rules/*.rhai, the texts in common.py); [] when none did."""
    c = common
    by_factor = {
        "economic": f"""CASE WHEN cycle_average >= {num(p.top_revenue)}
                  THEN {fmt(c.TOP_REVENUE_REASON, to_int("cycle_average"))}
                  WHEN revenue_12m > {num(0.0)} AND revenue_12m < {num(c.WEAK_YEAR_SHARE)} * cycle_average
                  THEN {fmt(c.WEAK_YEAR_REASON, to_int(f"{num(100.0)} * revenue_12m / cycle_average"))}
             END""",
        "margin": f"""CASE WHEN revenue_12m * gross_margin_rate - cost_to_serve < {num(0.0)}
                  THEN {fmt(c.LOSES_MONEY_REASON, to_int("cost_to_serve"), to_int("revenue_12m * gross_margin_rate"))}
             END""",
        "risk": joined([f"CASE WHEN bad_debt THEN {fmt(c.BAD_DEBT_REASON, to_int('bad_debt_amount'))} END",
                        f"CASE WHEN litigation THEN {lit(c.LITIGATION_REASON)} END"]),
        "loyalty": f"""CASE WHEN days_since_order > {p.lapsed_after_days}
                  THEN {fmt(c.LAPSED_REASON, "days_since_order")} END""",
        "referral": f"""CASE WHEN referrals >= {c.ADVOCATE_REFERRALS}
                  THEN {fmt(c.ADVOCATE_REASON, "referrals")} END""",
        "strategic": f"""CASE WHEN rated = 0 THEN {lit(c.NOT_RATED_REASON)}
             ELSE {joined([f"CASE WHEN coalesce(product_pull, 0) >= {c.TOP_RATING} THEN {lit(c.PRODUCT_PULL_REASON)} END",
                           f"CASE WHEN coalesce(innovation, 0) >= {c.TOP_RATING} THEN {lit(c.INNOVATION_REASON)} END"])}
             END""",
    }
    entries = ",\n            ".join(
        fmt(c.REASON_ENTRY.format(factor=name, reason="{}"), f"({by_factor[name]})")
        for name in common.FACTORS)
    return f"list_filter([\n            {entries}\n        ], lambda r: r IS NOT NULL)"


def query(p, source, id_col, same_work=False):
    """The SQL. same_work adds tierscore's other columns: region, industry (passed through),
    tier_rank and reasons; without it the query is the one-file comparison's, unchanged."""
    as_of = f"DATE '{p.as_of.isoformat()}'"
    ln_floor = f"ln({num(common.ECONOMIC_FLOOR)})"
    weighted = " + ".join(f"{num(w)} * {name}" for name, w in p.weights)
    tier_arms = " ".join(f"WHEN score >= {num(lo)} THEN '{name}'" for name, lo in p.tiers
                         if lo is not None)
    catch_all = p.tiers[-1][0]
    ratings_n = " + ".join(f"CAST({r} IS NOT NULL AS INTEGER)" for r in common.RATINGS)
    ratings_sum = " + ".join(f"coalesce({r}, 0)" for r in common.RATINGS)
    lo, hi = common.RATING_LO, common.RATING_HI
    # The same-work additions, each empty without same_work (the query is then as it always was).
    base_extra = factors_extra = front_extra = back_extra = ""
    if same_work:
        base_extra = "\n        region, industry, product_pull, innovation,"
        factors_extra = f"\n        region, industry,\n        {reasons(p)} AS reasons,"
        front_extra = "region, industry, "
        # tier_rank: the level's position in tiers.levels, 1 for the first (as tierscore writes it)
        rank_arms = " ".join(f"WHEN score >= {num(lo_score)} THEN {rank}"
                             for rank, (_, lo_score) in enumerate(p.tiers, start=1)
                             if lo_score is not None)
        back_extra = (f"\n       CAST(CASE {rank_arms} ELSE {len(p.tiers)} END AS INTEGER) AS tier_rank,"
                      f" reasons,")
    return f"""
WITH base AS (
    SELECT
        "{id_col}" AS id,{base_extra}
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
        id,{factors_extra}
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
SELECT id AS "{id_col}", {front_extra}{", ".join(common.FACTORS)}, score,{back_extra}
       CASE {tier_arms} ELSE '{catch_all}' END AS tier
FROM scored
"""


def main():
    args = common.arguments(__doc__.splitlines()[0], extra=common.same_work_option)
    p = common.Pipeline(args.pipeline)
    if args.same_work:
        p.check_same_work()
        common.check_output_directory(args.output)
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"duckdb {duckdb.__version__}, threads={threads} (default: all cores)", file=sys.stderr)
    sql = query(p, args.input.replace("'", "''"), p.id, same_work=args.same_work)
    out = args.output.replace("'", "''")
    if args.same_work:
        # tier=NAME/data_*.parquet; the tier column is in the folder name, not in the files.
        con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, PARTITION_BY (tier), COMPRESSION zstd)")
    else:
        con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")


if __name__ == "__main__":
    main()
