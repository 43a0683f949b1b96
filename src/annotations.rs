//! Checkpoint image annotations: every key of the three families as a documented
//! constant, the mapping *metadata + host facts → annotations* used by `build`, and the
//! reverse mapping *annotations → checkpoint facts* used by `check` and `inspect`.
//!
//! Families (ENGINES.md §0.1, §1a, §2.1, §4.2):
//! - `org.criu.checkpoint.*` (checkpointctl `lib/annotations.go`): written for every
//!   archive; containerd tests `org.criu.checkpoint.container.name`.
//! - `io.podman.annotations.checkpoint.*` (Podman `libpod/define/annotations.go`): only for
//!   Podman archives; `podman container restore IMAGE` compares `runtime.name` with its runtime.
//! - `io.kubernetes.cri-o.annotations.checkpoint.*`: only for CRI-O archives; CRI-O tests `name`.
//!
//! Value formats are the defining engine's: CRIU version as an integer (`40101`), GOARCH
//! architecture (`amd64`), kernel = `uname -r`, `cgroups.version` (Podman, plural) vs
//! `cgroup.version` (checkpointctl, singular), distribution = os-release `ID`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::host::{CriuVersion, HostFacts, parse_criu_version_value};
use crate::metadata::{CheckpointMetadata, Engine};

/// Prefix of the checkpointctl family.
pub const CRIU_PREFIX: &str = "org.criu.checkpoint.";
/// Prefix of the Podman family.
pub const PODMAN_PREFIX: &str = "io.podman.annotations.checkpoint.";
/// Prefix of the CRI-O family.
pub const CRIO_PREFIX: &str = "io.kubernetes.cri-o.annotations.checkpoint.";

/// checkpointctl: engine name (`Podman`, `CRI-O`, `containerd`).
pub const CRIU_ENGINE_NAME: &str = "org.criu.checkpoint.engine.name";
/// checkpointctl: engine version.
pub const CRIU_ENGINE_VERSION: &str = "org.criu.checkpoint.engine.version";
/// checkpointctl: container name; the key containerd tests.
pub const CRIU_CONTAINER_NAME: &str = "org.criu.checkpoint.container.name";
/// checkpointctl: pod name.
pub const CRIU_POD_NAME: &str = "org.criu.checkpoint.pod.name";
/// checkpointctl: pod (sandbox) ID.
pub const CRIU_POD_ID: &str = "org.criu.checkpoint.pod.id";
/// checkpointctl: pod namespace.
pub const CRIU_POD_NAMESPACE: &str = "org.criu.checkpoint.pod.namespace";
/// checkpointctl: pod UID.
pub const CRIU_POD_UID: &str = "org.criu.checkpoint.pod.uid";
/// checkpointctl: resolved base image name.
pub const CRIU_ROOTFS_IMAGE_NAME: &str = "org.criu.checkpoint.rootfsImageName";
/// checkpointctl: base image as the user requested it.
pub const CRIU_ROOTFS_IMAGE_USER_REQUESTED: &str = "org.criu.checkpoint.rootfsImageUserRequested";
/// checkpointctl: base image manifest digest.
pub const CRIU_ROOTFS_IMAGE_SHA: &str = "org.criu.checkpoint.rootfsImageSha";
/// checkpointctl: base image storage ID.
pub const CRIU_ROOTFS_IMAGE_ID: &str = "org.criu.checkpoint.rootfsImageID";
/// checkpointctl: raw image name.
pub const CRIU_RAW_IMAGE_NAME: &str = "org.criu.checkpoint.rawImageName";
/// checkpointctl: runtime name (a handler name for CRI engines).
pub const CRIU_RUNTIME_NAME: &str = "org.criu.checkpoint.runtime.name";
/// checkpointctl: runtime version.
pub const CRIU_RUNTIME_VERSION: &str = "org.criu.checkpoint.runtime.version";
/// checkpointctl: CRIU version, integer spelling.
pub const CRIU_CRIU_VERSION: &str = "org.criu.checkpoint.criu.version";
/// checkpointctl: conmon version.
pub const CRIU_CONMON_VERSION: &str = "org.criu.checkpoint.conmon.version";
/// checkpointctl: host architecture, GOARCH naming.
pub const CRIU_HOST_ARCH: &str = "org.criu.checkpoint.host.arch";
/// checkpointctl: host kernel release.
pub const CRIU_HOST_KERNEL: &str = "org.criu.checkpoint.host.kernel";
/// checkpointctl: cgroup version (`v1`/`v2`; singular "cgroup").
pub const CRIU_CGROUP_VERSION: &str = "org.criu.checkpoint.cgroup.version";
/// checkpointctl: distribution name (os-release `ID`).
pub const CRIU_DISTRIBUTION_NAME: &str = "org.criu.checkpoint.distribution.name";
/// checkpointctl: distribution version (os-release `VERSION_ID`).
pub const CRIU_DISTRIBUTION_VERSION: &str = "org.criu.checkpoint.distribution.version";

/// Podman: container name.
pub const PODMAN_NAME: &str = "io.podman.annotations.checkpoint.name";
/// Podman: image name as the user typed it.
pub const PODMAN_RAW_IMAGE_NAME: &str = "io.podman.annotations.checkpoint.rawImageName";
/// Podman: base image storage ID.
pub const PODMAN_ROOTFS_IMAGE_ID: &str = "io.podman.annotations.checkpoint.rootfsImageID";
/// Podman: resolved base image name.
pub const PODMAN_ROOTFS_IMAGE_NAME: &str = "io.podman.annotations.checkpoint.rootfsImageName";
/// Podman: Podman version.
pub const PODMAN_PODMAN_VERSION: &str = "io.podman.annotations.checkpoint.podman.version";
/// Podman: CRIU version, integer spelling.
pub const PODMAN_CRIU_VERSION: &str = "io.podman.annotations.checkpoint.criu.version";
/// Podman: OCI runtime name; `podman container restore IMAGE` requires it to equal its runtime.
pub const PODMAN_RUNTIME_NAME: &str = "io.podman.annotations.checkpoint.runtime.name";
/// Podman: `<runtime> --version` (multi-line).
pub const PODMAN_RUNTIME_VERSION: &str = "io.podman.annotations.checkpoint.runtime.version";
/// Podman: `conmon --version`.
pub const PODMAN_CONMON_VERSION: &str = "io.podman.annotations.checkpoint.conmon.version";
/// Podman: host architecture, GOARCH naming.
pub const PODMAN_HOST_ARCH: &str = "io.podman.annotations.checkpoint.host.arch";
/// Podman: host kernel release.
pub const PODMAN_HOST_KERNEL: &str = "io.podman.annotations.checkpoint.host.kernel";
/// Podman: cgroups version (`v1`/`v2`; plural "cgroups").
pub const PODMAN_CGROUPS_VERSION: &str = "io.podman.annotations.checkpoint.cgroups.version";
/// Podman: distribution name (os-release `ID`).
pub const PODMAN_DISTRIBUTION_NAME: &str = "io.podman.annotations.checkpoint.distribution.name";
/// Podman: distribution version (os-release `VERSION_ID`).
pub const PODMAN_DISTRIBUTION_VERSION: &str =
    "io.podman.annotations.checkpoint.distribution.version";

/// CRI-O: container name; the only key CRI-O tests.
pub const CRIO_NAME: &str = "io.kubernetes.cri-o.annotations.checkpoint.name";
/// CRI-O: raw image name.
pub const CRIO_RAW_IMAGE_NAME: &str = "io.kubernetes.cri-o.annotations.checkpoint.rawImageName";
/// CRI-O: base image storage ID.
pub const CRIO_ROOTFS_IMAGE_ID: &str = "io.kubernetes.cri-o.annotations.checkpoint.rootfsImageID";
/// CRI-O: resolved base image name.
pub const CRIO_ROOTFS_IMAGE_NAME: &str =
    "io.kubernetes.cri-o.annotations.checkpoint.rootfsImageName";
/// CRI-O: CRIU version.
pub const CRIO_CRIU_VERSION: &str = "io.kubernetes.cri-o.annotations.checkpoint.criu.version";

/// OCI: base image reference.
pub const OCI_BASE_NAME: &str = "org.opencontainers.image.base.name";
/// OCI: base image manifest digest.
pub const OCI_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// OCI: creation time (RFC 3339).
pub const OCI_CREATED: &str = "org.opencontainers.image.created";
/// OCI: tag of a manifest in an OCI layout's `index.json`.
pub const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The facts `build` records: archive evidence first, then the local host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecordedFacts {
    /// CRIU version.
    pub criu_version: Option<CriuVersion>,
    /// GOARCH.
    pub arch: Option<String>,
    /// Kernel release.
    pub kernel: Option<String>,
    /// `v1`/`v2`.
    pub cgroup_version: Option<String>,
    /// os-release `ID`.
    pub distribution_name: Option<String>,
    /// os-release `VERSION_ID`.
    pub distribution_version: Option<String>,
    /// Runtime version text.
    pub runtime_version: Option<String>,
    /// conmon version text.
    pub conmon_version: Option<String>,
    /// Engine version.
    pub engine_version: Option<String>,
}

/// Merge archive evidence with host facts, warning where they disagree.
pub fn merge_facts(md: &CheckpointMetadata, host: &HostFacts) -> RecordedFacts {
    fn pick<T: Clone + PartialEq + std::fmt::Debug>(
        what: &str,
        archive: &Option<T>,
        host: &Option<T>,
    ) -> Option<T> {
        if let (Some(a), Some(h)) = (archive, host) {
            if a != h {
                log::warn!(
                    "{what}: the archive says {a:?}, this host says {h:?}; recording the archive's"
                );
            }
        }
        archive.clone().or_else(|| host.clone())
    }
    let criu_a = md.criu_version.map(CriuVersion::to_int);
    let criu_h = host.criu_version.map(CriuVersion::to_int);
    let criu = pick("CRIU version", &criu_a, &criu_h).map(CriuVersion::from_int);
    // The runtime's version is only meaningful if the host runs the recorded runtime.
    let runtime_version = match (&md.runtime, &host.runtime_name) {
        (Some(a), Some(h)) if a == h => host.runtime_version.clone(),
        _ => None,
    };
    RecordedFacts {
        criu_version: criu,
        arch: pick("architecture", &md.arch, &host.arch),
        kernel: pick("kernel", &md.kernel, &host.kernel),
        cgroup_version: pick("cgroup version", &md.cgroup_version, &host.cgroup_version),
        distribution_name: host.distribution_name.clone(),
        distribution_version: host.distribution_version.clone(),
        runtime_version,
        conmon_version: host.conmon_version.clone(),
        engine_version: if md.engine == Engine::Podman {
            host.podman_version.clone()
        } else {
            None
        },
    }
}

/// The annotations `build` puts on the manifest (before `--annotation` overrides).
pub fn for_checkpoint(
    md: &CheckpointMetadata,
    facts: &RecordedFacts,
    created: &str,
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            a.insert(k.to_string(), v.to_string());
        }
    };
    let criu = facts.criu_version.map(|v| v.to_int().to_string());
    let criu = criu.as_deref();
    let s = |o: &Option<String>| o.as_deref().map(str::to_string);
    let name = s(&md.container_name);

    put(CRIU_ENGINE_NAME, Some(md.engine.checkpointctl_name()));
    put(CRIU_ENGINE_VERSION, facts.engine_version.as_deref());
    put(CRIU_CONTAINER_NAME, name.as_deref());
    put(CRIU_POD_NAME, md.pod_name.as_deref());
    put(CRIU_POD_ID, md.pod_id.as_deref());
    put(CRIU_POD_NAMESPACE, md.pod_namespace.as_deref());
    put(CRIU_POD_UID, md.pod_uid.as_deref());
    put(CRIU_ROOTFS_IMAGE_NAME, md.rootfs_image_name.as_deref());
    put(
        CRIU_ROOTFS_IMAGE_USER_REQUESTED,
        md.rootfs_image_user_requested.as_deref(),
    );
    put(CRIU_ROOTFS_IMAGE_SHA, md.rootfs_image_digest.as_deref());
    put(CRIU_ROOTFS_IMAGE_ID, md.rootfs_image_id.as_deref());
    put(CRIU_RAW_IMAGE_NAME, md.raw_image_name.as_deref());
    put(CRIU_RUNTIME_NAME, md.runtime.as_deref());
    put(CRIU_RUNTIME_VERSION, facts.runtime_version.as_deref());
    put(CRIU_CRIU_VERSION, criu);
    put(CRIU_CONMON_VERSION, facts.conmon_version.as_deref());
    put(CRIU_HOST_ARCH, facts.arch.as_deref());
    put(CRIU_HOST_KERNEL, facts.kernel.as_deref());
    put(CRIU_CGROUP_VERSION, facts.cgroup_version.as_deref());
    put(CRIU_DISTRIBUTION_NAME, facts.distribution_name.as_deref());
    put(
        CRIU_DISTRIBUTION_VERSION,
        facts.distribution_version.as_deref(),
    );

    match md.engine {
        Engine::Podman => {
            put(PODMAN_NAME, name.as_deref());
            put(PODMAN_RAW_IMAGE_NAME, md.raw_image_name.as_deref());
            put(PODMAN_ROOTFS_IMAGE_ID, md.rootfs_image_id.as_deref());
            put(PODMAN_ROOTFS_IMAGE_NAME, md.rootfs_image_name.as_deref());
            put(PODMAN_PODMAN_VERSION, facts.engine_version.as_deref());
            put(PODMAN_CRIU_VERSION, criu);
            put(PODMAN_RUNTIME_NAME, md.runtime.as_deref());
            put(PODMAN_RUNTIME_VERSION, facts.runtime_version.as_deref());
            put(PODMAN_CONMON_VERSION, facts.conmon_version.as_deref());
            put(PODMAN_HOST_ARCH, facts.arch.as_deref());
            put(PODMAN_HOST_KERNEL, facts.kernel.as_deref());
            put(PODMAN_CGROUPS_VERSION, facts.cgroup_version.as_deref());
            put(PODMAN_DISTRIBUTION_NAME, facts.distribution_name.as_deref());
            put(
                PODMAN_DISTRIBUTION_VERSION,
                facts.distribution_version.as_deref(),
            );
        }
        Engine::CriO => {
            put(CRIO_NAME, name.as_deref());
            put(
                CRIO_RAW_IMAGE_NAME,
                md.rootfs_image_user_requested.as_deref(),
            );
            put(CRIO_ROOTFS_IMAGE_ID, md.rootfs_image_id.as_deref());
            put(CRIO_ROOTFS_IMAGE_NAME, md.rootfs_image_name.as_deref());
            put(CRIO_CRIU_VERSION, criu);
        }
        Engine::Containerd => {}
    }
    put(OCI_BASE_NAME, md.rootfs_image_name.as_deref());
    put(OCI_BASE_DIGEST, md.rootfs_image_digest.as_deref());
    put(OCI_CREATED, Some(created));
    a
}

/// The keys that must be present for an engine family to recognise the image.
pub fn recognition_keys(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Podman => &[PODMAN_RUNTIME_NAME, CRIU_CONTAINER_NAME],
        Engine::CriO => &[CRIO_NAME, CRIU_CONTAINER_NAME],
        Engine::Containerd => &[CRIU_CONTAINER_NAME],
    }
}

/// What a checkpoint (image or archive) says about the host that made it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointFacts {
    /// Engine family.
    pub engine: Option<Engine>,
    /// Container name.
    pub container_name: Option<String>,
    /// Runtime name.
    pub runtime: Option<String>,
    /// CRIU version.
    pub criu_version: Option<CriuVersion>,
    /// GOARCH.
    pub arch: Option<String>,
    /// Kernel release.
    pub kernel: Option<String>,
    /// `v1`/`v2`.
    pub cgroup_version: Option<String>,
    /// Distribution name.
    pub distribution_name: Option<String>,
    /// Distribution version.
    pub distribution_version: Option<String>,
}

impl CheckpointFacts {
    /// Whether any annotation of the three families was found.
    pub fn is_empty(&self) -> bool {
        *self == CheckpointFacts::default()
    }
}

/// Whether an annotation map marks a checkpoint image (any family).
pub fn is_checkpoint(a: &BTreeMap<String, String>) -> bool {
    a.contains_key(PODMAN_RUNTIME_NAME)
        || a.contains_key(CRIO_NAME)
        || a.contains_key(CRIU_CONTAINER_NAME)
        || a.keys()
            .any(|k| k.starts_with(CRIU_PREFIX) || k.starts_with(PODMAN_PREFIX))
}

/// Read checkpoint facts from annotations of any family (checkpointctl's first, then
/// Podman's, then CRI-O's). Both CRIU version spellings are understood.
pub fn facts_from_annotations(a: &BTreeMap<String, String>) -> CheckpointFacts {
    let first = |keys: &[&str]| {
        keys.iter()
            .filter_map(|k| a.get(*k))
            .find(|v| !v.is_empty() && v.as_str() != "unknown")
            .cloned()
    };
    let engine = first(&[CRIU_ENGINE_NAME])
        .and_then(|e| Engine::parse(&e))
        .or_else(|| {
            if a.keys().any(|k| k.starts_with(PODMAN_PREFIX)) {
                Some(Engine::Podman)
            } else if a.keys().any(|k| k.starts_with(CRIO_PREFIX)) {
                Some(Engine::CriO)
            } else {
                None
            }
        });
    CheckpointFacts {
        engine,
        container_name: first(&[CRIU_CONTAINER_NAME, PODMAN_NAME, CRIO_NAME]),
        runtime: first(&[PODMAN_RUNTIME_NAME, CRIU_RUNTIME_NAME]),
        criu_version: first(&[CRIU_CRIU_VERSION, PODMAN_CRIU_VERSION, CRIO_CRIU_VERSION])
            .and_then(|v| parse_criu_version_value(&v)),
        arch: first(&[CRIU_HOST_ARCH, PODMAN_HOST_ARCH]),
        kernel: first(&[CRIU_HOST_KERNEL, PODMAN_HOST_KERNEL]),
        cgroup_version: first(&[CRIU_CGROUP_VERSION, PODMAN_CGROUPS_VERSION])
            .filter(|v| v == "v1" || v == "v2"),
        distribution_name: first(&[CRIU_DISTRIBUTION_NAME, PODMAN_DISTRIBUTION_NAME]),
        distribution_version: first(&[CRIU_DISTRIBUTION_VERSION, PODMAN_DISTRIBUTION_VERSION]),
    }
}

/// Checkpoint facts from an archive's own evidence (no host facts: they would describe
/// this host, not the checkpointing one).
pub fn facts_from_metadata(md: &CheckpointMetadata) -> CheckpointFacts {
    CheckpointFacts {
        engine: Some(md.engine),
        container_name: md.container_name.clone(),
        runtime: md.runtime.clone(),
        criu_version: md.criu_version,
        arch: md.arch.clone(),
        kernel: md.kernel.clone(),
        cgroup_version: md.cgroup_version.clone(),
        distribution_name: None,
        distribution_version: None,
    }
}

/// Parse a `KEY=VALUE` option.
///
/// # Errors
/// No `=`, or an empty key.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("invalid annotation {s:?}: expected KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::from_json;
    use serde_json::json;

    fn podman_md() -> CheckpointMetadata {
        let cfg = json!({"id": "6a19", "name": "counter", "RawImageName": "localhost/busybox:lab",
            "rootfsImageID": "5e72", "rootfsImageName": "localhost/busybox:lab", "runtime": "runc"});
        let spec = json!({"annotations": {"io.container.manager": "libpod"}});
        from_json(&cfg, &spec, None).expect("metadata")
    }

    fn host() -> HostFacts {
        HostFacts {
            arch: Some("amd64".into()),
            kernel: Some("6.18.44-fc-v595".into()),
            criu_version: parse_criu_version_value("4.1.1"),
            cgroup_version: Some("v1".into()),
            distribution_name: Some("debian".into()),
            distribution_version: Some("13".into()),
            runtime_name: Some("runc".into()),
            runtime_version: Some("runc version 1.1.15\nspec: 1.2.0".into()),
            podman_version: Some("5.4.2".into()),
            ..Default::default()
        }
    }

    #[test]
    fn podman_archive_gets_podman_and_criu_families_with_engine_formats() {
        let md = podman_md();
        let a = for_checkpoint(&md, &merge_facts(&md, &host()), "2026-11-22T05:34:47Z");
        let want = [
            (PODMAN_RUNTIME_NAME, "runc"),
            (PODMAN_NAME, "counter"),
            (PODMAN_CRIU_VERSION, "40101"),
            (PODMAN_HOST_ARCH, "amd64"),
            (PODMAN_HOST_KERNEL, "6.18.44-fc-v595"),
            (PODMAN_CGROUPS_VERSION, "v1"),
            (PODMAN_DISTRIBUTION_NAME, "debian"),
            (PODMAN_DISTRIBUTION_VERSION, "13"),
            (PODMAN_PODMAN_VERSION, "5.4.2"),
            (PODMAN_RUNTIME_VERSION, "runc version 1.1.15\nspec: 1.2.0"),
            (CRIU_CONTAINER_NAME, "counter"),
            (CRIU_ENGINE_NAME, "Podman"),
            (CRIU_CGROUP_VERSION, "v1"),
            (CRIU_CRIU_VERSION, "40101"),
            (OCI_BASE_NAME, "localhost/busybox:lab"),
            (OCI_CREATED, "2026-11-22T05:34:47Z"),
        ];
        for (k, v) in want {
            assert_eq!(a.get(k).map(String::as_str), Some(v), "{k}");
        }
        assert!(
            !a.contains_key(CRIO_NAME),
            "no CRI-O key on a Podman archive"
        );
    }

    #[test]
    fn crio_and_containerd_archives_get_their_keys_only() {
        let cfg = json!({"name": "x", "runtime": "runc"});
        let crio = from_json(
            &cfg,
            &json!({"annotations": {"io.container.manager": "cri-o",
            "io.kubernetes.cri-o.Metadata": "{\"name\":\"counter\"}"}}),
            None,
        )
        .expect("md");
        let a = for_checkpoint(&crio, &RecordedFacts::default(), "t");
        assert_eq!(a.get(CRIO_NAME).map(String::as_str), Some("counter"));
        assert!(!a.contains_key(PODMAN_RUNTIME_NAME));
        let ctrd = from_json(
            &cfg,
            &json!({"annotations": {"io.kubernetes.cri.container-name": "c"}}),
            None,
        )
        .expect("md");
        let a = for_checkpoint(&ctrd, &RecordedFacts::default(), "t");
        assert_eq!(a.get(CRIU_CONTAINER_NAME).map(String::as_str), Some("c"));
        assert_eq!(
            a.get(CRIU_ENGINE_NAME).map(String::as_str),
            Some("containerd")
        );
        assert!(!a.contains_key(CRIO_NAME) && !a.contains_key(PODMAN_RUNTIME_NAME));
    }

    #[test]
    fn archive_evidence_wins_over_host() {
        let mut md = podman_md();
        md.kernel = Some("5.14.0-427.el9.x86_64".into());
        md.arch = Some("arm64".into());
        let f = merge_facts(&md, &host());
        assert_eq!(f.kernel.as_deref(), Some("5.14.0-427.el9.x86_64"));
        assert_eq!(f.arch.as_deref(), Some("arm64"));
        let none = merge_facts(&md, &HostFacts::default());
        assert_eq!(none.criu_version, None);
        assert_eq!(none.distribution_name, None);
    }

    #[test]
    fn facts_from_each_family() {
        let podman: BTreeMap<String, String> = [
            (PODMAN_RUNTIME_NAME, "crun"),
            (PODMAN_CRIU_VERSION, "40101"),
            (PODMAN_HOST_ARCH, "amd64"),
            (PODMAN_CGROUPS_VERSION, "v1"),
            (PODMAN_NAME, "counter"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let f = facts_from_annotations(&podman);
        assert_eq!(f.engine, Some(Engine::Podman));
        assert_eq!(f.runtime.as_deref(), Some("crun"));
        assert_eq!(f.criu_version.map(CriuVersion::to_int), Some(40101));
        assert_eq!(f.cgroup_version.as_deref(), Some("v1"));
        let criu: BTreeMap<String, String> = [
            (CRIU_ENGINE_NAME, "CRI-O"),
            (CRIU_CRIU_VERSION, "4.1.1"),
            (CRIU_CGROUP_VERSION, "v?"),
            (CRIO_NAME, "c"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let f = facts_from_annotations(&criu);
        assert_eq!(f.engine, Some(Engine::CriO));
        assert_eq!(f.criu_version.map(CriuVersion::to_int), Some(40101));
        assert_eq!(
            f.cgroup_version, None,
            "CRI-O's stub 'v?' is unknown, not a version"
        );
        assert!(facts_from_annotations(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn key_value_parsing() {
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_key_value("a="), Ok(("a".into(), "".into())));
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("novalue").is_err());
    }
}
