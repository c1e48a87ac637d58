//! The prune thread (SPEC §3.2): sandbox containers that have been idle or
//! alive too long are removed on a timer, not lazily on use as upstream does
//! (reference §3.6), and a reconciliation pass brings the registry and the
//! engine back in line at start-up.
//!
//! It owns one pass, [`prune_once`], and the named thread that runs it,
//! [`PruneThread`]. A pass has two steps.
//!
//! 1. **Reconcile.** Every container (any state) labelled
//!    `openclaw.sandbox=1` is listed. A registry entry whose container no
//!    longer exists (confirmed by an inspect, not only by its absence from
//!    the list) is dropped. A labelled container the registry does not know
//!    is an orphan, for example after a crash between the create and the
//!    registry write, or after the registry file was lost. The decision:
//!    an orphan is **adopted** into the registry (from its labels
//!    `openclaw.sessionKey`, `openclaw.createdAtMs`, `openclaw.configHash`
//!    and its image, with `lastUsedAtMs = createdAtMs`) when both its name
//!    starts with a container prefix this config uses (any agent's
//!    `docker.containerPrefix`) and one of its mounts lies in this state
//!    folder's workspaces (a sandbox workspace root or an agent workspace).
//!    Everything else is left alone: the prefix `openclaw-sbx-` is the
//!    default of every state folder (`--profile`, `OPENCLAW_STATE_DIR`) on
//!    the engine, and a container that mounts another state folder's
//!    workspace belongs to that folder's gateway, whose leases we cannot
//!    see. Browser containers (label `openclaw.sandboxBrowser`) are never
//!    adopted. An adopted orphan is then pruned by the usual rules, so one
//!    from long ago goes in the same pass.
//! 2. **Prune.** Each registry entry is checked with the prune settings of
//!    the agent its scope key belongs to (`agent:<id>` and `agent:<id>:…`
//!    → that agent, another session key → the default agent, `shared` →
//!    `agents.defaults.sandbox`): [`prune_reason`] is upstream's rule, with
//!    `0` switching a criterion off. A stale container is removed only
//!    under [`lease::try_removal`], so one with an exec or file operation in
//!    flight is skipped and counted. Under that lock the entry is read
//!    again (an ensure may just have used it), the container is removed
//!    with force, its registry entry deleted, and, for session and agent
//!    scopes only, its scratch workspace `<workspaceRoot>/<slug>` deleted
//!    after [`scratch_dir_check`] has said it is safe: never `shared` (that
//!    folder is the whole root), never a folder that is or contains an agent
//!    workspace, never a symlink, and only inside the workspace root
//!    (compared as canonical paths). The folder is also kept while another
//!    registry entry has the same scope key (a container made under an
//!    earlier prefix). Upstream kept these folders (issue #43797); we delete
//!    them because nothing else ever would.
//!
//! Every removal, adoption and drop is one `info` line; failures are `error`
//! lines and end up in [`Report::errors`]; nothing here panics on an engine
//! or file error, and the thread survives a panicking pass.
//!
//! Not here: creating or recreating sandboxes (`sandbox::Manager`), browser
//! containers (no browser registry yet; they are never touched), and a folder left behind when
//! `workspaceRoot` changed after the sandbox was made (only the current root
//! is looked at). One race is narrowed but not closed: an ensure of the same
//! scope that runs in the moment between the removal and the folder
//! deletion gets a fresh container whose scratch folder is then deleted;
//! its first exec sees an empty workspace. Ensures take no lease, so no lock
//! can order the two.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::config::Config;
use crate::config::sandbox::{PruneConfig, SandboxConfig, Scope};
use crate::docker::{self, ContainerSummary, Docker};
use crate::paths::{Env, Paths};
use crate::sandbox::hostpath::HostView;
use crate::sandbox::registry::{self, Entry, Registry};
use crate::sandbox::{self, keys, lease, spec};

/// How often the thread prunes unless [`INTERVAL_ENV`] says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The environment variable that overrides [`DEFAULT_INTERVAL`], in
/// milliseconds.
pub const INTERVAL_ENV: &str = "OPENCLAW_PRUNE_INTERVAL_MS";
/// The name of the prune thread, as `ps -T` and panic messages show it.
pub const THREAD_NAME: &str = "openclaw-prune";

/// Upstream's browser containers carry this label besides
/// `openclaw.sandbox=1`; they belong to the browser registry, not ours.
const LABEL_SANDBOX_BROWSER: &str = "openclaw.sandboxBrowser";

const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: f64 = 86_400_000.0;

/// Why a container was pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Unused for longer than `prune.idleHours`.
    Idle,
    /// Created longer ago than `prune.maxAgeDays`.
    Age,
}

/// What one pass did. Names are container names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Orphans taken into the registry.
    pub adopted: Vec<String>,
    /// Registry entries whose container no longer existed.
    pub dropped: Vec<String>,
    /// Containers removed, and why.
    pub removed: Vec<(String, Reason)>,
    /// Stale containers kept because a lease was held on them.
    pub skipped_leased: Vec<String>,
    /// One line per failure (each also logged at `error`).
    pub errors: Vec<String>,
}

/// Why a scratch workspace folder is not deleted.
#[derive(Debug)]
pub enum Refusal {
    /// The shared scope's folder is the whole workspace root.
    Shared,
    /// The folder is, or contains, an agent workspace.
    AgentWorkspace { dir: PathBuf, workspace: PathBuf },
    /// The folder does not lie strictly inside the workspace root.
    OutsideRoot { dir: PathBuf, root: PathBuf },
    /// The folder is a symbolic link.
    Symlink { dir: PathBuf },
    /// The path is a file or something else that is not a folder.
    NotAFolder { dir: PathBuf },
    /// The folder or the root could not be examined.
    Io { path: PathBuf, source: io::Error },
}

/// The running prune thread. [`PruneThread::stop`], or dropping it, ends
/// the thread and waits for it.
#[derive(Debug)]
pub struct PruneThread {
    stop: Option<Sender<()>>,
    /// Set on stop, so a pass in progress ends after its current container.
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// Runs one reconcile-and-prune pass over the registry of `paths` at time
/// `now_ms` (milliseconds since the Unix epoch).
pub fn prune_once(docker: &Docker, config: &Config, paths: &Paths, now_ms: u64) -> Report {
    run_pass(docker, config, paths, now_ms, &AtomicBool::new(false))
}

/// Upstream's rule (reference §3.6): idle when `idle_hours > 0` and the last
/// use is more than `idle_hours` ago; too old when `max_age_days > 0` and
/// the creation is more than `max_age_days` ago. Idleness is reported first
/// when both hold. An entry without a creation time is never too old, and
/// times in the future count as now.
pub fn prune_reason(prune: &PruneConfig, created_at_ms: Option<u64>, last_used_at_ms: u64, now_ms: u64) -> Option<Reason> {
    let idle_ms = now_ms.saturating_sub(last_used_at_ms) as f64;
    if prune.idle_hours > 0.0 && idle_ms > prune.idle_hours * HOUR_MS {
        return Some(Reason::Idle);
    }
    if prune.max_age_days > 0.0
        && let Some(created) = created_at_ms
        && now_ms.saturating_sub(created) as f64 > prune.max_age_days * DAY_MS
    {
        return Some(Reason::Age);
    }
    None
}

/// The interval between passes: [`INTERVAL_ENV`] in milliseconds when it
/// holds a positive whole number, else [`DEFAULT_INTERVAL`] (with a warning
/// when it was set to something else).
pub fn interval_from_env(env: &Env) -> Duration {
    let Some(raw) = env.get(INTERVAL_ENV).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return DEFAULT_INTERVAL;
    };
    match raw.parse::<u64>() {
        Ok(ms) if ms > 0 => Duration::from_millis(ms),
        _ => {
            log::warn!(
                "{INTERVAL_ENV}={raw:?} is not a positive number of milliseconds; pruning every {} s instead",
                DEFAULT_INTERVAL.as_secs()
            );
            DEFAULT_INTERVAL
        }
    }
}

/// Decides whether the scratch workspace `dir` of a sandbox with `scope`
/// may be deleted. `Ok(Some(path))` gives the canonical folder to delete,
/// `Ok(None)` means there is nothing there. Refused: the shared scope, a
/// symlink or non-folder at `dir`, a folder not strictly inside `root`
/// (canonical paths), and a folder that is or contains one of
/// `agent_workspaces` (compared both as written and canonical).
pub fn scratch_dir_check(dir: &Path, root: &Path, scope: Scope, agent_workspaces: &[PathBuf]) -> Result<Option<PathBuf>, Refusal> {
    if scope == Scope::Shared {
        return Err(Refusal::Shared);
    }
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Refusal::Io { path: dir.to_path_buf(), source }),
    };
    if meta.file_type().is_symlink() {
        return Err(Refusal::Symlink { dir: dir.to_path_buf() });
    }
    if !meta.is_dir() {
        return Err(Refusal::NotAFolder { dir: dir.to_path_buf() });
    }
    let canonical = |p: &Path| fs::canonicalize(p).map_err(|source| Refusal::Io { path: p.to_path_buf(), source });
    let real_dir = canonical(dir)?;
    let real_root = canonical(root)?;
    if real_dir == real_root || !real_dir.starts_with(&real_root) {
        return Err(Refusal::OutsideRoot { dir: dir.to_path_buf(), root: root.to_path_buf() });
    }
    for workspace in agent_workspaces {
        // A workspace that does not exist yet is compared as written.
        let real_workspace = fs::canonicalize(workspace).ok();
        let inside = workspace.starts_with(dir)
            || workspace.starts_with(&real_dir)
            || real_workspace.is_some_and(|w| w.starts_with(&real_dir));
        if inside {
            return Err(Refusal::AgentWorkspace { dir: dir.to_path_buf(), workspace: workspace.clone() });
        }
    }
    Ok(Some(real_dir))
}

/// The scope a scope key stands for: `shared`, `agent:<id>` (exactly two
/// parts) for the agent scope, anything else is a session key.
pub fn scope_of(scope_key: &str) -> Scope {
    let key = scope_key.trim();
    if key == "shared" {
        return Scope::Shared;
    }
    let mut parts = key.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(first), Some(id), None) if first.eq_ignore_ascii_case("agent") && !id.is_empty() => Scope::Agent,
        _ => Scope::Session,
    }
}

impl PruneThread {
    /// Spawns the thread [`THREAD_NAME`]. It runs a full pass at once (the
    /// start-up reconciliation, which also prunes), then one every
    /// `interval`, each with the [`Config`] that `config` returns at that
    /// moment, so a reloaded config applies from the next pass.
    pub fn start<F>(docker: Docker, config: F, paths: Paths, interval: Duration) -> io::Result<PruneThread>
    where
        F: Fn() -> Config + Send + 'static,
    {
        let (stop, stopped) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancel);
        let handle = thread::Builder::new()
            .name(THREAD_NAME.to_string())
            .spawn(move || run_loop(&docker, &config, &paths, interval, &stopped, &flag))?;
        Ok(PruneThread { stop: Some(stop), cancel, handle: Some(handle) })
    }

    /// Ends the thread and waits for it. A pass in progress stops after the
    /// container it is working on; between passes the thread wakes at once.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
        if let Some(stop) = self.stop.take() {
            // A send error means the thread is already gone; the join below
            // then returns at once.
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take()
            && handle.join().is_err()
        {
            log::error!("the prune thread ended with a panic");
        }
    }
}

impl Drop for PruneThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Idle => "idle",
            Reason::Age => "age",
        })
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Shared => write!(f, "the shared scope's folder is the whole sandbox workspace root"),
            Refusal::AgentWorkspace { dir, workspace } => {
                write!(f, "{} is or contains the agent workspace {}", dir.display(), workspace.display())
            }
            Refusal::OutsideRoot { dir, root } => {
                write!(f, "{} does not lie inside the sandbox workspace root {}", dir.display(), root.display())
            }
            Refusal::Symlink { dir } => write!(f, "{} is a symbolic link", dir.display()),
            Refusal::NotAFolder { dir } => write!(f, "{} is not a folder", dir.display()),
            Refusal::Io { path, source } => write!(f, "cannot examine {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Refusal::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Private helpers.

/// The thread's body: a pass, then a timed wait on the stop channel.
fn run_loop(
    docker: &Docker,
    config: &dyn Fn() -> Config,
    paths: &Paths,
    interval: Duration,
    stopped: &Receiver<()>,
    cancel: &AtomicBool,
) {
    log::info!("prune thread started: one pass now, then every {} ms", interval.as_millis());
    loop {
        let pass = panic::catch_unwind(AssertUnwindSafe(|| {
            let config = config();
            let report = run_pass(docker, &config, paths, sandbox::now_ms(), cancel);
            log::debug!(
                "prune pass: {} adopted, {} dropped, {} removed, {} in use, {} errors",
                report.adopted.len(),
                report.dropped.len(),
                report.removed.len(),
                report.skipped_leased.len(),
                report.errors.len()
            );
        }));
        if pass.is_err() {
            log::error!("a prune pass panicked; the next one runs in {} ms", interval.as_millis());
        }
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    log::info!("prune thread stopped");
}

fn run_pass(docker: &Docker, config: &Config, paths: &Paths, now_ms: u64, cancel: &AtomicBool) -> Report {
    let mut pass = Pass { docker, config, paths, registry: Registry::new(&paths.state_dir), report: Report::default() };
    if pass.reconcile() {
        pass.prune(now_ms, cancel);
    }
    pass.report
}

/// What one pass works with, and what it has done so far.
struct Pass<'a> {
    docker: &'a Docker,
    config: &'a Config,
    paths: &'a Paths,
    registry: Registry,
    report: Report,
}

impl Pass<'_> {
    /// Step 1: adopts our orphans and drops entries whose container is
    /// gone. False when the engine or the registry cannot be read, in which
    /// case pruning is skipped too.
    fn reconcile(&mut self) -> bool {
        let label = format!("{}=1", spec::LABEL_SANDBOX);
        let containers = match self.docker.container_list(true, &[&label]) {
            Ok(list) => list,
            Err(e) => {
                self.fail(format!("sandbox prune: cannot list the sandbox containers: {e}"));
                return false;
            }
        };
        let Some(entries) = self.entries() else { return false };
        let known: HashSet<&str> = entries.iter().map(|e| e.container_name.as_str()).collect();
        let ours = Ours::of(self.config).with_host_folders(self.docker);
        for container in &containers {
            let Some(name) = container.names.first() else { continue };
            if known.contains(name.as_str()) || container.labels.contains_key(LABEL_SANDBOX_BROWSER) {
                continue;
            }
            if !ours.prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                log::debug!("sandbox prune: {name} has none of this config's container prefixes; left alone");
                continue;
            }
            self.adopt(container, name, &ours);
        }
        let listed: HashSet<&str> = containers.iter().flat_map(|c| c.names.iter().map(String::as_str)).collect();
        for entry in entries.iter().filter(|e| !listed.contains(e.container_name.as_str())) {
            self.drop_if_gone(&entry.container_name);
        }
        true
    }

    /// Takes the orphan `name` into the registry if it is ours (see the
    /// module doc).
    fn adopt(&mut self, container: &ContainerSummary, name: &str, ours: &Ours) {
        let Some(scope_key) = container.labels.get(spec::LABEL_SESSION_KEY).filter(|k| !k.trim().is_empty()) else {
            log::warn!("sandbox prune: {name} has no {} label; left alone", spec::LABEL_SESSION_KEY);
            return;
        };
        let info = match self.docker.container_inspect(name) {
            Ok(info) => info,
            Err(docker::Error::NoSuchContainer { .. }) => return,
            Err(e) => return self.fail(format!("sandbox prune: cannot inspect {name}: {e}")),
        };
        if !info.mounts.iter().any(|m| ours.holds(Path::new(&m.source))) {
            log::debug!("sandbox prune: {name} mounts nothing of this state folder; left alone");
            return;
        }
        let created_at_ms = container
            .labels
            .get(spec::LABEL_CREATED_AT_MS)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| u64::try_from(container.created).unwrap_or(0).saturating_mul(1000));
        let image = if info.image.is_empty() { container.image.clone() } else { info.image.clone() };
        let entry = Entry {
            container_name: name.to_string(),
            session_key: scope_key.clone(),
            created_at_ms: Some(created_at_ms),
            last_used_at_ms: created_at_ms,
            image: Some(image),
            config_hash: container.labels.get(spec::LABEL_CONFIG_HASH).filter(|h| !h.trim().is_empty()).cloned(),
        };
        // An ensure may have recorded it since the list; its entry wins.
        match self.registry.get(name) {
            Ok(None) => {}
            Ok(Some(_)) => return,
            Err(e) => return self.registry_failed(&e),
        }
        if let Err(e) = self.registry.upsert(entry) {
            return self.registry_failed(&e);
        }
        log::info!("sandbox prune: adopted the orphan container {name} ({scope_key}) into the registry");
        self.report.adopted.push(name.to_string());
    }

    /// Drops the entry of `name` when inspect confirms the container is
    /// gone (it may exist without our label, or be newer than the list).
    fn drop_if_gone(&mut self, name: &str) {
        match self.docker.container_inspect(name) {
            Ok(_) => return,
            Err(docker::Error::NoSuchContainer { .. }) => {}
            Err(e) => return self.fail(format!("sandbox prune: cannot inspect {name}: {e}")),
        }
        match self.registry.remove(name) {
            Ok(true) => {
                log::info!("sandbox prune: dropped the registry entry of {name}: the container no longer exists");
                self.report.dropped.push(name.to_string());
            }
            Ok(false) => {}
            Err(e) => return self.registry_failed(&e),
        }
        // The lock file of a vanished container is only removed when nobody
        // holds a lease on it.
        if let Ok(Some(_removal)) = lease::try_removal(&self.paths.state_dir, name) {
            lease::forget(&self.paths.state_dir, name);
        }
    }

    /// Step 2: removes every stale container nobody holds a lease on.
    fn prune(&mut self, now_ms: u64, cancel: &AtomicBool) {
        let Some(entries) = self.entries() else { return };
        for entry in entries {
            if cancel.load(Ordering::SeqCst) {
                log::debug!("sandbox prune: stopping mid-pass");
                return;
            }
            let settings = settings_for(self.config, &entry.session_key);
            if prune_reason(&settings.prune, entry.created_at_ms, entry.last_used_at_ms, now_ms).is_some() {
                self.remove(&entry.container_name, &settings, now_ms);
            }
        }
    }

    /// Removes the stale container `name` under its removal lock.
    fn remove(&mut self, name: &str, settings: &SandboxConfig, now_ms: u64) {
        let state_dir = &self.paths.state_dir;
        let _removal = match lease::try_removal(state_dir, name) {
            Ok(Some(removal)) => removal,
            Ok(None) => {
                log::info!("sandbox prune: {name} is due for removal but in use; kept until the next pass");
                self.report.skipped_leased.push(name.to_string());
                return;
            }
            Err(e) => return self.fail(format!("sandbox prune: cannot take the removal lock of {name}: {e}")),
        };
        // Read again under the lock: an ensure may have used it meanwhile.
        let entry = match self.registry.get(name) {
            Ok(Some(entry)) => entry,
            Ok(None) => return,
            Err(e) => return self.registry_failed(&e),
        };
        let Some(reason) = prune_reason(&settings.prune, entry.created_at_ms, entry.last_used_at_ms, now_ms) else {
            return;
        };
        match self.docker.container_remove(name, true) {
            Ok(()) | Err(docker::Error::NoSuchContainer { .. }) => {}
            Err(e) => return self.fail(format!("sandbox prune: cannot remove {name}: {e}")),
        }
        if let Err(e) = self.registry.remove(name) {
            self.registry_failed(&e);
        }
        log::info!("sandbox prune: removed {name} ({}): {}", entry.session_key, describe(reason, &entry, settings, now_ms));
        self.report.removed.push((name.to_string(), reason));
        self.remove_scratch_dir(&entry, settings);
        lease::forget(state_dir, name);
    }

    /// Deletes the scratch workspace of a pruned session or agent sandbox
    /// when [`scratch_dir_check`] allows it.
    fn remove_scratch_dir(&mut self, entry: &Entry, settings: &SandboxConfig) {
        let scope = scope_of(&entry.session_key);
        if scope == Scope::Shared {
            return;
        }
        match self.registry.entries() {
            Ok(rest) if rest.iter().any(|e| e.session_key == entry.session_key) => {
                log::debug!("sandbox prune: another container of {} remains; its workspace folder is kept", entry.session_key);
                return;
            }
            Ok(_) => {}
            Err(e) => return self.registry_failed(&e),
        }
        let root = &settings.workspace_root;
        let dir = keys::sandbox_workspace_dir(root, scope, &entry.session_key);
        let workspaces: Vec<PathBuf> = self.config.agent_ids().iter().map(|id| self.config.workspace_for(id)).collect();
        match scratch_dir_check(&dir, root, scope, &workspaces) {
            Ok(None) => {}
            Ok(Some(real)) => match fs::remove_dir_all(&real) {
                Ok(()) => log::info!("sandbox prune: removed the scratch workspace {}", real.display()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => self.fail(format!("sandbox prune: cannot remove the scratch workspace {}: {e}", real.display())),
            },
            Err(refusal) => log::warn!("sandbox prune: kept the workspace folder of {}: {refusal}", entry.container_name),
        }
    }

    /// Every registry entry, or `None` (reported) when it cannot be read.
    fn entries(&mut self) -> Option<Vec<Entry>> {
        match self.registry.entries() {
            Ok(entries) => Some(entries),
            Err(e) => {
                self.registry_failed(&e);
                None
            }
        }
    }

    fn registry_failed(&mut self, e: &registry::Error) {
        self.fail(format!("sandbox prune: {e}: {}", e.source));
    }

    fn fail(&mut self, message: String) {
        log::error!("{message}");
        self.report.errors.push(message);
    }
}

/// What marks a container as this config's: its prefixes, and the folders
/// its workspace mounts come from.
struct Ours {
    prefixes: Vec<String>,
    folders: Vec<PathBuf>,
}

impl Ours {
    fn of(config: &Config) -> Ours {
        let mut sandboxes = vec![defaults_sandbox(config)];
        let ids = config.agent_ids();
        sandboxes.extend(ids.iter().map(|id| config.sandbox_for(id)));
        let mut prefixes: Vec<String> = Vec::new();
        let mut folders: Vec<PathBuf> = ids.iter().map(|id| config.workspace_for(id)).collect();
        for s in sandboxes {
            if !s.docker.container_prefix.is_empty() && !prefixes.contains(&s.docker.container_prefix) {
                prefixes.push(s.docker.container_prefix);
            }
            folders.push(s.workspace_root);
        }
        Ours { prefixes, folders }
    }

    /// Adds our folders in the Docker host's terms when this process runs in
    /// a container: a sandbox's mount sources are host paths then.
    fn with_host_folders(mut self, docker: &Docker) -> Ours {
        match HostView::of(docker) {
            Ok(view) if view.container().is_some() => {
                let host: Vec<PathBuf> = self.folders.iter().filter_map(|f| view.to_host(f, "", "").ok()).collect();
                self.folders.extend(host);
            }
            Ok(_) => {}
            Err(e) => log::warn!(
                "sandbox prune: cannot look up the container this process runs in ({e}); orphans are matched by in-container paths only"
            ),
        }
        self
    }

    /// True when `source` is, or lies inside, one of our folders (as
    /// written or canonical).
    fn holds(&self, source: &Path) -> bool {
        let real = fs::canonicalize(source).ok();
        self.folders.iter().any(|folder| {
            let real_folder = fs::canonicalize(folder).ok();
            source.starts_with(folder)
                || match (&real, &real_folder) {
                    (Some(r), Some(f)) => r.starts_with(f),
                    _ => false,
                }
        })
    }
}

/// The sandbox settings a scope key is pruned with.
fn settings_for(config: &Config, scope_key: &str) -> SandboxConfig {
    match scope_of(scope_key) {
        Scope::Shared => defaults_sandbox(config),
        Scope::Agent | Scope::Session => {
            config.sandbox_for(&keys::agent_id_from_session_key(scope_key, &config.default_agent_id()))
        }
    }
}

/// `agents.defaults.sandbox` resolved without any agent's overrides. Agent
/// ids are normalized and never empty, so the empty id finds no agent entry.
fn defaults_sandbox(config: &Config) -> SandboxConfig {
    config.sandbox_for("")
}

/// The detail of a removal's log line: how long, against which limit.
fn describe(reason: Reason, entry: &Entry, settings: &SandboxConfig, now_ms: u64) -> String {
    match reason {
        Reason::Idle => format!(
            "idle for {:.1} h, idleHours is {}",
            now_ms.saturating_sub(entry.last_used_at_ms) as f64 / HOUR_MS,
            settings.prune.idle_hours
        ),
        Reason::Age => format!(
            "age {:.1} days, maxAgeDays is {}",
            now_ms.saturating_sub(entry.created_at_ms.unwrap_or(now_ms)) as f64 / DAY_MS,
            settings.prune.max_age_days
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    const H: u64 = 3_600_000;
    const D: u64 = 24 * H;

    fn prune(idle_hours: f64, max_age_days: f64) -> PruneConfig {
        PruneConfig { idle_hours, max_age_days }
    }

    #[test]
    fn reasons_follow_upstreams_rule() {
        let now = 100 * D;
        // Both criteria off: never, however old.
        assert_eq!(prune_reason(&prune(0.0, 0.0), Some(0), 0, now), None);
        // Idle only.
        assert_eq!(prune_reason(&prune(24.0, 0.0), Some(0), now - 25 * H, now), Some(Reason::Idle));
        assert_eq!(prune_reason(&prune(24.0, 0.0), Some(0), now - 23 * H, now), None, "age is off");
        assert_eq!(prune_reason(&prune(24.0, 0.0), Some(0), now - 24 * H, now), None, "strictly longer than the limit");
        // Age only.
        assert_eq!(prune_reason(&prune(0.0, 7.0), Some(now - 8 * D), now, now), Some(Reason::Age));
        assert_eq!(prune_reason(&prune(0.0, 7.0), Some(now - 6 * D), 0, now), None, "idle is off");
        assert_eq!(prune_reason(&prune(0.0, 7.0), None, 0, now), None, "no creation time, never too old");
        // Both on: idle is named first.
        assert_eq!(prune_reason(&prune(1.0, 1.0), Some(0), 0, now), Some(Reason::Idle));
        assert_eq!(prune_reason(&prune(1.0, 1.0), Some(0), now, now), Some(Reason::Age));
        // Fractions, and a clock that went backwards.
        assert_eq!(prune_reason(&prune(0.5, 0.0), Some(0), now - H, now), Some(Reason::Idle));
        assert_eq!(prune_reason(&prune(1.0, 1.0), Some(now + D), now + D, now), None);
    }

    #[test]
    fn interval_comes_from_the_env_map() {
        let env = |v: &str| Env::from([(INTERVAL_ENV.to_string(), v.to_string())]);
        assert_eq!(interval_from_env(&Env::new()), DEFAULT_INTERVAL);
        assert_eq!(DEFAULT_INTERVAL, Duration::from_secs(300));
        assert_eq!(interval_from_env(&env("200")), Duration::from_millis(200));
        assert_eq!(interval_from_env(&env(" 60000 ")), Duration::from_secs(60));
        for bad in ["", "0", "-5", "1.5", "5m", "99999999999999999999999"] {
            assert_eq!(interval_from_env(&env(bad)), DEFAULT_INTERVAL, "{bad:?}");
        }
    }

    #[test]
    fn scopes_from_keys() {
        assert_eq!(scope_of("shared"), Scope::Shared);
        assert_eq!(scope_of("agent:main"), Scope::Agent);
        assert_eq!(scope_of("agent:main:main"), Scope::Session);
        assert_eq!(scope_of("agent:work:telegram:dm:1"), Scope::Session);
        assert_eq!(scope_of("main"), Scope::Session);
        assert_eq!(scope_of("agent:"), Scope::Session);
    }

    use crate::fsutil::TestDir as Temp;

    #[test]
    fn scratch_folders_are_checked_before_deletion() {
        let t = Temp::new("prune-scratch");
        let root = t.0.join("sandboxes");
        let agent = t.0.join("workspace");
        fs::create_dir_all(&agent).unwrap();
        let workspaces = vec![agent.clone()];
        let dir = root.join("agent-main-f331f052");
        fs::create_dir_all(&dir).unwrap();

        // A normal scratch folder: deleted by its canonical path.
        let real = scratch_dir_check(&dir, &root, Scope::Session, &workspaces).unwrap();
        assert_eq!(real, Some(fs::canonicalize(&dir).unwrap()));
        assert!(scratch_dir_check(&dir, &root, Scope::Agent, &workspaces).unwrap().is_some());
        // Missing: nothing to do.
        assert_eq!(scratch_dir_check(&root.join("gone"), &root, Scope::Session, &workspaces).unwrap(), None);

        // The shared scope's folder is the root itself.
        assert!(matches!(scratch_dir_check(&root, &root, Scope::Shared, &workspaces), Err(Refusal::Shared)));
        // The root itself, under another scope, is not inside the root.
        assert!(matches!(scratch_dir_check(&root, &root, Scope::Session, &workspaces), Err(Refusal::OutsideRoot { .. })));

        // An agent workspace, or a folder holding one.
        let inner = dir.join("ws");
        fs::create_dir_all(&inner).unwrap();
        let err = scratch_dir_check(&dir, &root, Scope::Session, std::slice::from_ref(&inner)).unwrap_err();
        assert!(matches!(err, Refusal::AgentWorkspace { .. }), "{err}");
        let err = scratch_dir_check(&dir, &root, Scope::Session, std::slice::from_ref(&dir)).unwrap_err();
        assert!(matches!(err, Refusal::AgentWorkspace { .. }), "{err}");
        // Also one that does not exist yet, and one named through a `..`.
        let later = vec![dir.join("later")];
        assert!(matches!(scratch_dir_check(&dir, &root, Scope::Session, &later), Err(Refusal::AgentWorkspace { .. })));
        let dotted = vec![root.join("x/../agent-main-f331f052/ws")];
        fs::create_dir_all(root.join("x")).unwrap();
        assert!(matches!(scratch_dir_check(&dir, &root, Scope::Session, &dotted), Err(Refusal::AgentWorkspace { .. })));

        // Outside the root: another folder, or a `..` that climbs out.
        let err = scratch_dir_check(&agent, &root, Scope::Session, &[]).unwrap_err();
        assert!(matches!(err, Refusal::OutsideRoot { .. }), "{err}");
        let err = scratch_dir_check(&root.join("../workspace"), &root, Scope::Session, &[]).unwrap_err();
        assert!(matches!(err, Refusal::OutsideRoot { .. }), "{err}");

        // A symlink, even one pointing inside the root.
        let link = root.join("session-link-00000000");
        symlink(&agent, &link).unwrap();
        let err = scratch_dir_check(&link, &root, Scope::Session, &[]).unwrap_err();
        assert!(matches!(err, Refusal::Symlink { .. }), "{err}");
        let inside_link = root.join("session-link2-00000000");
        symlink(&dir, &inside_link).unwrap();
        assert!(matches!(scratch_dir_check(&inside_link, &root, Scope::Session, &[]), Err(Refusal::Symlink { .. })));

        // A file is not a folder.
        let file = root.join("file-00000000");
        fs::write(&file, "x").unwrap();
        assert!(matches!(scratch_dir_check(&file, &root, Scope::Session, &[]), Err(Refusal::NotAFolder { .. })));

        // A root reached through a symlink is compared by its real path.
        let root_link = t.0.join("root-link");
        symlink(&root, &root_link).unwrap();
        let via = root_link.join("agent-main-f331f052");
        assert_eq!(scratch_dir_check(&via, &root_link, Scope::Session, &[]).unwrap(), Some(fs::canonicalize(&dir).unwrap()));
    }
}
