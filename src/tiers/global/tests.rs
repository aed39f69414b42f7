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
    let (lv, total, cut) = tiers_by_cumulative_share(v, &[0.8, 0.95]).unwrap();
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
    let (lv, total, cut) = tiers_by_cumulative_share(s(&[0.0, 0.0]), &[0.8]).unwrap();
    assert_eq!((lv, total), (vec![None, None], 0.0));
    assert_eq!(cut, vec![EMPTY_LEVEL, EMPTY_LEVEL]);
    assert_eq!(
        tiers_by_cumulative_share(Vec::new(), &[0.8]).unwrap().0,
        Vec::<Option<u32>>::new()
    );
    // Negative values: shares 1.25, 1.0, 1.625 -> level 0 holds only -5.
    let (lv, _, cut) = tiers_by_cumulative_share(s(&[10.0, -5.0, 3.0]), &[1.0]).unwrap();
    assert_eq!(lv, vec![Some(1), Some(0), Some(1)]);
    assert_eq!(cut, vec![level(1, -5.0, -5.0), level(2, 10.0, 3.0)]);
    for bad in [&[0.9, 0.8][..], &[0.8, 0.8], &[NAN], &[f64::NEG_INFINITY]] {
        assert!(
            tiers_by_cumulative_share(s(&[1.0]), bad).is_err(),
            "{bad:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tiers_by_rank_matches_reference(
        v in column(),
        raw in prop::collection::btree_set(1u32..=100, 0..5),
    ) {
        // Hundredths: products such as 0.07 * 100 land just above a whole number.
        let tops: Vec<f64> = raw.iter().map(|t| f64::from(*t) / 100.0).collect();
        let (got, cut) = tiers_by_rank(&v, &tops).unwrap();
        let p = present(&v);
        let n = p.iter().flatten().count() as f64;
        for j in 0..v.len() {
            let expected = p[j].map(|_| {
                let i = position(&p, j, true) as f64;
                (0..tops.len()).find(|&k| tops[k] * n > i).unwrap_or(tops.len())
            });
            prop_assert_eq!(got[j].map(|l| l as usize), expected);
        }
        prop_assert_eq!(cut.iter().map(|c| c.count).sum::<usize>(), n as usize);
    }

    #[test]
    fn tiers_by_share_matches_reference(
        v in column(),
        raw in prop::collection::btree_set(-10i32..=30, 0..4),
    ) {
        let uptos: Vec<f64> = raw.iter().map(|u| f64::from(*u) / 10.0).collect();
        let (got, _, cut) = tiers_by_cumulative_share(v.clone(), &uptos).unwrap();
        // Taken in sorted order, the cutoffs are those of the rows in input order, to the bit
        // (the sign of a zero included).
        let bits = |cut: &[Cutoff]| -> Vec<(usize, Option<u64>, Option<u64>)> {
            cut.iter()
                .map(|c| (c.count, c.highest.map(f64::to_bits), c.lowest.map(f64::to_bits)))
                .collect()
        };
        prop_assert_eq!(bits(&cut), bits(&cutoffs(&v, &got, uptos.len() + 1)));
        for (g, share) in got.iter().zip(share_ref(&v)) {
            let expected = share
                .map(|s| (0..uptos.len()).find(|&k| uptos[k] >= s).unwrap_or(uptos.len()));
            prop_assert_eq!(g.map(|l| l as usize), expected);
        }
        for (k, c) in cut.iter().enumerate() {
            let members: Vec<f64> = v
                .iter()
                .zip(&got)
                .filter(|(_, l)| l.map(|l| l as usize) == Some(k))
                .map(|(x, _)| x.unwrap())
                .collect();
            prop_assert_eq!(c.count, members.len());
            prop_assert_eq!(c.highest, members.iter().copied().reduce(f64::max));
            prop_assert_eq!(c.lowest, members.iter().copied().reduce(f64::min));
        }
    }
}
