//! Customer ids as join keys: integer ids of every width compare with each other, text ids
//! with text ids, and ids of any other one-value type (dates, decimals, timestamps, …) by their
//! text with ids of the same logical type. Dictionary encoding, and how a timestamp's zone is
//! spelled, are how a writer stored an id, not what it is, so neither keeps two outputs apart.

use std::fmt;
use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{downcast_integer_array, Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;

use crate::plan::is_one_value_id;

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
    /// Signed or unsigned integers of any width, dictionary-encoded or not.
    Integer,
    /// Text: Utf8, LargeUtf8, Utf8View or dictionary-encoded text.
    Text,
    /// One value a row of another type (a date, decimal, timestamp, float, boolean, binary),
    /// joined on its text: `run` checks such ids unique on the same text, and within one type
    /// the text is exact (a decimal keeps its scale, a timestamp its unit). It joins only with
    /// ids of the same logical type: a dictionary's values type, a timestamp's zone by the
    /// instants it names ([`zone_by_instants`]).
    Other(DataType),
}

/// What an id column of `data_type` holds; `None` for types diff cannot join on: lists,
/// structs, maps and nulls, which `run` refuses as ids ([`is_one_value_id`]).
pub(super) fn id_kind(data_type: &DataType) -> Option<IdKind> {
    match data_type {
        t if t.is_integer() => Some(IdKind::Integer),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(IdKind::Text),
        // One output's ids may be dictionary-encoded (as its input was) and the other's not:
        // the ids are the values either way.
        DataType::Dictionary(_, values) => id_kind(values),
        t if !is_one_value_id(t) => None,
        DataType::Timestamp(unit, Some(zone)) => Some(IdKind::Other(DataType::Timestamp(
            *unit,
            Some(zone_by_instants(zone)),
        ))),
        t => Some(IdKind::Other(t.clone())),
    }
}

/// The tz database's names for UTC and GMT, which have had no other offset at any time; with
/// `+00:00` they name the same instants. Arrow reads these names as written (`utc` and `Z` it
/// refuses).
pub(super) const UTC_NAMES: [&str; 18] = [
    "UTC",
    "Etc/UTC",
    "UCT",
    "Etc/UCT",
    "Universal",
    "Etc/Universal",
    "Zulu",
    "Etc/Zulu",
    "GMT",
    "Etc/GMT",
    "GMT0",
    "Etc/GMT0",
    "GMT+0",
    "Etc/GMT+0",
    "GMT-0",
    "Etc/GMT-0",
    "Greenwich",
    "Etc/Greenwich",
];

/// A timestamp id's zone as the instants it maps: one output's `UTC` and the other's `+00:00`
/// are the same ids (the keys are the instants in UTC), so they must not be refused as two
/// types. Every zone arrow reads as UTC becomes `UTC`; any other fixed offset arrow's one
/// spelling (`+0530`, `+05:30`); a named zone stays as named, since a name and an offset are
/// the same only for some instants (`America/New_York` is `-05:00` in winter only), and a zone
/// arrow cannot read stays as written.
fn zone_by_instants(zone: &str) -> Arc<str> {
    let Ok(tz) = zone.parse::<Tz>() else {
        return zone.into();
    };
    let spelled = tz.to_string();
    if spelled == "+00:00" || UTC_NAMES.contains(&spelled.as_str()) {
        "UTC".into()
    } else {
        spelled.into()
    }
}

/// The keys of an id column of a type [`id_kind`] accepts; `first_row` numbers rows in errors.
pub(super) fn keys(array: &ArrayRef, first_row: u64) -> Result<Vec<Key>, String> {
    let unreadable = |e: arrow::error::ArrowError| {
        format!(
            "is {}, which cannot be read as text: {e}",
            array.data_type()
        )
    };
    // A dictionary's ids are its values: unpacked, they make the keys the same ids stored
    // plainly make, and a key pointing at a null value is a null id.
    let array = match array.data_type() {
        DataType::Dictionary(_, values) => {
            arrow::compute::cast(array, values).map_err(unreadable)?
        }
        _ => Arc::clone(array),
    };
    if let Some(row) = (0..array.len()).find(|&row| array.is_null(row)) {
        return Err(format!("is null in row {}", first_row + row as u64));
    }
    if let Some(IdKind::Other(data_type)) = id_kind(array.data_type()) {
        // The text `run` checked the ids unique on (`exec::unique`), but a timestamp's in UTC
        // without its zone, so an id reads the same whichever way its zone is named
        // (`+01:00`, `Europe/Berlin`); both outputs' zones name the same instants
        // ([`zone_by_instants`]).
        let array = match &data_type {
            DataType::Timestamp(unit, Some(_)) => {
                arrow::compute::cast(&array, &DataType::Timestamp(*unit, None))
                    .map_err(unreadable)?
            }
            _ => array,
        };
        let text = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
            .map_err(unreadable)?;
        return (0..array.len())
            .map(|row| text.value(row).try_to_string().map(|v| Key::Str(v.into())))
            .collect::<Result<_, _>>()
            .map_err(unreadable);
    }
    let array = array.as_ref();
    Ok(downcast_integer_array!(
        array => array.values().iter().map(|&v| Key::Int(v.into())).collect(),
        _ => arrow::compute::cast(array, &DataType::Utf8)
            .map_err(unreadable)?
            .as_string::<i32>()
            .iter()
            .map(|v| Key::Str(v.unwrap_or_default().into()))
            .collect(),
    ))
}
