//! What would fail every row, found when a rule compiles: assignments to `params`, a column or
//! a factor (rhai has them pass its parser and then fail, or panic, at run time), calls of
//! functions that exist nowhere, and imports the sandbox would refuse.

use std::collections::BTreeSet;

use rhai::{ASTNode, Engine, Expr, Position, Stmt, AST};

use super::imports::{misplaced_import, Refusal, MISPLACED_IMPORT};
use crate::diagnostic::codes;
use crate::diagnostic::{suggest, FileProblem};
use crate::rules::RuleText;

/// rhai's keywords that are called like functions but are not registered as functions.
const KEYWORD_FUNCTIONS: [&str; 10] = [
    "type_of",
    "print",
    "debug",
    "Fn",
    "call",
    "curry",
    "is_def_var",
    "is_def_fn",
    "is_shared",
    "eval",
];

/// The problems in `ast` (unoptimised) of a rule that may read `visible` names.
pub fn lint(
    engine: &Engine,
    ast: &AST,
    text: &RuleText,
    visible: &[&str],
    imports: &[Position],
) -> Vec<FileProblem> {
    let mut problems = Vec::new();
    if let Some(pos) = misplaced_import(ast, imports) {
        problems.push(
            text.problem(
                codes::rules::IMPORT,
                pos.into(),
                "import".len(),
                MISPLACED_IMPORT.to_string(),
            )
            .with_help(
                "a function calling itself could import at each of its levels, and a `try` \
                 could catch a module's failure and go on with what it had computed",
            ),
        );
    }
    let known = known_functions(engine, ast);
    let locals = local_names(ast);
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Assignment(assignment))) => {
                if let Some((name, pos)) = root_variable(&assignment.1.lhs) {
                    if name == "params" || visible.contains(&name) {
                        problems.push(assignment_problem(text, name, pos));
                    }
                }
            }
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) => {
                let name = call.name.as_str();
                let plain = !call.is_qualified() && name.chars().all(is_ident_char);
                if plain && !known.contains(name) && !locals.contains(name) {
                    problems.push(unknown_function(text, name, *pos, &known));
                }
            }
            Some(ASTNode::Expr(Expr::MethodCall(call, pos))) => {
                let name = call.name.as_str();
                if !known.contains(name) && !locals.contains(name) {
                    problems.push(unknown_function(text, name, *pos, &known));
                }
            }
            Some(ASTNode::Stmt(Stmt::Import(import, pos))) => {
                if let Expr::StringConstant(path, _) = &import.0 {
                    let source = match text {
                        RuleText::File(file) => Some(file.name()),
                        RuleText::Inline { .. } => None,
                    };
                    if let Err(err) = engine.module_resolver().resolve(engine, source, path, *pos) {
                        let why = Refusal::of(&err).unwrap_or_else(|| err.to_string());
                        problems.push(
                            text.problem(
                                codes::rules::IMPORT,
                                (*pos).into(),
                                "import".len(),
                                format!("import \"{path}\" cannot be loaded: {why}"),
                            )
                            .with_help(
                                "fix what the message names; an import names a .rhai file, \
                                 without the extension, beside the file importing it and inside \
                                 the folder of the pipeline's scripts",
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
        true
    });
    problems
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Every function a script can call by name: the engine's (helpers, rhai's packages) and the
/// ones the script defines.
fn known_functions(engine: &Engine, ast: &AST) -> BTreeSet<String> {
    let mut known: BTreeSet<String> = engine
        .collect_fn_metadata(None, |info| Some(info.metadata.name.to_string()), true)
        .into_iter()
        .collect();
    known.extend(ast.iter_functions().map(|f| f.name.to_string()));
    known.extend(KEYWORD_FUNCTIONS.iter().map(|s| s.to_string()));
    known
}

/// Names a script declares as variables or parameters anywhere: a call of one may be a call of
/// a function pointer it holds.
fn local_names(ast: &AST) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Var(var, ..))) = path.last() {
            names.insert(var.0.name.to_string());
        }
        true
    });
    for f in ast.iter_functions() {
        names.extend(f.params.iter().map(|p| p.to_string()));
    }
    names
}

/// The variable an assignment's target starts from: `params` in `params.a.b = 1`.
fn root_variable(target: &Expr) -> Option<(&str, Position)> {
    match target {
        Expr::Variable(var, _, pos) => Some((var.1.as_str(), *pos)),
        Expr::Dot(chain, ..) | Expr::Index(chain, ..) => root_variable(&chain.lhs),
        _ => None,
    }
}

fn assignment_problem(text: &RuleText, name: &str, pos: Position) -> FileProblem {
    let what = if name == "params" {
        "`params` is read-only"
    } else {
        "columns and factors are read-only"
    };
    text.problem(
        codes::rules::ASSIGN,
        pos.into(),
        name.len(),
        format!("cannot assign to `{name}`: {what}"),
    )
    .with_help(format!(
        "copy it into a variable of your own first: `let x = {name}; …`"
    ))
}

fn unknown_function(
    text: &RuleText,
    name: &str,
    pos: Position,
    known: &BTreeSet<String>,
) -> FileProblem {
    let help = match suggest::did_you_mean(name, known.iter().map(String::as_str)) {
        Some(best) => format!("did you mean `{best}`?"),
        None => "docs/scripts.md lists the helper functions scripts can call".to_string(),
    };
    text.problem(
        codes::rules::UNKNOWN_FUNCTION,
        pos.into(),
        name.len(),
        format!("`{name}` is not a function: no helper, rhai function or function of this script has that name"),
    )
    .with_help(help)
}
