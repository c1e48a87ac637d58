//! The model/auth step of onboarding: which provider the agent uses and
//! where its credential is kept.
//!
//! - `openai-api-key`, `anthropic-api-key`: an API key profile
//!   (`openai:default`, `anthropic:default`) in the agent's
//!   `auth-profiles.json`, as the key itself or (`--secret-input-mode ref`, or
//!   a key found in the environment) as a reference to its variable.
//! - `openai-codex`: the ChatGPT sign-in ([`crate::auth::codex`]); the browser
//!   comes back to the local callback listener, or the user pastes the
//!   redirect URL (headless, Docker).
//! - `custom-api-key`, `ollama`: a `models.providers.<id>` entry in the config.
//!
//! Each sets `agents.defaults.model` when none is set or the current one is of
//! the same family, and records the profile in `auth.profiles` as upstream does.
//! Keys are never printed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::prompt::Raced;
use super::{Edits, Opts, Ui, set};
use crate::agent::models;
use crate::auth::{self, codex};
use crate::config::model::{Redacted, Secret, SecretSource};
use crate::gateway::callback::{Listener, Verdict};
use crate::paths::Env;

/// How long the sign-in waits for the browser or a pasted URL.
const LOGIN_WAIT: Duration = Duration::from_secs(300);
const SIGNED_IN_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Signed in</title></head>\
<body><p>Signed in to OpenClaw. You can close this tab and return to the terminal.</p></body></html>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Skip,
    OpenAiApiKey,
    AnthropicApiKey,
    OpenAiCodex,
    CustomApiKey,
    Ollama,
}

const CHOICES: &[(&str, Choice)] = &[
    ("skip", Choice::Skip),
    ("openai-api-key", Choice::OpenAiApiKey),
    ("anthropic-api-key", Choice::AnthropicApiKey),
    ("openai-codex", Choice::OpenAiCodex),
    ("custom-api-key", Choice::CustomApiKey),
    ("ollama", Choice::Ollama),
    // Upstream's older names.
    ("apiKey", Choice::AnthropicApiKey),
    ("codex-cli", Choice::OpenAiCodex),
];

impl Choice {
    pub fn parse(s: &str) -> Result<Choice, String> {
        CHOICES.iter().find(|(n, _)| *n == s.trim()).map(|(_, c)| *c).ok_or_else(|| {
            format!("Invalid --auth-choice \"{s}\" (use skip, openai-api-key, anthropic-api-key, openai-codex, custom-api-key or ollama).")
        })
    }

    pub fn as_str(self) -> &'static str {
        CHOICES.iter().find(|(_, c)| *c == self).map(|(n, _)| *n).unwrap_or("skip")
    }
}

/// The auth choice from `--auth-choice`, else from the key flags given.
pub fn from_flags(opts: &Opts) -> Result<Option<Choice>, String> {
    if let Some(c) = &opts.auth_choice {
        return Choice::parse(c).map(Some);
    }
    let given: Vec<Choice> = [
        (opts.openai_api_key.is_some(), Choice::OpenAiApiKey),
        (opts.anthropic_api_key.is_some(), Choice::AnthropicApiKey),
        (opts.custom_base_url.is_some() || opts.custom_model_id.is_some() || opts.custom_api_key.is_some(), Choice::CustomApiKey),
    ]
    .into_iter()
    .filter_map(|(on, c)| on.then_some(c))
    .collect();
    match given[..] {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err("Several providers' flags were given; pick one with --auth-choice.".into()),
    }
}

/// Asks which provider to set up.
pub fn ask(ui: &mut Ui, current_model: Option<&str>) -> Result<Choice, String> {
    let keep = match current_model {
        Some(m) => format!("Keep the current setup (model {m})"),
        None => "Skip for now".to_string(),
    };
    let options = [
        ("openai-api-key", "OpenAI API key", "OPENAI_API_KEY or paste a key"),
        ("anthropic-api-key", "Anthropic API key", "ANTHROPIC_API_KEY or paste a key"),
        ("openai-codex", "OpenAI Codex (ChatGPT sign-in)", "OAuth in a browser; works headless too"),
        ("custom-api-key", "Custom provider", "any OpenAI- or Anthropic-compatible URL"),
        ("ollama", "Ollama", "local models"),
        ("skip", keep.as_str(), ""),
    ];
    let default = if current_model.is_some() { "skip" } else { "openai-api-key" };
    let key = ui.prompter().select("Model/auth provider", &options, default).map_err(|e| e.to_string())?;
    Choice::parse(key)
}

/// What the step needs to know.
pub struct Cx<'a> {
    pub opts: &'a Opts,
    pub env: &'a Env,
    /// The config as written (before `${VAR}` substitution).
    pub raw: &'a Value,
    /// The agent's `auth-profiles.json`.
    pub store: std::path::PathBuf,
}

/// Applies `choice`: profiles are written now, config changes go to `edits`.
/// Returns a line for the summary.
pub fn apply(choice: Choice, cx: &Cx, ui: &mut Ui, edits: &mut Edits) -> Result<Option<String>, String> {
    match choice {
        Choice::Skip => Ok(None),
        Choice::OpenAiApiKey => api_key(cx, ui, edits, &KeyKind::OPENAI),
        Choice::AnthropicApiKey => api_key(cx, ui, edits, &KeyKind::ANTHROPIC),
        Choice::OpenAiCodex => codex_login(cx, ui, edits),
        Choice::CustomApiKey => custom(cx, ui, edits),
        Choice::Ollama => ollama(cx, ui, edits),
    }
}

struct KeyKind {
    provider: &'static str,
    label: &'static str,
    var: &'static str,
    flag: &'static str,
    model: &'static str,
    /// Current default models of these providers are replaced.
    family: &'static [&'static str],
}

impl KeyKind {
    const OPENAI: KeyKind = KeyKind {
        provider: "openai",
        label: "OpenAI API key",
        var: "OPENAI_API_KEY",
        flag: "--openai-api-key",
        model: models::DEFAULT_OPENAI_MODEL,
        family: &["openai", "openai-codex"],
    };
    const ANTHROPIC: KeyKind = KeyKind {
        provider: "anthropic",
        label: "Anthropic API key",
        var: "ANTHROPIC_API_KEY",
        flag: "--anthropic-api-key",
        model: models::DEFAULT_ANTHROPIC_MODEL,
        family: &["anthropic"],
    };
}

/// Keys are pasted; refuse what cannot be one.
pub fn check_key(k: &str) -> Result<(), String> {
    if k.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the key contains spaces or line breaks; paste only the key".into());
    }
    if k.len() > 4096 {
        return Err("the key is longer than 4096 characters".into());
    }
    Ok(())
}

fn env_ref(var: &str) -> Secret {
    Secret::Ref { source: SecretSource::Env, provider: "default".into(), id: var.to_string() }
}

fn api_key(cx: &Cx, ui: &mut Ui, edits: &mut Edits, kind: &KeyKind) -> Result<Option<String>, String> {
    let flag = match kind.provider {
        "openai" => cx.opts.openai_api_key.as_deref(),
        _ => cx.opts.anthropic_api_key.as_deref(),
    };
    let in_env = cx.env.get(kind.var).filter(|v| !v.trim().is_empty());
    let by_ref = cx.opts.secret_input_mode.as_deref() == Some("ref");
    let key = if by_ref {
        if in_env.is_none() {
            return Err(format!("--secret-input-mode ref stores a reference to {}, which is not set in this environment.", kind.var));
        }
        env_ref(kind.var)
    } else if let Some(k) = flag {
        check_key(k).map_err(|e| format!("{}: {e}", kind.flag))?;
        Secret::Inline(Redacted(k.to_string()))
    } else if !ui.interactive {
        match in_env {
            Some(k) => Secret::Inline(Redacted(k.clone())),
            None => return Err(format!("Missing {} (or set {}) for --auth-choice {}-api-key.", kind.flag, kind.var, kind.provider)),
        }
    } else if in_env.is_some()
        && ui.prompter().confirm(&format!("Use {} from the environment (saved as a reference, not a copy)?", kind.var), true).map_err(|e| e.to_string())?
    {
        env_ref(kind.var)
    } else {
        let k = ui.prompter().secret(kind.label, false, check_key).map_err(|e| e.to_string())?;
        Secret::Inline(Redacted(k))
    };
    let id = format!("{}:default", kind.provider);
    auth::put(&cx.store, &id, auth::api_key_profile(kind.provider, &key)).map_err(|e| e.to_string())?;
    set(edits, &format!("auth.profiles.{id}"), json!({"provider": kind.provider, "mode": "api_key"}));
    let model = default_model(cx, ui, edits, kind.model, Some(kind.family));
    let stored = match &key {
        Secret::Ref { id: var, .. } => format!("a reference to {var}"),
        _ => "the key".to_string(),
    };
    Ok(Some(format!("{}: {stored} saved in {} (profile {id}); {model}", kind.label, cx.store.display())))
}

/// Sets `agents.defaults.model` to `model` unless another family's model is
/// set (`family: None` always sets it). Returns a line for the summary.
fn default_model(cx: &Cx, ui: &mut Ui, edits: &mut Edits, model: &str, family: Option<&[&str]>) -> String {
    let current = &cx.raw["agents"]["defaults"]["model"];
    let (path, primary) = match current {
        Value::Object(_) => ("agents.defaults.model.primary", current["primary"].as_str()),
        _ => ("agents.defaults.model", current.as_str()),
    };
    let keep = match (primary, family) {
        (Some(p), Some(family)) if !p.trim().is_empty() => !family.contains(&models::split_ref(p).0.as_str()),
        _ => false,
    };
    if keep {
        let p = primary.unwrap_or_default();
        ui.say(&format!("Kept the default model {p}; to switch: openclaw config set {path} {model}"));
        return format!("default model kept: {p}");
    }
    set(edits, path, json!(model));
    format!("default model: {model}")
}

fn custom(cx: &Cx, ui: &mut Ui, edits: &mut Edits) -> Result<Option<String>, String> {
    let o = cx.opts;
    let url_check = |u: &str| {
        let u = u.trim().trim_end_matches('/');
        if (u.starts_with("http://") || u.starts_with("https://")) && u.len() > "http://".len() && !u.contains(char::is_whitespace) {
            Ok(u.to_string())
        } else {
            Err(format!("\"{u}\" is not an http:// or https:// URL"))
        }
    };
    let id = o.custom_provider_id.clone().unwrap_or_else(|| "custom".into());
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
        return Err(format!("Invalid --custom-provider-id \"{id}\" (use lower-case letters, digits, '-' and '_')."));
    }
    let base = match (&o.custom_base_url, ui.interactive) {
        (Some(u), _) => url_check(u).map_err(|e| format!("Invalid --custom-base-url: {e}."))?,
        (None, true) => ui.prompter().text("API base URL (e.g. http://127.0.0.1:8000/v1)", None, url_check).map_err(|e| e.to_string())?,
        (None, false) => return Err("Missing --custom-base-url for --auth-choice custom-api-key.".into()),
    };
    let api = match (o.custom_compatibility.as_deref(), ui.interactive) {
        (Some("openai"), _) => "openai-completions",
        (Some("anthropic"), _) => "anthropic-messages",
        (Some(other), _) => return Err(format!("Invalid --custom-compatibility \"{other}\" (use openai or anthropic).")),
        (None, false) => "openai-completions",
        (None, true) => {
            let options = [("openai", "OpenAI-compatible", "Chat Completions"), ("anthropic", "Anthropic-compatible", "Messages API")];
            match ui.prompter().select("API compatibility", &options, "openai").map_err(|e| e.to_string())? {
                "anthropic" => "anthropic-messages",
                _ => "openai-completions",
            }
        }
    };
    let model_check = |m: &str| {
        if m.trim().is_empty() || m.contains(char::is_whitespace) {
            Err("give the model id without spaces".to_string())
        } else {
            Ok(m.trim().to_string())
        }
    };
    let model = match (&o.custom_model_id, ui.interactive) {
        (Some(m), _) => model_check(m).map_err(|e| format!("Invalid --custom-model-id: {e}."))?,
        (None, true) => ui.prompter().text("Model id", None, model_check).map_err(|e| e.to_string())?,
        (None, false) => return Err("Missing --custom-model-id for --auth-choice custom-api-key.".into()),
    };
    let in_env = cx.env.get("CUSTOM_API_KEY").filter(|v| !v.trim().is_empty());
    let key: Option<Value> = if o.secret_input_mode.as_deref() == Some("ref") {
        in_env.ok_or("--secret-input-mode ref stores a reference to CUSTOM_API_KEY, which is not set in this environment.")?;
        Some(json!({"source": "env", "provider": "default", "id": "CUSTOM_API_KEY"}))
    } else if let Some(k) = &o.custom_api_key {
        check_key(k).map_err(|e| format!("--custom-api-key: {e}"))?;
        Some(json!(k))
    } else if ui.interactive {
        let k = ui.prompter().secret("API key (blank if the server needs none)", true, check_key).map_err(|e| e.to_string())?;
        (!k.is_empty()).then(|| json!(k))
    } else {
        in_env.map(|k| json!(k))
    };
    let path = format!("models.providers.{id}");
    set(edits, &format!("{path}.baseUrl"), json!(base));
    set(edits, &format!("{path}.api"), json!(api));
    match key {
        Some(k) => set(edits, &format!("{path}.apiKey"), k),
        None => edits.push((format!("{path}.apiKey"), None)),
    }
    set(edits, &format!("{path}.models"), json!(merged_models(&cx.raw["models"]["providers"][&id]["models"], &model)));
    let r = format!("{id}/{model}");
    let line = default_model(cx, ui, edits, &r, None);
    Ok(Some(format!("Custom provider {id} at {base} ({api}); {line}")))
}

/// The provider's model list with `model` added when missing.
fn merged_models(existing: &Value, model: &str) -> Vec<Value> {
    let mut list: Vec<Value> = existing.as_array().cloned().unwrap_or_default();
    if !list.iter().any(|m| m["id"] == model) {
        list.push(json!({"id": model}));
    }
    list
}

fn ollama(cx: &Cx, ui: &mut Ui, edits: &mut Edits) -> Result<Option<String>, String> {
    let o = cx.opts;
    let normalize = |u: &str| {
        let u = u.trim().trim_end_matches('/');
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.contains(char::is_whitespace) {
            return Err(format!("\"{u}\" is not an http:// or https:// URL"));
        }
        Ok(if u.ends_with("/v1") { u.to_string() } else { format!("{u}/v1") })
    };
    let base = match (&o.custom_base_url, ui.interactive) {
        (Some(u), _) => normalize(u).map_err(|e| format!("Invalid --custom-base-url: {e}."))?,
        (None, true) => ui.prompter().text("Ollama URL", Some("http://127.0.0.1:11434"), normalize).map_err(|e| e.to_string())?,
        (None, false) => "http://127.0.0.1:11434/v1".to_string(),
    };
    let listed = list_models(&base);
    let model = match (&o.custom_model_id, &listed) {
        (Some(m), _) if !m.trim().is_empty() && !m.contains(char::is_whitespace) => m.trim().to_string(),
        (Some(m), _) => return Err(format!("Invalid --custom-model-id \"{m}\".")),
        (None, Ok(ids)) if ui.interactive && !ids.is_empty() => {
            let options: Vec<(&str, &str, &str)> = ids.iter().map(|id| (id.as_str(), id.as_str(), "")).collect();
            ui.prompter().select("Model", &options, options[0].0).map_err(|e| e.to_string())?.to_string()
        }
        (None, Ok(ids)) if !ids.is_empty() => ids[0].clone(),
        (None, result) => {
            let why = match result {
                Ok(_) => "it lists no models (pull one: ollama pull llama3.1)".to_string(),
                Err(e) => e.clone(),
            };
            if !ui.interactive {
                return Err(format!("No Ollama model to use at {base}: {why}. Pass --custom-model-id <model>."));
            }
            ui.say(&format!("Could not list the models at {base}: {why}"));
            let check = |m: &str| if m.trim().is_empty() { Err("give a model id".to_string()) } else { Ok(m.trim().to_string()) };
            ui.prompter().text("Model id", Some("llama3.1"), check).map_err(|e| e.to_string())?
        }
    };
    set(edits, "models.providers.ollama.baseUrl", json!(base));
    set(edits, "models.providers.ollama.api", json!("openai-completions"));
    set(edits, "models.providers.ollama.models", json!(merged_models(&cx.raw["models"]["providers"]["ollama"]["models"], &model)));
    let line = default_model(cx, ui, edits, &format!("ollama/{model}"), None);
    Ok(Some(format!("Ollama at {base}; {line}")))
}

/// The model ids an OpenAI-compatible server lists (`GET {base}/models`, 5 s).
fn list_models(base: &str) -> Result<Vec<String>, String> {
    let config = crate::http_config().timeout_global(Some(Duration::from_secs(5))).build();
    let mut r = ureq::Agent::new_with_config(config).get(format!("{base}/models")).call().map_err(|e| e.to_string())?;
    if r.status().as_u16() != 200 {
        return Err(format!("HTTP {}", r.status().as_u16()));
    }
    let text = r.body_mut().with_config().limit(1 << 20).read_to_string().map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("not a model list: {e}"))?;
    Ok(v["data"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str().map(str::to_string)).collect())
}

fn codex_login(cx: &Cx, ui: &mut Ui, edits: &mut Edits) -> Result<Option<String>, String> {
    let ep = codex::Endpoints::from_env(cx.env)?;
    let login = codex::start(&ep).map_err(|e| format!("cannot start the sign-in: {e}"))?;
    let listener = match Listener::bind(ep.callback_port) {
        Ok(l) => Some(l),
        Err(e) => {
            ui.say(&format!("Cannot listen on 127.0.0.1:{} ({e}); paste the redirect URL instead.", ep.callback_port));
            None
        }
    };
    ui.note(
        "OpenAI Codex sign-in",
        &format!(
            "Open this URL in a browser and sign in with your ChatGPT account:\n\n{}\n\n\
             The browser is then sent to {}.\n\
             If that page does not load (a headless server, Docker, another machine), copy the\n\
             full URL from the browser's address bar and paste it here.",
            login.url,
            ep.redirect_uri()
        ),
    );
    if ui.interactive {
        super::open_browser(cx.env, &login.url);
    }
    let deadline = Instant::now() + LOGIN_WAIT;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stop = Arc::new(AtomicBool::new(false));
    let waiter = listener.map(|l| {
        let (stop, state) = (stop.clone(), login.state.clone());
        std::thread::spawn(move || {
            let got = l.wait(codex::CALLBACK_PATH, deadline, &stop, |q| match codex::code_from_query(q, &state) {
                Ok(_) => Verdict::Accept(SIGNED_IN_PAGE.into()),
                Err(e) => Verdict::Reject(400, e),
            });
            if let Some(q) = got {
                let _ = tx.send(q);
            }
        })
    });
    let result = wait_for_code(ui, &rx, waiter.is_some(), &login.state, deadline);
    stop.store(true, Ordering::Relaxed);
    if let Some(w) = waiter {
        let _ = w.join();
    }
    let code = result?;
    ui.say("Signing in…");
    let tokens = codex::exchange(&ep, &code, &login.verifier)?;
    auth::put(&cx.store, codex::PROFILE_ID, auth::codex_profile(&tokens)).map_err(|e| e.to_string())?;
    set(edits, &format!("auth.profiles.{}", codex::PROFILE_ID), json!({"provider": codex::PROVIDER, "mode": "oauth"}));
    let model = default_model(cx, ui, edits, models::DEFAULT_CODEX_MODEL, Some(&["openai", codex::PROVIDER]));
    Ok(Some(format!(
        "OpenAI Codex: signed in (ChatGPT account {}), tokens saved in {} (profile {}); {model}",
        tokens.account_id,
        cx.store.display(),
        codex::PROFILE_ID
    )))
}

/// The authorization code: from the browser's callback or a pasted URL or code.
fn wait_for_code(ui: &mut Ui, callback: &std::sync::mpsc::Receiver<String>, listening: bool, state: &str, deadline: Instant) -> Result<String, String> {
    let ask = "Paste the redirect URL (or the code) here: ";
    ui.prompt_line(ask);
    loop {
        match ui.prompter().race(callback, deadline) {
            Raced::Other(query) => {
                ui.say("");
                ui.say("Browser sign-in received.");
                return codex::code_from_query(&query, state);
            }
            Raced::Line(line) => match codex::parse_pasted(&line) {
                (None, _) if line.trim().is_empty() => ui.prompt_line(ask),
                (None, _) => {
                    ui.say("No authorization code in that. Paste the full URL from the browser's address bar (it contains code=…).");
                    ui.prompt_line(ask);
                }
                (Some(_), Some(s)) if !crate::crypto::constant_time_eq(s.as_bytes(), state.as_bytes()) => {
                    return Err(
                        "State mismatch: the pasted URL belongs to another sign-in attempt. Nothing was saved; run onboarding again.".into()
                    );
                }
                (Some(code), _) => return Ok(code),
            },
            Raced::Eof if listening => {}
            Raced::Eof => {
                return Err("Standard input ended before the redirect URL was pasted. Nothing was saved; run onboarding again.".into());
            }
            Raced::Timeout => {
                return Err(format!(
                    "Timed out after {} minutes waiting for the OpenAI sign-in. Nothing was saved; run onboarding again.",
                    LOGIN_WAIT.as_secs() / 60
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_and_inference() {
        assert_eq!(Choice::parse("openai-codex"), Ok(Choice::OpenAiCodex));
        assert_eq!(Choice::parse("apiKey"), Ok(Choice::AnthropicApiKey));
        assert!(Choice::parse("magic").unwrap_err().contains("Invalid --auth-choice \"magic\""));
        assert_eq!(Choice::OpenAiApiKey.as_str(), "openai-api-key");
        let mut o = Opts { anthropic_api_key: Some("k".into()), ..Opts::default() };
        assert_eq!(from_flags(&o), Ok(Some(Choice::AnthropicApiKey)));
        o.custom_base_url = Some("http://x".into());
        assert!(from_flags(&o).unwrap_err().contains("--auth-choice"));
        o.auth_choice = Some("skip".into());
        assert_eq!(from_flags(&o), Ok(Some(Choice::Skip)));
        assert_eq!(from_flags(&Opts::default()), Ok(None));
    }

    #[test]
    fn keys_and_model_lists() {
        assert!(check_key("sk-abc").is_ok());
        assert!(check_key("sk abc").is_err() && check_key("sk\nabc").is_err());
        let merged = merged_models(&json!([{"id": "a"}]), "b");
        assert_eq!(merged, vec![json!({"id": "a"}), json!({"id": "b"})]);
        assert_eq!(merged_models(&json!([{"id": "a"}]), "a").len(), 1);
    }
}
