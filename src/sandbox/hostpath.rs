//! Docker-out-of-Docker: bind sources in the Docker host's terms.
//!
//! A gateway (or any openclaw process that makes sandboxes) running in a
//! container with the host's Docker socket mounted sees its own paths, say
//! `/home/node/.openclaw/sandboxes/…`; the engine resolves a bind source on
//! the host, where that path does not exist (upstream issue #31331). So
//! before a create, every bind source is translated through the mounts of
//! the process's own container (`Docker::own_container`, cached per
//! handle): the mount whose destination is the longest path prefix of the
//! source wins, and the source becomes that mount's host `Source` plus the
//! rest of the path. Bind and volume mounts have a host source; a path on a
//! tmpfs mount or in the container's own file system has none and is
//! refused with [`Unmapped`], which names the path and the fix.
//!
//! Paths are matched after following symlinks (in the part that exists), as
//! the engine would follow them on the host. On the host, or in a container
//! the engine does not run, paths are given as they are.
//!
//! Not here: finding the container (`docker::own`), and the bind checks
//! themselves (`config::sandbox`); a translated `docker.binds` source is
//! checked again as a host path with `check_host_source`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::sandbox::{self as cfgsbx, SandboxConfig, WorkspaceAccess, check_bind, check_host_source};
use crate::docker::{self, ContainerInfo, Docker};
use super::spec::{self, SpecError};

/// Where this process's paths live for the engine.
#[derive(Debug, Clone, Default)]
pub struct HostView {
    own: Option<Own>,
}

/// One mount of this process's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    /// Where it is mounted in the container (normalized).
    pub destination: PathBuf,
    /// `bind`, `volume`, `tmpfs`, …
    pub kind: String,
    /// The host path behind it; `None` for a tmpfs or a volume without one.
    pub source: Option<PathBuf>,
}

/// Why a path has no host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// Under no mount: it lives in the container's own file system.
    NotMounted,
    /// On a mount with no host path (a tmpfs).
    NoHostSource { destination: PathBuf, kind: String },
}

/// A bind source that cannot be given to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    /// What the path is, e.g. "the sandbox workspace".
    pub what: &'static str,
    /// The setting that places it.
    pub setting: &'static str,
    pub path: PathBuf,
    /// This process's container.
    pub container: String,
    pub miss: Miss,
}

#[derive(Debug, Clone)]
struct Own {
    name: String,
    mounts: Vec<MountPoint>,
}

impl HostView {
    /// The view of a process on the host: paths are host paths.
    pub fn host() -> HostView {
        HostView { own: None }
    }

    /// The view for the engine behind `docker`: the mounts of the container
    /// this process runs in, or the host view.
    pub fn of(docker: &Docker) -> Result<HostView, docker::Error> {
        Ok(match docker.own_container()? {
            Some(info) => HostView::from_container(&info),
            None => HostView::host(),
        })
    }

    /// The view from inside the container `info` describes. A destination
    /// that resolves elsewhere through a symlink in this process's view is
    /// also recorded under its real path.
    pub fn from_container(info: &ContainerInfo) -> HostView {
        let mut mounts = Vec::new();
        let mut add = |destination: &str, kind: &str, source: Option<PathBuf>| {
            let lexical = cfgsbx::normalize(Path::new(destination));
            let real = std::fs::canonicalize(&lexical).ok().filter(|r| *r != lexical);
            for destination in std::iter::once(lexical).chain(real) {
                mounts.push(MountPoint { destination, kind: kind.to_string(), source: source.clone() });
            }
        };
        for m in &info.mounts {
            let source = (matches!(m.kind.as_str(), "bind" | "volume") && !m.source.is_empty()).then(|| PathBuf::from(&m.source));
            add(&m.destination, &m.kind, source);
        }
        for destination in info.host_config.tmpfs.keys() {
            add(destination, "tmpfs", None);
        }
        let name = if info.name.is_empty() { info.id.get(..12).unwrap_or(&info.id).to_string() } else { info.name.clone() };
        HostView { own: Some(Own { name, mounts }) }
    }

    /// The name of the container this process runs in, if any.
    pub fn container(&self) -> Option<&str> {
        self.own.as_ref().map(|o| o.name.as_str())
    }

    /// `path` as the engine's host knows it. `what` and `setting` name the
    /// path in the error.
    pub fn to_host(&self, path: &Path, what: &'static str, setting: &'static str) -> Result<PathBuf, Box<Unmapped>> {
        let Some(own) = &self.own else { return Ok(path.to_path_buf()) };
        let real = cfgsbx::resolve_existing(&cfgsbx::normalize(path));
        translate(&own.mounts, &real).map_err(|miss| {
            Box::new(Unmapped { what, setting, path: path.to_path_buf(), container: own.name.clone(), miss })
        })
    }
}

/// The host path of `path` (absolute, normalized, symlinks resolved) under
/// `mounts`: the mount with the longest destination that is a path prefix of
/// it (whole components: `/data` is not a prefix of `/database`) decides.
pub fn translate(mounts: &[MountPoint], path: &Path) -> Result<PathBuf, Miss> {
    let best = mounts
        .iter()
        .filter(|m| path.starts_with(&m.destination))
        .max_by_key(|m| m.destination.components().count())
        .ok_or(Miss::NotMounted)?;
    let Some(source) = &best.source else {
        return Err(Miss::NoHostSource { destination: best.destination.clone(), kind: best.kind.clone() });
    };
    let rest = path.strip_prefix(&best.destination).unwrap_or(Path::new(""));
    Ok(if rest.as_os_str().is_empty() { source.clone() } else { source.join(rest) })
}

/// The bind strings of a sandbox create in host terms (the same list, in
/// the same order, as the create request's, from [`spec::workspace_binds`]
/// and `docker.binds`), or `None` on the host, where they need no
/// translation. A translated `docker.binds` source is checked again as a
/// host path.
pub fn host_binds(
    view: &HostView,
    cfg: &SandboxConfig,
    name: &str,
    sandbox_dir: &Path,
    agent_dir: &Path,
    home: &Path,
) -> Result<Option<Vec<String>>, super::Error> {
    if view.container().is_none() {
        return Ok(None);
    }
    let access = cfg.workspace_access;
    let unmapped = |source: Box<Unmapped>| super::Error::NoHostPath { name: name.to_string(), source };
    let sandbox_host = match access {
        WorkspaceAccess::Rw => sandbox_dir.to_path_buf(),
        _ => view.to_host(sandbox_dir, "the sandbox workspace", "agents.defaults.sandbox.workspaceRoot").map_err(unmapped)?,
    };
    let agent_host = match access {
        WorkspaceAccess::None => agent_dir.to_path_buf(),
        _ => view.to_host(agent_dir, "the agent workspace", "agents.defaults.workspace").map_err(unmapped)?,
    };
    let mut binds = spec::workspace_binds(access, &sandbox_host, &agent_host, &cfg.docker.workdir);
    for bind in &cfg.docker.binds {
        let shown = bind.to_bind_string();
        let refused = |reason: String| SpecError::Bind { name: name.to_string(), bind: shown.clone(), reason };
        let mut checked = check_bind(&shown, home).map_err(refused)?;
        let host = view.to_host(&checked.source, "the bind source", "agents.defaults.sandbox.docker.binds").map_err(unmapped)?;
        check_host_source(&host, &checked.source.to_string_lossy()).map_err(refused)?;
        checked.source = host;
        binds.push(checked.to_bind_string());
    }
    Ok(Some(binds))
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, container) = (self.path.display(), &self.container);
        write!(f, "{} {path} has no path on the Docker host: this process runs in container {container}, and ", self.what)?;
        match &self.miss {
            Miss::NotMounted => f.write_str("that path is not on a mount from the host")?,
            Miss::NoHostSource { destination, kind } => {
                write!(f, "that path is on its {kind} mount {}, which has no host folder", destination.display())?
            }
        }
        write!(
            f,
            ", so a sandbox cannot mount it. Mount a host folder there (as docker-compose.yml mounts \
             OPENCLAW_CONFIG_DIR at /home/node/.openclaw and OPENCLAW_WORKSPACE_DIR at \
             /home/node/.openclaw/workspace), or change {} to a folder that is mounted from the host",
            self.setting
        )
    }
}

impl std::error::Error for Unmapped {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sandbox::{self, BindMount, SandboxSettings};
    use crate::docker::{HostConfigInfo, Mount};

    fn mp(destination: &str, kind: &str, source: Option<&str>) -> MountPoint {
        MountPoint { destination: destination.into(), kind: kind.into(), source: source.map(PathBuf::from) }
    }

    fn mounts() -> Vec<MountPoint> {
        vec![
            mp("/home/node/.openclaw", "bind", Some("/srv/openclaw/config")),
            mp("/home/node/.openclaw/workspace", "bind", Some("/srv/openclaw/workspace")),
            mp("/data", "volume", Some("/var/lib/docker/volumes/data/_data")),
            mp("/data/cache", "tmpfs", None),
            mp("/var/run/docker.sock", "bind", Some("/var/run/docker.sock")),
        ]
    }

    fn t(path: &str) -> Result<PathBuf, Miss> {
        translate(&mounts(), Path::new(path))
    }

    #[test]
    fn longest_destination_wins() {
        assert_eq!(t("/home/node/.openclaw").unwrap(), Path::new("/srv/openclaw/config"));
        assert_eq!(t("/home/node/.openclaw/sandboxes/agent-main-f331f052").unwrap(), Path::new("/srv/openclaw/config/sandboxes/agent-main-f331f052"));
        assert_eq!(t("/home/node/.openclaw/workspace").unwrap(), Path::new("/srv/openclaw/workspace"));
        assert_eq!(t("/home/node/.openclaw/workspace/a/b").unwrap(), Path::new("/srv/openclaw/workspace/a/b"));
        assert_eq!(t("/home/node/.openclaw/workspace2").unwrap(), Path::new("/srv/openclaw/config/workspace2"), "whole components only");
    }

    #[test]
    fn volumes_have_a_host_source() {
        assert_eq!(t("/data/projects/x").unwrap(), Path::new("/var/lib/docker/volumes/data/_data/projects/x"));
    }

    #[test]
    fn no_host_path_is_a_miss() {
        assert_eq!(t("/home/node/other"), Err(Miss::NotMounted));
        assert_eq!(t("/database"), Err(Miss::NotMounted), "/data is not a prefix of /database");
        assert_eq!(t("/"), Err(Miss::NotMounted));
        assert_eq!(t("/data/cache/x"), Err(Miss::NoHostSource { destination: "/data/cache".into(), kind: "tmpfs".into() }));
        assert_eq!(translate(&[], Path::new("/x")), Err(Miss::NotMounted));
    }

    fn info(mounts: Vec<Mount>, tmpfs: &[&str]) -> ContainerInfo {
        ContainerInfo {
            id: "3f4e8a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccdd0".into(),
            name: "openclaw-gateway-1".into(),
            created: String::new(),
            image: "openclaw:local".into(),
            user: String::new(),
            labels: Default::default(),
            running: true,
            status: "running".into(),
            exit_code: 0,
            oom_killed: false,
            pid: 1,
            started_at: String::new(),
            finished_at: String::new(),
            mounts,
            host_config: HostConfigInfo {
                network_mode: "default".into(),
                read_only_root: false,
                tmpfs: tmpfs.iter().map(|t| (t.to_string(), String::new())).collect(),
                cap_drop: vec![],
                security_opt: vec![],
                pids_limit: None,
                memory: 0,
                memory_swap: 0,
                nano_cpus: 0,
                ulimits: vec![],
                dns: vec![],
                extra_hosts: vec![],
                binds: vec![],
                init: None,
                auto_remove: false,
            },
        }
    }

    fn mount(kind: &str, source: &str, destination: &str) -> Mount {
        Mount { kind: kind.into(), source: source.into(), destination: destination.into(), rw: true }
    }

    #[test]
    fn a_container_view_from_inspect() {
        let view = HostView::from_container(&info(
            vec![
                mount("bind", "/srv/state", "/nonexistent-openclaw-test/state/"),
                mount("volume", "", "/nonexistent-openclaw-test/plugin-volume"),
            ],
            &["/nonexistent-openclaw-test/state/tmp"],
        ));
        assert_eq!(view.container(), Some("openclaw-gateway-1"));
        let host = |p: &str| view.to_host(Path::new(p), "the sandbox workspace", "agents.defaults.sandbox.workspaceRoot");
        assert_eq!(host("/nonexistent-openclaw-test/state/sandboxes/x").unwrap(), Path::new("/srv/state/sandboxes/x"));
        assert_eq!(host("/nonexistent-openclaw-test/state/a/../b").unwrap(), Path::new("/srv/state/b"), "normalized first");
        let err = host("/nonexistent-openclaw-test/state/tmp/x").unwrap_err();
        assert_eq!(err.miss, Miss::NoHostSource { destination: "/nonexistent-openclaw-test/state/tmp".into(), kind: "tmpfs".into() });
        let err = host("/nonexistent-openclaw-test/plugin-volume/x").unwrap_err();
        assert!(matches!(err.miss, Miss::NoHostSource { ref kind, .. } if kind == "volume"), "a volume without a host path");
        let err = host("/home/node/.openclaw/sandboxes/agent-main-f331f052").unwrap_err();
        assert_eq!(err.miss, Miss::NotMounted);
        let text = err.to_string();
        for needle in [
            "the sandbox workspace /home/node/.openclaw/sandboxes/agent-main-f331f052 has no path on the Docker host",
            "container openclaw-gateway-1",
            "not on a mount from the host",
            "docker-compose.yml",
            "agents.defaults.sandbox.workspaceRoot",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from: {text}");
        }
    }

    #[test]
    fn symlinks_are_followed_before_matching() {
        let dir = std::env::temp_dir().join(format!("openclaw-hostpath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("mounted/real")).unwrap();
        std::fs::create_dir_all(dir.join("local")).unwrap();
        std::os::unix::fs::symlink(dir.join("local"), dir.join("mounted/escape")).unwrap();
        std::os::unix::fs::symlink(dir.join("mounted/real"), dir.join("local/into")).unwrap();
        let real_dir = std::fs::canonicalize(&dir).unwrap();
        let view = HostView::from_container(&info(vec![mount("bind", "/host/m", &dir.join("mounted").to_string_lossy())], &[]));
        let host = |p: PathBuf| view.to_host(&p, "the bind source", "agents.defaults.sandbox.docker.binds");
        // A symlink on the mount that leads off it: not on the host mount.
        assert_eq!(host(dir.join("mounted/escape/x")).unwrap_err().miss, Miss::NotMounted);
        // A symlink off the mount that leads onto it.
        assert_eq!(host(dir.join("local/into/x")).unwrap(), Path::new("/host/m/real/x"));
        assert_eq!(host(real_dir.join("mounted/real")).unwrap(), Path::new("/host/m/real"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_host_view_changes_nothing() {
        let view = HostView::host();
        assert_eq!(view.container(), None);
        assert_eq!(view.to_host(Path::new("/a/../b"), "x", "y").unwrap(), Path::new("/a/../b"));
        let cfg = sandbox::resolve(&SandboxSettings::default(), None, Path::new("/s"), Path::new("/h"));
        assert_eq!(host_binds(&view, &cfg, "n", Path::new("/s/x"), Path::new("/s/w"), Path::new("/h")).unwrap(), None);
    }

    #[test]
    fn binds_in_host_terms() {
        let view = HostView {
            own: Some(Own {
                name: "gw".into(),
                mounts: vec![
                    mp("/home/node/.openclaw", "bind", Some("/srv/oc")),
                    mp("/home/node/.openclaw/workspace", "bind", Some("/srv/ws")),
                    mp("/projects", "bind", Some("/home/me/projects")),
                    mp("/hostetc", "bind", Some("/etc")),
                ],
            }),
        };
        let mut cfg = sandbox::resolve(&SandboxSettings::default(), None, Path::new("/home/node/.openclaw"), Path::new("/home/node"));
        let (sbx, agent) = (Path::new("/home/node/.openclaw/sandboxes/s-1"), Path::new("/home/node/.openclaw/workspace"));
        let home = Path::new("/home/node");
        let binds = |cfg: &SandboxConfig| host_binds(&view, cfg, "openclaw-sbx-s-1", sbx, agent, home);
        assert_eq!(binds(&cfg).unwrap().unwrap(), vec!["/srv/oc/sandboxes/s-1:/workspace:rw"]);
        cfg.workspace_access = WorkspaceAccess::Ro;
        assert_eq!(binds(&cfg).unwrap().unwrap(), vec!["/srv/oc/sandboxes/s-1:/workspace:rw", "/srv/ws:/agent:ro"]);
        cfg.workspace_access = WorkspaceAccess::Rw;
        cfg.docker.binds = vec![BindMount { source: "/projects/app".into(), target: "/app".into(), read_only: true }];
        assert_eq!(binds(&cfg).unwrap().unwrap(), vec!["/srv/ws:/workspace:rw", "/home/me/projects/app:/app:ro"]);
        // A translated source is checked again on the host side.
        cfg.docker.binds = vec![BindMount { source: "/hostetc/ssl".into(), target: "/ssl".into(), read_only: true }];
        let err = binds(&cfg).unwrap_err().to_string();
        assert!(err.contains("/hostetc/ssl") && err.contains("/etc/ssl") && err.contains("refused"), "{err}");
        // An unmounted bind source is refused with the setting to change.
        cfg.docker.binds = vec![BindMount { source: "/opt/data".into(), target: "/d".into(), read_only: false }];
        let err = binds(&cfg).unwrap_err().to_string();
        assert!(err.contains("/opt/data") && err.contains("agents.defaults.sandbox.docker.binds"), "{err}");
        // The workspace outside every mount.
        cfg.docker.binds.clear();
        let outside = host_binds(&view, &cfg, "n", sbx, Path::new("/root/ws"), home).unwrap_err().to_string();
        assert!(outside.contains("the agent workspace /root/ws") && outside.contains("agents.defaults.workspace"), "{outside}");
    }
}
