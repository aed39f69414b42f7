"""Shared by the peer implementations of pipelines/customer_value.yaml (bench/peers/*_cv.py).

Reads the pipeline YAML with PyYAML and hands the peers what the YAML decides: the params
(as_of, top_revenue, high_margin, lapsed_after_days), each factor's weight in pipeline order,
and the threshold tiers. The constants written inside the rhai scripts (band cuts and scores,
the 1,000 revenue floor, the -30 penalties, the 1..5 rating scale) are not in the YAML; they are
copied here, next to the rule they come from, so every peer uses the same ones. So are the
reason texts and their conditions, for the --same-work output of the DuckDB and Polars peers
(what tierscore writes: region, industry, tier_rank and the reasons list, partitioned by tier):
  id, region, industry (passed through), the six factors, score,
  tier_rank  Int32: 1 for the first level (strategic) ... 5 for the catch-all (loss_making)
  reasons    list of "<factor>: <reason>", in factor order, one for each factor whose rule gave a
             reason, with the rules' texts (below) and rhai's semantics: .round() half away
             from zero, .to_int() printed without decimals, days as an integer; an array reason
             (risk, strategic) joined with "; ", an empty one or () gives no entry; a customer
             with no reason gets an empty list.

It refuses a pipeline whose shape the peers do not implement (other factors, another combine,
another tier rule), so a changed YAML cannot silently make the comparison one of different work.
"""

import argparse
import datetime
import os

import yaml

FACTORS = ["economic", "margin", "risk", "loyalty", "referral", "strategic"]

# rules/economic.rhai: revenue at or below this earns 0 points (log scale from here to top_revenue)
ECONOMIC_FLOOR = 1000.0
# rules/risk.rhai
BAD_DEBT_PENALTY = 30.0        # plus up to 30 more by the written-off share of a year's revenue
LITIGATION_PENALTY = 30.0
# rules/loyalty.rhai: band(x, cuts, scores) = scores[number of cuts <= x]
RECENCY = ([31, 91, 181], [40, 30, 15, 5])            # days since the last order
FREQUENCY = ([2, 6, 12, 24], [0, 10, 20, 25, 30])     # orders in the last 12 months
TENURE = ([1, 3, 5, 10], [0, 10, 20, 25, 30])         # years since the first order (days / 365.25)
DAYS_PER_YEAR = 365.25
# rules/referral.rhai
REFERRAL = ([1, 3, 5, 10], [0, 30, 60, 85, 100])
# rules/strategic.rhai: scale(mean rating, 1, 5)
RATING_LO, RATING_HI = 1, 5
RATINGS = ["product_pull", "brand_contribution", "innovation"]

# The reasons the rules give, for the peers' --same-work output (tierscore's `reasons` column with
# output.reasons: true). Each "{}" is where the rule interpolates a value (`${...}` in rhai); a
# float goes through .round().to_int() (half away from zero, printed without decimals).
# rules/economic.rhai
TOP_REVENUE_REASON = "top revenue: {} a year over the 4-year cycle"     # cycle average
WEAK_YEAR_SHARE = 0.6          # last 12 months (> 0) below this share of the cycle average
WEAK_YEAR_REASON = "weak year: last 12 months at {}% of the cycle average"   # 100 x share
# rules/margin.rhai, when the net margin is below 0: cost to serve, gross margin
LOSES_MONEY_REASON = "loses money: cost to serve {} exceeds gross margin {}"
# rules/risk.rhai: an array, each that applies in this order
BAD_DEBT_REASON = "bad debt written off: {}"                            # bad_debt_amount
LITIGATION_REASON = "in litigation with us"
# rules/loyalty.rhai, when lapsed: days since the last order (an integer)
LAPSED_REASON = "lapsed: no order for {} days (win-back list)"
# rules/referral.rhai
ADVOCATE_REFERRALS = 5         # this many referrals or more name the customer an advocate
ADVOCATE_REASON = "advocate: referred {} customers"                     # referrals
# rules/strategic.rhai: the string when nothing is rated, else an array, each that applies in order
NOT_RATED_REASON = "not rated by an account manager"
TOP_RATING = 5                 # product_pull / innovation rated this or more (null counts as 0)
PRODUCT_PULL_REASON = "drives our product forward"
INNOVATION_REASON = "innovation partner"
# How tierscore writes them: an array reason joined with "; ", then one list entry
# "<factor>: <reason>" per factor in pipeline order that gave a reason ((), [] and "" give none).
REASON_JOIN = "; "
REASON_ENTRY = "{factor}: {reason}"

DEFAULT_PIPELINE = os.path.join(os.path.dirname(__file__), "..", "..", "pipelines",
                                "customer_value.yaml")


class Pipeline:
    def __init__(self, path):
        with open(path) as f:
            spec = yaml.safe_load(f)
        names = [f["name"] for f in spec["factors"]]
        if names != FACTORS:
            raise SystemExit(f"{path}: the peers implement the factors {FACTORS}, found {names}")
        score = spec.get("score") or {}
        if score.get("combine", "weighted_sum") != "weighted_sum" or score.get("normalize",
                                                                                "none") != "none":
            raise SystemExit(f"{path}: the peers implement score.combine: weighted_sum only")
        tiers = spec["tiers"]
        if tiers.get("by", "score") != "score":
            raise SystemExit(f"{path}: the peers implement tiers.by: score only")
        params = spec["params"]
        self.as_of = datetime.date.fromisoformat(str(params["as_of"]))
        self.top_revenue = float(params["top_revenue"])
        self.high_margin = float(params["high_margin"])
        self.lapsed_after_days = int(params["lapsed_after_days"])
        # (name, weight) in pipeline order: the score adds weight x factor in this order
        self.weights = [(f["name"], float(f["weight"])) for f in spec["factors"]]
        # (name, min) highest first; the catch-all last has min None
        self.tiers = [(level["name"], None if level.get("min") is None else float(level["min"]))
                      for level in tiers["levels"]]
        self.id = spec["input"]["id"]
        self.output = spec.get("output") or {}
        self.path = path

    def check_same_work(self):
        """--same-work writes the output of the shipped pipeline's `output:` section; refuse a
        pipeline whose output differs, so a changed YAML cannot make it different work."""
        shipped = {"partition_by": "tier", "columns": ["region", "industry"], "reasons": True}
        found = {key: self.output.get(key) for key in shipped}
        if found != shipped:
            raise SystemExit(f"{self.path}: --same-work writes output {shipped}, the pipeline "
                             f"asks for {found}")


def arguments(description, extra=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("input", help="customers Parquet file (from tierscore gen)")
    parser.add_argument("output", help="Parquet file to write: id, six factors, score, tier")
    parser.add_argument("--pipeline", default=DEFAULT_PIPELINE,
                        help="pipeline YAML to read params, weights and tiers from")
    if extra:
        extra(parser)
    return parser.parse_args()


def same_work_option(parser):
    """--same-work, for arguments(extra=...): write what tierscore writes, not one file."""
    parser.add_argument("--same-work", action="store_true",
                        help="the output is a DIRECTORY, hive-partitioned by tier "
                             "(tier=NAME/*.parquet, zstd, no tier column inside) holding what "
                             "tierscore writes: id, region, industry, six factors, score, "
                             "tier_rank (Int32, 1 = first level), reasons (list of "
                             "\"factor: reason\")")


def check_output_directory(path):
    """--same-work writes into a directory: refuse one that holds files already (DuckDB would
    refuse it anyway, Polars would mix old and new files), so every run starts empty."""
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise SystemExit(f"{path}: --same-work writes a new directory; remove this one first")

