//! The Discord driver: a bot on the Discord Gateway, answering through REST.
//!
//! One thread per account ([`run`]) keeps the Gateway connection:
//! `GET /gateway/bot` for the URL, connect `{url}/?v=10&encoding=json`,
//! Hello, then Identify (token, intents GUILDS, GUILD_MESSAGES,
//! DIRECT_MESSAGES and MESSAGE_CONTENT) or Resume, heartbeats every
//! `heartbeat_interval` (the first after a random part of it), and
//! dispatches. A missing heartbeat ACK means a zombie connection: it is
//! closed and resumed. Op 7 (Reconnect) and a dropped socket resume on
//! READY's `resume_gateway_url`; op 9 (Invalid Session) resumes or, with
//! `d: false`, identifies anew after 1–5 s. Close codes decide the rest
//! (`wire::close_action`): a bad token (4004) or a refused Message Content
//! intent (4014) is shown in `channels status` with the fix and retried
//! every few minutes; other failures back off (jittered, up to a minute).
//!
//! MESSAGE_CREATE events become [`Inbound`](crate::channels::Inbound)s
//! (`wire::parse_message`) and go, in order, to a second thread that fetches
//! their attachments (capped at `MEDIA_MAX_BYTES`, declared size checked
//! first) and hands them to the hub. Replies and typing go out through
//! [`rest::Rest`], the account's [`Outbox`](crate::channels::Outbox).
//!
//! Not here: voice, interactions and slash commands, sharding (one shard per
//! account), compression, presence.

mod rest;
mod socket;
mod wire;

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Account, Ctx, DEFAULT_ACCOUNT, Outbox};
use crate::agent::runtime::MEDIA_MAX_BYTES;
use crate::crypto::random_fraction;
use crate::gateway::ws::Message;
use rest::Rest;
use socket::Socket;
use wire::op;

/// The TCP connect plus the TLS and WebSocket handshakes, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Hello must follow the upgrade within this.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Reads wait at most this long, so a stop is noticed promptly.
const POLL: Duration = Duration::from_millis(500);
/// Retry after a problem only the user can fix (bad token, intents).
const FIX_RETRY: Duration = Duration::from_secs(300);
/// Identifies are at least this far apart (Discord allows one per 5 s).
const IDENTIFY_SPACING: Duration = Duration::from_secs(5);
/// Messages waiting for the delivery thread, at most.
const QUEUE: usize = 256;
/// One attachment download, at most.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Malformed Gateway frames logged per connection (the rest are counted).
const LOGGED_BAD_FRAMES: u32 = 5;

/// Runs the account's bot until `ctx.stop` is set.
pub fn run(ctx: Ctx) {
    let rest = Arc::new(Rest::new(&ctx.account, Arc::clone(&ctx.stop)));
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let deliver = {
        let (ctx, rest) = (ctx.clone(), Arc::clone(&rest));
        std::thread::Builder::new().name(format!("channel-{}-in", ctx.account.label())).spawn(move || deliver_loop(&ctx, rest, &rx))
    };
    if let Err(e) = deliver {
        ctx.status.error(format!("cannot start a thread: {e}"));
        return;
    }
    let mut link = Link {
        token: bare_token(&ctx.account.token).to_string(),
        ctx,
        rest,
        gateway_url: None,
        session: None,
        seq: None,
        bot_id: String::new(),
        failures: 0,
        last_identify: None,
        inbox: tx,
    };
    link.run();
}

/// Checks the token with `GET /users/@me`; the bot's identity on success.
pub fn probe(account: &Account, timeout: Duration) -> Result<Value, String> {
    let rest = Rest::new(account, Arc::default()).with_timeout(timeout);
    let me = rest.get("/users/@me").map_err(|e| e.to_string())?;
    let bot = wire::parse_user(&me).ok_or("GET /users/@me answered without an id and username")?;
    Ok(bot.to_json())
}

/// The token without a `Bot ` prefix someone may have pasted with it.
fn bare_token(token: &str) -> &str {
    let t = token.trim();
    t.strip_prefix("Bot ").unwrap_or(t).trim()
}

/// The bad-token message: what Discord said and where the token goes.
fn bad_token(account: &Account, what: &str) -> String {
    let (key, flag) = if account.id == DEFAULT_ACCOUNT {
        ("channels.discord.token (or the DISCORD_BOT_TOKEN environment variable)".to_string(), String::new())
    } else {
        (format!("channels.discord.accounts.{}.token", account.id), format!(" --account {}", account.id))
    };
    format!(
        "Discord rejected the bot token ({what}). Copy it from the Discord Developer Portal (your application → Bot → Reset Token) \
         into {key}, e.g. `openclaw channels add --channel discord --token <token>{flag}`"
    )
}

/// The wait before attempt `n` (1-based) after failures: 1, 2, 4 … 60 s.
fn backoff(n: u32) -> Duration {
    super::backoff(n, Duration::from_secs(60))
}

/// A resumable session.
struct Session {
    id: String,
    resume_url: String,
}

/// What to do once a connection has ended.
enum After {
    Stopped,
    /// Reconnect after the wait; resume when there is a session.
    Reconnect(Duration),
    /// Forget the session and identify after the wait.
    Identify(Duration),
    /// A network or server problem: shown, retried with backoff (the
    /// session is kept).
    Retry(String),
    /// A problem that waiting will not fix soon: shown, session dropped,
    /// retried after the wait.
    Pause(String, Duration),
}

/// The Gateway connection's state across reconnects.
struct Link {
    ctx: Ctx,
    token: String,
    rest: Arc<Rest>,
    gateway_url: Option<String>,
    session: Option<Session>,
    /// The last dispatch sequence number seen.
    seq: Option<u64>,
    bot_id: String,
    /// Failures since the last READY or RESUMED.
    failures: u32,
    last_identify: Option<Instant>,
    inbox: SyncSender<wire::Incoming>,
}

impl Link {
    fn run(&mut self) {
        let label = self.ctx.account.label();
        loop {
            if self.ctx.stop.is_set() {
                return;
            }
            let wait = match self.connect_once() {
                After::Stopped => return,
                After::Reconnect(wait) => {
                    self.ctx.status.connected(false);
                    wait
                }
                After::Identify(wait) => {
                    self.ctx.status.connected(false);
                    self.forget_session();
                    wait
                }
                After::Retry(why) => {
                    self.failures += 1;
                    if self.failures >= 3 && self.session.is_some() {
                        // The resume URL may be gone: start over next time.
                        log::info!("channel {label}: resuming keeps failing; a new session follows");
                        self.forget_session();
                    }
                    let wait = backoff(self.failures);
                    log::warn!("channel {label}: {why}; retrying in {:.1} s", wait.as_secs_f64());
                    self.ctx.status.error(format!("{why} (retrying)"));
                    wait
                }
                After::Pause(why, wait) => {
                    log::error!("channel {label}: {why}");
                    self.ctx.status.error(why);
                    self.forget_session();
                    self.gateway_url = None;
                    wait.mul_f64(0.75 + random_fraction() / 2.0)
                }
            };
            if self.ctx.stop.sleep(wait) {
                return;
            }
        }
    }

    fn forget_session(&mut self) {
        self.session = None;
        self.seq = None;
    }

    /// One connection, from the connect to its end.
    fn connect_once(&mut self) -> After {
        let resuming = self.session.is_some();
        let base = match &self.session {
            Some(s) => s.resume_url.clone(),
            None => match self.gateway_url() {
                Ok(u) => u,
                Err(after) => return after,
            },
        };
        if !resuming && let Some(t) = self.last_identify {
            let left = IDENTIFY_SPACING.saturating_sub(t.elapsed());
            if !left.is_zero() && self.ctx.stop.sleep(left) {
                return After::Stopped;
            }
        }
        let url = format!("{base}/?v=10&encoding=json");
        let mut sock = match Socket::connect(&url, None, CONNECT_TIMEOUT) {
            Ok(s) => s,
            Err(e) => {
                if !resuming {
                    self.gateway_url = None;
                }
                return After::Retry(format!("cannot connect to the Discord Gateway: {e}"));
            }
        };
        let interval = match self.hello(&mut sock) {
            Ok(i) => i,
            Err(after) => return after,
        };
        let first = match &self.session {
            Some(s) => wire::resume(&self.token, &s.id, self.seq),
            None => {
                self.last_identify = Some(Instant::now());
                wire::identify(&self.token)
            }
        };
        if let Err(e) = sock.send_text(&first) {
            return After::Retry(format!("lost the Discord Gateway connection: {e}"));
        }
        log::debug!("channel {}: {} sent", self.ctx.account.label(), if resuming { "resume" } else { "identify" });
        self.pump(&mut sock, interval)
    }

    /// The Gateway URL, from `GET /gateway/bot` once per session start.
    fn gateway_url(&mut self) -> Result<String, After> {
        if let Some(u) = &self.gateway_url {
            return Ok(u.clone());
        }
        match self.rest.get("/gateway/bot") {
            Ok(v) => match wire::parse_gateway_bot(&v) {
                Ok((url, None)) => {
                    self.gateway_url = Some(url.clone());
                    Ok(url)
                }
                Ok((_, Some(wait))) => Err(After::Pause(
                    format!("Discord's daily limit of session starts is used up; the next attempt is in {} min", wait.as_secs().div_ceil(60)),
                    wait,
                )),
                Err(e) => Err(After::Retry(e)),
            },
            Err(rest::Error::Unauthorized(m)) => Err(After::Pause(m, FIX_RETRY)),
            Err(e) => Err(After::Retry(format!("GET /gateway/bot: {e}"))),
        }
    }

    /// Waits for Hello; its heartbeat interval.
    fn hello(&mut self, sock: &mut Socket) -> Result<Duration, After> {
        let deadline = Instant::now() + HELLO_TIMEOUT;
        loop {
            if self.ctx.stop.is_set() {
                sock.close(1000, "stopping");
                return Err(After::Stopped);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(After::Retry(format!("the Discord Gateway sent no Hello within {} s", HELLO_TIMEOUT.as_secs())));
            }
            match sock.recv(left.min(POLL)) {
                Ok(Some(Message::Text(t))) => match wire::parse_frame(&t) {
                    Ok(f) if f.op == op::HELLO => {
                        return wire::hello_interval(&f.d).ok_or_else(|| After::Retry("the Discord Gateway's Hello has no heartbeat_interval".into()));
                    }
                    Ok(_) => {}
                    Err(e) => log::warn!("channel {}: malformed Gateway frame before Hello: {e}", self.ctx.account.label()),
                },
                Ok(Some(Message::Close(c))) => return Err(self.closed(c)),
                Ok(_) => {}
                Err(e) => return Err(After::Retry(format!("lost the Discord Gateway connection: {e}"))),
            }
        }
    }

    /// The connection's main loop: heartbeats and incoming payloads.
    fn pump(&mut self, sock: &mut Socket, interval: Duration) -> After {
        let label = self.ctx.account.label();
        let mut next_beat = Instant::now() + interval.mul_f64(random_fraction());
        let mut acked = true;
        let mut bad_frames = 0u32;
        loop {
            if self.ctx.stop.is_set() {
                sock.close(1000, "stopping");
                return After::Stopped;
            }
            let now = Instant::now();
            if now >= next_beat {
                if !acked {
                    sock.close(4000, "heartbeat not acknowledged");
                    return After::Retry("the Discord Gateway stopped acknowledging heartbeats".into());
                }
                if let Err(e) = sock.send_text(&wire::heartbeat(self.seq)) {
                    return After::Retry(format!("lost the Discord Gateway connection: {e}"));
                }
                acked = false;
                next_beat = now + interval;
            }
            let text = match sock.recv(next_beat.saturating_duration_since(now).min(POLL)) {
                Ok(None) => continue,
                Ok(Some(Message::Text(t))) => t,
                Ok(Some(Message::Close(c))) => return self.closed(c),
                Ok(Some(_)) => continue,
                Err(e) => return After::Retry(format!("lost the Discord Gateway connection: {e}")),
            };
            let frame = match wire::parse_frame(&text) {
                Ok(f) => f,
                Err(e) => {
                    bad_frames += 1;
                    if bad_frames <= LOGGED_BAD_FRAMES {
                        log::warn!("channel {label}: ignoring a malformed Gateway frame ({e}): {}", crate::shorten(&text, 80));
                    }
                    continue;
                }
            };
            if let Some(s) = frame.s {
                self.seq = Some(s);
            }
            match frame.op {
                op::DISPATCH => self.dispatch(frame),
                op::HEARTBEAT => {
                    if let Err(e) = sock.send_text(&wire::heartbeat(self.seq)) {
                        return After::Retry(format!("lost the Discord Gateway connection: {e}"));
                    }
                }
                op::HEARTBEAT_ACK => acked = true,
                op::RECONNECT => {
                    log::info!("channel {label}: Discord asked to reconnect");
                    sock.close(4000, "reconnect requested");
                    return After::Reconnect(Duration::ZERO);
                }
                op::INVALID_SESSION => {
                    sock.close(4000, "invalid session");
                    let wait = Duration::from_millis(1000 + (4000.0 * random_fraction()) as u64);
                    let resumable = frame.d.as_bool() == Some(true) && self.session.is_some();
                    log::info!("channel {label}: invalid session; {} in {} ms", if resumable { "resuming" } else { "identifying" }, wait.as_millis());
                    return if resumable { After::Reconnect(wait) } else { After::Identify(wait) };
                }
                _ => {}
            }
        }
    }

    fn dispatch(&mut self, frame: wire::Frame) {
        let label = self.ctx.account.label();
        match frame.t.as_deref() {
            Some("READY") => match wire::parse_ready(&frame.d) {
                Some(r) => {
                    log::info!("channel {label}: connected as {} ({})", r.bot.username, r.bot.id);
                    self.bot_id = r.bot.id.clone();
                    self.ctx.status.bot(r.bot.to_json());
                    self.ctx.status.connected(true);
                    self.failures = 0;
                    let resume_url = r.resume_url.or_else(|| self.gateway_url.clone()).unwrap_or_default();
                    self.session = (!resume_url.is_empty()).then_some(Session { id: r.session_id, resume_url });
                }
                None => log::warn!("channel {label}: READY without a session id or user; ignored"),
            },
            Some("RESUMED") => {
                log::info!("channel {label}: session resumed");
                self.ctx.status.connected(true);
                self.failures = 0;
            }
            Some("MESSAGE_CREATE") => {
                let Some(incoming) = wire::parse_message(&frame.d, &self.bot_id) else { return };
                match self.inbox.try_send(incoming) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => log::warn!("channel {label}: {QUEUE} messages waiting; dropping one"),
                    Err(TrySendError::Disconnected(_)) => log::error!("channel {label}: the delivery thread is gone; message dropped"),
                }
            }
            _ => {}
        }
    }

    /// What a Close frame from Discord means for us.
    fn closed(&mut self, close: Option<(u16, String)>) -> After {
        let (code, reason) = close.unwrap_or((1005, String::new()));
        let said = if reason.is_empty() { code.to_string() } else { format!("{code} {}", crate::shorten(&reason, 100)) };
        match wire::close_action(code) {
            wire::CloseAction::Resume => After::Retry(format!("the Discord Gateway closed the connection ({said})")),
            wire::CloseAction::Identify => After::Identify(backoff(1)),
            wire::CloseAction::BadToken => After::Pause(bad_token(&self.ctx.account, "Gateway close 4004: authentication failed"), FIX_RETRY),
            wire::CloseAction::DisallowedIntents => After::Pause(
                "Discord refused the bot's intents (Gateway close 4014: disallowed intents). Enable \"Message Content Intent\" in the \
                 Discord Developer Portal (your application → Bot → Privileged Gateway Intents) and save; the bot retries every 5 minutes"
                    .to_string(),
                FIX_RETRY,
            ),
            wire::CloseAction::Fatal(what) => After::Pause(format!("Discord closed the Gateway connection ({said}: {what})"), FIX_RETRY),
        }
    }
}

/// Hands received messages to the hub in arrival order, attachments first
/// fetched into the media store.
fn deliver_loop(ctx: &Ctx, rest: Arc<Rest>, rx: &Receiver<wire::Incoming>) {
    let outbox: Arc<dyn Outbox> = rest;
    for incoming in rx {
        let mut inbound = incoming.inbound;
        // The hub ignores unmentioned group messages: fetch nothing for them.
        if inbound.mentioned {
            let mut notes = Vec::new();
            for a in &incoming.attachments {
                match fetch(ctx, a) {
                    Ok(path) => inbound.media.push(path),
                    Err(e) => {
                        log::warn!("channel {}: attachment {:?} not received: {e}", ctx.account.label(), a.filename);
                        notes.push(format!("[attachment {} not received: {e}]", a.filename));
                    }
                }
            }
            if !notes.is_empty() {
                inbound.text = [inbound.text.as_str(), &notes.join("\n")].join("\n").trim().to_string();
            }
        }
        let what = ctx.hub.deliver(&ctx.account, &ctx.status, inbound, Arc::clone(&outbox));
        log::debug!("channel {}: {what:?}", ctx.account.label());
    }
}

fn fetch(ctx: &Ctx, a: &wire::Attachment) -> Result<std::path::PathBuf, String> {
    if a.size > MEDIA_MAX_BYTES {
        return Err(format!("larger than {} MB", MEDIA_MAX_BYTES / (1024 * 1024)));
    }
    let bytes = rest::download(&a.url, MEDIA_MAX_BYTES, DOWNLOAD_TIMEOUT)?;
    ctx.hub.save_media(&a.filename, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_bad_token_messages() {
        assert_eq!(bare_token(" Bot abc.def "), "abc.def");
        assert_eq!(bare_token("abc"), "abc");
        let mut a = Account {
            kind: super::super::Kind::Discord,
            id: DEFAULT_ACCOUNT.into(),
            enabled: true,
            token: "SECRET-TOKEN".into(),
            token_source: "config",
            token_error: None,
            api_base: None,
            dm_policy: crate::config::model::DmPolicy::Pairing,
            allow_from: vec![],
            state_dir: std::env::temp_dir(),
        };
        let m = bad_token(&a, "401 Unauthorized");
        assert!(m.contains("channels.discord.token") && m.contains("DISCORD_BOT_TOKEN") && m.contains("401"), "{m}");
        assert!(!m.contains("SECRET-TOKEN"), "never the token itself");
        a.id = "work".into();
        let m = bad_token(&a, "401 Unauthorized");
        assert!(m.contains("channels.discord.accounts.work.token") && m.contains("--account work"), "{m}");
    }
}
