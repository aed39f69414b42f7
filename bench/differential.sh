#!/usr/bin/env bash
# Differential testing at length: N generated cases of tests/differential.rs (compiled engine vs
# interpreter, values to the bit, reasons and failures), in the release profile.
#
#   bench/differential.sh N [SEED]      # N cases from SEED (default 1)
#
# JOBS=k (default 1) splits the cases over k processes with seeds SEED, SEED+1, ..., SEED+k-1
# (each with N/k cases). Each job prints its own summary line; at the end the script prints how
# many cases ran clean, the wall time, and the seeds that failed (rerun one with
# DIFFERENTIAL_SEED=S DIFFERENTIAL_CASES=n cargo test --release --test differential to see its
# minimal case). Exit 1 when any seed failed.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:?usage: bench/differential.sh N [SEED]}
SEED=${2:-1}
JOBS=${JOBS:-1}
LOGS=$(mktemp -d)

echo "== building the differential test (cargo test --release --no-run)"
cargo test --release --quiet --test differential --no-run

per=$(((N + JOBS - 1) / JOBS))
start=$(date +%s)
pids=()
for ((j = 0; j < JOBS; j++)); do
  DIFFERENTIAL_CASES=$per DIFFERENTIAL_SEED=$((SEED + j)) \
    cargo test --release --quiet --test differential compiled_and_interpreted -- --nocapture \
    >"$LOGS/$j.log" 2>&1 &
  pids+=($!)
done
failed=()
clean=0
for ((j = 0; j < JOBS; j++)); do
  if wait "${pids[$j]}"; then
    clean=$((clean + per))
    grep -h '^differential:' "$LOGS/$j.log" || true
  else
    failed+=($((SEED + j)))
    grep -h -A30 '^differential: seed' "$LOGS/$j.log" | head -40 || tail -20 "$LOGS/$j.log"
  fi
done
wall=$(($(date +%s) - start))
echo "== $clean of $((per * JOBS)) cases ran clean in ${wall} s (seeds $SEED..$((SEED + JOBS - 1)), $JOBS job(s))"
if [ ${#failed[@]} -gt 0 ]; then
  echo "== failed seeds: ${failed[*]} (logs in $LOGS)"
  exit 1
fi
rm -rf "$LOGS"
