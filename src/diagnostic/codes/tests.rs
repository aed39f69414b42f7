use std::collections::BTreeSet;
use std::path::Path;

use super::*;

/// Every `.rs` file under `src/`, without its inline test module (tests spell codes as
/// literals on purpose: they check what a user sees).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = match text.find("#[cfg(test)]\nmod tests {") {
                    Some(at) => text[..at].to_string(),
                    None => text,
                };
                out.push((path.display().to_string(), code));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

/// The codes error types name in `#[diagnostic(code(..))]`.
fn attribute_codes(sources: &[(String, String)]) -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    for (_, text) in sources {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("code(") {
            rest = &rest[at + "code(".len()..];
            let end = rest.find(')').unwrap();
            let code = &rest[..end];
            if !code.is_empty()
                && code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == ':')
            {
                codes.insert(code.to_string());
            }
        }
    }
    codes
}

#[test]
fn codes_are_unique_and_exit_with_a_documented_status() {
    let mut seen = BTreeSet::new();
    for entry in CATALOG {
        assert!(seen.insert(entry.code), "{} listed twice", entry.code);
        assert!((1..=4).contains(&entry.exit), "{}", entry.code);
    }
}

#[test]
fn every_code_error_types_name_is_in_the_catalog() {
    let sources = sources();
    let listed: BTreeSet<&str> = CATALOG.iter().map(|e| e.code).collect();
    let named = attribute_codes(&sources);
    let missing: Vec<&String> = named
        .iter()
        .filter(|c| !listed.contains(c.as_str()))
        .collect();
    assert!(missing.is_empty(), "add to codes.rs: {missing:?}");
}

#[test]
fn located_problems_name_their_code_through_the_constants() {
    let stages = ["\"pipeline::", "\"plan::", "\"rules::", "\"check::"];
    for (path, text) in sources() {
        if path.ends_with("codes.rs") {
            continue;
        }
        for stage in stages {
            assert!(
                !text.contains(stage),
                "{path} spells a {stage}…\" code; use crate::diagnostic::codes"
            );
        }
    }
}

#[test]
fn every_code_in_the_catalog_is_used() {
    let sources = sources();
    let named = attribute_codes(&sources);
    let text: String = sources
        .iter()
        .filter(|(path, _)| !path.ends_with("codes.rs"))
        .map(|(_, text)| text.as_str())
        .collect();
    let stage = |code: &str| code.split("::").next().unwrap().to_string();
    for entry in CATALOG {
        if named.contains(entry.code) {
            continue;
        }
        // A constant is used as `codes::STAGE::NAME`; find its name from the declaration.
        let declaration = include_str!("../codes.rs")
            .lines()
            .find(|line| line.contains(&format!("= \"{}\"", entry.code)))
            .unwrap();
        let name = declaration.trim().split(' ').next().unwrap();
        let module = stage(entry.code);
        assert!(
            text.contains(&format!("codes::{module}::{name}")),
            "{} is in the catalog but nothing reports it",
            entry.code
        );
    }
}

#[test]
fn the_exit_codes_page_lists_every_code() {
    let mut table = String::from("| code | exit | meaning |\n|---|---|---|\n");
    for entry in CATALOG {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            entry.code, entry.exit, entry.meaning
        ));
    }
    let page = include_str!("../../../docs/exit-codes.md");
    let start = page
        .find("<!-- codes:start -->\n")
        .expect("docs/exit-codes.md marker")
        + 21;
    let end = page
        .find("<!-- codes:end -->")
        .expect("docs/exit-codes.md marker");
    assert!(
        page[start..end] == table,
        "docs/exit-codes.md's code table is out of date; it must read:\n{table}"
    );
}
