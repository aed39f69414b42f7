//! The writing end of a run: output rows (laid out by the scoring lanes) and rejects encoded
//! into the staging directory, in turn with scoring or on a thread of its own behind it.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use arrow::array::RecordBatch;
use rayon::ThreadPool;

use crate::manifest::WrittenFile;
use crate::report::Counts;
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
    /// The report's figures, counted from the rows as they are written (none without a report).
    pub figures: Option<Counts>,
    /// Messages written so far (for [`crate::test_pause`]'s `written:N` points).
    pub written: u64,
}

/// What the writer leaves: the output files, the rejects file and the report's counts.
pub type Written = (Vec<WrittenFile>, WrittenFile, Option<Counts>);

impl Writing {
    fn write(&mut self, message: ToWriter) -> Result<(), SinkError> {
        let Writing {
            output,
            rejects,
            figures,
            written,
        } = self;
        match message {
            ToWriter::Rows(rows, tiers) => {
                match figures {
                    // Counting beside encoding, on the run's worker pool.
                    Some(figures) => {
                        let (encoded, counted) = rayon::join(
                            || output.write(&rows, &tiers),
                            || figures.add_scored(&rows, &tiers),
                        );
                        encoded?;
                        counted?;
                    }
                    None => output.write(&rows, &tiers)?,
                }
            }
            ToWriter::Rejects(rows) => {
                if let Some(figures) = figures {
                    figures.add_rejects(&rows)?;
                }
                rejects.write(&rows)?;
            }
        }
        *written += 1;
        crate::test_pause(format_args!("written:{written}"));
        Ok(())
    }

    /// Closes every file: the output files written and the rejects file.
    fn finish(self) -> Result<Written, SinkError> {
        Ok((self.output.finish()?, self.rejects.finish()?, self.figures))
    }
}

/// Where [`Writing`] happens: in turn with scoring, or on its own thread behind it.
pub enum WriteStage<'scope> {
    Inline {
        writing: Box<Writing>,
        /// The first error; nothing is written after it.
        failed: Option<SinkError>,
    },
    Thread {
        messages: SyncSender<ToWriter>,
        thread: ScopedJoinHandle<'scope, Result<Written, SinkError>>,
    },
}

impl<'scope> WriteStage<'scope> {
    /// A writer thread in `scope`, two messages behind the sender; it encodes partitions in
    /// parallel on the run's worker `pool`.
    pub fn on_thread(
        scope: &'scope Scope<'scope, '_>,
        pool: &'scope ThreadPool,
        mut writing: Writing,
    ) -> Self {
        let (messages, received) = sync_channel::<ToWriter>(2);
        let thread = scope.spawn(move || {
            for message in received {
                pool.install(|| writing.write(message))?;
            }
            pool.install(|| writing.finish())
        });
        WriteStage::Thread { messages, thread }
    }

    /// Hands `message` to the writer; `false` once the writer has stopped on an error, which
    /// [`WriteStage::finish`] returns.
    pub fn send(&mut self, message: ToWriter) -> bool {
        match self {
            WriteStage::Inline { writing, failed } => {
                if failed.is_none() {
                    *failed = writing.write(message).err();
                }
                failed.is_none()
            }
            WriteStage::Thread { messages, .. } => messages.send(message).is_ok(),
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
            WriteStage::Thread { messages, thread } => {
                drop(messages);
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }
}
