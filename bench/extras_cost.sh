#!/usr/bin/env bash
# What each of the shipped pipeline's extras costs beyond the plain peers' work.
#
# On N generated customers (default 100000; `tierscore gen --rows N --seed 42`, reused when
# present), the release binary runs pipelines/customer_value.yaml as shipped, then with one
# extra turned off at a time, then with all five off (what DuckDB and Polars write in
# bench/compare.sh: one file of id, factors, score, tier):
#   reasons     output.reasons: false
#   report      output.report: false
#   columns     output.columns: [] (no pass-through columns)
#   unique-ids  input.unique_ids: false (no duplicate-id check)
#   one-file    output.partition_by: none
#
# Two measures:
#   default     instructions, one thread (callgrind: the same count on a noisy machine as on
#               a quiet one), and each one's change against the shipped pipeline. Callgrind's
#               CPU has no SHA instructions: the output's sha256 weighs more here than on the
#               hardware.
#   WALL=1      wall and CPU seconds on all cores: ROUNDS rounds (default 3), each running
#               every variant once in turn, so a noisy moment falls on all of them; medians,
#               and each variant's wall over the shipped pipeline's, the median of the rounds'
#               ratios. This is what the extras cost where compare.sh measures.
#
# Run: bench/extras_cost.sh [N]      Environment: SCRATCH (default /tmp/tierscore-bench),
#      WALL, ROUNDS.
# Needs python3 with PyYAML, and valgrind (apt install valgrind) without WALL=1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${1:-100000}
SCRATCH=${SCRATCH:-/tmp/tierscore-bench}
PY=${PYTHON:-python3}
mkdir -p "$SCRATCH/extras"
WALL=${WALL:-0}
ROUNDS=${ROUNDS:-3}
if [ "$WALL" != 1 ]; then
    command -v valgrind >/dev/null || { echo "valgrind is needed: apt install valgrind" >&2; exit 3; }
fi
cargo build --release --quiet
TIERSCORE="${CARGO_TARGET_DIR:-$ROOT/target}/release/tierscore"
DATA="$SCRATCH/customers_$N.parquet"
[ -f "$DATA" ] || "$TIERSCORE" gen --rows "$N" --seed 42 --out "$DATA" --quiet

VARIANTS=(shipped reasons report columns unique-ids one-file all)
"$PY" - "$ROOT/bench" "$ROOT/pipelines/customer_value.yaml" "$DATA" "$SCRATCH/extras" "${VARIANTS[@]}" <<'PYEOF'
import os, sys
sys.path.insert(0, sys.argv[1])
from pipeline_copy import shipped, write
src, data, dir, *variants = sys.argv[2:]
off = {
    "reasons": lambda s: s["output"].update(reasons=False),
    "report": lambda s: s["output"].update(report=False),
    "columns": lambda s: s["output"].update(columns=[]),
    "unique-ids": lambda s: s["input"].update(unique_ids=False),
    "one-file": lambda s: s["output"].update(partition_by="none"),
}
for variant in variants:
    spec = shipped(src, data, os.path.join(dir, "out_" + variant))
    for name, turn_off in off.items():
        if variant in (name, "all"):
            turn_off(spec)
    write(spec, os.path.join(dir, variant + ".yaml"))
PYEOF

if [ "$WALL" = 1 ]; then
    echo "$N rows, all cores, $ROUNDS rounds, tierscore $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ)"
    "$PY" - "$TIERSCORE" "$SCRATCH/extras" "$ROUNDS" "${VARIANTS[@]}" <<'PYEOF'
import os, resource, shutil, statistics, subprocess, sys, time
binary, dir, rounds, *variants = sys.argv[1:]
wall = {v: [] for v in variants}
cpu = {v: [] for v in variants}
for _ in range(int(rounds)):
    for v in variants:
        out = os.path.join(dir, "out_" + v)
        shutil.rmtree(out, ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([binary, "run", os.path.join(dir, v + ".yaml"), "--quiet"], check=True)
        wall[v].append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[v].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
print(f"{'turned off':<12} {'wall s':>8} {'cpu s':>8} {'wall over shipped':>18}")
for v in variants:
    ratio = statistics.median(w / s for w, s in zip(wall[v], wall["shipped"]))
    print(f"{v:<12} {statistics.median(wall[v]):8.2f} {statistics.median(cpu[v]):8.2f} "
          f"{ratio:18.3f}")
PYEOF
    exit 0
fi

echo "$N rows, one thread, tierscore $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-12s %16s %9s\n' "turned off" instructions change
for variant in "${VARIANTS[@]}"; do
    count=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$TIERSCORE" run "$SCRATCH/extras/$variant.yaml" --threads 1 --quiet 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    [ -n "$count" ] || { echo "callgrind gave no count for $variant" >&2; exit 1; }
    [ "$variant" = shipped ] && base=$count
    "$PY" -c "import sys; n, b = int(sys.argv[2]), int(sys.argv[3]); \
print(f'{sys.argv[1]:<12} {n:>16,} {100 * (n - b) / b:+8.1f}%')" "$variant" "$count" "$base"
done
