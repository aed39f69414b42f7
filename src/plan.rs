//! The plan: a pipeline checked against its input's schema and compiled, ready to execute.
//!
//! Built before any row is read, from the pipeline and the Parquet footers only. Every name a
//! rule reads is resolved here (a column, a factor before it, or `params`), column types are
//! checked against what scripts can read, and the projection (the only columns decoded) and
//! the output schema are fixed. All problems are reported together.

use arrow::datatypes::Field;
use sha2::{Digest, Sha256};

use crate::diagnostic::{FileProblem, Problems};
use crate::pipeline::{Combine, PartitionBy, Pipeline};
use crate::rules::{convert, CompiledRule, RuleContext, RuleText};
use crate::score::{CombineStep, FactorStep, Scorer};
use crate::sink::manifest::FileHash;
use crate::sink::OutputLayout;
use crate::source::Source;
use crate::suggest;
use crate::tiers::TierRules;

/// A checked, compiled pipeline.
pub struct Plan {
    pub scorer: Scorer,
    /// Input columns to decode (names after rename), in schema order.
    pub read_columns: Vec<String>,
    pub layout: OutputLayout,
    /// The id column's field (name after rename, input type).
    pub id_field: Field,
    /// Every script file with its sha256.
    pub scripts: Vec<FileHash>,
    /// sha256 over the pipeline text and every script's text.
    pub rules_sha256: String,
}

impl Plan {
    /// Checks and compiles `pipeline` against the schema of `source`.
    pub fn build(pipeline: &Pipeline, source: &Source) -> Result<Self, Problems> {
        let mut problems = Vec::new();
        let schema = source.schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let file_columns: Vec<&str> = source
            .file_schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();

        for (from, _) in &pipeline.input.rename {
            if !file_columns.contains(&from.as_str()) {
                problems.push(
                    pipeline
                        .problem_at(
                            "plan::unknown_column",
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
                            "plan::unknown_column",
                            key,
                            format!("{what} `{name}` is not a column of the input"),
                        )
                        .with_help(suggest::help_for(name, &columns, "input columns")),
                );
            }
        };
        require_column("input.id", &pipeline.input.id, "id column");
        for (i, name) in pipeline.output.columns.iter().enumerate() {
            require_column(&format!("output.columns[{i}]"), name, "output column");
        }

        let context = RuleContext::new(pipeline);
        let mut visible: Vec<&str> = columns.clone();
        let mut factors = Vec::new();
        for (i, factor) in pipeline.factors.iter().enumerate() {
            let key = format!("factors[{i}]");
            if columns.contains(&factor.name.as_str()) {
                problems.push(
                    pipeline
                        .problem_at(
                            "plan::factor_name",
                            &format!("{key}.name"),
                            format!("factor `{}` has the name of an input column", factor.name),
                        )
                        .with_help("rename the factor, or the column with input.rename"),
                );
            }
            let script_key = match factor.rule {
                crate::pipeline::RuleSource::Script(_) => format!("{key}.script"),
                crate::pipeline::RuleSource::Inline { .. } => format!("{key}.expr"),
            };
            match context.load(pipeline, &factor.name, &factor.rule, &script_key, &visible) {
                Ok(rule) => {
                    problems.extend(unreadable_columns(&rule, source));
                    factors.push(FactorStep {
                        rule,
                        weight: factor.weight,
                    });
                }
                Err(problem) => problems.push(problem),
            }
            visible.push(&factor.name);
        }
        let combine = match &pipeline.score {
            Combine::WeightedSum => Some(CombineStep::WeightedSum),
            Combine::Script(rule) => {
                match context.load(pipeline, "score", rule, "score.script", &visible) {
                    Ok(rule) => {
                        problems.extend(unreadable_columns(&rule, source));
                        Some(CombineStep::Script(rule))
                    }
                    Err(problem) => {
                        problems.push(problem);
                        None
                    }
                }
            }
        };

        let mut wanted: Vec<String> = vec![pipeline.input.id.clone()];
        wanted.extend(pipeline.output.columns.iter().cloned());
        let rules = factors.iter().map(|f| &f.rule).chain(match &combine {
            Some(CombineStep::Script(rule)) => Some(rule),
            _ => None,
        });
        let mut scripts = Vec::new();
        let mut hasher = Sha256::new();
        hasher.update(pipeline.source.text().as_bytes());
        let rules: Vec<&CompiledRule> = rules.collect();
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

        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        let combine = combine.expect("a missing combine script is reported as a problem");
        let read_columns: Vec<String> = columns
            .iter()
            .filter(|c| wanted.iter().any(|w| w == *c))
            .map(|c| c.to_string())
            .collect();
        let mut copied = vec![pipeline.input.id.clone()];
        copied.extend(pipeline.output.columns.iter().cloned());
        let tiers = TierRules::new(&pipeline.tiers);
        let tier_names: Vec<String> = tiers.levels().iter().map(|l| l.name.clone()).collect();
        let layout = OutputLayout::new(
            schema,
            copied,
            pipeline.factors.iter().map(|f| f.name.clone()).collect(),
            tier_names,
            pipeline.output.partition_by == PartitionBy::None,
            pipeline.output.reasons,
        )
        .map_err(|err| {
            Problems(vec![pipeline.problem_at(
                "plan::output",
                "output",
                format!("cannot lay out the output: {err}"),
            )])
        })?;
        let id_field = schema
            .field_with_name(&pipeline.input.id)
            .expect("checked above")
            .clone();
        Ok(Self {
            scorer: Scorer {
                context,
                factors,
                combine,
                tiers,
            },
            read_columns,
            layout,
            id_field,
            scripts,
            rules_sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// Problems for columns a rule reads whose Arrow type scripts cannot read.
fn unreadable_columns(rule: &CompiledRule, source: &Source) -> Vec<FileProblem> {
    rule.reads
        .iter()
        .filter_map(|(name, pos)| {
            let field = source.schema().field_with_name(name).ok()?;
            let reason = convert::check_readable(field.data_type()).err()?;
            Some(
                rule.text
                    .problem(
                        "plan::unreadable_type",
                        *pos,
                        name.len(),
                        format!("column `{name}` cannot be read by scripts: {reason}"),
                    )
                    .with_help("cast the column to a supported type when writing the input, or do not read it"),
            )
        })
        .collect()
}

/// Lower-case hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
