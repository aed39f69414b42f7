//! The rules of a pipeline evaluated alone, on rows already in memory as rhai values.
//!
//! Usage: cargo bench --bench scripts_alone -- [PIPELINE] [--threads N]
//! (PIPELINE defaults to the shipped `pipelines/customer_value.yaml`)
//!
//! It reads the pipeline's input in the batches `tierscore run` reads, converts each rule's
//! inputs to rhai values, and only then starts the clock: what is timed is each factor script
//! (and a score script) evaluated over every row with the run's worker pool and chunking, and
//! its value read as a number. Decoding, Arrow-to-rhai conversion, tiers and writing are left
//! out, so `bench/compare.sh` can tell what they add to `tierscore run` on the same rows.
//! A tier script is not timed. A rule failing on any row fails the benchmark (generated
//! customers make none fail), so the smoke run in CI catches a broken rule.
//!
//! The last line is machine-readable: `scripts_alone rows=N seconds=S threads=T`.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Float64Array, RecordBatch};
use rayon::prelude::*;
use rhai::Dynamic;
use tierscore::commands::run::BATCH_ROWS;
use tierscore::rules::eval::CHUNK_ROWS;
use tierscore::rules::outcome::{factor_value, number};
use tierscore::rules::{CompiledRule, RowEvaluator, RuleContext};
use tierscore::score::{with_column, CombineStep};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut pipeline = PathBuf::from("pipelines/customer_value.yaml");
    let mut threads = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = args.next().and_then(|n| n.parse::<usize>().ok()),
            // What cargo passes to benchmarks and tests.
            "--bench" | "--test" => {}
            path => pipeline = PathBuf::from(path),
        }
    }
    let loaded = support::load(&pipeline);
    let scorer = &loaded.plan.scorer;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .expect("a worker pool");

    let mut timed = Duration::ZERO;
    let mut rows = 0;
    for batch in loaded
        .source
        .batches(&loaded.plan.read_columns, BATCH_ROWS, None, None)
    {
        let batch = batch.expect("the input decodes");
        let mut batch = loaded
            .population
            .attach(&batch.batch, rows)
            .expect("derive columns attach");
        rows += batch.num_rows();
        for step in &scorer.factors {
            let (values, seconds) = pool.install(|| {
                evaluate(&step.rule, &scorer.context, &batch, |v| {
                    factor_value(v).map(|f| f.value)
                })
            });
            timed += seconds;
            batch = with_column(
                &batch,
                &step.rule.name,
                Arc::new(Float64Array::from(values)),
            );
        }
        if let CombineStep::Script(rule) = &scorer.combine {
            let (_, seconds) = pool
                .install(|| evaluate(rule, &scorer.context, &batch, |v| number(v, "the score")));
            timed += seconds;
        }
    }
    let seconds = timed.as_secs_f64();
    println!(
        "{}: {rows} rows, scripts alone {seconds:.3} s ({:.0} rows/s)",
        pipeline.display(),
        rows as f64 / seconds
    );
    println!(
        "scripts_alone rows={rows} seconds={seconds:.3} threads={}",
        pool.current_num_threads()
    );
}

/// Converts the rule's inputs (not timed), then times evaluating it on every row.
fn evaluate(
    rule: &CompiledRule,
    context: &RuleContext,
    batch: &RecordBatch,
    read: impl Fn(Dynamic) -> Result<f64, String> + Sync,
) -> (Vec<Option<f64>>, Duration) {
    let mut inputs = support::row_values(rule, batch);
    let clock = Instant::now();
    let values: Vec<Option<f64>> = inputs
        .par_chunks_mut(CHUNK_ROWS)
        .flat_map_iter(|chunk| {
            let mut evaluator = RowEvaluator::new(rule, &context.engine, &context.params);
            chunk
                .iter_mut()
                .map(|row| {
                    // Generated customers make no rule fail; a failure is a broken benchmark.
                    let value = evaluator.eval(std::mem::take(row)).and_then(&read);
                    Some(value.unwrap_or_else(|err| panic!("{} failed on a row: {err}", rule.name)))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    (values, clock.elapsed())
}
