//! checkpointctl-image: turn container checkpoint archives (Podman, CRI-O, containerd)
//! into OCI checkpoint images written straight into local image storage, check before a
//! restore whether this host can restore a checkpoint, and inspect archives and images.
//!
//! Data flows one way: [`archive`] → [`metadata`] → [`annotations`] → [`image`] →
//! [`store`]. `check` reads facts from a store or an archive, probes the [`host`] and
//! applies the pure rules of [`compat`]. [`commands`] orchestrates; [`cli`] only defines
//! the command line. See DESIGN.md in the project documentation for the contract.

pub mod annotations;
pub mod archive;
pub mod cli;
pub mod commands;
pub mod compat;
pub mod error;
pub mod host;
pub mod image;
pub mod metadata;
pub mod store;

/// The API version of the JSON contract (`version` output).
pub const API_VERSION: &str = "1.0.0";
