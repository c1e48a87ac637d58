//! The device pairing store: `<state>/devices/pending.json` (requests waiting
//! for an operator) and `<state>/devices/paired.json` (approved devices and
//! their device tokens).
//!
//! **Identity.** A device (browser or CLI) keeps a random 32-byte secret and
//! sends it as 64 lower-case hex characters; its device id is
//! `hex(sha256(secret))` ([`device_id_for_secret`], [`verify_identity`]).
//! This differs from upstream, which derives the id from a signing key pair.
//!
//! **Files.** The shape is upstream's (camelCase, maps keyed by request id
//! and device id), and fields we do not know are kept through a rewrite, so
//! a state folder moves between the two implementations. A missing file is
//! empty; a file that does not parse is an [`Error::Corrupt`] naming it and
//! is never overwritten.
//!
//! **Writes.** Every operation runs under one advisory lock
//! (`devices/pairing.lock`) around its read-modify-write, so the CLI and the
//! gateway never lose each other's changes; files are written with
//! [`write_atomic`] (0600) in a 0700 folder. Expired pending requests
//! ([`PENDING_TTL_MS`]) are dropped, and that is persisted, by every call that
//! reads them.
//!
//! **Secrets.** Token values never reach `Debug` output ([`DeviceToken`]
//! redacts them) nor an RPC listing ([`paired_summary`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::crypto::{constant_time_eq, from_hex, hex, random_hex_token, sha256, uuid_v4};
use crate::fsutil::{Lock, ensure_private_dir, write_atomic};

/// How long a pending request waits for approval.
pub const PENDING_TTL_MS: u64 = 5 * 60 * 1000;

/// `lastUsedAtMs` is written at most this often per token.
const LAST_USED_EVERY_MS: u64 = 60 * 1000;

/// The device id for a device secret given as 64 hex characters: the
/// lower-case hex SHA-256 of the 32 secret bytes. `None` if `secret_hex` is
/// not 64 hex characters.
pub fn device_id_for_secret(secret_hex: &str) -> Option<String> {
    if secret_hex.len() != 64 {
        return None;
    }
    from_hex(secret_hex).map(|bytes| hex(&sha256(&bytes)))
}

/// True if `secret_hex` is the secret of device `id` (constant-time compare
/// of the derived id).
pub fn verify_identity(id: &str, secret_hex: &str) -> bool {
    device_id_for_secret(secret_hex).is_some_and(|derived| constant_time_eq(derived.as_bytes(), id.as_bytes()))
}

/// What a connecting device says about itself, for a pairing request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device_id: String,
    pub display_name: Option<String>,
    pub platform: Option<String>,
    pub client_id: Option<String>,
    pub client_mode: Option<String>,
    pub role: String,
    pub scopes: Vec<String>,
    pub remote_ip: Option<String>,
}

/// A pairing request waiting for approval (`pending.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub request_id: String,
    pub device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_repair: Option<bool>,
    /// When the request was made (ms since the epoch).
    #[serde(default)]
    pub ts: u64,
    /// Fields we do not know, kept through a rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An approved device (`paired.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Paired {
    pub device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// Device tokens by role.
    #[serde(default)]
    pub tokens: BTreeMap<String, DeviceToken>,
    #[serde(default)]
    pub created_at_ms: u64,
    #[serde(default)]
    pub approved_at_ms: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A device token for one role. `Debug` hides the token value.
#[derive(Serialize, Deserialize, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeviceToken {
    pub token: String,
    pub role: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceToken")
            .field("token", &"<redacted>")
            .field("role", &self.role)
            .field("scopes", &self.scopes)
            .field("created_at_ms", &self.created_at_ms)
            .field("rotated_at_ms", &self.rotated_at_ms)
            .field("revoked_at_ms", &self.revoked_at_ms)
            .field("last_used_at_ms", &self.last_used_at_ms)
            .finish_non_exhaustive()
    }
}

/// A pairing store operation failed.
#[derive(Debug)]
pub enum Error {
    /// The named thing (a pending request, a paired device, a token) does not exist.
    NotFound(String),
    /// A store file does not parse; it was left untouched.
    Corrupt { path: PathBuf, message: String },
    Io(io::Error),
    /// The change would widen what a device may do.
    Forbidden(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound(what) => write!(f, "{what} not found"),
            Error::Corrupt { path, message } => write!(
                f,
                "device pairing file {} is not valid ({message}); it was left untouched: fix or remove it",
                path.display()
            ),
            Error::Io(e) => write!(f, "device pairing store: {e}"),
            Error::Forbidden(why) => write!(f, "forbidden: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The pairing store of one state folder.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Both files, loaded under the lock, with what changed.
struct State {
    pending: BTreeMap<String, Pending>,
    paired: BTreeMap<String, Paired>,
    pending_dirty: bool,
    paired_dirty: bool,
}

impl State {
    /// Drops pending requests older than [`PENDING_TTL_MS`].
    fn prune(&mut self, now_ms: u64) {
        let before = self.pending.len();
        self.pending.retain(|_, p| now_ms.saturating_sub(p.ts) <= PENDING_TTL_MS);
        self.pending_dirty |= self.pending.len() != before;
    }

    fn paired_mut(&mut self, device_id: &str) -> Result<&mut Paired, Error> {
        self.paired_dirty = true;
        self.paired.get_mut(device_id).ok_or_else(|| Error::NotFound(format!("paired device {device_id}")))
    }
}

impl Store {
    /// The store of the state folder `state_dir` (`<state>/devices/`).
    pub fn new(state_dir: &Path) -> Store {
        Store { dir: state_dir.join("devices") }
    }

    /// Pending requests (newest first, expired ones dropped) and paired
    /// devices (most recently approved first).
    pub fn list(&self, now_ms: u64) -> Result<(Vec<Pending>, Vec<Paired>), Error> {
        self.with_state(|s| {
            s.prune(now_ms);
            let mut pending: Vec<Pending> = s.pending.values().cloned().collect();
            pending.sort_by_key(|p| std::cmp::Reverse(p.ts));
            let mut paired: Vec<Paired> = s.paired.values().cloned().collect();
            paired.sort_by_key(|p| std::cmp::Reverse(p.approved_at_ms));
            Ok((pending, paired))
        })
    }

    /// The paired device `device_id`, if any.
    pub fn paired(&self, device_id: &str) -> Result<Option<Paired>, Error> {
        self.with_state(|s| Ok(s.paired.get(device_id).cloned()))
    }

    /// A new pending request (uuid). A request for the same deviceId
    /// supersedes (removes) any older one; expired ones are dropped. Returns
    /// the new Pending and the superseded ones.
    pub fn request(&self, info: &DeviceInfo, silent: bool, now_ms: u64) -> Result<(Pending, Vec<Pending>), Error> {
        let request_id = uuid_v4()?;
        self.with_state(|s| {
            s.prune(now_ms);
            let old: Vec<String> =
                s.pending.iter().filter(|(_, p)| p.device_id == info.device_id).map(|(k, _)| k.clone()).collect();
            let superseded = old.iter().filter_map(|k| s.pending.remove(k)).collect();
            let pending = Pending {
                request_id: request_id.clone(),
                device_id: info.device_id.clone(),
                public_key: None,
                display_name: info.display_name.clone(),
                platform: info.platform.clone(),
                client_id: info.client_id.clone(),
                client_mode: info.client_mode.clone(),
                role: Some(info.role.clone()),
                roles: Some(vec![info.role.clone()]),
                scopes: Some(dedup(info.scopes.iter())),
                remote_ip: info.remote_ip.clone(),
                silent: Some(silent),
                is_repair: s.paired.contains_key(&info.device_id).then_some(true),
                ts: now_ms,
                extra: Map::new(),
            };
            s.pending.insert(request_id, pending.clone());
            s.pending_dirty = true;
            Ok((pending, superseded))
        })
    }

    /// Approve: moves it to paired (merging with an existing paired entry:
    /// scopes union, role added), issues a fresh device token (32 random
    /// bytes hex) for the requested role with the requested scopes; returns
    /// the Paired entry and the new token string.
    pub fn approve(&self, request_id: &str, now_ms: u64) -> Result<(Paired, String), Error> {
        let token = random_hex_token(32)?;
        self.with_state(|s| {
            s.prune(now_ms);
            let req = s.pending.remove(request_id).ok_or_else(|| not_pending(request_id))?;
            s.pending_dirty = true;
            let scopes = req.scopes.clone().unwrap_or_default();
            // A request without a role (an upstream file) asks for upstream's default role.
            let role = req.role.clone().or_else(|| req.roles.as_ref().and_then(|r| r.first().cloned()));
            let role = role.unwrap_or_else(|| "operator".to_string());
            let old = s.paired.remove(&req.device_id);
            let mut p = old.unwrap_or_else(|| Paired {
                device_id: req.device_id.clone(),
                public_key: None,
                display_name: None,
                platform: None,
                client_id: None,
                client_mode: None,
                role: None,
                roles: None,
                scopes: None,
                approved_scopes: None,
                remote_ip: None,
                tokens: BTreeMap::new(),
                created_at_ms: now_ms,
                approved_at_ms: now_ms,
                extra: Map::new(),
            });
            let newer = |new: &Option<String>, old: &mut Option<String>| {
                if new.is_some() {
                    old.clone_from(new);
                }
            };
            newer(&req.public_key, &mut p.public_key);
            newer(&req.display_name, &mut p.display_name);
            newer(&req.platform, &mut p.platform);
            newer(&req.client_id, &mut p.client_id);
            newer(&req.client_mode, &mut p.client_mode);
            newer(&req.remote_ip, &mut p.remote_ip);
            let mut roles = p.roles.take().unwrap_or_default();
            roles.extend(p.role.iter().chain(req.roles.iter().flatten()).cloned());
            roles.push(role.clone());
            p.roles = Some(dedup(roles.iter()));
            p.role = Some(role.clone());
            p.scopes = Some(dedup(p.scopes.iter().flatten().chain(&scopes)));
            p.approved_scopes = Some(dedup(approved_scopes(&p).iter().chain(&scopes)));
            p.approved_at_ms = now_ms;
            p.tokens.insert(role.clone(), new_token(token.clone(), role, scopes, now_ms));
            s.paired.insert(p.device_id.clone(), p.clone());
            s.paired_dirty = true;
            Ok((p, token))
        })
    }

    /// The newest pending request, if any.
    pub fn latest_pending(&self, now_ms: u64) -> Result<Option<Pending>, Error> {
        self.with_state(|s| {
            s.prune(now_ms);
            Ok(s.pending.values().max_by_key(|p| p.ts).cloned())
        })
    }

    /// Removes a pending request without pairing.
    pub fn reject(&self, request_id: &str, now_ms: u64) -> Result<Pending, Error> {
        self.with_state(|s| {
            s.prune(now_ms);
            let p = s.pending.remove(request_id).ok_or_else(|| not_pending(request_id))?;
            s.pending_dirty = true;
            Ok(p)
        })
    }

    /// Unpairs a device (its tokens go with it) and drops its pending requests.
    pub fn remove(&self, device_id: &str) -> Result<Paired, Error> {
        self.with_state(|s| {
            let p = s.paired.remove(device_id).ok_or_else(|| Error::NotFound(format!("paired device {device_id}")))?;
            s.paired_dirty = true;
            let before = s.pending.len();
            s.pending.retain(|_, r| r.device_id != device_id);
            s.pending_dirty |= s.pending.len() != before;
            Ok(p)
        })
    }

    /// Rotate: new token for (device, role). `scopes` None = keep the
    /// token's scopes (the device's approved scopes for a role it has no
    /// token for yet); Some = must be a subset of the device's
    /// approvedScopes, else Error::Forbidden (a caller can't widen a device).
    /// The role must be one the device was approved for. Returns the new
    /// token and its scopes.
    pub fn rotate(
        &self,
        device_id: &str,
        role: &str,
        scopes: Option<Vec<String>>,
        now_ms: u64,
    ) -> Result<(String, Vec<String>), Error> {
        let token = random_hex_token(32)?;
        self.with_state(|s| {
            let p = s.paired_mut(device_id)?;
            if !Store::is_approved(p, role, &[]) {
                return Err(Error::Forbidden(format!("device {device_id} is not approved for role {role}")));
            }
            let approved = approved_scopes(p);
            let scopes = match scopes {
                Some(wanted) => {
                    if let Some(extra) = wanted.iter().find(|w| !approved.contains(w)) {
                        return Err(Error::Forbidden(format!(
                            "scope {extra} was not approved for device {device_id}"
                        )));
                    }
                    dedup(wanted.iter())
                }
                None => p.tokens.get(role).map_or(approved, |t| t.scopes.clone()),
            };
            let created = p.tokens.get(role).map_or(now_ms, |t| t.created_at_ms);
            let mut t = new_token(token.clone(), role.to_string(), scopes.clone(), created);
            t.rotated_at_ms = Some(now_ms);
            p.tokens.insert(role.to_string(), t);
            Ok((token, scopes))
        })
    }

    /// Revokes the device token for (device, role): it no longer verifies.
    pub fn revoke(&self, device_id: &str, role: &str, now_ms: u64) -> Result<(), Error> {
        self.with_state(|s| {
            let t = s
                .paired_mut(device_id)?
                .tokens
                .get_mut(role)
                .ok_or_else(|| Error::NotFound(format!("{role} token of device {device_id}")))?;
            t.revoked_at_ms.get_or_insert(now_ms);
            Ok(())
        })
    }

    /// Check a presented device token for (device, role) in constant time;
    /// Ok(Some(scopes)) when it matches and is not revoked; records
    /// lastUsedAtMs at most once a minute.
    pub fn verify_token(&self, device_id: &str, role: &str, token: &str, now_ms: u64) -> Result<Option<Vec<String>>, Error> {
        self.with_state(|s| {
            let Some(t) = s.paired.get_mut(device_id).and_then(|p| p.tokens.get_mut(role)) else {
                return Ok(None);
            };
            if !constant_time_eq(t.token.as_bytes(), token.as_bytes()) || t.revoked_at_ms.is_some() {
                return Ok(None);
            }
            if t.last_used_at_ms.is_none_or(|last| now_ms.saturating_sub(last) >= LAST_USED_EVERY_MS) {
                t.last_used_at_ms = Some(now_ms);
                s.paired_dirty = true;
            }
            Ok(Some(t.scopes.clone()))
        })
    }

    /// For an already-paired device asking for `role`/`scopes`: true if
    /// approved (role present among role/roles/tokens and scopes a subset of
    /// approvedScopes, or of scopes for an entry written without them).
    pub fn is_approved(p: &Paired, role: &str, scopes: &[String]) -> bool {
        let has_role = p.role.as_deref() == Some(role)
            || p.roles.iter().flatten().any(|r| r == role)
            || p.tokens.contains_key(role);
        let approved = approved_scopes(p);
        has_role && scopes.iter().all(|s| approved.contains(s))
    }

    /// Runs `f` on both files under the lock; writes the changed ones if it
    /// succeeds.
    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> Result<T, Error>) -> Result<T, Error> {
        ensure_private_dir(&self.dir).map_err(|e| io_at(&self.dir, e))?;
        let lock_target = self.dir.join("pairing");
        let _lock = Lock::exclusive(&lock_target).map_err(|e| io_at(&lock_target, e))?;
        let (pending_path, paired_path) = (self.dir.join("pending.json"), self.dir.join("paired.json"));
        let mut state = State {
            pending: load(&pending_path)?,
            paired: load(&paired_path)?,
            pending_dirty: false,
            paired_dirty: false,
        };
        let out = f(&mut state)?;
        if state.pending_dirty {
            save(&pending_path, &state.pending)?;
        }
        if state.paired_dirty {
            save(&paired_path, &state.paired)?;
        }
        Ok(out)
    }
}

/// A paired device for an RPC listing: every field except token values;
/// tokens are a list of `{role, scopes, createdAtMs, rotatedAtMs,
/// revokedAtMs, lastUsedAtMs}`. Unknown fields are left out too.
pub fn paired_summary(p: &Paired) -> Value {
    let bare = Paired { tokens: BTreeMap::new(), extra: Map::new(), ..p.clone() };
    let mut v = serde_json::to_value(bare).unwrap_or_default();
    let tokens: Vec<Value> = p
        .tokens
        .values()
        .map(|t| {
            serde_json::json!({
                "role": t.role,
                "scopes": t.scopes,
                "createdAtMs": t.created_at_ms,
                "rotatedAtMs": t.rotated_at_ms,
                "revokedAtMs": t.revoked_at_ms,
                "lastUsedAtMs": t.last_used_at_ms,
            })
        })
        .collect();
    if let Value::Object(m) = &mut v {
        m.insert("tokens".into(), Value::Array(tokens));
    }
    v
}

/// The scopes a device was approved for (`approvedScopes`, else `scopes`
/// for entries written before approvedScopes existed).
fn approved_scopes(p: &Paired) -> Vec<String> {
    p.approved_scopes.clone().or_else(|| p.scopes.clone()).unwrap_or_default()
}

fn new_token(token: String, role: String, scopes: Vec<String>, created_at_ms: u64) -> DeviceToken {
    DeviceToken {
        token,
        role,
        scopes,
        created_at_ms,
        rotated_at_ms: None,
        revoked_at_ms: None,
        last_used_at_ms: None,
        extra: Map::new(),
    }
}

/// The distinct items, in first-seen order.
fn dedup<'a>(items: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

fn not_pending(request_id: &str) -> Error {
    Error::NotFound(format!("pending pairing request {request_id} (unknown or expired)"))
}

fn io_at(path: &Path, e: io::Error) -> Error {
    Error::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// Reads one store file; missing is empty. The caller holds the lock.
fn load<T: DeserializeOwned>(path: &Path) -> Result<BTreeMap<String, T>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_at(path, e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt { path: path.to_path_buf(), message: e.to_string() })
}

fn save<T: Serialize>(path: &Path, map: &BTreeMap<String, T>) -> Result<(), Error> {
    let mut text = serde_json::to_string_pretty(map).map_err(|e| io_at(path, io::Error::other(e)))?;
    text.push('\n');
    write_atomic(path, text.as_bytes()).map_err(|e| io_at(path, e))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    use crate::fsutil::TestDir as Temp;

    const T0: u64 = 1_700_000_000_000;

    fn info(id: &str, role: &str, scopes: &[&str]) -> DeviceInfo {
        DeviceInfo {
            device_id: id.into(),
            display_name: Some("laptop".into()),
            platform: Some("linux".into()),
            role: role.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            remote_ip: Some("127.0.0.1".into()),
            ..DeviceInfo::default()
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A store with device `d1` paired for `operator` with `read`,`write`; returns its token.
    fn paired_store(t: &Temp) -> (Store, String) {
        let s = Store::new(&t.0);
        let (p, _) = s.request(&info("d1", "operator", &["read", "write"]), false, T0).unwrap();
        let (_, token) = s.approve(&p.request_id, T0 + 1).unwrap();
        (s, token)
    }

    #[test]
    fn identity_is_the_hash_of_the_secret() {
        let secret = "00".repeat(32);
        let id = device_id_for_secret(&secret).unwrap();
        assert_eq!(id, hex(&sha256(&[0u8; 32])));
        assert_eq!(id.len(), 64);
        assert!(verify_identity(&id, &secret));
        assert!(!verify_identity(&id, &"01".repeat(32)));
        assert_eq!(device_id_for_secret("abc"), None);
        assert_eq!(device_id_for_secret(&"zz".repeat(32)), None);
        assert_eq!(device_id_for_secret(&"00".repeat(33)), None);
        assert!(!verify_identity(&id, "nothex"));
    }

    #[test]
    fn request_supersedes_older_request_of_the_same_device() {
        let t = Temp::new("devices-request");
        let s = Store::new(&t.0);
        let (a, sup) = s.request(&info("d1", "operator", &["read"]), false, T0).unwrap();
        assert!(sup.is_empty());
        assert_eq!(a.ts, T0);
        assert_eq!(a.request_id.len(), 36);
        let (b, _) = s.request(&info("d2", "operator", &[]), true, T0 + 1).unwrap();
        let (c, sup) = s.request(&info("d1", "node", &["x"]), false, T0 + 2).unwrap();
        assert_eq!(sup, vec![a.clone()]);
        let (pending, paired) = s.list(T0 + 3).unwrap();
        assert_eq!(pending.iter().map(|p| &p.request_id).collect::<Vec<_>>(), vec![&c.request_id, &b.request_id]);
        assert!(paired.is_empty());
        assert_eq!(s.latest_pending(T0 + 3).unwrap(), Some(c));
        assert_eq!(b.silent, Some(true));
        assert!(matches!(s.approve(&a.request_id, T0 + 3), Err(Error::NotFound(_))));
    }

    #[test]
    fn expired_requests_are_dropped_and_persisted() {
        let t = Temp::new("devices-ttl");
        let s = Store::new(&t.0);
        let (a, _) = s.request(&info("d1", "operator", &[]), false, T0).unwrap();
        let (b, _) = s.request(&info("d2", "operator", &[]), false, T0 + 1000).unwrap();
        let (pending, _) = s.list(T0 + PENDING_TTL_MS).unwrap();
        assert_eq!(pending.len(), 2, "exactly the TTL is still valid");
        let (pending, _) = s.list(T0 + PENDING_TTL_MS + 1).unwrap();
        assert_eq!(pending, vec![b.clone()]);
        let on_disk: Map<String, Value> =
            serde_json::from_slice(&fs::read(t.0.join("devices/pending.json")).unwrap()).unwrap();
        assert!(!on_disk.contains_key(&a.request_id) && on_disk.contains_key(&b.request_id));
        assert!(matches!(s.approve(&b.request_id, T0 + 2000 + PENDING_TTL_MS), Err(Error::NotFound(_))));
        assert_eq!(s.latest_pending(T0 + 2000 + PENDING_TTL_MS).unwrap(), None);
    }

    #[test]
    fn approve_pairs_and_issues_a_token_that_verifies() {
        let t = Temp::new("devices-approve");
        let (s, token) = paired_store(&t);
        assert_eq!(token.len(), 64);
        let p = s.paired("d1").unwrap().unwrap();
        assert_eq!(p.role.as_deref(), Some("operator"));
        assert_eq!(p.approved_scopes, Some(strings(&["read", "write"])));
        assert_eq!((p.created_at_ms, p.approved_at_ms), (T0 + 1, T0 + 1));
        assert_eq!(p.display_name.as_deref(), Some("laptop"));
        assert_eq!(s.verify_token("d1", "operator", &token, T0 + 2).unwrap(), Some(strings(&["read", "write"])));
        assert_eq!(s.verify_token("d1", "operator", &"0".repeat(64), T0 + 2).unwrap(), None);
        assert_eq!(s.verify_token("d1", "node", &token, T0 + 2).unwrap(), None);
        assert_eq!(s.verify_token("d2", "operator", &token, T0 + 2).unwrap(), None);
        assert!(s.list(T0 + 2).unwrap().0.is_empty(), "the request is gone");
        assert!(Store::is_approved(&p, "operator", &strings(&["read"])));
        assert!(!Store::is_approved(&p, "operator", &strings(&["admin"])));
        assert!(!Store::is_approved(&p, "node", &[]));

        // A second approval merges: role added, scopes united, a new token for the new role.
        let (r, _) = s.request(&info("d1", "node", &["exec"]), false, T0 + 10).unwrap();
        assert_eq!(r.is_repair, Some(true));
        let (p2, node_token) = s.approve(&r.request_id, T0 + 11).unwrap();
        assert_eq!(p2.roles, Some(strings(&["operator", "node"])));
        assert_eq!(p2.approved_scopes, Some(strings(&["read", "write", "exec"])));
        assert_eq!(p2.created_at_ms, T0 + 1);
        assert_eq!(p2.approved_at_ms, T0 + 11);
        assert_eq!(s.verify_token("d1", "node", &node_token, T0 + 12).unwrap(), Some(strings(&["exec"])));
        assert!(s.verify_token("d1", "operator", &token, T0 + 12).unwrap().is_some(), "other roles keep their token");
    }

    #[test]
    fn last_used_is_recorded_at_most_once_a_minute() {
        let t = Temp::new("devices-lastused");
        let (s, token) = paired_store(&t);
        let used = |now| {
            s.verify_token("d1", "operator", &token, now).unwrap().unwrap();
            s.paired("d1").unwrap().unwrap().tokens["operator"].last_used_at_ms
        };
        assert_eq!(used(T0 + 10), Some(T0 + 10));
        assert_eq!(used(T0 + 20_000), Some(T0 + 10));
        assert_eq!(used(T0 + 70_010), Some(T0 + 70_010));
    }

    #[test]
    fn reject_and_remove() {
        let t = Temp::new("devices-reject");
        let (s, token) = paired_store(&t);
        let (r, _) = s.request(&info("d2", "operator", &[]), false, T0 + 5).unwrap();
        assert_eq!(s.reject(&r.request_id, T0 + 6).unwrap().device_id, "d2");
        assert!(matches!(s.reject(&r.request_id, T0 + 6), Err(Error::NotFound(_))));
        assert_eq!(s.paired("d2").unwrap(), None);

        let (r, _) = s.request(&info("d1", "node", &[]), false, T0 + 7).unwrap();
        assert_eq!(s.remove("d1").unwrap().device_id, "d1");
        assert_eq!(s.paired("d1").unwrap(), None);
        assert_eq!(s.verify_token("d1", "operator", &token, T0 + 8).unwrap(), None);
        assert!(matches!(s.approve(&r.request_id, T0 + 8), Err(Error::NotFound(_))), "its pending request went too");
        let e = s.remove("d1").unwrap_err();
        assert!(matches!(e, Error::NotFound(_)));
        assert_eq!(e.to_string(), "paired device d1 not found");
    }

    #[test]
    fn rotate_replaces_the_token_and_never_widens() {
        let t = Temp::new("devices-rotate");
        let (s, old) = paired_store(&t);
        let (new, scopes) = s.rotate("d1", "operator", None, T0 + 10).unwrap();
        assert_eq!(scopes, strings(&["read", "write"]));
        assert_ne!(new, old);
        assert_eq!(s.verify_token("d1", "operator", &old, T0 + 11).unwrap(), None);
        assert_eq!(s.verify_token("d1", "operator", &new, T0 + 11).unwrap(), Some(scopes));
        let tok = &s.paired("d1").unwrap().unwrap().tokens["operator"];
        assert_eq!((tok.created_at_ms, tok.rotated_at_ms), (T0 + 1, Some(T0 + 10)));

        let (narrow, scopes) = s.rotate("d1", "operator", Some(strings(&["read"])), T0 + 12).unwrap();
        assert_eq!(scopes, strings(&["read"]));
        assert_eq!(s.verify_token("d1", "operator", &narrow, T0 + 13).unwrap(), Some(strings(&["read"])));
        // Narrowed once, it may widen back up to what was approved, not beyond.
        assert!(s.rotate("d1", "operator", Some(strings(&["read", "write"])), T0 + 14).is_ok());
        let e = s.rotate("d1", "operator", Some(strings(&["read", "admin"])), T0 + 15).unwrap_err();
        assert!(matches!(e, Error::Forbidden(_)), "{e}");
        assert!(matches!(s.rotate("d1", "node", None, T0 + 15), Err(Error::Forbidden(_))));
        assert!(matches!(s.rotate("nope", "operator", None, T0 + 15), Err(Error::NotFound(_))));
    }

    #[test]
    fn revoke_stops_the_token() {
        let t = Temp::new("devices-revoke");
        let (s, token) = paired_store(&t);
        s.revoke("d1", "operator", T0 + 5).unwrap();
        s.revoke("d1", "operator", T0 + 6).unwrap();
        assert_eq!(s.paired("d1").unwrap().unwrap().tokens["operator"].revoked_at_ms, Some(T0 + 5));
        assert_eq!(s.verify_token("d1", "operator", &token, T0 + 7).unwrap(), None);
        assert!(matches!(s.revoke("d1", "node", T0), Err(Error::NotFound(_))));
        // Rotation issues a working token again.
        let (new, _) = s.rotate("d1", "operator", None, T0 + 8).unwrap();
        assert!(s.verify_token("d1", "operator", &new, T0 + 9).unwrap().is_some());
    }

    #[test]
    fn files_and_folder_are_private() {
        let t = Temp::new("devices-modes");
        let (s, _) = paired_store(&t);
        s.request(&info("d2", "operator", &[]), false, T0 + 5).unwrap();
        let mode = |p: &str| fs::metadata(t.0.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("devices"), 0o700);
        assert_eq!(mode("devices/pending.json"), 0o600);
        assert_eq!(mode("devices/paired.json"), 0o600);
    }

    #[test]
    fn unknown_fields_survive_a_rewrite() {
        let t = Temp::new("devices-unknown");
        let dir = t.0.join("devices");
        fs::create_dir_all(&dir).unwrap();
        let paired = serde_json::json!({
            "d1": {
                "deviceId": "d1", "publicKey": "pk", "role": "operator", "roles": ["operator"],
                "scopes": ["read"], "futureField": {"x": 1}, "createdAtMs": 1, "approvedAtMs": 2,
                "tokens": {"operator": {"token": "t1", "role": "operator", "scopes": ["read"], "createdAtMs": 1, "hint": "h"}}
            }
        });
        fs::write(dir.join("paired.json"), paired.to_string()).unwrap();
        let s = Store::new(&t.0);
        // Upstream's entry has no approvedScopes: its scopes count as approved.
        assert!(Store::is_approved(&s.paired("d1").unwrap().unwrap(), "operator", &strings(&["read"])));
        assert!(s.verify_token("d1", "operator", "t1", T0).unwrap().is_some());
        let v: Value = serde_json::from_slice(&fs::read(dir.join("paired.json")).unwrap()).unwrap();
        assert_eq!(v["d1"]["futureField"], serde_json::json!({"x": 1}));
        assert_eq!(v["d1"]["publicKey"], "pk");
        assert_eq!(v["d1"]["tokens"]["operator"]["hint"], "h");
        assert_eq!(v["d1"]["tokens"]["operator"]["lastUsedAtMs"], T0);
    }

    #[test]
    fn upstream_request_without_a_role_is_approved_as_operator() {
        let t = Temp::new("devices-norole");
        let dir = t.0.join("devices");
        fs::create_dir_all(&dir).unwrap();
        let pending = serde_json::json!({"r1": {"requestId": "r1", "deviceId": "d9", "publicKey": "pk", "ts": T0}});
        fs::write(dir.join("pending.json"), pending.to_string()).unwrap();
        let s = Store::new(&t.0);
        let (p, token) = s.approve("r1", T0 + 1).unwrap();
        assert_eq!((p.role.as_deref(), p.public_key.as_deref()), (Some("operator"), Some("pk")));
        assert_eq!(s.verify_token("d9", "operator", &token, T0 + 2).unwrap(), Some(vec![]));
    }

    #[test]
    fn corrupt_file_is_an_error_and_left_untouched() {
        let t = Temp::new("devices-corrupt");
        let dir = t.0.join("devices");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("pending.json"), b"{ not json").unwrap();
        let s = Store::new(&t.0);
        let e = s.request(&info("d1", "operator", &[]), false, T0).unwrap_err();
        match &e {
            Error::Corrupt { path, .. } => assert_eq!(path, &dir.join("pending.json")),
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("pending.json"), "{e}");
        assert!(s.list(T0).is_err());
        assert_eq!(fs::read(dir.join("pending.json")).unwrap(), b"{ not json");
        assert!(!dir.join("paired.json").exists());
    }

    #[test]
    fn summaries_and_debug_hide_token_values() {
        let t = Temp::new("devices-summary");
        let (s, token) = paired_store(&t);
        let p = s.paired("d1").unwrap().unwrap();
        let v = paired_summary(&p);
        assert!(!v.to_string().contains(&token));
        assert_eq!(v["deviceId"], "d1");
        assert_eq!(v["tokens"][0]["role"], "operator");
        assert_eq!(v["tokens"][0]["scopes"], serde_json::json!(["read", "write"]));
        assert_eq!(v["tokens"][0]["createdAtMs"], T0 + 1);
        assert!(v["tokens"][0].get("token").is_none());
        assert!(!format!("{p:?}").contains(&token));
    }
}
