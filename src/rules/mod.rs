//! Stage 2 of the data path: analyst rules, from rhai source to rules that evaluate a
//! `RecordBatch` into Arrow columns.
//!
//! Every rule, whichever engine runs it, is a [`Rule`]: it takes a batch and the rows still
//! alive and gives its value for each (a typed Arrow column), the reason (for factors) and the
//! rows that failed, with located messages — the shape of DataFusion's `PhysicalExpr`. What a
//! rule must give is fixed when it is built ([`Returns`]).
//!
//! - [`script`]: a rule's text and positions in it; [`parse`]: source to AST, located compile
//!   errors, and [`analyze`]: the names a rule uses;
//! - [`interpreter`]: the rhai interpreter, the reference backend covering all of rhai;
//! - [`compiled`]: the compiled engine for the common subset, which hands the rows it does not
//!   finish to the interpreter;
//! - [`coverage`]: which branches of a rule rows take, from an instrumented interpreter run;
//! - [`cells`]: how Arrow cells read as script values; [`dates`], [`library`]: the date values
//!   and helper functions, as plain functions every backend calls.
//!
//! No rhai type is named outside this module.

pub mod analyze;
pub mod budget;
pub mod cells;
pub mod compiled;
pub mod coverage;
pub mod dates;
pub mod guard;
pub mod interpreter;
pub mod library;
pub mod script;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::DataType;

use crate::diagnostic::codes;
use crate::diagnostic::{FileProblem, SourceFile};
use crate::pipeline::{Limits, Pipeline, RuleSource};
pub use analyze::Usage;
pub use cells::check_readable;
pub use script::{RuleText, ScriptPos};

/// The result of a helper or date operation on one row; the error is the message the row fails
/// with (each engine adds where in the script it happened).
pub type Fallible<T> = Result<T, String>;

/// `text` cut to at most `max_bytes` bytes (at a character boundary), saying how much was cut:
/// messages built from script values (a thrown 90 KB string) stay readable and bounded.
pub fn cap_message(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// The longest reason a factor keeps for a row, in bytes (an array's texts joined): a longer one
/// is cut by [`cap_message`], saying by how much, on both engines. A script can build a
/// 100,000-character text for every row; kept whole, one batch's reasons took gigabytes and
/// overflowed Arrow's 2 GiB of text a column.
pub const MAX_REASON_BYTES: usize = 1024;

/// What a rule must give for every row, fixed when the rule is built.
#[derive(Debug, Clone, PartialEq)]
pub enum Returns {
    /// A factor: a number, or `#{ value: number, reason: … }`. Values come as `Float64`, with a
    /// `Utf8` reason column.
    Factor,
    /// A score script: a number, as `Float64`.
    Score,
    /// A tier script: the name of one of these levels, as the level's index (`UInt32`).
    Tier(Arc<[String]>),
}

impl Returns {
    /// The Arrow type of the values a rule with this contract gives.
    pub fn data_type(&self) -> DataType {
        match self {
            Returns::Factor | Returns::Score => DataType::Float64,
            Returns::Tier(_) => DataType::UInt32,
        }
    }
}

/// A rule as written: what the plan and `check` know of it, whichever engine runs it.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    /// What the rule computes: a factor's name, `score` or `tier`.
    pub name: String,
    pub text: Arc<RuleText>,
    /// Names from the environment the rule reads (columns, earlier factors), in first-use order,
    /// with the position of the first use.
    pub reads: Vec<(String, ScriptPos)>,
    /// Everything else `check` wants to know about how the rule uses its names.
    pub usage: Usage,
    pub returns: Returns,
}

/// A rule's results over one batch, aligned with the batch's rows.
#[derive(Debug, Clone)]
pub struct RuleOutput {
    /// The rule's value per row (the type [`Returns::data_type`] names); null on rows that were
    /// not selected or that failed.
    pub values: ArrayRef,
    /// For factors, the reason per row (null where there is none), or `None` when no row can
    /// have one (a compiled rule that gives no `#{ value, reason }`) or none was asked for
    /// ([`Reasons::Drop`]); `None` for scores and tiers.
    pub reasons: Option<StringArray>,
    /// The selected rows that failed, in row order.
    pub failures: Vec<RowFailure>,
}

/// A row a rule could not evaluate, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFailure {
    /// Row index within the batch.
    pub row: usize,
    /// What kind of failure, stable for grouping rejects: `thrown` (the script's `throw`),
    /// `null_value` (a `()` where a value was needed), `arithmetic` (overflow, division by
    /// zero), `limit_operations`, `limit_call_depth`, `limit_size`, `limit_row_ms`,
    /// `limit_row_memory`, `panic` (the script engine panicked on the row), `bad_value` (the
    /// result is no number, NaN or infinite, or names no tier), `script_error` (any other
    /// runtime error) or `missing_column`.
    pub code: &'static str,
    /// One line: where in the rule (`file:line:col`), what happened, what to do.
    pub message: String,
}

/// Which engine runs a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleEngine {
    /// The compiled engine (rows it does not finish go to the interpreter).
    Compiled,
    /// The interpreter; `because` names the construct the compiler does not take and where
    /// (`None` when the interpreter was asked for).
    Interpreted { because: Option<String> },
}

impl std::fmt::Display for RuleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleEngine::Compiled => f.write_str("compiled"),
            RuleEngine::Interpreted { because: None } => f.write_str("interpreted"),
            RuleEngine::Interpreted {
                because: Some(because),
            } => write!(f, "interpreted: {because}"),
        }
    }
}

/// Which engine `run`, `test` and `explain` use for each rule (`--engine`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// Compiled where the compiler takes the rule, interpreted otherwise.
    #[default]
    Auto,
    /// Every rule compiled; a rule the compiler does not take is an error.
    Compiled,
    /// Every rule on the interpreter.
    Interpreted,
}

/// Whether an evaluation keeps the factors' reasons. A rule gives the same values and fails
/// the same rows either way (a reason's expression still runs, and can still fail a row); only
/// the reasons' text is not gathered when nothing shows it: the output does not write reasons
/// (`output.reasons: false`), or a whole-run pass only wants the scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasons {
    Keep,
    Drop,
}

/// A rule ready to evaluate over batches: the one interface every backend implements.
pub trait Rule: Send + Sync + std::fmt::Debug {
    /// What the rule is, as written.
    fn info(&self) -> &RuleInfo;

    /// Which engine runs it.
    fn engine(&self) -> RuleEngine;

    /// Rows a compiled rule has handed to the interpreter since it was built (it fails them, or
    /// they take a path not compiled); 0 for an interpreted rule.
    fn rows_interpreted(&self) -> u64 {
        0
    }

    /// Evaluates the rule on the rows of `batch` listed in `selection` (ascending row indexes).
    ///
    /// `batch` holds every column in [`RuleInfo::reads`]; the plan guarantees it. With
    /// [`Reasons::Drop`] the output has no reasons.
    fn evaluate(&self, batch: &RecordBatch, selection: &[u32], reasons: Reasons) -> RuleOutput;

    /// The rule on the interpreter, the reference every engine agrees with bit for bit:
    /// [`coverage`] traces it to count the branches rows take, whichever engine scores.
    fn interpreted(&self) -> &interpreter::InterpretedRule;
}

/// The outcome of building a rule.
#[derive(Debug)]
pub struct Built {
    /// The rule, whenever its code parses. When it read undefined names they were stood in for
    /// so the rest of the code could still be checked; such a rule comes with problems and must
    /// not run.
    pub rule: Option<Box<dyn Rule>>,
    /// Compile errors, located in the rule's code.
    pub problems: Vec<FileProblem>,
}

/// Builds the rules of one pipeline.
pub struct RuleBuilder {
    interpreter: Arc<interpreter::Interpreter>,
    limits: Limits,
    choice: EngineChoice,
}

impl RuleBuilder {
    /// A builder for `pipeline`'s rules, with its limits and params, on the engine `choice`
    /// asks for.
    pub fn new(pipeline: &Pipeline, choice: EngineChoice) -> Self {
        Self {
            interpreter: Arc::new(interpreter::Interpreter::for_pipeline(pipeline)),
            limits: pipeline.limits,
            choice,
        }
    }

    /// Reads (if a file) and builds a rule that may read the `visible` names and must give what
    /// `returns` says.
    ///
    /// `key` is the rule's key path in the pipeline file, where a missing script is reported.
    pub fn build(
        &self,
        pipeline: &Pipeline,
        name: &str,
        rule: &RuleSource,
        key: &str,
        visible: &[&str],
        returns: Returns,
    ) -> Built {
        let text = match rule {
            RuleSource::Script(path) => {
                match crate::local_file::read_text(path, crate::local_file::MAX_SCRIPT_BYTES) {
                    Ok(code) => RuleText::File(SourceFile::new(path.display().to_string(), code)),
                    Err(err) => {
                        let (code, help) = match err.kind() {
                            std::io::ErrorKind::FileTooLarge => (
                                codes::rules::TOO_LARGE,
                                "split the rule into factors, or its functions into modules",
                            ),
                            std::io::ErrorKind::InvalidInput => (
                                codes::rules::UNREADABLE,
                                "name a script file, relative to the pipeline file",
                            ),
                            _ => (
                                codes::rules::UNREADABLE,
                                "script paths are relative to the pipeline file",
                            ),
                        };
                        let problem = pipeline
                            .problem_at(
                                code,
                                key,
                                format!("cannot read script {}: {err}", path.display()),
                            )
                            .with_help(help);
                        return Built {
                            rule: None,
                            problems: vec![problem],
                        };
                    }
                }
            }
            RuleSource::Inline { code, key } => RuleText::Inline {
                code: code.clone(),
                yaml: pipeline.source.clone(),
                key: key.clone(),
                span: pipeline.span_of(key),
            },
        };
        let parsed = self.interpreter.parse(name, text, visible, returns);
        let mut problems = parsed.problems;
        let rule = parsed.rule.map(|parsed| {
            let interpreted = self.interpreter.rule(parsed);
            if self.choice == EngineChoice::Interpreted {
                return Box::new(interpreted) as Box<dyn Rule>;
            }
            match compiled::CompiledRule::lower(&interpreted, &self.limits) {
                Ok(program) => Box::new(compiled::CompiledRule::new(
                    interpreted,
                    program,
                    &self.limits,
                )) as Box<dyn Rule>,
                Err(unsupported) => {
                    if self.choice == EngineChoice::Compiled {
                        problems.push(
                            interpreted
                                .info()
                                .text
                                .problem(
                                    codes::rules::NOT_COMPILED,
                                    unsupported.pos,
                                    1,
                                    format!(
                                        "rule `{name}` cannot be compiled: {}",
                                        unsupported.construct
                                    ),
                                )
                                .with_help(
                                    "run with --engine auto to interpret this rule, or rewrite it without this construct",
                                ),
                        );
                    }
                    let at = interpreted.info().text.locate(unsupported.pos);
                    let reason = format!("{} at {at}", unsupported.construct);
                    Box::new(interpreted.because(reason)) as Box<dyn Rule>
                }
            }
        });
        Built { rule, problems }
    }
}
