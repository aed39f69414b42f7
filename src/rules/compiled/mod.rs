//! The compiled backend: a rule's rhai AST lowered to a program that runs over Arrow columns a
//! chunk of rows at a time, with no `Dynamic` per row.
//!
//! - [`lower`]: the AST to the program ([`ir`]), or the construct that keeps a rule on the
//!   interpreter;
//! - [`exec`]: running the program over a chunk; [`ops`]: what operators and helpers do to one
//!   row's values; [`scalar`]: those values, and reading them from Arrow.
//!
//! A row whose outcome the compiled program does not decide itself — it fails, or takes a path
//! not compiled — is handed to the interpreter, and gets the interpreter's value or located
//! message. The compiled rule therefore only has to agree with the interpreter on the rows it
//! finishes, and the differential tests hold it to that, bit for bit.

mod exec;
mod ir;
mod lower;
mod ops;
mod scalar;
mod types;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBufferBuilder, Float64Array, RecordBatch, StringBuilder,
    UInt32Array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{Float64Type, UInt32Type};
use bumpalo::Bump;

use super::guard;
use super::interpreter::InterpretedRule;
use super::{
    cap_message, Reasons, Returns, Rule, RuleEngine, RuleInfo, RuleOutput, MAX_REASON_BYTES,
};
use crate::pipeline::Limits;
use exec::{Chunk, Direct, Numbers, Shape, CHUNK};
pub use lower::{Lowered, Unsupported};
use ops::Strings;
use scalar::{dense, Buf, Input, Kind, Scalar};
use types::{Ty, Types};

/// A rule compiled to run over Arrow columns; rows it does not finish go to `fallback`.
pub struct CompiledRule {
    info: RuleInfo,
    program: ir::Block,
    slots: usize,
    max_string: usize,
    max_array: usize,
    /// Whether the program gives `#{ value, reason }` maps (otherwise no reason is built).
    maps: bool,
    /// The same rule on the interpreter, for the rows the program hands over.
    fallback: InterpretedRule,
    /// Rows handed to the interpreter so far (for tests and benchmarks).
    deferred: AtomicU64,
}

impl std::fmt::Debug for CompiledRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRule")
            .field("name", &self.info.name)
            .finish_non_exhaustive()
    }
}

impl CompiledRule {
    /// Lowers `rule` (its AST is the interpreter's) to a program, or says which construct the
    /// compiler does not take.
    pub fn lower(rule: &InterpretedRule, limits: &Limits) -> Result<Lowered, Unsupported> {
        let columns: Vec<String> = rule.info().reads.iter().map(|(n, _)| n.clone()).collect();
        lower::lower(rule.ast(), &columns, limits.max_operations)
    }

    /// `rule` running as `program`; the interpreter keeps the rows the program hands over.
    pub fn new(rule: InterpretedRule, program: Lowered, limits: &Limits) -> Self {
        let maps = program
            .program
            .any_node(&|node| matches!(node, ir::Node::Result { .. }));
        Self {
            info: rule.info().clone(),
            program: program.program,
            slots: program.slots,
            max_string: limits.max_string_size,
            max_array: limits.max_array_size,
            maps,
            fallback: rule,
            deferred: AtomicU64::new(0),
        }
    }

    /// Runs the program over the `selection` rows, writing what it finishes into `outputs` and
    /// returning the rows it hands to the interpreter.
    fn run<'b>(
        &'b self,
        inputs: &'b [Input<'b>],
        arena: &'b Bump,
        selection: &[u32],
        outputs: &mut Outputs<'b>,
    ) -> Vec<u32> {
        let mut deferred = Vec::new();
        let strings = Strings {
            arena,
            max_len: self.max_string,
        };
        let input_types: Vec<Ty> = inputs.iter().map(Ty::of_input).collect();
        let types = arena.alloc(Types::infer(&self.program, &input_types, self.slots));
        let mut chunk = Chunk::new(
            &self.program,
            inputs,
            types,
            strings,
            self.max_array,
            self.maps,
        );
        let mut positions: Vec<u16> = Vec::with_capacity(CHUNK);
        // Rows are ascending and distinct; when they have no gaps (every row of the batch,
        // the usual case) a chunk's positions follow from its bounds, with no pass over the
        // selection (8 bytes a row read from memory).
        let gapless = match (selection.first(), selection.last()) {
            (Some(&first), Some(&last)) => (last - first) as usize + 1 == selection.len(),
            _ => true,
        };
        let mut start = 0;
        while start < selection.len() {
            // Without gaps, the chunk's first row follows from the first of all: reading it
            // from the selection (untouched since the last chunk's start) missed the cache.
            let first = if gapless {
                selection[0] as usize + start
            } else {
                selection[start] as usize
            };
            let base = first / CHUNK * CHUNK;
            positions.clear();
            let end = if gapless {
                let end = selection.len().min(start + (base + CHUNK - first));
                positions.extend((first - base) as u16..(first - base + end - start) as u16);
                end
            } else {
                // A chunk holds at most CHUNK rows, so the search stays within the next CHUNK
                // (a search over the whole rest misses cache).
                let window = &selection[start..selection.len().min(start + CHUNK)];
                let in_chunk = |&row: &u32| (row as usize) < base + CHUNK;
                let end = start
                    + match window.last() {
                        Some(last) if in_chunk(last) => window.len(),
                        _ => window.partition_point(in_chunk),
                    };
                positions.extend(
                    selection[start..end]
                        .iter()
                        .map(|&row| (row as usize - base) as u16),
                );
                end
            };
            let range = dense(&positions);
            // A run of rows of a rule whose program gives plain floats: the output is lent to
            // the chunk, which may append the rows' values as it computes them.
            match (&range, &self.info.returns) {
                (Some(range), Returns::Factor | Returns::Score)
                    if !self.maps && chunk.result.kind() == Kind::Float =>
                {
                    outputs.pad(base + range.start);
                    chunk.direct = Some(Direct {
                        numbers: std::mem::take(&mut outputs.numbers),
                        rows: range.clone(),
                        appended: None,
                    });
                }
                _ => {}
            }
            chunk.run(base, &positions);
            // When the program appended the values itself: whether all are finite.
            let appended = chunk.direct.take().and_then(|direct| {
                outputs.numbers = direct.numbers;
                if direct.appended.is_some() {
                    debug_assert_eq!(outputs.numbers.len(), base + direct.rows.end);
                }
                direct.appended
            });
            if let (Some(numbers), Returns::Factor | Returns::Score, Some(range)) =
                (Numbers::of(&chunk.result), &self.info.returns, range)
            {
                // Number results of a whole run of rows: copied in one go (integers as
                // floats, as `finish` reads them: always finite), floats checked as they go
                // that all are finite (unless the program appended them); then the rows
                // deferred, not finite or given a map the rule cannot take (rare) are taken
                // out. A map's reason is read row by row.
                outputs.pad(base + range.start);
                let first = base + range.start;
                let finite = match (appended, numbers) {
                    (Some(finite), _) => finite,
                    (None, Numbers::Float(values)) => {
                        copy_finite(&values[range.clone()], &mut outputs.numbers)
                    }
                    (None, Numbers::Int(values)) => {
                        let values = &values[range.clone()];
                        outputs.numbers.extend(values.iter().map(|&i| i as f64));
                        true
                    }
                };
                // Positions whose map the rule cannot take, ascending.
                let mut refused = Vec::new();
                if self.maps {
                    for p in range.clone() {
                        let reason = if chunk.marks.is_deferred(p) {
                            Some(None)
                        } else {
                            self.reason(&chunk, p, arena)
                        };
                        if reason.is_none() {
                            refused.push(p);
                        }
                        outputs.push_reason(reason.flatten());
                    }
                }
                if !finite || !refused.is_empty() || chunk.marks.any() {
                    for (k, p) in range.enumerate() {
                        if chunk.marks.is_deferred(p)
                            || !outputs.numbers[first + k].is_finite()
                            || refused.binary_search(&p).is_ok()
                        {
                            outputs.numbers[first + k] = 0.0;
                            if let Some(reasons) = &mut outputs.reasons {
                                reasons[first + k] = None;
                            }
                            outputs.missing.push((first + k) as u32);
                            deferred.push((base + p) as u32);
                        }
                    }
                }
                start = end;
                continue;
            }
            for &p in &positions {
                let p = usize::from(p);
                outputs.pad(base + p);
                let finished = if chunk.marks.is_deferred(p) {
                    None
                } else {
                    self.finish(&chunk, p, arena)
                };
                if finished.is_none() {
                    deferred.push((base + p) as u32);
                }
                outputs.push(finished);
            }
            start = end;
        }
        deferred
    }

    /// A finished row's result read as the rule's contract asks; `None` hands the row to the
    /// interpreter (which fails it with its message).
    fn finish<'b>(&self, chunk: &Chunk<'b>, p: usize, arena: &'b Bump) -> Option<Finished<'b>> {
        let number = match &chunk.result {
            Buf::Float(v) => Some(v[p]).filter(|f| f.is_finite()),
            Buf::Int(v) => Some(v[p] as f64),
            other => match other.get(p) {
                Scalar::Int(i) => Some(i as f64),
                Scalar::Float(f) => Some(f).filter(|f| f.is_finite()),
                _ => None,
            },
        };
        let shape = chunk.shape.get(p).copied().unwrap_or(Shape::Plain);
        match &self.info.returns {
            Returns::Factor | Returns::Score => {
                let reason = self.reason(chunk, p, arena)?;
                number.map(|number| Finished::Number(number, reason))
            }
            Returns::Tier(levels) => match (shape, chunk.result.get(p)) {
                (Shape::Plain, Scalar::Str(name)) => levels
                    .iter()
                    .position(|level| level == name)
                    .map(|index| Finished::Tier(index as u32)),
                _ => None,
            },
        }
    }

    /// A row's reason as the rule's contract reads it: `None` when the way the row gave its
    /// result is one the rule cannot take (the interpreter then fails it with its message), a
    /// score given as a map included.
    fn reason<'b>(&self, chunk: &Chunk<'b>, p: usize, arena: &'b Bump) -> Option<Option<&'b str>> {
        let shape = chunk.shape.get(p).copied().unwrap_or(Shape::Plain);
        match (&self.info.returns, shape) {
            (_, Shape::Plain) => Some(None),
            (Returns::Factor, Shape::Map) => match chunk.reason[p] {
                Scalar::Unit => Some(None),
                Scalar::Str(text) => Some((!text.is_empty()).then(|| capped(text, arena))),
                Scalar::Reasons(list) => {
                    let list = &chunk.lists[list as usize];
                    if list.mixed {
                        None
                    } else if list.texts.is_empty() {
                        Some(None)
                    } else {
                        Some(Some(capped(join(&list.texts, arena), arena)))
                    }
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// What the program gave a batch's rows, before the interpreter's rows join them. Rows are
/// added in order (selections ascend), so nothing is zero-filled first: the rows the program
/// gives no value get a placeholder (0, no reason) and are listed in `missing` (few, as a
/// rule: a list costs nothing per row where flags would).
struct Outputs<'b> {
    /// Factor values and scores.
    numbers: Vec<f64>,
    /// Tier indexes.
    tiers: Vec<u32>,
    /// The rows the program gave no value, ascending.
    missing: Vec<u32>,
    /// Each row's reason, when the program gives reasons at all and they are wanted.
    reasons: Option<Vec<Option<&'b str>>>,
    /// The bytes of the reasons pushed (those taken back for the interpreter included).
    reason_bytes: usize,
    /// Whether results are tier indexes (otherwise numbers).
    tier: bool,
}

/// A row's result as the rule's contract reads it: a number (with its reason), or a tier.
enum Finished<'b> {
    Number(f64, Option<&'b str>),
    Tier(u32),
}

impl<'b> Outputs<'b> {
    /// Room for `rows` rows of a rule returning `returns`, with reasons when `reasons`.
    fn new(returns: &Returns, rows: usize, reasons: bool) -> Self {
        let tier = matches!(returns, Returns::Tier(_));
        Self {
            numbers: Vec::with_capacity(if tier { 0 } else { rows }),
            tiers: Vec::with_capacity(if tier { rows } else { 0 }),
            missing: Vec::new(),
            reasons: reasons.then(|| Vec::with_capacity(rows)),
            reason_bytes: 0,
            tier,
        }
    }

    /// Rows added so far.
    fn len(&self) -> usize {
        if self.tier {
            self.tiers.len()
        } else {
            self.numbers.len()
        }
    }

    /// Rows before `row` not added yet (not selected) get no value.
    fn pad(&mut self, row: usize) {
        let len = self.len();
        if row <= len {
            return;
        }
        self.missing.extend(len as u32..row as u32);
        if self.tier {
            self.tiers.resize(row, 0);
        } else {
            self.numbers.resize(row, 0.0);
        }
        if let Some(reasons) = &mut self.reasons {
            reasons.resize(row, None);
        }
    }

    /// Adds the next row's result; `None`: no value (yet).
    fn push(&mut self, finished: Option<Finished<'b>>) {
        let (number, tier, reason) = match finished {
            Some(Finished::Number(number, reason)) => (number, 0, reason),
            Some(Finished::Tier(tier)) => (0.0, tier, None),
            None => {
                self.missing.push(self.len() as u32);
                (0.0, 0, None)
            }
        };
        if self.tier {
            self.tiers.push(tier);
        } else {
            self.numbers.push(number);
        }
        self.push_reason(reason);
    }

    /// Adds the next row's reason, when reasons are kept.
    #[inline]
    fn push_reason(&mut self, reason: Option<&'b str>) {
        if let Some(reasons) = &mut self.reasons {
            self.reason_bytes += reason.map_or(0, str::len);
            reasons.push(reason);
        }
    }
}

/// Appends `values` to `to`, and tells whether all of them are finite: one pass, with no
/// branch ([`exec::not_finite_bits`]).
fn copy_finite(values: &[f64], to: &mut Vec<f64>) -> bool {
    let mut bits = 0;
    to.extend(values.iter().map(|&v| {
        bits |= exec::not_finite_bits(v);
        v
    }));
    exec::all_finite(bits)
}

/// Reasons joined as the interpreter joins them.
/// `text` within [`MAX_REASON_BYTES`], cut as the interpreter cuts it.
fn capped<'b>(text: &'b str, arena: &'b Bump) -> &'b str {
    if text.len() <= MAX_REASON_BYTES {
        text
    } else {
        arena.alloc_str(&cap_message(text, MAX_REASON_BYTES))
    }
}

fn join<'b>(texts: &[&str], arena: &'b Bump) -> &'b str {
    let mut joined = bumpalo::collections::String::new_in(arena);
    for (k, text) in texts.iter().enumerate() {
        if k > 0 {
            joined.push_str("; ");
        }
        joined.push_str(text);
    }
    joined.into_bump_str()
}

impl Rule for CompiledRule {
    fn info(&self) -> &RuleInfo {
        &self.info
    }

    fn engine(&self) -> RuleEngine {
        RuleEngine::Compiled
    }

    fn rows_interpreted(&self) -> u64 {
        self.deferred.load(Ordering::Relaxed)
    }

    fn interpreted(&self) -> &InterpretedRule {
        &self.fallback
    }

    fn evaluate(&self, batch: &RecordBatch, selection: &[u32], wanted: Reasons) -> RuleOutput {
        let rows = batch.num_rows();
        let columns: Option<Vec<&ArrayRef>> = self
            .info
            .reads
            .iter()
            .map(|(name, _)| batch.column_by_name(name))
            .collect();
        let inputs: Option<Vec<Input<'_>>> =
            columns.and_then(|columns| columns.into_iter().map(|c| Input::of(c).ok()).collect());
        let Some(inputs) = inputs else {
            // A column the program cannot read: the interpreter takes every row.
            self.deferred
                .fetch_add(selection.len() as u64, Ordering::Relaxed);
            return self.fallback.evaluate(batch, selection, wanted);
        };
        let arena = Bump::new();
        let reasons = self.maps && self.info.returns == Returns::Factor && wanted == Reasons::Keep;
        let mut outputs = Outputs::new(&self.info.returns, rows, reasons);
        let run = guard::catch(|| {
            let deferred = self.run(&inputs, &arena, selection, &mut outputs);
            outputs.pad(rows);
            deferred
        });
        let Ok(deferred) = run else {
            // The program failed internally: the interpreter takes every row, as it would have
            // run the whole rule (its own failures are caught row by row).
            self.deferred
                .fetch_add(selection.len() as u64, Ordering::Relaxed);
            return self.fallback.evaluate(batch, selection, wanted);
        };
        let fallback = (!deferred.is_empty()).then(|| {
            self.deferred
                .fetch_add(deferred.len() as u64, Ordering::Relaxed);
            self.fallback.evaluate(batch, &deferred, wanted)
        });
        assemble(&self.info.returns, rows, outputs, fallback)
    }
}

/// The rule's output: the program's values, and the interpreter's for the rows it took.
fn assemble(
    returns: &Returns,
    rows: usize,
    mut outputs: Outputs<'_>,
    fallback: Option<RuleOutput>,
) -> RuleOutput {
    let failures = match &fallback {
        Some(output) => output.failures.clone(),
        None => Vec::new(),
    };
    // The interpreter's rows: its values (null where it failed) and reasons.
    if let Some(output) = &fallback {
        outputs.missing.retain(|&row| {
            let row = row as usize;
            if output.values.is_null(row) {
                return true;
            }
            match returns {
                Returns::Factor | Returns::Score => {
                    outputs.numbers[row] = output.values.as_primitive::<Float64Type>().value(row)
                }
                Returns::Tier(_) => {
                    outputs.tiers[row] = output.values.as_primitive::<UInt32Type>().value(row)
                }
            }
            false
        });
    }
    // No null buffer when every row has a value (the usual case).
    let nulls = (!outputs.missing.is_empty()).then(|| {
        let mut valid = BooleanBufferBuilder::new(rows);
        valid.append_n(rows, true);
        for &row in &outputs.missing {
            valid.set_bit(row as usize, false);
        }
        NullBuffer::new(valid.finish())
    });
    let values: ArrayRef = match returns {
        Returns::Factor | Returns::Score => {
            Arc::new(Float64Array::new(outputs.numbers.into(), nulls))
        }
        Returns::Tier(_) => Arc::new(UInt32Array::new(outputs.tiers.into(), nulls)),
    };
    // A program that gives no `#{ value, reason }` has no reasons, and unless the interpreter
    // took rows, no column of nulls is made for them; reasons not wanted are given by neither.
    let from_fallback = fallback.as_ref().and_then(|f| f.reasons.as_ref());
    let reasons = match (returns, &outputs.reasons, from_fallback) {
        (Returns::Factor, None, None) | (Returns::Score | Returns::Tier(_), _, _) => None,
        (Returns::Factor, given, from_fallback) => {
            // Sized once, and each run of rows without a reason added in one call: a call a
            // row (`append_null`, most rows) was 1.5% of a run's instructions (callgrind,
            // shipped pipeline).
            let bytes = outputs.reason_bytes + from_fallback.map_or(0, |r| r.value_data().len());
            let mut builder = StringBuilder::with_capacity(rows, bytes);
            let mut without = 0;
            for row in 0..rows {
                let reason = given.as_ref().and_then(|g| g[row]).or_else(|| {
                    from_fallback
                        .filter(|r| r.is_valid(row))
                        .map(|r| r.value(row))
                });
                match reason {
                    Some(text) => {
                        if without > 0 {
                            builder.append_nulls(without);
                            without = 0;
                        }
                        builder.append_value(text);
                    }
                    None => without += 1,
                }
            }
            // Only when some row has no reason: `append_nulls(0)` would still make a validity
            // bitmap, which the column never had when every row gave one.
            if without > 0 {
                builder.append_nulls(without);
            }
            Some(builder.finish())
        }
    };
    RuleOutput {
        values,
        reasons,
        failures,
    }
}
