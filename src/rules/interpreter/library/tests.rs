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
        eval_date(
            r#"days_between(timestamp("2026-11-01T00:00:00Z"), timestamp("2026-11-01T18:00:00Z"))"#
        )
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
