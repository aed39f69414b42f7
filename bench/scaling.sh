#!/usr/bin/env bash
# How much faster tierscore runs on 2 threads than on 1, next to what this machine gives any
# program for a second core.
#
# For ROUNDS rounds (default 3), interleaved, on the shipped customer_value pipeline over N
# generated customers (default 1000000; the file is shared with bench/compare.sh):
#   1t    tierscore run --threads 1          (decoding, scoring and writing on one core)
#   2t    tierscore run --threads 2
#   pair  two `tierscore run --threads 1` at once, on two copies of the output: two programs that
#         share nothing. 2 x 1t / pair is the speed-up this machine gives for a second busy
#         core (1.0 = none, 2.0 = perfect); on a VM whose cores share hardware it is below 2.
# It prints the medians, the speed-up 1t/2t and the ceiling 2 x 1t / pair, then the same two
# ratios round by round and their medians (steadier on a machine whose speed drifts).
#
# Run: bench/scaling.sh [N]      Environment: SCRATCH (default /tmp/tierscore-bench), ROUNDS.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${1:-1000000}
ROUNDS=${ROUNDS:-3}
SCRATCH=${SCRATCH:-/tmp/tierscore-bench}
PY=${PYTHON:-python3}
mkdir -p "$SCRATCH"
cargo build --release --quiet
TIERSCORE="${CARGO_TARGET_DIR:-$ROOT/target}/release/tierscore"
DATA="$SCRATCH/customers_$N.parquet"
[ -f "$DATA" ] || "$TIERSCORE" gen --rows "$N" --seed 42 --out "$DATA" --quiet

# The shipped pipeline reading the generated file (paths made absolute).
PIPELINE="$SCRATCH/scaling_$N.yaml"
sed -e "s#^\(  path:\) \.\./testdata/customers\.parquet.*#\1 $DATA#" \
    -e "s#\.\./rules/#$ROOT/rules/#" pipelines/customer_value.yaml >"$PIPELINE"
grep -q "path: $DATA" "$PIPELINE" || { echo "cannot point the pipeline at $DATA" >&2; exit 3; }

# seconds CMD...: wall seconds of CMD.
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
run() { "$TIERSCORE" run "$PIPELINE" --quiet --output "$SCRATCH/scaling_out_$1" --threads "$2"; }
pair() { run a 1 & run b 1 & wait; }

ONE=() TWO=() PAIR=()
for round in $(seq "$ROUNDS"); do
    ONE+=("$(seconds run one 1)")
    TWO+=("$(seconds run two 2)")
    PAIR+=("$(seconds pair)")
    echo "round $round of $ROUNDS: 1t ${ONE[-1]} s, 2t ${TWO[-1]} s, pair ${PAIR[-1]} s"
done
"$PY" - "$N" "${ONE[*]}" "${TWO[*]}" "${PAIR[*]}" <<'PYEOF'
import sys
from statistics import median
n = int(sys.argv[1])
ones, twos, pairs = ([float(x) for x in arg.split()] for arg in sys.argv[2:5])
one, two, pair = median(ones), median(twos), median(pairs)
print(f"{n:,} rows, medians of {len(ones)}: 1t {one:.2f} s, 2t {two:.2f} s, pair {pair:.2f} s")
print(f"speed-up 1t/2t: {one / two:.2f}x; this machine's ceiling 2 x 1t / pair: {2 * one / pair:.2f}x")
# Each round's runs follow one another, so a round's ratio sees the machine as it was then;
# on a shared machine whose speed drifts, their median is the steadier figure.
speedups = [o / t for o, t in zip(ones, twos)]
ceilings = [2 * o / p for o, p in zip(ones, pairs)]
print("per round, speed-up " + " ".join(f"{x:.2f}" for x in speedups)
      + f" (median {median(speedups):.2f}x), ceiling " + " ".join(f"{x:.2f}" for x in ceilings)
      + f" (median {median(ceilings):.2f}x)")
PYEOF
