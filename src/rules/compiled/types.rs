//! Types: which kinds of value each node of a program can give on a batch, inferred from the
//! batch's column types and whether each column has nulls.
//!
//! A node whose values are all of one kind — floats, ints or bools, never `()` — is evaluated
//! into a typed buffer by typed loops; floats or `()` and ints or `()` (a nullable number
//! column, and what is computed from one) into numbers beside a validity flag; any other node
//! into tagged [`Scalar`]s. The inference is
//! a superset of what can happen (a value of another kind reaching a typed buffer would be a
//! bug, and the row is then handed to the interpreter rather than written wrong).
//!
//! [`Scalar`]: super::scalar::Scalar

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::ir::{Aggregate, Binary, Block, Elements, Func, Node, Stmt, Unary};
use super::scalar::{Const, Input, Kind};

/// A set of kinds of value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ty(u16);

impl Ty {
    pub const NONE: Ty = Ty(0);
    pub const UNIT: Ty = Ty(1);
    pub const BOOL: Ty = Ty(1 << 1);
    pub const INT: Ty = Ty(1 << 2);
    pub const FLOAT: Ty = Ty(1 << 3);
    pub const STR: Ty = Ty(1 << 4);
    pub const DATE: Ty = Ty(1 << 5);
    pub const TIMESTAMP: Ty = Ty(1 << 6);
    pub const LIST: Ty = Ty(1 << 7);
    pub const REASONS: Ty = Ty(1 << 8);
    pub const ANY: Ty = Ty(0x1ff);
    /// A `#{ value, reason }` result (only ever the rule's result, held tagged); the types of
    /// its values are in [`Types::map_values`].
    pub const MAP: Ty = Ty(1 << 9);

    const KINDS: [Ty; 9] = [
        Ty::UNIT,
        Ty::BOOL,
        Ty::INT,
        Ty::FLOAT,
        Ty::STR,
        Ty::DATE,
        Ty::TIMESTAMP,
        Ty::LIST,
        Ty::REASONS,
    ];

    pub fn has(self, kind: Ty) -> bool {
        self.0 & kind.0 != 0
    }

    pub fn without(self, kind: Ty) -> Ty {
        Ty(self.0 & !kind.0)
    }

    fn kinds(self) -> impl Iterator<Item = Ty> {
        Ty::KINDS.into_iter().filter(move |k| self.has(*k))
    }

    /// How values of this type are held.
    pub fn kind(self) -> Kind {
        match self {
            Ty::FLOAT => Kind::Float,
            Ty::INT => Kind::Int,
            Ty::BOOL => Kind::Bool,
            Ty::DATE => Kind::Date,
            _ if self == Ty::FLOAT | Ty::UNIT => Kind::OptFloat,
            _ if self == Ty::INT | Ty::UNIT => Kind::OptInt,
            _ => Kind::Tagged,
        }
    }

    /// The type of a constant.
    pub fn of(constant: &Const) -> Ty {
        match constant {
            Const::Unit => Ty::UNIT,
            Const::Bool(_) => Ty::BOOL,
            Const::Int(_) => Ty::INT,
            Const::Float(_) => Ty::FLOAT,
            Const::Str(_) => Ty::STR,
            Const::Date(_) => Ty::DATE,
            Const::Timestamp(_) => Ty::TIMESTAMP,
        }
    }

    /// The type of an input column on this batch.
    pub fn of_input(input: &Input<'_>) -> Ty {
        let (ty, nulls) = match input {
            Input::Float64(a) => (Ty::FLOAT, arrow::array::Array::null_count(*a) > 0),
            Input::Int64(a) => (Ty::INT, arrow::array::Array::null_count(*a) > 0),
            Input::Date32(a) => (Ty::DATE, arrow::array::Array::null_count(*a) > 0),
            Input::Boolean(a) => (Ty::BOOL, arrow::array::Array::null_count(*a) > 0),
            Input::Utf8(a) => (Ty::STR, arrow::array::Array::null_count(*a) > 0),
            Input::List { nulls, .. } => (Ty::LIST, nulls.is_some_and(|n| n.null_count() > 0)),
            // Decimals, other widths, dictionaries: read cell by cell, any scalar kind.
            Input::Cells(_) => return Ty::ANY.without(Ty::LIST).without(Ty::REASONS),
        };
        if nulls {
            ty | Ty::UNIT
        } else {
            ty
        }
    }
}

impl std::ops::BitOr for Ty {
    type Output = Ty;
    fn bitor(self, other: Ty) -> Ty {
        Ty(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for Ty {
    fn bitor_assign(&mut self, other: Ty) {
        self.0 |= other.0;
    }
}

/// The inferred types of a program on one batch.
#[derive(Debug, Default)]
pub struct Types {
    /// Each node's type, by its address in the program. Looked up for every node of every
    /// chunk, so hashed with ahash: SipHash's share of a threshold factor's time was 2-4%.
    nodes: HashMap<usize, Ty, BuildHasherDefault<ahash::AHasher>>,
    /// Each variable slot's type: every value ever assigned to it.
    pub vars: Vec<Ty>,
    /// The program's result: its value and every value it returns ([`Ty::MAP`] for maps).
    pub result: Ty,
    /// The `value` of every `#{ value, reason }` the program gives (`()` for a map without).
    pub map_values: Ty,
}

impl Types {
    /// Infers the types of `program` (with `slots` variables) over inputs of types `inputs`.
    pub fn infer(program: &Block, inputs: &[Ty], slots: usize) -> Self {
        let mut types = Types {
            nodes: HashMap::default(),
            vars: vec![Ty::NONE; slots],
            result: Ty::NONE,
            map_values: Ty::NONE,
        };
        // Variables take the types of their assignments, which may read other variables: repeat
        // until nothing changes (the sets only grow, and there are 9 kinds).
        loop {
            let before = types.vars.clone();
            let value = types.block(program, inputs);
            if types.vars == before {
                types.result |= value;
                return types;
            }
        }
    }

    /// The values rows give as their results: plain results, and the value of each map (whose
    /// reason and shape are held beside them).
    pub fn result_values(&self) -> Ty {
        if self.result.has(Ty::MAP) {
            self.result.without(Ty::MAP) | self.map_values
        } else {
            self.result
        }
    }

    /// The type of `node` (any kind if it was never seen: such a node is held tagged).
    pub fn of(&self, node: &Node) -> Ty {
        self.nodes
            .get(&(node as *const Node as usize))
            .copied()
            .unwrap_or(Ty::ANY)
    }

    /// How `node`'s values are held.
    pub fn kind(&self, node: &Node) -> Kind {
        self.of(node).kind()
    }

    /// The value type of a block.
    fn block(&mut self, block: &Block, inputs: &[Ty]) -> Ty {
        let mut value = Ty::UNIT;
        for stmt in &block.stmts {
            value = match stmt {
                Stmt::Set(slot, node) => {
                    let ty = self.node(node, inputs);
                    self.vars[*slot] |= ty;
                    Ty::UNIT
                }
                Stmt::AppendStr(slot, node) => {
                    let ty = self.node(node, inputs);
                    let current = self.vars[*slot];
                    self.vars[*slot] |= binary(Binary::Add, current, ty) | current;
                    Ty::UNIT
                }
                Stmt::Expr(node) => self.node(node, inputs),
                Stmt::If(condition, body, branch) => {
                    self.node(condition, inputs);
                    self.block(body, inputs) | self.block(branch, inputs)
                }
                Stmt::Return(node) => {
                    let returned = match node {
                        Some(node) => self.node(node, inputs),
                        None => Ty::UNIT,
                    };
                    self.result |= returned;
                    Ty::NONE
                }
                Stmt::Throw(node) | Stmt::Push(_, node) => {
                    self.node(node, inputs);
                    Ty::UNIT
                }
            };
        }
        value
    }

    fn node(&mut self, node: &Node, inputs: &[Ty]) -> Ty {
        let ty = match node {
            Node::Const(c) => Ty::of(c),
            Node::Column(c) => inputs[usize::from(*c)],
            Node::Var(slot) => self.vars[*slot],
            Node::Unary(op, x) => {
                let x = self.node(x, inputs);
                match op {
                    Unary::Not => Ty::BOOL,
                    Unary::Neg | Unary::Plus => Ty(x.0 & (Ty::INT.0 | Ty::FLOAT.0)),
                }
            }
            Node::Binary(op, a, b) => {
                let (a, b) = (self.node(a, inputs), self.node(b, inputs));
                binary(*op, a, b)
            }
            Node::And(operands) | Node::Or(operands) => {
                for operand in operands {
                    self.node(operand, inputs);
                }
                Ty::BOOL
            }
            Node::Coalesce(operands) => {
                let mut ty = Ty::NONE;
                for (k, operand) in operands.iter().enumerate() {
                    let t = self.node(operand, inputs);
                    ty |= if k + 1 < operands.len() {
                        t.without(Ty::UNIT)
                    } else {
                        t
                    };
                }
                ty
            }
            Node::Switch(switch) => {
                self.node(&switch.value, inputs);
                let mut ty = if switch.default.is_some() {
                    Ty::NONE
                } else {
                    Ty::UNIT
                };
                for (condition, body) in &switch.arms {
                    self.node(condition, inputs);
                    ty |= self.node(body, inputs);
                }
                ty
            }
            Node::Block(block) => self.block(block, inputs),
            Node::Call(func, args) => {
                let args: Vec<Ty> = args.iter().map(|a| self.node(a, inputs)).collect();
                call(*func, &args)
            }
            Node::Aggregate(aggregate, elements) => {
                match elements {
                    Elements::Literal(items) => {
                        for item in items {
                            self.node(item, inputs);
                        }
                    }
                    Elements::List(list) => {
                        self.node(list, inputs);
                    }
                }
                match aggregate {
                    Aggregate::Sum => Ty::FLOAT,
                    Aggregate::Mean | Aggregate::Stdev | Aggregate::Trend | Aggregate::Growth => {
                        Ty::FLOAT | Ty::UNIT
                    }
                    Aggregate::MinOf | Aggregate::MaxOf => Ty::INT | Ty::FLOAT | Ty::UNIT,
                }
            }
            Node::Band(x, band) => {
                self.node(x, inputs);
                match band {
                    Ok(band) => band.scores.iter().fold(Ty::NONE, |t, c| t | Ty::of(c)),
                    Err(()) => Ty::NONE,
                }
            }
            Node::In(x, _) => {
                self.node(x, inputs);
                Ty::BOOL
            }
            Node::Template(parts) => {
                for part in parts {
                    self.node(part, inputs);
                }
                Ty::STR
            }
            Node::Reasons(items) => {
                for item in items {
                    self.node(item, inputs);
                }
                Ty::REASONS
            }
            Node::Result { value, reason, .. } => {
                let value = match value {
                    Some(value) => self.node(value, inputs),
                    None => Ty::UNIT,
                };
                self.map_values |= value;
                if let Some(reason) = reason {
                    self.node(reason, inputs);
                }
                Ty::MAP
            }
        };
        self.nodes.insert(node as *const Node as usize, ty);
        ty
    }
}

/// What a binary operator can give for operands of these types (rows it would fail give
/// nothing: they go to the interpreter).
fn binary(op: Binary, a: Ty, b: Ty) -> Ty {
    if op.compares() {
        return Ty::BOOL;
    }
    let mut ty = Ty::NONE;
    for x in a.kinds() {
        for y in b.kinds() {
            ty |= match (x, y) {
                (Ty::INT, Ty::INT) => Ty::INT,
                (Ty::INT | Ty::FLOAT, Ty::INT | Ty::FLOAT) => Ty::FLOAT,
                (Ty::STR, Ty::STR) | (Ty::UNIT, Ty::STR) | (Ty::STR, Ty::UNIT)
                    if op == Binary::Add =>
                {
                    Ty::STR
                }
                (Ty::DATE, Ty::DATE) if op == Binary::Sub => Ty::INT,
                (Ty::DATE, Ty::INT) if matches!(op, Binary::Add | Binary::Sub) => Ty::DATE,
                (Ty::INT, Ty::DATE) if op == Binary::Add => Ty::DATE,
                (Ty::TIMESTAMP, Ty::TIMESTAMP) if op == Binary::Sub => Ty::FLOAT,
                _ => Ty::NONE,
            };
        }
    }
    ty
}

/// What a helper can give for arguments of these types.
fn call(func: Func, args: &[Ty]) -> Ty {
    let numbers = |t: Ty| Ty(t.0 & (Ty::INT.0 | Ty::FLOAT.0));
    match func {
        Func::Clamp
        | Func::Scale
        | Func::Pow
        | Func::RoundTo
        | Func::Ln
        | Func::Exp
        | Func::Sqrt
        | Func::Log10
        | Func::LogOne
        | Func::Log
        | Func::Ceiling
        | Func::Round
        | Func::FloorProperty
        | Func::ToFloat => Ty::FLOAT,
        Func::Pct => Ty::FLOAT | Ty::UNIT,
        Func::SafeDiv => Ty::FLOAT | args.get(2).copied().unwrap_or(Ty::ANY),
        Func::Max | Func::Min => {
            let (a, b) = (args[0], args[1]);
            let mut ty = Ty::NONE;
            if a.has(Ty::INT) && b.has(Ty::INT) {
                ty |= Ty::INT;
            }
            if numbers(a) != Ty::NONE
                && numbers(b) != Ty::NONE
                && (a.has(Ty::FLOAT) || b.has(Ty::FLOAT))
            {
                ty |= Ty::FLOAT;
            }
            ty
        }
        Func::Floor | Func::Ceil | Func::Abs => numbers(args[0]),
        Func::ToInt
        | Func::Len
        | Func::Year
        | Func::Month
        | Func::Day
        | Func::Weekday
        | Func::Hour => Ty::INT,
        Func::DateOf | Func::DateOfTimestamp => Ty::DATE,
        Func::TimestampOf => Ty::TIMESTAMP,
        Func::DaysBetween => Ty::INT | Ty::FLOAT,
        Func::ToString => Ty::STR,
    }
}
