//! The effective tool policy of one agent turn (reference §2.4, §2.5): which
//! of our built-in tools the model is told about, and the message a refused
//! call gets.
//!
//! A tool passes when every stage lets it through, in upstream's pipeline
//! order:
//!
//! 1. the profile: `agents.list[].tools.profile` when the agent sets one,
//!    else `tools.profile` (upstream: the agent's profile replaces the
//!    global one, it does not filter after it);
//! 2. the provider profile: the agent's `tools.byProvider.<provider>.profile`,
//!    else the global one;
//! 3. `tools.allow` / `tools.deny`;
//! 4. `tools.byProvider.<provider>.allow` / `.deny`;
//! 5. `agents.list[].tools.allow` / `.deny`;
//! 6. `agents.list[].tools.byProvider.<provider>.allow` / `.deny`;
//! 7. only when the session is sandboxed ([`keys::is_sandboxed`]), the
//!    sandbox tool policy of [`sandbox_policy`].
//!
//! Each stage is an allow list and a deny list: names are trimmed,
//! lower-cased and aliased (`bash` → `exec`), groups are expanded, `*` and
//! globs match; deny wins; an empty or absent allow list allows everything.
//! Profiles are allow lists (`full` is no restriction). Since every list
//! stage filters what the earlier ones let through, an agent or the sandbox
//! can narrow `tools.allow`/`tools.deny` but never re-enable what they
//! block.
//!
//! `byProvider` keys are compared trimmed and lower-cased with the provider
//! id; given a whole `provider/model` reference, the `provider/model` key is
//! tried first and then the provider's, as upstream does.
//!
//! Differences from upstream, on purpose: an allow list naming `exec` does
//! not also let `apply_patch` through (upstream's implicit coupling, later
//! moved to `write`): a non-empty allow list passes only the tools its own
//! entries match. Group-chat and sub-agent policies do not exist here.
//!
//! Pure: no I/O. It does not run tools, and it does not decide where they
//! run (host or sandbox).
//!
//! ## /tools/invoke (upstream)
//!
//! What upstream's `POST /tools/invoke` does, for the gateway endpoint.
//! Sources: openclaw/openclaw `src/gateway/tools-invoke-http.ts` (@49f9cc26;
//! the reference's copy @013c24e7), `src/gateway/http-common.ts` (@08080673),
//! `src/security/dangerous-tools.ts` (@11a5ac74 and its history since PR
//! #15390, Feb 2026), `docs/gateway/tools-invoke-http-api.md` (revisions from
//! Jan to Apr 2026), and the gateway deny filter in the Feb–Apr 2026 handler
//! (later moved into upstream's `resolveGatewayScopedTools`).
//!
//! - Always enabled, same port; path exactly `/tools/invoke`. A method other
//!   than POST: 405, `Allow: POST`, `text/plain` body `Method Not Allowed`.
//! - Auth: the gateway's (`Authorization: Bearer <token or password>`). A
//!   failure: 401 `{"error":{"message":"Unauthorized","type":"unauthorized"}}`
//!   (no `ok` field); when the auth rate limiter locks the client out: 429,
//!   `Retry-After: <ceil(ms/1000)>`, `{"error":{"message":"Too many failed
//!   authentication attempts. Please try again later.","type":"rate_limited"}}`.
//! - Body: JSON, at most 2 MB. Too large: 413
//!   `{"error":{"message":"Payload too large","type":"invalid_request_error"}}`;
//!   too slow: 408 `{"error":{"message":"Request body timeout","type":
//!   "invalid_request_error"}}`; not JSON: 400 `{"error":{"message":<parse
//!   error>,"type":"invalid_request_error"}}`.
//! - Request `{tool, action?, args?, sessionKey?, dryRun?}`. `tool`: string,
//!   trimmed; missing or blank: 400 `{"error":{"message":"tools.invoke
//!   requires body.tool","type":"invalid_request_error"}}`. `args`: used only
//!   when it is a JSON object, else `{}`. `action`: a trimmed string, copied
//!   into `args.action` only when the tool's parameter schema has an
//!   `action` property and `args` has none. `sessionKey`: trimmed; absent,
//!   blank or `"main"` means the configured main session key (the default
//!   agent's `agent:<id>:<mainKey>`, or `global` under `session.scope:
//!   global`); the agent is the session key's. `dryRun`: ignored.
//! - Policy: the same pipeline as an agent turn (profile, provider profile,
//!   global, agent; no model, so no `byProvider` match; the sandbox stage
//!   only in later versions), then the gateway HTTP deny list: the set is
//!   [`DEFAULT_HTTP_DENY`] minus the names listed in `gateway.tools.allow`
//!   (exact names; it only removes default entries, it is not an allow list
//!   and does not bypass the policy), plus `gateway.tools.deny`. The tool is
//!   then looked up by exact name. Not found, blocked by the policy or by
//!   the deny list: 404 `{"ok":false,"error":{"type":"not_found","message":
//!   "Tool not available: <tool>"}}`. Here: [`resolve`] +
//!   [`Effective::check`] (pass `""` as the provider) and
//!   [`http_invoke_allowed`]; both must pass.
//! - Run: tool call id `http-<epoch ms>`. Success: 200 `{"ok":true,"result":
//!   <the tool's result>}`. An argument error (upstream's `ToolInputError`):
//!   400 `{"ok":false,"error":{"type":"tool_error","message":<its text>}}`.
//!   Any other failure: logged, then 500 `{"ok":false,"error":{"type":
//!   "tool_error","message":"tool execution failed"}}` (sanitized; the
//!   Jan 2026 handler answered every failure 400 with the raw text).
//! - Optional headers `x-openclaw-message-channel`, `x-openclaw-account-id`
//!   feed upstream's group policy (none here).

use crate::config::Config;
use crate::config::model::{ToolLists, ToolPolicy as PolicyBlock, ToolProfile, normalize_agent_id};
use crate::config::sandbox::SandboxMode;
use crate::sandbox::keys;
use crate::sandbox::policy::{self as sandbox_policy, expand_groups, matches_any, normalize_tool_name};

/// The tools this build implements: the only ones ever offered to a model.
pub const BUILTIN_TOOLS: &[&str] = &[
    "exec",
    "process",
    "read",
    "write",
    "edit",
    "apply_patch",
    "sessions_list",
    "sessions_history",
    "sessions_send",
    "sessions_spawn",
    "session_status",
];

/// Upstream's `DEFAULT_GATEWAY_HTTP_TOOL_DENY` as documented in spring 2026
/// (`docs/gateway/tools-invoke-http-api.md`, `src/security/dangerous-tools.ts`):
/// tools `POST /tools/invoke` refuses unless `gateway.tools.allow` names
/// them. The first list (Feb 2026) was `sessions_spawn, sessions_send,
/// gateway, whatsapp_login`; `cron` came next, then the command-execution
/// and file-mutation names and `nodes`. Later upstream lists add more names
/// for tools we do not have.
pub const DEFAULT_HTTP_DENY: &[&str] = &[
    "exec",
    "spawn",
    "shell",
    "fs_write",
    "fs_delete",
    "fs_move",
    "apply_patch",
    "sessions_spawn",
    "sessions_send",
    "cron",
    "gateway",
    "nodes",
    "whatsapp_login",
];

/// The resolved policy of one turn: every stage, the sandbox policy and
/// whether it applies.
#[derive(Debug, Clone)]
pub struct Effective {
    session_key: String,
    mode: SandboxMode,
    main_session_key: String,
    stages: Vec<Stage>,
    sandbox: sandbox_policy::ToolPolicy,
}

/// One stage before the sandbox one. `key` is the config path of its block
/// (`tools`, `tools.byProvider.openai`, `agents.list[].tools`, …).
#[derive(Debug, Clone)]
struct Stage {
    key: String,
    rule: Rule,
}

#[derive(Debug, Clone)]
enum Rule {
    /// A profile's allow list (groups expanded).
    Profile { profile: ToolProfile, allow: Vec<String> },
    /// Allow and deny lists, normalized and groups expanded.
    Lists { allow: Vec<String>, deny: Vec<String> },
}

/// Why a built-in tool is refused.
enum Block<'a> {
    Profile(&'a Stage, ToolProfile),
    Deny(&'a Stage),
    Allow(&'a Stage),
    Sandbox,
}

/// The policy for one turn of `session_key` run by `agent_id` against
/// provider `provider_id` (the part of the model ref before '/'; a whole
/// `provider/model` ref also works, empty matches no `byProvider` entry).
pub fn resolve(config: &Config, agent_id: &str, provider_id: &str, session_key: &str) -> Effective {
    let agent_id = normalize_agent_id(agent_id);
    let global = &config.tools.policy;
    let agent = config.agent(&agent_id).map(|a| &a.tools);
    let global_provider = by_provider(global, provider_id);
    let agent_provider = agent.and_then(|a| by_provider(a, provider_id));

    let mut stages = Vec::new();
    let profile = agent
        .and_then(|a| a.profile)
        .map(|p| (p, "agents.list[].tools".to_string()))
        .or_else(|| global.profile.map(|p| (p, "tools".to_string())));
    push_profile(&mut stages, profile);
    let provider_profile = agent_provider
        .and_then(|(k, b)| b.profile.map(|p| (p, format!("agents.list[].tools.byProvider.{k}"))))
        .or_else(|| global_provider.and_then(|(k, b)| b.profile.map(|p| (p, format!("tools.byProvider.{k}")))));
    push_profile(&mut stages, provider_profile);
    push_lists(&mut stages, "tools".to_string(), &global.lists);
    if let Some((k, b)) = global_provider {
        push_lists(&mut stages, format!("tools.byProvider.{k}"), &b.lists);
    }
    if let Some(a) = agent {
        push_lists(&mut stages, "agents.list[].tools".to_string(), &a.lists);
    }
    if let Some((k, b)) = agent_provider {
        push_lists(&mut stages, format!("agents.list[].tools.byProvider.{k}"), &b.lists);
    }

    Effective {
        session_key: session_key.trim().to_string(),
        mode: config.sandbox_for(&agent_id).mode,
        main_session_key: keys::main_session_key(config, &agent_id),
        stages,
        sandbox: sandbox_policy::resolve(config, &agent_id),
    }
}

/// Whether `POST /tools/invoke` may run `tool` as far as the gateway HTTP
/// deny list goes (the turn policy is checked separately): denied when it is
/// in [`DEFAULT_HTTP_DENY`] and `gateway.tools.allow` does not name it, or
/// when `gateway.tools.deny` matches it.
///
/// Upstream compares exact strings. Here names are trimmed, lower-cased and
/// aliased on both sides (so `Exec` or `bash` cannot slip past a deny of
/// `exec`), and `gateway.tools.deny` also takes groups and globs, which can
/// only deny more. `gateway.tools.allow` stays exact names: a group or glob
/// there removes nothing from the default list. A blank name is refused.
pub fn http_invoke_allowed(config: &Config, tool: &str) -> bool {
    let name = normalize_tool_name(tool);
    if name.is_empty() {
        return false;
    }
    let lists = &config.gateway.tools;
    let allowed_back = lists.allow.iter().flatten().any(|a| normalize_tool_name(a) == name);
    if DEFAULT_HTTP_DENY.contains(&name.as_str()) && !allowed_back {
        return false;
    }
    let deny = expand_groups(lists.deny.as_deref().unwrap_or_default());
    !matches_any(&name, &deny)
}

impl Effective {
    /// Whether the session runs its tools in a sandbox (reference §3.1), and
    /// so is subject to the sandbox tool policy.
    pub fn sandboxed(&self) -> bool {
        keys::is_sandboxed(self.mode, &self.session_key, &self.main_session_key)
    }

    /// The built-in tools that pass every stage, in [`BUILTIN_TOOLS`] order:
    /// what the model is told about.
    pub fn offered(&self) -> Vec<&'static str> {
        BUILTIN_TOOLS.iter().copied().filter(|t| self.block(t).is_none()).collect()
    }

    /// `Ok` when the model may call `tool`; else the message it gets: the
    /// sandbox's own text when the sandbox policy blocks it, the blocking
    /// stage and its fix otherwise, or "not found" for a tool we do not
    /// have.
    pub fn check(&self, tool: &str) -> Result<(), String> {
        let name = normalize_tool_name(tool);
        let Some(&tool) = BUILTIN_TOOLS.iter().find(|t| **t == name) else {
            let offered = self.offered();
            let available = if offered.is_empty() { "(none)".to_string() } else { offered.join(", ") };
            return Err(format!("Tool \"{}\" not found. Available tools: {available}.", tool.trim()));
        };
        match self.block(tool) {
            None => Ok(()),
            Some(Block::Sandbox) => Err(sandbox_policy::blocked_message(
                &self.sandbox,
                tool,
                self.mode,
                &self.session_key,
                &self.main_session_key,
            )
            // `block` found it blocked by the same matching, so this is
            // always `Some`; stay closed if that ever changes.
            .unwrap_or_else(|| {
                format!("Tool \"{tool}\" blocked by sandbox tool policy (mode={}).", self.mode.as_str())
            })),
            Some(Block::Profile(stage, profile)) => {
                let key = format!("{}.profile", stage.key);
                let fitting: Vec<String> = PROFILES
                    .iter()
                    .filter(|(p, _)| profile_allows(*p, tool))
                    .map(|(_, n)| format!("\"{n}\""))
                    .collect();
                Err(format!(
                    "Tool \"{tool}\" is not allowed by {key} (\"{}\"). Fix: set {key} to a profile that includes \
                     it ({}), or run it from an agent whose tools allow it.",
                    profile_name(profile),
                    fitting.join(" or "),
                ))
            }
            Some(Block::Deny(stage)) => Err(format!(
                "Tool \"{tool}\" is not allowed by {key}.deny. Fix: remove \"{tool}\" from {key}.deny (or its group), \
                 or run it from an agent whose tools allow it.",
                key = stage.key,
            )),
            Some(Block::Allow(stage)) => Err(format!(
                "Tool \"{tool}\" is not allowed by {key}.allow. Fix: add \"{tool}\" to {key}.allow (or set it to [] to \
                 allow all), or run it from an agent whose tools allow it.",
                key = stage.key,
            )),
        }
    }

    /// The first stage that refuses the built-in `tool`, if any.
    fn block(&self, tool: &str) -> Option<Block<'_>> {
        for stage in &self.stages {
            match &stage.rule {
                Rule::Profile { profile, allow } => {
                    if !matches_any(tool, allow) {
                        return Some(Block::Profile(stage, *profile));
                    }
                }
                Rule::Lists { allow, deny } => {
                    if matches_any(tool, deny) {
                        return Some(Block::Deny(stage));
                    }
                    if !allow.is_empty() && !matches_any(tool, allow) {
                        return Some(Block::Allow(stage));
                    }
                }
            }
        }
        if self.sandboxed() && !sandbox_policy::is_allowed(&self.sandbox, tool) {
            return Some(Block::Sandbox);
        }
        None
    }
}

// ---------------------------------------------------------------------------
// Private helpers.

const PROFILES: &[(ToolProfile, &str)] = &[
    (ToolProfile::Full, "full"),
    (ToolProfile::Coding, "coding"),
    (ToolProfile::Messaging, "messaging"),
    (ToolProfile::Minimal, "minimal"),
];

/// A profile's allow list (reference §2.5, docs of Apr 2026); `None` for
/// `full`, which restricts nothing.
fn profile_allow(profile: ToolProfile) -> Option<&'static [&'static str]> {
    match profile {
        ToolProfile::Full => None,
        ToolProfile::Coding => Some(&[
            "group:fs",
            "group:runtime",
            "group:web",
            "group:sessions",
            "group:memory",
            "cron",
            "image",
            "image_generate",
        ]),
        ToolProfile::Messaging => {
            Some(&["group:messaging", "sessions_list", "sessions_history", "sessions_send", "session_status"])
        }
        ToolProfile::Minimal => Some(&["session_status"]),
    }
}

fn profile_name(profile: ToolProfile) -> &'static str {
    PROFILES.iter().find(|(p, _)| *p == profile).map(|(_, n)| *n).unwrap_or("full")
}

fn profile_allows(profile: ToolProfile, tool: &str) -> bool {
    match profile_allow(profile) {
        None => true,
        Some(list) => matches_any(tool, &expand_groups(&owned(list))),
    }
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn push_profile(stages: &mut Vec<Stage>, profile: Option<(ToolProfile, String)>) {
    if let Some((profile, key)) = profile
        && let Some(list) = profile_allow(profile)
    {
        stages.push(Stage { key, rule: Rule::Profile { profile, allow: expand_groups(&owned(list)) } });
    }
}

fn push_lists(stages: &mut Vec<Stage>, key: String, lists: &ToolLists) {
    let allow = expand_groups(lists.allow.as_deref().unwrap_or_default());
    let deny = expand_groups(lists.deny.as_deref().unwrap_or_default());
    if !allow.is_empty() || !deny.is_empty() {
        stages.push(Stage { key, rule: Rule::Lists { allow, deny } });
    }
}

/// The `byProvider` entry of `block` for `provider` and its key as written:
/// keys and the provider are compared trimmed and lower-cased; a
/// `provider/model` argument tries its whole key first.
fn by_provider<'a>(block: &'a PolicyBlock, provider: &str) -> Option<(&'a str, &'a PolicyBlock)> {
    let wanted = provider.trim().to_lowercase();
    if wanted.is_empty() {
        return None;
    }
    let mut candidates = vec![wanted.as_str()];
    if let Some((head, _)) = wanted.split_once('/') {
        candidates.push(head);
    }
    candidates.into_iter().find_map(|c| {
        block.by_provider.iter().find(|(k, _)| k.trim().to_lowercase() == c).map(|(k, b)| (k.as_str(), b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: serde_json::Value) -> Config {
        crate::config::model::from_json_for_tests(value)
    }

    fn offered(c: &Config, agent: &str, provider: &str, session: &str) -> Vec<&'static str> {
        resolve(c, agent, provider, session).offered()
    }

    const MAIN: &str = "agent:main:main";

    #[test]
    fn agent_by_provider_is_read_from_the_config_file() {
        let c = config(json!({"agents": {"list": [{"id": "main", "tools": {"byProvider": {"openai": {"deny": ["exec"]}}}}]}}));
        assert!(!offered(&c, "main", "openai", MAIN).contains(&"exec"));
        assert!(offered(&c, "main", "anthropic", MAIN).contains(&"exec"));
    }

    #[test]
    fn no_policy_offers_everything() {
        let c = config(json!({}));
        let e = resolve(&c, "main", "openai", MAIN);
        assert!(!e.sandboxed());
        assert_eq!(e.offered(), BUILTIN_TOOLS);
        for tool in BUILTIN_TOOLS {
            assert_eq!(e.check(tool), Ok(()), "{tool}");
        }
        assert_eq!(e.check(" BASH "), Ok(()), "alias of exec");
        assert_eq!(e.check("Apply-Patch"), Ok(()));
    }

    #[test]
    fn profiles() {
        let with = |p: &str| config(json!({"tools": {"profile": p}}));
        assert_eq!(offered(&with("full"), "main", "", MAIN), BUILTIN_TOOLS);
        assert_eq!(offered(&with("coding"), "main", "", MAIN), BUILTIN_TOOLS);
        assert_eq!(
            offered(&with("messaging"), "main", "", MAIN),
            ["sessions_list", "sessions_history", "sessions_send", "session_status"]
        );
        assert_eq!(offered(&with("minimal"), "main", "", MAIN), ["session_status"]);
        let e = resolve(&with("messaging"), "main", "", MAIN);
        assert_eq!(
            e.check("exec").unwrap_err(),
            "Tool \"exec\" is not allowed by tools.profile (\"messaging\"). Fix: set tools.profile to a profile that \
             includes it (\"full\" or \"coding\"), or run it from an agent whose tools allow it."
        );
        let e = resolve(&with("minimal"), "main", "", MAIN);
        let err = e.check("sessions_send").unwrap_err();
        assert!(err.contains("(\"full\" or \"coding\" or \"messaging\")"), "{err}");
    }

    #[test]
    fn deny_wins_and_empty_allow_allows_all() {
        let c = config(json!({"tools": {"allow": ["exec", "read"], "deny": ["exec"]}}));
        let e = resolve(&c, "main", "", MAIN);
        assert_eq!(e.offered(), ["read"]);
        assert_eq!(
            e.check("exec").unwrap_err(),
            "Tool \"exec\" is not allowed by tools.deny. Fix: remove \"exec\" from tools.deny (or its group), \
             or run it from an agent whose tools allow it."
        );
        assert_eq!(
            e.check("write").unwrap_err(),
            "Tool \"write\" is not allowed by tools.allow. Fix: add \"write\" to tools.allow (or set it to [] to \
             allow all), or run it from an agent whose tools allow it."
        );
        let empty = config(json!({"tools": {"allow": [], "deny": []}}));
        assert_eq!(offered(&empty, "main", "", MAIN), BUILTIN_TOOLS);
        let blank = config(json!({"tools": {"allow": ["  "]}}));
        assert_eq!(offered(&blank, "main", "", MAIN), BUILTIN_TOOLS, "blank entries are dropped");
    }

    #[test]
    fn groups_aliases_and_globs() {
        let c = config(json!({"tools": {"allow": ["group:fs", "BASH"], "deny": ["apply-patch"]}}));
        assert_eq!(offered(&c, "main", "", MAIN), ["exec", "read", "write", "edit"]);
        let c = config(json!({"tools": {"deny": ["group:sessions", "group:runtime"]}}));
        assert_eq!(offered(&c, "main", "", MAIN), ["read", "write", "edit", "apply_patch"]);
        let c = config(json!({"tools": {"allow": ["session*", "*_patch"]}}));
        assert_eq!(
            offered(&c, "main", "", MAIN),
            ["apply_patch", "sessions_list", "sessions_history", "sessions_send", "sessions_spawn", "session_status"]
        );
        let c = config(json!({"tools": {"allow": ["*"], "deny": ["sessions_*"]}}));
        assert_eq!(
            offered(&c, "main", "", MAIN),
            ["exec", "process", "read", "write", "edit", "apply_patch", "session_status"]
        );
        let c = config(json!({"tools": {"deny": ["*"]}}));
        let e = resolve(&c, "main", "", MAIN);
        assert!(e.offered().is_empty());
        assert_eq!(e.check("exec").unwrap_err().lines().count(), 1);
    }

    #[test]
    fn by_provider_applies_to_its_provider_only() {
        let c = config(json!({"tools": {
            "deny": ["process"],
            "byProvider": {
                "OpenAI": {"deny": ["exec"]},
                "anthropic": {"profile": "minimal"},
                "google/gemini-pro": {"allow": ["read"]},
            },
        }}));
        let e = resolve(&c, "main", "openai", MAIN);
        assert_eq!(
            e.offered(),
            [
                "read",
                "write",
                "edit",
                "apply_patch",
                "sessions_list",
                "sessions_history",
                "sessions_send",
                "sessions_spawn",
                "session_status"
            ]
        );
        assert_eq!(
            e.check("exec").unwrap_err(),
            "Tool \"exec\" is not allowed by tools.byProvider.OpenAI.deny. Fix: remove \"exec\" from \
             tools.byProvider.OpenAI.deny (or its group), or run it from an agent whose tools allow it."
        );
        assert!(e.check("process").unwrap_err().contains("by tools.deny."), "the global stage comes first");
        assert_eq!(offered(&c, "main", "anthropic", MAIN), ["session_status"]);
        let err = resolve(&c, "main", "anthropic", MAIN).check("read").unwrap_err();
        assert!(
            err.starts_with("Tool \"read\" is not allowed by tools.byProvider.anthropic.profile (\"minimal\")."),
            "{err}"
        );
        assert_eq!(offered(&c, "main", "google/gemini-pro", MAIN), ["read"], "a model key matches first");
        assert_eq!(offered(&c, "main", "google", MAIN).len(), 10, "only the global deny");
        assert_eq!(offered(&c, "main", "", MAIN).len(), 10, "no provider, no byProvider entry");
        assert_eq!(offered(&c, "main", "mistral", MAIN).len(), 10);
    }

    #[test]
    fn per_agent_policy() {
        let mut c = config(json!({
            "tools": {"profile": "messaging", "deny": ["sessions_send"]},
            "agents": {"list": [
                {"id": "main"},
                {"id": "coder", "tools": {"profile": "coding", "deny": ["group:sessions"]}},
                {"id": "reader", "tools": {"allow": ["read", "sessions_*"]}},
                {"id": "open", "tools": {"profile": "full"}},
            ]},
        }));
        assert_eq!(offered(&c, "main", "", MAIN), ["sessions_list", "sessions_history", "session_status"]);
        // The agent's profile replaces the global one (upstream); the global
        // deny still applies.
        assert_eq!(
            offered(&c, "coder", "", "agent:coder:main"),
            ["exec", "process", "read", "write", "edit", "apply_patch"]
        );
        let e = resolve(&c, "Coder", "", "agent:coder:main");
        assert!(e.check("sessions_list").unwrap_err().contains("by agents.list[].tools.deny."));
        // An agent allow list narrows what the global stages let through,
        // and cannot re-enable the global deny.
        assert_eq!(offered(&c, "reader", "", "agent:reader:main"), ["sessions_list", "sessions_history"]);
        let e = resolve(&c, "reader", "", "agent:reader:main");
        assert!(e.check("sessions_send").unwrap_err().contains("by tools.deny."));
        assert_eq!(
            e.check("read").unwrap_err(),
            "Tool \"read\" is not allowed by tools.profile (\"messaging\"). Fix: set tools.profile to a profile that \
             includes it (\"full\" or \"coding\"), or run it from an agent whose tools allow it."
        );
        assert_eq!(offered(&c, "open", "", "agent:open:main").len(), 10, "full: everything but the global deny");
        assert_eq!(
            offered(&c, "ghost", "", "agent:ghost:main"),
            offered(&c, "main", "", MAIN),
            "unknown agent: global"
        );

        // agents.list[].tools.byProvider (not read from the file by this
        // build's config reader, but honoured when present).
        let coder = c.agents.list.iter_mut().find(|a| a.id == "coder").unwrap();
        let mut block = PolicyBlock::default();
        block.lists.deny = Some(vec!["write".into()]);
        block.profile = Some(ToolProfile::Minimal);
        coder.tools.by_provider.insert("openai".into(), block);
        let e = resolve(&c, "coder", "openai", "agent:coder:main");
        assert!(e.offered().is_empty());
        let err = e.check("exec").unwrap_err();
        assert!(
            err.starts_with(
                "Tool \"exec\" is not allowed by agents.list[].tools.byProvider.openai.profile (\"minimal\")."
            ),
            "{err}"
        );
        assert_eq!(offered(&c, "coder", "anthropic", "agent:coder:main").len(), 6);
    }

    #[test]
    fn sandboxed_session_is_blocked_with_upstreams_text() {
        let c = config(json!({
            "agents": {"defaults": {"sandbox": {"mode": "non-main"}}},
            "tools": {"sandbox": {"tools": {"deny": ["sessions_spawn"]}}},
        }));
        let group = "agent:main:telegram:group:42";
        let e = resolve(&c, "main", "openai", group);
        assert!(e.sandboxed());
        assert_eq!(e.offered().len(), 10);
        assert_eq!(
            e.check("sessions_spawn").unwrap_err(),
            "Tool \"sessions_spawn\" blocked by sandbox tool policy (mode=non-main).\n\
             Session: agent:main:telegram:group:42\n\
             Reason: deny list\n\
             Fix:\n\
             - agents.defaults.sandbox.mode=off (disable sandbox)\n\
             - Remove \"sessions_spawn\" from tools.sandbox.tools.deny.\n\
             - Use main session key (direct): agent:main:main\n\
             - See: openclaw sandbox explain --session agent:main:telegram:group:42"
        );
        assert_eq!(
            e.check("sessions_spawn").unwrap_err(),
            crate::sandbox::policy::blocked_message_for(&c, group, "sessions_spawn").unwrap()
        );
        // The main session is not sandboxed: the sandbox stage does not apply.
        let main = resolve(&c, "main", "openai", MAIN);
        assert!(!main.sandboxed());
        assert_eq!(main.offered(), BUILTIN_TOOLS);
        assert_eq!(main.check("sessions_spawn"), Ok(()));
        assert!(resolve(&c, "main", "", "main").check("sessions_spawn").is_ok(), "bare main key");
    }

    #[test]
    fn sandbox_mode_all_and_agent_allow_list() {
        let c = config(json!({
            "agents": {"list": [{"id": "work", "sandbox": {"mode": "all"},
                "tools": {"sandbox": {"tools": {"allow": ["group:fs"], "deny": []}}}}]},
        }));
        let e = resolve(&c, "work", "", "agent:work:main");
        assert!(e.sandboxed(), "mode all: the main session too");
        assert_eq!(e.offered(), ["read", "write", "edit", "apply_patch"]);
        assert_eq!(
            e.check("exec").unwrap_err(),
            "Tool \"exec\" blocked by sandbox tool policy (mode=all).\n\
             Session: agent:work:main\n\
             Reason: allow list\n\
             Fix:\n\
             - agents.defaults.sandbox.mode=off (disable sandbox)\n\
             - Add \"exec\" to agents.list[].tools.sandbox.tools.allow (or set it to [] to allow all).\n\
             - See: openclaw sandbox explain --session agent:work:main"
        );
    }

    #[test]
    fn sandbox_cannot_re_enable_a_global_deny() {
        let c = config(json!({
            "agents": {"defaults": {"sandbox": {"mode": "all"}}},
            "tools": {"deny": ["exec"], "sandbox": {"tools": {"allow": ["*"], "deny": []}}},
        }));
        let e = resolve(&c, "main", "", MAIN);
        assert!(e.sandboxed());
        assert!(!e.offered().contains(&"exec"));
        assert!(e.check("exec").unwrap_err().starts_with("Tool \"exec\" is not allowed by tools.deny."));
        assert_eq!(e.offered().len(), 10);
    }

    #[test]
    fn default_sandbox_policy_allows_every_builtin() {
        let c = config(json!({"agents": {"defaults": {"sandbox": {"mode": "all"}}}}));
        assert_eq!(offered(&c, "main", "", MAIN), BUILTIN_TOOLS);
    }

    #[test]
    fn unknown_tools() {
        let c = config(json!({"tools": {"profile": "minimal"}}));
        let e = resolve(&c, "main", "", MAIN);
        assert_eq!(e.check(" Browser ").unwrap_err(), "Tool \"Browser\" not found. Available tools: session_status.");
        let c = config(json!({"tools": {"allow": ["exec", "read"]}}));
        let e = resolve(&c, "main", "", MAIN);
        assert_eq!(e.check("web_fetch").unwrap_err(), "Tool \"web_fetch\" not found. Available tools: exec, read.");
        let none = resolve(&config(json!({"tools": {"deny": ["*"]}})), "main", "", MAIN);
        assert_eq!(none.check("").unwrap_err(), "Tool \"\" not found. Available tools: (none).");
    }

    #[test]
    fn http_deny_defaults() {
        let c = config(json!({}));
        for tool in ["exec", "apply_patch", "sessions_spawn", "sessions_send", "gateway", "cron", "nodes"] {
            assert!(!http_invoke_allowed(&c, tool), "{tool}");
        }
        assert!(!http_invoke_allowed(&c, " EXEC "), "normalized");
        assert!(!http_invoke_allowed(&c, "bash"), "alias of exec");
        assert!(!http_invoke_allowed(&c, ""), "blank");
        for tool in
            ["process", "read", "write", "edit", "sessions_list", "sessions_history", "session_status", "browser"]
        {
            assert!(http_invoke_allowed(&c, tool), "{tool}");
        }
    }

    #[test]
    fn http_deny_overrides() {
        let c = config(json!({"gateway": {"tools": {
            "allow": ["sessions_spawn", "Exec", "group:sessions", "apply_*"],
            "deny": ["read", "group:runtime"],
        }}}));
        assert!(http_invoke_allowed(&c, "sessions_spawn"), "removed from the default deny");
        assert!(!http_invoke_allowed(&c, "exec"), "allowed back, but gateway.tools.deny (group) wins");
        assert!(!http_invoke_allowed(&c, "process"), "denied through its group");
        assert!(!http_invoke_allowed(&c, "read"));
        assert!(!http_invoke_allowed(&c, "sessions_send"), "a group in allow removes nothing");
        assert!(!http_invoke_allowed(&c, "apply_patch"), "a glob in allow removes nothing");
        assert!(http_invoke_allowed(&c, "write"), "allow is not an allow list");
        let globbed = config(json!({"gateway": {"tools": {"deny": ["session*", "*"]}}}));
        assert!(!http_invoke_allowed(&globbed, "session_status"));
        assert!(!http_invoke_allowed(&globbed, "write"));
    }
}
