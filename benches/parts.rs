//! Micro-benchmarks of the parts of `tierscore run` on the shipped example
//! (`pipelines/customer_value.yaml`): each factor script per row, Arrow-to-rhai conversion,
//! Parquet decode, and Parquet encode with the atomic commit.
//!
//! Run: cargo bench --bench parts        (one thread each; divan prints medians per row)
//!
//! The rows are 32,768 generated customers (`tierscore gen` with seed 42), one batch of
//! `tierscore run`, written to a temporary file when the benchmarks start.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use arrow::array::RecordBatch;
use divan::counter::ItemsCount;
use divan::Bencher;
use tempfile::TempDir;
use tierscore::commands::run::BATCH_ROWS;
use tierscore::rules::convert::ColumnReader;
use tierscore::rules::outcome::factor_value;
use tierscore::rules::RowEvaluator;
use tierscore::sink::writer::properties;
use tierscore::sink::{OutputWriter, RejectWriter, Staging};
use tierscore::source::Source;
use tierscore::synth::{write_parquet, SynthOptions};

fn main() {
    divan::main();
}

/// The shipped pipeline, a generated input of one batch, and that batch decoded.
struct Fixture {
    loaded: support::Loaded,
    _dir: TempDir,
    input: PathBuf,
    batch: RecordBatch,
    /// The batch scored and laid out as output rows, with their tier indexes.
    output: (RecordBatch, Vec<usize>),
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let loaded = support::load(Path::new("pipelines/customer_value.yaml"));
        let dir = tempfile::tempdir().expect("a temporary directory");
        let input = dir.path().join("customers.parquet");
        let options = SynthOptions {
            rows: BATCH_ROWS as u64,
            seed: 42,
            row_group_size: BATCH_ROWS,
        };
        write_parquet(&options, &input).expect("generated customers");
        let batch = decode(&loaded, &input).remove(0);
        let scored = loaded.plan.scorer.score(&batch);
        let output = loaded.plan.layout.build(&batch, &scored).expect("layout");
        Fixture {
            loaded,
            _dir: dir,
            input,
            batch,
            output,
        }
    })
}

fn decode(loaded: &support::Loaded, input: &Path) -> Vec<RecordBatch> {
    let source = Source::open(input, &loaded.pipeline.input.rename).expect("the input opens");
    source
        .batches(&loaded.plan.read_columns, BATCH_ROWS, None, None)
        .map(|b| b.expect("the input decodes").batch)
        .collect()
}

/// One factor script of the shipped example over every row of the batch, on one thread,
/// with its inputs already rhai values (the scripts alone).
#[divan::bench(args = ["economic", "margin", "risk", "loyalty", "referral", "strategic"])]
fn script_per_row(bencher: Bencher, factor: &str) {
    let fixture = fixture();
    let scorer = &fixture.loaded.plan.scorer;
    let step = scorer
        .factors
        .iter()
        .find(|f| f.rule.name == factor)
        .expect("a shipped factor");
    let context = &scorer.context;
    bencher
        .counter(ItemsCount::new(fixture.batch.num_rows()))
        .with_inputs(|| support::row_values(&step.rule, &fixture.batch))
        .bench_local_values(|rows| {
            let mut evaluator = RowEvaluator::new(&step.rule, &context.engine, &context.params);
            rows.into_iter()
                .map(|row| {
                    // A rule failing on a generated row is a broken benchmark, not a
                    // number to time: fail (the smoke run in CI then fails too).
                    evaluator
                        .eval(row)
                        .and_then(factor_value)
                        .map(|v| v.value)
                        .unwrap_or_else(|err| panic!("{factor} failed on a row: {err}"))
                })
                .collect::<Vec<_>>()
        });
}

/// Every column the shipped rules read, converted from Arrow to rhai values for every row
/// (per factor, as the engine does).
#[divan::bench]
fn arrow_to_rhai(bencher: Bencher) {
    let fixture = fixture();
    let batch = &fixture.batch;
    bencher
        .counter(ItemsCount::new(batch.num_rows()))
        .bench_local(|| {
            let mut values = 0;
            for step in &fixture.loaded.plan.scorer.factors {
                for (name, _) in &step.rule.reads {
                    let column = batch.column_by_name(name).expect("a read column");
                    let reader = ColumnReader::new(column.as_ref()).expect("readable");
                    for row in 0..batch.num_rows() {
                        values += usize::from(!divan::black_box(reader.value(row)).is_unit());
                    }
                }
            }
            values
        });
}

/// The columns the plan reads, decoded from the zstd Parquet input.
#[divan::bench]
fn parquet_decode(bencher: Bencher) {
    let fixture = fixture();
    bencher
        .counter(ItemsCount::new(fixture.batch.num_rows()))
        .bench_local(|| decode(&fixture.loaded, &fixture.input));
}

/// The scored batch written as tier-partitioned zstd Parquet into a staging directory, with an
/// empty rejects file, then committed over the previous output (the atomic swap).
#[divan::bench]
fn parquet_encode_and_commit(bencher: Bencher) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let fixture = fixture();
    let loaded = &fixture.loaded;
    let (rows, tiers) = &fixture.output;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let target = dir.path().join("out");
    let tier_names: Vec<String> = loaded
        .plan
        .scorer
        .tiers
        .levels()
        .iter()
        .map(|l| l.name.clone())
        .collect();
    bencher
        .counter(ItemsCount::new(rows.num_rows()))
        .bench_local(|| {
            let run_id = format!("bench-{}", RUNS.fetch_add(1, Ordering::Relaxed));
            let staging = Staging::prepare(&target, &run_id).expect("staging");
            let props = properties(vec![("tierscore.run_id".into(), run_id)]);
            let mut output = OutputWriter::new(
                staging.dir(),
                loaded.pipeline.output.partition_by,
                tier_names.clone(),
                loaded.plan.layout.schema().clone(),
                props.clone(),
            );
            output.write(rows, tiers).expect("write");
            output.finish().expect("finish");
            RejectWriter::create(staging.dir(), &loaded.plan.id_field, &props)
                .and_then(RejectWriter::finish)
                .expect("rejects");
            std::fs::write(
                staging.dir().join("_manifest.json"),
                r#"{"tool":"tierscore"}"#,
            )
            .expect("manifest");
            staging.commit().expect("commit");
        });
}
