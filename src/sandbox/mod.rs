//! Agent sandboxes: one long-lived container per scope (session, agent or
//! shared), made on first use and kept warm (`sleep infinity`) so tool calls
//! are `exec`s into it. This module owns the policy → container mapping and
//! the container's lifecycle up to "running and ready"; the Engine calls
//! themselves are `docker`'s.
//!
//! - [`keys`] — which sessions are sandboxed, scope keys, names, folders.
//! - [`hash`] — the config hash that decides whether a container is current.
//! - [`spec`] — the resolved config as a create request.
//! - [`hostpath`] — bind sources as host paths when this process runs in a
//!   container (Docker-out-of-Docker).
//! - [`registry`] — `<state>/sandbox/containers.json`.
//!
//! [`Manager::ensure`] is reference §3.4: check the image (never pulled,
//! never replaced), prepare the workspace folder, then reuse, start or
//! (re)create the scope's container, run `setupCommand` once after a create,
//! and record the use in the registry. After a create, a gateway running as
//! root gives the scope's sandbox workspace folder to the container's user,
//! so `/workspace` is writable in there. A container whose config hash is
//! outdated is recreated, unless it is running and was used within
//! [`HOT_WINDOW`]: then it is kept, and a warning names the `openclaw sandbox
//! recreate` command that applies the change.
//!
//! Concurrency: within a process, ensures of the same container name are
//! serialized by a lock per name, so many threads asking for one scope end
//! with one container. Across processes, a create that loses the race (the
//! Engine answers 409) inspects the winner's container instead and uses it
//! (the winner may still be running its `setupCommand` at that moment).
//!
//! The registry is bookkeeping: when it cannot be read or written, the error
//! is logged and the sandbox is still returned (an unknown last use counts as
//! recent, so nothing is recreated on a guess).
//!
//! Not here: deciding whether a session is sandboxed (callers use
//! [`keys::is_sandboxed`] before [`Manager::ensure`]), seeding bootstrap
//! files into the workspace, exec for tools, pruning, and removal. Session
//! sandboxes are never removed by a `Drop`: prune and recreate own that.

pub mod hash;
pub mod hostpath;
pub mod keys;
pub mod lease;
pub mod policy;
pub mod exec;
pub mod cli;
pub mod registry;
pub mod spec;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::config::Config;
use crate::config::sandbox::{DEFAULT_IMAGE, SandboxConfig, Scope, WorkspaceAccess};
use crate::docker::{self, ContainerInfo, Docker, ExecLimits, ExecSpec};
use crate::fsutil;
use crate::paths::Paths;
use registry::{Entry, Registry};
use spec::{SpecError, Target};

/// What a package-installing `setupCommand` needs that `docker_cfg` does not
/// give (the seed's own note: egress, a writable root, the root user).
pub fn setup_needs(docker_cfg: &crate::config::sandbox::DockerConfig) -> Vec<&'static str> {
    let mut needs = Vec::new();
    if docker_cfg.network == "none" {
        needs.push("network");
    }
    if docker_cfg.read_only_root {
        needs.push("readOnlyRoot");
    }
    let user = docker_cfg.user.as_deref().unwrap_or("");
    if !(user == "0" || user == "root" || user.starts_with("0:") || user.starts_with("root:")) {
        needs.push("user");
    }
    needs
}

/// (what is needed, what the sandbox has) for one [`setup_needs`] item.
fn setup_need_text(need: &str) -> (&'static str, &'static str) {
    match need {
        "network" => ("network egress (docker.network: \"bridge\")", "docker.network: \"none\""),
        "readOnlyRoot" => ("a writable root (docker.readOnlyRoot: false)", "readOnlyRoot: true"),
        _ => ("the root user (leave docker.user out or set it to \"0:0\")", "a non-root user"),
    }
}

/// The agent workspace files a sandbox workspace is seeded with when it lacks
/// them (reference §3.2).
pub const SEED_FILES: &[&str] = &["AGENTS.md", "SOUL.md", "TOOLS.md", "IDENTITY.md", "USER.md", "BOOTSTRAP.md", "HEARTBEAT.md"];
/// Bootstrap files larger than this are not copied.
const SEED_MAX_BYTES: u64 = 1 << 20;

/// How stale a registry entry's `lastUsedAtMs` may get before an ensure
/// writes it again.
pub const LAST_USED_GRANULARITY: Duration = Duration::from_secs(30);

/// A container used this recently is not recreated when its config changed.
pub const HOT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Bounds of the `setupCommand` run: output kept per stream, and the time it
/// may take (package installs are slow).
const SETUP_LIMITS: ExecLimits = ExecLimits { output_cap: 64 * 1024, deadline: Duration::from_secs(10 * 60) };
/// How much of a failed `setupCommand`'s output an error carries.
const SETUP_OUTPUT_SHOWN: usize = 4096;

/// Makes and finds sandbox containers on one engine for one state folder.
///
/// Cheap to share across threads (`&Manager` is enough): the [`Docker`]
/// handle is an `Arc`, and the per-name locks are process-wide.
#[derive(Debug, Clone)]
pub struct Manager {
    docker: Docker,
    paths: Paths,
}

/// A running sandbox container, ready for `exec`.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub name: String,
    pub container_id: String,
    pub scope_key: String,
    /// The agent whose config and workspace this sandbox was ensured for.
    pub agent_id: String,
    /// The host folder mounted at `container_workdir` (the agent workspace
    /// under `workspaceAccess: "rw"`, else the scope's sandbox workspace).
    pub workspace_dir: PathBuf,
    pub container_workdir: String,
    /// The resolved config the sandbox was ensured with.
    pub config: SandboxConfig,
    /// True when the container was kept although `config` changed since it
    /// was created (the hot-window rule): it runs with its old settings and
    /// mounts, while `config` and `container_workdir` show the new ones.
    pub config_outdated: bool,
}

/// A sandbox's workspace, rooted, with the container leased.
#[derive(Debug)]
pub struct Files {
    pub root: crate::workspace::Root,
    _lease: lease::Lease,
}

/// Why [`Manager::files`] failed.
#[derive(Debug)]
pub enum FilesError {
    Lease(io::Error),
    Root(crate::workspace::Error),
}

impl fmt::Display for FilesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilesError::Lease(e) => write!(f, "cannot lease the sandbox for a file operation: {e}"),
            FilesError::Root(e) => write!(f, "cannot open the sandbox workspace: {e}"),
        }
    }
}

impl std::error::Error for FilesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FilesError::Lease(e) => Some(e),
            FilesError::Root(e) => Some(e),
        }
    }
}

/// What to do with a container whose config hash is outdated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outdated {
    /// Running and used within [`HOT_WINDOW`]: keep it, warn with the hint.
    KeepHot,
    /// Stopped or idle: remove it and create it again.
    Recreate,
}

/// Why a sandbox could not be ensured. Each message names the fix.
#[derive(Debug)]
pub enum Error {
    /// The configured image is not on the engine (it is never pulled).
    ImageMissing { image: String },
    /// The create request could not be built (seccomp file, refused bind
    /// or network).
    Spec(SpecError),
    /// A workspace folder could not be created.
    Workspace { path: PathBuf, source: io::Error },
    /// The container stopped right after it was started; it was removed.
    NotRunning { name: String, exit_code: i64, oom_killed: bool },
    /// `setupCommand` failed; the container was removed.
    SetupFailed { name: String, command: String, exit_code: Option<i64>, output: String, needs: Vec<&'static str> },
    /// A bind source has no path on the Docker host (this process runs in
    /// a container and the path is not on a mount from the host).
    NoHostPath { name: String, source: Box<hostpath::Unmapped> },
    /// An Engine call failed (boxed: the Engine error is large).
    Docker { name: String, op: &'static str, source: Box<docker::Error> },
}

impl Manager {
    pub fn new(docker: Docker, paths: Paths) -> Manager {
        Manager { docker, paths }
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The registry of this manager's state folder.
    pub fn registry(&self) -> Registry {
        Registry::new(&self.paths.state_dir)
    }

    /// Makes sure the sandbox of `session_key` runs, and returns it
    /// (reference §3.4). It does not check whether the session should be
    /// sandboxed; that is [`keys::is_sandboxed`].
    pub fn ensure(&self, config: &Config, session_key: &str) -> Result<Sandbox, Error> {
        let agent_id = keys::agent_id_from_session_key(session_key, &config.default_agent_id());
        let cfg = config.sandbox_for(&agent_id);
        let scope_key = keys::scope_key(cfg.scope, session_key, &agent_id);
        let name = keys::container_name(&cfg.docker.container_prefix, cfg.scope, &scope_key);
        let sandbox_dir = keys::sandbox_workspace_dir(&cfg.workspace_root, cfg.scope, &scope_key);
        let agent_dir = config.workspace_for(&agent_id);
        let workspace_dir = spec::effective_workspace_dir(cfg.workspace_access, &sandbox_dir, &agent_dir).to_path_buf();

        let lock = name_lock(&name);
        let _held = lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.check_image(&name, &cfg.docker.image)?;
        prepare_workspaces(cfg.workspace_access, &sandbox_dir, &agent_dir)?;
        // In a container (Docker-out-of-Docker) the binds go out as host paths,
        // and those are part of the hash: a gateway whose host mounts moved
        // recreates its sandboxes instead of reusing ones bound to old folders.
        let view = hostpath::HostView::of(&self.docker)
            .map_err(|e| docker_err(&name, "look up the container this process runs in, for", e))?;
        let host_binds = hostpath::host_binds(&view, &cfg, &name, &sandbox_dir, &agent_dir, &self.paths.home)?;
        let hash = hash::config_hash(&cfg.docker, cfg.workspace_access, &workspace_dir, &agent_dir, host_binds.as_deref());
        let job = Job {
            cfg: &cfg,
            name: &name,
            scope_key: &scope_key,
            sandbox_dir: &sandbox_dir,
            agent_dir: &agent_dir,
            hash: &hash,
            host_binds: host_binds.as_deref(),
        };
        let (info, recorded_hash) = self.ensure_container(&job)?;

        let now = now_ms();
        let created_at_ms = info.labels.get(spec::LABEL_CREATED_AT_MS).and_then(|v| v.parse().ok()).unwrap_or(now);
        let image = if info.image.is_empty() { cfg.docker.image.clone() } else { info.image.clone() };
        let entry = Entry {
            container_name: name.clone(),
            session_key: scope_key.clone(),
            created_at_ms: Some(created_at_ms),
            last_used_at_ms: now,
            image: Some(image),
            config_hash: recorded_hash.clone(),
        };
        // A warm exec should not pay an fsynced registry write: the last use
        // is recorded at most once per LAST_USED_GRANULARITY (far below the
        // hot window and the prune thresholds) unless something else changed.
        let registry = self.registry();
        let fresh = registry.get(&name).ok().flatten().is_some_and(|old| {
            old.session_key == entry.session_key
                && old.created_at_ms == entry.created_at_ms
                && old.image == entry.image
                && old.config_hash == entry.config_hash
                && now.saturating_sub(old.last_used_at_ms) < LAST_USED_GRANULARITY.as_millis() as u64
        });
        if fresh {
            log::trace!("sandbox {name}: registry entry is fresh");
        } else if let Err(e) = registry.upsert(entry) {
            // The container works; only prune and the hot window lose track.
            log::error!("sandbox {name}: {e}: {}", e.source);
        }
        Ok(Sandbox {
            name,
            container_id: info.id,
            scope_key,
            agent_id,
            workspace_dir,
            container_workdir: cfg.docker.workdir.clone(),
            config_outdated: recorded_hash.as_deref() != Some(hash.as_str()),
            config: cfg,
        })
    }

    /// Reuses, starts or (re)creates the container. Returns it running, and
    /// the config hash to record (the old one for a kept hot container).
    fn ensure_container(&self, job: &Job<'_>) -> Result<(ContainerInfo, Option<String>), Error> {
        let name = job.name;
        let mut raced = false;
        loop {
            if let Some(info) = self.inspect(name)? {
                let entry = self.registry_entry(name);
                let current = info
                    .labels
                    .get(spec::LABEL_CONFIG_HASH)
                    .filter(|h| !h.trim().is_empty())
                    .cloned()
                    .or_else(|| entry.as_ref().and_then(|e| e.config_hash.clone()));
                if current.as_deref() == Some(job.hash) {
                    let info = if info.running { info } else { self.start_existing(name)? };
                    log::debug!("sandbox {name}: reusing container {}", short(&info.id));
                    return Ok((info, current));
                }
                let last_used = entry.map(|e| e.last_used_at_ms);
                match outdated_action(info.running, last_used, now_ms()) {
                    Outdated::KeepHot => {
                        log::warn!("{}", config_changed_message(name, job.cfg.scope, job.scope_key));
                        return Ok((info, current));
                    }
                    Outdated::Recreate => {
                        log::info!("sandbox {name}: config changed; recreating the container");
                        self.remove(name, "remove the outdated container of")?;
                    }
                }
            }
            match self.create(job) {
                Err(Error::Docker { source, .. }) if !raced && matches!(*source, docker::Error::Engine { status: 409, .. }) => {
                    log::debug!("sandbox {name}: created concurrently by another process; inspecting it");
                    raced = true;
                }
                other => return other.map(|info| (info, Some(job.hash.to_string()))),
            }
        }
    }

    /// Creates, starts and sets up the container. Whatever fails after the
    /// create removes the container again, so the next ensure starts clean.
    fn create(&self, job: &Job<'_>) -> Result<ContainerInfo, Error> {
        let name = job.name;
        let target = Target {
            name,
            scope_key: job.scope_key,
            workspace_dir: job.sandbox_dir,
            agent_workspace_dir: job.agent_dir,
            config_hash: job.hash,
            now_ms: now_ms(),
            home: &self.paths.home,
        };
        let mut create = spec::create_spec(job.cfg, &target)?;
        if let Some(binds) = job.host_binds {
            create.binds = binds.to_vec();
        }
        let id = self.docker.container_create(name, &create).map_err(|e| match e {
            docker::Error::NoSuchImage { image } => Error::ImageMissing { image },
            e => docker_err(name, "create", e),
        })?;
        log::info!("sandbox {name}: created container {} for {}", short(&id), job.scope_key);
        let started = self.start_and_verify(name, &id);
        if started.is_ok() && job.cfg.workspace_access != WorkspaceAccess::Rw {
            self.give_workspace_to_container_user(name, &id, job.cfg.docker.user.as_deref(), job.sandbox_dir);
            self.seed_workspace(name, &id, job);
        }
        let ready = started.and_then(|info| match &job.cfg.docker.setup_command {
            Some(command) => self.run_setup(name, &id, command, &job.cfg.docker).map(|()| info),
            None => Ok(info),
        });
        if ready.is_err()
            && let Err(e) = self.docker.container_remove(&id, true)
            && !e.is_not_found()
        {
            log::error!("sandbox {name}: could not remove the failed container {}: {e}", short(&id));
        }
        ready
    }

    fn start_and_verify(&self, name: &str, id: &str) -> Result<ContainerInfo, Error> {
        self.docker.container_start(id).map_err(|e| docker_err(name, "start", e))?;
        let info = self.docker.container_inspect(id).map_err(|e| docker_err(name, "inspect", e))?;
        if !info.running {
            return Err(Error::NotRunning { name: name.to_string(), exit_code: info.exit_code, oom_killed: info.oom_killed });
        }
        Ok(info)
    }

    /// Starts a stopped container that is current; one that does not stay
    /// up is removed.
    fn start_existing(&self, name: &str) -> Result<ContainerInfo, Error> {
        log::info!("sandbox {name}: starting the stopped container");
        let started = self.start_and_verify(name, name);
        if let Err(Error::NotRunning { .. }) = &started {
            let _ = self.docker.container_remove(name, true);
        }
        started
    }

    fn run_setup(&self, name: &str, id: &str, command: &str, docker_cfg: &crate::config::sandbox::DockerConfig) -> Result<(), Error> {
        let exec = ExecSpec { cmd: vec!["sh".into(), "-lc".into(), command.to_string()], ..ExecSpec::default() };
        let result = self.docker.exec_run(id, &exec, None, SETUP_LIMITS).map_err(|e| docker_err(name, "run setupCommand in", e))?;
        if result.exit_code == Some(0) {
            log::info!("sandbox {name}: setupCommand done");
            return Ok(());
        }
        let mut output = String::from_utf8_lossy(&result.output.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&result.output.stderr));
        let output = tail(output.trim(), SETUP_OUTPUT_SHOWN);
        let needs = setup_needs(docker_cfg);
        Err(Error::SetupFailed { name: name.to_string(), command: command.to_string(), exit_code: result.exit_code, output, needs })
    }

    /// The workspace fix for a gateway running as root: the sandbox
    /// workspace folder is made 0700 by us, so a container running as
    /// another user (the image's `sandbox`, uid 1000) could not use its
    /// `/workspace`. After a create, the folder is given to the container's
    /// uid:gid: `docker.user` when it is numeric `uid:gid`, else what `id -u;
    /// id -g` prints in the container. Only the scope's sandbox workspace is
    /// touched, never an agent workspace (callers skip `workspaceAccess:
    /// "rw"`), and only when it is a real folder (not a symlink). A gateway
    /// that does not run as root leaves the folder alone (it cannot chown).
    /// Failures are logged, not fatal: the container runs, only its
    /// `/workspace` stays unwritable.
    fn give_workspace_to_container_user(&self, name: &str, id: &str, user: Option<&str>, dir: &Path) {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
            return;
        }
        let owner = match user.and_then(numeric_uid_gid) {
            Some(owner) => Ok(owner),
            None => self.container_uid_gid(id),
        };
        let (uid, gid) = match owner {
            Ok(owner) => owner,
            Err(e) => {
                let dir = dir.display();
                return log::warn!("sandbox {name}: cannot tell which user the container runs as ({e}); {dir} is left as is");
            }
        };
        let meta = match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.is_dir() => meta,
            Ok(_) => return log::warn!("sandbox {name}: {} is not a folder; not changing its owner", dir.display()),
            Err(e) => return log::warn!("sandbox {name}: cannot read {}: {e}", dir.display()),
        };
        if (meta.uid(), meta.gid()) == (uid, gid) {
            return;
        }
        match std::os::unix::fs::lchown(dir, Some(uid), Some(gid)) {
            Ok(()) => log::info!("sandbox {name}: gave {} to the container's user {uid}:{gid}", dir.display()),
            Err(e) => log::warn!("sandbox {name}: cannot give {} to {uid}:{gid}: {e}", dir.display()),
        }
    }

    /// Copies the agent's bootstrap files ([`SEED_FILES`]) that the sandbox
    /// workspace lacks into it, after a create (reference §3.2). The copy is
    /// an archive put into the container's workdir, so the files belong to
    /// the container's user and a symlink the sandbox left in its workspace
    /// resolves inside the container, never on the host. Failures are logged:
    /// the sandbox works without them.
    fn seed_workspace(&self, name: &str, id: &str, job: &Job<'_>) {
        let mut files = Vec::new();
        for file in SEED_FILES {
            let (src, dst) = (job.agent_dir.join(file), job.sandbox_dir.join(file));
            let is_small_file = std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_file() && m.len() <= SEED_MAX_BYTES);
            if is_small_file && std::fs::symlink_metadata(&dst).is_err() {
                match std::fs::read(&src) {
                    Ok(data) => files.push((*file, data)),
                    Err(e) => log::warn!("sandbox {name}: cannot read {}: {e}", src.display()),
                }
            }
        }
        if files.is_empty() {
            return;
        }
        let (uid, gid) = match job.cfg.docker.user.as_deref().and_then(numeric_uid_gid) {
            Some(owner) => owner,
            None => self.container_uid_gid(id).unwrap_or((0, 0)),
        };
        let mtime = now_ms() / 1000;
        let mut tar = docker::tar::TarWriter::new().owner(uid, gid);
        for (file, data) in &files {
            if let Err(e) = tar.add_file(file, 0o644, mtime, data) {
                return log::warn!("sandbox {name}: cannot pack {file} for the workspace: {e}");
            }
        }
        match self.docker.archive_put(id, &job.cfg.docker.workdir, &tar.finish()) {
            Ok(()) => log::debug!("sandbox {name}: seeded {} bootstrap file(s) into the workspace", files.len()),
            Err(e) => log::warn!("sandbox {name}: cannot seed the workspace's bootstrap files: {e}"),
        }
    }

    /// The sandbox's workspace for file operations (read, write, edit), with
    /// a lease held for as long as the returned [`Files`] lives, so prune and
    /// recreate leave the container alone meanwhile. Paths are rooted in the
    /// host folder mounted at the container workdir (`/workspace/x` and `x`
    /// name the same file); under `workspaceAccess: "ro"` writes are refused.
    pub fn files(&self, sandbox: &Sandbox) -> Result<Files, FilesError> {
        let lease = lease::acquire(&self.paths.state_dir, &sandbox.name).map_err(FilesError::Lease)?;
        let access = match sandbox.config.workspace_access {
            WorkspaceAccess::Ro => crate::workspace::Access::ReadOnly,
            WorkspaceAccess::None | WorkspaceAccess::Rw => crate::workspace::Access::ReadWrite,
        };
        let root = crate::workspace::Root::open(&sandbox.workspace_dir, access, Some(&sandbox.container_workdir))
            .map_err(FilesError::Root)?;
        Ok(Files { root, _lease: lease })
    }

    /// The uid and gid the container's processes run as, from `id` in it.
    fn container_uid_gid(&self, id: &str) -> Result<(u32, u32), String> {
        let exec = ExecSpec { cmd: vec!["sh".into(), "-c".into(), "id -u; id -g".into()], ..ExecSpec::default() };
        let limits = ExecLimits { output_cap: 256, deadline: Duration::from_secs(10) };
        let result = self.docker.exec_run(id, &exec, None, limits).map_err(|e| e.to_string())?;
        let out = String::from_utf8_lossy(&result.output.stdout);
        let mut ids = out.split_whitespace().map(str::parse::<u32>);
        match (result.exit_code, ids.next(), ids.next()) {
            (Some(0), Some(Ok(uid)), Some(Ok(gid))) => Ok((uid, gid)),
            _ => Err(format!("`id` answered {:?} with exit code {:?}", out.trim(), result.exit_code)),
        }
    }

    fn check_image(&self, name: &str, image: &str) -> Result<(), Error> {
        match self.docker.image_inspect(image) {
            Ok(_) => Ok(()),
            Err(docker::Error::NoSuchImage { .. }) => Err(Error::ImageMissing { image: image.to_string() }),
            Err(e) => Err(docker_err(name, "inspect the image of", e)),
        }
    }

    fn inspect(&self, name: &str) -> Result<Option<ContainerInfo>, Error> {
        match self.docker.container_inspect(name) {
            Ok(info) => Ok(Some(info)),
            Err(docker::Error::NoSuchContainer { .. }) => Ok(None),
            Err(e) => Err(docker_err(name, "inspect", e)),
        }
    }

    fn remove(&self, name: &str, op: &'static str) -> Result<(), Error> {
        match self.docker.container_remove(name, true) {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(docker_err(name, op, e)),
        }
    }

    /// The registry entry, or `None` (logged) when the registry cannot be read.
    fn registry_entry(&self, name: &str) -> Option<Entry> {
        self.registry().get(name).unwrap_or_else(|e| {
            log::error!("sandbox {name}: {e}: {}", e.source);
            None
        })
    }
}

/// The hot-window rule (reference §3.4): an outdated container is kept only
/// while it runs and was used less than [`HOT_WINDOW`] ago; an unknown last
/// use counts as recent.
pub fn outdated_action(running: bool, last_used_at_ms: Option<u64>, now_ms: u64) -> Outdated {
    let window = HOT_WINDOW.as_millis() as u64;
    let recent = last_used_at_ms.is_none_or(|t| now_ms.saturating_sub(t) < window);
    if running && recent { Outdated::KeepHot } else { Outdated::Recreate }
}

/// The command that recreates a scope's sandbox: `--session <scopeKey>`,
/// `--agent <agentId>` or `--all` (shared).
pub fn recreate_hint(scope: Scope, scope_key: &str) -> String {
    match scope {
        Scope::Session => format!("openclaw sandbox recreate --session {scope_key}"),
        Scope::Agent => format!("openclaw sandbox recreate --agent {}", keys::agent_id_from_session_key(scope_key, "main")),
        Scope::Shared => "openclaw sandbox recreate --all".to_string(),
    }
}

/// The warning for a kept hot container, exactly as upstream words it.
pub fn config_changed_message(name: &str, scope: Scope, scope_key: &str) -> String {
    format!("Sandbox config changed for {name} (recently used). Recreate to apply: {}", recreate_hint(scope, scope_key))
}

pub(crate) use crate::now_ms;

// ---------------------------------------------------------------------------
// Private helpers.

/// What one ensure works with.
struct Job<'a> {
    cfg: &'a SandboxConfig,
    name: &'a str,
    scope_key: &'a str,
    sandbox_dir: &'a Path,
    agent_dir: &'a Path,
    hash: &'a str,
    /// The create's binds in host terms, when this process runs in a
    /// container ([`hostpath::host_binds`]).
    host_binds: Option<&'a [String]>,
}

/// The process-wide lock of one container name. Entries nobody holds or
/// waits for are dropped on the next call.
fn name_lock(name: &str) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    // Clones are only made here, under this lock: a count of 1 means unused.
    locks.retain(|_, l| Arc::strong_count(l) > 1);
    Arc::clone(locks.entry(name.to_string()).or_default())
}

/// Creates the folders the mounts need (0700): the scope's sandbox
/// workspace unless the agent workspace replaces it, and the agent
/// workspace when it is mounted. A missing bind source would otherwise be
/// created by the Engine, owned by root.
fn prepare_workspaces(access: WorkspaceAccess, sandbox_dir: &Path, agent_dir: &Path) -> Result<(), Error> {
    let mut dirs = Vec::new();
    if access != WorkspaceAccess::Rw {
        dirs.push(sandbox_dir);
    }
    if access != WorkspaceAccess::None {
        dirs.push(agent_dir);
    }
    for dir in dirs {
        fsutil::ensure_private_dir(dir).map_err(|source| Error::Workspace { path: dir.to_path_buf(), source })?;
    }
    Ok(())
}

/// `uid:gid` when both are numbers (a bare uid's group is the container's
/// business, so it is asked for).
fn numeric_uid_gid(user: &str) -> Option<(u32, u32)> {
    let (uid, gid) = user.trim().split_once(':')?;
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

fn docker_err(name: &str, op: &'static str, source: docker::Error) -> Error {
    Error::Docker { name: name.to_string(), op, source: Box::new(source) }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The last `max` bytes of `s` (on a character boundary), marked when cut.
fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ImageMissing { image } if image == DEFAULT_IMAGE => write!(
                f,
                "Sandbox image not found: {image}. Build it with scripts/sandbox-setup.sh \
                 (the default sandbox image is never pulled or replaced by another image)."
            ),
            Error::ImageMissing { image } => write!(f, "Sandbox image not found: {image}. Build or pull it first."),
            Error::Spec(e) => e.fmt(f),
            Error::Workspace { path, .. } => write!(
                f,
                "cannot create the sandbox workspace folder {}: make it (or agents.defaults.sandbox.workspaceRoot) \
                 writable by this user",
                path.display()
            ),
            Error::NotRunning { name, exit_code, oom_killed } => {
                write!(f, "sandbox container {name} stopped right after it started (exit code {exit_code}")?;
                if *oom_killed {
                    f.write_str(", killed for running out of memory")?;
                }
                f.write_str(
                    ") and was removed; check that the image can run `sleep infinity` and the limits in \
                     agents.defaults.sandbox.docker (memory, pidsLimit, user)",
                )
            }
            Error::SetupFailed { name, command, exit_code, output, needs } => {
                match exit_code {
                    Some(code) => write!(f, "the sandbox setupCommand failed in {name} with exit code {code}")?,
                    None => write!(f, "the sandbox setupCommand in {name} did not report an exit code")?,
                }
                write!(
                    f,
                    "; the container was removed and is made again on next use. \
                     Fix agents.defaults.sandbox.docker.setupCommand ({command:?})"
                )?;
                if !output.is_empty() {
                    write!(f, ". Output:\n{output}")?;
                }
                if !needs.is_empty() {
                    write!(
                        f,
                        "\nNote: installing packages in setupCommand (apt-get) needs {}; this sandbox has {}.",
                        needs.iter().map(|n| setup_need_text(n).0).collect::<Vec<_>>().join(", "),
                        needs.iter().map(|n| setup_need_text(n).1).collect::<Vec<_>>().join(", ")
                    )?;
                }
                Ok(())
            }
            Error::NoHostPath { name, source } => write!(f, "cannot create sandbox {name}: {source}"),
            Error::Docker { name, op, source } if source.is_unreachable() => write!(
                f,
                "sandboxed sessions need the Docker engine, which cannot be reached (while trying to {op} {name}); \
                 start or fix it, or set agents.defaults.sandbox.mode to \"off\""
            ),
            Error::Docker { name, op, .. } => write!(f, "cannot {op} sandbox container {name}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spec(e) => e.source(),
            Error::Workspace { source, .. } => Some(source),
            Error::Docker { source, .. } => Some(source.as_ref()),
            Error::ImageMissing { .. } | Error::NotRunning { .. } | Error::SetupFailed { .. } | Error::NoHostPath { .. } => None,
        }
    }
}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Error {
        Error::Spec(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_window_rule() {
        let now = 10 * 60 * 1000;
        let window = HOT_WINDOW.as_millis() as u64;
        assert_eq!(outdated_action(true, Some(now - 1000), now), Outdated::KeepHot);
        assert_eq!(outdated_action(true, Some(now - window + 1), now), Outdated::KeepHot);
        assert_eq!(outdated_action(true, Some(now - window), now), Outdated::Recreate, "5 minutes idle is not hot");
        assert_eq!(outdated_action(true, None, now), Outdated::KeepHot, "unknown last use counts as recent");
        assert_eq!(outdated_action(false, Some(now), now), Outdated::Recreate, "a stopped container is never hot");
        assert_eq!(outdated_action(false, None, now), Outdated::Recreate);
        assert_eq!(outdated_action(true, Some(now + 5000), now), Outdated::KeepHot, "clock skew counts as recent");
    }

    #[test]
    fn hints_per_scope() {
        assert_eq!(
            config_changed_message("openclaw-sbx-agent-work-1a2b3c4d", Scope::Agent, "agent:work"),
            "Sandbox config changed for openclaw-sbx-agent-work-1a2b3c4d (recently used). \
             Recreate to apply: openclaw sandbox recreate --agent work"
        );
        assert_eq!(recreate_hint(Scope::Agent, "weird"), "openclaw sandbox recreate --agent main");
        assert_eq!(
            recreate_hint(Scope::Session, "agent:main:telegram:dm:1"),
            "openclaw sandbox recreate --session agent:main:telegram:dm:1"
        );
        assert_eq!(recreate_hint(Scope::Shared, "shared"), "openclaw sandbox recreate --all");
    }

    #[test]
    fn error_texts_name_the_fix() {
        let default = Error::ImageMissing { image: DEFAULT_IMAGE.into() }.to_string();
        assert!(default.starts_with("Sandbox image not found: openclaw-sandbox:bookworm-slim."), "{default}");
        assert!(default.contains("scripts/sandbox-setup.sh"), "{default}");
        assert_eq!(
            Error::ImageMissing { image: "mine:1".into() }.to_string(),
            "Sandbox image not found: mine:1. Build or pull it first."
        );
        let setup = Error::SetupFailed { name: "n".into(), command: "false".into(), exit_code: Some(1), output: "boom".into(), needs: vec![] };
        let text = setup.to_string();
        assert!(text.contains("exit code 1") && text.contains("setupCommand") && text.ends_with("boom"), "{text}");
        let gone = Error::Docker {
            name: "n".into(),
            op: "create",
            source: Box::new(docker::Error::SocketMissing { path: "/var/run/docker.sock".into() }),
        };
        assert!(gone.to_string().contains("agents.defaults.sandbox.mode"), "{gone}");
        assert!(std::error::Error::source(&gone).is_some());
    }

    #[test]
    fn numeric_users_are_read_without_asking_the_container() {
        assert_eq!(numeric_uid_gid("1000:1000"), Some((1000, 1000)));
        assert_eq!(numeric_uid_gid("0:27"), Some((0, 27)));
        assert_eq!(numeric_uid_gid("1000"), None, "the group of a bare uid comes from the container");
        assert_eq!(numeric_uid_gid("sandbox:sandbox"), None);
        assert_eq!(numeric_uid_gid("1000:staff"), None);
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("abc", 5), "abc");
        assert_eq!(tail("abcdef", 3), "…def");
        assert_eq!(tail("aé", 1), "…");
    }

    #[test]
    fn name_locks_are_shared_and_dropped_when_unused() {
        let a = name_lock("openclaw-test-lock-x");
        let b = name_lock("openclaw-test-lock-x");
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        let c = name_lock("openclaw-test-lock-x");
        assert_eq!(Arc::strong_count(&c), 2, "a fresh entry after the old one was dropped");
    }
}
