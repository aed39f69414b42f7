//! Typed loops over float, int and bool buffers: one tight loop per operator and operand
//! pairing, which the compiler can vectorise. An operand is a buffer, a column read in place, or
//! a constant ([`Operand`]); `a op b` ([`Chunk::binary`]) takes these loops when both operands
//! are numbers, and rhai's general rules, a row at a time, otherwise. Also here: a float node's
//! values read without a copy ([`FloatArg`]), and number buffers read as floats ([`Numbers`]).

use arrow::array::Array;

use crate::rules::compiled::ir::{Binary, Node};
use crate::rules::compiled::ops::{
    binary, float_compare, float_compare_unless_close, int_arithmetic, ordered, Defer, NearConstant,
};
use crate::rules::compiled::scalar::{dense, Buf, Const, Input, Kind};

use super::marks::Marks;
use super::Chunk;

impl<'b> Chunk<'b> {
    /// `a op b`: typed loops when both operands are floats or ints, and the general rules
    /// (every kind rhai meets, the row deferred where rhai fails) otherwise.
    pub(super) fn binary(
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
    pub(super) fn floats(&mut self, node: &'b Node, selection: &[u16]) -> FloatArg<'b> {
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

    pub(super) fn give_floats(&mut self, arg: FloatArg<'b>) {
        if let FloatArg::Evaluated(values) = arg {
            self.give(values);
        }
    }
}

/// One operand of a typed loop: a value per position (a buffer, or a column read in place), or
/// one value for every position (a constant, with no buffer filled).
pub(super) trait Operand<T: Copy>: Copy {
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
pub(super) struct Splat<T>(pub(super) T);

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
pub(super) enum Floats<'a> {
    Each(&'a [f64]),
    All(f64),
}

/// A float node's values for a chunk: read in place (a constant, a column, a variable's
/// buffer), or evaluated into a buffer of the pool.
pub(super) enum FloatArg<'b> {
    In(Floats<'b>),
    /// The variable in this slot, whose buffer holds floats.
    Var(usize),
    Evaluated(Buf<'b>),
}

impl FloatArg<'_> {
    /// The values, a variable's read from `vars` (the chunk's variables).
    pub(super) fn floats<'s>(&'s self, vars: &'s [Buf<'_>]) -> Floats<'s> {
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
    pub(super) fn at(self, p: usize) -> f64 {
        match self {
            Numbers::Float(v) => v[p],
            Numbers::Int(v) => v[p] as f64,
        }
    }
}

/// A number buffer that may hold `()` on some rows (a nullable column), read as floats.
#[derive(Clone, Copy)]
pub(super) struct MaybeNumbers<'a> {
    numbers: Numbers<'a>,
    /// Which rows hold a number; `None`: all.
    valid: Option<&'a [bool]>,
}

impl MaybeNumbers<'_> {
    /// The buffer's numbers, when it holds floats or ints (or `()`).
    pub(super) fn of<'a>(buffer: &'a Buf<'_>) -> Option<MaybeNumbers<'a>> {
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
    pub(super) fn at(self, p: usize) -> Option<f64> {
        self.valid
            .is_none_or(|valid| valid[p])
            .then(|| self.numbers.at(p))
    }
}
