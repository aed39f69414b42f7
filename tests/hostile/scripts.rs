//! Scripts that would panic the run or fail every row are caught by `check`, at compile time,
//! with the position and a fix; `run` refuses them the same way (exit 1) before reading a row.

use crate::common::*;
use crate::pipeline;

#[test]
fn assigning_to_params_is_a_check_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline(dir, "script: bump.rhai", "{ p: 1 }", "{}");
    write(
        dir,
        "bump.rhai",
        "// bumps a param\nparams.p += 1;\norders_12m * 1.0\n",
    );
    let before = snapshot(dir);

    for command in ["check", "run", "test", "explain"] {
        let mut args = vec![command, "p.yaml"];
        if command == "explain" {
            args.extend(["--id", "C00000001"]);
        }
        let result = run(dir, &args);
        result.expect_code(1);
        assert!(
            result
                .stderr
                .contains("cannot assign to `params`: `params` is read-only"),
            "{command}: {}",
            result.stderr
        );
        assert!(result.stderr.contains("bump.rhai:2:1"), "{}", result.stderr);
    }
    assert_eq!(snapshot(dir), before, "nothing written");
}

#[test]
fn assigning_to_a_column_is_a_check_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline(dir, r#"expr: "orders_12m = 0; 1.0""#, "{}", "{}");
    let result = run(dir, &["check", "p.yaml"]);
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        "factors[0].expr: cannot assign to `orders_12m`: columns and factors are read-only (at \
         1:1 of the expression)"
    );
    assert_eq!(
        result.help(),
        "copy it into a variable of your own first: `let x = orders_12m; …`"
    );
}

#[test]
fn an_unknown_function_is_a_check_error_with_did_you_mean() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline(dir, "script: s.rhai", "{}", "{}");
    write(dir, "s.rhai", "// scaled orders\nscal(orders_12m, 0, 20)\n");
    let result = run(dir, &["check", "p.yaml"]);
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        "`scal` is not a function: no helper, rhai function or function of this script has that \
         name"
    );
    assert_eq!(result.help(), "did you mean `scale`?");
    assert_eq!(snippet_location(&result.stderr), "s.rhai:2:1");
}

#[test]
fn an_import_outside_the_rules_folder_is_a_check_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline(dir, "script: rules/s.rhai", "{}", "{}");
    write(dir, "secret.rhai", "export const BONUS = 99;");
    write(
        dir,
        "rules/s.rhai",
        "import \"../secret\" as s;\norders_12m + s::BONUS\n",
    );
    let result = run(dir, &["check", "p.yaml"]);
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        "import \"../secret\" cannot be loaded: imports resolve to .rhai files inside the \
         folders of the pipeline's scripts only; rules/../secret.rhai is not one"
    );
    assert_eq!(
        result.help(),
        "fix what the message names; an import names a .rhai file, without the extension, \
         beside the file importing it and inside the folder of the pipeline's scripts"
    );
    assert_eq!(snippet_location(&result.stderr), "rules/s.rhai:1:1");
}

#[test]
fn a_misspelt_key_does_not_hide_a_broken_script() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    pipeline(dir, "script: s.rhai", "{}", "{}");
    write(dir, "s.rhai", "// scaled orders\nscal(orders_12m, 0, 20)\n");
    let yaml = std::fs::read_to_string(dir.join("p.yaml")).unwrap();
    write(
        dir,
        "p.yaml",
        &yaml.replace("weight: 1.0", "wieght: 1.0, weight: 1.0"),
    );
    let result = run(dir, &["check", "p.yaml", "--format", "json"]);
    result.expect_code(1);
    let report: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    let found: Vec<(String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_string(),
                format!("{}:{}", p["file"].as_str().unwrap(), p["line"]),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("pipeline::unknown_key".to_string(), "p.yaml:6".to_string()),
            (
                "rules::unknown_function".to_string(),
                "s.rhai:2".to_string()
            ),
        ]
    );
}

/// A tier script's folder is one imports may resolve into, like a factor's: a pipeline whose
/// factors are inline and whose tier script imports a module beside it was told it had no
/// script files to import from.
#[test]
fn a_tier_script_may_import_beside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200, 3, 200);
    write(dir, "rules/names.rhai", "export const TOP = \"top\";\n");
    write(
        dir,
        "rules/segment.rhai",
        "import \"names\" as n;\nif score > 5.0 { n::TOP } else { \"rest\" }\n",
    );
    write(
        dir,
        "p.yaml",
        "version: 1\nname: p\ninput: { path: customers.parquet, id: customer_id }\n\
         factors:\n  - { name: value, expr: \"orders_12m * 1.0\", weight: 1.0 }\n\
         tiers:\n  script: rules/segment.rhai\n  levels:\n    - { name: top }\n    - { name: rest }\n\
         output: { path: out }\n",
    );
    run(dir, &["check", "p.yaml"]).expect_code(0);
    run(dir, &["run", "p.yaml"]).expect_code(0);
    let tiers: Vec<String> = std::fs::read_dir(dir.join("out/scored"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(tiers, ["tier=rest", "tier=top"]);
}
