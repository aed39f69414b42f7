//! The commit protocol for an output in object storage, which has no rename (docs/object-storage.md).
//!
//! The run writes its files into a local staging folder as for a local output; committing
//! then uploads them under a prefix of their own, `_runs/RUNID/` (data and rejects first, the
//! manifest last), and overwrites `_SUCCESS` at the top of the output with that prefix: a single
//! PUT, so a reader sees the previous run's `_SUCCESS` or this one's, never a mix. Only after it
//! are the other runs' files deleted. A run that dies before `_SUCCESS` leaves the previous
//! output as it was and its own files under a prefix no `_SUCCESS` names; the next run deletes
//! them. A lock object (`_tierscore.lock`, created with a conditional PUT) keeps two runs from
//! writing at once; a killed run leaves it, and it must then be deleted by hand.

use std::path::{Path, PathBuf};

use super::SinkError;
use crate::manifest::{MANIFEST_FILE, SUCCESS_FILE};
use crate::store::Remote;

/// The prefix below the output that holds each run's files, `_runs/RUNID/`. Its leading `_`
/// hides it from readers that skip such names (Spark, pyarrow datasets, DuckDB's hive reads).
pub const RUNS_DIR: &str = "_runs";

/// The lock object at the top of the output while a run writes it.
pub const LOCK_FILE: &str = "_tierscore.lock";

/// A run writing an output in object storage: the lock, the local staging folder and where
/// the run's files go.
#[derive(Debug)]
pub struct RemoteStaging {
    root: Remote,
    run_dir: String,
    local: tempfile::TempDir,
    lock: RemoteLock,
}

/// The lock object; deleted when the run ends, committed or not (a killed run leaves it).
#[derive(Debug)]
struct RemoteLock(Remote);

impl Drop for RemoteLock {
    fn drop(&mut self) {
        if let Err(err) = self.0.delete() {
            tracing::warn!("cannot remove the lock {}: {err}", self.0.url());
        }
    }
}

/// The run folder (`_runs/RUNID/`) the output's `_SUCCESS` names, if any: the committed run.
/// Refuses an output holding anything but tierscore's own objects.
pub fn ensure_replaceable(root: &Remote) -> Result<Option<String>, SinkError> {
    let target = PathBuf::from(root.url());
    for (object, _) in root.list()? {
        let relative = root.relative(&object).unwrap_or_default();
        let ours = relative == SUCCESS_FILE
            || relative == LOCK_FILE
            || relative.starts_with(&format!("{RUNS_DIR}/"));
        if !ours {
            return Err(SinkError::NotOurs {
                target,
                reason: format!(
                    "it holds {relative}; a tierscore output in object storage holds only {SUCCESS_FILE}, {LOCK_FILE} and {RUNS_DIR}/"
                ),
            });
        }
    }
    let Some(success) = root.join(SUCCESS_FILE).read()? else {
        return Ok(None);
    };
    let named = String::from_utf8_lossy(&success).trim().to_string();
    let valid = named.starts_with(&format!("{RUNS_DIR}/"))
        && named.ends_with('/')
        && !named.split('/').any(|part| part == "..");
    if !valid {
        return Err(SinkError::NotOurs {
            target,
            reason: format!(
                "its {SUCCESS_FILE} names `{named}`, not a run folder {RUNS_DIR}/RUNID/"
            ),
        });
    }
    Ok(Some(named))
}

impl RemoteStaging {
    /// Checks the output may be replaced, takes the lock, deletes what interrupted runs left
    /// and creates the local staging folder.
    pub fn prepare(root: &Remote, run_id: &str) -> Result<Self, SinkError> {
        let committed = ensure_replaceable(root)?;
        let lock_object = root.join(LOCK_FILE);
        let holder = serde_json::json!({
            "run_id": run_id,
            "pid": std::process::id(),
            "started_at": chrono::Utc::now().to_rfc3339(),
        });
        if !lock_object.create(holder.to_string().into_bytes())? {
            let holder = lock_object
                .read()?
                .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
                .unwrap_or_default();
            return Err(SinkError::RemoteLocked {
                target: PathBuf::from(root.url()),
                lock: lock_object.url(),
                holder,
            });
        }
        let lock = RemoteLock(lock_object);
        crate::test_pause("locked");
        delete_runs_but(root, committed.as_deref());
        let local = tempfile::Builder::new()
            .prefix(".tierscore-staging-")
            .tempdir()
            .map_err(|e| SinkError::io("create", &std::env::temp_dir(), e))?;
        crate::test_pause("staged");
        Ok(Self {
            root: root.clone(),
            run_dir: format!("{RUNS_DIR}/{run_id}/"),
            local,
            lock,
        })
    }

    /// The local folder the run writes its files into.
    pub fn dir(&self) -> &Path {
        self.local.path()
    }

    /// Uploads the staged files under the run's folder, the manifest last, then `_SUCCESS`;
    /// then deletes the other runs' files and releases the lock.
    pub fn commit(self) -> Result<(), SinkError> {
        let mut files = Vec::new();
        collect_files(self.dir(), Path::new(""), &mut files)?;
        // `_SUCCESS` goes at the top of the output, and the manifest after the files it lists.
        files.retain(|f| f != SUCCESS_FILE);
        files.sort_by_key(|f| (f == MANIFEST_FILE, f.clone()));
        for (i, file) in files.iter().enumerate() {
            self.root
                .join(&format!("{}{file}", self.run_dir))
                .upload(&self.dir().join(file))?;
            crate::test_pause(format!("uploaded {}", i + 1));
        }
        if crate::test_fault("fail_before_swap") {
            // Tests only (see `crate::test_fault`): a commit failing at the last moment.
            return Err(SinkError::io(
                "commit",
                Path::new(&self.root.url()),
                std::io::Error::other("TIERSCORE_TEST_FAULT=fail_before_swap"),
            ));
        }
        crate::test_pause("synced");
        self.root
            .join(SUCCESS_FILE)
            .write(format!("{}\n", self.run_dir).into_bytes())?;
        // From here the new output is live: a failure to tidy up is a warning, not a failed run.
        crate::test_pause("swapped");
        delete_runs_but(&self.root, Some(&self.run_dir));
        crate::test_pause("cleaned");
        drop(self.lock);
        Ok(())
    }
}

/// Deletes every object under `_runs/` but those of the run folder `keep`: the previous run's
/// after a commit, or what interrupted runs left. What cannot be deleted is reported and left.
fn delete_runs_but(root: &Remote, keep: Option<&str>) {
    let runs = root.join(RUNS_DIR);
    let listed = match runs.list() {
        Ok(listed) => listed,
        Err(err) => {
            tracing::warn!("cannot list the earlier runs' files to remove them: {err}");
            return;
        }
    };
    for (object, _) in listed {
        let relative = root.relative(&object).unwrap_or_default();
        if keep.is_some_and(|keep| relative.starts_with(keep)) {
            continue;
        }
        if let Err(err) = object.delete() {
            tracing::warn!("cannot remove a file of an earlier run: {err}");
        }
    }
}

/// Every file below `dir/relative`, as `/`-separated paths relative to `dir`.
fn collect_files(dir: &Path, relative: &Path, files: &mut Vec<String>) -> Result<(), SinkError> {
    let here = dir.join(relative);
    for entry in std::fs::read_dir(&here).map_err(|e| SinkError::io("list", &here, e))? {
        let entry = entry.map_err(|e| SinkError::io("list", &here, e))?;
        let path = relative.join(entry.file_name());
        if entry.path().is_dir() {
            collect_files(dir, &path, files)?;
        } else {
            files.push(path.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}
