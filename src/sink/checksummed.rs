//! Parquet files with a CRC-32 checksum in every page header.
//!
//! A reader that verifies page checksums (parquet's `crc` feature, pyarrow's
//! `page_checksum_verification`) can only catch a damaged page that carries one, and parquet
//! 60.1's writer never writes them: `CompressedPage::to_thrift_header` leaves the header's `crc`
//! unset ("TODO: Add support for crc checksum") and no property turns it on. So every file
//! tierscore writes goes through [`ChecksummedWriter`], built on the writer's public parts:
//!
//! - the column writers of [`ArrowRowGroupWriterFactory`] encode each column chunk as
//!   [`parquet::arrow::ArrowWriter`] does, and hand every finished page, its header then its data,
//!   to a [`PageStore`]. Ours ([`ChecksumStore`]) keeps them, and gives each header the CRC-32 of
//!   the data that follows it ([`with_crc`]);
//! - the longer headers move every page after them, so [`ChecksummedWriter::flush`] lays each
//!   chunk out itself (dictionary page first, as the format requires), recomputes the chunk's
//!   offsets, sizes and offset index, and appends it with
//!   [`SerializedRowGroupWriter::append_column`](parquet::file::writer::SerializedRowGroupWriter::append_column).
//!
//! Encodings, statistics, column and offset indexes and the embedded Arrow schema are the
//! writer's own: a file reads back exactly as `ArrowWriter` would have written it.

use std::io::Write;
use std::mem;
use std::sync::{Arc, Mutex, PoisonError};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory, PageKey, PageStore,
    PageStoreArgs, PageStoreFactory,
};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::basic::PageType;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

/// Writes Arrow record batches to a Parquet file whose every page (dictionary and data) carries
/// its CRC-32: the part of [`parquet::arrow::ArrowWriter`]'s interface tierscore uses.
///
/// Row groups end at the properties' row count limit or at [`Self::flush`]; a byte limit
/// (`max_row_group_bytes`) is refused at creation rather than ignored.
pub struct ChecksummedWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    columns: ArrowRowGroupWriterFactory,
    stores: Arc<ChecksumStores>,
    schema: SchemaRef,
    max_rows: usize,
    row_group: Option<RowGroup>,
}

/// The unfinished row group: a column writer per leaf column, the pages each has finished so
/// far, and the rows written.
struct RowGroup {
    writers: Vec<ArrowColumnWriter>,
    pages: Vec<Arc<Mutex<Pages>>>,
    rows: usize,
}

impl<W: Write + Send> ChecksummedWriter<W> {
    /// Starts a file for batches of `schema` on `writer`, with `props` (the Arrow schema is
    /// embedded in the footer, as `ArrowWriter` does).
    pub fn try_new(writer: W, schema: SchemaRef, mut props: WriterProperties) -> Result<Self> {
        if props.max_row_group_bytes().is_some() {
            return Err(ParquetError::General(
                "ChecksummedWriter ends row groups by row count only; max_row_group_bytes is not supported".into(),
            ));
        }
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)?;
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX);
        let file =
            SerializedFileWriter::new(writer, parquet_schema.root_schema_ptr(), Arc::new(props))?;
        let stores = Arc::new(ChecksumStores::default());
        let columns = ArrowRowGroupWriterFactory::try_new(&file, schema.clone())?
            .with_page_store_factory(stores.clone());
        Ok(Self {
            file,
            columns,
            stores,
            schema,
            max_rows,
            row_group: None,
        })
    }

    /// Encodes `batch`, ending row groups at the row count limit.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let group = match &mut self.row_group {
                Some(group) => group,
                slot => {
                    let writers = self
                        .columns
                        .create_column_writers(self.file.flushed_row_groups().len())?;
                    let pages = self.stores.take_created(writers.len())?;
                    slot.insert(RowGroup {
                        writers,
                        pages,
                        rows: 0,
                    })
                }
            };
            let rows = (self.max_rows - group.rows).min(rest.num_rows());
            let mut writers = group.writers.iter_mut();
            for (field, column) in self.schema.fields().iter().zip(rest.columns()) {
                for leaf in compute_leaves(field, &column.slice(0, rows))? {
                    let writer = writers.next().ok_or_else(|| {
                        ParquetError::General("more leaf columns than column writers".into())
                    })?;
                    writer.write(&leaf)?;
                }
            }
            group.rows += rows;
            if group.rows >= self.max_rows {
                self.flush()?;
            }
            rest = rest.slice(rows, rest.num_rows() - rows);
        }
        Ok(())
    }

    /// Memory the unfinished row group holds (encoders and finished pages).
    pub fn memory_size(&self) -> usize {
        self.row_group.as_ref().map_or(0, |group| {
            group
                .writers
                .iter()
                .map(ArrowColumnWriter::memory_size)
                .sum()
        })
    }

    /// Writes the unfinished row group (if any) to the file.
    pub fn flush(&mut self) -> Result<()> {
        let Some(group) = self.row_group.take() else {
            return Ok(());
        };
        let mut row_group = self.file.next_row_group()?;
        for (writer, pages) in group.writers.into_iter().zip(group.pages) {
            let close = writer.close()?.close().clone();
            let pages = mem::take(&mut *pages.lock().unwrap_or_else(PoisonError::into_inner));
            let (chunk, close) = pages.lay_out(close)?;
            row_group.append_column(&chunk, close)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Writes the last row group and the footer, and gives the underlying writer back.
    pub fn into_inner(mut self) -> Result<W> {
        self.flush()?;
        self.file.into_inner()
    }

    /// Writes the last row group and the footer.
    pub fn close(mut self) -> Result<()> {
        self.flush()?;
        self.file.close()?;
        Ok(())
    }
}

/// Creates a [`ChecksumStore`] for every column chunk and keeps a handle on its pages, which
/// [`ChecksummedWriter`] takes when it opens the row group.
#[derive(Debug, Default)]
struct ChecksumStores {
    created: Mutex<Vec<(usize, Arc<Mutex<Pages>>)>>,
}

impl ChecksumStores {
    /// The pages of the `columns` stores created for the row group just opened, in column order.
    fn take_created(&self, columns: usize) -> Result<Vec<Arc<Mutex<Pages>>>> {
        let mut created =
            mem::take(&mut *self.created.lock().unwrap_or_else(PoisonError::into_inner));
        created.sort_by_key(|(column, _)| *column);
        if created.len() != columns || created.iter().enumerate().any(|(i, (c, _))| i != *c) {
            return Err(ParquetError::General(format!(
                "{} page stores created for {columns} columns",
                created.len()
            )));
        }
        Ok(created.into_iter().map(|(_, pages)| pages).collect())
    }
}

impl PageStoreFactory for ChecksumStores {
    fn create(&self, args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
        let pages = Arc::new(Mutex::new(Pages::default()));
        self.created
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((args.column_index(), pages.clone()));
        Ok(Box::new(ChecksumStore { pages, keys: 0 }))
    }
}

/// The page store of one column chunk: receives each page's header then its data, and keeps
/// the page with its checksummed header in [`Pages`].
struct ChecksumStore {
    pages: Arc<Mutex<Pages>>,
    keys: u64,
}

impl PageStore for ChecksumStore {
    fn put(&mut self, value: Bytes) -> Result<PageKey> {
        let mut pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        pages.resident += value.len();
        match pages.header.take() {
            None => pages.header = Some(value),
            Some(received) => {
                let (page_type, header) = with_crc(&received, &value)?;
                pages.growth += header.len() - received.len();
                pages.resident += header.len() - received.len();
                if page_type == PageType::DICTIONARY_PAGE as i32 {
                    if pages.dictionary.replace((header, value)).is_some() {
                        return Err(ParquetError::General(
                            "two dictionary pages in one column chunk".into(),
                        ));
                    }
                } else {
                    pages.data.push((header, value));
                }
            }
        }
        self.keys += 1;
        Ok(PageKey::new(self.keys))
    }

    fn take(&mut self, _key: PageKey) -> Result<Bytes> {
        Err(ParquetError::General(
            "checksummed pages are laid out by ChecksummedWriter, not taken back one by one".into(),
        ))
    }

    fn memory_size(&self) -> usize {
        self.pages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .resident
    }
}

/// The finished pages of one column chunk, each as (checksummed header, data), in the order the
/// column writer finished them.
#[derive(Debug, Default)]
struct Pages {
    /// A header received and waiting for its data.
    header: Option<Bytes>,
    dictionary: Option<(Vec<u8>, Bytes)>,
    data: Vec<(Vec<u8>, Bytes)>,
    /// Bytes held: the pages, their headers with checksums, and a header waiting.
    resident: usize,
    /// Bytes the checksums added to the headers.
    growth: usize,
}

impl Pages {
    /// The column chunk as it goes into the file, dictionary page first, and `close` (the column
    /// writer's account of it) with the offsets, sizes and offset index of this layout.
    fn lay_out(self, mut close: ColumnCloseResult) -> Result<(Bytes, ColumnCloseResult)> {
        if self.header.is_some() {
            return Err(ParquetError::General(
                "a page header without its page".into(),
            ));
        }
        let mut chunk = Vec::with_capacity(self.resident);
        if let Some((header, data)) = &self.dictionary {
            chunk.extend_from_slice(header);
            chunk.extend_from_slice(data);
        }
        let first_data_page = chunk.len();
        let mut locations = Vec::with_capacity(self.data.len());
        for (header, data) in &self.data {
            locations.push((chunk.len(), header.len() + data.len()));
            chunk.extend_from_slice(header);
            chunk.extend_from_slice(data);
        }
        if let Some(index) = close.offset_index.as_mut() {
            if index.page_locations.len() != locations.len() {
                return Err(ParquetError::General(format!(
                    "the offset index lists {} pages, the chunk has {}",
                    index.page_locations.len(),
                    locations.len()
                )));
            }
            for (location, (offset, size)) in index.page_locations.iter_mut().zip(locations) {
                location.offset = offset as i64;
                location.compressed_page_size = i32::try_from(size)
                    .map_err(|_| ParquetError::General(format!("a page of {size} bytes")))?;
            }
        }
        let uncompressed = close.metadata.uncompressed_size() + self.growth as i64;
        close.metadata = close
            .metadata
            .into_builder()
            .set_dictionary_page_offset(self.dictionary.is_some().then_some(0))
            .set_data_page_offset(first_data_page as i64)
            .set_total_compressed_size(chunk.len() as i64)
            .set_total_uncompressed_size(uncompressed)
            .build()?;
        close.bytes_written = chunk.len() as u64;
        Ok((Bytes::from(chunk), close))
    }
}

/// Gives a serialized page header its `crc` field, the CRC-32 of the page's `data`, and returns
/// the page type (field 1) with the new header.
///
/// Page headers are Thrift compact structs. parquet's writer writes fields 1 to 3 (the page type
/// and the two sizes, i32s), then the header of the page's kind (a struct: field 5, 7 or 8).
/// `crc` is field 4, an i32: it goes in between, and the next field's id, written as a delta
/// from the previous one, shrinks by one. A header of any other shape is refused, not guessed
/// at.
fn with_crc(header: &[u8], data: &[u8]) -> Result<(i32, Vec<u8>)> {
    /// A field header: the id one more than the previous field's, type i32.
    const NEXT_I32: u8 = 0x15;
    /// The type nibble of a struct field.
    const STRUCT: u8 = 0x0C;
    let unexpected = |what: &str| {
        ParquetError::General(format!(
            "page header not as parquet's writer writes it: {what}"
        ))
    };
    let mut at = 0;
    let mut fields = [0i32; 3];
    for field in &mut fields {
        if header.get(at) != Some(&NEXT_I32) {
            return Err(unexpected("fields 1 to 3 are not its first three i32s"));
        }
        let (value, len) =
            read_varint(&header[at + 1..]).ok_or_else(|| unexpected("a truncated integer"))?;
        *field = ((value >> 1) as i32) ^ -((value & 1) as i32);
        at += 1 + len;
    }
    let [page_type, _, compressed_size] = fields;
    if usize::try_from(compressed_size).ok() != Some(data.len()) {
        return Err(unexpected("its compressed size is not its page's"));
    }
    let next = header
        .get(at)
        .copied()
        .ok_or_else(|| unexpected("no page kind header"))?;
    let delta = next >> 4;
    if next & 0x0F != STRUCT || delta < 2 {
        return Err(unexpected(
            "field 4 (crc) is set or no page kind header follows field 3",
        ));
    }
    let crc = crc32fast::hash(data) as i32;
    let mut out = Vec::with_capacity(header.len() + 6);
    out.extend_from_slice(&header[..at]);
    out.push(NEXT_I32);
    write_varint(((crc << 1) ^ (crc >> 31)) as u32, &mut out);
    out.push(((delta - 1) << 4) | STRUCT);
    out.extend_from_slice(&header[at + 1..]);
    Ok((page_type, out))
}

/// Reads an unsigned LEB128 varint of at most 5 bytes (a Thrift i32): its value and length.
fn read_varint(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Appends `value` as an unsigned LEB128 varint.
fn write_varint(mut value: u32, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data page header of a 3-byte page as parquet writes it: type 0, sizes 3 and 3, then
    /// field 5 (an empty struct here), then stop.
    const HEADER: [u8; 9] = [0x15, 0x00, 0x15, 0x06, 0x15, 0x06, 0x2C, 0x00, 0x00];

    #[test]
    fn the_crc_goes_in_as_field_4_and_the_next_field_id_delta_shrinks() {
        let (page_type, header) = with_crc(&HEADER, b"abc").unwrap();
        assert_eq!(page_type, 0);
        // crc32("abc") = 0x352441C2, zigzag varint 84 87 A2 D2 06; field 5 now 1 after field 4.
        assert_eq!(
            header,
            [
                0x15, 0x00, 0x15, 0x06, 0x15, 0x06, 0x15, 0x84, 0x87, 0xA2, 0xD2, 0x06, 0x1C, 0x00,
                0x00
            ]
        );
    }

    #[test]
    fn a_header_of_another_shape_is_refused() {
        let (_, checksummed) = with_crc(&HEADER, b"abc").unwrap();
        for (header, data, why) in [
            (
                &checksummed[..],
                &b"abc"[..],
                "field 4 (crc) is set or no page kind header follows field 3",
            ),
            (
                &HEADER[..],
                &b"abcd"[..],
                "its compressed size is not its page's",
            ),
            (
                &HEADER[..4],
                &b"abc"[..],
                "fields 1 to 3 are not its first three i32s",
            ),
            (&[0x15, 0x80][..], &b""[..], "a truncated integer"),
        ] {
            assert_eq!(
                with_crc(header, data).unwrap_err().to_string(),
                format!("Parquet error: page header not as parquet's writer writes it: {why}")
            );
        }
    }
}
