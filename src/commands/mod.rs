//! Orchestration: one module per subcommand, each wiring archive, metadata, annotations,
//! image, store, host and compat together. No formats are parsed or written here.

pub mod build;
pub mod check;
pub mod inspect;
pub mod version;

use std::io::Write;

use crate::cli::{Cli, Command, Format};
use crate::error::{ExitCode, Result};

/// The one line `checkpointctl plugin list` shows.
pub const PLUGIN_DESCRIPTION: &str =
    "Build, check and inspect OCI checkpoint images natively (no buildah)";

/// Run the parsed command line.
///
/// # Errors
/// Whatever the subcommand reports.
pub fn run(cli: Cli) -> Result<ExitCode> {
    if cli.plugin_description {
        println!("{PLUGIN_DESCRIPTION}");
        return Ok(ExitCode::PluginDescription);
    }
    let format = cli.format;
    match cli.command {
        Some(Command::Build(args)) => build::run(&args, format),
        Some(Command::Check(args)) => check::run(&args, format),
        Some(Command::Inspect(args)) => inspect::run(&args, format),
        Some(Command::Version) => version::run(format),
        None => Err(crate::error::Error::Usage(
            "a subcommand is required (build, check, inspect, version)".into(),
        )),
    }
}

/// Print a result: the JSON document, or the human text.
///
/// # Errors
/// stdout cannot be written.
pub fn emit(format: Format, json: &serde_json::Value, text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{json}")?,
        Format::Text => write!(out, "{text}")?,
    }
    Ok(())
}
