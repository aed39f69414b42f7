//! `derive:` entries, validated: population-wide columns that scripts read by name.

use super::spec::{DeriveSpec, SortOrder};
use super::{is_identifier, Checker, RESERVED_NAMES};
use crate::diagnostic::codes;

/// A column computed over the whole input (after `--limit`/`--sample`) before factors run.
#[derive(Debug, Clone, PartialEq)]
pub struct Derive {
    /// The name scripts read it by.
    pub name: String,
    /// The input column it is computed from (name after rename).
    pub column: String,
    pub kind: DeriveKind,
}

/// What a derive computes; each is exactly the SQL or scikit-learn formula named.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeriveKind {
    /// `NTILE(buckets) OVER (ORDER BY column [DESC], input position)` over non-null values.
    Ntile { buckets: u32, descending: bool },
    /// `PERCENT_RANK() OVER (ORDER BY column [DESC])`.
    PercentRank { descending: bool },
    /// `RANK() OVER (ORDER BY column [DESC])`.
    Rank { descending: bool },
    /// (x − mean) / population standard deviation.
    Zscore,
    /// (x − min) / (max − min), 0 when all values are equal.
    Minmax,
    /// Share of the column total held by this row and all before it, ordered by value
    /// descending (ties by input position).
    CumulativeShare,
}

impl DeriveKind {
    /// Whether scripts see it as an integer (buckets and ranks) rather than a float.
    pub fn is_integer(self) -> bool {
        matches!(self, DeriveKind::Ntile { .. } | DeriveKind::Rank { .. })
    }

    /// The YAML key that names this kind.
    pub fn key(self) -> &'static str {
        match self {
            DeriveKind::Ntile { .. } => "ntile",
            DeriveKind::PercentRank { .. } => "percent_rank",
            DeriveKind::Rank { .. } => "rank",
            DeriveKind::Zscore => "zscore",
            DeriveKind::Minmax => "minmax",
            DeriveKind::CumulativeShare => "cumulative_share",
        }
    }
}

impl Checker<'_> {
    /// Validates `derive:`; names must be usable by scripts and unique.
    pub(super) fn derive(&mut self, specs: &[DeriveSpec]) -> Vec<Derive> {
        let mut derived: Vec<Derive> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let key = format!("derive[{i}]");
            if !is_identifier(&spec.name) || RESERVED_NAMES.contains(&spec.name.as_str()) {
                self.error(
                    codes::pipeline::DERIVE_NAME,
                    &format!("{key}.name"),
                    format!("derive name `{}` is not a usable name", spec.name),
                    "use letters, digits and `_`, not starting with a digit, and not score/tier/reasons/params",
                );
            } else if derived.iter().any(|d| d.name == spec.name) {
                self.error(
                    codes::pipeline::DERIVE_NAME,
                    &format!("{key}.name"),
                    format!("derive `{}` is defined twice", spec.name),
                    "derive names must be unique",
                );
            }
            let descending = spec.order == Some(SortOrder::Desc);
            let kinds = [
                (&spec.ntile, "ntile"),
                (&spec.percent_rank, "percent_rank"),
                (&spec.rank, "rank"),
                (&spec.zscore, "zscore"),
                (&spec.minmax, "minmax"),
                (&spec.cumulative_share, "cumulative_share"),
            ];
            let given: Vec<(&String, &str)> = kinds
                .iter()
                .filter_map(|(column, kind)| column.as_ref().map(|c| (c, *kind)))
                .collect();
            let [(column, kind)] = given.as_slice() else {
                self.error(
                    codes::pipeline::DERIVE_KIND,
                    &key,
                    format!(
                        "derive `{}` must name exactly one of ntile, percent_rank, rank, zscore, minmax, cumulative_share (it names {})",
                        spec.name,
                        given.len()
                    ),
                    "e.g. `{ name: r_score, ntile: last_order_date, buckets: 5, order: asc }`",
                );
                continue;
            };
            let kind = match *kind {
                "ntile" => match spec.buckets {
                    Some(buckets) if buckets > 0 => DeriveKind::Ntile {
                        buckets,
                        descending,
                    },
                    _ => {
                        self.error(
                            codes::pipeline::DERIVE_BUCKETS,
                            &key,
                            format!("derive `{}` needs `buckets:` of 1 or more", spec.name),
                            "e.g. `buckets: 5` for quintiles",
                        );
                        continue;
                    }
                },
                "percent_rank" => DeriveKind::PercentRank { descending },
                "rank" => DeriveKind::Rank { descending },
                "zscore" => DeriveKind::Zscore,
                "minmax" => DeriveKind::Minmax,
                _ => DeriveKind::CumulativeShare,
            };
            if spec.buckets.is_some() && !matches!(kind, DeriveKind::Ntile { .. }) {
                self.error(
                    codes::pipeline::DERIVE_BUCKETS,
                    &format!("{key}.buckets"),
                    format!("`buckets` only applies to ntile (derive `{}`)", spec.name),
                    "remove it",
                );
            }
            if spec.order.is_some()
                && !matches!(
                    kind,
                    DeriveKind::Ntile { .. }
                        | DeriveKind::PercentRank { .. }
                        | DeriveKind::Rank { .. }
                )
            {
                self.error(
                    codes::pipeline::DERIVE_ORDER,
                    &format!("{key}.order"),
                    format!(
                        "`order` only applies to ntile, percent_rank and rank (derive `{}`)",
                        spec.name
                    ),
                    "remove it; cumulative_share always orders by value descending",
                );
            }
            derived.push(Derive {
                name: spec.name.clone(),
                column: column.to_string(),
                kind,
            });
        }
        derived
    }
}
