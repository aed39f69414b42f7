//! The run report (`_report.html`): its numbers equal figures computed here from the output's
//! Parquet files (exactly: sums are exact sums rounded once, computed here with Shewchuk's
//! algorithm, a different one from the run's), `tierscore report` renders the same page from
//! the committed output, the figures do not depend on the thread count, the manifest's score
//! quantiles equal the output's, the page asks no other host for anything, and
//! `output.report: false` / `report.value` work.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// The figures JSON embedded in a report page.
fn figures(page: &str) -> Value {
    let start = page
        .find(r#"<script type="application/json" id="tierscore-figures">"#)
        .expect("the page embeds its figures");
    let rest = &page[start..];
    let body = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    parse_json_exact(body)
}

fn page(out: &Path) -> String {
    fs::read_to_string(out.join("_report.html")).expect("the run wrote _report.html")
}

fn assert_exact(actual: &Value, expected: f64, what: &str) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual}"));
    assert_eq!(actual, expected, "{what}");
}

/// The exact sum of `values` rounded once to nearest, ties to even: Shewchuk's non-overlapping
/// partials, finished as Python's `math.fsum` does.
fn fsum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for mut x in values {
        let mut kept = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    let Some(mut hi) = partials.pop() else {
        return 0.0;
    };
    let mut lo = 0.0;
    while let Some(y) = partials.pop() {
        let x = hi;
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    // A tie broken by what is left below: round away from the half way point.
    if let Some(&next) = partials.last() {
        if (lo < 0.0 && next < 0.0) || (lo > 0.0 && next > 0.0) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
    }
    hi
}

/// Every output row of a partitioned output: (tier, score, value column, reasons).
struct Row {
    tier: String,
    score: f64,
    value: f64,
    factors: Vec<f64>,
    reasons: Vec<String>,
}

fn rows_by_tier_folder(out: &Path, value: &str, factors: &[&str]) -> Vec<Row> {
    let mut rows = Vec::new();
    for entry in fs::read_dir(out).unwrap() {
        let dir = entry.unwrap().path();
        let Some(tier) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("tier="))
            .map(str::to_string)
        else {
            continue;
        };
        for file in fs::read_dir(&dir).unwrap() {
            let batch = read_parquet(&file.unwrap().path());
            let scores = floats(&batch, "score");
            let values = floats(&batch, value);
            let reasons = string_lists(&batch, "reasons");
            let factor_values: Vec<Vec<f64>> = factors.iter().map(|f| floats(&batch, f)).collect();
            for i in 0..batch.num_rows() {
                rows.push(Row {
                    tier: tier.clone(),
                    score: scores[i],
                    value: values[i],
                    factors: factor_values.iter().map(|v| v[i]).collect(),
                    reasons: reasons[i].clone(),
                });
            }
        }
    }
    rows
}

/// The whale curve's cumulative sums, computed here: values sorted highest first, each prefix
/// summed exactly.
fn cumulative(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(|a, b| b.total_cmp(a));
    (1..=values.len())
        .map(|k| fsum(values[..k].iter().copied()))
        .collect()
}

/// Runs the shipped customer_value example into `dir/cv` and returns that output.
fn shipped_example(dir: &Path) -> PathBuf {
    let out = dir.join("cv");
    run(
        &repo(),
        &[
            "run",
            "pipelines/customer_value.yaml",
            "--output",
            out.to_str().unwrap(),
            "--quiet",
        ],
    )
    .expect_code(0);
    out
}

#[test]
fn shipped_example_report_numbers_equal_the_output_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = shipped_example(tmp.path());
    let m = manifest(&out);
    assert_eq!(m["report"]["file"], "_report.html");
    assert_eq!(m["report"]["value"], "margin");
    let html = page(&out);
    // The time card: the run's start to its finish, as the manifest records them.
    let started = chrono::DateTime::parse_from_rfc3339(m["started_at"].as_str().unwrap()).unwrap();
    let finished =
        chrono::DateTime::parse_from_rfc3339(m["finished_at"].as_str().unwrap()).unwrap();
    let seconds = (finished - started).num_milliseconds() as f64 / 1000.0;
    let card = format!(
        "<b>{}</b><span>time</span>",
        tierscore::human::seconds(seconds)
    );
    assert!(html.contains(&card), "no {card} in the page");
    let f = figures(&html);
    let factor_names = CUSTOMER_VALUE_FACTORS;
    let rows = rows_by_tier_folder(&out.join("scored"), "margin", &factor_names);
    assert_eq!(rows.len(), 2000);
    assert_eq!(f["customers"], 2000);

    // Tiers: count and share of customers, of the score and of the margin.
    let total_score = fsum(rows.iter().map(|r| r.score));
    let total_value = fsum(rows.iter().map(|r| r.value));
    assert_exact(&f["total_score"], total_score, "total score");
    assert_exact(&f["total_value"], total_value, "total margin");
    let tiers = f["tiers"].as_array().unwrap();
    let names: Vec<&str> = tiers.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["strategic", "key", "general", "low_value", "loss_making"]
    );
    for tier in tiers {
        let name = tier["name"].as_str().unwrap();
        let in_tier: Vec<&Row> = rows.iter().filter(|r| r.tier == name).collect();
        assert!(!in_tier.is_empty(), "tier {name} is empty in the example");
        let count = in_tier.len() as f64;
        let score = fsum(in_tier.iter().map(|r| r.score));
        let value = fsum(in_tier.iter().map(|r| r.value));
        assert_eq!(tier["count"], in_tier.len(), "{name}");
        assert_exact(&tier["customer_share"], count / 2000.0, name);
        assert_exact(&tier["score_sum"], score, name);
        assert_exact(&tier["score_share"], score / total_score, name);
        assert_exact(&tier["value_sum"], value, name);
        assert_exact(&tier["value_share"], value / total_value, name);

        // Factors: weight × mean per tier.
        for (i, factor) in f["factors"].as_array().unwrap().iter().enumerate() {
            assert_eq!(factor["name"], factor_names[i]);
            let weight = factor["weight"].as_f64().unwrap();
            let mean = fsum(in_tier.iter().map(|r| r.factors[i])) / count;
            let cell = factor["per_tier"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["tier"] == name)
                .unwrap();
            assert_exact(&cell["contribution"], weight * mean, factor_names[i]);
        }

        // Reasons: the win-back list, counted here by its prefix.
        let lapsed = in_tier
            .iter()
            .filter(|r| {
                r.reasons
                    .iter()
                    .any(|x| x.starts_with("loyalty: lapsed: no order for "))
            })
            .count();
        let listed = f["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tier"] == name)
            .unwrap()["top"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["reason"] == "loyalty: lapsed: no order for N days (win-back list)")
            .map_or(0, |r| r["count"].as_u64().unwrap());
        if lapsed > 0 {
            assert_eq!(listed, lapsed as u64, "lapsed customers in {name}");
        }
    }

    // The whale curve: every point drawn, the peak and the Pareto point.
    let sums = cumulative(rows.iter().map(|r| r.value).collect());
    let whale = &f["whale"];
    assert_eq!(whale["customers"], 2000);
    assert_exact(&whale["total"], *sums.last().unwrap(), "whale total");
    let points = whale["points"].as_array().unwrap();
    assert!(points.len() > 100, "{} points", points.len());
    assert_eq!(points[0]["customers"], 0);
    for p in &points[1..] {
        let n = p["customers"].as_u64().unwrap() as usize;
        assert_exact(&p["cumulative"], sums[n - 1], &format!("whale at {n}"));
        assert_exact(&p["customer_share"], n as f64 / 2000.0, "share");
    }
    // The peak: after the last customer of positive value.
    let peak_at = rows.iter().filter(|r| r.value > 0.0).count();
    let peak = sums[peak_at - 1];
    assert_eq!(whale["peak"]["customers"], peak_at);
    assert_exact(&whale["peak"]["cumulative"], peak, "peak");
    assert_exact(&whale["given_back"], peak - sums[1999], "given back");
    let pareto = sums.iter().position(|&s| s >= 0.8 * sums[1999]).unwrap() + 1;
    assert_eq!(whale["pareto"]["customers"], pareto);
    assert!(
        peak > sums[1999],
        "the example has loss-making customers: the curve peaks above the total"
    );

    // The score histogram counts every customer once, in the bar its score falls in: bars a
    // power of two wide, from a multiple of it, at most 40, the first and last not empty.
    let hist = &f["score_histogram"];
    let counts: Vec<u64> = hist["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    let (min, width) = (
        hist["min"].as_f64().unwrap(),
        hist["width"].as_f64().unwrap(),
    );
    assert_eq!(width.log2().fract(), 0.0, "width {width}");
    assert_eq!((min / width).fract(), 0.0, "min {min}");
    assert!(counts.len() <= 40 && counts[0] > 0 && counts[counts.len() - 1] > 0);
    let mut expected = vec![0u64; counts.len()];
    for r in &rows {
        expected[((r.score / width).floor() - min / width) as usize] += 1;
    }
    assert_eq!(counts, expected);
    // Wider bars would be fewer than 40 / 2 + 1: the width is the narrowest that fits.
    let lowest = rows.iter().map(|r| r.score).fold(f64::INFINITY, f64::min);
    let highest = rows
        .iter()
        .map(|r| r.score)
        .fold(f64::NEG_INFINITY, f64::max);
    let half = width / 2.0;
    assert!((highest / half).floor() - (lowest / half).floor() + 1.0 > 40.0);
    assert_eq!(f["rejects"]["total"], 0);
}

#[test]
fn unpartitioned_output_with_rejects_and_a_passed_through_value_column() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 600, 5, 250);
    write(
        dir,
        "p.yaml",
        r#"version: 1
name: picky
input: { path: customers.parquet, id: customer_id }
factors:
  - { name: orders, expr: "if orders_12m == 0 { throw `no orders since ${last_order_date}` } else { orders_12m * 1.0 }", weight: 1.0 }
tiers:
  levels:
    - { name: busy, min: 20 }
    - { name: quiet }
output: { path: out, partition_by: none, columns: [revenue_12m] }
report: { value: revenue_12m }
errors: { max_reject_fraction: 1.0 }
"#,
    );
    run(dir, &["run", "p.yaml", "--quiet"]).expect_code(0);
    let out = dir.join("out");
    let f = figures(&page(&out));
    let batch = read_parquet(&out.join("scored/part-00000.parquet"));
    let tiers = texts(&batch, "tier");
    let revenue = floats(&batch, "revenue_12m");
    for (i, name) in ["busy", "quiet"].iter().enumerate() {
        let count = tiers.iter().filter(|t| t == name).count();
        let value = fsum(
            tiers
                .iter()
                .zip(&revenue)
                .filter(|(t, _)| t == name)
                .map(|(_, v)| *v),
        );
        assert_eq!(f["tiers"][i]["count"], count, "{name}");
        assert_exact(&f["tiers"][i]["value_sum"], value, name);
    }
    let sums = cumulative(revenue.clone());
    let last = f["whale"]["points"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["customers"], revenue.len());
    assert_exact(&last["cumulative"], *sums.last().unwrap(), "whale end");

    let rejects = read_parquet(&out.join("rejects/part-00000.parquet"));
    let ids = texts(&rejects, "customer_id");
    let messages = texts(&rejects, "message");
    assert!(
        !ids.is_empty(),
        "the example rejects customers without orders"
    );
    assert_eq!(f["rejects"]["total"], ids.len());
    let mut by_message: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, message) in ids.iter().zip(&messages) {
        by_message.entry(message).or_default().push(id);
    }
    let groups = f["rejects"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), by_message.len().min(30));
    for group in groups {
        let ids = &by_message[group["message"].as_str().unwrap()];
        assert_eq!(group["step"], "orders");
        assert_eq!(group["count"], ids.len());
        let first: Vec<&str> = ids.iter().take(5).copied().collect();
        assert_eq!(group["first_ids"], serde_json::json!(first));
    }
}

#[test]
fn report_command_renders_the_same_page_from_the_committed_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = shipped_example(tmp.path());
    let written = page(&out);
    fs::remove_file(out.join("_report.html")).unwrap();
    let result = run(tmp.path(), &["report", "cv"]);
    result.expect_code(0);
    assert_eq!(result.stdout.trim(), "report: cv/_report.html");
    assert!(page(&out) == written, "the re-rendered page differs");
    assert_eq!(
        listing(&out)
            .iter()
            .filter(|n| n.contains("partial"))
            .count(),
        0
    );

    let not_output = run(tmp.path(), &["report", "."]);
    not_output.expect_code(3);
    assert!(
        not_output.headline().contains("is not a tierscore output"),
        "{}",
        not_output.stderr
    );
}

/// Every `http://` or `https://` URL in `text`.
fn urls(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("http") {
        let tail = &rest[at..];
        if tail.starts_with("http://") || tail.starts_with("https://") {
            let end = tail
                .find(|c: char| c.is_whitespace() || "\"'`)<>\\".contains(c))
                .unwrap_or(tail.len());
            found.push(tail[..end].to_string());
        }
        rest = &rest[at + 4..];
    }
    found
}

#[test]
fn the_page_asks_no_other_host_for_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let out = shipped_example(tmp.path());
    let page = page(&out);
    // The vendored libraries hold a few URLs that are names, not requests: XML namespaces
    // (SVG, XLink, XMLNS), Vega-Lite's `$schema` identifier of the Vega specs it compiles and
    // a link in one of its warning messages. Nothing else may name another host.
    let allowed = [
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
        "http://www.w3.org/2000/xmlns/",
        "https://vega.github.io/schema/vega/v6.json",
        "https://github.com/vega/vega-lite/issues/2415",
    ];
    let found = urls(&page);
    assert!(
        found.len() >= 4,
        "the URL scan finds the namespaces: {found:?}"
    );
    for url in &found {
        assert!(allowed.contains(&url.as_str()), "the page names {url}");
    }
    // Outside the two vendored scripts: no URL at all, and nothing loaded from elsewhere.
    let vega = include_str!("../src/report/vendor/vega-6.4.0.min.js");
    let vega_lite = include_str!("../src/report/vendor/vega-lite-6.4.3.min.js");
    assert!(page.contains(vega) && page.contains(vega_lite));
    let own = page.replace(vega, "").replace(vega_lite, "");
    assert_eq!(urls(&own), Vec::<String>::new());
    for needle in [" src=", "<link", "@import", "url(", "<iframe", "<img"] {
        assert!(!own.contains(needle), "the page has {needle}");
    }
    for href in own.split(" href=\"").skip(1) {
        assert!(
            href.starts_with('#'),
            "a link leaves the page: {}",
            &href[..40.min(href.len())]
        );
    }
    for section in [
        "summary", "tiers", "whale", "scores", "factors", "reasons", "rejects",
    ] {
        assert!(
            own.contains(&format!("<section id=\"{section}\">")),
            "{section}"
        );
    }
}

#[test]
fn output_report_false_writes_no_page_and_a_bad_value_column_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 100, 3, 100);
    let pipeline = |output: &str, report: &str| {
        format!(
            r#"version: 1
name: plain
input: {{ path: customers.parquet, id: customer_id }}
factors:
  - {{ name: orders, expr: "orders_12m * 1.0", weight: 1.0 }}
tiers:
  levels:
    - {{ name: all }}
output: {{ path: out, {output} }}
{report}
"#
        )
    };
    write(dir, "off.yaml", &pipeline("report: false", ""));
    run(dir, &["run", "off.yaml", "--quiet"]).expect_code(0);
    let out = dir.join("out");
    assert_eq!(
        listing(&out),
        ["_SUCCESS", "_manifest.json", "rejects", "scored"]
    );
    assert_eq!(listing(&out.join("scored")), ["tier=all"]);
    assert_eq!(manifest(&out)["report"]["file"], Value::Null);

    write(
        dir,
        "bad.yaml",
        &pipeline("columns: [region]", "report: { value: revenue }"),
    );
    let result = run(dir, &["run", "bad.yaml", "--quiet"]);
    result.expect_code(1);
    assert!(
        result
            .stderr
            .contains("report.value `revenue` is not a factor"),
        "{}",
        result.stderr
    );
    write(
        dir,
        "text.yaml",
        &pipeline("columns: [region]", "report: { value: region }"),
    );
    let result = run(dir, &["run", "text.yaml", "--quiet"]);
    result.expect_code(1);
    assert!(
        result
            .stderr
            .contains("report.value `region` is Utf8, not a number"),
        "{}",
        result.stderr
    );
}

#[test]
fn diff_html_holds_the_same_data_as_the_json_and_names_no_other_host() {
    let tmp = tempfile::tempdir().unwrap();
    let (before, after) = (tmp.path().join("before"), tmp.path().join("after"));
    for (out, set) in [
        (&before, "top_revenue=200000"),
        (&after, "top_revenue=250000"),
    ] {
        run(
            &repo(),
            &[
                "run",
                "pipelines/customer_value.yaml",
                "--set",
                set,
                "--output",
                out.to_str().unwrap(),
                "--quiet",
            ],
        )
        .expect_code(0);
    }
    let diff = |format: &str| {
        let result = run(tmp.path(), &["diff", "before", "after", "--format", format]);
        result.expect_code(0);
        result.stdout
    };
    let json: Value = serde_json::from_str(&diff("json")).unwrap();
    let html = diff("html");
    let start = html
        .find(r#"<script type="application/json" id="tierscore-diff">"#)
        .expect("the page embeds the comparison");
    let rest = &html[start..];
    let body = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    let embedded: Value = serde_json::from_str(body).unwrap();
    assert_eq!(embedded, json);
    assert!(
        json["top_movers"].as_array().unwrap().len() > 3,
        "the change moves customers"
    );
    for section in ["summary", "changes", "migration", "shift", "movers"] {
        assert!(
            html.contains(&format!("<section id=\"{section}\">")),
            "{section}"
        );
    }
    assert!(html.contains(
        "<tr><td>param</td><td><code>top_revenue</code></td><td>200000</td><td>250000</td></tr>"
    ));
    // Every mover's id is in the movers table.
    for mover in json["top_movers"].as_array().unwrap() {
        assert!(html.contains(&format!("<td>{}</td>", mover["id"].as_str().unwrap())));
    }
    let vega = include_str!("../src/report/vendor/vega-6.4.0.min.js");
    let vega_lite = include_str!("../src/report/vendor/vega-lite-6.4.3.min.js");
    let own = html.replace(vega, "").replace(vega_lite, "");
    assert_eq!(urls(&own), Vec::<String>::new());
}

/// The shipped example on 70,000 generated customers (three read batches of 32,768 rows, row
/// groups of 5,000) into `dir/NAME`, with `threads` threads.
fn several_batches(dir: &Path, name: &str, threads: &str) -> PathBuf {
    if !dir.join("many.parquet").exists() {
        gen(dir, "many.parquet", 70_000, 11, 5_000);
    }
    let out = dir.join(name);
    run(
        &repo(),
        &[
            "run",
            "pipelines/customer_value.yaml",
            "--input",
            dir.join("many.parquet").to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--threads",
            threads,
            "--quiet",
        ],
    )
    .expect_code(0);
    out
}

#[test]
fn figures_are_the_same_on_any_thread_count_and_when_counted_from_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let one = several_batches(tmp.path(), "one", "1");
    let four = several_batches(tmp.path(), "four", "4");
    // The page shows the run's times and thread count; the figures it embeds are the same.
    let (page_one, page_four) = (page(&one), page(&four));
    assert!(figures(&page_one)["customers"].as_u64().unwrap() > 65_000);
    assert_eq!(figures(&page_one), figures(&page_four));
    let embedded = |page: &str| {
        let start = page
            .find(r#"<script type="application/json" id="tierscore-figures">"#)
            .unwrap();
        page[start..start + page[start..].find("</script>").unwrap()].to_string()
    };
    assert_eq!(embedded(&page_one), embedded(&page_four));
    // Counted again from the committed files (row groups of other sizes than the run's
    // batches, read in parallel): the same page, byte for byte.
    fs::remove_file(four.join("_report.html")).unwrap();
    run(tmp.path(), &["report", "four"]).expect_code(0);
    assert!(page(&four) == page_four, "the re-rendered page differs");
    assert_eq!(
        manifest_exact(&one)["score_quantiles"],
        manifest_exact(&four)["score_quantiles"]
    );
}

#[test]
fn manifest_score_quantiles_equal_the_output_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = shipped_example(tmp.path());
    let rows = rows_by_tier_folder(&out.join("scored"), "margin", &[]);
    let mut scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
    scores.sort_by(f64::total_cmp);
    let n = scores.len();
    assert_eq!(n, 2000);
    let m = manifest_exact(&out);
    let q = &m["score_quantiles"];
    for percent in [1usize, 5, 10, 25, 50, 75, 90, 95, 99] {
        // Nearest rank: the score at 1-based rank ceil(percent × n / 100).
        let rank = (percent * n).div_ceil(100);
        assert_exact(
            &q[format!("p{percent:02}")],
            scores[rank - 1],
            &format!("p{percent:02}"),
        );
    }
    assert_exact(&q["min"], scores[0], "min");
    assert_exact(&q["max"], scores[n - 1], "max");
    assert_exact(&q["mean"], fsum(scores.iter().copied()) / n as f64, "mean");
    assert_eq!(q["min"], m["score"]["min"]);
    assert_eq!(q["max"], m["score"]["max"]);
    assert_eq!(q.as_object().unwrap().len(), 12);
}

/// `report` reads only what an output's manifest rightly lists: a file outside the output
/// (`../other/…`), a file listed twice, or a file's rows or all files' rows differing from the
/// manifest's counts are refused (each was read and counted, a review's find), and so is a
/// manifest listing more than 256 tiers (its figures are held a tier); nothing is written.
#[test]
fn report_refuses_a_manifest_edited_to_list_other_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = shipped_example(tmp.path());
    let manifest_path = out.join("_manifest.json");
    let original = fs::read_to_string(&manifest_path).unwrap();
    let first = "scored/tier=strategic/part-00000.parquet";
    let parsed: Value = serde_json::from_str(&original).unwrap();
    assert_eq!(parsed["output"]["files"][0]["path"], first);
    let rows = parsed["output"]["files"][0]["rows"].as_u64().unwrap();
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: [(&str, Edit, String); 6] = [
        (
            "twice, spelt apart",
            Box::new(|m: &mut Value| {
                let mut file = m["output"]["files"][0].clone();
                file["path"] = "scored/tier=strategic/./part-00000.parquet".into();
                m["output"]["files"][1] = file;
            }),
            format!(
                "cannot read {}: its manifest lists it twice",
                Path::new("cv/scored/tier=strategic/./part-00000.parquet").display()
            ),
        ),
        (
            "300 tiers",
            Box::new(|m: &mut Value| {
                let tier = m["tiers"][0].clone();
                m["tiers"] = Value::Array(vec![tier; 300]);
            }),
            "cv is not a tierscore output: _manifest.json lists 300 tiers, more than the 256 a \
             pipeline may have"
                .to_string(),
        ),
        (
            "outside",
            Box::new(|m: &mut Value| {
                m["output"]["files"][0]["path"] =
                    "../cv/scored/tier=strategic/part-00000.parquet".into()
            }),
            format!(
                "cannot read {}: its manifest lists it, outside the output",
                Path::new("cv/../cv/scored/tier=strategic/part-00000.parquet").display()
            ),
        ),
        (
            "twice",
            Box::new(|m: &mut Value| {
                let file = m["output"]["files"][0].clone();
                m["output"]["files"][1] = file;
            }),
            format!(
                "cannot read {}: its manifest lists it twice",
                Path::new("cv").join(first).display()
            ),
        ),
        (
            "file rows",
            Box::new(move |m: &mut Value| m["output"]["files"][0]["rows"] = (rows + 1).into()),
            format!(
                "cannot read {}: it holds {rows} rows, and its manifest says {}",
                Path::new("cv").join(first).display(),
                rows + 1
            ),
        ),
        (
            "scored rows",
            Box::new(|m: &mut Value| m["rows"]["scored"] = 1999.into()),
            format!(
                "cannot read {}: its files hold 2000 rows, and it counts 1999 scored",
                Path::new("cv/_manifest.json").display()
            ),
        ),
    ];
    for (what, edit, headline) in edits {
        let mut manifest: Value = serde_json::from_str(&original).unwrap();
        edit(&mut manifest);
        fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
        fs::remove_file(out.join("_report.html")).ok();
        let result = run(tmp.path(), &["report", "cv"]);
        result.expect_code(3);
        assert_eq!(result.headline(), headline, "{what}");
        assert!(!out.join("_report.html").exists(), "{what}");
    }
}

/// A `report` that cannot write its page leaves nothing behind, and a page a killed `report`
/// left (`._report.html.PID.partial`) is removed by the next run into that output. Before, either
/// stayed in the output, and every later run refused it as somebody else's data
/// (`sink::not_ours`, "do not retry") until removed by hand.
#[test]
fn a_failed_or_killed_report_leaves_no_file_that_stops_the_next_run() {
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let out = shipped_example(tmp.path());
    let before = listing(&out);

    // Files limited to 100 KB: the page (about 800 KB) cannot be written.
    let mut report = std::process::Command::new(assert_cmd::cargo::cargo_bin!("tierscore"));
    report.current_dir(tmp.path()).args(["report", "cv"]);
    // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
    unsafe {
        report.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 100 << 10,
                rlim_max: 100 << 10,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let failed = report.output().unwrap();
    assert_eq!(failed.status.code(), Some(3));
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert_eq!(
        headline(&stderr),
        "cannot write cv/_report.html: File too large (os error 27)"
    );
    assert_eq!(listing(&out), before, "nothing left behind");

    // A killed report's page: the next run replaces the output and removes it.
    fs::write(out.join("._report.html.4242.partial"), "<html>half a page").unwrap();
    fs::write(
        out.join("._report.html.x.partial"),
        "not a page report writes",
    )
    .unwrap();
    let again = [
        "--quiet",
        "run",
        "pipelines/customer_value.yaml",
        "--output",
        out.to_str().unwrap(),
    ];
    let refused = run(&repo(), &again);
    refused.expect_code(3);
    assert!(
        refused
            .headline()
            .contains("it holds ._report.html.x.partial, which its _manifest.json does not list"),
        "{}",
        refused.stderr
    );
    fs::remove_file(out.join("._report.html.x.partial")).unwrap();
    run(&repo(), &again).expect_code(0);
    assert_eq!(
        listing(&out),
        before,
        "the partial page removed with the previous output"
    );
}

/// The elements of `page` (its own HTML: the vendored scripts left out) whose opening tag
/// starts `<script`, and the JSON each `application/json` one holds.
fn scripts(page: &str) -> (usize, Vec<Value>) {
    let vega = include_str!("../src/report/vendor/vega-6.4.0.min.js");
    let vega_lite = include_str!("../src/report/vendor/vega-lite-6.4.3.min.js");
    let own = page.replace(vega, "").replace(vega_lite, "");
    assert_eq!(
        own.matches("<script").count(),
        own.matches("</script>").count()
    );
    let mut embedded = Vec::new();
    for (start, _) in own.match_indices(r#"<script type="application/json""#) {
        let rest = &own[start..];
        let body = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
        // An HTML parser ends the element at `</script`, and after `<!--` a `<script` inside
        // it makes it swallow the scripts after it; `>` and `&` are escaped too.
        assert!(!body.contains(['<', '>', '&']), "{body}");
        embedded.push(serde_json::from_str(body).unwrap());
    }
    (own.matches("<script").count(), embedded)
}

/// Ids and reasons reach the JSON the report and the diff page embed in `<script>` elements.
/// Only `</` was escaped there: a reason `<!--<script>` made an HTML parser take the rest of the
/// page into the first element, and no chart was drawn.
#[test]
fn ids_and_reasons_like_html_do_not_change_the_pages_script_elements() {
    use arrow::array::{Float64Array, RecordBatch, StringArray};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hostile = [
        "<!--<script>",
        "</script><script>alert(1)</script>",
        "a&b>c\u{2028}d",
        "plain",
    ];
    let batch = RecordBatch::try_from_iter([
        ("id", arc(StringArray::from(hostile.to_vec()))),
        ("name", arc(StringArray::from(hostile.to_vec()))),
        ("x", arc(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0]))),
    ])
    .unwrap();
    write_parquet(&dir.join("in.parquet"), &batch);
    for (name, factor) in [("before", "x"), ("after", "x + 1.0")] {
        write(
            dir,
            &format!("{name}.yaml"),
            &format!(
                r##"version: 1
name: {name}
input: {{ path: in.parquet, id: id }}
factors:
  - {{ name: f, expr: "#{{ value: {factor}, reason: name }}", weight: 1 }}
tiers:
  levels:
    - {{ name: hi, min: 3 }}
    - {{ name: lo }}
output: {{ path: {name}, columns: [name], reasons: true }}
"##
            ),
        );
        run(dir, &["--quiet", "run", &format!("{name}.yaml")]).expect_code(0);
    }

    // The figures, the charts and the three scripts that draw them.
    let report = page(&dir.join("before"));
    let (count, embedded) = scripts(&report);
    assert_eq!((count, embedded.len()), (5, 2));
    assert_eq!(embedded[0], figures(&report));
    let mut reasons: Vec<&str> = embedded[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|tier| tier["top"].as_array().unwrap())
        .map(|top| top["reason"].as_str().unwrap())
        .collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        [
            "f: <!--<script>",
            "f: </script><script>alert(N)</script>",
            "f: a&b>c\u{2028}d",
            "f: plain",
        ]
    );

    // The comparison, the charts and the three scripts; every customer moved.
    let result = run(dir, &["diff", "before", "after", "--format", "html"]);
    result.expect_code(0);
    let (count, embedded) = scripts(&result.stdout);
    assert_eq!((count, embedded.len()), (5, 2));
    let mut movers: Vec<&str> = embedded[0]["top_movers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|mover| mover["id"].as_str().unwrap())
        .collect();
    movers.sort_unstable();
    let mut expected = hostile.to_vec();
    expected.sort_unstable();
    assert_eq!(movers, expected);
}

/// `report` and a run into the same output take one lock: a run committing while `report`
/// rendered swapped the output's files from under the page, which then described the previous
/// run. Whichever comes second is refused with exit 4 (retry later), the output untouched.
#[test]
fn report_and_a_run_into_the_same_output_never_interleave() {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let out = shipped_example(tmp.path());
    let before = listing(&out);
    let paused = |args: &[&str], point: &str| {
        let mut child = KillOnDrop(
            Command::new(assert_cmd::cargo::cargo_bin!("tierscore"))
                .args(args)
                .current_dir(repo())
                .env("TIERSCORE_TEST_PAUSE", point)
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        wait_for_pause(&mut child, point);
        child
    };
    let cv = out.to_str().unwrap();
    let run_args = [
        "--quiet",
        "run",
        "pipelines/customer_value.yaml",
        "--output",
        cv,
    ];
    let refused = |result: Outcome| {
        result.expect_code(4);
        assert_eq!(
            result.headline(),
            format!("another tierscore command is writing {cv}")
        );
    };

    let running = paused(&run_args, "locked");
    refused(run(&repo(), &["report", cv]));
    // From inside the output, the same lock (the message names the folder's real path).
    refused(run(&out, &["report", "."]));
    kill(running);
    assert_eq!(
        listing(&out),
        before,
        "the report was refused before writing"
    );

    let reporting = paused(&["report", cv], "report locked");
    refused(run(&repo(), &run_args));
    kill(reporting);
    assert_eq!(listing(&out), before, "the run was refused before staging");

    run(&repo(), &["--quiet", "report", cv]).expect_code(0);
    run(&repo(), &run_args).expect_code(0);
}
