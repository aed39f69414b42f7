#!/usr/bin/env bash
# Fuzzing at length: each cargo-fuzz target of fuzz/ for MINUTES minutes, one after another
# (nightly Rust and cargo-fuzz; `cargo install cargo-fuzz` if missing).
#
#   bench/fuzz.sh MINUTES [TARGET...]     # default: every target
#   FUZZ_RUNS=N bench/fuzz.sh 0 [TARGET...]  # N inputs a target from a fixed seed instead
#
# With FUZZ_RUNS a fresh clone meets nearly the same inputs every time (the same seed inputs,
# libFuzzer's -seed=FUZZ_SEED, default 1, and a count instead of a clock; coverage feedback sees
# a little randomness, such as hash seeds, so corpora end a few percent apart): CI's smoke run,
# which must not pass or fail by chance. Without it each run explores anew.
# Corpora grow in fuzz/corpus/TARGET (not committed), seeded from the repository's own pipelines,
# rules and Parquet files; a crash is written to fuzz/artifacts/TARGET/ and stops the script
# (exit 1) after printing how to reproduce it. Each target's line at the end gives its time,
# the runs it made and its corpus size. RELIABILITY.md records the figures of real runs.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:?usage: bench/fuzz.sh MINUTES [TARGET...]}
shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(pipeline_yaml script_eval parquet_input)
SECONDS_EACH=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }')

seed() {
  local target=$1 dir=fuzz/corpus/$1
  mkdir -p "$dir"
  case $target in
    pipeline_yaml)
      cp pipelines/*.yaml "$dir"/ ;;
    script_eval)
      # The first byte picks factor/score/tier and normal/tight limits (fuzz_targets/script_eval.rs).
      local rule mode
      for rule in rules/*.rhai; do
        for mode in 0 1 2 4; do
          { printf "\\x$(printf %02x $mode)"; cat "$rule"; } >"$dir/$(basename "$rule" .rhai)-$mode"
        done
      done
      printf '\x00qty * 2 + rev' >"$dir/arith"
      printf '\x04if vip ?? false { "gold" } else if region == "north" { "silver" } else { "bronze" }' >"$dir/tier" ;;
    parquet_input)
      cp testdata/*.parquet "$dir"/ ;;
  esac
}

# libFuzzer's -timeout: an input that runs longer is a finding (a hang). The dev build is about ten
# times slower than the optimised one, and a loaded machine slower again: CI's smoke run must not
# fail on a machine's speed (RELIABILITY.md: a forged footer that takes 1.2 s in a debug build
# took over 20 s in the instrumented one under load), so the dev build gets 120 s.
PROFILE=()
TIMEOUT=20
[ -z "${FUZZ_DEV:-}" ] || { PROFILE=(--dev); TIMEOUT=120; }
echo "== building the targets (cargo +nightly fuzz build --sanitizer none ${PROFILE[*]})"
cargo +nightly fuzz build --sanitizer none "${PROFILE[@]}"

summary=()
for target in "${TARGETS[@]}"; do
  seed "$target"
  mkdir -p "fuzz/artifacts/$target"
  log=$(mktemp)
  start=$SECONDS
  if [ -n "${FUZZ_RUNS:-}" ]; then
    LENGTH=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
    echo "== $target, $FUZZ_RUNS inputs from seed ${FUZZ_SEED:-1}"
  else
    LENGTH=(-max_total_time="$SECONDS_EACH")
    echo "== $target for $SECONDS_EACH s"
  fi
  if ! cargo +nightly fuzz run --sanitizer none "${PROFILE[@]}" "$target" "fuzz/corpus/$target" -- \
      "${LENGTH[@]}" -timeout="$TIMEOUT" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="fuzz/artifacts/$target/" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target FAILED after $((SECONDS - start)) s; reproduce with:"
    echo "  cargo +nightly fuzz run --sanitizer none $target fuzz/artifacts/$target/<file>"
    rm -f "$log"
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  rm -f "$log"
  files=$(find "fuzz/corpus/$target" -type f | wc -l)
  summary+=("fuzz: $target clean for $((SECONDS - start)) s, $runs runs, corpus $files files")
done
printf '%s\n' "${summary[@]}"
