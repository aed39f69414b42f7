//! The staging directory beside the target and the atomic commit that replaces the target.
//!
//! A run writes everything into `.NAME.tierscore-staging-RUNID/` next to the target and, at the
//! end, swaps it into place: on Linux with one `renameat2(RENAME_EXCHANGE)`, so there is no
//! moment without a complete output; elsewhere with two renames. A crash leaves the previous
//! output as it was; the next run clears the leftovers. A lock file beside the target keeps two
//! runs from writing the same target at once; it is removed when the run ends.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::SinkError;
use crate::manifest::MANIFEST_FILE;

/// A staging directory for one run's output, removed again unless committed.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    dir: PathBuf,
    committed: bool,
    _lock: Lock,
}

/// An exclusive `flock` on `.NAME.tierscore.lock` beside the target; the file is removed when
/// the lock is released, so no empty lock files are left behind.
///
/// Removing a lock file races with a run that opened it just before: that run would lock the
/// removed file while a third run creates and locks a new one. So a run that got the lock checks
/// that the path still names the file it locked, and starts over when it does not.
#[derive(Debug)]
struct Lock {
    path: PathBuf,
    /// Holds the `flock` until dropped, after the path is removed.
    _file: File,
}

impl Lock {
    fn take(path: &Path, target: &Path) -> Result<Self, SinkError> {
        loop {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(|e| SinkError::io("create", path, e))?;
            rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                .map_err(|_| SinkError::Locked {
                    target: target.to_path_buf(),
                })?;
            let held =
                rustix::fs::fstat(&file).map_err(|e| SinkError::io("stat", path, e.into()))?;
            match rustix::fs::stat(path) {
                Ok(now) if now.st_dev == held.st_dev && now.st_ino == held.st_ino => {
                    return Ok(Self {
                        path: path.to_path_buf(),
                        _file: file,
                    })
                }
                // The holder before us removed it while we opened it: take the new one.
                _ => continue,
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held (the file closes after this), so no run can lock it between.
        let _ = fs::remove_file(&self.path);
    }
}

impl Staging {
    /// Checks the target may be replaced, takes the lock and creates the staging directory.
    pub fn prepare(target: &Path, run_id: &str) -> Result<Self, SinkError> {
        let name = target
            .file_name()
            .ok_or_else(|| SinkError::BadTarget {
                target: target.to_path_buf(),
            })?
            .to_string_lossy()
            .to_string();
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|e| SinkError::io("create", &parent, e))?;
        ensure_replaceable(target)?;

        let lock = Lock::take(&parent.join(format!(".{name}.tierscore.lock")), target)?;

        let leftover = format!(".{name}.tierscore-staging-");
        let entries = fs::read_dir(&parent).map_err(|e| SinkError::io("list", &parent, e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&leftover) {
                let path = entry.path();
                tracing::info!(path = %path.display(), "removing a staging directory left by an interrupted run");
                fs::remove_dir_all(&path).map_err(|e| SinkError::io("remove", &path, e))?;
            }
        }

        let dir = parent.join(format!("{leftover}{run_id}"));
        fs::create_dir(&dir).map_err(|e| SinkError::io("create", &dir, e))?;
        Ok(Self {
            target: target.to_path_buf(),
            dir,
            committed: false,
            _lock: lock,
        })
    }

    /// Where the run writes its files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves the staged output into place, replacing the previous output atomically.
    pub fn commit(mut self) -> Result<(), SinkError> {
        ensure_replaceable(&self.target)?;
        for entry in fs::read_dir(&self.dir).map_err(|e| SinkError::io("list", &self.dir, e))? {
            let path = entry
                .map_err(|e| SinkError::io("list", &self.dir, e))?
                .path();
            if path.is_dir() {
                sync_dir(&path)?;
            }
        }
        sync_dir(&self.dir)?;
        if crate::test_fault("fail_before_swap") {
            // Tests only (see `crate::test_fault`): a commit failing at the last moment.
            return Err(SinkError::io(
                "swap into place",
                &self.target,
                std::io::Error::other("TIERSCORE_TEST_FAULT=fail_before_swap"),
            ));
        }
        let replaced = self.target.exists();
        if replaced {
            swap(&self.dir, &self.target)?;
        } else {
            fs::rename(&self.dir, &self.target)
                .map_err(|e| SinkError::io("rename", &self.target, e))?;
        }
        // From here the new output is live: a failure to tidy up is a warning, not a failed run.
        self.committed = true;
        if let Some(parent) = self.target.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Err(err) = sync_dir(parent) {
                tracing::warn!("{err}");
            }
        }
        if replaced {
            // The staging path now holds the previous output.
            if let Err(err) = fs::remove_dir_all(&self.dir) {
                tracing::warn!(path = %self.dir.display(), "cannot remove the previous output: {err}");
            }
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether `dir` holds a tierscore output: a `_manifest.json` that says so.
pub fn is_tierscore_output(dir: &Path) -> bool {
    fs::read(dir.join(MANIFEST_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|manifest| manifest["tool"] == "tierscore")
}

/// A target may be replaced when it does not exist, is an empty directory, or is a tierscore
/// output. Anything else is somebody's data and is never touched.
pub fn ensure_replaceable(target: &Path) -> Result<(), SinkError> {
    let replaceable = match fs::symlink_metadata(target) {
        Err(_) => true,
        Ok(meta) if meta.is_dir() => {
            is_tierscore_output(target)
                || fs::read_dir(target).is_ok_and(|mut entries| entries.next().is_none())
        }
        Ok(_) => false,
    };
    if replaceable {
        Ok(())
    } else {
        Err(SinkError::NotOurs {
            target: target.to_path_buf(),
        })
    }
}

fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SinkError::io("sync", dir, e))
}

#[cfg(target_os = "linux")]
fn swap(staged: &Path, target: &Path) -> Result<(), SinkError> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, staged, CWD, target, RenameFlags::EXCHANGE)
        .map_err(|e| SinkError::io("swap into place", target, e.into()))
}

#[cfg(not(target_os = "linux"))]
fn swap(staged: &Path, target: &Path) -> Result<(), SinkError> {
    let old = staged.with_extension("old");
    fs::rename(target, &old).map_err(|e| SinkError::io("rename", target, e))?;
    fs::rename(staged, target).map_err(|e| SinkError::io("rename", staged, e))?;
    fs::rename(&old, staged).map_err(|e| SinkError::io("rename", &old, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(dir: &Path, tool: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(
            dir.join("_manifest.json"),
            format!("{{\"tool\": \"{tool}\"}}"),
        )
        .unwrap();
    }

    #[test]
    fn commit_replaces_a_previous_output_and_leaves_nothing_behind() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        manifest(&target, "tierscore");
        fs::write(target.join("old.txt"), "old").unwrap();

        let staging = Staging::prepare(&target, "r1").unwrap();
        manifest(staging.dir(), "tierscore");
        fs::write(staging.dir().join("new.txt"), "new").unwrap();
        staging.commit().unwrap();

        assert!(target.join("new.txt").exists());
        assert!(!target.join("old.txt").exists());
        let names: Vec<String> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, vec!["out"], "no staging directory, no lock file");
    }

    #[test]
    fn an_uncommitted_run_leaves_the_previous_output_intact() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        manifest(&target, "tierscore");
        {
            let staging = Staging::prepare(&target, "r1").unwrap();
            fs::write(staging.dir().join("half.parquet"), "x").unwrap();
        }
        assert!(target.join("_manifest.json").exists());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn foreign_targets_are_refused_untouched() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("report.csv");
        fs::write(&file, "a,b").unwrap();
        assert!(matches!(
            Staging::prepare(&file, "r1"),
            Err(SinkError::NotOurs { .. })
        ));
        let dir = root.path().join("data");
        manifest(&dir, "other");
        assert!(matches!(
            Staging::prepare(&dir, "r1"),
            Err(SinkError::NotOurs { .. })
        ));
        assert_eq!(fs::read_to_string(&file).unwrap(), "a,b");
        let empty = root.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(Staging::prepare(&empty, "r1").is_ok());
    }

    #[test]
    fn a_second_run_on_the_same_target_is_refused_while_the_first_holds_it() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let first = Staging::prepare(&target, "r1").unwrap();
        assert!(matches!(
            Staging::prepare(&target, "r2"),
            Err(SinkError::Locked { .. })
        ));
        drop(first);
        assert!(!root.path().join(".out.tierscore.lock").exists());
        let second = Staging::prepare(&target, "r3").unwrap();
        assert!(root.path().join(".out.tierscore.lock").exists());
        assert!(matches!(
            Staging::prepare(&target, "r4"),
            Err(SinkError::Locked { .. })
        ));
        drop(second);
    }

    #[test]
    fn leftovers_of_a_killed_run_are_cleared() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let stale = root.path().join(".out.tierscore-staging-dead");
        fs::create_dir(&stale).unwrap();
        let staging = Staging::prepare(&target, "r2").unwrap();
        assert!(!stale.exists());
        staging.commit().unwrap();
        assert!(target.is_dir());
    }
}
