//! The program a compiled rule runs: rhai's optimised AST lowered to a small tree whose every
//! node evaluates over a selection of rows at once.
//!
//! Names are resolved (to a column or a variable slot), params are constants, and every
//! function and operator is one of the operations below; anything else kept the rule on the
//! interpreter (see `lower`).

use super::scalar::Const;

/// An expression.
#[derive(Debug, Clone)]
pub enum Node {
    Const(Const),
    /// An input column (an index into the rule's columns).
    Column(u16),
    /// A local variable (a slot).
    Var(usize),
    Unary(Unary, Box<Node>),
    Binary(Binary, Box<Node>, Box<Node>),
    /// `a && b && …`: short-circuit; every operand must be a bool.
    And(Vec<Node>),
    /// `a || b || …`.
    Or(Vec<Node>),
    /// `a ?? b ?? …`: the first operand that is not `()`.
    Coalesce(Vec<Node>),
    /// `switch` as an expression.
    Switch(Box<Switch>),
    /// `{ … }`: a block's value (its last statement's).
    Block(Block),
    /// A helper, method or property.
    Call(Func, Vec<Node>),
    /// `sum`, `mean`, … over an array literal or a list value.
    Aggregate(Aggregate, Elements),
    /// `band(x, [cuts], [scores])` with constant arrays, checked when the rule was built:
    /// `Err` is the message every row reaching it fails with.
    Band(Box<Node>, Result<Band, ()>),
    /// `x in [constants]`.
    In(Box<Node>, Vec<Const>),
    /// A template string: each part's text, joined.
    Template(Vec<Node>),
    /// `[]` or `[a, b]` (strings) that becomes a reasons array.
    Reasons(Vec<Node>),
    /// `#{ value: …, reason: … }`, allowed only where it becomes the rule's result. `valid` is
    /// false when its keys are not `value` and optionally `reason` (every row reaching it fails
    /// when read as a factor, as in the interpreter).
    Result {
        value: Option<Box<Node>>,
        reason: Option<Box<Node>>,
        valid: bool,
    },
}

/// A statement.
#[derive(Debug, Clone)]
pub enum Stmt {
    /// `let` / `const`, and `x = …` on a variable (slot), and `x op= …` lowered to `x = x op …`.
    Set(usize, Node),
    /// `x += …` on strings, which rhai size-checks only when both sides are non-empty.
    AppendStr(usize, Node),
    /// An expression evaluated for its value (the block's value if it is the last statement).
    Expr(Node),
    /// `if` as a statement.
    If(Node, Block, Block),
    /// `return …` (the result, in result position) and `return`.
    Return(Option<Node>),
    /// `throw …`: the row fails.
    Throw(Node),
    /// `reasons.push(text)` on a reasons variable.
    Push(usize, Node),
}

/// Statements; a block's value is its last statement's, `()` when it is empty or the last is
/// no expression.
#[derive(Debug, Clone, Default)]
pub struct Block {
    pub stmts: Vec<Stmt>,
}

impl Block {
    /// Whether any node below satisfies `test`.
    pub fn any_node(&self, test: &impl Fn(&Node) -> bool) -> bool {
        self.stmts.iter().any(|stmt| match stmt {
            Stmt::Set(_, n)
            | Stmt::AppendStr(_, n)
            | Stmt::Expr(n)
            | Stmt::Throw(n)
            | Stmt::Push(_, n) => n.any(test),
            Stmt::If(c, body, branch) => {
                c.any(test) || body.any_node(test) || branch.any_node(test)
            }
            Stmt::Return(n) => n.as_ref().is_some_and(|n| n.any(test)),
        })
    }

    /// Whether any statement below is a `return`.
    pub fn returns(&self) -> bool {
        self.stmts.iter().any(|stmt| match stmt {
            Stmt::Return(_) => true,
            Stmt::If(_, body, branch) => body.returns() || branch.returns(),
            _ => false,
        }) || self.any_node(&|node| matches!(node, Node::Block(b) if b.returns()))
    }
}

impl Node {
    /// Whether this node or any below it satisfies `test`.
    pub fn any(&self, test: &impl Fn(&Node) -> bool) -> bool {
        if test(self) {
            return true;
        }
        let all = |nodes: &[Node]| nodes.iter().any(|n| n.any(test));
        match self {
            Node::Const(_) | Node::Column(_) | Node::Var(_) => false,
            Node::Unary(_, x) | Node::Band(x, _) | Node::In(x, _) => x.any(test),
            Node::Binary(_, a, b) => a.any(test) || b.any(test),
            Node::And(ns)
            | Node::Or(ns)
            | Node::Coalesce(ns)
            | Node::Template(ns)
            | Node::Reasons(ns) => all(ns),
            Node::Call(_, ns) => all(ns),
            Node::Switch(switch) => {
                switch.value.any(test)
                    || switch.arms.iter().any(|(c, b)| c.any(test) || b.any(test))
            }
            Node::Block(block) => block.any_node(test),
            Node::Aggregate(_, Elements::Literal(ns)) => all(ns),
            Node::Aggregate(_, Elements::List(x)) => x.any(test),
            Node::Result { value, reason, .. } => {
                value.as_ref().is_some_and(|v| v.any(test))
                    || reason.as_ref().is_some_and(|r| r.any(test))
            }
        }
    }

    /// Whether a block stands anywhere in this node: the only place statements, and so
    /// assignments, can appear inside an expression.
    pub fn holds_block(&self) -> bool {
        self.any(&|n| matches!(n, Node::Block(_)))
    }
}

/// A `switch` over a value: cases found by rhai's hash of the value.
#[derive(Debug, Clone)]
pub struct Switch {
    pub value: Node,
    /// rhai's hash of each case value, with the (condition, result) pairs that share it.
    pub cases: Vec<(u64, Vec<usize>)>,
    /// Conditions and results, by index.
    pub arms: Vec<(Node, Node)>,
    /// The `_` arm.
    pub default: Option<usize>,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    Neg,
    Not,
    /// Unary `+`: an int or float unchanged.
    Plus,
}

/// Binary operators, with rhai's rules for the operand types they meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Binary {
    /// The operator of a rhai function name, if it is one of these.
    pub fn of(name: &str) -> Option<Self> {
        Some(match name {
            "+" => Binary::Add,
            "-" => Binary::Sub,
            "*" => Binary::Mul,
            "/" => Binary::Div,
            "%" => Binary::Rem,
            "**" => Binary::Pow,
            "==" => Binary::Eq,
            "!=" => Binary::Ne,
            "<" => Binary::Lt,
            "<=" => Binary::Le,
            ">" => Binary::Gt,
            ">=" => Binary::Ge,
            _ => return None,
        })
    }

    /// Whether this compares (and so gives a bool).
    pub fn compares(self) -> bool {
        matches!(
            self,
            Binary::Eq | Binary::Ne | Binary::Lt | Binary::Le | Binary::Gt | Binary::Ge
        )
    }

    /// The comparison with its operands swapped: `a < b` is `b > a`.
    pub fn swapped(self) -> Binary {
        match self {
            Binary::Lt => Binary::Gt,
            Binary::Le => Binary::Ge,
            Binary::Gt => Binary::Lt,
            Binary::Ge => Binary::Le,
            other => other,
        }
    }
}

/// The helpers, methods and properties compiled rules call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Clamp,
    Scale,
    Pct,
    /// `safe_div(a, b, default)`.
    SafeDiv,
    Pow,
    RoundTo,
    /// `max(a, b)` / `min(a, b)` on numbers.
    Max,
    Min,
    /// `ln`, `exp`, `sqrt`, `log10`: floats, ints widened.
    Ln,
    Exp,
    Sqrt,
    Log10,
    /// `log(x)`: the base-10 logarithm of a float (rhai has no int version).
    LogOne,
    /// `log(x, base)`: floats only.
    Log,
    /// `floor()`, `ceil()`: an int stays an int; `ceiling`, `round` and the property `.floor`:
    /// floats only.
    Floor,
    FloorProperty,
    Ceil,
    Ceiling,
    Round,
    Abs,
    ToInt,
    ToFloat,
    /// `.len()`: characters of a string, elements of a list or reasons array.
    Len,
    /// `date("2026-11-01")`, `date(y, m, d)`.
    DateOf,
    TimestampOf,
    DaysBetween,
    /// `.year`, `.month`, `.day`, `.weekday` of a date; `.hour` and `.date` of a timestamp.
    Year,
    Month,
    Day,
    Weekday,
    Hour,
    DateOfTimestamp,
    /// `to_string(x)` / `x.to_string()`.
    ToString,
}

/// The array aggregates; their numbers skip `()` elements, like SQL aggregates skip nulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Mean,
    Stdev,
    Trend,
    Growth,
    MinOf,
    MaxOf,
}

/// The elements an aggregate reads.
#[derive(Debug, Clone)]
pub enum Elements {
    /// An array literal: each element's value per row.
    Literal(Vec<Node>),
    /// A value that must be a list (a list column, or a variable holding one).
    List(Box<Node>),
}

/// A `band` with constant cuts and scores.
#[derive(Debug, Clone)]
pub struct Band {
    pub cuts: Vec<f64>,
    pub scores: Vec<Const>,
    /// The scores, when every one is an int.
    pub int_scores: Option<Vec<i64>>,
}
