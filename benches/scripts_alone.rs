//! The rules of a pipeline evaluated alone, on batches already decoded in memory.
//!
//! Usage: cargo bench --bench scripts_alone -- [PIPELINE] [--threads N] [--engine E]
//! (PIPELINE defaults to the shipped `pipelines/customer_value.yaml`, E to `auto`)
//!
//! It reads the pipeline's input in the batches `tierscore run` reads, attaches the derive
//! columns, and only then starts the clock: what is timed is each factor rule (and a score
//! script) evaluated over every row of each batch through the rule interface, with the run's
//! worker pool (for interpreted rules this includes reading the Arrow cells as script values).
//! Decoding, tiers and writing are left out, so `bench/compare.sh` can tell what they add to
//! `tierscore run` on the same rows. A tier script is not timed, and rows are not skipped after
//! a failure; a rule that fails a row stops the benchmark (generated customers have none).
//!
//! The last line is machine-readable: `scripts_alone rows=N seconds=S threads=T`.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use clap::ValueEnum;
use tierscore::rules::{EngineChoice, Reasons, Rule, RuleOutput};
use tierscore::score::{with_column, CombineStep};
use tierscore::source::Scan;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut pipeline = PathBuf::from("pipelines/customer_value.yaml");
    let mut threads = None;
    let mut engine = EngineChoice::Auto;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = args.next().and_then(|n| n.parse::<usize>().ok()),
            "--engine" => {
                engine = args
                    .next()
                    .and_then(|e| EngineChoice::from_str(&e, true).ok())
                    .expect("--engine auto|compiled|interpreted")
            }
            // What cargo passes to benchmarks and tests.
            "--bench" | "--test" => {}
            path => pipeline = PathBuf::from(path),
        }
    }
    let loaded = support::load(&pipeline, engine);
    let scorer = &loaded.plan.scorer;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .expect("a worker pool");

    let mut timed = Duration::ZERO;
    // Each factor's share of `timed`, in pipeline order (the score script's last).
    let mut by_rule = vec![Duration::ZERO; scorer.factors.len() + 1];
    let mut rows = 0;
    for batch in Scan::all(&loaded.source).batches(&loaded.plan.read_columns) {
        let batch = batch.expect("the input decodes");
        let mut batch = loaded
            .population
            .attach(&batch.batch, rows)
            .expect("derive columns attach");
        rows += batch.num_rows();
        for (step, spent) in scorer.factors.iter().zip(&mut by_rule) {
            let (output, seconds) = pool.install(|| evaluate(step.rule.as_ref(), &batch));
            timed += seconds;
            *spent += seconds;
            batch = with_column(&batch, step.name(), output.values);
        }
        if let CombineStep::Script(rule) = &scorer.combine {
            let (_, seconds) = pool.install(|| evaluate(rule.as_ref(), &batch));
            timed += seconds;
            by_rule[scorer.factors.len()] += seconds;
        }
    }
    let seconds = timed.as_secs_f64();
    let per_row = |spent: Duration| spent.as_secs_f64() * 1e9 / rows.max(1) as f64;
    for (step, &spent) in scorer.factors.iter().zip(&by_rule) {
        println!("{}: {:.1} ns a row", step.name(), per_row(spent));
    }
    if matches!(scorer.combine, CombineStep::Script(_)) {
        println!(
            "score script: {:.1} ns a row",
            per_row(by_rule[scorer.factors.len()])
        );
    }
    for step in &scorer.factors {
        let interpreted = step.rule.rows_interpreted();
        if interpreted > 0 {
            println!(
                "{}: {interpreted} rows handed to the interpreter ({})",
                step.name(),
                step.rule.engine()
            );
        }
    }
    println!(
        "{}: {rows} rows, scripts alone {seconds:.3} s ({:.0} rows/s)",
        pipeline.display(),
        rows as f64 / seconds
    );
    println!(
        "scripts_alone rows={rows} seconds={seconds:.3} threads={} engine={engine:?}",
        pool.current_num_threads()
    );
}

/// Times evaluating `rule` on every row of `batch`; fails on a row the rule rejects, so a
/// broken rule cannot look fast.
fn evaluate(rule: &dyn Rule, batch: &RecordBatch) -> (RuleOutput, Duration) {
    let selection = support::all_rows(batch.num_rows());
    let clock = Instant::now();
    let output = rule.evaluate(batch, &selection, Reasons::Keep);
    let elapsed = clock.elapsed();
    if let Some(failure) = output.failures.first() {
        panic!(
            "{}: row {} failed: {}",
            rule.info().name,
            failure.row,
            failure.message
        );
    }
    (output, elapsed)
}
