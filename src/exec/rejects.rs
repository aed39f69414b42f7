//! The reject budget: how many rows a run may reject (`errors.max_reject_fraction`) and the first
//! few it did, so every pass that scores stops a hopeless run the same way and says why.

use crate::pipeline::Pipeline;
use crate::score::Reject;
use crate::source::{Scan, SourceBatch};

use super::ExecError;

/// Rejected rows named in the error's help.
const EXAMPLES: usize = 3;

/// Counts the rejects of one pass against the most the run allows.
#[derive(Debug, Clone)]
pub struct RejectBudget {
    /// Rows the run expects to score (the sample's expected size with `--sample`).
    rows: u64,
    fraction: f64,
    /// Rejects past which the run cannot pass. With a sample, whose size is known only at the
    /// end, this is the share of every row read, so an early stop never stops a run that would
    /// pass.
    allowed: u64,
    rejected: u64,
    /// Rows counted so far, to tell an early stop from the final count.
    counted: u64,
    examples: Vec<String>,
    /// What the pass is doing, for the message (empty when scoring for the output).
    during: &'static str,
}

impl RejectBudget {
    /// The budget of a run of `pipeline` over `scan`, for the pass that scores for the output.
    pub fn new(pipeline: &Pipeline, scan: &Scan<'_>) -> Self {
        let rows_read = scan.rows_read();
        let fraction = pipeline.errors.max_reject_fraction;
        Self {
            rows: scan.rows_expected(),
            fraction,
            allowed: (fraction * rows_read as f64).floor() as u64,
            rejected: 0,
            counted: 0,
            examples: Vec::new(),
            during: "",
        }
    }

    /// Rejected rows the run may take ([`crate::score::RejectLimit`] stops scoring past them).
    pub fn allowed(&self) -> u64 {
        self.allowed
    }

    /// No limit: `explain` scores one customer whatever the others do.
    pub fn unlimited() -> Self {
        Self {
            rows: 0,
            fraction: 1.0,
            allowed: u64::MAX,
            rejected: 0,
            counted: 0,
            examples: Vec::new(),
            during: "",
        }
    }

    /// A fresh count with the same limit, for the ranking pass (which scores every row once
    /// before the output is written).
    pub fn for_ranking(&self) -> Self {
        Self {
            rejected: 0,
            counted: 0,
            examples: Vec::new(),
            during: " while scoring every row to rank or normalise them",
            ..self.clone()
        }
    }

    /// Counts a batch's rejects; fails once they pass the limit.
    pub fn count(
        &mut self,
        scan: &Scan<'_>,
        batch: &SourceBatch,
        rejects: &[Reject],
    ) -> Result<(), ExecError> {
        self.rejected += rejects.len() as u64;
        self.counted += batch.batch.num_rows() as u64;
        for reject in rejects
            .iter()
            .take(EXAMPLES.saturating_sub(self.examples.len()))
        {
            self.examples.push(format!(
                "{} row {} (step {}): {}",
                scan.source.files()[batch.file].path.display(),
                batch.row_number(reject.row),
                reject.step,
                reject.message
            ));
        }
        if self.rejected > self.allowed {
            return Err(self.exceeded(self.counted < self.rows));
        }
        Ok(())
    }

    /// The check at the end of the run, on the rows it actually read.
    pub fn check_total(&self, input: u64) -> Result<(), ExecError> {
        if self.rejected as f64 > self.fraction * input as f64 {
            return Err(self.exceeded(input < self.rows));
        }
        Ok(())
    }

    fn exceeded(&self, so_far: bool) -> ExecError {
        let mut help = String::from("first rejected rows:");
        for line in &self.examples {
            help.push_str("\n  ");
            help.push_str(line);
        }
        help.push_str("\nfix the rule or the data, or raise errors.max_reject_fraction");
        ExecError::TooManyRejects {
            rejected: self.rejected,
            rows: self.rows,
            so_far: if so_far { " so far" } else { "" },
            during: self.during,
            fraction: self.fraction,
            allowed: self.allowed,
            help,
        }
    }
}
