//! The typed config and the code that reads each section into it.
//!
//! Sections this build implements (`gateway`, `agents`, `tools`, `models`,
//! `channels`, `session`, `env`) are read strictly: unknown keys, wrong types
//! and bad values are problems with their full path. Keys and sections that
//! upstream OpenClaw knows but this build does not act on are accepted with a
//! warning each, so an upstream user's file keeps loading. Defaults are
//! upstream's (reference §2) unless SPEC §3 says otherwise.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::reader::{Cx, Obj, join, wrong_type};
use super::sandbox::{self, SandboxConfig, SandboxSettings};
use crate::paths::{Paths, expand_home};

/// The validated configuration. Built only by [`read`].
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: Gateway,
    pub agents: Agents,
    pub tools: Tools,
    pub models: Models,
    pub channels: Channels,
    pub session: Session,
    /// `auth.profiles` (which profiles exist, by id) and `auth.order` (which to try first).
    pub auth: AuthSection,
    /// Variables from the `env` block (already added to the effective environment).
    pub env_vars: BTreeMap<String, String>,
    home: PathBuf,
    state_dir: PathBuf,
}

/// A string that may hold a secret: its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(pub String);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redacted(<{} bytes>)", self.0.len())
    }
}

/// A credential: given inline, or a reference to where it is kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Secret {
    Inline(Redacted),
    Ref { source: SecretSource, provider: String, id: String },
}

impl Secret {
    /// The secret's value: inline, or read from the environment variable or
    /// file it names (`exec` references are refused).
    pub fn value(&self, env: &crate::paths::Env) -> Result<String, String> {
        match self {
            Secret::Inline(r) => Ok(r.0.clone()),
            Secret::Ref { source: SecretSource::Env, id, .. } => env
                .get(id)
                .cloned()
                .ok_or_else(|| format!("the secret reference names the environment variable {id}, which is not set")),
            Secret::Ref { source: SecretSource::File, id, .. } => {
                let home = Path::new(env.get("HOME").map(String::as_str).unwrap_or("/"));
                std::fs::read_to_string(expand_home(id, home))
                    .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                    .map_err(|e| format!("cannot read the secret file {id}: {e}"))
            }
            Secret::Ref { source: SecretSource::Exec, .. } => {
                Err("secret references with source \"exec\" are not supported here; use \"env\" or \"file\"".into())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Env,
    File,
    Exec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayMode {
    Local,
    Remote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    Auto,
    Loopback,
    Lan,
    Tailnet,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    None,
    Token,
    Password,
    TrustedProxy,
}

#[derive(Debug, Clone)]
pub struct Gateway {
    pub mode: Option<GatewayMode>,
    /// `None` when not set: the gateway applies flag > env > this > 18789.
    pub port: Option<u16>,
    pub bind: Bind,
    pub custom_bind_host: Option<String>,
    pub auth: GatewayAuth,
    pub tailscale_mode: String,
    pub control_ui: ControlUi,
    pub remote: Remote,
    pub trusted_proxies: Vec<String>,
    pub allow_real_ip_fallback: bool,
    pub tools: ToolLists,
    pub chat_completions_enabled: bool,
}

#[derive(Debug, Clone)]
pub struct GatewayAuth {
    pub mode: Option<AuthMode>,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
    pub rate_limit: RateLimit,
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub max_attempts: u32,
    pub window_ms: u64,
    pub lockout_ms: u64,
    pub exempt_loopback: bool,
}

#[derive(Debug, Clone)]
pub struct ControlUi {
    pub enabled: bool,
    pub base_path: String,
    pub allowed_origins: Vec<String>,
    pub allow_host_header_origin_fallback: bool,
    pub allow_insecure_auth: bool,
    pub disable_device_auth: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Remote {
    pub url: Option<String>,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
}

/// An allow list and a deny list; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolLists {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolProfile {
    Full,
    Coding,
    Messaging,
    Minimal,
}

/// A tool policy block (`tools`, `agents.list[].tools`).
#[derive(Debug, Clone, Default)]
pub struct ToolPolicy {
    pub profile: Option<ToolProfile>,
    pub lists: ToolLists,
    pub by_provider: BTreeMap<String, ToolPolicy>,
    /// `tools.sandbox.tools`.
    pub sandbox: ToolLists,
    pub elevated_enabled: Option<bool>,
    pub elevated_allow_from: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Tools {
    pub policy: ToolPolicy,
    pub exec: ExecSettings,
}

#[derive(Debug, Clone, Default)]
pub struct ExecSettings {
    pub background_ms: Option<u64>,
    pub timeout_sec: Option<u64>,
    pub cleanup_ms: Option<u64>,
    pub notify_on_exit: Option<bool>,
    pub path_prepend: Vec<String>,
}

/// A model choice: a primary `provider/model` reference and fallbacks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelChoice {
    pub primary: Option<String>,
    pub fallbacks: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Agents {
    pub defaults: AgentDefaults,
    /// `agents.list[]` followed by `agents.entries.<id>`, ids normalized.
    pub list: Vec<AgentEntry>,
}

#[derive(Debug, Clone, Default)]
pub struct AgentDefaults {
    pub workspace: Option<PathBuf>,
    pub model: Option<ModelChoice>,
    /// `agents.defaults.models`: the allow list of model references.
    pub models: BTreeMap<String, Option<String>>,
    pub sandbox: SandboxSettings,
    pub skip_bootstrap: bool,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct AgentEntry {
    pub id: String,
    pub default: bool,
    pub name: Option<String>,
    pub workspace: Option<PathBuf>,
    pub agent_dir: Option<PathBuf>,
    pub model: Option<ModelChoice>,
    pub sandbox: Option<SandboxSettings>,
    pub tools: ToolPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderApi {
    OpenAiCompletions,
    OpenAiResponses,
    AnthropicMessages,
    GoogleGenerativeAi,
}

#[derive(Debug, Clone)]
pub struct Models {
    pub replace: bool,
    pub providers: BTreeMap<String, Provider>,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub api: Option<ProviderApi>,
    pub headers: BTreeMap<String, String>,
    pub auth_header: Option<bool>,
    pub models: Vec<ModelDef>,
}

#[derive(Debug, Clone)]
pub struct ModelDef {
    pub id: String,
    pub name: Option<String>,
    pub reasoning: bool,
    pub input: Vec<String>,
    pub context_window: Option<u64>,
    pub max_tokens: Option<u64>,
    pub api: Option<ProviderApi>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmPolicy {
    Pairing,
    Allowlist,
    Open,
    Disabled,
}

#[derive(Debug, Clone, Default)]
pub struct Channels {
    pub telegram: Option<ChannelConfig>,
    pub discord: Option<ChannelConfig>,
    pub whatsapp: Option<ChannelConfig>,
}

/// One chat platform's settings (the default account plus named accounts).
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub enabled: bool,
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub dm_policy: DmPolicy,
    pub allow_from: Vec<String>,
    pub api_base_url: Option<String>,
    pub accounts: BTreeMap<String, ChannelConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmScope {
    Main,
    PerPeer,
    PerChannelPeer,
    PerAccountChannelPeer,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub global_scope: bool,
    pub dm_scope: DmScope,
    pub main_key: String,
    pub store: Option<PathBuf>,
    pub reset_at_hour: Option<u64>,
    pub reset_idle_minutes: Option<u64>,
}

/// The `auth` section: profile metadata and per-provider order. The credentials
/// themselves live in `<agentDir>/auth-profiles.json` (`crate::auth`).
#[derive(Debug, Clone, Default)]
pub struct AuthSection {
    /// Profile id (`openai-codex:default`) → its provider and mode.
    pub profiles: BTreeMap<String, AuthProfileMeta>,
    /// Provider → profile ids to try, in order.
    pub order: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthProfileMeta {
    pub provider: String,
    /// `api_key`, `oauth` or `token`.
    pub mode: String,
}

/// Sections upstream knows that this build accepts and ignores.
const IGNORED_SECTIONS: &[&str] = &[
    "skills", "hooks", "cron", "plugins", "browser", "ui", "talk", "messages", "commands", "web", "discovery",
    "logging", "update", "meta", "bindings", "broadcast", "audio", "media", "canvasHost",
    "diagnostics", "memory", "approvals", "nodeHost", "secrets", "acp", "mcp",
];

/// Reads the whole (merged, substituted) config value.
pub fn read(cx: &mut Cx, root: &Value, paths: &Paths) -> Config {
    let home = paths.home.clone();
    let mut o = Obj::new(cx, Some(root), "");
    if let Some(v) = o.field("$schema")
        && !v.is_string() {
            wrong_type(cx, "$schema", "a string", v);
        }
    let gateway = read_gateway(o.child(cx, "gateway"), cx);
    let agents = read_agents(o.child(cx, "agents"), cx, &home);
    let tools = read_tools(o.child(cx, "tools"), cx);
    let models = read_models(o.child(cx, "models"), cx);
    let channels = read_channels(o.child(cx, "channels"), cx);
    let session = read_session(o.child(cx, "session"), cx, &home);
    let env_vars = read_env_block(o.child(cx, "env"), cx);
    let auth = read_auth(o.child(cx, "auth"), cx);
    read_wizard(o.child(cx, "wizard"), cx);
    for section in IGNORED_SECTIONS {
        if o.field(section).is_some() {
            cx.warn(section, "section not supported by this build; ignored");
        }
    }
    o.finish(cx);
    Config { gateway, agents, tools, models, channels, session, auth, env_vars, home, state_dir: paths.state_dir.clone() }
}

impl Config {
    /// The default agent's id: the first `default: true` entry, else the first
    /// entry, else `main`.
    /// The state folder the config was loaded for.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The home folder `~` expands to.
    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn default_agent_id(&self) -> String {
        self.agents
            .list
            .iter()
            .find(|a| a.default)
            .or_else(|| self.agents.list.first())
            .map(|a| a.id.clone())
            .unwrap_or_else(|| "main".to_string())
    }

    pub fn agent(&self, id: &str) -> Option<&AgentEntry> {
        self.agents.list.iter().find(|a| a.id == id)
    }

    /// The resolved sandbox settings for an agent (reference §2.3).
    pub fn sandbox_for(&self, agent_id: &str) -> SandboxConfig {
        let agent = self.agent(agent_id).and_then(|a| a.sandbox.as_ref());
        sandbox::resolve(&self.agents.defaults.sandbox, agent, &self.state_dir, &self.home)
    }

    /// The agent's workspace: its own, else `agents.defaults.workspace`, else
    /// `<state>/workspace` (non-default agents: `<state>/workspace-<id>`).
    pub fn workspace_for(&self, agent_id: &str) -> PathBuf {
        if let Some(w) = self.agent(agent_id).and_then(|a| a.workspace.clone()) {
            return w;
        }
        if agent_id == self.default_agent_id() {
            if let Some(w) = &self.agents.defaults.workspace {
                return w.clone();
            }
            return self.state_dir.join("workspace");
        }
        self.state_dir.join(format!("workspace-{agent_id}"))
    }

    /// The agent's own folder (auth profiles, per-agent models):
    /// `agents.list[].agentDir`, else `<state>/agents/<id>/agent`.
    pub fn agent_dir(&self, agent_id: &str) -> PathBuf {
        match self.agent(agent_id).and_then(|a| a.agent_dir.clone()) {
            Some(dir) => dir,
            None => self.state_dir.join("agents").join(agent_id).join("agent"),
        }
    }

    /// Every agent id the config knows, default first, `main` if none.
    pub fn agent_ids(&self) -> Vec<String> {
        let mut ids = vec![self.default_agent_id()];
        for a in &self.agents.list {
            if !ids.contains(&a.id) {
                ids.push(a.id.clone());
            }
        }
        ids
    }
}

/// Normalizes an agent id as upstream does: trim, lower-case; invalid
/// characters become `-`, leading and trailing `-` go, at most 64
/// characters, empty becomes `main`.
pub fn normalize_agent_id(raw: &str) -> String {
    let lower = raw.trim().to_lowercase();
    let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    let mut out: String = lower.chars().map(|c| if valid(c) { c } else { '-' }).collect();
    while out.contains("--") && !lower.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-');
    let out: String = out.chars().take(64).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "main".to_string() } else { out }
}

fn read_secret(cx: &mut Cx, o: &mut Obj<'_>, key: &'static str) -> Option<Secret> {
    let v = o.field(key)?;
    let path = o.at(key);
    secret_value(cx, &path, v)
}

fn secret_value(cx: &mut Cx, path: &str, v: &Value) -> Option<Secret> {
    match v {
        Value::String(s) => Some(Secret::Inline(Redacted(s.clone()))),
        Value::Object(_) => {
            let mut r = Obj::new(cx, Some(v), path);
            let source = r.choice(cx, "source", &[("env", SecretSource::Env), ("file", SecretSource::File), ("exec", SecretSource::Exec)]);
            let provider = r.string(cx, "provider").unwrap_or_else(|| "default".into());
            let id = r.nonempty(cx, "id");
            r.finish(cx);
            match (source, id) {
                (Some(source), Some(id)) => Some(Secret::Ref { source, provider, id }),
                (None, _) if v.get("source").is_none() => {
                    cx.err(&join(path, "source"), "required: \"env\", \"file\" or \"exec\"");
                    None
                }
                (_, None) if v.get("id").is_none() => {
                    cx.err(&join(path, "id"), "required");
                    None
                }
                _ => None,
            }
        }
        other => {
            wrong_type(cx, path, "a string or a secret reference {source, id}", other);
            None
        }
    }
}

fn read_gateway(mut o: Obj<'_>, cx: &mut Cx) -> Gateway {
    let mode = o.choice(cx, "mode", &[("local", GatewayMode::Local), ("remote", GatewayMode::Remote)]);
    let port = o.uint(cx, "port", 1, 65535).map(|p| p as u16);
    let bind = o
        .choice(
            cx,
            "bind",
            &[("auto", Bind::Auto), ("loopback", Bind::Loopback), ("lan", Bind::Lan), ("tailnet", Bind::Tailnet), ("custom", Bind::Custom)],
        )
        .unwrap_or(Bind::Loopback);
    let custom_bind_host = o.nonempty(cx, "customBindHost");
    if let Some(h) = &custom_bind_host
        && h.parse::<std::net::Ipv4Addr>().is_err() {
            cx.err(&o.at("customBindHost"), format!("\"{h}\" is not an IPv4 address"));
        }

    let mut a = o.child(cx, "auth");
    let auth_mode = a.choice(
        cx,
        "mode",
        &[("none", AuthMode::None), ("token", AuthMode::Token), ("password", AuthMode::Password), ("trusted-proxy", AuthMode::TrustedProxy)],
    );
    let token = read_secret(cx, &mut a, "token");
    let password = read_secret(cx, &mut a, "password");
    if token.is_some() && password.is_some() && auth_mode.is_none() {
        cx.err(&a.at("mode"), "both a token and a password are set: set gateway.auth.mode to \"token\" or \"password\"");
    }
    a.bool(cx, "allowTailscale");
    let mut rl = a.child(cx, "rateLimit");
    let rate_limit = RateLimit {
        max_attempts: rl.uint(cx, "maxAttempts", 1, 1_000_000).unwrap_or(10) as u32,
        window_ms: rl.uint(cx, "windowMs", 1, u32::MAX as u64).unwrap_or(60_000),
        lockout_ms: rl.uint(cx, "lockoutMs", 0, u32::MAX as u64).unwrap_or(300_000),
        exempt_loopback: rl.bool(cx, "exemptLoopback").unwrap_or(true),
    };
    rl.finish(cx);
    a.ignored(cx, &["trustedProxy"]);
    a.finish(cx);

    let mut t = o.child(cx, "tailscale");
    let tailscale_mode = t.choice(cx, "mode", &[("off", "off"), ("serve", "serve"), ("funnel", "funnel")]).unwrap_or("off").to_string();
    t.bool(cx, "resetOnExit");
    t.finish(cx);

    let mut c = o.child(cx, "controlUi");
    let control_ui = ControlUi {
        enabled: c.bool(cx, "enabled").unwrap_or(true),
        base_path: c.string(cx, "basePath").map(|p| p.trim_end_matches('/').to_string()).unwrap_or_default(),
        allowed_origins: c.strings(cx, "allowedOrigins").unwrap_or_default(),
        allow_host_header_origin_fallback: c.bool(cx, "dangerouslyAllowHostHeaderOriginFallback").unwrap_or(false),
        allow_insecure_auth: c.bool(cx, "allowInsecureAuth").unwrap_or(false),
        disable_device_auth: c.bool(cx, "dangerouslyDisableDeviceAuth").unwrap_or(false),
    };
    if !control_ui.base_path.is_empty() && !control_ui.base_path.starts_with('/') {
        cx.err(&c.at("basePath"), "must start with \"/\"");
    }
    for (i, origin) in control_ui.allowed_origins.iter().enumerate() {
        if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
            cx.err(&format!("{}[{i}]", c.at("allowedOrigins")), format!("\"{origin}\" is not an origin such as \"http://host:18789\""));
        }
    }
    c.ignored(cx, &["root"]);
    c.finish(cx);

    let mut r = o.child(cx, "remote");
    let remote = Remote { url: r.string(cx, "url"), token: read_secret(cx, &mut r, "token"), password: read_secret(cx, &mut r, "password") };
    r.choice(cx, "transport", &[("ssh", ()), ("direct", ())]);
    r.ignored(cx, &["sshTarget", "sshIdentity", "tlsFingerprint"]);
    r.finish(cx);

    let trusted_proxies = o.strings(cx, "trustedProxies").unwrap_or_default();
    let allow_real_ip_fallback = o.bool(cx, "allowRealIpFallback").unwrap_or(false);
    let tools = read_tool_lists(o.child(cx, "tools"), cx);

    let mut h = o.child(cx, "http");
    let mut e = h.child(cx, "endpoints");
    let mut cc = e.child(cx, "chatCompletions");
    let chat_completions_enabled = cc.bool(cx, "enabled").unwrap_or(false);
    cc.finish(cx);
    e.ignored(cx, &["responses"]);
    e.finish(cx);
    h.finish(cx);

    if o.field("token").is_some() {
        cx.err(&o.at("token"), "legacy key: move it to gateway.auth.token");
    }
    o.ignored(cx, &["reload", "nodes", "push", "channelHealthCheckMinutes", "tls", "handshakeTimeoutMs"]);
    o.finish(cx);
    Gateway {
        mode,
        port,
        bind,
        custom_bind_host,
        auth: GatewayAuth { mode: auth_mode, token, password, rate_limit },
        tailscale_mode,
        control_ui,
        remote,
        trusted_proxies,
        allow_real_ip_fallback,
        tools,
        chat_completions_enabled,
    }
}

fn read_tool_lists(mut o: Obj<'_>, cx: &mut Cx) -> ToolLists {
    let lists = ToolLists { allow: o.strings(cx, "allow"), deny: o.strings(cx, "deny") };
    o.finish(cx);
    lists
}

const PROFILES: &[(&str, ToolProfile)] =
    &[("full", ToolProfile::Full), ("coding", ToolProfile::Coding), ("messaging", ToolProfile::Messaging), ("minimal", ToolProfile::Minimal)];

/// Reads a tool policy block; `top` is true for the global `tools` section and an
/// agent's `tools` (the blocks that may have `byProvider`), false inside `byProvider`.
fn read_tool_policy(cx: &mut Cx, o: &mut Obj<'_>, top: bool) -> ToolPolicy {
    let mut p = ToolPolicy {
        profile: o.choice(cx, "profile", PROFILES),
        lists: ToolLists { allow: o.strings(cx, "allow"), deny: o.strings(cx, "deny") },
        ..Default::default()
    };
    if top {
        p.by_provider = o
            .map_of(cx, "byProvider", |cx, path, _k, v| {
                let mut b = Obj::new(cx, Some(v), path);
                let policy = read_tool_policy(cx, &mut b, false);
                b.finish(cx);
                Some(policy)
            })
            .unwrap_or_default();
    }
    let mut s = o.child(cx, "sandbox");
    p.sandbox = read_tool_lists(s.child(cx, "tools"), cx);
    s.finish(cx);
    let mut e = o.child(cx, "elevated");
    p.elevated_enabled = e.bool(cx, "enabled");
    p.elevated_allow_from = e.map_of(cx, "allowFrom", |cx, path, _k, v| allow_from(cx, path, v)).unwrap_or_default();
    e.finish(cx);
    o.ignored(cx, &["alsoAllow"]);
    p
}

fn read_tools(mut o: Obj<'_>, cx: &mut Cx) -> Tools {
    let policy = read_tool_policy(cx, &mut o, true);
    let mut e = o.child(cx, "exec");
    let exec = ExecSettings {
        background_ms: e.uint(cx, "backgroundMs", 0, 86_400_000),
        timeout_sec: e.uint(cx, "timeoutSec", 1, 604_800),
        cleanup_ms: e.uint(cx, "cleanupMs", 0, u32::MAX as u64),
        notify_on_exit: e.bool(cx, "notifyOnExit"),
        path_prepend: e.strings(cx, "pathPrepend").unwrap_or_default(),
    };
    e.ignored(cx, &["host", "security", "ask", "node", "safeBins", "applyPatch"]);
    e.finish(cx);
    o.ignored(cx, &["web", "media", "links", "message", "agentToAgent", "subagents", "loopDetection", "sessions"]);
    o.finish(cx);
    Tools { policy, exec }
}

fn read_model_choice(cx: &mut Cx, path: &str, v: &Value) -> Option<ModelChoice> {
    match v {
        Value::String(s) => Some(ModelChoice { primary: Some(s.clone()), fallbacks: Vec::new() }),
        Value::Object(_) => {
            let mut o = Obj::new(cx, Some(v), path);
            let m = ModelChoice { primary: o.nonempty(cx, "primary"), fallbacks: o.strings(cx, "fallbacks").unwrap_or_default() };
            o.finish(cx);
            Some(m)
        }
        other => {
            wrong_type(cx, path, "a model reference \"provider/model\" or {primary, fallbacks}", other);
            None
        }
    }
}

fn read_agents(mut o: Obj<'_>, cx: &mut Cx, home: &Path) -> Agents {
    let mut d = o.child(cx, "defaults");
    let mut defaults = AgentDefaults {
        workspace: d.nonempty(cx, "workspace").map(|w| expand_home(&w, home)),
        skip_bootstrap: d.bool(cx, "skipBootstrap").unwrap_or(false),
        timeout_seconds: d.uint(cx, "timeoutSeconds", 1, 604_800),
        ..Default::default()
    };
    if let Some(v) = d.field("model") {
        defaults.model = read_model_choice(cx, &d.at("model"), v);
    }
    defaults.models = d
        .map_of(cx, "models", |cx, path, _k, v| {
            let mut m = Obj::new(cx, Some(v), path);
            let alias = m.string(cx, "alias");
            m.ignored(cx, &["params"]);
            m.finish(cx);
            Some(alias)
        })
        .unwrap_or_default();
    defaults.sandbox = sandbox::read(d.child(cx, "sandbox"), cx, home);
    d.ignored(
        cx,
        &[
            "heartbeat", "compaction", "contextTokens", "contextPruning", "blockStreamingDefault", "blockStreamingBreak",
            "blockStreamingChunk", "typingMode", "typingIntervalSeconds", "humanDelay", "subagents", "imageModel",
            "elevatedDefault", "verboseDefault", "thinkingDefault", "reasoningDefault", "memorySearch", "bootstrapMaxChars",
            "repoRoot", "cliBackends", "userTimezone", "timeFormat", "envelopeTimezone", "envelopeTimestamp",
            "envelopeElapsed", "mediaMaxMb", "maxConcurrent", "sandboxBrowser", "skills",
        ],
    );
    d.finish(cx);

    let mut list = Vec::new();
    o.list_of(cx, "list", |cx, path, v| {
        let entry = read_agent_entry(cx, path, v, None, home);
        if let Some(e) = entry {
            list.push((path.to_string(), e));
        }
        Some(())
    });
    o.map_of(cx, "entries", |cx, path, key, v| {
        if let Some(e) = read_agent_entry(cx, path, v, Some(key), home) {
            list.push((path.to_string(), e));
        }
        Some(())
    });
    let mut seen: Vec<String> = Vec::new();
    for (path, e) in &list {
        if seen.contains(&e.id) {
            cx.err(&join(path, "id"), format!("duplicate agent id \"{}\"", e.id));
        }
        seen.push(e.id.clone());
    }
    o.finish(cx);
    Agents { defaults, list: list.into_iter().map(|(_, e)| e).collect() }
}

fn read_agent_entry(cx: &mut Cx, path: &str, v: &Value, key: Option<&str>, home: &Path) -> Option<AgentEntry> {
    let mut o = Obj::new(cx, Some(v), path);
    if !o.present() {
        return None;
    }
    let id = match (o.nonempty(cx, "id"), key) {
        (Some(id), _) => id,
        (None, Some(k)) => k.to_string(),
        (None, None) => {
            if v.get("id").is_none() {
                cx.err(&join(path, "id"), "required: every agent needs an id");
            }
            o.finish(cx);
            return None;
        }
    };
    let mut e = AgentEntry {
        id: normalize_agent_id(&id),
        default: o.bool(cx, "default").unwrap_or(false),
        name: o.string(cx, "name"),
        workspace: o.nonempty(cx, "workspace").map(|w| expand_home(&w, home)),
        agent_dir: o.nonempty(cx, "agentDir").map(|w| expand_home(&w, home)),
        ..Default::default()
    };
    if let Some(v) = o.field("model") {
        e.model = read_model_choice(cx, &o.at("model"), v);
    }
    let s = o.child(cx, "sandbox");
    e.sandbox = if s.present() { Some(sandbox::read(s, cx, home)) } else { None };
    let mut t = o.child(cx, "tools");
    e.tools = read_tool_policy(cx, &mut t, true);
    t.finish(cx);
    o.ignored(cx, &["identity", "groupChat", "heartbeat", "subagents", "skills", "humanDelay", "memorySearch", "params"]);
    o.finish(cx);
    Some(e)
}

const APIS: &[(&str, ProviderApi)] = &[
    ("openai-completions", ProviderApi::OpenAiCompletions),
    ("openai-responses", ProviderApi::OpenAiResponses),
    ("anthropic-messages", ProviderApi::AnthropicMessages),
    ("google-generative-ai", ProviderApi::GoogleGenerativeAi),
];

fn read_models(mut o: Obj<'_>, cx: &mut Cx) -> Models {
    let replace = o.choice(cx, "mode", &[("merge", false), ("replace", true)]).unwrap_or(false);
    let providers = o
        .map_of(cx, "providers", |cx, path, _k, v| {
            let mut p = Obj::new(cx, Some(v), path);
            let base_url = p.nonempty(cx, "baseUrl");
            if base_url.is_none() && v.get("baseUrl").is_none() {
                cx.err(&join(path, "baseUrl"), "required");
            }
            if let Some(u) = &base_url
                && !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("${")) {
                    cx.err(&join(path, "baseUrl"), format!("\"{u}\" is not an http:// or https:// URL"));
                }
            let api_key = read_secret(cx, &mut p, "apiKey");
            let api = p.choice(cx, "api", APIS);
            let headers = p.string_map(cx, "headers").unwrap_or_default();
            let auth_header = p.bool(cx, "authHeader");
            let models = p
                .list_of(cx, "models", |cx, path, v| {
                    let mut m = Obj::new(cx, Some(v), path);
                    let id = m.nonempty(cx, "id");
                    if id.is_none() && v.get("id").is_none() {
                        cx.err(&join(path, "id"), "required");
                    }
                    let def = ModelDef {
                        id: id.unwrap_or_default(),
                        name: m.string(cx, "name"),
                        reasoning: m.bool(cx, "reasoning").unwrap_or(false),
                        input: m.strings(cx, "input").unwrap_or_else(|| vec!["text".into()]),
                        context_window: m.uint(cx, "contextWindow", 1, u32::MAX as u64),
                        max_tokens: m.uint(cx, "maxTokens", 1, u32::MAX as u64),
                        api: m.choice(cx, "api", APIS),
                    };
                    m.uint(cx, "contextTokens", 1, u32::MAX as u64);
                    let mut c = m.child(cx, "cost");
                    for k in ["input", "output", "cacheRead", "cacheWrite"] {
                        c.number(cx, k, 0.0, 1e9);
                    }
                    c.finish(cx);
                    m.ignored(cx, &["headers", "compat"]);
                    m.finish(cx);
                    Some(def)
                })
                .unwrap_or_default();
            p.ignored(cx, &["auth", "compat"]);
            p.finish(cx);
            Some(Provider { base_url: base_url?, api_key, api, headers, auth_header, models })
        })
        .unwrap_or_default();
    o.ignored(cx, &["bedrockDiscovery"]);
    o.finish(cx);
    Models { replace, providers }
}

const DM_POLICIES: &[(&str, DmPolicy)] =
    &[("pairing", DmPolicy::Pairing), ("allowlist", DmPolicy::Allowlist), ("open", DmPolicy::Open), ("disabled", DmPolicy::Disabled)];

/// Channel keys upstream has that this build does not act on.
const CHANNEL_IGNORED: &[&str] = &[
    "groups", "groupPolicy", "groupAllowFrom", "streamMode", "replyToMode", "textChunkLimit", "chunkMode", "mediaMaxMb",
    "historyLimit", "dmHistoryLimit", "actions", "capabilities", "reactionNotifications", "reactionLevel", "linkPreview",
    "blockStreaming", "retry", "proxy", "network", "commands", "configWrites", "guilds", "intents", "pluralkit",
    "ackReaction", "sendReadReceipts", "heartbeat", "markdown", "webhookHost", "name", "execApprovals",
];

fn read_channel(cx: &mut Cx, path: &str, v: &Value, token_key: &'static str, is_account: bool) -> Option<ChannelConfig> {
    let mut o = Obj::new(cx, Some(v), path);
    if !o.present() {
        return None;
    }
    let token = if token_key.is_empty() { None } else { read_secret(cx, &mut o, token_key) };
    let token_file = o.nonempty(cx, "tokenFile").map(PathBuf::from);
    let mut dm = o.child(cx, "dm");
    let legacy_policy = dm.choice(cx, "policy", DM_POLICIES);
    let legacy_allow = dm.field("allowFrom").and_then(|v| allow_from(cx, &join(path, "dm.allowFrom"), v));
    dm.ignored(cx, &["enabled", "groupEnabled", "groupChannels"]);
    dm.finish(cx);
    let dm_policy = o.choice(cx, "dmPolicy", DM_POLICIES).or(legacy_policy).unwrap_or(DmPolicy::Pairing);
    let allow = match o.field("allowFrom") {
        Some(v) => allow_from(cx, &join(path, "allowFrom"), v),
        None => legacy_allow,
    }
    .unwrap_or_default();
    match dm_policy {
        DmPolicy::Allowlist if allow.is_empty() => {
            cx.err(&join(path, "allowFrom"), "dmPolicy \"allowlist\" needs a non-empty allowFrom list");
        }
        DmPolicy::Open if !allow.iter().any(|a| a == "*") => {
            cx.err(&join(path, "allowFrom"), "dmPolicy \"open\" requires allowFrom to include \"*\"");
        }
        _ => {}
    }
    let mut c = ChannelConfig {
        enabled: o.bool(cx, "enabled").unwrap_or(true),
        token,
        token_file,
        dm_policy,
        allow_from: allow,
        api_base_url: o.nonempty(cx, "apiBaseUrl"),
        accounts: BTreeMap::new(),
    };
    if token_key == "botToken" {
        o.ignored(cx, &["webhookUrl", "webhookSecret", "webhookPath"]);
    }
    if token_key.is_empty() {
        o.ignored(cx, &["selfChatMode", "authDir"]);
    }
    if !is_account {
        c.accounts = o.map_of(cx, "accounts", |cx, p, _k, v| read_channel(cx, p, v, token_key, true)).unwrap_or_default();
    }
    o.ignored(cx, CHANNEL_IGNORED);
    o.finish(cx);
    Some(c)
}

fn allow_from(cx: &mut Cx, path: &str, v: &Value) -> Option<Vec<String>> {
    let Value::Array(items) = v else {
        wrong_type(cx, path, "an array of ids", v);
        return None;
    };
    Some(
        items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                other => {
                    wrong_type(cx, &format!("{path}[{i}]"), "a string or number", other);
                    None
                }
            })
            .collect(),
    )
}

fn read_channels(mut o: Obj<'_>, cx: &mut Cx) -> Channels {
    let mut ch = Channels::default();
    if let Some(v) = o.field("telegram") {
        ch.telegram = read_channel(cx, &o.at("telegram"), v, "botToken", false);
    }
    if let Some(v) = o.field("discord") {
        ch.discord = read_channel(cx, &o.at("discord"), v, "token", false);
    }
    if let Some(v) = o.field("whatsapp") {
        ch.whatsapp = read_channel(cx, &o.at("whatsapp"), v, "", false);
    }
    o.ignored(
        cx,
        &["defaults", "slack", "signal", "imessage", "irc", "googlechat", "msteams", "matrix", "mattermost", "line", "nostr", "zalo", "bluebubbles", "feishu", "twitch"],
    );
    o.finish(cx);
    ch
}

fn read_session(mut o: Obj<'_>, cx: &mut Cx, home: &Path) -> Session {
    let global_scope = o.choice(cx, "scope", &[("per-sender", false), ("global", true)]).unwrap_or(false);
    let dm_scope = o
        .choice(
            cx,
            "dmScope",
            &[
                ("main", DmScope::Main),
                ("per-peer", DmScope::PerPeer),
                ("per-channel-peer", DmScope::PerChannelPeer),
                ("per-account-channel-peer", DmScope::PerAccountChannelPeer),
            ],
        )
        .unwrap_or(DmScope::Main);
    let main_key = o.nonempty(cx, "mainKey").map(|k| k.trim().to_lowercase()).unwrap_or_else(|| "main".into());
    let store = o.nonempty(cx, "store").map(|s| expand_home(&s, home));
    let mut r = o.child(cx, "reset");
    r.choice(cx, "mode", &[("daily", ()), ("idle", ())]);
    let reset_at_hour = r.uint(cx, "atHour", 0, 23);
    let reset_idle_minutes = r.uint(cx, "idleMinutes", 1, u32::MAX as u64);
    r.finish(cx);
    o.ignored(
        cx,
        &["resetByType", "resetByChannel", "resetTriggers", "identityLinks", "typingIntervalSeconds", "typingMode", "sendPolicy", "agentToAgent", "idleMinutes", "maintenance", "threadBindings"],
    );
    o.finish(cx);
    Session { global_scope, dm_scope, main_key, store, reset_at_hour, reset_idle_minutes }
}

const AUTH_MODES: &[(&str, &str)] = &[("api_key", "api_key"), ("oauth", "oauth"), ("token", "token")];

fn read_auth(mut o: Obj<'_>, cx: &mut Cx) -> AuthSection {
    let profiles = o
        .map_of(cx, "profiles", |cx, path, _id, v| {
            let mut p = Obj::new(cx, Some(v), path);
            let provider = p.nonempty(cx, "provider");
            if provider.is_none() && v.get("provider").is_none() {
                cx.err(&join(path, "provider"), "required");
            }
            let mode = p.choice(cx, "mode", AUTH_MODES).unwrap_or("api_key").to_string();
            p.string(cx, "email");
            p.finish(cx);
            Some(AuthProfileMeta { provider: provider?, mode })
        })
        .unwrap_or_default();
    let order = o.map_of(cx, "order", |cx, path, _p, v| super::reader::strings_value(cx, path, v)).unwrap_or_default();
    o.ignored(cx, &["cooldowns"]);
    o.finish(cx);
    AuthSection { profiles, order }
}

/// `wizard.*`: what `openclaw onboard` last wrote (read for validation only).
fn read_wizard(mut o: Obj<'_>, cx: &mut Cx) {
    for key in ["lastRunAt", "lastRunVersion", "lastRunCommit", "lastRunCommand"] {
        o.string(cx, key);
    }
    o.choice(cx, "lastRunMode", &[("local", ()), ("remote", ())]);
    o.finish(cx);
}

fn read_env_block(mut o: Obj<'_>, cx: &mut Cx) -> BTreeMap<String, String> {
    let mut vars = o.string_map(cx, "vars").unwrap_or_default();
    let mut s = o.child(cx, "shellEnv");
    if s.bool(cx, "enabled") == Some(true) {
        cx.warn(&s.at("enabled"), "importing the login shell's environment is not supported by this build; ignored");
    }
    s.uint(cx, "timeoutMs", 0, 600_000);
    s.finish(cx);
    // Any other key is a variable given inline.
    for (name, v) in o.rest() {
        let path = join(&o.path, &name);
        match v {
            Value::String(v) if super::env::is_env_name(&name, false) => {
                vars.insert(name, v.clone());
            }
            Value::String(_) => cx.err(&path, "not a valid environment variable name"),
            other => wrong_type(cx, &path, "a string", other),
        }
    }
    o.finish(cx);
    vars
}

/// A config read from a JSON value with home `/h`, for unit tests of the
/// modules that take a `Config`; panics on any problem.
#[cfg(test)]
pub(crate) fn from_json_for_tests(json: Value) -> Config {
    let paths = Paths { home: "/h".into(), state_dir: "/h/.openclaw".into(), config_path: "/h/.openclaw/openclaw.json".into() };
    let mut cx = Cx::default();
    let config = read(&mut cx, &json, &paths);
    assert!(cx.issues.is_empty(), "{:?}", cx.issues);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids() {
        assert_eq!(normalize_agent_id("  Work "), "work");
        assert_eq!(normalize_agent_id("Family Agent!"), "family-agent");
        assert_eq!(normalize_agent_id("--"), "main");
        assert_eq!(normalize_agent_id(""), "main");
        assert_eq!(normalize_agent_id(&"a".repeat(80)).len(), 64);
    }
}
