//! containers-storage: a one-layer checkpoint image written straight into the store that
//! Podman, Buildah, skopeo and CRI-O read, following c/storage's own protocol
//! (CONTAINERS-STORAGE.md §12):
//!
//! 1. [`Store::open`] resolves the store ([`config`]), refuses unsupported settings and
//!    unparsable record files before anything is written, and creates missing dirs.
//! 2. [`Store::begin_layer`] takes `layers.lock` ([`lock`], fcntl) and records a layer
//!    under a temporary random ID with `flags.incomplete`, saved atomically with a new
//!    token, *before* its driver directory is created.
//! 3. The [`LayerWriter`] extracts ([`extract`]) and records tar-split ([`tarsplit`]) as
//!    the layer streams by.
//! 4. [`LayerWriter::commit`] (lock still held) reuses an existing complete layer with
//!    ID = DiffID hex, or renames the directory and tar-split to that ID, completes the
//!    record and clears the flag ([`layers`]).
//! 5. [`PendingImage::commit_image`] takes `images.lock`, writes the big data and the
//!    image record, moves names ([`images`]), saves, rewrites the token, and releases
//!    images then layers.
//!
//! Dropping a [`LayerWriter`] or [`PendingImage`] before the end undoes what this run
//! created. A crash leaves at worst an incomplete layer, which c/storage deletes on its
//! next load, or a complete but unreferenced layer. `storage.lock` is never touched.
//!
//! Debug builds honour `CHECKPOINTCTL_IMAGE_FAULT=after-layer-record|mid-extract|
//! before-image-record`, which aborts the process at that point (crash tests).

pub mod config;
pub mod extract;
pub mod images;
pub mod layers;
pub mod lock;
pub mod records;
pub mod tarsplit;

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::archive::Entry;
use crate::error::{Context, Result};
use crate::image::digest::{sha256_digest, sha256_hex};
use crate::image::layer::LayerSink;
use crate::image::{ImageParts, LayerDesc};
use crate::store::{StorageSpec, StoredImage};
use crate::{bail, err};

use config::StoreConfig;
use extract::Extractor;
use layers::DriverDirs;
use lock::LockFile;
use tarsplit::TarSplitWriter;

/// The environment variable naming a fault point (debug builds only).
pub const FAULT_ENV: &str = "CHECKPOINTCTL_IMAGE_FAULT";

/// Abort the process at `point` when [`FAULT_ENV`] names it (debug builds only).
#[cfg(debug_assertions)]
fn fault(point: &str) {
    if std::env::var(FAULT_ENV).is_ok_and(|v| v == point) {
        log::error!("{FAULT_ENV}={point}: aborting on purpose");
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
fn fault(_point: &str) {}

/// An opened store.
#[derive(Debug)]
pub struct Store {
    cfg: StoreConfig,
}

/// A layer being extracted; `layers.lock` is held.
#[derive(Debug)]
pub struct LayerWriter {
    cfg: StoreConfig,
    dirs: DriverDirs,
    lock: Option<LockFile>,
    tmp_id: String,
    extractor: Extractor,
    tarsplit: Option<TarSplitWriter<flate2::write::GzEncoder<BufWriter<File>>>>,
    done: bool,
}

/// A layer committed, with `layers.lock` still held.
#[derive(Debug)]
pub struct PendingImage {
    cfg: StoreConfig,
    dirs: DriverDirs,
    lock: Option<LockFile>,
    layer_id: String,
    /// This run created the layer (rather than reusing one): undo removes it.
    created_layer: bool,
    layer_created_at: String,
    done: bool,
}

/// The result of writing an image.
#[derive(Debug, Clone)]
pub struct CommittedImage {
    /// Image ID.
    pub id: String,
    /// Top layer ID.
    pub layer_id: String,
    /// Names the image now carries.
    pub names: Vec<String>,
    /// Graph root.
    pub graphroot: PathBuf,
    /// Run root.
    pub runroot: PathBuf,
    /// Driver.
    pub driver: String,
}

fn mkdir_p(p: &Path, mode: u32) -> Result<()> {
    std::fs::DirBuilder::new()
        .mode(mode)
        .recursive(true)
        .create(p)
        .with_context(|| format!("creating {}", p.display()))
}

impl Store {
    /// Resolve and open the store, creating missing directories.
    ///
    /// # Errors
    /// An unsupported store setting or driver, a `layers.json`/`images.json` that does
    /// not parse (nothing is written then), or I/O errors.
    pub fn open(spec: &StorageSpec) -> Result<Store> {
        let cfg = config::resolve(spec)?;
        // Layers keep the archive's owners (root). Outside the engine's user namespace a
        // non-root writer cannot chown them, and the store's id mappings would not match
        // (CONTAINERS-STORAGE.md §7): refuse up front instead of failing half-way.
        if !nix::unistd::geteuid().is_root() {
            bail!(
                "containers-storage {}: writing needs root or the engine's user namespace (run it under `podman unshare`)",
                cfg.graphroot.display()
            );
        }
        // Refuse before writing anything: a file we cannot parse is never rewritten.
        records::load_array(&cfg.layers_dir().join("layers.json"))?;
        records::load_array(&cfg.images_dir().join("images.json"))?;
        mkdir_p(&cfg.graphroot, 0o700)?;
        mkdir_p(&cfg.runroot, 0o700)?;
        mkdir_p(&cfg.layers_dir(), 0o700)?;
        mkdir_p(&cfg.images_dir(), 0o700)?;
        DriverDirs::new(&cfg).init()?;
        log::info!(
            "containers-storage: driver {}, graph root {}, run root {}",
            cfg.driver.name(),
            cfg.graphroot.display(),
            cfg.runroot.display()
        );
        Ok(Store { cfg })
    }

    /// Take `layers.lock`, record an incomplete layer under a temporary ID and create its
    /// driver directory.
    ///
    /// # Errors
    /// Lock, record or directory errors; nothing is left behind.
    pub fn begin_layer(self) -> Result<LayerWriter> {
        let cfg = self.cfg;
        let layers_dir = cfg.layers_dir();
        let json = layers_dir.join("layers.json");
        let lock = LockFile::write(&layers_dir.join("layers.lock"))?;
        let mut list = records::load_array(&json)?;
        let dirs = DriverDirs::new(&cfg);
        let mut tmp_id = records::random_id()?;
        while records::find(&list, &tmp_id).is_some() || dirs.exists(&tmp_id) {
            tmp_id = records::random_id()?;
        }
        list.push(layers::incomplete_record(&tmp_id, &records::now_rfc3339()));
        records::save_array(&json, &list)?;
        lock.record_write()?;
        log::debug!("layer {tmp_id}: recorded as incomplete");
        let root = dirs.layer_root(&tmp_id);
        let mut w = LayerWriter {
            extractor: Extractor::new(root),
            cfg,
            dirs,
            lock: Some(lock),
            tmp_id,
            tarsplit: None,
            done: false,
        };
        fault("after-layer-record");
        // From here on, Drop undoes everything on error.
        w.dirs.create(&w.tmp_id)?;
        let ts_path = layers::tar_split_path(&layers_dir, &w.tmp_id);
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&ts_path)
            .with_context(|| format!("creating {}", ts_path.display()))?;
        w.tarsplit = Some(TarSplitWriter::new(flate2::write::GzEncoder::new(
            BufWriter::with_capacity(1 << 20, f),
            flate2::Compression::default(),
        )));
        Ok(w)
    }
}

impl LayerSink for LayerWriter {
    fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        match self.tarsplit.as_mut() {
            Some(t) => t.raw(bytes),
            None => bail!("internal error: layer writer already finished"),
        }
    }
    fn begin(&mut self, entry: &Entry) -> Result<()> {
        if let Some(t) = self.tarsplit.as_mut() {
            t.begin(entry)?;
        }
        self.extractor.begin(entry)
    }
    fn body(&mut self, chunk: &[u8]) -> Result<()> {
        if let Some(t) = self.tarsplit.as_mut() {
            t.body(chunk);
        }
        self.extractor.body(chunk)
    }
    fn end(&mut self, entry: &Entry) -> Result<()> {
        if let Some(t) = self.tarsplit.as_mut() {
            t.end(entry)?;
        }
        self.extractor.end(entry)?;
        if self.extractor.count == 2 {
            fault("mid-extract");
        }
        Ok(())
    }
}

impl LayerWriter {
    fn layers_json(&self) -> PathBuf {
        self.cfg.layers_dir().join("layers.json")
    }

    fn lock(&self) -> Result<&LockFile> {
        self.lock
            .as_ref()
            .ok_or_else(|| err!("internal error: layers.lock not held"))
    }

    /// Finish the layer under its final ID (= DiffID hex), or reuse an existing complete
    /// layer with that ID. `layers.lock` stays held.
    ///
    /// # Errors
    /// A malformed DiffID, or record/file errors; the layer is then removed.
    pub fn commit(mut self, diff_id: &str, diff_size: u64) -> Result<PendingImage> {
        let final_id = sha256_hex(diff_id)
            .ok_or_else(|| err!("internal error: malformed diff id {diff_id:?}"))?
            .to_string();
        let ts = self
            .tarsplit
            .take()
            .ok_or_else(|| err!("internal error: layer writer already finished"))?;
        let layers_dir = self.cfg.layers_dir();
        let ts_tmp = layers::tar_split_path(&layers_dir, &self.tmp_id);
        let buf = ts.finish()?.finish().context("compressing tar-split")?;
        buf.into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", ts_tmp.display()))?;
        self.extractor.finish(0o555)?;

        let json = self.layers_json();
        let mut list = records::load_array(&json)?;
        if let Some(existing) = records::find(&list, &final_id) {
            if !layers::is_incomplete(existing) {
                // The same layer is already stored: drop ours and reuse it.
                log::info!("layer {final_id} already in the store: reusing it");
                self.dirs.remove(&self.tmp_id)?;
                remove_file_if_exists(&ts_tmp)?;
                list.retain(|v| records::str_field(v, "id") != Some(self.tmp_id.as_str()));
                records::save_array(&json, &list)?;
                self.lock()?.record_write()?;
                self.done = true;
                return Ok(PendingImage {
                    cfg: self.cfg.clone(),
                    dirs: self.dirs.clone(),
                    lock: self.lock.take(),
                    layer_id: final_id,
                    created_layer: false,
                    layer_created_at: String::new(),
                    done: false,
                });
            }
            // An incomplete leftover: delete it, as c/storage would with the write lock.
            log::warn!("found incomplete layer {final_id}, deleting it");
            self.dirs.remove(&final_id)?;
            remove_file_if_exists(&layers::tar_split_path(&layers_dir, &final_id))?;
            list.retain(|v| records::str_field(v, "id") != Some(final_id.as_str()));
        } else if self.dirs.exists(&final_id) {
            log::warn!(
                "removing orphaned layer directory for {final_id} (no record references it)"
            );
            self.dirs.remove(&final_id)?;
        }
        // Rename first: a crash now leaves an orphan at the final path (removed by the
        // next build) and an incomplete temporary record (removed by c/storage).
        self.dirs.rename(&self.tmp_id, &final_id)?;
        self.extractor.set_root(self.dirs.layer_root(&final_id));
        let ts_final = layers::tar_split_path(&layers_dir, &final_id);
        std::fs::rename(&ts_tmp, &ts_final)
            .with_context(|| format!("renaming {}", ts_tmp.display()))?;
        let pos = records::position(&list, &self.tmp_id)
            .ok_or_else(|| err!("layer {} vanished from {}", self.tmp_id, json.display()))?;
        let created_at = records::str_field(&list[pos], "created")
            .unwrap_or_default()
            .to_string();
        layers::complete_record(
            &mut list[pos],
            &layers::Completion {
                id: &final_id,
                diff_digest: diff_id,
                diff_size,
                uids: self.extractor.uids.iter().copied().collect(),
                gids: self.extractor.gids.iter().copied().collect(),
            },
        )?;
        let saved = records::save_array(&json, &list);
        let token = saved.and_then(|()| self.lock()?.record_write());
        if let Err(e) = token {
            // Undo under the final ID.
            let _ = self.dirs.remove(&final_id);
            let _ = std::fs::remove_file(&ts_final);
            return Err(e);
        }
        self.done = true;
        log::debug!("layer {final_id}: complete");
        Ok(PendingImage {
            cfg: self.cfg.clone(),
            dirs: self.dirs.clone(),
            lock: self.lock.take(),
            layer_id: final_id,
            created_layer: true,
            layer_created_at: created_at,
            done: false,
        })
    }
}

impl Drop for LayerWriter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.tarsplit = None;
        let layers_dir = self.cfg.layers_dir();
        if let Err(e) = self.dirs.remove(&self.tmp_id) {
            log::warn!("cleaning up layer {}: {e}", self.tmp_id);
        }
        let _ = std::fs::remove_file(layers::tar_split_path(&layers_dir, &self.tmp_id));
        if let Err(e) = remove_record(&self.layers_json(), &self.tmp_id, self.lock.as_ref()) {
            log::warn!("cleaning up layer record {}: {e}", self.tmp_id);
        }
        log::debug!("layer {}: removed after a failure", self.tmp_id);
    }
}

fn remove_file_if_exists(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", p.display())),
    }
}

fn remove_record(json: &Path, id: &str, lock: Option<&LockFile>) -> Result<()> {
    let lock = lock.ok_or_else(|| err!("lock not held"))?;
    let mut list = records::load_array(json)?;
    let before = list.len();
    list.retain(|v| records::str_field(v, "id") != Some(id));
    if list.len() != before {
        records::save_array(json, &list)?;
        lock.record_write()?;
    }
    Ok(())
}

impl PendingImage {
    /// Take `images.lock`, write the big data and the image record (moving `names` to
    /// it), save, rewrite the token, then release images and layers.
    ///
    /// # Errors
    /// Record or file errors; what this run created is removed.
    pub fn commit_image(
        mut self,
        parts: &ImageParts,
        layer: &LayerDesc,
        names: &[String],
        created: &str,
    ) -> Result<CommittedImage> {
        let id = sha256_hex(&parts.config.digest)
            .ok_or_else(|| err!("internal error: malformed config digest"))?
            .to_string();
        if sha256_hex(&layer.diff_id) != Some(self.layer_id.as_str()) {
            bail!(
                "internal error: layer {} does not match diff id {}",
                self.layer_id,
                layer.diff_id
            );
        }
        let mdigest = &parts.manifest.digest;
        let mhex =
            sha256_hex(mdigest).ok_or_else(|| err!("internal error: malformed manifest digest"))?;
        let created = if crate::image::valid_rfc3339(created) {
            created.to_string()
        } else {
            log::warn!("image creation time {created:?} is not RFC 3339; using the layer's");
            if self.layer_created_at.is_empty() {
                records::now_rfc3339()
            } else {
                self.layer_created_at.clone()
            }
        };
        let images_dir = self.cfg.images_dir();
        let json = images_dir.join("images.json");
        let ilock = LockFile::write(&images_dir.join("images.lock"))?;
        let mut list = records::load_array(&json)?;
        let existed = records::find(&list, &id).is_some();
        let big = [
            images::BigData {
                key: format!("sha256:{id}"),
                bytes: &parts.config.bytes,
                digest: parts.config.digest.clone(),
            },
            images::BigData {
                key: format!("manifest-sha256:{mhex}"),
                bytes: &parts.manifest.bytes,
                digest: mdigest.clone(),
            },
            images::BigData {
                key: "manifest".into(),
                bytes: &parts.manifest.bytes,
                digest: mdigest.clone(),
            },
        ];
        for b in &big {
            if sha256_digest(b.bytes) != b.digest {
                bail!(
                    "internal error: big data {} does not match its digest",
                    b.key
                );
            }
        }
        let new = images::NewImage {
            id: &id,
            manifest_digest: mdigest,
            layer: &self.layer_id,
            names,
            created: &created,
            big_data: &big,
        };
        let image_dir = images_dir.join(&id);
        let result = (|| -> Result<Vec<String>> {
            mkdir_p(&image_dir, 0o700)?;
            // `manifest` last: it is the key Podman reads.
            for b in &big {
                let file = image_dir.join(images::big_data_base_name(&b.key));
                crate::store::atomic_write(&file, b.bytes, 0o600)?;
            }
            fault("before-image-record");
            let names = match images::apply(&mut list, &new)? {
                Some(n) => n,
                None => {
                    list.push(images::new_record(&new));
                    names.to_vec()
                }
            };
            records::save_array(&json, &list)?;
            Ok(names)
        })();
        let final_names = match result {
            Ok(n) => n,
            Err(e) => {
                if !existed {
                    let _ = std::fs::remove_dir_all(&image_dir);
                }
                return Err(e);
            }
        };
        // The image is recorded: from here on nothing is undone.
        self.done = true;
        let token = ilock.record_write();
        drop(ilock);
        self.lock = None;
        token?;
        log::info!("image {id} recorded with names {}", final_names.join(", "));
        Ok(CommittedImage {
            id,
            layer_id: self.layer_id.clone(),
            names: final_names,
            graphroot: self.cfg.graphroot.clone(),
            runroot: self.cfg.runroot.clone(),
            driver: self.cfg.driver.name().to_string(),
        })
    }
}

impl Drop for PendingImage {
    fn drop(&mut self) {
        if self.done || !self.created_layer {
            return;
        }
        let layers_dir = self.cfg.layers_dir();
        if let Err(e) = self.dirs.remove(&self.layer_id) {
            log::warn!("cleaning up layer {}: {e}", self.layer_id);
        }
        let _ = std::fs::remove_file(layers::tar_split_path(&layers_dir, &self.layer_id));
        if let Err(e) = remove_record(
            &layers_dir.join("layers.json"),
            &self.layer_id,
            self.lock.as_ref(),
        ) {
            log::warn!("cleaning up layer record {}: {e}", self.layer_id);
        }
    }
}

/// Read an image by normalised name or 64-hex ID, under the images read lock.
///
/// # Errors
/// The store or image does not exist, or its files cannot be read.
pub fn read_image(spec: &StorageSpec, name_or_id: &str) -> Result<StoredImage> {
    let cfg = config::resolve(spec)?;
    let images_dir = cfg.images_dir();
    let json = images_dir.join("images.json");
    let not_found = || err!("{}{name_or_id}: image not found", cfg.transport_prefix());
    if !json.exists() {
        return Err(not_found());
    }
    let _lock = LockFile::read(&images_dir.join("images.lock"))?;
    let list = records::load_array(&json)?;
    let rec = images::lookup(&list, name_or_id).ok_or_else(not_found)?;
    let id = records::str_field(rec, "id")
        .ok_or_else(not_found)?
        .to_string();
    if !crate::metadata::is_hex64(&id) {
        bail!("{}: image {id:?} has a malformed ID", json.display());
    }
    let dir = images_dir.join(&id);
    let read = |key: &str| -> Result<Vec<u8>> {
        let p = dir.join(images::big_data_base_name(key));
        std::fs::read(&p).with_context(|| format!("image {id}: reading {key} ({})", p.display()))
    };
    let manifest = read("manifest")?;
    let config = read(&format!("sha256:{id}"))?;
    let manifest_digest = rec
        .get("big-data-digests")
        .and_then(|d| d.get("manifest"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| sha256_digest(&manifest));
    Ok(StoredImage {
        location: format!("{}{name_or_id}", cfg.transport_prefix()),
        names: images::names(rec),
        id,
        manifest_digest,
        manifest,
        config,
        index_annotations: None,
    })
}
