//! The staging directory beside the target and the atomic commit that replaces the target.
//!
//! A run writes everything into `.NAME.tierscore-staging-RUNID/` next to the target and, at the
//! end, swaps it into place: on Linux with one `renameat2(RENAME_EXCHANGE)`, so there is no
//! moment without a complete output; elsewhere with two renames. A crash leaves the previous
//! output as it was; the next run clears the leftovers. A lock file beside the target keeps two
//! runs from writing the same target at once; it is removed when the run ends.
//!
//! An output in object storage is staged locally too, and committed by [`super::remote`]'s
//! protocol instead of the swap.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::remote::RemoteStaging;
use super::SinkError;
use crate::manifest::{
    is_partial_report_file, Manifest, DATA_DIR, MANIFEST_FILE, REJECTS_DIR, REJECTS_FILE,
    REPORT_FILE, SUCCESS_FILE,
};
use crate::store::Location;

/// Where `schema_version` 1 outputs kept their rejects, at the top of the output: an output
/// written before the `scored/` and `rejects/` layout is still ours to replace.
const LEGACY_REJECTS_FILE: &str = "_rejects.parquet";

/// A staging directory for one run's output, removed again unless committed.
#[derive(Debug)]
pub enum Staging {
    /// A local output, swapped into place.
    Local(LocalStaging),
    /// An output in object storage, uploaded by its commit protocol.
    Remote(RemoteStaging),
}

impl Staging {
    /// Checks the target may be replaced, takes its lock and creates the staging directory.
    pub fn prepare(target: &Location, run_id: &str) -> Result<Self, SinkError> {
        match target {
            Location::Local(path) => LocalStaging::prepare(path, run_id).map(Staging::Local),
            Location::Remote(root) => RemoteStaging::prepare(root, run_id).map(Staging::Remote),
        }
    }

    /// Where the run writes its files.
    pub fn dir(&self) -> &Path {
        match self {
            Staging::Local(staging) => staging.dir(),
            Staging::Remote(staging) => staging.dir(),
        }
    }

    /// Makes the staged output the target's, replacing the previous output.
    pub fn commit(self) -> Result<(), SinkError> {
        match self {
            Staging::Local(staging) => staging.commit(),
            Staging::Remote(staging) => staging.commit(),
        }
    }
}

/// The staging directory of a local output, beside the target.
#[derive(Debug)]
pub struct LocalStaging {
    target: PathBuf,
    dir: PathBuf,
    committed: bool,
    _lock: Lock,
}

/// The lock of a local output held by a command that writes into it without staging it:
/// `report` renders from the output's files and renames its page into it, and a run
/// committing into the same output meanwhile would swap those files from under it and be left
/// with a page of the previous run. Both take this one lock, so they never interleave.
#[derive(Debug)]
pub struct OutputLock {
    _held: Lock,
}

impl OutputLock {
    /// Takes the lock of the local output folder `target`; [`SinkError::Locked`] when
    /// another command holds it. The target is named by its real path, so `report .` from
    /// inside the output takes the lock a run into it takes.
    pub fn take(target: &Path) -> Result<Self, SinkError> {
        let real = fs::canonicalize(target).map_err(|e| SinkError::io("open", target, e))?;
        let (parent, name) = beside(&real)?;
        Ok(Self {
            _held: Lock::take(&lock_file(&parent, &name), &real)?,
        })
    }
}

/// The folder that holds `target` and the target's name in it.
fn beside(target: &Path) -> Result<(PathBuf, String), SinkError> {
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
    Ok((parent, name))
}

/// The lock file of the output `name` in `parent`.
fn lock_file(parent: &Path, name: &str) -> PathBuf {
    parent.join(format!(".{name}.tierscore.lock"))
}

/// An exclusive `flock` on `.NAME.tierscore.lock` beside the target; the file is removed when
/// the lock is released, so no empty lock files are left behind.
///
/// The file is opened without following symlinks (`O_NOFOLLOW`: a planted symlink makes the
/// open fail). Removing a lock file races with a run that opened it just before: that run would
/// lock the removed file while a third run creates and locks a new one. So a run that got the
/// lock checks that the path still names the file it locked, and starts over when it does not.
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
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(|e| SinkError::io("open the lock file", path, e))?;
            rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                .map_err(|_| SinkError::Locked {
                    target: target.to_path_buf(),
                })?;
            let held =
                rustix::fs::fstat(&file).map_err(|e| SinkError::io("stat", path, e.into()))?;
            match rustix::fs::lstat(path) {
                Ok(now) if now.st_dev == held.st_dev && now.st_ino == held.st_ino => {
                    return Ok(Self {
                        path: path.to_path_buf(),
                        _file: file,
                    })
                }
                // The holder before us removed it while we opened it: take the new one (a
                // symlink planted there since fails the next open).
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

impl LocalStaging {
    /// Checks the target may be replaced, takes the lock and creates the staging directory.
    pub fn prepare(target: &Path, run_id: &str) -> Result<Self, SinkError> {
        let (parent, name) = beside(target)?;
        fs::create_dir_all(&parent).map_err(|e| SinkError::io("create", &parent, e))?;
        ensure_local_replaceable(target)?;

        let lock = Lock::take(&lock_file(&parent, &name), target)?;
        crate::test_pause("locked");

        let leftover = format!(".{name}.tierscore-staging-");
        let entries = fs::read_dir(&parent).map_err(|e| SinkError::io("list", &parent, e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&leftover) {
                remove_leftover(&entry.path());
            }
        }

        let dir = parent.join(format!("{leftover}{run_id}"));
        fs::create_dir(&dir).map_err(|e| SinkError::io("create", &dir, e))?;
        crate::test_pause("staged");
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
        let previous = ensure_local_replaceable(&self.target)?;
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
        crate::test_pause("synced");
        let replaced = self.target.exists();
        if replaced {
            swap(&self.dir, &self.target)?;
        } else {
            fs::rename(&self.dir, &self.target)
                .map_err(|e| SinkError::io("rename", &self.target, e))?;
        }
        // From here the new output is live: a failure to tidy up is a warning, not a failed run.
        self.committed = true;
        crate::test_pause("swapped");
        if let Some(parent) = self.target.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Err(err) = sync_dir(parent) {
                tracing::warn!("{err}");
            }
        }
        if replaced {
            // The staging path now holds the previous output: remove what its manifest lists.
            remove_owned(&self.dir, &previous);
        }
        crate::test_pause("cleaned");
        Ok(())
    }
}

impl Drop for LocalStaging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// What tierscore owns in an existing output: the paths (relative, `/`-separated) its manifest
/// lists (the data files in `scored/`, the rejects in `rejects/`, the report), tierscore's own
/// names, and the folders that hold them. Nothing else is ever removed.
#[derive(Debug, Default)]
pub struct Owned {
    files: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

impl Owned {
    /// The paths `manifest` accounts for, or why it cannot be trusted with them (an absolute
    /// path, or one that climbs out with `..`).
    fn of(manifest: &Manifest) -> Result<Self, String> {
        let mut owned = Owned::default();
        let listed = manifest
            .output
            .files
            .iter()
            .map(|f| f.path.as_str())
            .chain([
                manifest.output.rejects_file.as_str(),
                MANIFEST_FILE,
                SUCCESS_FILE,
                REJECTS_FILE,
                LEGACY_REJECTS_FILE,
                REPORT_FILE,
            ]);
        for path in listed {
            let rel = Path::new(path);
            let plain = rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !plain || rel.as_os_str().is_empty() {
                return Err(format!(
                    "its {MANIFEST_FILE} lists `{path}`, which is not a path inside the output"
                ));
            }
            let mut dir = rel.parent();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                owned.dirs.insert(d.to_path_buf());
                dir = d.parent();
            }
            owned.files.insert(rel.to_path_buf());
        }
        // The datasets' folders, which may be empty (no row scored).
        owned.dirs.insert(PathBuf::from(DATA_DIR));
        owned.dirs.insert(PathBuf::from(REJECTS_DIR));
        Ok(owned)
    }

    /// The first entry below `root` (not following symlinks) that this does not account for.
    fn first_stranger(&self, root: &Path, rel: &Path) -> Result<Option<PathBuf>, SinkError> {
        let dir = root.join(rel);
        let mut entries = fs::read_dir(&dir)
            .map_err(|e| SinkError::io("list", &dir, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SinkError::io("list", &dir, e))?;
        entries.sort();
        for name in entries {
            let path = rel.join(&name);
            let meta = fs::symlink_metadata(root.join(&path))
                .map_err(|e| SinkError::io("inspect", &root.join(&path), e))?;
            if meta.is_dir() && self.dirs.contains(&path) {
                if let Some(found) = self.first_stranger(root, &path)? {
                    return Ok(Some(found));
                }
            } else if !(meta.is_file() && self.files.contains(&path)) {
                return Ok(Some(path));
            }
        }
        Ok(None)
    }
}

/// A target may be replaced when it does not exist, is an empty directory, or is a tierscore
/// output — a manifest tierscore can read in full, and nothing in the directory but what that
/// manifest lists. Anything else is somebody's data and is never touched.
pub fn ensure_replaceable(target: &Location) -> Result<(), SinkError> {
    match target {
        Location::Local(path) => ensure_local_replaceable(path).map(drop),
        Location::Remote(root) => super::remote::ensure_replaceable(root).map(drop),
    }
}

/// [`ensure_replaceable`] for a local target; returns what the commit may remove of the
/// previous output.
fn ensure_local_replaceable(target: &Path) -> Result<Owned, SinkError> {
    let refuse = |reason: String| SinkError::NotOurs {
        target: target.to_path_buf(),
        reason,
    };
    let meta = match fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Owned::default()),
        Err(e) => return Err(SinkError::io("inspect", target, e)),
        Ok(meta) => meta,
    };
    if !meta.is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    let empty = fs::read_dir(target)
        .map_err(|e| SinkError::io("list", target, e))?
        .next()
        .is_none();
    if empty {
        return Ok(Owned::default());
    }
    let manifest = Manifest::read(target).map_err(|e| refuse(e.to_string()))?;
    let mut owned = Owned::of(&manifest).map_err(refuse)?;
    // A page a killed `report` left, removed with the output it was written into.
    for entry in fs::read_dir(target).map_err(|e| SinkError::io("list", target, e))? {
        let name = entry
            .map_err(|e| SinkError::io("list", target, e))?
            .file_name();
        if is_partial_report_file(&name.to_string_lossy()) {
            owned.files.insert(PathBuf::from(name));
        }
    }
    match owned.first_stranger(target, Path::new(""))? {
        None => Ok(owned),
        Some(stranger) => Err(refuse(format!(
            "it holds {}, which its {MANIFEST_FILE} does not list",
            stranger.display()
        ))),
    }
}

/// Removes from `dir` (a previous output, moved aside) only what `owned` lists, then the folders
/// left empty. Whatever cannot be removed is reported and left.
fn remove_owned(dir: &Path, owned: &Owned) {
    let warn = |path: &Path, err: std::io::Error| {
        tracing::warn!(path = %path.display(), "cannot remove a file of the previous output: {err}");
    };
    for file in &owned.files {
        let path = dir.join(file);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => warn(&path, e),
            _ => {}
        }
    }
    // Deepest first: a folder's path sorts before the folders inside it.
    for sub in owned.dirs.iter().rev() {
        let path = dir.join(sub);
        match fs::remove_dir(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => warn(&path, e),
            _ => {}
        }
    }
    if let Err(e) = fs::remove_dir(dir) {
        warn(dir, e);
    }
}

/// Removes a staging directory left by an interrupted run (tierscore's own name beside the
/// target). One that cannot be removed — another user's, or read-only — is reported and left:
/// it does not stop this run.
fn remove_leftover(path: &Path) {
    tracing::info!(path = %path.display(), "removing a staging directory left by an interrupted run");
    let removed = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    if let Err(err) = removed {
        tracing::warn!(
            path = %path.display(),
            "cannot remove a staging folder left by an earlier run ({err}); this run goes on, remove it yourself"
        );
    }
}

/// Refuses an input file inside the output directory (the commit would replace it), an
/// output inside a directory input, and an output holding a file a glob input matches (the next
/// run would read it as input): `written` are the data files the output will hold, relative to
/// it. In object storage, where there are no links, by their URLs.
pub fn ensure_apart(
    target: &Location,
    input: &Path,
    files: &[PathBuf],
    written: &[String],
) -> Result<(), SinkError> {
    let target = match target {
        Location::Local(path) => path,
        Location::Remote(root) => {
            let url = root.url();
            ensure_apart_remote(&url, input, files)?;
            let files: Vec<String> = written
                .iter()
                .map(|rel| format!("{}/{rel}", url.trim_end_matches('/')))
                .collect();
            return glob_apart(&PathBuf::from(&url), input, &files);
        }
    };
    let target_abs = absolute(target);
    for file in files {
        let file_abs = absolute(file);
        if file_abs.starts_with(&target_abs) {
            return Err(SinkError::Overlap {
                target: target.to_path_buf(),
                input: file.clone(),
                how: "the input file is inside the output directory, which the run replaces",
            });
        }
    }
    if input.is_dir() && target_abs.starts_with(absolute(input)) {
        return Err(SinkError::Overlap {
            target: target.to_path_buf(),
            input: input.to_path_buf(),
            how: "the output directory is inside the input directory, so the next run would read it as input",
        });
    }
    // The pattern is matched made absolute and resolved, so the files are named alike.
    let files: Vec<String> = written
        .iter()
        .map(|rel| target_abs.join(rel).display().to_string())
        .collect();
    glob_apart(target, input, &files)
}

/// Refuses an output whose data `files` (full paths or URLs) the glob `input` matches, as
/// the input's files are found (`*` within one folder, `**` across folders). A local `input`
/// is matched as [`absolute_pattern`] gives it, against `files` with symlinks resolved.
fn glob_apart(target: &Path, input: &Path, files: &[String]) -> Result<(), SinkError> {
    if !is_glob(input) {
        return Ok(());
    }
    let local = crate::store::url_scheme(&input.to_string_lossy()).is_none();
    let text = if local {
        absolute_pattern(input).to_string_lossy().into_owned()
    } else {
        input.to_string_lossy().into_owned()
    };
    let Ok(pattern) = glob::Pattern::new(&text) else {
        return Ok(());
    };
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..Default::default()
    };
    match files.iter().find(|file| pattern.matches_with(file, options)) {
        Some(_) => Err(SinkError::Overlap {
            target: target.to_path_buf(),
            input: input.to_path_buf(),
            how: "the input pattern matches files the output holds, so the next run would read them as input",
        }),
        None => Ok(()),
    }
}

/// [`ensure_apart`] for an output at the URL `target`.
fn ensure_apart_remote(target: &str, input: &Path, files: &[PathBuf]) -> Result<(), SinkError> {
    let below = |inner: &str, outer: &str| {
        inner == outer || inner.starts_with(&format!("{}/", outer.trim_end_matches('/')))
    };
    if let Some(file) = files
        .iter()
        .find(|file| below(&file.to_string_lossy(), target))
    {
        return Err(SinkError::Overlap {
            target: PathBuf::from(target),
            input: file.clone(),
            how: "the input file is inside the output, which the run replaces",
        });
    }
    if below(target, &input.to_string_lossy()) {
        return Err(SinkError::Overlap {
            target: PathBuf::from(target),
            input: input.to_path_buf(),
            how: "the output is inside the input prefix, so the next run would read it as input",
        });
    }
    Ok(())
}

/// Whether a path holds a glob's wildcards ([`crate::store::glob_start`]).
fn is_glob(path: &Path) -> bool {
    crate::store::glob_start(&path.to_string_lossy()).is_some()
}

/// A local glob as the files it finds are named, whichever way it was spelled: made absolute
/// (from the working directory), its folders before the first wildcard with `..` and symlinks
/// resolved ([`absolute`]), the rest as written.
fn absolute_pattern(pattern: &Path) -> PathBuf {
    let joined = std::path::absolute(pattern).unwrap_or_else(|_| pattern.to_path_buf());
    let parts: Vec<_> = joined.components().collect();
    let wild = parts
        .iter()
        .position(|part| is_glob(Path::new(part.as_os_str())))
        .unwrap_or(parts.len());
    let fixed: PathBuf = parts[..wild].iter().collect();
    let rest: PathBuf = parts[wild..].iter().collect();
    absolute(&fixed).join(rest)
}

/// `path` with symlinks resolved as far as it exists (the rest appended as written).
fn absolute(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut existing = path;
    loop {
        if let Ok(found) = existing.canonicalize() {
            return missing.iter().rev().fold(found, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
            }
            _ => return std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        }
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

    /// Writes a complete manifest by `tool` into `dir`, listing `files`.
    fn manifest_listing(dir: &Path, tool: &str, files: &[&str]) {
        fs::create_dir_all(dir).unwrap();
        let files: Vec<_> = files
            .iter()
            .map(|f| serde_json::json!({ "path": f, "tier": null, "rows": 1 }))
            .collect();
        let phases = serde_json::json!({
            "plan": 0.0, "derive": 0.0, "rank": 0.0, "score_and_write": 0.0, "finish": 0.0
        });
        let manifest = serde_json::json!({
            "schema_version": 1, "tool": tool, "tool_version": "0", "run_id": "r0",
            "started_at": "", "finished_at": "",
            "pipeline": { "path": "p.yaml", "name": "p", "sha256": "" },
            "scripts": [], "rules": [], "rules_sha256": "", "params": {}, "inputs": [],
            "threads": 1, "rows": { "input": 0, "scored": 0, "rejected": 0 },
            "score": { "count": 0 }, "tiers": [], "factors": [], "derive": [],
            "normalization": [],
            "output": { "id": "id", "partition_by": "none", "columns": [], "files": files,
                        "rejects_file": "_rejects.parquet" },
            "phases_seconds": phases,
        });
        fs::write(dir.join("_manifest.json"), manifest.to_string()).unwrap();
    }

    fn manifest(dir: &Path, tool: &str) {
        manifest_listing(dir, tool, &[]);
    }

    #[test]
    fn commit_replaces_a_previous_output_and_leaves_nothing_behind() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        manifest_listing(&target, "tierscore", &["tier=a/old.parquet"]);
        fs::create_dir(target.join("tier=a")).unwrap();
        fs::write(target.join("tier=a/old.parquet"), "old").unwrap();

        let staging = LocalStaging::prepare(&target, "r1").unwrap();
        manifest(staging.dir(), "tierscore");
        fs::write(staging.dir().join("new.txt"), "new").unwrap();
        staging.commit().unwrap();

        assert!(target.join("new.txt").exists());
        assert!(!target.join("tier=a").exists());
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
            let staging = LocalStaging::prepare(&target, "r1").unwrap();
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
            LocalStaging::prepare(&file, "r1"),
            Err(SinkError::NotOurs { .. })
        ));
        let dir = root.path().join("data");
        manifest(&dir, "other");
        assert!(matches!(
            LocalStaging::prepare(&dir, "r1"),
            Err(SinkError::NotOurs { .. })
        ));
        assert_eq!(fs::read_to_string(&file).unwrap(), "a,b");
        let empty = root.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(LocalStaging::prepare(&empty, "r1").is_ok());
    }

    #[test]
    fn a_second_run_on_the_same_target_is_refused_while_the_first_holds_it() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let first = LocalStaging::prepare(&target, "r1").unwrap();
        assert!(matches!(
            LocalStaging::prepare(&target, "r2"),
            Err(SinkError::Locked { .. })
        ));
        drop(first);
        assert!(!root.path().join(".out.tierscore.lock").exists());
        let second = LocalStaging::prepare(&target, "r3").unwrap();
        assert!(root.path().join(".out.tierscore.lock").exists());
        assert!(matches!(
            LocalStaging::prepare(&target, "r4"),
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
        let staging = LocalStaging::prepare(&target, "r2").unwrap();
        assert!(!stale.exists());
        staging.commit().unwrap();
        assert!(target.is_dir());
    }

    #[test]
    fn a_forged_or_partial_manifest_does_not_make_an_output_ours() {
        let root = tempfile::tempdir().unwrap();
        let forged = root.path().join("forged");
        fs::create_dir(&forged).unwrap();
        fs::write(
            forged.join("_manifest.json"),
            r#"{"tool":"tierscore","schema_version":1}"#,
        )
        .unwrap();
        let err = ensure_local_replaceable(&forged).unwrap_err();
        assert!(
            err.to_string().contains("_manifest.json is incomplete"),
            "{err}"
        );

        let extra = root.path().join("extra");
        manifest_listing(&extra, "tierscore", &["part-00000.parquet"]);
        fs::write(extra.join("part-00000.parquet"), "p").unwrap();
        fs::write(extra.join("notes.txt"), "mine").unwrap();
        let err = ensure_local_replaceable(&extra).unwrap_err();
        assert!(
            err.to_string()
                .contains("it holds notes.txt, which its _manifest.json does not list"),
            "{err}"
        );

        let climbing = root.path().join("climbing");
        manifest_listing(&climbing, "tierscore", &["../data.parquet"]);
        let err = ensure_local_replaceable(&climbing).unwrap_err();
        assert!(err.to_string().contains("lists `../data.parquet`"), "{err}");
    }

    #[test]
    fn the_lock_file_is_never_opened_through_a_symlink() {
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("victim.txt");
        fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, root.path().join(".out.tierscore.lock")).unwrap();
        let err = LocalStaging::prepare(&root.path().join("out"), "r1").unwrap_err();
        assert!(
            err.to_string().starts_with("cannot open the lock file"),
            "{err}"
        );
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn inputs_inside_the_output_and_outputs_inside_the_input_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        fs::create_dir(&data).unwrap();
        let file = data.join("a.parquet");
        fs::write(&file, "x").unwrap();
        let written = ["scored/part-00000.parquet".to_string()];
        assert!(matches!(
            ensure_apart(
                &Location::Local(data.clone()),
                &file,
                std::slice::from_ref(&file),
                &written
            ),
            Err(SinkError::Overlap { .. })
        ));
        assert!(matches!(
            ensure_apart(
                &Location::Local(data.join("out")),
                &data,
                std::slice::from_ref(&file),
                &written
            ),
            Err(SinkError::Overlap { .. })
        ));
        assert!(ensure_apart(
            &Location::Local(root.path().join("out")),
            &data,
            std::slice::from_ref(&file),
            &written
        )
        .is_ok());
        // Globs: by what they match of the output's files.
        let glob = |pattern: &str, out: &str| {
            ensure_apart(
                &Location::Local(root.path().join(out)),
                &root.path().join(pattern),
                std::slice::from_ref(&file),
                &written,
            )
        };
        assert!(matches!(
            glob("data/**/*.parquet", "data/out"),
            Err(SinkError::Overlap { .. })
        ));
        assert!(matches!(
            glob("*/*/scored/*.parquet", "data/out"),
            Err(SinkError::Overlap { .. })
        ));
        assert!(glob("data/*.parquet", "data/out").is_ok());
        assert!(glob("data/**/*.parquet", "out").is_ok());
    }
}
