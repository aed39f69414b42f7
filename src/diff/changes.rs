//! What changed between the two runs `diff` compares, from their manifests: params, factor
//! weights, rule files by hash (and the pipeline file, which holds inline rules), tier levels.

use serde::Serialize;
use serde_json::{json, Value};

use crate::manifest::Manifest;

/// One thing that differs between the old run and the new one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `param`, `weight`, `rule`, `pipeline` or `tier`.
    pub kind: &'static str,
    /// The param, factor, rule file (path), pipeline file or tier level.
    pub name: String,
    /// Its value in the old run (a rule's sha256, a tier's bounds), null when it is new.
    pub old: Value,
    /// Its value in the new run, null when it is gone.
    pub new: Value,
}

impl Change {
    /// A value of this change as people read it: numbers as [`crate::human::number`] writes
    /// them, text as it is, a tier's bounds as `min 40` (the bounds it has), `(none)` for
    /// null.
    pub fn for_people(value: &Value) -> String {
        match value {
            Value::Null => "(none)".to_string(),
            Value::Number(n) => n
                .as_f64()
                .map_or_else(|| n.to_string(), crate::human::number),
            Value::String(text) => text.clone(),
            Value::Object(bounds) => bounds
                .iter()
                .filter(|(_, bound)| !bound.is_null())
                .map(|(name, bound)| format!("{name} {}", Self::for_people(bound)))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        }
    }
}

/// Every change from `old` to `new`, grouped by kind in the order above; within a kind, in
/// the new run's order, then what only the old run had.
pub fn between(old: &Manifest, new: &Manifest) -> Vec<Change> {
    let mut changes = Vec::new();
    let params = |m: &Manifest| -> Vec<(String, Value)> {
        m.params
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    compare("param", &params(old), &params(new), &mut changes);
    let weights = |m: &Manifest| -> Vec<(String, Value)> {
        m.factors
            .iter()
            .map(|f| (f.name.clone(), json!(f.weight)))
            .collect()
    };
    compare("weight", &weights(old), &weights(new), &mut changes);
    let scripts = |m: &Manifest| -> Vec<(String, Value)> {
        m.scripts
            .iter()
            .map(|s| (s.path.clone(), json!(s.sha256)))
            .collect()
    };
    compare("rule", &scripts(old), &scripts(new), &mut changes);
    if old.pipeline.sha256 != new.pipeline.sha256 {
        changes.push(Change {
            kind: "pipeline",
            name: new.pipeline.path.clone(),
            old: json!(old.pipeline.sha256),
            new: json!(new.pipeline.sha256),
        });
    }
    let tiers = |m: &Manifest| -> Vec<(String, Value)> {
        m.tiers
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    json!({"min": t.min, "top": t.top, "upto": t.upto}),
                )
            })
            .collect()
    };
    compare("tier", &tiers(old), &tiers(new), &mut changes);
    changes
}

/// Pushes a change for each name whose value differs, is new or is gone.
fn compare(
    kind: &'static str,
    old: &[(String, Value)],
    new: &[(String, Value)],
    changes: &mut Vec<Change>,
) {
    let find = |list: &[(String, Value)], name: &str| {
        list.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    };
    for (name, value) in new {
        let before = find(old, name);
        if before.as_ref() != Some(value) {
            changes.push(Change {
                kind,
                name: name.clone(),
                old: before.unwrap_or(Value::Null),
                new: value.clone(),
            });
        }
    }
    for (name, value) in old {
        if find(new, name).is_none() {
            changes.push(Change {
                kind,
                name: name.clone(),
                old: value.clone(),
                new: Value::Null,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_new_and_gone_names_are_listed_in_order() {
        let old = vec![
            ("a".to_string(), json!(1)),
            ("b".to_string(), json!(2)),
            ("gone".to_string(), json!(3)),
        ];
        let new = vec![
            ("b".to_string(), json!(5)),
            ("a".to_string(), json!(1)),
            ("added".to_string(), json!(4)),
        ];
        let mut changes = Vec::new();
        compare("param", &old, &new, &mut changes);
        let got: Vec<(&str, Value, Value)> = changes
            .iter()
            .map(|c| (c.name.as_str(), c.old.clone(), c.new.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("b", json!(2), json!(5)),
                ("added", Value::Null, json!(4)),
                ("gone", json!(3), Value::Null),
            ]
        );
    }
}
