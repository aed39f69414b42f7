//! Numbers for people: how every text report writes a figure (JSON keeps full precision).
//!
//! - [`number`]: a measured value (a factor, a weight, a score) with at most three decimals, or
//!   three significant digits below 0.1, trailing zeros dropped: `1.8751309399999998` prints
//!   `1.875`, `0.46878273499999995` prints `0.469`, `0.25` stays `0.25`;
//! - [`signed`]: a change, the same with its sign: `+0.25`, `-1.5`, `0`;
//! - [`count`]: a count of rows with thousands separators, as the progress bar writes them:
//!   `2,000,000`;
//! - [`percent`]: a share as a percentage with one decimal: `0.6066` prints `60.7%`;
//! - [`seconds`]: a duration, as [`number`] with an `s`: `0.2346` prints `0.235s`.

/// A value rounded for reading: at most three decimals (three significant digits below 0.1),
/// without trailing zeros.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs();
    let decimals = if magnitude == 0.0 || magnitude >= 0.1 {
        3
    } else {
        // 0.0123 -> 4 decimals (0.0123), 0.000456 -> 6 (0.000456).
        (2 - magnitude.log10().floor() as i32).clamp(3, 15) as usize
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    match text {
        "-0" => "0".to_string(),
        other => other.to_string(),
    }
}

/// A change as [`number`] writes it, with a `+` when it is above zero.
pub fn signed(value: f64) -> String {
    let text = number(value);
    if value > 0.0 && text != "0" {
        format!("+{text}")
    } else {
        text
    }
}

/// A share (1 = all) as a percentage with one decimal: `0.6066` prints `60.7%`.
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A duration in seconds as [`number`] writes it, followed by `s`: `26.73125` prints `26.731s`.
pub fn seconds(value: f64) -> String {
    format!("{}s", number(value))
}

/// A count with thousands separators: `126444` prints `126,444`.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_decimals_or_three_significant_digits() {
        assert_eq!(number(1.8751309399999998), "1.875");
        assert_eq!(number(0.46878273499999995), "0.469");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(30.0), "30");
        assert_eq!(number(-45.0), "-45");
        assert_eq!(number(0.0123456), "0.0123");
        assert_eq!(number(0.000456789), "0.000457");
        assert_eq!(number(-0.0001), "-0.0001");
        assert_eq!(number(-0.0000000000000001), "0");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(250000.0004), "250000");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn changes_carry_their_sign() {
        assert_eq!(signed(0.25), "+0.25");
        assert_eq!(signed(-1.5), "-1.5");
        assert_eq!(signed(0.0), "0");
        assert_eq!(signed(0.0000000000000001), "0");
    }

    #[test]
    fn shares_and_durations() {
        assert_eq!(percent(0.6066), "60.7%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(percent(0.0), "0.0%");
        assert_eq!(seconds(26.73125), "26.731s");
        assert_eq!(seconds(0.2346), "0.235s");
        assert_eq!(seconds(3.0), "3s");
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(126444), "126,444");
        assert_eq!(count(2_000_000), "2,000,000");
    }
}
