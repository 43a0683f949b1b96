//! Checkpoint archives: open, sniff the compression, and stream the tar once, safely.
//!
//! An archive is a tar (plain, gzip or zstd, told apart by magic bytes, never by file
//! name) written by Podman, CRI-O or containerd. [`ArchiveReader::stream`] parses it at
//! the 512-byte block level, so every byte of the *layer tar* (the archive as it will be
//! extracted at `/`) is handed to the caller exactly once, as [`Event`]s:
//!
//! ```text
//! Raw(padding of the previous member + header blocks)  Begin(entry)  Body(chunk)…  End(entry)
//! …                                                    Raw(end-of-archive blocks + trailing bytes)
//! ```
//!
//! The layer tar is byte-identical to the decompressed input unless a member name must be
//! normalised (a leading `./`, `.` components, or the `./` root entry itself, which is
//! dropped); then only that member's header is regenerated ([`Summary::rewritten`]).
//!
//! Safety rules (DESIGN.md "Reliability and security rules"): absolute paths, `..`,
//! entries below a symlink or a file, symlinks whose target leaves the archive root, hard
//! links to anything but an earlier regular file, device nodes, fifos, sparse files,
//! whiteouts (`.wh.*`), non-UTF-8 names and duplicate paths are refused. A corrupt or
//! truncated stream is an error. Small metadata members are captured in memory on the way
//! through, each under a size cap.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::{bail, err};

/// The largest JSON metadata member (`config.dump`, `spec.dump`, …) read into memory.
pub const MAX_METADATA_SIZE: u64 = 4 << 20;
/// How much of `dump.log` is kept: only its header carries facts.
pub const DUMP_LOG_HEAD: usize = 64 << 10;
/// How much of one `checkpoint/core-*.img` is kept: `mtype` is near the start.
pub const CORE_IMG_HEAD: usize = 64 << 10;
/// The largest PAX or GNU long-name extension body accepted.
const MAX_EXTENSION_SIZE: u64 = 1 << 20;
/// Read size for member bodies.
const CHUNK: usize = 1 << 20;
const BLOCK: usize = 512;

/// Members whose whole content is captured (each at most [`MAX_METADATA_SIZE`]).
pub const CAPTURED_MEMBERS: &[&str] = &[
    "config.dump",
    "spec.dump",
    "status.dump",
    "status",
    "network.status",
    "deleted.files",
    "pod.options",
    "bind.mounts",
];

/// The compression of an archive, from its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Tell the compression from the first bytes of a file.
///
/// # Errors
/// bzip2 and xz are recognised and refused with a hint; anything else is taken for a
/// plain tar (the tar parser then decides).
pub fn sniff_compression(magic: &[u8]) -> Result<Compression> {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Compression::Gzip)
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Compression::Zstd)
    } else if magic.starts_with(b"BZh") {
        bail!("bzip2-compressed archives are not supported (decompress it, or use gzip or zstd)")
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        bail!("xz-compressed archives are not supported (decompress it, or use gzip or zstd)")
    } else {
        Ok(Compression::None)
    }
}

/// The kind of a tar member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (kept as a link, never followed).
    Symlink,
    /// A hard link to an earlier regular file of the archive.
    HardLink,
}

/// One member of the archive, validated.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Normalised path relative to the layer root: no `./`, no trailing `/`.
    pub path: String,
    /// The name as written in the layer tar (what tar-split records).
    pub layer_name: String,
    /// The member kind.
    pub kind: EntryKind,
    /// Body size (0 for anything but regular files).
    pub size: u64,
    /// Permission bits, including setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds part of the modification time (from PAX `mtime`).
    pub mtime_nsec: u32,
    /// Symlink target (verbatim) or hard-link target (normalised path).
    pub link: Option<String>,
    /// Extended attributes from PAX `SCHILY.xattr.*` records.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// What the stream hands to its visitor; see the module docs for the order.
#[derive(Debug)]
pub enum Event<'a> {
    /// Layer bytes outside member bodies (padding, headers, end-of-archive blocks).
    Raw(&'a [u8]),
    /// A member starts; its header bytes were the preceding `Raw` event.
    Begin(&'a Entry),
    /// A chunk of the current member's body.
    Body(&'a [u8]),
    /// The current member ended.
    End(&'a Entry),
}

/// A member as listed by `inspect`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberInfo {
    /// Normalised path.
    pub path: String,
    /// Kind.
    pub kind: EntryKind,
    /// Body size.
    pub size: u64,
}

/// What one pass over an archive learnt.
#[derive(Debug, Default)]
pub struct Summary {
    /// Whether any header had to be regenerated (the layer differs from the input tar).
    pub rewritten: bool,
    /// Bytes of the layer tar.
    pub layer_size: u64,
    /// Bytes of the archive file as read (compressed size).
    pub input_size: u64,
    /// Every member, in archive order.
    pub members: Vec<MemberInfo>,
    /// Captured small members by path (see [`CAPTURED_MEMBERS`], `dump.log`, one `core-*.img`).
    pub captured: BTreeMap<String, Vec<u8>>,
    /// mtime of `checkpoint/inventory.img`, the moment CRIU finished the dump.
    pub inventory_mtime: Option<i64>,
    /// Newest mtime of any `checkpoint/` member.
    pub checkpoint_mtime: Option<i64>,
}

impl Summary {
    /// Whether a member with this normalised path exists.
    pub fn has(&self, path: &str) -> bool {
        self.members.iter().any(|m| m.path == path)
    }
}

/// Normalise a member name to a path relative to the layer root.
///
/// Returns `Ok(None)` for the root itself (`./`, `.`).
///
/// # Errors
/// Empty names, absolute paths and `..` components.
pub fn normalize_path(name: &str) -> Result<Option<String>, String> {
    if name.is_empty() {
        return Err("empty member name".into());
    }
    if name.starts_with('/') {
        return Err(format!("absolute path {name:?}"));
    }
    let mut parts = Vec::new();
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(format!("path {name:?} contains \"..\"")),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(parts.join("/")))
}

/// Whether a symlink at `link_path` pointing to `target` stays inside the archive root.
pub fn symlink_stays_inside(link_path: &str, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') {
        return false;
    }
    // Depth of the directory holding the link.
    let mut depth: i64 = link_path.split('/').count() as i64 - 1;
    for comp in target.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

/// An opened checkpoint archive, not yet read.
#[derive(Debug)]
pub struct ArchiveReader {
    path: PathBuf,
    file: File,
    compression: Compression,
    file_size: u64,
}

impl ArchiveReader {
    /// Open `path` (a regular file) and sniff its compression.
    ///
    /// # Errors
    /// The file cannot be opened, is not a regular file, or is bzip2/xz.
    pub fn open(path: &Path) -> Result<Self> {
        let ctx = || format!("archive {}", path.display());
        let file = File::open(path).with_context(ctx)?;
        let meta = file.metadata().with_context(ctx)?;
        if !meta.is_file() {
            return Err(err!("not a regular file")).with_context(ctx);
        }
        let mut magic = [0u8; 6];
        let n = read_full(&file, &mut magic).with_context(ctx)?;
        let compression = sniff_compression(&magic[..n]).with_context(ctx)?;
        // Re-open rather than seek so that the stream starts from a clean file offset.
        let file = File::open(path).with_context(ctx)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            compression,
            file_size: meta.len(),
        })
    }

    /// The archive's compression.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The archive file's size in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Read the archive once, validating every member and calling `visit` for each event.
    ///
    /// `raw_tee`, if given, receives every byte of the archive *file* (still compressed),
    /// so a caller can reuse it as a blob.
    ///
    /// # Errors
    /// I/O errors, a corrupt or truncated stream, a refused member (see the module docs),
    /// an oversized metadata member, or any error returned by `visit`.
    pub fn stream(
        self,
        raw_tee: Option<&mut dyn Write>,
        visit: &mut dyn FnMut(Event<'_>) -> Result<()>,
    ) -> Result<Summary> {
        let path = self.path.clone();
        let compression = self.compression;
        let file_size = self.file_size;
        let tee = Tee {
            inner: self.file,
            out: raw_tee,
            count: 0,
        };
        let result = (|| {
            let buffered = BufReader::with_capacity(CHUNK, tee);
            let mut tee_back;
            let summary;
            match compression {
                Compression::None => {
                    let mut parser = Parser::new(buffered);
                    summary = parser.run(visit)?;
                    tee_back = parser.reader.into_inner();
                }
                Compression::Gzip => {
                    let dec = flate2::bufread::MultiGzDecoder::new(buffered);
                    let mut parser = Parser::new(BufReader::with_capacity(CHUNK, dec));
                    summary = parser.run(visit).map_err(|e| decompress_error(e, "gzip"))?;
                    tee_back = parser.reader.into_inner().into_inner().into_inner();
                }
                Compression::Zstd => {
                    let dec = zstd::stream::read::Decoder::with_buffer(buffered)
                        .context("initialising zstd decoder")?;
                    let mut parser = Parser::new(BufReader::with_capacity(CHUNK, dec));
                    summary = parser.run(visit).map_err(|e| decompress_error(e, "zstd"))?;
                    tee_back = parser.reader.into_inner().finish().into_inner();
                }
            }
            // Whatever the decoder did not need still belongs to the file (and the blob).
            io::copy(&mut tee_back, &mut io::sink())?;
            let mut summary = summary;
            summary.input_size = tee_back.count;
            Ok::<_, Error>(summary)
        })();
        let summary = result.with_context(|| format!("archive {}", path.display()))?;
        if summary.input_size != file_size {
            bail!(
                "archive {}: changed while it was read ({} bytes read, {} expected)",
                path.display(),
                summary.input_size,
                file_size
            );
        }
        Ok(summary)
    }
}

fn decompress_error(e: Error, what: &str) -> Error {
    match e {
        Error::Io(io)
            if io.kind() == io::ErrorKind::UnexpectedEof
                || io.to_string().contains("incomplete")
                || io.to_string().contains("premature end") =>
        {
            err!("truncated {what} stream: {io}")
        }
        Error::Io(io) => err!("corrupt {what} stream: {io}"),
        other => other,
    }
}

fn read_full(mut r: impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Copies every byte read from the file into an optional writer, and counts them.
struct Tee<'a> {
    inner: File,
    out: Option<&'a mut dyn Write>,
    count: u64,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(out) = self.out.as_mut() {
            out.write_all(&buf[..n])?;
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// Extension data that applies to the next header.
#[derive(Default)]
struct Pending {
    raw: Vec<u8>,
    pax: Vec<(String, Vec<u8>)>,
    gnu_name: Option<Vec<u8>>,
    gnu_link: Option<Vec<u8>>,
}

struct Parser<R: Read> {
    reader: R,
    offset: u64,
    summary: Summary,
    seen: HashMap<String, EntryKind>,
    /// Parent directories this parser added because the archive only implied them.
    synthesized: std::collections::HashSet<String>,
    core_captured: bool,
}

impl<R: Read> Parser<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            offset: 0,
            summary: Summary::default(),
            seen: HashMap::new(),
            synthesized: Default::default(),
            core_captured: false,
        }
    }

    /// Read exactly `buf.len()` bytes; `Ok(false)` on a clean EOF before the first byte.
    fn read_block(&mut self, buf: &mut [u8]) -> Result<bool> {
        let n = read_full(&mut self.reader, buf)?;
        if n == 0 {
            return Ok(false);
        }
        if n < buf.len() {
            bail!("truncated tar stream at byte {}", self.offset + n as u64);
        }
        self.offset += n as u64;
        Ok(true)
    }

    fn read_extension(&mut self, size: u64, what: &str) -> Result<Vec<u8>> {
        if size > MAX_EXTENSION_SIZE {
            bail!(
                "{what} extension header of {size} bytes at byte {} is too large",
                self.offset
            );
        }
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        let mut body = vec![0u8; padded as usize];
        if !self.read_block(&mut body)? {
            bail!("truncated tar stream at byte {}", self.offset);
        }
        Ok(body)
    }

    fn run(&mut self, visit: &mut dyn FnMut(Event<'_>) -> Result<()>) -> Result<Summary> {
        let mut block = [0u8; BLOCK];
        let mut pending = Pending::default();
        let mut first = true;
        loop {
            let header_offset = self.offset;
            if !self.read_block(&mut block)? {
                if first {
                    bail!("empty file, not a tar archive");
                }
                bail!("truncated tar stream: no end-of-archive marker");
            }
            if block.iter().all(|&b| b == 0) {
                if !pending.raw.is_empty() {
                    bail!("truncated tar stream: extension header without a member");
                }
                // End of archive: pass the marker and everything after it through.
                visit(Event::Raw(&block))?;
                let mut layer = self.offset;
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = match self.reader.read(&mut buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e.into()),
                    };
                    if n == 0 {
                        break;
                    }
                    layer += n as u64;
                    visit(Event::Raw(&buf[..n]))?;
                }
                self.summary.layer_size += layer - header_offset;
                return Ok(std::mem::take(&mut self.summary));
            }
            let header = tar::Header::from_byte_slice(&block);
            if !checksum_ok(&block, header) {
                if first {
                    bail!("not a tar archive (no valid tar header at the start)");
                }
                bail!("corrupt tar header at byte {header_offset}");
            }
            first = false;
            let size = header
                .entry_size()
                .map_err(|_| err!("corrupt size field in tar header at byte {header_offset}"))?;
            match header.entry_type() {
                tar::EntryType::XHeader => {
                    let body = self.read_extension(size, "PAX")?;
                    pending.raw.extend_from_slice(&block);
                    pending.raw.extend_from_slice(&body);
                    parse_pax(&body[..size as usize], &mut pending.pax)
                        .map_err(|e| err!("PAX header at byte {header_offset}: {e}"))?;
                    continue;
                }
                tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
                    let body = self.read_extension(size, "GNU long name")?;
                    pending.raw.extend_from_slice(&block);
                    pending.raw.extend_from_slice(&body);
                    let value = trim_nul(&body[..size as usize]).to_vec();
                    if header.entry_type() == tar::EntryType::GNULongName {
                        pending.gnu_name = Some(value);
                    } else {
                        pending.gnu_link = Some(value);
                    }
                    continue;
                }
                _ => {}
            }
            let pend = std::mem::take(&mut pending);
            self.member(&block, header, size, pend, header_offset, visit)?;
        }
    }

    fn member(
        &mut self,
        block: &[u8; BLOCK],
        header: &tar::Header,
        header_size: u64,
        pend: Pending,
        at: u64,
        visit: &mut dyn FnMut(Event<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut raw_name = match &pend.gnu_name {
            Some(n) => n.clone(),
            None => header.path_bytes().into_owned(),
        };
        let mut raw_link = match &pend.gnu_link {
            Some(n) => Some(n.clone()),
            None => header.link_name_bytes().map(|c| c.into_owned()),
        };
        let mut size = header_size;
        let mut uid = header.uid().unwrap_or(0);
        let mut gid = header.gid().unwrap_or(0);
        let mut mtime = header.mtime().unwrap_or(0) as i64;
        let mut mtime_nsec = 0u32;
        let mut xattrs = Vec::new();
        let mut kept_pax = Vec::new();
        for (k, v) in &pend.pax {
            match k.as_str() {
                "path" => raw_name = v.clone(),
                "linkpath" => raw_link = Some(v.clone()),
                "size" => size = parse_pax_num(k, v)?,
                "uid" => uid = parse_pax_num(k, v)?,
                "gid" => gid = parse_pax_num(k, v)?,
                "mtime" => (mtime, mtime_nsec) = parse_pax_time(v)?,
                _ if k.starts_with("GNU.sparse.") => {
                    bail!("member at byte {at}: sparse files are not supported")
                }
                _ if k.starts_with("SCHILY.xattr.") => {
                    xattrs.push((k["SCHILY.xattr.".len()..].to_string(), v.clone()));
                }
                _ => {}
            }
            if !matches!(k.as_str(), "path" | "linkpath") {
                kept_pax.push((k.clone(), v.clone()));
            }
        }
        let name = String::from_utf8(raw_name)
            .map_err(|_| err!("member at byte {at}: name is not valid UTF-8"))?;
        let mut kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::HardLink,
            tar::EntryType::Char | tar::EntryType::Block => {
                bail!("member {name}: device nodes are not allowed in a checkpoint archive")
            }
            tar::EntryType::Fifo => {
                bail!("member {name}: fifos are not allowed in a checkpoint archive")
            }
            tar::EntryType::GNUSparse => {
                bail!("member {name}: sparse files are not supported")
            }
            tar::EntryType::XGlobalHeader => {
                bail!("member at byte {at}: global PAX headers are not supported")
            }
            other => bail!(
                "member {name}: unsupported tar entry type {:?}",
                other.as_byte()
            ),
        };
        // Old tars mark directories with a trailing slash on a regular entry.
        if kind == EntryKind::File && name.ends_with('/') {
            kind = EntryKind::Dir;
        }
        let body_size = if kind == EntryKind::File { size } else { 0 };
        let normalized = normalize_path(&name).map_err(|e| err!("member {name}: {e}"))?;
        let mode = header.mode().unwrap_or(0o644) & 0o7777;

        let Some(path) = normalized else {
            // The root entry ("./"): nothing to extract, dropped from the layer.
            if kind != EntryKind::Dir {
                bail!("member {name}: the archive root must be a directory");
            }
            self.skip_body(body_size)?;
            self.summary.rewritten = true;
            return Ok(());
        };
        // An explicit entry for a directory synthesised earlier: the layer has it already.
        if kind == EntryKind::Dir && self.synthesized.contains(&path) {
            log::debug!(
                "member {name}: directory entry after its contents; keeping the earlier one"
            );
            self.skip_body(body_size)?;
            self.summary.rewritten = true;
            return Ok(());
        }
        let missing_parents = self.check_path(&name, &path)?;

        let link = match kind {
            EntryKind::Symlink => {
                let target = raw_link
                    .map(String::from_utf8)
                    .transpose()
                    .map_err(|_| err!("member {name}: link target is not valid UTF-8"))?
                    .unwrap_or_default();
                if !symlink_stays_inside(&path, &target) {
                    bail!("member {name}: symlink target {target:?} escapes the archive root");
                }
                Some(target)
            }
            EntryKind::HardLink => {
                let target = raw_link
                    .map(String::from_utf8)
                    .transpose()
                    .map_err(|_| err!("member {name}: link target is not valid UTF-8"))?
                    .unwrap_or_default();
                let norm = normalize_path(&target)
                    .map_err(|e| err!("member {name}: hard link target: {e}"))?
                    .ok_or_else(|| err!("member {name}: hard link to the archive root"))?;
                if self.seen.get(&norm) != Some(&EntryKind::File) {
                    bail!(
                        "member {name}: hard link target {target:?} is not an earlier regular file of the archive"
                    );
                }
                Some(norm)
            }
            _ => None,
        };

        // The name written into the layer: unchanged unless normalisation changed it.
        let trimmed = name.strip_suffix('/').unwrap_or(&name);
        let link_changed = kind == EntryKind::HardLink
            && link.as_deref() != pend_link_str(&pend, header).as_deref();
        let rewrite = trimmed != path || link_changed;
        let layer_name;
        let header_bytes: Vec<u8> = if rewrite {
            self.summary.rewritten = true;
            layer_name = if kind == EntryKind::Dir {
                format!("{path}/")
            } else {
                path.clone()
            };
            let hard = if kind == EntryKind::HardLink {
                link.as_deref()
            } else {
                None
            };
            regenerate_header(block, &kept_pax, &layer_name, hard)
        } else {
            layer_name = name.clone();
            let mut raw = pend.raw;
            raw.extend_from_slice(block);
            raw
        };

        let entry = Entry {
            path,
            layer_name,
            kind,
            size: body_size,
            mode,
            uid,
            gid,
            mtime,
            mtime_nsec,
            link,
            xattrs,
        };
        for parent in &missing_parents {
            self.synthesize_dir(parent, entry.mtime, visit)?;
        }
        visit(Event::Raw(&header_bytes))?;
        self.summary.layer_size += header_bytes.len() as u64;
        visit(Event::Begin(&entry))?;
        self.body(&entry, visit)?;
        visit(Event::End(&entry))?;
        // Padding after the body.
        let pad = (BLOCK as u64 - body_size % BLOCK as u64) % BLOCK as u64;
        if pad > 0 {
            let mut padding = [0u8; BLOCK];
            if !self.read_block(&mut padding[..pad as usize])? {
                bail!("truncated tar stream in member {}", entry.layer_name);
            }
            visit(Event::Raw(&padding[..pad as usize]))?;
            self.summary.layer_size += pad;
        }
        // Like Go's archive/tar, a size on header-only types (dirs, links) is ignored.
        self.record(&entry);
        Ok(())
    }

    fn skip_body(&mut self, size: u64) -> Result<()> {
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        let copied = io::copy(&mut (&mut self.reader).take(padded), &mut io::sink())?;
        if copied != padded {
            bail!("truncated tar stream at byte {}", self.offset + copied);
        }
        self.offset += padded;
        Ok(())
    }

    /// Validate a member's path; returns the parent directories it implies that have no
    /// entry yet (outermost first).
    fn check_path(&mut self, name: &str, path: &str) -> Result<Vec<String>> {
        for comp in path.split('/') {
            if comp.starts_with(".wh.") {
                bail!("member {name}: whiteout files are not allowed in a checkpoint archive");
            }
        }
        if let Some(prev) = self.seen.get(path) {
            bail!("member {name}: duplicate path (already seen as a {prev:?})");
        }
        let mut missing = Vec::new();
        let mut ancestor = String::new();
        let comps: Vec<&str> = path.split('/').collect();
        for comp in &comps[..comps.len() - 1] {
            if !ancestor.is_empty() {
                ancestor.push('/');
            }
            ancestor.push_str(comp);
            match self.seen.get(&ancestor) {
                Some(EntryKind::Dir) => {}
                None => missing.push(ancestor.clone()),
                Some(EntryKind::Symlink) => {
                    bail!(
                        "member {name}: parent {ancestor:?} is a symlink (escape through a symlink)"
                    )
                }
                Some(_) => bail!("member {name}: parent {ancestor:?} is not a directory"),
            }
        }
        Ok(missing)
    }

    /// Emit an explicit directory entry for a parent the archive only implies.
    ///
    /// Podman's exports have `volumes/NAME.tar` without a `volumes/` entry. Extracted
    /// as-is, containers-storage creates the directory itself, and `podman system check`
    /// then reports the layer as modified (and `--repair` deletes the image). Podman's own
    /// `--create-image` layer has the entry; so does ours: mode 0755 (what c/storage
    /// creates), root-owned, the child's mtime (deterministic).
    fn synthesize_dir(
        &mut self,
        path: &str,
        mtime: i64,
        visit: &mut dyn FnMut(Event<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(mtime.max(0) as u64);
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(h.as_bytes());
        let layer_name = format!("{path}/");
        let bytes = regenerate_header(&block, &[], &layer_name, None);
        let entry = Entry {
            path: path.to_string(),
            layer_name,
            kind: EntryKind::Dir,
            size: 0,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: mtime.max(0),
            mtime_nsec: 0,
            link: None,
            xattrs: Vec::new(),
        };
        visit(Event::Raw(&bytes))?;
        self.summary.layer_size += bytes.len() as u64;
        visit(Event::Begin(&entry))?;
        visit(Event::End(&entry))?;
        self.summary.rewritten = true;
        self.synthesized.insert(path.to_string());
        self.record(&entry);
        Ok(())
    }

    fn body(
        &mut self,
        entry: &Entry,
        visit: &mut dyn FnMut(Event<'_>) -> Result<()>,
    ) -> Result<()> {
        let capture = capture_limit(&entry.path, self.core_captured)?;
        if let Some(limit) = capture.hard_limit {
            if entry.size > limit {
                bail!(
                    "member {}: {} bytes exceeds the {} byte limit for metadata members",
                    entry.path,
                    entry.size,
                    limit
                );
            }
        }
        let mut captured: Option<Vec<u8>> = capture
            .keep
            .map(|k| Vec::with_capacity(entry.size.min(k as u64) as usize));
        let mut remaining = entry.size;
        let mut buf = vec![0u8; CHUNK.min(entry.size as usize).max(1)];
        while remaining > 0 {
            let want = remaining.min(buf.len() as u64) as usize;
            let n = read_full(&mut self.reader, &mut buf[..want])?;
            if n < want {
                bail!("truncated tar stream in member {}", entry.path);
            }
            self.offset += n as u64;
            remaining -= n as u64;
            if let (Some(c), Some(k)) = (captured.as_mut(), capture.keep) {
                let room = k.saturating_sub(c.len());
                c.extend_from_slice(&buf[..n.min(room)]);
            }
            visit(Event::Body(&buf[..n]))?;
        }
        self.summary.layer_size += entry.size;
        if let Some(c) = captured {
            if entry.path.starts_with("checkpoint/core-") {
                self.core_captured = true;
            }
            self.summary.captured.insert(entry.path.clone(), c);
        }
        Ok(())
    }

    fn record(&mut self, entry: &Entry) {
        self.seen.insert(entry.path.clone(), entry.kind);
        if entry.path == "checkpoint/inventory.img" {
            self.summary.inventory_mtime = Some(entry.mtime);
        }
        if entry.path.starts_with("checkpoint/") || entry.path == "checkpoint" {
            let m = self.summary.checkpoint_mtime.get_or_insert(entry.mtime);
            *m = (*m).max(entry.mtime);
        }
        self.summary.members.push(MemberInfo {
            path: entry.path.clone(),
            kind: entry.kind,
            size: entry.size,
        });
    }
}

fn pend_link_str(pend: &Pending, header: &tar::Header) -> Option<String> {
    if let Some((_, v)) = pend.pax.iter().rev().find(|(k, _)| k == "linkpath") {
        return String::from_utf8(v.clone()).ok();
    }
    if let Some(l) = &pend.gnu_link {
        return String::from_utf8(l.clone()).ok();
    }
    header
        .link_name_bytes()
        .and_then(|c| String::from_utf8(c.into_owned()).ok())
}

struct CaptureLimit {
    /// Keep at most this many bytes in memory.
    keep: Option<usize>,
    /// Refuse the member if it is larger.
    hard_limit: Option<u64>,
}

fn capture_limit(path: &str, core_done: bool) -> Result<CaptureLimit> {
    if CAPTURED_MEMBERS.contains(&path) {
        return Ok(CaptureLimit {
            keep: Some(MAX_METADATA_SIZE as usize),
            hard_limit: Some(MAX_METADATA_SIZE),
        });
    }
    if path == "dump.log" {
        return Ok(CaptureLimit {
            keep: Some(DUMP_LOG_HEAD),
            hard_limit: None,
        });
    }
    if !core_done
        && path.starts_with("checkpoint/core-")
        && path.ends_with(".img")
        && !path["checkpoint/".len()..].contains('/')
    {
        return Ok(CaptureLimit {
            keep: Some(CORE_IMG_HEAD),
            hard_limit: None,
        });
    }
    Ok(CaptureLimit {
        keep: None,
        hard_limit: None,
    })
}

fn trim_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn checksum_ok(block: &[u8; BLOCK], header: &tar::Header) -> bool {
    let Ok(stored) = header.cksum() else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    sum == stored
}

/// Parse PAX records (`"%d %s=%s\n"`) into `out`, in order.
fn parse_pax(mut body: &[u8], out: &mut Vec<(String, Vec<u8>)>) -> Result<(), String> {
    while !body.is_empty() {
        if body.iter().all(|&b| b == 0) {
            break;
        }
        let sp = body
            .iter()
            .position(|&b| b == b' ')
            .ok_or("record without a length")?;
        let len: usize = std::str::from_utf8(&body[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("bad record length")?;
        if len <= sp + 1 || len > body.len() || body[len - 1] != b'\n' {
            return Err("bad record length".into());
        }
        let rec = &body[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|&b| b == b'=')
            .ok_or("record without '='")?;
        let key = String::from_utf8(rec[..eq].to_vec()).map_err(|_| "key is not UTF-8")?;
        out.push((key, rec[eq + 1..].to_vec()));
        body = &body[len..];
    }
    Ok(())
}

fn parse_pax_num(key: &str, v: &[u8]) -> Result<u64> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err!("PAX record {key}: not a number"))
}

fn parse_pax_time(v: &[u8]) -> Result<(i64, u32)> {
    let s = std::str::from_utf8(v).map_err(|_| err!("PAX record mtime: not UTF-8"))?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs
        .parse()
        .map_err(|_| err!("PAX record mtime: not a number: {s:?}"))?;
    let mut nsec = 0u32;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            bail!("PAX record mtime: not a number: {s:?}");
        }
        nsec = format!("{digits:0<9}").parse().unwrap_or(0);
    }
    Ok((secs, nsec))
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let base = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = base + base.to_string().len();
    if len.to_string().len() != base.to_string().len() {
        len = base + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

fn set_checksum(block: &mut [u8; BLOCK]) {
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(s.as_bytes());
}

fn set_field(block: &mut [u8; BLOCK], range: std::ops::Range<usize>, value: &[u8]) {
    block[range.clone()].fill(0);
    let n = value.len().min(range.len());
    block[range.start..range.start + n].copy_from_slice(&value[..n]);
}

/// Regenerate a member's header blocks with a new name (and hard-link target).
fn regenerate_header(
    orig: &[u8; BLOCK],
    kept_pax: &[(String, Vec<u8>)],
    name: &str,
    hard_link: Option<&str>,
) -> Vec<u8> {
    let mut block = *orig;
    let mut pax: Vec<(String, Vec<u8>)> = kept_pax.to_vec();
    let is_posix_ustar = &orig[257..263] == b"ustar\0";
    set_field(&mut block, 0..100, name.as_bytes());
    if is_posix_ustar {
        block[345..500].fill(0);
    }
    if name.len() > 100 {
        pax.push(("path".into(), name.as_bytes().to_vec()));
    }
    if let Some(l) = hard_link {
        set_field(&mut block, 157..257, l.as_bytes());
        if l.len() > 100 {
            pax.push(("linkpath".into(), l.as_bytes().to_vec()));
        }
    }
    set_checksum(&mut block);
    let mut out = Vec::with_capacity(BLOCK * 3);
    if !pax.is_empty() {
        let mut body = Vec::new();
        for (k, v) in &pax {
            body.extend_from_slice(&pax_record(k, v));
        }
        let mut xh = [0u8; BLOCK];
        xh.copy_from_slice(&block);
        let base = name.rsplit('/').next().unwrap_or(name);
        let xname = format!("PaxHeaders.0/{base}");
        set_field(&mut xh, 0..100, xname.as_bytes());
        set_field(&mut xh, 157..257, b"");
        xh[156] = b'x';
        let size = format!("{:011o}\0", body.len());
        xh[124..136].copy_from_slice(size.as_bytes());
        if !is_posix_ustar {
            // PAX headers require the POSIX magic.
            xh[257..265].copy_from_slice(b"ustar\x0000");
        }
        set_checksum(&mut xh);
        out.extend_from_slice(&xh);
        let padded = body.len().div_ceil(BLOCK) * BLOCK;
        body.resize(padded, 0);
        out.extend_from_slice(&body);
    }
    out.extend_from_slice(&block);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_path_table() {
        let ok: &[(&str, Option<&str>)] = &[
            ("config.dump", Some("config.dump")),
            ("./config.dump", Some("config.dump")),
            ("checkpoint/", Some("checkpoint")),
            ("./checkpoint/core-1.img", Some("checkpoint/core-1.img")),
            ("a//b/./c", Some("a/b/c")),
            ("./", None),
            (".", None),
            ("..foo", Some("..foo")),
        ];
        for (input, want) in ok {
            let got = normalize_path(input).expect("valid path");
            assert_eq!(got.as_deref(), *want, "{input}");
        }
        for bad in ["/etc/passwd", "../x", "a/../../x", "a/..", ""] {
            assert!(normalize_path(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn symlink_escape_table() {
        let cases = [
            ("checkpoint/parent", "../pre-checkpoint", true),
            ("a", "b", true),
            ("a/b/c", "../../x", true),
            ("a/b/c", "../../../x", false),
            ("a", "../x", false),
            ("a", "/etc/passwd", false),
            ("a", "", false),
            ("a/b", "./c/../d", true),
        ];
        for (link, target, inside) in cases {
            assert_eq!(
                symlink_stays_inside(link, target),
                inside,
                "{link} -> {target}"
            );
        }
    }

    #[test]
    fn sniff_table() {
        assert_eq!(
            sniff_compression(&[0x1f, 0x8b, 8]).ok(),
            Some(Compression::Gzip)
        );
        assert_eq!(
            sniff_compression(&[0x28, 0xb5, 0x2f, 0xfd]).ok(),
            Some(Compression::Zstd)
        );
        assert_eq!(
            sniff_compression(b"config.dump").ok(),
            Some(Compression::None)
        );
        assert_eq!(sniff_compression(b"").ok(), Some(Compression::None));
        assert!(sniff_compression(b"BZh91AY").is_err());
        assert!(sniff_compression(&[0xfd, b'7', b'z', b'X', b'Z', 0]).is_err());
    }

    /// Stream a tar given as bytes; returns (layer bytes, summary).
    fn stream_bytes(tar: &[u8]) -> Result<(Vec<u8>, Summary)> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("a.tar");
        std::fs::write(&p, tar)?;
        let mut layer = Vec::new();
        let summary = ArchiveReader::open(&p)?.stream(None, &mut |ev| {
            match ev {
                Event::Raw(b) | Event::Body(b) => layer.extend_from_slice(b),
                _ => {}
            }
            Ok(())
        })?;
        Ok((layer, summary))
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, typ, data) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(*typ);
            h.set_mode(0o640);
            h.set_mtime(1000);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn implied_parents_become_explicit_directories() {
        use tar::EntryType::{Directory, Regular};
        let input = tar_of(&[
            ("a/b/c", Regular, b"x"),
            ("a/", Directory, b""),
            ("d", Regular, b""),
        ]);
        let (layer, summary) = stream_bytes(&input).expect("stream");
        assert!(summary.rewritten);
        let mut ar = tar::Archive::new(&layer[..]);
        let got: Vec<(String, tar::EntryType, u32)> = ar
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let h = e.header();
                (
                    e.path().expect("path").display().to_string(),
                    h.entry_type(),
                    h.mode().expect("mode"),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a/".into(), Directory, 0o755),
                ("a/b/".into(), Directory, 0o755),
                ("a/b/c".into(), Regular, 0o640),
                ("d".into(), Regular, 0o640),
            ]
        );
        let paths: Vec<&str> = summary.members.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["a", "a/b", "a/b/c", "d"]);
        // Without implied parents the layer is the input, byte for byte.
        let plain = tar_of(&[("a/", Directory, b""), ("a/f", Regular, b"y")]);
        let (layer, summary) = stream_bytes(&plain).expect("stream");
        assert!(!summary.rewritten);
        assert!(layer == plain);
    }

    #[test]
    fn pax_records_round_trip() {
        for (k, v) in [
            ("path", "a".repeat(5)),
            ("path", "b".repeat(94)),
            ("x", "y".repeat(990)),
        ] {
            let rec = pax_record(k, v.as_bytes());
            let mut out = Vec::new();
            parse_pax(&rec, &mut out).expect("parse");
            assert_eq!(out, vec![(k.to_string(), v.as_bytes().to_vec())]);
        }
    }

    #[test]
    fn pax_time_parsing() {
        assert_eq!(
            parse_pax_time(b"1700000000.5").ok(),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_pax_time(b"12").ok(), Some((12, 0)));
        assert!(parse_pax_time(b"x").is_err());
    }
}
