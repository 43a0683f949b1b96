//! `version`: JSON (or text) with the version, git commit, API version and target.

use crate::cli::Format;
use crate::error::{ExitCode, Result};

/// Run `version`.
///
/// # Errors
/// stdout cannot be written.
pub fn run(format: Format) -> Result<ExitCode> {
    let v = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": option_env!("GIT_COMMIT").unwrap_or("unknown"),
        "api_version": crate::API_VERSION,
        "target": format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
    });
    let text = format!("checkpointctl-image {}\n", env!("CARGO_PKG_VERSION"));
    super::emit(format, &v, &text)?;
    Ok(ExitCode::Ok)
}
