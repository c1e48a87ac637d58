//! The client side of the gateway protocol, for the CLI companions
//! (`health`, `status`, `devices`): one TCP connection, the upgrade, the
//! handshake, then request/response calls, all under one deadline.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ws::{self, Decoder, Message, Role};
use crate::{crypto, fsutil};

pub struct Options {
    pub url: String,
    pub token: Option<String>,
    pub password: Option<String>,
    pub timeout: Duration,
    pub scopes: Vec<String>,
    /// `(id, secret)` of this CLI's device identity.
    pub device: Option<(String, String)>,
}

#[derive(Debug)]
pub enum Error {
    BadUrl(String),
    Unreachable { url: String, err: io::Error },
    Timeout { url: String, ms: u128 },
    /// The gateway refused or closed the socket; `error` is the refusing
    /// response when one came first.
    Closed { code: u16, reason: String, error: Option<Value> },
    /// A method answered `ok: false`.
    Rpc { code: String, message: String, details: Option<Value> },
    Protocol(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::BadUrl(u) => write!(f, "invalid gateway URL {u:?}: use ws://host:port"),
            Error::Unreachable { url, err } => write!(f, "gateway not reachable at {url}: {err} (is it running? start it with: openclaw gateway)"),
            Error::Timeout { url, ms } => write!(f, "gateway timeout after {ms} ms ({url})"),
            Error::Closed { code: 1006, .. } => write!(f, "gateway closed (1006 abnormal closure): no close reason"),
            Error::Closed { code, reason, .. } => write!(f, "gateway closed ({code}): {reason}"),
            Error::Rpc { message, .. } => write!(f, "{message}"),
            Error::Protocol(m) => write!(f, "gateway protocol error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

pub struct Client {
    stream: TcpStream,
    dec: Decoder,
    deadline: Instant,
    url: String,
    timeout: Duration,
    next: u64,
    /// Events that arrived while waiting for a response (bounded).
    events: std::collections::VecDeque<Value>,
    pub hello: Value,
}

/// `ws://host[:port][/path]` into (host:port, path). `wss://` needs TLS,
/// which the CLI does not speak.
pub fn parse_url(url: &str) -> Result<(String, String), Error> {
    let rest = if let Some(r) = url.strip_prefix("ws://").or_else(|| url.strip_prefix("http://")) {
        r
    } else if url.starts_with("wss://") || url.starts_with("https://") {
        return Err(Error::BadUrl(format!(
            "{url} (TLS is not supported by the CLI; tunnel instead: ssh -N -L 18789:127.0.0.1:18789 <host>, then --url ws://127.0.0.1:18789)"
        )));
    } else {
        return Err(Error::BadUrl(url.to_string()));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains(['@', ' ']) {
        return Err(Error::BadUrl(url.to_string()));
    }
    let has_port = if authority.starts_with('[') { authority.contains("]:") } else { authority.contains(':') };
    let authority = if has_port { authority.to_string() } else { format!("{authority}:80") };
    Ok((authority, path.split('#').next().unwrap_or("/").to_string()))
}

impl Client {
    pub fn connect(opts: &Options) -> Result<Client, Error> {
        let started = Instant::now();
        let deadline = started + opts.timeout;
        let (authority, path) = parse_url(&opts.url)?;
        let timeout_err = || Error::Timeout { url: opts.url.clone(), ms: opts.timeout.as_millis() };
        let addrs: Vec<_> = authority.to_socket_addrs().map_err(|err| Error::Unreachable { url: opts.url.clone(), err })?.collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        let mut stream = None;
        for a in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timeout_err());
            }
            match TcpStream::connect_timeout(&a, left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let Some(mut stream) = stream else {
            if last.kind() == io::ErrorKind::TimedOut {
                return Err(timeout_err());
            }
            return Err(Error::Unreachable { url: opts.url.clone(), err: last });
        };
        let _ = stream.set_nodelay(true);
        let (key, request) = ws::client_request(&authority, &path, &[]).map_err(|e| Error::Protocol(e.to_string()))?;
        stream.set_write_timeout(Some(opts.timeout)).ok();
        stream.write_all(&request).map_err(|err| Error::Unreachable { url: opts.url.clone(), err })?;
        // The 101 head, then frames.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(n) = ws::head_len(&buf) {
                break n;
            }
            if buf.len() > 16 * 1024 {
                return Err(Error::Protocol("response head too large".into()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timeout_err());
            }
            stream.set_read_timeout(Some(left)).ok();
            match stream.read(&mut chunk) {
                Ok(0) => return Err(Error::Closed { code: 1006, reason: String::new(), error: None }),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Err(timeout_err()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(Error::Unreachable { url: opts.url.clone(), err }),
            }
        };
        if let Err(why) = ws::check_response(&buf[..head_end], &key) {
            // An HTTP refusal (403 origin, 429 lockout, 503 busy): show its body.
            let body = String::from_utf8_lossy(&buf[head_end..]).trim().to_string();
            let status = String::from_utf8_lossy(&buf[..head_end]).lines().next().unwrap_or("").to_string();
            return Err(Error::Protocol(if body.is_empty() { why } else { format!("{status}: {body}") }));
        }
        let mut dec = Decoder::new(Role::Client, ws::Limits { max_frame: 16 << 20, max_message: 16 << 20 });
        dec.feed(&buf[head_end..]);
        let mut client = Client { stream, dec, deadline, url: opts.url.clone(), timeout: opts.timeout, next: 1, events: Default::default(), hello: Value::Null };

        // connect.challenge, then connect.
        let challenge = client.next_json()?;
        if challenge["event"] != "connect.challenge" {
            return Err(Error::Protocol("expected connect.challenge".into()));
        }
        let mut auth = json!({});
        if let Some(t) = &opts.token {
            auth["token"] = json!(t);
        }
        if let Some(p) = &opts.password {
            auth["password"] = json!(p);
        }
        let mut params = json!({
            "minProtocol": super::PROTOCOL_VERSION,
            "maxProtocol": super::PROTOCOL_VERSION,
            "client": {"id": "cli", "displayName": "openclaw CLI", "version": crate::VERSION, "platform": std::env::consts::OS, "mode": "cli"},
            "role": "operator",
            "scopes": opts.scopes,
            "auth": auth,
        });
        if let Some((id, secret)) = &opts.device {
            params["device"] = json!({"id": id, "secret": secret});
        }
        client.hello = client.call("connect", params)?;
        Ok(client)
    }

    /// Calls a method and returns its payload.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, Error> {
        let id = format!("{}", self.next);
        self.next += 1;
        let frame = json!({"type": "req", "id": id, "method": method, "params": params}).to_string();
        self.stream.write_all(&ws::encode_message(Role::Client, &Message::Text(frame))).map_err(|err| Error::Unreachable { url: self.url.clone(), err })?;
        loop {
            let v = self.next_json()?;
            if v["type"] == "event" {
                if self.events.len() < 4096 {
                    self.events.push_back(v);
                }
                continue;
            }
            if v["type"] != "res" || v["id"] != id.as_str() {
                continue;
            }
            if v["ok"] == true {
                return Ok(v["payload"].clone());
            }
            let err = v["error"].clone();
            // A refused handshake is followed by the close frame: report
            // that (code and reason), keeping the response's details.
            if method == "connect"
                && let Err(Error::Closed { code, reason, .. }) = self.next_json()
            {
                return Err(Error::Closed { code, reason, error: Some(err) });
            }
            return Err(Error::Rpc {
                code: err["code"].as_str().unwrap_or("").to_string(),
                message: err["message"].as_str().unwrap_or("request failed").to_string(),
                details: err.get("details").cloned(),
            });
        }
    }

    fn next_json(&mut self) -> Result<Value, Error> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.dec.next_message() {
                Ok(Some(Message::Text(t))) => return serde_json::from_str(&t).map_err(|e| Error::Protocol(format!("bad JSON from the gateway: {e}"))),
                Ok(Some(Message::Close(c))) => {
                    let (code, reason) = c.unwrap_or((1005, String::new()));
                    return Err(Error::Closed { code, reason, error: None });
                }
                Ok(Some(Message::Ping(p))) => {
                    let _ = self.stream.write_all(&ws::encode_message(Role::Client, &Message::Pong(p)));
                }
                Ok(Some(_)) => {}
                Ok(None) => {}
                Err(e) => return Err(Error::Protocol(e.to_string())),
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout { url: self.url.clone(), ms: self.timeout.as_millis() });
            }
            self.stream.set_read_timeout(Some(left)).ok();
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Error::Closed { code: 1006, reason: String::new(), error: None }),
                Ok(n) => self.dec.feed(&chunk[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(Error::Timeout { url: self.url.clone(), ms: self.timeout.as_millis() });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Error::Closed { code: 1006, reason: String::new(), error: None }),
            }
        }
    }

    /// From now on, calls and [`Client::next_event`] give up `timeout` from now.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        self.deadline = Instant::now() + timeout;
    }

    /// The next event frame (`{type:"event", event, payload, seq}`), queued
    /// or read, within the deadline.
    pub fn next_event(&mut self) -> Result<Value, Error> {
        if let Some(v) = self.events.pop_front() {
            return Ok(v);
        }
        loop {
            let v = self.next_json()?;
            if v["type"] == "event" {
                return Ok(v);
            }
        }
    }

    /// A polite close (1000).
    pub fn close(mut self) {
        let _ = self.stream.write_all(&ws::encode_message(Role::Client, &Message::Close(Some((1000, String::new())))));
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    device_id: String,
    secret: String,
    created_at_ms: u64,
}

/// This CLI's device identity, `<state>/identity/device.json` (0600),
/// created on first use. `None` when it can be neither read nor made.
pub fn cli_device(state_dir: &Path) -> Option<(String, String)> {
    let path = state_dir.join("identity").join("device.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        match serde_json::from_str::<Identity>(&text) {
            Ok(i) if super::devices::verify_identity(&i.device_id, &i.secret) => return Some((i.device_id, i.secret)),
            _ => log::warn!("{}: not a valid device identity; making a new one", path.display()),
        }
    }
    let secret = crypto::random_hex_token(32).ok()?;
    let id = super::devices::device_id_for_secret(&secret)?;
    let identity = Identity { device_id: id.clone(), secret: secret.clone(), created_at_ms: super::now_ms() };
    let text = serde_json::to_string_pretty(&identity).ok()?;
    match fsutil::write_atomic(&path, text.as_bytes()) {
        Ok(()) => Some((id, secret)),
        Err(e) => {
            log::debug!("cannot save the CLI device identity at {}: {e}", path.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(parse_url("ws://127.0.0.1:18789").unwrap(), ("127.0.0.1:18789".into(), "/".into()));
        assert_eq!(parse_url("ws://gw.local/openclaw").unwrap(), ("gw.local:80".into(), "/openclaw".into()));
        assert_eq!(parse_url("http://[::1]:9/").unwrap(), ("[::1]:9".into(), "/".into()));
        assert!(matches!(parse_url("wss://x"), Err(Error::BadUrl(m)) if m.contains("ssh -N -L")));
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("ws://").is_err());
    }
}
