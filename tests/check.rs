//! `check` end to end: the binary on real Podman archives, on images `build` made from
//! them (oci:, oci-archive:), on Podman's own image, on generated CRI-O and containerd
//! archives, with a faked host (every fact given on the command line) so that verdicts do
//! not depend on this machine; plus one structure-only run against the real host.
mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// The lab host that made the fixtures: it can restore them.
const LAB_HOST: &[&str] = &[
    "--criu-version",
    "4.1.1",
    "--arch",
    "amd64",
    "--kernel",
    "6.18.44",
    "--cgroup-version",
    "v1",
    "--runtime",
    "runc",
];

/// The lab host's options, with those in `extra` (option, value pairs) replacing them.
fn host_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = Vec::new();
    for pair in LAB_HOST.chunks(2) {
        if !extra.contains(&pair[0]) {
            a.extend_from_slice(pair);
        }
    }
    a.extend_from_slice(extra);
    a
}

/// `check --format json [lab host overridden by extra] SOURCE`.
fn check(source: &str, extra: &[&str]) -> Output {
    let mut a = vec!["check", "--format", "json"];
    a.extend(host_args(extra));
    a.push(source);
    run_s(&a)
}

fn verdict<'a>(j: &'a Value, name: &str) -> &'a str {
    j["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .and_then(|c| c["verdict"].as_str())
        .unwrap_or_else(|| panic!("no check {name} in {j}"))
}

fn failing(j: &Value) -> Vec<String> {
    j["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Exit 0, compatible.
fn assert_compatible(source: &str, extra: &[&str]) -> Value {
    let out = check(source, extra);
    let j = json(&out);
    assert_eq!(code(&out), 0, "{source} {extra:?}: {j:#}");
    assert_eq!(j["compatible"], true, "{source}");
    assert!(failing(&j).is_empty(), "{source}: {j:#}");
    j
}

/// Exit 3, report printed, exactly `names` failing.
fn assert_incompatible(source: &str, extra: &[&str], names: &[&str]) -> Value {
    let out = check(source, extra);
    let j = json(&out);
    assert_eq!(code(&out), 3, "{source} {extra:?}: {j:#}");
    assert_eq!(j["compatible"], false);
    assert_eq!(failing(&j), names, "{source} {extra:?}: {j:#}");
    j
}

fn podman_archives() -> Vec<PathBuf> {
    [
        "counter-none.tar",
        "counter-gzip.tar.gz",
        "counter-zstd.tar.zst",
        "counter-ignore-rootfs-volumes.tar.zst",
    ]
    .iter()
    .map(|n| podman_fixture("runc", n))
    .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `build --no-host-facts ARCHIVE DEST`.
fn build(archive: &Path, dest: &str) {
    ok(run_s(&["build", "--no-host-facts", s(archive), dest]));
}

/// Every Podman source: the archives, oci: and oci-archive: images built from one, and
/// Podman's own `--create-image` image copied to an OCI layout.
fn podman_sources(tmp: &Path) -> Vec<String> {
    let mut v: Vec<String> = podman_archives().iter().map(|p| s(p).to_string()).collect();
    let zstd = podman_fixture("runc", "counter-zstd.tar.zst");
    let layout = format!("oci:{}/layout:cp", tmp.display());
    build(&zstd, &layout);
    let oci_archive = format!("oci-archive:{}/cp.tar:cp", tmp.display());
    build(&zstd, &oci_archive);
    v.push(layout);
    v.push(oci_archive);
    v.push(format!(
        "oci:{}:cp-runc",
        s(&podman_fixture("runc", "cp-oci"))
    ));
    v
}

#[test]
fn lab_host_can_restore_every_podman_source() {
    let tmp = tempfile::tempdir().expect("tmp");
    for src in podman_sources(tmp.path()) {
        let j = assert_compatible(&src, &[]);
        assert_eq!(j["engine"], "podman", "{src}");
        assert_eq!(j["checkpoint"]["runtime"], "runc", "{src}");
        assert_eq!(j["checkpoint"]["arch"], "amd64", "{src}");
        assert_eq!(j["host"]["criu_version_int"], 40101, "{src}");
        for name in ["criu", "arch", "runtime", "engine", "cgroup"] {
            assert_eq!(verdict(&j, name), "ok", "{src} {name}: {j:#}");
        }
        let names: Vec<&str> = j["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "criu",
                "arch",
                "runtime",
                "engine",
                "kernel",
                "cgroup",
                "distribution"
            ]
        );
        for c in j["checks"].as_array().expect("checks") {
            for key in ["name", "verdict", "checkpoint", "host", "reason"] {
                assert!(c.get(key).is_some(), "{src}: {key} missing in {c}");
            }
        }
    }
}

#[test]
fn podman_image_annotations_are_read() {
    // Podman's own image records every host fact, in its integer CRIU spelling.
    let src = format!("oci:{}:cp-runc", s(&podman_fixture("runc", "cp-oci")));
    let j = assert_compatible(&src, &[]);
    let cp = &j["checkpoint"];
    assert_eq!(cp["criu_version"], "4.1.1");
    assert_eq!(cp["kernel"], "6.18.44-fc-v595");
    assert_eq!(cp["cgroup_version"], "v1");
    assert_eq!(cp["distribution_name"], "debian");
    assert_eq!(verdict(&j, "kernel"), "ok");
    // The same kernel with another suffix is not older.
    assert_compatible(&src, &["--kernel", "6.18.44-fc-v769"]);
    // An older kernel warns but stays compatible.
    let j = assert_compatible(&src, &["--kernel", "6.8.0-45-generic"]);
    assert_eq!(verdict(&j, "kernel"), "warn");
    // Another cgroup version warns.
    let j = assert_compatible(&src, &["--cgroup-version", "v2"]);
    assert_eq!(verdict(&j, "cgroup"), "warn");
    // CRIU older than the one that wrote the checkpoint fails, both spellings.
    for v in ["4.1", "40100"] {
        let j = assert_incompatible(&src, &["--criu-version", v], &["criu"]);
        let reason = j["checks"][0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("wrote the checkpoint"), "{reason}");
    }
}

#[test]
fn other_runtime_fails_for_podman_checkpoints() {
    let tmp = tempfile::tempdir().expect("tmp");
    for src in podman_sources(tmp.path()) {
        let j = assert_incompatible(&src, &["--runtime", "crun"], &["runtime"]);
        assert_eq!(verdict(&j, "runtime"), "fail");
        assert_eq!(j["host"]["runtime"], "crun");
    }
}

#[test]
fn old_criu_fails() {
    let tmp = tempfile::tempdir().expect("tmp");
    for src in podman_sources(tmp.path()) {
        for v in ["3.17", "31700", "3.17.1"] {
            let j = assert_incompatible(&src, &["--criu-version", v], &["criu"]);
            let reason = j["checks"][0]["reason"].as_str().unwrap_or_default();
            // Either the 6.13+/4.1 rule, or (for images recording 4.1.1) the checkpoint's CRIU.
            assert!(
                reason.contains("vvar_vclock") || reason.contains("wrote the checkpoint"),
                "{src}: {reason}"
            );
        }
    }
    // On an older kernel 3.17 is enough for a Podman archive that does not record its CRIU.
    let archive = podman_fixture("runc", "counter-none.tar");
    assert_compatible(
        s(&archive),
        &["--criu-version", "3.17", "--kernel", "6.1.0-28-amd64"],
    );
    // And the 6.13 rule applies to the kernel, whatever its suffix.
    let j = assert_incompatible(
        s(&archive),
        &["--criu-version", "3.19", "--kernel", "6.13.0-1-generic"],
        &["criu"],
    );
    let reason = j["checks"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("vDSO"), "{reason}");
    // Below Podman's minimum.
    let j = assert_incompatible(
        s(&archive),
        &[
            "--criu-version",
            "3.10",
            "--kernel",
            "5.14.0-427.el9.x86_64",
        ],
        &["criu"],
    );
    assert!(
        j["checks"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("3.11")
    );
}

#[test]
fn other_arch_fails() {
    let tmp = tempfile::tempdir().expect("tmp");
    for src in podman_sources(tmp.path()) {
        let j = assert_incompatible(&src, &["--arch", "arm64"], &["arch"]);
        assert_eq!(j["host"]["arch"], "arm64");
    }
}

#[test]
fn cross_engine_restore_fails() {
    let tmp = tempfile::tempdir().expect("tmp");
    for src in podman_sources(tmp.path()) {
        let j = assert_incompatible(&src, &["--engine", "cri-o"], &["engine"]);
        assert_eq!(j["restore_engine"], "cri-o");
        assert_compatible(&src, &["--engine", "podman"]);
    }
    let archive = podman_fixture("runc", "counter-gzip.tar.gz");
    let j = assert_incompatible(s(&archive), &["--engine", "containerd"], &["engine"]);
    let reason = j["checks"][3]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("status.dump"), "{reason}");
}

#[test]
fn text_report_and_exit_codes() {
    let archive = podman_fixture("runc", "counter-zstd.tar.zst");
    let mut a = vec!["check"];
    a.extend_from_slice(LAB_HOST);
    a.push(s(&archive));
    let out = ok(run_s(&a));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("Podman checkpoint "), "{text}");
    assert!(text.contains("CHECK"), "{text}");
    assert!(text.contains("\narch "), "{text}");
    assert!(text.contains("Compatible"), "{text}");
    let mut a = vec!["check"];
    a.extend(host_args(&["--runtime", "crun"]));
    a.push(s(&archive));
    let out = run_s(&a);
    assert_eq!(code(&out), 3);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NOT compatible: runtime failed"), "{text}");
}

#[test]
fn crio_archive_facts_come_from_dump_log() {
    let tmp = tempfile::tempdir().expect("tmp");
    for comp in Comp::ALL {
        let a = engine_archive(tmp.path(), Engine::CriO, comp);
        let j = assert_compatible(s(&a), &[]);
        assert_eq!(j["engine"], "cri-o");
        let cp = &j["checkpoint"];
        assert_eq!(cp["criu_version"], "3.19");
        assert_eq!(cp["criu_version_int"], 31900);
        assert_eq!(cp["kernel"], "6.8.0-45-generic");
        assert_eq!(cp["arch"], "amd64");
        assert_eq!(verdict(&j, "kernel"), "ok");
        assert_eq!(verdict(&j, "runtime"), "ok");
    }
    let a = engine_archive(tmp.path(), Engine::CriO, Comp::None);
    // CRI-O's minimum is 3.16; this checkpoint needs 3.19.
    assert_incompatible(
        s(&a),
        &["--criu-version", "3.18", "--kernel", "6.8.0"],
        &["criu"],
    );
    assert_compatible(s(&a), &["--criu-version", "31900", "--kernel", "6.8.0"]);
    // Kernel older than 6.8.0-45-generic: warn only.
    let j = assert_compatible(s(&a), &["--kernel", "6.1.0-28-amd64"]);
    assert_eq!(verdict(&j, "kernel"), "warn");
    // crun is not the recorded handler runc: CRI-O does not compare, so only a warning.
    let j = assert_compatible(s(&a), &["--runtime", "crun"]);
    assert_eq!(verdict(&j, "runtime"), "warn");
    assert_incompatible(s(&a), &["--engine", "podman"], &["engine"]);
    assert_compatible(s(&a), &["--engine", "crio"]);
    // The facts survive build → oci: annotations.
    let dest = format!("oci:{}/crio:cp", tmp.path().display());
    build(&a, &dest);
    let j = assert_compatible(&dest, &[]);
    assert_eq!(j["engine"], "cri-o");
    assert_eq!(j["checkpoint"]["criu_version_int"], 31900);
    assert_eq!(j["checkpoint"]["kernel"], "6.8.0-45-generic");
}

#[test]
fn containerd_archive_facts_come_from_dump_log() {
    let tmp = tempfile::tempdir().expect("tmp");
    for comp in Comp::ALL {
        let a = engine_archive(tmp.path(), Engine::Containerd, comp);
        let j = assert_compatible(s(&a), &[]);
        assert_eq!(j["engine"], "containerd");
        let cp = &j["checkpoint"];
        assert_eq!(cp["criu_version"], "4.1.1");
        assert_eq!(cp["kernel"], "6.12.0-55.el10.x86_64");
        assert_eq!(cp["runtime"], "io.containerd.runc.v2");
        // The handler io.containerd.runc.v2 runs runc.
        assert_eq!(verdict(&j, "runtime"), "ok");
    }
    let a = engine_archive(tmp.path(), Engine::Containerd, Comp::Gzip);
    assert_incompatible(s(&a), &["--criu-version", "4.1"], &["criu"]);
    let j = assert_compatible(s(&a), &["--kernel", "5.14.0-427.el9.x86_64"]);
    assert_eq!(verdict(&j, "kernel"), "warn");
    assert_incompatible(s(&a), &["--engine", "cri-o"], &["engine"]);
    assert_incompatible(s(&a), &["--arch", "arm64"], &["arch"]);
    let dest = format!("oci-archive:{}/ctrd.tar", tmp.path().display());
    build(&a, &dest);
    let j = assert_compatible(&dest, &[]);
    assert_eq!(j["engine"], "containerd");
    assert_eq!(j["checkpoint"]["criu_version_int"], 40101);
}

#[test]
fn errors_and_usage() {
    // A source that does not exist: exit 1, one JSON error document.
    let out = check("/nonexistent/ckpt.tar", &[]);
    assert_eq!(code(&out), 1);
    assert!(json(&out)["error"].as_str().is_some_and(|e| !e.is_empty()));
    // A file that is not a checkpoint archive.
    let tmp = tempfile::tempdir().expect("tmp");
    let junk = tmp.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar at all, not even close").expect("write");
    let out = check(s(&junk), &[]);
    assert_eq!(code(&out), 1);
    assert!(json(&out).get("error").is_some());
    // A tar without config.dump.
    let bare = tmp.path().join("bare.tar");
    write_archive(
        &bare,
        &[Member::File("x".into(), 0o644, b"x".to_vec())],
        Comp::None,
    );
    let out = check(s(&bare), &[]);
    assert_eq!(code(&out), 1);
    assert!(
        json(&out)["error"]
            .as_str()
            .is_some_and(|e| e.contains("config.dump")),
        "{}",
        json(&out)
    );
    // A missing OCI layout.
    let out = check(&format!("oci:{}/none:x", tmp.path().display()), &[]);
    assert_eq!(code(&out), 1);
    assert!(json(&out).get("error").is_some());
    // Bad option values: exit 2.
    let archive = podman_fixture("runc", "counter-none.tar");
    for bad in [
        &["--cgroup-version", "x"][..],
        &["--engine", "docker"],
        &["--criu-version", "latest"],
        &["--kernel", "linux"],
    ] {
        let mut a = vec!["check", "--format", "json"];
        a.extend_from_slice(bad);
        a.push(s(&archive));
        let out = run_s(&a);
        assert_eq!(code(&out), 2, "{bad:?}");
        assert!(json(&out)["error"].as_str().is_some(), "{bad:?}");
    }
    // Refused transport: usage.
    let out = run_s(&["check", "docker-archive:/x.tar"]);
    assert_eq!(code(&out), 2);
}

/// A fake `criu` that answers `--version` and `check` and logs how it was called.
fn fake_criu(dir: &Path, version: &str, check_ok: bool) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("criu.log");
    let path = dir.join("criu");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{log}'\ncase \"$1\" in\n--version) echo 'Version: {version}' ;;\ncheck) {check} ;;\n*) exit 1 ;;\nesac\n",
        log = log.display(),
        check = if check_ok {
            "echo 'Looks good.'"
        } else {
            "echo 'Error (criu/cr-check.c:1): CRIU needs to have the CAP_SYS_ADMIN' >&2; exit 1"
        }
    );
    std::fs::write(&path, script).expect("write fake criu");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (path, log)
}

/// The lab host without `--criu-version`: CRIU is asked.
fn check_with_criu(source: &str, criu: &Path, extra: &[&str]) -> Output {
    let mut a = vec![
        "check",
        "--format",
        "json",
        "--arch",
        "amd64",
        "--kernel",
        "6.18.44",
        "--cgroup-version",
        "v1",
        "--runtime",
        "runc",
        "--criu",
        s(criu),
    ];
    a.extend_from_slice(extra);
    a.push(source);
    run_s(&a)
}

#[test]
fn criu_is_probed_and_criu_check_runs_only_when_asked() {
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = podman_fixture("runc", "counter-zstd.tar.zst");
    let (criu, log) = fake_criu(tmp.path(), "4.1.1", true);
    let out = check_with_criu(s(&archive), &criu, &[]);
    let j = json(&out);
    assert_eq!(code(&out), 0, "{j:#}");
    assert_eq!(j["host"]["criu_version"], "4.1.1");
    assert_eq!(j["host"]["criu_path"], s(&criu));
    assert!(
        j["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| c["name"] != "criu_check")
    );
    let calls = std::fs::read_to_string(&log).expect("log");
    assert_eq!(
        calls.trim(),
        "--version",
        "criu check must not run unless asked"
    );

    let out = check_with_criu(s(&archive), &criu, &["--criu-check"]);
    let j = json(&out);
    assert_eq!(code(&out), 0, "{j:#}");
    assert_eq!(verdict(&j, "criu_check"), "ok");
    assert!(
        std::fs::read_to_string(&log)
            .expect("log")
            .contains("check")
    );

    // --criu-version given: CRIU is not asked for its version.
    std::fs::remove_file(&log).expect("rm log");
    let out = check_with_criu(s(&archive), &criu, &["--criu-version", "4.2"]);
    assert_eq!(code(&out), 0);
    assert_eq!(json(&out)["host"]["criu_version"], "4.2");
    assert!(
        !log.exists(),
        "criu was run although --criu-version was given"
    );

    // criu check fails: incompatible, named.
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).expect("mkdir");
    let (criu, _) = fake_criu(&bad, "4.1.1", false);
    let out = check_with_criu(s(&archive), &criu, &["--criu-check"]);
    let j = json(&out);
    assert_eq!(code(&out), 3, "{j:#}");
    assert_eq!(failing(&j), ["criu_check"]);

    // An old CRIU found by probing: the 6.13 rule.
    let old = tmp.path().join("old");
    std::fs::create_dir(&old).expect("mkdir");
    let (criu, _) = fake_criu(&old, "3.17.1", true);
    let out = check_with_criu(s(&archive), &criu, &[]);
    assert_eq!(code(&out), 3);
    assert_eq!(failing(&json(&out)), ["criu"]);

    // A CRIU that cannot be asked: unknown, not a failure.
    let out = check_with_criu(s(&archive), &tmp.path().join("missing-criu"), &[]);
    let j = json(&out);
    assert_eq!(verdict(&j, "criu"), "unknown", "{j:#}");
    assert_eq!(code(&out), 0);
}

#[test]
fn this_host_report_has_the_contract_shape() {
    // No overrides: the verdicts depend on this machine, so only the shape is asserted.
    let archive = podman_fixture("runc", "counter-zstd.tar.zst");
    for source in [
        s(&archive).to_string(),
        format!("oci:{}:cp-runc", s(&podman_fixture("runc", "cp-oci"))),
    ] {
        let out = run_s(&["check", "--format", "json", &source]);
        let j = json(&out);
        let c = code(&out);
        assert!(c == 0 || c == 3, "exit {c}: {j:#}");
        assert_eq!(j["compatible"], c == 0);
        assert_eq!(j["engine"], "podman");
        assert!(j["source"].is_string());
        assert!(j["host"].is_object() && j["checkpoint"].is_object());
        let checks = j["checks"].as_array().expect("checks");
        assert!(checks.len() >= 7);
        for ch in checks {
            assert!(
                ["ok", "warn", "fail", "unknown"].contains(&ch["verdict"].as_str().unwrap_or("")),
                "{ch}"
            );
            assert!(ch["reason"].as_str().is_some_and(|r| !r.is_empty()));
        }
        assert_eq!(j["compatible"], failing(&j).is_empty());
        // This host's own facts are probed.
        assert!(j["host"]["arch"].is_string());
        assert!(j["host"]["kernel"].is_string());
        // Text mode too.
        let out = run_s(&["check", &source]);
        assert_eq!(code(&out), c);
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn containers_storage_source() {
    if !have("skopeo") {
        return;
    }
    let store = TempStore::new("vfs");
    let cp = format!("oci:{}:cp-runc", s(&podman_fixture("runc", "cp-oci")));
    let dest = store.reference("localhost/cp:runc");
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--quiet", &cp, &dest])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check(&dest, &[]);
    let j = json(&out);
    assert_eq!(code(&out), 0, "{j:#}");
    assert_eq!(j["engine"], "podman");
    assert_eq!(j["checkpoint"]["criu_version_int"], 40101);
    assert_incompatible(&dest, &["--runtime", "crun"], &["runtime"]);
    // The --root/--runroot/--storage-driver form of the same store.
    let root = store.root();
    let runroot = store.runroot();
    let out = check(
        "localhost/cp:runc",
        &[
            "--root",
            s(&root),
            "--runroot",
            s(&runroot),
            "--storage-driver",
            "vfs",
        ],
    );
    assert_eq!(code(&out), 0, "{}", json(&out));
}

#[test]
fn build_check_reports_on_the_built_image() {
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = podman_fixture("runc", "counter-gzip.tar.gz");
    // A fake CRIU new enough for any kernel: the criu verdict no longer depends on this host.
    let (criu, _) = fake_criu(tmp.path(), "4.1.1", true);
    let dest = format!("oci:{}/built:cp", tmp.path().display());
    let out = run_s(&[
        "build",
        "--format",
        "json",
        "--check",
        "--criu",
        s(&criu),
        s(&archive),
        &dest,
    ]);
    let j = json(&out);
    let c = code(&out);
    assert!(c == 0 || c == 3, "exit {c}: {j:#}");
    let rep = &j["check"];
    assert_eq!(rep["compatible"], c == 0, "{j:#}");
    assert_eq!(rep["engine"], "podman");
    assert_eq!(rep["host"]["criu_version"], "4.1.1");
    assert_eq!(verdict(rep, "criu"), "ok", "{rep:#}");
    // Built here, checked here: the architecture is this host's.
    assert_eq!(verdict(rep, "arch"), "ok", "{rep:#}");
    // The text form carries the table after the build summary.
    let out = run_s(&[
        "build",
        "--check",
        "--criu",
        s(&criu),
        s(&archive),
        &format!("oci:{}/built2:cp", tmp.path().display()),
    ]);
    assert_eq!(code(&out), c);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CHECK") && text.contains("criu"), "{text}");
}
