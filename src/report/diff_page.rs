//! `tierscore diff --format html`: the comparison of two outputs as one self-contained page —
//! what changed between the runs (params, weights, rules by hash, tiers), the tier migration
//! matrix as a heat map with counts, the score shift per old tier and the top movers. The same data as `--format json`, which the page embeds too
//! (`<script type="application/json" id="tierscore-diff">`).

use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::{json, Value};

use super::page::{chart_scripts, num, script_json, STYLE};
use crate::diff::changes::Change;
use crate::diff::Comparison;
use crate::human::{count, signed};

/// Section ids, in page order.
pub const SECTIONS: [&str; 5] = ["summary", "changes", "migration", "shift", "movers"];

/// The page for a comparison.
pub fn render(c: &Comparison) -> String {
    let charts = vec![
        json!({ "id": "migration", "spec": migration_chart(c) }),
        json!({ "id": "shift", "spec": shift_chart(c) }),
    ];
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "tierscore diff — " (c.old.path) " → " (c.new.path) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "What changed: " (c.old.path) " → " (c.new.path) }
                    p.lead { "Customers matched by " code { (c.id_column) } "." }
                }
                (summary(c))
                (changes(c))
                (migration(c))
                (shift(c))
                (movers(c))
                script type="application/json" id="tierscore-diff" { (PreEscaped(script_json(c))) }
                (chart_scripts(&charts))
            }
        }
    };
    page.into_string()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn summary(c: &Comparison) -> Markup {
    html! {
        section id="summary" {
            h2 { "Summary" }
            div.cards {
                div.card { b { (count(c.score_shift_all.count)) } span { "customers in both" } }
                div.card { b { (num(c.score_shift_all.mean_shift)) } span { "mean score shift" } }
                div.card { b { (count(c.only_in_old.count)) } span { "only in old" } }
                div.card { b { (count(c.only_in_new.count)) } span { "only in new" } }
            }
            table {
                tr { th {} th { "path" } th { "run id" } th.n { "customers" } }
                tr { td { "old" } td { code { (c.old.path) } } td { code { (c.old.run_id) } } td.n { (count(c.old.rows)) } }
                tr { td { "new" } td { code { (c.new.path) } } td { code { (c.new.run_id) } } td.n { (count(c.new.rows)) } }
            }
            p {
                "Factors compared: " (list(&c.factors)) ". Added: " (list(&c.factors_added))
                ". Removed: " (list(&c.factors_removed)) "."
            }
            @for (label, side) in [("only in old", &c.only_in_old), ("only in new", &c.only_in_new)] {
                @if side.count > 0 {
                    p { (count(side.count)) " customers " (label) "; first ids: "
                        (side.ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
                }
            }
        }
    }
}

/// What changed between the two runs, from their manifests, as the text report lists it.
fn changes(c: &Comparison) -> Markup {
    html! {
        section id="changes" {
            h2 { "What changed between the runs" }
            @if c.changes.is_empty() {
                p { "Nothing: params, weights, rules and tiers are as before." }
            } @else {
                table {
                    tr { th { "what" } th { "name" } th { "old" } th { "new" } }
                    @for change in &c.changes {
                        tr {
                            td { (change.kind) } td { code { (change.name) } }
                            td { (Change::for_people(&change.old)) } td { (Change::for_people(&change.new)) }
                        }
                    }
                }
            }
        }
    }
}

fn migration(c: &Comparison) -> Markup {
    html! {
        section id="migration" {
            h2 { "Tier migration" }
            p.muted { "Customers in both outputs by old tier (rows) and new tier (columns); the diagonal stayed." }
            div.chart data-chart="migration" {}
            table {
                tr { th { "old \\ new" } @for t in &c.tiers { th.n { (t) } } th.n { "total" } }
                @for (from, row) in c.tiers.iter().zip(&c.matrix_rows) {
                    tr {
                        th { (from) }
                        @for n in row { td.n { (count(*n)) } }
                        th.n { (count(row.iter().sum())) }
                    }
                }
            }
        }
    }
}

fn shift(c: &Comparison) -> Markup {
    html! {
        section id="shift" {
            h2 { "Score shift by old tier" }
            div.chart data-chart="shift" {}
            table {
                tr { th { "old tier" } th.n { "customers" } th.n { "mean old" } th.n { "mean new" } th.n { "mean shift" } }
                @for s in c.score_shift.iter().chain([&c.score_shift_all]) {
                    tr {
                        td { (s.tier.as_deref().unwrap_or("all")) } td.n { (count(s.count)) }
                        td.n { (num(s.mean_old)) } td.n { (num(s.mean_new)) } td.n { (s.mean_shift.map_or_else(|| "–".into(), signed)) }
                    }
                }
            }
        }
    }
}

fn movers(c: &Comparison) -> Markup {
    html! {
        section id="movers" {
            h2 { "Top movers" }
            p.muted { "The customers whose score changed most, with the change of every factor." }
            table {
                tr {
                    th { (c.id_column) } th.n { "old score" } th.n { "new score" } th.n { "change" }
                    th { "old tier" } th { "new tier" }
                    @for f in &c.factors { th.n { "Δ " (f) } }
                }
                @for m in &c.top_movers {
                    tr {
                        td { (m.id) } td.n { (num(Some(m.old_score))) } td.n { (num(Some(m.new_score))) }
                        td.n { (signed(m.change)) } td { (m.old_tier) } td { (m.new_tier) }
                        @for change in m.factor_changes.values() { td.n { (change.map_or_else(|| "–".into(), signed)) } }
                    }
                }
            }
        }
    }
}

fn base(height: u32, title: &str) -> Value {
    json!({
        "width": "container",
        "height": height,
        "title": title,
        "config": { "font": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "view": { "stroke": null } }
    })
}

fn with(mut spec: Value, more: Value) -> Value {
    if let (Some(spec), Value::Object(more)) = (spec.as_object_mut(), more) {
        spec.extend(more);
    }
    spec
}

/// The migration matrix as a heat map with the count in each cell.
fn migration_chart(c: &Comparison) -> Value {
    let mut cells = Vec::new();
    for (from, row) in c.tiers.iter().zip(&c.matrix_rows) {
        let total: u64 = row.iter().sum();
        for (to, &count) in c.tiers.iter().zip(row) {
            let share = if total > 0 {
                count as f64 / total as f64
            } else {
                0.0
            };
            cells.push(json!({ "from": from, "to": to, "count": count, "share": share }));
        }
    }
    let axis = |field: &str, title: &str| json!({ "field": field, "type": "nominal", "sort": c.tiers, "title": title, "axis": { "labelAngle": 0 } });
    let tooltip = json!([
        { "field": "from", "type": "nominal", "title": "old tier" },
        { "field": "to", "type": "nominal", "title": "new tier" },
        { "field": "count", "type": "quantitative", "format": ",d", "title": "customers" },
        { "field": "share", "type": "quantitative", "format": ".1%", "title": "share of the old tier" }
    ]);
    with(
        base(
            40 + 36 * c.tiers.len() as u32,
            "Customers by old tier and new tier",
        ),
        json!({
            "data": { "values": cells },
            "encoding": { "x": axis("to", "new tier"), "y": axis("from", "old tier") },
            "layer": [
                { "mark": { "type": "rect", "tooltip": true },
                  "encoding": {
                      "color": { "field": "share", "type": "quantitative", "scale": { "scheme": "blues" },
                                 "title": "share of the old tier", "legend": { "format": ".0%" } },
                      "tooltip": tooltip } },
                { "mark": { "type": "text", "fontSize": 12 },
                  "encoding": {
                      "text": { "field": "count", "type": "quantitative", "format": ",d" },
                      "color": { "condition": { "test": "datum.share > 0.5", "value": "white" }, "value": "black" } } }
            ]
        }),
    )
}

/// Mean score shift per old tier.
fn shift_chart(c: &Comparison) -> Value {
    let rows: Vec<Value> = c
        .score_shift
        .iter()
        .filter(|s| s.count > 0)
        .map(|s| json!({ "tier": s.tier, "shift": s.mean_shift, "old": s.mean_old, "new": s.mean_new, "count": s.count }))
        .collect();
    with(
        base(
            40 + 28 * c.tiers.len() as u32,
            "Mean score shift (new − old) by old tier",
        ),
        json!({
            "data": { "values": rows },
            "mark": { "type": "bar", "tooltip": true },
            "encoding": {
                "y": { "field": "tier", "type": "nominal", "sort": c.tiers, "title": "old tier" },
                "x": { "field": "shift", "type": "quantitative", "title": "mean score shift (points)" },
                "color": { "condition": { "test": "datum.shift < 0", "value": "#d62728" }, "value": "#4c78a8" },
                "tooltip": [
                    { "field": "tier", "type": "nominal", "title": "old tier" },
                    { "field": "count", "type": "quantitative", "format": ",d", "title": "customers" },
                    { "field": "old", "type": "quantitative", "format": ",.2f", "title": "mean old score" },
                    { "field": "new", "type": "quantitative", "format": ",.2f", "title": "mean new score" },
                    { "field": "shift", "type": "quantitative", "format": ",.2f", "title": "mean shift (points)" }
                ]
            }
        }),
    )
}
