//! Arrow cells as rhai values: what the interpreter hands a script for each column it reads.

use rhai::{Array, Dynamic, Map};

use crate::rules::cells::CellValue;
use crate::rules::dates::{Date, Timestamp};

impl CellValue<'_> for Dynamic {
    fn unit() -> Self {
        Dynamic::UNIT
    }

    fn bool(value: bool) -> Self {
        Dynamic::from_bool(value)
    }

    fn int(value: i64) -> Self {
        Dynamic::from_int(value)
    }

    fn float(value: f64) -> Self {
        Dynamic::from_float(value)
    }

    fn string(value: &str) -> Self {
        value.into()
    }

    fn date(value: Date) -> Self {
        Dynamic::from(value)
    }

    fn timestamp(value: Timestamp) -> Self {
        Dynamic::from(value)
    }

    fn array(items: Vec<Self>) -> Self {
        Dynamic::from_array(items.into_iter().collect::<Array>())
    }

    fn map(fields: Vec<(&str, Self)>) -> Self {
        Dynamic::from_map(
            fields
                .into_iter()
                .map(|(name, value)| (name.into(), value))
                .collect::<Map>(),
        )
    }
}
