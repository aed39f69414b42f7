//! Factor weights from an AHP (Analytic Hierarchy Process) pairwise comparison matrix.
//!
//! Analysts often find "recency matters three times as much as frequency" easier
//! to state than raw weights. They fill in a reciprocal matrix on Saaty's 1–9
//! scale; this module turns it into weights (the normalised principal
//! eigenvector) and refuses judgements too inconsistent to trust (consistency
//! ratio CR ≥ 0.10).
//!
//! Tolerance: cells are compared with a relative tolerance of 1 % (`1e-2`), so
//! decimals written to three places stand for the fractions they round:
//! `0.333` pairs with `3` (0.333 × 3 = 0.999), and `0.111` counts as 1/9 for
//! the scale bounds.

/// Saaty's random index RI for n = 1..=11 (index n − 1): the mean CI of random
/// reciprocal matrices, which CR compares against.
const RANDOM_INDEX: [f64; 11] = [
    0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49, 1.51,
];

/// Largest judgement on Saaty's scale; its reciprocal is the smallest.
const SCALE_MAX: f64 = 9.0;

/// Relative tolerance for reciprocity and for the scale bounds (see the module docs).
const TOLERANCE: f64 = 1e-2;

/// Absolute tolerance for a diagonal cell to count as 1.
const DIAGONAL_TOLERANCE: f64 = 1e-9;

/// Matrices whose consistency ratio reaches this are refused.
const CR_LIMIT: f64 = 0.10;

/// Power iteration stops after this many steps even if not yet converged.
const MAX_ITERATIONS: usize = 1000;

/// Power iteration stops once the L1 change between steps falls below this.
const CONVERGED: f64 = 1e-12;

/// What a malformed cell should have looked like, for parse messages.
const EXPECTED: &str = "expected a positive number or fraction such as 3, 0.5 or 1/3";

/// One cell of a pairwise matrix as written in a config file: analysts may
/// write a plain number (`3`, `0.333`) or a fraction string (`"1/3"`).
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A cell written as a number; checked later by [`weights`].
    Number(f64),
    /// A cell written as text, usually a fraction such as `"1/3"`.
    Text(String),
}

impl Entry {
    /// The cell's numeric value, so numbers and fractions can be mixed freely:
    /// text goes through [`parse_entry`], numbers pass through unchanged.
    pub fn value(&self) -> Result<f64, String> {
        match self {
            Entry::Number(value) => Ok(*value),
            Entry::Text(text) => parse_entry(text),
        }
    }
}

/// Parses the text form of a cell (`"3"`, `"0.5"`, `"1/3"`, surrounding
/// whitespace allowed), so fractions need not be pre-computed by hand.
/// Refuses anything that is not a positive finite number or fraction.
pub fn parse_entry(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let (numerator, denominator) = match trimmed.split_once('/') {
        Some((numerator, denominator)) => {
            (parse_part(numerator, text)?, parse_part(denominator, text)?)
        }
        None => (parse_part(trimmed, text)?, 1.0),
    };
    if denominator == 0.0 {
        return Err(format!("{text:?} divides by zero; {EXPECTED}"));
    }
    if numerator == 0.0 {
        return Err(format!(
            "{text:?} is zero, which is not a comparison; {EXPECTED}"
        ));
    }
    let value = numerator / denominator;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{text:?} is out of range; {EXPECTED}"))
    }
}

/// One side of a fraction (or a whole number): finite and not negative.
fn parse_part(part: &str, whole: &str) -> Result<f64, String> {
    match part.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        Ok(value) if value < 0.0 => Err(format!("{whole:?} is negative; {EXPECTED}")),
        _ => Err(format!("{EXPECTED}, got {whole:?}")),
    }
}

/// Turns config cells into a numeric matrix for [`weights`], naming the cell
/// whose text cannot be parsed.
pub fn matrix_from_entries(rows: &[Vec<Entry>]) -> Result<Vec<Vec<f64>>, AhpError> {
    rows.iter()
        .enumerate()
        .map(|(row, cells)| {
            cells
                .iter()
                .enumerate()
                .map(|(col, cell)| {
                    cell.value()
                        .map_err(|message| AhpError::BadEntry { row, col, message })
                })
                .collect()
        })
        .collect()
}

/// The result of AHP: the factor weights plus the consistency figures that
/// justify trusting them (reported so users can see how close to the limit they are).
#[derive(Debug, Clone, PartialEq)]
pub struct Ahp {
    /// Normalised principal eigenvector: one positive weight per factor, summing to 1.
    pub weights: Vec<f64>,
    /// Principal eigenvalue λmax, the mean of (A·w)ᵢ / wᵢ; equals n when fully consistent.
    pub lambda_max: f64,
    /// Consistency index (λmax − n)/(n − 1); 0 for n ≤ 2, and never reported
    /// below 0 (negative values come only from rounding or tolerated decimals).
    pub ci: f64,
    /// Saaty's random index for this n (0 for n ≤ 2).
    pub ri: f64,
    /// Consistency ratio CI/RI; 0 for n ≤ 2. [`weights`] requires it below 0.10.
    pub cr: f64,
}

/// Why a pairwise matrix was refused; rows and columns are 0-based here and
/// 1-based in the messages, which are written for analysts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AhpError {
    /// The matrix has no rows.
    #[error("the pairwise matrix is empty; expected an n × n matrix with 1 ≤ n ≤ 11")]
    Empty,
    /// A row's length differs from the number of rows.
    #[error(
        "the pairwise matrix is not square: row {} has {len} entries but there are {n} rows",
        .row + 1
    )]
    NotSquare {
        /// The offending row.
        row: usize,
        /// How many cells that row has.
        len: usize,
        /// How many rows (and so factors) there are.
        n: usize,
    },
    /// More than 11 factors: Saaty's random index, and so CR, is not defined.
    #[error(
        "the pairwise matrix compares {n} factors, but AHP's random index (needed for the \
         consistency ratio) is defined only up to 11; split the factors into groups"
    )]
    TooLarge {
        /// The number of factors.
        n: usize,
    },
    /// A cell's text could not be parsed (see [`matrix_from_entries`]).
    #[error("cell (row {}, column {}): {message}", .row + 1, .col + 1)]
    BadEntry {
        /// Row of the cell.
        row: usize,
        /// Column of the cell.
        col: usize,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A cell is zero, negative, infinite or NaN.
    #[error(
        "cell (row {}, column {}) is {}; every comparison must be a positive number on \
         Saaty's scale 1/9 to 9",
        .row + 1,
        .col + 1,
        show(*.value)
    )]
    NotPositive {
        /// Row of the cell.
        row: usize,
        /// Column of the cell.
        col: usize,
        /// The value found.
        value: f64,
    },
    /// A diagonal cell is not 1 (a factor compared with itself).
    #[error(
        "diagonal cell (row {0}, column {0}) is {1}; a factor compared with itself must be 1",
        .index + 1,
        show(*.value)
    )]
    BadDiagonal {
        /// Row and column of the diagonal cell.
        index: usize,
        /// The value found.
        value: f64,
    },
    /// An off-diagonal cell lies outside Saaty's scale 1/9..9 (1 % tolerance).
    #[error(
        "cell (row {}, column {}) is {}, outside Saaty's scale; comparisons must lie between \
         1/9 and 9",
        .row + 1,
        .col + 1,
        show(*.value)
    )]
    OutOfScale {
        /// Row of the cell.
        row: usize,
        /// Column of the cell.
        col: usize,
        /// The value found.
        value: f64,
    },
    /// Cells (row, col) and (col, row) are not reciprocal within 1 %.
    #[error(
        "cells (row {0}, column {1}) = {2} and (row {1}, column {0}) = {3} are not reciprocal; \
         expected (row {1}, column {0}) to be 1/{2} ≈ {4} (within 1%)",
        .row + 1,
        .col + 1,
        show(*.value),
        show(*.mirror),
        show(1.0 / .value)
    )]
    NotReciprocal {
        /// Row of the upper cell.
        row: usize,
        /// Column of the upper cell.
        col: usize,
        /// Value at (row, col).
        value: f64,
        /// Value at (col, row), which should be about 1/value.
        mirror: f64,
    },
    /// The judgements contradict each other too much: CR ≥ 0.10.
    #[error(
        "the pairwise matrix is inconsistent: CR = {cr:.3} (CI = {ci:.3}, λmax = \
         {lambda_max:.3}, RI for n = {n} is {ri:.2}); CR must be below 0.10. The judgement \
         furthest from the derived weights is row {}, column {}: given {}, the other \
         judgements imply about {}; revisit it first",
        .worst.0 + 1,
        .worst.1 + 1,
        show(*.given),
        show(*.implied)
    )]
    Inconsistent {
        /// Consistency ratio CI/RI.
        cr: f64,
        /// Principal eigenvalue.
        lambda_max: f64,
        /// Consistency index.
        ci: f64,
        /// Random index for n.
        ri: f64,
        /// Number of factors.
        n: usize,
        /// Cell (i, j) whose judgement deviates most, relatively, from wᵢ/wⱼ:
        /// the comparison to revisit first.
        worst: (usize, usize),
        /// The judgement given at `worst`.
        given: f64,
        /// The ratio wᵢ/wⱼ the derived weights imply for `worst`.
        implied: f64,
    },
}

/// A cell value for messages: up to 3 decimals without trailing zeros,
/// scientific notation for tiny non-zero values that would print as 0.
fn show(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let fixed = format!("{value:.3}");
    let trimmed = if fixed.contains('.') {
        fixed.trim_end_matches('0').trim_end_matches('.')
    } else {
        fixed.as_str()
    };
    if trimmed == "0" || trimmed == "-0" {
        format!("{value:e}")
    } else {
        trimmed.to_string()
    }
}

/// Validates the matrix and computes weights and consistency figures without
/// enforcing the CR limit, so a report can show the figures for a matrix that
/// [`weights`] would refuse.
pub fn evaluate(matrix: &[Vec<f64>]) -> Result<Ahp, AhpError> {
    let ri = validate(matrix)?;
    let n = matrix.len();
    let weights = principal_eigenvector(matrix);
    let products = multiply(matrix, &weights);
    let lambda_max = products
        .iter()
        .zip(&weights)
        .map(|(product, weight)| product / weight)
        .sum::<f64>()
        / n as f64;
    let (ci, cr) = if n <= 2 {
        (0.0, 0.0)
    } else {
        let ci = ((lambda_max - n as f64) / (n as f64 - 1.0)).max(0.0);
        (ci, ci / ri)
    };
    Ok(Ahp {
        weights,
        lambda_max,
        ci,
        ri,
        cr,
    })
}

/// Factor weights from a pairwise comparison matrix, refusing it when its
/// consistency ratio is 0.10 or more; the error names the judgement to revisit.
pub fn weights(matrix: &[Vec<f64>]) -> Result<Ahp, AhpError> {
    let ahp = evaluate(matrix)?;
    if ahp.cr < CR_LIMIT {
        return Ok(ahp);
    }
    let (worst, given, implied) = worst_judgement(matrix, &ahp.weights);
    Err(AhpError::Inconsistent {
        cr: ahp.cr,
        lambda_max: ahp.lambda_max,
        ci: ahp.ci,
        ri: ahp.ri,
        n: matrix.len(),
        worst,
        given,
        implied,
    })
}

/// Checks shape, positivity, diagonal, scale and reciprocity; returns RI for n.
fn validate(matrix: &[Vec<f64>]) -> Result<f64, AhpError> {
    let n = matrix.len();
    if n == 0 {
        return Err(AhpError::Empty);
    }
    if let Some((row, cells)) = matrix.iter().enumerate().find(|(_, r)| r.len() != n) {
        return Err(AhpError::NotSquare {
            row,
            len: cells.len(),
            n,
        });
    }
    let ri = *RANDOM_INDEX.get(n - 1).ok_or(AhpError::TooLarge { n })?;
    let low = (1.0 - TOLERANCE) / SCALE_MAX;
    let high = SCALE_MAX * (1.0 + TOLERANCE);
    for (row, cells) in matrix.iter().enumerate() {
        for (col, &value) in cells.iter().enumerate() {
            if !(value.is_finite() && value > 0.0) {
                return Err(AhpError::NotPositive { row, col, value });
            }
            if row == col {
                if (value - 1.0).abs() > DIAGONAL_TOLERANCE {
                    return Err(AhpError::BadDiagonal { index: row, value });
                }
            } else if !(low..=high).contains(&value) {
                return Err(AhpError::OutOfScale { row, col, value });
            }
        }
    }
    for (row, cells) in matrix.iter().enumerate() {
        for (col, &value) in cells.iter().enumerate().skip(row + 1) {
            let mirror = matrix[col][row];
            if (value * mirror - 1.0).abs() > TOLERANCE {
                return Err(AhpError::NotReciprocal {
                    row,
                    col,
                    value,
                    mirror,
                });
            }
        }
    }
    Ok(ri)
}

/// Principal (Perron) eigenvector by power iteration from the row geometric
/// means, normalised to sum 1. A positive matrix has a simple dominant
/// eigenvalue with a positive eigenvector, so the iteration converges.
fn principal_eigenvector(matrix: &[Vec<f64>]) -> Vec<f64> {
    let means = matrix
        .iter()
        .map(|row| (row.iter().map(|a| a.ln()).sum::<f64>() / row.len() as f64).exp())
        .collect();
    let mut current = normalised(means);
    for _ in 0..MAX_ITERATIONS {
        let next = normalised(multiply(matrix, &current));
        let change: f64 = next.iter().zip(&current).map(|(a, b)| (a - b).abs()).sum();
        current = next;
        if change < CONVERGED {
            break;
        }
    }
    current
}

/// A·v.
fn multiply(matrix: &[Vec<f64>], vector: &[f64]) -> Vec<f64> {
    matrix
        .iter()
        .map(|row| row.iter().zip(vector).map(|(a, v)| a * v).sum())
        .collect()
}

/// Scales a positive vector to sum 1.
fn normalised(vector: Vec<f64>) -> Vec<f64> {
    let total: f64 = vector.iter().sum();
    vector.into_iter().map(|v| v / total).collect()
}

/// The off-diagonal cell with the largest relative deviation |aᵢⱼ·wⱼ/wᵢ − 1|,
/// with its given value and the ratio wᵢ/wⱼ the weights imply. Deviations
/// within 1e-9 count as ties, won by the first in row order, so rounding noise
/// cannot pick among equally bad cells.
fn worst_judgement(matrix: &[Vec<f64>], weights: &[f64]) -> ((usize, usize), f64, f64) {
    let mut worst = ((0, 0), 1.0, 1.0);
    let mut largest = f64::NEG_INFINITY;
    for ((i, row), wi) in matrix.iter().enumerate().zip(weights) {
        for ((j, &given), wj) in row.iter().enumerate().zip(weights) {
            let implied = wi / wj;
            let deviation = (given / implied - 1.0).abs();
            if i != j && deviation > largest + 1e-9 {
                largest = deviation;
                worst = ((i, j), given, implied);
            }
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds a matrix from rows of cell texts such as `"1/3"`.
    fn matrix(rows: &[&str]) -> Vec<Vec<f64>> {
        rows.iter()
            .map(|row| {
                row.split_whitespace()
                    .map(|cell| parse_entry(cell).expect("test cell parses"))
                    .collect()
            })
            .collect()
    }

    fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{what}: got {actual}, expected {expected} ± {tolerance}"
        );
    }

    fn assert_weights(actual: &[f64], published: &[f64], tolerance: f64) {
        assert_eq!(actual.len(), published.len());
        for (i, (a, p)) in actual.iter().zip(published).enumerate() {
            assert_close(*a, *p, tolerance, &format!("weight {i}"));
        }
    }

    /// Half a unit in the third decimal: the computed figure rounds to the published one.
    const THREE_DECIMALS: f64 = 5e-4;

    // Widely reproduced textbook/tutorial 3×3 example; published figures:
    // weights 0.637, 0.258, 0.105; λmax 3.039; CI 0.019; CR 0.033. Also
    // re-derived independently (exact fractions, separate power iteration).
    #[test]
    fn textbook_three_by_three() {
        let ahp = weights(&matrix(&["1 3 5", "1/3 1 3", "1/5 1/3 1"])).expect("consistent");
        assert_weights(&ahp.weights, &[0.637, 0.258, 0.105], THREE_DECIMALS);
        assert_close(ahp.lambda_max, 3.039, THREE_DECIMALS, "λmax");
        assert_close(ahp.ci, 0.019, THREE_DECIMALS, "CI");
        assert_close(ahp.ri, 0.58, 1e-12, "RI");
        assert_close(ahp.cr, 0.033, THREE_DECIMALS, "CR");
    }

    // Wikipedia, "Analytic hierarchy process – leader example": criteria
    // Experience, Education, Charisma, Age. Published priorities 0.547, 0.127,
    // 0.270, 0.056 and CR 0.044. The exact eigenvector's first weight is
    // 0.54757, which the article gives as 0.547 (truncated), so weights are
    // checked within one unit of the third decimal; CR rounds exactly.
    #[test]
    fn wikipedia_leader_four_by_four() {
        let ahp = weights(&matrix(&[
            "1 4 3 7",
            "1/4 1 1/3 3",
            "1/3 3 1 5",
            "1/7 1/3 1/5 1",
        ]))
        .expect("consistent");
        assert_weights(&ahp.weights, &[0.547, 0.127, 0.270, 0.056], 1e-3);
        assert_close(ahp.ri, 0.90, 1e-12, "RI");
        assert_close(ahp.cr, 0.044, THREE_DECIMALS, "CR");
    }

    // Saaty (1990), "How to make a decision: The Analytic Hierarchy Process",
    // European Journal of Operational Research 48, 9–26: the eight criteria
    // for buying a house. Published priorities .173 .054 .188 .018 .031 .036
    // .167 .333, λmax = 9.669, C.I. = 0.238, C.R. = 0.169 — above 0.10, so
    // `weights` refuses it while `evaluate` still reports the figures.
    const HOUSE: [&str; 8] = [
        "1 5 3 7 6 6 1/3 1/4",
        "1/5 1 1/3 5 3 3 1/5 1/7",
        "1/3 3 1 6 3 4 6 1/5",
        "1/7 1/5 1/6 1 1/3 1/4 1/7 1/8",
        "1/6 1/3 1/3 3 1 1/2 1/5 1/6",
        "1/6 1/3 1/4 4 2 1 1/5 1/6",
        "3 5 1/6 7 5 5 1 1/2",
        "4 7 5 8 6 6 2 1",
    ];

    #[test]
    fn saaty_house_eight_by_eight_figures() {
        let ahp = evaluate(&matrix(&HOUSE)).expect("valid matrix");
        assert_weights(
            &ahp.weights,
            &[0.173, 0.054, 0.188, 0.018, 0.031, 0.036, 0.167, 0.333],
            THREE_DECIMALS,
        );
        assert_close(ahp.lambda_max, 9.669, THREE_DECIMALS, "λmax");
        assert_close(ahp.ci, 0.238, THREE_DECIMALS, "CI");
        assert_close(ahp.ri, 1.41, 1e-12, "RI");
        assert_close(ahp.cr, 0.169, THREE_DECIMALS, "CR");
    }

    #[test]
    fn saaty_house_is_refused_with_its_published_figures() {
        let err = weights(&matrix(&HOUSE)).expect_err("CR 0.169 is refused");
        let AhpError::Inconsistent {
            cr,
            lambda_max,
            ci,
            ri,
            n,
            ..
        } = err
        else {
            panic!("expected Inconsistent, got {err:?}");
        };
        assert_close(cr, 0.169, THREE_DECIMALS, "CR");
        assert_close(lambda_max, 9.669, THREE_DECIMALS, "λmax");
        assert_close(ci, 0.238, THREE_DECIMALS, "CI");
        assert_close(ri, 1.41, 1e-12, "RI");
        assert_eq!(n, 8);
        let message = err.to_string();
        for part in [
            "CR = 0.169",
            "CI = 0.238",
            "λmax = 9.669",
            "RI for n = 8 is 1.41",
        ] {
            assert!(message.contains(part), "{part:?} missing from {message}");
        }
    }

    // Saaty & Khouja (1976), relative wealth of nations (US, USSR, China,
    // France, UK, Japan, W. Germany), reproduced in Saaty's AHP texts.
    // Published eigenvector .427 .230 .021 .052 .052 .123 .094; λmax = 7.61,
    // C.I. = 0.10, C.R. = 0.08 (these three only to two decimals).
    #[test]
    fn saaty_wealth_of_nations_seven_by_seven() {
        let ahp = weights(&matrix(&[
            "1 4 9 6 6 5 5",
            "1/4 1 7 5 5 3 4",
            "1/9 1/7 1 1/5 1/5 1/7 1/5",
            "1/6 1/5 5 1 1 1/3 1/3",
            "1/6 1/5 5 1 1 1/3 1/3",
            "1/5 1/3 7 3 3 1 2",
            "1/5 1/4 5 3 3 1/2 1",
        ]))
        .expect("consistent");
        assert_weights(
            &ahp.weights,
            &[0.427, 0.230, 0.021, 0.052, 0.052, 0.123, 0.094],
            THREE_DECIMALS,
        );
        assert_close(ahp.lambda_max, 7.61, 5e-3, "λmax");
        assert_close(ahp.ci, 0.10, 5e-3, "CI");
        assert_close(ahp.cr, 0.08, 5e-3, "CR");
    }

    /// a_ij = w_i / w_j: perfectly consistent by construction.
    fn consistent(weights: &[f64]) -> Vec<Vec<f64>> {
        weights
            .iter()
            .map(|wi| weights.iter().map(|wj| wi / wj).collect())
            .collect()
    }

    #[test]
    fn consistent_four_by_four_recovers_known_weights() {
        let known = [0.4, 0.3, 0.2, 0.1];
        let ahp = weights(&consistent(&known)).expect("consistent");
        for (a, k) in ahp.weights.iter().zip(known) {
            assert_close(*a, k, 1e-9, "weight");
        }
        assert_close(ahp.lambda_max, 4.0, 1e-9, "λmax");
        assert_close(ahp.ci, 0.0, 1e-9, "CI");
        assert_close(ahp.cr, 0.0, 1e-9, "CR");
    }

    #[test]
    fn one_and_two_factors_are_always_consistent() {
        let one = weights(&[vec![1.0]]).expect("n = 1");
        assert_eq!(one.weights, vec![1.0]);
        assert_eq!((one.ci, one.ri, one.cr), (0.0, 0.0, 0.0));
        let two = weights(&matrix(&["1 9", "1/9 1"])).expect("n = 2");
        assert_weights(&two.weights, &[0.9, 0.1], 1e-12);
        assert_eq!((two.ci, two.ri, two.cr), (0.0, 0.0, 0.0));
    }

    #[test]
    fn circular_judgements_are_refused_with_all_figures() {
        // 1 ≫ 2 ≫ 3 ≫ 1: a12 = 9, a23 = 9, a13 = 1/9. The matrix is circulant,
        // so w = (1/3, 1/3, 1/3), λmax = 1 + 9 + 1/9 = 10.111, CI = 3.556,
        // CR = 3.556 / 0.58 = 6.130; every off-diagonal 9 deviates equally and
        // the first in row order, (0, 1), is named.
        let err = weights(&matrix(&["1 9 1/9", "1/9 1 9", "9 1/9 1"])).expect_err("refused");
        let AhpError::Inconsistent {
            cr,
            lambda_max,
            ci,
            ri,
            n,
            worst,
            given,
            implied,
        } = err
        else {
            panic!("expected Inconsistent, got {err:?}");
        };
        assert_close(lambda_max, 10.0 + 1.0 / 9.0, 1e-9, "λmax");
        assert_close(ci, (10.0 + 1.0 / 9.0 - 3.0) / 2.0, 1e-9, "CI");
        assert_close(cr, ci / 0.58, 1e-12, "CR");
        assert_eq!((ri, n, worst, given), (0.58, 3, (0, 1), 9.0));
        assert_close(implied, 1.0, 1e-9, "implied");
        assert_eq!(
            err.to_string(),
            "the pairwise matrix is inconsistent: CR = 6.130 (CI = 3.556, λmax = 10.111, \
             RI for n = 3 is 0.58); CR must be below 0.10. The judgement furthest from the \
             derived weights is row 1, column 2: given 9, the other judgements imply about 1; \
             revisit it first"
        );
    }

    #[test]
    fn worst_judgement_points_at_the_odd_one_out() {
        // Consistent with w ∝ (8, 4, 2, 1) except a14 = 1/8 (should be 8), so
        // a41 = 8: the reversed judgement is the one named.
        let err = weights(&matrix(&[
            "1 2 4 1/8",
            "1/2 1 2 4",
            "1/4 1/2 1 2",
            "8 1/4 1/2 1",
        ]))
        .expect_err("refused");
        let AhpError::Inconsistent {
            worst,
            given,
            implied,
            ..
        } = err
        else {
            panic!("expected Inconsistent, got {err:?}");
        };
        assert_eq!((worst, given), ((3, 0), 8.0));
        assert_close(implied, 1.516, THREE_DECIMALS, "implied");
        assert!(err
            .to_string()
            .contains("row 4, column 1: given 8, the other judgements imply about 1.516"));
    }

    #[test]
    fn refuses_empty_and_non_square() {
        assert_eq!(weights(&[]), Err(AhpError::Empty));
        let err = weights(&[vec![1.0, 2.0], vec![0.5]]).expect_err("ragged");
        assert_eq!(
            err,
            AhpError::NotSquare {
                row: 1,
                len: 1,
                n: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "the pairwise matrix is not square: row 2 has 1 entries but there are 2 rows"
        );
        assert!(matches!(
            weights(&[vec![1.0, 2.0, 3.0], vec![0.5, 1.0, 2.0]]),
            Err(AhpError::NotSquare {
                row: 0,
                len: 3,
                n: 2
            })
        ));
    }

    #[test]
    fn refuses_twelve_factors() {
        let err = weights(&consistent(&[1.0; 12])).expect_err("n = 12");
        assert_eq!(err, AhpError::TooLarge { n: 12 });
        assert!(err.to_string().contains("12 factors"));
        assert!(weights(&consistent(&[1.0; 11])).is_ok());
    }

    #[test]
    fn refuses_bad_diagonal() {
        let err = weights(&matrix(&["1 3", "1/3 2"])).expect_err("diagonal");
        assert_eq!(
            err,
            AhpError::BadDiagonal {
                index: 1,
                value: 2.0
            }
        );
        assert_eq!(
            err.to_string(),
            "diagonal cell (row 2, column 2) is 2; a factor compared with itself must be 1"
        );
    }

    #[test]
    fn refuses_zero_negative_and_non_finite_cells() {
        for bad in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            let err = weights(&[vec![1.0, bad], vec![1.0, 1.0]]).expect_err("bad cell");
            assert!(
                matches!(err, AhpError::NotPositive { row: 0, col: 1, .. }),
                "{err:?}"
            );
        }
        let err = weights(&[vec![1.0, 0.0], vec![1.0, 1.0]]).expect_err("zero");
        assert!(err.to_string().starts_with("cell (row 1, column 2) is 0;"));
    }

    #[test]
    fn refuses_out_of_scale_but_accepts_three_decimal_ninths() {
        let err = weights(&matrix(&["1 10", "1/10 1"])).expect_err("10 > 9");
        assert_eq!(
            err,
            AhpError::OutOfScale {
                row: 0,
                col: 1,
                value: 10.0
            }
        );
        assert!(err
            .to_string()
            .contains("cell (row 1, column 2) is 10, outside Saaty's scale"));
        assert!(matches!(
            weights(&matrix(&["1 0.1", "10 1"])),
            Err(AhpError::OutOfScale { row: 0, col: 1, .. })
        ));
        assert!(weights(&matrix(&["1 9", "0.111 1"])).is_ok());
    }

    #[test]
    fn reciprocity_tolerates_three_decimals_only() {
        let ok = weights(&matrix(&["1 3 5", "0.333 1 3", "0.2 0.333 1"])).expect("0.333 ≈ 1/3");
        assert_weights(&ok.weights, &[0.637, 0.258, 0.105], THREE_DECIMALS);
        let err = weights(&matrix(&["1 3 5", "0.3 1 3", "1/5 1/3 1"])).expect_err("0.3 ≠ 1/3");
        assert_eq!(
            err,
            AhpError::NotReciprocal {
                row: 0,
                col: 1,
                value: 3.0,
                mirror: 0.3
            }
        );
        assert_eq!(
            err.to_string(),
            "cells (row 1, column 2) = 3 and (row 2, column 1) = 0.3 are not reciprocal; \
             expected (row 2, column 1) to be 1/3 ≈ 0.333 (within 1%)"
        );
    }

    #[test]
    fn parse_entry_accepts_numbers_and_fractions() {
        assert_eq!(parse_entry("3"), Ok(3.0));
        assert_eq!(parse_entry(" 0.5 "), Ok(0.5));
        assert_eq!(parse_entry("1/3"), Ok(1.0 / 3.0));
        assert_eq!(parse_entry(" 1 / 9 "), Ok(1.0 / 9.0));
        assert_eq!(parse_entry("0.333"), Ok(0.333));
    }

    #[test]
    fn parse_entry_refuses_with_what_was_expected() {
        for (text, says) in [
            ("1/0", "divides by zero"),
            ("abc", "got \"abc\""),
            ("-3", "is negative"),
            ("1/-3", "is negative"),
            ("0", "is zero"),
            ("0/4", "is zero"),
            ("", "got \"\""),
            ("1/2/3", "got \"1/2/3\""),
            ("inf", "got \"inf\""),
            ("NaN", "got \"NaN\""),
            ("1e300/1e-300", "out of range"),
        ] {
            let message = parse_entry(text).expect_err(text);
            assert!(message.contains(says), "{text:?}: {message}");
            assert!(message.contains(EXPECTED), "{text:?}: {message}");
        }
    }

    #[test]
    fn entries_mix_numbers_and_fractions_and_name_bad_cells() {
        let rows = vec![
            vec![Entry::Number(1.0), Entry::Text("3".into())],
            vec![Entry::Text("1/3".into()), Entry::Number(1.0)],
        ];
        let parsed = matrix_from_entries(&rows).expect("parses");
        assert_eq!(parsed, vec![vec![1.0, 3.0], vec![1.0 / 3.0, 1.0]]);
        assert!(weights(&parsed).is_ok());
        let rows = vec![
            vec![Entry::Number(1.0), Entry::Text("three".into())],
            vec![Entry::Number(1.0), Entry::Number(1.0)],
        ];
        let err = matrix_from_entries(&rows).expect_err("bad text");
        assert!(matches!(err, AhpError::BadEntry { row: 0, col: 1, .. }));
        assert!(err
            .to_string()
            .starts_with("cell (row 1, column 2): expected a positive"));
    }

    #[test]
    fn errors_are_std_errors() {
        let err: Box<dyn std::error::Error> = Box::new(AhpError::Empty);
        assert!(err.to_string().contains("empty"));
    }

    /// Saaty-scale judgements 1/9..1/2, 1..9.
    fn saaty_value() -> impl Strategy<Value = f64> {
        (1u8..=9, any::<bool>()).prop_map(|(v, invert)| {
            if invert {
                1.0 / f64::from(v)
            } else {
                f64::from(v)
            }
        })
    }

    /// An exactly reciprocal matrix of size 1..=11 with Saaty-scale judgements.
    fn reciprocal_matrix() -> impl Strategy<Value = Vec<Vec<f64>>> {
        (1usize..=11).prop_flat_map(|n| {
            prop::collection::vec(saaty_value(), n * (n - 1) / 2).prop_map(move |upper| {
                // Upper-triangle cell (i, j), i < j, is upper[i·n − i(i+1)/2 + j − i − 1].
                let upper_cell = |i: usize, j: usize| upper[i * n - i * (i + 1) / 2 + j - i - 1];
                (0..n)
                    .map(|i| {
                        (0..n)
                            .map(|j| match i.cmp(&j) {
                                std::cmp::Ordering::Less => upper_cell(i, j),
                                std::cmp::Ordering::Equal => 1.0,
                                std::cmp::Ordering::Greater => 1.0 / upper_cell(j, i),
                            })
                            .collect()
                    })
                    .collect()
            })
        })
    }

    proptest! {
        #[test]
        fn consistent_matrices_recover_their_weights(raw in prop::collection::vec(1.0f64..9.0, 1..=11)) {
            let total: f64 = raw.iter().sum();
            let ahp = weights(&consistent(&raw)).expect("consistent");
            for (w, r) in ahp.weights.iter().zip(&raw) {
                prop_assert!((w - r / total).abs() < 1e-9);
            }
            prop_assert!((ahp.lambda_max - raw.len() as f64).abs() < 1e-9);
            prop_assert!(ahp.cr.abs() < 1e-9);
        }

        #[test]
        fn any_reciprocal_matrix_gives_a_positive_eigenvector(m in reciprocal_matrix()) {
            let n = m.len() as f64;
            let ahp = evaluate(&m).expect("valid");
            prop_assert!((ahp.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            prop_assert!(ahp.weights.iter().all(|w| *w > 0.0));
            prop_assert!(ahp.lambda_max >= n - 1e-9);
            // Independent check that w is an eigenvector: A·w ≈ λmax·w.
            for (aw, w) in multiply(&m, &ahp.weights).iter().zip(&ahp.weights) {
                prop_assert!((aw - ahp.lambda_max * w).abs() <= 1e-9 * ahp.lambda_max);
            }
            match weights(&m) {
                Ok(accepted) => prop_assert!(accepted.cr < 0.10 && accepted == ahp),
                Err(AhpError::Inconsistent { cr, .. }) => prop_assert!(cr >= 0.10 && cr == ahp.cr),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        #[test]
        fn weights_never_panic(m in prop::collection::vec(
            prop::collection::vec(prop_oneof![any::<f64>(), saaty_value()], 0..5), 0..5)) {
            let _ = weights(&m).map_err(|e| e.to_string());
        }

        #[test]
        fn parse_entry_never_panics(text in ".{0,12}") {
            let _ = parse_entry(&text);
        }
    }
}
