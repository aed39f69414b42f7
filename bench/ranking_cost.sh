#!/usr/bin/env bash
# What the ranking pass costs: pipelines/customer_value.yaml as shipped (score thresholds, one
# pass over the input) against a copy ranking its rows (`tiers.by: rank`, levels top 5%, 25%,
# 60%, rest), which first scores every row once to rank them, and pipelines/abc.yaml (ABC tiers
# by cumulative share, one rule).
#
# For each row count (default: 1000000) it generates customers with `tierscore gen --rows N
# --seed 42` into the scratch directory (reused when present), then runs the release binary on
# the three pipelines in interleaved rounds (and, with BASELINE=BIN, that binary too, right
# after each), and prints per pipeline and binary the median wall time, the median of the
# manifest's phases_seconds.rank (the ranking pass), the median CPU time (user + system) and
# the median peak RSS, from /usr/bin/time; then rank / thresholds, and (with BASELINE) each
# pipeline's wall time over the baseline's, the median of the per-round ratios. The outputs of
# the two binaries must hold the same rows and tiers (checked on the last round).
#
# Run from anywhere:   bench/ranking_cost.sh                  # 1M rows
#                      BASELINE=/tmp/old/tierscore ROUNDS=5 bench/ranking_cost.sh 1000000 10000000
# Environment: SCRATCH (default /tmp/tierscore-bench), ROUNDS (default 3), BASELINE.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(1000000); fi
SCRATCH=${SCRATCH:-/tmp/tierscore-bench}
ROUNDS=${ROUNDS:-3}
PY=${PYTHON:-python3}
mkdir -p "$SCRATCH"

cargo build --release --quiet
TIERSCORE="${CARGO_TARGET_DIR:-$ROOT/target}/release/tierscore"
BINARIES=(tierscore)
if [ -n "${BASELINE:-}" ]; then BINARIES+=(baseline); fi
binary() { if [ "$1" = baseline ]; then echo "$BASELINE"; else echo "$TIERSCORE"; fi; }

echo "machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ); tierscore $(git -C "$ROOT" rev-parse --short HEAD)"
for N in "${SIZES[@]}"; do
    DATA="$SCRATCH/customers_$N.parquet"
    [ -f "$DATA" ] || "$TIERSCORE" gen --rows "$N" --seed 42 --out "$DATA" --quiet
    for bin in "${BINARIES[@]}"; do
        (cd bench && "$PY" - "$DATA" "$SCRATCH" "$N" "$bin" <<'PY'
import sys
import pipeline_copy as p
data, scratch, n, binary = sys.argv[1:]
def out(name):
    return f"{scratch}/out-ranking-{name}-{binary}-{n}"
thresholds = p.shipped("../pipelines/customer_value.yaml", data, out("thresholds"))
p.write(thresholds, f"{scratch}/ranking-thresholds-{binary}-{n}.yaml")
rank = p.shipped("../pipelines/customer_value.yaml", data, out("rank"))
rank["tiers"] = {"by": "rank", "levels": [{"name": "top", "top": 0.05},
                 {"name": "high", "top": 0.25}, {"name": "mid", "top": 0.6}, {"name": "rest"}]}
p.write(rank, f"{scratch}/ranking-rank-{binary}-{n}.yaml")
abc = p.shipped("../pipelines/abc.yaml", data, out("abc"))
# The generated data holds a few rows the shipped rules reject; the shipped abc allows none.
abc["errors"]["max_reject_fraction"] = 0.001
p.write(abc, f"{scratch}/ranking-abc-{binary}-{n}.yaml")
PY
        )
    done
    TIMES="$SCRATCH/ranking-times-$N.tsv"
    : >"$TIMES"
    for round in $(seq "$ROUNDS"); do
        for pipeline in thresholds rank abc; do
            for bin in "${BINARIES[@]}"; do
                /usr/bin/time -f "%e %U %S %M" -o "$SCRATCH/ranking-time.txt" \
                    "$(binary "$bin")" run "$SCRATCH/ranking-$pipeline-$bin-$N.yaml" --quiet
                read -r wall user sys rss <"$SCRATCH/ranking-time.txt"
                rank_s=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['phases_seconds'].get('rank', 0))" \
                    "$SCRATCH/out-ranking-$pipeline-$bin-$N/_manifest.json")
                echo -e "$round\t$pipeline\t$bin\t$wall\t$rank_s\t$(echo "$user + $sys" | bc)\t$rss" >>"$TIMES"
            done
        done
    done
    "$PY" - "$TIMES" "$N" "$SCRATCH" <<'PY'
import glob, sys
from statistics import median
import pyarrow.parquet as pq
times, n, scratch = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {}
for line in open(times):
    rnd, pipeline, binary, wall, rank, cpu, rss = line.split("\t")
    runs.setdefault((pipeline, binary), {})[int(rnd)] = (float(wall), float(rank), float(cpu), int(rss))
print(f"{'rows':<10} {'pipeline':<11} {'binary':<10} {'wall s':>7} {'rank s':>7} {'CPU s':>7} {'peak RSS':>9}")
med = {}
for (pipeline, binary), by_round in runs.items():
    m = [median(t[i] for t in by_round.values()) for i in range(4)]
    med[(pipeline, binary)] = m
    print(f"{n:<10} {pipeline:<11} {binary:<10} {m[0]:7.2f} {m[1]:7.2f} {m[2]:7.2f} {m[3] / 1024:7.0f}MB"
          f"   walls " + " ".join(f"{t[0]:.2f}" for t in by_round.values()))
for binary in sorted({b for _, b in runs}):
    print(f"  {binary}: rank / thresholds wall "
          f"{med[('rank', binary)][0] / med[('thresholds', binary)][0]:.3f}")
failed = False
if any(b == "baseline" for _, b in runs):
    for pipeline in ("thresholds", "rank", "abc"):
        new, old = runs[(pipeline, "tierscore")], runs[(pipeline, "baseline")]
        ratios = [new[r][0] / old[r][0] for r in new]
        print(f"  {pipeline}: tierscore / baseline wall {median(ratios):.3f} "
              f"(rounds " + " ".join(f"{x:.3f}" for x in ratios) + ")")
        outs = [f"{scratch}/out-ranking-{pipeline}-{b}-{n}" for b in ("tierscore", "baseline")]
        tables = []
        for out in outs:
            files = sorted(glob.glob(f"{out}/scored/**/*.parquet", recursive=True))
            tables.append({f[len(out):]: pq.read_table(f) for f in files})
        if tables[0].keys() != tables[1].keys() or any(
            not tables[0][f].equals(tables[1][f]) for f in tables[0]
        ):
            print(f"  {pipeline}: the two binaries' outputs differ")
            failed = True
sys.exit(1 if failed else 0)
PY
done
