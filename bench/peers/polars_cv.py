#!/usr/bin/env python3
"""pipelines/customer_value.yaml in Polars: lazy expressions from scan_parquet to sink_parquet.

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
by tier with sink_parquet(pl.PartitionBy(dir, key="tier", include_key=False)) (Polars 2.1;
unstable API): tier=NAME/00000000.parquet, the tier in the folder name only.
The files hold what tierscore writes (columns and reasons: common.py).

Run:  python3 bench/peers/polars_cv.py customers.parquet out_polars.parquet [--pipeline YAML]
      python3 bench/peers/polars_cv.py customers.parquet out_polars_dir --same-work
Polars uses all cores (its default thread pool = number of cores); the script prints the size.
"""

import os
import sys

import polars as pl

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402


def band(x, cuts_scores):
    """band(x, cuts, scores): scores[number of cuts <= x], cuts ascending."""
    cuts, scores = cuts_scores
    expr = pl.when(x < cuts[0]).then(scores[0])
    for cut, score in zip(cuts[1:], scores[1:]):
        expr = expr.when(x < cut).then(score)
    return expr.otherwise(scores[-1])


def clamp(x, lo, hi):
    return pl.min_horizontal(pl.max_horizontal(x, pl.lit(lo)), pl.lit(hi))


def to_int(x):
    """rhai's x.round().to_int(): half away from zero (Polars' default rounds half to even),
    then an integer, so it prints without decimals."""
    return x.round(0, mode="half_away_from_zero").cast(pl.Int64)


def joined(items):
    """A rhai array reason: the items that apply (the others null) joined with "; "; null when
    none applies (an empty array gives no reason)."""
    return (pl.when(pl.any_horizontal([item.is_not_null() for item in items]))
            .then(pl.concat_str(items, separator=common.REASON_JOIN, ignore_nulls=True)))


def reasons(p, days_since_order, rated):
    """tierscore's reasons column: "<factor>: <reason>" for each factor, in pipeline order, whose
    rule gave a reason (rules/*.rhai, the texts in common.py); [] when none did."""
    c, col = common, pl.col
    cycle_average, revenue_12m = col("cycle_average"), col("revenue_12m")
    gross_margin = revenue_12m * col("gross_margin_rate")
    by_factor = {
        "economic": (pl.when(cycle_average >= p.top_revenue)
                     .then(pl.format(c.TOP_REVENUE_REASON, to_int(cycle_average)))
                     .when((revenue_12m > 0.0) & (revenue_12m < c.WEAK_YEAR_SHARE * cycle_average))
                     .then(pl.format(c.WEAK_YEAR_REASON, to_int(100.0 * revenue_12m / cycle_average)))),
        "margin": (pl.when(gross_margin - col("cost_to_serve") < 0.0)
                   .then(pl.format(c.LOSES_MONEY_REASON, to_int(col("cost_to_serve")),
                                   to_int(gross_margin)))),
        "risk": joined([pl.when(col("bad_debt"))
                        .then(pl.format(c.BAD_DEBT_REASON, to_int(col("bad_debt_amount")))),
                        pl.when(col("litigation")).then(pl.lit(c.LITIGATION_REASON))]),
        "loyalty": (pl.when(days_since_order > p.lapsed_after_days)
                    .then(pl.format(c.LAPSED_REASON, days_since_order))),
        "referral": (pl.when(col("referrals") >= c.ADVOCATE_REFERRALS)
                     .then(pl.format(c.ADVOCATE_REASON, col("referrals")))),
        "strategic": (pl.when(rated == 0).then(pl.lit(c.NOT_RATED_REASON))
                      .otherwise(joined([
                          pl.when(col("product_pull").fill_null(0) >= c.TOP_RATING)
                          .then(pl.lit(c.PRODUCT_PULL_REASON)),
                          pl.when(col("innovation").fill_null(0) >= c.TOP_RATING)
                          .then(pl.lit(c.INNOVATION_REASON))]))),
    }
    entries = [pl.format(c.REASON_ENTRY.format(factor=name, reason="{}"), by_factor[name])
               for name in common.FACTORS]
    return pl.concat_list(entries).list.drop_nulls()


def plan(p, source, same_work=False):
    """The lazy query. same_work adds tierscore's other columns: region, industry (passed
    through), tier_rank and reasons; without it the plan is the one-file comparison's, unchanged."""
    col = pl.col
    as_of = pl.lit(p.as_of)

    history = col("revenue_history").list.drop_nulls()
    cycle_average = (pl.when(history.list.len() > 0)
                     .then(history.list.sum() / history.list.len())
                     .otherwise(col("revenue_12m")))
    ln_floor = pl.lit(common.ECONOMIC_FLOOR).log()
    economic = (pl.when(col("cycle_average") <= common.ECONOMIC_FLOOR).then(0.0)
                .otherwise(clamp((col("cycle_average").log() - ln_floor)
                                 / (pl.lit(p.top_revenue).log() - ln_floor) * 100.0, 0.0, 100.0)))

    margin = clamp(100.0 * (col("revenue_12m") * col("gross_margin_rate") - col("cost_to_serve"))
                   / p.high_margin, -100.0, 100.0)

    share = col("bad_debt_amount") / pl.max_horizontal(col("revenue_12m"), pl.lit(1.0))
    bad_debt = (pl.when(col("bad_debt"))
                .then(common.BAD_DEBT_PENALTY + common.BAD_DEBT_PENALTY * clamp(share, 0.0, 1.0))
                .otherwise(0.0))
    litigation = pl.when(col("litigation")).then(common.LITIGATION_PENALTY).otherwise(0.0)
    risk = (pl.lit(0.0) - bad_debt) - litigation

    days_since_order = (as_of - col("last_order_date")).dt.total_days()   # integer days
    tenure_years = (as_of - col("customer_since")).dt.total_days() / common.DAYS_PER_YEAR
    loyalty = (pl.when(days_since_order > p.lapsed_after_days).then(0)
               .otherwise(band(days_since_order, common.RECENCY)
                          + band(col("orders_12m"), common.FREQUENCY)
                          + band(tenure_years, common.TENURE))
               .cast(pl.Float64))

    referral = band(col("referrals"), common.REFERRAL).cast(pl.Float64)

    ratings = [col(r) for r in common.RATINGS]
    rated = pl.sum_horizontal([r.is_not_null().cast(pl.Int64) for r in ratings])
    total = pl.sum_horizontal([r.fill_null(0) for r in ratings])
    lo, hi = float(common.RATING_LO), float(common.RATING_HI)
    strategic = (pl.when(rated == 0).then(0.0)
                 .otherwise(clamp((total / rated - lo) / (hi - lo) * 100.0, 0.0, 100.0)))

    score = None
    for name, weight in p.weights:            # left to right, in pipeline order
        term = weight * col(name)
        score = term if score is None else score + term

    tier = None
    for name, lo_score in p.tiers:
        if lo_score is None:
            tier = tier.otherwise(pl.lit(name))
        elif tier is None:
            tier = pl.when(col("score") >= lo_score).then(pl.lit(name))
        else:
            tier = tier.when(col("score") >= lo_score).then(pl.lit(name))

    # The same-work additions, empty without same_work (the plan is then as it always was).
    passed = [col("region"), col("industry")] if same_work else []
    explained = [reasons(p, days_since_order, rated).alias("reasons")] if same_work else []
    lazy = (pl.scan_parquet(source)
            .with_columns(cycle_average.alias("cycle_average"))
            .select(col(p.id), *passed, economic.alias("economic"), margin.alias("margin"),
                    risk.alias("risk"), loyalty.alias("loyalty"), referral.alias("referral"),
                    strategic.alias("strategic"), *explained)
            .with_columns(score.alias("score"))
            .with_columns(tier.alias("tier")))
    if same_work:
        # tier_rank: the level's position in tiers.levels, 1 for the first (as tierscore writes it)
        tier_rank = None
        for rank, (_, lo_score) in enumerate(p.tiers, start=1):
            if lo_score is None:
                tier_rank = tier_rank.otherwise(rank)
            elif tier_rank is None:
                tier_rank = pl.when(col("score") >= lo_score).then(rank)
            else:
                tier_rank = tier_rank.when(col("score") >= lo_score).then(rank)
        lazy = lazy.select(col(p.id), "region", "industry", *common.FACTORS, "score",
                           tier_rank.cast(pl.Int32).alias("tier_rank"), "reasons", "tier")
    return lazy


def main():
    args = common.arguments(__doc__.splitlines()[0], extra=common.same_work_option)
    p = common.Pipeline(args.pipeline)
    if args.same_work:
        p.check_same_work()
        common.check_output_directory(args.output)
    print(f"polars {pl.__version__}, threads={pl.thread_pool_size()} (default: all cores)",
          file=sys.stderr)
    if args.same_work:
        # tier=NAME/00000000.parquet; the tier column is in the folder name, not in the files.
        plan(p, args.input, same_work=True).sink_parquet(
            pl.PartitionBy(args.output, key="tier", include_key=False), compression="zstd",
            mkdir=True)
    else:
        plan(p, args.input).sink_parquet(args.output, compression="zstd")


if __name__ == "__main__":
    main()
