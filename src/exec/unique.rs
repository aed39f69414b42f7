//! Duplicate ids, found in bounded memory: one 64-bit hash per row while the run scores (8
//! bytes a row), sorted at the end; only ids whose hashes collide are looked up again, in a pass
//! over the id column alone, to tell a real duplicate from a hash collision.

use std::collections::{BTreeMap, HashSet};

use ahash::RandomState;
use arrow::array::Array;
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
        let format = ArrayFormatter::try_new(ids, &FormatOptions::default())
            .map_err(|e| ExecError::Ids(e.to_string()))?;
        for row in (0..ids.len()).filter(|&row| ids.is_valid(row)) {
            self.hashes
                .push(self.state.hash_one(format.value(row).to_string()));
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
        drop(self.hashes);
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
            for row in (0..ids.len()).filter(|&row| ids.is_valid(row)) {
                let value = format.value(row).to_string();
                if suspects.contains(&self.state.hash_one(&value)) {
                    let file = files[batch.file].path.display();
                    places
                        .entry(value)
                        .or_default()
                        .push(format!("{file} row {}", batch.row_number(row)));
                }
            }
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
