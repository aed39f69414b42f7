//! AWS profiles: the shared `credentials` and `config` files (`~/.aws/`, or the files
//! `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE` name) and `AWS_PROFILE`, as the AWS CLI
//! and SDKs read them; the `object_store` crate reads only the environment. A profile gives
//! static keys, a region and an endpoint; what the environment sets wins, as in the SDKs.
//! Role assumption, SSO and `credential_process` are not followed (docs/object-storage.md).

use std::collections::HashMap;
use std::path::PathBuf;

use object_store::aws::AmazonS3Builder;

/// The most of a shared file read: a few profiles take a few KB. A file that is not a regular
/// one (a named pipe would block the run) or is larger sets nothing, as a missing one.
const MAX_PROFILE_FILE_BYTES: u64 = 1 << 20;

/// What one profile of the shared files sets.
#[derive(Debug, Default, PartialEq)]
pub struct Profile {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
}

impl Profile {
    /// The profile `AWS_PROFILE` names (`default` without it) in the shared files, `env` being
    /// the environment. Missing files or sections set nothing.
    pub fn from_files(env: &impl Fn(&str) -> Option<String>) -> Self {
        let name = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let home = env("HOME").map(PathBuf::from);
        let read = |variable: &str, file: &str| {
            env(variable)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|home| home.join(".aws").join(file)))
                .and_then(|path| crate::local_file::read_text(&path, MAX_PROFILE_FILE_BYTES).ok())
                .unwrap_or_default()
        };
        let credentials = section(&read("AWS_SHARED_CREDENTIALS_FILE", "credentials"), &name);
        // The config file names a profile `[profile NAME]`, except `[default]`.
        let config_text = read("AWS_CONFIG_FILE", "config");
        let mut config = section(&config_text, &format!("profile {name}"));
        if config.is_empty() && name == "default" {
            config = section(&config_text, "default");
        }
        let key = |key: &str| credentials.get(key).or_else(|| config.get(key)).cloned();
        Self {
            access_key_id: key("aws_access_key_id"),
            secret_access_key: key("aws_secret_access_key"),
            session_token: key("aws_session_token"),
            region: config.get("region").cloned(),
            endpoint_url: config.get("endpoint_url").cloned(),
        }
    }

    /// `builder` (made from the environment `env`) with what this profile sets and the
    /// environment does not: keys only when the environment has none.
    pub fn apply(
        self,
        mut builder: AmazonS3Builder,
        env: &impl Fn(&str) -> Option<String>,
    ) -> AmazonS3Builder {
        let unset = |variables: &[&str]| variables.iter().all(|v| env(v).is_none());
        if unset(&["AWS_ACCESS_KEY_ID"]) {
            if let (Some(id), Some(secret)) = (self.access_key_id, self.secret_access_key) {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
                if let Some(token) = self.session_token {
                    builder = builder.with_token(token);
                }
            }
        }
        if let Some(region) = self
            .region
            .filter(|_| unset(&["AWS_REGION", "AWS_DEFAULT_REGION"]))
        {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = self
            .endpoint_url
            .filter(|_| unset(&["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]))
        {
            builder = builder.with_endpoint(endpoint);
        }
        builder
    }
}

/// The `key = value` lines of section `[name]` of an INI file as the AWS tools write it: `#`
/// and `;` start comments, and indented lines (a nested setting's values) are skipped.
fn section(text: &str, name: &str) -> HashMap<String, String> {
    let mut inside = false;
    let mut values = HashMap::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            inside = header.split_whitespace().collect::<Vec<_>>().join(" ") == name;
            continue;
        }
        if inside && !line.starts_with([' ', '\t']) {
            if let Some((key, value)) = trimmed.split_once('=') {
                values.insert(key.trim().to_string(), value.trim().to_string());
            }
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(vars: &[(&str, &str)], credentials: &str, config: &str) -> Profile {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".aws")).unwrap();
        std::fs::write(dir.path().join(".aws/credentials"), credentials).unwrap();
        std::fs::write(dir.path().join(".aws/config"), config).unwrap();
        let home = dir.path().display().to_string();
        let env = |key: &str| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
                .or_else(|| (key == "HOME").then(|| home.clone()))
        };
        Profile::from_files(&env)
    }

    const CREDENTIALS: &str = "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s1\n\n# the analysts' account\n[analytics]\naws_access_key_id=AKANALYTICS\naws_secret_access_key = s2\naws_session_token = t2\n";
    const CONFIG: &str = "[default]\nregion = eu-west-1\n\n[profile analytics]\nregion = eu-central-1\nendpoint_url = http://127.0.0.1:9000\ns3 =\n  addressing_style = path\n; a comment\n";

    #[test]
    fn the_named_profile_gives_keys_region_and_endpoint() {
        let analytics = profile(&[("AWS_PROFILE", "analytics")], CREDENTIALS, CONFIG);
        assert_eq!(
            analytics,
            Profile {
                access_key_id: Some("AKANALYTICS".into()),
                secret_access_key: Some("s2".into()),
                session_token: Some("t2".into()),
                region: Some("eu-central-1".into()),
                endpoint_url: Some("http://127.0.0.1:9000".into()),
            }
        );
        let default = profile(&[], CREDENTIALS, CONFIG);
        assert_eq!(default.access_key_id.as_deref(), Some("AKDEFAULT"));
        assert_eq!(default.region.as_deref(), Some("eu-west-1"));
        assert_eq!(default.endpoint_url, None);
        assert_eq!(
            profile(&[("AWS_PROFILE", "nobody")], CREDENTIALS, CONFIG),
            Profile::default()
        );
    }

    #[test]
    fn nested_settings_and_comments_are_not_values() {
        let values = section(CONFIG, "profile analytics");
        assert_eq!(values.get("addressing_style"), None);
        assert_eq!(values.get("s3").map(String::as_str), Some(""));
        assert_eq!(values.len(), 3);
    }
}
