//! DM pairing state, in upstream's files under `<state>/credentials/`:
//!
//! - `<channel>-pairing.json`: pending requests
//!   `{"version":1,"requests":[{"id","code","createdAt","lastSeenAt","meta"}]}`
//!   (`id` is the sender's platform id; at most [`MAX_PENDING`] per channel,
//!   each valid for [`TTL_MS`]).
//! - `<channel>-allowFrom.json` (default account) or
//!   `<channel>-<accountId>-allowFrom.json`: approved senders
//!   `{"version":1,"allowFrom":["123"]}`, merged with the config's `allowFrom`.
//!
//! Every read-modify-write holds the file's advisory lock; writes are atomic
//! and 0600 in a 0700 folder. A corrupt file is never overwritten: the error
//! names it and the fix.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::fsutil;

/// Pending requests per channel, at most (upstream's default).
pub const MAX_PENDING: usize = 3;
/// How long a code stays valid: one hour.
pub const TTL_MS: u64 = 60 * 60 * 1000;
/// Upper case without the look-alikes 0, O, 1 and I: 32 symbols.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;

/// One pending request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: String,
    pub code: String,
    pub created_ms: u64,
    pub last_seen_ms: u64,
    pub meta: Value,
}

impl Request {
    /// The account the sender wrote to (`meta.accountId`, else `default`).
    pub fn account(&self) -> &str {
        self.meta.get("accountId").and_then(Value::as_str).filter(|a| !a.is_empty()).unwrap_or(super::DEFAULT_ACCOUNT)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "code": self.code,
            "createdAt": crate::agent::sessions::iso(self.created_ms),
            "lastSeenAt": crate::agent::sessions::iso(self.last_seen_ms),
            "meta": self.meta,
        })
    }
}

/// What [`Store::request`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Requested {
    /// A new request: send this code to the sender.
    New(String),
    /// The sender already has a live code (not re-sent, as upstream).
    Pending,
    /// [`MAX_PENDING`] other senders are waiting: ignored until one clears.
    Full,
}

/// The pairing files of one state folder.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store { dir: state_dir.join("credentials") }
    }

    fn pairing_path(&self, channel: &str) -> PathBuf {
        self.dir.join(format!("{channel}-pairing.json"))
    }

    /// `<channel>-allowFrom.json` for the default account, else
    /// `<channel>-<account>-allowFrom.json`.
    pub fn allow_path(&self, channel: &str, account: &str) -> PathBuf {
        if account.is_empty() || account == super::DEFAULT_ACCOUNT {
            self.dir.join(format!("{channel}-allowFrom.json"))
        } else {
            self.dir.join(format!("{channel}-{account}-allowFrom.json"))
        }
    }

    /// Senders approved for `account` through pairing.
    pub fn approved(&self, channel: &str, account: &str) -> Result<Vec<String>, String> {
        let path = self.allow_path(channel, account);
        let v = read_json(&path)?;
        Ok(v.get("allowFrom")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(id_of).collect())
            .unwrap_or_default())
    }

    /// Live requests of `channel`, oldest first (expired ones are dropped
    /// from the answer; the file is cleaned on the next write).
    pub fn list(&self, channel: &str, now_ms: u64) -> Result<Vec<Request>, String> {
        let v = read_json(&self.pairing_path(channel))?;
        Ok(requests(&v).into_iter().filter(|r| live(r, now_ms)).collect())
    }

    /// Records that `sender` wants access; see [`Requested`].
    pub fn request(&self, channel: &str, sender: &str, meta: Value, now_ms: u64) -> Result<Requested, String> {
        let path = self.pairing_path(channel);
        let _lock = self.lock(&path)?;
        let mut reqs: Vec<Request> = requests(&read_json(&path)?).into_iter().filter(|r| live(r, now_ms)).collect();
        if let Some(r) = reqs.iter_mut().find(|r| r.id == sender) {
            r.last_seen_ms = now_ms;
            self.write_requests(&path, &reqs)?;
            return Ok(Requested::Pending);
        }
        if reqs.len() >= MAX_PENDING {
            return Ok(Requested::Full);
        }
        let code = loop {
            let c = new_code()?;
            if !reqs.iter().any(|r| r.code == c) {
                break c;
            }
        };
        reqs.push(Request { id: sender.to_string(), code: code.clone(), created_ms: now_ms, last_seen_ms: now_ms, meta });
        self.write_requests(&path, &reqs)?;
        Ok(Requested::New(code))
    }

    /// Approves the live request with `code` (case-insensitive): its sender
    /// joins the account's allow file and the request is removed.
    pub fn approve(&self, channel: &str, code: &str, now_ms: u64) -> Result<Request, String> {
        let code = code.trim().to_ascii_uppercase();
        let path = self.pairing_path(channel);
        let _lock = self.lock(&path)?;
        let mut reqs: Vec<Request> = requests(&read_json(&path)?).into_iter().filter(|r| live(r, now_ms)).collect();
        let Some(pos) = reqs.iter().position(|r| r.code == code) else {
            return Err(format!(
                "No pending pairing request for {channel} with code {code}. Codes expire after one hour; list the live ones with `openclaw pairing list {channel}`."
            ));
        };
        let req = reqs.remove(pos);
        self.allow(channel, req.account(), &req.id)?;
        self.write_requests(&path, &reqs)?;
        Ok(req)
    }

    /// Adds `sender` to the account's allow file (kept once).
    pub fn allow(&self, channel: &str, account: &str, sender: &str) -> Result<(), String> {
        let path = self.allow_path(channel, account);
        let _lock = self.lock(&path)?;
        let mut v = read_json(&path)?;
        if !v.is_object() {
            v = json!({});
        }
        let mut list: Vec<String> = v.get("allowFrom").and_then(Value::as_array).map(|a| a.iter().filter_map(id_of).collect()).unwrap_or_default();
        if !list.iter().any(|s| s == sender) {
            list.push(sender.to_string());
        }
        v["version"] = json!(1);
        v["allowFrom"] = json!(list);
        self.write(&path, &v)
    }

    fn write_requests(&self, path: &Path, reqs: &[Request]) -> Result<(), String> {
        let v = json!({"version": 1, "requests": reqs.iter().map(Request::to_json).collect::<Vec<_>>()});
        self.write(path, &v)
    }

    fn write(&self, path: &Path, v: &Value) -> Result<(), String> {
        fsutil::ensure_private_dir(&self.dir).map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let mut text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
        text.push('\n');
        fsutil::write_atomic(path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn lock(&self, path: &Path) -> Result<fsutil::Lock, String> {
        fsutil::ensure_private_dir(&self.dir).map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        fsutil::Lock::exclusive(path).map_err(|e| format!("cannot lock {}: {e}", path.display()))
    }
}

/// The file's JSON; `{}` when it does not exist.
fn read_json(path: &Path) -> Result<Value, String> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(json!({})),
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            format!("{} is not valid JSON ({e}); fix or remove the file (it holds DM pairing state)", path.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn requests(v: &Value) -> Vec<Request> {
    let ms = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).and_then(crate::agent::sessions::parse_iso).unwrap_or(0);
    v.get("requests")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    Some(Request {
                        id: r.get("id").and_then(id_of)?,
                        code: r.get("code")?.as_str()?.to_string(),
                        created_ms: ms(r, "createdAt"),
                        last_seen_ms: ms(r, "lastSeenAt"),
                        meta: r.get("meta").cloned().unwrap_or_else(|| json!({})),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn live(r: &Request, now_ms: u64) -> bool {
    r.created_ms + TTL_MS > now_ms
}

fn new_code() -> Result<String, String> {
    let bytes = crate::crypto::random_bytes::<CODE_LEN>().map_err(|e| format!("cannot read random bytes: {e}"))?;
    Ok(bytes.iter().map(|b| ALPHABET[(b & 31) as usize] as char).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (crate::fsutil::TestDir, Store) {
        let t = crate::fsutil::TestDir::new("pairing");
        let s = Store::new(t.path());
        (t, s)
    }

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        for _ in 0..200 {
            let c = new_code().unwrap();
            assert_eq!(c.len(), 8);
            assert!(c.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit()), "{c}");
            assert!(!c.contains(['0', 'O', '1', 'I']), "{c}");
        }
    }

    #[test]
    fn request_pending_full_expiry_and_approve() {
        let (t, s) = store();
        let dir = t.path();
        let t = 1_790_000_000_000;
        let Requested::New(code) = s.request("telegram", "111", json!({"accountId": "default"}), t).unwrap() else {
            panic!("first request gets a code")
        };
        assert_eq!(s.request("telegram", "111", json!({}), t + 5).unwrap(), Requested::Pending);
        assert!(matches!(s.request("telegram", "222", json!({}), t).unwrap(), Requested::New(_)));
        assert!(matches!(s.request("telegram", "333", json!({}), t).unwrap(), Requested::New(_)));
        assert_eq!(s.request("telegram", "444", json!({}), t).unwrap(), Requested::Full);
        // Other channels have their own cap.
        assert!(matches!(s.request("discord", "444", json!({}), t).unwrap(), Requested::New(_)));
        assert_eq!(s.list("telegram", t).unwrap().len(), 3);
        // Approve (lower case works), then the sender is allowed and the slot frees.
        let req = s.approve("telegram", &code.to_lowercase(), t + 10).unwrap();
        assert_eq!(req.id, "111");
        assert_eq!(s.approved("telegram", "default").unwrap(), vec!["111".to_string()]);
        assert!(matches!(s.request("telegram", "444", json!({}), t).unwrap(), Requested::New(_)));
        // A wrong code names the fix.
        let e = s.approve("telegram", "ZZZZZZZZ", t).unwrap_err();
        assert!(e.contains("openclaw pairing list telegram"), "{e}");
        // After an hour every request is gone and codes no longer approve.
        let later = t + TTL_MS + 1;
        assert!(s.list("telegram", later).unwrap().is_empty());
        let live = s.list("telegram", t).unwrap();
        assert!(s.approve("telegram", &live[0].code, later).is_err());
        // Files are private and in upstream's shape.
        let f = dir.join("credentials/telegram-pairing.json");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.join("credentials")).unwrap().permissions().mode() & 0o777, 0o700);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        assert!(v["requests"][0]["createdAt"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn named_accounts_have_their_own_allow_file_and_corrupt_files_are_kept() {
        let (t, s) = store();
        let dir = t.path();
        let t = 1_790_000_000_000;
        let Requested::New(code) = s.request("discord", "9", json!({"accountId": "work"}), t).unwrap() else { panic!() };
        s.approve("discord", &code, t).unwrap();
        assert!(dir.join("credentials/discord-work-allowFrom.json").exists());
        assert!(s.approved("discord", "default").unwrap().is_empty());
        assert_eq!(s.approved("discord", "work").unwrap(), vec!["9".to_string()]);
        let f = dir.join("credentials/telegram-pairing.json");
        std::fs::write(&f, "{not json").unwrap();
        let e = s.request("telegram", "1", json!({}), t).unwrap_err();
        assert!(e.contains("telegram-pairing.json") && e.contains("fix or remove"), "{e}");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "{not json");
    }
}
