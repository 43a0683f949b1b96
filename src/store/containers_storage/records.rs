//! The JSON record files (`layers.json`, `images.json`) and c/storage's write discipline:
//! strict loading into `serde_json::Value` (so unknown fields survive a rewrite, and a
//! file that does not parse is never rewritten), `AtomicWriteFile`-style replacement
//! (`.tmp-<name>*` in the same directory, fsync, chmod, rename), plus the small helpers
//! the store needs: random IDs and RFC 3339 timestamps.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::{Context, Result};
use crate::image::digest::hex;
use crate::image::rfc3339_nano;
#[cfg(test)]
use crate::image::valid_rfc3339;
use crate::{bail, err};

/// Load a record array. A missing or empty file is an empty list (as in c/storage);
/// anything that is not an array of objects with a string `id` is an error.
///
/// # Errors
/// I/O errors, or a file that does not parse (named in the message).
pub fn load_array(path: &Path) -> Result<Vec<Value>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let refuse = |why: String| {
        err!(
            "{}: does not parse ({why}); refusing to modify the store (repair it with podman or restore it)",
            path.display()
        )
    };
    let v: Value = serde_json::from_slice(&data).map_err(|e| refuse(e.to_string()))?;
    let Value::Array(items) = v else {
        return Err(refuse("not a JSON array".into()));
    };
    for (i, item) in items.iter().enumerate() {
        if !item.get("id").is_some_and(Value::is_string) {
            return Err(refuse(format!("record {i} has no string \"id\"")));
        }
    }
    Ok(items)
}

/// Atomically replace `path` with the record array.
///
/// # Errors
/// Serialisation or I/O errors.
pub fn save_array(path: &Path, items: &[Value]) -> Result<()> {
    let bytes = serde_json::to_vec(items)?;
    crate::store::atomic_write(path, &bytes, 0o600)
}

/// `n` random bytes from the kernel.
///
/// # Errors
/// `/dev/urandom` cannot be read.
pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf)
}

/// A random 64-hex ID.
///
/// # Errors
/// See [`random_bytes`].
pub fn random_id() -> Result<String> {
    Ok(hex(&random_bytes(32)?))
}

/// The current time as RFC 3339 with nanoseconds, UTC (Go's `time.RFC3339Nano`).
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_nano(d.as_secs() as i64, d.subsec_nanos())
}

/// Find a record by `id`.
pub fn find<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    items
        .iter()
        .find(|v| v.get("id").and_then(Value::as_str) == Some(id))
}

/// Index of a record by `id`.
pub fn position(items: &[Value], id: &str) -> Option<usize> {
    items
        .iter()
        .position(|v| v.get("id").and_then(Value::as_str) == Some(id))
}

/// A record's string field.
pub fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Refuse a record that is not a JSON object (so that field updates cannot panic).
///
/// # Errors
/// The record is not an object.
pub fn as_object_mut<'a>(
    v: &'a mut Value,
    what: &str,
) -> Result<&'a mut serde_json::Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => bail!("{what}: record is not a JSON object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_and_save_round_trip_unknown_fields() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = tmp.path().join("layers.json");
        assert!(load_array(&p).expect("missing").is_empty());
        std::fs::write(&p, b"").expect("write");
        assert!(load_array(&p).expect("empty").is_empty());
        std::fs::write(&p, br#"[{"id":"a","future-field":{"x":[1,2]}}]"#).expect("write");
        let v = load_array(&p).expect("load");
        save_array(&p, &v).expect("save");
        let back: Value = serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
        assert_eq!(back[0]["future-field"]["x"][1], 2);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        for bad in [&b"[{\"id\":"[..], b"{}", b"[{\"names\":[]}]", b"[1]"] {
            std::fs::write(&p, bad).expect("write");
            let e = load_array(&p).expect_err("bad").to_string();
            assert!(e.contains("layers.json"), "{e}");
        }
        // No temp files left behind.
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(left.is_empty());
    }

    #[test]
    fn rfc3339_tables() {
        assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_nano(1_795_325_687, 180_955_000),
            "2026-11-22T05:34:47.180955Z"
        );
        for ok in [
            "2026-11-22T05:34:47Z",
            "2026-11-22T05:34:47.180955198Z",
            "2026-11-22T05:34:47+01:00",
            &now_rfc3339(),
        ] {
            assert!(valid_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22 05:34:47Z",
            "2026-13-22T05:34:47Z",
            "2026-11-22T05:34:47.Z",
            "2026-11-22T05:34:47+0100",
            "2026-11-22T05:34:47",
        ] {
            assert!(!valid_rfc3339(bad), "{bad}");
        }
    }
}
