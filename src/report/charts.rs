//! The report's charts as Vega-Lite specifications (JSON), each with its data inline: axis
//! titles with units, and every mark's values in a tooltip.

use serde_json::{json, Value};

use super::figures::{Figures, Histogram};
use crate::manifest::Manifest;

/// One chart: the id of the element it is drawn into, and its Vega-Lite specification.
#[derive(Debug, Clone)]
pub struct Chart {
    pub id: String,
    pub spec: Value,
}

/// Every chart of the report, in page order.
pub fn all(manifest: &Manifest, figures: &Figures) -> Vec<Chart> {
    let mut charts = vec![
        Chart {
            id: "tiers".into(),
            spec: tiers(figures),
        },
        Chart {
            id: "whale".into(),
            spec: whale(figures),
        },
        Chart {
            id: "scores".into(),
            spec: scores(manifest, figures),
        },
        Chart {
            id: "contributions".into(),
            spec: contributions(figures),
        },
    ];
    for factor in &figures.factors {
        charts.push(Chart {
            id: format!("factor-{}", factor.name),
            spec: histogram(
                &factor.histogram,
                &format!("{} (points)", factor.name),
                &format!("{} — weight {}", factor.name, weight(factor.weight)),
                180,
            ),
        });
    }
    charts
}

fn weight(weight: Option<f64>) -> String {
    weight.map_or_else(|| "none".into(), |w| format!("{w}"))
}

fn tier_names(figures: &Figures) -> Vec<&str> {
    figures.tiers.iter().map(|t| t.name.as_str()).collect()
}

/// A base specification: the container's width, SVG-friendly defaults.
fn base(height: u32, title: &str) -> Value {
    json!({
        "width": "container",
        "height": height,
        "title": title,
        "config": {
            "font": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
            "axis": { "labelFontSize": 11, "titleFontSize": 12 },
            "view": { "stroke": null }
        }
    })
}

fn merged(mut spec: Value, more: Value) -> Value {
    if let (Some(spec), Value::Object(more)) = (spec.as_object_mut(), more) {
        spec.extend(more);
    }
    spec
}

/// Per tier: share of customers, of the total score and (when named) of the value column.
fn tiers(figures: &Figures) -> Value {
    let mut rows = Vec::new();
    let value_too = figures.value != "score";
    for tier in &figures.tiers {
        rows.push(json!({ "tier": tier.name, "measure": "customers", "share": tier.customer_share, "amount": tier.count }));
        rows.push(json!({ "tier": tier.name, "measure": "score", "share": tier.score_share, "amount": tier.score_sum }));
        if value_too {
            rows.push(json!({ "tier": tier.name, "measure": figures.value, "share": tier.value_share, "amount": tier.value_sum }));
        }
    }
    merged(
        base(
            60 + 28 * figures.tiers.len() as u32,
            "Share of customers, score and value by tier",
        ),
        json!({
            "data": { "values": rows },
            "mark": { "type": "bar", "tooltip": true },
            "encoding": {
                "y": { "field": "tier", "type": "nominal", "sort": tier_names(figures), "title": "tier" },
                "yOffset": { "field": "measure", "type": "nominal" },
                "x": { "field": "share", "type": "quantitative", "axis": { "format": ".0%" },
                       "title": "share of the total (%)" },
                "color": { "field": "measure", "type": "nominal", "title": "share of" },
                "tooltip": [
                    { "field": "tier", "type": "nominal" },
                    { "field": "measure", "type": "nominal", "title": "share of" },
                    { "field": "share", "type": "quantitative", "format": ".1%" },
                    { "field": "amount", "type": "quantitative", "format": ",.2f", "title": "count or sum" }
                ]
            }
        }),
    )
}

/// The whale curve with its peak, the total and the Pareto point.
fn whale(figures: &Figures) -> Value {
    let w = &figures.whale;
    let value = &figures.value;
    let points: Vec<Value> = w
        .points
        .iter()
        .map(|p| json!({ "customer_share": p.customer_share, "customers": p.customers, "cumulative": p.cumulative }))
        .collect();
    let mut marks = vec![json!({
        "customer_share": w.peak.customer_share, "customers": w.peak.customers,
        "cumulative": w.peak.cumulative, "label": "peak"
    })];
    if let Some(p) = &w.pareto {
        marks.push(json!({
            "customer_share": p.customer_share, "customers": p.customers,
            "cumulative": p.cumulative, "label": "80% of the total"
        }));
    }
    let x = json!({ "field": "customer_share", "type": "quantitative", "axis": { "format": ".0%" },
                    "title": format!("customers ranked by {value}, highest first (share of customers, %)") });
    let y = json!({ "field": "cumulative", "type": "quantitative", "axis": { "format": ",.0f" },
                    "title": format!("cumulative {value}") });
    let tooltip = json!([
        { "field": "customer_share", "type": "quantitative", "format": ".1%", "title": "share of customers" },
        { "field": "customers", "type": "quantitative", "format": ",d", "title": "customers" },
        { "field": "cumulative", "type": "quantitative", "format": ",.2f", "title": format!("cumulative {value}") }
    ]);
    merged(
        base(
            320,
            &format!("Whale curve: cumulative {value} by customers ranked by {value}"),
        ),
        json!({
            "layer": [
                {
                    "data": { "values": points },
                    "mark": { "type": "line", "point": false, "tooltip": true },
                    "encoding": { "x": x, "y": y, "tooltip": tooltip }
                },
                {
                    "data": { "values": [{ "total": w.total, "label": format!("total {value}") }] },
                    "mark": { "type": "rule", "strokeDash": [4, 4], "color": "#888" },
                    "encoding": { "y": { "field": "total", "type": "quantitative" },
                                  "tooltip": [{ "field": "total", "type": "quantitative", "format": ",.2f", "title": format!("total {value}") }] }
                },
                {
                    "data": { "values": marks },
                    "layer": [
                        { "mark": { "type": "point", "filled": true, "size": 70, "color": "#d62728", "tooltip": true },
                          "encoding": { "x": x, "y": y, "tooltip": tooltip } },
                        { "mark": { "type": "text", "align": "left", "dx": 7, "dy": -7 },
                          "encoding": { "x": x, "y": y, "text": { "field": "label" } } }
                    ]
                }
            ]
        }),
    )
}

/// Histogram bars of `histogram` as data rows.
fn bars(histogram: &Histogram) -> Vec<Value> {
    histogram
        .counts
        .iter()
        .enumerate()
        .map(|(i, count)| {
            let from = histogram.min + histogram.width * i as f64;
            json!({ "from": from, "to": from + histogram.width, "count": count })
        })
        .collect()
}

fn histogram_layer(histogram: &Histogram, axis: &str) -> Value {
    json!({
        "data": { "values": bars(histogram) },
        "mark": { "type": "bar", "tooltip": true, "color": "#4c78a8" },
        "encoding": {
            "x": { "field": "from", "type": "quantitative", "bin": { "binned": true },
                   "title": axis, "scale": { "zero": false } },
            "x2": { "field": "to" },
            "y": { "field": "count", "type": "quantitative", "title": "customers" },
            "tooltip": [
                { "field": "from", "type": "quantitative", "format": ",.2f", "title": "from" },
                { "field": "to", "type": "quantitative", "format": ",.2f", "title": "to" },
                { "field": "count", "type": "quantitative", "format": ",d", "title": "customers" }
            ]
        }
    })
}

fn histogram(histogram: &Histogram, axis: &str, title: &str, height: u32) -> Value {
    merged(base(height, title), histogram_layer(histogram, axis))
}

/// The score histogram with each tier's threshold (`min`), or the lowest score of each rank
/// tier, drawn on it.
fn scores(manifest: &Manifest, figures: &Figures) -> Value {
    let by_rank = manifest.tiers.iter().any(|t| t.top.is_some());
    let mut cuts = Vec::new();
    for (i, tier) in manifest.tiers.iter().enumerate() {
        if let Some(min) = tier.min {
            cuts.push(json!({ "at": min, "label": format!("{} ≥ {min}", tier.name) }));
        } else if by_rank && i + 1 < manifest.tiers.len() {
            if let Some(lowest) = manifest
                .tier_cutoffs
                .as_ref()
                .and_then(|c| c.levels.get(i))
                .and_then(|l| l.lowest)
            {
                cuts.push(
                    json!({ "at": lowest, "label": format!("{} from {}", tier.name, crate::human::number(lowest)) }),
                );
            }
        }
    }
    let mut layers = vec![histogram_layer(&figures.score_histogram, "score (points)")];
    if !cuts.is_empty() {
        layers.push(json!({
            "data": { "values": cuts },
            "layer": [
                { "mark": { "type": "rule", "color": "#d62728", "strokeWidth": 2, "tooltip": true },
                  "encoding": { "x": { "field": "at", "type": "quantitative" },
                                "tooltip": [{ "field": "label", "type": "nominal", "title": "tier threshold" }] } },
                { "mark": { "type": "text", "angle": 270, "align": "left", "baseline": "bottom", "dx": 4, "dy": -3, "color": "#d62728" },
                  "encoding": { "x": { "field": "at", "type": "quantitative" }, "y": { "value": 0 },
                                "text": { "field": "label" } } }
            ]
        }));
    }
    merged(
        base(280, "Score distribution with the tier thresholds"),
        json!({ "layer": layers }),
    )
}

/// Mean weighted contribution of each factor to the score, per tier (stacked).
fn contributions(figures: &Figures) -> Value {
    let rows: Vec<Value> = figures
        .factors
        .iter()
        .flat_map(|f| {
            f.per_tier.iter().filter_map(move |t| {
                t.contribution.map(|c| json!({ "tier": t.tier, "factor": f.name, "contribution": c, "mean": t.mean }))
            })
        })
        .collect();
    merged(
        base(
            60 + 28 * figures.tiers.len() as u32,
            "Mean weighted contribution of each factor, by tier",
        ),
        json!({
            "data": { "values": rows },
            "mark": { "type": "bar", "tooltip": true },
            "encoding": {
                "y": { "field": "tier", "type": "nominal", "sort": tier_names(figures), "title": "tier" },
                "x": { "field": "contribution", "type": "quantitative", "stack": "zero",
                       "title": "mean weighted contribution to the score (points)" },
                "color": { "field": "factor", "type": "nominal", "title": "factor" },
                "tooltip": [
                    { "field": "tier", "type": "nominal" },
                    { "field": "factor", "type": "nominal" },
                    { "field": "contribution", "type": "quantitative", "format": ",.2f", "title": "mean contribution (points)" },
                    { "field": "mean", "type": "quantitative", "format": ",.2f", "title": "mean factor value" }
                ]
            }
        }),
    )
}
