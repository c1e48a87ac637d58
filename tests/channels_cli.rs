//! `openclaw channels …` and `openclaw pairing …` against the real binary:
//! config edits (validated, other keys kept), the pairing files, and
//! `channels status` through a running gateway and without one.

use serde_json::{Value, json};

use crate::util::{GatewayProc, Home};

fn config(h: &Home) -> Value {
    json5::from_str(&std::fs::read_to_string(h.config_path()).unwrap()).unwrap()
}

fn write_request(h: &Home, channel: &str, id: &str, code: &str, account: &str, age_ms: u64) {
    let creds = h.state().join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    let at = openclaw::agent::sessions::iso(openclaw::now_ms() - age_ms);
    let v = json!({"version": 1, "requests": [{"id": id, "code": code, "createdAt": at, "lastSeenAt": at, "meta": {"accountId": account, "name": "Ann"}}]});
    std::fs::write(creds.join(format!("{channel}-pairing.json")), v.to_string()).unwrap();
}

#[test]
fn channels_add_list_remove_edit_the_config_and_keep_other_keys() {
    let h = Home::new("ch-add");
    h.write_config("{ // mine\n gateway: { mode: 'local' }, channels: { telegram: { dmPolicy: 'pairing', allowFrom: ['tg:1'] } } }");
    let out = h.run(&["channels", "add", "--channel", "telegram", "--token", "123:abc"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Added Telegram account \"default\""), "{}", out.all());
    let c = config(&h);
    assert_eq!(c["channels"]["telegram"], json!({"dmPolicy": "pairing", "allowFrom": ["tg:1"], "enabled": true, "botToken": "123:abc"}));
    assert_eq!(c["gateway"]["mode"], "local");

    // A named Discord account from a token file; the file path is stored, not the token.
    let tok = h.dir.join("discord.token");
    std::fs::write(&tok, "d-secret\n").unwrap();
    let out = h.run(&["channels", "add", "--channel", "discord", "--account", "Work", "--token-file", tok.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    let c = config(&h);
    assert_eq!(c["channels"]["discord"]["accounts"]["work"]["tokenFile"], tok.to_str().unwrap());
    assert!(!std::fs::read_to_string(h.config_path()).unwrap().contains("d-secret"));

    let out = h.run(&["channels", "list", "--json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.all()));
    let rows = v["accounts"].as_array().unwrap();
    let find = |ch: &str, id: &str| rows.iter().find(|r| r["channel"] == ch && r["accountId"] == id).cloned().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(find("telegram", "default")["tokenSource"], "config");
    assert_eq!(find("discord", "work")["tokenSource"], "tokenFile");
    assert_eq!(find("discord", "work")["configured"], true);

    // --use-env writes no credential; the env variable is read.
    let out = h.run(&["channels", "add", "--channel", "discord", "--use-env"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(config(&h)["channels"]["discord"]["enabled"], true);
    assert!(config(&h)["channels"]["discord"].get("token").is_none());

    // Remove disables; --delete removes the account's settings.
    assert_eq!(h.run(&["channels", "remove", "--channel", "telegram"]).code, 0);
    assert_eq!(config(&h)["channels"]["telegram"]["enabled"], false);
    assert_eq!(config(&h)["channels"]["telegram"]["botToken"], "123:abc");
    let out = h.run(&["channels", "remove", "--channel", "discord", "--account", "work", "--delete"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(config(&h)["channels"]["discord"]["accounts"].get("work").is_none());
    let out = h.run(&["channels", "remove", "--channel", "discord", "--account", "nope"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not configured"), "{}", out.all());
    assert!(std::fs::read_to_string(h.config_path()).unwrap().len() > 10);
}

#[test]
fn channels_add_refuses_bad_input_and_writes_nothing() {
    let h = Home::new("ch-bad");
    h.write_config("{ gateway: { mode: 'local' } }");
    let before = std::fs::read_to_string(h.config_path()).unwrap();
    for (args, needle) in [
        (&["channels", "add", "--channel", "slack", "--token", "x"][..], "Unknown channel \"slack\""),
        (&["channels", "add", "--channel", "telegram"][..], "exactly one of --token"),
        (&["channels", "add", "--channel", "telegram", "--token", "a", "--use-env"][..], "exactly one of --token"),
        (&["channels", "add", "--channel", "telegram", "--token", "a b"][..], "contains spaces"),
        (&["channels", "add", "--channel", "telegram", "--token-file", "/nonexistent/tok"][..], "no such file"),
        (&["channels", "add", "--channel", "telegram", "--account", "a/b", "--token", "x"][..], "Invalid --account"),
        (&["channels", "add", "--channel", "discord", "--account", "w", "--use-env"][..], "only works for the default account"),
        (&["channels", "add", "--token", "x"][..], "missing --channel"),
        (&["pairing", "approve", "telegram"][..], "usage: openclaw pairing approve"),
    ] {
        let out = h.run(args);
        assert_ne!(out.code, 0, "{args:?}: {}", out.all());
        assert!(out.stderr.contains(needle), "{args:?}: expected {needle:?} in {}", out.all());
    }
    assert_eq!(std::fs::read_to_string(h.config_path()).unwrap(), before);
}

#[test]
fn pairing_list_and_approve_use_upstreams_files() {
    let h = Home::new("ch-pair");
    h.write_config("{ gateway: { mode: 'local' } }");
    write_request(&h, "telegram", "777", "ABCD2345", "default", 60_000);
    write_request(&h, "discord", "888", "WXYZ6789", "work", 2 * 60 * 60 * 1000); // expired
    let out = h.run(&["pairing", "list", "--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let reqs = v["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 1, "the expired one is not listed: {v}");
    assert_eq!((reqs[0]["channel"].as_str(), reqs[0]["code"].as_str(), reqs[0]["id"].as_str()), (Some("telegram"), Some("ABCD2345"), Some("777")));
    let out = h.run(&["pairing", "list", "telegram"]);
    assert!(out.stdout.contains("openclaw pairing approve telegram ABCD2345"), "{}", out.all());

    let out = h.run(&["pairing", "approve", "discord", "WXYZ6789"]);
    assert_eq!(out.code, 1, "expired codes do not approve: {}", out.all());
    let out = h.run(&["pairing", "approve", "telegram", "abcd2345"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Approved Telegram sender 777"), "{}", out.all());
    let allow: Value = serde_json::from_slice(&std::fs::read(h.state().join("credentials/telegram-allowFrom.json")).unwrap()).unwrap();
    assert_eq!(allow, json!({"version": 1, "allowFrom": ["777"]}));
    assert_eq!(h.run(&["pairing", "list"]).stdout.trim(), "No pending pairing requests.");
    // A second approve of the same code fails clearly.
    let out = h.run(&["pairing", "approve", "telegram", "ABCD2345"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("No pending pairing request for telegram"), "{}", out.all());
}

#[test]
fn channels_status_comes_from_the_gateway_when_it_runs_and_from_the_config_otherwise() {
    let mut h = Home::new("ch-status");
    // Nothing listens there, whatever else runs on this machine.
    h.set_env("OPENCLAW_GATEWAY_PORT", &crate::util::free_port().to_string());
    let token = "chstatus0123456789abcdef0123456789abcdef";
    h.write_config(&format!("{{ gateway: {{ mode: 'local', auth: {{ token: '{token}' }} }}, channels: {{ discord: {{ enabled: true }} }} }}"));
    write_request(&h, "discord", "55", "MNPQ2345", "default", 1000);
    // No gateway: from the config, saying so, and naming the fix for the missing token.
    let out = h.run(&["channels", "status", "--json", "--timeout", "500"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("showing the config only"), "{}", out.all());
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let acc = &v["channelAccounts"]["discord"][0];
    assert_eq!(acc["configured"], false, "{v}");
    assert!(acc["lastError"].as_str().unwrap().contains("DISCORD_BOT_TOKEN"), "{v}");
    assert_eq!(v["pairing"]["discord"][0]["code"], "MNPQ2345");

    // Through the gateway; then pairing.approve over RPC is what the UI uses.
    let gw = GatewayProc::start(&h, &[]);
    let port = gw.port.to_string();
    let out = h.run(&["channels", "status", "--json", "--url", &format!("ws://127.0.0.1:{port}"), "--token", token]);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["channelAccounts"]["discord"][0]["running"], false, "{v}");
    assert!(v["channelAccounts"]["discord"][0]["lastError"].as_str().unwrap().contains("no bot token"), "{v}");
    assert_eq!(v["channelOrder"], json!(["telegram", "discord"]));
    let out = h.run(&["channels", "status", "--url", &format!("ws://127.0.0.1:{port}"), "--token", token]);
    assert!(out.stdout.contains("Discord default: stopped") && out.stdout.contains("(source: gateway)"), "{}", out.all());
    assert!(out.stdout.contains("1 pairing request(s) pending"), "{}", out.all());
}
