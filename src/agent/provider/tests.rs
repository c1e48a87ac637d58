//! End-to-end tests against a scripted local HTTP server that speaks the real formats.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

const KEY: &str = "sk-test-SECRET-123";

/// One scripted response.
struct Script {
    status: u16,
    headers: Vec<(&'static str, String)>,
    /// Body parts, each written after a delay (ms).
    parts: Vec<(u64, String)>,
    chunked: bool,
    /// Close the connection without the chunked terminator.
    cut: bool,
    /// Read the request and never answer.
    hang: bool,
}

impl Script {
    fn sse(parts: Vec<String>) -> Script {
        Script::sse_paced(parts.into_iter().map(|p| (0, p)).collect())
    }
    fn sse_paced(parts: Vec<(u64, String)>) -> Script {
        let headers = vec![("Content-Type", "text/event-stream".to_string())];
        Script { status: 200, headers, parts, chunked: true, cut: false, hang: false }
    }
    fn json(status: u16, body: Value) -> Script {
        let headers = vec![("Content-Type", "application/json".to_string())];
        Script { status, headers, parts: vec![(0, body.to_string())], chunked: false, cut: false, hang: false }
    }
    fn hang() -> Script {
        Script { hang: true, ..Script::sse(vec![]) }
    }
    fn header(mut self, k: &'static str, v: &str) -> Script {
        self.headers.push((k, v.to_string()));
        self
    }
}

/// A request as the server saw it.
#[derive(Debug)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Answers one connection per script, in order, on its own thread.
    fn start(scripts: Vec<Script>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        thread::spawn(move || {
            for script in scripts {
                let Ok((mut conn, _)) = listener.accept() else { return };
                let Some(req) = read_request(&mut conn) else { return };
                log.lock().unwrap().push(req);
                respond(conn, script);
            }
        });
        Server { base, seen }
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn first(&self) -> Seen {
        self.seen.lock().unwrap().remove(0)
    }
}

fn read_request(conn: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).ok()?;
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    conn.read_exact(&mut body).ok()?;
    Some(Seen { path, headers, body: serde_json::from_slice(&body).unwrap_or(Value::Null) })
}

fn respond(mut conn: TcpStream, s: Script) {
    if s.hang {
        thread::sleep(Duration::from_secs(10));
        return;
    }
    let mut head = format!("HTTP/1.1 {} Scripted\r\nConnection: close\r\n", s.status);
    for (k, v) in &s.headers {
        head += &format!("{k}: {v}\r\n");
    }
    if s.chunked {
        head += "Transfer-Encoding: chunked\r\n\r\n";
    } else {
        let len: usize = s.parts.iter().map(|(_, p)| p.len()).sum();
        head += &format!("Content-Length: {len}\r\n\r\n");
    }
    let _ = conn.write_all(head.as_bytes());
    for (delay, part) in &s.parts {
        thread::sleep(Duration::from_millis(*delay));
        let out = if s.chunked { format!("{:x}\r\n{part}\r\n", part.len()) } else { part.clone() };
        if conn.write_all(out.as_bytes()).and_then(|_| conn.flush()).is_err() {
            return;
        }
    }
    if s.chunked && !s.cut {
        let _ = conn.write_all(b"0\r\n\r\n");
    }
}

fn oa(v: Value) -> String {
    format!("data: {v}\n\n")
}

fn an(v: Value) -> String {
    format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap())
}

fn text_chunk(t: &str) -> String {
    oa(json!({"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]}))
}

fn openai(server: &Server) -> Endpoint {
    Endpoint {
        provider: "openai".into(),
        api: Api::OpenAiCompletions,
        base_url: format!("{}/v1", server.base),
        api_key: Some(KEY.into()),
        model: "gpt-test".into(),
        headers: vec![],
    }
}

fn anthropic(server: &Server) -> Endpoint {
    Endpoint { provider: "anthropic".into(), api: Api::AnthropicMessages, base_url: server.base.clone(), ..openai(server) }
}

fn limits(deadline_ms: u64) -> Limits {
    let deadline = Duration::from_millis(deadline_ms);
    Limits { deadline, max_retries: 3, first_byte: deadline }
}

fn hello() -> Vec<Message> {
    vec![Message::user("hi")]
}

fn call_with(ep: &Endpoint, limits: Limits, abort: &AtomicBool) -> (Result<Reply, Error>, Vec<Event>) {
    let messages = hello();
    let req = Request { system: "be brief", messages: &messages, tools: &[], max_tokens: 100 };
    let mut events = Vec::new();
    let r = stream(ep, &req, &limits, abort, &mut |e| events.push(e.clone()));
    (r, events)
}

fn call(ep: &Endpoint) -> (Result<Reply, Error>, Vec<Event>) {
    call_with(ep, limits(2000), &AtomicBool::new(false))
}

fn read_tool() -> ToolSpec {
    ToolSpec {
        name: "read".into(),
        description: "Read a file".into(),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
    }
}

fn conversation() -> Vec<Message> {
    let calls = vec![
        ToolCall { id: "call_1".into(), name: "read".into(), arguments: json!({"path": "a.txt"}) },
        ToolCall { id: "call_2".into(), name: "read".into(), arguments: json!({"path": "b.txt"}) },
    ];
    vec![
        Message::user("read a and b"),
        Message::assistant("Reading.", calls),
        Message::tool_result("call_1", "A", false),
        Message::tool_result("call_2", "no such file", true),
    ]
}

#[test]
fn openai_text_stream_with_usage() {
    let server = Server::start(vec![Script::sse(vec![
        ": keep-alive\n\n".into(),
        oa(json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})),
        text_chunk("Hel"),
        text_chunk("lo"),
        oa(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
        oa(json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}})),
        "data: [DONE]\n\n".into(),
    ])]);
    let (r, events) = call(&openai(&server));
    let r = r.unwrap();
    assert_eq!((r.text.as_str(), r.stop_reason.as_str(), r.input_tokens, r.output_tokens), ("Hello", "stop", 12, 2));
    assert!(r.tool_calls.is_empty());
    assert_eq!(
        events,
        [
            Event::TextDelta("Hel".into()),
            Event::TextDelta("lo".into()),
            Event::Usage { input_tokens: 12, output_tokens: 2 }
        ]
    );
    let seen = server.first();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.body["model"], "gpt-test");
    assert_eq!(seen.body["stream"], true);
    assert_eq!(seen.body["stream_options"], json!({"include_usage": true}));
    assert_eq!(seen.body["max_tokens"], 100);
    assert_eq!(
        seen.body["messages"],
        json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    );
    assert!(seen.body.get("tools").is_none());
}

#[test]
fn openai_tool_call_split_across_chunks() {
    let tc = |v: Value| oa(json!({"choices": [{"index": 0, "delta": {"tool_calls": [v]}, "finish_reason": null}]}));
    let server = Server::start(vec![Script::sse(vec![
        tc(json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": "read", "arguments": ""}})),
        tc(json!({"index": 0, "function": {"arguments": "{\"path\": "}})),
        tc(json!({"index": 0, "function": {"arguments": "\"a.txt\"}"}})),
        tc(json!({"index": 1, "id": "call_2", "type": "function", "function": {"name": "ls", "arguments": "{}"}})),
        oa(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})),
        "data: [DONE]\n\n".into(),
    ])]);
    let (r, events) = call(&openai(&server));
    let r = r.unwrap();
    assert_eq!(r.stop_reason, "tool_calls");
    assert_eq!(
        r.tool_calls,
        [
            ToolCall { id: "call_1".into(), name: "read".into(), arguments: json!({"path": "a.txt"}) },
            ToolCall { id: "call_2".into(), name: "ls".into(), arguments: json!({}) },
        ]
    );
    let delta = |id: &str, d: &str| Event::ToolCallArgsDelta { id: id.into(), delta: d.into() };
    assert_eq!(
        events,
        [
            Event::ToolCallStarted { id: "call_1".into(), name: "read".into() },
            delta("call_1", "{\"path\": "),
            delta("call_1", "\"a.txt\"}"),
            Event::ToolCallStarted { id: "call_2".into(), name: "ls".into() },
            delta("call_2", "{}"),
        ]
    );
}

#[test]
fn openai_request_body_for_tools_and_results() {
    let server = Server::start(vec![Script::sse(vec![text_chunk("ok"), "data: [DONE]\n\n".into()])]);
    let messages = conversation();
    let tools = [read_tool()];
    let req = Request { system: "sys", messages: &messages, tools: &tools, max_tokens: 0 };
    let r = stream(&openai(&server), &req, &limits(2000), &AtomicBool::new(false), &mut |_| {});
    assert_eq!(r.unwrap().text, "ok");
    let body = server.first().body;
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "read a and b"},
            {"role": "assistant", "content": "Reading.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a.txt\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"b.txt\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "A"},
            {"role": "tool", "tool_call_id": "call_2", "content": "no such file"},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {"name": "read", "description": "Read a file",
            "parameters": read_tool().parameters}}])
    );
    assert!(body.get("max_tokens").is_none() && body.get("max_completion_tokens").is_none());
}

#[test]
fn anthropic_text_and_tool_use() {
    let server = Server::start(vec![Script::sse(vec![
        an(json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "content": [], "model": "claude-test", "stop_reason": null,
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}}})),
        an(json!({"type": "ping"})),
        an(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})),
        an(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}})),
        an(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "read."}})),
        an(json!({"type": "content_block_stop", "index": 0})),
        an(json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {}}})),
        an(json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}})),
        an(json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"pa"}})),
        an(json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "th\": \"a.txt\"}"}})),
        an(json!({"type": "content_block_stop", "index": 1})),
        an(json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 30}})),
        an(json!({"type": "message_stop"})),
    ])]);
    let (r, events) = call(&anthropic(&server));
    let r = r.unwrap();
    assert_eq!((r.text.as_str(), r.stop_reason.as_str(), r.input_tokens, r.output_tokens), ("Let me read.", "tool_use", 15, 30));
    assert_eq!(r.tool_calls, [ToolCall { id: "toolu_1".into(), name: "read".into(), arguments: json!({"path": "a.txt"}) }]);
    let delta = |d: &str| Event::ToolCallArgsDelta { id: "toolu_1".into(), delta: d.into() };
    assert_eq!(
        events,
        [
            Event::Usage { input_tokens: 15, output_tokens: 1 },
            Event::TextDelta("Let me ".into()),
            Event::TextDelta("read.".into()),
            Event::ToolCallStarted { id: "toolu_1".into(), name: "read".into() },
            delta("{\"pa"),
            delta("th\": \"a.txt\"}"),
            Event::Usage { input_tokens: 15, output_tokens: 30 },
        ]
    );
    let seen = server.first();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.body["system"], "be brief");
    assert_eq!(seen.body["stream"], true);
    assert_eq!(seen.body["max_tokens"], 100);
}

#[test]
fn anthropic_request_body_for_tools_and_results() {
    let server = Server::start(vec![Script::sse(vec![an(json!({"type": "message_stop"}))])]);
    let mut messages = conversation();
    messages.insert(0, Message::system("extra"));
    let tools = [read_tool()];
    let req = Request { system: "sys", messages: &messages, tools: &tools, max_tokens: 0 };
    let mut ep = anthropic(&server);
    ep.base_url += "/v1/"; // a trailing /v1 is accepted
    ep.headers = vec![("X-Api-Key".into(), "from-headers".into()), ("X-Extra".into(), "1".into())];
    stream(&ep, &req, &limits(2000), &AtomicBool::new(false), &mut |_| {}).unwrap();
    let seen = server.first();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!((seen.header("x-api-key"), seen.header("x-extra")), (Some("from-headers"), Some("1")));
    let body = seen.body;
    assert_eq!(body["system"], "sys\n\nextra");
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "read a and b"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "call_1", "name": "read", "input": {"path": "a.txt"}},
                {"type": "tool_use", "id": "call_2", "name": "read", "input": {"path": "b.txt"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "A"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "no such file", "is_error": true},
            ]},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"name": "read", "description": "Read a file", "input_schema": read_tool().parameters}])
    );
}

#[test]
fn unauthorized_names_the_key_setting_and_hides_the_key() {
    let body = json!({"error": {"message": format!("Incorrect API key provided: {KEY}."),
        "type": "invalid_request_error", "code": "invalid_api_key"}});
    let server = Server::start(vec![Script::json(401, body)]);
    let err = call(&openai(&server)).0.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { status: 401, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("models.providers.openai.apiKey") && text.contains("OPENAI_API_KEY"), "{text}");
    assert!(text.contains("Incorrect API key provided"), "{text}");
    assert!(!text.contains(KEY) && !format!("{err:?}").contains(KEY), "{text}");
    assert!(!err.retryable() && !err.should_fall_back());
    assert_eq!(server.requests(), 1);

    let anth = Server::start(vec![Script::json(
        401,
        json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
    )]);
    let text = call(&anthropic(&anth)).0.unwrap_err().to_string();
    assert!(text.contains("models.providers.anthropic.apiKey") && text.contains("ANTHROPIC_API_KEY"), "{text}");
}

#[test]
fn rate_limit_honours_retry_after_then_succeeds() {
    let limited = json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}});
    let server = Server::start(vec![
        Script::json(429, limited).header("Retry-After", "1"),
        Script::sse(vec![text_chunk("ok"), "data: [DONE]\n\n".into()]),
    ]);
    let start = Instant::now();
    let (r, _) = call_with(&openai(&server), limits(4000), &AtomicBool::new(false));
    assert_eq!(r.unwrap().text, "ok");
    assert!(start.elapsed() >= Duration::from_millis(950), "{:?}", start.elapsed());
    assert_eq!(server.requests(), 2);
}

#[test]
fn insufficient_quota_is_not_retried() {
    let body = json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}});
    let server = Server::start(vec![Script::json(429, body), Script::json(429, json!({}))]);
    let err = call(&openai(&server)).0.unwrap_err();
    assert!(matches!(err, Error::Quota { .. }), "{err:?}");
    assert!(err.to_string().contains("exceeded your current quota"));
    assert_eq!(server.requests(), 1);
}

#[test]
fn bad_request_is_not_retried() {
    let body = json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}});
    let server = Server::start(vec![Script::json(400, body), Script::json(400, json!({}))]);
    let err = call(&anthropic(&server)).0.unwrap_err();
    assert_eq!(err, Error::BadRequest { status: 400, message: "max_tokens: too large".into() });
    assert!(!err.should_fall_back());
    assert_eq!(server.requests(), 1);
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let oops = || Script::json(500, json!({"error": {"message": "The server had an error", "type": "server_error"}}));
    let server = Server::start(vec![oops(), oops(), Script::sse(vec![text_chunk("ok"), "data: [DONE]\n\n".into()])]);
    let start = Instant::now();
    let (r, _) = call_with(&openai(&server), limits(5000), &AtomicBool::new(false));
    assert_eq!(r.unwrap().text, "ok");
    assert!(start.elapsed() >= Duration::from_millis(1450), "backoff 500 + 1000 ms: {:?}", start.elapsed());
    assert_eq!(server.requests(), 3);
}

#[test]
fn retries_stop_at_max_retries() {
    let oops = || Script::json(503, json!({"error": {"message": "busy"}}));
    let server = Server::start(vec![oops(), oops()]);
    let once = Limits { max_retries: 1, ..limits(3000) };
    let err = call_with(&openai(&server), once, &AtomicBool::new(false)).0.unwrap_err();
    assert_eq!(err, Error::Server { status: 503, message: "busy".into() });
    assert!(err.retryable() && err.should_fall_back());
    assert_eq!(server.requests(), 2);
}

#[test]
fn malformed_chunk_json_is_malformed_stream() {
    let server = Server::start(vec![Script::sse(vec![text_chunk("a"), "data: {\"choices\": [\n\n".into()])]);
    let err = call(&openai(&server)).0.unwrap_err();
    assert!(matches!(&err, Error::MalformedStream(m) if m.contains("not valid JSON")), "{err:?}");
}

#[test]
fn malformed_tool_arguments_name_the_tool() {
    let server = Server::start(vec![Script::sse(vec![
        oa(json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "type": "function",
            "function": {"name": "write", "arguments": "{\"path\": \"a"}}]}}]})),
        oa(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})),
        "data: [DONE]\n\n".into(),
    ])]);
    let err = call(&openai(&server)).0.unwrap_err();
    assert!(matches!(&err, Error::MalformedStream(m) if m.contains("`write`")), "{err:?}");
}

#[test]
fn stream_cut_before_the_end_is_malformed() {
    // A clean end of the body without [DONE] or a finish_reason.
    let clean = Server::start(vec![Script::sse(vec![text_chunk("Hel")])]);
    let (r, events) = call(&openai(&clean));
    assert!(matches!(r, Err(Error::MalformedStream(_))), "{r:?}");
    assert_eq!(events.len(), 1);
    assert_eq!(clean.requests(), 1, "never retried once text was delivered");
    // The connection dropped in the middle of the chunked body.
    let cut = Server::start(vec![Script { cut: true, ..Script::sse(vec![text_chunk("Hel")]) }]);
    let r = call(&openai(&cut)).0;
    assert!(matches!(r, Err(Error::MalformedStream(_))), "{r:?}");
    // Anthropic without message_stop.
    let anth = Server::start(vec![Script::sse(vec![an(json!({"type": "ping"}))])]);
    let r = call(&anthropic(&anth)).0;
    assert!(matches!(r, Err(Error::MalformedStream(_))), "{r:?}");
    // A finish_reason without [DONE] is a complete reply.
    let finished = Server::start(vec![Script::sse(vec![
        text_chunk("Hi"),
        oa(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})),
    ])]);
    let r = call(&openai(&finished)).0.unwrap();
    assert_eq!((r.text.as_str(), r.stop_reason.as_str()), ("Hi", "length"));
}

#[test]
fn silent_server_times_out_within_the_deadline() {
    let server = Server::start(vec![Script::hang()]);
    let start = Instant::now();
    let short = Limits { first_byte: Duration::from_secs(30), ..limits(1000) };
    let err = call_with(&openai(&server), short, &AtomicBool::new(false)).0.unwrap_err();
    let took = start.elapsed();
    assert_eq!(err, Error::Timeout);
    assert!(took >= Duration::from_millis(950) && took < Duration::from_millis(1500), "{took:?}");
    assert!(err.should_fall_back() && !err.retryable());

    // first_byte is shorter than the deadline: it decides.
    let server = Server::start(vec![Script::hang(), Script::hang()]);
    let start = Instant::now();
    let quick = Limits { first_byte: Duration::from_millis(300), ..limits(3000) };
    let err = call_with(&openai(&server), quick, &AtomicBool::new(false)).0.unwrap_err();
    assert_eq!(err, Error::Timeout);
    assert!(start.elapsed() < Duration::from_millis(800), "{:?}", start.elapsed());
}

#[test]
fn abort_ends_the_call_promptly() {
    let set_after = |abort: &Arc<AtomicBool>, ms: u64| {
        let abort = abort.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(ms));
            abort.store(true, Ordering::Relaxed);
        });
    };
    // Mid-stream: a chunk every 50 ms for 3 s.
    let parts = (0..60).map(|_| (50, text_chunk("x"))).collect();
    let server = Server::start(vec![Script::sse_paced(parts)]);
    let abort = Arc::new(AtomicBool::new(false));
    set_after(&abort, 300);
    let start = Instant::now();
    let (r, events) = call_with(&openai(&server), limits(5000), &abort);
    assert_eq!(r, Err(Error::Aborted));
    assert!(!events.is_empty());
    assert!(start.elapsed() < Duration::from_millis(500), "{:?}", start.elapsed());
    // While the server is silent.
    let server = Server::start(vec![Script::hang()]);
    let abort = Arc::new(AtomicBool::new(false));
    set_after(&abort, 200);
    let start = Instant::now();
    let (r, _) = call_with(&openai(&server), limits(5000), &abort);
    assert_eq!(r, Err(Error::Aborted));
    assert!(start.elapsed() < Duration::from_millis(400), "{:?}", start.elapsed());
}

#[test]
fn anthropic_error_event_mid_stream() {
    let server = Server::start(vec![
        Script::sse(vec![
            an(json!({"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}})),
            an(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})),
            an(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}})),
            an(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        ]),
        Script::sse(vec![an(json!({"type": "message_stop"}))]),
    ]);
    let err = call(&anthropic(&server)).0.unwrap_err();
    assert_eq!(err, Error::Server { status: 529, message: "Overloaded".into() });
    assert_eq!(server.requests(), 1, "not retried after events were delivered");
}

#[test]
fn error_event_before_any_output_is_retried() {
    let server = Server::start(vec![
        Script::sse(vec![an(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))]),
        Script::sse(vec![
            an(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "ok"}})),
            an(json!({"type": "message_stop"})),
        ]),
    ]);
    let r = call(&anthropic(&server)).0.unwrap();
    assert_eq!((r.text.as_str(), r.stop_reason.as_str()), ("ok", "end_turn"));
    assert_eq!(server.requests(), 2);
}

#[test]
fn connection_refused_is_a_network_error() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ep = Endpoint { base_url: format!("http://127.0.0.1:{port}/v1"), ..openai(&Server::start(vec![])) };
    let no_retry = Limits { max_retries: 0, ..limits(2000) };
    let err = call_with(&ep, no_retry, &AtomicBool::new(false)).0.unwrap_err();
    assert!(matches!(err, Error::Network(_)), "{err:?}");
}

#[test]
fn error_bodies_and_classification() {
    let e = parse_error_body(r#"{"error":{"message":"m","type":"t","code":"c"}}"#);
    assert_eq!(e, ApiError { message: "m".into(), kind: "t".into(), code: "c".into() });
    let e = parse_error_body(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
    assert_eq!((e.kind.as_str(), e.message.as_str()), ("overloaded_error", "Overloaded"));
    assert_eq!(parse_error_body(" Bad Gateway \n").message, "Bad Gateway");
    assert_eq!(parse_error_body(r#"{"error":"plain"}"#).message, "plain");

    let server = Server::start(vec![]);
    let ep = anthropic(&server);
    let credit = ApiError { message: "Your credit balance is too low".into(), kind: "invalid_request_error".into(), ..ApiError::default() };
    assert!(matches!(classify(&ep, 400, None, &credit), Error::Quota { .. }));
    assert!(matches!(classify(&ep, 402, None, &ApiError::default()), Error::Quota { .. }));
    assert_eq!(classify(&ep, 502, None, &ApiError::default()), Error::Server { status: 502, message: "HTTP 502".into() });
    let long = ApiError { message: "x".repeat(2000), ..ApiError::default() };
    assert!(classify(&ep, 400, None, &long).to_string().len() < 700);
    let no_key = Endpoint { api_key: None, provider: "my-llm".into(), ..ep.clone() };
    let text = classify(&no_key, 401, None, &ApiError::default()).to_string();
    assert!(text.contains("no API key") && text.contains("MY_LLM_API_KEY"), "{text}");
    assert!(!format!("{ep:?}").contains(KEY));
    assert_eq!(Api::parse("anthropic-messages"), Some(Api::AnthropicMessages));
    assert_eq!(Api::parse(Api::OpenAiCompletions.as_str()), Some(Api::OpenAiCompletions));
}

#[test]
fn a_json_or_html_answer_is_not_a_stream() {
    let err_json = json!({"error": {"message": "model not found", "type": "invalid_request_error"}});
    let html = Script { headers: vec![("Content-Type", "text/html".into())], ..Script::json(200, json!("<html>")) };
    let server = Server::start(vec![Script::json(200, err_json), html]);
    let err = call(&openai(&server)).0.unwrap_err();
    assert_eq!(err, Error::BadRequest { status: 400, message: "model not found".into() });
    let err = call(&openai(&server)).0.unwrap_err();
    assert!(matches!(&err, Error::MalformedStream(m) if m.contains("text/html")), "{err:?}");
}

#[test]
fn a_bad_base_url_is_not_retried() {
    let ep = Endpoint { base_url: "not a url".into(), ..openai(&Server::start(vec![])) };
    let start = Instant::now();
    let err = call(&ep).0.unwrap_err();
    assert!(matches!(err, Error::BadRequest { status: 0, .. }), "{err:?}");
    assert!(err.to_string().starts_with("cannot send the request"), "{err}");
    assert!(start.elapsed() < Duration::from_millis(400));
}
