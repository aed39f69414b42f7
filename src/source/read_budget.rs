//! An input file read under a budget of bytes, so that a damaged file ends in an error instead
//! of a loop. parquet 60.1's page reader trusts page headers: a forged header can send it
//! re-reading the same bytes, or skipping past the end of the file without noticing, for minutes
//! (both found by the `parquet_input` fuzz target). An honest read of a file touches each of its
//! bytes about once, so a reader that has read twice the file's size, plus a margin, is
//! following a damaged file; it stops with an error naming the file as damaged.
//!
//! Every read is positional (`pread`) on the one open file, so the page reader's two reads a
//! page (its header, then its data) cost no `dup`, `seek` or `close` of a file handle, and a
//! header is read through a buffer of [`HEADER_BUFFER`] bytes, not 8 KiB of page data read
//! twice.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};

/// Bytes a reader may read beyond twice the file's size: page headers read twice at the edges
/// of row groups, and small files.
const MARGIN: u64 = 1 << 20;

/// What a read that finds the end of the file costs. An honest reader meets the end once; the
/// damaged files' loops meet it again and again, each time clearing a buffer of up to 8 KiB in
/// parquet's `skip_bytes`, so each costs as much as a large read.
const AT_END: u64 = 64 << 10;

/// The buffer a page header is read through: a header holds a few numbers and at most two
/// statistics values, so most fit in one read; a longer one takes more reads, never a wrong
/// result.
const HEADER_BUFFER: usize = 1 << 10;

/// What a reader's first read costs at least when it starts where a reader started before: the
/// 8 KiB buffer page headers were read through before reads were positional, so that a damaged
/// file's loop over one page header runs out of budget after as few turns as it did then, not
/// eight times as many. A reader starting somewhere new (each page of an honest file) pays
/// nothing for the [`HEADER_BUFFER`] its first read fills (the page's header, and data read
/// again with the page): charged on every page, small row groups' many small pages passed the
/// budget of a valid file (`gen --rows 5000 --row-group-size 500` was refused as damaged).
const FIRST_READ: u64 = 8 << 10;

/// Start positions remembered to tell a new reader from one starting again (about 32 MiB):
/// when they are this many, they are forgotten and remembering starts again. A loop over page
/// headers starts again where it started, long before this many new starts; a valid file of
/// over a million tiny pages was refused when every start past the millionth paid
/// [`FIRST_READ`].
const STARTS: usize = 1 << 20;

/// A Parquet file whose reads, through every reader made from it, draw on one budget. Each call
/// to the file costs the bytes it returned plus one (the first of a reader starting where one
/// started before at least [`FIRST_READ`]),
/// or [`AT_END`] when it found the end, so that reading nothing at the end of the file again and
/// again also runs the budget out.
pub struct BudgetedFile {
    file: Arc<File>,
    len: u64,
    left: Arc<AtomicU64>,
    /// Where readers started, the last up to [`STARTS`] of them.
    starts: Mutex<HashSet<u64>>,
}

impl BudgetedFile {
    /// `file`, to be read at most about twice over.
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self {
            file: Arc::new(file),
            len,
            left: Arc::new(AtomicU64::new(len.saturating_mul(2).saturating_add(MARGIN))),
            starts: Mutex::new(HashSet::new()),
        })
    }

    /// A reader from byte `at` on, drawing on the file's budget; its first read costs at least
    /// [`FIRST_READ`] if a reader started at `at` before, else [`HEADER_BUFFER`] less.
    fn read_from(&self, at: u64) -> BudgetedRead {
        let new = {
            let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
            if starts.len() >= STARTS {
                starts.clear();
            }
            starts.insert(at)
        };
        BudgetedRead {
            file: Arc::clone(&self.file),
            at,
            left: Arc::clone(&self.left),
            least: if new { 0 } else { FIRST_READ },
            free: if new { HEADER_BUFFER as u64 } else { 0 },
        }
    }
}

impl Length for BudgetedFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for BudgetedFile {
    type T = BufReader<BudgetedRead>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(BufReader::with_capacity(
            HEADER_BUFFER,
            self.read_from(start),
        ))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        spend(&self.left, length as u64 + 1)?;
        // Zeroed first: stable Rust has no positional read into memory not yet written to.
        let mut buffer = vec![0; length];
        self.file
            .read_exact_at(&mut buffer, start)
            .map_err(|error| match error.kind() {
                io::ErrorKind::UnexpectedEof => parquet::errors::ParquetError::EOF(format!(
                    "Expected to read {length} bytes from byte {start}, past the end of the \
                     file ({} bytes)",
                    self.len
                )),
                _ => error.into(),
            })?;
        Ok(buffer.into())
    }
}

/// One reader of a [`BudgetedFile`], at a position of its own.
pub struct BudgetedRead {
    file: Arc<File>,
    at: u64,
    left: Arc<AtomicU64>,
    /// What the next read costs at least: [`FIRST_READ`] or nothing, then nothing more than
    /// its bytes.
    least: u64,
    /// What the next read may take without cost: [`HEADER_BUFFER`] for a new start's first.
    free: u64,
}

impl Read for BudgetedRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read_at(buf, self.at)?;
        self.at += read as u64;
        let cost = if read == 0 {
            AT_END
        } else {
            (read as u64 + 1).saturating_sub(self.free).max(self.least)
        };
        self.least = 0;
        self.free = 0;
        spend(&self.left, cost)?;
        Ok(read)
    }
}

/// Takes `cost` from the budget `left`, or fails once it is spent.
fn spend(left: &AtomicU64, cost: u64) -> io::Result<()> {
    left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
        left.checked_sub(cost)
    })
    .map(|_| ())
    .map_err(|_| {
        io::Error::other("its page headers are damaged: reading went on past twice the file's size")
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Reading a file once, whole, stays within the budget; reading it a third time does not,
    /// and neither do endless reads at its end.
    #[test]
    fn a_file_read_over_and_over_runs_out_of_budget() {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(&vec![7u8; 3 << 20]).unwrap();
        let file = BudgetedFile::new(tmp).unwrap();
        let mut whole = Vec::new();
        file.get_read(0).unwrap().read_to_end(&mut whole).unwrap();
        assert_eq!(whole.len(), 3 << 20);
        assert_eq!(file.get_bytes(0, 3 << 20).unwrap().len(), 3 << 20);
        let error = file
            .get_read(0)
            .unwrap()
            .read_to_end(&mut whole)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "its page headers are damaged: reading went on past twice the file's size"
        );

        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(b"PAR1").unwrap();
        let file = BudgetedFile::new(tmp).unwrap();
        let mut at_end = file.get_read(4).unwrap();
        let mut calls = 0u64;
        let error = loop {
            match at_end.read(&mut [0u8; 8]) {
                Ok(0) => calls += 1,
                Ok(_) => unreachable!("nothing is left to read"),
                Err(error) => break error,
            }
        };
        assert_eq!(calls, (MARGIN + 8) / AT_END);
        assert_eq!(error.kind(), io::ErrorKind::Other);
    }

    /// Readers and byte ranges each read from their own position, however their reads
    /// interleave (they share one open file), and a range past the end is an error.
    #[test]
    fn readers_keep_their_own_positions() {
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(&bytes).unwrap();
        let file = BudgetedFile::new(tmp).unwrap();
        let (mut first, mut second) = (file.get_read(10).unwrap(), file.get_read(3000).unwrap());
        let (mut a, mut b) = ([0u8; 1500], [0u8; 1500]);
        first.read_exact(&mut a[..700]).unwrap();
        second.read_exact(&mut b[..700]).unwrap();
        first.read_exact(&mut a[700..]).unwrap();
        second.read_exact(&mut b[700..]).unwrap();
        assert_eq!(a, bytes[10..1510]);
        assert_eq!(b, bytes[3000..4500]);
        assert_eq!(file.get_bytes(4321, 600).unwrap(), bytes[4321..4921]);
        assert_eq!(
            file.get_bytes(4900, 200).unwrap_err().to_string(),
            "EOF: Expected to read 200 bytes from byte 4900, past the end of the file (5000 bytes)"
        );
    }

    /// A loop reading one page header over and over within the file (a forged header's loop)
    /// pays [`FIRST_READ`] a turn, however little it reads, and runs out of budget after
    /// (2 × size + [`MARGIN`]) / [`FIRST_READ`] turns.
    #[test]
    fn a_loop_over_one_header_pays_a_first_read_a_turn() {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(&[1u8; 4096]).unwrap();
        let file = BudgetedFile::new(tmp).unwrap();
        let mut turns = 0u64;
        let error = loop {
            match file.get_read(100).unwrap().read(&mut [0u8; 20]) {
                Ok(read) => {
                    assert_eq!(read, 20);
                    turns += 1;
                }
                Err(error) => break error,
            }
        };
        assert_eq!(turns, (2 * 4096 + MARGIN) / FIRST_READ);
        assert_eq!(
            error.to_string(),
            "its page headers are damaged: reading went on past twice the file's size"
        );
    }

    /// A valid file of more pages than [`STARTS`] (over a million tiny pages, as pyarrow writes
    /// with one row a page) reads within the budget: the remembered starts are forgotten and
    /// remembered again, not every later start charged [`FIRST_READ`] (a review's find).
    #[test]
    fn more_new_starts_than_are_remembered_stay_cheap() {
        let len = STARTS + 4096;
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(&vec![5u8; len]).unwrap();
        let file = BudgetedFile::new(tmp).unwrap();
        for at in 0..(STARTS + 2048) as u64 {
            let mut byte = [0u8; 1];
            file.get_read(at).unwrap().read_exact(&mut byte).unwrap();
        }
    }
}
