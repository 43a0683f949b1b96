//! The one-pass layer writer: the archive's events are fanned out to [`LayerSink`]s,
//! each of which sees every byte of the layer tar exactly once. The diff hasher computes
//! the `diff_id`; the blob writer compresses (gzip, zstd or none) into a blob while
//! hashing it; the containers-storage writer (in `store`) extracts and records tar-split.
//! Nothing is buffered beyond one chunk, so memory is flat whatever the archive size.

use std::io::Write;

use crate::archive::{ArchiveReader, Entry, Event, Summary};
use crate::error::{Context, Result};
use crate::image::digest::{Hasher, HashingWriter};

/// Something that consumes the layer tar as it streams by.
pub trait LayerSink {
    /// Layer bytes outside member bodies (padding, headers, end-of-archive).
    fn raw(&mut self, bytes: &[u8]) -> Result<()>;
    /// A member starts.
    fn begin(&mut self, _entry: &Entry) -> Result<()> {
        Ok(())
    }
    /// A chunk of the current member's body.
    fn body(&mut self, chunk: &[u8]) -> Result<()>;
    /// The current member ended.
    fn end(&mut self, _entry: &Entry) -> Result<()> {
        Ok(())
    }
}

/// Stream `archive` once into every sink. `raw_tee` receives the archive file's bytes.
///
/// # Errors
/// Anything the archive reader or a sink reports.
pub fn pump(
    archive: ArchiveReader,
    raw_tee: Option<&mut dyn Write>,
    sinks: &mut [&mut dyn LayerSink],
) -> Result<Summary> {
    archive.stream(raw_tee, &mut |ev| {
        for s in sinks.iter_mut() {
            match &ev {
                Event::Raw(b) => s.raw(b)?,
                Event::Begin(e) => s.begin(e)?,
                Event::Body(b) => s.body(b)?,
                Event::End(e) => s.end(e)?,
            }
        }
        Ok(())
    })
}

/// Bytes handed to the hashing thread at a time.
const HASH_BATCH: usize = 1 << 20;

/// Computes the layer's `diff_id` (sha256 of the uncompressed layer tar) on a worker
/// thread, so that hashing overlaps with decompression, compression or extraction on
/// the calling thread (sha256 is the largest single cost of a build). Bytes go over in
/// 1 MiB batches through a bounded channel (at most 4 in flight) and the buffers come
/// back for reuse, so memory stays flat. If no thread can be started, it hashes inline.
pub struct DiffHasher {
    buf: Vec<u8>,
    mode: HashMode,
}

enum HashMode {
    Inline(Hasher),
    Threaded {
        tx: std::sync::mpsc::SyncSender<Vec<u8>>,
        back: std::sync::mpsc::Receiver<Vec<u8>>,
        worker: std::thread::JoinHandle<(String, u64)>,
    },
}

impl std::fmt::Debug for DiffHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DiffHasher")
    }
}

impl Default for DiffHasher {
    fn default() -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (back_tx, back) = std::sync::mpsc::channel::<Vec<u8>>();
        let spawned = std::thread::Builder::new()
            .name("diff-hash".into())
            .spawn(move || {
                let mut h = Hasher::default();
                for mut b in rx {
                    h.update(&b);
                    b.clear();
                    // The producer may be gone already; the buffer is then just freed.
                    let _ = back_tx.send(b);
                }
                h.finish()
            });
        let mode = match spawned {
            Ok(worker) => HashMode::Threaded { tx, back, worker },
            Err(e) => {
                log::debug!("hashing inline: cannot start a thread: {e}");
                HashMode::Inline(Hasher::default())
            }
        };
        Self {
            buf: Vec::with_capacity(2 * HASH_BATCH),
            mode,
        }
    }
}

impl DiffHasher {
    fn update(&mut self, bytes: &[u8]) -> Result<()> {
        match &mut self.mode {
            HashMode::Inline(h) => h.update(bytes),
            HashMode::Threaded { tx, back, .. } => {
                self.buf.extend_from_slice(bytes);
                if self.buf.len() >= HASH_BATCH {
                    let next = back
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(2 * HASH_BATCH));
                    let full = std::mem::replace(&mut self.buf, next);
                    tx.send(full)
                        .map_err(|_| crate::err!("the layer hashing thread stopped"))?;
                }
            }
        }
        Ok(())
    }

    /// `(sha256:<hex>, size)`.
    ///
    /// # Errors
    /// The hashing thread stopped (it cannot, short of a panic).
    pub fn finish(self) -> Result<(String, u64)> {
        match self.mode {
            HashMode::Inline(h) => Ok(h.finish()),
            HashMode::Threaded { tx, worker, .. } => {
                if !self.buf.is_empty() {
                    tx.send(self.buf)
                        .map_err(|_| crate::err!("the layer hashing thread stopped"))?;
                }
                drop(tx);
                worker
                    .join()
                    .map_err(|_| crate::err!("the layer hashing thread panicked"))
            }
        }
    }
}

impl LayerSink for DiffHasher {
    fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.update(bytes)
    }
    fn body(&mut self, chunk: &[u8]) -> Result<()> {
        self.update(chunk)
    }
}

/// zstd multi-threading job size (bytes of input per job).
const ZSTD_JOB_SIZE: u32 = 2 << 20;

/// Writes the layer tar as it is (an uncompressed blob whose digest is the diff_id, so it
/// is not hashed a second time).
#[derive(Debug)]
pub struct CopySink<W: Write>(pub W);

impl<W: Write> LayerSink for CopySink<W> {
    fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.0.write_all(bytes)?;
        Ok(())
    }
    fn body(&mut self, chunk: &[u8]) -> Result<()> {
        self.0.write_all(chunk)?;
        Ok(())
    }
}

/// Layer blob compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobCompression {
    /// Uncompressed tar.
    None,
    /// gzip, with a level 0-9.
    Gzip(u32),
    /// zstd, with a level 1-19; multi-threaded.
    Zstd(i32),
}

impl BlobCompression {
    /// The OCI layer media type.
    pub fn media_type(self) -> &'static str {
        match self {
            BlobCompression::None => "application/vnd.oci.image.layer.v1.tar",
            BlobCompression::Gzip(_) => "application/vnd.oci.image.layer.v1.tar+gzip",
            BlobCompression::Zstd(_) => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

enum Encoder<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

/// Compresses the layer into `W` while hashing the compressed bytes.
pub struct BlobWriter<W: Write> {
    enc: Encoder<HashingWriter<W>>,
}

impl<W: Write> std::fmt::Debug for BlobWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobWriter")
    }
}

impl<W: Write> BlobWriter<W> {
    /// Start a blob.
    ///
    /// # Errors
    /// The zstd encoder cannot be set up.
    pub fn new(out: W, compression: BlobCompression) -> Result<Self> {
        let out = HashingWriter::new(out);
        let enc = match compression {
            BlobCompression::None => Encoder::None(out),
            BlobCompression::Gzip(level) => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(level),
            )),
            BlobCompression::Zstd(level) => {
                let mut e = zstd::stream::write::Encoder::new(out, level)
                    .context("initialising zstd encoder")?;
                // Always multi-threaded (even with one worker) so that the output does not
                // depend on the machine's core count.
                let workers = std::thread::available_parallelism()
                    .map(|n| n.get() as u32)
                    .unwrap_or(1);
                e.multithread(workers).context("enabling zstd workers")?;
                // Bound the memory of the worker pool: by default a job is 4 windows,
                // which with input, output and overlap buffers per worker made the
                // peak RSS grow past 100 MiB. 2 MiB jobs keep it flat and small.
                e.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))
                    .context("setting zstd job size")?;
                Encoder::Zstd(e)
            }
        };
        Ok(Self { enc })
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        match &mut self.enc {
            Encoder::None(w) => w.write_all(b)?,
            Encoder::Gzip(w) => w.write_all(b)?,
            Encoder::Zstd(w) => w.write_all(b)?,
        }
        Ok(())
    }

    /// Finish compression: `(inner writer, blob digest, blob size)`.
    ///
    /// # Errors
    /// Flushing the compressor fails.
    pub fn finish(self) -> Result<(W, String, u64)> {
        let h = match self.enc {
            Encoder::None(w) => w,
            Encoder::Gzip(w) => w.finish()?,
            Encoder::Zstd(w) => w.finish()?,
        };
        Ok(h.finish())
    }
}

impl<W: Write> LayerSink for BlobWriter<W> {
    fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.write(bytes)
    }
    fn body(&mut self, chunk: &[u8]) -> Result<()> {
        self.write(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::digest::sha256_digest;

    #[test]
    fn threaded_diff_hash_equals_a_plain_sha256() {
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut h = DiffHasher::default();
        // Odd piece sizes, small and large, as the archive stream produces them.
        let mut pos = 0;
        for (i, size) in [1usize, 511, 512, 1 << 20, 3, 2 << 20, 70_000]
            .iter()
            .cycle()
            .enumerate()
        {
            if pos >= data.len() || i > 1000 {
                break;
            }
            let end = (pos + size).min(data.len());
            if i % 2 == 0 {
                h.raw(&data[pos..end]).expect("raw");
            } else {
                h.body(&data[pos..end]).expect("body");
            }
            pos = end;
        }
        assert_eq!(pos, data.len());
        let (d, n) = h.finish().expect("finish");
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, sha256_digest(&data));
        let (empty, zero) = DiffHasher::default().finish().expect("finish");
        assert_eq!((empty, zero), (sha256_digest(b""), 0));
    }
}
