//! The resolved sandbox policy turned into one container's create request
//! ([`CreateSpec`]), following reference §3.3 with our hardened additions
//! (SPEC §3.3). Pure except for reading the seccomp profile file.
//!
//! What a sandbox container gets:
//!
//! - labels `openclaw.sandbox=1`, `openclaw.sessionKey=<scopeKey>`,
//!   `openclaw.createdAtMs=<ms>`, `openclaw.configHash=<hash>`;
//! - command `sleep infinity` under an init (`Init: true`, which reaps
//!   zombies), working directory `docker.workdir`;
//! - security options: always `no-new-privileges`; `seccomp=<the profile
//!   file's JSON, compacted>` (the file is read here, at create time);
//!   `apparmor=<name>`;
//! - a read-only root file system (`readOnlyRoot`) with size-capped tmpfs
//!   mounts. The chosen cap is [`TMPFS_SIZE`] (64 MiB) per mount: an entry
//!   without options (the defaults `/tmp`, `/var/tmp`, `/run`) gets
//!   [`TMPFS_DEFAULT_OPTIONS`] (`rw,nosuid,nodev,size=64m`); an entry with
//!   options keeps them and gets `size=64m` appended when it names no
//!   `size=`. tmpfs pages count against the container's memory limit;
//! - network, user, dropped capabilities, `KEY=value` environment, DNS
//!   servers, extra hosts and ulimits as configured; the pids, memory, swap
//!   and CPU limits when set (a limit switched off is not sent);
//! - mounts, per `workspaceAccess`: `none` → the scope's sandbox workspace
//!   at the workdir, read-write; `ro` → the same, plus the agent workspace at
//!   `/agent` read-only; `rw` → the agent workspace at the workdir,
//!   read-write. Then `docker.binds`, each checked again with
//!   [`check_bind`] (and the network with [`check_network`]), so a bind that
//!   slipped past config load is still refused here.
//!
//! The bind sources are this process's paths; `Manager` replaces them with
//! host paths (`hostpath`) when it runs in a container.
//!
//! Changing what this module sends means bumping `hash::CREATE_EPOCH`.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::sandbox::{SandboxConfig, WorkspaceAccess, check_bind, check_network};
use crate::docker::{CreateSpec, Ulimit};
use crate::paths::expand_home;

/// The size cap of every sandbox tmpfs mount.
pub const TMPFS_SIZE: &str = "64m";
/// The options of a tmpfs entry that names none.
pub const TMPFS_DEFAULT_OPTIONS: &str = "rw,nosuid,nodev,size=64m";
/// Where the agent workspace is mounted under `workspaceAccess: "ro"`.
pub const AGENT_MOUNT: &str = "/agent";

pub const LABEL_SANDBOX: &str = "openclaw.sandbox";
pub const LABEL_SESSION_KEY: &str = "openclaw.sessionKey";
pub const LABEL_CREATED_AT_MS: &str = "openclaw.createdAtMs";
pub const LABEL_CONFIG_HASH: &str = "openclaw.configHash";

/// One container to create: who it is for and where its workspace is.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The container name (used in error messages).
    pub name: &'a str,
    pub scope_key: &'a str,
    /// The scope's own sandbox workspace on the host.
    pub workspace_dir: &'a Path,
    /// The agent's workspace on the host.
    pub agent_workspace_dir: &'a Path,
    pub config_hash: &'a str,
    pub now_ms: u64,
    /// The user's home: `~` in the seccomp path, and the credential folders
    /// the bind check refuses.
    pub home: &'a Path,
}

/// Why a create request cannot be built.
#[derive(Debug)]
pub enum SpecError {
    /// The seccomp profile file cannot be read.
    SeccompUnreadable { name: String, path: PathBuf, source: io::Error },
    /// The seccomp profile file is not JSON.
    SeccompInvalid { name: String, path: PathBuf, message: String },
    /// A `docker.binds` entry is refused.
    Bind { name: String, bind: String, reason: String },
    /// `docker.network` is refused.
    Network { name: String, reason: String },
}

/// Builds the create request for the sandbox container `target.name`.
pub fn create_spec(cfg: &SandboxConfig, target: &Target<'_>) -> Result<CreateSpec, SpecError> {
    let d = &cfg.docker;
    let name = target.name;
    check_network(&d.network).map_err(|reason| SpecError::Network { name: name.to_string(), reason })?;
    let mut security_opt = vec!["no-new-privileges".to_string()];
    if let Some(profile) = &d.seccomp_profile {
        security_opt.push(format!("seccomp={}", read_seccomp(name, profile, target.home)?));
    }
    if let Some(profile) = &d.apparmor_profile {
        security_opt.push(format!("apparmor={profile}"));
    }
    let mut binds = workspace_binds(cfg.workspace_access, target.workspace_dir, target.agent_workspace_dir, &d.workdir);
    for bind in &d.binds {
        let spec = bind.to_bind_string();
        let checked = check_bind(&spec, target.home)
            .map_err(|reason| SpecError::Bind { name: name.to_string(), bind: spec.clone(), reason })?;
        binds.push(checked.to_bind_string());
    }
    let labels = BTreeMap::from([
        (LABEL_SANDBOX.to_string(), "1".to_string()),
        (LABEL_SESSION_KEY.to_string(), target.scope_key.to_string()),
        (LABEL_CREATED_AT_MS.to_string(), target.now_ms.to_string()),
        (LABEL_CONFIG_HASH.to_string(), target.config_hash.to_string()),
    ]);
    Ok(CreateSpec {
        image: d.image.clone(),
        cmd: vec!["sleep".to_string(), "infinity".to_string()],
        env: d.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        labels,
        user: d.user.clone(),
        workdir: Some(d.workdir.clone()),
        hostname: None,
        network_mode: Some(d.network.trim().to_string()),
        read_only_root: d.read_only_root,
        tmpfs: d.tmpfs.iter().map(|entry| tmpfs_entry(entry)).collect(),
        cap_drop: d.cap_drop.clone(),
        security_opt,
        pids_limit: d.pids_limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        memory: d.memory.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        memory_swap: d.memory_swap,
        nano_cpus: d.cpus.map(|c| (c * 1e9).round() as i64),
        ulimits: d.ulimits.iter().map(|(n, u)| Ulimit { name: n.clone(), soft: u.soft, hard: u.hard }).collect(),
        dns: d.dns.clone(),
        extra_hosts: d.extra_hosts.clone(),
        binds,
        init: true,
        auto_remove: false,
    })
}

/// The host folder mounted at the container's workdir: the agent workspace
/// under `rw`, else the scope's sandbox workspace.
pub fn effective_workspace_dir<'a>(access: WorkspaceAccess, sandbox_dir: &'a Path, agent_dir: &'a Path) -> &'a Path {
    match access {
        WorkspaceAccess::Rw => agent_dir,
        WorkspaceAccess::None | WorkspaceAccess::Ro => sandbox_dir,
    }
}

/// The workspace bind mounts (`src:dst:ro|rw`) for an access mode (see the
/// module doc). Under `ro`, a sandbox workspace that is the agent workspace
/// itself is mounted once, at the workdir, read-only.
pub fn workspace_binds(access: WorkspaceAccess, sandbox_dir: &Path, agent_dir: &Path, workdir: &str) -> Vec<String> {
    let bind = |src: &Path, dst: &str, ro: bool| format!("{}:{dst}:{}", src.display(), if ro { "ro" } else { "rw" });
    match access {
        WorkspaceAccess::None => vec![bind(sandbox_dir, workdir, false)],
        WorkspaceAccess::Ro if sandbox_dir == agent_dir => vec![bind(agent_dir, workdir, true)],
        WorkspaceAccess::Ro => vec![bind(sandbox_dir, workdir, false), bind(agent_dir, AGENT_MOUNT, true)],
        WorkspaceAccess::Rw => vec![bind(agent_dir, workdir, false)],
    }
}

/// One `docker.tmpfs` entry (`/path` or `/path:options`) as a mount point
/// and its options, with the size cap applied.
pub fn tmpfs_entry(entry: &str) -> (String, String) {
    let (path, options) = match entry.split_once(':') {
        Some((p, o)) => (p, o.trim()),
        None => (entry, ""),
    };
    let options = if options.is_empty() {
        TMPFS_DEFAULT_OPTIONS.to_string()
    } else if options.split(',').any(|o| o.trim().starts_with("size=")) {
        options.to_string()
    } else {
        format!("{options},size={TMPFS_SIZE}")
    };
    (path.trim().to_string(), options)
}

/// Reads the seccomp profile at `profile` (`~` expanded) and returns it as
/// compact JSON.
fn read_seccomp(name: &str, profile: &str, home: &Path) -> Result<String, SpecError> {
    let path = expand_home(profile.trim(), home);
    let text = std::fs::read_to_string(&path)
        .map_err(|source| SpecError::SeccompUnreadable { name: name.to_string(), path: path.clone(), source })?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| SpecError::SeccompInvalid { name: name.to_string(), path: path.clone(), message: e.to_string() })?;
    Ok(value.to_string())
}

const SECCOMP_KEY: &str = "agents.defaults.sandbox.docker.seccompProfile (or the agent's agents.list[].sandbox.docker.seccompProfile)";

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::SeccompUnreadable { name, path, source } => write!(
                f,
                "cannot create sandbox {name}: the seccomp profile {} cannot be read ({source}); \
                 fix the path in {SECCOMP_KEY}, or remove the key for Docker's default profile",
                path.display()
            ),
            SpecError::SeccompInvalid { name, path, message } => write!(
                f,
                "cannot create sandbox {name}: the seccomp profile {} is not valid JSON ({message}); \
                 fix the file or the path in {SECCOMP_KEY}",
                path.display()
            ),
            SpecError::Bind { name, bind, reason } => write!(
                f,
                "cannot create sandbox {name}: bind {bind} is refused: {reason} (agents.defaults.sandbox.docker.binds)"
            ),
            SpecError::Network { name, reason } => {
                write!(f, "cannot create sandbox {name}: {reason} (agents.defaults.sandbox.docker.network)")
            }
        }
    }
}

impl std::error::Error for SpecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpecError::SeccompUnreadable { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sandbox::{self, BindMount, SandboxSettings, Ulimit as CfgUlimit};

    fn cfg() -> SandboxConfig {
        sandbox::resolve(&SandboxSettings::default(), None, Path::new("/s"), Path::new("/h"))
    }

    fn target<'a>() -> Target<'a> {
        Target {
            name: "openclaw-sbx-agent-main-f331f052",
            scope_key: "agent:main",
            workspace_dir: Path::new("/s/sandboxes/agent-main-f331f052"),
            agent_workspace_dir: Path::new("/s/workspace"),
            config_hash: "abc",
            now_ms: 1_700_000_000_000,
            home: Path::new("/h"),
        }
    }

    fn temp_file(tag: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("openclaw-spec-{tag}-{}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn defaults_are_hardened() {
        let s = create_spec(&cfg(), &target()).unwrap();
        assert_eq!(s.image, "openclaw-sandbox:bookworm-slim");
        assert_eq!(s.cmd, vec!["sleep", "infinity"]);
        assert!(s.init && !s.auto_remove && s.read_only_root);
        assert_eq!(s.labels.get("openclaw.sandbox").map(String::as_str), Some("1"));
        assert_eq!(s.labels.get("openclaw.sessionKey").map(String::as_str), Some("agent:main"));
        assert_eq!(s.labels.get("openclaw.createdAtMs").map(String::as_str), Some("1700000000000"));
        assert_eq!(s.labels.get("openclaw.configHash").map(String::as_str), Some("abc"));
        assert_eq!(s.security_opt, vec!["no-new-privileges"]);
        assert_eq!(s.network_mode.as_deref(), Some("none"));
        assert_eq!(s.user, None, "the image's user (sandbox, uid 1000) applies");
        assert_eq!(s.cap_drop, vec!["ALL"]);
        assert_eq!(s.env, vec!["LANG=C.UTF-8"]);
        assert_eq!(s.workdir.as_deref(), Some("/workspace"));
        assert_eq!(s.pids_limit, Some(256));
        assert_eq!(s.memory, Some(1 << 30));
        assert_eq!(s.memory_swap, Some(2 << 30));
        assert_eq!(s.nano_cpus, Some(1_000_000_000));
        let tmpfs: Vec<(&str, &str)> = s.tmpfs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            tmpfs,
            vec![
                ("/run", "rw,nosuid,nodev,size=64m"),
                ("/tmp", "rw,nosuid,nodev,size=64m"),
                ("/var/tmp", "rw,nosuid,nodev,size=64m")
            ]
        );
        assert!(s.ulimits.is_empty() && s.dns.is_empty() && s.extra_hosts.is_empty());
        assert_eq!(s.binds, vec!["/s/sandboxes/agent-main-f331f052:/workspace:rw"]);
    }

    #[test]
    fn every_knob_is_mapped() {
        let mut c = cfg();
        let d = &mut c.docker;
        d.image = "custom:1".into();
        d.workdir = "/work".into();
        d.read_only_root = false;
        d.tmpfs = vec!["/a".into(), "/b:rw,noexec".into(), "/c:ro,size=1m".into(), "/d:".into()];
        d.network = "bridge".into();
        d.user = Some("1001:1001".into());
        d.cap_drop = vec!["NET_RAW".into(), "MKNOD".into()];
        d.env = BTreeMap::from([("A".into(), "1".into()), ("B".into(), "x=y".into())]);
        d.pids_limit = None;
        d.memory = Some(512 << 20);
        d.memory_swap = Some(-1);
        d.cpus = Some(1.5);
        d.ulimits = BTreeMap::from([("nofile".into(), CfgUlimit { soft: 1024, hard: 2048 })]);
        d.apparmor_profile = Some("docker-default".into());
        d.dns = vec!["192.0.2.53".into()];
        d.extra_hosts = vec!["db.test:192.0.2.1".into()];
        d.binds = vec![BindMount { source: "/srv/data".into(), target: "/data".into(), read_only: true }];
        let s = create_spec(&c, &target()).unwrap();
        assert_eq!(s.image, "custom:1");
        assert_eq!(s.workdir.as_deref(), Some("/work"));
        assert!(!s.read_only_root);
        assert_eq!(s.tmpfs.get("/a").map(String::as_str), Some("rw,nosuid,nodev,size=64m"));
        assert_eq!(s.tmpfs.get("/b").map(String::as_str), Some("rw,noexec,size=64m"));
        assert_eq!(s.tmpfs.get("/c").map(String::as_str), Some("ro,size=1m"));
        assert_eq!(s.tmpfs.get("/d").map(String::as_str), Some("rw,nosuid,nodev,size=64m"));
        assert_eq!(s.network_mode.as_deref(), Some("bridge"));
        assert_eq!(s.user.as_deref(), Some("1001:1001"));
        assert_eq!(s.cap_drop, vec!["NET_RAW", "MKNOD"]);
        assert_eq!(s.env, vec!["A=1", "B=x=y"]);
        assert_eq!(s.pids_limit, None, "a limit switched off is not sent");
        assert_eq!(s.memory, Some(512 << 20));
        assert_eq!(s.memory_swap, Some(-1));
        assert_eq!(s.nano_cpus, Some(1_500_000_000));
        assert_eq!(s.ulimits, vec![Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 }]);
        assert_eq!(s.security_opt, vec!["no-new-privileges", "apparmor=docker-default"]);
        assert_eq!(s.dns, vec!["192.0.2.53"]);
        assert_eq!(s.extra_hosts, vec!["db.test:192.0.2.1"]);
        assert_eq!(s.binds, vec!["/s/sandboxes/agent-main-f331f052:/work:rw", "/srv/data:/data:ro"]);
        c.docker.memory = None;
        c.docker.memory_swap = None;
        c.docker.cpus = None;
        let s = create_spec(&c, &target()).unwrap();
        assert_eq!((s.memory, s.memory_swap, s.nano_cpus), (None, None, None));
    }

    #[test]
    fn workspace_modes() {
        let (sbx, agent) = (Path::new("/s/sandboxes/x"), Path::new("/s/workspace"));
        assert_eq!(workspace_binds(WorkspaceAccess::None, sbx, agent, "/workspace"), vec!["/s/sandboxes/x:/workspace:rw"]);
        assert_eq!(
            workspace_binds(WorkspaceAccess::Ro, sbx, agent, "/workspace"),
            vec!["/s/sandboxes/x:/workspace:rw", "/s/workspace:/agent:ro"]
        );
        assert_eq!(workspace_binds(WorkspaceAccess::Rw, sbx, agent, "/workspace"), vec!["/s/workspace:/workspace:rw"]);
        assert_eq!(workspace_binds(WorkspaceAccess::Ro, agent, agent, "/workspace"), vec!["/s/workspace:/workspace:ro"]);
        assert_eq!(effective_workspace_dir(WorkspaceAccess::Rw, sbx, agent), agent);
        assert_eq!(effective_workspace_dir(WorkspaceAccess::Ro, sbx, agent), sbx);
        assert_eq!(effective_workspace_dir(WorkspaceAccess::None, sbx, agent), sbx);
        let mut c = cfg();
        c.workspace_access = WorkspaceAccess::Ro;
        let s = create_spec(&c, &target()).unwrap();
        assert_eq!(s.binds, vec!["/s/sandboxes/agent-main-f331f052:/workspace:rw", "/s/workspace:/agent:ro"]);
    }

    #[test]
    fn seccomp_profile_is_read_at_create() {
        let file = temp_file("seccomp", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": []\n}\n");
        let mut c = cfg();
        c.docker.seccomp_profile = Some(file.to_string_lossy().into_owned());
        c.docker.apparmor_profile = Some("p".into());
        let s = create_spec(&c, &target()).unwrap();
        assert_eq!(
            s.security_opt,
            vec!["no-new-privileges", r#"seccomp={"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}"#, "apparmor=p"]
        );
        std::fs::write(&file, "not json").unwrap();
        let err = create_spec(&c, &target()).unwrap_err();
        assert!(matches!(err, SpecError::SeccompInvalid { .. }), "{err:?}");
        std::fs::remove_file(&file).unwrap();
        let err = create_spec(&c, &target()).unwrap_err().to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains("agents.defaults.sandbox.docker.seccompProfile"), "{err}");
    }

    #[test]
    fn refused_binds_and_networks_are_refused_again() {
        let mut c = cfg();
        c.docker.binds = vec![BindMount { source: "/h/.ssh".into(), target: "/k".into(), read_only: true }];
        let err = create_spec(&c, &target()).unwrap_err();
        assert!(matches!(err, SpecError::Bind { .. }), "{err:?}");
        assert!(err.to_string().contains("/h/.ssh"), "{err}");
        c.docker.binds = vec![BindMount { source: "/var/run/docker.sock".into(), target: "/s".into(), read_only: false }];
        assert!(matches!(create_spec(&c, &target()), Err(SpecError::Bind { .. })));
        c.docker.binds.clear();
        for net in ["host", "container:abc"] {
            c.docker.network = net.into();
            assert!(matches!(create_spec(&c, &target()), Err(SpecError::Network { .. })), "{net}");
        }
    }
}
