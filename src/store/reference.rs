//! Image names as containers-storage stores them: a docker reference normalised the way
//! `buildah commit` and Podman do for local images — a name without a registry gets
//! `localhost/`, a name without a tag gets `:latest`.
//!
//! Grammar (distribution/reference): `[DOMAIN/]PATH[:TAG]`; path components are
//! `[a-z0-9]+` joined by `.`, `_`, `__` or dashes; the first component is a domain when
//! it contains `.` or `:` or is `localhost`; tags are `[\w][\w.-]{0,127}`.

/// Normalise `name` to `DOMAIN/PATH:TAG`.
///
/// # Errors
/// A reference that does not follow the grammar (the message says why), or one with a
/// digest (`@sha256:…`), which cannot name a new image.
pub fn normalize(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("empty image name".into());
    }
    if name.contains('@') {
        return Err(format!(
            "invalid image name {name:?}: a digest cannot name a new image"
        ));
    }
    if name.len() > 255 {
        return Err(format!(
            "invalid image name {name:?}: longer than 255 characters"
        ));
    }
    // The tag is after the last ':' that follows the last '/'.
    let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..])),
        None => (name, None),
    };
    let tag = tag.unwrap_or("latest");
    if !valid_tag(tag) {
        return Err(format!("invalid image name {name:?}: invalid tag {tag:?}"));
    }
    let (domain, path) = match repo.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => ("localhost", repo),
    };
    if !valid_domain(domain) {
        return Err(format!(
            "invalid image name {name:?}: invalid registry {domain:?}"
        ));
    }
    if path.is_empty() || !path.split('/').all(valid_path_component) {
        return Err(format!(
            "invalid image name {name:?}: repository names must be lowercase letters, digits and separators (. _ -)"
        ));
    }
    Ok(format!("{domain}/{path}:{tag}"))
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        })
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|s| s == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let ok = [
            ("ckpt", "localhost/ckpt:latest"),
            ("ckpt:v1", "localhost/ckpt:v1"),
            ("my/ckpt", "localhost/my/ckpt:latest"),
            ("localhost/ckpt", "localhost/ckpt:latest"),
            ("quay.io/org/ckpt:1.0", "quay.io/org/ckpt:1.0"),
            ("registry:5000/ckpt", "registry:5000/ckpt:latest"),
            ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c"),
            ("a__b-c.d", "localhost/a__b-c.d:latest"),
            (
                "counter-checkpoint:2026-11-22T05_34",
                "localhost/counter-checkpoint:2026-11-22T05_34",
            ),
        ];
        for (input, want) in ok {
            assert_eq!(normalize(input).as_deref(), Ok(want), "{input}");
        }
        for bad in [
            "",
            "Upper",
            "a:",
            "a:-x",
            "a@sha256:0000",
            "-a",
            "a/",
            "a..b",
            "localhost:x/a",
            "a b",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
