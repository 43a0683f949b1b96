//! Extraction of the layer into its driver directory (`G/overlay/<id>/diff` or
//! `G/vfs/dir/<id>`), as the layer streams by.
//!
//! Owners (`lchown`), modes, mtimes (symlinks included, `AT_SYMLINK_NOFOLLOW`), xattrs
//! and hard links are kept, so that `podman system check` finds no damage. Nothing is
//! ever followed: files are created with `O_CREAT|O_EXCL|O_NOFOLLOW`, directories are
//! opened `O_DIRECTORY|O_NOFOLLOW`, and the archive reader has already refused entries
//! below a symlink or escaping the root. Missing parent directories are created 0755.
//! Directory modes and mtimes are applied last, deepest first, so that a `checkpoint/`
//! directory of mode 0600 or 0500 does not get in the way of its children.

use std::collections::{BTreeSet, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{UtimensatFlags, futimens, utimensat};
use nix::sys::time::TimeSpec;

use crate::archive::{Entry, EntryKind};
use crate::error::{Context, Result};
use crate::{bail, err};

/// Hole granularity: the page size, which is also CRIU's page-image unit.
const HOLE: u64 = 4096;

/// Write `chunk` at `offset`, leaving all-zero, block-aligned 4 KiB runs as holes.
///
/// CRIU page images hold many zero pages; not writing them halves the disk traffic of a
/// typical checkpoint and its space, while every reader (Podman, tar-split reassembly,
/// `podman system check`) reads the same bytes back. Non-zero runs go out as one
/// `pwrite` each, so the call count stays low for dense data.
fn write_sparse(f: &File, offset: u64, chunk: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut pos = 0usize; // position in chunk
    let mut run_start = 0usize; // start of the pending non-zero run in chunk
    while pos < chunk.len() {
        let off = offset + pos as u64;
        let n = ((HOLE - off % HOLE) as usize).min(chunk.len() - pos);
        let piece = &chunk[pos..pos + n];
        // fold, not any(): no early exit lets the compiler vectorise it.
        if n as u64 == HOLE && piece.iter().fold(0u8, |a, &b| a | b) == 0 {
            if run_start < pos {
                f.write_all_at(&chunk[run_start..pos], offset + run_start as u64)?;
            }
            run_start = pos + n;
        }
        pos += n;
    }
    if run_start < chunk.len() {
        f.write_all_at(&chunk[run_start..], offset + run_start as u64)?;
    }
    Ok(())
}

/// Metadata of a directory, applied after its children.
#[derive(Debug)]
struct DirMeta {
    path: String,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, u32),
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Extracts members below `root`.
#[derive(Debug)]
pub struct Extractor {
    root: PathBuf,
    dirs: Vec<DirMeta>,
    known_dirs: HashSet<String>,
    /// The regular file being written, its path, and the bytes written so far.
    current: Option<(File, String, u64)>,
    /// uids seen in headers (the layer record's `uidset`).
    pub uids: BTreeSet<u32>,
    /// gids seen in headers (`gidset`).
    pub gids: BTreeSet<u32>,
    /// Members extracted so far.
    pub count: u64,
}

fn id32(v: u64, what: &str, path: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| err!("member {path}: {what} {v} is out of range"))
}

fn timespec(secs: i64, nsec: u32) -> TimeSpec {
    TimeSpec::new(secs, i64::from(nsec))
}

impl Extractor {
    /// Extract into `root` (which must exist and be empty).
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            dirs: Vec::new(),
            known_dirs: HashSet::new(),
            current: None,
            uids: BTreeSet::new(),
            gids: BTreeSet::new(),
            count: 0,
        }
    }

    /// The directory being extracted into.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Point at a new root (after the layer directory was renamed).
    pub fn set_root(&mut self, root: PathBuf) {
        self.root = root;
    }

    fn ensure_parents(&mut self, path: &str) -> Result<()> {
        let mut prefix = String::new();
        let comps: Vec<&str> = path.split('/').collect();
        for comp in &comps[..comps.len().saturating_sub(1)] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(comp);
            if self.known_dirs.contains(&prefix) {
                continue;
            }
            let full = self.root.join(&prefix);
            match std::fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => bail!("member {path}: parent {prefix} is not a directory"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&full)
                        .with_context(|| format!("creating {}", full.display()))?;
                }
                Err(e) => return Err(e).with_context(|| full.display().to_string()),
            }
            self.known_dirs.insert(prefix.clone());
        }
        Ok(())
    }

    /// A member starts.
    ///
    /// # Errors
    /// The member cannot be created.
    pub fn begin(&mut self, e: &Entry) -> Result<()> {
        let uid = id32(e.uid, "uid", &e.path)?;
        let gid = id32(e.gid, "gid", &e.path)?;
        self.uids.insert(uid);
        self.gids.insert(gid);
        self.ensure_parents(&e.path)?;
        let full = self.root.join(&e.path);
        let ctx = || format!("extracting {}", e.path);
        match e.kind {
            EntryKind::Dir => {
                if !self.known_dirs.contains(&e.path) {
                    match std::fs::DirBuilder::new().mode(0o700).create(&full) {
                        Ok(()) => {}
                        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                            let m = std::fs::symlink_metadata(&full).with_context(ctx)?;
                            if !m.is_dir() {
                                bail!("member {}: exists and is not a directory", e.path);
                            }
                        }
                        Err(err) => return Err(err).with_context(ctx),
                    }
                    self.known_dirs.insert(e.path.clone());
                }
                self.dirs.push(DirMeta {
                    path: e.path.clone(),
                    mode: e.mode & 0o7777,
                    uid,
                    gid,
                    mtime: (e.mtime, e.mtime_nsec),
                    xattrs: e.xattrs.clone(),
                });
            }
            EntryKind::File => {
                let f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&full)
                    .with_context(ctx)?;
                self.current = Some((f, e.path.clone(), 0));
            }
            EntryKind::Symlink => {
                let target = e
                    .link
                    .as_deref()
                    .ok_or_else(|| err!("member {}: symlink without a target", e.path))?;
                std::os::unix::fs::symlink(target, &full).with_context(ctx)?;
                std::os::unix::fs::lchown(&full, Some(uid), Some(gid)).with_context(ctx)?;
                for (k, v) in &e.xattrs {
                    xattr::set(&full, k, v)
                        .with_context(|| format!("member {}: setting xattr {k}", e.path))?;
                }
                let t = timespec(e.mtime, e.mtime_nsec);
                utimensat(
                    nix::fcntl::AT_FDCWD,
                    &full,
                    &t,
                    &t,
                    UtimensatFlags::NoFollowSymlink,
                )
                .with_context(ctx)?;
            }
            EntryKind::HardLink => {
                let target = e
                    .link
                    .as_deref()
                    .ok_or_else(|| err!("member {}: hard link without a target", e.path))?;
                // linkat(2) without AT_SYMLINK_FOLLOW: never follows.
                std::fs::hard_link(self.root.join(target), &full).with_context(ctx)?;
            }
        }
        Ok(())
    }

    /// A chunk of the current file's body.
    ///
    /// # Errors
    /// Write errors.
    pub fn body(&mut self, chunk: &[u8]) -> Result<()> {
        if let Some((f, path, offset)) = self.current.as_mut() {
            write_sparse(f, *offset, chunk).with_context(|| format!("extracting {path}"))?;
            *offset += chunk.len() as u64;
        }
        Ok(())
    }

    /// The current member ended: apply a regular file's metadata.
    ///
    /// # Errors
    /// A metadata call fails.
    pub fn end(&mut self, e: &Entry) -> Result<()> {
        self.count += 1;
        let Some((f, path, written)) = self.current.take() else {
            return Ok(());
        };
        let ctx = || format!("extracting {path}");
        // Trailing holes are not written: give the file its full length.
        f.set_len(written).with_context(ctx)?;
        let uid = id32(e.uid, "uid", &e.path)?;
        let gid = id32(e.gid, "gid", &e.path)?;
        // chown first: it clears setuid bits and file capabilities.
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).with_context(ctx)?;
        for (k, v) in &e.xattrs {
            xattr::FileExt::set_xattr(&f, k, v)
                .with_context(|| format!("member {path}: setting xattr {k}"))?;
        }
        f.set_permissions(std::fs::Permissions::from_mode(e.mode & 0o7777))
            .with_context(ctx)?;
        let t = timespec(e.mtime, e.mtime_nsec);
        futimens(&f, &t, &t).with_context(ctx)?;
        Ok(())
    }

    /// Apply directory metadata (deepest first), then give the root `root_mode`.
    ///
    /// # Errors
    /// A metadata call fails.
    pub fn finish(&mut self, root_mode: u32) -> Result<()> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.path.matches('/').count()));
        for d in &dirs {
            let full = self.root.join(&d.path);
            let ctx = || format!("extracting {}", d.path);
            let f = open_dir(&full).with_context(ctx)?;
            std::os::unix::fs::fchown(&f, Some(d.uid), Some(d.gid)).with_context(ctx)?;
            for (k, v) in &d.xattrs {
                xattr::FileExt::set_xattr(&f, k, v)
                    .with_context(|| format!("member {}: setting xattr {k}", d.path))?;
            }
            f.set_permissions(std::fs::Permissions::from_mode(d.mode))
                .with_context(ctx)?;
            let t = timespec(d.mtime.0, d.mtime.1);
            futimens(&f, &t, &t).with_context(ctx)?;
        }
        let f = open_dir(&self.root).with_context(|| self.root.display().to_string())?;
        f.set_permissions(std::fs::Permissions::from_mode(root_mode))
            .with_context(|| self.root.display().to_string())?;
        Ok(())
    }
}

fn open_dir(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sparse_writes_read_back_identically_and_leave_holes() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let p = tmp.path().join("pages.img");
        let f = File::create(&p).expect("create");
        // Dense, zero, dense, zero tail; written in odd-sized chunks at odd offsets.
        let mut data = vec![7u8; 5000];
        data.extend(std::iter::repeat_n(0u8, 1 << 20));
        data.extend(vec![9u8; 3000]);
        data.extend(std::iter::repeat_n(0u8, 10_000));
        let mut off = 0u64;
        for chunk in data.chunks(65_537) {
            write_sparse(&f, off, chunk).expect("write");
            off += chunk.len() as u64;
        }
        f.set_len(off).expect("len");
        drop(f);
        let back = std::fs::read(&p).expect("read");
        assert!(back == data, "content must be identical");
        let allocated = std::fs::metadata(&p).expect("meta").blocks() * 512;
        assert!(
            allocated < 512 << 10,
            "zero pages became holes ({allocated} bytes allocated)"
        );
    }

    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn entry(path: &str, kind: EntryKind, mode: u32, size: u64, link: Option<&str>) -> Entry {
        Entry {
            path: path.into(),
            layer_name: path.into(),
            kind,
            size,
            mode,
            uid: 1000,
            gid: 100,
            mtime: 1_795_325_687,
            mtime_nsec: 5,
            link: link.map(str::to_string),
            xattrs: Vec::new(),
        }
    }

    #[test]
    fn metadata_is_kept_and_dirs_are_finished_last() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: extracting with other owners needs root");
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).expect("root");
        let mut ex = Extractor::new(root.clone());
        let members = [
            entry("checkpoint", EntryKind::Dir, 0o500, 0, None),
            entry("checkpoint/pages-1.img", EntryKind::File, 0o600, 3, None),
            entry(
                "checkpoint/parent",
                EntryKind::Symlink,
                0o777,
                0,
                Some("pages-1.img"),
            ),
            entry("deep/er/file", EntryKind::File, 0o4755, 3, None),
            entry(
                "hard",
                EntryKind::HardLink,
                0o644,
                0,
                Some("checkpoint/pages-1.img"),
            ),
        ];
        for m in &members {
            ex.begin(m).expect("begin");
            if m.size > 0 {
                ex.body(b"abc").expect("body");
            }
            ex.end(m).expect("end");
        }
        ex.finish(0o555).expect("finish");
        let meta = |p: &str| std::fs::symlink_metadata(root.join(p)).expect(p);
        assert_eq!(meta("checkpoint").mode() & 0o7777, 0o500);
        assert_eq!(meta("checkpoint").mtime(), 1_795_325_687);
        assert_eq!(meta("checkpoint").uid(), 1000);
        assert_eq!(meta("checkpoint/pages-1.img").mode() & 0o7777, 0o600);
        assert_eq!(meta("checkpoint/pages-1.img").gid(), 100);
        assert_eq!(meta("checkpoint/pages-1.img").mtime_nsec(), 5);
        assert!(meta("checkpoint/parent").file_type().is_symlink());
        assert_eq!(meta("checkpoint/parent").mtime(), 1_795_325_687);
        assert_eq!(meta("deep/er/file").mode() & 0o7777, 0o4755);
        assert_eq!(meta("deep").mode() & 0o7777, 0o755);
        assert_eq!(meta("hard").ino(), meta("checkpoint/pages-1.img").ino());
        assert_eq!(meta("").mode() & 0o7777, 0o555);
        assert_eq!(ex.uids.iter().copied().collect::<Vec<_>>(), vec![1000]);
        // Nothing is created through an existing path twice.
        assert!(ex.begin(&members[1]).is_err());
    }
}
