//! `openclaw sandbox list|recreate|explain` end to end through the built
//! binary, without a gateway: the exact texts and exit codes of reference
//! §4.7, against real sandboxes made by `Manager::ensure`.
//!
//! Docker tests follow tests/sandbox.rs: they always run (a loud SKIPPED
//! line under `OPENCLAW_SKIP_DOCKER_TESTS=1`), never pull (the local
//! `openclaw-sandbox:bookworm-slim` and `debian:bookworm-slim` images), use
//! their own state folder and container prefix `openclaw-test-sbx-cli-…`,
//! and a guard removes that prefix's containers when the test ends, also
//! when it fails. The binary runs with a cleared environment; `DOCKER_HOST`
//! is passed through only when the test process has one.

use std::io::Write;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

use openclaw::config::Config;
use openclaw::docker::Docker;
use openclaw::paths::{Env, Paths};
use openclaw::sandbox::registry::Registry;
use openclaw::sandbox::{Manager, Sandbox, lease};

use crate::util::{Home, Output, PrefixGuard, output};

const IMAGE: &str = "openclaw-sandbox:bookworm-slim";
const OTHER_IMAGE: &str = "debian:bookworm-slim";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------
// Helpers.

/// A home whose binary runs see the test process's `DOCKER_HOST`, if any.
fn home(tag: &str) -> Home {
    let mut home = Home::new(tag);
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        home.set_env("DOCKER_HOST", &host);
    }
    home
}

/// Runs the binary with `input` on its stdin (then closed).
fn run_with_input(home: &Home, args: &[&str], input: &str) -> Output {
    let mut c = home.command(args);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("run openclaw");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", out.all()))
}

/// One Docker test's world: a home, a container prefix, the engine, a
/// manager, and the guard that removes the prefix's containers.
struct Fixture {
    home: Home,
    prefix: String,
    docker: Docker,
    manager: Manager,
    _guard: PrefixGuard,
}

impl Fixture {
    /// `None` (after a loud line) under `OPENCLAW_SKIP_DOCKER_TESTS=1`.
    fn new(test: &str) -> Option<Fixture> {
        let docker = crate::util::engine(test, &[IMAGE, OTHER_IMAGE])?;
        let home = home("sbxcli");
        let prefix = format!("openclaw-test-sbx-cli-{}-{}-", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let manager = Manager::new(docker.clone(), paths(&home));
        let _guard = PrefixGuard { docker: docker.clone(), prefixes: vec![prefix.clone()] };
        Some(Fixture { home, prefix, docker, manager, _guard })
    }

    /// Writes `openclaw.json` with `agents.defaults.sandbox` = `sandbox`
    /// (this test's container prefix added) and loads it.
    fn config(&self, mut sandbox: serde_json::Value) -> Config {
        let docker = sandbox.as_object_mut().unwrap().entry("docker").or_insert_with(|| serde_json::json!({}));
        docker["containerPrefix"] = self.prefix.clone().into();
        let text = serde_json::json!({ "agents": { "defaults": { "sandbox": sandbox } } });
        self.home.write_config(&serde_json::to_string_pretty(&text).unwrap());
        openclaw::config::load(&paths(&self.home), &Env::new(), None).unwrap_or_else(|e| panic!("{e}")).config
    }

    /// The agent-scope sandbox of `main`, made as a tool call would.
    fn sandbox(&self) -> Sandbox {
        let config = self.config(serde_json::json!({ "mode": "all" }));
        let sbx = self.manager.ensure(&config, "agent:main:main").unwrap_or_else(|e| panic!("ensure: {e} ({e:?})"));
        assert_eq!(sbx.name, format!("{}agent-main-f331f052", self.prefix));
        sbx
    }

    fn exists(&self, name: &str) -> bool {
        match self.docker.container_inspect(name) {
            Ok(_) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => panic!("inspect {name}: {e}"),
        }
    }

    fn registered(&self, name: &str) -> bool {
        Registry::new(&self.home.state()).get(name).unwrap().is_some()
    }
}

fn paths(home: &Home) -> Paths {
    home.paths()
}

/// The whole stdout of a recreate that removes exactly `name`.
fn removed_one(name: &str) -> String {
    format!(
        "\nContainers to be recreated:\n\n📦 Sandbox Containers:\n  - {name} (running)\n\nTotal: 1 container(s)\n\
         \nRemoving containers...\n\n✓ Removed {name}\n\nDone: 1 removed, 0 failed\n\
         \nContainers will be automatically recreated when the agent is next used.\n"
    )
}

// ---------------------------------------------------------------------------
// Without containers.

#[test]
fn list_without_sandboxes() {
    let home = home("sbxcli-empty");
    let out = home.run(&["sandbox", "list"]);
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, "No sandbox containers found.\nTotal: 0 (0 running)\n", ""));
    let out = home.run(&["sandbox", "list", "--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout, "{\n  \"containers\": [],\n  \"browsers\": []\n}\n");
    let out = home.run(&["sandbox", "list", "--browser"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "No sandbox browser containers found.\nTotal: 0 (0 running)\n"));
    assert!(!home.state().join("sandbox").exists(), "listing creates nothing");
    let out = home.run(&["sandbox", "--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("Usage: openclaw sandbox <list|recreate|explain|exec>"), "{}", out.stdout);
}

#[test]
fn recreate_validation_and_nothing_matching() {
    let home = home("sbxcli-validate");
    let out = home.run(&["sandbox", "recreate"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", "Please specify --all, --session <key>, or --agent <id>\n"));
    for args in [&["--all", "--agent", "main"][..], &["--session", "s", "--agent", "a"], &["--all", "--session", "s", "--force"]] {
        let out = home.run(&[&["sandbox", "recreate"][..], args].concat());
        assert_eq!(out.code, 1, "{args:?}: {}", out.all());
        assert_eq!(out.stderr, "Please specify only one of: --all, --session, --agent\n", "{args:?}");
    }
    let out = home.run(&["sandbox", "recreate", "--all"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "No containers found matching the criteria.\n"), "{}", out.all());
    let out = home.run(&["sandbox", "recreate", "--all", "--browser", "--force"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "No containers found matching the criteria.\n"));
    assert_eq!(home.run(&["sandbox", "recreate", "--json"]).code, 2, "a usage error");
}

#[test]
fn invalid_config_is_reported() {
    let home = home("sbxcli-invalid");
    home.write_config("{ agents: { defaults: { sandbox: { mode: 'sometimes' } } } }");
    for args in [&["sandbox", "list"][..], &["sandbox", "explain"], &["sandbox", "recreate", "--all"]] {
        let out = home.run(args);
        assert_eq!(out.code, 1, "{args:?}");
        assert!(out.stderr.starts_with("Config invalid\nFile: "), "{}", out.stderr);
        assert!(out.stderr.contains("agents.defaults.sandbox.mode"), "{}", out.stderr);
    }
}

// ---------------------------------------------------------------------------
// explain (no engine needed).

#[test]
fn explain_with_sandbox_off() {
    let home = home("sbxcli-explain-off");
    let out = home.run(&["sandbox", "explain"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let root = home.state().join("sandboxes");
    let head = format!(
        "Effective sandbox:\n  agentId: main\n  sessionKey: agent:main:main\n  mainSessionKey: agent:main:main\n  \
         runtime: direct\n  mode: off scope: agent perSession: false\n  workspaceAccess: none workspaceRoot: {}\n\n\
         Sandbox tool policy:\n  allow (default): exec, process, read, write, edit, apply_patch, image, sessions_list, \
         sessions_history, sessions_send, sessions_spawn, session_status\n  deny  (default): browser, canvas, nodes, cron, \
         gateway, telegram, whatsapp, discord, irc, googlechat, slack, signal, imessage\n\n\
         Elevated:\n  enabled: true\n  channel: (unknown)\n  allowedByConfig: false\n\nFix-it:\n  - tools.sandbox.tools.allow\n",
        root.display()
    );
    assert!(out.stdout.starts_with(&head), "{}", out.stdout);
    assert!(out.stdout.ends_with("  - tools.elevated.enabled\n\nDocs: docs.openclaw.ai/sandbox\n\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("Hint:") && !out.stdout.contains("sandbox.mode=off"), "{}", out.stdout);

    let out = home.run(&["sandbox", "explain", "--json"]);
    let v = json(&out);
    assert_eq!(v["docsUrl"], "https://docs.openclaw.ai/sandbox");
    assert_eq!(v["sandbox"]["mode"], "off");
    assert_eq!(v["sandbox"]["sessionIsSandboxed"], false);
    assert_eq!(v["sandbox"]["workspaceRoot"], root.to_string_lossy().as_ref());
    assert_eq!(v["sandbox"]["tools"]["sources"]["deny"], serde_json::json!({"source": "default", "key": "tools.sandbox.tools.deny"}));
    assert_eq!(v["elevated"]["channel"], serde_json::Value::Null);
    assert_eq!(v["fixIt"].as_array().unwrap().len(), 5);
}

#[test]
fn explain_non_main_session() {
    let home = home("sbxcli-explain-nonmain");
    home.write_config("{ agents: { defaults: { sandbox: { mode: 'non-main', workspaceAccess: 'ro' } } } }");
    let out = home.run(&["sandbox", "explain", "--session", "agent:main:discord:channel:1"]);
    assert_eq!(out.code, 0, "{}", out.all());
    for needle in [
        "  sessionKey: agent:main:discord:channel:1\n  mainSessionKey: agent:main:main\n  runtime: sandboxed\n",
        "  mode: non-main scope: agent perSession: false\n  workspaceAccess: ro workspaceRoot: ",
        "  channel: discord\n  allowedByConfig: false\n  failing gates: allowFrom (tools.elevated.allowFrom.discord)\n",
        "\n\nHint: sandbox mode is non-main; use main session key to run direct: agent:main:main\n\nFix-it:\n  \
         - agents.defaults.sandbox.mode=off\n  - agents.list[].sandbox.mode=off\n",
        "  - tools.elevated.enabled\n  - tools.elevated.allowFrom.discord\n\nDocs: docs.openclaw.ai/sandbox\n\n",
    ] {
        assert!(out.stdout.contains(needle), "missing {needle:?} in:\n{}", out.stdout);
    }
    // A bare key is the agent's; the main session runs direct.
    let out = home.run(&["sandbox", "explain", "--session", "Main"]);
    assert!(out.stdout.contains("  sessionKey: agent:main:main\n  mainSessionKey: agent:main:main\n  runtime: direct\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("Hint:"), "{}", out.stdout);
    let v = json(&home.run(&["sandbox", "explain", "--json", "--session", "agent:main:discord:channel:1"]));
    assert_eq!(v["sessionKey"], "agent:main:discord:channel:1");
    assert_eq!(v["sandbox"]["sessionIsSandboxed"], true);
    assert_eq!(v["sandbox"]["mode"], "non-main");
    assert_eq!(v["elevated"]["channel"], "discord");
    assert_eq!(v["fixIt"][0], "agents.defaults.sandbox.mode=off");
}

#[test]
fn explain_per_agent_tool_overrides() {
    let home = home("sbxcli-explain-agent");
    home.write_config(
        "{ tools: { sandbox: { tools: { deny: ['nodes'] } } },\n  \
         agents: { list: [ { id: 'main' }, { id: 'work', sandbox: { mode: 'all', scope: 'session' },\n    \
         tools: { sandbox: { tools: { allow: ['group:runtime', 'Browser'], deny: ['exec'] } } } } ] } }",
    );
    let out = home.run(&["sandbox", "explain", "--agent", "Work"]);
    assert_eq!(out.code, 0, "{}", out.all());
    for needle in [
        "  agentId: work\n  sessionKey: agent:work:main\n  mainSessionKey: agent:work:main\n  runtime: sandboxed\n",
        "  mode: all scope: session perSession: true\n",
        "  allow (agent): exec, process, browser, image\n  deny  (agent): exec\n",
    ] {
        assert!(out.stdout.contains(needle), "missing {needle:?} in:\n{}", out.stdout);
    }
    assert!(!out.stdout.contains("Hint:"), "only non-main gives the hint");
    let out = home.run(&["sandbox", "explain"]);
    assert!(out.stdout.contains("  allow (default): exec, process,"), "{}", out.stdout);
    assert!(out.stdout.contains("  deny  (global): nodes\n"), "{}", out.stdout);
    let v = json(&home.run(&["sandbox", "explain", "--json", "--session", "agent:work:telegram:dm:7"]));
    assert_eq!(v["agentId"], "work");
    assert_eq!(v["sandbox"]["tools"]["allow"], serde_json::json!(["exec", "process", "browser", "image"]));
    assert_eq!(v["sandbox"]["tools"]["deny"], serde_json::json!(["exec"]));
    assert_eq!(
        v["sandbox"]["tools"]["sources"],
        serde_json::json!({
            "allow": {"source": "agent", "key": "agents.list[].tools.sandbox.tools.allow"},
            "deny": {"source": "agent", "key": "agents.list[].tools.sandbox.tools.deny"},
        })
    );
}

// ---------------------------------------------------------------------------
// With a real sandbox.

#[test]
fn list_shows_a_sandbox_and_image_mismatch() {
    let Some(fx) = Fixture::new("list_shows_a_sandbox_and_image_mismatch") else { return };
    let sbx = fx.sandbox();
    let out = fx.home.run(&["sandbox", "list"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let item = format!(
        "\n📦 Sandbox Containers:\n\n  {}\n    Status:  🟢 running\n    Image:   {IMAGE} ✓\n    Age:     ",
        sbx.name
    );
    assert!(out.stdout.starts_with(&item), "{}", out.stdout);
    assert!(out.stdout.contains("\n    Idle:    "), "{}", out.stdout);
    assert!(out.stdout.ends_with("s\n    Session: agent:main\n\nTotal: 1 (1 running)\n"), "{}", out.stdout);

    let v = json(&fx.home.run(&["sandbox", "list", "--json"]));
    let c = &v["containers"][0];
    assert_eq!(v["containers"].as_array().unwrap().len(), 1);
    assert_eq!(v["browsers"], serde_json::json!([]));
    assert_eq!(c["containerName"], sbx.name.as_str());
    assert_eq!(c["sessionKey"], "agent:main");
    assert_eq!(c["image"], IMAGE);
    assert_eq!((c["running"].as_bool(), c["imageMatch"].as_bool()), (Some(true), Some(true)));
    assert!(c["createdAtMs"].is_u64() && c["lastUsedAtMs"].is_u64() && c["configHash"].is_string(), "{c}");

    // The configured image changes (to another image that exists): mismatch.
    fx.config(serde_json::json!({ "mode": "all", "docker": { "image": OTHER_IMAGE } }));
    let out = fx.home.run(&["sandbox", "list"]);
    assert!(out.stdout.contains(&format!("    Image:   {IMAGE} ⚠️  mismatch\n")), "{}", out.stdout);
    assert!(
        out.stdout.ends_with(
            "Total: 1 (1 running)\n\n⚠️  1 container(s) with image mismatch detected.\n   \
             Run 'openclaw sandbox recreate --all' to update all containers.\n"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(json(&fx.home.run(&["sandbox", "list", "--json"]))["containers"][0]["imageMatch"], false);

    // A stopped container is listed as stopped.
    fx.docker.container_kill(&sbx.name, "SIGKILL").unwrap();
    fx.docker.container_wait(&sbx.name, std::time::Duration::from_secs(10)).unwrap();
    let out = fx.home.run(&["sandbox", "list"]);
    assert!(out.stdout.contains("    Status:  ⚫ stopped\n"), "{}", out.stdout);
    assert!(out.stdout.contains("Total: 1 (0 running)\n"), "{}", out.stdout);
    // --browser shows only browsers (none).
    let out = fx.home.run(&["sandbox", "list", "--browser", "--json"]);
    assert_eq!(out.stdout, "{\n  \"containers\": [],\n  \"browsers\": []\n}\n");
}

#[test]
fn recreate_by_agent_removes_the_sandbox() {
    let Some(fx) = Fixture::new("recreate_by_agent_removes_the_sandbox") else { return };
    let sbx = fx.sandbox();
    // Selections that do not match leave it alone.
    for args in [&["--agent", "work"][..], &["--session", "agent:main:main"], &["--agent", "mai"]] {
        let out = fx.home.run(&[&["sandbox", "recreate", "--force"][..], args].concat());
        assert_eq!((out.code, out.stdout.as_str()), (0, "No containers found matching the criteria.\n"), "{args:?}");
    }
    assert!(fx.exists(&sbx.name) && fx.registered(&sbx.name));

    let out = fx.home.run(&["sandbox", "recreate", "--agent", "main", "--force"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout, removed_one(&sbx.name));
    assert_eq!(out.stderr, "");
    assert!(!fx.exists(&sbx.name), "the container is gone");
    assert!(!fx.registered(&sbx.name), "the registry entry is gone");
    assert!(!fx.home.state().join("sandbox/leases").join(format!("{}.lock", sbx.name)).exists(), "the lease file is gone");
    assert_eq!(fx.home.run(&["sandbox", "list"]).stdout, "No sandbox containers found.\nTotal: 0 (0 running)\n");

    // The next use makes it again; --session with the exact scope key removes it.
    let again = fx.sandbox();
    assert_ne!(again.container_id, sbx.container_id);
    let out = fx.home.run(&["sandbox", "recreate", "--session", "agent:main", "--force"]);
    assert_eq!((out.code, out.stdout), (0, removed_one(&sbx.name)));
    assert!(!fx.exists(&sbx.name));
}

#[test]
fn recreate_fails_while_a_lease_is_held() {
    let Some(fx) = Fixture::new("recreate_fails_while_a_lease_is_held") else { return };
    let sbx = fx.sandbox();
    let held = lease::acquire(&fx.home.state(), &sbx.name).unwrap();
    let out = fx.home.run(&["sandbox", "recreate", "--all", "--force"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.starts_with(&format!("✗ Failed to remove {}: ", sbx.name)), "{}", out.stderr);
    assert!(out.stderr.contains("in use"), "{}", out.stderr);
    assert!(out.stdout.ends_with("\nRemoving containers...\n\n\nDone: 0 removed, 1 failed\n"), "{}", out.stdout);
    assert!(fx.exists(&sbx.name) && fx.registered(&sbx.name), "nothing was removed");
    assert!(fx.docker.container_inspect(&sbx.name).unwrap().running);

    drop(held);
    let out = fx.home.run(&["sandbox", "recreate", "--all", "--force"]);
    assert_eq!((out.code, out.stdout), (0, removed_one(&sbx.name)));
    assert!(!fx.exists(&sbx.name));
}

#[test]
fn recreate_asks_first_and_no_is_the_default() {
    let Some(fx) = Fixture::new("recreate_asks_first_and_no_is_the_default") else { return };
    let sbx = fx.sandbox();
    let preview = format!(
        "\nContainers to be recreated:\n\n📦 Sandbox Containers:\n  - {} (running)\n\nTotal: 1 container(s)\n\
         This will stop and remove these containers. Continue? [y/N] \nCancelled.\n",
        sbx.name
    );
    let out = run_with_input(&fx.home, &["sandbox", "recreate", "--agent", "main"], "n\n");
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, preview.as_str(), ""));
    // stdin closed (not a terminal, nothing to read): No.
    let out = output(fx.home.command(&["sandbox", "recreate", "--all"]));
    assert_eq!((out.code, out.stdout.as_str()), (0, preview.as_str()));
    let out = run_with_input(&fx.home, &["sandbox", "recreate", "--all"], "\n");
    assert_eq!(out.stdout, preview, "an empty answer is the default, No");
    assert!(fx.exists(&sbx.name) && fx.registered(&sbx.name), "nothing was removed");

    let out = run_with_input(&fx.home, &["sandbox", "recreate", "--all"], "y\n");
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Continue? [y/N] \n\nRemoving containers...\n\n✓ Removed "), "{}", out.stdout);
    assert!(out.stdout.ends_with("Done: 1 removed, 0 failed\n\nContainers will be automatically recreated when the agent is next used.\n"));
    assert!(!fx.exists(&sbx.name) && !fx.registered(&sbx.name));
}

#[test]
fn exec_runs_in_a_hardened_sandbox_and_passes_the_exit_code() {
    let Some(fx) = Fixture::new("exec_runs_in_a_hardened_sandbox_and_passes_the_exit_code") else { return };
    // Sandbox mode is left at its default (off): `sandbox exec` still uses the sandbox, and says so.
    fx.config(serde_json::json!({}));
    let out = fx.home.run(&["sandbox", "exec", "--session", "agent:main:x", "--", "id"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout, "uid=1000(sandbox) gid=1000(sandbox) groups=1000(sandbox)\n");
    assert!(out.stderr.contains("with sandbox mode \"off\""), "{}", out.stderr);
    let name = format!("{}agent-main-f331f052", fx.prefix);
    assert!(fx.exists(&name) && fx.registered(&name));

    let out = fx.home.run(&["sandbox", "exec", "--agent", "main", "--", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(out.code, 7, "{}", out.all());
    assert_eq!(out.stdout, "out\n");
    assert!(out.stderr.contains("err\n"), "{}", out.stderr);

    let out = fx.home.run(&["sandbox", "exec", "--json", "--", "grep NoNewPrivs /proc/self/status; cat /proc/1/comm"]);
    let v = json(&out);
    assert_eq!(v["exitCode"], 0, "{v}");
    assert_eq!(v["container"], name.as_str());
    assert_eq!(v["stdout"], "NoNewPrivs:\t1\ndocker-init\n");

    let out = fx.home.run(&["sandbox", "exec", "--timeout", "1", "--", "sleep 60"]);
    assert_eq!(out.code, 124, "{}", out.all());
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
}

#[test]
fn exec_blocked_by_the_sandbox_tool_policy() {
    let Some(fx) = Fixture::new("exec_blocked_by_the_sandbox_tool_policy") else { return };
    let text = format!(
        "{{ agents: {{ defaults: {{ sandbox: {{ mode: 'all', docker: {{ containerPrefix: '{}' }} }} }} }}, tools: {{ sandbox: {{ tools: {{ deny: ['exec'] }} }} }} }}",
        fx.prefix
    );
    fx.home.write_config(&text);
    let out = fx.home.run(&["sandbox", "exec", "--session", "agent:main:x", "--", "id"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.starts_with("Tool \"exec\" blocked by sandbox tool policy (mode=all).\nSession: agent:main:x\n"), "{}", out.stderr);
    assert!(out.stderr.contains("- Remove \"exec\" from tools.sandbox.tools.deny."), "{}", out.stderr);
    assert!(!fx.exists(&format!("{}agent-main-f331f052", fx.prefix)), "nothing is created for a blocked call");
}
