#!/usr/bin/env python3
"""Renders a run's _report.html (or a `tierscore diff --format html` page) in headless
Chromium and checks it like a reader would.

    .ci/report_browser.py OUT_DIR [--screenshot FILE.png] [--chromium /usr/bin/chromium]
    .ci/report_browser.py DIFF.html [--screenshot FILE.png --height 2200]

Checks, on the DOM after the scripts ran (`--dump-dom`):
  - every section of the report is there, and every chart element was drawn by Vega
    (`data-rendered="true"` and an <svg> with marks inside), none failed;
  - the whale curve shows its peak, the score chart its tier thresholds when tiers are by score
    (report); the heat map
    shows a count in every cell (diff);
  - with `run --coverage` (the manifest has `coverage`): the coverage section is there, with
    one script table per rule, every line of every script, every branch of the manifest and
    as many branches marked dead as the manifest has branches no row took (report);
and, from Chromium's own logs:
  - no console message at all (errors, warnings and uncaught exceptions are console messages;
    the report writes none), from `--enable-logging=stderr`;
  - no network request made by the page: the net log (`--log-net-log`) lists every URL request;
    requests whose network isolation key is the page's (file://) are the page's. Chromium's own
    background requests (time sync, accounts) have another key and are ignored.
Then takes a screenshot at a laptop's width (1366 px) when asked.
Exit 0 when every check passes, 1 otherwise (each failure printed).
"""

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

SECTIONS = ["summary", "tiers", "whale", "scores", "factors", "reasons", "rejects"]
DIFF_SECTIONS = ["summary", "changes", "migration", "shift", "movers"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


class Dom(HTMLParser):
    """Sections, chart elements and their SVG marks, from the dumped DOM."""

    def __init__(self):
        super().__init__()
        self.sections = []
        self.charts = {}  # id -> {"rendered": bool, "marks": int, "texts": [str]}
        self.body = {}
        self.stack = []  # open elements: chart id or None
        self.in_text = None
        self.section = None  # the section being read
        # In the coverage section: script tables, their rows, branches, branches marked dead.
        self.coverage = {"tables": 0, "rows": 0, "branches": 0, "dead": 0}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "section" and "id" in a:
            self.sections.append(a["id"])
            self.section = a["id"]
        if self.section == "coverage":
            classes = (a.get("class") or "").split()
            if tag == "table" and "script" in classes:
                self.coverage["tables"] += 1
            elif tag == "tr":
                self.coverage["rows"] += 1
            elif tag == "span" and "branch" in classes:
                self.coverage["branches"] += 1
            elif tag == "b" and "dead" in classes:
                self.coverage["dead"] += 1
        chart = a.get("data-chart")
        if chart is not None:
            self.charts[chart] = {"rendered": a.get("data-rendered") == "true", "marks": 0, "texts": []}
        current = chart if chart is not None else (self.stack[-1] if self.stack else None)
        if tag not in ("br", "meta", "img", "input", "link", "hr"):
            self.stack.append(current)
        if current is not None and tag in ("path", "rect", "line", "circle") :
            self.charts[current]["marks"] += 1
        self.in_text = current if tag == "text" else None

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None
        if tag not in ("br", "meta", "img", "input", "link", "hr") and self.stack:
            self.stack.pop()
        self.in_text = None

    def handle_data(self, data):
        if self.in_text is not None and data.strip():
            self.charts[self.in_text]["texts"].append(data.strip())


def chromium(binary, profile, extra, url):
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
    )


def page_requests(net_log_path):
    """URLs the page itself asked for (network isolation key of a file:// top frame)."""
    with open(net_log_path) as f:
        text = f.read()
    # Chromium may stop before closing the JSON's event list.
    try:
        log = json.loads(text)
    except json.JSONDecodeError:
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    found, all_requests = [], 0
    for event in log["events"]:
        if types.get(event["type"]) != "URL_REQUEST_START_JOB":
            continue
        params = event.get("params", {})
        all_requests += 1
        if params.get("network_isolation_key", "").startswith("file://"):
            found.append(params.get("url"))
    return found, all_requests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("target", help="an output directory, or a diff page (.html)")
    parser.add_argument("--screenshot")
    parser.add_argument("--height", type=int, default=5400, help="screenshot height in pixels")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    is_diff = os.path.isfile(args.target)
    page = os.path.abspath(args.target if is_diff else os.path.join(args.target, "_report.html"))
    url = "file://" + page
    failures = []

    with tempfile.TemporaryDirectory() as tmp:
        net_log = os.path.join(tmp, "net.json")
        run = chromium(
            args.chromium,
            os.path.join(tmp, "profile"),
            ["--enable-logging=stderr", "--v=0", f"--log-net-log={net_log}",
             "--virtual-time-budget=10000", "--window-size=1366,900", "--dump-dom"],
            url,
        )
        if run.returncode != 0:
            failures.append(f"chromium exited {run.returncode}: {run.stderr[-2000:]}")
        dom = Dom()
        dom.feed(run.stdout)

        for section in DIFF_SECTIONS if is_diff else SECTIONS:
            if section not in dom.sections:
                failures.append(f"section #{section} is missing")
        if is_diff:
            expected_charts = {"migration", "shift"}
        else:
            expected_charts = {"tiers", "whale", "scores", "contributions"}
            if not any(c.startswith("factor-") for c in dom.charts):
                failures.append("no factor histogram")
        missing = expected_charts - set(dom.charts)
        if missing:
            failures.append(f"charts missing: {sorted(missing)}")
        for chart, seen in sorted(dom.charts.items()):
            if not seen["rendered"]:
                failures.append(f"chart {chart} was not drawn")
            elif seen["marks"] < 3:
                failures.append(f"chart {chart} has {seen['marks']} SVG marks")
        if dom.body.get("data-charts-rendered") != str(len(dom.charts)):
            failures.append(
                f"body says {dom.body.get('data-charts-rendered')} charts drawn of {len(dom.charts)}"
                f"; failure: {dom.body.get('data-charts-failed')}"
            )
        if is_diff:
            heat = dom.charts.get("migration", {}).get("texts", [])
            counts = [t for t in heat if re.fullmatch(r"[\d,]+", t)]
            if len(counts) < 4:
                failures.append(f"the heat map shows no counts: {heat[:20]}")
        else:
            whale_texts = dom.charts.get("whale", {}).get("texts", [])
            if "peak" not in whale_texts:
                failures.append(f"the whale curve does not label its peak: {whale_texts[:20]}")
            score_texts = dom.charts.get("scores", {}).get("texts", [])
            # Tiers by score thresholds (the tiers table says "score ≥ …") are drawn on it.
            if "score ≥" in run.stdout and not any("≥" in t for t in score_texts):
                failures.append(f"the score chart shows no tier threshold: {score_texts[:20]}")

        manifest_path = os.path.join(args.target, "_manifest.json")
        rules = None if is_diff else json.load(open(manifest_path)).get("coverage")
        if rules:
            if "coverage" not in dom.sections:
                failures.append("section #coverage is missing (the run counted coverage)")
            # Each script table has a header row and one row per line of the script.
            expected = {
                "tables": len(rules),
                "rows": sum(1 + len(r["script"]) for r in rules),
                "branches": sum(len(r["branches"]) for r in rules),
                "dead": sum(1 for r in rules for b in r["branches"] if b["rows"] == 0),
            }
            for what, count in expected.items():
                if dom.coverage[what] != count:
                    failures.append(
                        f"coverage section: {dom.coverage[what]} {what}, the manifest has {count}"
                    )

        console = [l for l in run.stderr.splitlines() if ":CONSOLE" in l]
        for line in console:
            failures.append(f"console message: {line}")

        requests, all_requests = page_requests(net_log)
        for request in requests:
            failures.append(f"the page requested {request}")

        if args.screenshot:
            shot = chromium(
                args.chromium,
                os.path.join(tmp, "profile2"),
                ["--virtual-time-budget=10000", f"--window-size=1366,{args.height}",
                 f"--screenshot={os.path.abspath(args.screenshot)}"],
                url,
            )
            if shot.returncode != 0 or not os.path.exists(args.screenshot):
                failures.append(f"no screenshot: {shot.stderr[-1000:]}")
            else:
                # A PNG of the asked size that is not one colour (a blank page compresses to
                # a few KB at this size).
                with open(args.screenshot, "rb") as f:
                    head = f.read(24)
                width, height = struct.unpack(">II", head[16:24])
                size = os.path.getsize(args.screenshot)
                if head[:8] != b"\x89PNG\r\n\x1a\n" or (width, height) != (1366, args.height):
                    failures.append(f"screenshot is not a {1366}x{args.height} PNG: {head[:8]!r} {width}x{height}")
                elif size < 50_000:
                    failures.append(f"screenshot of {size} bytes: the page looks blank")
                else:
                    print(f"screenshot {args.screenshot}: {width}x{height}, {size:,} bytes")

    print(
        f"{page}: {len(dom.sections)} sections, {len(dom.charts)} charts drawn "
        f"({sum(c['marks'] for c in dom.charts.values())} SVG marks), "
        f"{len(console)} console messages, {len(requests)} page requests, "
        f"coverage: {dom.coverage['tables']} rules, {dom.coverage['branches']} branches "
        f"({dom.coverage['dead']} dead) "
        f"(net log: {all_requests} requests in all, the rest Chromium's own)"
    )
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
