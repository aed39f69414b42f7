//! An instrumented run of a rule: which places of its script each row reached.
//!
//! The tracing engine is the rule engine with rhai's debugger attached: rhai calls it before
//! every statement and expression it evaluates, with that node's position, and it notes the
//! positions inside the rule's own source (not those of imported modules) for the row being
//! evaluated. [`crate::rules::coverage`] turns these positions into branch counts. The debugger
//! costs a call per node evaluated, so only coverage uses this engine; `run` and `test` score
//! with the plain one.

use std::cell::RefCell;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use rhai::debugger::DebuggerCommand;
use rhai::Engine;

use rayon::prelude::*;

use super::eval::{readers, RowEvaluator, CHUNK_ROWS};
use super::InterpretedRule;
use crate::pipeline::Limits;

/// A place in a script: 1-based line and column.
pub type Place = (usize, usize);

/// What the debugger notes while one row is evaluated on this thread.
#[derive(Default)]
struct Trace {
    /// The source whose places are noted (the rule's file name, or none for inline code).
    source: Option<String>,
    reached: Vec<Place>,
}

thread_local! {
    static TRACE: RefCell<Trace> = RefCell::new(Trace::default());
}

/// The rule engine with limits and imports as [`super::engine::build`] sets them, and the
/// debugger noting each place evaluated.
pub fn engine(limits: &Limits, import_roots: Vec<PathBuf>) -> Engine {
    let mut engine = super::engine::build(limits, import_roots);
    #[allow(deprecated)]
    engine.register_debugger(
        // The debugger starts in its `Init` state, which stops at the first node; the callback
        // then asks to step into every node after it.
        |_, debugger| debugger,
        |_, _, _, source, pos| {
            if let (Some(line), Some(column)) = (pos.line(), pos.position()) {
                TRACE.with_borrow_mut(|trace| {
                    if trace.source.as_deref() == source {
                        trace.reached.push((line, column));
                    }
                });
            }
            Ok(DebuggerCommand::StepInto)
        },
    );
    engine
}

/// One evaluated row: the places it reached (sorted, without repeats) and, if the script
/// failed on it, where (a value of the wrong kind for the rule is not a failure here: every
/// branch the row took, it took).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowTrace {
    pub reached: Vec<Place>,
    pub failed_at: Option<Place>,
}

/// Evaluates `rule` on the `selection` rows of `batch` on the tracing engine, chunks of rows
/// in parallel (each worker notes its own rows), and gives each row's trace in `selection`
/// order.
pub fn trace(rule: &InterpretedRule, batch: &RecordBatch, selection: &[u32]) -> Vec<RowTrace> {
    selection
        .par_chunks(CHUNK_ROWS)
        .flat_map_iter(|rows| trace_rows(rule, batch, rows))
        .collect()
}

/// One chunk of rows, traced on this thread.
fn trace_rows(rule: &InterpretedRule, batch: &RecordBatch, rows: &[u32]) -> Vec<RowTrace> {
    let info = &rule.info;
    let Ok(readers) = readers(info, batch) else {
        // A column the rule reads is missing: no row reaches anything.
        return rows
            .iter()
            .map(|_| RowTrace {
                reached: Vec::new(),
                failed_at: None,
            })
            .collect();
    };
    let interpreter = &rule.interpreter;
    let mut evaluator = RowEvaluator::new(
        info,
        rule.thread_ast(),
        &interpreter.tracing,
        &interpreter.params,
        interpreter.limits,
    );
    TRACE.with_borrow_mut(|trace| trace.source = rule.ast.source().map(str::to_string));
    rows.iter()
        .map(|&row| {
            TRACE.with_borrow_mut(|trace| trace.reached.clear());
            let result =
                evaluator.eval_raw(readers.iter().map(|reader| reader.value(row as usize)));
            // A panic has no place in the script, like an error without a position.
            let failed_at = match result {
                Ok(Err(err)) => {
                    let pos = err.position();
                    pos.line().zip(pos.position())
                }
                Ok(Ok(_)) | Err(_) => None,
            };
            let mut reached = TRACE.with_borrow_mut(|trace| std::mem::take(&mut trace.reached));
            reached.sort_unstable();
            reached.dedup();
            RowTrace { reached, failed_at }
        })
        .collect()
}
