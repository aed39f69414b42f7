//! How tierscore talks on stderr: log lines (text or JSON) and error reports.
//!
//! People get miette reports with the offending line underlined; schedulers (`--log-format
//! json`) get one JSON object per line, errors included, with the exit code.

use std::io::IsTerminal;

use miette::Diagnostic;
use tracing_subscriber::EnvFilter;

use crate::commands::{CommandError, Ui};

/// Starts logging to stderr: `info` and up (only errors with `--quiet`), or as `RUST_LOG` says.
pub fn init(ui: Ui) {
    let default = if ui.quiet { "error" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A failed write to stderr is dropped, never reported by `eprintln!` (which would panic on
    // the same unwritable stderr).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    if ui.json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .without_time()
            .compact()
            .init();
    }
}

/// Prints a failed command's error for the person or scheduler running it.
pub fn report_error(err: &CommandError, ui: Ui) {
    if ui.json {
        let problems: Vec<_> = err.problems().iter().map(|p| p.to_json()).collect();
        let line = serde_json::json!({
            "level": "ERROR",
            "code": err.code().map(|c| c.to_string()),
            "message": err.to_string(),
            "help": err.help().map(|h| h.to_string()),
            "problems": problems,
            "exit_code": err.exit_code(),
        });
        crate::commands::to_stderr(&format!("{line}\n"));
    } else {
        crate::commands::to_stderr(&crate::diagnostic::render(err));
    }
}
