//! Customer ids as join keys: integer ids of every width compare with each other, text ids
//! with text ids, and ids of any other one-value type (dates, decimals, timestamps, …) by their
//! text with ids of the same type.

use std::fmt;
use std::sync::Arc;

use arrow::array::{downcast_integer_array, Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;

/// A customer id normalised for joining: every integer type compares with every other, every
/// string type with every other. Serialised as a JSON number or string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Key {
    /// Any signed or unsigned integer id.
    Int(i128),
    /// Any string id (Utf8, LargeUtf8, Utf8View, dictionary-encoded), or the text of an id of
    /// another type (`2026-01-31`, `123.45`).
    Str(Box<str>),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(v) => write!(f, "{v}"),
            Key::Str(v) => f.write_str(v),
        }
    }
}

/// What an id column holds, for joining.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IdKind {
    /// Signed or unsigned integers of any width.
    Integer,
    /// Text: Utf8, LargeUtf8, Utf8View or dictionary-encoded text.
    Text,
    /// One value a row of another type (a date, decimal, timestamp, float, boolean, binary),
    /// joined on its text: `run` checks such ids unique on the same text, and within one type
    /// the text is exact (a decimal keeps its scale, a timestamp its unit). It joins only with
    /// ids of the same type.
    Other(DataType),
}

/// What an id column of `data_type` holds; `None` for types diff cannot join on: lists,
/// structs, maps and nulls, which `run` refuses as ids (`plan::id_type`).
pub(super) fn id_kind(data_type: &DataType) -> Option<IdKind> {
    match data_type {
        t if t.is_integer() => Some(IdKind::Integer),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(IdKind::Text),
        DataType::Dictionary(_, values) => match id_kind(values)? {
            IdKind::Text => Some(IdKind::Text),
            _ => Some(IdKind::Other(data_type.clone())),
        },
        t if t.is_nested() || *t == DataType::Null => None,
        t => Some(IdKind::Other(t.clone())),
    }
}

/// The keys of an id column of a type [`id_kind`] accepts; `first_row` numbers rows in errors.
pub(super) fn keys(array: &ArrayRef, first_row: u64) -> Result<Vec<Key>, String> {
    if let Some(row) = (0..array.len()).find(|&row| array.is_null(row)) {
        return Err(format!("is null in row {}", first_row + row as u64));
    }
    if let Some(IdKind::Other(data_type)) = id_kind(array.data_type()) {
        // The text `run` checked the ids unique on (`exec::unique`), but a timestamp's in UTC
        // without its zone, so an id reads the same whichever way its zone is named
        // (`+01:00`, `Europe/Berlin`); both outputs' ids have the same zone.
        let array = match &data_type {
            DataType::Timestamp(unit, Some(_)) => {
                arrow::compute::cast(array, &DataType::Timestamp(*unit, None))
                    .map_err(|e| format!("is {data_type}, which cannot be read as text: {e}"))?
            }
            _ => Arc::clone(array),
        };
        let text = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
            .map_err(|e| format!("is {data_type}, which cannot be read as text: {e}"))?;
        return (0..array.len())
            .map(|row| {
                text.value(row)
                    .try_to_string()
                    .map(|v| Key::Str(v.into()))
                    .map_err(|e| format!("is {data_type}, which cannot be read as text: {e}"))
            })
            .collect();
    }
    Ok(downcast_integer_array!(
        array => array.values().iter().map(|&v| Key::Int(v.into())).collect(),
        other => arrow::compute::cast(array, &DataType::Utf8)
            .map_err(|e| format!("is {other}, which cannot be read as text: {e}"))?
            .as_string::<i32>()
            .iter()
            .map(|v| Key::Str(v.unwrap_or_default().into()))
            .collect(),
    ))
}
