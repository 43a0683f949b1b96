//! c/storage's lock protocol (`pkg/lockfile`, CONTAINERS-STORAGE.md §6): whole-file POSIX
//! record locks taken with `fcntl(F_SETLKW)` — never `flock`, which does not exclude
//! Podman — on a file opened `O_RDWR|O_CREAT|O_CLOEXEC` (0644), released by closing it;
//! and the 64-byte last-writer token rewritten after every write so that long-running
//! readers (`podman system service`, CRI-O) reload the store.
//!
//! POSIX locks belong to the process and vanish when *any* descriptor of the file is
//! closed, so each lock file is opened exactly once while it is held.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};

use crate::error::{Context, Result};
use crate::store::containers_storage::records::random_bytes;

/// Length of the last-writer token.
pub const TOKEN_LEN: usize = 64;

static WRITE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A held lock; dropping it closes the file, which releases the lock.
#[derive(Debug)]
pub struct LockFile {
    file: File,
    path: PathBuf,
    write: bool,
}

impl LockFile {
    /// Take the write lock (`F_WRLCK`), waiting for other holders.
    ///
    /// # Errors
    /// The file cannot be opened or locked.
    pub fn write(path: &Path) -> Result<LockFile> {
        Self::take(path, true)
    }

    /// Take a read lock (`F_RDLCK`), waiting for writers.
    ///
    /// # Errors
    /// The file cannot be opened or locked.
    pub fn read(path: &Path) -> Result<LockFile> {
        Self::take(path, false)
    }

    fn take(path: &Path, write: bool) -> Result<LockFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        let l_type = if write { libc::F_WRLCK } else { libc::F_RDLCK };
        let lock = libc::flock {
            l_type: l_type as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        log::debug!(
            "waiting for {} lock on {}",
            if write { "write" } else { "read" },
            path.display()
        );
        loop {
            match fcntl(&file, FcntlArg::F_SETLKW(&lock)) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()));
                }
            }
        }
        Ok(LockFile {
            file,
            path: path.to_path_buf(),
            write,
        })
    }

    /// Rewrite the last-writer token (bytes 0..64): unix nanoseconds, a per-process
    /// counter, the pid and random bytes. Only inequality matters to readers.
    ///
    /// # Errors
    /// Not a write lock, or the write fails.
    pub fn record_write(&self) -> Result<()> {
        if !self.write {
            crate::bail!(
                "internal error: token write without the write lock on {}",
                self.path.display()
            );
        }
        let token = new_token()?;
        self.file
            .write_all_at(&token, 0)
            .with_context(|| format!("writing the token of {}", self.path.display()))?;
        Ok(())
    }
}

fn new_token() -> Result<[u8; TOKEN_LEN]> {
    let mut t = [0u8; TOKEN_LEN];
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t[0..8].copy_from_slice(&nanos.to_le_bytes());
    let count = WRITE_COUNTER.fetch_add(1, Ordering::Relaxed);
    t[8..16].copy_from_slice(&count.to_le_bytes());
    t[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    t[20..].copy_from_slice(&random_bytes(TOKEN_LEN - 20)?);
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_fill_64_bytes() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = tmp.path().join("layers.lock");
        let l = LockFile::write(&p).expect("lock");
        l.record_write().expect("token");
        let a = std::fs::read(&p).expect("read");
        l.record_write().expect("token");
        let b = std::fs::read(&p).expect("read");
        assert_eq!(a.len(), TOKEN_LEN);
        assert_ne!(a, b);
        drop(l);
        let r = LockFile::read(&p).expect("read lock");
        assert!(r.record_write().is_err());
    }
}
