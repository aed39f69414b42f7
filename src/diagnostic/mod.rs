//! A problem at a place in an analyst's file (pipeline YAML or rule script).
//!
//! Every stage that finds something wrong with what an analyst wrote reports it as a
//! [`FileProblem`]: a code, a message, the file and a span, and a help line saying what to do.
//! It renders for people through miette (with the offending line underlined) and as JSON for
//! editors, CI and schedulers.

pub mod codes;
pub mod suggest;

use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError,
    MietteSpanContents, Severity, SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

/// The text of one file, shared by every problem that points into it.
#[derive(Debug, Clone)]
pub struct SourceFile(Arc<SourceInner>);

#[derive(Debug)]
struct SourceInner {
    name: String,
    text: Arc<str>,
    /// Byte offsets where each line starts, made on first use: finding a position is then a
    /// binary search, so locating every problem of a large file stays linear overall.
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

/// miette counts columns in bytes; analysts (and our JSON) count characters, which differ
/// after non-ASCII text such as Chinese column names. This gives miette character columns.
impl SourceCode for SourceInner {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let bytes =
            self.text
                .as_bytes()
                .read_span(span, context_lines_before, context_lines_after)?;
        let (data, context) = (bytes.data(), *bytes.span());
        if data.len() > MAX_SNIPPET_BYTES && span.len() < MAX_SNIPPET_BYTES {
            return Ok(self.window(span, context));
        }
        let start = floor_char_boundary(&self.text, context.offset().min(self.text.len()));
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..start].chars().count();
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            data,
            context,
            bytes.line(),
            column,
            bytes.line_count(),
        )))
    }
}

/// The most bytes of a file a problem shows around its span. A snippet is whole lines, so a
/// problem in a minified script or on a line of 65,535 characters (`rules::line_too_long`)
/// printed all of it; past this, only [`WINDOW_BYTES`] either side of the span are shown.
const MAX_SNIPPET_BYTES: usize = 2 << 10;

/// Bytes shown either side of a span whose lines are too long to show whole.
const WINDOW_BYTES: usize = 160;

impl SourceInner {
    /// [`SourceFile::line_col`].
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let text = &self.text;
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let starts = self.line_starts();
        // The last line starting at or before the offset.
        let line = starts.partition_point(|&start| start <= offset);
        (line, text[starts[line - 1]..offset].chars().count() + 1)
    }

    /// Byte offsets where each line starts (the first is 0), made on first use.
    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
    }

    /// The text from [`WINDOW_BYTES`] before `span` to as many after it, within `context`
    /// (whole lines around it) and on character boundaries, with the line and character
    /// column where it starts.
    fn window<'a>(
        &'a self,
        span: &SourceSpan,
        context: SourceSpan,
    ) -> Box<dyn SpanContents<'a> + 'a> {
        let text = &self.text;
        let context_end = (context.offset() + context.len()).min(text.len());
        let start = floor_char_boundary(
            text,
            span.offset()
                .saturating_sub(WINDOW_BYTES)
                .max(context.offset()),
        );
        let mut end = (span.offset() + span.len() + WINDOW_BYTES).min(context_end);
        while !text.is_char_boundary(end) {
            end += 1;
        }
        // miette counts both from 0.
        let (line, column) = self.line_col(start);
        let (line, column) = (line - 1, column - 1);
        let shown = &text[start..end];
        Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            shown.as_bytes(),
            SourceSpan::from((start, end - start)),
            line,
            column,
            shown.lines().count().max(1),
        ))
    }
}

impl SourceFile {
    /// A file as shown to users: `name` is the path as the user gave or would recognise it.
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        let text: Arc<str> = text.into();
        Self(Arc::new(SourceInner {
            name,
            text,
            line_starts: std::sync::OnceLock::new(),
        }))
    }

    /// The name shown in messages.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.0.text
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        self.0.line_col(offset)
    }

    /// Byte offsets where each line starts (the first is 0).
    fn line_starts(&self) -> &[usize] {
        self.0.line_starts()
    }

    /// The byte offset of a 1-based line and column (in characters), clamped to the text.
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let text = self.text();
        let starts = self.line_starts();
        // Past the last line: the end of the text.
        let line_start = starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(text.len());
        let rest = &text[line_start.min(text.len())..];
        let in_line = rest
            .char_indices()
            .take_while(|(_, c)| *c != '\n')
            .nth(column.saturating_sub(1))
            .map_or_else(|| rest.find('\n').unwrap_or(rest.len()), |(i, _)| i);
        line_start + in_line
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// One problem in an analyst's file, with where it is and what to do about it.
#[derive(Debug, Clone)]
pub struct FileProblem {
    /// Stable machine-readable code, e.g. `pipeline::unknown_key`.
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The file it is in.
    pub file: SourceFile,
    /// Where in the file, when known.
    pub span: Option<SourceSpan>,
    /// Short text under the underlined span.
    pub label: &'static str,
    /// What to do about it.
    pub help: Option<String>,
    /// Errors fail the command; warnings are reported and the command goes on.
    pub severity: Severity,
}

impl FileProblem {
    /// An error at `span` in `file`.
    pub fn error(
        code: &'static str,
        file: &SourceFile,
        span: Option<SourceSpan>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            message: message.into(),
            file: file.clone(),
            span,
            label: "here",
            help: None,
            severity: Severity::Error,
        }
    }

    /// The same problem with a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The same problem as a warning.
    pub fn as_warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// `file:line:col` (or just `file` when the position is unknown).
    pub fn location(&self) -> String {
        match self.span {
            Some(span) => {
                let (line, col) = self.file.line_col(span.offset());
                format!("{}:{line}:{col}", self.file.name())
            }
            None => self.file.name().to_string(),
        }
    }

    /// How the severity is written in JSON and in one-line problems.
    pub fn severity_name(&self) -> &'static str {
        match self.severity {
            Severity::Warning => "warning",
            Severity::Advice => "advice",
            Severity::Error => "error",
        }
    }

    /// The machine-readable form used by `--format json` and `--log-format json`.
    pub fn to_json(&self) -> ProblemJson {
        let position = self.span.map(|span| self.file.line_col(span.offset()));
        ProblemJson {
            code: self.code,
            severity: self.severity_name(),
            message: self.message.clone(),
            file: self.file.name().to_string(),
            line: position.map(|(line, _)| line),
            column: position.map(|(_, col)| col),
            help: self.help.clone(),
        }
    }
}

/// JSON shape of a [`FileProblem`].
#[derive(Debug, Serialize)]
pub struct ProblemJson {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub help: Option<String>,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FileProblem {}

impl Diagnostic for FileProblem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.span.map(|_| self.file.0.as_ref() as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.span.map(|span| {
            Box::new(std::iter::once(LabeledSpan::new_with_span(
                Some(self.label.to_string()),
                span,
            ))) as Box<dyn Iterator<Item = LabeledSpan>>
        })
    }
}

/// Several problems reported together, so an analyst fixes them all in one go.
#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<FileProblem>);

impl Problems {
    /// Whether any problem is an error (warnings alone do not fail a command).
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|p| p.severity == Severity::Error)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self
            .0
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        match (errors, self.0.first()) {
            (1, Some(only)) if self.0.len() == 1 => write!(f, "{only}"),
            _ => write!(f, "{errors} problem(s) found"),
        }
    }
}

impl std::error::Error for Problems {}

impl Diagnostic for Problems {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self.0.as_slice() {
            [only] => only.code(),
            _ => None,
        }
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self.0.as_slice() {
            [only] => only.help(),
            _ => None,
        }
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        match self.0.as_slice() {
            [only] => only.source_code(),
            _ => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        match self.0.as_slice() {
            [only] => only.labels(),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.0.len() < 2 {
            return None;
        }
        Some(Box::new(self.0.iter().map(|p| p as &dyn Diagnostic)))
    }
}

/// A diagnostic rendered as text: colours and Unicode on a terminal, plain ASCII otherwise.
pub fn render(diagnostic: &dyn Diagnostic) -> String {
    let theme = if std::io::stderr().is_terminal() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    if handler.render_report(&mut out, diagnostic).is_err() {
        out = format!("error: {diagnostic}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let file = SourceFile::new("a.yaml", "ab\n年收入: x\n");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(3), (2, 1));
        let colon = "ab\n年收入".len();
        assert_eq!(file.line_col(colon), (2, 4));
        assert_eq!(file.offset_of(2, 4), colon);
        assert_eq!(file.offset_of(9, 9), file.text().len());
    }

    #[test]
    fn rendered_reports_count_columns_in_characters() {
        let file = SourceFile::new("u.rhai", "let a = 1;\nlet 收入 = 年收 * 2.0;\n");
        let offset = "let a = 1;\nlet 收入 = ".len();
        let problem = FileProblem::error("rules::compile", &file, Some((offset, 6).into()), "x");
        assert_eq!(problem.location(), "u.rhai:2:10");
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, &problem)
            .unwrap();
        assert!(out.contains("[u.rhai:2:10]"), "{out}");
    }

    #[test]
    fn location_and_json_name_the_position() {
        let file = SourceFile::new("p.yaml", "version: 1\nfacters: []\n");
        let problem = FileProblem::error(
            "pipeline::unknown_key",
            &file,
            Some((11, 7).into()),
            "unknown key",
        )
        .with_help("did you mean `factors`?");
        assert_eq!(problem.location(), "p.yaml:2:1");
        let json = serde_json::to_value(problem.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "pipeline::unknown_key", "severity": "error",
                "message": "unknown key", "file": "p.yaml", "line": 2, "column": 1,
                "help": "did you mean `factors`?"})
        );
    }
}
