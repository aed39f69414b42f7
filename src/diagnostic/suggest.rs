//! "Did you mean …?" suggestions for misspelt keys, columns and names.

/// The candidate closest to `wrong`, if one is close enough to be a likely typo.
///
/// Closeness is Jaro-Winkler similarity (good for short identifiers with a shared prefix) with a
/// case-insensitive exact match preferred, so `Revenue` suggests `revenue`.
pub fn did_you_mean<'a, I>(wrong: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let wrong_lower = wrong.to_lowercase();
    let mut best: Option<(&'a str, f64)> = None;
    for candidate in candidates {
        if candidate == wrong {
            continue;
        }
        let similarity = if candidate.to_lowercase() == wrong_lower {
            1.0
        } else {
            strsim::jaro_winkler(&wrong_lower, &candidate.to_lowercase())
        };
        if similarity >= 0.8 && best.is_none_or(|(_, s)| similarity > s) {
            best = Some((candidate, similarity));
        }
    }
    best.map(|(candidate, _)| candidate)
}

/// A help line for a misspelt name: "did you mean `x`?" or the list of what is allowed.
pub fn help_for(wrong: &str, candidates: &[&str], what: &str) -> String {
    match did_you_mean(wrong, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None if candidates.is_empty() => format!("there are no {what} to choose from"),
        None => format!(
            "expected one of the {what}: {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["version", "name", "factors", "tiers", "output"];
        assert_eq!(did_you_mean("facters", keys), Some("factors"));
        assert_eq!(did_you_mean("Tiers", keys), Some("tiers"));
        assert_eq!(did_you_mean("zzz", keys), None);
        assert_eq!(did_you_mean("tiers", keys), None);
    }

    #[test]
    fn help_lists_candidates_when_nothing_is_close() {
        assert_eq!(
            help_for("weigth", &["weight", "name"], "factor keys"),
            "did you mean `weight`?"
        );
        assert_eq!(
            help_for("qqq", &["tier", "none"], "values"),
            "expected one of the values: `tier`, `none`"
        );
        assert_eq!(
            help_for("x", &[], "params"),
            "there are no params to choose from"
        );
    }
}
