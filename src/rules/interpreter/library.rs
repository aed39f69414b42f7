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
    let found = type_name(ctx, &value).to_string();
    value
        .into_array()
        .map_err(|_| format!("{function}: argument {arg} must be an array, got {found}").into())
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
mod tests {
    use super::*;
    use rhai::Scope;

    fn engine() -> Engine {
        let mut engine = Engine::new();
        register(&mut engine);
        engine
    }

    /// Renders a result with its type: `3` is an int, `3.0` a float.
    fn show(value: &Dynamic) -> String {
        if value.is_unit() {
            "()".to_string()
        } else if let Ok(float) = value.as_float() {
            format!("{float:?}")
        } else if value.is_string() {
            format!("{:?}", value.clone().into_string().unwrap())
        } else {
            value.to_string()
        }
    }

    fn eval(script: &str) -> String {
        show(
            &engine()
                .eval::<Dynamic>(script)
                .unwrap_or_else(|e| panic!("{script}: {e}")),
        )
    }

    fn error(script: &str) -> String {
        match *engine().eval::<Dynamic>(script).unwrap_err() {
            EvalAltResult::ErrorRuntime(message, _) => message.to_string(),
            other => panic!("{script}: unexpected error {other:?}"),
        }
    }

    fn check(cases: &[(&str, &str)]) {
        for (script, expected) in cases {
            assert_eq!(eval(script), *expected, "{script}");
        }
    }

    fn check_errors(cases: &[(&str, &str)]) {
        for (script, expected) in cases {
            assert_eq!(error(script), *expected, "{script}");
        }
    }

    #[test]
    fn clamp_accepts_ints_and_floats() {
        check(&[
            ("clamp(5, 1, 10)", "5.0"),
            ("clamp(-3, 0, 100)", "0.0"),
            ("clamp(150.5, 0, 100)", "100.0"),
            ("clamp(2.5, 1.0, 3)", "2.5"),
            ("clamp(4, 4, 4)", "4.0"),
            ("let x = (); clamp(x ?? 0, 1, 5)", "1.0"),
        ]);
        check_errors(&[
            (
                "clamp((), 0, 1)",
                "clamp: argument x is () (a null value); give a default with x ?? 0",
            ),
            (
                "clamp(1, (), 1)",
                "clamp: argument lo is () (a null value); give a default with lo ?? 0",
            ),
            (
                "clamp(1, 0, ())",
                "clamp: argument hi is () (a null value); give a default with hi ?? 0",
            ),
            (
                r#"clamp("7", 0, 10)"#,
                "clamp: argument x must be a number, got string",
            ),
            (
                "clamp(1, 5, 1.5)",
                "clamp: lo (5) must not be greater than hi (1.5)",
            ),
        ]);
    }

    #[test]
    fn scale_maps_onto_zero_to_one_hundred() {
        check(&[
            ("scale(0, 0, 200)", "0.0"),
            ("scale(200, 0, 200)", "100.0"),
            ("scale(100, 0, 200)", "50.0"),
            ("scale(-5, 0, 200)", "0.0"),
            ("scale(300.5, 0, 200)", "100.0"),
            ("scale(0.25, 0.0, 1)", "25.0"),
            ("scale(2, 10, 0)", "80.0"),
            ("scale(10, 10, 0)", "0.0"),
            ("scale(0, 10, 0)", "100.0"),
            ("scale(-1, 10, 0)", "100.0"),
        ]);
        check_errors(&[
            (
                "scale(3, 5, 5.0)",
                "scale: lo and hi are both 5; they must differ",
            ),
            (
                "scale((), 0, 1)",
                "scale: argument x is () (a null value); give a default with x ?? 0",
            ),
            (
                "scale(1, [], 2)",
                "scale: argument lo must be a number, got array",
            ),
        ]);
    }

    #[test]
    fn band_picks_the_score_after_the_cuts_at_or_below_x() {
        check(&[
            ("band(5, [10, 20], [1, 2, 3])", "1"),
            ("band(10, [10, 20], [1, 2, 3])", "2"),
            ("band(19.99, [10, 20], [1, 2, 3])", "2"),
            ("band(20, [10, 20], [1, 2, 3])", "3"),
            ("band(1000, [10, 20], [1, 2, 3])", "3"),
            ("band(15, [10, 20], [0, 2.5, 5])", "2.5"),
            ("band(-1, [0.5], [10.0, 20])", "10.0"),
            ("band(7, [], [42])", "42"),
            (
                r#"band(500, [100, 1000], ["bronze", "silver", "gold"])"#,
                r#""silver""#,
            ),
        ]);
        check_errors(&[
            (
                "band(5, [10, 20], [1, 2])",
                "band: scores must have one more element than cuts, got 2 cuts and 2 scores",
            ),
            (
                "band(5, [20, 10], [1, 2, 3])",
                "band: cuts must be ascending, but cuts[1] = 10 follows cuts[0] = 20",
            ),
            (
                "band(5, [1, 10, 10.0], [1, 2, 3, 4])",
                "band: cuts must be ascending, but cuts[2] = 10 follows cuts[1] = 10",
            ),
            (
                "band(5, [1, ()], [1, 2, 3])",
                "band: cuts[1] must be a number, got ()",
            ),
            (
                r#"band(5, ["1"], [1, 2])"#,
                "band: cuts[0] must be a number, got string",
            ),
            (
                "band((), [1], [1, 2])",
                "band: argument x is () (a null value); give a default with x ?? 0",
            ),
            (
                "band(1, (), [1])",
                "band: argument cuts is () (a null value); give a default with cuts ?? []",
            ),
            (
                "band(1, [1], #{a: 1})",
                "band: argument scores must be an array, got map",
            ),
        ]);
    }

    #[test]
    fn sum_and_mean_skip_nulls() {
        check(&[
            ("sum([1, 2.5, (), 3])", "6.5"),
            ("sum([1, 2, 3])", "6.0"),
            ("sum([])", "0.0"),
            ("sum([(), ()])", "0.0"),
            ("mean([1, 2, (), 6])", "3.0"),
            ("mean([0.5])", "0.5"),
            ("mean([])", "()"),
            ("mean([(), ()])", "()"),
        ]);
    }

    #[test]
    fn min_and_max_return_the_element_as_written() {
        check(&[
            ("min_of([3, 1.5, (), 7])", "1.5"),
            ("max_of([3, 1.5, (), 7])", "7"),
            ("min_of([2, 2.0])", "2"),
            ("max_of([-1])", "-1"),
            ("min_of([])", "()"),
            ("max_of([(), ()])", "()"),
        ]);
        let mut scope = Scope::new();
        let with_nan: Array = vec![
            Dynamic::from_float(f64::NAN),
            Dynamic::from_int(3),
            ().into(),
        ];
        scope.push("values", with_nan);
        let engine = engine();
        let mut run = |script| {
            show(
                &engine
                    .eval_with_scope::<Dynamic>(&mut scope, script)
                    .unwrap(),
            )
        };
        assert_eq!(run("min_of(values)"), "3");
        assert_eq!(run("max_of(values)"), "3");
        assert_eq!(run("min_of([values[0]])"), "NaN");
    }

    #[test]
    fn stdev_is_the_population_deviation() {
        check(&[
            ("stdev([2, 4, 4, 4, 5, 5, 7, 9])", "2.0"),
            ("stdev([2, (), 4.0])", "1.0"),
            ("stdev([5])", "0.0"),
            ("stdev([])", "()"),
            ("stdev([()])", "()"),
        ]);
    }

    #[test]
    fn trend_is_the_slope_against_positions() {
        check(&[
            ("trend([1, 2, 3])", "1.0"),
            ("trend([3, 1])", "-2.0"),
            ("trend([1, 3, 2, 4])", "0.8"),
            ("trend([10, (), 30])", "10.0"),
            ("trend([(), 5.5, (), 5.5])", "0.0"),
            ("trend([5])", "()"),
            ("trend([(), 5])", "()"),
            ("trend([])", "()"),
        ]);
    }

    #[test]
    fn growth_compares_last_with_first() {
        check(&[
            ("growth([100, (), 150])", "0.5"),
            ("growth([-200, -100])", "0.5"),
            ("growth([(), 4, 9, 2])", "-0.5"),
            ("growth([0, 5])", "()"),
            ("growth([5])", "()"),
            ("growth([])", "()"),
        ]);
    }

    #[test]
    fn aggregates_name_bad_elements_and_arguments() {
        check_errors(&[
            (
                "sum([1, \"a\"])",
                "sum: arr[1] must be a number or (), got string",
            ),
            (
                "mean([(), true])",
                "mean: arr[1] must be a number or (), got bool",
            ),
            (
                r#"stdev([date("2026-11-01")])"#,
                "stdev: arr[0] must be a number or (), got date",
            ),
            (
                "min_of([1, [2]])",
                "min_of: arr[1] must be a number or (), got array",
            ),
            (
                "max_of([#{}])",
                "max_of: arr[0] must be a number or (), got map",
            ),
            (
                "trend([1, 2, \"3\"])",
                "trend: arr[2] must be a number or (), got string",
            ),
            (
                "growth([1, 'x'])",
                "growth: arr[1] must be a number or (), got char",
            ),
            (
                "sum(())",
                "sum: argument arr is () (a null value); give a default with arr ?? []",
            ),
            ("mean(5)", "mean: argument arr must be an array, got i64"),
        ]);
    }

    #[test]
    fn math_works_for_ints_and_floats() {
        check(&[
            ("ln(1)", "0.0"),
            ("ln(1.0)", "0.0"),
            ("exp(0)", "1.0"),
            ("exp(1)", "2.718281828459045"),
            ("sqrt(16)", "4.0"),
            ("sqrt(2.25)", "1.5"),
            ("log10(1000)", "3.0"),
            ("log10(0.01)", "-2.0"),
            ("abs(-3)", "3"),
            ("abs(-2.5)", "2.5"),
            ("pow(2, 10)", "1024.0"),
            ("pow(9, 0.5)", "3.0"),
            ("pow(2.0, -1)", "0.5"),
            ("floor(5)", "5"),
            ("floor(-2.5)", "-3.0"),
            ("ceil(7)", "7"),
            ("ceil(-2.5)", "-2.0"),
            ("ceil(2.1)", "3.0"),
        ]);
    }

    #[test]
    fn rhai_float_math_is_unchanged() {
        check(&[
            ("sqrt(2.0)", "1.4142135623730951"),
            ("2.5.floor", "2.0"),
            ("floor(2.5)", "2.0"),
            ("ceiling(1.2)", "2.0"),
            ("log(100.0)", "2.0"),
            ("round(2.5)", "3.0"),
        ]);
    }

    #[test]
    fn round_to_rounds_half_away_from_zero() {
        check(&[
            ("round_to(3.14159, 2)", "3.14"),
            ("round_to(2.5, 0)", "3.0"),
            ("round_to(-2.5, 0)", "-3.0"),
            ("round_to(1234.5, -2)", "1200.0"),
            ("round_to(5, 0)", "5.0"),
            ("round_to(0.1, 20)", "0.1"),
            ("round_to(1.0e300, 400)", "1e300"),
            ("round_to(1.0e20, 5)", "1e20"),
            ("round_to(0.3, 16)", "0.3"),
            ("round_to(123.0, -400)", "0.0"),
            ("round_to(-0.004, 2)", "0.0"),
        ]);
        check_errors(&[
            (
                "round_to(1.5, ())",
                "round_to: argument digits is () (a null value); give a default with digits ?? 0",
            ),
            (
                "round_to(1.5, 1.0)",
                "round_to: argument digits must be an integer, got f64",
            ),
            (
                "round_to((), 1)",
                "round_to: argument x is () (a null value); give a default with x ?? 0",
            ),
        ]);
    }

    #[test]
    fn math_on_null_says_so() {
        for function in ["ln", "log10", "exp", "sqrt", "abs", "floor", "ceil"] {
            assert_eq!(
                error(&format!("{function}(())")),
                format!("{function}: argument x is () (a null value); give a default with x ?? 0")
            );
        }
        check_errors(&[(
            "pow(2, ())",
            "pow: argument y is () (a null value); give a default with y ?? 0",
        )]);
    }

    #[test]
    fn pct_and_safe_div_guard_against_zero() {
        check(&[
            ("pct(25, 200)", "12.5"),
            ("pct(-5, 20.0)", "-25.0"),
            ("pct(1, 0)", "()"),
            ("pct(1, 0.0)", "()"),
            ("safe_div(10, 4, 0)", "2.5"),
            ("safe_div(1, 0, -1)", "-1"),
            ("safe_div(1, 0.0, ())", "()"),
            (r#"safe_div(1, 0, "n/a")"#, r#""n/a""#),
        ]);
        check_errors(&[
            (
                "pct((), 5)",
                "pct: argument part is () (a null value); give a default with part ?? 0",
            ),
            (
                "pct(1, ())",
                "pct: argument whole is () (a null value); give a default with whole ?? 0",
            ),
            (
                "safe_div((), 1, 0)",
                "safe_div: argument a is () (a null value); give a default with a ?? 0",
            ),
            (
                "safe_div(1, (), 0)",
                "safe_div: argument b is () (a null value); give a default with b ?? 0",
            ),
        ]);
    }

    #[test]
    fn errors_inside_script_functions_keep_their_message() {
        let err = engine()
            .eval::<Dynamic>("fn score(x) { clamp(x, 0, 1) } score(())")
            .unwrap_err();
        let EvalAltResult::ErrorInFunctionCall(name, _, inner, _) = *err else {
            panic!("unexpected error {err:?}");
        };
        assert_eq!(name, "score");
        assert_eq!(
            inner.to_string(),
            "Runtime error: clamp: argument x is () (a null value); give a default with x ?? 0 (line 1, position 15)"
        );
    }

    #[test]
    fn dates_are_registered_too() {
        check(&[
            (r#"date("2026-11-01") - date("2026-01-01")"#, "304"),
            (
                r#"days_between(date("2026-11-01"), date("2026-11-08"))"#,
                "7",
            ),
        ]);
    }

    // Dates and timestamps in scripts.

    fn eval_date(script: &str) -> Dynamic {
        engine()
            .eval::<Dynamic>(script)
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    fn eval_error(script: &str) -> String {
        match *engine().eval::<Dynamic>(script).unwrap_err() {
            EvalAltResult::ErrorRuntime(message, _) => message.to_string(),
            other => panic!("{script}: unexpected error {other:?}"),
        }
    }

    fn date(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    #[test]
    fn scripts_build_dates() {
        assert_eq!(
            eval_date(r#"date("2026-11-01")"#).cast::<Date>(),
            date("2026-11-01")
        );
        assert_eq!(
            eval_date("date(2024, 2, 29)").cast::<Date>(),
            date("2024-02-29")
        );
        assert_eq!(
            eval_date(r#"type_of(date("2026-11-01"))"#)
                .into_string()
                .unwrap(),
            "date"
        );
        assert_eq!(
            eval_date(r#"type_of(timestamp("2026-11-01T08:30:00Z"))"#)
                .into_string()
                .unwrap(),
            "timestamp"
        );
    }

    #[test]
    fn scripts_report_bad_dates() {
        assert_eq!(
            eval_error(r#"date("2026-13-01")"#),
            r#"expected a date like 2026-11-01, got "2026-13-01""#
        );
        assert_eq!(
            eval_error("date(2023, 2, 29)"),
            "date(2023, 2, 29) is not a valid calendar date"
        );
        assert_eq!(
            eval_error("date(2026, -1, 1)"),
            "date(2026, -1, 1) is not a valid calendar date"
        );
        assert_eq!(
            eval_error("date(99999999999, 1, 1)"),
            "date(99999999999, 1, 1) is not a valid calendar date"
        );
        assert_eq!(
            eval_error(r#"timestamp("yesterday")"#),
            r#"expected a timestamp like 2026-11-01T08:30:00Z, got "yesterday""#
        );
    }

    #[test]
    fn scripts_do_date_arithmetic() {
        assert!(
            eval_date(r#"date("2026-11-01") - date("2026-01-01") == 304"#)
                .as_bool()
                .unwrap()
        );
        assert_eq!(
            eval_date(r#"date("2026-01-01") - date("2026-11-01")"#).as_int(),
            Ok(-304)
        );
        assert_eq!(
            eval_date(r#"date("2024-02-28") + 2"#).cast::<Date>(),
            date("2024-03-01")
        );
        assert_eq!(
            eval_date(r#"date("2023-02-28") + 1"#).cast::<Date>(),
            date("2023-03-01")
        );
        assert_eq!(
            eval_date(r#"date("2026-03-01") - 1"#).cast::<Date>(),
            date("2026-02-28")
        );
        assert_eq!(
            eval_date(r#"date("1970-01-01") - 1"#).cast::<Date>(),
            date("1969-12-31")
        );
        assert_eq!(
            eval_date(r#"31 + date("2026-12-01")"#).cast::<Date>(),
            date("2027-01-01")
        );
        assert_eq!(
            eval_date(r#"let d = date("2026-04-30"); d += 1; d"#).cast::<Date>(),
            date("2026-05-01")
        );
    }

    #[test]
    fn date_arithmetic_out_of_range_is_an_error() {
        assert_eq!(
            eval_error(r#"date("2026-11-01") + 999999999999"#),
            "2026-11-01 plus 999999999999 days is outside the calendar"
        );
        assert_eq!(
            eval_error(r#"date("2026-11-01") - 999999999999"#),
            "2026-11-01 plus -999999999999 days is outside the calendar"
        );
        assert_eq!(
            eval_error(r#"date("2026-11-01") - (-9223372036854775807 - 1)"#),
            "2026-11-01 minus -9223372036854775808 days is outside the calendar"
        );
    }

    #[test]
    fn scripts_read_date_parts() {
        assert_eq!(eval_date(r#"date("2026-11-01").year"#).as_int(), Ok(2026));
        assert_eq!(eval_date(r#"date("2026-11-01").month"#).as_int(), Ok(11));
        assert_eq!(eval_date(r#"date("2026-11-01").day"#).as_int(), Ok(1));
        assert_eq!(eval_date(r#"date("2026-11-01").weekday"#).as_int(), Ok(7));
        assert_eq!(eval_date(r#"date("2026-11-02").weekday"#).as_int(), Ok(1));
        assert_eq!(eval_date(r#"date("1900-03-01").weekday"#).as_int(), Ok(4));
        assert_eq!(eval_date(r#"date("1969-12-31").year"#).as_int(), Ok(1969));
        let ts = r#"timestamp("2026-11-01T23:30:00-02:00")"#;
        assert_eq!(eval_date(&format!("{ts}.year")).as_int(), Ok(2026));
        assert_eq!(eval_date(&format!("{ts}.month")).as_int(), Ok(11));
        assert_eq!(eval_date(&format!("{ts}.day")).as_int(), Ok(2));
        assert_eq!(eval_date(&format!("{ts}.hour")).as_int(), Ok(1));
        assert_eq!(
            eval_date(&format!("{ts}.date")).cast::<Date>(),
            date("2026-11-02")
        );
    }

    #[test]
    fn parts_of_out_of_calendar_values_are_errors() {
        let engine = engine();
        let mut scope = rhai::Scope::new();
        scope.push("d", Date::from_days(i32::MAX));
        scope.push("t", Timestamp::from_micros(i64::MAX));
        let mut message = |script: &str| match *engine
            .eval_with_scope::<Dynamic>(&mut scope, script)
            .unwrap_err()
        {
            EvalAltResult::ErrorRuntime(m, _) => m.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            message("d.year"),
            "2147483647 days since 1970-01-01 is outside the calendar (years -262143 to 262142)"
        );
        assert_eq!(
            message("t.hour"),
            "9223372036854775807 microseconds since 1970-01-01T00:00:00Z is outside the calendar (years -262143 to 262142)"
        );
    }

    #[test]
    fn scripts_compare_dates_and_timestamps() {
        let cases = [
            (r#"date("2026-11-01") == date("2026-11-01")"#, true),
            (r#"date("2026-11-01") != date("2026-11-01")"#, false),
            (r#"date("2026-10-31") < date("2026-11-01")"#, true),
            (r#"date("2026-11-01") <= date("2026-11-01")"#, true),
            (r#"date("1969-12-31") > date("1970-01-01")"#, false),
            (r#"date("1970-01-01") >= date("1969-12-31")"#, true),
            (
                r#"timestamp("2026-11-01T08:30:00Z") == timestamp("2026-11-01T09:30:00+01:00")"#,
                true,
            ),
            (
                r#"timestamp("2026-11-01T08:30:00Z") < timestamp("2026-11-01T08:30:00.000001Z")"#,
                true,
            ),
            (
                r#"date("2026-11-01") == timestamp("2026-11-01T00:00:00Z")"#,
                true,
            ),
            (
                r#"timestamp("2026-11-01T00:00:00Z") == date("2026-11-01")"#,
                true,
            ),
            (
                r#"date("2026-11-01") < timestamp("2026-11-01T00:00:00.000001Z")"#,
                true,
            ),
            (
                r#"date("2026-11-01") != timestamp("2026-11-01T00:00:00.000001Z")"#,
                true,
            ),
            (
                r#"timestamp("2026-10-31T23:59:59Z") < date("2026-11-01")"#,
                true,
            ),
            (
                r#"timestamp("2026-11-01T08:30:00Z") >= date("2026-11-01")"#,
                true,
            ),
            (
                r#"timestamp("2026-11-01T08:30:00Z") > date("2026-11-02")"#,
                false,
            ),
            (
                r#"date("2026-11-02") <= timestamp("2026-11-01T08:30:00Z")"#,
                false,
            ),
            (r#"date("2026-11-01") == ()"#, false),
            (r#"[date("2026-11-01")].contains(date("2026-11-01"))"#, true),
        ];
        for (script, expected) in cases {
            assert_eq!(eval_date(script).as_bool(), Ok(expected), "{script}");
        }
    }

    #[test]
    fn scripts_measure_days_between() {
        assert_eq!(
            eval_date(r#"days_between(date("2026-01-01"), date("2026-11-01"))"#).as_int(),
            Ok(304)
        );
        assert_eq!(
            eval_date(r#"days_between(date("2024-03-01"), date("2024-02-01"))"#).as_int(),
            Ok(-29)
        );
        assert_eq!(
            eval_date(r#"days_between(date("2026-11-01"), timestamp("2026-11-02T12:00:00Z"))"#)
                .as_float(),
            Ok(1.5)
        );
        assert_eq!(
            eval_date(r#"days_between(timestamp("2026-11-02T06:00:00Z"), date("2026-11-01"))"#)
                .as_float(),
            Ok(-1.25)
        );
        assert_eq!(
            eval_date(r#"days_between(timestamp("2026-11-01T00:00:00Z"), timestamp("2026-11-01T18:00:00Z"))"#)
                .as_float(),
            Ok(0.75)
        );
        assert_eq!(
            eval_date(r#"timestamp("2026-11-01T18:00:00Z") - timestamp("2026-11-01T00:00:00Z")"#)
                .as_float(),
            Ok(0.75)
        );
    }

    #[test]
    fn scripts_print_dates_and_timestamps() {
        let cases = [
            (r#"`${date("2026-11-01")}`"#, "2026-11-01"),
            (r#""on " + date("2026-11-01")"#, "on 2026-11-01"),
            (r#"date("2026-11-01") + " it is""#, "2026-11-01 it is"),
            (r#"date("1969-12-31").to_string()"#, "1969-12-31"),
            (r#"date("2026-11-01").to_debug()"#, "2026-11-01"),
            (
                r#"`${timestamp("2026-11-01T08:30:00.250Z")}`"#,
                "2026-11-01T08:30:00.25Z",
            ),
            (
                r#""at " + timestamp("2026-11-01T09:30:00+01:00")"#,
                "at 2026-11-01T08:30:00Z",
            ),
            (
                r#"timestamp("2026-11-01T08:30:00Z").to_debug()"#,
                "2026-11-01T08:30:00Z",
            ),
            (r#"`${[date("2026-11-01")]}`"#, "[2026-11-01]"),
        ];
        for (script, expected) in cases {
            assert_eq!(
                eval_date(script).into_string().unwrap(),
                expected,
                "{script}"
            );
        }
    }
}
