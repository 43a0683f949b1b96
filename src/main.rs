//! The `checkpointctl-image` executable: initialise logging, parse the command line, run,
//! and map the outcome to stdout (one JSON document with `--format json`) and an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use checkpointctl_image::cli::{Cli, Format};
use checkpointctl_image::commands;
use checkpointctl_image::error::{Error, ExitCode as Code};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; clap prints them itself.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { Code::Usage as u8 } else { 0 });
        }
    };
    init_logging(cli.log_level.as_deref());
    let format = cli.format;
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            report(&e, format);
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn init_logging(level: Option<&str>) {
    let mut b = env_logger::Builder::new();
    b.filter_level(log::LevelFilter::Warn);
    b.format_timestamp(None).format_target(false);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    if let Some(l) = level {
        b.parse_filters(&format!("checkpointctl_image={l}"));
    }
    b.target(env_logger::Target::Stderr);
    let _ = b.try_init();
}

fn report(e: &Error, format: Format) {
    match format {
        Format::Json => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", e.to_json());
        }
        Format::Text => eprintln!("Error: {e}"),
    }
}
