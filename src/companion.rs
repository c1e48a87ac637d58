//! The companion commands that talk to a running gateway: `health`,
//! `status`, `devices …`, and `dashboard` (which only reads the config).
//! Each opens one connection (`gateway::client`), makes its calls and exits.

use std::io::Write;
use std::path::Path;
use std::process::{Command as Process, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::app::FAILURE;
use crate::cli::{DevicesCommand, Remote};
use crate::config::{self, model::Config, model::GatewayMode};
use crate::gateway::client::{self, Client, Options};
use crate::gateway::startup;
use crate::paths::{Env, Paths};

const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const CLI_SCOPES: &[&str] = &["operator.admin", "operator.read", "operator.write", "operator.pairing"];

/// The config if it loads; companions work with defaults otherwise.
fn load(paths: &Paths, env: &Env, cwd: Option<&Path>) -> (Option<Config>, Env) {
    match config::load(paths, env, cwd) {
        Ok(l) => (Some(l.config), l.env),
        Err(e) => {
            eprintln!("warning: {e}\n(using defaults to reach the gateway)");
            (None, env.clone())
        }
    }
}

fn local_port(config: Option<&Config>, env: &Env) -> u16 {
    env.get("OPENCLAW_GATEWAY_PORT")
        .and_then(|p| startup::parse_port(p).ok())
        .or(config.and_then(|c| c.gateway.port))
        .unwrap_or(startup::DEFAULT_PORT)
}

/// Where the gateway is and which credentials to show it, with a label
/// saying where the credentials came from (for `--verbose`).
fn options(paths: &Paths, env: &Env, cwd: Option<&Path>, r: &Remote) -> Result<(Options, String), String> {
    let (config, env) = load(paths, env, cwd);
    let config = config.as_ref();
    let remote_mode = config.is_some_and(|c| c.gateway.mode == Some(GatewayMode::Remote));
    let url = match (&r.url, config.and_then(|c| c.gateway.remote.url.clone()).filter(|_| remote_mode)) {
        (Some(u), _) => u.clone(),
        (None, Some(u)) => u,
        (None, None) => format!("ws://127.0.0.1:{}", local_port(config, &env)),
    };
    let nonempty = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let secret = |s: &Option<config::model::Secret>| s.as_ref().and_then(|s| s.value(&env).ok());
    let (token, password, source) = if r.token.is_some() || r.password.is_some() {
        (r.token.clone(), r.password.clone(), "command line")
    } else if let Some(t) = nonempty("OPENCLAW_GATEWAY_TOKEN") {
        (Some(t), None, "OPENCLAW_GATEWAY_TOKEN")
    } else if let Some(p) = nonempty("OPENCLAW_GATEWAY_PASSWORD") {
        (None, Some(p), "OPENCLAW_GATEWAY_PASSWORD")
    } else if r.url.is_some() {
        return Err("--url needs explicit credentials: pass --token or --password (or set OPENCLAW_GATEWAY_TOKEN)".into());
    } else if remote_mode {
        let g = &config.expect("remote mode implies a config").gateway.remote;
        (secret(&g.token), secret(&g.password), "gateway.remote.token")
    } else {
        let a = config.map(|c| &c.gateway.auth);
        (a.and_then(|a| secret(&a.token)), a.and_then(|a| secret(&a.password)), "gateway.auth.token")
    };
    let opts = Options {
        url: url.clone(),
        token,
        password,
        timeout: Duration::from_millis(r.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)),
        scopes: CLI_SCOPES.iter().map(|s| s.to_string()).collect(),
        device: client::cli_device(&paths.state_dir),
    };
    let label = format!("URL: {url}\n  Credentials: {}", if opts.token.is_some() || opts.password.is_some() { source } else { "none" });
    Ok((opts, label))
}

fn connect(paths: &Paths, env: &Env, cwd: Option<&Path>, r: &Remote) -> Result<(Client, String), String> {
    let (opts, label) = options(paths, env, cwd, r)?;
    match Client::connect(&opts) {
        Ok(c) => Ok((c, label)),
        Err(e) => Err(describe(&e)),
    }
}

/// An error, plus the approve command when the gateway holds us at pairing.
fn describe(e: &client::Error) -> String {
    let mut msg = e.to_string();
    if let client::Error::Closed { error: Some(err), .. } = e
        && let Some(id) = err["details"]["requestId"].as_str()
    {
        msg.push_str(&format!("\nThis CLI's device is waiting for approval. On the gateway host run: openclaw devices approve {id}"));
    }
    msg
}

/// One RPC call on a fresh connection (for commands living elsewhere).
pub fn call(paths: &Paths, env: &Env, cwd: Option<&Path>, r: &Remote, method: &str, params: Value) -> Result<Value, String> {
    let (mut c, _) = connect(paths, env, cwd, r)?;
    let result = c.call(method, params).map_err(|e| describe(&e));
    c.close();
    result
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn error_exit(msg: &str) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::from(FAILURE)
}

pub fn health(paths: &Paths, env: &Env, cwd: Option<&Path>, r: &Remote, verbose: bool) -> ExitCode {
    let started = Instant::now();
    let (mut c, label) = match connect(paths, env, cwd, r) {
        Ok(x) => x,
        Err(e) => return error_exit(&e),
    };
    let payload = match c.call("health", if verbose { json!({"probe": true}) } else { json!({}) }) {
        Ok(p) => p,
        Err(e) => return error_exit(&describe(&e)),
    };
    c.close();
    if r.json {
        print_json(&payload);
        return ExitCode::SUCCESS;
    }
    let mut out = String::new();
    if verbose {
        out.push_str(&format!("Gateway connection:\n  {label}\n  Round trip: {} ms\n", started.elapsed().as_millis()));
    }
    out.push_str(&format_health(&payload));
    print!("{out}");
    ExitCode::SUCCESS
}

/// `openclaw gateway probe`: one plain `GET /healthz` to the local gateway
/// (or `url`; `ws://` means the same host over HTTP, and no path means
/// `/healthz`), no credentials; exit 0 only when it answers healthy.
pub fn probe(paths: &Paths, env: &Env, cwd: Option<&Path>, url: Option<&str>, timeout_ms: Option<u64>) -> ExitCode {
    let url = match url {
        Some(u) => match u.strip_prefix("http://").or_else(|| u.strip_prefix("ws://")) {
            Some(rest) if !rest.is_empty() && !rest.contains('/') => format!("http://{rest}/healthz"),
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => format!("http://{rest}"),
            _ => return error_exit(&format!("invalid URL {u:?}: use http://host:port[/path] (default path /healthz)")),
        },
        None => {
            let (config, env) = load(paths, env, cwd);
            format!("http://{}:{}/healthz", crate::service::probe_host(config.as_ref()), local_port(config.as_ref(), &env))
        }
    };
    let v = crate::service::probe_url(&url, Duration::from_millis(timeout_ms.unwrap_or(3000)));
    match (&v["ok"], &v["httpStatus"], v["error"].as_str()) {
        (Value::Bool(true), _, _) => {
            println!("Gateway healthy: {url} answered 200 in {} ms", v["ms"]);
            ExitCode::SUCCESS
        }
        (_, Value::Number(code), _) => error_exit(&format!("Gateway not healthy: {url} answered HTTP {code}")),
        (_, _, Some(e)) => error_exit(&format!("Gateway not healthy: {url}: {e} (is the gateway running?)")),
        _ => error_exit(&format!("Gateway not healthy: {url}")),
    }
}

/// Upstream's human health layout (reference §4.5).
pub fn format_health(h: &Value) -> String {
    let mut out = String::new();
    let labels = &h["channelLabels"];
    for id in h["channelOrder"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let ch = &h["channels"][id];
        let label = labels[id].as_str().unwrap_or(id);
        let state = if ch["probe"]["ok"] == true {
            format!("ok (@{}) ({}ms)", ch["probe"]["bot"]["username"].as_str().unwrap_or("?"), ch["probe"]["elapsedMs"].as_u64().unwrap_or(0))
        } else if ch["probe"]["ok"] == false {
            format!("failed ({}) - {}", ch["probe"]["status"].as_str().unwrap_or("unknown"), ch["probe"]["error"].as_str().unwrap_or(""))
        } else if ch["linked"] == true {
            format!("linked (auth age {}m)", ch["authAgeMs"].as_u64().unwrap_or(0) / 60_000)
        } else if ch["configured"] == true {
            "configured".into()
        } else {
            "not configured".into()
        };
        out.push_str(&format!("{label}: {state}\n"));
    }
    let agents: Vec<&Value> = h["agents"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    let names: Vec<String> = agents
        .iter()
        .map(|a| format!("{}{}", a["agentId"].as_str().unwrap_or("?"), if a["isDefault"] == true { " (default)" } else { "" }))
        .collect();
    out.push_str(&format!("Agents: {}\n", names.join(", ")));
    let default = h["defaultAgentId"].as_str().unwrap_or("main");
    let every = h["heartbeatSeconds"].as_u64().unwrap_or(0);
    out.push_str(&format!("Heartbeat interval: {} ({default})\n", if every == 0 { "disabled".to_string() } else { format!("{}m", every / 60) }));
    for a in agents {
        let s = &a["sessions"];
        out.push_str(&format!(
            "Session store ({}): {} ({} entries)\n",
            a["agentId"].as_str().unwrap_or("?"),
            s["path"].as_str().unwrap_or("?"),
            s["count"].as_u64().unwrap_or(0)
        ));
        for r in s["recent"].as_array().into_iter().flatten() {
            let age = r["age"].as_u64().unwrap_or(0);
            let when = if r["updatedAt"].as_u64().unwrap_or(0) == 0 { "no activity".to_string() } else { format!("{}m ago", age / 60_000) };
            out.push_str(&format!("- {} ({when})\n", r["key"].as_str().unwrap_or("?")));
        }
    }
    out
}

pub fn status(paths: &Paths, env: &Env, cwd: Option<&Path>, r: &Remote) -> ExitCode {
    let (opts, _) = match options(paths, env, cwd, r) {
        Ok(x) => x,
        Err(e) => return error_exit(&e),
    };
    let reached = Client::connect(&opts).and_then(|mut c| {
        let s = c.call("status", json!({}));
        c.close();
        s
    });
    let (config, _) = load(paths, env, cwd);
    let status = match reached {
        Ok(s) => json!({"gateway": {"url": opts.url, "reachable": true, "status": s["gateway"]}, "agents": s["agents"], "health": s["health"]}),
        Err(e) => {
            let agents: Vec<Value> = config
                .as_ref()
                .map(|c| c.agent_ids().iter().map(|id| json!({"agentId": id, "isDefault": *id == c.default_agent_id(), "sandbox": {"mode": c.sandbox_for(id).mode}})).collect())
                .unwrap_or_default();
            json!({"gateway": {"url": opts.url, "reachable": false, "error": describe(&e)}, "agents": agents, "health": Value::Null})
        }
    };
    if r.json {
        print_json(&status);
        return ExitCode::SUCCESS;
    }
    let g = &status["gateway"];
    let mut out = String::new();
    if g["reachable"] == true {
        let s = &g["status"];
        out.push_str(&format!(
            "Gateway: {} (reachable; version {}, PID {}, bind {}, up {}, {} client(s))\n",
            opts.url,
            s["version"].as_str().unwrap_or("?"),
            s["pid"],
            s["bind"].as_str().unwrap_or("?"),
            human_duration(s["uptimeMs"].as_u64().unwrap_or(0)),
            s["clients"]
        ));
    } else {
        out.push_str(&format!("Gateway: {} (not reachable: {})\n", opts.url, g["error"].as_str().unwrap_or("")));
    }
    out.push_str(&format!("Config: {}\n", paths.config_path.display()));
    for a in status["agents"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "Agent {}{}: sandbox {}\n",
            a["agentId"].as_str().unwrap_or("?"),
            if a["isDefault"] == true { " (default)" } else { "" },
            a["sandbox"]["mode"].as_str().unwrap_or("?")
        ));
    }
    if status["health"].is_object() {
        out.push_str(&format_health(&status["health"]));
    }
    print!("{out}");
    ExitCode::SUCCESS
}

fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// `openclaw dashboard`: reads the config only (as upstream).
pub fn dashboard(paths: &Paths, env: &Env, cwd: Option<&Path>, no_open: bool) -> ExitCode {
    let (config, env) = match config::load(paths, env, cwd) {
        Ok(l) => (Some(l.config), l.env),
        Err(_) => (None, env.clone()),
    };
    let port = local_port(config.as_ref(), &env);
    let base = config.as_ref().map(|c| c.gateway.control_ui.base_path.clone()).unwrap_or_default();
    let token = config
        .as_ref()
        .and_then(|c| c.gateway.auth.token.as_ref())
        .and_then(|s| s.value(&env).ok())
        .or_else(|| env.get("OPENCLAW_GATEWAY_TOKEN").filter(|t| !t.is_empty()).cloned())
        .unwrap_or_default();
    let mut url = format!("http://127.0.0.1:{port}{base}/");
    if !token.is_empty() {
        url.push_str(&format!("#token={}", url_encode(&token)));
    }
    println!("Dashboard URL: {url}");
    println!("{}", if copy_to_clipboard(&url, &env) { "Copied to clipboard." } else { "Copy to clipboard unavailable." });
    if no_open {
        println!("Browser launch disabled (--no-open). Use the URL above.");
    } else if open_browser(&url, &env) {
        println!("Opened in your browser. Keep that tab to control OpenClaw.");
    } else {
        println!("No browser could be opened here. On a remote host, forward the port first:\n  ssh -N -L {port}:127.0.0.1:{port} <user>@<host>\nthen open the URL above on your own machine.");
    }
    let _ = std::io::stdout().flush();
    ExitCode::SUCCESS
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn has_display(env: &Env) -> bool {
    env.contains_key("DISPLAY") || env.contains_key("WAYLAND_DISPLAY")
}

fn copy_to_clipboard(text: &str, env: &Env) -> bool {
    if !has_display(env) {
        return false;
    }
    let tools: &[(&str, &[&str])] = &[("wl-copy", &[]), ("xclip", &["-selection", "clipboard"]), ("xsel", &["--clipboard", "--input"])];
    tools.iter().any(|(cmd, args)| {
        let Ok(mut child) = Process::new(cmd).args(*args).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn() else {
            return false;
        };
        let wrote = child.stdin.take().is_some_and(|mut i| i.write_all(text.as_bytes()).is_ok());
        wrote && child.wait().is_ok_and(|s| s.success())
    })
}

fn open_browser(url: &str, env: &Env) -> bool {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    if !cfg!(target_os = "macos") && !has_display(env) {
        return false;
    }
    Process::new(opener).arg(url).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

pub fn devices(paths: &Paths, env: &Env, cwd: Option<&Path>, r: &Remote, cmd: &DevicesCommand) -> ExitCode {
    let (mut c, _) = match connect(paths, env, cwd, r) {
        Ok(x) => x,
        Err(e) => return error_exit(&e),
    };
    let result = run_devices(&mut c, cmd, r.json);
    c.close();
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => error_exit(&e),
    }
}

fn run_devices(c: &mut Client, cmd: &DevicesCommand, json_out: bool) -> Result<String, String> {
    let call = |c: &mut Client, m: &str, p: Value| c.call(m, p).map_err(|e| describe(&e));
    let pretty = |v: &Value| format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default());
    match cmd {
        DevicesCommand::List => {
            let v = call(c, "device.pair.list", json!({}))?;
            Ok(if json_out { pretty(&v) } else { format_devices(&v, crate::gateway::now_ms()) })
        }
        DevicesCommand::Approve { request_id, .. } => {
            let id = match request_id {
                Some(id) => id.clone(),
                None => {
                    let v = call(c, "device.pair.list", json!({}))?;
                    // Newest first.
                    v["pending"][0]["requestId"].as_str().map(str::to_string).ok_or("No pending device pairing requests.")?
                }
            };
            let v = call(c, "device.pair.approve", json!({"requestId": id}))?;
            Ok(if json_out {
                pretty(&v)
            } else {
                format!("Approved device {} (request {id}).\n", v["device"]["deviceId"].as_str().unwrap_or("?"))
            })
        }
        DevicesCommand::Reject { request_id } => {
            let v = call(c, "device.pair.reject", json!({"requestId": request_id}))?;
            Ok(if json_out { pretty(&v) } else { format!("Rejected request {request_id} (device {}).\n", v["deviceId"].as_str().unwrap_or("?")) })
        }
        DevicesCommand::Remove { device_id } => {
            let v = call(c, "device.pair.remove", json!({"deviceId": device_id}))?;
            Ok(if json_out { pretty(&v) } else { format!("Removed device {device_id}.\n") })
        }
        DevicesCommand::Rotate { device_id, role, scopes } => {
            let mut p = json!({"deviceId": device_id, "role": role});
            if !scopes.is_empty() {
                p["scopes"] = json!(scopes);
            }
            // Upstream prints the new token as JSON.
            Ok(pretty(&call(c, "device.token.rotate", p)?))
        }
        DevicesCommand::Revoke { device_id, role } => {
            let v = call(c, "device.token.revoke", json!({"deviceId": device_id, "role": role}))?;
            Ok(if json_out { pretty(&v) } else { format!("Revoked the {role} token of device {device_id}.\n") })
        }
    }
}

fn format_devices(v: &Value, now: u64) -> String {
    let mut out = String::new();
    let pending = v["pending"].as_array().cloned().unwrap_or_default();
    let paired = v["paired"].as_array().cloned().unwrap_or_default();
    let age = |ms: u64| if ms == 0 { "-".to_string() } else { format!("{}s ago", now.saturating_sub(ms) / 1000) };
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let list = |v: &Value| v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")).unwrap_or_default();
    out.push_str(&format!("Pending ({}):\n", pending.len()));
    if !pending.is_empty() {
        out.push_str(&format!("  {:<36}  {:<12}  {:<20}  {:<9}  {:<15}  {}\n", "REQUEST", "DEVICE", "CLIENT", "ROLE", "IP", "AGE"));
    }
    for p in &pending {
        out.push_str(&format!(
            "  {:<36}  {:<12}  {:<20}  {:<9}  {:<15}  {}\n",
            p["requestId"].as_str().unwrap_or("?"),
            short(p["deviceId"].as_str().unwrap_or("?")),
            p["clientId"].as_str().unwrap_or("-"),
            p["role"].as_str().unwrap_or("operator"),
            p["remoteIp"].as_str().unwrap_or("-"),
            age(p["ts"].as_u64().unwrap_or(0))
        ));
        let scopes = list(&p["scopes"]);
        if !scopes.is_empty() {
            out.push_str(&format!("    scopes: {scopes}\n"));
        }
    }
    out.push_str(&format!("Paired ({}):\n", paired.len()));
    if !paired.is_empty() {
        out.push_str(&format!("  {:<64}  {:<20}  {:<15}  {}\n", "DEVICE", "CLIENT", "IP", "TOKENS"));
    }
    for p in &paired {
        let tokens: Vec<String> = p["tokens"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| format!("{}{}", t["role"].as_str().unwrap_or("?"), if t["revokedAtMs"].is_u64() { " (revoked)" } else { "" }))
            .collect();
        out.push_str(&format!(
            "  {:<64}  {:<20}  {:<15}  {}\n",
            p["deviceId"].as_str().unwrap_or("?"),
            p["clientId"].as_str().unwrap_or("-"),
            p["remoteIp"].as_str().unwrap_or("-"),
            tokens.join(", ")
        ));
    }
    if !pending.is_empty() {
        out.push_str("Approve with: openclaw devices approve <requestId> (or --latest)\n");
    }
    out
}


#[allow(clippy::too_many_arguments)]
/// `openclaw agent --message …`: sends the message with `chat.send`, follows
/// the run's `chat` and `agent` events, prints the reply as it streams.
pub fn agent(
    paths: &Paths,
    env: &Env,
    cwd: Option<&Path>,
    r: &Remote,
    message: &str,
    session: Option<&str>,
    agent: Option<&str>,
    timeout_s: u64,
) -> ExitCode {
    let (mut c, _) = match connect(paths, env, cwd, r) {
        Ok(x) => x,
        Err(e) => return error_exit(&e),
    };
    c.set_timeout(Duration::from_secs(timeout_s));
    let key = match (session, agent) {
        (Some(s), _) => s.trim().to_string(),
        (None, Some(a)) => {
            let (config, _) = load(paths, env, cwd);
            let main = config.as_ref().map(|c| c.session.main_key.clone()).unwrap_or_else(|| "main".into());
            format!("agent:{}:{main}", config::model::normalize_agent_id(a))
        }
        (None, None) => String::new(),
    };
    let mut params = json!({"message": message, "timeoutMs": timeout_s * 1000});
    if !key.is_empty() {
        params["sessionKey"] = json!(key);
    }
    let started = match c.call("chat.send", params) {
        Ok(p) => p,
        Err(e) => return error_exit(&describe(&e)),
    };
    let run_id = started["runId"].as_str().unwrap_or_default().to_string();
    let mut shown = 0usize; // bytes of the current reply text already printed
    let mut tools: Vec<Value> = Vec::new();
    let stdout = std::io::stdout();
    loop {
        let ev = match c.next_event() {
            Ok(ev) => ev,
            Err(e) => {
                let _ = c.call("chat.abort", json!({"runId": run_id}));
                return error_exit(&format!("{}\nThe turn was aborted.", describe(&e)));
            }
        };
        let p = &ev["payload"];
        if p["runId"].as_str() != Some(run_id.as_str()) {
            continue;
        }
        match (ev["event"].as_str(), p["state"].as_str()) {
            (Some("chat"), Some("delta")) if !r.json => {
                let text = p["message"]["content"][0]["text"].as_str().unwrap_or("");
                if text.len() >= shown && text.is_char_boundary(shown) {
                    let mut out = stdout.lock();
                    let _ = out.write_all(&text.as_bytes()[shown..]);
                    let _ = out.flush();
                }
                shown = text.len();
            }
            (Some("agent"), _) => {
                let d = &p["data"];
                if d["phase"] == "start" {
                    if !r.json {
                        if shown > 0 {
                            println!();
                        }
                        eprintln!("[tool] {} {}", d["name"].as_str().unwrap_or("?"), crate::shorten(&d["args"].to_string(), 200));
                    }
                    shown = 0;
                    tools.push(json!({"name": d["name"], "args": d["args"]}));
                } else if let Some(last) = tools.iter_mut().rev().find(|t| t.get("result").is_none()) {
                    last["result"] = d["result"].clone();
                    last["isError"] = d["isError"].clone();
                }
            }
            (Some("chat"), Some("final")) => {
                let text = p["message"]["content"][0]["text"].as_str().unwrap_or("").to_string();
                c.close();
                if r.json {
                    print_json(&json!({"runId": run_id, "sessionKey": p["sessionKey"], "status": "ok", "text": text,
                        "toolCalls": tools, "usage": p["usage"]}));
                } else {
                    if text.len() >= shown && text.is_char_boundary(shown) {
                        print!("{}", &text[shown..]);
                    }
                    println!();
                }
                return ExitCode::SUCCESS;
            }
            (Some("chat"), Some(state @ ("error" | "aborted"))) => {
                let reason = p["errorMessage"].as_str().unwrap_or("the turn was aborted").to_string();
                c.close();
                if r.json {
                    print_json(&json!({"runId": run_id, "sessionKey": p["sessionKey"], "status": state, "error": reason, "toolCalls": tools}));
                    return ExitCode::from(FAILURE);
                }
                if shown > 0 {
                    println!();
                }
                return error_exit(&reason);
            }
            _ => {}
        }
    }
}
