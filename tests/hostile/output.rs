//! The output only ever holds what tierscore wrote: inputs inside it, forged or partial
//! manifests, strangers in an output and planted symlinks are refused or left alone.

use std::fs;

use crate::common::*;
use crate::plain;

#[test]
fn an_input_inside_the_output_is_refused_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    run(dir, &["run", "p.yaml"]).expect_code(0);
    // Score the previous output's own file into that output: the commit would delete it.
    let part = "out/scored/tier=high/part-00000.parquet";
    assert!(dir.join(part).is_file());
    let yaml = fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(dir, "again.yaml", &yaml.replace("customers.parquet", part));
    let before = snapshot(dir);

    let result = run(dir, &["run", "again.yaml"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        format!(
            "input {part} and output out overlap: the input file is inside the output \
             directory, which the run replaces"
        )
    );
    assert_eq!(
        result.help(),
        "keep the output directory (output.path or --output) apart from every input file and \
         folder"
    );
    assert_eq!(snapshot(dir), before, "nothing changed");
}

#[test]
fn an_output_inside_a_directory_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    fs::create_dir(dir.join("data")).unwrap();
    fs::rename(dir.join("customers.parquet"), dir.join("data/c.parquet")).unwrap();
    let yaml = fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(dir, "p.yaml", &yaml.replace("customers.parquet", "data"));
    let before = snapshot(dir);

    let result = run(dir, &["run", "p.yaml", "--output", "data/scores"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "input data and output data/scores overlap: the output directory is inside the input \
         directory, so the next run would read it as input"
    );
    assert_eq!(snapshot(dir), before);
    assert_eq!(listing(&dir.join("data")), ["c.parquet"]);
}

/// A glob input matching files the output will hold: the next run would read the last one's
/// output as input (a review's find: `data/**/*.parquet` with the output in `data/out` ran once
/// and then failed on its own rejects file). A glob that cannot reach them is fine, run after
/// run.
#[test]
fn an_output_whose_files_a_glob_input_matches_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    fs::create_dir(dir.join("data")).unwrap();
    fs::rename(dir.join("customers.parquet"), dir.join("data/c.parquet")).unwrap();
    let yaml = fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(
        dir,
        "p.yaml",
        &yaml.replace("customers.parquet", "data/**/*.parquet"),
    );
    let before = snapshot(dir);

    let result = run(dir, &["run", "p.yaml", "--output", "data/out"]);
    result.expect_code(3);
    assert!(result.stderr.contains("sink::overlap"), "{}", result.stderr);
    assert_eq!(
        result.headline(),
        "input data/**/*.parquet and output data/out overlap: the input pattern matches files \
         the output holds, so the next run would read them as input"
    );
    assert_eq!(snapshot(dir), before);
    // However the pattern and the output are spelled: `./`, `..`, an absolute output.
    let absolute_out = dir.join("data/out").display().to_string();
    for (input, output) in [
        ("data/**/*.parquet", absolute_out.as_str()),
        ("./data/**/*.parquet", "data/out"),
        ("data/../data/**/*.parquet", "./data/out"),
    ] {
        let result = run(
            dir,
            &["run", "p.yaml", "--input", input, "--output", output],
        );
        result.expect_code(3);
        assert!(
            result.headline().ends_with(
                "the input pattern matches files the output holds, so the next run would read \
                 them as input"
            ),
            "{input} {output}: {}",
            result.stderr
        );
    }
    assert_eq!(snapshot(dir), before);

    // One folder deep: the output's files are deeper, run after run.
    write(
        dir,
        "p.yaml",
        &yaml.replace("customers.parquet", "data/*.parquet"),
    );
    for _ in 0..2 {
        run(dir, &["--quiet", "run", "p.yaml", "--output", "data/out"]).expect_code(0);
    }
}

#[test]
fn a_forged_manifest_does_not_make_a_folder_an_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    write(
        dir,
        "out/_manifest.json",
        r#"{"tool":"tierscore","schema_version":1}"#,
    );
    write(dir, "out/thesis.tex", "years of work");
    let before = snapshot(dir);

    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    let headline = result.headline();
    assert!(
        headline.starts_with(
            "output out exists and is not a tierscore output (_manifest.json is incomplete: \
             missing field"
        ),
        "{headline}"
    );
    assert!(headline.ends_with("; refusing to replace it"), "{headline}");
    assert_eq!(snapshot(dir), before, "nothing changed");
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
}

#[test]
fn a_file_the_manifest_does_not_list_keeps_the_output_from_being_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    run(dir, &["run", "p.yaml"]).expect_code(0);
    write(dir, "out/scored/tier=low/notes.txt", "mine");
    let before = snapshot(dir);

    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "output out exists and is not a tierscore output (it holds scored/tier=low/notes.txt, which \
         its _manifest.json does not list); refusing to replace it"
    );
    assert_eq!(snapshot(dir), before, "the previous output is intact");

    // Moved away, the next run replaces the output and removes exactly what it had listed.
    fs::remove_file(dir.join("out/scored/tier=low/notes.txt")).unwrap();
    run(dir, &["run", "p.yaml"]).expect_code(0);
    assert_eq!(
        listing(&dir.join("out")),
        [
            "_SUCCESS",
            "_manifest.json",
            "_report.html",
            "rejects",
            "scored"
        ]
    );
    assert_eq!(listing(&dir.join("out/scored")), ["tier=high", "tier=low"]);
    assert_eq!(
        listing(dir),
        ["customers.parquet", "out", "p.yaml"],
        "no lock file left beside the output"
    );
}

#[test]
fn a_planted_lock_symlink_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    write(dir, "victim.txt", "keep");
    std::os::unix::fs::symlink("victim.txt", dir.join(".out.tierscore.lock")).unwrap();
    let before = snapshot(dir);

    let result = run(dir, &["run", "p.yaml"]);
    result.expect_code(3);
    let headline = result.headline();
    assert!(
        headline.starts_with("cannot open the lock file ./.out.tierscore.lock: "),
        "{headline}"
    );
    assert_eq!(snapshot(dir), before);
    assert!(!dir.join("out").exists());
}

#[test]
fn a_planted_staging_symlink_is_removed_without_following_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    write(dir, "precious/data.csv", "a,b\n");
    std::os::unix::fs::symlink("precious", dir.join(".out.tierscore-staging-old")).unwrap();

    run(dir, &["run", "p.yaml"]).expect_code(0);
    assert_eq!(
        fs::read_to_string(dir.join("precious/data.csv")).unwrap(),
        "a,b\n"
    );
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
    assert_eq!(manifest(&dir.join("out"))["rows"]["input"], 200);
}

/// A leftover staging folder that cannot be removed (here a file in it made immutable with
/// `chattr +i`, which stops even root; another user's folder or a read-only one does the same
/// for others) is reported and left: it does not stop the run, which commits.
#[test]
fn an_undeletable_leftover_staging_folder_does_not_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    plain(dir);
    let leftover = dir.join(".out.tierscore-staging-20261201T000000Z-dead0001");
    write(&leftover, "scored/part-00000.parquet", "half written");
    let stuck = leftover.join("scored/part-00000.parquet");
    let chattr = |flag: &str| {
        let status = std::process::Command::new("chattr")
            .arg(flag)
            .arg(&stuck)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "chattr {flag} failed: this test needs a file system with attributes (ext4)"
        );
    };
    chattr("+i");
    let result = run(dir, &["run", "p.yaml"]);
    chattr("-i");
    result.expect_code(0);
    assert!(
        result
            .stderr
            .contains("cannot remove a staging folder left by an earlier run"),
        "{}",
        result.stderr
    );
    assert_eq!(manifest(&dir.join("out"))["rows"]["input"], 200);
    assert_eq!(fs::read_to_string(&stuck).unwrap(), "half written");
}
