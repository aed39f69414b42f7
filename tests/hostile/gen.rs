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

/// Row groups of one row took 18 KB each until the file closed (the writer keeps every row
/// group's metadata): `--rows 200000 --row-group-size 1` reached 3.4 GB before it was stopped.
/// More than 10,000 row groups are refused before anything is written, naming the size to use.
#[test]
fn gen_refuses_more_than_ten_thousand_row_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (rows, size, groups, smallest) in [("200000", "1", 200_000, 20), ("20001", "2", 10_001, 3)]
    {
        let result = run(
            dir,
            &[
                "gen",
                "--rows",
                rows,
                "--row-group-size",
                size,
                "--out",
                "g.parquet",
            ],
        );
        result.expect_code(3);
        assert!(
            result.stderr.contains("gen::too_many_row_groups"),
            "{}",
            result.stderr
        );
        assert_eq!(
            result.headline(),
            format!(
                "{rows} rows in row groups of {size} make {groups} row groups, more than the \
                 10000 a generated file may have"
            )
        );
        assert_eq!(
            result.help(),
            format!("use --row-group-size {smallest} or more for {rows} rows")
        );
        assert!(listing(dir).is_empty(), "nothing written");
    }
}

/// A `gen` killed mid-write left its temporary file, up to the whole output (233 MB), and no
/// later `gen` removed it. Each is now named with its process id; the next `gen` into that
/// folder removes those of processes that no longer run, and leaves a live one's (another
/// `gen` writing there now) and any other file.
#[test]
fn gen_removes_the_files_of_killed_gens_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut finished = std::process::Command::new("true").spawn().unwrap();
    let dead = finished.id();
    finished.wait().unwrap();
    let alive = std::process::id();
    let dead_file = format!(".tierscore-gen-{dead}-Ab12Cd.tmp");
    let live_file = format!(".tierscore-gen-{alive}-Ef34Gh.tmp");
    for name in [
        dead_file.as_str(),
        live_file.as_str(),
        ".tierscore-gen-XyZ123.tmp",
        "notes.tmp",
    ] {
        write(dir, name, "half a file");
    }
    run(
        dir,
        &["--quiet", "gen", "--rows", "5", "--out", "g.parquet"],
    )
    .expect_code(0);
    let mut expected = vec![
        live_file.clone(),
        ".tierscore-gen-XyZ123.tmp".to_string(),
        "g.parquet".to_string(),
        "notes.tmp".to_string(),
    ];
    expected.sort();
    assert_eq!(listing(dir), expected);
}
