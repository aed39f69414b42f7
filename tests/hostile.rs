//! Hostile cases: what an attacker, a fault or careless input does to tierscore, one named case
//! each. Every case asserts the exit code and the message, that nothing outside the output
//! changed and, where there was one, that the previous output is intact.
//!
//! - `output`: the output only ever holds what tierscore wrote, and nothing else is removed;
//! - `gen`: `gen --out` never replaces what is not its own to replace;
//! - `budgets`: wall time and memory per row, memory with many large rejects;
//! - `inputs`: duplicate ids, UInt64 ids past i64::MAX;
//! - `loading`: loading in linear time, or a limit error;
//! - `scripts`: scripts that would panic, or fail every row, are caught by `check`;
//! - `usage`: bad command-line values are usage errors before any row is read;
//! - `streams`: closed or full stdout and stderr, oversized files, a full disk and the
//!   open-file limit;
//! - `checksums`: a damaged page of any file tierscore wrote is refused on its checksum.

#[path = "hostile/budgets.rs"]
mod budgets;
#[path = "hostile/checksums.rs"]
mod checksums;
mod common;
#[path = "hostile/gen.rs"]
mod gen_out;
#[path = "hostile/inputs.rs"]
mod inputs;
#[path = "hostile/loading.rs"]
mod loading;
#[path = "hostile/output.rs"]
mod output;
#[path = "hostile/scripts.rs"]
mod scripts;
#[path = "hostile/streams.rs"]
mod streams;
#[path = "hostile/usage.rs"]
mod usage;

use std::path::Path;

use common::*;

/// A pipeline `p.yaml` scoring `customers.parquet` (200 rows) into `out` with `factor` (a
/// `script: FILE` or `expr: "…"`), under `params` and `limits` (YAML mappings).
fn pipeline(dir: &Path, factor: &str, params: &str, limits: &str) {
    if !dir.join("customers.parquet").exists() {
        gen(dir, "customers.parquet", 200, 3, 200);
    }
    write(
        dir,
        "p.yaml",
        &format!(
            r#"version: 1
name: p
input: {{ path: customers.parquet, id: customer_id }}
params: {params}
factors:
  - {{ name: value, {factor}, weight: 1.0 }}
tiers:
  levels:
    - {{ name: high, min: 8 }}
    - {{ name: low }}
output: {{ path: out }}
limits: {limits}
"#
        ),
    );
}

/// [`pipeline`] with a plain factor, no params and the default limits.
fn plain(dir: &Path) {
    pipeline(dir, r#"expr: "orders_12m * 1.0""#, "{}", "{}");
}
