//! What the benchmarks share: a pipeline loaded the way `tierscore run` loads it, and a
//! rule's input rows converted to rhai values ahead of time, so scripts can be timed alone.

use std::path::Path;

use arrow::array::RecordBatch;
use rhai::Dynamic;
use tierscore::derive::Population;
use tierscore::pipeline::Pipeline;
use tierscore::plan::Plan;
use tierscore::rules::CompiledRule;
use tierscore::source::Source;

/// A pipeline with its input opened, its plan built and its derive columns computed.
// Each benchmark binary compiles this module and uses only some of the fields.
#[allow(dead_code)]
pub struct Loaded {
    pub pipeline: Pipeline,
    pub source: Source,
    pub plan: Plan,
    pub population: Population,
}

/// Loads `path` as `tierscore run` does; panics with the problems if it does not check.
pub fn load(path: &Path) -> Loaded {
    let pipeline = Pipeline::load(path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let source = Source::open(&pipeline.input.path, &pipeline.input.rename)
        .unwrap_or_else(|e| panic!("{}: {e:?}", pipeline.input.path.display()));
    let (plan, _warnings) =
        Plan::build(&pipeline, &source).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let population = Population::compute(&pipeline.derive, &source, None, None)
        .unwrap_or_else(|e| panic!("derive: {e:?}"));
    Loaded {
        pipeline,
        source,
        plan,
        population,
    }
}

/// Every row's values of the names `rule` reads, in [`CompiledRule::reads`] order.
pub fn row_values(rule: &CompiledRule, batch: &RecordBatch) -> Vec<Vec<Dynamic>> {
    let readers = rule
        .readers(batch)
        .unwrap_or_else(|e| panic!("{}: {e}", rule.name));
    (0..batch.num_rows())
        .map(|row| readers.iter().map(|r| r.value(row)).collect())
        .collect()
}
