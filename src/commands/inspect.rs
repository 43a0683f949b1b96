//! `inspect`: what a checkpoint archive or image holds (engine, container, pod, base
//! image, runtime, checkpoint host facts, annotations), as JSON or a short summary.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::annotations::{self, CheckpointFacts};
use crate::archive::ArchiveReader;
use crate::cli::{Format, InspectArgs};
use crate::error::{ExitCode, Result};
use crate::image::layer::pump;
use crate::metadata;
use crate::store::{Source, StoredImage, parse_source, read_image};

/// Run `inspect`.
///
/// # Errors
/// The source cannot be read.
pub fn run(args: &InspectArgs, format: Format) -> Result<ExitCode> {
    let (json, text) = match parse_source(&args.source)? {
        Source::Archive(path) => inspect_archive(&path, args.members)?,
        Source::Image(r) => inspect_image(&read_image(&r, &args.storage)?),
    };
    super::emit(format, &json, &text)?;
    Ok(ExitCode::Ok)
}

fn facts_json(f: &CheckpointFacts) -> Value {
    json!({
        "criu_version": f.criu_version.map(|v| v.to_string()),
        "criu_version_int": f.criu_version.map(|v| v.to_int()),
        "arch": f.arch,
        "kernel": f.kernel,
        "cgroup_version": f.cgroup_version,
        "distribution_name": f.distribution_name,
        "distribution_version": f.distribution_version,
    })
}

fn facts_text(f: &CheckpointFacts) -> String {
    let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
    format!(
        "  CRIU        {}\n  arch        {}\n  kernel      {}\n  cgroup      {}\n",
        f.criu_version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "unknown".into()),
        o(&f.arch),
        o(&f.kernel),
        o(&f.cgroup_version)
    )
}

fn inspect_archive(path: &std::path::Path, members: bool) -> Result<(Value, String)> {
    let archive = ArchiveReader::open(path)?;
    let compression = archive.compression();
    let size = archive.file_size();
    let summary = pump(archive, None, &mut [])?;
    let md = metadata::from_archive(&summary)?;
    let facts = annotations::facts_from_metadata(&md);
    // The annotations `build --no-host-facts` would write (creation time left out).
    let mut ann =
        annotations::for_checkpoint(&md, &annotations::merge_facts(&md, &Default::default()), "");
    ann.remove(annotations::OCI_CREATED);
    let json = json!({
        "source": path.display().to_string(),
        "type": "archive",
        "compression": compression.as_str(),
        "size": size,
        "layer_size": summary.layer_size,
        "engine": md.engine.id(),
        "container": {"id": md.container_id, "name": md.container_name},
        "pod": {"name": md.pod_name, "id": md.pod_id, "namespace": md.pod_namespace, "uid": md.pod_uid},
        "base_image": {
            "name": md.rootfs_image_name,
            "user_requested": md.rootfs_image_user_requested,
            "id": md.rootfs_image_id,
            "digest": md.rootfs_image_digest,
        },
        "runtime": md.runtime,
        "created_time": md.created_time,
        "checkpointed_time": md.checkpointed_time,
        "checkpoint_host": facts_json(&facts),
        "has_inventory": md.has_inventory,
        "annotations": ann,
        "member_count": summary.members.len(),
        "members": if members { serde_json::to_value(&summary.members)? } else { Value::Null },
    });
    let mut text = format!(
        "Checkpoint archive {} ({}, {} bytes)\n  engine      {}\n  container   {}\n  pod         {}\n  base image  {}\n  runtime     {}\n",
        path.display(),
        compression.as_str(),
        size,
        md.engine.checkpointctl_name(),
        md.container_name.as_deref().unwrap_or("unknown"),
        md.pod_name.as_deref().unwrap_or("-"),
        md.rootfs_image_name.as_deref().unwrap_or("unknown"),
        md.runtime.as_deref().unwrap_or("unknown"),
    );
    text.push_str(&facts_text(&facts));
    text.push_str(&format!("  members     {}\n", summary.members.len()));
    if members {
        for m in &summary.members {
            text.push_str(&format!("    {:>10}  {}\n", m.size, m.path));
        }
    }
    Ok((json, text))
}

fn inspect_image(img: &StoredImage) -> (Value, String) {
    let ann: BTreeMap<String, String> = img.annotations();
    let mut facts = annotations::facts_from_annotations(&ann);
    if facts.arch.is_none() {
        facts.arch = img.config_arch();
    }
    let manifest: Value = serde_json::from_slice(&img.manifest).unwrap_or(Value::Null);
    let layers = manifest.get("layers").cloned().unwrap_or(Value::Null);
    let is_ckpt = annotations::is_checkpoint(&ann);
    let json = json!({
        "source": img.location,
        "type": "image",
        "names": img.names,
        "image_id": img.id,
        "manifest_digest": img.manifest_digest,
        "checkpoint": is_ckpt,
        "engine": facts.engine.map(|e| e.id()),
        "container": {"name": facts.container_name},
        "runtime": facts.runtime,
        "base_image": {
            "name": ann.get(annotations::OCI_BASE_NAME),
            "digest": ann.get(annotations::OCI_BASE_DIGEST),
        },
        "checkpoint_host": facts_json(&facts),
        "layers": layers,
        "annotations": ann,
    });
    let mut text = format!(
        "{} image {}\n  names       {}\n  image ID    {}\n  engine      {}\n  container   {}\n  runtime     {}\n",
        if is_ckpt {
            "Checkpoint"
        } else {
            "Non-checkpoint"
        },
        img.location,
        if img.names.is_empty() {
            "-".to_string()
        } else {
            img.names.join(", ")
        },
        img.id,
        facts
            .engine
            .map(|e| e.checkpointctl_name())
            .unwrap_or("unknown"),
        facts.container_name.as_deref().unwrap_or("unknown"),
        facts.runtime.as_deref().unwrap_or("unknown"),
    );
    text.push_str(&facts_text(&facts));
    text.push_str(&format!("  annotations {}\n", ann.len()));
    (json, text)
}
