//! The agent runtime end to end: the real gateway binary, the fake model
//! server speaking the real OpenAI and Anthropic wire formats, the production
//! WebSocket client, and (for the sandbox tests) a real Docker Engine.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use openclaw::gateway::client::{Client, Options};
use serde_json::{Value, json};

use crate::fake_model::FakeModel;
use crate::util::{GatewayProc, Home, PrefixGuard, engine};

const TOKEN: &str = "4b1d9e0f2a3c5e7f9a1b3d5f7e9c0a2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c";
const WAIT: Duration = Duration::from_secs(20);

/// A home whose config uses the fake model (`api`: openai-completions or
/// anthropic-messages) plus `extra` top-level JSON5 members.
fn home(tag: &str, fake: &FakeModel, api: &str, extra: &str) -> Home {
    let mut h = Home::new(tag);
    let base = if api == "anthropic-messages" { fake.anthropic_base() } else { fake.openai_base() };
    h.write_config(&format!(
        r#"{{
  gateway: {{ mode: "local", auth: {{ token: "{TOKEN}" }} }},
  models: {{ providers: {{ fake: {{ baseUrl: "{base}", apiKey: "sk-test", api: "{api}", models: [{{ id: "m" }}] }} }} }},
  {extra}
}}"#
    ));
    if !extra.contains("sandbox") {
        h.set_env("DOCKER_HOST", "unix:///nonexistent/openclaw-agent-test.sock");
    }
    h
}

fn default_model() -> &'static str {
    r#"agents: { defaults: { model: "fake/m" } },"#
}

fn client(gw: &GatewayProc) -> Client {
    let opts = Options {
        url: format!("ws://127.0.0.1:{}", gw.port),
        token: Some(TOKEN.to_string()),
        password: None,
        timeout: WAIT,
        scopes: vec!["operator.admin".into()],
        device: None,
    };
    Client::connect(&opts).expect("connect to the gateway")
}

/// What one turn published.
#[derive(Debug, Default)]
struct Turn {
    deltas: Vec<String>,
    tools: Vec<Value>,
    state: String,
    text: String,
    error: String,
}

/// Sends `message` and follows the run to its end.
fn turn(c: &mut Client, session: &str, message: &str) -> Turn {
    let mut params = json!({"message": message});
    if !session.is_empty() {
        params["sessionKey"] = json!(session);
    }
    let started = c.call("chat.send", params).expect("chat.send");
    assert_eq!(started["status"], "started", "{started}");
    follow(c, started["runId"].as_str().unwrap())
}

fn follow(c: &mut Client, run_id: &str) -> Turn {
    let mut t = Turn::default();
    loop {
        let ev = c.next_event().expect("an event before the turn ends");
        let p = &ev["payload"];
        if p["runId"] != run_id {
            continue;
        }
        match (ev["event"].as_str().unwrap_or(""), p["state"].as_str().unwrap_or("")) {
            ("chat", "delta") => t.deltas.push(p["message"]["content"][0]["text"].as_str().unwrap_or("").to_string()),
            ("agent", _) => t.tools.push(p["data"].clone()),
            ("chat", state) => {
                t.state = state.to_string();
                t.text = p["message"]["content"][0]["text"].as_str().unwrap_or("").to_string();
                t.error = p["errorMessage"].as_str().unwrap_or("").to_string();
                return t;
            }
            _ => {}
        }
    }
}

fn history(c: &mut Client, session: &str) -> Vec<Value> {
    let h = c.call("chat.history", json!({"sessionKey": session})).expect("chat.history");
    h["messages"].as_array().cloned().unwrap_or_default()
}

fn texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            let role = m["role"].as_str().unwrap_or("");
            let text: String = m["content"].as_array().map(|b| b.iter().filter_map(|x| x["text"].as_str()).collect()).unwrap_or_default();
            format!("{role}: {text}")
        })
        .collect()
}

// ------------------------------------------------------------------ no Docker

#[test]
fn chat_turn_with_a_host_exec_tool_call_streams_and_persists() {
    let fake = FakeModel::start();
    let h = home("agent-host-exec", &fake, "openai-completions", default_model());
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    let t = turn(&mut c, "", "exec: echo hello-from-host");
    assert_eq!(t.state, "final", "{t:?}");
    assert!(t.text.starts_with("Tool said:") && t.text.contains("hello-from-host"), "{t:?}");
    assert_eq!(t.tools.len(), 2, "start and result: {:?}", t.tools);
    assert_eq!(t.tools[0]["phase"], "start");
    assert_eq!(t.tools[0]["name"], "exec");
    assert_eq!(t.tools[0]["args"]["command"], "echo hello-from-host");
    assert!(t.tools[1]["result"].as_str().unwrap().contains("hello-from-host"), "{:?}", t.tools[1]);
    assert!(!t.deltas.is_empty(), "the reply streamed");

    let msgs = history(&mut c, "agent:main:main");
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "toolResult", "assistant"], "{msgs:?}");
    assert_eq!(msgs[1]["content"][0]["type"], "toolCall");

    // sessions.json and the transcript: upstream's places, private modes.
    let dir = h.state().join("agents/main/sessions");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("sessions.json")).unwrap()).unwrap();
    let sid = index["agent:main:main"]["sessionId"].as_str().unwrap().to_string();
    let transcript = dir.join(format!("{sid}.jsonl"));
    let lines = std::fs::read_to_string(&transcript).unwrap();
    assert_eq!(lines.lines().count(), 5, "header + 4 messages:\n{lines}");
    assert!(lines.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
    assert_eq!(std::fs::metadata(&transcript).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    // The workspace was seeded with the bootstrap files, used as context.
    assert!(h.state().join("workspace/AGENTS.md").is_file());
    let req = &fake.requests()[0];
    let system = req.body["messages"][0]["content"].as_str().unwrap_or("");
    assert!(system.contains("# Project Context") && system.contains("AGENTS.md"), "{system}");
    assert_eq!(req.header("authorization"), Some("Bearer sk-test"));

    // The conversation goes on in the same session: earlier turns are sent back.
    let t2 = turn(&mut c, "", "second message");
    assert_eq!(t2.text, "You said: second message");
    let last = fake.requests().last().unwrap().body.clone();
    let sent: Vec<&str> = last["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(sent, ["system", "user", "assistant", "tool", "assistant", "user"]);
}

#[test]
fn anthropic_provider_runs_a_tool_turn() {
    let fake = FakeModel::start();
    let h = home("agent-anthropic", &fake, "anthropic-messages", default_model());
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    let t = turn(&mut c, "agent:main:work", "exec: printf anthropic-ok");
    assert_eq!(t.state, "final", "{t:?}");
    assert!(t.text.contains("anthropic-ok"), "{t:?}");
    let req = &fake.requests()[0];
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.header("x-api-key"), Some("sk-test"));
}

#[test]
fn no_provider_configured_answers_how_to_fix_it() {
    let mut h = Home::new("agent-no-provider");
    h.write_config(&format!(r#"{{ gateway: {{ mode: "local", auth: {{ token: "{TOKEN}" }} }} }}"#));
    h.set_env("DOCKER_HOST", "unix:///nonexistent/x.sock");
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    let t = turn(&mut c, "", "hello?");
    assert_eq!(t.state, "error");
    assert!(t.error.contains("No model provider is configured") && t.error.contains("openclaw onboard"), "{t:?}");
    // Still up, and the failed turn is in the history.
    assert!(c.call("health", json!({})).is_ok());
    let msgs = texts(&history(&mut c, "agent:main:main"));
    assert_eq!(msgs.len(), 2, "{msgs:?}");
}

#[test]
fn provider_failures_give_clear_messages_and_keep_the_session_intact() {
    let fake = FakeModel::start();
    let h = home("agent-provider-errors", &fake, "openai-completions", default_model());
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    let cases: &[(&str, &[&str])] = &[
        ("fail 401", &["401", "FAKE_API_KEY", "models.providers.fake.apiKey"]),
        ("fail 500", &["server error", "500"]),
        ("malformed", &["malformed"]),
        ("cut", &["malformed"]),
    ];
    for (msg, needles) in cases {
        let t = turn(&mut c, "", msg);
        assert_eq!(t.state, "error", "{msg}: {t:?}");
        for n in *needles {
            assert!(t.error.contains(n), "{msg}: {:?} lacks {n:?}", t.error);
        }
        assert!(!t.error.contains("sk-test"), "the key never shows: {}", t.error);
    }
    // 429 with Retry-After: retried after the pause, then answered.
    let started = Instant::now();
    let t = turn(&mut c, "", "fail 429 1");
    assert_eq!(t.state, "final", "{t:?}");
    assert!(started.elapsed() >= Duration::from_millis(900), "Retry-After honoured");
    // A silent provider: the turn's deadline ends it with a clear message.
    let started = c.call("chat.send", json!({"message": "hang", "timeoutMs": 1500})).unwrap();
    let t = follow(&mut c, started["runId"].as_str().unwrap());
    assert_eq!(t.state, "error", "{t:?}");
    assert!(t.error.contains("did not answer in time") || t.error.contains("deadline"), "{t:?}");
    // The session is intact: every failure is recorded, a normal turn works.
    let t = turn(&mut c, "", "still there?");
    assert_eq!(t.text, "You said: still there?");
    let msgs = texts(&history(&mut c, "agent:main:main"));
    assert_eq!(msgs.len(), 14, "{msgs:#?}");
    let last_req = fake.requests().last().unwrap().body.clone();
    let users = last_req["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "user").count();
    assert_eq!(users, 7, "failed turns' user messages stay in the history; error notes are not sent");
}

#[test]
fn abort_stops_a_streaming_reply() {
    let fake = FakeModel::start();
    let h = home("agent-abort", &fake, "openai-completions", default_model());
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    let started = c.call("chat.send", json!({"message": "slow 200 50"})).unwrap();
    let run_id = started["runId"].as_str().unwrap().to_string();
    loop {
        let ev = c.next_event().unwrap();
        if ev["event"] == "chat" && ev["payload"]["state"] == "delta" {
            break;
        }
    }
    let a = c.call("chat.abort", json!({"sessionKey": "agent:main:main"})).unwrap();
    assert_eq!(a["aborted"], true, "{a}");
    assert_eq!(a["runIds"][0], run_id.as_str());
    let t = follow(&mut c, &run_id);
    assert_eq!(t.state, "aborted", "{t:?}");
    let msgs = history(&mut c, "agent:main:main");
    assert_eq!(msgs.last().unwrap()["stopReason"], "aborted", "the partial reply is kept: {msgs:?}");
    let t = turn(&mut c, "", "after abort");
    assert_eq!(t.text, "You said: after abort");
}

#[test]
fn deny_beats_allow_and_the_model_sees_why() {
    let fake = FakeModel::start();
    let extra = r#"agents: { defaults: { model: "fake/m" } }, tools: { allow: ["exec", "read"], deny: ["exec"] },"#;
    let h = home("agent-deny", &fake, "openai-completions", extra);
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    let t = turn(&mut c, "", "exec: echo nope");
    assert_eq!(t.state, "final", "{t:?}");
    assert!(t.text.contains("Tool \"exec\" is not allowed by tools.deny"), "{t:?}");
    // Only the allowed tools were offered.
    let offered: Vec<String> = fake.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(offered, ["read"]);
}

#[test]
fn sandbox_policy_block_uses_upstreams_text() {
    let fake = FakeModel::start();
    // mode "all" with exec denied by the sandbox policy: refused before any
    // container is needed, with upstream's message.
    let extra = r#"agents: { defaults: { model: "fake/m", sandbox: { mode: "all" } } },
        tools: { sandbox: { tools: { deny: ["exec"] } } },"#;
    let mut h = home("agent-sbx-block", &fake, "openai-completions", extra);
    h.set_env("DOCKER_HOST", "unix:///nonexistent/x.sock");
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    let t = turn(&mut c, "agent:main:main", "tool exec {\"command\":\"id\"}");
    let expected = "Tool said: Tool \"exec\" blocked by sandbox tool policy (mode=all).\nSession: agent:main:main\nReason: deny list\nFix:\n- agents.defaults.sandbox.mode=off (disable sandbox)\n- Remove \"exec\" from tools.sandbox.tools.deny.";
    assert!(t.text.starts_with(expected), "{t:?}");
    assert!(t.text.contains("- See: openclaw sandbox explain --session agent:main:main"));
    // And a file tool in a sandboxed session without Docker fails, never
    // falling back to the host.
    let t = turn(&mut c, "agent:main:main", "tool write {\"path\":\"x.txt\",\"content\":\"host?\"}");
    assert!(t.text.contains("Docker"), "{t:?}");
    assert!(!h.state().join("workspace/x.txt").exists(), "nothing written on the host");
}

#[test]
fn file_tool_escapes_are_refused() {
    let fake = FakeModel::start();
    let h = home("agent-escape", &fake, "openai-completions", default_model());
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    for args in [
        r#"{"path":"../../etc/passwd"}"#,
        r#"{"path":"/etc/shadow"}"#,
        r#"{"path":"~/.ssh/id_rsa"}"#,
        r#"{"path":"a\u0000b"}"#,
    ] {
        let t = turn(&mut c, "", &format!("tool read {args}"));
        assert_eq!(t.state, "final");
        assert_eq!(t.tools[1]["isError"], true, "{args}: {:?}", t.tools[1]);
        assert!(!t.text.contains("root:"), "{args}: {t:?}");
    }
    let ws = h.state().join("workspace");
    std::os::unix::fs::symlink("/etc/passwd", ws.join("link")).unwrap();
    let t = turn(&mut c, "", r#"tool read {"path":"link"}"#);
    assert_eq!(t.tools[1]["isError"], true, "{:?}", t.tools[1]);
    let t = turn(&mut c, "", r#"tool write {"path":"link","content":"x"}"#);
    assert_eq!(t.tools[1]["isError"], true, "{:?}", t.tools[1]);
    assert!(std::fs::read_to_string("/etc/passwd").unwrap().contains("root:"));
}

#[test]
fn kill_dash_nine_mid_turn_leaves_a_valid_transcript() {
    let fake = FakeModel::start();
    let h = home("agent-kill9", &fake, "openai-completions", default_model());
    let mut gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    assert_eq!(turn(&mut c, "", "first").text, "You said: first");
    c.call("chat.send", json!({"message": "slow 400 20"})).unwrap();
    loop {
        let ev = c.next_event().unwrap();
        if ev["event"] == "chat" && ev["payload"]["state"] == "delta" {
            break;
        }
    }
    gw.kill9();
    let store = openclaw::agent::sessions::Store::new(&h.state(), "main");
    let entry = store.entry("agent:main:main").unwrap().unwrap();
    let loaded = store.load(&entry.session_id).unwrap();
    let roles: Vec<&str> = loaded.entries.iter().map(|e| e["message"]["role"].as_str().unwrap_or("")).collect();
    assert_eq!(roles, ["user", "assistant", "user"], "every acknowledged line survives");

    let gw2 = GatewayProc::start(&h, &[]);
    let mut c2 = client(&gw2);
    assert_eq!(turn(&mut c2, "", "after the crash").text, "You said: after the crash");
    let msgs = texts(&history(&mut c2, "agent:main:main"));
    assert_eq!(msgs[0], "user: first");
    assert_eq!(msgs.last().unwrap(), "assistant: You said: after the crash");
}

#[test]
fn sessions_reset_archives_the_transcript() {
    let fake = FakeModel::start();
    let h = home("agent-reset", &fake, "openai-completions", default_model());
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    turn(&mut c, "", "remember me");
    let before = c.call("chat.history", json!({})).unwrap()["sessionId"].as_str().unwrap().to_string();
    let r = c.call("sessions.reset", json!({"key": "agent:main:main"})).unwrap();
    assert_ne!(r["entry"]["sessionId"].as_str().unwrap(), before);
    assert!(history(&mut c, "agent:main:main").is_empty());
    let dir = h.state().join("agents/main/sessions");
    let archived = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with(&format!("{before}.jsonl.reset.")));
    assert!(archived, "old transcript archived");
    let list = c.call("sessions.list", json!({})).unwrap();
    assert_eq!(list["count"], 1);
}

#[test]
fn agent_command_prints_the_streamed_reply() {
    let fake = FakeModel::start();
    let h = home("agent-cli", &fake, "openai-completions", default_model());
    let gw = GatewayProc::start(&h, &[]);
    let port = gw.port.to_string();
    let url = format!("ws://127.0.0.1:{port}");
    let out = h.run(&["agent", "--message", "hi from the cli", "--url", &url, "--token", TOKEN]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout.trim(), "You said: hi from the cli");
    let out = h.run(&["agent", "-m", "exec: echo via-cli", "--session", "agent:main:cli", "--json", "--url", &url, "--token", TOKEN]);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["sessionKey"], "agent:main:cli");
    assert_eq!(v["toolCalls"][0]["name"], "exec");
    assert!(v["text"].as_str().unwrap().contains("via-cli"));
    let out = h.run(&["agent", "-m", "fail 403", "--url", &url, "--token", TOKEN]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("403"), "{}", out.all());
    let out = h.run(&["agent"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--message"), "{}", out.all());
}

// ------------------------------------------------------------------ HTTP APIs

/// One HTTP request; returns (status, headers, body).
fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

#[test]
fn openai_compatible_endpoint_serves_a_stock_client_request() {
    let fake = FakeModel::start();
    let mut h = Home::new("agent-openai-http");
    h.write_config(&format!(
        r#"{{
  gateway: {{ mode: "local", auth: {{ token: "{TOKEN}" }}, http: {{ endpoints: {{ chatCompletions: {{ enabled: true }} }} }} }},
  models: {{ providers: {{ fake: {{ baseUrl: "{}", apiKey: "sk-test", api: "openai-completions", models: [{{ id: "m" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/m" }} }},
}}"#,
        fake.openai_base()
    ));
    h.set_env("DOCKER_HOST", "unix:///nonexistent/x.sock");
    let gw = GatewayProc::start(&h, &[]);
    let req = json!({"model": "openclaw", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "ping"}]});
    let (status, _, body) = http(gw.port, "POST", "/v1/chat/completions", Some(TOKEN), Some(&req));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["choices"][0]["message"]["content"].as_str().unwrap().contains("ping"), "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");

    let mut sreq = req.clone();
    sreq["stream"] = json!(true);
    sreq["messages"][1]["content"] = json!("stream me");
    let (status, head, body) = http(gw.port, "POST", "/v1/chat/completions", Some(TOKEN), Some(&sreq));
    assert_eq!(status, 200, "{body}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"));
    let chunks: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(content, "You said: [Conversation so far]\nSystem: You are terse.\n\n[Current message]\nstream me");
    assert!(body.trim_end().ends_with("data: [DONE]"));

    let (status, _, body) = http(gw.port, "GET", "/v1/models", Some(TOKEN), None);
    assert_eq!(status, 200);
    assert!(body.contains("\"openclaw/main\""), "{body}");
    // Wrong, short and padded tokens: 401. (Whitespace at the end of a header
    // value is not part of it in HTTP, so the padding is inside the value.)
    for bad in [None, Some("wrong"), Some(&TOKEN[..10]), Some(&format!("{TOKEN} x")[..]), Some(&format!("{TOKEN}0")[..])] {
        let (status, _, body) = http(gw.port, "POST", "/v1/chat/completions", bad, Some(&req));
        assert_eq!(status, 401, "{bad:?}: {body}");
        assert!(!body.contains("You said"), "no data without auth");
    }
    // A NUL in a header value is a malformed request: 400 before any route.
    let (status, _, body) = http(gw.port, "POST", "/v1/chat/completions", Some(&format!("{TOKEN}\u{0}")), Some(&req));
    assert_eq!(status, 400, "{body}");
    assert!(!body.contains("You said"));
}

#[test]
fn openai_endpoint_is_off_by_default() {
    let fake = FakeModel::start();
    let h = home("agent-openai-off", &fake, "openai-completions", default_model());
    let gw = GatewayProc::start(&h, &[]);
    let (status, _, body) = http(gw.port, "POST", "/v1/chat/completions", Some(TOKEN), Some(&json!({"messages": []})));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("chatCompletions.enabled"), "{body}");
    assert_eq!(fake.count(), 0);
}

#[test]
fn tools_invoke_allows_denies_and_rate_limits() {
    let fake = FakeModel::start();
    let extra = r#"agents: { defaults: { model: "fake/m" } },"#;
    let h = home("agent-tools-invoke", &fake, "openai-completions", extra);
    let cfg = std::fs::read_to_string(h.config_path())
        .unwrap()
        .replace(r#"auth: { token: "#, r#"tools: { deny: ["sessions_list"] }, auth: { rateLimit: { exemptLoopback: false, maxAttempts: 3 }, token: "#);
    h.write_config(&cfg);
    let gw = GatewayProc::start(&h, &[]);
    std::fs::write(h.state().join("workspace/note.txt"), "hello note").ok();
    let ok = http(gw.port, "POST", "/tools/invoke", Some(TOKEN), Some(&json!({"tool": "session_status", "args": {}})));
    assert_eq!(ok.0, 200, "{ok:?}");
    let v: Value = serde_json::from_str(&ok.2).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["result"]["content"][0]["text"].as_str().unwrap().contains("Session: agent:main:main"), "{v}");
    // exec is on the default HTTP deny list; sessions_list is denied by gateway.tools.deny.
    for tool in ["exec", "sessions_list", "no_such_tool"] {
        let (status, _, body) = http(gw.port, "POST", "/tools/invoke", Some(TOKEN), Some(&json!({"tool": tool})));
        assert_eq!(status, 404, "{tool}: {body}");
        assert!(body.contains(&format!("Tool not available: {tool}")), "{body}");
    }
    let (status, _, body) = http(gw.port, "POST", "/tools/invoke", Some(TOKEN), Some(&json!({"args": {}})));
    assert_eq!(status, 400, "{body}");
    // Wrong tokens: 401 until the lockout, then 429 with Retry-After (even for the right token).
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(http(gw.port, "POST", "/tools/invoke", Some("wrong-token"), Some(&json!({"tool": "read"}))).0);
    }
    assert_eq!(codes, [401, 401, 429, 429], "3 attempts, then locked out");
    let (status, head, _) = http(gw.port, "POST", "/tools/invoke", Some(TOKEN), Some(&json!({"tool": "session_status"})));
    assert_eq!(status, 429);
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
}

// ------------------------------------------------------------------ Docker

fn sandbox_home(tag: &str, fake: &FakeModel, sandbox: &str, prefix: &str) -> Home {
    let extra = format!(
        r#"agents: {{ defaults: {{ model: "fake/m", sandbox: {{ {sandbox}, docker: {{ containerPrefix: "{prefix}" }} }} }} }},"#
    );
    home(tag, fake, "openai-completions", &extra)
}

#[test]
fn sandboxed_turn_runs_exec_in_a_real_container() {
    let Some(docker) = engine("sandboxed_turn_runs_exec_in_a_real_container", &["openclaw-sandbox:bookworm-slim"]) else { return };
    let prefix = format!("openclaw-test-agentall-{}-", std::process::id());
    let _guard = PrefixGuard { docker: docker.clone(), prefixes: vec![prefix.clone()] };
    let fake = FakeModel::start();
    let h = sandbox_home("agent-sbx-all", &fake, r#"mode: "all""#, &prefix);
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    let t = turn(&mut c, "", &format!("exec: id -u; test -d {} || echo in-container", h.state().display()));
    assert_eq!(t.state, "final", "{t:?}");
    assert!(t.text.contains("1000") && t.text.contains("in-container"), "{t:?}");
    // File tools go to the sandbox workspace, not the agent workspace.
    let t = turn(&mut c, "", r#"tool write {"path":"made-in-sandbox.txt","content":"x"}"#);
    assert_eq!(t.tools[1]["isError"], false, "{:?}", t.tools[1]);
    assert!(!h.state().join("workspace/made-in-sandbox.txt").exists());
    let t = turn(&mut c, "", "exec: cat made-in-sandbox.txt");
    assert!(t.text.contains('x'), "{t:?}");
    // An attachment is saved in the gateway's media folder and copied into
    // the sandbox workspace's media/inbound/, where the sandbox user reads it.
    let content = openclaw::crypto::base64_encode(b"attached-bytes-42");
    let started = c
        .call("chat.send", json!({"message": "exec: cat media/inbound/*.txt", "attachments": [{"fileName": "../../note.txt", "mimeType": "text/plain", "content": content}]}))
        .unwrap();
    let t = follow(&mut c, started["runId"].as_str().unwrap());
    assert!(t.text.contains("attached-bytes-42"), "{t:?}");
    let saved: Vec<_> = std::fs::read_dir(h.state().join("media/inbound")).unwrap().filter_map(|e| e.ok()).collect();
    assert_eq!(saved.len(), 1);
    let name = saved[0].file_name().to_string_lossy().to_string();
    assert!(name.starts_with("note-") && name.ends_with(".txt"), "{name}");
    let msgs = history(&mut c, "agent:main:main");
    let user = msgs.iter().rev().find(|m| m["role"] == "user").unwrap();
    assert!(user["content"][0]["text"].as_str().unwrap().contains("[media attached: media/inbound/note-"), "{user}");
}

#[test]
fn non_main_mode_keeps_main_on_the_host_and_sandboxes_the_rest() {
    let Some(docker) = engine("non_main_mode_keeps_main_on_the_host_and_sandboxes_the_rest", &["openclaw-sandbox:bookworm-slim"]) else {
        return;
    };
    let prefix = format!("openclaw-test-agentnm-{}-", std::process::id());
    let _guard = PrefixGuard { docker: docker.clone(), prefixes: vec![prefix.clone()] };
    let fake = FakeModel::start();
    let h = sandbox_home("agent-sbx-nonmain", &fake, r#"mode: "non-main""#, &prefix);
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    // The state folder exists on the host and is never mounted into a sandbox.
    let probe = format!("exec: test -d {} && echo ON-HOST || echo IN-CONTAINER", h.state().display());
    let probe = probe.as_str();
    let main = turn(&mut c, "agent:main:main", probe);
    assert!(main.text.contains("ON-HOST"), "{main:?}");
    let other = turn(&mut c, "agent:main:telegram:group:42", probe);
    assert!(other.text.contains("IN-CONTAINER"), "{other:?}");
}

#[test]
fn read_only_workspace_refuses_write() {
    let Some(docker) = engine("read_only_workspace_refuses_write", &["openclaw-sandbox:bookworm-slim"]) else { return };
    let prefix = format!("openclaw-test-agentro-{}-", std::process::id());
    let _guard = PrefixGuard { docker: docker.clone(), prefixes: vec![prefix.clone()] };
    let fake = FakeModel::start();
    let h = sandbox_home("agent-sbx-ro", &fake, r#"mode: "all", workspaceAccess: "ro""#, &prefix);
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    let t = turn(&mut c, "", r#"tool write {"path":"AGENTS.md","content":"overwritten"}"#);
    assert_eq!(t.tools[1]["isError"], true, "{:?}", t.tools[1]);
    assert!(t.tools[1]["result"].as_str().unwrap().to_lowercase().contains("read-only"), "{:?}", t.tools[1]);
    let agents_md = std::fs::read_to_string(h.state().join("workspace/AGENTS.md")).unwrap();
    assert!(!agents_md.contains("overwritten"));
    // Reading still works, and the system prompt says the workspace is read-only.
    let t = turn(&mut c, "", r#"tool read {"path":"AGENTS.md"}"#);
    assert_eq!(t.tools[1]["isError"], false, "{:?}", t.tools[1]);
    let system = fake.requests()[0].body["messages"][0]["content"].as_str().unwrap_or("").to_string();
    assert!(system.contains("read-only"), "{system}");
}

#[test]
fn session_tools_reach_other_sessions_of_the_agent() {
    let fake = FakeModel::start();
    let h = home("agent-session-tools", &fake, "openai-completions", default_model());
    let gw = GatewayProc::start(&h, &[]);
    let mut c = client(&gw);
    // sessions_send runs a turn in the other session and returns its reply.
    let t = turn(&mut c, "", r#"tool sessions_send {"sessionKey":"agent:main:other","message":"ping"}"#);
    let result: Value = serde_json::from_str(t.tools[1]["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["reply"], "You said: ping");
    // sessions_spawn returns at once; the child's turn lands in its own session.
    let t = turn(&mut c, "", r#"tool sessions_spawn {"task":"sub task","label":"x"}"#);
    let result: Value = serde_json::from_str(t.tools[1]["result"].as_str().unwrap()).unwrap();
    let child = result["childSessionKey"].as_str().unwrap().to_string();
    assert!(child.starts_with("agent:main:subagent:"), "{result}");
    let deadline = Instant::now() + WAIT;
    while texts(&history(&mut c, &child)).len() < 2 {
        assert!(Instant::now() < deadline, "the sub-agent did not answer");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(texts(&history(&mut c, &child))[1], "assistant: You said: sub task");
    // sessions_list / sessions_history / session_status see them.
    let t = turn(&mut c, "", r#"tool sessions_list {}"#);
    let list = t.tools[1]["result"].as_str().unwrap();
    assert!(list.contains("agent:main:other") && list.contains(&child), "{list}");
    let t = turn(&mut c, "", r#"tool sessions_history {"sessionKey":"agent:main:other"}"#);
    assert!(t.tools[1]["result"].as_str().unwrap().contains("You said: ping"), "{:?}", t.tools[1]);
    let t = turn(&mut c, "", r#"tool session_status {}"#);
    assert!(t.tools[1]["result"].as_str().unwrap().contains("Model: fake/m"), "{:?}", t.tools[1]);
    // Another agent's sessions are out of reach.
    let t = turn(&mut c, "", r#"tool sessions_history {"sessionKey":"agent:ops:main"}"#);
    assert_eq!(t.tools[1]["isError"], true, "{:?}", t.tools[1]);
}
