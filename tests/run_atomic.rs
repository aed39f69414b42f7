//! The commit is atomic and never touches foreign data: a run failing on too many rejects, a
//! run killed midway and a run refused by the lock all leave the previous output byte for byte
//! as it was; a target that is not a tierscore output is refused untouched; leftovers of a
//! killed run are cleared by the next one.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `good.yaml` scores every row; `strict.yaml` rejects rows with `orders_12m > 10` and allows
/// 1% rejects. Both read `customers.parquet` and write `scores`.
fn write_pipelines(dir: &Path) {
    let pipeline = |name: &str, rule: &str, errors: &str| {
        format!(
            r#"version: 1
name: {name}
input: {{ path: customers.parquet, id: customer_id }}
factors:
  - {{ name: value, {rule}, weight: 1.0 }}
tiers:
  levels:
    - {{ name: high, min: 8 }}
    - {{ name: low }}
output: {{ path: scores, columns: [region] }}
errors: {errors}
"#
        )
    };
    write(
        dir,
        "good.yaml",
        &pipeline("good", r#"expr: "orders_12m * 1.0""#, "{}"),
    );
    write(
        dir,
        "strict.yaml",
        &pipeline(
            "strict",
            "script: check.rhai",
            "{ max_reject_fraction: 0.01 }",
        ),
    );
    write(
        dir,
        "check.rhai",
        "// rejects customers with too many orders\nif orders_12m > 10 { throw \"too many\" }\norders_12m * 1.0\n",
    );
}

fn failing_rows(dir: &Path) -> Vec<usize> {
    let orders = ints(&read_parquet(&dir.join("customers.parquet")), "orders_12m");
    (0..orders.len()).filter(|&i| orders[i] > 10).collect()
}

#[test]
fn too_many_rejects_fail_the_run_and_leave_the_previous_output_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 2000, 4, 2000);
    write_pipelines(dir);
    let failing = failing_rows(dir);
    assert!(failing.len() > 20, "more than 1% of 2000 rows fail");

    run(dir, &["run", "good.yaml"]).expect_code(0);
    let target = dir.join("scores");
    let before = snapshot(&target);
    assert!(before.contains_key("_SUCCESS"));
    let beside = listing(dir);

    let result = run(dir, &["run", "strict.yaml"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        format!(
            "{} of 2,000 input rows rejected, more than errors.max_reject_fraction 0.01 allows \
             (20); nothing was committed",
            tierscore::human::count(failing.len() as u64)
        )
    );
    let help = result.help();
    assert!(help.starts_with("first rejected rows: "), "{help}");
    assert!(
        help.contains(&format!(
            "customers.parquet row {} (step value): check.rhai:2:22: Runtime error: too many",
            failing[0]
        )),
        "{help}"
    );
    assert!(help.ends_with("fix the rule or the data, or raise errors.max_reject_fraction"));

    assert_eq!(snapshot(&target), before, "the previous output changed");
    assert_eq!(listing(dir), beside, "a staging folder was left behind");
}

#[test]
fn too_many_rejects_stop_the_run_before_reading_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Several batches' worth of rows (a batch is 32,768), so stopping early is visible.
    gen(dir, "customers.parquet", 100_000, 4, 20_000);
    write_pipelines(dir);
    let failing = failing_rows(dir).len();

    let result = run(dir, &["run", "strict.yaml"]);
    result.expect_code(3);
    let headline = result.headline();
    let (count, rest) = headline.split_once(' ').unwrap();
    let count: usize = count.replace(',', "").parse().unwrap();
    assert_eq!(
        rest,
        "of 100,000 input rows rejected so far, more than errors.max_reject_fraction 0.01 allows \
         (1,000); nothing was committed"
    );
    assert!(
        count > 1000 && count < failing,
        "stopped after {count} of {failing} failing rows"
    );
    assert!(!dir.join("scores").exists());
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
}

#[test]
fn a_target_that_is_not_a_tierscore_output_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 100, 4, 100);
    write_pipelines(dir);
    write(dir, "theirs/data.csv", "a,b\n1,2\n");
    write(dir, "theirs/sub/notes.txt", "keep me");
    write(dir, "report.csv", "x,y\n");
    write(dir, "other/_manifest.json", r#"{"tool": "sometool"}"#);
    let theirs = snapshot(dir);
    let beside = listing(dir);

    for (target, reason) in [
        ("theirs", "it has no _manifest.json"),
        ("report.csv", "it is not a directory"),
        ("other", "its _manifest.json was not written by tierscore"),
    ] {
        let result = run(dir, &["run", "good.yaml", "--output", target]);
        result.expect_code(3);
        assert_eq!(
            result.headline(),
            format!(
                "output {target} exists and is not a tierscore output ({reason}); refusing to \
                 replace it"
            )
        );
        assert_eq!(
            result.help(),
            "a tierscore output holds a _manifest.json written by tierscore and only the files \
             it lists; choose another output.path (or --output), or move that data away yourself"
        );
        assert_eq!(snapshot(dir), theirs, "{target}: files changed");
        assert_eq!(listing(dir), beside, "{target}: files added");
    }

    // An empty folder is fair game.
    fs::create_dir(dir.join("empty")).unwrap();
    run(dir, &["run", "good.yaml", "--output", "empty"]).expect_code(0);
    assert_eq!(manifest(&dir.join("empty"))["rows"]["input"], 100);
}

/// Kills the child if the test ends early, so no run outlives its test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_run_killed_midway_leaves_the_previous_output_and_the_next_run_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 300, 4, 300);
    gen(dir, "big.parquet", 50_000, 8, 10_000);
    write_pipelines(dir);
    write(
        dir,
        "slow.yaml",
        &fs::read_to_string(dir.join("good.yaml"))
            .unwrap()
            .replace("customers.parquet", "big.parquet")
            .replace(r#"expr: "orders_12m * 1.0""#, "script: burn.rhai"),
    );
    write(
        dir,
        "burn.rhai",
        "// burns operations on every row\nlet s = 0;\nfor i in 0..20000 { s += i % 7; }\ns * 0.0 + orders_12m\n",
    );

    run(dir, &["run", "good.yaml"]).expect_code(0);
    let target = dir.join("scores");
    let before = snapshot(&target);
    let run_id = manifest(&target)["run_id"].clone();

    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tierscore"))
        .args(["--quiet", "run", "slow.yaml"])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let started = Instant::now();
    let staging = loop {
        if let Some(name) = staging_dirs(dir).pop() {
            break dir.join(name);
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the slow run ended before it staged anything"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no staging folder"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(staging
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with(".scores.tierscore-staging-"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the slow run is still scoring"
    );

    // While it holds the lock, a second run on the same target is refused with the exit code
    // that means "locked, retry later".
    let refused = run(dir, &["run", "good.yaml"]);
    refused.expect_code(4);
    assert_eq!(
        refused.headline(),
        "another tierscore command is writing scores"
    );
    assert_eq!(snapshot(&target), before);

    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL");

    assert_eq!(
        snapshot(&target),
        before,
        "the killed run changed the output"
    );
    assert!(
        staging.is_dir(),
        "a killed run cannot clean up after itself"
    );

    let result = run(dir, &["run", "good.yaml"]);
    result.expect_code(0);
    assert_eq!(staging_dirs(dir), Vec::<String>::new(), "leftovers cleared");
    // The killed run's lock file too: the next run took it over and removed it when done.
    assert_eq!(
        listing(dir),
        [
            "big.parquet",
            "burn.rhai",
            "check.rhai",
            "customers.parquet",
            "good.yaml",
            "scores",
            "slow.yaml",
            "strict.yaml"
        ]
    );
    let m = manifest(&target);
    assert_ne!(m["run_id"], run_id);
    assert_eq!(m["rows"]["input"], 300);
}

/// Runs `good.yaml` over 40,000 rows, then over 41,000 with the test-only `fault` on 1 and 2
/// threads: each must fail with exit 3 and `headline` (the message) and `help`, leave the
/// previous output byte for byte and no staging folder. Without the fault the next run commits.
fn a_fault_leaves_the_previous_output(fault: &str, headline: &str, help: Option<&str>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 40_000, 4, 10_000);
    write_pipelines(dir);
    run(dir, &["run", "good.yaml"]).expect_code(0);
    let target = dir.join("scores");
    let before = snapshot(&target);
    let beside = listing(dir);
    let run_id = manifest(&target)["run_id"].clone();
    gen(dir, "customers.parquet", 41_000, 5, 10_000);

    for threads in ["1", "2"] {
        let result = run_with_fault(
            dir,
            Some(fault),
            &["run", "good.yaml", "--threads", threads],
        );
        result.expect_code(3);
        assert_eq!(result.headline(), headline);
        if let Some(help) = help {
            assert_eq!(result.help(), help);
        }
        assert_eq!(snapshot(&target), before, "the previous output changed");
        assert_eq!(listing(dir), beside, "a staging folder was left behind");
    }

    // The hook is inert unless set: the same run commits.
    run(dir, &["run", "good.yaml"]).expect_code(0);
    let m = manifest(&target);
    assert_ne!(m["run_id"], run_id);
    assert_eq!(m["rows"]["input"], 41_000);
}

/// "Or nothing is committed": when the rows written do not add up to the rows read (no correct
/// run does this, so the test-only fault `drop_row` makes the run miscount one row), the run
/// fails before the commit and the previous output stays byte for byte.
#[test]
fn rows_that_do_not_add_up_are_never_committed() {
    a_fault_leaves_the_previous_output(
        "drop_row",
        "rows in (41,000) != rows scored (40,999) + rows rejected (0); nothing was committed",
        Some(
            "this is a tierscore bug; please report it with the pipeline and the manifest of \
             the last good run",
        ),
    );
}

/// A run that fails after every file, the manifest and `_SUCCESS` are written, just before the
/// swap (the test-only fault `fail_before_swap`), leaves the previous output as it was and no
/// staging folder; the next run replaces it.
#[test]
fn a_run_failing_after_its_files_are_written_leaves_the_previous_output() {
    a_fault_leaves_the_previous_output(
        "fail_before_swap",
        "cannot swap into place scores: TIERSCORE_TEST_FAULT=fail_before_swap",
        None,
    );
}
