//! Stage 2 of the data path: analyst rules, from rhai source to compiled rules that evaluate a
//! `RecordBatch` into values per row.
//!
//! - [`engine`]: the sandbox every rule runs in;
//! - [`compile`]: source to AST, located compile errors; [`analyze`]: the names it uses;
//! - [`eval`]: a rule over a batch, rows in parallel;
//! - [`convert`], [`dates`], [`library`]: Arrow values as rhai values, and the helper functions;
//! - [`outcome`]: what a script's value means (a number, or a value with a reason).

pub mod analyze;
pub mod compile;
pub mod convert;
pub mod dates;
mod engine;
pub mod eval;
pub mod library;
pub mod outcome;

use std::path::PathBuf;

use rhai::{Dynamic, Engine};
use serde_yaml::Value;

use crate::diagnostic::SourceFile;
use crate::pipeline::{Params, Pipeline, RuleSource};
pub use compile::{Compiled, CompiledRule, RuleText};
pub use eval::{RowEvaluator, RowOutcome};

/// What every rule of one pipeline shares: the sandboxed engine and the params.
pub struct RuleContext {
    pub engine: Engine,
    /// `params` as scripts see them: a constant map.
    pub params: Dynamic,
}

impl RuleContext {
    /// The engine with the pipeline's limits, imports confined to its scripts' folders.
    pub fn new(pipeline: &Pipeline) -> Self {
        let mut roots: Vec<PathBuf> = Vec::new();
        let scripts = pipeline
            .factors
            .iter()
            .map(|f| &f.rule)
            .chain(match &pipeline.score {
                crate::pipeline::Combine::Script(rule) => Some(rule),
                crate::pipeline::Combine::WeightedSum => None,
            });
        for rule in scripts {
            if let RuleSource::Script(path) = rule {
                let dir = path.parent().map(PathBuf::from).unwrap_or_default();
                if !roots.contains(&dir) {
                    roots.push(dir);
                }
            }
        }
        Self {
            engine: engine::build(&pipeline.limits, roots),
            params: params_to_dynamic(&pipeline.params),
        }
    }

    /// Reads (if a file) and compiles a rule that may read the `visible` names.
    ///
    /// `key` is the rule's key path in the pipeline file, where a missing script is reported.
    pub fn load(
        &self,
        pipeline: &Pipeline,
        name: &str,
        rule: &RuleSource,
        key: &str,
        visible: &[&str],
    ) -> Compiled {
        let text = match rule {
            RuleSource::Script(path) => match std::fs::read_to_string(path) {
                Ok(code) => RuleText::File(SourceFile::new(path.display().to_string(), code)),
                Err(err) => {
                    let problem = pipeline
                        .problem_at(
                            "rules::unreadable",
                            key,
                            format!("cannot read script {}: {err}", path.display()),
                        )
                        .with_help("script paths are relative to the pipeline file");
                    return Compiled {
                        rule: None,
                        problems: vec![problem],
                    };
                }
            },
            RuleSource::Inline { code, key } => RuleText::Inline {
                code: code.clone(),
                yaml: pipeline.source.clone(),
                key: key.clone(),
                span: pipeline.span_of(key),
            },
        };
        compile::compile(&self.engine, name, text, visible, &self.params)
    }
}

/// Converts YAML params to the rhai map scripts read as `params`.
pub fn params_to_dynamic(params: &Params) -> Dynamic {
    let map: rhai::Map = params
        .iter()
        .map(|(key, value)| (key.into(), yaml_to_dynamic(value)))
        .collect();
    map.into()
}

fn yaml_to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(f64::NAN).into(),
        },
        Value::String(s) => s.clone().into(),
        Value::Sequence(items) => items
            .iter()
            .map(yaml_to_dynamic)
            .collect::<rhai::Array>()
            .into(),
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                (key.into(), yaml_to_dynamic(v))
            })
            .collect::<rhai::Map>()
            .into(),
        Value::Tagged(tagged) => yaml_to_dynamic(&tagged.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_their_types() {
        let params: Params =
            serde_yaml::from_str("{ a: 1, b: 2.5, c: x, d: true, e: [1, 2], f: { g: ~ } }")
                .unwrap();
        let d = params_to_dynamic(&params);
        let map = d.cast::<rhai::Map>();
        assert_eq!(map["a"].as_int(), Ok(1));
        assert_eq!(map["b"].as_float(), Ok(2.5));
        assert_eq!(map["c"].to_string(), "x");
        assert_eq!(map["d"].as_bool(), Ok(true));
        assert_eq!(map["e"].to_string(), "[1, 2]");
        assert!(map["f"].clone().cast::<rhai::Map>()["g"].is_unit());
    }
}
