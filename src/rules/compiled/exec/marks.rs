//! Which rows of a chunk are done: they returned, or were left to the interpreter. A done row
//! leaves every selection after the statement it happened in
//! ([`Chunk::live`](super::Chunk::live)), and the rule hands the rows left to the interpreter
//! to it once the chunk has run.

use crate::rules::compiled::scalar::{dense, CHUNK};

/// Which rows of a chunk are done (they returned, or were left to the interpreter) and which
/// were left to the interpreter. Most chunks mark no row at all: a flag says so, and then
/// neither resetting the marks nor dropping done rows from a selection reads them.
pub struct Marks {
    done: Vec<bool>,
    deferred: Vec<bool>,
    any: bool,
}

impl Marks {
    pub(super) fn new() -> Self {
        Self {
            done: vec![false; CHUNK],
            deferred: vec![false; CHUNK],
            any: false,
        }
    }

    /// No row marked, for the next chunk.
    pub(super) fn reset(&mut self) {
        if self.any {
            self.done.fill(false);
            self.deferred.fill(false);
            self.any = false;
        }
    }

    /// Leaves row `p` to the interpreter, unless it is already done.
    #[inline]
    pub(super) fn defer(&mut self, p: usize) {
        if !self.done[p] {
            self.done[p] = true;
            self.deferred[p] = true;
            self.any = true;
        }
    }

    /// Row `p` has its result (it returned).
    #[inline]
    pub(super) fn finish(&mut self, p: usize) {
        self.done[p] = true;
        self.any = true;
    }

    /// Whether any row is marked.
    #[inline]
    pub fn any(&self) -> bool {
        self.any
    }

    /// Whether any row of `selection` is done.
    #[inline]
    pub(super) fn any_done(&self, selection: &[u16]) -> bool {
        if !self.any {
            return false;
        }
        match dense(selection) {
            // A scan of contiguous flags, cheaper than a lookup a row.
            Some(r) => self.done[r].iter().fold(false, |any, &d| any | d),
            None => selection.iter().any(|&i| self.done[usize::from(i)]),
        }
    }

    #[inline]
    pub(super) fn is_done(&self, p: usize) -> bool {
        self.done[p]
    }

    /// Whether row `p` was left to the interpreter.
    #[inline]
    pub fn is_deferred(&self, p: usize) -> bool {
        self.deferred[p]
    }
}
