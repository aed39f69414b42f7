//! `tierscore diff` — what a change of rules, weights or tiers does to customers.
//!
//! ```text
//! tierscore diff out/before out/after
//! tierscore diff out/before out/after --top 50
//! tierscore diff out/before out/after --format json > impact.json
//! tierscore diff out/before out/after --format html > impact.html
//! ```
//!
//! Both arguments are directories written by `tierscore run`. Customers are matched by the id
//! column; the report gives the tier migration matrix, customers only in one output, the score
//! shift per old tier and the top movers by absolute score change with the change of every
//! factor. [`crate::diff`] reads and joins; this file prints.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use super::{CommandError, Ui};
use crate::diff::changes::Change;
use crate::diff::{self, Comparison, DiffError, Shift};
use crate::human::{self, count, number, signed};

/// Arguments of `tierscore diff`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tierscore run pipelines/customer_value.yaml --output out/before
  tierscore run pipelines/customer_value.yaml --set top_revenue=250000 --output out/after
  tierscore diff out/before out/after
  tierscore diff out/before out/after --top 50 --format json > impact.json
  tierscore diff out/before out/after --format html > impact.html")]
pub struct DiffArgs {
    /// The output before the change (a directory written by `tierscore run`).
    pub old_out: PathBuf,
    /// The output after the change.
    pub new_out: PathBuf,
    /// How many top movers, and ids of customers in only one output, to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    /// Report format (the JSON shape is in docs/commands.md).
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

/// Report format of `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Aligned tables for people.
    Text,
    /// One JSON document for tools.
    Json,
    /// One self-contained HTML page with a heat map of the tier migration.
    Html,
}

/// Compares the two outputs and prints the report on stdout.
pub fn execute(args: &DiffArgs, _ui: Ui) -> Result<(), CommandError> {
    let started = std::time::Instant::now();
    let comparison = diff::compare(&args.old_out, &args.new_out, args.top)?;
    tracing::info!(
        old = %comparison.old.path,
        new = %comparison.new.path,
        in_both = comparison.score_shift_all.count,
        only_in_old = comparison.only_in_old.count,
        only_in_new = comparison.only_in_new.count,
        seconds = started.elapsed().as_secs_f64(),
        "outputs compared"
    );
    let mut stdout = std::io::stdout().lock();
    let written = match args.format {
        DiffFormat::Json => serde_json::to_writer_pretty(&mut stdout, &comparison)
            .map_err(std::io::Error::from)
            .and_then(|()| stdout.write_all(b"\n")),
        DiffFormat::Text => stdout.write_all(render_text(&comparison, args.top).as_bytes()),
        DiffFormat::Html => {
            stdout.write_all(crate::report::diff_page::render(&comparison).as_bytes())
        }
    };
    match written.and_then(|()| stdout.flush()) {
        // The reader went away (`| head`): what it wanted has been written.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(DiffError::Write(e).into()),
        Ok(()) => Ok(()),
    }
}

/// The report as aligned tables.
fn render_text(c: &Comparison, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "diff: {} (run {}, {} customers) -> {} (run {}, {} customers)",
        c.old.path,
        c.old.run_id,
        count(c.old.rows),
        c.new.path,
        c.new.run_id,
        count(c.new.rows)
    );
    let _ = writeln!(out, "id column: {}", c.id_column);
    if c.changes.is_empty() {
        let _ = writeln!(
            out,
            "changed: nothing (params, weights, rules, tiers as before)"
        );
    }
    for change in &c.changes {
        let _ = writeln!(
            out,
            "changed {} {}: {} -> {}",
            change.kind,
            change.name,
            Change::for_people(&change.old),
            Change::for_people(&change.new)
        );
    }
    let _ = writeln!(out, "factors compared: {}", list(&c.factors));
    if !c.factors_added.is_empty() {
        let _ = writeln!(out, "factors added: {}", list(&c.factors_added));
    }
    if !c.factors_removed.is_empty() {
        let _ = writeln!(out, "factors removed: {}", list(&c.factors_removed));
    }

    let in_both = c.score_shift_all.count;
    let _ = writeln!(
        out,
        "\ntier migration ({} customers in both; rows: old tier, columns: new tier)",
        count(in_both)
    );
    let mut header = vec!["old \\ new".to_string()];
    header.extend(c.tiers.iter().cloned());
    header.push("total".into());
    let mut matrix = Table::new(header);
    let mut column_totals = vec![0u64; c.tiers.len()];
    for (tier, row) in c.tiers.iter().zip(&c.matrix_rows) {
        let mut cells = vec![tier.clone()];
        for (total, count) in column_totals.iter_mut().zip(row) {
            *total += count;
            cells.push(human::count(*count));
        }
        cells.push(human::count(row.iter().sum::<u64>()));
        matrix.push(cells);
    }
    let mut totals = vec!["total".to_string()];
    totals.extend(column_totals.iter().map(|&total| count(total)));
    totals.push(count(in_both));
    matrix.push(totals);
    matrix.render(&mut out);

    let _ = writeln!(out);
    for (name, side) in [("old", &c.only_in_old), ("new", &c.only_in_new)] {
        let _ = write!(out, "only in {name}: {} customers", count(side.count));
        if !side.ids.is_empty() {
            let ids: Vec<String> = side.ids.iter().map(ToString::to_string).collect();
            let first = if (side.ids.len() as u64) < side.count {
                format!("first {} by id: ", count(side.ids.len() as u64))
            } else {
                String::new()
            };
            let _ = write!(out, " ({first}{})", ids.join(", "));
        }
        let _ = writeln!(out);
    }

    let _ = writeln!(out, "\nscore shift by old tier (customers in both)");
    let mut shifts = Table::new(
        [
            "old tier",
            "customers",
            "mean old",
            "mean new",
            "mean shift",
        ]
        .map(String::from)
        .to_vec(),
    );
    for shift in c.score_shift.iter().chain([&c.score_shift_all]) {
        let name = shift.tier.clone().unwrap_or_else(|| "all".into());
        shifts.push(shift_cells(name, shift));
    }
    shifts.render(&mut out);

    let _ = writeln!(
        out,
        "\ntop movers by |score change|, ties by id (factor columns: new - old)"
    );
    if top == 0 {
        let _ = writeln!(out, "  (none asked for: --top 0)");
    } else if c.top_movers.is_empty() {
        let _ = writeln!(out, "  (none: no customer's score changed)");
    } else {
        let mut header: Vec<String> = [
            c.id_column.as_str(),
            "old score",
            "new score",
            "change",
            "old tier",
            "new tier",
        ]
        .map(String::from)
        .to_vec();
        header.extend(c.factors.iter().cloned());
        let mut movers = Table::new(header);
        movers.left_columns(&[0, 4, 5]);
        for m in &c.top_movers {
            let mut cells = vec![
                m.id.to_string(),
                number(m.old_score),
                number(m.new_score),
                signed(m.change),
                m.old_tier.clone(),
                m.new_tier.clone(),
            ];
            cells.extend(
                m.factor_changes
                    .values()
                    .map(|d| d.map_or_else(|| "-".to_string(), signed)),
            );
            movers.push(cells);
        }
        movers.render(&mut out);
    }
    out
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

fn shift_cells(name: String, shift: &Shift) -> Vec<String> {
    let or_dash = |v: Option<f64>, write: fn(f64) -> String| v.map_or_else(|| "-".into(), write);
    vec![
        name,
        count(shift.count),
        or_dash(shift.mean_old, number),
        or_dash(shift.mean_new, number),
        or_dash(shift.mean_shift, signed),
    ]
}

/// A text table: the first column (and any marked one) left-aligned, the rest right-aligned,
/// two spaces between columns, indented by two.
struct Table {
    rows: Vec<Vec<String>>,
    left: Vec<usize>,
}

impl Table {
    fn new(header: Vec<String>) -> Self {
        Self {
            rows: vec![header],
            left: vec![0],
        }
    }

    fn left_columns(&mut self, columns: &[usize]) {
        self.left = columns.to_vec();
    }

    fn push(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::from(" ");
            for (i, cell) in row.iter().enumerate() {
                let pad = " ".repeat(widths[i] - cell.chars().count());
                line.push(' ');
                if self.left.contains(&i) {
                    line.push_str(cell);
                    line.push_str(&pad);
                } else {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
                line.push(' ');
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_text_left_and_numbers_right() {
        let mut table = Table::new(vec!["tier".into(), "customers".into()]);
        table.push(vec!["strategic".into(), "7".into()]);
        table.push(vec!["key".into(), "1234".into()]);
        let mut out = String::new();
        table.render(&mut out);
        assert_eq!(
            out,
            "  tier       customers\n  strategic          7\n  key             1234\n"
        );
    }
}
