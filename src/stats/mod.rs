//! Population-relative derivations: each customer's value compared with the
//! whole population (NTILE / RFM quintiles, ranks, percent ranks, z-scores,
//! min-max scaling, cumulative value share) and tier assignment on scores.
//!
//! Every function is an exact contract that an analyst can reproduce in
//! DuckDB. Conventions shared by all functions:
//!
//! * **Input position** is the slice index. It is the final tie-breaker of
//!   every ordering, so results are deterministic.
//! * **Missing values**: `None`, `NaN`, `+inf` and `-inf` are all treated as
//!   null. They are excluded from the population (they do not count in `m`,
//!   sums, means, ...) and their output is `None`.
//! * `-0.0` and `0.0` compare equal (IEEE / SQL equality), so they tie.
//! * Output vectors have the same length as the input and are indexed by
//!   input position.
//! * No output is ever `NaN`: if plain IEEE arithmetic would produce `NaN`
//!   (only possible when intermediate results overflow, e.g. |x| > ~1e154
//!   for [`zscore`] or sums above ~1.8e308), that output is `None`.
//! * Order-based functions sort (key, `u32` index) pairs: O(n log n) time,
//!   about 16 bytes per row of temporary memory, and inputs longer than
//!   `u32::MAX` rows are rejected with an error.
//!
//! The SQL in the function docs assumes a table `t(pos, v)` holding the
//! 0-based input position and the cleaned value (non-finite turned to NULL):
//!
//! ```sql
//! CREATE VIEW t AS
//! SELECT pos, CASE WHEN isfinite(raw_v) THEN raw_v END AS v FROM raw;
//! ```
//!
//! Nulls are excluded with `PARTITION BY v IS NULL` rather than sorted first
//! or last, so results do not depend on the engine's NULLS FIRST/LAST default
//! (DuckDB >= 0.8 sorts NULLs last in both directions; PostgreSQL and older
//! DuckDB put them first under `DESC`).

/// Summary of the non-null population, recorded in the run's manifest so a
/// scaled column can be traced back to the parameters that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Number of non-null (finite) values.
    pub count: usize,
    /// Arithmetic mean; `None` when `count == 0` (or overflow made it NaN).
    pub mean: Option<f64>,
    /// Population standard deviation (ddof = 0); `None` when `count == 0`
    /// (or overflow made it NaN).
    pub std: Option<f64>,
    /// Smallest value; `None` when `count == 0`.
    pub min: Option<f64>,
    /// Largest value; `None` when `count == 0`.
    pub max: Option<f64>,
}

/// Per-level summary of a tier assignment, recorded in the manifest so the
/// thresholds actually applied to this population are visible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelCutoff {
    /// Number of rows assigned to the level.
    pub count: usize,
    /// Value of the level's first row in descending order (its highest
    /// value); `None` when the level is empty.
    pub highest: Option<f64>,
    /// Value of the level's last row in descending order (its lowest value,
    /// where the level ends); `None` when the level is empty.
    pub lowest: Option<f64>,
}

/// Cutoffs of every level of a tier assignment: `levels[k]` describes level
/// `k`, and the last entry is the catch-all level.
#[derive(Debug, Clone, PartialEq)]
pub struct Cutoffs {
    /// One entry per level, catch-all last.
    pub levels: Vec<LevelCutoff>,
}

/// Returns the value if it takes part in the population (finite), else `None`.
fn clean(value: Option<f64>) -> Option<f64> {
    value.filter(|x| x.is_finite())
}

/// Turns a `NaN` result into `None` so no `NaN` leaves this module.
fn not_nan(x: f64) -> Option<f64> {
    if x.is_nan() {
        None
    } else {
        Some(x)
    }
}

/// Unsigned key whose order is the numeric order of finite `x` (reversed
/// when `descending`), with `-0.0` and `0.0` mapped to the same key.
fn order_key(x: f64, descending: bool) -> u64 {
    let bits = (x + 0.0).to_bits();
    let key = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    if descending {
        !key
    } else {
        key
    }
}

/// Indices of the non-null values ordered by (value, input position), value
/// ascending or descending, position always ascending. Sorting compact
/// (key, index) pairs keeps the sort cache-friendly; the pairs are unique,
/// so the unstable sort is deterministic.
fn sorted_indices(values: &[Option<f64>], descending: bool) -> Result<Vec<u32>, String> {
    if u32::try_from(values.len()).is_err() {
        return Err(format!(
            "population functions accept at most {} rows, got {}",
            u32::MAX,
            values.len()
        ));
    }
    let mut pairs: Vec<(u64, u32)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| clean(*v).map(|x| (order_key(x, descending), i as u32)))
        .collect();
    pairs.sort_unstable();
    Ok(pairs.into_iter().map(|(_, i)| i).collect())
}

/// SQL `NTILE(buckets)` over the non-null values: splits the population into
/// `buckets` groups as equal as possible (RFM quintiles, deciles).
///
/// With `m` non-null values and `b = min(buckets, m)`, the first `m % b`
/// buckets get `m / b + 1` rows and the rest `m / b`; buckets are numbered
/// from 1. Ascending: the smallest value is in bucket 1. Ties are split by
/// input position. Nulls are excluded entirely (not sorted first or last).
/// Errors when `buckets == 0` or the input has more than `u32::MAX` rows.
///
/// ```sql
/// SELECT pos, CASE WHEN v IS NOT NULL THEN
///   NTILE(5) OVER (PARTITION BY v IS NULL ORDER BY v ASC, pos) END AS bucket
/// FROM t ORDER BY pos;           -- descending: ORDER BY v DESC, pos
/// ```
pub fn ntile(
    values: &[Option<f64>],
    buckets: u32,
    descending: bool,
) -> Result<Vec<Option<u32>>, String> {
    if buckets == 0 {
        return Err("ntile: buckets must be at least 1".to_string());
    }
    let order = sorted_indices(values, descending)?;
    let mut out = vec![None; values.len()];
    let m = order.len() as u64;
    if m == 0 {
        return Ok(out);
    }
    let b = u64::from(buckets).min(m);
    let size = m / b;
    let large = m % b;
    let in_large = large * (size + 1);
    for (p, &i) in order.iter().enumerate() {
        let p = p as u64;
        let tile = if p < in_large {
            1 + p / (size + 1)
        } else {
            1 + large + (p - in_large) / size
        };
        out[i as usize] = Some(tile as u32);
    }
    Ok(out)
}

/// SQL `RANK()` over the non-null values: position in the population with
/// ties sharing the lowest rank and gaps after ties (1, 2, 2, 4).
///
/// Ascending: the smallest value has rank 1; descending: the largest.
/// Errors when the input has more than `u32::MAX` rows.
///
/// ```sql
/// SELECT pos, CASE WHEN v IS NOT NULL THEN
///   RANK() OVER (PARTITION BY v IS NULL ORDER BY v ASC) END AS rank
/// FROM t ORDER BY pos;           -- descending: ORDER BY v DESC
/// ```
pub fn rank(values: &[Option<f64>], descending: bool) -> Result<Vec<Option<u32>>, String> {
    ranks(values, descending).map(|(out, _)| out)
}

/// Ranks plus the number of ranked (non-null) values.
fn ranks(values: &[Option<f64>], descending: bool) -> Result<(Vec<Option<u32>>, u32), String> {
    let order = sorted_indices(values, descending)?;
    let mut out = vec![None; values.len()];
    let mut current = 0u32;
    let mut previous: Option<f64> = None;
    for (p, &i) in order.iter().enumerate() {
        let v = clean(values[i as usize]);
        if p == 0 || v != previous {
            current = p as u32 + 1;
            previous = v;
        }
        out[i as usize] = Some(current);
    }
    Ok((out, order.len() as u32))
}

/// SQL `PERCENT_RANK()` over the non-null values: the rank scaled to
/// `[0, 1]` for percentile tiers.
///
/// `(rank - 1) / (m - 1)` with `rank` as in [`rank`] and `m` the number of
/// non-null values; `0.0` when `m == 1`. Errors when the input has more
/// than `u32::MAX` rows.
///
/// ```sql
/// SELECT pos, CASE WHEN v IS NOT NULL THEN
///   PERCENT_RANK() OVER (PARTITION BY v IS NULL ORDER BY v ASC) END AS pr
/// FROM t ORDER BY pos;           -- descending: ORDER BY v DESC
/// ```
pub fn percent_rank(values: &[Option<f64>], descending: bool) -> Result<Vec<Option<f64>>, String> {
    let (ranked, m) = ranks(values, descending)?;
    Ok(ranked
        .into_iter()
        .map(|r| {
            r.map(|r| {
                if m <= 1 {
                    0.0
                } else {
                    f64::from(r - 1) / f64::from(m - 1)
                }
            })
        })
        .collect())
}

/// Population statistics with a corrected two-pass variance, summing in
/// input order. When all values are equal the mean is that value and the
/// std is exactly 0, whatever rounding the division would introduce.
fn stats(values: &[Option<f64>]) -> Stats {
    let mut count = 0usize;
    let mut sum = 0.0;
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    for x in values.iter().filter_map(|v| clean(*v)) {
        count += 1;
        sum += x;
        min = min.min(x);
        max = max.max(x);
    }
    if count == 0 {
        return Stats {
            count,
            mean: None,
            std: None,
            min: None,
            max: None,
        };
    }
    let n = count as f64;
    let (mean, std) = if min == max {
        (min, 0.0)
    } else {
        let mean = sum / n;
        let (mut dev, mut dev_sq) = (0.0, 0.0);
        for x in values.iter().filter_map(|v| clean(*v)) {
            let d = x - mean;
            dev += d;
            dev_sq += d * d;
        }
        let var = ((dev_sq - dev * dev / n) / n).max(0.0);
        (mean, var.sqrt())
    };
    Stats {
        count,
        mean: not_nan(mean),
        std: not_nan(std),
        min: Some(min),
        max: Some(max),
    }
}

/// Standard score `(x - mean) / std` with the population std (ddof = 0), as
/// sklearn's `StandardScaler`, so factors on different scales can be summed.
///
/// When the std is 0 (all values equal, detected exactly via min == max)
/// every non-null value scores `0.0`, as `StandardScaler` does. The mean
/// and a corrected two-pass variance are summed in input order, so results
/// are deterministic; DuckDB may sum in another order and agree only up to
/// rounding (~1e-15 relative).
///
/// ```sql
/// SELECT pos, CASE WHEN v IS NULL THEN NULL
///   WHEN MIN(v) OVER () = MAX(v) OVER () THEN 0.0
///   ELSE (v - AVG(v) OVER ()) / STDDEV_POP(v) OVER () END AS z
/// FROM t ORDER BY pos;
/// ```
pub fn zscore(values: &[Option<f64>]) -> (Vec<Option<f64>>, Stats) {
    let s = stats(values);
    let out = values
        .iter()
        .map(|v| {
            let x = clean(*v)?;
            let (mean, std) = (s.mean?, s.std?);
            if std == 0.0 {
                Some(0.0)
            } else {
                not_nan((x - mean) / std)
            }
        })
        .collect();
    (out, s)
}

/// Min-max scaling `(x - min) / (max - min)` onto `[0, 1]`, so factors can
/// be compared on a common scale.
///
/// When `max == min` every non-null value gives `0.0`.
///
/// ```sql
/// SELECT pos, CASE WHEN v IS NULL THEN NULL
///   WHEN MIN(v) OVER () = MAX(v) OVER () THEN 0.0
///   ELSE (v - MIN(v) OVER ()) / (MAX(v) OVER () - MIN(v) OVER ()) END AS mm
/// FROM t ORDER BY pos;
/// ```
pub fn minmax(values: &[Option<f64>]) -> (Vec<Option<f64>>, Stats) {
    let s = stats(values);
    let out = values
        .iter()
        .map(|v| {
            let x = clean(*v)?;
            let (min, max) = (s.min?, s.max?);
            if max == min {
                Some(0.0)
            } else {
                not_nan((x - min) / (max - min))
            }
        })
        .collect();
    (out, s)
}

/// Share of the population total held by each row and every row ranked
/// above it (ABC / Pareto analysis), plus that total.
///
/// Rows are ordered by value descending, ties by input position ascending;
/// a row's share is the running sum (this row and all before it, added in
/// that order in f64) divided by the total. The total is the final running
/// sum, so the last row's share is exactly `1.0`; it is `0.0` for an empty
/// or all-null input. When the total is `0.0`, every share is `None`
/// (0/0 is undefined, as in SQL's `NULLIF`). Negative values are allowed and
/// follow the formula: shares may then exceed 1 or be negative and are not
/// monotonic. Errors when the input has more than `u32::MAX` rows.
///
/// ```sql
/// SELECT pos, CASE WHEN v IS NOT NULL THEN
///   SUM(v) OVER (PARTITION BY v IS NULL ORDER BY v DESC, pos
///                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
///   / NULLIF(SUM(v) OVER (), 0) END AS share
/// FROM t ORDER BY pos;
/// ```
///
/// DuckDB may add in a different order, so fractional values agree up to
/// rounding; integer-valued amounts (e.g. cents) below 2^53 agree exactly.
pub fn cumulative_share(values: &[Option<f64>]) -> Result<(Vec<Option<f64>>, f64), String> {
    let order = sorted_indices(values, true)?;
    let mut out = vec![None; values.len()];
    let mut running = 0.0;
    for &i in &order {
        // `order` only holds rows with a finite value.
        running += clean(values[i as usize]).unwrap_or(0.0);
        out[i as usize] = Some(running);
    }
    let total = running;
    for share in &mut out {
        *share = share.and_then(|cum| {
            if total == 0.0 {
                None
            } else {
                not_nan(cum / total)
            }
        });
    }
    Ok((out, total))
}

/// Per-level count, highest and lowest value of the rows that got a level.
/// Iterating in input order, `highest` keeps the earliest of equal values
/// and `lowest` the latest, matching first/last in (value desc, pos) order.
fn cutoffs(values: &[Option<f64>], levels: &[Option<usize>], n_levels: usize) -> Cutoffs {
    let mut out = vec![
        LevelCutoff {
            count: 0,
            highest: None,
            lowest: None,
        };
        n_levels
    ];
    for (v, level) in values.iter().zip(levels) {
        let (Some(x), Some(level)) = (clean(*v), *level) else {
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
    Cutoffs { levels: out }
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
) -> Result<(Vec<Option<usize>>, Cutoffs), String> {
    if let Some(t) = tops.iter().find(|t| !(**t > 0.0 && **t <= 1.0)) {
        return Err(format!("tiers_by_rank: top fraction {t} is not in (0, 1]"));
    }
    check_increasing("tiers_by_rank", tops)?;
    let order = sorted_indices(scores, true)?;
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
/// With the shares from [`cumulative_share`], a row gets the first level `k`
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
) -> Result<(Vec<Option<usize>>, f64, Cutoffs), String> {
    if let Some(u) = uptos.iter().find(|u| !u.is_finite()) {
        return Err(format!(
            "tiers_by_cumulative_share: bound {u} is not finite"
        ));
    }
    check_increasing("tiers_by_cumulative_share", uptos)?;
    let (shares, total) = cumulative_share(values)?;
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
    use proptest::prelude::*;

    const NAN: f64 = f64::NAN;

    fn s(xs: &[f64]) -> Vec<Option<f64>> {
        xs.iter().map(|x| Some(*x)).collect()
    }

    fn level(count: usize, highest: f64, lowest: f64) -> LevelCutoff {
        LevelCutoff {
            count,
            highest: Some(highest),
            lowest: Some(lowest),
        }
    }

    const EMPTY_LEVEL: LevelCutoff = LevelCutoff {
        count: 0,
        highest: None,
        lowest: None,
    };

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

    #[test]
    fn ntile_edge_inputs() {
        assert!(ntile(&[Some(1.0)], 0, false).is_err());
        assert_eq!(ntile(&[], 5, false).unwrap(), vec![]);
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
        assert_eq!(rank(&[], false).unwrap(), vec![]);
        assert_eq!(percent_rank(&[], true).unwrap(), vec![]);
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
        assert_eq!(zscore(&[]), (vec![], empty));
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
        assert_eq!(minmax(&[]).0, vec![]);
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
        assert_eq!(cumulative_share(&[]).unwrap(), (vec![], 0.0));
        assert_eq!(cumulative_share(&[None]).unwrap(), (vec![None], 0.0));
        assert_eq!(
            cumulative_share(&[Some(4.0)]).unwrap(),
            (vec![Some(1.0)], 4.0)
        );
    }

    // ---------- tiers ----------

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
            cut.levels,
            vec![level(2, 10.0, 9.0), level(3, 8.0, 6.0), level(5, 5.0, 1.0)]
        );
    }

    #[test]
    fn tiers_by_rank_ties_follow_input_order() {
        let (lv, cut) = tiers_by_rank(&s(&[1.0, 1.0, 1.0, 1.0]), &[0.5, 1.0]).unwrap();
        assert_eq!(lv, vec![Some(0), Some(0), Some(1), Some(1)]);
        assert_eq!(
            cut.levels,
            vec![level(2, 1.0, 1.0), level(2, 1.0, 1.0), EMPTY_LEVEL]
        );
    }

    #[test]
    fn tiers_by_rank_uses_f64_product() {
        // 0.07 * 100 == 7.000000000000001 > 7, so position 7 is still level 0.
        let v: Vec<Option<f64>> = (0..100).map(|i| Some(f64::from(i))).collect();
        let (_, cut) = tiers_by_rank(&v, &[0.07]).unwrap();
        assert_eq!(cut.levels[0].count, 8);
        let (_, cut) = tiers_by_rank(&v, &[0.25]).unwrap();
        assert_eq!(cut.levels[0].count, 25);
    }

    #[test]
    fn tiers_by_rank_edge_inputs() {
        assert_eq!(
            tiers_by_rank(&[], &[0.5]).unwrap(),
            (
                vec![],
                Cutoffs {
                    levels: vec![EMPTY_LEVEL, EMPTY_LEVEL]
                }
            )
        );
        let (lv, cut) = tiers_by_rank(&[None, Some(NAN)], &[0.5]).unwrap();
        assert_eq!(lv, vec![None, None]);
        assert_eq!(cut.levels, vec![EMPTY_LEVEL, EMPTY_LEVEL]);
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
            cut.levels,
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
        assert_eq!(cut.levels, vec![EMPTY_LEVEL, EMPTY_LEVEL]);
        assert_eq!(
            tiers_by_cumulative_share(&[], &[0.8]).unwrap().0,
            Vec::<Option<usize>>::new()
        );
        // Negative values: shares 1.25, 1.0, 1.625 -> level 0 holds only -5.
        let (lv, _, cut) = tiers_by_cumulative_share(&s(&[10.0, -5.0, 3.0]), &[1.0]).unwrap();
        assert_eq!(lv, vec![Some(1), Some(0), Some(1)]);
        assert_eq!(cut.levels, vec![level(1, -5.0, -5.0), level(2, 10.0, 3.0)]);
        for bad in [&[0.9, 0.8][..], &[0.8, 0.8], &[NAN], &[f64::NEG_INFINITY]] {
            assert!(
                tiers_by_cumulative_share(&s(&[1.0]), bad).is_err(),
                "{bad:?}"
            );
        }
    }

    // ---------- property tests against O(n^2) references ----------

    /// Small integers (many ties), signed zeros and every kind of null.
    fn cell() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            6 => (-4i32..5).prop_map(|x| Some(f64::from(x))),
            1 => Just(Some(-0.0)),
            1 => Just(None),
            1 => prop_oneof![Just(NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)].prop_map(Some),
        ]
    }

    fn column() -> impl Strategy<Value = Vec<Option<f64>>> {
        prop::collection::vec(cell(), 0..40)
    }

    fn present(v: &[Option<f64>]) -> Vec<Option<f64>> {
        v.iter().map(|x| x.filter(|x| x.is_finite())).collect()
    }

    /// Whether row `k` comes before row `j` in (value, position) order.
    fn before(v: &[Option<f64>], k: usize, j: usize, descending: bool) -> bool {
        let (a, b) = (v[k].unwrap(), v[j].unwrap());
        let earlier = if descending { a > b } else { a < b };
        earlier || (a == b && k < j)
    }

    /// 0-based position of row `j` among the non-null rows.
    fn position(v: &[Option<f64>], j: usize, descending: bool) -> usize {
        (0..v.len())
            .filter(|&k| v[k].is_some() && before(v, k, j, descending))
            .count()
    }

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

    fn share_ref(v: &[Option<f64>]) -> Vec<Option<f64>> {
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
            prop_assert_eq!(cut.levels.iter().map(|c| c.count).sum::<usize>(), n as usize);
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
            for (k, c) in cut.levels.iter().enumerate() {
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
}
