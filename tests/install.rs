//! What installing gives: `tierscore --version` names the commit it was built from.

mod common;

use common::*;

#[test]
fn version_names_the_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let result = run(tmp.path(), &["--version"]);
    result.expect_code(0);
    let line = result.stdout.trim_end();
    let prefix = format!("tierscore {} (", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&prefix) && line.ends_with(')'), "{line}");
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string());
    match commit {
        // A checkout: the binary was built from HEAD (a new commit rebuilds it).
        Some(hash) => assert!(line.contains(&format!("({hash} ")), "{line} is not {hash}"),
        None => assert!(line.ends_with("(unknown commit)"), "{line}"),
    }
}
