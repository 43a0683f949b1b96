//! The checkpoint image itself: OCI config, manifest and (optionally) index, built with
//! `oci-spec` and serialised deterministically (object keys sorted), so the same archive
//! and options always give the same digests.
//!
//! The image has one layer, the archive extracted at `/` (see [`layer`]); the config
//! carries the checkpointed process's architecture, `rootfs.diff_ids` and one history
//! entry, `created` being the checkpoint time; the checkpoint annotations go on the
//! manifest, and with `--index` on an image index too (containerd reads the index).

pub mod digest;
pub mod layer;

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use oci_spec::image::{
    Arch, ConfigBuilder, DescriptorBuilder, Digest, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};

use crate::error::Result;
use crate::image::digest::sha256_digest;

/// OCI image manifest media type.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type (the only one Podman and CRI-O accept).
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// A small JSON blob with its digest.
#[derive(Debug, Clone)]
pub struct JsonBlob {
    /// Serialised bytes.
    pub bytes: Vec<u8>,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Media type.
    pub media_type: &'static str,
}

impl JsonBlob {
    fn new(value: &impl serde::Serialize, media_type: &'static str) -> Result<Self> {
        // serde_json's Map is a BTreeMap: going through Value sorts every object's keys,
        // which makes the bytes independent of HashMap iteration order.
        let v = serde_json::to_value(value)?;
        let bytes = serde_json::to_vec(&v)?;
        Ok(Self {
            digest: sha256_digest(&bytes),
            bytes,
            media_type,
        })
    }
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// The layer as written.
#[derive(Debug, Clone)]
pub struct LayerDesc {
    /// Blob media type.
    pub media_type: String,
    /// Blob digest.
    pub digest: String,
    /// Blob size.
    pub size: u64,
    /// sha256 of the uncompressed layer tar.
    pub diff_id: String,
    /// Size of the uncompressed layer tar.
    pub diff_size: u64,
}

/// Everything needed to assemble the image's JSON documents.
#[derive(Debug, Clone)]
pub struct ImageInput<'a> {
    /// The layer.
    pub layer: &'a LayerDesc,
    /// GOARCH of the checkpointed process.
    pub arch: &'a str,
    /// RFC 3339 creation time (the checkpoint time).
    pub created: &'a str,
    /// Manifest annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// Also build an image index carrying the annotations and a platform.
    pub with_index: bool,
    /// History `created_by`.
    pub created_by: &'a str,
}

/// The image's JSON documents.
#[derive(Debug, Clone)]
pub struct ImageParts {
    /// The config; its digest is the containers-storage image ID.
    pub config: JsonBlob,
    /// The manifest.
    pub manifest: JsonBlob,
    /// The index, with `--index`.
    pub index: Option<JsonBlob>,
}

fn digest(s: &str) -> Result<Digest> {
    Ok(Digest::from_str(s)?)
}

/// Build config, manifest and index.
///
/// # Errors
/// A digest is malformed (a bug) or a builder refuses a value.
pub fn assemble(input: &ImageInput<'_>) -> Result<ImageParts> {
    let arch = Arch::from(input.arch);
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(vec![input.layer.diff_id.clone()])
        .build()?;
    let history = HistoryBuilder::default()
        .created(input.created.to_string())
        .created_by(input.created_by.to_string())
        .comment("checkpoint archive extracted at /".to_string())
        .build()?;
    let config = ImageConfigurationBuilder::default()
        .created(input.created.to_string())
        .architecture(arch.clone())
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .working_dir("/".to_string())
                .build()?,
        )
        .rootfs(rootfs)
        .history(vec![history])
        .build()?;
    let config = JsonBlob::new(&config, MEDIA_TYPE_CONFIG)?;

    let annotations: HashMap<String, String> = input
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let config_desc = DescriptorBuilder::default()
        .media_type(MediaType::ImageConfig)
        .digest(digest(&config.digest)?)
        .size(config.size())
        .build()?;
    let layer_desc = DescriptorBuilder::default()
        .media_type(MediaType::from(input.layer.media_type.as_str()))
        .digest(digest(&input.layer.digest)?)
        .size(input.layer.size)
        .build()?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(vec![layer_desc])
        .annotations(annotations.clone())
        .build()?;
    let manifest = JsonBlob::new(&manifest, MEDIA_TYPE_MANIFEST)?;

    let index = if input.with_index {
        let platform = PlatformBuilder::default()
            .architecture(arch)
            .os(Os::Linux)
            .build()?;
        let desc = DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(digest(&manifest.digest)?)
            .size(manifest.size())
            .platform(platform)
            .build()?;
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(vec![desc])
            .annotations(annotations)
            .build()?;
        Some(JsonBlob::new(&index, MEDIA_TYPE_INDEX)?)
    } else {
        None
    };
    Ok(ImageParts {
        config,
        manifest,
        index,
    })
}

/// Format seconds + nanoseconds since the epoch as RFC 3339 UTC.
pub fn rfc3339_nano(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let frac = if nanos == 0 {
        String::new()
    } else {
        let f = format!(".{nanos:09}");
        f.trim_end_matches('0').to_string()
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Whether `t` is a timestamp Go's `time.Time` JSON decoder accepts (RFC 3339:
/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`). A bad `created` would make every Podman
/// command fail to load `images.json`, so it is checked before it is written.
pub fn valid_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let num = |r: std::ops::Range<usize>| -> u32 {
        std::str::from_utf8(&b[r])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(99)
    };
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !(b[10] == b'T' || b[10] == b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 59
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z'] | [b'z'] => true,
        [s, h1, h2, b':', m1, m2] if (*s == b'+' || *s == b'-') => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembly_is_deterministic_and_well_formed() {
        let layer = LayerDesc {
            media_type: layer::BlobCompression::None.media_type().into(),
            digest: sha256_digest(b"x"),
            size: 1,
            diff_id: sha256_digest(b"x"),
            diff_size: 1,
        };
        let ann: BTreeMap<String, String> = (0..20)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        let input = ImageInput {
            layer: &layer,
            arch: "amd64",
            created: "2026-11-22T05:34:47Z",
            annotations: &ann,
            with_index: true,
            created_by: "checkpointctl-image build",
        };
        let a = assemble(&input).expect("assemble");
        let b = assemble(&input).expect("assemble");
        assert_eq!(a.manifest.digest, b.manifest.digest);
        assert_eq!(a.config.digest, b.config.digest);
        let m: serde_json::Value = serde_json::from_slice(&a.manifest.bytes).expect("json");
        assert_eq!(m["mediaType"], MEDIA_TYPE_MANIFEST);
        assert_eq!(m["config"]["mediaType"], MEDIA_TYPE_CONFIG);
        assert_eq!(m["annotations"]["k7"], "v7");
        let c: serde_json::Value = serde_json::from_slice(&a.config.bytes).expect("json");
        assert_eq!(c["architecture"], "amd64");
        assert_eq!(c["os"], "linux");
        assert_eq!(c["rootfs"]["diff_ids"][0], layer.diff_id);
        assert_eq!(c["created"], "2026-11-22T05:34:47Z");
        let i: serde_json::Value =
            serde_json::from_slice(&a.index.expect("index").bytes).expect("json");
        assert_eq!(i["manifests"][0]["platform"]["architecture"], "amd64");
        assert_eq!(i["annotations"]["k3"], "v3");
    }
}
