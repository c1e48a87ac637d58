//! `openclaw channels add|list|status|remove` and `openclaw pairing
//! list|approve`. Config changes go through `config::write::update`
//! (validated, atomic); a running gateway picks them up on its next config
//! reload. Pairing works on the files directly, so approving needs no
//! gateway; the gateway reads the allow files on every message.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Account, DEFAULT_ACCOUNT, Kind, pairing};
use crate::app::{FAILURE, USAGE};
use crate::cli::{ChannelsCommand, PairingCommand, Remote};
use crate::config::{self, edit};
use crate::now_ms;
use crate::paths::{Env, Paths};

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

fn kind_of(channel: &str) -> Result<Kind, String> {
    Kind::parse(channel).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.id()).collect();
        format!("Unknown channel {channel:?}. This build supports: {}.", known.join(", "))
    })
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::from(USAGE)
}

fn failure(msg: &str) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::from(FAILURE)
}

/// An account id as the config spells it: trimmed, lower case, `[a-z0-9_-]`.
fn account_id(given: Option<&str>) -> Result<String, String> {
    let id = given.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_ACCOUNT.to_string());
    if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("Invalid --account {id:?}: use letters, digits, '-' or '_' (at most 64)."));
    }
    Ok(id)
}

/// The channel, the account id and the account's config path
/// (`channels.<ch>` or `channels.<ch>.accounts.<id>`).
fn account_path(channel: &str, account: Option<&str>) -> Result<(Kind, String, String), String> {
    let kind = kind_of(channel)?;
    let id = account_id(account)?;
    let base = if id == DEFAULT_ACCOUNT { format!("channels.{}", kind.id()) } else { format!("channels.{}.accounts.{id}", kind.id()) };
    Ok((kind, id, base))
}

pub fn run(paths: &Paths, env: &Env, cwd: Option<&Path>, cmd: &ChannelsCommand) -> ExitCode {
    match cmd {
        ChannelsCommand::Add { channel, token, token_file, use_env, account } => {
            add(paths, env, cwd, channel, token.as_deref(), token_file.as_deref(), *use_env, account.as_deref())
        }
        ChannelsCommand::Remove { channel, account, delete } => remove(paths, env, cwd, channel, account.as_deref(), *delete),
        ChannelsCommand::List { json } => list(paths, env, cwd, *json),
        ChannelsCommand::Status { conn, probe } => status(paths, env, cwd, conn, *probe),
    }
}

#[allow(clippy::too_many_arguments)]
fn add(
    paths: &Paths,
    env: &Env,
    cwd: Option<&Path>,
    channel: &str,
    token: Option<&str>,
    token_file: Option<&str>,
    use_env: bool,
    account: Option<&str>,
) -> ExitCode {
    let (kind, id, base) = match account_path(channel, account) {
        Ok(x) => x,
        Err(e) => return usage(&e),
    };
    let given = [token.is_some(), token_file.is_some(), use_env].iter().filter(|b| **b).count();
    if given != 1 {
        return usage("Pass exactly one of --token <token>, --token-file <path> or --use-env.");
    }
    if use_env && id != DEFAULT_ACCOUNT {
        return usage(&format!("--use-env only works for the default account ({} is read for it); pass --token or --token-file for --account {id}.", kind.token_env()));
    }
    if let Some(t) = token
        && (t.trim().is_empty() || t.chars().any(char::is_whitespace))
    {
        return usage("--token is empty or contains spaces; paste the token exactly as the platform shows it.");
    }
    let token_file = match token_file.map(|f| absolute(f, cwd)) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => return failure(&e),
        None => None,
    };
    let result = config::write::update(paths, env, cwd, |root| {
        edit::set(root, &format!("{base}.enabled"), json!(true))?;
        if id != DEFAULT_ACCOUNT {
            // The channel itself must be on for its accounts to run.
            edit::set(root, &format!("channels.{}.enabled", kind.id()), json!(true))?;
        }
        let (tk, tf) = (format!("{base}.{}", kind.token_key()), format!("{base}.tokenFile"));
        let _ = edit::unset(root, &tk);
        let _ = edit::unset(root, &tf);
        if let Some(t) = token {
            edit::set(root, &tk, json!(t.trim()))?;
        }
        if let Some(f) = &token_file {
            edit::set(root, &tf, json!(f))?;
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            let source = if use_env { format!(" (token from {})", kind.token_env()) } else { String::new() };
            println!("Added {} account \"{id}\"{source}.", kind.label());
            println!("A running gateway connects it within a few seconds; check with: openclaw channels status");
            if id == DEFAULT_ACCOUNT {
                println!("Unknown senders get a pairing code; approve them with: openclaw pairing approve {} <CODE>", kind.id());
            }
            ExitCode::SUCCESS
        }
        Err(e) => failure(&e.to_string()),
    }
}

fn absolute(f: &str, cwd: Option<&Path>) -> Result<String, String> {
    let p = Path::new(f);
    let p = if p.is_absolute() || f.starts_with('~') { p.to_path_buf() } else { cwd.unwrap_or(Path::new("/")).join(p) };
    if !f.starts_with('~') && !p.is_file() {
        return Err(format!("--token-file {}: no such file. Write the token into it first (one line, mode 0600).", p.display()));
    }
    Ok(p.display().to_string())
}

fn remove(paths: &Paths, env: &Env, cwd: Option<&Path>, channel: &str, account: Option<&str>, delete: bool) -> ExitCode {
    let (kind, id, base) = match account_path(channel, account) {
        Ok(x) => x,
        Err(e) => return usage(&e),
    };
    let result = config::write::update(paths, env, cwd, |root| {
        edit::get(root, &base)?;
        if delete {
            edit::unset(root, &base)?;
        } else {
            edit::set(root, &format!("{base}.enabled"), json!(false))?;
        }
        Ok(())
    });
    match result {
        Ok(()) if delete => {
            println!("Deleted {} account \"{id}\" from the config.", kind.label());
            ExitCode::SUCCESS
        }
        Ok(()) => {
            println!("Disabled {} account \"{id}\" (its settings are kept; --delete removes them).", kind.label());
            ExitCode::SUCCESS
        }
        Err(config::write::Error::Edit(edit::Error::NotFound(_))) => {
            failure(&format!("{} account \"{id}\" is not configured (nothing at {base}); see `openclaw channels list`.", kind.label()))
        }
        Err(e) => failure(&e.to_string()),
    }
}

fn load(paths: &Paths, env: &Env, cwd: Option<&Path>) -> Result<(config::model::Config, Env), String> {
    config::load(paths, env, cwd).map(|l| (l.config, l.env)).map_err(|e| e.to_string())
}

fn list(paths: &Paths, env: &Env, cwd: Option<&Path>, json_out: bool) -> ExitCode {
    let (config, env) = match load(paths, env, cwd) {
        Ok(x) => x,
        Err(e) => return failure(&e),
    };
    let accounts = super::accounts(&config, &env);
    if json_out {
        let rows: Vec<Value> = accounts.iter().map(account_row).collect();
        println!("{}", serde_json::to_string_pretty(&json!({"accounts": rows})).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    if accounts.is_empty() {
        println!("No channels configured. Add one: openclaw channels add --channel telegram --token <token>");
        return ExitCode::SUCCESS;
    }
    let mut out = std::io::stdout().lock();
    for a in &accounts {
        let state = if !a.enabled {
            "disabled"
        } else if a.token.is_empty() {
            "no token"
        } else {
            "enabled"
        };
        let _ = writeln!(
            out,
            "{} {}: {state}{}, dmPolicy {}",
            a.kind.label(),
            a.id,
            if a.token.is_empty() { String::new() } else { format!(", token from {}", a.token_source) },
            super::dm_policy_name(a.dm_policy)
        );
    }
    ExitCode::SUCCESS
}

fn account_row(a: &Account) -> Value {
    json!({
        "channel": a.kind.id(),
        "accountId": a.id,
        "enabled": a.enabled,
        "configured": !a.token.is_empty(),
        "tokenSource": a.token_source,
        "dmPolicy": super::dm_policy_name(a.dm_policy),
        "error": a.token_error,
    })
}

/// Through the running gateway; from the config when it cannot be reached.
fn status(paths: &Paths, env: &Env, cwd: Option<&Path>, r: &Remote, probe: bool) -> ExitCode {
    let params = json!({"probe": probe, "timeoutMs": PROBE_TIMEOUT.as_millis() as u64});
    let (v, source) = match crate::companion::call(paths, env, cwd, r, "channels.status", params) {
        Ok(v) => (v, "gateway"),
        Err(e) => {
            if r.url.is_some() {
                return failure(&e);
            }
            eprintln!("Gateway not reachable ({e}); showing the config only.");
            let (config, env) = match load(paths, env, cwd) {
                Ok(x) => x,
                Err(e) => return failure(&e),
            };
            let rows = super::accounts(&config, &env)
                .into_iter()
                .map(|a| {
                    let err = if a.enabled { a.token_error.clone() } else { Some("disabled in the config".into()) };
                    (a, json!({"running": false, "connected": false, "lastError": err}))
                })
                .collect();
            let store = pairing::Store::new(&paths.state_dir);
            (super::status_json(rows, &store, probe.then_some(PROBE_TIMEOUT)), "config")
        }
    };
    if r.json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!("{}", format_status(&v, source));
    }
    ExitCode::SUCCESS
}

/// The human form of a `channels.status` answer.
pub fn format_status(v: &Value, source: &str) -> String {
    let mut out = String::new();
    let empty = serde_json::Map::new();
    let accounts = v["channelAccounts"].as_object().unwrap_or(&empty);
    if accounts.is_empty() {
        out.push_str("No channels configured. Add one: openclaw channels add --channel telegram --token <token>\n");
    }
    for (ch, list) in accounts {
        let label = v["channelLabels"][ch].as_str().unwrap_or(ch);
        for a in list.as_array().into_iter().flatten() {
            let state = if a["connected"] == true {
                "connected"
            } else if a["running"] == true {
                "connecting"
            } else if a["enabled"] == false {
                "disabled"
            } else {
                "stopped"
            };
            let bot = a["bot"]["username"].as_str().map(|u| format!(" as @{u}")).unwrap_or_default();
            out.push_str(&format!("{label} {}: {state}{bot}", a["accountId"].as_str().unwrap_or("?")));
            if let Some(e) = a["lastError"].as_str() {
                out.push_str(&format!(" (error: {e})"));
            }
            out.push('\n');
            if let Some(p) = a.get("probe") {
                match p["ok"].as_bool() {
                    Some(true) => out.push_str(&format!("  probe: ok{}\n", p["bot"]["username"].as_str().map(|u| format!(" (@{u})")).unwrap_or_default())),
                    _ => out.push_str(&format!("  probe: failed: {}\n", p["error"].as_str().unwrap_or("unknown error"))),
                }
            }
        }
        let pending = v["pairing"][ch].as_array().map(Vec::len).unwrap_or(0);
        if pending > 0 {
            out.push_str(&format!("  {pending} pairing request(s) pending: openclaw pairing list {ch}\n"));
        }
    }
    out.push_str(&format!("(source: {source})\n"));
    out
}

pub fn pairing(paths: &Paths, cmd: &PairingCommand) -> ExitCode {
    let store = pairing::Store::new(&paths.state_dir);
    match cmd {
        PairingCommand::List { channel, json } => {
            let kinds = match channel {
                Some(c) => match kind_of(c) {
                    Ok(k) => vec![k],
                    Err(e) => return usage(&e),
                },
                None => Kind::ALL.to_vec(),
            };
            let mut rows = Vec::new();
            for k in kinds {
                match store.list(k.id(), now_ms()) {
                    Ok(list) => rows.extend(list.into_iter().map(|r| (k, r))),
                    Err(e) => return failure(&e),
                }
            }
            if *json {
                let reqs: Vec<Value> = rows
                    .iter()
                    .map(|(k, r)| {
                        let mut v = r.to_json();
                        v["channel"] = json!(k.id());
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&json!({"requests": reqs})).unwrap_or_default());
            } else if rows.is_empty() {
                println!("No pending pairing requests.");
            } else {
                for (k, r) in &rows {
                    let who = [r.meta["name"].as_str(), r.meta["username"].as_str().map(|u| u.trim_start_matches('@'))]
                        .into_iter()
                        .flatten()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" @");
                    let age = now_ms().saturating_sub(r.created_ms) / 60_000;
                    println!("{} {}  from {} {who}  ({age} min ago)  approve: openclaw pairing approve {} {}", k.id(), r.code, r.id, k.id(), r.code);
                }
            }
            ExitCode::SUCCESS
        }
        PairingCommand::Approve { channel, code } => {
            let kind = match kind_of(channel) {
                Ok(k) => k,
                Err(e) => return usage(&e),
            };
            match store.approve(kind.id(), code, now_ms()) {
                Ok(r) => {
                    println!("Approved {} sender {} (code {}). Their next message goes to the agent.", kind.label(), r.id, r.code);
                    ExitCode::SUCCESS
                }
                Err(e) => failure(&e),
            }
        }
    }
}
