//! The RPC methods available after `hello-ok` (docs/gateway-protocol.md),
//! each a function from params to a JSON payload, behind a scope check.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use super::session::{RpcError, require, short};
use super::{Gateway, Peer, devices, now_ms};
use crate::agent::sessions::{Entry as SessionEntry, Store as SessionStore};
use crate::config::{self, model::Config};
use crate::sandbox::cli as sandbox_cli;
use crate::sandbox::registry::Registry;

pub const METHODS: &[&str] = &[
    "health",
    "status",
    "config.get",
    "config.set",
    "device.pair.list",
    "device.pair.approve",
    "device.pair.reject",
    "device.pair.remove",
    "device.token.rotate",
    "device.token.revoke",
    "sandbox.list",
    "sandbox.recreate",
    "sandbox.explain",
    "logs.tail",
    "sessions.list",
    "sessions.reset",
    "chat.send",
    "chat.history",
    "chat.abort",
    "channels.status",
    "pairing.list",
    "pairing.approve",
];

pub const EVENTS: &[&str] = &["connect.challenge", "tick", "health", "presence", "shutdown", "device.pair.requested", "device.pair.resolved", "chat", "agent"];

pub fn hello(gw: &Gateway, peer: &Peer) -> Value {
    json!({
        "type": "hello-ok",
        "protocol": super::PROTOCOL_VERSION,
        "server": {"version": crate::VERSION, "commit": crate::GIT_COMMIT, "host": gw.hostname(), "connId": peer.id.to_string()},
        "features": {"methods": METHODS, "events": EVENTS},
        "snapshot": {"presence": [], "health": health(gw, &gw.config()), "stateVersion": {"presence": 0, "health": 0}},
        "policy": {"maxPayload": gw.tuning.max_payload, "maxBufferedBytes": 1_572_864, "tickIntervalMs": gw.tuning.tick.as_millis() as u64},
    })
}

pub fn call(gw: &Arc<Gateway>, peer: &Peer, method: &str, params: &Value) -> Result<Value, RpcError> {
    if !params.is_object() && !params.is_null() {
        return Err(RpcError::invalid("params must be an object"));
    }
    if let Some(result) = super::chat::call(gw, peer, method, params) {
        return result;
    }
    let config = gw.config();
    match method {
        "health" => {
            require(peer, "operator.read")?;
            Ok(health(gw, &config))
        }
        "status" => {
            require(peer, "operator.read")?;
            Ok(status(gw, &config))
        }
        "config.get" => {
            require(peer, "operator.admin")?;
            config_get(gw)
        }
        "config.set" => {
            require(peer, "operator.admin")?;
            config_set(gw, params)
        }
        "device.pair.list" => {
            require(peer, "operator.pairing")?;
            let (pending, paired) = gw.devices.list(now_ms()).map_err(store_error)?;
            Ok(json!({"pending": pending, "paired": paired.iter().map(devices::paired_summary).collect::<Vec<_>>()}))
        }
        "device.pair.approve" => {
            require(peer, "operator.pairing")?;
            let request_id = str_param(params, "requestId")?;
            let now = now_ms();
            let (paired, _token) = gw.devices.approve(request_id, now).map_err(store_error)?;
            log::info!("device {} approved (request {request_id})", short(&paired.device_id));
            gw.broadcast("device.pair.resolved", json!({"requestId": request_id, "deviceId": paired.device_id, "decision": "approved", "ts": now}), |p| p.has_scope("operator.pairing"));
            Ok(json!({"requestId": request_id, "device": devices::paired_summary(&paired)}))
        }
        "device.pair.reject" => {
            require(peer, "operator.pairing")?;
            let request_id = str_param(params, "requestId")?;
            let now = now_ms();
            let pending = gw.devices.reject(request_id, now).map_err(store_error)?;
            gw.broadcast("device.pair.resolved", json!({"requestId": request_id, "deviceId": pending.device_id, "decision": "rejected", "ts": now}), |p| p.has_scope("operator.pairing"));
            Ok(json!({"requestId": request_id, "deviceId": pending.device_id}))
        }
        "device.pair.remove" => {
            require(peer, "operator.pairing")?;
            let device_id = str_param(params, "deviceId")?;
            gw.devices.remove(device_id).map_err(store_error)?;
            gw.close_device(device_id, None, "device removed");
            Ok(json!({"deviceId": device_id}))
        }
        "device.token.rotate" => {
            require(peer, "operator.pairing")?;
            let device_id = str_param(params, "deviceId")?;
            let role = str_param(params, "role")?;
            let scopes = match params.get("scopes") {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) => Some(a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect::<Vec<_>>()),
                Some(_) => return Err(RpcError::invalid("scopes must be a list of strings")),
            };
            // A caller cannot hand out more than it holds itself.
            if let Some(s) = &scopes
                && let Some(extra) = s.iter().find(|s| !peer.has_scope(s))
            {
                return Err(RpcError::invalid(format!("cannot grant scope {extra}: the caller does not hold it")));
            }
            let now = now_ms();
            let (token, scopes) = gw.devices.rotate(device_id, role, scopes, now).map_err(store_error)?;
            gw.close_device(device_id, Some(role), "device token rotated (reconnect with the new token)");
            Ok(json!({"deviceId": device_id, "role": role, "token": token, "scopes": scopes, "rotatedAtMs": now}))
        }
        "device.token.revoke" => {
            require(peer, "operator.pairing")?;
            let device_id = str_param(params, "deviceId")?;
            let role = str_param(params, "role")?;
            let now = now_ms();
            gw.devices.revoke(device_id, role, now).map_err(store_error)?;
            gw.close_device(device_id, Some(role), "device token revoked");
            Ok(json!({"deviceId": device_id, "role": role, "revokedAtMs": now}))
        }
        "sandbox.list" => {
            require(peer, "operator.read")?;
            let containers = if params["browser"] == true {
                Vec::new()
            } else {
                sandbox_cli::collect_containers(&config, &Registry::new(&gw.paths.state_dir), gw.docker.as_ref())
            };
            let now = now_ms();
            let rows: Vec<Value> = containers
                .iter()
                .map(|c| {
                    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
                    v["ageMs"] = json!(c.created_at_ms.map(|t| now.saturating_sub(t)));
                    v["idleMs"] = json!(now.saturating_sub(c.last_used_at_ms));
                    v
                })
                .collect();
            Ok(json!({"containers": rows, "browsers": []}))
        }
        "sandbox.recreate" => {
            require(peer, "operator.admin")?;
            sandbox_recreate(gw, &config, params)
        }
        "sandbox.explain" => {
            require(peer, "operator.read")?;
            let e = sandbox_cli::explain(&config, opt_str(params, "session")?, opt_str(params, "agent")?);
            serde_json::from_str(&sandbox_cli::format_explain_json(&e)).map_err(|e| RpcError::new("UNAVAILABLE", e.to_string()))
        }
        "logs.tail" => {
            require(peer, "operator.read")?;
            let cursor = params.get("cursor").and_then(Value::as_u64);
            let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(500).min(2000) as usize;
            let (lines, cursor, truncated) = super::logbuf::global().tail(cursor, limit);
            Ok(json!({"cursor": cursor, "lines": lines, "truncated": truncated}))
        }
        "sessions.list" => {
            require(peer, "operator.read")?;
            let agent = opt_str(params, "agentId")?.map(crate::config::model::normalize_agent_id).unwrap_or_else(|| config.default_agent_id());
            let (path, sessions) = sessions_of(gw, &agent);
            let list: Vec<Value> = sessions.into_iter().map(|(key, e)| json!({"key": key, "updatedAt": e.updated_at, "entry": e})).collect();
            Ok(json!({"agentId": agent, "path": path, "count": list.len(), "sessions": list}))
        }
        "channels.status" => {
            require(peer, "operator.read")?;
            let probe = params.get("probe").and_then(Value::as_bool).unwrap_or(false);
            let timeout = params.get("timeoutMs").and_then(Value::as_u64).unwrap_or(10_000).clamp(100, 60_000);
            Ok(gw.channels.status(probe.then(|| std::time::Duration::from_millis(timeout))))
        }
        "pairing.list" => {
            require(peer, "operator.pairing")?;
            let store = gw.channels.hub().pairing();
            let mut out = serde_json::Map::new();
            for kind in crate::channels::Kind::ALL {
                let list = store.list(kind.id(), now_ms()).map_err(|e| RpcError::new("UNAVAILABLE", e))?;
                out.insert(kind.id().into(), list.iter().map(crate::channels::pairing::Request::to_json).collect());
            }
            Ok(json!({"requests": out}))
        }
        "pairing.approve" => {
            require(peer, "operator.pairing")?;
            let channel = opt_str(params, "channel")?.ok_or_else(|| RpcError::invalid("channel is required"))?;
            let code = opt_str(params, "code")?.ok_or_else(|| RpcError::invalid("code is required"))?;
            let kind = crate::channels::Kind::parse(channel).ok_or_else(|| RpcError::invalid(format!("unknown channel: {channel}")))?;
            let req = gw.channels.hub().pairing().approve(kind.id(), code, now_ms()).map_err(|e| RpcError::new("NOT_FOUND", e))?;
            Ok(json!({"ok": true, "channel": kind.id(), "request": req.to_json()}))
        }
        _ => Err(RpcError::invalid(format!("unknown method: {method}"))),
    }
}

fn store_error(e: devices::Error) -> RpcError {
    match e {
        devices::Error::NotFound(what) => RpcError::new("NOT_FOUND", format!("unknown {what}")),
        devices::Error::Forbidden(why) => RpcError::invalid(why),
        e => {
            log::error!("device store: {e}");
            RpcError::new("UNAVAILABLE", e.to_string())
        }
    }
}

fn str_param<'a>(params: &'a Value, key: &str) -> Result<&'a str, RpcError> {
    params.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| RpcError::invalid(format!("{key} is required")))
}

pub(super) fn opt_str<'a>(params: &'a Value, key: &str) -> Result<Option<&'a str>, RpcError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s).filter(|s| !s.is_empty()).map(String::as_str)),
        Some(_) => Err(RpcError::invalid(format!("{key} must be a string"))),
    }
}

/// An agent's session store and its entries, newest first. A store that
/// cannot be read lists nothing (the store logs why); health must answer.
fn sessions_of(gw: &Gateway, agent: &str) -> (PathBuf, Vec<(String, SessionEntry)>) {
    let store = SessionStore::new(&gw.paths.state_dir, agent);
    let sessions = store.list().unwrap_or_else(|e| {
        log::warn!("{}: {e}; listing no sessions", store.path().display());
        Vec::new()
    });
    (store.path().to_path_buf(), sessions)
}

/// The `health` payload (reference §4.5).
pub fn health(gw: &Gateway, config: &Config) -> Value {
    let started = std::time::Instant::now();
    let now = now_ms();
    let default_agent = config.default_agent_id();
    let mut main_sessions = Value::Null;
    let agents: Vec<Value> = config
        .agent_ids()
        .iter()
        .map(|id| {
            let (path, sessions) = sessions_of(gw, id);
            let summary = sessions_summary(&path, sessions, now);
            if *id == default_agent {
                main_sessions = summary.clone();
            }
            json!({
                "agentId": id,
                "name": config.agent(id).and_then(|a| a.name.clone()),
                "isDefault": *id == default_agent,
                "heartbeat": {"everyMs": 0},
                "sessions": summary,
            })
        })
        .collect();
    json!({
        "ok": true,
        "ts": now,
        "durationMs": started.elapsed().as_millis() as u64,
        "channels": {},
        "channelOrder": [],
        "channelLabels": {},
        "heartbeatSeconds": 0,
        "defaultAgentId": default_agent,
        "agents": agents,
        "sessions": main_sessions,
    })
}

/// `{path, count, recent}`: `recent` is the newest five, without the
/// `global` and `unknown` keys (reference §4.5).
fn sessions_summary(path: &Path, sessions: Vec<(String, SessionEntry)>, now: u64) -> Value {
    let count = sessions.len();
    let recent: Vec<Value> = sessions
        .iter()
        .filter(|(k, _)| k != "global" && k != "unknown")
        .take(5)
        .map(|(k, e)| json!({"key": k, "updatedAt": e.updated_at, "age": now.saturating_sub(e.updated_at)}))
        .collect();
    json!({"path": path, "count": count, "recent": recent})
}

fn status(gw: &Gateway, config: &Config) -> Value {
    let agents: Vec<Value> = config
        .agent_ids()
        .iter()
        .map(|id| json!({"agentId": id, "isDefault": *id == config.default_agent_id(), "sandbox": {"mode": config.sandbox_for(id).mode}}))
        .collect();
    json!({
        "gateway": {
            "version": crate::VERSION,
            "commit": crate::GIT_COMMIT,
            "pid": std::process::id(),
            "host": gw.hostname(),
            "bind": super::startup::bind_name(gw.bind),
            "address": gw.local_addr.to_string(),
            "port": gw.port,
            "uptimeMs": gw.started.elapsed().as_millis() as u64,
            "startedAtMs": gw.started_ms,
            "connections": gw.connections(),
            "clients": gw.peer_count(),
            "configPath": gw.paths.config_path,
            "stateDir": gw.paths.state_dir,
        },
        "docker": {"socket": gw.docker.as_ref().map(|d| d.socket_path().display().to_string())},
        "agents": agents,
        "agent": {
            "turns": gw.agent.timing.turns.load(std::sync::atomic::Ordering::Relaxed),
            "modelUs": gw.agent.timing.model_us.load(std::sync::atomic::Ordering::Relaxed),
            "toolUs": gw.agent.timing.tool_us.load(std::sync::atomic::Ordering::Relaxed),
            "activeRuns": gw.agent.active_runs().len(),
        },
        "health": health(gw, config),
    })
}

fn config_get(gw: &Gateway) -> Result<Value, RpcError> {
    let path = &gw.paths.config_path;
    let text = config::write::read_text(path).map_err(|e| RpcError::new("UNAVAILABLE", e.to_string()))?;
    let (valid, problems) = match config::load(&gw.paths, &gw.env, gw.cwd.as_deref()) {
        Ok(_) => (true, Vec::new()),
        Err(e) => (false, e.problems().iter().map(|p| problem_json(p, path)).collect()),
    };
    Ok(json!({
        "path": path,
        "exists": text.is_some(),
        "raw": text.as_deref().unwrap_or(""),
        "hash": config::write::text_hash(text.as_deref()),
        "valid": valid,
        "problems": problems,
    }))
}

fn problem_json(p: &config::Problem, main: &Path) -> Value {
    json!({
        "path": p.path,
        "message": p.message,
        "file": p.at.as_ref().map(|a| a.file.display().to_string()).unwrap_or_else(|| main.display().to_string()),
        "line": p.at.as_ref().map(|a| a.pos.line),
        "column": p.at.as_ref().map(|a| a.pos.column),
    })
}

fn config_set(gw: &Gateway, params: &Value) -> Result<Value, RpcError> {
    let raw = params.get("raw").and_then(Value::as_str).ok_or_else(|| RpcError::invalid("raw is required (the whole file as JSON5 text)"))?;
    if raw.len() > 256 * 1024 {
        return Err(RpcError::invalid("config text is larger than 256 KiB"));
    }
    let base = opt_str(params, "baseHash")?;
    let path = &gw.paths.config_path;
    match config::write::replace_text(&gw.paths, &gw.env, gw.cwd.as_deref(), raw, base) {
        Ok(loaded) => {
            let applied = gw.apply(loaded);
            log::info!("config written by the Control UI ({} bytes)", raw.len());
            Ok(json!({"path": path, "hash": config::write::text_hash(Some(raw)), "applied": applied.is_ok(), "warning": applied.err()}))
        }
        Err(config::write::Error::Invalid(e)) => Err(RpcError::invalid("Config invalid").details(json!({
            "problems": e.problems().iter().map(|p| problem_json(p, path)).collect::<Vec<_>>(),
        }))),
        Err(config::write::Error::Changed) => Err(RpcError::invalid(config::write::Error::Changed.to_string())),
        Err(e) => Err(RpcError::new("UNAVAILABLE", e.to_string())),
    }
}

fn sandbox_recreate(gw: &Gateway, config: &Config, params: &Value) -> Result<Value, RpcError> {
    let selected = sandbox_cli::selection(params["all"] == true, opt_str(params, "session")?, opt_str(params, "agent")?).map_err(RpcError::invalid)?;
    let Some(docker) = gw.docker.as_ref() else {
        return Err(RpcError::new("UNAVAILABLE", "Docker is not reachable from the gateway (check DOCKER_HOST and the socket's permissions)"));
    };
    let registry = Registry::new(&gw.paths.state_dir);
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for c in sandbox_cli::collect_containers(config, &registry, Some(docker)).into_iter().filter(|c| selected.matches(&c.session_key)) {
        match sandbox_cli::remove_container(&gw.paths.state_dir, docker, &c.container_name) {
            Ok(()) => removed.push(c.container_name),
            Err(e) => failed.push(json!({"containerName": c.container_name, "error": e.to_string()})),
        }
    }
    log::info!("sandbox.recreate: {} removed, {} failed", removed.len(), failed.len());
    Ok(json!({"removed": removed, "failed": failed}))
}
