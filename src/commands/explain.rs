//! `tierscore explain` — one customer, factor by factor.
//!
//! ```text
//! tierscore explain pipelines/customer_value.yaml --id C00000042
//! tierscore explain pipelines/customer_value.yaml --id C00000042 --format json
//! ```
//!
//! Finds the customer (skipping row groups whose id statistics rule it out), scores it with the
//! same plan `run` builds, and prints for each factor the inputs it read with their values, its
//! value, weight, weighted contribution and reason; then the score, the tier rule that matched
//! and how far the score is from the next tier up.

use std::path::PathBuf;

use arrow::array::ArrayRef;
use serde_json::{json, Value};

use super::{CommandError, Format, Ui};
use crate::exec::{worker_pool, Passes, RejectBudget};
use crate::human::{number, percent};
use crate::pipeline::Pipeline;
use crate::pipeline::TierLevel;
use crate::plan::Plan;
use crate::rules::cells::{CellValue, ColumnReader};
use crate::rules::dates::{Date, Timestamp};
use crate::rules::EngineChoice;
use crate::score::Breakdown;
use crate::source::{Found, Scan, Source};

/// Arguments of `tierscore explain`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tierscore explain pipelines/customer_value.yaml --id C00000042
  tierscore explain pipelines/customer_value.yaml --id C00000042 --set as_of=2026-12-01 --format json")]
pub struct ExplainArgs {
    /// The pipeline YAML file.
    pub pipeline: PathBuf,
    /// The customer's id, as the id column reads (numbers as digits).
    #[arg(long, allow_negative_numbers = true)]
    pub id: String,
    /// Override a param: --set KEY=VALUE; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// `json` prints one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Which engine runs the rules: compiled where possible (`auto`), or every rule on one.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
}

/// Why a customer could not be explained.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("no customer with {column} = {id:?} in the input's {files} file(s) and {row_groups} row group(s)")]
#[diagnostic(
    code(explain::not_found),
    help("ids are matched as text; check the id, or the input.path of the pipeline")
)]
pub struct NotFound {
    pub column: String,
    pub id: String,
    pub files: usize,
    pub row_groups: usize,
}

/// Explains one customer.
pub fn execute(args: &ExplainArgs, _ui: Ui) -> Result<(), CommandError> {
    explained(args, |file, found, breakdown, levels| match args.format {
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&to_json(args, file, found, breakdown, levels))
                .unwrap_or_default()
        ),
        Format::Text => print_text(args, file, found, breakdown, levels),
    })
}

/// The document `explain --format json` prints (the Python package's `explain` returns it).
pub fn json(args: &ExplainArgs) -> Result<Value, CommandError> {
    explained(args, |file, found, breakdown, levels| {
        to_json(args, file, found, breakdown, levels)
    })
}

/// Finds and scores the customer, and hands `show` its file, where it was found, its
/// breakdown and the tier levels.
fn explained<T>(
    args: &ExplainArgs,
    show: impl FnOnce(&str, &Found, &Breakdown, &[TierLevel]) -> T,
) -> Result<T, CommandError> {
    let mut pipeline = Pipeline::load(&args.pipeline)?;
    pipeline.set_params(&args.set)?;
    let source = Source::open(&pipeline.input.path, &pipeline.input.rename)?;
    let (plan, _warnings) = Plan::build(&pipeline, &source, args.engine)?;
    let found = source
        .find(&pipeline.input.id, &args.id, &plan.read_columns)?
        .ok_or_else(|| NotFound {
            column: pipeline.input.id.clone(),
            id: args.id.clone(),
            files: source.files().len(),
            row_groups: source.files().iter().map(|f| f.row_groups).sum(),
        })?;
    let passes = Passes::compute(
        &pipeline,
        &plan,
        &Scan::all(&source),
        &RejectBudget::unlimited(),
        &indicatif::ProgressBar::hidden(),
        &worker_pool(std::thread::available_parallelism().map_or(1, usize::from))?,
    )?;
    let position = source.position(found.row.file, found.row.first_row) as usize;
    let (row, ranked) = passes.prepare(&found.row.batch, position)?;
    let breakdown = plan.scorer.breakdown(&row, &ranked);
    let file = source.files()[found.row.file].path.display().to_string();
    Ok(show(&file, &found, &breakdown, plan.scorer.tiers.levels()))
}

fn print_text(args: &ExplainArgs, file: &str, found: &Found, e: &Breakdown, levels: &[TierLevel]) {
    say!(
        "customer {} ({file}, row {}; read {} of {} row groups)\n",
        args.id,
        found.row.first_row,
        found.row_groups_read,
        found.row_groups_total
    );
    let width = e
        .factors
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    for factor in &e.factors {
        // A rejected row keeps no factor value: only the step that failed failed.
        let missing = match &e.reject {
            Some(reject) if reject.step != factor.name => "(not kept: the row was rejected)",
            _ => "(failed)",
        };
        let value = factor.value.map_or(missing.to_string(), number);
        let weighed = match (factor.weight, factor.contribution) {
            (Some(w), Some(c)) => format!("  x {} = {}", number(w), number(c)),
            (Some(w), None) => format!("  (weight {})", number(w)),
            _ => String::new(),
        };
        say!("{:<width$} = {value}{weighed}", factor.name);
        for (i, (name, input)) in factor.inputs.iter().enumerate() {
            let label = if i == 0 { "reads" } else { "" };
            say!("  {label:<6} {name} = {}", Shown::of(input).text());
        }
        if let Some(reason) = &factor.reason {
            say!("  reason {reason}");
        }
    }
    if let Some(reject) = &e.reject {
        say!("\nrejected by {}: {}", reject.step, reject.message);
        return;
    }
    let how = if e.weighted_sum {
        "weighted sum of the contributions"
    } else {
        "from the score script"
    };
    if let (Some(score), Some(tier)) = (e.score, e.tier) {
        say!("\n{:<width$} = {}  ({how})", "score", number(score));
        let level = &levels[tier];
        let bounded = levels
            .iter()
            .any(|l| l.min.is_some() || l.top.is_some() || l.upto.is_some());
        let whole_run = levels.iter().any(|l| l.top.is_some() || l.upto.is_some());
        let rule = match (level.min, level.top, level.upto) {
            (Some(min), ..) => format!("score >= {}", number(min)),
            (_, Some(top), _) => format!("among the top {} of customers by score", percent(top)),
            (.., Some(upto)) => format!("cumulative share up to {}", percent(upto)),
            _ if bounded => "the catch-all level".into(),
            // One level and no bounds: every row's, whether a tier script names it or not.
            _ if levels.len() == 1 => "the only level".into(),
            _ => "named by the tier script".into(),
        };
        say!("{:<width$} = {}  ({rule})", "tier", level.name);
        match next_up(levels, tier, score) {
            Some((name, min, gap)) => say!(
                "{:<width$}   {} below {name} (min {})",
                "",
                number(gap),
                number(min)
            ),
            None if tier == 0 && bounded => say!("{:<width$}   the top tier", ""),
            None if whole_run => say!(
                "{:<width$}   tiers above depend on every customer; see tier_cutoffs in the run's _manifest.json",
                ""
            ),
            None => {}
        }
    }
}

/// The next tier up, its `min`, and how far below it the score is.
fn next_up(levels: &[TierLevel], tier: usize, score: f64) -> Option<(&str, f64, f64)> {
    let above = levels.get(tier.checked_sub(1)?)?;
    let min = above.min?;
    Some((above.name.as_str(), min, min - score))
}

fn to_json(
    args: &ExplainArgs,
    file: &str,
    found: &Found,
    e: &Breakdown,
    levels: &[TierLevel],
) -> Value {
    let factors: Vec<Value> = e
        .factors
        .iter()
        .map(|f| {
            let inputs: serde_json::Map<String, Value> = f
                .inputs
                .iter()
                .map(|(name, value)| (name.clone(), Shown::of(value).json()))
                .collect();
            json!({
                "name": f.name,
                "inputs": inputs,
                "value": f.value,
                "weight": f.weight,
                "contribution": f.contribution,
                "reason": f.reason,
            })
        })
        .collect();
    let tier = e.tier.map(|t| {
        let next = e
            .score
            .and_then(|s| next_up(levels, t, s))
            .map(|(name, min, gap)| json!({"name": name, "min": min, "gap": gap}));
        json!({"name": levels[t].name, "min": levels[t].min, "next_up": next})
    });
    json!({
        "id": args.id,
        "source_file": file,
        "row_number": found.row.first_row,
        "row_groups_read": found.row_groups_read,
        "row_groups_total": found.row_groups_total,
        "factors": factors,
        "score": e.score,
        "combine": if e.weighted_sum { "weighted_sum" } else { "script" },
        "tier": tier,
        "rejected": e.reject.as_ref().map(|r| json!({"factor": r.step, "message": r.message})),
    })
}

/// One input value as a script saw it, read from its Arrow cell.
#[derive(Debug, Clone)]
enum Shown {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Date(Date),
    Timestamp(Timestamp),
    Array(Vec<Shown>),
    Map(Vec<(String, Shown)>),
}

impl CellValue<'_> for Shown {
    fn unit() -> Self {
        Shown::Unit
    }
    fn bool(value: bool) -> Self {
        Shown::Bool(value)
    }
    fn int(value: i64) -> Self {
        Shown::Int(value)
    }
    fn float(value: f64) -> Self {
        Shown::Float(value)
    }
    fn string(value: &str) -> Self {
        Shown::Str(value.to_string())
    }
    fn date(value: Date) -> Self {
        Shown::Date(value)
    }
    fn timestamp(value: Timestamp) -> Self {
        Shown::Timestamp(value)
    }
    fn array(items: Vec<Self>) -> Self {
        Shown::Array(items)
    }
    fn map(fields: Vec<(&str, Self)>) -> Self {
        Shown::Map(
            fields
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
        )
    }
}

impl Shown {
    /// The value in a one-row array (null if scripts cannot read its type).
    fn of(cell: &ArrayRef) -> Self {
        ColumnReader::<Shown>::new(cell.as_ref()).map_or(Shown::Unit, |reader| reader.value(0))
    }

    /// As people read it: strings quoted, dates as `2026-11-01`, null as `()`.
    fn text(&self) -> String {
        match self {
            Shown::Unit => "() (null)".into(),
            Shown::Bool(b) => b.to_string(),
            Shown::Int(i) => i.to_string(),
            Shown::Float(f) => number(*f),
            Shown::Str(s) => format!("{s:?}"),
            Shown::Date(d) => d.to_string(),
            Shown::Timestamp(t) => t.to_string(),
            Shown::Array(items) => {
                let items: Vec<String> = items.iter().map(Shown::text).collect();
                format!("[{}]", items.join(", "))
            }
            Shown::Map(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name:?}: {}", value.text()))
                    .collect();
                format!("#{{{}}}", fields.join(", "))
            }
        }
    }

    /// As JSON: numbers, booleans, strings, arrays and maps as themselves, dates and timestamps
    /// as their text, null as null.
    fn json(&self) -> Value {
        match self {
            Shown::Unit => Value::Null,
            Shown::Bool(b) => json!(b),
            Shown::Int(i) => json!(i),
            Shown::Float(f) => json!(f),
            Shown::Str(s) => json!(s),
            Shown::Date(d) => json!(d.to_string()),
            Shown::Timestamp(t) => json!(t.to_string()),
            Shown::Array(items) => Value::Array(items.iter().map(Shown::json).collect()),
            Shown::Map(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(name, value)| (name.clone(), value.json()))
                    .collect(),
            ),
        }
    }
}
