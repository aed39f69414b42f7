//! Rank (`by: rank`) and ABC (`by: cumulative_share`) tiers: a row's tier depends on where its
//! value stands in the whole run. Orderings and shares come from [`crate::stats`], so the same
//! DuckDB contract holds (input position breaks ties; non-finite values are null and get no
//! tier).

use crate::stats;

/// Each row's level in input order; `None` for rows that get none (null values). Kept for
/// every row of the run through its scoring pass: a `u32` a level holds half the memory of a
/// `usize` (80 MB less at 10M rows).
pub type RowLevels = Vec<Option<u32>>;

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

impl Cutoff {
    const EMPTY: Cutoff = Cutoff {
        count: 0,
        highest: None,
        lowest: None,
    };

    /// Counts a row of value `x` in the level. Rows given in input order (or in (value desc,
    /// pos) order: equal values come in input order there too), `highest` keeps the earliest
    /// of equal values and `lowest` the latest, matching first/last in (value desc, pos) order.
    fn add(&mut self, x: f64) {
        self.count += 1;
        if self.highest.is_none_or(|h| x > h) {
            self.highest = Some(x);
        }
        if self.lowest.is_none_or(|l| x <= l) {
            self.lowest = Some(x);
        }
    }
}

/// Per-level count, highest and lowest value of the rows that got a level.
fn cutoffs(values: &[Option<f64>], levels: &[Option<u32>], n_levels: usize) -> Vec<Cutoff> {
    let mut out = vec![Cutoff::EMPTY; n_levels];
    for (v, level) in values.iter().zip(levels) {
        let (Some(x), Some(level)) = (stats::clean(*v), *level) else {
            continue;
        };
        if let Some(c) = out.get_mut(level as usize) {
            c.add(x);
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
    // Level `k` ends at the first position `i` with `tops[k] * n <= i`: `i` is a whole number
    // (exact as f64 below 2^53), so that is `tops[k] * n` rounded up, at most `n`.
    let out = stats::levels_by_position(scores, true, |n| {
        tops.iter()
            .map(|t| ((t * n as f64).ceil() as usize).min(n))
            .collect()
    })?;
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
    values: Vec<Option<f64>>,
    uptos: &[f64],
) -> Result<(RowLevels, f64, Vec<Cutoff>), String> {
    if let Some(u) = uptos.iter().find(|u| !u.is_finite()) {
        return Err(format!(
            "tiers_by_cumulative_share: bound {u} is not finite"
        ));
    }
    check_increasing("tiers_by_cumulative_share", uptos)?;
    let mut out = vec![None; values.len()];
    let mut cut = vec![Cutoff::EMPTY; uptos.len() + 1];
    // The values go to the sort, so each row's level and cutoffs are taken as its share is made.
    let total = stats::cumulative_shares(values, |row, x, share| {
        if let Some(share) = share {
            let index = uptos.partition_point(|u| *u < share);
            out[row] = Some(level(index));
            cut[index].add(x);
        }
    })?;
    Ok((out, total, cut))
}

/// Level `index` of a [`RowLevels`]: a pipeline's levels are written out in its YAML, far
/// fewer than `u32::MAX`.
fn level(index: usize) -> u32 {
    u32::try_from(index).expect("fewer than u32::MAX levels")
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
mod tests;
