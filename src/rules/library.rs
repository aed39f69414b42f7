//! The helper library analysts call from scoring scripts, as plain functions.
//!
//! Every helper is a pure function of its numbers. Each backend exposes these to scripts (the
//! interpreter registers them on its rhai engine with type checks and null messages; the
//! compiled engine calls them on typed columns), so both compute every helper the same way, to
//! the bit. An `Err` is the message a row fails with.

use super::Fallible;

/// Adds from `0.0`, where `Iterator::sum` on floats starts from `-0.0`.
pub fn total(numbers: &[(usize, f64)]) -> f64 {
    numbers.iter().fold(0.0, |total, (_, value)| total + value)
}

/// `mean(arr)`: the mean of the numbers present; `None` (a `()`) when there are none.
pub fn mean(numbers: &[(usize, f64)]) -> Option<f64> {
    (!numbers.is_empty()).then(|| total(numbers) / numbers.len() as f64)
}

/// `stdev(arr)`: the population standard deviation.
pub fn stdev(numbers: &[(usize, f64)]) -> Option<f64> {
    let centre = mean(numbers)?;
    let squares = numbers.iter().map(|(_, v)| (v - centre) * (v - centre));
    Some((squares.sum::<f64>() / numbers.len() as f64).sqrt())
}

/// `trend(arr)`: the least-squares slope of the numbers against their positions in the array.
pub fn trend(numbers: &[(usize, f64)]) -> Option<f64> {
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

/// `growth(arr)`: the last number against the first, as a share of the first.
pub fn growth(numbers: &[(usize, f64)]) -> Option<f64> {
    match numbers {
        [(_, first), .., (_, last)] if *first != 0.0 => Some((last - first) / first.abs()),
        _ => None,
    }
}

/// `min_of` / `max_of`: the position of the element holding the smallest (with `better` as
/// `<`) or largest number; NaN only wins when nothing else is there, as with `f64::min`.
pub fn extreme(numbers: &[(usize, f64)], better: fn(f64, f64) -> bool) -> Option<usize> {
    numbers
        .iter()
        .copied()
        .reduce(|best, candidate| {
            if better(candidate.1, best.1) || best.1.is_nan() {
                candidate
            } else {
                best
            }
        })
        .map(|(index, _)| index)
}

/// `clamp(x, lo, hi)`.
pub fn clamp(x: f64, lo: f64, hi: f64) -> Fallible<f64> {
    if lo <= hi {
        Ok(x.clamp(lo, hi))
    } else {
        Err(format!(
            "clamp: lo ({lo}) must not be greater than hi ({hi})"
        ))
    }
}

/// `scale(x, lo, hi)`: `x` mapped from `lo..hi` onto 0..100, clamped.
pub fn scale(x: f64, lo: f64, hi: f64) -> Fallible<f64> {
    if lo == hi {
        return Err(format!("scale: lo and hi are both {lo}; they must differ"));
    }
    // Adding 0.0 turns the -0.0 of a reversed range into 0.0.
    Ok(((x - lo) / (hi - lo) * 100.0).clamp(0.0, 100.0) + 0.0)
}

/// Checks that `band`'s cuts ascend strictly.
pub fn check_cuts(limits: &[f64]) -> Fallible<()> {
    limits
        .windows(2)
        .enumerate()
        .try_for_each(|(index, pair)| check_next_cut(index + 1, pair[0], pair[1]))
}

/// Checks that `band`'s cut at `index` is above the one before it.
pub fn check_next_cut(index: usize, previous: f64, limit: f64) -> Fallible<()> {
    if limit <= previous {
        Err(format!(
            "band: cuts must be ascending, but cuts[{index}] = {limit} follows cuts[{}] = {previous}",
            index - 1
        ))
    } else {
        Ok(())
    }
}

/// Checks that `band` has one score more than cuts.
pub fn check_band_sizes(cuts: usize, scores: usize) -> Fallible<()> {
    if scores == cuts + 1 {
        Ok(())
    } else {
        Err(format!(
            "band: scores must have one more element than cuts, got {cuts} cuts and {scores} scores"
        ))
    }
}

/// `band(x, cuts, scores)` picks `scores[band_index(x, cuts)]`: the score after the cuts at or
/// below `x`.
pub fn band_index(x: f64, limits: &[f64]) -> usize {
    limits.partition_point(|&limit| limit <= x)
}

/// `pct(part, whole)`: `None` (a `()`) when `whole` is 0.
pub fn pct(part: f64, whole: f64) -> Option<f64> {
    (whole != 0.0).then(|| part / whole * 100.0)
}

/// `safe_div(a, b, default)`: `None` (the default) when `b` is 0.
pub fn safe_div(a: f64, b: f64) -> Option<f64> {
    (b != 0.0).then(|| a / b)
}

/// From 2^52 up every `f64` is a whole number, so rounding changes nothing.
const WHOLE_FLOATS: f64 = 4_503_599_627_370_496.0;

/// Caps the digit count handed to `powi`; 10^400 is already infinite as an `f64`, so larger
/// counts give the same result.
const MAX_DIGITS: u64 = 400;

/// `round_to(x, digits)`: half away from zero, at `digits` decimals (negative: tens, hundreds).
pub fn round_to(x: f64, digits: i64) -> f64 {
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
    rounded + 0.0
}

/// The message for a `()` (null) where a helper needs a value.
pub fn null_argument(function: &str, arg: &str, default: &str) -> String {
    format!(
        "{function}: argument {arg} is () (a null value); give a default with {arg} ?? {default}"
    )
}
