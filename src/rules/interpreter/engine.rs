//! The sandboxed rhai engine every rule runs in.
//!
//! Scripts are pure functions of one row: no file, network or process access (rhai has none
//! unless a host registers it, and `eval` is switched off); `import` resolves only inside the
//! folders the pipeline's scripts live in; operation, call-depth and size limits turn a runaway
//! script into a rejected row instead of a hang.

use std::path::PathBuf;

use rhai::{Dynamic, Engine, OptimizationLevel};

use crate::pipeline::Limits;
use crate::rules::budget::{self, Exceeded};

use super::{imports, library, sizes};

/// Operations between two checks of the row's time and memory budgets.
const BUDGET_CHECK_EVERY: u64 = 256;

/// Builds the engine for one pipeline's rules.
///
/// It compiles without optimising, so rules can be analysed as written;
/// [`super::compile::compile`] then optimises each AST with the params as constants.
///
/// `import_roots` are the folders imports may resolve into (the folders of the pipeline's
/// script files).
pub fn build(limits: &Limits, import_roots: Vec<PathBuf>) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_depth)
        .set_max_expr_depths(64, 32)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_modules(64)
        .set_max_functions(sizes::MAX_FUNCTIONS)
        // The engine-wide string interner takes a write lock on every use, including property
        // access while scripts run: with several workers that lock serialises them.
        .set_max_strings_interned(0)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true)
        .set_optimization_level(OptimizationLevel::None)
        .set_module_resolver(imports::SandboxedResolver::new(import_roots));
    engine.disable_symbol("eval");
    // A helper with a bug, for the tests that hold a panic inside a rule to its row.
    #[cfg(test)]
    engine.register_fn("panics_for_tests", |_: i64| -> f64 {
        panic!("a helper's bug")
    });
    // Wall time and memory per row (see `budget`), checked every few operations: the script
    // stops with the name of the budget it went over, which `eval` turns into the message.
    engine.on_progress(|operations| {
        if operations % BUDGET_CHECK_EVERY != 0 {
            return None;
        }
        budget::current_row_exceeded().map(|exceeded| {
            Dynamic::from(match exceeded {
                Exceeded::Time => "max_row_ms",
                Exceeded::Memory => "max_row_memory",
            })
        })
    });
    engine.on_print(|text| tracing::debug!(target: "tierscore::script", "{text}"));
    engine.on_debug(|text, source, pos| {
        tracing::debug!(target: "tierscore::script", source = source.unwrap_or(""), %pos, "{text}");
    });
    library::register(&mut engine);
    engine
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn run(rules: &Path, code: &str) -> Result<i64, String> {
        let engine = build(&Limits::default(), vec![rules.to_path_buf()]);
        let mut ast = engine.compile(code).map_err(|e| e.to_string())?;
        ast.set_source(rules.join("main.rhai").display().to_string());
        engine.eval_ast::<i64>(&ast).map_err(|e| e.to_string())
    }

    #[test]
    fn eval_is_switched_off() {
        let root = tempfile::tempdir().unwrap();
        let err = run(root.path(), "eval(\"1 + 1\")").unwrap_err();
        assert!(err.contains("eval"), "{err}");
    }
}
