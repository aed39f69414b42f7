//! Arrow cells as script values: how every column type reads in a script.
//!
//! Integers of any width read as `i64` (a `UInt64` beyond it as a float), floats and decimals
//! as `f64`, dates and timestamps as [`Date`] and [`Timestamp`] (timestamps in microseconds),
//! lists as arrays, structs as maps, dictionaries as their values, nulls as `()`. A
//! [`ColumnReader`] downcasts its array once per batch; reading a row is then a match and an
//! index. What a value is made of is up to its [`CellValue`]: the interpreter builds rhai
//! values, `explain` values to print.

use super::dates::{Date, Timestamp};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float16Array, LargeStringArray, StringArray,
    StringViewArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    i256, ArrowDictionaryKeyType, ArrowNativeType, DataType, Date32Type, Date64Type,
    Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type, Float32Type, Float64Type,
    Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};

/// A value a [`ColumnReader`] can build from one cell of an array that lives for `'a`.
pub trait CellValue<'a>: Clone {
    /// A null cell (and every cell of a `Null` column): `()`.
    fn unit() -> Self;
    fn bool(value: bool) -> Self;
    fn int(value: i64) -> Self;
    fn float(value: f64) -> Self;
    fn string(value: &'a str) -> Self;
    fn date(value: Date) -> Self;
    fn timestamp(value: Timestamp) -> Self;
    fn array(items: Vec<Self>) -> Self;
    fn map(fields: Vec<(&'a str, Self)>) -> Self;
}

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Tells whether scripts can read a column of this type, so a bad schema is
/// reported once, by column, before any row is scored.
pub fn check_readable(data_type: &DataType) -> Result<(), String> {
    match data_type {
        DataType::Null
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..)
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(..) => Ok(()),
        DataType::List(field) | DataType::LargeList(field) | DataType::FixedSizeList(field, _) => {
            check_readable(field.data_type()).map_err(in_list)
        }
        DataType::Struct(fields) => fields.iter().try_for_each(|field| {
            check_readable(field.data_type()).map_err(|e| in_field(field.name(), e))
        }),
        DataType::Dictionary(key, value) if key.is_dictionary_key_type() => {
            check_readable(value).map_err(in_dictionary)
        }
        other => Err(unreadable(other)),
    }
}

fn unreadable(data_type: &DataType) -> String {
    format!(
        "{data_type} is not a type scripts can read; supported: integers, floats, decimals, \
         booleans, strings, dates, timestamps, lists, structs"
    )
}

fn in_list(error: String) -> String {
    format!("list element: {error}")
}

fn in_field(name: &str, error: String) -> String {
    format!("struct field {name:?}: {error}")
}

fn in_dictionary(error: String) -> String {
    format!("dictionary values: {error}")
}

/// Reads the cells of one Arrow array as script values, so the scoring loop
/// can hand each row's columns to a script without knowing their types.
pub struct ColumnReader<'a, V> {
    nulls: Option<&'a NullBuffer>,
    kind: Kind<'a, V>,
}

/// Scales a decimal's unscaled integer; multiplying for negative scales keeps
/// the factor an exact power of ten.
#[derive(Clone, Copy)]
struct DecimalScale {
    factor: f64,
    divide: bool,
}

impl DecimalScale {
    fn new(scale: i8) -> Self {
        Self {
            factor: 10f64.powi(i32::from(scale.unsigned_abs())),
            divide: scale >= 0,
        }
    }

    fn apply<'a, V: CellValue<'a>>(self, unscaled: f64) -> V {
        V::float(if self.divide {
            unscaled / self.factor
        } else {
            unscaled * self.factor
        })
    }
}

enum Kind<'a, V> {
    Null,
    Boolean(&'a BooleanArray),
    Int8(&'a [i8]),
    Int16(&'a [i16]),
    Int32(&'a [i32]),
    Int64(&'a [i64]),
    UInt8(&'a [u8]),
    UInt16(&'a [u16]),
    UInt32(&'a [u32]),
    UInt64(&'a [u64]),
    Float16(&'a Float16Array),
    Float32(&'a [f32]),
    Float64(&'a [f64]),
    Decimal32(&'a [i32], DecimalScale),
    Decimal64(&'a [i64], DecimalScale),
    Decimal128(&'a [i128], DecimalScale),
    Decimal256(&'a [i256], DecimalScale),
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    Date32(&'a [i32]),
    Date64(&'a [i64]),
    Timestamp(&'a [i64], TimeUnit),
    List(&'a [i32], Box<ColumnReader<'a, V>>),
    LargeList(&'a [i64], Box<ColumnReader<'a, V>>),
    FixedSizeList(usize, Box<ColumnReader<'a, V>>),
    Struct(Vec<(&'a str, ColumnReader<'a, V>)>),
    /// Dictionary values converted up front, when there are no more of them
    /// than rows: each row then costs a clone instead of a conversion.
    ConvertedDictionary(Vec<usize>, Vec<V>),
    Dictionary(Vec<usize>, Box<ColumnReader<'a, V>>),
}

impl<'a, V: CellValue<'a>> ColumnReader<'a, V> {
    /// Prepares to read `array`, or says (like [`check_readable`]) why
    /// scripts cannot read its type.
    pub fn new(array: &'a dyn Array) -> Result<Self, String> {
        let kind = match array.data_type() {
            DataType::Null => Kind::Null,
            DataType::Boolean => Kind::Boolean(array.as_boolean()),
            DataType::Int8 => Kind::Int8(array.as_primitive::<Int8Type>().values()),
            DataType::Int16 => Kind::Int16(array.as_primitive::<Int16Type>().values()),
            DataType::Int32 => Kind::Int32(array.as_primitive::<Int32Type>().values()),
            DataType::Int64 => Kind::Int64(array.as_primitive::<Int64Type>().values()),
            DataType::UInt8 => Kind::UInt8(array.as_primitive::<UInt8Type>().values()),
            DataType::UInt16 => Kind::UInt16(array.as_primitive::<UInt16Type>().values()),
            DataType::UInt32 => Kind::UInt32(array.as_primitive::<UInt32Type>().values()),
            DataType::UInt64 => Kind::UInt64(array.as_primitive::<UInt64Type>().values()),
            DataType::Float16 => Kind::Float16(array.as_primitive()),
            DataType::Float32 => Kind::Float32(array.as_primitive::<Float32Type>().values()),
            DataType::Float64 => Kind::Float64(array.as_primitive::<Float64Type>().values()),
            DataType::Decimal32(_, scale) => Kind::Decimal32(
                array.as_primitive::<Decimal32Type>().values(),
                DecimalScale::new(*scale),
            ),
            DataType::Decimal64(_, scale) => Kind::Decimal64(
                array.as_primitive::<Decimal64Type>().values(),
                DecimalScale::new(*scale),
            ),
            DataType::Decimal128(_, scale) => Kind::Decimal128(
                array.as_primitive::<Decimal128Type>().values(),
                DecimalScale::new(*scale),
            ),
            DataType::Decimal256(_, scale) => Kind::Decimal256(
                array.as_primitive::<Decimal256Type>().values(),
                DecimalScale::new(*scale),
            ),
            DataType::Utf8 => Kind::Utf8(array.as_string()),
            DataType::LargeUtf8 => Kind::LargeUtf8(array.as_string()),
            DataType::Utf8View => Kind::Utf8View(array.as_string_view()),
            DataType::Date32 => Kind::Date32(array.as_primitive::<Date32Type>().values()),
            DataType::Date64 => Kind::Date64(array.as_primitive::<Date64Type>().values()),
            DataType::Timestamp(unit, _) => {
                let ticks = match unit {
                    TimeUnit::Second => array.as_primitive::<TimestampSecondType>().values(),
                    TimeUnit::Millisecond => {
                        array.as_primitive::<TimestampMillisecondType>().values()
                    }
                    TimeUnit::Microsecond => {
                        array.as_primitive::<TimestampMicrosecondType>().values()
                    }
                    TimeUnit::Nanosecond => {
                        array.as_primitive::<TimestampNanosecondType>().values()
                    }
                };
                Kind::Timestamp(ticks, *unit)
            }
            DataType::List(_) => {
                let list = array.as_list::<i32>();
                Kind::List(list.value_offsets(), element_reader(list.values())?)
            }
            DataType::LargeList(_) => {
                let list = array.as_list::<i64>();
                Kind::LargeList(list.value_offsets(), element_reader(list.values())?)
            }
            DataType::FixedSizeList(_, _) => {
                let list = array.as_fixed_size_list();
                // Arrow rejects negative sizes when it builds the array.
                let size = list.value_length().as_usize();
                Kind::FixedSizeList(size, element_reader(list.values())?)
            }
            DataType::Struct(fields) => Kind::Struct(
                fields
                    .iter()
                    .zip(array.as_struct().columns())
                    .map(|(field, column)| {
                        ColumnReader::new(column.as_ref())
                            .map(|reader| (field.name().as_str(), reader))
                            .map_err(|e| in_field(field.name(), e))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            DataType::Dictionary(key, _) => {
                let (keys, values) = match key.as_ref() {
                    DataType::Int8 => dictionary_parts::<Int8Type>(array),
                    DataType::Int16 => dictionary_parts::<Int16Type>(array),
                    DataType::Int32 => dictionary_parts::<Int32Type>(array),
                    DataType::Int64 => dictionary_parts::<Int64Type>(array),
                    DataType::UInt8 => dictionary_parts::<UInt8Type>(array),
                    DataType::UInt16 => dictionary_parts::<UInt16Type>(array),
                    DataType::UInt32 => dictionary_parts::<UInt32Type>(array),
                    DataType::UInt64 => dictionary_parts::<UInt64Type>(array),
                    _ => return Err(unreadable(array.data_type())),
                };
                let reader = ColumnReader::new(values.as_ref()).map_err(in_dictionary)?;
                if values.len() <= keys.len() {
                    let converted = (0..values.len()).map(|i| reader.value(i)).collect();
                    Kind::ConvertedDictionary(keys, converted)
                } else {
                    Kind::Dictionary(keys, Box::new(reader))
                }
            }
            other => return Err(unreadable(other)),
        };
        Ok(Self {
            nulls: array.nulls(),
            kind,
        })
    }

    /// The cell at `row` as a script value; a null cell is `()`.
    ///
    /// # Panics
    ///
    /// If `row` is not below the array's length.
    pub fn value(&self, row: usize) -> V {
        if self.nulls.is_some_and(|nulls| nulls.is_null(row)) {
            return V::unit();
        }
        match &self.kind {
            Kind::Null => V::unit(),
            Kind::Boolean(array) => V::bool(array.value(row)),
            Kind::Int8(values) => V::int(values[row].into()),
            Kind::Int16(values) => V::int(values[row].into()),
            Kind::Int32(values) => V::int(values[row].into()),
            Kind::Int64(values) => V::int(values[row]),
            Kind::UInt8(values) => V::int(values[row].into()),
            Kind::UInt16(values) => V::int(values[row].into()),
            Kind::UInt32(values) => V::int(values[row].into()),
            Kind::UInt64(values) => match i64::try_from(values[row]) {
                Ok(int) => V::int(int),
                Err(_) => V::float(values[row] as f64),
            },
            Kind::Float16(array) => V::float(array.value(row).to_f64()),
            Kind::Float32(values) => V::float(values[row].into()),
            Kind::Float64(values) => V::float(values[row]),
            Kind::Decimal32(values, scale) => scale.apply(values[row].into()),
            Kind::Decimal64(values, scale) => scale.apply(values[row] as f64),
            Kind::Decimal128(values, scale) => scale.apply(values[row] as f64),
            Kind::Decimal256(values, scale) => scale.apply(i256_to_f64(values[row])),
            Kind::Utf8(array) => V::string(array.value(row)),
            Kind::LargeUtf8(array) => V::string(array.value(row)),
            Kind::Utf8View(array) => V::string(array.value(row)),
            Kind::Date32(days) => V::date(Date::from_days(days[row])),
            Kind::Date64(millis) => V::date(date_from_millis(millis[row])),
            Kind::Timestamp(ticks, unit) => V::timestamp(timestamp(ticks[row], *unit)),
            Kind::List(offsets, elements) => list_value(offsets, elements, row),
            Kind::LargeList(offsets, elements) => list_value(offsets, elements, row),
            Kind::FixedSizeList(size, elements) => {
                let start = row * size;
                elements_value(elements, start, start + size)
            }
            Kind::Struct(fields) => V::map(
                fields
                    .iter()
                    .map(|(name, reader)| (*name, reader.value(row)))
                    .collect(),
            ),
            Kind::ConvertedDictionary(keys, values) => values[keys[row]].clone(),
            Kind::Dictionary(keys, values) => values.value(keys[row]),
        }
    }
}

fn element_reader<'a, V: CellValue<'a>>(
    values: &'a ArrayRef,
) -> Result<Box<ColumnReader<'a, V>>, String> {
    ColumnReader::new(values.as_ref())
        .map(Box::new)
        .map_err(in_list)
}

fn dictionary_parts<K: ArrowDictionaryKeyType>(array: &dyn Array) -> (Vec<usize>, &ArrayRef) {
    let dictionary = array.as_dictionary::<K>();
    let keys = dictionary
        .keys()
        .values()
        .iter()
        .map(|key| key.as_usize())
        .collect();
    (keys, dictionary.values())
}

fn list_value<'a, O: ArrowNativeType, V: CellValue<'a>>(
    offsets: &[O],
    elements: &ColumnReader<'a, V>,
    row: usize,
) -> V {
    elements_value(
        elements,
        offsets[row].as_usize(),
        offsets[row + 1].as_usize(),
    )
}

fn elements_value<'a, V: CellValue<'a>>(
    elements: &ColumnReader<'a, V>,
    start: usize,
    end: usize,
) -> V {
    V::array((start..end).map(|i| elements.value(i)).collect())
}

fn i256_to_f64(value: i256) -> f64 {
    match value.to_i128() {
        Some(small) => small as f64,
        // Beyond i128 the decimal text is the simplest correctly rounded route.
        None => value.to_string().parse().unwrap_or(f64::NAN),
    }
}

/// A `Date64` (milliseconds) as the day it falls on.
pub fn date_from_millis(millis: i64) -> Date {
    let days = millis.div_euclid(MILLIS_PER_DAY);
    // Out-of-range days are far outside the calendar either way; saturate.
    Date::from_days(days.clamp(i32::MIN.into(), i32::MAX.into()) as i32)
}

/// Timestamps far beyond the calendar saturate instead of wrapping around.
pub fn timestamp(ticks: i64, unit: TimeUnit) -> Timestamp {
    Timestamp::from_micros(match unit {
        TimeUnit::Second => ticks.saturating_mul(1_000_000),
        TimeUnit::Millisecond => ticks.saturating_mul(1_000),
        TimeUnit::Microsecond => ticks,
        TimeUnit::Nanosecond => ticks.div_euclid(1_000),
    })
}

#[cfg(test)]
mod tests;
