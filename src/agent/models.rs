//! Which model an agent talks to: model refs (`provider/model`), the primary and
//! its fallbacks, and each provider's endpoint and key (reference §9).
//!
//! A provider is either configured (`models.providers.<id>`) or one of the
//! built-ins below (used when the config does not name it, unless
//! `models.mode` is `replace`). The key comes from the agent's auth profiles
//! (`crate::auth`), else the provider's `<ID>_API_KEY` environment variable,
//! else `models.providers.<id>.apiKey` (upstream's order). `openai-codex`
//! models go to the ChatGPT Codex backend with the OpenAI Codex sign-in
//! (`openclaw onboard --auth-choice openai-codex`), refreshed when it is
//! about to expire.

use crate::agent::provider::{Api, Endpoint};
use crate::auth;
use crate::config::Config;
use crate::config::model::{ModelChoice, ProviderApi};
use crate::paths::Env;

/// The ChatGPT backend the Codex models are served from (`OPENCLAW_CODEX_BASE_URL` moves it).
const CODEX_BASE_URL: &str = "https://chatgpt.com/backend-api";

/// Built-in providers: id, API, base URL, whether a key is needed.
const BUILTIN: &[(&str, Api, &str, bool)] = &[
    ("openai", Api::OpenAiCompletions, "https://api.openai.com/v1", true),
    ("anthropic", Api::AnthropicMessages, "https://api.anthropic.com", true),
    ("openrouter", Api::OpenAiCompletions, "https://openrouter.ai/api/v1", true),
    ("ollama", Api::OpenAiCompletions, "http://127.0.0.1:11434/v1", false),
    (auth::codex::PROVIDER, Api::OpenAiCodexResponses, CODEX_BASE_URL, true),
];

/// The default model of each provider onboarding can set up.
pub const DEFAULT_ANTHROPIC_MODEL: &str = "anthropic/claude-sonnet-4-5";
pub const DEFAULT_OPENAI_MODEL: &str = "openai/gpt-4.1-mini";
pub const DEFAULT_CODEX_MODEL: &str = "openai-codex/gpt-5.2";

/// Used when no model is configured but a key for the provider is in the environment.
const ENV_DEFAULTS: &[(&str, &str)] = &[("ANTHROPIC_API_KEY", DEFAULT_ANTHROPIC_MODEL), ("OPENAI_API_KEY", DEFAULT_OPENAI_MODEL)];
/// Used when no model is configured but the agent has an auth profile for the provider.
const PROFILE_DEFAULTS: &[(&str, &str)] =
    &[("anthropic", DEFAULT_ANTHROPIC_MODEL), ("openai", DEFAULT_OPENAI_MODEL), (auth::codex::PROVIDER, DEFAULT_CODEX_MODEL)];

/// What a turn should call, in order: the primary, then the fallbacks.
#[derive(Debug, Clone)]
pub struct Plan {
    pub endpoints: Vec<Endpoint>,
    /// Refs that could not be used (unknown provider, missing key), with why;
    /// the turn's error when no endpoint is left.
    pub problems: Vec<String>,
}

/// The reply when nothing can be called.
pub fn not_configured_message() -> String {
    "No model provider is configured, so the agent cannot answer. Run `openclaw onboard` to set one up, \
     or add one to openclaw.json: models.providers.<id> = {baseUrl, apiKey, api: \"openai-completions\" | \
     \"anthropic-messages\", models: [{id}]} and agents.defaults.model = \"<id>/<model>\" \
     (or set OPENAI_API_KEY / ANTHROPIC_API_KEY)."
        .to_string()
}

/// The model refs of `agent_id`: its own `model`, else `agents.defaults.model`,
/// else the first configured provider's first model, else a built-in default
/// the agent has an auth profile for, else one whose key is in the
/// environment. Empty when none applies.
pub fn refs_for(config: &Config, env: &Env, agent_id: &str) -> Vec<String> {
    let choice: Option<&ModelChoice> =
        config.agent(agent_id).and_then(|a| a.model.as_ref()).or(config.agents.defaults.model.as_ref());
    if let Some(c) = choice
        && let Some(primary) = c.primary.as_deref().filter(|p| !p.trim().is_empty())
    {
        let mut refs = vec![resolve_alias(config, primary)];
        for f in &c.fallbacks {
            let f = resolve_alias(config, f);
            if !f.trim().is_empty() && !refs.contains(&f) {
                refs.push(f);
            }
        }
        return refs;
    }
    if let Some((id, p)) = config.models.providers.iter().find(|(_, p)| !p.models.is_empty()) {
        return vec![format!("{id}/{}", p.models[0].id)];
    }
    let with_profiles = auth::providers(config, agent_id);
    if let Some((_, r)) = PROFILE_DEFAULTS.iter().find(|(p, _)| with_profiles.iter().any(|w| w == p)) {
        return vec![r.to_string()];
    }
    ENV_DEFAULTS
        .iter()
        .find(|(var, _)| env.get(*var).is_some_and(|v| !v.trim().is_empty()))
        .map(|(_, r)| vec![r.to_string()])
        .unwrap_or_default()
}

/// The endpoints for `agent_id` (see [`refs_for`]).
pub fn plan(config: &Config, env: &Env, agent_id: &str) -> Plan {
    let mut plan = Plan { endpoints: Vec::new(), problems: Vec::new() };
    for r in refs_for(config, env, agent_id) {
        match endpoint(config, env, agent_id, &r) {
            Ok(ep) => plan.endpoints.push(ep),
            Err(e) => plan.problems.push(e),
        }
    }
    plan
}

/// One model ref as an endpoint, with `agent_id`'s credentials.
pub fn endpoint(config: &Config, env: &Env, agent_id: &str, model_ref: &str) -> Result<Endpoint, String> {
    let (provider, model) = split_ref(model_ref);
    if model.is_empty() {
        return Err(format!("model \"{model_ref}\" has no model id; write it as \"<provider>/<model>\""));
    }
    let configured = config.models.providers.get(&provider);
    let builtin =
        if config.models.replace { None } else { BUILTIN.iter().find(|(id, ..)| *id == provider) };
    let (api, base_url, needs_key, headers) = match (configured, builtin) {
        (Some(p), b) => {
            let model_api = p.models.iter().find(|m| m.id == model).and_then(|m| m.api);
            let api = match model_api.or(p.api) {
                Some(ProviderApi::OpenAiCompletions) => Api::OpenAiCompletions,
                Some(ProviderApi::AnthropicMessages) => Api::AnthropicMessages,
                Some(ProviderApi::OpenAiResponses) if b.is_some_and(|b| b.1 == Api::OpenAiCodexResponses) => {
                    Api::OpenAiCodexResponses
                }
                Some(ProviderApi::OpenAiResponses) => Api::OpenAiResponses,
                Some(other) => {
                    return Err(format!(
                        "models.providers.{provider}.api is {other:?}, which this gateway does not speak; \
                         use \"openai-completions\", \"openai-responses\" or \"anthropic-messages\""
                    ));
                }
                None => b.map(|b| b.1).unwrap_or(if provider == "anthropic" {
                    Api::AnthropicMessages
                } else {
                    Api::OpenAiCompletions
                }),
            };
            let base = if p.base_url.trim().is_empty() { b.map(|b| b.2.to_string()).unwrap_or_default() } else { p.base_url.clone() };
            let headers: Vec<(String, String)> = p.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            // A provider of one's own (a local server) may need no key.
            (api, base, b.is_some_and(|b| b.3), headers)
        }
        (None, Some(b)) => (b.1, b.2.to_string(), b.3, Vec::new()),
        (None, None) => {
            return Err(format!(
                "model \"{model_ref}\": unknown provider \"{provider}\"; add models.providers.{provider} \
                 {{baseUrl, apiKey, api}} to openclaw.json or run `openclaw onboard`"
            ));
        }
    };
    if base_url.trim().is_empty() {
        return Err(format!("models.providers.{provider}.baseUrl is empty; set it to the provider's API URL"));
    }
    let mut ep = Endpoint { provider: provider.clone(), api, base_url, api_key: None, model, headers };
    if api == Api::OpenAiCodexResponses {
        return codex_endpoint(config, env, agent_id, ep, configured.is_some_and(|p| !p.base_url.trim().is_empty()));
    }
    // Upstream's order: the agent's auth profiles, the environment, the config.
    let profile = auth::resolve(config, env, agent_id, &provider);
    let from_env = env.get(&ep.key_env_var()).filter(|k| !k.trim().is_empty()).cloned();
    let from_config = match configured.and_then(|p| p.api_key.as_ref()) {
        Some(s) => Some(s.value(env).map_err(|e| format!("models.providers.{provider}.apiKey: {e}"))?),
        None => None,
    };
    ep.api_key = match profile {
        Ok(Some(r)) => Some(r.secret),
        Ok(None) => from_env.or(from_config),
        Err(e) if from_env.is_none() && from_config.is_none() => return Err(e),
        Err(e) => {
            log::warn!("{e}; using the key from the environment or the config instead");
            from_env.or(from_config)
        }
    }
    .filter(|k| !k.trim().is_empty());
    if ep.api_key.is_none() && needs_key {
        return Err(format!(
            "no API key for provider \"{provider}\": set {} or models.providers.{provider}.apiKey \
             (or run `openclaw onboard`)",
            ep.key_env_var()
        ));
    }
    Ok(ep)
}

/// An `openai-codex` model: the ChatGPT Codex backend with the agent's
/// OpenAI Codex sign-in (refreshed when about to expire) and its account id.
fn codex_endpoint(config: &Config, env: &Env, agent_id: &str, mut ep: Endpoint, configured_base: bool) -> Result<Endpoint, String> {
    if !configured_base && let Some(u) = env.get("OPENCLAW_CODEX_BASE_URL").filter(|u| !u.trim().is_empty()) {
        ep.base_url = u.trim().to_string();
    }
    let signed_in = auth::resolve(config, env, agent_id, &ep.provider)?.ok_or_else(|| {
        format!(
            "model \"{}/{}\" needs an OpenAI Codex (ChatGPT) sign-in for agent \"{agent_id}\": run `openclaw onboard --auth-choice openai-codex`",
            ep.provider, ep.model
        )
    })?;
    let account = signed_in
        .account_id
        .or_else(|| auth::codex::account_id(&signed_in.secret))
        .ok_or_else(|| format!("auth profile \"{}\" has no ChatGPT account id; sign in again with `openclaw onboard --auth-choice openai-codex`", signed_in.profile_id))?;
    let ours = [("chatgpt-account-id", account), ("OpenAI-Beta", "responses=experimental".to_string()), ("originator", "openclaw".to_string())];
    for (k, v) in ours.into_iter().rev() {
        if !ep.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)) {
            ep.headers.insert(0, (k.to_string(), v));
        }
    }
    ep.api_key = Some(signed_in.secret);
    Ok(ep)
}

/// `provider/model`; a bare model id is an Anthropic model (upstream's default provider).
pub fn split_ref(model_ref: &str) -> (String, String) {
    let r = model_ref.trim();
    match r.split_once('/') {
        Some((p, m)) => (p.trim().to_lowercase(), m.trim().to_string()),
        None => ("anthropic".to_string(), r.to_string()),
    }
}

/// `agents.defaults.models` maps refs to aliases; an alias names its ref.
fn resolve_alias(config: &Config, r: &str) -> String {
    let r = r.trim();
    config
        .agents
        .defaults
        .models
        .iter()
        .find(|(_, alias)| alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(r)))
        .map(|(key, _)| key.clone())
        .unwrap_or_else(|| r.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_from(text: &str) -> Config {
        crate::config::model::from_json_for_tests(json5::from_str(text).unwrap())
    }

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn nothing_configured_gives_no_refs_and_a_fix() {
        let c = config_from("{}");
        assert!(plan(&c, &env(&[]), "main").endpoints.is_empty());
        assert!(not_configured_message().contains("openclaw onboard"));
    }

    #[test]
    fn env_key_alone_picks_a_builtin_default() {
        let c = config_from("{}");
        let p = plan(&c, &env(&[("OPENAI_API_KEY", "sk-x")]), "main");
        assert_eq!(p.endpoints[0].provider, "openai");
        assert_eq!(p.endpoints[0].api_key.as_deref(), Some("sk-x"));
    }

    #[test]
    fn custom_provider_with_fallbacks_and_env_key_first() {
        let c = config_from(
            r#"{models: {providers: {
                 local: {baseUrl: "http://127.0.0.1:9/v1", apiKey: "cfg", api: "openai-completions", models: [{id: "m"}]},
                 claude: {baseUrl: "http://127.0.0.1:9", api: "anthropic-messages", models: [{id: "c"}]}}},
               agents: {defaults: {model: {primary: "local/m", fallbacks: ["claude/c", "nope/x"]}}}}"#,
        );
        let p = plan(&c, &env(&[("LOCAL_API_KEY", "from-env")]), "main");
        assert_eq!(p.endpoints.len(), 2, "{:?}", p.problems);
        assert_eq!(p.endpoints[0].api_key.as_deref(), Some("from-env"));
        assert_eq!(p.endpoints[1].api_key, None, "a provider of one's own may go without a key");
        assert!(p.problems[0].contains("unknown provider \"nope\""), "{:?}", p.problems);
        let p = plan(&config_from(r#"{agents: {defaults: {model: "anthropic/c"}}}"#), &env(&[]), "main");
        assert!(p.problems[0].contains("ANTHROPIC_API_KEY"), "{:?}", p.problems);
    }

    #[test]
    fn per_agent_model_and_alias() {
        let c = config_from(
            r#"{agents: {defaults: {model: "openai/a", models: {"anthropic/claude-x": {alias: "fast"}}},
                         list: [{id: "main"}, {id: "ops", model: "fast"}]}}"#,
        );
        assert_eq!(refs_for(&c, &env(&[]), "main"), vec!["openai/a"]);
        assert_eq!(refs_for(&c, &env(&[]), "ops"), vec!["anthropic/claude-x"]);
    }

    /// A config whose state folder is a fresh temporary one (auth profiles live there).
    fn with_state(tag: &str, json: serde_json::Value) -> (Config, std::path::PathBuf) {
        let d = std::env::temp_dir().join(format!("openclaw-models-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let paths = crate::paths::Paths { home: d.clone(), state_dir: d.clone(), config_path: d.join("openclaw.json") };
        let mut cx = crate::config::reader::Cx::default();
        let c = crate::config::model::read(&mut cx, &json, &paths);
        assert!(cx.issues.is_empty(), "{:?}", cx.issues);
        (c, d)
    }

    #[test]
    fn auth_profiles_come_before_the_environment() {
        let (c, d) = with_state("order", serde_json::json!({"agents": {"defaults": {"model": "openai/gpt-x"}}}));
        let e = env(&[("OPENAI_API_KEY", "sk-env")]);
        assert_eq!(plan(&c, &e, "main").endpoints[0].api_key.as_deref(), Some("sk-env"));
        let store = auth::file_for(&c, "main");
        auth::put(&store, "openai:default", serde_json::json!({"type": "api_key", "provider": "openai", "key": "sk-profile"})).unwrap();
        assert_eq!(plan(&c, &e, "main").endpoints[0].api_key.as_deref(), Some("sk-profile"));
        // A profile that cannot be used gives way to the environment, and is the error without it.
        auth::put(&store, "openai:default", serde_json::json!({"type": "api_key", "provider": "openai", "keyRef": {"source": "env", "id": "NOPE"}})).unwrap();
        assert_eq!(plan(&c, &e, "main").endpoints[0].api_key.as_deref(), Some("sk-env"));
        assert!(plan(&c, &env(&[]), "main").problems[0].contains("NOPE"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn codex_models_use_the_sign_in_and_the_backend() {
        let (c, d) = with_state("codex", serde_json::json!({}));
        assert!(refs_for(&c, &env(&[]), "main").is_empty());
        let err = endpoint(&c, &env(&[]), "main", "openai-codex/gpt-5.2").unwrap_err();
        assert!(err.contains("openclaw onboard --auth-choice openai-codex"), "{err}");
        let claims = serde_json::json!({"https://api.openai.com/auth": {"chatgpt_account_id": "acct-9"}});
        let access = format!("h.{}.s", crate::crypto::base64url_encode(claims.to_string().as_bytes()));
        let t = auth::codex::Tokens { access: access.clone(), refresh: "r".into(), expires: crate::now_ms() + 3_600_000, account_id: "acct-9".into() };
        auth::put(&auth::file_for(&c, "main"), auth::codex::PROFILE_ID, auth::codex_profile(&t)).unwrap();
        assert_eq!(refs_for(&c, &env(&[]), "main"), vec![DEFAULT_CODEX_MODEL]);
        let ep = endpoint(&c, &env(&[("OPENCLAW_CODEX_BASE_URL", "http://127.0.0.1:9/backend-api")]), "main", DEFAULT_CODEX_MODEL).unwrap();
        assert_eq!((ep.api, ep.base_url.as_str(), ep.model.as_str()), (Api::OpenAiCodexResponses, "http://127.0.0.1:9/backend-api", "gpt-5.2"));
        assert_eq!(ep.api_key.as_deref(), Some(access.as_str()));
        assert!(ep.headers.contains(&("chatgpt-account-id".to_string(), "acct-9".to_string())), "{:?}", ep.headers);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn ollama_needs_no_key_and_bare_ids_are_anthropic() {
        let c = config_from("{}");
        assert!(endpoint(&c, &env(&[]), "main", "ollama/llama3").is_ok());
        assert_eq!(split_ref("claude-x"), ("anthropic".into(), "claude-x".into()));
        assert!(endpoint(&c, &env(&[]), "main", "openai/").unwrap_err().contains("no model id"));
    }
}
