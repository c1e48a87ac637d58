//! Which model an agent talks to: model refs (`provider/model`), the primary and
//! its fallbacks, and each provider's endpoint and key (reference §9).
//!
//! A provider is either configured (`models.providers.<id>`) or one of the
//! built-ins below (used when the config does not name it, unless
//! `models.mode` is `replace`). The key comes from the provider's
//! `<ID>_API_KEY` environment variable, else `models.providers.<id>.apiKey`
//! (upstream's order after auth profiles, which we do not read yet).

use crate::agent::provider::{Api, Endpoint};
use crate::config::Config;
use crate::config::model::{ModelChoice, ProviderApi};
use crate::paths::Env;

/// Built-in providers: id, API, base URL, whether a key is needed.
const BUILTIN: &[(&str, Api, &str, bool)] = &[
    ("openai", Api::OpenAiCompletions, "https://api.openai.com/v1", true),
    ("anthropic", Api::AnthropicMessages, "https://api.anthropic.com", true),
    ("openrouter", Api::OpenAiCompletions, "https://openrouter.ai/api/v1", true),
    ("ollama", Api::OpenAiCompletions, "http://127.0.0.1:11434/v1", false),
];

/// Used when no model is configured but a key for the provider is in the environment.
const ENV_DEFAULTS: &[(&str, &str)] =
    &[("ANTHROPIC_API_KEY", "anthropic/claude-sonnet-4-5"), ("OPENAI_API_KEY", "openai/gpt-4.1-mini")];

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
/// whose key is in the environment. Empty when none applies.
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
        match endpoint(config, env, &r) {
            Ok(ep) => plan.endpoints.push(ep),
            Err(e) => plan.problems.push(e),
        }
    }
    plan
}

/// One model ref as an endpoint.
pub fn endpoint(config: &Config, env: &Env, model_ref: &str) -> Result<Endpoint, String> {
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
                Some(other) => {
                    return Err(format!(
                        "models.providers.{provider}.api is {other:?}, which this gateway does not speak; \
                         use \"openai-completions\" or \"anthropic-messages\""
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
    let from_env = env.get(&ep.key_env_var()).filter(|k| !k.trim().is_empty()).cloned();
    let from_config = match configured.and_then(|p| p.api_key.as_ref()) {
        Some(s) => Some(s.value(env).map_err(|e| format!("models.providers.{provider}.apiKey: {e}"))?),
        None => None,
    };
    ep.api_key = from_env.or(from_config).filter(|k| !k.trim().is_empty());
    if ep.api_key.is_none() && needs_key {
        return Err(format!(
            "no API key for provider \"{provider}\": set {} or models.providers.{provider}.apiKey \
             (or run `openclaw onboard`)",
            ep.key_env_var()
        ));
    }
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

    #[test]
    fn ollama_needs_no_key_and_bare_ids_are_anthropic() {
        let c = config_from("{}");
        assert!(endpoint(&c, &env(&[]), "ollama/llama3").is_ok());
        assert_eq!(split_ref("claude-x"), ("anthropic".into(), "claude-x".into()));
        assert!(endpoint(&c, &env(&[]), "openai/").unwrap_err().contains("no model id"));
    }
}
