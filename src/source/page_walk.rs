//! A file's page headers walked as Thrift before parquet decodes any page: a local file's when
//! it is opened, a remote file's chunks as they are fetched ([`super::remote_walk`]).
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
//!
//! The walk also bounds what a page inflates to. parquet makes room for the size a header
//! claims before it decompresses (zeroing it for snappy and LZ4_RAW), so a page may claim at
//! most [`MAX_PAGE_BYTES`]. Its gzip, brotli and LZ4 (Hadoop's, which falls back to LZ4 frames)
//! decoders read to the end whatever the header says: a 3.8 KB brotli file inflated to 1 GiB
//! and took 1.6 GB before parquet found the size wrong. Pages of those codecs are inflated here
//! first, into nothing, stopping one byte past the size their header gives.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;

use parquet::basic::Compression;
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};
use thrift::protocol::{TInputProtocol, TType};

use super::footer_walk::{bounded, read_struct, why};

/// The most a compressed page may claim to inflate to (256 MiB). Writers cut pages at about
/// 1 MiB (parquet-mr, pyarrow, arrow-rs) and DuckDB's are of the same order; a larger claim
/// is taken for damage, since parquet sets that much memory aside before it looks.
const MAX_PAGE_BYTES: i32 = 256 << 20;

/// `PageHeader`'s fields the walk reads (parquet.thrift): the page's kind, the size of its
/// data inflated and as stored, and a v2 data page's header.
const PAGE_TYPE: i16 = 1;
const UNCOMPRESSED_PAGE_SIZE: i16 = 2;
const COMPRESSED_PAGE_SIZE: i16 = 3;
const DATA_PAGE_HEADER_V2: i16 = 8;

/// `DataPageHeaderV2`'s fields: its levels' bytes (stored uncompressed before the values) and
/// whether the values are compressed.
const DEFINITION_LEVELS_BYTE_LENGTH: i16 = 5;
const REPETITION_LEVELS_BYTE_LENGTH: i16 = 6;
const IS_COMPRESSED: i16 = 7;

/// `PageType::INDEX_PAGE`: never decompressed by parquet.
const INDEX_PAGE: i32 = 1;

/// Walks every page header of every column chunk `metadata` lists in `file`, the chunks spread
/// over the threads of the rayon pool it is called in (a run's: one with `--threads 1`), since
/// a gzip input's every page is inflated here once more. The error is the first damaged
/// chunk's in file order, whatever the threads: it says which chunk and why.
pub(super) fn check(file: &File, metadata: &ParquetMetaData) -> Result<(), String> {
    use rayon::prelude::*;
    let chunks: Vec<(usize, &ColumnChunkMetaData)> = metadata
        .row_groups()
        .iter()
        .enumerate()
        .flat_map(|(group, row_group)| row_group.columns().iter().map(move |chunk| (group, chunk)))
        .collect();
    match chunks
        .par_iter()
        .find_map_first(|&(group, chunk)| check_chunk(file, group, chunk).err())
    {
        Some(damage) => Err(damage),
        None => Ok(()),
    }
}

/// Walks the pages of `chunk`, the column chunk of row group `group`, read from `bytes` (the
/// file, or the part of it fetched that holds the chunk); the error names the chunk and says
/// why, in the same words for a local and a remote file.
pub(super) fn check_chunk(
    bytes: &impl ReadAt,
    group: usize,
    chunk: &ColumnChunkMetaData,
) -> Result<(), String> {
    let (start, length) = chunk.byte_range();
    let column = chunk.column_path();
    walk_chunk(
        bytes,
        start,
        start.saturating_add(length),
        chunk.compression(),
    )
    .map_err(|damage| match damage {
        Damage::Header(why) => {
            format!("a page header of column {column} in row group {group} is damaged: {why}")
        }
        Damage::Data(why) => {
            format!("a page of column {column} in row group {group} is damaged: {why}")
        }
    })
}

/// Bytes of a file read by their position in it: the file itself, or a range of it in memory
/// ([`Fetched`]). A read past the end gives nothing, as a file's does.
pub(super) trait ReadAt {
    /// Reads into `buf` from position `at`; how many bytes were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<usize>;
}

impl ReadAt for File {
    fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, at)
    }
}

/// The bytes of a file from position `start` on, fetched into memory (a remote file's range).
pub(super) struct Fetched<'a> {
    /// Where in the file `bytes` start.
    pub start: u64,
    /// The bytes fetched.
    pub bytes: &'a [u8],
}

impl ReadAt for Fetched<'_> {
    fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<usize> {
        let from = at
            .checked_sub(self.start)
            .and_then(|from| usize::try_from(from).ok())
            .ok_or_else(|| io::Error::other(format!("position {at} was not fetched")))?;
        let there = self.bytes.get(from..).unwrap_or_default();
        let read = buf.len().min(there.len());
        buf[..read].copy_from_slice(&there[..read]);
        Ok(read)
    }
}

/// What is wrong with a page: its header, or its data.
enum Damage {
    Header(String),
    Data(String),
}

/// Walks the pages of the chunk at `start..end` of `file` (within the file: the footer check
/// saw to it; within what was fetched: the remote walk saw to it), compressed by `codec`.
fn walk_chunk(file: &impl ReadAt, start: u64, end: u64, codec: Compression) -> Result<(), Damage> {
    let mut at = start;
    while at < end {
        let left = end - at;
        let mut counted = Counted {
            inner: BufReader::with_capacity(1024, Within { file, at, end }),
            read: 0,
        };
        let header = read_header(&mut counted, left).map_err(Damage::Header)?;
        let data = u64::try_from(header.compressed)
            .map_err(|_| Damage::Header(format!("its page size is {}", header.compressed)))?;
        let data_start = at + counted.read;
        let next = data_start
            .checked_add(data)
            .filter(|&next| next <= end)
            .ok_or_else(|| Damage::Header("its page runs past the end of the chunk".into()))?;
        if codec != Compression::UNCOMPRESSED && header.kind != INDEX_PAGE {
            check_inflated(file, data_start, next, codec, &header).map_err(Damage::Data)?;
        }
        at = next;
    }
    Ok(())
}

/// What the walk reads of a page header.
#[derive(Debug, Default)]
struct Header {
    kind: i32,
    uncompressed: i32,
    compressed: i32,
    /// A v2 data page's levels' bytes, and whether its values are compressed.
    v2: Option<(i64, bool)>,
}

/// Reads one page header from `reader` (at most `left` bytes).
fn read_header(reader: &mut Counted<impl Read>, left: u64) -> Result<Header, String> {
    let mut protocol = bounded(reader, usize::try_from(left).unwrap_or(usize::MAX))?;
    let mut header = Header::default();
    let mut sizes = (None, None);
    read_struct(&mut protocol, |protocol, id, kind| {
        match (id, kind) {
            (Some(PAGE_TYPE), TType::I32) => header.kind = protocol.read_i32()?,
            (Some(UNCOMPRESSED_PAGE_SIZE), TType::I32) => sizes.0 = Some(protocol.read_i32()?),
            (Some(COMPRESSED_PAGE_SIZE), TType::I32) => sizes.1 = Some(protocol.read_i32()?),
            (Some(DATA_PAGE_HEADER_V2), TType::Struct) => header.v2 = Some(read_v2(protocol)?),
            _ => return Ok(false),
        }
        Ok(true)
    })
    .map_err(|error| why(&error, "its chunk"))?;
    match sizes {
        (Some(uncompressed), Some(compressed)) => {
            header.uncompressed = uncompressed;
            header.compressed = compressed;
            Ok(header)
        }
        _ => Err("it gives no page size".into()),
    }
}

/// Reads a `DataPageHeaderV2`: its levels' bytes (both kinds) and whether it is compressed
/// (the format's default: yes).
fn read_v2<P: TInputProtocol>(protocol: &mut P) -> thrift::Result<(i64, bool)> {
    let (mut levels, mut compressed) = (0i64, true);
    read_struct(protocol, |protocol, id, kind| {
        match (id, kind) {
            (Some(DEFINITION_LEVELS_BYTE_LENGTH | REPETITION_LEVELS_BYTE_LENGTH), TType::I32) => {
                levels += i64::from(protocol.read_i32()?);
            }
            (Some(IS_COMPRESSED), TType::Bool) => compressed = protocol.read_bool()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok((levels, compressed))
}

/// Checks that the page of `header`, its data at `start..end` of `file`, claims to inflate to
/// at most [`MAX_PAGE_BYTES`] and, for the codecs whose decoder parquet lets run to the end
/// (gzip, brotli, LZ4 frames), that it inflates to no more than it claims.
fn check_inflated(
    file: &impl ReadAt,
    start: u64,
    end: u64,
    codec: Compression,
    header: &Header,
) -> Result<(), String> {
    if !(0..=MAX_PAGE_BYTES).contains(&header.uncompressed) {
        return Err(format!(
            "it claims to inflate to {} bytes; tierscore reads pages of at most {} bytes",
            header.uncompressed, MAX_PAGE_BYTES
        ));
    }
    let (mut start, mut claimed) = (start, i64::from(header.uncompressed));
    if let Some((levels, compressed)) = header.v2 {
        if !compressed {
            return Ok(());
        }
        if levels < 0 || levels > claimed || levels > i64::from(header.compressed) {
            return Err(format!("its levels claim {levels} bytes"));
        }
        start += levels as u64;
        claimed -= levels;
    }
    // parquet decompresses nothing of a page that inflates to nothing (all nulls).
    if claimed == 0 {
        return Ok(());
    }
    let data = BufReader::with_capacity(
        8 << 10,
        Within {
            file,
            at: start,
            end,
        },
    );
    let limit = claimed as u64 + 1;
    let inflated = match codec {
        Compression::GZIP(_) => inflate(flate2::read::MultiGzDecoder::new(data), limit),
        Compression::BROTLI(_) => inflate(brotli::Decompressor::new(data, 4 << 10), limit),
        // Hadoop's LZ4 pages are read into a buffer of the size claimed; parquet falls back to
        // decoding a page as LZ4 frames, which it lets run to the end.
        Compression::LZ4 => match inflate(lz4_flex::frame::FrameDecoder::new(data), limit) {
            Ok(inflated) => Ok(inflated),
            Err(_) => return Ok(()),
        },
        _ => return Ok(()),
    };
    match inflated {
        Ok(inflated) if inflated > claimed as u64 => Err(format!(
            "it inflates to more than the {claimed} bytes its header gives"
        )),
        Ok(_) => Ok(()),
        Err(error) => Err(format!("it cannot be inflated: {error}")),
    }
}

/// The bytes `decoder` gives, counted and let go, at most `limit`.
fn inflate(decoder: impl Read, limit: u64) -> io::Result<u64> {
    io::copy(&mut decoder.take(limit), &mut io::sink())
}

/// The bytes of `file` from `at` up to `end`, read by position.
struct Within<'a, F> {
    file: &'a F,
    at: u64,
    end: u64,
}

impl<F: ReadAt> Read for Within<'_, F> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk walked from memory (what a remote file's reader fetched: the chunk's bytes
    /// alone) gives what the same chunk walked in the file gives, damage in the same words.
    #[test]
    fn a_chunk_fetched_into_memory_walks_as_in_the_file() {
        let mut first_damage = Vec::new();
        for name in [
            "testdata/customers.parquet",
            "testdata/fuzz/page_header_skips.parquet",
            "testdata/fuzz/page_header_bool_list.parquet",
        ] {
            let file = File::open(name).unwrap();
            let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
                .parse_and_finish(&file)
                .unwrap();
            let bytes = std::fs::read(name).unwrap();
            let mut damage = None;
            for (group, row_group) in metadata.row_groups().iter().enumerate() {
                for chunk in row_group.columns() {
                    let (start, length) = chunk.byte_range();
                    let fetched = Fetched {
                        start,
                        bytes: &bytes[start as usize..(start + length) as usize],
                    };
                    let walked = check_chunk(&fetched, group, chunk);
                    assert_eq!(walked, check_chunk(&file, group, chunk), "{name}");
                    damage = damage.or(walked.err());
                }
            }
            first_damage.push(damage);
        }
        assert_eq!(
            first_damage,
            [
                None,
                Some(
                    "a page header of column \"last_order_date\" in row group 2 is damaged: a \
                     list, map or text in it claims more bytes than its chunk holds"
                        .to_string()
                ),
                Some(
                    "a page header of column \"customer_id\" in row group 0 is damaged: a list, \
                     map or text in it claims more bytes than its chunk holds"
                        .to_string()
                ),
            ]
        );
    }

    /// The chunks are walked on the threads of the pool the walk is called in, and the error is
    /// the first damaged chunk's in file order, whatever their number: here row group 1's
    /// `region`, though the file's last chunk is damaged too (each chunk's first page header
    /// made a field holding a list of 2^31 booleans).
    #[test]
    fn the_first_damaged_chunk_in_file_order_is_named_whatever_the_threads() {
        let mut bytes = std::fs::read("testdata/customers.parquet").unwrap();
        let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&bytes::Bytes::from(bytes.clone()))
            .unwrap();
        let last = metadata.num_row_groups() - 1;
        for (group, column) in [(last, 17), (1, 1)] {
            let start = metadata.row_group(group).column(column).byte_range().0 as usize;
            bytes[start..start + 8]
                .copy_from_slice(&[0xF9, 0xF1, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00]);
        }
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        for threads in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            assert_eq!(
                pool.install(|| check(&file, &metadata)),
                Err(
                    "a page header of column \"region\" in row group 1 is damaged: a list, map \
                     or text in it claims more bytes than its chunk holds"
                        .to_string()
                ),
                "{threads} threads"
            );
        }
        assert_eq!(
            check_chunk(&file, last, metadata.row_group(last).column(17)),
            Err(
                "a page header of column \"innovation\" in row group 3 is damaged: a list, map \
                 or text in it claims more bytes than its chunk holds"
                    .to_string()
            )
        );
    }

    /// Nothing is read before the bytes fetched; past their end, nothing is there, as at a
    /// file's end.
    #[test]
    fn fetched_bytes_are_read_by_their_place_in_the_file() {
        let fetched = Fetched {
            start: 100,
            bytes: b"abcdef",
        };
        let mut buf = [0u8; 4];
        assert_eq!(fetched.read_at(&mut buf, 102).unwrap(), 4);
        assert_eq!(&buf, b"cdef");
        assert_eq!(fetched.read_at(&mut buf, 104).unwrap(), 2);
        assert_eq!(&buf[..2], b"ef");
        assert_eq!(fetched.read_at(&mut buf, 106).unwrap(), 0);
        assert_eq!(fetched.read_at(&mut buf, 900).unwrap(), 0);
        assert_eq!(
            fetched.read_at(&mut buf, 99).unwrap_err().to_string(),
            "position 99 was not fetched"
        );
    }

    /// parquet sets aside (and for snappy and LZ4_RAW zeroes) the size a page claims before it
    /// decompresses: a compressed page may claim at most 256 MiB, whatever its codec.
    #[test]
    fn a_page_claiming_more_than_256_mib_is_refused() {
        let file = tempfile::tempfile().unwrap();
        let header = |uncompressed| Header {
            kind: 0,
            uncompressed,
            compressed: 0,
            v2: None,
        };
        for codec in [
            Compression::SNAPPY,
            Compression::LZ4_RAW,
            Compression::ZSTD(Default::default()),
        ] {
            assert_eq!(
                check_inflated(&file, 0, 0, codec, &header(MAX_PAGE_BYTES + 1)),
                Err(
                    "it claims to inflate to 268435457 bytes; tierscore reads pages of at most \
                     268435456 bytes"
                        .to_string()
                )
            );
            assert_eq!(
                check_inflated(&file, 0, 0, codec, &header(-1)),
                Err(
                    "it claims to inflate to -1 bytes; tierscore reads pages of at most \
                     268435456 bytes"
                        .to_string()
                )
            );
            assert_eq!(
                check_inflated(&file, 0, 0, codec, &header(MAX_PAGE_BYTES)),
                Ok(())
            );
        }
    }
}
