//! Exact examples and property tests against O(n^2) references.

use super::reference::*;
use super::*;
use proptest::prelude::*;

/// An empty column.
const NO_VALUES: [Option<f64>; 0] = [];

// ---------- ntile ----------

#[test]
fn ntile_ties_nulls_nan_ascending_and_descending() {
    let v = vec![
        Some(3.0),
        None,
        Some(1.0),
        Some(2.0),
        Some(2.0),
        Some(NAN),
        Some(5.0),
    ];
    // m = 5, 2 buckets: sizes 3, 2. Tie 2.0 at positions 3 and 4 split.
    assert_eq!(
        ntile(&v, 2, false).unwrap(),
        vec![Some(2), None, Some(1), Some(1), Some(1), None, Some(2)]
    );
    assert_eq!(
        ntile(&v, 2, true).unwrap(),
        vec![Some(1), None, Some(2), Some(1), Some(2), None, Some(1)]
    );
}

#[test]
fn ntile_fewer_values_than_buckets() {
    let v = vec![Some(10.0), Some(20.0), None];
    assert_eq!(ntile(&v, 5, false).unwrap(), vec![Some(1), Some(2), None]);
    assert_eq!(ntile(&v, 5, true).unwrap(), vec![Some(2), Some(1), None]);
}

#[test]
fn ntile_earlier_buckets_are_larger() {
    let v = s(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let got: Vec<u32> = ntile(&v, 4, false).unwrap().into_iter().flatten().collect();
    assert_eq!(got, vec![1, 1, 1, 2, 2, 2, 3, 3, 4, 4]);
}

/// Rows tied across many bucket ends are placed among the ends by binary search: 40,000 equal
/// values in 40,000 buckets, each row alone in its bucket by input position (walking every
/// tied end for every row took 1.6 billion steps here).
#[test]
fn ntile_of_equal_values_splits_them_by_position() {
    let n = 40_000;
    let got = ntile(&vec![Some(0.0); n], n as u32, false).unwrap();
    let expected: Vec<Option<u32>> = (1..=n as u32).map(Some).collect();
    assert_eq!(got, expected);
    let got = ntile(&vec![Some(-0.0); n], 7, true).unwrap();
    assert_eq!(got[0], Some(1));
    assert_eq!(got[n - 1], Some(7));
}

#[test]
fn ntile_edge_inputs() {
    assert!(ntile(&[Some(1.0)], 0, false).is_err());
    assert_eq!(ntile(&NO_VALUES, 5, false).unwrap(), vec![]);
    assert_eq!(
        ntile(&[None, Some(f64::INFINITY), Some(NAN)], 5, true).unwrap(),
        vec![None, None, None]
    );
    assert_eq!(ntile(&[Some(7.0)], 5, true).unwrap(), vec![Some(1)]);
    // All equal: split purely by input position.
    assert_eq!(
        ntile(&s(&[4.0; 5]), 2, true).unwrap(),
        vec![Some(1), Some(1), Some(1), Some(2), Some(2)]
    );
}

// ---------- rank / percent_rank ----------

#[test]
fn rank_and_percent_rank_with_ties_and_nulls() {
    let v = vec![Some(5.0), Some(3.0), None, Some(5.0), Some(1.0), Some(3.0)];
    assert_eq!(
        rank(&v, false).unwrap(),
        vec![Some(4), Some(2), None, Some(4), Some(1), Some(2)]
    );
    assert_eq!(
        rank(&v, true).unwrap(),
        vec![Some(1), Some(3), None, Some(1), Some(5), Some(3)]
    );
    assert_eq!(
        percent_rank(&v, false).unwrap(),
        vec![
            Some(0.75),
            Some(0.25),
            None,
            Some(0.75),
            Some(0.0),
            Some(0.25)
        ]
    );
    assert_eq!(
        percent_rank(&v, true).unwrap(),
        vec![Some(0.0), Some(0.5), None, Some(0.0), Some(1.0), Some(0.5)]
    );
}

#[test]
fn rank_edge_inputs() {
    assert_eq!(rank(&NO_VALUES, false).unwrap(), vec![]);
    assert_eq!(percent_rank(&NO_VALUES, true).unwrap(), vec![]);
    assert_eq!(rank(&[None, Some(NAN)], false).unwrap(), vec![None, None]);
    assert_eq!(percent_rank(&[None], false).unwrap(), vec![None]);
    assert_eq!(
        percent_rank(&[None, Some(2.0)], false).unwrap(),
        vec![None, Some(0.0)]
    );
    assert_eq!(rank(&s(&[2.0; 3]), true).unwrap(), vec![Some(1); 3]);
    assert_eq!(
        percent_rank(&s(&[2.0; 3]), false).unwrap(),
        vec![Some(0.0); 3]
    );
    // -0.0 and 0.0 tie.
    assert_eq!(
        rank(&s(&[0.0, -0.0, -1.0]), false).unwrap(),
        vec![Some(2), Some(2), Some(1)]
    );
}

// ---------- zscore / minmax ----------

#[test]
fn zscore_exact_example() {
    let v = vec![
        Some(2.0),
        Some(4.0),
        None,
        Some(4.0),
        Some(4.0),
        Some(NAN),
        Some(5.0),
        Some(5.0),
        Some(7.0),
        Some(9.0),
    ];
    let (z, st) = zscore(&v);
    assert_eq!(
        z,
        vec![
            Some(-1.5),
            Some(-0.5),
            None,
            Some(-0.5),
            Some(-0.5),
            None,
            Some(0.0),
            Some(0.0),
            Some(1.0),
            Some(2.0)
        ]
    );
    assert_eq!(
        st,
        Stats {
            count: 8,
            mean: Some(5.0),
            std: Some(2.0),
            min: Some(2.0),
            max: Some(9.0)
        }
    );
}

#[test]
fn zscore_constant_single_empty() {
    // 0.1 * 3 / 3 != 0.1 in f64; the constant case must still give 0.
    let (z, st) = zscore(&[Some(0.1), None, Some(0.1), Some(0.1)]);
    assert_eq!(z, vec![Some(0.0), None, Some(0.0), Some(0.0)]);
    assert_eq!((st.mean, st.std), (Some(0.1), Some(0.0)));
    assert_eq!(zscore(&[Some(-3.0)]).0, vec![Some(0.0)]);
    let empty = Stats {
        count: 0,
        mean: None,
        std: None,
        min: None,
        max: None,
    };
    assert_eq!(zscore(&NO_VALUES), (vec![], empty));
    assert_eq!(zscore(&[None, Some(NAN)]), (vec![None, None], empty));
    assert_eq!(minmax(&[None]), (vec![None], empty));
}

#[test]
fn zscore_overflow_gives_null_not_nan() {
    let (z, st) = zscore(&[Some(f64::MAX), Some(f64::MAX), Some(0.0)]);
    assert!(z.iter().flatten().all(|x| !x.is_nan()));
    assert!(st.std.is_none_or(|x| !x.is_nan()));
}

#[test]
fn minmax_examples() {
    let (mm, st) = minmax(&[Some(10.0), None, Some(20.0), Some(15.0), Some(NAN)]);
    assert_eq!(mm, vec![Some(0.0), None, Some(1.0), Some(0.5), None]);
    assert_eq!((st.count, st.min, st.max), (3, Some(10.0), Some(20.0)));
    assert_eq!(minmax(&s(&[3.0, 3.0])).0, vec![Some(0.0), Some(0.0)]);
    assert_eq!(minmax(&[Some(3.0)]).0, vec![Some(0.0)]);
    assert_eq!(minmax(&NO_VALUES).0, vec![]);
    // Range overflow: never NaN.
    let (mm, _) = minmax(&[Some(-f64::MAX), Some(f64::MAX)]);
    assert!(mm.iter().flatten().all(|x| !x.is_nan()));
}

// ---------- cumulative_share ----------

#[test]
fn cumulative_share_ties_nulls() {
    let v = vec![Some(10.0), Some(50.0), None, Some(30.0), Some(10.0)];
    let (sh, total) = cumulative_share(&v).unwrap();
    assert_eq!(total, 100.0);
    assert_eq!(sh, vec![Some(0.9), Some(0.5), None, Some(0.8), Some(1.0)]);
}

#[test]
fn cumulative_share_zero_total_negative_and_empty() {
    assert_eq!(
        cumulative_share(&s(&[0.0, 0.0])).unwrap(),
        (vec![None, None], 0.0)
    );
    assert_eq!(
        cumulative_share(&s(&[5.0, -5.0])).unwrap(),
        (vec![None, None], 0.0)
    );
    // Sorted 10, 3, -5: running 10, 13, 8; total 8.
    assert_eq!(
        cumulative_share(&s(&[10.0, -5.0, 3.0])).unwrap(),
        (vec![Some(1.25), Some(1.0), Some(1.625)], 8.0)
    );
    assert_eq!(cumulative_share(&NO_VALUES).unwrap(), (vec![], 0.0));
    assert_eq!(cumulative_share(&[None]).unwrap(), (vec![None], 0.0));
    assert_eq!(
        cumulative_share(&[Some(4.0)]).unwrap(),
        (vec![Some(1.0)], 4.0)
    );
}

// ---------- property tests against O(n^2) references ----------

/// Textbook NTILE: lay out bucket sizes, then deal sorted rows into them.
fn ntile_ref(v: &[Option<f64>], buckets: u32, descending: bool) -> Vec<Option<u32>> {
    let v = present(v);
    let m = v.iter().flatten().count();
    let b = (buckets as usize).min(m);
    let mut bucket_of_position = Vec::new();
    for k in 0..b {
        let size = m / b + usize::from(k < m % b);
        bucket_of_position.extend(std::iter::repeat_n(k as u32 + 1, size));
    }
    (0..v.len())
        .map(|j| v[j].map(|_| bucket_of_position[position(&v, j, descending)]))
        .collect()
}

fn rank_ref(v: &[Option<f64>], descending: bool) -> Vec<Option<u32>> {
    let v = present(v);
    v.iter()
        .map(|x| {
            let x = (*x)?;
            let above = v
                .iter()
                .flatten()
                .filter(|y| if descending { **y > x } else { **y < x })
                .count();
            Some(above as u32 + 1)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn order_key_preserves_numeric_order(
        a in prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        b in prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        desc: bool,
    ) {
        let expected = if desc { b.partial_cmp(&a) } else { a.partial_cmp(&b) };
        prop_assert_eq!(Some(order_key(a, desc).cmp(&order_key(b, desc))), expected);
    }

    /// Selecting the ends gives each row the level of its place in the sorted order, for any
    /// ends (empty levels, repeated ends, ends at 0 and at the population), ties and nulls.
    #[test]
    fn levels_by_position_places_rows_as_sorting_does(
        v in prop::collection::vec(cell(), 0..120),
        ends in prop::collection::vec(0usize..=120, 0..7),
        desc: bool,
    ) {
        let order = sorted_indices(&v, desc).unwrap();
        let mut ends: Vec<usize> = ends.into_iter().map(|e| e.min(order.len())).collect();
        ends.sort_unstable();
        let mut expected = vec![None; v.len()];
        for (position, &row) in order.iter().enumerate() {
            expected[row as usize] = Some(ends.partition_point(|&e| e <= position) as u32);
        }
        let got = levels_by_position(&v, desc, |n| {
            assert_eq!(n, order.len());
            ends.clone()
        })
        .unwrap();
        prop_assert_eq!(got, expected);
    }

    /// A column held as `f64` with `NaN` for a missing value (the derive pass's inputs) gives
    /// what the same column as `Option<f64>` gives, in every function.
    #[test]
    fn numbers_held_as_f64_give_what_options_give(v in column(), buckets in 1u32..12, desc: bool) {
        let floats: Vec<f64> = v.iter().map(|x| f64::from_number(*x)).collect();
        prop_assert_eq!(ntile(&floats, buckets, desc), ntile(&v, buckets, desc));
        prop_assert_eq!(rank(&floats, desc), rank(&v, desc));
        prop_assert_eq!(percent_rank(&floats, desc), percent_rank(&v, desc));
        prop_assert_eq!(zscore(&floats), zscore(&v));
        prop_assert_eq!(minmax(&floats), minmax(&v));
        prop_assert_eq!(cumulative_share(&floats), cumulative_share(&v));
    }

    #[test]
    fn ntile_matches_reference(v in column(), buckets in 1u32..12, desc: bool) {
        let got = ntile(&v, buckets, desc).unwrap();
        prop_assert_eq!(&got, &ntile_ref(&v, buckets, desc));
        // Bucket sizes differ by at most one and never grow.
        let mut sizes = vec![0usize; buckets as usize];
        for b in got.iter().flatten() {
            sizes[*b as usize - 1] += 1;
        }
        let used: Vec<usize> = sizes.iter().copied().filter(|s| *s > 0).collect();
        prop_assert!(used.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
    }

    #[test]
    fn rank_matches_reference(v in column(), desc: bool) {
        prop_assert_eq!(rank(&v, desc).unwrap(), rank_ref(&v, desc));
    }

    #[test]
    fn percent_rank_matches_reference(v in column(), desc: bool) {
        let ranks = rank_ref(&v, desc);
        let m = ranks.iter().flatten().count();
        let expected: Vec<Option<f64>> = ranks
            .iter()
            .map(|r| r.map(|r| if m == 1 { 0.0 } else { (r - 1) as f64 / (m - 1) as f64 }))
            .collect();
        prop_assert_eq!(percent_rank(&v, desc).unwrap(), expected);
    }

    #[test]
    fn cumulative_share_matches_reference(v in column()) {
        // Integer values: sums are exact in any order, so equality is exact.
        let (got, total) = cumulative_share(&v).unwrap();
        prop_assert_eq!(got, share_ref(&v));
        prop_assert_eq!(total, present(&v).iter().flatten().sum::<f64>());
    }

    #[test]
    fn cumulative_share_fractional_close_to_reference(
        v in prop::collection::vec(prop::option::of(0.0f64..1e6), 0..40)
    ) {
        let (got, _) = cumulative_share(&v).unwrap();
        for (g, e) in got.iter().zip(share_ref(&v)) {
            match (g, e) {
                (Some(g), Some(e)) => prop_assert!((g - e).abs() <= 1e-12 * e.abs().max(1.0)),
                (g, e) => prop_assert_eq!(*g, e),
            }
        }
    }

    #[test]
    fn zscore_and_minmax_are_standardised(
        v in prop::collection::vec(prop::option::of(-1e6f64..1e6), 0..40)
    ) {
        let (z, st) = zscore(&v);
        let zs: Vec<f64> = z.iter().flatten().copied().collect();
        prop_assert_eq!(zs.len(), st.count);
        if st.std.is_some_and(|sd| sd > 0.0) {
            let n = zs.len() as f64;
            let mean = zs.iter().sum::<f64>() / n;
            let var = zs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
            prop_assert!(mean.abs() < 1e-9 && (var - 1.0).abs() < 1e-9);
        } else {
            prop_assert!(zs.iter().all(|x| *x == 0.0));
        }
        let (mm, _) = minmax(&v);
        prop_assert!(mm.iter().flatten().all(|x| (0.0..=1.0).contains(x)));
        for (a, b) in v.iter().zip(&mm) {
            prop_assert_eq!(a.is_some(), b.is_some());
        }
    }
}
