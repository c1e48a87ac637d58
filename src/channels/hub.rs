//! From a received message to the agent's reply.
//!
//! [`Hub::deliver`] decides, in this order:
//! 1. Direct messages follow the account's DM policy (reference §8):
//!    `disabled` drops them; `open` lets everyone in; `allowlist` admits the
//!    config's `allowFrom` plus senders approved through pairing; `pairing`
//!    (the default) admits the same and answers anyone else with a code (only
//!    when a new request is created) without processing their message.
//! 2. Group messages are processed only when the bot is mentioned or replied
//!    to, and only from senders the DM rules would admit (upstream's
//!    `groupPolicy: "allowlist"` default with `groupAllowFrom` falling back to
//!    `allowFrom`); nobody gets a pairing code in a group.
//! 3. The message maps to a session key: DMs per `session.dmScope`, groups
//!    `agent:<a>:<channel>:group:<chatId>` (plus `:thread:<id>`).
//! 4. It is queued for that session; one worker per busy session runs the
//!    turns in arrival order and sends each reply back to the chat the
//!    message came from, with "typing…" while the agent works.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::json;

use super::pairing::{self, Requested};
use super::{Account, Inbound, Outbox, Status};
use crate::agent::runtime::{Outcome, Runtime};
use crate::agent::sessions;
use crate::config::model::{Config, DmPolicy};
use crate::now_ms;

/// How often "typing…" is renewed (Telegram shows it for about 5 s).
const TYPING_EVERY: Duration = Duration::from_secs(4);
/// Messages waiting per session, at most; more are dropped with a log line.
const MAX_QUEUED: usize = 32;

/// What [`Hub::deliver`] did with a message (for logs and tests).
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Queued for an agent turn in this session.
    Queued(String),
    /// An unknown sender was sent this pairing code.
    PairingCode(String),
    /// Dropped, and why.
    Dropped(&'static str),
}

struct Job {
    msg: Inbound,
    account: Arc<Account>,
    status: Arc<Status>,
    outbox: Arc<dyn Outbox>,
}

/// Shared by every channel account of a gateway.
pub struct Hub {
    runtime: Arc<Runtime>,
    config: RwLock<Arc<Config>>,
    store: pairing::Store,
    queues: Mutex<HashMap<String, VecDeque<Job>>>,
}

impl Hub {
    pub fn new(runtime: Arc<Runtime>, config: Arc<Config>) -> Hub {
        let store = pairing::Store::new(config.state_dir());
        Hub { runtime, config: RwLock::new(config), store, queues: Mutex::new(HashMap::new()) }
    }

    pub fn set_config(&self, config: Arc<Config>) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn pairing(&self) -> pairing::Store {
        self.store.clone()
    }

    /// Saves a received file into the media store (see [`Runtime::save_media`]).
    pub fn save_media(&self, file_name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
        self.runtime.save_media(file_name, bytes)
    }

    /// Decides what to do with `msg` (see the module docs). Returns without
    /// waiting for the agent.
    pub fn deliver(self: &Arc<Self>, account: &Arc<Account>, status: &Arc<Status>, msg: Inbound, outbox: Arc<dyn Outbox>) -> Delivery {
        status.inbound();
        let channel = account.kind.id();
        if msg.text.trim().is_empty() && msg.media.is_empty() {
            return Delivery::Dropped("empty message");
        }
        if msg.direct {
            match account.dm_policy {
                DmPolicy::Disabled => return Delivery::Dropped("direct messages are disabled"),
                DmPolicy::Open => {}
                DmPolicy::Allowlist | DmPolicy::Pairing if self.allowed(account, &msg) => {}
                DmPolicy::Allowlist => return Delivery::Dropped("sender not in allowFrom"),
                DmPolicy::Pairing => return self.pair(account, status, &msg, &*outbox),
            }
        } else {
            if !msg.mentioned {
                return Delivery::Dropped("group message without a mention");
            }
            if account.dm_policy != DmPolicy::Open && !self.allowed(account, &msg) {
                return Delivery::Dropped("group sender not allowed");
            }
        }
        let config = self.config();
        let agent = config.default_agent_id();
        let key = if msg.direct {
            sessions::dm_key(&agent, &config.session.main_key, config.session.dm_scope, channel, &account.id, &msg.sender_id)
        } else {
            let base = sessions::group_key(&agent, channel, &msg.target.chat_id);
            sessions::thread_key(&base, msg.target.thread_id.as_deref().unwrap_or(""))
        };
        let key = if config.session.global_scope { "global".to_string() } else { key };
        let job = Job { msg, account: Arc::clone(account), status: Arc::clone(status), outbox };
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        match queues.get_mut(&key) {
            Some(q) if q.len() >= MAX_QUEUED => {
                log::warn!("channel {}: session {key} has {MAX_QUEUED} messages waiting; dropping one", account.label());
                return Delivery::Dropped("too many messages waiting");
            }
            Some(q) => q.push_back(job),
            None => {
                queues.insert(key.clone(), VecDeque::from([job]));
                let hub = Arc::clone(self);
                let k = key.clone();
                let spawned = std::thread::Builder::new().name("channel-turns".into()).spawn(move || hub.work(&k));
                if let Err(e) = spawned {
                    queues.remove(&key);
                    log::error!("channel {}: cannot start a turn thread: {e}", account.label());
                    return Delivery::Dropped("no thread");
                }
            }
        }
        Delivery::Queued(key)
    }

    /// Config `allowFrom` (with `telegram:`/`tg:`/`discord:` prefixes and
    /// `*`) or approved through pairing. Drivers ask before fetching files.
    pub fn allowed(&self, account: &Account, msg: &Inbound) -> bool {
        let matches = |entry: &str| {
            let e = entry.trim();
            let e = e.split_once(':').filter(|(p, _)| ["telegram", "tg", "discord", "user"].contains(&p.to_lowercase().as_str())).map_or(e, |(_, r)| r);
            e == "*" || e == msg.sender_id || msg.sender_username.as_deref().is_some_and(|u| e.trim_start_matches('@').eq_ignore_ascii_case(u.trim_start_matches('@')))
        };
        if account.allow_from.iter().any(|e| matches(e)) {
            return true;
        }
        match self.store.approved(account.kind.id(), &account.id) {
            Ok(list) => list.iter().any(|e| matches(e)),
            Err(e) => {
                log::error!("channel {}: {e}", account.label());
                false
            }
        }
    }

    fn pair(&self, account: &Account, status: &Status, msg: &Inbound, outbox: &dyn Outbox) -> Delivery {
        let meta = json!({
            "accountId": account.id,
            "name": msg.sender_name,
            "username": msg.sender_username,
            "chatId": msg.target.chat_id,
        });
        match self.store.request(account.kind.id(), &msg.sender_id, meta, now_ms()) {
            Ok(Requested::New(code)) => {
                log::info!("channel {}: pairing request from {} ({}), code {code}", account.label(), msg.sender_id, msg.sender_name);
                let text = pairing_message(account.kind.label(), account.kind.id(), &msg.sender_id, &code);
                match outbox.send(&msg.target, &text) {
                    Ok(()) => status.outbound(),
                    Err(e) => log::warn!("channel {}: cannot send the pairing code: {e}", account.label()),
                }
                Delivery::PairingCode(code)
            }
            Ok(Requested::Pending) => Delivery::Dropped("pairing request pending"),
            Ok(Requested::Full) => {
                log::warn!("channel {}: {} pairing requests pending; ignoring {}", account.label(), pairing::MAX_PENDING, msg.sender_id);
                Delivery::Dropped("too many pairing requests pending")
            }
            Err(e) => {
                log::error!("channel {}: {e}", account.label());
                Delivery::Dropped("pairing store unavailable")
            }
        }
    }

    /// Runs the queued turns of `key` until its queue is empty.
    fn work(&self, key: &str) {
        loop {
            let job = {
                let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
                match queues.get_mut(key).and_then(VecDeque::pop_front) {
                    Some(job) => job,
                    None => {
                        queues.remove(key);
                        return;
                    }
                }
            };
            self.turn(key, job);
        }
    }

    fn turn(&self, key: &str, job: Job) {
        let Job { msg, account, status, outbox } = job;
        let text = if msg.direct || msg.sender_name.is_empty() { msg.text.clone() } else { format!("{}: {}", msg.sender_name, msg.text) };
        let run = match self.runtime.new_run_with_media(key, msg.media.clone()) {
            Ok(run) => run,
            Err(e) => {
                log::error!("channel {}: cannot start a turn: {e}", account.label());
                return;
            }
        };
        let done = Arc::new(super::Stop::default());
        let typing = {
            let (done, outbox, target) = (Arc::clone(&done), Arc::clone(&outbox), msg.target.clone());
            std::thread::Builder::new().name("channel-typing".into()).spawn(move || {
                loop {
                    outbox.typing(&target);
                    if done.sleep(TYPING_EVERY) {
                        return;
                    }
                }
            })
        };
        let outcome = self.runtime.run_turn(&run, &text, None, &|_, _| {});
        done.set();
        if let Ok(t) = typing {
            let _ = t.join();
        }
        let reply = match outcome {
            Outcome::Final { text, .. } => text,
            Outcome::Error(e) => format!("⚠️ {e}"),
            Outcome::Aborted => return,
        };
        let reply = reply.trim();
        if reply.is_empty() || reply == "NO_REPLY" {
            return;
        }
        match outbox.send(&msg.target, reply) {
            Ok(()) => status.outbound(),
            Err(e) => {
                log::warn!("channel {}: cannot send the reply: {e}", account.label());
                status.warn(format!("cannot send a reply: {e}"));
            }
        }
    }
}

/// The answer to an unknown sender (upstream's wording).
pub fn pairing_message(label: &str, channel: &str, sender_id: &str, code: &str) -> String {
    format!(
        "OpenClaw: access not configured.\n\nYour {label} user id: {sender_id}\n\nPairing code: {code}\n\nAsk the bot owner to approve with:\nopenclaw pairing approve {channel} {code}"
    )
}
