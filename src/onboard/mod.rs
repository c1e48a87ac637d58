//! `openclaw onboard`: the setup wizard, with questions on a plain terminal or
//! fully from flags (`--non-interactive --accept-risk`).
//!
//! The steps, in upstream's order: risk acknowledgement ("Continue?", default
//! No) → an optional reset (`--reset`, or "Reset" under "Config handling"
//! when a config exists) → flow (QuickStart or Manual) → where the gateway
//! runs (local, or remote: only this machine's client settings) → workspace
//! → model/auth ([`auth`]) → gateway port, bind and auth → chat channel tokens
//! → the config write → workspace bootstrap files and the sessions folder →
//! service (not installed by onboarding; skipped in containers) → health →
//! a summary with the dashboard link (and an SSH tunnel hint when headless).
//!
//! All config changes are collected as dotted-path edits and applied in one
//! validated, atomic write of `openclaw.json` (unknown keys kept, the previous
//! file in `.bak`), so a failed run leaves the config as it was. An existing
//! gateway token is reused; only `--gateway-token` replaces it. Reset never
//! deletes: files are moved aside with a `.reset-<time>` suffix.

mod auth;
pub mod prompt;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::model::{AuthMode, Bind, Config};
use crate::config::{self, edit};
use crate::gateway::client::{self, Client};
use crate::gateway::startup;
use crate::paths::{Env, Paths};
use prompt::Prompter;

/// The flags of `openclaw onboard` (reference §4.1), as given; checked by
/// [`run`] so bad values are reported with upstream's texts. Its `Debug`
/// names the flags given, never their values (keys and tokens among them).
#[derive(Clone, Default, PartialEq)]
pub struct Opts {
    pub non_interactive: bool,
    pub accept_risk: bool,
    pub reset: bool,
    pub skip_channels: bool,
    pub skip_skills: bool,
    pub skip_ui: bool,
    pub skip_health: bool,
    pub skip_daemon: bool,
    /// `--install-daemon`: install the systemd service (`openclaw gateway install`).
    pub install_daemon: bool,
    /// The `--profile` the command runs under (names the service unit).
    pub profile: Option<String>,
    pub json: bool,
    pub workspace: Option<String>,
    pub flow: Option<String>,
    pub mode: Option<String>,
    pub remote_url: Option<String>,
    pub remote_token: Option<String>,
    pub reset_scope: Option<String>,
    pub gateway_port: Option<String>,
    pub gateway_bind: Option<String>,
    pub gateway_auth: Option<String>,
    pub gateway_token: Option<String>,
    pub gateway_password: Option<String>,
    pub auth_choice: Option<String>,
    pub openai_api_key: Option<String>,
    pub anthropic_api_key: Option<String>,
    pub custom_base_url: Option<String>,
    pub custom_model_id: Option<String>,
    pub custom_api_key: Option<String>,
    pub custom_compatibility: Option<String>,
    pub custom_provider_id: Option<String>,
    pub secret_input_mode: Option<String>,
}

impl Opts {
    /// The flags without a value.
    pub const SWITCHES: &'static [&'static str] = &[
        "non-interactive", "accept-risk", "reset", "skip-channels", "skip-skills", "skip-ui", "skip-health", "skip-daemon",
        "no-install-daemon", "install-daemon", "json",
    ];
    /// The flags with a value.
    pub const VALUES: &'static [&'static str] = &[
        "workspace", "flow", "mode", "remote-url", "remote-token", "reset-scope", "gateway-port", "gateway-bind",
        "gateway-auth", "gateway-token", "gateway-password", "auth-choice", "openai-api-key", "anthropic-api-key",
        "custom-base-url", "custom-model-id", "custom-api-key", "custom-compatibility", "custom-provider-id",
        "secret-input-mode",
    ];

    /// Sets a flag of [`Opts::SWITCHES`].
    pub fn switch(&mut self, name: &str) {
        match name {
            "non-interactive" => self.non_interactive = true,
            "accept-risk" => self.accept_risk = true,
            "reset" => self.reset = true,
            "skip-channels" => self.skip_channels = true,
            "skip-skills" => self.skip_skills = true,
            "skip-ui" => self.skip_ui = true,
            "skip-health" => self.skip_health = true,
            "json" => self.json = true,
            "install-daemon" => self.install_daemon = true,
            _ => self.skip_daemon = true,
        }
    }

    /// Sets a flag of [`Opts::VALUES`].
    pub fn set(&mut self, name: &str, value: String) {
        *self.slot(name) = Some(value);
    }

    fn slot(&mut self, name: &str) -> &mut Option<String> {
        match name {
            "workspace" => &mut self.workspace,
            "flow" => &mut self.flow,
            "mode" => &mut self.mode,
            "remote-url" => &mut self.remote_url,
            "remote-token" => &mut self.remote_token,
            "reset-scope" => &mut self.reset_scope,
            "gateway-port" => &mut self.gateway_port,
            "gateway-bind" => &mut self.gateway_bind,
            "gateway-auth" => &mut self.gateway_auth,
            "gateway-token" => &mut self.gateway_token,
            "gateway-password" => &mut self.gateway_password,
            "auth-choice" => &mut self.auth_choice,
            "openai-api-key" => &mut self.openai_api_key,
            "anthropic-api-key" => &mut self.anthropic_api_key,
            "custom-base-url" => &mut self.custom_base_url,
            "custom-model-id" => &mut self.custom_model_id,
            "custom-api-key" => &mut self.custom_api_key,
            "custom-compatibility" => &mut self.custom_compatibility,
            "custom-provider-id" => &mut self.custom_provider_id,
            _ => &mut self.secret_input_mode,
        }
    }
}

impl std::fmt::Debug for Opts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut copy = self.clone();
        let given: Vec<&str> = Opts::VALUES.iter().copied().filter(|n| copy.slot(n).is_some()).collect();
        write!(f, "Opts {{ non_interactive: {}, accept_risk: {}, values given: {given:?} }}", self.non_interactive, self.accept_risk)
    }
}

/// Config changes: a dotted path and its new value (`None`: remove it).
pub(crate) type Edits = Vec<(String, Option<Value>)>;

pub(crate) fn set(edits: &mut Edits, path: &str, v: Value) {
    edits.push((path.to_string(), Some(v)));
}

const RISK_REFUSED: &str = "Non-interactive onboarding requires explicit risk acknowledgement.\n\
Read: https://docs.openclaw.ai/security\n\
Re-run with: openclaw onboard --non-interactive --accept-risk ...";
const RISK_QUESTION: &str = "I understand this is powerful and inherently risky. Continue?";
const RISK_NOTE: &str = "openclaw runs an AI agent with tools: it can read and write files and run commands.
A message, web page or file it reads can trick it into doing something harmful.

Before you connect chat channels or expose the gateway:
- keep DM pairing on (new contacts must be approved),
- run other sessions' tools in Docker sandboxes (agents.defaults.sandbox.mode \"non-main\"),
- allow only the tools an agent needs, and keep secrets out of its workspace,
- use the strongest model you can for agents that read untrusted input.

Check your setup with: openclaw doctor";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    QuickStart,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Local,
    Remote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResetScope {
    Config,
    ConfigCredsSessions,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handling {
    Keep,
    Modify,
}

/// The flags, checked before anything is asked or changed.
struct Checked {
    flow: Option<Flow>,
    mode: Option<Mode>,
    reset: Option<ResetScope>,
    port: Option<u16>,
    bind: Option<Bind>,
    auth: Option<AuthMode>,
    choice: Option<auth::Choice>,
}

fn check(o: &Opts) -> Result<Checked, String> {
    let flow = match o.flow.as_deref().map(str::trim) {
        None => None,
        Some("quickstart") => Some(Flow::QuickStart),
        Some("manual" | "advanced") => Some(Flow::Manual),
        Some(_) => return Err("Invalid --flow (use quickstart, manual, or advanced).".into()),
    };
    let mode = match o.mode.as_deref().map(str::trim) {
        None => None,
        Some("local") => Some(Mode::Local),
        Some("remote") => Some(Mode::Remote),
        Some(_) => return Err("Invalid --mode (use local or remote).".into()),
    };
    let scope = match o.reset_scope.as_deref().map(str::trim) {
        None => ResetScope::ConfigCredsSessions,
        Some("config") => ResetScope::Config,
        Some("config+creds+sessions") => ResetScope::ConfigCredsSessions,
        Some("full") => ResetScope::Full,
        Some(_) => return Err("Invalid --reset-scope (use config, config+creds+sessions, or full).".into()),
    };
    let port = match &o.gateway_port {
        None => None,
        Some(p) => Some(startup::parse_port(p).map_err(|_| "Invalid --gateway-port".to_string())?),
    };
    let bind = match o.gateway_bind.as_deref() {
        None => None,
        Some(b) => Some(parse_bind(b).ok_or("Invalid --gateway-bind (use loopback, lan, tailnet, auto, or custom).")?),
    };
    let auth = match o.gateway_auth.as_deref().map(str::trim) {
        None if o.gateway_password.is_some() && o.gateway_token.is_none() => Some(AuthMode::Password),
        None if o.gateway_password.is_some() => return Err("Both --gateway-token and --gateway-password given: pick one with --gateway-auth token|password.".into()),
        None => None,
        Some("token") => Some(AuthMode::Token),
        Some("password") => Some(AuthMode::Password),
        Some(_) => return Err("Invalid --gateway-auth (use token|password).".into()),
    };
    if let Some(t) = &o.gateway_token
        && startup::is_placeholder(t)
    {
        return Err(format!("Invalid --gateway-token: {t:?} is a placeholder, not a secret (make one with: openssl rand -hex 32)."));
    }
    if let Some(m) = o.secret_input_mode.as_deref()
        && m != "plaintext"
        && m != "ref"
    {
        return Err("Invalid --secret-input-mode (use plaintext or ref).".into());
    }
    let choice = auth::from_flags(o)?;
    Ok(Checked { flow, mode, reset: (o.reset || o.reset_scope.is_some()).then_some(scope), port, bind, auth, choice })
}

fn parse_bind(s: &str) -> Option<Bind> {
    match s.trim() {
        "loopback" => Some(Bind::Loopback),
        "lan" => Some(Bind::Lan),
        "tailnet" => Some(Bind::Tailnet),
        "auto" => Some(Bind::Auto),
        "custom" => Some(Bind::Custom),
        _ => None,
    }
}

/// Where output goes, and the questions when there are any.
pub(crate) struct Ui {
    pub interactive: bool,
    /// `--json`: the summary is the only thing on stdout; the rest goes to stderr.
    json: bool,
    prompter: Option<Prompter>,
}

impl Ui {
    fn out(&self) -> Box<dyn Write + Send> {
        if self.json { Box::new(io::stderr()) } else { Box::new(io::stdout()) }
    }

    /// The questions (standard input is read from the first call on).
    pub fn prompter(&mut self) -> &mut Prompter {
        if self.prompter.is_none() {
            self.prompter = Some(Prompter::stdin(self.out()));
        }
        self.prompter.as_mut().expect("just set")
    }

    pub fn say(&mut self, text: &str) {
        let mut out = self.out();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Text that an answer follows on the same line.
    pub fn prompt_line(&mut self, text: &str) {
        let mut out = self.out();
        let _ = write!(out, "{text}");
        let _ = out.flush();
    }

    pub fn note(&mut self, title: &str, body: &str) {
        let mut text = format!("\n◇ {title}\n");
        for line in body.lines() {
            text.push_str(&format!("│ {line}\n"));
        }
        self.prompt_line(&text);
    }

    fn ask<T>(&mut self, f: impl FnOnce(&mut Prompter) -> Result<T, prompt::PromptError>) -> Result<T, String> {
        f(self.prompter()).map_err(|e| e.to_string())
    }
}

/// Runs `openclaw onboard`; errors are printed, exit code 1.
pub fn run(opts: Opts, paths: &Paths, env: &Env, cwd: Option<&Path>) -> std::process::ExitCode {
    let mut ui = Ui { interactive: !opts.non_interactive, json: opts.json, prompter: None };
    match onboard(&opts, paths, env, cwd, &mut ui) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::ExitCode::from(crate::app::FAILURE)
        }
    }
}

fn onboard(opts: &Opts, paths: &Paths, env: &Env, cwd: Option<&Path>, ui: &mut Ui) -> Result<(), String> {
    if opts.non_interactive && !opts.accept_risk {
        return Err(RISK_REFUSED.into());
    }
    let c = check(opts)?;
    if ui.interactive {
        ui.say(&format!("openclaw onboarding ({} {})", crate::VERSION, crate::GIT_COMMIT));
    }
    if !opts.accept_risk {
        ui.note("Security", RISK_NOTE);
        if !ui.ask(|p| p.confirm(RISK_QUESTION, false))? {
            return Err("Setup cancelled: the risk was not accepted. Nothing was changed.".into());
        }
    }
    if let Some(scope) = c.reset {
        reset(scope, opts, paths, env, cwd, ui)?;
    }
    let mut loaded = load(paths, env, cwd)?;
    let mut flow = match c.flow {
        Some(f) => f,
        None if ui.interactive => {
            let options = [
                ("quickstart", "QuickStart", "sensible defaults; change them later with openclaw config set"),
                ("manual", "Manual", "choose port, bind, auth and workspace"),
            ];
            match ui.ask(|p| p.select("Onboarding mode", &options, "quickstart"))? {
                "manual" => Flow::Manual,
                _ => Flow::QuickStart,
            }
        }
        None => Flow::QuickStart,
    };
    if c.mode == Some(Mode::Remote) && flow == Flow::QuickStart {
        if ui.interactive {
            ui.note("QuickStart", "QuickStart only sets up a local gateway. Switching to Manual.");
        }
        flow = Flow::Manual;
    }
    let mut handling = Handling::Modify;
    if loaded.exists && ui.interactive && c.reset.is_none() {
        ui.note("Existing config detected", &summarize(&loaded.raw, &loaded.path));
        let options = [("keep", "Use existing values", ""), ("modify", "Update values", ""), ("reset", "Reset", "moves files aside; nothing is deleted")];
        match ui.ask(|p| p.select("Config handling", &options, "keep"))? {
            "keep" => handling = Handling::Keep,
            "reset" => {
                let scopes = [
                    ("config", "Config only", ""),
                    ("config+creds+sessions", "Config + creds + sessions", ""),
                    ("full", "Full reset (config + creds + sessions + workspace)", ""),
                ];
                let scope = match ui.ask(|p| p.select("Reset scope", &scopes, "config"))? {
                    "full" => ResetScope::Full,
                    "config+creds+sessions" => ResetScope::ConfigCredsSessions,
                    _ => ResetScope::Config,
                };
                reset(scope, opts, paths, env, cwd, ui)?;
                loaded = load(paths, env, cwd)?;
            }
            _ => {}
        }
    }
    let mode = match c.mode {
        Some(m) => m,
        None if ui.interactive && flow == Flow::Manual => {
            let options = [("local", "Local gateway (this machine)", ""), ("remote", "Remote gateway (only this machine's client settings)", "")];
            match ui.ask(|p| p.select("Where will the Gateway run?", &options, "local"))? {
                "remote" => Mode::Remote,
                _ => Mode::Local,
            }
        }
        None => Mode::Local,
    };
    match mode {
        Mode::Remote => remote(opts, paths, env, cwd, &loaded, ui),
        Mode::Local => local(opts, &c, Steps { flow, handling }, paths, env, cwd, &loaded, ui),
    }
}

fn load(paths: &Paths, env: &Env, cwd: Option<&Path>) -> Result<config::Loaded, String> {
    config::load(paths, env, cwd).map_err(|e| match e {
        config::Error::Invalid { .. } => format!("{e}\nRepair the config (openclaw doctor), then run onboarding again; nothing was changed."),
        other => other.to_string(),
    })
}

/// The key settings of an existing config.
fn summarize(raw: &Value, path: &Path) -> String {
    let mut rows = vec![format!("file: {}", path.display())];
    let model = &raw["agents"]["defaults"]["model"];
    let fields = [
        ("workspace", raw["agents"]["defaults"]["workspace"].as_str().map(str::to_string)),
        ("model", model.as_str().or(model["primary"].as_str()).map(str::to_string)),
        ("gateway.mode", raw["gateway"]["mode"].as_str().map(str::to_string)),
        ("gateway.port", raw["gateway"]["port"].as_u64().map(|p| p.to_string())),
        ("gateway.bind", raw["gateway"]["bind"].as_str().map(str::to_string)),
        ("gateway.remote.url", raw["gateway"]["remote"]["url"].as_str().map(str::to_string)),
    ];
    rows.extend(fields.into_iter().filter_map(|(k, v)| v.map(|v| format!("{k}: {v}"))));
    rows.join("\n")
}

/// Moves what a reset of `scope` covers aside (`<path>.reset-<time>`).
fn reset(scope: ResetScope, opts: &Opts, paths: &Paths, env: &Env, cwd: Option<&Path>, ui: &mut Ui) -> Result<(), String> {
    let (workspace, agent_dir, sessions) = match config::load(paths, env, cwd) {
        Ok(l) => {
            let id = l.config.default_agent_id();
            (l.config.workspace_for(&id), l.config.agent_dir(&id), paths.state_dir.join("agents").join(&id).join("sessions"))
        }
        Err(_) => (paths.default_workspace(), paths.state_dir.join("agents/main/agent"), paths.state_dir.join("agents/main/sessions")),
    };
    let workspace = opts.workspace.as_deref().map(|w| user_path(w, &paths.home, cwd)).unwrap_or(workspace);
    let iso = crate::agent::sessions::iso(crate::now_ms());
    let digits: String = iso.chars().filter(char::is_ascii_digit).collect();
    let stamp = format!("{}-{}", &digits[..8], &digits[8..14]);
    let mut targets = vec![paths.config_path.clone()];
    if scope != ResetScope::Config {
        targets.extend([paths.state_dir.join("credentials"), agent_dir.join(crate::auth::FILE_NAME), sessions]);
    }
    if scope == ResetScope::Full {
        targets.push(workspace);
    }
    for from in targets {
        if std::fs::symlink_metadata(&from).is_err() {
            continue;
        }
        let mut name = from.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".reset-{stamp}"));
        let to = from.with_file_name(name);
        std::fs::rename(&from, &to).map_err(|e| format!("Reset: cannot move {} aside: {e}", from.display()))?;
        ui.say(&format!("Moved aside: {} → {}", from.display(), to.display()));
    }
    Ok(())
}

/// `~` expanded; a relative path is taken from the working folder.
fn user_path(p: &str, home: &Path, cwd: Option<&Path>) -> PathBuf {
    let p = crate::paths::expand_home(p.trim(), home);
    match cwd {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p,
    }
}

fn wizard_metadata(edits: &mut Edits, mode: Mode) {
    set(edits, "wizard.lastRunAt", json!(crate::agent::sessions::iso(crate::now_ms())));
    set(edits, "wizard.lastRunVersion", json!(crate::VERSION));
    set(edits, "wizard.lastRunCommit", json!(crate::GIT_COMMIT));
    set(edits, "wizard.lastRunCommand", json!("onboard"));
    set(edits, "wizard.lastRunMode", json!(if mode == Mode::Local { "local" } else { "remote" }));
}

/// One validated, atomic write of every edit.
fn write_config(paths: &Paths, env: &Env, cwd: Option<&Path>, edits: &Edits, ui: &mut Ui) -> Result<(), String> {
    config::write::update(paths, env, cwd, |root| {
        for (path, value) in edits {
            match value {
                Some(v) => edit::set(root, path, v.clone())?,
                None => match edit::unset(root, path) {
                    Ok(_) | Err(edit::Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                },
            }
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    ui.say(&format!("Updated {}", paths.config_path.display()));
    Ok(())
}

fn remote(opts: &Opts, paths: &Paths, env: &Env, cwd: Option<&Path>, loaded: &config::Loaded, ui: &mut Ui) -> Result<(), String> {
    let check_url = |u: &str| {
        let u = u.trim();
        match client::parse_url(u) {
            Ok(_) => Ok(u.to_string()),
            Err(_) if u.starts_with("wss://") => Ok(u.to_string()),
            Err(_) => Err(format!("\"{u}\" is not a gateway URL such as ws://gateway-host:18789")),
        }
    };
    let url = match (&opts.remote_url, ui.interactive) {
        (Some(u), _) => check_url(u).map_err(|e| format!("Invalid --remote-url: {e}."))?,
        (None, true) => {
            let current = loaded.raw["gateway"]["remote"]["url"].as_str().unwrap_or("ws://127.0.0.1:18789").to_string();
            ui.ask(|p| p.text("Gateway WebSocket URL", Some(&current), check_url))?
        }
        (None, false) => return Err("Missing --remote-url (non-interactive remote mode).".into()),
    };
    let token = match (&opts.remote_token, ui.interactive) {
        (Some(t), _) => Some(t.clone()),
        (None, true) => Some(ui.ask(|p| p.secret("Gateway token (blank for none)", true, auth::check_key))?).filter(|t| !t.is_empty()),
        (None, false) => None,
    };
    let mut edits = Edits::new();
    set(&mut edits, "gateway.mode", json!("remote"));
    set(&mut edits, "gateway.remote.url", json!(url));
    match &token {
        Some(t) => set(&mut edits, "gateway.remote.token", json!(t)),
        None => edits.push(("gateway.remote.token".into(), None)),
    }
    wizard_metadata(&mut edits, Mode::Remote);
    write_config(paths, env, cwd, &edits, ui)?;
    if url.starts_with("wss://") {
        ui.say("Note: the CLI speaks ws:// only; reach a wss:// gateway through an SSH tunnel (ssh -N -L 18789:127.0.0.1:18789 <host>).");
    }
    if opts.json {
        let summary = json!({"mode": "remote", "remoteUrl": url, "auth": if token.is_some() { "token" } else { "none" }});
        println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    } else {
        ui.say("Remote gateway configured.");
    }
    Ok(())
}

/// The choices that decide which questions are asked.
#[derive(Clone, Copy)]
struct Steps {
    flow: Flow,
    handling: Handling,
}

/// What the gateway step decided.
struct Gateway {
    port: u16,
    bind: Bind,
    auth: AuthMode,
    /// The token or password, for the dashboard link and the health check.
    secret: Option<String>,
    tailscale: String,
    custom_host: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn local(opts: &Opts, c: &Checked, steps: Steps, paths: &Paths, env: &Env, cwd: Option<&Path>, loaded: &config::Loaded, ui: &mut Ui) -> Result<(), String> {
    let (raw, config) = (&loaded.raw, &loaded.config);
    let ask_all = ui.interactive && steps.flow == Flow::Manual && steps.handling == Handling::Modify;
    let agent_id = config.default_agent_id();
    let mut edits = Edits::new();

    let workspace = match &opts.workspace {
        Some(w) => user_path(w, &paths.home, cwd),
        None if ask_all => {
            let current = config.workspace_for(&agent_id).display().to_string();
            let check = |w: &str| if w.trim().is_empty() { Err("give a folder".to_string()) } else { Ok(w.trim().to_string()) };
            let w = ui.ask(|p| p.text("Workspace directory", Some(&current), check))?;
            user_path(&w, &paths.home, cwd)
        }
        None => config.workspace_for(&agent_id),
    };
    set(&mut edits, "agents.defaults.workspace", json!(workspace.display().to_string()));
    set(&mut edits, "gateway.mode", json!("local"));

    let current_model = crate::agent::models::refs_for(config, &loaded.env, &agent_id).into_iter().next();
    let choice = match c.choice {
        Some(choice) => choice,
        None if ui.interactive && !(steps.handling == Handling::Keep && current_model.is_some()) => auth::ask(ui, current_model.as_deref())?,
        None => auth::Choice::Skip,
    };
    let acx = auth::Cx { opts, env: &loaded.env, raw, store: crate::auth::file_for(config, &agent_id) };
    let auth_line = auth::apply(choice, &acx, ui, &mut edits)?;

    let gw = gateway(opts, c, ask_all, loaded, ui, &mut edits)?;
    if ui.interactive && !opts.skip_channels {
        channels(raw, ui, &mut edits)?;
    }
    if raw["tools"]["profile"].is_null() {
        set(&mut edits, "tools.profile", json!("coding"));
    }
    wizard_metadata(&mut edits, Mode::Local);
    write_config(paths, env, cwd, &edits, ui)?;

    let skip_bootstrap = config.agents.defaults.skip_bootstrap;
    crate::agent::bootstrap::seed(&workspace, skip_bootstrap).map_err(|e| format!("cannot set up the workspace {}: {e}", workspace.display()))?;
    ui.say(&format!("Workspace OK: {}", workspace.display()));
    let sessions = paths.state_dir.join("agents").join(&agent_id).join("sessions");
    crate::fsutil::ensure_private_dir(&sessions).map_err(|e| format!("cannot create {}: {e}", sessions.display()))?;
    ui.say(&format!("Sessions OK: {}", sessions.display()));

    if !opts.skip_daemon {
        if in_container() {
            ui.say("Gateway service: skipped (running in a container; the container runtime keeps the gateway running).");
        } else if opts.install_daemon {
            let action = crate::service::Action::Install { port: Some(gw.port.to_string()), force: false };
            if crate::service::run(action, paths, env, opts.profile.as_deref(), cwd) != std::process::ExitCode::SUCCESS {
                return Err("installing the gateway service failed (see above); the config is written, fix that and run `openclaw gateway install`".into());
            }
        } else {
            ui.say("Gateway service: not installed by onboarding. Run `openclaw gateway` (or under systemd, see the README).");
        }
    }
    if !opts.skip_health {
        health(paths, &gw, ui)?;
    }
    finish(opts, choice, &gw, &workspace, auth_line.as_deref(), loaded, ui);
    Ok(())
}

fn gateway(opts: &Opts, c: &Checked, ask_all: bool, loaded: &config::Loaded, ui: &mut Ui, edits: &mut Edits) -> Result<Gateway, String> {
    let (raw, g) = (&loaded.raw["gateway"], &loaded.config.gateway);
    let port = match c.port {
        Some(p) => p,
        None if ask_all => {
            let current = g.port.unwrap_or(startup::DEFAULT_PORT).to_string();
            let check = |p: &str| startup::parse_port(p).map(|p| p.to_string()).map_err(|_| "give a port number (1-65535)".to_string());
            ui.ask(|p| p.text("Gateway port", Some(&current), check))?.parse().unwrap_or(startup::DEFAULT_PORT)
        }
        None => g.port.unwrap_or(startup::DEFAULT_PORT),
    };
    // Docker setups pass the bind they need in OPENCLAW_GATEWAY_BIND.
    let current_bind = if raw["bind"].is_null() {
        loaded.env.get("OPENCLAW_GATEWAY_BIND").and_then(|b| parse_bind(b)).unwrap_or(Bind::Loopback)
    } else {
        g.bind
    };
    let bind = match c.bind {
        Some(b) => b,
        None if ask_all => {
            let options = [
                ("loopback", "Loopback (127.0.0.1)", "this machine only"),
                ("lan", "LAN (0.0.0.0)", "other machines and Docker port mappings"),
                ("tailnet", "Tailnet (Tailscale IP)", ""),
                ("auto", "Auto (loopback, else LAN)", ""),
                ("custom", "Custom IP", ""),
            ];
            parse_bind(ui.ask(|p| p.select("Gateway bind", &options, startup::bind_name(current_bind)))?).unwrap_or(Bind::Loopback)
        }
        None => current_bind,
    };
    let mut custom_host = g.custom_bind_host.clone();
    if bind == Bind::Custom && (custom_host.is_none() || ask_all) {
        if !ui.interactive {
            return Err("--gateway-bind custom needs gateway.customBindHost: set it first with openclaw config set gateway.customBindHost <IPv4 address>.".into());
        }
        let check = |h: &str| h.trim().parse::<std::net::Ipv4Addr>().map(|ip| ip.to_string()).map_err(|_| "give an IPv4 address such as 192.168.1.100".to_string());
        let host = ui.ask(|p| p.text("Custom IP address", custom_host.as_deref(), check))?;
        set(edits, "gateway.customBindHost", json!(host));
        custom_host = Some(host);
    }
    let current_auth = match g.auth.mode {
        Some(AuthMode::Password) => AuthMode::Password,
        None if g.auth.password.is_some() && g.auth.token.is_none() => AuthMode::Password,
        _ => AuthMode::Token,
    };
    let auth = match c.auth {
        Some(a) => a,
        None if ask_all => {
            let options = [("token", "Token", "recommended, also on loopback"), ("password", "Password", "")];
            let current = if current_auth == AuthMode::Password { "password" } else { "token" };
            match ui.ask(|p| p.select("Gateway auth", &options, current))? {
                "password" => AuthMode::Password,
                _ => AuthMode::Token,
            }
        }
        None => current_auth,
    };
    let secret = match auth {
        AuthMode::Password => Some(password(opts, loaded, ui, edits)?),
        _ => token(opts, ask_all, loaded, ui, edits)?,
    };
    set(edits, "gateway.auth.mode", json!(if auth == AuthMode::Password { "password" } else { "token" }));
    set(edits, "gateway.port", json!(port));
    set(edits, "gateway.bind", json!(startup::bind_name(bind)));
    let tailscale = match raw["tailscale"]["mode"].as_str() {
        Some(m) => m.to_string(),
        None => {
            set(edits, "gateway.tailscale.mode", json!("off"));
            "off".to_string()
        }
    };
    Ok(Gateway { port, bind, auth, secret, tailscale, custom_host })
}

/// The gateway token: `--gateway-token`, an answer, the one in the config
/// (kept as written), `OPENCLAW_GATEWAY_TOKEN`, else a new one.
fn token(opts: &Opts, ask_all: bool, loaded: &config::Loaded, ui: &mut Ui, edits: &mut Edits) -> Result<Option<String>, String> {
    let existing = !loaded.raw["gateway"]["auth"]["token"].is_null();
    let mut given = opts.gateway_token.clone();
    if given.is_none() && ask_all {
        let question = if existing { "Gateway token (blank to keep the current one)" } else { "Gateway token (blank to generate one)" };
        let check = |t: &str| {
            if t.is_empty() {
                Ok(String::new())
            } else if startup::is_placeholder(t) || t.contains(char::is_whitespace) {
                Err("that is a placeholder or has spaces; leave it blank to generate one".to_string())
            } else {
                Ok(t.to_string())
            }
        };
        given = Some(ui.ask(|p| p.text(question, None, check))?).filter(|t| !t.is_empty());
    }
    let from_env = loaded.env.get("OPENCLAW_GATEWAY_TOKEN").filter(|t| !t.trim().is_empty()).cloned();
    let token = match (given, existing) {
        (Some(t), _) => {
            set(edits, "gateway.auth.token", json!(t));
            Some(t)
        }
        // Reused as written (a ${VAR} stays a reference).
        (None, true) => loaded.config.gateway.auth.token.as_ref().and_then(|s| s.value(&loaded.env).ok()),
        (None, false) => {
            let t = match from_env.clone() {
                Some(t) => t,
                None => crate::crypto::random_hex_token(32).map_err(|e| format!("cannot generate a gateway token: {e}"))?,
            };
            set(edits, "gateway.auth.token", json!(t));
            Some(t)
        }
    };
    if let (Some(e), Some(t)) = (&from_env, &token)
        && e != t
    {
        ui.say("Note: OPENCLAW_GATEWAY_TOKEN is set and differs from gateway.auth.token; the environment variable wins when the gateway starts.");
    }
    Ok(token)
}

fn password(opts: &Opts, loaded: &config::Loaded, ui: &mut Ui, edits: &mut Edits) -> Result<String, String> {
    let existing = loaded.config.gateway.auth.password.as_ref().and_then(|s| s.value(&loaded.env).ok());
    let check = |p: &str| if startup::is_placeholder(p) { Err("that is a placeholder, not a password".to_string()) } else { Ok(()) };
    let given = match (&opts.gateway_password, ui.interactive) {
        (Some(p), _) => {
            check(p).map_err(|e| format!("Invalid --gateway-password: {e}."))?;
            Some(p.clone())
        }
        (None, true) => {
            let question = if existing.is_some() { "Gateway password (blank to keep the current one)" } else { "Gateway password" };
            Some(ui.ask(|p| p.secret(question, existing.is_some(), check))?).filter(|p| !p.is_empty())
        }
        (None, false) => None,
    };
    match (given, existing) {
        (Some(p), _) => {
            set(edits, "gateway.auth.password", json!(p));
            Ok(p)
        }
        (None, Some(p)) => Ok(p),
        (None, None) => Err("Missing --gateway-password for password auth.".into()),
    }
}

/// Telegram and Discord bot tokens (blank skips; `openclaw channels` does the rest).
fn channels(raw: &Value, ui: &mut Ui, edits: &mut Edits) -> Result<(), String> {
    ui.note(
        "Channels",
        "Chat with the agent from Telegram or Discord: paste a bot token, or leave it blank.\n\
         New contacts must be approved before the agent answers them (DM pairing).",
    );
    let telegram = |t: &str| {
        let ok = t.split_once(':').is_some_and(|(id, rest)| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && rest.len() >= 20 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        if ok { Ok(()) } else { Err("a Telegram bot token looks like 123456789:AAH… (from @BotFather)".to_string()) }
    };
    let discord = |t: &str| {
        if t.len() >= 30 && !t.contains(char::is_whitespace) { Ok(()) } else { Err("that is not a Discord bot token (Developer Portal → Bot → Reset Token)".to_string()) }
    };
    type Check<'a> = &'a dyn Fn(&str) -> Result<(), String>;
    let slots: [(&str, &str, &str, Check); 2] = [
        ("channels.telegram.botToken", "Telegram bot token from @BotFather", "telegram", &telegram),
        ("channels.discord.token", "Discord bot token", "discord", &discord),
    ];
    for (path, label, channel, check) in slots {
        let key = path.rsplit('.').next().unwrap_or_default();
        let has = !raw["channels"][channel][key].is_null();
        let question = format!("{label} ({})", if has { "blank to keep the current one" } else { "blank to skip" });
        let token = ui.ask(|p| p.secret(&question, true, check))?;
        if !token.is_empty() {
            set(edits, path, json!(token));
        }
    }
    Ok(())
}

/// Probes the gateway: non-interactive runs wait up to 15 s and fail when it
/// does not answer; interactive runs try once and only report.
fn health(paths: &Paths, gw: &Gateway, ui: &mut Ui) -> Result<(), String> {
    let host = match (gw.bind, &gw.custom_host) {
        (Bind::Custom, Some(h)) => h.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let (token, password) = match gw.auth {
        AuthMode::Password => (None, gw.secret.clone()),
        _ => (gw.secret.clone(), None),
    };
    let options = |timeout| client::Options {
        url: format!("ws://{host}:{}", gw.port),
        token: token.clone(),
        password: password.clone(),
        timeout,
        scopes: vec!["operator.read".into()],
        device: client::cli_device(&paths.state_dir),
    };
    let probe = |timeout| -> Result<Value, String> {
        let mut c = Client::connect(&options(timeout)).map_err(|e| e.to_string())?;
        let h = c.call("health", json!({})).map_err(|e| e.to_string());
        c.close();
        h
    };
    let wait = if ui.interactive { Duration::ZERO } else { Duration::from_secs(15) };
    let until = Instant::now() + wait;
    let result = loop {
        match probe(Duration::from_secs(2)) {
            Ok(h) => break Ok(h),
            Err(e) if Instant::now() >= until => break Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    match result {
        Ok(h) => {
            ui.note("Health", crate::companion::format_health(&h).trim_end());
            Ok(())
        }
        Err(e) if ui.interactive => {
            ui.note(
                "Health",
                &format!(
                    "The gateway is not running yet ({e}).\nStart it with `openclaw gateway` (Docker: docker compose up -d openclaw-gateway), then check with `openclaw health`."
                ),
            );
            Ok(())
        }
        Err(e) => Err(format!(
            "Gateway health check failed: {e}\nStart the gateway first (openclaw gateway; Docker: docker compose up -d openclaw-gateway), or pass --skip-health."
        )),
    }
}

fn finish(opts: &Opts, choice: auth::Choice, gw: &Gateway, workspace: &Path, auth_line: Option<&str>, loaded: &config::Loaded, ui: &mut Ui) {
    let (config, env): (&Config, &Env) = (&loaded.config, &loaded.env);
    let bind = startup::bind_name(gw.bind);
    let auth_mode = if gw.auth == AuthMode::Password { "password" } else { "token" };
    if opts.json {
        let summary = json!({
            "mode": "local",
            "workspace": workspace.display().to_string(),
            "authChoice": choice.as_str(),
            "gateway": {"port": gw.port, "bind": bind, "authMode": auth_mode, "tailscaleMode": gw.tailscale},
            "installDaemon": false,
            "skipSkills": opts.skip_skills,
            "skipHealth": opts.skip_health,
        });
        println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
        return;
    }
    let base = &config.gateway.control_ui.base_path;
    let fragment = match (gw.auth, &gw.secret) {
        (AuthMode::Token, Some(t)) => format!("#token={t}"),
        _ => String::new(),
    };
    let local = format!("http://127.0.0.1:{}{base}/{fragment}", gw.port);
    let mut lines = Vec::new();
    if let Some(a) = auth_line {
        lines.push(a.to_string());
    }
    lines.push(format!("Gateway: port {}, bind {bind}, auth {auth_mode}", gw.port));
    lines.push(format!("Dashboard: {local}"));
    if in_container() {
        lines.push(format!("From the Docker host open http://127.0.0.1:{}{base}/ (the link again: docker compose run --rm openclaw-cli dashboard --no-open).", gw.port));
    } else if !has_gui(env) {
        let user = env.get("USER").cloned().unwrap_or_else(|| "user".into());
        let host = env.get("SSH_CONNECTION").and_then(|c| c.split_whitespace().nth(2).map(str::to_string)).unwrap_or_else(|| "<host>".into());
        lines.push("No GUI detected. Open it from your computer through an SSH tunnel:".into());
        lines.push(format!("  ssh -N -L {0}:127.0.0.1:{0} {user}@{host}", gw.port));
        lines.push(format!("  then open http://localhost:{}{base}/{fragment}", gw.port));
    }
    lines.push("Next: start the gateway with `openclaw gateway`, then check it with `openclaw health`.".into());
    ui.note("Onboarding complete", &lines.join("\n"));
}

/// Whether this process runs in a container (Docker, Podman).
/// Whether this process runs in a container: Docker's or Podman's bind
/// mounts of `/etc/hostname` and friends (not `/.dockerenv`, which some hosts
/// have too), or Podman's marker file.
fn in_container() -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    !crate::docker::own::candidates(&mountinfo, "").is_empty() || Path::new("/run/.containerenv").exists()
}

/// Whether a browser can be opened here.
fn has_gui(env: &Env) -> bool {
    let set = |k: &str| env.get(k).is_some_and(|v| !v.is_empty());
    (set("DISPLAY") || set("WAYLAND_DISPLAY")) && !in_container()
}

/// Opens `url` in the desktop's browser, when there is one (best effort).
pub(crate) fn open_browser(env: &Env, url: &str) {
    if !has_gui(env) {
        return;
    }
    let child = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Ok(mut child) = child {
        std::thread::spawn(move || child.wait());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked_with_upstream_texts() {
        let bad = |o: Opts| check(&o).err().unwrap_or_default();
        assert_eq!(bad(Opts { flow: Some("fast".into()), ..Opts::default() }), "Invalid --flow (use quickstart, manual, or advanced).");
        assert_eq!(bad(Opts { gateway_port: Some("0".into()), ..Opts::default() }), "Invalid --gateway-port");
        assert_eq!(bad(Opts { gateway_auth: Some("none".into()), ..Opts::default() }), "Invalid --gateway-auth (use token|password).");
        assert!(bad(Opts { gateway_bind: Some("0.0.0.0".into()), ..Opts::default() }).starts_with("Invalid --gateway-bind"));
        assert!(bad(Opts { gateway_token: Some("changeme".into()), ..Opts::default() }).contains("placeholder"));
        assert!(bad(Opts { reset_scope: Some("all".into()), ..Opts::default() }).starts_with("Invalid --reset-scope"));
        let c = check(&Opts { flow: Some("advanced".into()), reset_scope: Some("full".into()), gateway_password: Some("pw".into()), ..Opts::default() }).unwrap();
        assert_eq!((c.flow, c.reset, c.auth), (Some(Flow::Manual), Some(ResetScope::Full), Some(AuthMode::Password)));
        assert!(check(&Opts { reset: true, ..Opts::default() }).unwrap().reset == Some(ResetScope::ConfigCredsSessions));
    }

    #[test]
    fn every_flag_has_a_slot() {
        let mut o = Opts::default();
        for name in Opts::VALUES {
            o.set(name, format!("v-{name}"));
        }
        for name in Opts::SWITCHES {
            o.switch(name);
        }
        assert_eq!(o.secret_input_mode.as_deref(), Some("v-secret-input-mode"));
        assert_eq!(o.workspace.as_deref(), Some("v-workspace"));
        assert_eq!(o.custom_provider_id.as_deref(), Some("v-custom-provider-id"));
        assert!(o.non_interactive && o.accept_risk && o.skip_daemon && o.json && o.skip_ui);
        let mut blank = Opts::default();
        for name in Opts::VALUES {
            assert_eq!(o.slot(name).as_deref(), Some(format!("v-{name}").as_str()), "{name}");
            assert!(blank.slot(name).is_none());
        }
        let shown = format!("{o:?}");
        assert!(shown.contains("gateway-token") && !shown.contains("v-gateway-token"), "values are never shown: {shown}");
    }

    #[test]
    fn summaries_and_paths() {
        let raw = json!({"agents": {"defaults": {"model": {"primary": "openai/x"}}}, "gateway": {"port": 19000, "remote": {"url": "ws://h:1"}}});
        let s = summarize(&raw, Path::new("/c.json"));
        assert!(s.contains("model: openai/x") && s.contains("gateway.port: 19000") && s.contains("gateway.remote.url: ws://h:1"), "{s}");
        assert_eq!(user_path("~/w", Path::new("/h"), Some(Path::new("/cwd"))), PathBuf::from("/h/w"));
        assert_eq!(user_path("w", Path::new("/h"), Some(Path::new("/cwd"))), PathBuf::from("/cwd/w"));
    }
}
