//! What a checkpoint archive says about itself: `config.dump`, `spec.dump`,
//! `status.dump`, the `dump.log` header and `checkpoint/core-*.img` become one
//! [`CheckpointMetadata`], including the engine family (checkpointctl's rule: the
//! `io.container.manager` annotation of `spec.dump`).
//!
//! Every `parse_*` function is pure and works on bytes captured by `archive`; member
//! names are the constants below (checkpointctl `lib/metadata.go`).

use serde::Serialize;
use serde_json::Value;

use crate::archive::Summary;
use crate::err;
use crate::error::Result;
use crate::host::{CriuVersion, goarch_from_uname, parse_criu_version_value};

/// `config.dump`: the container configuration (libpod's, or checkpointctl's reduced one).
pub const CONFIG_DUMP: &str = "config.dump";
/// `spec.dump`: the OCI runtime spec.
pub const SPEC_DUMP: &str = "spec.dump";
/// `status.dump`: CRI ContainerStatus (containerd only).
pub const STATUS_DUMP: &str = "status.dump";
/// `dump.log`: CRIU's log (CRI-O and containerd only).
pub const DUMP_LOG: &str = "dump.log";
/// The CRIU image directory.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The CRIU inventory, Podman's "minimal check" of a checkpoint.
pub const INVENTORY_IMG: &str = "checkpoint/inventory.img";

/// The engine family that wrote an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Engine {
    /// Podman (`io.container.manager=libpod`).
    #[serde(rename = "podman")]
    Podman,
    /// CRI-O (`io.container.manager=cri-o`).
    #[serde(rename = "cri-o")]
    CriO,
    /// containerd (anything else).
    #[serde(rename = "containerd")]
    Containerd,
}

impl Engine {
    /// Family id used on the command line and in JSON: `podman`, `cri-o`, `containerd`.
    pub fn id(self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::CriO => "cri-o",
            Engine::Containerd => "containerd",
        }
    }

    /// The engine name as checkpointctl spells it (`Podman`, `CRI-O`, `containerd`).
    pub fn checkpointctl_name(self) -> &'static str {
        match self {
            Engine::Podman => "Podman",
            Engine::CriO => "CRI-O",
            Engine::Containerd => "containerd",
        }
    }

    /// Parse any spelling, case-insensitively (`podman`, `libpod`, `CRI-O`, `crio`, `containerd`).
    pub fn parse(s: &str) -> Option<Engine> {
        match s.trim().to_ascii_lowercase().as_str() {
            "podman" | "libpod" => Some(Engine::Podman),
            "cri-o" | "crio" => Some(Engine::CriO),
            "containerd" => Some(Engine::Containerd),
            _ => None,
        }
    }
}

/// Everything the archive itself tells about the checkpoint. `None` = not recorded.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointMetadata {
    /// Engine family.
    pub engine: Engine,
    /// Container ID.
    pub container_id: Option<String>,
    /// Container name.
    pub container_name: Option<String>,
    /// Pod name (Kubernetes) .
    pub pod_name: Option<String>,
    /// Pod / sandbox ID.
    pub pod_id: Option<String>,
    /// Pod namespace.
    pub pod_namespace: Option<String>,
    /// Pod UID.
    pub pod_uid: Option<String>,
    /// The base image as the user asked for it.
    pub rootfs_image_user_requested: Option<String>,
    /// The resolved base image name.
    pub rootfs_image_name: Option<String>,
    /// The base image's storage ID (64 hex).
    pub rootfs_image_id: Option<String>,
    /// The base image's digest (`sha256:…`), when the archive records a manifest digest.
    pub rootfs_image_digest: Option<String>,
    /// The raw image name (Podman's `RawImageName`).
    pub raw_image_name: Option<String>,
    /// The runtime recorded in `config.dump`: a runtime name for Podman, a handler for CRI.
    pub runtime: Option<String>,
    /// Container creation time (RFC 3339).
    pub created_time: Option<String>,
    /// Checkpoint time (RFC 3339), from `config.dump` when recorded.
    pub checkpointed_time: Option<String>,
    /// CRIU version that wrote the checkpoint (`dump.log`).
    pub criu_version: Option<CriuVersion>,
    /// Kernel release of the checkpointing host (`dump.log`).
    pub kernel: Option<String>,
    /// CPU architecture of the checkpointed process, GOARCH naming (`core-*.img`, `dump.log`).
    pub arch: Option<String>,
    /// cgroup version of the checkpointing host (`v1`/`v2`, from the `/sys/fs/cgroup` mount in `spec.dump`).
    pub cgroup_version: Option<String>,
    /// Whether `checkpoint/inventory.img` is present.
    pub has_inventory: bool,
    /// Whether `status.dump` is present (containerd needs it).
    pub has_status_dump: bool,
}

/// Parse a JSON member, naming it in the error.
fn parse_json(name: &str, bytes: &[u8]) -> Result<Value> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| err!("member {name}: invalid JSON: {e}"))?;
    if !v.is_object() {
        return Err(err!("member {name}: expected a JSON object"));
    }
    Ok(v)
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Facts from the `dump.log` header: `(version, kernel release, GOARCH)`.
///
/// CRIU writes `Version: X.Y[.Z] (gitid ID)` and
/// `Running on NODENAME SYSNAME RELEASE VERSION… MACHINE`.
pub fn parse_dump_log(text: &str) -> (Option<CriuVersion>, Option<String>, Option<String>) {
    let mut version = None;
    let mut kernel = None;
    let mut arch = None;
    for line in text.lines().take(200) {
        if version.is_none() {
            if let Some(i) = line.find("Version: ") {
                let rest = &line[i + "Version: ".len()..];
                let mut toks = rest.split_whitespace();
                if let Some(mut v) = toks.next().and_then(parse_criu_version_value) {
                    let gitid = rest
                        .split("(gitid ")
                        .nth(1)
                        .and_then(|g| g.split(')').next())
                        .unwrap_or("0");
                    v.git |= !gitid.is_empty() && gitid != "0";
                    version = Some(v);
                }
            }
        }
        if kernel.is_none() {
            if let Some(i) = line.find("Running on ") {
                let toks: Vec<&str> = line[i + "Running on ".len()..].split_whitespace().collect();
                if toks.len() >= 4 {
                    kernel = Some(toks[2].to_string());
                    arch = toks.last().map(|m| goarch_from_uname(m));
                }
            }
        }
    }
    (version, kernel, arch)
}

/// The architecture recorded in a CRIU `core-*.img` (`core_entry.mtype`), GOARCH naming.
///
/// Layout: 4-byte image magic, 4-byte core magic, then `u32le size` + protobuf
/// `core_entry`, whose field 1 is the `march` enum.
pub fn parse_core_arch(img: &[u8]) -> Option<String> {
    let len = u32::from_le_bytes(img.get(8..12)?.try_into().ok()?) as usize;
    let msg = img.get(12..12 + len).or_else(|| img.get(12..))?;
    let mtype = protobuf_varint_field(msg, 1)?;
    let arch = match mtype {
        1 => "amd64",
        2 => "arm",
        3 => "arm64",
        4 => "ppc64le",
        5 => "s390x",
        6 => "mips64le",
        7 => "loong64",
        8 => "riscv64",
        _ => return None,
    };
    Some(arch.to_string())
}

fn read_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The first varint value of top-level field `field` in a protobuf message.
fn protobuf_varint_field(msg: &[u8], field: u64) -> Option<u64> {
    let mut pos = 0;
    while pos < msg.len() {
        let key = read_varint(msg, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = read_varint(msg, &mut pos)?;
                if num == field {
                    return Some(v);
                }
            }
            1 => pos += 8,
            2 => {
                let l = read_varint(msg, &mut pos)? as usize;
                pos = pos.checked_add(l)?;
            }
            5 => pos += 4,
            _ => return None,
        }
    }
    None
}

/// Turn the members captured from an archive into [`CheckpointMetadata`].
///
/// # Errors
/// A missing `config.dump`, `spec.dump` or `checkpoint/`, or invalid JSON in a dump file.
pub fn from_archive(summary: &Summary) -> Result<CheckpointMetadata> {
    let config = summary
        .captured
        .get(CONFIG_DUMP)
        .ok_or_else(|| err!("not a checkpoint archive: member {CONFIG_DUMP} is missing"))?;
    let spec = summary
        .captured
        .get(SPEC_DUMP)
        .ok_or_else(|| err!("not a checkpoint archive: member {SPEC_DUMP} is missing"))?;
    if !summary
        .members
        .iter()
        .any(|m| m.path == CHECKPOINT_DIR || m.path.starts_with("checkpoint/"))
    {
        return Err(err!(
            "not a checkpoint archive: directory {CHECKPOINT_DIR}/ is missing"
        ));
    }
    let config = parse_json(CONFIG_DUMP, config)?;
    let spec = parse_json(SPEC_DUMP, spec)?;
    let status = summary
        .captured
        .get(STATUS_DUMP)
        .map(|b| parse_json(STATUS_DUMP, b))
        .transpose()?;
    let mut md = from_json(&config, &spec, status.as_ref())?;
    md.has_inventory = summary.has(INVENTORY_IMG);
    md.has_status_dump = summary.has(STATUS_DUMP);
    if let Some(log) = summary.captured.get(DUMP_LOG) {
        let (v, k, a) = parse_dump_log(&String::from_utf8_lossy(log));
        md.criu_version = v;
        md.kernel = k;
        md.arch = a;
    }
    if let Some((_, core)) = summary
        .captured
        .iter()
        .find(|(k, _)| k.starts_with("checkpoint/core-"))
    {
        if let Some(a) = parse_core_arch(core) {
            if md.arch.as_ref().is_some_and(|x| *x != a) {
                log::warn!(
                    "dump.log says architecture {:?}, core image says {a}",
                    md.arch
                );
            }
            md.arch = Some(a);
        }
    }
    Ok(md)
}

/// Build metadata from parsed `config.dump`, `spec.dump` and `status.dump`.
///
/// # Errors
/// An annotation of `spec.dump` that must be JSON (`io.kubernetes.cri-o.Metadata`) is not.
pub fn from_json(
    config: &Value,
    spec: &Value,
    status: Option<&Value>,
) -> Result<CheckpointMetadata> {
    let ann = |k: &str| {
        spec.get("annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let engine = match ann("io.container.manager").as_deref() {
        Some("libpod") => Engine::Podman,
        Some(m) if m.eq_ignore_ascii_case("cri-o") => Engine::CriO,
        _ => Engine::Containerd,
    };
    let mut md = CheckpointMetadata {
        engine,
        container_id: str_field(config, "id"),
        container_name: str_field(config, "name"),
        pod_name: None,
        pod_id: None,
        pod_namespace: None,
        pod_uid: None,
        rootfs_image_user_requested: str_field(config, "rootfsImage"),
        rootfs_image_name: str_field(config, "rootfsImageName"),
        rootfs_image_id: None,
        rootfs_image_digest: None,
        raw_image_name: str_field(config, "RawImageName")
            .or_else(|| str_field(config, "rawImageName")),
        runtime: str_field(config, "runtime"),
        created_time: str_field(config, "createdTime"),
        checkpointed_time: str_field(config, "checkpointedTime"),
        criu_version: None,
        kernel: None,
        arch: None,
        cgroup_version: spec_cgroup_version(spec),
        has_inventory: false,
        has_status_dump: false,
    };
    let image_ref = str_field(config, "rootfsImageRef");
    match engine {
        Engine::Podman => {
            md.rootfs_image_id = str_field(config, "rootfsImageID");
            md.pod_id = str_field(config, "pod");
            if md.rootfs_image_user_requested.is_none() {
                md.rootfs_image_user_requested = md.raw_image_name.clone();
            }
        }
        Engine::CriO => {
            if let Some(meta) = ann("io.kubernetes.cri-o.Metadata") {
                let m: Value = serde_json::from_str(&meta).map_err(|e| {
                    err!("member {SPEC_DUMP}: annotation io.kubernetes.cri-o.Metadata: invalid JSON: {e}")
                })?;
                if let Some(n) = str_field(&m, "name") {
                    md.container_name = Some(n);
                }
            } else if let Some(n) = ann("io.kubernetes.container.name") {
                md.container_name = Some(n);
            }
            md.pod_name = ann("io.kubernetes.pod.name");
            md.pod_namespace = ann("io.kubernetes.pod.namespace");
            md.pod_uid = ann("io.kubernetes.pod.uid");
            md.pod_id = ann("io.kubernetes.cri-o.SandboxID");
            md.rootfs_image_id = image_ref.clone().filter(|r| is_hex64(r));
        }
        Engine::Containerd => {
            if let Some(n) = ann("io.kubernetes.cri.container-name") {
                md.container_name = Some(n);
            } else if let Some(n) = status
                .and_then(|s| s.get("metadata"))
                .and_then(|m| str_field(m, "name"))
            {
                md.container_name = Some(n);
            }
            md.pod_name = ann("io.kubernetes.cri.sandbox-name");
            md.pod_namespace = ann("io.kubernetes.cri.sandbox-namespace");
            md.pod_uid = ann("io.kubernetes.cri.sandbox-uid");
            md.pod_id = ann("io.kubernetes.cri.sandbox-id");
        }
    }
    if let Some(r) = &image_ref {
        if let Some((_, d)) = r.split_once('@') {
            if d.starts_with("sha256:") && is_hex64(&d[7..]) {
                md.rootfs_image_digest = Some(d.to_string());
            }
        } else if let Some(h) = r.strip_prefix("sha256:") {
            if is_hex64(h) && md.rootfs_image_id.is_none() {
                md.rootfs_image_id = Some(h.to_string());
            }
        }
    }
    Ok(md)
}

/// The cgroup version implied by the `/sys/fs/cgroup` mount of a runtime spec.
pub fn spec_cgroup_version(spec: &Value) -> Option<String> {
    let mounts = spec.get("mounts")?.as_array()?;
    let m = mounts
        .iter()
        .find(|m| m.get("destination").and_then(Value::as_str) == Some("/sys/fs/cgroup"))?;
    match m.get("type").and_then(Value::as_str)? {
        "cgroup2" => Some("v2".into()),
        "cgroup" => Some("v1".into()),
        _ => None,
    }
}

/// Whether `s` is 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn engine_detection_follows_checkpointctl() {
        let cfg = json!({"id": "abc", "name": "counter", "runtime": "runc"});
        let cases = [
            (
                json!({"annotations": {"io.container.manager": "libpod"}}),
                Engine::Podman,
            ),
            (
                json!({"annotations": {"io.container.manager": "cri-o"}}),
                Engine::CriO,
            ),
            (
                json!({"annotations": {"io.container.manager": "CRI-O"}}),
                Engine::CriO,
            ),
            (
                json!({"annotations": {"io.kubernetes.cri.container-name": "c"}}),
                Engine::Containerd,
            ),
            (json!({}), Engine::Containerd),
        ];
        for (spec, want) in cases {
            assert_eq!(
                from_json(&cfg, &spec, None).expect("parse").engine,
                want,
                "{spec}"
            );
        }
    }

    #[test]
    fn crio_metadata_fields() {
        let cfg = json!({"id": "1", "name": "k8s_counter_x", "rootfsImage": "quay.io/x:1",
            "rootfsImageRef": "a".repeat(64), "rootfsImageName": "quay.io/x:1", "runtime": "runc"});
        let spec = json!({"annotations": {"io.container.manager": "cri-o",
            "io.kubernetes.cri-o.Metadata": "{\"name\":\"counter\",\"attempt\":0}",
            "io.kubernetes.pod.name": "counter-pod", "io.kubernetes.pod.namespace": "default",
            "io.kubernetes.pod.uid": "u-1", "io.kubernetes.cri-o.SandboxID": "s-1"}});
        let md = from_json(&cfg, &spec, None).expect("parse");
        assert_eq!(md.container_name.as_deref(), Some("counter"));
        assert_eq!(md.pod_name.as_deref(), Some("counter-pod"));
        assert_eq!(md.pod_namespace.as_deref(), Some("default"));
        assert_eq!(md.pod_uid.as_deref(), Some("u-1"));
        assert_eq!(md.rootfs_image_id.as_deref(), Some("a".repeat(64).as_str()));
        let bad = json!({"annotations": {"io.container.manager": "cri-o",
            "io.kubernetes.cri-o.Metadata": "{not json"}});
        let e = from_json(&cfg, &bad, None).unwrap_err().to_string();
        assert!(e.contains("io.kubernetes.cri-o.Metadata"), "{e}");
    }

    #[test]
    fn containerd_metadata_fields() {
        let digest = format!("sha256:{}", "b".repeat(64));
        let cfg = json!({"id": "1", "rootfsImageRef": format!("docker.io/library/busybox@{digest}"),
            "rootfsImageName": "docker.io/library/busybox:latest", "runtime": "io.containerd.runc.v2"});
        let spec = json!({"annotations": {"io.kubernetes.cri.sandbox-name": "p",
            "io.kubernetes.cri.sandbox-namespace": "ns"}});
        let status = json!({"metadata": {"name": "counter", "attempt": 0}});
        let md = from_json(&cfg, &spec, Some(&status)).expect("parse");
        assert_eq!(md.engine, Engine::Containerd);
        assert_eq!(md.container_name.as_deref(), Some("counter"));
        assert_eq!(md.pod_name.as_deref(), Some("p"));
        assert_eq!(md.rootfs_image_digest.as_deref(), Some(digest.as_str()));
        assert_eq!(md.runtime.as_deref(), Some("io.containerd.runc.v2"));
    }

    #[test]
    fn dump_log_header() {
        let log = "(00.000000) Version: 4.1.1 (gitid 0)\n(00.000005) Running on node1 Linux 6.8.0-45-generic #45-Ubuntu SMP PREEMPT_DYNAMIC Fri Aug 30 12:02:04 UTC 2024 x86_64\n";
        let (v, k, a) = parse_dump_log(log);
        assert_eq!(v.map(CriuVersion::to_int), Some(40101));
        assert_eq!(k.as_deref(), Some("6.8.0-45-generic"));
        assert_eq!(a.as_deref(), Some("amd64"));
        let git = "(00.000000) Version: 3.19 (gitid v3.19-1-gabc)\n(00.1) Running on n Linux 5.14.0-427.el9.aarch64 #1 SMP aarch64\n";
        let (v, k, a) = parse_dump_log(git);
        assert_eq!(v.map(CriuVersion::to_int), Some(32000));
        assert_eq!(k.as_deref(), Some("5.14.0-427.el9.aarch64"));
        assert_eq!(a.as_deref(), Some("arm64"));
        assert_eq!(parse_dump_log("garbage"), (None, None, None));
    }

    #[test]
    fn core_image_arch() {
        // Header of a real core-1.img (Podman 5.4.2, CRIU 4.1.1, x86_64).
        let img = [
            0x19, 0x43, 0x56, 0x54, 0x47, 0x38, 0x05, 0x55, 0xc1, 0x08, 0, 0, 0x08, 0x01, 0x12,
            0xf1,
        ];
        assert_eq!(parse_core_arch(&img).as_deref(), Some("amd64"));
        let arm = [0u8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x08, 0x03];
        assert_eq!(parse_core_arch(&arm).as_deref(), Some("arm64"));
        assert_eq!(parse_core_arch(&[1, 2, 3]), None);
    }
}
