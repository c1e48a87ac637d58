//! Discord figures for `scripts/bench-discord.sh` (a benchmark, not a test).
//!
//! Starts the fake model (instant answers), the fake Discord and a gateway
//! without channels, then through config reloads:
//! - resident memory with no account, 1 connected account and 10;
//! - message-in → reply-out latency with one account: from the fake
//!   dispatching a MESSAGE_CREATE on the Gateway socket to the bot's reply
//!   arriving at the fake's `POST /channels/{id}/messages` (median, p95);
//! - baselines: one raw round trip to the fake model (the turn's model call,
//!   streamed) and one to the fake Discord's message endpoint, each on a new
//!   connection as the gateway makes them.
//!
//! Usage: bench_discord <openclaw binary> <state dir> <port> [messages]

#[path = "../tests/fake_discord.rs"]
#[allow(dead_code)]
mod fake_discord;
#[path = "../tests/fake_model.rs"]
#[allow(dead_code)]
mod fake_model;

#[path = "common/mod.rs"]
mod common;
use common::{median_p95, rss_kib, start_gateway};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use fake_discord::{FakeDiscord, TOKEN};
use fake_model::FakeModel;

const GW_TOKEN: &str = "bench0123456789abcdef0123456789abcdef";
const WAIT: Duration = Duration::from_secs(60);

/// RSS after the gateway has settled for a moment.
fn settled_rss(pid: u32) -> u64 {
    std::thread::sleep(Duration::from_millis(1500));
    rss_kib(pid)
}

fn token(i: usize) -> String {
    if i == 0 { TOKEN.to_string() } else { format!("bench-account-{i}.fake.token") }
}

/// The config with `accounts` Discord accounts (0: no channels at all).
fn write_config(state: &str, model: &FakeModel, fake: &FakeDiscord, accounts: usize) {
    let channels = match accounts {
        0 => String::new(),
        n => {
            let named: Vec<String> = (1..n).map(|i| format!(r#"a{i}: {{ token: "{}", allowFrom: ["42"] }}"#, token(i))).collect();
            format!(
                r#"channels: {{ discord: {{ apiBaseUrl: "{}", token: "{TOKEN}", allowFrom: ["42"], accounts: {{ {} }} }} }},"#,
                fake.api_base(),
                named.join(", ")
            )
        }
    };
    let text = format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ token: "{GW_TOKEN}" }} }},
  models: {{ providers: {{ fake: {{ baseUrl: "{}", apiKey: "k", api: "openai-completions", models: [{{ id: "m" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/m", sandbox: {{ mode: "off" }} }} }},
  {channels} }}"#,
        model.openai_base()
    );
    let path = format!("{state}/openclaw.json");
    std::fs::write(format!("{path}.tmp"), text).unwrap();
    std::fs::rename(format!("{path}.tmp"), path).unwrap();
}

/// Milliseconds of one HTTP exchange on a new connection.
fn round_trip(port: u16, request: &str) -> f64 {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert!(out.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&out));
    started.elapsed().as_secs_f64() * 1000.0
}

fn post(path: &str, auth: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bin, state, port) = (&args[1], &args[2], args[3].parse::<u16>().unwrap());
    let n: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(50);
    let model = FakeModel::start();
    let fake = FakeDiscord::start();
    for i in 1..10 {
        fake.accept_token(&token(i));
    }
    write_config(state, &model, &fake, 0);
    let mut gw = start_gateway(bin, state, port, &[], &[("OPENCLAW_GATEWAY_TEST_RELOAD_MS", "200")]);
    let pid = gw.id();

    let none = settled_rss(pid);
    write_config(state, &model, &fake, 1);
    assert!(fake.wait_for(WAIT, |v| v.live_sessions() == 1), "the account never connected");
    let one = settled_rss(pid);
    write_config(state, &model, &fake, 10);
    assert!(fake.wait_for(WAIT, |v| v.live_sessions() == 10), "not all 10 accounts connected");
    let ten = settled_rss(pid);
    let mib = |k: u64| k as f64 / 1024.0;
    println!("resident memory of the gateway (idle, connected Discord accounts against the fake):");
    println!("  no account   {:6.2} MiB", mib(none));
    println!("  1 account    {:6.2} MiB  (+{} KiB)", mib(one), one.saturating_sub(none));
    println!("  10 accounts  {:6.2} MiB  (+{} KiB, {:.0} KiB per account)", mib(ten), ten.saturating_sub(none), ten.saturating_sub(none) as f64 / 10.0);

    // Latency with one account (the others are stopped by the reload).
    write_config(state, &model, &fake, 1);
    assert!(fake.wait_for(WAIT, |v| v.live_sessions() == 1 && v.connections() == 1), "back to one account");
    let mut times = Vec::with_capacity(n);
    let mut to_typing = Vec::with_capacity(n);
    for i in 0..=n {
        let before = fake.sent().len();
        let typed = fake.count("POST /channels/5000/typing");
        let started = Instant::now();
        assert_eq!(fake.dm("5000", "42", "bench", &format!("ping {i}")), 1);
        assert!(fake.wait_for(WAIT, |v| v.sent() > before), "no reply to message {i}");
        if i > 0 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            // The hub's typing indicator marks the start of the agent turn.
            let typing = fake.requests().into_iter().filter(|r| r.path == "/channels/5000/typing").nth(typed);
            if let Some(r) = typing {
                to_typing.push(r.at.saturating_duration_since(started).as_secs_f64() * 1000.0);
            }
        }
    }
    let after = rss_kib(pid);
    let (p50, p95) = median_p95(times);
    let (t50, t95) = median_p95(to_typing);
    println!("message in → reply out, one account, instant fake model, {n} messages:");
    println!("  median {p50:6.2} ms   p95 {p95:6.2} ms   (RSS after: {:.2} MiB)", mib(after));
    println!("  of which message in → typing request in (the turn has started): median {t50:6.2} ms   p95 {t95:6.2} ms");

    let chat = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"ping"}]}"#;
    let model_req = post("/v1/chat/completions", "Authorization: Bearer k\r\n", chat);
    let discord_req = post("/api/v10/channels/5001/messages", &format!("Authorization: Bot {TOKEN}\r\n"), r#"{"content":"pong","allowed_mentions":{"parse":[]}}"#);
    let model_rt: Vec<f64> = (0..n).map(|_| round_trip(model.port(), &model_req)).collect();
    let discord_rt: Vec<f64> = (0..n).map(|_| round_trip(fake.port(), &discord_req)).collect();
    let ((m50, m95), (d50, d95)) = (median_p95(model_rt), median_p95(discord_rt));
    println!("baselines (one raw exchange each, new connection, {n} times):");
    println!("  fake model chat completion (streamed)    median {m50:6.2} ms   p95 {m95:6.2} ms");
    println!("  fake Discord POST /channels/…/messages   median {d50:6.2} ms   p95 {d95:6.2} ms");
    println!("  sum of the two medians                   {:6.2} ms", m50 + d50);

    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = gw.wait();
}
