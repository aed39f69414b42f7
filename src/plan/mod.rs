//! Between stages 2 and 3: the plan, a pipeline checked against its input's schema and compiled,
//! ready to execute.
//!
//! Built before any row is read, from the pipeline and the Parquet footers only. Every name a
//! rule reads is resolved here (a column, a factor before it, or `params`), column types are
//! checked against what scripts can read, and the projection (the only columns decoded) and
//! the output schema are fixed. All problems are reported together.

mod checks;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use miette::Severity;
use sha2::{Digest, Sha256};

use crate::derive::Population;
use crate::diagnostic::codes;
use crate::diagnostic::suggest;
use crate::diagnostic::{FileProblem, Problems};
use crate::manifest::FileHash;
use crate::pipeline::{
    case_clash, written_column_like, Combine, PartitionBy, Pipeline, TierRule, RESERVED_NAMES,
};
use crate::rules::{EngineChoice, Reasons, Returns, RuleBuilder, RuleInfo, RuleText};
use crate::score::{CombineStep, FactorStep, Scorer};
use crate::sink::OutputLayout;
use crate::source::Source;
use crate::tiers::TierRules;

/// A checked, compiled pipeline.
pub struct Plan {
    pub scorer: Scorer,
    /// Input columns to decode (names after rename), in schema order.
    pub read_columns: Vec<String>,
    /// The input columns the ranking pass decodes: [`Plan::read_columns`] less the output's
    /// pass-through columns that no rule reads (they are only copied to the output).
    pub rank_columns: Vec<String>,
    pub layout: OutputLayout,
    /// The id column's field (name after rename, input type).
    pub id_field: Field,
    /// Every script file with its sha256.
    pub scripts: Vec<FileHash>,
    /// sha256 over the pipeline text and every script's text.
    pub rules_sha256: String,
    /// The columns a batch holds when scored: the input's (after rename), then the derives'.
    pub schema: SchemaRef,
}

impl Plan {
    /// Checks and compiles `pipeline` against the schema of `source`; fails on any error and
    /// returns the warnings with the plan. A run's scoring gathers the factors' reasons only
    /// when the output writes them.
    pub fn build(
        pipeline: &Pipeline,
        source: &Source,
        engine: EngineChoice,
    ) -> Result<(Self, Vec<FileProblem>), Problems> {
        let mut problems = Vec::new();
        match Self::build_collecting(pipeline, source, engine, &mut problems) {
            Some(plan) => Ok((plan, problems)),
            None => Err(Problems(problems)),
        }
    }

    /// Checks and compiles, adding every error and warning to `problems`; a plan comes back
    /// only when there is no error.
    pub fn build_collecting(
        pipeline: &Pipeline,
        source: &Source,
        engine: EngineChoice,
        problems: &mut Vec<FileProblem>,
    ) -> Option<Self> {
        let errors_before = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        let input_columns: Vec<&str> = source
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let schema = &run_schema(pipeline, source, problems);
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let file_columns: Vec<&str> = source
            .file_schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();

        for reserved in RESERVED_NAMES {
            if columns.contains(&reserved) {
                problems.push(
                    pipeline
                        .problem_at(
                            codes::plan::RESERVED_COLUMN,
                            "input",
                            format!(
                                "the input has a column `{reserved}`, a name tierscore uses itself"
                            ),
                        )
                        .with_help(format!(
                            "rename it with input.rename, e.g. {{ {reserved}: old_{reserved} }}"
                        )),
                );
            }
        }
        let id = pipeline.input.id.as_str();
        if let Some(written) = written_column_like(id).filter(|written| *written != id) {
            problems.push(
                pipeline
                    .problem_at(
                        codes::plan::RESERVED_COLUMN,
                        "input.id",
                        case_clash("id column", id, written),
                    )
                    .with_help(format!(
                        "rename it with input.rename, e.g. {{ {id}: old_{written} }}, and name `old_{written}` in input.id"
                    )),
            );
        }
        for (i, (from, to)) in pipeline.input.rename.iter().enumerate() {
            if pipeline.input.rename[..i]
                .iter()
                .any(|(_, other)| other == to)
            {
                problems.push(
                    pipeline
                        .problem_at(
                            codes::plan::RENAME_CLASH,
                            &format!("input.rename.{from}"),
                            format!("input.rename: two columns are renamed to `{to}`"),
                        )
                        .with_help("give each its own name"),
                );
            }
        }
        for (from, to) in &pipeline.input.rename {
            let renamed_away = pipeline.input.rename.iter().any(|(f, _)| f == to);
            if file_columns.contains(&to.as_str()) && !renamed_away {
                problems.push(
                    pipeline
                        .problem_at(
                            codes::plan::RENAME_CLASH,
                            &format!("input.rename.{from}"),
                            format!("input.rename: `{from}` -> `{to}`, but the input already has a column `{to}`"),
                        )
                        .with_help(format!("pick a name the input does not use, or rename `{to}` too")),
                );
            }
            if !file_columns.contains(&from.as_str()) {
                problems.push(
                    pipeline
                        .problem_at(
                            codes::plan::UNKNOWN_COLUMN,
                            &format!("input.rename.{from}"),
                            format!("input.rename: the input has no column `{from}`"),
                        )
                        .with_help(suggest::help_for(from, &file_columns, "input columns")),
                );
            }
        }
        let mut require_column = |key: &str, name: &str, what: &str| {
            if !columns.contains(&name) {
                problems.push(
                    pipeline
                        .problem_at(
                            codes::plan::UNKNOWN_COLUMN,
                            key,
                            format!("{what} `{name}` is not a column of the input"),
                        )
                        .with_help(suggest::help_for(name, &columns, "input columns")),
                );
            }
        };
        if !input_columns.contains(&pipeline.input.id.as_str()) {
            require_column("input.id", &pipeline.input.id, "id column");
        }
        for (i, name) in pipeline.output.columns.iter().enumerate() {
            require_column(&format!("output.columns[{i}]"), name, "output column");
        }
        problems.extend(id_type_problem(pipeline, source));
        if let Some(field) = pipeline
            .output
            .report_value
            .as_ref()
            .filter(|name| pipeline.output.columns.contains(name))
            .and_then(|name| source.schema().field_with_name(name).ok())
        {
            if !field.data_type().is_numeric() {
                problems.push(
                    pipeline
                        .problem_at(
                            codes::plan::REPORT_VALUE,
                            "report.value",
                            format!(
                                "report.value `{}` is {}, not a number",
                                field.name(),
                                field.data_type()
                            ),
                        )
                        .with_help(
                            "the report sums the value column: name a numeric column or a factor",
                        ),
                );
            }
        }

        // Columns the footers' statistics prove null-free, and the derives of such columns (a
        // derive is null exactly where its column is).
        let mut null_free: Vec<String> = source
            .schema()
            .fields()
            .iter()
            .filter(|f| f.is_nullable() && source.null_free(f.name()))
            .map(|f| f.name().clone())
            .collect();
        for derive in &pipeline.derive {
            if null_free.contains(&derive.column) {
                null_free.push(derive.name.clone());
            }
        }
        let builder = RuleBuilder::new(pipeline, engine);
        let mut visible: Vec<&str> = columns.clone();
        let mut factors = Vec::new();
        for (i, factor) in pipeline.factors.iter().enumerate() {
            let key = format!("factors[{i}]");
            if columns.contains(&factor.name.as_str()) {
                problems.push(name_of_a_column(
                    pipeline,
                    codes::plan::FACTOR_NAME,
                    &key,
                    ("factor", &factor.name),
                    "rename the factor, or the column with input.rename",
                ));
            }
            let script_key = match factor.rule {
                crate::pipeline::RuleSource::Script(_) => format!("{key}.script"),
                crate::pipeline::RuleSource::Inline { .. } => format!("{key}.expr"),
            };
            let built = builder.build(
                pipeline,
                &factor.name,
                &factor.rule,
                &script_key,
                &visible,
                Returns::Factor,
            );
            problems.extend(built.problems);
            if let Some(rule) = built.rule {
                problems.extend(checks::rule_problems(
                    rule.info(),
                    pipeline,
                    schema,
                    &null_free,
                ));
                factors.push(FactorStep {
                    rule,
                    weight: factor.weight,
                });
            }
            visible.push(&factor.name);
        }
        let combine = match &pipeline.score {
            Combine::WeightedSum => Some(CombineStep::WeightedSum),
            Combine::Script(rule) => {
                let built = builder.build(
                    pipeline,
                    "score",
                    rule,
                    "score.script",
                    &visible,
                    Returns::Score,
                );
                problems.extend(built.problems);
                built.rule.map(|rule| {
                    problems.extend(checks::rule_problems(
                        rule.info(),
                        pipeline,
                        schema,
                        &null_free,
                    ));
                    CombineStep::Script(rule)
                })
            }
        };

        // A tier script also sees the score.
        let mut tier_script = None;
        let mut tier_script_failed = false;
        if let TierRule::Script(rule) = &pipeline.tiers.rule {
            visible.push("score");
            let levels = pipeline
                .tiers
                .levels
                .iter()
                .map(|level| level.name.clone())
                .collect();
            let built = builder.build(
                pipeline,
                "tier",
                rule,
                "tiers.script",
                &visible,
                Returns::Tier(levels),
            );
            tier_script_failed = built.rule.is_none();
            problems.extend(built.problems);
            if let Some(rule) = built.rule {
                problems.extend(checks::rule_problems(
                    rule.info(),
                    pipeline,
                    schema,
                    &null_free,
                ));
                tier_script = Some(rule);
            }
        }

        // What scoring reads (the id, `tiers.of`, what the rules read), then the pass-through.
        let mut wanted: Vec<String> = vec![pipeline.input.id.clone()];
        if let TierRule::CumulativeShare { of: Some(of) } = &pipeline.tiers.rule {
            match schema.field_with_name(of) {
                Ok(field) if crate::derive::accepts(field.data_type()) => wanted.push(of.clone()),
                Ok(field) => problems.push(
                    pipeline
                        .problem_at(
                            codes::plan::TIERS_OF,
                            "tiers.of",
                            format!(
                                "tiers.of: column `{of}` is {}; shares need numbers",
                                field.data_type()
                            ),
                        )
                        .with_help("name a numeric column, such as revenue"),
                ),
                Err(_) => problems.push(
                    pipeline
                        .problem_at(
                            codes::plan::UNKNOWN_COLUMN,
                            "tiers.of",
                            format!("tiers.of: `{of}` is not a column of the input or a derive"),
                        )
                        .with_help(suggest::help_for(of, &columns, "columns")),
                ),
            }
        }
        let rules = factors
            .iter()
            .map(|f| f.rule.info())
            .chain(match &combine {
                Some(CombineStep::Script(rule)) => Some(rule.info()),
                _ => None,
            })
            .chain(tier_script.as_ref().map(|rule| rule.info()));
        let mut scripts = Vec::new();
        let mut hasher = Sha256::new();
        hasher.update(pipeline.source.text().as_bytes());
        let rules: Vec<&RuleInfo> = rules.collect();
        problems.extend(checks::unused_params(pipeline, rules.iter().copied()));
        for rule in rules {
            wanted.extend(rule.reads.iter().map(|(name, _)| name.clone()));
            hasher.update(rule.text.code().as_bytes());
            if let RuleText::File(file) = rule.text.as_ref() {
                if !scripts.iter().any(|s: &FileHash| s.path == file.name()) {
                    scripts.push(FileHash {
                        path: file.name().to_string(),
                        sha256: sha256_hex(file.text().as_bytes()),
                    });
                }
            }
        }

        let errors = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        let combine = match combine {
            Some(combine) if errors == errors_before && !tier_script_failed => combine,
            _ => return None,
        };
        let in_schema_order = |wanted: &[String]| -> Vec<String> {
            input_columns
                .iter()
                .filter(|c| wanted.iter().any(|w| w == *c))
                .map(|c| c.to_string())
                .collect()
        };
        let rank_columns = in_schema_order(&wanted);
        wanted.extend(pipeline.output.columns.iter().cloned());
        let read_columns = in_schema_order(&wanted);
        // The id always comes first; listing it in output.columns too does not repeat it.
        let mut copied = vec![pipeline.input.id.clone()];
        copied.extend(
            pipeline
                .output
                .columns
                .iter()
                .filter(|c| **c != pipeline.input.id)
                .cloned(),
        );
        let tiers = TierRules::new(&pipeline.tiers);
        let tier_names = tiers.names();
        let layout = OutputLayout::new(
            schema,
            copied,
            pipeline.factors.iter().map(|f| f.name.clone()).collect(),
            tier_names,
            pipeline.output.partition_by == PartitionBy::None,
            pipeline.output.reasons,
        )
        .map_err(|err| {
            problems.push(pipeline.problem_at(
                codes::plan::OUTPUT,
                "output",
                format!("cannot lay out the output: {err}"),
            ))
        })
        .ok()?;
        let id_field = schema
            .field_with_name(&pipeline.input.id)
            .expect("checked above")
            .clone();
        Some(Self {
            scorer: Scorer {
                id_column: pipeline.input.id.clone(),
                factors,
                combine,
                tiers,
                tier_script,
                reasons: if pipeline.output.reasons {
                    Reasons::Keep
                } else {
                    Reasons::Drop
                },
            },
            read_columns,
            rank_columns,
            layout,
            id_field,
            scripts,
            rules_sha256: hex::encode(hasher.finalize()),
            schema: schema.clone(),
        })
    }
}

/// Whether a column of `data_type` holds one value a row to name a customer by: not lists,
/// structs or maps, and not only nulls. `run` refuses other id columns ([`id_type_problem`]),
/// and `diff` joins on the ids `run` writes, so both ask this one question.
pub(crate) fn is_one_value_id(data_type: &DataType) -> bool {
    !data_type.is_nested() && *data_type != DataType::Null
}

/// An id column holding lists, structs, maps or only nulls: no one value a row to name a
/// customer by. Such ids passed `check` and `run` (their uniqueness checked on their text),
/// and then `explain` called the file damaged and `diff` refused the output.
fn id_type_problem(pipeline: &Pipeline, source: &Source) -> Option<FileProblem> {
    let field = source.schema().field_with_name(&pipeline.input.id).ok()?;
    let data_type = field.data_type();
    if is_one_value_id(data_type) {
        return None;
    }
    Some(
        pipeline
            .problem_at(
                codes::plan::ID_TYPE,
                "input.id",
                format!(
                    "id column `{}` is {data_type}, not one value a row",
                    pipeline.input.id
                ),
            )
            .with_help(
                "an id is a string, an integer, a date or a decimal: name such a column, or \
                 make one where the data is prepared (e.g. a struct's fields joined into a string)",
            ),
    )
}

/// The input's columns followed by the derive columns (checked: each computed from an input
/// column of a numeric or date type, and not named like an input column).
fn run_schema(pipeline: &Pipeline, source: &Source, problems: &mut Vec<FileProblem>) -> SchemaRef {
    let input = source.schema();
    let names: Vec<&str> = input.fields().iter().map(|f| f.name().as_str()).collect();
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (i, (derive, field)) in pipeline
        .derive
        .iter()
        .zip(Population::fields(&pipeline.derive))
        .enumerate()
    {
        let key = format!("derive[{i}]");
        if names.contains(&derive.name.as_str()) {
            problems.push(name_of_a_column(
                pipeline,
                codes::plan::DERIVE_NAME,
                &key,
                ("derive", &derive.name),
                "pick another name, or rename the column with input.rename",
            ));
        }
        match input.field_with_name(&derive.column) {
            Err(_) => problems.push(
                pipeline
                    .problem_at(
                        codes::plan::UNKNOWN_COLUMN,
                        &format!("{key}.{}", derive.kind.key()),
                        format!("derive `{}`: `{}` is not a column of the input", derive.name, derive.column),
                    )
                    .with_help(suggest::help_for(&derive.column, &names, "input columns")),
            ),
            Ok(column) if !crate::derive::accepts(column.data_type()) => problems.push(
                pipeline
                    .problem_at(
                        codes::plan::DERIVE_TYPE,
                        &format!("{key}.{}", derive.kind.key()),
                        format!(
                            "derive `{}`: column `{}` is {}; derives need numbers, decimals or dates",
                            derive.name,
                            derive.column,
                            column.data_type()
                        ),
                    )
                    .with_help("derive from a numeric column, or compute a number in a factor instead"),
            ),
            Ok(column) => fields.push(field.with_nullable(column.is_nullable())),
        }
    }
    Arc::new(Schema::new(fields))
}

/// Lower-case hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
/// The problem of a factor or derive (`what`, `name`) at `key` that has an input column's name.
fn name_of_a_column(
    pipeline: &Pipeline,
    code: &'static str,
    key: &str,
    (what, name): (&str, &str),
    help: &str,
) -> FileProblem {
    pipeline
        .problem_at(
            code,
            &format!("{key}.name"),
            format!("{what} `{name}` has the name of an input column"),
        )
        .with_help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule of every shipped pipeline, parsed again for a worker thread, is the AST the
    /// pipeline parsed (their debug forms hold every node and position). That its strings are
    /// its own is `each_thread_runs_its_own_copy` in the interpreter's tests.
    #[test]
    fn a_threads_own_ast_is_the_shared_one_parsed_again() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut rules = 0;
        for name in ["customer_value", "abc", "rfm"] {
            let path = root.join(format!("pipelines/{name}.yaml"));
            let pipeline = Pipeline::load(&path).unwrap();
            let source = Source::open(&pipeline.input.path, &pipeline.input.rename).unwrap();
            let (plan, _) = Plan::build(&pipeline, &source, EngineChoice::Interpreted).unwrap();
            for rule in plan.scorer.rules() {
                let rule = rule.interpreted();
                let own = rule.thread_ast();
                assert_eq!(format!("{own:?}"), format!("{:?}", rule.ast()), "{name}");
                assert!(!std::ptr::eq(own, rule.ast()));
                assert!(std::ptr::eq(own, rule.thread_ast()), "one copy a thread");
                rules += 1;
            }
        }
        assert_eq!(
            rules, 12,
            "six factors, ABC's one, RFM's four (inline) and its tier script"
        );
    }

    /// The shipped ABC pipeline copies `region`, `industry` and `revenue_12m` to its output;
    /// its rule reads `revenue_history` and `revenue_12m`. The ranking pass decodes what
    /// scoring reads (the id too, null ids are rejected), not what only the output copies.
    #[test]
    fn the_ranking_pass_leaves_out_the_columns_only_the_output_copies() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let pipeline = Pipeline::load(&root.join("pipelines/abc.yaml")).unwrap();
        let source = Source::open(&pipeline.input.path, &pipeline.input.rename).unwrap();
        let (plan, _) = Plan::build(&pipeline, &source, EngineChoice::Auto).unwrap();
        assert_eq!(
            plan.read_columns,
            [
                "customer_id",
                "region",
                "industry",
                "revenue_12m",
                "revenue_history"
            ]
        );
        assert_eq!(
            plan.rank_columns,
            ["customer_id", "revenue_12m", "revenue_history"]
        );
    }
}
