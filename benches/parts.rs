//! Micro-benchmarks of the parts of `tierscore run` on the shipped example
//! (`pipelines/customer_value.yaml`): each factor rule over a batch, Parquet decode, and Parquet
//! encode with the atomic commit.
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
use tierscore::rules::EngineChoice;
use tierscore::score::with_column;
use tierscore::sink::writer::properties;
use tierscore::sink::{OutputWriter, RejectWriter, Staging};
use tierscore::source::BATCH_ROWS;
use tierscore::source::{Scan, Source};
use tierscore::synth::{write_parquet, SynthOptions};

fn main() {
    divan::main();
}

/// The shipped pipeline, a generated input of one batch, and that batch decoded.
struct Fixture {
    /// The pipeline as `run` builds it (compiled rules).
    loaded: support::Loaded,
    /// The same pipeline with every rule on the interpreter.
    interpreted: support::Loaded,
    _dir: TempDir,
    input: PathBuf,
    batch: RecordBatch,
    /// The batch scored and laid out as output rows, with their tier indexes.
    output: (RecordBatch, Vec<usize>),
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let loaded = support::load(
            Path::new("pipelines/customer_value.yaml"),
            EngineChoice::Auto,
        );
        let interpreted = support::load(
            Path::new("pipelines/customer_value.yaml"),
            EngineChoice::Interpreted,
        );
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
            interpreted,
            _dir: dir,
            input,
            batch,
            output,
        }
    })
}

fn decode(loaded: &support::Loaded, input: &Path) -> Vec<RecordBatch> {
    let source = Source::open(input, &loaded.pipeline.input.rename).expect("the input opens");
    Scan::all(&source)
        .batches(&loaded.plan.read_columns)
        .map(|b| b.expect("the input decodes").batch)
        .collect()
}

/// One compiled factor rule of the shipped example over every row of the batch, on one thread
/// (its inputs and the factors before it already in the batch).
#[divan::bench(args = ["economic", "margin", "risk", "loyalty", "referral", "strategic"])]
fn compiled_rule_per_row(bencher: Bencher, factor: &str) {
    rule_per_row(bencher, &fixture().loaded, factor);
}

/// The same rule on the interpreter (this includes reading the Arrow cells as rhai values).
#[divan::bench(args = ["economic", "margin", "risk", "loyalty", "referral", "strategic"])]
fn interpreted_rule_per_row(bencher: Bencher, factor: &str) {
    rule_per_row(bencher, &fixture().interpreted, factor);
}

/// Times one factor rule of `loaded` over the fixture's batch on one thread.
fn rule_per_row(bencher: Bencher, loaded: &support::Loaded, factor: &str) {
    let fixture = fixture();
    let scorer = &loaded.plan.scorer;
    let position = scorer
        .factors
        .iter()
        .position(|f| f.name() == factor)
        .expect("a shipped factor");
    // The factors before this one, as the scorer adds them.
    let mut batch = fixture.batch.clone();
    let selection = support::all_rows(batch.num_rows());
    for step in &scorer.factors[..position] {
        let output = step.rule.evaluate(&batch, &selection);
        batch = with_column(&batch, step.name(), output.values);
    }
    let rule = scorer.factors[position].rule.as_ref();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a worker pool");
    bencher
        .counter(ItemsCount::new(batch.num_rows()))
        .bench_local(|| {
            let output = pool.install(|| rule.evaluate(&batch, &selection));
            assert!(
                output.failures.is_empty(),
                "{factor}: {:?}",
                output.failures.first()
            );
            output
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
            let props = properties(
                vec![("tierscore.run_id".into(), run_id)],
                &loaded.plan.layout.distinct_columns(),
            );
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
