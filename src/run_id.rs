//! This invocation's run id: what a `run` names its output with (manifest, Parquet metadata,
//! rejects) and what every JSON log line carries, so the two can be matched.

use std::sync::OnceLock;

use chrono::Utc;

/// This invocation's run id, made on first use: a time that sorts, and a nonce that differs
/// between runs started in the same second.
pub fn run_id() -> &'static str {
    static RUN_ID: OnceLock<String> = OnceLock::new();
    RUN_ID.get_or_init(|| {
        let now = Utc::now();
        let nonce = crate::plan::sha256_hex(
            format!(
                "{}-{}",
                now.timestamp_nanos_opt().unwrap_or_default(),
                std::process::id(),
            )
            .as_bytes(),
        );
        format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &nonce[..8])
    })
}
