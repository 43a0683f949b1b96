//! The layer store: `G/<driver>-layers/layers.json` records and the graph driver's
//! directories (CONTAINERS-STORAGE.md §§2–3).
//!
//! ```text
//! overlay: G/overlay/<id>/{diff (0555 base), link, work, merged, empty}   (0700 each)
//!          G/overlay/l/<26-char link id> -> ../<id>/diff
//! vfs:     G/vfs/dir/<id>  (0555 base)
//! G/<driver>-layers/<id>.tar-split.gz
//! ```
//!
//! A layer record is written with `flags.incomplete` before its directory exists, and the
//! flag is cleared only once the files and tar-split are in place; c/storage deletes
//! incomplete layers when it next loads the store with the write lock.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{Context, Result};
use crate::store::containers_storage::config::{Driver, StoreConfig};
use crate::store::containers_storage::records::{self, random_bytes};

/// Length of an overlay link id.
const LINK_LEN: usize = 26;

/// The graph driver's directories for one store.
#[derive(Debug, Clone)]
pub struct DriverDirs {
    graphroot: PathBuf,
    driver: Driver,
}

impl DriverDirs {
    /// For a resolved store.
    pub fn new(cfg: &StoreConfig) -> Self {
        Self {
            graphroot: cfg.graphroot.clone(),
            driver: cfg.driver,
        }
    }

    /// The driver's home (`G/overlay`, `G/vfs`).
    pub fn home(&self) -> PathBuf {
        self.graphroot.join(self.driver.name())
    }

    /// Create the driver home (and `l/` or `dir/`) if missing.
    ///
    /// # Errors
    /// I/O errors.
    pub fn init(&self) -> Result<()> {
        mkdir(&self.home(), 0o700)?;
        match self.driver {
            Driver::Overlay => mkdir(&self.home().join("l"), 0o755),
            Driver::Vfs => mkdir(&self.home().join("dir"), 0o700),
        }
    }

    /// The directory holding a layer's driver data (`G/overlay/<id>`, `G/vfs/dir/<id>`).
    pub fn layer_dir(&self, id: &str) -> PathBuf {
        match self.driver {
            Driver::Overlay => self.home().join(id),
            Driver::Vfs => self.home().join("dir").join(id),
        }
    }

    /// Where a layer's files go.
    pub fn layer_root(&self, id: &str) -> PathBuf {
        match self.driver {
            Driver::Overlay => self.layer_dir(id).join("diff"),
            Driver::Vfs => self.layer_dir(id),
        }
    }

    /// Create a base layer's directories; returns its root. The root stays writable
    /// until the extraction finishes.
    ///
    /// # Errors
    /// The directory already exists, or I/O errors.
    pub fn create(&self, id: &str) -> Result<PathBuf> {
        let dir = self.layer_dir(id);
        let ctx = || format!("creating layer directory {}", dir.display());
        match self.driver {
            Driver::Vfs => {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .with_context(ctx)?;
            }
            Driver::Overlay => {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .with_context(ctx)?;
                std::fs::DirBuilder::new()
                    .mode(0o755)
                    .create(dir.join("diff"))
                    .with_context(ctx)?;
                for sub in ["work", "merged", "empty"] {
                    std::fs::DirBuilder::new()
                        .mode(0o700)
                        .create(dir.join(sub))
                        .with_context(ctx)?;
                }
                let link = new_link_id()?;
                crate::store::atomic_write(&dir.join("link"), link.as_bytes(), 0o644)?;
                std::os::unix::fs::symlink(
                    format!("../{id}/diff"),
                    self.home().join("l").join(&link),
                )
                .with_context(ctx)?;
            }
        }
        Ok(self.layer_root(id))
    }

    fn link_id(&self, id: &str) -> Option<String> {
        let s = std::fs::read_to_string(self.layer_dir(id).join("link")).ok()?;
        let s = s.trim().to_string();
        (s.len() == LINK_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(s)
    }

    /// Rename a layer's directory from `from` to `to`, repointing its overlay link.
    ///
    /// # Errors
    /// I/O errors.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (a, b) = (self.layer_dir(from), self.layer_dir(to));
        std::fs::rename(&a, &b)
            .with_context(|| format!("renaming {} to {}", a.display(), b.display()))?;
        if self.driver == Driver::Overlay {
            if let Some(link) = self.link_id(to) {
                let l = self.home().join("l");
                let tmp = l.join(format!(".tmp-{link}"));
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(format!("../{to}/diff"), &tmp)
                    .with_context(|| format!("creating {}", tmp.display()))?;
                std::fs::rename(&tmp, l.join(&link))
                    .with_context(|| format!("updating link {link}"))?;
            }
        }
        Ok(())
    }

    /// Whether a layer directory exists.
    pub fn exists(&self, id: &str) -> bool {
        std::fs::symlink_metadata(self.layer_dir(id)).is_ok()
    }

    /// Remove a layer's directories (and its overlay link). Missing parts are fine.
    ///
    /// # Errors
    /// I/O errors other than "not found".
    pub fn remove(&self, id: &str) -> Result<()> {
        if self.driver == Driver::Overlay {
            if let Some(link) = self.link_id(id) {
                let l = self.home().join("l").join(&link);
                // Only our own link: it must point at this layer.
                if std::fs::read_link(&l).is_ok_and(|t| t == Path::new(&format!("../{id}/diff"))) {
                    let _ = std::fs::remove_file(&l);
                }
            }
        }
        let dir = self.layer_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
        }
    }
}

fn mkdir(p: &Path, mode: u32) -> Result<()> {
    match std::fs::DirBuilder::new().mode(mode).create(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", p.display())),
    }
}

/// `base32(random)[:26]`, upper case, as the overlay driver names its links.
fn new_link_id() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes = random_bytes(LINK_LEN)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(*b & 31) as usize] as char)
        .collect())
}

/// `G/<driver>-layers/<id>.tar-split.gz`.
pub fn tar_split_path(layers_dir: &Path, id: &str) -> PathBuf {
    layers_dir.join(format!("{id}.tar-split.gz"))
}

/// The record of a layer being created.
pub fn incomplete_record(id: &str, created: &str) -> Value {
    json!({"id": id, "created": created, "flags": {"incomplete": true}})
}

/// Whether a record carries `flags.incomplete`.
pub fn is_incomplete(v: &Value) -> bool {
    v.get("flags")
        .and_then(|f| f.get("incomplete"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// What completes a layer record.
#[derive(Debug)]
pub struct Completion<'a> {
    /// Final ID (= DiffID hex).
    pub id: &'a str,
    /// `sha256:<hex>`.
    pub diff_digest: &'a str,
    /// Layer tar size.
    pub diff_size: u64,
    /// Sorted unique uids.
    pub uids: Vec<u32>,
    /// Sorted unique gids.
    pub gids: Vec<u32>,
}

/// Turn an incomplete record into the complete one, as c/image writes it for an
/// uncompressed base layer.
///
/// # Errors
/// The record is not an object.
pub fn complete_record(v: &mut Value, c: &Completion<'_>) -> Result<()> {
    let m = records::as_object_mut(v, "layer")?;
    m.insert("id".into(), json!(c.id));
    m.insert("diff-digest".into(), json!(c.diff_digest));
    m.insert("diff-size".into(), json!(c.diff_size));
    m.insert("compressed-diff-digest".into(), json!(c.diff_digest));
    m.insert("compressed-size".into(), json!(c.diff_size));
    m.insert("uidset".into(), json!(c.uids));
    m.insert("gidset".into(), json!(c.gids));
    let mut drop_flags = false;
    if let Some(Value::Object(flags)) = m.get_mut("flags") {
        flags.remove("incomplete");
        drop_flags = flags.is_empty();
    }
    if drop_flags {
        m.remove("flags");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_ids_look_like_the_drivers() {
        let l = new_link_id().expect("link");
        assert_eq!(l.len(), LINK_LEN);
        assert!(
            l.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
    }

    #[test]
    fn completing_a_record_clears_the_flag_and_keeps_unknown_fields() {
        let mut r = incomplete_record("t", "2026-11-22T05:34:47Z");
        r["future"] = json!(1);
        assert!(is_incomplete(&r));
        complete_record(
            &mut r,
            &Completion {
                id: "d",
                diff_digest: "sha256:d",
                diff_size: 10,
                uids: vec![0],
                gids: vec![0, 5],
            },
        )
        .expect("complete");
        assert!(!is_incomplete(&r));
        assert!(r.get("flags").is_none());
        assert_eq!(r["id"], "d");
        assert_eq!(r["compressed-size"], 10);
        assert_eq!(r["gidset"][1], 5);
        assert_eq!(r["future"], 1);
    }
}
