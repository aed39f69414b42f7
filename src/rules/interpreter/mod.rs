//! The rhai interpreter: the reference backend, covering all of rhai.
//!
//! - [`engine`]: the sandbox every rule runs in; `imports` loads the modules rules import,
//!   `sizes` bounds what rhai compiles in quadratic time;
//! - [`eval`]: a rule's AST over a batch, row after row, chunks in parallel;
//! - [`convert`]: Arrow values as rhai values; [`library`]: the helpers and dates registered on
//!   the engine;
//! - [`outcome`]: what a script's value means under the rule's [`Returns`](super::Returns).

pub mod convert;
pub mod engine;
pub mod eval;
mod imports;
pub mod library;
mod lint;
pub mod outcome;
mod parse;
mod sizes;
pub mod trace;

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use rhai::{Dynamic, Engine, AST};
use serde_yaml::Value;

use super::{Reasons, Returns, Rule, RuleEngine, RuleInfo, RuleOutput, RuleText};
use crate::pipeline::{Limits, Params, Pipeline, RuleSource};
use parse::{parse, reparse, Parsed, ParsedRule};
use thread_local::ThreadLocal;

/// What every interpreted rule of one pipeline shares: the sandboxed engine and the params.
pub struct Interpreter {
    engine: Engine,
    /// The same engine with the debugger noting where each row goes: coverage runs on it.
    tracing: Engine,
    /// `params` as scripts see them: a constant map.
    params: Dynamic,
    /// The pipeline's limits (the engine enforces the rhai ones; evaluation the row budgets).
    limits: Limits,
}

impl Interpreter {
    /// The engine with the pipeline's limits and params, imports confined to its scripts'
    /// folders (factors', the score's and the tier script's).
    pub fn for_pipeline(pipeline: &Pipeline) -> Self {
        let mut roots: Vec<PathBuf> = Vec::new();
        let scripts = pipeline
            .factors
            .iter()
            .map(|f| &f.rule)
            .chain(match &pipeline.score {
                crate::pipeline::Combine::Script(rule) => Some(rule),
                crate::pipeline::Combine::WeightedSum => None,
            })
            .chain(match &pipeline.tiers.rule {
                crate::pipeline::TierRule::Script(rule) => Some(rule),
                _ => None,
            });
        for rule in scripts {
            if let RuleSource::Script(path) = rule {
                // A script beside a pipeline named without a folder (`p.yaml`) has the empty
                // path as its parent, which names no folder: it is the working directory.
                let dir = match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if !roots.contains(&dir) {
                    roots.push(dir);
                }
            }
        }
        Self::new(&pipeline.limits, roots, &pipeline.params)
    }

    /// The engine with these limits and params, imports confined to `import_roots`.
    pub fn new(limits: &Limits, import_roots: Vec<PathBuf>, params: &Params) -> Self {
        Self {
            engine: engine::build(limits, import_roots.clone()),
            tracing: trace::engine(limits, import_roots),
            params: params_to_dynamic(params),
            limits: *limits,
        }
    }

    /// A factor rule of `code` (as `rules/x.rhai`) that may read `visible`, for tests.
    #[cfg(test)]
    pub fn test_rule(
        code: &str,
        visible: &[&str],
        limits: &Limits,
        params: &Params,
    ) -> InterpretedRule {
        let interpreter = Arc::new(Self::new(limits, vec![], params));
        let text = RuleText::File(crate::diagnostic::SourceFile::new("rules/x.rhai", code));
        let parsed = interpreter.parse("x", text, visible, Returns::Factor);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        interpreter.rule(parsed.rule.expect("the rule parses"))
    }

    /// Parses a rule's text with this engine and params.
    pub(super) fn parse(
        &self,
        name: &str,
        text: RuleText,
        visible: &[&str],
        returns: Returns,
    ) -> Parsed {
        parse(&self.engine, name, text, visible, &self.params, returns)
    }

    /// A parsed rule, run by this interpreter.
    pub(super) fn rule(self: &Arc<Self>, parsed: ParsedRule) -> InterpretedRule {
        InterpretedRule {
            info: parsed.info,
            ast: Arc::new(parsed.ast),
            own_asts: ThreadLocal::new(),
            interpreter: Arc::clone(self),
            because: None,
        }
    }
}

/// A rule run by the rhai interpreter, row after row.
pub struct InterpretedRule {
    info: RuleInfo,
    ast: Arc<AST>,
    /// Each worker thread's own copy of `ast`, parsed again on its first chunk. rhai's strings
    /// are reference-counted: every `let` puts its name's string in the scope and every string
    /// constant is cloned as it is read, so threads running one shared AST kept adding to and
    /// taking from the same counters, and the cores traded their cache lines.
    own_asts: ThreadLocal<AST>,
    interpreter: Arc<Interpreter>,
    /// Why the compiler did not take the rule, when it was offered it.
    because: Option<String>,
}

impl std::fmt::Debug for InterpretedRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterpretedRule")
            .field("name", &self.info.name)
            .finish_non_exhaustive()
    }
}

impl InterpretedRule {
    /// The rule's AST, optimised with the params as constants: what the compiler lowers.
    pub fn ast(&self) -> &AST {
        &self.ast
    }

    /// The AST this thread runs: its own copy of [`InterpretedRule::ast`].
    pub(crate) fn thread_ast(&self) -> &AST {
        self.own_asts.get_or(|| {
            let interpreter = &self.interpreter;
            let own = reparse(&interpreter.engine, &self.info, &interpreter.params);
            // A clone would run correctly but share the strings again: the tests must see it.
            debug_assert!(own.is_some(), "{} no longer parses", self.info.name);
            own.unwrap_or_else(|| (*self.ast).clone())
        })
    }

    /// The rule, run by the interpreter for this reason (the construct the compiler does not
    /// take, and where).
    pub fn because(mut self, reason: String) -> Self {
        self.because = Some(reason);
        self
    }
}

impl Rule for InterpretedRule {
    fn info(&self) -> &RuleInfo {
        &self.info
    }

    fn engine(&self) -> RuleEngine {
        RuleEngine::Interpreted {
            because: self.because.clone(),
        }
    }

    fn evaluate(&self, batch: &RecordBatch, selection: &[u32], reasons: Reasons) -> RuleOutput {
        eval::evaluate(self, batch, selection, reasons)
    }

    fn interpreted(&self) -> &InterpretedRule {
        self
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

    /// Two threads each get a copy of their own, apart from the shared one, strings and all.
    #[test]
    fn each_thread_runs_its_own_copy() {
        let rule = Interpreter::test_rule(
            "let label = \"big\";\nif x > 2.0 { x * 2.0 } else { x }",
            &["x"],
            &Limits::default(),
            &Params::default(),
        );
        let here = rule.thread_ast() as *const AST as usize;
        let there = std::thread::scope(|s| {
            s.spawn(|| rule.thread_ast() as *const AST as usize)
                .join()
                .unwrap()
        });
        assert_ne!(here, there);
        assert_ne!(here, rule.ast() as *const AST as usize);
        // The name the row's `let` puts in the scope is a string of the thread's own.
        let first_let = |ast: &AST| match &ast.statements()[0] {
            rhai::Stmt::Var(var, ..) => var.0.name.clone(),
            other => panic!("{other:?}"),
        };
        let own = first_let(rule.thread_ast());
        assert_eq!(own, "label");
        assert!(!own.ptr_eq(&first_let(rule.ast())));
    }

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
