//! Running a compiled program over a chunk of rows at once.
//!
//! Every node evaluates for a selection of the chunk's rows (positions, ascending) into a
//! buffer with one value per position: a typed buffer of floats, ints or bools when its type
//! (see `types`) is that one kind on this batch, tagged [`Scalar`]s otherwise. `if`, `&&`,
//! `||`, `??` and `switch` split the selection, so a branch runs only for the rows that take it
//! — an error in a branch a row does not take cannot touch that row. A row that returns, or is
//! deferred to the interpreter, is marked done and leaves every selection after the statement
//! it happened in.
//!
//! One concern a file: this one holds the chunk ([`Chunk`]) and its core: building it, running
//! the program, the pool of buffers, statements ([`Chunk::block`]) and the evaluation of each
//! node ([`Chunk::eval`]), and the rows' results. The rest, in its own module:
//!
//! - [`marks`]: which rows are done, or left to the interpreter;
//! - [`select`]: selections (dropping done rows, splitting by a condition, copying the selected
//!   rows) and the picking `if`, which computes both branches and picks with no branch a row;
//! - [`kernels`]: typed loops over float, int and bool buffers (arithmetic and comparisons),
//!   and reading float operands in place;
//! - [`lists`]: list columns and the aggregates (`sum`, `mean`, `min_of` …) over them;
//! - [`calls`]: helper calls, and rhai's size checks on arrays and strings;
//! - [`switch`]: `switch`, its arms found by rhai's hash of the value.

use super::ir::{Binary, Block, Node, Stmt, Unary};
use super::ops::{binary, display, unary, Defer, Strings};
use super::scalar::Kind;
pub use super::scalar::CHUNK;
use super::scalar::{Buf, Input, Scalar};
use super::types::Types;
use crate::rules::library;

/// `$body` with `$x` bound to the [`Floats`] as an [`Operand`] of its own type.
///
/// [`Floats`]: kernels::Floats
/// [`Operand`]: kernels::Operand
macro_rules! with_float {
    ($a:expr, |$x:ident| $body:expr) => {
        match $a {
            Floats::Each($x) => $body,
            Floats::All(v) => {
                let $x = Splat(v);
                $body
            }
        }
    };
}

/// `$body` with `$x` and `$y` bound to the two [`Floats`] as [`Operand`]s of their own types,
/// so each pairing gets its own loop.
///
/// [`Floats`]: kernels::Floats
/// [`Operand`]: kernels::Operand
macro_rules! with_floats {
    ($a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {
        with_float!($a, |$x| with_float!($b, |$y| $body))
    };
}

/// `$body!(Binary::X)` for the comparison `$op`, so each operator gets its own loop.
macro_rules! each_comparison {
    ($op:expr, $body:ident) => {
        match $op {
            Binary::Eq => $body!(Binary::Eq),
            Binary::Ne => $body!(Binary::Ne),
            Binary::Lt => $body!(Binary::Lt),
            Binary::Le => $body!(Binary::Le),
            Binary::Gt => $body!(Binary::Gt),
            _ => $body!(Binary::Ge),
        }
    };
}

// The macros above are used in `kernels` and `select`: a macro is in scope only after its
// definition, so they stay before these lines.
mod calls;
mod kernels;
mod lists;
mod marks;
mod select;
mod switch;

pub use kernels::{all_finite, not_finite_bits, Numbers};
use marks::Marks;
use select::{fill, take_valid};

/// How a result was given: a plain value, or a `#{ value, reason }` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Plain,
    Map,
    /// A map whose keys are not `value` (and optionally `reason`).
    BadMap,
}

/// The index in [`Chunk::lists`] of the empty list every `[]` starts as, shared by the rows
/// and never pushed to: a row's first push gives it a list of its own.
const EMPTY_LIST: u32 = 0;

/// A reasons array being built.
#[derive(Debug, Default)]
pub struct ReasonList<'b> {
    /// The strings pushed, in order.
    pub texts: Vec<&'b str>,
    /// Elements, strings or not.
    pub len: usize,
    /// Something other than a string was pushed (such a reason fails the row).
    pub mixed: bool,
}

/// Where a block's value goes.
enum Dest<'o, 'b> {
    Value(&'o mut Buf<'b>),
    Result,
    Discard,
}

impl<'b> Dest<'_, 'b> {
    fn reborrow(&mut self) -> Dest<'_, 'b> {
        match self {
            Dest::Value(out) => Dest::Value(out),
            Dest::Result => Dest::Result,
            Dest::Discard => Dest::Discard,
        }
    }
}

/// The state of one chunk of rows while a program runs over it.
pub struct Chunk<'b> {
    /// The batch row of position 0.
    base: usize,
    inputs: &'b [Input<'b>],
    types: &'b Types,
    pub strings: Strings<'b>,
    /// `limits.max_array_size` (0: none).
    max_array: usize,
    vars: Vec<Buf<'b>>,
    /// Spare buffers of each kind, for the nodes of this run. The typed ones go to the thread's
    /// store ([`Buf::recycle`]) only when the run ends: taking and giving every node's buffer
    /// through that store cost 0.45% more instructions for the whole run (callgrind, 100,000
    /// rows, one thread).
    pool: [Vec<Buf<'b>>; 7],
    /// Rows done (returned or left to the interpreter), and rows left to the interpreter.
    pub marks: Marks,
    /// The reasons arrays of this run's rows, a [`Scalar::Reasons`] holding an index; the first
    /// is the shared empty one ([`EMPTY_LIST`]).
    pub lists: Vec<ReasonList<'b>>,
    /// Each row's result: its value (a map's value included; typed when all values are of one
    /// kind; in [`Chunk::direct`] instead when the run appended them there), and, when the
    /// program gives maps, its reason and how it was given.
    pub result: Buf<'b>,
    pub reason: Vec<Scalar<'b>>,
    pub shape: Vec<Shape>,
    /// Whether the program has a `return` (a row's result must then not be written twice).
    returns: bool,
    /// The program (its top-level block).
    program: &'b Block,
    numbers: Vec<(usize, f64)>,
    /// The rule's output, lent for this run when its rows have no gaps (see [`Direct`]).
    pub direct: Option<Direct>,
}

/// A rule's number output lent to a chunk whose rows run without gaps: when one picking `if`
/// ([`Chunk::blend`]) against a constant gives the program's value for every row of the chunk
/// (the program's last statement, or one nested in it that all rows reach), its values are
/// appended here in the loop that picks them, rather than written to [`Chunk::result`] and
/// copied over. A loop that computes and writes the rule's output at once overlaps the
/// arithmetic with the writes to memory, where a copy pass of its own waits on them
/// (BENCHMARKS.md: the threshold factor).
pub struct Direct {
    /// The rule's values so far; the chunk's rows are appended from `numbers.len()`.
    pub numbers: Vec<f64>,
    /// The chunk's positions.
    pub rows: std::ops::Range<usize>,
    /// When the run appended the chunk's values: whether every one is finite.
    pub appended: Option<bool>,
}

fn pool_index(kind: Kind) -> usize {
    match kind {
        Kind::Tagged => 0,
        Kind::Float => 1,
        Kind::Int => 2,
        Kind::Bool => 3,
        Kind::Date => 4,
        Kind::OptFloat => 5,
        Kind::OptInt => 6,
    }
}

/// A rule run's typed buffers go back to its thread, for the next rule's run there (see
/// [`Buf::recycle`]).
impl Drop for Chunk<'_> {
    fn drop(&mut self) {
        let result = std::mem::replace(&mut self.result, Buf::Bool(Vec::new()));
        let pooled = self.pool.iter_mut().flat_map(std::mem::take);
        for buffer in pooled.chain(self.vars.drain(..)).chain([result]) {
            buffer.recycle();
        }
    }
}

impl<'b> Chunk<'b> {
    /// A chunk over `inputs` for `program`, whose types on this batch are `types`, and which
    /// gives `maps` (`#{ value, reason }`) or not.
    pub fn new(
        program: &'b Block,
        inputs: &'b [Input<'b>],
        types: &'b Types,
        strings: Strings<'b>,
        max_array: usize,
        maps: bool,
    ) -> Self {
        // A map's value is held with the plain results (typed when all are floats, say), its
        // reason and shape beside them.
        let result = types.result_values().kind();
        Self {
            base: 0,
            inputs,
            types,
            strings,
            max_array,
            vars: types.vars.iter().map(|ty| Buf::new(ty.kind())).collect(),
            pool: Default::default(),
            marks: Marks::new(),
            lists: Vec::new(),
            result: Buf::new(result),
            reason: if maps {
                vec![Scalar::Unit; CHUNK]
            } else {
                Vec::new()
            },
            shape: if maps {
                vec![Shape::Plain; CHUNK]
            } else {
                Vec::new()
            },
            returns: program.returns(),
            program,
            numbers: Vec::new(),
            direct: None,
        }
    }

    /// Runs the program for the rows at `selection` (positions) of the chunk starting at batch
    /// row `base`; results are in [`Chunk::result`] (or appended to [`Chunk::direct`], which
    /// then says so), or the row is deferred ([`Chunk::marks`]).
    pub fn run(&mut self, base: usize, selection: &[u16]) {
        self.base = base;
        self.marks.reset();
        self.lists.clear();
        self.lists.push(ReasonList::default());
        self.block(self.program, selection.to_vec(), Dest::Result);
    }

    fn take(&mut self, kind: Kind) -> Buf<'b> {
        self.pool[pool_index(kind)]
            .pop()
            .unwrap_or_else(|| Buf::new(kind))
    }

    /// A buffer for `node`'s values.
    fn take_for(&mut self, node: &Node) -> Buf<'b> {
        let kind = self.types.kind(node);
        self.take(kind)
    }

    fn give(&mut self, buffer: Buf<'b>) {
        self.pool[pool_index(buffer.kind())].push(buffer);
    }

    /// Leaves row `i` to the interpreter, unless it is already done.
    #[inline]
    fn defer(&mut self, i: u16) {
        self.marks.defer(usize::from(i));
    }

    /// Writes `value` for row `p` of `out`, or defers the row if `out` cannot hold it.
    #[inline]
    fn put(&mut self, out: &mut Buf<'b>, i: u16, value: Scalar<'b>) {
        if !out.put(usize::from(i), value) {
            self.defer(i);
        }
    }

    fn block(&mut self, block: &'b Block, mut selection: Vec<u16>, mut dest: Dest<'_, 'b>) {
        self.live(&mut selection);
        let count = block.stmts.len();
        if count == 0 {
            self.unit(&selection, dest);
            return;
        }
        // The program's own block: its selection holds every row still running.
        let top = std::ptr::eq(block, self.program);
        for (k, stmt) in block.stmts.iter().enumerate() {
            if selection.is_empty() {
                return;
            }
            let last = k + 1 == count;
            match stmt {
                Stmt::Set(slot, node) => {
                    let mut values = self.take_for(node);
                    self.eval(node, &selection, &mut values);
                    if top && values.kind() == self.vars[*slot].kind() {
                        // No row outside a top-level selection reads the variable again (they
                        // are done, or not in the chunk's selection): the buffer is taken whole
                        // rather than copied row by row.
                        std::mem::swap(&mut self.vars[*slot], &mut values);
                    } else {
                        let mut var =
                            std::mem::replace(&mut self.vars[*slot], Buf::Bool(Vec::new()));
                        self.copy(&values, &selection, &mut var);
                        self.vars[*slot] = var;
                    }
                    self.give(values);
                }
                Stmt::AppendStr(slot, node) => {
                    let mut values = self.take_for(node);
                    self.eval(node, &selection, &mut values);
                    let mut var = std::mem::replace(&mut self.vars[*slot], Buf::Bool(Vec::new()));
                    for &i in &selection {
                        let p = usize::from(i);
                        let (current, added) = (var.get(p), values.get(p));
                        let appended = match (current, added) {
                            // rhai's `+=` on strings checks the size only when both are non-empty.
                            (Scalar::Str(a), Scalar::Str(b)) if a.is_empty() || b.is_empty() => {
                                Ok(if a.is_empty() { added } else { current })
                            }
                            // No built-in `+=` for the two: rhai assigns `a + b` and checks
                            // its size (`+` of a string and `()` checks nothing itself).
                            (a, b) => {
                                binary(Binary::Add, a, b, &self.strings).and_then(|sum| match sum {
                                    Scalar::Str(text)
                                        if self.strings.max_len > 0
                                            && text.len() > self.strings.max_len =>
                                    {
                                        Err(Defer)
                                    }
                                    sum => Ok(sum),
                                })
                            }
                        };
                        match appended {
                            Ok(v) => self.put(&mut var, i, v),
                            Err(Defer) => self.defer(i),
                        }
                    }
                    self.vars[*slot] = var;
                    self.give(values);
                }
                Stmt::Expr(node) => {
                    if last {
                        self.value(node, &selection, dest);
                        return;
                    }
                    let mut values = self.take_for(node);
                    self.eval(node, &selection, &mut values);
                    self.give(values);
                }
                Stmt::If(condition, body, branch) => {
                    if last && self.blend(condition, body, branch, &selection, &mut dest) {
                        return;
                    }
                    let (yes, no) = self.split(&selection, condition);
                    if last {
                        self.block(body, yes, dest.reborrow());
                        self.block(branch, no, dest);
                        return;
                    }
                    self.block(body, yes, Dest::Discard);
                    self.block(branch, no, Dest::Discard);
                }
                Stmt::Return(node) => {
                    match node {
                        Some(node) => self.result_of(node, &selection),
                        None => self.unit(&selection, Dest::Result),
                    }
                    for &i in &selection {
                        self.marks.finish(usize::from(i));
                    }
                    return;
                }
                Stmt::Throw(node) => {
                    let mut values = self.take_for(node);
                    self.eval(node, &selection, &mut values);
                    self.give(values);
                    for &i in &selection {
                        self.defer(i);
                    }
                    return;
                }
                Stmt::Push(slot, node) => {
                    let mut values = self.take_for(node);
                    self.eval(node, &selection, &mut values);
                    for &i in &selection {
                        let p = usize::from(i);
                        match (self.vars[*slot].get(p), values.get(p)) {
                            // An array in an array: sized as rhai sizes it by the interpreter.
                            (_, Scalar::List(..) | Scalar::Reasons(_)) => self.defer(i),
                            (Scalar::Reasons(mut index), value) => {
                                if index == EMPTY_LIST {
                                    // The row's first push: its own list from here on.
                                    index = self.lists.len() as u32;
                                    self.lists.push(ReasonList::default());
                                    // A reasons variable is held tagged: the put cannot fail.
                                    let stored = self.vars[*slot].put(p, Scalar::Reasons(index));
                                    debug_assert!(stored, "a reasons variable is held tagged");
                                }
                                let reasons = Scalar::Reasons(index);
                                let list = &mut self.lists[index as usize];
                                list.len += 1;
                                match value {
                                    Scalar::Str(text) => list.texts.push(text),
                                    _ => list.mixed = true,
                                }
                                // `push` takes the array by reference and rhai checks its size
                                // after the call.
                                if self.over_limits(reasons) {
                                    self.defer(i);
                                }
                            }
                            _ => self.defer(i),
                        }
                    }
                    self.give(values);
                }
            }
            if last {
                // The last statement was no expression: the block's value is `()`.
                self.live(&mut selection);
                self.unit(&selection, dest);
                return;
            }
            self.live(&mut selection);
        }
    }

    /// Writes `()` as the value of `selection`.
    fn unit(&mut self, selection: &[u16], dest: Dest<'_, 'b>) {
        match dest {
            Dest::Value(out) => {
                for &i in selection {
                    self.put(out, i, Scalar::Unit);
                }
            }
            Dest::Result => {
                for &i in selection {
                    self.set_result(i, Scalar::Unit, Scalar::Unit, Shape::Plain);
                }
            }
            Dest::Discard => {}
        }
    }

    fn value(&mut self, node: &'b Node, selection: &[u16], dest: Dest<'_, 'b>) {
        match dest {
            Dest::Value(out) => self.eval(node, selection, out),
            Dest::Result => self.result_of(node, selection),
            Dest::Discard => {
                let mut values = self.take_for(node);
                self.eval(node, selection, &mut values);
                self.give(values);
            }
        }
    }

    fn set_result(&mut self, i: u16, value: Scalar<'b>, reason: Scalar<'b>, shape: Shape) {
        let p = usize::from(i);
        if self.marks.is_done(p) {
            return;
        }
        if !self.result.put(p, value) {
            self.defer(i);
        }
        if !self.shape.is_empty() {
            self.reason[p] = reason;
            self.shape[p] = shape;
        }
    }

    /// [`Chunk::set_result`] for each row of `selection`: its value from `values` and its
    /// reason from `reasons` (`()` where `None`). When no row of `selection` is done (the
    /// usual case: rows that returned leave the selections after their `return`) and the
    /// results' buffer is of the values' own kind or tagged (so every value fits it), the
    /// values are copied a column at a time and only the reasons and shapes are written row
    /// by row (`set_result` and `result_of` a row at a time were 3.3% of the shipped
    /// pipeline's instructions: BENCHMARKS.md, 2026-12-04 12:55-14:40 UTC).
    fn set_results(
        &mut self,
        selection: &[u16],
        values: Option<&Buf<'b>>,
        reasons: Option<&Buf<'b>>,
        shape: Shape,
    ) {
        let result = self.result.kind();
        let Some(values) = values.filter(|v| {
            (v.kind() == result || result == Kind::Tagged) && !self.marks.any_done(selection)
        }) else {
            for &i in selection {
                let p = usize::from(i);
                let value = values.map_or(Scalar::Unit, |v| v.get(p));
                let reason = reasons.map_or(Scalar::Unit, |r| r.get(p));
                self.set_result(i, value, reason, shape);
            }
            return;
        };
        let mut results = std::mem::replace(&mut self.result, Buf::Bool(Vec::new()));
        self.copy(values, selection, &mut results);
        self.result = results;
        if self.shape.is_empty() {
            return;
        }
        match reasons {
            Some(Buf::Tagged(reasons)) => {
                for &i in selection {
                    let p = usize::from(i);
                    self.reason[p] = reasons[p];
                    self.shape[p] = shape;
                }
            }
            Some(reasons) => {
                for &i in selection {
                    let p = usize::from(i);
                    self.reason[p] = reasons.get(p);
                    self.shape[p] = shape;
                }
            }
            None => {
                for &i in selection {
                    let p = usize::from(i);
                    self.reason[p] = Scalar::Unit;
                    self.shape[p] = shape;
                }
            }
        }
    }

    /// Evaluates `node` as the rule's result for `selection`.
    fn result_of(&mut self, node: &'b Node, selection: &[u16]) {
        match node {
            Node::Result {
                value,
                reason,
                valid,
            } => {
                let shape = if *valid { Shape::Map } else { Shape::BadMap };
                let values = value.as_ref().map(|value| {
                    let mut values = self.take_for(value);
                    self.eval(value, selection, &mut values);
                    values
                });
                let reasons = reason.as_ref().map(|reason| {
                    let mut reasons = self.take_for(reason);
                    self.eval(reason, selection, &mut reasons);
                    reasons
                });
                if let Some(reasons) = &reasons {
                    // rhai checks the map's sizes as it builds it: a reason over the limits
                    // fails the row.
                    for &i in selection {
                        if self.over_limits(reasons.get(usize::from(i))) {
                            self.defer(i);
                        }
                    }
                }
                self.set_results(selection, values.as_ref(), reasons.as_ref(), shape);
                for buffer in values.into_iter().chain(reasons) {
                    self.give(buffer);
                }
            }
            Node::Block(block) => self.block(block, selection.to_vec(), Dest::Result),
            Node::Switch(switch) => self.switch(switch, selection, Dest::Result),
            other if !self.returns && self.shape.is_empty() => {
                // No row can be done with a result already: evaluate straight into the results.
                let mut result = std::mem::replace(&mut self.result, Buf::Bool(Vec::new()));
                self.eval(other, selection, &mut result);
                self.result = result;
            }
            other => {
                let mut values = self.take_for(other);
                self.eval(other, selection, &mut values);
                self.set_results(selection, Some(&values), None, Shape::Plain);
                self.give(values);
            }
        }
    }

    /// Evaluates `node` for `selection` into `out`, converting when `out` holds another kind.
    pub fn eval(&mut self, node: &'b Node, selection: &[u16], out: &mut Buf<'b>) {
        let kind = self.types.kind(node);
        if kind == out.kind() {
            self.eval_into(node, selection, out);
        } else {
            let mut values = self.take(kind);
            self.eval_into(node, selection, &mut values);
            self.copy(&values, selection, out);
            self.give(values);
        }
    }

    /// Evaluates `node` into `out`, which holds `node`'s kind.
    fn eval_into(&mut self, node: &'b Node, selection: &[u16], out: &mut Buf<'b>) {
        match node {
            Node::Const(constant) => match (out, constant.scalar()) {
                (Buf::Float(o), Scalar::Float(f)) => fill(o, selection, f),
                (Buf::Int(o), Scalar::Int(n)) => fill(o, selection, n),
                (Buf::Bool(o), Scalar::Bool(b)) => fill(o, selection, b),
                (Buf::Date(o), Scalar::Date(d)) => fill(o, selection, d),
                (Buf::Tagged(o), value) => fill(o, selection, value),
                (out, value) => {
                    for &i in selection {
                        self.put(out, i, value);
                    }
                }
            },
            Node::Column(column) => {
                let input = &self.inputs[usize::from(*column)];
                if !input.read(self.base, selection, *column, out) {
                    for &i in selection {
                        let value = input.get(self.base + usize::from(i), *column);
                        self.put(out, i, value);
                    }
                }
            }
            Node::Var(slot) => {
                let var = std::mem::replace(&mut self.vars[*slot], Buf::Bool(Vec::new()));
                self.copy(&var, selection, out);
                self.vars[*slot] = var;
            }
            Node::Unary(op, x) => {
                self.eval(x, selection, out);
                match (op, &mut *out) {
                    (Unary::Neg, Buf::Float(v)) => {
                        for &i in selection {
                            v[usize::from(i)] = -v[usize::from(i)];
                        }
                    }
                    (Unary::Not, Buf::Bool(v)) => {
                        for &i in selection {
                            v[usize::from(i)] = !v[usize::from(i)];
                        }
                    }
                    _ => {
                        for &i in selection {
                            let p = usize::from(i);
                            match unary(*op, out.get(p)) {
                                Ok(v) => self.put(out, i, v),
                                Err(Defer) => self.defer(i),
                            }
                        }
                    }
                }
            }
            Node::Binary(op, a, b) => self.binary(*op, a, b, selection, out),
            Node::And(operands) | Node::Or(operands) => {
                let and = matches!(node, Node::And(_));
                let mut active = selection.to_vec();
                for operand in operands {
                    let mut values = self.take_for(operand);
                    self.eval(operand, &active, &mut values);
                    let mut kept = Vec::with_capacity(active.len());
                    match (&values, &mut *out) {
                        (Buf::Bool(v), Buf::Bool(o)) => {
                            // No branch a row (as in `split`): every row's operand is written
                            // (a row that goes on is written over by the next operand, or at
                            // the end), every row to `kept`, counted when it goes on.
                            kept.resize(active.len(), 0);
                            let mut going_on = 0;
                            for &i in &active {
                                let p = usize::from(i);
                                o[p] = v[p];
                                kept[going_on] = i;
                                going_on += usize::from(v[p] == and);
                            }
                            kept.truncate(going_on);
                        }
                        _ => {
                            for &i in &active {
                                let p = usize::from(i);
                                match values.get(p) {
                                    Scalar::Bool(b) if b == and => kept.push(i),
                                    Scalar::Bool(b) => self.put(out, i, Scalar::Bool(b)),
                                    _ => self.defer(i),
                                }
                            }
                        }
                    }
                    self.give(values);
                    active = kept;
                }
                for &i in &active {
                    self.put(out, i, Scalar::Bool(and));
                }
            }
            Node::Coalesce(operands) => {
                let mut active = selection.to_vec();
                for (k, operand) in operands.iter().enumerate() {
                    if k + 1 == operands.len() {
                        self.eval(operand, &active, out);
                        break;
                    }
                    let mut values = self.take_for(operand);
                    self.eval(operand, &active, &mut values);
                    let mut unit = Vec::with_capacity(active.len());
                    match (&values, &mut *out) {
                        (Buf::OptFloat(v, valid), Buf::Float(o)) => {
                            take_valid(v, valid, o, &active, &mut unit)
                        }
                        (Buf::OptInt(v, valid), Buf::Int(o)) => {
                            take_valid(v, valid, o, &active, &mut unit)
                        }
                        _ => {
                            for &i in &active {
                                match values.get(usize::from(i)) {
                                    Scalar::Unit => unit.push(i),
                                    value => self.put(out, i, value),
                                }
                            }
                        }
                    }
                    self.give(values);
                    active = unit;
                }
            }
            Node::Switch(switch) => self.switch(switch, selection, Dest::Value(out)),
            Node::Block(block) => self.block(block, selection.to_vec(), Dest::Value(out)),
            Node::Call(func, args) => self.call(*func, args, selection, out),
            Node::Aggregate(aggregate, elements) => {
                self.aggregate(*aggregate, elements, selection, out)
            }
            Node::Band(x, band) => {
                let mut values = self.take_for(x);
                self.eval(x, selection, &mut values);
                if let (Some(x), Ok(band), Buf::Int(o)) = (Numbers::of(&values), band, &mut *out) {
                    if let Some(scores) = &band.int_scores {
                        for &i in selection {
                            let p = usize::from(i);
                            o[p] = scores[library::band_index(x.at(p), &band.cuts)];
                        }
                        self.give(values);
                        return;
                    }
                }
                for &i in selection {
                    let p = usize::from(i);
                    match (values.get(p).number(), band) {
                        (Some(x), Ok(band)) => {
                            let score = band.scores[library::band_index(x, &band.cuts)].scalar();
                            self.put(out, i, score);
                        }
                        _ => self.defer(i),
                    }
                }
                self.give(values);
            }
            Node::In(x, items) => {
                let mut values = self.take_for(x);
                self.eval(x, selection, &mut values);
                'rows: for &i in selection {
                    let value = values.get(usize::from(i));
                    for item in items {
                        match binary(Binary::Eq, item.scalar(), value, &self.strings) {
                            Ok(Scalar::Bool(true)) => {
                                self.put(out, i, Scalar::Bool(true));
                                continue 'rows;
                            }
                            Ok(_) => {}
                            Err(Defer) => {
                                self.defer(i);
                                continue 'rows;
                            }
                        }
                    }
                    self.put(out, i, Scalar::Bool(false));
                }
                self.give(values);
            }
            Node::Template(parts) => {
                let values = self.evaluate_all(parts, selection);
                let arena = self.strings.arena;
                let max_len = self.strings.max_len;
                for &i in selection {
                    let p = usize::from(i);
                    let mut text = bumpalo::collections::String::with_capacity_in(64, arena);
                    let shown = values
                        .iter()
                        .try_for_each(|part| display(part.get(p), &mut text));
                    match shown {
                        Ok(()) if max_len == 0 || text.len() <= max_len => {
                            self.put(out, i, Scalar::Str(text.into_bump_str()))
                        }
                        _ => self.defer(i),
                    }
                }
                self.give_all(values);
            }
            // `[]`, the usual start of a reasons list: every row shares the one empty list,
            // which a row's first push replaces by a list of its own. Building a list for every
            // row cost 0.9% of the shipped pipeline's instructions, where most rows push
            // nothing.
            Node::Reasons(items) if items.is_empty() => {
                for &i in selection {
                    self.put(out, i, Scalar::Reasons(EMPTY_LIST));
                }
            }
            Node::Reasons(items) => {
                let values = self.evaluate_all(items, selection);
                for &i in selection {
                    let p = usize::from(i);
                    let mut list = ReasonList {
                        len: items.len(),
                        ..ReasonList::default()
                    };
                    let mut bytes = 0;
                    for part in &values {
                        match part.get(p) {
                            Scalar::Str(text) => {
                                bytes += text.len();
                                list.texts.push(text);
                            }
                            _ => list.mixed = true,
                        }
                    }
                    let too_big = (self.max_array > 0 && items.len() > self.max_array)
                        || (self.strings.max_len > 0 && bytes > self.strings.max_len);
                    if too_big {
                        self.defer(i);
                        continue;
                    }
                    let value = Scalar::Reasons(self.lists.len() as u32);
                    self.lists.push(list);
                    self.put(out, i, value);
                }
                self.give_all(values);
            }
            Node::Result { .. } => {
                for &i in selection {
                    self.defer(i);
                }
            }
        }
    }

    fn evaluate_all(&mut self, nodes: &'b [Node], selection: &[u16]) -> Vec<Buf<'b>> {
        nodes
            .iter()
            .map(|node| {
                let mut values = self.take_for(node);
                self.eval(node, selection, &mut values);
                values
            })
            .collect()
    }

    fn give_all(&mut self, buffers: Vec<Buf<'b>>) {
        for buffer in buffers {
            self.give(buffer);
        }
    }
}
