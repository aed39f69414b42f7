//! The whale curve (Kaplan & Cooper): customers ranked by value, highest first, against the
//! value the first k of them hold together.
//!
//! Each point is exact: the cumulative value of the first k customers is the exact sum of the k
//! highest values, rounded once (so it does not depend on the order the values came in, and a
//! run's page and a re-rendered one agree). It is found without sorting every value:
//!
//! - as values arrive, [`WhaleValues`] keeps each one's rank key (8 bytes a customer, in a
//!   [`Keys`] store: a run spills them to its staging directory, so they are not held in
//!   memory);
//! - at the end ([`WhaleValues::curve`]) one pass counts the keys into 65,536 buckets by their
//!   top 16 bits (sign, exponent and 4 bits of mantissa), beside an integer sum of each
//!   bucket's significands: every value of a bucket has the same sign and exponent, so that
//!   sum is exact. A point at a bucket's edge is the exact sum of the buckets above it; only
//!   the buckets with a point inside are gathered, their values selected (not sorted) around
//!   those points.

use serde::Serialize;

use std::path::Path;

use crate::stats::exact::{significand, ExactSum};
use crate::stats::keys::{
    ascending_key, ascending_value, bucket_of, Keys, SpillError, BUCKETS, BUCKET_BITS,
};

/// Points drawn on the curve (besides its peak and ends).
const POINTS: usize = 200;
const SIGNIFICAND_BITS: u32 = 52;

/// Customers ranked by value, highest first: how the value accumulates (Kaplan & Cooper).
#[derive(Debug, Clone, Serialize)]
pub struct Whale {
    /// Customers with a value (nulls are left out).
    pub customers: u64,
    pub total: f64,
    /// From (0, 0) to (1, total), thinned to about 200 points, the peak included.
    pub points: Vec<WhalePoint>,
    /// Where the cumulative value is highest: after the last customer of positive value (the
    /// customers above zero; with a NaN among the values every sum is NaN).
    pub peak: WhalePoint,
    /// peak − total: what the customers after the peak give back.
    pub given_back: f64,
    /// The first point holding 80% of the total (none when the total is not above 0).
    pub pareto: Option<WhalePoint>,
}

/// A point of the whale curve: the first `customers` customers by value hold `cumulative`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WhalePoint {
    pub customers: u64,
    /// customers / all customers with a value.
    pub customer_share: f64,
    pub cumulative: f64,
}

/// The values of the whale curve, one a customer, as they arrive (see the module's comment).
#[derive(Debug, Default)]
pub struct WhaleValues {
    /// Each value's rank key: ascending keys are descending values (IEEE total order, reversed).
    keys: Keys,
    /// Values above zero: the curve rises up to the last of them.
    positive: u64,
}

impl WhaleValues {
    /// Nothing yet, with room for `values` keys (held once at their final size).
    pub fn with_capacity(values: usize) -> Self {
        Self {
            keys: Keys::in_memory(values),
            positive: 0,
        }
    }

    /// Nothing yet, the keys spilled to an unnamed file in `dir` (a run's staging directory).
    pub fn spilled_to(dir: &Path) -> Result<Self, SpillError> {
        Ok(Self {
            keys: Keys::spilled_to(dir)?,
            positive: 0,
        })
    }

    /// Adds `values`, one a customer.
    pub fn extend(&mut self, values: &[f64]) {
        self.keys.extend(values.iter().map(|&x| rank_key(x)));
        self.positive += values.iter().map(|&x| u64::from(x > 0.0)).sum::<u64>();
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: WhaleValues) -> Result<(), SpillError> {
        self.positive += other.positive;
        self.keys.append(other.keys)
    }

    /// The curve: its total, about [`POINTS`] points, the peak and the Pareto point.
    pub fn curve(mut self) -> Result<Whale, SpillError> {
        let n = self.keys.len();
        let point = |customers: usize, cumulative: f64| WhalePoint {
            customers: customers as u64,
            customer_share: if n == 0 {
                0.0
            } else {
                customers as f64 / n as f64
            },
            cumulative,
        };
        let origin = point(0, 0.0);
        if n == 0 {
            return Ok(Whale {
                customers: 0,
                total: 0.0,
                points: vec![origin],
                peak: origin,
                given_back: 0.0,
                pareto: None,
            });
        }
        let peak_at = usize::try_from(self.positive).expect("fewer values than memory holds");
        let step = n.div_ceil(POINTS).max(1);
        let mut drawn: Vec<usize> = (step..=n).step_by(step).chain([n, peak_at]).collect();
        drawn.retain(|&customers| customers > 0);
        drawn.sort_unstable();
        drawn.dedup();

        // Per bucket: its values, and the sum of their significands (below 2^96 for fewer than
        // 2^43 values).
        let mut counts = vec![0u64; BUCKETS];
        let mut sums = vec![0u128; BUCKETS];
        self.keys.for_each_chunk(|keys| {
            for &key in keys {
                let bucket = bucket_of(key);
                counts[bucket] += 1;
                sums[bucket] += u128::from(significand(value_bits(key)));
            }
        })?;
        let mut total = ExactSum::default();
        for (bucket, (&count, &significands)) in counts.iter().zip(&sums).enumerate() {
            if count > 0 {
                add_bucket(&mut total, bucket, count, significands);
            }
        }
        let total = total.value();
        let target = (total > 0.0).then_some(0.8 * total);

        // Bucket by bucket from the highest values, with the exact sum of those above: a point
        // at a bucket's end is that sum; a point inside one, or the Pareto point, needs the
        // bucket's own values (gathered below).
        let mut found: Vec<(usize, f64)> = Vec::with_capacity(drawn.len() + 1);
        let mut wanted: Vec<Wanted> = Vec::new();
        let mut pareto_in = None;
        let mut above = ExactSum::default();
        let (mut seen, mut next) = (0, 0);
        for bucket in 0..BUCKETS {
            let count = counts[bucket];
            if count == 0 {
                continue;
            }
            let end = seen + count as usize;
            let mut inside = Vec::new();
            while next < drawn.len() && drawn[next] < end {
                inside.push(drawn[next] - seen);
                next += 1;
            }
            let mut sum = above.clone();
            add_bucket(&mut sum, bucket, count, sums[bucket]);
            let drawn_at_end = next < drawn.len() && drawn[next] == end;
            let looking = pareto_in.is_none() && target.is_some();
            let value = (drawn_at_end || looking).then(|| sum.value());
            if let (true, Some(value)) = (drawn_at_end, value) {
                found.push((end, value));
                next += 1;
            }
            let reaches = looking && matches!((value, target), (Some(v), Some(t)) if v >= t);
            if reaches {
                pareto_in = Some(wanted.len());
            }
            if reaches || !inside.is_empty() {
                wanted.push(Wanted {
                    bucket,
                    first: seen,
                    above,
                    inside,
                    keys: Vec::new(),
                });
            }
            above = sum;
            seen = end;
        }

        let buckets: Vec<usize> = wanted.iter().map(|w| w.bucket).collect();
        let gathered = self
            .keys
            .gather(&buckets, |i| counts[buckets[i]] as usize)?;
        drop(self.keys);
        for (w, keys) in wanted.iter_mut().zip(gathered) {
            w.keys = keys;
        }
        let mut pareto = None;
        for (i, w) in wanted.iter_mut().enumerate() {
            for (&inside, top) in w.inside.iter().zip(top_sums(&mut w.keys, &w.inside)) {
                found.push((w.first + inside, w.cumulative(inside, top)));
            }
            if let (Some(target), true) = (target, pareto_in == Some(i)) {
                let (inside, cumulative) = w.first_reaching(target);
                pareto = Some(point(w.first + inside, cumulative));
            }
        }
        found.sort_unstable_by_key(|&(customers, _)| customers);
        // Every drawn point was found above; the peak before any customer is the origin.
        let cumulative = |customers: usize| {
            if customers == 0 {
                return 0.0;
            }
            let at = found.binary_search_by_key(&customers, |&(c, _)| c);
            found[at.expect("every drawn point is found")].1
        };
        let mut points = vec![origin];
        points.extend(
            drawn
                .iter()
                .map(|&customers| point(customers, cumulative(customers))),
        );
        let peak = point(peak_at, cumulative(peak_at));
        Ok(Whale {
            customers: n as u64,
            total,
            points,
            peak,
            given_back: peak.cumulative - total,
            pareto,
        })
    }
}

/// A bucket whose own values a point needs.
struct Wanted {
    bucket: usize,
    /// Values in the buckets above it.
    first: usize,
    /// The exact sum of the buckets above it.
    above: ExactSum,
    /// The points inside it, as how many of its own highest values each takes (ascending,
    /// each below the bucket's count).
    inside: Vec<usize>,
    /// Its values' rank keys.
    keys: Vec<u64>,
}

impl Wanted {
    /// The cumulative value of the values above the bucket and `count` of its own highest,
    /// whose significands add up to `significands`.
    fn cumulative(&self, count: usize, significands: u128) -> f64 {
        let mut sum = self.above.clone();
        add_bucket(&mut sum, self.bucket, count as u64, significands);
        sum.value()
    }

    /// The fewest of the bucket's highest values that bring the cumulative value to `target`
    /// (the whole bucket does, the buckets above do not), and that value. The bucket's values
    /// all have one sign, positive here (the sum grows with them to reach the target), so the
    /// search halves: `keys[lo..hi]` hold ranks `lo + 1..=hi`, brought there by selection.
    fn first_reaching(&mut self, target: f64) -> (usize, f64) {
        let (mut lo, mut hi) = (0, self.keys.len());
        let mut below = 0u128;
        let mut at_hi = self.cumulative(hi, significands(&self.keys));
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            self.keys[lo..hi].select_nth_unstable(mid - lo - 1);
            let to_mid = below + significands(&self.keys[lo..mid]);
            let at_mid = self.cumulative(mid, to_mid);
            if at_mid >= target {
                (hi, at_hi) = (mid, at_mid);
            } else {
                (lo, below) = (mid, to_mid);
            }
        }
        (hi, at_hi)
    }
}

/// The sum of the significands of the values with rank keys `keys`.
fn significands(keys: &[u64]) -> u128 {
    keys.iter()
        .map(|&key| u128::from(significand(value_bits(key))))
        .sum()
}

/// The sums of the significands of the `tops[i]` lowest keys of `keys` (the highest values),
/// for ascending `tops`: `keys` is reordered so that each top comes first, by selection around
/// the middle one and then each side's, not by a sort.
fn top_sums(keys: &mut [u64], tops: &[usize]) -> Vec<u128> {
    fn cut(keys: &mut [u64], tops: &[usize], offset: usize) {
        let Some(mid) = tops.len().checked_sub(1).map(|last| last / 2) else {
            return;
        };
        let at = tops[mid] - offset;
        if at > 0 && at < keys.len() {
            keys.select_nth_unstable(at);
        }
        let (low, high) = keys.split_at_mut(at);
        cut(low, &tops[..mid], offset);
        cut(high, &tops[mid + 1..], offset + at);
    }
    cut(keys, tops, 0);
    let mut sums = Vec::with_capacity(tops.len());
    let (mut sum, mut from) = (0u128, 0);
    for &top in tops {
        sum += significands(&keys[from..top]);
        sums.push(sum);
        from = top;
    }
    sums
}

/// Adds to `sum` `count` values of `bucket` whose significands add up to `significands`.
fn add_bucket(sum: &mut ExactSum, bucket: usize, count: u64, significands: u128) {
    // The bucket's top 16 value bits: sign, exponent and 4 bits of the fraction.
    let top = value_bits((bucket as u64) << (64 - BUCKET_BITS)) >> (64 - BUCKET_BITS);
    let negative = top >> 15 == 1;
    let exponent = ((top >> 4) & 0x7ff) as u16;
    if exponent == 0x7ff {
        // Infinities have no fraction: a sum beyond `count` implicit bits is a NaN's.
        let infinite = significands == u128::from(count) << SIGNIFICAND_BITS;
        let value = match (infinite, negative) {
            (false, _) => f64::NAN,
            (true, false) => f64::INFINITY,
            (true, true) => f64::NEG_INFINITY,
        };
        sum.add(value);
    } else {
        sum.add_significands(negative, exponent, significands);
    }
}

/// The rank key of `x`: ascending keys are descending values in IEEE total order.
fn rank_key(x: f64) -> u64 {
    !ascending_key(x)
}

/// The bits of the value whose rank key is `key` (the inverse of [`rank_key`]).
fn value_bits(key: u64) -> u64 {
    ascending_value(!key).to_bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::exact::xorshift;

    fn curve(values: &[f64]) -> Whale {
        let mut whale = WhaleValues::default();
        whale.extend(values);
        whale.curve().unwrap()
    }

    #[test]
    fn whale_curve_has_peak_give_back_and_pareto_point() {
        let w = curve(&[-2.0, 10.0, 1.0, 5.0, -4.0]);
        assert_eq!(w.total, 10.0);
        assert_eq!(
            w.peak,
            WhalePoint {
                customers: 3,
                customer_share: 0.6,
                cumulative: 16.0
            }
        );
        assert_eq!(w.given_back, 6.0);
        assert_eq!(w.pareto.map(|p| p.customers), Some(1));
        let cumulative: Vec<f64> = w.points.iter().map(|p| p.cumulative).collect();
        assert_eq!(cumulative, [0.0, 10.0, 15.0, 16.0, 14.0, 10.0]);
        let empty = curve(&[]);
        assert_eq!(
            (empty.customers, empty.points.len(), empty.pareto),
            (0, 1, None)
        );
    }

    /// The curve the slow way: every value sorted highest first, each prefix summed exactly.
    fn sorted_curve(values: &[f64]) -> (Vec<f64>, usize, Option<usize>) {
        let mut sorted = values.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let mut sum = ExactSum::default();
        let prefixes: Vec<f64> = sorted
            .iter()
            .map(|&x| {
                sum.add(x);
                sum.value()
            })
            .collect();
        let total = prefixes.last().copied().unwrap_or(0.0);
        let pareto = (total > 0.0)
            .then(|| {
                prefixes
                    .iter()
                    .position(|&s| s >= 0.8 * total)
                    .map(|i| i + 1)
            })
            .flatten();
        (
            prefixes,
            values.iter().filter(|&&x| x > 0.0).count(),
            pareto,
        )
    }

    #[test]
    fn every_point_is_the_exact_sum_of_the_highest_values() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for n in [1, 2, 7, 199, 200, 201, 1_000, 5_003] {
            for kind in 0..5 {
                let values: Vec<f64> = (0..n)
                    .map(|_| {
                        let unit = (next() >> 11) as f64 / (1u64 << 53) as f64;
                        match (kind, next() % 8) {
                            // One bucket: every point inside it.
                            (0, _) => 1000.0 + unit,
                            // Few distinct values: ties across points.
                            (1, _) => (next() % 5) as f64 - 1.0,
                            // Margins: mostly small, a few large, a loss-making tail.
                            (2, 0) => -3000.0 * unit,
                            (2, 1) => 1e6 * unit,
                            (2, _) => 100.0 * unit - 10.0,
                            // Any bits but infinities and NaN: subnormals, huge, zeros.
                            (3, 0) => 0.0,
                            (3, 1) => -0.0,
                            (3, 2) => f64::from_bits(next() >> 12),
                            (3, _) => {
                                let x = f64::from_bits(next());
                                if x.is_finite() {
                                    x
                                } else {
                                    1.5
                                }
                            }
                            // All below zero.
                            (_, _) => -1.0 - unit,
                        }
                    })
                    .collect();
                let (prefixes, positive, pareto) = sorted_curve(&values);
                let w = curve(&values);
                let case = format!("n {n}, kind {kind}");
                assert_eq!(w.customers, n as u64, "{case}");
                assert_eq!(w.total.to_bits(), prefixes[n - 1].to_bits(), "{case} total");
                assert_eq!(w.points[0].customers, 0, "{case}");
                let step = n.div_ceil(200);
                let mut drawn: Vec<usize> = (0..=n)
                    .filter(|&k| k % step == 0 || k == n || k == positive)
                    .collect();
                drawn.dedup();
                let customers: Vec<usize> = w.points.iter().map(|p| p.customers as usize).collect();
                assert_eq!(customers, drawn, "{case}");
                for p in &w.points[1..] {
                    let k = p.customers as usize;
                    assert_eq!(
                        p.cumulative.to_bits(),
                        prefixes[k - 1].to_bits(),
                        "{case} at {k}"
                    );
                    assert_eq!(p.customer_share, k as f64 / n as f64, "{case} at {k}");
                }
                assert_eq!(
                    w.points.last().map(|p| p.customers),
                    Some(n as u64),
                    "{case}"
                );
                assert_eq!(w.peak.customers as usize, positive, "{case} peak");
                let peak = if positive == 0 {
                    0.0
                } else {
                    prefixes[positive - 1]
                };
                assert_eq!(w.peak.cumulative.to_bits(), peak.to_bits(), "{case} peak");
                assert!(
                    w.points.iter().any(|p| p.customers as usize == positive),
                    "{case}"
                );
                assert_eq!(
                    w.pareto.map(|p| p.customers as usize),
                    pareto,
                    "{case} pareto"
                );
                if let Some(p) = w.pareto {
                    let k = p.customers as usize;
                    assert_eq!(p.cumulative.to_bits(), prefixes[k - 1].to_bits(), "{case}");
                }
                // In pieces, merged into keys spilled to a file: the same curve.
                let dir = tempfile::tempdir().unwrap();
                let mut merged = WhaleValues::spilled_to(dir.path()).unwrap();
                for piece in values.chunks(97) {
                    let mut part = WhaleValues::default();
                    part.extend(piece);
                    merged.merge(part).unwrap();
                }
                let again = merged.curve().unwrap();
                assert_eq!(again.points, w.points, "{case} merged");
                assert_eq!(
                    (again.peak, again.pareto),
                    (w.peak, w.pareto),
                    "{case} merged"
                );
            }
        }
    }

    #[test]
    fn infinities_and_nan_make_the_sums_they_enter() {
        let w = curve(&[1.0, f64::INFINITY, 2.0, f64::INFINITY]);
        assert_eq!(w.total, f64::INFINITY);
        assert_eq!(w.points[1].cumulative, f64::INFINITY);
        assert_eq!(w.pareto.map(|p| p.customers), Some(1));
        let w = curve(&[1.0, f64::NEG_INFINITY, 2.0]);
        assert_eq!(w.total, f64::NEG_INFINITY);
        assert_eq!(w.peak.cumulative, 3.0);
        assert_eq!(w.pareto, None);
        let w = curve(&[1.0, f64::NAN, 2.0]);
        assert!(w.total.is_nan() && w.pareto.is_none());
    }
}
