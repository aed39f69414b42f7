//! What a rule does with the names around it, read off its unoptimised AST.
//!
//! The plan uses this to decode only the columns rules read, and `check` to find mistakes
//! before any data is read: `params.x` that is not defined, a string column in arithmetic, a
//! nullable column used without `?? default`.

use rhai::{ASTNode, Expr, Position, AST};

use super::ScriptPos;

/// Operators that need numbers (or, for comparisons, two values of one kind).
const NUMERIC_OPERATORS: [&str; 9] = ["-", "*", "/", "%", "**", "<", "<=", ">", ">="];

/// How a rule uses the names it can see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Visible names the rule reads (columns, earlier factors), first use each, in order.
    pub reads: Vec<(String, ScriptPos)>,
    /// Every `params.NAME` (or `params["NAME"]`) the rule reads.
    pub params: Vec<(String, ScriptPos)>,
    /// Reads not guarded against null: outside `??`, outside an array literal (aggregates skip
    /// nulls), and not compared with `==`/`!=` (a null check).
    pub unguarded: Vec<(String, ScriptPos)>,
    /// Reads that are a direct operand of an operator in [`NUMERIC_OPERATORS`], with it.
    pub operands: Vec<(String, String, ScriptPos)>,
}

/// Walks `ast` for the uses of `visible` names and of `params`.
pub fn analyze(ast: &AST, visible: &[&str]) -> Usage {
    let mut usage = Usage::default();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Expr(Expr::Variable(var, _, pos))) => {
                let name = var.1.as_str();
                if visible.contains(&name) {
                    record_read(&mut usage, name, *pos, &path[..path.len() - 1]);
                }
            }
            Some(ASTNode::Expr(Expr::Dot(chain, ..) | Expr::Index(chain, ..))) => {
                if let Expr::Variable(var, ..) = &chain.lhs {
                    if var.1.as_str() == "params" {
                        if let Some((key, pos)) = first_key(&chain.rhs) {
                            usage.params.push((key, pos.into()));
                        }
                    }
                }
            }
            _ => {}
        }
        true
    });
    usage
}

fn record_read(usage: &mut Usage, name: &str, pos: Position, ancestors: &[ASTNode]) {
    let pos = ScriptPos::from(pos);
    if !usage.reads.iter().any(|(n, _)| n == name) {
        usage.reads.push((name.to_string(), pos));
    }
    let parent_call = match ancestors.last() {
        Some(ASTNode::Expr(Expr::FnCall(call, _))) => Some(call),
        _ => None,
    };
    let null_check = parent_call.is_some_and(|c| c.name == "==" || c.name == "!=");
    let guarded = null_check
        || ancestors
            .iter()
            .any(|node| matches!(node, ASTNode::Expr(Expr::Coalesce(..) | Expr::Array(..))));
    if !guarded {
        usage.unguarded.push((name.to_string(), pos));
    }
    if let Some(call) = parent_call {
        if call.args.len() == 2 && NUMERIC_OPERATORS.contains(&call.name.as_str()) {
            usage
                .operands
                .push((name.to_string(), call.name.to_string(), pos));
        }
    }
}

/// The key a `params` chain reads first: `params.a.b` -> `a`, `params["a"]` -> `a`.
fn first_key(rhs: &Expr) -> Option<(String, Position)> {
    match rhs {
        Expr::Property(property, pos) => Some((property.2.to_string(), *pos)),
        Expr::StringConstant(key, pos) => Some((key.to_string(), *pos)),
        Expr::Dot(chain, ..) | Expr::Index(chain, ..) => first_key(&chain.lhs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(code: &str, visible: &[&str]) -> Usage {
        let mut scope = rhai::Scope::new();
        scope.push_constant("params", rhai::Map::new());
        for name in visible {
            scope.push(*name, ());
        }
        let mut engine = rhai::Engine::new();
        engine.set_optimization_level(rhai::OptimizationLevel::None);
        let ast = engine.compile_with_scope(&scope, code).unwrap();
        analyze(&ast, visible)
    }

    fn names(list: &[(String, ScriptPos)]) -> Vec<&str> {
        list.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn params_are_found_through_dots_and_indexes() {
        let u = usage(
            "let a = params.high * 2; let b = params[\"as_of\"]; params.bands.gold + a + b",
            &[],
        );
        assert_eq!(names(&u.params), vec!["high", "as_of", "bands"]);
        assert_eq!(u.params[0].1, ScriptPos::new(1, 16));
    }

    #[test]
    fn null_guards_are_recognised() {
        let u = usage(
            "let a = (rating ?? 0) + mean([x, y]);\nif z == () { 0 } else { z + w }",
            &["rating", "x", "y", "z", "w"],
        );
        assert_eq!(names(&u.reads), vec!["rating", "x", "y", "z", "w"]);
        assert_eq!(names(&u.unguarded), vec!["z", "w"]);
        assert_eq!(u.unguarded[0].1, ScriptPos::new(2, 25));
    }

    #[test]
    fn operands_of_numeric_operators_are_listed() {
        let u = usage(
            "region - 1 + (name < 5) + len(city) + (revenue * 2)",
            &["region", "name", "city", "revenue"],
        );
        let ops: Vec<(&str, &str)> = u
            .operands
            .iter()
            .map(|(n, op, _)| (n.as_str(), op.as_str()))
            .collect();
        assert_eq!(ops, vec![("region", "-"), ("name", "<"), ("revenue", "*")]);
    }
}
