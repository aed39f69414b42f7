//! Loading in linear time, or a clear limit error: a pipeline file nesting `[` 100,000 levels
//! deep is refused before it is parsed, naming the limit and where it is crossed; 50,000 params
//! are checked, and each unused one warned about, in linear time.

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

#[test]
fn fifty_thousand_params_are_checked_and_warned_in_linear_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200, 3, 200);
    let params: String = (0..50_000).map(|i| format!("  p{i}: {i}\n")).collect();
    write(
        dir,
        "many.yaml",
        &format!(
            "version: 1\nname: many\ninput: {{ path: customers.parquet, id: customer_id }}\n\
             params:\n{params}factors:\n  - {{ name: value, expr: \"orders_12m * 1.0\", weight: 1.0 }}\n\
             tiers:\n  levels:\n    - {{ name: all }}\noutput: {{ path: out }}\n"
        ),
    );
    let started = Instant::now();
    let result = run(dir, &["check", "many.yaml"]);
    let took = started.elapsed();
    result.expect_code(0);
    assert!(
        result
            .stdout
            .contains("check ok: many.yaml: 0 error(s), 50000 warning(s)"),
        "{}",
        result.stdout
    );
    // Every warning is there: the first 20 of the code drawn with their line, the rest a line
    // each naming file, line and column (param `pN` is on line N + 5).
    assert_eq!(result.stderr.matches("╰── here").count(), 20);
    let line = |i: usize| {
        format!(
            "many.yaml:{}:3: warning plan::unused_param: param `p{i}` is not used by any rule\n",
            i + 5
        )
    };
    assert!(!result.stderr.contains(&line(19)), "drawn, not one line");
    for i in [20, 21, 49_999] {
        assert!(result.stderr.contains(&line(i)), "{}", line(i));
    }
    // Quadratic before (each warning's position and drawing scanned the file from its start):
    // 20,000 params took 204 s in a debug build; now about a second for 50,000.
    assert!(took.as_secs() < 60, "check took {took:?}");
}

#[test]
fn a_rule_with_thousands_of_lets_is_refused_before_compiling_naming_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200, 3, 200);
    let lets = |n: usize| -> String {
        (0..n)
            .map(|i| format!("let v{i} = orders_12m * {i}.0;\n"))
            .collect::<String>()
            + format!("v{}\n", n - 1).as_str()
    };
    write(dir, "many.rhai", &lets(20_000));
    write(dir, "some.rhai", &lets(1_000));
    for (rule, code) in [("many", 1), ("some", 0)] {
        write(
            dir,
            &format!("{rule}.yaml"),
            &format!(
                "version: 1\nname: {rule}\ninput: {{ path: customers.parquet, id: customer_id }}\n\
                 factors:\n  - {{ name: value, script: {rule}.rhai, weight: 1.0 }}\n\
                 tiers:\n  levels:\n    - {{ name: all }}\noutput: {{ path: out }}\n"
            ),
        );
        let result = run(dir, &["check", &format!("{rule}.yaml")]);
        result.expect_code(code);
        if code == 1 {
            assert_eq!(
                result.headline(),
                "the rule declares more than 1,000 variables; this is the next"
            );
            assert!(result.stderr.contains("rules::too_many_lets"));
            // The 1,001st `let`, on line 1,001.
            assert!(
                result.stderr.contains("many.rhai:1001:1"),
                "{}",
                result.stderr
            );
        }
    }
}

/// rhai compiles functions, like variables, in time with the square of their number (20,000
/// took 45 s in a debug build, a module with 20,000 `let`s 11 s): a rule may define at most
/// 1,000 functions (`rules::too_many_functions`, at the 1,001st), and a module it imports is
/// held to both limits before its first compile (`rules::import`, naming the module's line).
#[test]
fn thousands_of_functions_or_of_lets_in_a_module_are_refused_quickly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200, 3, 200);
    let functions = |n: usize| -> String {
        (0..n)
            .map(|i| format!("fn f{i}(x) {{ x * {i}.0 }}\n"))
            .collect()
    };
    let lets = |n: usize| -> String {
        (0..n)
            .map(|i| format!("let v{i} = {i};\n"))
            .collect::<String>()
            + "export const BONUS = 1.0;\n"
    };
    write(
        dir,
        "many_fns.rhai",
        &(functions(20_000) + "orders_12m * 1.0\n"),
    );
    write(dir, "fns_module.rhai", &functions(20_000));
    write(dir, "lets_module.rhai", &lets(20_000));
    write(
        dir,
        "some_fns.rhai",
        &(functions(1_000) + "f999(orders_12m)\n"),
    );
    write(
        dir,
        "imports_fns.rhai",
        "import \"fns_module\" as m;\norders_12m * 1.0\n",
    );
    write(
        dir,
        "imports_lets.rhai",
        "import \"lets_module\" as m;\norders_12m * m::BONUS\n",
    );
    let cases = [
        ("many_fns", 1, "the rule defines more than 1,000 functions; this is the next", "many_fns.rhai:1001:1"),
        ("imports_fns", 1, "import \"fns_module\" cannot be loaded: Syntax error: Number of functions defined exceeds maximum limit (line 1001, position 1)", "rules::import"),
        ("imports_lets", 1, "declares more than 1,000 variables (`let`, `const`), the most a module may; the next is at line 1001", "rules::import"),
        ("some_fns", 0, "", ""),
    ];
    for (rule, code, headline, located) in cases {
        write(
            dir,
            &format!("{rule}.yaml"),
            &format!(
                "version: 1\nname: {rule}\ninput: {{ path: customers.parquet, id: customer_id }}\n\
                 factors:\n  - {{ name: value, script: {rule}.rhai, weight: 1.0 }}\n\
                 tiers:\n  levels:\n    - {{ name: all }}\noutput: {{ path: out }}\n"
            ),
        );
        let started = Instant::now();
        let result = run(dir, &["check", &format!("{rule}.yaml")]);
        let took = started.elapsed();
        result.expect_code(code);
        if code == 1 {
            assert!(
                result.headline().contains(headline),
                "{rule}: {}",
                result.stderr
            );
        }
        assert!(result.stderr.contains(located), "{rule}: {}", result.stderr);
        assert!(took.as_secs() < 10, "{rule}: check took {took:?}");
    }
}
