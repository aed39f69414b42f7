//! Figures that do not depend on the order or grouping of the values they are counted over,
//! so a run can count them batch by batch, on any number of threads, and a reader of the
//! output can count them again file by file and get the same bits:
//!
//! - [`ExactSum`]: the exact sum of `f64` values, rounded once at the end;
//! - [`nearest_rank`]: nearest-rank quantiles (the ranks the run's score quantiles select).

/// Chunks of 32 bits covering every `f64` (bit 0 is 2^-1074, the smallest subnormal; the
/// largest finite value reaches bit 2098), with two chunks above for carries of many additions.
const CHUNKS: usize = 68;
/// Additions between two carry propagations: each adds less than 2^32 to a chunk, so an `i64`
/// chunk cannot overflow before 2^31 of them.
const ADDS_BEFORE_CARRY: u32 = 1 << 30;
/// Cells of one group in [`ExactSum::add_grouped`]: one per sign and biased exponent.
const SIGNS_AND_EXPONENTS: usize = 1 << 12;
/// Values [`ExactSum::add_grouped`] adds into its cells before it empties them: each cell then
/// holds at most 2^20 significands below 2^53, so less than 2^73. [`ExactSum::add_significands`]
/// takes sums of up to 2^43 of them: the block keeps the cells' sums far from that bound.
const CELL_BLOCK: usize = 1 << 20;
// One bit of a group's `u64` in `add_grouped` stands for 64 cells.
const _: () = assert!(SIGNS_AND_EXPONENTS / 64 == u64::BITS as usize);

thread_local! {
    /// [`ExactSum::add_grouped`]'s cells, all zero between calls: kept by each thread, as a
    /// group's 64 KiB would cost more to allocate and zero at every call than to add into.
    static CELLS: std::cell::Cell<Vec<u128>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The exact sum of `f64` values (a fixed-point accumulator over the whole exponent range):
/// [`ExactSum::value`] is the true sum rounded once to the nearest `f64` (ties to even), so it
/// does not depend on the order or grouping of [`ExactSum::add`] and [`ExactSum::merge`].
/// Non-finite values follow IEEE: a NaN, or both infinities, make the sum NaN; one infinity
/// makes it that infinity.
#[derive(Debug, Clone)]
pub struct ExactSum {
    /// Chunk `i` holds a multiple of 2^(32·i − 1074), signed, not yet carried.
    chunks: [i64; CHUNKS],
    adds: u32,
    positive_infinity: bool,
    negative_infinity: bool,
    nan: bool,
}

impl Default for ExactSum {
    fn default() -> Self {
        Self {
            chunks: [0; CHUNKS],
            adds: 0,
            positive_infinity: false,
            negative_infinity: false,
            nan: false,
        }
    }
}

impl ExactSum {
    /// Adds `x`.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let bits = x.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as usize;
        if exponent == 0x7ff {
            if x.is_nan() {
                self.nan = true;
            } else if x > 0.0 {
                self.positive_infinity = true;
            } else {
                self.negative_infinity = true;
            }
            return;
        }
        self.make_room(1);
        // x = significand × 2^(position − 1074), position = exponent − 1 for a normal x.
        let position = exponent - usize::from(exponent != 0);
        self.add_parts::<3>(position, u128::from(significand(bits)), bits >> 63 == 1);
    }

    /// Adds each of `values` to the sum of its group: `sums[groups[i]]` (a column summed per
    /// tier). The same sums as [`ExactSum::add`] one by one, faster: a column's values mostly
    /// share a few exponents, so each value's significand is added to a cell for its group,
    /// sign and exponent (an integer add), and each cell is added to its group's sum once, at
    /// the end of a block of values ([`ExactSum::add_significands`]). Infinities and NaN go to
    /// their sums as they come.
    pub fn add_grouped(sums: &mut [ExactSum], values: &[f64], groups: &[usize]) {
        debug_assert_eq!(values.len(), groups.len(), "one group a value");
        // Taken out while in use: a panic part way drops them rather than leave them unzeroed.
        let mut cells = CELLS.take();
        if cells.len() < sums.len() * SIGNS_AND_EXPONENTS {
            cells.resize(sums.len() * SIGNS_AND_EXPONENTS, 0);
        }
        // Which blocks of 64 cells each group has touched: only those are read back.
        let mut touched = vec![0u64; sums.len()];
        for (values, groups) in values.chunks(CELL_BLOCK).zip(groups.chunks(CELL_BLOCK)) {
            for (&x, &group) in values.iter().zip(groups) {
                let bits = x.to_bits();
                // The sign and the biased exponent: 12 bits.
                let cell = (bits >> 52) as usize;
                if cell & 0x7ff == 0x7ff {
                    sums[group].add(x);
                    continue;
                }
                cells[group * SIGNS_AND_EXPONENTS + cell] += u128::from(significand(bits));
                touched[group] |= 1u64 << (cell / 64);
            }
            for (group, sum) in sums.iter_mut().enumerate() {
                let mut blocks = std::mem::take(&mut touched[group]);
                while blocks != 0 {
                    let block = blocks.trailing_zeros() as usize;
                    blocks &= blocks - 1;
                    let first = group * SIGNS_AND_EXPONENTS + block * 64;
                    for (offset, cell) in cells[first..first + 64].iter_mut().enumerate() {
                        if *cell != 0 {
                            let sign_and_exponent = block * 64 + offset;
                            sum.add_significands(
                                sign_and_exponent >> 11 == 1,
                                (sign_and_exponent & 0x7ff) as u16,
                                std::mem::take(cell),
                            );
                        }
                    }
                }
            }
        }
        CELLS.set(cells);
    }

    /// Makes room for `adds` more adds before the next carry (at most [`ADDS_BEFORE_CARRY`]).
    fn make_room(&mut self, adds: usize) {
        if self.adds as usize + adds > ADDS_BEFORE_CARRY as usize {
            self.carry();
        }
        self.adds += adds as u32;
    }

    /// Adds values that share one sign (`negative`) and one biased `exponent` (below 0x7ff: not
    /// infinities or NaN), given as the sum of their significands (each with the implicit bit
    /// of a normal number), below 2^96: the exact sum of fewer than 2^43 such values at once.
    pub fn add_significands(&mut self, negative: bool, exponent: u16, significands: u128) {
        assert!(
            exponent < 0x7ff && significands >> 96 == 0,
            "a finite sum below 2^96"
        );
        let normal = usize::from(exponent != 0);
        self.make_room(1);
        self.add_parts::<4>(usize::from(exponent) - normal, significands, negative);
    }

    /// Adds ±`wide` × 2^(`position` − 1074), `wide` below 2^(32·`PARTS` − 31), as `PARTS`
    /// chunks from the one holding bit `position`. No branch on zero or on the sign (real
    /// columns mix them at random, and a mispredicted branch costs more than the addition): a
    /// zero adds zero parts, and each part of a negative number is negated as (part ^ −1) + 1.
    #[inline]
    fn add_parts<const PARTS: usize>(&mut self, position: usize, wide: u128, negative: bool) {
        let (chunk, shift) = (position / 32, position % 32);
        let wide = wide << shift;
        let sign = -i64::from(negative);
        let parts: [i64; PARTS] =
            std::array::from_fn(|i| ((wide >> (32 * i)) & 0xffff_ffff) as i64);
        for (c, part) in self.chunks[chunk..chunk + PARTS].iter_mut().zip(parts) {
            *c += (part ^ sign) - sign;
        }
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &ExactSum) {
        self.carry();
        let mut other = other.clone();
        other.carry();
        for (mine, theirs) in self.chunks.iter_mut().zip(other.chunks) {
            *mine += theirs;
        }
        self.adds = 2;
        self.positive_infinity |= other.positive_infinity;
        self.negative_infinity |= other.negative_infinity;
        self.nan |= other.nan;
    }

    /// Carries so that every chunk but the top one is in [0, 2^32); the top one holds the sign.
    fn carry(&mut self) {
        for i in 0..CHUNKS - 1 {
            let carry = self.chunks[i] >> 32;
            self.chunks[i] -= carry << 32;
            self.chunks[i + 1] += carry;
        }
        self.adds = 0;
    }

    /// The sum, rounded once to the nearest `f64` (ties to even); ±infinity beyond the range.
    pub fn value(&self) -> f64 {
        if self.nan || (self.positive_infinity && self.negative_infinity) {
            return f64::NAN;
        }
        if self.positive_infinity {
            return f64::INFINITY;
        }
        if self.negative_infinity {
            return f64::NEG_INFINITY;
        }
        let mut sum = self.clone();
        sum.carry();
        let negative = sum.chunks[CHUNKS - 1] < 0;
        if negative {
            for c in sum.chunks.iter_mut() {
                *c = -*c;
            }
            sum.carry();
        }
        let Some(top) = sum.chunks.iter().rposition(|&c| c != 0) else {
            return 0.0;
        };
        // The top three chunks as one number, and whether anything below them is not zero.
        let base = top.saturating_sub(2);
        let mut window: u128 = 0;
        for i in (base..=top).rev() {
            window = (window << 32) | sum.chunks[i] as u128;
        }
        let sticky = sum.chunks[..base].iter().any(|&c| c != 0);
        let length = 128 - window.leading_zeros() as usize;
        let bits = if length <= 53 {
            // Only below 2^53 × 2^-1074 (base 0): exact, and the bits of the value are the number.
            window as u64
        } else {
            let shift = length - 53;
            let mut mantissa = (window >> shift) as u64;
            let rest = window & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            if rest > half || (rest == half && (sticky || mantissa & 1 == 1)) {
                mantissa += 1;
            }
            // value = mantissa × 2^(shift + 32·base − 1074), mantissa in [2^52, 2^53]; a
            // mantissa of 2^53 carries into the exponent by itself.
            let exponent = (shift + 32 * base) as u64;
            let bits = (exponent << 52) + mantissa;
            if bits >= 0x7ff << 52 {
                f64::INFINITY.to_bits()
            } else {
                bits
            }
        };
        let magnitude = f64::from_bits(bits);
        if negative {
            -magnitude
        } else {
            magnitude
        }
    }
}

/// The significand of the finite `f64` with `bits`: its 52 fraction bits, with the implicit bit
/// above them for a normal number (it is the value × 2^1074 for a subnormal one).
pub fn significand(bits: u64) -> u64 {
    let normal = u64::from((bits >> 52) & 0x7ff != 0);
    (bits & ((1 << 52) - 1)) | (normal << 52)
}

/// A xorshift generator of 64-bit values from the seed `state` (not zero): reproducible test
/// data, for this module's tests and others'.
#[cfg(test)]
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// The 0-based index of the `percent`-th percentile among `n` values by nearest rank: 1-based
/// rank ⌈percent × n / 100⌉ (at least 1), the smallest value with at least `percent`% of the
/// values at or below it. `None` for no values.
pub fn nearest_rank(n: usize, percent: u32) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let rank = (u128::from(percent) * n as u128).div_ceil(100).max(1);
    usize::try_from(rank - 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(values: &[f64]) -> f64 {
        let mut s = ExactSum::default();
        for &v in values {
            s.add(v);
        }
        s.value()
    }

    #[test]
    fn sums_are_rounded_once() {
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(sum(&[0.1; 10]), 1.0);
        assert_eq!(sum(&[1.0, 1e-16, 1e-16]), 1.000_000_000_000_000_2);
        assert_eq!(sum(&[f64::MAX, f64::MAX, -f64::MAX]), f64::MAX);
        assert_eq!(sum(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(sum(&[-f64::MAX, -f64::MAX]), f64::NEG_INFINITY);
        assert_eq!(sum(&[5e-324, 5e-324]), 1e-323);
        assert_eq!(sum(&[-2.5, 0.5]), -2.0);
        assert_eq!(sum(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert!(sum(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert!(sum(&[1.0, f64::NAN]).is_nan());
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: to even, unless something below breaks it.
        let two53 = 9_007_199_254_740_992.0;
        assert_eq!(sum(&[two53, 1.0]), two53);
        assert_eq!(sum(&[two53, 1.0, 1e-30]), two53 + 2.0);
        assert_eq!(sum(&[two53, 3.0]), two53 + 4.0);
    }

    #[test]
    fn sums_equal_integer_arithmetic_in_any_order_and_grouping() {
        // Multiples of 2^-20 with up to 53 bits: their exact sum fits an i128, and `as f64`
        // rounds it once, to nearest, ties to even.
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let units: Vec<i64> = (0..5000)
            .map(|i| (next() >> (11 + i % 50)) as i64 * if next() & 1 == 0 { 1 } else { -1 })
            .collect();
        let scale = (-20f64).exp2();
        let values: Vec<f64> = units.iter().map(|&u| u as f64 * scale).collect();
        assert!(
            units.iter().all(|&u| (u as f64) as i64 == u),
            "exact inputs"
        );
        let exact = units.iter().map(|&u| i128::from(u)).sum::<i128>() as f64 * scale;
        assert_eq!(sum(&values), exact);
        let mut reversed = values.clone();
        reversed.reverse();
        assert_eq!(sum(&reversed), exact);
        let (mut a, mut b) = (ExactSum::default(), ExactSum::default());
        for (i, &v) in values.iter().enumerate() {
            if i % 3 == 0 { &mut a } else { &mut b }.add(v);
        }
        b.merge(&a);
        assert_eq!(b.value(), exact);
    }

    /// The sum of the `units` whose entry in `groups` is `group`, in integer arithmetic.
    fn group_units(units: &[i64], groups: &[usize], group: usize) -> i128 {
        units
            .iter()
            .zip(groups)
            .filter(|(_, &g)| g == group)
            .map(|(&u, _)| i128::from(u))
            .sum()
    }

    #[test]
    fn grouped_sums_equal_integer_arithmetic_per_group() {
        // As above, over three groups, with the first group just short of a carry (the carry
        // itself has a test of its own below).
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let units: Vec<i64> = (0..4999)
            .map(|i| (next() >> (11 + i % 50)) as i64 * if next() & 1 == 0 { 1 } else { -1 })
            .collect();
        let groups: Vec<usize> = (0..units.len()).map(|_| (next() % 3) as usize).collect();
        let scale = (-20f64).exp2();
        let values: Vec<f64> = units.iter().map(|&u| u as f64 * scale).collect();
        let mut sums = vec![ExactSum::default(); 3];
        sums[0].add(-1.5);
        sums[0].adds = ADDS_BEFORE_CARRY - 1;
        ExactSum::add_grouped(&mut sums, &values, &groups);
        for (group, sum) in sums.iter().enumerate() {
            let exact = group_units(&units, &groups, group);
            // The first group's −1.5, in units of 2^-20.
            let start = if group == 0 { -1_572_864 } else { 0 };
            assert_eq!(sum.value(), (exact + start) as f64 * scale, "group {group}");
        }
    }

    /// Subnormals, −0.0, overflowing sums, infinities and NaN give what `add` one by one gives,
    /// and a call leaves its thread's cells empty: the next call over the same cells sums only
    /// its own values.
    #[test]
    fn grouped_sums_take_every_kind_of_value_and_leave_no_cell_behind() {
        let values = [
            5e-324,
            -0.0,
            f64::MAX,
            f64::MAX,
            1.5,
            f64::INFINITY,
            -2.5e-310,
            f64::NAN,
            3.0,
        ];
        // Group 0 holds the subnormals (their sum shows), 1 an overflow, 2 an infinity, 3 NaN.
        let groups = [0, 0, 1, 1, 2, 2, 0, 3, 3];
        let mut grouped = vec![ExactSum::default(); 4];
        ExactSum::add_grouped(&mut grouped, &values, &groups);
        let mut one_by_one = vec![ExactSum::default(); 4];
        for (&x, &group) in values.iter().zip(&groups) {
            one_by_one[group].add(x);
        }
        let bits = |sums: &[ExactSum]| -> Vec<u64> {
            sums.iter().map(|sum| sum.value().to_bits()).collect()
        };
        assert_eq!(bits(&grouped), bits(&one_by_one));
        assert_eq!(grouped[0].value(), -2.5e-310 + 5e-324);
        assert_eq!(grouped[1].value(), f64::INFINITY);
        assert_eq!(grouped[2].value(), f64::INFINITY);
        assert!(grouped[3].value().is_nan());

        let mut again = vec![ExactSum::default(); 4];
        ExactSum::add_grouped(&mut again, &[5e-324, 1.5], &[0, 2]);
        assert_eq!(again[0].value(), 5e-324);
        assert_eq!(again[2].value(), 1.5);
    }

    /// More values than one block of cells, over group counts that grow and shrink from call
    /// to call: every unit of every group's sum shows (each sum stays below 2^53 units).
    #[test]
    fn grouped_sums_cross_cell_blocks_and_changing_group_counts() {
        let mut next = xorshift(0x5851_f42d_4c95_7f2d);
        for count in [5, 2, 7] {
            let units: Vec<i64> = (0..CELL_BLOCK + 3)
                .map(|_| (next() >> 36) as i64 * if next() & 1 == 0 { 1 } else { -1 })
                .collect();
            let groups: Vec<usize> = units
                .iter()
                .map(|_| (next() % count as u64) as usize)
                .collect();
            let values: Vec<f64> = units.iter().map(|&u| u as f64 * 5e-324).collect();
            let mut sums = vec![ExactSum::default(); count];
            ExactSum::add_grouped(&mut sums, &values, &groups);
            for (group, sum) in sums.iter().enumerate() {
                let exact = group_units(&units, &groups, group);
                assert_eq!(
                    sum.value(),
                    exact as f64 * 5e-324,
                    "{count} groups, group {group}"
                );
            }
        }
    }

    #[test]
    fn room_for_adds_carries_first_when_the_count_would_pass_the_bound() {
        let mut sum = ExactSum::default();
        sum.add(-1.5);
        sum.adds = ADDS_BEFORE_CARRY - 1;
        sum.make_room(3);
        assert_eq!(sum.adds, 3, "carried, then counted");
        assert_eq!(sum.value(), -1.5);
        sum.make_room(5);
        assert_eq!(sum.adds, 8, "room left: counted only");
    }

    #[test]
    fn significands_of_one_exponent_add_as_their_values() {
        let mut next = xorshift(0x0123_4567_89ab_cdef);
        // At the top exponent: two values below 1.5 × 2^1023, brought back below the largest
        // finite value by −MAX on both sides, so the sums compared are finite.
        for (negative, exponent, values) in [
            (false, 1023, 1000),
            (true, 1100, 1000),
            (false, 0, 1000),
            (true, 1, 1000),
            (false, 2046, 2),
        ] {
            let top = exponent == 2046;
            let mut one_by_one = ExactSum::default();
            let mut at_once = ExactSum::default();
            if top {
                one_by_one.add(-f64::MAX);
                at_once.add(-f64::MAX);
            }
            let mut significands = 0u128;
            for _ in 0..values {
                let fraction = next() & ((1 << if top { 51 } else { 52 }) - 1);
                let bits = (u64::from(negative) << 63) | (u64::from(exponent) << 52) | fraction;
                one_by_one.add(f64::from_bits(bits));
                significands += u128::from(fraction | (u64::from(exponent != 0) << 52));
            }
            at_once.add(0.75);
            at_once.add_significands(negative, exponent, significands);
            one_by_one.add(0.75);
            let sum = at_once.value();
            assert!(sum.is_finite(), "exponent {exponent}: {sum}");
            assert_eq!(
                sum.to_bits(),
                one_by_one.value().to_bits(),
                "exponent {exponent}"
            );
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        // Ten values 1..=10: the 1st and 10th percentiles are the first value, the 11th the
        // second, the median the fifth, the 100th the last.
        assert_eq!(nearest_rank(10, 1), Some(0));
        assert_eq!(nearest_rank(10, 10), Some(0));
        assert_eq!(nearest_rank(10, 11), Some(1));
        assert_eq!(nearest_rank(10, 50), Some(4));
        assert_eq!(nearest_rank(10, 100), Some(9));
        // 7% of 100 is rank 7 (7 × 100 / 100 in integers; 0.07 × 100 in floats is above 7).
        assert_eq!(nearest_rank(100, 7), Some(6));
        assert_eq!(nearest_rank(0, 50), None);
    }
}
