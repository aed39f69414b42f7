#!/usr/bin/env bash
# The CI stage for the HTML pages: runs the shipped example twice (as shipped, and with
# top_revenue raised), writes the diff page of the two, runs it once more with --coverage, and
# checks the run reports (with and without the coverage section) and the diff page in
# headless Chromium with .ci/report_browser.py (every section and chart drawn, the coverage
# section's rules, lines and branches as the manifest has them, no console message, no network
# request). Needs /usr/bin/chromium (apt-get install -y chromium).
#
#   .ci/report_pages.sh [TIERSCORE]      # default: target/debug/tierscore (built if missing)
#
# Screenshots of the report and the diff page are taken every time (checked to be PNGs of the
# asked size that are not blank); SCREENSHOTS=1 writes them over docs/report.png and
# docs/diff.png, else they go to the scratch folder.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TIERSCORE=${1:-}
if [ -z "$TIERSCORE" ]; then
    cargo build --quiet
    TIERSCORE="$ROOT/target/debug/tierscore"
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$TIERSCORE" run pipelines/customer_value.yaml --output "$WORK/before" --quiet
"$TIERSCORE" run pipelines/customer_value.yaml --set top_revenue=250000 --output "$WORK/after" --quiet
"$TIERSCORE" run pipelines/customer_value.yaml --coverage --output "$WORK/coverage" --quiet
"$TIERSCORE" diff "$WORK/before" "$WORK/after" --format html --quiet >"$WORK/diff.html"
shots="$WORK"
if [ "${SCREENSHOTS:-0}" = 1 ]; then
    shots=docs
fi
report_shot=(--screenshot "$shots/report.png")
diff_shot=(--screenshot "$shots/diff.png" --height 2300)
python3 .ci/report_browser.py "$WORK/before" "${report_shot[@]}"
python3 .ci/report_browser.py "$WORK/coverage"
python3 .ci/report_browser.py "$WORK/diff.html" "${diff_shot[@]}"
