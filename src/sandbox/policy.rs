//! The sandbox tool policy (reference §2.4): which tools a sandboxed session
//! may call, where that answer came from, and the message a blocked call
//! gets.
//!
//! Each list is resolved on its own: the agent's
//! `agents.list[].tools.sandbox.tools.{allow,deny}` when it is set (an
//! array, even an empty one), else the global `tools.sandbox.tools.{allow,
//! deny}`, else upstream's default. Names are trimmed and lower-cased,
//! aliases (`bash` → `exec`, `apply-patch` → `apply_patch`) are applied and
//! groups (`group:fs`, …, reference §2.5) are expanded; `image` is added to
//! the allow list unless either list names it. A tool is allowed when no
//! deny entry matches it (deny wins) and the allow list is empty or has a
//! matching entry; `*` matches everything and other entries with `*` are
//! globs.
//!
//! Pure: no I/O. It does not decide whether a session is sandboxed
//! ([`super::keys::is_sandboxed`]), and it does not apply the global tool
//! policy (`tools.allow`/`tools.deny`, profiles), which a sandbox cannot
//! loosen.

use std::fmt;

use serde::Serialize;

use crate::config::Config;
use crate::config::model::ToolLists;
use crate::config::sandbox::SandboxMode;

use super::keys;

/// Upstream's default sandbox allow list (early 2026).
pub const DEFAULT_ALLOW: &[&str] = &[
    "exec",
    "process",
    "read",
    "write",
    "edit",
    "apply_patch",
    "image",
    "sessions_list",
    "sessions_history",
    "sessions_send",
    "sessions_spawn",
    "session_status",
];

/// Upstream's default sandbox deny list: the host-reaching tools plus every
/// chat channel id.
pub const DEFAULT_DENY: &[&str] = &[
    "browser",
    "canvas",
    "nodes",
    "cron",
    "gateway",
    "telegram",
    "whatsapp",
    "discord",
    "irc",
    "googlechat",
    "slack",
    "signal",
    "imessage",
];

/// Tool groups (reference §2.5). `group:openclaw` is upstream's list of
/// native tools at the time of the reference source.
pub const GROUPS: &[(&str, &[&str])] = &[
    ("group:runtime", &["exec", "process"]),
    ("group:fs", &["read", "write", "edit", "apply_patch"]),
    ("group:sessions", &["sessions_list", "sessions_history", "sessions_send", "sessions_spawn", "session_status"]),
    ("group:memory", &["memory_search", "memory_get"]),
    ("group:web", &["web_search", "web_fetch"]),
    ("group:ui", &["browser", "canvas"]),
    ("group:automation", &["cron", "gateway"]),
    ("group:messaging", &["message"]),
    ("group:nodes", &["nodes"]),
    ("group:agents", &["agents_list"]),
    ("group:media", &["image", "image_generate", "tts"]),
    (
        "group:openclaw",
        &[
            "browser",
            "canvas",
            "nodes",
            "cron",
            "message",
            "gateway",
            "agents_list",
            "sessions_list",
            "sessions_history",
            "sessions_send",
            "sessions_spawn",
            "session_status",
            "memory_search",
            "memory_get",
            "web_search",
            "web_fetch",
            "image",
        ],
    ),
];

/// Tool name aliases, applied after lower-casing.
const ALIASES: &[(&str, &str)] = &[("bash", "exec"), ("apply-patch", "apply_patch")];

/// Where one list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `agents.list[].tools.sandbox.tools.*`
    Agent,
    /// `tools.sandbox.tools.*`
    Global,
    /// Neither is set: upstream's default list.
    Default,
}

/// A list's source and the config key to change it, as upstream reports
/// them (the default's key is the global one: that is where to set it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListSource {
    pub source: Source,
    pub key: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sources {
    pub allow: ListSource,
    pub deny: ListSource,
}

/// The resolved sandbox tool policy of one agent: both lists normalized,
/// groups expanded, duplicates dropped, in their configured order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolPolicy {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub sources: Sources,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Agent => "agent",
            Source::Global => "global",
            Source::Default => "default",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sandbox tool policy of `agent_id` under `config`.
pub fn resolve(config: &Config, agent_id: &str) -> ToolPolicy {
    let empty = ToolLists::default();
    let agent = config.agent(agent_id).map(|a| &a.tools.sandbox).unwrap_or(&empty);
    resolve_lists(agent, &config.tools.policy.sandbox)
}

/// [`resolve`] on the two blocks directly: the agent's
/// `tools.sandbox.tools` and the global one.
pub fn resolve_lists(agent: &ToolLists, global: &ToolLists) -> ToolPolicy {
    let pick = |agent: &Option<Vec<String>>, global: &Option<Vec<String>>, default: &[&str], which: &str| {
        let (list, source) = match (agent, global) {
            (Some(list), _) => (list.clone(), Source::Agent),
            (None, Some(list)) => (list.clone(), Source::Global),
            (None, None) => (default.iter().map(|s| s.to_string()).collect(), Source::Default),
        };
        (list, ListSource { source, key: source_key(source, which) })
    };
    let (allow, allow_source) = pick(&agent.allow, &global.allow, DEFAULT_ALLOW, "allow");
    let (deny, deny_source) = pick(&agent.deny, &global.deny, DEFAULT_DENY, "deny");
    let deny = expand_groups(&deny);
    let mut allow = expand_groups(&allow);
    // `image` is essential for multimodal work: always allowed unless a
    // list names it.
    if !deny.iter().chain(&allow).any(|t| t == "image") {
        allow.push("image".to_string());
    }
    ToolPolicy { allow, deny, sources: Sources { allow: allow_source, deny: deny_source } }
}

/// A tool name as policies compare it: trimmed, lower-cased, aliased.
pub fn normalize_tool_name(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    match ALIASES.iter().find(|(alias, _)| *alias == lower) {
        Some((_, canonical)) => canonical.to_string(),
        None => lower,
    }
}

/// Normalizes every entry, replaces groups by their tools and drops blanks
/// and duplicates (first occurrence kept).
pub fn expand_groups(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |t: String| {
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    };
    for entry in list {
        let name = normalize_tool_name(entry);
        match GROUPS.iter().find(|(group, _)| *group == name) {
            Some((_, tools)) => tools.iter().for_each(|t| push(t.to_string())),
            None => push(name),
        }
    }
    out
}

/// Whether `policy` lets a sandboxed session call `tool`: no deny entry
/// matches (deny wins), and the allow list is empty or an entry matches.
pub fn is_allowed(policy: &ToolPolicy, tool: &str) -> bool {
    let name = normalize_tool_name(tool);
    !denied_by(policy, &name) && !outside_allow(policy, &name)
}

/// The error text of a call the policy blocks, word for word as upstream's
/// (reference §2.4); `None` when `tool` is blank or allowed. The caller has
/// already found the session sandboxed. The last-but-one fix line, the main
/// session key, is only given under `mode=non-main`.
///
/// Unlike upstream, which looks the name up literally, the deny and allow
/// reasons use the same pattern matching as [`is_allowed`], so a tool
/// blocked by a glob still gets its message.
pub fn blocked_message(
    policy: &ToolPolicy,
    tool: &str,
    mode: SandboxMode,
    session_key: &str,
    main_session_key: &str,
) -> Option<String> {
    let shown = tool.trim().to_lowercase();
    if shown.is_empty() {
        return None;
    }
    let name = normalize_tool_name(&shown);
    let by_deny = denied_by(policy, &name);
    let by_allow = outside_allow(policy, &name);
    if !by_deny && !by_allow {
        return None;
    }
    let mut reasons = Vec::new();
    let mut fixes = Vec::new();
    if by_deny {
        reasons.push("deny list");
        fixes.push(format!("Remove \"{shown}\" from {}.", policy.sources.deny.key));
    }
    if by_allow {
        reasons.push("allow list");
        fixes.push(format!("Add \"{shown}\" to {} (or set it to [] to allow all).", policy.sources.allow.key));
    }
    let session = if session_key.is_empty() { "(unknown)" } else { session_key };
    let mut lines = vec![
        format!("Tool \"{shown}\" blocked by sandbox tool policy (mode={}).", mode.as_str()),
        format!("Session: {session}"),
        format!("Reason: {}", reasons.join(" + ")),
        "Fix:".to_string(),
        "- agents.defaults.sandbox.mode=off (disable sandbox)".to_string(),
    ];
    lines.extend(fixes.into_iter().map(|f| format!("- {f}")));
    if mode == SandboxMode::NonMain {
        lines.push(format!("- Use main session key (direct): {main_session_key}"));
    }
    lines.push(format!("- See: openclaw sandbox explain --session {session_key}"));
    Some(lines.join("\n"))
}

/// [`blocked_message`] for a session under `config`: the session's agent,
/// mode and main key are resolved here, and a session that is not
/// sandboxed gets `None` (the sandbox policy does not apply to it).
pub fn blocked_message_for(config: &Config, session_key: &str, tool: &str) -> Option<String> {
    let session_key = session_key.trim();
    let agent_id = keys::agent_id_from_session_key(session_key, &config.default_agent_id());
    let mode = config.sandbox_for(&agent_id).mode;
    let main = keys::main_session_key(config, &agent_id);
    if session_key.is_empty() || !keys::is_sandboxed(mode, session_key, &main) {
        return None;
    }
    blocked_message(&resolve(config, &agent_id), tool, mode, session_key, &main)
}

// ---------------------------------------------------------------------------
// Private helpers.

fn source_key(source: Source, which: &str) -> &'static str {
    match (source, which) {
        (Source::Agent, "allow") => "agents.list[].tools.sandbox.tools.allow",
        (Source::Agent, _) => "agents.list[].tools.sandbox.tools.deny",
        (_, "allow") => "tools.sandbox.tools.allow",
        (_, _) => "tools.sandbox.tools.deny",
    }
}

fn denied_by(policy: &ToolPolicy, name: &str) -> bool {
    matches_any(name, &expand_groups(&policy.deny))
}

fn outside_allow(policy: &ToolPolicy, name: &str) -> bool {
    let allow = expand_groups(&policy.allow);
    !allow.is_empty() && !matches_any(name, &allow)
}

/// Whether the normalized tool `name` matches one of `patterns` (already
/// normalized and group-expanded, as [`expand_groups`] returns them): `*`
/// matches everything, entries with `*` are globs, others compare exactly.
pub fn matches_any(name: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| p == "*" || p == name || (p.contains('*') && glob_match(p, name)))
}

/// `*` matches any run of characters (also none); everything else is
/// literal. The whole name must match.
fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(allow: Option<&[&str]>, deny: Option<&[&str]>) -> ToolLists {
        let own = |l: Option<&[&str]>| l.map(|l| l.iter().map(|s| s.to_string()).collect());
        ToolLists { allow: own(allow), deny: own(deny) }
    }

    fn policy(allow: &[&str], deny: &[&str]) -> ToolPolicy {
        resolve_lists(&lists(Some(allow), Some(deny)), &ToolLists::default())
    }

    fn config(json: serde_json::Value) -> Config {
        crate::config::model::from_json_for_tests(json)
    }

    #[test]
    fn defaults_and_their_sources() {
        let p = resolve_lists(&ToolLists::default(), &ToolLists::default());
        assert_eq!(p.allow, DEFAULT_ALLOW);
        assert_eq!(p.deny, DEFAULT_DENY);
        assert_eq!(p.sources.allow, ListSource { source: Source::Default, key: "tools.sandbox.tools.allow" });
        assert_eq!(p.sources.deny, ListSource { source: Source::Default, key: "tools.sandbox.tools.deny" });
        assert!(is_allowed(&p, "exec") && is_allowed(&p, "Read ") && is_allowed(&p, "bash"));
        assert!(!is_allowed(&p, "browser") && !is_allowed(&p, "telegram") && !is_allowed(&p, "gateway"));
        assert!(!is_allowed(&p, "web_fetch"), "not in the default allow list");
    }

    #[test]
    fn precedence_is_per_list() {
        let agent = lists(Some(&["exec"]), None);
        let global = lists(Some(&["read"]), Some(&["write"]));
        let p = resolve_lists(&agent, &global);
        assert_eq!(p.allow, ["exec", "image"]);
        assert_eq!(p.deny, ["write"]);
        assert_eq!(p.sources.allow, ListSource { source: Source::Agent, key: "agents.list[].tools.sandbox.tools.allow" });
        assert_eq!(p.sources.deny, ListSource { source: Source::Global, key: "tools.sandbox.tools.deny" });
        // An empty agent list is set: it wins over the global one.
        let p = resolve_lists(&lists(None, Some(&[])), &global);
        assert!(p.deny.is_empty());
        assert_eq!(p.sources.deny.source, Source::Agent);
        assert_eq!(p.sources.allow.source, Source::Global);
    }

    #[test]
    fn resolves_from_config_per_agent() {
        let c = config(serde_json::json!({
            "tools": {"sandbox": {"tools": {"deny": ["group:ui"]}}},
            "agents": {"list": [
                {"id": "main"},
                {"id": "work", "tools": {"sandbox": {"tools": {"allow": ["group:fs", "web_*"], "deny": []}}}},
            ]},
        }));
        let main = resolve(&c, "main");
        assert_eq!(main.deny, ["browser", "canvas"]);
        assert_eq!(main.sources.deny.source, Source::Global);
        assert_eq!(main.sources.allow.source, Source::Default);
        let work = resolve(&c, "work");
        assert_eq!(work.allow, ["read", "write", "edit", "apply_patch", "web_*", "image"]);
        assert!(work.deny.is_empty());
        assert!(is_allowed(&work, "web_fetch") && !is_allowed(&work, "browser"));
        assert_eq!(resolve(&c, "unknown-agent"), main, "an unknown agent gets the global policy");
    }

    #[test]
    fn groups_and_aliases_expand() {
        let p = policy(&["group:runtime", "Apply-Patch", " BASH ", "group:sessions"], &["group:automation"]);
        assert_eq!(
            p.allow,
            ["exec", "process", "apply_patch", "sessions_list", "sessions_history", "sessions_send", "sessions_spawn", "session_status", "image"]
        );
        assert_eq!(p.deny, ["cron", "gateway"]);
        assert!(is_allowed(&p, "bash"));
        assert!(is_allowed(&p, "apply-patch"));
        assert!(!is_allowed(&p, "read"));
        let media = policy(&["group:media"], &[]);
        assert_eq!(media.allow, ["image", "image_generate", "tts"], "image named by the group: not added twice");
    }

    #[test]
    fn image_is_added_unless_named() {
        assert_eq!(policy(&["exec"], &[]).allow, ["exec", "image"]);
        let denied = policy(&["exec"], &["IMAGE"]);
        assert_eq!(denied.allow, ["exec"]);
        assert!(!is_allowed(&denied, "image"));
        assert_eq!(policy(&["image", "exec"], &[]).allow, ["image", "exec"]);
    }

    #[test]
    fn globs_and_star() {
        let p = policy(&["sessions_*", "*_get", "web_*_x*"], &[]);
        assert!(is_allowed(&p, "sessions_list") && is_allowed(&p, "memory_get") && is_allowed(&p, "web_a_xyz"));
        assert!(!is_allowed(&p, "session_status") && !is_allowed(&p, "exec") && !is_allowed(&p, "web_x"));
        let all = policy(&["*"], &["exec"]);
        assert!(is_allowed(&all, "anything") && !is_allowed(&all, "exec"));
        assert!(glob_match("a*a", "aa") && !glob_match("a*a", "a") && glob_match("*", "") && glob_match("a**b", "ab"));
        assert!(!glob_match("x.y*", "xzy"), "dots are literal");
    }

    #[test]
    fn deny_wins_and_empty_allow_allows_all() {
        let p = policy(&["exec", "read"], &["exec"]);
        assert!(!is_allowed(&p, "exec") && is_allowed(&p, "read"));
        let p = policy(&["*"], &["*"]);
        assert!(!is_allowed(&p, "read"));
        // `image` is appended to an empty allow list too, as upstream does;
        // so an empty allow list only means "all" once image is denied.
        let open = policy(&[], &["image"]);
        assert!(open.allow.is_empty());
        assert!(is_allowed(&open, "browser") && is_allowed(&open, "whatever") && !is_allowed(&open, "image"));
        let blank = policy(&["  "], &["image"]);
        assert!(is_allowed(&blank, "exec"), "blank entries are dropped");
    }

    #[test]
    fn blocked_message_by_deny_in_non_main() {
        let p = resolve_lists(&ToolLists::default(), &ToolLists::default());
        let text = blocked_message(&p, " Browser", SandboxMode::NonMain, "agent:main:telegram:group:1", "agent:main:main").unwrap();
        assert_eq!(
            text,
            "Tool \"browser\" blocked by sandbox tool policy (mode=non-main).\n\
             Session: agent:main:telegram:group:1\n\
             Reason: deny list + allow list\n\
             Fix:\n\
             - agents.defaults.sandbox.mode=off (disable sandbox)\n\
             - Remove \"browser\" from tools.sandbox.tools.deny.\n\
             - Add \"browser\" to tools.sandbox.tools.allow (or set it to [] to allow all).\n\
             - Use main session key (direct): agent:main:main\n\
             - See: openclaw sandbox explain --session agent:main:telegram:group:1"
        );
    }

    #[test]
    fn blocked_message_by_allow_in_all_mode() {
        let p = resolve_lists(&lists(Some(&["exec"]), Some(&[])), &ToolLists::default());
        let text = blocked_message(&p, "read", SandboxMode::All, "agent:work:main", "agent:work:main").unwrap();
        assert_eq!(
            text,
            "Tool \"read\" blocked by sandbox tool policy (mode=all).\n\
             Session: agent:work:main\n\
             Reason: allow list\n\
             Fix:\n\
             - agents.defaults.sandbox.mode=off (disable sandbox)\n\
             - Add \"read\" to agents.list[].tools.sandbox.tools.allow (or set it to [] to allow all).\n\
             - See: openclaw sandbox explain --session agent:work:main"
        );
        assert_eq!(blocked_message(&p, "exec", SandboxMode::All, "k", "m"), None, "allowed");
        assert_eq!(blocked_message(&p, "  ", SandboxMode::All, "k", "m"), None, "blank");
        let deny_only = blocked_message(&p, "image", SandboxMode::All, "", "m");
        assert_eq!(deny_only, None, "image was appended to the allow list");
    }

    #[test]
    fn blocked_message_for_a_session() {
        let c = config(serde_json::json!({"agents": {"defaults": {"sandbox": {"mode": "non-main"}}}}));
        assert_eq!(blocked_message_for(&c, "agent:main:main", "browser"), None, "the main session is not sandboxed");
        let text = blocked_message_for(&c, "agent:main:discord:channel:9", "browser").unwrap();
        assert!(text.starts_with("Tool \"browser\" blocked by sandbox tool policy (mode=non-main).\n"), "{text}");
        assert!(text.contains("\n- Use main session key (direct): agent:main:main\n"), "{text}");
        assert_eq!(blocked_message_for(&c, "agent:main:discord:channel:9", "exec"), None);
        let off = config(serde_json::json!({}));
        assert_eq!(blocked_message_for(&off, "agent:main:discord:channel:9", "browser"), None, "mode off");
    }
}
