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
        "the pairwise matrix is inconsistent: CR = 6.13 (CI = 3.556, λmax = 10.111, \
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
