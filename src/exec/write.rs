//! The writing end of a run: output rows (laid out by the scoring lanes) and rejects encoded
//! into the staging directory, in turn with scoring or on the worker pool behind it.

use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};

use arrow::array::RecordBatch;
use rayon::ThreadPool;

use super::handoff::{Handoff, Writes};
use crate::manifest::WrittenFile;
use crate::report::Counts;
use crate::sink::chain::{Chain, Chains};
use crate::sink::{OutputWriter, RejectWriter, SinkError};

/// What goes to the writer.
pub enum ToWriter {
    /// Output rows ([`crate::sink::OutputLayout::build`]), each with its tier index.
    Rows(RecordBatch, Vec<usize>),
    /// Rows of the rejects file.
    Rejects(RecordBatch),
}

/// The writing end of the run: output rows and rejects encoded into the staging directory.
pub struct Writing {
    pub output: OutputWriter,
    pub rejects: RejectWriter,
    /// The report's figures, counted from the rows as they are written (none without a report),
    /// in a chain of their own beside the files'.
    pub figures: Option<Arc<Chain<Counts>>>,
    /// The jobs of the files' and the figures' chains.
    pub chains: Arc<Chains>,
    /// Messages written so far (for [`crate::test_pause`]'s `written:N` points).
    pub written: u64,
}

/// What the writer leaves: the output files, the rejects file and the report's counts.
pub type Written = (Vec<WrittenFile>, WrittenFile, Option<Counts>);

impl Writing {
    /// Closes every file: the output files written and the rejects file.
    fn finish(self) -> Result<Written, SinkError> {
        self.chains.finish()?;
        let files = self.output.finish()?;
        let figures = self.figures.map(Chain::into_state);
        Ok((files, self.rejects.finish()?, figures))
    }
}

/// Messages sent and not yet begun, at most, before the sender waits for the writer.
const WAITING_MESSAGES: usize = 2;

/// Messages whose rows the files' and the figures' chains still hold, at most, before the
/// writer takes another.
const HELD_MESSAGES: usize = 2;

/// Where [`Writing`] happens: in turn with scoring, or on the worker pool behind it.
pub enum WriteStage<'scope> {
    /// With one thread: each message written as it is sent, on the sender's thread.
    Inline {
        writing: Box<Writing>,
        /// The first error; nothing is written after it.
        failed: Option<SinkError>,
    },
    /// With more threads: each message written on the pool behind the sender (see
    /// [`Handoff`]).
    Pool {
        handoff: Closing,
        /// The writer's thread, putting what no lane has written on the pool.
        thread: ScopedJoinHandle<'scope, Result<Written, SinkError>>,
    },
}

impl Writes for Writing {
    type Message = ToWriter;

    fn abandon(&mut self) {
        self.chains.abandon();
    }

    fn write(&mut self, message: ToWriter) -> Result<(), SinkError> {
        let Writing {
            output,
            rejects,
            figures,
            chains,
            written,
        } = self;
        // Room for the rows: the chains hold no more than two messages' rows besides these.
        chains.wait_for_room(HELD_MESSAGES)?;
        let held = chains.hold();
        match message {
            ToWriter::Rows(rows, tiers) => {
                output.write(&rows, &tiers, &held)?;
                if let Some(figures) = figures {
                    figures.push(&held, move |counts: &mut Counts| {
                        Ok(counts.add_scored(&rows, &tiers)?)
                    });
                }
            }
            ToWriter::Rejects(rows) => {
                rejects.write(&rows)?;
                if let Some(figures) = figures {
                    figures.push(&held, move |counts: &mut Counts| {
                        Ok(counts.add_rejects(&rows)?)
                    });
                }
            }
        }
        *written += 1;
        crate::test_pause(format_args!("written:{written}"));
        Ok(())
    }
}

/// Closes the writer's [`Handoff`] when dropped: by [`WriteStage::finish`], or when an error or
/// a panic takes the run elsewhere (the writer's thread then ends once what waits is written).
pub struct Closing(Arc<Handoff<Writing>>);

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl<'scope> WriteStage<'scope> {
    /// A writer behind the sender on the run's worker `pool` (see [`Handoff`]): its thread in
    /// `scope` puts what waits on the pool, unless a lane given [`WriteStage::lanes_handoff`]
    /// writes it first.
    pub fn on_pool(
        scope: &'scope Scope<'scope, '_>,
        pool: &'scope ThreadPool,
        writing: Writing,
    ) -> Self {
        let handoff = Arc::new(Handoff::new(writing, WAITING_MESSAGES));
        let driving = Arc::clone(&handoff);
        let thread = scope.spawn(move || {
            let writing = driving.drive(pool)?;
            pool.install(|| writing.finish())
        });
        WriteStage::Pool {
            handoff: Closing(handoff),
            thread,
        }
    }

    /// The handoff a scoring lane writes what waits through before it starts a batch (`None`
    /// inline, where nothing waits).
    pub fn lanes_handoff(&self) -> Option<Arc<Handoff<Writing>>> {
        match self {
            WriteStage::Inline { .. } => None,
            WriteStage::Pool { handoff, .. } => Some(Arc::clone(&handoff.0)),
        }
    }

    /// Hands `message` to the writer; `false` once the writer has stopped on an error, which
    /// [`WriteStage::finish`] returns, or on a panic, raised where it happened.
    pub fn send(&mut self, message: ToWriter) -> bool {
        match self {
            WriteStage::Inline { writing, failed } => {
                if failed.is_none() {
                    *failed = writing.write(message).err();
                }
                failed.is_none()
            }
            WriteStage::Pool { handoff, .. } => handoff.0.send(message),
        }
    }

    /// Waits for everything sent to be written and closes the files.
    pub fn finish(self) -> Result<Written, SinkError> {
        match self {
            WriteStage::Inline {
                writing,
                failed: None,
            } => writing.finish(),
            WriteStage::Inline {
                failed: Some(err), ..
            } => Err(err),
            WriteStage::Pool { handoff, thread } => {
                drop(handoff);
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }
}
