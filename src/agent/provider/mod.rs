//! Model providers: blocking, streaming clients for the wire APIs behind one call.
//!
//! [`stream`] sends a [`Request`] to an [`Endpoint`] (`openai-completions`:
//! `POST {base}/chat/completions`; `anthropic-messages`: `POST {base}/v1/messages`;
//! `openai-responses`: `POST {base}/responses`; the ChatGPT Codex backend:
//! `POST {base}/codex/responses`) with `stream: true`, parses the server-sent events
//! by hand (`sse.rs`), hands every piece to `on_event` as it arrives and returns the
//! assembled [`Reply`]. The wire formats live in `openai.rs`, `anthropic.rs` and
//! `responses.rs`; this file holds the common types, the HTTP attempt and the retry
//! loop.
//!
//! **Deadlines.** One deadline covers the whole call, retries included; no response
//! head and first body byte within `Limits::first_byte` is a timeout too. The HTTP
//! exchange runs on a short-lived thread whose socket reads are bounded by ureq's
//! timeouts (global = what is left of the deadline); the calling thread waits on a
//! channel in short steps, so an `abort` or the deadline ends the call promptly even
//! while the server is silent. `abort` is also checked between SSE events.
//!
//! **Retries** (exponential backoff, 500 ms × 2ⁿ capped at 8 s; `Retry-After` honoured
//! when it fits in the deadline) on 429, 5xx and connection errors, never on other
//! 4xx and never once any event has been handed to `on_event`.
//!
//! **Bounds.** One SSE event is at most 1 MiB, one reply at most 8 MiB of stream, an
//! error body is read up to 64 KiB; beyond, [`Error::MalformedStream`]. Error texts
//! never contain the API key: provider messages are redacted and truncated.

mod anthropic;
mod openai;
mod responses;
mod sse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io::Read;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

/// The largest single SSE event (its `data:` lines together).
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// The largest stream one reply may take.
pub const MAX_REPLY_BYTES: usize = 8 << 20;
/// How much of an error response body is read.
const MAX_ERROR_BODY: u64 = 64 << 10;
/// How long the waiting thread sleeps between checks of `abort` and the deadline.
const POLL: Duration = Duration::from_millis(25);
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// Provider messages quoted in errors are cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 500;

/// The wire API of a provider (`models.providers.<id>.api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    OpenAiCompletions,
    AnthropicMessages,
    OpenAiResponses,
    /// The Responses API of the ChatGPT Codex backend (OpenAI Codex OAuth).
    OpenAiCodexResponses,
}

impl Api {
    /// The config spelling: `"openai-completions"`, `"anthropic-messages"`,
    /// `"openai-responses"` or `"openai-codex-responses"`.
    pub fn parse(s: &str) -> Option<Api> {
        match s {
            "openai-completions" => Some(Api::OpenAiCompletions),
            "anthropic-messages" => Some(Api::AnthropicMessages),
            "openai-responses" => Some(Api::OpenAiResponses),
            "openai-codex-responses" => Some(Api::OpenAiCodexResponses),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenAiCompletions => "openai-completions",
            Api::AnthropicMessages => "anthropic-messages",
            Api::OpenAiResponses => "openai-responses",
            Api::OpenAiCodexResponses => "openai-codex-responses",
        }
    }
}

/// Where and how to call one model.
#[derive(Clone)]
pub struct Endpoint {
    /// The provider id from the config (`openai`, `anthropic`, `openrouter`, …); used
    /// in error messages (`models.providers.<id>.apiKey`, `<ID>_API_KEY`).
    pub provider: String,
    pub api: Api,
    /// E.g. `https://api.openai.com/v1`, `http://127.0.0.1:PORT/v1`,
    /// `https://api.anthropic.com` (a trailing `/v1` is accepted for Anthropic too).
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    /// Extra headers (`models.providers.<id>.headers`); they replace ours of the same name.
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.provider)
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("headers", &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

impl Endpoint {
    /// The environment variable upstream reads for this provider's key.
    pub fn key_env_var(&self) -> String {
        let id: String = self
            .provider
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
            .collect();
        format!("{id}_API_KEY")
    }

    fn key(&self) -> Option<&str> {
        self.api_key.as_deref().filter(|k| !k.is_empty())
    }

    fn url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        match self.api {
            Api::OpenAiCompletions => format!("{base}/chat/completions"),
            Api::AnthropicMessages if base.ends_with("/v1") => format!("{base}/messages"),
            Api::AnthropicMessages => format!("{base}/v1/messages"),
            Api::OpenAiResponses => format!("{base}/responses"),
            Api::OpenAiCodexResponses => format!("{base}/codex/responses"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: serde_json::Value,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub text: String,
    /// The calls an assistant turn made.
    pub tool_calls: Vec<ToolCall>,
    /// For [`Role::Tool`]: the call this is the result of.
    pub tool_call_id: Option<String>,
    /// For [`Role::Tool`]: the tool failed.
    pub is_error: bool,
}

impl Message {
    fn new(role: Role, text: impl Into<String>) -> Message {
        Message { role, text: text.into(), tool_calls: Vec::new(), tool_call_id: None, is_error: false }
    }
    pub fn system(text: impl Into<String>) -> Message {
        Message::new(Role::System, text)
    }
    pub fn user(text: impl Into<String>) -> Message {
        Message::new(Role::User, text)
    }
    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Message {
        Message { tool_calls, ..Message::new(Role::Assistant, text) }
    }
    pub fn tool_result(call_id: impl Into<String>, text: impl Into<String>, is_error: bool) -> Message {
        Message { tool_call_id: Some(call_id.into()), is_error, ..Message::new(Role::Tool, text) }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The system prompt; empty for none. `Role::System` messages are added to it
    /// (Anthropic) or sent in place (OpenAI).
    pub system: &'a str,
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
    /// 0: OpenAI omits the field, Anthropic (where it is required) sends 4096.
    pub max_tokens: u32,
}

/// A piece of the reply as it streams in.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    TextDelta(String),
    ToolCallStarted { id: String, name: String },
    /// A piece of the call's arguments JSON text.
    ToolCallArgsDelta { id: String, delta: String },
    /// Token counts so far (cumulative; the latest wins). Anthropic's input count
    /// includes cache reads and writes.
    Usage { input_tokens: u64, output_tokens: u64 },
}

/// The whole reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// As the provider says it: `stop`, `tool_calls`, `length` (OpenAI); `end_turn`,
    /// `tool_use`, `max_tokens` (Anthropic).
    pub stop_reason: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The whole call, retries and backoff included.
    pub deadline: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The longest wait for the response head and the first body byte of an attempt.
    pub first_byte: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { deadline: Duration::from_secs(600), max_retries: 3, first_byte: Duration::from_secs(120) }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// 401/403; `message` is complete and names the key setting.
    Unauthorized { status: u16, message: String },
    /// Out of credit or quota (429 `insufficient_quota`, 402, billing).
    Quota { message: String },
    RateLimited { retry_after: Option<Duration>, message: String },
    Server { status: u16, message: String },
    /// Other 4xx; status 0: the request could not be sent as built (bad baseUrl or header).
    BadRequest { status: u16, message: String },
    MalformedStream(String),
    Timeout,
    Aborted,
    Network(String),
}

impl Error {
    /// Worth another attempt at the same endpoint.
    pub fn retryable(&self) -> bool {
        matches!(self, Error::RateLimited { .. } | Error::Server { .. } | Error::Network(_))
    }

    /// Worth trying the next model of a fallback list.
    pub fn should_fall_back(&self) -> bool {
        matches!(self, Error::Server { .. } | Error::RateLimited { .. } | Error::Timeout | Error::Network(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unauthorized { message, .. } => f.write_str(message),
            Error::Quota { message } => write!(f, "the provider's quota or billing limit is reached: {message}"),
            Error::RateLimited { retry_after: Some(d), message } => {
                write!(f, "rate limited by the provider (retry after {} s): {message}", d.as_secs().max(1))
            }
            Error::RateLimited { retry_after: None, message } => write!(f, "rate limited by the provider: {message}"),
            Error::Server { status, message } => write!(f, "provider server error (HTTP {status}): {message}"),
            Error::BadRequest { status: 0, message } => write!(f, "cannot send the request to the provider: {message}"),
            Error::BadRequest { status, message } => {
                write!(f, "the provider rejected the request (HTTP {status}): {message}")
            }
            Error::MalformedStream(m) => write!(f, "malformed reply from the provider: {m}"),
            Error::Timeout => f.write_str("the model provider did not answer in time"),
            Error::Aborted => f.write_str("aborted"),
            Error::Network(m) => write!(f, "could not reach the model provider: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Streams one model call; see the module docs.
pub fn stream(
    ep: &Endpoint,
    req: &Request,
    limits: &Limits,
    abort: &AtomicBool,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Reply, Error> {
    let deadline = after(limits.deadline);
    let body = match ep.api {
        Api::OpenAiCompletions => openai::body(ep, req),
        Api::AnthropicMessages => anthropic::body(ep, req),
        Api::OpenAiResponses | Api::OpenAiCodexResponses => responses::body(ep, req),
    };
    let body = serde_json::to_vec(&body).map_err(|e| Error::BadRequest { status: 0, message: e.to_string() })?;
    let headers = headers(ep);
    let mut attempt = 0;
    loop {
        let mut delivered = false;
        let mut emit = |e: &Event| {
            delivered = true;
            on_event(e)
        };
        let err = match run_attempt(ep, &headers, &body, deadline, limits.first_byte, abort, &mut emit) {
            Ok(reply) => return Ok(reply),
            Err(e) => e,
        };
        if delivered || !err.retryable() || attempt >= limits.max_retries {
            return Err(err);
        }
        let wait = match &err {
            Error::RateLimited { retry_after: Some(d), .. } => *d,
            _ => BACKOFF_BASE.saturating_mul(1 << attempt.min(10)).min(BACKOFF_MAX),
        };
        if Instant::now() + wait >= deadline {
            return Err(err);
        }
        attempt += 1;
        log::warn!("{} {}: {err}; retry {attempt} in {} ms", ep.provider, ep.model, wait.as_millis());
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if abort.load(Ordering::Relaxed) {
                return Err(Error::Aborted);
            }
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
    }
}

/// Our headers, then the configured ones replacing ours by name.
fn headers(ep: &Endpoint) -> Vec<(String, String)> {
    let mut h = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), "text/event-stream".to_string()),
    ];
    match (ep.api, ep.key()) {
        (Api::OpenAiCompletions | Api::OpenAiResponses | Api::OpenAiCodexResponses, Some(k)) => {
            h.push(("authorization".into(), format!("Bearer {k}")))
        }
        (Api::AnthropicMessages, key) => {
            h.push(("anthropic-version".into(), "2023-06-01".into()));
            if let Some(k) = key {
                h.push(("x-api-key".into(), k.into()));
            }
        }
        _ => {}
    }
    for (k, v) in &ep.headers {
        h.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
        h.push((k.clone(), v.clone()));
    }
    h
}

/// What the HTTP thread reports.
enum Msg {
    /// A non-2xx answer, its `Retry-After` and (the start of) its body.
    Status { status: u16, retry_after: Option<Duration>, body: String },
    /// A 2xx answer that is JSON or HTML, not an event stream.
    NotStream { content_type: String, body: String },
    Chunk(Vec<u8>),
    End,
    Fail(Error),
}

/// The stream decoder of either API.
enum Decoder {
    OpenAi(openai::Decoder),
    Anthropic(anthropic::Decoder),
    Responses(responses::Decoder),
}

impl Decoder {
    /// True once the stream says it is complete.
    fn event(&mut self, ep: &Endpoint, ev: &sse::Event, emit: &mut dyn FnMut(&Event)) -> Result<bool, Error> {
        match self {
            Decoder::OpenAi(d) => d.event(ep, ev, emit),
            Decoder::Anthropic(d) => d.event(ep, ev, emit),
            Decoder::Responses(d) => d.event(ep, ev, emit),
        }
    }

    fn finish(self) -> Result<Reply, Error> {
        match self {
            Decoder::OpenAi(d) => d.finish(),
            Decoder::Anthropic(d) => d.finish(),
            Decoder::Responses(d) => d.finish(),
        }
    }
}

fn run_attempt(
    ep: &Endpoint,
    headers: &[(String, String)],
    body: &[u8],
    deadline: Instant,
    first_byte: Duration,
    abort: &AtomicBool,
    emit: &mut dyn FnMut(&Event),
) -> Result<Reply, Error> {
    if abort.load(Ordering::Relaxed) {
        return Err(Error::Aborted);
    }
    let first_deadline = deadline.min(after(first_byte));
    let rx = spawn_http(ep.url(), headers.to_vec(), body.to_vec(), deadline, first_byte)?;
    let mut decoder = match ep.api {
        Api::OpenAiCompletions => Decoder::OpenAi(openai::Decoder::default()),
        Api::AnthropicMessages => Decoder::Anthropic(anthropic::Decoder::default()),
        Api::OpenAiResponses | Api::OpenAiCodexResponses => Decoder::Responses(responses::Decoder::default()),
    };
    let mut parser = sse::Parser::default();
    let mut events = Vec::new();
    let mut total = 0;
    loop {
        let until = if total == 0 { first_deadline } else { deadline };
        let ended = match recv(&rx, until, abort)? {
            Msg::Status { status, retry_after, body } => {
                return Err(classify(ep, status, retry_after, &parse_error_body(&body)));
            }
            Msg::NotStream { content_type, body } => {
                return Err(match serde_json::from_str::<serde_json::Value>(&body) {
                    Ok(v) if v["error"].is_object() => stream_error(ep, &v),
                    _ => Error::MalformedStream(format!("expected an event stream, got {content_type} (is baseUrl right?)")),
                });
            }
            Msg::Fail(e) => return Err(e),
            Msg::Chunk(bytes) => {
                total += bytes.len();
                if total > MAX_REPLY_BYTES {
                    return Err(Error::MalformedStream(format!("the reply exceeds {} MiB", MAX_REPLY_BYTES >> 20)));
                }
                parser.feed(&bytes, &mut events)?;
                false
            }
            Msg::End => {
                parser.finish(&mut events)?;
                true
            }
        };
        for ev in events.drain(..) {
            if decoder.event(ep, &ev, emit)? {
                return decoder.finish();
            }
            if abort.load(Ordering::Relaxed) {
                return Err(Error::Aborted);
            }
        }
        if ended {
            return decoder.finish();
        }
    }
}

/// Now plus `d`, saturating at a year.
fn after(d: Duration) -> Instant {
    Instant::now() + d.min(Duration::from_secs(365 * 86400))
}

/// Waits for the HTTP thread, checking `abort` and the deadline every [`POLL`].
fn recv(rx: &Receiver<Msg>, until: Instant, abort: &AtomicBool) -> Result<Msg, Error> {
    loop {
        if abort.load(Ordering::Relaxed) {
            return Err(Error::Aborted);
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout);
        }
        match rx.recv_timeout(left.min(POLL)) {
            Ok(m) => return Ok(m),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err(Error::Network("the connection thread ended".into())),
        }
    }
}

/// The shared client (one connection pool for all providers); per-request timeouts.
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        let config = crate::http_config().build();
        ureq::Agent::new_with_config(config)
    })
}

/// Runs the exchange on its own thread. The thread ends when the body ends, the
/// receiver is gone (at its next chunk), or ureq's global timeout (the rest of the
/// deadline) fires.
fn spawn_http(
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    deadline: Instant,
    first_byte: Duration,
) -> Result<Receiver<Msg>, Error> {
    let (tx, rx) = mpsc::sync_channel(8);
    std::thread::Builder::new()
        .name("provider-http".into())
        .spawn(move || http_exchange(&url, &headers, &body, deadline, first_byte, &tx))
        .map_err(|e| Error::Network(format!("cannot start a thread: {e}")))?;
    Ok(rx)
}

fn http_exchange(
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    deadline: Instant,
    first_byte: Duration,
    tx: &SyncSender<Msg>,
) {
    let left = deadline.saturating_duration_since(Instant::now());
    let mut rb = agent().post(url);
    for (k, v) in headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    let rb = rb.config().timeout_global(Some(left)).timeout_recv_response(Some(first_byte.min(left))).build();
    let response = match rb.send(body) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Msg::Fail(transport_error(e, false)));
            return;
        }
    };
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let not_stream = ["application/json", "text/html"].iter().any(|t| content_type.starts_with(t));
    let content_type = content_type.to_string();
    let mut reader = response.into_body().into_reader();
    if !(200..300).contains(&status) || not_stream {
        let mut buf = Vec::new();
        let _ = reader.by_ref().take(MAX_ERROR_BODY).read_to_end(&mut buf);
        let body = String::from_utf8_lossy(&buf).into_owned();
        let _ = tx.send(match (200..300).contains(&status) {
            true => Msg::NotStream { content_type, body },
            false => Msg::Status { status, retry_after, body },
        });
        return;
    }
    loop {
        let mut buf = vec![0; 16 << 10];
        let msg = match reader.read(&mut buf) {
            Ok(0) => Msg::End,
            Ok(n) => {
                buf.truncate(n);
                Msg::Chunk(buf)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => Msg::Fail(transport_error(ureq::Error::from(e), true)),
        };
        let last = !matches!(msg, Msg::Chunk(_));
        if tx.send(msg).is_err() || last {
            return;
        }
    }
}

fn transport_error(e: ureq::Error, in_body: bool) -> Error {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Timeout(_) => Error::Timeout,
        ureq::Error::Io(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => Error::Timeout,
        ureq::Error::Io(e) if in_body && e.kind() == ErrorKind::UnexpectedEof => {
            Error::MalformedStream("the connection closed before the reply was complete".into())
        }
        e @ (ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::RequireHttpsOnly(_)) => {
            Error::BadRequest { status: 0, message: e.to_string() }
        }
        ureq::Error::Io(e) => Error::Network(e.to_string()),
        ureq::Error::HostNotFound => Error::Network("host not found".into()),
        ureq::Error::ConnectionFailed => Error::Network("connection failed".into()),
        e => Error::Network(e.to_string()),
    }
}

/// `retry-after-ms` (OpenAI) or `retry-after` in seconds; HTTP dates are ignored.
fn retry_after(h: &ureq::http::HeaderMap) -> Option<Duration> {
    let num = |name: &str| h.get(name)?.to_str().ok()?.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0);
    if let Some(ms) = num("retry-after-ms") {
        return Some(Duration::from_secs_f64(ms.min(1e9) / 1000.0));
    }
    num("retry-after").map(|s| Duration::from_secs_f64(s.min(1e6)))
}

/// A tool call's complete arguments text as JSON (empty: `{}`).
fn parse_arguments(name: &str, text: &str) -> Result<serde_json::Value, Error> {
    if text.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_str(text)
        .map_err(|e| Error::MalformedStream(format!("the model sent malformed arguments for tool `{name}`: {e}")))
}

/// The parts of an error body: OpenAI `{error:{message,type,code}}`, Anthropic
/// `{type:"error", error:{type,message}}`, or the text itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiError {
    pub message: String,
    pub kind: String,
    pub code: String,
}

pub fn parse_error_body(body: &str) -> ApiError {
    let str_of = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) if v["error"].is_object() => {
            let e = &v["error"];
            ApiError { message: str_of(&e["message"]), kind: str_of(&e["type"]), code: str_of(&e["code"]) }
        }
        Ok(v) if v["error"].is_string() => ApiError { message: str_of(&v["error"]), ..ApiError::default() },
        Ok(v) if v["message"].is_string() => ApiError { message: str_of(&v["message"]), ..ApiError::default() },
        // The ChatGPT backend: {"detail": "…"}.
        Ok(v) if v["detail"].is_string() => ApiError { message: str_of(&v["detail"]), ..ApiError::default() },
        _ => ApiError { message: body.trim().to_string(), ..ApiError::default() },
    }
}

/// The HTTP status an error `type` stands for (Anthropic's and OpenAI's names), for
/// errors that arrive inside a stream.
fn status_of_kind(kind: &str) -> u16 {
    match kind {
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" | "insufficient_quota" => 429,
        "invalid_request_error" => 400,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// An error reported inside a stream (`error` event, OpenAI `{error:{…}}` chunk).
fn stream_error(ep: &Endpoint, v: &serde_json::Value) -> Error {
    let e = parse_error_body(&v.to_string());
    classify(ep, status_of_kind(&e.kind), None, &e)
}

/// A failed response as an [`Error`].
fn classify(ep: &Endpoint, status: u16, retry_after: Option<Duration>, e: &ApiError) -> Error {
    let mut message = if e.message.is_empty() { format!("HTTP {status}") } else { e.message.clone() };
    if let Some(key) = ep.key() {
        message = message.replace(key, "<redacted>");
    }
    if let Some((i, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(i);
        message.push('…');
    }
    let lower = message.to_ascii_lowercase();
    let quota = status == 402
        || e.kind == "insufficient_quota"
        || e.code == "insufficient_quota"
        || (status < 500 && (lower.contains("credit balance") || lower.contains("billing")));
    let (id, var) = (&ep.provider, ep.key_env_var());
    match status {
        401 | 403 if ep.api == Api::OpenAiCodexResponses => Error::Unauthorized {
            status,
            message: format!(
                "the ChatGPT Codex backend refused the sign-in (HTTP {status}: {message}); sign in again with `openclaw onboard --auth-choice openai-codex`"
            ),
        },
        401 | 403 if ep.key().is_none() => Error::Unauthorized {
            status,
            message: format!(
                "no API key for provider {id} (HTTP {status}: {message}); set models.providers.{id}.apiKey or the {var} environment variable"
            ),
        },
        401 | 403 => Error::Unauthorized {
            status,
            message: format!(
                "provider {id} rejected the API key (HTTP {status}: {message}); check models.providers.{id}.apiKey or the {var} environment variable"
            ),
        },
        _ if quota => Error::Quota { message },
        429 => Error::RateLimited { retry_after, message },
        500.. => Error::Server { status, message },
        _ => Error::BadRequest { status, message },
    }
}
