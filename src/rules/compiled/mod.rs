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
    Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, StringBuilder, UInt32Array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{Float64Type, UInt32Type};
use bumpalo::Bump;

use super::guard;
use super::interpreter::InterpretedRule;
use super::{Returns, Rule, RuleEngine, RuleInfo, RuleOutput};
use crate::pipeline::Limits;
use exec::{Chunk, Shape, CHUNK};
pub use lower::{Lowered, Unsupported};
use ops::Strings;
use scalar::{dense, Buf, Input, Scalar};
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
        let mut start = 0;
        while start < selection.len() {
            let base = selection[start] as usize / CHUNK * CHUNK;
            // Rows are ascending and distinct: a chunk holds at most CHUNK of them, so the
            // search stays within the next CHUNK (a search over the whole rest misses cache).
            let window = &selection[start..selection.len().min(start + CHUNK)];
            let in_chunk = |&row: &u32| (row as usize) < base + CHUNK;
            let end = start
                + match window.last() {
                    Some(last) if in_chunk(last) => window.len(),
                    _ => window.partition_point(in_chunk),
                };
            positions.clear();
            positions.extend(
                selection[start..end]
                    .iter()
                    .map(|&row| (row as usize - base) as u16),
            );
            chunk.run(&self.program, base, &positions);
            if let (Buf::Float(values), false, Returns::Factor | Returns::Score) =
                (&chunk.result, self.maps, &self.info.returns)
            {
                // Plain float results: finished unless deferred or not finite.
                let mut finish = |p: usize| {
                    let (value, row) = (values[p], base + p);
                    if chunk.deferred[p] || !value.is_finite() {
                        deferred.push(row as u32);
                    } else {
                        outputs.numbers[row] = value;
                        outputs.valid[row] = true;
                    }
                };
                match dense(&positions) {
                    Some(range) => range.for_each(finish),
                    None => positions.iter().for_each(|&p| finish(usize::from(p))),
                }
                start = end;
                continue;
            }
            for &p in &positions {
                let p = usize::from(p);
                let finished =
                    !chunk.deferred[p] && self.finish(&chunk, p, base + p, arena, outputs);
                if !finished {
                    deferred.push((base + p) as u32);
                }
            }
            start = end;
        }
        deferred
    }

    /// Reads a finished row's result as the rule's contract asks into `outputs`; `false` hands
    /// the row to the interpreter (which fails it with its message).
    fn finish<'b>(
        &self,
        chunk: &Chunk<'b>,
        p: usize,
        row: usize,
        arena: &'b Bump,
        outputs: &mut Outputs<'b>,
    ) -> bool {
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
            Returns::Factor => {
                let reason = match shape {
                    Shape::BadMap => return false,
                    Shape::Plain => None,
                    Shape::Map => match chunk.reason[p] {
                        Scalar::Unit => None,
                        Scalar::Str(text) => (!text.is_empty()).then_some(text),
                        Scalar::Reasons(list) => {
                            let list = &chunk.lists[list as usize];
                            if list.mixed {
                                return false;
                            }
                            if list.texts.is_empty() {
                                None
                            } else {
                                Some(join(&list.texts, arena))
                            }
                        }
                        _ => return false,
                    },
                };
                let Some(number) = number else {
                    return false;
                };
                outputs.numbers[row] = number;
                outputs.valid[row] = true;
                if let Some(reasons) = &mut outputs.reasons {
                    reasons[row] = reason;
                }
                true
            }
            Returns::Score => match (shape, number) {
                (Shape::Plain, Some(number)) => {
                    outputs.numbers[row] = number;
                    outputs.valid[row] = true;
                    true
                }
                _ => false,
            },
            Returns::Tier(levels) => match (shape, chunk.result.get(p)) {
                (Shape::Plain, Scalar::Str(name)) => {
                    match levels.iter().position(|level| level == name) {
                        Some(index) => {
                            outputs.tiers[row] = index as u32;
                            outputs.valid[row] = true;
                            true
                        }
                        None => false,
                    }
                }
                _ => false,
            },
        }
    }
}

/// What the program gave a batch's rows, before the interpreter's rows join them.
struct Outputs<'b> {
    /// Factor values and scores.
    numbers: Vec<f64>,
    /// Tier indexes.
    tiers: Vec<u32>,
    /// Rows the program finished.
    valid: Vec<bool>,
    /// Each row's reason, when the program gives reasons at all.
    reasons: Option<Vec<Option<&'b str>>>,
}

/// Reasons joined as the interpreter joins them.
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

    fn evaluate(&self, batch: &RecordBatch, selection: &[u32]) -> RuleOutput {
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
            return self.fallback.evaluate(batch, selection);
        };
        let arena = Bump::new();
        let numbers = matches!(self.info.returns, Returns::Factor | Returns::Score);
        let mut outputs = Outputs {
            numbers: if numbers { vec![0.0; rows] } else { Vec::new() },
            tiers: if numbers { Vec::new() } else { vec![0; rows] },
            valid: vec![false; rows],
            reasons: (self.maps && self.info.returns == Returns::Factor).then(|| vec![None; rows]),
        };
        let Ok(deferred) = guard::catch(|| self.run(&inputs, &arena, selection, &mut outputs))
        else {
            // The program failed internally: the interpreter takes every row, as it would have
            // run the whole rule (its own failures are caught row by row).
            self.deferred
                .fetch_add(selection.len() as u64, Ordering::Relaxed);
            return self.fallback.evaluate(batch, selection);
        };
        let fallback = (!deferred.is_empty()).then(|| {
            self.deferred
                .fetch_add(deferred.len() as u64, Ordering::Relaxed);
            self.fallback.evaluate(batch, &deferred)
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
        for (row, valid) in outputs.valid.iter_mut().enumerate() {
            if *valid || output.values.is_null(row) {
                continue;
            }
            *valid = true;
            match returns {
                Returns::Factor | Returns::Score => {
                    outputs.numbers[row] = output.values.as_primitive::<Float64Type>().value(row)
                }
                Returns::Tier(_) => {
                    outputs.tiers[row] = output.values.as_primitive::<UInt32Type>().value(row)
                }
            }
        }
    }
    // No null buffer when every row has a value (the usual case; packing one costs a pass).
    let nulls = (!outputs.valid.iter().all(|&v| v)).then(|| NullBuffer::from(outputs.valid));
    let values: ArrayRef = match returns {
        Returns::Factor | Returns::Score => {
            Arc::new(Float64Array::new(outputs.numbers.into(), nulls))
        }
        Returns::Tier(_) => Arc::new(UInt32Array::new(outputs.tiers.into(), nulls)),
    };
    let reasons = matches!(returns, Returns::Factor).then(|| {
        let from_fallback = fallback.as_ref().and_then(|f| f.reasons.as_ref());
        match (&outputs.reasons, from_fallback) {
            (None, None) => StringArray::new_null(rows),
            (given, from_fallback) => {
                let mut builder = StringBuilder::new();
                for row in 0..rows {
                    let reason = given.as_ref().and_then(|g| g[row]).or_else(|| {
                        from_fallback
                            .filter(|r| r.is_valid(row))
                            .map(|r| r.value(row))
                    });
                    builder.append_option(reason);
                }
                builder.finish()
            }
        }
    });
    RuleOutput {
        values,
        reasons,
        failures,
    }
}
