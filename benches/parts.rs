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

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch};
use divan::counter::ItemsCount;
use divan::Bencher;
use tempfile::TempDir;
use tierscore::pipeline::Pipeline;
use tierscore::report::whale::WhaleValues;
use tierscore::report::Counts;
use tierscore::rules::{EngineChoice, Reasons, Returns, RuleBuilder};
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
        write_parquet(&options, &input, false).expect("generated customers");
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
        let output = step.rule.evaluate(&batch, &selection, Reasons::Keep);
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
            let output = pool.install(|| rule.evaluate(&batch, &selection, Reasons::Keep));
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
    let target = tierscore::store::Location::Local(dir.path().join("out"));
    let tier_names = loaded.plan.scorer.tiers.names();
    bencher
        .counter(ItemsCount::new(rows.num_rows()))
        .bench_local(|| {
            let run_id = format!("bench-{}", RUNS.fetch_add(1, Ordering::Relaxed));
            let staging = Staging::prepare(&target, &run_id).expect("staging");
            let props = properties(
                vec![("tierscore.run_id".into(), run_id)],
                loaded.plan.layout.id_column(),
                &loaded.plan.layout.number_columns(),
                &loaded.plan.layout.free_text_columns(),
                loaded.pipeline.output.compression,
            );
            let chains = tierscore::sink::chain::Chains::new(true);
            let mut output = OutputWriter::new(
                staging.dir(),
                loaded.pipeline.output.partition_by,
                tier_names.clone(),
                loaded.plan.layout.schema().clone(),
                props.clone(),
                // Encoded on this thread, as the bench measures one thread's work.
                &chains,
            )
            .expect("output");
            output.write(rows, tiers, &chains.hold()).expect("write");
            let files = output.finish().expect("finish");
            RejectWriter::create(staging.dir(), &loaded.plan.id_field, &props)
                .and_then(RejectWriter::finish)
                .expect("rejects");
            bench_manifest(files)
                .write(staging.dir())
                .expect("manifest");
            staging.commit().expect("commit");
        });
}

/// A complete manifest listing `files`, so that the next round's commit finds the output ours
/// and replaces it (a partial one would be refused, as `run` refuses a directory it cannot
/// read as its own).
fn bench_manifest(files: Vec<tierscore::manifest::WrittenFile>) -> tierscore::manifest::Manifest {
    let phases = serde_json::json!({
        "plan": 0.0, "derive": 0.0, "rank": 0.0, "score_and_write": 0.0, "finish": 0.0
    });
    serde_json::from_value(serde_json::json!({
        "schema_version": tierscore::manifest::SCHEMA_VERSION, "tool": "tierscore",
        "tool_version": "bench", "run_id": "bench", "started_at": "", "finished_at": "",
        "pipeline": { "path": "p.yaml", "name": "p", "sha256": "" },
        "scripts": [], "rules": [], "rules_sha256": "", "params": {}, "inputs": [],
        "threads": 1, "rows": { "input": 0, "scored": 0, "rejected": 0 },
        "score": { "count": 0 }, "tiers": [], "factors": [], "derive": [], "normalization": [],
        "output": { "id": "id", "partition_by": "tier", "columns": [], "files": files,
                    "data_dir": tierscore::manifest::DATA_DIR,
                    "rejects_file": tierscore::manifest::REJECTS_FILE },
        "phases_seconds": phases,
    }))
    .expect("a complete manifest")
}

/// Rows of the threshold-factor benchmarks (a one-factor rule against a hand-written loop).
const THRESHOLD_ROWS: usize = 2_000_000;

/// 2M revenues spread over 0..200,000, and the selection of every row.
fn revenues() -> &'static (RecordBatch, Vec<u32>) {
    static REVENUES: OnceLock<(RecordBatch, Vec<u32>)> = OnceLock::new();
    REVENUES.get_or_init(|| {
        let revenue: Float64Array = (0..THRESHOLD_ROWS)
            .map(|i| (i as f64 * 7_919.0) % 200_000.0)
            .collect();
        let batch = RecordBatch::try_from_iter([("revenue", Arc::new(revenue) as ArrayRef)])
            .expect("a batch");
        (batch, support::all_rows(THRESHOLD_ROWS))
    })
}

/// The factor `if revenue > 100000.0 { 40.0 } else { revenue / 1000.0 }`, compiled, over 2M
/// rows on one thread, through the rule interface (what a run calls).
#[divan::bench]
fn threshold_factor_compiled(bencher: Bencher) {
    let yaml = r#"
version: 1
name: threshold
input: { path: x.parquet, id: id }
factors:
  - { name: value, expr: "if revenue > 100000.0 { 40.0 } else { revenue / 1000.0 }", weight: 1.0 }
tiers: { levels: [{ name: all }] }
output: { path: out }
"#;
    let pipeline = Pipeline::parse(Path::new("threshold.yaml"), yaml.to_string()).expect("parses");
    let factor = &pipeline.factors[0];
    let rule = RuleBuilder::new(&pipeline, EngineChoice::Compiled)
        .build(
            &pipeline,
            "value",
            &factor.rule,
            "factors[0].expr",
            &["revenue"],
            Returns::Factor,
        )
        .rule
        .expect("compiles");
    let (batch, selection) = revenues();
    bencher
        .counter(ItemsCount::new(THRESHOLD_ROWS))
        .bench_local(|| {
            let output = rule.evaluate(batch, selection, Reasons::Keep);
            assert!(output.failures.is_empty());
            output
        });
}

/// The same factor as a hand-written loop over the same column, into a Float64 array.
#[divan::bench]
fn threshold_factor_hand_written(bencher: Bencher) {
    let (batch, _) = revenues();
    let revenue = batch
        .column(0)
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("floats");
    bencher
        .counter(ItemsCount::new(THRESHOLD_ROWS))
        .bench_local(|| {
            let values: Float64Array = revenue
                .values()
                .iter()
                .map(|&r| if r > 100_000.0 { 40.0 } else { r / 1000.0 })
                .collect();
            values
        });
}

/// The run report's counting of the output batch (tier counts, exact sums, histograms, reasons
/// with their numbers masked, the whale curve's values): what a run does beside writing it.
#[divan::bench]
fn report_counting(bencher: Bencher) {
    let fixture = fixture();
    let loaded = &fixture.loaded;
    let (rows, tiers) = &fixture.output;
    let factors: Vec<String> = loaded
        .pipeline
        .factors
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let tier_count = loaded.plan.scorer.tiers.names().len();
    bencher
        .counter(ItemsCount::new(rows.num_rows()))
        .bench_local(|| {
            let mut counts = Counts::new(
                tier_count,
                factors.clone(),
                "margin".into(),
                tierscore::report::WhaleValues::with_capacity(rows.num_rows()),
            );
            counts.add_scored(rows, tiers).expect("counted");
            counts
        });
}

/// Values of the whale-curve benchmark: a 10M-row run has 10M.
const WHALE_VALUES: usize = 2_000_000;

/// The whale curve over 2M margin values (the output batch's margins, repeated, each copy
/// scaled a little apart): keeping them as they arrive, then the curve at the end (what is
/// left of the report after the rows are written).
#[divan::bench]
fn report_whale_curve(bencher: Bencher) {
    let (rows, _) = &fixture().output;
    let margins = rows
        .column_by_name("margin")
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .expect("a margin column");
    let values: Vec<f64> = (0..WHALE_VALUES)
        .map(|i| {
            let copy = (i / margins.len()) as f64;
            margins.value(i % margins.len()) * (1.0 + copy * 1e-9)
        })
        .collect();
    bencher
        .counter(ItemsCount::new(WHALE_VALUES))
        .bench_local(|| {
            let mut whale = WhaleValues::with_capacity(WHALE_VALUES);
            for batch in values.chunks(tierscore::source::BATCH_ROWS) {
                whale.extend(batch);
            }
            whale.curve()
        });
}
