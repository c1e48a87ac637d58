//! The Telegram driver end to end: the real gateway binary polling the fake
//! Bot API (tests/fake_telegram.rs) through `channels.telegram.apiBaseUrl`,
//! the fake model answering `You said: …`, and the real CLI for `pairing
//! approve`, `channels add` and `channels status`.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fake_model::FakeModel;
use crate::fake_telegram::{FakeTelegram, Failure, group_text, private_text};
use crate::util::{GatewayProc, Home};

const TOKEN: &str = "7e1e9a3b5c7d9f1a3c5e7a9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f";
const BOT: &str = "111:AAbot-token";
const BOT_ID: i64 = 111;
const WAIT: Duration = Duration::from_secs(20);

/// A test's home and fakes (a test's gateway is a later local, so it is
/// dropped, i.e. stopped, before these).
struct Rig {
    home: Home,
    tg: FakeTelegram,
    model: FakeModel,
}

/// A home whose gateway uses the fake model, with `channels.telegram` set to
/// `telegram` (JSON5 members; `apiBaseUrl` is added).
fn rig(tag: &str, telegram: &str) -> Rig {
    let model = FakeModel::start();
    let tg = FakeTelegram::start();
    tg.add_bot(BOT, BOT_ID, "oc_test_bot");
    let mut home = Home::new(tag);
    home.write_config(&format!(
        r#"{{
  gateway: {{ mode: "local", auth: {{ token: "{TOKEN}" }} }},
  models: {{ providers: {{ fake: {{ baseUrl: "{}", apiKey: "sk-test", api: "openai-completions", models: [{{ id: "m" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/m" }} }},
  channels: {{ telegram: {{ apiBaseUrl: "{}", {telegram} }} }},
}}"#,
        model.openai_base(),
        tg.base()
    ));
    home.set_env("DOCKER_HOST", "unix:///nonexistent/openclaw-telegram-test.sock");
    home.set_env("OPENCLAW_GATEWAY_TEST_RELOAD_MS", "100");
    Rig { home, tg, model }
}

fn text(v: &Value) -> String {
    v["text"].as_str().unwrap_or_default().to_string()
}

/// The code in a pairing message.
fn code_in(message: &str) -> String {
    let line = message.lines().find(|l| l.starts_with("Pairing code: ")).unwrap_or_else(|| panic!("no code in {message:?}"));
    line["Pairing code: ".len()..].trim().to_string()
}

/// The model calls whose last user message contains `needle`.
fn model_saw(model: &FakeModel, needle: &str) -> usize {
    model.requests().iter().filter(|r| r.body["messages"].as_array().and_then(|m| m.last()).is_some_and(|m| m["content"].to_string().contains(needle))).count()
}

/// `channels status --json` through the running gateway.
fn status(h: &Home, gw: &GatewayProc, probe: bool) -> Value {
    let url = format!("ws://127.0.0.1:{}", gw.port);
    let mut args = vec!["channels", "status", "--json", "--url", &url, "--token", TOKEN];
    if probe {
        args.push("--probe");
    }
    let out = h.run(&args);
    assert_eq!(out.code, 0, "{}", out.all());
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.all()))
}

/// Polls `channels status` until `ok` holds for the telegram account `id`.
fn wait_status(h: &Home, gw: &GatewayProc, id: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + WAIT;
    loop {
        let v = status(h, gw, false);
        let acc = v["channelAccounts"]["telegram"].as_array().and_then(|l| l.iter().find(|a| a["accountId"] == id)).cloned().unwrap_or(Value::Null);
        if ok(&acc) {
            return acc;
        }
        assert!(Instant::now() < until, "status never matched: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn telegram_pairs_a_stranger_then_answers_splits_and_falls_back_to_plain_text() {
    let r = rig("tg-pair", &format!("botToken: \"{BOT}\""));
    let gw = GatewayProc::start(&r.home, &[]);

    // A stranger: a pairing code, and the model never sees the message.
    r.tg.push(BOT, private_text(42, "Ann", "hello there"));
    let sent = r.tg.wait_sent(BOT, 1, WAIT);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["chat_id"], 42);
    let code = code_in(&text(&sent[0]));
    assert!(text(&sent[0]).contains("Your Telegram user id: 42"), "{sent:?}");
    assert!(text(&sent[0]).contains(&format!("openclaw pairing approve telegram {code}")), "{sent:?}");
    assert_eq!(r.model.count(), 0, "no agent turn for an unknown sender");
    // The same stranger again: no second code.
    r.tg.push(BOT, private_text(42, "Ann", "hello?"));
    let acc = wait_status(&r.home, &gw, "default", |a| a["connected"] == true);
    assert_eq!(acc["bot"]["username"], "oc_test_bot");
    assert_eq!(status(&r.home, &gw, false)["pairing"]["telegram"][0]["code"], code.as_str());

    // The owner approves with the real CLI; the next message reaches the agent.
    let out = r.home.run(&["pairing", "approve", "telegram", &code]);
    assert_eq!(out.code, 0, "{}", out.all());
    r.tg.push(BOT, private_text(42, "Ann", "what is 2 < 3 & 4?"));
    let sent = r.tg.wait_sent(BOT, 2, WAIT);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1]["parse_mode"], "HTML");
    assert_eq!(text(&sent[1]), "You said: what is 2 &lt; 3 &amp; 4?");
    assert_eq!(model_saw(&r.model, "hello"), 0, "messages from before the approval are not replayed");
    assert!(!r.tg.calls(BOT, "sendChatAction").is_empty(), "typing was shown");
    assert_eq!(r.tg.calls(BOT, "sendChatAction")[0].body["action"], "typing");

    // A long reply is split at 4096 characters, nothing lost.
    r.tg.push(BOT, private_text(42, "Ann", "big 10000"));
    let sent = r.tg.wait_sent(BOT, 5, WAIT);
    let pieces: Vec<String> = sent[2..].iter().map(text).collect();
    assert_eq!(pieces.len(), 3, "{pieces:?}");
    assert!(pieces.iter().all(|p| p.chars().count() <= 4096));
    assert_eq!(pieces.concat().len(), 10000);

    // Telegram refuses the markup once: the piece goes again as plain text.
    r.tg.reject_html(BOT, 1);
    r.tg.push(BOT, private_text(42, "Ann", "**bold** move"));
    let sent = r.tg.wait_sent(BOT, 6, WAIT);
    assert_eq!(sent.len(), 6, "{sent:?}");
    assert!(sent[5].get("parse_mode").is_none(), "{}", sent[5]);
    assert_eq!(text(&sent[5]), "You said: **bold** move");
    // And without the refusal the same text is formatted.
    r.tg.push(BOT, private_text(42, "Ann", "**bold** again"));
    let sent = r.tg.wait_sent(BOT, 7, WAIT);
    assert_eq!(text(&sent[6]), "You said: <b>bold</b> again");
}

#[test]
fn telegram_groups_need_a_mention_or_a_reply_and_topics_keep_their_thread() {
    let r = rig("tg-group", &format!("botToken: \"{BOT}\", allowFrom: [\"tg:42\"]"));
    let _gw = GatewayProc::start(&r.home, &[]);
    let group = -100_555;
    // In order: chatter (ignored), a stranger mentioning the bot (ignored, no
    // code in a group), then the approved sender mentioning it.
    r.tg.push(BOT, group_text(group, 42, "Ann", "just chatting"));
    r.tg.push(BOT, group_text(group, 77, "Eve", "@oc_test_bot let me in"));
    let mentioned = group_text(group, 42, "Ann", "@oc_test_bot what time is it");
    r.tg.push(BOT, mentioned);
    let sent = r.tg.wait_sent(BOT, 1, WAIT);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["chat_id"], group);
    assert_eq!(text(&sent[0]), "You said: Ann: what time is it");
    assert!(sent[0]["reply_parameters"]["message_id"].as_i64().is_some(), "{}", sent[0]);
    assert_eq!(model_saw(&r.model, "chatting"), 0);
    assert_eq!(model_saw(&r.model, "let me in"), 0);

    // A reply to the bot's own message needs no mention; a forum topic keeps its thread.
    let mut reply = group_text(group, 42, "Ann", "and tomorrow");
    reply["reply_to_message"] = serde_json::json!({"message_id": 10_001, "from": {"id": BOT_ID, "is_bot": true, "first_name": "Test Bot"}});
    reply["is_topic_message"] = serde_json::json!(true);
    reply["message_thread_id"] = serde_json::json!(9);
    r.tg.push(BOT, reply);
    let sent = r.tg.wait_sent(BOT, 2, WAIT);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(text(&sent[1]), "You said: Ann: and tomorrow");
    assert_eq!(sent[1]["message_thread_id"], 9);
    let typing = r.tg.calls(BOT, "sendChatAction");
    assert!(typing.iter().any(|c| c.body["message_thread_id"] == 9), "typing in the topic");
}

#[test]
fn telegram_restart_resumes_from_the_stored_offset() {
    let r = rig("tg-offset", &format!("botToken: \"{BOT}\", allowFrom: [\"42\"]"));
    let mut gw = GatewayProc::start(&r.home, &[]);
    let first = r.tg.push(BOT, private_text(42, "Ann", "one"));
    assert_eq!(r.tg.wait_sent(BOT, 1, WAIT).len(), 1);
    // The offset is saved after the batch went to the hub.
    let file = r.home.state().join("telegram/update-offset-default.json");
    let until = Instant::now() + WAIT;
    let stored = loop {
        let v: Value = std::fs::read(&file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
        if v["lastUpdateId"] == first || Instant::now() > until {
            break v;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(stored["version"], 1);
    assert_eq!(stored["lastUpdateId"], first, "{stored}");

    // The poll that confirms "one" went out; then the gateway stops, a
    // message arrives meanwhile, and it starts again.
    let until = Instant::now() + WAIT;
    while !r.tg.calls(BOT, "getUpdates").iter().any(|c| c.body["offset"] == first + 1) {
        assert!(Instant::now() < until, "no poll confirmed the first update: {:?}", r.tg.calls(BOT, "getUpdates"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = r.tg.calls(BOT, "getUpdates").len();
    drop(gw);
    r.tg.push(BOT, private_text(42, "Ann", "two"));
    gw = GatewayProc::start(&r.home, &[]);
    let sent = r.tg.wait_sent(BOT, 2, WAIT);
    assert_eq!(sent.iter().map(text).collect::<Vec<_>>(), ["You said: one", "You said: two"]);
    // The first poll after the restart started at the stored offset.
    let after = r.tg.calls(BOT, "getUpdates");
    assert_eq!(after[before].body["offset"], first + 1, "{:?}", after[before].body);
    r.tg.push(BOT, private_text(42, "Ann", "three"));
    let sent = r.tg.wait_sent(BOT, 3, WAIT);
    assert_eq!(sent.iter().map(text).collect::<Vec<_>>(), ["You said: one", "You said: two", "You said: three"]);
    assert_eq!(model_saw(&r.model, "one"), 1);
    drop(gw);
}

#[test]
fn telegram_photos_reach_the_model_as_media_and_oversized_files_are_not_fetched() {
    let r = rig("tg-media", &format!("botToken: \"{BOT}\", allowFrom: [\"42\"]"));
    let _gw = GatewayProc::start(&r.home, &[]);
    let jpeg = b"\xff\xd8\xff\xe0fake jpeg bytes";
    r.tg.add_file(BOT, "small", "photos/file_1.jpg", b"tiny", None);
    r.tg.add_file(BOT, "large", "photos/file_2.jpg", jpeg, None);
    let mut photo = private_text(42, "Ann", "");
    photo.as_object_mut().unwrap().remove("text");
    photo["caption"] = "what is this".into();
    photo["photo"] = serde_json::json!([
        {"file_id": "small", "file_unique_id": "a", "width": 90, "height": 90, "file_size": 4},
        {"file_id": "large", "file_unique_id": "b", "width": 800, "height": 600, "file_size": jpeg.len()},
    ]);
    r.tg.push(BOT, photo.clone());
    let sent = r.tg.wait_sent(BOT, 1, WAIT);
    assert_eq!(sent.len(), 1);
    let reply = text(&sent[0]);
    assert!(reply.starts_with("You said: what is this\n\n[media attached: "), "{reply}");
    let path = reply.split("[media attached: ").nth(1).unwrap().trim_end_matches(']');
    assert!(path.starts_with(r.home.state().join("media/inbound").to_str().unwrap()), "{path}");
    assert!(path.ends_with(".jpg"), "{path}");
    assert_eq!(std::fs::read(path).unwrap(), jpeg);
    assert_eq!(r.tg.downloads(), ["photos/file_2.jpg"], "only the largest size");

    // A document over the cap: not downloaded; the agent is told.
    r.tg.add_file(BOT, "huge", "documents/file_3.bin", b"x", Some(6 << 20));
    let mut doc = private_text(42, "Ann", "");
    doc.as_object_mut().unwrap().remove("text");
    doc["document"] = serde_json::json!({"file_id": "huge", "file_unique_id": "c", "file_name": "big.bin", "file_size": 6 << 20});
    r.tg.push(BOT, doc);
    let sent = r.tg.wait_sent(BOT, 2, WAIT);
    assert_eq!(sent.len(), 2);
    assert!(text(&sent[1]).contains("[attachment not received: big.bin: larger than the 5 MB limit]"), "{}", text(&sent[1]));
    // A file that claims to be small but is not: the download stops at the cap.
    r.tg.add_file(BOT, "liar", "documents/file_4.bin", &vec![b'x'; (5 << 20) + 1], Some(10));
    let mut doc = private_text(42, "Ann", "");
    doc.as_object_mut().unwrap().remove("text");
    doc["document"] = serde_json::json!({"file_id": "liar", "file_unique_id": "d", "file_name": "small.bin", "file_size": 10});
    doc["caption"] = "tiny file".into();
    r.tg.push(BOT, doc);
    let sent = r.tg.wait_sent(BOT, 3, WAIT);
    assert_eq!(sent.len(), 3);
    assert!(text(&sent[2]).contains("You said: tiny file\n\n[attachment not received: small.bin: larger than the 5 MB limit]"), "{}", text(&sent[2]));
    let saved = std::fs::read_dir(r.home.state().join("media/inbound")).unwrap().count();
    assert_eq!(saved, 1, "only the photo was saved");
    // A stranger's photo is not downloaded; they get a pairing code.
    photo["from"]["id"] = 99.into();
    photo["chat"]["id"] = 99.into();
    r.tg.push(BOT, photo);
    let sent = r.tg.wait_sent(BOT, 4, WAIT);
    assert!(text(&sent[3]).contains("Pairing code:"), "{sent:?}");
    assert_eq!(r.tg.downloads().len(), 2, "the photo and the liar's file, nothing for the stranger");
}

#[test]
fn telegram_named_accounts_have_their_own_allow_file() {
    const WORK: &str = "222:AAwork-token";
    let r = rig("tg-accounts", &format!("botToken: \"{BOT}\", accounts: {{ work: {{ botToken: \"{WORK}\" }} }}"));
    r.tg.add_bot(WORK, 222, "oc_work_bot");
    let gw = GatewayProc::start(&r.home, &[]);
    r.tg.push(WORK, private_text(42, "Ann", "hi work"));
    let sent = r.tg.wait_sent(WORK, 1, WAIT);
    assert_eq!(sent.len(), 1);
    let out = r.home.run(&["pairing", "approve", "telegram", &code_in(&text(&sent[0]))]);
    assert_eq!(out.code, 0, "{}", out.all());
    let creds = r.home.state().join("credentials");
    let allow: Value = serde_json::from_slice(&std::fs::read(creds.join("telegram-work-allowFrom.json")).unwrap()).unwrap();
    assert_eq!(allow["allowFrom"], serde_json::json!(["42"]));
    assert!(!creds.join("telegram-allowFrom.json").exists());

    r.tg.push(WORK, private_text(42, "Ann", "now?"));
    assert_eq!(text(&r.tg.wait_sent(WORK, 2, WAIT)[1]), "You said: now?");
    // The default bot does not know Ann.
    r.tg.push(BOT, private_text(42, "Ann", "and you?"));
    let sent = r.tg.wait_sent(BOT, 1, WAIT);
    assert!(text(&sent[0]).contains("Pairing code:"), "{sent:?}");
    assert_eq!(model_saw(&r.model, "and you?"), 0);
    let acc = wait_status(&r.home, &gw, "work", |a| a["connected"] == true);
    assert_eq!(acc["bot"]["username"], "oc_work_bot");
    assert!(r.home.state().join("telegram/update-offset-work.json").exists());
}

#[test]
fn telegram_bad_tokens_give_a_clear_status_and_never_show_the_token() {
    let r = rig("tg-badtoken", "botToken: \"999:AAwrong-secret\", accounts: { odd: { botToken: \"not-a-token\" } }");
    let gw = GatewayProc::start(&r.home, &[]);
    let acc = wait_status(&r.home, &gw, "default", |a| a["lastError"].is_string());
    let e = acc["lastError"].as_str().unwrap();
    assert!(e.contains("Telegram rejected the bot token (401 Unauthorized)"), "{e}");
    assert!(e.contains("channels.telegram.botToken") && e.contains("openclaw channels add --channel telegram --token"), "{e}");
    // Telegram answers 404 for a token of the wrong shape.
    let acc = wait_status(&r.home, &gw, "odd", |a| a["lastError"].is_string());
    let e = acc["lastError"].as_str().unwrap();
    assert!(e.contains("(404 Not Found)") && e.contains("channels.telegram.accounts.odd.botToken") && e.contains("--account odd"), "{e}");
    // The probe says the same; the token appears nowhere.
    let v = status(&r.home, &gw, true);
    let probe = &v["channelAccounts"]["telegram"][0]["probe"];
    assert_eq!(probe["ok"], false, "{v}");
    assert!(probe["error"].as_str().unwrap().contains("rejected the bot token"), "{v}");
    assert!(!v.to_string().contains("wrong-secret") && !v.to_string().contains("not-a-token"), "{v}");
    // getMe is retried slowly, not in a loop.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(r.tg.calls("999:AAwrong-secret", "getMe").len(), 2, "one by the driver, one by the probe");
}

#[test]
fn telegram_backs_off_on_conflict_rate_limit_and_server_errors_then_recovers() {
    let r = rig("tg-backoff", &format!("botToken: \"{BOT}\", allowFrom: [\"42\"]"));
    r.tg.fail(BOT, "getUpdates", Failure::status(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"));
    r.tg.fail(BOT, "getUpdates", Failure::too_many(2));
    r.tg.fail(BOT, "getUpdates", Failure::status(500, "Internal Server Error"));
    r.tg.fail(BOT, "sendMessage", Failure::too_many(1));
    let gw = GatewayProc::start(&r.home, &[]);
    let acc = wait_status(&r.home, &gw, "default", |a| a["lastError"].as_str().is_some_and(|e| e.contains("409")));
    assert!(acc["lastError"].as_str().unwrap().contains("another program is polling this bot"), "{acc}");
    r.tg.push(BOT, private_text(42, "Ann", "after the storm"));
    let sent = r.tg.wait_sent(BOT, 1, WAIT);
    assert_eq!(sent.len(), 1);
    assert_eq!(text(&sent[0]), "You said: after the storm");
    wait_status(&r.home, &gw, "default", |a| a["connected"] == true && a["lastError"].is_null());
    // Spacing (loosely): 0.5–1 s after the 409 (first backoff step), ≥ 2 s after
    // the 429 (retry_after), 1–2 s after the 500 (second step).
    let at: Vec<Instant> = r.tg.calls(BOT, "getUpdates").iter().map(|c| c.at).collect();
    assert!(at.len() >= 4, "{}", at.len());
    let gap = |i: usize| at[i + 1] - at[i];
    assert!(gap(0) >= Duration::from_millis(450), "after 409: {:?}", gap(0));
    assert!(gap(1) >= Duration::from_millis(1900), "after 429: {:?}", gap(1));
    assert!(gap(2) >= Duration::from_millis(950), "after 500 (second backoff step): {:?}", gap(2));
    // The reply's 429 was waited out and retried once.
    let sends: Vec<Instant> = r.tg.calls(BOT, "sendMessage").iter().map(|c| c.at).collect();
    assert_eq!(sends.len(), 2);
    assert!(sends[1] - sends[0] >= Duration::from_millis(900), "{:?}", sends[1] - sends[0]);
}

#[test]
fn telegram_malformed_answers_and_updates_never_crash_the_gateway() {
    let r = rig("tg-malformed", &format!("botToken: \"{BOT}\", allowFrom: [\"42\"]"));
    r.tg.fail(BOT, "getUpdates", Failure::Malformed);
    r.tg.fail(BOT, "getUpdates", Failure::Drop);
    let gw = GatewayProc::start(&r.home, &[]);
    // Updates of every wrong shape, then a good one.
    for bad in [
        serde_json::json!({"message": "not an object"}),
        serde_json::json!({"message": {"chat": {"id": "abc", "type": "private"}, "from": {"id": 42}, "text": "x"}}),
        serde_json::json!({"message": {"chat": {"id": 42, "type": "private"}, "from": {"id": 42}, "text": 17, "entities": "no"}}),
        serde_json::json!({"message": {"chat": {"id": 42, "type": "private"}, "from": {"id": 42}, "text": "hi", "entities": [{"type": "mention", "offset": 99, "length": 9}]}, "edited_message": 5}),
        serde_json::json!({"edited_message": {"chat": {"id": 42}}}),
        serde_json::json!({"update_id": "not a number"}),
        serde_json::json!([1, 2, 3]),
    ] {
        r.tg.push_raw(BOT, bad);
    }
    r.tg.push(BOT, private_text(42, "Ann", "still there?"));
    let sent = r.tg.wait_sent(BOT, 2, WAIT);
    let texts: Vec<String> = sent.iter().map(text).collect();
    assert!(texts.contains(&"You said: still there?".to_string()), "{texts:?}");
    // The entity out of range was ignored and the text kept.
    assert!(texts.contains(&"You said: hi".to_string()), "{texts:?}");
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    write!(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", gw.port).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "the gateway still serves /healthz: {answer}");
    // The malformed answer and the dropped connection were reported and backed off.
    let at: Vec<Instant> = r.tg.calls(BOT, "getUpdates").iter().map(|c| c.at).collect();
    // Backoff steps 1 and 2: 0.5–1 s, then 1–2 s.
    assert!(at[1] - at[0] >= Duration::from_millis(450) && at[2] - at[1] >= Duration::from_millis(950), "{at:?}");
}

#[test]
fn telegram_channels_add_connects_a_running_gateway_and_remove_stops_it() {
    let r = rig("tg-add", "dmPolicy: \"pairing\"");
    let gw = GatewayProc::start(&r.home, &[]);
    let acc = wait_status(&r.home, &gw, "default", |a| a["lastError"].is_string());
    assert!(acc["lastError"].as_str().unwrap().contains("no bot token"), "{acc}");
    let out = r.home.run(&["channels", "add", "--channel", "telegram", "--token", BOT]);
    assert_eq!(out.code, 0, "{}", out.all());
    let acc = wait_status(&r.home, &gw, "default", |a| a["connected"] == true);
    assert_eq!(acc["bot"]["id"], BOT_ID);
    r.tg.push(BOT, private_text(42, "Ann", "hi"));
    assert!(text(&r.tg.wait_sent(BOT, 1, WAIT)[0]).contains("Pairing code:"));

    let out = r.home.run(&["channels", "remove", "--channel", "telegram"]);
    assert_eq!(out.code, 0, "{}", out.all());
    wait_status(&r.home, &gw, "default", |a| a["running"] == false);
    // Stopped means no more polls (give a stray in-flight one time to land).
    std::thread::sleep(Duration::from_millis(500));
    let n = r.tg.calls(BOT, "getUpdates").len();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(r.tg.calls(BOT, "getUpdates").len(), n);
}

#[test]
fn telegram_tokens_never_reach_the_log_even_at_trace_level() {
    use std::io::BufRead;
    let mut r = rig("tg-log", &format!("botToken: \"{BOT}\", allowFrom: [\"42\"]"));
    r.home.set_env("RUST_LOG", "trace");
    let log = r.home.dir.join("gateway.log");
    let port = crate::util::free_port();
    let mut cmd = r.home.command(&["gateway", "--port", &port.to_string()]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::fs::File::create(&log).unwrap());
    let mut child = cmd.spawn().unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    let gw = GatewayProc { child, port };
    // A full exchange, including a failed call.
    r.tg.fail(BOT, "getUpdates", Failure::status(500, "Internal Server Error"));
    r.tg.push(BOT, private_text(42, "Ann", "log me"));
    assert_eq!(r.tg.wait_sent(BOT, 1, WAIT).len(), 1);
    drop(gw);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("channel telegram"), "the log was written: {}", &text[..text.len().min(2000)]);
    assert!(!text.contains("AAbot-token"), "the token leaked into the log");
}
