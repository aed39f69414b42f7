//! The helper library and the date values, registered on the interpreter's rhai engine.
//!
//! The helpers themselves are [`crate::rules::library`] and [`crate::rules::dates`]; this module
//! is how scripts reach them: numbers may be written as ints or floats anywhere, and a `()` (a
//! null cell) where a number or an array is needed is an error that names the argument and
//! suggests a default, because silently scoring a missing value as zero hides data problems.

use rhai::{Array, Dynamic, Engine, EvalAltResult, FuncRegistration, NativeCallContext, Variant};

use crate::rules::dates::{
    date_from_parts, fractional_days, Date, DatePart, Instant, Timestamp, TimestampPart,
};
use crate::rules::library::{self, null_argument};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn type_name<'a>(ctx: &'a NativeCallContext, value: &'a Dynamic) -> &'a str {
    ctx.engine().map_type_name(value.type_name())
}

fn null(function: &str, arg: &str, default: &str) -> Box<EvalAltResult> {
    null_argument(function, arg, default).into()
}

fn as_number(value: &Dynamic) -> Option<f64> {
    value
        .as_int()
        .map(|int| int as f64)
        .or_else(|_| value.as_float())
        .ok()
}

fn number(ctx: &NativeCallContext, function: &str, arg: &str, value: &Dynamic) -> Fallible<f64> {
    if let Some(number) = as_number(value) {
        Ok(number)
    } else if value.is_unit() {
        Err(null(function, arg, "0"))
    } else {
        let found = type_name(ctx, value);
        Err(format!("{function}: argument {arg} must be a number, got {found}").into())
    }
}

fn array(ctx: &NativeCallContext, function: &str, arg: &str, value: Dynamic) -> Fallible<Array> {
    if value.is_unit() {
        return Err(null(function, arg, "[]"));
    }
    // The type's name only on the way out (a map lookup and a copy were a call's cost).
    value.into_array().map_err(|found| {
        let found = ctx.engine().map_type_name(found);
        format!("{function}: argument {arg} must be an array, got {found}").into()
    })
}

/// The numbers in `values` with their positions, skipping `()` like SQL
/// aggregates skip nulls.
fn present_numbers(
    ctx: &NativeCallContext,
    function: &str,
    values: &[Dynamic],
) -> Fallible<Vec<(usize, f64)>> {
    values
        .iter()
        .enumerate()
        .filter(|(_, value)| !value.is_unit())
        .map(|(index, value)| match as_number(value) {
            Some(number) => Ok((index, number)),
            None => {
                let found = type_name(ctx, value);
                Err(format!("{function}: arr[{index}] must be a number or (), got {found}").into())
            }
        })
        .collect()
}

fn aggregate(
    function: &'static str,
    reduce: fn(&[(usize, f64)]) -> Option<f64>,
) -> impl Fn(NativeCallContext, Dynamic) -> Fallible<Dynamic> {
    move |ctx, arr| {
        let values = array(&ctx, function, "arr", arr)?;
        let numbers = present_numbers(&ctx, function, &values)?;
        Ok(reduce(&numbers).map_or(Dynamic::UNIT, Dynamic::from_float))
    }
}

/// The element holding the smallest (or, reversed, largest) number, as written.
fn extreme(
    function: &'static str,
    better: fn(f64, f64) -> bool,
) -> impl Fn(NativeCallContext, Dynamic) -> Fallible<Dynamic> {
    move |ctx, arr| {
        let values = array(&ctx, function, "arr", arr)?;
        let numbers = present_numbers(&ctx, function, &values)?;
        Ok(library::extreme(&numbers, better).map_or(Dynamic::UNIT, |index| values[index].clone()))
    }
}

fn clamp(ctx: NativeCallContext, x: Dynamic, lo: Dynamic, hi: Dynamic) -> Fallible<f64> {
    let x = number(&ctx, "clamp", "x", &x)?;
    let lo = number(&ctx, "clamp", "lo", &lo)?;
    let hi = number(&ctx, "clamp", "hi", &hi)?;
    Ok(library::clamp(x, lo, hi)?)
}

fn scale(ctx: NativeCallContext, x: Dynamic, lo: Dynamic, hi: Dynamic) -> Fallible<f64> {
    let x = number(&ctx, "scale", "x", &x)?;
    let lo = number(&ctx, "scale", "lo", &lo)?;
    let hi = number(&ctx, "scale", "hi", &hi)?;
    Ok(library::scale(x, lo, hi)?)
}

fn band(ctx: NativeCallContext, x: Dynamic, cuts: Dynamic, scores: Dynamic) -> Fallible<Dynamic> {
    let x = number(&ctx, "band", "x", &x)?;
    let cuts = array(&ctx, "band", "cuts", cuts)?;
    let scores = array(&ctx, "band", "scores", scores)?;
    library::check_band_sizes(cuts.len(), scores.len())?;
    let mut limits = Vec::with_capacity(cuts.len());
    for (index, cut) in cuts.iter().enumerate() {
        let Some(limit) = as_number(cut) else {
            let found = type_name(&ctx, cut);
            return Err(format!("band: cuts[{index}] must be a number, got {found}").into());
        };
        if let Some(&previous) = limits.last() {
            library::check_next_cut(index, previous, limit)?;
        }
        limits.push(limit);
    }
    Ok(scores[library::band_index(x, &limits)].clone())
}

fn pct(ctx: NativeCallContext, part: Dynamic, whole: Dynamic) -> Fallible<Dynamic> {
    let part = number(&ctx, "pct", "part", &part)?;
    let whole = number(&ctx, "pct", "whole", &whole)?;
    Ok(library::pct(part, whole).map_or(Dynamic::UNIT, Dynamic::from_float))
}

fn safe_div(ctx: NativeCallContext, a: Dynamic, b: Dynamic, default: Dynamic) -> Fallible<Dynamic> {
    let a = number(&ctx, "safe_div", "a", &a)?;
    let b = number(&ctx, "safe_div", "b", &b)?;
    Ok(library::safe_div(a, b).map_or(default, Dynamic::from_float))
}

fn pow(ctx: NativeCallContext, x: Dynamic, y: Dynamic) -> Fallible<f64> {
    Ok(number(&ctx, "pow", "x", &x)?.powf(number(&ctx, "pow", "y", &y)?))
}

fn round_to(ctx: NativeCallContext, x: Dynamic, digits: Dynamic) -> Fallible<f64> {
    let x = number(&ctx, "round_to", "x", &x)?;
    let digits = match digits.as_int() {
        Ok(digits) => digits,
        Err(_) if digits.is_unit() => return Err(null("round_to", "digits", "0")),
        Err(_) => {
            let found = type_name(&ctx, &digits);
            return Err(
                format!("round_to: argument digits must be an integer, got {found}").into(),
            );
        }
    };
    Ok(library::round_to(x, digits))
}

/// Registers a `()` overload so a null reaching a one-number math function is
/// reported by name instead of as a missing function.
fn reject_null(engine: &mut Engine, function: &'static str) {
    engine.register_fn(function, move |_: ()| -> Fallible<f64> {
        Err(null(function, "x", "0"))
    });
}

/// Makes the scoring helpers, and the date and timestamp values, available to
/// scripts run by `engine`.
pub fn register(engine: &mut Engine) {
    register_dates(engine);
    engine
        .register_fn("clamp", clamp)
        .register_fn("scale", scale)
        .register_fn("band", band)
        .register_fn(
            "sum",
            aggregate("sum", |numbers| Some(library::total(numbers))),
        )
        .register_fn("mean", aggregate("mean", library::mean))
        .register_fn("stdev", aggregate("stdev", library::stdev))
        .register_fn("trend", aggregate("trend", library::trend))
        .register_fn("growth", aggregate("growth", library::growth))
        .register_fn("min_of", extreme("min_of", |a, b| a < b))
        .register_fn("max_of", extreme("max_of", |a, b| a > b))
        .register_fn("pct", pct)
        .register_fn("safe_div", safe_div)
        .register_fn("pow", pow)
        .register_fn("round_to", round_to)
        // rhai provides these for floats only; ints get the same results.
        .register_fn("ln", |x: i64| (x as f64).ln())
        .register_fn("exp", |x: i64| (x as f64).exp())
        .register_fn("sqrt", |x: i64| (x as f64).sqrt())
        // rhai calls these `log` and `ceiling`; scripts may use either name.
        .register_fn("log10", |x: f64| x.log10())
        .register_fn("log10", |x: i64| (x as f64).log10())
        .register_fn("ceil", |x: f64| x.ceil())
        // An int is already whole: keep it an int.
        .register_fn("floor", |x: i64| x)
        .register_fn("ceil", |x: i64| x);
    for function in ["ln", "log10", "exp", "sqrt", "abs", "floor", "ceil"] {
        reject_null(engine, function);
    }
}

fn register_comparisons<A: Instant + Variant, B: Instant + Variant>(engine: &mut Engine) {
    engine
        .register_fn("==", |a: A, b: B| a.utc_micros() == b.utc_micros())
        .register_fn("!=", |a: A, b: B| a.utc_micros() != b.utc_micros())
        .register_fn("<", |a: A, b: B| a.utc_micros() < b.utc_micros())
        .register_fn("<=", |a: A, b: B| a.utc_micros() <= b.utc_micros())
        .register_fn(">", |a: A, b: B| a.utc_micros() > b.utc_micros())
        .register_fn(">=", |a: A, b: B| a.utc_micros() >= b.utc_micros());
}

/// Makes `date` and `timestamp` values usable in scripts: the types with their
/// script names, constructors, getters, arithmetic, comparisons (including
/// date against timestamp), `days_between` and printing.
fn register_dates(engine: &mut Engine) {
    engine
        .register_type_with_name::<Date>("date")
        .register_type_with_name::<Timestamp>("timestamp");
    // The constructors are registered as volatile so the optimiser does not fold them into
    // constants: it would then fold a template such as `${date("2026-11-01")}` with rhai's own
    // display of a custom type, its type name. The compiled engine folds them itself.
    FuncRegistration::new("date")
        .with_volatility(true)
        .register_into_engine(engine, |text: &str| -> Fallible<Date> {
            Ok(Date::parse(text)?)
        });
    FuncRegistration::new("date")
        .with_volatility(true)
        .register_into_engine(engine, |y: i64, m: i64, d: i64| -> Fallible<Date> {
            Ok(date_from_parts(y, m, d)?)
        });
    FuncRegistration::new("timestamp")
        .with_volatility(true)
        .register_into_engine(engine, |text: &str| -> Fallible<Timestamp> {
            Ok(Timestamp::parse(text)?)
        });
    engine
        .register_get("date", |t: &mut Timestamp| t.date())
        .register_fn("-", |a: Date, b: Date| a.days_since(b))
        .register_fn("+", |d: Date, n: i64| -> Fallible<Date> {
            Ok(d.add_days(n)?)
        })
        .register_fn("+", |n: i64, d: Date| -> Fallible<Date> {
            Ok(d.add_days(n)?)
        })
        .register_fn("-", |d: Date, n: i64| -> Fallible<Date> {
            Ok(d.sub_days(n)?)
        })
        .register_fn("-", |a: Timestamp, b: Timestamp| fractional_days(b, a))
        .register_fn("days_between", |a: Date, b: Date| b.days_since(a))
        .register_fn("days_between", fractional_days::<Date, Timestamp>)
        .register_fn("days_between", fractional_days::<Timestamp, Date>)
        .register_fn("days_between", fractional_days::<Timestamp, Timestamp>)
        .register_fn("to_string", |d: &mut Date| d.to_string())
        .register_fn("to_debug", |d: &mut Date| d.to_string())
        .register_fn("to_string", |t: &mut Timestamp| t.to_string())
        .register_fn("to_debug", |t: &mut Timestamp| t.to_string());
    for (name, part) in DatePart::ALL {
        engine.register_get(name, move |d: &mut Date| -> Fallible<i64> {
            Ok(d.part(part)?)
        });
    }
    for (name, part) in TimestampPart::ALL {
        engine.register_get(name, move |t: &mut Timestamp| -> Fallible<i64> {
            Ok(t.part(part)?)
        });
    }
    register_comparisons::<Date, Date>(engine);
    register_comparisons::<Timestamp, Timestamp>(engine);
    register_comparisons::<Date, Timestamp>(engine);
    register_comparisons::<Timestamp, Date>(engine);
}

#[cfg(test)]
mod tests;
