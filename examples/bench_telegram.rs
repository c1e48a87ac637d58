//! Telegram figures for `scripts/bench-telegram.sh` (a benchmark, not a test).
//!
//! Starts the fake model (instant answers), the fake Bot API and a gateway,
//! then measures:
//! - resident memory of the gateway with no bot, then 1 and 10 connected
//!   accounts (added through config reloads, each one polling the fake);
//! - message-in → reply-out latency: from queuing a private message at the
//!   fake to the fake receiving the bot's `sendMessage` (long poll, hub, agent
//!   turn with the instant model, transcript fsyncs, send), median and p95;
//! - two baselines beside it: the same agent turn asked over the gateway's
//!   WebSocket (`chat.send` until the final event), so the difference is what
//!   the Telegram path adds; and the fake's raw round trip (a bare client in
//!   this process long-polls `getUpdates`, then calls `sendMessage`).
//!
//! Usage: bench_telegram <openclaw binary> <state dir> <port> [messages]

#[path = "../tests/fake_model.rs"]
#[allow(dead_code)]
mod fake_model;
#[path = "../tests/fake_telegram.rs"]
#[allow(dead_code)]
mod fake_telegram;

#[path = "common/mod.rs"]
mod common;
use common::{median_p95, rss_kib, start_gateway};
use std::process::Command;
use std::time::{Duration, Instant};

use fake_telegram::{FakeTelegram, private_text};
use openclaw::gateway::client::{Client, Options};
use serde_json::{Value, json};

const TOKEN: &str = "benchtg0123456789abcdef0123456789abcdef";
const WAIT: Duration = Duration::from_secs(30);

fn bot_token(i: usize) -> String {
    format!("{}:bench-bot-{i}", 1000 + i)
}

/// The config with `accounts` Telegram bots (the first is the default account).
fn write_config(state: &str, model: &str, tg: &str, accounts: usize) {
    let telegram = if accounts == 0 {
        String::new()
    } else {
        let named: Vec<String> = (1..accounts).map(|i| format!("a{i}: {{ botToken: \"{}\" }}", bot_token(i))).collect();
        format!(
            r#"channels: {{ telegram: {{ apiBaseUrl: "{tg}", botToken: "{}", allowFrom: ["42"], accounts: {{ {} }} }} }},"#,
            bot_token(0),
            named.join(", ")
        )
    };
    let text = format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ token: "{TOKEN}" }} }},
  models: {{ providers: {{ fake: {{ baseUrl: "{model}", apiKey: "k", api: "openai-completions", models: [{{ id: "m" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/m" }} }},
  {telegram} }}"#
    );
    // Atomic, so the gateway's reload never reads half a file.
    let tmp = format!("{state}/openclaw.json.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, format!("{state}/openclaw.json")).unwrap();
}

/// Waits until every one of the first `n` bots is long-polling.
fn wait_polling(tg: &FakeTelegram, n: usize) {
    let until = Instant::now() + WAIT;
    while !(0..n).all(|i| !tg.calls(&bot_token(i), "getUpdates").is_empty()) {
        assert!(Instant::now() < until, "the bots did not connect");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
}

fn report(label: &str, ms: Vec<f64>) {
    let (median, p95) = median_p95(ms);
    println!("  {label:<44} median {median:7.2} ms   p95 {p95:7.2} ms");
}

/// Agent turns over the gateway's WebSocket, from `chat.send` to the final event.
fn websocket_turns(port: u16, n: usize) -> Vec<f64> {
    let opts = Options {
        url: format!("ws://127.0.0.1:{port}"),
        token: Some(TOKEN.into()),
        password: None,
        timeout: WAIT,
        scopes: vec!["operator.admin".into()],
        device: None,
    };
    let mut c = Client::connect(&opts).expect("connect to the gateway");
    let mut times = Vec::with_capacity(n);
    for i in 0..=n {
        let started = Instant::now();
        let r = c.call("chat.send", json!({"sessionKey": "agent:main:bench-ws", "message": format!("ping {i}")})).expect("chat.send");
        let run = r["runId"].as_str().unwrap_or_default().to_string();
        loop {
            let ev = c.next_event().expect("event");
            let p = &ev["payload"];
            if ev["event"] == "chat" && p["runId"] == run.as_str() && p["state"] == "final" {
                break;
            }
        }
        if i > 0 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    c.close();
    times
}

/// The raw hop: a bare client long-polls, gets the message, answers it.
fn baseline(tg: &FakeTelegram, n: usize) -> Vec<f64> {
    let token = "9999:baseline";
    tg.add_bot(token, 9999, "baseline_bot");
    let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let call = |method: &str, body: &Value| -> Value {
        let r = agent.post(&format!("{}/bot{token}/{method}", tg.base())).header("content-type", "application/json").send(body.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&r.into_body().read_to_vec().unwrap()).unwrap()
    };
    let mut offset = 0i64;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let (pushed, done) = std::thread::scope(|s| {
            // Queued while the poll already waits, as in the gateway case.
            let pusher = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                let at = Instant::now();
                tg.push(token, private_text(42, "Ann", &format!("ping {i}")));
                at
            });
            let v = call("getUpdates", &json!({"offset": offset, "timeout": 25}));
            offset = v["result"][0]["update_id"].as_i64().unwrap() + 1;
            call("sendMessage", &json!({"chat_id": 42, "text": "pong", "parse_mode": "HTML"}));
            (pusher.join().unwrap(), Instant::now())
        });
        times.push((done - pushed).as_secs_f64() * 1000.0);
    }
    times
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bin, state, port) = (&args[1], &args[2], args[3].parse::<u16>().unwrap());
    let n: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(50);
    let model = fake_model::FakeModel::start();
    let tg = FakeTelegram::start();
    for i in 0..10 {
        tg.add_bot(&bot_token(i), 1000 + i as i64, &format!("bench_{i}_bot"));
    }
    write_config(state, &model.openai_base(), &tg.base(), 0);
    let mut gw = start_gateway(bin, state, port, &[], &[("OPENCLAW_GATEWAY_TEST_RELOAD_MS", "100")]);
    let pid = gw.id();

    std::thread::sleep(Duration::from_millis(500));
    let rss0 = rss_kib(pid);
    write_config(state, &model.openai_base(), &tg.base(), 1);
    wait_polling(&tg, 1);
    let rss1 = rss_kib(pid);
    write_config(state, &model.openai_base(), &tg.base(), 10);
    wait_polling(&tg, 10);
    let rss10 = rss_kib(pid);
    println!("gateway resident memory (fake Bot API over plain HTTP on loopback):");
    println!("  no bot                                       {:7.2} MiB", rss0 as f64 / 1024.0);
    println!(
        "  1 connected account                          {:7.2} MiB  (+{} KiB)",
        rss1 as f64 / 1024.0,
        rss1.saturating_sub(rss0)
    );
    println!(
        "  10 connected accounts                        {:7.2} MiB  (+{} KiB, {:.0} KiB per account; {:.0} KiB per account after the first)",
        rss10 as f64 / 1024.0,
        rss10.saturating_sub(rss0),
        rss10.saturating_sub(rss0) as f64 / 10.0,
        rss10.saturating_sub(rss1) as f64 / 9.0
    );

    // Latency: one message at a time from the allowed user to the default bot.
    let bot = bot_token(0);
    let mut times = Vec::with_capacity(n);
    for i in 0..=n {
        // Let the driver's next long poll reach the fake first.
        std::thread::sleep(Duration::from_millis(20));
        let sent_before = tg.sent(&bot).len();
        let started = Instant::now();
        tg.push(&bot, private_text(42, "Ann", &format!("ping {i}")));
        let sent = tg.wait_sent(&bot, sent_before + 1, WAIT);
        assert!(sent.len() > sent_before, "no reply to message {i}");
        if i > 0 {
            // The first one creates the session: not counted.
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!("message in → reply out ({n} messages, instant fake model, one at a time):");
    report("gateway (poll, hub, agent turn, sendMessage)", times);
    report("baseline: the same turn over WebSocket", websocket_turns(port, n));
    report("baseline: bare client getUpdates + sendMessage", baseline(&tg, n));
    let rss_end = rss_kib(pid);
    println!("  RSS after the messages: {:.2} MiB", rss_end as f64 / 1024.0);
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = gw.wait();
}
