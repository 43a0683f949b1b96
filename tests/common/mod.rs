//! Shared test harness: the binary under test, fixture archives built at test time (all
//! three engines, all three compressions), external-tool gating (skip locally with a
//! visible message, fail loudly in CI), and throwaway containers-storage roots.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test: `$CHECKPOINTCTL_IMAGE` (e.g. the packaged
/// `/usr/libexec/checkpointctl/checkpointctl-image`) or the one cargo built.
pub fn bin() -> PathBuf {
    match std::env::var_os("CHECKPOINTCTL_IMAGE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_checkpointctl-image")),
    }
}

/// Run the binary with `args`, no stdin.
pub fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run checkpointctl-image")
}

/// Run with string arguments.
pub fn run_s(args: &[&str]) -> Output {
    let a: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    run(&a)
}

/// stdout parsed as exactly one JSON document.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Exit code, with output on failure for diagnostics.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Assert success and return the output.
pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "command failed ({:?})\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The project's fixture directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A real Podman 5.4.2 archive: `runtime` is `runc` or `crun`, `name` e.g. `counter-zstd.tar.zst`.
pub fn podman_fixture(runtime: &str, name: &str) -> PathBuf {
    fixtures().join("podman-5.4.2").join(runtime).join(name)
}

/// Whether we run in CI, where missing tools are failures.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `true` if `tool` is on PATH. Locally a missing tool skips the test with a visible
/// message; in CI (`CI=true`) it fails the test.
pub fn have(tool: &str) -> bool {
    if which::which(tool).is_ok() {
        return true;
    }
    if in_ci() {
        panic!("{tool} is required in CI (CI=true) but is not installed");
    }
    eprintln!(
        "SKIPPED: {tool} is not installed (install it, or run in CI where this test is mandatory)"
    );
    false
}

/// `true` if running as root; otherwise skips locally, fails in CI.
pub fn have_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if in_ci() {
        panic!("this test needs root in CI");
    }
    eprintln!("SKIPPED: needs root");
    false
}

/// Archive compression for generated fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

impl Comp {
    pub const ALL: [Comp; 3] = [Comp::None, Comp::Gzip, Comp::Zstd];
    pub fn ext(self) -> &'static str {
        match self {
            Comp::None => "tar",
            Comp::Gzip => "tar.gz",
            Comp::Zstd => "tar.zst",
        }
    }
}

/// A member of a generated archive.
#[derive(Debug, Clone)]
pub enum Member {
    Dir(String, u32),
    File(String, u32, Vec<u8>),
    Symlink(String, String),
    HardLink(String, String),
    /// Raw header type byte (e.g. b'3' char device, b'6' fifo) with no body.
    Special(String, u8),
}

/// Write `members` as a tar (GNU long names allowed), compressed as asked.
pub fn write_archive(path: &Path, members: &[Member], comp: Comp) {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_795_325_687);
        match m {
            Member::Dir(p, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, p, std::io::empty()).expect("dir");
            }
            Member::File(p, mode, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, data.as_slice()).expect("file");
            }
            Member::Symlink(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).expect("symlink");
            }
            Member::HardLink(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_link(&mut h, p, t).expect("hardlink");
            }
            Member::Special(p, t) => {
                h.set_entry_type(tar::EntryType::new(*t));
                h.set_mode(0o644);
                h.set_size(0);
                // append_data refuses nothing; names with ".." need a raw header.
                set_raw_name(&mut h, p);
                h.set_cksum();
                b.append(&h, std::io::empty()).expect("special");
            }
        }
    }
    let tar = b.into_inner().expect("tar");
    write_compressed(path, &tar, comp);
}

/// Put a name into a header without the tar crate's path checks (for hostile fixtures).
pub fn set_raw_name(h: &mut tar::Header, name: &str) {
    let bytes = h.as_mut_bytes();
    bytes[..100].fill(0);
    bytes[..name.len().min(100)].copy_from_slice(&name.as_bytes()[..name.len().min(100)]);
}

/// A tar with one hostile member name (absolute, `..`), built from raw headers.
pub fn raw_tar(entries: &[(&str, u8, &[u8], &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, typ, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::new(*typ));
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_795_325_687);
        h.set_size(data.len() as u64);
        set_raw_name(&mut h, name);
        if !link.is_empty() {
            let b = h.as_mut_bytes();
            b[157..257].fill(0);
            b[157..157 + link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

/// Compress `tar` into `path`.
pub fn write_compressed(path: &Path, tar: &[u8], comp: Comp) {
    let mut f = fs::File::create(path).expect("create archive");
    match comp {
        Comp::None => f.write_all(tar).expect("write"),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::default());
            e.write_all(tar).expect("gzip");
            e.finish().expect("gzip");
        }
        Comp::Zstd => {
            let mut e = zstd::stream::write::Encoder::new(f, 3).expect("zstd");
            e.write_all(tar).expect("zstd");
            e.finish().expect("zstd");
        }
    }
}

/// The members of the real Podman runc archive (uncompressed), in order.
pub fn podman_members() -> Vec<Member> {
    let f = fs::File::open(podman_fixture("runc", "counter-none.tar")).expect("fixture");
    let mut ar = tar::Archive::new(f);
    let mut out = Vec::new();
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let p = e.path().expect("path").to_string_lossy().into_owned();
        let mode = e.header().mode().expect("mode");
        match e.header().entry_type() {
            tar::EntryType::Directory => out.push(Member::Dir(p, mode)),
            _ => {
                let mut d = Vec::new();
                e.read_to_end(&mut d).expect("read");
                out.push(Member::File(p, mode, d));
            }
        }
    }
    out
}

/// An engine family for generated archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Podman,
    CriO,
    Containerd,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Podman, Engine::CriO, Engine::Containerd];
    pub fn id(self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::CriO => "cri-o",
            Engine::Containerd => "containerd",
        }
    }
}

/// Members of an archive in `engine`'s layout (ENGINES.md §1d, §2.3, §3.4), with the real
/// CRIU images of the Podman fixture under `checkpoint/`.
pub fn engine_members(engine: Engine) -> Vec<Member> {
    let podman = podman_members();
    if engine == Engine::Podman {
        return podman;
    }
    let text =
        |dir: &str, name: &str| fs::read(fixtures().join(dir).join(name)).expect("fixture text");
    let ckpt: Vec<Member> = podman
        .iter()
        .filter(|m| match m {
            Member::Dir(p, _) | Member::File(p, _, _) => p.starts_with("checkpoint"),
            _ => false,
        })
        .cloned()
        .collect();
    let rootfs_diff = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(11);
        h.set_mtime(1_795_325_687);
        b.append_data(&mut h, "lab-marker", &b"lab-marker\n"[..])
            .expect("diff");
        b.into_inner().expect("diff")
    };
    let mut m = Vec::new();
    match engine {
        Engine::CriO => {
            m.push(Member::File("stats-dump".into(), 0o644, vec![0u8; 48]));
            m.push(Member::File(
                "dump.log".into(),
                0o644,
                text("crio", "dump.log"),
            ));
            m.extend(ckpt);
            m.push(Member::File(
                "config.dump".into(),
                0o600,
                text("crio", "config.dump"),
            ));
            m.push(Member::File(
                "spec.dump".into(),
                0o600,
                text("crio", "spec.dump"),
            ));
            m.push(Member::File(
                "bind.mounts".into(),
                0o600,
                text("crio", "bind.mounts"),
            ));
            m.push(Member::File("rootfs-diff.tar".into(), 0o644, rootfs_diff));
            m.push(Member::File(
                "deleted.files".into(),
                0o600,
                b"[\"/bin/vi\"]".to_vec(),
            ));
            m.push(Member::File(
                "io.kubernetes.cri-o.LogPath".into(),
                0o600,
                b"0\n1\n".to_vec(),
            ));
        }
        Engine::Containerd => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&rootfs_diff).expect("gz");
            let rootfs_gz = gz.finish().expect("gz");
            m.push(Member::Dir("checkpoint".into(), 0o755));
            m.extend(ckpt.into_iter().filter(
                |c| !matches!(c, Member::Dir(p, _) if p.trim_end_matches('/') == "checkpoint"),
            ));
            m.push(Member::File("rootfs-diff.tar".into(), 0o644, rootfs_gz));
            m.push(Member::File(
                "spec.dump".into(),
                0o600,
                text("containerd", "spec.dump"),
            ));
            m.push(Member::File(
                "config.dump".into(),
                0o600,
                text("containerd", "config.dump"),
            ));
            m.push(Member::File(
                "status.dump".into(),
                0o600,
                text("containerd", "status.dump"),
            ));
            m.push(Member::File(
                "status".into(),
                0o600,
                text("containerd", "status"),
            ));
            m.push(Member::File(
                "container.log".into(),
                0o600,
                b"0\n1\n".to_vec(),
            ));
            m.push(Member::File(
                "dump.log".into(),
                0o644,
                text("containerd", "dump.log"),
            ));
            m.push(Member::File("stats-dump".into(), 0o644, vec![0u8; 48]));
        }
        Engine::Podman => unreachable!(),
    }
    m
}

/// Write an `engine` archive with `comp` into `dir`, returning its path.
pub fn engine_archive(dir: &Path, engine: Engine, comp: Comp) -> PathBuf {
    let p = dir.join(format!("{}.{}", engine.id(), comp.ext()));
    write_archive(&p, &engine_members(engine), comp);
    p
}

/// A throwaway containers-storage (graphroot + runroot under a temp dir).
#[derive(Debug)]
pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub driver: String,
}

impl TempStore {
    pub fn new(driver: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ctrimg-store-")
            .tempdir()
            .expect("tempdir");
        fs::create_dir_all(dir.path().join("root")).expect("root");
        fs::create_dir_all(dir.path().join("runroot")).expect("runroot");
        let conf = format!(
            "[storage]\ndriver = \"{driver}\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            dir.path().join("root").display(),
            dir.path().join("runroot").display()
        );
        fs::write(dir.path().join("storage.conf"), conf).expect("storage.conf");
        Self {
            dir,
            driver: driver.into(),
        }
    }
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("runroot")
    }
    /// `containers-storage:[driver@root+runroot]NAME`.
    pub fn reference(&self, name: &str) -> String {
        format!(
            "containers-storage:[{}@{}+{}]{}",
            self.driver,
            self.root().display(),
            self.runroot().display(),
            name
        )
    }
    /// A podman command bound to this store (never the host's default one).
    pub fn podman(&self) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .arg("--storage-driver")
            .arg(&self.driver)
            .env("CONTAINERS_CONF", "/dev/null")
            .env(
                "CONTAINERS_STORAGE_CONF",
                self.dir.path().join("storage.conf"),
            )
            .stdin(std::process::Stdio::null());
        c
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        // overlay layers may be mounted by podman; unmount before the temp dir goes.
        let _ = Command::new("podman")
            .arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .arg("--storage-driver")
            .arg(&self.driver)
            .args(["image", "unmount", "--all"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The uncompressed tar of an archive file (any compression).
pub fn decompress_file(p: &Path) -> Vec<u8> {
    let raw = fs::read(p).expect("read archive");
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(&raw[..]).expect("unzstd")
    } else {
        raw
    }
}

/// List of file paths in a tar stream (normalised: no `./`, no trailing `/`).
pub fn tar_paths(data: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(data);
    ar.entries()
        .expect("entries")
        .map(|e| {
            let e = e.expect("entry");
            e.path()
                .expect("path")
                .to_string_lossy()
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string()
        })
        .filter(|p| !p.is_empty() && p != ".")
        .collect()
}
