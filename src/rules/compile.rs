//! Compiling a rule: rhai source to an AST, the names it reads, and located compile errors.

use std::sync::Arc;

use miette::SourceSpan;
use rhai::{Dynamic, Engine, OptimizationLevel, ParseErrorType, Position, Scope, AST};

use super::analyze::{analyze, Usage};

use crate::diagnostic::{FileProblem, SourceFile};
use crate::suggest;

/// Where a rule's text lives, for error messages.
#[derive(Debug, Clone)]
pub enum RuleText {
    /// A `.rhai` file.
    File(SourceFile),
    /// An inline `expr:` in the pipeline file, at `span` of key `key`.
    Inline {
        code: String,
        yaml: SourceFile,
        key: String,
        span: Option<SourceSpan>,
    },
}

impl RuleText {
    /// The rhai source code.
    pub fn code(&self) -> &str {
        match self {
            RuleText::File(file) => file.text(),
            RuleText::Inline { code, .. } => code,
        }
    }

    /// How messages name the rule's code: `rules/economic.rhai` or `pipeline.yaml factors[1].expr`.
    pub fn label(&self) -> String {
        match self {
            RuleText::File(file) => file.name().to_string(),
            RuleText::Inline { yaml, key, .. } => format!("{} {key}", yaml.name()),
        }
    }

    /// `file:line:col` of a position in the rule's code.
    pub fn locate(&self, pos: Position) -> String {
        match (pos.line(), pos.position()) {
            (Some(line), Some(col)) => format!("{}:{line}:{col}", self.label()),
            (Some(line), None) => format!("{}:{line}", self.label()),
            _ => self.label(),
        }
    }

    /// A problem at a position of the rule's code, underlining `len` bytes.
    pub fn problem(
        &self,
        code: &'static str,
        pos: Position,
        len: usize,
        message: String,
    ) -> FileProblem {
        match self {
            RuleText::File(file) => {
                let span = pos.line().map(|line| {
                    let offset = file.offset_of(line, pos.position().unwrap_or(1));
                    SourceSpan::from((offset, len.max(1)))
                });
                FileProblem::error(code, file, span, message)
            }
            RuleText::Inline {
                yaml, key, span, ..
            } => {
                let at = match (pos.line(), pos.position()) {
                    (Some(line), Some(col)) => format!(" (at {line}:{col} of the expression)"),
                    _ => String::new(),
                };
                FileProblem::error(code, yaml, *span, format!("{key}: {message}{at}"))
            }
        }
    }
}

/// A compiled rule: its AST, shared by every worker, and the outside names it reads.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// What the rule computes (a factor's name, `score`).
    pub name: String,
    pub text: Arc<RuleText>,
    pub(super) ast: Arc<AST>,
    /// Names from the environment the rule reads (columns, earlier factors), in first-use order,
    /// with the position of the first use.
    pub reads: Vec<(String, Position)>,
    /// Everything else `check` wants to know about how the rule uses its names.
    pub usage: Usage,
}

/// The outcome of compiling a rule.
#[derive(Debug)]
pub struct Compiled {
    /// The rule, whenever its code parses. When it read undefined names they were stood in for
    /// so the rest of the code could still be checked; such a rule comes with problems and must
    /// not run.
    pub rule: Option<CompiledRule>,
    /// Compile errors, located in the rule's code.
    pub problems: Vec<FileProblem>,
}

impl Compiled {
    /// The rule if it compiled without a problem.
    pub fn into_result(self) -> Result<CompiledRule, Vec<FileProblem>> {
        match self.rule {
            Some(rule) if self.problems.is_empty() => Ok(rule),
            _ => Err(self.problems),
        }
    }
}

/// Undefined names reported for one rule before giving up (each costs a recompile).
const MAX_UNDEFINED: usize = 32;

/// Compiles `text` for a rule that may read `visible` names (columns, derive columns, earlier
/// factors) and `params`.
///
/// Strict variables are on, so a name that is none of these is a compile error with a
/// suggestion, never a silent `()` at run time; every such name is reported, not just the
/// first. The unoptimised AST is analysed (so `params.x` is still visible), then optimised with
/// the params as constants for execution.
pub fn compile(
    engine: &Engine,
    name: &str,
    text: RuleText,
    visible: &[&str],
    params: &Dynamic,
) -> Compiled {
    let mut scope = Scope::new();
    scope.push_constant_dynamic("params", params.clone());
    for name in visible {
        scope.push_dynamic(*name, Dynamic::UNIT);
    }
    let mut problems = Vec::new();
    let raw = loop {
        let err = match engine.compile_with_scope(&scope, text.code()) {
            Ok(ast) => break ast,
            Err(err) => err,
        };
        let pos = err.position();
        match err.err_type() {
            ParseErrorType::VariableUndefined(var) if problems.len() < MAX_UNDEFINED => {
                problems.push(
                    text.problem(
                        "rules::compile",
                        pos,
                        var.len(),
                        format!("`{var}` is not a column, factor or variable here"),
                    )
                    .with_help(suggest::help_for(
                        var,
                        visible,
                        "names in scope",
                    )),
                );
                scope.push_dynamic(var.as_str(), Dynamic::UNIT);
            }
            other => {
                problems.push(
                    text.problem("rules::compile", pos, 1, other.to_string())
                        .with_help(
                            "fix the syntax at this position; the README lists the script API",
                        ),
                );
                return Compiled {
                    rule: None,
                    problems,
                };
            }
        }
    };
    let usage = analyze(&raw, visible);
    let mut ast = engine.optimize_ast(&scope, raw, OptimizationLevel::Full);
    if let RuleText::File(file) = &text {
        ast.set_source(file.name());
    }
    let rule = CompiledRule {
        name: name.to_string(),
        text: Arc::new(text),
        ast: Arc::new(ast),
        reads: usage.reads.clone(),
        usage,
    };
    Compiled {
        rule: Some(rule),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Limits;

    fn engine() -> Engine {
        super::super::engine::build(&Limits::default(), vec![])
    }

    fn file(code: &str) -> RuleText {
        RuleText::File(SourceFile::new("rules/x.rhai", code))
    }

    #[test]
    fn records_names_read_in_order_skipping_locals() {
        let rule = compile(
            &engine(),
            "x",
            file("let margin = revenue * rate;\nif bad_debt { 0 } else { margin + revenue }"),
            &["bad_debt", "rate", "revenue", "unused"],
            &Dynamic::UNIT,
        )
        .into_result()
        .unwrap();
        let names: Vec<&str> = rule.reads.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["revenue", "rate", "bad_debt"]);
        assert_eq!(rule.reads[0].1, Position::new(1, 14));
    }

    #[test]
    fn every_misspelt_name_is_a_located_compile_error_with_suggestion() {
        let compiled = compile(
            &engine(),
            "x",
            file("let a = revenue;\nrevnue * 2 + ordrs"),
            &["revenue", "orders"],
            &Dynamic::UNIT,
        );
        let rule = compiled
            .rule
            .as_ref()
            .expect("checked with the names stood in");
        assert_eq!(
            rule.reads,
            vec![("revenue".to_string(), Position::new(1, 9))]
        );
        let problems = compiled.into_result().unwrap_err();
        let found: Vec<(String, &str, Option<&str>)> = problems
            .iter()
            .map(|p| (p.location(), p.message.as_str(), p.help.as_deref()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "rules/x.rhai:2:1".to_string(),
                    "`revnue` is not a column, factor or variable here",
                    Some("did you mean `revenue`?")
                ),
                (
                    "rules/x.rhai:2:14".to_string(),
                    "`ordrs` is not a column, factor or variable here",
                    Some("did you mean `orders`?")
                ),
            ]
        );
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let problems = compile(&engine(), "x", file("let a = ;\n"), &[], &Dynamic::UNIT)
            .into_result()
            .unwrap_err();
        let problem = &problems[0];
        assert_eq!(problem.location(), "rules/x.rhai:1:9");
        assert_eq!(problem.code, "rules::compile");
    }
}
