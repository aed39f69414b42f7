//! Loading in linear time, or a clear limit error: a pipeline file nesting `[` 100,000 levels
//! deep is refused before it is parsed, naming the limit and where it is crossed.

use std::time::Instant;

use crate::common::*;

#[test]
fn deep_yaml_nesting_is_refused_quickly_naming_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let depth = 100_000;
    write(
        dir,
        "deep.yaml",
        &format!(
            "version: 1\nname: p\nparams:\n  x: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    );
    for command in ["check", "run"] {
        let started = Instant::now();
        let result = run(dir, &[command, "deep.yaml"]);
        let took = started.elapsed();
        result.expect_code(1);
        assert_eq!(
            result.headline(),
            "the pipeline nests deeper than 128 levels here, the most a pipeline file may"
        );
        assert!(
            result.stderr.contains("pipeline::nesting"),
            "{}",
            result.stderr
        );
        // The column where the 129th `[` opens: line 4 is `  x: [[[…`.
        assert!(
            result.stderr.contains("deep.yaml:4:134"),
            "{}",
            &result.stderr[..result.stderr.len().min(400)]
        );
        // Before, this took minutes (libyaml's flow nesting is quadratic); refused, it is
        // one pass over 200 KB.
        assert!(took.as_secs() < 20, "{command} took {took:?}");
    }
}
