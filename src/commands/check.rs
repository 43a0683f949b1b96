//! `check`: checkpoint facts + host probe → compatibility report.

use crate::cli::{CheckArgs, Format};
use crate::error::{Error, ExitCode, Result};

/// Run `check`.
///
/// # Errors
/// Not implemented yet.
pub fn run(_args: &CheckArgs, _format: Format) -> Result<ExitCode> {
    Err(Error::Message("check is not implemented yet".into()))
}

/// Run the checks against this host right after `build` wrote `image`:
/// `(compatible, JSON report, text report)`.
///
/// # Errors
/// Not implemented yet.
pub fn check_after_build(
    _image: &crate::store::ImageRef,
    _storage: &crate::cli::StorageArgs,
    _criu: Option<&std::path::Path>,
) -> Result<(bool, serde_json::Value, String)> {
    Err(Error::Message("check is not implemented yet".into()))
}
