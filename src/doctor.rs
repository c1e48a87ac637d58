//! `openclaw doctor`: checks that say what is wrong and how to fix it.
//!
//! Checks, in order: the config (validity and warnings), the state folder's
//! permissions, the Docker Engine (socket, permission, answer, version) and,
//! when any agent is sandboxed, each sandbox image and, when this process runs
//! in a container of that engine (Docker-out-of-Docker), whether the folders
//! sandboxes mount have host paths. Docker problems are errors
//! only when sandboxing is on; otherwise they are warnings, since nothing
//! needs Docker then. `--fix` drops unrecognized keys from the config file
//! (keeping `openclaw.json.bak`) and tightens state-folder permissions.
//! The exit code is 0 only when no check is an error.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::json;

use crate::config::sandbox::{SandboxMode, WorkspaceAccess};
use crate::config::{self, edit};
use crate::docker::{self, Docker};
use crate::fsutil;
use crate::paths::{Env, Paths};
use crate::sandbox::hostpath::HostView;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Error,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(id: &'static str, status: Status, message: impl Into<String>, fix: Option<String>) -> Check {
        Check { id, status, message: message.into(), fix }
    }
}

pub fn run(paths: &Paths, env: &Env, cwd: Option<&Path>, json: bool, fix: bool) -> ExitCode {
    let checks = checks(paths, env, cwd, fix);
    let ok = !checks.iter().any(|c| c.status == Status::Error);
    if json {
        let out = json!({"ok": ok, "checks": checks});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("openclaw doctor");
        for c in &checks {
            let mark = match c.status {
                Status::Ok => "✓",
                Status::Warn => "!",
                Status::Error => "✗",
            };
            let mut lines = c.message.lines();
            println!("{mark} {:<8} {}", c.id, lines.next().unwrap_or(""));
            for l in lines {
                println!("  {:<8} {l}", "");
            }
            if let Some(f) = &c.fix {
                for l in f.lines() {
                    println!("  {:<8} fix: {l}", "");
                }
            }
        }
        let errors = checks.iter().filter(|c| c.status == Status::Error).count();
        let warnings = checks.iter().filter(|c| c.status == Status::Warn).count();
        println!("{errors} error(s), {warnings} warning(s)");
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::from(crate::app::FAILURE) }
}

/// Runs every check. With `fix`, repairs first what can be repaired safely.
pub fn checks(paths: &Paths, env: &Env, cwd: Option<&Path>, fix: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let mut fixed = Vec::new();
    if fix {
        fix_state_permissions(paths, &mut fixed);
    }
    let mut loaded = config::load(paths, env, cwd);
    if fix
        && let Err(e) = &loaded
            && let Some(msg) = drop_unknown_keys(paths, e) {
                fixed.push(msg);
                loaded = config::load(paths, env, cwd);
            }
    for f in fixed {
        out.push(Check::new("fixed", Status::Ok, f, None));
    }
    let config = match &loaded {
        Ok(l) => {
            let what = if l.exists { "is valid" } else { "does not exist; defaults apply" };
            out.push(Check::new("config", Status::Ok, format!("{} {what}", l.path.display()), None));
            for w in &l.warnings {
                out.push(Check::new("config", Status::Warn, w.render(&l.path), None));
            }
            Some(&l.config)
        }
        Err(e @ config::Error::Unreadable { path, .. }) => {
            out.push(Check::new(
                "config",
                Status::Error,
                e.to_string(),
                Some(format!("make {} readable by uid {} (chmod 600, owned by this user)", path.display(), own_uid())),
            ));
            None
        }
        Err(e) => {
            let problems: Vec<String> = e.problems().iter().map(|p| p.render(&paths.config_path)).collect();
            out.push(Check::new(
                "config",
                Status::Error,
                format!("{} is invalid:\n{}", paths.config_path.display(), problems.join("\n")),
                Some("edit the file (or run openclaw doctor --fix to drop unrecognized keys), then openclaw config validate".into()),
            ));
            None
        }
    };

    state_checks(paths, &mut out);

    // Which agents are sandboxed, and with which images.
    let mut images = BTreeSet::new();
    if let Some(c) = config {
        for id in c.agent_ids() {
            let s = c.sandbox_for(&id);
            if s.mode != SandboxMode::Off {
                images.insert(s.docker.image.clone());
            }
        }
    }
    let needed = !images.is_empty();
    let level = if needed { Status::Error } else { Status::Warn };
    // Doctor is interactive: a hung engine should be reported in seconds.
    let docker = match Docker::from_env(env) {
        Ok(d) => d.with_timeout(std::time::Duration::from_secs(5)),
        Err(e) => {
            out.push(Check::new("docker", level, e.to_string(), None));
            return out;
        }
    };
    match docker.version() {
        Ok(v) => out.push(Check::new(
            "docker",
            Status::Ok,
            format!("Docker Engine {} (API {}, {}/{}) at {}", v.version, v.api_version, v.os, v.arch, docker.socket_path().display()),
            None,
        )),
        Err(e) => {
            let mut message = e.to_string();
            if !needed {
                message.push_str("\n(sandboxing is off, so nothing needs Docker yet)");
            }
            out.push(Check::new("docker", level, message, docker_fix(&e, docker.socket_path())));
            return out;
        }
    }
    if let Some(c) = config
        && needed
    {
        host_path_checks(c, &docker, &mut out);
    }
    for image in images {
        match docker.image_inspect(&image) {
            Ok(_) => out.push(Check::new("sandbox", Status::Ok, format!("sandbox image {image} is present"), None)),
            Err(docker::Error::NoSuchImage { .. }) => {
                let fix = if image == config::sandbox::DEFAULT_IMAGE {
                    "build it: scripts/sandbox-setup.sh".to_string()
                } else {
                    format!("build or pull {image} first, or set agents.defaults.sandbox.docker.image")
                };
                out.push(Check::new("sandbox", Status::Error, format!("sandbox image {image} not found"), Some(fix)));
            }
            Err(e) => out.push(Check::new("sandbox", Status::Error, format!("cannot inspect sandbox image {image}: {e}"), None)),
        }
    }
    out
}

/// Docker-out-of-Docker: when this process runs in a container of the
/// engine, each folder a sandbox mounts (sandbox workspace roots, agent
/// workspaces) must lie on a mount from the host.
fn host_path_checks(config: &config::Config, docker: &Docker, out: &mut Vec<Check>) {
    let view = match HostView::of(docker) {
        Ok(view) => view,
        Err(e) => {
            let message = format!("cannot tell whether this process runs in a container of the engine: {e}");
            return out.push(Check::new("dood", Status::Warn, message, None));
        }
    };
    let Some(container) = view.container() else { return };
    let mut folders = BTreeSet::new();
    for id in config.agent_ids() {
        let s = config.sandbox_for(&id);
        if s.mode == SandboxMode::Off {
            continue;
        }
        if s.workspace_access != WorkspaceAccess::Rw {
            folders.insert(("the sandbox workspace root", "agents.defaults.sandbox.workspaceRoot", s.workspace_root));
        }
        if s.workspace_access != WorkspaceAccess::None {
            folders.insert(("the agent workspace", "agents.defaults.workspace", config.workspace_for(&id)));
        }
    }
    for (what, setting, dir) in folders {
        match view.to_host(&dir, what, setting) {
            Ok(host) => out.push(Check::new(
                "dood",
                Status::Ok,
                format!("{what} {} is {} on the Docker host (this process runs in container {container})", dir.display(), host.display()),
                None,
            )),
            Err(e) => out.push(Check::new("dood", Status::Error, e.to_string(), None)),
        }
    }
}

fn docker_fix(e: &docker::Error, socket: &Path) -> Option<String> {
    match e {
        docker::Error::SocketMissing { .. } => Some(format!(
            "install and start Docker (sudo systemctl start docker), or point DOCKER_HOST at the engine's socket (now {})",
            socket.display()
        )),
        docker::Error::NotAnswering { .. } | docker::Error::Timeout { .. } => {
            Some("start or restart the engine (sudo systemctl restart docker) and check its log".into())
        }
        _ => None,
    }
}

fn own_uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:").map(|r| r.split_whitespace().next().unwrap_or("").to_string())))
        .unwrap_or_else(|| "?".into())
}

/// The state folder and the files in it that hold secrets must be private.
fn state_checks(paths: &Paths, out: &mut Vec<Check>) {
    let dir = &paths.state_dir;
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out.push(Check::new("state", Status::Ok, format!("{} does not exist yet; it is created (mode 0700) on first use", dir.display()), None));
            return;
        }
        Err(e) => {
            out.push(Check::new("state", Status::Error, format!("cannot read {}: {e}", dir.display()), None));
            return;
        }
        Ok(m) if !m.is_dir() => {
            out.push(Check::new("state", Status::Error, format!("{} is not a folder", dir.display()), Some("move it away; openclaw keeps its state in that folder".into())));
            return;
        }
        Ok(_) => {}
    }
    let mut bad = false;
    for (p, want) in private_paths(paths) {
        if let Ok(Some(mode)) = fsutil::loose_permissions(&p) {
            bad = true;
            out.push(Check::new(
                "state",
                Status::Error,
                format!("{} has mode {mode:04o}; it holds tokens or transcripts and must be private", p.display()),
                Some(format!("chmod {want:o} {}   (or run openclaw doctor --fix)", p.display())),
            ));
        }
    }
    if !bad {
        out.push(Check::new("state", Status::Ok, format!("{} is private (0700)", dir.display()), None));
    }
}

fn private_paths(paths: &Paths) -> Vec<(std::path::PathBuf, u32)> {
    let mut v = vec![(paths.state_dir.clone(), 0o700)];
    for d in ["credentials", "devices", "agents", "sandbox", "identity"] {
        let p = paths.state_dir.join(d);
        if p.is_dir() {
            v.push((p, 0o700));
        }
    }
    for f in [paths.config_path.clone(), paths.state_dir.join(".env")] {
        if f.is_file() {
            v.push((f, 0o600));
        }
    }
    v
}

fn fix_state_permissions(paths: &Paths, fixed: &mut Vec<String>) {
    for (p, want) in private_paths(paths) {
        if let Ok(Some(mode)) = fsutil::loose_permissions(&p)
            && std::fs::set_permissions(&p, std::fs::Permissions::from_mode(want)).is_ok() {
                fixed.push(format!("changed {} from {mode:04o} to {want:04o}", p.display()));
            }
    }
}

/// Removes every unrecognized key that sits in the main config file, keeping
/// a `.bak`. Returns what was done, or `None` when there was nothing to drop.
/// Other problems are left for the user; the report that follows lists them.
fn drop_unknown_keys(paths: &Paths, e: &config::Error) -> Option<String> {
    let file = &paths.config_path;
    let unknown: Vec<&str> = e
        .problems()
        .iter()
        .filter(|p| p.message.starts_with("Unrecognized key") && p.at.as_ref().is_some_and(|a| &a.file == file))
        .map(|p| p.path.as_str())
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let _lock = fsutil::Lock::exclusive(file).ok()?;
    let text = config::source::read(file).ok()?;
    let mut root = config::source::parse(&text).ok()?;
    let mut dropped = Vec::new();
    for path in unknown {
        if edit::unset(&mut root, path).is_ok() {
            dropped.push(path.to_string());
        }
    }
    if dropped.is_empty() {
        return None;
    }
    let bak = file.with_file_name(format!("{}.bak", file.file_name()?.to_string_lossy()));
    fsutil::write_atomic(&bak, text.as_bytes()).ok()?;
    let mut out = serde_json::to_string_pretty(&root).ok()?;
    out.push('\n');
    fsutil::write_atomic(file, out.as_bytes()).ok()?;
    Some(format!("removed unrecognized keys {} (previous file kept as {})", dropped.join(", "), bak.display()))
}
