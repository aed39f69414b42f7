//! One 64-bit key a row, kept for a pass at the end of a run (the score quantiles, the whale
//! curve, the duplicate-id check): in memory, or spilled to an unnamed file in the run's
//! staging directory, so that a run's memory does not grow with its rows.
//!
//! A spilled store holds at most [`CHUNK`] keys in memory; the rest are in the file, which the
//! system removes when the store is dropped (or the process ends), so nothing is left beside
//! the output. The ends of a run read the keys back a chunk at a time, and gather only the
//! buckets (keys sharing their top 16 bits) that they need whole.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::ToByteSlice;

/// Keys held in memory before they are written out, and read back at a time.
pub const CHUNK: usize = 1 << 15;
/// The key's top bits that pick its bucket.
pub const BUCKET_BITS: u32 = 16;
/// Buckets of keys by their top [`BUCKET_BITS`] bits.
pub const BUCKETS: usize = 1 << BUCKET_BITS;

/// The bucket of `key`: its top 16 bits.
pub fn bucket_of(key: u64) -> usize {
    (key >> (64 - BUCKET_BITS)) as usize
}

/// The key of `x` whose ascending order is `x`'s IEEE total order.
pub fn ascending_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// The value whose [`ascending_key`] is `key`.
pub fn ascending_value(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// Keys, one a row, in memory or spilled to a file (see the module's comment).
#[derive(Debug, Default)]
pub struct Keys {
    /// The keys not written out: all of them unless spilled.
    memory: Vec<u64>,
    spill: Option<Spill>,
}

/// The file the keys went to, and the first error writing it.
#[derive(Debug)]
struct Spill {
    file: File,
    /// Where the file is (its directory: the file has no name).
    dir: PathBuf,
    written: u64,
    failed: Option<io::Error>,
}

/// Spilled keys that could not be written or read back.
#[derive(Debug, thiserror::Error)]
#[error("could not spill keys to {}: {source}", dir.display())]
pub struct SpillError {
    pub dir: PathBuf,
    #[source]
    pub source: io::Error,
}

impl Keys {
    /// In memory, with room for `keys` (held once at their final size).
    pub fn in_memory(keys: usize) -> Self {
        Self {
            memory: Vec::with_capacity(keys),
            spill: None,
        }
    }

    /// Spilled to an unnamed file in `dir`.
    pub fn spilled_to(dir: &Path) -> Result<Self, SpillError> {
        let file = tempfile::tempfile_in(dir).map_err(|source| SpillError {
            dir: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            memory: Vec::with_capacity(CHUNK),
            spill: Some(Spill {
                file,
                dir: dir.to_path_buf(),
                written: 0,
                failed: None,
            }),
        })
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        let written = self.spill.as_ref().map_or(0, |spill| spill.written);
        self.memory.len() + usize::try_from(written).expect("keys fit in memory's address space")
    }

    /// No keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `key`. An error writing a spill is kept and reported when the keys are read.
    pub fn push(&mut self, key: u64) {
        self.memory.push(key);
        if self.spill.is_some() && self.memory.len() == CHUNK {
            self.write_out();
        }
    }

    /// Adds every key of `keys`.
    pub fn extend(&mut self, keys: impl IntoIterator<Item = u64>) {
        for key in keys {
            self.push(key);
        }
    }

    /// Adds every key `other` holds.
    pub fn append(&mut self, mut other: Keys) -> Result<(), SpillError> {
        if self.is_empty() && self.spill.is_none() && other.spill.is_none() {
            *self = other;
            return Ok(());
        }
        other.for_each_chunk(|chunk| self.extend(chunk.iter().copied()))
    }

    /// Writes the keys in memory to the spill file.
    fn write_out(&mut self) {
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        if spill.failed.is_none() {
            match spill.file.write_all(self.memory.to_byte_slice()) {
                Ok(()) => spill.written += self.memory.len() as u64,
                Err(error) => spill.failed = Some(error),
            }
        }
        self.memory.clear();
    }

    /// Calls `f` with every key, a chunk at a time, in the order they were added.
    pub fn for_each_chunk(&mut self, mut f: impl FnMut(&[u64])) -> Result<(), SpillError> {
        if let Some(spill) = self.spill.as_mut() {
            let failed = |spill: &Spill, source| SpillError {
                dir: spill.dir.clone(),
                source,
            };
            if let Some(error) = spill.failed.take() {
                return Err(failed(spill, error));
            }
            spill
                .file
                .seek(SeekFrom::Start(0))
                .map_err(|e| failed(spill, e))?;
            let mut bytes = vec![0u8; CHUNK * 8];
            let mut keys = Vec::with_capacity(CHUNK);
            let mut left = spill.written;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                spill
                    .file
                    .read_exact(&mut bytes[..n * 8])
                    .map_err(|e| failed(spill, e))?;
                keys.clear();
                keys.extend(
                    bytes[..n * 8]
                        .chunks_exact(8)
                        .map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes"))),
                );
                f(&keys);
                left -= n as u64;
            }
            spill
                .file
                .seek(SeekFrom::End(0))
                .map_err(|e| failed(spill, e))?;
        }
        for chunk in self.memory.chunks(CHUNK) {
            f(chunk);
        }
        Ok(())
    }

    /// How many keys each bucket holds.
    pub fn bucket_counts(&mut self) -> Result<Vec<u64>, SpillError> {
        let mut counts = vec![0u64; BUCKETS];
        self.for_each_chunk(|chunk| {
            for &key in chunk {
                counts[bucket_of(key)] += 1;
            }
        })?;
        Ok(counts)
    }

    /// The keys of each of `buckets` (ascending), one vector a bucket, `room[i]` keys each.
    pub fn gather(
        &mut self,
        buckets: &[usize],
        room: impl Fn(usize) -> usize,
    ) -> Result<Vec<Vec<u64>>, SpillError> {
        let mut slot = vec![u32::MAX; BUCKETS];
        for (i, &bucket) in buckets.iter().enumerate() {
            slot[bucket] = i as u32;
        }
        let mut gathered: Vec<Vec<u64>> = (0..buckets.len())
            .map(|i| Vec::with_capacity(room(i)))
            .collect();
        self.for_each_chunk(|chunk| {
            for &key in chunk {
                let i = slot[bucket_of(key)];
                if i != u32::MAX {
                    gathered[i as usize].push(key);
                }
            }
        })?;
        Ok(gathered)
    }

    /// The keys at the 0-based `ranks` (ascending, repeats allowed) once sorted: the buckets
    /// counted, then only the buckets holding a rank gathered, each selected (not sorted)
    /// around its ranks. `None` when a rank is out of range or below the one before.
    pub fn select_ranks<const N: usize>(
        &mut self,
        ranks: [usize; N],
    ) -> Result<Option<[u64; N]>, SpillError> {
        let n = self.len();
        if ranks.iter().any(|&rank| rank >= n) || ranks.windows(2).any(|w| w[1] < w[0]) {
            return Ok(None);
        }
        let counts = self.bucket_counts()?;
        // Each rank's bucket and its rank among the bucket's keys.
        let mut wanted: Vec<usize> = Vec::new();
        let mut at = [(0usize, 0usize); N];
        let (mut bucket, mut below) = (0, 0u64);
        for (place, &rank) in at.iter_mut().zip(&ranks) {
            while below + counts[bucket] <= rank as u64 {
                below += counts[bucket];
                bucket += 1;
            }
            if wanted.last() != Some(&bucket) {
                wanted.push(bucket);
            }
            *place = (wanted.len() - 1, (rank as u64 - below) as usize);
        }
        let mut gathered = self.gather(&wanted, |i| counts[wanted[i]] as usize)?;
        let mut found = [0u64; N];
        for (slot, &(i, rank)) in found.iter_mut().zip(&at) {
            let keys = &mut gathered[i];
            let (_, &mut key, _) = keys.select_nth_unstable(rank);
            *slot = key;
        }
        Ok(Some(found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::exact::{nearest_rank, xorshift};

    fn both(keys: &[u64]) -> [Keys; 2] {
        let dir = tempfile::tempdir().unwrap();
        let mut spilled = Keys::spilled_to(dir.path()).unwrap();
        let mut memory = Keys::in_memory(0);
        spilled.extend(keys.iter().copied());
        memory.extend(keys.iter().copied());
        [memory, spilled]
    }

    #[test]
    fn spilled_keys_read_back_in_order_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut next = xorshift(17);
        let keys: Vec<u64> = (0..3 * CHUNK + 5).map(|_| next()).collect();
        let mut spilled = Keys::spilled_to(dir.path()).unwrap();
        spilled.extend(keys.iter().copied());
        assert_eq!(spilled.len(), keys.len());
        for _ in 0..2 {
            let mut back = Vec::new();
            spilled
                .for_each_chunk(|chunk| back.extend_from_slice(chunk))
                .unwrap();
            assert_eq!(back, keys);
        }
        spilled.push(9);
        let mut last = 0;
        spilled
            .for_each_chunk(|chunk| last = chunk[chunk.len() - 1])
            .unwrap();
        assert_eq!(last, 9);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn ranks_are_selected_as_a_sort_puts_them() {
        let mut next = xorshift(0x9e37_79b9);
        for n in [1usize, 2, 1000, 2 * CHUNK + 3] {
            // Keys crowded into few buckets, with ties, and spread ones.
            let keys: Vec<u64> = (0..n)
                .map(|i| match i % 3 {
                    0 => next(),
                    1 => (0x4059 << 48) | (next() % 50),
                    _ => 0x4059 << 48,
                })
                .collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            let ranks = [0, n / 100, n / 2, n / 2, n - 1];
            for mut store in both(&keys) {
                let found = store.select_ranks(ranks).unwrap().unwrap();
                assert_eq!(found, ranks.map(|r| sorted[r]), "n {n}");
                assert_eq!(store.select_ranks([n]).unwrap(), None);
            }
        }
    }

    #[test]
    fn ascending_keys_order_values_as_total_cmp_does() {
        let values = [
            f64::NEG_INFINITY,
            -2.5,
            -0.0,
            0.0,
            1e-300,
            7.0,
            f64::INFINITY,
            f64::NAN,
        ];
        for pair in values.windows(2) {
            assert!(ascending_key(pair[0]) < ascending_key(pair[1]), "{pair:?}");
        }
        for x in values.into_iter().chain([-f64::NAN]) {
            assert_eq!(ascending_value(ascending_key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn appended_keys_follow_the_first() {
        let [mut memory, spilled] = both(&[1, 2, 3]);
        memory.append(spilled).unwrap();
        let mut back = Vec::new();
        memory
            .for_each_chunk(|c| back.extend_from_slice(c))
            .unwrap();
        assert_eq!(back, [1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn selected_ranks_are_the_sorted_values_at_them() {
        // Generated values with repeats, both zeros, infinities and NaNs, in several sizes;
        // every percentile's rank, repeated ranks included, against a full sort.
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for n in [1, 2, 3, 10, 99, 100, 1_000, 4_097] {
            let values: Vec<f64> = (0..n)
                .map(|_| match next() % 10 {
                    0 => -0.0,
                    1 => 0.0,
                    2 => f64::INFINITY,
                    3 => f64::NAN,
                    4 => f64::from_bits(next()),
                    _ => (next() % 50) as f64 - 20.0,
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let ranks: [Option<usize>; 100] =
                std::array::from_fn(|p| nearest_rank(n, p as u32 + 1));
            let mut keys = Keys::in_memory(n);
            keys.extend(values.iter().map(|&x| ascending_key(x)));
            let found = keys
                .select_ranks(ranks.map(|rank| rank.expect("n > 0")))
                .unwrap()
                .expect("ranks in range");
            for (p, (&key, rank)) in found.iter().zip(ranks).enumerate() {
                let value = ascending_value(key);
                let want = sorted[rank.expect("n > 0")];
                assert_eq!(
                    value.to_bits(),
                    want.to_bits(),
                    "n {n}, percentile {}",
                    p + 1
                );
            }
        }
        let mut keys = Keys::in_memory(3);
        keys.extend([3.0, 1.0, 2.0].map(ascending_key));
        assert_eq!(keys.select_ranks([2, 1]).unwrap(), None, "descending");
        assert_eq!(keys.select_ranks([3]).unwrap(), None, "out of range");
    }
}
