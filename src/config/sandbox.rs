//! The `sandbox` block (`agents.defaults.sandbox`, `agents.list[].sandbox`):
//! reading it, resolving per-agent overrides, and the safety rules for
//! networks and bind mounts.
//!
//! [`SandboxSettings`] is what one block says (every field optional);
//! [`SandboxConfig`] is the resolved result for one agent with upstream's
//! defaults plus our hardened ones (SPEC §3.3). The bind and network checks
//! here run at config load and again, through the same functions, when a
//! container is created. Nothing here talks to Docker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::reader::{Cx, Obj, wrong_type};
use crate::paths::expand_home;

pub const DEFAULT_IMAGE: &str = "openclaw-sandbox:bookworm-slim";
pub const DEFAULT_BROWSER_IMAGE: &str = "openclaw-sandbox-browser:bookworm-slim";
pub const DEFAULT_PREFIX: &str = "openclaw-sbx-";
pub const DEFAULT_BROWSER_PREFIX: &str = "openclaw-sbx-browser-";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    Off,
    NonMain,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Session,
    Agent,
    Shared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceAccess {
    None,
    Ro,
    Rw,
}

impl SandboxMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Off => "off",
            SandboxMode::NonMain => "non-main",
            SandboxMode::All => "all",
        }
    }
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Session => "session",
            Scope::Agent => "agent",
            Scope::Shared => "shared",
        }
    }
}

impl WorkspaceAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceAccess::None => "none",
            WorkspaceAccess::Ro => "ro",
            WorkspaceAccess::Rw => "rw",
        }
    }
}

/// A ulimit: one value for both limits, or soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

/// A bind mount from `docker.binds`, checked against [`check_bind`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindMount {
    pub source: PathBuf,
    pub target: String,
    pub read_only: bool,
}

impl BindMount {
    /// The Engine's `HostConfig.Binds` form.
    pub fn to_bind_string(&self) -> String {
        format!("{}:{}:{}", self.source.display(), self.target, if self.read_only { "ro" } else { "rw" })
    }
}

/// What one `sandbox` block says; `None` means "not set here".
#[derive(Debug, Clone, Default)]
pub struct SandboxSettings {
    pub mode: Option<SandboxMode>,
    pub scope: Option<Scope>,
    pub workspace_access: Option<WorkspaceAccess>,
    pub workspace_root: Option<PathBuf>,
    pub docker: DockerSettings,
    pub browser: BrowserSettings,
    pub prune: PruneSettings,
}

#[derive(Debug, Clone, Default)]
pub struct DockerSettings {
    pub image: Option<String>,
    pub container_prefix: Option<String>,
    pub workdir: Option<String>,
    pub read_only_root: Option<bool>,
    pub tmpfs: Option<Vec<String>>,
    pub network: Option<String>,
    pub user: Option<String>,
    pub cap_drop: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub setup_command: Option<String>,
    pub pids_limit: Option<u64>,
    pub memory: Option<u64>,
    pub memory_swap: Option<i64>,
    pub cpus: Option<f64>,
    pub ulimits: Option<BTreeMap<String, Ulimit>>,
    pub seccomp_profile: Option<String>,
    pub apparmor_profile: Option<String>,
    pub dns: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub binds: Option<Vec<BindMount>>,
}

#[derive(Debug, Clone, Default)]
pub struct BrowserSettings {
    pub enabled: Option<bool>,
    pub image: Option<String>,
    pub container_prefix: Option<String>,
    pub cdp_port: Option<u16>,
    pub vnc_port: Option<u16>,
    pub no_vnc_port: Option<u16>,
    pub headless: Option<bool>,
    pub enable_no_vnc: Option<bool>,
    pub allow_host_control: Option<bool>,
    pub auto_start: Option<bool>,
    pub auto_start_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct PruneSettings {
    pub idle_hours: Option<f64>,
    pub max_age_days: Option<f64>,
}

/// The resolved sandbox configuration for one agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxConfig {
    pub mode: SandboxMode,
    pub scope: Scope,
    pub workspace_access: WorkspaceAccess,
    pub workspace_root: PathBuf,
    pub docker: DockerConfig,
    pub browser: BrowserConfig,
    pub prune: PruneConfig,
}

/// Resolved container settings. Serialized (camelCase, sorted maps) as the
/// input of the container's config hash, so every field that changes the
/// container must be here.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerConfig {
    pub image: String,
    pub container_prefix: String,
    pub workdir: String,
    pub read_only_root: bool,
    pub tmpfs: Vec<String>,
    pub network: String,
    pub user: Option<String>,
    pub cap_drop: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub setup_command: Option<String>,
    /// `None` when switched off with 0.
    pub pids_limit: Option<u64>,
    /// Bytes; `None` when switched off with 0 or "".
    pub memory: Option<u64>,
    /// Bytes, or -1 for unlimited swap; `None` when switched off.
    pub memory_swap: Option<i64>,
    pub cpus: Option<f64>,
    pub ulimits: BTreeMap<String, Ulimit>,
    pub seccomp_profile: Option<String>,
    pub apparmor_profile: Option<String>,
    pub dns: Vec<String>,
    pub extra_hosts: Vec<String>,
    pub binds: Vec<BindMount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserConfig {
    pub enabled: bool,
    pub image: String,
    pub container_prefix: String,
    pub cdp_port: u16,
    pub vnc_port: u16,
    pub no_vnc_port: u16,
    pub headless: bool,
    pub enable_no_vnc: bool,
    pub allow_host_control: bool,
    pub auto_start: bool,
    pub auto_start_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneConfig {
    /// 0 disables idle pruning.
    pub idle_hours: f64,
    /// 0 disables age pruning.
    pub max_age_days: f64,
}

/// Resolves the sandbox for one agent: per-agent value, else global value,
/// else default. Under `scope: "shared"` the agent's `docker`, `browser` and
/// `prune` overrides are ignored. `docker.env` and `docker.ulimits` merge
/// the agent's entries over the global ones; `docker.binds` concatenate.
pub fn resolve(global: &SandboxSettings, agent: Option<&SandboxSettings>, state_dir: &Path, home: &Path) -> SandboxConfig {
    let empty = SandboxSettings::default();
    let a = agent.unwrap_or(&empty);
    let scope = a.scope.or(global.scope).unwrap_or(Scope::Agent);
    let over = if scope == Scope::Shared { &empty } else { a };
    let (g, d) = (&global.docker, &over.docker);
    let pick = |a: &Option<String>, b: &Option<String>, default: &str| {
        a.clone().or_else(|| b.clone()).unwrap_or_else(|| default.to_string())
    };
    let mut env = g.env.clone().unwrap_or_else(|| BTreeMap::from([("LANG".to_string(), "C.UTF-8".to_string())]));
    env.extend(d.env.clone().unwrap_or_default());
    let mut ulimits = g.ulimits.clone().unwrap_or_default();
    ulimits.extend(d.ulimits.clone().unwrap_or_default());
    let mut binds = g.binds.clone().unwrap_or_default();
    binds.extend(d.binds.clone().unwrap_or_default());
    let nonzero_u = |v: Option<u64>| v.filter(|n| *n > 0);
    let docker = DockerConfig {
        image: pick(&d.image, &g.image, DEFAULT_IMAGE),
        container_prefix: pick(&d.container_prefix, &g.container_prefix, DEFAULT_PREFIX),
        workdir: pick(&d.workdir, &g.workdir, "/workspace"),
        read_only_root: d.read_only_root.or(g.read_only_root).unwrap_or(true),
        tmpfs: d.tmpfs.clone().or_else(|| g.tmpfs.clone()).unwrap_or_else(|| {
            ["/tmp", "/var/tmp", "/run"].iter().map(|s| s.to_string()).collect()
        }),
        network: pick(&d.network, &g.network, "none"),
        user: d.user.clone().or_else(|| g.user.clone()).filter(|u| !u.trim().is_empty()),
        cap_drop: d.cap_drop.clone().or_else(|| g.cap_drop.clone()).unwrap_or_else(|| vec!["ALL".to_string()]),
        env,
        setup_command: d.setup_command.clone().or_else(|| g.setup_command.clone()).filter(|s| !s.trim().is_empty()),
        pids_limit: nonzero_u(d.pids_limit.or(g.pids_limit).or(Some(256))),
        memory: nonzero_u(d.memory.or(g.memory).or(Some(1 << 30))),
        memory_swap: d.memory_swap.or(g.memory_swap).or(Some(2 << 30)).filter(|n| *n != 0),
        cpus: d.cpus.or(g.cpus).or(Some(1.0)).filter(|n| *n > 0.0),
        ulimits,
        seccomp_profile: d.seccomp_profile.clone().or_else(|| g.seccomp_profile.clone()).filter(|s| !s.is_empty()),
        apparmor_profile: d.apparmor_profile.clone().or_else(|| g.apparmor_profile.clone()).filter(|s| !s.is_empty()),
        dns: d.dns.clone().or_else(|| g.dns.clone()).unwrap_or_default().into_iter().filter(|s| !s.trim().is_empty()).collect(),
        extra_hosts: d
            .extra_hosts
            .clone()
            .or_else(|| g.extra_hosts.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect(),
        binds,
    };
    let (gb, b) = (&global.browser, &over.browser);
    let browser = BrowserConfig {
        enabled: b.enabled.or(gb.enabled).unwrap_or(false),
        image: pick(&b.image, &gb.image, DEFAULT_BROWSER_IMAGE),
        container_prefix: pick(&b.container_prefix, &gb.container_prefix, DEFAULT_BROWSER_PREFIX),
        cdp_port: b.cdp_port.or(gb.cdp_port).unwrap_or(9222),
        vnc_port: b.vnc_port.or(gb.vnc_port).unwrap_or(5900),
        no_vnc_port: b.no_vnc_port.or(gb.no_vnc_port).unwrap_or(6080),
        headless: b.headless.or(gb.headless).unwrap_or(false),
        enable_no_vnc: b.enable_no_vnc.or(gb.enable_no_vnc).unwrap_or(true),
        allow_host_control: b.allow_host_control.or(gb.allow_host_control).unwrap_or(false),
        auto_start: b.auto_start.or(gb.auto_start).unwrap_or(true),
        auto_start_timeout_ms: b.auto_start_timeout_ms.or(gb.auto_start_timeout_ms).unwrap_or(12_000),
    };
    let prune = PruneConfig {
        idle_hours: over.prune.idle_hours.or(global.prune.idle_hours).unwrap_or(24.0),
        max_age_days: over.prune.max_age_days.or(global.prune.max_age_days).unwrap_or(7.0),
    };
    SandboxConfig {
        mode: a.mode.or(global.mode).unwrap_or(SandboxMode::Off),
        scope,
        workspace_access: a.workspace_access.or(global.workspace_access).unwrap_or(WorkspaceAccess::None),
        workspace_root: a
            .workspace_root
            .clone()
            .or_else(|| global.workspace_root.clone())
            .map(|p| expand_home(&p.to_string_lossy(), home))
            .unwrap_or_else(|| state_dir.join("sandboxes")),
        docker,
        browser,
        prune,
    }
}

/// Reads one `sandbox` block.
pub fn read(mut o: Obj<'_>, cx: &mut Cx, home: &Path) -> SandboxSettings {
    let mut s = SandboxSettings {
        mode: o.choice(cx, "mode", &[("off", SandboxMode::Off), ("non-main", SandboxMode::NonMain), ("all", SandboxMode::All)]),
        scope: o.choice(cx, "scope", &[("session", Scope::Session), ("agent", Scope::Agent), ("shared", Scope::Shared)]),
        workspace_access: o.choice(
            cx,
            "workspaceAccess",
            &[("none", WorkspaceAccess::None), ("ro", WorkspaceAccess::Ro), ("rw", WorkspaceAccess::Rw)],
        ),
        workspace_root: o.nonempty(cx, "workspaceRoot").map(PathBuf::from),
        ..Default::default()
    };
    // Legacy boolean: true = one sandbox per session, false = shared.
    if let Some(per_session) = o.bool(cx, "perSession")
        && s.scope.is_none() {
            s.scope = Some(if per_session { Scope::Session } else { Scope::Shared });
        }
    s.docker = read_docker(o.child(cx, "docker"), cx, home);
    s.browser = read_browser(o.child(cx, "browser"), cx);
    let mut p = o.child(cx, "prune");
    s.prune = PruneSettings {
        idle_hours: p.number(cx, "idleHours", 0.0, 1e9),
        max_age_days: p.number(cx, "maxAgeDays", 0.0, 1e9),
    };
    p.finish(cx);
    o.ignored(cx, &["backend", "sessionToolsVisibility", "ssh", "openshell", "podman"]);
    o.finish(cx);
    s
}

fn read_docker(mut o: Obj<'_>, cx: &mut Cx, home: &Path) -> DockerSettings {
    let mut d = DockerSettings {
        image: o.nonempty(cx, "image"),
        container_prefix: o.nonempty(cx, "containerPrefix"),
        workdir: o.nonempty(cx, "workdir"),
        read_only_root: o.bool(cx, "readOnlyRoot"),
        tmpfs: o.strings(cx, "tmpfs"),
        network: o.nonempty(cx, "network"),
        user: o.string(cx, "user"),
        cap_drop: o.strings(cx, "capDrop"),
        env: o.string_map(cx, "env"),
        setup_command: o.string(cx, "setupCommand"),
        pids_limit: o.uint(cx, "pidsLimit", 0, 4_194_304),
        cpus: o.number(cx, "cpus", 0.0, 1024.0),
        seccomp_profile: o.string(cx, "seccompProfile"),
        apparmor_profile: o.string(cx, "apparmorProfile"),
        dns: o.strings(cx, "dns"),
        extra_hosts: o.strings(cx, "extraHosts"),
        ..Default::default()
    };
    if let Some(w) = &d.workdir
        && !w.starts_with('/') {
            cx.err(&o.at("workdir"), format!("must be an absolute path inside the container, got \"{w}\""));
        }
    if let Some(t) = &d.tmpfs {
        for (i, entry) in t.iter().enumerate() {
            if !entry.starts_with('/') {
                cx.err(&format!("{}[{i}]", o.at("tmpfs")), format!("must be an absolute container path (optionally \":options\"), got \"{entry}\""));
            }
        }
    }
    if let Some(net) = &d.network
        && let Err(m) = check_network(net) {
            cx.err(&o.at("network"), m);
        }
    for (key, value) in [("seccompProfile", &d.seccomp_profile), ("apparmorProfile", &d.apparmor_profile)] {
        if value.as_deref().is_some_and(|v| v.trim().eq_ignore_ascii_case("unconfined")) {
            cx.err(&o.at(key), "\"unconfined\" switches off a kernel confinement layer of the sandbox and is refused; name a profile, or leave the key out for Docker's default");
        }
    }
    if let Some(u) = &d.user
        && !u.is_empty() && !u.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.')) {
            cx.err(&o.at("user"), format!("invalid user \"{u}\": use \"uid:gid\", \"uid\" or a user name"));
        }
    if let Some(v) = o.field("memory") {
        d.memory = bytes_value(cx, &o.at("memory"), v, false).map(|n| n as u64);
    }
    if let Some(v) = o.field("memorySwap") {
        d.memory_swap = bytes_value(cx, &o.at("memorySwap"), v, true);
    }
    if let Some(v) = o.field("ulimits") {
        d.ulimits = ulimits_value(cx, &o.at("ulimits"), v);
    }
    if let Some(v) = o.field("binds") {
        let path = o.at("binds");
        d.binds = super::reader::strings_value(cx, &path, v).map(|list| {
            list.iter()
                .enumerate()
                .filter_map(|(i, spec)| match check_bind(spec, home) {
                    Ok(b) => Some(b),
                    Err(m) => {
                        cx.err(&format!("{path}[{i}]"), m);
                        None
                    }
                })
                .collect()
        });
    }
    o.ignored(
        cx,
        &[
            "gpus",
            "dangerouslyAllowExternalBindSources",
            "dangerouslyAllowReservedContainerTargets",
            "dangerouslyAllowContainerNamespaceJoin",
        ],
    );
    o.finish(cx);
    d
}

fn read_browser(mut o: Obj<'_>, cx: &mut Cx) -> BrowserSettings {
    let port = |o: &mut Obj<'_>, cx: &mut Cx, k| o.uint(cx, k, 1, 65535).map(|p| p as u16);
    let b = BrowserSettings {
        enabled: o.bool(cx, "enabled"),
        image: o.nonempty(cx, "image"),
        container_prefix: o.nonempty(cx, "containerPrefix"),
        cdp_port: port(&mut o, cx, "cdpPort"),
        vnc_port: port(&mut o, cx, "vncPort"),
        no_vnc_port: port(&mut o, cx, "noVncPort"),
        headless: o.bool(cx, "headless"),
        enable_no_vnc: o.bool(cx, "enableNoVnc"),
        allow_host_control: o.bool(cx, "allowHostControl"),
        auto_start: o.bool(cx, "autoStart"),
        auto_start_timeout_ms: o.uint(cx, "autoStartTimeoutMs", 0, 600_000),
    };
    o.ignored(cx, &["network", "cdpSourceRange", "binds", "noVncEnabled"]);
    o.finish(cx);
    b
}

/// Refuses network modes that would undo the sandbox's isolation.
pub fn check_network(net: &str) -> Result<(), String> {
    let n = net.trim();
    if n.eq_ignore_ascii_case("host") {
        return Err("network \"host\" shares the host's network stack with the sandbox and is refused; use \"none\" (default) or \"bridge\"".into());
    }
    if n.to_ascii_lowercase().starts_with("container:") {
        return Err(format!("network \"{n}\" joins another container's namespaces and is refused; use \"none\" (default) or \"bridge\""));
    }
    Ok(())
}

/// Host paths a sandbox may never mount, nor any folder that contains them.
const FORBIDDEN_SOURCES: &[&str] = &["/etc", "/proc", "/sys", "/dev", "/root", "/boot", "/run", "/var/run"];
/// Credential folders under the home directory.
const CREDENTIAL_DIRS: &[&str] = &[".ssh", ".aws", ".docker", ".gnupg", ".config", ".netrc", ".npm", ".cargo"];
/// Container paths the sandbox itself mounts.
const RESERVED_TARGETS: &[&str] = &["/workspace", "/agent"];

/// Checks one `docker.binds` entry (`host:container[:ro|rw]`). The source must
/// be an absolute host path (no named volumes), must not be, contain or lie
/// under a system folder, the Docker socket or a credential folder, also after
/// following symlinks in the part of it that exists.
pub fn check_bind(spec: &str, home: &Path) -> Result<BindMount, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [s, t] => (*s, *t, None),
        [s, t, m] => (*s, *t, Some(*m)),
        _ => return Err(format!("invalid bind \"{spec}\": use \"/host/path:/container/path[:ro|rw]\"")),
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(m) => return Err(format!("invalid bind mode \"{m}\" in \"{spec}\": use \"ro\" or \"rw\"")),
    };
    if source.is_empty() || target.is_empty() {
        return Err(format!("invalid bind \"{spec}\": use \"/host/path:/container/path[:ro|rw]\""));
    }
    let expanded = expand_home(source, home);
    if !expanded.is_absolute() {
        return Err(format!(
            "bind source \"{source}\" is not an absolute host path; named volumes and relative paths are refused (use /absolute/path:{target})"
        ));
    }
    if !target.starts_with('/') {
        return Err(format!("bind target \"{target}\" must be an absolute container path"));
    }
    let target_norm = normalize(Path::new(target));
    for reserved in RESERVED_TARGETS {
        let r = Path::new(reserved);
        if target_norm == r || target_norm.starts_with(r) || target_norm == Path::new("/") {
            return Err(format!("bind target \"{target}\" would cover the sandbox's own {reserved} mount; choose another container path"));
        }
    }
    let lexical = normalize(&expanded);
    check_source(&lexical, source, home)?;
    let resolved = resolve_existing(&lexical);
    if resolved != lexical {
        check_source(&resolved, source, home)?;
    }
    Ok(BindMount { source: lexical, target: target_norm.to_string_lossy().into_owned(), read_only })
}

/// The checks of [`check_bind`] that need no home folder, for a bind source
/// translated to the Docker host's path (Docker-out-of-Docker): not `/`, not
/// a system folder, not the Docker socket. `shown` is the source as the
/// config wrote it.
pub fn check_host_source(host_path: &Path, shown: &str) -> Result<(), String> {
    check_source_in(&normalize(host_path), shown, &[]).map_err(|e| format!("{e} (its host path is {})", host_path.display()))
}

fn check_source(p: &Path, shown: &str, home: &Path) -> Result<(), String> {
    let credentials: Vec<PathBuf> = CREDENTIAL_DIRS.iter().map(|d| home.join(d)).collect();
    check_source_in(p, shown, &credentials)
}

fn check_source_in(p: &Path, shown: &str, credentials: &[PathBuf]) -> Result<(), String> {
    let refuse = |what: &str| {
        Err(format!(
            "bind source \"{shown}\" exposes {what} to the sandbox and is refused; mount a dedicated project folder instead"
        ))
    };
    if p == Path::new("/") {
        return refuse("the whole host filesystem");
    }
    let mut forbidden: Vec<PathBuf> = FORBIDDEN_SOURCES.iter().map(PathBuf::from).collect();
    forbidden.extend(credentials.iter().cloned());
    for f in &forbidden {
        if p.starts_with(f) || f.starts_with(p) {
            return refuse(&format!("{} (a system or credential folder)", f.display()));
        }
    }
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "docker.sock" || name.ends_with(".sock") && p.to_string_lossy().contains("docker") {
        return refuse("the Docker socket (full control of the host)");
    }
    Ok(())
}

/// Removes `.` and resolves `..` without touching the disk.
pub fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s),
            _ => {}
        }
    }
    out
}

/// Follows symlinks in the longest existing prefix of `p` and appends the rest,
/// so a symlinked parent with a missing leaf is still seen for what it is.
pub fn resolve_existing(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return normalize(&out);
        }
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// Reads a byte size: a number of bytes or a string such as "512m", "1g".
/// 0 and "" mean "no limit" (returned as 0). -1 is accepted only where
/// `allow_unlimited` (memorySwap).
fn bytes_value(cx: &mut Cx, path: &str, v: &Value, allow_unlimited: bool) -> Option<i64> {
    let parsed = match v {
        Value::Number(n) => n.as_i64().ok_or(()),
        Value::String(s) => parse_bytes(s).ok_or(()),
        other => {
            wrong_type(cx, path, "a size such as \"1g\" or a number of bytes", other);
            return None;
        }
    };
    match parsed {
        Ok(n) if n >= 0 || (allow_unlimited && n == -1) => Some(n),
        _ => {
            let hint = if allow_unlimited { ", 0 for no limit, or -1 for unlimited swap" } else { ", or 0 for no limit" };
            cx.err(path, format!("invalid size {v}: use bytes or a number with b, k, m or g (e.g. \"1g\"){hint}"));
            None
        }
    }
}

/// Parses "512m", "1g", "1024", "" (0), "-1".
pub fn parse_bytes(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t.is_empty() {
        return Some(0);
    }
    if t == "-1" {
        return Some(-1);
    }
    let t = t.strip_suffix('b').filter(|r| r.ends_with(['k', 'm', 'g'])).unwrap_or(&t);
    let (num, mult) = match t.char_indices().last()? {
        (i, 'k') => (&t[..i], 1i64 << 10),
        (i, 'm') => (&t[..i], 1 << 20),
        (i, 'g') => (&t[..i], 1 << 30),
        (i, 'b') => (&t[..i], 1),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    Some((n * mult as f64) as i64)
}

fn ulimits_value(cx: &mut Cx, path: &str, v: &Value) -> Option<BTreeMap<String, Ulimit>> {
    let Value::Object(m) = v else {
        wrong_type(cx, path, "an object of limits", v);
        return None;
    };
    let one = |cx: &mut Cx, p: &str, v: &Value| -> Option<i64> {
        match v {
            Value::Number(n) if n.as_i64().is_some_and(|n| n >= -1) => n.as_i64(),
            Value::String(s) if s.trim() == "unlimited" => Some(-1),
            Value::String(s) if s.trim().parse::<i64>().is_ok_and(|n| n >= -1) => s.trim().parse().ok(),
            other => {
                wrong_type(cx, p, "a whole number, \"unlimited\" or {soft, hard}", other);
                None
            }
        }
    };
    let mut out = BTreeMap::new();
    for (name, v) in m {
        let p = super::reader::join(path, name);
        if !name.chars().all(|c| c.is_ascii_lowercase()) || name.is_empty() {
            cx.err(&p, format!("invalid ulimit name \"{name}\" (e.g. nofile, nproc, core)"));
            continue;
        }
        let limit = match v {
            Value::Object(o) => {
                let mut known = true;
                for k in o.keys() {
                    if k != "soft" && k != "hard" {
                        cx.err(&super::reader::join(&p, k), "Unrecognized key (use \"soft\" and \"hard\")");
                        known = false;
                    }
                }
                let soft = o.get("soft").and_then(|v| one(cx, &super::reader::join(&p, "soft"), v));
                let hard = o.get("hard").and_then(|v| one(cx, &super::reader::join(&p, "hard"), v));
                match (soft.or(hard), hard.or(soft)) {
                    (Some(s), Some(h)) if known => {
                        if h != -1 && (s == -1 || s > h) {
                            cx.err(&p, format!("soft limit {s} is above hard limit {h}"));
                            continue;
                        }
                        Ulimit { soft: s, hard: h }
                    }
                    (None, None) if known => {
                        cx.err(&p, "give \"soft\", \"hard\" or both");
                        continue;
                    }
                    _ => continue,
                }
            }
            other => match one(cx, &p, other) {
                Some(n) => Ulimit { soft: n, hard: n },
                None => continue,
            },
        };
        out.insert(name.clone(), limit);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1g"), Some(1 << 30));
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("64mb"), Some(64 << 20));
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes(""), Some(0));
        assert_eq!(parse_bytes("-1"), Some(-1));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("-5m"), None);
    }

    #[test]
    fn refuses_dangerous_binds() {
        let home = Path::new("/home/u");
        for bad in [
            "/:/h",
            "/var/run/docker.sock:/s",
            "/var:/v",
            "/etc:/e:ro",
            "~/.ssh:/k",
            "/home/u/.aws/credentials:/c",
            "data:/d",
            "myvolume:/data",
            "/srv/x:/workspace",
            "/srv/x:/agent/sub",
            "/srv/x:relative",
            "/srv/x:/y:rx",
            "/srv/../etc:/e",
        ] {
            assert!(check_bind(bad, home).is_err(), "{bad} should be refused");
        }
        let ok = check_bind("/srv/project:/project:ro", home).unwrap();
        assert_eq!(ok, BindMount { source: "/srv/project".into(), target: "/project".into(), read_only: true });
        assert_eq!(ok.to_bind_string(), "/srv/project:/project:ro");
    }

    #[test]
    fn refuses_symlinked_parent_with_missing_leaf() {
        let dir = std::env::temp_dir().join(format!("openclaw-bindtest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("link")).unwrap();
        let spec = format!("{}/link/missing/leaf:/x", dir.display());
        let err = check_bind(&spec, Path::new("/home/u")).unwrap_err();
        assert!(err.contains("/etc"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_host_and_container_networks() {
        assert!(check_network("host").is_err());
        assert!(check_network("container:abc").is_err());
        assert!(check_network("none").is_ok());
        assert!(check_network("bridge").is_ok());
    }

    #[test]
    fn resolves_defaults_overrides_and_shared() {
        let home = Path::new("/h");
        let state = Path::new("/h/.openclaw");
        let global = SandboxSettings {
            mode: Some(SandboxMode::NonMain),
            docker: DockerSettings {
                env: Some(BTreeMap::from([("A".into(), "1".into())])),
                binds: Some(vec![check_bind("/srv/a:/a", home).unwrap()]),
                memory: Some(0),
                ..Default::default()
            },
            ..Default::default()
        };
        let agent = SandboxSettings {
            docker: DockerSettings {
                env: Some(BTreeMap::from([("B".into(), "2".into())])),
                binds: Some(vec![check_bind("/srv/b:/b", home).unwrap()]),
                image: Some("custom".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let r = resolve(&global, Some(&agent), state, home);
        assert_eq!(r.mode, SandboxMode::NonMain);
        assert_eq!(r.scope, Scope::Agent);
        assert_eq!(r.docker.image, "custom");
        assert_eq!(r.docker.env.len(), 2, "agent env merges over global env replacing the LANG default");
        assert_eq!(r.docker.binds.len(), 2);
        assert_eq!(r.docker.memory, None, "0 switches the limit off");
        assert_eq!(r.docker.pids_limit, Some(256));
        assert_eq!(r.docker.memory_swap, Some(2 << 30));
        assert_eq!(r.workspace_root, PathBuf::from("/h/.openclaw/sandboxes"));
        let shared = SandboxSettings { scope: Some(Scope::Shared), ..agent.clone() };
        let r = resolve(&global, Some(&shared), state, home);
        assert_eq!(r.docker.image, DEFAULT_IMAGE, "per-agent docker is ignored under shared scope");
        assert_eq!(r.docker.binds.len(), 1);
    }
}
