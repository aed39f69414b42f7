//! A remote file's column chunks walked as they are fetched, before parquet decodes them.
//!
//! A local file's pages are walked when it is opened ([`super::page_walk`]); a remote file's
//! are not there to walk without fetching them, so its reader walks each column chunk it
//! fetches instead, in the same words, before handing the bytes to parquet: a damaged header,
//! a page claiming more than parquet should set aside, or a gzip, brotli or LZ4-frame page
//! inflating past its header fails the read before parquet allocates anything for the page.
//!
//! parquet's reader (no row selection, no page index) fetches whole column chunks, the ranges
//! the footer gives them; a fetched range that is no column chunk of the row groups read is
//! refused rather than handed over unwalked.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;

use super::page_walk::{self, Fetched};
use crate::store::RemoteParquet;

/// A remote file's reader whose every fetched column chunk is walked first.
pub(super) struct Walked {
    inner: RemoteParquet,
    metadata: Arc<ParquetMetaData>,
    /// The row group and column of each chunk that may be fetched, by its byte range (two
    /// chunks of a forged footer may share one).
    chunks: HashMap<Range<u64>, Vec<(usize, usize)>>,
}

impl Walked {
    /// `inner`, walking the chunks of `row_groups` (every row group when `None`) that
    /// `metadata` places in the file.
    pub fn new(
        inner: RemoteParquet,
        metadata: Arc<ParquetMetaData>,
        row_groups: Option<&[usize]>,
    ) -> Self {
        let mut chunks: HashMap<Range<u64>, Vec<(usize, usize)>> = HashMap::new();
        let groups: Vec<usize> = match row_groups {
            Some(groups) => groups.to_vec(),
            None => (0..metadata.num_row_groups()).collect(),
        };
        for group in groups {
            let Some(row_group) = metadata.row_groups().get(group) else {
                continue;
            };
            for (column, chunk) in row_group.columns().iter().enumerate() {
                let (start, length) = chunk.byte_range();
                chunks
                    .entry(start..start.saturating_add(length))
                    .or_default()
                    .push((group, column));
            }
        }
        Self {
            inner,
            metadata,
            chunks,
        }
    }

    /// Walks every column chunk at `range`, whose bytes are `bytes`.
    fn walk(&self, range: &Range<u64>, bytes: &Bytes) -> parquet::errors::Result<()> {
        let Some(chunks) = self.chunks.get(range) else {
            return Err(ParquetError::General(format!(
                "tierscore reads whole column chunks of a remote file, walked before they are \
                 decoded; bytes {}..{} are none",
                range.start, range.end
            )));
        };
        let fetched = Fetched {
            start: range.start,
            bytes,
        };
        for &(group, column) in chunks {
            let chunk = self.metadata.row_group(group).column(column);
            page_walk::check_chunk(&fetched, group, chunk)
                .map_err(|message| ParquetError::External(Box::new(Damaged(message))))?;
        }
        Ok(())
    }
}

impl AsyncFileReader for Walked {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let bytes = self.inner.get_bytes(range.clone()).await?;
            self.walk(&range, &bytes)?;
            Ok(bytes)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            let fetched = self.inner.get_byte_ranges(ranges.clone()).await?;
            for (range, bytes) in ranges.iter().zip(&fetched) {
                self.walk(range, bytes)?;
            }
            Ok(fetched)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        self.inner.get_metadata(options)
    }
}

/// A column chunk the walk found damaged, in the words of [`page_walk::check_chunk`]: carried
/// through parquet's reader as its external error, so that the file is called damaged as a
/// local one is ([`super::SourceError::Corrupt`]), not undecodable.
#[derive(Debug)]
pub(super) struct Damaged(pub String);

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Damaged {}
