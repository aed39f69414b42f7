//! What a script's value means under its rule's [`Returns`]: a factor value with an optional
//! reason, a plain number, or the name of a tier level.

use rhai::{Dynamic, Map};

use crate::rules::{cap_message, Returns, MAX_REASON_BYTES};

/// A script's value read as its rule's contract asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A score.
    Number(f64),
    /// A factor's value and reason.
    Factor(FactorValue),
    /// A tier level's index.
    Tier(u32),
}

/// Reads a script's value as `returns` asks; the error says what was wrong with it.
pub fn read(returns: &Returns, value: Dynamic) -> Result<Value, String> {
    match returns {
        Returns::Factor => factor_value(value).map(Value::Factor),
        Returns::Score => number(value, "the score script").map(Value::Number),
        Returns::Tier(levels) => tier_index(value, levels).map(Value::Tier),
    }
}

/// A tier script's value: the name of one of the levels, as its index.
pub fn tier_index(value: Dynamic, levels: &[String]) -> Result<u32, String> {
    let names = || levels.join(", ");
    if value.is_unit() {
        return Err(format!(
            "the tier script gave () (no tier name); it must give one of the levels: {}",
            names()
        ));
    }
    if !value.is_string() {
        return Err(format!(
            "the tier script gave {} ({value}); it must give one of the levels: {}",
            value.type_name(),
            names()
        ));
    }
    let name = value.to_string();
    levels
        .iter()
        .position(|level| *level == name)
        .map(|index| index as u32)
        .ok_or_else(|| {
            format!(
                "the tier script gave {name:?}, which is not one of the levels: {}",
                names()
            )
        })
}

/// A factor's value for one row: a number and, optionally, why.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorValue {
    pub value: f64,
    pub reason: Option<String>,
}

/// Reads a factor script's value: a number, or `#{ value: number, reason: "…" }` where the
/// reason may also be an array of strings (joined with "; ") or `()`.
pub fn factor_value(result: Dynamic) -> Result<FactorValue, String> {
    if result.is_map() {
        let map = result.cast::<Map>();
        if let Some(key) = map
            .keys()
            .find(|k| !matches!(k.as_str(), "value" | "reason"))
        {
            return Err(format!(
                "the returned map has a key `{key}`; a factor returns #{{ value: number, reason: \"text\" }}"
            ));
        }
        let value = match map.get("value") {
            Some(v) => number(v.clone(), "the map's `value`")?,
            None => {
                return Err(
                    "the returned map has no `value`; a factor returns #{ value: number, reason: \"text\" }"
                        .into(),
                )
            }
        };
        let reason = match map.get("reason") {
            None => None,
            Some(reason) => reason_text(reason)?,
        };
        Ok(FactorValue { value, reason })
    } else {
        Ok(FactorValue {
            value: number(result, "the factor")?,
            reason: None,
        })
    }
}

fn reason_text(reason: &Dynamic) -> Result<Option<String>, String> {
    if reason.is_unit() {
        return Ok(None);
    }
    if reason.is_string() {
        let text = reason.to_string();
        return Ok((!text.is_empty()).then(|| capped(text)));
    }
    if let Some(items) = reason.read_lock::<rhai::Array>() {
        let mut parts = Vec::with_capacity(items.len());
        for item in items.iter() {
            if !item.is_string() {
                return Err(format!(
                    "`reason` array holds a {}; reasons are strings",
                    item.type_name()
                ));
            }
            parts.push(item.to_string());
        }
        return Ok((!parts.is_empty()).then(|| capped(parts.join("; "))));
    }
    Err(format!(
        "`reason` is a {}; give a string, an array of strings or ()",
        reason.type_name()
    ))
}

/// `text` within [`MAX_REASON_BYTES`].
fn capped(text: String) -> String {
    if text.len() <= MAX_REASON_BYTES {
        text
    } else {
        cap_message(&text, MAX_REASON_BYTES)
    }
}

/// Reads a number (integer or float), refusing `()`, NaN and infinities with a clear message.
pub fn number(result: Dynamic, what: &str) -> Result<f64, String> {
    let value = if let Ok(i) = result.as_int() {
        i as f64
    } else if let Ok(f) = result.as_float() {
        f
    } else if result.is_unit() {
        return Err(format!(
            "{what} gave () (no value); did a branch miss its value, or a null column need `?? default`?"
        ));
    } else {
        return Err(format!(
            "{what} gave a {} ({}); it must be a number",
            result.type_name(),
            result
        ));
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!(
            "{what} gave {value}; it must be a finite number (division by zero?)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(code: &str) -> Dynamic {
        rhai::Engine::new().eval::<Dynamic>(code).unwrap()
    }

    #[test]
    fn numbers_and_maps_are_factor_values() {
        assert_eq!(
            factor_value(eval("3")),
            Ok(FactorValue {
                value: 3.0,
                reason: None
            })
        );
        assert_eq!(
            factor_value(eval("#{ value: 2.5, reason: \"big\" }")),
            Ok(FactorValue {
                value: 2.5,
                reason: Some("big".into())
            })
        );
        assert_eq!(
            factor_value(eval("#{ value: 1, reason: [\"a\", \"b\"] }")),
            Ok(FactorValue {
                value: 1.0,
                reason: Some("a; b".into())
            })
        );
        assert_eq!(
            factor_value(eval("#{ value: 1, reason: () }"))
                .unwrap()
                .reason,
            None
        );
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        assert_eq!(
            factor_value(eval("\"high\"")).unwrap_err(),
            "the factor gave a string (high); it must be a number"
        );
        assert_eq!(
            factor_value(eval("()")).unwrap_err(),
            "the factor gave () (no value); did a branch miss its value, or a null column need `?? default`?"
        );
        assert_eq!(
            factor_value(eval("1.0 / 0.0")).unwrap_err(),
            "the factor gave inf; it must be a finite number (division by zero?)"
        );
        assert_eq!(
            factor_value(eval("#{ valu: 1 }")).unwrap_err(),
            "the returned map has a key `valu`; a factor returns #{ value: number, reason: \"text\" }"
        );
        assert_eq!(
            factor_value(eval("#{ value: 1, reason: 5 }")).unwrap_err(),
            "`reason` is a i64; give a string, an array of strings or ()"
        );
    }
}
