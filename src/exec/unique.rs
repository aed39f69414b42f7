//! Duplicate ids, found in bounded memory: one 64-bit hash per row while the run scores,
//! spilled by their top bits into parts of about 2^20 hashes (files in the staging directory,
//! see [`Keys`]), and looked through at the end a part at a time for repeats (see
//! [`repeated`]); only ids whose hashes collide are looked up again, in a pass over the id
//! column alone, to tell a real duplicate from a hash collision.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use ahash::RandomState;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rayon::prelude::*;

use super::ExecError;
use crate::sink::SinkError;
use crate::source::Scan;
use crate::stats::keys::Keys;

/// Duplicate ids named in the error.
const EXAMPLES: usize = 5;

/// Places named for one duplicate id, the rest counted: 20,000 rows of one id were each named
/// (543 KB of error) and each held in memory until then.
const PLACES: usize = 3;

/// Hashes a part holds, about, for the rows a run expects.
const PART_HASHES: u64 = 1 << 20;

/// The hashes of every non-null id the run has scored, by part.
pub struct IdHashes {
    /// A hash's part is its top bits: `hash >> part_shift`.
    parts: Vec<Keys>,
    part_shift: u32,
    state: RandomState,
}

impl IdHashes {
    /// No ids yet: parts of about 2^20 hashes for `rows` rows (at most 256), each spilled to
    /// an unnamed file in `dir`.
    pub fn spilled_to(dir: &Path, rows: u64) -> Result<Self, SinkError> {
        let count = rows.div_ceil(PART_HASHES).next_power_of_two().clamp(1, 256);
        let parts = (0..count)
            .map(|_| Keys::spilled_to(dir))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::of(parts))
    }

    /// No ids yet, held in memory in one part.
    #[cfg(test)]
    fn in_memory() -> Self {
        Self::of(vec![Keys::in_memory(0)])
    }

    fn of(parts: Vec<Keys>) -> Self {
        Self {
            part_shift: 64 - parts.len().trailing_zeros(),
            parts,
            state: RandomState::with_seeds(0x7469, 0x6572, 0x7363, 0x6f72),
        }
    }

    /// Adds the ids of one batch.
    pub fn add(&mut self, ids: &dyn Array) -> Result<(), ExecError> {
        let mut parts = std::mem::take(&mut self.parts);
        let shift = self.part_shift;
        let result = self.each_hash(ids, |_, hash| {
            parts[hash.checked_shr(shift).unwrap_or(0) as usize].push(hash)
        });
        self.parts = parts;
        result
    }

    /// Calls `f` with the row and hash of each non-null id: strings and integers hashed as
    /// they are (no text made per row), other types by their text. The one hash both the
    /// scoring pass and the look-up pass use.
    fn each_hash(&self, ids: &dyn Array, mut f: impl FnMut(usize, u64)) -> Result<(), ExecError> {
        macro_rules! hash_all {
            ($array:expr) => {{
                let array = $array;
                for row in (0..array.len()).filter(|&row| array.is_valid(row)) {
                    f(row, self.state.hash_one(array.value(row)));
                }
            }};
        }
        match ids.data_type() {
            DataType::Utf8 => hash_all!(ids.as_string::<i32>()),
            DataType::LargeUtf8 => hash_all!(ids.as_string::<i64>()),
            DataType::Utf8View => hash_all!(ids.as_string_view()),
            DataType::Int64 => hash_all!(ids.as_primitive::<Int64Type>()),
            DataType::Int32 => hash_all!(ids.as_primitive::<Int32Type>()),
            DataType::UInt64 => hash_all!(ids.as_primitive::<UInt64Type>()),
            DataType::UInt32 => hash_all!(ids.as_primitive::<UInt32Type>()),
            _ => {
                let format = ArrayFormatter::try_new(ids, &FormatOptions::default())
                    .map_err(|e| ExecError::Ids(e.to_string()))?;
                for row in (0..ids.len()).filter(|&row| ids.is_valid(row)) {
                    f(row, self.state.hash_one(format.value(row).to_string()));
                }
            }
        }
        Ok(())
    }

    /// Fails when an id occurs twice, naming the first ones (by id) and where they are.
    pub fn check(mut self, scan: &Scan<'_>, id: &str) -> Result<(), ExecError> {
        let mut suspects = HashSet::new();
        for mut part in std::mem::take(&mut self.parts) {
            let mut hashes = Vec::with_capacity(part.len());
            part.for_each_chunk(|chunk| hashes.extend_from_slice(chunk))
                .map_err(SinkError::from)?;
            drop(part);
            suspects.extend(repeated(hashes));
        }
        if suspects.is_empty() {
            return Ok(());
        }
        // Each suspect id's first places and how many rows it is on.
        let mut places: BTreeMap<String, (Vec<String>, u64)> = BTreeMap::new();
        let files = scan.source.files();
        for batch in scan.batches(&[id.to_string()]) {
            let batch = batch?;
            let ids = batch.batch.column(0);
            let format = ArrayFormatter::try_new(ids.as_ref(), &FormatOptions::default())
                .map_err(|e| ExecError::Ids(e.to_string()))?;
            self.each_hash(ids.as_ref(), |row, hash| {
                if suspects.contains(&hash) {
                    let (named, rows) = places.entry(format.value(row).to_string()).or_default();
                    *rows += 1;
                    if named.len() < PLACES {
                        let file = files[batch.file].path.display();
                        named.push(format!("{file} row {}", batch.row_number(row)));
                    }
                }
            })?;
        }
        let duplicates: Vec<(String, (Vec<String>, u64))> = places
            .into_iter()
            .filter(|(_, (_, rows))| *rows > 1)
            .collect();
        if duplicates.is_empty() {
            return Ok(());
        }
        let first = duplicates
            .iter()
            .take(EXAMPLES)
            .map(|(id, (named, rows))| {
                let more = *rows - named.len() as u64;
                if more == 0 {
                    format!("{id} ({})", named.join(", "))
                } else {
                    format!(
                        "{id} ({} and {} more rows)",
                        named.join(", "),
                        crate::human::count(more)
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        Err(ExecError::DuplicateIds {
            count: duplicates.len(),
            column: id.to_string(),
            first,
        })
    }
}

/// A part with more hashes than this is sorted in place rather than looked through with a table
/// (16 to 32 bytes a hash): ids made to share their hashes' top byte cannot make the check take
/// more than 32 MiB a thread.
const MOST_IN_A_TABLE: usize = 1 << 20;

/// The hashes that occur more than once in `hashes`, found without sorting them. The hashes are
/// uniform, so one pass in place groups them by 8 of their bits (48 to 55, below those that
/// chose the spilled part) into 256 parts of about n / 256 (an American flag sort's first
/// digit); each part is then looked through with a
/// table of its own, of a size the cache holds, the parts on the current rayon pool's threads.
fn repeated(mut hashes: Vec<u64>) -> HashSet<u64> {
    const PARTS: usize = 256;
    let part_of = |hash: u64| (hash >> 48) as u8 as usize;
    let mut ends = [0usize; PARTS];
    for &hash in &hashes {
        ends[part_of(hash)] += 1;
    }
    let mut start = 0;
    for end in ends.iter_mut() {
        start += *end;
        *end = start;
    }
    // Each part filled from its start: a hash in the wrong part is swapped to where its own
    // part is filled next.
    let mut next: [usize; PARTS] = std::array::from_fn(|p| if p == 0 { 0 } else { ends[p - 1] });
    for part in 0..PARTS {
        while next[part] < ends[part] {
            let hash = hashes[next[part]];
            let home = part_of(hash);
            if home == part {
                next[part] += 1;
            } else {
                hashes.swap(next[part], next[home]);
                next[home] += 1;
            }
        }
    }
    let mut parts = Vec::with_capacity(PARTS);
    let mut rest = hashes.as_mut_slice();
    let mut from = 0;
    for &end in &ends {
        let (part, after) = rest.split_at_mut(end - from);
        parts.push(part);
        (rest, from) = (after, end);
    }
    parts
        .into_par_iter()
        .map(repeated_in_part)
        .reduce(HashSet::new, |mut a, b| {
            a.extend(b);
            a
        })
}

/// The hashes that occur more than once in `hashes`: an open-addressing table of 2 to 4 slots a
/// hash, indexed by their low bits (0 marks a free slot; the hash 0 is counted apart), or, past
/// [`MOST_IN_A_TABLE`] hashes, a sort in place.
fn repeated_in_part(hashes: &mut [u64]) -> HashSet<u64> {
    if hashes.len() > MOST_IN_A_TABLE {
        hashes.sort_unstable();
        return hashes
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect();
    }
    let size = (2 * hashes.len()).next_power_of_two().max(16);
    let mask = size - 1;
    let mut table = vec![0u64; size];
    let (mut zeros, mut repeated) = (0, HashSet::new());
    for &hash in hashes.iter() {
        if hash == 0 {
            zeros += 1;
            continue;
        }
        let mut slot = hash as usize & mask;
        loop {
            match table[slot] {
                0 => {
                    table[slot] = hash;
                    break;
                }
                held if held == hash => {
                    repeated.insert(hash);
                    break;
                }
                _ => slot = (slot + 1) & mask,
            }
        }
    }
    if zeros > 1 {
        repeated.insert(0);
    }
    repeated
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray, UInt64Array};

    use super::*;
    use crate::stats::exact::xorshift;

    /// The repeated hashes of `ids`, after adding them all.
    fn repeats(ids: &dyn Array) -> usize {
        let mut hashes = IdHashes::in_memory();
        hashes.add(ids).unwrap();
        let mut all = Vec::new();
        hashes.parts[0]
            .for_each_chunk(|c| all.extend_from_slice(c))
            .unwrap();
        all.sort_unstable();
        all.windows(2).filter(|p| p[0] == p[1]).count()
    }

    #[test]
    fn repeated_hashes_are_found_as_a_sort_finds_them() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for n in [0, 1, 2, 255, 256, 10_000, 100_003] {
            let mut hashes: Vec<u64> = (0..n).map(|_| next()).collect();
            // Repeats: some twice, one three times, the hash 0 twice, and a part of its own
            // crowded with one top byte.
            if n > 10 {
                for i in 0..n / 10 {
                    hashes.push(hashes[i * 7 % n]);
                }
                hashes.push(hashes[3]);
                hashes.extend([0, 0, 5, u64::MAX, u64::MAX]);
                hashes.extend((0..1000).map(|i| (0xab << 48) | i));
            }
            if n == 1 {
                hashes.push(0);
            }
            let mut sorted = hashes.clone();
            sorted.sort_unstable();
            let expected: HashSet<u64> = sorted
                .windows(2)
                .filter(|pair| pair[0] == pair[1])
                .map(|pair| pair[0])
                .collect();
            assert_eq!(repeated(hashes), expected, "n {n}");
        }
    }

    #[test]
    fn spilled_hashes_go_to_the_part_of_their_top_bits() {
        let dir = tempfile::tempdir().unwrap();
        let mut hashes = IdHashes::spilled_to(dir.path(), 3 << 20).unwrap();
        assert_eq!(hashes.parts.len(), 4);
        let ids: Vec<i64> = (0..100_000).collect();
        hashes.add(&Int64Array::from(ids)).unwrap();
        let mut total = 0;
        for (index, part) in hashes.parts.iter_mut().enumerate() {
            total += part.len();
            part.for_each_chunk(|chunk| {
                assert!(chunk.iter().all(|&hash| (hash >> 62) as usize == index));
            })
            .unwrap();
        }
        assert_eq!(total, 100_000);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_part_too_crowded_for_a_table_is_sorted_instead() {
        // Every hash with one top byte, more of them than a table takes, with repeats.
        let mut hashes: Vec<u64> = (0..MOST_IN_A_TABLE as u64 + 10)
            .map(|i| (7 << 48) | (i * 3))
            .collect();
        hashes.extend([7 << 48, (7 << 48) | 30, 0, 0]);
        let expected = HashSet::from([7 << 48, (7 << 48) | 30, 0]);
        assert_eq!(repeated(hashes), expected);
    }

    #[test]
    fn integer_and_string_ids_are_hashed_as_they_are_and_nulls_skipped() {
        assert_eq!(
            repeats(&Int64Array::from(vec![
                Some(7),
                None,
                Some(8),
                None,
                Some(7)
            ])),
            1
        );
        assert_eq!(repeats(&Int64Array::from(vec![7, 8, 9])), 0);
        let big = u64::MAX - 1;
        assert_eq!(repeats(&UInt64Array::from(vec![big, 1, big])), 1);
        assert_eq!(repeats(&StringArray::from(vec!["C1", "C2", "C1", "C3"])), 1);
        let mut hashes = IdHashes::in_memory();
        hashes
            .add(&Int64Array::from(vec![Some(1), None, Some(2)]))
            .unwrap();
        assert_eq!(hashes.parts[0].len(), 2, "one hash per non-null id");
    }
}
