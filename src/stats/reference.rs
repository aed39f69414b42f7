//! Slow, obviously-correct references for the property tests of `stats` and `tiers::global`.

use proptest::prelude::*;

pub(crate) const NAN: f64 = f64::NAN;

/// Every value present.
pub(crate) fn s(xs: &[f64]) -> Vec<Option<f64>> {
    xs.iter().map(|x| Some(*x)).collect()
}

/// Small integers (many ties), signed zeros and every kind of null.
pub(crate) fn cell() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        6 => (-4i32..5).prop_map(|x| Some(f64::from(x))),
        1 => Just(Some(-0.0)),
        1 => Just(None),
        1 => prop_oneof![Just(NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)].prop_map(Some),
    ]
}

/// A short column of [`cell`]s.
pub(crate) fn column() -> impl Strategy<Value = Vec<Option<f64>>> {
    prop::collection::vec(cell(), 0..40)
}

/// The column with every non-finite value made null.
pub(crate) fn present(v: &[Option<f64>]) -> Vec<Option<f64>> {
    v.iter().map(|x| x.filter(|x| x.is_finite())).collect()
}

/// Whether row `k` comes before row `j` in (value, position) order.
pub(crate) fn before(v: &[Option<f64>], k: usize, j: usize, descending: bool) -> bool {
    let (a, b) = (v[k].unwrap(), v[j].unwrap());
    let earlier = if descending { a > b } else { a < b };
    earlier || (a == b && k < j)
}

/// 0-based position of row `j` among the non-null rows.
pub(crate) fn position(v: &[Option<f64>], j: usize, descending: bool) -> usize {
    (0..v.len())
        .filter(|&k| v[k].is_some() && before(v, k, j, descending))
        .count()
}

/// Cumulative share by summing, for each row, every row at or before it.
pub(crate) fn share_ref(v: &[Option<f64>]) -> Vec<Option<f64>> {
    let v = present(v);
    let total: f64 = v.iter().flatten().sum();
    (0..v.len())
        .map(|j| {
            v[j]?;
            let cum: f64 = (0..v.len())
                .filter(|&k| v[k].is_some() && (k == j || before(&v, k, j, true)))
                .map(|k| v[k].unwrap())
                .sum();
            (total != 0.0).then(|| cum / total)
        })
        .collect()
}
