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
        // The column where the 256th `[` opens, where YAML's tokenizer stops (it holds the
        // brackets back while each may start a key): line 4 is `  x: [[[…`.
        assert!(
            result.stderr.contains("deep.yaml:4:261"),
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
        one_script_pipeline(dir, rule);
        let result = run(dir, &["check", &format!("{rule}.yaml")]);
        result.expect_code(code);
        if code == 1 {
            assert_eq!(
                result.headline(),
                "the rule has more than 1,000 variables (`let`, `const`); this is the next"
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

/// rhai compiles functions, `switch` cases and parameters, like variables, in time with the
/// square of their number (a debug build: 20,000 functions 45 s, a module of 20,000 `let`s
/// 11 s, 20,000 cases 22 s, one function of 20,000 parameters 7 s). A rule may have at most
/// 1,000 functions, 1,000 cases and 64 parameters a function, each refused at the next with
/// its own code; a module it imports is held to the same limits before it compiles
/// (`rules::import`, naming the module's file and line). Modules that import each other
/// overflowed the stack (exit 134) before: now `check` refuses them, and a run whose import
/// path is computed, so `check` cannot load it, rejects the rows.
#[test]
fn too_many_functions_cases_or_parameters_and_circular_imports_are_refused_quickly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200, 3, 200);
    let functions = |n: usize| -> String {
        (0..n)
            .map(|i| format!("fn f{i}(x) {{ x * {i}.0 }}\n"))
            .collect()
    };
    let cases: String = (0..20_000).map(|i| format!("{i} => {i}.0,\n")).collect();
    let params: Vec<String> = (0..20_000).map(|i| format!("p{i}")).collect();
    let lets: String = (0..20_000).map(|i| format!("let v{i} = {i};\n")).collect();
    write(
        dir,
        "many_fns.rhai",
        &(functions(20_000) + "orders_12m * 1.0\n"),
    );
    write(
        dir,
        "many_cases.rhai",
        &format!("switch orders_12m {{\n{cases}_ => 0.0\n}}\n"),
    );
    write(
        dir,
        "many_params.rhai",
        &format!("fn f({}) {{ 1.0 }}\norders_12m * 1.0\n", params.join(",\n")),
    );
    write(dir, "fns_module.rhai", &functions(20_000));
    write(
        dir,
        "lets_module.rhai",
        &(lets + "export const BONUS = 1.0;\n"),
    );
    write(
        dir,
        "a.rhai",
        "import \"b\" as b;\nexport const BONUS = 1.0;\n",
    );
    write(
        dir,
        "b.rhai",
        "import \"a\" as a;\nexport const BONUS = 2.0;\n",
    );
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
    write(
        dir,
        "imports_a.rhai",
        "import \"a\" as a;\norders_12m * a::BONUS\n",
    );
    write(
        dir,
        "import_in_fn.rhai",
        "fn f() { import \"a\" as a; a::BONUS }\norders_12m * f()\n",
    );
    let here = dir.canonicalize().unwrap();
    let cases = [
        ("many_fns", 1, "the rule has more than 1,000 functions; this is the next".to_string(), "rules::too_many_functions", "many_fns.rhai:1001:1"),
        ("many_cases", 1, "the rule has more than 1,000 `switch` cases; this is the next".to_string(), "rules::too_many_cases", "many_cases.rhai:1002:6"),
        ("many_params", 1, "the rule has more than 64 parameters in one function or closure; this is the next".to_string(), "rules::too_many_params", "many_params.rhai:64:"),
        ("imports_fns", 1, format!("import \"fns_module\" cannot be loaded: {}:1001:1: the module has more than 1,000 functions, the most one may (split the functions into modules)", here.join("fns_module.rhai").display()), "rules::import", "imports_fns.rhai:1:1"),
        ("imports_lets", 1, format!("import \"lets_module\" cannot be loaded: {}:1001:1: the module has more than 1,000 variables (`let`, `const`), the most one may (compute a list with a loop, or split the rule into factors)", here.join("lets_module.rhai").display()), "rules::import", "imports_lets.rhai:1:1"),
        ("imports_a", 1, format!("import \"a\" cannot be loaded: {a} imports itself: {a} imports {b} imports {a}; a module cannot import a module that imports it", a = here.join("a.rhai").display(), b = here.join("b.rhai").display()), "rules::import", "imports_a.rhai:1:1"),
        (
            "import_in_fn",
            1,
            "an import inside a function, a closure, a `try` or the value of a `break`; imports \
             go at the top level of a script or module, outside `try`"
                .to_string(),
            "rules::import",
            "import_in_fn.rhai:1:10",
        ),
        ("some_fns", 0, String::new(), "", ""),
    ];
    for (rule, code, headline, error_code, located) in cases {
        one_script_pipeline(dir, rule);
        let started = Instant::now();
        let result = run(dir, &["check", &format!("{rule}.yaml")]);
        let took = started.elapsed();
        result.expect_code(code);
        if code == 1 {
            assert_eq!(result.headline(), headline, "{rule}");
            assert!(
                result.stderr.contains(error_code),
                "{rule}: {}",
                result.stderr
            );
            assert!(result.stderr.contains(located), "{rule}: {}", result.stderr);
        }
        // Each took 7 s or more in a debug build before (see above); about 0.2 s now.
        assert!(took.as_secs() < 5, "{rule}: check took {took:?}");
    }

    // The path computed: `check` cannot load it, each row is rejected naming the cycle, and
    // the run ends as any run over its reject limit does, leaving nothing behind.
    write(
        dir,
        "computed.rhai",
        "let name = \"a\";\nimport name as a;\norders_12m * a::BONUS\n",
    );
    one_script_pipeline(dir, "computed");
    run(dir, &["check", "computed.yaml"]).expect_code(0);
    let result = run(dir, &["run", "computed.yaml"]);
    result.expect_code(3);
    assert_eq!(
        result.headline(),
        "200 of 200 input rows rejected, more than errors.max_reject_fraction 0 allows (0); \
         nothing was committed"
    );
    let help = result.help();
    assert!(
        help.contains("computed.rhai:2:8: import \"a\" cannot be loaded:")
            && help.contains("imports itself"),
        "{help}"
    );
    assert!(!dir.join("out").exists());
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
}

/// `NAME.yaml`: one factor from the script `NAME.rhai`, scoring `customers.parquet` into `out`.
fn one_script_pipeline(dir: &std::path::Path, name: &str) {
    write(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "version: 1\nname: {name}\ninput: {{ path: customers.parquet, id: customer_id }}\n\
             factors:\n  - {{ name: value, script: {name}.rhai, weight: 1.0 }}\n\
             tiers:\n  levels:\n    - {{ name: all }}\noutput: {{ path: out }}\n"
        ),
    );
}

/// Each factor sees the factors before it, so checking a pipeline took time with the square of
/// their number (3,000: 3.1 s, 6,000: 14 s in a debug build). A pipeline may have 1,000; the
/// 1,001st is refused where it is written, and the first 1,000 are still checked.
#[test]
fn more_than_a_thousand_factors_are_refused_quickly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200, 3, 200);
    let factors = |n: usize| -> String {
        (0..n)
            .map(|i| format!("  - {{ name: f{i}, expr: \"orders_12m * {i}.0\", weight: 1.0 }}\n"))
            .collect()
    };
    for (name, n, code) in [("many", 6_000, 1), ("some", 1_000, 0)] {
        write(
            dir,
            &format!("{name}.yaml"),
            &format!(
                "version: 1\nname: {name}\ninput: {{ path: customers.parquet, id: customer_id }}\n\
                 factors:\n{}tiers:\n  levels:\n    - {{ name: all }}\noutput: {{ path: out }}\n",
                factors(n)
            ),
        );
        let started = Instant::now();
        let result = run(dir, &["check", &format!("{name}.yaml")]);
        let took = started.elapsed();
        result.expect_code(code);
        if code == 1 {
            assert_eq!(
                result.headline(),
                "the pipeline has 6,000 factors, more than 1,000"
            );
            assert!(result.stderr.contains("pipeline::too_many_factors"));
            // The 1,001st factor: line 5 holds the first.
            assert!(
                result.stderr.contains("many.yaml:1005:5"),
                "{}",
                result.stderr
            );
        }
        assert!(took.as_secs() < 10, "{name}: check took {took:?}");
    }
}

/// A pipeline, script or module path naming a named pipe or a device is refused before
/// anything is read (reading a pipe no one writes to waited for ever; `/dev/zero` took all the
/// memory there was), and so is a script over 1 MiB, or one going past the 65,535 lines rhai
/// can locate a problem in. Each run is killed after a minute, so a hang fails the test.
#[test]
fn paths_that_are_no_small_file_are_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200, 3, 200);
    let fifo = |name: &str| {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.join(name),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap()
    };
    fifo("pipe.yaml");
    fifo("pipe_module.rhai");
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.rhai")).unwrap();
    let comment = "// padding\n";
    let mut large = comment.repeat((1 << 20) / comment.len() + 1);
    large.truncate((1 << 20) + 1);
    write(dir, "large.rhai", &large);
    write(dir, "long.rhai", &"1.0;\n".repeat(70_000));
    write(
        dir,
        "wide.rhai",
        &format!("// {}\norders_12m * 1.0\n", "a".repeat(70_000)),
    );
    write(
        dir,
        "imports_pipe.rhai",
        "import \"pipe_module\" as m;\norders_12m * 1.0\n",
    );
    let here = dir.canonicalize().unwrap();
    let cases = [
        ("pipe", "cannot read pipeline file pipe.yaml: it is a named pipe, not a regular file".to_string(), "pipeline::unreadable", "help: check the path"),
        ("zero", "cannot read script zero.rhai: it is a device, not a regular file".to_string(), "rules::unreadable", "zero.yaml:5:20"),
        ("large", "cannot read script large.rhai: it is 1,048,577 bytes long, more than the 1,048,576 bytes tierscore reads of such a file".to_string(), "rules::too_large", "large.yaml:5:20"),
        ("long", "the rule has more than 65,535 lines; the file goes on past this line".to_string(), "rules::too_many_lines", "long.rhai:65535:1"),
        ("wide", "the rule has more than 65,535 characters in one line; the line goes on past this character".to_string(), "rules::line_too_long", "wide.rhai:1:65535"),
        ("imports_pipe", format!("import \"pipe_module\" cannot be loaded: cannot read {}: it is a named pipe, not a regular file", here.join("pipe_module.rhai").display()), "rules::import", "imports_pipe.rhai:1:1"),
    ];
    for (rule, headline, code, located) in cases {
        if rule != "pipe" {
            one_script_pipeline(dir, rule);
        }
        let output = tierscore(dir)
            .args(["check", &format!("{rule}.yaml")])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let result = Outcome {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        };
        result.expect_code(1);
        assert_eq!(result.headline(), headline, "{rule}");
        assert!(result.stderr.contains(code), "{rule}: {}", result.stderr);
        assert!(result.stderr.contains(located), "{rule}: {}", result.stderr);
        // The snippet shows a window of the line, not its 70,000 characters.
        assert!(
            result.stderr.len() < 3_000,
            "{rule}: {} bytes",
            result.stderr.len()
        );
    }

    // A named pipe among an input folder's files: the run stops naming it (it waited for ever).
    std::fs::create_dir(dir.join("input")).unwrap();
    std::fs::copy(dir.join("customers.parquet"), dir.join("input/a.parquet")).unwrap();
    fifo("input/b.parquet");
    write(dir, "value.rhai", "orders_12m * 1.0\n");
    one_script_pipeline(dir, "value");
    let output = tierscore(dir)
        .args(["run", "value.yaml", "--input", "input"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        headline(&stderr),
        "cannot read input/b.parquet: it is a named pipe, not a regular file"
    );
    assert!(stderr.contains("source::io"), "{stderr}");
    assert!(!dir.join("out").exists());
}

/// A test case file is held to the pipeline's nesting limit (the column is the 256th level's
/// `[`: 23 characters, the `{`, `[a#b, it's, ` and 253 `[` before it); 100,000 levels took
/// 37 s in a release build (libyaml's flow nesting is quadratic) before `test` said anything,
/// and a `#` or a `'` in a plain scalar hid the brackets after them from an earlier check.
#[test]
fn deep_nesting_in_a_test_case_file_is_refused_quickly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200, 3, 200);
    one_script_pipeline(dir, "value");
    write(dir, "value.rhai", "orders_12m * 1.0\n");
    let depth = 100_000;
    write(
        dir,
        "value.tests.yaml",
        &format!(
            "tests:\n  - name: x\n    row: {{ orders_12m: [a#b, it's, {}{}] }}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    );
    let started = Instant::now();
    let result = run(dir, &["test", "value.yaml"]);
    let took = started.elapsed();
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        "cannot read test cases from value.tests.yaml: it nests `[` or `{` deeper than 128 \
         levels at line 3 column 289, the most a test file may"
    );
    assert!(took.as_secs() < 20, "test took {took:?}");
}

/// A pipeline may list 256 tier levels. 100,000 took a minute to check (each name compared
/// with every one before it) and 7.2 GB to run over 2,000 rows (exact sums kept a tier); now
/// they are refused at the 257th, in about a second.
#[test]
fn more_than_256_tier_levels_are_refused_quickly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    gen(dir, "customers.parquet", 200, 3, 200);
    let pipeline = |n: usize| {
        let levels: String = (0..n)
            .map(|i| format!("    - {{ name: t{i}, min: {} }}\n", n - i))
            .collect();
        format!(
            "version: 1\nname: p\ninput: {{ path: customers.parquet, id: customer_id }}\n\
             factors:\n  - {{ name: value, expr: \"orders_12m * 1.0\", weight: 1.0 }}\n\
             tiers:\n  levels:\n{levels}    - {{ name: rest }}\noutput: {{ path: out }}\n"
        )
    };
    write(dir, "some.yaml", &pipeline(255));
    run(dir, &["check", "some.yaml"]).expect_code(0);
    write(dir, "many.yaml", &pipeline(100_000));
    let started = Instant::now();
    let result = run(dir, &["run", "many.yaml"]);
    let took = started.elapsed();
    result.expect_code(1);
    assert_eq!(
        result.headline(),
        "`tiers.levels` lists 100,001 levels, more than 256"
    );
    assert!(result.stderr.contains("pipeline::too_many_tiers"));
    // The 257th level, on line 264 (levels start on line 8).
    assert!(
        result.stderr.contains("many.yaml:264:"),
        "{}",
        result.stderr
    );
    assert!(took.as_secs() < 30, "run took {took:?}");
    assert!(!dir.join("out").exists());
}
