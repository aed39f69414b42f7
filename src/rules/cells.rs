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
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        new_null_array, ArrowPrimitiveType, Date32Array, Date64Array, Decimal128Array,
        Decimal256Array, Decimal32Array, Decimal64Array, DictionaryArray, FixedSizeListArray,
        Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, LargeListArray,
        ListArray, NullArray, PrimitiveArray, StructArray, TimestampMicrosecondArray,
        TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt16Array,
        UInt32Array, UInt64Array, UInt8Array,
    };
    use arrow::datatypes::{Field, Fields, Float16Type, IntervalUnit, UnionFields, UnionMode};

    use super::*;
    use rhai::Dynamic;

    /// Renders a script value with its type, so expectations are exact.
    fn show(value: &Dynamic) -> String {
        if value.is_unit() {
            "()".to_string()
        } else if let Ok(int) = value.as_int() {
            format!("int {int}")
        } else if let Ok(float) = value.as_float() {
            format!("float {float:?}")
        } else if let Ok(flag) = value.as_bool() {
            format!("bool {flag}")
        } else if value.is_string() {
            format!("str {:?}", value.clone().into_string().unwrap())
        } else if value.is::<Date>() {
            format!("date {}", value.clone_cast::<Date>())
        } else if value.is::<Timestamp>() {
            format!("ts {}", value.clone_cast::<Timestamp>())
        } else if value.is_array() {
            let items: Vec<String> = value.as_array_ref().unwrap().iter().map(show).collect();
            format!("[{}]", items.join(", "))
        } else if value.is_map() {
            let entries: Vec<String> = value
                .as_map_ref()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}: {}", show(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        } else {
            panic!("unexpected value {value:?}")
        }
    }

    fn read(array: &dyn Array) -> Vec<String> {
        let reader = ColumnReader::<Dynamic>::new(array).unwrap();
        (0..array.len())
            .map(|row| show(&reader.value(row)))
            .collect()
    }

    fn error(array: &dyn Array) -> String {
        match ColumnReader::<Dynamic>::new(array) {
            Ok(_) => panic!("{} should be unreadable", array.data_type()),
            Err(message) => message,
        }
    }

    fn list_of(values: ArrayRef, offsets: &[i32], nulls: Option<Vec<bool>>) -> ListArray {
        let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
        ListArray::new(
            field,
            arrow::buffer::OffsetBuffer::new(offsets.to_vec().into()),
            values,
            nulls.map(NullBuffer::from),
        )
    }

    #[test]
    fn signed_integers() {
        let int8 = Int8Array::from(vec![Some(i8::MIN), None, Some(-1), Some(i8::MAX)]);
        assert_eq!(read(&int8), ["int -128", "()", "int -1", "int 127"]);
        let int16 = Int16Array::from(vec![Some(i16::MIN), None, Some(i16::MAX)]);
        assert_eq!(read(&int16), ["int -32768", "()", "int 32767"]);
        let int32 = Int32Array::from(vec![None, Some(i32::MIN), Some(i32::MAX)]);
        assert_eq!(read(&int32), ["()", "int -2147483648", "int 2147483647"]);
        let int64 = Int64Array::from(vec![Some(i64::MIN), Some(0), None, Some(i64::MAX)]);
        assert_eq!(
            read(&int64),
            [
                "int -9223372036854775808",
                "int 0",
                "()",
                "int 9223372036854775807"
            ]
        );
    }

    #[test]
    fn unsigned_integers() {
        let uint8 = UInt8Array::from(vec![Some(0), None, Some(u8::MAX)]);
        assert_eq!(read(&uint8), ["int 0", "()", "int 255"]);
        let uint16 = UInt16Array::from(vec![None, Some(u16::MAX)]);
        assert_eq!(read(&uint16), ["()", "int 65535"]);
        let uint32 = UInt32Array::from(vec![Some(u32::MAX), None]);
        assert_eq!(read(&uint32), ["int 4294967295", "()"]);
    }

    #[test]
    fn uint64_becomes_float_only_above_i64_max() {
        let uint64 = UInt64Array::from(vec![
            Some(5),
            None,
            Some(i64::MAX as u64),
            Some(i64::MAX as u64 + 1),
            Some(u64::MAX),
        ]);
        assert_eq!(
            read(&uint64),
            [
                "int 5",
                "()",
                "int 9223372036854775807",
                "float 9.223372036854776e18",
                "float 1.8446744073709552e19"
            ]
        );
    }

    #[test]
    fn floats() {
        let half = |v: f32| <Float16Type as ArrowPrimitiveType>::Native::from_f32(v);
        let float16: PrimitiveArray<Float16Type> = vec![
            Some(half(1.5)),
            None,
            Some(half(-0.25)),
            Some(half(65504.0)),
        ]
        .into();
        assert_eq!(
            read(&float16),
            ["float 1.5", "()", "float -0.25", "float 65504.0"]
        );
        let float32 = Float32Array::from(vec![Some(-2.5), None, Some(0.1)]);
        assert_eq!(
            read(&float32),
            ["float -2.5", "()", "float 0.10000000149011612"]
        );
        let float64 = Float64Array::from(vec![Some(0.1), None, Some(f64::MAX), Some(-0.0)]);
        assert_eq!(
            read(&float64),
            [
                "float 0.1",
                "()",
                "float 1.7976931348623157e308",
                "float -0.0"
            ]
        );
    }

    #[test]
    fn decimal128_with_scale_two_and_negative_values() {
        let decimal =
            Decimal128Array::from(vec![Some(12345), Some(-12345), None, Some(-1), Some(0)])
                .with_precision_and_scale(10, 2)
                .unwrap();
        assert_eq!(
            read(&decimal),
            [
                "float 123.45",
                "float -123.45",
                "()",
                "float -0.01",
                "float 0.0"
            ]
        );
    }

    #[test]
    fn decimal128_with_large_precision_and_negative_scale() {
        let wide = Decimal128Array::from(vec![Some(123_456_789_012_345_678_901), None])
            .with_precision_and_scale(38, 10)
            .unwrap();
        assert_eq!(read(&wide), ["float 12345678901.234568", "()"]);
        let negative_scale = Decimal128Array::from(vec![Some(7), None, Some(-3)])
            .with_precision_and_scale(5, -2)
            .unwrap();
        assert_eq!(read(&negative_scale), ["float 700.0", "()", "float -300.0"]);
    }

    #[test]
    fn decimal256_inside_and_beyond_i128() {
        let huge = i256::from_i128(i128::MAX).wrapping_mul(i256::from_i128(1000));
        let decimal = Decimal256Array::from(vec![
            Some(i256::from_i128(-98765)),
            None,
            Some(huge),
            Some(huge.wrapping_neg()),
        ])
        .with_precision_and_scale(76, 3)
        .unwrap();
        assert_eq!(
            read(&decimal),
            [
                "float -98.765",
                "()",
                "float 1.7014118346046923e38",
                "float -1.7014118346046923e38"
            ]
        );
    }

    #[test]
    fn decimal32_and_decimal64() {
        let decimal32 = Decimal32Array::from(vec![Some(-250), None, Some(999_999_999)])
            .with_precision_and_scale(9, 2)
            .unwrap();
        assert_eq!(read(&decimal32), ["float -2.5", "()", "float 9999999.99"]);
        let decimal64 = Decimal64Array::from(vec![None, Some(-1_000_001), Some(42)])
            .with_precision_and_scale(18, 6)
            .unwrap();
        assert_eq!(read(&decimal64), ["()", "float -1.000001", "float 4.2e-5"]);
    }

    #[test]
    fn booleans_including_a_sliced_bitmap() {
        let flags = BooleanArray::from(vec![Some(true), None, Some(false), Some(true), None]);
        assert_eq!(
            read(&flags),
            ["bool true", "()", "bool false", "bool true", "()"]
        );
        assert_eq!(read(&flags.slice(1, 3)), ["()", "bool false", "bool true"]);
    }

    #[test]
    fn strings_of_every_layout() {
        let utf8 = StringArray::from(vec![Some("gold"), None, Some("")]);
        assert_eq!(read(&utf8), ["str \"gold\"", "()", "str \"\""]);
        let large = LargeStringArray::from(vec![None, Some("silver")]);
        assert_eq!(read(&large), ["()", "str \"silver\""]);
        let view = StringViewArray::from(vec![
            Some("short"),
            None,
            Some("a string longer than twelve bytes"),
        ]);
        assert_eq!(
            read(&view),
            [
                "str \"short\"",
                "()",
                "str \"a string longer than twelve bytes\""
            ]
        );
    }

    #[test]
    fn dates_before_and_after_1970() {
        let date32 = Date32Array::from(vec![Some(20758), None, Some(-1), Some(-719162)]);
        assert_eq!(
            read(&date32),
            [
                "date 2026-11-01",
                "()",
                "date 1969-12-31",
                "date 0001-01-01"
            ]
        );
        let date64 = Date64Array::from(vec![
            Some(20758 * MILLIS_PER_DAY),
            None,
            Some(-1),
            Some(MILLIS_PER_DAY - 1),
            Some(i64::MAX),
        ]);
        assert_eq!(
            read(&date64),
            [
                "date 2026-11-01",
                "()",
                "date 1969-12-31",
                "date 1970-01-01",
                "date 2147483647 days since 1970-01-01"
            ]
        );
    }

    #[test]
    fn timestamps_in_every_unit() {
        let seconds = 1_793_521_800_i64; // 2026-11-01T08:30:00Z
        let expected = ["ts 2026-11-01T08:30:00Z", "()", "ts 1969-12-31T23:59:59Z"];
        let second = TimestampSecondArray::from(vec![Some(seconds), None, Some(-1)]);
        assert_eq!(read(&second), expected);
        let milli =
            TimestampMillisecondArray::from(vec![Some(seconds * 1000 + 250), None, Some(-1)]);
        assert_eq!(
            read(&milli),
            [
                "ts 2026-11-01T08:30:00.25Z",
                "()",
                "ts 1969-12-31T23:59:59.999Z"
            ]
        );
        let micro =
            TimestampMicrosecondArray::from(vec![Some(seconds * 1_000_000 + 1), None, Some(-1)]);
        assert_eq!(
            read(&micro),
            [
                "ts 2026-11-01T08:30:00.000001Z",
                "()",
                "ts 1969-12-31T23:59:59.999999Z"
            ]
        );
        let nano = TimestampNanosecondArray::from(vec![
            Some(seconds * 1_000_000_000 + 1_999),
            None,
            Some(-1),
        ]);
        assert_eq!(
            read(&nano),
            [
                "ts 2026-11-01T08:30:00.000001Z",
                "()",
                "ts 1969-12-31T23:59:59.999999Z"
            ]
        );
    }

    #[test]
    fn timestamp_time_zones_do_not_move_the_instant() {
        let seconds = 1_793_521_800_i64;
        let zoned = TimestampSecondArray::from(vec![Some(seconds), None]).with_timezone("+05:30");
        assert_eq!(read(&zoned), ["ts 2026-11-01T08:30:00Z", "()"]);
        let named = TimestampMillisecondArray::from(vec![None, Some(seconds * 1000)])
            .with_timezone("America/New_York");
        assert_eq!(read(&named), ["()", "ts 2026-11-01T08:30:00Z"]);
        let micro =
            TimestampMicrosecondArray::from(vec![Some(seconds * 1_000_000)]).with_timezone("UTC");
        assert_eq!(read(&micro), ["ts 2026-11-01T08:30:00Z"]);
        let nano = TimestampNanosecondArray::from(vec![Some(seconds * 1_000_000_000), None])
            .with_timezone("Europe/Paris");
        assert_eq!(read(&nano), ["ts 2026-11-01T08:30:00Z", "()"]);
    }

    #[test]
    fn timestamps_beyond_the_calendar_saturate() {
        let second = TimestampSecondArray::from(vec![i64::MAX, i64::MIN]);
        assert_eq!(
            read(&second),
            [
                "ts 9223372036854775807 microseconds since 1970-01-01T00:00:00Z",
                "ts -9223372036854775808 microseconds since 1970-01-01T00:00:00Z"
            ]
        );
    }

    #[test]
    fn lists_with_nulls_inside_and_outside() {
        let values: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(3), Some(4)]));
        let list = list_of(
            values,
            &[0, 2, 2, 2, 4],
            Some(vec![true, true, false, true]),
        );
        assert_eq!(read(&list), ["[int 1, ()]", "[]", "()", "[int 3, int 4]"]);
        assert_eq!(read(&list.slice(2, 2)), ["()", "[int 3, int 4]"]);
    }

    #[test]
    fn large_lists() {
        let list = LargeListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.5), None]),
            None,
            Some(vec![]),
            Some(vec![Some(-2.0)]),
        ]);
        assert_eq!(read(&list), ["[float 1.5, ()]", "()", "[]", "[float -2.0]"]);
        assert_eq!(read(&list.slice(1, 3)), ["()", "[]", "[float -2.0]"]);
    }

    #[test]
    fn fixed_size_lists() {
        let list = FixedSizeListArray::from_iter_primitive::<Int64Type, _, _>(
            vec![
                Some(vec![Some(1), Some(2)]),
                None,
                Some(vec![None, Some(6)]),
                Some(vec![Some(7), Some(8)]),
            ],
            2,
        );
        assert_eq!(
            read(&list),
            ["[int 1, int 2]", "()", "[(), int 6]", "[int 7, int 8]"]
        );
        assert_eq!(read(&list.slice(2, 2)), ["[(), int 6]", "[int 7, int 8]"]);
    }

    fn customers() -> StructArray {
        let names: ArrayRef = Arc::new(StringArray::from(vec![Some("ann"), Some("bob"), None]));
        let spend: ArrayRef = Arc::new(Float64Array::from(vec![Some(10.5), None, Some(3.0)]));
        StructArray::new(
            Fields::from(vec![
                Field::new("name", DataType::Utf8, true),
                Field::new("spend", DataType::Float64, true),
            ]),
            vec![names, spend],
            Some(NullBuffer::from(vec![true, true, false])),
        )
    }

    #[test]
    fn structs_become_maps() {
        assert_eq!(
            read(&customers()),
            [
                "{name: str \"ann\", spend: float 10.5}",
                "{name: str \"bob\", spend: ()}",
                "()"
            ]
        );
        assert_eq!(
            read(&customers().slice(1, 2)),
            ["{name: str \"bob\", spend: ()}", "()"]
        );
    }

    #[test]
    fn nested_list_of_struct() {
        let list = list_of(
            Arc::new(customers()),
            &[0, 2, 2, 3],
            Some(vec![true, false, true]),
        );
        assert_eq!(
            read(&list),
            [
                "[{name: str \"ann\", spend: float 10.5}, {name: str \"bob\", spend: ()}]",
                "()",
                "[()]"
            ]
        );
    }

    #[test]
    fn dictionary_strings_with_any_key_type() {
        let small: DictionaryArray<Int8Type> =
            vec![Some("gold"), None, Some("silver"), Some("gold")]
                .into_iter()
                .collect();
        assert_eq!(
            read(&small),
            ["str \"gold\"", "()", "str \"silver\"", "str \"gold\""]
        );
        let wide: DictionaryArray<UInt64Type> = vec![None, Some("bronze"), Some("bronze")]
            .into_iter()
            .collect();
        assert_eq!(read(&wide), ["()", "str \"bronze\"", "str \"bronze\""]);
        assert_eq!(
            read(&small.slice(1, 3)),
            ["()", "str \"silver\"", "str \"gold\""]
        );
    }

    #[test]
    fn dictionary_with_more_values_than_rows_and_null_values() {
        let values: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(10),
            None,
            Some(30),
            Some(40),
            Some(50),
        ]));
        let keys = UInt16Array::from(vec![Some(4), Some(1), None]);
        let dictionary = DictionaryArray::new(keys, values);
        assert_eq!(read(&dictionary), ["int 50", "()", "()"]);
        let keys = Int32Array::from(vec![Some(0), Some(2), Some(1), Some(0), Some(3), Some(4)]);
        let values: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(10),
            None,
            Some(30),
            Some(40),
            Some(50),
        ]));
        let converted = DictionaryArray::new(keys, values);
        assert_eq!(
            read(&converted),
            ["int 10", "int 30", "()", "int 10", "int 40", "int 50"]
        );
    }

    #[test]
    fn null_type_is_always_unit() {
        assert_eq!(read(&NullArray::new(2)), ["()", "()"]);
    }

    #[test]
    fn sliced_primitives_and_strings() {
        let ints = Int64Array::from(vec![Some(1), None, Some(3), Some(4)]);
        assert_eq!(read(&ints.slice(1, 3)), ["()", "int 3", "int 4"]);
        let strings = StringArray::from(vec![Some("a"), Some("b"), None, Some("d")]);
        assert_eq!(read(&strings.slice(2, 2)), ["()", "str \"d\""]);
        let decimal = Decimal128Array::from(vec![Some(1), Some(-250), None])
            .with_precision_and_scale(5, 2)
            .unwrap();
        assert_eq!(read(&decimal.slice(1, 2)), ["float -2.5", "()"]);
        let dates = Date32Array::from(vec![Some(0), None, Some(1)]);
        assert_eq!(read(&dates.slice(1, 2)), ["()", "date 1970-01-02"]);
    }

    const SUPPORTED: &str =
        "supported: integers, floats, decimals, booleans, strings, dates, timestamps, lists, structs";

    #[test]
    fn unreadable_types_are_named() {
        let binary = arrow::array::BinaryArray::from(vec![Some(b"x".as_ref())]);
        assert_eq!(
            error(&binary),
            format!("Binary is not a type scripts can read; {SUPPORTED}")
        );
        assert_eq!(
            check_readable(&DataType::Binary).unwrap_err(),
            format!("Binary is not a type scripts can read; {SUPPORTED}")
        );
        let blobs: ArrayRef = Arc::new(binary);
        let nested = list_of(blobs, &[0, 1], None);
        assert_eq!(
            error(&nested),
            format!("list element: Binary is not a type scripts can read; {SUPPORTED}")
        );
        let record = StructArray::new(
            Fields::from(vec![Field::new(
                "kind",
                DataType::Duration(TimeUnit::Second),
                true,
            )]),
            vec![new_null_array(&DataType::Duration(TimeUnit::Second), 1)],
            None,
        );
        assert_eq!(
            error(&record),
            format!(
                "struct field \"kind\": Duration(s) is not a type scripts can read; {SUPPORTED}"
            )
        );
        assert_eq!(
            check_readable(record.data_type()).unwrap_err(),
            error(&record)
        );
    }

    fn field(name: &str, data_type: DataType) -> Arc<Field> {
        Arc::new(Field::new(name, data_type, true))
    }

    fn dictionary(key: DataType, value: DataType) -> DataType {
        DataType::Dictionary(Box::new(key), Box::new(value))
    }

    #[test]
    fn check_readable_agrees_with_column_reader() {
        let timestamp = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        let readable = vec![
            DataType::Null,
            DataType::Boolean,
            DataType::Int8,
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
            DataType::UInt8,
            DataType::UInt16,
            DataType::UInt32,
            DataType::UInt64,
            DataType::Float16,
            DataType::Float32,
            DataType::Float64,
            DataType::Decimal32(9, 2),
            DataType::Decimal64(18, -3),
            DataType::Decimal128(38, 10),
            DataType::Decimal256(76, 0),
            DataType::Utf8,
            DataType::LargeUtf8,
            DataType::Utf8View,
            DataType::Date32,
            DataType::Date64,
            DataType::Timestamp(TimeUnit::Second, None),
            DataType::Timestamp(TimeUnit::Millisecond, Some("+01:00".into())),
            DataType::Timestamp(TimeUnit::Microsecond, None),
            timestamp.clone(),
            DataType::List(field("item", DataType::Int32)),
            DataType::LargeList(field("item", DataType::Utf8)),
            DataType::FixedSizeList(field("item", DataType::Float64), 3),
            DataType::Struct(Fields::from(vec![
                field("a", DataType::Int64),
                field("b", DataType::List(field("item", timestamp))),
            ])),
            dictionary(DataType::Int8, DataType::Utf8),
            dictionary(DataType::UInt32, DataType::Decimal128(10, 2)),
            dictionary(DataType::Int64, DataType::LargeUtf8),
        ];
        let unreadable = vec![
            DataType::Binary,
            DataType::LargeBinary,
            DataType::BinaryView,
            DataType::FixedSizeBinary(4),
            DataType::Time32(TimeUnit::Second),
            DataType::Time64(TimeUnit::Nanosecond),
            DataType::Duration(TimeUnit::Millisecond),
            DataType::Interval(IntervalUnit::MonthDayNano),
            DataType::ListView(field("item", DataType::Int32)),
            DataType::LargeListView(field("item", DataType::Int32)),
            DataType::List(field("item", DataType::Binary)),
            DataType::Struct(Fields::from(vec![
                field("ok", DataType::Int32),
                field("bad", DataType::Time32(TimeUnit::Millisecond)),
            ])),
            dictionary(DataType::Int16, DataType::Binary),
            DataType::Map(
                field(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", DataType::Utf8, false),
                        Field::new("value", DataType::Int32, true),
                    ])),
                ),
                false,
            ),
            DataType::Union(
                UnionFields::try_new(vec![0], vec![Field::new("a", DataType::Int32, true)])
                    .unwrap(),
                UnionMode::Dense,
            ),
            DataType::RunEndEncoded(
                Arc::new(Field::new("run_ends", DataType::Int32, false)),
                field("values", DataType::Utf8),
            ),
        ];
        for data_type in &readable {
            assert_eq!(check_readable(data_type), Ok(()), "{data_type}");
            let array = new_null_array(data_type, 2);
            let reader = ColumnReader::<Dynamic>::new(array.as_ref())
                .unwrap_or_else(|e| panic!("{data_type}: {e}"));
            for row in 0..2 {
                let value = reader.value(row);
                assert!(value.is_unit(), "{data_type} row {row}: {value:?}");
            }
        }
        for data_type in &unreadable {
            let message = check_readable(data_type).unwrap_err();
            assert!(message.ends_with(SUPPORTED), "{message}");
            let array = new_null_array(data_type, 2);
            assert_eq!(error(array.as_ref()), message, "{data_type}");
        }
    }
}
