//! Telegram: the Bot API over HTTPS (ureq) with long polling.
//!
//! Calls are `POST {base}/bot{token}/{method}` with a JSON body (`base` is
//! `https://api.telegram.org` or the account's `apiBaseUrl`); files come from
//! `GET {base}/file/bot{token}/{file_path}`. The answer is
//! `{"ok":true,"result":…}` or `{"ok":false,"error_code":N,"description":…,
//! "parameters":{"retry_after":S}}`.
//!
//! [`run`]: `getMe` (the bot's identity, for mentions and the status), then
//! `getUpdates` in a loop (server-side `timeout` [`POLL_TIMEOUT_S`], only
//! `message` updates). Each batch is decoded, handed to the hub, and then the
//! offset (last `update_id` + 1) is saved in
//! `<state>/telegram/update-offset-<accountId>.json` (upstream's file,
//! `{"version":1,"lastUpdateId":N,"botId":"…"}`), so a restart neither loses
//! nor repeats updates: Telegram keeps every update until a later call's
//! offset confirms it. The long poll runs on a short-lived thread so a stop
//! (shutdown, config reload) is noticed within [`STOP_CHECK`]; an abandoned
//! poll's updates are simply fetched again.
//!
//! Errors: 401/404 (Telegram's answers to a bad token) give a status error
//! naming the config key and the fix, retried every [`BAD_TOKEN_RETRY`];
//! 409 (another poller or a webhook) names the cause and backs off; 429 waits
//! `retry_after`; network errors, 5xx and malformed answers back off
//! exponentially with jitter. The token never appears in an error or a log
//! line ([`Api::redact`]).
//!
//! Messages: private chats are direct; in groups the bot needs a mention
//! (`@username` entity, a `text_mention` of the bot, `/cmd@username`) or a
//! reply to one of its messages, and the mention is cut from the text. Forum
//! topics become the thread. Photos (the largest size within the cap) and
//! documents are downloaded into the media store when the message will be
//! processed (never for strangers or unaddressed group chatter).
//!
//! Replies: split at 4096 characters, Markdown converted to Telegram's HTML
//! per piece ([`markdown_to_html`]); when Telegram refuses the markup
//! ("can't parse entities") the piece goes again as plain text.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Account, Ctx, DEFAULT_ACCOUNT, Inbound, Kind, Stop, Target};
use crate::agent::runtime::MEDIA_MAX_BYTES;
use crate::config::model::DmPolicy;

const DEFAULT_BASE: &str = "https://api.telegram.org";
/// The server-side wait of one `getUpdates`.
const POLL_TIMEOUT_S: u64 = 25;
/// The HTTP deadline of a `getUpdates`: the server-side wait plus this.
const POLL_SLACK: Duration = Duration::from_secs(10);
/// The deadline of every other call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// "typing…" is cosmetic: give up quickly.
const TYPING_TIMEOUT: Duration = Duration::from_secs(10);
/// The deadline of one file download.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest API answer read (100 updates are far below this).
const MAX_RESPONSE: u64 = 8 << 20;
/// How often a waiting driver looks at its stop flag.
const STOP_CHECK: Duration = Duration::from_millis(200);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The retry interval while Telegram refuses the token.
const BAD_TOKEN_RETRY: Duration = Duration::from_secs(60);
/// The longest `retry_after` honoured as given (longer ones are cut to this).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Attempts per reply piece on network errors, 5xx and 429.
const SEND_ATTEMPTS: u32 = 4;
/// The longest wait between send attempts (a longer `retry_after` fails the send).
const MAX_SEND_WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// The Bot API client
// ---------------------------------------------------------------------------

/// What went wrong with one call.
#[derive(Debug, Clone, PartialEq)]
enum CallError {
    /// No answer: connection, TLS or timeout (already redacted).
    Network(String),
    /// Telegram answered with an error.
    Api { code: u16, description: String, retry_after: Option<Duration> },
    /// An answer that is not the Bot API's JSON.
    Malformed(String),
    /// A body over the cap of this call (bytes).
    TooLarge(u64),
}

impl CallError {
    fn is_bad_token(&self) -> bool {
        matches!(self, CallError::Api { code: 401 | 404, .. })
    }
}

/// One account's endpoint. Cheap to clone.
#[derive(Clone)]
struct Api {
    base: String,
    token: String,
}

/// The shared HTTP client: one connection pool, per-call deadlines. Every
/// polling account holds a connection, so its buffers are kept small (ureq's
/// default is 128 KiB each way; Telegram's answer heads are under 1 KiB and
/// bodies stream through).
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        let config = crate::http_config().input_buffer_size(16 << 10).output_buffer_size(16 << 10).build();
        ureq::Agent::new_with_config(config)
    })
}

impl Api {
    fn new(account: &Account) -> Api {
        let base = account.api_base.as_deref().unwrap_or(DEFAULT_BASE).trim_end_matches('/').to_string();
        Api { base, token: account.token.clone() }
    }

    /// `s` with the token (also percent-encoded) replaced.
    fn redact(&self, s: &str) -> String {
        if self.token.is_empty() {
            return s.to_string();
        }
        s.replace(&self.token, "<token>").replace(&self.token.replace(':', "%3A"), "<token>")
    }

    fn network(&self, e: ureq::Error) -> CallError {
        let text = match e {
            ureq::Error::Timeout(_) => "timed out".to_string(),
            ureq::Error::Io(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => "timed out".to_string(),
            ureq::Error::HostNotFound => "host not found".to_string(),
            ureq::Error::ConnectionFailed => "connection failed".to_string(),
            ureq::Error::BodyExceedsLimit(n) => return CallError::TooLarge(n),
            e => e.to_string(),
        };
        CallError::Network(self.redact(&text))
    }

    /// Calls `method` with `body`; the `result` on success.
    fn call(&self, method: &str, body: &Value, timeout: Duration) -> Result<Value, CallError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let response = agent()
            .post(&url)
            .header("content-type", "application/json")
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body.to_string().as_bytes())
            .map_err(|e| self.network(e))?;
        let status = response.status().as_u16();
        let bytes = response.into_body().into_with_config().limit(MAX_RESPONSE).read_to_vec().map_err(|e| self.network(e))?;
        parse_answer(status, &bytes).map_err(|e| match e {
            CallError::Api { code, description, retry_after } => {
                CallError::Api { code, description: self.redact(&description), retry_after }
            }
            CallError::Malformed(m) => CallError::Malformed(format!("{method}: {}", self.redact(&m))),
            e => e,
        })
    }

    /// Downloads a file by the `file_path` `getFile` gave, at most `max` bytes.
    fn download(&self, file_path: &str, max: u64) -> Result<Vec<u8>, CallError> {
        let url = format!("{}/file/bot{}/{file_path}", self.base, self.token);
        let response = agent()
            .get(&url)
            .config()
            .timeout_global(Some(DOWNLOAD_TIMEOUT))
            .build()
            .call()
            .map_err(|e| self.network(e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(CallError::Api { code: status, description: "file download failed".into(), retry_after: None });
        }
        let declared = response.headers().get("content-length").and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(CallError::TooLarge(max));
        }
        response.into_body().into_with_config().limit(max).read_to_vec().map_err(|e| self.network(e))
    }
}

/// The Bot API's envelope: `result`, or the error it describes.
fn parse_answer(status: u16, bytes: &[u8]) -> Result<Value, CallError> {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) if (200..300).contains(&status) => return Err(CallError::Malformed(format!("not JSON ({e})"))),
        Err(_) => {
            let text = crate::shorten(String::from_utf8_lossy(bytes).trim(), 200);
            return Err(CallError::Api { code: status, description: text, retry_after: None });
        }
    };
    if v["ok"] == true {
        return match v.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(CallError::Malformed("\"ok\" without a \"result\"".into())),
        };
    }
    if v["ok"] != false && (200..300).contains(&status) {
        return Err(CallError::Malformed("no \"ok\" field".into()));
    }
    let code = v["error_code"].as_u64().and_then(|c| u16::try_from(c).ok()).filter(|c| *c >= 100).unwrap_or(status);
    let description = v["description"].as_str().map(|d| crate::shorten(d, 300)).unwrap_or_else(|| format!("HTTP {status}"));
    let retry_after = v["parameters"]["retry_after"].as_f64().filter(|s| s.is_finite() && *s >= 0.0).map(|s| Duration::from_secs_f64(s.min(1e6)));
    Err(CallError::Api { code, description, retry_after })
}

/// Calls `method` on its own thread and waits for it, looking at `stop`
/// every [`STOP_CHECK`]; `None` when stopped first (the call then finishes on
/// its own and its answer is dropped: an abandoned `getUpdates` confirms
/// nothing, so its updates come again).
fn call_until_stopped(stop: &Stop, api: &Api, method: &'static str, body: Value, timeout: Duration) -> Option<Result<Value, CallError>> {
    let (tx, rx) = mpsc::sync_channel(1);
    let api2 = api.clone();
    let spawned = std::thread::Builder::new().name("telegram-http".into()).spawn(move || {
        let _ = tx.send(api2.call(method, &body, timeout));
    });
    if let Err(e) = spawned {
        return Some(Err(CallError::Network(format!("cannot start a thread: {e}"))));
    }
    loop {
        match rx.recv_timeout(STOP_CHECK) {
            Ok(v) => return Some(v),
            Err(mpsc::RecvTimeoutError::Timeout) if stop.is_set() => return None,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Some(Err(CallError::Network("the call's thread ended".into()))),
        }
    }
}

// ---------------------------------------------------------------------------
// The receive loop
// ---------------------------------------------------------------------------

/// The bot's own identity (from `getMe`).
#[derive(Debug, Clone, PartialEq, Default)]
struct Me {
    id: String,
    username: String,
}

fn me_from(v: &Value) -> Option<(Me, Value)> {
    let id = id_string(&v["id"])?;
    let username = v["username"].as_str().unwrap_or_default().to_string();
    let shown = json!({
        "id": v["id"],
        "username": username,
        "firstName": v["first_name"],
        "canJoinGroups": v["can_join_groups"],
        "canReadAllGroupMessages": v["can_read_all_group_messages"],
    });
    Some((Me { id, username }, shown))
}

/// Checks the token live: the bot's identity.
pub fn probe(account: &Account, timeout: Duration) -> Result<Value, String> {
    let api = Api::new(account);
    match api.call("getMe", &json!({}), timeout) {
        Ok(v) => me_from(&v).map(|(_, shown)| shown).ok_or_else(|| "Telegram's getMe answer has no bot id".to_string()),
        Err(e) => Err(describe(&e, account, "getMe")),
    }
}

/// Polls until `ctx.stop` is set.
pub fn run(ctx: Ctx) {
    let api = Api::new(&ctx.account);
    let mut backoff = Backoff::default();
    let me = loop {
        let Some(result) = call_until_stopped(&ctx.stop, &api, "getMe", json!({}), CALL_TIMEOUT) else { return };
        let no_id = || CallError::Malformed("getMe: the answer has no bot id".into());
        match result.and_then(|v| me_from(&v).ok_or_else(no_id)) {
            Ok((me, shown)) => {
                ctx.status.bot(shown);
                ctx.status.connected(true);
                log::info!("channel {}: connected as @{}", ctx.account.label(), me.username);
                break me;
            }
            Err(e) => {
                if fail(&ctx, &e, "getMe", &mut backoff) {
                    return;
                }
            }
        }
    };
    backoff = Backoff::default();
    let offset_file = offset_path(&ctx.account.state_dir, &ctx.account.id);
    let mut offset = load_offset(&offset_file, &me.id);
    let outbox: Arc<dyn super::Outbox> = Arc::new(Replies { api: api.clone() });
    while !ctx.stop.is_set() {
        let body = json!({"offset": offset, "timeout": POLL_TIMEOUT_S, "allowed_updates": ["message"]});
        let timeout = Duration::from_secs(POLL_TIMEOUT_S) + POLL_SLACK;
        let Some(result) = call_until_stopped(&ctx.stop, &api, "getUpdates", body, timeout) else { return };
        let result = result.and_then(|v| match v {
            Value::Array(updates) => Ok(updates),
            _ => Err(CallError::Malformed("getUpdates: the result is not a list".into())),
        });
        let updates = match result {
            Ok(updates) => updates,
            Err(e) => {
                if fail(&ctx, &e, "getUpdates", &mut backoff) {
                    return;
                }
                continue;
            }
        };
        let mut next = offset;
        for update in &updates {
            let Some(id) = update["update_id"].as_i64() else {
                log::warn!("channel {}: an update without update_id; skipped", ctx.account.label());
                continue;
            };
            if offset.is_some_and(|o| id < o) {
                continue; // already confirmed (Telegram does not send these)
            }
            let after = id.saturating_add(1);
            next = Some(next.map_or(after, |n: i64| n.max(after)));
            handle(&ctx, &api, &me, &outbox, update);
        }
        if next == offset && !updates.is_empty() {
            // Nothing to confirm: the same batch would come back at once.
            let e = CallError::Malformed("getUpdates: updates without a usable update_id".into());
            if fail(&ctx, &e, "getUpdates", &mut backoff) {
                return;
            }
            continue;
        }
        if !ctx.status.is_connected() {
            ctx.status.connected(true);
        }
        backoff = Backoff::default();
        if next != offset {
            offset = next;
            if let Some(n) = offset
                && let Err(e) = save_offset(&offset_file, n - 1, &me.id)
            {
                log::error!("channel {}: cannot save the update offset to {}: {e}", ctx.account.label(), offset_file.display());
            }
        }
    }
}

/// Reports `e` and waits as it asks; true when stopped meanwhile.
fn fail(ctx: &Ctx, e: &CallError, method: &str, backoff: &mut Backoff) -> bool {
    let text = describe(e, &ctx.account, method);
    log::warn!("channel {}: {text}", ctx.account.label());
    ctx.status.error(text);
    let wait = match e {
        e if e.is_bad_token() => BAD_TOKEN_RETRY,
        CallError::Api { code: 429, retry_after, .. } => retry_after.unwrap_or(BACKOFF_MIN).min(MAX_RETRY_AFTER),
        _ => backoff.next(),
    };
    ctx.stop.sleep(wait)
}

/// A status line for `e`: what happened and, where there is one, the fix.
fn describe(e: &CallError, account: &Account, method: &str) -> String {
    match e {
        CallError::Api { code: code @ (401 | 404), description, .. } => {
            let key = match (account.token_source, account.id == DEFAULT_ACCOUNT) {
                ("env", _) => Kind::Telegram.token_env().to_string(),
                ("tokenFile", true) => "the file in channels.telegram.tokenFile".to_string(),
                ("tokenFile", false) => format!("the file in channels.telegram.accounts.{}.tokenFile", account.id),
                (_, true) => "channels.telegram.botToken".to_string(),
                (_, false) => format!("channels.telegram.accounts.{}.botToken", account.id),
            };
            let account_flag = if account.id == DEFAULT_ACCOUNT { String::new() } else { format!(" --account {}", account.id) };
            format!(
                "Telegram rejected the bot token ({code} {description}): check {key}; copy the token from @BotFather and run `openclaw channels add --channel telegram{account_flag} --token <token>`"
            )
        }
        CallError::Api { code: 409, description, .. } => format!(
            "Telegram answered 409 Conflict ({description}): another program is polling this bot (a second gateway?) or a webhook is set; stop the other poller, or remove the webhook with the Bot API's deleteWebhook"
        ),
        CallError::Api { code: 429, description, retry_after } => {
            format!("Telegram is rate limiting this bot ({description}); retrying in {} s", retry_after.unwrap_or(BACKOFF_MIN).as_secs().max(1))
        }
        CallError::Api { code, description, .. } => format!("Telegram answered {code} to {method}: {description}"),
        CallError::Network(m) => format!("cannot reach Telegram ({method}): {m}"),
        CallError::Malformed(m) => format!("Telegram sent a malformed answer ({m})"),
        CallError::TooLarge(n) => format!("Telegram's answer to {method} is larger than {n} bytes"),
    }
}

/// Consecutive failures, and the jittered wait they call for
/// ([`super::backoff`], capped at [`BACKOFF_MAX`]).
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.failures += 1;
        super::backoff(self.failures, BACKOFF_MAX)
    }
}

// ---------------------------------------------------------------------------
// The offset file
// ---------------------------------------------------------------------------

/// `<state>/telegram/update-offset-<accountId>.json` (the id reduced to safe characters).
fn offset_path(state_dir: &Path, account_id: &str) -> PathBuf {
    let safe: String = account_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    state_dir.join("telegram").join(format!("update-offset-{safe}.json"))
}

/// The offset to poll from: the stored last update id + 1. A missing or
/// unreadable file, or one written for another bot, starts afresh.
fn load_offset(path: &Path, bot_id: &str) -> Option<i64> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return None,
        Err(e) => {
            log::warn!("telegram: cannot read {}: {e}; polling from Telegram's oldest pending update", path.display());
            return None;
        }
    };
    let v: Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => {
            log::warn!("telegram: {} is not valid JSON ({e}); polling from Telegram's oldest pending update", path.display());
            return None;
        }
    };
    if let Some(stored) = v.get("botId").and_then(id_string)
        && stored != bot_id
    {
        log::info!("telegram: {} belongs to another bot; starting afresh", path.display());
        return None;
    }
    v["lastUpdateId"].as_i64().map(|n| n + 1)
}

fn save_offset(path: &Path, last_update_id: i64, bot_id: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        crate::fsutil::ensure_private_dir(dir)?;
    }
    let v = json!({"version": 1, "lastUpdateId": last_update_id, "botId": bot_id});
    crate::fsutil::write_atomic(path, format!("{v}\n").as_bytes())
}

// ---------------------------------------------------------------------------
// Received messages
// ---------------------------------------------------------------------------

/// A file a message carries, not yet downloaded.
#[derive(Debug, Clone, PartialEq)]
struct MediaRef {
    file_id: String,
    /// The name to save it under.
    name: String,
    /// What Telegram declared, if anything.
    size: Option<u64>,
}

/// A decoded message: what the hub gets, plus its files.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    inbound: Inbound,
    media: Vec<MediaRef>,
}

fn handle(ctx: &Ctx, api: &Api, me: &Me, outbox: &Arc<dyn super::Outbox>, update: &Value) {
    let Some(message) = update.get("message") else { return };
    let Some(Parsed { mut inbound, media }) = parse_message(message, me) else { return };
    if !media.is_empty() {
        if wants_media(ctx, &inbound) {
            for m in &media {
                match fetch(ctx, api, m) {
                    Ok(path) => inbound.media.push(path),
                    Err(why) => {
                        log::warn!("channel {}: attachment {} not received: {why}", ctx.account.label(), m.name);
                        inbound.text.push_str(&format!("\n\n[attachment not received: {}: {why}]", m.name));
                    }
                }
            }
        } else {
            log::debug!("channel {}: attachments of a message that will not be processed are not downloaded", ctx.account.label());
        }
    }
    let outcome = ctx.hub.deliver(&ctx.account, &ctx.status, inbound, Arc::clone(outbox));
    log::debug!("channel {}: update {}: {outcome:?}", ctx.account.label(), update["update_id"]);
}

/// Whether the hub will process this message (so its files are worth fetching).
fn wants_media(ctx: &Ctx, msg: &Inbound) -> bool {
    match ctx.account.dm_policy {
        DmPolicy::Disabled if msg.direct => false,
        _ if !msg.direct && !msg.mentioned => false,
        DmPolicy::Open => true,
        _ => ctx.hub.allowed(&ctx.account, msg),
    }
}

/// `getFile`, the size check, the download, the media store.
fn fetch(ctx: &Ctx, api: &Api, m: &MediaRef) -> Result<PathBuf, String> {
    let limit = format!("larger than the {} MB limit", MEDIA_MAX_BYTES >> 20);
    if m.size.is_some_and(|s| s > MEDIA_MAX_BYTES) {
        return Err(limit);
    }
    let file = api.call("getFile", &json!({"file_id": m.file_id}), CALL_TIMEOUT).map_err(|e| describe(&e, &ctx.account, "getFile"))?;
    if file["file_size"].as_u64().is_some_and(|s| s > MEDIA_MAX_BYTES) {
        return Err(limit);
    }
    let path = file["file_path"].as_str().unwrap_or_default();
    if !safe_file_path(path) {
        return Err("Telegram gave no usable file path".into());
    }
    let bytes = api.download(path, MEDIA_MAX_BYTES).map_err(|e| match e {
        CallError::TooLarge(_) => limit.clone(),
        // Not a token problem here (a 404 is an expired file).
        CallError::Api { code, .. } => format!("the download answered HTTP {code}"),
        e => describe(&e, &ctx.account, "file download"),
    })?;
    let name = if m.name.is_empty() { path.rsplit('/').next().unwrap_or("file").to_string() } else { m.name.clone() };
    ctx.hub.save_media(&name, &bytes)
}

/// A relative path of plain segments (it is put into a URL as is).
fn safe_file_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 512
        && !p.starts_with('/')
        && p.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && p.chars().all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
}

/// A Telegram id (a JSON number, sometimes a string) as text.
fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| n.to_string()),
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            (!digits.is_empty() && digits.len() <= 20 && digits.chars().all(|c| c.is_ascii_digit())).then(|| s.clone())
        }
        _ => None,
    }
}

/// Decodes a `Message`; `None` for what the bot does not answer (channels,
/// other bots, service messages, anything malformed).
fn parse_message(msg: &Value, me: &Me) -> Option<Parsed> {
    let chat = &msg["chat"];
    let chat_id = id_string(&chat["id"])?;
    let direct = match chat["type"].as_str()? {
        "private" => true,
        "group" | "supergroup" => false,
        _ => return None,
    };
    let from = &msg["from"];
    let sender_id = id_string(&from["id"])?;
    if from["is_bot"] == true {
        return None;
    }
    let name = [from["first_name"].as_str(), from["last_name"].as_str()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let (text, entities) = match msg["text"].as_str() {
        Some(t) => (t, &msg["entities"]),
        None => (msg["caption"].as_str().unwrap_or_default(), &msg["caption_entities"]),
    };
    let (mut text, mentioned) = strip_mentions(text, entities, me);
    let replied_to_bot = !me.id.is_empty() && id_string(&msg["reply_to_message"]["from"]["id"]).as_deref() == Some(me.id.as_str());
    let message_id = id_string(&msg["message_id"]);
    let thread_id = (!direct && msg["is_topic_message"] == true).then(|| id_string(&msg["message_thread_id"])).flatten();
    let mut media = Vec::new();
    if let Some(p) = best_photo(&msg["photo"]) {
        media.push(p);
    }
    let doc = &msg["document"];
    if let Some(file_id) = doc["file_id"].as_str().filter(|s| !s.is_empty()) {
        media.push(MediaRef { file_id: file_id.to_string(), name: doc["file_name"].as_str().unwrap_or("document").to_string(), size: doc["file_size"].as_u64() });
    }
    if text.trim().is_empty() && !media.is_empty() {
        // Upstream's placeholder for a file without a caption.
        text = if doc.is_object() { "<media:document>" } else { "<media:image>" }.to_string();
    }
    let inbound = Inbound {
        target: Target { chat_id, thread_id, reply_to: if direct { None } else { message_id } },
        direct,
        sender_id,
        sender_name: name,
        sender_username: from["username"].as_str().filter(|u| !u.is_empty()).map(str::to_string),
        text,
        media: Vec::new(),
        mentioned: mentioned || replied_to_bot,
    };
    Some(Parsed { inbound, media })
}

/// The largest photo size within the media cap (sizes Telegram did not
/// declare are tried; `getFile` tells).
fn best_photo(sizes: &Value) -> Option<MediaRef> {
    let sizes = sizes.as_array()?;
    sizes
        .iter()
        .filter_map(|s| {
            let file_id = s["file_id"].as_str().filter(|f| !f.is_empty())?;
            let size = s["file_size"].as_u64();
            let area = s["width"].as_u64().unwrap_or(0).saturating_mul(s["height"].as_u64().unwrap_or(0));
            Some((area, size, file_id))
        })
        .filter(|(_, size, _)| size.is_none_or(|n| n <= MEDIA_MAX_BYTES))
        .max_by_key(|(area, size, _)| (*area, size.unwrap_or(0)))
        .map(|(_, size, file_id)| MediaRef { file_id: file_id.to_string(), name: "photo.jpg".into(), size })
        .or_else(|| {
            // Every size is over the cap: report the smallest as too large.
            let s = sizes.iter().find(|s| s["file_id"].as_str().is_some_and(|f| !f.is_empty()))?;
            Some(MediaRef { file_id: s["file_id"].as_str()?.to_string(), name: "photo.jpg".into(), size: s["file_size"].as_u64() })
        })
}

/// The byte range of UTF-16 `[offset, offset+length)` in `text` (Telegram's
/// entity units); `None` when it is outside or splits a character.
fn utf16_range(text: &str, offset: usize, length: usize) -> Option<(usize, usize)> {
    let end_units = offset.checked_add(length)?;
    let (mut units, mut start, mut end) = (0usize, None, None);
    for (i, c) in text.char_indices() {
        if units == offset {
            start = Some(i);
        }
        if units == end_units {
            end = Some(i);
            break;
        }
        units += c.len_utf16();
    }
    if end.is_none() && units == end_units {
        end = Some(text.len());
        if units == offset {
            start = Some(text.len());
        }
    }
    Some((start?, end?))
}

/// Whether `text` addresses the bot, and the text without the mention.
fn strip_mentions(text: &str, entities: &Value, me: &Me) -> (String, bool) {
    let handle = format!("@{}", me.username);
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for e in entities.as_array().into_iter().flatten().take(1000) {
        let (Some(offset), Some(length)) = (e["offset"].as_u64(), e["length"].as_u64()) else { continue };
        let Some((a, b)) = utf16_range(text, offset as usize, length as usize) else { continue };
        let piece = &text[a..b];
        match e["type"].as_str() {
            Some("mention") if !me.username.is_empty() && piece.eq_ignore_ascii_case(&handle) => cuts.push((a, b)),
            Some("text_mention") if !me.id.is_empty() && id_string(&e["user"]["id"]).as_deref() == Some(me.id.as_str()) => cuts.push((a, b)),
            Some("bot_command") if !me.username.is_empty() && piece.len() > handle.len() && piece.to_ascii_lowercase().ends_with(&handle.to_ascii_lowercase()) => {
                // `/start@bot` → `/start`
                cuts.push((b - handle.len(), b));
            }
            _ => {}
        }
    }
    if cuts.is_empty() && !me.username.is_empty() && entities.as_array().is_none_or(Vec::is_empty) {
        // No entities at all: find the handle as a word.
        let lower = text.to_ascii_lowercase();
        let h = handle.to_ascii_lowercase();
        let mut from = 0;
        while let Some(i) = lower[from..].find(&h).map(|i| i + from) {
            let end = i + h.len();
            let word_end = lower[end..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            if word_end {
                cuts.push((i, end));
            }
            from = end;
        }
    }
    if cuts.is_empty() {
        return (text.to_string(), false);
    }
    cuts.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (a, b) in cuts {
        if a < at {
            continue;
        }
        out.push_str(&text[at..a]);
        at = b;
    }
    out.push_str(&text[at..]);
    let cleaned = out.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    let cleaned = cleaned.trim().trim_start_matches([',', ':', ';']).trim().to_string();
    (cleaned, true)
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// A failed send, for the hub's log and status.
fn describe_send(e: &CallError) -> String {
    match e {
        CallError::Api { code, description, .. } => format!("Telegram answered {code} to sendMessage: {description}"),
        CallError::Network(m) => format!("cannot reach Telegram (sendMessage): {m}"),
        CallError::Malformed(m) => format!("Telegram sent a malformed answer ({m})"),
        CallError::TooLarge(n) => format!("Telegram's answer to sendMessage is larger than {n} bytes"),
    }
}

/// Sends replies (`sendMessage`, `sendChatAction`); the hub's [`super::Outbox`].
struct Replies {
    api: Api,
}

/// A chat id as Telegram wants it: a number when it is one.
fn chat_id_json(id: &str) -> Value {
    id.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(id))
}

impl super::Outbox for Replies {
    fn send(&self, to: &Target, text: &str) -> Result<(), String> {
        let mut fence: Option<String> = None;
        for (i, piece) in super::split_text(text, Kind::Telegram.text_limit()).iter().enumerate() {
            let (html, open) = markdown_to_html(piece, fence.take());
            fence = open;
            self.send_piece(to, piece, &html, i == 0)?;
        }
        Ok(())
    }

    fn typing(&self, to: &Target) {
        let mut body = json!({"chat_id": chat_id_json(&to.chat_id), "action": "typing"});
        if let Some(t) = to.thread_id.as_deref().and_then(|t| t.parse::<i64>().ok()) {
            body["message_thread_id"] = json!(t);
        }
        if let Err(e) = self.api.call("sendChatAction", &body, TYPING_TIMEOUT) {
            log::debug!("telegram: sendChatAction: {e:?}");
        }
    }
}

impl Replies {
    /// One message: as HTML, else (Telegram refused the markup) as plain text.
    fn send_piece(&self, to: &Target, plain: &str, html: &str, first: bool) -> Result<(), String> {
        let mut body = json!({"chat_id": chat_id_json(&to.chat_id), "text": html, "parse_mode": "HTML"});
        if let Some(t) = to.thread_id.as_deref().and_then(|t| t.parse::<i64>().ok()) {
            body["message_thread_id"] = json!(t);
        }
        if first && let Some(r) = to.reply_to.as_deref().and_then(|r| r.parse::<i64>().ok()) {
            body["reply_parameters"] = json!({"message_id": r, "allow_sending_without_reply": true});
        }
        match self.send_with_retries(&body) {
            Err(CallError::Api { code: 400, description, .. }) if description.to_lowercase().contains("can't parse entities") => {
                log::info!("telegram: the reply's formatting was refused ({description}); sending it as plain text");
                if let Value::Object(m) = &mut body {
                    m.remove("parse_mode");
                    m.insert("text".into(), json!(plain));
                }
                self.send_with_retries(&body).map_err(|e| describe_send(&e))
            }
            r => r.map_err(|e| describe_send(&e)),
        }
    }

    /// `sendMessage`, again after 429 (`retry_after`), 5xx and network errors.
    fn send_with_retries(&self, body: &Value) -> Result<(), CallError> {
        let mut backoff = Backoff::default();
        let mut attempt = 1;
        loop {
            let e = match self.api.call("sendMessage", body, CALL_TIMEOUT) {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let wait = match &e {
                CallError::Api { code: 429, retry_after, .. } => retry_after.unwrap_or(BACKOFF_MIN),
                CallError::Api { code, .. } if *code >= 500 => backoff.next(),
                CallError::Network(_) => backoff.next(),
                _ => return Err(e),
            };
            if attempt >= SEND_ATTEMPTS || wait > MAX_SEND_WAIT {
                return Err(e);
            }
            log::info!("telegram: sendMessage failed ({e:?}); again in {} ms", wait.as_millis());
            std::thread::sleep(wait);
            attempt += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// Markdown → Telegram HTML
// ---------------------------------------------------------------------------

/// Nesting depth of inline markup beyond which text is kept literal.
const MAX_INLINE_DEPTH: u32 = 6;

/// Converts the Markdown models write (fenced code, `inline code`, **bold**,
/// *italic*/_italic_, ~~strike~~, [links](https://…), `#` headings, `-`
/// bullets) to Telegram's HTML; everything else is escaped. Tags are always
/// balanced. `fence` says the text starts inside a code block with that
/// language (the previous piece ended in one); the returned fence is the
/// block still open at the end (closed in this piece's HTML).
pub fn markdown_to_html(text: &str, fence: Option<String>) -> (String, Option<String>) {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut fence = fence;
    let mut code = String::new();
    let mut first = true;
    let newline = |out: &mut String, first: &mut bool| {
        if !*first {
            out.push('\n');
        }
        *first = false;
    };
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("```") {
            match fence.take() {
                Some(lang) => {
                    newline(&mut out, &mut first);
                    push_pre(&mut out, &lang, &code);
                    code.clear();
                }
                None => fence = Some(rest.trim().to_string()),
            }
            continue;
        }
        if fence.is_some() {
            code.push_str(line);
            code.push('\n');
            continue;
        }
        newline(&mut out, &mut first);
        push_line(&mut out, line);
    }
    if let Some(lang) = &fence {
        newline(&mut out, &mut first);
        push_pre(&mut out, lang, &code);
    }
    (out, fence)
}

fn push_pre(out: &mut String, lang: &str, code: &str) {
    let lang: String = lang.chars().filter(|c| c.is_ascii_alphanumeric() || "+-_#.".contains(*c)).take(32).collect();
    if lang.is_empty() {
        out.push_str("<pre>");
    } else {
        out.push_str(&format!("<pre><code class=\"language-{lang}\">"));
    }
    escape_into(out, code.strip_suffix('\n').unwrap_or(code));
    out.push_str(if lang.is_empty() { "</pre>" } else { "</code></pre>" });
}

/// One line outside code blocks: headings and bullets, then inline markup.
fn push_line(out: &mut String, line: &str) {
    let trimmed = line.trim_start();
    let hashes = trimmed.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
        out.push_str("<b>");
        inline(out, trimmed[hashes..].trim(), 1);
        out.push_str("</b>");
        return;
    }
    let indent = &line[..line.len() - trimmed.len()];
    if let Some(item) = trimmed.strip_prefix("- ").or_else(|| trimmed.strip_prefix("* ")) {
        out.push_str(indent);
        out.push_str("• ");
        inline(out, item, 0);
        return;
    }
    inline(out, line, 0);
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(s: &str) -> String {
    let mut out = String::new();
    escape_into(&mut out, s);
    out.replace('"', "&quot;")
}

/// Inline markup of `s` into `out`. Every tag is emitted with its content,
/// so the result is balanced whatever the input.
fn inline(out: &mut String, s: &str, depth: u32) {
    let mut i = 0;
    let mut prev: Option<char> = None;
    while i < s.len() {
        let rest = &s[i..];
        if let Some(used) = inline_at(out, rest, prev, depth) {
            prev = rest[..used].chars().next_back();
            i += used;
            continue;
        }
        let c = rest.chars().next().expect("i < len");
        escape_into(out, c.encode_utf8(&mut [0; 4]));
        prev = Some(c);
        i += c.len_utf8();
    }
}

/// Markup starting at `rest`: emitted, and the bytes used.
fn inline_at(out: &mut String, rest: &str, prev: Option<char>, depth: u32) -> Option<usize> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    if let Some(after) = rest.strip_prefix('`') {
        let end = after.find('`').filter(|&e| e > 0)?;
        out.push_str("<code>");
        escape_into(out, &after[..end]);
        out.push_str("</code>");
        return Some(end + 2);
    }
    if depth >= MAX_INLINE_DEPTH {
        return None;
    }
    if rest.starts_with('[') {
        let close = rest.find("](")?;
        let label = &rest[1..close];
        let url_start = close + 2;
        let url_len = rest[url_start..].find(')')?;
        let url = &rest[url_start..url_start + url_len];
        let scheme_ok = ["http://", "https://", "tg://", "mailto:"].iter().any(|p| url.to_ascii_lowercase().starts_with(p));
        if label.is_empty() || label.contains(['[', '\n']) || !scheme_ok || url.contains(char::is_whitespace) {
            return None;
        }
        out.push_str(&format!("<a href=\"{}\">", escape_attr(url)));
        inline(out, label, depth + 1);
        out.push_str("</a>");
        return Some(url_start + url_len + 1);
    }
    for (delim, tag) in [("**", "b"), ("__", "b"), ("~~", "s"), ("*", "i"), ("_", "i")] {
        let Some(after) = rest.strip_prefix(delim) else { continue };
        let underscore = delim.starts_with('_');
        if underscore && word(prev) {
            return None;
        }
        let single = delim.len() == 1;
        let ch = delim.chars().next().expect("non-empty delimiter");
        if single && after.starts_with(ch) {
            return None;
        }
        let mut from = 0;
        let end = loop {
            let e = from + after[from..].find(delim)?;
            let inner = &after[..e];
            let next = after[e + delim.len()..].chars().next();
            // `*a **b** c*`: a single delimiter does not close on a double one.
            let doubled = single && (next == Some(ch) || inner.ends_with(ch));
            // `_` closes only at a word's end (snake_case stays as is).
            let mid_word = underscore && word(next);
            let spaced = inner.starts_with(char::is_whitespace) || inner.ends_with(char::is_whitespace);
            if !inner.is_empty() && !spaced && !doubled && !mid_word {
                break e;
            }
            from = e + delim.len();
            if from >= after.len() {
                return None;
            }
        };
        out.push_str(&format!("<{tag}>"));
        inline(out, &after[..end], depth + 1);
        out.push_str(&format!("</{tag}>"));
        return Some(delim.len() * 2 + end);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Me {
        Me { id: "999".into(), username: "oc_bot".into() }
    }

    #[test]
    fn markdown_becomes_balanced_escaped_html() {
        let h = |s: &str| markdown_to_html(s, None).0;
        assert_eq!(h("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
        assert_eq!(h("**bold** and *it* and _it_ and ~~no~~"), "<b>bold</b> and <i>it</i> and <i>it</i> and <s>no</s>");
        assert_eq!(h("use `a<b>` here"), "use <code>a&lt;b&gt;</code> here");
        assert_eq!(h("[docs](https://x.io/?a=1&b=\"2\")"), "<a href=\"https://x.io/?a=1&amp;b=&quot;2&quot;\">docs</a>");
        assert_eq!(h("[bad](javascript:alert(1))"), "[bad](javascript:alert(1))");
        assert_eq!(h("# Title\n- one\n* two"), "<b>Title</b>\n• one\n• two");
        assert_eq!(h("```rust\nlet a = 1 < 2;\n```\nafter"), "<pre><code class=\"language-rust\">let a = 1 &lt; 2;</code></pre>\nafter");
        assert_eq!(h("```\nplain\n```"), "<pre>plain</pre>");
        // Not markup: snake_case, lone stars, spaced stars, unclosed.
        assert_eq!(h("snake_case_name and 2 * 3 * 4"), "snake_case_name and 2 * 3 * 4");
        assert_eq!(h("**unclosed and `open"), "**unclosed and `open");
        assert_eq!(h("**bold *in* it**"), "<b>bold <i>in</i> it</b>");
        assert_eq!(h("*a **b** c*"), "<i>a <b>b</b> c</i>");
        assert_eq!(h("2**10"), "2**10");
    }

    #[test]
    fn markdown_fences_carry_across_pieces() {
        let (first, open) = markdown_to_html("text\n```py\nx = 1", None);
        assert_eq!(first, "text\n<pre><code class=\"language-py\">x = 1</code></pre>");
        assert_eq!(open.as_deref(), Some("py"));
        let (second, open) = markdown_to_html("y = 2\n```\n**done**", open);
        assert_eq!(second, "<pre><code class=\"language-py\">y = 2</code></pre>\n<b>done</b>");
        assert_eq!(open, None);
    }

    #[test]
    fn markdown_never_produces_unbalanced_tags() {
        // A crude balance check over nasty inputs.
        let inputs = ["*_*_*_*", "**__~~`x`~~__**", "[a](https://b) [c](", "_a_b_ *a*b* ~~~~", "<b>not a tag</b>", "**a\n**b", "*".repeat(300).as_str()].map(str::to_string);
        for s in inputs {
            let html = markdown_to_html(&s, None).0;
            let mut stack = Vec::new();
            let mut rest = html.as_str();
            while let Some(i) = rest.find('<') {
                let end = rest[i..].find('>').unwrap() + i;
                let tag = &rest[i + 1..end];
                if let Some(closing) = tag.strip_prefix('/') {
                    assert_eq!(stack.pop().as_deref(), Some(closing), "{s:?} → {html}");
                } else {
                    stack.push(tag.split(' ').next().unwrap().to_string());
                }
                rest = &rest[end + 1..];
            }
            assert!(stack.is_empty(), "{s:?} → {html}");
        }
    }

    fn private(text: &str) -> Value {
        json!({"message_id": 5, "date": 1, "chat": {"id": 42, "type": "private", "first_name": "Ann"},
               "from": {"id": 42, "is_bot": false, "first_name": "Ann", "last_name": "Lee", "username": "ann"}, "text": text})
    }

    #[test]
    fn private_messages_are_direct() {
        let p = parse_message(&private("hello"), &me()).unwrap();
        let i = p.inbound;
        assert!(i.direct);
        assert_eq!((i.sender_id.as_str(), i.sender_name.as_str(), i.sender_username.as_deref()), ("42", "Ann Lee", Some("ann")));
        assert_eq!(i.target, Target { chat_id: "42".into(), thread_id: None, reply_to: None });
        assert_eq!(i.text, "hello");
        // Bots, channels and malformed messages are not answered.
        let mut bot = private("x");
        bot["from"]["is_bot"] = json!(true);
        assert!(parse_message(&bot, &me()).is_none());
        let mut channel = private("x");
        channel["chat"]["type"] = json!("channel");
        assert!(parse_message(&channel, &me()).is_none());
        for bad in [json!(null), json!({"chat": 5}), json!({"chat": {"id": "x", "type": "private"}, "from": {"id": 1}}), json!({"chat": {"id": 1, "type": "private"}})] {
            assert!(parse_message(&bad, &me()).is_none(), "{bad}");
        }
    }

    fn group(text: &str, entities: Value) -> Value {
        json!({"message_id": 77, "date": 1, "chat": {"id": -100123, "type": "supergroup", "title": "G"},
               "from": {"id": 42, "is_bot": false, "first_name": "Ann"}, "text": text, "entities": entities})
    }

    #[test]
    fn group_mentions_are_detected_by_entities_in_utf16_and_cut() {
        // "👋 @oc_bot hi": the emoji is two UTF-16 units.
        let text = "👋 @oc_bot hi";
        let p = parse_message(&group(text, json!([{"type": "mention", "offset": 3, "length": 7}])), &me()).unwrap().inbound;
        assert!(p.mentioned && !p.direct);
        assert_eq!(p.text, "👋 hi");
        assert_eq!(p.target, Target { chat_id: "-100123".into(), thread_id: None, reply_to: Some("77".into()) });
        // Another user's mention is not ours.
        let p = parse_message(&group("@other hi", json!([{"type": "mention", "offset": 0, "length": 6}])), &me()).unwrap().inbound;
        assert!(!p.mentioned);
        assert_eq!(p.text, "@other hi");
        // Case-insensitive, leading punctuation dropped.
        let p = parse_message(&group("@OC_Bot, status?", json!([{"type": "mention", "offset": 0, "length": 7}])), &me()).unwrap().inbound;
        assert_eq!((p.mentioned, p.text.as_str()), (true, "status?"));
        // /cmd@bot keeps the command.
        let p = parse_message(&group("/start@oc_bot", json!([{"type": "bot_command", "offset": 0, "length": 13}])), &me()).unwrap().inbound;
        assert_eq!((p.mentioned, p.text.as_str()), (true, "/start"));
        // text_mention of the bot's id.
        let p = parse_message(&group("Bot do it", json!([{"type": "text_mention", "offset": 0, "length": 3, "user": {"id": 999}}])), &me()).unwrap().inbound;
        assert_eq!((p.mentioned, p.text.as_str()), (true, "do it"));
        // Out-of-range entities are ignored, never a panic.
        let p = parse_message(&group("hi", json!([{"type": "mention", "offset": 1, "length": 50}, {"type": "mention", "offset": -1}])), &me()).unwrap().inbound;
        assert!(!p.mentioned);
        // No entities at all: the handle as a word.
        let p = parse_message(&group("hey @oc_bot!", json!(null)), &me()).unwrap().inbound;
        assert_eq!((p.mentioned, p.text.as_str()), (true, "hey !"));
        assert!(!parse_message(&group("hey @oc_bots", json!(null)), &me()).unwrap().inbound.mentioned);
    }

    #[test]
    fn replies_to_the_bot_and_topics() {
        let mut m = group("go on", json!([]));
        m["reply_to_message"] = json!({"message_id": 70, "from": {"id": 999, "is_bot": true}});
        m["is_topic_message"] = json!(true);
        m["message_thread_id"] = json!(12);
        let p = parse_message(&m, &me()).unwrap().inbound;
        assert!(p.mentioned);
        assert_eq!(p.target.thread_id.as_deref(), Some("12"));
        // A reply thread in a plain group is not a topic.
        m["is_topic_message"] = json!(false);
        assert_eq!(parse_message(&m, &me()).unwrap().inbound.target.thread_id, None);
    }

    #[test]
    fn photos_pick_the_largest_size_within_the_cap_and_documents_keep_their_name() {
        let mut m = private("");
        m.as_object_mut().unwrap().remove("text");
        m["caption"] = json!("look");
        m["photo"] = json!([
            {"file_id": "s", "width": 90, "height": 90, "file_size": 1000},
            {"file_id": "m", "width": 800, "height": 800, "file_size": 90000},
            {"file_id": "xl", "width": 5000, "height": 5000, "file_size": MEDIA_MAX_BYTES + 1},
        ]);
        let p = parse_message(&m, &me()).unwrap();
        assert_eq!(p.inbound.text, "look");
        assert_eq!(p.media, vec![MediaRef { file_id: "m".into(), name: "photo.jpg".into(), size: Some(90000) }]);
        let mut d = private("");
        d.as_object_mut().unwrap().remove("text");
        d["document"] = json!({"file_id": "d1", "file_name": "report.pdf", "file_size": 10});
        let p = parse_message(&d, &me()).unwrap();
        assert_eq!(p.inbound.text, "<media:document>");
        assert_eq!(p.media[0].name, "report.pdf");
    }

    #[test]
    fn answers_and_errors_are_decoded() {
        assert_eq!(parse_answer(200, br#"{"ok":true,"result":[1]}"#), Ok(json!([1])));
        assert_eq!(
            parse_answer(429, br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#),
            Err(CallError::Api { code: 429, description: "Too Many Requests: retry after 7".into(), retry_after: Some(Duration::from_secs(7)) })
        );
        assert!(matches!(parse_answer(200, b"{not json"), Err(CallError::Malformed(_))));
        assert!(matches!(parse_answer(200, br#"{"ok":true}"#), Err(CallError::Malformed(_))));
        assert!(matches!(parse_answer(502, b"<html>Bad Gateway</html>"), Err(CallError::Api { code: 502, .. })));
        assert!(parse_answer(404, br#"{"ok":false,"error_code":404,"description":"Not Found"}"#).unwrap_err().is_bad_token());
    }

    fn account(id: &str, source: &'static str) -> Account {
        Account {
            kind: Kind::Telegram,
            id: id.into(),
            enabled: true,
            token: "123:secret".into(),
            token_source: source,
            token_error: None,
            api_base: Some("http://127.0.0.1:9/".into()),
            dm_policy: DmPolicy::Pairing,
            allow_from: Vec::new(),
            state_dir: PathBuf::from("/nonexistent"),
        }
    }

    #[test]
    fn bad_token_errors_name_the_key_and_the_fix() {
        let e = CallError::Api { code: 401, description: "Unauthorized".into(), retry_after: None };
        let d = describe(&e, &account("default", "config"), "getMe");
        assert!(d.contains("channels.telegram.botToken") && d.contains("openclaw channels add --channel telegram --token"), "{d}");
        let d = describe(&e, &account("work", "config"), "getMe");
        assert!(d.contains("channels.telegram.accounts.work.botToken") && d.contains("--account work"), "{d}");
        assert!(describe(&e, &account("default", "env"), "getMe").contains("TELEGRAM_BOT_TOKEN"));
        let api = Api::new(&account("default", "config"));
        assert_eq!(api.base, "http://127.0.0.1:9");
        assert_eq!(api.redact("GET /bot123:secret/getMe and /bot123%3Asecret/x"), "GET /bot<token>/getMe and /bot<token>/x");
    }

    #[test]
    fn the_token_never_shows_in_network_errors() {
        let api = Api::new(&account("default", "config"));
        // Nothing listens on port 9 of loopback.
        let e = api.call("getMe", &json!({}), Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, CallError::Network(_)), "{e:?}");
        assert!(!format!("{e:?}").contains("secret"), "{e:?}");
    }

    #[test]
    fn offsets_round_trip_and_belong_to_one_bot() {
        let dir = std::env::temp_dir().join(format!("oc-tg-{}", crate::crypto::random_hex_token(6).unwrap()));
        let path = offset_path(&dir, "we/ird");
        assert!(path.ends_with("telegram/update-offset-we_ird.json"), "{}", path.display());
        assert_eq!(load_offset(&path, "1"), None);
        save_offset(&path, 41, "1").unwrap();
        assert_eq!(load_offset(&path, "1"), Some(42));
        assert_eq!(load_offset(&path, "2"), None, "another bot's offset is not used");
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v, json!({"version": 1, "lastUpdateId": 41, "botId": "1"}));
        // Upstream's file without botId is used as is; a corrupt one is ignored.
        std::fs::write(&path, r#"{"version":1,"lastUpdateId":7}"#).unwrap();
        assert_eq!(load_offset(&path, "1"), Some(8));
        std::fs::write(&path, "{garbage").unwrap();
        assert_eq!(load_offset(&path, "1"), None);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn utf16_ranges() {
        assert_eq!(utf16_range("ab", 0, 2), Some((0, 2)));
        assert_eq!(utf16_range("é👋x", 1, 2), Some((2, 6)));
        assert_eq!(utf16_range("é👋x", 2, 1), None, "inside a surrogate pair");
        assert_eq!(utf16_range("ab", 1, 5), None);
        assert!(safe_file_path("photos/file_1.jpg"));
        assert_eq!(id_string(&json!("-100")), Some("-100".into()));
        for bad in [json!("-"), json!(""), json!("1e3"), json!(1.5), json!(null), json!("--1")] {
            assert_eq!(id_string(&bad), None, "{bad}");
        }
        for bad in ["", "/etc/passwd", "a/../b", "a?b", "a//b"] {
            assert!(!safe_file_path(bad), "{bad}");
        }
    }
}
