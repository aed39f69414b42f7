//! Compares two committed tierscore outputs customer by customer (`tierscore diff`).
//!
//! Analysts change a rule, a weight or a threshold, run again into a second directory and need
//! to see what the change does to customers: who moves between tiers, how scores shift, who
//! moved most and which factors moved them. This module reads both outputs (their
//! `_manifest.json` and Parquet files), joins them by the id column and computes the figures;
//! the command only prints them.
//!
//! Memory is bounded by the columns compared: the old side is indexed by id (id, score, tier,
//! the factors both sides have), the new side is streamed batch by batch against that index.
//! Only those columns are decoded (a projection), and results do not depend on hash order.

pub mod changes;
mod join;
mod keys;
mod output;
mod report;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use arrow::datatypes::DataType;

use join::Join;
use keys::id_kind;
use output::{Output, TierNames};

pub use keys::Key;
pub use report::{Cell, Comparison, Mover, OneSided, OutputSummary, Shift};

/// Why two outputs could not be compared. All are data failures (exit code 3).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DiffError {
    /// The directory holds no `_manifest.json` written by tierscore.
    #[error("{side} output {} is not a tierscore output: {reason}", dir.display())]
    #[diagnostic(
        code(diff::not_an_output),
        help("pass two directories written by `tierscore run` (each holds a _manifest.json written by tierscore)")
    )]
    NotAnOutput {
        side: Side,
        dir: PathBuf,
        reason: String,
    },
    /// The manifest is tierscore's but cannot be understood by this version.
    #[error("{side} output {}: _manifest.json {detail}", dir.display())]
    #[diagnostic(
        code(diff::bad_manifest),
        help("the output was written by another version of tierscore, or edited; run `tierscore run` again into it")
    )]
    BadManifest {
        side: Side,
        dir: PathBuf,
        detail: String,
    },
    /// The two outputs name different id columns, so their customers cannot be matched.
    #[error(
        "the outputs use different id columns: `{old}` in the old one, `{new}` in the new one"
    )]
    #[diagnostic(
        code(diff::id_columns_differ),
        help("diff matches customers by id; compare outputs of pipelines with the same input.id")
    )]
    IdColumnsDiffer { old: String, new: String },
    /// The id columns hold different kinds of id: integers and strings, or another type (a
    /// date, a decimal, …) and a different one. Types are compared as logical types: a
    /// dictionary-encoded id is its values' type, and timestamp zones naming the same instants
    /// (`UTC`, `+00:00`) are one zone.
    #[error("id column `{column}` is {old} in the old output and {new} in the new one")]
    #[diagnostic(
        code(diff::id_types_differ),
        help("diff matches integer ids with integer ids, string ids with string ids, and ids of another type (dates, decimals, …) with ids of the same type; compare outputs of the same input")
    )]
    IdTypesDiffer {
        column: String,
        old: DataType,
        new: DataType,
    },
    /// An id occurs twice on one side, so the join would be ambiguous.
    #[error("{side} output {} has id {id} more than once", dir.display())]
    #[diagnostic(
        code(diff::duplicate_id),
        help(
            "diff matches customers by id, so ids must be unique; deduplicate the pipeline's input"
        )
    )]
    DuplicateId { side: Side, dir: PathBuf, id: Key },
    /// A data file could not be opened or decoded.
    #[error("cannot read {}: {detail}", path.display())]
    #[diagnostic(
        code(diff::unreadable),
        help("the file is missing or damaged; run `tierscore run` again into that output")
    )]
    Unreadable { path: PathBuf, detail: String },
    /// A data file does not hold what its manifest says (a column, a type, a row count).
    #[error("{}: {detail}", path.display())]
    #[diagnostic(
        code(diff::unexpected_content),
        help("the output does not match its _manifest.json; run `tierscore run` again into it")
    )]
    UnexpectedContent { path: PathBuf, detail: String },
    /// The report could not be written to stdout.
    #[error("cannot write the report: {0}")]
    #[diagnostic(
        code(diff::write),
        help("check where stdout goes: a redirect's disk may be full")
    )]
    Write(#[source] std::io::Error),
}

/// Which of the two outputs a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The output before the change (`OLD_OUT`).
    Old,
    /// The output after the change (`NEW_OUT`).
    New,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Old => "old",
            Side::New => "new",
        })
    }
}

/// Reads both outputs and compares them; `top` bounds the movers and the ids listed.
pub fn compare(old_dir: &Path, new_dir: &Path, top: usize) -> Result<Comparison, DiffError> {
    let old = Output::open(Side::Old, old_dir)?;
    let new = Output::open(Side::New, new_dir)?;
    if old.id != new.id {
        return Err(DiffError::IdColumnsDiffer {
            old: old.id,
            new: new.id,
        });
    }
    if let (Some(old_type), Some(new_type)) = (old.id_type()?, new.id_type()?) {
        if id_kind(&old_type).is_some()
            && id_kind(&new_type).is_some()
            && id_kind(&old_type) != id_kind(&new_type)
        {
            return Err(DiffError::IdTypesDiffer {
                column: old.id.clone(),
                old: old_type,
                new: new_type,
            });
        }
    }
    let factors: Vec<String> = new
        .factors
        .iter()
        .filter(|f| old.factors.contains(f))
        .cloned()
        .collect();
    let factors_added = new
        .factors
        .iter()
        .filter(|f| !old.factors.contains(f))
        .cloned()
        .collect();
    let factors_removed = old
        .factors
        .iter()
        .filter(|f| !new.factors.contains(f))
        .cloned()
        .collect();
    let mut tiers = TierNames::default();
    for name in new.tiers.iter().chain(&old.tiers) {
        tiers.list(name);
    }
    let old_tiers: Vec<usize> = old.tiers.iter().map(|t| tiers.list(t)).collect();

    let mut join = Join::new(factors.len(), top);
    join.reserve(old.files.iter().map(|(_, rows, _)| *rows).sum());
    let duplicate = |output: &Output, key: Key| DiffError::DuplicateId {
        side: output.side,
        dir: output.dir.clone(),
        id: key,
    };
    let old_rows = old.stream(&factors, &mut tiers, |rows| {
        for (row, key) in rows.keys.into_iter().enumerate() {
            let values = &rows.factors[row * factors.len()..(row + 1) * factors.len()];
            join.index_old(key, rows.scores[row], rows.tiers[row], values)
                .map_err(|key| duplicate(&old, key))?;
        }
        Ok(())
    })?;
    let new_rows = new.stream(&factors, &mut tiers, |rows| {
        for (row, key) in rows.keys.iter().enumerate() {
            let values = &rows.factors[row * factors.len()..(row + 1) * factors.len()];
            join.add_new(key, rows.scores[row], rows.tiers[row], values)
                .map_err(|key| duplicate(&new, key))?;
        }
        Ok(())
    })?;
    let mut shift_tiers: Vec<usize> = old_tiers.into_iter().chain(join.old_tiers_seen()).collect();
    shift_tiers.sort_unstable();
    shift_tiers.dedup();
    let report = join.finish(&tiers.names, &shift_tiers, &factors);
    Ok(Comparison {
        old: OutputSummary {
            path: old_dir.display().to_string(),
            run_id: old.run_id,
            rows: old_rows,
        },
        new: OutputSummary {
            path: new_dir.display().to_string(),
            run_id: new.run_id,
            rows: new_rows,
        },
        id_column: old.id,
        tiers: tiers.names,
        matrix: report.matrix,
        matrix_rows: report.matrix_rows,
        only_in_old: report.only_in_old,
        only_in_new: report.only_in_new,
        score_shift: report.score_shift,
        score_shift_all: report.score_shift_all,
        top_movers: report.top_movers,
        factors,
        factors_added,
        factors_removed,
        changes: changes::between(&old.manifest, &new.manifest),
    })
}
