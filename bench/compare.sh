#!/usr/bin/env bash
# End-to-end comparison of tierscore with the same scoring written in DuckDB SQL, Polars and pandas.
#
# For each row count (default: 1000000 10000000) it
#   1. generates customers with `tierscore gen --rows N --seed 42` into the scratch directory
#      (reused when present; the file is the same byte for byte for the same N and seed),
#   2. runs, each under /usr/bin/time -v (wall time, peak RSS):
#        tierscore  the release binary on a copy of pipelines/customer_value.yaml whose input is the
#                   generated file and whose output is in the scratch directory (everything else,
#                   including output.reasons and the region/industry pass-through, as shipped)
#        duckdb     bench/peers/duckdb_cv.py   (one SQL query, read_parquet -> COPY TO Parquet)
#        polars     bench/peers/polars_cv.py   (lazy: scan_parquet -> sink_parquet)
#        pandas     bench/peers/pandas_cv.py   (row-wise DataFrame.apply over the first 200,000
#                   rows; its read+apply+write time is scaled to N rows, startup is not)
#   3. checks every peer against tierscore with bench/check_agreement.py,
#   4. prints the machine, the date and a table: engine, rows, wall s, rows/s, peak RSS MB, and
#      tierscore/DuckDB and tierscore/Polars (ratio of wall times; > 1 means tierscore is slower).
#
# Threads: tierscore, DuckDB and Polars all use every core (their defaults; nothing is set).
# pandas is single-threaded. Peers write zstd Parquet like tierscore.
#
# Run from anywhere:   bench/compare.sh                 # 1M and 10M rows
#                      bench/compare.sh 1000000         # one size
# Environment: SCRATCH (default /tmp/tierscore-bench), PANDAS_ROWS (default 200000).
# Exit 1 when a peer disagrees with tierscore (the table is printed all the same).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(1000000 10000000); fi
SCRATCH=${SCRATCH:-/tmp/tierscore-bench}
PANDAS_ROWS=${PANDAS_ROWS:-200000}
PY=${PYTHON:-python3}
mkdir -p "$SCRATCH"
RESULTS="$SCRATCH/results.tsv"
: >"$RESULTS"

echo "== installing Python packages (pip, quiet)"
"$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    duckdb polars pandas pyarrow pyyaml numpy

echo "== building tierscore (cargo build --release)"
cargo build --release --quiet
TIERSCORE="$ROOT/target/release/tierscore"

# measure ENGINE ROWS CMD...: runs CMD under /usr/bin/time -v; appends
# engine, rows, wall seconds, peak RSS KB to the results (stdout and stderr of CMD to a log).
measure() {
    local engine=$1 rows=$2; shift 2
    local log="$SCRATCH/${engine}_${rows}.log" timing="$SCRATCH/${engine}_${rows}.time"
    if ! /usr/bin/time -v -o "$timing" "$@" >"$log" 2>&1; then
        echo "!! $engine failed on $rows rows; see $log" >&2
        tail -20 "$log" >&2
        exit 3
    fi
    "$PY" - "$timing" "$engine" "$rows" >>"$RESULTS" <<'PYEOF'
import sys
wall = rss = None
for line in open(sys.argv[1]):
    key, _, value = line.strip().rpartition(": ")
    if key.startswith("Elapsed (wall clock) time"):
        seconds = 0.0
        for part in value.split(":"):          # h:mm:ss or m:ss.ss
            seconds = seconds * 60 + float(part)
        wall = seconds
    elif key == "Maximum resident set size (kbytes)":
        rss = int(value)
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{wall}\t{rss}")
PYEOF
}

AGREE=ok
for N in "${SIZES[@]}"; do
    DATA="$SCRATCH/customers_$N.parquet"
    if [ -f "$DATA" ]; then
        echo "== $N rows: reusing $DATA"
    else
        echo "== $N rows: generating $DATA"
        "$TIERSCORE" gen --rows "$N" --seed 42 --out "$DATA" --quiet
    fi

    # The shipped pipeline with its input, output and script paths made absolute.
    PIPELINE="$SCRATCH/customer_value_$N.yaml"
    OUT_TS="$SCRATCH/out_tierscore_$N"
    "$PY" - "$ROOT/pipelines/customer_value.yaml" "$DATA" "$OUT_TS" "$PIPELINE" <<'PYEOF'
import os, sys, yaml
src, data, out, dst = sys.argv[1:]
spec = yaml.safe_load(open(src))
here = os.path.dirname(os.path.abspath(src))
for factor in spec["factors"]:
    if "script" in factor:
        factor["script"] = os.path.normpath(os.path.join(here, factor["script"]))
spec["input"]["path"] = data
spec["output"]["path"] = out
with open(dst, "w") as f:
    yaml.safe_dump(spec, f, sort_keys=False)
PYEOF

    echo "== $N rows: tierscore"
    measure tierscore "$N" "$TIERSCORE" run "$PIPELINE" --quiet
    echo "== $N rows: duckdb"
    measure duckdb "$N" "$PY" bench/peers/duckdb_cv.py "$DATA" "$SCRATCH/out_duckdb_$N.parquet"
    echo "== $N rows: polars"
    measure polars "$N" "$PY" bench/peers/polars_cv.py "$DATA" "$SCRATCH/out_polars_$N.parquet"
    echo "== $N rows: pandas (first $PANDAS_ROWS rows)"
    measure pandas "$N" "$PY" bench/peers/pandas_cv.py "$DATA" "$SCRATCH/out_pandas_$N.parquet" \
        --rows "$PANDAS_ROWS"

    for peer in duckdb polars pandas; do
        extra=()
        if [ "$peer" = pandas ]; then extra=(--rows "$(( N < PANDAS_ROWS ? N : PANDAS_ROWS ))"); fi
        printf '   agreement %-7s ' "$peer"
        if ! "$PY" bench/check_agreement.py "$OUT_TS" "$SCRATCH/out_${peer}_$N.parquet" "${extra[@]}"; then
            AGREE=DISAGREE
        fi
    done
done

echo
echo "== machine"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cores:   $(nproc) (nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "memory:  $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
echo "threads: tierscore, DuckDB, Polars: all cores (their defaults); pandas: one"
"$PY" -c 'import sys, duckdb, polars, pandas, pyarrow; print(f"versions: {sys.argv[1]}, python {sys.version.split()[0]}, duckdb {duckdb.__version__}, polars {polars.__version__}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}")' \
    "$("$TIERSCORE" --version 2>/dev/null || echo tierscore)"
echo
"$PY" - "$RESULTS" "$SCRATCH" "$PANDAS_ROWS" <<'PYEOF'
import json, sys
results, scratch, pandas_rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = []
for line in open(results):
    engine, n, wall, rss = line.split("\t")
    n, wall, rss = int(n), float(wall), int(rss)
    note = ""
    if engine == "pandas":
        # Scale the part that grows with the rows (read + apply + write of the slice, timed by
        # the script) to n rows; keep the fixed part (interpreter start, imports) as measured.
        run = json.loads(open(f"{scratch}/pandas_{n}.log").read().strip().splitlines()[-1])
        if run["rows"] < n:
            wall = (wall - run["seconds"]) + run["seconds"] * n / run["rows"]
            note = f"scaled from {run['rows']:,} rows (measured {float(line.split()[2]):.1f} s); RSS at {run['rows']:,}"
    rows.append((engine, n, wall, rss / 1024, note))
walls = {(e, n): w for e, n, w, _, _ in rows}
head = f"{'engine':<10} {'rows':>11} {'wall s':>8} {'rows/s':>11} {'peak RSS MB':>12} {'ts/DuckDB':>10} {'ts/Polars':>10}  note"
print(head)
print("-" * len(head))
for engine, n, wall, rss_mb, note in rows:
    ratios = ["", ""]
    if engine == "tierscore":
        ratios = [f"{wall / walls[(peer, n)]:.2f}" if walls.get((peer, n)) else ""
                  for peer in ("duckdb", "polars")]
    print(f"{engine:<10} {n:>11,} {wall:>8.2f} {n / wall:>11,.0f} {rss_mb:>12.0f} "
          f"{ratios[0]:>10} {ratios[1]:>10}  {note}")
print("\nts/DuckDB, ts/Polars: tierscore's wall time over the peer's; > 1 means tierscore is slower.")
PYEOF
echo "agreement of every peer with tierscore: $AGREE"
[ "$AGREE" = ok ]
