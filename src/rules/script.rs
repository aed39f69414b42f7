//! A rule's text and positions in it: where messages about a rule point, whichever engine runs
//! it.

use miette::SourceSpan;

use crate::diagnostic::{FileProblem, SourceFile};

/// A position in a rule's code (1-based line and column), or none for the rule as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScriptPos {
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl ScriptPos {
    /// Line and column, both 1-based.
    pub const fn new(line: usize, column: usize) -> Self {
        Self {
            line: Some(line),
            column: Some(column),
        }
    }
}

impl From<rhai::Position> for ScriptPos {
    fn from(pos: rhai::Position) -> Self {
        Self {
            line: pos.line(),
            column: pos.position(),
        }
    }
}

/// Where a rule's text lives, for error messages.
#[derive(Debug, Clone)]
pub enum RuleText {
    /// A `.rhai` file.
    File(SourceFile),
    /// An inline `expr:` in the pipeline file, at `span` of key `key`.
    Inline {
        code: String,
        yaml: SourceFile,
        key: String,
        span: Option<SourceSpan>,
    },
}

impl RuleText {
    /// The rhai source code.
    pub fn code(&self) -> &str {
        match self {
            RuleText::File(file) => file.text(),
            RuleText::Inline { code, .. } => code,
        }
    }

    /// How messages name the rule's code: `rules/economic.rhai` or `pipeline.yaml factors[1].expr`.
    pub fn label(&self) -> String {
        match self {
            RuleText::File(file) => file.name().to_string(),
            RuleText::Inline { yaml, key, .. } => format!("{} {key}", yaml.name()),
        }
    }

    /// `file:line:col` of a position in the rule's code.
    pub fn locate(&self, pos: ScriptPos) -> String {
        match (pos.line, pos.column) {
            (Some(line), Some(col)) => format!("{}:{line}:{col}", self.label()),
            (Some(line), None) => format!("{}:{line}", self.label()),
            _ => self.label(),
        }
    }

    /// A problem at a position of the rule's code, underlining `len` bytes.
    pub fn problem(
        &self,
        code: &'static str,
        pos: ScriptPos,
        len: usize,
        message: String,
    ) -> FileProblem {
        match self {
            RuleText::File(file) => {
                let span = pos.line.map(|line| {
                    let offset = file.offset_of(line, pos.column.unwrap_or(1));
                    SourceSpan::from((offset, len.max(1)))
                });
                FileProblem::error(code, file, span, message)
            }
            RuleText::Inline {
                yaml, key, span, ..
            } => {
                let at = match (pos.line, pos.column) {
                    (Some(line), Some(col)) => format!(" (at {line}:{col} of the expression)"),
                    _ => String::new(),
                };
                FileProblem::error(code, yaml, *span, format!("{key}: {message}{at}"))
            }
        }
    }
}
