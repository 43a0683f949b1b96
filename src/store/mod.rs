//! Where images go and come from: transport-syntax parsing for destinations and sources
//! (`containers-storage:`, bare `NAME[:TAG]`, `oci:`, `oci-archive:`, archive paths) and
//! the backends that write and read them.
//!
//! `docker-archive:` is refused on purpose: Docker v2s2 manifests carry no annotations,
//! so no engine could recognise the checkpoint image.

pub mod containers_storage;
pub mod oci_archive;
pub mod oci_layout;
pub mod reference;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::cli::StorageArgs;
use crate::error::{Context, Error, Result};

/// containers-storage location and driver; `None` = resolve as Podman does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageSpec {
    /// Graph driver (`overlay`, `vfs`).
    pub driver: Option<String>,
    /// Graph root.
    pub graphroot: Option<PathBuf>,
    /// Run root.
    pub runroot: Option<PathBuf>,
}

impl StorageSpec {
    /// Fill what the reference left open from the command-line options.
    pub fn with_defaults(mut self, args: &StorageArgs) -> Self {
        self.driver = self.driver.or_else(|| args.storage_driver.clone());
        self.graphroot = self.graphroot.or_else(|| args.root.clone());
        self.runroot = self.runroot.or_else(|| args.runroot.clone());
        self
    }
}

/// Where `build` writes, or where `check`/`inspect` read an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// containers-storage; `name` is normalised (`localhost/NAME:TAG`) or an image ID.
    ContainersStorage {
        /// Store location.
        spec: StorageSpec,
        /// Normalised name, or a 64-hex image ID (sources only).
        name: String,
    },
    /// An OCI layout directory.
    OciLayout {
        /// The directory.
        dir: PathBuf,
        /// The `org.opencontainers.image.ref.name` tag.
        reference: Option<String>,
    },
    /// A tar of an OCI layout.
    OciArchive {
        /// The file.
        file: PathBuf,
        /// The `org.opencontainers.image.ref.name` tag.
        reference: Option<String>,
    },
}

/// What `check` and `inspect` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A checkpoint archive file.
    Archive(PathBuf),
    /// An image.
    Image(ImageRef),
}

const TRANSPORTS_REFUSED: &[(&str, &str)] = &[
    (
        "docker-archive",
        "docker-archive: is not supported: Docker v2s2 manifests carry no annotations, so no engine would recognise the checkpoint image; use oci-archive: instead",
    ),
    (
        "docker-daemon",
        "docker-daemon: is not supported: Docker images carry no manifest annotations; use oci-archive: instead",
    ),
    (
        "docker",
        "docker:// is not supported: build into local storage or an OCI layout, then push with podman or skopeo",
    ),
    ("dir", "dir: is not supported; use oci:DIR"),
];

fn split_transport(s: &[u8]) -> Option<(&str, &[u8])> {
    let colon = s.iter().position(|&b| b == b':')?;
    let t = std::str::from_utf8(&s[..colon]).ok()?;
    Some((t, &s[colon + 1..]))
}

fn split_ref(rest: &[u8]) -> (PathBuf, Option<String>, bool) {
    // c/image: the path ends at the first ':'; the rest is the reference.
    match rest.iter().position(|&b| b == b':') {
        Some(i) => {
            let r = String::from_utf8(rest[i + 1..].to_vec());
            let ok = r.is_ok();
            (
                PathBuf::from(OsStr::from_bytes(&rest[..i])),
                r.ok().filter(|r| !r.is_empty()),
                ok,
            )
        }
        None => (PathBuf::from(OsStr::from_bytes(rest)), None, true),
    }
}

/// Parse `[DRIVER@GRAPHROOT+RUNROOT]NAME` (the part after `containers-storage:`).
fn parse_cs(rest: &str, is_source: bool) -> Result<ImageRef> {
    let mut spec = StorageSpec::default();
    let mut name = rest;
    if let Some(inner) = rest.strip_prefix('[') {
        let close = inner
            .find(']')
            .ok_or_else(|| Error::Usage(format!("containers-storage:{rest}: missing ']'")))?;
        let store = &inner[..close];
        name = &inner[close + 1..];
        let (driver, paths) = match store.split_once('@') {
            Some((d, p)) => (Some(d), p),
            None => (None, store),
        };
        let (paths, options) = match paths.split_once(':') {
            Some((p, o)) => (p, Some(o)),
            None => (paths, None),
        };
        if options.is_some_and(|o| !o.is_empty()) {
            return Err(Error::Usage(format!(
                "containers-storage:{rest}: storage options in the reference are not supported"
            )));
        }
        let (graph, run) = match paths.split_once('+') {
            Some((g, r)) => (g, Some(r)),
            None => (paths, None),
        };
        spec.driver = driver.filter(|d| !d.is_empty()).map(str::to_string);
        spec.graphroot = Some(graph).filter(|g| !g.is_empty()).map(PathBuf::from);
        spec.runroot = run.filter(|r| !r.is_empty()).map(PathBuf::from);
    }
    let name = cs_name(name, is_source)?;
    Ok(ImageRef::ContainersStorage { spec, name })
}

fn cs_name(name: &str, is_source: bool) -> Result<String> {
    if is_source {
        let id = name.strip_prefix("sha256:").unwrap_or(name);
        if crate::metadata::is_hex64(id) {
            return Ok(id.to_string());
        }
    }
    reference::normalize(name).map_err(Error::Usage)
}

fn parse_image_ref(s: &OsStr, is_source: bool) -> Result<ImageRef> {
    let bytes = s.as_bytes();
    if let Some((transport, rest)) = split_transport(bytes) {
        match transport {
            "containers-storage" => {
                let rest = std::str::from_utf8(rest).map_err(|_| {
                    Error::Usage("containers-storage reference is not valid UTF-8".into())
                })?;
                return parse_cs(rest, is_source);
            }
            "oci" | "oci-archive" => {
                let (path, reference, ok) = split_ref(rest);
                if !ok {
                    return Err(Error::Usage(format!(
                        "{transport}: reference is not valid UTF-8"
                    )));
                }
                if path.as_os_str().is_empty() {
                    return Err(Error::Usage(format!("{transport}: a path is required")));
                }
                return Ok(if transport == "oci" {
                    ImageRef::OciLayout {
                        dir: path,
                        reference,
                    }
                } else {
                    ImageRef::OciArchive {
                        file: path,
                        reference,
                    }
                });
            }
            t => {
                if let Some((_, msg)) = TRANSPORTS_REFUSED.iter().find(|(n, _)| *n == t) {
                    return Err(Error::Usage((*msg).to_string()));
                }
            }
        }
    }
    let name = std::str::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{}: not a valid image name", s.to_string_lossy())))?;
    if name.contains("://") {
        return Err(Error::Usage(format!("{name}: unsupported transport")));
    }
    Ok(ImageRef::ContainersStorage {
        spec: StorageSpec::default(),
        name: cs_name(name, is_source)?,
    })
}

/// Parse a `build` destination.
///
/// # Errors
/// A usage error naming the problem (refused transport, invalid name).
pub fn parse_destination(s: &OsStr) -> Result<ImageRef> {
    parse_image_ref(s, false)
}

/// Parse a `check`/`inspect` source: an existing regular file is an archive.
///
/// # Errors
/// A usage error naming the problem.
pub fn parse_source(s: &OsString) -> Result<Source> {
    let path = PathBuf::from(s);
    if path.is_file() {
        return Ok(Source::Archive(path));
    }
    let bytes = s.as_bytes();
    let has_transport = split_transport(bytes).is_some_and(|(t, _)| {
        matches!(t, "containers-storage" | "oci" | "oci-archive")
            || TRANSPORTS_REFUSED.iter().any(|(n, _)| *n == t)
    });
    if !has_transport && (bytes.contains(&b'/') && path.exists() || bytes.starts_with(b"/")) {
        if path.is_dir() {
            return Err(Error::Usage(format!(
                "{}: is a directory; use oci:{} for an OCI layout",
                path.display(),
                path.display()
            )));
        }
        if !path.exists() {
            return Err(Error::Message(format!("{}: no such file", path.display())));
        }
    }
    Ok(Source::Image(parse_image_ref(s, true)?))
}

/// Write `path` atomically, as c/storage's `AtomicWriteFile` does and as OCI layouts need:
/// a temp file `.tmp-<name>*` next to it (created 0600), written, fsynced, given `mode`,
/// renamed over `path`, then the directory synced. On error the temp file is removed and
/// `path` is untouched.
///
/// # Errors
/// I/O errors, naming `path`.
pub fn atomic_write(path: &std::path::Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let ctx = || format!("writing {}", path.display());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| crate::err!("{}: no file name", path.display()))?
        .to_string_lossy();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".tmp-{name}"))
        .tempfile_in(dir)
        .with_context(ctx)?;
    tmp.write_all(bytes).with_context(ctx)?;
    tmp.as_file().sync_all().with_context(ctx)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(ctx)?;
    tmp.persist(path).map_err(|e| e.error).with_context(ctx)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// An image read back from a store, as `check` and `inspect` need it.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// Where it came from, human readable.
    pub location: String,
    /// Names / tags.
    pub names: Vec<String>,
    /// Image ID (config digest hex).
    pub id: String,
    /// Manifest digest.
    pub manifest_digest: String,
    /// Manifest JSON.
    pub manifest: Vec<u8>,
    /// Config JSON.
    pub config: Vec<u8>,
    /// Index annotations, when the reference points to an index.
    pub index_annotations: Option<std::collections::BTreeMap<String, String>>,
}

impl StoredImage {
    /// The manifest annotations (merged over the index's, which come first).
    pub fn annotations(&self) -> std::collections::BTreeMap<String, String> {
        let mut a = self.index_annotations.clone().unwrap_or_default();
        if let Ok(m) = serde_json::from_slice::<serde_json::Value>(&self.manifest) {
            if let Some(obj) = m.get("annotations").and_then(|v| v.as_object()) {
                for (k, v) in obj {
                    if let Some(s) = v.as_str() {
                        a.insert(k.clone(), s.to_string());
                    }
                }
            }
        }
        a
    }

    /// The config's architecture.
    pub fn config_arch(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.config)
            .ok()?
            .get("architecture")?
            .as_str()
            .map(str::to_string)
    }
}

/// Read an image from any transport.
///
/// # Errors
/// The image does not exist, or a store or layout cannot be read.
pub fn read_image(r: &ImageRef, storage: &StorageArgs) -> Result<StoredImage> {
    match r {
        ImageRef::OciLayout { dir, reference } => {
            oci_layout::OciLayout::open_existing(dir)?.read_image(reference.as_deref())
        }
        ImageRef::OciArchive { file, reference } => {
            oci_archive::read_image(file, reference.as_deref())
        }
        ImageRef::ContainersStorage { spec, name } => {
            let spec = spec.clone().with_defaults(storage);
            containers_storage::read_image(&spec, name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(s: &str) -> Result<ImageRef> {
        parse_destination(OsStr::new(s))
    }

    #[test]
    fn destination_table() {
        assert_eq!(
            dest("ckpt").ok(),
            Some(ImageRef::ContainersStorage {
                spec: StorageSpec::default(),
                name: "localhost/ckpt:latest".into()
            })
        );
        assert_eq!(
            dest("containers-storage:[vfs@/g+/r]quay.io/a/b:1").ok(),
            Some(ImageRef::ContainersStorage {
                spec: StorageSpec {
                    driver: Some("vfs".into()),
                    graphroot: Some("/g".into()),
                    runroot: Some("/r".into())
                },
                name: "quay.io/a/b:1".into()
            })
        );
        assert_eq!(
            dest("containers-storage:[/g]x").ok(),
            Some(ImageRef::ContainersStorage {
                spec: StorageSpec {
                    driver: None,
                    graphroot: Some("/g".into()),
                    runroot: None
                },
                name: "localhost/x:latest".into()
            })
        );
        assert_eq!(
            dest("oci:/tmp/l:cp").ok(),
            Some(ImageRef::OciLayout {
                dir: "/tmp/l".into(),
                reference: Some("cp".into())
            })
        );
        assert_eq!(
            dest("oci:/tmp/l").ok(),
            Some(ImageRef::OciLayout {
                dir: "/tmp/l".into(),
                reference: None
            })
        );
        assert_eq!(
            dest("oci-archive:x.tar:a:b").ok(),
            Some(ImageRef::OciArchive {
                file: "x.tar".into(),
                reference: Some("a:b".into())
            })
        );
        for bad in [
            "docker-archive:x.tar",
            "docker://quay.io/x",
            "Upper",
            "oci:",
            "containers-storage:[x",
        ] {
            let e = dest(bad).expect_err(bad);
            assert_eq!(e.exit_code(), crate::error::ExitCode::Usage, "{bad}");
        }
        assert!(
            dest("docker-archive:x.tar")
                .unwrap_err()
                .to_string()
                .contains("annotations")
        );
    }

    #[test]
    fn sources_accept_image_ids() {
        let id = "a".repeat(64);
        let s =
            parse_source(&OsString::from(format!("containers-storage:sha256:{id}"))).expect("id");
        assert_eq!(
            s,
            Source::Image(ImageRef::ContainersStorage {
                spec: StorageSpec::default(),
                name: id
            })
        );
    }
}
