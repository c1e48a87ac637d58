//! A deterministic fake model server that speaks the real wire formats of OpenAI Chat
//! Completions (`POST /v1/chat/completions`, SSE or JSON; `GET /v1/models`),
//! Anthropic Messages (`POST /v1/messages`, SSE or JSON) and the OpenAI Responses API
//! (`POST /v1/responses`, and the ChatGPT Codex backend's
//! `POST /backend-api/codex/responses`, which also wants a `chatgpt-account-id`
//! header, `store: false`, `instructions` and no `max_output_tokens`, answering
//! `{"detail": …}` otherwise, as the real one does). Integration tests use it as
//! a module; `examples/fake_model.rs` serves it as a binary for the Control UI browser
//! test and the benchmark scripts.
//!
//! What it answers is decided by the text of the last user turn; if the conversation
//! ends in tool results (OpenAI `role: "tool"` messages; an Anthropic user turn with
//! `tool_result` blocks; Responses `function_call_output` items) the reply is
//! `Tool said: <result text>` (several results are joined with a newline). Otherwise the text, trimmed, selects a command by its first
//! word:
//!
//! | text                          | reply                                                     |
//! |-------------------------------|-----------------------------------------------------------|
//! | `exec: <command>`             | a call of tool `exec` with `{"command": "<command>"}`     |
//! | `tool <name> <json-object>`   | a call of tool `<name>` with that object as arguments     |
//! | `tools <n1> <j1>;; <n2> <j2>` | several calls in one reply                                |
//! | `fail <status>`               | that status with the provider's error body (always)      |
//! | `fail 429 [secs] [times]`     | 429 + `Retry-After: secs` (default 1), then the echo (*) |
//! | `fail quota`                  | OpenAI 429 `insufficient_quota`; Anthropic 400 "credit balance is too low" |
//! | `malformed`                   | 200, one good text event, then `data: {not json`, close  |
//! | `cut`                         | 200, one text event, then close without the stream's end |
//! | `hang`                        | nothing, until the client leaves (or 60 s)               |
//! | `slow <n> <ms>`               | words `w1 … wn`, one event every `ms` milliseconds        |
//! | `big <n>`                     | `n` bytes of text in 16 KiB events                         |
//! | anything else                 | `You said: <text>` in at least two pieces, split mid-word  |
//!
//! (*) Only the first `times` (default 1) times this server sees that exact text;
//! the counters are per [`FakeModel`], so use a distinct text per test case.
//!
//! Tool arguments are streamed in at least three pieces. Usage: prompt tokens are the
//! request body's length / 4, completion tokens the reply's (text + arguments) / 4.
//! Bad input gets a 400 in the provider's error shape, never a panic.
//!
//! HTTP/1.1: one thread per connection, keep-alive and `Connection: close`, bodies by
//! `Content-Length` or chunked, `Expect: 100-continue`. Streams are sent chunked. The
//! last [`MAX_SEEN`] requests are kept for [`FakeModel::requests`].

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// How many requests [`FakeModel::requests`] keeps (the latest).
pub const MAX_SEEN: usize = 1000;
/// The models `GET /v1/models` lists (any model name is accepted in calls).
pub const MODELS: [&str; 2] = ["fake-model", "fake-model-large"];
const MAX_HEAD: usize = 64 << 10;
const MAX_HEADERS: usize = 200;
const MAX_BODY: usize = 64 << 20;
const MAX_BIG: usize = 64 << 20;
const MAX_SLOW_WORDS: usize = 100_000;
const BIG_CHUNK: usize = 16 << 10;
/// Socket read timeout: how often a waiting connection looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);
const HANG_FOR: Duration = Duration::from_secs(60);
const NO_PAUSE: Duration = Duration::ZERO;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target without its query.
    pub path: String,
    /// Names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `Null` when empty or not JSON.
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// State shared by the accept thread and the connection threads.
struct Shared {
    stop: AtomicBool,
    seen: Mutex<VecDeque<Seen>>,
    count: AtomicU64,
    /// How often each `fail 429 …` text has been seen.
    fails: Mutex<HashMap<String, u32>>,
    /// Open connections (clones), shut down when the server is dropped.
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    /// When set, calls must carry this key.
    key: Mutex<Option<String>>,
}

/// Never panics on a poisoned lock: the data is still fine for a test server.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Keeps the request and returns its number (1-based).
    fn record(&self, seen: Seen) -> u64 {
        let mut list = lock(&self.seen);
        if list.len() >= MAX_SEEN {
            list.pop_front();
        }
        list.push_back(seen);
        self.count.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// The server; stops accepting and closes its connections when dropped.
pub struct FakeModel {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeModel {
    /// Serves on `127.0.0.1:<free port>`.
    pub fn start() -> FakeModel {
        FakeModel::start_on(0).expect("bind the fake model server on 127.0.0.1")
    }

    /// Serves on `127.0.0.1:<port>` (0: a free one).
    pub fn start_on(port: u16) -> io::Result<FakeModel> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            seen: Mutex::new(VecDeque::new()),
            count: AtomicU64::new(0),
            fails: Mutex::new(HashMap::new()),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            key: Mutex::new(None),
        });
        let state = shared.clone();
        let accept =
            thread::Builder::new().name("fake-model-accept".into()).spawn(move || accept_loop(&listener, &state))?;
        Ok(FakeModel { port, shared, accept: Some(accept) })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>/v1`, an OpenAI `baseUrl`.
    pub fn openai_base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// `http://127.0.0.1:<port>`, an Anthropic `baseUrl`.
    pub fn anthropic_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The latest requests (at most [`MAX_SEEN`]), oldest first.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.shared.seen).iter().cloned().collect()
    }

    /// How many requests arrived since the start (all of them, not only those kept).
    pub fn count(&self) -> usize {
        self.shared.count.load(Ordering::SeqCst) as usize
    }

    /// From now on, model calls without this key (OpenAI `Authorization: Bearer`,
    /// Anthropic `x-api-key`) get 401; `None` accepts any.
    pub fn require_key(&self, key: Option<&str>) {
        *lock(&self.shared.key) = key.map(str::to_string);
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop, which then sees the flag.
        let _ = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1));
        for (_, conn) in lock(&self.shared.conns).drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopped() {
            return;
        }
        let Ok(conn) = conn else {
            // Out of descriptors and the like: wait a little rather than spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let state = shared.clone();
        let _ = thread::Builder::new().name("fake-model-conn".into()).spawn(move || serve(conn, &state));
    }
}

// ---------------------------------------------------------------------------------
// HTTP

/// A socket reader that waits through read timeouts until data, EOF or the stop flag.
struct Patient {
    s: TcpStream,
    shared: Arc<Shared>,
}

impl Read for Patient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.s.read(buf) {
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    if self.shared.stopped() {
                        return Err(io::Error::other("the fake model server stopped"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
}

/// A parsed request.
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The connection ends after this exchange.
    close: bool,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

enum ReadErr {
    /// The client left (or the server stops): close quietly.
    Gone,
    /// Answer with this status and message, then close.
    Bad(u16, String),
}

fn serve(stream: TcpStream, shared: &Arc<Shared>) {
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let (Ok(reader), Ok(registered)) = (stream.try_clone(), stream.try_clone()) else { return };
    lock(&shared.conns).insert(id, registered);
    if shared.stopped() {
        // Dropped while this connection was being set up.
        let _ = stream.shutdown(Shutdown::Both);
    }
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let mut input = BufReader::new(Patient { s: reader, shared: shared.clone() });
    let mut out = stream;
    loop {
        let keep = match read_request(&mut input, &mut out) {
            Ok(Some(req)) => handle(req, &mut out, shared).unwrap_or(false),
            Ok(None) | Err(ReadErr::Gone) => false,
            Err(ReadErr::Bad(status, message)) => {
                let body = openai_error(&message, "invalid_request_error", Value::Null);
                let _ = Out { s: &mut out, shared, close: true }.json(status, &[], &body);
                false
            }
        };
        if !keep || shared.stopped() {
            break;
        }
    }
    let _ = out.shutdown(Shutdown::Both);
    lock(&shared.conns).remove(&id);
}

/// One line without its `\r\n`; `None` at a clean EOF. Counts against `budget`.
fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Result<Option<String>, ReadErr> {
    let mut line = Vec::new();
    let n = r.by_ref().take(*budget as u64 + 1).read_until(b'\n', &mut line).map_err(|_| ReadErr::Gone)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(ReadErr::Bad(431, "the request head is too large".into()));
    }
    *budget -= n;
    if line.pop() != Some(b'\n') {
        return Err(ReadErr::Gone);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map(Some).map_err(|_| ReadErr::Bad(400, "the request head is not UTF-8".into()))
}

fn read_request(r: &mut BufReader<Patient>, out: &mut TcpStream) -> Result<Option<Req>, ReadErr> {
    let mut budget = MAX_HEAD;
    let line = loop {
        match read_line(r, &mut budget)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let parts: Vec<&str> = line.split_whitespace().collect();
    let [method, target, version] = parts[..] else {
        return Err(ReadErr::Bad(400, format!("bad request line: {line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadErr::Bad(400, format!("unsupported protocol {version:?}")));
    }
    let mut headers = Vec::new();
    loop {
        let Some(l) = read_line(r, &mut budget)? else { return Err(ReadErr::Gone) };
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(ReadErr::Bad(400, format!("bad header line: {l:?}")));
        };
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        if headers.len() > MAX_HEADERS {
            return Err(ReadErr::Bad(431, "too many headers".into()));
        }
    }
    let mut req = Req {
        method: method.to_string(),
        path: target.split('?').next().unwrap_or_default().to_string(),
        headers,
        body: Vec::new(),
        close: false,
    };
    let connection = req.header("connection").unwrap_or_default().to_ascii_lowercase();
    req.close = connection.contains("close") || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
    if req.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(|_| ReadErr::Gone)?;
    }
    let chunked = req.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        req.body = read_chunked(r)?;
    } else if let Some(len) = req.header("content-length") {
        let len: usize = len.parse().map_err(|_| ReadErr::Bad(400, format!("bad Content-Length {len:?}")))?;
        if len > MAX_BODY {
            return Err(ReadErr::Bad(413, format!("the body exceeds {} MiB", MAX_BODY >> 20)));
        }
        req.body = vec![0; len];
        r.read_exact(&mut req.body).map_err(|_| ReadErr::Gone)?;
    }
    Ok(Some(req))
}

fn read_chunked(r: &mut BufReader<Patient>) -> Result<Vec<u8>, ReadErr> {
    let mut body = Vec::new();
    loop {
        let mut budget = 4096;
        let Some(line) = read_line(r, &mut budget)? else { return Err(ReadErr::Gone) };
        let size = line.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| ReadErr::Bad(400, format!("bad chunk size {size:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(r, &mut budget)?.ok_or(ReadErr::Gone)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(ReadErr::Bad(413, format!("the body exceeds {} MiB", MAX_BODY >> 20)));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).map_err(|_| ReadErr::Gone)?;
        if !read_line(r, &mut budget)?.ok_or(ReadErr::Gone)?.is_empty() {
            return Err(ReadErr::Bad(400, "a chunk does not end where its size says".into()));
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Fake",
    }
}

/// The response side of one exchange.
struct Out<'a> {
    s: &'a mut TcpStream,
    shared: &'a Shared,
    close: bool,
}

impl Out<'_> {
    /// The head; `len: None` sends the body chunked.
    fn head(
        &mut self,
        status: u16,
        headers: &[(&str, String)],
        content_type: &str,
        len: Option<usize>,
    ) -> io::Result<()> {
        let mut h = format!("HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\n", reason(status));
        for (k, v) in headers {
            h += &format!("{k}: {v}\r\n");
        }
        match len {
            Some(n) => h += &format!("Content-Length: {n}\r\n"),
            None => h += "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n",
        }
        h += if self.close { "Connection: close\r\n\r\n" } else { "Connection: keep-alive\r\n\r\n" };
        self.s.write_all(h.as_bytes())?;
        self.s.flush()
    }

    fn json(&mut self, status: u16, headers: &[(&str, String)], v: &Value) -> io::Result<()> {
        let body = v.to_string();
        self.head(status, headers, "application/json", Some(body.len()))?;
        self.s.write_all(body.as_bytes())?;
        self.s.flush()
    }

    fn chunk(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.s.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
        self.s.write_all(data)?;
        self.s.write_all(b"\r\n")?;
        self.s.flush()
    }

    fn end(&mut self) -> io::Result<()> {
        self.s.write_all(b"0\r\n\r\n")?;
        self.s.flush()
    }

    /// Sleeps `d`, in steps, failing if the server stops meanwhile.
    fn pause(&self, d: Duration) -> io::Result<()> {
        let until = Instant::now() + d;
        loop {
            if self.shared.stopped() {
                return Err(io::Error::other("the fake model server stopped"));
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            thread::sleep(left.min(POLL));
        }
    }

    /// An event stream: each event after its pause; `terminate: false` leaves the
    /// chunked body unfinished (a cut connection).
    fn events(&mut self, headers: &[(&str, String)], events: &[(Duration, String)], terminate: bool) -> io::Result<()> {
        self.head(200, headers, "text/event-stream; charset=utf-8", None)?;
        for (pause, event) in events {
            if !pause.is_zero() {
                self.pause(*pause)?;
            }
            self.chunk(event.as_bytes())?;
        }
        if terminate { self.end() } else { Ok(()) }
    }
}

// ---------------------------------------------------------------------------------
// What to answer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    OpenAi,
    Anthropic,
    /// The Responses API (errors in OpenAI's shape).
    Responses,
}

/// A tool call to make; `args` is the arguments object as JSON text.
struct Call {
    name: String,
    args: String,
}

/// A successful reply: text pieces (each sent `pause` after the one before) and calls.
struct Reply {
    chunks: Vec<String>,
    calls: Vec<Call>,
    pause: Duration,
}

impl Reply {
    fn text(chunks: Vec<String>) -> Reply {
        Reply { chunks, calls: Vec::new(), pause: NO_PAUSE }
    }

    fn full_text(&self) -> String {
        self.chunks.concat()
    }

    fn completion_tokens(&self) -> u64 {
        let len =
            self.chunks.iter().map(String::len).sum::<usize>() + self.calls.iter().map(|c| c.args.len()).sum::<usize>();
        (len / 4) as u64
    }

    fn finish_reason(&self, api: Api) -> &'static str {
        match (api, self.calls.is_empty()) {
            (Api::OpenAi, true) => "stop",
            (Api::OpenAi, false) => "tool_calls",
            (Api::Anthropic, true) => "end_turn",
            (Api::Anthropic, false) => "tool_use",
            (Api::Responses, _) => "completed",
        }
    }
}

enum Plan {
    Reply(Reply),
    Fail {
        status: u16,
        quota: bool,
        retry_after: Option<String>,
    },
    Malformed,
    Cut,
    Hang,
    /// A 400 `invalid_request_error` with this message.
    Bad(String),
}

/// How the conversation ends.
enum Last {
    ToolResults(Vec<String>),
    User(String),
}

/// The text of a content value: a string, or the `text` of its text parts.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| ["text", "input_text", "output_text"].contains(&p["type"].as_str().unwrap_or("text")))
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn last_input(api: Api, body: &Value) -> Result<Last, String> {
    if api == Api::Responses {
        return last_responses_input(body);
    }
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        return Err("messages: at least one message is required".into());
    };
    match api {
        Api::OpenAi => {
            let results: Vec<String> = messages
                .iter()
                .rev()
                .take_while(|m| m["role"] == "tool")
                .map(|m| content_text(&m["content"]))
                .collect();
            if !results.is_empty() {
                return Ok(Last::ToolResults(results.into_iter().rev().collect()));
            }
            match messages.iter().rev().find(|m| m["role"] == "user") {
                Some(m) => Ok(Last::User(content_text(&m["content"]))),
                None => Err("messages: there is no user message".into()),
            }
        }
        Api::Anthropic => {
            let last = &messages[messages.len() - 1];
            let blocks = last["content"].as_array().map(Vec::as_slice).unwrap_or_default();
            let results: Vec<String> =
                blocks.iter().filter(|b| b["type"] == "tool_result").map(|b| content_text(&b["content"])).collect();
            if last["role"] == "user" && !results.is_empty() {
                return Ok(Last::ToolResults(results));
            }
            let has_text = |m: &&Value| {
                m["role"] == "user"
                    && (m["content"].is_string()
                        || m["content"].as_array().is_some_and(|b| b.iter().any(|b| b["type"] == "text")))
            };
            match messages.iter().rev().find(has_text) {
                Some(m) => Ok(Last::User(content_text(&m["content"]))),
                None => Err("messages: there is no user message with text".into()),
            }
        }
        Api::Responses => unreachable!("handled above"),
    }
}

/// The Responses API's `input`: a string, or items (`message`, `function_call`,
/// `function_call_output`).
fn last_responses_input(body: &Value) -> Result<Last, String> {
    if let Some(text) = body["input"].as_str() {
        return Ok(Last::User(text.to_string()));
    }
    let Some(items) = body["input"].as_array().filter(|i| !i.is_empty()) else {
        return Err("input: at least one item is required".into());
    };
    let results: Vec<String> = items
        .iter()
        .rev()
        .take_while(|i| i["type"] == "function_call_output")
        .map(|i| i["output"].as_str().map(str::to_string).unwrap_or_else(|| content_text(&i["output"])))
        .collect();
    if !results.is_empty() {
        return Ok(Last::ToolResults(results.into_iter().rev().collect()));
    }
    match items.iter().rev().find(|i| i["role"] == "user") {
        Some(i) => Ok(Last::User(content_text(&i["content"]))),
        None => Err("input: there is no user message".into()),
    }
}

/// Splits `s` at char boundaries into at most `n` nearly equal, non-empty pieces.
fn split_even(s: &str, n: usize) -> Vec<String> {
    let step = s.len().div_ceil(n.max(1)).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + step).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        out.push(s[start..end].to_string());
        start = end;
    }
    out
}

/// `first` bytes (moved to a char boundary), then the rest in two halves.
fn split_reply(s: &str, first: usize) -> Vec<String> {
    let mut cut = first.min(s.len());
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    let mut out = vec![s[..cut].to_string()];
    out.extend(split_even(&s[cut..], 2));
    out.retain(|p| !p.is_empty());
    out
}

fn echo(text: &str) -> Plan {
    Plan::Reply(Reply::text(split_reply(&format!("You said: {text}"), 5)))
}

/// `<name> <json-object>` as a call.
fn parse_call(spec: &str) -> Result<Call, String> {
    let spec = spec.trim();
    let (name, args) = spec.split_once(char::is_whitespace).unwrap_or((spec, "{}"));
    if name.is_empty() {
        return Err("fake model: `tool` needs <name> <json-object>".into());
    }
    match serde_json::from_str::<Value>(args.trim()) {
        Ok(v @ Value::Object(_)) => Ok(Call { name: name.to_string(), args: v.to_string() }),
        _ => Err(format!("fake model: the arguments of tool `{name}` are not a JSON object: {}", args.trim())),
    }
}

fn plan(shared: &Shared, text: &str) -> Plan {
    let trimmed = text.trim();
    if let Some(command) = trimmed.strip_prefix("exec:") {
        let args = json!({"command": command.trim()}).to_string();
        return Plan::Reply(Reply { calls: vec![Call { name: "exec".into(), args }], ..Reply::text(Vec::new()) });
    }
    let words: Vec<&str> = trimmed.split_whitespace().collect();
    let rest = trimmed.split_once(char::is_whitespace).map_or("", |(_, r)| r);
    let number = |i: usize| words.get(i).and_then(|w| w.parse::<usize>().ok());
    match words.first().copied().unwrap_or_default() {
        "tool" => match parse_call(rest) {
            Ok(call) => Plan::Reply(Reply { calls: vec![call], ..Reply::text(Vec::new()) }),
            Err(e) => Plan::Bad(e),
        },
        "tools" => match rest.split(";;").map(parse_call).collect::<Result<Vec<_>, _>>() {
            Ok(calls) => Plan::Reply(Reply { calls, ..Reply::text(Vec::new()) }),
            Err(e) => Plan::Bad(e),
        },
        "fail" => match words.get(1).copied() {
            Some("quota") => Plan::Fail { status: 429, quota: true, retry_after: None },
            Some("429") => {
                let secs = words.get(2).copied().unwrap_or("1");
                if !secs.parse::<f64>().is_ok_and(|s| s.is_finite() && s >= 0.0) {
                    return Plan::Bad(format!("fake model: `fail 429 <secs>`: bad seconds {secs:?}"));
                }
                let times = number(3).unwrap_or(1);
                let seen = {
                    let mut fails = lock(&shared.fails);
                    let n = fails.entry(trimmed.to_string()).or_insert(0);
                    *n = n.saturating_add(1);
                    *n as usize
                };
                if seen <= times {
                    Plan::Fail { status: 429, quota: false, retry_after: Some(secs.to_string()) }
                } else {
                    echo(text)
                }
            }
            Some(s) => match s.parse::<u16>() {
                Ok(status @ 400..=599) => Plan::Fail { status, quota: false, retry_after: None },
                _ => Plan::Bad(format!("fake model: `fail` needs a status 400-599 or `quota`, not {s:?}")),
            },
            None => Plan::Bad("fake model: `fail` needs a status 400-599 or `quota`".into()),
        },
        "malformed" => Plan::Malformed,
        "cut" => Plan::Cut,
        "hang" => Plan::Hang,
        "slow" => match (number(1), words.get(2).and_then(|w| w.parse::<u64>().ok())) {
            (Some(n @ 1..=MAX_SLOW_WORDS), Some(ms @ 0..=60_000)) => {
                let chunks = (1..=n).map(|i| if i == 1 { "w1".to_string() } else { format!(" w{i}") }).collect();
                Plan::Reply(Reply { pause: Duration::from_millis(ms), ..Reply::text(chunks) })
            }
            _ => Plan::Bad(format!("fake model: `slow <n 1-{MAX_SLOW_WORDS}> <ms 0-60000>`")),
        },
        "big" => match number(1) {
            Some(n @ 1..=MAX_BIG) => {
                const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
                let text: String = (0..n).map(|i| PATTERN[i % PATTERN.len()] as char).collect();
                // ASCII, so any byte offset is a char boundary.
                let chunks = text.as_bytes().chunks(BIG_CHUNK).map(|c| String::from_utf8_lossy(c).into_owned());
                Plan::Reply(Reply::text(chunks.collect()))
            }
            _ => Plan::Bad(format!("fake model: `big <n 1-{MAX_BIG}>`")),
        },
        _ => echo(text),
    }
}

// ---------------------------------------------------------------------------------
// Exchanges

/// Per-request facts the answer depends on.
struct Ctx {
    api: Api,
    seq: u64,
    model: String,
    stream: bool,
    include_usage: bool,
    prompt_tokens: u64,
}

impl Ctx {
    fn request_id(&self) -> (&'static str, String) {
        match self.api {
            Api::OpenAi | Api::Responses => ("x-request-id", format!("req_fake{}", self.seq)),
            Api::Anthropic => ("request-id", format!("req_fake{}", self.seq)),
        }
    }

    fn call_id(&self, i: usize) -> String {
        match self.api {
            Api::OpenAi | Api::Responses => format!("call_fake{}_{i}", self.seq),
            Api::Anthropic => format!("toolu_fake{}_{i}", self.seq),
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Answers one request; true to keep the connection.
fn handle(req: Req, s: &mut TcpStream, shared: &Shared) -> io::Result<bool> {
    let body: Option<Value> = serde_json::from_slice(&req.body).ok();
    let seq = shared.record(Seen {
        method: req.method.clone(),
        path: req.path.clone(),
        headers: req.headers.clone(),
        body: body.clone().unwrap_or(Value::Null),
    });
    let mut out = Out { s, shared, close: req.close };
    let anthropic_client = req.header("anthropic-version").is_some();
    let path = req.path.trim_end_matches('/');
    let codex = matches!(path, "/backend-api/codex/responses" | "/codex/responses");
    let api = match (req.method.as_str(), path) {
        ("POST", "/v1/chat/completions" | "/chat/completions") => Api::OpenAi,
        ("POST", "/v1/messages" | "/messages") => Api::Anthropic,
        ("POST", "/v1/responses" | "/responses") => Api::Responses,
        ("POST", _) if codex => Api::Responses,
        ("GET", "/v1/models" | "/models") => {
            out.json(200, &[], &models(anthropic_client))?;
            return Ok(!req.close);
        }
        ("GET" | "HEAD", "") => {
            out.head(200, &[], "text/plain", Some(0))?;
            return Ok(!req.close);
        }
        (method, path) => {
            let message = format!("fake model: no route for {method} {path}");
            let api = if anthropic_client { Api::Anthropic } else { Api::OpenAi };
            out.json(404, &[], &error_body(api, 404, false, &message))?;
            return Ok(!req.close);
        }
    };
    let Some(body) = body.filter(Value::is_object) else {
        let e = error_body(api, 400, false, "fake model: the request body is not a JSON object");
        out.json(400, &[], &e)?;
        return Ok(!req.close);
    };
    let ctx = Ctx {
        api,
        seq,
        model: body["model"].as_str().unwrap_or(MODELS[0]).to_string(),
        stream: body["stream"] == true,
        include_usage: body["stream_options"]["include_usage"] == true,
        prompt_tokens: (req.body.len() / 4) as u64,
    };
    if codex && let Some(detail) = codex_refusal(&req, &body) {
        out.json(400, &[ctx.request_id()], &json!({"detail": detail}))?;
        return Ok(!req.close);
    }
    let want_key = lock(&shared.key).clone();
    if let Some(want) = want_key {
        let bearer = req.header("authorization").and_then(|v| v.strip_prefix("Bearer "));
        let given = match api {
            Api::OpenAi | Api::Responses => bearer,
            Api::Anthropic => req.header("x-api-key").or(bearer),
        };
        if given != Some(want.as_str()) {
            let e = error_body(api, 401, false, &unauthorized_message(api, given));
            out.json(401, &[ctx.request_id()], &e)?;
            return Ok(!req.close);
        }
    }
    let plan = match last_input(api, &body) {
        Ok(Last::ToolResults(texts)) => {
            Plan::Reply(Reply::text(split_reply(&format!("Tool said: {}", texts.join("\n")), 6)))
        }
        Ok(Last::User(text)) => plan(shared, &text),
        Err(e) => Plan::Bad(e),
    };
    answer(&mut out, &ctx, plan)?;
    Ok(!out.close)
}

/// What the ChatGPT Codex backend refuses (its `detail` text), if anything.
fn codex_refusal(req: &Req, body: &Value) -> Option<String> {
    if req.header("chatgpt-account-id").is_none_or(str::is_empty) {
        return Some("Missing chatgpt-account-id header".into());
    }
    if body["store"] != false {
        return Some("Store must be set to false".into());
    }
    if !body["instructions"].is_string() {
        return Some("Instructions are required".into());
    }
    if body.get("max_output_tokens").is_some() {
        return Some("Unsupported parameter: max_output_tokens".into());
    }
    None
}

fn answer(out: &mut Out, ctx: &Ctx, plan: Plan) -> io::Result<()> {
    let rid = ctx.request_id();
    match plan {
        Plan::Reply(r) if ctx.stream => {
            let events = match ctx.api {
                Api::OpenAi => openai_events(ctx, &r),
                Api::Anthropic => anthropic_events(ctx, &r),
                Api::Responses => responses_events(ctx, &r),
            };
            out.events(&[rid], &events, true)
        }
        Plan::Reply(r) => {
            out.pause(r.pause.saturating_mul(r.chunks.len().saturating_sub(1) as u32))?;
            let v = match ctx.api {
                Api::OpenAi => openai_completion(ctx, &r),
                Api::Anthropic => anthropic_message(ctx, &r),
                Api::Responses => responses_object(ctx, &r, "completed"),
            };
            out.json(200, &[rid], &v)
        }
        Plan::Fail { status, quota, retry_after } => {
            let wait = retry_after.as_deref().unwrap_or("1");
            let message = error_message(ctx.api, status, quota, &ctx.model, wait);
            // Anthropic reports an empty credit balance as a 400.
            let status = if ctx.api == Api::Anthropic && quota { 400 } else { status };
            let mut headers = vec![rid];
            if let Some(secs) = retry_after {
                headers.push(("Retry-After", secs));
            }
            out.json(status, &headers, &error_body(ctx.api, status, quota, &message))
        }
        Plan::Bad(message) => out.json(400, &[rid], &error_body(ctx.api, 400, false, &message)),
        Plan::Malformed | Plan::Cut if !ctx.stream => {
            out.close = true;
            let text = "{not json";
            // Malformed: a body that is not JSON; cut: a body shorter than announced.
            let len = if matches!(plan, Plan::Cut) { 4096 } else { text.len() };
            out.head(200, &[rid], "application/json", Some(len))?;
            out.s.write_all(text.as_bytes())?;
            out.s.flush()
        }
        Plan::Malformed | Plan::Cut => {
            out.close = true;
            let cut = matches!(plan, Plan::Cut);
            let mut events = match ctx.api {
                Api::OpenAi => {
                    let r = Reply::text(vec!["partial reply".into()]);
                    let mut ev = openai_events(ctx, &r);
                    ev.truncate(2); // the role chunk and the text
                    ev
                }
                Api::Anthropic => {
                    let r = Reply::text(vec!["partial reply".into()]);
                    let mut ev = anthropic_events(ctx, &r);
                    ev.truncate(4); // message_start, ping, content_block_start, the text
                    ev
                }
                Api::Responses => {
                    let r = Reply::text(vec!["partial reply".into()]);
                    let mut ev = responses_events(ctx, &r);
                    ev.truncate(5); // created, in_progress, item added, part added, the text
                    ev
                }
            };
            if !cut {
                let bad = match ctx.api {
                    Api::OpenAi => "data: {not json\n\n",
                    Api::Anthropic => "event: content_block_delta\ndata: {not json\n\n",
                    Api::Responses => "event: response.output_text.delta\ndata: {not json\n\n",
                };
                events.push((NO_PAUSE, bad.to_string()));
            }
            out.events(&[rid], &events, !cut)
        }
        Plan::Hang => {
            out.close = true;
            hang(out)
        }
    }
}

/// Sends nothing until the client closes, the server stops or [`HANG_FOR`] passes.
fn hang(out: &mut Out) -> io::Result<()> {
    let until = Instant::now() + HANG_FOR;
    let mut buf = [0u8; 1024];
    while Instant::now() < until && !out.shared.stopped() {
        match out.s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// OpenAI Chat Completions

fn openai_usage(ctx: &Ctx, r: &Reply) -> Value {
    let completion = r.completion_tokens();
    json!({
        "prompt_tokens": ctx.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": ctx.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    })
}

fn openai_events(ctx: &Ctx, r: &Reply) -> Vec<(Duration, String)> {
    let id = format!("chatcmpl-fake{}", ctx.seq);
    let created = now();
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut v = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": ctx.model,
            "system_fingerprint": "fp_fake", "choices": choices,
        });
        if ctx.include_usage {
            v["usage"] = usage.unwrap_or(Value::Null);
        }
        format!("data: {v}\n\n")
    };
    let delta = |delta: Value, finish: Value| {
        chunk(json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]), None)
    };
    let content = if r.chunks.is_empty() { Value::Null } else { json!("") };
    let mut events =
        vec![(NO_PAUSE, delta(json!({"role": "assistant", "content": content, "refusal": null}), Value::Null))];
    for (i, text) in r.chunks.iter().enumerate() {
        let pause = if i == 0 { NO_PAUSE } else { r.pause };
        events.push((pause, delta(json!({"content": text}), Value::Null)));
    }
    for (i, call) in r.calls.iter().enumerate() {
        let start = json!({"tool_calls": [{
            "index": i, "id": ctx.call_id(i), "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }]});
        events.push((NO_PAUSE, delta(start, Value::Null)));
        for piece in split_even(&call.args, 3) {
            let more = json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]});
            events.push((NO_PAUSE, delta(more, Value::Null)));
        }
    }
    events.push((NO_PAUSE, delta(json!({}), json!(r.finish_reason(Api::OpenAi)))));
    if ctx.include_usage {
        events.push((NO_PAUSE, chunk(json!([]), Some(openai_usage(ctx, r)))));
    }
    events.push((NO_PAUSE, "data: [DONE]\n\n".to_string()));
    events
}

fn openai_completion(ctx: &Ctx, r: &Reply) -> Value {
    let mut message = json!({"role": "assistant", "content": null, "refusal": null});
    if !r.chunks.is_empty() {
        message["content"] = json!(r.full_text());
    }
    if !r.calls.is_empty() {
        message["tool_calls"] = r
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"id": ctx.call_id(i), "type": "function", "function": {"name": c.name, "arguments": c.args}}))
            .collect();
    }
    json!({
        "id": format!("chatcmpl-fake{}", ctx.seq),
        "object": "chat.completion",
        "created": now(),
        "model": ctx.model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": r.finish_reason(Api::OpenAi)}],
        "usage": openai_usage(ctx, r),
    })
}

fn openai_error(message: &str, kind: &str, code: Value) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

fn models(anthropic: bool) -> Value {
    if anthropic {
        let data: Vec<Value> = MODELS
            .iter()
            .map(|m| json!({"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}))
            .collect();
        json!({"data": data, "has_more": false, "first_id": MODELS[0], "last_id": MODELS[MODELS.len() - 1]})
    } else {
        let data: Vec<Value> = MODELS
            .iter()
            .map(|m| json!({"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "openclaw-fake"}))
            .collect();
        json!({"object": "list", "data": data})
    }
}

// ---------------------------------------------------------------------------------
// OpenAI Responses (and the ChatGPT Codex backend)

/// The output items of a reply (a message, then the function calls).
fn responses_output(ctx: &Ctx, r: &Reply) -> Vec<Value> {
    let mut out = Vec::new();
    if !r.chunks.is_empty() {
        out.push(json!({
            "id": format!("msg_fake{}", ctx.seq), "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": r.full_text(), "annotations": []}],
        }));
    }
    for (i, c) in r.calls.iter().enumerate() {
        out.push(json!({
            "id": format!("fc_fake{}_{i}", ctx.seq), "type": "function_call", "status": "completed",
            "call_id": ctx.call_id(i), "name": c.name, "arguments": c.args,
        }));
    }
    out
}

fn responses_object(ctx: &Ctx, r: &Reply, status: &str) -> Value {
    let completion = r.completion_tokens();
    let done = status == "completed";
    json!({
        "id": format!("resp_fake{}", ctx.seq), "object": "response", "created_at": now(), "status": status,
        "model": ctx.model, "output": if done { responses_output(ctx, r) } else { Vec::new() },
        "usage": if done {
            json!({"input_tokens": ctx.prompt_tokens, "output_tokens": completion, "total_tokens": ctx.prompt_tokens + completion})
        } else { Value::Null },
    })
}

fn responses_events(ctx: &Ctx, r: &Reply) -> Vec<(Duration, String)> {
    let mut seq = 0;
    let mut ev = |mut v: Value| {
        v["sequence_number"] = json!(seq);
        seq += 1;
        format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or_default())
    };
    let mut events = vec![
        (NO_PAUSE, ev(json!({"type": "response.created", "response": responses_object(ctx, r, "in_progress")}))),
        (NO_PAUSE, ev(json!({"type": "response.in_progress", "response": responses_object(ctx, r, "in_progress")}))),
    ];
    let output = responses_output(ctx, r);
    let mut index = 0;
    if !r.chunks.is_empty() {
        let id = format!("msg_fake{}", ctx.seq);
        let added = json!({"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []});
        events.push((NO_PAUSE, ev(json!({"type": "response.output_item.added", "output_index": 0, "item": added}))));
        let part = json!({"type": "output_text", "text": "", "annotations": []});
        events.push((NO_PAUSE, ev(json!({"type": "response.content_part.added", "item_id": id, "output_index": 0, "content_index": 0, "part": part}))));
        for (i, text) in r.chunks.iter().enumerate() {
            let pause = if i == 0 { NO_PAUSE } else { r.pause };
            let d = json!({"type": "response.output_text.delta", "item_id": id, "output_index": 0, "content_index": 0, "delta": text});
            events.push((pause, ev(d)));
        }
        let full = r.full_text();
        events.push((NO_PAUSE, ev(json!({"type": "response.output_text.done", "item_id": id, "output_index": 0, "content_index": 0, "text": full}))));
        let part = json!({"type": "output_text", "text": full, "annotations": []});
        events.push((NO_PAUSE, ev(json!({"type": "response.content_part.done", "item_id": id, "output_index": 0, "content_index": 0, "part": part}))));
        events.push((NO_PAUSE, ev(json!({"type": "response.output_item.done", "output_index": 0, "item": output[0]}))));
        index = 1;
    }
    for (i, call) in r.calls.iter().enumerate() {
        let id = format!("fc_fake{}_{i}", ctx.seq);
        let added = json!({"id": id, "type": "function_call", "status": "in_progress", "call_id": ctx.call_id(i), "name": call.name, "arguments": ""});
        events.push((NO_PAUSE, ev(json!({"type": "response.output_item.added", "output_index": index, "item": added}))));
        for piece in split_even(&call.args, 3) {
            let d = json!({"type": "response.function_call_arguments.delta", "item_id": id, "output_index": index, "delta": piece});
            events.push((NO_PAUSE, ev(d)));
        }
        let d = json!({"type": "response.function_call_arguments.done", "item_id": id, "output_index": index, "arguments": call.args});
        events.push((NO_PAUSE, ev(d)));
        events.push((NO_PAUSE, ev(json!({"type": "response.output_item.done", "output_index": index, "item": output[index]}))));
        index += 1;
    }
    events.push((NO_PAUSE, ev(json!({"type": "response.completed", "response": responses_object(ctx, r, "completed")}))));
    events
}

// ---------------------------------------------------------------------------------
// Anthropic Messages

fn anthropic_events(ctx: &Ctx, r: &Reply) -> Vec<(Duration, String)> {
    let ev = |v: Value| format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or_default());
    let mut events = vec![
        (
            NO_PAUSE,
            ev(json!({"type": "message_start", "message": {
                "id": format!("msg_fake{}", ctx.seq), "type": "message", "role": "assistant", "model": ctx.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": ctx.prompt_tokens, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0, "output_tokens": 1},
            }})),
        ),
        (NO_PAUSE, ev(json!({"type": "ping"}))),
    ];
    let mut index = 0;
    if !r.chunks.is_empty() {
        events.push((
            NO_PAUSE,
            ev(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})),
        ));
        for (i, text) in r.chunks.iter().enumerate() {
            let pause = if i == 0 { NO_PAUSE } else { r.pause };
            let delta =
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}});
            events.push((pause, ev(delta)));
        }
        events.push((NO_PAUSE, ev(json!({"type": "content_block_stop", "index": 0}))));
        index = 1;
    }
    for (i, call) in r.calls.iter().enumerate() {
        let block = json!({"type": "tool_use", "id": ctx.call_id(i), "name": call.name, "input": {}});
        events.push((NO_PAUSE, ev(json!({"type": "content_block_start", "index": index, "content_block": block}))));
        for piece in std::iter::once(String::new()).chain(split_even(&call.args, 3)) {
            let delta = json!({"type": "input_json_delta", "partial_json": piece});
            events.push((NO_PAUSE, ev(json!({"type": "content_block_delta", "index": index, "delta": delta}))));
        }
        events.push((NO_PAUSE, ev(json!({"type": "content_block_stop", "index": index}))));
        index += 1;
    }
    events.push((
        NO_PAUSE,
        ev(json!({
            "type": "message_delta",
            "delta": {"stop_reason": r.finish_reason(Api::Anthropic), "stop_sequence": null},
            "usage": {"output_tokens": r.completion_tokens()},
        })),
    ));
    events.push((NO_PAUSE, ev(json!({"type": "message_stop"}))));
    events
}

fn anthropic_message(ctx: &Ctx, r: &Reply) -> Value {
    let mut content = Vec::new();
    if !r.chunks.is_empty() {
        content.push(json!({"type": "text", "text": r.full_text()}));
    }
    for (i, c) in r.calls.iter().enumerate() {
        let input: Value = serde_json::from_str(&c.args).unwrap_or_else(|_| json!({}));
        content.push(json!({"type": "tool_use", "id": ctx.call_id(i), "name": c.name, "input": input}));
    }
    json!({
        "id": format!("msg_fake{}", ctx.seq),
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": content,
        "stop_reason": r.finish_reason(Api::Anthropic),
        "stop_sequence": null,
        "usage": {"input_tokens": ctx.prompt_tokens, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "output_tokens": r.completion_tokens()},
    })
}

// ---------------------------------------------------------------------------------
// Errors

fn unauthorized_message(api: Api, given: Option<&str>) -> String {
    match api {
        Api::OpenAi | Api::Responses => {
            let shown = match given {
                Some(k) if k.len() >= 12 && k.is_ascii() => {
                    format!("{}{}{}", &k[..3], "*".repeat(k.len() - 7), &k[k.len() - 4..])
                }
                Some(_) => "***".to_string(),
                None => String::new(),
            };
            format!(
                "Incorrect API key provided: {shown}. You can find your API key at https://platform.openai.com/account/api-keys."
            )
        }
        Api::Anthropic => "invalid x-api-key".into(),
    }
}

/// The provider's usual message for a status.
fn error_message(api: Api, status: u16, quota: bool, model: &str, wait: &str) -> String {
    let api = if api == Api::Responses { Api::OpenAi } else { api };
    match (api, status, quota) {
        (Api::OpenAi, _, true) => {
            "You exceeded your current quota, please check your plan and billing details. For more \
             information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
                .into()
        }
        (Api::Anthropic, _, true) => {
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & \
             Billing to upgrade or purchase credits."
                .into()
        }
        (api, 401, _) => unauthorized_message(api, Some("sk-fake-key-0000")),
        (Api::OpenAi, 400, _) => "fake model: invalid request (fail 400)".into(),
        (Api::OpenAi, 403, _) => "Country, region, or territory not supported".into(),
        (Api::OpenAi, 404, _) => format!("The model `{model}` does not exist or you do not have access to it."),
        (Api::OpenAi, 429, _) => format!(
            "Rate limit reached for {model} in organization org-fake on requests per min (RPM): Limit 3, Used 3, \
             Requested 1. Please try again in {wait}s."
        ),
        (Api::OpenAi, 500, _) => "The server had an error while processing your request. Sorry about that!".into(),
        (Api::OpenAi, 503, _) => "The engine is currently overloaded, please try again later.".into(),
        (Api::Anthropic, 400, _) => "messages: fake model: invalid request (fail 400)".into(),
        (Api::Anthropic, 403, _) => "Your API key does not have permission to use the specified resource.".into(),
        (Api::Anthropic, 404, _) => format!("model: {model}"),
        (Api::Anthropic, 429, _) => "Number of request tokens has exceeded your per-minute rate limit \
             (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage. Please \
             reduce the prompt length or the maximum tokens requested, or try again later."
            .into(),
        (Api::Anthropic, 529, _) => "Overloaded".into(),
        (Api::Anthropic, 500.., _) => "Internal server error".into(),
        (_, status, _) => format!("fake model: HTTP {status}"),
    }
}

/// The error body in the provider's shape.
fn error_body(api: Api, status: u16, quota: bool, message: &str) -> Value {
    match api {
        Api::OpenAi | Api::Responses => {
            let (kind, code) = match (status, quota) {
                (_, true) => ("insufficient_quota", json!("insufficient_quota")),
                (401, _) => ("invalid_request_error", json!("invalid_api_key")),
                (403, _) => ("request_forbidden", json!("unsupported_country_region_territory")),
                (404, _) => ("invalid_request_error", json!("model_not_found")),
                (429, _) => ("requests", json!("rate_limit_exceeded")),
                (500.., _) => ("server_error", Value::Null),
                _ => ("invalid_request_error", Value::Null),
            };
            openai_error(message, kind, code)
        }
        Api::Anthropic => {
            let kind = match status {
                401 => "authentication_error",
                402 => "billing_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                500.. => "api_error",
                _ => "invalid_request_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use openclaw::agent::provider::{
        self, Api, Endpoint, Error, Event, Limits, Message, Reply, Request, ToolCall, ToolSpec,
    };
    use serde_json::{Value, json};

    use super::FakeModel;

    const KEY: &str = "sk-fake-test-key-42";

    fn endpoint(fake: &FakeModel, api: Api) -> Endpoint {
        let (provider, base_url) = match api {
            Api::OpenAiCompletions | Api::OpenAiResponses => ("openai", fake.openai_base()),
            Api::AnthropicMessages => ("anthropic", fake.anthropic_base()),
            Api::OpenAiCodexResponses => ("openai-codex", format!("{}/backend-api", fake.anthropic_base())),
        };
        let headers = match api {
            Api::OpenAiCodexResponses => vec![("chatgpt-account-id".to_string(), "acct-fake".to_string())],
            _ => vec![],
        };
        Endpoint { provider: provider.into(), api, base_url, api_key: Some(KEY.into()), model: "fake-model".into(), headers }
    }

    fn limits(ms: u64) -> Limits {
        Limits { deadline: Duration::from_millis(ms), max_retries: 3, first_byte: Duration::from_millis(ms) }
    }

    fn exec_tool() -> ToolSpec {
        ToolSpec {
            name: "exec".into(),
            description: "Run a shell command".into(),
            parameters: json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}),
        }
    }

    fn call(
        ep: &Endpoint,
        messages: &[Message],
        limits: Limits,
        abort: &AtomicBool,
    ) -> (Result<Reply, Error>, Vec<Event>) {
        let tools = [exec_tool()];
        let req = Request { system: "be brief", messages, tools: &tools, max_tokens: 0 };
        let mut events = Vec::new();
        let r = provider::stream(ep, &req, &limits, abort, &mut |e| events.push(e.clone()));
        (r, events)
    }

    fn say(ep: &Endpoint, text: &str) -> (Result<Reply, Error>, Vec<Event>) {
        call(ep, &[Message::user(text)], limits(10_000), &AtomicBool::new(false))
    }

    const BOTH: [Api; 2] = [Api::OpenAiCompletions, Api::AnthropicMessages];
    const RESPONSES: [Api; 2] = [Api::OpenAiResponses, Api::OpenAiCodexResponses];

    #[test]
    fn responses_api_and_codex_backend_echo_and_tool_round_trip() {
        let fake = FakeModel::start();
        fake.require_key(Some(KEY));
        for api in RESPONSES {
            let ep = endpoint(&fake, api);
            let (r, events) = say(&ep, "hello there, model");
            let r = r.unwrap_or_else(|e| panic!("{api:?}: {e}"));
            assert_eq!((r.text.as_str(), r.stop_reason.as_str()), ("You said: hello there, model", "completed"), "{api:?}");
            assert!(events.iter().filter(|e| matches!(e, Event::TextDelta(_))).count() >= 2, "{events:?}");
            let seen = fake.requests().pop().unwrap();
            let want_path = if api == Api::OpenAiResponses { "/v1/responses" } else { "/backend-api/codex/responses" };
            assert_eq!(seen.path, want_path);
            assert_eq!(seen.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
            assert_eq!((&seen.body["store"], &seen.body["instructions"]), (&json!(false), &json!("be brief")));
            assert_eq!(r.input_tokens, seen_body_len(&seen) / 4);

            let command = "ls -la";
            let mut messages = vec![Message::user(format!("exec: {command}"))];
            let (r, events) = call(&ep, &messages, limits(10_000), &AtomicBool::new(false));
            let r = r.unwrap_or_else(|e| panic!("{api:?}: {e}"));
            let c = r.tool_calls[0].clone();
            assert_eq!((c.name.as_str(), &c.arguments, r.stop_reason.as_str()), ("exec", &json!({"command": command}), "tool_calls"));
            assert!(events.iter().filter(|e| matches!(e, Event::ToolCallArgsDelta { .. })).count() >= 3);
            messages.push(Message::assistant(r.text.clone(), r.tool_calls.clone()));
            messages.push(Message::tool_result(c.id.clone(), "file-a", false));
            let (r, _) = call(&ep, &messages, limits(10_000), &AtomicBool::new(false));
            assert_eq!(r.unwrap().text, "Tool said: file-a", "{api:?}");
            let body = fake.requests().pop().unwrap().body;
            let kinds: Vec<&str> = body["input"].as_array().unwrap().iter().filter_map(|i| i["type"].as_str()).collect();
            assert_eq!(kinds, ["message", "function_call", "function_call_output"]);
        }
    }

    #[test]
    fn responses_failures_and_the_codex_backends_rules() {
        let fake = FakeModel::start();
        for api in RESPONSES {
            let ep = endpoint(&fake, api);
            assert!(matches!(say(&ep, "fail 500").0, Err(Error::Server { status: 500, .. })), "{api:?}");
            assert!(matches!(say(&ep, "fail quota").0, Err(Error::Quota { .. })), "{api:?}");
            assert!(matches!(say(&ep, "malformed").0, Err(Error::MalformedStream(_))), "{api:?}");
            assert!(matches!(say(&ep, "cut").0, Err(Error::MalformedStream(_))), "{api:?}");
        }
        fake.require_key(Some("other"));
        let codex = endpoint(&fake, Api::OpenAiCodexResponses);
        let err = say(&codex, "hi").0.unwrap_err().to_string();
        assert!(err.contains("openclaw onboard --auth-choice openai-codex"), "{err}");
        fake.require_key(None);
        let no_account = Endpoint { headers: vec![], ..codex.clone() };
        let err = say(&no_account, "hi").0.unwrap_err().to_string();
        assert!(err.contains("Missing chatgpt-account-id header"), "{err}");
        // The backend refuses max_output_tokens; the client never sends it there.
        let req = Request { system: "", messages: &[Message::user("hi")], tools: &[], max_tokens: 50 };
        let r = provider::stream(&codex, &req, &limits(10_000), &AtomicBool::new(false), &mut |_| {});
        assert_eq!(r.unwrap().text, "You said: hi");
        let raw = r#"{"model":"m","input":"hi","store":false,"instructions":"","max_output_tokens":5}"#;
        let answer = post("/backend-api/codex/responses", raw, "chatgpt-account-id: a\r\nConnection: close\r\n");
        let answer = exchange(&fake, answer.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("Unsupported parameter: max_output_tokens"), "{answer}");
    }

    #[test]
    fn echo_over_both_apis_through_the_production_client() {
        let fake = FakeModel::start();
        for api in BOTH {
            let ep = endpoint(&fake, api);
            let (r, events) = say(&ep, "hello there, model");
            let r = r.unwrap_or_else(|e| panic!("{api:?}: {e}"));
            assert_eq!(r.text, "You said: hello there, model", "{api:?}");
            assert!(r.tool_calls.is_empty());
            let want_stop = if api == Api::OpenAiCompletions { "stop" } else { "end_turn" };
            assert_eq!(r.stop_reason, want_stop);
            let deltas: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::TextDelta(_))).collect();
            assert!(deltas.len() >= 2, "{api:?}: {events:?}");
            assert_eq!(deltas[0], &Event::TextDelta("You s".into()), "split mid-word");
            let seen = fake.requests().pop().unwrap();
            assert_eq!(r.input_tokens, seen_body_len(&seen) / 4, "{api:?}");
            assert_eq!(r.output_tokens, ("You said: hello there, model".len() / 4) as u64);
            assert_eq!(seen.method, "POST");
            assert_eq!(seen.body["stream"], true);
            match api {
                Api::OpenAiCompletions => {
                    assert_eq!(seen.path, "/v1/chat/completions");
                    assert_eq!(seen.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
                }
                Api::AnthropicMessages => {
                    assert_eq!(seen.path, "/v1/messages");
                    assert_eq!(seen.header("x-api-key"), Some(KEY));
                    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
                }
                Api::OpenAiResponses | Api::OpenAiCodexResponses => unreachable!("not in BOTH"),
            }
        }
        assert_eq!(fake.count(), 2);
    }

    /// The length of the body as the client serialized it (compact JSON, same order).
    fn seen_body_len(seen: &super::Seen) -> u64 {
        seen.body.to_string().len() as u64
    }

    #[test]
    fn tool_call_round_trip() {
        let fake = FakeModel::start();
        let command = r#"echo "hi" && ls 'a b' | wc -l"#;
        for api in BOTH {
            let ep = endpoint(&fake, api);
            let mut messages = vec![Message::user(format!("exec: {command}"))];
            let (r, events) = call(&ep, &messages, limits(10_000), &AtomicBool::new(false));
            let r = r.unwrap_or_else(|e| panic!("{api:?}: {e}"));
            assert_eq!(r.tool_calls.len(), 1, "{api:?}");
            let c = &r.tool_calls[0];
            assert_eq!((c.name.as_str(), &c.arguments), ("exec", &json!({"command": command})));
            let want_stop = if api == Api::OpenAiCompletions { "tool_calls" } else { "tool_use" };
            assert_eq!(r.stop_reason, want_stop);
            let pieces = events.iter().filter(|e| matches!(e, Event::ToolCallArgsDelta { .. })).count();
            assert!(pieces >= 3, "{api:?}: arguments in {pieces} pieces");
            assert!(events.contains(&Event::ToolCallStarted { id: c.id.clone(), name: "exec".into() }));

            messages.push(Message::assistant(r.text.clone(), r.tool_calls.clone()));
            messages.push(Message::tool_result(c.id.clone(), "hi\n3", false));
            let (r, events) = call(&ep, &messages, limits(10_000), &AtomicBool::new(false));
            let r = r.unwrap_or_else(|e| panic!("{api:?}: {e}"));
            assert_eq!(r.text, "Tool said: hi\n3", "{api:?}");
            assert!(r.tool_calls.is_empty());
            assert!(events.iter().filter(|e| matches!(e, Event::TextDelta(_))).count() >= 2);
        }
    }

    #[test]
    fn named_and_parallel_tool_calls() {
        let fake = FakeModel::start();
        for api in BOTH {
            let ep = endpoint(&fake, api);
            let (r, _) = say(&ep, r#"tool read {"path": "a.txt", "n": [1, 2]}"#);
            let calls = r.unwrap().tool_calls;
            assert_eq!(calls.len(), 1);
            assert_eq!((calls[0].name.as_str(), &calls[0].arguments), ("read", &json!({"path": "a.txt", "n": [1, 2]})));

            let (r, _) = say(&ep, r#"tools read {"path": "a"};; exec {"command": "ls"}"#);
            let calls: Vec<(String, Value)> =
                r.unwrap().tool_calls.into_iter().map(|c: ToolCall| (c.name, c.arguments)).collect();
            assert_eq!(
                calls,
                [("read".to_string(), json!({"path": "a"})), ("exec".to_string(), json!({"command": "ls"}))],
                "{api:?}"
            );

            // Misuse is loud: a 400 the client reports as a bad request.
            let (r, _) = say(&ep, "tool read {not json");
            assert!(matches!(r, Err(Error::BadRequest { status: 400, .. })), "{r:?}");
        }
    }

    #[test]
    fn status_failures_map_to_the_clients_errors() {
        let fake = FakeModel::start();
        for api in BOTH {
            let ep = endpoint(&fake, api);
            for status in [401, 403] {
                let (r, events) = say(&ep, &format!("fail {status}"));
                match r {
                    Err(Error::Unauthorized { status: s, message }) => {
                        assert_eq!(s, status);
                        assert!(message.contains(&format!("models.providers.{}.apiKey", ep.provider)), "{message}");
                    }
                    other => panic!("{api:?} fail {status}: {other:?}"),
                }
                assert!(events.is_empty());
            }
            let (r, _) = say(&ep, "fail 400");
            assert!(matches!(r, Err(Error::BadRequest { status: 400, .. })), "{api:?}: {r:?}");
            let (r, _) = say(&ep, "fail quota");
            assert!(matches!(r, Err(Error::Quota { .. })), "{api:?}: {r:?}");
        }
        // None of these is retried.
        assert_eq!(fake.count(), 8);
        // The error bodies have the providers' shapes.
        let seen = fake.requests();
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn a_required_key_is_checked() {
        let fake = FakeModel::start();
        fake.require_key(Some("right-key"));
        for api in BOTH {
            let mut ep = endpoint(&fake, api);
            let (r, _) = say(&ep, "hi");
            assert!(matches!(r, Err(Error::Unauthorized { status: 401, .. })), "{api:?}: {r:?}");
            ep.api_key = Some("right-key".into());
            assert_eq!(say(&ep, "hi").0.unwrap().text, "You said: hi");
        }
    }

    #[test]
    fn rate_limit_retry_after_then_success() {
        let fake = FakeModel::start();
        for api in BOTH {
            let ep = endpoint(&fake, api);
            let text = format!("fail 429 1 for {api:?}");
            let started = Instant::now();
            let (r, _) = say(&ep, &text);
            assert_eq!(r.unwrap().text, format!("You said: {text}"));
            assert!(started.elapsed() >= Duration::from_millis(950), "Retry-After honoured: {:?}", started.elapsed());
            let seen: Vec<_> = fake.requests().into_iter().filter(|s| s.body.to_string().contains(&text)).collect();
            assert_eq!(seen.len(), 2, "{api:?}: one 429, one success");
        }
        // Twice in a row, then success; with no retries left the client reports it.
        let ep = endpoint(&fake, Api::OpenAiCompletions);
        let tools = [exec_tool()];
        let messages = [Message::user("fail 429 0 2")];
        let req = Request { system: "", messages: &messages, tools: &tools, max_tokens: 0 };
        let no_retry = Limits { max_retries: 0, ..limits(5000) };
        for _ in 0..2 {
            let r = provider::stream(&ep, &req, &no_retry, &AtomicBool::new(false), &mut |_| {});
            match r {
                Err(Error::RateLimited { retry_after, .. }) => assert_eq!(retry_after, Some(Duration::ZERO)),
                other => panic!("{other:?}"),
            }
        }
        let r = provider::stream(&ep, &req, &no_retry, &AtomicBool::new(false), &mut |_| {});
        assert_eq!(r.unwrap().text, "You said: fail 429 0 2");
    }

    #[test]
    fn broken_streams_are_malformed() {
        let fake = FakeModel::start();
        for api in BOTH {
            let ep = endpoint(&fake, api);
            for text in ["malformed", "cut"] {
                let (r, events) = say(&ep, text);
                assert!(matches!(r, Err(Error::MalformedStream(_))), "{api:?} {text}: {r:?}");
                let texts: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::TextDelta(_))).collect();
                assert_eq!(texts, [&Event::TextDelta("partial reply".into())], "{api:?} {text}");
            }
        }
        // Nothing was retried once text had arrived.
        assert_eq!(fake.count(), 4);
    }

    #[test]
    fn slow_stream_and_abort() {
        let fake = FakeModel::start();
        for api in BOTH {
            let ep = endpoint(&fake, api);
            // A complete slow stream.
            let started = Instant::now();
            let (r, events) = say(&ep, "slow 4 50");
            assert_eq!(r.unwrap().text, "w1 w2 w3 w4");
            assert_eq!(events.iter().filter(|e| matches!(e, Event::TextDelta(_))).count(), 4);
            assert!(started.elapsed() >= Duration::from_millis(150));

            // Aborted part way.
            let abort = Arc::new(AtomicBool::new(false));
            let flag = abort.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(300));
                flag.store(true, Ordering::SeqCst);
            });
            let started = Instant::now();
            let (r, events) = call(&ep, &[Message::user("slow 100 50")], limits(20_000), &abort);
            assert_eq!(r, Err(Error::Aborted), "{api:?}");
            assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
            let words = events.iter().filter(|e| matches!(e, Event::TextDelta(_))).count();
            assert!((2..50).contains(&words), "{api:?}: {words} words before the abort");
        }
    }

    #[test]
    fn hang_times_out_and_big_arrives_whole() {
        let fake = FakeModel::start();
        for api in BOTH {
            let ep = endpoint(&fake, api);
            let started = Instant::now();
            let (r, _) = call(&ep, &[Message::user("hang")], limits(600), &AtomicBool::new(false));
            assert_eq!(r, Err(Error::Timeout), "{api:?}");
            assert!(started.elapsed() < Duration::from_secs(3));

            let (r, events) = say(&ep, "big 100000");
            let text = r.unwrap().text;
            assert_eq!(text.len(), 100_000);
            assert!(text.starts_with("abcdefghijklmnopqrstuvwxyz0123456789abc"));
            assert_eq!(
                events.iter().filter(|e| matches!(e, Event::TextDelta(_))).count(),
                100_000usize.div_ceil(16 << 10)
            );
        }
    }

    // The raw HTTP side: non-streaming JSON, /models, keep-alive, bad input.

    /// Sends `raw` on a new connection and reads until the server closes it.
    fn exchange(fake: &FakeModel, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", fake.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(raw).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn post(path: &str, body: &str, extra: &str) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn json_body(response: &str) -> Value {
        let (_, body) = response.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
    }

    #[test]
    fn non_streaming_json_models_keep_alive_and_bad_input() {
        let fake = FakeModel::start();
        let body = json!({"model": "m1", "messages": [{"role": "user", "content": "exec: ls -l"}]}).to_string();
        let r = exchange(&fake, post("/v1/chat/completions", &body, "Connection: close\r\n").as_bytes());
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        let v = json_body(&r);
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], "m1");
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "exec");
        assert_eq!(call["function"]["arguments"], r#"{"command":"ls -l"}"#);
        assert_eq!(v["usage"]["prompt_tokens"], body.len() / 4);

        let body = json!({"model": "m2", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "text", "text": "yo"}]}]});
        let r = exchange(&fake, post("/v1/messages", &body.to_string(), "Connection: close\r\n").as_bytes());
        let v = json_body(&r);
        assert_eq!((&v["type"], &v["stop_reason"]), (&json!("message"), &json!("end_turn")));
        assert_eq!(v["content"], json!([{"type": "text", "text": "You said: yo"}]));

        // Three requests on one connection, the last one closing it; a chunked body.
        let chat = json!({"messages": [{"role": "user", "content": "one"}]}).to_string();
        let chunked = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
            5,
            &chat[..5],
            chat.len() - 5,
            &chat[5..]
        );
        let raw = format!(
            "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n{chunked}{}",
            post(
                "/v1/chat/completions",
                &json!({"messages": [{"role": "user", "content": "two"}]}).to_string(),
                "Connection: close\r\n"
            )
        );
        let r = exchange(&fake, raw.as_bytes());
        assert_eq!(r.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{r}");
        assert!(r.contains(r#""object":"list""#) && r.contains(r#""id":"fake-model""#), "{r}");
        assert!(r.contains("You said: one") && r.contains("You said: two"), "{r}");

        // Bad input: 400s, never a panic; the server still answers afterwards.
        let r = exchange(&fake, post("/v1/chat/completions", "{not json", "Connection: close\r\n").as_bytes());
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        assert!(json_body(&r)["error"]["message"].as_str().unwrap().contains("not a JSON object"));
        let r = exchange(&fake, post("/v1/messages", r#"{"messages": []}"#, "Connection: close\r\n").as_bytes());
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        assert_eq!(json_body(&r)["type"], "error");
        let r = exchange(&fake, b"NONSENSE\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        let r = exchange(&fake, b"POST /v1/messages HTTP/1.1\r\nContent-Length: nope\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        let r = exchange(&fake, b"GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
        let r = exchange(&fake, &[&[0xff; 100][..], b"\r\n\r\n"].concat());
        assert!(r.is_empty() || r.starts_with("HTTP/1.1 400 "), "{r}");
        let ep = endpoint(&fake, Api::OpenAiCompletions);
        assert_eq!(say(&ep, "still here?").0.unwrap().text, "You said: still here?");
    }

    #[test]
    fn drop_stops_the_server() {
        let fake = FakeModel::start();
        let port = fake.port();
        // An idle keep-alive connection and a hanging request do not keep it alive.
        let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
        idle.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut hanging = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let body = json!({"stream": true, "messages": [{"role": "user", "content": "hang"}]}).to_string();
        hanging.write_all(post("/v1/chat/completions", &body, "").as_bytes()).unwrap();
        while fake.count() < 2 {
            thread::sleep(Duration::from_millis(10));
        }
        let started = Instant::now();
        drop(fake);
        assert!(started.elapsed() < Duration::from_secs(2));
        hanging.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = Vec::new();
        let _ = hanging.read_to_end(&mut out);
        assert!(out.is_empty(), "a hanging request gets nothing");
        assert!(started.elapsed() < Duration::from_secs(3), "closed on drop");
    }
}
