//! What `openclaw gateway` decides before it listens: port, bind address and
//! auth, from flags, environment and config in upstream's precedence, and
//! every start-up refusal with upstream's text (reference §4.2).

use std::net::{IpAddr, Ipv4Addr};

use crate::config::model::{AuthMode, Bind, Config};
use crate::paths::Env;

pub const DEFAULT_PORT: u16 = 18789;

/// The `openclaw gateway` flags, unparsed: bad values are runtime errors
/// with upstream's texts (exit 1), not usage errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Opts {
    pub port: Option<String>,
    pub bind: Option<String>,
    pub token: Option<String>,
    pub password: Option<String>,
    pub auth: Option<String>,
    pub allow_unconfigured: bool,
    pub verbose: bool,
}

/// The shared secret clients must present. `secret` is `None` only for
/// mode `None` (loopback only).
#[derive(Clone, PartialEq)]
pub struct Auth {
    pub mode: AuthMode,
    pub secret: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Auth {{ mode: {:?}, secret: {} }}", self.mode, if self.secret.is_some() { "<set>" } else { "<none>" })
    }
}

/// Auth as resolved, or a token the gateway must generate and save first.
#[derive(Debug)]
pub enum AuthPlan {
    Ready(Auth),
    /// No credential anywhere and no mode chosen, on a loopback bind:
    /// generate a token and save it as `gateway.auth.token`.
    Generate,
}

pub fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err("Invalid port".into()),
    }
}

/// `--port` > `OPENCLAW_GATEWAY_PORT` > `gateway.port` > 18789.
pub fn port(opts: &Opts, env: &Env, config: &Config) -> Result<u16, String> {
    if let Some(p) = &opts.port {
        return parse_port(p);
    }
    if let Some(p) = env.get("OPENCLAW_GATEWAY_PORT").filter(|p| !p.trim().is_empty()) {
        return parse_port(p).map_err(|_| format!("Invalid port (OPENCLAW_GATEWAY_PORT=\"{p}\")"));
    }
    Ok(config.gateway.port.unwrap_or(DEFAULT_PORT))
}

pub fn bind(opts: &Opts, config: &Config) -> Result<Bind, String> {
    match opts.bind.as_deref() {
        None => Ok(config.gateway.bind),
        Some("loopback") => Ok(Bind::Loopback),
        Some("lan") => Ok(Bind::Lan),
        Some("tailnet") => Ok(Bind::Tailnet),
        Some("auto") => Ok(Bind::Auto),
        Some("custom") => Ok(Bind::Custom),
        Some(_) => Err("Invalid --bind (use \"loopback\", \"lan\", \"tailnet\", \"auto\", or \"custom\")".into()),
    }
}

pub fn bind_name(bind: Bind) -> &'static str {
    match bind {
        Bind::Loopback => "loopback",
        Bind::Lan => "lan",
        Bind::Tailnet => "tailnet",
        Bind::Auto => "auto",
        Bind::Custom => "custom",
    }
}

/// The address to listen on, and a warning to log when a fallback applied.
/// `auto` and `loopback` falling back to 0.0.0.0 is the caller's job (it
/// knows whether 127.0.0.1 could be bound).
pub fn bind_host(bind: Bind, custom_host: Option<&str>, fib_trie: Option<&str>) -> (IpAddr, Option<String>) {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    match bind {
        Bind::Loopback | Bind::Auto => (loopback, None),
        Bind::Lan => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), None),
        Bind::Custom => match custom_host.and_then(|h| h.parse::<Ipv4Addr>().ok()) {
            Some(ip) => (IpAddr::V4(ip), None),
            None => (
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                Some("gateway.bind is \"custom\" but gateway.customBindHost is not an IPv4 address; binding 0.0.0.0".into()),
            ),
        },
        Bind::Tailnet => match fib_trie.and_then(tailnet_address) {
            Some(ip) => (IpAddr::V4(ip), None),
            None => (
                loopback,
                Some("gateway.bind is \"tailnet\" but this host has no Tailscale address (100.64.0.0/10); binding 127.0.0.1".into()),
            ),
        },
    }
}

/// The first local address in 100.64.0.0/10 listed in `/proc/net/fib_trie`
/// (a `|-- a.b.c.d` line followed by `/32 host LOCAL`).
pub fn tailnet_address(fib_trie: &str) -> Option<Ipv4Addr> {
    let mut last: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-', '`']);
        if let Ok(ip) = t.trim().parse::<Ipv4Addr>() {
            last = Some(ip);
        } else if line.contains("/32 host LOCAL")
            && let Some(ip) = last
        {
            let [a, b, ..] = ip.octets();
            if a == 100 && (64..128).contains(&b) {
                return Some(ip);
            }
        }
    }
    None
}

/// Upstream's guard: a config file with `gateway.mode: "local"`, or
/// `--allow-unconfigured`.
pub fn mode_guard(config_exists: bool, config: &Config, allow_unconfigured: bool) -> Result<(), String> {
    if allow_unconfigured {
        return Ok(());
    }
    if !config_exists {
        return Err("Missing config. Run `openclaw setup` or set gateway.mode=local (or pass --allow-unconfigured).".into());
    }
    match config.gateway.mode {
        Some(crate::config::model::GatewayMode::Local) => Ok(()),
        Some(crate::config::model::GatewayMode::Remote) => {
            Err("Gateway start blocked: set gateway.mode=local (current: remote) or pass --allow-unconfigured.".into())
        }
        None => Err("Gateway start blocked: set gateway.mode=local (current: unset) or pass --allow-unconfigured.".into()),
    }
}

/// Values that are not secrets: empty, unset markers, redaction markers and
/// the example tokens from documentation.
pub fn is_placeholder(token: &str) -> bool {
    let t = token.trim().to_ascii_lowercase();
    const KNOWN: &[&str] = &[
        "", "undefined", "null", "none", "__openclaw_redacted__", "changeme", "change-me", "change_me", "replace-me",
        "replace_me", "your-token", "your_token", "your-token-here", "<token>", "token", "secret", "example", "xxx",
        "your-gateway-token", "replace-with-long-random-token", "your-long-random-token",
    ];
    KNOWN.contains(&t.as_str()) || t.starts_with("${") || (t.contains("your") && t.contains("token"))
}

/// Resolves the shared secret: token from `--token` >
/// `OPENCLAW_GATEWAY_TOKEN` > `gateway.auth.token`, password likewise;
/// refuses what upstream refuses. `loopback` is whether the listen address
/// is a loopback address.
pub fn auth(opts: &Opts, env: &Env, config: &Config, loopback: bool, bind_label: &str) -> Result<AuthPlan, String> {
    let a = &config.gateway.auth;
    let nonempty_env = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let (token, token_source) = match (&opts.token, nonempty_env("OPENCLAW_GATEWAY_TOKEN"), &a.token) {
        (Some(t), _, _) => (Some(t.clone()), "--token"),
        (None, Some(t), _) => (Some(t), "OPENCLAW_GATEWAY_TOKEN"),
        (None, None, Some(s)) => (Some(s.value(env).map_err(|e| format!("gateway.auth.token: {e}"))?), "gateway.auth.token"),
        _ => (None, ""),
    };
    let (password, password_source) = match (&opts.password, nonempty_env("OPENCLAW_GATEWAY_PASSWORD"), &a.password) {
        (Some(p), _, _) => (Some(p.clone()), "--password"),
        (None, Some(p), _) => (Some(p), "OPENCLAW_GATEWAY_PASSWORD"),
        (None, None, Some(s)) => (Some(s.value(env).map_err(|e| format!("gateway.auth.password: {e}"))?), "gateway.auth.password"),
        _ => (None, ""),
    };
    let explicit_mode = match opts.auth.as_deref() {
        Some("token") => Some(AuthMode::Token),
        Some("password") => Some(AuthMode::Password),
        Some(_) => return Err("Invalid --auth (use \"token\" or \"password\")".into()),
        None => a.mode,
    };
    let mode = explicit_mode.unwrap_or(if password.is_some() && token.is_none() { AuthMode::Password } else { AuthMode::Token });
    let no_auth = || {
        let mut msg = format!(
            "Refusing to bind gateway to {bind_label} without auth.\nSet gateway.auth.token/password (or OPENCLAW_GATEWAY_TOKEN/OPENCLAW_GATEWAY_PASSWORD) or pass --token/--password."
        );
        if config.gateway.remote.token.is_some() {
            msg.push_str("\n\"gateway.remote.token\" is for remote CLI calls; it does not enable local gateway auth.");
        }
        msg
    };
    let placeholder = |what: &str, source: &str, value: &str| {
        if value.is_empty() && !loopback {
            return no_auth();
        }
        format!(
            "Refusing to start: the gateway {what} from {source} is a placeholder ({value:?}), not a secret.\nSet a real one (for example: openssl rand -hex 32), or remove it to have a token generated."
        )
    };
    match mode {
        AuthMode::Token => match token {
            Some(t) if is_placeholder(&t) => Err(placeholder("token", token_source, &t)),
            Some(t) => Ok(AuthPlan::Ready(Auth { mode, secret: Some(t) })),
            None if !loopback => Err(no_auth()),
            None if explicit_mode.is_some() => {
                Err("Gateway auth is set to token, but no token is configured.\nSet gateway.auth.token (or OPENCLAW_GATEWAY_TOKEN), or pass --token.".into())
            }
            None => Ok(AuthPlan::Generate),
        },
        AuthMode::Password => match password {
            Some(p) if is_placeholder(&p) => Err(placeholder("password", password_source, &p)),
            Some(p) => Ok(AuthPlan::Ready(Auth { mode, secret: Some(p) })),
            None if !loopback => Err(no_auth()),
            None => Err(
                "Gateway auth is set to password, but no password is configured.\nSet gateway.auth.password (or OPENCLAW_GATEWAY_PASSWORD), or pass --password.".into(),
            ),
        },
        AuthMode::None if loopback => Ok(AuthPlan::Ready(Auth { mode, secret: None })),
        AuthMode::None => Err(no_auth()),
        AuthMode::TrustedProxy => Err(
            "gateway.auth.mode \"trusted-proxy\" is not supported by this gateway. Use \"token\" (or \"password\") and let the proxy pass the Authorization header through."
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;


    fn cfg(json: &str) -> Config {
        crate::config::model::from_json_for_tests(serde_json::from_str(json).unwrap())
    }

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn port_precedence_is_flag_env_config_default() {
        let c = cfg(r#"{"gateway":{"port":19000}}"#);
        let e = env(&[("OPENCLAW_GATEWAY_PORT", "19001")]);
        let flag = Opts { port: Some("19002".into()), ..Opts::default() };
        assert_eq!(port(&flag, &e, &c), Ok(19002));
        assert_eq!(port(&Opts::default(), &e, &c), Ok(19001));
        assert_eq!(port(&Opts::default(), &env(&[]), &c), Ok(19000));
        assert_eq!(port(&Opts::default(), &env(&[]), &cfg("{}")), Ok(18789));
        let bad = Opts { port: Some("70000".into()), ..Opts::default() };
        assert_eq!(port(&bad, &e, &c), Err("Invalid port".into()));
    }

    #[test]
    fn refusals_use_upstream_texts() {
        let lan = Opts { bind: Some("lan".into()), ..Opts::default() };
        let err = auth(&lan, &env(&[]), &cfg("{}"), false, "lan").unwrap_err();
        assert!(err.starts_with("Refusing to bind gateway to lan without auth.\n"), "{err}");
        let explicit = cfg(r#"{"gateway":{"auth":{"mode":"token"}}}"#);
        let err = auth(&Opts::default(), &env(&[]), &explicit, true, "loopback").unwrap_err();
        assert_eq!(err, "Gateway auth is set to token, but no token is configured.\nSet gateway.auth.token (or OPENCLAW_GATEWAY_TOKEN), or pass --token.");
        assert!(matches!(auth(&Opts::default(), &env(&[]), &cfg("{}"), true, "loopback"), Ok(AuthPlan::Generate)));
        let bad_auth = Opts { auth: Some("magic".into()), ..Opts::default() };
        assert_eq!(auth(&bad_auth, &env(&[]), &cfg("{}"), true, "loopback").unwrap_err(), "Invalid --auth (use \"token\" or \"password\")");
        assert!(bind(&Opts { bind: Some("0.0.0.0".into()), ..Opts::default() }, &cfg("{}")).unwrap_err().starts_with("Invalid --bind"));
    }

    #[test]
    fn placeholder_tokens_are_refused() {
        for t in ["", "undefined", "__OPENCLAW_REDACTED__", "your-token-here", "change-me"] {
            let c = cfg(&format!(r#"{{"gateway":{{"auth":{{"token":{t:?}}}}}}}"#));
            let err = auth(&Opts::default(), &env(&[]), &c, false, "lan").unwrap_err();
            assert!(err.contains("Refusing"), "{t:?}: {err}");
        }
        let good = cfg(r#"{"gateway":{"auth":{"token":"3f9a0c1e5b7d4a2c9e8f6b1d0a3c5e7f"}}}"#);
        assert!(matches!(auth(&Opts::default(), &env(&[]), &good, false, "lan"), Ok(AuthPlan::Ready(_))));
    }

    #[test]
    fn token_precedence_is_flag_env_config() {
        let c = cfg(r#"{"gateway":{"auth":{"token":"from-config-0123456789abcdef"}}}"#);
        let e = env(&[("OPENCLAW_GATEWAY_TOKEN", "from-env-0123456789abcdef")]);
        let flag = Opts { token: Some("from-flag-0123456789abcdef".into()), ..Opts::default() };
        let secret = |p: AuthPlan| match p {
            AuthPlan::Ready(a) => a.secret.unwrap(),
            AuthPlan::Generate => panic!(),
        };
        assert_eq!(secret(auth(&flag, &e, &c, true, "loopback").unwrap()), "from-flag-0123456789abcdef");
        assert_eq!(secret(auth(&Opts::default(), &e, &c, true, "loopback").unwrap()), "from-env-0123456789abcdef");
        assert_eq!(secret(auth(&Opts::default(), &env(&[]), &c, true, "loopback").unwrap()), "from-config-0123456789abcdef");
    }

    #[test]
    fn tailnet_address_comes_from_fib_trie() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.0.0.5\n        /32 host LOCAL\n     |-- 100.101.102.103\n        /32 host LOCAL\n";
        assert_eq!(tailnet_address(trie), Some(Ipv4Addr::new(100, 101, 102, 103)));
        assert_eq!(tailnet_address("  |-- 10.0.0.5\n     /32 host LOCAL\n"), None);
        let (ip, warn) = bind_host(Bind::Tailnet, None, Some(""));
        assert!(ip.is_loopback() && warn.is_some());
    }
}
