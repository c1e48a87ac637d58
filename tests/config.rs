//! `openclaw config …` end to end through the binary: validation of good and
//! bad files, includes, environment substitution, and safe writes.

use std::os::unix::fs::PermissionsExt;

use crate::util::{Home, output};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Asserts that validation fails with `needle` in the output and that the
/// file is left byte-identical.
fn assert_invalid(home: &Home, text: &str, needles: &[&str]) {
    home.write_config(text);
    let out = home.run(&["config", "validate"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.starts_with("Config invalid\nFile: "), "{}", out.stderr);
    for n in needles {
        assert!(out.stderr.contains(n), "missing {n:?} in:\n{}", out.stderr);
    }
    assert_eq!(std::fs::read_to_string(home.config_path()).unwrap(), text, "the file must not change");
}

#[test]
fn seed_examples_validate() {
    let home = Home::new("seed");
    for name in [
        "seed-sandbox-full.json5",
        "seed-sandbox-common-image.json5",
        "seed-browser-enabled.json5",
        "seed-browser-custom-image.json5",
        "seed-custom-sandbox-image.json5",
    ] {
        home.write_config(&fixture(name));
        let out = home.run(&["config", "validate"]);
        assert_eq!(out.code, 0, "{name}: {}", out.all());
        assert!(out.stdout.starts_with("Config valid: "), "{}", out.stdout);
    }
}

#[test]
fn missing_file_means_defaults() {
    let home = Home::new("nofile");
    let out = home.run(&["config", "validate"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("defaults apply"));
    assert!(!home.config_path().exists(), "validate must not create the file");
}

#[test]
fn syntax_errors_name_line_and_column() {
    let home = Home::new("syntax");
    assert_invalid(&home, "{\n  gateway: { port: 1 },\n} trailing", &["JSON5 syntax error", "(line 3, column 3)"]);
    assert_invalid(&home, "\u{feff}{}", &["byte order mark", "(line 1, column 1)"]);
    assert_invalid(&home, "Found and updated: False\n{ gateway: {} }", &["(line 1, column 1)"]);
    assert_invalid(&home, "{\n  gateway: {},\n  /* not closed\n}", &["never closed", "(line 3, column 3)"]);
    assert_invalid(&home, "{ gateway: { port: 1 }", &["line 1, column 1"]);
}

#[test]
fn unknown_keys_and_bad_values_name_the_full_path() {
    let home = Home::new("strict");
    assert_invalid(
        &home,
        "{\n  agents: {\n    defaults: {\n      sandbox: {\n        docker: {\n          privilged: true,\n        },\n      },\n    },\n  },\n}\n",
        &["agents.defaults.sandbox.docker.privilged: Unrecognized key", "(line 6, column 11)"],
    );
    assert_invalid(&home, "{ nope: 1 }", &["nope: Unrecognized key (line 1, column 3)"]);
    assert_invalid(
        &home,
        "{ agents: { defaults: { sandbox: { mode: 'sometimes', docker: { pidsLimit: '256', network: 42, memory: -1, binds: 'x' } } } } }",
        &[
            "agents.defaults.sandbox.mode: invalid value \"sometimes\": expected one of \"off\", \"non-main\", \"all\"",
            "agents.defaults.sandbox.docker.pidsLimit: expected a whole number, got a string (\"256\")",
            "agents.defaults.sandbox.docker.network: expected a string, got an integer (42)",
            "agents.defaults.sandbox.docker.memory: invalid size -1",
            "agents.defaults.sandbox.docker.binds: expected an array of strings, got a string (\"x\")",
        ],
    );
    assert_invalid(&home, "{ gateway: { port: 70000, bind: '0.0.0.0' } }", &["gateway.port: must be between 1 and 65535", "gateway.bind: invalid value \"0.0.0.0\""]);
}

#[test]
fn dangerous_sandbox_settings_are_refused() {
    let home = Home::new("danger");
    for (docker, needle) in [
        ("network: 'host'", "network \"host\""),
        ("network: 'container:abc'", "container:abc"),
        ("seccompProfile: 'unconfined'", "seccompProfile: \"unconfined\""),
        ("apparmorProfile: 'unconfined'", "apparmorProfile: \"unconfined\""),
        ("privileged: true", "privileged: Unrecognized key"),
        ("binds: ['/:/h']", "binds[0]: bind source \"/\""),
        ("binds: ['/var/run/docker.sock:/s']", "docker.sock"),
        ("binds: ['/var:/v']", "binds[0]"),
        ("binds: ['/etc:/e:ro']", "/etc"),
        ("binds: ['~/.ssh:/k']", ".ssh"),
        ("binds: ['data:/d']", "not an absolute host path"),
        ("binds: ['/srv/x:/workspace']", "/workspace"),
    ] {
        let text = format!("{{ agents: {{ defaults: {{ sandbox: {{ docker: {{ {docker} }} }} }} }} }}");
        assert_invalid(&home, &text, &[needle]);
    }
    // Per-agent overrides are checked the same way.
    assert_invalid(
        &home,
        "{ agents: { list: [ { id: 'work', sandbox: { docker: { binds: ['/proc:/p'] } } } ] } }",
        &["agents.list[0].sandbox.docker.binds[0]"],
    );
}

#[test]
fn unsupported_upstream_sections_load_with_a_warning() {
    let home = Home::new("ignored");
    home.write_config("{ skills: { allowBundled: [] }, hooks: {}, agents: { defaults: { heartbeat: { every: '30m' } } } }");
    let out = home.run(&["config", "validate"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("Warning: skills: section not supported by this build; ignored"), "{}", out.stderr);
    assert!(out.stderr.contains("Warning: agents.defaults.heartbeat: not supported"), "{}", out.stderr);
}

#[test]
fn includes_merge_and_report_problems_in_their_own_file() {
    let home = Home::new("include");
    std::fs::write(home.state().join("agents.json5"), "{ defaults: { sandbox: { mode: 'all' } } }").unwrap();
    std::fs::write(home.state().join("more.json5"), "{ defaults: { sandbox: { scope: 'session' } } }").unwrap();
    home.write_config("{ agents: { $include: ['./agents.json5', './more.json5'], defaults: { workspace: '~/ws' } } }");
    let out = home.run(&["config", "get", "agents.defaults", "--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["sandbox"]["mode"], "all");
    assert_eq!(v["sandbox"]["scope"], "session");
    assert_eq!(v["workspace"], "~/ws");

    std::fs::write(home.state().join("more.json5"), "{\n  defaults: { sandbox: { scoop: 'session' } } }").unwrap();
    let out = home.run(&["config", "validate"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("agents.defaults.sandbox.scoop: Unrecognized key (did you mean \"scope\"?)"), "{}", out.stderr);
    assert!(out.stderr.contains("more.json5, line 2, column 26"), "{}", out.stderr);
}

#[test]
fn include_cycles_and_missing_files_are_errors() {
    let home = Home::new("cycle");
    std::fs::write(home.state().join("a.json5"), "{ $include: './b.json5' }").unwrap();
    std::fs::write(home.state().join("b.json5"), "{ $include: './a.json5' }").unwrap();
    assert_invalid(&home, "{ agents: { $include: './a.json5' } }", &["circular $include", "a.json5 -> ", "b.json5 -> "]);
    assert_invalid(&home, "{ agents: { $include: './missing.json5' } }", &["cannot read included file", "missing.json5"]);
    std::fs::write(home.state().join("bad.json5"), "{ x: }").unwrap();
    assert_invalid(&home, "{ agents: { $include: './bad.json5' } }", &["bad.json5, line 1, column 6"]);
}

#[test]
fn env_substitution_dotenv_and_env_block() {
    let mut home = Home::new("envsub");
    home.write_config("{ gateway: { auth: { token: '${GW_TOKEN}' }, remote: { url: '$${LITERAL}' } } }");
    let out = home.run(&["config", "validate"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("gateway.auth.token: missing environment variable ${GW_TOKEN}"), "{}", out.stderr);

    std::fs::write(home.state().join(".env"), "GW_TOKEN=from-dotenv\n").unwrap();
    assert_eq!(home.run(&["config", "validate"]).code, 0);
    // `config get` shows the file as written, never the substituted secret.
    assert_eq!(home.run(&["config", "get", "gateway.auth.token"]).stdout, "${GW_TOKEN}\n");

    home.set_env("GW_TOKEN", "");
    let out = home.run(&["config", "validate"]);
    assert_eq!(out.code, 1, "an empty variable is an error, and .env never overrides the process: {}", out.all());

    let home = Home::new("envblock");
    home.write_config("{ env: { vars: { BASE: 'http://127.0.0.1:9' } }, models: { providers: { local: { baseUrl: '${BASE}/v1', api: 'openai-completions', models: [{ id: 'm' }] } } } }");
    assert_eq!(home.run(&["config", "validate"]).code, 0);
}

#[test]
fn unreadable_config_is_a_clear_error() {
    let home = Home::new("unreadable");
    home.write_config("{}");
    std::fs::set_permissions(home.config_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(home.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(home.state(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Run as an unprivileged user, since root reads any file.
    let mut c = home.command(&["config", "validate"]);
    let mut wrapped = std::process::Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(c.get_program()).args(c.get_args());
    wrapped.env_clear().envs(c.get_envs().filter_map(|(k, v)| Some((k, v?)))).current_dir("/");
    c = wrapped;
    let out = output(c);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("Cannot read config file"), "{}", out.stderr);
    assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);
    assert!(out.stderr.contains("Fix:"), "{}", out.stderr);
}

#[test]
fn set_and_unset_write_atomically_with_a_backup() {
    let home = Home::new("set");
    let original = "// my comment\n{ gateway: { mode: 'local' } }\n";
    home.write_config(original);
    let out = home.run(&["config", "set", "gateway.port", "19000"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout, "Updated gateway.port.\n");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(home.config_path()).unwrap()).unwrap();
    assert_eq!(v, serde_json::json!({"gateway": {"mode": "local", "port": 19000}}));
    assert_eq!(std::fs::read_to_string(home.state().join("openclaw.json.bak")).unwrap(), original);
    let mode = std::fs::metadata(home.config_path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(home.run(&["config", "get", "gateway.port"]).stdout, "19000\n");

    // An invalid change is refused and nothing is written.
    let before = std::fs::read_to_string(home.config_path()).unwrap();
    let out = home.run(&["config", "set", "agents.defaults.sandbox.mode", "sometimes"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("agents.defaults.sandbox.mode: invalid value \"sometimes\""), "{}", out.stderr);
    assert!(out.stderr.contains("Nothing was written."));
    assert_eq!(std::fs::read_to_string(home.config_path()).unwrap(), before);

    let out = home.run(&["config", "set", "agents.list[0]", "{id: 'work', sandbox: {mode: 'all'}}"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(home.run(&["config", "get", "agents.list[0].sandbox.mode"]).stdout, "all\n");
    assert_eq!(home.run(&["config", "unset", "gateway.port"]).code, 0);
    let out = home.run(&["config", "get", "gateway.port"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("Config path not found: gateway.port"));
    assert_eq!(home.run(&["config", "unset", "gateway.port"]).code, 1);

    // A file that does not parse is never rewritten.
    home.write_config("{ broken");
    let out = home.run(&["config", "set", "gateway.port", "1"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not valid JSON5"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(home.config_path()).unwrap(), "{ broken");
}

#[test]
fn set_creates_the_file_and_state_dir_privately() {
    let home = Home::new("create");
    std::fs::remove_dir_all(home.state()).unwrap();
    let out = home.run(&["config", "set", "gateway.mode", "local"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(std::fs::metadata(home.state()).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(home.run(&["config", "file"]).stdout, format!("{}\n", home.config_path().display()));
}

#[test]
fn profiles_and_overrides_choose_the_files() {
    let mut home = Home::new("profile");
    let out = home.run(&["--profile", "work", "config", "file"]);
    assert_eq!(out.stdout, format!("{}\n", home.dir.join(".openclaw-work/openclaw.json").display()));
    home.set_env("OPENCLAW_CONFIG_PATH", "/etc/openclaw/custom.json5");
    assert_eq!(home.run(&["config", "file"]).stdout, "/etc/openclaw/custom.json5\n");
}

#[test]
fn validate_json_output() {
    let home = Home::new("json");
    home.write_config("{\n  gateway: { port: 'x' } }");
    let out = home.run(&["config", "validate", "--json"]);
    assert_eq!(out.code, 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["path"], "gateway.port");
    assert_eq!(v["problems"][0]["line"], 2);
    assert_eq!(v["problems"][0]["column"], 14);
}
