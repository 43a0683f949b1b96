//! Pure compatibility rules: (checkpoint facts, host facts, options) → report.
//!
//! Each rule compares one fact of the checkpointing host (from the image's annotations or
//! the archive's own evidence) with the same fact of the restoring host and yields a
//! [`Verdict`] with both values and a one-line reason (DESIGN.md "Host compatibility").
//! No I/O happens here; an unknown fact is never guessed, it yields `unknown` (or, where a
//! rule can still decide from what is known, a verdict whose reason says what was missing).
//!
//! | rule | fail | warn |
//! |---|---|---|
//! | `criu` | no CRIU; older than the engine minimum (Podman 3.11, CRI-O/containerd 3.16) or than the checkpoint's CRIU; kernel ≥ 6.13 on amd64 with CRIU < 4.1 | |
//! | `arch` | architectures differ | |
//! | `runtime` | Podman checkpoint, runtime names differ | CRI-O/containerd handler that does not name the host runtime |
//! | `engine` | `--engine` differs from the checkpoint's family | |
//! | `kernel` | | host kernel older than the checkpoint's |
//! | `cgroup` | | cgroup versions differ |
//! | `distribution` | (informational) | |
//! | `criu_check` | `criu check` failed (only with `--criu-check`) | |

use std::fmt;

use serde::Serialize;

use crate::annotations::CheckpointFacts;
use crate::host::{
    CriuCheck, CriuVersion, HostFacts, KernelVersion, goarch_from_uname, parse_kernel_version,
};
use crate::metadata::Engine;

/// Podman's minimum CRIU (`pkg/criu`): 3.11.
pub const CRIU_MIN_PODMAN: u32 = 31100;
/// CRI-O's and containerd's minimum CRIU: 3.16.
pub const CRIU_MIN_CRI: u32 = 31600;
/// Kernels from 6.13 on x86 have the `[vvar_vclock]` mapping that only CRIU ≥ 4.1 handles.
pub const VVAR_VCLOCK_KERNEL: KernelVersion = KernelVersion {
    major: 6,
    minor: 13,
    patch: 0,
};
/// The first CRIU that restores on kernels with `[vvar_vclock]`: 4.1.
pub const VVAR_VCLOCK_CRIU: u32 = 40100;

/// The outcome of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Compatible.
    Ok,
    /// Compatible, but something may not work.
    Warn,
    /// The restore will fail.
    Fail,
    /// A fact needed to decide is unknown.
    Unknown,
}

impl Verdict {
    /// `ok`, `warn`, `fail`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule's result: the checkpoint's value, the host's value, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Rule name: `criu`, `arch`, `runtime`, `engine`, `kernel`, `cgroup`, `distribution`,
    /// `criu_check`.
    pub name: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// What the checkpoint records (`None` = unknown).
    pub checkpoint: Option<String>,
    /// What this host has (`None` = unknown).
    pub host: Option<String>,
    /// One line explaining the verdict.
    pub reason: String,
}

/// What the caller asks beyond the facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The engine family that will restore (`--engine`); `None` = the checkpoint's own.
    pub engine: Option<Engine>,
    /// The outcome of `criu check`, when `--criu-check` was given.
    pub criu_check: Option<CriuCheck>,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// No check failed (warnings and unknowns allowed).
    pub compatible: bool,
    /// The checks, in a fixed order.
    pub checks: Vec<Check>,
}

impl Report {
    /// The check named `name`.
    pub fn get(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The names of the failing checks.
    pub fn failures(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .map(|c| c.name)
            .collect()
    }
}

/// Apply every rule.
pub fn evaluate(cp: &CheckpointFacts, host: &HostFacts, opts: &Options) -> Report {
    let mut checks = vec![
        check_criu(cp, host, opts),
        check_arch(cp, host),
        check_runtime(cp, host),
        check_engine(cp, opts),
        check_kernel(cp, host),
        check_cgroup(cp, host),
        check_distribution(cp, host),
    ];
    if let Some(c) = &opts.criu_check {
        checks.push(check_criu_check(c));
    }
    Report {
        compatible: checks.iter().all(|c| c.verdict != Verdict::Fail),
        checks,
    }
}

fn check(
    name: &'static str,
    verdict: Verdict,
    checkpoint: Option<String>,
    host: Option<String>,
    reason: impl Into<String>,
) -> Check {
    Check {
        name,
        verdict,
        checkpoint,
        host,
        reason: reason.into(),
    }
}

/// The minimum CRIU of an engine family; `None` (family unknown) → Podman's, the lowest
/// that every engine requires.
pub fn criu_minimum(engine: Option<Engine>) -> u32 {
    match engine {
        Some(Engine::CriO | Engine::Containerd) => CRIU_MIN_CRI,
        Some(Engine::Podman) | None => CRIU_MIN_PODMAN,
    }
}

fn version_text(v: u32) -> String {
    CriuVersion::from_int(v).to_string()
}

/// The host's CRIU as shown: `4.1.1`, plus ` (git)` for builds from git.
fn criu_text(v: CriuVersion) -> String {
    if v.git {
        format!("{v} (git)")
    } else {
        v.to_string()
    }
}

/// `criu`: present, at least the engine's minimum and the checkpoint's CRIU, and new
/// enough for the host kernel's vDSO layout.
pub fn check_criu(cp: &CheckpointFacts, host: &HostFacts, opts: &Options) -> Check {
    let cp_v = cp.criu_version.map(criu_text);
    let engine = opts.engine.or(cp.engine);
    let Some(h) = host.criu_version else {
        return match &host.criu_path {
            None => check(
                "criu",
                Verdict::Fail,
                cp_v,
                None,
                "CRIU was not found on this host (install criu, or give --criu PATH)",
            ),
            Some(p) => check(
                "criu",
                Verdict::Unknown,
                cp_v,
                None,
                format!(
                    "could not read the CRIU version from {} --version",
                    p.display()
                ),
            ),
        };
    };
    let host_v = Some(criu_text(h));
    let hi = h.to_int();
    let min = criu_minimum(engine);
    // Every reason that fails, so that one run names them all.
    let mut failures = Vec::new();
    if hi < min {
        let who = match engine {
            Some(e) => e.checkpointctl_name().to_string(),
            None => "every engine".to_string(),
        };
        failures.push(format!(
            "CRIU {} is older than {} that {who} requires",
            criu_text(h),
            version_text(min)
        ));
    }
    if let Some(c) = cp.criu_version {
        if hi < c.to_int() {
            failures.push(format!(
                "CRIU {} is older than CRIU {} that wrote the checkpoint; an older CRIU may not read its images",
                criu_text(h),
                criu_text(c)
            ));
        }
    }
    let kernel = host.kernel.as_deref().and_then(parse_kernel_version);
    let amd64 = host.arch.as_deref().map(goarch_from_uname).as_deref() == Some("amd64");
    if amd64 && hi < VVAR_VCLOCK_CRIU && kernel.is_some_and(|k| k >= VVAR_VCLOCK_KERNEL) {
        failures.push(format!(
            "kernel {} (>= 6.13) on amd64 maps [vvar_vclock], which CRIU {} does not know; restore fails with \"vdso: Unexpected rt vDSO area bounds\" (CRIU >= 4.1 needed)",
            host.kernel.as_deref().unwrap_or_default(),
            criu_text(h)
        ));
    }
    if !failures.is_empty() {
        return check("criu", Verdict::Fail, cp_v, host_v, failures.join("; "));
    }
    let mut reason = format!(
        "CRIU {} meets the minimum {} of {}",
        criu_text(h),
        version_text(min),
        engine.map_or("every engine", |e| e.checkpointctl_name())
    );
    match cp.criu_version {
        Some(c) => reason.push_str(&format!(
            " and is not older than CRIU {c} of the checkpoint"
        )),
        None => reason.push_str("; the checkpoint does not record its CRIU version"),
    }
    check("criu", Verdict::Ok, cp_v, host_v, reason)
}

/// `arch`: the same CPU architecture (GOARCH naming; uname spellings are mapped).
pub fn check_arch(cp: &CheckpointFacts, host: &HostFacts) -> Check {
    let c = cp.arch.as_deref().map(goarch_from_uname);
    let h = host.arch.as_deref().map(goarch_from_uname);
    match (&c, &h) {
        (Some(a), Some(b)) if a == b => check(
            "arch",
            Verdict::Ok,
            c.clone(),
            h.clone(),
            "same CPU architecture",
        ),
        (Some(a), Some(b)) => check(
            "arch",
            Verdict::Fail,
            c.clone(),
            h.clone(),
            format!("CRIU cannot restore a {a} process on a {b} host"),
        ),
        (None, _) => check(
            "arch",
            Verdict::Unknown,
            c,
            h,
            "the checkpoint does not record its architecture",
        ),
        (_, None) => check(
            "arch",
            Verdict::Unknown,
            c,
            h,
            "the host architecture is unknown",
        ),
    }
}

/// Whether a CRI runtime handler names `runtime`: `runc`, `io.containerd.runc.v2`,
/// `io.containerd.runc.v1` all name `runc`.
fn handler_names(handler: &str, runtime: &str) -> bool {
    handler == runtime || handler.split(['.', '-', '_']).any(|part| part == runtime)
}

/// `runtime`: the engine's OCI runtime against the one recorded in the checkpoint.
pub fn check_runtime(cp: &CheckpointFacts, host: &HostFacts) -> Check {
    let c = cp.runtime.clone().filter(|r| !r.is_empty());
    let h = host.runtime_name.clone().filter(|r| !r.is_empty());
    match cp.engine {
        Some(Engine::Podman) => match (&c, &h) {
            (Some(a), Some(b)) if a == b => check(
                "runtime",
                Verdict::Ok,
                c.clone(),
                h.clone(),
                "the engine runs the runtime the checkpoint was made with",
            ),
            (Some(a), Some(b)) => check(
                "runtime",
                Verdict::Fail,
                c.clone(),
                h.clone(),
                format!(
                    "Podman restores this checkpoint only with runtime {a:?} (\"container image requires runtime: {a}\"), the engine runs {b:?}; set --runtime {a} (it must be installed)"
                ),
            ),
            (None, _) => check(
                "runtime",
                Verdict::Unknown,
                c,
                h,
                "the checkpoint does not record its runtime name",
            ),
            (_, None) => check(
                "runtime",
                Verdict::Unknown,
                c,
                h,
                "the engine's runtime is unknown (give --runtime NAME, or set [engine] runtime in containers.conf)",
            ),
        },
        Some(e @ (Engine::CriO | Engine::Containerd)) => {
            let name = e.checkpointctl_name();
            match (&c, &h) {
                (None, _) => check(
                    "runtime",
                    Verdict::Ok,
                    c,
                    h,
                    format!(
                        "the checkpoint records the default runtime handler; {name} does not compare runtimes on restore"
                    ),
                ),
                (Some(_), None) => check(
                    "runtime",
                    Verdict::Unknown,
                    c,
                    h,
                    format!(
                        "the engine's runtime is unknown; {name} does not compare runtimes on restore"
                    ),
                ),
                (Some(a), Some(b)) if handler_names(a, b) => check(
                    "runtime",
                    Verdict::Ok,
                    c.clone(),
                    h.clone(),
                    format!("runtime handler {a:?} runs {b}"),
                ),
                (Some(a), Some(b)) => check(
                    "runtime",
                    Verdict::Warn,
                    c.clone(),
                    h.clone(),
                    format!(
                        "{name} records runtime handler {a:?}, which does not name {b}; {name} does not refuse this, but the pod's runtime handler must be able to restore the checkpoint"
                    ),
                ),
            }
        }
        None => match (&c, &h) {
            (Some(a), Some(b)) if a == b => check(
                "runtime",
                Verdict::Ok,
                c.clone(),
                h.clone(),
                "the engine runs the runtime the checkpoint was made with",
            ),
            (Some(_), Some(_)) => check(
                "runtime",
                Verdict::Warn,
                c.clone(),
                h.clone(),
                "the runtimes differ; the checkpoint's engine family is unknown, so whether its engine refuses this is unknown (Podman does)",
            ),
            _ => check(
                "runtime",
                Verdict::Unknown,
                c,
                h,
                "the checkpoint's or the engine's runtime is unknown",
            ),
        },
    }
}

/// Why an engine cannot restore another family's checkpoint (ENGINES.md §0.1).
fn family_requirement(e: Engine) -> &'static str {
    match e {
        Engine::Podman => "Podman parses config.dump as its own libpod container configuration",
        Engine::CriO => "CRI-O needs the io.kubernetes.cri-o.Annotations annotation in spec.dump",
        Engine::Containerd => "containerd needs status.dump",
    }
}

/// `engine`: with `--engine`, the restoring family must be the checkpoint's.
pub fn check_engine(cp: &CheckpointFacts, opts: &Options) -> Check {
    let c = cp.engine.map(|e| e.id().to_string());
    let h = opts.engine.map(|e| e.id().to_string());
    match (cp.engine, opts.engine) {
        (Some(a), Some(b)) if a == b => check(
            "engine",
            Verdict::Ok,
            c,
            h,
            format!(
                "a {} checkpoint, restored by {}",
                a.checkpointctl_name(),
                b.checkpointctl_name()
            ),
        ),
        (Some(a), Some(b)) => check(
            "engine",
            Verdict::Fail,
            c,
            h,
            format!(
                "a {} checkpoint cannot be restored by {}: {}",
                a.checkpointctl_name(),
                b.checkpointctl_name(),
                family_requirement(b)
            ),
        ),
        (None, Some(b)) => check(
            "engine",
            Verdict::Unknown,
            c,
            h,
            format!(
                "the checkpoint does not record its engine family; {} can only restore its own ({})",
                b.checkpointctl_name(),
                family_requirement(b)
            ),
        ),
        (Some(a), None) => check(
            "engine",
            Verdict::Ok,
            c,
            h,
            format!(
                "a {} checkpoint: only {} can restore it (give --engine to check the restoring engine)",
                a.checkpointctl_name(),
                a.checkpointctl_name()
            ),
        ),
        (None, None) => check(
            "engine",
            Verdict::Unknown,
            c,
            h,
            "the checkpoint does not record its engine family",
        ),
    }
}

/// `kernel`: warn when the host kernel is older than the checkpoint's.
pub fn check_kernel(cp: &CheckpointFacts, host: &HostFacts) -> Check {
    let c = cp.kernel.clone();
    let h = host.kernel.clone();
    let ck = c.as_deref().and_then(parse_kernel_version);
    let hk = h.as_deref().and_then(parse_kernel_version);
    match (ck, hk) {
        (Some(a), Some(b)) if b < a => check(
            "kernel",
            Verdict::Warn,
            c,
            h,
            format!(
                "the host kernel {b} is older than the checkpoint's {a}; kernel features the process used may be missing"
            ),
        ),
        (Some(a), Some(b)) => check(
            "kernel",
            Verdict::Ok,
            c,
            h,
            format!("the host kernel {b} is not older than the checkpoint's {a}"),
        ),
        (None, _) => check(
            "kernel",
            Verdict::Unknown,
            c,
            h,
            "the checkpoint does not record a kernel release with a version number",
        ),
        (_, None) => check(
            "kernel",
            Verdict::Unknown,
            c,
            h,
            "the host kernel release is unknown",
        ),
    }
}

/// `cgroup`: warn when the cgroup versions differ.
pub fn check_cgroup(cp: &CheckpointFacts, host: &HostFacts) -> Check {
    let c = cp.cgroup_version.clone();
    let h = host.cgroup_version.clone();
    match (&c, &h) {
        (Some(a), Some(b)) if a == b => check(
            "cgroup",
            Verdict::Ok,
            c.clone(),
            h.clone(),
            "same cgroup version",
        ),
        (Some(a), Some(b)) => check(
            "cgroup",
            Verdict::Warn,
            c.clone(),
            h.clone(),
            format!(
                "checkpointed under cgroup {a}, the host has {b}; the restored cgroup settings may not apply"
            ),
        ),
        (None, _) => check(
            "cgroup",
            Verdict::Unknown,
            c,
            h,
            "the checkpoint does not record its cgroup version",
        ),
        (_, None) => check(
            "cgroup",
            Verdict::Unknown,
            c,
            h,
            "the host cgroup version is unknown",
        ),
    }
}

fn distribution_text(name: &Option<String>, version: &Option<String>) -> Option<String> {
    let name = name.as_deref()?;
    Some(match version.as_deref() {
        Some(v) => format!("{name} {v}"),
        None => name.to_string(),
    })
}

/// `distribution`: informational only.
pub fn check_distribution(cp: &CheckpointFacts, host: &HostFacts) -> Check {
    let c = distribution_text(&cp.distribution_name, &cp.distribution_version);
    let h = distribution_text(&host.distribution_name, &host.distribution_version);
    match (&c, &h) {
        (Some(a), Some(b)) if a == b => check(
            "distribution",
            Verdict::Ok,
            c.clone(),
            h.clone(),
            "same distribution (informational)",
        ),
        (Some(_), Some(_)) => check(
            "distribution",
            Verdict::Ok,
            c.clone(),
            h.clone(),
            "different distributions (informational: distribution kernels and CRIU builds may carry their own patches)",
        ),
        (None, _) => check(
            "distribution",
            Verdict::Unknown,
            c,
            h,
            "the checkpoint does not record its distribution (informational)",
        ),
        (_, None) => check(
            "distribution",
            Verdict::Unknown,
            c,
            h,
            "the host distribution is unknown (informational)",
        ),
    }
}

/// `criu_check`: the outcome of `criu check` on this host.
pub fn check_criu_check(c: &CriuCheck) -> Check {
    let last = c
        .output
        .as_deref()
        .and_then(|o| o.lines().rev().find(|l| !l.trim().is_empty()))
        .map(|l| l.trim().to_string());
    match (&c.output, c.passed) {
        (None, _) => check(
            "criu_check",
            Verdict::Unknown,
            None,
            None,
            format!("{} check could not be started", c.criu_path.display()),
        ),
        (Some(_), true) => check(
            "criu_check",
            Verdict::Ok,
            None,
            Some(last.unwrap_or_else(|| "passed".into())),
            format!("{} check passed", c.criu_path.display()),
        ),
        (Some(_), false) => check(
            "criu_check",
            Verdict::Fail,
            None,
            Some("failed".into()),
            format!(
                "{} check failed: {}",
                c.criu_path.display(),
                last.as_deref().unwrap_or("no output")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::parse_criu_version_value;
    use Verdict::{Fail, Ok as Pass, Unknown, Warn};

    fn v(s: &str) -> Option<CriuVersion> {
        Some(parse_criu_version_value(s).expect(s))
    }

    fn s(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    /// The lab checkpoint (Podman 5.4.2, CRIU 4.1.1, kernel 6.18.44, cgroup v1).
    fn lab_ckpt() -> CheckpointFacts {
        CheckpointFacts {
            engine: Some(Engine::Podman),
            container_name: s("counter"),
            runtime: s("runc"),
            criu_version: v("40101"),
            arch: s("amd64"),
            kernel: s("6.18.44-fc-v595"),
            cgroup_version: s("v1"),
            distribution_name: s("debian"),
            distribution_version: s("13"),
        }
    }

    /// The lab host, able to restore it.
    fn lab_host() -> HostFacts {
        HostFacts {
            arch: s("amd64"),
            kernel: s("6.18.44-fc-v595"),
            criu_version: v("4.1.1"),
            criu_path: Some("/usr/sbin/criu".into()),
            cgroup_version: s("v1"),
            distribution_name: s("debian"),
            distribution_version: s("13"),
            runtime_name: s("runc"),
            ..Default::default()
        }
    }

    #[test]
    fn the_lab_host_restores_the_lab_checkpoint() {
        let r = evaluate(&lab_ckpt(), &lab_host(), &Options::default());
        assert!(r.compatible, "{r:#?}");
        let names: Vec<_> = r.checks.iter().map(|c| c.name).collect();
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
        assert!(r.checks.iter().all(|c| c.verdict == Pass), "{r:#?}");
        assert!(r.failures().is_empty());
    }

    #[test]
    fn criu_rule_table() {
        struct Case {
            what: &'static str,
            engine: Option<Engine>,
            target: Option<Engine>,
            ckpt: Option<&'static str>,
            host: Option<&'static str>,
            path: bool,
            kernel: &'static str,
            arch: &'static str,
            want: Verdict,
            reason: &'static str,
        }
        let base = Case {
            what: "",
            engine: Some(Engine::Podman),
            target: None,
            ckpt: Some("40101"),
            host: Some("4.1.1"),
            path: true,
            kernel: "6.18.44-fc-v595",
            arch: "amd64",
            want: Pass,
            reason: "meets",
        };
        let cases = [
            Case {
                what: "same, both spellings",
                ..base
            },
            Case {
                what: "dotted checkpoint",
                ckpt: Some("4.1.1"),
                host: Some("40101"),
                ..base
            },
            Case {
                what: "newer host",
                ckpt: Some("3.19"),
                host: Some("4.2"),
                ..base
            },
            Case {
                what: "no CRIU",
                host: None,
                path: false,
                want: Fail,
                reason: "not found",
                ..base
            },
            Case {
                what: "unreadable CRIU",
                host: None,
                path: true,
                want: Unknown,
                reason: "could not read",
                ..base
            },
            Case {
                what: "older than checkpoint",
                ckpt: Some("40200"),
                host: Some("4.1.1"),
                want: Fail,
                reason: "wrote the checkpoint",
                ..base
            },
            Case {
                what: "older than checkpoint (integer host)",
                ckpt: Some("4.2"),
                host: Some("40101"),
                want: Fail,
                reason: "wrote the checkpoint",
                ..base
            },
            Case {
                what: "git build counts as next minor",
                ckpt: Some("4.2"),
                host: Some("4.1-git"),
                want: Pass,
                ..base
            },
            Case {
                what: "git checkpoint newer than release",
                ckpt: Some("3.19-git"),
                host: Some("3.19.1"),
                kernel: "6.8.0-45-generic",
                want: Fail,
                reason: "wrote the checkpoint",
                ..base
            },
            Case {
                what: "below Podman minimum",
                ckpt: None,
                host: Some("3.10"),
                kernel: "5.14.0-427.el9.x86_64",
                want: Fail,
                reason: "3.11",
                ..base
            },
            Case {
                what: "Podman minimum is enough for Podman",
                ckpt: None,
                host: Some("31100"),
                kernel: "5.14.0-427.el9.x86_64",
                want: Pass,
                reason: "does not record",
                ..base
            },
            Case {
                what: "below CRI-O minimum",
                engine: Some(Engine::CriO),
                ckpt: None,
                host: Some("3.15"),
                kernel: "6.8.0-45-generic",
                want: Fail,
                reason: "3.16",
                ..base
            },
            Case {
                what: "below containerd minimum",
                engine: Some(Engine::Containerd),
                ckpt: None,
                host: Some("31500"),
                kernel: "6.8.0-45-generic",
                want: Fail,
                reason: "containerd",
                ..base
            },
            Case {
                what: "--engine cri-o raises the minimum",
                target: Some(Engine::CriO),
                ckpt: None,
                host: Some("3.12"),
                kernel: "6.8.0-45-generic",
                want: Fail,
                reason: "CRI-O",
                ..base
            },
            Case {
                what: "unknown engine: lowest minimum",
                engine: None,
                ckpt: None,
                host: Some("3.12"),
                kernel: "6.8.0-45-generic",
                want: Pass,
                ..base
            },
            Case {
                what: "6.13 on amd64 needs 4.1",
                ckpt: Some("3.19"),
                host: Some("3.19"),
                kernel: "6.13.0",
                want: Fail,
                reason: "vvar_vclock",
                ..base
            },
            Case {
                what: "6.18 on amd64 with 3.17",
                ckpt: None,
                host: Some("3.17.1"),
                want: Fail,
                reason: "Unexpected rt vDSO area bounds",
                ..base
            },
            Case {
                what: "6.18 with 4.0 (integer)",
                ckpt: None,
                host: Some("40000"),
                want: Fail,
                reason: "vvar_vclock",
                ..base
            },
            Case {
                what: "6.18 with 4.1",
                ckpt: None,
                host: Some("4.1"),
                want: Pass,
                ..base
            },
            Case {
                what: "6.18 with a 4.0 git build (= 4.1)",
                ckpt: None,
                host: Some("4.0-git"),
                want: Pass,
                ..base
            },
            Case {
                what: "6.12 with 3.19",
                ckpt: Some("3.19"),
                host: Some("3.19"),
                kernel: "6.12.0-55.el10.x86_64",
                want: Pass,
                ..base
            },
            Case {
                what: "6.13 on arm64 is fine",
                ckpt: Some("3.19"),
                host: Some("3.19"),
                kernel: "6.13.0",
                arch: "arm64",
                want: Pass,
                ..base
            },
            Case {
                what: "uname spelling of amd64",
                ckpt: Some("3.19"),
                host: Some("3.19"),
                kernel: "6.14.2",
                arch: "x86_64",
                want: Fail,
                reason: "vvar_vclock",
                ..base
            },
            Case {
                what: "every failing reason is given",
                engine: Some(Engine::CriO),
                ckpt: Some("4.1.1"),
                host: Some("3.15"),
                want: Fail,
                reason: "3.16 that CRI-O requires; CRIU 3.15 is older than CRIU 4.1.1 that wrote the checkpoint; an older CRIU may not read its images; kernel 6.18.44-fc-v595",
                ..base
            },
            Case {
                what: "unparsable kernel: rule not applied",
                ckpt: Some("3.19"),
                host: Some("3.19"),
                kernel: "generic",
                want: Pass,
                ..base
            },
        ];
        for c in cases {
            let ckpt = CheckpointFacts {
                engine: c.engine,
                criu_version: c.ckpt.and_then(parse_criu_version_value),
                ..Default::default()
            };
            let host = HostFacts {
                criu_version: c.host.and_then(parse_criu_version_value),
                criu_path: c.path.then(|| "/usr/sbin/criu".into()),
                kernel: s(c.kernel),
                arch: s(c.arch),
                ..Default::default()
            };
            let got = check_criu(
                &ckpt,
                &host,
                &Options {
                    engine: c.target,
                    criu_check: None,
                },
            );
            assert_eq!(got.verdict, c.want, "{}: {got:?}", c.what);
            assert!(got.reason.contains(c.reason), "{}: {}", c.what, got.reason);
            assert_eq!(got.host.is_some(), c.host.is_some(), "{}", c.what);
        }
    }

    #[test]
    fn arch_rule_table() {
        let cases: &[(Option<&str>, Option<&str>, Verdict)] = &[
            (Some("amd64"), Some("amd64"), Pass),
            (Some("x86_64"), Some("amd64"), Pass),
            (Some("amd64"), Some("arm64"), Fail),
            (Some("arm64"), Some("aarch64"), Pass),
            (None, Some("amd64"), Unknown),
            (Some("amd64"), None, Unknown),
            (None, None, Unknown),
        ];
        for (c, h, want) in cases {
            let got = check_arch(
                &CheckpointFacts {
                    arch: c.map(str::to_string),
                    ..Default::default()
                },
                &HostFacts {
                    arch: h.map(str::to_string),
                    ..Default::default()
                },
            );
            assert_eq!(got.verdict, *want, "{c:?} {h:?}");
        }
    }

    #[test]
    fn runtime_rule_table() {
        use Engine::{Containerd, CriO, Podman};
        /// (checkpoint family, recorded runtime, host runtime, verdict)
        type Case = (
            Option<Engine>,
            Option<&'static str>,
            Option<&'static str>,
            Verdict,
        );
        let cases: &[Case] = &[
            (Some(Podman), Some("runc"), Some("runc"), Pass),
            (Some(Podman), Some("runc"), Some("crun"), Fail),
            (Some(Podman), Some("crun"), Some("runc"), Fail),
            (Some(Podman), None, Some("runc"), Unknown),
            (Some(Podman), Some("runc"), None, Unknown),
            (Some(CriO), Some(""), Some("crun"), Pass),
            (Some(CriO), None, None, Pass),
            (Some(CriO), Some("runc"), Some("runc"), Pass),
            (Some(CriO), Some("runc"), Some("crun"), Warn),
            (Some(CriO), Some("runc"), None, Unknown),
            (
                Some(Containerd),
                Some("io.containerd.runc.v2"),
                Some("runc"),
                Pass,
            ),
            (
                Some(Containerd),
                Some("io.containerd.runc.v2"),
                Some("crun"),
                Warn,
            ),
            (Some(Containerd), Some(""), Some("runc"), Pass),
            (None, Some("runc"), Some("runc"), Pass),
            (None, Some("runc"), Some("crun"), Warn),
            (None, None, Some("crun"), Unknown),
        ];
        for (engine, c, h, want) in cases {
            let got = check_runtime(
                &CheckpointFacts {
                    engine: *engine,
                    runtime: c.map(str::to_string),
                    ..Default::default()
                },
                &HostFacts {
                    runtime_name: h.map(str::to_string),
                    ..Default::default()
                },
            );
            assert_eq!(got.verdict, *want, "{engine:?} {c:?} {h:?}: {}", got.reason);
        }
        let fail = check_runtime(
            &lab_ckpt(),
            &HostFacts {
                runtime_name: s("crun"),
                ..lab_host()
            },
        );
        assert!(
            fail.reason.contains("requires runtime: runc"),
            "{}",
            fail.reason
        );
    }

    #[test]
    fn engine_rule_table() {
        use Engine::{Containerd, CriO, Podman};
        let cases: &[(Option<Engine>, Option<Engine>, Verdict, &str)] = &[
            (Some(Podman), Some(Podman), Pass, "restored by Podman"),
            (
                Some(Podman),
                Some(CriO),
                Fail,
                "io.kubernetes.cri-o.Annotations",
            ),
            (Some(Podman), Some(Containerd), Fail, "status.dump"),
            (Some(CriO), Some(Podman), Fail, "config.dump"),
            (Some(Containerd), Some(Containerd), Pass, "containerd"),
            (None, Some(CriO), Unknown, "does not record"),
            (Some(CriO), None, Pass, "only CRI-O can restore"),
            (None, None, Unknown, "does not record"),
        ];
        for (c, target, want, reason) in cases {
            let got = check_engine(
                &CheckpointFacts {
                    engine: *c,
                    ..Default::default()
                },
                &Options {
                    engine: *target,
                    criu_check: None,
                },
            );
            assert_eq!(got.verdict, *want, "{c:?} {target:?}");
            assert!(
                got.reason.contains(reason),
                "{c:?} {target:?}: {}",
                got.reason
            );
        }
    }

    #[test]
    fn kernel_rule_table() {
        let cases: &[(Option<&str>, Option<&str>, Verdict)] = &[
            (Some("6.18.44-fc-v595"), Some("6.18.44"), Pass),
            (Some("6.8.0-45-generic"), Some("6.18.44-fc-v595"), Pass),
            (Some("6.18.44-fc-v595"), Some("6.8.0-45-generic"), Warn),
            (
                Some("6.12.0-55.el10.x86_64"),
                Some("5.14.0-427.el9.x86_64"),
                Warn,
            ),
            (
                Some("5.14.0-427.el9.x86_64"),
                Some("5.14.0-503.el9.x86_64"),
                Pass,
            ),
            (Some("6.1.0"), Some("6.1"), Pass),
            (Some("6.1.1"), Some("6.1"), Warn),
            (None, Some("6.1"), Unknown),
            (Some("6.1"), None, Unknown),
            (Some("custom"), Some("6.1"), Unknown),
        ];
        for (c, h, want) in cases {
            let got = check_kernel(
                &CheckpointFacts {
                    kernel: c.map(str::to_string),
                    ..Default::default()
                },
                &HostFacts {
                    kernel: h.map(str::to_string),
                    ..Default::default()
                },
            );
            assert_eq!(got.verdict, *want, "{c:?} {h:?}");
            assert_eq!(got.checkpoint.as_deref(), *c, "raw values are reported");
        }
    }

    #[test]
    fn cgroup_rule_table() {
        let cases: &[(Option<&str>, Option<&str>, Verdict)] = &[
            (Some("v1"), Some("v1"), Pass),
            (Some("v2"), Some("v2"), Pass),
            (Some("v1"), Some("v2"), Warn),
            (Some("v2"), Some("v1"), Warn),
            (None, Some("v2"), Unknown),
            (Some("v2"), None, Unknown),
        ];
        for (c, h, want) in cases {
            let got = check_cgroup(
                &CheckpointFacts {
                    cgroup_version: c.map(str::to_string),
                    ..Default::default()
                },
                &HostFacts {
                    cgroup_version: h.map(str::to_string),
                    ..Default::default()
                },
            );
            assert_eq!(got.verdict, *want, "{c:?} {h:?}");
        }
    }

    #[test]
    fn distribution_is_informational() {
        let host = lab_host();
        assert_eq!(check_distribution(&lab_ckpt(), &host).verdict, Pass);
        let fedora = CheckpointFacts {
            distribution_name: s("fedora"),
            distribution_version: s("40"),
            ..Default::default()
        };
        let got = check_distribution(&fedora, &host);
        assert_eq!(got.verdict, Pass);
        assert_eq!(got.checkpoint.as_deref(), Some("fedora 40"));
        assert_eq!(got.host.as_deref(), Some("debian 13"));
        assert_eq!(
            check_distribution(&CheckpointFacts::default(), &host).verdict,
            Unknown
        );
        assert_eq!(
            check_distribution(&fedora, &HostFacts::default()).verdict,
            Unknown
        );
    }

    #[test]
    fn criu_check_outcomes() {
        let base = CriuCheck {
            criu_path: "/usr/sbin/criu".into(),
            passed: true,
            output: s("Looks good."),
        };
        assert_eq!(check_criu_check(&base).verdict, Pass);
        let failed = CriuCheck {
            passed: false,
            output: s("Warn: something\nError (criu/cr-check.c:1): must be run as root"),
            ..base.clone()
        };
        let got = check_criu_check(&failed);
        assert_eq!(got.verdict, Fail);
        assert!(got.reason.contains("must be run as root"));
        let not_started = CriuCheck {
            passed: false,
            output: None,
            ..base.clone()
        };
        assert_eq!(check_criu_check(&not_started).verdict, Unknown);
        // Only present when asked for, and then it counts.
        let r = evaluate(
            &lab_ckpt(),
            &lab_host(),
            &Options {
                engine: None,
                criu_check: Some(failed),
            },
        );
        assert!(!r.compatible);
        assert_eq!(r.failures(), ["criu_check"]);
        assert!(
            evaluate(&lab_ckpt(), &lab_host(), &Options::default())
                .get("criu_check")
                .is_none()
        );
    }

    #[test]
    fn compatible_means_no_failure() {
        // Warnings and unknowns only: compatible.
        let host = HostFacts {
            kernel: s("6.8.0-45-generic"),
            criu_version: v("4.1.1"),
            cgroup_version: s("v2"),
            arch: s("amd64"),
            runtime_name: None,
            distribution_name: None,
            ..lab_host()
        };
        let r = evaluate(&lab_ckpt(), &host, &Options::default());
        assert!(r.compatible, "{r:#?}");
        assert_eq!(r.get("kernel").map(|c| c.verdict), Some(Warn));
        assert_eq!(r.get("cgroup").map(|c| c.verdict), Some(Warn));
        assert_eq!(r.get("runtime").map(|c| c.verdict), Some(Unknown));
        // Nothing known at all: unknowns, and CRIU missing fails.
        let r = evaluate(
            &CheckpointFacts::default(),
            &HostFacts::default(),
            &Options::default(),
        );
        assert!(!r.compatible);
        assert_eq!(r.failures(), ["criu"]);
        assert!(
            r.checks
                .iter()
                .filter(|c| c.name != "criu")
                .all(|c| c.verdict == Unknown)
        );
        // Several failures are all reported.
        let host = HostFacts {
            arch: s("arm64"),
            runtime_name: s("crun"),
            ..lab_host()
        };
        let r = evaluate(
            &lab_ckpt(),
            &host,
            &Options {
                engine: Some(Engine::Containerd),
                criu_check: None,
            },
        );
        assert_eq!(r.failures(), ["arch", "runtime", "engine"]);
    }

    #[test]
    fn verdicts_serialise_lowercase() {
        let r = evaluate(&lab_ckpt(), &lab_host(), &Options::default());
        let j = serde_json::to_value(&r).expect("json");
        assert_eq!(j["compatible"], true);
        assert_eq!(j["checks"][0]["name"], "criu");
        assert_eq!(j["checks"][0]["verdict"], "ok");
        assert_eq!(j["checks"][0]["checkpoint"], "4.1.1");
        assert_eq!(serde_json::to_value(Unknown).expect("json"), "unknown");
    }
}
