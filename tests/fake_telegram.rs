//! A fake Telegram Bot API on 127.0.0.1 that speaks the real wire format:
//! `POST /bot<token>/<method>` with a JSON body, answered with
//! `{"ok":true,"result":…}` or `{"ok":false,"error_code":N,"description":…}`;
//! files at `GET /file/bot<token>/<file_path>`. Integration tests use it as a
//! module; `examples/bench_telegram.rs` includes it too.
//!
//! Methods: `getMe`; `getUpdates` (long poll: waits up to `timeout` seconds
//! for updates at or after `offset`; an `offset` confirms, i.e. forgets, every
//! earlier update, as Telegram does; a newer `getUpdates` for the same bot
//! ends a waiting one with 409 "terminated by other getUpdates request");
//! `sendMessage` (checks the text length and, with `parse_mode: "HTML"`, the
//! markup as strictly as Telegram: unknown tags, unbalanced tags or a bare `&`
//! give 400 "can't parse entities"; the message is recorded and returned);
//! `sendChatAction`; `getFile` and the file download. Anything else: 404.
//!
//! Tokens: a registered bot's token works; an unknown token of the right
//! shape (`<digits>:<chars>`) gets 401 Unauthorized, any other 404 Not Found
//! (what Telegram answers).
//!
//! Scripting: [`FakeTelegram::push`] queues a message update,
//! [`FakeTelegram::fail`] makes the next call of a method fail (an error
//! status, a malformed body, or a dropped connection), and
//! [`FakeTelegram::reject_html`] makes the next HTML messages fail to parse.
//! Every call is recorded with its arrival time ([`FakeTelegram::calls`]).
//!
//! HTTP/1.1 with keep-alive, bodies by `Content-Length` or chunked. Dropping the
//! server closes its connections and ends waiting polls.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 16 << 20;
/// Telegram's longest long poll.
const MAX_POLL: Duration = Duration::from_secs(50);
/// The text limit of one message.
pub const TEXT_LIMIT: usize = 4096;
const CONFLICT: &str = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";

/// One API call as the fake received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub token: String,
    pub method: String,
    pub body: Value,
    pub at: Instant,
}

/// A scripted failure of one call.
#[derive(Debug, Clone)]
pub enum Failure {
    /// That HTTP status with the Bot API's error body.
    Status { code: u16, description: String, retry_after: Option<u64> },
    /// 200 with a body that is not JSON.
    Malformed,
    /// The connection is closed without an answer.
    Drop,
}

impl Failure {
    pub fn status(code: u16, description: &str) -> Failure {
        Failure::Status { code, description: description.to_string(), retry_after: None }
    }

    pub fn too_many(retry_after: u64) -> Failure {
        Failure::Status { code: 429, description: format!("Too Many Requests: retry after {retry_after}"), retry_after: Some(retry_after) }
    }
}

struct File {
    path: String,
    bytes: Vec<u8>,
    /// What `getFile` declares (defaults to the real size).
    declared: u64,
}

struct Bot {
    id: i64,
    username: String,
    /// Not yet confirmed by an offset.
    updates: VecDeque<Value>,
    /// Bumped by every `getUpdates`; a waiting poll whose number is old ends with 409.
    poll_gen: u64,
    sent: Vec<Value>,
    reject_html: u32,
    files: HashMap<String, File>,
}

#[derive(Default)]
struct State {
    bots: HashMap<String, Bot>,
    calls: Vec<Call>,
    failures: VecDeque<(String, String, Failure)>,
    next_update: i64,
    next_message: i64,
    downloads: Vec<String>,
}

struct Shared {
    stop: AtomicBool,
    state: Mutex<State>,
    cv: Condvar,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
}

/// Never panics on a poisoned lock: the data is still fine for a test server.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server; stops and closes its connections when dropped.
pub struct FakeTelegram {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeTelegram {
    /// Serves on `127.0.0.1:<free port>`.
    pub fn start() -> FakeTelegram {
        FakeTelegram::start_on(0).expect("bind the fake Telegram server on 127.0.0.1")
    }

    pub fn start_on(port: u16) -> io::Result<FakeTelegram> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let state = State { next_update: 100_000, next_message: 1, ..State::default() };
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            state: Mutex::new(state),
            cv: Condvar::new(),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
        });
        let s = Arc::clone(&shared);
        let accept = thread::Builder::new().name("fake-telegram-accept".into()).spawn(move || accept_loop(&listener, &s))?;
        Ok(FakeTelegram { port, shared, accept: Some(accept) })
    }

    /// The `apiBaseUrl` to configure: `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    /// Registers a bot; its token then works.
    pub fn add_bot(&self, token: &str, id: i64, username: &str) {
        let bot = Bot { id, username: username.to_string(), updates: VecDeque::new(), poll_gen: 0, sent: Vec::new(), reject_html: 0, files: HashMap::new() };
        self.state().bots.insert(token.to_string(), bot);
    }

    /// Queues a `message` update for the bot (filling in `message_id` and
    /// `date` when missing); returns its `update_id`.
    pub fn push(&self, token: &str, mut message: Value) -> i64 {
        let mut st = self.state();
        if message.get("message_id").is_none() {
            message["message_id"] = json!(st.next_message);
            st.next_message += 1;
        }
        if message.get("date").is_none() {
            message["date"] = json!(unix_now());
        }
        let id = st.next_update;
        st.next_update += 1;
        bot_mut(&mut st, token).updates.push_back(json!({"update_id": id, "message": message}));
        drop(st);
        self.shared.cv.notify_all();
        id
    }

    /// Queues an update exactly as given, with the next `update_id` (for
    /// malformed contents).
    pub fn push_raw(&self, token: &str, mut update: Value) -> i64 {
        let mut st = self.state();
        let id = st.next_update;
        st.next_update += 1;
        if update.is_object() && update.get("update_id").is_none() {
            update["update_id"] = json!(id);
        }
        bot_mut(&mut st, token).updates.push_back(update);
        drop(st);
        self.shared.cv.notify_all();
        id
    }

    /// A file `getFile` knows under `file_id`; `declared` overrides the size it reports.
    pub fn add_file(&self, token: &str, file_id: &str, path: &str, bytes: &[u8], declared: Option<u64>) {
        let file = File { path: path.to_string(), bytes: bytes.to_vec(), declared: declared.unwrap_or(bytes.len() as u64) };
        bot_mut(&mut self.state(), token).files.insert(file_id.to_string(), file);
    }

    /// The next call of `method` with `token` fails so (failures queue up).
    pub fn fail(&self, token: &str, method: &str, failure: Failure) {
        self.state().failures.push_back((token.to_string(), method.to_string(), failure));
    }

    /// The next `n` HTML messages of the bot are refused as unparsable.
    pub fn reject_html(&self, token: &str, n: u32) {
        bot_mut(&mut self.state(), token).reject_html = n;
    }

    /// The bodies of the messages the bot sent, in order.
    pub fn sent(&self, token: &str) -> Vec<Value> {
        self.state().bots.get(token).map(|b| b.sent.clone()).unwrap_or_default()
    }

    /// Waits up to `timeout` until the bot has sent at least `n` messages.
    pub fn wait_sent(&self, token: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let until = Instant::now() + timeout;
        let mut st = self.state();
        loop {
            let sent = st.bots.get(token).map(|b| b.sent.clone()).unwrap_or_default();
            let left = until.saturating_duration_since(Instant::now());
            if sent.len() >= n || left.is_zero() {
                return sent;
            }
            st = self.shared.cv.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Every call of `method` (all methods for `""`) with `token`, in order.
    pub fn calls(&self, token: &str, method: &str) -> Vec<Call> {
        self.state().calls.iter().filter(|c| c.token == token && (method.is_empty() || c.method == method)).cloned().collect()
    }

    /// Updates not yet confirmed by an offset.
    pub fn pending(&self, token: &str) -> usize {
        self.state().bots.get(token).map_or(0, |b| b.updates.len())
    }

    /// The file paths downloaded so far.
    pub fn downloads(&self) -> Vec<String> {
        self.state().downloads.clone()
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.cv.notify_all();
        let _ = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1));
        for (_, conn) in lock(&self.shared.conns).drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn bot_mut<'a>(st: &'a mut State, token: &str) -> &'a mut Bot {
    st.bots.get_mut(token).unwrap_or_else(|| panic!("fake Telegram: no bot with token {token:?}; add_bot first"))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Message builders (the JSON Telegram sends)
// ---------------------------------------------------------------------------

/// A text message in a private chat with user `user`.
pub fn private_text(user: i64, first_name: &str, text: &str) -> Value {
    json!({
        "chat": {"id": user, "type": "private", "first_name": first_name},
        "from": {"id": user, "is_bot": false, "first_name": first_name, "username": first_name.to_lowercase()},
        "text": text,
    })
}

/// A text message in supergroup `chat` from user `user`; `@username`
/// mentions in `text` get their `mention` entities (UTF-16 offsets).
pub fn group_text(chat: i64, user: i64, first_name: &str, text: &str) -> Value {
    let mut entities = Vec::new();
    let mut units = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (n, (i, c)) in chars.iter().enumerate() {
        if *c == '@' && (n == 0 || chars[n - 1].1.is_whitespace()) {
            let len = text[*i..].chars().take_while(|c| *c == '@' || c.is_alphanumeric() || *c == '_').count();
            if len > 1 {
                entities.push(json!({"type": "mention", "offset": units, "length": len}));
            }
        }
        units += c.len_utf16();
    }
    json!({
        "chat": {"id": chat, "type": "supergroup", "title": "Test group"},
        "from": {"id": user, "is_bot": false, "first_name": first_name},
        "text": text,
        "entities": entities,
    })
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let s = Arc::clone(shared);
        let _ = thread::Builder::new().name("fake-telegram-conn".into()).spawn(move || serve(conn, &s));
    }
}

struct Req {
    method: String,
    path: String,
    body: Vec<u8>,
    close: bool,
}

fn serve(stream: TcpStream, shared: &Arc<Shared>) {
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let (Ok(reader), Ok(registered)) = (stream.try_clone(), stream.try_clone()) else { return };
    lock(&shared.conns).insert(id, registered);
    if shared.stop.load(Ordering::SeqCst) {
        let _ = stream.shutdown(Shutdown::Both);
    }
    let _ = stream.set_nodelay(true);
    let mut input = BufReader::new(reader);
    let mut out = stream;
    while let Some(req) = read_request(&mut input) {
        let keep = match answer(&req, shared) {
            Some((status, body)) => write_json(&mut out, status, &body, req.close).is_ok() && !req.close,
            None => false,
        };
        if !keep || shared.stop.load(Ordering::SeqCst) {
            break;
        }
    }
    let _ = out.shutdown(Shutdown::Both);
    lock(&shared.conns).remove(&id);
}

fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Option<String> {
    let mut line = Vec::new();
    let n = r.by_ref().take(*budget as u64 + 1).read_until(b'\n', &mut line).ok()?;
    if n == 0 || n > *budget || line.last() != Some(&b'\n') {
        return None;
    }
    *budget -= n;
    String::from_utf8(line).ok().map(|l| l.trim_end_matches(['\r', '\n']).to_string())
}

/// The next request; `None` at EOF or on anything malformed (the connection closes).
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut budget = MAX_HEAD;
    let line = loop {
        let l = read_line(r, &mut budget)?;
        if !l.is_empty() {
            break l;
        }
    };
    let mut parts = line.split_whitespace();
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let mut headers = Vec::new();
    loop {
        let l = read_line(r, &mut budget)?;
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.to_ascii_lowercase());
    let close = header("connection").is_some_and(|c| c.contains("close")) || version == "HTTP/1.0";
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut b = 4096;
            let size = usize::from_str_radix(read_line(r, &mut b)?.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                while !read_line(r, &mut b)?.is_empty() {}
                break;
            }
            if body.len() + size > MAX_BODY {
                return None;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).ok()?;
            read_line(r, &mut b)?;
        }
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().ok().filter(|n| *n <= MAX_BODY)?;
        body = vec![0; len];
        r.read_exact(&mut body).ok()?;
    }
    let path = target.split('?').next().unwrap_or_default().to_string();
    Some(Req { method: method.to_string(), path, body, close })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Fake",
    }
}

/// The body to send: JSON, or raw bytes (downloads, malformed answers).
enum Body {
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

fn write_json(out: &mut TcpStream, status: u16, body: &Body, close: bool) -> io::Result<()> {
    let (ctype, bytes) = match body {
        Body::Json(v) => ("application/json", v.to_string().into_bytes()),
        Body::Raw(t, b) => (*t, b.clone()),
    };
    let conn = if close { "close" } else { "keep-alive" };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: {conn}\r\n\r\n",
        reason(status),
        bytes.len()
    );
    out.write_all(head.as_bytes())?;
    out.write_all(&bytes)?;
    out.flush()
}

fn ok(result: Value) -> (u16, Body) {
    (200, Body::Json(json!({"ok": true, "result": result})))
}

fn err(code: u16, description: &str) -> (u16, Body) {
    (code, Body::Json(json!({"ok": false, "error_code": code, "description": description})))
}

/// The answer to one request; `None` drops the connection.
fn answer(req: &Req, shared: &Shared) -> Option<(u16, Body)> {
    if let Some(rest) = req.path.strip_prefix("/file/bot") {
        let (token, path) = rest.split_once('/')?;
        let mut st = lock(&shared.state);
        let bytes = st.bots.get(token).and_then(|b| b.files.values().find(|f| f.path == path)).map(|f| f.bytes.clone());
        return Some(match bytes {
            Some(b) if req.method == "GET" => {
                st.downloads.push(path.to_string());
                (200, Body::Raw("application/octet-stream", b))
            }
            _ => err(404, "Not Found"),
        });
    }
    let Some((token, method)) = req.path.strip_prefix("/bot").and_then(|r| r.split_once('/')) else {
        return Some(err(404, "Not Found"));
    };
    let body: Value = if req.body.is_empty() { json!({}) } else { serde_json::from_slice(&req.body).unwrap_or(Value::Null) };
    let mut st = lock(&shared.state);
    st.calls.push(Call { token: token.to_string(), method: method.to_string(), body: body.clone(), at: Instant::now() });
    drop(st);
    shared.cv.notify_all();
    let mut st = lock(&shared.state);
    if !st.bots.contains_key(token) {
        let shaped = token.split_once(':').is_some_and(|(id, rest)| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty());
        return Some(if shaped { err(401, "Unauthorized") } else { err(404, "Not Found") });
    }
    if let Some(i) = st.failures.iter().position(|(t, m, _)| t == token && m == method) {
        let (_, _, failure) = st.failures.remove(i).expect("position found");
        return match failure {
            Failure::Status { code, description, retry_after } => {
                let mut v = json!({"ok": false, "error_code": code, "description": description});
                if let Some(s) = retry_after {
                    v["parameters"] = json!({"retry_after": s});
                }
                Some((code, Body::Json(v)))
            }
            Failure::Malformed => Some((200, Body::Raw("application/json", b"{\"ok\":true,\"result\":[{\"update_id\":".to_vec()))),
            Failure::Drop => None,
        };
    }
    if body.is_null() {
        return Some(err(400, "Bad Request: the request body is not JSON"));
    }
    if method == "getUpdates" {
        drop(st);
        return get_updates(shared, token, &body);
    }
    let bot = st.bots.get_mut(token).expect("checked above");
    let me = json!({"id": bot.id, "is_bot": true, "first_name": "Test Bot", "username": bot.username});
    let answer = match method {
        "getMe" => ok(json!({
            "id": bot.id, "is_bot": true, "first_name": "Test Bot", "username": bot.username,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
        })),
        "sendMessage" => send_message(bot, &body, me),
        "sendChatAction" => match body["chat_id"].is_null() || body["action"].as_str().is_none() {
            true => err(400, "Bad Request: chat_id and action are required"),
            false => ok(json!(true)),
        },
        "getFile" => {
            let id = body["file_id"].as_str().unwrap_or_default();
            match bot.files.get(id) {
                Some(f) => ok(json!({"file_id": id, "file_unique_id": format!("u{id}"), "file_size": f.declared, "file_path": f.path})),
                None => err(400, "Bad Request: invalid file_id"),
            }
        }
        _ => err(404, "Not Found"),
    };
    drop(st);
    // Wake `wait_sent`.
    shared.cv.notify_all();
    Some(answer)
}

fn get_updates(shared: &Shared, token: &str, body: &Value) -> Option<(u16, Body)> {
    let offset = body["offset"].as_i64().unwrap_or(0);
    let limit = body["limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
    let wait = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0)).min(MAX_POLL);
    let until = Instant::now() + wait;
    let mut st = lock(&shared.state);
    let bot = st.bots.get_mut(token)?;
    if offset > 0 {
        // Also forgets updates without a numeric id (only tests queue those).
        bot.updates.retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= offset));
    }
    bot.poll_gen += 1;
    let mine = bot.poll_gen;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        let bot = st.bots.get(token)?;
        if bot.poll_gen != mine {
            return Some(err(409, CONFLICT));
        }
        let ready: Vec<Value> = bot.updates.iter().filter(|u| u["update_id"].as_i64().is_none_or(|id| id >= offset)).take(limit).cloned().collect();
        let left = until.saturating_duration_since(Instant::now());
        if !ready.is_empty() || left.is_zero() {
            return Some(ok(Value::Array(ready)));
        }
        st = shared.cv.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
    }
}

fn send_message(bot: &mut Bot, body: &Value, me: Value) -> (u16, Body) {
    let Some(chat_id) = body["chat_id"].as_i64().or_else(|| body["chat_id"].as_str().and_then(|s| s.parse().ok())) else {
        return err(400, "Bad Request: chat_id is empty");
    };
    let text = body["text"].as_str().unwrap_or_default();
    let visible = if body["parse_mode"] == "HTML" {
        if bot.reject_html > 0 {
            bot.reject_html -= 1;
            return err(400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0");
        }
        match check_html(text) {
            Ok(v) => v,
            Err(e) => return err(400, &format!("Bad Request: can't parse entities: {e}")),
        }
    } else {
        text.to_string()
    };
    if visible.trim().is_empty() {
        return err(400, "Bad Request: message text is empty");
    }
    if visible.chars().count() > TEXT_LIMIT {
        return err(400, "Bad Request: message is too long");
    }
    bot.sent.push(body.clone());
    let kind = if chat_id > 0 { "private" } else { "supergroup" };
    let mut msg = json!({"message_id": 10_000 + bot.sent.len(), "from": me, "chat": {"id": chat_id, "type": kind}, "date": unix_now(), "text": visible});
    if let Some(t) = body["message_thread_id"].as_i64() {
        msg["message_thread_id"] = json!(t);
    }
    ok(msg)
}

/// Telegram's HTML rules: the text without markup, or what is wrong.
pub fn check_html(text: &str) -> Result<String, String> {
    const TAGS: [&str; 16] = ["b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji"];
    let mut visible = String::new();
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        if rest.starts_with('<') {
            let end = rest.find('>').ok_or_else(|| format!("Unclosed start tag at byte offset {i}"))?;
            let inner = &rest[1..end];
            if let Some(name) = inner.strip_prefix('/') {
                let name = name.trim();
                match stack.pop() {
                    Some(open) if open == name => {}
                    _ => return Err(format!("Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"", stack.last().cloned().unwrap_or_default())),
                }
            } else {
                let name = inner.split_whitespace().next().unwrap_or_default().to_string();
                if !TAGS.contains(&name.as_str()) {
                    return Err(format!("Unsupported start tag \"{name}\" at byte offset {i}"));
                }
                if name == "a" && !inner.contains("href=\"") {
                    return Err(format!("Can't find href in a tag at byte offset {i}"));
                }
                stack.push(name);
            }
            i += end + 1;
        } else if rest.starts_with('&') {
            let end = rest.find(';').filter(|e| *e <= 10).ok_or_else(|| format!("Character entity expected at byte offset {i}"))?;
            visible.push(match &rest[1..end] {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                e => return Err(format!("Unsupported HTML entity \"&{e};\" at byte offset {i}")),
            });
            i += end + 1;
        } else {
            let c = rest.chars().next().expect("i < len");
            visible.push(c);
            i += c.len_utf8();
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("Can't find end tag corresponding to start tag \"{open}\""));
    }
    Ok(visible)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(base: &str, path: &str, body: &Value) -> (u16, Value) {
        let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
        let r = agent.post(&format!("{base}{path}")).header("content-type", "application/json").send(body.to_string().as_bytes()).unwrap();
        let status = r.status().as_u16();
        (status, serde_json::from_slice(&r.into_body().read_to_vec().unwrap()).unwrap_or(Value::Null))
    }

    #[test]
    fn fake_telegram_speaks_the_bot_api() {
        let tg = FakeTelegram::start();
        tg.add_bot("1:tok", 1, "t_bot");
        let b = tg.base();
        assert_eq!(call(&b, "/bot1:tok/getMe", &json!({})).1["result"]["username"], "t_bot");
        assert_eq!(call(&b, "/bot2:nope/getMe", &json!({})).0, 401);
        assert_eq!(call(&b, "/botnonsense/getMe", &json!({})).0, 404);
        // A long poll returns as soon as an update arrives; an offset confirms.
        let id = tg.push("1:tok", private_text(5, "Ann", "hi"));
        let (s, v) = call(&b, "/bot1:tok/getUpdates", &json!({"timeout": 5}));
        assert_eq!((s, v["result"][0]["update_id"].as_i64()), (200, Some(id)));
        assert_eq!(v["result"][0]["message"]["text"], "hi");
        let started = Instant::now();
        let (_, v) = call(&b, "/bot1:tok/getUpdates", &json!({"timeout": 1, "offset": id + 1}));
        assert_eq!(v["result"], json!([]));
        assert!(started.elapsed() >= Duration::from_millis(900));
        assert_eq!(tg.pending("1:tok"), 0);
        // HTML is checked as Telegram does.
        let (s, v) = call(&b, "/bot1:tok/sendMessage", &json!({"chat_id": 5, "text": "<b>x</i>", "parse_mode": "HTML"}));
        assert_eq!(s, 400);
        assert!(v["description"].as_str().unwrap().contains("can't parse entities"), "{v}");
        let (s, v) = call(&b, "/bot1:tok/sendMessage", &json!({"chat_id": 5, "text": "<b>a &lt; b</b>", "parse_mode": "HTML"}));
        assert_eq!((s, v["result"]["text"].as_str()), (200, Some("a < b")));
        assert_eq!(call(&b, "/bot1:tok/sendMessage", &json!({"chat_id": 5, "text": "x".repeat(4097)})).0, 400);
        // Scripted failures.
        tg.fail("1:tok", "getMe", Failure::too_many(3));
        let (s, v) = call(&b, "/bot1:tok/getMe", &json!({}));
        assert_eq!((s, v["parameters"]["retry_after"].as_u64()), (429, Some(3)));
        assert_eq!(tg.calls("1:tok", "getMe").len(), 2);
        assert_eq!(tg.sent("1:tok").len(), 1);
        assert_eq!(check_html("a & b"), Err("Character entity expected at byte offset 2".into()));
        assert_eq!(group_text(-1, 2, "A", "é @t_bot hi")["entities"], json!([{"type": "mention", "offset": 2, "length": 6}]));
    }
}
