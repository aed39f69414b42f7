//! Date and timestamp values as scripts see them.
//!
//! Arrow stores dates as day counts and timestamps as tick counts; scripts need
//! real values they can compare, subtract and print. This module defines the
//! two value types and registers them, with their constructors, getters and
//! operators, on a rhai engine.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use rhai::{Engine, EvalAltResult, Variant};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// A calendar day, stored as days since 1970-01-01 so that Arrow `Date32`
/// values convert without any calendar work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days: i32,
}

impl Date {
    /// Wraps a day count since 1970-01-01, as Arrow `Date32` stores it.
    pub const fn from_days(days: i32) -> Self {
        Self { days }
    }

    /// Days since 1970-01-01 (negative before it), for arithmetic and storage.
    pub const fn days(self) -> i32 {
        self.days
    }

    /// Reads a `YYYY-MM-DD` date, the form rule authors write in scripts.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = text.as_bytes();
        let shaped = bytes.len() == 10
            && bytes.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                _ => b.is_ascii_digit(),
            });
        let naive = if shaped {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
        } else {
            None
        };
        naive
            .map(Self::from_naive)
            .ok_or_else(|| format!("expected a date like 2026-11-01, got {text:?}"))
    }

    fn from_naive(naive: NaiveDate) -> Self {
        Self::from_days(naive.to_epoch_days())
    }

    fn naive(self) -> Option<NaiveDate> {
        NaiveDate::from_epoch_days(self.days)
    }

    fn calendar(self) -> Fallible<NaiveDate> {
        self.naive().ok_or_else(|| {
            format!("{self} is outside the calendar (years -262143 to 262142)").into()
        })
    }

    fn add_days(self, delta: i64) -> Fallible<Self> {
        i64::from(self.days)
            .checked_add(delta)
            .and_then(|days| i32::try_from(days).ok())
            .map(Self::from_days)
            .filter(|date| date.naive().is_some())
            .ok_or_else(|| format!("{self} plus {delta} days is outside the calendar").into())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.naive() {
            Some(naive) => write!(f, "{naive}"),
            None => write!(f, "{} days since 1970-01-01", self.days),
        }
    }
}

/// An instant in time, stored as microseconds since 1970-01-01T00:00:00Z so
/// that every Arrow timestamp unit converts to it exactly or by truncation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    micros: i64,
}

impl Timestamp {
    /// Wraps a microsecond count since the epoch (UTC).
    pub const fn from_micros(micros: i64) -> Self {
        Self { micros }
    }

    /// Microseconds since the epoch (UTC), for arithmetic and storage.
    pub const fn micros(self) -> i64 {
        self.micros
    }

    /// Reads an RFC 3339 timestamp such as `2026-11-01T08:30:00Z` or
    /// `2026-11-01T09:30:00+01:00`, the form rule authors write in scripts.
    pub fn parse(text: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(text)
            .map(|parsed| Self::from_micros(parsed.timestamp_micros()))
            .map_err(|_| format!("expected a timestamp like 2026-11-01T08:30:00Z, got {text:?}"))
    }

    /// The UTC calendar day the instant falls on, so rules can compare a
    /// timestamp column with dates.
    pub const fn date(self) -> Date {
        // |i64::MAX / MICROS_PER_DAY| is about 1.07e8, well inside i32.
        Date::from_days(self.micros.div_euclid(MICROS_PER_DAY) as i32)
    }

    fn utc(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.micros)
    }

    fn calendar(self) -> Fallible<DateTime<Utc>> {
        self.utc().ok_or_else(|| {
            format!("{self} is outside the calendar (years -262143 to 262142)").into()
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(utc) = self.utc() else {
            return write!(f, "{} microseconds since 1970-01-01T00:00:00Z", self.micros);
        };
        write!(f, "{}", utc.format("%Y-%m-%dT%H:%M:%S"))?;
        let fraction = self.micros.rem_euclid(MICROS_PER_SECOND);
        if fraction != 0 {
            let digits = format!("{fraction:06}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

/// A point on one time line shared by dates and timestamps, so the two can be
/// compared and subtracted with each other: a date counts as its midnight UTC.
trait Instant: Variant + Clone + Copy {
    fn utc_micros(self) -> i128;
}

impl Instant for Date {
    fn utc_micros(self) -> i128 {
        i128::from(self.days) * i128::from(MICROS_PER_DAY)
    }
}

impl Instant for Timestamp {
    fn utc_micros(self) -> i128 {
        i128::from(self.micros)
    }
}

fn fractional_days<A: Instant, B: Instant>(from: A, to: B) -> f64 {
    (to.utc_micros() - from.utc_micros()) as f64 / MICROS_PER_DAY as f64
}

fn register_comparisons<A: Instant, B: Instant>(engine: &mut Engine) {
    engine
        .register_fn("==", |a: A, b: B| a.utc_micros() == b.utc_micros())
        .register_fn("!=", |a: A, b: B| a.utc_micros() != b.utc_micros())
        .register_fn("<", |a: A, b: B| a.utc_micros() < b.utc_micros())
        .register_fn("<=", |a: A, b: B| a.utc_micros() <= b.utc_micros())
        .register_fn(">", |a: A, b: B| a.utc_micros() > b.utc_micros())
        .register_fn(">=", |a: A, b: B| a.utc_micros() >= b.utc_micros());
}

fn date_from_parts(year: i64, month: i64, day: i64) -> Fallible<Date> {
    let naive = match (
        i32::try_from(year),
        u32::try_from(month),
        u32::try_from(day),
    ) {
        (Ok(y), Ok(m), Ok(d)) => NaiveDate::from_ymd_opt(y, m, d),
        _ => None,
    };
    naive
        .map(Date::from_naive)
        .ok_or_else(|| format!("date({year}, {month}, {day}) is not a valid calendar date").into())
}

/// Makes `date` and `timestamp` values usable in scripts: the types with their
/// script names, constructors, getters, arithmetic, comparisons (including
/// date against timestamp), `days_between` and printing.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Date>("date")
        .register_type_with_name::<Timestamp>("timestamp")
        .register_fn("date", |text: &str| -> Fallible<Date> {
            Ok(Date::parse(text)?)
        })
        .register_fn("date", date_from_parts)
        .register_fn("timestamp", |text: &str| -> Fallible<Timestamp> {
            Ok(Timestamp::parse(text)?)
        })
        .register_get("year", |d: &mut Date| -> Fallible<i64> {
            Ok(d.calendar()?.year().into())
        })
        .register_get("month", |d: &mut Date| -> Fallible<i64> {
            Ok(d.calendar()?.month().into())
        })
        .register_get("day", |d: &mut Date| -> Fallible<i64> {
            Ok(d.calendar()?.day().into())
        })
        .register_get("weekday", |d: &mut Date| -> Fallible<i64> {
            Ok(d.calendar()?.weekday().number_from_monday().into())
        })
        .register_get("year", |t: &mut Timestamp| -> Fallible<i64> {
            Ok(t.calendar()?.year().into())
        })
        .register_get("month", |t: &mut Timestamp| -> Fallible<i64> {
            Ok(t.calendar()?.month().into())
        })
        .register_get("day", |t: &mut Timestamp| -> Fallible<i64> {
            Ok(t.calendar()?.day().into())
        })
        .register_get("hour", |t: &mut Timestamp| -> Fallible<i64> {
            Ok(t.calendar()?.hour().into())
        })
        .register_get("date", |t: &mut Timestamp| t.date())
        .register_fn("-", |a: Date, b: Date| {
            i64::from(a.days) - i64::from(b.days)
        })
        .register_fn("+", |d: Date, n: i64| d.add_days(n))
        .register_fn("+", |n: i64, d: Date| d.add_days(n))
        .register_fn("-", |d: Date, n: i64| match n.checked_neg() {
            Some(neg) => d.add_days(neg),
            None => Err(format!("{d} minus {n} days is outside the calendar").into()),
        })
        .register_fn("-", |a: Timestamp, b: Timestamp| fractional_days(b, a))
        .register_fn("days_between", |a: Date, b: Date| {
            i64::from(b.days) - i64::from(a.days)
        })
        .register_fn("days_between", fractional_days::<Date, Timestamp>)
        .register_fn("days_between", fractional_days::<Timestamp, Date>)
        .register_fn("days_between", fractional_days::<Timestamp, Timestamp>)
        .register_fn("to_string", |d: &mut Date| d.to_string())
        .register_fn("to_debug", |d: &mut Date| d.to_string())
        .register_fn("to_string", |t: &mut Timestamp| t.to_string())
        .register_fn("to_debug", |t: &mut Timestamp| t.to_string());
    register_comparisons::<Date, Date>(engine);
    register_comparisons::<Timestamp, Timestamp>(engine);
    register_comparisons::<Date, Timestamp>(engine);
    register_comparisons::<Timestamp, Date>(engine);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhai::Dynamic;

    fn engine() -> Engine {
        let mut engine = Engine::new();
        register(&mut engine);
        engine
    }

    fn eval(script: &str) -> Dynamic {
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
    fn day_counts_match_the_calendar() {
        assert_eq!(date("1970-01-01").days(), 0);
        assert_eq!(date("1969-12-31").days(), -1);
        assert_eq!(date("2000-01-01").days(), 10957);
        assert_eq!(date("2024-02-29").days(), 19782);
        assert_eq!(date("2026-11-01").days(), 20758);
        assert_eq!(date("1900-03-01").days(), -25508);
        assert_eq!(date("0001-01-01").days(), -719162);
    }

    #[test]
    fn display_round_trips_including_before_1970() {
        for text in [
            "1970-01-01",
            "1969-12-31",
            "1900-02-28",
            "0001-01-01",
            "2026-11-01",
        ] {
            assert_eq!(date(text).to_string(), text);
        }
        assert_eq!(Date::from_days(-1).to_string(), "1969-12-31");
        assert_eq!(Date::from_days(-25508).to_string(), "1900-03-01");
    }

    #[test]
    fn dates_outside_the_calendar_still_display() {
        assert_eq!(
            Date::from_days(i32::MAX).to_string(),
            "2147483647 days since 1970-01-01"
        );
        assert_eq!(
            Timestamp::from_micros(i64::MIN).to_string(),
            "-9223372036854775808 microseconds since 1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn parse_rejects_malformed_and_impossible_dates() {
        for text in [
            "2026-13-01",
            "2023-02-29",
            "2026-04-31",
            "2026-1-01",
            "26-11-01",
            "2026/11/01",
            " 2026-11-01",
            "",
        ] {
            assert_eq!(
                Date::parse(text).unwrap_err(),
                format!("expected a date like 2026-11-01, got {text:?}")
            );
        }
        assert_eq!(date("2024-02-29").to_string(), "2024-02-29");
        assert_eq!(date("2000-02-29").to_string(), "2000-02-29");
        assert!(Date::parse("1900-02-29").is_err());
    }

    #[test]
    fn timestamp_display_trims_the_fraction() {
        let base = 1_700_000_000 * MICROS_PER_SECOND;
        assert_eq!(
            Timestamp::from_micros(base).to_string(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            Timestamp::from_micros(base + 250_000).to_string(),
            "2023-11-14T22:13:20.25Z"
        );
        assert_eq!(
            Timestamp::from_micros(base + 1).to_string(),
            "2023-11-14T22:13:20.000001Z"
        );
        assert_eq!(
            Timestamp::from_micros(-1).to_string(),
            "1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            Timestamp::from_micros(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn timestamp_parse_converts_offsets_to_utc() {
        let utc = Timestamp::parse("2026-11-01T08:30:00Z").unwrap();
        assert_eq!(
            utc.micros(),
            (20758 * 86_400 + 8 * 3600 + 30 * 60) * MICROS_PER_SECOND
        );
        assert_eq!(Timestamp::parse("2026-11-01T09:30:00+01:00").unwrap(), utc);
        assert_eq!(
            Timestamp::parse("2026-11-01T08:30:00.5Z")
                .unwrap()
                .to_string(),
            "2026-11-01T08:30:00.5Z"
        );
        assert_eq!(
            Timestamp::parse("2026-11-01").unwrap_err(),
            "expected a timestamp like 2026-11-01T08:30:00Z, got \"2026-11-01\""
        );
    }

    #[test]
    fn timestamp_date_floors_to_the_utc_day() {
        assert_eq!(Timestamp::from_micros(-1).date(), date("1969-12-31"));
        assert_eq!(Timestamp::from_micros(0).date(), date("1970-01-01"));
        assert_eq!(
            Timestamp::parse("2026-11-01T23:59:59.999999Z")
                .unwrap()
                .date(),
            date("2026-11-01")
        );
        assert_eq!(Timestamp::from_micros(i64::MIN).date().days(), -106_751_992);
    }

    #[test]
    fn scripts_build_dates() {
        assert_eq!(
            eval(r#"date("2026-11-01")"#).cast::<Date>(),
            date("2026-11-01")
        );
        assert_eq!(eval("date(2024, 2, 29)").cast::<Date>(), date("2024-02-29"));
        assert_eq!(
            eval(r#"type_of(date("2026-11-01"))"#)
                .into_string()
                .unwrap(),
            "date"
        );
        assert_eq!(
            eval(r#"type_of(timestamp("2026-11-01T08:30:00Z"))"#)
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
        assert!(eval(r#"date("2026-11-01") - date("2026-01-01") == 304"#)
            .as_bool()
            .unwrap());
        assert_eq!(
            eval(r#"date("2026-01-01") - date("2026-11-01")"#).as_int(),
            Ok(-304)
        );
        assert_eq!(
            eval(r#"date("2024-02-28") + 2"#).cast::<Date>(),
            date("2024-03-01")
        );
        assert_eq!(
            eval(r#"date("2023-02-28") + 1"#).cast::<Date>(),
            date("2023-03-01")
        );
        assert_eq!(
            eval(r#"date("2026-03-01") - 1"#).cast::<Date>(),
            date("2026-02-28")
        );
        assert_eq!(
            eval(r#"date("1970-01-01") - 1"#).cast::<Date>(),
            date("1969-12-31")
        );
        assert_eq!(
            eval(r#"31 + date("2026-12-01")"#).cast::<Date>(),
            date("2027-01-01")
        );
        assert_eq!(
            eval(r#"let d = date("2026-04-30"); d += 1; d"#).cast::<Date>(),
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
        assert_eq!(eval(r#"date("2026-11-01").year"#).as_int(), Ok(2026));
        assert_eq!(eval(r#"date("2026-11-01").month"#).as_int(), Ok(11));
        assert_eq!(eval(r#"date("2026-11-01").day"#).as_int(), Ok(1));
        assert_eq!(eval(r#"date("2026-11-01").weekday"#).as_int(), Ok(7));
        assert_eq!(eval(r#"date("2026-11-02").weekday"#).as_int(), Ok(1));
        assert_eq!(eval(r#"date("1900-03-01").weekday"#).as_int(), Ok(4));
        assert_eq!(eval(r#"date("1969-12-31").year"#).as_int(), Ok(1969));
        let ts = r#"timestamp("2026-11-01T23:30:00-02:00")"#;
        assert_eq!(eval(&format!("{ts}.year")).as_int(), Ok(2026));
        assert_eq!(eval(&format!("{ts}.month")).as_int(), Ok(11));
        assert_eq!(eval(&format!("{ts}.day")).as_int(), Ok(2));
        assert_eq!(eval(&format!("{ts}.hour")).as_int(), Ok(1));
        assert_eq!(
            eval(&format!("{ts}.date")).cast::<Date>(),
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
            assert_eq!(eval(script).as_bool(), Ok(expected), "{script}");
        }
    }

    #[test]
    fn scripts_measure_days_between() {
        assert_eq!(
            eval(r#"days_between(date("2026-01-01"), date("2026-11-01"))"#).as_int(),
            Ok(304)
        );
        assert_eq!(
            eval(r#"days_between(date("2024-03-01"), date("2024-02-01"))"#).as_int(),
            Ok(-29)
        );
        assert_eq!(
            eval(r#"days_between(date("2026-11-01"), timestamp("2026-11-02T12:00:00Z"))"#)
                .as_float(),
            Ok(1.5)
        );
        assert_eq!(
            eval(r#"days_between(timestamp("2026-11-02T06:00:00Z"), date("2026-11-01"))"#)
                .as_float(),
            Ok(-1.25)
        );
        assert_eq!(
            eval(r#"days_between(timestamp("2026-11-01T00:00:00Z"), timestamp("2026-11-01T18:00:00Z"))"#)
                .as_float(),
            Ok(0.75)
        );
        assert_eq!(
            eval(r#"timestamp("2026-11-01T18:00:00Z") - timestamp("2026-11-01T00:00:00Z")"#)
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
            assert_eq!(eval(script).into_string().unwrap(), expected, "{script}");
        }
    }
}
