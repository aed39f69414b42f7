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

use arrow::array::{ArrayRef, AsArray, Float64Builder, RecordBatch, StringBuilder, UInt32Builder};
use arrow::datatypes::{Float64Type, UInt32Type};
use bumpalo::Bump;

use super::interpreter::InterpretedRule;
use super::{Returns, Rule, RuleEngine, RuleInfo, RuleOutput};
use crate::pipeline::Limits;
use exec::{Chunk, Shape, CHUNK};
pub use lower::{Lowered, Unsupported};
use ops::Strings;
use scalar::{Input, Scalar};
use types::{Ty, Types};

/// A rule compiled to run over Arrow columns; rows it does not finish go to `fallback`.
pub struct CompiledRule {
    info: RuleInfo,
    program: ir::Block,
    slots: usize,
    max_string: usize,
    max_array: usize,
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
        Self {
            info: rule.info().clone(),
            program: program.program,
            slots: program.slots,
            max_string: limits.max_string_size,
            max_array: limits.max_array_size,
            fallback: rule,
            deferred: AtomicU64::new(0),
        }
    }

    /// What the program gave each selected row: `None` for a row it hands to the interpreter.
    fn run<'b>(
        &'b self,
        inputs: &'b [Input<'b>],
        arena: &'b Bump,
        rows: usize,
        selection: &[u32],
    ) -> (Vec<Option<Given<'b>>>, Vec<u32>) {
        let mut given: Vec<Option<Given<'b>>> = vec![None; rows];
        let mut deferred = Vec::new();
        let strings = Strings {
            arena,
            max_len: self.max_string,
        };
        let input_types: Vec<Ty> = inputs.iter().map(Ty::of_input).collect();
        let types = arena.alloc(Types::infer(&self.program, &input_types, self.slots));
        let mut chunk = Chunk::new(inputs, types, strings, self.max_array);
        let mut positions: Vec<u16> = Vec::with_capacity(CHUNK);
        let mut start = 0;
        while start < selection.len() {
            let base = selection[start] as usize / CHUNK * CHUNK;
            let end =
                start + selection[start..].partition_point(|&row| (row as usize) < base + CHUNK);
            positions.clear();
            positions.extend(
                selection[start..end]
                    .iter()
                    .map(|&row| (row as usize - base) as u16),
            );
            chunk.run(&self.program, base, &positions);
            for &p in &positions {
                let row = base + usize::from(p);
                let outcome = if chunk.deferred[usize::from(p)] {
                    None
                } else {
                    self.interpret(&chunk, usize::from(p), arena)
                };
                match outcome {
                    Some(value) => given[row] = Some(value),
                    None => deferred.push(row as u32),
                }
            }
            start = end;
        }
        (given, deferred)
    }

    /// A finished row's result read as the rule's contract asks; `None` hands the row to the
    /// interpreter (which fails it with its message).
    fn interpret<'b>(&self, chunk: &Chunk<'b>, p: usize, arena: &'b Bump) -> Option<Given<'b>> {
        let value = chunk.result[p];
        let shape = chunk.shape[p];
        let number = || match value {
            Scalar::Int(i) => Some(i as f64),
            Scalar::Float(f) if f.is_finite() => Some(f),
            _ => None,
        };
        match &self.info.returns {
            Returns::Factor => {
                let reason = match shape {
                    Shape::BadMap => return None,
                    Shape::Plain => None,
                    Shape::Map => match chunk.reason[p] {
                        Scalar::Unit => None,
                        Scalar::Str(text) => (!text.is_empty()).then_some(text),
                        Scalar::Reasons(list) => {
                            let list = &chunk.lists[list as usize];
                            if list.mixed {
                                return None;
                            }
                            if list.texts.is_empty() {
                                None
                            } else {
                                Some(join(&list.texts, arena))
                            }
                        }
                        _ => return None,
                    },
                };
                Some(Given::Number(number()?, reason))
            }
            Returns::Score if shape == Shape::Plain => Some(Given::Number(number()?, None)),
            Returns::Tier(levels) if shape == Shape::Plain => match value {
                Scalar::Str(name) => levels
                    .iter()
                    .position(|level| level == name)
                    .map(|index| Given::Tier(index as u32)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A row's result as the program gave it.
#[derive(Debug, Clone, Copy)]
enum Given<'b> {
    Number(f64, Option<&'b str>),
    Tier(u32),
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
        let (given, deferred) = self.run(&inputs, &arena, rows, selection);
        let fallback = (!deferred.is_empty()).then(|| {
            self.deferred
                .fetch_add(deferred.len() as u64, Ordering::Relaxed);
            self.fallback.evaluate(batch, &deferred)
        });
        assemble(&self.info.returns, rows, &given, fallback)
    }
}

/// The rule's output: the program's values, and the interpreter's for the rows it took.
fn assemble(
    returns: &Returns,
    rows: usize,
    given: &[Option<Given<'_>>],
    fallback: Option<RuleOutput>,
) -> RuleOutput {
    let (fallback_values, fallback_reasons, failures) = match fallback {
        Some(output) => (Some(output.values), output.reasons, output.failures),
        None => (None, None, Vec::new()),
    };
    let values: ArrayRef =
        match returns {
            Returns::Factor | Returns::Score => {
                let from_fallback = fallback_values
                    .as_ref()
                    .map(|v| v.as_primitive::<Float64Type>());
                let mut builder = Float64Builder::with_capacity(rows);
                for (row, given) in given.iter().enumerate() {
                    match given {
                        Some(Given::Number(value, _)) => builder.append_value(*value),
                        _ => builder.append_option(from_fallback.and_then(|f| {
                            arrow::array::Array::is_valid(f, row).then(|| f.value(row))
                        })),
                    }
                }
                Arc::new(builder.finish())
            }
            Returns::Tier(_) => {
                let from_fallback = fallback_values
                    .as_ref()
                    .map(|v| v.as_primitive::<UInt32Type>());
                let mut builder = UInt32Builder::with_capacity(rows);
                for (row, given) in given.iter().enumerate() {
                    match given {
                        Some(Given::Tier(tier)) => builder.append_value(*tier),
                        _ => builder.append_option(from_fallback.and_then(|f| {
                            arrow::array::Array::is_valid(f, row).then(|| f.value(row))
                        })),
                    }
                }
                Arc::new(builder.finish())
            }
        };
    let reasons = matches!(returns, Returns::Factor).then(|| {
        let mut builder = StringBuilder::new();
        for (row, given) in given.iter().enumerate() {
            match given {
                Some(Given::Number(_, reason)) => builder.append_option(*reason),
                _ => builder.append_option(
                    fallback_reasons
                        .as_ref()
                        .and_then(|r| arrow::array::Array::is_valid(r, row).then(|| r.value(row))),
                ),
            }
        }
        builder.finish()
    });
    RuleOutput {
        values,
        reasons,
        failures,
    }
}
