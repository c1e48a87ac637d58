//! The Discord driver end to end: the real gateway binary with a Discord
//! account pointed at the fake Discord (REST and Gateway WebSocket on
//! 127.0.0.1, `tests/fake_discord.rs`), the fake model behind the agent, and
//! the real CLI for pairing and status.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_discord::{BOT_ID, BOT_NAME, FakeDiscord, Inject, Sent, TOKEN};
use crate::fake_model::FakeModel;
use crate::util::{GatewayProc, Home, Output};

const GW_TOKEN: &str = "7c2e9a41d0b35f86e1a94c07b2d5e8f3a6c19d04e7b2a5f8c1d4e7a0b3c6f9d2";
const WAIT: Duration = Duration::from_secs(20);

/// A running bot. Fields drop in order: the gateway first, then the fakes.
struct Bot {
    gw: GatewayProc,
    home: Home,
    model: FakeModel,
    fake: FakeDiscord,
}

/// The config: the fake model as the agent's model, and a Discord account
/// on `fake` with `discord` (JSON5 members) added.
fn config(model: &FakeModel, fake: &FakeDiscord, discord: &str) -> String {
    format!(
        r#"{{
  gateway: {{ mode: "local", auth: {{ token: "{GW_TOKEN}" }} }},
  models: {{ providers: {{ fake: {{ baseUrl: "{}", apiKey: "sk-test", api: "openai-completions", models: [{{ id: "m" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/m" }} }},
  channels: {{ discord: {{ apiBaseUrl: "{}", {discord} }} }},
}}"#,
        model.openai_base(),
        fake.api_base()
    )
}

/// Starts the fakes and a gateway whose Discord account uses `discord`
/// (e.g. `token: "…", allowFrom: ["42"]`); `prepare` runs before the start.
fn start(tag: &str, discord: &str, prepare: impl FnOnce(&FakeDiscord)) -> Bot {
    let fake = FakeDiscord::start();
    prepare(&fake);
    let model = FakeModel::start();
    let mut home = Home::new(tag);
    home.write_config(&config(&model, &fake, discord));
    home.set_env("DOCKER_HOST", "unix:///nonexistent/openclaw-discord-test.sock");
    home.set_env("OPENCLAW_GATEWAY_TEST_RELOAD_MS", "100");
    let gw = GatewayProc::start(&home, &[]);
    Bot { gw, home, model, fake }
}

/// A connected bot that takes DMs and mentions from user 42.
fn ready(tag: &str) -> Bot {
    let b = start(tag, &format!(r#"token: "{TOKEN}", allowFrom: ["42"]"#), |_| {});
    assert!(b.fake.wait_ready(WAIT), "the bot never identified");
    b
}

impl Bot {
    fn cli(&self, args: &[&str]) -> Output {
        let mut c = self.home.command(args);
        c.env("OPENCLAW_GATEWAY_PORT", self.gw.port.to_string());
        crate::util::output(c)
    }

    /// `channels status --json` through the gateway: the Discord account's row.
    fn status(&self, probe: bool) -> Value {
        let mut args = vec!["channels", "status", "--json"];
        if probe {
            args.push("--probe");
        }
        let out = self.cli(&args);
        assert_eq!(out.code, 0, "{}", out.all());
        let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
        v["channelAccounts"]["discord"][0].clone()
    }

    /// Polls the status until `pred` holds; the last row.
    fn wait_status(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let row = self.status(false);
            if pred(&row) || Instant::now() > deadline {
                return row;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for `n` sent messages; the `n`-th.
    fn reply(&self, n: usize) -> Sent {
        let sent = self.fake.wait_sent(n, WAIT);
        assert!(sent.len() >= n, "reply {n} never came; sent: {:?}", sent.iter().map(|s| s.content().to_string()).collect::<Vec<_>>());
        sent[n - 1].clone()
    }

    fn healthz(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.gw.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.starts_with("HTTP/1.1 200")
    }
}

/// The pairing code in a pairing message.
fn code_in(text: &str) -> String {
    text.lines().find_map(|l| l.strip_prefix("Pairing code: ")).unwrap_or_else(|| panic!("no code in {text:?}")).trim().to_string()
}

#[test]
fn unknown_dm_gets_a_pairing_code_and_after_approval_the_agent_answers() {
    let b = start("dc-pair", &format!(r#"token: "{TOKEN}""#), |_| {});
    assert!(b.fake.wait_ready(WAIT));
    assert_eq!(b.fake.dm("3001", "42", "alice", "hello there"), 1);
    let first = b.reply(1);
    assert_eq!(first.channel_id, "3001");
    let text = first.content();
    assert!(text.contains("Your Discord user id: 42"), "{text}");
    let code = code_in(text);
    assert!(text.contains(&format!("openclaw pairing approve discord {code}")), "{text}");
    assert!(first.body.get("message_reference").is_none(), "DM answers are not replies");
    assert_eq!(first.body["allowed_mentions"], json!({"parse": []}));
    // The same sender again: no second code, and still no agent turn.
    b.fake.dm("3001", "42", "alice", "hello again");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.fake.sent().len(), 1);
    assert_eq!(b.model.count(), 0, "an unknown sender's message never reaches the model");

    let list = b.cli(&["pairing", "list", "discord", "--json"]);
    assert!(list.stdout.contains(&code), "{}", list.all());
    let out = b.cli(&["pairing", "approve", "discord", &code]);
    assert_eq!(out.code, 0, "{}", out.all());
    b.fake.dm("3001", "42", "alice", "what is up");
    let reply = b.reply(2);
    assert_eq!(reply.content(), "You said: what is up");
    assert_eq!(reply.channel_id, "3001");
    assert!(b.fake.typing().iter().any(|c| c == "3001"), "typing was shown while the agent worked");
    // Sends carried the bot token; status shows the bot and no error.
    assert!(b.fake.requests().iter().filter(|r| r.path.starts_with("/channels/")).all(|r| r.auth.as_deref() == Some(&format!("Bot {TOKEN}"))));
    let row = b.status(true);
    assert_eq!(row["connected"], true, "{row}");
    assert_eq!(row["bot"]["id"], BOT_ID, "{row}");
    assert_eq!(row["lastError"], Value::Null, "{row}");
    assert_eq!(row["probe"]["ok"], true, "{row}");
    assert_eq!(row["probe"]["bot"]["username"], BOT_NAME, "{row}");
    // The identify asked for the message content intent.
    let id = &b.fake.identifies()[0];
    assert_eq!(id["token"], TOKEN);
    assert_eq!(id["intents"], (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15));
}

#[test]
fn long_replies_are_split_at_2000_characters() {
    let b = ready("dc-long");
    b.fake.dm("3002", "42", "alice", "big 5000");
    b.reply(3);
    std::thread::sleep(Duration::from_millis(300));
    let sent = b.fake.sent();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent.iter().all(|s| s.content().chars().count() <= 2000));
    let whole: String = sent.iter().map(|s| s.content()).collect();
    assert_eq!(whole.len(), 5000);
    assert!(whole.starts_with("abcdefghij"));
}

#[test]
fn group_messages_need_a_mention_from_an_allowed_sender() {
    let b = ready("dc-group");
    b.fake.guild("7001", "4001", "42", "alice", "no mention here", false);
    b.fake.guild("7001", "4001", "99", "mallory", "I am not allowed", true);
    b.fake.guild("7001", "4001", "42", "alice", "hi bot", true);
    let reply = b.reply(1);
    assert_eq!(reply.channel_id, "4001");
    assert_eq!(reply.content(), "You said: alice: hi bot", "the mention is stripped; the sender is named");
    assert!(reply.body["message_reference"]["message_id"].as_str().is_some_and(|id| !id.is_empty()), "{}", reply.body);
    assert_eq!(reply.body["allowed_mentions"], json!({"parse": []}));
    // A reply to one of the bot's messages counts as a mention.
    let mut d = b.fake.message("4001", Some("7001"), "42", "alice", "and this?");
    d["type"] = json!(19);
    d["referenced_message"] = json!({"id": "1", "channel_id": "4001", "content": "x", "author": {"id": BOT_ID, "username": BOT_NAME, "bot": true}});
    b.fake.dispatch("MESSAGE_CREATE", d);
    assert_eq!(b.reply(2).content(), "You said: alice: and this?");
    // The bot's own messages are never answered.
    b.fake.dispatch("MESSAGE_CREATE", b.fake.message("4001", Some("7001"), BOT_ID, BOT_NAME, &format!("<@{BOT_ID}> echo")));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.fake.sent().len(), 2);
    assert_eq!(b.model.count(), 2);
}

#[test]
fn two_accounts_run_side_by_side_with_their_own_tokens() {
    let second = "MTExMTExMTExMTExMTExMTEx.fake.second-account";
    let b = start(
        "dc-two",
        &format!(r#"token: "{TOKEN}", allowFrom: ["42"], accounts: {{ work: {{ token: "{second}", allowFrom: ["42"] }} }}"#),
        |f| f.accept_token(second),
    );
    assert!(b.fake.wait_for(WAIT, |v| v.live_sessions() == 2), "both accounts connect");
    assert_eq!(b.fake.dm("3010", "42", "alice", "to both"), 2);
    b.reply(2);
    let auths: Vec<String> = b.fake.requests().iter().filter(|r| r.path == "/channels/3010/messages").filter_map(|r| r.auth.clone()).collect();
    assert!(auths.contains(&format!("Bot {TOKEN}")) && auths.contains(&format!("Bot {second}")), "{auths:?}");
    let out = b.cli(&["channels", "status", "--json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = v["channelAccounts"]["discord"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{v}");
    assert!(rows.iter().all(|r| r["connected"] == true), "{v}");
}

#[test]
fn bad_token_shows_a_clear_status_error() {
    let b = start("dc-badtoken", r#"token: "not-the-token""#, |_| {});
    let row = b.wait_status(|r| r["lastError"].as_str().is_some_and(|e| e.contains("rejected")));
    let e = row["lastError"].as_str().unwrap_or_default();
    assert!(e.contains("Discord rejected the bot token (401 Unauthorized)"), "{row}");
    assert!(e.contains("channels.discord.token") && e.contains("DISCORD_BOT_TOKEN"), "{row}");
    assert!(!e.contains("not-the-token"), "the token is never shown");
    assert_eq!(row["connected"], false);
    let row = b.status(true);
    assert_eq!(row["probe"]["ok"], false, "{row}");
    assert!(row["probe"]["error"].as_str().unwrap_or_default().contains("401"), "{row}");
    // A slow retry: not a loop of requests.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(b.fake.count("GET /gateway/bot"), 1);
}

#[test]
fn gateway_close_4004_and_4014_name_the_fix() {
    let b = start("dc-close", &format!(r#"token: "{TOKEN}""#), |f| f.close_identify_with(Some(4004)));
    let row = b.wait_status(|r| r["lastError"].as_str().is_some_and(|e| e.contains("4004")));
    let e = row["lastError"].as_str().unwrap_or_default();
    assert!(e.contains("Discord rejected the bot token (Gateway close 4004: authentication failed)"), "{row}");
    assert!(e.contains("channels.discord.token"), "{row}");
    // A config change restarts the account; now the intents are refused.
    b.fake.close_identify_with(Some(4014));
    b.home.write_config(&config(&b.model, &b.fake, &format!(r#"token: "{TOKEN}", allowFrom: ["7"]"#)));
    let row = b.wait_status(|r| r["lastError"].as_str().is_some_and(|e| e.contains("4014")));
    let e = row["lastError"].as_str().unwrap_or_default();
    assert!(e.contains("Message Content Intent") && e.contains("Developer Portal"), "{row}");
    assert_eq!(b.fake.identifies().len(), 2, "fatal closes are not retried at once");
}

#[test]
fn a_dropped_socket_and_op_7_resume_the_session() {
    let b = ready("dc-resume");
    b.fake.dm("3003", "42", "alice", "one");
    assert_eq!(b.reply(1).content(), "You said: one");
    // READY was event 1 and the message event 2.
    let sessions = b.fake.session_ids();
    assert_eq!(sessions.len(), 1);
    b.fake.drop_all();
    assert!(b.fake.wait_for(WAIT, |v| v.live_sessions() == 0 || v.resumes() > 0));
    // Sent while the bot is away: replayed on resume.
    b.fake.dispatch_all_sessions("MESSAGE_CREATE", b.fake.message("3003", None, "42", "alice", "while away"));
    assert!(b.fake.wait_for(WAIT, |v| v.resumes() >= 1 && v.live_sessions() == 1), "no resume after the drop");
    let (resume, target) = b.fake.resumes()[0].clone();
    assert_eq!(resume["token"], TOKEN);
    assert_eq!(resume["session_id"], sessions[0].as_str(), "{resume}");
    assert_eq!(resume["seq"], 2, "{resume}");
    assert!(target.starts_with("/resume/?v=10&encoding=json"), "the resume_gateway_url was used: {target}");
    assert_eq!(b.reply(2).content(), "You said: while away");
    b.fake.dm("3003", "42", "alice", "two");
    assert_eq!(b.reply(3).content(), "You said: two");
    // Op 7: Discord asks for a reconnect.
    b.fake.send_op(json!({"op": 7, "d": null}));
    assert!(b.fake.wait_for(WAIT, |v| v.resumes() >= 2 && v.live_sessions() == 1), "no resume after op 7");
    b.fake.dm("3003", "42", "alice", "three");
    assert_eq!(b.reply(4).content(), "You said: three");
    assert_eq!(b.fake.identifies().len(), 1, "resumes never identify again");
    assert_eq!(b.status(false)["connected"], true);
}

#[test]
fn invalid_session_reidentifies_or_resumes_as_told() {
    let b = ready("dc-invalid");
    b.fake.send_op(json!({"op": 9, "d": false}));
    assert!(b.fake.wait_for(WAIT, |v| v.identifies() >= 2 && v.live_sessions() >= 1), "no new identify after op 9 false");
    assert_eq!(b.fake.resumes().len(), 0);
    b.fake.dm("3004", "42", "alice", "after invalid");
    assert_eq!(b.reply(1).content(), "You said: after invalid");
    b.fake.send_op(json!({"op": 9, "d": true}));
    assert!(b.fake.wait_for(WAIT, |v| v.resumes() >= 1 && v.live_sessions() >= 1), "no resume after op 9 true");
    assert_eq!(b.fake.identifies().len(), 2);
    b.fake.dm("3004", "42", "alice", "after resume");
    assert_eq!(b.reply(2).content(), "You said: after resume");
    // Close codes: 4000 resumes, 4009 (session timed out) starts anew.
    b.fake.close_all(4000);
    assert!(b.fake.wait_for(WAIT, |v| v.resumes() >= 2 && v.live_sessions() >= 1), "no resume after close 4000");
    b.fake.close_all(4009);
    assert!(b.fake.wait_for(WAIT, |v| v.identifies() >= 3 && v.live_sessions() >= 1), "no identify after close 4009");
    assert_eq!(b.fake.resumes().len(), 2);
}

#[test]
fn a_zombie_connection_without_heartbeat_acks_is_resumed() {
    let b = start("dc-zombie", &format!(r#"token: "{TOKEN}", allowFrom: ["42"]"#), |f| f.set_heartbeat_ms(400));
    assert!(b.fake.wait_ready(WAIT));
    assert!(b.fake.wait_for(WAIT, |v| v.heartbeats() >= 2), "heartbeats are sent every interval");
    b.fake.withhold_acks(true);
    assert!(b.fake.wait_for(WAIT, |v| v.resumes() >= 1), "the zombie connection was never replaced");
    b.fake.withhold_acks(false);
    assert!(b.fake.wait_for(WAIT, |v| v.live_sessions() == 1));
    b.fake.dm("3005", "42", "alice", "still there?");
    assert_eq!(b.reply(1).content(), "You said: still there?");
}

#[test]
fn rate_limits_and_server_errors_on_sends_are_waited_out() {
    let b = ready("dc-429");
    b.fake.inject("POST /channels/3006/messages", vec![Inject::RateLimit { secs: 1.0, global: false }, Inject::Status(502), Inject::Exhaust(1.0)]);
    b.fake.dm("3006", "42", "alice", "first");
    assert_eq!(b.reply(1).content(), "You said: first");
    b.fake.dm("3006", "42", "alice", "second");
    assert_eq!(b.reply(2).content(), "You said: second");
    let posts: Vec<Instant> = b.fake.requests().iter().filter(|r| r.method == "POST" && r.path == "/channels/3006/messages").map(|r| r.at).collect();
    assert_eq!(posts.len(), 4, "429, 502, ok (bucket emptied), ok");
    assert!(posts[1] - posts[0] >= Duration::from_millis(900), "retry_after 1.0 was honoured: {:?}", posts[1] - posts[0]);
    assert!(posts[2] - posts[1] >= Duration::from_millis(400), "a 502 backs off: {:?}", posts[2] - posts[1]);
    assert!(posts[3] - posts[2] >= Duration::from_millis(800), "X-RateLimit-Remaining 0 held the next send: {:?}", posts[3] - posts[2]);
}

#[test]
fn network_errors_back_off_and_recover() {
    let b = start("dc-backoff", &format!(r#"token: "{TOKEN}", allowFrom: ["42"]"#), |f| {
        f.inject("GET /gateway/bot", vec![Inject::Status(502), Inject::Drop, Inject::Malformed]);
    });
    assert!(b.fake.wait_ready(WAIT), "never recovered");
    let calls: Vec<Instant> = b.fake.requests().iter().filter(|r| r.path == "/gateway/bot").map(|r| r.at).collect();
    assert_eq!(calls.len(), 4, "one call per attempt, no hammering");
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_millis(400), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(900), "the wait grows: {gaps:?}");
    assert!(gaps[2] > gaps[0], "the wait grows: {gaps:?}");
    let row = b.wait_status(|r| r["connected"] == true);
    assert_eq!(row["lastError"], Value::Null, "{row}");
    b.fake.dm("3007", "42", "alice", "back");
    assert_eq!(b.reply(1).content(), "You said: back");
}

#[test]
fn malformed_gateway_input_never_crashes_the_gateway() {
    let b = ready("dc-malformed");
    b.fake.send_raw("{not json");
    b.fake.send_raw("[1, 2, 3]");
    b.fake.send_raw(r#"{"op": "zero"}"#);
    b.fake.send_raw(r#"{"op": 0, "t": "MESSAGE_CREATE", "d": {"author": 5, "content": ["x"]}}"#);
    b.fake.send_raw(r#"{"op": 0, "t": "READY", "d": null}"#);
    b.fake.send_raw(r#"{"op": 10, "d": {"heartbeat_interval": "soon"}}"#);
    b.fake.dm("3008", "42", "alice", "still fine");
    assert_eq!(b.reply(1).content(), "You said: still fine");
    assert!(b.healthz());
    // Broken frames: reserved bits, then a length of 2^40 bytes.
    b.fake.send_bytes(&[0xF1, 0x00]);
    assert!(b.fake.wait_for(WAIT, |v| v.resumes() >= 1 && v.live_sessions() == 1), "no reconnect after a broken frame");
    b.fake.send_bytes(&[0x81, 0x7F, 0, 0, 1, 0, 0, 0, 0, 0]);
    assert!(b.fake.wait_for(WAIT, |v| v.resumes() >= 2 && v.live_sessions() == 1), "no reconnect after an oversized frame");
    assert!(b.healthz());
    assert_eq!(b.fake.identifies().len(), 1, "the session survived all of it");
    b.fake.dm("3008", "42", "alice", "and now");
    assert_eq!(b.reply(2).content(), "You said: and now");
    // A malformed REST answer to a send is an error for that reply only.
    b.fake.inject("POST /channels/3008/messages", vec![Inject::Malformed]);
    b.fake.dm("3008", "42", "alice", "lost");
    b.fake.wait_for(WAIT, |v| v.count("POST /channels/3008/messages") >= 3);
    b.fake.dm("3008", "42", "alice", "after");
    assert_eq!(b.reply(3).content(), "You said: after");
    assert!(b.healthz());
}

#[test]
fn channels_add_while_the_gateway_runs_connects_without_a_restart() {
    let b = start("dc-add", "enabled: true", |_| {});
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.fake.count("GET /gateway/bot"), 0, "no token, no connection");
    let row = b.status(false);
    assert!(row["lastError"].as_str().unwrap_or_default().contains("openclaw channels add --channel discord --token"), "{row}");
    let out = b.cli(&["channels", "add", "--channel", "discord", "--token", TOKEN]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(b.fake.wait_ready(WAIT), "the new account never connected");
    let row = b.wait_status(|r| r["connected"] == true);
    assert_eq!(row["bot"]["username"], BOT_NAME, "{row}");
    let out = b.cli(&["channels", "remove", "--channel", "discord"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(b.fake.wait_for(WAIT, |v| v.connections() == 0), "removing the account closes its connection");
}

#[test]
fn attachments_are_fetched_into_the_media_store_within_the_cap() {
    let b = ready("dc-media");
    let url = b.fake.add_file("notes.txt", b"attached words".to_vec());
    let big = b.fake.add_file("huge.bin", vec![0u8; 16]);
    let mut d = b.fake.message("3009", None, "42", "alice", "see file");
    d["attachments"] = json!([
        {"id": "1", "filename": "notes.txt", "size": 14, "url": url, "proxy_url": url, "content_type": "text/plain"},
        {"id": "2", "filename": "huge.bin", "size": 6 * 1024 * 1024, "url": big, "proxy_url": big},
    ]);
    b.fake.dispatch("MESSAGE_CREATE", d);
    let reply = b.reply(1);
    let text = reply.content();
    assert!(text.starts_with("You said: see file"), "{text}");
    assert!(text.contains("[attachment huge.bin not received: larger than 5 MB]"), "{text}");
    let shown = text.split("[media attached: ").nth(1).and_then(|r| r.split(']').next()).unwrap_or_else(|| panic!("{text}"));
    assert!(shown.contains("media/inbound/notes"), "{shown}");
    assert_eq!(std::fs::read(shown).unwrap(), b"attached words");
    let files: Vec<_> = b.fake.requests().into_iter().filter(|r| r.path.starts_with("/files/")).collect();
    assert_eq!(files.len(), 1, "the declared size is checked before downloading: {files:?}");
    assert_eq!(files[0].auth, None, "the bot token never goes to attachment hosts");
}
