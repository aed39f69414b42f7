use std::sync::Arc;

use arrow::array::{
    new_null_array, ArrowPrimitiveType, Date32Array, Date64Array, Decimal128Array, Decimal256Array,
    Decimal32Array, Decimal64Array, DictionaryArray, FixedSizeListArray, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, LargeListArray, ListArray,
    NullArray, PrimitiveArray, StructArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray, UInt16Array, UInt32Array, UInt64Array,
    UInt8Array,
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
    let decimal = Decimal128Array::from(vec![Some(12345), Some(-12345), None, Some(-1), Some(0)])
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
    let milli = TimestampMillisecondArray::from(vec![Some(seconds * 1000 + 250), None, Some(-1)]);
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
    let nano =
        TimestampNanosecondArray::from(vec![Some(seconds * 1_000_000_000 + 1_999), None, Some(-1)]);
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
    let small: DictionaryArray<Int8Type> = vec![Some("gold"), None, Some("silver"), Some("gold")]
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
        format!("struct field \"kind\": Duration(s) is not a type scripts can read; {SUPPORTED}")
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
            UnionFields::try_new(vec![0], vec![Field::new("a", DataType::Int32, true)]).unwrap(),
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
