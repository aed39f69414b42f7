//! Lowering: a rule's optimised rhai AST to the compiled program, or the construct that keeps
//! the rule on the interpreter.
//!
//! The subset is what the shipped rules and the script API (docs/scripts.md) use: `let`/`const`,
//! assignment and op-assignment to locals, `if`/`else if` chains and `switch` as statements and
//! expressions, `return`, `throw`, `??`, `&&`, `||`, `!`, arithmetic and comparisons, template
//! strings, the helper library, date and timestamp values, aggregates over list columns and
//! array literals, `band` and `in` over constant arrays, reasons arrays built with `push`, and
//! the `#{ value, reason }` result. Anything else — loops, script functions, closures, imports,
//! maps and arrays as values, indexing — is reported as [`Unsupported`] with its position.

use rhai::{ASTFlags, Dynamic, Expr, FnCallExpr, Position, Stmt as AstStmt, AST};

use super::ir::{Aggregate, Band, Binary, Block, Elements, Func, Node, Stmt, Switch, Unary};
use super::ops::{self, Strings};
use super::scalar::{Const, Scalar};
use crate::rules::dates::{Date, Timestamp};
use crate::rules::library;
use crate::rules::ScriptPos;

/// Why a rule stays on the interpreter: the first construct the compiler does not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// What it is, for people: "a `for` loop", "a script function", "`foo()`".
    pub construct: String,
    pub pos: ScriptPos,
}

/// A lowered rule.
#[derive(Debug)]
pub struct Lowered {
    pub program: Block,
    /// Variable slots the program uses.
    pub slots: usize,
}

/// Operations a rule may take per row before the interpreter stops it; the compiled program
/// has no loops, so a rule whose every node fits well within the limit never reaches it.
const OPERATIONS_PER_NODE: u64 = 4;

/// Lowers `ast`, whose outside names are `columns` (in [`crate::rules::RuleInfo::reads`]
/// order), for an engine that stops a row after `max_operations`.
pub fn lower(ast: &AST, columns: &[String], max_operations: u64) -> Result<Lowered, Unsupported> {
    if let Some(function) = ast.iter_functions().next() {
        return Err(Unsupported {
            construct: format!("the script function `{}`", function.name),
            pos: ScriptPos::default(),
        });
    }
    let mut nodes = 0u64;
    ast.walk(&mut |_| {
        nodes += 1;
        true
    });
    if max_operations > 0 && nodes.saturating_mul(OPERATIONS_PER_NODE) >= max_operations {
        return Err(Unsupported {
            construct: format!(
                "a script of {nodes} parts, which could reach limits.max_operations ({max_operations})"
            ),
            pos: ScriptPos::default(),
        });
    }
    let mut lowerer = Lowerer {
        columns,
        scopes: vec![Vec::new()],
        slots: 0,
        reasons: Vec::new(),
        assigned_columns: Vec::new(),
    };
    let program = lowerer.block(ast.statements(), true)?;
    if let Some((name, pos)) = lowerer.assigned_columns.first() {
        return Err(Unsupported {
            construct: format!("an assignment to the column `{name}`"),
            pos: *pos,
        });
    }
    Ok(Lowered {
        program,
        slots: lowerer.slots,
    })
}

struct Lowerer<'a> {
    columns: &'a [String],
    /// Local variables in scope, innermost last: name and slot.
    scopes: Vec<Vec<(String, usize)>>,
    slots: usize,
    /// Slots that hold a reasons array.
    reasons: Vec<usize>,
    assigned_columns: Vec<(String, ScriptPos)>,
}

fn unsupported<T>(construct: impl Into<String>, pos: Position) -> Result<T, Unsupported> {
    Err(Unsupported {
        construct: construct.into(),
        pos: pos.into(),
    })
}

/// What a name refers to.
enum Name {
    Slot(usize),
    Column(u16),
}

impl Lowerer<'_> {
    fn resolve(&self, name: &str, pos: Position) -> Result<Name, Unsupported> {
        for scope in self.scopes.iter().rev() {
            if let Some((_, slot)) = scope.iter().rev().find(|(n, _)| n == name) {
                return Ok(Name::Slot(*slot));
            }
        }
        match self.columns.iter().position(|c| c == name) {
            Some(index) => Ok(Name::Column(index as u16)),
            None if name == "params" => unsupported("`params` as a whole value", pos),
            None => unsupported(format!("the name `{name}`"), pos),
        }
    }

    /// `node` computed ahead of where it is used (rhai's order of evaluation): its value goes
    /// into a slot no name refers to, set by a statement added to `ahead`, and the variable
    /// of that slot stands in its place.
    fn ahead(&mut self, node: Node, ahead: &mut Vec<Stmt>) -> Node {
        let slot = self.slots;
        self.slots += 1;
        ahead.push(Stmt::Set(slot, node));
        Node::Var(slot)
    }

    /// Each of `nodes`, in order, computed ahead into a slot of its own ([`Lowerer::ahead`]).
    fn all_ahead(&mut self, nodes: &mut [Node], ahead: &mut Vec<Stmt>) {
        for node in nodes {
            let later = std::mem::replace(node, Node::Const(Const::Unit));
            *node = self.ahead(later, ahead);
        }
    }

    fn declare(&mut self, name: &str) -> usize {
        let slot = self.slots;
        self.slots += 1;
        self.scopes
            .last_mut()
            .expect("a scope is always open")
            .push((name.to_string(), slot));
        slot
    }

    /// A block of statements; when `result`, its value is the rule's result.
    fn block(&mut self, stmts: &[AstStmt], result: bool) -> Result<Block, Unsupported> {
        self.scopes.push(Vec::new());
        let mut lowered = Vec::with_capacity(stmts.len());
        for (i, stmt) in stmts.iter().enumerate() {
            let last = i + 1 == stmts.len();
            if let Some(stmt) = self.stmt(stmt, last && result, last)? {
                lowered.push(stmt);
            }
        }
        self.scopes.pop();
        Ok(Block { stmts: lowered })
    }

    fn stmt(
        &mut self,
        stmt: &AstStmt,
        result: bool,
        last: bool,
    ) -> Result<Option<Stmt>, Unsupported> {
        Ok(Some(match stmt {
            AstStmt::Noop(_) if last => Stmt::Expr(Node::Const(Const::Unit)),
            AstStmt::Noop(_) => return Ok(None),
            AstStmt::Var(var, flags, pos) => {
                let (ident, expr, _) = &**var;
                if flags.contains(ASTFlags::EXPORTED) {
                    return unsupported("an exported variable", *pos);
                }
                if is_empty_array(expr) {
                    let slot = self.declare(ident.name.as_str());
                    self.reasons.push(slot);
                    Stmt::Set(slot, Node::Reasons(Vec::new()))
                } else {
                    let value = self.expr(expr, false)?;
                    let slot = self.declare(ident.name.as_str());
                    Stmt::Set(slot, value)
                }
            }
            AstStmt::Assignment(assignment) => {
                let (op, binary) = &**assignment;
                let Expr::Variable(var, _, pos) = &binary.lhs else {
                    return unsupported(
                        "an assignment to an element or property",
                        binary.lhs.position(),
                    );
                };
                let name = var.1.as_str();
                let slot = match self.resolve(name, *pos)? {
                    Name::Slot(slot) if !self.reasons.contains(&slot) => slot,
                    Name::Slot(_) => {
                        return unsupported(format!("an assignment to the array `{name}`"), *pos)
                    }
                    Name::Column(_) => {
                        self.assigned_columns
                            .push((name.to_string(), (*pos).into()));
                        return Ok(None);
                    }
                };
                let value = self.expr(&binary.rhs, false)?;
                match op.get_op_assignment_info() {
                    None => Stmt::Set(slot, value),
                    Some((.., "+")) => Stmt::AppendStr(slot, value),
                    Some((.., syntax)) => match Binary::of(syntax) {
                        // rhai computes the right side first, then reads the variable;
                        // compiled code reads the variable first, which is the same unless
                        // the right side assigns it: then the right side goes first into a
                        // slot of its own.
                        Some(binary) if reads_what_it_sets(&Node::Var(slot), &value) => {
                            let mut stmts = Vec::new();
                            let value = self.ahead(value, &mut stmts);
                            let var = Box::new(Node::Var(slot));
                            stmts.push(Stmt::Set(slot, Node::Binary(binary, var, Box::new(value))));
                            Stmt::Expr(Node::Block(Block { stmts }))
                        }
                        Some(binary) => Stmt::Set(
                            slot,
                            Node::Binary(binary, Box::new(Node::Var(slot)), Box::new(value)),
                        ),
                        None => return unsupported(format!("`{syntax}=`"), op.position()),
                    },
                }
            }
            AstStmt::FnCall(call, pos) => Stmt::Expr(self.call(call, *pos, false)?),
            AstStmt::Expr(expr) => {
                if let Some(push) = self.push(expr)? {
                    push
                } else {
                    Stmt::Expr(self.expr(expr, result)?)
                }
            }
            AstStmt::Block(block) => {
                Stmt::Expr(Node::Block(self.block(block.statements(), result)?))
            }
            AstStmt::If(flow, _) => {
                let condition = self.expr(&flow.expr, false)?;
                let body = self.block(flow.body.statements(), result)?;
                let branch = self.block(flow.branch.statements(), result)?;
                Stmt::If(condition, body, branch)
            }
            AstStmt::Switch(switch, pos) => Stmt::Expr(self.switch(switch, *pos, result)?),
            AstStmt::Return(value, flags, pos) if flags.contains(ASTFlags::BREAK) => {
                let value = match value {
                    Some(value) => self.expr(value, false)?,
                    None => Node::Const(Const::Unit),
                };
                let _ = pos;
                Stmt::Throw(value)
            }
            AstStmt::Return(value, ..) => Stmt::Return(match value {
                Some(value) => Some(self.expr(value, true)?),
                None => None,
            }),
            AstStmt::While(_, pos) | AstStmt::Do(_, _, pos) => return unsupported("a loop", *pos),
            AstStmt::For(_, pos) => return unsupported("a `for` loop", *pos),
            AstStmt::TryCatch(_, pos) => return unsupported("`try`/`catch`", *pos),
            AstStmt::BreakLoop(_, _, pos) => return unsupported("`break`/`continue`", *pos),
            AstStmt::Import(_, pos) => return unsupported("an `import`", *pos),
            AstStmt::Export(_, pos) => return unsupported("an `export`", *pos),
            other => return unsupported("a closure", other.position()),
        }))
    }

    /// `reasons.push(text)` on a reasons variable.
    fn push(&mut self, expr: &Expr) -> Result<Option<Stmt>, Unsupported> {
        let Expr::Dot(chain, _, _) = expr else {
            return Ok(None);
        };
        let (Expr::Variable(var, _, pos), Expr::MethodCall(call, _)) = (&chain.lhs, &chain.rhs)
        else {
            return Ok(None);
        };
        let Ok(Name::Slot(slot)) = self.resolve(var.1.as_str(), *pos) else {
            return Ok(None);
        };
        if !self.reasons.contains(&slot) {
            return Ok(None);
        }
        if call.name.as_str() != "push" {
            // Another method (`reasons.len()`): an expression.
            return Ok(None);
        }
        if call.args.len() != 1 {
            return unsupported(format!("`{}.{}()` on an array", var.1, call.name), *pos);
        }
        Ok(Some(Stmt::Push(slot, self.expr(&call.args[0], false)?)))
    }

    /// An expression; when `result`, it is (or flows into) the rule's result, where
    /// `#{ value, reason }` is allowed.
    fn expr(&mut self, expr: &Expr, result: bool) -> Result<Node, Unsupported> {
        Ok(match expr {
            Expr::DynamicConstant(value, pos) => self.dynamic(value, *pos, result)?,
            Expr::BoolConstant(b, _) => Node::Const(Const::Bool(*b)),
            Expr::IntegerConstant(i, _) => Node::Const(Const::Int(*i)),
            Expr::FloatConstant(f, _) => Node::Const(Const::Float(**f)),
            Expr::StringConstant(s, _) => Node::Const(Const::Str(s.as_str().into())),
            Expr::Unit(_) => Node::Const(Const::Unit),
            Expr::CharConstant(_, pos) => return unsupported("a character literal", *pos),
            Expr::InterpolatedString(parts, _) => Node::Template(
                parts
                    .iter()
                    .map(|part| self.expr(part, false))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Array(items, pos) => {
                if result && items.is_empty() {
                    Node::Reasons(Vec::new())
                } else {
                    return unsupported("an array used as a value", *pos);
                }
            }
            Expr::Map(map, pos) => {
                if !result {
                    return unsupported("a map used as a value", *pos);
                }
                let (fields, _) = &**map;
                let mut value = None;
                let mut reason: Option<Box<Node>> = None;
                let mut valid = true;
                // A reason written before the value, computed first into a slot of its own.
                let mut reason_first = Vec::new();
                for (key, field) in fields {
                    match key.name.as_str() {
                        "value" => {
                            let node = self.expr(field, false)?;
                            // Compiled code computes the value before the reason, as rhai
                            // does when it is written first. A reason written before it that
                            // assigns a variable the value reads, or reads one it assigns, is
                            // computed first, as rhai does.
                            if let Some(first) = reason.take_if(|reason| {
                                reads_what_it_sets(&node, reason)
                                    || reads_what_it_sets(reason, &node)
                            }) {
                                // Computed ahead, a reasons array is copied as its list's
                                // index, which a push in the value would still change: rhai
                                // copies the array itself.
                                let reads_a_changed_array = first.any(&|n| {
                                    matches!(n, Node::Var(slot)
                                        if self.reasons.contains(slot) && assigns(&node, *slot))
                                });
                                if reads_a_changed_array {
                                    return unsupported(
                                        "a reasons array written before a value that changes it",
                                        *pos,
                                    );
                                }
                                reason = Some(Box::new(self.ahead(*first, &mut reason_first)));
                            }
                            value = Some(Box::new(node))
                        }
                        "reason" => reason = Some(Box::new(self.reason(field)?)),
                        _ => {
                            // Evaluated for its errors, as the interpreter does.
                            let _ = self.expr(field, false)?;
                            valid = false;
                        }
                    }
                }
                valid &= value.is_some();
                let result = Node::Result {
                    value,
                    reason,
                    valid,
                };
                after(reason_first, result)
            }
            Expr::Variable(var, _, pos) => {
                let name = var.1.as_str();
                match self.resolve(name, *pos)? {
                    Name::Slot(slot) if self.reasons.contains(&slot) && !result => {
                        return unsupported(format!("the array `{name}` used as a value"), *pos)
                    }
                    Name::Slot(slot) => Node::Var(slot),
                    Name::Column(column) => Node::Column(column),
                }
            }
            Expr::Stmt(block) => Node::Block(self.block(block.statements(), result)?),
            Expr::FnCall(call, pos) => self.call(call, *pos, result)?,
            Expr::Dot(chain, flags, pos) => {
                if flags.contains(ASTFlags::NEGATED) {
                    return unsupported("`?.`", *pos);
                }
                if let Some(push) = self.push(expr)? {
                    // `reasons.push(…)` where a block of that one statement was (a switch
                    // arm): a block whose value is `()`.
                    return Ok(Node::Block(Block { stmts: vec![push] }));
                }
                let object = self.method_object(&chain.lhs)?;
                self.chain(object, &chain.rhs)?
            }
            Expr::Index(_, _, pos) => return unsupported("indexing `x[i]`", *pos),
            Expr::And(operands, _) => Node::And(self.exprs(operands)?),
            Expr::Or(operands, _) => Node::Or(self.exprs(operands)?),
            Expr::Coalesce(operands, _) => Node::Coalesce(
                operands
                    .iter()
                    .map(|o| self.expr(o, false))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::MethodCall(_, pos) | Expr::Property(_, pos) => {
                return unsupported("a method outside a call chain", *pos)
            }
            other => return unsupported("this expression", other.position()),
        })
    }

    fn exprs(&mut self, exprs: &[Expr]) -> Result<Vec<Node>, Unsupported> {
        exprs.iter().map(|e| self.expr(e, false)).collect()
    }

    /// The object of a method chain: a reasons variable may be read here (for `.len()`).
    fn method_object(&mut self, expr: &Expr) -> Result<Node, Unsupported> {
        if let Expr::Variable(var, _, pos) = expr {
            if let Name::Slot(slot) = self.resolve(var.1.as_str(), *pos)? {
                return Ok(Node::Var(slot));
            }
        }
        self.expr(expr, false)
    }

    /// `object.a.b(…)…`: each access applied in turn.
    ///
    /// rhai computes the arguments of every call in the chain, in the order written, before
    /// the object and the calls. Where that order shows (a part assigns a variable another
    /// reads), every argument is computed first, each into a slot of its own, and the calls
    /// read those.
    fn chain(&mut self, object: Node, rhs: &Expr) -> Result<Node, Unsupported> {
        let mut accesses = Vec::new();
        let mut rest = rhs;
        loop {
            match rest {
                Expr::Dot(inner, flags, pos) => {
                    if flags.contains(ASTFlags::NEGATED) {
                        return unsupported("`?.`", *pos);
                    }
                    accesses.push(self.access(&inner.lhs)?);
                    rest = &inner.rhs;
                }
                access => {
                    accesses.push(self.access(access)?);
                    break;
                }
            }
        }
        let parts: Vec<&Node> = std::iter::once(&object)
            .chain(accesses.iter().flat_map(|access| match access {
                Access::Call(_, args, _) => args.as_slice(),
                Access::Property(_) => &[],
            }))
            .collect();
        let order_shows = parts.iter().enumerate().any(|(i, reader)| {
            parts
                .iter()
                .enumerate()
                .any(|(j, setter)| i != j && reads_what_it_sets(reader, setter))
        });
        let mut ahead = Vec::new();
        if order_shows {
            for access in &mut accesses {
                if let Access::Call(_, args, _) = access {
                    self.all_ahead(args, &mut ahead);
                }
            }
        }
        let mut node = object;
        for access in accesses {
            node = match access {
                Access::Property(func) => Node::Call(func, vec![node]),
                Access::Call(name, args, pos) => {
                    let mut all = vec![node];
                    all.extend(args);
                    self.helper(name, all, pos)?
                }
            };
        }
        Ok(after(ahead, node))
    }

    /// One access of a chain: a property, or a method call with its arguments lowered.
    fn access<'e>(&mut self, access: &'e Expr) -> Result<Access<'e>, Unsupported> {
        match access {
            Expr::Property(property, pos) => {
                let name = property.2.as_str();
                let func = match name {
                    "year" => Func::Year,
                    "month" => Func::Month,
                    "day" => Func::Day,
                    "weekday" => Func::Weekday,
                    "hour" => Func::Hour,
                    "date" => Func::DateOfTimestamp,
                    "floor" => Func::FloorProperty,
                    "ceiling" => Func::Ceiling,
                    "round" => Func::Round,
                    _ => return unsupported(format!("the property `.{name}`"), *pos),
                };
                Ok(Access::Property(func))
            }
            Expr::MethodCall(call, pos) => {
                if !call.namespace.is_empty() {
                    return unsupported("a namespaced call", *pos);
                }
                let args = call
                    .args
                    .iter()
                    .map(|arg| self.expr(arg, false))
                    .collect::<Result<_, _>>()?;
                Ok(Access::Call(call.name.as_str(), args, *pos))
            }
            other => unsupported("this access", other.position()),
        }
    }

    /// A function call: an operator, a helper, an aggregate, `band`, `in`.
    fn call(
        &mut self,
        call: &FnCallExpr,
        pos: Position,
        result: bool,
    ) -> Result<Node, Unsupported> {
        if !call.namespace.is_empty() {
            return unsupported(format!("the namespaced call `{}`", call.name), pos);
        }
        let name = call.name.as_str();
        let args = &call.args;
        if call.op_token.is_some() {
            match (name, args.len()) {
                ("-", 1) => {
                    return Ok(Node::Unary(
                        Unary::Neg,
                        Box::new(self.expr(&args[0], false)?),
                    ))
                }
                ("+", 1) => {
                    return Ok(Node::Unary(
                        Unary::Plus,
                        Box::new(self.expr(&args[0], false)?),
                    ))
                }
                ("!", 1) => {
                    return Ok(Node::Unary(
                        Unary::Not,
                        Box::new(self.expr(&args[0], false)?),
                    ))
                }
                (_, 2) => {
                    if let Some(binary) = Binary::of(name) {
                        return Ok(Node::Binary(
                            binary,
                            Box::new(self.expr(&args[0], false)?),
                            Box::new(self.expr(&args[1], false)?),
                        ));
                    }
                }
                _ => {}
            }
        }
        let aggregate = match name {
            "sum" => Some(Aggregate::Sum),
            "mean" => Some(Aggregate::Mean),
            "stdev" => Some(Aggregate::Stdev),
            "trend" => Some(Aggregate::Trend),
            "growth" => Some(Aggregate::Growth),
            "min_of" => Some(Aggregate::MinOf),
            "max_of" => Some(Aggregate::MaxOf),
            _ => None,
        };
        if let (Some(aggregate), 1) = (aggregate, args.len()) {
            let elements = match &args[0] {
                Expr::Array(items, _) => Elements::Literal(self.exprs(items)?),
                Expr::DynamicConstant(value, pos) if value.is_array() => Elements::Literal(
                    constant_array(value, *pos)?
                        .into_iter()
                        .map(Node::Const)
                        .collect(),
                ),
                other => Elements::List(Box::new(self.expr(other, false)?)),
            };
            return Ok(Node::Aggregate(aggregate, elements));
        }
        if name == "band" && args.len() == 3 {
            let x = self.expr(&args[0], false)?;
            let cuts = constant_arg(&args[1])?;
            let scores = constant_arg(&args[2])?;
            return Ok(Node::Band(Box::new(x), band(cuts, scores)));
        }
        if name == "contains" && args.len() == 2 {
            if let Ok(Some(items)) = constant_arg(&args[0]) {
                return Ok(Node::In(Box::new(self.expr(&args[1], false)?), items));
            }
            return unsupported("`in` over something other than an array of constants", pos);
        }
        let _ = result;
        let args = self.exprs(args)?;
        self.function(name, args, pos)
    }

    /// A helper called as `name(…)`.
    ///
    /// rhai reads a variable given first to a function (`f(x, …)`) after the other arguments
    /// (it passes it by reference). Where that order shows (a later argument assigns it), the
    /// other arguments are computed first, each into a slot of its own, and the call reads
    /// those. (A method's order is kept by [`Lowerer::chain`].)
    fn function(
        &mut self,
        name: &str,
        mut args: Vec<Node>,
        pos: Position,
    ) -> Result<Node, Unsupported> {
        let mut ahead = Vec::new();
        let later_first = match args.split_first() {
            Some((first @ Node::Var(_), rest)) => {
                rest.iter().any(|arg| reads_what_it_sets(first, arg))
            }
            _ => false,
        };
        if later_first {
            self.all_ahead(&mut args[1..], &mut ahead);
        }
        let node = self.helper(name, args, pos)?;
        Ok(after(ahead, node))
    }

    /// A helper or method by name, its object first, once its arguments are in rhai's order.
    fn helper(&mut self, name: &str, args: Vec<Node>, pos: Position) -> Result<Node, Unsupported> {
        let func = match (name, args.len()) {
            ("clamp", 3) => Func::Clamp,
            ("scale", 3) => Func::Scale,
            ("pct", 2) => Func::Pct,
            ("safe_div", 3) => Func::SafeDiv,
            ("pow", 2) => Func::Pow,
            ("round_to", 2) => Func::RoundTo,
            ("max", 2) => Func::Max,
            ("min", 2) => Func::Min,
            ("ln", 1) => Func::Ln,
            ("exp", 1) => Func::Exp,
            ("sqrt", 1) => Func::Sqrt,
            ("log10", 1) => Func::Log10,
            ("log", 1) => Func::LogOne,
            ("log", 2) => Func::Log,
            ("floor", 1) => Func::Floor,
            ("ceil", 1) => Func::Ceil,
            ("ceiling", 1) => Func::Ceiling,
            ("round", 1) => Func::Round,
            ("abs", 1) => Func::Abs,
            ("to_int", 1) => Func::ToInt,
            ("to_float", 1) => Func::ToFloat,
            ("len", 1) => Func::Len,
            ("date", 1 | 3) => Func::DateOf,
            ("timestamp", 1) => Func::TimestampOf,
            ("days_between", 2) => Func::DaysBetween,
            ("to_string", 1) => Func::ToString,
            _ => return unsupported(format!("`{name}()` with {} argument(s)", args.len()), pos),
        };
        // A date or timestamp written out (`date("2026-11-01")`, `date(params.as_of)`): a
        // constant, as the interpreter's optimiser leaves these calls for every row.
        if matches!(func, Func::DateOf | Func::TimestampOf) {
            let constants: Option<Vec<Scalar<'_>>> = args
                .iter()
                .map(|a| match a {
                    Node::Const(c) => Some(c.scalar()),
                    _ => None,
                })
                .collect();
            if let Some(constants) = constants {
                let arena = bumpalo::Bump::new();
                let strings = Strings {
                    arena: &arena,
                    max_len: 0,
                };
                match ops::call(func, &constants, &strings) {
                    Ok(Scalar::Date(d)) => return Ok(Node::Const(Const::Date(d))),
                    Ok(Scalar::Timestamp(t)) => return Ok(Node::Const(Const::Timestamp(t))),
                    _ => {}
                }
            }
        }
        Ok(Node::Call(func, args))
    }

    /// A `reason:` value: a text, `()`, a reasons variable or an array literal of texts.
    fn reason(&mut self, expr: &Expr) -> Result<Node, Unsupported> {
        match expr {
            Expr::Array(items, _) => Ok(Node::Reasons(self.exprs(items)?)),
            Expr::DynamicConstant(value, pos) if value.is_array() => Ok(Node::Reasons(
                constant_array(value, *pos)?
                    .into_iter()
                    .map(Node::Const)
                    .collect(),
            )),
            other => self.expr(other, true),
        }
    }

    fn switch(
        &mut self,
        switch: &(Expr, rhai::SwitchCasesCollection),
        pos: Position,
        result: bool,
    ) -> Result<Node, Unsupported> {
        let (value, cases) = switch;
        if !cases.ranges.is_empty() {
            return unsupported("a range case in `switch`", pos);
        }
        let value = self.expr(value, false)?;
        let mut arms = Vec::with_capacity(cases.expressions.len());
        for arm in cases.expressions.iter() {
            let condition = self.expr(&arm.lhs, false)?;
            let body = self.expr(&arm.rhs, result)?;
            arms.push((condition, body));
        }
        let mut by_hash: Vec<(u64, Vec<usize>)> = cases
            .cases
            .iter()
            .map(|(hash, list)| (*hash, list.blocks.to_vec()))
            .collect();
        by_hash.sort_unstable_by_key(|(hash, _)| *hash);
        Ok(Node::Switch(Box::new(Switch {
            value,
            cases: by_hash,
            arms,
            default: cases.def_case,
        })))
    }

    /// A constant value from the optimiser: scalars, dates; a map only as the result.
    fn dynamic(
        &mut self,
        value: &Dynamic,
        pos: Position,
        result: bool,
    ) -> Result<Node, Unsupported> {
        if let Some(scalar) = constant(value) {
            return Ok(Node::Const(scalar));
        }
        if result {
            if let Some(map) = value.read_lock::<rhai::Map>() {
                let mut valid = map.contains_key("value");
                let mut node_value = None;
                let mut reason = None;
                for (key, field) in map.iter() {
                    match key.as_str() {
                        "value" => match constant(field) {
                            Some(c) => node_value = Some(Box::new(Node::Const(c))),
                            None => valid = false,
                        },
                        "reason" => {
                            reason = Some(Box::new(if field.is_array() {
                                Node::Reasons(
                                    constant_array(field, pos)?
                                        .into_iter()
                                        .map(Node::Const)
                                        .collect(),
                                )
                            } else {
                                match constant(field) {
                                    Some(c) => Node::Const(c),
                                    None => return unsupported("a map in a reason", pos),
                                }
                            }))
                        }
                        _ => valid = false,
                    }
                }
                return Ok(Node::Result {
                    value: node_value,
                    reason,
                    valid,
                });
            }
            if value.is_array()
                && value
                    .read_lock::<rhai::Array>()
                    .is_some_and(|a| a.is_empty())
            {
                return Ok(Node::Reasons(Vec::new()));
            }
        }
        unsupported(
            format!("a constant {} used as a value", value.type_name()),
            pos,
        )
    }
}

/// A scalar constant, if `value` is one.
fn constant(value: &Dynamic) -> Option<Const> {
    if value.is_unit() {
        Some(Const::Unit)
    } else if let Ok(b) = value.as_bool() {
        Some(Const::Bool(b))
    } else if let Ok(i) = value.as_int() {
        Some(Const::Int(i))
    } else if let Ok(f) = value.as_float() {
        Some(Const::Float(f))
    } else if value.is_string() {
        Some(Const::Str(value.clone().into_string().ok()?.into()))
    } else if let Some(date) = value.read_lock::<Date>() {
        Some(Const::Date(date.days()))
    } else {
        value
            .read_lock::<Timestamp>()
            .map(|t| Const::Timestamp(t.micros()))
    }
}

fn constant_array(value: &Dynamic, pos: Position) -> Result<Vec<Const>, Unsupported> {
    let array = value
        .read_lock::<rhai::Array>()
        .map(|a| a.iter().map(constant).collect::<Option<Vec<_>>>());
    match array {
        Some(Some(items)) => Ok(items),
        _ => unsupported("an array of values other than constants", pos),
    }
}

/// An argument that must be a constant array (`band`'s cuts and scores, `in`'s list): its
/// items, or `None` when it is a constant but no array (every row then fails).
fn constant_arg(expr: &Expr) -> Result<Option<Vec<Const>>, Unsupported> {
    match expr {
        Expr::DynamicConstant(value, pos) if value.is_array() => {
            constant_array(value, *pos).map(Some)
        }
        Expr::Array(items, pos) => {
            let mut consts = Vec::with_capacity(items.len());
            for item in items.iter() {
                match item {
                    Expr::DynamicConstant(value, _) => match constant(value) {
                        Some(c) => consts.push(c),
                        None => {
                            return unsupported("an array of values other than constants", *pos)
                        }
                    },
                    Expr::BoolConstant(b, _) => consts.push(Const::Bool(*b)),
                    Expr::IntegerConstant(i, _) => consts.push(Const::Int(*i)),
                    Expr::FloatConstant(f, _) => consts.push(Const::Float(**f)),
                    Expr::StringConstant(s, _) => consts.push(Const::Str(s.as_str().into())),
                    Expr::Unit(_) => consts.push(Const::Unit),
                    other => {
                        return unsupported(
                            "an array of values other than constants",
                            other.position(),
                        )
                    }
                }
            }
            Ok(Some(consts))
        }
        Expr::Unit(_)
        | Expr::BoolConstant(..)
        | Expr::IntegerConstant(..)
        | Expr::FloatConstant(..)
        | Expr::StringConstant(..) => Ok(None),
        other => unsupported("an array that is not written out", other.position()),
    }
}

fn is_empty_array(expr: &Expr) -> bool {
    match expr {
        Expr::Array(items, _) => items.is_empty(),
        Expr::DynamicConstant(value, _) => value
            .read_lock::<rhai::Array>()
            .is_some_and(|a| a.is_empty()),
        _ => false,
    }
}

/// `band`'s constant tables, checked as the interpreter checks them: `Err` when every row
/// reaching the call fails.
fn band(cuts: Option<Vec<Const>>, scores: Option<Vec<Const>>) -> Result<Band, ()> {
    let (cuts, scores) = (cuts.ok_or(())?, scores.ok_or(())?);
    library::check_band_sizes(cuts.len(), scores.len()).map_err(|_| ())?;
    let mut limits = Vec::with_capacity(cuts.len());
    for (index, cut) in cuts.iter().enumerate() {
        let limit = match cut {
            Const::Int(i) => *i as f64,
            Const::Float(f) => *f,
            _ => return Err(()),
        };
        if let Some(&previous) = limits.last() {
            library::check_next_cut(index, previous, limit).map_err(|_| ())?;
        }
        limits.push(limit);
    }
    let int_scores = scores
        .iter()
        .map(|s| match s {
            Const::Int(i) => Some(*i),
            _ => None,
        })
        .collect();
    Ok(Band {
        cuts: limits,
        scores,
        int_scores,
    })
}

/// One access of a method chain, lowered ([`Lowerer::access`]).
enum Access<'e> {
    /// A property (`d.year`).
    Property(Func),
    /// A method call: its name, its arguments, where it is written.
    Call(&'e str, Vec<Node>, Position),
}

/// `node` after the statements `ahead` computed for it ([`Lowerer::ahead`]): a block, or the
/// node itself when there are none.
fn after(mut ahead: Vec<Stmt>, node: Node) -> Node {
    if ahead.is_empty() {
        return node;
    }
    ahead.push(Stmt::Expr(node));
    Node::Block(Block { stmts: ahead })
}

/// Whether `reader` reads a variable that a block in `setter` assigns.
fn reads_what_it_sets(reader: &Node, setter: &Node) -> bool {
    reader.any(&|n| matches!(n, Node::Var(slot) if assigns(setter, *slot)))
}

/// Whether a block in `setter` assigns (sets, appends to or pushes to) the variable `slot`.
fn assigns(setter: &Node, slot: usize) -> bool {
    fn sets(block: &Block, slot: usize) -> bool {
        block.stmts.iter().any(|stmt| match stmt {
            Stmt::Set(s, _) | Stmt::AppendStr(s, _) | Stmt::Push(s, _) => *s == slot,
            Stmt::If(_, body, branch) => sets(body, slot) || sets(branch, slot),
            _ => false,
        })
    }
    setter.any(&|m| matches!(m, Node::Block(block) if sets(block, slot)))
}
