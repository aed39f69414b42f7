//! Pipeline params and their `--set K=V` overrides.

use indexmap::IndexMap;
use serde_yaml::Value;

use crate::diagnostic::suggest;

/// Named constants that scripts read as `params.NAME`, in the order the file gives them.
pub type Params = IndexMap<String, Value>;

/// Why a `--set` override was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum OverrideError {
    /// The override is not of the form `KEY=VALUE`.
    #[error("--set {0:?} is not of the form KEY=VALUE")]
    #[diagnostic(code(params::bad_override), help("write it as --set as_of=2026-11-01"))]
    NotKeyValue(String),
    /// The override names a param the pipeline does not define.
    #[error("--set {key}: the pipeline defines no param `{key}`")]
    #[diagnostic(code(params::unknown))]
    UnknownParam {
        key: String,
        #[help]
        help: String,
    },
    /// The override's value is not of the param's type.
    #[error(
        "--set {key}={value}: param `{key}` is {expected} in the pipeline, and `{value}` is not"
    )]
    #[diagnostic(code(params::wrong_type))]
    WrongType {
        key: String,
        value: String,
        expected: &'static str,
        #[help]
        help: String,
    },
}

/// Applies `--set K=V` overrides. `V` is read as a YAML scalar, so numbers stay numbers,
/// `true`/`false` are booleans and anything else is a string (`2026-11-01` stays a string).
/// Only params the pipeline defines can be set, so a typo cannot silently add a new one, and
/// only with a value of the type the pipeline gives them: a number for a number, a boolean for
/// a boolean, and any text for a string (taken as written); lists and maps cannot be set.
pub fn apply_overrides(params: &mut Params, overrides: &[String]) -> Result<(), OverrideError> {
    for entry in overrides {
        let (key, raw) = entry
            .split_once('=')
            .filter(|(key, _)| !key.trim().is_empty())
            .ok_or_else(|| OverrideError::NotKeyValue(entry.clone()))?;
        let key = key.trim();
        match params.get_mut(key) {
            Some(slot) => *slot = typed(key, slot, raw)?,
            None => {
                let known: Vec<&str> = params.keys().map(String::as_str).collect();
                return Err(OverrideError::UnknownParam {
                    key: key.to_string(),
                    help: suggest::help_for(key, &known, "params"),
                });
            }
        }
    }
    Ok(())
}

/// `raw` as a value of the type of `current`, the param's value in the pipeline.
/// Whether `value` holds no infinity or NaN (at any depth): the manifest records params as
/// JSON, which writes them as `null`.
pub fn finite(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.as_f64().is_none_or(f64::is_finite),
        Value::Sequence(items) => items.iter().all(finite),
        Value::Mapping(map) => map.values().all(finite),
        Value::Tagged(tagged) => finite(&tagged.value),
        _ => true,
    }
}

fn typed(key: &str, current: &Value, raw: &str) -> Result<Value, OverrideError> {
    let value = parse_scalar(raw);
    let (fits, expected, example) = match current {
        Value::Null => (finite(&value), "a finite number", "250000"),
        Value::String(_) => return Ok(Value::String(raw.to_string())),
        Value::Number(_) if matches!(value, Value::Number(_)) && !finite(&value) => {
            (false, "a finite number", "250000")
        }
        Value::Number(_) => (matches!(value, Value::Number(_)), "a number", "250000"),
        Value::Bool(_) => (matches!(value, Value::Bool(_)), "a boolean", "true"),
        Value::Sequence(_) => (false, "a list", ""),
        Value::Mapping(_) | Value::Tagged(_) => (false, "a map", ""),
    };
    let help = if example.is_empty() {
        format!("--set cannot set {expected}; edit the pipeline file instead")
    } else {
        format!("give {expected}, e.g. --set {key}={example}")
    };
    if fits {
        Ok(value)
    } else {
        Err(OverrideError::WrongType {
            key: key.to_string(),
            value: raw.to_string(),
            expected,
            help,
        })
    }
}

fn parse_scalar(raw: &str) -> Value {
    match serde_yaml::from_str::<Value>(raw) {
        Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => value,
        _ => Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        let mut params = Params::new();
        params.insert("as_of".into(), Value::String("2026-11-01".into()));
        params.insert("high_revenue".into(), Value::from(100_000));
        params
    }

    #[test]
    fn numbers_stay_numbers_and_dates_stay_strings() {
        let mut p = params();
        apply_overrides(
            &mut p,
            &["high_revenue=2.5e5".into(), "as_of=2027-01-31".into()],
        )
        .unwrap();
        assert_eq!(p["high_revenue"], Value::from(250_000.0));
        assert_eq!(p["as_of"], Value::String("2027-01-31".into()));
        apply_overrides(&mut p, &["high_revenue=7".into()]).unwrap();
        assert_eq!(p["high_revenue"], Value::from(7));
        apply_overrides(&mut p, &["as_of=[1, 2]".into()]).unwrap();
        assert_eq!(p["as_of"], Value::String("[1, 2]".into()));
    }

    #[test]
    fn unknown_and_malformed_overrides_are_refused() {
        let mut p = params();
        let err = apply_overrides(&mut p, &["hgh_revenue=1".into()]).unwrap_err();
        assert_eq!(
            err,
            OverrideError::UnknownParam {
                key: "hgh_revenue".into(),
                help: "did you mean `high_revenue`?".into()
            }
        );
        assert_eq!(
            apply_overrides(&mut p, &["=3".into()]).unwrap_err(),
            OverrideError::NotKeyValue("=3".into())
        );
        let err = apply_overrides(&mut p, &["high_revenue=abc".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--set high_revenue=abc: param `high_revenue` is a number in the pipeline, and `abc` \
             is not"
        );
        assert_eq!(p["high_revenue"], Value::from(100_000), "left as it was");
        // A string param takes any text as written.
        apply_overrides(&mut p, &["as_of=20261101".into()]).unwrap();
        assert_eq!(p["as_of"], Value::String("20261101".into()));
    }
}
