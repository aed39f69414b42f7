//! The sandboxed rhai engine every rule runs in.
//!
//! Scripts are pure functions of one row: no file, network or process access (rhai has none
//! unless a host registers it, and `eval` is switched off); `import` resolves only inside the
//! folders the pipeline's scripts live in; operation, call-depth and size limits turn a runaway
//! script into a rejected row instead of a hang.

use std::path::{Path, PathBuf};

use rhai::module_resolvers::FileModuleResolver;
use rhai::{
    Dynamic, Engine, EvalAltResult, Module, ModuleResolver, OptimizationLevel, Position, Shared,
};

use crate::human;
use crate::pipeline::Limits;
use crate::rules::budget::{self, Exceeded};

use super::library;

/// Operations between two checks of the row's time and memory budgets.
const BUDGET_CHECK_EVERY: u64 = 256;

/// Variables (`let` and `const`) a rule or module may declare. rhai's compiler looks every name
/// up through the variables declared before it, so compiling takes time with the square of
/// their number (20,000 took 39 s in a debug build); honest rules declare tens. Counted on
/// rhai's tokens, in one pass, before compiling.
pub const MAX_LETS: usize = 1_000;

/// Functions a rule or module may define: rhai's compiler looks names up through every
/// function defined before them, in time with the square of their number (20,000 took 45 s
/// in a debug build). rhai refuses the next with a syntax error.
pub const MAX_FUNCTIONS: usize = 1_000;

/// Where `code` declares its variable number `MAX_LETS + 1`, if it declares that many.
pub fn past_the_lets_limit(engine: &Engine, code: &str) -> Option<Position> {
    let (tokens, _) = engine.lex([&code]);
    tokens
        .take_while(|(token, _)| !matches!(token, rhai::Token::EOF))
        .filter(|(token, _)| matches!(token, rhai::Token::Let | rhai::Token::Const))
        .nth(MAX_LETS)
        .map(|(_, pos)| pos)
}

/// What an import of a file outside the rules folders is refused with.
pub const OUTSIDE_THE_RULES_FOLDER: &str =
    "imports resolve to .rhai files inside the rules folder only";

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
        .set_max_functions(MAX_FUNCTIONS)
        // The engine-wide string interner takes a write lock on every use, including property
        // access while scripts run: with several workers that lock serialises them.
        .set_max_strings_interned(0)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true)
        .set_optimization_level(OptimizationLevel::None)
        .set_module_resolver(SandboxedResolver::new(import_roots));
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

/// Resolves `import "name"` to `name.rhai` inside the allowed folders only.
struct SandboxedResolver {
    roots: Vec<PathBuf>,
    files: FileModuleResolver,
}

impl SandboxedResolver {
    fn new(roots: Vec<PathBuf>) -> Self {
        let roots = roots
            .into_iter()
            .filter_map(|root| root.canonicalize().ok())
            .collect::<Vec<_>>();
        let base = roots.first().cloned().unwrap_or_else(|| PathBuf::from("."));
        Self {
            roots,
            files: FileModuleResolver::new_with_path(base),
        }
    }

    /// The file an import names, mirroring `FileModuleResolver`: relative to the importing
    /// module's folder when there is one, else to the first root.
    fn target(&self, source: Option<&str>, path: &str) -> PathBuf {
        let base = source
            .and_then(|s| Path::new(s).parent().map(Path::to_path_buf))
            .or_else(|| self.roots.first().cloned())
            .unwrap_or_default();
        let mut file = base.join(path);
        file.set_extension("rhai");
        file
    }
}

impl ModuleResolver for SandboxedResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        // Compiling a module is work rhai counts no operations for: start the row's clock (see
        // `budget::RowBudget`) so the row's next check counts it against `limits.max_row_ms`.
        budget::start_row_clock();
        let target = self.target(source, path);
        let inside = target
            .canonicalize()
            .is_ok_and(|t| self.roots.iter().any(|root| t.starts_with(root)));
        if !inside {
            // rhai replaces a resolver's "module not found" with its own plain one, so the
            // refusal travels as an error inside the module to keep its explanation.
            let refusal = format!(
                "{OUTSIDE_THE_RULES_FOLDER}; {} is not one",
                target.display()
            );
            return Err(EvalAltResult::ErrorInModule(
                path.to_string(),
                EvalAltResult::ErrorRuntime(refusal.into(), pos).into(),
                pos,
            )
            .into());
        }
        let file = self.files.get_file_path(path, None);
        if !self.files.is_cached(&file) {
            // The lets limit holds for a module as for a rule (rhai's own limit holds its
            // functions); checked once, before the module's first compile.
            let code = std::fs::read_to_string(&file).unwrap_or_default();
            if let Some(at) = past_the_lets_limit(engine, &code) {
                let refusal = format!(
                    "{} declares more than {} variables (`let`, `const`), the most a module \
                     may; the next is at line {}",
                    target.display(),
                    human::count(MAX_LETS as u64),
                    at.line().unwrap_or(0)
                );
                return Err(EvalAltResult::ErrorInModule(
                    path.to_string(),
                    EvalAltResult::ErrorRuntime(refusal.into(), pos).into(),
                    pos,
                )
                .into());
            }
        }
        self.files.resolve(engine, source, path, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rules: &Path, code: &str) -> Result<i64, String> {
        let engine = build(&Limits::default(), vec![rules.to_path_buf()]);
        let mut ast = engine.compile(code).map_err(|e| e.to_string())?;
        ast.set_source(rules.join("main.rhai").display().to_string());
        engine.eval_ast::<i64>(&ast).map_err(|e| e.to_string())
    }

    #[test]
    fn imports_resolve_inside_the_rules_folder_only() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        std::fs::create_dir_all(rules.join("lib")).unwrap();
        std::fs::write(rules.join("lib/common.rhai"), "export const BONUS = 5;").unwrap();
        std::fs::write(root.path().join("secret.rhai"), "export const BONUS = 99;").unwrap();

        assert_eq!(
            run(&rules, "import \"lib/common\" as c; c::BONUS + 1"),
            Ok(6)
        );
        let refused = run(&rules, "import \"../secret\" as s; s::BONUS").unwrap_err();
        assert!(
            refused.contains("imports resolve to .rhai files inside the rules folder only"),
            "{refused}"
        );
    }

    #[test]
    fn eval_is_switched_off() {
        let root = tempfile::tempdir().unwrap();
        let err = run(root.path(), "eval(\"1 + 1\")").unwrap_err();
        assert!(err.contains("eval"), "{err}");
    }
}
