//! How tierscore talks on stderr: log lines (text or JSON) and error reports.
//!
//! People get miette reports with the offending line underlined; schedulers (`--log-format
//! json`) get one JSON object per line, errors included (with the exit code). Every JSON line
//! carries `timestamp` (UTC, RFC 3339), `level`, `run_id` (this invocation's, the id a `run`
//! gives its output) and `message`; the event's fields follow as JSON values: numbers stay
//! numbers, and a field written `json.NAME = %text` is the JSON document `text` under `NAME`
//! (a list or an object, not a string holding one). Text lines read such a field out for people
//! (`tiers: strategic 121, key 376`) and write numbers as [`crate::human`] does.

use std::fmt::Debug;
use std::io::IsTerminal;

use chrono::{SecondsFormat, Utc};
use miette::Diagnostic;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::commands::{CommandError, Findings, Ui};
use crate::diagnostic::render;
use crate::human;

/// The environment variable with a log filter (`RUST_LOG` syntax, e.g. `debug`); `RUST_LOG` is
/// read when it is not set.
pub const LOG_FILTER_ENV: &str = "TIERSCORE_LOG";

/// Starts logging to stderr: `info` and up (only errors with `--quiet`), or as
/// `TIERSCORE_LOG` (else `RUST_LOG`) says.
pub fn init(ui: Ui) {
    let default = if ui.quiet { "error" } else { "info" };
    let filter = EnvFilter::try_from_env(LOG_FILTER_ENV)
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    if ui.json {
        tracing_subscriber::registry()
            .with(JsonLines.with_filter(filter))
            .init();
    } else {
        // A failed write to stderr is dropped, never reported by `eprintln!` (which would panic
        // on the same unwritable stderr).
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .log_internal_errors(false)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .fmt_fields(TextFields)
            .without_time()
            .compact()
            .init();
    }
}

/// Prints a failed command's error for the person or scheduler running it.
pub fn report_error(err: &CommandError, ui: Ui) {
    if ui.json {
        let problems: Vec<Value> = err
            .problems()
            .iter()
            .map(|p| serde_json::to_value(p.to_json()).unwrap_or_default())
            .collect();
        let mut line = header("ERROR");
        line.insert("code".into(), json_option(err.code()));
        line.insert("message".into(), err.to_string().into());
        line.insert("help".into(), json_option(err.help()));
        line.insert("problems".into(), Value::Array(problems));
        line.insert("exit_code".into(), err.exit_code().into());
        write_line(line);
    } else {
        let text = match err {
            CommandError::Findings(Findings(message)) => {
                format!("\n{}", render(&ClosingLine(message)))
            }
            other => render(other),
        };
        crate::commands::to_stderr(&text);
    }
}

/// The closing line of `check` and `test` for people: their problems were printed above, each
/// with its code, so this line goes without the `findings` code, which would stand alone above
/// it. JSON lines keep the code.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{0}")]
struct ClosingLine<'a>(&'a str);

fn json_option(text: Option<Box<dyn std::fmt::Display + '_>>) -> Value {
    text.map_or(Value::Null, |t| t.to_string().into())
}

/// The fields every JSON line starts with.
fn header(level: &str) -> Map<String, Value> {
    let mut line = Map::new();
    line.insert(
        "timestamp".into(),
        Utc::now()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into(),
    );
    line.insert("level".into(), level.into());
    line.insert("run_id".into(), crate::run_id::run_id().into());
    line
}

/// Writes one JSON line to stderr; a failed write is dropped (see [`crate::commands::to_stderr`]).
fn write_line(line: Map<String, Value>) {
    crate::commands::to_stderr(&format!("{}\n", Value::Object(line)));
}

/// The JSON lines layer: one object per event.
struct JsonLines;

impl<S: Subscriber> Layer<S> for JsonLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = header(event.metadata().level().as_str());
        event.record(&mut JsonFields(&mut line));
        write_line(line);
    }
}

/// Records an event's fields as JSON values.
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl JsonFields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_string(), value);
    }
}

impl Visit for JsonFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(
            field,
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        );
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.record_text(field, format!("{value:?}"));
    }
}

impl JsonFields<'_> {
    /// Text as a string, or as the JSON document it holds for a `json.NAME` field.
    fn record_text(&mut self, field: &Field, text: String) {
        match field.name().strip_prefix("json.") {
            Some(name) => {
                let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                self.0.insert(name.to_string(), value);
            }
            None => self.put(field, text.into()),
        }
    }
}

/// The fields of a text log line, for people: `name=value`, numbers written as
/// [`crate::human`] writes them, and a `json.NAME` field read out as `NAME: ` and its items
/// (`tiers: strategic 121, key 376`) instead of the JSON document.
struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut parts = TextParts(Vec::new());
        fields.record(&mut parts);
        writer.write_str(&parts.0.join(" "))
    }
}

/// The parts of a text log line, in the order the event gives its fields.
struct TextParts(Vec<String>);

impl TextParts {
    fn put(&mut self, field: &Field, value: String) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

impl Visit for TextParts {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, human::number(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let sign = if value < 0 { "-" } else { "" };
        self.put(
            field,
            format!("{sign}{}", human::count(value.unsigned_abs())),
        );
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, human::count(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.record_text(field, format!("{value:?}"));
    }
}

impl TextParts {
    /// The message as it is, a `json.NAME` field read out, any other as `name=text`.
    fn record_text(&mut self, field: &Field, text: String) {
        if field.name() == "message" {
            self.0.push(text);
        } else if let Some(name) = field.name().strip_prefix("json.") {
            let read_out = serde_json::from_str(&text).map_or(text, |value| read_out(&value));
            self.0.push(format!("{name}: {read_out}"));
        } else {
            self.put(field, text);
        }
    }
}

/// A JSON value as a person reads it: a list's items separated by commas, an object's `name`
/// then its other values separated by spaces (`{"name": "key", "count": 376}` reads
/// `key 376`), strings without quotes, numbers as [`crate::human`] writes them.
fn read_out(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(read_out).collect::<Vec<_>>().join(", "),
        Value::Object(fields) => {
            let name = fields.get("name").into_iter();
            let others = fields.iter().filter(|(key, _)| *key != "name");
            name.chain(others.map(|(_, value)| value))
                .map(read_out)
                .collect::<Vec<_>>()
                .join(" ")
        }
        Value::String(text) => text.clone(),
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(whole), _) => human::count(whole),
            (None, Some(float)) => human::number(float),
            (None, None) => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Null => "none".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::read_out;
    use serde_json::json;

    #[test]
    fn json_values_are_read_out_for_people() {
        let tiers =
            json!([{ "name": "strategic", "count": 121 }, { "name": "key", "count": 1376 }]);
        assert_eq!(read_out(&tiers), "strategic 121, key 1,376");
        assert_eq!(
            read_out(&json!({ "share": 0.12345, "ok": true, "note": null })),
            "none true 0.123"
        );
    }
}
