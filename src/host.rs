//! Host facts: what this machine is (CPU architecture, kernel, CRIU, cgroup version,
//! distribution, OCI runtime) and the pure parsers behind them.
//!
//! Probing does I/O through the [`Probe`] trait ([`SystemProbe`] for the real host, a
//! fake in tests); every parser here (`criu --version` output, CRIU version values in
//! both spellings, `/etc/os-release`, uname machine → GOARCH, containers.conf) is a pure
//! function. This is a leaf module: `metadata`, `annotations` and `compat` use its types.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

/// A CRIU version, comparable in Podman's integer form (`major*10000+minor*100+sublevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CriuVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Sublevel.
    pub sublevel: u32,
    /// Built from git (a `GitID:` line, or a non-zero `gitid`).
    pub git: bool,
}

impl CriuVersion {
    /// Podman's integer spelling. As go-criu does, a git build counts as the next minor.
    pub fn to_int(self) -> u32 {
        if self.git {
            self.major * 10000 + (self.minor + 1) * 100
        } else {
            self.major * 10000 + self.minor * 100 + self.sublevel
        }
    }

    /// Build from Podman's integer spelling (`40101`).
    pub fn from_int(v: u32) -> Self {
        Self {
            major: v / 10000,
            minor: (v / 100) % 100,
            sublevel: v % 100,
            git: false,
        }
    }
}

impl fmt::Display for CriuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.sublevel != 0 {
            write!(f, ".{}", self.sublevel)?;
        }
        Ok(())
    }
}

/// Parse a CRIU version value in either spelling: integer (`40101`, `31700`) or dotted
/// (`4.1.1`, `3.17`, `v3.19`, `3.17.1-git`).
pub fn parse_criu_version_value(s: &str) -> Option<CriuVersion> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        let v: u32 = s.parse().ok()?;
        // A bare "4" is a major version, not an integer spelling.
        if v < 100 {
            return Some(CriuVersion {
                major: v,
                minor: 0,
                sublevel: 0,
                git: false,
            });
        }
        return Some(CriuVersion::from_int(v));
    }
    let s = s.strip_prefix('v').unwrap_or(s);
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(end);
    let mut parts = num.split('.').filter(|p| !p.is_empty());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map(|p| p.parse().ok()).unwrap_or(Some(0))?;
    let sublevel = parts.next().map(|p| p.parse().ok()).unwrap_or(Some(0))?;
    Some(CriuVersion {
        major,
        minor,
        sublevel,
        git: rest.to_ascii_lowercase().contains("git"),
    })
}

/// Parse the output of `criu --version`:
///
/// ```text
/// Version: 4.1.1
/// GitID: v4.1.1-12-gabcdef   (only for builds from git)
/// ```
pub fn parse_criu_version_output(out: &str) -> Option<CriuVersion> {
    let mut version = None;
    let mut git = false;
    for line in out.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Version:") {
            version = parse_criu_version_value(v.trim());
        } else if line.starts_with("GitID:") {
            git = true;
        }
    }
    version.map(|mut v| {
        v.git |= git;
        v
    })
}

/// A kernel release's numeric `major.minor.patch` prefix, comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch level (0 when the release has none).
    pub patch: u32,
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parse the numeric prefix of a kernel release (`uname -r`): `6.8.0-45-generic` → 6.8.0,
/// `6.18.44-fc-v595` → 6.18.44, `5.14.0-427.el9.x86_64` → 5.14.0, `6.1` → 6.1.0.
/// Everything after the third number, or after the first character that is neither a digit
/// nor a dot, is the distribution's suffix and is ignored. At least `major.minor` is required.
pub fn parse_kernel_version(release: &str) -> Option<KernelVersion> {
    let s = release.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let mut parts = s[..end].split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) if !p.is_empty() => p.parse().ok()?,
        _ => 0,
    };
    Some(KernelVersion {
        major,
        minor,
        patch,
    })
}

/// The outcome of `criu check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CriuCheck {
    /// The CRIU binary that was asked.
    pub criu_path: PathBuf,
    /// Whether it exited 0 (`Looks good.`).
    pub passed: bool,
    /// Its output (stdout then stderr), trimmed; `None` if it could not be started.
    pub output: Option<String>,
}

/// Run `criu check` (needs root to be meaningful). Only called when asked for.
pub fn run_criu_check(p: &dyn Probe, criu: &Path) -> CriuCheck {
    match p.run_status(criu, &["check"]) {
        Some((passed, out)) => CriuCheck {
            criu_path: criu.to_path_buf(),
            passed,
            output: Some(out.trim().to_string()),
        },
        None => CriuCheck {
            criu_path: criu.to_path_buf(),
            passed: false,
            output: None,
        },
    }
}

/// Map a uname machine name to Go's GOARCH naming, as Podman records it.
pub fn goarch_from_uname(machine: &str) -> String {
    match machine {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" | "armv8l" => "arm64",
        "i386" | "i486" | "i586" | "i686" => "386",
        "armv7l" | "armv6l" | "arm" => "arm",
        "ppc64le" => "ppc64le",
        "ppc64" => "ppc64",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        "mips64" => "mips64",
        "mips64el" => "mips64le",
        other => other,
    }
    .to_string()
}

/// Parse `/etc/os-release` into its key/value pairs (quotes removed).
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            out.insert(k.trim().to_string(), v.replace("\\\"", "\""));
        }
    }
    out
}

/// The `[engine] runtime` of a containers.conf text, if set.
pub fn parse_containers_conf_runtime(text: &str) -> Option<String> {
    let value: toml::Value = toml::from_str(text).ok()?;
    value
        .get("engine")?
        .get("runtime")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// What a host is, as far as checkpoint/restore cares. `None` = unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostFacts {
    /// CPU architecture in GOARCH naming.
    pub arch: Option<String>,
    /// Kernel release (`uname -r`).
    pub kernel: Option<String>,
    /// CRIU version.
    pub criu_version: Option<CriuVersion>,
    /// Where CRIU was found. After a probe that looked for CRIU, `criu_path` and
    /// `criu_version` both `None` means no CRIU on this host; a path without a version
    /// means CRIU was found but its version could not be read.
    pub criu_path: Option<PathBuf>,
    /// `v1` or `v2`.
    pub cgroup_version: Option<String>,
    /// os-release `ID`.
    pub distribution_name: Option<String>,
    /// os-release `VERSION_ID`.
    pub distribution_version: Option<String>,
    /// The engine's OCI runtime name (`runc`, `crun`).
    pub runtime_name: Option<String>,
    /// `<runtime> --version`, trimmed.
    pub runtime_version: Option<String>,
    /// `conmon --version`, first newline replaced by `, ` (Podman's format).
    pub conmon_version: Option<String>,
    /// `podman --version` number.
    pub podman_version: Option<String>,
}

/// The I/O a host probe needs; faked in tests.
pub trait Probe {
    /// `(machine, release)` from uname.
    fn uname(&self) -> Option<(String, String)>;
    /// Read a small text file.
    fn read_file(&self, path: &Path) -> Option<String>;
    /// Run a program and return its stdout if it exits 0.
    fn run(&self, program: &Path, args: &[&str]) -> Option<String>;
    /// Find a program on `$PATH`.
    fn which(&self, name: &str) -> Option<PathBuf>;
    /// Whether `/sys/fs/cgroup` is a cgroup2 (unified) mount.
    fn cgroup2_unified(&self) -> Option<bool>;
    /// An environment variable.
    fn env(&self, name: &str) -> Option<String>;
    /// Run a program whatever its exit status: `(succeeded, stdout + stderr)`, or `None`
    /// if it could not be started. The default builds on [`Probe::run`] (no output on failure).
    fn run_status(&self, program: &Path, args: &[&str]) -> Option<(bool, String)> {
        Some(match self.run(program, args) {
            Some(out) => (true, out),
            None => (false, String::new()),
        })
    }
}

/// The real host.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemProbe;

impl Probe for SystemProbe {
    fn uname(&self) -> Option<(String, String)> {
        let u = nix::sys::utsname::uname().ok()?;
        Some((
            u.machine().to_string_lossy().into_owned(),
            u.release().to_string_lossy().into_owned(),
        ))
    }
    fn read_file(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
    fn run(&self, program: &Path, args: &[&str]) -> Option<String> {
        log::debug!("running {} {}", program.display(), args.join(" "));
        let out = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
    fn which(&self, name: &str) -> Option<PathBuf> {
        which::which(name).ok()
    }
    fn cgroup2_unified(&self) -> Option<bool> {
        let st = nix::sys::statfs::statfs("/sys/fs/cgroup").ok()?;
        Some(st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    }
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn run_status(&self, program: &Path, args: &[&str]) -> Option<(bool, String)> {
        log::debug!("running {} {}", program.display(), args.join(" "));
        let out = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Some((out.status.success(), text))
    }
}

/// What to probe, and what the caller already knows.
#[derive(Debug, Clone, Default)]
pub struct ProbeOptions {
    /// CRIU binary to ask (`--criu PATH`); else `criu` on `$PATH`.
    pub criu_path: Option<PathBuf>,
    /// Skip CRIU entirely.
    pub skip_criu: bool,
    /// The engine's runtime name (`--runtime`); else containers.conf.
    pub runtime_name: Option<String>,
    /// Also ask the runtime, conmon and podman for their versions (build only).
    pub tool_versions: bool,
}

/// Where containers.conf files are looked for, lowest priority first.
fn containers_conf_paths(p: &dyn Probe) -> Vec<PathBuf> {
    if let Some(c) = p.env("CONTAINERS_CONF") {
        return vec![PathBuf::from(c)];
    }
    let mut v = vec![
        PathBuf::from("/usr/share/containers/containers.conf"),
        PathBuf::from("/etc/containers/containers.conf"),
    ];
    if nix::unistd::geteuid().as_raw() != 0 {
        let cfg = p
            .env("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| p.env("HOME").map(|h| Path::new(&h).join(".config")));
        if let Some(cfg) = cfg {
            v.push(cfg.join("containers/containers.conf"));
        }
    }
    if let Some(o) = p.env("CONTAINERS_CONF_OVERRIDE") {
        v.push(PathBuf::from(o));
    }
    v
}

/// The default OCI runtime name from containers.conf (highest-priority file that sets it).
pub fn containers_conf_runtime(p: &dyn Probe) -> Option<String> {
    containers_conf_paths(p)
        .iter()
        .filter_map(|path| p.read_file(path))
        .filter_map(|t| parse_containers_conf_runtime(&t))
        .next_back()
}

/// `<runtime> --version` with the trailing newline trimmed (Podman's format), if the
/// runtime is on `$PATH`.
pub fn runtime_version(p: &dyn Probe, runtime: &str) -> Option<String> {
    let path = p.which(runtime)?;
    p.run(&path, &["--version"])
        .map(|o| o.trim_end_matches('\n').to_string())
}

impl HostFacts {
    /// Probe the host.
    pub fn probe(p: &dyn Probe, opts: &ProbeOptions) -> HostFacts {
        let mut f = HostFacts::default();
        if let Some((machine, release)) = p.uname() {
            f.arch = Some(goarch_from_uname(&machine));
            f.kernel = Some(release);
        }
        if !opts.skip_criu {
            let criu = opts.criu_path.clone().or_else(|| p.which("criu"));
            if let Some(criu) = criu {
                f.criu_version = p
                    .run(&criu, &["--version"])
                    .and_then(|o| parse_criu_version_output(&o));
                if f.criu_version.is_none() {
                    log::warn!(
                        "could not read the CRIU version from {} --version",
                        criu.display()
                    );
                }
                f.criu_path = Some(criu);
            }
        }
        f.cgroup_version = p
            .cgroup2_unified()
            .map(|v2| if v2 { "v2" } else { "v1" }.to_string());
        if let Some(text) = p
            .read_file(Path::new("/etc/os-release"))
            .or_else(|| p.read_file(Path::new("/usr/lib/os-release")))
        {
            let os = parse_os_release(&text);
            f.distribution_name = os.get("ID").cloned();
            f.distribution_version = os.get("VERSION_ID").cloned();
        }
        f.runtime_name = opts
            .runtime_name
            .clone()
            .or_else(|| containers_conf_runtime(p));
        if opts.tool_versions {
            if let Some(rt) = f.runtime_name.clone() {
                f.runtime_version = runtime_version(p, &rt);
            }
            let conmon = p.which("conmon").or_else(|| {
                ["/usr/libexec/podman/conmon", "/usr/bin/conmon"]
                    .iter()
                    .map(PathBuf::from)
                    .find(|c| c.exists())
            });
            if let Some(c) = conmon {
                f.conmon_version = p
                    .run(&c, &["--version"])
                    .map(|o| o.trim_end_matches('\n').replacen('\n', ", ", 1));
            }
            if let Some(podman) = p.which("podman") {
                f.podman_version = p
                    .run(&podman, &["--version"])
                    .and_then(|o| o.split_whitespace().last().map(str::to_string));
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criu_version_values_in_both_spellings() {
        let cases: &[(&str, Option<u32>)] = &[
            ("40101", Some(40101)),
            ("31700", Some(31700)),
            ("4.1.1", Some(40101)),
            ("4.1", Some(40100)),
            ("3.17.1", Some(31701)),
            ("v3.19", Some(31900)),
            ("3.19-git", Some(32000)),
            ("4", Some(40000)),
            ("", None),
            ("abc", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_criu_version_value(input).map(CriuVersion::to_int),
                *want,
                "{input}"
            );
        }
    }

    #[test]
    fn criu_version_output_real_samples() {
        // Debian 12 criu 3.17.1, Debian 13 criu 4.1.1, and a git build.
        let cases = [
            ("Version: 3.17.1\n", 31701, "3.17.1"),
            ("Version: 4.1.1\n", 40101, "4.1.1"),
            ("Version: 3.19\nGitID: v3.19-43-g1e0a7f7f4\n", 32000, "3.19"),
            ("Version: 4.1\n", 40100, "4.1"),
        ];
        for (out, int, text) in cases {
            let v = parse_criu_version_output(out).expect(out);
            assert_eq!(v.to_int(), int, "{out}");
            assert_eq!(v.to_string(), text);
        }
        assert_eq!(parse_criu_version_output("criu: not found"), None);
    }

    #[test]
    fn goarch_table() {
        for (m, g) in [
            ("x86_64", "amd64"),
            ("aarch64", "arm64"),
            ("ppc64le", "ppc64le"),
            ("s390x", "s390x"),
            ("riscv64", "riscv64"),
            ("armv7l", "arm"),
            ("i686", "386"),
        ] {
            assert_eq!(goarch_from_uname(m), g);
        }
    }

    #[test]
    fn os_release_real_files() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nVERSION=\"13 (trixie)\"\nID=debian\n";
        let os = parse_os_release(debian);
        assert_eq!(os.get("ID").map(String::as_str), Some("debian"));
        assert_eq!(os.get("VERSION_ID").map(String::as_str), Some("13"));
        let fedora = "NAME=\"Fedora Linux\"\nVERSION=\"40 (Container Image)\"\nID=fedora\nVERSION_ID=40\n# comment\n";
        let os = parse_os_release(fedora);
        assert_eq!(os.get("ID").map(String::as_str), Some("fedora"));
        assert_eq!(os.get("VERSION_ID").map(String::as_str), Some("40"));
    }

    #[test]
    fn containers_conf_runtime_parsing() {
        assert_eq!(
            parse_containers_conf_runtime("[engine]\nruntime = \"crun\"\n").as_deref(),
            Some("crun")
        );
        assert_eq!(parse_containers_conf_runtime("[containers]\nx=1\n"), None);
        assert_eq!(parse_containers_conf_runtime("not toml ["), None);
    }

    #[test]
    fn kernel_release_prefixes() {
        type Case = (&'static str, Option<(u32, u32, u32)>);
        let cases: &[Case] = &[
            ("6.8.0-45-generic", Some((6, 8, 0))),
            ("6.18.44-fc-v595", Some((6, 18, 44))),
            ("5.14.0-427.el9.x86_64", Some((5, 14, 0))),
            ("6.12.0-55.el10.x86_64", Some((6, 12, 0))),
            ("6.13", Some((6, 13, 0))),
            ("6.1.0-28-amd64", Some((6, 1, 0))),
            ("4.19.0+", Some((4, 19, 0))),
            ("6.13-rc1", Some((6, 13, 0))),
            ("6", None),
            ("", None),
            ("generic", None),
        ];
        for (release, want) in cases {
            let got = parse_kernel_version(release).map(|k| (k.major, k.minor, k.patch));
            assert_eq!(got, *want, "{release}");
        }
        let older = parse_kernel_version("6.8.0-45-generic");
        let newer = parse_kernel_version("6.18.44-fc-v595");
        assert!(older < newer, "6.8 < 6.18 numerically, not as text");
        assert!(parse_kernel_version("5.14.0-427.el9.x86_64") < older);
    }

    /// A host made of tables.
    #[derive(Debug, Default)]
    struct FakeProbe {
        uname: Option<(String, String)>,
        files: BTreeMap<PathBuf, String>,
        programs: BTreeMap<String, PathBuf>,
        outputs: BTreeMap<(PathBuf, String), (bool, String)>,
        cgroup2: Option<bool>,
    }

    impl Probe for FakeProbe {
        fn uname(&self) -> Option<(String, String)> {
            self.uname.clone()
        }
        fn read_file(&self, path: &Path) -> Option<String> {
            self.files.get(path).cloned()
        }
        fn run(&self, program: &Path, args: &[&str]) -> Option<String> {
            match self.run_status(program, args)? {
                (true, out) => Some(out),
                (false, _) => None,
            }
        }
        fn run_status(&self, program: &Path, args: &[&str]) -> Option<(bool, String)> {
            self.outputs
                .get(&(program.to_path_buf(), args.join(" ")))
                .cloned()
        }
        fn which(&self, name: &str) -> Option<PathBuf> {
            self.programs.get(name).cloned()
        }
        fn cgroup2_unified(&self) -> Option<bool> {
            self.cgroup2
        }
        fn env(&self, _name: &str) -> Option<String> {
            None
        }
    }

    fn lab_host() -> FakeProbe {
        let criu = PathBuf::from("/usr/sbin/criu");
        let mut p = FakeProbe {
            uname: Some(("x86_64".into(), "6.18.44-fc-v595".into())),
            cgroup2: Some(false),
            ..Default::default()
        };
        p.files.insert(
            "/etc/os-release".into(),
            "ID=debian\nVERSION_ID=\"13\"\n".into(),
        );
        p.files.insert(
            "/etc/containers/containers.conf".into(),
            "[engine]\nruntime = \"crun\"\n".into(),
        );
        p.programs.insert("criu".into(), criu.clone());
        p.outputs.insert(
            (criu.clone(), "--version".into()),
            (true, "Version: 4.1.1\n".into()),
        );
        p.outputs.insert(
            (criu, "check".into()),
            (
                false,
                "Error (criu/cr-check.c:1234): must be run as root\n".into(),
            ),
        );
        p
    }

    #[test]
    fn probe_reads_a_fake_host() {
        let p = lab_host();
        let f = HostFacts::probe(&p, &ProbeOptions::default());
        assert_eq!(f.arch.as_deref(), Some("amd64"));
        assert_eq!(f.kernel.as_deref(), Some("6.18.44-fc-v595"));
        assert_eq!(f.criu_version.map(CriuVersion::to_int), Some(40101));
        assert_eq!(f.criu_path.as_deref(), Some(Path::new("/usr/sbin/criu")));
        assert_eq!(f.cgroup_version.as_deref(), Some("v1"));
        assert_eq!(f.distribution_name.as_deref(), Some("debian"));
        assert_eq!(f.distribution_version.as_deref(), Some("13"));
        if nix::unistd::geteuid().is_root() {
            // Non-root also reads ~/.config (not faked here); root reads /etc only.
            assert_eq!(f.runtime_name.as_deref(), Some("crun"));
        }
        // Tool versions are only asked for by build.
        assert_eq!(f.runtime_version, None);
    }

    #[test]
    fn probe_options_override_and_skip() {
        let p = lab_host();
        let f = HostFacts::probe(
            &p,
            &ProbeOptions {
                skip_criu: true,
                runtime_name: Some("runc".into()),
                ..Default::default()
            },
        );
        assert_eq!(f.criu_version, None);
        assert_eq!(f.criu_path, None);
        assert_eq!(f.runtime_name.as_deref(), Some("runc"));
        // --criu PATH that does not answer: found, version unknown.
        let f = HostFacts::probe(
            &p,
            &ProbeOptions {
                criu_path: Some("/opt/criu/bin/criu".into()),
                ..Default::default()
            },
        );
        assert_eq!(f.criu_version, None);
        assert_eq!(
            f.criu_path.as_deref(),
            Some(Path::new("/opt/criu/bin/criu"))
        );
        // Nothing at all: every fact unknown, CRIU not found.
        let f = HostFacts::probe(&FakeProbe::default(), &ProbeOptions::default());
        assert_eq!(f.arch, None);
        assert_eq!(f.criu_path, None);
        assert_eq!(f.cgroup_version, None);
        assert_eq!(f.runtime_name, None);
    }

    #[test]
    fn criu_check_outcomes() {
        let p = lab_host();
        let c = run_criu_check(&p, Path::new("/usr/sbin/criu"));
        assert!(!c.passed);
        assert!(c.output.as_deref().is_some_and(|o| o.contains("root")));
        let c = run_criu_check(&p, Path::new("/nonexistent/criu"));
        assert!(!c.passed);
        assert_eq!(c.output, None);
        let mut ok = lab_host();
        ok.outputs.insert(
            ("/usr/sbin/criu".into(), "check".into()),
            (true, "Looks good.\n".into()),
        );
        let c = run_criu_check(&ok, Path::new("/usr/sbin/criu"));
        assert!(c.passed);
        assert_eq!(c.output.as_deref(), Some("Looks good."));
    }
}
