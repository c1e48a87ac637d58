//! OpenAI Codex (ChatGPT sign-in) OAuth, as upstream and the Codex CLI do it:
//! authorization code with PKCE (S256) and a random `state`, the browser sent
//! back to `http://localhost:1455/auth/callback`, the code exchanged at the
//! token endpoint (a form POST), and the ChatGPT account id read from the
//! access token's claims (`"https://api.openai.com/auth".chatgpt_account_id`).
//! Refreshing uses the `refresh_token` grant.
//!
//! Every endpoint can be moved for tests and proxies: `OPENCLAW_CODEX_AUTH_BASE_URL`
//! (default `https://auth.openai.com`; `/oauth/authorize` and `/oauth/token`
//! below it) and `OPENCLAW_CODEX_CALLBACK_PORT` (default 1455; the redirect
//! URI follows it). The token calls have a 30 s deadline and read at most
//! 64 KiB; error texts never contain a token.

use std::time::Duration;

use serde_json::Value;

use crate::crypto;
use crate::paths::Env;

pub const PROVIDER: &str = "openai-codex";
/// The profile id onboarding writes.
pub const PROFILE_ID: &str = "openai-codex:default";
/// The Codex CLI's public OAuth client id (upstream uses the same).
pub const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
const DEFAULT_AUTH_BASE: &str = "https://auth.openai.com";
pub const DEFAULT_CALLBACK_PORT: u16 = 1455;
pub const CALLBACK_PATH: &str = "/auth/callback";
const SCOPE: &str = "openid profile email offline_access";
/// The claim that carries the ChatGPT account.
const AUTH_CLAIM: &str = "https://api.openai.com/auth";
const TOKEN_DEADLINE: Duration = Duration::from_secs(30);
const MAX_TOKEN_BODY: u64 = 64 << 10;

/// Where the authorization server is, and where the browser comes back to.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoints {
    pub auth_base: String,
    pub callback_port: u16,
}

impl Endpoints {
    /// Upstream's endpoints, or the overrides from the environment.
    pub fn from_env(env: &Env) -> Result<Endpoints, String> {
        let auth_base = match env.get("OPENCLAW_CODEX_AUTH_BASE_URL").map(|s| s.trim()).filter(|s| !s.is_empty()) {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => u.trim_end_matches('/').to_string(),
            Some(u) => return Err(format!("OPENCLAW_CODEX_AUTH_BASE_URL={u:?} is not an http:// or https:// URL")),
            None => DEFAULT_AUTH_BASE.to_string(),
        };
        let callback_port = match env.get("OPENCLAW_CODEX_CALLBACK_PORT").map(|s| s.trim()).filter(|s| !s.is_empty()) {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("OPENCLAW_CODEX_CALLBACK_PORT={p:?} is not a port number (1-65535)"))?,
            None => DEFAULT_CALLBACK_PORT,
        };
        Ok(Endpoints { auth_base, callback_port })
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/oauth/authorize", self.auth_base)
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.auth_base)
    }

    pub fn redirect_uri(&self) -> String {
        format!("http://localhost:{}{CALLBACK_PATH}", self.callback_port)
    }
}

/// One sign-in attempt: the secret verifier, the `state` to check, and the
/// URL to open in a browser.
pub struct Login {
    pub verifier: String,
    pub state: String,
    pub url: String,
}

/// Starts a sign-in: a fresh PKCE verifier (32 random bytes, base64url) and
/// its S256 challenge, a random state, and the authorize URL.
pub fn start(ep: &Endpoints) -> std::io::Result<Login> {
    let verifier = crypto::base64url_encode(&crypto::random_bytes::<32>()?);
    let state = crypto::random_hex_token(16)?;
    let challenge = challenge(&verifier);
    let redirect = ep.redirect_uri();
    let query = [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", redirect.as_str()),
        ("scope", SCOPE),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", state.as_str()),
        ("id_token_add_organizations", "true"),
        ("codex_cli_simplified_flow", "true"),
        ("originator", "openclaw"),
    ];
    let url = format!("{}?{}", ep.authorize_url(), form_encode(&query));
    Ok(Login { verifier, state, url })
}

/// The S256 code challenge of a verifier (RFC 7636, section 4.2).
pub fn challenge(verifier: &str) -> String {
    crypto::base64url_encode(&crypto::sha256(verifier.as_bytes()))
}

/// What the user pasted: the full redirect URL, its query string, `code#state`,
/// or the bare code. Returns the code and the state, when present.
pub fn parse_pasted(input: &str) -> (Option<String>, Option<String>) {
    let v = input.trim();
    if v.is_empty() {
        return (None, None);
    }
    let query = if let Some((_, rest)) = v.split_once("://") {
        // A URL: the query, without any fragment.
        let rest = rest.split('#').next().unwrap_or_default();
        rest.split_once('?').map(|(_, q)| q).unwrap_or_default()
    } else if v.contains("code=") {
        v.trim_start_matches('?')
    } else if let Some((code, state)) = v.split_once('#') {
        return (Some(code.to_string()).filter(|c| !c.is_empty()), Some(state.to_string()).filter(|s| !s.is_empty()));
    } else if v.contains(char::is_whitespace) {
        // Not a code: codes are one word.
        return (None, None);
    } else {
        return (Some(v.to_string()), None);
    };
    let params = parse_query(query);
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    (get("code"), get("state"))
}

/// Checks a callback or pasted query against the expected state; the code on success.
pub fn code_from_query(query: &str, state: &str) -> Result<String, String> {
    let params = parse_query(query);
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(err) = get("error") {
        let detail = get("error_description").unwrap_or_default();
        return Err(format!("the sign-in was refused: {err}{}{detail}", if detail.is_empty() { "" } else { ": " }));
    }
    match (get("code").filter(|c| !c.is_empty()), get("state")) {
        (_, Some(s)) if !crypto::constant_time_eq(s.as_bytes(), state.as_bytes()) => Err("State mismatch".into()),
        (_, None) => Err("Missing state".into()),
        (None, _) => Err("Missing authorization code".into()),
        (Some(code), Some(_)) => Ok(code.to_string()),
    }
}

/// Tokens from the token endpoint, with the absolute expiry (ms since the epoch).
#[derive(Clone, PartialEq)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub expires: u64,
    pub account_id: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens {{ expires: {}, account_id: {:?}, access/refresh: <redacted> }}", self.expires, self.account_id)
    }
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub fn exchange(ep: &Endpoints, code: &str, verifier: &str) -> Result<Tokens, String> {
    let redirect = ep.redirect_uri();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("code", code),
        ("code_verifier", verifier),
        ("redirect_uri", redirect.as_str()),
    ];
    token_call(ep, &form).map_err(|e| format!("OpenAI sign-in: the code exchange failed: {e}"))
}

/// Gets fresh tokens with a refresh token.
pub fn refresh(ep: &Endpoints, refresh_token: &str) -> Result<Tokens, String> {
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", CLIENT_ID)];
    token_call(ep, &form).map_err(|e| format!("refreshing the OpenAI Codex token failed: {e}"))
}

fn token_call(ep: &Endpoints, form: &[(&str, &str)]) -> Result<Tokens, String> {
    let config = crate::http_config().timeout_global(Some(TOKEN_DEADLINE)).build();
    let agent = ureq::Agent::new_with_config(config);
    let mut response = agent
        .post(ep.token_url())
        .header("accept", "application/json")
        .send_form(form.iter().copied())
        .map_err(|e| format!("cannot reach {}: {e}", ep.token_url()))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_TOKEN_BODY)
        .read_to_string()
        .map_err(|e| format!("cannot read the answer of {}: {e}", ep.token_url()))?;
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let err = v["error"].as_str().or(v["error"]["code"].as_str()).unwrap_or("");
        let desc = v["error_description"].as_str().or(v["error"]["message"].as_str()).unwrap_or("");
        let detail = [err, desc].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(": ");
        let detail = if detail.is_empty() { crate::shorten(body.trim(), 200) } else { crate::shorten(&detail, 300) };
        return Err(format!("HTTP {status}{}{detail}", if detail.is_empty() { "" } else { ": " }));
    }
    let (Some(access), Some(refresh), Some(expires_in)) =
        (v["access_token"].as_str(), v["refresh_token"].as_str(), v["expires_in"].as_f64())
    else {
        return Err("the answer lacks access_token, refresh_token or expires_in".into());
    };
    let account_id = account_id(access).ok_or("Failed to extract accountId from token")?;
    let expires = crate::now_ms().saturating_add((expires_in.max(0.0) * 1000.0) as u64);
    Ok(Tokens { access: access.to_string(), refresh: refresh.to_string(), expires, account_id })
}

/// The ChatGPT account id in an access token (a JWT; the signature is the
/// server's business, not ours).
pub fn account_id(access_token: &str) -> Option<String> {
    let mut parts = access_token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = crypto::base64url_decode(payload.trim_end_matches('='))?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims[AUTH_CLAIM]["chatgpt_account_id"].as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// `application/x-www-form-urlencoded` (unreserved characters kept, space as `%20`).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The pairs of a query string, `+` and `%XX` decoded (bad escapes kept as is).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &Value) -> String {
        format!(
            "{}.{}.sig",
            crypto::base64url_encode(br#"{"alg":"RS256"}"#),
            crypto::base64url_encode(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        assert_eq!(challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn authorize_url_carries_what_the_server_needs() {
        let ep = Endpoints { auth_base: "http://127.0.0.1:9".into(), callback_port: 4242 };
        let login = start(&ep).unwrap();
        assert!(login.url.starts_with("http://127.0.0.1:9/oauth/authorize?response_type=code&client_id=app_EMoamEEZ73f0CkXaXp7hrann&"));
        let params = parse_query(login.url.split_once('?').unwrap().1);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("redirect_uri"), "http://localhost:4242/auth/callback");
        assert_eq!(get("scope"), "openid profile email offline_access");
        assert_eq!(get("code_challenge_method"), "S256");
        assert_eq!(get("code_challenge"), challenge(&login.verifier));
        assert_eq!(get("state"), login.state);
        assert_eq!(login.verifier.len(), 43);
        assert_ne!(start(&ep).unwrap().state, login.state);
    }

    #[test]
    fn endpoints_from_env() {
        let env = Env::new();
        let ep = Endpoints::from_env(&env).unwrap();
        assert_eq!(ep.token_url(), "https://auth.openai.com/oauth/token");
        assert_eq!(ep.redirect_uri(), "http://localhost:1455/auth/callback");
        let env: Env = [("OPENCLAW_CODEX_AUTH_BASE_URL", "http://127.0.0.1:5/"), ("OPENCLAW_CODEX_CALLBACK_PORT", "8123")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ep = Endpoints::from_env(&env).unwrap();
        assert_eq!((ep.authorize_url().as_str(), ep.callback_port), ("http://127.0.0.1:5/oauth/authorize", 8123));
        let bad: Env = [("OPENCLAW_CODEX_CALLBACK_PORT".to_string(), "x".to_string())].into();
        assert!(Endpoints::from_env(&bad).unwrap_err().contains("OPENCLAW_CODEX_CALLBACK_PORT"));
    }

    #[test]
    fn pasted_input_in_every_shape() {
        let url = "http://localhost:1455/auth/callback?code=ac_1%2B2&scope=x&state=abc#frag";
        assert_eq!(parse_pasted(url), (Some("ac_1+2".into()), Some("abc".into())));
        assert_eq!(parse_pasted("  code=c1&state=s1 \n"), (Some("c1".into()), Some("s1".into())));
        assert_eq!(parse_pasted("c2#s2"), (Some("c2".into()), Some("s2".into())));
        assert_eq!(parse_pasted("bare-code"), (Some("bare-code".into()), None));
        assert_eq!(parse_pasted("not a url"), (None, None));
        assert_eq!(parse_pasted(""), (None, None));
        assert_eq!(parse_pasted("http://localhost:1455/auth/callback"), (None, None));
    }

    #[test]
    fn callback_queries_are_checked() {
        assert_eq!(code_from_query("code=abc&state=s", "s"), Ok("abc".into()));
        assert_eq!(code_from_query("code=abc&state=t", "s"), Err("State mismatch".into()));
        assert_eq!(code_from_query("code=abc", "s"), Err("Missing state".into()));
        assert_eq!(code_from_query("state=s", "s"), Err("Missing authorization code".into()));
        assert!(code_from_query("error=access_denied&error_description=no+thanks&state=s", "s").unwrap_err().contains("access_denied: no thanks"));
    }

    #[test]
    fn account_id_from_the_claims() {
        let t = jwt(&serde_json::json!({"https://api.openai.com/auth": {"chatgpt_account_id": "acct-1"}, "exp": 1}));
        assert_eq!(account_id(&t).as_deref(), Some("acct-1"));
        assert_eq!(account_id(&jwt(&serde_json::json!({"sub": "x"}))), None);
        assert_eq!(account_id("not-a-jwt"), None);
        assert_eq!(account_id("a.!!!.c"), None);
    }

    #[test]
    fn query_codec_round_trips() {
        let enc = form_encode(&[("a b", "x&y=z/é")]);
        assert_eq!(enc, "a%20b=x%26y%3Dz%2F%C3%A9");
        assert_eq!(parse_query(&enc), vec![("a b".to_string(), "x&y=z/é".to_string())]);
        assert_eq!(parse_query("k=%zz%4"), vec![("k".to_string(), "%zz%4".to_string())]);
    }
}
