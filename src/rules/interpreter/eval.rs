//! Evaluating a compiled rule over a whole `RecordBatch`, rows in parallel.
//!
//! This is the row-at-a-time interpreter behind the batch interface: each worker takes a chunk
//! of rows and a [`RowEvaluator`], which for every row sets the row's values (read from the
//! Arrow columns) in its scope, runs the shared AST and rewinds the scope. Results come back in
//! row order whatever the thread count.

use arrow::array::{ArrayRef, Float64Builder, RecordBatch, StringBuilder, UInt32Builder};
use rayon::prelude::*;
use rhai::{Caches, Dynamic, Engine, EvalAltResult, GlobalRuntimeState, Scope, AST};
use std::sync::Arc;

use super::imports::Refusal;
use super::outcome::{self, Value};
use super::InterpretedRule;
use crate::pipeline::Limits;
use crate::rules::budget::{self, RowBudget};
use crate::rules::cells::ColumnReader;
use crate::rules::guard;
use crate::rules::{Reasons, Returns, RowFailure, RuleInfo, RuleOutput};

/// Rows a worker evaluates at a time: large enough to amortise scope set-up, small enough to
/// balance across threads.
pub const CHUNK_ROWS: usize = 512;

/// Evaluates `rule` on the `selection` rows of `batch`, chunks of rows in parallel.
pub fn evaluate(
    rule: &InterpretedRule,
    batch: &RecordBatch,
    selection: &[u32],
    wanted: Reasons,
) -> RuleOutput {
    let per_chunk: Vec<Vec<(u32, Result<Value, Failure>)>> = selection
        .par_chunks(CHUNK_ROWS)
        .map(|rows| evaluate_rows(rule, batch, rows))
        .collect();
    let rows = batch.num_rows();
    let returns = &rule.info.returns;
    let mut numbers = Float64Builder::with_capacity(rows);
    let mut tiers = UInt32Builder::with_capacity(rows);
    let mut reasons =
        (matches!(returns, Returns::Factor) && wanted == Reasons::Keep).then(StringBuilder::new);
    let mut failures = Vec::new();
    let mut next = 0usize;
    for (row, result) in per_chunk.into_iter().flatten() {
        let row = row as usize;
        // Rows not selected get nulls.
        numbers.append_nulls(row - next);
        tiers.append_nulls(row - next);
        if let Some(reasons) = &mut reasons {
            for _ in next..row {
                reasons.append_null();
            }
        }
        next = row + 1;
        let (number, tier, reason) = match result {
            Ok(Value::Number(number)) => (Some(number), None, None),
            Ok(Value::Factor(factor)) => (Some(factor.value), None, factor.reason),
            Ok(Value::Tier(tier)) => (None, Some(tier), None),
            Err((code, message)) => {
                failures.push(RowFailure { row, code, message });
                (None, None, None)
            }
        };
        numbers.append_option(number);
        tiers.append_option(tier);
        if let Some(reasons) = &mut reasons {
            reasons.append_option(reason);
        }
    }
    numbers.append_nulls(rows - next);
    tiers.append_nulls(rows - next);
    if let Some(reasons) = &mut reasons {
        for _ in next..rows {
            reasons.append_null();
        }
    }
    let values: ArrayRef = match returns {
        Returns::Factor | Returns::Score => Arc::new(numbers.finish()),
        Returns::Tier(_) => Arc::new(tiers.finish()),
    };
    RuleOutput {
        values,
        reasons: reasons.as_mut().map(StringBuilder::finish),
        failures,
    }
}

/// One chunk of selected rows, each with its value or failure.
fn evaluate_rows(
    rule: &InterpretedRule,
    batch: &RecordBatch,
    rows: &[u32],
) -> Vec<(u32, Result<Value, Failure>)> {
    let info = &rule.info;
    let readers = match readers(info, batch) {
        Ok(readers) => readers,
        Err(message) => {
            let message = format!("{}: {message}", info.text.label());
            return rows
                .iter()
                .map(|&row| (row, Err(("missing_column", message.clone()))))
                .collect();
        }
    };
    let interpreter = &rule.interpreter;
    let mut evaluator = RowEvaluator::new(
        info,
        rule.thread_ast(),
        &interpreter.engine,
        &interpreter.params,
        interpreter.limits,
    );
    rows.iter()
        .map(|&row| {
            let result = evaluator
                .eval(readers.iter().map(|reader| reader.value(row as usize)))
                .and_then(|value| {
                    outcome::read(&info.returns, value).map_err(|message| {
                        ("bad_value", format!("{}: {message}", info.text.label()))
                    })
                });
            (row, result)
        })
        .collect()
}

/// A reader of each column the rule reads, in [`RuleInfo::reads`] order.
pub(super) fn readers<'b>(
    info: &RuleInfo,
    batch: &'b RecordBatch,
) -> Result<Vec<ColumnReader<'b, Dynamic>>, String> {
    info.reads
        .iter()
        .map(|(name, _)| match batch.column_by_name(name) {
            Some(array) => ColumnReader::new(array.as_ref()),
            None => Err(format!("column `{name}` is missing from the batch")),
        })
        .collect()
}

/// A row's failure: its code (see [`RowFailure::code`]) and its one-line message.
type Failure = (&'static str, String);

/// The stable code of a runtime error.
fn code_of(err: &EvalAltResult) -> &'static str {
    match err {
        EvalAltResult::ErrorRuntime(..) => "thrown",
        EvalAltResult::ErrorTooManyOperations(_) => "limit_operations",
        EvalAltResult::ErrorStackOverflow(_) => "limit_call_depth",
        EvalAltResult::ErrorDataTooLarge(..) => "limit_size",
        EvalAltResult::ErrorTerminated(token, _) if token.to_string() == "max_row_ms" => {
            "limit_row_ms"
        }
        EvalAltResult::ErrorTerminated(token, _) if token.to_string() == "max_row_memory" => {
            "limit_row_memory"
        }
        EvalAltResult::ErrorArithmetic(..) => "arithmetic",
        EvalAltResult::ErrorFunctionNotFound(signature, _) if signature.contains("()") => {
            "null_value"
        }
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => code_of(inner),
        _ => "script_error",
    }
}

/// A runtime error as one line: where it happened, what happened, what to do.
fn describe(info: &RuleInfo, engine: &Engine, limits: &Limits, mut err: EvalAltResult) -> String {
    // The row's time or memory ran out while a module it imports ran: said at the import.
    if let EvalAltResult::ErrorInModule(_, inner, pos) = &err {
        if let EvalAltResult::ErrorTerminated(token, _) = inner.as_ref() {
            err = EvalAltResult::ErrorTerminated(token.clone(), *pos);
        }
    }
    let pos = err.take_position();
    let at = info.text.locate(pos.into());
    let refusal = Refusal::of(&err);
    match err {
        EvalAltResult::ErrorTerminated(token, _) if token.to_string() == "max_row_ms" => format!(
            "{at}: stopped after limits.max_row_ms ({} ms) of wall time on this row; \
             raise limits.max_row_ms if the work is real",
            limits.max_row_ms
        ),
        EvalAltResult::ErrorTerminated(token, _) if token.to_string() == "max_row_memory" => {
            format!(
                "{at}: stopped after using more than limits.max_row_memory ({} bytes) on this \
                 row; raise limits.max_row_memory if the data is real",
                limits.max_row_memory
            )
        }
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "{at}: stopped after limits.max_operations ({}) operations on this row; \
             an endless loop? raise limits.max_operations if the work is real",
            engine.max_operations()
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            let (thing, limit, value, unit) = match what.as_str() {
                "Length of string" => (
                    "a string",
                    "max_string_size",
                    limits.max_string_size,
                    "bytes",
                ),
                "Size of object map" => ("a map", "max_map_size", limits.max_map_size, "entries"),
                _ => ("an array", "max_array_size", limits.max_array_size, "items"),
            };
            format!(
                "{at}: {thing} is over limits.{limit} ({value} {unit}) on this row; raise \
                 limits.{limit} if the data is real"
            )
        }
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
        EvalAltResult::ErrorInModule(path, ..) if refusal.is_some() => format!(
            "{at}: import \"{path}\" cannot be loaded: {}",
            refusal.unwrap_or_default()
        ),
        other => format!("{at}: {other}"),
    }
}

/// Evaluates one rule row after row on one worker, reusing everything a row does not change.
///
/// The scope holds `params` and one slot for each name the rule reads, set in place for each
/// row (pushing and popping them per row measured 6% slower); what a script adds to the scope
/// is rewound after the row. rhai's runtime state and function caches are kept from row to row.
pub(super) struct RowEvaluator<'a> {
    info: &'a RuleInfo,
    ast: &'a AST,
    engine: &'a Engine,
    limits: Limits,
    scope: Scope<'a>,
    base: usize,
    runtime: Runtime,
}

impl<'a> RowEvaluator<'a> {
    /// An evaluator of a rule's `ast` with the pipeline's `params`.
    pub(super) fn new(
        info: &'a RuleInfo,
        ast: &'a AST,
        engine: &'a Engine,
        params: &Dynamic,
        limits: Limits,
    ) -> Self {
        let mut scope = Scope::new();
        scope.push_constant_dynamic("params", params.clone());
        for (name, _) in &info.reads {
            scope.push_dynamic(name.as_str(), Dynamic::UNIT);
        }
        Self {
            info,
            ast,
            engine,
            limits,
            base: scope.len(),
            scope,
            runtime: Runtime::new(engine, ast),
        }
    }

    /// The rule's value for one row whose `values` are those of [`RuleInfo::reads`], in that
    /// order; an error is one line with the script position.
    pub(super) fn eval(
        &mut self,
        values: impl IntoIterator<Item = Dynamic>,
    ) -> Result<Dynamic, Failure> {
        match self.eval_raw(values) {
            Ok(result) => result.map_err(|err| {
                (
                    code_of(&err),
                    describe(self.info, self.engine, &self.limits, *err),
                )
            }),
            Err(panic) => Err(("panic", panic)),
        }
    }

    /// [`RowEvaluator::eval`] with rhai's error as it is (for the place it happened, which
    /// coverage needs); the outer `Err` is a panic inside the rule, as a located message.
    pub(super) fn eval_raw(
        &mut self,
        values: impl IntoIterator<Item = Dynamic>,
    ) -> Result<Result<Dynamic, Box<EvalAltResult>>, String> {
        for ((name, _), value) in self.info.reads.iter().zip(values) {
            if let Some(slot) = self.scope.get_mut(name) {
                *slot = value;
            }
        }
        let budget = RowBudget::start(self.limits.max_row_ms, self.limits.max_row_memory);
        let result = guard::catch(|| {
            budget::within(budget, || {
                self.runtime.eval(self.engine, &mut self.scope, self.ast)
            })
        });
        self.scope.rewind(self.base);
        match result {
            Ok(result) => Ok(result),
            Err(panic) => {
                // The runtime state the panic interrupted is not trusted for the next row.
                self.runtime = Runtime::new(self.engine, self.ast);
                Err(format!("{}: {panic}", self.info.text.label()))
            }
        }
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
    use arrow::array::{Array, AsArray, Float64Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Float64Type, Schema};

    use super::*;
    use crate::pipeline::Params;
    use crate::rules::interpreter::Interpreter;
    use crate::rules::{Reasons, Rule};

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

    /// Each row of `batch` as the rule gave it: its value, `skipped` or `failed: message`.
    fn run(code: &str, limits: Limits, selection: &[u32]) -> Vec<String> {
        let params: Params = serde_yaml::from_str("{ k: 2 }").unwrap();
        let rule = Interpreter::test_rule(code, &["revenue", "orders"], &limits, &params);
        let batch = batch();
        let output = rule.evaluate(&batch, selection, Reasons::Keep);
        let values = output.values.as_primitive::<Float64Type>();
        (0..batch.num_rows())
            .map(|row| {
                if let Some(failure) = output.failures.iter().find(|f| f.row == row) {
                    assert!(values.is_null(row));
                    format!("failed: {}", failure.message)
                } else if values.is_null(row) {
                    "skipped".into()
                } else {
                    format!("{:?}", values.value(row))
                }
            })
            .collect()
    }

    #[test]
    fn evaluates_each_row_with_its_values_and_params() {
        let out = run(
            "let x = (revenue ?? 0.0) * params.k;\nx + orders",
            Limits::default(),
            &[0, 1, 3],
        );
        assert_eq!(out, vec!["21.0", "2.0", "skipped", "2.0"]);
    }

    #[test]
    fn reasons_dropped_leave_values_and_failures_as_kept() {
        let params: Params = serde_yaml::from_str("{ k: 2 }").unwrap();
        let code =
            "if orders == 3 { throw \"no\" }\n#{ value: orders * 1.0, reason: `${orders} orders` }";
        let rule =
            Interpreter::test_rule(code, &["revenue", "orders"], &Limits::default(), &params);
        let batch = batch();
        let kept = rule.evaluate(&batch, &[0, 2, 3], Reasons::Keep);
        let dropped = rule.evaluate(&batch, &[0, 2, 3], Reasons::Drop);
        let reasons = kept.reasons.as_ref().unwrap();
        assert_eq!(
            reasons.iter().collect::<Vec<_>>(),
            [Some("1 orders"), None, None, Some("4 orders")]
        );
        assert_eq!(dropped.reasons, None);
        assert_eq!(dropped.values.as_ref(), kept.values.as_ref());
        assert_eq!(dropped.failures, kept.failures);
        assert_eq!(kept.failures.len(), 1);
        assert_eq!(kept.failures[0].row, 2);
    }

    #[test]
    fn runtime_errors_fail_only_their_rows_with_position() {
        let out = run(
            "if orders == 2 { throw \"no\" }\nrevenue + 1.0",
            Limits::default(),
            &[0, 1, 2, 3],
        );
        assert_eq!(
            out,
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
        let out = run("revenue * 2.0", Limits::default(), &[0, 1, 2, 3]);
        assert_eq!(
            out[1],
            "failed: rules/x.rhai:1:9: * ((), f64) is not defined: a value is () (null); \
             give a default with `x ?? 0` or test `x == ()` first"
        );
    }

    #[test]
    fn a_value_that_is_no_factor_fails_its_row_naming_the_rule() {
        let out = run(
            "if orders == 3 { \"high\" } else { orders }",
            Limits::default(),
            &[0, 2],
        );
        assert_eq!(
            out,
            vec![
                "1.0",
                "skipped",
                "failed: rules/x.rhai: the factor gave a string (high); it must be a number",
                "skipped"
            ]
        );
    }

    /// A panic inside the engine or a helper while a row is evaluated (`params.p += 1` once
    /// reached one inside rhai) rejects that row alone; the rows before and after it score.
    #[test]
    fn a_panic_in_a_helper_rejects_its_row_alone() {
        let out = run(
            "if orders == 3 { panics_for_tests(orders) } else { orders * 1.5 }",
            Limits::default(),
            &[0, 1, 2, 3],
        );
        assert_eq!(
            out,
            vec![
                "1.5",
                "3.0",
                "failed: rules/x.rhai: the script engine failed internally on this row \
                 (a helper's bug); the row is rejected",
                "6.0"
            ]
        );
    }

    #[test]
    fn an_endless_loop_is_stopped_by_the_operation_limit() {
        let limits = Limits {
            max_operations: 500,
            ..Limits::default()
        };
        let out = run("loop { }", limits, &[0, 1, 2, 3]);
        assert_eq!(out.len(), 4);
        assert_eq!(
            out[0],
            "failed: rules/x.rhai:1:6: stopped after limits.max_operations (500) operations on this row; \
             an endless loop? raise limits.max_operations if the work is real"
        );
    }

    #[test]
    fn a_row_over_its_wall_time_budget_is_rejected_naming_the_limit() {
        let limits = Limits {
            max_operations: u64::MAX,
            max_row_ms: 20,
            ..Limits::default()
        };
        let out = run("loop { }", limits, &[0]);
        assert_eq!(
            out[0],
            "failed: rules/x.rhai:1:6: stopped after limits.max_row_ms (20 ms) of wall time on \
             this row; raise limits.max_row_ms if the work is real"
        );
    }

    #[test]
    fn index_assignment_cannot_grow_a_row_past_its_memory_budget() {
        let limits = Limits {
            max_operations: u64::MAX,
            max_map_size: usize::MAX,
            max_row_memory: 1 << 20,
            ..Limits::default()
        };
        let out = run(
            "let m = #{}; let i = 0;\nloop { m[\"k\" + i] = \"value \" + i; i += 1; }",
            limits,
            &[0, 2],
        );
        let expected = format!(
            "stopped after using more than limits.max_row_memory ({} bytes) on this row; raise \
             limits.max_row_memory if the data is real",
            1 << 20
        );
        assert!(out[0].ends_with(&expected), "{}", out[0]);
        assert!(out[2].ends_with(&expected), "{}", out[2]);
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let rows = 5000;
        let revenue: ArrayRef = Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|i| i as f64 * 1.5),
        ));
        let batch = RecordBatch::try_from_iter([("revenue", revenue)]).unwrap();
        let rule = Interpreter::test_rule(
            "revenue.sqrt() + 1.0",
            &["revenue"],
            &Limits::default(),
            &Params::default(),
        );
        let selection: Vec<u32> = (0..rows as u32).collect();
        let eval = |threads: usize| -> Vec<f64> {
            let output = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| rule.evaluate(&batch, &selection, Reasons::Keep));
            assert!(output.failures.is_empty());
            output
                .values
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        };
        let one = eval(1);
        assert_eq!(one.len(), rows);
        assert_eq!(one[4], 6.0_f64.sqrt() + 1.0);
        assert_eq!(one, eval(2));
    }
}
