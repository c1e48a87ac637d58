//! Session keys, scope keys, container names and workspace folders: the pure
//! naming rules of reference §3.1 and §3.2, so a sandbox made by upstream
//! OpenClaw and one made here for the same session have the same name.
//!
//! Nothing here touches Docker or the disk.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::config::model::normalize_agent_id;
use crate::config::sandbox::{SandboxMode, Scope};
use crate::crypto;

/// The longest container name this module produces (upstream's cut).
pub const MAX_CONTAINER_NAME: usize = 63;

/// Whether a session runs its tools in a sandbox (reference §3.1): `off`
/// never, `all` always, `non-main` for every session except the agent's main
/// one. The comparison is made after trimming and lower-casing both keys, and
/// the bare main key (`main` for `agent:main:main`) is read as an alias of the
/// main session key.
pub fn is_sandboxed(mode: SandboxMode, session_key: &str, main_session_key: &str) -> bool {
    match mode {
        SandboxMode::Off => false,
        SandboxMode::All => true,
        SandboxMode::NonMain => !is_main_session(session_key, main_session_key),
    }
}

/// The agent's main session key (reference §3.1): `global` when
/// `session.scope` is global, else `agent:<agentId>:<mainKey>`.
pub fn main_session_key(config: &Config, agent_id: &str) -> String {
    if config.session.global_scope {
        return "global".to_string();
    }
    let main_key = config.session.main_key.trim();
    let main_key = if main_key.is_empty() { "main" } else { main_key };
    format!("agent:{}:{}", normalize_agent_id(agent_id), main_key.to_lowercase())
}

/// The agent a session belongs to: the `<agentId>` of `agent:<agentId>` or
/// `agent:<agentId>:…` (normalized), else `default`.
pub fn agent_id_from_session_key(key: &str, default: &str) -> String {
    let key = key.trim();
    let mut parts = key.splitn(3, ':');
    match (parts.next(), parts.next()) {
        (Some(first), Some(id)) if first.eq_ignore_ascii_case("agent") && !id.trim().is_empty() => {
            normalize_agent_id(id)
        }
        _ => default.to_string(),
    }
}

/// The key that decides which sessions share a container (reference §3.2):
/// `shared` for the shared scope, the raw session key for the session scope,
/// `agent:<agentId>` for the agent scope. An empty session key is `main`.
pub fn scope_key(scope: Scope, session_key: &str, agent_id: &str) -> String {
    let trimmed = session_key.trim();
    let key = if trimmed.is_empty() { "main" } else { trimmed };
    match scope {
        Scope::Shared => "shared".to_string(),
        Scope::Session => key.to_string(),
        Scope::Agent => format!("agent:{agent_id}"),
    }
}

/// Upstream's `slugifySessionKey` (reference §3.2): a lower-case, file- and
/// container-name-safe form of at most 32 characters, plus the first 8 hex
/// digits of the SHA-256 of the trimmed key so different keys never collide.
/// `agent:main` → `agent-main-f331f052`.
pub fn slug(value: &str) -> String {
    let trimmed = value.trim();
    let t = if trimmed.is_empty() { "session" } else { trimmed };
    let hash = crypto::hex(&crypto::sha256(t.as_bytes()));
    let mut safe = String::with_capacity(t.len());
    let mut in_run = false;
    for c in t.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            safe.push(c);
            in_run = false;
        } else if !in_run {
            safe.push('-');
            in_run = true;
        }
    }
    let safe = safe.trim_matches('-');
    // Only ASCII is left, so bytes are characters.
    let base = &safe[..safe.len().min(32)];
    let base = if base.is_empty() { "session" } else { base };
    format!("{base}-{}", &hash[..8])
}

/// The container name of a scope: the prefix plus `shared` or the slug of
/// the scope key, cut to [`MAX_CONTAINER_NAME`] characters.
pub fn container_name(prefix: &str, scope: Scope, scope_key: &str) -> String {
    let tail = if scope == Scope::Shared { "shared".to_string() } else { slug(scope_key) };
    format!("{prefix}{tail}").chars().take(MAX_CONTAINER_NAME).collect()
}

/// The scope's own scratch workspace: `root` itself for the shared scope,
/// else `root/<slug(scopeKey)>`.
pub fn sandbox_workspace_dir(root: &Path, scope: Scope, scope_key: &str) -> PathBuf {
    match scope {
        Scope::Shared => root.to_path_buf(),
        Scope::Session | Scope::Agent => root.join(slug(scope_key)),
    }
}

fn is_main_session(session_key: &str, main_session_key: &str) -> bool {
    let key = session_key.trim().to_lowercase();
    let main = main_session_key.trim().to_lowercase();
    if key == main {
        return true;
    }
    // `agent:<id>:<mainKey>` also answers to its bare `<mainKey>`.
    match main.strip_prefix("agent:").and_then(|rest| rest.split_once(':')) {
        Some((_, main_key)) => key == main_key,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandboxed_by_mode() {
        let main = "agent:main:main";
        assert!(!is_sandboxed(SandboxMode::Off, "agent:main:telegram:group:1", main));
        assert!(is_sandboxed(SandboxMode::All, main, main));
        assert!(!is_sandboxed(SandboxMode::NonMain, main, main));
        assert!(!is_sandboxed(SandboxMode::NonMain, " Agent:Main:Main ", main));
        assert!(!is_sandboxed(SandboxMode::NonMain, "main", main), "the bare main key is an alias");
        assert!(is_sandboxed(SandboxMode::NonMain, "agent:main:telegram:group:1", main));
        assert!(is_sandboxed(SandboxMode::NonMain, "agent:work:main", main), "another agent's main is not this one's");
        assert!(!is_sandboxed(SandboxMode::NonMain, "global", "global"));
        assert!(is_sandboxed(SandboxMode::NonMain, "main", "global"));
    }

    fn config(json: serde_json::Value) -> Config {
        crate::config::model::from_json_for_tests(json)
    }

    #[test]
    fn main_session_keys() {
        let c = config(serde_json::json!({}));
        assert_eq!(main_session_key(&c, "main"), "agent:main:main");
        assert_eq!(main_session_key(&c, "Work"), "agent:work:main");
        let c = config(serde_json::json!({"session": {"mainKey": "Home"}}));
        assert_eq!(main_session_key(&c, "main"), "agent:main:home");
        let c = config(serde_json::json!({"session": {"scope": "global"}}));
        assert_eq!(main_session_key(&c, "main"), "global");
    }

    #[test]
    fn agent_ids_from_keys() {
        assert_eq!(agent_id_from_session_key("agent:work:telegram:dm:1", "main"), "work");
        assert_eq!(agent_id_from_session_key("agent:Work", "main"), "work");
        assert_eq!(agent_id_from_session_key("agent:", "main"), "main");
        assert_eq!(agent_id_from_session_key("telegram:dm:1", "ops"), "ops");
        assert_eq!(agent_id_from_session_key("", "main"), "main");
    }

    #[test]
    fn scope_keys() {
        assert_eq!(scope_key(Scope::Shared, "agent:a:x", "a"), "shared");
        assert_eq!(scope_key(Scope::Session, " agent:a:x ", "a"), "agent:a:x");
        assert_eq!(scope_key(Scope::Session, "  ", "a"), "main");
        assert_eq!(scope_key(Scope::Agent, "agent:a:x", "a"), "agent:a");
    }

    #[test]
    fn slugs_match_upstream() {
        // Observed upstream (issues #31242, #59613).
        assert_eq!(slug("agent:main"), "agent-main-f331f052");
        assert_eq!(slug("  agent:main  "), "agent-main-f331f052", "the hash is of the trimmed key");
        let empty = slug("   ");
        assert!(empty.starts_with("session-") && empty.len() == "session-".len() + 8, "{empty}");
        assert_eq!(empty, slug("session"));
        // Runs of other characters become one dash; dashes at the ends go.
        let s = slug("::Agent::Main!!x::");
        assert!(s.starts_with("agent-main-x-"), "{s}");
        // The readable part is cut to 32 characters.
        let long = slug(&"a".repeat(80));
        assert_eq!(long.len(), 32 + 1 + 8);
        // Nothing readable left: "session" plus the hash of the original.
        let s = slug("ÄÖÜ");
        assert!(s.starts_with("session-"), "{s}");
        assert_ne!(s, slug("session"));
    }

    #[test]
    fn names_and_dirs() {
        assert_eq!(container_name("openclaw-sbx-", Scope::Agent, "agent:main"), "openclaw-sbx-agent-main-f331f052");
        assert_eq!(container_name("openclaw-sbx-", Scope::Shared, "shared"), "openclaw-sbx-shared");
        let name = container_name(&"p".repeat(40), Scope::Session, &"k".repeat(60));
        assert_eq!(name.len(), MAX_CONTAINER_NAME);
        let root = Path::new("/s/sandboxes");
        assert_eq!(sandbox_workspace_dir(root, Scope::Shared, "shared"), root);
        assert_eq!(sandbox_workspace_dir(root, Scope::Agent, "agent:main"), root.join("agent-main-f331f052"));
    }
}
