//! Where input is read from and output written to: a local path or an object-storage URL
//! (`s3://`, `gs://`, `az://`; `file://` is a local path). See docs/object-storage.md.
//!
//! [`Location`] is the one place that tells the two apart; the source and the sink ask it and
//! never look at URLs themselves. The object stores are `object_store`'s, configured from the
//! environment as the cloud tools are (`AWS_*`, `GOOGLE_*`, `AZURE_*`). `object_store` is async:
//! its tokio runtime lives in this module only ([`block_on`]), so the rest of tierscore stays
//! synchronous and calls in here as it would read a file.

mod aws_profile;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

/// Where a pipeline reads or writes.
#[derive(Debug, Clone)]
pub enum Location {
    /// A file, folder or glob on this machine.
    Local(PathBuf),
    /// A prefix (or one object) in an object store.
    Remote(Remote),
}

impl Location {
    /// The location `path` names: an object-storage URL, a `file://` URL (a local path), or a
    /// path. Fails on a URL of another scheme or one the store cannot use (no bucket …).
    pub fn of(path: &Path) -> Result<Self, StoreError> {
        let text = path.to_string_lossy();
        match url_scheme(&text) {
            None => Ok(Location::Local(path.to_path_buf())),
            Some("file") => {
                let url = url::Url::parse(&text).map_err(|e| bad_url(&text, e.to_string()))?;
                url.to_file_path()
                    .map(Location::Local)
                    .map_err(|()| bad_url(&text, "a file:// URL needs an absolute path".into()))
            }
            Some(_) => Remote::parse(&text).map(Location::Remote),
        }
    }

    /// The location as the user wrote it: the path, or the URL.
    pub fn display(&self) -> String {
        match self {
            Location::Local(path) => path.display().to_string(),
            Location::Remote(remote) => remote.url(),
        }
    }
}

/// Where the glob in an input path (`data/*.parquet`, `s3://b/**/x.parquet`) begins: its first
/// wildcard (`*`, `?` or `[`); `None` when the path names no glob. Reading an input and keeping
/// the output apart from it tell a glob by this one test.
pub fn glob_start(text: &str) -> Option<usize> {
    text.find(['*', '?', '['])
}

/// The URL scheme of a URL (`s3` of `s3://bucket/key`), if `text` is one.
pub fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once("://")?;
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic());
    (valid && !rest.is_empty()).then_some(scheme)
}

/// One key (an object, or a prefix standing for a folder) in an object store.
#[derive(Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    /// `scheme://bucket`, without a trailing slash.
    root: String,
    key: ObjectPath,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

impl Remote {
    /// The store and key of `url`, the store configured from the environment.
    fn parse(url: &str) -> Result<Self, StoreError> {
        let parsed = url::Url::parse(url).map_err(|e| bad_url(url, e.to_string()))?;
        let bucket = parsed.host_str().unwrap_or_default();
        if bucket.is_empty() {
            return Err(bad_url(url, "it names no bucket or container".into()));
        }
        let built = match parsed.scheme() {
            "s3" | "s3a" => {
                let env = |key: &str| std::env::var(key).ok();
                aws_profile::Profile::from_files(&env)
                    .apply(object_store::aws::AmazonS3Builder::from_env(), &env)
                    .with_url(url)
                    .build()
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
            }
            "gs" => object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            "az" | "abfs" | "abfss" => object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            other => {
                return Err(bad_url(
                    url,
                    format!("`{other}://` is no object store tierscore knows (s3://, gs://, az://, file://)"),
                ))
            }
        };
        let store = built.map_err(|e| bad_url(url, e.to_string()))?;
        let key =
            ObjectPath::from_url_path(parsed.path()).map_err(|e| bad_url(url, e.to_string()))?;
        Ok(Self {
            store,
            root: format!("{}://{bucket}", parsed.scheme()),
            key,
        })
    }

    /// The URL of this key.
    pub fn url(&self) -> String {
        if self.key.as_ref().is_empty() {
            self.root.clone()
        } else {
            format!("{}/{}", self.root, self.key)
        }
    }

    /// The key `relative` (`/`-separated) below this one.
    pub fn join(&self, relative: &str) -> Remote {
        let key = relative
            .split('/')
            .filter(|part| !part.is_empty())
            .fold(self.key.clone(), |key, part| key.clone().join(part));
        Remote {
            key,
            ..self.clone()
        }
    }

    /// The key of `url` relative to this one, when it lies below it.
    pub fn relative(&self, other: &Remote) -> Option<String> {
        let mine = self.key.as_ref();
        let theirs = other.key.as_ref();
        if self.root != other.root {
            return None;
        }
        if mine.is_empty() {
            return Some(theirs.to_string());
        }
        theirs
            .strip_prefix(mine)
            .and_then(|rest| rest.strip_prefix('/'))
            .map(str::to_string)
    }

    /// The last part of the key (the file name).
    pub fn name(&self) -> &str {
        self.key.filename().unwrap_or_default()
    }

    /// The size of the object at this key, `None` when there is none.
    pub fn size(&self) -> Result<Option<u64>, StoreError> {
        match block_on(self.store.head(&self.key)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed("inspect", e)),
        }
    }

    /// Every object below this key (as a folder), with its size, sorted by key.
    pub fn list(&self) -> Result<Vec<(Remote, u64)>, StoreError> {
        let prefix = (!self.key.as_ref().is_empty()).then_some(&self.key);
        let metas: Vec<_> = block_on(self.store.list(prefix).try_collect::<Vec<_>>())
            .map_err(|e| self.failed("list", e))?;
        let mut found: Vec<(Remote, u64)> = metas
            .into_iter()
            .map(|meta| {
                let remote = Remote {
                    key: meta.location,
                    ..self.clone()
                };
                (remote, meta.size)
            })
            .collect();
        found.sort_by(|a, b| a.0.key.as_ref().cmp(b.0.key.as_ref()));
        Ok(found)
    }

    /// The bytes `range` of the object.
    pub fn read_range(&self, range: Range<u64>) -> Result<Bytes, StoreError> {
        block_on(self.store.get_range(&self.key, range)).map_err(|e| self.failed("read", e))
    }

    /// The whole object, `None` when there is none.
    pub fn read(&self) -> Result<Option<Bytes>, StoreError> {
        let got = block_on(async {
            let result = self.store.get(&self.key).await?;
            result.bytes().await
        });
        match got {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed("read", e)),
        }
    }

    /// Writes `bytes` as the object, replacing any (a single PUT: readers see the old object
    /// or the new one, never part of it).
    pub fn write(&self, bytes: Vec<u8>) -> Result<(), StoreError> {
        block_on(self.store.put(&self.key, PutPayload::from(bytes)))
            .map(drop)
            .map_err(|e| self.failed("write", e))
    }

    /// Writes `bytes` as the object only if there is none yet (a conditional PUT); `false`
    /// when one exists.
    pub fn create(&self, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match block_on(
            self.store
                .put_opts(&self.key, PutPayload::from(bytes), options),
        ) {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(self.failed("create", e)),
        }
    }

    /// Uploads the local file `path` as the object (in parts when it is large).
    pub fn upload(&self, path: &Path) -> Result<(), StoreError> {
        use std::io::Read;
        let mut file = std::fs::File::open(path).map_err(|e| self.failed_io(path, e))?;
        let mut writer =
            object_store::buffered::BufWriter::new(self.store.clone(), self.key.clone());
        block_on(async {
            loop {
                let mut chunk = vec![0u8; UPLOAD_CHUNK];
                let read = file.read(&mut chunk).map_err(|e| self.failed_io(path, e))?;
                if read == 0 {
                    break;
                }
                chunk.truncate(read);
                writer
                    .put(Bytes::from(chunk))
                    .await
                    .map_err(|e| self.failed("upload", e))?;
            }
            tokio::io::AsyncWriteExt::shutdown(&mut writer)
                .await
                .map_err(|e| self.failed_io(path, e))
        })
    }

    /// Deletes the object; one already gone is no failure.
    pub fn delete(&self) -> Result<(), StoreError> {
        match block_on(self.store.delete(&self.key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("delete", e)),
        }
    }

    /// An async Parquet reader of the object, `size` bytes long: it fetches only the byte
    /// ranges (footer, column chunks of the chosen row groups) a read asks for.
    pub fn parquet_reader(&self, size: u64) -> RemoteParquet {
        RemoteParquet {
            remote: self.clone(),
            size,
        }
    }

    /// The store's own error when a Parquet read of this object failed in the store (the
    /// network, the credentials), for its `store::` code; the Parquet error itself when the
    /// data is at fault.
    pub fn parquet_failure(&self, error: ParquetError) -> Result<ParquetError, StoreError> {
        match error {
            ParquetError::External(inner) => match inner.downcast::<object_store::Error>() {
                Ok(failed) => Err(self.failed("read", *failed)),
                Err(inner) => Ok(ParquetError::External(inner)),
            },
            other => Ok(other),
        }
    }

    /// The error for a failed `action` on this key.
    fn failed(&self, action: &'static str, error: object_store::Error) -> StoreError {
        let url = self.url();
        match error {
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => StoreError::Denied {
                url,
                action,
                message: source.to_string(),
            },
            other => StoreError::Request {
                url,
                action,
                message: error_chain(&other),
            },
        }
    }

    /// The error for a local file that could not be read for an upload.
    fn failed_io(&self, path: &Path, error: std::io::Error) -> StoreError {
        StoreError::Request {
            url: self.url(),
            action: "upload",
            message: format!("{}: {error}", path.display()),
        }
    }
}

/// A Parquet file in object storage, read through parquet's async reader: each read is one
/// ranged GET (or a few, coalesced, for a row group's columns).
#[derive(Debug, Clone)]
pub struct RemoteParquet {
    remote: Remote,
    size: u64,
}

impl parquet::arrow::async_reader::AsyncFileReader for RemoteParquet {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.remote
            .store
            .get_range(&self.remote.key, range)
            .map_err(|e| ParquetError::External(Box::new(e)))
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.remote
                .store
                .get_ranges(&self.remote.key, &ranges)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                // Most footers fit: one GET instead of two.
                .with_prefetch_hint(Some(FOOTER_PREFETCH))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// Bytes fetched from a file's end to read its footer in one request.
const FOOTER_PREFETCH: usize = 64 << 10;

/// Bytes read from a local file per upload request; parts of a multipart upload are as large.
const UPLOAD_CHUNK: usize = 8 << 20;

/// An error with its causes, `: `-joined (object_store's own message often only names the
/// request, its cause says what went wrong: connection refused, a timeout …).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = inner.source();
    }
    message
}

fn bad_url(url: &str, reason: String) -> StoreError {
    StoreError::BadUrl {
        url: url.to_string(),
        reason,
    }
}

/// Runs `future` to completion on this module's runtime, from synchronous code (never from
/// inside the runtime). The runtime starts on first use; local runs never start it.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("tierscore-store")
                .enable_all()
                .build()
                .expect("the object-store runtime starts (two threads)")
        })
        .block_on(future)
}

/// Why an object store could not be used. Data failures (exit code 3).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StoreError {
    /// The URL names no store tierscore can use.
    #[error("cannot use {url}: {reason}")]
    #[diagnostic(
        code(store::bad_url),
        help("write s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX (docs/object-storage.md); the store's settings come from the environment (AWS_REGION, AWS_ENDPOINT_URL …)")
    )]
    BadUrl { url: String, reason: String },
    /// The store refused the credentials, or found none.
    #[error("cannot {action} {url}: access denied: {message}")]
    #[diagnostic(
        code(store::denied),
        help("set the store's credentials in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY …; docs/object-storage.md) and check they may read and write this bucket")
    )]
    Denied {
        url: String,
        action: &'static str,
        message: String,
    },
    /// A request failed: the store is unreachable, timed out or answered with an error.
    #[error("cannot {action} {url}: {message}")]
    #[diagnostic(
        code(store::request),
        help("check the endpoint (AWS_ENDPOINT_URL; AWS_ALLOW_HTTP=true for http://), the network and the credentials; nothing partial was committed")
    )]
    Request {
        url: String,
        action: &'static str,
        message: String,
    },
}
