//! `${name}` in `input.path` and `output.path`: a param's value written into the path, so a
//! scheduler points a pipeline at a day's partition with `--set as_of=2026-12-01` and
//! `input.path: lake/customers/dt=${as_of}/`.

use serde_yaml::Value;

use super::params::Params;

/// Why a path's `${…}` cannot be filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathParamError {
    /// A `${` without its `}`.
    Unclosed,
    /// `${name}` names no param.
    Unknown(String),
    /// The param is a list, a map or null, which has no text to put into a path.
    NotScalar(String),
}

/// `template` with every `${name}` replaced by the param's value: strings as written, numbers
/// and booleans as YAML writes them. `$` not followed by `{` stays as it is.
pub fn fill(template: &str, params: &Params) -> Result<String, PathParamError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(PathParamError::Unclosed)?;
        let name = after[..end].trim();
        let value = params
            .get(name)
            .ok_or_else(|| PathParamError::Unknown(name.to_string()))?;
        match value {
            Value::String(text) => out.push_str(text),
            Value::Number(number) => out.push_str(&number.to_string()),
            Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
            _ => return Err(PathParamError::NotScalar(name.to_string())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The names of the params `template` reads (`${name}`), in order.
pub fn names(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        names.push(after[..end].trim());
        rest = &after[end + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        serde_yaml::from_str("{ as_of: '2026-12-01', n: 3, on: true, list: [1] }").unwrap()
    }

    #[test]
    fn fills_every_param_and_leaves_other_dollars() {
        assert_eq!(
            fill("lake/dt=${as_of}/n=${ n }/$x/${on}", &params()).unwrap(),
            "lake/dt=2026-12-01/n=3/$x/true"
        );
        assert_eq!(fill("plain/path", &params()).unwrap(), "plain/path");
        assert_eq!(names("a/${as_of}/${ n }/${open"), ["as_of", "n"]);
    }

    #[test]
    fn refuses_unknown_unclosed_and_non_scalar() {
        assert_eq!(
            fill("dt=${asof}", &params()),
            Err(PathParamError::Unknown("asof".into()))
        );
        assert_eq!(fill("dt=${as_of", &params()), Err(PathParamError::Unclosed));
        assert_eq!(
            fill("${list}", &params()),
            Err(PathParamError::NotScalar("list".into()))
        );
    }
}
