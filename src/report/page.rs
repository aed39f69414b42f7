//! The report's HTML: sections with tables, charts drawn by Vega-Lite in the browser, and
//! everything inline (styles, scripts, data), so the file opens offline and asks no host for
//! anything.
//!
//! The figures are also embedded as JSON (`<script type="application/json"
//! id="tierscore-figures">`) for tools and tests.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::charts::{self, Chart};
use super::figures::Figures;
use crate::human::{self, count};
use crate::manifest::Manifest;
use crate::rules::coverage::RuleCoverage;

/// Vega (BSD-3-Clause), the runtime that draws the charts; see `vendor/README.md`.
pub(super) const VEGA_JS: &str = include_str!("vendor/vega-6.4.0.min.js");
/// Vega-Lite (BSD-3-Clause), which compiles the charts' specifications for Vega.
pub(super) const VEGA_LITE_JS: &str = include_str!("vendor/vega-lite-6.4.3.min.js");

/// Section ids, in page order (tests and the browser check look for each).
pub const SECTIONS: [&str; 7] = [
    "summary", "tiers", "whale", "scores", "factors", "reasons", "rejects",
];

pub(super) const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1d2430; --muted: #5b6573; --line: #d9dee5; --accent: #2f5d8a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 1.5rem 2rem 3rem; max-width: 72rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
h2 { font-size: 1.2rem; margin: 2.2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 2px solid var(--accent); }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
p.lead { color: var(--muted); margin: 0 0 1rem; }
nav { display: flex; flex-wrap: wrap; gap: .4rem 1rem; margin: .8rem 0; }
nav a { color: var(--accent); text-decoration: none; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; }
th { font-weight: 600; background: #f4f6f9; }
pre { margin: 0; white-space: pre-wrap; }
table.script td { padding: 0 .6rem; border: none; }
tr.dead-line { background: #fdecea; }
span.branch { display: block; white-space: nowrap; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.chart { width: 100%; min-height: 120px; margin: .5rem 0 1rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(20rem, 1fr)); gap: .5rem 1.5rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .6rem; margin: .6rem 0 1rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .7rem; }
.card b { display: block; font-size: 1.3rem; }
.card span { color: var(--muted); font-size: .85rem; }
.muted { color: var(--muted); }
.ok { color: #2e7d32; }
.warn { color: #b3261e; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  nav { display: none; }
  section { break-inside: avoid-page; }
  .chart svg { max-width: 100%; height: auto; }
  h2 { break-after: avoid; }
}
"#;

/// Draws every chart into its element; marks the body when all are drawn (or one failed).
pub(super) const BOOT: &str = r#"
(function () {
  var specs = JSON.parse(document.getElementById("tierscore-charts").textContent);
  var drawn = specs.map(function (chart) {
    var el = document.querySelector('[data-chart="' + chart.id + '"]');
    var vg = vegaLite.compile(chart.spec).spec;
    var view = new vega.View(vega.parse(vg), { renderer: "svg", container: el, hover: true });
    return view.runAsync().then(function () { el.setAttribute("data-rendered", "true"); });
  });
  Promise.all(drawn).then(function () {
    document.body.setAttribute("data-charts-rendered", String(drawn.length));
  }, function (err) {
    document.body.setAttribute("data-charts-failed", String(err));
    console.error("tierscore report: a chart failed to draw", err);
  });
})();
"#;

/// The page's charts as JSON and the scripts that draw them (Vega, Vega-Lite, the boot code):
/// the end of every page's body.
pub(super) fn chart_scripts(charts: &impl serde::Serialize) -> Markup {
    html! {
        script type="application/json" id="tierscore-charts" { (PreEscaped(script_json(charts))) }
        script { (PreEscaped(VEGA_JS)) }
        script { (PreEscaped(VEGA_LITE_JS)) }
        script { (PreEscaped(BOOT)) }
    }
}

/// JSON safe inside a `<script>` element: the one place the report and the diff page embed
/// data. Every `<` is written `\u003c`, so no `</script`, `<!--` or `<script` in a customer id or
/// a reason ends the element early or makes an HTML parser swallow the scripts after it (only
/// `</` was escaped: `<!--<script>` in a reason kept every chart from drawing). `>` and `&` are
/// escaped too, so the text means the same wherever it is pasted into HTML, and U+2028 and
/// U+2029, which end a line in older JavaScript. Each is a JSON string escape (none of these
/// characters can stand outside a JSON string), so `JSON.parse` gives the data unchanged.
pub(super) fn script_json(value: &impl serde::Serialize) -> String {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    let mut safe = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => safe.push_str("\\u003c"),
            '>' => safe.push_str("\\u003e"),
            '&' => safe.push_str("\\u0026"),
            '\u{2028}' => safe.push_str("\\u2028"),
            '\u{2029}' => safe.push_str("\\u2029"),
            c => safe.push(c),
        }
    }
    safe
}

/// A share as [`human::percent`] writes it, `–` when there is none.
pub(super) fn pct(share: Option<f64>) -> String {
    share.map_or_else(|| "–".into(), human::percent)
}

/// A value as [`human::number`] writes it, `–` when there is none.
pub(super) fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), human::number)
}

/// The page for `manifest` and `figures`.
pub fn render(manifest: &Manifest, figures: &Figures) -> String {
    let charts = charts::all(manifest, figures);
    let chart_json: Vec<serde_json::Value> = charts
        .iter()
        .map(|Chart { id, spec }| serde_json::json!({ "id": id, "spec": spec }))
        .collect();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (manifest.pipeline.name) " — tierscore run " (manifest.run_id) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (manifest.pipeline.name) " — run report" }
                    p.lead {
                        "Run " code { (manifest.run_id) } ", finished " (manifest.finished_at)
                        " by tierscore " (manifest.tool_version) "."
                    }
                    nav {
                        @for (id, title) in SECTIONS.iter().zip(TITLES) {
                            a href={ "#" (id) } { (title) }
                        }
                        @if manifest.coverage.is_some() {
                            a href="#coverage" { "Rule coverage" }
                        }
                    }
                }
                (summary(manifest, figures))
                (tiers(manifest, figures))
                (whale(figures))
                (scores())
                (factors(figures))
                (reasons(figures))
                (rejects(manifest, figures))
                @if let Some(rules) = &manifest.coverage {
                    (coverage(rules))
                }
                script type="application/json" id="tierscore-figures" { (PreEscaped(script_json(figures))) }
                (chart_scripts(&chart_json))
            }
        }
    };
    page.into_string()
}

const TITLES: [&str; 7] = [
    "Run summary",
    "Tiers",
    "Whale curve",
    "Scores",
    "Factors",
    "Reasons",
    "Rejects",
];

/// The run's time, from its start to its figures (`finished_at`). The phases' sum would count
/// the whale curve's ranking twice: it runs beside `finish` and is also in `report`. A manifest
/// whose times do not parse falls back to that sum.
fn run_seconds(m: &Manifest) -> f64 {
    match (
        chrono::DateTime::parse_from_rfc3339(&m.started_at),
        chrono::DateTime::parse_from_rfc3339(&m.finished_at),
    ) {
        (Ok(started), Ok(finished)) => (finished - started).num_milliseconds() as f64 / 1000.0,
        _ => {
            let p = &m.phases_seconds;
            p.plan + p.derive + p.rank + p.score_and_write + p.report + p.finish
        }
    }
}

fn summary(m: &Manifest, f: &Figures) -> Markup {
    let seconds = run_seconds(m);
    html! {
        section id="summary" {
            h2 { "Run summary" }
            div.cards {
                div.card { b { (count(m.rows.input)) } span { "input rows" } }
                div.card { b { (count(m.rows.scored)) } span { "scored" } }
                div.card { b.{ @if m.rows.rejected > 0 { "warn" } @else { "ok" } } { (count(m.rows.rejected)) } span { "rejected" } }
                div.card { b { (human::seconds(seconds)) } span { "time" } }
                div.card { b { (num(m.score.mean)) } span { "mean score" } }
                div.card { b { (m.tiers.len()) } span { "tiers" } }
            }
            table {
                tr { th { "pipeline" } td { (m.pipeline.name) " — " code { (m.pipeline.path) } } }
                tr { th { "run id" } td { code { (m.run_id) } } }
                tr { th { "started / finished" } td { (m.started_at) " / " (m.finished_at) } }
                tr { th { "inputs" } td {
                    @for input in &m.inputs { code { (input.path) } " (" (count(input.rows)) " rows) " }
                    @if let Some(limit) = m.limit { "— first " (count(limit)) " rows only" }
                    @if let Some(sample) = &m.sample { "— sample of " (pct(Some(sample.fraction))) ", seed " (sample.seed) }
                } }
                tr { th { "threads" } td { (m.threads) } }
                tr { th { "time per phase (s)" } td {
                    "plan " (human::number(m.phases_seconds.plan))
                    ", derive " (human::number(m.phases_seconds.derive))
                    ", rank " (human::number(m.phases_seconds.rank))
                    ", score and write " (human::number(m.phases_seconds.score_and_write))
                    ", report " (human::number(m.phases_seconds.report))
                    ", finish " (human::number(m.phases_seconds.finish))
                } }
                tr { th { "rules sha256" } td { code { (m.rules_sha256) } } }
                tr { th { "rules" } td {
                    @for rule in &m.rules {
                        code { (rule.name) } " " (rule.engine)
                        @if rule.rows_interpreted > 0 { " (" (count(rule.rows_interpreted)) " rows interpreted)" }
                        "; "
                    }
                } }
                tr { th { "value column" } td { code { (f.value) } } }
                tr { th { "params" } td { code { (serde_json::to_string(&m.params).unwrap_or_default()) } } }
            }
        }
    }
}

fn rule_of(tier: &crate::manifest::TierSummary) -> String {
    if let Some(min) = tier.min {
        format!("score ≥ {min}")
    } else if let Some(top) = tier.top {
        format!("top {}", pct(Some(top)))
    } else if let Some(upto) = tier.upto {
        format!("cumulative share ≤ {}", pct(Some(upto)))
    } else {
        "the rest".into()
    }
}

fn tiers(m: &Manifest, f: &Figures) -> Markup {
    let value_too = f.value != "score";
    html! {
        section id="tiers" {
            h2 { "Tiers" }
            p.muted { "How many customers each tier holds, beside its share of the total score"
                @if value_too { " and of the total " code { (f.value) } } "." }
            table {
                tr {
                    th { "tier" } th { "rule" } th.n { "customers" } th.n { "share of customers" }
                    th.n { "mean score" } th.n { "share of score" }
                    @if value_too { th.n { "sum of " (f.value) } th.n { "share of " (f.value) } }
                }
                @for (tier, summary) in f.tiers.iter().zip(&m.tiers) {
                    tr {
                        td { (tier.name) } td { (rule_of(summary)) }
                        td.n { (count(tier.count)) } td.n { (pct(tier.customer_share)) }
                        td.n { (num(summary.score.mean)) } td.n { (pct(tier.score_share)) }
                        @if value_too { td.n { (num(Some(tier.value_sum))) } td.n { (pct(tier.value_share)) } }
                    }
                }
                tr {
                    th { "all" } th {} th.n { (count(f.customers)) } th.n { (human::percent(1.0)) }
                    th.n { (num(m.score.mean)) } th.n { (human::percent(1.0)) }
                    @if value_too { th.n { (num(Some(f.total_value))) } th.n { (human::percent(1.0)) } }
                }
            }
            div.chart data-chart="tiers" {}
        }
    }
}

fn whale(f: &Figures) -> Markup {
    let w = &f.whale;
    html! {
        section id="whale" {
            h2 { "Whale curve" }
            p.muted {
                "Customers ranked by " code { (f.value) } ", highest first, against the cumulative "
                (f.value) " they hold (Kaplan & Cooper). "
                @if let Some(p) = &w.pareto {
                    "The first " b { (pct(Some(p.customer_share))) } " of customers ("
                    (count(p.customers)) ") hold 80% of the total. "
                }
                "The curve peaks at " b { (num(Some(w.peak.cumulative))) } " with the first "
                (pct(Some(w.peak.customer_share))) " of customers; the rest give back "
                b { (num(Some(w.given_back))) } " of it, ending at the total " (num(Some(w.total))) "."
            }
            div.chart data-chart="whale" {}
        }
    }
}

fn scores() -> Markup {
    html! {
        section id="scores" {
            h2 { "Scores" }
            p.muted { "How the scores spread, with each tier's threshold drawn in red." }
            div.chart data-chart="scores" {}
        }
    }
}

fn factors(f: &Figures) -> Markup {
    html! {
        section id="factors" {
            h2 { "Factors" }
            p.muted { "What each factor brings each tier on average (weight × mean value), and how each factor's values spread." }
            div.chart data-chart="contributions" {}
            table {
                tr {
                    th { "factor" } th.n { "weight" }
                    @for tier in &f.tiers { th.n { (tier.name) } }
                }
                @for factor in &f.factors {
                    tr {
                        td { (factor.name) } td.n { (factor.weight.map_or_else(|| "–".into(), |w| w.to_string())) }
                        @for t in &factor.per_tier { td.n { (num(t.contribution)) } }
                    }
                }
            }
            div.grid {
                @for factor in &f.factors {
                    div.chart data-chart={ "factor-" (factor.name) } {}
                }
            }
        }
    }
}

fn reasons(f: &Figures) -> Markup {
    html! {
        section id="reasons" {
            h2 { "Reasons" }
            p.muted { "The most frequent reasons in each tier (numbers in a reason are written N, so reasons differing only in their figures count together)." }
            div.grid {
                @for tier in &f.reasons {
                    div {
                        h3 { (tier.tier) " " span.muted { "(" (count(tier.rows_with_reasons)) " customers with a reason)" } }
                        @if tier.top.is_empty() {
                            p.muted { "no reasons" }
                        } @else {
                            table {
                                tr { th { "reason" } th.n { "customers" } }
                                @for r in &tier.top { tr { td { (r.reason) } td.n { (count(r.count)) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn rejects(m: &Manifest, f: &Figures) -> Markup {
    let r = &f.rejects;
    html! {
        section id="rejects" {
            h2 { "Rejects" }
            @if r.total == 0 {
                p.ok { "No row was rejected." }
            } @else {
                p { b.warn { (count(r.total)) } " of " (count(m.rows.input)) " input rows were rejected; they are in "
                    code { (m.output.rejects_file) } " with their file and row number." }
                table {
                    tr { th { "step" } th { "message" } th.n { "rows" } th { "first ids" } }
                    @for g in &r.groups {
                        tr { td { (g.step) } td { code { (g.message) } } td.n { (count(g.count)) } td { (g.first_ids.join(", ")) } }
                    }
                }
            }
        }
    }
}

/// `run --coverage`: per rule, its code line by line with the branches on each line and the
/// rows that took them; branches no row took are marked dead.
fn coverage(rules: &[RuleCoverage]) -> Markup {
    let total: usize = rules.iter().map(|r| r.branches.len()).sum();
    let dead = total - rules.iter().map(RuleCoverage::covered).sum::<usize>();
    html! {
        section id="coverage" {
            h2 { "Rule coverage" }
            p {
                "Every branch of every rule with the rows that took it. "
                @if dead == 0 {
                    span.ok { "Every one of the " (total) " branches was taken." }
                } @else {
                    b.warn { (dead) } " of " (total)
                    " branches were taken by no row (dead on this population): a rule that never fires, or a case the data does not have."
                }
            }
            @for rule in rules {
                h3 { (rule.rule) " " span.muted { code { (rule.source) } " · " (count(rule.rows)) " rows · "
                    (rule.covered()) " of " (rule.branches.len()) " branches taken" } }
                table.script {
                    tr { th.n { "line" } th { "branches taken: rows (share of the rule's rows)" } th { "code" } }
                    @for (index, text) in rule.script.iter().enumerate() {
                        @let here: Vec<_> = rule.branches.iter().filter(|b| b.line == index + 1).collect();
                        @let dead = here.iter().any(|b| b.rows == 0);
                        tr class=[dead.then_some("dead-line")] {
                            td.n.muted { (index + 1) }
                            td {
                                @for b in &here {
                                    span.branch {
                                        (b.kind.label())
                                        @if b.implicit { span.muted { " (unwritten)" } }
                                        ": " (count(b.rows)) " (" (pct((rule.rows > 0).then(|| b.rows as f64 / rule.rows as f64))) ")"
                                        @if b.rows == 0 { " " b.warn.dead { "dead" } }
                                    }
                                }
                            }
                            td { pre { (text) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::script_json;

    #[test]
    fn script_json_escapes_every_character_that_could_end_or_change_the_script_element() {
        let data = serde_json::json!([
            "<!--<script>",
            "</script><script>alert(1)</script>",
            "a&b>c\u{2028}d\u{2029}e",
            "\\<\"",
            1.5
        ]);
        let embedded = script_json(&data);
        assert_eq!(
            embedded,
            r#"["\u003c!--\u003cscript\u003e","\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e","a\u0026b\u003ec\u2028d\u2029e","\\\u003c\"",1.5]"#
        );
        // The same data for JSON.parse (and serde).
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&embedded).unwrap(),
            data
        );
    }
}
