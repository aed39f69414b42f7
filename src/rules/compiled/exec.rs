//! Running a compiled program over a chunk of rows at once.
//!
//! Every node evaluates for a selection of the chunk's rows (positions, ascending) into a
//! buffer with one value per position: a typed buffer of floats, ints or bools when its type
//! (see `types`) is that one kind on this batch, tagged [`Scalar`]s otherwise. `if`, `&&`,
//! `||`, `??` and `switch` split the selection, so a branch runs only for the rows that take it
//! — an error in a branch a row does not take cannot touch that row. A row that returns, or is
//! deferred to the interpreter, is marked done and leaves every selection after the statement
//! it happened in.

use std::hash::{Hash, Hasher};

use arrow::array::Array;

use super::ir::{Aggregate, Binary, Block, Elements, Func, Node, Stmt, Switch, Unary};
use super::ops::{
    binary, call, display, float_compare, float_compare_unless_close, int_arithmetic, ordered,
    unary, Defer, NearConstant, Strings,
};
use super::scalar::Kind;
pub use super::scalar::CHUNK;
use super::scalar::{dense, Buf, Const, Input, ListOffsets, Scalar};
use super::types::Types;
use crate::rules::library;

/// `$body` with `$x` bound to the [`Floats`] as an [`Operand`] of its own type.
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
macro_rules! with_floats {
    ($a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {
        with_float!($a, |$x| with_float!($b, |$y| $body))
    };
}

/// `$body` with `$x` bound to `$xs op $c` ([`ConstantArithmetic`]) for the arithmetic `$op`, so
/// each operator gets its own loop.
macro_rules! with_constant {
    ($op:expr, $xs:expr, $c:expr, |$x:ident| $body:expr) => {
        match $op {
            Binary::Add => {
                let $x = ConstantArithmetic::<ADD> { x: $xs, c: $c };
                $body
            }
            Binary::Sub => {
                let $x = ConstantArithmetic::<SUB> { x: $xs, c: $c };
                $body
            }
            Binary::Mul => {
                let $x = ConstantArithmetic::<MUL> { x: $xs, c: $c };
                $body
            }
            Binary::Div => {
                let $x = ConstantArithmetic::<DIV> { x: $xs, c: $c };
                $body
            }
            _ => unreachable!("float arithmetic (`Chunk::pick_branch`)"),
        }
    };
}

/// `$body` with `$x` and `$y` bound to the two [`Branch`]es as [`Operand`]s of their own
/// types (at most one of them fused).
macro_rules! with_branches {
    ($a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {
        match ($a, $b) {
            (Branch::Values(a), Branch::Values(b)) => with_floats!(a, b, |$x, $y| $body),
            (Branch::Fused(op, xs, c), Branch::Values(b)) => {
                with_constant!(op, xs, c, |$x| with_float!(b, |$y| $body))
            }
            (Branch::Values(a), Branch::Fused(op, xs, c)) => {
                with_float!(a, |$x| with_constant!(op, xs, c, |$y| $body))
            }
            (Branch::Fused(..), Branch::Fused(..)) => {
                unreachable!("at most one branch is computed in the pick")
            }
        }
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

    fn live(&self, selection: &mut Vec<u16>) {
        if self.marks.any_done(selection) {
            // No branch a row (as in `split`): each row written back, counted when not done.
            let mut kept = 0;
            for k in 0..selection.len() {
                let i = selection[k];
                selection[kept] = i;
                kept += usize::from(!self.marks.is_done(usize::from(i)));
            }
            selection.truncate(kept);
        }
    }

    /// Writes `value` for row `p` of `out`, or defers the row if `out` cannot hold it.
    #[inline]
    fn put(&mut self, out: &mut Buf<'b>, i: u16, value: Scalar<'b>) {
        if !out.put(usize::from(i), value) {
            self.defer(i);
        }
    }

    /// Splits `selection` by a condition: (true rows, false rows); a row whose condition is no
    /// bool is deferred (rhai: a type mismatch).
    fn split(&mut self, selection: &[u16], condition: &'b Node) -> (Vec<u16>, Vec<u16>) {
        let mut values = self.take_for(condition);
        self.eval(condition, selection, &mut values);
        let (mut yes, mut no);
        match &values {
            Buf::Bool(v) => {
                // Each row written to both sides and counted on its own: no branch a row, which
                // a condition true on a random half of the rows mispredicts half the time.
                (yes, no) = (vec![0; selection.len()], vec![0; selection.len()]);
                let (mut yes_len, mut no_len) = (0, 0);
                for &i in selection {
                    let taken = v[usize::from(i)];
                    yes[yes_len] = i;
                    no[no_len] = i;
                    yes_len += usize::from(taken);
                    no_len += usize::from(!taken);
                }
                yes.truncate(yes_len);
                no.truncate(no_len);
            }
            other => {
                (yes, no) = (
                    Vec::with_capacity(selection.len()),
                    Vec::with_capacity(selection.len()),
                );
                for &i in selection {
                    match other.get(usize::from(i)) {
                        Scalar::Bool(true) => yes.push(i),
                        Scalar::Bool(false) => no.push(i),
                        _ => self.marks.defer(usize::from(i)),
                    }
                }
            }
        }
        self.give(values);
        (yes, no)
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

    /// `if c { a } else { b }` where `a` and `b` are single expressions that cannot fail and
    /// give the same typed kind, and `c` holds no block (so assigns nothing): both are
    /// computed for every row and the condition picks,
    /// with no split of the rows (what a `CASE WHEN` of two columns does). `false` when the
    /// `if` is not of that form, or its value cannot go straight where it is wanted.
    fn blend(
        &mut self,
        condition: &'b Node,
        body: &'b Block,
        branch: &'b Block,
        selection: &[u16],
        dest: &mut Dest<'_, 'b>,
    ) -> bool {
        let single = |block: &'b Block| match block.stmts.as_slice() {
            [Stmt::Expr(node)] => Some(node),
            _ => None,
        };
        let (Some(a), Some(b)) = (single(body), single(branch)) else {
            return false;
        };
        let kind = self.types.kind(a);
        // The branches are computed before (or with) the condition: a condition that assigns
        // a variable (in a block: `if ({ x = 5.0; c }) { x } …`) must run first, as in rhai.
        if !kind.plain()
            || kind != self.types.kind(b)
            || self.types.kind(condition) != Kind::Bool
            || !self.infallible(a)
            || !self.infallible(b)
            || condition.holds_block()
        {
            return false;
        }
        let fits = match dest {
            Dest::Value(out) => out.kind() == kind,
            Dest::Result => !self.returns && self.shape.is_empty() && self.result.kind() == kind,
            Dest::Discard => false,
        };
        if !fits {
            return false;
        }
        let to_result = matches!(dest, Dest::Result);
        let mut results = std::mem::replace(&mut self.result, Buf::Bool(Vec::new()));
        let out: &mut Buf<'b> = match dest {
            Dest::Value(out) => out,
            _ => &mut results,
        };
        let mut test = self.take(Kind::Bool);
        if kind == Kind::Float {
            // A float against a constant is tested in the same loop as the pick, and a branch
            // that is arithmetic with a constant is computed in that loop too.
            let (decided, branches) = match self.against_constant(condition) {
                Some((op, x, near)) => {
                    let yes = self.pick_branch(a, selection, true);
                    let no = self.pick_branch(b, selection, !yes.fused());
                    let x = self.floats(x, selection);
                    let to = match (&mut self.direct, to_result) {
                        (Some(direct), true) if dense(selection) == Some(direct.rows.clone()) => {
                            PickTo::Append(direct)
                        }
                        _ => {
                            let Buf::Float(o) = &mut *out else {
                                unreachable!("a float buffer")
                            };
                            PickTo::Positions(o)
                        }
                    };
                    let decided = match x.floats(&self.vars) {
                        Floats::Each(x) => pick_against(
                            op,
                            x,
                            near,
                            yes.read(&self.vars),
                            no.read(&self.vars),
                            to,
                            selection,
                        ),
                        Floats::All(_) => false,
                    };
                    self.give_floats(x);
                    (decided, Some((yes, no)))
                }
                None => (false, None),
            };
            match (decided, branches) {
                (true, Some((yes, no))) => {
                    self.give_branch(yes);
                    self.give_branch(no);
                }
                (_, branches) => {
                    // The condition for every row, and the branches' values (those read or
                    // evaluated already kept; constants and float columns read in place).
                    let (yes, no) = match branches {
                        Some((yes, no)) => {
                            let yes = self.branch_values(yes, a, selection);
                            (yes, self.branch_values(no, b, selection))
                        }
                        None => {
                            let yes = self.floats(a, selection);
                            (yes, self.floats(b, selection))
                        }
                    };
                    let Buf::Float(o) = out else {
                        unreachable!("a float buffer")
                    };
                    self.eval(condition, selection, &mut test);
                    let Buf::Bool(t) = &test else {
                        unreachable!("a bool buffer")
                    };
                    with_floats!(yes.floats(&self.vars), no.floats(&self.vars), |y, n| pick(
                        t, y, n, o, selection
                    ));
                    self.give_floats(yes);
                    self.give_floats(no);
                }
            }
        } else {
            self.eval(condition, selection, &mut test);
            let Buf::Bool(test_values) = &test else {
                unreachable!("a bool buffer")
            };
            let mut yes = self.take(kind);
            self.eval(a, selection, &mut yes);
            let mut no = self.take(kind);
            self.eval(b, selection, &mut no);
            let t = test_values;
            match (&yes, &no, out) {
                (Buf::Int(y), Buf::Int(n), Buf::Int(o)) => pick(t, &y[..], &n[..], o, selection),
                (Buf::Bool(y), Buf::Bool(n), Buf::Bool(o)) => pick(t, &y[..], &n[..], o, selection),
                (Buf::Date(y), Buf::Date(n), Buf::Date(o)) => pick(t, &y[..], &n[..], o, selection),
                _ => unreachable!("buffers of one kind"),
            }
            self.give(yes);
            self.give(no);
        }
        self.result = results;
        self.give(test);
        true
    }

    /// `condition` as `x op c`, when it compares a float node with a float constant that
    /// [`NearConstant`] covers (the operator swapped when the constant is on the left).
    fn against_constant(&self, condition: &'b Node) -> Option<(Binary, &'b Node, NearConstant)> {
        let Node::Binary(op, left, right) = condition else {
            return None;
        };
        let float = |n: &Node| self.types.kind(n) == Kind::Float;
        if !op.compares() || !float(left) || !float(right) {
            return None;
        }
        match (&**left, &**right) {
            (Node::Const(_), Node::Const(_)) => None,
            (x, Node::Const(Const::Float(c))) => Some((*op, x, NearConstant::new(*c)?)),
            (Node::Const(Const::Float(c)), x) => Some((op.swapped(), x, NearConstant::new(*c)?)),
            _ => None,
        }
    }

    /// Whether `node` can neither fail nor give a value of another kind on any row: constants,
    /// typed columns and variables, and float arithmetic, comparisons and math over them.
    fn infallible(&self, node: &Node) -> bool {
        let typed = |n: &Node| self.types.kind(n).plain();
        match node {
            Node::Const(_) | Node::Column(_) | Node::Var(_) => typed(node),
            Node::Binary(op, a, b) => {
                let floats = |n: &Node| {
                    matches!(self.types.kind(n), Kind::Float | Kind::Int) && self.infallible(n)
                };
                let float_result = self.types.kind(node) == Kind::Float
                    && matches!(
                        op,
                        Binary::Add | Binary::Sub | Binary::Mul | Binary::Div | Binary::Rem
                    );
                (float_result || op.compares()) && typed(node) && floats(a) && floats(b)
            }
            Node::Unary(Unary::Neg, x) => {
                self.types.kind(node) == Kind::Float && self.infallible(x)
            }
            Node::Call(Func::Ln | Func::Exp | Func::Sqrt | Func::Log10, args) => {
                self.types.kind(node) == Kind::Float
                    && args.iter().all(|a| {
                        matches!(self.types.kind(a), Kind::Float | Kind::Int) && self.infallible(a)
                    })
            }
            _ => false,
        }
    }

    /// Copies the `selection` rows of `from` into `to`, converting between kinds.
    fn copy(&mut self, from: &Buf<'b>, selection: &[u16], to: &mut Buf<'b>) {
        match (from, &mut *to) {
            (Buf::Float(a), Buf::Float(b)) => copy_rows(a, b, selection),
            (Buf::Int(a), Buf::Int(b)) => copy_rows(a, b, selection),
            (Buf::Bool(a), Buf::Bool(b)) => copy_rows(a, b, selection),
            (Buf::Date(a), Buf::Date(b)) => copy_rows(a, b, selection),
            (Buf::Tagged(a), Buf::Tagged(b)) => copy_rows(a, b, selection),
            (Buf::Float(a), Buf::Tagged(b)) => wrap_rows(a, b, selection, Scalar::Float),
            (Buf::Int(a), Buf::Tagged(b)) => wrap_rows(a, b, selection, Scalar::Int),
            (Buf::Bool(a), Buf::Tagged(b)) => wrap_rows(a, b, selection, Scalar::Bool),
            (Buf::Date(a), Buf::Tagged(b)) => wrap_rows(a, b, selection, Scalar::Date),
            (Buf::OptFloat(a, va), Buf::OptFloat(b, vb)) => {
                copy_rows(a, b, selection);
                copy_rows(va, vb, selection);
            }
            (Buf::OptInt(a, va), Buf::OptInt(b, vb)) => {
                copy_rows(a, b, selection);
                copy_rows(va, vb, selection);
            }
            (Buf::Float(a), Buf::OptFloat(b, vb)) => {
                copy_rows(a, b, selection);
                fill(vb, selection, true);
            }
            (Buf::Int(a), Buf::OptInt(b, vb)) => {
                copy_rows(a, b, selection);
                fill(vb, selection, true);
            }
            _ => {
                for &i in selection {
                    let value = from.get(usize::from(i));
                    self.put(to, i, value);
                }
            }
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

    /// `a op b`: typed loops when both operands are floats or ints, and the general rules
    /// (every kind rhai meets, the row deferred where rhai fails) otherwise.
    fn binary(
        &mut self,
        op: Binary,
        a: &'b Node,
        b: &'b Node,
        selection: &[u16],
        out: &mut Buf<'b>,
    ) {
        // Floats with floats (most factors: a column against a constant): constants and float
        // columns are read in place, with no buffer filled or copied.
        let floats = self.types.kind(a) == Kind::Float && self.types.kind(b) == Kind::Float;
        let arithmetic = matches!(op, Binary::Add | Binary::Sub | Binary::Mul | Binary::Div);
        let fits = match out {
            Buf::Float(_) => arithmetic,
            Buf::Bool(_) => op.compares(),
            _ => false,
        };
        if floats && fits {
            // A variable on the left is read after the right is evaluated, unless that may
            // assign it (only a block can): then it is copied first, as rhai reads it.
            let left = if matches!(a, Node::Var(_)) && b.holds_block() {
                self.evaluated_floats(a, selection)
            } else {
                self.floats(a, selection)
            };
            let right = self.floats(b, selection);
            with_floats!(left.floats(&self.vars), right.floats(&self.vars), |x, y| {
                float_binary(op, x, y, out, selection)
            });
            self.give_floats(left);
            self.give_floats(right);
            return;
        }
        if op.compares() && self.against_unit(op, a, b, selection, out) {
            return;
        }
        let (ka, kb) = (self.types.kind(a), self.types.kind(b));
        let mut left = self.take(ka);
        self.eval(a, selection, &mut left);
        let mut right = self.take(kb);
        self.eval(b, selection, &mut right);
        let typed = typed_binary(op, &left, &right, selection, out, &mut self.marks);
        if !typed {
            for &i in selection {
                let p = usize::from(i);
                match binary(op, left.get(p), right.get(p), &self.strings) {
                    Ok(v) => self.put(out, i, v),
                    Err(Defer) => self.defer(i),
                }
            }
        }
        self.give(left);
        self.give(right);
    }

    /// A comparison of a nullable number with `()` (`x == ()`, `() != x` …), answered from
    /// the number's validity alone: rhai compares `()` with `()` as equal and a number with
    /// `()` as values of different types (only `!=` holds). `false` when `op` is not of that
    /// form or `out` holds no bools.
    fn against_unit(
        &mut self,
        op: Binary,
        a: &'b Node,
        b: &'b Node,
        selection: &[u16],
        out: &mut Buf<'b>,
    ) -> bool {
        let x = match (a, b) {
            (Node::Const(Const::Unit), x) | (x, Node::Const(Const::Unit)) => x,
            _ => return false,
        };
        let Buf::Bool(o) = out else {
            return false;
        };
        if !matches!(self.types.kind(x), Kind::OptFloat | Kind::OptInt) {
            return false;
        }
        let mut values = self.take_for(x);
        self.eval(x, selection, &mut values);
        let (Buf::OptFloat(_, valid) | Buf::OptInt(_, valid)) = &values else {
            unreachable!("a nullable number buffer")
        };
        let (number, unit) = (op == Binary::Ne, op == Binary::Eq);
        for &i in selection {
            let p = usize::from(i);
            o[p] = if valid[p] { number } else { unit };
        }
        self.give(values);
        true
    }

    /// A float node's values for `selection`: a constant, a float column without nulls or a
    /// float variable as they are, anything else evaluated into a buffer. A variable is read
    /// when the values are (after the operands evaluated later): callers make sure none of
    /// those assigns it.
    fn floats(&mut self, node: &'b Node, selection: &[u16]) -> FloatArg<'b> {
        match node {
            Node::Const(Const::Float(c)) => return FloatArg::In(Floats::All(*c)),
            Node::Var(slot) if matches!(self.vars[*slot], Buf::Float(_)) => {
                return FloatArg::Var(*slot)
            }
            Node::Column(column) => {
                let inputs: &'b [Input<'b>] = self.inputs;
                if let Input::Float64(array) = &inputs[usize::from(*column)] {
                    let array: &'b arrow::array::Float64Array = array;
                    if array.null_count() == 0 {
                        return FloatArg::In(Floats::Each(&array.values()[self.base..]));
                    }
                }
            }
            _ => {}
        }
        self.evaluated_floats(node, selection)
    }

    /// A float node's values for `selection`, evaluated into a buffer of the pool.
    fn evaluated_floats(&mut self, node: &'b Node, selection: &[u16]) -> FloatArg<'b> {
        let mut values = self.take(Kind::Float);
        self.eval(node, selection, &mut values);
        FloatArg::Evaluated(values)
    }

    fn give_floats(&mut self, arg: FloatArg<'b>) {
        if let FloatArg::Evaluated(values) = arg {
            self.give(values);
        }
    }

    /// A branch of a picking `if` ([`Chunk::blend`]) for `selection`. When `fuse`, float
    /// arithmetic of a value per position and a float constant (`revenue / 1000.0`) is left for
    /// the pick to compute as it reads it; anything else is read in place or evaluated.
    fn pick_branch(&mut self, node: &'b Node, selection: &[u16], fuse: bool) -> BranchArg<'b> {
        if let Node::Binary(op, x, c) = node {
            let float = |n: &Node| self.types.kind(n) == Kind::Float;
            let arithmetic = matches!(op, Binary::Add | Binary::Sub | Binary::Mul | Binary::Div);
            if let (true, true, Node::Const(Const::Float(c))) = (fuse, arithmetic, &**c) {
                // As `binary` computes it: floats with floats, plainly. A constant `x` would be
                // read as one value, not one per position.
                if float(node) && float(x) && !matches!(**x, Node::Const(_)) {
                    return BranchArg::Fused(*op, self.floats(x, selection), *c);
                }
            }
        }
        BranchArg::Values(self.floats(node, selection))
    }

    /// The values of `node`, a branch made into `arg`: a fused branch evaluated now.
    fn branch_values(
        &mut self,
        arg: BranchArg<'b>,
        node: &'b Node,
        selection: &[u16],
    ) -> FloatArg<'b> {
        match arg {
            BranchArg::Values(values) => values,
            BranchArg::Fused(_, x, _) => {
                self.give_floats(x);
                self.floats(node, selection)
            }
        }
    }

    fn give_branch(&mut self, arg: BranchArg<'b>) {
        match arg {
            BranchArg::Values(arg) | BranchArg::Fused(_, arg, _) => self.give_floats(arg),
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

    /// A tagged or nullable float buffer that holds floats on every selected row (a nullable
    /// value past a test for `()`, say) becomes a float buffer, so typed loops can read it; any
    /// other buffer is left as it is.
    fn narrow_to_floats(&mut self, value: &mut Buf<'b>, selection: &[u16]) {
        if let Buf::OptFloat(values, valid) = value {
            if selection.iter().all(|&i| valid[usize::from(i)]) {
                let mut floats = self.take(Kind::Float);
                let Buf::Float(f) = &mut floats else {
                    unreachable!("a float buffer")
                };
                copy_rows(values, f, selection);
                let opt = std::mem::replace(value, floats);
                self.give(opt);
            }
            return;
        }
        let Buf::Tagged(tagged) = value else {
            return;
        };
        let mut floats = self.take(Kind::Float);
        let Buf::Float(f) = &mut floats else {
            unreachable!("a float buffer")
        };
        for &i in selection {
            let p = usize::from(i);
            match tagged[p] {
                Scalar::Float(x) => f[p] = x,
                _ => {
                    self.give(floats);
                    return;
                }
            }
        }
        let tagged = std::mem::replace(value, floats);
        self.give(tagged);
    }

    fn give_all(&mut self, buffers: Vec<Buf<'b>>) {
        for buffer in buffers {
            self.give(buffer);
        }
    }

    /// What rhai's size checks count in `value`: array elements and string bytes.
    fn sizes(&self, value: Scalar<'b>) -> (usize, usize) {
        match value {
            Scalar::Str(text) => (0, text.len()),
            Scalar::List(column, row) => match &self.inputs[usize::from(column)] {
                Input::List {
                    offsets, elements, ..
                } => {
                    let range = offsets.range(row as usize);
                    let bytes = if self.strings.max_len > 0 {
                        range
                            .clone()
                            .map(|e| match elements.value(e).0 {
                                Scalar::Str(text) => text.len(),
                                _ => 0,
                            })
                            .sum()
                    } else {
                        0
                    };
                    (range.len(), bytes)
                }
                _ => (0, 0),
            },
            Scalar::Reasons(list) => {
                let list = &self.lists[list as usize];
                (list.len, list.texts.iter().map(|t| t.len()).sum())
            }
            _ => (0, 0),
        }
    }

    /// Whether rhai's size check of `value` fails (`limits.max_array_size`,
    /// `limits.max_string_size`).
    /// `()` (the usual reason) and a text are answered inline; other values by their
    /// [`Chunk::sizes`].
    #[inline]
    fn over_limits(&self, value: Scalar<'b>) -> bool {
        match value {
            Scalar::Unit => false,
            Scalar::Str(text) => self.strings.max_len > 0 && text.len() > self.strings.max_len,
            value => self.sized_over_limits(value),
        }
    }

    /// [`Chunk::over_limits`] of a value measured by [`Chunk::sizes`].
    fn sized_over_limits(&self, value: Scalar<'b>) -> bool {
        let (items, bytes) = self.sizes(value);
        (self.max_array > 0 && items > self.max_array)
            || (self.strings.max_len > 0 && bytes > self.strings.max_len)
    }

    /// Whether `value`, the object of `len` written as the variable or column `node`, is an
    /// array over the size limits: rhai's `len` takes an array by reference, and rhai checks
    /// the size of such an argument after the call, failing the row (a list column longer than
    /// `limits.max_array_size`). Functions taking their first argument by value (the
    /// aggregates, `len` of a string) do not check it.
    fn array_over_limits_in_place(&self, node: &Node, value: Scalar<'b>) -> bool {
        matches!(node, Node::Column(_) | Node::Var(_))
            && matches!(value, Scalar::List(..) | Scalar::Reasons(_))
            && self.over_limits(value)
    }

    fn call(&mut self, func: Func, args: &'b [Node], selection: &[u16], out: &mut Buf<'b>) {
        let mut values = self.evaluate_all(args, selection);
        for value in &mut values {
            self.narrow_to_floats(value, selection);
        }
        if typed_call(func, &values, selection, out, &mut self.marks) {
            self.give_all(values);
            return;
        }
        let mut row = [Scalar::Unit; 3];
        for &i in selection {
            let p = usize::from(i);
            for (slot, arg) in row.iter_mut().zip(&values) {
                *slot = arg.get(p);
            }
            if func == Func::Len && self.array_over_limits_in_place(&args[0], row[0]) {
                self.defer(i);
                continue;
            }
            let args = &row[..values.len()];
            let result = match (func, args) {
                (Func::Len, [Scalar::List(column, r)]) => {
                    Ok(Scalar::Int(self.list_range(*column, *r).len() as i64))
                }
                (Func::Len, [Scalar::Reasons(list)]) => {
                    Ok(Scalar::Int(self.lists[*list as usize].len as i64))
                }
                _ => call(func, args, &self.strings),
            };
            match result {
                Ok(v) => self.put(out, i, v),
                Err(Defer) => self.defer(i),
            }
        }
        self.give_all(values);
    }

    fn list_range(&self, column: u16, row: u32) -> std::ops::Range<usize> {
        match &self.inputs[usize::from(column)] {
            Input::List { offsets, .. } => offsets.range(row as usize),
            _ => 0..0,
        }
    }

    fn aggregate(
        &mut self,
        aggregate: Aggregate,
        elements: &'b Elements,
        selection: &[u16],
        out: &mut Buf<'b>,
    ) {
        if matches!(aggregate, Aggregate::Sum | Aggregate::Mean)
            && self.list_column_sum(aggregate, elements, selection, out)
        {
            return;
        }
        let values = match elements {
            Elements::Literal(items) => self.evaluate_all(items, selection),
            Elements::List(list) => {
                let mut values = self.take_for(list);
                self.eval(list, selection, &mut values);
                vec![values]
            }
        };
        if matches!(aggregate, Aggregate::Sum | Aggregate::Mean)
            && self.fast_sum(aggregate, elements, &values, selection, out)
        {
            self.give_all(values);
            return;
        }
        let mut numbers = std::mem::take(&mut self.numbers);
        for &i in selection {
            let p = usize::from(i);
            numbers.clear();
            // The elements as written, for min_of and max_of.
            let gathered: Result<Option<(u16, u32)>, Defer> = match elements {
                Elements::Literal(_) => {
                    let mut ok = Ok(None);
                    for (index, part) in values.iter().enumerate() {
                        match part.get(p) {
                            Scalar::Unit => {}
                            value => match value.number() {
                                Some(n) => numbers.push((index, n)),
                                None => ok = Err(Defer),
                            },
                        }
                    }
                    ok
                }
                Elements::List(_) => match values[0].get(p) {
                    Scalar::List(column, row) => {
                        let mut ok = Ok(Some((column, row)));
                        if let Input::List {
                            offsets, elements, ..
                        } = &self.inputs[usize::from(column)]
                        {
                            for (index, element) in offsets.range(row as usize).enumerate() {
                                match elements.value(element).0 {
                                    Scalar::Unit => {}
                                    value => match value.number() {
                                        Some(n) => numbers.push((index, n)),
                                        None => ok = Err(Defer),
                                    },
                                }
                            }
                        }
                        ok
                    }
                    _ => Err(Defer),
                },
            };
            let Ok(list) = gathered else {
                self.defer(i);
                continue;
            };
            let float = |v: Option<f64>| v.map_or(Scalar::Unit, Scalar::Float);
            let value = match aggregate {
                Aggregate::Sum => Scalar::Float(library::total(&numbers)),
                Aggregate::Mean => float(library::mean(&numbers)),
                Aggregate::Stdev => float(library::stdev(&numbers)),
                Aggregate::Trend => float(library::trend(&numbers)),
                Aggregate::Growth => float(library::growth(&numbers)),
                Aggregate::MinOf | Aggregate::MaxOf => {
                    let better: fn(f64, f64) -> bool = if aggregate == Aggregate::MinOf {
                        |a, b| a < b
                    } else {
                        |a, b| a > b
                    };
                    match library::extreme(&numbers, better) {
                        None => Scalar::Unit,
                        Some(index) => match list {
                            None => values[index].get(p),
                            Some((column, row)) => match &self.inputs[usize::from(column)] {
                                Input::List {
                                    offsets, elements, ..
                                } => elements.value(offsets.range(row as usize).start + index).0,
                                _ => Scalar::Unit,
                            },
                        },
                    }
                }
            };
            self.put(out, i, value);
        }
        self.numbers = numbers;
        self.give_all(values);
    }

    /// `sum` and `mean` of a float list column, read straight from its offsets and values
    /// (no list value per row), adding in order from 0.0 as [`library::total`] does; a null
    /// cell is left to the interpreter. `false` when `elements` is no such column.
    fn list_column_sum(
        &mut self,
        aggregate: Aggregate,
        elements: &'b Elements,
        selection: &[u16],
        out: &mut Buf<'b>,
    ) -> bool {
        let Elements::List(list) = elements else {
            return false;
        };
        let Node::Column(column) = &**list else {
            return false;
        };
        let inputs: &'b [Input<'b>] = self.inputs;
        let Input::List {
            offsets,
            nulls,
            floats: Some(floats),
            ..
        } = &inputs[usize::from(*column)]
        else {
            return false;
        };
        for &i in selection {
            let p = usize::from(i);
            let row = self.base + p;
            if nulls.is_some_and(|n| n.is_null(row)) {
                self.defer(i);
                continue;
            }
            let (total, count) = list_cell_total(offsets, floats, row);
            let value = sum_or_mean(aggregate, total, count);
            match (&mut *out, value) {
                (Buf::OptFloat(o, v), value) => {
                    (o[p], v[p]) = (value.unwrap_or(0.0), value.is_some())
                }
                (out, value) => {
                    let value = value.map_or(Scalar::Unit, Scalar::Float);
                    self.put(out, i, value)
                }
            }
        }
        true
    }

    /// `sum` and `mean` over float list cells or array literals (of numbers and `()`), adding in
    /// order from 0.0 as [`library::total`] does (so the bits are the same); `false` when the
    /// general path must do it.
    fn fast_sum(
        &mut self,
        aggregate: Aggregate,
        elements: &'b Elements,
        values: &[Buf<'b>],
        selection: &[u16],
        out: &mut Buf<'b>,
    ) -> bool {
        let finish = |total: f64, count: usize| {
            sum_or_mean(aggregate, total, count).map_or(Scalar::Unit, Scalar::Float)
        };
        match elements {
            Elements::List(_) => {
                for &i in selection {
                    let p = usize::from(i);
                    let value = match values[0].get(p) {
                        Scalar::List(column, row) => match &self.inputs[usize::from(column)] {
                            Input::List {
                                offsets,
                                floats: Some(floats),
                                ..
                            } => {
                                let (total, count) = list_cell_total(offsets, floats, row as usize);
                                Some(finish(total, count))
                            }
                            _ => return false,
                        },
                        _ => None,
                    };
                    match value {
                        Some(value) => self.put(out, i, value),
                        None => self.defer(i),
                    }
                }
                true
            }
            Elements::Literal(_) => {
                let numbers: Option<Vec<Numbers<'_>>> = values.iter().map(Numbers::of).collect();
                if let Some(numbers) = numbers {
                    for &i in selection {
                        let p = usize::from(i);
                        let total = numbers.iter().fold(0.0, |total, n| total + n.at(p));
                        let value = finish(total, numbers.len());
                        self.put(out, i, value);
                    }
                    return true;
                }
                // Elements that are `()` on some rows (nullable columns) are skipped, numbers
                // added in order; anything else leaves the row to the interpreter.
                let nullable: Option<Vec<MaybeNumbers<'_>>> =
                    values.iter().map(MaybeNumbers::of).collect();
                if let Some(parts) = nullable {
                    for &i in selection {
                        let p = usize::from(i);
                        let (mut total, mut count) = (0.0, 0);
                        for part in &parts {
                            if let Some(x) = part.at(p) {
                                (total, count) = (total + x, count + 1);
                            }
                        }
                        self.put(out, i, finish(total, count));
                    }
                    return true;
                }
                for &i in selection {
                    let p = usize::from(i);
                    let (mut total, mut count, mut numeric) = (0.0, 0, true);
                    for part in values {
                        match part.get(p) {
                            Scalar::Unit => {}
                            Scalar::Int(x) => (total, count) = (total + x as f64, count + 1),
                            Scalar::Float(x) => (total, count) = (total + x, count + 1),
                            _ => numeric = false,
                        }
                    }
                    if numeric {
                        self.put(out, i, finish(total, count));
                    } else {
                        self.defer(i);
                    }
                }
                true
            }
        }
    }

    fn switch(&mut self, switch: &'b Switch, selection: &[u16], mut dest: Dest<'_, 'b>) {
        let mut values = self.take_for(&switch.value);
        self.eval(&switch.value, selection, &mut values);
        // Each row's candidate arms, found by rhai's hash of its value.
        let mut pending: Vec<(u16, &'b [usize], usize)> = Vec::with_capacity(selection.len());
        let mut chosen: Vec<(usize, u16)> = Vec::with_capacity(selection.len());
        let mut unmatched: Vec<u16> = Vec::new();
        for &i in selection {
            let Ok(hash) = switch_hash(values.get(usize::from(i))) else {
                self.defer(i);
                continue;
            };
            let arms = hash.and_then(|hash| {
                switch
                    .cases
                    .binary_search_by_key(&hash, |(h, _)| *h)
                    .ok()
                    .map(|k| switch.cases[k].1.as_slice())
            });
            match arms {
                Some(arms) => pending.push((i, arms, 0)),
                None => unmatched.push(i),
            }
        }
        self.give(values);
        // Conditions, in each row's case order; most are `true`.
        while !pending.is_empty() {
            let arm = pending[0].1[pending[0].2];
            let rows: Vec<u16> = pending
                .iter()
                .filter(|(_, arms, next)| arms[*next] == arm)
                .map(|(i, ..)| *i)
                .collect();
            let condition = &switch.arms[arm].0;
            let mut conditions = self.take_for(condition);
            self.eval(condition, &rows, &mut conditions);
            let mut still = Vec::with_capacity(pending.len());
            for (i, arms, next) in pending {
                if arms[next] != arm {
                    still.push((i, arms, next));
                    continue;
                }
                match conditions.get(usize::from(i)) {
                    Scalar::Bool(true) => chosen.push((arm, i)),
                    Scalar::Bool(false) if next + 1 < arms.len() => still.push((i, arms, next + 1)),
                    Scalar::Bool(false) => unmatched.push(i),
                    _ => self.defer(i),
                }
            }
            self.give(conditions);
            pending = still;
        }
        match switch.default {
            Some(default) => chosen.extend(unmatched.iter().map(|&i| (default, i))),
            None => {
                unmatched.sort_unstable();
                self.unit(&unmatched, dest.reborrow());
            }
        }
        chosen.sort_unstable();
        for group in chosen.chunk_by(|a, b| a.0 == b.0) {
            let arm = group[0].0;
            let mut rows: Vec<u16> = group.iter().map(|(_, i)| *i).collect();
            self.live(&mut rows);
            self.value(&switch.arms[arm].1, &rows, dest.reborrow());
        }
    }
}

/// Which rows of a chunk are done (they returned, or were left to the interpreter) and which
/// were left to the interpreter. Most chunks mark no row at all: a flag says so, and then
/// neither resetting the marks nor dropping done rows from a selection reads them.
pub struct Marks {
    done: Vec<bool>,
    deferred: Vec<bool>,
    any: bool,
}

impl Marks {
    fn new() -> Self {
        Self {
            done: vec![false; CHUNK],
            deferred: vec![false; CHUNK],
            any: false,
        }
    }

    /// No row marked, for the next chunk.
    fn reset(&mut self) {
        if self.any {
            self.done.fill(false);
            self.deferred.fill(false);
            self.any = false;
        }
    }

    /// Leaves row `p` to the interpreter, unless it is already done.
    #[inline]
    fn defer(&mut self, p: usize) {
        if !self.done[p] {
            self.done[p] = true;
            self.deferred[p] = true;
            self.any = true;
        }
    }

    /// Row `p` has its result (it returned).
    #[inline]
    fn finish(&mut self, p: usize) {
        self.done[p] = true;
        self.any = true;
    }

    /// Whether any row is marked.
    #[inline]
    pub fn any(&self) -> bool {
        self.any
    }

    /// Whether any row of `selection` is done.
    #[inline]
    fn any_done(&self, selection: &[u16]) -> bool {
        if !self.any {
            return false;
        }
        match dense(selection) {
            // A scan of contiguous flags, cheaper than a lookup a row.
            Some(r) => self.done[r].iter().fold(false, |any, &d| any | d),
            None => selection.iter().any(|&i| self.done[usize::from(i)]),
        }
    }

    #[inline]
    fn is_done(&self, p: usize) -> bool {
        self.done[p]
    }

    /// Whether row `p` was left to the interpreter.
    #[inline]
    pub fn is_deferred(&self, p: usize) -> bool {
        self.deferred[p]
    }
}

/// Compares two columns of one ordered type row by row: one loop per operator, so each
/// comparison inlines.
fn compare_ordered<T: Ord + Copy>(
    op: Binary,
    a: &[T],
    b: &[T],
    out: &mut [bool],
    selection: &[u16],
) {
    match op {
        Binary::Eq => zip_map(a, b, out, selection, |x, y| x == y),
        Binary::Ne => zip_map(a, b, out, selection, |x, y| x != y),
        Binary::Lt => zip_map(a, b, out, selection, |x, y| x < y),
        Binary::Le => zip_map(a, b, out, selection, |x, y| x <= y),
        Binary::Gt => zip_map(a, b, out, selection, |x, y| x > y),
        _ => zip_map(a, b, out, selection, |x, y| x >= y),
    }
}

/// `out[p] = value` for the selected positions.
#[inline]
fn fill<T: Copy>(out: &mut [T], selection: &[u16], value: T) {
    match dense(selection) {
        Some(r) => out[r].fill(value),
        None => selection.iter().for_each(|&i| out[usize::from(i)] = value),
    }
}

/// One operand of a typed loop: a value per position (a buffer, or a column read in place), or
/// one value for every position (a constant, with no buffer filled).
trait Operand<T: Copy>: Copy {
    /// The value at position `p`.
    fn at(self, p: usize) -> T;
    /// The operand over positions `r`, renumbered from 0.
    fn window(self, r: std::ops::Range<usize>) -> Self;
    /// The one value of every position, when it is a constant.
    fn constant(self) -> Option<T>;
}

impl<T: Copy> Operand<T> for &[T] {
    #[inline(always)]
    fn at(self, p: usize) -> T {
        self[p]
    }
    #[inline(always)]
    fn window(self, r: std::ops::Range<usize>) -> Self {
        &self[r]
    }
    #[inline(always)]
    fn constant(self) -> Option<T> {
        None
    }
}

/// A value for every position.
#[derive(Clone, Copy)]
struct Splat<T>(T);

impl<T: Copy> Operand<T> for Splat<T> {
    #[inline(always)]
    fn at(self, _: usize) -> T {
        self.0
    }
    #[inline(always)]
    fn window(self, _: std::ops::Range<usize>) -> Self {
        self
    }
    #[inline(always)]
    fn constant(self) -> Option<T> {
        Some(self.0)
    }
}

/// A float operand read without evaluating it into a buffer, or from the buffer it was
/// evaluated into.
#[derive(Clone, Copy)]
enum Floats<'a> {
    Each(&'a [f64]),
    All(f64),
}

/// A float node's values for a chunk: read in place (a constant, a column, a variable's
/// buffer), or evaluated into a buffer of the pool.
enum FloatArg<'b> {
    In(Floats<'b>),
    /// The variable in this slot, whose buffer holds floats.
    Var(usize),
    Evaluated(Buf<'b>),
}

impl FloatArg<'_> {
    /// The values, a variable's read from `vars` (the chunk's variables).
    fn floats<'s>(&'s self, vars: &'s [Buf<'_>]) -> Floats<'s> {
        match self {
            FloatArg::In(floats) => *floats,
            FloatArg::Var(slot) => match &vars[*slot] {
                Buf::Float(values) => Floats::Each(values),
                _ => unreachable!("a float variable"),
            },
            FloatArg::Evaluated(Buf::Float(values)) => Floats::Each(values),
            FloatArg::Evaluated(_) => unreachable!("a float buffer"),
        }
    }
}

/// A branch of a picking `if` for a chunk: its values, or float arithmetic (`op`) of a value
/// per position and a constant, fused into the pick: computed where the pick reads it.
enum BranchArg<'b> {
    Values(FloatArg<'b>),
    Fused(Binary, FloatArg<'b>, f64),
}

impl BranchArg<'_> {
    fn fused(&self) -> bool {
        matches!(self, BranchArg::Fused(..))
    }

    /// The branch as the pick reads it, a variable's values read from `vars`.
    fn read<'s>(&'s self, vars: &'s [Buf<'_>]) -> Branch<'s> {
        match self {
            BranchArg::Values(arg) => Branch::Values(arg.floats(vars)),
            BranchArg::Fused(op, x, c) => match x.floats(vars) {
                Floats::Each(x) => Branch::Fused(*op, x, *c),
                Floats::All(_) => unreachable!("a constant is not fused (`Chunk::pick_branch`)"),
            },
        }
    }
}

/// A [`BranchArg`] as the pick reads it.
#[derive(Clone, Copy)]
enum Branch<'a> {
    Values(Floats<'a>),
    Fused(Binary, &'a [f64], f64),
}

/// The arithmetic operators of [`ConstantArithmetic`].
const ADD: u8 = 0;
const SUB: u8 = 1;
const MUL: u8 = 2;
const DIV: u8 = 3;

/// `x[p] OP c` for float arithmetic `OP` ([`ADD`], [`SUB`], [`MUL`], [`DIV`]), computed where
/// it is read: a branch like `revenue / 1000.0` costs its picking `if` no pass or buffer.
#[derive(Clone, Copy)]
struct ConstantArithmetic<'a, const OP: u8> {
    x: &'a [f64],
    c: f64,
}

impl<const OP: u8> Operand<f64> for ConstantArithmetic<'_, OP> {
    #[inline(always)]
    fn at(self, p: usize) -> f64 {
        let x = self.x[p];
        match OP {
            ADD => x + self.c,
            SUB => x - self.c,
            MUL => x * self.c,
            _ => x / self.c,
        }
    }
    #[inline(always)]
    fn window(self, r: std::ops::Range<usize>) -> Self {
        Self {
            x: &self.x[r],
            c: self.c,
        }
    }
    #[inline(always)]
    fn constant(self) -> Option<f64> {
        None
    }
}

/// Where a pick's values go: the positions of a chunk's buffer, or appended to the rule's
/// output ([`Direct`]).
enum PickTo<'a> {
    Positions(&'a mut [f64]),
    Append(&'a mut Direct),
}

/// `out[p] = if test[p] { yes[p] } else { no[p] }` for the selected positions.
fn pick<T: Copy>(
    test: &[bool],
    yes: impl Operand<T>,
    no: impl Operand<T>,
    out: &mut [T],
    selection: &[u16],
) {
    pick_by(test, yes, no, out, selection, |t| t, |_| true);
}

/// `out[p] = if test(x[p]) { yes[p] } else { no[p] }` for the selected positions; whether
/// `check` held for every `x[p]`, checked in the same loop.
#[inline(always)]
fn pick_by<S: Copy, T: Copy>(
    x: impl Operand<S>,
    yes: impl Operand<T>,
    no: impl Operand<T>,
    out: &mut [T],
    selection: &[u16],
    test: impl Fn(S) -> bool,
    check: impl Fn(S) -> bool,
) -> bool {
    let mut all = true;
    if let Some(r) = dense(selection) {
        // By index, as in `zip_map`: a test that sets a flag vectorises only this way.
        let (x, yes, no) = (
            x.window(r.clone()),
            yes.window(r.clone()),
            no.window(r.clone()),
        );
        for (k, o) in out[r].iter_mut().enumerate() {
            // Both read first: a read in one arm only is a branch, not a select.
            let (v, y, n) = (x.at(k), yes.at(k), no.at(k));
            all &= check(v);
            *o = if test(v) { y } else { n };
        }
        return all;
    }
    for &i in selection {
        let p = usize::from(i);
        let v = x.at(p);
        all &= check(v);
        out[p] = if test(v) { yes.at(p) } else { no.at(p) };
    }
    all
}

/// `if x[p] op c { yes[p] } else { no[p] }` for the selected positions, into `to`, rhai's
/// comparison taken as the plain one (see [`NearConstant`]) in the loop that picks. `false` when
/// some row was too close to the constant to call that way: the rows must then be picked again
/// by rhai's comparison (nothing was appended).
fn pick_against(
    op: Binary,
    x: &[f64],
    near: NearConstant,
    yes: Branch<'_>,
    no: Branch<'_>,
    to: PickTo<'_>,
    selection: &[u16],
) -> bool {
    // Whether each value is far enough from the constant is checked in the loop that picks,
    // which reads each value once: a pass of its own read the column from memory first, and
    // took nearly as long as the pick.
    let c = near.value();
    macro_rules! against {
        ($op:expr) => {{
            let test = move |v: f64| ordered($op, v, c);
            let sure = move |v: f64| near.sure(v);
            match to {
                PickTo::Positions(out) => {
                    with_branches!(yes, no, |y, n| pick_by(x, y, n, out, selection, test, sure))
                }
                PickTo::Append(direct) => {
                    with_branches!(yes, no, |y, n| append_picked(x, y, n, direct, test, sure))
                }
            }
        }};
    }
    each_comparison!(op, against)
}

/// Appends `if test(x[p]) { yes[p] } else { no[p] }` for the positions of `direct.rows` to the
/// rule's output, noting whether every value is finite, all in one loop. `false`, with nothing
/// appended, when `check` failed for some `x[p]`.
#[inline(always)]
fn append_picked(
    x: &[f64],
    yes: impl Operand<f64>,
    no: impl Operand<f64>,
    direct: &mut Direct,
    test: impl Fn(f64) -> bool,
    check: impl Fn(f64) -> bool,
) -> bool {
    let r = direct.rows.clone();
    let (x, yes, no) = (&x[r.clone()], yes.window(r.clone()), no.window(r.clone()));
    // Written into the vector's room, not zeroed first: zeroing was a pass over memory of its
    // own, a sixth of the threshold factor's time.
    let start = direct.numbers.len();
    direct.numbers.reserve(r.len());
    let room = &mut direct.numbers.spare_capacity_mut()[..r.len()];
    let (mut bits, mut all) = (0, true);
    for (k, o) in room.iter_mut().enumerate() {
        // Both read first: a read in one arm only is a branch, not a select.
        let (v, y, n) = (x[k], yes.at(k), no.at(k));
        all &= check(v);
        let picked = if test(v) { y } else { n };
        bits |= not_finite_bits(picked);
        o.write(picked);
    }
    if !all {
        return false;
    }
    // SAFETY: the loop above wrote each of the `r.len()` elements after `start`.
    unsafe { direct.numbers.set_len(start + r.len()) };
    direct.appended = Some(all_finite(bits));
    true
}

/// Bits that, OR-ed over values, have [`all_finite`] say whether each was finite: `v * 0.0`
/// is a zero for a finite `v` and NaN otherwise. No branch, so a loop of it vectorises.
#[inline(always)]
pub fn not_finite_bits(v: f64) -> u64 {
    (v * 0.0).to_bits()
}

/// Whether the OR of [`not_finite_bits`] of some values says each was finite.
#[inline(always)]
pub fn all_finite(bits: u64) -> bool {
    const EXPONENT: u64 = 0x7ff0_0000_0000_0000;
    bits & EXPONENT == 0
}

/// `out[p] = f(a[p], b[p])` for the selected positions: one tight loop per operator.
#[inline]
fn zip_map<A: Copy, B: Copy, O>(
    a: impl Operand<A>,
    b: impl Operand<B>,
    out: &mut [O],
    selection: &[u16],
    mut f: impl FnMut(A, B) -> O,
) {
    if let Some(r) = dense(selection) {
        // By index: the comparisons' loop (with its `unsure` flag) vectorises only this way.
        let (a, b) = (a.window(r.clone()), b.window(r.clone()));
        for (k, o) in out[r].iter_mut().enumerate() {
            *o = f(a.at(k), b.at(k));
        }
        return;
    }
    for &i in selection {
        let p = usize::from(i);
        out[p] = f(a.at(p), b.at(p));
    }
}

/// Float arithmetic (`+ - * /`) or a comparison of two float operands into `out` (floats or
/// bools): one loop per operator and operand pairing.
fn float_binary<A: Operand<f64>, B: Operand<f64>>(
    op: Binary,
    a: A,
    b: B,
    out: &mut Buf<'_>,
    selection: &[u16],
) {
    let s = selection;
    match out {
        Buf::Float(o) => match op {
            Binary::Add => zip_map(a, b, o, s, |x, y| x + y),
            Binary::Sub => zip_map(a, b, o, s, |x, y| x - y),
            Binary::Mul => zip_map(a, b, o, s, |x, y| x * y),
            Binary::Div => zip_map(a, b, o, s, |x, y| x / y),
            _ => unreachable!("float arithmetic"),
        },
        Buf::Bool(o) => compare_floats(op, a, b, o, s),
        _ => unreachable!("a float or bool buffer"),
    }
}

/// rhai's float comparison ([`float_compare`]) of two operands: a loop that decides every pair
/// it can without rhai's division (and vectorises), then, only if some pair was too close to
/// call, the exact comparison for the selection.
fn compare_floats<A: Operand<f64>, B: Operand<f64>>(
    op: Binary,
    a: A,
    b: B,
    out: &mut [bool],
    selection: &[u16],
) {
    // Against a constant (`revenue > 100000.0`), most rows are decided by the plain comparison;
    // a constant on the left is the comparison turned round.
    let near = |side: Option<f64>| side.and_then(NearConstant::new);
    let unsure = match (near(a.constant()), near(b.constant())) {
        (None, Some(c)) => compare_against(op, a, c, out, selection),
        (Some(c), None) => compare_against(op.swapped(), b, c, out, selection),
        _ => {
            let mut unsure = false;
            macro_rules! sure {
                ($op:expr) => {
                    zip_map(a, b, out, selection, |x, y| {
                        let (sure, answer) = float_compare_unless_close($op, x, y);
                        unsure |= !sure;
                        answer
                    })
                };
            }
            each_comparison!(op, sure);
            unsure
        }
    };
    if unsure {
        zip_map(a, b, out, selection, |x, y| float_compare(op, x, y));
    }
}

/// `x op c` by the plain comparison into `out`; `true` when some value was too close to the
/// constant to call that way (see [`NearConstant`]), so rhai's comparison must decide again.
fn compare_against(
    op: Binary,
    x: impl Operand<f64>,
    c: NearConstant,
    out: &mut [bool],
    selection: &[u16],
) -> bool {
    let mut unsure = false;
    macro_rules! against {
        ($op:expr) => {
            zip_map(x, Splat(c.value()), out, selection, |v, c_value| {
                unsure |= !c.sure(v);
                ordered($op, v, c_value)
            })
        };
    }
    each_comparison!(op, against);
    unsure
}

/// `op` over typed operands in one loop, when both are floats or ints and `out` holds the
/// result's kind; `false` when another path must do it.
fn typed_binary(
    op: Binary,
    left: &Buf<'_>,
    right: &Buf<'_>,
    selection: &[u16],
    out: &mut Buf<'_>,
    marks: &mut Marks,
) -> bool {
    let s = selection;
    match (left, right, out) {
        (Buf::Float(a), Buf::Float(b), Buf::Float(o)) => match op {
            Binary::Add => zip_map(&a[..], &b[..], o, s, |x, y| x + y),
            Binary::Sub => zip_map(&a[..], &b[..], o, s, |x, y| x - y),
            Binary::Mul => zip_map(&a[..], &b[..], o, s, |x, y| x * y),
            Binary::Div => zip_map(&a[..], &b[..], o, s, |x, y| x / y),
            Binary::Rem => zip_map(&a[..], &b[..], o, s, |x, y| x % y),
            Binary::Pow => zip_map(&a[..], &b[..], o, s, f64::powf),
            _ => return false,
        },
        (Buf::Float(a), Buf::Int(b), Buf::Float(o)) => match op {
            Binary::Add => zip_map(&a[..], &b[..], o, s, |x, y| x + y as f64),
            Binary::Sub => zip_map(&a[..], &b[..], o, s, |x, y| x - y as f64),
            Binary::Mul => zip_map(&a[..], &b[..], o, s, |x, y| x * y as f64),
            Binary::Div => zip_map(&a[..], &b[..], o, s, |x, y| x / y as f64),
            _ => return false,
        },
        (Buf::Int(a), Buf::Float(b), Buf::Float(o)) => match op {
            Binary::Add => zip_map(&a[..], &b[..], o, s, |x, y| x as f64 + y),
            Binary::Sub => zip_map(&a[..], &b[..], o, s, |x, y| x as f64 - y),
            Binary::Mul => zip_map(&a[..], &b[..], o, s, |x, y| x as f64 * y),
            Binary::Div => zip_map(&a[..], &b[..], o, s, |x, y| x as f64 / y),
            _ => return false,
        },
        (Buf::Float(a), Buf::Float(b), Buf::Bool(o)) if op.compares() => {
            compare_floats(op, &a[..], &b[..], o, s)
        }
        (Buf::Float(a), Buf::Int(b), Buf::Bool(o)) if op.compares() => {
            zip_map(&a[..], &b[..], o, s, |x, y| float_compare(op, x, y as f64))
        }
        (Buf::Int(a), Buf::Float(b), Buf::Bool(o)) if op.compares() => {
            zip_map(&a[..], &b[..], o, s, |x, y| float_compare(op, x as f64, y))
        }
        (Buf::Int(a), Buf::Int(b), Buf::Bool(o)) if op.compares() => {
            compare_ordered(op, a, b, o, s)
        }
        (Buf::Date(a), Buf::Date(b), Buf::Int(o)) if op == Binary::Sub => {
            zip_map(&a[..], &b[..], o, s, |x, y| i64::from(x) - i64::from(y))
        }
        (Buf::Date(a), Buf::Date(b), Buf::Bool(o)) if op.compares() => {
            compare_ordered(op, a, b, o, s)
        }
        (Buf::Int(a), Buf::Int(b), Buf::Int(o)) => {
            for &i in selection {
                let p = usize::from(i);
                match int_arithmetic(op, a[p], b[p]) {
                    Some(v) => o[p] = v,
                    None => marks.defer(p),
                }
            }
        }
        _ => return false,
    }
    true
}

/// The sum of the non-null elements of a float list column's cell `row`, added in order from
/// 0.0 as [`library::total`] does, and their count.
fn list_cell_total(
    offsets: &ListOffsets<'_>,
    floats: &arrow::array::Float64Array,
    row: usize,
) -> (f64, usize) {
    let (values, valid) = (floats.values(), floats.nulls());
    let (mut total, mut count) = (0.0, 0);
    for element in offsets.range(row) {
        if valid.is_none_or(|v| v.is_valid(element)) {
            total += values[element];
            count += 1;
        }
    }
    (total, count)
}

/// `sum` (`total`) or `mean` (`()` over no numbers) of `count` numbers adding up to `total`.
fn sum_or_mean(aggregate: Aggregate, total: f64, count: usize) -> Option<f64> {
    match aggregate {
        Aggregate::Sum => Some(total),
        _ => (count > 0).then(|| total / count as f64),
    }
}

/// The rows of `selection` whose value is valid into `out`; the others (their value is `()`)
/// become `unit`, which the caller evaluates next into `out`.
///
/// No branch a row, which a column null on a random share of rows mispredicts: every row's
/// value is copied (a row without one is written over next, or deferred), and every row is
/// written to `unit` but counted only when it has no value.
fn take_valid<T: Copy>(
    values: &[T],
    valid: &[bool],
    out: &mut [T],
    selection: &[u16],
    unit: &mut Vec<u16>,
) {
    unit.resize(selection.len(), 0);
    let mut units = 0;
    for &i in selection {
        let p = usize::from(i);
        out[p] = values[p];
        unit[units] = i;
        units += usize::from(!valid[p]);
    }
    unit.truncate(units);
}

/// Copies the `selection` rows of one buffer into another of the same type.
fn copy_rows<T: Copy>(from: &[T], to: &mut [T], selection: &[u16]) {
    match dense(selection) {
        Some(r) => to[r.clone()].copy_from_slice(&from[r]),
        None => {
            for &i in selection {
                to[usize::from(i)] = from[usize::from(i)];
            }
        }
    }
}

/// Copies the `selection` rows of a typed buffer into a tagged one, each value as `tag` makes
/// it (what reading and writing each row through [`Scalar`] would do, without the two matches
/// a row).
fn wrap_rows<'b, T: Copy>(
    from: &[T],
    to: &mut [Scalar<'b>],
    selection: &[u16],
    tag: impl Fn(T) -> Scalar<'b>,
) {
    for &i in selection {
        to[usize::from(i)] = tag(from[usize::from(i)]);
    }
}

/// A typed number buffer, read as floats.
#[derive(Clone, Copy)]
pub enum Numbers<'a> {
    Float(&'a [f64]),
    Int(&'a [i64]),
}

impl Numbers<'_> {
    /// The buffer's numbers, when it holds floats or ints.
    pub fn of<'a>(buffer: &'a Buf<'_>) -> Option<Numbers<'a>> {
        match buffer {
            Buf::Float(v) => Some(Numbers::Float(v)),
            Buf::Int(v) => Some(Numbers::Int(v)),
            _ => None,
        }
    }

    #[inline]
    fn at(self, p: usize) -> f64 {
        match self {
            Numbers::Float(v) => v[p],
            Numbers::Int(v) => v[p] as f64,
        }
    }
}

/// A number buffer that may hold `()` on some rows (a nullable column), read as floats.
#[derive(Clone, Copy)]
struct MaybeNumbers<'a> {
    numbers: Numbers<'a>,
    /// Which rows hold a number; `None`: all.
    valid: Option<&'a [bool]>,
}

impl MaybeNumbers<'_> {
    /// The buffer's numbers, when it holds floats or ints (or `()`).
    fn of<'a>(buffer: &'a Buf<'_>) -> Option<MaybeNumbers<'a>> {
        match buffer {
            Buf::OptFloat(v, valid) => Some(MaybeNumbers {
                numbers: Numbers::Float(v),
                valid: Some(valid),
            }),
            Buf::OptInt(v, valid) => Some(MaybeNumbers {
                numbers: Numbers::Int(v),
                valid: Some(valid),
            }),
            other => Numbers::of(other).map(|numbers| MaybeNumbers {
                numbers,
                valid: None,
            }),
        }
    }

    #[inline]
    fn at(self, p: usize) -> Option<f64> {
        self.valid
            .is_none_or(|valid| valid[p])
            .then(|| self.numbers.at(p))
    }
}

/// A numeric helper over typed arguments in one loop (ints widened where the helper widens
/// them); `false` when the general path must do it.
fn typed_call(
    func: Func,
    args: &[Buf<'_>],
    selection: &[u16],
    out: &mut Buf<'_>,
    marks: &mut Marks,
) -> bool {
    let numbers: Option<Vec<Numbers<'_>>> = args.iter().map(Numbers::of).collect();
    let Some(numbers) = numbers else {
        return false;
    };
    macro_rules! each {
        ($o:ident, |$p:ident| $value:expr) => {
            for &i in selection {
                let $p = usize::from(i);
                match $value {
                    Some(v) => $o[$p] = v,
                    None => marks.defer($p),
                }
            }
        };
    }
    match (func, numbers.as_slice(), out) {
        (Func::Clamp, [x, lo, hi], Buf::Float(o)) => {
            each!(o, |p| library::clamp(x.at(p), lo.at(p), hi.at(p)).ok())
        }
        (Func::Scale, [x, lo, hi], Buf::Float(o)) => {
            each!(o, |p| library::scale(x.at(p), lo.at(p), hi.at(p)).ok())
        }
        (Func::Ln | Func::Exp | Func::Sqrt | Func::Log10, [x], Buf::Float(o)) => {
            let f = match func {
                Func::Ln => f64::ln,
                Func::Exp => f64::exp,
                Func::Sqrt => f64::sqrt,
                _ => f64::log10,
            };
            each!(o, |p| Some(f(x.at(p))))
        }
        (Func::ToFloat, [x], Buf::Float(o)) => each!(o, |p| Some(x.at(p))),
        (Func::Pow, [x, y], Buf::Float(o)) => each!(o, |p| Some(x.at(p).powf(y.at(p)))),
        (Func::Round | Func::Ceiling | Func::FloorProperty, [Numbers::Float(x)], Buf::Float(o)) => {
            let f = match func {
                Func::Round => f64::round,
                Func::Ceiling => f64::ceil,
                _ => f64::floor,
            };
            each!(o, |p| Some(f(x[p])))
        }
        (Func::ToInt, [Numbers::Float(x)], Buf::Int(o)) => each!(o, |p| {
            let f = x[p];
            (f <= i64::MAX as f64 && f >= i64::MIN as f64 || f.is_nan()).then(|| f.trunc() as i64)
        }),
        (Func::ToInt, [Numbers::Int(x)], Buf::Int(o)) => each!(o, |p| Some(x[p])),
        _ => return false,
    }
    true
}

/// rhai's hash of a switch value (`None`: a value rhai does not hash, which takes the default
/// case); `Err` for a value not compiled.
fn switch_hash(value: Scalar<'_>) -> Result<Option<u64>, Defer> {
    let dynamic = match value {
        Scalar::Unit => rhai::Dynamic::UNIT,
        Scalar::Bool(b) => rhai::Dynamic::from_bool(b),
        Scalar::Int(i) => rhai::Dynamic::from_int(i),
        Scalar::Float(f) => rhai::Dynamic::from_float(f),
        Scalar::Str(s) => rhai::Dynamic::from(s.to_string()),
        Scalar::Date(_) | Scalar::Timestamp(_) => return Ok(None),
        Scalar::List(..) | Scalar::Reasons(_) => return Err(Defer),
    };
    let mut hasher = ahash::AHasher::default();
    dynamic.hash(&mut hasher);
    Ok(Some(hasher.finish()))
}
