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
#        alone      benches/scripts_alone.rs on the same pipeline: the same rules on the
#                   same decoded batches, through the rule interface; its own timer counts
#                   (the time of tierscore run over this is what I/O, conversion and writing add)
#        tierscore-1t  tierscore run --threads 1 (everything on one core), for the speed-up
#        duckdb     bench/peers/duckdb_cv.py   (one SQL query, read_parquet -> COPY TO Parquet)
#        polars     bench/peers/polars_cv.py   (lazy: scan_parquet -> sink_parquet)
#        pandas     bench/peers/pandas_cv.py   (row-wise DataFrame.apply over the first 200,000
#                   rows; its read+apply+write time is scaled to N rows, startup is not)
#   3. checks every peer against tierscore with bench/check_agreement.py,
#   4. prints the machine, the date and a table: engine, rows, wall s, rows/s, peak RSS MB, and
#      tierscore/DuckDB and tierscore/Polars (ratio of wall times; > 1 means tierscore is slower;
#      with SAME_WORK=1 also tierscore over the same-work peers, ts/DuckDB= and ts/Polars=).
#
# Threads: tierscore, DuckDB and Polars all use every core (their defaults; nothing is set).
# pandas is single-threaded. Peers write zstd Parquet like tierscore.
#
# Run from anywhere:   bench/compare.sh                 # 1M and 10M rows
#                      bench/compare.sh 1000000         # one size
# Environment: SCRATCH (default /tmp/tierscore-bench), PANDAS_ROWS (default 200000), ROUNDS
# (default 1): rounds of tierscore / alone / tierscore-1t / DuckDB / Polars (and the optional
# runs below), interleaved; the table shows medians, and below it (with ROUNDS > 1) each ratio
# round by round.
#   INTERPRETED=1   also time `tierscore run --engine interpreted` each round (the fallback)
#   BASELINE=BIN    also time another tierscore binary (say an earlier commit's release build)
#                   on the same pipeline each round, as "baseline"
#   SAME_WORK=1     also time the DuckDB and Polars peers with --same-work each round, as
#                   "duckdb-same" and "polars-same": they then write what tierscore writes (a
#                   directory hive-partitioned by tier, tier=NAME/*.parquet, with region, industry,
#                   tier_rank and the reasons list besides the factors and score), into
#                   out_duckdb-same_N/ and out_polars-same_N/ in the scratch directory (removed
#                   before each run, so every run writes afresh); their agreement with tierscore
#                   is checked on those columns too, and the table adds ts/DuckDB= and ts/Polars=
#                   (tierscore over the same-work peers). The plain duckdb/polars runs stay as
#                   they are: one Parquet file of id, six factors, score, tier.
#   PEER_WORK=1     also time tierscore on the plain peers' work, as "ts-peerwork": a copy of the
#                   pipeline whose scored output is one file (partition_by: none) of id, six
#                   factors, score, tier and tier_rank (beside it, as always, the rejects file
#                   and the manifest), without the pass-through columns, the reasons, the report
#                   or the duplicate-id check (input.unique_ids: false); the table gives its wall
#                   over the plain duckdb and polars runs, and its rows are checked against
#                   tierscore's. What is left between it and tierscore is the cost of what the
#                   shipped pipeline asks for beyond the plain peers.
# Exit 1 when a peer disagrees with tierscore (the table is printed all the same).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(1000000 10000000); fi
SCRATCH=${SCRATCH:-/tmp/tierscore-bench}
PANDAS_ROWS=${PANDAS_ROWS:-200000}
ROUNDS=${ROUNDS:-1}
PY=${PYTHON:-python3}
mkdir -p "$SCRATCH"
RESULTS="$SCRATCH/results.tsv"
: >"$RESULTS"

echo "== installing Python packages (pip, quiet)"
"$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    duckdb polars pandas pyarrow pyyaml numpy

echo "== building tierscore (cargo build --release)"
cargo build --release --quiet
TIERSCORE="${CARGO_TARGET_DIR:-$ROOT/target}/release/tierscore"
SCRIPTS_ALONE=$(cargo bench --quiet --bench scripts_alone --no-run --message-format=json \
    | "$PY" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "scripts_alone" and m.get("executable"):
        print(m["executable"])')

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
    "$PY" - "$timing" "$engine" "$rows" "$log" >>"$RESULTS" <<'PYEOF'
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
if sys.argv[2] == "alone":
    # The harness's own timer: rhai evaluation only, not its start-up, decoding or conversion.
    last = open(sys.argv[4]).read().strip().splitlines()[-1]
    wall = float(dict(part.split("=") for part in last.split()[1:])["seconds"])
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
    PEER_PIPELINE="$SCRATCH/customer_value_peerwork_$N.yaml"
    "$PY" - "$ROOT/bench" "$ROOT/pipelines/customer_value.yaml" "$DATA" "$OUT_TS" "$PIPELINE" "$PEER_PIPELINE" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv[1])
from pipeline_copy import shipped, write
src, data, out, dst, peer_dst = sys.argv[2:]
spec = shipped(src, data, out)
write(spec, dst)
# The plain peers' work: one file of id, factors, score, tier (and tier_rank), nothing else.
spec["input"]["unique_ids"] = False
spec["output"] = {"path": out + "_peerwork", "partition_by": "none", "columns": [],
                  "reasons": False, "report": False}
write(spec, peer_dst)
PYEOF

    for round in $(seq "$ROUNDS"); do
        echo "== $N rows, round $round of $ROUNDS: tierscore, the scripts alone, tierscore --threads 1, duckdb, polars"
        measure tierscore "$N" "$TIERSCORE" run "$PIPELINE" --quiet
        measure alone "$N" "$SCRIPTS_ALONE" "$PIPELINE"
        measure tierscore-1t "$N" "$TIERSCORE" run "$PIPELINE" --quiet --threads 1 \
            --output "$SCRATCH/out_tierscore_1t_$N"
        measure duckdb "$N" "$PY" bench/peers/duckdb_cv.py "$DATA" "$SCRATCH/out_duckdb_$N.parquet"
        measure polars "$N" "$PY" bench/peers/polars_cv.py "$DATA" "$SCRATCH/out_polars_$N.parquet"
        if [ "${SAME_WORK:-0}" = 1 ]; then
            # The peers refuse a non-empty output directory; a fresh one also times the whole write.
            rm -rf "$SCRATCH/out_duckdb-same_$N"
            measure duckdb-same "$N" "$PY" bench/peers/duckdb_cv.py "$DATA" \
                "$SCRATCH/out_duckdb-same_$N" --same-work
            rm -rf "$SCRATCH/out_polars-same_$N"
            measure polars-same "$N" "$PY" bench/peers/polars_cv.py "$DATA" \
                "$SCRATCH/out_polars-same_$N" --same-work
        fi
        if [ "${PEER_WORK:-0}" = 1 ]; then
            measure ts-peerwork "$N" "$TIERSCORE" run "$PEER_PIPELINE" --quiet
        fi
        if [ "${INTERPRETED:-0}" = 1 ]; then
            measure interpreted "$N" "$TIERSCORE" run "$PIPELINE" --quiet --engine interpreted \
                --output "$SCRATCH/out_interpreted_$N"
        fi
        if [ -n "${BASELINE:-}" ]; then
            measure baseline "$N" "$BASELINE" run "$PIPELINE" --quiet \
                --output "$SCRATCH/out_baseline_$N"
        fi
    done
    echo "== $N rows: pandas (first $PANDAS_ROWS rows)"
    measure pandas "$N" "$PY" bench/peers/pandas_cv.py "$DATA" "$SCRATCH/out_pandas_$N.parquet" \
        --rows "$PANDAS_ROWS"

    PEERS=(duckdb polars pandas)
    WIDTH=11
    if [ "${SAME_WORK:-0}" = 1 ]; then PEERS+=(duckdb-same polars-same); fi
    if [ "${PEER_WORK:-0}" = 1 ]; then PEERS+=(ts-peerwork); fi
    for peer in "${PEERS[@]}"; do
        extra=()
        out="$SCRATCH/out_${peer}_$N.parquet"
        if [ "$peer" = pandas ]; then extra=(--rows "$(( N < PANDAS_ROWS ? N : PANDAS_ROWS ))"); fi
        case "$peer" in *-same) out="$SCRATCH/out_${peer}_$N" ;; esac   # a hive-partitioned directory
        if [ "$peer" = ts-peerwork ]; then out="${OUT_TS}_peerwork/scored/part-00000.parquet"; fi
        printf "   agreement %-${WIDTH}s " "$peer"
        if ! "$PY" bench/check_agreement.py "$OUT_TS" "$out" "${extra[@]}"; then
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
from statistics import median
runs = {}
for line in open(results):
    engine, n, wall, rss = line.split("\t")
    runs.setdefault((engine, int(n)), []).append((float(wall), int(rss)))
rows = []
for (engine, n), measured in runs.items():
    wall = median(w for w, _ in measured)
    rss = max(r for _, r in measured)
    note = f"median of {len(measured)}: " + " ".join(f"{w:.2f}" for w, _ in measured) if len(measured) > 1 else ""
    if engine == "pandas":
        # Scale the part that grows with the rows (read + apply + write of the slice, timed by
        # the script) to n rows; keep the fixed part (interpreter start, imports) as measured.
        run = json.loads(open(f"{scratch}/pandas_{n}.log").read().strip().splitlines()[-1])
        if run["rows"] < n:
            wall = (wall - run["seconds"]) + run["seconds"] * n / run["rows"]
            note = f"scaled from {run['rows']:,} rows (measured {measured[0][0]:.1f} s); RSS at {run['rows']:,}"
    if engine == "alone":
        note = "rule evaluation only, by its own timer; " + note
    rows.append((engine, n, wall, rss / 1024, note))
walls = {(e, n): w for e, n, w, _, _ in rows}
# SAME_WORK=1: two more columns, tierscore over the peers that write what it writes.
same_work = any(e in ("duckdb-same", "polars-same") for e, _ in runs)
head = (f"{'engine':<13} {'rows':>11} {'wall s':>8} {'rows/s':>11} {'peak RSS MB':>12} "
        f"{'ts/DuckDB':>10} {'ts/Polars':>10} {'ts/alone':>9} {'1t/ts':>6}"
        + (f" {'ts/DuckDB=':>10} {'ts/Polars=':>10}" if same_work else "") + "  note")
print(head)
print("-" * len(head))
for engine, n, wall, rss_mb, note in rows:
    ratios = ["", "", "", "", "", ""]
    if engine == "ts-peerwork":
        ratios[:2] = [f"{wall / walls[(peer, n)]:.2f}" if walls.get((peer, n)) else ""
                      for peer in ("duckdb", "polars")]
    if engine == "tierscore":
        ratios = [f"{wall / walls[(peer, n)]:.2f}" if walls.get((peer, n)) else ""
                  for peer in ("duckdb", "polars", "alone")]
        ratios.append(f"{walls[('tierscore-1t', n)] / wall:.2f}" if walls.get(("tierscore-1t", n)) else "")
        ratios += [f"{wall / walls[(peer, n)]:.2f}" if walls.get((peer, n)) else ""
                   for peer in ("duckdb-same", "polars-same")]
    same = f" {ratios[4]:>10} {ratios[5]:>10}" if same_work else ""
    print(f"{engine:<13} {n:>11,} {wall:>8.2f} {n / wall:>11,.0f} {rss_mb:>12.0f} "
          f"{ratios[0]:>10} {ratios[1]:>10} {ratios[2]:>9} {ratios[3]:>6}{same}  {note}")
# Round by round: the runs of one round follow one another, so on a machine whose speed drifts
# the ratio within a round is steadier than the ratio of the medians above.
for n in sorted({n for _, n in runs}):
    pairs = [("tierscore", peer) for peer in ("duckdb", "polars", "duckdb-same", "polars-same")]
    pairs += [("ts-peerwork", peer) for peer in ("duckdb", "polars")]
    pairs += [("tierscore-1t", "tierscore"), ("tierscore", "baseline"), ("interpreted", "tierscore")]
    for ours, peer in pairs:
        a, b = runs.get((ours, n), []), runs.get((peer, n), [])
        if len(a) > 1 and len(a) == len(b):
            per_round = [x / y for (x, _), (y, _) in zip(a, b)]
            print(f"{n:>11,} rows, {ours} over {peer}, round by round: "
                  + " ".join(f"{r:.2f}" for r in per_round) + f" (median {median(per_round):.2f})")
print("\nts/DuckDB, ts/Polars: tierscore's wall time over the peer's; > 1 means tierscore is slower.")
if same_work:
    print("ts/DuckDB=, ts/Polars=: the same over the peers run with --same-work (duckdb-same,\n"
          "polars-same), which write what tierscore writes: hive-partitioned by tier, with region,\n"
          "industry, tier_rank and the reasons list.")
if any(e == "ts-peerwork" for e, _ in runs):
    print("On the ts-peerwork row: tierscore doing the plain peers' work (one file of id, factors,\n"
          "score, tier, tier_rank; no pass-through, reasons, report or duplicate-id check) over\n"
          "those peers.")
print("ts/alone: tierscore run over the scripts alone (what I/O, conversion and writing add).")
print("1t/ts: tierscore --threads 1 over tierscore on all cores (the speed-up from threads).")
PYEOF
echo "agreement of every peer with tierscore: $AGREE"
[ "$AGREE" = ok ]
