#!/usr/bin/env python3
"""pipelines/customer_value.yaml in pandas, written the way an analyst would: a row-wise
DataFrame.apply of a Python function that scores one customer.

Computes, for each customer, the six factors exactly as rules/*.rhai do, the weighted sum
(weights from the YAML, added in pipeline order) and the threshold tier (levels from the YAML):

  economic   0..100, log scale of the mean of the non-null revenue_history (else revenue_12m)
             between 1,000 and params.top_revenue; 0 at or below 1,000
  margin     clamp(100 * (revenue_12m * gross_margin_rate - cost_to_serve) / high_margin, -100, 100)
  risk       bad debt: -(30 + 30 * clamp(bad_debt_amount / max(revenue_12m, 1), 0, 1)); litigation -30
  loyalty    0 when lapsed (days since last order > lapsed_after_days), else the recency, frequency
             and tenure bands (band = scores[number of cuts <= x])
  referral   band(referrals, [1,3,5,10], [0,30,60,85,100])
  strategic  scale(mean of the non-null ratings, 1, 5), 0 when none is rated

A row-wise apply is slow, so only the first --rows customers (default 200,000) are scored. The
script prints one JSON line on stdout: the rows scored, the input's row count, and the seconds
spent reading, applying and writing; bench/compare.sh scales that part to the full row count.

Run:  python3 bench/peers/pandas_cv.py customers.parquet out_pandas.parquet [--rows 200000]
pandas is single-threaded.
"""

import json
import math
import os
import sys
import time

import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402


def band(x, cuts_scores):
    cuts, scores = cuts_scores
    return scores[sum(1 for cut in cuts if cut <= x)]


def clamp(x, lo, hi):
    return min(max(x, lo), hi)


def scorer(p):
    ln_floor = math.log(common.ECONOMIC_FLOOR)
    ln_top = math.log(p.top_revenue)

    def score_row(row):
        # economic: mean of the non-null revenue history, else the last 12 months; log scale
        history = [v for v in row["revenue_history"] if not pd.isna(v)]
        cycle_average = sum(history, 0.0) / len(history) if history else row["revenue_12m"]
        if cycle_average <= common.ECONOMIC_FLOOR:
            economic = 0.0
        else:
            economic = clamp((math.log(cycle_average) - ln_floor) / (ln_top - ln_floor) * 100.0,
                             0.0, 100.0)

        # margin: gross margin minus cost to serve, -100..100
        net_margin = row["revenue_12m"] * row["gross_margin_rate"] - row["cost_to_serve"]
        margin = clamp(100.0 * net_margin / p.high_margin, -100.0, 100.0)

        # risk: penalties for bad debt (by its share of revenue) and litigation
        risk = 0.0
        if row["bad_debt"]:
            share = row["bad_debt_amount"] / max(row["revenue_12m"], 1.0)
            risk -= common.BAD_DEBT_PENALTY + common.BAD_DEBT_PENALTY * clamp(share, 0.0, 1.0)
        if row["litigation"]:
            risk -= common.LITIGATION_PENALTY

        # loyalty: 0 when lapsed, else recency + frequency + tenure bands
        days_since_order = (p.as_of - row["last_order_date"]).days
        if days_since_order > p.lapsed_after_days:
            loyalty = 0.0
        else:
            tenure_years = (p.as_of - row["customer_since"]).days / common.DAYS_PER_YEAR
            loyalty = float(band(days_since_order, common.RECENCY)
                            + band(row["orders_12m"], common.FREQUENCY)
                            + band(tenure_years, common.TENURE))

        referral = float(band(row["referrals"], common.REFERRAL))

        # strategic: mean of the ratings given, on 1..5 -> 0..100
        ratings = [row[r] for r in common.RATINGS if not pd.isna(row[r])]
        if ratings:
            average = sum(ratings, 0.0) / len(ratings)
            lo, hi = common.RATING_LO, common.RATING_HI
            strategic = clamp((average - lo) / (hi - lo) * 100.0, 0.0, 100.0)
        else:
            strategic = 0.0

        factors = {"economic": economic, "margin": margin, "risk": risk, "loyalty": loyalty,
                   "referral": referral, "strategic": strategic}
        score = 0.0
        for name, weight in p.weights:
            score += weight * factors[name]
        tier = next(name for name, lo in p.tiers if lo is None or score >= lo)
        return pd.Series({**factors, "score": score, "tier": tier})

    return score_row


def first_rows(path, n):
    """The first n rows of a Parquet file, reading only the row groups needed."""
    f = pq.ParquetFile(path)
    groups, have = [], 0
    for i in range(f.num_row_groups):
        if have >= n:
            break
        groups.append(i)
        have += f.metadata.row_group(i).num_rows
    return f.read_row_groups(groups).slice(0, n).to_pandas(), f.metadata.num_rows


def main():
    args = common.arguments(__doc__.splitlines()[0], lambda parser: parser.add_argument(
        "--rows", type=int, default=200_000, help="score only the first N rows (200,000)"))
    p = common.Pipeline(args.pipeline)
    start = time.perf_counter()
    df, total_rows = first_rows(args.input, args.rows)
    scored = df.apply(scorer(p), axis=1)
    out = pd.concat([df[[p.id]], scored], axis=1)
    out.to_parquet(args.output, index=False, compression="zstd")
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": len(df), "input_rows": total_rows, "seconds": seconds}))


if __name__ == "__main__":
    main()
