//! `import "name"`: modules loaded from the folders of the pipeline's scripts, once each.
//!
//! An import names a `.rhai` file (without the extension) relative to the file that imports it:
//! a rule's script, or a module. The file must be inside one of the folders of the pipeline's
//! scripts. It is checked for size ([`super::sizes`]) and for imports inside functions (a
//! function calling itself can import at each of its 32 call levels, and the stack ran out),
//! compiled and evaluated once per engine; what it gave, the module with the height of its
//! tree of imports or why it could not be loaded, is kept by file: a row importing it again
//! pays a lookup, and a module that does not compile is not compiled again for every row.
//!
//! What depends on the chain of imports that led to a file is decided apart, for each import,
//! and never kept: a module importing itself (directly or through others) is refused, and so
//! is an import whose chain would nest more than [`MAX_IMPORT_DEPTH`] modules, counting the
//! height of the imported module's own imports. The same import in the same place so gives
//! the same result whatever was imported before it, on whichever thread.
//!
//! Whatever refuses an import travels as [`Refusal`] text inside rhai's error, so `check` and a
//! rejected row say what went wrong in the module and where.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rhai::{
    ASTNode, Dynamic, Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared, Stmt,
    AST,
};

use super::sizes;
use crate::rules::budget;

/// Modules one import may pull in through each other, nested.
pub const MAX_IMPORT_DEPTH: usize = 16;

/// The stack a module's evaluation starts with at least; below it, it gets [`MODULE_STACK`]
/// more.
const MODULE_STACK_RED_ZONE: usize = 1 << 20;

/// The stack a module's evaluation is given when there is less than the red zone left.
const MODULE_STACK: usize = 8 << 20;

/// `(importing file, import path)` pairs whose file is remembered, at most: a rule building a
/// new path on every row (`"./" + … + "m"`) must not grow the memory of the run.
const NAMED_PAIRS: usize = 4_096;

/// The longest import path remembered: a rule building long paths (up to
/// `limits.max_string_size`) must not hold thousands of them.
const NAMED_PATH_BYTES: usize = 1 << 10;

/// Resolves `import "name"` to `name.rhai` inside the allowed folders only, loading each file
/// once.
pub struct SandboxedResolver {
    /// The folders of the pipeline's scripts, canonical.
    roots: Vec<PathBuf>,
    /// The same folders as written, absolute and without `.` or `..` (a folder reached through
    /// a symbolic link differs from its canonical path).
    written_roots: Vec<PathBuf>,
    /// The file each `(importing file's source name, import path)` names, or why none may be
    /// loaded: spares rows the file system calls that find it.
    named: RwLock<Named>,
    /// Each file loaded (canonical), or why it could not be.
    files: RwLock<HashMap<PathBuf, Result<Loaded, Refusal>>>,
}

/// The file each `(importing file's source name, import path)` names, or why none may be loaded.
type Named = HashMap<(Option<String>, String), Result<PathBuf, Refusal>>;

/// A module loaded, and the height of its tree of imports (1 for a module importing none).
#[derive(Clone)]
struct Loaded {
    module: Shared<Module>,
    height: usize,
}

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

/// A module being loaded on this thread.
struct Frame {
    file: PathBuf,
    /// The highest tree of imports among the modules it imported so far.
    tallest_import: usize,
    /// Whether an import inside it was refused for the chain that led to it (not kept).
    refused_for_the_chain: bool,
}

thread_local! {
    /// The modules this thread is loading, outermost first.
    static LOADING: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// A file on [`LOADING`] while its module is evaluated, taken off again also on a panic.
struct Loading;

impl Loading {
    fn enter(file: PathBuf) -> Self {
        LOADING.with(|stack| {
            stack.borrow_mut().push(Frame {
                file,
                tallest_import: 0,
                refused_for_the_chain: false,
            })
        });
        Loading
    }

    /// The frame as it ends: the module's height and whether it was refused for the chain.
    fn end(self) -> (usize, bool) {
        let ended = LOADING.with(|stack| {
            stack
                .borrow()
                .last()
                .map(|f| (f.tallest_import + 1, f.refused_for_the_chain))
        });
        ended.unwrap_or((1, false))
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        let _ = LOADING.try_with(|stack| stack.borrow_mut().pop());
    }
}

/// Tells the module being loaded, if any, what one of its imports gave.
fn note_in_importer(height: Option<usize>, refused_for_the_chain: bool) {
    LOADING.with(|stack| {
        if let Some(frame) = stack.borrow_mut().last_mut() {
            if let Some(height) = height {
                frame.tallest_import = frame.tallest_import.max(height);
            }
            frame.refused_for_the_chain |= refused_for_the_chain;
        }
    });
}

/// What an import anywhere but the top level outside a `try` is refused with.
pub const MISPLACED_IMPORT: &str = "an import inside a function, a closure, a `try` or the value \
     of a `break`; imports go at the top level of a script or module, outside `try`";

/// What an import of a file outside the rules folders is refused with.
pub const OUTSIDE_THE_RULES_FOLDER: &str =
    "imports resolve to .rhai files inside the folders of the pipeline's scripts only";

/// The first `import` (of `imports`, every `import` keyword of the file as its tokens have
/// them) that is not at the top level of the script or module outside any `try`, if there is
/// one. Inside a function, a function calling itself could import at each of its 32 levels,
/// every module on one stack (three such modules overflowed a worker's stack). Inside a
/// `try`, a refusal or the row's budget running out could be caught and the module evaluated
/// again on every path through a cycle (exponential), or kept with what it computed after the
/// time ran out. Counted against the tokens rather than found by rhai's walk, which does not
/// reach everywhere an import can hide (the value of a `break`).
pub fn misplaced_import(ast: &AST, imports: &[Position]) -> Option<Position> {
    let mut allowed = Vec::new();
    for stmt in ast.statements() {
        stmt.walk(&mut Vec::new(), &mut |path: &[ASTNode]| {
            if let Some(ASTNode::Stmt(Stmt::Import(_, pos))) = path.last() {
                let in_try = path
                    .iter()
                    .any(|node| matches!(node, ASTNode::Stmt(Stmt::TryCatch(..))));
                if !in_try {
                    allowed.push(*pos);
                }
            }
            true
        });
    }
    // Decided by count: rhai's positions stop at line and column 65,535, so past them two
    // imports share one and a misplaced one could pass for an allowed one (a review's files
    // padded to 65,540 lines did). The position only says where.
    if allowed.len() >= imports.len() {
        return None;
    }
    let first = imports.iter().copied().find(|pos| !allowed.contains(pos));
    first.or(imports.first().copied())
}

impl SandboxedResolver {
    /// A resolver allowing files inside `roots` (folders; those that do not exist allow
    /// nothing).
    pub fn new(roots: Vec<PathBuf>) -> Self {
        let (roots, written_roots) = roots
            .into_iter()
            .filter_map(|root| Some((root.canonicalize().ok()?, lexical(&root))))
            .unzip();
        Self {
            roots,
            written_roots,
            named: RwLock::default(),
            files: RwLock::default(),
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

    /// The canonical file `import "path"` in `source` names, if it is one a rule may load.
    fn locate(&self, source: Option<&str>, path: &str) -> Result<PathBuf, Refusal> {
        let file = self.file_of(source, path);
        let shown = file.display();
        if self.roots.is_empty() {
            return Err(Refusal(
                "the pipeline has no script files, so no folder to import from: write the rule \
                 in a .rhai file beside its modules"
                    .to_string(),
            ));
        }
        // Judged on the path as written before the file is looked for, so that a file outside
        // the folders is refused alike whether it exists or not; then on the file itself,
        // symbolic links followed.
        let outside = || {
            Err(Refusal(format!(
                "{OUTSIDE_THE_RULES_FOLDER}; {shown} is not one"
            )))
        };
        let written = lexical(&file);
        let inside = |path: &Path, roots: &[PathBuf]| roots.iter().any(|r| path.starts_with(r));
        if !inside(&written, &self.written_roots) && !inside(&written, &self.roots) {
            return outside();
        }
        let Ok(canonical) = file.canonicalize() else {
            // Missing: said so only where the file would be inside, links followed (a link in
            // the folder pointing out must not tell files outside from missing ones).
            let nearest = file
                .ancestors()
                .skip(1)
                .find_map(|dir| dir.canonicalize().ok());
            if !nearest.is_some_and(|dir| inside(&dir, &self.roots)) {
                return outside();
            }
            return Err(Refusal(format!(
                "there is no module {shown}: an import names a .rhai file, without the \
                 extension, relative to the file importing it"
            )));
        };
        if !inside(&canonical, &self.roots) {
            return outside();
        }
        Ok(canonical)
    }

    /// The located file of `import "path"` in `source`, remembered for the next row.
    fn named(&self, source: Option<&str>, path: &str) -> Result<PathBuf, Refusal> {
        let key = (source.map(str::to_owned), path.to_owned());
        if let Some(named) = read(&self.named).get(&key) {
            return named.clone();
        }
        let named = self.locate(source, path);
        let mut pairs = write(&self.named);
        if pairs.len() < NAMED_PAIRS && path.len() <= NAMED_PATH_BYTES {
            pairs.insert(key, named.clone());
        }
        named
    }

    /// Reads, checks, compiles and evaluates the module in `file`. Each result says whether it
    /// may be kept: not when an import inside was refused for the chain that led here (even
    /// one a `try` caught). `Err(Err)` is a row's time or memory running out while the module
    /// ran, which is the row's.
    #[allow(clippy::type_complexity)]
    fn load(
        &self,
        engine: &Engine,
        file: &Path,
    ) -> Result<(Loaded, bool), Result<(Refusal, bool), Box<EvalAltResult>>> {
        let shown = file.display();
        let refuse = |text: String| Err(Ok((Refusal(text), true)));
        let code = match crate::local_file::read_text(file, crate::local_file::MAX_SCRIPT_BYTES) {
            Ok(code) => code,
            Err(err) => return refuse(format!("cannot read {shown}: {err}")),
        };
        let scan = sizes::scan(engine, &code);
        if let Some((over, at)) = scan.over {
            return refuse(format!(
                "{}: the module has {over}, the most one may ({})",
                located(file, at),
                over.help()
            ));
        }
        // Compiling counts no operations: the row's clock starts now (see `budget::RowBudget`).
        budget::start_row_clock();
        let mut ast = match engine.compile(&code) {
            Ok(ast) => ast,
            Err(err) => {
                return refuse(format!(
                    "{}: {}",
                    located(file, err.position()),
                    err.err_type()
                ));
            }
        };
        if let Some(at) = misplaced_import(&ast, &scan.imports) {
            return refuse(format!("{}: {MISPLACED_IMPORT}", located(file, at)));
        }
        // Its own imports resolve beside it.
        ast.set_source(file.display().to_string());
        let loading = Loading::enter(file.to_path_buf());
        // Modules nest up to 16 deep, each evaluated within the one importing it: each starts
        // with room on the stack, on a new piece of it when little is left (a worker thread
        // has 2 MB; seven modules of deeply nested blocks overflowed it in a debug build).
        let evaluated = stacker::maybe_grow(MODULE_STACK_RED_ZONE, MODULE_STACK, || {
            Module::eval_ast_as_new(Scope::new(), &ast, engine)
        });
        let (height, refused_for_the_chain) = loading.end();
        match evaluated {
            Ok(module) => Ok((
                Loaded {
                    module: Shared::new(module),
                    height,
                },
                !refused_for_the_chain,
            )),
            Err(err) if the_rows_budget(&err) => Err(Err(err)),
            // A module it imports was refused: that refusal, as it names its own file.
            Err(err) => match Refusal::of(&err) {
                Some(inner) => Err(Ok((Refusal(inner), !refused_for_the_chain))),
                None => {
                    let mut err = *err;
                    let at = err.take_position();
                    refuse(format!("{}: {err}", located(file, at)))
                }
            },
        }
    }

    /// The module in `file` for an import in the chain this thread is loading now.
    fn module(&self, engine: &Engine, file: PathBuf) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let for_the_chain = |text: String| {
            note_in_importer(None, true);
            Err(Refusal(text).into_error("", Position::NONE))
        };
        let shown = file.display().to_string();
        let chain: Vec<PathBuf> =
            LOADING.with(|stack| stack.borrow().iter().map(|f| f.file.clone()).collect());
        if let Some(first) = chain.iter().position(|loading| *loading == file) {
            return for_the_chain(format!(
                "{shown} imports itself: {}; a module cannot import a module that imports it",
                chain_text(chain[first..].iter().chain([&file]))
            ));
        }
        let known = read(&self.files).get(&file).cloned();
        let loaded = match known {
            Some(known) => known,
            None => {
                let (loaded, kept) = match self.load(engine, &file) {
                    Ok((loaded, kept)) => (Ok(loaded), kept),
                    Err(Ok((refusal, kept))) => (Err(refusal), kept),
                    Err(Err(ran_out)) => return Err(ran_out),
                };
                if kept {
                    write(&self.files).insert(file.clone(), loaded.clone());
                } else {
                    note_in_importer(None, true);
                }
                loaded
            }
        };
        let loaded = loaded.map_err(|refusal| refusal.into_error("", Position::NONE))?;
        if chain.len() + loaded.height > MAX_IMPORT_DEPTH {
            let below = match loaded.height {
                1 => String::new(),
                height => format!(", and its own imports nest {} deeper", height - 1),
            };
            return for_the_chain(format!(
                "imports nest more than {MAX_IMPORT_DEPTH} modules deep, the most they may: {}{below}",
                chain_text(chain.iter().chain([&file])),
            ));
        }
        note_in_importer(Some(loaded.height), false);
        Ok(loaded.module)
    }
}

/// `file:line:col` of a place in a module, for a refusal's text.
fn located(file: &Path, at: Position) -> String {
    format!(
        "{}:{}:{}",
        file.display(),
        at.line().unwrap_or(0),
        at.position().unwrap_or(0)
    )
}

/// `a imports b imports c`: a chain of modules, for a refusal's text.
fn chain_text<'a>(files: impl Iterator<Item = &'a PathBuf>) -> String {
    let names: Vec<String> = files.map(|f| f.display().to_string()).collect();
    names.join(" imports ")
}

/// `path` made absolute, with `.` and `..` taken out as written (no link followed).
fn lexical(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut clean = PathBuf::new();
    for part in absolute.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean
}

/// Whether `err` is the row's time or memory running out ([`budget`]), which depends on the
/// row and on what ran before it, not on the module: all else a module's evaluation meets
/// (operations, sizes, call depth: counted afresh for each module) is its own.
fn the_rows_budget(err: &EvalAltResult) -> bool {
    match err {
        EvalAltResult::ErrorTerminated(..) => true,
        EvalAltResult::ErrorInModule(_, inner, _)
        | EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => the_rows_budget(inner),
        _ => false,
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ModuleResolver for SandboxedResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let named = self.named(source, path);
        let result = named
            .map_err(|refusal| refusal.into_error(path, pos))
            .and_then(|file| self.module(engine, file));
        // Each error names this import: rhai's message says which module failed, and where.
        result.map_err(|err| match *err {
            EvalAltResult::ErrorInModule(_, inner, _) => {
                EvalAltResult::ErrorInModule(path.to_string(), inner, pos).into()
            }
            other => EvalAltResult::ErrorInModule(path.to_string(), other.into(), pos).into(),
        })
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

    /// A file outside the folders is refused alike whether it exists or not (the refusal told
    /// apart files that existed from those that did not), and a pipeline of inline rules alone
    /// has no folder to import from.
    #[test]
    fn outside_is_outside_whether_the_file_exists_or_not() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        write(&rules.join("in.rhai"), "export const K = 1;");
        write(&root.path().join("secret.rhai"), "export const K = 99;");
        let there = run(&rules, "import \"../secret\" as s; s::K").unwrap_err();
        let not_there = run(&rules, "import \"../nothing\" as s; s::K").unwrap_err();
        assert!(there.starts_with(OUTSIDE_THE_RULES_FOLDER), "{there}");
        assert!(
            not_there.starts_with(OUTSIDE_THE_RULES_FOLDER),
            "{not_there}"
        );
        // Through a link in the folder that points out: the same, existing or not.
        fs::create_dir_all(root.path().join("outside/d")).unwrap();
        std::os::unix::fs::symlink(root.path().join("outside/d"), rules.join("ext")).unwrap();
        write(
            &root.path().join("outside/secret.rhai"),
            "export const K = 99;",
        );
        for path in ["ext/../secret", "ext/../nothing"] {
            let refused = run(&rules, &format!("import \"{path}\" as s; s::K")).unwrap_err();
            assert!(
                refused.starts_with(OUTSIDE_THE_RULES_FOLDER),
                "{path}: {refused}"
            );
        }
        // Back inside through `..`: allowed.
        assert_eq!(run(&rules, "import \"../rules/in\" as m; m::K"), Ok(1));
        let inline = run_in(&[], &rules.join("main.rhai"), "import \"in\" as m; m::K");
        assert!(inline
            .unwrap_err()
            .starts_with("the pipeline has no script files"),);
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
        let chain: Vec<String> = (4..=20)
            .map(|i| {
                let m = rules.canonicalize().unwrap().join(format!("m{i}.rhai"));
                m.display().to_string()
            })
            .collect();
        assert_eq!(
            refused,
            format!(
                "imports nest more than 16 modules deep, the most they may: {}",
                chain.join(" imports ")
            )
        );
        // m5 → … → m20: 16.
        assert_eq!(run(&rules, "import \"m5\" as m; m::K"), Ok(7));

        // One engine, either order: what was loaded before changes nothing (a module's height
        // is kept with it; a refusal for the chain is not kept).
        for order in [["m5", "m4"], ["m4", "m5"]] {
            let engine = super::super::engine::build(&Limits::default(), vec![rules.clone()]);
            let results: Vec<bool> = order
                .iter()
                .map(|first| {
                    let mut ast = engine
                        .compile(format!("import \"{first}\" as m; m::K"))
                        .unwrap();
                    ast.set_source(rules.join("main.rhai").display().to_string());
                    engine.eval_ast::<i64>(&ast).is_ok()
                })
                .collect();
            let m5_ok = results[order.iter().position(|m| *m == "m5").unwrap()];
            let m4_ok = results[order.iter().position(|m| *m == "m4").unwrap()];
            assert!(m5_ok && !m4_ok, "{order:?}: {results:?}");
        }
    }

    /// Modules are kept by file: however a rule spells the path to one (a new spelling each
    /// row held a copy each, 5.5 GB for 2,000 rows), it is loaded once, and the spellings
    /// remembered are bounded.
    #[test]
    fn a_module_is_kept_once_however_its_path_is_spelt() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        write(&rules.join("m.rhai"), "export const K = 1;");
        std::fs::create_dir_all(rules.join("d")).unwrap();
        let engine = super::super::engine::build(&Limits::default(), vec![rules.clone()]);
        let resolver = SandboxedResolver::new(vec![rules.clone()]);
        let main = rules.join("main.rhai").display().to_string();
        let spellings: Vec<String> = (0..NAMED_PAIRS + 10)
            .map(|i| format!("{}{}m", "./".repeat(i % 50), "d/../".repeat(i / 50)))
            .collect();
        let first = resolver
            .resolve(&engine, Some(&main), &spellings[0], Position::NONE)
            .unwrap();
        for path in &spellings {
            let module = resolver
                .resolve(&engine, Some(&main), path, Position::NONE)
                .unwrap();
            assert!(Shared::ptr_eq(&module, &first), "{path}");
        }
        assert_eq!(read(&resolver.files).len(), 1);
        assert_eq!(read(&resolver.named).len(), NAMED_PAIRS);
    }

    /// A function calling itself could import at each of its 32 levels, every module on the
    /// same stack: three such modules overflowed a worker's stack (exit 134). A `try` could
    /// catch a module's refusal and try again on every path through a cycle, or keep what it
    /// computed after the row's time ran out. The value of a `break`, which rhai's walk does
    /// not reach, hid an import from an earlier check.
    #[test]
    fn an_import_anywhere_but_the_top_level_outside_try_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        write(&rules.join("leaf.rhai"), "export const K = 1;");
        let cases = [
            ("in_fn", "fn f(n) {\n  if n > 0 { f(n - 1) } else { import \"leaf\" as l; l::K }\n}\nexport const K = f(30);\n", "2:32"),
            ("in_break", "fn f() {\n  loop { break { import \"leaf\" as l; l::K }; }\n}\nexport const K = f();\n", "2:18"),
            ("in_closure", "let c = || { import \"leaf\" as l; l::K };\nexport const K = c.call();\n", "1:14"),
            ("in_try", "let k = 0;\ntry { import \"leaf\" as l; k = l::K; } catch {}\nexport const K = k;\n", "2:7"),
        ];
        for (name, code, at) in cases {
            write(&rules.join(format!("{name}.rhai")), code);
            let refused = run(&rules, &format!("import \"{name}\" as m; m::K")).unwrap_err();
            assert_eq!(
                refused,
                format!(
                    "{}:{at}: {MISPLACED_IMPORT}",
                    rules.join(format!("{name}.rhai")).display()
                ),
                "{name}"
            );
        }
        // Past line 65,535 every position is the same, so imports could not be told apart by
        // position (they are counted): such a file is refused before anything else.
        let padded = "\n".repeat(65_540)
            + "import \"leaf\" as l;\nlet k = 0;\ntry {\nimport \"leaf\" as q; k = q::K; } catch {}\nexport const K = k;\n";
        write(&rules.join("padded.rhai"), &padded);
        let refused = run(&rules, "import \"padded\" as m; m::K").unwrap_err();
        assert_eq!(
            refused,
            format!(
                "{}:65535:1: the module has more than 65,535 lines, the most one may (split the \
                 rule into factors, or its functions into modules)",
                rules.join("padded.rhai").display()
            )
        );
        // At the top level, in an `if` or a `switch` arm: allowed.
        write(
            &rules.join("top.rhai"),
            "if true { import \"leaf\" as l; }\nswitch 1 { 1 => { import \"leaf\" as k; } }\nimport \"leaf\" as l;\nexport const K = l::K;\n",
        );
        assert_eq!(run(&rules, "import \"top\" as m; m::K"), Ok(1));
    }

    /// What a module's evaluation runs into is said at its own file and position, and kept (it
    /// is the same for every row): only a row's time or memory running out is the row's.
    #[test]
    fn a_module_over_a_limit_is_refused_at_its_own_position() {
        let root = tempfile::tempdir().unwrap();
        let rules = root.path().join("rules");
        write(
            &rules.join("spin.rhai"),
            "// spins\nlet x = 0;\nloop { x += 1; }\n",
        );
        let limits = Limits {
            max_operations: 10_000,
            ..Limits::default()
        };
        let engine = super::super::engine::build(&limits, vec![rules.clone()]);
        let mut ast = engine.compile("import \"spin\" as s; 1").unwrap();
        ast.set_source(rules.join("main.rhai").display().to_string());
        let refused = Refusal::of(&engine.eval_ast::<i64>(&ast).unwrap_err()).unwrap();
        assert!(
            refused.starts_with(&format!("{}:3:", rules.join("spin.rhai").display())),
            "{refused}"
        );
        assert!(refused.contains("Too many operations"), "{refused}");
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
                 most one may (compute a list with a loop, or split the rule into factors)",
                rules.join("big.rhai").display()
            )
        );
    }
}
