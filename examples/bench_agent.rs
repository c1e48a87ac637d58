//! Agent turn figures for `scripts/bench-agent.sh` (a benchmark, not a test).
//!
//! Starts the fake model (instant answers) and a gateway whose agent uses it,
//! then runs turns through the production WebSocket client:
//! - `exec: true` turns (one tool call, two model calls): total time per turn
//!   as the client sees it, the model and tool time the gateway measured
//!   (`status` → `agent`), and the rest — the gateway's own share;
//! - plain text turns (one model call), the same split;
//! - resident memory before and after 1,000 more sessions sit idle.
//!
//! Usage: bench_agent <openclaw binary> <state dir> <port> <host|sandbox> [turns]

#[path = "../tests/fake_model.rs"]
#[allow(dead_code)]
mod fake_model;

#[path = "common/mod.rs"]
mod common;
use common::{rss_kib};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openclaw::gateway::client::{Client, Options};
use serde_json::{Value, json};

const TOKEN: &str = "bench0123456789abcdef0123456789abcdef";

fn connect(port: u16) -> Client {
    let opts = Options {
        url: format!("ws://127.0.0.1:{port}"),
        token: Some(TOKEN.into()),
        password: None,
        timeout: Duration::from_secs(120),
        scopes: vec!["operator.admin".into()],
        device: None,
    };
    Client::connect(&opts).expect("connect")
}

/// One turn; returns when its final event arrives.
fn turn(c: &mut Client, session: &str, message: &str) {
    let r = c.call("chat.send", json!({"sessionKey": session, "message": message})).expect("chat.send");
    let run = r["runId"].as_str().unwrap().to_string();
    loop {
        let ev = c.next_event().expect("event");
        let p = &ev["payload"];
        if ev["event"] == "chat" && p["runId"] == run.as_str() {
            match p["state"].as_str() {
                Some("final") => return,
                Some("error") | Some("aborted") => panic!("turn failed: {p}"),
                _ => {}
            }
        }
    }
}

fn agent_timing(c: &mut Client) -> (f64, f64, u64) {
    let s: Value = c.call("status", json!({})).expect("status");
    let a = &s["agent"];
    (a["modelUs"].as_f64().unwrap_or(0.0), a["toolUs"].as_f64().unwrap_or(0.0), a["turns"].as_u64().unwrap_or(0))
}

fn measure(c: &mut Client, label: &str, session: &str, message: &str, n: usize) {
    turn(c, session, message); // warm: container, workspace, connections
    let (m0, t0, _) = agent_timing(c);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        turn(c, session, message);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (m1, t1, _) = agent_timing(c);
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let total: f64 = times.iter().sum::<f64>() / n as f64;
    let model = (m1 - m0) / 1000.0 / n as f64;
    let tool = (t1 - t0) / 1000.0 / n as f64;
    println!(
        "  {label:<34} total {total:7.2} ms (p50 {:6.2})  model {model:6.2}  tool {tool:6.2}  own share {:6.2} ms",
        times[n / 2],
        total - model - tool
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bin, state, port, mode) = (&args[1], &args[2], args[3].parse::<u16>().unwrap(), args[4].as_str());
    let n: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(50);
    let fake = fake_model::FakeModel::start();
    let sandbox = if mode == "sandbox" {
        r#"sandbox: { mode: "all", scope: "agent", docker: { containerPrefix: "openclaw-bench-agent-" } },"#
    } else {
        r#"sandbox: { mode: "off" },"#
    };
    std::fs::write(
        format!("{state}/openclaw.json"),
        format!(
            r#"{{ gateway: {{ mode: "local", auth: {{ token: "{TOKEN}" }} }},
  models: {{ providers: {{ fake: {{ baseUrl: "{}", apiKey: "k", api: "openai-completions", models: [{{ id: "m" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/m", {sandbox} }} }} }}"#,
            fake.openai_base()
        ),
    )
    .unwrap();
    let mut gw: Child = Command::new(bin)
        .args(["gateway", "--port", &port.to_string()])
        .env("OPENCLAW_STATE_DIR", state)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the gateway");
    let mut line = String::new();
    BufReader::new(gw.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let out = gw.stdout.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(out).lines() {});
    let mut c = connect(port);

    println!("agent turns ({mode} exec, instant fake model, {n} turns each, one client):");
    measure(&mut c, "text reply (1 model call)", "agent:main:bench-text", "hello", n);
    measure(&mut c, "exec true (2 model calls + exec)", "agent:main:bench-exec", "exec: true", n);

    let pid = gw.id();
    let before = rss_kib(pid);
    let sessions = 1000;
    for i in 0..sessions {
        turn(&mut c, &format!("agent:main:idle-{i}"), "hi");
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = rss_kib(pid);
    println!(
        "  RSS {:.2} MiB before, {:.2} MiB after {sessions} more sessions: {:.1} KiB per idle session",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / sessions as f64
    );
    c.close();
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = gw.wait();
}
