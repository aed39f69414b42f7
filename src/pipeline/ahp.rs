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

use crate::human::number as show;

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
        "the pairwise matrix is inconsistent: CR = {} (CI = {}, λmax = {}, RI for n = {n} is \
         {}); CR must be below 0.10. The judgement furthest from the derived weights is row {}, \
         column {}: given {}, the other judgements imply about {}; revisit it first",
        show(*.cr),
        show(*.ci),
        show(*.lambda_max),
        show(*.ri),
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
mod tests;
