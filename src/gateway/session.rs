//! One WebSocket: the checks before the 101 (Origin, lockout, upgrade
//! headers), the handshake (`connect.challenge`, `connect`, auth, device
//! identity, pairing, `hello-ok`), then the request loop with pings and an
//! idle timeout. The socket's thread runs all of it; other threads write to
//! it only through its [`Peer`].

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::{Conn, Head, Response};
use super::server::{Origin, host_name, is_loopback_name};
use super::ws::{self, Decoder, Message, Role};
use super::{Gateway, Live, PROTOCOL_VERSION, Peer, devices, has_scope, methods, now_ms};
use crate::config::model::AuthMode;
use crate::crypto;

const ORIGIN_REFUSED: &str = "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)";
pub const CONTROL_UI_ID: &str = "openclaw-control-ui";

/// An RPC failure: `{code, message, details?}`.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl RpcError {
    pub fn new(code: &'static str, message: impl Into<String>) -> RpcError {
        RpcError { code, message: message.into(), details: None }
    }

    pub fn invalid(message: impl Into<String>) -> RpcError {
        RpcError::new("INVALID_REQUEST", message)
    }

    pub fn details(mut self, d: Value) -> RpcError {
        self.details = Some(d);
        self
    }

    fn to_json(&self) -> Value {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(d) = &self.details {
            e["details"] = d.clone();
        }
        e
    }
}

fn res_ok(id: &Value, payload: Value) -> String {
    json!({"type": "res", "id": id, "ok": true, "payload": payload}).to_string()
}

fn res_err(id: &Value, e: &RpcError) -> String {
    json!({"type": "res", "id": id, "ok": false, "error": e.to_json()}).to_string()
}

/// The gateway's own origins (the address the browser connected to, and
/// loopback names) and `gateway.controlUi.allowedOrigins`.
fn origin_allowed(gw: &Gateway, stream: &TcpStream, head: &Head, origin: &str) -> bool {
    let config = gw.config();
    let ui = &config.gateway.control_ui;
    if ui.allowed_origins.iter().any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some((scheme, rest)) = origin.split_once("://") else { return false };
    if !matches!(scheme, "http" | "https") {
        return false;
    }
    let Some(name) = host_name(rest) else { return false };
    let port = rest.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).unwrap_or(if scheme == "https" { 443 } else { 80 });
    let host_header = head.header("host").unwrap_or("");
    // Same origin as the page: the Origin names exactly the Host the request
    // came to, and that host is this socket's own address or a loopback name
    // (a DNS name needs allowedOrigins, or the explicit fallback flag).
    let same_host = rest.eq_ignore_ascii_case(host_header) || (port == gw.port && host_name(host_header).is_some_and(|h| h == name));
    if !same_host {
        return false;
    }
    let local_ip = stream.local_addr().map(|a| a.ip()).ok();
    is_loopback_name(&name)
        || name.parse::<IpAddr>().ok().zip(local_ip).is_some_and(|(a, b)| a == b || ipv4_mapped_eq(a, b))
        || ui.allow_host_header_origin_fallback
}

fn ipv4_mapped_eq(a: IpAddr, b: IpAddr) -> bool {
    let v4 = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        ip => ip,
    };
    v4(a) == v4(b)
}

/// Whether auth failures from this client count: loopback is exempt (when
/// configured, as upstream) unless the request carries a browser `Origin`.
pub(super) fn limited(live: &Live, origin: &Origin) -> bool {
    !(live.config.gateway.auth.rate_limit.exempt_loopback && origin.ip.is_loopback() && origin.browser_origin.is_none())
}

/// Checks an upgrade request and runs the socket until it closes.
pub fn upgrade(gw: &Arc<Gateway>, mut conn: Conn, head: Head, origin: Origin) {
    if let Some(o) = &origin.browser_origin
        && !origin_allowed(gw, conn.stream(), &head, o)
    {
        log::info!("websocket from {} refused: origin {o:?} not allowed", origin.ip);
        let _ = conn.write_response(&forbidden(ORIGIN_REFUSED), false);
        return;
    }
    let live = gw.live();
    if limited(&live, &origin)
        && let Err(wait) = gw.limiter.check(origin.ip, Instant::now())
    {
        let mut r = Response::text(429, "unauthorized: too many failed authentication attempts (retry later)\n")
            .header("Retry-After", &wait.as_secs().max(1).to_string());
        r.close = true;
        let _ = conn.write_response(&r, false);
        return;
    }
    let accept = match ws::check_upgrade(&head.method, &head.headers) {
        Ok(a) => a,
        Err(why) => {
            let mut r = Response::text(400, &format!("Bad Request: {why}\n"));
            r.close = true;
            let _ = conn.write_response(&r, false);
            return;
        }
    };
    let (mut stream, leftover) = conn.into_parts();
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(&ws::response_101(&accept)).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    let mut sock = Socket::new(stream, leftover, gw.tuning.max_payload);
    if let Some(n) = std::thread::current().name() {
        log::trace!("{n}: websocket from {}", origin.ip);
    }
    run(gw, &mut sock, &origin);
}

fn forbidden(msg: &str) -> Response {
    let mut r = Response::text(403, &format!("{msg}\n"));
    r.close = true;
    r
}

/// The socket before it has a [`Peer`]: reads frames, writes directly.
struct Socket {
    stream: TcpStream,
    dec: Decoder,
    buf: Vec<u8>,
}

enum Read1 {
    Msg(Message),
    Timeout,
    Closed,
    Violation(ws::ProtocolError),
}

impl Socket {
    fn new(stream: TcpStream, leftover: Vec<u8>, max: usize) -> Socket {
        let mut dec = Decoder::new(Role::Server, ws::Limits { max_frame: max, max_message: max });
        dec.feed(&leftover);
        Socket { stream, dec, buf: vec![0; 16 * 1024] }
    }

    fn next(&mut self, deadline: Instant) -> Read1 {
        loop {
            match self.dec.next_message() {
                Ok(Some(m)) => return Read1::Msg(m),
                Ok(None) => {}
                Err(e) => return Read1::Violation(e),
            }
            let now = Instant::now();
            if now >= deadline {
                return Read1::Timeout;
            }
            let _ = self.stream.set_read_timeout(Some((deadline - now).min(Duration::from_secs(5)).max(Duration::from_millis(1))));
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Read1::Closed,
                Ok(n) => self.dec.feed(&self.buf[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
                Err(_) => return Read1::Closed,
            }
        }
    }

    fn send(&mut self, msg: &Message) -> bool {
        self.stream.write_all(&ws::encode_message(Role::Server, msg)).is_ok()
    }

    fn text(&mut self, s: String) -> bool {
        self.send(&Message::Text(s))
    }

    fn close(&mut self, code: u16, reason: &str) {
        self.send(&Message::Close(Some((code, reason.to_string()))));
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

fn run(gw: &Arc<Gateway>, sock: &mut Socket, origin: &Origin) {
    let nonce = crypto::random_hex_token(16).unwrap_or_default();
    if !sock.text(json!({"type": "event", "event": "connect.challenge", "payload": {"nonce": nonce, "ts": now_ms()}}).to_string()) {
        return;
    }
    let deadline = Instant::now() + gw.tuning.handshake;
    let first = loop {
        match sock.next(deadline) {
            Read1::Msg(Message::Text(t)) => break t,
            Read1::Msg(Message::Ping(p)) => {
                sock.send(&Message::Pong(p));
            }
            Read1::Msg(Message::Pong(_)) => {}
            Read1::Msg(Message::Binary(_)) => return sock.close(1008, "invalid request frame"),
            Read1::Msg(Message::Close(_)) | Read1::Closed => return sock.close(1000, ""),
            Read1::Timeout => return sock.close(1008, "handshake timeout"),
            Read1::Violation(e) => return sock.close(e.code, e.reason),
        }
    };
    let peer = match handshake(gw, sock, origin, &first) {
        Some(p) => p,
        None => return,
    };
    gw.add_peer(Arc::clone(&peer));
    log::info!("client connected: {} {} from {} (conn {})", peer.client_id, peer.role, origin.ip, peer.id);
    serve(gw, sock, &peer);
    gw.remove_peer(peer.id);
    log::info!("client disconnected: conn {}", peer.id);
}

/// Reads `connect`, authenticates, pairs and answers `hello-ok`. `None`
/// when the socket was refused (and closed).
fn handshake(gw: &Arc<Gateway>, sock: &mut Socket, origin: &Origin, first: &str) -> Option<Arc<Peer>> {
    let frame: Value = match serde_json::from_str(first) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            sock.close(1008, "invalid request frame");
            return None;
        }
    };
    if frame["type"] != "req" || !frame["id"].is_string() || !frame["method"].is_string() {
        sock.close(1008, "invalid request frame");
        return None;
    }
    let id = frame["id"].clone();
    let refuse = |sock: &mut Socket, e: RpcError, code: u16| {
        sock.text(res_err(&id, &e));
        sock.close(code, &e.message);
    };
    if frame["method"] != "connect" {
        refuse(sock, RpcError::invalid("invalid handshake: first request must be connect"), 1008);
        return None;
    }
    let p = match ConnectParams::parse(&frame["params"]) {
        Ok(p) => p,
        Err(why) => {
            refuse(sock, RpcError::invalid(format!("invalid connect params: {why}")), 1008);
            return None;
        }
    };
    if p.max_protocol < PROTOCOL_VERSION || p.min_protocol > PROTOCOL_VERSION {
        refuse(sock, RpcError::invalid("protocol mismatch").details(json!({"expectedProtocol": PROTOCOL_VERSION})), 1002);
        return None;
    }
    if !matches!(p.role.as_str(), "operator" | "node") {
        refuse(sock, RpcError::invalid("invalid role"), 1008);
        return None;
    }

    // Shared secret, or a device token.
    let live = gw.live();
    let rate_limited = limited(&live, origin);
    let now = Instant::now();
    if rate_limited && let Err(wait) = gw.limiter.check(origin.ip, now) {
        let e = RpcError::invalid("unauthorized: too many failed authentication attempts (retry later)")
            .details(json!({"retryAfterMs": wait.as_millis() as u64}));
        refuse(sock, e, 1008);
        return None;
    }
    let mut device_token_scopes: Option<Vec<String>> = None;
    let shared_ok = match (&live.auth.secret, live.auth.mode) {
        (_, AuthMode::None) => true,
        (Some(secret), _) => {
            let given = match live.auth.mode {
                AuthMode::Password => p.password.as_deref().or(p.token.as_deref()),
                _ => p.token.as_deref(),
            };
            given.is_some_and(|g| crypto::constant_time_eq(g.as_bytes(), secret.as_bytes()))
        }
        (None, _) => false,
    };
    if !shared_ok {
        // A device token in place of the gateway token.
        if let (Some(dev), Some(token)) = (&p.device, p.device_token.as_ref().or(p.token.as_ref()))
            && devices::verify_identity(&dev.id, &dev.secret)
        {
            device_token_scopes = gw.devices.verify_token(&dev.id, &p.role, token, super::now_ms()).ok().flatten();
        }
        if device_token_scopes.is_none() {
            let reason = auth_failure_reason(&live, &p);
            if rate_limited {
                let _ = gw.limiter.failure(origin.ip, now);
            }
            log::info!("websocket from {} refused: {reason}", origin.ip);
            refuse(sock, RpcError::invalid(reason), 1008);
            return None;
        }
    }
    if rate_limited {
        gw.limiter.success(origin.ip);
    }

    // Device identity and pairing.
    let config = gw.config();
    let mut scopes = p.scopes.clone();
    let mut device_auth = None;
    match &p.device {
        None => {
            if !(origin.local_direct || config.gateway.control_ui.disable_device_auth) {
                refuse(sock, RpcError::new("NOT_PAIRED", "device identity required"), 1008);
                return None;
            }
        }
        Some(dev) => {
            if !devices::verify_identity(&dev.id, &dev.secret) {
                refuse(sock, RpcError::invalid("device identity mismatch"), 1008);
                return None;
            }
            if let Some(allowed) = &device_token_scopes {
                scopes.retain(|s| allowed.contains(s));
            }
            match pair(gw, &p, dev, origin) {
                Ok(auth) => device_auth = Some(auth),
                Err(Refusal { error, code }) => {
                    refuse(sock, error, code);
                    return None;
                }
            }
        }
    }
    let peer = Arc::new(Peer {
        id: gw.next_id.fetch_add(1, Ordering::SeqCst),
        ip: origin.ip,
        client_id: p.client_id.clone(),
        client_mode: p.client_mode.clone(),
        role: p.role.clone(),
        scopes,
        device_id: p.device.as_ref().map(|d| d.id.clone()),
        shared_auth: if shared_ok && device_token_scopes.is_none() { live.auth.secret.as_ref().map(|s| crypto::sha256(s.as_bytes())) } else { None },
        connected_ms: now_ms(),
        writer: std::sync::Mutex::new(match sock.stream.try_clone() {
            Ok(s) => s,
            Err(_) => {
                sock.close(1011, "internal error");
                return None;
            }
        }),
        closed: AtomicBool::new(false),
    });
    let mut hello = methods::hello(gw, &peer);
    if let Some((token, issued)) = device_auth {
        hello["auth"] = json!({"deviceToken": token, "role": peer.role, "scopes": peer.scopes, "issuedAtMs": issued});
    }
    if !sock.text(res_ok(&id, hello)) {
        return None;
    }
    Some(peer)
}

struct Refusal {
    error: RpcError,
    code: u16,
}

/// A paired device gets its token; an unknown one is paired silently on
/// true loopback, else held with a pending request.
fn pair(gw: &Gateway, p: &ConnectParams, dev: &DeviceParam, origin: &Origin) -> Result<(String, u64), Refusal> {
    let now = now_ms();
    let store_err = |e: devices::Error| {
        log::error!("device store: {e}");
        Refusal { error: RpcError::new("UNAVAILABLE", "device store unavailable"), code: 1011 }
    };
    let paired = gw.devices.paired(&dev.id).map_err(store_err)?;
    if let Some(pd) = &paired
        && devices::Store::is_approved(pd, &p.role, &p.scopes)
        && let Some(t) = pd.tokens.get(&p.role).filter(|t| t.revoked_at_ms.is_none())
    {
        return Ok((t.token.clone(), t.rotated_at_ms.unwrap_or(t.created_at_ms)));
    }
    let info = devices::DeviceInfo {
        device_id: dev.id.clone(),
        display_name: p.display_name.clone(),
        platform: p.platform.clone(),
        client_id: Some(p.client_id.clone()),
        client_mode: Some(p.client_mode.clone()),
        role: p.role.clone(),
        scopes: p.scopes.clone(),
        remote_ip: Some(origin.ip.to_string()),
    };
    // The same device asking again for the same role and scopes keeps its
    // pending request (a browser retries every few seconds while a person
    // types the approve command); anything else supersedes it.
    let (pending_list, _) = gw.devices.list(now).map_err(store_err)?;
    let same = pending_list.into_iter().find(|q| {
        q.device_id == dev.id && q.role.as_deref().unwrap_or("operator") == p.role && sorted(q.scopes.clone().unwrap_or_default()) == sorted(p.scopes.clone())
    });
    let fresh = same.is_none() || origin.local_direct;
    let (pending, superseded) = match same {
        Some(q) if !origin.local_direct => (q, Vec::new()),
        _ => gw.devices.request(&info, origin.local_direct, now).map_err(store_err)?,
    };
    for old in superseded {
        gw.broadcast("device.pair.resolved", json!({"requestId": old.request_id, "deviceId": old.device_id, "decision": "superseded", "ts": now}), |p| p.has_scope("operator.pairing"));
    }
    if origin.local_direct {
        let (_, token) = gw.devices.approve(&pending.request_id, now).map_err(store_err)?;
        log::info!("device {} paired silently (local connection)", short(&dev.id));
        gw.broadcast("device.pair.resolved", json!({"requestId": pending.request_id, "deviceId": dev.id, "decision": "approved", "silent": true, "ts": now}), |p| p.has_scope("operator.pairing"));
        return Ok((token, now));
    }
    log::info!("device {} from {} needs approval: openclaw devices approve {}", short(&dev.id), origin.ip, pending.request_id);
    if fresh {
        gw.broadcast("device.pair.requested", serde_json::to_value(&pending).unwrap_or(Value::Null), |p| p.has_scope("operator.pairing"));
    }
    Err(Refusal {
        error: RpcError::new("NOT_PAIRED", "pairing required").details(json!({"requestId": pending.request_id, "code": "PAIRING_REQUIRED", "reason": if paired.is_some() { "scope-upgrade" } else { "not-paired" }})),
        code: 1008,
    })
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn auth_failure_reason(live: &Live, p: &ConnectParams) -> String {
    let hint = if p.client_id == "cli" || p.client_mode == "cli" {
        "set gateway.remote.token to match gateway.auth.token"
    } else if p.client_id == CONTROL_UI_ID || p.client_mode == "webchat" || p.client_mode == "ui" {
        "open the dashboard URL and paste the token in Control UI settings"
    } else {
        "provide gateway auth token"
    };
    let (what, given) = match live.auth.mode {
        AuthMode::Password => ("password", p.password.is_some() || p.token.is_some()),
        _ => ("token", p.token.is_some()),
    };
    // A device token given as such that is not the device's current one.
    if p.device_token.is_some() && !given {
        return "unauthorized: device token mismatch (rotate/reissue device token)".into();
    }
    if live.auth.secret.is_none() {
        return format!("unauthorized: gateway {what} not configured on gateway (set gateway.auth.{what})");
    }
    if !given {
        return format!("unauthorized: gateway {what} missing ({hint})");
    }
    format!("unauthorized: gateway {what} mismatch ({hint})")
}

struct DeviceParam {
    id: String,
    secret: String,
}

struct ConnectParams {
    min_protocol: u64,
    max_protocol: u64,
    client_id: String,
    client_mode: String,
    display_name: Option<String>,
    platform: Option<String>,
    role: String,
    scopes: Vec<String>,
    token: Option<String>,
    /// `auth.deviceToken`: a device token given as such.
    device_token: Option<String>,
    password: Option<String>,
    device: Option<DeviceParam>,
}

impl ConnectParams {
    fn parse(v: &Value) -> Result<ConnectParams, String> {
        let o = v.as_object().ok_or("params must be an object")?;
        let num = |k: &str| o.get(k).and_then(Value::as_u64).ok_or(format!("{k} must be a non-negative integer"));
        let client = o.get("client").and_then(Value::as_object).ok_or("client must be an object")?;
        let cstr = |k: &str, max: usize| -> Result<Option<String>, String> {
            match client.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= max => Ok(Some(s.clone())),
                Some(_) => Err(format!("client.{k} must be a string of at most {max} bytes")),
            }
        };
        let client_id = cstr("id", 128)?.filter(|s| !s.is_empty()).ok_or("client.id is required")?;
        let scopes = match o.get("scopes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) if a.len() <= 32 => a
                .iter()
                .map(|s| s.as_str().filter(|s| s.len() <= 64).map(str::to_string).ok_or("scopes must be strings".to_string()))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("scopes must be a list of at most 32 strings".into()),
        };
        let auth = o.get("auth").and_then(Value::as_object);
        let astr = |k: &str| auth.and_then(|a| a.get(k)).and_then(Value::as_str).map(str::to_string);
        let device = match o.get("device") {
            None | Some(Value::Null) => None,
            Some(Value::Object(d)) => {
                let id = d.get("id").and_then(Value::as_str).ok_or("device.id must be a string")?;
                let secret = d.get("secret").and_then(Value::as_str).ok_or("device.secret is required (64 hex characters)")?;
                if id.len() != 64 || secret.len() != 64 {
                    return Err("device.id and device.secret must be 64 hex characters".into());
                }
                Some(DeviceParam { id: id.to_ascii_lowercase(), secret: secret.to_string() })
            }
            Some(_) => return Err("device must be an object".into()),
        };
        Ok(ConnectParams {
            min_protocol: num("minProtocol")?,
            max_protocol: num("maxProtocol")?,
            client_mode: cstr("mode", 64)?.unwrap_or_default(),
            display_name: cstr("displayName", 256)?,
            platform: cstr("platform", 128)?,
            client_id,
            role: match o.get("role") {
                None | Some(Value::Null) => "operator".into(),
                Some(Value::String(r)) => r.clone(),
                Some(_) => return Err("role must be a string".into()),
            },
            scopes,
            token: astr("token"),
            device_token: astr("deviceToken"),
            password: astr("password"),
            device,
        })
    }
}

/// The request loop after `hello-ok`.
fn serve(gw: &Arc<Gateway>, sock: &mut Socket, peer: &Arc<Peer>) {
    let mut last_rx = Instant::now();
    loop {
        if gw.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        match sock.next(last_rx + gw.tuning.idle) {
            Read1::Msg(m) => {
                last_rx = Instant::now();
                match m {
                    Message::Text(t) => {
                        if let Some(reply) = request(gw, peer, &t) {
                            peer.send(&reply);
                        }
                    }
                    Message::Binary(_) => {
                        peer.send(&res_err(&Value::Null, &RpcError::invalid("invalid request frame: binary frames are not supported")));
                    }
                    Message::Ping(p) => {
                        peer.send_frame(&Message::Pong(p));
                    }
                    Message::Pong(_) => {}
                    Message::Close(_) => return peer.close(1000, ""),
                }
            }
            Read1::Timeout => return peer.close(1001, "idle timeout"),
            Read1::Closed => return,
            Read1::Violation(e) => return peer.close(e.code, e.reason),
        }
    }
}

fn request(gw: &Arc<Gateway>, peer: &Arc<Peer>, text: &str) -> Option<String> {
    let frame: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(res_err(&Value::Null, &RpcError::invalid(format!("invalid request frame: {e}")))),
    };
    let id = frame.get("id").cloned().unwrap_or(Value::Null);
    if frame["type"] != "req" || !id.is_string() {
        return Some(res_err(&id, &RpcError::invalid("invalid request frame: expected {\"type\":\"req\",\"id\":…,\"method\":…}")));
    }
    let Some(method) = frame["method"].as_str() else {
        return Some(res_err(&id, &RpcError::invalid("invalid request frame: method must be a string")));
    };
    let params = frame.get("params").cloned().unwrap_or(json!({}));
    let started = Instant::now();
    let result = methods::call(gw, peer, method, &params);
    log::debug!("rpc {method} conn {} {} in {:?}", peer.id, if result.is_ok() { "ok" } else { "error" }, started.elapsed());
    Some(match result {
        Ok(payload) => res_ok(&id, payload),
        Err(e) => res_err(&id, &e),
    })
}

/// Scope check shared by the methods.
pub fn require(peer: &Peer, scope: &str) -> Result<(), RpcError> {
    if has_scope(&peer.scopes, scope) {
        Ok(())
    } else {
        Err(RpcError::invalid(format!("missing scope: {scope}")))
    }
}
