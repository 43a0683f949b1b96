//! `check`: checkpoint facts + host probe → compatibility report.
//!
//! Checkpoint facts come from an image's annotations (any key family; the config's
//! `architecture` when no architecture annotation is present) or from an archive's own
//! evidence (`config.dump`, `spec.dump`, `dump.log`, `core-*.img`). Host facts come from
//! [`HostFacts::probe`], each overridable on the command line; the verdicts come from the
//! pure rules of [`crate::compat`]. Exit 0 when compatible (warnings allowed), 3 when a
//! check fails (the report is still printed).

use std::path::Path;

use serde_json::{Value, json};

use crate::annotations::{self, CheckpointFacts};
use crate::archive::ArchiveReader;
use crate::cli::{CheckArgs, Format, StorageArgs};
use crate::compat::{self, Options, Report, Verdict};
use crate::error::{Error, ExitCode, Result};
use crate::host::{
    self, CriuVersion, HostFacts, Probe, ProbeOptions, SystemProbe, goarch_from_uname,
};
use crate::image::layer::pump;
use crate::metadata::{self, Engine};
use crate::store::{ImageRef, Source, StoredImage, parse_source, read_image};

/// Run `check`.
///
/// # Errors
/// A bad option value (usage, exit 2), or the source cannot be read (exit 1).
pub fn run(args: &CheckArgs, format: Format) -> Result<ExitCode> {
    let overrides = Overrides::from_args(args)?;
    let source = parse_source(&args.source)?;
    let (location, facts) = match &source {
        Source::Archive(path) => (path.display().to_string(), archive_facts(path)?),
        Source::Image(r) => {
            let img = read_image(r, &args.storage)?;
            (img.location.clone(), image_facts(&img)?)
        }
    };
    let probe = SystemProbe;
    let host = host_facts(&probe, &overrides);
    let criu_check = args.criu_check.then(|| {
        let criu = host
            .criu_path
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("criu"));
        host::run_criu_check(&probe, &criu)
    });
    let opts = Options {
        engine: overrides.engine,
        criu_check,
    };
    let report = compat::evaluate(&facts, &host, &opts);
    let json = report_json(&location, &facts, &host, &opts, &report);
    let text = report_text(&location, &facts, &opts, &report);
    super::emit(format, &json, &text)?;
    Ok(if report.compatible {
        ExitCode::Ok
    } else {
        ExitCode::Incompatible
    })
}

/// Run the checks against this host right after `build` wrote `image`:
/// `(compatible, JSON report, text report)`.
///
/// # Errors
/// The image cannot be read back.
pub fn check_after_build(
    image: &ImageRef,
    storage: &StorageArgs,
    criu: Option<&Path>,
) -> Result<(bool, serde_json::Value, String)> {
    let img = read_image(image, storage)?;
    let facts = image_facts(&img)?;
    let overrides = Overrides {
        criu_path: criu.map(Path::to_path_buf),
        ..Overrides::default()
    };
    let host = host_facts(&SystemProbe, &overrides);
    let opts = Options::default();
    let report = compat::evaluate(&facts, &host, &opts);
    let json = report_json(&img.location, &facts, &host, &opts, &report);
    let text = report_text(&img.location, &facts, &opts, &report);
    Ok((report.compatible, json, text))
}

/// Host facts and options given on the command line, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Overrides {
    runtime: Option<String>,
    engine: Option<Engine>,
    criu_path: Option<std::path::PathBuf>,
    criu_version: Option<CriuVersion>,
    arch: Option<String>,
    kernel: Option<String>,
    cgroup_version: Option<String>,
}

fn non_empty(option: &str, v: &Option<String>) -> Result<Option<String>> {
    match v.as_deref().map(str::trim) {
        Some("") => Err(Error::Usage(format!("{option}: a value is required"))),
        Some(s) => Ok(Some(s.to_string())),
        None => Ok(None),
    }
}

impl Overrides {
    fn from_args(a: &CheckArgs) -> Result<Self> {
        let engine = match a.engine.as_deref() {
            None => None,
            Some(e) => Some(Engine::parse(e).ok_or_else(|| {
                Error::Usage(format!(
                    "--engine {e:?}: expected podman, cri-o or containerd"
                ))
            })?),
        };
        let criu_version = match a.criu_version.as_deref() {
            None => None,
            Some(v) => Some(host::parse_criu_version_value(v).ok_or_else(|| {
                Error::Usage(format!(
                    "--criu-version {v:?}: expected a CRIU version such as 4.1.1 or 40101"
                ))
            })?),
        };
        let cgroup_version = match a.cgroup_version.as_deref().map(str::trim) {
            None => None,
            Some("v1" | "1") => Some("v1".to_string()),
            Some("v2" | "2") => Some("v2".to_string()),
            Some(v) => {
                return Err(Error::Usage(format!(
                    "--cgroup-version {v:?}: expected v1 or v2"
                )));
            }
        };
        let arch = non_empty("--arch", &a.arch)?.map(|x| goarch_from_uname(&x));
        let kernel = non_empty("--kernel", &a.kernel)?;
        if let Some(k) = &kernel {
            if host::parse_kernel_version(k).is_none() {
                return Err(Error::Usage(format!(
                    "--kernel {k:?}: expected a kernel release such as 6.8.0-45-generic"
                )));
            }
        }
        Ok(Self {
            runtime: non_empty("--runtime", &a.runtime)?,
            engine,
            criu_path: a.criu.clone(),
            criu_version,
            arch,
            kernel,
            cgroup_version,
        })
    }
}

/// Probe the host, then apply what the command line says instead.
fn host_facts(p: &dyn Probe, o: &Overrides) -> HostFacts {
    let mut h = HostFacts::probe(
        p,
        &ProbeOptions {
            criu_path: o.criu_path.clone(),
            // A given version is believed; CRIU is not run at all.
            skip_criu: o.criu_version.is_some(),
            runtime_name: o.runtime.clone(),
            tool_versions: false,
        },
    );
    if let Some(v) = o.criu_version {
        h.criu_version = Some(v);
        h.criu_path = o.criu_path.clone();
    }
    if let Some(a) = &o.arch {
        h.arch = Some(a.clone());
    }
    if let Some(k) = &o.kernel {
        h.kernel = Some(k.clone());
    }
    if let Some(c) = &o.cgroup_version {
        h.cgroup_version = Some(c.clone());
    }
    h
}

/// Facts from a checkpoint archive's own evidence.
fn archive_facts(path: &Path) -> Result<CheckpointFacts> {
    let archive = ArchiveReader::open(path)?;
    let summary = pump(archive, None, &mut [])?;
    let md = metadata::from_archive(&summary)?;
    Ok(annotations::facts_from_metadata(&md))
}

/// Facts from an image's annotations; the config's architecture when none is annotated.
fn image_facts(img: &StoredImage) -> Result<CheckpointFacts> {
    let ann = img.annotations();
    if !annotations::is_checkpoint(&ann) {
        return Err(crate::err!(
            "{}: not a checkpoint image (no org.criu.checkpoint.*, io.podman.annotations.checkpoint.* or io.kubernetes.cri-o.annotations.checkpoint.* annotation)",
            img.location
        ));
    }
    let mut facts = annotations::facts_from_annotations(&ann);
    if facts.arch.is_none() {
        facts.arch = img.config_arch().filter(|a| !a.is_empty());
    }
    Ok(facts)
}

fn criu_json(v: Option<CriuVersion>) -> (Value, Value) {
    (
        v.map_or(Value::Null, |v| Value::String(v.to_string())),
        v.map_or(Value::Null, |v| json!(v.to_int())),
    )
}

fn report_json(
    location: &str,
    cp: &CheckpointFacts,
    host: &HostFacts,
    opts: &Options,
    report: &Report,
) -> Value {
    let (cp_criu, cp_criu_int) = criu_json(cp.criu_version);
    let (h_criu, h_criu_int) = criu_json(host.criu_version);
    json!({
        "compatible": report.compatible,
        "source": location,
        "engine": cp.engine.map(Engine::id),
        "restore_engine": opts.engine.map(Engine::id),
        "checks": report.checks,
        "host": {
            "arch": host.arch,
            "kernel": host.kernel,
            "criu_version": h_criu,
            "criu_version_int": h_criu_int,
            "criu_path": host.criu_path.as_ref().map(|p| p.display().to_string()),
            "cgroup_version": host.cgroup_version,
            "distribution_name": host.distribution_name,
            "distribution_version": host.distribution_version,
            "runtime": host.runtime_name,
        },
        "checkpoint": {
            "engine": cp.engine.map(Engine::id),
            "container_name": cp.container_name,
            "runtime": cp.runtime,
            "criu_version": cp_criu,
            "criu_version_int": cp_criu_int,
            "arch": cp.arch,
            "kernel": cp.kernel,
            "cgroup_version": cp.cgroup_version,
            "distribution_name": cp.distribution_name,
            "distribution_version": cp.distribution_version,
        },
    })
}

fn report_text(location: &str, cp: &CheckpointFacts, opts: &Options, report: &Report) -> String {
    let family = cp
        .engine
        .map_or("unknown engine", Engine::checkpointctl_name);
    let mut out = format!(
        "{} checkpoint {}{}\n",
        family,
        location,
        cp.container_name
            .as_deref()
            .map(|n| format!(" (container {n})"))
            .unwrap_or_default()
    );
    if let Some(e) = opts.engine {
        out.push_str(&format!("Restoring engine: {}\n", e.checkpointctl_name()));
    }
    let rows: Vec<[String; 5]> = report
        .checks
        .iter()
        .map(|c| {
            [
                c.name.to_string(),
                c.verdict.as_str().to_uppercase(),
                c.checkpoint.clone().unwrap_or_else(|| "-".into()),
                c.host.clone().unwrap_or_else(|| "-".into()),
                c.reason.clone(),
            ]
        })
        .collect();
    let header = ["CHECK", "RESULT", "CHECKPOINT", "HOST", "REASON"].map(str::to_string);
    let mut widths = [0usize; 4];
    for r in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (w, cell) in widths.iter().zip(r.iter()) {
            line.push_str(&format!("{cell:<w$}  "));
        }
        line.push_str(&r[4]);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let count = |v: Verdict| report.checks.iter().filter(|c| c.verdict == v).count();
    if report.compatible {
        out.push_str(&format!(
            "Compatible: this host can restore the checkpoint ({} warning(s), {} unknown)\n",
            count(Verdict::Warn),
            count(Verdict::Unknown)
        ));
    } else {
        out.push_str(&format!(
            "NOT compatible: {} failed\n",
            report.failures().join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn args(extra: &[(&str, &str)]) -> CheckArgs {
        let mut a = CheckArgs {
            source: OsString::from("x.tar"),
            runtime: None,
            engine: None,
            criu: None,
            criu_version: None,
            criu_check: false,
            arch: None,
            kernel: None,
            cgroup_version: None,
            storage: StorageArgs::default(),
        };
        for (k, v) in extra {
            let v = Some(v.to_string());
            match *k {
                "runtime" => a.runtime = v,
                "engine" => a.engine = v,
                "criu-version" => a.criu_version = v,
                "arch" => a.arch = v,
                "kernel" => a.kernel = v,
                "cgroup-version" => a.cgroup_version = v,
                other => panic!("{other}"),
            }
        }
        a
    }

    #[test]
    fn overrides_are_validated() {
        let o = Overrides::from_args(&args(&[
            ("engine", "CRI-O"),
            ("criu-version", "40101"),
            ("arch", "x86_64"),
            ("kernel", "6.18.44-fc-v595"),
            ("cgroup-version", "2"),
            ("runtime", "crun"),
        ]))
        .expect("valid");
        assert_eq!(o.engine, Some(Engine::CriO));
        assert_eq!(o.criu_version.map(CriuVersion::to_int), Some(40101));
        assert_eq!(o.arch.as_deref(), Some("amd64"));
        assert_eq!(o.cgroup_version.as_deref(), Some("v2"));
        for bad in [
            ("engine", "docker"),
            ("criu-version", "latest"),
            ("cgroup-version", "x"),
            ("cgroup-version", "v3"),
            ("kernel", "linux"),
            ("arch", " "),
            ("runtime", ""),
        ] {
            let e = Overrides::from_args(&args(&[bad])).expect_err(bad.0);
            assert_eq!(e.exit_code(), ExitCode::Usage, "{bad:?}");
        }
    }

    #[test]
    fn text_report_is_a_table() {
        let cp = CheckpointFacts {
            engine: Some(Engine::Podman),
            container_name: Some("counter".into()),
            runtime: Some("runc".into()),
            ..Default::default()
        };
        let host = HostFacts {
            runtime_name: Some("crun".into()),
            ..Default::default()
        };
        let r = compat::evaluate(&cp, &host, &Options::default());
        let t = report_text("x.tar", &cp, &Options::default(), &r);
        assert!(
            t.starts_with("Podman checkpoint x.tar (container counter)\n"),
            "{t}"
        );
        assert!(t.contains("\nruntime "), "{t}");
        assert!(t.contains("FAIL"), "{t}");
        assert!(t.ends_with("NOT compatible: criu, runtime failed\n"), "{t}");
        let j = report_json("x.tar", &cp, &host, &Options::default(), &r);
        assert_eq!(j["compatible"], false);
        assert_eq!(j["engine"], "podman");
        assert_eq!(j["checks"][2]["name"], "runtime");
        assert_eq!(j["checks"][2]["verdict"], "fail");
        assert_eq!(j["host"]["runtime"], "crun");
    }
}
