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
