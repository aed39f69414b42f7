#!/usr/bin/env bash
# What the run report (_report.html) costs: the shipped example with and without it.
#
# For each row count (default: 1000000) it generates customers with `tierscore gen --rows N
# --seed 42` into the scratch directory (reused when present), then runs, in interleaved rounds,
# the release binary on copies of pipelines/customer_value.yaml reading that file:
#   report     as shipped (output.report on, report.value: margin)
#   no-report  the same with `output.report: false`
#   coverage   as shipped, with `run --coverage` (only with COVERAGE=1)
# and prints per size the median wall time of each, its ratio to no-report (coverage: also to
# report), and the median of the manifest's phases_seconds.report (what is left of the report
# after scoring and writing: the whale curve's sort, the tables and the page) over the runs with
# the report. The figures themselves are counted while the rows are written, inside
# phases_seconds.score_and_write.
#
# Run from anywhere:   bench/report_cost.sh                 # 1M rows
#                      COVERAGE=1 bench/report_cost.sh 1000000 10000000
# Environment: SCRATCH (default /tmp/tierscore-bench), ROUNDS (default 5), COVERAGE (default 0).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(1000000); fi
SCRATCH=${SCRATCH:-/tmp/tierscore-bench}
ROUNDS=${ROUNDS:-5}
VARIANTS=(report no-report)
if [ "${COVERAGE:-0}" = 1 ]; then VARIANTS+=(coverage); fi
mkdir -p "$SCRATCH"

cargo build --release --quiet
TIERSCORE="$ROOT/target/release/tierscore"

echo "machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ); tierscore $(git -C "$ROOT" rev-parse --short HEAD)"
printf '%-10s %-10s %8s %12s %8s %10s\n' rows variant "wall s" "report s" ratio rounds
for N in "${SIZES[@]}"; do
    DATA="$SCRATCH/customers_$N.parquet"
    [ -f "$DATA" ] || "$TIERSCORE" gen --rows "$N" --seed 42 --out "$DATA" --quiet
    for variant in "${VARIANTS[@]}"; do
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
        for variant in "${VARIANTS[@]}"; do
            flags=()
            if [ "$variant" = coverage ]; then flags=(--coverage); fi
            start=$(date +%s.%N)
            "$TIERSCORE" run "$SCRATCH/cv-$variant.yaml" --quiet "${flags[@]}"
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
if "coverage" in rows:
    cov = median(w for w, _ in rows["coverage"])
    cov_s = median(r for _, r in rows["coverage"])
    print(f"{n:<10} {'coverage':<10} {cov:8.2f} {cov_s:12.3f} {cov / without:8.3f} {rounds:>10}"
          f"   (coverage / report: {cov / with_r:.3f})")
for variant, times in rows.items():
    print(f"  walls {variant + ':':<11} " + " ".join(f"{w:.2f}" for w, _ in times))
PY
done
