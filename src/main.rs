//! The `tierscore` binary: parses the command line and hands over to [`tierscore::commands`].

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tierscore::commands::{
    self, check::CheckArgs, diff::DiffArgs, explain::ExplainArgs, gen::GenArgs, report::ReportArgs,
    run::RunArgs, test::TestArgs, Ui,
};

/// Rule-driven batch scoring of customer value: rhai rules over Parquet, tiered Parquet out.
#[derive(Debug, Parser)]
#[command(
    name = "tierscore",
    version = tierscore::VERSION,
    about,
    after_help = "Examples:
  tierscore gen --rows 2000 --seed 42 --out testdata/customers.parquet
  tierscore run pipelines/customer_value.yaml
  tierscore run pipelines/customer_value.yaml --set as_of=2026-12-01 --limit 1000

Exit codes: 0 success; 1 the pipeline, rules or tests are wrong; 2 command-line usage;
3 data or runtime failure (unreadable input, too many rejects, output not committed);
4 another run is writing the output (retry later)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// No progress bar, no summary and no warnings: nothing on stderr but errors.
    #[arg(long, global = true, env = "TIERSCORE_QUIET", value_parser = quiet_value)]
    quiet: bool,
    /// Log format on stderr: `json` gives one JSON object per line, for schedulers.
    #[arg(long, global = true, value_enum, env = "TIERSCORE_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// Reads a switch's environment variable (`TIERSCORE_QUIET`) as docs/scheduling.md lists it:
/// `true`, `1`, `yes`, `on` turn it on; `false`, `0`, `no`, `off` or empty leave it off (any
/// case); anything else is a usage error. clap's parser for a `bool` flag takes only `true` and
/// `false`; its `BoolishValueParser` refuses an empty value and its `FalseyValueParser` takes
/// any other text (a typo) as on. A `--quiet` on the command line takes no value and reaches
/// this as `true`.
fn quiet_value(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(
            "TIERSCORE_QUIET takes true, 1, yes or on to turn --quiet on, and false, 0, \
                  no, off or empty to leave it off"
                .into(),
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score the input and commit tiered output.
    Run(RunArgs),
    /// Check a pipeline and its rules against the input's schema; report every problem.
    Check(CheckArgs),
    /// Compare two outputs: tier migration, score shift, top movers by id.
    Diff(DiffArgs),
    /// Explain one customer: each factor's inputs, value, weight and contribution; the tier.
    Explain(ExplainArgs),
    /// Run the rule test cases of pipelines (their `tests:` and NAME.tests.yaml beside them).
    Test(TestArgs),
    /// Write deterministic synthetic customer data.
    Gen(GenArgs),
    /// Render a committed output's HTML report (_report.html) again, from the output alone.
    Report(ReportArgs),
}

fn main() -> ExitCode {
    // SAFETY: setting a signal's disposition to SIG_IGN at start-up, before any thread exists,
    // installs no handler code. With SIGXFSZ ignored, a write past `ulimit -f` fails with EFBIG
    // (an I/O error, exit 3) instead of killing the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    tierscore::panic_guard::install_panic_hook();
    let cli = Cli::parse();
    let ui = Ui {
        quiet: cli.quiet,
        json: cli.log_format == LogFormat::Json,
    };
    tierscore::logging::init(ui);
    let result = match &cli.command {
        Command::Run(args) => commands::run::execute(args, ui).map(drop),
        Command::Check(args) => commands::check::execute(args, ui),
        Command::Diff(args) => commands::diff::execute(args, ui),
        Command::Test(args) => commands::test::execute(args, ui),
        Command::Explain(args) => commands::explain::execute(args, ui),
        Command::Gen(args) => commands::gen::execute(args, ui),
        Command::Report(args) => commands::report::execute(args, ui),
    };
    let result = result.and_then(|()| commands::finish_stdout().map_err(Into::into));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let err = if ui.quiet {
                err.without_warnings()
            } else {
                err
            };
            tierscore::logging::report_error(&err, ui);
            ExitCode::from(err.exit_code())
        }
    }
}
