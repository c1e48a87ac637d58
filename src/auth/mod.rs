//! Auth profiles: the credentials an agent uses for model providers, kept in
//! `<agentDir>/auth-profiles.json` (by default
//! `~/.openclaw/agents/<agentId>/agent/auth-profiles.json`) in upstream's format:
//!
//! ```json
//! {"version": 1, "profiles": {
//!   "openai:default": {"type": "api_key", "provider": "openai", "key": "sk-…"},
//!   "anthropic:default": {"type": "api_key", "provider": "anthropic", "keyRef": {"source": "env", "provider": "default", "id": "ANTHROPIC_API_KEY"}},
//!   "openai-codex:default": {"type": "oauth", "provider": "openai-codex", "access": "…", "refresh": "…", "expires": 1767225600000, "accountId": "…"}
//! }}
//! ```
//!
//! Model resolution asks [`resolve`] first (upstream's order: profiles, then
//! `<PROVIDER>_API_KEY`, then `models.providers.<id>.apiKey`). Profiles of a
//! provider are tried in `auth.order.<provider>` order, else `<provider>:default`
//! first and the rest by id. An OpenAI Codex token that expires within
//! [`REFRESH_MARGIN_MS`] is refreshed under the file's lock (so two processes
//! never spend the same refresh token) and written back. Every write is
//! atomic with mode 0600; fields and profiles this build does not know are
//! kept as they are.

pub mod codex;

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::config::Config;
use crate::config::model::{Redacted, Secret, SecretSource};
use crate::fsutil;
use crate::paths::Env;

pub const FILE_NAME: &str = "auth-profiles.json";
/// An OAuth access token is refreshed when it expires within this long.
pub const REFRESH_MARGIN_MS: u64 = 5 * 60 * 1000;
/// A store larger than this is refused rather than read.
const MAX_FILE: u64 = 4 << 20;

/// The store of `agent_id`.
pub fn file_for(config: &Config, agent_id: &str) -> PathBuf {
    config.agent_dir(agent_id).join(FILE_NAME)
}

#[derive(Debug)]
pub enum Error {
    Io { path: PathBuf, err: std::io::Error },
    Corrupt { path: PathBuf, message: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, err } => write!(f, "cannot read or write {}: {err}", path.display()),
            Error::Corrupt { path, message } => write!(
                f,
                "{} is not a valid auth profile store ({message}); fix or remove it and sign in again with `openclaw onboard`",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {}

/// The store as JSON; a missing file is an empty version-1 store.
pub fn read(path: &Path) -> Result<Value, Error> {
    let io = |err| Error::Io { path: path.to_path_buf(), err };
    let text = match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE => {
            return Err(Error::Corrupt { path: path.to_path_buf(), message: format!("larger than {} MiB", MAX_FILE >> 20) });
        }
        Ok(_) => std::fs::read_to_string(path).map_err(io)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(json!({"version": 1, "profiles": {}})),
        Err(e) => return Err(io(e)),
    };
    let mut v: Value =
        serde_json::from_str(&text).map_err(|e| Error::Corrupt { path: path.to_path_buf(), message: e.to_string() })?;
    if !v.is_object() {
        return Err(Error::Corrupt { path: path.to_path_buf(), message: "not a JSON object".into() });
    }
    match v.get("profiles") {
        None | Some(Value::Null) => v["profiles"] = json!({}),
        Some(Value::Object(_)) => {}
        Some(_) => return Err(Error::Corrupt { path: path.to_path_buf(), message: "\"profiles\" is not an object".into() }),
    }
    Ok(v)
}

fn write(path: &Path, root: &Value) -> Result<(), Error> {
    let mut text = serde_json::to_string_pretty(root).unwrap_or_default();
    text.push('\n');
    fsutil::write_atomic(path, text.as_bytes()).map_err(|err| Error::Io { path: path.to_path_buf(), err })
}

/// Sets profile `id` (other profiles and unknown fields are kept), under the
/// store's lock.
pub fn put(path: &Path, id: &str, profile: Value) -> Result<(), Error> {
    let _lock = fsutil::Lock::exclusive(path).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
    let mut root = read(path)?;
    if root.get("version").is_none() {
        root["version"] = json!(1);
    }
    root["profiles"][id] = profile;
    write(path, &root)
}

/// A stored credential.
#[derive(Clone, PartialEq)]
pub enum Credential {
    ApiKey(Secret),
    Token { token: Redacted, expires: Option<u64> },
    OAuth { access: Redacted, refresh: Redacted, expires: u64, account_id: Option<String> },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ApiKey(s) => write!(f, "ApiKey({s:?})"),
            Credential::Token { expires, .. } => write!(f, "Token {{ expires: {expires:?} }}"),
            Credential::OAuth { expires, account_id, .. } => write!(f, "OAuth {{ expires: {expires}, account_id: {account_id:?} }}"),
        }
    }
}

/// One profile of the store: its provider and credential.
pub fn parse(profile: &Value) -> Result<(String, Credential), String> {
    let provider = profile["provider"].as_str().filter(|p| !p.is_empty()).ok_or("it has no \"provider\"")?.to_string();
    let text = |k: &str| profile[k].as_str().filter(|s| !s.is_empty()).map(|s| Redacted(s.to_string()));
    let cred = match profile["type"].as_str().unwrap_or("api_key") {
        "api_key" => match (text("key"), &profile["keyRef"]) {
            (Some(k), _) => Credential::ApiKey(Secret::Inline(k)),
            (None, r @ Value::Object(_)) => {
                let source = match r["source"].as_str() {
                    Some("env") => SecretSource::Env,
                    Some("file") => SecretSource::File,
                    Some("exec") => SecretSource::Exec,
                    _ => return Err("its keyRef needs \"source\": \"env\" or \"file\"".into()),
                };
                let id = r["id"].as_str().filter(|s| !s.is_empty()).ok_or("its keyRef has no \"id\"")?;
                let provider = r["provider"].as_str().unwrap_or("default").to_string();
                Credential::ApiKey(Secret::Ref { source, provider, id: id.to_string() })
            }
            _ => return Err("it has neither \"key\" nor \"keyRef\"".into()),
        },
        "token" => Credential::Token { token: text("token").ok_or("it has no \"token\"")?, expires: profile["expires"].as_u64() },
        "oauth" => Credential::OAuth {
            access: text("access").ok_or("it has no \"access\" token")?,
            refresh: text("refresh").unwrap_or(Redacted(String::new())),
            expires: profile["expires"].as_u64().unwrap_or(0),
            account_id: profile["accountId"].as_str().map(str::to_string),
        },
        other => return Err(format!("its type \"{other}\" is not api_key, token or oauth")),
    };
    Ok((provider, cred))
}

/// A credential ready to use.
#[derive(Clone, PartialEq)]
pub struct Resolved {
    pub profile_id: String,
    /// The API key, token or OAuth access token.
    pub secret: String,
    /// The ChatGPT account (OpenAI Codex).
    pub account_id: Option<String>,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Resolved {{ profile_id: {:?}, account_id: {:?}, secret: <redacted> }}", self.profile_id, self.account_id)
    }
}

/// The profile ids of `provider` in `root`, in the order they are tried.
fn candidates(config: &Config, root: &Value, provider: &str) -> Vec<String> {
    let stored = root["profiles"].as_object();
    let of_provider = |id: &String| stored.and_then(|m| m.get(id)).is_some_and(|p| p["provider"] == provider);
    if let Some(order) = config.auth.order.get(provider) {
        return order.iter().filter(|id| of_provider(id)).cloned().collect();
    }
    let mut ids: Vec<String> = stored.map(|m| m.keys().filter(|id| of_provider(id)).cloned().collect()).unwrap_or_default();
    let default = format!("{provider}:default");
    ids.sort_by_key(|id| (*id != default, id.clone()));
    ids
}

/// The providers that have at least one profile for `agent_id` (for picking
/// a default model); empty when the store cannot be read.
pub fn providers(config: &Config, agent_id: &str) -> Vec<String> {
    let Ok(root) = read(&file_for(config, agent_id)) else { return Vec::new() };
    let mut out: Vec<String> = root["profiles"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, p)| p["provider"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The first usable credential of `provider` for `agent_id`: `Ok(None)` when
/// there is no profile for it, `Err` (naming each profile and the fix) when
/// there are profiles and none can be used.
pub fn resolve(config: &Config, env: &Env, agent_id: &str, provider: &str) -> Result<Option<Resolved>, String> {
    let path = file_for(config, agent_id);
    let root = read(&path).map_err(|e| e.to_string())?;
    let ids = candidates(config, &root, provider);
    if ids.is_empty() {
        return Ok(None);
    }
    let mut problems = Vec::new();
    for id in ids {
        match usable(&path, &root, &id, env) {
            Ok(r) => return Ok(Some(r)),
            Err(e) => problems.push(format!("auth profile \"{id}\" ({}): {e}", path.display())),
        }
    }
    Err(problems.join("; "))
}

fn usable(path: &Path, root: &Value, id: &str, env: &Env) -> Result<Resolved, String> {
    let (provider, cred) = parse(&root["profiles"][id])?;
    let now = crate::now_ms();
    let resolved = |secret: String, account_id| Resolved { profile_id: id.to_string(), secret, account_id };
    match cred {
        Credential::ApiKey(s) => s.value(env).map(|k| resolved(k, None)),
        Credential::Token { expires: Some(e), .. } if e <= now => {
            Err("the token has expired; add a new one with `openclaw onboard`".into())
        }
        Credential::Token { token, .. } => Ok(resolved(token.0, None)),
        Credential::OAuth { access, expires, account_id, .. } if expires > now + REFRESH_MARGIN_MS => {
            Ok(resolved(access.0, account_id))
        }
        Credential::OAuth { .. } if provider == codex::PROVIDER => refresh_codex(path, id, env),
        Credential::OAuth { access, expires, account_id, .. } if expires > now => Ok(resolved(access.0, account_id)),
        Credential::OAuth { .. } => Err("the sign-in has expired; sign in again with `openclaw onboard`".into()),
    }
}

/// Refreshes an OpenAI Codex profile under the store's lock and writes it
/// back; another process that got the lock first has already done it, so the
/// profile is read again once the lock is held.
fn refresh_codex(path: &Path, id: &str, env: &Env) -> Result<Resolved, String> {
    let _lock = fsutil::Lock::exclusive(path).map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    let mut root = read(path).map_err(|e| e.to_string())?;
    let (_, cred) = parse(&root["profiles"][id])?;
    let Credential::OAuth { access, refresh, expires, account_id } = cred else {
        return Err("it is no longer an OAuth profile".into());
    };
    if expires > crate::now_ms() + REFRESH_MARGIN_MS {
        return Ok(Resolved { profile_id: id.to_string(), secret: access.0, account_id });
    }
    if refresh.0.is_empty() {
        return Err("the sign-in has expired and there is no refresh token; run `openclaw onboard --auth-choice openai-codex`".into());
    }
    let ep = codex::Endpoints::from_env(env)?;
    let t = codex::refresh(&ep, &refresh.0)
        .map_err(|e| format!("{e}; sign in again with `openclaw onboard --auth-choice openai-codex`"))?;
    let p = &mut root["profiles"][id];
    p["access"] = json!(t.access);
    p["refresh"] = json!(t.refresh);
    p["expires"] = json!(t.expires);
    p["accountId"] = json!(t.account_id);
    write(path, &root).map_err(|e| e.to_string())?;
    log::info!("auth profile {id}: OpenAI Codex token refreshed");
    Ok(Resolved { profile_id: id.to_string(), secret: t.access, account_id: Some(t.account_id) })
}

/// The stored form of an API key profile: the key itself, or a reference to
/// the environment variable that holds it.
pub fn api_key_profile(provider: &str, key: &Secret) -> Value {
    match key {
        Secret::Ref { id, .. } => {
            json!({"type": "api_key", "provider": provider, "keyRef": {"source": "env", "provider": "default", "id": id}})
        }
        Secret::Inline(k) => json!({"type": "api_key", "provider": provider, "key": k.0}),
    }
}

/// The stored form of OpenAI Codex tokens.
pub fn codex_profile(t: &codex::Tokens) -> Value {
    json!({
        "type": "oauth", "provider": codex::PROVIDER,
        "access": t.access, "refresh": t.refresh, "expires": t.expires, "accountId": t.account_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("openclaw-auth-{tag}-{}-{}", std::process::id(), crate::now_ms()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn config(state: &Path, extra: Value) -> Config {
        let paths = crate::paths::Paths { home: state.to_path_buf(), state_dir: state.to_path_buf(), config_path: state.join("openclaw.json") };
        let mut cx = crate::config::reader::Cx::default();
        let c = crate::config::model::read(&mut cx, &extra, &paths);
        assert!(cx.issues.is_empty(), "{:?}", cx.issues);
        c
    }

    #[test]
    fn put_keeps_other_profiles_and_unknown_fields_and_is_private() {
        let d = temp("put");
        let c = config(&d, json!({}));
        let path = file_for(&c, "main");
        assert_eq!(path, d.join("agents/main/agent/auth-profiles.json"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"version":1,"profiles":{"x:y":{"type":"token","provider":"x","token":"t"}},"lastGood":{"x":"x:y"}}"#).unwrap();
        put(&path, "openai:default", api_key_profile("openai", &Secret::Inline(Redacted("sk-1".into())))).unwrap();
        let root = read(&path).unwrap();
        assert_eq!(root["lastGood"]["x"], "x:y");
        assert_eq!(root["profiles"]["x:y"]["token"], "t");
        assert_eq!(root["profiles"]["openai:default"]["key"], "sk-1");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn order_default_first_refs_and_expiry() {
        let d = temp("order");
        let c = config(&d, json!({}));
        let path = file_for(&c, "main");
        put(&path, "anthropic:work", json!({"type": "api_key", "provider": "anthropic", "key": "k-work"})).unwrap();
        put(&path, "anthropic:default", json!({"type": "api_key", "provider": "anthropic", "keyRef": {"source": "env", "id": "MY_KEY"}})).unwrap();
        let env: Env = [("MY_KEY".to_string(), "k-env".to_string())].into();
        assert_eq!(resolve(&c, &env, "main", "anthropic").unwrap().unwrap().secret, "k-env");
        // Without the variable the default profile fails and the next one is used.
        assert_eq!(resolve(&c, &Env::new(), "main", "anthropic").unwrap().unwrap().profile_id, "anthropic:work");
        let ordered = config(&d, json!({"auth": {"order": {"anthropic": ["anthropic:work", "anthropic:default"]},
            "profiles": {"anthropic:work": {"provider": "anthropic", "mode": "api_key"}}}}));
        assert_eq!(resolve(&ordered, &env, "main", "anthropic").unwrap().unwrap().secret, "k-work");
        assert_eq!(resolve(&c, &env, "main", "openai").unwrap(), None);
        put(&path, "x:default", json!({"type": "token", "provider": "x", "token": "t", "expires": 5})).unwrap();
        assert!(resolve(&c, &env, "main", "x").unwrap_err().contains("expired"));
        put(&path, "y:default", json!({"type": "oauth", "provider": "y", "access": "a", "expires": crate::now_ms() + 3_600_000})).unwrap();
        assert_eq!(resolve(&c, &env, "main", "y").unwrap().unwrap().secret, "a");
        assert_eq!(providers(&c, "main"), vec!["anthropic", "x", "y"]);
        let dbg = format!("{:?}", resolve(&c, &env, "main", "y").unwrap());
        assert!(!dbg.contains("\"a\""), "{dbg}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn corrupt_stores_are_refused_with_the_fix() {
        let d = temp("corrupt");
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join(FILE_NAME);
        std::fs::write(&path, "{not json").unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("not a valid auth profile store") && e.contains("openclaw onboard"), "{e}");
        std::fs::write(&path, r#"{"profiles": []}"#).unwrap();
        assert!(read(&path).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
