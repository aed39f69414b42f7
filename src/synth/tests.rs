use super::*;
use arrow::array::{Array, AsArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn opts(rows: u64, seed: u64) -> SynthOptions {
    SynthOptions {
        rows,
        seed,
        row_group_size: 30_000,
    }
}

fn generate(rows: u64, seed: u64) -> RecordBatch {
    let parts: Vec<_> = batches(&opts(rows, seed)).collect();
    concat_batches(&schema(), &parts).unwrap()
}

fn f64s(b: &RecordBatch, name: &str) -> Vec<f64> {
    b[name].as_primitive::<Float64Type>().values().to_vec()
}

fn i64s(b: &RecordBatch, name: &str) -> Vec<i64> {
    b[name].as_primitive::<Int64Type>().values().to_vec()
}

fn dates(b: &RecordBatch, name: &str) -> Vec<i32> {
    b[name].as_primitive::<Date32Type>().values().to_vec()
}

fn share(n: usize, of: usize) -> f64 {
    n as f64 / of as f64
}

#[test]
fn schema_is_the_contract() {
    let item = Arc::new(Field::new("item", DataType::Float64, true));
    let expected = [
        ("customer_id", DataType::Utf8, false),
        ("region", DataType::Utf8, false),
        ("industry", DataType::Utf8, false),
        ("customer_since", DataType::Date32, false),
        ("last_order_date", DataType::Date32, false),
        ("orders_12m", DataType::Int64, false),
        ("revenue_12m", DataType::Float64, false),
        ("revenue_history", DataType::List(item), false),
        ("gross_margin_rate", DataType::Float64, false),
        ("cost_to_serve", DataType::Float64, false),
        ("support_tickets_12m", DataType::Int64, false),
        ("bad_debt", DataType::Boolean, false),
        ("bad_debt_amount", DataType::Float64, false),
        ("litigation", DataType::Boolean, false),
        ("referrals", DataType::Int64, false),
        ("product_pull", DataType::Int64, true),
        ("brand_contribution", DataType::Int64, true),
        ("innovation", DataType::Int64, true),
    ];
    let schema = schema();
    assert_eq!(schema.fields().len(), expected.len());
    for (field, (name, ty, nullable)) in schema.fields().iter().zip(expected) {
        assert_eq!(
            (
                field.name().as_str(),
                field.data_type(),
                field.is_nullable()
            ),
            (name, &ty, nullable)
        );
    }
    assert!(schema.metadata().is_empty());
}

#[test]
fn date_constants() {
    let day = |y, m, d| {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        (NaiveDate::from_ymd_opt(y, m, d).unwrap() - epoch).num_days() as i32
    };
    assert_eq!(AS_OF, day(2026, 11, 1));
    assert_eq!(SINCE_MIN, day(2008, 1, 1));
    assert_eq!(SINCE_MAX, day(2026, 10, 1));
}

#[test]
fn batches_are_chunked_and_ids_sequential() {
    let parts: Vec<_> = batches(&opts(140_000, 1)).collect();
    let sizes: Vec<_> = parts.iter().map(RecordBatch::num_rows).collect();
    assert_eq!(sizes, [CHUNK_ROWS, CHUNK_ROWS, 140_000 - 2 * CHUNK_ROWS]);
    let all = concat_batches(&schema(), &parts).unwrap();
    let ids = all["customer_id"].as_string::<i32>();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(id, Some(format!("C{:08}", i + 1).as_str()));
    }
    assert_eq!(ids.value(0), "C00000001");
    assert_eq!(ids.value(139_999), "C00140000");
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let a = generate(2_000, 42);
    assert_eq!(a, generate(2_000, 42));
    let b = generate(2_000, 43);
    assert_eq!(&a["customer_id"], &b["customer_id"]);
    for name in ["revenue_12m", "customer_since", "region", "cost_to_serve"] {
        assert_ne!(&a[name], &b[name], "{name}");
    }
}

#[test]
fn prefix_of_larger_run_is_identical() {
    let small = generate(100, 9);
    let large = generate(70_000, 9);
    assert_eq!(small, large.slice(0, 100));
    // Across the chunk boundary too: row 65_537 starts stream 1 wherever the run ends.
    let boundary = generate(CHUNK_ROWS as u64 + 10, 9);
    assert_eq!(boundary, large.slice(0, CHUNK_ROWS + 10));
    assert_eq!(batches(&opts(0, 9)).count(), 0);
}

#[test]
fn distributions_look_like_customers() {
    let b = generate(50_000, 7);
    let n = b.num_rows();
    let revenue = f64s(&b, "revenue_12m");
    let since = dates(&b, "customer_since");
    let last = dates(&b, "last_order_date");
    let orders = i64s(&b, "orders_12m");
    let margin = f64s(&b, "gross_margin_rate");
    let cost = f64s(&b, "cost_to_serve");

    // Pareto: the top 20% hold ~80% of revenue.
    let mut sorted = revenue.clone();
    sorted.sort_by(|x, y| y.total_cmp(x));
    let top: f64 = sorted[..n / 5].iter().sum();
    let total: f64 = sorted.iter().sum();
    let top_share = top / total;
    assert!(
        (0.70..=0.90).contains(&top_share),
        "top 20% hold {top_share}"
    );
    assert!(revenue
        .iter()
        .all(|r| *r >= 0.0 && (r * 100.0).round() / 100.0 == *r));

    // Dates and lapsing.
    let lapsed: Vec<bool> = last.iter().map(|d| AS_OF - d > YEAR).collect();
    let lapsed_share = share(lapsed.iter().filter(|l| **l).count(), n);
    assert!(
        (0.10..=0.20).contains(&lapsed_share),
        "lapsed {lapsed_share}"
    );
    let recent = last.iter().filter(|d| AS_OF - **d <= 90).count();
    assert!(share(recent, n - lapsed.iter().filter(|l| **l).count()) > 0.7);
    for i in 0..n {
        assert!((SINCE_MIN..=SINCE_MAX).contains(&since[i]));
        assert!(since[i] <= last[i] && last[i] <= AS_OF);
        if lapsed[i] {
            assert_eq!((orders[i], revenue[i]), (0, 0.0));
        } else {
            assert!(orders[i] >= 1);
        }
    }
    let recent_cohort = since.iter().filter(|s| **s >= SINCE_MAX - 5 * YEAR).count();
    assert!(
        share(recent_cohort, n) > 0.5,
        "recent customers are more common"
    );

    // revenue_history: 4 years, the last one is revenue_12m, null before customer_since.
    let history = b["revenue_history"].as_list::<i32>();
    for i in 0..n {
        let years = history.value(i);
        let years = years.as_primitive::<Float64Type>();
        assert_eq!(years.len(), 4);
        assert_eq!(years.value(3), revenue[i]);
        for j in 0..4 {
            let end = AS_OF - (3 - j as i32) * YEAR;
            assert_eq!(years.is_null(j), since[i] >= end);
        }
    }

    // Cost to serve exceeds gross margin for 15–30% of active customers.
    let active: Vec<usize> = (0..n).filter(|i| !lapsed[*i]).collect();
    let losing = active
        .iter()
        .filter(|i| cost[**i] > revenue[**i] * margin[**i])
        .count();
    let losing_share = share(losing, active.len());
    assert!(
        (0.15..=0.30).contains(&losing_share),
        "losing {losing_share}"
    );
    assert!(margin.iter().all(|m| (0.05..=0.55).contains(m)));

    let bad_debt = b["bad_debt"].as_boolean();
    let bad_debt_share = share(bad_debt.true_count(), n);
    assert!(
        (0.02..=0.04).contains(&bad_debt_share),
        "bad debt {bad_debt_share}"
    );
    let amount = f64s(&b, "bad_debt_amount");
    for (i, a) in amount.iter().enumerate() {
        assert_eq!(*a > 0.0, bad_debt.value(i));
    }
    let litigation = share(b["litigation"].as_boolean().true_count(), n);
    assert!(
        (0.004..=0.01).contains(&litigation),
        "litigation {litigation}"
    );

    let referrals = i64s(&b, "referrals");
    let advocates = share(referrals.iter().filter(|r| **r >= 5).count(), n);
    assert!((0.04..=0.06).contains(&advocates), "advocates {advocates}");
    assert!(share(referrals.iter().filter(|r| **r == 0).count(), n) > 0.5);
    assert!(referrals.iter().all(|r| (0..=10).contains(r)));

    for (name, target) in [
        ("product_pull", 0.35),
        ("brand_contribution", 0.35),
        ("innovation", 0.40),
    ] {
        let ratings = b[name].as_primitive::<Int64Type>();
        let nulls = share(ratings.null_count(), n);
        assert!((nulls - target).abs() <= 0.05, "{name} null share {nulls}");
        assert!(ratings.iter().flatten().all(|r| (1..=5).contains(&r)));
    }
    // product_pull follows revenue: rated 4–5 customers are bigger on average.
    let pull = b["product_pull"].as_primitive::<Int64Type>();
    let mean_revenue = |keep: fn(i64) -> bool| {
        let picked: Vec<f64> = (0..n)
            .filter(|i| pull.is_valid(*i) && keep(pull.value(*i)))
            .map(|i| revenue[i])
            .collect();
        picked.iter().sum::<f64>() / picked.len() as f64
    };
    assert!(mean_revenue(|r| r >= 4) > 2.0 * mean_revenue(|r| r <= 2));
}

#[test]
fn write_parquet_round_trips_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/customers.parquet");
    let o = opts(70_000, 5);
    assert_eq!(write_parquet(&o, &out, false).unwrap(), 70_000);

    let file = File::open(&out).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let groups: Vec<_> = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(groups, [30_000, 30_000, 10_000]);
    let read: Vec<_> = reader.build().unwrap().map(Result::unwrap).collect();
    assert_eq!(read[0].schema(), schema());
    assert_eq!(
        concat_batches(&schema(), &read).unwrap(),
        generate(70_000, 5)
    );

    let again = dir.path().join("again.parquet");
    write_parquet(&o, &again, false).unwrap();
    assert_eq!(fs::read(&out).unwrap(), fs::read(&again).unwrap());
    // Overwriting an existing file needs `replace`, and leaves no temporary behind.
    assert!(matches!(
        write_parquet(&opts(10, 5), &again, false),
        Err(SynthError::Exists { .. })
    ));
    write_parquet(&opts(10, 5), &again, true).unwrap();
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["again.parquet", "nested"]);
}

#[test]
fn write_parquet_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    let bad = |o: SynthOptions| write_parquet(&o, &out, false).unwrap_err();
    assert!(matches!(bad(opts(0, 1)), SynthError::ZeroRows));
    let mut o = opts(10, 1);
    o.row_group_size = 0;
    assert!(matches!(bad(o), SynthError::ZeroRowGroupSize));
    assert!(matches!(
        bad(opts(MAX_ROWS + 1, 1)),
        SynthError::TooManyRows { rows, max: MAX_ROWS } if rows == MAX_ROWS + 1
    ));

    // Parent "directory" is a file.
    let blocker = dir.path().join("file");
    fs::write(&blocker, "x").unwrap();
    let err = write_parquet(&opts(10, 1), &blocker.join("out.parquet"), false).unwrap_err();
    assert!(matches!(&err, SynthError::CreateDir { path, .. } if *path == blocker));
    assert!(
        err.to_string().contains(&*blocker.to_string_lossy()),
        "{err}"
    );

    // Output is a directory or a FIFO: refused, even with `replace`.
    let taken = dir.path().join("taken");
    fs::create_dir(&taken).unwrap();
    let err = write_parquet(&opts(10, 1), &taken, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is a directory, not a regular file; refusing to replace it",
            taken.display()
        )
    );
    let fifo = dir.path().join("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let err = write_parquet(&opts(10, 1), &fifo, true).unwrap_err();
    assert!(
        matches!(&err, SynthError::NotAFile { kind: "a FIFO", .. }),
        "{err}"
    );

    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["fifo", "file", "taken"],
        "no output, no temporaries"
    );
}
