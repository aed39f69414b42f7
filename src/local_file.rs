//! The local files a user names, opened only when they are regular files, and the text files a
//! run is made of (pipelines, their test cases, scripts and modules, earlier runs' manifests)
//! read with a bound. A path naming a named pipe would block the run for ever, one naming
//! `/dev/zero` or a runaway generated file would take all the memory there is; each is refused
//! with an error saying what the path names, before it is opened.

use std::fs::{File, FileType, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::human;

/// The most bytes of a YAML file (a pipeline, a test case file) tierscore reads: hundreds of
/// factors and test cases take a few hundred KB.
pub const MAX_YAML_BYTES: u64 = 16 << 20;

/// The most bytes of a rule script or module: honest ones take a few KB, and what a script may
/// hold is bounded anyway (see `rules::interpreter::sizes`).
pub const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// The most bytes of a `_manifest.json` tierscore reads back: a thousand factors' figures take
/// a few MB.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// The regular file at `path` (links followed), open for reading, with its metadata.
///
/// Fails with [`io::ErrorKind::InvalidInput`] when the path names a folder, a pipe, a device or
/// a socket, found before opening it (opening a device can have effects of its own) and again
/// after (opened without waiting for a pipe's writer, should the path change in between).
pub fn open(path: &Path) -> io::Result<(File, Metadata)> {
    regular(std::fs::metadata(path)?)?;
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let metadata = regular(file.metadata()?)?;
    Ok((file, metadata))
}

/// `metadata` if it is a regular file's, else the error [`open`] fails with.
fn regular(metadata: Metadata) -> io::Result<Metadata> {
    if metadata.is_file() {
        Ok(metadata)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {}, not a regular file", kind(metadata.file_type())),
        ))
    }
}

/// The UTF-8 text of the regular file at `path` (links followed), at most `limit` bytes of it.
///
/// Fails as [`open`] does, with [`io::ErrorKind::FileTooLarge`] when the file holds more than
/// `limit` bytes (also one that grows while read), and with [`io::ErrorKind::InvalidData`] when
/// it is not UTF-8.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    let (file, metadata) = open(path)?;
    let too_large = |bytes: String| {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "it is {bytes} bytes long, more than the {} bytes tierscore reads of such a file",
                human::count(limit)
            ),
        )
    };
    if metadata.len() > limit {
        return Err(too_large(human::count(metadata.len())));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(format!("over {}", human::count(limit))));
    }
    String::from_utf8(bytes).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 text (its first {} bytes are, the next is not)",
                human::count(error.utf8_error().valid_up_to() as u64)
            ),
        )
    })
}

/// What a path that is not a regular file names, for messages.
fn kind(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_fifo() {
        "a named pipe"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file within the limit reads whole; one byte over it is refused with its size, and a
    /// file that is not UTF-8 names the first byte that is not.
    #[test]
    fn files_read_up_to_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, "version: 1\n").unwrap();
        assert_eq!(read_text(&path, 11).unwrap(), "version: 1\n");
        let error = read_text(&path, 10).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            error.to_string(),
            "it is 11 bytes long, more than the 10 bytes tierscore reads of such a file"
        );
        std::fs::write(&path, b"ok \xff").unwrap();
        let error = read_text(&path, 10).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            error.to_string(),
            "it is not UTF-8 text (its first 3 bytes are, the next is not)"
        );
    }

    /// A named pipe is refused at once (no writer ever opens it: reading it would wait for
    /// ever), and so are a device, a folder and a link to a device.
    #[test]
    fn what_is_not_a_file_is_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &pipe,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let link = dir.path().join("zero.rhai");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        for (path, what) in [
            (pipe, "a named pipe"),
            ("/dev/zero".into(), "a device"),
            (link, "a device"),
            (dir.path().to_path_buf(), "a folder"),
        ] {
            // On a thread, so that a read waiting for ever fails the test instead of hanging it.
            let (tx, rx) = std::sync::mpsc::channel();
            let reading = path.clone();
            std::thread::spawn(move || tx.send(read_text(&reading, MAX_SCRIPT_BYTES)));
            let outcome = rx.recv_timeout(std::time::Duration::from_secs(10));
            let error = outcome.expect("an answer at once").unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{path:?}");
            assert_eq!(
                error.to_string(),
                format!("it is {what}, not a regular file")
            );
        }
    }

    /// A file whose size says it is small but which holds more (as `/proc` files do, their
    /// size 0) is read only up to the limit.
    #[test]
    fn a_file_holding_more_than_its_size_says_stops_at_the_limit() {
        let error = read_text(Path::new("/proc/self/maps"), 16).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            error.to_string(),
            "it is over 16 bytes long, more than the 16 bytes tierscore reads of such a file"
        );
    }
}
