//! Compiling a rule: rhai source to an AST, the names it reads, and located compile errors.

use std::sync::Arc;

use miette::SourceSpan;
use rhai::{ASTNode, Dynamic, Engine, Expr, ParseErrorType, Position, Scope, AST};

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
}

/// Compiles `text` for a rule that may read `visible` names (columns, derive columns, earlier
/// factors) and `params`.
///
/// Strict variables are on, so a name that is none of these is a compile error with a
/// suggestion, never a silent `()` at run time.
pub fn compile(
    engine: &Engine,
    name: &str,
    text: RuleText,
    visible: &[&str],
    params: &Dynamic,
) -> Result<CompiledRule, FileProblem> {
    let mut scope = Scope::new();
    scope.push_constant_dynamic("params", params.clone());
    for name in visible {
        scope.push_dynamic(*name, Dynamic::UNIT);
    }
    let mut ast = engine
        .compile_with_scope(&scope, text.code())
        .map_err(|err| {
            let pos = err.position();
            let (message, help, len) = match err.err_type() {
                ParseErrorType::VariableUndefined(var) => (
                    format!("`{var}` is not a column, factor or variable here"),
                    suggest::help_for(var, visible, "names in scope"),
                    var.len(),
                ),
                other => (
                    other.to_string(),
                    "fix the syntax at this position; the README lists the script API".to_string(),
                    1,
                ),
            };
            text.problem("rules::compile", pos, len, message)
                .with_help(help)
        })?;
    if let RuleText::File(file) = &text {
        ast.set_source(file.name());
    }
    let reads = names_read(&ast, visible);
    Ok(CompiledRule {
        name: name.to_string(),
        text: Arc::new(text),
        ast: Arc::new(ast),
        reads,
    })
}

/// The `visible` names an AST reads, in order of first use, with that position.
fn names_read(ast: &AST, visible: &[&str]) -> Vec<(String, Position)> {
    let mut reads: Vec<(String, Position)> = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::Variable(var, _, pos))) = path.last() {
            let name = var.1.as_str();
            if visible.contains(&name) && !reads.iter().any(|(n, _)| n == name) {
                reads.push((name.to_string(), *pos));
            }
        }
        true
    });
    reads
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
        .unwrap();
        let names: Vec<&str> = rule.reads.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["revenue", "rate", "bad_debt"]);
        assert_eq!(rule.reads[0].1, Position::new(1, 14));
    }

    #[test]
    fn misspelt_name_is_a_located_compile_error_with_suggestion() {
        let problem = compile(
            &engine(),
            "x",
            file("let a = 1;\nrevnue * 2"),
            &["revenue", "orders"],
            &Dynamic::UNIT,
        )
        .unwrap_err();
        assert_eq!(problem.location(), "rules/x.rhai:2:1");
        assert_eq!(
            problem.message,
            "`revnue` is not a column, factor or variable here"
        );
        assert_eq!(problem.help.as_deref(), Some("did you mean `revenue`?"));
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let problem =
            compile(&engine(), "x", file("let a = ;\n"), &[], &Dynamic::UNIT).unwrap_err();
        assert_eq!(problem.location(), "rules/x.rhai:1:9");
        assert_eq!(problem.code, "rules::compile");
    }
}
