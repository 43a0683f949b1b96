//! The crate's error type, its `Result` alias, the `Context` extension trait and the
//! mapping from errors to process exit codes.
//!
//! Every message is one line, lowercase, and names the file, archive member, key or
//! digest involved; `Display` renders a context chain as `"context: cause"`.
//! This is a leaf module: every other module may use it, it uses none of them.

use std::fmt;
use std::io;

/// Process exit codes (DESIGN.md "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success; for `check`: compatible (warnings allowed).
    Ok = 0,
    /// The operation failed.
    Failed = 1,
    /// The command line was wrong.
    Usage = 2,
    /// `check` ran and the host is not compatible.
    Incompatible = 3,
    /// `--plugin-description` (checkpointctl plugin protocol).
    PluginDescription = 42,
}

/// Errors of checkpointctl-image.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A plain message.
    Message(String),
    /// The command line was wrong (exit code 2).
    Usage(String),
    /// Context added to an inner error.
    Context(String, Box<Error>),
    /// An I/O error.
    Io(io::Error),
    /// A JSON (de)serialisation error.
    Json(serde_json::Error),
    /// A system call error.
    Nix(nix::Error),
    /// An OCI data structure could not be built or parsed.
    Oci(oci_spec::OciSpecError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::Context(_, inner) => inner.exit_code(),
            _ => ExitCode::Failed,
        }
    }

    /// Whether this error (or the cause it wraps) is an I/O error of the given kind.
    pub fn is_io_kind(&self, kind: io::ErrorKind) -> bool {
        match self {
            Error::Io(e) => e.kind() == kind,
            Error::Context(_, inner) => inner.is_io_kind(kind),
            _ => false,
        }
    }

    /// The `{"error": "..."}` document printed on stdout with `--format json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.to_string() })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Message(m) | Error::Usage(m) => f.write_str(m),
            Error::Context(c, inner) => write!(f, "{c}: {inner}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Json(e) => write!(f, "{e}"),
            Error::Nix(e) => write!(f, "{}", e.desc()),
            Error::Oci(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        // Errors we raise ourselves inside Read/Write adapters travel as io::Error;
        // unwrap them so that the message is not doubled.
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(inner) = e.into_inner() {
                if let Ok(err) = inner.downcast::<Error>() {
                    return *err;
                }
            }
            return Error::Message("i/o error".into());
        }
        Error::Io(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        Error::Nix(e)
    }
}

impl From<oci_spec::OciSpecError> for Error {
    fn from(e: oci_spec::OciSpecError) -> Self {
        Error::Oci(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(io) => io,
            other => io::Error::other(other),
        }
    }
}

/// Build an [`Error::Message`] from format arguments.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::error::Error::Message(format!($($arg)*)) };
}

/// Return early with an [`Error::Message`].
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::err!($($arg)*)) };
}

/// Add context to errors: `.context("reading spec.dump")`.
pub trait Context<T> {
    /// Wrap the error with a fixed context string.
    fn context(self, ctx: impl Into<String>) -> Result<T>;
    /// Wrap the error with a lazily built context string.
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, ctx: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Context(ctx.into(), Box::new(e.into())))
    }
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Context(f().into(), Box::new(e.into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_chain_renders_on_one_line() {
        let r: Result<()> = Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
            .context("opening /x/a.tar");
        let e = r.unwrap_err();
        assert_eq!(e.to_string(), "opening /x/a.tar: no such file");
        assert_eq!(e.exit_code(), ExitCode::Failed);
        assert_eq!(e.to_json()["error"], "opening /x/a.tar: no such file");
    }

    #[test]
    fn usage_errors_keep_exit_code_through_context() {
        let e = Error::Context("parsing".into(), Box::new(Error::Usage("bad".into())));
        assert_eq!(e.exit_code(), ExitCode::Usage);
    }

    #[test]
    fn own_errors_round_trip_through_io_error() {
        let io: io::Error = err!("member config.dump: too large").into();
        let back: Error = io.into();
        assert_eq!(back.to_string(), "member config.dump: too large");
    }
}
