//! Selections, and the loops that sort and copy their rows without a branch a row: dropping
//! the done rows ([`Chunk::live`]), splitting by a condition ([`Chunk::split`]), copying the
//! selected rows between buffers ([`Chunk::copy`]), and the picking `if` ([`Chunk::blend`]),
//! which computes both branches for every row and picks, a branch that is arithmetic with a
//! constant computed in the picking loop itself.

use crate::rules::compiled::ir::{Binary, Block, Func, Node, Stmt, Unary};
use crate::rules::compiled::ops::{ordered, NearConstant};
use crate::rules::compiled::scalar::{dense, Buf, Const, Kind, Scalar};

use super::kernels::{all_finite, not_finite_bits, FloatArg, Floats, Operand, Splat};
use super::{Chunk, Dest, Direct};

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

impl<'b> Chunk<'b> {
    pub(super) fn live(&self, selection: &mut Vec<u16>) {
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

    /// Splits `selection` by a condition: (true rows, false rows); a row whose condition is no
    /// bool is deferred (rhai: a type mismatch).
    pub(super) fn split(&mut self, selection: &[u16], condition: &'b Node) -> (Vec<u16>, Vec<u16>) {
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

    /// `if c { a } else { b }` where `a` and `b` are single expressions that cannot fail and
    /// give the same typed kind, and `c` holds no block (so assigns nothing): both are
    /// computed for every row and the condition picks,
    /// with no split of the rows (what a `CASE WHEN` of two columns does). `false` when the
    /// `if` is not of that form, or its value cannot go straight where it is wanted.
    pub(super) fn blend(
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
    pub(super) fn copy(&mut self, from: &Buf<'b>, selection: &[u16], to: &mut Buf<'b>) {
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

/// `out[p] = value` for the selected positions.
#[inline]
pub(super) fn fill<T: Copy>(out: &mut [T], selection: &[u16], value: T) {
    match dense(selection) {
        Some(r) => out[r].fill(value),
        None => selection.iter().for_each(|&i| out[usize::from(i)] = value),
    }
}

/// The rows of `selection` whose value is valid into `out`; the others (their value is `()`)
/// become `unit`, which the caller evaluates next into `out`.
///
/// No branch a row, which a column null on a random share of rows mispredicts: every row's
/// value is copied (a row without one is written over next, or deferred), and every row is
/// written to `unit` but counted only when it has no value.
pub(super) fn take_valid<T: Copy>(
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
pub(super) fn copy_rows<T: Copy>(from: &[T], to: &mut [T], selection: &[u16]) {
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
