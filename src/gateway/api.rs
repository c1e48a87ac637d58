//! The HTTP APIs on the gateway port (reference §5.3), each behind
//! `Authorization: Bearer <gateway token or password>`:
//!
//! - `POST /v1/chat/completions` and `GET /v1/models[/<id>]`, OpenAI-compatible,
//!   off unless `gateway.http.endpoints.chatCompletions.enabled` (404 otherwise).
//!   `model` picks the agent: `openclaw` (default agent), `openclaw/<id>`,
//!   `openclaw:<id>` or `agent:<id>`; `x-openclaw-agent-id` overrides. Each request
//!   is its own session unless `user` is given (then `agent:<id>:openai-user:<user>`)
//!   or `x-openclaw-session-key` names one. The last user message is the turn's
//!   message; earlier messages are given to it as context.
//! - `POST /tools/invoke` `{tool, args?, sessionKey?}` → `{ok:true, result}`: one tool
//!   call through the agent's tool policy and the gateway's HTTP deny list.
//!
//! Failed authentication counts towards the same lockout as WebSocket connects
//! (429 + `Retry-After` while locked out).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::{self, Conn, Head, Response};
use super::server::Origin;
use super::{Gateway, now_ms};
use crate::agent::runtime::{Event, Outcome};
use crate::config::model::AuthMode;
use crate::crypto;

/// Whether `path` is one of ours.
pub fn handles(path: &str) -> bool {
    path == "/v1/chat/completions" || path == "/v1/models" || path.starts_with("/v1/models/") || path == "/tools/invoke"
}

/// Answers one API request; returns `false` when the connection must close.
pub fn serve(gw: &Arc<Gateway>, conn: &mut Conn, head: &Head, origin: &Origin, limits: &http::Limits) -> bool {
    let path = head.path.as_str();
    let config = gw.config();
    let is_openai = path.starts_with("/v1/");
    if is_openai && !config.gateway.chat_completions_enabled {
        return finish(conn, head, limits, openai_error(404, "The OpenAI-compatible endpoints are disabled. Enable them with gateway.http.endpoints.chatCompletions.enabled: true.", "not_found"));
    }
    let want = if path == "/v1/models" || path.starts_with("/v1/models/") { "GET" } else { "POST" };
    if head.method != want {
        return finish(conn, head, limits, Response::text(405, "Method Not Allowed").header("Allow", want));
    }
    if let Err(resp) = authorize(gw, head, origin) {
        return finish(conn, head, limits, resp);
    }
    if want == "GET" {
        return finish(conn, head, limits, models(gw, path));
    }
    let body = match conn.read_body(head, limits) {
        Ok(b) => b,
        Err(e) => {
            let resp = e.response().unwrap_or_else(|| Response::text(400, "Bad request body\n"));
            let _ = conn.write_response(&resp_close(resp), false);
            return false;
        }
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        let resp = if is_openai {
            openai_error(400, "The request body is not valid JSON.", "invalid_request_error")
        } else {
            invoke_error(400, "invalid_request_error", "The request body is not valid JSON.")
        };
        return write(conn, head, resp);
    };
    if is_openai { chat_completions(gw, conn, head, &request) } else { write(conn, head, tools_invoke(gw, head, &request)) }
}

fn resp_close(mut r: Response) -> Response {
    r.close = true;
    r
}

/// Drops the unread body, then writes `resp`.
fn finish(conn: &mut Conn, head: &Head, limits: &http::Limits, mut resp: Response) -> bool {
    match conn.drop_body(head, limits) {
        Ok(true) => {}
        Ok(false) => resp.close = true,
        Err(e) => resp = e.response().map(resp_close).unwrap_or_else(|| resp_close(resp)),
    }
    write(conn, head, resp)
}

fn write(conn: &mut Conn, head: &Head, mut resp: Response) -> bool {
    if !head.keep_alive() || head.minor == 0 {
        resp.close = true;
    }
    let close = resp.close;
    conn.write_response(&resp.header("Cache-Control", "no-store"), false).is_ok() && !close
}

/// Bearer auth with the gateway's shared secret, under the auth-failure limiter.
fn authorize(gw: &Gateway, head: &Head, origin: &Origin) -> Result<(), Response> {
    let live = gw.live();
    let limited = super::session::limited(&live, origin);
    let now = Instant::now();
    let locked = |wait: Duration| {
        let secs = wait.as_secs().max(1);
        Response::json(429, &json!({"error": {"message": "Too many failed authentication attempts; retry later.", "type": "rate_limit_error"}}))
            .header("Retry-After", &secs.to_string())
    };
    if limited && let Err(wait) = gw.limiter.check(origin.ip, now) {
        return Err(locked(wait));
    }
    if live.auth.mode == AuthMode::None {
        return Ok(());
    }
    let given = head.header("authorization").and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(rest)
    });
    let ok = match (&live.auth.secret, given) {
        (Some(secret), Some(g)) => crypto::constant_time_eq(g.as_bytes(), secret.as_bytes()),
        _ => false,
    };
    if ok {
        if limited {
            gw.limiter.success(origin.ip);
        }
        return Ok(());
    }
    if limited && let Err(wait) = gw.limiter.failure(origin.ip, now) {
        return Err(locked(wait));
    }
    log::info!("http {} from {} refused: bad or missing bearer token", head.path, origin.ip);
    Err(Response::json(401, &json!({"error": {"message": "Unauthorized", "type": "unauthorized"}}))
        .header("WWW-Authenticate", "Bearer"))
}

fn openai_error(status: u16, message: &str, kind: &str) -> Response {
    Response::json(status, &json!({"error": {"message": message, "type": kind}}))
}

// ---------------------------------------------------------------------------
// /v1/models

fn models(gw: &Gateway, path: &str) -> Response {
    let config = gw.config();
    let mut ids = vec!["openclaw".to_string()];
    ids.extend(config.agent_ids().iter().map(|a| format!("openclaw/{a}")));
    let model = |id: &str| json!({"id": id, "object": "model", "created": 0, "owned_by": "openclaw"});
    match path.strip_prefix("/v1/models/") {
        None => Response::json(200, &json!({"object": "list", "data": ids.iter().map(|i| model(i)).collect::<Vec<_>>()})),
        Some(id) => match ids.iter().find(|i| *i == id) {
            Some(i) => Response::json(200, &model(i)),
            None => openai_error(404, &format!("The model '{id}' does not exist; see GET /v1/models."), "invalid_request_error"),
        },
    }
}

/// The agent a `model` value names (`None`: not one of ours).
fn agent_from_model(model: &str, default: &str) -> Option<String> {
    let m = model.trim();
    if m.is_empty() || m == "openclaw" {
        return Some(default.to_string());
    }
    ["openclaw/", "openclaw:", "agent:"]
        .iter()
        .find_map(|p| m.strip_prefix(p))
        .filter(|id| !id.is_empty())
        .map(crate::config::model::normalize_agent_id)
}

// ---------------------------------------------------------------------------
// /v1/chat/completions

fn chat_completions(gw: &Arc<Gateway>, conn: &mut Conn, head: &Head, req: &Value) -> bool {
    let config = gw.config();
    let bad = |m: &str| openai_error(400, m, "invalid_request_error");
    let model = req.get("model").and_then(Value::as_str).unwrap_or("openclaw");
    let header_agent = head.header("x-openclaw-agent-id").map(crate::config::model::normalize_agent_id);
    let Some(agent) = header_agent.or_else(|| agent_from_model(model, &config.default_agent_id())) else {
        return write(conn, head, bad(&format!("Unknown model \"{model}\": use \"openclaw\" or \"openclaw/<agentId>\" (see GET /v1/models).")));
    };
    if !config.agent_ids().contains(&agent) {
        return write(conn, head, bad(&format!("Unknown agent \"{agent}\" (see agents.list).")));
    }
    let Some(messages) = req.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        return write(conn, head, bad("\"messages\" must be a non-empty array."));
    };
    let Some(message) = prompt_from(messages) else {
        return write(conn, head, bad("\"messages\" has no user message with text."));
    };
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let key = if let Some(k) = head.header("x-openclaw-session-key").filter(|k| !k.trim().is_empty()) {
        k.trim().to_string()
    } else if let Some(user) = req.get("user").and_then(Value::as_str).filter(|u| !u.trim().is_empty()) {
        let user: String = user.trim().to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || "-_.@".contains(c) { c } else { '-' }).take(128).collect();
        format!("agent:{agent}:openai-user:{user}")
    } else {
        match crypto::uuid_v4() {
            Ok(u) => format!("agent:{agent}:openai:{u}"),
            Err(e) => return write(conn, head, openai_error(500, &e.to_string(), "api_error")),
        }
    };
    let rt = Arc::clone(&gw.agent);
    let key = match rt.session_key(Some(&key)) {
        Ok(k) => k,
        Err(e) => return write(conn, head, bad(&e.to_string())),
    };
    let run = match rt.new_run(&key) {
        Ok(r) => r,
        Err(e) => return write(conn, head, openai_error(503, &e.to_string(), "api_error")),
    };
    let id = format!("chatcmpl-{}", run.run_id.replace('-', ""));
    let created = now_ms() / 1000;
    let model_out = model.to_string();
    if !stream {
        let outcome = rt.run_turn(&run, &message, None, &|_, _| {});
        let resp = match outcome {
            Outcome::Final { text, usage } => Response::json(200, &json!({
                "id": id, "object": "chat.completion", "created": created, "model": model_out,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": usage.input, "completion_tokens": usage.output, "total_tokens": usage.input + usage.output}})),
            Outcome::Error(e) => openai_error(502, &e, "api_error"),
            Outcome::Aborted => openai_error(503, "The turn was aborted.", "api_error"),
        };
        return write(conn, head, resp);
    }

    // Streaming: server-sent events on a closing connection.
    let stream_sock = conn.stream();
    let _ = stream_sock.set_write_timeout(Some(Duration::from_secs(10)));
    let mut w = stream_sock;
    let headers = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
    if w.write_all(headers.as_bytes()).is_err() {
        return false;
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model_out,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let send = |mut w: &std::net::TcpStream, v: &Value| w.write_all(format!("data: {v}\n\n").as_bytes()).is_ok();
    if !send(w, &chunk(json!({"role": "assistant"}), Value::Null)) {
        return false;
    }
    let broken = std::sync::atomic::AtomicBool::new(false);
    let sink = |run: &crate::agent::runtime::Run, ev: Event| {
        if broken.load(Ordering::Relaxed) {
            return;
        }
        let ok = match ev {
            Event::Delta(t) => send(w, &chunk(json!({"content": t}), Value::Null)),
            Event::Final { .. } => send(w, &chunk(json!({}), json!("stop"))),
            Event::Error(e) => send(w, &json!({"error": {"message": e, "type": "api_error"}})),
            Event::Aborted => send(w, &chunk(json!({}), json!("stop"))),
            _ => true,
        };
        if !ok {
            // The client went away: stop the turn.
            broken.store(true, Ordering::Relaxed);
            run.abort.store(true, Ordering::SeqCst);
        }
    };
    rt.run_turn(&run, &message, None, &sink);
    if !broken.load(Ordering::Relaxed) {
        let _ = w.write_all(b"data: [DONE]\n\n");
    }
    false
}

/// The turn's message: the last user message's text, with earlier messages
/// (and system instructions) before it as context.
fn prompt_from(messages: &[Value]) -> Option<String> {
    let text = |m: &Value| match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| if p.get("type").and_then(Value::as_str) == Some("text") { p.get("text").and_then(Value::as_str) } else { None })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    let role = |m: &Value| m.get("role").and_then(Value::as_str).unwrap_or("").to_string();
    let last = messages.iter().rposition(|m| role(m) == "user" && !text(m).trim().is_empty())?;
    let earlier: Vec<String> = messages[..last]
        .iter()
        .filter(|m| !text(m).trim().is_empty())
        .map(|m| {
            let who = match role(m).as_str() {
                "system" | "developer" => "System",
                "assistant" => "Assistant",
                "tool" => "Tool",
                _ => "User",
            };
            format!("{who}: {}", text(m))
        })
        .collect();
    let current = text(&messages[last]);
    if earlier.is_empty() {
        Some(current)
    } else {
        Some(format!("[Conversation so far]\n{}\n\n[Current message]\n{current}", earlier.join("\n")))
    }
}

// ---------------------------------------------------------------------------
// /tools/invoke

fn invoke_error(status: u16, kind: &str, message: &str) -> Response {
    Response::json(status, &json!({"ok": false, "error": {"type": kind, "message": message}}))
}

fn tools_invoke(gw: &Arc<Gateway>, head: &Head, req: &Value) -> Response {
    let config = gw.config();
    let Some(tool) = req.get("tool").and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()) else {
        return invoke_error(400, "invalid_request_error", "tools.invoke requires body.tool");
    };
    let args = match req.get("args") {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => json!({}),
    };
    let mut args = args;
    if let Some(action) = req.get("action").and_then(Value::as_str)
        && args.get("action").is_none()
    {
        args["action"] = json!(action);
    }
    let name = crate::sandbox::policy::normalize_tool_name(tool);
    if !crate::agent::policy::http_invoke_allowed(&config, &name) {
        return invoke_error(404, "not_found", &format!("Tool not available: {tool}"));
    }
    let rt = &gw.agent;
    let given = req.get("sessionKey").and_then(Value::as_str).or_else(|| head.header("x-openclaw-session-key"));
    let given = given.filter(|k| k.trim() != "main");
    let key = match rt.session_key(given) {
        Ok(k) => k,
        Err(e) => return invoke_error(400, "invalid_request_error", &e.to_string()),
    };
    match rt.invoke_tool(&key, &name, &args) {
        Ok(out) if out.is_error => invoke_error(400, "tool_error", &out.text),
        Ok(out) => Response::json(200, &json!({"ok": true, "result": {"content": [{"type": "text", "text": out.text}]}})),
        Err(blocked) => {
            log::info!("tools/invoke {tool}: {blocked}");
            invoke_error(404, "not_found", &format!("Tool not available: {tool}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_pick_agents() {
        assert_eq!(agent_from_model("openclaw", "main").as_deref(), Some("main"));
        assert_eq!(agent_from_model("openclaw/Ops", "main").as_deref(), Some("ops"));
        assert_eq!(agent_from_model("agent:x", "main").as_deref(), Some("x"));
        assert_eq!(agent_from_model("gpt-4o", "main"), None);
    }

    #[test]
    fn prompt_keeps_context() {
        let m = vec![
            json!({"role": "system", "content": "be brief"}),
            json!({"role": "user", "content": "hi"}),
            json!({"role": "assistant", "content": "hello"}),
            json!({"role": "user", "content": [{"type": "text", "text": "how are you"}]}),
        ];
        let p = prompt_from(&m).unwrap();
        assert!(p.starts_with("[Conversation so far]\nSystem: be brief\nUser: hi\nAssistant: hello"));
        assert!(p.ends_with("[Current message]\nhow are you"));
        assert_eq!(prompt_from(&[json!({"role": "user", "content": "x"})]).unwrap(), "x");
        assert!(prompt_from(&[json!({"role": "assistant", "content": "x"})]).is_none());
    }
}
