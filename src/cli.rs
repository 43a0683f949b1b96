//! Command-line definitions (clap derive) and nothing else: one struct for the global
//! options, one per subcommand, and shared option groups flattened into them.
//! `commands` turns these into work; every long option here is documented in `man/`
//! (a test enforces it).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build, check and inspect container checkpoint images.
#[derive(Debug, Parser)]
#[command(
    name = "checkpointctl-image",
    version,
    about = "Build, check and inspect OCI checkpoint images from container checkpoint archives",
    subcommand_required = false,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Print the checkpointctl plugin description and exit 42.
    #[arg(long, global = false)]
    pub plugin_description: bool,

    /// Output format: a short human summary, or exactly one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,

    /// Log level on stderr (overrides RUST_LOG): error, warn, info, debug, trace.
    #[arg(long, value_name = "LEVEL", global = true)]
    pub log_level: Option<String>,

    /// The subcommand.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable summary.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a checkpoint image from a checkpoint archive.
    Build(BuildArgs),
    /// Check whether this host can restore a checkpoint image or archive.
    Check(CheckArgs),
    /// Show what a checkpoint archive or image holds.
    Inspect(InspectArgs),
    /// Print version information.
    Version,
}

/// Where containers-storage lives (defaults: storage.conf, as Podman resolves it).
#[derive(Debug, Clone, Default, Args)]
pub struct StorageArgs {
    /// containers-storage graph root.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// containers-storage run root.
    #[arg(long, value_name = "DIR")]
    pub runroot: Option<PathBuf>,
    /// containers-storage driver (overlay or vfs).
    #[arg(long, value_name = "DRIVER")]
    pub storage_driver: Option<String>,
}

/// Layer compression for OCI outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// gzip (the most widely readable).
    Gzip,
    /// zstd (multi-threaded).
    Zstd,
    /// Uncompressed tar.
    None,
}

/// `build` options.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The checkpoint archive (tar, tar.gz or tar.zst).
    #[arg(value_name = "ARCHIVE")]
    pub archive: PathBuf,
    /// Where to write the image: NAME[:TAG], containers-storage:…, oci:DIR[:REF], oci-archive:FILE[:REF].
    #[arg(value_name = "DESTINATION")]
    pub destination: OsString,
    /// Layer compression for oci: and oci-archive: (containers-storage layers are always uncompressed).
    #[arg(long, value_enum)]
    pub compression: Option<CompressionArg>,
    /// Compression level (gzip 0-9, default 6; zstd 1-19, default 3).
    #[arg(long, value_name = "N")]
    pub compression_level: Option<i32>,
    /// Add or override a manifest annotation (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// Also write an image index carrying the checkpoint annotations and a platform (OCI outputs).
    #[arg(long)]
    pub index: bool,
    /// Record only facts found in the archive, none probed from this host.
    #[arg(long)]
    pub no_host_facts: bool,
    /// CRIU binary whose version is recorded (default: criu on PATH).
    #[arg(long, value_name = "PATH")]
    pub criu: Option<PathBuf>,
    /// After building, check the image against this host (exit 3 if incompatible).
    #[arg(long)]
    pub check: bool,
    /// Show progress on a terminal (bytes processed, rate).
    #[arg(long)]
    pub progress: bool,
    /// containers-storage location.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `check` options: every host fact can be given instead of probed.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A checkpoint archive, NAME[:TAG], containers-storage:…, oci:DIR[:REF] or oci-archive:FILE[:REF].
    #[arg(value_name = "SOURCE")]
    pub source: OsString,
    /// The engine's OCI runtime name (default: containers.conf, else unknown).
    #[arg(long, value_name = "NAME")]
    pub runtime: Option<String>,
    /// The engine family that will restore: podman, cri-o or containerd.
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// CRIU binary to ask for its version (default: criu on PATH).
    #[arg(long, value_name = "PATH")]
    pub criu: Option<PathBuf>,
    /// CRIU version of this host, instead of asking CRIU (4.1.1 or 40101).
    #[arg(long, value_name = "VERSION")]
    pub criu_version: Option<String>,
    /// Also run `criu check` (needs root; slow).
    #[arg(long)]
    pub criu_check: bool,
    /// CPU architecture of this host, GOARCH naming (amd64, arm64, …).
    #[arg(long, value_name = "GOARCH")]
    pub arch: Option<String>,
    /// Kernel release of this host (uname -r).
    #[arg(long, value_name = "RELEASE")]
    pub kernel: Option<String>,
    /// cgroup version of this host: v1 or v2.
    #[arg(long, value_name = "VERSION")]
    pub cgroup_version: Option<String>,
    /// containers-storage location.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `inspect` options.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A checkpoint archive, NAME[:TAG], containers-storage:…, oci:DIR[:REF] or oci-archive:FILE[:REF].
    #[arg(value_name = "SOURCE")]
    pub source: OsString,
    /// Also list every archive member.
    #[arg(long)]
    pub members: bool,
    /// containers-storage location.
    #[command(flatten)]
    pub storage: StorageArgs,
}
