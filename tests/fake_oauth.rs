//! A fake OpenAI authorization server for the Codex sign-in tests: the real
//! wire formats of `GET /oauth/authorize` (a 302 to the redirect URI with
//! `code` and `state`) and `POST /oauth/token` (a form body; the
//! `authorization_code` grant checks the PKCE S256 verifier against the
//! challenge of the authorize request, the `refresh_token` grant rotates the
//! refresh token; errors are `{"error", "error_description"}` with 400).
//! Access tokens are JWTs whose claims carry
//! `"https://api.openai.com/auth".chatgpt_account_id`. It listens on 127.0.0.1,
//! one thread per connection, one request per connection, and stops on drop.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

pub const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
pub const ACCOUNT: &str = "acct-fake-42";

/// One request as the fake received it: path, query or form pairs.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub params: Vec<(String, String)>,
}

impl Seen {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    /// code → (challenge, redirect_uri), until used.
    codes: HashMap<String, (String, String)>,
    /// Refresh tokens still valid.
    refresh: Vec<String>,
    seen: Vec<Seen>,
    /// Seconds new tokens live.
    expires_in: u64,
}

pub struct FakeOAuth {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

static N: AtomicU64 = AtomicU64::new(1);

impl FakeOAuth {
    pub fn start() -> FakeOAuth {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake OAuth server");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State { expires_in: 3600, ..State::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        FakeOAuth { port, state, stop }
    }

    /// `http://127.0.0.1:<port>`, for `OPENCLAW_CODEX_AUTH_BASE_URL`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Makes `token` a valid refresh token (for a store written by the test).
    pub fn allow_refresh(&self, token: &str) {
        self.state.lock().unwrap().refresh.push(token.to_string());
    }

}

impl Drop for FakeOAuth {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// An access token: a JWT with the account claim (the signature is not checked by clients).
pub fn access_token(n: u64) -> String {
    let b64 = openclaw::crypto::base64url_encode;
    let claims = json!({
        "https://api.openai.com/auth": {"chatgpt_account_id": ACCOUNT, "chatgpt_plan_type": "plus"},
        "exp": 4_000_000_000u64, "n": n,
    });
    format!("{}.{}.{}", b64(br#"{"alg":"RS256","typ":"JWT"}"#), b64(claims.to_string().as_bytes()), b64(b"fake-signature"))
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pairs(s: &str) -> Vec<(String, String)> {
    s.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (decode(k), decode(v))
    }).collect()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn respond(conn: &mut TcpStream, status: &str, headers: &str, body: &str) {
    let _ = write!(conn, "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
}

fn json_reply(conn: &mut TcpStream, status: &str, v: &Value) {
    respond(conn, status, "Content-Type: application/json\r\n", &v.to_string());
}

fn serve(mut conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut len = 0usize;
    let mut content_type = String::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap_or(0),
            "content-type" => content_type = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; len.min(1 << 20)];
    let _ = r.read_exact(&mut body);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let params = if method == "POST" { pairs(&String::from_utf8_lossy(&body)) } else { pairs(query) };
    let seen = Seen { path: path.to_string(), params };
    state.lock().unwrap().seen.push(seen.clone());
    match (method.as_str(), path) {
        ("GET", "/oauth/authorize") => authorize(&mut conn, state, &seen),
        ("POST", "/oauth/token") if !content_type.starts_with("application/x-www-form-urlencoded") => {
            json_reply(&mut conn, "400 Bad Request", &json!({"error": "invalid_request", "error_description": "form body expected"}));
        }
        ("POST", "/oauth/token") => token(&mut conn, state, &seen),
        _ => respond(&mut conn, "404 Not Found", "", "not found"),
    }
}

fn authorize(conn: &mut TcpStream, state: &Mutex<State>, q: &Seen) {
    let ok = q.param("response_type") == Some("code")
        && q.param("client_id") == Some(CLIENT_ID)
        && q.param("code_challenge_method") == Some("S256")
        && q.param("scope") == Some("openid profile email offline_access")
        && q.param("code_challenge").is_some_and(|c| c.len() == 43)
        && q.param("state").is_some_and(|s| !s.is_empty());
    let (Some(redirect), true) = (q.param("redirect_uri"), ok) else {
        return respond(conn, "400 Bad Request", "", "bad authorize request");
    };
    let code = format!("ac_fake_{}", N.fetch_add(1, Ordering::SeqCst));
    let challenge = q.param("code_challenge").unwrap_or_default().to_string();
    state.lock().unwrap().codes.insert(code.clone(), (challenge, redirect.to_string()));
    let location = format!("{redirect}?code={}&scope={}&state={}", encode(&code), encode("openid profile email offline_access"), encode(q.param("state").unwrap_or_default()));
    respond(conn, "302 Found", &format!("Location: {location}\r\n"), "");
}

fn tokens(state: &mut State) -> Value {
    let n = N.fetch_add(1, Ordering::SeqCst);
    let refresh = format!("rt_fake_{n}");
    state.refresh.push(refresh.clone());
    json!({
        "access_token": access_token(n), "refresh_token": refresh, "id_token": access_token(n),
        "expires_in": state.expires_in, "token_type": "Bearer", "scope": "openid profile email offline_access",
    })
}

fn token(conn: &mut TcpStream, state: &Mutex<State>, f: &Seen) {
    let invalid = |conn: &mut TcpStream, why: &str| {
        json_reply(conn, "400 Bad Request", &json!({"error": "invalid_grant", "error_description": why}));
    };
    if f.param("client_id") != Some(CLIENT_ID) {
        return invalid(conn, "unknown client");
    }
    let mut s = state.lock().unwrap();
    match f.param("grant_type") {
        Some("authorization_code") => {
            let Some((challenge, redirect)) = f.param("code").and_then(|c| s.codes.remove(c)) else {
                return invalid(conn, "unknown or used code");
            };
            let verifier = f.param("code_verifier").unwrap_or_default();
            let computed = openclaw::crypto::base64url_encode(&openclaw::crypto::sha256(verifier.as_bytes()));
            if computed != challenge {
                return invalid(conn, "code_verifier does not match the challenge");
            }
            if f.param("redirect_uri") != Some(redirect.as_str()) {
                return invalid(conn, "redirect_uri mismatch");
            }
            let v = tokens(&mut s);
            json_reply(conn, "200 OK", &v);
        }
        Some("refresh_token") => {
            let given = f.param("refresh_token").unwrap_or_default().to_string();
            let Some(i) = s.refresh.iter().position(|r| *r == given) else {
                return invalid(conn, "refresh token is invalid or was already used");
            };
            s.refresh.remove(i);
            let v = tokens(&mut s);
            json_reply(conn, "200 OK", &v);
        }
        _ => json_reply(conn, "400 Bad Request", &json!({"error": "unsupported_grant_type"})),
    }
}
