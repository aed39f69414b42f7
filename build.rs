//! Records the commit the binary is built from, for `tierscore --version` and the manifest:
//! `TIERSCORE_COMMIT` is `git rev-parse --short=12 HEAD` and the commit's date, or `unknown
//! commit` when the source is not a git checkout (a crate download, a tarball) or git is absent.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = match (
        git(&["rev-parse", "--short=12", "HEAD"]),
        git(&["log", "-1", "--format=%cs"]),
    ) {
        (Some(hash), Some(date)) => format!("{hash} {date}"),
        (Some(hash), None) => hash,
        _ => "unknown commit".to_string(),
    };
    // A new commit or checkout moves HEAD (and appends to its log): build again then.
    for path in ["HEAD", "logs/HEAD"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    println!("cargo:rustc-env=TIERSCORE_COMMIT={commit}");
}
