#!/usr/bin/env bash
# What the run report (_report.html) costs: the shipped example with and without it.
#
# For each row count (default: 1000000) it generates customers with `tierscore gen --rows N
# --seed 42` into the scratch directory (reused when present), then runs, in interleaved rounds,
# the release binary on two copies of pipelines/customer_value.yaml reading that file:
#   report     as shipped (output.report on, report.value: margin)
#   no-report  the same with `output.report: false`
# and prints per size the median wall time of each, their ratio, and the median of the
# manifest's phases_seconds.report (the pass that reads the written files back) over the runs
# with the report.
#
# Run from anywhere:   bench/report_cost.sh                 # 1M rows
#                      bench/report_cost.sh 1000000 10000000
# Environment: SCRATCH (default /tmp/tierscore-bench), ROUNDS (default 5).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(1000000); fi
SCRATCH=${SCRATCH:-/tmp/tierscore-bench}
ROUNDS=${ROUNDS:-5}
mkdir -p "$SCRATCH"

cargo build --release --quiet
TIERSCORE="$ROOT/target/release/tierscore"

echo "machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ); tierscore $(git -C "$ROOT" rev-parse --short HEAD)"
printf '%-10s %-10s %8s %12s %8s %10s\n' rows variant "wall s" "report s" ratio rounds
for N in "${SIZES[@]}"; do
    DATA="$SCRATCH/customers-$N.parquet"
    [ -f "$DATA" ] || "$TIERSCORE" gen --rows "$N" --seed 42 --out "$DATA" --quiet
    for variant in report no-report; do
        sed -e "s#^  path: ../testdata/customers.parquet.*#  path: $DATA#" \
            -e "s#^  path: ../out/customer_value#  path: $SCRATCH/out-report-$variant#" \
            pipelines/customer_value.yaml >"$SCRATCH/cv-$variant.yaml"
        if [ "$variant" = no-report ]; then
            sed -i 's#^  reasons: true#  reasons: true\n  report: false#' "$SCRATCH/cv-$variant.yaml"
        fi
        # The rules are found relative to the pipeline: point them back at the repository.
        sed -i "s#\.\./rules/#$ROOT/rules/#" "$SCRATCH/cv-$variant.yaml"
    done
    : >"$SCRATCH/report-times-$N.tsv"
    for round in $(seq "$ROUNDS"); do
        for variant in report no-report; do
            start=$(date +%s.%N)
            "$TIERSCORE" run "$SCRATCH/cv-$variant.yaml" --quiet
            end=$(date +%s.%N)
            report_s=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['phases_seconds'].get('report', 0))" \
                "$SCRATCH/out-report-$variant/_manifest.json")
            echo -e "$variant\t$(echo "$end - $start" | bc)\t$report_s" >>"$SCRATCH/report-times-$N.tsv"
        done
    done
    python3 - "$SCRATCH/report-times-$N.tsv" "$N" "$ROUNDS" <<'PY'
import sys
from statistics import median
rows, n, rounds = {}, sys.argv[2], sys.argv[3]
for line in open(sys.argv[1]):
    variant, wall, report = line.split("\t")
    rows.setdefault(variant, []).append((float(wall), float(report)))
with_r = median(w for w, _ in rows["report"])
without = median(w for w, _ in rows["no-report"])
report_s = median(r for _, r in rows["report"])
print(f"{n:<10} {'report':<10} {with_r:8.2f} {report_s:12.3f} {with_r / without:8.3f} {rounds:>10}")
print(f"{n:<10} {'no-report':<10} {without:8.2f} {'':>12} {'':>8} {rounds:>10}")
print("  walls with report:   " + " ".join(f"{w:.2f}" for w, _ in rows["report"]))
print("  walls without:       " + " ".join(f"{w:.2f}" for w, _ in rows["no-report"]))
PY
done
