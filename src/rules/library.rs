//! The helper library analysts call from scoring scripts.
//!
//! Every helper is a pure function of its arguments. Numbers may be written as
//! ints or floats anywhere. A `()` (a null cell) where a number or an array is
//! needed is an error that names the argument and suggests a default, because
//! silently scoring a missing value as zero hides data problems.

use rhai::{Array, Dynamic, Engine, EvalAltResult, NativeCallContext};

use super::dates;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn type_name<'a>(ctx: &'a NativeCallContext, value: &'a Dynamic) -> &'a str {
    ctx.engine().map_type_name(value.type_name())
}

fn null_argument(function: &str, arg: &str, default: &str) -> Box<EvalAltResult> {
    format!(
        "{function}: argument {arg} is () (a null value); give a default with {arg} ?? {default}"
    )
    .into()
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
        Err(null_argument(function, arg, "0"))
    } else {
        let found = type_name(ctx, value);
        Err(format!("{function}: argument {arg} must be a number, got {found}").into())
    }
}

fn array(ctx: &NativeCallContext, function: &str, arg: &str, value: Dynamic) -> Fallible<Array> {
    if value.is_unit() {
        return Err(null_argument(function, arg, "[]"));
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

/// The element holding the smallest (or, reversed, largest) number, as
/// written; NaN only wins when nothing else is there, as with `f64::min`.
fn extreme(
    function: &'static str,
    better: fn(f64, f64) -> bool,
) -> impl Fn(NativeCallContext, Dynamic) -> Fallible<Dynamic> {
    move |ctx, arr| {
        let values = array(&ctx, function, "arr", arr)?;
        let numbers = present_numbers(&ctx, function, &values)?;
        let best = numbers.iter().copied().reduce(|best, candidate| {
            if better(candidate.1, best.1) || best.1.is_nan() {
                candidate
            } else {
                best
            }
        });
        Ok(best.map_or(Dynamic::UNIT, |(index, _)| values[index].clone()))
    }
}

/// Adds from `0.0`, where `Iterator::sum` on floats starts from `-0.0`.
fn total(numbers: &[(usize, f64)]) -> f64 {
    numbers.iter().fold(0.0, |total, (_, value)| total + value)
}

fn mean(numbers: &[(usize, f64)]) -> Option<f64> {
    (!numbers.is_empty()).then(|| total(numbers) / numbers.len() as f64)
}

fn stdev(numbers: &[(usize, f64)]) -> Option<f64> {
    let centre = mean(numbers)?;
    let squares = numbers.iter().map(|(_, v)| (v - centre) * (v - centre));
    Some((squares.sum::<f64>() / numbers.len() as f64).sqrt())
}

fn trend(numbers: &[(usize, f64)]) -> Option<f64> {
    if numbers.len() < 2 {
        return None;
    }
    let count = numbers.len() as f64;
    let mean_x = numbers.iter().map(|&(i, _)| i as f64).sum::<f64>() / count;
    let mean_y = mean(numbers)?;
    let (covariance, variance) = numbers.iter().fold((0.0, 0.0), |(cov, var), &(i, y)| {
        let dx = i as f64 - mean_x;
        (cov + dx * (y - mean_y), var + dx * dx)
    });
    Some(covariance / variance)
}

fn growth(numbers: &[(usize, f64)]) -> Option<f64> {
    match numbers {
        [(_, first), .., (_, last)] if *first != 0.0 => Some((last - first) / first.abs()),
        _ => None,
    }
}

fn clamp(ctx: NativeCallContext, x: Dynamic, lo: Dynamic, hi: Dynamic) -> Fallible<f64> {
    let x = number(&ctx, "clamp", "x", &x)?;
    let lo = number(&ctx, "clamp", "lo", &lo)?;
    let hi = number(&ctx, "clamp", "hi", &hi)?;
    if lo <= hi {
        Ok(x.clamp(lo, hi))
    } else {
        Err(format!("clamp: lo ({lo}) must not be greater than hi ({hi})").into())
    }
}

fn scale(ctx: NativeCallContext, x: Dynamic, lo: Dynamic, hi: Dynamic) -> Fallible<f64> {
    let x = number(&ctx, "scale", "x", &x)?;
    let lo = number(&ctx, "scale", "lo", &lo)?;
    let hi = number(&ctx, "scale", "hi", &hi)?;
    if lo == hi {
        return Err(format!("scale: lo and hi are both {lo}; they must differ").into());
    }
    // Adding 0.0 turns the -0.0 of a reversed range into 0.0.
    Ok(((x - lo) / (hi - lo) * 100.0).clamp(0.0, 100.0) + 0.0)
}

fn band(ctx: NativeCallContext, x: Dynamic, cuts: Dynamic, scores: Dynamic) -> Fallible<Dynamic> {
    let x = number(&ctx, "band", "x", &x)?;
    let cuts = array(&ctx, "band", "cuts", cuts)?;
    let scores = array(&ctx, "band", "scores", scores)?;
    if scores.len() != cuts.len() + 1 {
        return Err(format!(
            "band: scores must have one more element than cuts, got {} cuts and {} scores",
            cuts.len(),
            scores.len()
        )
        .into());
    }
    let mut limits = Vec::with_capacity(cuts.len());
    for (index, cut) in cuts.iter().enumerate() {
        let Some(limit) = as_number(cut) else {
            let found = type_name(&ctx, cut);
            return Err(format!("band: cuts[{index}] must be a number, got {found}").into());
        };
        if let Some(&previous) = limits.last() {
            if limit <= previous {
                return Err(format!(
                    "band: cuts must be ascending, but cuts[{index}] = {limit} follows cuts[{}] = {previous}",
                    index - 1
                )
                .into());
            }
        }
        limits.push(limit);
    }
    let position = limits.partition_point(|&limit| limit <= x);
    Ok(scores[position].clone())
}

fn pct(ctx: NativeCallContext, part: Dynamic, whole: Dynamic) -> Fallible<Dynamic> {
    let part = number(&ctx, "pct", "part", &part)?;
    let whole = number(&ctx, "pct", "whole", &whole)?;
    Ok(if whole == 0.0 {
        Dynamic::UNIT
    } else {
        Dynamic::from_float(part / whole * 100.0)
    })
}

fn safe_div(ctx: NativeCallContext, a: Dynamic, b: Dynamic, default: Dynamic) -> Fallible<Dynamic> {
    let a = number(&ctx, "safe_div", "a", &a)?;
    let b = number(&ctx, "safe_div", "b", &b)?;
    Ok(if b == 0.0 {
        default
    } else {
        Dynamic::from_float(a / b)
    })
}

fn pow(ctx: NativeCallContext, x: Dynamic, y: Dynamic) -> Fallible<f64> {
    Ok(number(&ctx, "pow", "x", &x)?.powf(number(&ctx, "pow", "y", &y)?))
}

/// From 2^52 up every `f64` is a whole number, so rounding changes nothing.
const WHOLE_FLOATS: f64 = 4_503_599_627_370_496.0;

/// Caps the digit count handed to `powi`; 10^400 is already infinite as an
/// `f64`, so larger counts give the same result.
const MAX_DIGITS: u64 = 400;

fn round_to(ctx: NativeCallContext, x: Dynamic, digits: Dynamic) -> Fallible<f64> {
    let x = number(&ctx, "round_to", "x", &x)?;
    let digits = match digits.as_int() {
        Ok(digits) => digits,
        Err(_) if digits.is_unit() => return Err(null_argument("round_to", "digits", "0")),
        Err(_) => {
            let found = type_name(&ctx, &digits);
            return Err(
                format!("round_to: argument digits must be an integer, got {found}").into(),
            );
        }
    };
    let factor = 10f64.powi(digits.unsigned_abs().min(MAX_DIGITS) as i32);
    let rounded = if digits >= 0 {
        let shifted = x * factor;
        if shifted.abs() < WHOLE_FLOATS {
            shifted.round() / factor
        } else {
            x
        }
    } else if factor.is_finite() {
        (x / factor).round() * factor
    } else {
        0.0
    };
    // Adding 0.0 turns the -0.0 left by rounding a small negative into 0.0.
    Ok(rounded + 0.0)
}

/// Registers a `()` overload so a null reaching a one-number math function is
/// reported by name instead of as a missing function.
fn reject_null(engine: &mut Engine, function: &'static str) {
    engine.register_fn(function, move |_: ()| -> Fallible<f64> {
        Err(null_argument(function, "x", "0"))
    });
}

/// Makes the scoring helpers, and the date and timestamp values, available to
/// scripts run by `engine`.
pub fn register(engine: &mut Engine) {
    dates::register(engine);
    engine
        .register_fn("clamp", clamp)
        .register_fn("scale", scale)
        .register_fn("band", band)
        .register_fn("sum", aggregate("sum", |numbers| Some(total(numbers))))
        .register_fn("mean", aggregate("mean", mean))
        .register_fn("stdev", aggregate("stdev", stdev))
        .register_fn("trend", aggregate("trend", trend))
        .register_fn("growth", aggregate("growth", growth))
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
}
