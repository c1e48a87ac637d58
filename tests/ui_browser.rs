//! The Control UI in a real headless Chromium, driven by
//! `tests/ui/ui.test.mjs` (playwright-core with Debian's Chromium; set up by
//! `scripts/ensure-browser.sh`). Each test starts a real gateway; the
//! pairing test runs the browser inside a network namespace of its own, so
//! it is a different host as far as the gateway can tell. The chat tests point
//! the default agent at `fake_model` (tools on the host, no sandbox); one more
//! drives the Chat page against a scripted gateway inside the browser.
//! Screenshots land in `tests/ui/artifacts/<scenario>/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fake_model::FakeModel;
use crate::util::{GatewayProc as Gateway, Home, Netns, PrefixGuard};

const TOKEN: &str = "ui0123456789abcdef0123456789abcdef0123";

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

/// `false` (after a loud line) only under `OPENCLAW_SKIP_UI_TESTS=1`;
/// otherwise a missing browser fails the test with the fix.
fn browser_ready(test: &str) -> bool {
    if std::env::var("OPENCLAW_SKIP_UI_TESTS").as_deref() == Ok("1") {
        eprintln!("!!!!! {test}: SKIPPED (OPENCLAW_SKIP_UI_TESTS=1) !!!!!");
        return false;
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{test}: Chromium is missing at {chromium}; run scripts/ensure-browser.sh");
    assert!(
        ui_dir().join("node_modules/playwright-core").exists(),
        "{test}: tests/ui/node_modules is missing; run scripts/ensure-browser.sh (npm ci in tests/ui)"
    );
    true
}

fn home(tag: &str, extra: &str) -> Home {
    let h = Home::new(tag);
    h.write_config(&format!("{{ gateway: {{ mode: 'local', auth: {{ token: '{TOKEN}' }} }}{extra} }}"));
    h
}

fn node(scenario: &str, args: &[&str]) -> Command {
    let mut c = Command::new("node");
    c.arg(ui_dir().join("ui.test.mjs")).arg(scenario).args(args).stdin(Stdio::null());
    c
}

/// Runs a scenario to its end; the last stdout line is its JSON result.
fn scenario(mut c: Command) -> Value {
    let out = c.output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    let result: Value = serde_json::from_str(last).unwrap_or_else(|_| panic!("no JSON result; stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success() && result["ok"] == true, "scenario failed: {result}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    result
}

#[test]
fn ui_takes_the_token_from_the_fragment_and_shows_every_page() {
    if !browser_ready("ui_takes_the_token_from_the_fragment_and_shows_every_page") {
        return;
    }
    let h = home("ui-token", "");
    let gw = Gateway::start(&h, &[]);
    let url = format!("http://127.0.0.1:{}/", gw.port);
    scenario(node("token-fragment", &["--url", &url, "--token", TOKEN]));
    scenario(node("layout", &["--url", &url, "--token", TOKEN]));
    scenario(node("sha256", &["--url", &url]));
}

#[test]
fn ui_config_page_rejects_a_bad_edit_and_saves_nothing() {
    if !browser_ready("ui_config_page_rejects_a_bad_edit_and_saves_nothing") {
        return;
    }
    let h = home("ui-config", "");
    let before = std::fs::read(h.config_path()).unwrap();
    let gw = Gateway::start(&h, &[]);
    let url = format!("http://127.0.0.1:{}/", gw.port);
    let r = scenario(node("config-invalid", &["--url", &url, "--token", TOKEN]));
    assert!(r.to_string().contains("gateway.port"), "{r}");
    assert_eq!(std::fs::read(h.config_path()).unwrap(), before, "a rejected edit must leave the file byte-identical");
}

#[test]
fn ui_sandboxes_page_lists_a_real_sandbox() {
    if !browser_ready("ui_sandboxes_page_lists_a_real_sandbox") {
        return;
    }
    let Some(docker) = crate::util::engine("ui_sandboxes_page_lists_a_real_sandbox", &["openclaw-sandbox:bookworm-slim"]) else { return };
    let prefix = format!("openclaw-test-ui-{}-", std::process::id());
    let _guard = PrefixGuard { docker: docker.clone(), prefixes: vec![prefix.clone()] };
    let h = home("ui-sbx", &format!(", agents: {{ defaults: {{ sandbox: {{ mode: 'all', docker: {{ containerPrefix: '{prefix}' }} }} }} }}"));
    let paths = h.paths();
    let config = openclaw::config::load(&paths, &openclaw::paths::Env::new(), None).unwrap().config;
    let sbx = openclaw::sandbox::Manager::new(docker, paths).ensure(&config, "agent:main:main").expect("ensure a sandbox");
    let gw = Gateway::start(&h, &[]);
    let url = format!("http://127.0.0.1:{}/", gw.port);
    scenario(node("sandboxes", &["--url", &url, "--token", TOKEN, "--expect-container", &sbx.name]));
}

#[test]
fn ui_from_another_host_waits_for_pairing_until_approved() {
    if !browser_ready("ui_from_another_host_waits_for_pairing_until_approved") {
        return;
    }
    let ns = Netns::new();
    let h = home("ui-pair", "");
    let gw = Gateway::start(&h, &["--bind", "lan"]);
    let url = format!("http://{}:{}/", ns.host_ip, gw.port);
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "node"])
        .arg(ui_dir().join("ui.test.mjs"))
        .args(["pairing-pending", "--url", &url, "--token", TOKEN, "--wait-ms", "60000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node in the namespace");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut request_id = None;
    let mut last = Value::Null;
    for line in lines.by_ref() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap_or(Value::Null);
        if v["event"] == "pending" {
            request_id = v["requestId"].as_str().map(str::to_string);
            break;
        }
        last = v;
        assert!(Instant::now() < deadline, "no pending event");
    }
    let Some(request_id) = request_id else {
        let _ = child.kill();
        panic!("the browser never showed the pairing command; last: {last}");
    };
    // A person takes a while to type the command; the browser keeps retrying
    // meanwhile, and the request id it showed must stay valid.
    std::thread::sleep(Duration::from_secs(7));
    // The gateway holds it at pairing: the request is pending, from the namespace's address.
    let cli = |args: &[&str]| crate::util::output({
        let mut c = h.command(args);
        c.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string());
        c
    });
    let list = cli(&["devices", "list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.all());
    assert!(list.stdout.contains(&request_id), "{}", list.stdout);
    let approve = cli(&["devices", "approve", &request_id]);
    assert_eq!(approve.code, 0, "{}", approve.all());
    let mut result = Value::Null;
    for line in lines {
        result = serde_json::from_str(&line.unwrap()).unwrap_or(Value::Null);
    }
    let status = child.wait().unwrap();
    assert!(status.success() && result["ok"] == true, "browser did not connect after approval: {result}");
}

#[test]
fn ui_chat_page_renders_a_scripted_run_with_untrusted_text_as_text() {
    if !browser_ready("ui_chat_page_renders_a_scripted_run_with_untrusted_text_as_text") {
        return;
    }
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    let r = scenario(node("chat-render", &["--serve", ui.to_str().unwrap()]));
    assert_eq!(r["bounded"], 500, "{r}");
}

/// A home whose default agent talks to the fake model, tools on the host
/// (sandbox off: `exec` runs in the agent workspace).
fn chat_home(tag: &str, model: &FakeModel) -> Home {
    home(
        tag,
        &format!(
            ", models: {{ providers: {{ fake: {{ baseUrl: '{}', apiKey: 'sk-test', api: 'openai-completions', models: [{{ id: 'm' }}] }} }} }}, \
             agents: {{ defaults: {{ model: 'fake/m', sandbox: {{ mode: 'off' }} }} }}",
            model.openai_base()
        ),
    )
}

/// A scenario's own screenshot folder when one test runs it more than once.
fn artifacts(name: &str) -> String {
    ui_dir().join("artifacts").join(name).to_string_lossy().into_owned()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

#[test]
fn ui_chat_streams_a_reply_and_shows_the_tool_call() {
    if !browser_ready("ui_chat_streams_a_reply_and_shows_the_tool_call") {
        return;
    }
    let model = FakeModel::start();
    let h = chat_home("ui-chat", &model);
    let gw = Gateway::start(&h, &[]);
    let url = format!("http://127.0.0.1:{}/", gw.port);
    let out = artifacts("chat-tool");
    let r = scenario(node("chat", &["--url", &url, "--token", TOKEN, "--out", &out, "--message", "exec: echo hello-from-sandbox", "--tool", "exec"]));
    eprintln!("chat: {r}");
    assert_eq!(r["sessionKey"], "agent:main:main", "{r}");
    assert_eq!(r["toolName"], "exec", "{r}");
    assert!(text(&r["toolArgs"]).contains("echo hello-from-sandbox"), "{r}");
    assert!(text(&r["toolResult"]).contains("hello-from-sandbox"), "{r}");
    assert_eq!(r["toolError"], false, "{r}");
    let final_text = text(&r["finalText"]);
    assert!(final_text.contains("Tool said:") && final_text.contains("hello-from-sandbox"), "{r}");
    assert_eq!(r["abortShown"], true, "Abort was never shown during the run: {r}");
    // The same turn comes back from chat.history after a page switch.
    assert!(r["reloaded"].to_string().contains("Tool said:"), "{r}");
    let tools = r["reloadedTools"].as_array().unwrap();
    assert!(tools.iter().any(|t| t["name"] == "exec" && t["state"] == "done" && text(&t["result"]).contains("hello-from-sandbox")), "{r}");
}

#[test]
fn ui_chat_streams_deltas_in_a_new_session_and_aborts_a_run() {
    if !browser_ready("ui_chat_streams_deltas_in_a_new_session_and_aborts_a_run") {
        return;
    }
    let model = FakeModel::start();
    let h = chat_home("ui-chat-slow", &model);
    let gw = Gateway::start(&h, &[]);
    let url = format!("http://127.0.0.1:{}/", gw.port);
    // Eight words 150 ms apart: the page must render the reply growing.
    let out = artifacts("chat-stream");
    let r = scenario(node("chat", &["--url", &url, "--token", TOKEN, "--out", &out, "--new-session", "--message", "slow 8 150", "--min-deltas", "3"]));
    eprintln!("chat: {r}");
    let key = text(&r["sessionKey"]).to_string();
    assert!(key.starts_with("agent:main:webchat-"), "{r}");
    assert!(r["streamedDeltas"].as_u64().unwrap() >= 3, "{r}");
    let final_text = text(&r["finalText"]);
    assert_eq!(final_text.split_whitespace().count(), 8, "{r}");
    // Each streamed render is a prefix of the final text (deltas carry the whole text so far).
    for t in r["streamedTexts"].as_array().unwrap() {
        assert!(final_text.starts_with(text(t).trim_end()), "{t} is not a prefix of {final_text:?}");
    }
    // A long reply, aborted once it streams.
    let out = artifacts("chat-abort");
    let a = scenario(node("chat", &["--url", &url, "--token", TOKEN, "--out", &out, "--message", "slow 200 100", "--abort"]));
    eprintln!("chat: {a}");
    assert_eq!(a["aborted"], true, "{a}");
    assert_eq!(a["abortShown"], true, "{a}");
    let partial = text(&a["partialText"]).split_whitespace().count();
    assert!((1..200).contains(&partial), "{a}");
}

#[test]
fn ui_sessions_page_lists_and_resets_a_session() {
    if !browser_ready("ui_sessions_page_lists_and_resets_a_session") {
        return;
    }
    let model = FakeModel::start();
    let h = chat_home("ui-sessions", &model);
    let gw = Gateway::start(&h, &[]);
    let url = format!("http://127.0.0.1:{}/", gw.port);
    let out = artifacts("sessions-chat");
    scenario(node("chat", &["--url", &url, "--token", TOKEN, "--out", &out, "--message", "exec: echo one", "--tool", "exec"]));
    let r = scenario(node("sessions", &["--url", &url, "--token", TOKEN, "--key", "agent:main:main", "--open"]));
    eprintln!("sessions: {r}");
    let old = text(&r["oldSessionId"]);
    let new = text(&r["newSessionId"]);
    assert_ne!(old, new, "{r}");
    let row = r["before"].as_array().unwrap().iter().find(|row| row["key"] == "agent:main:main").unwrap_or_else(|| panic!("{r}"));
    assert_ne!(row["cells"][3], "0 / 0", "a turn was run, tokens should be counted: {r}");
    // On disk: the index names the new id and the old transcript is archived.
    let dir = h.state().join("agents/main/sessions");
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("sessions.json")).unwrap()).unwrap();
    assert_eq!(index["agent:main:main"]["sessionId"], new, "{index}");
    let archived = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with(&format!("{old}.jsonl.reset.")));
    assert!(archived, "no {old}.jsonl.reset.* in {}", dir.display());
}

#[test]
fn ui_channels_page_shows_accounts_and_approves_a_pairing_request() {
    if !browser_ready("ui_channels_page_shows_accounts_and_approves_a_pairing_request") {
        return;
    }
    // A Telegram account whose API is unreachable (a closed local port),
    // and one sender waiting with a live code, as the hub writes it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let h = home("ui-channels", &format!(", channels: {{ telegram: {{ botToken: '1:x', apiBaseUrl: 'http://127.0.0.1:{closed}' }} }}"));
    let creds = h.state().join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    let now = openclaw::agent::sessions::iso(openclaw::now_ms());
    std::fs::write(
        creds.join("telegram-pairing.json"),
        format!(r#"{{"version":1,"requests":[{{"id":"4242","code":"QRST2345","createdAt":"{now}","lastSeenAt":"{now}","meta":{{"accountId":"default","name":"Ann <b>x</b>","username":"ann"}}}}]}}"#),
    )
    .unwrap();
    let gw = Gateway::start(&h, &[]);
    let url = format!("http://127.0.0.1:{}/", gw.port);
    let r = scenario(node("channels", &["--url", &url, "--token", TOKEN, "--channel", "telegram", "--code", "QRST2345"]));
    eprintln!("channels: {r}");
    let row = &r["accounts"][0];
    assert_eq!((row["channel"].as_str(), row["account"].as_str()), (Some("telegram"), Some("default")), "{r}");
    assert!(text(&r["request"][2]).contains("Ann <b>x</b>"), "sender shown as text: {r}");
    let allow: Value = serde_json::from_slice(&std::fs::read(creds.join("telegram-allowFrom.json")).unwrap()).unwrap();
    assert_eq!(allow["allowFrom"], serde_json::json!(["4242"]));
    let pending: Value = serde_json::from_slice(&std::fs::read(creds.join("telegram-pairing.json")).unwrap()).unwrap();
    assert_eq!(pending["requests"], serde_json::json!([]));
}
