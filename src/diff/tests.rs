use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, LargeStringArray, StringArray, UInt64Array,
};
use arrow::datatypes::Int8Type;
use proptest::prelude::*;

use super::join::Join;
use super::keys::{id_kind, keys, IdKind, Key};
use super::*;

fn tiers() -> Vec<String> {
    ["a", "b", "c"].map(String::from).to_vec()
}

fn int(v: i128) -> Key {
    Key::Int(v)
}

#[test]
fn matrix_shift_and_one_sided_customers() {
    let mut join = Join::new(1, 10);
    // id, score, tier, factor
    for (id, score, tier, f) in [(1, 10.0, 0, 1.0), (2, 20.0, 0, 2.0), (3, 30.0, 1, 3.0)] {
        join.index_old(int(id), score, tier, &[f]).unwrap();
    }
    join.index_old(int(9), 5.0, 2, &[0.0]).unwrap();
    for (id, score, tier, f) in [(2, 26.0, 1, 4.0), (1, 12.0, 0, 1.5), (3, 27.0, 1, 3.0)] {
        join.add_new(&int(id), score, tier, &[f]).unwrap();
    }
    join.add_new(&int(8), 1.0, 2, &[0.0]).unwrap();
    join.add_new(&int(7), 1.0, 2, &[0.0]).unwrap();
    let report = join.finish(&tiers(), &[0, 1, 2], &["f".to_string()]);

    assert_eq!(
        report.matrix_rows,
        vec![vec![1, 1, 0], vec![0, 1, 0], vec![0, 0, 0]]
    );
    let cells: Vec<(&str, &str, u64)> = report
        .matrix
        .iter()
        .map(|c| (c.from.as_str(), c.to.as_str(), c.count))
        .collect();
    assert_eq!(cells, [("a", "a", 1), ("a", "b", 1), ("b", "b", 1)]);
    assert_eq!(
        report.only_in_old,
        OneSided {
            count: 1,
            ids: vec![int(9)]
        }
    );
    assert_eq!(
        report.only_in_new,
        OneSided {
            count: 2,
            ids: vec![int(7), int(8)]
        }
    );
    let shift = |tier: Option<&str>, count, old: Option<f64>, new: Option<f64>, by| Shift {
        tier: tier.map(String::from),
        count,
        mean_old: old,
        mean_new: new,
        mean_shift: by,
    };
    assert_eq!(
        report.score_shift,
        [
            shift(Some("a"), 2, Some(15.0), Some(19.0), Some(4.0)),
            shift(Some("b"), 1, Some(30.0), Some(27.0), Some(-3.0)),
            shift(Some("c"), 0, None, None, None),
        ]
    );
    assert_eq!(
        report.score_shift_all,
        shift(None, 3, Some(20.0), Some(65.0 / 3.0), Some(5.0 / 3.0))
    );
    let movers: Vec<(Key, f64, &str, &str, Option<f64>)> = report
        .top_movers
        .iter()
        .map(|m| {
            (
                m.id.clone(),
                m.change,
                m.old_tier.as_str(),
                m.new_tier.as_str(),
                m.factor_changes["f"],
            )
        })
        .collect();
    assert_eq!(
        movers,
        [
            (int(2), 6.0, "a", "b", Some(2.0)),
            (int(3), -3.0, "b", "b", Some(0.0)),
            (int(1), 2.0, "a", "a", Some(0.5)),
        ]
    );
}

#[test]
fn ids_listed_are_the_smallest_and_bounded_by_top() {
    let mut join = Join::new(0, 2);
    for id in ["d", "b", "c", "a"] {
        join.index_old(Key::Str(id.into()), 0.0, 0, &[]).unwrap();
    }
    let report = join.finish(&tiers(), &[0], &[]);
    assert_eq!(
        report.only_in_old,
        OneSided {
            count: 4,
            ids: vec![Key::Str("a".into()), Key::Str("b".into())]
        }
    );
    assert_eq!(report.top_movers, []);
}

#[test]
fn a_repeated_id_on_either_side_is_refused() {
    let mut join = Join::new(0, 3);
    join.index_old(int(1), 0.0, 0, &[]).unwrap();
    assert_eq!(join.index_old(int(1), 1.0, 0, &[]), Err(int(1)));
    join.add_new(&int(1), 0.0, 0, &[]).unwrap();
    assert_eq!(join.add_new(&int(1), 0.0, 0, &[]), Err(int(1)));
    join.add_new(&int(2), 0.0, 0, &[]).unwrap();
    assert_eq!(join.add_new(&int(2), 0.0, 0, &[]), Err(int(2)));
}

#[test]
fn a_null_factor_has_no_change() {
    let mut join = Join::new(2, 1);
    join.index_old(int(1), 0.0, 0, &[f64::NAN, 1.0]).unwrap();
    join.add_new(&int(1), 1.0, 0, &[2.0, 3.0]).unwrap();
    let names = ["x".to_string(), "y".to_string()];
    let report = join.finish(&tiers(), &[0], &names);
    let changes: Vec<(&String, &Option<f64>)> =
        report.top_movers[0].factor_changes.iter().collect();
    assert_eq!(changes, [(&names[0], &None), (&names[1], &Some(2.0))]);
}

#[test]
fn integer_and_string_ids_of_any_width_become_the_same_keys() {
    let int32: ArrayRef = Arc::new(Int32Array::from(vec![-1, 7]));
    let uint64: ArrayRef = Arc::new(UInt64Array::from(vec![7, u64::MAX]));
    assert_eq!(keys(&int32, 0), Ok(vec![int(-1), int(7)]));
    assert_eq!(keys(&uint64, 0), Ok(vec![int(7), int(u64::MAX as i128)]));

    let utf8: ArrayRef = Arc::new(StringArray::from(vec!["C1", "C2"]));
    let large: ArrayRef = Arc::new(LargeStringArray::from(vec!["C1", "C2"]));
    let dictionary: ArrayRef = Arc::new(
        vec!["C1", "C2"]
            .into_iter()
            .collect::<DictionaryArray<Int8Type>>(),
    );
    let expected = vec![Key::Str("C1".into()), Key::Str("C2".into())];
    for array in [&utf8, &large, &dictionary] {
        assert_eq!(id_kind(array.data_type()), Some(IdKind::Text));
        assert_eq!(keys(array, 0), Ok(expected.clone()));
    }
    assert_eq!(id_kind(int32.data_type()), Some(IdKind::Integer));

    let with_null: ArrayRef = Arc::new(StringArray::from(vec![Some("C1"), None]));
    assert_eq!(keys(&with_null, 100), Err("is null in row 101".to_string()));
}

/// Dates, decimals, timestamps and the like were refused ("diff joins on integer or string
/// ids", with the advice to run again, which failed the same way); they join on the text `run`
/// checked them unique on, with ids of the same type. Lists, structs, maps and nulls, which
/// `run` refuses as ids, are still refused.
#[test]
fn ids_of_other_types_become_their_text_and_join_only_with_their_own_type() {
    use arrow::array::{
        Date32Array, Date64Array, Decimal128Array, Float64Array, ListArray,
        TimestampMicrosecondArray,
    };
    use arrow::datatypes::{Int64Type, TimeUnit};
    let str_keys =
        |texts: &[&str]| -> Vec<Key> { texts.iter().map(|t| Key::Str((*t).into())).collect() };
    let decimal: ArrayRef = Arc::new(
        Decimal128Array::from(vec![150, -200, 12345])
            .with_precision_and_scale(5, 2)
            .unwrap(),
    );
    let date32: ArrayRef = Arc::new(Date32Array::from(vec![20454, -1]));
    let date64: ArrayRef = Arc::new(Date64Array::from(vec![1_767_225_600_000]));
    let micros: ArrayRef =
        Arc::new(TimestampMicrosecondArray::from(vec![1_767_225_600_000_001]).with_timezone("UTC"));
    let float: ArrayRef = Arc::new(Float64Array::from(vec![1.5, -0.0, f64::NAN]));
    for (array, expected) in [
        (&decimal, str_keys(&["1.50", "-2.00", "123.45"])),
        (&date32, str_keys(&["2026-01-01", "1969-12-31"])),
        (&date64, str_keys(&["2026-01-01T00:00:00"])),
        (&micros, str_keys(&["2026-01-01T00:00:00.000001"])),
        (&float, str_keys(&["1.5", "-0.0", "NaN"])),
    ] {
        assert_eq!(
            id_kind(array.data_type()),
            Some(IdKind::Other(array.data_type().clone()))
        );
        assert_eq!(keys(array, 0), Ok(expected), "{}", array.data_type());
    }
    assert_ne!(
        id_kind(&DataType::Timestamp(TimeUnit::Microsecond, None)),
        id_kind(micros.data_type())
    );
    let with_null: ArrayRef = Arc::new(Date32Array::from(vec![Some(1), None]));
    assert_eq!(keys(&with_null, 7), Err("is null in row 8".to_string()));

    let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
        Some(vec![Some(1)]),
    ]));
    assert_eq!(id_kind(lists.data_type()), None);
    assert_eq!(id_kind(&DataType::Null), None);
}

/// A dictionary-encoded id in one output and the plain type in the other, and timestamps whose
/// zones are spelled differently but name the same instants (`UTC`, `+00:00`), were refused as
/// different types (`diff::id_types_differ`). They are one kind now and make the same keys; a
/// named zone and the offset it has part of the year, a zone-less timestamp and a zoned one,
/// other units and other types stay apart.
#[test]
fn dictionary_encoding_and_utc_spellings_do_not_change_an_ids_kind_or_keys() {
    use arrow::array::{
        Date32Array, Decimal128Array, Int16Array, StringViewArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{Int32Type, TimeUnit};
    let dictionary = |values: ArrayRef| -> ArrayRef {
        let keys: Vec<i32> = (0..values.len() as i32).rev().collect();
        Arc::new(DictionaryArray::<Int32Type>::try_new(keys.into(), values).unwrap())
    };
    let reversed = |values: ArrayRef| {
        arrow::compute::take(
            &values,
            &UInt64Array::from((0..values.len() as u64).rev().collect::<Vec<_>>()),
            None,
        )
        .unwrap()
    };
    // Each plain array and the same ids dictionary-encoded (values stored in reverse order).
    let plain: [ArrayRef; 6] = [
        Arc::new(Date32Array::from(vec![20454, 20455])),
        Arc::new(
            Decimal128Array::from(vec![150, 12345])
                .with_precision_and_scale(5, 2)
                .unwrap(),
        ),
        Arc::new(Int16Array::from(vec![-3, 7])),
        Arc::new(StringArray::from(vec!["C1", "C2"])),
        Arc::new(StringViewArray::from(vec!["C1", "C2"])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![1_767_225_600_000_001, 0]).with_timezone("+00:00"),
        ),
    ];
    for array in &plain {
        let encoded = dictionary(reversed(Arc::clone(array)));
        assert_eq!(
            id_kind(encoded.data_type()),
            id_kind(array.data_type()),
            "{}",
            encoded.data_type()
        );
        assert_eq!(keys(&encoded, 0), keys(array, 0), "{}", encoded.data_type());
    }
    assert_eq!(
        id_kind(plain[0].data_type()),
        Some(IdKind::Other(DataType::Date32))
    );
    assert_eq!(id_kind(plain[2].data_type()), Some(IdKind::Integer));
    assert_eq!(
        keys(&dictionary(reversed(Arc::clone(&plain[0]))), 0),
        Ok(vec![
            Key::Str("2026-01-01".into()),
            Key::Str("2026-01-02".into())
        ])
    );
    // A key pointing at a null value is a null id.
    let null_value = dictionary(Arc::new(Date32Array::from(vec![None, Some(1)])));
    assert_eq!(keys(&null_value, 4), Err("is null in row 5".to_string()));

    let zoned = |zone: &str| DataType::Timestamp(TimeUnit::Microsecond, Some(zone.into()));
    for zone in ["+00:00", "+0000", "+00", "-00:00", "Etc/UTC", "GMT", "Zulu"] {
        assert_eq!(id_kind(&zoned(zone)), id_kind(&zoned("UTC")), "{zone}");
        let instants: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![1_767_225_600_000_001]).with_timezone(zone),
        );
        assert_eq!(
            keys(&instants, 0),
            Ok(vec![Key::Str("2026-01-01T00:00:00.000001".into())])
        );
    }
    assert_eq!(id_kind(&zoned("+0530")), id_kind(&zoned("+05:30")));
    for (one, other) in [
        (zoned("America/New_York"), zoned("-05:00")),
        (zoned("Europe/London"), zoned("UTC")),
        (zoned("+01:00"), zoned("UTC")),
        // Arrow reads neither as a zone, so neither is taken for UTC.
        (zoned("utc"), zoned("UTC")),
        (zoned("Z"), zoned("UTC")),
        (
            DataType::Timestamp(TimeUnit::Microsecond, None),
            zoned("UTC"),
        ),
        (
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            zoned("UTC"),
        ),
        (zoned("UTC"), DataType::Date32),
        (
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Date32)),
            DataType::Date64,
        ),
        (DataType::Int64, DataType::Utf8),
    ] {
        assert_ne!(id_kind(&one), id_kind(&other), "{one} and {other}");
    }
}

/// Every name diff takes for UTC is one arrow reads, with no offset at any time sampled from
/// 1850 to 2100; `utc` and `Z` arrow does not read.
#[test]
fn the_names_taken_for_utc_are_zones_arrow_reads_as_utc() {
    use arrow::array::timezone::Tz;
    use chrono::{NaiveDate, Offset, TimeZone};
    for name in super::keys::UTC_NAMES {
        let tz: Tz = name.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
        for year in (1850..=2100).step_by(5) {
            for month in [1, 7] {
                let at = NaiveDate::from_ymd_opt(year, month, 1)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap();
                let offset = tz.offset_from_utc_datetime(&at).fix().local_minus_utc();
                assert_eq!(offset, 0, "{name} in {year}-{month:02}");
            }
        }
    }
    for spelling in ["utc", "Z", "z"] {
        assert!(spelling.parse::<Tz>().is_err(), "{spelling}");
    }
}

#[test]
fn ids_serialise_as_json_numbers_and_strings() {
    assert_eq!(
        serde_json::to_string(&[int(-3), Key::Str("C1".into())]).unwrap(),
        r#"[-3,"C1"]"#
    );
}

proptest! {
    /// The bounded heap picks exactly what sorting every customer would.
    #[test]
    fn top_movers_equal_a_full_sort(
        rows in prop::collection::vec((0i128..40, 0u8..5, 0u8..5), 0..60),
        top in 0usize..8,
    ) {
        let mut join = Join::new(0, top);
        let mut seen = HashSet::new();
        let mut expected = Vec::new();
        for (id, old, new) in rows {
            if !seen.insert(id) {
                continue;
            }
            join.index_old(int(id), f64::from(old), 0, &[]).unwrap();
            join.add_new(&int(id), f64::from(new), 0, &[]).unwrap();
            expected.push((int(id), f64::from(new) - f64::from(old)));
        }
        expected.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
        expected.truncate(top);
        // Only customers whose score moved are movers.
        expected.retain(|(_, change)| *change != 0.0);
        let report = join.finish(&tiers(), &[0], &[]);
        let got: Vec<(Key, f64)> =
            report.top_movers.into_iter().map(|m| (m.id, m.change)).collect();
        prop_assert_eq!(got, expected);
    }
}
