//! Date and timestamp values as scripts see them, whichever engine runs the script.
//!
//! Arrow stores dates as day counts and timestamps as tick counts; scripts need
//! real values they can compare, subtract and print. This module defines the
//! two value types and their operations as plain functions; each backend
//! exposes them to scripts (the interpreter registers them on its rhai engine).

use std::fmt;

use super::Fallible;
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

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
    ///
    /// The digits are read by hand: the interpreter builds `date(params.as_of)` on every row
    /// (the constructor is not folded, see the interpreter's library), and chrono's
    /// format-string parser was 1% of an interpreted run. The test
    /// `parse_agrees_with_chrono_on_every_shape` holds it to `%Y-%m-%d`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = text.as_bytes();
        let shaped = bytes.len() == 10
            && bytes.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                _ => b.is_ascii_digit(),
            });
        let digits = |range: std::ops::Range<usize>| {
            bytes[range]
                .iter()
                .fold(0, |n, b| n * 10 + u32::from(b - b'0'))
        };
        let naive = if shaped {
            NaiveDate::from_ymd_opt(digits(0..4) as i32, digits(5..7), digits(8..10))
        } else {
            None
        };
        naive
            .map(Self::from_naive)
            .ok_or_else(|| format!("expected a date like 2026-11-01, got {text:?}"))
    }

    /// The date of a calendar day.
    pub fn from_naive(naive: NaiveDate) -> Self {
        Self::from_days(naive.to_epoch_days())
    }

    fn naive(self) -> Option<NaiveDate> {
        NaiveDate::from_epoch_days(self.days)
    }

    /// The calendar day, or the error a script gets for a day count outside the calendar.
    pub fn calendar(self) -> Fallible<NaiveDate> {
        self.naive()
            .ok_or_else(|| format!("{self} is outside the calendar (years -262143 to 262142)"))
    }

    /// `date + n` (and `date - n` with `-n`): an error outside the calendar.
    pub fn add_days(self, delta: i64) -> Fallible<Self> {
        i64::from(self.days)
            .checked_add(delta)
            .and_then(|days| i32::try_from(days).ok())
            .map(Self::from_days)
            .filter(|date| date.naive().is_some())
            .ok_or_else(|| format!("{self} plus {delta} days is outside the calendar"))
    }

    /// `date - n`: an error outside the calendar (and for `n = i64::MIN`).
    pub fn sub_days(self, delta: i64) -> Fallible<Self> {
        match delta.checked_neg() {
            Some(neg) => self.add_days(neg),
            None => Err(format!("{self} minus {delta} days is outside the calendar")),
        }
    }

    /// `a - b` for two dates: whole days.
    pub fn days_since(self, earlier: Date) -> i64 {
        i64::from(self.days) - i64::from(earlier.days)
    }

    /// `.year`, `.month`, `.day`, `.weekday` (1 = Monday).
    pub fn part(self, part: DatePart) -> Fallible<i64> {
        let day = self.calendar()?;
        Ok(match part {
            DatePart::Year => day.year().into(),
            DatePart::Month => day.month().into(),
            DatePart::Day => day.day().into(),
            DatePart::Weekday => day.weekday().number_from_monday().into(),
        })
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
        self.utc()
            .ok_or_else(|| format!("{self} is outside the calendar (years -262143 to 262142)"))
    }

    /// `.year`, `.month`, `.day`, `.hour` in UTC.
    pub fn part(self, part: TimestampPart) -> Fallible<i64> {
        let at = self.calendar()?;
        Ok(match part {
            TimestampPart::Year => at.year().into(),
            TimestampPart::Month => at.month().into(),
            TimestampPart::Day => at.day().into(),
            TimestampPart::Hour => at.hour().into(),
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

/// A part of a date that scripts read as a property (`d.year`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatePart {
    Year,
    Month,
    Day,
    Weekday,
}

impl DatePart {
    /// Every part, with the property name scripts use.
    pub const ALL: [(&'static str, DatePart); 4] = [
        ("year", DatePart::Year),
        ("month", DatePart::Month),
        ("day", DatePart::Day),
        ("weekday", DatePart::Weekday),
    ];
}

/// A part of a timestamp that scripts read as a property (`t.hour`), in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampPart {
    Year,
    Month,
    Day,
    Hour,
}

impl TimestampPart {
    /// Every part, with the property name scripts use.
    pub const ALL: [(&'static str, TimestampPart); 4] = [
        ("year", TimestampPart::Year),
        ("month", TimestampPart::Month),
        ("day", TimestampPart::Day),
        ("hour", TimestampPart::Hour),
    ];
}

/// A point on one time line shared by dates and timestamps, so the two can be
/// compared and subtracted with each other: a date counts as its midnight UTC.
pub trait Instant: Clone + Copy {
    /// Microseconds since the epoch, UTC.
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

/// Days from `from` to `to`, with the fraction: `days_between` and `timestamp - timestamp`.
pub fn fractional_days<A: Instant, B: Instant>(from: A, to: B) -> f64 {
    (to.utc_micros() - from.utc_micros()) as f64 / MICROS_PER_DAY as f64
}

/// `date(year, month, day)`.
pub fn date_from_parts(year: i64, month: i64, day: i64) -> Fallible<Date> {
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
        .ok_or_else(|| format!("date({year}, {month}, {day}) is not a valid calendar date"))
}
#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    #[test]
    fn parse_agrees_with_chrono_on_every_shape() {
        // Every month and day field from 00 to 99 (so every invalid one too), in years that
        // are leap, not leap, century and not, and the ends of the four digits.
        for year in [
            0, 1, 4, 100, 400, 1900, 1969, 1970, 2000, 2024, 2026, 2100, 9999,
        ] {
            for month in 0..100 {
                for day in 0..100 {
                    let text = format!("{year:04}-{month:02}-{day:02}");
                    let chrono = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok();
                    assert_eq!(
                        Date::parse(&text).ok(),
                        chrono.map(Date::from_naive),
                        "{text}"
                    );
                }
            }
        }
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
}
