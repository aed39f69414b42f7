//! Duplicate ids, found in bounded memory: one 64-bit hash per row while the run scores (8
//! bytes a row), sorted at the end; only ids whose hashes collide are looked up again, in a pass
//! over the id column alone, to tell a real duplicate from a hash collision.

use std::collections::{BTreeMap, HashSet};

use ahash::RandomState;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::ExecError;
use crate::source::Scan;

/// Duplicate ids named in the error.
const EXAMPLES: usize = 5;

/// The hashes of every non-null id the run has scored.
pub struct IdHashes {
    hashes: Vec<u64>,
    state: RandomState,
}

impl IdHashes {
    /// No ids yet, room for `rows`.
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            hashes: Vec::with_capacity(rows),
            state: RandomState::with_seeds(0x7469, 0x6572, 0x7363, 0x6f72),
        }
    }

    /// Adds the ids of one batch.
    pub fn add(&mut self, ids: &dyn Array) -> Result<(), ExecError> {
        let mut hashes = std::mem::take(&mut self.hashes);
        let result = self.each_hash(ids, |_, hash| hashes.push(hash));
        self.hashes = hashes;
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
        self.hashes.sort_unstable();
        let suspects: HashSet<u64> = self
            .hashes
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect();
        self.hashes = Vec::new();
        if suspects.is_empty() {
            return Ok(());
        }
        let mut places: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let files = scan.source.files();
        for batch in scan.batches(&[id.to_string()]) {
            let batch = batch?;
            let ids = batch.batch.column(0);
            let format = ArrayFormatter::try_new(ids.as_ref(), &FormatOptions::default())
                .map_err(|e| ExecError::Ids(e.to_string()))?;
            self.each_hash(ids.as_ref(), |row, hash| {
                if suspects.contains(&hash) {
                    let file = files[batch.file].path.display();
                    places
                        .entry(format.value(row).to_string())
                        .or_default()
                        .push(format!("{file} row {}", batch.row_number(row)));
                }
            })?;
        }
        let duplicates: Vec<(String, Vec<String>)> =
            places.into_iter().filter(|(_, at)| at.len() > 1).collect();
        if duplicates.is_empty() {
            return Ok(());
        }
        let first = duplicates
            .iter()
            .take(EXAMPLES)
            .map(|(id, at)| format!("{id} ({})", at.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        Err(ExecError::DuplicateIds {
            count: duplicates.len(),
            column: id.to_string(),
            first,
        })
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray, UInt64Array};

    use super::*;

    /// The repeated hashes of `ids`, after adding them all.
    fn repeats(ids: &dyn Array) -> usize {
        let mut hashes = IdHashes::with_capacity(ids.len());
        hashes.add(ids).unwrap();
        hashes.hashes.sort_unstable();
        hashes.hashes.windows(2).filter(|p| p[0] == p[1]).count()
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
        let mut hashes = IdHashes::with_capacity(4);
        hashes
            .add(&Int64Array::from(vec![Some(1), None, Some(2)]))
            .unwrap();
        assert_eq!(hashes.hashes.len(), 2, "one hash per non-null id");
    }
}
