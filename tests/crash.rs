//! The crash harness: `tierscore run` killed with SIGKILL at 20+ points spread over a real run
//! leaves its output either exactly as it was before or exactly the new output, never a mix,
//! and the next run succeeds and clears what the killed one left.
//!
//! Most kill points are exact: the binary pauses where `TIERSCORE_TEST_PAUSE` says (see
//! `tierscore::test_pause`): with the lock taken, with the staging folder made, after each
//! batch and each batch's rejects are written, with every file closed, with the manifest, the
//! report and `_SUCCESS` staged, with everything synced just before the swap, after the swap,
//! and after the previous output is removed. The test waits for the pause and kills, so where
//! the kill lands does not depend on how loaded the machine is. A few more kills land at times
//! spread over the run's measured duration, wherever in the code that is.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;
use sha2::{Digest, Sha256};

/// Input rows of the killed run: three batches of the reader (32,768 rows each, the last short).
const ROWS: u64 = 80_000;
/// Input batches of the killed run; each writes its scored rows and its rejects.
const BATCHES: u64 = 3;

/// `old.yaml` writes `scores` from 300 rows; `new.yaml` writes it from [`ROWS`] rows, rejecting
/// the customers with more than 20 orders (every batch has some), with a report.
fn setup(dir: &Path) {
    gen(dir, "small.parquet", 300, 4, 300);
    gen(dir, "big.parquet", ROWS, 8, 25_000);
    let pipeline = |name: &str, input: &str, report: bool| {
        format!(
            r#"version: 1
name: {name}
input: {{ path: {input}, id: customer_id }}
factors:
  - {{ name: value, script: value.rhai, weight: 1.0 }}
tiers:
  levels:
    - {{ name: high, min: 8 }}
    - {{ name: low }}
output: {{ path: scores, columns: [region], report: {report} }}
errors: {{ max_reject_fraction: 1.0 }}
"#
        )
    };
    write(dir, "old.yaml", &pipeline("old", "small.parquet", false));
    write(dir, "new.yaml", &pipeline("new", "big.parquet", true));
    write(
        dir,
        "value.rhai",
        "// rejects customers with many orders\nif orders_12m > 20 { throw \"too many orders\" }\norders_12m * 1.0\n",
    );
}

/// `tierscore run new.yaml` on two threads (the writer on a thread of its own), pausing at
/// `pause` if given; stderr is piped.
fn spawn_new(dir: &Path, pause: Option<&str>) -> KillOnDrop {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tierscore"));
    cmd.args(["--quiet", "run", "new.yaml", "--threads", "2"])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("TIERSCORE_TEST_FAULT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match pause {
        Some(point) => cmd.env("TIERSCORE_TEST_PAUSE", point),
        None => cmd.env_remove("TIERSCORE_TEST_PAUSE"),
    };
    KillOnDrop(cmd.spawn().expect("start tierscore"))
}

/// Every file below `dir`, relative, `/`-separated.
fn files(dir: &Path) -> BTreeSet<String> {
    snapshot(dir).into_keys().collect()
}

/// Panics unless `target` is a complete output: `_SUCCESS`, a manifest listing every file
/// there with its size and sha256, and nothing else; its scored data equal to `reference`'s
/// (a complete run of the same pipeline).
fn assert_complete_new(target: &Path, reference: &Path, when: &str) {
    let m = manifest(target);
    let mut listed: BTreeSet<String> = ["_manifest.json", "_SUCCESS", "_report.html"]
        .map(String::from)
        .into();
    let rejects = &m["output"]["rejects"];
    for file in m["output"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .chain([rejects])
    {
        let path = file["path"].as_str().unwrap();
        let bytes = fs::read(target.join(path))
            .unwrap_or_else(|e| panic!("{when}: {path} listed but unreadable: {e}"));
        assert_eq!(bytes.len() as u64, file["bytes"], "{when}: size of {path}");
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            file["sha256"].as_str().unwrap(),
            "{when}: sha256 of {path}"
        );
        listed.insert(path.to_string());
    }
    assert_eq!(files(target), listed, "{when}: files of the new output");
    assert_eq!(m["rows"], manifest(reference)["rows"], "{when}: row counts");
    let data = |out: &Path| {
        let mut data = output_data(out);
        data.retain(|name, _| name.starts_with("scored/"));
        data
    };
    assert_eq!(data(target), data(reference), "{when}: scored rows");
}

/// After a kill at `when`: the output is the old one byte for byte or a complete new one.
/// Then a run of `old.yaml` succeeds and leaves no staging folder or lock file; returns the
/// snapshot of the output it committed (the "old" output of the next trial).
fn check_and_restore(
    dir: &Path,
    before: &std::collections::BTreeMap<String, Vec<u8>>,
    when: &str,
    outcomes: &mut Vec<(String, &'static str)>,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    let target = dir.join("scores");
    let now = snapshot(&target);
    let outcome = if &now == before {
        "old"
    } else {
        assert_complete_new(&target, &dir.join("reference"), when);
        "new"
    };
    outcomes.push((when.to_string(), outcome));

    let result = run(dir, &["--quiet", "run", "old.yaml"]);
    result.expect_code(0);
    assert_eq!(staging_dirs(dir), Vec::<String>::new(), "{when}: leftovers");
    assert!(
        !dir.join(".scores.tierscore.lock").exists(),
        "{when}: lock file left"
    );
    assert_eq!(manifest(&target)["rows"]["input"], 300, "{when}: next run");
    snapshot(&target)
}

#[test]
fn a_run_killed_at_any_point_leaves_the_old_output_or_the_new_never_a_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);

    // The complete new output, and how long a whole run takes.
    let started = Instant::now();
    run(
        dir,
        &["--quiet", "run", "new.yaml", "--output", "reference"],
    )
    .expect_code(0);
    let duration = started.elapsed();
    let reference = manifest(&dir.join("reference"));
    assert!(reference["rows"]["rejected"].as_u64().unwrap() > 0);
    assert!(reference["rows"]["scored"].as_u64().unwrap() > 0);

    run(dir, &["--quiet", "run", "old.yaml"]).expect_code(0);
    let mut before = snapshot(&dir.join("scores"));
    let mut outcomes = Vec::new();

    // Exact points: every message the writer writes (each batch's rejects, then its rows).
    let mut points = vec!["locked".to_string(), "staged".to_string()];
    points.extend((1..=2 * BATCHES).map(|n| format!("written:{n}")));
    points.extend(
        [
            "closed", "manifest", "report", "success", "synced", "swapped", "cleaned",
        ]
        .map(String::from),
    );
    for point in &points {
        kill_at_pause(spawn_new(dir, Some(point)), point);
        before = check_and_restore(dir, &before, point, &mut outcomes);
    }

    // Times spread over a whole run, wherever in the code they fall.
    for eighth in 1..=7u32 {
        let mut child = spawn_new(dir, None);
        std::thread::sleep(duration * eighth / 8);
        let when = format!("{eighth}/8 of the run's time");
        // It may finish first (the machine less loaded than when measured), even between the
        // look and the kill: then it is a whole run.
        child.0.kill().ok();
        let status = child.0.wait().expect("wait for the run");
        assert!(
            status.signal() == Some(9) || status.success(),
            "{when}: ended by {status:?}, neither killed nor committed"
        );
        before = check_and_restore(dir, &before, &when, &mut outcomes);
    }

    assert!(outcomes.len() >= 20, "{} kill points", outcomes.len());
    // Up to the swap the old output stays; from the swap on the new one is there, whole.
    let exact: Vec<(&str, &str)> = outcomes
        .iter()
        .take(points.len())
        .map(|(when, outcome)| (when.as_str(), *outcome))
        .collect();
    let expected: Vec<(&str, &str)> = points
        .iter()
        .map(|p| {
            let new = p == "swapped" || p == "cleaned";
            (p.as_str(), if new { "new" } else { "old" })
        })
        .collect();
    assert_eq!(exact, expected);
}
