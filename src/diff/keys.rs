//! Customer ids as join keys: integer ids of every width compare with each other, text ids
//! with text ids.

use std::fmt;

use arrow::array::{downcast_integer_array, Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use serde::Serialize;

/// A customer id normalised for joining: every integer type compares with every other, every
/// string type with every other. Serialised as a JSON number or string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Key {
    /// Any signed or unsigned integer id.
    Int(i128),
    /// Any string id (Utf8, LargeUtf8, Utf8View, dictionary-encoded).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdKind {
    /// Signed or unsigned integers of any width.
    Integer,
    /// Text: Utf8, LargeUtf8, Utf8View or dictionary-encoded text.
    Text,
}

/// What an id column of `data_type` holds; `None` for types diff cannot join on.
pub(super) fn id_kind(data_type: &DataType) -> Option<IdKind> {
    match data_type {
        t if t.is_integer() => Some(IdKind::Integer),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(IdKind::Text),
        DataType::Dictionary(_, values) => id_kind(values).filter(|kind| *kind == IdKind::Text),
        _ => None,
    }
}

/// The keys of an id column of a type [`id_kind`] accepts; `first_row` numbers rows in errors.
pub(super) fn keys(array: &ArrayRef, first_row: u64) -> Result<Vec<Key>, String> {
    if let Some(row) = (0..array.len()).find(|&row| array.is_null(row)) {
        return Err(format!("is null in row {}", first_row + row as u64));
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
