//! OCI image layout directories (image-spec `image-layout.md`):
//!
//! ```text
//! DIR/oci-layout            {"imageLayoutVersion":"1.0.0"}
//! DIR/index.json            image index; tags are org.opencontainers.image.ref.name
//! DIR/blobs/sha256/<hex>    content-addressed blobs
//! ```
//!
//! Writing never leaves a partial image: blobs are written to a temp file in
//! `blobs/sha256` and renamed to their digest; `index.json` is replaced atomically (temp
//! file, fsync, rename); other images in the layout are kept, and a tag replaces only the
//! descriptor carrying the same `ref.name`. [`OciLayout::abort`] removes what this run
//! added (the whole directory if it created it). Reading verifies digests.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::annotations::OCI_REF_NAME;
use crate::error::{Context, Result};
use crate::image::digest::{sha256_digest, sha256_hex};
use crate::image::{JsonBlob, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::store::{StoredImage, atomic_write};
use crate::{bail, err};

/// The largest manifest, index or config read into memory.
pub const MAX_JSON_BLOB: u64 = 4 << 20;

/// An OCI layout being written or read.
#[derive(Debug)]
pub struct OciLayout {
    dir: PathBuf,
    created_dir: bool,
    new_blobs: Vec<PathBuf>,
}

fn mkdir_private(p: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o755).create(p)
}

impl OciLayout {
    /// Open a layout for writing, creating it if missing.
    ///
    /// # Errors
    /// `dir` is a file, a non-empty directory that is not a layout, or cannot be created.
    pub fn create_or_open(dir: &Path) -> Result<Self> {
        let ctx = || format!("oci:{}", dir.display());
        let mut created_dir = false;
        match fs::symlink_metadata(dir) {
            Ok(m) if !m.is_dir() => {
                return Err(err!("exists and is not a directory")).with_context(ctx);
            }
            Ok(_) => {
                if !dir.join("oci-layout").exists()
                    && fs::read_dir(dir).with_context(ctx)?.next().is_some()
                {
                    return Err(err!(
                        "directory is not empty and is not an OCI layout (no oci-layout file)"
                    ))
                    .with_context(ctx);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                mkdir_private(dir).with_context(ctx)?;
                created_dir = true;
            }
            Err(e) => return Err(e).with_context(ctx),
        }
        let layout = Self {
            dir: dir.to_path_buf(),
            created_dir,
            new_blobs: Vec::new(),
        };
        let r = (|| {
            if let Ok(text) = fs::read(dir.join("oci-layout")) {
                let v: Value = serde_json::from_slice(&text)
                    .map_err(|e| err!("oci-layout: invalid JSON: {e}"))?;
                if v.get("imageLayoutVersion")
                    .and_then(Value::as_str)
                    .is_none()
                {
                    bail!("oci-layout: no imageLayoutVersion");
                }
            }
            mkdir_private(&dir.join("blobs/sha256"))?;
            if !dir.join("oci-layout").exists() {
                atomic_write(
                    &dir.join("oci-layout"),
                    br#"{"imageLayoutVersion":"1.0.0"}"#,
                    0o644,
                )?;
            }
            Ok(())
        })()
        .with_context(ctx);
        match r {
            Ok(()) => Ok(layout),
            Err(e) => {
                layout.abort();
                Err(e)
            }
        }
    }

    /// Open an existing layout for reading.
    ///
    /// # Errors
    /// `dir` is not an OCI layout.
    pub fn open_existing(dir: &Path) -> Result<Self> {
        if !dir.join("index.json").is_file() {
            bail!("oci:{}: not an OCI layout (no index.json)", dir.display());
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            created_dir: false,
            new_blobs: Vec::new(),
        })
    }

    /// The layout directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A temp file in `blobs/sha256` for a blob being written.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn temp_blob(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(".tmp-blob-")
            .tempfile_in(self.dir.join("blobs/sha256"))
            .with_context(|| format!("oci:{}: creating a blob", self.dir.display()))
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = sha256_hex(digest).ok_or_else(|| err!("invalid digest {digest:?}"))?;
        Ok(self.dir.join("blobs/sha256").join(hex))
    }

    /// Move a finished temp blob to its digest name.
    ///
    /// # Errors
    /// The rename fails.
    pub fn commit_blob(&mut self, tmp: tempfile::NamedTempFile, digest: &str) -> Result<()> {
        let path = self.blob_path(digest)?;
        if path.exists() {
            return Ok(()); // same content already there; the temp file is removed on drop
        }
        tmp.as_file().sync_data()?;
        tmp.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("writing blob {}", path.display()))?;
        set_mode(&path, 0o644)?;
        self.new_blobs.push(path);
        Ok(())
    }

    /// Write a JSON blob.
    ///
    /// # Errors
    /// I/O errors.
    pub fn put_json(&mut self, blob: &JsonBlob) -> Result<()> {
        let mut tmp = self.temp_blob()?;
        tmp.write_all(&blob.bytes)?;
        self.commit_blob(tmp, &blob.digest)
    }

    /// Point `index.json` at `blob` (a manifest or an index), tagged `reference`.
    ///
    /// # Errors
    /// An existing `index.json` that does not parse (it is then left untouched), or I/O.
    pub fn tag(&mut self, blob: &JsonBlob, reference: Option<&str>) -> Result<()> {
        let path = self.dir.join("index.json");
        let mut index: Value = match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| err!("{}: invalid JSON, not rewriting it: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": []})
            }
            Err(e) => return Err(e).with_context(|| path.display().to_string()),
        };
        let manifests = index
            .get_mut("manifests")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| err!("{}: no manifests array, not rewriting it", path.display()))?;
        manifests.retain(|d| {
            let tag = d
                .pointer("/annotations")
                .and_then(|a| a.get(OCI_REF_NAME))
                .and_then(Value::as_str);
            match reference {
                Some(r) => tag != Some(r),
                None => {
                    !(tag.is_none()
                        && d.get("digest").and_then(Value::as_str) == Some(&blob.digest))
                }
            }
        });
        let mut desc = json!({
            "mediaType": blob.media_type,
            "digest": blob.digest,
            "size": blob.size(),
        });
        if let Some(r) = reference {
            desc["annotations"] = json!({ OCI_REF_NAME: r });
        }
        manifests.push(desc);
        let bytes = serde_json::to_vec(&index)?;
        atomic_write(&self.dir.join("index.json"), &bytes, 0o644)
    }

    /// Undo this run: remove the blobs it added, or the whole layout if it created it.
    pub fn abort(self) {
        if self.created_dir {
            let _ = fs::remove_dir_all(&self.dir);
            return;
        }
        for b in &self.new_blobs {
            let _ = fs::remove_file(b);
        }
    }

    /// Keep what was written.
    pub fn finish(mut self) {
        self.new_blobs.clear();
        self.created_dir = false;
    }

    /// Read a JSON blob, verifying its digest and size.
    ///
    /// # Errors
    /// Missing, too large, or a digest mismatch.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let f = File::open(&path).with_context(|| format!("blob {digest}"))?;
        let mut buf = Vec::new();
        f.take(MAX_JSON_BLOB + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > MAX_JSON_BLOB {
            bail!("blob {digest}: larger than {MAX_JSON_BLOB} bytes");
        }
        let got = sha256_digest(&buf);
        if got != digest {
            bail!("blob {digest}: digest mismatch (content hashes to {got})");
        }
        Ok(buf)
    }

    /// Read the image tagged `reference` (or the only image).
    ///
    /// # Errors
    /// No such tag, several images and no tag, or unreadable blobs.
    pub fn read_image(&self, reference: Option<&str>) -> Result<StoredImage> {
        let index_path = self.dir.join("index.json");
        let index: Value = serde_json::from_slice(
            &fs::read(&index_path).with_context(|| index_path.display().to_string())?,
        )
        .map_err(|e| err!("{}: invalid JSON: {e}", index_path.display()))?;
        let location = format!("oci:{}", self.dir.display());
        resolve_image(&index, reference, &location, &|d| self.read_blob(d))
    }
}

/// Pick an image from an `index.json` and read it through `read`.
///
/// # Errors
/// No such tag, ambiguous, or unreadable blobs.
pub fn resolve_image(
    index: &Value,
    reference: Option<&str>,
    location: &str,
    read: &dyn Fn(&str) -> Result<Vec<u8>>,
) -> Result<StoredImage> {
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| err!("{location}: index.json has no manifests"))?;
    let tag_of = |d: &Value| {
        d.pointer("/annotations")
            .and_then(|a| a.get(OCI_REF_NAME))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let desc = match reference {
        Some(r) => manifests
            .iter()
            .find(|d| tag_of(d).as_deref() == Some(r))
            .ok_or_else(|| err!("{location}: no image tagged {r:?}"))?,
        None => match manifests.as_slice() {
            [one] => one,
            [] => bail!("{location}: the layout holds no image"),
            many => bail!(
                "{location}: the layout holds {} images; name one with :REF",
                many.len()
            ),
        },
    };
    let digest = desc
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| err!("{location}: descriptor without digest"))?;
    let media = desc.get("mediaType").and_then(Value::as_str).unwrap_or("");
    let mut index_annotations = None;
    let (manifest_digest, manifest) = if media == MEDIA_TYPE_INDEX {
        let idx: Value = serde_json::from_slice(&read(digest)?)?;
        index_annotations = idx.get("annotations").and_then(Value::as_object).map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        });
        let host = crate::host::goarch_from_uname(std::env::consts::ARCH);
        let list = idx
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| err!("{location}: image index {digest} has no manifests"))?;
        let chosen = list
            .iter()
            .find(|d| d.pointer("/platform/architecture").and_then(Value::as_str) == Some(&host))
            .or_else(|| list.first())
            .ok_or_else(|| err!("{location}: image index {digest} is empty"))?;
        let md = chosen
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| err!("{location}: descriptor without digest"))?;
        (md.to_string(), read(md)?)
    } else if media == MEDIA_TYPE_MANIFEST || media.is_empty() {
        (digest.to_string(), read(digest)?)
    } else {
        bail!(
            "{location}: unsupported manifest media type {media:?} (only OCI images are supported)"
        );
    };
    let m: Value = serde_json::from_slice(&manifest)
        .map_err(|e| err!("{location}: manifest {manifest_digest}: invalid JSON: {e}"))?;
    let config_digest = m
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .ok_or_else(|| err!("{location}: manifest {manifest_digest} has no config"))?;
    let config = read(config_digest)?;
    Ok(StoredImage {
        location: location.to_string(),
        names: tag_of(desc).into_iter().collect(),
        id: sha256_hex(config_digest).unwrap_or_default().to_string(),
        manifest_digest,
        manifest,
        config,
        index_annotations,
    })
}

/// Bytes written between two background syncs of a blob.
const WRITEBACK_EVERY: u64 = 16 << 20;

/// A blob file writer that starts writeback early.
///
/// Blobs are fsynced before they are renamed to their digest (a crash must not leave a
/// blob whose name promises content that never reached the disk). Syncing only at the
/// end stalls for the whole file; here a background thread calls `fdatasync` on a clone
/// of the descriptor every 16 MiB, so the data goes to disk while the stream is still
/// being produced and the final sync finds little left. Without a thread or a clone it
/// is a plain writer.
#[derive(Debug)]
pub struct BlobFile<'a> {
    file: &'a File,
    since_sync: u64,
    tx: Option<std::sync::mpsc::SyncSender<()>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl<'a> BlobFile<'a> {
    /// Wrap `file` (a temp blob).
    pub fn new(file: &'a File) -> Self {
        let mut me = Self {
            file,
            since_sync: 0,
            tx: None,
            worker: None,
        };
        if let Ok(clone) = file.try_clone() {
            let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
            let spawned = std::thread::Builder::new()
                .name("blob-writeback".into())
                .spawn(move || {
                    for () in rx {
                        // Best effort: the sync before the rename reports errors.
                        let _ = clone.sync_data();
                    }
                });
            if let Ok(worker) = spawned {
                me.tx = Some(tx);
                me.worker = Some(worker);
            }
        }
        me
    }
}

impl Write for BlobFile<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = (&*self.file).write(buf)?;
        self.since_sync += n as u64;
        if self.since_sync >= WRITEBACK_EVERY {
            if let Some(tx) = &self.tx {
                // A sync still running covers this too: never queue more than one.
                let _ = tx.try_send(());
            }
            self.since_sync = 0;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        (&*self.file).flush()
    }
}

impl Drop for BlobFile<'_> {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode))?;
    Ok(())
}
