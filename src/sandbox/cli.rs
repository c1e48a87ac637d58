//! `openclaw sandbox list|recreate|explain` (reference §4.7, §3.10), run
//! without a gateway: the config, the registry and the Docker Engine are
//! used directly.
//!
//! The texts are upstream's, word for word, emoji and blank lines included.
//! They are built by small pure functions (`format_*`, [`selection`],
//! [`explain`]) that take data and return `String`s; the thin functions
//! [`list`], [`recreate`] and [`run_explain`] do the I/O and return the
//! exit code.
//!
//! - `list` reads every registry entry and inspects its container (running,
//!   actual image), and compares that image with the one configured for the
//!   entry's agent. As upstream, an engine that cannot be reached yields an
//!   empty list (logged at debug); a missing container is listed as
//!   stopped with the registry's image.
//! - `recreate` removes the selected containers: the removal lock of
//!   [`super::lease`] first (a container with a tool call in flight is
//!   reported as failed and left alone), then a forced remove, the registry
//!   entry and the lease file. The next use creates the container again.
//! - `explain` resolves the effective sandbox, the sandbox tool policy
//!   ([`super::policy`]) and the elevated gates for one session.
//!
//! Not here: the browser sandbox, which arrives with its own issue together
//! with its registry (`sandbox/browsers.json`); until then the browser list
//! is always empty and `recreate --browser` finds nothing.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::policy::{self, ToolPolicy};
use super::registry::{self, Entry, Registry};
use super::{keys, lease, now_ms};
use crate::config::Config;
use crate::config::model::normalize_agent_id;
use crate::config::sandbox::{SandboxMode, Scope, WorkspaceAccess};
use crate::docker::{self, Docker};

/// The exit code of a recreate with failures and of validation errors.
pub const FAILURE: u8 = 1;

pub const DOCS_URL: &str = "https://docs.openclaw.ai/sandbox";
pub const NO_CONTAINERS: &str = "No sandbox containers found.";
pub const NO_BROWSERS: &str = "No sandbox browser containers found.";
pub const SPECIFY_SCOPE: &str = "Please specify --all, --session <key>, or --agent <id>";
pub const ONLY_ONE_SCOPE: &str = "Please specify only one of: --all, --session, --agent";
pub const NOTHING_MATCHED: &str = "No containers found matching the criteria.";
pub const CONFIRM: &str = "This will stop and remove these containers. Continue?";
pub const CANCELLED: &str = "Cancelled.";

/// Chat channel ids a session key can name (upstream's built-in channels,
/// plus its internal `webchat`).
const CHANNELS: &[&str] = &["telegram", "whatsapp", "discord", "irc", "googlechat", "slack", "signal", "imessage", "webchat"];

/// One registry entry with what the engine says about its container: the
/// `sandbox list --json` item (registry fields, then `running` and
/// `imageMatch`; `image` is the container's actual image).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub container_name: String,
    pub session_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at_ms: Option<u64>,
    pub last_used_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    pub running: bool,
    pub image_match: bool,
}

/// Which containers `recreate` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    /// Exactly this scope key.
    Session(String),
    /// Scope key `agent:<id>` or starting with `agent:<id>:`.
    Agent(String),
}

/// The options of `sandbox recreate`, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecreateOptions {
    pub all: bool,
    pub session: Option<String>,
    pub agent: Option<String>,
    pub browser: bool,
    pub force: bool,
}

/// Where `recreate` talks to the user.
pub struct Io<'a> {
    pub input: &'a mut dyn BufRead,
    /// False when the input is a pipe or file: the answer is then not
    /// echoed, so a newline is printed after it.
    pub input_is_terminal: bool,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// Why one container could not be removed.
#[derive(Debug)]
pub enum RemoveError {
    /// A tool call holds a lease on it.
    InUse,
    /// The lease lock file could not be opened or locked.
    Lease(io::Error),
    Docker(docker::Error),
    Registry(registry::Error),
}

/// The `sandbox explain` payload, in upstream's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explain {
    pub docs_url: &'static str,
    pub agent_id: String,
    pub session_key: String,
    pub main_session_key: String,
    pub sandbox: ExplainSandbox,
    pub elevated: Elevated,
    pub fix_it: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplainSandbox {
    pub mode: SandboxMode,
    pub scope: Scope,
    pub per_session: bool,
    pub workspace_access: WorkspaceAccess,
    pub workspace_root: PathBuf,
    pub session_is_sandboxed: bool,
    pub tools: ToolPolicy,
}

/// The elevated-exec gates as far as the config decides them.
///
/// `channel` is the chat channel named by the session key
/// (`agent:<id>:<channel>:…`), as upstream infers it when its session store
/// has no entry; this build has no session store, so a key that names no
/// known channel leaves it `null` (shown as `(unknown)`), and then the
/// per-channel `allowFrom` lists are `null` and `allowedByConfig` is false.
/// An agent `allowFrom` that is present but empty (`{}`) reads as absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Elevated {
    /// `tools.elevated.enabled` and the agent's, each true unless `false`.
    pub enabled: bool,
    pub channel: Option<String>,
    pub allowed_by_config: bool,
    pub always_allowed_by_config: bool,
    pub allow_from: AllowFrom,
    pub failures: Vec<Gate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllowFrom {
    pub global: Option<Vec<String>>,
    pub agent: Option<Vec<String>>,
}

/// A failing elevated gate and the key that opens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    pub gate: &'static str,
    pub key: String,
}

// ---------------------------------------------------------------------------
// list

/// The registry's containers with their engine state. `docker` is `None`
/// when no handle could be made (a bad `DOCKER_HOST`).
pub fn collect_containers(config: &Config, registry: &Registry, docker: Option<&Docker>) -> Vec<ContainerStatus> {
    if !registry.path().exists() {
        return Vec::new();
    }
    let entries = match registry.entries() {
        Ok(e) => e,
        Err(e) => {
            log::warn!("{e}: {}", e.source);
            return Vec::new();
        }
    };
    let Some(docker) = docker else {
        log::debug!("sandbox list: no Docker handle; treating the container list as empty");
        return Vec::new();
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let (running, image) = match docker.container_inspect(&entry.container_name) {
            Ok(info) => (info.running, Some(info.image).filter(|i| !i.is_empty()).or_else(|| entry.image.clone())),
            Err(e) if e.is_unreachable() => {
                log::debug!("sandbox list: {e}; treating the container list as empty");
                return Vec::new();
            }
            Err(e) => {
                if !e.is_not_found() {
                    log::debug!("sandbox list: inspecting {}: {e}", entry.container_name);
                }
                (false, entry.image.clone())
            }
        };
        out.push(status(config, entry, running, image));
    }
    out
}

/// `1d 2h`, `3h 4m`, `5m` or `6s` (reference §4.7).
pub fn format_age(ms: u64) -> String {
    let seconds = ms / 1000;
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    if days > 0 {
        format!("{days}d {}h", hours % 24)
    } else if hours > 0 {
        format!("{hours}h {}m", minutes % 60)
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        format!("{seconds}s")
    }
}

/// The human `sandbox list` output: the containers, then the summary.
pub fn format_list(containers: &[ContainerStatus], now_ms: u64) -> String {
    let mut s = String::new();
    if containers.is_empty() {
        s.push_str(NO_CONTAINERS);
        s.push('\n');
    } else {
        s.push_str("\n📦 Sandbox Containers:\n\n");
        for c in containers {
            let created = c.created_at_ms.unwrap_or(c.last_used_at_ms);
            s.push_str(&format!("  {}\n", c.container_name));
            s.push_str(&format!("    Status:  {}\n", if c.running { "🟢 running" } else { "⚫ stopped" }));
            s.push_str(&format!(
                "    Image:   {} {}\n",
                c.image.as_deref().unwrap_or("(unknown)"),
                if c.image_match { "✓" } else { "⚠️  mismatch" }
            ));
            s.push_str(&format!("    Age:     {}\n", format_age(now_ms.saturating_sub(created))));
            s.push_str(&format!("    Idle:    {}\n", format_age(now_ms.saturating_sub(c.last_used_at_ms))));
            s.push_str(&format!("    Session: {}\n\n", c.session_key));
        }
    }
    s.push_str(&format_summary(containers));
    s
}

/// The human `sandbox list --browser` output. There is no browser registry
/// yet, so there are no browser containers to show.
pub fn format_browser_list() -> String {
    format!("{NO_BROWSERS}\n{}", format_summary(&[]))
}

/// `sandbox list --json`: `{"containers": […], "browsers": […]}`; with
/// `--browser` the containers are left out, and the browser list is
/// always empty for now.
pub fn format_list_json(containers: &[ContainerStatus], browser: bool) -> String {
    #[derive(Serialize)]
    struct Listing<'a> {
        containers: &'a [ContainerStatus],
        browsers: &'a [ContainerStatus],
    }
    let containers = if browser { &[] } else { containers };
    let mut text = serde_json::to_string_pretty(&Listing { containers, browsers: &[] }).unwrap_or_default();
    text.push('\n');
    text
}

/// Prints `sandbox list`; always exit code 0, as upstream.
pub fn list(config: &Config, state_dir: &Path, docker: Option<&Docker>, browser: bool, json: bool, out: &mut dyn Write) -> io::Result<u8> {
    let containers = if browser { Vec::new() } else { collect_containers(config, &Registry::new(state_dir), docker) };
    let text = match (json, browser) {
        (true, _) => format_list_json(&containers, browser),
        (false, true) => format_browser_list(),
        (false, false) => format_list(&containers, now_ms()),
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}

// ---------------------------------------------------------------------------
// recreate

/// Checks that exactly one of `--all`, `--session`, `--agent` is given (an
/// empty value counts as not given); the error is upstream's message.
pub fn selection(all: bool, session: Option<&str>, agent: Option<&str>) -> Result<Selection, &'static str> {
    let session = session.filter(|s| !s.is_empty());
    let agent = agent.filter(|a| !a.is_empty());
    match (all, session, agent) {
        (false, None, None) => Err(SPECIFY_SCOPE),
        (true, None, None) => Ok(Selection::All),
        (false, Some(s), None) => Ok(Selection::Session(s.to_string())),
        (false, None, Some(a)) => Ok(Selection::Agent(a.to_string())),
        _ => Err(ONLY_ONE_SCOPE),
    }
}

impl Selection {
    /// Whether the container of scope key `session_key` is selected.
    pub fn matches(&self, session_key: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::Session(key) => session_key == key,
            Selection::Agent(id) => {
                let prefix = format!("agent:{id}");
                session_key == prefix || session_key.strip_prefix(&prefix).is_some_and(|rest| rest.starts_with(':'))
            }
        }
    }
}

/// The list of what will be removed, and the count.
pub fn format_preview(containers: &[ContainerStatus]) -> String {
    let mut s = String::from("\nContainers to be recreated:\n\n");
    if !containers.is_empty() {
        s.push_str("📦 Sandbox Containers:\n");
        for c in containers {
            s.push_str(&format!("  - {} ({})\n", c.container_name, if c.running { "running" } else { "stopped" }));
        }
    }
    s.push_str(&format!("\nTotal: {} container(s)\n", containers.len()));
    s
}

/// The closing lines of a recreate.
pub fn format_done(removed: usize, failed: usize) -> String {
    let mut s = format!("\nDone: {removed} removed, {failed} failed\n");
    if removed > 0 {
        s.push_str("\nContainers will be automatically recreated when the agent is next used.\n");
    }
    s
}

/// Whether `answer` (one line of input) says yes. Anything else, and no
/// answer at all, is No.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

/// Removes one sandbox container for good: takes its removal lock (fails
/// with [`RemoveError::InUse`] while a lease is held), force-removes the
/// container (one already gone is fine), deletes its registry entry and
/// its lease file.
pub fn remove_container(state_dir: &Path, docker: &Docker, name: &str) -> Result<(), RemoveError> {
    let Some(_removal) = lease::try_removal(state_dir, name).map_err(RemoveError::Lease)? else {
        return Err(RemoveError::InUse);
    };
    match docker.container_remove(name, true) {
        // The caller prints its own line for the user.
        Ok(()) => log::debug!("sandbox {name}: container removed (recreate)"),
        Err(e) if e.is_not_found() => log::debug!("sandbox {name}: container already gone"),
        Err(e) => return Err(RemoveError::Docker(e)),
    }
    Registry::new(state_dir).remove(name).map_err(RemoveError::Registry)?;
    lease::forget(state_dir, name);
    Ok(())
}

/// Runs `sandbox recreate`: validation (exit 1), selection, preview,
/// confirmation unless `force`, removal. Exit code 1 when any removal
/// failed.
pub fn recreate(config: &Config, state_dir: &Path, docker: Option<&Docker>, opts: &RecreateOptions, io: &mut Io<'_>) -> io::Result<u8> {
    let selected = match selection(opts.all, opts.session.as_deref(), opts.agent.as_deref()) {
        Ok(s) => s,
        Err(message) => {
            writeln!(io.err, "{message}")?;
            return Ok(FAILURE);
        }
    };
    let containers: Vec<ContainerStatus> = if opts.browser {
        Vec::new()
    } else {
        collect_containers(config, &Registry::new(state_dir), docker)
            .into_iter()
            .filter(|c| selected.matches(&c.session_key))
            .collect()
    };
    let Some(docker) = docker.filter(|_| !containers.is_empty()) else {
        writeln!(io.out, "{NOTHING_MATCHED}")?;
        return Ok(0);
    };
    io.out.write_all(format_preview(&containers).as_bytes())?;
    if !opts.force && !confirm(io)? {
        writeln!(io.out, "{CANCELLED}")?;
        return Ok(0);
    }
    io.out.write_all(b"\nRemoving containers...\n\n")?;
    let (mut removed, mut failed) = (0, 0);
    for c in &containers {
        match remove_container(state_dir, docker, &c.container_name) {
            Ok(()) => {
                removed += 1;
                writeln!(io.out, "✓ Removed {}", c.container_name)?;
            }
            Err(e) => {
                failed += 1;
                io.out.flush()?;
                writeln!(io.err, "✗ Failed to remove {}: {}", c.container_name, with_causes(&e))?;
            }
        }
    }
    io.out.write_all(format_done(removed, failed).as_bytes())?;
    io.out.flush()?;
    Ok(if failed > 0 { FAILURE } else { 0 })
}

// ---------------------------------------------------------------------------
// explain

/// The session key `explain` looks at (reference §4.7): none → the agent's
/// main session key; with a `:` → as given; `global`; else
/// `agent:<agentId>:<key lower-cased>`.
pub fn explain_session_key(config: &Config, agent_id: &str, raw: Option<&str>) -> String {
    let raw = raw.unwrap_or_default().trim();
    if raw.is_empty() {
        keys::main_session_key(config, agent_id)
    } else if raw.contains(':') || raw == "global" {
        raw.to_string()
    } else {
        format!("agent:{agent_id}:{}", raw.to_lowercase())
    }
}

/// Resolves everything `sandbox explain` shows. The agent is `agent`, else
/// the one of `session`, else the default agent.
pub fn explain(config: &Config, session: Option<&str>, agent: Option<&str>) -> Explain {
    let default_agent = config.default_agent_id();
    let agent_id = match (agent.map(str::trim).filter(|a| !a.is_empty()), session.map(str::trim).filter(|s| !s.is_empty())) {
        (Some(a), _) => normalize_agent_id(a),
        (None, Some(s)) => keys::agent_id_from_session_key(s, &default_agent),
        (None, None) => default_agent,
    };
    let session_key = explain_session_key(config, &agent_id, session);
    let main_session_key = keys::main_session_key(config, &agent_id);
    let cfg = config.sandbox_for(&agent_id);
    let sandbox = ExplainSandbox {
        mode: cfg.mode,
        scope: cfg.scope,
        per_session: cfg.scope == Scope::Session,
        workspace_access: cfg.workspace_access,
        session_is_sandboxed: keys::is_sandboxed(cfg.mode, &session_key, &main_session_key),
        workspace_root: cfg.workspace_root,
        tools: policy::resolve(config, &agent_id),
    };
    let channel = channel_of(&session_key, &config.session.main_key);
    let elevated = elevated(config, &agent_id, channel);
    let mut fix_it = Vec::new();
    if sandbox.mode != SandboxMode::Off {
        fix_it.push("agents.defaults.sandbox.mode=off".to_string());
        fix_it.push("agents.list[].sandbox.mode=off".to_string());
    }
    for key in [
        "tools.sandbox.tools.allow",
        "tools.sandbox.tools.deny",
        "agents.list[].tools.sandbox.tools.allow",
        "agents.list[].tools.sandbox.tools.deny",
        "tools.elevated.enabled",
    ] {
        fix_it.push(key.to_string());
    }
    if let Some(ch) = &elevated.channel {
        fix_it.push(format!("tools.elevated.allowFrom.{ch}"));
    }
    Explain { docs_url: DOCS_URL, agent_id, session_key, main_session_key, sandbox, elevated, fix_it }
}

/// The human `sandbox explain` output (upstream's layout without colours).
pub fn format_explain(e: &Explain) -> String {
    let s = &e.sandbox;
    let list = |l: &[String]| if l.is_empty() { "(empty)".to_string() } else { l.join(", ") };
    let mut lines = vec![
        "Effective sandbox:".to_string(),
        format!("  agentId: {}", e.agent_id),
        format!("  sessionKey: {}", e.session_key),
        format!("  mainSessionKey: {}", e.main_session_key),
        format!("  runtime: {}", if s.session_is_sandboxed { "sandboxed" } else { "direct" }),
        format!("  mode: {} scope: {} perSession: {}", s.mode.as_str(), s.scope.as_str(), s.per_session),
        format!("  workspaceAccess: {} workspaceRoot: {}", s.workspace_access.as_str(), s.workspace_root.display()),
        String::new(),
        "Sandbox tool policy:".to_string(),
        format!("  allow ({}): {}", s.tools.sources.allow.source, list(&s.tools.allow)),
        format!("  deny  ({}): {}", s.tools.sources.deny.source, list(&s.tools.deny)),
        String::new(),
        "Elevated:".to_string(),
        format!("  enabled: {}", e.elevated.enabled),
        format!("  channel: {}", e.elevated.channel.as_deref().unwrap_or("(unknown)")),
        format!("  allowedByConfig: {}", e.elevated.allowed_by_config),
    ];
    if !e.elevated.failures.is_empty() {
        let gates: Vec<String> = e.elevated.failures.iter().map(|f| format!("{} ({})", f.gate, f.key)).collect();
        lines.push(format!("  failing gates: {}", gates.join(", ")));
    }
    if s.mode == SandboxMode::NonMain && s.session_is_sandboxed {
        lines.push(String::new());
        lines.push(format!("Hint: sandbox mode is non-main; use main session key to run direct: {}", e.main_session_key));
    }
    lines.push(String::new());
    lines.push("Fix-it:".to_string());
    lines.extend(e.fix_it.iter().map(|k| format!("  - {k}")));
    lines.push(String::new());
    lines.push("Docs: docs.openclaw.ai/sandbox".to_string());
    // Upstream logs the text plus "\n", and the log adds a newline.
    format!("{}\n\n", lines.join("\n"))
}

/// `sandbox explain --json` (pretty, followed by a blank line as upstream).
pub fn format_explain_json(e: &Explain) -> String {
    format!("{}\n\n", serde_json::to_string_pretty(e).unwrap_or_default())
}

/// Prints `sandbox explain`; exit code 0.
pub fn run_explain(config: &Config, session: Option<&str>, agent: Option<&str>, json: bool, out: &mut dyn Write) -> io::Result<u8> {
    let e = explain(config, session, agent);
    let text = if json { format_explain_json(&e) } else { format_explain(&e) };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}

// ---------------------------------------------------------------------------
// Private helpers.

/// What `openclaw sandbox exec` was asked to run.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub session: Option<String>,
    pub agent: Option<String>,
    pub json: bool,
    pub timeout_secs: Option<u64>,
    pub workdir: Option<String>,
    pub command: Vec<String>,
}

/// The exit code `sandbox exec` uses when the command hit its timeout, as
/// `timeout(1)` does.
pub const EXEC_TIMEOUT_EXIT: u8 = 124;

/// The shell text for a command given as separate arguments: one argument is
/// taken as shell text (`'ls | wc -l'`), several are quoted one by one.
pub fn command_text(args: &[String]) -> String {
    if let [one] = args {
        return one.clone();
    }
    args.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `openclaw sandbox exec`: ensures the scope's sandbox exactly as a tool
/// call would, runs the command exactly as the `exec` tool would, prints its
/// output (stdout to `out`, stderr and notes to `err`) and returns its exit
/// code. The sandbox tool policy applies; the sandbox mode does not (the
/// command runs in the sandbox even when this session's tools would run on the
/// host, which is said on `err`).
pub fn run_exec(config: &Config, paths: &crate::paths::Paths, docker: Option<&Docker>, opts: &ExecOptions, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<u8> {
    let default_agent = config.default_agent_id();
    let agent_id = match (&opts.agent, &opts.session) {
        (Some(a), _) => normalize_agent_id(a),
        (None, Some(s)) if s.contains(':') => keys::agent_id_from_session_key(s, &default_agent),
        _ => default_agent,
    };
    let session_key = explain_session_key(config, &agent_id, opts.session.as_deref());
    let Some(docker) = docker else {
        writeln!(err, "No Docker Engine handle (check DOCKER_HOST); run openclaw doctor")?;
        return Ok(1);
    };
    let policy = policy::resolve(config, &agent_id);
    if !policy::is_allowed(&policy, "exec") {
        let mode = config.sandbox_for(&agent_id).mode;
        let main_key = keys::main_session_key(config, &agent_id);
        let text = policy::blocked_message(&policy, "exec", mode, &session_key, &main_key)
            .unwrap_or_else(|| format!("Tool \"exec\" blocked by sandbox tool policy (session {session_key})."));
        writeln!(err, "{text}")?;
        return Ok(1);
    }
    let cfg = config.sandbox_for(&agent_id);
    if !keys::is_sandboxed(cfg.mode, &session_key, &keys::main_session_key(config, &agent_id)) {
        writeln!(
            err,
            "note: with sandbox mode \"{}\" the tools of {session_key} run on the host; running this command in its sandbox anyway",
            cfg.mode.as_str()
        )?;
    }
    let manager = super::Manager::new(docker.clone(), paths.clone());
    let sandbox = match manager.ensure(config, &session_key) {
        Ok(s) => s,
        Err(e) => {
            writeln!(err, "{}", with_causes(&e))?;
            return Ok(1);
        }
    };
    let text = command_text(&opts.command);
    let mut req = super::exec::ExecRequest::new(&text);
    req.workdir = opts.workdir.as_deref();
    if let Some(t) = opts.timeout_secs {
        req.timeout = std::time::Duration::from_secs(t.max(1));
    }
    let outcome = match super::exec::run(&manager, &sandbox, &paths.state_dir, &req, &config.tools.exec.path_prepend) {
        Ok(o) => o,
        Err(e) => {
            writeln!(err, "{}", with_causes(&e))?;
            return Ok(1);
        }
    };
    let code = if outcome.timed_out {
        EXEC_TIMEOUT_EXIT
    } else {
        outcome.exit_code.map(|c| u8::try_from(c.clamp(0, 255)).unwrap_or(1)).unwrap_or(1)
    };
    if opts.json {
        let v = serde_json::json!({
            "container": sandbox.name,
            "sessionKey": session_key,
            "exitCode": outcome.exit_code,
            "stdout": outcome.stdout,
            "stderr": outcome.stderr,
            "truncated": outcome.truncated,
            "timedOut": outcome.timed_out,
            "killedByOom": outcome.killed_by_oom,
            "warnings": outcome.warnings,
            "notes": outcome.notes,
            "durationMs": outcome.duration.as_millis() as u64,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
        return Ok(code);
    }
    for w in &outcome.warnings {
        writeln!(err, "{w}")?;
    }
    out.write_all(outcome.stdout.as_bytes())?;
    out.flush()?;
    err.write_all(outcome.stderr.as_bytes())?;
    for n in &outcome.notes {
        writeln!(err, "{n}")?;
    }
    Ok(code)
}

fn status(config: &Config, entry: Entry, running: bool, image: Option<String>) -> ContainerStatus {
    let configured = configured_image(config, &entry.session_key);
    ContainerStatus {
        image_match: image.as_deref() == Some(configured.as_str()),
        container_name: entry.container_name,
        session_key: entry.session_key,
        created_at_ms: entry.created_at_ms,
        last_used_at_ms: entry.last_used_at_ms,
        image,
        config_hash: entry.config_hash,
        running,
    }
}

/// The image configured for a scope key's agent (`agent:<id>…`); a key
/// naming no agent (`shared`, a bare session key) gets the global settings.
fn configured_image(config: &Config, scope_key: &str) -> String {
    // Agent ids are never empty, so "" selects no agent entry.
    let agent_id = keys::agent_id_from_session_key(scope_key, "");
    config.sandbox_for(&agent_id).docker.image
}

fn format_summary(containers: &[ContainerStatus]) -> String {
    let running = containers.iter().filter(|c| c.running).count();
    let mismatched = containers.iter().filter(|c| !c.image_match).count();
    let mut s = format!("Total: {} ({running} running)\n", containers.len());
    if mismatched > 0 {
        s.push_str(&format!("\n⚠️  {mismatched} container(s) with image mismatch detected.\n"));
        s.push_str("   Run 'openclaw sandbox recreate --all' to update all containers.\n");
    }
    s
}

/// Asks [`CONFIRM`]; default No.
fn confirm(io: &mut Io<'_>) -> io::Result<bool> {
    write!(io.out, "{CONFIRM} [y/N] ")?;
    io.out.flush()?;
    let mut answer = String::new();
    let read = io.input.read_line(&mut answer).unwrap_or(0);
    if !io.input_is_terminal || read == 0 {
        writeln!(io.out)?;
    }
    Ok(read > 0 && is_yes(&answer))
}

/// The channel a session key names: `agent:<id>:<channel>:…`, when
/// `<channel>` is a known chat channel and not the main key.
fn channel_of(session_key: &str, main_key: &str) -> Option<String> {
    let mut parts = session_key.trim().split(':');
    if !parts.next()?.eq_ignore_ascii_case("agent") {
        return None;
    }
    parts.next().filter(|id| !id.trim().is_empty())?;
    let first = parts.find(|p| !p.is_empty())?.trim().to_lowercase();
    if first == main_key.trim().to_lowercase() {
        return None;
    }
    CHANNELS.contains(&first.as_str()).then_some(first)
}

fn elevated(config: &Config, agent_id: &str, channel: Option<String>) -> Elevated {
    let global = &config.tools.policy;
    let agent = config.agent(agent_id).map(|a| &a.tools);
    let global_enabled = global.elevated_enabled != Some(false);
    let agent_enabled = agent.is_none_or(|a| a.elevated_enabled != Some(false));
    let enabled = global_enabled && agent_enabled;
    let agent_has_allow_from = agent.is_some_and(|a| !a.elevated_allow_from.is_empty());
    let tokens = |v: Option<&Vec<String>>| -> Vec<String> {
        v.map(|l| l.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()).unwrap_or_default()
    };
    let (global_allow, agent_allow) = match &channel {
        Some(ch) => (tokens(global.elevated_allow_from.get(ch)), tokens(agent.and_then(|a| a.elevated_allow_from.get(ch)))),
        None => (Vec::new(), Vec::new()),
    };
    let allowed_by_config =
        enabled && channel.is_some() && !global_allow.is_empty() && (!agent_has_allow_from || !agent_allow.is_empty());
    let star = |l: &[String]| l.iter().any(|t| t == "*");
    let always_allowed_by_config = allowed_by_config && star(&global_allow) && (!agent_has_allow_from || star(&agent_allow));
    let mut failures = Vec::new();
    if !global_enabled {
        failures.push(Gate { gate: "enabled", key: "tools.elevated.enabled".into() });
    }
    if !agent_enabled {
        failures.push(Gate { gate: "enabled", key: "agents.list[].tools.elevated.enabled".into() });
    }
    if let Some(ch) = &channel {
        if global_allow.is_empty() {
            failures.push(Gate { gate: "allowFrom", key: format!("tools.elevated.allowFrom.{ch}") });
        }
        if agent_has_allow_from && agent_allow.is_empty() {
            failures.push(Gate { gate: "allowFrom", key: format!("agents.list[].tools.elevated.allowFrom.{ch}") });
        }
    }
    let allow_from = AllowFrom {
        global: channel.as_ref().map(|_| global_allow),
        agent: channel.as_ref().filter(|_| agent_has_allow_from).map(|_| agent_allow),
    };
    Elevated { enabled, channel, allowed_by_config, always_allowed_by_config, allow_from, failures }
}

/// An error's text followed by its causes.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

impl fmt::Display for RemoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoveError::InUse => f.write_str(
                "it is in use (a running tool call holds its lease); it was left alone, try again when the call has finished",
            ),
            RemoveError::Lease(_) => f.write_str("cannot take its removal lock in the state folder's sandbox/leases"),
            RemoveError::Docker(e) => e.fmt(f),
            RemoveError::Registry(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RemoveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RemoveError::InUse => None,
            RemoveError::Lease(e) => Some(e),
            RemoveError::Docker(e) => e.source(),
            RemoveError::Registry(e) => e.source(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> Config {
        crate::config::model::from_json_for_tests(json)
    }

    fn item(name: &str, key: &str, running: bool, image_match: bool) -> ContainerStatus {
        ContainerStatus {
            container_name: name.into(),
            session_key: key.into(),
            created_at_ms: Some(1_000),
            last_used_at_ms: 2_000,
            image: Some("openclaw-sandbox:bookworm-slim".into()),
            config_hash: Some("abc".into()),
            running,
            image_match,
        }
    }

    #[test]
    fn ages() {
        assert_eq!(format_age(0), "0s");
        assert_eq!(format_age(59_999), "59s");
        assert_eq!(format_age(60_000), "1m");
        assert_eq!(format_age(3_599_000), "59m");
        assert_eq!(format_age(3_600_000 + 5 * 60_000), "1h 5m");
        assert_eq!(format_age(2 * 86_400_000 + 3 * 3_600_000 + 59 * 60_000), "2d 3h");
        assert_eq!(format_age(86_400_000), "1d 0h");
    }

    #[test]
    fn list_layout() {
        let now = 2_000 + 90_061_000;
        let text = format_list(&[item("openclaw-sbx-agent-main-f331f052", "agent:main", true, true)], now);
        assert_eq!(
            text,
            "\n📦 Sandbox Containers:\n\n  openclaw-sbx-agent-main-f331f052\n    Status:  🟢 running\n    \
             Image:   openclaw-sandbox:bookworm-slim ✓\n    Age:     1d 1h\n    Idle:    1d 1h\n    \
             Session: agent:main\n\nTotal: 1 (1 running)\n"
        );
        let text = format_list(&[item("a", "agent:a", false, false), item("b", "agent:b", true, false)], 3_000);
        assert!(text.contains("    Status:  ⚫ stopped\n    Image:   openclaw-sandbox:bookworm-slim ⚠️  mismatch\n"), "{text}");
        assert!(text.contains("    Age:     2s\n    Idle:    1s\n"), "{text}");
        assert!(
            text.ends_with(
                "Total: 2 (1 running)\n\n⚠️  2 container(s) with image mismatch detected.\n   \
                 Run 'openclaw sandbox recreate --all' to update all containers.\n"
            ),
            "{text}"
        );
        assert_eq!(format_list(&[], 0), "No sandbox containers found.\nTotal: 0 (0 running)\n");
        assert_eq!(format_browser_list(), "No sandbox browser containers found.\nTotal: 0 (0 running)\n");
    }

    #[test]
    fn list_json() {
        let one = [ContainerStatus { created_at_ms: None, config_hash: None, ..item("n", "agent:main", true, false) }];
        let v: serde_json::Value = serde_json::from_str(&format_list_json(&one, false)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"containers": [{
                "containerName": "n", "sessionKey": "agent:main", "lastUsedAtMs": 2000,
                "image": "openclaw-sandbox:bookworm-slim", "running": true, "imageMatch": false
            }], "browsers": []})
        );
        let text = format_list_json(&one, true);
        assert_eq!(text, "{\n  \"containers\": [],\n  \"browsers\": []\n}\n");
        assert!(format_list_json(&one, false).starts_with("{\n  \"containers\": [\n    {\n      \"containerName\": \"n\","));
    }

    #[test]
    fn recreate_validation_and_matching() {
        assert_eq!(selection(false, None, None), Err(SPECIFY_SCOPE));
        assert_eq!(selection(false, Some(""), None), Err(SPECIFY_SCOPE), "an empty value is not given");
        assert_eq!(selection(true, Some("s"), None), Err(ONLY_ONE_SCOPE));
        assert_eq!(selection(false, Some("s"), Some("a")), Err(ONLY_ONE_SCOPE));
        assert_eq!(selection(true, None, None), Ok(Selection::All));
        let agent = selection(false, None, Some("work")).unwrap();
        assert!(agent.matches("agent:work") && agent.matches("agent:work:telegram:dm:1"));
        assert!(!agent.matches("agent:worker") && !agent.matches("agent:main") && !agent.matches("shared"));
        let session = selection(false, Some("agent:main:x"), None).unwrap();
        assert!(session.matches("agent:main:x") && !session.matches("agent:main:x:y") && !session.matches("agent:main"));
        assert!(Selection::All.matches("shared"));
    }

    #[test]
    fn recreate_texts() {
        assert_eq!(
            format_preview(&[item("a", "agent:a", true, true), item("b", "agent:b", false, true)]),
            "\nContainers to be recreated:\n\n📦 Sandbox Containers:\n  - a (running)\n  - b (stopped)\n\nTotal: 2 container(s)\n"
        );
        assert_eq!(
            format_done(1, 0),
            "\nDone: 1 removed, 0 failed\n\nContainers will be automatically recreated when the agent is next used.\n"
        );
        assert_eq!(format_done(0, 2), "\nDone: 0 removed, 2 failed\n");
        assert!(is_yes(" Y\n") && is_yes("yes") && !is_yes("") && !is_yes("n") && !is_yes("yep"));
        let in_use = format!("✗ Failed to remove x: {}", with_causes(&RemoveError::InUse));
        assert!(in_use.contains("in use"), "{in_use}");
    }

    #[test]
    fn confirm_defaults_to_no() {
        let run = |input: &str, tty: bool| {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut reader = input.as_bytes();
            let mut io = Io { input: &mut reader, input_is_terminal: tty, out: &mut out, err: &mut err };
            let yes = confirm(&mut io).unwrap();
            (yes, String::from_utf8(out).unwrap())
        };
        assert_eq!(run("", false), (false, format!("{CONFIRM} [y/N] \n")));
        assert_eq!(run("n\n", true), (false, format!("{CONFIRM} [y/N] ")));
        assert!(!run("\n", true).0);
        assert_eq!(run("y\n", false), (true, format!("{CONFIRM} [y/N] \n")));
    }

    #[test]
    fn explain_session_keys() {
        let c = config(serde_json::json!({}));
        assert_eq!(explain_session_key(&c, "main", None), "agent:main:main");
        assert_eq!(explain_session_key(&c, "work", Some("  ")), "agent:work:main");
        assert_eq!(explain_session_key(&c, "main", Some("agent:Main:X")), "agent:Main:X", "as given");
        assert_eq!(explain_session_key(&c, "main", Some("global")), "global");
        assert_eq!(explain_session_key(&c, "work", Some("Chat ")), "agent:work:chat");
        let e = explain(&c, Some("agent:work:telegram:group:1"), None);
        assert_eq!(e.agent_id, "work");
        let e = explain(&c, Some("agent:work:x"), Some(" Ops "));
        assert_eq!((e.agent_id.as_str(), e.session_key.as_str()), ("ops", "agent:work:x"));
        let c = config(serde_json::json!({"agents": {"list": [{"id": "home", "default": true}]}}));
        assert_eq!(explain(&c, None, None).session_key, "agent:home:main");
    }

    #[test]
    fn explain_mode_off_layout() {
        let c = config(serde_json::json!({}));
        let e = explain(&c, None, None);
        assert_eq!(e.fix_it.len(), 5, "no mode=off lines when the sandbox is off");
        assert_eq!(
            format_explain(&e),
            "Effective sandbox:\n  agentId: main\n  sessionKey: agent:main:main\n  mainSessionKey: agent:main:main\n  \
             runtime: direct\n  mode: off scope: agent perSession: false\n  \
             workspaceAccess: none workspaceRoot: /h/.openclaw/sandboxes\n\n\
             Sandbox tool policy:\n  \
             allow (default): exec, process, read, write, edit, apply_patch, image, sessions_list, sessions_history, \
             sessions_send, sessions_spawn, session_status\n  \
             deny  (default): browser, canvas, nodes, cron, gateway, telegram, whatsapp, discord, irc, googlechat, slack, \
             signal, imessage\n\n\
             Elevated:\n  enabled: true\n  channel: (unknown)\n  allowedByConfig: false\n\n\
             Fix-it:\n  - tools.sandbox.tools.allow\n  - tools.sandbox.tools.deny\n  \
             - agents.list[].tools.sandbox.tools.allow\n  - agents.list[].tools.sandbox.tools.deny\n  \
             - tools.elevated.enabled\n\n\
             Docs: docs.openclaw.ai/sandbox\n\n"
        );
    }

    #[test]
    fn explain_non_main_with_overrides() {
        let c = config(serde_json::json!({
            "agents": {
                "defaults": {"sandbox": {"mode": "non-main", "scope": "session"}},
                "list": [{"id": "main", "tools": {
                    "sandbox": {"tools": {"allow": ["group:fs"], "deny": []}},
                    "elevated": {"enabled": false, "allowFrom": {"telegram": ["42"]}},
                }}],
            },
            "tools": {"elevated": {"allowFrom": {"telegram": ["*", " "]}}},
        }));
        let e = explain(&c, Some("agent:main:telegram:group:7"), None);
        assert!(e.sandbox.session_is_sandboxed && e.sandbox.per_session);
        assert_eq!(e.elevated.channel.as_deref(), Some("telegram"));
        assert_eq!(e.elevated.allow_from, AllowFrom { global: Some(vec!["*".into()]), agent: Some(vec!["42".into()]) });
        assert!(!e.elevated.enabled && !e.elevated.allowed_by_config);
        assert_eq!(e.elevated.failures, [Gate { gate: "enabled", key: "agents.list[].tools.elevated.enabled".into() }]);
        assert_eq!(e.fix_it.first().map(String::as_str), Some("agents.defaults.sandbox.mode=off"));
        assert_eq!(e.fix_it.last().map(String::as_str), Some("tools.elevated.allowFrom.telegram"));
        let text = format_explain(&e);
        assert!(text.contains("  runtime: sandboxed\n  mode: non-main scope: session perSession: true\n"), "{text}");
        assert!(text.contains("  allow (agent): read, write, edit, apply_patch, image\n  deny  (agent): (empty)\n"), "{text}");
        assert!(text.contains("  channel: telegram\n  allowedByConfig: false\n  failing gates: enabled (agents.list[].tools.elevated.enabled)\n"), "{text}");
        assert!(text.contains("\n\nHint: sandbox mode is non-main; use main session key to run direct: agent:main:main\n\nFix-it:\n"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&format_explain_json(&e)).unwrap();
        assert_eq!(v["sandbox"]["tools"]["sources"]["allow"], serde_json::json!({"source": "agent", "key": "agents.list[].tools.sandbox.tools.allow"}));
        assert_eq!(v["sandbox"]["mode"], "non-main");
        assert_eq!(v["docsUrl"], DOCS_URL);

        // The main session runs direct; no hint, no channel.
        let main = explain(&c, None, None);
        assert!(!main.sandbox.session_is_sandboxed);
        assert_eq!(main.elevated.channel, None);
        assert_eq!(main.elevated.allow_from, AllowFrom { global: None, agent: None });
        assert!(!format_explain(&main).contains("Hint:"));
    }

    #[test]
    fn elevated_gates() {
        let c = config(serde_json::json!({"tools": {"elevated": {"allowFrom": {"discord": ["*"]}}}}));
        let e = explain(&c, Some("agent:main:discord:channel:1"), None).elevated;
        assert!(e.enabled && e.allowed_by_config && e.always_allowed_by_config && e.failures.is_empty());
        let e = explain(&c, Some("agent:main:slack:channel:1"), None).elevated;
        assert!(!e.allowed_by_config);
        assert_eq!(e.failures, [Gate { gate: "allowFrom", key: "tools.elevated.allowFrom.slack".into() }]);
        let c = config(serde_json::json!({"tools": {"elevated": {"enabled": false}}}));
        let e = explain(&c, None, None).elevated;
        assert_eq!(e.failures, [Gate { gate: "enabled", key: "tools.elevated.enabled".into() }]);
        assert_eq!(channel_of("agent:main:main", "main"), None);
        assert_eq!(channel_of("agent:main:WhatsApp:dm:1", "main"), Some("whatsapp".into()));
        assert_eq!(channel_of("agent:main:cron:job", "main"), None);
        assert_eq!(channel_of("telegram:dm:1", "main"), None);
    }

    #[test]
    fn configured_images_per_agent() {
        let c = config(serde_json::json!({"agents": {
            "defaults": {"sandbox": {"docker": {"image": "g:1"}}},
            "list": [{"id": "main"}, {"id": "work", "sandbox": {"docker": {"image": "w:1"}}}],
        }}));
        assert_eq!(configured_image(&c, "agent:work"), "w:1");
        assert_eq!(configured_image(&c, "agent:work:telegram:dm:1"), "w:1");
        assert_eq!(configured_image(&c, "agent:main"), "g:1");
        assert_eq!(configured_image(&c, "shared"), "g:1");
        let entry = Entry {
            container_name: "n".into(),
            session_key: "agent:work".into(),
            created_at_ms: None,
            last_used_at_ms: 0,
            image: None,
            config_hash: None,
        };
        assert!(status(&c, entry.clone(), true, Some("w:1".into())).image_match);
        assert!(!status(&c, entry, true, None).image_match);
    }
}
