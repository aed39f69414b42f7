//! Numbers for people: how every text report writes a figure (JSON keeps full precision).
//!
//! - [`number`]: a measured value (a factor, a weight, a score) with at most three decimals, or
//!   three significant digits below 0.1, trailing zeros dropped: `1.8751309399999998` prints
//!   `1.875`, `0.46878273499999995` prints `0.469`, `0.25` stays `0.25`;
//! - [`count`]: a count of rows with thousands separators, as the progress bar writes them:
//!   `2,000,000`.

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
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(126444), "126,444");
        assert_eq!(count(2_000_000), "2,000,000");
    }
}
