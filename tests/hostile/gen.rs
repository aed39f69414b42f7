//! `gen --out` writes a temporary file and renames it, replaces only a regular file and only
//! with `--force`, and refuses 0 rows as a usage error.

use std::fs;

use crate::common::*;

#[test]
fn gen_refuses_an_existing_file_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "mine.parquet", "not generated");

    let result = run(dir, &["gen", "--rows", "5", "--out", "mine.parquet"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "mine.parquet already exists; refusing to overwrite it"
    );
    assert_eq!(
        result.help(),
        "pass --force to replace it, or choose another --out"
    );
    assert_eq!(listing(dir), ["mine.parquet"]);
    assert_eq!(
        fs::read_to_string(dir.join("mine.parquet")).unwrap(),
        "not generated"
    );

    run(
        dir,
        &["gen", "--rows", "5", "--out", "mine.parquet", "--force"],
    )
    .expect_code(0);
    assert_eq!(read_parquet(&dir.join("mine.parquet")).num_rows(), 5);
    assert_eq!(listing(dir), ["mine.parquet"], "no temporary left");
}

#[test]
fn gen_never_replaces_a_fifo_or_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    write(dir, "target.txt", "keep");
    std::os::unix::fs::symlink("target.txt", dir.join("link")).unwrap();

    for (out, kind) in [("pipe", "a FIFO"), ("link", "a symbolic link")] {
        let result = run(dir, &["gen", "--rows", "5", "--out", out, "--force"]);
        result.expect_code(3);
        assert_eq!(
            result.headline(),
            format!("{out} is {kind}, not a regular file; refusing to replace it")
        );
    }
    assert!(fs::symlink_metadata(dir.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(dir.join("target.txt")).unwrap(), "keep");
    assert_eq!(listing(dir), ["link", "pipe", "target.txt"]);
}

#[test]
fn gen_zero_rows_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let result = run(dir, &["gen", "--rows", "0", "--out", "x.parquet"]);
    result.expect_code(2);
    assert!(
        result
            .stderr
            .contains("invalid value '0' for '--rows <ROWS>': 0 is not in 1.."),
        "{}",
        result.stderr
    );
    assert_eq!(listing(dir), Vec::<String>::new());
}
