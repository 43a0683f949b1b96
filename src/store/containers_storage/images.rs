//! The image store: `G/<driver>-images/images.json` records and their big-data files
//! (CONTAINERS-STORAGE.md §5).
//!
//! An image's ID is its config digest hex (c/image's convention). Its big data are the
//! config under `sha256:<config hex>`, the manifest under `manifest-sha256:<manifest hex>`
//! and again under `manifest` (the key Podman reads), stored in `G/<driver>-images/<id>/`
//! (0700) as files (0600) named by [`big_data_base_name`]. A name belongs to one image at
//! a time: giving it to a new image takes it from the old one.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::bail;
use crate::error::Result;
use crate::store::containers_storage::records;

/// c/storage's `makeBigDataBaseName`: the key itself when it is made only of
/// `[.0-9a-z]`, otherwise `=` + base64(key).
pub fn big_data_base_name(key: &str) -> String {
    if !key.is_empty()
        && key
            .bytes()
            .all(|b| b == b'.' || b.is_ascii_digit() || b.is_ascii_lowercase())
    {
        key.to_string()
    } else {
        format!("={}", B64.encode(key))
    }
}

/// One big-data item.
#[derive(Debug, Clone)]
pub struct BigData<'a> {
    /// Key.
    pub key: String,
    /// Content.
    pub bytes: &'a [u8],
    /// Digest recorded in `big-data-digests` (for `manifest*` keys, the manifest digest).
    pub digest: String,
}

/// What the image record must say.
#[derive(Debug, Clone)]
pub struct NewImage<'a> {
    /// Image ID.
    pub id: &'a str,
    /// Manifest digest.
    pub manifest_digest: &'a str,
    /// Top layer ID.
    pub layer: &'a str,
    /// Names to give it (taken from other images).
    pub names: &'a [String],
    /// RFC 3339 creation time.
    pub created: &'a str,
    /// Big-data items.
    pub big_data: &'a [BigData<'a>],
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn dedupe(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Apply a new image to the record list: move its names away from other images, then add
/// its record, or update the existing record with the same ID (idempotent rebuild).
/// Returns the names the image now has.
///
/// # Errors
/// A malformed record, or an existing image with this ID on another layer.
pub fn apply(images: &mut [Value], new: &NewImage<'_>) -> Result<Option<Vec<String>>> {
    for img in images.iter_mut() {
        if records::str_field(img, "id") == Some(new.id) {
            continue;
        }
        let names = string_list(img.get("names"));
        if names.iter().any(|n| new.names.contains(n)) {
            let kept: Vec<String> = names
                .into_iter()
                .filter(|n| !new.names.contains(n))
                .collect();
            let m = records::as_object_mut(img, "image")?;
            if kept.is_empty() {
                m.remove("names");
            } else {
                m.insert("names".into(), json!(kept));
            }
        }
    }
    let Some(existing) = images
        .iter_mut()
        .find(|v| records::str_field(v, "id") == Some(new.id))
    else {
        return Ok(None);
    };
    if let Some(l) = records::str_field(existing, "layer") {
        if l != new.layer {
            bail!(
                "image {} already exists on layer {l}, not on {}; refusing to change it",
                new.id,
                new.layer
            );
        }
    }
    let names = dedupe(
        string_list(existing.get("names"))
            .into_iter()
            .chain(new.names.iter().cloned()),
    );
    let history = dedupe(
        new.names
            .iter()
            .cloned()
            .chain(string_list(existing.get("names-history"))),
    );
    let mut bd_names = string_list(existing.get("big-data-names"));
    let mut sizes: BTreeMap<String, Value> = existing
        .get("big-data-sizes")
        .and_then(Value::as_object)
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    let mut digests: BTreeMap<String, Value> = existing
        .get("big-data-digests")
        .and_then(Value::as_object)
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    for bd in new.big_data {
        if !bd_names.contains(&bd.key) {
            bd_names.push(bd.key.clone());
        }
        sizes.insert(bd.key.clone(), json!(bd.bytes.len()));
        digests.insert(bd.key.clone(), json!(bd.digest));
    }
    let meta = signature_metadata(existing.get("metadata"), new.manifest_digest);
    let m = records::as_object_mut(existing, "image")?;
    m.insert("names".into(), json!(names));
    m.insert("names-history".into(), json!(history));
    m.insert("digest".into(), json!(new.manifest_digest));
    m.insert("layer".into(), json!(new.layer));
    m.insert("big-data-names".into(), json!(bd_names));
    m.insert("big-data-sizes".into(), json!(sizes));
    m.insert("big-data-digests".into(), json!(digests));
    m.insert("metadata".into(), json!(meta));
    Ok(Some(names))
}

/// c/image's image `metadata`: a JSON string `{"signatures-sizes":{"<manifest>":[]}}`,
/// merged into an existing one when it parses.
fn signature_metadata(existing: Option<&Value>, manifest_digest: &str) -> String {
    let mut obj = existing
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if !obj["signatures-sizes"].is_object() {
        obj["signatures-sizes"] = json!({});
    }
    if obj["signatures-sizes"].get(manifest_digest).is_none() {
        obj["signatures-sizes"][manifest_digest] = json!([]);
    }
    obj.to_string()
}

/// The record of a new image.
pub fn new_record(new: &NewImage<'_>) -> Value {
    let sizes: BTreeMap<&str, usize> = new
        .big_data
        .iter()
        .map(|b| (b.key.as_str(), b.bytes.len()))
        .collect();
    let digests: BTreeMap<&str, &str> = new
        .big_data
        .iter()
        .map(|b| (b.key.as_str(), b.digest.as_str()))
        .collect();
    let keys: Vec<&str> = new.big_data.iter().map(|b| b.key.as_str()).collect();
    json!({
        "id": new.id,
        "digest": new.manifest_digest,
        "names": new.names,
        "names-history": new.names,
        "layer": new.layer,
        "metadata": signature_metadata(None, new.manifest_digest),
        "big-data-names": keys,
        "big-data-sizes": sizes,
        "big-data-digests": digests,
        "created": new.created,
    })
}

/// Find an image by ID or name.
pub fn lookup<'a>(images: &'a [Value], name_or_id: &str) -> Option<&'a Value> {
    records::find(images, name_or_id).or_else(|| {
        images
            .iter()
            .find(|v| string_list(v.get("names")).iter().any(|n| n == name_or_id))
    })
}

/// An image record's names.
pub fn names(v: &Value) -> Vec<String> {
    string_list(v.get("names"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_data_names_table() {
        let cases = [
            ("manifest", "manifest"),
            ("signature-0c12", "=c2lnbmF0dXJlLTBjMTI="),
            ("sha256:ad32", "=c2hhMjU2OmFkMzI="),
            ("manifest-sha256:ab", "=bWFuaWZlc3Qtc2hhMjU2OmFi"),
            ("a.b.0", "a.b.0"),
            ("Manifest", "=TWFuaWZlc3Q="),
        ];
        for (key, want) in cases {
            assert_eq!(big_data_base_name(key), want, "{key}");
        }
    }

    fn bd(bytes: &[u8]) -> Vec<BigData<'_>> {
        vec![
            BigData {
                key: "sha256:c".into(),
                bytes,
                digest: "sha256:c".into(),
            },
            BigData {
                key: "manifest".into(),
                bytes,
                digest: "sha256:m".into(),
            },
        ]
    }

    #[test]
    fn names_move_and_rebuilds_are_idempotent() {
        let big = bd(b"{}");
        let names = vec!["localhost/ckpt:1".to_string()];
        let new = NewImage {
            id: "c",
            manifest_digest: "sha256:m",
            layer: "l",
            names: &names,
            created: "2026-11-22T05:34:47Z",
            big_data: &big,
        };
        let mut images =
            vec![json!({"id":"old","names":["localhost/ckpt:1","localhost/keep:1"],"x":1})];
        assert!(apply(&mut images, &new).expect("apply").is_none());
        images.push(new_record(&new));
        assert_eq!(images[0]["names"], json!(["localhost/keep:1"]));
        assert_eq!(images[0]["x"], 1);
        let meta: Value =
            serde_json::from_str(images[1]["metadata"].as_str().expect("str")).expect("json");
        assert_eq!(meta["signatures-sizes"]["sha256:m"], json!([]));

        // Same image again, with a second name.
        let names2 = vec!["localhost/other:2".to_string()];
        let again = NewImage {
            names: &names2,
            ..new.clone()
        };
        let got = apply(&mut images, &again)
            .expect("apply")
            .expect("existing");
        assert_eq!(got, vec!["localhost/ckpt:1", "localhost/other:2"]);
        assert_eq!(images.len(), 2);
        assert_eq!(
            images[1]["big-data-names"].as_array().map(Vec::len),
            Some(2)
        );

        // Name moves off the last remaining name: the old image becomes <none>.
        let names3 = vec!["localhost/keep:1".to_string()];
        let third = NewImage {
            names: &names3,
            ..new.clone()
        };
        apply(&mut images, &third).expect("apply");
        assert!(images[0].get("names").is_none());

        let other_layer = NewImage { layer: "zz", ..new };
        assert!(apply(&mut images, &other_layer).is_err());
    }
}
