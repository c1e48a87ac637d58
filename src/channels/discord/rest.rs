//! Discord's REST API over ureq: the calls the driver makes
//! (`GET /gateway/bot`, `GET /users/@me`, `POST /channels/{id}/messages`,
//! `POST /channels/{id}/typing`) and attachment downloads.
//!
//! Rate limits are honoured as Discord documents them: an answer with
//! `X-RateLimit-Remaining: 0` closes its route until
//! `X-RateLimit-Reset-After` has passed, and a 429 closes the route (or
//! every route, when `global`) for its `retry_after` before the call is
//! tried again. Server errors and network failures are retried with a
//! jittered backoff where the caller allows retries; every wait ends when
//! the account is stopped. Every call has a deadline; bodies are read up to
//! a cap. The token travels only in the `Authorization` header of API calls
//! (never to attachment hosts) and appears in no error text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::wire;
use crate::channels::{Account, Kind, Outbox, Stop, Target, split_text};

/// Discord's API root (`apiBaseUrl` replaces it).
pub const API: &str = "https://discord.com/api/v10";
/// One API call, at most.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// A typing indicator is not worth waiting long for.
const TYPING_TIMEOUT: Duration = Duration::from_secs(5);
/// API answers are small; anything bigger is refused.
const MAX_BODY: u64 = 1 << 20;
/// Rate-limit waits longer than this fail the call instead.
const MAX_RATE_WAIT: Duration = Duration::from_secs(60);
/// Retries of a message send after a 429, a 5xx or a network error.
const SEND_RETRIES: u32 = 4;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// 401: the token is wrong (the text says where to fix it).
    Unauthorized(String),
    /// Another error status, with Discord's message.
    Status { status: u16, message: String },
    /// Rate-limited for longer than [`MAX_RATE_WAIT`], or out of retries.
    RateLimited(Duration),
    /// DNS, connect, TLS, timeout or a cut connection.
    Network(String),
    /// A 2xx whose body is not the JSON expected.
    Malformed(String),
    /// The account was stopped while the call waited.
    Stopped,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unauthorized(m) => write!(f, "{m}"),
            Error::Status { status, message } => write!(f, "Discord answered {status}: {message}"),
            Error::RateLimited(d) => write!(f, "Discord rate limit: retry in {:.1} s", d.as_secs_f64()),
            Error::Network(m) => write!(f, "cannot reach Discord: {m}"),
            Error::Malformed(m) => write!(f, "Discord sent an unexpected answer: {m}"),
            Error::Stopped => write!(f, "the Discord account was stopped"),
        }
    }
}

impl std::error::Error for Error {}

/// The closed routes: when each opens again.
#[derive(Default)]
struct Limits {
    global: Option<Instant>,
    routes: HashMap<String, Instant>,
}

/// An account's REST client; cheap to share (`Arc`), used by the driver
/// thread and by the hub's reply threads at once.
pub struct Rest {
    base: String,
    /// `Bot <token>`.
    auth: String,
    /// The message for a 401.
    bad_token: String,
    timeout: Duration,
    limits: Mutex<Limits>,
    /// Waits end early when this is set (the account's stop flag).
    stop: Arc<Stop>,
}

impl Rest {
    /// The client of `account`; its waits end when `stop` is set.
    pub fn new(account: &Account, stop: Arc<Stop>) -> Rest {
        let base = account.api_base.as_deref().unwrap_or(API).trim_end_matches('/').to_string();
        Rest {
            base,
            auth: format!("Bot {}", super::bare_token(&account.token)),
            bad_token: super::bad_token(account, "401 Unauthorized"),
            timeout: CALL_TIMEOUT,
            limits: Mutex::new(Limits::default()),
            stop,
        }
    }

    /// The same client with another per-call deadline (probes).
    pub fn with_timeout(mut self, timeout: Duration) -> Rest {
        self.timeout = timeout;
        self
    }

    /// `GET {api}{path}`, tried once.
    pub fn get(&self, path: &str) -> Result<Value, Error> {
        self.call("GET", path, None, 0)
    }

    /// Sends `text` to a channel in pieces of at most 2,000 characters; the
    /// first piece replies to `to.reply_to`.
    pub fn send_message(&self, to: &Target, text: &str) -> Result<(), Error> {
        let channel = channel_id(&to.chat_id)?;
        let path = format!("/channels/{channel}/messages");
        for (i, piece) in split_text(text, Kind::Discord.text_limit()).iter().enumerate() {
            let body = wire::message_body(piece, if i == 0 { to.reply_to.as_deref() } else { None });
            self.call("POST", &path, Some(&body), SEND_RETRIES)?;
        }
        Ok(())
    }

    /// `POST /channels/{id}/typing`, skipped while the route is closed.
    pub fn typing(&self, to: &Target) -> Result<(), Error> {
        let channel = channel_id(&to.chat_id)?;
        let route = format!("POST /channels/{channel}/typing");
        if self.closed_for(&route).is_some() {
            return Ok(());
        }
        self.exchange("POST", &format!("/channels/{channel}/typing"), None, TYPING_TIMEOUT.min(self.timeout)).map(|_| ())
    }

    /// One call with the rate-limit rules; up to `retries` more attempts
    /// after a 429, a 5xx or a network error.
    fn call(&self, method: &str, path: &str, body: Option<&Value>, retries: u32) -> Result<Value, Error> {
        let route = format!("{method} {path}");
        let mut attempt = 0;
        loop {
            if let Some(wait) = self.closed_for(&route) {
                if wait > MAX_RATE_WAIT {
                    return Err(Error::RateLimited(wait));
                }
                if self.stop.sleep(wait) {
                    return Err(Error::Stopped);
                }
            }
            let result = self.exchange(method, path, body, self.timeout);
            let retry = match &result {
                Err(Error::RateLimited(wait)) if *wait <= MAX_RATE_WAIT => None,
                Err(Error::Status { status, .. }) if *status >= 500 => Some(super::backoff(attempt + 1).min(Duration::from_secs(8))),
                Err(Error::Network(_)) => Some(super::backoff(attempt + 1).min(Duration::from_secs(8))),
                _ => return result,
            };
            if attempt >= retries {
                return result;
            }
            attempt += 1;
            log::debug!("discord {route}: {}; attempt {} of {}", result.as_ref().err().map(ToString::to_string).unwrap_or_default(), attempt + 1, retries + 1);
            if let Some(pause) = retry
                && self.stop.sleep(pause)
            {
                return Err(Error::Stopped);
            }
        }
    }

    /// One HTTP exchange: records the route's limits from the answer.
    fn exchange(&self, method: &str, path: &str, body: Option<&Value>, timeout: Duration) -> Result<Value, Error> {
        let url = format!("{}{path}", self.base);
        let route = format!("{method} {path}");
        let sent = match method {
            "GET" => agent().get(&url).header("Authorization", &self.auth).config().timeout_global(Some(timeout)).build().call(),
            _ => {
                let rb = agent().post(&url).header("Authorization", &self.auth).config().timeout_global(Some(timeout)).build();
                match body {
                    Some(b) => rb.header("Content-Type", "application/json").send(b.to_string().as_bytes()),
                    None => rb.send_empty(),
                }
            }
        };
        let response = sent.map_err(|e| Error::Network(transport(e)))?;
        let status = response.status().as_u16();
        let h = response.headers();
        let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bucket = wire::bucket_wait(header("x-ratelimit-remaining").as_deref(), header("x-ratelimit-reset-after").as_deref());
        let (retry_header, global_header) = (header("retry-after"), header("x-ratelimit-global"));
        let text = match response.into_body().with_config().limit(MAX_BODY).read_to_vec() {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(ureq::Error::BodyExceedsLimit(_)) => return Err(Error::Malformed(format!("an answer over {MAX_BODY} bytes"))),
            Err(e) => return Err(Error::Network(transport(e))),
        };
        if let Some(wait) = bucket {
            self.close_route(&route, wait, false);
        }
        match status {
            200..=299 if text.trim().is_empty() => Ok(Value::Null),
            200..=299 => serde_json::from_str(&text).map_err(|e| Error::Malformed(format!("{method} {path}: {e}"))),
            401 => Err(Error::Unauthorized(self.bad_token.clone())),
            429 => {
                let (wait, global) = wire::retry_after(&text, retry_header.as_deref(), global_header.as_deref());
                let wait = wait.unwrap_or(Duration::from_secs(1));
                self.close_route(&route, wait, global);
                log::warn!("discord {route}: rate limited{} for {:.2} s", if global { " (global)" } else { "" }, wait.as_secs_f64());
                Err(Error::RateLimited(wait))
            }
            _ => Err(Error::Status { status, message: wire::error_message(&text) }),
        }
    }

    fn close_route(&self, route: &str, wait: Duration, global: bool) {
        let until = Instant::now() + wait;
        let mut l = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        if global {
            l.global = Some(until);
        } else {
            l.routes.insert(route.to_string(), until);
        }
        // Forget routes that opened again, so the map stays small.
        let now = Instant::now();
        l.routes.retain(|_, t| *t > now);
    }

    /// How long `route` stays closed, if it is.
    fn closed_for(&self, route: &str) -> Option<Duration> {
        let l = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let until = [l.global, l.routes.get(route).copied()].into_iter().flatten().max()?;
        Some(until.saturating_duration_since(now)).filter(|d| !d.is_zero())
    }
}

impl Outbox for Rest {
    fn send(&self, to: &Target, text: &str) -> Result<(), String> {
        self.send_message(to, text).map_err(|e| e.to_string())
    }

    fn typing(&self, to: &Target) {
        if let Err(e) = Rest::typing(self, to) {
            log::debug!("discord typing in {}: {e}", to.chat_id);
        }
    }
}

/// Fetches an attachment (`http`/`https` only, no credentials sent), at most
/// `max` bytes, within `timeout`.
pub fn download(url: &str, max: u64, timeout: Duration) -> Result<Vec<u8>, String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err("only http and https attachment URLs are fetched".into());
    }
    // Signed query parameters stay out of messages.
    let shown = url.split('?').next().unwrap_or(url);
    let response = agent().get(url).config().timeout_global(Some(timeout)).build().call().map_err(|e| format!("{shown}: {}", transport(e)))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(format!("{shown}: HTTP {status}"));
    }
    if response.body().content_length().is_some_and(|n| n > max) {
        return Err(format!("larger than {} MB", max / (1024 * 1024)));
    }
    match response.into_body().with_config().limit(max).read_to_vec() {
        Ok(b) => Ok(b),
        Err(ureq::Error::BodyExceedsLimit(_)) => Err(format!("larger than {} MB", max / (1024 * 1024))),
        Err(e) => Err(format!("{shown}: {}", transport(e))),
    }
}

/// A channel id as Discord writes them; anything else never reaches a path.
fn channel_id(id: &str) -> Result<&str, Error> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(Error::Malformed(format!("not a channel id: {:?}", crate::shorten(id, 40))))
    }
}

/// The shared HTTP client: Discord's required User-Agent, no redirects,
/// statuses handled here.
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        // Discord wants "DiscordBot (url, version)".
        let config = crate::http_config().user_agent(format!("DiscordBot (https://github.com/openclaw/openclaw, {})", crate::VERSION)).build();
        ureq::Agent::new_with_config(config)
    })
}

fn transport(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => "timed out".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids_are_checked_before_building_a_path() {
        assert_eq!(channel_id("123456789012345678"), Ok("123456789012345678"));
        for bad in ["", "1/../../users/@me", "12?x", "a b", &"9".repeat(65)] {
            assert!(channel_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn closed_routes_open_again() {
        let account = Account {
            kind: Kind::Discord,
            id: "default".into(),
            enabled: true,
            token: "t".into(),
            token_source: "config",
            token_error: None,
            api_base: Some("http://127.0.0.1:9/api/v10/".into()),
            dm_policy: crate::config::model::DmPolicy::Pairing,
            allow_from: vec![],
            state_dir: std::env::temp_dir(),
        };
        let r = Rest::new(&account, Arc::default());
        assert_eq!(r.base, "http://127.0.0.1:9/api/v10");
        r.close_route("POST /a", Duration::from_millis(200), false);
        assert!(r.closed_for("POST /a").is_some());
        assert!(r.closed_for("POST /b").is_none());
        r.close_route("POST /c", Duration::from_millis(300), true);
        assert!(r.closed_for("POST /b").is_some(), "a global limit closes every route");
        std::thread::sleep(Duration::from_millis(350));
        assert!(r.closed_for("POST /a").is_none() && r.closed_for("POST /b").is_none());
    }

    #[test]
    fn downloads_refuse_other_schemes() {
        assert!(download("file:///etc/passwd", 10, Duration::from_secs(1)).unwrap_err().contains("http"));
        assert!(download("ftp://x/y", 10, Duration::from_secs(1)).is_err());
    }
}
