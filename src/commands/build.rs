//! `build`: archive → metadata → annotations → image → store, in one pass over the data.
//!
//! For OCI outputs the layer is compressed while it streams; when the archive already is
//! in the requested compression and needs no rewriting, its bytes become the blob as they
//! are read (no recompression). For containers-storage the layer is extracted and its
//! tar-split recorded while it streams. On any error, what this run created is removed.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use serde_json::json;

use crate::annotations::{self, parse_key_value};
use crate::archive::{ArchiveReader, Compression, Entry, Summary};
use crate::cli::{BuildArgs, CompressionArg, Format};
use crate::err;
use crate::error::{Error, ExitCode, Result};
use crate::host::{HostFacts, ProbeOptions, SystemProbe};
use crate::image::digest::{HashingWriter, sha256_hex};
use crate::image::layer::{BlobCompression, BlobWriter, CopySink, DiffHasher, LayerSink, pump};
use crate::image::{ImageInput, ImageParts, LayerDesc, assemble};
use crate::metadata::{self, CheckpointMetadata};
use crate::store::containers_storage::Store;
use crate::store::oci_archive::Staging;
use crate::store::oci_layout::{BlobFile, OciLayout};
use crate::store::{ImageRef, parse_destination};

const CREATED_BY: &str = concat!("checkpointctl-image build ", env!("CARGO_PKG_VERSION"));

/// What a build produced, for the report.
struct Built {
    md: CheckpointMetadata,
    layer: LayerDesc,
    parts: ImageParts,
    annotations: std::collections::BTreeMap<String, String>,
    created: String,
    reused_input: bool,
}

/// Run `build`.
///
/// # Errors
/// Usage errors, unreadable or invalid archives, unwritable destinations.
pub fn run(args: &BuildArgs, format: Format) -> Result<ExitCode> {
    let dest = parse_destination(&args.destination)?;
    let overrides = args
        .annotation
        .iter()
        .map(|a| parse_key_value(a))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::Usage)?;
    let compression = blob_compression(args)?;
    if matches!(dest, ImageRef::ContainersStorage { .. }) {
        if args.compression.is_some() || args.compression_level.is_some() {
            log::warn!(
                "--compression is ignored for containers-storage: its layers are stored uncompressed"
            );
        }
        if args.index {
            log::warn!(
                "--index is ignored for containers-storage: it stores the per-platform manifest"
            );
        }
    }
    let archive = ArchiveReader::open(&args.archive)?;
    // Probe the host before any store lock is taken: it runs external programs.
    let host = if args.no_host_facts {
        None
    } else {
        Some(HostFacts::probe(
            &SystemProbe,
            &ProbeOptions {
                criu_path: args.criu.clone(),
                skip_criu: false,
                runtime_name: None,
                tool_versions: true,
            },
        ))
    };
    let started = Instant::now();
    let input_size = archive.file_size();
    let progress = args.progress && format == Format::Text && std::io::stderr().is_terminal();
    let ctx = BuildCtx {
        args,
        overrides: &overrides,
        progress,
        host,
    };

    let (built, location, extra) = match &dest {
        ImageRef::OciLayout { dir, reference } => {
            let b = build_oci(&ctx, archive, dir, reference.as_deref(), compression)?;
            let loc = format!("oci:{}{}", dir.display(), ref_suffix(reference.as_deref()));
            (b, loc, json!({}))
        }
        ImageRef::OciArchive { file, reference } => {
            let staging = Staging::new(file)?;
            let b = build_oci(
                &ctx,
                archive,
                &staging.layout_dir(),
                reference.as_deref(),
                compression,
            )?;
            staging.finish()?;
            let loc = format!(
                "oci-archive:{}{}",
                file.display(),
                ref_suffix(reference.as_deref())
            );
            (b, loc, json!({}))
        }
        ImageRef::ContainersStorage { spec, name } => {
            let spec = spec.clone().with_defaults(&args.storage);
            let store = Store::open(&spec)?;
            let mut layer = store.begin_layer()?;
            let mut diff = DiffHasher::default();
            let mut prog = Progress::new(progress);
            let summary = pump(archive, None, &mut [&mut diff, &mut layer, &mut prog])?;
            prog.done();
            let (diff_id, diff_size) = diff.finish()?;
            let md = metadata::from_archive(&summary)?;
            let pending = layer.commit(&diff_id, diff_size)?;
            let layer_desc = LayerDesc {
                media_type: BlobCompression::None.media_type().to_string(),
                digest: diff_id.clone(),
                size: diff_size,
                diff_id,
                diff_size,
            };
            let built = finish_image(&ctx, md, &summary, layer_desc, false, false)?;
            let committed = pending.commit_image(
                &built.parts,
                &built.layer,
                std::slice::from_ref(name),
                &built.created,
            )?;
            let loc = format!(
                "containers-storage:[{}@{}+{}]{}",
                committed.driver,
                committed.graphroot.display(),
                committed.runroot.display(),
                name
            );
            (
                built,
                loc,
                json!({"layer_id": committed.layer_id, "names": committed.names}),
            )
        }
    };
    let secs = started.elapsed().as_secs_f64();
    log::info!(
        "built {location} from {} ({input_size} bytes) in {secs:.3}s",
        args.archive.display()
    );

    let image_id = sha256_hex(&built.parts.config.digest)
        .unwrap_or_default()
        .to_string();
    let mut report = json!({
        "image": location,
        "image_id": image_id,
        "manifest_digest": built.parts.manifest.digest,
        "config_digest": built.parts.config.digest,
        "index_digest": built.parts.index.as_ref().map(|i| i.digest.clone()),
        "layer": {
            "media_type": built.layer.media_type,
            "digest": built.layer.digest,
            "size": built.layer.size,
            "diff_id": built.layer.diff_id,
            "diff_size": built.layer.diff_size,
            "reused_input": built.reused_input,
        },
        "engine": built.md.engine.id(),
        "container": built.md.container_name,
        "created": built.created,
        "annotations": built.annotations,
        "storage": extra,
    });
    let mut text = format!(
        "Built {location}\n  image ID   {}\n  manifest   {}\n  engine     {} (container {})\n  layer      {} ({} bytes)\n",
        &image_id[..image_id.len().min(12)],
        built.parts.manifest.digest,
        built.md.engine.checkpointctl_name(),
        built.md.container_name.as_deref().unwrap_or("?"),
        built.layer.media_type,
        built.layer.size
    );
    let mut code = ExitCode::Ok;
    if args.check {
        let (compatible, rep, rep_text) =
            super::check::check_after_build(&dest, &args.storage, args.criu.as_deref())?;
        report["check"] = rep;
        text.push_str(&rep_text);
        if !compatible {
            code = ExitCode::Incompatible;
        }
    }
    super::emit(format, &report, &text)?;
    Ok(code)
}

fn ref_suffix(r: Option<&str>) -> String {
    r.map(|r| format!(":{r}")).unwrap_or_default()
}

struct BuildCtx<'a> {
    args: &'a BuildArgs,
    overrides: &'a [(String, String)],
    progress: bool,
    /// Host facts, `None` with `--no-host-facts`.
    host: Option<HostFacts>,
}

fn blob_compression(args: &BuildArgs) -> Result<BlobCompression> {
    let level = args.compression_level;
    Ok(match args.compression.unwrap_or(CompressionArg::Gzip) {
        CompressionArg::None => {
            if level.is_some() {
                return Err(Error::Usage(
                    "--compression-level needs --compression gzip or zstd".into(),
                ));
            }
            BlobCompression::None
        }
        CompressionArg::Gzip => {
            let l = level.unwrap_or(6);
            if !(0..=9).contains(&l) {
                return Err(Error::Usage(format!(
                    "--compression-level {l}: gzip levels are 0-9"
                )));
            }
            BlobCompression::Gzip(l as u32)
        }
        CompressionArg::Zstd => {
            let l = level.unwrap_or(3);
            if !(1..=19).contains(&l) {
                return Err(Error::Usage(format!(
                    "--compression-level {l}: zstd levels are 1-19"
                )));
            }
            BlobCompression::Zstd(l)
        }
    })
}

fn same_compression(input: Compression, out: BlobCompression) -> bool {
    matches!(
        (input, out),
        (Compression::None, BlobCompression::None)
            | (Compression::Gzip, BlobCompression::Gzip(_))
            | (Compression::Zstd, BlobCompression::Zstd(_))
    )
}

fn build_oci(
    ctx: &BuildCtx<'_>,
    archive: ArchiveReader,
    dir: &Path,
    reference: Option<&str>,
    compression: BlobCompression,
) -> Result<Built> {
    let mut layout = OciLayout::create_or_open(dir)?;
    match build_into_layout(ctx, &mut layout, archive, reference, compression) {
        Ok(b) => {
            layout.finish();
            Ok(b)
        }
        Err(e) => {
            layout.abort();
            Err(e)
        }
    }
}

fn build_into_layout(
    ctx: &BuildCtx<'_>,
    layout: &mut OciLayout,
    archive: ArchiveReader,
    reference: Option<&str>,
    compression: BlobCompression,
) -> Result<Built> {
    let path = archive.path().to_path_buf();
    // Reuse the archive's bytes as the blob only for a compressed archive already in the
    // requested compression: that saves recompressing. An uncompressed archive gains
    // nothing from it (writing the layer tar costs the same), so it is streamed directly.
    let reuse = archive.compression() != Compression::None
        && same_compression(archive.compression(), compression)
        && ctx.args.compression_level.is_none();
    let mut streamed = None;
    if reuse {
        // Speculative: if a member must be rewritten (e.g. an implied parent directory),
        // the tee'd bytes are not the layer and the archive is read again below.
        let tmp = layout.temp_blob()?;
        let mut diff = DiffHasher::default();
        let mut prog = Progress::new(ctx.progress);
        let mut tee = HashingWriter::new(BufWriter::with_capacity(
            1 << 20,
            BlobFile::new(tmp.as_file()),
        ));
        let summary = pump(archive, Some(&mut tee), &mut [&mut diff, &mut prog])?;
        let (w, blob_digest, blob_size) = tee.finish();
        w.into_inner().map_err(|e| e.into_error())?;
        let diff_digest = diff.finish()?;
        prog.done();
        if summary.rewritten {
            log::info!(
                "member names or directories need rewriting: recompressing instead of reusing the input"
            );
        } else {
            layout.commit_blob(tmp, &blob_digest)?;
            streamed = Some((summary, diff_digest, blob_digest, blob_size));
        }
    }
    let reused = streamed.is_some();
    let (summary, (diff_id, diff_size), blob_digest, blob_size) = match streamed {
        Some(s) => s,
        None => {
            let archive = ArchiveReader::open(&path)?;
            let tmp = layout.temp_blob()?;
            let out = BufWriter::with_capacity(1 << 20, BlobFile::new(tmp.as_file()));
            let mut diff = DiffHasher::default();
            let mut prog = Progress::new(ctx.progress);
            let (summary, diff_digest, blob_digest, blob_size) =
                if compression == BlobCompression::None {
                    // The blob is the layer tar: its digest is the diff_id.
                    let mut blob = CopySink(out);
                    let summary = pump(archive, None, &mut [&mut diff, &mut blob, &mut prog])?;
                    blob.0.into_inner().map_err(|e| e.into_error())?;
                    let (d, n) = diff.finish()?;
                    (summary, (d.clone(), n), d, n)
                } else {
                    let mut blob = BlobWriter::new(out, compression)?;
                    let summary = pump(archive, None, &mut [&mut diff, &mut blob, &mut prog])?;
                    let (w, d, n) = blob.finish()?;
                    w.into_inner().map_err(|e| e.into_error())?;
                    (summary, diff.finish()?, d, n)
                };
            prog.done();
            layout.commit_blob(tmp, &blob_digest)?;
            (summary, diff_digest, blob_digest, blob_size)
        }
    };
    let md = metadata::from_archive(&summary)?;
    let layer = LayerDesc {
        media_type: compression.media_type().to_string(),
        digest: blob_digest,
        size: blob_size,
        diff_id,
        diff_size,
    };
    let built = finish_image(ctx, md, &summary, layer, ctx.args.index, reused)?;
    layout.put_json(&built.parts.config)?;
    layout.put_json(&built.parts.manifest)?;
    match &built.parts.index {
        Some(index) => {
            layout.put_json(index)?;
            layout.tag(index, reference)?;
        }
        None => layout.tag(&built.parts.manifest, reference)?,
    }
    Ok(built)
}

fn finish_image(
    ctx: &BuildCtx<'_>,
    md: CheckpointMetadata,
    summary: &Summary,
    layer: LayerDesc,
    with_index: bool,
    reused: bool,
) -> Result<Built> {
    let mut host = ctx.host.clone().unwrap_or_default();
    if ctx.host.is_some() {
        // The recorded runtime is known only now; its version is one quick exec.
        host.runtime_name = md.runtime.clone();
        host.runtime_version = md
            .runtime
            .as_deref()
            .and_then(|r| crate::host::runtime_version(&SystemProbe, r));
    }
    let facts = annotations::merge_facts(&md, &host);
    let created = created_time(&md, summary)?;
    let mut ann = annotations::for_checkpoint(&md, &facts, &created);
    for (k, v) in ctx.overrides {
        ann.insert(k.clone(), v.clone());
    }
    let arch = facts
        .arch
        .clone()
        .unwrap_or_else(|| crate::host::goarch_from_uname(std::env::consts::ARCH));
    let parts = assemble(&ImageInput {
        layer: &layer,
        arch: &arch,
        created: &created,
        annotations: &ann,
        with_index,
        created_by: CREATED_BY,
    })?;
    Ok(Built {
        md,
        layer,
        parts,
        annotations: ann,
        created,
        reused_input: reused,
    })
}

/// The image's `created`: `SOURCE_DATE_EPOCH`, else the checkpoint time recorded in
/// `config.dump`, else the mtime of `checkpoint/inventory.img` (when CRIU finished), else
/// the newest `checkpoint/` mtime, else the container's creation time. Never "now".
fn created_time(md: &CheckpointMetadata, summary: &Summary) -> Result<String> {
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs: i64 = epoch
            .trim()
            .parse()
            .map_err(|_| err!("SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds"))?;
        return Ok(rfc3339(secs));
    }
    if let Some(t) = md.checkpointed_time.as_deref().filter(|t| looks_rfc3339(t)) {
        return Ok(t.to_string());
    }
    if let Some(t) = summary.inventory_mtime.or(summary.checkpoint_mtime) {
        return Ok(rfc3339(t));
    }
    if let Some(t) = md.created_time.as_deref().filter(|t| looks_rfc3339(t)) {
        return Ok(t.to_string());
    }
    Ok(rfc3339(0))
}

fn looks_rfc3339(t: &str) -> bool {
    crate::image::valid_rfc3339(t)
}

fn rfc3339(secs: i64) -> String {
    crate::image::rfc3339_nano(secs, 0)
}

/// Bytes processed and rate on stderr, on a terminal only.
struct Progress {
    enabled: bool,
    start: Instant,
    last: Instant,
    bytes: u64,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        let now = Instant::now();
        Self {
            enabled,
            start: now,
            last: now,
            bytes: 0,
        }
    }
    fn tick(&mut self, n: usize) {
        self.bytes += n as u64;
        if !self.enabled || self.last.elapsed().as_millis() < 200 {
            return;
        }
        self.last = Instant::now();
        self.print();
    }
    fn print(&self) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-6);
        let mib = self.bytes as f64 / (1 << 20) as f64;
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r{mib:10.1} MiB  {:8.1} MiB/s", mib / secs);
        let _ = e.flush();
    }
    fn done(&self) {
        if self.enabled {
            self.print();
            eprintln!();
        }
    }
}

impl LayerSink for Progress {
    fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.tick(bytes.len());
        Ok(())
    }
    fn begin(&mut self, _e: &Entry) -> Result<()> {
        Ok(())
    }
    fn body(&mut self, chunk: &[u8]) -> Result<()> {
        self.tick(chunk.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_table() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_325_687), "2026-11-22T05:34:47Z");
    }
}
