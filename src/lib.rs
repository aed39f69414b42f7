//! tierscore: rule-driven batch scoring of customer value.
//!
//! The data path, one stage a module (ARCHITECTURE.md draws it):
//!
//! [`pipeline`] (YAML -> a validated pipeline) -> [`plan`] (checked against the input's schema;
//! each rule built by a backend of [`rules`]) -> [`exec`] (the passes over one scan of the
//! input): [`source`] (Parquet -> projected batches) -> [`derive`] (population columns) ->
//! [`score`] (rules -> factor columns, score, rejects) -> [`tiers`] -> [`sink`] (staging,
//! Parquet, commit), recorded in the [`manifest`].
//!
//! Beside the path: [`stats`] (population maths shared by derive, normalisation and rank
//! tiers), [`diff`] (two outputs compared), [`rule_tests`] (an analyst's test cases),
//! [`synth`] (synthetic customers). [`commands`] wire these together, one command a file;
//! `main.rs` only parses arguments. [`diagnostic`], [`logging`], [`run_id`], [`human`]
//! (numbers for people) and [`local_file`] (only regular files opened; pipelines, scripts and
//! manifests read with a bound) serve every stage.

/// The version `tierscore --version` prints: the crate's version and the commit it was built
/// from (`unknown commit` outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("TIERSCORE_COMMIT"),
    ")"
);

pub mod commands;
pub mod derive;

/// Every allocation is counted per thread, so a script's memory per row is measured (see
/// [`rules::budget`]).
#[global_allocator]
static ALLOCATOR: rules::budget::CountingAllocator = rules::budget::CountingAllocator;
pub mod diagnostic;
pub mod diff;
pub mod exec;
pub mod human;
pub mod local_file;
pub mod logging;
pub mod manifest;
pub mod panic_guard;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod rule_tests;
pub mod rules;
pub mod run_id;
pub mod score;
pub mod sink;
pub mod source;
pub mod stats;
pub mod store;
pub mod synth;
pub mod tiers;

/// Test-only fault injection: whether the environment variable `TIERSCORE_TEST_FAULT` names
/// `fault`. Compiled in always and inert unless set; nothing but the integration tests sets it.
///
/// It exists because two promises guard against failures no correct run produces, so no input
/// can reach them: `drop_row` makes the run count one scored row fewer than its files hold,
/// which the "rows in = scored + rejected" check before commit must refuse (exit 3, nothing
/// committed); `fail_before_swap` fails the commit after every file, the manifest and
/// `_SUCCESS` are staged, just before the swap, which must leave the previous output as it was.
pub fn test_fault(fault: &str) -> bool {
    std::env::var_os("TIERSCORE_TEST_FAULT").is_some_and(|value| value == fault)
}

/// Test-only pause points for the crash harness (`tests/crash.rs`): when the environment
/// variable `TIERSCORE_TEST_PAUSE` names `point`, the process writes `paused at POINT` to stderr
/// and waits there to be killed. Compiled in always and inert unless set; nothing but the
/// integration tests sets it.
///
/// It exists so that a SIGKILL can land at exact moments of a run (after each batch is written,
/// with the manifest staged, between the staged files and the swap, after the swap) however
/// loaded the machine is, instead of at times that may or may not fall in a phase.
pub fn test_pause(point: impl std::fmt::Display) {
    let Some(wanted) = std::env::var_os("TIERSCORE_TEST_PAUSE") else {
        return;
    };
    let point = point.to_string();
    if wanted.to_str() == Some(point.as_str()) {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "paused at {point}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
