//! Sessions: session keys, the per-agent session store and JSONL transcripts.
//!
//! **Keys** (reference §6). The main session is `agent:<agentId>:<mainKey>`;
//! direct messages follow `session.dmScope` ([`dm_key`]); groups and channels
//! are `agent:<a>:<channel>:group:<id>` / `…:channel:<id>`; a thread appends
//! `:thread:<id>`. Agent ids go through [`normalize_agent_id`]; peer, group,
//! thread, channel and account ids are trimmed and lower-cased. A key the
//! store accepts is non-empty, printable, at most [`MAX_KEY_BYTES`] and has no
//! `/`, `\` or NUL ([`check_key`]).
//!
//! **Store.** `<state>/agents/<agentId>/sessions/sessions.json` maps session
//! keys to [`Entry`]s in upstream's shape (camelCase; unknown fields kept, so
//! an upstream file survives a rewrite). Every read-modify-write runs under
//! the advisory lock `sessions.json.lock` and ends in an atomic write; a file
//! that does not parse is an [`Error::Corrupt`] and is never overwritten.
//!
//! **Session ids** become file names, so only `[A-Za-z0-9_-]{1,128}` is
//! accepted ([`check_session_id`]) wherever a path is built from one —
//! including ids read back from a hand-edited `sessions.json`: every [`Entry`]
//! the store hands out carries a checked id ([`Store::reset`] is the way out
//! for a key whose stored id is refused). The `sessionFile` field is written
//! for upstream but never read: the path always comes from the id.
//!
//! **Transcripts** `<sessionId>.jsonl`: a header line
//! `{"type":"session","version":1,"id","timestamp","cwd"}` then one entry per
//! line with `id` and `parentId` (a chain). [`Store::append`] holds the
//! transcript's lock (`<sessionId>.jsonl.lock`, as upstream), writes one line
//! with [`fsutil::append_synced`] and returns only after the fsync: a failed
//! write or fsync is an `Err`, never an acknowledged entry (and the file is cut
//! back, best effort, so a retry does not duplicate it).
//!
//! **Torn tails.** [`Store::load`] keeps every good line. A last line without
//! its newline, or a last line that is not JSON, is what a crash mid-append
//! leaves: it is dropped with a warning and the file is cut back to the end
//! of the last good line, so the next append starts on a clean line. A bad
//! line elsewhere (a corrupt header included) is skipped with a warning and
//! never costs the lines after it. The cut is `File::set_len` on the same
//! inode followed by `fsync` (`fsutil::truncate_synced`), under the
//! transcript lock, rather than a copy
//! and atomic replace: it only removes bytes no reader was ever promised,
//! costs O(1) instead of rewriting a possibly large transcript, and a crash
//! half-way leaves either the old length (the next load cuts again) or the
//! new one; a replace would also strand any descriptor still open on the old
//! inode. A reset archives the transcript with `fsutil::rename_synced`.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::config::model::DmScope;
use crate::config::model::normalize_agent_id;
use crate::fsutil::{self, Lock};
use crate::now_ms;

/// The longest session key the store accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// The longest transcript line [`Store::append`] writes, in bytes.
pub const MAX_LINE_BYTES: usize = 4 << 20;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[derive(Debug)]
pub enum Error {
    /// A session key that is empty, too long, or has `/`, `\`, NUL or control characters.
    BadKey(String),
    /// A session id that is not a plain `[A-Za-z0-9_-]{1,128}` file name.
    BadSessionId(String),
    /// A transcript entry that is not an object with a `type` other than `session`.
    BadEntry(&'static str),
    /// A transcript line longer than [`MAX_LINE_BYTES`].
    TooLarge(usize),
    /// `sessions.json` (or one entry in it) does not parse; it was left untouched.
    Corrupt { path: PathBuf, message: String },
    Io { path: PathBuf, source: io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// At most 80 characters, escaped: keys and ids come from outside.
fn shown(s: &str) -> String {
    format!("{:?}", s.chars().take(80).collect::<String>())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadKey(k) => write!(
                f,
                "invalid session key {}: it must be 1-{MAX_KEY_BYTES} printable bytes without '/', '\\' or NUL",
                shown(k)
            ),
            Error::BadSessionId(id) => {
                write!(f, "invalid session id {}: only letters, digits, '_' and '-' (at most 128)", shown(id))
            }
            Error::BadEntry(why) => write!(f, "invalid transcript entry: {why}"),
            Error::TooLarge(n) => write!(f, "transcript line of {n} bytes is over the {MAX_LINE_BYTES}-byte limit"),
            Error::Corrupt { path, message } => write!(
                f,
                "session store {} is not valid ({message}); it was left untouched: fix or remove it",
                path.display()
            ),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn new_id() -> Result<String> {
    crate::crypto::uuid_v4().map_err(io_at(Path::new("/dev/urandom")))
}

// ---------------------------------------------------------------------------
// Session keys
// ---------------------------------------------------------------------------

impl DmScope {
    /// Reads the `session.dmScope` spelling.
    pub fn parse(s: &str) -> Option<DmScope> {
        Some(match s {
            "main" => DmScope::Main,
            "per-peer" => DmScope::PerPeer,
            "per-channel-peer" => DmScope::PerChannelPeer,
            "per-account-channel-peer" => DmScope::PerAccountChannelPeer,
            _ => return None,
        })
    }
}

/// Trimmed and lower-cased; `fallback` when empty.
fn token(s: &str, fallback: &str) -> String {
    let t = s.trim().to_lowercase();
    if t.is_empty() { fallback.to_string() } else { t }
}

/// `agent:<agentId>:<mainKey>` (`main` when `main_key` is empty).
pub fn main_key(agent_id: &str, main_key: &str) -> String {
    format!("agent:{}:{}", normalize_agent_id(agent_id), token(main_key, "main"))
}

/// The key of a direct message from `peer` under `scope`. An empty peer, or
/// [`DmScope::Main`], gives the main key; an empty channel is `unknown`, an
/// empty account `default`.
pub fn dm_key(agent_id: &str, main: &str, scope: DmScope, channel: &str, account: &str, peer: &str) -> String {
    let (a, peer) = (normalize_agent_id(agent_id), token(peer, ""));
    let ch = || token(channel, "unknown");
    match scope {
        _ if peer.is_empty() => main_key(agent_id, main),
        DmScope::Main => main_key(agent_id, main),
        DmScope::PerPeer => format!("agent:{a}:direct:{peer}"),
        DmScope::PerChannelPeer => format!("agent:{a}:{}:direct:{peer}", ch()),
        DmScope::PerAccountChannelPeer => format!("agent:{a}:{}:{}:direct:{peer}", ch(), token(account, "default")),
    }
}

/// `agent:<a>:<channel>:group:<id>`.
pub fn group_key(agent_id: &str, channel: &str, group_id: &str) -> String {
    peer_key(agent_id, channel, "group", group_id)
}

/// `agent:<a>:<channel>:channel:<id>` (channels and rooms).
pub fn channel_key(agent_id: &str, channel: &str, channel_id: &str) -> String {
    peer_key(agent_id, channel, "channel", channel_id)
}

fn peer_key(agent_id: &str, channel: &str, kind: &str, id: &str) -> String {
    format!("agent:{}:{}:{kind}:{}", normalize_agent_id(agent_id), token(channel, "unknown"), token(id, "unknown"))
}

/// `<base>:thread:<id>`; `base` itself when the thread id is empty.
pub fn thread_key(base: &str, thread_id: &str) -> String {
    match token(thread_id, "") {
        t if t.is_empty() => base.to_string(),
        t => format!("{base}:thread:{t}"),
    }
}

/// The agent a key belongs to: `<a>` of `agent:<a>:<rest>`, else the default.
pub fn agent_of(key: &str, default_agent: &str) -> String {
    let mut parts = key.trim().split(':').filter(|p| !p.is_empty());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(p), Some(a), Some(_)) if p.eq_ignore_ascii_case("agent") => normalize_agent_id(a),
        _ => normalize_agent_id(default_agent),
    }
}

/// Whether `key` is the agent's main session.
pub fn is_main(key: &str, agent_id: &str, main: &str) -> bool {
    key.trim().eq_ignore_ascii_case(&main_key(agent_id, main))
}

/// `group`, `channel` or `direct`, from the key's kind token (as upstream).
pub fn chat_type_of(key: &str) -> &'static str {
    let lower = key.to_lowercase();
    let skip = if lower.starts_with("agent:") { 2 } else { 0 };
    let kinds: Vec<&str> = lower.split(':').skip(skip).collect();
    if kinds.contains(&"group") {
        "group"
    } else if kinds.contains(&"channel") {
        "channel"
    } else {
        "direct"
    }
}

/// Refuses keys the store will not hold (see the module docs).
pub fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && !key.chars().any(|c| c.is_control() || c == '/' || c == '\\');
    if ok { Ok(()) } else { Err(Error::BadKey(key.to_string())) }
}

/// Refuses a session id that is not a plain `[A-Za-z0-9_-]{1,128}` name.
pub fn check_session_id(id: &str) -> Result<()> {
    let ok = (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(Error::BadSessionId(id.to_string())) }
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

/// One `sessions.json` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub session_id: String,
    /// Last activity, ms since the epoch.
    #[serde(default)]
    pub updated_at: u64,
    /// Written for upstream; never read (the path comes from the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_file: Option<String>,
    /// `direct`, `group` or `channel`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chat_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    /// Fields we do not know, kept through a rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Token counts to add to an entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
}

/// A transcript as read back.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The `type: "session"` first line, if it parsed.
    pub header: Option<Value>,
    /// Every other line that parsed, in file order.
    pub entries: Vec<Value>,
    /// A torn last line was dropped (and cut from the file).
    pub dropped_tail: bool,
    /// Lines elsewhere that did not parse and were skipped.
    pub skipped: usize,
}

/// The sessions of one agent.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    index: PathBuf,
    cwd: String,
}

impl Store {
    /// The store in `<state>/agents/<normalized agentId>/sessions/`.
    pub fn new(state_dir: &Path, agent_id: &str) -> Store {
        Store::in_dir(state_dir.join("agents").join(normalize_agent_id(agent_id)).join("sessions"))
    }

    /// A store whose `sessions.json` and transcripts live in `dir` (`session.store`).
    pub fn in_dir(dir: PathBuf) -> Store {
        Store { index: dir.join("sessions.json"), dir, cwd: String::new() }
    }

    /// The `cwd` written into new transcript headers (the agent's workspace).
    pub fn with_cwd(mut self, cwd: impl Into<String>) -> Store {
        self.cwd = cwd.into();
        self
    }

    /// `sessions.json`.
    pub fn path(&self) -> &Path {
        &self.index
    }

    /// `<dir>/<sessionId>.jsonl`, for a checked id only.
    pub fn transcript_path(&self, session_id: &str) -> Result<PathBuf> {
        check_session_id(session_id)?;
        Ok(self.dir.join(format!("{session_id}.jsonl")))
    }

    pub fn entry(&self, key: &str) -> Result<Option<Entry>> {
        check_key(key)?;
        self.read_index()?.get(key).map(|v| self.parse_entry(key, v)).transpose()
    }

    /// The entry for `key`, created (new session id, transcript header) when missing.
    pub fn ensure(&self, key: &str, now_ms: u64) -> Result<Entry> {
        if let Some(e) = self.entry(key)? {
            self.ensure_transcript(&e.session_id, now_ms)?;
            return Ok(e);
        }
        self.update(|map| match map.get(key) {
            Some(v) => self.parse_entry(key, v),
            None => self.create(map, key, now_ms),
        })
    }

    /// Marks activity and adds `usage`; creates the entry when missing.
    pub fn touch(&self, key: &str, now_ms: u64, usage: Usage) -> Result<Entry> {
        check_key(key)?;
        self.update(|map| {
            let mut e = match map.get(key) {
                Some(v) => self.parse_entry(key, v)?,
                None => self.create(map, key, now_ms)?,
            };
            e.updated_at = e.updated_at.max(now_ms);
            e.input_tokens = e.input_tokens.saturating_add(usage.input);
            e.output_tokens = e.output_tokens.saturating_add(usage.output);
            e.total_tokens = e.total_tokens.saturating_add(usage.input).saturating_add(usage.output);
            map.insert(key.to_string(), to_value(&e));
            Ok(e)
        })
    }

    /// Every entry, newest first. Entries that do not parse or carry a
    /// refused session id are left out with a warning.
    pub fn list(&self) -> Result<Vec<(String, Entry)>> {
        let mut out: Vec<(String, Entry)> = (self.read_index()?.iter())
            .filter_map(|(k, v)| match self.parse_entry(k, v) {
                Ok(e) => Some((k.clone(), e)),
                Err(err) => {
                    log::warn!("{}: session {}: {err}", self.index.display(), shown(k));
                    None
                }
            })
            .collect();
        out.sort_by(|(ka, a), (kb, b)| b.updated_at.cmp(&a.updated_at).then_with(|| ka.cmp(kb)));
        Ok(out)
    }

    /// Starts a new session for `key`: the old transcript is archived as
    /// `<sessionId>.jsonl.reset.<timestamp>`, the entry gets a new session id
    /// and zeroed token counts and keeps its other fields. Also repairs an
    /// entry whose stored id is refused (nothing is archived then).
    pub fn reset(&self, key: &str, now_ms: u64) -> Result<Entry> {
        check_key(key)?;
        self.update(|map| {
            let old = match map.get(key).map(|v| serde_json::from_value::<Entry>(v.clone())) {
                None => return self.create(map, key, now_ms),
                Some(Ok(e)) => e,
                Some(Err(err)) => {
                    let (file, shown_key) = (self.index.display(), shown(key));
                    log::warn!("{file}: session {shown_key}: unreadable entry replaced on reset: {err}");
                    return self.create(map, key, now_ms);
                }
            };
            match self.transcript_path(&old.session_id) {
                Ok(path) => self.archive(&path, now_ms)?,
                Err(err) => log::warn!("{}: session {}: {err}; nothing archived", self.index.display(), shown(key)),
            }
            let session_id = new_id()?;
            let path = self.transcript_path(&session_id)?;
            self.write_header(&path, &session_id, now_ms)?;
            let e = Entry {
                session_id,
                updated_at: now_ms,
                session_file: Some(path.display().to_string()),
                chat_type: if old.chat_type.is_empty() { chat_type_of(key).into() } else { old.chat_type },
                input_tokens: 0,
                output_tokens: 0,
                total_tokens: 0,
                ..old
            };
            map.insert(key.to_string(), to_value(&e));
            Ok(e)
        })
    }

    fn parse_entry(&self, key: &str, v: &Value) -> Result<Entry> {
        let e: Entry = serde_json::from_value(v.clone()).map_err(|err| Error::Corrupt {
            path: self.index.clone(),
            message: format!("session {}: {err}", shown(key)),
        })?;
        check_session_id(&e.session_id)?;
        Ok(e)
    }

    /// A new entry with a fresh session id and transcript header, inserted into `map`.
    fn create(&self, map: &mut Map<String, Value>, key: &str, now_ms: u64) -> Result<Entry> {
        let session_id = new_id()?;
        let path = self.transcript_path(&session_id)?;
        self.write_header(&path, &session_id, now_ms)?;
        let e = Entry {
            session_id,
            updated_at: now_ms,
            session_file: Some(path.display().to_string()),
            chat_type: chat_type_of(key).into(),
            display_name: None,
            input_tokens: 0,
            output_tokens: 0,
            total_tokens: 0,
            extra: Map::new(),
        };
        map.insert(key.to_string(), to_value(&e));
        Ok(e)
    }

    fn read_index(&self) -> Result<Map<String, Value>> {
        let bytes = match fs::read(&self.index) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => return Err(io_at(&self.index)(e)),
        };
        let corrupt = |message: String| Error::Corrupt { path: self.index.clone(), message };
        match serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))? {
            Value::Object(map) => Ok(map),
            _ => Err(corrupt("the top level is not an object".into())),
        }
    }

    /// Read-modify-write of `sessions.json` under its lock; written only when changed.
    fn update<T>(&self, f: impl FnOnce(&mut Map<String, Value>) -> Result<T>) -> Result<T> {
        let _lock = Lock::exclusive(&self.index).map_err(io_at(&self.index))?;
        let mut map = self.read_index()?;
        let before = map.clone();
        let out = f(&mut map)?;
        if map != before {
            let mut bytes = serde_json::to_vec_pretty(&map).map_err(|e| io_at(&self.index)(e.into()))?;
            bytes.push(b'\n');
            fsutil::write_atomic(&self.index, &bytes).map_err(io_at(&self.index))?;
        }
        Ok(out)
    }

    // -- transcripts --------------------------------------------------------

    fn write_header(&self, path: &Path, session_id: &str, now_ms: u64) -> Result<()> {
        let header = serde_json::json!({
            "type": "session", "version": 1, "id": session_id, "timestamp": iso(now_ms), "cwd": self.cwd,
        });
        let line = join_line(&header, &["type", "version", "id", "timestamp", "cwd"]);
        fsutil::write_atomic(path, line.as_bytes()).map_err(io_at(path))
    }

    /// Writes the header of a transcript that is missing or empty.
    fn ensure_transcript(&self, session_id: &str, now_ms: u64) -> Result<()> {
        let path = self.transcript_path(session_id)?;
        if fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            return Ok(());
        }
        let _lock = Lock::exclusive(&path).map_err(io_at(&path))?;
        if fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            return Ok(());
        }
        self.write_header(&path, session_id, now_ms)
    }

    /// Renames the transcript (if any) to `<file>.reset.<timestamp>`, under its lock.
    fn archive(&self, path: &Path, now_ms: u64) -> Result<()> {
        let _lock = Lock::exclusive(path).map_err(io_at(path))?;
        if !path.exists() {
            return Ok(());
        }
        let stamp = iso(now_ms).replace(':', "-");
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let target = (0..)
            .map(|n| match n {
                0 => self.dir.join(format!("{name}.reset.{stamp}")),
                n => self.dir.join(format!("{name}.reset.{stamp}.{n}")),
            })
            .find(|p| !p.exists())
            .unwrap_or_default();
        fsutil::rename_synced(path, &target).map_err(io_at(path))?;
        log::info!("archived transcript {} as {}", path.display(), target.display());
        Ok(())
    }

    /// Appends `{"type":"message","message":message}`; see [`Store::append`].
    pub fn append_message(&self, session_id: &str, message: Value) -> Result<String> {
        self.append(session_id, &serde_json::json!({ "type": "message", "message": message }))
    }

    /// Appends one entry (an object with a `type`, e.g. `message` with a
    /// `message` field) and returns its new `id`. The store sets `id`, sets
    /// `parentId` to the previous entry's id (unless given, for branches) and
    /// `timestamp` (unless given). Returns after the line is fsynced; a
    /// missing transcript gets its header first, a torn tail is cut first.
    pub fn append(&self, session_id: &str, entry: &Value) -> Result<String> {
        let path = self.transcript_path(session_id)?;
        let Value::Object(fields) = entry else { return Err(Error::BadEntry("not a JSON object")) };
        if !matches!(fields.get("type"), Some(Value::String(t)) if t != "session") {
            return Err(Error::BadEntry("\"type\" must be a string other than \"session\""));
        }
        let _lock = Lock::exclusive(&path).map_err(io_at(&path))?;
        let mut len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len > 0 && last_byte(&path).map_err(io_at(&path))? != b'\n' {
            load_locked(&path)?;
            len = fs::metadata(&path).map(|m| m.len()).map_err(io_at(&path))?;
            if len > 0 && last_byte(&path).map_err(io_at(&path))? != b'\n' {
                return Err(io_at(&path)(io::Error::other("the torn last line could not be cut")));
            }
        }
        if len == 0 {
            self.write_header(&path, session_id, now_ms())?;
            len = fs::metadata(&path).map(|m| m.len()).map_err(io_at(&path))?;
        }
        let id = new_id()?;
        let mut full = fields.clone();
        full.insert("id".into(), Value::String(id.clone()));
        if !full.contains_key("parentId") {
            full.insert("parentId".into(), last_entry_id(&path, len).map_err(io_at(&path))?);
        }
        full.entry("timestamp").or_insert_with(|| Value::String(iso(now_ms())));
        let line = join_line(&Value::Object(full), &["type", "id", "parentId", "timestamp"]);
        if line.len() > MAX_LINE_BYTES {
            return Err(Error::TooLarge(line.len()));
        }
        if let Err(e) = fsutil::append_synced(&path, line.as_bytes()) {
            // Not acknowledged: take back whatever reached the file, best effort.
            let _ = fsutil::truncate_synced(&path, len);
            return Err(io_at(&path)(e));
        }
        Ok(id)
    }

    /// Reads a transcript (missing: empty); cuts a torn tail (see the module docs).
    pub fn load(&self, session_id: &str) -> Result<Loaded> {
        let path = self.transcript_path(session_id)?;
        if !path.exists() {
            return Ok(Loaded::default());
        }
        let _lock = Lock::exclusive(&path).map_err(io_at(&path))?;
        load_locked(&path)
    }
}


fn to_value(e: &Entry) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// One JSON line with the `first` keys in that order, then the rest.
fn join_line(v: &Value, first: &[&str]) -> String {
    let Value::Object(map) = v else { return format!("{v}\n") };
    let keys = first.iter().copied().filter(|k| map.contains_key(*k));
    let rest = map.keys().map(String::as_str).filter(|k| !first.contains(k));
    let fields: Vec<String> = keys.chain(rest).map(|k| format!("{}:{}", Value::from(k), map[k])).collect();
    format!("{{{}}}\n", fields.join(","))
}

fn last_byte(path: &Path) -> io::Result<u8> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::End(-1))?;
    let mut b = [0u8];
    f.read_exact(&mut b)?;
    Ok(b[0])
}

/// The `id` of the last entry line (null after the header or in an empty
/// file), reading backwards in growing windows.
fn last_entry_id(path: &Path, len: u64) -> io::Result<Value> {
    let mut f = File::open(path)?;
    let mut window = 64 * 1024u64;
    loop {
        let start = len.saturating_sub(window);
        let mut buf = vec![0; (len - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        // Past the first newline when the window starts mid-line.
        let skip = if start == 0 { 0 } else { buf.iter().position(|&b| b == b'\n').map_or(buf.len(), |p| p + 1) };
        for line in buf[skip..].split(|&b| b == b'\n').rev() {
            let Ok(v) = serde_json::from_slice::<Value>(line) else { continue };
            if v.get("type").and_then(Value::as_str) == Some("session") {
                return Ok(Value::Null);
            }
            if let Some(id) = v.get("id").filter(|id| id.is_string()) {
                return Ok(id.clone());
            }
        }
        if start == 0 || window >= 4 * MAX_LINE_BYTES as u64 {
            return Ok(Value::Null);
        }
        window *= 8;
    }
}

/// Parses a transcript whose lock is held; cuts a torn tail from the file.
fn load_locked(path: &Path) -> Result<Loaded> {
    let bytes = fs::read(path).map_err(io_at(path))?;
    // (1-based number, start offset, bytes without the newline) of every line.
    let mut lines = Vec::new();
    let mut start = 0;
    for (n, chunk) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        lines.push((n + 1, start, chunk.strip_suffix(b"\n").unwrap_or(chunk)));
        start += chunk.len();
    }
    let blank = |l: &[u8]| l.iter().all(u8::is_ascii_whitespace);
    let mut good = bytes.len();
    let mut out = Loaded::default();
    // A last line without its newline is torn, whatever it holds.
    if !bytes.ends_with(b"\n")
        && let Some((n, s, l)) = lines.pop()
    {
        good = s;
        out.dropped_tail = true;
        log::warn!("{}: dropped torn line {n} ({} bytes without a newline)", path.display(), l.len());
    }
    // So is a complete last line that is not JSON.
    while lines.last().is_some_and(|(_, _, l)| blank(l)) {
        lines.pop();
    }
    if let Some(&(n, s, l)) = lines.last()
        && serde_json::from_slice::<Value>(l).is_err()
    {
        lines.pop();
        good = s;
        out.dropped_tail = true;
        log::warn!("{}: dropped torn line {n} (not JSON)", path.display());
    }
    for (i, (n, _, l)) in lines.iter().filter(|(_, _, l)| !blank(l)).enumerate() {
        match serde_json::from_slice::<Value>(l) {
            Ok(v) if i == 0 && v.get("type").and_then(Value::as_str) == Some("session") => out.header = Some(v),
            Ok(v) => out.entries.push(v),
            Err(e) => {
                out.skipped += 1;
                let what = if i == 0 { "corrupt header" } else { "invalid line" };
                log::warn!("{}: skipped {what} {n} ({e}); the lines after it are kept", path.display());
            }
        }
    }
    // History stays readable when the cut fails (a read-only disk); append refuses then.
    if good < bytes.len()
        && let Err(e) = fsutil::truncate_synced(path, good as u64)
    {
        log::warn!("{}: could not cut the torn tail: {e}", path.display());
    }
    Ok(out)
}


/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for ms since the epoch (days to civil date after
/// Howard Hinnant's algorithm).
pub fn iso(ms: u64) -> String {
    let (days, rem) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.mmm]Z`.
pub fn parse_iso(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let ms = if b[19] == b'.' { num(20..23).unwrap_or(0) } else { 0 };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if mo <= 2 { (y as i64 - 1, mo + 9) } else { (y as i64, mo - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m as i64 + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + (h * 3600 + mi * 60 + se) as i64;
    u64::try_from(secs).ok().map(|s| s * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use serde_json::json;

    use super::*;

    use crate::fsutil::TestDir as Temp;

    const T0: u64 = 1_700_000_000_000;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn lines(p: &Path) -> Vec<Value> {
        fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn msg(text: &str) -> Value {
        json!({ "role": "user", "content": [{ "type": "text", "text": text }] })
    }

    #[test]
    fn keys_for_every_scope_group_channel_and_thread() {
        assert_eq!(main_key("Main", ""), "agent:main:main");
        assert_eq!(main_key(" Ops ", " Work "), "agent:ops:work");
        let dm = |scope, account| dm_key("Ops", "main", scope, "Telegram", account, " Alice ");
        assert_eq!(dm(DmScope::Main, ""), "agent:ops:main");
        assert_eq!(dm(DmScope::PerPeer, ""), "agent:ops:direct:alice");
        assert_eq!(dm(DmScope::PerChannelPeer, ""), "agent:ops:telegram:direct:alice");
        assert_eq!(dm(DmScope::PerAccountChannelPeer, "Bot2"), "agent:ops:telegram:bot2:direct:alice");
        assert_eq!(dm(DmScope::PerAccountChannelPeer, ""), "agent:ops:telegram:default:direct:alice");
        assert_eq!(dm_key("ops", "", DmScope::PerChannelPeer, "", "", "Bob"), "agent:ops:unknown:direct:bob");
        assert_eq!(dm_key("ops", "home", DmScope::PerPeer, "telegram", "", "  "), "agent:ops:home");
        let group = group_key("Ops", "Telegram", "-100123");
        assert_eq!(group, "agent:ops:telegram:group:-100123");
        assert_eq!(channel_key("ops", "discord", "C1"), "agent:ops:discord:channel:c1");
        assert_eq!(thread_key(&group, "42"), "agent:ops:telegram:group:-100123:thread:42");
        assert_eq!(thread_key(&group, " "), group);
        for (s, scope) in [
            ("main", DmScope::Main),
            ("per-peer", DmScope::PerPeer),
            ("per-channel-peer", DmScope::PerChannelPeer),
            ("per-account-channel-peer", DmScope::PerAccountChannelPeer),
        ] {
            assert_eq!(DmScope::parse(s), Some(scope));
        }
        assert_eq!(DmScope::parse("per-user"), None);
        assert_eq!(agent_of("agent:Ops:telegram:group:1", "main"), "ops");
        assert_eq!(agent_of("cron:job-1", "Main"), "main");
        assert_eq!(agent_of("agent:ops", "dflt"), "dflt");
        assert!(is_main("agent:ops:main", "ops", ""));
        assert!(is_main("Agent:Ops:Work", "ops", "work"));
        assert!(!is_main("agent:ops:direct:alice", "ops", "main"));
        assert_eq!(chat_type_of(&group), "group");
        assert_eq!(chat_type_of("agent:ops:discord:channel:c1:thread:9"), "channel");
        assert_eq!(chat_type_of("agent:ops:telegram:direct:alice"), "direct");
        assert_eq!(chat_type_of("agent:group:main"), "direct", "the agent id is not a kind");
    }

    #[test]
    fn bad_keys_and_session_ids_are_refused() {
        for k in ["", "a/b", "a\\b", "a\0b", "a\nb", "a\u{7f}b", &"k".repeat(513)] {
            assert!(matches!(check_key(k), Err(Error::BadKey(_))), "{k:?}");
        }
        check_key(&"k".repeat(512)).unwrap();
        check_key("agent:main:telegram:group:-100:thread:7").unwrap();
        for id in ["../../x", "x/../../y", "/etc/passwd", "", ".", "..", "a.b", "a b", &"a".repeat(129)] {
            assert!(matches!(check_session_id(id), Err(Error::BadSessionId(_))), "{id:?}");
        }
        check_session_id(&crate::crypto::uuid_v4().unwrap()).unwrap();
        check_session_id("abc-topic-42_x").unwrap();

        let t = Temp::new("sessions-bad");
        let store = Store::new(&t.0, "main");
        for id in ["../../x", "x/../../y", "/tmp/evil"] {
            assert!(matches!(store.transcript_path(id), Err(Error::BadSessionId(_))));
            assert!(matches!(store.append_message(id, msg("hi")), Err(Error::BadSessionId(_))));
            assert!(matches!(store.load(id), Err(Error::BadSessionId(_))));
        }
        assert!(matches!(store.entry("a/b"), Err(Error::BadKey(_))));
        assert!(matches!(store.ensure("../x", T0), Err(Error::BadKey(_))));
        assert!(matches!(store.touch("a\\b", T0, Usage::default()), Err(Error::BadKey(_))));
        assert!(matches!(store.reset("", T0), Err(Error::BadKey(_))));
        assert!(!t.0.join("x").exists() && !Path::new("/tmp/evil.jsonl").exists());
    }

    #[test]
    fn session_ids_from_a_hand_edited_store_are_refused() {
        let t = Temp::new("sessions-handedit");
        let store = Store::new(&t.0, "main");
        let good = store.ensure("agent:main:main", T0).unwrap();
        let mut index: Value = serde_json::from_slice(&fs::read(store.path()).unwrap()).unwrap();
        index["agent:main:evil"] = json!({ "sessionId": "../../x", "updatedAt": T0 + 5, "thinkingLevel": "high" });
        index["agent:main:abs"] = json!({ "sessionId": "/tmp/abs", "updatedAt": T0 });
        index["agent:main:file"] =
            json!({ "sessionId": "plain-id", "updatedAt": T0 - 1, "sessionFile": "/tmp/stolen.jsonl" });
        fsutil::write_atomic(store.path(), index.to_string().as_bytes()).unwrap();

        for key in ["agent:main:evil", "agent:main:abs"] {
            assert!(matches!(store.entry(key), Err(Error::BadSessionId(_))));
            assert!(matches!(store.ensure(key, T0), Err(Error::BadSessionId(_))));
            assert!(matches!(store.touch(key, T0, Usage::default()), Err(Error::BadSessionId(_))));
        }
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 2, "refused entries are left out of the list");
        assert_eq!(listed[0].1, good);
        // `sessionFile` is never trusted: the transcript path comes from the id.
        let file = store.ensure("agent:main:file", T0).unwrap();
        store.append_message(&file.session_id, msg("x")).unwrap();
        assert!(store.transcript_path("plain-id").unwrap().exists());
        assert!(!Path::new("/tmp/stolen.jsonl").exists());

        // Reset is the way out: a fresh id, the other fields kept, nothing archived outside.
        let fixed = store.reset("agent:main:evil", T0 + 10).unwrap();
        check_session_id(&fixed.session_id).unwrap();
        assert_eq!(fixed.extra["thinkingLevel"], "high");
        assert_eq!(store.entry("agent:main:evil").unwrap(), Some(fixed));
        assert!(!t.0.join("agents/x").exists() && !t.0.join("x").exists());
    }

    #[test]
    fn ensure_touch_list_and_reset() {
        let t = Temp::new("sessions-lifecycle");
        let store = Store::new(&t.0, "Ops").with_cwd("/work/ops");
        assert_eq!(store.path(), t.0.join("agents/ops/sessions/sessions.json"));
        assert_eq!(store.entry("agent:ops:main").unwrap(), None);
        assert!(store.list().unwrap().is_empty());

        let main = store.ensure("agent:ops:main", T0).unwrap();
        check_session_id(&main.session_id).unwrap();
        assert_eq!((main.updated_at, main.chat_type.as_str()), (T0, "direct"));
        let path = store.transcript_path(&main.session_id).unwrap();
        assert_eq!(main.session_file.as_deref(), Some(path.to_str().unwrap()));
        let header = &lines(&path)[0];
        assert_eq!(header["type"], "session");
        assert_eq!(header["version"], 1);
        assert_eq!(header["id"], main.session_id.as_str());
        assert_eq!(header["timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(header["cwd"], "/work/ops");
        assert!(fs::read_to_string(&path).unwrap().starts_with("{\"type\":\"session\","));
        assert_eq!(store.ensure("agent:ops:main", T0 + 1).unwrap(), main, "ensure is idempotent");

        // A deleted transcript gets its header back on ensure.
        fs::remove_file(&path).unwrap();
        store.ensure("agent:ops:main", T0 + 1).unwrap();
        assert_eq!(lines(&path)[0]["id"], main.session_id.as_str());

        let group = store.ensure("agent:ops:telegram:group:-1", T0 + 2).unwrap();
        assert_eq!(group.chat_type, "group");
        store.touch("agent:ops:main", T0 + 3, Usage { input: 100, output: 20 }).unwrap();
        let touched = store.touch("agent:ops:main", T0 + 4, Usage { input: 5, output: 1 }).unwrap();
        assert_eq!((touched.input_tokens, touched.output_tokens, touched.total_tokens), (105, 21, 126));
        assert_eq!(touched.updated_at, T0 + 4);
        let fresh = store.touch("agent:ops:new", T0 + 1, Usage { input: 1, output: 1 }).unwrap();
        assert_eq!(fresh.total_tokens, 2, "touch creates a missing entry");

        let keys: Vec<String> = store.list().unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["agent:ops:main", "agent:ops:telegram:group:-1", "agent:ops:new"]);

        // Reset: archive, new id, old transcript intact, tokens zeroed, other fields kept.
        let first = store.append_message(&main.session_id, msg("before reset")).unwrap();
        let old_text = fs::read_to_string(&path).unwrap();
        let mut index: Value = serde_json::from_slice(&fs::read(store.path()).unwrap()).unwrap();
        index["agent:ops:main"]["displayName"] = json!("Ops main");
        index["agent:ops:main"]["modelOverride"] = json!("gpt-x");
        fsutil::write_atomic(store.path(), index.to_string().as_bytes()).unwrap();

        let reset = store.reset("agent:ops:main", T0 + 10).unwrap();
        assert_ne!(reset.session_id, main.session_id);
        assert_eq!((reset.updated_at, reset.total_tokens, reset.input_tokens), (T0 + 10, 0, 0));
        assert_eq!(reset.display_name.as_deref(), Some("Ops main"));
        assert_eq!(reset.extra["modelOverride"], "gpt-x");
        assert!(!path.exists());
        let archive = path.with_file_name(format!("{}.jsonl.reset.2023-11-14T22-13-20.010Z", main.session_id));
        assert_eq!(fs::read_to_string(&archive).unwrap(), old_text);
        assert!(old_text.contains(&first));
        let new_path = store.transcript_path(&reset.session_id).unwrap();
        assert_eq!(store.load(&reset.session_id).unwrap().entries.len(), 0);
        assert_eq!(lines(&new_path).len(), 1);
        assert_eq!(store.entry("agent:ops:main").unwrap(), Some(reset.clone()));

        // An archive name already taken is never overwritten.
        let taken = new_path.with_file_name(format!("{}.jsonl.reset.2023-11-14T22-13-20.010Z", reset.session_id));
        fs::write(&taken, "earlier").unwrap();
        let again = store.reset("agent:ops:main", T0 + 10).unwrap();
        assert_eq!(fs::read_to_string(&taken).unwrap(), "earlier");
        assert!(taken.with_extension("010Z.1").exists());
        assert_ne!(again.session_id, reset.session_id);
        assert_eq!(store.reset("agent:ops:unseen", T0).unwrap().chat_type, "direct", "reset of a missing key creates");
    }

    #[test]
    fn append_then_load_round_trip() {
        let t = Temp::new("sessions-roundtrip");
        let store = Store::new(&t.0, "main");
        let sid = store.ensure("agent:main:main", T0).unwrap().session_id;
        let a = store.append_message(&sid, msg("hello")).unwrap();
        let reply = json!({ "role": "assistant", "content": [{ "type": "text", "text": "hi \"there\"\n" }] });
        let b = store.append_message(&sid, reply.clone()).unwrap();
        let custom = json!({ "type": "compaction", "firstKeptEntryId": a, "tokensBefore": 1234 });
        let c = store.append(&sid, &custom).unwrap();
        let branch = store.append(&sid, &json!({ "type": "message", "parentId": a, "message": msg("edit") })).unwrap();

        let loaded = store.load(&sid).unwrap();
        assert_eq!(loaded.header.as_ref().unwrap()["id"], sid.as_str());
        assert!(!loaded.dropped_tail && loaded.skipped == 0);
        let e = &loaded.entries;
        assert_eq!(e.len(), 4);
        assert_eq!((e[0]["id"].as_str(), &e[0]["parentId"]), (Some(a.as_str()), &Value::Null));
        assert_eq!(e[0]["message"], msg("hello"));
        assert_eq!(e[1]["parentId"], a.as_str());
        assert_eq!(e[1]["message"], reply);
        assert_eq!((e[2]["type"].as_str(), e[2]["parentId"].as_str()), (Some("compaction"), Some(b.as_str())));
        assert_eq!(e[2]["tokensBefore"], 1234);
        assert_eq!((e[3]["id"].as_str(), e[3]["parentId"].as_str()), (Some(branch.as_str()), Some(a.as_str())));
        assert_ne!(c, branch);
        assert!(e[0]["timestamp"].as_str().unwrap().ends_with('Z'));
        let text = fs::read_to_string(store.transcript_path(&sid).unwrap()).unwrap();
        assert!(text.lines().nth(1).unwrap().starts_with("{\"type\":\"message\",\"id\":"));

        // A missing transcript gets a header before its first entry.
        let lone = "lone-session";
        assert_eq!(store.load(lone).unwrap().entries.len(), 0);
        store.append_message(lone, msg("x")).unwrap();
        let loaded = store.load(lone).unwrap();
        assert_eq!((loaded.header.unwrap()["id"].as_str(), loaded.entries.len()), (Some(lone), 1));
    }

    #[test]
    fn bad_entries_and_oversized_lines_are_refused() {
        let t = Temp::new("sessions-badentry");
        let store = Store::new(&t.0, "main");
        let sid = store.ensure("agent:main:main", T0).unwrap().session_id;
        let path = store.transcript_path(&sid).unwrap();
        let before = fs::read(&path).unwrap();
        for bad in [json!("text"), json!({ "message": {} }), json!({ "type": "session" }), json!({ "type": 3 })] {
            assert!(matches!(store.append(&sid, &bad), Err(Error::BadEntry(_))), "{bad}");
        }
        let huge = msg(&"x".repeat(MAX_LINE_BYTES));
        assert!(matches!(store.append_message(&sid, huge), Err(Error::TooLarge(_))));
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_torn_tail_is_dropped_and_cut_and_the_next_append_is_clean() {
        let t = Temp::new("sessions-torn");
        let store = Store::new(&t.0, "main");
        let sid = store.ensure("agent:main:main", T0).unwrap().session_id;
        let path = store.transcript_path(&sid).unwrap();
        store.append_message(&sid, msg("one")).unwrap();
        let two = store.append_message(&sid, msg("two")).unwrap();
        let good_len = fs::metadata(&path).unwrap().len();

        fsutil::append_synced(&path, b"{\"type\":\"message\",\"id\":\"x\",\"mess").unwrap();
        let loaded = store.load(&sid).unwrap();
        assert!(loaded.dropped_tail);
        assert_eq!((loaded.entries.len(), loaded.skipped), (2, 0));
        assert!(loaded.header.is_some());
        assert_eq!(fs::metadata(&path).unwrap().len(), good_len, "cut back to the last good newline");

        let three = store.append_message(&sid, msg("three")).unwrap();
        let loaded = store.load(&sid).unwrap();
        assert!(!loaded.dropped_tail);
        assert_eq!(loaded.entries.len(), 3);
        assert_eq!(loaded.entries[2]["id"], three.as_str());
        assert_eq!(loaded.entries[2]["parentId"], two.as_str());
        assert_eq!(lines(&path).len(), 4, "every line is whole JSON");

        // An append straight after a crash repairs the tail itself (NUL fill, as after a power cut).
        fsutil::append_synced(&path, &[0u8; 300]).unwrap();
        let four = store.append_message(&sid, msg("four")).unwrap();
        let loaded = store.load(&sid).unwrap();
        assert!(!loaded.dropped_tail && loaded.skipped == 0);
        assert_eq!(loaded.entries.len(), 4);
        assert_eq!(loaded.entries[3]["id"], four.as_str());
        assert_eq!(loaded.entries[3]["parentId"], three.as_str());

        // A complete last line that is not JSON is a torn tail too.
        let len = fs::metadata(&path).unwrap().len();
        fsutil::append_synced(&path, b"{\"type\":\"mess\n").unwrap();
        let loaded = store.load(&sid).unwrap();
        assert!(loaded.dropped_tail);
        assert_eq!(loaded.entries.len(), 4);
        assert_eq!(fs::metadata(&path).unwrap().len(), len);

        // A header cut mid-write leaves an empty file, which the next append starts over.
        let other = "torn-header";
        let p2 = store.transcript_path(other).unwrap();
        fsutil::append_synced(&p2, b"{\"type\":\"session\",\"ver").unwrap();
        assert!(store.load(other).unwrap().dropped_tail);
        assert_eq!(fs::metadata(&p2).unwrap().len(), 0);
        store.append_message(other, msg("x")).unwrap();
        assert_eq!(lines(&p2)[0]["type"], "session");
    }

    #[test]
    fn garbage_mid_file_and_a_corrupt_header_never_wipe_history() {
        let t = Temp::new("sessions-garbage");
        let store = Store::new(&t.0, "main");
        let sid = store.ensure("agent:main:main", T0).unwrap().session_id;
        let path = store.transcript_path(&sid).unwrap();
        store.append_message(&sid, msg("one")).unwrap();
        fsutil::append_synced(&path, b"not json at all\n\n").unwrap();
        store.append_message(&sid, msg("two")).unwrap();
        let before = fs::read(&path).unwrap();
        let loaded = store.load(&sid).unwrap();
        assert_eq!((loaded.entries.len(), loaded.skipped, loaded.dropped_tail), (2, 1, false));
        assert_eq!(fs::read(&path).unwrap(), before, "a mid-file bad line is skipped, not cut");

        // Overwrite the header's first bytes: the messages after it survive.
        let mut bytes = before.clone();
        bytes[..10].copy_from_slice(b"#garbage#!");
        fsutil::write_atomic(&path, &bytes).unwrap();
        let loaded = store.load(&sid).unwrap();
        assert!(loaded.header.is_none());
        assert_eq!((loaded.entries.len(), loaded.skipped, loaded.dropped_tail), (2, 2, false));
        assert_eq!(loaded.entries[1]["message"], msg("two"));
    }

    #[test]
    fn unknown_fields_survive_a_rewrite_and_a_corrupt_store_is_left_alone() {
        let t = Temp::new("sessions-unknown");
        let store = Store::new(&t.0, "main");
        let upstream = json!({
            "agent:main:main": {
                "sessionId": "0f8fad5b-d9cb-469f-a165-70867728950e", "updatedAt": T0, "chatType": "direct",
                "thinkingLevel": "high", "modelOverride": "anthropic/claude", "compactionCount": 2,
                "origin": { "provider": "telegram", "from": "123" }, "contextTokens": 200000
            },
            "agent:main:telegram:group:-1": {
                "sessionId": "1f8fad5b-d9cb-469f-a165-70867728950e", "updatedAt": T0 - 1,
                "subject": "Team", "sendPolicy": "allow"
            }
        });
        fsutil::write_atomic(store.path(), upstream.to_string().as_bytes()).unwrap();
        let e = store.touch("agent:main:main", T0 + 1, Usage { input: 3, output: 4 }).unwrap();
        assert_eq!(e.extra["compactionCount"], 2);
        let after: Value = serde_json::from_slice(&fs::read(store.path()).unwrap()).unwrap();
        let main = &after["agent:main:main"];
        for k in ["thinkingLevel", "modelOverride", "compactionCount", "origin", "contextTokens", "chatType"] {
            assert_eq!(main[k], upstream["agent:main:main"][k], "{k}");
        }
        assert_eq!((main["totalTokens"].as_u64(), main["updatedAt"].as_u64()), (Some(7), Some(T0 + 1)));
        assert_eq!(after["agent:main:telegram:group:-1"], upstream["agent:main:telegram:group:-1"]);

        fsutil::write_atomic(store.path(), b"{ not json").unwrap();
        assert!(matches!(store.ensure("agent:main:x", T0), Err(Error::Corrupt { .. })));
        assert!(matches!(store.list(), Err(Error::Corrupt { .. })));
        assert_eq!(fs::read(store.path()).unwrap(), b"{ not json");
        fsutil::write_atomic(store.path(), b"[1,2]").unwrap();
        assert!(matches!(store.entry("agent:main:x"), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn files_are_0600_and_folders_0700() {
        let t = Temp::new("sessions-modes");
        let store = Store::new(&t.0, "main");
        let sid = store.ensure("agent:main:main", T0).unwrap().session_id;
        store.append_message(&sid, msg("x")).unwrap();
        let path = store.transcript_path(&sid).unwrap();
        for dir in ["agents", "agents/main", "agents/main/sessions"] {
            assert_eq!(mode(&t.0.join(dir)), 0o700, "{dir}");
        }
        for file in [store.path().to_path_buf(), path.clone(), store.path().with_file_name("sessions.json.lock")] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        assert_eq!(mode(&path.with_file_name(format!("{sid}.jsonl.lock"))), 0o600);
        store.reset("agent:main:main", T0 + 1).unwrap();
        let archived: Vec<PathBuf> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".reset."))
            .collect();
        assert_eq!(archived.len(), 1);
        assert_eq!(mode(&archived[0]), 0o600);
    }

    #[test]
    fn concurrent_appends_keep_every_line_whole_and_chained() {
        let t = Temp::new("sessions-concurrent");
        let store = Store::new(&t.0, "main");
        let sid = store.ensure("agent:main:main", T0).unwrap().session_id;
        let threads: Vec<_> = (0..4)
            .map(|n| {
                let (store, sid) = (store.clone(), sid.clone());
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let text = format!("thread {n} message {i} {}", "pad ".repeat(500));
                        store.append_message(&sid, msg(&text)).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|h| h.join().unwrap());
        let loaded = store.load(&sid).unwrap();
        assert!(loaded.header.is_some() && !loaded.dropped_tail && loaded.skipped == 0);
        assert_eq!(loaded.entries.len(), 200);
        let mut parent = Value::Null;
        for e in &loaded.entries {
            assert_eq!(e["parentId"], parent, "one chain: each entry's parent is the line before");
            parent = e["id"].clone();
        }
        let ids: std::collections::BTreeSet<_> = loaded.entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 200);
    }

    #[test]
    fn iso_round_trip() {
        for ms in [0, 1_700_000_000_123, 1_790_000_000_000] {
            assert_eq!(parse_iso(&iso(ms)), Some(ms), "{}", iso(ms));
        }
        assert_eq!(parse_iso("yesterday"), None);
    }

    #[test]
    fn iso_timestamps() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(T0), "2023-11-14T22:13:20.000Z");
        assert_eq!(iso(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }
}
