//! oci-archive: a tar of an OCI layout, as `podman load`, `skopeo` and `ctr import` read it.
//!
//! Writing: the image goes into a private temporary layout next to the target file, which
//! is then packed (deterministic headers: root-owned, mode 0644/0755, mtime 0) into a
//! temp file and renamed over the target, so the target is either the old file or the
//! complete new one. Reading: one pass over the tar keeps the small JSON members
//! (`index.json`, manifests, configs) and skips layer blobs.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use crate::image::digest::sha256_digest;
use crate::store::StoredImage;
use crate::store::oci_layout::{MAX_JSON_BLOB, resolve_image};
use crate::{bail, err};

/// A staging layout for an oci-archive being written.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    tmpdir: tempfile::TempDir,
}

impl Staging {
    /// Prepare a staging directory next to `target`.
    ///
    /// # Errors
    /// `target` is a directory, or its parent is missing or unwritable.
    pub fn new(target: &Path) -> Result<Self> {
        let ctx = || format!("oci-archive:{}", target.display());
        if target.is_dir() {
            return Err(err!("is a directory")).with_context(ctx);
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(err!("directory {} does not exist", parent.display())).with_context(ctx);
        }
        let tmpdir = tempfile::Builder::new()
            .prefix(".tmp-oci-archive-")
            .tempdir_in(&parent)
            .with_context(ctx)?;
        Ok(Self {
            target: target.to_path_buf(),
            tmpdir,
        })
    }

    /// The layout directory to write into.
    pub fn layout_dir(&self) -> PathBuf {
        self.tmpdir.path().join("layout")
    }

    /// Pack the staged layout into the target file (atomically) and remove the staging dir.
    ///
    /// # Errors
    /// I/O errors; the target is then unchanged.
    pub fn finish(self) -> Result<()> {
        let ctx = || format!("oci-archive:{}", self.target.display());
        let parent = self
            .tmpdir
            .path()
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-oci-archive-")
            .tempfile_in(&parent)
            .with_context(ctx)?;
        {
            let mut b = tar::Builder::new(BufWriter::with_capacity(1 << 20, tmp.as_file()));
            let root = self.layout_dir();
            let mut entries = vec![
                PathBuf::from("oci-layout"),
                PathBuf::from("index.json"),
                PathBuf::from("blobs"),
                PathBuf::from("blobs/sha256"),
            ];
            let mut blobs: Vec<PathBuf> = fs::read_dir(root.join("blobs/sha256"))
                .with_context(ctx)?
                .filter_map(|e| e.ok())
                .map(|e| PathBuf::from("blobs/sha256").join(e.file_name()))
                .collect();
            blobs.sort();
            entries.extend(blobs);
            for rel in entries {
                let full = root.join(&rel);
                let meta = fs::metadata(&full).with_context(|| full.display().to_string())?;
                let mut h = tar::Header::new_ustar();
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(0);
                if meta.is_dir() {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, &rel, std::io::empty())?;
                } else {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(meta.len());
                    let f = File::open(&full)?;
                    b.append_data(&mut h, &rel, BufReader::with_capacity(1 << 20, f))?;
                }
            }
            b.into_inner()?.into_inner().map_err(|e| e.into_error())?;
        }
        tmp.as_file().sync_all().with_context(ctx)?;
        tmp.persist(&self.target)
            .map_err(|e| e.error)
            .with_context(ctx)?;
        Ok(())
    }
}

/// Read an image from an oci-archive.
///
/// # Errors
/// Not a tar, no `index.json`, no such tag, or digest mismatches.
pub fn read_image(file: &Path, reference: Option<&str>) -> Result<StoredImage> {
    let location = format!("oci-archive:{}", file.display());
    let f = File::open(file).with_context(|| location.clone())?;
    let mut ar = tar::Archive::new(BufReader::new(f));
    let mut small: HashMap<String, Vec<u8>> = HashMap::new();
    for entry in ar.entries().with_context(|| location.clone())? {
        let mut entry = entry.with_context(|| location.clone())?;
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if entry.header().entry_type().is_file() && entry.size() <= MAX_JSON_BLOB {
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf)?;
            small.insert(path, buf);
        }
    }
    let index = small
        .get("index.json")
        .ok_or_else(|| err!("{location}: no index.json (not an oci-archive)"))?;
    let index: serde_json::Value =
        serde_json::from_slice(index).map_err(|e| err!("{location}: index.json: {e}"))?;
    let read = |digest: &str| -> Result<Vec<u8>> {
        let hex = crate::image::digest::sha256_hex(digest)
            .ok_or_else(|| err!("invalid digest {digest:?}"))?;
        let b = small
            .get(&format!("blobs/sha256/{hex}"))
            .ok_or_else(|| err!("{location}: blob {digest} missing or too large"))?;
        if sha256_digest(b) != digest {
            bail!("{location}: blob {digest}: digest mismatch");
        }
        Ok(b.clone())
    };
    resolve_image(&index, reference, &location, &read)
}
