//! Checks of compiled rules against the pipeline and the input's schema, before any row is
//! read: params that do not exist or are never used, columns whose type an operator cannot
//! take, nullable columns read without a default, columns scripts cannot read at all.

use arrow::datatypes::{DataType, Schema};

use crate::diagnostic::codes;
use crate::diagnostic::suggest;
use crate::diagnostic::FileProblem;
use crate::pipeline::{path_params, Pipeline};
use crate::rules::{check_readable, RuleInfo};

/// Every problem with how one rule uses params and columns.
///
/// `null_free` names the columns (input or derive) that the input's Parquet statistics prove
/// hold no null: a nullable column among them is read without a warning.
pub fn rule_problems(
    rule: &RuleInfo,
    pipeline: &Pipeline,
    schema: &Schema,
    null_free: &[String],
) -> Vec<FileProblem> {
    let mut problems = Vec::new();
    let defined: Vec<&str> = pipeline.params.keys().map(String::as_str).collect();
    for (key, pos) in &rule.usage.params {
        if !defined.contains(&key.as_str()) {
            let help = match suggest::did_you_mean(key, defined.iter().copied()) {
                Some(best) => format!("did you mean `params.{best}`?"),
                None => format!("define it under `params:` in {}", pipeline.source.name()),
            };
            problems.push(
                rule.text
                    .problem(
                        codes::plan::UNKNOWN_PARAM,
                        *pos,
                        key.len(),
                        format!("`params.{key}` is not defined in the pipeline"),
                    )
                    .with_help(help),
            );
        }
    }
    for (name, pos) in &rule.reads {
        let Ok(field) = schema.field_with_name(name) else {
            continue;
        };
        if let Err(reason) = check_readable(field.data_type()) {
            problems.push(
                rule.text
                    .problem(
                        codes::plan::UNREADABLE_TYPE,
                        *pos,
                        name.len(),
                        format!("column `{name}` cannot be read by scripts: {reason}"),
                    )
                    .with_help("cast the column to a supported type when writing the input, or do not read it"),
            );
        }
    }
    for (name, op, pos) in &rule.usage.operands {
        let Ok(field) = schema.field_with_name(name) else {
            continue;
        };
        if let Some(kind) = unfit_for(op, field.data_type()) {
            problems.push(
                rule.text
                    .problem(
                        codes::plan::OPERAND_TYPE,
                        *pos,
                        name.len(),
                        format!(
                            "column `{name}` is {kind} ({}); `{op}` needs numbers",
                            field.data_type()
                        ),
                    )
                    .with_help("convert it first, or compare it with a value of its own kind"),
            );
        }
    }
    let mut warned: Vec<&str> = Vec::new();
    for (name, pos) in &rule.usage.unguarded {
        let nullable = schema
            .field_with_name(name)
            .is_ok_and(|field| field.is_nullable())
            && !null_free.contains(name);
        if nullable && !warned.contains(&name.as_ref()) {
            warned.push(name);
            problems.push(
                rule.text
                    .problem(
                        codes::plan::NULLABLE,
                        *pos,
                        name.len(),
                        format!("column `{name}` can be null and is used without a default"),
                    )
                    .with_help(format!(
                        "a null makes the row fail; write `({name} ?? 0)` or test `{name} == ()` first"
                    ))
                    .as_warning(),
            );
        }
    }
    problems
}

/// Warnings for params that no rule and no path (`${name}`) reads (a leftover, or a rule that
/// forgot to use it).
pub fn unused_params<'a>(
    pipeline: &Pipeline,
    rules: impl IntoIterator<Item = &'a RuleInfo>,
) -> Vec<FileProblem> {
    let mut used: Vec<&str> = rules
        .into_iter()
        .flat_map(|rule| rule.usage.params.iter().map(|(key, _)| key.as_str()))
        .collect();
    used.extend(path_params::names(&pipeline.input.path_as_written));
    used.extend(path_params::names(&pipeline.output.path_as_written));
    pipeline
        .params
        .keys()
        .filter(|key| !used.contains(&key.as_str()))
        .map(|key| {
            pipeline
                .problem_at(
                    codes::plan::UNUSED_PARAM,
                    &format!("params.{key}"),
                    format!("param `{key}` is not used by any rule"),
                )
                .with_help("remove it, or read it in a rule as `params.NAME`")
                .as_warning()
        })
        .collect()
}

/// What kind of value an operator cannot take from a column of this type, if any.
fn unfit_for(op: &str, data_type: &DataType) -> Option<&'static str> {
    let comparison = matches!(op, "<" | "<=" | ">" | ">=");
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some("a string"),
        DataType::Dictionary(_, value) => unfit_for(op, value),
        DataType::Boolean => Some("a boolean"),
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => Some("a list"),
        DataType::Struct(_) => Some("a struct"),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
            if !comparison && op != "-" =>
        {
            Some("a date")
        }
        _ => None,
    }
}
