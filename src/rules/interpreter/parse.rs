//! Parsing a rule: rhai source to an optimised AST, the names it uses, and located compile
//! errors. Both backends start from what this gives.

use std::sync::Arc;

use rhai::{Dynamic, Engine, OptimizationLevel, ParseErrorType, Scope, AST};

use super::lint::lint;
use super::sizes::{self, Over};
use crate::rules::analyze::analyze;
use crate::rules::{Returns, RuleInfo, RuleText};

use crate::diagnostic::codes;
use crate::diagnostic::suggest;
use crate::diagnostic::FileProblem;
use crate::human;

/// A parsed rule: what it is (name, text, names used) and its AST, optimised with the params as
/// constants.
#[derive(Debug)]
pub struct ParsedRule {
    pub info: RuleInfo,
    pub ast: AST,
}

/// The outcome of parsing a rule.
#[derive(Debug)]
pub struct Parsed {
    /// The rule, whenever its code parses. When it read undefined names they were stood in for
    /// so the rest of the code could still be checked; such a rule comes with problems and must
    /// not run.
    pub rule: Option<ParsedRule>,
    /// Compile errors, located in the rule's code.
    pub problems: Vec<FileProblem>,
}

/// Undefined names reported for one rule before giving up (each costs a recompile).
const MAX_UNDEFINED: usize = 32;

/// Parses `text` for a rule that may read `visible` names (columns, derive columns, earlier
/// factors) and `params`, and must give what `returns` says.
///
/// Strict variables are on, so a name that is none of these is a compile error with a
/// suggestion, never a silent `()` at run time; every such name is reported, not just the
/// first. The unoptimised AST is analysed (so `params.x` is still visible), then optimised with
/// the params as constants for execution.
pub fn parse(
    engine: &Engine,
    name: &str,
    text: RuleText,
    visible: &[&str],
    params: &Dynamic,
    returns: Returns,
) -> Parsed {
    let mut scope = rule_scope(params, visible.iter().copied());
    let scan = sizes::scan(engine, text.code());
    if let Some((over, pos)) = scan.over {
        let code = match over {
            Over::Lets => codes::rules::TOO_MANY_LETS,
            Over::Functions => codes::rules::TOO_MANY_FUNCTIONS,
            Over::SwitchCases => codes::rules::TOO_MANY_CASES,
            Over::Params => codes::rules::TOO_MANY_PARAMS,
            Over::Arguments => codes::rules::TOO_MANY_ARGUMENTS,
            Over::Lines => codes::rules::TOO_MANY_LINES,
            Over::LineChars => codes::rules::LINE_TOO_LONG,
        };
        let problem = text
            .problem(
                code,
                pos.into(),
                1,
                format!("the rule has {over}; {}", over.here()),
            )
            .with_help(format!(
                "a rule or module may have at most {} {} ({}): {}",
                human::count(over.limit() as u64),
                over.what(),
                over.why(),
                over.help()
            ));
        return Parsed {
            rule: None,
            problems: vec![problem],
        };
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
                        codes::rules::COMPILE,
                        pos.into(),
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
            // Past `sizes`' count of `fn`s: closures, which rhai counts among functions.
            ParseErrorType::TooManyFunctions => {
                problems.push(
                    text.problem(
                        codes::rules::TOO_MANY_FUNCTIONS,
                        pos.into(),
                        1,
                        format!(
                            "the rule defines more than {} functions and closures together; \
                             this is the next",
                            human::count(sizes::MAX_FUNCTIONS as u64)
                        ),
                    )
                    .with_help(Over::Functions.help()),
                );
                return Parsed {
                    rule: None,
                    problems,
                };
            }
            other => {
                problems.push(
                    text.problem(codes::rules::COMPILE, pos.into(), 1, other.to_string())
                        .with_help(
                            "fix the syntax at this position; docs/scripts.md lists the script API",
                        ),
                );
                return Parsed {
                    rule: None,
                    problems,
                };
            }
        }
    };
    let usage = analyze(&raw, visible);
    problems.extend(lint(engine, &raw, &text, visible, &scan.imports));
    let ast = optimised(engine, &scope, raw, &text);
    let rule = ParsedRule {
        info: RuleInfo {
            name: name.to_string(),
            text: Arc::new(text),
            reads: usage.reads.clone(),
            usage,
            returns,
        },
        ast,
    };
    Parsed {
        rule: Some(rule),
        problems,
    }
}

/// The AST of a rule that [`parse`] took, parsed and optimised again: equal to the first, with
/// none of its strings shared (see [`super::InterpretedRule`]'s per-thread copies). `None` if it
/// no longer compiles, which cannot happen for the same engine, text and names.
pub fn reparse(engine: &Engine, info: &RuleInfo, params: &Dynamic) -> Option<AST> {
    let scope = rule_scope(params, info.reads.iter().map(|(name, _)| name.as_str()));
    let raw = engine.compile_with_scope(&scope, info.text.code()).ok()?;
    Some(optimised(engine, &scope, raw, &info.text))
}

/// The scope a rule compiles in: `params` as a constant, then each name it may read.
fn rule_scope<'a>(params: &Dynamic, names: impl Iterator<Item = &'a str>) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_constant_dynamic("params", params.clone());
    for name in names {
        scope.push_dynamic(name, Dynamic::UNIT);
    }
    scope
}

/// A rule's compiled AST optimised with the params as constants, named by its file.
fn optimised(engine: &Engine, scope: &Scope, raw: AST, text: &RuleText) -> AST {
    let mut ast = engine.optimize_ast(scope, raw, OptimizationLevel::Full);
    if let RuleText::File(file) = text {
        ast.set_source(file.name());
    }
    ast
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::SourceFile;
    use crate::pipeline::Limits;
    use crate::rules::ScriptPos;

    fn engine() -> Engine {
        crate::rules::interpreter::engine::build(&Limits::default(), vec![])
    }

    fn file(code: &str) -> RuleText {
        RuleText::File(SourceFile::new("rules/x.rhai", code))
    }

    fn compile(
        engine: &Engine,
        name: &str,
        text: RuleText,
        visible: &[&str],
        params: &Dynamic,
    ) -> Result<RuleInfo, Vec<FileProblem>> {
        let parsed = parse(engine, name, text, visible, params, Returns::Factor);
        match parsed.rule {
            Some(rule) if parsed.problems.is_empty() => Ok(rule.info),
            _ => Err(parsed.problems),
        }
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
        assert_eq!(rule.reads[0].1, ScriptPos::new(1, 14));
    }

    #[test]
    fn every_misspelt_name_is_a_located_compile_error_with_suggestion() {
        let parsed = parse(
            &engine(),
            "x",
            file("let a = revenue;\nrevnue * 2 + ordrs"),
            &["revenue", "orders"],
            &Dynamic::UNIT,
            Returns::Factor,
        );
        let rule = parsed
            .rule
            .as_ref()
            .expect("checked with the names stood in");
        assert_eq!(
            rule.info.reads,
            vec![("revenue".to_string(), ScriptPos::new(1, 9))]
        );
        let problems = parsed.problems;
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
        let problems =
            compile(&engine(), "x", file("let a = ;\n"), &[], &Dynamic::UNIT).unwrap_err();
        let problem = &problems[0];
        assert_eq!(problem.location(), "rules/x.rhai:1:9");
        assert_eq!(problem.code, "rules::compile");
    }

    fn messages(code: &str, visible: &[&str]) -> Vec<(String, String, Option<String>)> {
        let params: Dynamic = rhai::Map::from_iter([("p".into(), Dynamic::from(1_i64))]).into();
        let parsed = parse(
            &engine(),
            "x",
            file(code),
            visible,
            &params,
            Returns::Factor,
        );
        parsed
            .problems
            .into_iter()
            .map(|p| (p.location(), p.message, p.help))
            .collect()
    }

    #[test]
    fn assignments_to_params_columns_and_factors_are_compile_errors() {
        let found = messages(
            "params.p += 1;\nrevenue = 2;\nlet own = 1; own += 1;\nm[0] = 1;\nown",
            &["revenue", "m"],
        );
        assert_eq!(
            found,
            vec![
                (
                    "rules/x.rhai:1:1".to_string(),
                    "cannot assign to `params`: `params` is read-only".to_string(),
                    Some("copy it into a variable of your own first: `let x = params; …`".into())
                ),
                (
                    "rules/x.rhai:2:1".to_string(),
                    "cannot assign to `revenue`: columns and factors are read-only".to_string(),
                    Some("copy it into a variable of your own first: `let x = revenue; …`".into())
                ),
                (
                    "rules/x.rhai:4:1".to_string(),
                    "cannot assign to `m`: columns and factors are read-only".to_string(),
                    Some("copy it into a variable of your own first: `let x = m; …`".into())
                ),
            ]
        );
    }

    #[test]
    fn unknown_functions_are_compile_errors_with_a_suggestion() {
        let found = messages(
            "fn twice(x) { x * 2 }\nlet f = |x| x + 1;\nscal(revenue, 0, 1) + twice(1) + f.call(1) + revenue.floor() + [1].pusj(2)",
            &["revenue"],
        );
        let brief: Vec<(String, Option<String>)> =
            found.into_iter().map(|(at, _, help)| (at, help)).collect();
        assert_eq!(
            brief,
            vec![
                (
                    "rules/x.rhai:3:1".to_string(),
                    Some("did you mean `scale`?".into())
                ),
                (
                    "rules/x.rhai:3:68".to_string(),
                    Some("did you mean `push`?".into())
                ),
            ]
        );
    }
}
