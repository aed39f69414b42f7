//! tierscore: rule-driven batch scoring of customer value.
//!
//! The data path, one stage a module:
//! [`pipeline`] (YAML -> validated pipeline) -> [`rules`] (rhai -> compiled rules) ->
//! [`source`] (Parquet -> projected batches) -> [`derive`] (population columns) -> [`score`] (batch -> factor columns, score,
//! rejects) -> [`tiers`] -> [`sink`] (staging, Parquet, manifest, commit).
//! [`plan`] checks and compiles a pipeline against its input before any row is read;
//! [`commands`] wire the stages together for each command; `main.rs` only parses arguments.

pub mod cases;
pub mod commands;
pub mod compare;
pub mod derive;
pub mod diagnostic;
pub mod exec;
pub mod logging;
pub mod pipeline;
pub mod plan;
pub mod rules;
pub mod score;
pub mod sink;
pub mod source;
pub mod suggest;
pub mod synth;
pub mod tiers;
pub mod whole_run;

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
