//! A fake Discord for the driver's tests and benchmark: the REST API under
//! `/api/v10` and the Gateway WebSocket, on one plain `127.0.0.1` port,
//! speaking Discord's JSON.
//!
//! REST: `GET /gateway/bot` (the Gateway URL is this server's `ws://`),
//! `GET /users/@me`, `POST /channels/{id}/messages` (recorded; 400 for empty
//! or over-2,000-character content, as Discord), `POST /channels/{id}/typing`,
//! and `GET /files/<name>` for attachments (no auth). Calls need
//! `Authorization: Bot <token>` with an accepted token, else 401. Failures
//! are injected per route ([`Inject`]): 429 with `retry_after`, any status,
//! a malformed body, a dropped connection, or a success that empties the
//! route's bucket (`X-RateLimit-Remaining: 0`).
//!
//! Gateway: Hello with a configurable interval, heartbeat ACKs (which can be
//! withheld), Identify (token checked: close 4004; or closed with a chosen
//! code such as 4014) answered by READY whose `resume_gateway_url` is
//! `ws://127.0.0.1:<port>/resume`, Resume (events after the client's `seq`
//! replayed, then RESUMED; an unknown session gets op 9 `false`), and
//! dispatches with sequence numbers per session. Tests can send any payload
//! (op 7, op 9, op 1), raw text, raw bytes (broken frames), close with a
//! code, or drop the TCP connection. Every Identify and Resume is recorded.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openclaw::gateway::ws::{self, Decoder, Message, Role};
use serde_json::{Value, json};

/// The token accepted from the start.
pub const TOKEN: &str = "MTA5ODc2NTQzMjEwOTg3NjU0.fake.discord-test-token";
/// The bot's user id in READY and `/users/@me`.
pub const BOT_ID: &str = "900000000000000001";
pub const BOT_NAME: &str = "openclaw-fake";
const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 8 << 20;
/// Events kept per session for replay on resume.
const MAX_EVENTS: usize = 1000;

/// A failure injected into the next call of a route.
#[derive(Debug, Clone)]
pub enum Inject {
    /// 429 with this `retry_after` (seconds); `global` as Discord marks it.
    RateLimit { secs: f64, global: bool },
    /// This status with a Discord error body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Malformed,
    /// The connection is closed without an answer.
    Drop,
    /// A normal answer whose headers say the bucket is empty for `secs`.
    Exhaust(f64),
}

/// One REST request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path after `/api/v10` (or the full path for other routes).
    pub path: String,
    pub at: Instant,
    /// The raw `Authorization` header, if any.
    pub auth: Option<String>,
}

/// One message the bot posted.
#[derive(Debug, Clone)]
pub struct Sent {
    pub channel_id: String,
    pub body: Value,
}

impl Sent {
    pub fn content(&self) -> &str {
        self.body["content"].as_str().unwrap_or("")
    }
}

enum Cmd {
    Text(String),
    Bytes(Vec<u8>),
    Close(u16),
    Drop,
}

struct Session {
    token: String,
    seq: u64,
    events: VecDeque<(u64, String)>,
    conn: Option<u64>,
}

struct Conn {
    /// The socket's write half: commands are written at once, under the
    /// state lock, so a dispatch reaches the client without polling delay.
    writer: TcpStream,
    /// The request target of the upgrade (`/` or `/resume/…`).
    target: String,
}

impl Conn {
    /// Performs `cmd`; false when the connection is finished.
    fn send(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Text(t) => self.writer.write_all(&ws::encode_message(Role::Server, &Message::Text(t))).is_ok(),
            Cmd::Bytes(b) => self.writer.write_all(&b).is_ok(),
            Cmd::Close(code) => {
                let _ = self.writer.write_all(&ws::encode_message(Role::Server, &Message::Close(Some((code, close_reason(code).into())))));
                // FIN after the frame; the reader sees the client leave.
                let _ = self.writer.shutdown(Shutdown::Write);
                false
            }
            Cmd::Drop => {
                let _ = self.writer.shutdown(Shutdown::Both);
                false
            }
        }
    }
}

#[derive(Default)]
struct State {
    tokens: Vec<String>,
    heartbeat_ms: u64,
    withhold_acks: bool,
    identify_close: Option<u16>,
    requests: Vec<Request>,
    sent: Vec<Sent>,
    typing: Vec<String>,
    injects: Vec<(String, VecDeque<Inject>)>,
    files: HashMap<String, Vec<u8>>,
    identifies: Vec<Value>,
    /// Each Resume with the request target of its connection.
    resumes: Vec<(Value, String)>,
    heartbeats: u64,
    sessions: HashMap<String, Session>,
    conns: HashMap<u64, Conn>,
    next: u64,
}

struct Shared {
    stop: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
    port: u16,
}

fn lock(s: &Shared) -> MutexGuard<'_, State> {
    s.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server; stops and closes every connection when dropped.
pub struct FakeDiscord {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeDiscord {
    pub fn start() -> FakeDiscord {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Discord on 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let state = State { tokens: vec![TOKEN.to_string()], heartbeat_ms: 41_250, ..State::default() };
        let shared = Arc::new(Shared { stop: AtomicBool::new(false), state: Mutex::new(state), changed: Condvar::new(), port });
        let s = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("fake-discord".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if s.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    match stream {
                        Ok(stream) => {
                            let s = Arc::clone(&s);
                            let _ = std::thread::Builder::new().name("fake-discord-conn".into()).spawn(move || handle(&s, stream));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
            .unwrap();
        FakeDiscord { shared, accept: Some(accept) }
    }

    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// What `channels.discord.apiBaseUrl` should be.
    pub fn api_base(&self) -> String {
        format!("http://127.0.0.1:{}/api/v10", self.shared.port)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut lock(&self.shared));
        self.shared.changed.notify_all();
        out
    }

    /// Waits until `pred` holds (true) or `timeout` passes (false).
    pub fn wait_for(&self, timeout: Duration, mut pred: impl FnMut(&FakeView) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.shared);
        loop {
            if pred(&FakeView(&st)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self.shared.changed.wait_timeout(st, left.min(Duration::from_millis(50))).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Accepts another bot token (for several accounts).
    pub fn accept_token(&self, token: &str) {
        self.with(|s| s.tokens.push(token.to_string()));
    }

    /// The `heartbeat_interval` of the next Hellos.
    pub fn set_heartbeat_ms(&self, ms: u64) {
        self.with(|s| s.heartbeat_ms = ms);
    }

    /// Stops (or resumes) answering heartbeats with op 11.
    pub fn withhold_acks(&self, yes: bool) {
        self.with(|s| s.withhold_acks = yes);
    }

    /// Answers every Identify by closing with `code` (e.g. 4014).
    pub fn close_identify_with(&self, code: Option<u16>) {
        self.with(|s| s.identify_close = code);
    }

    /// Fails the next calls whose `"METHOD /path"` starts with `route`
    /// (e.g. `"POST /channels/"`), one injection per call.
    pub fn inject(&self, route: &str, list: Vec<Inject>) {
        self.with(|s| s.injects.push((route.to_string(), list.into())));
    }

    /// Serves `bytes` at `/files/<name>`; returns its URL.
    pub fn add_file(&self, name: &str, bytes: Vec<u8>) -> String {
        self.with(|s| s.files.insert(name.to_string(), bytes));
        format!("http://127.0.0.1:{}/files/{name}", self.shared.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared).requests.clone()
    }

    /// Requests whose `"METHOD /path"` starts with `route`.
    pub fn count(&self, route: &str) -> usize {
        FakeView(&lock(&self.shared)).count(route)
    }

    pub fn sent(&self) -> Vec<Sent> {
        lock(&self.shared).sent.clone()
    }

    pub fn typing(&self) -> Vec<String> {
        lock(&self.shared).typing.clone()
    }

    pub fn identifies(&self) -> Vec<Value> {
        lock(&self.shared).identifies.clone()
    }

    /// Each Resume payload with the request target its connection used.
    pub fn resumes(&self) -> Vec<(Value, String)> {
        lock(&self.shared).resumes.clone()
    }

    /// The ids of every session READY has started.
    pub fn session_ids(&self) -> Vec<String> {
        lock(&self.shared).sessions.keys().cloned().collect()
    }

    /// Waits for `n` sent messages; all of them.
    pub fn wait_sent(&self, n: usize, timeout: Duration) -> Vec<Sent> {
        self.wait_for(timeout, |v| v.sent() >= n);
        self.sent()
    }

    /// Waits until a session is identified and connected.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, |v| v.live_sessions() > 0)
    }

    /// Sends a dispatch `t` with `d` on every live session; how many.
    pub fn dispatch(&self, t: &str, d: Value) -> usize {
        self.with(|s| {
            let ids: Vec<String> = s.sessions.iter().filter(|(_, x)| x.conn.is_some()).map(|(k, _)| k.clone()).collect();
            for id in &ids {
                push_event(s, id, t, &d);
            }
            ids.len()
        })
    }

    /// Stores a dispatch for every session, connected or not (a resume
    /// replays it).
    pub fn dispatch_all_sessions(&self, t: &str, d: Value) -> usize {
        self.with(|s| {
            let ids: Vec<String> = s.sessions.keys().cloned().collect();
            for id in &ids {
                push_event(s, id, t, &d);
            }
            ids.len()
        })
    }

    /// A direct message from `user` in DM channel `channel`.
    pub fn dm(&self, channel: &str, user: &str, name: &str, text: &str) -> usize {
        let d = self.message(channel, None, user, name, text);
        self.dispatch("MESSAGE_CREATE", d)
    }

    /// A guild message; `mention` puts `<@bot>` in front and in `mentions`.
    pub fn guild(&self, guild: &str, channel: &str, user: &str, name: &str, text: &str, mention: bool) -> usize {
        let content = if mention { format!("<@{BOT_ID}> {text}") } else { text.to_string() };
        let mut d = self.message(channel, Some(guild), user, name, &content);
        if mention {
            d["mentions"] = json!([{"id": BOT_ID, "username": BOT_NAME, "bot": true}]);
        }
        self.dispatch("MESSAGE_CREATE", d)
    }

    /// A MESSAGE_CREATE body as Discord sends it.
    pub fn message(&self, channel: &str, guild: Option<&str>, user: &str, name: &str, content: &str) -> Value {
        let id = self.with(|s| {
            s.next += 1;
            1_200_000_000_000_000_000u64 + s.next
        });
        let mut d = json!({
            "id": id.to_string(),
            "channel_id": channel,
            "type": 0,
            "content": content,
            "timestamp": "2026-01-01T00:00:00.000000+00:00",
            "tts": false,
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": false,
            "author": {"id": user, "username": name, "global_name": null, "discriminator": "0", "avatar": null},
        });
        if let Some(g) = guild {
            d["guild_id"] = json!(g);
            d["member"] = json!({"roles": [], "joined_at": "2025-01-01T00:00:00.000000+00:00", "nick": null});
        }
        d
    }

    /// Sends a payload (`{"op":7}`, `{"op":9,"d":false}` …) on every live connection.
    pub fn send_op(&self, payload: Value) {
        self.queue_all(|| Cmd::Text(payload.to_string()));
    }

    /// Sends a text message that may not be JSON at all.
    pub fn send_raw(&self, text: &str) {
        self.queue_all(|| Cmd::Text(text.to_string()));
    }

    /// Writes raw bytes (e.g. a broken frame) on every live connection.
    pub fn send_bytes(&self, bytes: &[u8]) {
        self.queue_all(|| Cmd::Bytes(bytes.to_vec()));
    }

    /// Closes every live connection with `code`.
    pub fn close_all(&self, code: u16) {
        self.queue_all(|| Cmd::Close(code));
    }

    /// Drops every live TCP connection without a Close frame.
    pub fn drop_all(&self) {
        self.queue_all(|| Cmd::Drop);
    }

    fn queue_all(&self, cmd: impl Fn() -> Cmd) {
        self.with(|s| {
            for c in s.conns.values_mut() {
                c.send(cmd());
            }
        });
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop, which then sees the flag; end every Gateway connection.
        let _ = TcpStream::connect_timeout(&([127, 0, 0, 1], self.shared.port).into(), Duration::from_secs(1));
        for c in lock(&self.shared).conns.values_mut() {
            c.send(Cmd::Drop);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Read access for [`FakeDiscord::wait_for`] predicates.
pub struct FakeView<'a>(&'a State);

impl FakeView<'_> {
    pub fn sent(&self) -> usize {
        self.0.sent.len()
    }
    pub fn identifies(&self) -> usize {
        self.0.identifies.len()
    }
    pub fn resumes(&self) -> usize {
        self.0.resumes.len()
    }
    pub fn heartbeats(&self) -> u64 {
        self.0.heartbeats
    }
    pub fn live_sessions(&self) -> usize {
        self.0.sessions.values().filter(|s| s.conn.is_some()).count()
    }
    pub fn connections(&self) -> usize {
        self.0.conns.len()
    }
    pub fn count(&self, route: &str) -> usize {
        self.0.requests.iter().filter(|r| format!("{} {}", r.method, r.path).starts_with(route)).count()
    }
}

/// Appends an event to a session (next seq) and sends it if connected.
fn push_event(s: &mut State, session: &str, t: &str, d: &Value) {
    let Some(sess) = s.sessions.get_mut(session) else { return };
    sess.seq += 1;
    let text = json!({"op": 0, "s": sess.seq, "t": t, "d": d}).to_string();
    sess.events.push_back((sess.seq, text.clone()));
    if sess.events.len() > MAX_EVENTS {
        sess.events.pop_front();
    }
    if let Some(conn) = sess.conn.and_then(|c| s.conns.get_mut(&c)) {
        conn.send(Cmd::Text(text));
    }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn handle(shared: &Arc<Shared>, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(n) = ws::head_len(&buf) {
            break n;
        }
        if buf.len() > MAX_HEAD {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let text = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let head = Head {
        method: first.next().unwrap_or("").to_string(),
        target: first.next().unwrap_or("/").to_string(),
        headers: lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect(),
    };
    if head.header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return gateway(shared, stream, &head, buf[head_end..].to_vec());
    }
    let len: usize = head.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    if len > MAX_BODY {
        return respond(&mut stream, 413, &[], b"{}");
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(len);
    rest(shared, &mut stream, &head, &body);
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

fn error_body(message: &str, code: u64) -> Vec<u8> {
    json!({"message": message, "code": code}).to_string().into_bytes()
}

fn rest(shared: &Arc<Shared>, stream: &mut TcpStream, head: &Head, body: &[u8]) {
    let full = head.target.split('?').next().unwrap_or("/").to_string();
    let path = full.strip_prefix("/api/v10").unwrap_or(&full).to_string();
    let route = format!("{} {path}", head.method);
    let auth = head.header("authorization").map(str::to_string);
    let (inject, authorized) = {
        let mut st = lock(shared);
        st.requests.push(Request { method: head.method.clone(), path: path.clone(), at: Instant::now(), auth: auth.clone() });
        let inject = st.injects.iter_mut().find(|(r, q)| route.starts_with(r.as_str()) && !q.is_empty()).and_then(|(_, q)| q.pop_front());
        let authorized = auth.as_deref().and_then(|a| a.strip_prefix("Bot ")).is_some_and(|t| st.tokens.iter().any(|k| k == t));
        (inject, authorized)
    };
    shared.changed.notify_all();
    let mut extra: Vec<(&str, String)> = Vec::new();
    match inject {
        Some(Inject::RateLimit { secs, global }) => {
            let b = json!({"message": "You are being rate limited.", "retry_after": secs, "global": global}).to_string();
            let mut h = vec![("Retry-After", format!("{}", secs.ceil() as u64)), ("X-RateLimit-Scope", if global { "global" } else { "user" }.to_string())];
            if global {
                h.push(("X-RateLimit-Global", "true".into()));
            }
            return respond(stream, 429, &h, b.as_bytes());
        }
        Some(Inject::Status(s)) => return respond(stream, s, &[], &error_body("injected failure", 0)),
        Some(Inject::Malformed) => return respond(stream, 200, &[], b"{not json"),
        Some(Inject::Drop) => {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        Some(Inject::Exhaust(secs)) => {
            extra.push(("X-RateLimit-Remaining", "0".into()));
            extra.push(("X-RateLimit-Reset-After", format!("{secs:.3}")));
        }
        None => {
            extra.push(("X-RateLimit-Limit", "5".into()));
            extra.push(("X-RateLimit-Remaining", "4".into()));
            extra.push(("X-RateLimit-Reset-After", "1.000".into()));
        }
    }
    if let Some(name) = full.strip_prefix("/files/") {
        let file = lock(shared).files.get(name).cloned();
        return match file {
            Some(bytes) => respond(stream, 200, &[], &bytes),
            None => respond(stream, 404, &[], &error_body("404: Not Found", 0)),
        };
    }
    if !authorized {
        return respond(stream, 401, &[], &error_body("401: Unauthorized", 0));
    }
    if head.method == "POST" && head.header("content-length").is_none() {
        // As Discord's front end: a POST must say how long it is.
        return respond(stream, 411, &[], b"");
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (head.method.as_str(), segments.as_slice()) {
        ("GET", ["gateway", "bot"]) => {
            let b = json!({
                "url": format!("ws://127.0.0.1:{}", shared.port),
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
            });
            respond(stream, 200, &extra, b.to_string().as_bytes());
        }
        ("GET", ["users", "@me"]) => {
            let b = json!({"id": BOT_ID, "username": BOT_NAME, "global_name": null, "discriminator": "0", "bot": true, "avatar": null});
            respond(stream, 200, &extra, b.to_string().as_bytes());
        }
        ("POST", ["channels", channel, "messages"]) => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let content = v["content"].as_str().unwrap_or("");
            if content.is_empty() || content.chars().count() > 2000 {
                return respond(stream, 400, &[], &error_body("Invalid Form Body", 50035));
            }
            let id = {
                let mut st = lock(shared);
                st.next += 1;
                st.sent.push(Sent { channel_id: channel.to_string(), body: v.clone() });
                1_300_000_000_000_000_000u64 + st.next
            };
            shared.changed.notify_all();
            let b = json!({
                "id": id.to_string(), "channel_id": channel, "type": 0, "content": content,
                "author": {"id": BOT_ID, "username": BOT_NAME, "bot": true},
            });
            respond(stream, 200, &extra, b.to_string().as_bytes());
        }
        ("POST", ["channels", channel, "typing"]) => {
            lock(shared).typing.push(channel.to_string());
            shared.changed.notify_all();
            respond(stream, 204, &extra, b"");
        }
        _ => respond(stream, 404, &[], &error_body("404: Not Found", 0)),
    }
}

// ---------------------------------------------------------------------------
// Gateway
// ---------------------------------------------------------------------------

fn gateway(shared: &Arc<Shared>, mut stream: TcpStream, head: &Head, leftover: Vec<u8>) {
    let headers: Vec<(String, String)> = head.headers.clone();
    let accept = match ws::check_upgrade(&head.method, &headers) {
        Ok(a) => a,
        Err(why) => return respond(&mut stream, 400, &[], &error_body(why, 0)),
    };
    let Ok(writer) = stream.try_clone() else { return };
    if stream.write_all(&ws::response_101(&accept)).is_err() {
        return;
    }
    let id = {
        let mut st = lock(shared);
        st.next += 1;
        let id = st.next;
        st.requests.push(Request { method: "GET".into(), path: head.target.clone(), at: Instant::now(), auth: None });
        let mut conn = Conn { writer, target: head.target.clone() };
        let hello = json!({"op": 10, "d": {"heartbeat_interval": st.heartbeat_ms}, "s": null, "t": null}).to_string();
        conn.send(Cmd::Text(hello));
        st.conns.insert(id, conn);
        id
    };
    shared.changed.notify_all();
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut dec = Decoder::new(Role::Server, ws::Limits { max_frame: 1 << 20, max_message: 1 << 20 });
    dec.feed(&leftover);
    let mut chunk = [0u8; 16 << 10];
    'conn: while !shared.stop.load(Ordering::SeqCst) {
        loop {
            match dec.next_message() {
                Ok(Some(Message::Text(t))) => on_payload(shared, id, &t),
                Ok(Some(Message::Close(_))) => {
                    send(shared, id, Cmd::Close(1000));
                    break 'conn;
                }
                Ok(Some(Message::Ping(p))) => send(shared, id, Cmd::Bytes(ws::encode_message(Role::Server, &Message::Pong(p)))),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => break 'conn,
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => dec.feed(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    let mut st = lock(shared);
    st.conns.remove(&id);
    for s in st.sessions.values_mut() {
        if s.conn == Some(id) {
            s.conn = None;
        }
    }
    drop(st);
    shared.changed.notify_all();
}

fn close_reason(code: u16) -> &'static str {
    match code {
        4004 => "Authentication failed.",
        4014 => "Disallowed intent(s).",
        4000 => "Unknown error.",
        _ => "",
    }
}

/// Handles one client payload.
fn on_payload(shared: &Arc<Shared>, conn: u64, text: &str) {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return send(shared, conn, Cmd::Close(4002)),
    };
    let mut st = lock(shared);
    let reply = |st: &mut State, cmd: Cmd| {
        if let Some(c) = st.conns.get_mut(&conn) {
            c.send(cmd);
        }
    };
    match v["op"].as_u64() {
        Some(1) => {
            st.heartbeats += 1;
            if !st.withhold_acks {
                reply(&mut st, Cmd::Text(json!({"op": 11, "d": null, "s": null, "t": null}).to_string()));
            }
        }
        Some(2) => {
            st.identifies.push(v["d"].clone());
            let token = v["d"]["token"].as_str().unwrap_or("").to_string();
            if !st.tokens.contains(&token) {
                reply(&mut st, Cmd::Close(4004));
            } else if let Some(code) = st.identify_close {
                reply(&mut st, Cmd::Close(code));
            } else {
                st.next += 1;
                let sid = format!("fake-session-{}", st.next);
                st.sessions.insert(sid.clone(), Session { token, seq: 0, events: VecDeque::new(), conn: Some(conn) });
                let ready = json!({
                    "v": 10,
                    "user": {"id": BOT_ID, "username": BOT_NAME, "global_name": null, "discriminator": "0", "bot": true},
                    "guilds": [],
                    "session_id": sid,
                    "resume_gateway_url": format!("ws://127.0.0.1:{}/resume", shared.port),
                    "application": {"id": BOT_ID, "flags": 0},
                });
                push_event(&mut st, &sid, "READY", &ready);
            }
        }
        Some(6) => {
            let target = st.conns.get(&conn).map(|c| c.target.clone()).unwrap_or_default();
            st.resumes.push((v["d"].clone(), target));
            let sid = v["d"]["session_id"].as_str().unwrap_or("").to_string();
            let token = v["d"]["token"].as_str().unwrap_or("");
            let seq = v["d"]["seq"].as_u64().unwrap_or(0);
            let ok = st.sessions.get(&sid).is_some_and(|s| s.token == token && seq <= s.seq);
            if ok {
                let s = st.sessions.get_mut(&sid).unwrap();
                s.conn = Some(conn);
                let replay: Vec<String> = s.events.iter().filter(|(n, _)| *n > seq).map(|(_, t)| t.clone()).collect();
                for t in replay {
                    reply(&mut st, Cmd::Text(t));
                }
                push_event(&mut st, &sid, "RESUMED", &Value::Null);
            } else {
                reply(&mut st, Cmd::Text(json!({"op": 9, "d": false, "s": null, "t": null}).to_string()));
            }
        }
        _ => {}
    }
    drop(st);
    shared.changed.notify_all();
}

fn send(shared: &Arc<Shared>, conn: u64, cmd: Cmd) {
    if let Some(c) = lock(shared).conns.get_mut(&conn) {
        c.send(cmd);
    }
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let auth = token.map(|t| format!("Authorization: Bot {t}\r\n")).unwrap_or_default();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
    }

    #[test]
    fn rest_checks_the_token_and_injects_failures() {
        let fake = FakeDiscord::start();
        let (status, body) = get(fake.port(), "/api/v10/gateway/bot", Some(TOKEN));
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["url"], format!("ws://127.0.0.1:{}", fake.port()));
        assert_eq!(get(fake.port(), "/api/v10/users/@me", Some("wrong")).0, 401);
        fake.inject("GET /users/@me", vec![Inject::RateLimit { secs: 0.5, global: false }, Inject::Malformed]);
        let (status, body) = get(fake.port(), "/api/v10/users/@me", Some(TOKEN));
        assert_eq!(status, 429);
        assert!(body.contains("\"retry_after\":0.5"), "{body}");
        assert_eq!(get(fake.port(), "/api/v10/users/@me", Some(TOKEN)), (200, "{not json".into()));
        assert_eq!(get(fake.port(), "/api/v10/users/@me", Some(TOKEN)).0, 200);
        let url = fake.add_file("a.txt", b"abc".to_vec());
        assert!(url.ends_with("/files/a.txt"));
        assert_eq!(get(fake.port(), "/files/a.txt", None), (200, "abc".into()));
        assert_eq!(fake.count("GET /users/@me"), 4);
    }

    #[test]
    fn gateway_identifies_dispatches_and_resumes() {
        let fake = FakeDiscord::start();
        let mut c = Client::open(fake.port(), "/?v=10&encoding=json");
        assert_eq!(c.next()["op"], 10);
        c.send(json!({"op": 2, "d": {"token": TOKEN, "intents": 37377, "properties": {}}}));
        let ready = c.next();
        assert_eq!((ready["t"].as_str(), ready["s"].as_u64()), (Some("READY"), Some(1)));
        let sid = ready["d"]["session_id"].as_str().unwrap().to_string();
        c.send(json!({"op": 1, "d": 1}));
        assert_eq!(c.next()["op"], 11);
        assert_eq!(fake.dm("5", "42", "alice", "hi"), 1);
        let m = c.next();
        assert_eq!((m["t"].as_str(), m["s"].as_u64(), m["d"]["content"].as_str()), (Some("MESSAGE_CREATE"), Some(2), Some("hi")));
        drop(c);
        assert!(fake.wait_for(Duration::from_secs(5), |v| v.live_sessions() == 0));
        fake.dispatch_all_sessions("MESSAGE_CREATE", fake.message("5", None, "42", "alice", "missed"));
        let mut c = Client::open(fake.port(), "/resume/?v=10&encoding=json");
        assert_eq!(c.next()["op"], 10);
        c.send(json!({"op": 6, "d": {"token": TOKEN, "session_id": sid, "seq": 2}}));
        assert_eq!(c.next()["d"]["content"], "missed");
        assert_eq!(c.next()["t"], "RESUMED");
        assert_eq!(fake.resumes()[0].1, "/resume/?v=10&encoding=json");
        // A wrong token on identify: 4004.
        let mut c = Client::open(fake.port(), "/");
        c.next();
        c.send(json!({"op": 2, "d": {"token": "nope"}}));
        assert_eq!(c.close_code(), Some(4004));
    }

    /// A bare test client (the production one lives in the driver).
    struct Client {
        s: TcpStream,
        dec: Decoder,
    }

    impl Client {
        fn open(port: u16, path: &str) -> Client {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let (key, req) = ws::client_request(&format!("127.0.0.1:{port}"), path, &[]).unwrap();
            s.write_all(&req).unwrap();
            let mut buf = Vec::new();
            let mut b = [0u8; 1];
            while ws::head_len(&buf).is_none() {
                s.read_exact(&mut b).unwrap();
                buf.push(b[0]);
            }
            ws::check_response(&buf, &key).unwrap();
            Client { s, dec: Decoder::new(Role::Client, ws::Limits { max_frame: 1 << 20, max_message: 1 << 20 }) }
        }

        fn send(&mut self, v: Value) {
            self.s.write_all(&ws::encode_message(Role::Client, &Message::Text(v.to_string()))).unwrap();
        }

        fn message(&mut self) -> Message {
            let mut chunk = [0u8; 4096];
            loop {
                if let Some(m) = self.dec.next_message().unwrap() {
                    return m;
                }
                let n = self.s.read(&mut chunk).unwrap();
                assert!(n > 0, "closed");
                self.dec.feed(&chunk[..n]);
            }
        }

        fn next(&mut self) -> Value {
            match self.message() {
                Message::Text(t) => serde_json::from_str(&t).unwrap(),
                other => panic!("expected text, got {other:?}"),
            }
        }

        fn close_code(&mut self) -> Option<u16> {
            match self.message() {
                Message::Close(c) => c.map(|c| c.0),
                other => panic!("expected close, got {other:?}"),
            }
        }
    }
}
