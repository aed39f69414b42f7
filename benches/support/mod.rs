//! What the benchmarks share: a pipeline loaded the way `tierscore run` loads it.

use std::path::Path;

use tierscore::derive::Population;
use tierscore::pipeline::Pipeline;
use tierscore::plan::Plan;
use tierscore::rules::EngineChoice;
use tierscore::source::{Scan, Source};

/// A pipeline with its input opened, its plan built and its derive columns computed.
// Each benchmark binary compiles this module and uses only some of the fields.
#[allow(dead_code)]
pub struct Loaded {
    pub pipeline: Pipeline,
    pub source: Source,
    pub plan: Plan,
    pub population: Population,
}

/// Loads `path` as `tierscore run --engine ENGINE` does; panics with the problems if it does
/// not check.
pub fn load(path: &Path, engine: EngineChoice) -> Loaded {
    let pipeline = Pipeline::load(path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let source = Source::open(&pipeline.input.path, &pipeline.input.rename)
        .unwrap_or_else(|e| panic!("{}: {e:?}", pipeline.input.path.display()));
    let (plan, _warnings) = Plan::build(&pipeline, &source, engine)
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let population = Population::compute(
        &pipeline.derive,
        &Scan::all(&source),
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap_or_else(|e| panic!("derive: {e:?}"));
    Loaded {
        pipeline,
        source,
        plan,
        population,
    }
}

/// Every row of a batch of `rows` rows: the selection of a rule evaluated on all of them.
pub fn all_rows(rows: usize) -> Vec<u32> {
    (0..rows as u32).collect()
}
