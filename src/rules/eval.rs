//! Evaluating a compiled rule over a whole `RecordBatch`, rows in parallel.
//!
//! This is the row-at-a-time interpreter behind the batch interface: each worker takes a chunk
//! of rows and a [`RowEvaluator`], which for every row sets the row's values (read from the
//! Arrow columns) in its scope, runs the shared AST and rewinds the scope. Results come back in
//! row order whatever the thread count.

use std::ops::Range;

use arrow::array::RecordBatch;
use rayon::prelude::*;
use rhai::{Caches, Dynamic, Engine, EvalAltResult, GlobalRuntimeState, Scope, AST};

use super::compile::CompiledRule;
use super::convert::ColumnReader;

/// Rows a worker evaluates at a time: large enough to amortise scope set-up, small enough to
/// balance across threads.
pub const CHUNK_ROWS: usize = 512;

/// What a rule gave for one row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOutcome<T> {
    /// The row was not evaluated (an earlier rule already rejected it).
    Skipped,
    /// The rule's value for the row.
    Value(T),
    /// Why the row failed, with the script position.
    Failed(String),
}

impl CompiledRule {
    /// Evaluates the rule on every row of `batch` that `skip` does not mark, turning each
    /// result into `T` with `interpret` (whose error becomes the row's failure).
    ///
    /// `batch` must hold every column in [`CompiledRule::reads`]; the plan guarantees it.
    pub fn evaluate<T, F>(
        &self,
        engine: &Engine,
        params: &Dynamic,
        batch: &RecordBatch,
        skip: &[bool],
        interpret: F,
    ) -> Vec<RowOutcome<T>>
    where
        T: Send,
        F: Fn(Dynamic) -> Result<T, String> + Sync,
    {
        let rows = batch.num_rows();
        let chunks: Vec<Range<usize>> = (0..rows)
            .step_by(CHUNK_ROWS)
            .map(|start| start..(start + CHUNK_ROWS).min(rows))
            .collect();
        let per_chunk: Vec<Vec<RowOutcome<T>>> = chunks
            .into_par_iter()
            .map(|range| self.evaluate_rows(engine, params, batch, skip, range, &interpret))
            .collect();
        per_chunk.into_iter().flatten().collect()
    }

    fn evaluate_rows<T>(
        &self,
        engine: &Engine,
        params: &Dynamic,
        batch: &RecordBatch,
        skip: &[bool],
        rows: Range<usize>,
        interpret: &impl Fn(Dynamic) -> Result<T, String>,
    ) -> Vec<RowOutcome<T>> {
        let readers = match self.readers(batch) {
            Ok(readers) => readers,
            Err(message) => {
                let message = format!("{}: {message}", self.text.label());
                return rows.map(|_| RowOutcome::Failed(message.clone())).collect();
            }
        };
        let mut evaluator = RowEvaluator::new(self, engine, params);
        rows.map(|row| {
            if skip.get(row).copied().unwrap_or(false) {
                return RowOutcome::Skipped;
            }
            match evaluator.eval(readers.iter().map(|reader| reader.value(row))) {
                Ok(value) => match interpret(value) {
                    Ok(value) => RowOutcome::Value(value),
                    Err(message) => RowOutcome::Failed(format!("{}: {message}", self.text.label())),
                },
                Err(message) => RowOutcome::Failed(message),
            }
        })
        .collect()
    }

    /// A reader of each column the rule reads, in [`CompiledRule::reads`] order.
    pub fn readers<'b>(&self, batch: &'b RecordBatch) -> Result<Vec<ColumnReader<'b>>, String> {
        self.reads
            .iter()
            .map(|(name, _)| match batch.column_by_name(name) {
                Some(array) => ColumnReader::new(array.as_ref()),
                None => Err(format!("column `{name}` is missing from the batch")),
            })
            .collect()
    }

    /// A runtime error as one line: where it happened, what happened, what to do.
    fn describe(&self, engine: &Engine, mut err: EvalAltResult) -> String {
        let pos = err.take_position();
        let at = self.text.locate(pos);
        match err {
            EvalAltResult::ErrorTooManyOperations(_) => format!(
                "{at}: stopped after limits.max_operations ({}) operations on this row; \
                 an endless loop? raise limits.max_operations if the work is real",
                engine.max_operations()
            ),
            EvalAltResult::ErrorStackOverflow(_) => format!(
                "{at}: calls nested deeper than limits.max_call_depth ({}); \
                 endless recursion?",
                engine.max_call_levels()
            ),
            EvalAltResult::ErrorFunctionNotFound(signature, _) if signature.contains("()") => {
                format!(
                    "{at}: {signature} is not defined: a value is () (null); \
                     give a default with `x ?? 0` or test `x == ()` first"
                )
            }
            other => format!("{at}: {other}"),
        }
    }
}

/// Evaluates one rule row after row on one worker, reusing everything a row does not change.
///
/// The scope holds `params` and one slot for each name the rule reads, set in place for each
/// row (pushing and popping them per row measured 6% slower); what a script adds to the scope
/// is rewound after the row. rhai's runtime state and function caches are kept from row to row.
/// The benchmarks drive it directly to time the scripts alone, without reading Arrow columns.
pub struct RowEvaluator<'a> {
    rule: &'a CompiledRule,
    engine: &'a Engine,
    scope: Scope<'a>,
    base: usize,
    runtime: Runtime,
}

impl<'a> RowEvaluator<'a> {
    /// An evaluator of `rule` with the pipeline's `params`.
    pub fn new(rule: &'a CompiledRule, engine: &'a Engine, params: &Dynamic) -> Self {
        let mut scope = Scope::new();
        scope.push_constant_dynamic("params", params.clone());
        for (name, _) in &rule.reads {
            scope.push_dynamic(name.as_str(), Dynamic::UNIT);
        }
        Self {
            rule,
            engine,
            base: scope.len(),
            scope,
            runtime: Runtime::new(engine, &rule.ast),
        }
    }

    /// The rule's value for one row whose `values` are those of [`CompiledRule::reads`], in
    /// that order; an error is one line with the script position.
    pub fn eval(&mut self, values: impl IntoIterator<Item = Dynamic>) -> Result<Dynamic, String> {
        for ((name, _), value) in self.rule.reads.iter().zip(values) {
            if let Some(slot) = self.scope.get_mut(name) {
                *slot = value;
            }
        }
        let result = self
            .runtime
            .eval(self.engine, &mut self.scope, &self.rule.ast);
        self.scope.rewind(self.base);
        result.map_err(|err| self.rule.describe(self.engine, *err))
    }
}

/// One worker's rhai runtime state, kept from row to row.
///
/// `Engine::eval_ast_with_scope` starts every call with empty function-resolution caches, so
/// each row would resolve every function again and clone the engine's shared function handles,
/// and two threads doing so contend on the same reference counts. Keeping the state per worker
/// resolves each function once per chunk; what a row may change (operation count, modules
/// imported) is reset before the next row.
struct Runtime {
    global: GlobalRuntimeState,
    caches: Caches,
    imports: usize,
}

impl Runtime {
    fn new(engine: &Engine, ast: &AST) -> Self {
        let mut global = engine.new_global_runtime_state();
        global.lib.push(ast.shared_lib().clone());
        global.source = ast.source().map(Into::into);
        let imports = global.num_imports();
        Self {
            global,
            caches: Caches::new(),
            imports,
        }
    }

    /// Evaluates `ast` for one row, with the operation limit counting from zero.
    fn eval(
        &mut self,
        engine: &Engine,
        scope: &mut Scope,
        ast: &AST,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        self.global.num_operations = Default::default();
        self.global.num_modules_loaded = 0;
        #[allow(deprecated)]
        let result =
            engine.eval_statements_raw(&mut self.global, &mut self.caches, scope, ast.statements());
        self.global.truncate_imports(self.imports);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::diagnostic::SourceFile;
    use crate::pipeline::Limits;
    use crate::rules::compile::{compile, RuleText};

    fn batch() -> RecordBatch {
        let revenue: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(10.0),
            None,
            Some(30.0),
            Some(-1.0),
        ]));
        let orders: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4]));
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("revenue", DataType::Float64, true),
                Field::new("orders", DataType::Int64, false),
            ])),
            vec![revenue, orders],
        )
        .unwrap()
    }

    fn run(code: &str, limits: Limits, skip: &[bool]) -> Vec<RowOutcome<Dynamic>> {
        let engine = crate::rules::engine::build(&limits, vec![]);
        let params: Dynamic = rhai::Map::from_iter([("k".into(), Dynamic::from(2_i64))]).into();
        let rule = compile(
            &engine,
            "x",
            RuleText::File(SourceFile::new("rules/x.rhai", code)),
            &["revenue", "orders"],
            &params,
        )
        .into_result()
        .unwrap();
        rule.evaluate(&engine, &params, &batch(), skip, Ok)
            .into_iter()
            .collect()
    }

    fn values(outcomes: &[RowOutcome<Dynamic>]) -> Vec<String> {
        outcomes
            .iter()
            .map(|o| match o {
                RowOutcome::Value(v) => v.to_string(),
                RowOutcome::Skipped => "skipped".into(),
                RowOutcome::Failed(m) => format!("failed: {m}"),
            })
            .collect()
    }

    #[test]
    fn evaluates_each_row_with_its_values_and_params() {
        let out = run(
            "let x = (revenue ?? 0.0) * params.k;\nx + orders",
            Limits::default(),
            &[false, false, true, false],
        );
        assert_eq!(values(&out), vec!["21.0", "2.0", "skipped", "2.0"]);
    }

    #[test]
    fn runtime_errors_fail_only_their_rows_with_position() {
        let out = run(
            "if orders == 2 { throw \"no\" }\nrevenue + 1.0",
            Limits::default(),
            &[],
        );
        assert_eq!(
            values(&out),
            vec![
                "11.0",
                "failed: rules/x.rhai:1:18: Runtime error: no",
                "31.0",
                "0.0"
            ]
        );
    }

    #[test]
    fn a_null_operand_gets_a_hint() {
        let out = run("revenue * 2.0", Limits::default(), &[]);
        assert_eq!(
            values(&out)[1],
            "failed: rules/x.rhai:1:9: * ((), f64) is not defined: a value is () (null); \
             give a default with `x ?? 0` or test `x == ()` first"
        );
    }

    #[test]
    fn an_endless_loop_is_stopped_by_the_operation_limit() {
        let limits = Limits {
            max_operations: 500,
            ..Limits::default()
        };
        let out = run("loop { }", limits, &[]);
        assert_eq!(out.len(), 4);
        assert_eq!(
            values(&out)[0],
            "failed: rules/x.rhai:1:6: stopped after limits.max_operations (500) operations on this row; \
             an endless loop? raise limits.max_operations if the work is real"
        );
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let rows = 5000;
        let revenue: ArrayRef = Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|i| i as f64 * 1.5),
        ));
        let batch = RecordBatch::try_from_iter([("revenue", revenue)]).unwrap();
        let engine = crate::rules::engine::build(&Limits::default(), vec![]);
        let rule = compile(
            &engine,
            "x",
            RuleText::File(SourceFile::new("r.rhai", "revenue.sqrt() + 1.0")),
            &["revenue"],
            &Dynamic::UNIT,
        )
        .into_result()
        .unwrap();
        let eval = |threads: usize| -> Vec<f64> {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    rule.evaluate(&engine, &Dynamic::UNIT, &batch, &[], |d| {
                        d.as_float().map_err(|t| t.to_string())
                    })
                })
                .into_iter()
                .map(|o| match o {
                    RowOutcome::Value(v) => v,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let one = eval(1);
        assert_eq!(one.len(), rows);
        assert_eq!(one[4], 6.0_f64.sqrt() + 1.0);
        assert_eq!(one, eval(2));
    }
}
