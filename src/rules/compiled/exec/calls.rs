//! Helper calls (`clamp`, `ln`, `round`, `len` …): a typed loop when every argument is a
//! number ([`typed_call`]), rhai's helper a row at a time otherwise; and rhai's size checks
//! (`limits.max_array_size`, `limits.max_string_size`) of the arrays and strings a row makes.

use crate::rules::compiled::ir::{Func, Node};
use crate::rules::compiled::ops::{call, Defer};
use crate::rules::compiled::scalar::{Buf, Input, Kind, Scalar};
use crate::rules::library;

use super::kernels::Numbers;
use super::marks::Marks;
use super::select::copy_rows;
use super::Chunk;

impl<'b> Chunk<'b> {
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
    pub(super) fn over_limits(&self, value: Scalar<'b>) -> bool {
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

    pub(super) fn call(
        &mut self,
        func: Func,
        args: &'b [Node],
        selection: &[u16],
        out: &mut Buf<'b>,
    ) {
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
