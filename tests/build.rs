//! `build` into `oci:` and `oci-archive:`: the image is verified by re-reading and
//! re-hashing it, by the real tools (skopeo, umoci, podman with a throwaway store), and
//! against Podman's own `--create-image` image. Bad input leaves nothing behind.
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha256_file(p: &Path) -> String {
    format!("sha256:{:x}", Sha256::digest(fs::read(p).expect("read")))
}

/// Every file under `dir` with its content hash (to prove a layout was left untouched).
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(d).expect("readdir") {
            let e = e.expect("entry");
            let p = e.path();
            let rel = p.strip_prefix(base).expect("prefix").display().to_string();
            if p.is_dir() {
                out.insert(rel, "dir".into());
                walk(base, &p, out);
            } else {
                out.insert(
                    rel,
                    format!("{:x}", Sha256::digest(fs::read(&p).expect("read"))),
                );
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// Re-read an OCI layout: every blob's digest and size is verified; returns (manifest, config, layer bytes).
fn read_layout(dir: &Path, reference: &str) -> (Value, Value, Vec<u8>) {
    let blob = |d: &str| {
        let hex = d.strip_prefix("sha256:").expect("sha256");
        let b = fs::read(dir.join("blobs/sha256").join(hex)).expect("blob");
        assert_eq!(format!("sha256:{:x}", Sha256::digest(&b)), d, "blob digest");
        b
    };
    let index: Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).expect("index")).expect("json");
    let oci_layout: Value =
        serde_json::from_slice(&fs::read(dir.join("oci-layout")).expect("oci-layout"))
            .expect("json");
    assert_eq!(oci_layout["imageLayoutVersion"], "1.0.0");
    let desc = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == reference)
        .expect("tag")
        .clone();
    let mut mdesc = desc.clone();
    if desc["mediaType"] == "application/vnd.oci.image.index.v1+json" {
        let idx: Value =
            serde_json::from_slice(&blob(desc["digest"].as_str().expect("d"))).expect("json");
        mdesc = idx["manifests"][0].clone();
    }
    let mbytes = blob(mdesc["digest"].as_str().expect("digest"));
    assert_eq!(mbytes.len() as u64, mdesc["size"].as_u64().expect("size"));
    let manifest: Value = serde_json::from_slice(&mbytes).expect("manifest");
    let cbytes = blob(manifest["config"]["digest"].as_str().expect("cfg"));
    let config: Value = serde_json::from_slice(&cbytes).expect("config");
    let layer = &manifest["layers"][0];
    let lbytes = blob(layer["digest"].as_str().expect("layer"));
    assert_eq!(lbytes.len() as u64, layer["size"].as_u64().expect("size"));
    let raw = match layer["mediaType"].as_str().expect("mt") {
        "application/vnd.oci.image.layer.v1.tar" => lbytes,
        "application/vnd.oci.image.layer.v1.tar+gzip" => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::MultiGzDecoder::new(&lbytes[..]),
                &mut out,
            )
            .expect("gunzip");
            out
        }
        "application/vnd.oci.image.layer.v1.tar+zstd" => {
            zstd::decode_all(&lbytes[..]).expect("unzstd")
        }
        other => panic!("unexpected layer media type {other}"),
    };
    assert_eq!(
        format!("sha256:{:x}", Sha256::digest(&raw)),
        config["rootfs"]["diff_ids"][0].as_str().expect("diff_id"),
        "diff_id is the sha256 of the uncompressed layer"
    );
    (manifest, config, raw)
}

fn build_json(args: &[&str]) -> Value {
    let mut full = vec!["build", "--format", "json"];
    full.extend_from_slice(args);
    json(&ok(run_s(&full)))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

#[test]
fn podman_archives_in_every_compression_give_verified_layouts() {
    let tmp = tempfile::tempdir().expect("tmp");
    for (name, comp) in [
        ("counter-none.tar", "none"),
        ("counter-gzip.tar.gz", "gzip"),
        ("counter-zstd.tar.zst", "zstd"),
    ] {
        for out_comp in ["none", "gzip", "zstd"] {
            let dir = tmp.path().join(format!("{comp}-{out_comp}"));
            let j = build_json(&[
                "--compression",
                out_comp,
                s(&podman_fixture("runc", name)),
                &format!("oci:{}:cp", dir.display()),
            ]);
            let (manifest, config, layer) = read_layout(&dir, "cp");
            assert_eq!(
                manifest["mediaType"],
                "application/vnd.oci.image.manifest.v1+json"
            );
            assert_eq!(
                manifest["config"]["mediaType"],
                "application/vnd.oci.image.config.v1+json"
            );
            assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(1));
            assert_eq!(
                config["architecture"], "amd64",
                "from checkpoint/core-1.img"
            );
            assert_eq!(config["os"], "linux");
            assert_eq!(
                manifest["annotations"]["io.podman.annotations.checkpoint.runtime.name"],
                "runc"
            );
            assert_eq!(
                manifest["annotations"]["org.criu.checkpoint.container.name"],
                "counter"
            );
            // The layer is the archive extracted at /: the same members in the same
            // order, plus the `volumes/` directory the export only implies.
            let input = decompress_file(&podman_fixture("runc", name));
            let mut want = tar_paths(&input);
            let at = want
                .iter()
                .position(|p| p == "volumes/labvol.tar")
                .expect("volume");
            want.insert(at, "volumes".into());
            assert_eq!(tar_paths(&layer), want, "{name}");
            // Headers are rewritten (a directory is added): no blob reuse.
            assert_eq!(j["layer"]["reused_input"], false, "{comp} -> {out_comp}");
        }
    }
}

/// An archive that needs no rewriting in the requested compression is the blob as is.
#[test]
fn archives_needing_no_rewrite_are_reused_as_the_blob() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = podman_fixture("runc", "counter-ignore-rootfs-volumes.tar.zst");
    for (out, reused) in [("zstd", true), ("gzip", false), ("none", false)] {
        let dir = tmp.path().join(out);
        let j = build_json(&[
            "--compression",
            out,
            s(&a),
            &format!("oci:{}:x", dir.display()),
        ]);
        assert_eq!(j["layer"]["reused_input"], reused, "{out}");
        let (_, _, layer) = read_layout(&dir, "x");
        assert!(
            layer == decompress_file(&a),
            "{out}: the layer is the archive's tar"
        );
        if reused {
            assert_eq!(j["layer"]["digest"], sha256_file(&a));
        }
    }
    // An explicit --compression-level means "recompress".
    let j = build_json(&[
        "--compression",
        "zstd",
        "--compression-level",
        "5",
        s(&a),
        &format!("oci:{}/lvl:x", tmp.path().display()),
    ]);
    assert_eq!(j["layer"]["reused_input"], false);
}

#[test]
fn same_archive_and_options_give_the_same_digest() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = podman_fixture("crun", "counter-zstd.tar.zst");
    let mut digests = Vec::new();
    for i in 0..2 {
        for comp in ["gzip", "zstd", "none"] {
            let j = build_json(&[
                "--no-host-facts",
                "--compression",
                comp,
                s(&a),
                &format!("oci:{}/{comp}-{i}", tmp.path().display()),
            ]);
            digests.push((comp, j["manifest_digest"].as_str().expect("d").to_string()));
        }
    }
    assert_eq!(digests[0..3], digests[3..6], "builds are reproducible");
    // created is the checkpoint time, never now; SOURCE_DATE_EPOCH overrides.
    let out = ok(Command::new(bin())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "--no-host-facts", "--format", "json", s(&a)])
        .arg(format!("oci:{}/sde", tmp.path().display()))
        .output()
        .expect("run"));
    assert_eq!(json(&out)["created"], "2023-11-14T22:13:20Z");
}

#[test]
fn existing_layout_keeps_other_images_and_retags() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("layout");
    let dest = |r: &str| format!("oci:{}:{r}", dir.display());
    let runc = podman_fixture("runc", "counter-zstd.tar.zst");
    let crun = podman_fixture("crun", "counter-zstd.tar.zst");
    let first = build_json(&[s(&runc), &dest("a")]);
    build_json(&[s(&crun), &dest("b")]);
    // Retag "a" with the crun image: "a" moves, "b" stays.
    let third = build_json(&[s(&crun), &dest("a")]);
    let index: Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).expect("i")).expect("j");
    let tags: Vec<(String, String)> = index["manifests"]
        .as_array()
        .expect("arr")
        .iter()
        .map(|d| {
            (
                d["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .expect("t")
                    .to_string(),
                d["digest"].as_str().expect("d").to_string(),
            )
        })
        .collect();
    assert_eq!(tags.len(), 2, "{tags:?}");
    assert!(tags.contains(&(
        "a".into(),
        third["manifest_digest"].as_str().expect("d").into()
    )));
    assert_ne!(first["manifest_digest"], third["manifest_digest"]);
    read_layout(&dir, "a");
    read_layout(&dir, "b");
    // No temp files are left in the layout.
    assert!(
        tree(&dir).keys().all(|k| !k.contains(".tmp")),
        "{:?}",
        tree(&dir)
    );
}

#[test]
fn annotations_overrides_and_index() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("l");
    build_json(&[
        "--index",
        "--annotation",
        "org.example.note=hello=world",
        "--annotation",
        "org.criu.checkpoint.container.name=renamed",
        s(&podman_fixture("runc", "counter-gzip.tar.gz")),
        &format!("oci:{}:idx", dir.display()),
    ]);
    let index: Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).expect("i")).expect("j");
    let top = &index["manifests"][0];
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    let hex = top["digest"]
        .as_str()
        .expect("d")
        .trim_start_matches("sha256:");
    let inner: Value =
        serde_json::from_slice(&fs::read(dir.join("blobs/sha256").join(hex)).expect("b"))
            .expect("j");
    assert_eq!(inner["manifests"][0]["platform"]["architecture"], "amd64");
    assert_eq!(inner["manifests"][0]["platform"]["os"], "linux");
    assert_eq!(
        inner["annotations"]["org.criu.checkpoint.container.name"],
        "renamed"
    );
    let (manifest, _, _) = read_layout(&dir, "idx");
    assert_eq!(manifest["annotations"]["org.example.note"], "hello=world");
    assert_eq!(
        manifest["annotations"]["org.criu.checkpoint.container.name"],
        "renamed"
    );
}

#[test]
fn matches_podmans_own_checkpoint_image() {
    // Podman's --create-image image, copied out by skopeo (tests/fixtures/.../cp-oci).
    let podman = fixtures().join("podman-5.4.2/runc/cp-oci");
    let (pm, _, player) = read_layout(&podman, "cp-runc");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("ours");
    build_json(&[
        s(&podman_fixture("runc", "counter-zstd.tar.zst")),
        &format!("oci:{}:cp", dir.display()),
    ]);
    let (om, _, olayer) = read_layout(&dir, "cp");
    let mut pfiles = tar_paths(&player);
    let mut ofiles = tar_paths(&olayer);
    pfiles.sort();
    ofiles.sort();
    assert_eq!(ofiles, pfiles, "same layer file list as Podman's image");
    let keys = |m: &Value| -> Vec<String> {
        m["annotations"]
            .as_object()
            .expect("ann")
            .keys()
            .filter(|k| k.starts_with("io.podman.annotations.checkpoint."))
            .cloned()
            .collect()
    };
    let pk = keys(&pm);
    let ok_keys = keys(&om);
    for k in &pk {
        // Without CRIU on this host and no dump.log in Podman archives, the CRIU
        // version is unknown here; every other Podman key must be present.
        if k.ends_with("criu.version")
            || k.ends_with("runtime.version")
            || k.ends_with("conmon.version")
            || k.ends_with("podman.version")
        {
            continue;
        }
        assert!(
            ok_keys.contains(k),
            "missing Podman key {k}; ours: {ok_keys:?}"
        );
    }
    assert_eq!(
        om["annotations"]["io.podman.annotations.checkpoint.runtime.name"],
        pm["annotations"]["io.podman.annotations.checkpoint.runtime.name"]
    );
    assert_eq!(
        om["annotations"]["io.podman.annotations.checkpoint.name"],
        pm["annotations"]["io.podman.annotations.checkpoint.name"]
    );
}

#[test]
fn crio_and_containerd_archives_get_family_keys_and_archive_facts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let crio = engine_archive(tmp.path(), Engine::CriO, Comp::None);
    let j = build_json(&[s(&crio), &format!("oci:{}/crio:c", tmp.path().display())]);
    let a = &j["annotations"];
    assert_eq!(
        a["io.kubernetes.cri-o.annotations.checkpoint.name"],
        "counter"
    );
    assert_eq!(a["org.criu.checkpoint.container.name"], "counter");
    assert_eq!(a["org.criu.checkpoint.engine.name"], "CRI-O");
    assert_eq!(a["org.criu.checkpoint.pod.name"], "counter-pod");
    assert_eq!(a["org.criu.checkpoint.pod.namespace"], "default");
    assert_eq!(
        a["org.criu.checkpoint.criu.version"], "31900",
        "dump.log wins over the host"
    );
    assert_eq!(a["org.criu.checkpoint.host.kernel"], "6.8.0-45-generic");
    assert_eq!(
        a["org.criu.checkpoint.cgroup.version"], "v2",
        "from spec.dump's cgroup2 mount"
    );
    assert!(
        a.get("io.podman.annotations.checkpoint.runtime.name")
            .is_none()
    );
    assert_eq!(
        j["created"], "2026-11-20T10:05:00.5Z",
        "config.dump checkpointedTime"
    );

    let ctrd = engine_archive(tmp.path(), Engine::Containerd, Comp::Zstd);
    let j = build_json(&[
        "--index",
        s(&ctrd),
        &format!("oci:{}/ctrd:c", tmp.path().display()),
    ]);
    let a = &j["annotations"];
    assert_eq!(a["org.criu.checkpoint.container.name"], "counter");
    assert_eq!(a["org.criu.checkpoint.engine.name"], "containerd");
    assert_eq!(a["org.criu.checkpoint.criu.version"], "40101");
    assert_eq!(
        a["org.criu.checkpoint.runtime.name"],
        "io.containerd.runc.v2"
    );
    assert_eq!(
        a["org.opencontainers.image.base.digest"],
        "sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7"
    );
    assert!(
        a.get("io.kubernetes.cri-o.annotations.checkpoint.name")
            .is_none()
    );
    assert!(j["index_digest"].is_string());
}

/// A layout from a `./`-prefixed archive (GNU `tar -C dir .`): names are normalised and
/// the root entry dropped, so the input bytes cannot be reused as the blob.
#[test]
fn dot_slash_archives_are_normalised() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut members = vec![Member::Dir("./".into(), 0o755)];
    for m in podman_members() {
        members.push(match m {
            Member::Dir(p, mode) => Member::Dir(format!("./{p}"), mode),
            Member::File(p, mode, d) => Member::File(format!("./{p}"), mode, d),
            other => other,
        });
    }
    let a = tmp.path().join("dot.tar.zst");
    write_archive(&a, &members, Comp::Zstd);
    let j = build_json(&[
        "--compression",
        "zstd",
        s(&a),
        &format!("oci:{}/l:x", tmp.path().display()),
    ]);
    assert_eq!(j["layer"]["reused_input"], false);
    let (_, _, layer) = read_layout(&tmp.path().join("l"), "x");
    let names = tar_paths(&layer);
    assert!(names.iter().all(|n| !n.starts_with("./")), "{names:?}");
    assert!(names.contains(&"checkpoint/inventory.img".to_string()));
    let mut raw = tar::Archive::new(&layer[..]);
    for e in raw.entries().expect("entries") {
        let e = e.expect("entry");
        let p = e.path_bytes().into_owned();
        assert!(
            !p.starts_with(b"./") && p != b".",
            "{:?}",
            String::from_utf8_lossy(&p)
        );
    }
}

fn hostile_cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let ok = |name: &'static str| (name, b"{}".to_vec());
    let base = |extra: &[(&str, u8, &[u8], &str)]| {
        let mut e: Vec<(&str, u8, &[u8], &str)> = vec![
            ("config.dump", b'0', b"{\"name\":\"c\"}", ""),
            (
                "spec.dump",
                b'0',
                b"{\"annotations\":{\"io.container.manager\":\"libpod\"}}",
                "",
            ),
            ("checkpoint/", b'5', b"", ""),
            ("checkpoint/inventory.img", b'0', b"x", ""),
        ];
        e.extend_from_slice(extra);
        raw_tar(&e)
    };
    let _ = ok;
    vec![
        (
            "absolute path",
            base(&[("/etc/evil", b'0', b"x", "")]),
            "absolute path",
        ),
        (
            "dot-dot",
            base(&[("a/../../evil", b'0', b"x", "")]),
            "\"..\"",
        ),
        (
            "escaping symlink",
            base(&[("link", b'2', b"", "../../etc")]),
            "escapes the archive root",
        ),
        (
            "absolute symlink",
            base(&[("link", b'2', b"", "/etc/passwd")]),
            "escapes the archive root",
        ),
        (
            "write through symlink",
            base(&[("d", b'2', b"", "checkpoint"), ("d/x", b'0', b"x", "")]),
            "is a symlink",
        ),
        (
            "hard link outside",
            base(&[("h", b'1', b"", "/etc/shadow")]),
            "hard link",
        ),
        (
            "hard link to missing",
            base(&[("h", b'1', b"", "nothere")]),
            "not an earlier regular file",
        ),
        (
            "char device",
            base(&[("dev", b'3', b"", "")]),
            "device nodes",
        ),
        (
            "block device",
            base(&[("blk", b'4', b"", "")]),
            "device nodes",
        ),
        ("fifo", base(&[("fifo", b'6', b"", "")]), "fifos"),
        (
            "whiteout",
            base(&[("checkpoint/.wh.x", b'0', b"", "")]),
            "whiteout",
        ),
        (
            "duplicate",
            base(&[("config.dump", b'0', b"{}", "")]),
            "duplicate path",
        ),
        (
            "missing config.dump",
            raw_tar(&[
                ("spec.dump", b'0', b"{}", ""),
                ("checkpoint/", b'5', b"", ""),
            ]),
            "config.dump is missing",
        ),
        (
            "missing spec.dump",
            raw_tar(&[
                ("config.dump", b'0', b"{}", ""),
                ("checkpoint/", b'5', b"", ""),
            ]),
            "spec.dump is missing",
        ),
        (
            "missing checkpoint",
            raw_tar(&[
                ("config.dump", b'0', b"{}", ""),
                ("spec.dump", b'0', b"{}", ""),
            ]),
            "checkpoint/ is missing",
        ),
        (
            "invalid json",
            raw_tar(&[
                ("config.dump", b'0', b"{not json", ""),
                ("spec.dump", b'0', b"{}", ""),
                ("checkpoint/", b'5', b"", ""),
            ]),
            "config.dump: invalid JSON",
        ),
        (
            "not a tar",
            b"this is not a tar archive at all, just text\n".repeat(20),
            "not a tar archive",
        ),
        ("empty file", Vec::new(), "empty file"),
    ]
}

fn assert_fails_cleanly(archive: &Path, dest_dir: &Path, want: &str) {
    let out = run_s(&[
        "build",
        "--format",
        "json",
        s(archive),
        &format!("oci:{}:x", dest_dir.display()),
    ]);
    assert_eq!(
        code(&out),
        1,
        "{want}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let j = json(&out);
    let msg = j["error"].as_str().expect("error string");
    assert!(msg.contains(want), "error {msg:?} should mention {want:?}");
    assert_eq!(
        j.as_object().map(|o| o.len()),
        Some(1),
        "only the error key: {j}"
    );
}

#[test]
fn bad_archives_fail_with_one_line_and_leave_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    for (label, tar, want) in hostile_cases() {
        for comp in Comp::ALL {
            let a = tmp.path().join(format!("bad.{}", comp.ext()));
            write_compressed(&a, &tar, comp);
            let dest = tmp.path().join("new-layout");
            assert_fails_cleanly(&a, &dest, want);
            assert!(
                !dest.exists(),
                "{label}/{comp:?}: a new layout must not be left behind"
            );
        }
    }
}

#[test]
fn bad_input_leaves_an_existing_layout_untouched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("layout");
    build_json(&[
        s(&podman_fixture("runc", "counter-gzip.tar.gz")),
        &format!("oci:{}:good", dir.display()),
    ]);
    let before = tree(&dir);
    // Truncated and corrupted compressed streams, and a mid-stream refusal.
    let gz = fs::read(podman_fixture("runc", "counter-gzip.tar.gz")).expect("read");
    let zst = fs::read(podman_fixture("runc", "counter-zstd.tar.zst")).expect("read");
    let plain = fs::read(podman_fixture("runc", "counter-none.tar")).expect("read");
    let mut corrupt = gz.clone();
    let mid = corrupt.len() / 2;
    for b in &mut corrupt[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("trunc.tar.gz", gz[..gz.len() / 2].to_vec(), "truncated"),
        ("corrupt.tar.gz", corrupt, "corrupt"),
        ("trunc.tar.zst", zst[..zst.len() / 2].to_vec(), "truncated"),
        (
            "trunc.tar",
            plain[..plain.len() / 2 + 100].to_vec(),
            "truncated",
        ),
    ];
    for (name, bytes, want) in cases {
        let a = tmp.path().join(name);
        fs::write(&a, bytes).expect("write");
        assert_fails_cleanly(&a, &dir, want);
        assert_eq!(
            tree(&dir),
            before,
            "{name}: the existing layout must be unchanged"
        );
    }
    // An oversized metadata member (cap 4 MiB).
    let big = tmp.path().join("big.tar.zst");
    write_archive(
        &big,
        &[Member::File(
            "config.dump".into(),
            0o600,
            vec![b' '; (4 << 20) + 1],
        )],
        Comp::Zstd,
    );
    assert_fails_cleanly(&big, &dir, "config.dump");
    assert_eq!(tree(&dir), before);
}

#[test]
fn failed_oci_archive_builds_leave_no_file_and_no_staging() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = tmp.path().join("bad.tar");
    fs::write(&bad, raw_tar(&[("/abs", b'0', b"x", "")])).expect("write");
    let target = tmp.path().join("out.oci.tar");
    let out = run_s(&[
        "build",
        "--format",
        "json",
        s(&bad),
        &format!("oci-archive:{}", target.display()),
    ]);
    assert_eq!(code(&out), 1);
    assert!(!target.exists());
    // An existing archive is kept when the replacement fails.
    build_json(&[
        s(&podman_fixture("runc", "counter-none.tar")),
        &format!("oci-archive:{}", target.display()),
    ]);
    let before = fs::read(&target).expect("read");
    let out = run_s(&[
        "build",
        "--format",
        "json",
        s(&bad),
        &format!("oci-archive:{}", target.display()),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        fs::read(&target).expect("read") == before,
        "the old oci-archive must be intact"
    );
    let names: Vec<String> = fs::read_dir(tmp.path())
        .expect("readdir")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".tmp")),
        "staging left behind: {names:?}"
    );
}

#[test]
fn unusable_destinations_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = podman_fixture("runc", "counter-zstd.tar.zst");
    let file = tmp.path().join("a-file");
    fs::write(&file, "x").expect("write");
    let out = run_s(&[
        "build",
        "--format",
        "json",
        s(&a),
        &format!("oci:{}", file.display()),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        json(&out)["error"]
            .as_str()
            .expect("e")
            .contains("not a directory")
    );
    assert_eq!(fs::read(&file).expect("read"), b"x");
    let nonempty = tmp.path().join("stuff");
    fs::create_dir(&nonempty).expect("mkdir");
    fs::write(nonempty.join("f"), "x").expect("write");
    let out = run_s(&[
        "build",
        "--format",
        "json",
        s(&a),
        &format!("oci:{}", nonempty.display()),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        json(&out)["error"]
            .as_str()
            .expect("e")
            .contains("not an OCI layout")
    );
    // Unwritable: /proc refuses new directories even for root.
    let out = run_s(&[
        "build",
        "--format",
        "json",
        s(&a),
        "oci:/proc/ckptimg-test/x",
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        json(&out)["error"]
            .as_str()
            .expect("e")
            .contains("/proc/ckptimg-test")
    );
    let out = run_s(&[
        "build",
        "--format",
        "json",
        s(&a),
        "oci-archive:/proc/ckptimg-test/x.tar",
    ]);
    assert_eq!(code(&out), 1);
    // docker-archive is refused as a usage error, with the reason.
    let out = run_s(&[
        "build",
        "--format",
        "json",
        s(&a),
        "docker-archive:/tmp/x.tar",
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        json(&out)["error"]
            .as_str()
            .expect("e")
            .contains("annotations")
    );
    // A missing archive names the file.
    let out = run_s(&[
        "build",
        "--format",
        "json",
        "/nonexistent/a.tar",
        "oci:/tmp/ckptimg-never",
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        json(&out)["error"]
            .as_str()
            .expect("e")
            .contains("/nonexistent/a.tar")
    );
    assert!(!Path::new("/tmp/ckptimg-never").exists());
}

// ---- real tools -------------------------------------------------------------

fn tool(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn built_layouts(tmp: &Path) -> Vec<(PathBuf, &'static str, &'static str)> {
    let mut v = Vec::new();
    for (engine, comp, out) in [
        (Engine::Podman, Comp::Zstd, "gzip"),
        (Engine::CriO, Comp::None, "gzip"),
        (Engine::Containerd, Comp::Gzip, "none"),
        (Engine::Podman, Comp::Gzip, "zstd"),
    ] {
        let a = engine_archive(tmp, engine, comp);
        let dir = tmp.join(format!("layout-{}-{out}", engine.id()));
        build_json(&[
            "--compression",
            out,
            s(&a),
            &format!("oci:{}:ckpt", dir.display()),
        ]);
        v.push((dir, engine.id(), out));
    }
    v
}

#[test]
fn skopeo_and_umoci_read_the_layouts() {
    if !have("skopeo") || !have("umoci") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    for (dir, engine, comp) in built_layouts(tmp.path()) {
        let r = format!("oci:{}:ckpt", dir.display());
        let raw: Value =
            serde_json::from_str(&tool(Command::new("skopeo").args(["inspect", "--raw", &r])))
                .expect("json");
        assert_eq!(
            raw["annotations"]["org.criu.checkpoint.container.name"], "counter",
            "{engine}"
        );
        let cfg: Value = serde_json::from_str(&tool(
            Command::new("skopeo").args(["inspect", "--config", "--raw", &r]),
        ))
        .expect("json");
        assert_eq!(cfg["architecture"], "amd64");
        tool(Command::new("umoci").args(["stat", "--image", &format!("{}:ckpt", dir.display())]));
        if comp == "zstd" {
            // Debian 12's umoci 0.4.6 predates zstd layers; skopeo above read it.
            continue;
        }
        // umoci unpack extracts the layer exactly as a runtime would.
        let bundle = tmp.path().join(format!("bundle-{engine}-{comp}"));
        tool(
            Command::new("umoci")
                .args(["unpack", "--image", &format!("{}:ckpt", dir.display())])
                .arg(&bundle),
        );
        assert!(bundle.join("rootfs/config.dump").is_file());
        assert!(bundle.join("rootfs/checkpoint/inventory.img").is_file());
    }
}

#[test]
fn skopeo_copies_into_a_throwaway_store_and_podman_sees_the_annotations() {
    if !have("skopeo") || !have("podman") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let store = TempStore::new("vfs");
    for (dir, engine, comp) in built_layouts(tmp.path()) {
        let name = format!("localhost/ckpt-{engine}-{comp}:latest");
        tool(Command::new("skopeo").args([
            "copy",
            &format!("oci:{}:ckpt", dir.display()),
            &format!(
                "containers-storage:[vfs@{}+{}]{name}",
                store.root().display(),
                store.runroot().display()
            ),
        ]));
        let inspect: Value =
            serde_json::from_str(&tool(store.podman().args(["image", "inspect", &name])))
                .expect("json");
        let ann = &inspect[0]["Annotations"];
        assert_eq!(
            ann["org.criu.checkpoint.container.name"], "counter",
            "{engine}: {inspect}"
        );
        if engine == "podman" {
            assert_eq!(ann["io.podman.annotations.checkpoint.runtime.name"], "runc");
        }
        if engine == "cri-o" {
            assert_eq!(
                ann["io.kubernetes.cri-o.annotations.checkpoint.name"],
                "counter"
            );
        }
    }
}

#[test]
fn podman_loads_the_oci_archive() {
    if !have("podman") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("ckpt.oci.tar");
    let j = build_json(&[
        s(&podman_fixture("runc", "counter-gzip.tar.gz")),
        &format!("oci-archive:{}:localhost/loaded:v1", file.display()),
    ]);
    assert!(file.is_file());
    assert!(
        tree(tmp.path()).keys().all(|k| !k.contains(".tmp")),
        "no staging left"
    );
    let store = TempStore::new("vfs");
    let out = tool(store.podman().args(["load", "-i"]).arg(&file));
    assert!(out.contains("localhost/loaded:v1"), "{out}");
    let inspect: Value = serde_json::from_str(&tool(store.podman().args([
        "image",
        "inspect",
        "localhost/loaded:v1",
    ])))
    .expect("json");
    assert_eq!(
        inspect[0]["Annotations"]["io.podman.annotations.checkpoint.runtime.name"],
        "runc"
    );
    assert_eq!(inspect[0]["Id"], j["image_id"]);
    // Our own reader agrees.
    let ours = json(&ok(run_s(&[
        "inspect",
        "--format",
        "json",
        &format!("oci-archive:{}:localhost/loaded:v1", file.display()),
    ])));
    assert_eq!(ours["image_id"], j["image_id"]);
    assert_eq!(ours["engine"], "podman");
}
