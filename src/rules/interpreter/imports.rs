//! `import "name"`: modules loaded from the folders of the pipeline's scripts, once each.
//!
//! An import names a `.rhai` file (without the extension) relative to the file that imports it:
//! a rule's script, or a module. The file must be inside one of the folders of the pipeline's
//! scripts; it is checked for size ([`super::sizes`]), compiled and evaluated once per engine,
//! and what it gave — the module, or why it could not be loaded — is kept: a row importing it
//! again pays a lookup, and a module that does not compile is not compiled again for every row.
//! A module importing itself, directly or through others, is refused, and so is a chain of
//! imports deeper than [`MAX_IMPORT_DEPTH`] (each nested import used to take a new stack frame
//! until the process overflowed its stack).
//!
//! Whatever refuses an import travels as [`Refusal`] text inside rhai's error, so `check` and a
//! rejected row say what went wrong in the module and where.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rhai::{Dynamic, Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

use super::sizes;
use crate::rules::budget;

/// Modules one import may pull in through each other, nested.
pub const MAX_IMPORT_DEPTH: usize = 16;

/// Resolves `import "name"` to `name.rhai` inside the allowed folders only, loading each file
/// once.
pub struct SandboxedResolver {
    /// The folders of the pipeline's scripts, canonical.
    roots: Vec<PathBuf>,
    /// What each import (the importing file's source name, the import's path) gave.
    loaded: RwLock<HashMap<(Option<String>, String), Loaded>>,
}

/// What one import gave: the module, or why it could not be loaded.
type Loaded = Result<Shared<Module>, Refusal>;

/// Why a module could not be loaded: one line naming the file and, where there is one, the
/// position in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl Refusal {
    /// The error rhai carries for an `import "path"` at `pos`.
    fn into_error(self, path: &str, pos: Position) -> Box<EvalAltResult> {
        EvalAltResult::ErrorInModule(
            path.to_string(),
            EvalAltResult::ErrorRuntime(Dynamic::from(self.0), Position::NONE).into(),
            pos,
        )
        .into()
    }

    /// The refusal inside `err`, if it is one.
    pub fn of(err: &EvalAltResult) -> Option<String> {
        match err {
            EvalAltResult::ErrorInModule(_, inner, _) => match inner.as_ref() {
                EvalAltResult::ErrorRuntime(text, _) if text.is_string() => Some(text.to_string()),
                _ => None,
            },
            _ => None,
        }
    }
}

thread_local! {
    /// The files this thread is loading, outermost first: a file on it imports itself.
    static LOADING: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) };
}

/// A file on [`LOADING`] while its module is evaluated, taken off again also on a panic.
struct Loading;

impl Loading {
    fn enter(file: PathBuf) -> Self {
        LOADING.with(|stack| stack.borrow_mut().push(file));
        Loading
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        let _ = LOADING.try_with(|stack| stack.borrow_mut().pop());
    }
}

/// What an import of a file outside the rules folders is refused with.
pub const OUTSIDE_THE_RULES_FOLDER: &str =
    "imports resolve to .rhai files inside the folders of the pipeline's scripts only";

impl SandboxedResolver {
    /// A resolver allowing files inside `roots` (folders; those that do not exist allow
    /// nothing).
    pub fn new(roots: Vec<PathBuf>) -> Self {
        let roots = roots
            .into_iter()
            .filter_map(|root| root.canonicalize().ok())
            .collect();
        Self {
            roots,
            loaded: RwLock::default(),
        }
    }

    /// The file `import "path"` names in the file named `source`: beside it, or inside the
    /// first root for an inline rule (no file).
    fn file_of(&self, source: Option<&str>, path: &str) -> PathBuf {
        let base = match source {
            // The empty path for a file named without a folder: the working directory's.
            Some(source) => Path::new(source)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            None => self
                .roots
                .first()
                .cloned()
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        let mut file = base.join(path);
        file.set_extension("rhai");
        file
    }

    /// Loads the module `import "path"` names in `source`, or says why it cannot. `Err(Ok)`
    /// is a refusal to keep; `Err(Err)` a row's budget running out while the module ran, which
    /// is the row's and not kept.
    fn load(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
    ) -> Result<Shared<Module>, Result<Refusal, Box<EvalAltResult>>> {
        let refuse = |text: String| Err(Ok(Refusal(text)));
        let file = self.file_of(source, path);
        let shown = file.display();
        let Ok(canonical) = file.canonicalize() else {
            return refuse(format!(
                "there is no module {shown}: an import names a .rhai file, without the \
                 extension, relative to the file importing it"
            ));
        };
        if !self.roots.iter().any(|root| canonical.starts_with(root)) {
            return refuse(format!("{OUTSIDE_THE_RULES_FOLDER}; {shown} is not one"));
        }
        let chain = LOADING.with(|stack| stack.borrow().clone());
        if chain.contains(&canonical) {
            let names: Vec<String> = chain
                .iter()
                .skip_while(|loading| **loading != canonical)
                .chain([&canonical])
                .map(|f| f.display().to_string())
                .collect();
            return refuse(format!(
                "{shown} imports itself: {}; a module cannot import a module that imports it",
                names.join(" imports ")
            ));
        }
        if chain.len() >= MAX_IMPORT_DEPTH {
            return refuse(format!(
                "imports nest more than {MAX_IMPORT_DEPTH} modules deep at {shown}, the most \
                 they may"
            ));
        }
        let code = match std::fs::read_to_string(&canonical) {
            Ok(code) => code,
            Err(err) => return refuse(format!("cannot read {shown}: {err}")),
        };
        if let Some((over, at)) = sizes::over_a_limit(engine, &code) {
            return refuse(format!(
                "{shown}:{}:{}: the module has {over}, the most one may; this is the next: {}",
                at.line().unwrap_or(0),
                at.position().unwrap_or(0),
                over.help()
            ));
        }
        // Compiling counts no operations: the row's clock starts now (see `budget::RowBudget`).
        budget::start_row_clock();
        let mut ast = match engine.compile(&code) {
            Ok(ast) => ast,
            Err(err) => {
                let at = err.position();
                return refuse(format!(
                    "{shown}:{}:{}: {}",
                    at.line().unwrap_or(0),
                    at.position().unwrap_or(0),
                    err.err_type()
                ));
            }
        };
        // Its own imports resolve beside it.
        ast.set_source(canonical.display().to_string());
        let _loading = Loading::enter(canonical);
        match Module::eval_ast_as_new(Scope::new(), &ast, engine) {
            Ok(module) => Ok(Shared::new(module)),
            Err(err) if budget_ran_out(&err) => Err(Err(err)),
            // A module it imports refused: that refusal, as it names its own file.
            Err(err) => refuse(Refusal::of(&err).unwrap_or_else(|| format!("{shown}: {err}"))),
        }
    }
}

/// Whether `err` is a row's budget or a size limit running out, which depends on the row's
/// time and on what ran before, not on the module alone.
fn budget_ran_out(err: &EvalAltResult) -> bool {
    match err {
        EvalAltResult::ErrorTerminated(..)
        | EvalAltResult::ErrorTooManyOperations(_)
        | EvalAltResult::ErrorStackOverflow(_)
        | EvalAltResult::ErrorDataTooLarge(..) => true,
        EvalAltResult::ErrorInModule(_, inner, _)
        | EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => budget_ran_out(inner),
        _ => false,
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
        let key = (source.map(str::to_owned), path.to_owned());
        let known = self
            .loaded
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key)
            .cloned();
        let loaded = match known {
            Some(loaded) => loaded,
            None => {
                let loaded = match self.load(engine, source, path) {
                    Ok(module) => Ok(module),
                    Err(Ok(refusal)) => Err(refusal),
                    Err(Err(ran_out)) => return Err(ran_out),
                };
                self.loaded
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(key, loaded.clone());
                loaded
            }
        };
        loaded.map_err(|refusal| refusal.into_error(path, pos))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::pipeline::Limits;

    /// Evaluates `code` as the script `rules/main.rhai` of an engine whose scripts' folders
    /// are `roots`.
    fn run_in(roots: &[&Path], main: &Path, code: &str) -> Result<i64, String> {
        let roots = roots.iter().map(|r| r.to_path_buf()).collect();
        let engine = super::super::engine::build(&Limits::default(), roots);
        let mut ast = engine.compile(code).map_err(|e| e.to_string())?;
        ast.set_source(main.display().to_string());
        engine
            .eval_ast::<i64>(&ast)
            .map_err(|e| Refusal::of(&e).unwrap_or_else(|| e.to_string()))
    }

    fn run(rules: &Path, code: &str) -> Result<i64, String> {
        run_in(&[rules], &rules.join("main.rhai"), code)
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn imports_resolve_inside_the_rules_folder_only() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        write(&rules.join("lib/common.rhai"), "export const BONUS = 5;");
        write(&root.path().join("secret.rhai"), "export const BONUS = 99;");

        assert_eq!(
            run(&rules, "import \"lib/common\" as c; c::BONUS + 1"),
            Ok(6)
        );
        let refused = run(&rules, "import \"../secret\" as s; s::BONUS").unwrap_err();
        assert!(refused.starts_with(OUTSIDE_THE_RULES_FOLDER), "{refused}");
        let missing = run(&rules, "import \"nothing\" as n; 1").unwrap_err();
        assert!(missing.starts_with("there is no module "), "{missing}");
    }

    /// A module's imports resolve beside it, and are held to the folder like a rule's: a
    /// module in `rules/lib` importing `../secret` gets `rules/secret.rhai`, never the
    /// `secret.rhai` beside `rules` (which rhai's file resolver, resolving every import against
    /// one base folder, loaded: the sandbox checked one file and rhai read another).
    #[test]
    fn a_modules_imports_resolve_beside_it_and_stay_inside_the_folder() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        write(
            &rules.join("lib/a.rhai"),
            "import \"../secret\" as s; export const K = s::K;",
        );
        write(&rules.join("secret.rhai"), "export const K = 1;");
        write(&root.path().join("secret.rhai"), "export const K = 99;");
        write(
            &rules.join("lib/b.rhai"),
            "import \"../../secret\" as s; export const K = s::K;",
        );

        assert_eq!(run(&rules, "import \"lib/a\" as a; a::K"), Ok(1));
        let refused = run(&rules, "import \"lib/b\" as b; b::K").unwrap_err();
        assert!(refused.starts_with(OUTSIDE_THE_RULES_FOLDER), "{refused}");
    }

    /// With scripts in two folders, each script's imports resolve beside it.
    #[test]
    fn each_scripts_imports_resolve_in_its_own_folder() {
        let root = tempfile::tempdir().unwrap();
        let (r1, r2) = (root.path().join("r1"), root.path().join("r2"));
        write(&r1.join("m.rhai"), "export const K = 1;");
        write(&r2.join("m.rhai"), "export const K = 2;");
        let code = "import \"m\" as m; m::K";
        assert_eq!(run_in(&[&r1, &r2], &r1.join("f1.rhai"), code), Ok(1));
        assert_eq!(run_in(&[&r1, &r2], &r2.join("f2.rhai"), code), Ok(2));
    }

    /// Two modules importing each other, or one importing itself, took a new stack frame for
    /// each import until the process overflowed its stack (exit 134).
    #[test]
    fn a_module_importing_itself_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        write(
            &rules.join("a.rhai"),
            "import \"b\" as b; export const K = 1;",
        );
        write(
            &rules.join("b.rhai"),
            "import \"a\" as a; export const K = 2;",
        );
        write(
            &rules.join("self.rhai"),
            "import \"self\" as s; export const K = 3;",
        );

        let canonical = rules.canonicalize().unwrap();
        let (a, b) = (canonical.join("a.rhai"), canonical.join("b.rhai"));
        let refused = run(&rules, "import \"a\" as a; a::K").unwrap_err();
        assert_eq!(
            refused,
            format!(
                "{} imports itself: {} imports {} imports {}; a module cannot import a module \
                 that imports it",
                a.display(),
                a.display(),
                b.display(),
                a.display()
            )
        );
        let refused = run(&rules, "import \"self\" as s; s::K").unwrap_err();
        assert!(refused.contains("self.rhai imports itself"), "{refused}");
    }

    #[test]
    fn imports_nest_at_most_sixteen_modules_deep() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        for i in 0..20 {
            write(
                &rules.join(format!("m{i}.rhai")),
                &format!("import \"m{}\" as n; export const K = n::K;", i + 1),
            );
        }
        write(&rules.join("m20.rhai"), "export const K = 7;");
        // m4 → … → m20: 17 modules, 16 of them loading when the last is imported.
        let refused = run(&rules, "import \"m4\" as m; m::K").unwrap_err();
        assert!(
            refused.starts_with("imports nest more than 16 modules deep at "),
            "{refused}"
        );
        // m5 → … → m20: 16.
        assert_eq!(run(&rules, "import \"m5\" as m; m::K"), Ok(7));
    }

    /// A module that does not compile is refused naming its file and position, and the refusal
    /// is kept: mended on disk afterwards, it is not read again by the same engine (every row
    /// compiled it again before).
    #[test]
    fn a_broken_module_is_refused_where_it_breaks_and_not_compiled_again() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        write(&rules.join("bad.rhai"), "export const K = 1;\nlet = ;\n");
        let engine = super::super::engine::build(&Limits::default(), vec![rules.clone()]);
        let mut ast = engine.compile("import \"bad\" as b; b::K").unwrap();
        ast.set_source(rules.join("main.rhai").display().to_string());
        let run = || {
            engine
                .eval_ast::<i64>(&ast)
                .map_err(|e| Refusal::of(&e).unwrap())
        };
        let refused = run().unwrap_err();
        let file = rules.join("bad.rhai");
        assert!(
            refused.starts_with(&format!("{}:2:5: ", file.display())),
            "{refused}"
        );
        write(&file, "export const K = 1;\n");
        assert_eq!(run().unwrap_err(), refused);
    }

    #[test]
    fn a_module_past_a_size_limit_is_refused_before_it_compiles() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        let lets: String = (0..1_001).map(|i| format!("let v{i} = {i};\n")).collect();
        write(&rules.join("big.rhai"), &(lets + "export const K = 1;\n"));
        let refused = run(&rules, "import \"big\" as b; b::K").unwrap_err();
        assert_eq!(
            refused,
            format!(
                "{}:1001:1: the module has more than 1,000 variables (`let`, `const`), the \
                 most one may; this is the next: compute a list with a loop, or split the rule \
                 into factors",
                rules.join("big.rhai").display()
            )
        );
    }
}
