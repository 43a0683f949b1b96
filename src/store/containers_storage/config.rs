//! Store resolution, as Podman does it: which graph root, run root and driver a
//! containers-storage reference means, from the reference and command-line options, the
//! `STORAGE_DRIVER`/`STORAGE_OPTS` environment, and `storage.conf`
//! (`CONTAINERS_STORAGE_CONF`, else `/etc/containers/storage.conf`, else
//! `/usr/share/containers/storage.conf`; rootless: `$XDG_CONFIG_HOME/containers/storage.conf`
//! first, with graph root `~/.local/share/containers/storage` and run root
//! `$XDG_RUNTIME_DIR/containers`).
//!
//! It also owns the refusals of CONTAINERS-STORAGE.md §7: drivers other than `overlay` and
//! `vfs`, a split `imagestore`, uid/gid remapping and overlay `force_mask` change the
//! on-disk format, so such stores are refused before anything is written.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use crate::store::StorageSpec;
use crate::{bail, err};

/// The graph drivers the direct writer supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// `overlay` (also spelt `overlay2`).
    Overlay,
    /// `vfs`.
    Vfs,
}

impl Driver {
    /// The name used in directory names (`G/<name>-layers`) and references.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay",
            Driver::Vfs => "vfs",
        }
    }

    /// Parse a driver name; anything but overlay and vfs is refused.
    ///
    /// # Errors
    /// An unsupported driver, named in the message together with where it came from.
    pub fn parse(name: &str, origin: &str) -> Result<Driver> {
        match name {
            "overlay" | "overlay2" => Ok(Driver::Overlay),
            "vfs" => Ok(Driver::Vfs),
            other => bail!(
                "storage driver {other:?} ({origin}) is not supported: checkpointctl-image writes only overlay and vfs stores"
            ),
        }
    }
}

/// A resolved store location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Graph root (`G`).
    pub graphroot: PathBuf,
    /// Run root (`R`).
    pub runroot: PathBuf,
    /// Graph driver.
    pub driver: Driver,
}

impl StoreConfig {
    /// `G/<driver>-layers`.
    pub fn layers_dir(&self) -> PathBuf {
        self.graphroot
            .join(format!("{}-layers", self.driver.name()))
    }
    /// `G/<driver>-images`.
    pub fn images_dir(&self) -> PathBuf {
        self.graphroot
            .join(format!("{}-images", self.driver.name()))
    }
    /// `containers-storage:[driver@G+R]`.
    pub fn transport_prefix(&self) -> String {
        format!(
            "containers-storage:[{}@{}+{}]",
            self.driver.name(),
            self.graphroot.display(),
            self.runroot.display()
        )
    }
}

/// What the process environment contributes (separated out so that resolution is pure).
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// Effective uid is not 0.
    pub rootless: bool,
    /// The uid (for `$UID` in `rootless_storage_path`).
    pub uid: u32,
    /// `CONTAINERS_STORAGE_CONF`.
    pub storage_conf: Option<PathBuf>,
    /// `STORAGE_DRIVER`.
    pub storage_driver: Option<String>,
    /// `STORAGE_OPTS`.
    pub storage_opts: Option<String>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$USER`.
    pub user: Option<String>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
    /// `$XDG_DATA_HOME`.
    pub xdg_data_home: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<PathBuf>,
}

impl Env {
    /// Read the real process environment.
    pub fn current() -> Env {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let uid = nix::unistd::geteuid();
        Env {
            rootless: !uid.is_root(),
            uid: uid.as_raw(),
            storage_conf: var("CONTAINERS_STORAGE_CONF").map(PathBuf::from),
            storage_driver: var("STORAGE_DRIVER").and_then(|v| v.into_string().ok()),
            storage_opts: var("STORAGE_OPTS").and_then(|v| v.into_string().ok()),
            home: var("HOME").map(PathBuf::from),
            user: var("USER").and_then(|v| v.into_string().ok()),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            xdg_data_home: var("XDG_DATA_HOME").map(PathBuf::from),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
        }
    }
}

/// The system-wide configuration files, in order of preference.
const SYSTEM_CONFS: &[&str] = &[
    "/etc/containers/storage.conf",
    "/usr/share/containers/storage.conf",
];

/// The `storage.conf` settings that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfFile {
    /// `[storage] driver`.
    pub driver: Option<String>,
    /// `[storage] graphroot`.
    pub graphroot: Option<PathBuf>,
    /// `[storage] runroot`.
    pub runroot: Option<PathBuf>,
    /// `[storage] rootless_storage_path`.
    pub rootless_storage_path: Option<String>,
}

/// Parse `storage.conf` text, refusing the settings that change the on-disk format.
///
/// # Errors
/// Invalid TOML, or a refused setting (named, with the file).
pub fn parse_conf(text: &str, path: &Path) -> Result<ConfFile> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| err!("{}: {}", path.display(), one_line(&e.to_string())))?;
    let refuse = |setting: &str, why: &str| -> crate::error::Error {
        err!(
            "{}: {setting} is set: {why}; checkpointctl-image cannot write such a store",
            path.display()
        )
    };
    let mut conf = ConfFile::default();
    let Some(storage) = doc.get("storage") else {
        return Ok(conf);
    };
    let storage = storage
        .as_table()
        .ok_or_else(|| err!("{}: [storage] is not a table", path.display()))?;
    let string = |t: &toml::Table, key: &str, section: &str| -> Result<Option<String>> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) if s.is_empty() => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => bail!("{}: [{section}] {key} is not a string", path.display()),
        }
    };
    conf.driver = string(storage, "driver", "storage")?;
    conf.graphroot = string(storage, "graphroot", "storage")?.map(PathBuf::from);
    conf.runroot = string(storage, "runroot", "storage")?.map(PathBuf::from);
    conf.rootless_storage_path = string(storage, "rootless_storage_path", "storage")?;
    if string(storage, "imagestore", "storage")?.is_some() {
        return Err(refuse(
            "[storage] imagestore",
            "a split image store puts layers outside the graph root",
        ));
    }
    if let Some(options) = storage.get("options") {
        let options = options
            .as_table()
            .ok_or_else(|| err!("{}: [storage.options] is not a table", path.display()))?;
        for key in ["remap-uids", "remap-gids", "remap-user"] {
            if string(options, key, "storage.options")?.is_some() {
                return Err(refuse(
                    &format!("[storage.options] {key}"),
                    "id-remapped stores need shifted ownership and uidmap records",
                ));
            }
        }
        if string(options, "force_mask", "storage.options")?.is_some() {
            return Err(refuse(
                "[storage.options] force_mask",
                "modes are then kept in an xattr",
            ));
        }
        if let Some(overlay) = options.get("overlay") {
            let overlay = overlay.as_table().ok_or_else(|| {
                err!(
                    "{}: [storage.options.overlay] is not a table",
                    path.display()
                )
            })?;
            if string(overlay, "force_mask", "storage.options.overlay")?.is_some() {
                return Err(refuse(
                    "[storage.options.overlay] force_mask",
                    "modes are then kept in an xattr",
                ));
            }
        }
    }
    Ok(conf)
}

/// Refuse format-changing `STORAGE_OPTS` entries (`overlay.force_mask=…`, `imagestore=…`).
///
/// # Errors
/// A refused option, named.
pub fn check_storage_opts(opts: &str) -> Result<()> {
    for opt in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let key = opt.split_once('=').map(|(k, _)| k).unwrap_or(opt);
        let bare = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
        if matches!(
            bare.as_str(),
            "force_mask" | "imagestore" | "remap-uids" | "remap-gids" | "remap-user"
        ) {
            bail!(
                "STORAGE_OPTS: {key} is set: it changes the on-disk format; checkpointctl-image cannot write such a store"
            );
        }
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Which configuration file applies, if any.
fn conf_path(env: &Env) -> Result<Option<PathBuf>> {
    if let Some(p) = &env.storage_conf {
        // Like Podman: a CONTAINERS_STORAGE_CONF that does not exist is an error.
        if !p.exists() {
            bail!("CONTAINERS_STORAGE_CONF={}: no such file", p.display());
        }
        return Ok(Some(p.clone()));
    }
    if env.rootless {
        let user = env
            .xdg_config_home
            .clone()
            .or_else(|| env.home.as_ref().map(|h| h.join(".config")))
            .map(|d| d.join("containers/storage.conf"));
        if let Some(u) = user.filter(|u| u.exists()) {
            return Ok(Some(u));
        }
    }
    Ok(SYSTEM_CONFS.iter().map(PathBuf::from).find(|p| p.exists()))
}

fn expand_rootless(path: &str, env: &Env) -> PathBuf {
    let home = env
        .home
        .as_ref()
        .map(|h| h.display().to_string())
        .unwrap_or_default();
    PathBuf::from(
        path.replace("$HOME", &home)
            .replace("$UID", &env.uid.to_string())
            .replace("$USER", env.user.as_deref().unwrap_or("")),
    )
}

/// Resolve a [`StorageSpec`] into a store location (pure apart from reading `storage.conf`
/// and probing for existing driver directories and kernel overlay support).
///
/// # Errors
/// An unreadable or invalid `storage.conf`, a refused setting, an unsupported driver, or
/// no way to find the graph root.
pub fn resolve_with(spec: &StorageSpec, env: &Env) -> Result<StoreConfig> {
    let conf_file = conf_path(env)?;
    let conf = match &conf_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
            parse_conf(&text, p)?
        }
        None => ConfFile::default(),
    };
    if let Some(opts) = &env.storage_opts {
        check_storage_opts(opts)?;
    }
    let user_conf = env.rootless
        && conf_file
            .as_ref()
            .is_some_and(|p| !SYSTEM_CONFS.iter().any(|s| Path::new(s) == p));
    let graphroot = match &spec.graphroot {
        Some(g) => g.clone(),
        None if !env.rootless || user_conf => match &conf.graphroot {
            Some(g) => g.clone(),
            None if !env.rootless => PathBuf::from("/var/lib/containers/storage"),
            None => rootless_graphroot(&conf, env)?,
        },
        None => rootless_graphroot(&conf, env)?,
    };
    let runroot = match &spec.runroot {
        Some(r) => r.clone(),
        None if !env.rootless || user_conf => match &conf.runroot {
            Some(r) => r.clone(),
            None if !env.rootless => PathBuf::from("/run/containers/storage"),
            None => rootless_runroot(env),
        },
        None => rootless_runroot(env),
    };
    let driver = if let Some(d) = &spec.driver {
        Driver::parse(d, "storage driver option")?
    } else if let Some(d) = &env.storage_driver {
        Driver::parse(d, "STORAGE_DRIVER")?
    } else if let Some(d) = &conf.driver {
        let origin = conf_file
            .as_ref()
            .map(|p| format!("driver in {}", p.display()))
            .unwrap_or_default();
        Driver::parse(d, &origin)?
    } else {
        default_driver(&graphroot)?
    };
    Ok(StoreConfig {
        graphroot,
        runroot,
        driver,
    })
}

fn rootless_graphroot(conf: &ConfFile, env: &Env) -> Result<PathBuf> {
    if let Some(p) = &conf.rootless_storage_path {
        return Ok(expand_rootless(p, env));
    }
    let data = env
        .xdg_data_home
        .clone()
        .or_else(|| env.home.as_ref().map(|h| h.join(".local/share")))
        .ok_or_else(|| {
            err!("cannot find the rootless graph root: neither $XDG_DATA_HOME nor $HOME is set")
        })?;
    Ok(data.join("containers/storage"))
}

fn rootless_runroot(env: &Env) -> PathBuf {
    match &env.xdg_runtime_dir {
        Some(d) => d.join("containers"),
        None => PathBuf::from(format!("/run/user/{}/containers", env.uid)),
    }
}

/// No driver configured: the one a store already uses, else overlay when the kernel has
/// it, else vfs.
fn default_driver(graphroot: &Path) -> Result<Driver> {
    let overlay = graphroot.join("overlay-layers").is_dir();
    let vfs = graphroot.join("vfs-layers").is_dir();
    match (overlay, vfs) {
        (true, true) => bail!(
            "{} holds both overlay and vfs layers; choose one with --storage-driver",
            graphroot.display()
        ),
        (true, false) => return Ok(Driver::Overlay),
        (false, true) => return Ok(Driver::Vfs),
        (false, false) => {}
    }
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if fs
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
    {
        Ok(Driver::Overlay)
    } else {
        Ok(Driver::Vfs)
    }
}

/// Resolve with the real environment.
///
/// # Errors
/// See [`resolve_with`].
pub fn resolve(spec: &StorageSpec) -> Result<StoreConfig> {
    resolve_with(spec, &Env::current())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> Result<ConfFile> {
        parse_conf(text, Path::new("/x/storage.conf"))
    }

    #[test]
    fn storage_conf_table() {
        let c = conf(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"/g\"\nrunroot = \"/r\"\nimagestore = \"\"\n[storage.options]\nadditionalimagestores = []\nremap-uids = \"\"\n[storage.options.overlay]\nmountopt = \"nodev\"\nforce_mask = \"\"\n",
        )
        .expect("valid");
        assert_eq!(c.driver.as_deref(), Some("overlay"));
        assert_eq!(c.graphroot, Some(PathBuf::from("/g")));
        assert_eq!(c.runroot, Some(PathBuf::from("/r")));
        assert_eq!(conf("").expect("empty"), ConfFile::default());

        let refused: &[(&str, &str)] = &[
            ("[storage]\nimagestore = \"/i\"\n", "imagestore"),
            ("[storage.options]\nremap-uids = \"0:1:2\"\n", "remap-uids"),
            (
                "[storage.options]\nremap-user = \"containers\"\n",
                "remap-user",
            ),
            (
                "[storage.options.overlay]\nforce_mask = \"shared\"\n",
                "force_mask",
            ),
            ("[storage.options]\nforce_mask = \"0755\"\n", "force_mask"),
            ("[storage\n", "storage.conf"),
            ("[storage]\ndriver = 3\n", "driver"),
        ];
        for (text, needle) in refused {
            let e = conf(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(e.contains("/x/storage.conf"), "{text}: {e}");
            assert!(!e.contains('\n'), "{text}: one line: {e}");
        }
    }

    #[test]
    fn storage_opts_table() {
        assert!(check_storage_opts("overlay.mountopt=nodev").is_ok());
        assert!(check_storage_opts("overlay.force_mask=shared").is_err());
        assert!(check_storage_opts("vfs.imagestore=/x").is_err());
    }

    #[test]
    fn resolution_order() {
        let tmp = tempfile::tempdir().expect("tmp");
        let conf_path = tmp.path().join("storage.conf");
        std::fs::write(
            &conf_path,
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"/cg\"\nrunroot = \"/cr\"\n",
        )
        .expect("write");
        let env = Env {
            storage_conf: Some(conf_path.clone()),
            ..Env::default()
        };
        let c = resolve_with(&StorageSpec::default(), &env).expect("resolve");
        assert_eq!(c.graphroot, PathBuf::from("/cg"));
        assert_eq!(c.runroot, PathBuf::from("/cr"));
        assert_eq!(c.driver, Driver::Vfs);
        let spec = StorageSpec {
            driver: Some("overlay".into()),
            graphroot: Some("/g".into()),
            runroot: None,
        };
        let c = resolve_with(&spec, &env).expect("resolve");
        assert_eq!(c.graphroot, PathBuf::from("/g"));
        assert_eq!(c.runroot, PathBuf::from("/cr"));
        assert_eq!(c.driver, Driver::Overlay);
        let env_drv = Env {
            storage_driver: Some("btrfs".into()),
            ..env.clone()
        };
        let e = resolve_with(&StorageSpec::default(), &env_drv).expect_err("btrfs");
        assert!(e.to_string().contains("btrfs"), "{e}");

        let missing = Env {
            storage_conf: Some(tmp.path().join("missing.conf")),
            ..Env::default()
        };
        let e = resolve_with(&StorageSpec::default(), &missing).expect_err("missing");
        assert!(e.to_string().contains("missing.conf"), "{e}");

        // Rootless defaults.
        let empty = tmp.path().join("empty.conf");
        std::fs::write(&empty, "").expect("write");
        let rootless = Env {
            rootless: true,
            uid: 1000,
            storage_conf: Some(empty),
            home: Some("/home/u".into()),
            xdg_runtime_dir: Some("/run/user/1000".into()),
            ..Env::default()
        };
        let spec = StorageSpec {
            driver: Some("vfs".into()),
            ..StorageSpec::default()
        };
        let c = resolve_with(&spec, &rootless).expect("rootless");
        assert_eq!(
            c.graphroot,
            PathBuf::from("/home/u/.local/share/containers/storage")
        );
        assert_eq!(c.runroot, PathBuf::from("/run/user/1000/containers"));
    }

    #[test]
    fn existing_driver_dirs_win() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(tmp.path().join("vfs-layers")).expect("mkdir");
        assert_eq!(default_driver(tmp.path()).ok(), Some(Driver::Vfs));
        std::fs::create_dir(tmp.path().join("overlay-layers")).expect("mkdir");
        assert!(default_driver(tmp.path()).is_err());
    }
}
