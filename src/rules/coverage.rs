//! Branch coverage of rules: for each rule, every branch a row can take and how many rows
//! took it.
//!
//! Branches are read from the rule's optimised AST (the one both engines run): each arm of an
//! `if` / `else if` / `else` chain (an `if` without `else` has an unwritten one), each arm of a
//! `switch` (and its unwritten default), each `return`, and each default of a `??` beside the
//! case where the left side had a value. Which arm a row took comes from an instrumented
//! interpreter run ([`super::interpreter::trace`]): rhai's debugger notes every script position a row
//! evaluates, and an arm was taken when the first statement of its body was reached. An arm
//! with nothing to run (no `else` written, an empty body) is counted as the rows that reached
//! its `if`, `switch` or `??`, did not fail in its condition, and entered no other arm. A
//! branch the params decide (`if params.x > 3` with `x: 5`) is folded away when the AST is
//! optimised and is not listed: no row can take the other arm.
//!
//! The counts do not depend on the engine that scores: the compiled engine is held bit-for-bit
//! equal to the interpreter (tests/differential.rs), and coverage always traces the
//! interpreter. The other way, walking the AST to list branches and then evaluating their
//! conditions apart, would be a third engine to keep equal; the debugger sees what the
//! interpreter really did. The cost is a debugger call per node a row evaluates, and the
//! traced run comes on top of scoring: scoring the example's 2,000 customers (debug build, two
//! busy cores) took 0.13-0.19 s on the interpreter and 0.33-0.46 s with coverage (2.5x), and
//! 0.013 s on the compiled engine against 0.26-0.31 s with coverage (20x, the trace being
//! interpreted). In a release build of rhai alone, a 9-line rule like the example's over
//! 200,000 rows took 2.6-2.7 µs a row on the plain engine, 3.9 µs traced (1.45x); rhai built
//! with its `debugging` feature but no debugger attached (what `run` uses) measured the same as
//! without it (2.63 against 2.70 µs, within noise). So it only runs when coverage is asked
//! for (`test --coverage`, `run --coverage`).

use std::collections::HashSet;
use std::sync::Mutex;

use arrow::array::RecordBatch;
use indexmap::IndexMap;
use rhai::{ASTFlags, ASTNode, Expr, Stmt};
use serde::{Deserialize, Serialize};

use super::interpreter::trace::{trace, Place, RowTrace};
use super::Rule;

/// What kind of branch an arm is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchKind {
    /// The first arm of an `if` chain.
    If,
    /// An `else if` arm.
    ElseIf,
    /// The `else` arm (unwritten when the chain has none: rows that took no other arm).
    Else,
    /// A `switch` arm.
    Case,
    /// The `_` arm of a `switch` (unwritten when there is none).
    Default,
    /// A `return` statement.
    Return,
    /// The left side of a `??` had a value.
    Value,
    /// A `??` took its default (the expression at this position).
    Fallback,
}

impl BranchKind {
    /// How reports name the kind: `if`, `else if`, `?? default` …
    pub fn label(self) -> &'static str {
        match self {
            BranchKind::If => "if",
            BranchKind::ElseIf => "else if",
            BranchKind::Else => "else",
            BranchKind::Case => "case",
            BranchKind::Default => "default",
            BranchKind::Return => "return",
            BranchKind::Value => "?? value",
            BranchKind::Fallback => "?? default",
        }
    }
}

/// One branch of a rule and the rows that took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    pub kind: BranchKind,
    /// Where the branch is in the rule's code (1-based): its first statement, or for an arm
    /// not written in the code, its `if`, `switch` or `??`.
    pub line: usize,
    pub column: usize,
    /// True for an arm not written in the code (an `if` without `else`, a `switch` without `_`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub implicit: bool,
    /// The line of code at `line`, trimmed (so reports quote it without the script).
    pub code: String,
    /// Rows that took the branch.
    pub rows: u64,
}

/// The branches of one rule and how many rows took each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleCoverage {
    /// The rule's name: a factor, `score` or `tier`.
    pub rule: String,
    /// Where its code is: `rules/economic.rhai`, or the pipeline key of an inline expression.
    pub source: String,
    /// Rows the rule was evaluated on.
    pub rows: u64,
    pub branches: Vec<Branch>,
    /// The rule's code, line by line: the report shows the counts over it.
    #[serde(default)]
    pub script: Vec<String>,
    /// How to tell, from a row's trace, that it took each branch (parallel to `branches`).
    #[serde(skip)]
    tests: Vec<Taken>,
}

impl RuleCoverage {
    /// The branches of `rule`, none taken yet.
    pub fn of(rule: &dyn Rule) -> Self {
        let info = rule.info();
        let (mut branches, tests): (Vec<Branch>, _) =
            arms(rule.interpreted().ast()).into_iter().unzip();
        let lines: Vec<&str> = info.text.code().lines().collect();
        for branch in &mut branches {
            if let Some(line) = lines.get(branch.line.saturating_sub(1)) {
                branch.code = line.trim().to_string();
            }
        }
        Self {
            rule: info.name.clone(),
            source: info.text.label(),
            rows: 0,
            branches,
            script: lines.iter().map(|l| l.to_string()).collect(),
            tests,
        }
    }

    /// Branches at least one row took.
    pub fn covered(&self) -> usize {
        self.branches.iter().filter(|b| b.rows > 0).count()
    }

    fn add(&mut self, traces: &[RowTrace]) {
        self.rows += traces.len() as u64;
        for row in traces {
            for (branch, test) in self.branches.iter_mut().zip(&self.tests) {
                if test.holds(row) {
                    branch.rows += 1;
                }
            }
        }
    }
}

/// The coverage of every rule of a scorer, filled by the workers scoring its batches.
#[derive(Debug)]
pub struct Tally {
    rules: IndexMap<String, Mutex<RuleCoverage>>,
}

impl Tally {
    /// Every branch of these rules, none taken yet.
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a dyn Rule>) -> Self {
        Self {
            rules: rules
                .into_iter()
                .map(|rule| (rule.info().name.clone(), Mutex::new(RuleCoverage::of(rule))))
                .collect(),
        }
    }

    /// Adds the branches `rule` takes on the `selection` rows of `batch` (a rule not given to
    /// [`Tally::new`] is not counted).
    pub fn record(&self, rule: &dyn Rule, batch: &RecordBatch, selection: &[u32]) {
        let Some(slot) = self.rules.get(&rule.info().name) else {
            return;
        };
        let traces = trace(rule.interpreted(), batch, selection);
        // A worker that panicked while holding the lock left whole counts behind: keep them.
        let mut coverage = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        coverage.add(&traces);
    }

    /// The counts, rules in the order given to [`Tally::new`].
    pub fn finish(self) -> Vec<RuleCoverage> {
        self.rules
            .into_values()
            .map(|slot| slot.into_inner().unwrap_or_else(|p| p.into_inner()))
            .collect()
    }
}

/// How a row's trace shows it took a branch.
#[derive(Debug, Clone, PartialEq)]
enum Taken {
    /// It reached this place (the branch's first statement).
    Reached(Place),
    /// It reached `site`, did not fail at any place of its `condition`, and reached none of
    /// `others` (an arm with no code).
    Rest {
        site: Place,
        condition: Vec<Place>,
        others: Vec<Place>,
    },
}

impl Taken {
    fn holds(&self, row: &RowTrace) -> bool {
        let reached = |place: &Place| row.reached.binary_search(place).is_ok();
        match self {
            Taken::Reached(place) => reached(place),
            Taken::Rest {
                site,
                condition,
                others,
            } => {
                reached(site)
                    && !row.failed_at.is_some_and(|at| condition.contains(&at))
                    && !others.iter().any(reached)
            }
        }
    }
}

fn place(pos: rhai::Position) -> Option<Place> {
    Some((pos.line()?, pos.position()?))
}

/// Where a row entering a body of these statements is first seen: its first statement's place.
fn block_marker(statements: &[Stmt]) -> Option<Place> {
    statements.first().and_then(stmt_marker)
}

fn stmt_marker(stmt: &Stmt) -> Option<Place> {
    match stmt {
        // The debugger skips a statement that only wraps an expression; the expression is seen.
        Stmt::Expr(expr) => expr_marker(expr),
        Stmt::Noop(..) => None,
        other => place(other.position()),
    }
}

fn expr_marker(expr: &Expr) -> Option<Place> {
    match expr {
        // …and a block in an expression is seen by its first statement.
        Expr::Stmt(block) => block_marker(block.statements()),
        other => place(other.position()),
    }
}

/// Every place in an expression (where a failure in it is reported), and `site` itself.
fn places(expr: &Expr, site: Place) -> Vec<Place> {
    let mut found = vec![site];
    expr.walk(&mut Vec::new(), &mut |path: &[ASTNode]| {
        if let Some(at) = path.last().and_then(|node| place(node.position())) {
            found.push(at);
        }
        true
    });
    found
}

fn branch(kind: BranchKind, at: Place, implicit: bool) -> Branch {
    Branch {
        kind,
        line: at.0,
        column: at.1,
        implicit,
        code: String::new(),
        rows: 0,
    }
}

/// Every branch of an AST (statements, then functions), in the order the walk meets them.
fn arms(ast: &rhai::AST) -> Vec<(Branch, Taken)> {
    let mut found = Vec::new();
    // `if`s already listed as the `else if` of a chain.
    let mut chained: HashSet<Place> = HashSet::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::If(_, pos))) => {
                if let Some(site) = place(*pos) {
                    if !chained.contains(&site) {
                        if_chain(path, &mut found, &mut chained);
                    }
                }
            }
            Some(ASTNode::Stmt(Stmt::Switch(switch, pos))) => {
                if let Some(site) = place(*pos) {
                    switch_arms(switch, site, &mut found);
                }
            }
            Some(ASTNode::Stmt(Stmt::Return(_, flags, pos)))
                if !flags.intersects(ASTFlags::BREAK) =>
            {
                if let Some(at) = place(*pos) {
                    found.push((branch(BranchKind::Return, at, false), Taken::Reached(at)));
                }
            }
            Some(ASTNode::Expr(Expr::Coalesce(list, pos))) => {
                if let (Some(site), Some(first_default)) =
                    (place(*pos), list.get(1).and_then(expr_marker))
                {
                    found.push((
                        branch(BranchKind::Value, site, false),
                        Taken::Rest {
                            site,
                            condition: places(&list[0], site),
                            others: vec![first_default],
                        },
                    ));
                    for default in list.iter().skip(1).filter_map(expr_marker) {
                        found.push((
                            branch(BranchKind::Fallback, default, false),
                            Taken::Reached(default),
                        ));
                    }
                }
            }
            _ => {}
        }
        true
    });
    found
}

/// The arms of the `if` chain the path ends at: `if`, each `else if`, then `else`.
fn if_chain(path: &[ASTNode], found: &mut Vec<(Branch, Taken)>, chained: &mut HashSet<Place>) {
    let Some(ASTNode::Stmt(Stmt::If(first, pos))) = path.last() else {
        return;
    };
    let mut flow = first;
    let mut site = *pos;
    let mut kind = BranchKind::If;
    loop {
        let Some(here) = place(site) else { return };
        // An `else` holding only an `if` continues the chain.
        let next = match flow.branch.statements() {
            [Stmt::If(inner, inner_pos)] => Some((inner, *inner_pos)),
            _ => None,
        };
        let else_side = match next {
            Some((_, inner_pos)) => place(inner_pos),
            None => block_marker(flow.branch.statements()),
        };
        let then = block_marker(flow.body.statements());
        match (then, else_side) {
            (Some(then), _) => found.push((branch(kind, then, false), Taken::Reached(then))),
            (None, Some(other)) => found.push((
                branch(kind, here, true),
                Taken::Rest {
                    site: here,
                    condition: places(&flow.expr, here),
                    others: vec![other],
                },
            )),
            // Neither side has code: nothing a row could be told apart by.
            (None, None) => return,
        }
        match next {
            Some((inner, inner_pos)) => {
                if let Some(at) = place(inner_pos) {
                    chained.insert(at);
                }
                flow = inner;
                site = inner_pos;
                kind = BranchKind::ElseIf;
            }
            None => {
                match (block_marker(flow.branch.statements()), then) {
                    (Some(at), _) => {
                        found.push((branch(BranchKind::Else, at, false), Taken::Reached(at)))
                    }
                    (None, Some(then)) => found.push((
                        branch(BranchKind::Else, here, true),
                        Taken::Rest {
                            site: here,
                            condition: places(&flow.expr, here),
                            others: vec![then],
                        },
                    )),
                    (None, None) => {}
                }
                return;
            }
        }
    }
}

/// The arms of a `switch`: each case in order, then the default (unwritten if there is none).
fn switch_arms(
    switch: &(Expr, rhai::SwitchCasesCollection),
    site: Place,
    found: &mut Vec<(Branch, Taken)>,
) {
    let (value, cases) = switch;
    let mut markers = Vec::new();
    for (index, arm) in cases.expressions.iter().enumerate() {
        let Some(at) = expr_marker(&arm.rhs) else {
            continue;
        };
        let kind = if cases.def_case == Some(index) {
            BranchKind::Default
        } else {
            BranchKind::Case
        };
        markers.push(at);
        found.push((branch(kind, at, false), Taken::Reached(at)));
    }
    if cases.def_case.is_none() {
        found.push((
            branch(BranchKind::Default, site, true),
            Taken::Rest {
                site,
                condition: places(value, site),
                others: markers,
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::pipeline::{Limits, Params};
    use crate::rules::interpreter::Interpreter;

    /// Every kind of branch, with the line of each arm's first statement noted.
    const RULE: &str = r#"let bonus = extra ?? 0.0;
if kind == "vip" {
    return 100.0;
} else if kind == "gold" {
    bonus += 10.0;
}
let base = switch tier_code {
    1 => 50.0,
    2 => 20.0,
};
(base ?? 0.0) + bonus
"#;

    fn batch() -> RecordBatch {
        let kind: ArrayRef = Arc::new(StringArray::from(vec!["vip", "gold", "basic", "basic"]));
        let extra: ArrayRef = Arc::new(Float64Array::from(vec![None, Some(5.0), Some(1.0), None]));
        let tier: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 1]));
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("kind", DataType::Utf8, true),
                Field::new("extra", DataType::Float64, true),
                Field::new("tier_code", DataType::Int64, true),
            ])),
            vec![kind, extra, tier],
        )
        .unwrap()
    }

    /// The coverage of `rule` on the `rows` of `batch`.
    fn measure(rule: &dyn Rule, batch: &RecordBatch, rows: &[u32]) -> RuleCoverage {
        let tally = Tally::new([rule]);
        tally.record(rule, batch, rows);
        tally.finish().remove(0)
    }

    /// (kind, line, unwritten, rows) of each branch.
    fn counts(coverage: &RuleCoverage) -> Vec<(BranchKind, usize, bool, u64)> {
        coverage
            .branches
            .iter()
            .map(|b| (b.kind, b.line, b.implicit, b.rows))
            .collect()
    }

    #[test]
    fn each_kind_of_branch_counts_the_rows_that_took_it() {
        let rule = Interpreter::test_rule(
            RULE,
            &["kind", "extra", "tier_code"],
            &Limits::default(),
            &Params::default(),
        );
        let coverage = measure(&rule, &batch(), &[0, 1, 2, 3]);
        use BranchKind::*;
        assert_eq!(
            counts(&coverage),
            vec![
                // extra ?? 0.0: rows 1 and 2 have extra, rows 0 and 3 fall back.
                (Value, 1, false, 2),
                (Fallback, 1, false, 2),
                // vip (row 0) returns early; gold (row 1); rows 2 and 3 take no arm.
                (If, 3, false, 1),
                (ElseIf, 5, false, 1),
                (Else, 4, true, 2),
                (Return, 3, false, 1),
                // Row 0 returned before the switch: row 3 is tier 1, row 1 tier 2, row 2 none.
                (Case, 8, false, 1),
                (Case, 9, false, 1),
                (Default, 7, true, 1),
                // base ?? 0.0: row 2 had no case, so no base.
                (Value, 11, false, 2),
                (Fallback, 11, false, 1),
            ]
        );
        assert_eq!(coverage.rows, 4);
        assert_eq!(coverage.covered(), 11);
    }

    #[test]
    fn only_selected_rows_count_and_a_second_batch_adds_up() {
        let rule = Interpreter::test_rule(
            RULE,
            &["kind", "extra", "tier_code"],
            &Limits::default(),
            &Params::default(),
        );
        let tally = Tally::new([&rule as &dyn Rule]);
        tally.record(&rule, &batch(), &[0]);
        tally.record(&rule, &batch(), &[0, 2]);
        let coverage = tally.finish().remove(0);
        assert_eq!(coverage.rows, 3);
        let taken: Vec<u64> = coverage.branches.iter().map(|b| b.rows).collect();
        // Row 0 twice (vip: fallback, if, return), row 2 once (value, unwritten else and
        // default, base's fallback).
        assert_eq!(taken, vec![1, 2, 2, 0, 1, 2, 0, 0, 1, 0, 1]);
        assert_eq!(coverage.covered(), 7);
    }

    #[test]
    fn a_row_that_fails_counts_only_in_arms_it_entered() {
        let rule = Interpreter::test_rule(
            "if x / y > 1.0 { x } ",
            &["x", "y"],
            &Limits::default(),
            &Params::default(),
        );
        let x: ArrayRef = Arc::new(Float64Array::from(vec![Some(2.0), None, Some(0.0)]));
        let y: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), Some(1.0), Some(1.0)]));
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("x", DataType::Float64, true),
                Field::new("y", DataType::Float64, true),
            ])),
            vec![x, y],
        )
        .unwrap();
        let coverage = measure(&rule, &batch, &[0, 1, 2]);
        // Row 1 fails dividing () in the condition: it took neither arm. Row 2 takes the
        // unwritten else (its value, (), is no number, but the branch was taken).
        assert_eq!(
            counts(&coverage),
            vec![
                (BranchKind::If, 1, false, 1),
                (BranchKind::Else, 1, true, 1)
            ]
        );
    }

    #[test]
    fn a_written_default_and_else_are_arms_of_their_own() {
        let rule = Interpreter::test_rule(
            "let x = switch tier_code {\n    1 => 10.0,\n    _ => 0.0,\n};\nif x > 5.0 {\n    x\n} else {\n    -x\n}\n",
            &["tier_code"],
            &Limits::default(),
            &Params::default(),
        );
        let coverage = measure(&rule, &batch(), &[0, 1, 2, 3]);
        use BranchKind::*;
        // tier_code 1, 2, 3, 1: two rows take case 1 and x > 5, two the default and else.
        assert_eq!(
            counts(&coverage),
            vec![
                (Case, 2, false, 2),
                (Default, 3, false, 2),
                (If, 6, false, 2),
                (Else, 8, false, 2),
            ]
        );
    }

    #[test]
    fn a_branch_the_params_decide_is_folded_away_and_not_listed() {
        let params: Params = serde_yaml::from_str("{ x: 5 }").unwrap();
        let rule = Interpreter::test_rule(
            "if params.x > 3 {\n    1.0\n} else {\n    tier_code.to_float()\n}\n",
            &["tier_code"],
            &Limits::default(),
            &params,
        );
        let coverage = measure(&rule, &batch(), &[0, 1]);
        assert_eq!(counts(&coverage), vec![]);
    }
}
