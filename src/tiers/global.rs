//! Rank (`by: rank`) and ABC (`by: cumulative_share`) tiers: a row's tier depends on where its
//! value stands in the whole run. Orderings and shares come from [`crate::stats`], so the same
//! DuckDB contract holds (input position breaks ties; non-finite values are null and get no
//! tier).

use crate::stats;

/// Each row's level in input order; `None` for rows that get none (null values).
pub type RowLevels = Vec<Option<usize>>;

/// What one level got in a whole-run assignment: its count and the highest and lowest value in
/// it, so the manifest shows the thresholds this population actually produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cutoff {
    /// Number of rows assigned to the level.
    pub count: usize,
    /// Value of the level's first row in descending order (its highest
    /// value); `None` when the level is empty.
    pub highest: Option<f64>,
    /// Value of the level's last row in descending order (its lowest value,
    /// where the level ends); `None` when the level is empty.
    pub lowest: Option<f64>,
}

/// Per-level count, highest and lowest value of the rows that got a level.
/// Iterating in input order, `highest` keeps the earliest of equal values
/// and `lowest` the latest, matching first/last in (value desc, pos) order.
fn cutoffs(values: &[Option<f64>], levels: &[Option<usize>], n_levels: usize) -> Vec<Cutoff> {
    let mut out = vec![
        Cutoff {
            count: 0,
            highest: None,
            lowest: None,
        };
        n_levels
    ];
    for (v, level) in values.iter().zip(levels) {
        let (Some(x), Some(level)) = (stats::clean(*v), *level) else {
            continue;
        };
        let Some(c) = out.get_mut(level) else {
            continue;
        };
        c.count += 1;
        if c.highest.is_none_or(|h| x > h) {
            c.highest = Some(x);
        }
        if c.lowest.is_none_or(|l| x <= l) {
            c.lowest = Some(x);
        }
    }
    out
}

/// Tiers by rank position ("top 20% of customers are Gold, next 30%
/// Silver, the rest Bronze"), with the cutoffs actually applied.
///
/// Non-null scores are ordered descending, ties by input position; the row
/// at 0-based position `i` gets the first level `k` with
/// `tops[k] * n > i` (f64 product, `n` = number of non-null scores), else
/// the catch-all level `tops.len()`. Null scores are rejected rows and get
/// no level. Because the product is f64, a fraction that is not exactly
/// representable can land just above an integer (`0.07 * 100` is
/// `7.000000000000001`, so the top level gets 8 of 100 rows); the SQL must
/// therefore multiply in DOUBLE, not DECIMAL. `tops` must be finite,
/// strictly increasing and within `(0, 1]` (may be empty: one level).
///
/// ```sql
/// WITH r AS (SELECT pos, v,
///   ROW_NUMBER() OVER (PARTITION BY v IS NULL ORDER BY v DESC, pos) - 1 AS i,
///   COUNT(v) OVER () AS n FROM t)
/// SELECT pos, CASE WHEN v IS NULL THEN NULL
///   WHEN 0.2::DOUBLE * n > i THEN 0
///   WHEN 0.5::DOUBLE * n > i THEN 1 ELSE 2 END AS level
/// FROM r ORDER BY pos;
/// ```
pub fn tiers_by_rank(
    scores: &[Option<f64>],
    tops: &[f64],
) -> Result<(RowLevels, Vec<Cutoff>), String> {
    if let Some(t) = tops.iter().find(|t| !(**t > 0.0 && **t <= 1.0)) {
        return Err(format!("tiers_by_rank: top fraction {t} is not in (0, 1]"));
    }
    check_increasing("tiers_by_rank", tops)?;
    let order = stats::sorted_indices(scores, true)?;
    let n = order.len() as f64;
    let mut out = vec![None; scores.len()];
    for (i, &row) in order.iter().enumerate() {
        let position = i as f64;
        out[row as usize] = Some(tops.partition_point(|t| t * n <= position));
    }
    let cut = cutoffs(scores, &out, tops.len() + 1);
    Ok((out, cut))
}

/// Tiers by cumulative value share (ABC analysis: "customers making up the
/// first 80% of revenue are A, up to 95% B, the rest C"), with the total
/// and the cutoffs actually applied.
///
/// With the shares from [`stats::cumulative_share`], a row gets the first level `k`
/// with `uptos[k] >= share`, else the catch-all `uptos.len()`. Rows whose
/// share is `None` (null value, or a zero total) get no level. With negative
/// values shares are not monotonic, so a level need not be contiguous in
/// value order; its cutoff still reports its highest and lowest value.
/// `uptos` must be finite and strictly increasing (may be empty).
///
/// ```sql
/// WITH s AS (SELECT pos, v, <share expression of cumulative_share> AS share
///            FROM t)
/// SELECT pos, CASE WHEN share IS NULL THEN NULL
///   WHEN share <= 0.8::DOUBLE THEN 0
///   WHEN share <= 0.95::DOUBLE THEN 1 ELSE 2 END AS level
/// FROM s ORDER BY pos;
/// ```
pub fn tiers_by_cumulative_share(
    values: &[Option<f64>],
    uptos: &[f64],
) -> Result<(RowLevels, f64, Vec<Cutoff>), String> {
    if let Some(u) = uptos.iter().find(|u| !u.is_finite()) {
        return Err(format!(
            "tiers_by_cumulative_share: bound {u} is not finite"
        ));
    }
    check_increasing("tiers_by_cumulative_share", uptos)?;
    let (shares, total) = stats::cumulative_share(values)?;
    let out: Vec<Option<usize>> = shares
        .iter()
        .map(|s| s.map(|s| uptos.partition_point(|u| *u < s)))
        .collect();
    let cut = cutoffs(values, &out, uptos.len() + 1);
    Ok((out, total, cut))
}

/// Errors unless `bounds` is strictly increasing.
fn check_increasing(name: &str, bounds: &[f64]) -> Result<(), String> {
    match bounds.windows(2).find(|w| w[0] >= w[1]) {
        Some(w) => Err(format!(
            "{name}: bounds must be strictly increasing, got {} then {}",
            w[0], w[1]
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::reference::*;
    use proptest::prelude::*;

    fn level(count: usize, highest: f64, lowest: f64) -> Cutoff {
        Cutoff {
            count,
            highest: Some(highest),
            lowest: Some(lowest),
        }
    }

    const EMPTY_LEVEL: Cutoff = Cutoff {
        count: 0,
        highest: None,
        lowest: None,
    };

    #[test]
    fn tiers_by_rank_exact_boundaries() {
        // Scores 1..=10 in shuffled input order plus a rejected row.
        let v = vec![
            Some(3.0),
            Some(10.0),
            None,
            Some(7.0),
            Some(1.0),
            Some(9.0),
            Some(5.0),
            Some(8.0),
            Some(2.0),
            Some(6.0),
            Some(4.0),
        ];
        let (lv, cut) = tiers_by_rank(&v, &[0.2, 0.5]).unwrap();
        // Positions 0-1 (10, 9) -> 0, 2-4 (8, 7, 6) -> 1, 5-9 -> 2.
        assert_eq!(
            lv,
            vec![
                Some(2),
                Some(0),
                None,
                Some(1),
                Some(2),
                Some(0),
                Some(2),
                Some(1),
                Some(2),
                Some(1),
                Some(2)
            ]
        );
        assert_eq!(
            cut,
            vec![level(2, 10.0, 9.0), level(3, 8.0, 6.0), level(5, 5.0, 1.0)]
        );
    }

    #[test]
    fn tiers_by_rank_ties_follow_input_order() {
        let (lv, cut) = tiers_by_rank(&s(&[1.0, 1.0, 1.0, 1.0]), &[0.5, 1.0]).unwrap();
        assert_eq!(lv, vec![Some(0), Some(0), Some(1), Some(1)]);
        assert_eq!(
            cut,
            vec![level(2, 1.0, 1.0), level(2, 1.0, 1.0), EMPTY_LEVEL]
        );
    }

    #[test]
    fn tiers_by_rank_uses_f64_product() {
        // 0.07 * 100 == 7.000000000000001 > 7, so position 7 is still level 0.
        let v: Vec<Option<f64>> = (0..100).map(|i| Some(f64::from(i))).collect();
        let (_, cut) = tiers_by_rank(&v, &[0.07]).unwrap();
        assert_eq!(cut[0].count, 8);
        let (_, cut) = tiers_by_rank(&v, &[0.25]).unwrap();
        assert_eq!(cut[0].count, 25);
    }

    #[test]
    fn tiers_by_rank_edge_inputs() {
        assert_eq!(
            tiers_by_rank(&[], &[0.5]).unwrap(),
            (vec![], vec![EMPTY_LEVEL, EMPTY_LEVEL])
        );
        let (lv, cut) = tiers_by_rank(&[None, Some(NAN)], &[0.5]).unwrap();
        assert_eq!(lv, vec![None, None]);
        assert_eq!(cut, vec![EMPTY_LEVEL, EMPTY_LEVEL]);
        // Single row: 0.2 * 1 > 0.
        assert_eq!(
            tiers_by_rank(&[Some(1.0)], &[0.2]).unwrap().0,
            vec![Some(0)]
        );
        // No thresholds: everyone in the catch-all level 0.
        assert_eq!(
            tiers_by_rank(&s(&[1.0, 2.0]), &[]).unwrap().0,
            vec![Some(0), Some(0)]
        );
        for bad in [
            &[0.5, 0.2][..],
            &[0.2, 0.2],
            &[0.0],
            &[-0.1],
            &[1.5],
            &[NAN],
            &[f64::INFINITY],
        ] {
            assert!(tiers_by_rank(&s(&[1.0]), bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tiers_by_cumulative_share_exact_boundary() {
        // Shares: 50 -> 0.5, 30 -> 0.8 (exactly), 10 -> 0.9, 10 -> 1.0.
        let v = vec![Some(10.0), Some(50.0), None, Some(30.0), Some(10.0)];
        let (lv, total, cut) = tiers_by_cumulative_share(&v, &[0.8, 0.95]).unwrap();
        assert_eq!(lv, vec![Some(1), Some(0), None, Some(0), Some(2)]);
        assert_eq!(total, 100.0);
        assert_eq!(
            cut,
            vec![
                level(2, 50.0, 30.0),
                level(1, 10.0, 10.0),
                level(1, 10.0, 10.0)
            ]
        );
    }

    #[test]
    fn tiers_by_cumulative_share_edge_inputs() {
        let (lv, total, cut) = tiers_by_cumulative_share(&s(&[0.0, 0.0]), &[0.8]).unwrap();
        assert_eq!((lv, total), (vec![None, None], 0.0));
        assert_eq!(cut, vec![EMPTY_LEVEL, EMPTY_LEVEL]);
        assert_eq!(
            tiers_by_cumulative_share(&[], &[0.8]).unwrap().0,
            Vec::<Option<usize>>::new()
        );
        // Negative values: shares 1.25, 1.0, 1.625 -> level 0 holds only -5.
        let (lv, _, cut) = tiers_by_cumulative_share(&s(&[10.0, -5.0, 3.0]), &[1.0]).unwrap();
        assert_eq!(lv, vec![Some(1), Some(0), Some(1)]);
        assert_eq!(cut, vec![level(1, -5.0, -5.0), level(2, 10.0, 3.0)]);
        for bad in [&[0.9, 0.8][..], &[0.8, 0.8], &[NAN], &[f64::NEG_INFINITY]] {
            assert!(
                tiers_by_cumulative_share(&s(&[1.0]), bad).is_err(),
                "{bad:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn tiers_by_rank_matches_reference(
            v in column(),
            raw in prop::collection::btree_set(1u32..=20, 0..4),
        ) {
            let tops: Vec<f64> = raw.iter().map(|t| f64::from(*t) / 20.0).collect();
            let (got, cut) = tiers_by_rank(&v, &tops).unwrap();
            let p = present(&v);
            let n = p.iter().flatten().count() as f64;
            for j in 0..v.len() {
                let expected = p[j].map(|_| {
                    let i = position(&p, j, true) as f64;
                    (0..tops.len()).find(|&k| tops[k] * n > i).unwrap_or(tops.len())
                });
                prop_assert_eq!(got[j], expected);
            }
            prop_assert_eq!(cut.iter().map(|c| c.count).sum::<usize>(), n as usize);
        }

        #[test]
        fn tiers_by_share_matches_reference(
            v in column(),
            raw in prop::collection::btree_set(-10i32..=30, 0..4),
        ) {
            let uptos: Vec<f64> = raw.iter().map(|u| f64::from(*u) / 10.0).collect();
            let (got, _, cut) = tiers_by_cumulative_share(&v, &uptos).unwrap();
            for (g, share) in got.iter().zip(share_ref(&v)) {
                let expected = share
                    .map(|s| (0..uptos.len()).find(|&k| uptos[k] >= s).unwrap_or(uptos.len()));
                prop_assert_eq!(*g, expected);
            }
            for (k, c) in cut.iter().enumerate() {
                let members: Vec<f64> = v
                    .iter()
                    .zip(&got)
                    .filter(|(_, l)| **l == Some(k))
                    .map(|(x, _)| x.unwrap())
                    .collect();
                prop_assert_eq!(c.count, members.len());
                prop_assert_eq!(c.highest, members.iter().copied().reduce(f64::max));
                prop_assert_eq!(c.lowest, members.iter().copied().reduce(f64::min));
            }
        }
    }
}
