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

/// Computes the layer's `diff_id` (sha256 of the uncompressed layer tar).
#[derive(Debug, Default)]
pub struct DiffHasher(Hasher);

impl DiffHasher {
    /// `(sha256:<hex>, size)`.
    pub fn finish(self) -> (String, u64) {
        self.0.finish()
    }
}

impl LayerSink for DiffHasher {
    fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.0.update(bytes);
        Ok(())
    }
    fn body(&mut self, chunk: &[u8]) -> Result<()> {
        self.0.update(chunk);
        Ok(())
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
