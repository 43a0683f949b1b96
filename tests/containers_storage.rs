//! containers-storage (issue #3): images written straight into throwaway overlay and vfs
//! stores must be seen and used by real Podman and skopeo — listed, inspected (with
//! annotations), saved in both archive formats, copied, mounted and removed — next to
//! images Podman made, under concurrency, across crashes, by a running API service; and
//! unsupported stores must be refused without a single byte changed.
//!
//! Every podman/skopeo call uses the store's own `--root/--runroot/--storage-driver` and a
//! private `storage.conf`; the host's default store is never touched.
mod common;
use common::*;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const DRIVERS: [&str; 2] = ["overlay", "vfs"];

/// A store with a `storage.conf` that names it (Podman 4.3 insists on one).
fn store(driver: &str) -> TempStore {
    let s = TempStore::new(driver);
    write_conf(&s, "storage.conf", "");
    s
}

fn write_conf(s: &TempStore, name: &str, extra: &str) -> PathBuf {
    let p = s.dir.path().join(name);
    fs::write(
        &p,
        format!(
            "[storage]\ndriver = \"{}\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n{extra}",
            s.driver,
            s.root().display(),
            s.runroot().display()
        ),
    )
    .expect("storage.conf");
    p
}

/// The binary, with the store's `storage.conf` (or `conf`).
fn tool(s: &TempStore, conf: Option<&Path>, args: &[&str]) -> Output {
    let conf = conf
        .map(Path::to_path_buf)
        .unwrap_or_else(|| s.dir.path().join("storage.conf"));
    Command::new(bin())
        .args(args)
        .env("CONTAINERS_STORAGE_CONF", conf)
        .env_remove("CHECKPOINTCTL_IMAGE_FAULT")
        .stdin(Stdio::null())
        .output()
        .expect("run checkpointctl-image")
}

fn build(s: &TempStore, archive: &Path, name: &str) -> Output {
    tool(
        s,
        None,
        &[
            "build",
            "--no-host-facts",
            "--format",
            "json",
            archive.to_str().expect("utf8"),
            &s.reference(name),
        ],
    )
}

fn podman(s: &TempStore, args: &[&str]) -> Output {
    s.podman().args(args).output().expect("podman")
}

fn podman_ok(s: &TempStore, args: &[&str]) -> String {
    let out = podman(s, args);
    assert!(
        out.status.success(),
        "podman {args:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `repo:tag` names `podman images` lists (dangling images as `<none>:<none>`).
fn image_names(s: &TempStore) -> Vec<String> {
    podman_ok(s, &["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn image_count(s: &TempStore) -> usize {
    podman_ok(s, &["images", "-q", "--no-trunc"])
        .lines()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn layers_json(s: &TempStore) -> Vec<serde_json::Value> {
    let p = s.root().join(format!("{}-layers/layers.json", s.driver));
    match fs::read(&p) {
        Ok(b) if !b.is_empty() => serde_json::from_slice(&b).expect("layers.json"),
        _ => Vec::new(),
    }
}

/// Layer directories the driver holds.
fn driver_layer_dirs(s: &TempStore) -> Vec<String> {
    let dir = match s.driver.as_str() {
        "overlay" => s.root().join("overlay"),
        _ => s.root().join("vfs/dir"),
    };
    let mut v: Vec<String> = fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64)
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every layer directory has a record and vice versa; no record is incomplete; no
/// tar-split file without a layer.
fn assert_store_consistent(s: &TempStore) {
    let layers = layers_json(s);
    let mut ids: Vec<String> = layers
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    for l in &layers {
        assert!(
            l.get("flags").and_then(|f| f.get("incomplete")).is_none(),
            "{l}"
        );
    }
    assert_eq!(driver_layer_dirs(s), ids, "driver dirs vs layers.json");
    let ldir = s.root().join(format!("{}-layers", s.driver));
    for e in fs::read_dir(&ldir)
        .expect("layers dir")
        .filter_map(|e| e.ok())
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if let Some(id) = n.strip_suffix(".tar-split.gz") {
            assert!(ids.iter().any(|i| i == id), "orphan tar-split {n}");
        }
        assert!(!n.starts_with(".tmp-"), "temp file left: {n}");
    }
    if s.driver == "overlay" {
        for e in fs::read_dir(s.root().join("overlay/l"))
            .expect("l")
            .filter_map(|e| e.ok())
        {
            let t = fs::read_link(e.path()).expect("link");
            assert!(
                fs::metadata(s.root().join("overlay/l").join(&t)).is_ok(),
                "dangling overlay link {:?} -> {t:?}",
                e.file_name()
            );
        }
    }
}

/// The decompressed bytes of an archive.
fn decompressed(p: &Path) -> Vec<u8> {
    let raw = fs::read(p).expect("archive");
    if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(&raw[..]).expect("zstd")
    } else if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gzip");
        out
    } else {
        raw
    }
}

fn walk(root: &Path, rel: &str, out: &mut Vec<String>) {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    for e in fs::read_dir(&dir).expect("read_dir").filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = e.file_type().expect("file type");
        out.push(r.clone());
        if ft.is_dir() {
            walk(root, &r, out);
        }
    }
}

/// Everything Podman and skopeo must do with a written image.
fn verify_image(s: &TempStore, name: &str, archive: &Path, annotations: &serde_json::Value) {
    let listed = image_names(s);
    assert!(listed.iter().any(|n| n == name), "{name} not in {listed:?}");
    let inspect: serde_json::Value =
        serde_json::from_str(&podman_ok(s, &["image", "inspect", name])).expect("inspect json");
    assert_eq!(&inspect[0]["Annotations"], annotations, "{name}");
    let tmp = tempfile::tempdir().expect("tmp");
    for format in ["oci-archive", "docker-archive"] {
        let out = tmp.path().join(format!("{format}.tar"));
        podman_ok(
            s,
            &[
                "save",
                "--format",
                format,
                "-o",
                out.to_str().expect("utf8"),
                name,
            ],
        );
    }
    let oci = format!("oci:{}", tmp.path().join("copy").display());
    let storage_ref = s.reference(name);
    let out = Command::new("skopeo")
        .args(["copy", &storage_ref, &oci])
        .env("CONTAINERS_STORAGE_CONF", s.dir.path().join("storage.conf"))
        .stdin(Stdio::null())
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mnt = podman_ok(s, &["image", "mount", name]).trim().to_string();
    let mut files = Vec::new();
    walk(Path::new(&mnt), "", &mut files);
    podman_ok(s, &["image", "unmount", name]);
    files.sort();
    // The archive's members plus the parent directories they imply.
    let mut members: std::collections::BTreeSet<String> =
        tar_paths(&decompressed(archive)).into_iter().collect();
    for m in members.clone() {
        let mut p = m.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            members.insert(parent.to_string());
            p = parent;
        }
    }
    let members: Vec<String> = members.into_iter().collect();
    assert_eq!(files, members, "{name}: mounted files vs archive members");
}

fn fixtures_list(tmp: &Path) -> Vec<(PathBuf, Option<&'static str>)> {
    vec![
        (podman_fixture("runc", "counter-zstd.tar.zst"), Some("runc")),
        (podman_fixture("crun", "counter-zstd.tar.zst"), Some("crun")),
        (podman_fixture("runc", "counter-gzip.tar.gz"), Some("runc")),
        (podman_fixture("runc", "counter-none.tar"), Some("runc")),
        (engine_archive(tmp, Engine::CriO, Comp::Zstd), None),
        (engine_archive(tmp, Engine::Containerd, Comp::Gzip), None),
    ]
}

#[test]
fn issue3_every_fixture_builds_into_overlay_and_vfs_and_podman_uses_it() {
    if !have("podman") || !have("skopeo") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    for driver in DRIVERS {
        let s = store(driver);
        for (i, (archive, runtime)) in fixtures_list(tmp.path()).into_iter().enumerate() {
            let name = format!("localhost/ckpt{i}:1");
            let j = json(&ok(build(&s, &archive, &format!("ckpt{i}:1"))));
            if let Some(rt) = runtime {
                assert_eq!(
                    j["annotations"]["io.podman.annotations.checkpoint.runtime.name"], rt,
                    "{driver} {archive:?}"
                );
            }
            assert_eq!(j["storage"]["names"][0], name);
            verify_image(&s, &name, &archive, &j["annotations"]);
            // inspect through read_image.
            let ins = json(&ok(tool(
                &s,
                None,
                &["inspect", &s.reference(&name), "--format", "json"],
            )));
            assert_eq!(ins["image_id"], j["image_id"], "{driver} {name}");
            assert_eq!(ins["manifest_digest"], j["manifest_digest"]);
        }
        assert_store_consistent(&s);
        for i in 0..6 {
            podman_ok(&s, &["rmi", &format!("localhost/ckpt{i}:1")]);
        }
        assert_eq!(image_count(&s), 0, "{driver}");
        assert!(
            layers_json(&s).is_empty(),
            "{driver}: rmi removed the layers"
        );
        assert!(driver_layer_dirs(&s).is_empty(), "{driver}");
    }
}

fn small_tar(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    write_archive(
        &p,
        &[Member::File("hello.txt".into(), 0o644, content.to_vec())],
        Comp::None,
    );
    p
}

#[test]
fn issue3_appending_keeps_existing_images_and_moves_names() {
    if !have("podman") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    for driver in DRIVERS {
        let s = store(driver);
        let t = small_tar(tmp.path(), "small.tar", b"imported\n");
        podman_ok(
            &s,
            &["import", t.to_str().expect("utf8"), "localhost/imported:1"],
        );
        let a = podman_fixture("runc", "counter-zstd.tar.zst");
        let b = engine_archive(tmp.path(), Engine::CriO, Comp::Zstd);
        let first = json(&ok(build(&s, &a, "ckpt:1")));
        podman_ok(&s, &["tag", "localhost/ckpt:1", "localhost/ckpt:keep"]);
        let second = json(&ok(build(&s, &b, "ckpt:1")));
        assert_ne!(first["image_id"], second["image_id"]);
        let names = image_names(&s);
        for n in [
            "localhost/imported:1",
            "localhost/ckpt:1",
            "localhost/ckpt:keep",
        ] {
            assert!(names.iter().any(|x| x == n), "{driver}: {n} in {names:?}");
        }
        // The name moved: ckpt:1 is the second image, the first keeps only ckpt:keep.
        let id_of = |n: &str| podman_ok(&s, &["image", "inspect", "--format", "{{.Id}}", n]);
        assert_eq!(
            id_of("localhost/ckpt:1").trim(),
            second["image_id"].as_str().expect("id")
        );
        assert_eq!(
            id_of("localhost/ckpt:keep").trim(),
            first["image_id"].as_str().expect("id")
        );
        // Moving the last name leaves the old image <none>, still present.
        let third = json(&ok(build(&s, &a, "ckpt:keep")));
        assert_eq!(
            third["image_id"], first["image_id"],
            "same archive, same image"
        );
        let c = engine_archive(tmp.path(), Engine::Containerd, Comp::Zstd);
        ok(build(&s, &c, "ckpt:1"));
        assert!(
            image_names(&s).iter().any(|n| n == "<none>:<none>"),
            "{driver}"
        );
        assert_eq!(image_count(&s), 4, "{driver}");
        for (i, n) in [
            "localhost/imported:1",
            "localhost/ckpt:1",
            "localhost/ckpt:keep",
        ]
        .into_iter()
        .enumerate()
        {
            let out = tmp.path().join(format!("{driver}-save{i}.tar"));
            podman_ok(&s, &["save", "-o", out.to_str().expect("utf8"), n]);
        }
        assert_store_consistent(&s);
    }
}

#[test]
fn issue3_rebuilding_the_same_archive_is_idempotent() {
    if !have("podman") {
        return;
    }
    for driver in DRIVERS {
        let s = store(driver);
        let a = podman_fixture("runc", "counter-none.tar");
        let one = json(&ok(build(&s, &a, "ckpt:1")));
        let two = json(&ok(build(&s, &a, "ckpt:1")));
        let three = json(&ok(build(&s, &a, "ckpt:2")));
        assert_eq!(one["image_id"], two["image_id"]);
        assert_eq!(one["image_id"], three["image_id"]);
        assert_eq!(
            three["storage"]["names"],
            serde_json::json!(["localhost/ckpt:1", "localhost/ckpt:2"])
        );
        assert_eq!(image_count(&s), 1, "{driver}");
        assert_eq!(layers_json(&s).len(), 1, "{driver}: the layer is reused");
        assert_store_consistent(&s);
        let out = s.dir.path().join("x.tar");
        podman_ok(
            &s,
            &[
                "save",
                "-o",
                out.to_str().expect("utf8"),
                "localhost/ckpt:2",
            ],
        );
    }
}

/// Kills the service (by its own pid) when the test ends, even on panic.
struct Service(std::process::Child);
impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn issue3_running_podman_service_sees_the_new_image() {
    if !have("podman") {
        return;
    }
    let s = store("overlay");
    let sock = s.dir.path().join("api.sock");
    let url = format!("unix://{}", sock.display());
    let child = s
        .podman()
        .args(["system", "service", "--time=0", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("service");
    let _svc = Service(child);
    let remote = |args: &[&str]| -> String {
        let out = Command::new("podman")
            .args(["--url", &url])
            .args(args)
            .env("CONTAINERS_CONF", "/dev/null")
            .stdin(Stdio::null())
            .output()
            .expect("podman --url");
        assert!(
            out.status.success(),
            "podman --url {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let start = std::time::Instant::now();
    while !sock.exists() && start.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let list = || remote(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!list().contains("localhost/ckpt"));
    ok(build(
        &s,
        &podman_fixture("runc", "counter-zstd.tar.zst"),
        "ckpt:1",
    ));
    assert!(
        list().contains("localhost/ckpt:1"),
        "service did not reload"
    );
    ok(build(
        &s,
        &podman_fixture("crun", "counter-zstd.tar.zst"),
        "ckpt:2",
    ));
    assert!(
        list().contains("localhost/ckpt:2"),
        "service did not reload"
    );
}

#[test]
fn issue3_concurrent_builds_and_podman_commands_lose_nothing() {
    if !have("podman") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    for driver in DRIVERS {
        let s = store(driver);
        let t1 = small_tar(tmp.path(), "a.tar", b"a\n");
        let t2 = small_tar(tmp.path(), "b.tar", b"b\n");
        let t3 = small_tar(tmp.path(), "c.tar", b"c\n");
        podman_ok(
            &s,
            &["import", t1.to_str().expect("utf8"), "localhost/pre:tagme"],
        );
        podman_ok(
            &s,
            &["import", t2.to_str().expect("utf8"), "localhost/pre:rmme"],
        );
        let archives = [
            podman_fixture("runc", "counter-zstd.tar.zst"),
            podman_fixture("crun", "counter-zstd.tar.zst"),
            engine_archive(tmp.path(), Engine::CriO, Comp::None),
            engine_archive(tmp.path(), Engine::Containerd, Comp::Zstd),
        ];
        std::thread::scope(|sc| {
            let mut handles = Vec::new();
            for (i, a) in archives.iter().enumerate() {
                let s = &s;
                handles.push(sc.spawn(move || {
                    ok(build(s, a, &format!("par{i}:1")));
                }));
            }
            let s = &s;
            let t3 = &t3;
            handles.push(sc.spawn(move || {
                podman_ok(
                    s,
                    &["import", t3.to_str().expect("utf8"), "localhost/imp:new"],
                );
            }));
            handles.push(sc.spawn(move || {
                podman_ok(s, &["tag", "localhost/pre:tagme", "localhost/pre:tagged"]);
            }));
            handles.push(sc.spawn(move || {
                podman_ok(s, &["rmi", "localhost/pre:rmme"]);
            }));
            for h in handles {
                h.join().expect("thread");
            }
        });
        let names = image_names(&s);
        let want = [
            "localhost/par0:1",
            "localhost/par1:1",
            "localhost/par2:1",
            "localhost/par3:1",
            "localhost/imp:new",
            "localhost/pre:tagme",
            "localhost/pre:tagged",
        ];
        for n in want {
            assert!(
                names.iter().any(|x| x == n),
                "{driver}: {n} lost: {names:?}"
            );
        }
        assert!(!names.iter().any(|x| x == "localhost/pre:rmme"), "{driver}");
        for (i, n) in want.into_iter().enumerate() {
            let out = tmp.path().join(format!("{driver}-save{i}.tar"));
            podman_ok(&s, &["save", "-o", out.to_str().expect("utf8"), n]);
        }
        assert_store_consistent(&s);
    }
}

#[test]
fn issue3_crash_at_each_fault_point_leaves_podman_working() {
    if !have("podman") {
        return;
    }
    let a = podman_fixture("runc", "counter-zstd.tar.zst");
    for driver in DRIVERS {
        for point in ["after-layer-record", "mid-extract", "before-image-record"] {
            let s = store(driver);
            let out = Command::new(bin())
                .args([
                    "build",
                    "--no-host-facts",
                    "--format",
                    "json",
                    a.to_str().expect("utf8"),
                    &s.reference("ckpt:1"),
                ])
                .env("CONTAINERS_STORAGE_CONF", s.dir.path().join("storage.conf"))
                .env("CHECKPOINTCTL_IMAGE_FAULT", point)
                .stdin(Stdio::null())
                .output()
                .expect("run");
            if out.status.success() {
                eprintln!("SKIPPED: fault injection needs a debug build of the binary");
                return;
            }
            assert_eq!(
                out.status.code(),
                None,
                "{driver} {point}: aborted by a signal"
            );
            // Podman opens the store, sees no image, and cleans incomplete layers up.
            assert!(
                !image_names(&s).iter().any(|n| n.contains("ckpt")),
                "{driver} {point}: partial image visible"
            );
            assert_eq!(image_count(&s), 0, "{driver} {point}");
            podman_ok(&s, &["images"]);
            if point != "before-image-record" {
                assert!(
                    layers_json(&s).is_empty(),
                    "{driver} {point}: {:?}",
                    layers_json(&s)
                );
            }
            // The next build succeeds and produces a usable image.
            let j = json(&ok(build(&s, &a, "ckpt:1")));
            assert!(image_names(&s).iter().any(|n| n == "localhost/ckpt:1"));
            let save = s.dir.path().join("save.tar");
            podman_ok(
                &s,
                &[
                    "save",
                    "-o",
                    save.to_str().expect("utf8"),
                    "localhost/ckpt:1",
                ],
            );
            assert_eq!(layers_json(&s).len(), 1, "{driver} {point}");
            assert!(j["image_id"].is_string());
            assert_store_consistent(&s);
        }
    }
}

/// Path → (mode, content) of everything under `root`.
fn snapshot(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    use std::os::unix::fs::MetadataExt;
    let mut files = Vec::new();
    walk(root, "", &mut files);
    files
        .into_iter()
        .map(|f| {
            let p = root.join(&f);
            let m = fs::symlink_metadata(&p).expect("meta");
            let content = if m.is_file() {
                fs::read(&p).expect("read")
            } else if m.file_type().is_symlink() {
                fs::read_link(&p)
                    .expect("link")
                    .to_string_lossy()
                    .into_owned()
                    .into_bytes()
            } else {
                Vec::new()
            };
            (f, (m.mode(), content))
        })
        .collect()
}

fn assert_refused(s: &TempStore, out: &Output, needle: &str) {
    assert_eq!(code(out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let msg = json(out)["error"].as_str().expect("error").to_string();
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    assert!(!msg.contains('\n'), "one line: {msg:?}");
    let _ = s;
}

#[test]
fn issue3_refused_configurations_change_nothing() {
    if !have("podman") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let a = podman_fixture("runc", "counter-zstd.tar.zst");
    let a = a.to_str().expect("utf8");
    for driver in DRIVERS {
        let s = store(driver);
        let t = small_tar(tmp.path(), "pre.tar", b"pre\n");
        podman_ok(
            &s,
            &["import", t.to_str().expect("utf8"), "localhost/pre:1"],
        );
        let before = snapshot(s.dir.path());

        let btrfs = format!(
            "containers-storage:[btrfs@{}+{}]ckpt:1",
            s.root().display(),
            s.runroot().display()
        );
        let out = tool(&s, None, &["build", "--format", "json", a, &btrfs]);
        assert_refused(&s, &out, "btrfs");

        for (file, extra, needle) in [
            (
                "imagestore.conf",
                "imagestore = \"/var/tmp/x\"\n",
                "imagestore",
            ),
            (
                "force.conf",
                "[storage.options.overlay]\nforce_mask = \"shared\"\n",
                "force_mask",
            ),
            (
                "remap.conf",
                "[storage.options]\nremap-uids = \"0:100000:65536\"\n",
                "remap-uids",
            ),
        ] {
            let conf = write_conf(&s, file, extra);
            let snap = snapshot(s.dir.path());
            let out = tool(
                &s,
                Some(&conf),
                &["build", "--format", "json", a, &s.reference("ckpt:1")],
            );
            assert_refused(&s, &out, needle);
            assert_refused(&s, &out, file);
            assert_eq!(
                snapshot(s.dir.path()),
                snap,
                "{driver} {file}: store changed"
            );
        }

        let now = snapshot(s.dir.path());
        let changed: Vec<_> = now
            .keys()
            .filter(|k| before.get(*k) != now.get(*k))
            .filter(|k| !k.ends_with(".conf"))
            .collect();
        assert!(changed.is_empty(), "{driver}: changed {changed:?}");

        // A corrupt images.json: refused, never rewritten.
        let images = s.root().join(format!("{driver}-images/images.json"));
        let mut data = fs::read(&images).expect("images.json");
        data.truncate(data.len() / 2);
        fs::write(&images, &data).expect("truncate");
        let snap = snapshot(s.dir.path());
        let out = tool(
            &s,
            None,
            &["build", "--format", "json", a, &s.reference("ckpt:1")],
        );
        assert_refused(&s, &out, "images.json");
        assert_eq!(
            snapshot(s.dir.path()),
            snap,
            "{driver}: corrupt store changed"
        );
    }
}

#[test]
fn issue3_truncated_archive_leaves_no_layer_behind() {
    if !have("podman") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let full = fs::read(podman_fixture("runc", "counter-zstd.tar.zst")).expect("fixture");
    let cut = tmp.path().join("cut.tar.zst");
    fs::write(&cut, &full[..full.len() / 2]).expect("write");
    for driver in DRIVERS {
        let s = store(driver);
        let out = build(&s, &cut, "ckpt:1");
        assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
        assert!(json(&out)["error"].is_string());
        assert!(
            layers_json(&s).is_empty(),
            "{driver}: {:?}",
            layers_json(&s)
        );
        assert!(driver_layer_dirs(&s).is_empty(), "{driver}");
        assert_store_consistent(&s);
        if driver == "overlay" {
            let links = fs::read_dir(s.root().join("overlay/l")).expect("l").count();
            assert_eq!(links, 0, "overlay link left behind");
        }
        assert_eq!(image_count(&s), 0);
        // The store still works for the next build.
        ok(build(
            &s,
            &podman_fixture("runc", "counter-zstd.tar.zst"),
            "ckpt:1",
        ));
        assert_store_consistent(&s);
    }
}

/// A non-root writer outside the engine's user namespace is refused before anything is
/// written (CONTAINERS-STORAGE.md §7), rather than failing half-way on chown.
#[test]
fn issue3_rootless_writer_is_refused_up_front() {
    if !common::have_root() || !common::have("setpriv") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("store");
    std::fs::create_dir(&root).expect("mkdir");
    // nobody must be able to reach the binary and the fixture.
    let archive = tmp.path().join("a.tar");
    std::fs::copy(common::podman_fixture("runc", "counter-none.tar"), &archive).expect("copy");
    let bin = tmp.path().join("checkpointctl-image");
    std::fs::copy(common::bin(), &bin).expect("copy bin");
    use std::os::unix::fs::PermissionsExt;
    for p in [tmp.path(), root.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["build", "--format", "json"])
        .arg(&archive)
        .arg(format!(
            "containers-storage:[vfs@{}+{}]x",
            root.join("g").display(),
            root.join("r").display()
        ))
        .env("HOME", tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = common::json(&out);
    assert!(
        j["error"]
            .as_str()
            .expect("error")
            .contains("podman unshare"),
        "{j}"
    );
    assert!(!root.join("g").exists(), "nothing written");
}
