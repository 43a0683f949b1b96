//! The command-line contract as engines and packagers see it: every option documented in
//! the man pages, `version`/`--version`, the checkpointctl plugin protocol, exit codes for
//! usage errors, non-UTF-8 paths and the `{"error": …}` document.
//!
//! Runs the binary from `common::bin()`, so `CHECKPOINTCTL_IMAGE=/usr/libexec/checkpointctl/checkpointctl-image`
//! checks an installed package.
mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use checkpointctl_image::cli::Cli;
use clap::CommandFactory;
use common::*;

fn man_page(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("man")
        .join(format!("{name}.1.md"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("man page {}: {e}", p.display()))
}

/// Long options of `cmd` itself (clap's own --help/--version excluded: documented by hand).
fn long_options(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help" && *l != "version")
        .map(str::to_string)
        .collect()
}

/// A documented option is written `**--name**` (go-md2man bold), so `--compression` is not
/// satisfied by `--compression-level`.
fn documented(page: &str, long: &str) -> bool {
    page.contains(&format!("**--{long}**"))
}

#[test]
fn every_global_option_is_in_the_main_man_page() {
    let cmd = Cli::command();
    let page = man_page("checkpointctl-image");
    let missing: Vec<_> = long_options(&cmd)
        .into_iter()
        .filter(|l| !documented(&page, l))
        .collect();
    assert!(
        missing.is_empty(),
        "man/checkpointctl-image.1.md lacks {missing:?}"
    );
}

#[test]
fn every_subcommand_and_option_is_in_its_man_page() {
    let cmd = Cli::command();
    let main = man_page("checkpointctl-image");
    let globals: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| a.get_long())
        .map(str::to_string)
        .collect();
    let mut missing = Vec::new();
    let mut seen = 0;
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        let page_name = format!("checkpointctl-image-{name}");
        seen += 1;
        assert!(
            main.contains(&format!("{page_name}(1)")),
            "the main page does not list {page_name}(1)"
        );
        let page = man_page(&page_name);
        assert!(
            page.starts_with(&format!("% {page_name} 1")),
            "{page_name}.1.md: wrong go-md2man title line"
        );
        for section in [
            "## NAME",
            "## SYNOPSIS",
            "## DESCRIPTION",
            "## OPTIONS",
            "## OUTPUT",
            "## EXIT STATUS",
            "## EXAMPLES",
            "## SEE ALSO",
        ] {
            assert!(page.contains(section), "{page_name}.1.md lacks {section}");
        }
        for long in long_options(sub).into_iter().chain(globals.iter().cloned()) {
            if !documented(&page, &long) {
                missing.push(format!("{page_name}: --{long}"));
            }
        }
        for pos in sub.get_positionals() {
            for v in pos.get_value_names().unwrap_or_default() {
                if !page.contains(v.as_str()) {
                    missing.push(format!("{page_name}: {v}"));
                }
            }
        }
    }
    assert_eq!(seen, 4, "build, check, inspect, version");
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}

#[test]
fn man_pages_document_exit_codes_environment_and_see_also() {
    let main = man_page("checkpointctl-image");
    for needle in [
        "RUST_LOG",
        "CONTAINERS_STORAGE_CONF",
        "CONTAINERS_CONF",
        "SOURCE_DATE_EPOCH",
        "CHECKPOINTCTL_IMAGE",
        "**checkpointctl**(1)",
        "**podman-container-checkpoint**(1)",
        "**criu**(8)",
        "| 42 |",
        "| 3  |",
        "docker-archive:",
    ] {
        assert!(main.contains(needle), "main page lacks {needle}");
    }
}

#[test]
fn version_json_has_the_documented_keys() {
    let out = ok(run_s(&["version", "--format", "json"]));
    let j = json(&out);
    for key in ["version", "commit", "api_version", "target"] {
        assert!(j[key].is_string(), "version output lacks {key}: {j}");
    }
    assert_eq!(j["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["api_version"], checkpointctl_image::API_VERSION);
    assert!(out.stderr.is_empty(), "no logs by default");
}

#[test]
fn version_flag_prints_text() {
    let out = ok(run_s(&["--version"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("checkpointctl-image {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn plugin_description_is_one_line_and_exits_42() {
    let out = run_s(&["--plugin-description"]);
    assert_eq!(code(&out), 42);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(text.ends_with('\n') && text.trim().len() > 10, "{text:?}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["build"][..],
        &["build", "only-one-arg"],
        &["check"],
        &["inspect"],
        &["build", "--compression", "brotli", "a", "oci:/tmp/x"],
        &["frobnicate"],
    ] {
        let out = run_s(args);
        assert_eq!(code(&out), 2, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: usage goes to stderr");
    }
}

#[test]
fn unknown_flag_exits_2_and_names_it() {
    for args in [&["--bogus"][..], &["build", "--bogus", "a", "oci:/tmp/x"]] {
        let out = run_s(args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--bogus"),
            "{args:?}: {out:?}"
        );
    }
}

#[test]
fn non_utf8_oci_path_works() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut dir = tmp.path().as_os_str().as_bytes().to_vec();
    dir.extend_from_slice(b"/layout-\xff\xfe");
    let mut dest = b"oci:".to_vec();
    dest.extend_from_slice(&dir);
    dest.extend_from_slice(b":ckpt");
    let archive = podman_fixture("runc", "counter-zstd.tar.zst");
    let out = ok(run(&[
        OsStr::new("build"),
        OsStr::new("--no-host-facts"),
        OsStr::new("--format"),
        OsStr::new("json"),
        archive.as_os_str(),
        OsStr::from_bytes(&dest),
    ]));
    let j = json(&out);
    assert_eq!(j["engine"], "podman");
    let layout = Path::new(OsStr::from_bytes(&dir));
    assert!(layout.join("index.json").is_file());
    assert!(layout.join("oci-layout").is_file());
    // And it reads back through the same non-UTF-8 path.
    let mut src = b"oci:".to_vec();
    src.extend_from_slice(&dir);
    src.extend_from_slice(b":ckpt");
    let out = ok(run(&[
        OsStr::new("inspect"),
        OsStr::new("--format"),
        OsStr::new("json"),
        OsStr::from_bytes(&src),
    ]));
    assert_eq!(json(&out)["checkpoint"], true);
}

#[test]
fn docker_archive_is_refused_with_the_reason() {
    let archive = podman_fixture("runc", "counter-zstd.tar.zst");
    let tmp = tempfile::tempdir().expect("tmp");
    let dest = format!("docker-archive:{}/x.tar", tmp.path().display());
    let out = run(&[OsStr::new("build"), archive.as_os_str(), OsStr::new(&dest)]);
    assert_eq!(code(&out), 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("annotations"),
        "{out:?}"
    );
    assert!(!tmp.path().join("x.tar").exists());
}

#[test]
fn json_errors_are_exactly_one_error_object() {
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = podman_fixture("runc", "counter-zstd.tar.zst");
    let missing = tmp.path().join("no-such-archive.tar");
    let dest = format!("oci:{}/l", tmp.path().display());
    let docker = format!("docker-archive:{}/x.tar", tmp.path().display());
    let cases: [(Vec<&OsStr>, i32); 3] = [
        (
            vec![
                OsStr::new("build"),
                OsStr::new("--format"),
                OsStr::new("json"),
                missing.as_os_str(),
                OsStr::new(&dest),
            ],
            1,
        ),
        (
            vec![
                OsStr::new("build"),
                OsStr::new("--format"),
                OsStr::new("json"),
                archive.as_os_str(),
                OsStr::new(&docker),
            ],
            2,
        ),
        (
            vec![
                OsStr::new("inspect"),
                OsStr::new("--format"),
                OsStr::new("json"),
                missing.as_os_str(),
            ],
            // A path that is not a file is parsed as an image name: usage or failure.
            -1,
        ),
    ];
    for (args, want) in cases {
        let out = run(&args);
        if want >= 0 {
            assert_eq!(code(&out), want, "{args:?}: {out:?}");
        } else {
            assert!(matches!(code(&out), 1 | 2), "{args:?}: {out:?}");
        }
        let j = json(&out);
        let obj = j.as_object().expect("an object");
        assert_eq!(obj.len(), 1, "exactly one key: {j}");
        let msg = obj["error"].as_str().expect("error is a string");
        assert!(!msg.is_empty() && !msg.contains('\n'), "{msg:?}");
        assert_eq!(
            out.stdout.iter().filter(|&&b| b == b'\n').count(),
            1,
            "one line on stdout"
        );
    }
}

/// Engines put global options first (`checkpointctl-image --format json build …`), as
/// they do with netavark; both orders must work.
#[test]
fn global_options_before_or_after_the_subcommand() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = podman_fixture("runc", "counter-none.tar");
    let a = a.to_str().expect("utf8");
    for (i, args) in [
        vec!["--format", "json", "--log-level", "warn", "build", a],
        vec!["build", "--format", "json", "--log-level", "warn", a],
    ]
    .into_iter()
    .enumerate()
    {
        let dest = format!("oci:{}/l{i}:x", tmp.path().display());
        let mut full = args.clone();
        full.push(&dest);
        let out = ok(run_s(&full));
        assert_eq!(json(&out)["engine"], "podman", "{args:?}");
    }
}

/// `--progress` draws bytes and rate on a terminal, and stays silent when stderr is not
/// a terminal or with `--format json` (engines parse stdout and log stderr).
#[test]
fn progress_only_on_a_terminal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = podman_fixture("runc", "counter-none.tar");
    let a = a.to_str().expect("utf8");
    let out = ok(run_s(&[
        "build",
        "--progress",
        a,
        &format!("oci:{}/p1", tmp.path().display()),
    ]));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("MiB/s"),
        "no progress without a terminal"
    );
    if which::which("script").is_err() {
        eprintln!("SKIPPED: script(1) is not installed; the terminal case is not tested");
        return;
    }
    // script(1) gives the child a pseudo-terminal.
    for (format, shown) in [("text", true), ("json", false)] {
        let cmd = format!(
            "{} build --progress --format {format} {a} oci:{}/p-{format}",
            bin().display(),
            tmp.path().display()
        );
        let out = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let tty = String::from_utf8_lossy(&out.stdout);
        assert_eq!(tty.contains("MiB/s"), shown, "--format {format}: {tty}");
    }
}
