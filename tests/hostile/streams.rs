//! Closed or full stdout and stderr, and files over `ulimit -f`: a reader that went away ends
//! the command quietly, any other write failure is exit 3 with a message, and nothing panics.

use std::fs::{self, File};
use std::process::{Command, Stdio};

use crate::common::*;
use crate::plain;

fn tierscore_in(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tierscore"));
    cmd.current_dir(dir).env_remove("RUST_LOG");
    cmd
}

#[test]
fn a_report_lost_to_a_full_disk_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    for command in ["check", "test"] {
        let output = tierscore_in(dir)
            .args([command, "p.yaml"])
            .stdout(File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(3), "{command}: {stderr}");
        assert_eq!(
            headline(&stderr),
            "cannot write the report to stdout: No space left on device (os error 28)"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_reader_that_went_away_ends_the_command_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = tierscore_in(dir)
        .args(["check", "p.yaml"])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn an_unwritable_stderr_does_not_panic_after_the_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    let status = tierscore_in(dir)
        .args(["run", "p.yaml", "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(File::create("/dev/full").unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(manifest(&dir.join("out"))["rows"]["input"], 200);

    // `run ... 2>&1 | head -1`: stderr a pipe whose reader went away.
    fs::remove_dir_all(dir.join("out")).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = tierscore_in(dir)
        .args(["run", "p.yaml"])
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(manifest(&dir.join("out"))["rows"]["input"], 200);

    // A failing run with nowhere to say so still exits with its code.
    let status = tierscore_in(dir)
        .args(["run", "p.yaml", "--set", "nope=1"])
        .stderr(File::create("/dev/full").unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

#[test]
fn a_file_over_ulimit_f_is_an_io_error_and_keeps_the_previous_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    gen(dir, "customers.parquet", 20_000, 3, 20_000);
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let before = snapshot(&dir.join("out"));

    // 16 blocks of 512 bytes: far less than the 20,000 rows' output.
    let output = Command::new("sh")
        .current_dir(dir)
        .args([
            "-c",
            "ulimit -f 16 && exec \"$0\" run p.yaml",
            env!("CARGO_BIN_EXE_tierscore"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("File too large (os error 27)"), "{stderr}");
    assert_eq!(
        snapshot(&dir.join("out")),
        before,
        "the previous output is intact"
    );
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `1m`) on `dir`; `None` where mounting is not allowed
    /// (not root, or no `CAP_SYS_ADMIN` in a container).
    fn mount(dir: &std::path::Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A disk that fills up during the run: exit 3 naming the file and the error, the previous
/// output intact, no staging folder left. The disk is a 1 MiB tmpfs; where this machine does
/// not allow mounting one, the case says so on stderr and checks nothing (the `ulimit -f` case
/// above takes the same path through a failing write).
#[test]
fn a_full_disk_is_an_io_error_and_keeps_the_previous_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let Some(disk) = Tmpfs::mount(&dir.join("disk"), "1m") else {
        eprintln!("a_full_disk_…: skipped, this machine does not allow mounting a tmpfs");
        return;
    };
    plain(dir);
    let yaml = std::fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(dir, "p.yaml", &yaml.replace("path: out", "path: disk/out"));
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let before = snapshot(&dir.join("disk/out"));

    // The input stays off the small disk; its output is several times larger than the disk.
    gen(dir, "customers.parquet", 100_000, 3, 50_000);
    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    // miette may wrap after a `-`.
    let headline = result.headline().replace("- ", "-");
    assert!(
        headline.starts_with("cannot write disk/.out.tierscore-staging-")
            && headline.contains("/scored/tier=")
            && headline.ends_with(".parquet: No space left on device (os error 28)"),
        "{headline}"
    );
    assert_eq!(
        snapshot(&dir.join("disk/out")),
        before,
        "the previous output is intact"
    );
    assert_eq!(listing(&dir.join("disk")), ["out"], "no staging, no lock");
    drop(disk);
}

/// A tier-partitioned output keeps a file open a tier. tierscore raises its soft open-file
/// limit up to the hard one, so 250 rank tiers under a soft limit of 128 are written; under a
/// hard limit of 128 the run stops with `sink::open_files` (exit 3) naming the limit and the
/// fix, and commits nothing.
#[test]
fn many_tiers_raise_the_open_file_limit_or_say_it_is_too_low() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 20_000, 3, 5_000);
    let levels: String = (1..250)
        .map(|i| format!("    - {{ name: t{i}, top: {} }}\n", i as f64 / 250.0))
        .collect();
    write(
        dir,
        "p.yaml",
        &format!(
            "version: 1\nname: p\ninput: {{ path: customers.parquet, id: customer_id }}\n\
             factors:\n  - {{ name: v, expr: \"orders_12m * 1.0 + revenue_12m\", weight: 1.0 }}\n\
             tiers:\n  by: rank\n  levels:\n{levels}    - {{ name: rest }}\n\
             output: {{ path: out }}\n"
        ),
    );
    let under = |ulimit: &str| {
        Command::new("sh")
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .args([
                "-c",
                &format!("ulimit {ulimit} 128 && exec \"$0\" run p.yaml --quiet"),
                env!("CARGO_BIN_EXE_tierscore"),
            ])
            .output()
            .unwrap()
    };
    let hard = under("-n");
    let stderr = String::from_utf8(hard.stderr).unwrap();
    assert_eq!(hard.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("sink::open_files"), "{stderr}");
    assert!(
        headline(&stderr).ends_with(": too many open files (this process may open 128)"),
        "{stderr}"
    );
    assert!(!dir.join("out").exists());
    assert_eq!(staging_dirs(dir), Vec::<String>::new());

    let soft = under("-S -n");
    assert_eq!(
        soft.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&soft.stderr)
    );
    assert_eq!(fs::read_dir(dir.join("out/scored")).unwrap().count(), 250);
}
