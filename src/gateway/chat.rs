//! Chat over the WebSocket: `chat.send`, `chat.history`, `chat.abort`,
//! `sessions.reset`, and the `chat` / `agent` events a turn publishes
//! (docs/gateway-protocol.md). The turn itself is `agent::runtime`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::methods::opt_str;
use super::session::{RpcError, require};
use super::{Gateway, Peer, now_ms};
use crate::agent::runtime::{Event, Run, StartError};

/// Deltas are sent at most this often (the text so far, as upstream).
const DELTA_EVERY: Duration = Duration::from_millis(50);
/// How long an idempotency key is remembered.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(600);

/// `idempotencyKey` → (runId, when).
#[derive(Default)]
pub struct Idempotency(Mutex<HashMap<String, (String, Instant)>>);

pub fn call(gw: &Arc<Gateway>, peer: &Peer, method: &str, params: &Value) -> Option<Result<Value, RpcError>> {
    Some(match method {
        "chat.send" => require(peer, "operator.write").and_then(|()| send(gw, params)),
        "chat.history" => require(peer, "operator.read").and_then(|()| history(gw, params)),
        "chat.abort" => require(peer, "operator.write").and_then(|()| abort(gw, params)),
        "sessions.reset" => require(peer, "operator.write").and_then(|()| reset(gw, params)),
        _ => return None,
    })
}

fn start_err(e: StartError) -> RpcError {
    match e {
        StartError::BadRequest(m) => RpcError::invalid(m),
        StartError::Unavailable(m) => RpcError::new("UNAVAILABLE", m),
    }
}

fn send(gw: &Arc<Gateway>, params: &Value) -> Result<Value, RpcError> {
    let rt = &gw.agent;
    let key = rt.session_key(opt_str(params, "sessionKey")?).map_err(start_err)?;
    let message = match params.get("message") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(RpcError::invalid("message is required (a non-empty string)")),
    };
    if message.len() > crate::agent::runtime::MAX_MESSAGE_BYTES {
        return Err(RpcError::invalid(format!(
            "message is too long ({} bytes; at most {})",
            message.len(),
            crate::agent::runtime::MAX_MESSAGE_BYTES
        )));
    }
    let timeout = match params.get("timeoutMs") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(ms) if ms > 0 => Some(Duration::from_millis(ms.min(24 * 3600 * 1000))),
            _ => return Err(RpcError::invalid("timeoutMs must be a positive integer")),
        },
    };
    let idem = opt_str(params, "idempotencyKey")?.filter(|k| !k.is_empty()).map(|k| format!("{key}\u{0}{k}"));
    let mut seen = gw.idempotency.0.lock().unwrap_or_else(|e| e.into_inner());
    seen.retain(|_, (_, at)| at.elapsed() < IDEMPOTENCY_TTL);
    if let Some((run_id, _)) = idem.as_ref().and_then(|k| seen.get(k)) {
        let running = rt.active_runs().iter().any(|r| &r.run_id == run_id);
        return Ok(json!({"runId": run_id, "status": if running { "in_flight" } else { "ok" }}));
    }
    let media = match params.get("attachments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) if list.len() <= 8 => {
            let mut saved = Vec::new();
            for (i, a) in list.iter().enumerate() {
                let content = a.get("content").and_then(Value::as_str).unwrap_or("");
                let bytes = crate::crypto::base64_decode(content.trim())
                    .ok_or_else(|| RpcError::invalid(format!("attachments[{i}].content must be base64")))?;
                let name = a.get("fileName").and_then(Value::as_str).unwrap_or("attachment");
                saved.push(rt.save_media(name, &bytes).map_err(RpcError::invalid)?);
            }
            saved
        }
        Some(_) => return Err(RpcError::invalid("attachments must be an array of at most 8 {fileName, mimeType, content}")),
    };
    let run = rt.new_run_with_media(&key, media).map_err(start_err)?;
    let run_id = run.run_id.clone();
    if let Some(k) = idem {
        if seen.len() >= 10_000 {
            seen.clear();
        }
        seen.insert(k, (run_id.clone(), Instant::now()));
    }
    drop(seen);
    let publisher = Publisher::new(Arc::clone(gw));
    rt.spawn(run, message, timeout, Box::new(move |run, ev| publisher.publish(run, ev))).map_err(start_err)?;
    Ok(json!({"runId": run_id, "status": "started"}))
}

fn history(gw: &Arc<Gateway>, params: &Value) -> Result<Value, RpcError> {
    let rt = &gw.agent;
    let key = rt.session_key(opt_str(params, "sessionKey")?).map_err(start_err)?;
    let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(200).clamp(1, 1000) as usize;
    let (session_id, messages) = rt.history(&key, limit).map_err(|e| RpcError::new("UNAVAILABLE", e))?;
    Ok(json!({"sessionKey": key, "sessionId": session_id, "messages": messages, "runId": rt.active_run(&key)}))
}

fn abort(gw: &Arc<Gateway>, params: &Value) -> Result<Value, RpcError> {
    let rt = &gw.agent;
    let run_id = opt_str(params, "runId")?;
    let key = match (opt_str(params, "sessionKey")?, run_id) {
        (None, Some(_)) => None,
        (given, _) => Some(rt.session_key(given).map_err(start_err)?),
    };
    let ids = rt.abort(key.as_deref(), run_id);
    Ok(json!({"ok": true, "aborted": !ids.is_empty(), "runIds": ids}))
}

fn reset(gw: &Arc<Gateway>, params: &Value) -> Result<Value, RpcError> {
    let rt = &gw.agent;
    let given = opt_str(params, "key")?.or(opt_str(params, "sessionKey")?);
    let key = rt.session_key(given).map_err(start_err)?;
    rt.abort(Some(&key), None);
    let entry = rt.reset(&key).map_err(|e| RpcError::new("UNAVAILABLE", e))?;
    Ok(json!({"ok": true, "key": key, "entry": entry}))
}

/// Turns a run's events into `chat` and `agent` events for every reader.
pub struct Publisher {
    gw: Arc<Gateway>,
    state: Mutex<PubState>,
}

struct PubState {
    seq: u64,
    text: String,
    last_delta: Option<Instant>,
    pending: bool,
}

impl Publisher {
    pub fn new(gw: Arc<Gateway>) -> Publisher {
        Publisher { gw, state: Mutex::new(PubState { seq: 0, text: String::new(), last_delta: None, pending: false }) }
    }

    pub fn publish(&self, run: &Run, ev: Event) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let base = |st: &mut PubState| {
            st.seq += 1;
            json!({"runId": run.run_id, "sessionKey": run.session_key, "seq": st.seq})
        };
        let message = |text: &str| json!({"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": now_ms()});
        match ev {
            Event::Delta(piece) => {
                st.text.push_str(&piece);
                st.pending = true;
                if st.last_delta.is_none_or(|t| t.elapsed() >= DELTA_EVERY) {
                    self.flush(run, &mut st);
                }
            }
            Event::ToolStart { id, name, args } => {
                self.flush_pending(run, &mut st);
                // A new model step starts its text afresh after tools.
                st.text.clear();
                let mut p = base(&mut st);
                p["stream"] = json!("tool");
                p["ts"] = json!(now_ms());
                p["data"] = json!({"phase": "start", "name": name, "toolCallId": id, "args": args});
                self.send("agent", p);
            }
            Event::ToolResult { id, name, output } => {
                let mut p = base(&mut st);
                p["stream"] = json!("tool");
                p["ts"] = json!(now_ms());
                p["data"] = json!({"phase": "result", "name": name, "toolCallId": id, "result": output.text, "isError": output.is_error});
                self.send("agent", p);
            }
            Event::Final { text, usage, stop_reason } => {
                let mut p = base(&mut st);
                p["state"] = json!("final");
                p["message"] = message(&text);
                p["usage"] = json!({"input": usage.input, "output": usage.output});
                p["stopReason"] = json!(stop_reason);
                self.send("chat", p);
            }
            Event::Error(e) => {
                self.flush_pending(run, &mut st);
                let mut p = base(&mut st);
                p["state"] = json!("error");
                p["errorMessage"] = json!(e);
                self.send("chat", p);
            }
            Event::Aborted => {
                self.flush_pending(run, &mut st);
                let mut p = base(&mut st);
                p["state"] = json!("aborted");
                self.send("chat", p);
            }
        }
    }

    fn flush_pending(&self, run: &Run, st: &mut PubState) {
        if st.pending {
            self.flush(run, st);
        }
    }

    fn flush(&self, run: &Run, st: &mut PubState) {
        st.seq += 1;
        st.pending = false;
        st.last_delta = Some(Instant::now());
        let p = json!({"runId": run.run_id, "sessionKey": run.session_key, "seq": st.seq, "state": "delta",
            "message": {"role": "assistant", "content": [{"type": "text", "text": st.text}], "timestamp": now_ms()}});
        self.send("chat", p);
    }

    fn send(&self, event: &str, payload: Value) {
        self.gw.broadcast(event, payload, |p| p.has_scope("operator.read"));
    }
}
