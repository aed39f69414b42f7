//! What operators and helpers do to one row's values, following rhai's rules for the types they
//! meet (its built-in operators for standard types, registered functions first for dates).
//!
//! Every function returns `Err(Defer)` where the interpreter would fail the row, and wherever a
//! case is rare enough not to be worth compiling: such a row is handed to the interpreter, whose
//! result (or located message) it then gets. So a compiled rule only ever has to be right about
//! the rows it finishes itself, which the differential tests check to the bit.

use std::fmt::Write as _;

use bumpalo::Bump;

use super::ir::{Binary, Func, Unary};
use super::scalar::Scalar;
use crate::rules::dates::{self, Date, DatePart, Instant, Timestamp, TimestampPart};
use crate::rules::library;

/// The row is left to the interpreter (it fails there, or takes a path not compiled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defer;

/// A row's result.
pub type Outcome<'b> = Result<Scalar<'b>, Defer>;

/// What strings a row makes are measured against, and where they live.
pub struct Strings<'b> {
    pub arena: &'b Bump,
    /// `limits.max_string_size` (0: none).
    pub max_len: usize,
}

impl<'b> Strings<'b> {
    /// `text` as a row's string, or `Defer` past the size limit (rhai's "Length of string").
    pub fn make(&self, text: &str) -> Outcome<'b> {
        if self.max_len > 0 && text.len() > self.max_len {
            return Err(Defer);
        }
        Ok(Scalar::Str(self.arena.alloc_str(text)))
    }
}

/// A unary operator.
pub fn unary<'b>(op: Unary, x: Scalar<'b>) -> Outcome<'b> {
    match (op, x) {
        (Unary::Neg, Scalar::Int(i)) => i.checked_neg().map(Scalar::Int).ok_or(Defer),
        (Unary::Neg, Scalar::Float(f)) => Ok(Scalar::Float(-f)),
        (Unary::Plus, Scalar::Int(_) | Scalar::Float(_)) => Ok(x),
        (Unary::Not, Scalar::Bool(b)) => Ok(Scalar::Bool(!b)),
        _ => Err(Defer),
    }
}

/// rhai's float comparisons in a checked build: within a relative epsilon counts as equal.
///
/// The quotient rhai divides by is only needed near the epsilon: [`float_compare_sure`]
/// decides every other pair from the sign of the difference, and the division runs for the rest.
#[inline]
pub fn float_compare(op: Binary, x: f64, y: f64) -> bool {
    match float_compare_sure(op, x, y) {
        Some(answer) => answer,
        None => float_compare_exact(op, x, y),
    }
}

/// [`float_compare`] without the division, when the answer does not depend on it: `x` and `y`
/// differ by more than 4 epsilons of the larger (the quotient is then beyond ±epsilon, whatever
/// its rounding) or are equal, and that larger is a finite normal number far from underflow.
/// `None`: NaN, infinities, tiny values and near-equal pairs, which take the exact formula.
/// The two agree on every pair (`fast_comparison_equals_rhai_formula` in the tests).
#[inline]
pub fn float_compare_sure(op: Binary, x: f64, y: f64) -> Option<bool> {
    let (sure, answer) = float_compare_unless_close(op, x, y);
    sure.then_some(answer)
}

/// [`float_compare_sure`] as two flags, with no branch (so a loop of it vectorises): whether
/// the pair is decided without the division, and the answer if it is.
#[inline(always)]
pub fn float_compare_unless_close(op: Binary, x: f64, y: f64) -> (bool, bool) {
    let max = if x * y == 0.0 {
        1.0
    } else {
        x.abs().max(y.abs())
    };
    let d = x - y;
    let sure = (max > 1e-290)
        & (max < f64::INFINITY)
        & ((d == 0.0) | (d.abs() > 4.0 * f64::EPSILON * max));
    (sure, ordered(op, d, 0.0))
}

/// [`float_compare_unless_close`] against a constant `c`, cheaper per row: a value outside a
/// band of ±2^-20 relative around `c` (and finite) is decided by `x op c` alone, with no
/// division and no magnitude taken. The band is far wider than the 4 epsilons the general test
/// allows, which keeps the proof short: outside it, `|x - c|` exceeds 4 epsilons of
/// `max(|x|, |c|)` (or `x * c` underflows to 0 and rhai divides by 1), and the difference's
/// sign is exact. Values inside the band, NaN and infinities take rhai's formula.
/// `fast_constant_comparison_equals_rhai_formula` in the tests holds it to the formula.
#[derive(Debug, Clone, Copy)]
pub struct NearConstant {
    c: f64,
    below: f64,
    above: f64,
}

impl NearConstant {
    /// The band around `c`; `None` for constants the shortcut does not cover (NaN,
    /// infinities, and magnitudes under 2^-30 or over 2^1000, other than 0).
    pub fn new(c: f64) -> Option<Self> {
        let magnitude = c.abs();
        if c == 0.0 {
            // `x * 0` is 0 for a finite x, so rhai divides by 1: sure beyond 2^-40.
            let band = 2f64.powi(-40);
            return Some(Self {
                c,
                below: -band,
                above: band,
            });
        }
        if !(2f64.powi(-30)..=2f64.powi(1000)).contains(&magnitude) {
            return None;
        }
        let band = magnitude * 2f64.powi(-20);
        Some(Self {
            c,
            below: c - band,
            above: c + band,
        })
    }

    /// The constant.
    #[inline(always)]
    pub fn value(&self) -> f64 {
        self.c
    }

    /// Whether `x` compared with the constant (either way round) is decided by `x op c`;
    /// branch-free, so a loop of it vectorises.
    #[inline(always)]
    pub fn sure(&self, x: f64) -> bool {
        (x == self.c) | (((x < self.below) | (x > self.above)) & (x.abs() < f64::INFINITY))
    }
}

/// rhai's formula itself (`rhai::packages::logic`, checked floats).
fn float_compare_exact(op: Binary, x: f64, y: f64) -> bool {
    let max = if x * y == 0.0 {
        1.0
    } else {
        x.abs().max(y.abs())
    };
    if max == 0.0 {
        return matches!(op, Binary::Eq | Binary::Ge | Binary::Le);
    }
    match op {
        Binary::Eq => (x - y).abs() / max <= f64::EPSILON,
        Binary::Ne => (x - y).abs() / max > f64::EPSILON,
        Binary::Gt => (x - y) / max > f64::EPSILON,
        Binary::Ge => (x - y) / max > -f64::EPSILON,
        Binary::Lt => (y - x) / max > f64::EPSILON,
        Binary::Le => (y - x) / max > -f64::EPSILON,
        _ => unreachable!("only comparisons"),
    }
}

/// `x op y` for an ordered type.
#[inline(always)]
pub fn ordered<T: PartialOrd>(op: Binary, x: T, y: T) -> bool {
    match op {
        Binary::Eq => x == y,
        Binary::Ne => x != y,
        Binary::Lt => x < y,
        Binary::Le => x <= y,
        Binary::Gt => x > y,
        Binary::Ge => x >= y,
        _ => unreachable!("only comparisons"),
    }
}

fn float_arithmetic(op: Binary, x: f64, y: f64) -> f64 {
    match op {
        Binary::Add => x + y,
        Binary::Sub => x - y,
        Binary::Mul => x * y,
        Binary::Div => x / y,
        Binary::Rem => x % y,
        Binary::Pow => x.powf(y),
        _ => unreachable!("only arithmetic"),
    }
}

/// Integer arithmetic as rhai does it; `None` where rhai fails the row (overflow, division by
/// zero, a negative power) or `op` is no arithmetic, so the caller defers the row to the path
/// that reports the failure.
pub(super) fn int_arithmetic(op: Binary, x: i64, y: i64) -> Option<i64> {
    match op {
        Binary::Add => x.checked_add(y),
        Binary::Sub => x.checked_sub(y),
        Binary::Mul => x.checked_mul(y),
        Binary::Div => x.checked_div(y),
        Binary::Rem => x.checked_rem(y),
        Binary::Pow => u32::try_from(y).ok().and_then(|y| x.checked_pow(y)),
        _ => None,
    }
}

/// The instant of a date or timestamp, for comparing the two kinds with each other.
fn instant(x: Scalar<'_>) -> Option<i128> {
    match x {
        Scalar::Date(d) => Some(Date::from_days(d).utc_micros()),
        Scalar::Timestamp(t) => Some(Timestamp::from_micros(t).utc_micros()),
        _ => None,
    }
}

/// A binary operator.
pub fn binary<'b>(op: Binary, x: Scalar<'b>, y: Scalar<'b>, strings: &Strings<'b>) -> Outcome<'b> {
    use Scalar as S;
    let compares = op.compares();
    Ok(match (x, y) {
        (S::Int(a), S::Int(b)) if compares => S::Bool(ordered(op, a, b)),
        (S::Int(a), S::Int(b)) => S::Int(int_arithmetic(op, a, b).ok_or(Defer)?),
        (S::Float(a), S::Float(b)) if compares => S::Bool(float_compare(op, a, b)),
        (S::Float(a), S::Float(b)) => S::Float(float_arithmetic(op, a, b)),
        (S::Float(a), S::Int(b)) if compares => S::Bool(float_compare(op, a, b as f64)),
        (S::Float(a), S::Int(b)) => S::Float(float_arithmetic(op, a, b as f64)),
        (S::Int(a), S::Float(b)) if compares => S::Bool(float_compare(op, a as f64, b)),
        (S::Int(a), S::Float(b)) => S::Float(float_arithmetic(op, a as f64, b)),
        (S::Bool(a), S::Bool(b)) if compares => S::Bool(ordered(op, a, b)),
        (S::Str(a), S::Str(b)) if compares => S::Bool(ordered(op, a, b)),
        (S::Str(a), S::Str(b)) if op == Binary::Add => {
            if strings.max_len > 0 && a.len() + b.len() > strings.max_len {
                return Err(Defer);
            }
            let joined = bumpalo::collections::String::from_str_in(a, strings.arena);
            let mut joined = joined;
            joined.push_str(b);
            S::Str(joined.into_bump_str())
        }
        (S::Unit, S::Unit) if compares => S::Bool(op == Binary::Eq),
        (S::Unit, S::Str(_)) if op == Binary::Add => y,
        (S::Str(_), S::Unit) if op == Binary::Add => x,
        // Dates and timestamps: the registered functions.
        (S::Date(a), S::Date(b)) if op == Binary::Sub => {
            S::Int(Date::from_days(a).days_since(Date::from_days(b)))
        }
        (S::Date(d), S::Int(n)) if op == Binary::Add => {
            S::Date(Date::from_days(d).add_days(n).map_err(|_| Defer)?.days())
        }
        (S::Int(n), S::Date(d)) if op == Binary::Add => {
            S::Date(Date::from_days(d).add_days(n).map_err(|_| Defer)?.days())
        }
        (S::Date(d), S::Int(n)) if op == Binary::Sub => {
            S::Date(Date::from_days(d).sub_days(n).map_err(|_| Defer)?.days())
        }
        (S::Timestamp(a), S::Timestamp(b)) if op == Binary::Sub => S::Float(
            dates::fractional_days(Timestamp::from_micros(b), Timestamp::from_micros(a)),
        ),
        (S::Date(_) | S::Timestamp(_), S::Date(_) | S::Timestamp(_)) if compares => {
            let (a, b) = (instant(x).ok_or(Defer)?, instant(y).ok_or(Defer)?);
            S::Bool(ordered(op, a, b))
        }
        // Arrays with arrays: rhai's array functions; not compiled.
        (S::List(..) | S::Reasons(_), S::List(..) | S::Reasons(_)) => return Err(Defer),
        // Different types, not both numbers: rhai's default comparisons.
        _ if compares && x.type_name() != y.type_name() => S::Bool(op == Binary::Ne),
        _ => return Err(Defer),
    })
}

/// A number argument of a helper: ints widened; `()` or anything else fails the row.
fn number(x: Scalar<'_>) -> Result<f64, Defer> {
    x.number().ok_or(Defer)
}

/// A helper, method or property.
pub fn call<'b>(func: Func, args: &[Scalar<'b>], strings: &Strings<'b>) -> Outcome<'b> {
    use Scalar as S;
    let float = |f: f64| Ok(S::Float(f));
    match (func, args) {
        (Func::Clamp, [x, lo, hi]) => {
            float(library::clamp(number(*x)?, number(*lo)?, number(*hi)?).map_err(|_| Defer)?)
        }
        (Func::Scale, [x, lo, hi]) => {
            float(library::scale(number(*x)?, number(*lo)?, number(*hi)?).map_err(|_| Defer)?)
        }
        (Func::Pct, [part, whole]) => {
            Ok(library::pct(number(*part)?, number(*whole)?).map_or(S::Unit, S::Float))
        }
        (Func::SafeDiv, [a, b, default]) => match library::safe_div(number(*a)?, number(*b)?) {
            Some(quotient) => Ok(S::Float(quotient)),
            // rhai checks the size of every function's result: a default over the limits fails.
            None => match default {
                S::Str(text) if strings.max_len > 0 && text.len() > strings.max_len => Err(Defer),
                S::List(..) | S::Reasons(_) => Err(Defer),
                _ => Ok(*default),
            },
        },
        (Func::Pow, [x, y]) => float(number(*x)?.powf(number(*y)?)),
        (Func::RoundTo, [x, S::Int(digits)]) => float(library::round_to(number(*x)?, *digits)),
        (Func::Max | Func::Min, [S::Int(a), S::Int(b)]) => Ok(S::Int(if func == Func::Max {
            if a >= b {
                *a
            } else {
                *b
            }
        } else if a <= b {
            *a
        } else {
            *b
        })),
        (Func::Max | Func::Min, [a @ (S::Int(_) | S::Float(_)), b @ (S::Int(_) | S::Float(_))]) => {
            let (a, b) = (number(*a)?, number(*b)?);
            float(if func == Func::Max {
                if a >= b {
                    a
                } else {
                    b
                }
            } else if a <= b {
                a
            } else {
                b
            })
        }
        (Func::Ln | Func::Exp | Func::Sqrt | Func::Log10, [x @ (S::Int(_) | S::Float(_))]) => {
            let x = number(*x)?;
            float(match func {
                Func::Ln => x.ln(),
                Func::Exp => x.exp(),
                Func::Sqrt => x.sqrt(),
                _ => x.log10(),
            })
        }
        (Func::LogOne, [S::Float(x)]) => float(x.log10()),
        (Func::Log, [S::Float(x), S::Float(base)]) => float(x.log(*base)),
        (Func::Floor | Func::Ceil, [S::Int(i)]) => Ok(S::Int(*i)),
        (Func::Floor | Func::FloorProperty, [S::Float(f)]) => float(f.floor()),
        (Func::Ceil | Func::Ceiling, [S::Float(f)]) => float(f.ceil()),
        (Func::Round, [S::Float(f)]) => float(f.round()),
        (Func::Abs, [S::Int(i)]) => i.checked_abs().map(S::Int).ok_or(Defer),
        (Func::Abs, [S::Float(f)]) => float(f.abs()),
        (Func::ToInt, [S::Int(i)]) => Ok(S::Int(*i)),
        (Func::ToInt, [S::Float(f)]) => {
            if *f > i64::MAX as f64 || *f < i64::MIN as f64 {
                Err(Defer)
            } else {
                Ok(S::Int(f.trunc() as i64))
            }
        }
        (Func::ToFloat, [x @ (S::Int(_) | S::Float(_))]) => float(number(*x)?),
        (Func::Len, [S::Str(s)]) => Ok(S::Int(s.chars().count() as i64)),
        (Func::DateOf, [S::Str(text)]) => Date::parse(text)
            .map(|d| S::Date(d.days()))
            .map_err(|_| Defer),
        (Func::DateOf, [S::Int(y), S::Int(m), S::Int(d)]) => dates::date_from_parts(*y, *m, *d)
            .map(|d| S::Date(d.days()))
            .map_err(|_| Defer),
        (Func::TimestampOf, [S::Str(text)]) => Timestamp::parse(text)
            .map(|t| S::Timestamp(t.micros()))
            .map_err(|_| Defer),
        (Func::DaysBetween, [S::Date(a), S::Date(b)]) => {
            Ok(S::Int(Date::from_days(*b).days_since(Date::from_days(*a))))
        }
        (
            Func::DaysBetween,
            [a @ (S::Date(_) | S::Timestamp(_)), b @ (S::Date(_) | S::Timestamp(_))],
        ) => {
            let (from, to) = (instant(*a).ok_or(Defer)?, instant(*b).ok_or(Defer)?);
            float((to - from) as f64 / dates::MICROS_PER_DAY as f64)
        }
        (Func::Year | Func::Month | Func::Day | Func::Weekday, [S::Date(d)]) => {
            let part = match func {
                Func::Year => DatePart::Year,
                Func::Month => DatePart::Month,
                Func::Day => DatePart::Day,
                _ => DatePart::Weekday,
            };
            Date::from_days(*d)
                .part(part)
                .map(S::Int)
                .map_err(|_| Defer)
        }
        (Func::Year | Func::Month | Func::Day | Func::Hour, [S::Timestamp(t)]) => {
            let part = match func {
                Func::Year => TimestampPart::Year,
                Func::Month => TimestampPart::Month,
                Func::Day => TimestampPart::Day,
                _ => TimestampPart::Hour,
            };
            Timestamp::from_micros(*t)
                .part(part)
                .map(S::Int)
                .map_err(|_| Defer)
        }
        (Func::DateOfTimestamp, [S::Timestamp(t)]) => {
            Ok(S::Date(Timestamp::from_micros(*t).date().days()))
        }
        (Func::ToString, [x]) => {
            let mut text = String::new();
            display(*x, &mut text)?;
            strings.make(&text)
        }
        _ => Err(Defer),
    }
}

/// Appends what rhai's `to_string` gives for `x` (a template's part): `()` is empty, floats as
/// rhai prints them, dates and timestamps as text.
pub fn display(x: Scalar<'_>, out: &mut impl Text) -> Result<(), Defer> {
    match x {
        Scalar::Unit => {}
        Scalar::Bool(b) => out.push(if b { "true" } else { "false" }),
        Scalar::Int(i) => out.push(itoa::Buffer::new().format(i)),
        Scalar::Float(f) => out.write(format_args!("{}", rhai::FloatWrapper::new(f))),
        Scalar::Str(s) => out.push(s),
        Scalar::Date(d) => out.write(format_args!("{}", Date::from_days(d))),
        Scalar::Timestamp(t) => out.write(format_args!("{}", Timestamp::from_micros(t))),
        Scalar::List(..) | Scalar::Reasons(_) => return Err(Defer),
    }
    Ok(())
}

/// Where [`display`] writes: a `String`, or a string in the slice's arena.
pub trait Text {
    fn push(&mut self, text: &str);
    fn write(&mut self, args: std::fmt::Arguments<'_>);
}

impl Text for String {
    fn push(&mut self, text: &str) {
        self.push_str(text);
    }
    fn write(&mut self, args: std::fmt::Arguments<'_>) {
        let _ = self.write_fmt(args);
    }
}

impl Text for bumpalo::collections::String<'_> {
    fn push(&mut self, text: &str) {
        self.push_str(text);
    }
    fn write(&mut self, args: std::fmt::Arguments<'_>) {
        let _ = self.write_fmt(args);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const COMPARISONS: [Binary; 6] = [
        Binary::Eq,
        Binary::Ne,
        Binary::Lt,
        Binary::Le,
        Binary::Gt,
        Binary::Ge,
    ];

    /// Asserts `answer` is rhai's for `x op y`.
    fn assert_rhai(op: Binary, x: f64, y: f64, answer: bool) {
        assert_eq!(
            answer,
            float_compare_exact(op, x, y),
            "{op:?} {x:e} {y:e} (bits {:#x} {:#x})",
            x.to_bits(),
            y.to_bits()
        );
    }

    /// Asserts the fast comparison gives rhai's answer for `x` and `y` under every operator.
    fn agree(x: f64, y: f64) {
        for op in COMPARISONS {
            assert_rhai(op, x, y, float_compare(op, x, y));
        }
    }

    /// Values where the formula's corners are: zeros, NaN, infinities, subnormals, the
    /// underflow bound of the fast path, and numbers a few epsilons apart.
    const SPECIAL: [f64; 20] = [
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        5e-324,
        1e-300,
        1e-290,
        1.0000000000000002e-290,
        f64::MAX,
        f64::MIN,
        1.0,
        -1.0,
        1.0 + f64::EPSILON,
        1.0 + 2.0 * f64::EPSILON,
        1.0 + 4.0 * f64::EPSILON,
        1.0 + 5.0 * f64::EPSILON,
        100_000.0,
    ];

    #[test]
    fn fast_comparison_equals_rhai_formula_on_corners() {
        for x in SPECIAL {
            for y in SPECIAL {
                agree(x, y);
            }
        }
    }

    #[test]
    fn fast_comparison_decides_ordinary_pairs_without_the_division() {
        assert_eq!(
            float_compare_sure(Binary::Gt, 100_000.5, 100_000.0),
            Some(true)
        );
        assert_eq!(float_compare_sure(Binary::Le, 3.0, 3.0), Some(true));
        assert_eq!(float_compare_sure(Binary::Eq, 0.0, 7.5), Some(false));
        // Within a few epsilons: left to the formula, which calls them equal.
        assert_eq!(
            float_compare_sure(Binary::Eq, 1.0, 1.0 + f64::EPSILON),
            None
        );
        assert!(float_compare(Binary::Eq, 1.0, 1.0 + f64::EPSILON));
        assert!(!float_compare(Binary::Gt, 1.0 + f64::EPSILON, 1.0));
    }

    /// Any bits, or a value and a neighbour a few ulps or epsilons away.
    fn pair() -> impl Strategy<Value = (f64, f64)> {
        let bits =
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| (f64::from_bits(a), f64::from_bits(b)));
        let ulps = (any::<u64>(), -40i64..40).prop_map(|(a, k)| {
            let x = f64::from_bits(a);
            (x, f64::from_bits(a.wrapping_add_signed(k)))
        });
        let relative = (-1e12f64..1e12, -12i32..12)
            .prop_map(|(x, k)| (x, x * (1.0 + f64::from(k) * f64::EPSILON)));
        let scaled = (any::<u64>(), -12i32..12).prop_map(|(a, k)| {
            let x = f64::from_bits(a);
            (x, x * (1.0 + f64::from(k) * 0.5 * f64::EPSILON))
        });
        // Around the edge of the constant shortcut's band, 2^-20 relative from the constant.
        let band_edge = (any::<u64>(), any::<bool>(), -12i32..12).prop_map(|(c, below, k)| {
            let c = f64::from_bits(c);
            let edge = if below {
                1.0 - 2f64.powi(-20)
            } else {
                1.0 + 2f64.powi(-20)
            };
            (c * edge * (1.0 + f64::from(k) * f64::EPSILON), c)
        });
        prop_oneof![bits, ulps, relative, scaled, band_edge]
    }

    /// Asserts the constant shortcut, where it says it is sure, gives rhai's answer for `x`
    /// against `c` on either side under every operator.
    fn agree_near_constant(x: f64, c: f64) {
        let Some(near) = NearConstant::new(c) else {
            return;
        };
        if !near.sure(x) {
            return;
        }
        for op in COMPARISONS {
            assert_rhai(op, x, c, ordered(op, x, c));
            assert_rhai(op, c, x, ordered(op, c, x));
        }
    }

    #[test]
    fn fast_constant_comparison_equals_rhai_formula_on_corners() {
        let band_edges = [
            100_000.0 * (1.0 + 2f64.powi(-20)),
            100_000.0 * (1.0 - 2f64.powi(-20)),
            2f64.powi(-40),
            -2f64.powi(-40),
            2f64.powi(-30),
            2f64.powi(1000),
            -2f64.powi(1000),
            1e-12,
            0.5e-16,
        ];
        for x in SPECIAL.iter().chain(&band_edges) {
            for c in SPECIAL.iter().chain(&band_edges) {
                agree_near_constant(*x, *c);
            }
        }
    }

    #[test]
    fn fast_constant_comparison_decides_ordinary_values_and_leaves_the_rest() {
        let near = NearConstant::new(100_000.0).expect("an ordinary constant");
        assert!(near.sure(100_000.0));
        assert!(near.sure(250_000.0));
        assert!(near.sure(0.0));
        assert!(near.sure(-3.5));
        assert!(!near.sure(100_000.0 * (1.0 + f64::EPSILON)));
        assert!(!near.sure(f64::INFINITY));
        assert!(!near.sure(f64::NAN));
        // rhai calls a value a few epsilons from 0 equal to 0: the shortcut leaves it.
        let zero = NearConstant::new(0.0).expect("zero");
        assert!(!zero.sure(0.5e-16));
        assert!(!float_compare(Binary::Gt, 0.5e-16, 0.0));
        assert!(zero.sure(-0.0));
        assert!(NearConstant::new(f64::NAN).is_none());
        assert!(NearConstant::new(1e-300).is_none());
        assert!(NearConstant::new(f64::MAX).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn fast_comparison_equals_rhai_formula((x, y) in pair()) {
            agree(x, y);
            agree(y, x);
            agree_near_constant(x, y);
            agree_near_constant(y, x);
        }
    }
}
