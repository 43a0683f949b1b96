//! The JSON record files (`layers.json`, `images.json`) and c/storage's write discipline:
//! strict loading into `serde_json::Value` (so unknown fields survive a rewrite, and a
//! file that does not parse is never rewritten), `AtomicWriteFile`-style replacement
//! (`.tmp-<name>*` in the same directory, fsync, chmod, rename), plus the small helpers
//! the store needs: random IDs and RFC 3339 timestamps.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::{Context, Result};
use crate::image::digest::hex;
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
    atomic_write(path, &bytes, 0o600)
}

/// c/storage's `AtomicWriteFile`: write a temp file `.tmp-<name>*` next to `path`, fsync
/// it, set `mode`, rename it over `path`, and sync the directory.
///
/// # Errors
/// I/O errors; the temp file is removed.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| err!("{}: no parent directory", path.display()))?;
    let name = path
        .file_name()
        .ok_or_else(|| err!("{}: no file name", path.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".tmp-{name}{}", hex(&random_bytes(6)?)));
    let res = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.with_context(|| format!("writing {}", path.display()))
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

/// Whether `s` is 64 lowercase hex digits.
pub fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The current time as RFC 3339 with nanoseconds, UTC (Go's `time.RFC3339Nano`).
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_nano(d.as_secs() as i64, d.subsec_nanos())
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
