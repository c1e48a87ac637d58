//! Discord's JSON, both ways, as pure functions: Gateway payloads
//! (Identify, Resume, Heartbeat out; Hello, READY, MESSAGE_CREATE in), what
//! a close code means, REST bodies and rate-limit answers. Nothing here does
//! I/O, and nothing outside the Discord driver sees these shapes: a message
//! leaves as an [`Inbound`].
//!
//! Every parser takes untrusted input: a missing or mistyped field gives
//! `None`/an error, never a panic, and strings are cut to sane sizes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::channels::{Inbound, Target};

/// GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT.
pub const INTENTS: u64 = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15);

/// Gateway opcodes we send or handle.
pub mod op {
    pub const DISPATCH: u64 = 0;
    pub const HEARTBEAT: u64 = 1;
    pub const IDENTIFY: u64 = 2;
    pub const RESUME: u64 = 6;
    pub const RECONNECT: u64 = 7;
    pub const INVALID_SESSION: u64 = 9;
    pub const HELLO: u64 = 10;
    pub const HEARTBEAT_ACK: u64 = 11;
}

/// Attachments per message that are fetched, at most.
const MAX_ATTACHMENTS: usize = 10;
/// The longest message text handed on (Discord's own cap is 4,000).
const MAX_TEXT: usize = 16 * 1024;
/// The longest id or name kept.
const MAX_FIELD: usize = 200;

/// One Gateway payload: `{op, d, s, t}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub op: u64,
    pub d: Value,
    pub s: Option<u64>,
    pub t: Option<String>,
}

/// Parses a Gateway text message.
pub fn parse_frame(text: &str) -> Result<Frame, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let op = v.get("op").and_then(Value::as_u64).ok_or("no numeric \"op\"")?;
    Ok(Frame {
        op,
        d: v.get("d").cloned().unwrap_or(Value::Null),
        s: v.get("s").and_then(Value::as_u64),
        t: v.get("t").and_then(Value::as_str).map(|t| cut(t, MAX_FIELD)),
    })
}

/// Hello's `heartbeat_interval`, kept within 100 ms – 10 min.
pub fn hello_interval(d: &Value) -> Option<Duration> {
    let ms = d.get("heartbeat_interval")?.as_f64().filter(|v| v.is_finite() && *v > 0.0)?;
    Some(Duration::from_millis(ms.clamp(100.0, 600_000.0) as u64))
}

/// Op 2: start a new session.
pub fn identify(token: &str) -> String {
    json!({
        "op": op::IDENTIFY,
        "d": {
            "token": token,
            "intents": INTENTS,
            "properties": {"os": std::env::consts::OS, "browser": "openclaw", "device": "openclaw"},
        },
    })
    .to_string()
}

/// Op 6: continue `session_id` after event `seq`.
pub fn resume(token: &str, session_id: &str, seq: Option<u64>) -> String {
    json!({"op": op::RESUME, "d": {"token": token, "session_id": session_id, "seq": seq}}).to_string()
}

/// Op 1 with the last sequence number seen (or null).
pub fn heartbeat(seq: Option<u64>) -> String {
    json!({"op": op::HEARTBEAT, "d": seq}).to_string()
}

/// The bot's own account, from READY.
#[derive(Debug, Clone, PartialEq)]
pub struct Bot {
    pub id: String,
    pub username: String,
    pub global_name: Option<String>,
}

impl Bot {
    /// What `channels.status` shows as `bot`.
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "username": self.username, "globalName": self.global_name})
    }
}

/// What READY gives us.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub session_id: String,
    pub resume_url: Option<String>,
    pub bot: Bot,
}

pub fn parse_ready(d: &Value) -> Option<Ready> {
    let session_id = str_field(d, "session_id")?;
    let resume_url = str_field(d, "resume_gateway_url").filter(|u| u.starts_with("ws://") || u.starts_with("wss://"));
    Some(Ready { session_id, resume_url, bot: parse_user(d.get("user")?)? })
}

/// `GET /users/@me` (or READY's `user`).
pub fn parse_user(u: &Value) -> Option<Bot> {
    Some(Bot { id: str_field(u, "id")?, username: str_field(u, "username")?, global_name: str_field(u, "global_name") })
}

/// What to do after the Gateway closed the socket with a code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CloseAction {
    /// Reconnect and resume the session.
    Resume,
    /// Reconnect with a new session.
    Identify,
    /// 4004: the token is wrong.
    BadToken,
    /// 4014: the Message Content intent is not enabled for the bot.
    DisallowedIntents,
    /// 4010–4013: a setting this client sent is wrong; retrying soon will
    /// not help.
    Fatal(&'static str),
}

/// Discord's close codes (Gateway docs, "Gateway Close Event Codes").
pub fn close_action(code: u16) -> CloseAction {
    match code {
        4004 => CloseAction::BadToken,
        4014 => CloseAction::DisallowedIntents,
        4010 => CloseAction::Fatal("invalid shard"),
        4011 => CloseAction::Fatal("sharding required"),
        4012 => CloseAction::Fatal("invalid API version"),
        4013 => CloseAction::Fatal("invalid intents"),
        // Not authenticated, invalid seq, session timed out: the session is gone.
        4003 | 4007 | 4009 => CloseAction::Identify,
        _ => CloseAction::Resume,
    }
}

/// An attachment to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub filename: String,
    pub url: String,
    /// The size Discord declares, in bytes.
    pub size: u64,
}

/// A MESSAGE_CREATE worth handing on: the message and its attachments.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub inbound: Inbound,
    pub attachments: Vec<Attachment>,
}

/// Turns a MESSAGE_CREATE into an [`Incoming`]; `None` for messages the bot
/// must not answer: from bots (itself included) and webhooks, system
/// messages, or malformed ones. `bot_id` is the bot's own user id.
///
/// No `guild_id` means a direct message. In a guild the bot counts as
/// mentioned when its id is in `mentions`, when the text holds `<@id>` or
/// `<@!id>`, or when the message replies to one of its messages; those
/// mentions are removed from the text, other users' become `@name`. The
/// reply goes to the same channel (a thread is a channel of its own), as a
/// reply to the message in guilds.
pub fn parse_message(d: &Value, bot_id: &str) -> Option<Incoming> {
    let author = d.get("author")?;
    let author_id = str_field(author, "id")?;
    if author.get("bot").and_then(Value::as_bool) == Some(true) || author_id == bot_id || d.get("webhook_id").is_some_and(|w| !w.is_null()) {
        return None;
    }
    // 0: DEFAULT, 19: REPLY. Joins, pins, boosts… are not messages to answer.
    if !matches!(d.get("type").and_then(Value::as_u64).unwrap_or(0), 0 | 19) {
        return None;
    }
    let channel_id = str_field(d, "channel_id")?;
    let message_id = str_field(d, "id")?;
    let direct = str_field(d, "guild_id").is_none();
    let content = d.get("content").and_then(Value::as_str).unwrap_or("");
    let content = cut(content, MAX_TEXT);
    let mentions: Vec<&Value> = d.get("mentions").and_then(Value::as_array).map(|m| m.iter().collect()).unwrap_or_default();
    let mentions_bot = !bot_id.is_empty()
        && (mentions.iter().any(|m| m.get("id").and_then(Value::as_str) == Some(bot_id))
            || content.contains(&format!("<@{bot_id}>"))
            || content.contains(&format!("<@!{bot_id}>")));
    let replies_to_bot = !bot_id.is_empty()
        && d.get("referenced_message").and_then(|r| r.get("author")).and_then(|a| a.get("id")).and_then(Value::as_str) == Some(bot_id);
    let mut text = content.replace(&format!("<@{bot_id}>"), "").replace(&format!("<@!{bot_id}>"), "");
    for m in &mentions {
        if let (Some(id), Some(name)) = (str_field(m, "id"), display_name(m, None)) {
            text = text.replace(&format!("<@{id}>"), &format!("@{name}")).replace(&format!("<@!{id}>"), &format!("@{name}"));
        }
    }
    let username = str_field(author, "username");
    let inbound = Inbound {
        target: Target { chat_id: channel_id, thread_id: None, reply_to: (!direct).then_some(message_id) },
        direct,
        sender_name: display_name(author, d.get("member")).unwrap_or_else(|| author_id.clone()),
        sender_id: author_id,
        sender_username: username,
        text: text.trim().to_string(),
        media: Vec::new(),
        mentioned: direct || mentions_bot || replies_to_bot,
    };
    let attachments = d
        .get("attachments")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .take(MAX_ATTACHMENTS)
                .filter_map(|a| {
                    Some(Attachment {
                        filename: str_field(a, "filename").unwrap_or_else(|| "file".into()),
                        url: a.get("url").and_then(Value::as_str).filter(|u| u.len() <= 4096)?.to_string(),
                        size: a.get("size").and_then(Value::as_u64).unwrap_or(0),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Incoming { inbound, attachments })
}

/// The server nickname, else the display name, else the username.
fn display_name(user: &Value, member: Option<&Value>) -> Option<String> {
    member
        .and_then(|m| str_field(m, "nick"))
        .or_else(|| str_field(user, "global_name"))
        .or_else(|| str_field(user, "username"))
}

/// `POST /channels/{id}/messages`: never pings anyone (`parse: []`); the
/// first piece of a group answer replies to the message it answers.
pub fn message_body(content: &str, reply_to: Option<&str>) -> Value {
    let mut body = json!({"content": content, "allowed_mentions": {"parse": []}});
    if let Some(id) = reply_to {
        body["message_reference"] = json!({"message_id": id, "fail_if_not_exists": false});
    }
    body
}

/// `GET /gateway/bot`: the Gateway URL, and how long to wait before
/// identifying when the daily session-start budget is used up.
pub fn parse_gateway_bot(body: &Value) -> Result<(String, Option<Duration>), String> {
    let url = body
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| (u.starts_with("wss://") || u.starts_with("ws://")) && u.len() < 2048)
        .ok_or("GET /gateway/bot gave no ws:// or wss:// url")?;
    let limit = body.get("session_start_limit");
    let remaining = limit.and_then(|l| l.get("remaining")).and_then(Value::as_u64);
    let reset = limit.and_then(|l| l.get("reset_after")).and_then(Value::as_u64).unwrap_or(0);
    let wait = (remaining == Some(0)).then(|| Duration::from_millis(reset.clamp(1000, 24 * 3600 * 1000)));
    Ok((url.trim_end_matches('/').to_string(), wait))
}

/// The text of a Discord error body (`{"message", "code"}`), else the body cut short.
pub fn error_message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("message").and_then(Value::as_str).is_some() => {
            let m = cut(v["message"].as_str().unwrap_or(""), 300);
            match v.get("code").and_then(Value::as_u64).filter(|c| *c != 0) {
                Some(c) => format!("{m} (code {c})"),
                None => m,
            }
        }
        _ => crate::shorten(body.trim(), 200),
    }
}

/// A 429's wait: the body's `retry_after` (seconds, fractional), else the
/// `Retry-After` header; and whether it is the global limit.
pub fn retry_after(body: &str, header: Option<&str>, global_header: Option<&str>) -> (Option<Duration>, bool) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let secs = v
        .get("retry_after")
        .and_then(Value::as_f64)
        .or_else(|| header.and_then(|h| h.trim().parse::<f64>().ok()))
        .filter(|s| s.is_finite() && *s >= 0.0);
    let global = v.get("global").and_then(Value::as_bool) == Some(true) || global_header.is_some_and(|g| g.trim().eq_ignore_ascii_case("true"));
    (secs.map(|s| Duration::from_secs_f64(s.min(1e6))), global)
}

/// How long a route is closed after an answer: `X-RateLimit-Reset-After`
/// when `X-RateLimit-Remaining` is 0.
pub fn bucket_wait(remaining: Option<&str>, reset_after: Option<&str>) -> Option<Duration> {
    if remaining?.trim().parse::<f64>().ok()? > 0.0 {
        return None;
    }
    let secs = reset_after?.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::from_secs_f64(secs.min(1e6)))
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(cut(s, MAX_FIELD)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: &str = "1000";

    fn msg(extra: Value) -> Value {
        let mut m = json!({
            "id": "555", "channel_id": "777", "type": 0, "content": "hello",
            "author": {"id": "42", "username": "alice", "global_name": "Alice A"},
            "mentions": [], "attachments": [],
        });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    }

    #[test]
    fn payloads_have_discords_shape() {
        let v: Value = serde_json::from_str(&identify("tok")).unwrap();
        assert_eq!(v["op"], 2);
        assert_eq!(v["d"]["token"], "tok");
        assert_eq!(v["d"]["intents"], 1 + 512 + 4096 + 32768);
        assert_eq!(v["d"]["properties"]["browser"], "openclaw");
        let v: Value = serde_json::from_str(&resume("tok", "s1", Some(7))).unwrap();
        assert_eq!(v, json!({"op": 6, "d": {"token": "tok", "session_id": "s1", "seq": 7}}));
        assert_eq!(heartbeat(None), r#"{"d":null,"op":1}"#);
        assert_eq!(heartbeat(Some(3)), r#"{"d":3,"op":1}"#);
        let b = message_body("hi", Some("9"));
        assert_eq!(b["allowed_mentions"], json!({"parse": []}));
        assert_eq!(b["message_reference"]["message_id"], "9");
        assert!(message_body("hi", None).get("message_reference").is_none());
    }

    #[test]
    fn frames_hello_and_ready_parse_defensively() {
        let f = parse_frame(r#"{"op":0,"s":5,"t":"READY","d":{"x":1}}"#).unwrap();
        assert_eq!((f.op, f.s, f.t.as_deref()), (0, Some(5), Some("READY")));
        assert_eq!(parse_frame(r#"{"op":11}"#).unwrap().d, Value::Null);
        for bad in ["{not json", "[]", r#"{"op":"x"}"#, r#"{"d":1}"#, ""] {
            assert!(parse_frame(bad).is_err(), "{bad}");
        }
        assert_eq!(hello_interval(&json!({"heartbeat_interval": 41250})), Some(Duration::from_millis(41250)));
        assert_eq!(hello_interval(&json!({"heartbeat_interval": 1})), Some(Duration::from_millis(100)));
        assert_eq!(hello_interval(&json!({"heartbeat_interval": -5})), None);
        assert_eq!(hello_interval(&json!({})), None);
        let r = parse_ready(&json!({
            "session_id": "abc", "resume_gateway_url": "wss://gateway-us-east1-b.discord.gg",
            "user": {"id": "1000", "username": "openclaw-bot", "bot": true},
        }))
        .unwrap();
        assert_eq!(r.session_id, "abc");
        assert_eq!(r.resume_url.as_deref(), Some("wss://gateway-us-east1-b.discord.gg"));
        assert_eq!(r.bot.id, "1000");
        assert!(parse_ready(&json!({"session_id": "abc"})).is_none());
        assert!(parse_ready(&json!({"session_id": 5, "user": {"id": "1", "username": "b"}})).is_some(), "numbers are taken as ids");
        let r = parse_ready(&json!({"session_id": "a", "resume_gateway_url": "http://evil", "user": {"id": "1", "username": "b"}})).unwrap();
        assert_eq!(r.resume_url, None);
    }

    #[test]
    fn close_codes_map_to_actions() {
        assert_eq!(close_action(4004), CloseAction::BadToken);
        assert_eq!(close_action(4014), CloseAction::DisallowedIntents);
        assert!(matches!(close_action(4013), CloseAction::Fatal(_)));
        assert!(matches!(close_action(4010), CloseAction::Fatal(_)));
        for c in [4003, 4007, 4009] {
            assert_eq!(close_action(c), CloseAction::Identify, "{c}");
        }
        for c in [1000, 1001, 1006, 4000, 4001, 4002, 4005, 4008] {
            assert_eq!(close_action(c), CloseAction::Resume, "{c}");
        }
    }

    #[test]
    fn direct_messages_parse() {
        let i = parse_message(&msg(json!({})), BOT).unwrap();
        assert!(i.inbound.direct && i.inbound.mentioned);
        assert_eq!(i.inbound.target, Target { chat_id: "777".into(), thread_id: None, reply_to: None });
        assert_eq!((i.inbound.sender_id.as_str(), i.inbound.sender_name.as_str()), ("42", "Alice A"));
        assert_eq!(i.inbound.sender_username.as_deref(), Some("alice"));
        assert_eq!(i.inbound.text, "hello");
    }

    #[test]
    fn guild_messages_need_a_mention_which_is_stripped() {
        let plain = parse_message(&msg(json!({"guild_id": "9"})), BOT).unwrap();
        assert!(!plain.inbound.direct && !plain.inbound.mentioned);
        assert_eq!(plain.inbound.target.reply_to.as_deref(), Some("555"));
        let tagged = parse_message(&msg(json!({"guild_id": "9", "content": "<@1000> what's up"})), BOT).unwrap();
        assert!(tagged.inbound.mentioned);
        assert_eq!(tagged.inbound.text, "what's up");
        let nick = parse_message(&msg(json!({"guild_id": "9", "content": "hey <@!1000>, ping <@43>", "mentions": [{"id": "1000", "username": "bot"}, {"id": "43", "username": "bob"}]})), BOT).unwrap();
        assert!(nick.inbound.mentioned);
        assert_eq!(nick.inbound.text, "hey , ping @bob");
        let listed = parse_message(&msg(json!({"guild_id": "9", "mentions": [{"id": "1000", "username": "bot"}]})), BOT).unwrap();
        assert!(listed.inbound.mentioned);
        let reply = parse_message(&msg(json!({"guild_id": "9", "type": 19, "referenced_message": {"id": "1", "author": {"id": "1000"}}})), BOT).unwrap();
        assert!(reply.inbound.mentioned);
        let other = parse_message(&msg(json!({"guild_id": "9", "type": 19, "referenced_message": {"id": "1", "author": {"id": "77"}}})), BOT).unwrap();
        assert!(!other.inbound.mentioned);
        let member = parse_message(&msg(json!({"guild_id": "9", "member": {"nick": "Ally"}})), BOT).unwrap();
        assert_eq!(member.inbound.sender_name, "Ally");
    }

    #[test]
    fn bots_self_webhooks_system_and_malformed_messages_are_skipped() {
        assert!(parse_message(&msg(json!({"author": {"id": "5", "username": "x", "bot": true}})), BOT).is_none());
        assert!(parse_message(&msg(json!({"author": {"id": BOT, "username": "me"}})), BOT).is_none());
        assert!(parse_message(&msg(json!({"webhook_id": "3"})), BOT).is_none());
        assert!(parse_message(&msg(json!({"type": 7})), BOT).is_none());
        assert!(parse_message(&msg(json!({"webhook_id": null})), BOT).is_some());
        for bad in [json!(null), json!([]), json!({"author": 5}), json!({"author": {"id": "1"}, "id": "2"}), json!({"channel_id": "1", "id": "2"})] {
            assert!(parse_message(&bad, BOT).is_none(), "{bad}");
        }
        let weird = msg(json!({"content": 5, "mentions": "x", "attachments": {"a": 1}}));
        let i = parse_message(&weird, BOT).unwrap();
        assert_eq!((i.inbound.text.as_str(), i.attachments.len()), ("", 0));
        let long = parse_message(&msg(json!({"content": "é".repeat(20_000)})), BOT).unwrap();
        assert!(long.inbound.text.len() <= MAX_TEXT);
    }

    #[test]
    fn attachments_are_listed_with_their_declared_size() {
        let m = msg(json!({"attachments": [
            {"id": "1", "filename": "a.png", "size": 10, "url": "https://cdn.discordapp.com/a.png"},
            {"id": "2", "size": 5},
            {"id": "3", "url": "https://cdn.discordapp.com/x"},
        ]}));
        let i = parse_message(&m, BOT).unwrap();
        assert_eq!(
            i.attachments,
            vec![
                Attachment { filename: "a.png".into(), url: "https://cdn.discordapp.com/a.png".into(), size: 10 },
                Attachment { filename: "file".into(), url: "https://cdn.discordapp.com/x".into(), size: 0 },
            ]
        );
    }

    #[test]
    fn rest_answers_parse() {
        let (url, wait) = parse_gateway_bot(&json!({"url": "wss://gateway.discord.gg", "shards": 1, "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}})).unwrap();
        assert_eq!((url.as_str(), wait), ("wss://gateway.discord.gg", None));
        let (_, wait) = parse_gateway_bot(&json!({"url": "wss://g/", "session_start_limit": {"remaining": 0, "reset_after": 60000}})).unwrap();
        assert_eq!(wait, Some(Duration::from_secs(60)));
        assert!(parse_gateway_bot(&json!({"url": "https://x"})).is_err());
        assert!(parse_gateway_bot(&json!([])).is_err());
        assert_eq!(error_message(r#"{"message": "401: Unauthorized", "code": 0}"#), "401: Unauthorized");
        assert_eq!(error_message(r#"{"message": "Missing Access", "code": 50001}"#), "Missing Access (code 50001)");
        assert_eq!(error_message("<html>bad gateway</html>"), "<html>bad gateway</html>");
        let (d, global) = retry_after(r#"{"message": "You are being rate limited.", "retry_after": 0.25, "global": false}"#, Some("1"), None);
        assert_eq!((d, global), (Some(Duration::from_millis(250)), false));
        assert_eq!(retry_after("", Some("2"), Some("true")), (Some(Duration::from_secs(2)), true));
        assert_eq!(retry_after("{}", None, None), (None, false));
        assert_eq!(retry_after(r#"{"retry_after": -1}"#, None, None), (None, false));
        assert_eq!(bucket_wait(Some("0"), Some("1.5")), Some(Duration::from_millis(1500)));
        assert_eq!(bucket_wait(Some("3"), Some("1.5")), None);
        assert_eq!(bucket_wait(None, Some("1.5")), None);
        assert_eq!(bucket_wait(Some("0"), Some("x")), None);
    }
}
