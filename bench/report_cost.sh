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
# report), the median of the manifest's phases_seconds.report (what is left of the report
# after scoring and writing: the whale curve's points and the tables; writing the page is not
# timed), the median CPU
# time (user + system, steadier than the wall time on a shared machine) with its ratio, and the
# median peak RSS, from /usr/bin/time. The figures themselves are counted while the rows are written, inside
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
TIERSCORE="${CARGO_TARGET_DIR:-$ROOT/target}/release/tierscore"

echo "machine: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ); tierscore $(git -C "$ROOT" rev-parse --short HEAD)"
printf '%-10s %-10s %8s %12s %8s %8s %8s %9s %6s\n' rows variant "wall s" "report s" ratio "CPU s" ratio "peak RSS" rounds
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
            /usr/bin/time -f "%e %U %S %M" -o "$SCRATCH/report-time.txt" \
                "$TIERSCORE" run "$SCRATCH/cv-$variant.yaml" --quiet "${flags[@]}"
            read -r wall user sys rss <"$SCRATCH/report-time.txt"
            report_s=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['phases_seconds'].get('report', 0))" \
                "$SCRATCH/out-report-$variant/_manifest.json")
            echo -e "$variant\t$wall\t$report_s\t$(echo "$user + $sys" | bc)\t$rss" >>"$SCRATCH/report-times-$N.tsv"
        done
    done
    python3 - "$SCRATCH/report-times-$N.tsv" "$N" "$ROUNDS" <<'PY'
import sys
from statistics import median
rows, n, rounds = {}, sys.argv[2], sys.argv[3]
for line in open(sys.argv[1]):
    variant, wall, report, cpu, rss = line.split("\t")
    rows.setdefault(variant, []).append((float(wall), float(report), float(cpu), int(rss)))
med = {v: [median(t[i] for t in times) for i in range(4)] for v, times in rows.items()}
base = med["no-report"]
for variant, (wall, report, cpu, rss) in med.items():
    print(f"{n:<10} {variant:<10} {wall:8.2f} {report:12.3f} {wall / base[0]:8.3f} {cpu:8.2f}"
          f" {cpu / base[2]:8.3f} {rss / 1024:7.0f}MB {rounds:>6}")
if "coverage" in med:
    print(f"  coverage / report: wall {med['coverage'][0] / med['report'][0]:.3f},"
          f" CPU {med['coverage'][2] / med['report'][2]:.3f}")
for variant, times in rows.items():
    print(f"  {variant + ':':<10} walls " + " ".join(f"{t[0]:.2f}" for t in times)
          + "; CPU " + " ".join(f"{t[2]:.2f}" for t in times))
PY
done
