//! Chat channels: Telegram and Discord bots that talk to the agent.
//!
//! Shape (data flows one way):
//! - [`accounts`] turns the config into the accounts to run ([`Account`]:
//!   resolved token, policy, optional base URL for tests).
//! - [`Manager`] runs one driver thread per enabled account, restarts the
//!   ones whose settings changed on a config reload, stops removed ones,
//!   and answers `channels.status` from each account's [`Status`].
//! - A driver (`telegram.rs`, `discord.rs`) owns the platform protocol: it
//!   receives messages, turns each into an [`Inbound`] and hands it to the
//!   [`hub::Hub`] together with an [`Outbox`] that can reply in that chat.
//! - The hub applies the DM policy and pairing ([`pairing`]), maps the
//!   message to a session key, queues it per session (one turn per session at
//!   a time, later messages wait) and sends the agent's reply through the
//!   outbox.
//!
//! A driver is `fn(Ctx)`: it loops until [`Stop::is_set`], reports through
//! [`Status`], and never panics on platform input.

pub mod cli;
pub mod discord;
pub mod hub;
pub mod pairing;
pub mod telegram;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::model::{ChannelConfig, Config, DmPolicy};
use crate::now_ms;
use crate::paths::Env;

pub use hub::Hub;

/// The account id of a channel's top-level settings.
pub const DEFAULT_ACCOUNT: &str = "default";

/// The platforms this build runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Telegram,
    Discord,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Telegram, Kind::Discord];

    pub fn id(self) -> &'static str {
        match self {
            Kind::Telegram => "telegram",
            Kind::Discord => "discord",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Telegram => "Telegram",
            Kind::Discord => "Discord",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.id().eq_ignore_ascii_case(s.trim()))
    }

    /// The environment variable of the default account's token.
    pub fn token_env(self) -> &'static str {
        match self {
            Kind::Telegram => "TELEGRAM_BOT_TOKEN",
            Kind::Discord => "DISCORD_BOT_TOKEN",
        }
    }

    /// The config key of the token (`botToken` for Telegram, `token` for Discord).
    pub fn token_key(self) -> &'static str {
        match self {
            Kind::Telegram => "botToken",
            Kind::Discord => "token",
        }
    }

    /// The longest text one platform message may carry.
    pub fn text_limit(self) -> usize {
        match self {
            Kind::Telegram => 4096,
            Kind::Discord => 2000,
        }
    }

    fn config(self, config: &Config) -> Option<&ChannelConfig> {
        match self {
            Kind::Telegram => config.channels.telegram.as_ref(),
            Kind::Discord => config.channels.discord.as_ref(),
        }
    }
}

/// One bot account to run, with everything resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub kind: Kind,
    pub id: String,
    pub enabled: bool,
    /// Empty when no token could be found ([`Account::token_error`] says why).
    pub token: String,
    /// `config`, `tokenFile`, `env` or `none`.
    pub token_source: &'static str,
    pub token_error: Option<String>,
    /// The platform's API base URL (tests point it at a local fake).
    pub api_base: Option<String>,
    pub dm_policy: DmPolicy,
    pub allow_from: Vec<String>,
    pub state_dir: PathBuf,
}

impl Account {
    /// Runnable: enabled with a token.
    pub fn runnable(&self) -> bool {
        self.enabled && !self.token.is_empty()
    }

    /// `telegram` or `telegram:<account>`, for logs.
    pub fn label(&self) -> String {
        if self.id == DEFAULT_ACCOUNT { self.kind.id().to_string() } else { format!("{}:{}", self.kind.id(), self.id) }
    }
}

/// Every configured account of every channel this build runs.
pub fn accounts(config: &Config, env: &Env) -> Vec<Account> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let Some(ch) = kind.config(config) else { continue };
        let has_default = ch.token.is_some() || ch.token_file.is_some() || ch.accounts.is_empty();
        if has_default {
            out.push(account(kind, DEFAULT_ACCOUNT, ch, None, config, env));
        }
        for (id, acc) in &ch.accounts {
            out.push(account(kind, id, acc, Some(ch), config, env));
        }
    }
    out
}

fn account(kind: Kind, id: &str, c: &ChannelConfig, parent: Option<&ChannelConfig>, config: &Config, env: &Env) -> Account {
    let is_default = id == DEFAULT_ACCOUNT;
    let (token, token_source, token_error) = if let Some(secret) = &c.token {
        match secret.value(env) {
            Ok(t) => (t.trim().to_string(), "config", None),
            Err(e) => (String::new(), "config", Some(e)),
        }
    } else if let Some(file) = &c.token_file {
        let home = config.home().to_path_buf();
        let path = crate::paths::expand_home(&file.to_string_lossy(), &home);
        match std::fs::read_to_string(&path) {
            Ok(t) => (t.trim().to_string(), "tokenFile", None),
            Err(e) => (String::new(), "tokenFile", Some(format!("cannot read the token file {}: {e}", path.display()))),
        }
    } else if is_default || parent.is_some_and(|p| p.accounts.len() == 1 && id == DEFAULT_ACCOUNT) {
        match env.get(kind.token_env()).map(|t| t.trim()).filter(|t| !t.is_empty()) {
            Some(t) => (t.to_string(), "env", None),
            None => (String::new(), "none", None),
        }
    } else {
        (String::new(), "none", None)
    };
    let token_error = token_error.or_else(|| {
        token.is_empty().then(|| {
            let key = if is_default {
                format!("channels.{}.{}", kind.id(), kind.token_key())
            } else {
                format!("channels.{}.accounts.{id}.{}", kind.id(), kind.token_key())
            };
            let env_hint = if is_default { format!(" or set {}", kind.token_env()) } else { String::new() };
            format!(
                "no bot token: run `openclaw channels add --channel {} --token <token>`{} (or set {key}){env_hint}",
                kind.id(),
                if is_default { String::new() } else { format!(" --account {id}") },
            )
        })
    });
    let allow_from = if c.allow_from.is_empty() { parent.map(|p| p.allow_from.clone()).unwrap_or_default() } else { c.allow_from.clone() };
    Account {
        kind,
        id: id.to_string(),
        enabled: c.enabled && parent.is_none_or(|p| p.enabled),
        token,
        token_source,
        token_error,
        api_base: c.api_base_url.clone().or_else(|| parent.and_then(|p| p.api_base_url.clone())),
        dm_policy: c.dm_policy,
        allow_from,
        state_dir: config.state_dir().to_path_buf(),
    }
}

// ---------------------------------------------------------------------------
// What drivers get
// ---------------------------------------------------------------------------

/// Where a reply goes: a chat, optionally a thread/topic in it, optionally
/// as a reply to one message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target {
    pub chat_id: String,
    pub thread_id: Option<String>,
    pub reply_to: Option<String>,
}

/// One received message, already decoded by its driver.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inbound {
    pub target: Target,
    /// A direct (private) chat with the bot, not a group.
    pub direct: bool,
    pub sender_id: String,
    pub sender_name: String,
    /// The sender's handle (`@name`), when the platform has one.
    pub sender_username: Option<String>,
    pub text: String,
    /// Files already saved with [`Hub::save_media`].
    pub media: Vec<PathBuf>,
    /// The bot was mentioned or replied to (what group messages need).
    pub mentioned: bool,
}

/// How the hub answers in a chat; implemented by each driver.
pub trait Outbox: Send + Sync {
    /// Sends `text`, split into as many platform messages as it needs.
    fn send(&self, to: &Target, text: &str) -> Result<(), String>;
    /// Shows "typing…" (a no-op where the platform has none).
    fn typing(&self, _to: &Target) {}
}

/// A stop flag that sleeping threads wake up for.
#[derive(Debug, Default)]
pub struct Stop {
    set: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    pub fn set(&self) {
        *self.set.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }

    pub fn is_set(&self) -> bool {
        *self.set.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps up to `d`; true when stopped (now or while sleeping).
    pub fn sleep(&self, d: Duration) -> bool {
        let guard = self.set.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self.cv.wait_timeout_while(guard, d, |s| !*s).unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// An account's live state, shown by `channels.status`.
#[derive(Debug, Default)]
pub struct Status {
    inner: Mutex<StatusData>,
}

#[derive(Debug, Default, Clone)]
struct StatusData {
    running: bool,
    connected: bool,
    last_error: Option<String>,
    last_connected_ms: Option<u64>,
    last_inbound_ms: Option<u64>,
    last_outbound_ms: Option<u64>,
    bot: Option<Value>,
}

impl Status {
    fn with(&self, f: impl FnOnce(&mut StatusData)) {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Connected (clears the last error) or not.
    pub fn connected(&self, yes: bool) {
        self.with(|s| {
            s.connected = yes;
            if yes {
                s.last_error = None;
                s.last_connected_ms = Some(now_ms());
            }
        });
    }

    /// Records a problem (and that the account is not connected).
    pub fn error(&self, message: impl Into<String>) {
        let message = message.into();
        self.with(|s| {
            s.connected = false;
            s.last_error = Some(message);
        });
    }

    /// Records a problem that does not end the connection (a failed send).
    pub fn warn(&self, message: impl Into<String>) {
        let message = message.into();
        self.with(|s| s.last_error = Some(message));
    }

    /// The bot's own identity (id, username…), once known.
    pub fn bot(&self, bot: Value) {
        self.with(|s| s.bot = Some(bot));
    }

    pub fn inbound(&self) {
        self.with(|s| s.last_inbound_ms = Some(now_ms()));
    }

    pub fn outbound(&self) {
        self.with(|s| s.last_outbound_ms = Some(now_ms()));
    }

    fn running(&self, yes: bool) {
        self.with(|s| {
            s.running = yes;
            if !yes {
                s.connected = false;
            }
        });
    }

    pub fn is_connected(&self) -> bool {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).connected
    }

    pub fn last_error(&self) -> Option<String> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).last_error.clone()
    }

    fn to_json(&self) -> Value {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        json!({
            "running": s.running,
            "connected": s.connected,
            "lastError": s.last_error,
            "lastConnectedAt": s.last_connected_ms,
            "lastInboundAt": s.last_inbound_ms,
            "lastOutboundAt": s.last_outbound_ms,
            "bot": s.bot,
        })
    }
}

/// What a driver thread gets.
#[derive(Clone)]
pub struct Ctx {
    pub account: Arc<Account>,
    pub hub: Arc<Hub>,
    pub status: Arc<Status>,
    pub stop: Arc<Stop>,
}

/// A platform's protocol: the receive loop and a token check.
#[derive(Clone, Copy)]
pub struct Driver {
    /// Runs until `ctx.stop` is set.
    pub run: fn(Ctx),
    /// Checks the token against the platform; the bot's identity on success.
    pub probe: fn(&Account, Duration) -> Result<Value, String>,
}

/// The driver of `kind`.
fn driver(kind: Kind) -> Driver {
    match kind {
        Kind::Telegram => Driver { run: telegram::run, probe: telegram::probe },
        Kind::Discord => Driver { run: discord::run, probe: discord::probe },
    }
}

/// Checks an account's token live (the bot's identity on success).
pub fn probe(account: &Account, timeout: Duration) -> Result<Value, String> {
    if account.token.is_empty() {
        return Err(account.token_error.clone().unwrap_or_else(|| "no bot token".into()));
    }
    (driver(account.kind).probe)(account, timeout)
}

// ---------------------------------------------------------------------------
// Manager
// ---------------------------------------------------------------------------

struct Running {
    account: Arc<Account>,
    status: Arc<Status>,
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

/// Runs the accounts the config names; reconciles on reload.
pub struct Manager {
    hub: Arc<Hub>,
    running: Mutex<BTreeMap<(Kind, String), Running>>,
    /// Accounts configured but not running (disabled, no token).
    idle: Mutex<Vec<(Account, Option<String>)>>,
}

impl Manager {
    pub fn new(hub: Arc<Hub>) -> Manager {
        Manager { hub, running: Mutex::new(BTreeMap::new()), idle: Mutex::new(Vec::new()) }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Starts, restarts and stops drivers so the running set matches `config`.
    pub fn apply(&self, config: &Arc<Config>, env: &Env) {
        self.hub.set_config(Arc::clone(config));
        let wanted = accounts(config, env);
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let mut idle = Vec::new();
        // Stop what is gone or changed.
        let keys: Vec<_> = running.keys().cloned().collect();
        let mut previous = BTreeMap::new();
        for key in keys {
            let keep = wanted.iter().any(|a| (a.kind, a.id.clone()) == key && a.runnable() && *running[&key].account == *a);
            if !keep {
                let r = running.remove(&key).expect("key listed above");
                r.stop.set();
                log::info!("channel {} stopping", r.account.label());
                previous.insert(key, r.thread);
            }
        }
        for account in wanted {
            let key = (account.kind, account.id.clone());
            if running.contains_key(&key) {
                continue;
            }
            let why_not = if !account.enabled {
                Some("disabled in the config".to_string())
            } else if account.token.is_empty() {
                account.token_error.clone()
            } else {
                None
            };
            if let Some(why) = why_not {
                idle.push((account, Some(why)));
                continue;
            }
            let run = driver(account.kind).run;
            let status = Arc::new(Status::default());
            let stop = Arc::new(Stop::default());
            let account = Arc::new(account);
            let ctx = Ctx { account: Arc::clone(&account), hub: Arc::clone(&self.hub), status: Arc::clone(&status), stop: Arc::clone(&stop) };
            let before = previous.remove(&key).flatten();
            status.running(true);
            let thread = std::thread::Builder::new().name(format!("channel-{}", account.label())).spawn(move || {
                // The old driver of this account finishes its current call
                // first, so two pollers never overlap (Telegram answers 409).
                if let Some(t) = before {
                    let _ = t.join();
                }
                let status = Arc::clone(&ctx.status);
                log::info!("channel {} starting", ctx.account.label());
                run(ctx);
                status.running(false);
            });
            match thread {
                Ok(t) => {
                    running.insert(key, Running { account, status, stop, thread: Some(t) });
                }
                Err(e) => {
                    status.running(false);
                    idle.push(((*account).clone(), Some(format!("cannot start a thread: {e}"))));
                }
            }
        }
        *self.idle.lock().unwrap_or_else(|e| e.into_inner()) = idle;
    }

    /// Stops every driver (gateway shutdown; does not wait).
    pub fn shutdown(&self) {
        for r in self.running.lock().unwrap_or_else(|e| e.into_inner()).values() {
            r.stop.set();
        }
    }

    /// Number of running driver threads.
    pub fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The `channels.status` answer; `probe` also checks each token live.
    pub fn status(&self, probe_timeout: Option<Duration>) -> Value {
        let mut rows: Vec<(Account, Value)> = Vec::new();
        for r in self.running.lock().unwrap_or_else(|e| e.into_inner()).values() {
            rows.push(((*r.account).clone(), r.status.to_json()));
        }
        for (a, why) in self.idle.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            rows.push((a.clone(), json!({"running": false, "connected": false, "lastError": why})));
        }
        status_json(rows, &self.hub.pairing(), probe_timeout)
    }
}

/// The status shape for `rows` (also used without a gateway, from the config).
pub fn status_json(mut rows: Vec<(Account, Value)>, store: &pairing::Store, probe_timeout: Option<Duration>) -> Value {
    rows.sort_by(|a, b| (a.0.kind, &a.0.id).cmp(&(b.0.kind, &b.0.id)));
    let now = now_ms();
    let mut channels = serde_json::Map::new();
    let mut accounts = serde_json::Map::new();
    let mut pending = serde_json::Map::new();
    for kind in Kind::ALL {
        let mine: Vec<&(Account, Value)> = rows.iter().filter(|(a, _)| a.kind == kind).collect();
        let list: Vec<Value> = mine
            .iter()
            .map(|(a, live)| {
                let mut v = json!({
                    "accountId": a.id,
                    "enabled": a.enabled,
                    "configured": !a.token.is_empty(),
                    "tokenSource": a.token_source,
                    "dmPolicy": dm_policy_name(a.dm_policy),
                });
                if let (Value::Object(m), Value::Object(l)) = (&mut v, live) {
                    m.extend(l.clone());
                }
                if let Some(t) = probe_timeout {
                    v["probe"] = match probe(a, t) {
                        Ok(bot) => json!({"ok": true, "bot": bot}),
                        Err(e) => json!({"ok": false, "error": e}),
                    };
                }
                v
            })
            .collect();
        let reqs = match store.list(kind.id(), now) {
            Ok(r) => r.iter().map(pairing::Request::to_json).collect(),
            Err(e) => vec![json!({"error": e})],
        };
        if !list.is_empty() || !reqs.is_empty() {
            let any = |k: &str| list.iter().any(|v| v[k] == true);
            let err = list.iter().find_map(|v| v["lastError"].as_str().map(str::to_string));
            channels.insert(
                kind.id().into(),
                json!({"configured": any("configured"), "running": any("running"), "connected": any("connected"), "lastError": err}),
            );
            accounts.insert(kind.id().into(), Value::Array(list));
            pending.insert(kind.id().into(), Value::Array(reqs));
        }
    }
    json!({
        "ts": now,
        "channelOrder": Kind::ALL.iter().map(|k| k.id()).collect::<Vec<_>>(),
        "channelLabels": Kind::ALL.iter().map(|k| (k.id().to_string(), json!(k.label()))).collect::<serde_json::Map<_, _>>(),
        "channels": channels,
        "channelAccounts": accounts,
        "pairing": pending,
    })
}

pub fn dm_policy_name(p: DmPolicy) -> &'static str {
    match p {
        DmPolicy::Pairing => "pairing",
        DmPolicy::Allowlist => "allowlist",
        DmPolicy::Open => "open",
        DmPolicy::Disabled => "disabled",
    }
}

/// The wait before attempt `n` (1-based) after failures: 1, 2, 4 … s up to
/// `max`, each between half and all of that (jitter, so many bots do not
/// retry in step).
pub fn backoff(n: u32, max: Duration) -> Duration {
    let base = Duration::from_secs(1u64 << n.saturating_sub(1).min(16)).min(max);
    base.mul_f64(0.5 + crate::crypto::random_fraction() / 2.0)
}

/// Splits `text` into pieces of at most `limit` characters, preferring a
/// paragraph break, then a line break, then a space in the last part of a
/// piece; never inside a character.
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let mut out = Vec::new();
    let mut rest = text.trim_end();
    while rest.chars().count() > limit {
        let hard = rest.char_indices().nth(limit).map(|(i, _)| i).unwrap_or(rest.len());
        let window = &rest[..hard];
        let floor = window.len() / 2;
        let cut = ["\n\n", "\n", " "]
            .iter()
            .find_map(|sep| window.rfind(sep).filter(|&i| i > floor).map(|i| (i, sep.len())))
            .unwrap_or((hard, 0));
        let piece = rest[..cut.0].trim_end();
        if !piece.is_empty() {
            out.push(piece.to_string());
        }
        rest = rest[cut.0 + cut.1..].trim_start_matches('\n');
    }
    if !rest.trim().is_empty() || out.is_empty() {
        out.push(rest.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_limit_and_boundaries() {
        assert_eq!(split_text("hello", 10), vec!["hello"]);
        let text = "alpha beta gamma delta";
        let parts = split_text(text, 11);
        assert!(parts.iter().all(|p| p.chars().count() <= 11), "{parts:?}");
        assert_eq!(parts.join(" "), text);
        let para = format!("{}\n\n{}", "a".repeat(30), "b".repeat(30));
        assert_eq!(split_text(&para, 40), vec!["a".repeat(30), "b".repeat(30)]);
        // No break anywhere: hard cut, and multibyte characters stay whole.
        let long = "é".repeat(25);
        let parts = split_text(&long, 10);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), long);
        let big = "word ".repeat(2000);
        let parts = split_text(&big, 4096);
        assert!(parts.iter().all(|p| p.chars().count() <= 4096));
        assert_eq!(parts.join(" ").split_whitespace().count(), 2000);
    }

    fn config(json: &str) -> Config {
        crate::config::model::from_json_for_tests(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn accounts_resolve_tokens_from_config_file_and_env() {
        let dir = crate::fsutil::TestDir::new("channels-accounts");
        let file = dir.path().join("tok");
        std::fs::write(&file, "file-token\n").unwrap();
        let c = config(&format!(
            r#"{{"channels":{{"telegram":{{"botToken":"123:abc","accounts":{{"work":{{"tokenFile":"{}","allowFrom":["7"]}},"off":{{"enabled":false,"botToken":"x"}}}}}},"discord":{{"enabled":true}}}}}}"#,
            file.display()
        ));
        let mut env = Env::new();
        env.insert("DISCORD_BOT_TOKEN".into(), "dtoken".into());
        let a = accounts(&c, &env);
        let find = |k: Kind, id: &str| a.iter().find(|x| x.kind == k && x.id == id).unwrap().clone();
        let d = find(Kind::Telegram, "default");
        assert_eq!((d.token.as_str(), d.token_source), ("123:abc", "config"));
        let w = find(Kind::Telegram, "work");
        assert_eq!((w.token.as_str(), w.token_source, w.allow_from.clone()), ("file-token", "tokenFile", vec!["7".to_string()]));
        assert!(!find(Kind::Telegram, "off").runnable());
        let dc = find(Kind::Discord, "default");
        assert_eq!((dc.token.as_str(), dc.token_source), ("dtoken", "env"));
        // Without the variable: a clear way out.
        let a = accounts(&c, &Env::new());
        let dc = a.iter().find(|x| x.kind == Kind::Discord).unwrap();
        assert!(!dc.runnable());
        let e = dc.token_error.clone().unwrap();
        assert!(e.contains("openclaw channels add --channel discord --token") && e.contains("DISCORD_BOT_TOKEN"), "{e}");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        for _ in 0..50 {
            let b = backoff(1, Duration::from_secs(60));
            assert!(b >= Duration::from_millis(500) && b <= Duration::from_secs(1), "{b:?}");
            let b = backoff(40, Duration::from_secs(60));
            assert!(b >= Duration::from_secs(30) && b <= Duration::from_secs(60), "{b:?}");
            assert!((0.0..1.0).contains(&crate::crypto::random_fraction()));
        }
        assert!(backoff(4, Duration::from_secs(60)) >= Duration::from_secs(4));
    }

    #[test]
    fn stop_wakes_sleepers() {
        let stop = Arc::new(Stop::default());
        let s2 = Arc::clone(&stop);
        let t = std::thread::spawn(move || s2.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        stop.set();
        assert!(t.join().unwrap());
        assert!(stop.sleep(Duration::from_secs(30)));
    }
}
