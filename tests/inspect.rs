//! `inspect` on archives of every engine family and on images from every OCI transport:
//! JSON fields and the human summary.
mod common;

use common::*;

fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("utf8")
}

#[test]
fn archives_of_each_engine_family() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cases = [
        (Engine::Podman, "counter", None, "runc", None),
        (
            Engine::CriO,
            "counter",
            Some("counter-pod"),
            "runc",
            Some("3.19"),
        ),
        (
            Engine::Containerd,
            "counter",
            Some("counter-pod"),
            "io.containerd.runc.v2",
            Some("4.1.1"),
        ),
    ];
    for (engine, name, pod, runtime, criu) in cases {
        for comp in Comp::ALL {
            let a = engine_archive(tmp.path(), engine, comp);
            let j = json(&ok(run_s(&["inspect", "--format", "json", s(&a)])));
            assert_eq!(j["type"], "archive");
            assert_eq!(j["engine"], engine.id());
            assert_eq!(
                j["compression"],
                match comp {
                    Comp::None => "none",
                    Comp::Gzip => "gzip",
                    Comp::Zstd => "zstd",
                }
            );
            assert_eq!(j["container"]["name"], name, "{engine:?}");
            assert_eq!(j["pod"]["name"].as_str(), pod, "{engine:?}");
            assert_eq!(j["runtime"], runtime);
            assert_eq!(j["checkpoint_host"]["criu_version"].as_str(), criu);
            assert_eq!(
                j["checkpoint_host"]["arch"], "amd64",
                "from checkpoint/core-*.img"
            );
            assert_eq!(j["has_inventory"], true);
            assert!(j["members"].is_null(), "members only with --members");
            assert!(j["member_count"].as_u64().expect("count") > 20);
        }
    }
    // Podman's archives name the base image and runtime; the human summary says so.
    let out = ok(run_s(&[
        "inspect",
        s(&podman_fixture("runc", "counter-zstd.tar.zst")),
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "Checkpoint archive",
        "Podman",
        "counter",
        "localhost/busybox:lab",
        "runc",
        "zstd",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    let j = json(&ok(run_s(&[
        "inspect",
        "--members",
        "--format",
        "json",
        s(&podman_fixture("runc", "counter-none.tar")),
    ])));
    let members: Vec<&str> = j["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["path"].as_str().expect("p"))
        .collect();
    assert_eq!(members.first(), Some(&"artifacts"));
    assert!(members.contains(&"checkpoint/pages-1.img"));
    assert!(members.contains(&"volumes/labvol.tar"));
}

#[test]
fn images_from_oci_layouts_and_archives() {
    let tmp = tempfile::tempdir().expect("tmp");
    // Podman's own --create-image image.
    let podman = fixtures().join("podman-5.4.2/runc/cp-oci");
    let j = json(&ok(run_s(&[
        "inspect",
        "--format",
        "json",
        &format!("oci:{}:cp-runc", podman.display()),
    ])));
    assert_eq!(j["type"], "image");
    assert_eq!(j["checkpoint"], true);
    assert_eq!(j["engine"], "podman");
    assert_eq!(j["runtime"], "runc");
    assert_eq!(
        j["checkpoint_host"]["criu_version"], "4.1.1",
        "Podman's integer 40101 read back"
    );
    assert_eq!(j["checkpoint_host"]["cgroup_version"], "v1");
    assert_eq!(j["container"]["name"], "counter");

    // Ours, through oci-archive, with --index.
    let a = engine_archive(tmp.path(), Engine::CriO, Comp::Gzip);
    let file = tmp.path().join("crio.tar");
    ok(run_s(&[
        "build",
        "--index",
        s(&a),
        &format!("oci-archive:{}:crio", file.display()),
    ]));
    let j = json(&ok(run_s(&[
        "inspect",
        "--format",
        "json",
        &format!("oci-archive:{}", file.display()),
    ])));
    assert_eq!(j["engine"], "cri-o");
    assert_eq!(j["names"][0], "crio");
    assert_eq!(
        j["annotations"]["io.kubernetes.cri-o.annotations.checkpoint.name"],
        "counter"
    );
    assert_eq!(j["checkpoint_host"]["kernel"], "6.8.0-45-generic");
    let out = ok(run_s(&[
        "inspect",
        &format!("oci-archive:{}", file.display()),
    ]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Checkpoint image"));

    // Several images and no tag: a clear error.
    let dir = tmp.path().join("multi");
    ok(run_s(&[
        "build",
        s(&a),
        &format!("oci:{}:one", dir.display()),
    ]));
    ok(run_s(&[
        "build",
        s(&podman_fixture("runc", "counter-gzip.tar.gz")),
        &format!("oci:{}:two", dir.display()),
    ]));
    let out = run_s(&[
        "inspect",
        "--format",
        "json",
        &format!("oci:{}", dir.display()),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        json(&out)["error"]
            .as_str()
            .expect("e")
            .contains("name one with :REF")
    );
    let out = run_s(&[
        "inspect",
        "--format",
        "json",
        &format!("oci:{}:nope", dir.display()),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        json(&out)["error"]
            .as_str()
            .expect("e")
            .contains("no image tagged \"nope\"")
    );
}

#[test]
fn unreadable_sources() {
    let out = run_s(&["inspect", "--format", "json", "/nonexistent/x.tar"]);
    assert_eq!(code(&out), 1);
    assert!(
        json(&out)["error"]
            .as_str()
            .expect("e")
            .contains("/nonexistent/x.tar")
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let out = run_s(&["inspect", "--format", "json", s(tmp.path())]);
    assert_eq!(
        code(&out),
        2,
        "a directory is a usage error pointing at oci:"
    );
    assert!(json(&out)["error"].as_str().expect("e").contains("oci:"));
}
