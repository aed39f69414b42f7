//! The commands: each wires the stages of the data path together for one job.
//!
//! One file per command, its usage at the top. Every command returns a [`CommandError`],
//! whose [`CommandError::exit_code`] is the contract schedulers rely on.

/// `println!` for reports on stdout that never panics: a reader that went away (`| head`) or a
/// full disk must not turn a finished command into a crash. The first failure is kept for
/// [`finish_stdout`], which fails the command unless the reader just went away.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::commands::say_line(format_args!($($arg)*))
    };
}

pub mod check;
pub mod diff;
pub mod explain;
pub mod gen;
pub mod report;
pub mod run;
pub mod test;

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use crate::diagnostic::Problems;
use crate::pipeline::params::OverrideError;
use crate::pipeline::PipelineError;
use crate::sink::SinkError;
use crate::source::SourceError;
use crate::synth::SynthError;

/// Exit code: the pipeline, rules or tests are wrong.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: command-line usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: data or runtime failure.
pub const EXIT_RUNTIME: u8 = 3;
/// Exit code: another run holds the output's lock; nothing was done, retry later.
pub const EXIT_LOCKED: u8 = 4;

/// Why a command failed, grouped by who must act.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CommandError {
    /// The pipeline file cannot be read or is invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pipeline(#[from] PipelineError),
    /// The pipeline or its rules do not fit together or with the input's schema.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Problems(#[from] Problems),
    /// A `--set` override is malformed or names no param.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Override(#[from] OverrideError),
    /// The input could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Source(#[from] SourceError),
    /// Output could not be written or committed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Sink(#[from] SinkError),
    /// Executing the plan failed (unreadable input, too many rejects, a failing row under
    /// `on_row_error: fail`, output not committed).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Exec(#[from] crate::exec::ExecError),
    /// `explain` found no customer with the id.
    #[error(transparent)]
    #[diagnostic(transparent)]
    NotFound(#[from] explain::NotFound),
    /// The command found problems or failing tests and has reported them.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Findings(#[from] Findings),
    /// Synthetic data could not be written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Synth(#[from] SynthError),
    /// Two outputs could not be compared.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Diff(#[from] crate::diff::DiffError),
    /// The report could not be made.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Report(#[from] crate::report::ReportError),
    /// The report could not be written to stdout (a full disk, an I/O error).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Stdout(#[from] StdoutError),
}

/// Writing the report to stdout failed for another reason than the reader going away.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot write the report to stdout: {0}")]
#[diagnostic(
    code(stdout::write),
    help("check free space and permissions where stdout is redirected")
)]
pub struct StdoutError(std::io::Error);

/// The first failure writing stdout, if any.
static STDOUT_FAILURE: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Writes one line of a report to stdout; after a failure, writes nothing more (see
/// [`finish_stdout`]).
pub fn say_line(line: std::fmt::Arguments) {
    let mut failure = STDOUT_FAILURE.lock().unwrap_or_else(|p| p.into_inner());
    if failure.is_none() {
        if let Err(err) = writeln!(std::io::stdout().lock(), "{line}") {
            *failure = Some(err);
        }
    }
}

/// Flushes stdout and says whether the report reached it: a reader that went away (`| head`)
/// is fine, any other failure is an error (exit 3).
pub fn finish_stdout() -> Result<(), StdoutError> {
    let mut failure = STDOUT_FAILURE.lock().unwrap_or_else(|p| p.into_inner());
    if failure.is_none() {
        if let Err(err) = std::io::stdout().lock().flush() {
            *failure = Some(err);
        }
    }
    match failure.take() {
        Some(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(StdoutError(err)),
        _ => Ok(()),
    }
}

/// Writes `text` to stderr, ignoring failure: an unwritable stderr leaves nowhere to say so,
/// and the exit code still tells.
pub fn to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

impl CommandError {
    /// The process exit code for this failure (see the exit code table in docs/exit-codes.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Sink(SinkError::Locked { .. } | SinkError::RemoteLocked { .. })
            | CommandError::Exec(crate::exec::ExecError::Sink(
                SinkError::Locked { .. } | SinkError::RemoteLocked { .. },
            )) => EXIT_LOCKED,
            CommandError::Pipeline(_) | CommandError::Problems(_) | CommandError::Findings(_) => {
                EXIT_INVALID
            }
            CommandError::Override(_) => EXIT_USAGE,
            CommandError::Source(_)
            | CommandError::Sink(_)
            | CommandError::Exec(_)
            | CommandError::NotFound(_)
            | CommandError::Synth(_)
            | CommandError::Diff(_)
            | CommandError::Report(_)
            | CommandError::Stdout(_) => EXIT_RUNTIME,
        }
    }

    /// The same error with the warnings that came along with it dropped (for `--quiet`, which
    /// leaves nothing but errors on stderr).
    pub fn without_warnings(self) -> Self {
        let errors_only = |Problems(problems): Problems| {
            Problems(
                problems
                    .into_iter()
                    .filter(|p| p.severity == miette::Severity::Error)
                    .collect(),
            )
        };
        match self {
            CommandError::Problems(p) => CommandError::Problems(errors_only(p)),
            CommandError::Pipeline(PipelineError::Invalid(p)) => {
                CommandError::Pipeline(PipelineError::Invalid(errors_only(p)))
            }
            other => other,
        }
    }

    /// The problems located in analysts' files, for machine-readable reports.
    pub fn problems(&self) -> &[crate::diagnostic::FileProblem] {
        match self {
            CommandError::Pipeline(PipelineError::Invalid(p)) | CommandError::Problems(p) => &p.0,
            _ => &[],
        }
    }
}

/// What `check` or `test` found wrong, after reporting the details: the closing line (exit 1).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{0}")]
#[diagnostic(code(findings))]
pub struct Findings(pub String);

/// Report format of `check`, `explain` and `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people.
    Text,
    /// One JSON document for tools (editors, CI, notebooks).
    Json,
}

/// How a command talks to the person or scheduler running it.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// `--quiet`: no progress bar, no summary, no warnings; only errors.
    pub quiet: bool,
    /// `--log-format json`: machine-readable lines on stderr, no progress bar.
    pub json: bool,
}

impl Ui {
    /// Whether a progress bar may be drawn: a person is watching stderr.
    pub fn progress_allowed(&self) -> bool {
        !self.quiet && !self.json && std::io::stderr().is_terminal()
    }
}
