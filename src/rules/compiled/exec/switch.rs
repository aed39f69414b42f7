//! `switch`: each row's arm found by rhai's hash of its value, then the arms' conditions in
//! each row's case order, and each arm's value for the rows that chose it.

use std::hash::{Hash, Hasher};

use crate::rules::compiled::ir::Switch;
use crate::rules::compiled::ops::Defer;
use crate::rules::compiled::scalar::Scalar;

use super::{Chunk, Dest};

impl<'b> Chunk<'b> {
    pub(super) fn switch(&mut self, switch: &'b Switch, selection: &[u16], mut dest: Dest<'_, 'b>) {
        let mut values = self.take_for(&switch.value);
        self.eval(&switch.value, selection, &mut values);
        // Each row's candidate arms, found by rhai's hash of its value.
        let mut pending: Vec<(u16, &'b [usize], usize)> = Vec::with_capacity(selection.len());
        let mut chosen: Vec<(usize, u16)> = Vec::with_capacity(selection.len());
        let mut unmatched: Vec<u16> = Vec::new();
        for &i in selection {
            let Ok(hash) = switch_hash(values.get(usize::from(i))) else {
                self.defer(i);
                continue;
            };
            let arms = hash.and_then(|hash| {
                switch
                    .cases
                    .binary_search_by_key(&hash, |(h, _)| *h)
                    .ok()
                    .map(|k| switch.cases[k].1.as_slice())
            });
            match arms {
                Some(arms) => pending.push((i, arms, 0)),
                None => unmatched.push(i),
            }
        }
        self.give(values);
        // Conditions, in each row's case order; most are `true`.
        while !pending.is_empty() {
            let arm = pending[0].1[pending[0].2];
            let rows: Vec<u16> = pending
                .iter()
                .filter(|(_, arms, next)| arms[*next] == arm)
                .map(|(i, ..)| *i)
                .collect();
            let condition = &switch.arms[arm].0;
            let mut conditions = self.take_for(condition);
            self.eval(condition, &rows, &mut conditions);
            let mut still = Vec::with_capacity(pending.len());
            for (i, arms, next) in pending {
                if arms[next] != arm {
                    still.push((i, arms, next));
                    continue;
                }
                match conditions.get(usize::from(i)) {
                    Scalar::Bool(true) => chosen.push((arm, i)),
                    Scalar::Bool(false) if next + 1 < arms.len() => still.push((i, arms, next + 1)),
                    Scalar::Bool(false) => unmatched.push(i),
                    _ => self.defer(i),
                }
            }
            self.give(conditions);
            pending = still;
        }
        match switch.default {
            Some(default) => chosen.extend(unmatched.iter().map(|&i| (default, i))),
            None => {
                unmatched.sort_unstable();
                self.unit(&unmatched, dest.reborrow());
            }
        }
        chosen.sort_unstable();
        for group in chosen.chunk_by(|a, b| a.0 == b.0) {
            let arm = group[0].0;
            let mut rows: Vec<u16> = group.iter().map(|(_, i)| *i).collect();
            self.live(&mut rows);
            self.value(&switch.arms[arm].1, &rows, dest.reborrow());
        }
    }
}

/// rhai's hash of a switch value (`None`: a value rhai does not hash, which takes the default
/// case); `Err` for a value not compiled.
fn switch_hash(value: Scalar<'_>) -> Result<Option<u64>, Defer> {
    let dynamic = match value {
        Scalar::Unit => rhai::Dynamic::UNIT,
        Scalar::Bool(b) => rhai::Dynamic::from_bool(b),
        Scalar::Int(i) => rhai::Dynamic::from_int(i),
        Scalar::Float(f) => rhai::Dynamic::from_float(f),
        Scalar::Str(s) => rhai::Dynamic::from(s.to_string()),
        Scalar::Date(_) | Scalar::Timestamp(_) => return Ok(None),
        Scalar::List(..) | Scalar::Reasons(_) => return Err(Defer),
    };
    let mut hasher = ahash::AHasher::default();
    dynamic.hash(&mut hasher);
    Ok(Some(hasher.finish()))
}
