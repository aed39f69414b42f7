//! A local file's page headers walked as Thrift before parquet decodes any page.
//!
//! parquet 60.1 skips a page header's unknown fields as it skips a footer's (see
//! [`super::footer_walk`]): without reading a byte for each `bool` of a list, so a header whose
//! unknown field declares a list of 2^31 booleans sent it round an empty loop 2^31 times (eight
//! bytes kept a run of a 2,000-row file busy for 14 s, and the time grew with each such field);
//! no byte is read in that loop, so the read budget cannot end it. Each column chunk's pages
//! are walked here in order, from the chunk's start to its end: each header with Apache
//! Thrift's reader, which takes a byte for every element and refuses a container longer than
//! the bytes left in the chunk, then past the page's data by the size the header gives. A
//! header it refuses, or a page running past its chunk, makes the file damaged.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;

use parquet::file::metadata::ParquetMetaData;
use thrift::protocol::{TInputProtocol, TType};

use super::footer_walk::{bounded, why};

/// A page header's field giving the size of the page's data after the header (`PageHeader`'s
/// `compressed_page_size`, an i32).
const COMPRESSED_PAGE_SIZE: i16 = 3;

/// Walks every page header of every column chunk `metadata` lists in `file`; the error says
/// which chunk and why.
pub(super) fn check(file: &File, metadata: &ParquetMetaData) -> Result<(), String> {
    for (group, row_group) in metadata.row_groups().iter().enumerate() {
        for chunk in row_group.columns() {
            let (start, length) = chunk.byte_range();
            walk_chunk(file, start, start.saturating_add(length)).map_err(|why| {
                format!(
                    "a page header of column {} in row group {group} is damaged: {why}",
                    chunk.column_path()
                )
            })?;
        }
    }
    Ok(())
}

/// Walks the pages of the chunk at `start..end` (within the file: the footer check saw to it).
fn walk_chunk(file: &File, start: u64, end: u64) -> Result<(), String> {
    let mut at = start;
    while at < end {
        let left = end - at;
        let mut counted = Counted {
            inner: BufReader::with_capacity(1024, Within { file, at, end }),
            read: 0,
        };
        let data = header_data_size(&mut counted, left)?;
        at = at
            .checked_add(counted.read)
            .and_then(|at| at.checked_add(data))
            .filter(|&next| next <= end)
            .ok_or_else(|| "its page runs past the end of the chunk".to_string())?;
    }
    Ok(())
}

/// Reads one page header from `reader` (at most `left` bytes) and gives the size of the data
/// after it.
fn header_data_size(reader: &mut Counted<impl Read>, left: u64) -> Result<u64, String> {
    let mut protocol = bounded(reader, usize::try_from(left).unwrap_or(usize::MAX))?;
    let mut data = None;
    let read = (|| -> thrift::Result<()> {
        protocol.read_struct_begin()?;
        loop {
            let field = protocol.read_field_begin()?;
            if field.field_type == TType::Stop {
                break;
            }
            if field.id == Some(COMPRESSED_PAGE_SIZE) && field.field_type == TType::I32 {
                data = Some(protocol.read_i32()?);
            } else {
                protocol.skip(field.field_type)?;
            }
            protocol.read_field_end()?;
        }
        protocol.read_struct_end()
    })();
    read.map_err(|error| why(&error, "its chunk"))?;
    match data {
        Some(size) => u64::try_from(size).map_err(|_| format!("its page size is {size}")),
        None => Err("it gives no page size".into()),
    }
}

/// The bytes of `file` from `at` up to `end`, read by position.
struct Within<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Read for Within<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = usize::try_from(self.end - self.at).unwrap_or(usize::MAX);
        let take = buf.len().min(room);
        let read = self.file.read_at(&mut buf[..take], self.at)?;
        self.at += read as u64;
        Ok(read)
    }
}

/// A reader counting the bytes taken from it.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.read += read as u64;
        Ok(read)
    }
}
