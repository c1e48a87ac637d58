//! `openclaw onboard` end to end: the built binary with a clean environment,
//! answers piped into its standard input, the upstream e2e cases (reference
//! §1.9), the fake model server for providers, and a fake OpenAI
//! authorization server for the Codex sign-in (callback by a real HTTP
//! request, or the redirect URL pasted on stdin).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_model::FakeModel;
use crate::fake_oauth::{self, FakeOAuth};
use crate::util::{GatewayProc, Home, Output, free_port, output};

const QUIET: &[&str] = &["--skip-channels", "--skip-skills", "--skip-daemon", "--skip-ui", "--skip-health"];
const WAIT: Duration = Duration::from_secs(30);

fn onboard(h: &Home, args: &[&str]) -> Output {
    h.run(&[&["onboard"][..], args].concat())
}

/// `onboard --non-interactive --accept-risk <args> <QUIET>`.
fn scripted(h: &Home, args: &[&str]) -> Output {
    onboard(h, &[&["--non-interactive", "--accept-risk"][..], args, QUIET].concat())
}

fn config(h: &Home) -> Value {
    let text = std::fs::read_to_string(h.config_path()).expect("a config file");
    json5::from_str(&text).expect("the config is JSON5")
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Runs onboarding with `input` piped into standard input.
fn interactive(h: &Home, args: &[&str], input: &str) -> Output {
    let mut cmd = h.command(&[&["onboard"][..], args].concat());
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run openclaw onboard");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    wait(child)
}

fn wait(child: Child) -> Output {
    let out = child.wait_with_output().expect("onboard ends");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn local_basic_as_upstreams_e2e() {
    let h = Home::new("ob-local");
    let ws = h.dir.join("ws");
    let ws_arg = ws.display().to_string();
    let out = scripted(&h, &["--flow", "quickstart", "--mode", "local", "--workspace", &ws_arg]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(h.state().join("agents/main/sessions").is_dir());
    for f in ["AGENTS.md", "BOOTSTRAP.md", "IDENTITY.md", "SOUL.md", "TOOLS.md", "USER.md"] {
        assert!(ws.join(f).is_file(), "{f}");
    }
    let c = config(&h);
    assert_eq!(c["agents"]["defaults"]["workspace"], ws_arg.as_str());
    assert_eq!((&c["gateway"]["mode"], &c["gateway"]["bind"], &c["gateway"]["tailscale"]["mode"]), (&json!("local"), &json!("loopback"), &json!("off")));
    assert_eq!((&c["gateway"]["port"], &c["gateway"]["auth"]["mode"]), (&json!(18789), &json!("token")));
    let token = c["gateway"]["auth"]["token"].as_str().unwrap();
    assert!(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    let w = &c["wizard"];
    assert!(w["lastRunAt"].as_str().is_some_and(|t| t.len() == 24 && t.ends_with('Z')), "{w}");
    assert_eq!(w["lastRunVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!((&w["lastRunCommand"], &w["lastRunMode"]), (&json!("onboard"), &json!("local")));
    assert_eq!(c["tools"]["profile"], "coding");
    assert_eq!(mode(&h.config_path()), 0o600);
    assert!(out.stdout.contains(&format!("Dashboard: http://127.0.0.1:18789/#token={token}")), "{}", out.stdout);
    // The result is a valid config without warnings (wizard.* is known).
    let v = h.run(&["config", "validate"]);
    assert_eq!(v.code, 0, "{}", v.all());
    assert!(!v.stderr.contains("Warning"), "{}", v.stderr);
}

#[test]
fn remote_non_interactive_as_upstreams_e2e() {
    let h = Home::new("ob-remote");
    let out = onboard(
        &h,
        &["--non-interactive", "--accept-risk", "--mode", "remote", "--remote-url", "ws://gateway.local:18789", "--remote-token", "remote-token", "--skip-skills", "--skip-health"],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let c = config(&h);
    assert_eq!(c["gateway"]["mode"], "remote");
    assert_eq!((&c["gateway"]["remote"]["url"], &c["gateway"]["remote"]["token"]), (&json!("ws://gateway.local:18789"), &json!("remote-token")));
    assert_eq!(c["wizard"]["lastRunMode"], "remote");
    assert!(c["agents"].is_null() && !h.state().join("workspace").exists(), "remote mode changes nothing local: {c}");
    assert!(out.stdout.contains("Remote gateway configured."), "{}", out.stdout);
    let json_out = scripted(&h, &["--mode", "remote", "--remote-url", "ws://other:1", "--json"]);
    let summary: Value = serde_json::from_str(&json_out.stdout).unwrap_or_else(|e| panic!("{e}: {}", json_out.all()));
    assert_eq!(summary, json!({"mode": "remote", "remoteUrl": "ws://other:1", "auth": "none"}));
    assert!(config(&h)["gateway"]["remote"].get("token").is_none(), "a new URL without a token drops the old token");
}

#[test]
fn reset_moves_the_old_state_aside() {
    let h = Home::new("ob-reset");
    let seeded = r#"{gateway: {mode: "remote", remote: {url: "ws://gateway.local:18789", token: "remote-token"}}}"#;
    h.write_config(seeded);
    std::fs::create_dir_all(h.state().join("agents/main/sessions")).unwrap();
    std::fs::write(h.state().join("agents/main/sessions/sessions.json"), "{}").unwrap();
    let out = scripted(&h, &["--mode", "local", "--reset"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let c = config(&h);
    assert_eq!(c["gateway"]["mode"], "local");
    assert!(c["gateway"]["remote"]["url"].is_null(), "{c}");
    let aside: Vec<String> = std::fs::read_dir(h.state()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let old = aside.iter().find(|n| n.starts_with("openclaw.json.reset-")).unwrap_or_else(|| panic!("{aside:?}"));
    assert_eq!(std::fs::read_to_string(h.state().join(old)).unwrap(), seeded, "moved, not rewritten");
    let sessions: Vec<String> = std::fs::read_dir(h.state().join("agents/main")).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(sessions.iter().any(|n| n.starts_with("sessions.reset-")), "{sessions:?}");
    assert!(out.stdout.contains("Moved aside:"), "{}", out.stdout);
}

#[test]
fn non_interactive_health_check_waits_for_the_gateway() {
    let token = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";
    let mut h = Home::new("ob-health");
    h.set_env("DOCKER_HOST", "unix:///nonexistent/openclaw-onboard-test.sock");
    h.write_config(&format!(r#"{{gateway: {{mode: "local", auth: {{token: "{token}"}}}}}}"#));
    let gw = GatewayProc::start(&h, &[]);
    let port = gw.port.to_string();
    let out = onboard(&h, &["--non-interactive", "--accept-risk", "--gateway-port", &port, "--skip-channels", "--skip-daemon"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("◇ Health") && out.stdout.contains("Agents: main"), "{}", out.stdout);
    drop(gw);
    let started = Instant::now();
    let free = free_port().to_string();
    let out = onboard(&h, &["--non-interactive", "--accept-risk", "--gateway-port", &free, "--skip-channels", "--skip-daemon"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("Gateway health check failed") && out.stderr.contains("--skip-health"), "{}", out.stderr);
    assert!(started.elapsed() >= Duration::from_secs(14), "it waited for the gateway");
}

#[test]
fn non_interactive_needs_the_risk_accepted() {
    let h = Home::new("ob-risk");
    let out = onboard(&h, &["--non-interactive", "--mode", "local"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr.trim_end(),
        "Non-interactive onboarding requires explicit risk acknowledgement.\nRead: https://docs.openclaw.ai/security\nRe-run with: openclaw onboard --non-interactive --accept-risk ..."
    );
    assert!(!h.config_path().exists());
}

#[test]
fn existing_token_and_unknown_keys_are_kept() {
    let token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let h = Home::new("ob-keep");
    h.write_config(&format!(
        r#"// hand-written
{{
  gateway: {{ auth: {{ token: "{token}" }}, bind: "lan" }},
  skills: {{ allowBundled: ["__none__"], install: {{ nodeManager: "bun" }} }},
  channels: {{ telegram: {{ botToken: "123456:abcdefghijklmnopqrstuvwxyz", dmPolicy: "pairing" }} }},
  agents: {{ defaults: {{ sandbox: {{ mode: "non-main" }} }} }},
}}"#
    ));
    let out = scripted(&h, &["--mode", "local"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let c = config(&h);
    assert_eq!(c["gateway"]["auth"]["token"], token, "reused, not replaced");
    assert_eq!(c["gateway"]["bind"], "lan", "the existing bind is kept");
    assert_eq!(c["skills"], json!({"allowBundled": ["__none__"], "install": {"nodeManager": "bun"}}));
    assert_eq!(c["channels"]["telegram"]["botToken"], "123456:abcdefghijklmnopqrstuvwxyz");
    assert_eq!(c["agents"]["defaults"]["sandbox"]["mode"], "non-main");
    assert!(std::fs::read_to_string(h.state().join("openclaw.json.bak")).unwrap().contains("// hand-written"));
    // Only --gateway-token replaces it.
    let new = "fedcba9876543210fedcba9876543210";
    assert_eq!(scripted(&h, &["--gateway-token", new]).code, 0);
    assert_eq!(config(&h)["gateway"]["auth"]["token"], new);
    // Without a token in the config, OPENCLAW_GATEWAY_TOKEN becomes it (one source of truth).
    let mut fresh = Home::new("ob-envtoken");
    fresh.set_env("OPENCLAW_GATEWAY_TOKEN", token);
    assert_eq!(scripted(&fresh, &[]).code, 0);
    assert_eq!(config(&fresh)["gateway"]["auth"]["token"], token);
    // A ${VAR} reference stays a reference.
    let mut r = Home::new("ob-reftoken");
    r.write_config(r#"{gateway: {auth: {token: "${MY_GW_TOKEN}"}}}"#);
    r.set_env("MY_GW_TOKEN", token);
    assert_eq!(scripted(&r, &[]).code, 0);
    assert_eq!(config(&r)["gateway"]["auth"]["token"], "${MY_GW_TOKEN}");
}

#[test]
fn bad_flags_and_configs_change_nothing() {
    let h = Home::new("ob-bad");
    let seeded = "{gateway: {port: 18789}}\n";
    h.write_config(seeded);
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--flow", "fast"], 1, "Invalid --flow (use quickstart, manual, or advanced)."),
        (&["--mode", "cloud"], 1, "Invalid --mode (use local or remote)."),
        (&["--gateway-auth", "password"], 1, "Missing --gateway-password for password auth."),
        (&["--gateway-bind", "0.0.0.0"], 1, "Invalid --gateway-bind"),
        (&["--gateway-port", "70000"], 1, "Invalid --gateway-port"),
        (&["--gateway-token", "changeme"], 1, "is a placeholder"),
        (&["--auth-choice", "magic"], 1, "Invalid --auth-choice \"magic\""),
        (&["--auth-choice", "openai-api-key"], 1, "Missing --openai-api-key (or set OPENAI_API_KEY)"),
        (&["--auth-choice", "custom-api-key"], 1, "Missing --custom-base-url"),
        (&["--openai-api-key", "k", "--anthropic-api-key", "k"], 1, "pick one with --auth-choice"),
        (&["--mode", "remote"], 1, "Missing --remote-url (non-interactive remote mode)."),
        (&["--mode", "remote", "--remote-url", "http//x"], 1, "Invalid --remote-url"),
        (&["--secret-input-mode", "vault"], 1, "Invalid --secret-input-mode"),
        (&["--frobnicate"], 2, "--frobnicate"),
    ];
    for (args, code, text) in cases {
        let out = scripted(&h, args);
        assert_eq!(out.code, *code, "{args:?}: {}", out.all());
        assert!(out.stderr.contains(text), "{args:?}: {}", out.stderr);
        assert_eq!(std::fs::read_to_string(h.config_path()).unwrap(), seeded, "{args:?} left the config alone");
    }
    let bad = "{gateway: {prot: 1}}";
    h.write_config(bad);
    let out = scripted(&h, &[]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("Config invalid") && out.stderr.contains("gateway.prot") && out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(h.config_path()).unwrap(), bad);
    assert!(onboard(&h, &["--help"]).stdout.contains("Usage: openclaw onboard"));
}

#[test]
fn api_keys_go_to_auth_profiles_and_are_never_printed() {
    let key = "sk-onboard-SECRET-0123456789";
    let h = Home::new("ob-keys");
    let out = scripted(&h, &["--auth-choice", "openai-api-key", "--openai-api-key", key]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.all().contains(key), "the key is never printed");
    let store_path = h.state().join("agents/main/agent/auth-profiles.json");
    let store: Value = serde_json::from_str(&std::fs::read_to_string(&store_path).unwrap()).unwrap();
    assert_eq!(store["version"], 1);
    assert_eq!(store["profiles"]["openai:default"], json!({"type": "api_key", "provider": "openai", "key": key}));
    assert_eq!(mode(&store_path), 0o600);
    assert_eq!(mode(store_path.parent().unwrap()), 0o700);
    let c = config(&h);
    assert!(!std::fs::read_to_string(h.config_path()).unwrap().contains(key), "the key is not in openclaw.json");
    assert_eq!(c["auth"]["profiles"]["openai:default"], json!({"provider": "openai", "mode": "api_key"}));
    assert_eq!(c["agents"]["defaults"]["model"], "openai/gpt-4.1-mini");
    // Reference mode keeps only the variable's name; another family's model is not replaced.
    let mut h2 = Home::new("ob-keyref");
    h2.set_env("ANTHROPIC_API_KEY", key);
    h2.write_config(r#"{agents: {defaults: {model: {primary: "openai/gpt-x", fallbacks: []}}}}"#);
    let out = scripted(&h2, &["--auth-choice", "anthropic-api-key", "--secret-input-mode", "ref"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let store: Value = serde_json::from_str(&std::fs::read_to_string(h2.state().join("agents/main/agent/auth-profiles.json")).unwrap()).unwrap();
    assert_eq!(store["profiles"]["anthropic:default"]["keyRef"], json!({"source": "env", "provider": "default", "id": "ANTHROPIC_API_KEY"}));
    assert!(store["profiles"]["anthropic:default"].get("key").is_none());
    assert_eq!(config(&h2)["agents"]["defaults"]["model"]["primary"], "openai/gpt-x");
    assert!(out.stdout.contains("Kept the default model openai/gpt-x"), "{}", out.stdout);
    let out = scripted(&Home::new("ob-noref"), &["--auth-choice", "openai-api-key", "--secret-input-mode", "ref"]);
    assert!(out.code == 1 && out.stderr.contains("OPENAI_API_KEY, which is not set"), "{}", out.all());
}

#[test]
fn custom_provider_then_a_chat_through_the_gateway() {
    let fake = FakeModel::start();
    fake.require_key(Some("sk-custom-1"));
    let mut h = Home::new("ob-custom");
    h.set_env("DOCKER_HOST", "unix:///nonexistent/openclaw-onboard-test.sock");
    let base = fake.openai_base();
    let out = scripted(&h, &["--auth-choice", "custom-api-key", "--custom-base-url", &base, "--custom-model-id", "fake-model", "--custom-api-key", "sk-custom-1"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.all().contains("sk-custom-1"));
    let c = config(&h);
    assert_eq!(c["models"]["providers"]["custom"], json!({"baseUrl": base, "api": "openai-completions", "apiKey": "sk-custom-1", "models": [{"id": "fake-model"}]}));
    assert_eq!(c["agents"]["defaults"]["model"], "custom/fake-model");
    let token = c["gateway"]["auth"]["token"].as_str().unwrap().to_string();
    let gw = GatewayProc::start(&h, &[]);
    let url = format!("ws://127.0.0.1:{}", gw.port);
    let out = h.run(&["agent", "--message", "hello from onboarding", "--url", &url, "--token", &token]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout.trim(), "You said: hello from onboarding");
}

#[test]
fn ollama_picks_a_listed_model() {
    let fake = FakeModel::start();
    let h = Home::new("ob-ollama");
    let base = format!("http://127.0.0.1:{}", fake.port());
    let out = scripted(&h, &["--auth-choice", "ollama", "--custom-base-url", &base, "--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let summary: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.all()));
    assert_eq!((&summary["authChoice"], &summary["gateway"]["bind"]), (&json!("ollama"), &json!("loopback")));
    let c = config(&h);
    assert_eq!(c["models"]["providers"]["ollama"]["baseUrl"], format!("{base}/v1"));
    assert_eq!(c["agents"]["defaults"]["model"], "ollama/fake-model");
    let none = scripted(&Home::new("ob-ollama-down"), &["--auth-choice", "ollama", "--custom-base-url", &format!("http://127.0.0.1:{}", free_port())]);
    assert!(none.code == 1 && none.stderr.contains("Pass --custom-model-id"), "{}", none.all());
}

#[test]
fn interactive_quickstart_over_piped_answers() {
    let h = Home::new("ob-int");
    let tg = "123456789:AAHfakefakefakefakefakefake_-x";
    let out = interactive(&h, &[], &format!("y\n1\nskip\n{tg}\n\n"));
    assert_eq!(out.code, 0, "{}", out.all());
    for shown in ["I understand this is powerful and inherently risky. Continue? (y/N)", "Onboarding mode", "Model/auth provider", "Telegram bot token", "Discord bot token", "Onboarding complete"] {
        assert!(out.stdout.contains(shown), "{shown}: {}", out.stdout);
    }
    assert!(!out.stdout.contains(tg), "the token is not echoed back");
    let c = config(&h);
    assert_eq!(c["channels"]["telegram"]["botToken"], tg);
    assert!(c["channels"]["discord"].is_null());
    assert_eq!((&c["gateway"]["mode"], &c["wizard"]["lastRunMode"]), (&json!("local"), &json!("local")));
    assert!(out.stdout.contains("The gateway is not running yet"), "health is reported, not fatal: {}", out.stdout);
}

#[test]
fn interactive_refusals_and_eof_change_nothing() {
    let h = Home::new("ob-int-no");
    let out = interactive(&h, &[], "\n");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("the risk was not accepted"), "{}", out.stderr);
    let out = interactive(&h, &[], "y\n");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("No answer to \"Onboarding mode\": standard input ended") && out.stderr.contains("--non-interactive"), "{}", out.stderr);
    let out = interactive(&h, &[], "y\n1\nbanana\nbanana\nbanana\nbanana\nbanana\n");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("No valid answer to \"Model/auth provider\""), "{}", out.stderr);
    assert!(!h.config_path().exists(), "nothing was written");
    // Under `docker compose run -T` stdin is empty: a clear error, not a hang.
    let mut cmd = h.command(&["onboard"]);
    cmd.stdin(Stdio::null());
    let out = output(cmd);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("standard input ended"), "{}", out.stderr);
}

#[test]
fn interactive_manual_update_keeps_the_token() {
    let token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let h = Home::new("ob-int-manual");
    h.write_config(&format!(r#"{{gateway: {{mode: "local", port: 18789, auth: {{token: "{token}"}}}}}}"#));
    // risk, Manual, Update values, local, workspace (default), skip auth,
    // port, bind, auth (default token), token (blank keeps), two channel tokens.
    let answers = "y\n2\nmodify\nlocal\n\nskip\n19001\nlan\n\n\n\n\n";
    let out = interactive(&h, &[], answers);
    assert_eq!(out.code, 0, "{}", out.all());
    for shown in ["Existing config detected", "Config handling", "Where will the Gateway run?", "Workspace directory", "Gateway port [18789]", "Gateway bind", "Gateway token (blank to keep the current one)"] {
        assert!(out.stdout.contains(shown), "{shown}: {}", out.stdout);
    }
    let c = config(&h);
    assert_eq!((&c["gateway"]["port"], &c["gateway"]["bind"], &c["gateway"]["auth"]["token"]), (&json!(19001), &json!("lan"), &json!(token)));
}

#[test]
fn interactive_reset_from_config_handling() {
    let h = Home::new("ob-int-reset");
    h.write_config(r#"{gateway: {mode: "remote", remote: {url: "ws://gateway.local:18789"}}}"#);
    let out = interactive(&h, &[], "y\n1\nreset\nconfig\nskip\n\n\n");
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Reset scope"), "{}", out.stdout);
    let c = config(&h);
    assert_eq!(c["gateway"]["mode"], "local");
    assert!(c["gateway"]["remote"].is_null());
}

// ---------------------------------------------------------------------------
// OpenAI Codex sign-in

/// A running `onboard --auth-choice openai-codex` and its stdout lines.
struct Signin {
    child: Child,
    lines: Receiver<String>,
    reader: std::thread::JoinHandle<()>,
    /// The lines taken so far.
    seen: Vec<String>,
    callback_port: u16,
}

fn start_signin(h: &Home, fake: &FakeOAuth, callback_port: u16, extra: &[&str]) -> Signin {
    let port = callback_port.to_string();
    let mut cmd = h.command(&[&["onboard", "--non-interactive", "--accept-risk", "--auth-choice", "openai-codex"][..], QUIET, extra].concat());
    cmd.env("OPENCLAW_CODEX_AUTH_BASE_URL", fake.base()).env("OPENCLAW_CODEX_CALLBACK_PORT", &port);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start onboard");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Signin { child, lines, reader, seen: Vec::new(), callback_port }
}

impl Signin {
    /// The authorize URL onboarding printed.
    fn authorize_url(&mut self, fake: &FakeOAuth) -> String {
        let until = Instant::now() + WAIT;
        let prefix = format!("{}/oauth/authorize?", fake.base());
        while Instant::now() < until {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                self.seen.push(line.clone());
                if let Some(at) = line.find(&prefix) {
                    return line[at..].trim().to_string();
                }
            }
        }
        panic!("no authorize URL printed: {:?}", self.seen);
    }

    fn paste(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(format!("{text}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) -> Output {
        drop(self.child.stdin.take());
        let until = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < until, "onboard did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut out = wait(self.child);
        let _ = self.reader.join();
        self.seen.extend(self.lines.try_iter());
        out.stdout = self.seen.join("\n") + &out.stdout;
        out
    }
}

/// A GET with a real HTTP/1.1 request; the status line, headers and body.
fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let authority = authority.replace("localhost", "127.0.0.1");
    let mut s = TcpStream::connect(&authority).unwrap_or_else(|e| panic!("{authority}: {e}"));
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

/// The browser: follows the authorize URL to the redirect's Location.
fn browser_sign_in(authorize: &str) -> String {
    let (status, text) = http_get(authorize);
    assert_eq!(status, 302, "{text}");
    text.lines().find_map(|l| l.strip_prefix("Location: ")).expect("a Location").trim().to_string()
}

fn store(h: &Home) -> Value {
    let path = h.state().join("agents/main/agent/auth-profiles.json");
    assert_eq!(mode(&path), 0o600);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn assert_signed_in(h: &Home, fake: &FakeOAuth, out: &Output) {
    assert_eq!(out.code, 0, "{}", out.all());
    let p = &store(h)["profiles"]["openai-codex:default"];
    assert_eq!((&p["type"], &p["provider"], &p["accountId"]), (&json!("oauth"), &json!("openai-codex"), &json!(fake_oauth::ACCOUNT)));
    let access = p["access"].as_str().unwrap();
    assert_eq!(openclaw::auth::codex::account_id(access).as_deref(), Some(fake_oauth::ACCOUNT));
    assert!(p["refresh"].as_str().unwrap().starts_with("rt_fake_"));
    let expires = p["expires"].as_u64().unwrap();
    assert!(expires > openclaw::now_ms() + 3_000_000, "{expires}");
    assert!(!out.all().contains(access), "the token is never printed");
    let c = config(h);
    assert_eq!(c["auth"]["profiles"]["openai-codex:default"], json!({"provider": "openai-codex", "mode": "oauth"}));
    assert_eq!(c["agents"]["defaults"]["model"], "openai-codex/gpt-5.2");
    let exchange = fake.seen().into_iter().find(|s| s.param("grant_type") == Some("authorization_code")).expect("a code exchange");
    assert!(exchange.param("code_verifier").is_some_and(|v| v.len() == 43));
}

#[test]
fn codex_sign_in_through_the_callback() {
    let fake = FakeOAuth::start();
    let h = Home::new("ob-codex-cb");
    let mut s = start_signin(&h, &fake, free_port(), &[]);
    let authorize = s.authorize_url(&fake);
    assert!(authorize.contains(&format!("redirect_uri=http%3A%2F%2Flocalhost%3A{}%2Fauth%2Fcallback", s.callback_port)), "{authorize}");
    // Another page's request with a wrong state is refused; waiting goes on.
    let (status, text) = http_get(&format!("http://127.0.0.1:{}/auth/callback?code=stolen&state=wrong", s.callback_port));
    assert!(status == 400 && text.ends_with("State mismatch"), "{text}");
    let (status, _) = http_get(&format!("http://127.0.0.1:{}/favicon.ico", s.callback_port));
    assert_eq!(status, 404);
    let redirect = browser_sign_in(&authorize);
    let (status, page) = http_get(&redirect);
    assert!(status == 200 && page.contains("Signed in"), "{page}");
    let out = s.finish();
    assert!(out.stdout.contains("Browser sign-in received."), "{}", out.stdout);
    assert_signed_in(&h, &fake, &out);
}

#[test]
fn codex_sign_in_by_pasting_the_redirect_url_when_the_port_is_taken() {
    let fake = FakeOAuth::start();
    let h = Home::new("ob-codex-paste");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = start_signin(&h, &fake, busy.local_addr().unwrap().port(), &[]);
    let authorize = s.authorize_url(&fake);
    let redirect = browser_sign_in(&authorize);
    s.paste("   ");
    s.paste("not a url");
    s.paste(&redirect);
    let out = s.finish();
    assert!(out.stdout.contains("Cannot listen on 127.0.0.1:"), "{}", out.stdout);
    assert!(out.stdout.contains("No authorization code in that"), "{}", out.stdout);
    assert_signed_in(&h, &fake, &out);
    drop(busy);
}

#[test]
fn codex_pasted_state_mismatch_is_refused() {
    let fake = FakeOAuth::start();
    let h = Home::new("ob-codex-state");
    let mut s = start_signin(&h, &fake, free_port(), &[]);
    let redirect = browser_sign_in(&s.authorize_url(&fake));
    let (head, _) = redirect.split_once("&state=").unwrap();
    s.paste(&format!("{head}&state=someone-elses"));
    let out = s.finish();
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("State mismatch") && out.stderr.contains("Nothing was saved"), "{}", out.stderr);
    assert!(!h.state().join("agents/main/agent/auth-profiles.json").exists());
    assert!(!h.config_path().exists());
    assert!(fake.seen().iter().all(|s| s.path != "/oauth/token"), "no code was exchanged");
    // Input that ends with no listener to wait on is an error too.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = start_signin(&h, &fake, busy.local_addr().unwrap().port(), &[]);
    let out = s.finish();
    assert!(out.code == 1 && out.stderr.contains("Standard input ended before the redirect URL was pasted"), "{}", out.all());
}

/// A home whose main agent has an OpenAI Codex profile expiring at `expires`.
fn codex_home(tag: &str, fake: &FakeOAuth, expires: u64, refresh: &str) -> Home {
    let mut h = Home::new(tag);
    h.set_env("OPENCLAW_CODEX_AUTH_BASE_URL", &fake.base());
    let profile = json!({"type": "oauth", "provider": "openai-codex", "access": fake_oauth::access_token(0), "refresh": refresh, "expires": expires, "accountId": fake_oauth::ACCOUNT});
    let dir = h.state().join("agents/main/agent");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("auth-profiles.json"), json!({"version": 1, "profiles": {"openai-codex:default": profile}}).to_string()).unwrap();
    h
}

fn loaded(h: &Home) -> (openclaw::config::model::Config, openclaw::paths::Env) {
    let env: openclaw::paths::Env = h.env.iter().cloned().chain([("HOME".to_string(), h.dir.path().display().to_string())]).collect();
    let l = openclaw::config::load(&h.paths(), &env, None).expect("config loads");
    (l.config, l.env)
}

#[test]
fn codex_tokens_are_refreshed_before_expiry_once_under_the_lock() {
    let fake = FakeOAuth::start();
    fake.allow_refresh("rt_seed");
    let h = codex_home("ob-refresh", &fake, openclaw::now_ms() + 60_000, "rt_seed");
    h.write_config(r#"{agents: {defaults: {model: "openai-codex/gpt-5.2"}}}"#);
    let (config, env) = loaded(&h);
    let old = fake_oauth::access_token(0);
    // Four turns at once: one refresh (the others wait for the lock, then see it done).
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (config, env) = (config.clone(), env.clone());
            std::thread::spawn(move || openclaw::agent::models::plan(&config, &env, "main"))
        })
        .collect();
    let keys: Vec<String> = threads.into_iter().map(|t| {
        let plan = t.join().unwrap();
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
        plan.endpoints[0].api_key.clone().unwrap()
    }).collect();
    assert!(keys.iter().all(|k| *k == keys[0] && *k != old), "one new token for all");
    let refreshes: Vec<_> = fake.seen().into_iter().filter(|s| s.param("grant_type") == Some("refresh_token")).collect();
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    assert_eq!(refreshes[0].param("refresh_token"), Some("rt_seed"));
    let p = &store(&h)["profiles"]["openai-codex:default"];
    assert_eq!(p["access"], keys[0].as_str());
    assert!(p["refresh"].as_str().unwrap().starts_with("rt_fake_") && p["expires"].as_u64().unwrap() > openclaw::now_ms() + 3_000_000);
    // Fresh tokens are used as they are.
    let _ = openclaw::agent::models::plan(&config, &env, "main");
    assert_eq!(fake.seen().iter().filter(|s| s.param("grant_type") == Some("refresh_token")).count(), 1);
    // A refresh the server refuses says how to sign in again.
    let dead = codex_home("ob-refresh-dead", &fake, openclaw::now_ms() - 1, "rt_revoked");
    dead.write_config(r#"{agents: {defaults: {model: "openai-codex/gpt-5.2"}}}"#);
    let (config, env) = loaded(&dead);
    let plan = openclaw::agent::models::plan(&config, &env, "main");
    assert!(plan.endpoints.is_empty());
    assert!(plan.problems[0].contains("invalid_grant") && plan.problems[0].contains("openclaw onboard --auth-choice openai-codex"), "{:?}", plan.problems);
}

#[test]
fn codex_chat_through_the_gateway_with_a_refreshed_sign_in() {
    let fake = FakeOAuth::start();
    fake.allow_refresh("rt_chat");
    let model = FakeModel::start();
    let mut h = codex_home("ob-codex-chat", &fake, openclaw::now_ms() + 1_000, "rt_chat");
    h.set_env("OPENCLAW_CODEX_BASE_URL", &format!("http://127.0.0.1:{}/backend-api", model.port()));
    h.set_env("DOCKER_HOST", "unix:///nonexistent/openclaw-onboard-test.sock");
    let token = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
    h.write_config(&format!(r#"{{gateway: {{mode: "local", auth: {{token: "{token}"}}}}, agents: {{defaults: {{model: "openai-codex/gpt-5.2"}}}}}}"#));
    let gw = GatewayProc::start(&h, &[]);
    let url = format!("ws://127.0.0.1:{}", gw.port);
    let out = h.run(&["agent", "--message", "hi codex", "--url", &url, "--token", token]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout.trim(), "You said: hi codex");
    let seen = model.requests().pop().unwrap();
    assert_eq!(seen.path, "/backend-api/codex/responses");
    assert_eq!(seen.header("chatgpt-account-id"), Some(fake_oauth::ACCOUNT));
    let access = store(&h)["profiles"]["openai-codex:default"]["access"].as_str().unwrap().to_string();
    assert_ne!(access, fake_oauth::access_token(0), "refreshed before use");
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {access}").as_str()));
    assert_eq!(seen.body["model"], "gpt-5.2");
}
