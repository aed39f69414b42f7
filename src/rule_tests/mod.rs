//! Rule test cases: a row an analyst writes and what the pipeline must make of it.
//!
//! Cases come from the pipeline's `tests:` and from `NAME.tests.yaml` beside it. Each row is
//! turned into a one-row `RecordBatch` with the input's schema (columns it leaves out are null),
//! scored by the same plan `run` uses, and compared with the case's expectations: factor
//! values (within a tolerance), `score`, `tier`, `reasons`, or the `error` a rejected row gives.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use indexmap::IndexMap;
use serde_yaml::Value;

use crate::diagnostic::suggest;
use crate::pipeline::spec::{TestCaseSpec, TestFileSpec};
use crate::pipeline::Pipeline;
use crate::plan::Plan;
use crate::rules::coverage::{RuleCoverage, Tally};
use crate::score::{Ranked, Sharing};

/// Difference accepted between expected and actual numbers unless a case says otherwise.
pub const DEFAULT_TOLERANCE: f64 = 1e-6;

/// A test case and the file it was written in.
#[derive(Debug, Clone)]
pub struct Case {
    pub spec: TestCaseSpec,
    pub file: PathBuf,
}

/// Why test cases could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot read test cases from {}: {message}", path.display())]
#[diagnostic(
    code(test::file),
    help("a test file holds `tests:` with a list of {{ name, row, expect }}; see `test` in docs/commands.md")
)]
pub struct CaseFileError {
    pub path: PathBuf,
    pub message: String,
}

/// The file beside a pipeline that holds more test cases: `NAME.tests.yaml`.
pub fn beside(pipeline: &Path) -> PathBuf {
    let stem = pipeline
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    pipeline.with_file_name(format!("{stem}.tests.yaml"))
}

/// The pipeline's own cases, then those of the file beside it (if there is one).
pub fn load(pipeline: &Pipeline) -> Result<Vec<Case>, CaseFileError> {
    let mut cases: Vec<Case> = pipeline
        .tests
        .iter()
        .map(|spec| Case {
            spec: spec.clone(),
            file: pipeline.path.clone(),
        })
        .collect();
    let path = beside(&pipeline.path);
    if path.exists() {
        let text = crate::local_file::read_text(&path, crate::local_file::MAX_YAML_BYTES).map_err(
            |err| CaseFileError {
                path: path.clone(),
                message: err.to_string(),
            },
        )?;
        // As for a pipeline: libyaml's flow nesting takes time with the square of its depth.
        if let Some(at) = crate::pipeline::too_deep(&text, crate::pipeline::MAX_DEPTH) {
            let before = &text[..at];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            return Err(CaseFileError {
                path,
                message: format!(
                    "it nests `[` or `{{` deeper than {} levels at line {line} column {column}, \
                     the most a test file may",
                    crate::pipeline::MAX_DEPTH
                ),
            });
        }
        let file: TestFileSpec = serde_yaml::from_str(&text).map_err(|err| CaseFileError {
            path: path.clone(),
            message: err.to_string(),
        })?;
        cases.extend(file.tests.into_iter().map(|mut spec| {
            let mut row = file.base_row.clone();
            row.extend(spec.row);
            spec.row = row;
            Case {
                spec,
                file: path.clone(),
            }
        }));
    }
    Ok(cases)
}

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub field: String,
    pub expected: String,
    pub actual: String,
}

/// What a case came to: no mismatch means it passed.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub mismatches: Vec<Mismatch>,
}

/// What the pipeline made of one row.
struct Actual {
    factors: Vec<(String, f64)>,
    score: Option<f64>,
    tier: Option<String>,
    reasons: Vec<String>,
    error: Option<String>,
}

/// Scores every case's row with `plan` and compares the results with the expectations.
///
/// Rows may set input columns and derive columns (a one-row population has no meaningful
/// ranks, so a case states the derived values it is about).
pub fn run(cases: &[Case], plan: &Plan, id: &str) -> Vec<Outcome> {
    cases
        .iter()
        .map(|case| match score_row(case, plan, &plan.schema, id) {
            Ok(actual) => Outcome {
                name: case.spec.name.clone(),
                mismatches: compare(&case.spec, &actual),
            },
            Err(problem) => Outcome {
                name: case.spec.name.clone(),
                mismatches: vec![Mismatch {
                    field: "row".into(),
                    expected: "a row of the input's columns".into(),
                    actual: problem,
                }],
            },
        })
        .collect()
}

/// The branches of every rule of `plan` the cases' rows take (`test --coverage`): each row is
/// scored as [`run`] scores it, its rules traced. Rows that are not rows of the input (a case
/// [`run`] reports as failed) count for no rule.
pub fn coverage(cases: &[Case], plan: &Plan, id: &str) -> Vec<RuleCoverage> {
    let tally = Tally::new(plan.scorer.rules());
    for case in cases {
        if let Ok(batch) = row_batch(&case.spec.row, &plan.schema, id) {
            plan.scorer.score_counted(
                &batch,
                &Ranked::default(),
                Sharing::Slices,
                Some(&tally),
                None,
            );
        }
    }
    tally.finish()
}

/// The case's row as a one-row batch with the input's columns (all nullable).
fn row_batch(
    row: &IndexMap<String, Value>,
    input: &Schema,
    id: &str,
) -> Result<RecordBatch, String> {
    let names: Vec<&str> = input.fields().iter().map(|f| f.name().as_str()).collect();
    if let Some(unknown) = row.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(format!(
            "the input has no column `{unknown}`; {}",
            suggest::help_for(unknown, &names, "input columns")
        ));
    }
    // The row goes through JSON, which has no NaN or infinities (they became null), and into
    // the input's types, where 1.5 became the integer 1: both are refused instead.
    for (name, value) in row {
        if !crate::pipeline::params::finite(value) {
            return Err(format!(
                "`{name}` holds an infinity or NaN, which a test row cannot give; test such \
                 values with run on a file holding them"
            ));
        }
        let integers = input
            .field_with_name(name)
            .is_ok_and(|f| f.data_type().is_integer());
        if let Value::Number(number) = value {
            if integers && !(number.is_i64() || number.is_u64()) {
                return Err(format!(
                    "column `{name}` holds integers, and {} is not one",
                    number
                ));
            }
        }
        // A decimal with more places than the column keeps was rounded into it (1.255 scored
        // as 1.26), testing another value than the case says.
        let scale = input
            .field_with_name(name)
            .ok()
            .and_then(|f| match f.data_type() {
                DataType::Decimal32(_, scale)
                | DataType::Decimal64(_, scale)
                | DataType::Decimal128(_, scale)
                | DataType::Decimal256(_, scale) => Some(i64::from(*scale)),
                _ => None,
            });
        let text = match value {
            Value::Number(number) => Some(number.to_string()),
            Value::String(text) => Some(text.clone()),
            _ => None,
        };
        if let (Some(scale), Some(text)) = (scale, text) {
            if let Some(places) = decimal_places(&text).filter(|places| *places > scale) {
                return Err(format!(
                    "column `{name}` keeps {scale} decimal place(s), and {text} has {places}; \
                     give a value the column holds as written"
                ));
            }
        }
    }
    let schema = Arc::new(Schema::new(
        input
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let mut json: serde_json::Map<String, serde_json::Value> = row
        .iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                serde_json::to_value(v).map_err(|e| e.to_string())?,
            ))
        })
        .collect::<Result<_, String>>()?;
    let default_id = match input
        .field_with_name(id)
        .map(|f| f.data_type().is_integer())
    {
        Ok(true) => serde_json::Value::from(0),
        _ => serde_json::Value::String("test".into()),
    };
    json.entry(id.to_string()).or_insert(default_id);
    let mut decoder = arrow_json::ReaderBuilder::new(schema)
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder.serialize(&[json]).map_err(|e| e.to_string())?;
    decoder
        .flush()
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the row is empty".to_string())
}

/// The decimal places of a number written as `text` (`1.250` has 2, `1.5e-3` has 4, `100e-2`
/// none), trailing zeros left out; `None` when it is no number.
fn decimal_places(text: &str) -> Option<i64> {
    let text = text.trim();
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let digits = mantissa.strip_prefix(['+', '-']).unwrap_or(mantissa);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    // The places the fraction's digits reach, less the zeros that end the number.
    let significant = format!("{whole}{fraction}");
    let zeros = (significant.len() - significant.trim_end_matches('0').len()) as i64;
    Some(
        (fraction.len() as i64)
            .saturating_sub(exponent)
            .saturating_sub(zeros)
            .max(0),
    )
}

fn score_row(case: &Case, plan: &Plan, input: &Schema, id: &str) -> Result<Actual, String> {
    let batch = row_batch(&case.spec.row, input, id)?;
    let scored = plan
        .scorer
        .score_showing_reasons(&batch, &Ranked::default());
    if let Some(reject) = scored.rejects.first() {
        return Ok(Actual {
            factors: Vec::new(),
            score: None,
            tier: None,
            reasons: Vec::new(),
            error: Some(format!("{}: {}", reject.step, reject.message)),
        });
    }
    let factors = plan
        .scorer
        .factors
        .iter()
        .zip(&scored.factors)
        .map(|(step, column)| {
            let values = column.as_any().downcast_ref::<Float64Array>();
            (
                step.name().to_string(),
                values.map_or(f64::NAN, |v| v.value(0)),
            )
        })
        .collect();
    let reasons = plan
        .scorer
        .factors
        .iter()
        .zip(&scored.reasons)
        .filter(|(_, reasons)| reasons.is_valid(0))
        .map(|(step, reasons)| format!("{}: {}", step.name(), reasons.value(0)))
        .collect();
    Ok(Actual {
        factors,
        score: (!scored.score.is_null(0)).then(|| scored.score.value(0)),
        tier: if plan.scorer.tiers.is_global() {
            Some("(rank and ABC tiers depend on every row; check them with run)".into())
        } else {
            scored.tier[0].map(|t| plan.scorer.tiers.levels()[t].name.clone())
        },
        reasons,
        error: None,
    })
}

fn compare(spec: &TestCaseSpec, actual: &Actual) -> Vec<Mismatch> {
    let tolerance = spec.tolerance.unwrap_or(DEFAULT_TOLERANCE);
    let mut mismatches = Vec::new();
    let mut mismatch = |field: &str, expected: String, actual: String| {
        mismatches.push(Mismatch {
            field: field.to_string(),
            expected,
            actual,
        })
    };
    // A negative or NaN tolerance fails every comparison, saying nothing of why.
    let usable = |tolerance: f64| tolerance.is_finite() && tolerance >= 0.0;
    if !usable(tolerance) {
        mismatch(
            "tolerance",
            "a finite number of 0 or more".into(),
            tolerance.to_string(),
        );
        return mismatches;
    }
    if let (Some(error), None) = (&actual.error, spec.expect.get("error")) {
        mismatch("error", "(no error)".into(), error.clone());
        return mismatches;
    }
    for (key, expected) in &spec.expect {
        match key.as_str() {
            "error" => {
                let wanted = plain(expected);
                match &actual.error {
                    Some(error) if error.contains(&wanted) => {}
                    other => mismatch(
                        "error",
                        format!("contains {wanted:?}"),
                        other.clone().unwrap_or_else(|| "(no error)".into()),
                    ),
                }
            }
            "tier" => {
                let wanted = plain(expected);
                let got = actual.tier.clone().unwrap_or_else(|| "(none)".into());
                if got != wanted {
                    mismatch("tier", wanted, got);
                }
            }
            "reasons" => {
                let wanted: Vec<String> = match expected {
                    Value::Sequence(items) => items.iter().map(plain).collect(),
                    other => vec![plain(other)],
                };
                if wanted != actual.reasons {
                    mismatch(
                        "reasons",
                        format!("{wanted:?}"),
                        format!("{:?}", actual.reasons),
                    );
                }
            }
            name => {
                let got = if name == "score" {
                    actual.score
                } else {
                    match actual.factors.iter().find(|(n, _)| n == name) {
                        Some((_, v)) => Some(*v),
                        None if actual.error.is_some() => None,
                        None => {
                            let known: Vec<&str> = actual
                                .factors
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .chain(["score", "tier", "reasons", "error"])
                                .collect();
                            mismatch(
                                name,
                                "a factor, score, tier, reasons or error".into(),
                                suggest::help_for(name, &known, "expectations"),
                            );
                            continue;
                        }
                    }
                };
                let (wanted, tol) = match number(expected) {
                    Some((_, Some(tol))) if !usable(tol) => {
                        mismatch(
                            name,
                            "a tolerance that is a finite number of 0 or more".into(),
                            tol.to_string(),
                        );
                        continue;
                    }
                    Some(pair) => (pair.0, pair.1.unwrap_or(tolerance)),
                    None => {
                        mismatch(
                            name,
                            "a number or { value, tolerance }".into(),
                            plain(expected),
                        );
                        continue;
                    }
                };
                match got {
                    Some(v) if (v - wanted).abs() <= tol => {}
                    Some(v) => mismatch(name, format!("{wanted} ± {tol}"), format!("{v}")),
                    None => mismatch(name, format!("{wanted} ± {tol}"), "(rejected)".into()),
                }
            }
        }
    }
    mismatches
}

/// A number, or `{ value, tolerance }`.
fn number(value: &Value) -> Option<(f64, Option<f64>)> {
    match value {
        Value::Number(n) => n.as_f64().map(|v| (v, None)),
        Value::Mapping(map) => {
            let value = map.get("value")?.as_f64()?;
            let tolerance = map.get("tolerance").and_then(Value::as_f64);
            Some((value, tolerance))
        }
        _ => None,
    }
}

/// A YAML scalar as the text it says.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod decimal_places_tests {
    use super::decimal_places;

    #[test]
    fn places_of_numbers_as_written() {
        for (text, places) in [
            ("1.25", Some(2)),
            ("1.250", Some(2)),
            ("-.5", Some(1)),
            ("1.", Some(0)),
            ("1.5e-3", Some(4)),
            ("100e-2", Some(0)),
            ("1e400", Some(0)),
            ("1e-9223372036854775808", Some(i64::MAX)),
            ("0.0", Some(0)),
            ("+", None),
            ("--5", None),
            ("1.2.3", None),
            ("abc", None),
        ] {
            assert_eq!(decimal_places(text), places, "{text}");
        }
    }
}
