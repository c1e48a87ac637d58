//! The agent's `exec` and `process` tools with a sandbox target, against the
//! real engine: a result with its exit code, a command handed to the
//! background and followed with `process`, `process kill` and an abort
//! stopping the command's processes in the container, and stdin refused.
//!
//! Like the other Docker tests: a loud SKIPPED line under
//! `OPENCLAW_SKIP_DOCKER_TESTS=1`, never a pull, one container with its own
//! prefix `openclaw-test-agent-exec-<pid>-`, removed by a guard also when
//! the test fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use openclaw::agent::ToolOutput;
use openclaw::agent::exec::{self, Settings, Target};
use openclaw::agent::process::{self, Registry};
use openclaw::paths::Env;
use openclaw::sandbox::exec::{ExecRequest, run};
use openclaw::sandbox::{Manager, Sandbox};
use serde_json::{Value, json};

use crate::util::{Home, PrefixGuard};

const IMAGE: &str = "openclaw-sandbox:bookworm-slim";

/// Command lines of the container's processes, one per line.
const PROCESSES: &str = r#"for p in /proc/[0-9]*; do tr '\0' ' ' < "$p/cmdline" 2>/dev/null; echo; done"#;

struct Fixture {
    home: Home,
    manager: Manager,
    sandbox: Sandbox,
    _guard: PrefixGuard,
}

impl Fixture {
    fn target(&self) -> Target {
        Target::Sandbox { manager: self.manager.clone(), sandbox: self.sandbox.clone(), state_dir: self.home.state() }
    }

    fn exec(&self, reg: &Registry, args: Value, abort: &AtomicBool) -> ToolOutput {
        exec::tool(reg, "main", self.target(), &Settings::default(), &args, abort)
    }

    /// The container's process list, straight through the sandbox.
    fn processes(&self) -> String {
        let req = ExecRequest { timeout: Duration::from_secs(20), ..ExecRequest::new(PROCESSES) };
        run(&self.manager, &self.sandbox, &self.home.state(), &req, &[]).unwrap().stdout
    }

    /// Waits until no process runs `needle` in the container.
    fn wait_gone(&self, needle: &str) {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let list = self.processes();
            if !list.lines().any(|l| l.starts_with(needle)) {
                return;
            }
            assert!(Instant::now() < until, "{needle:?} still runs:\n{list}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn session_id(out: &ToolOutput) -> String {
    out.text.lines().find_map(|l| l.strip_prefix("sessionId: ")).unwrap_or_else(|| panic!("{out:?}")).to_string()
}

/// Polls until the session has ended; returns the last poll.
fn poll_until_ended(reg: &Registry, id: &str) -> String {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let out = process::tool(reg, "main", &json!({"action": "poll", "sessionId": id}));
        assert!(!out.is_error, "{out:?}");
        if !out.text.ends_with("(its output arrives when it ends).") {
            return out.text;
        }
        assert!(Instant::now() < until, "session {id} did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sandboxed_exec_results_background_kill_and_abort() {
    let test = "sandboxed_exec_results_background_kill_and_abort";
    let Some(docker) = crate::util::engine(test, &[IMAGE]) else { return };
    let home = Home::new("agent-exec");
    let prefix = format!("openclaw-test-agent-exec-{}-", std::process::id());
    let guard = PrefixGuard { docker: docker.clone(), prefixes: vec![prefix.clone()] };
    let config = json!({ "agents": { "defaults": { "sandbox": {
        "mode": "all", "workspaceAccess": "none", "docker": { "containerPrefix": prefix }
    } } } });
    home.write_config(&config.to_string());
    let paths = home.paths();
    let config = openclaw::config::load(&paths, &Env::new(), None).unwrap_or_else(|e| panic!("{e}")).config;
    let manager = Manager::new(docker, paths);
    let sandbox = manager.ensure(&config, "agent:main:main").unwrap_or_else(|e| panic!("ensure: {e}"));
    let fx = Fixture { home, manager, sandbox, _guard: guard };
    let reg = Registry::new();
    let calm = AtomicBool::new(false);

    // A plain result: stdout, then stderr, then the exit code; the workdir
    // warning comes first.
    let out = fx.exec(&reg, json!({"command": "echo out; echo err >&2; exit 3", "workdir": "../x"}), &calm);
    assert_eq!(
        out,
        ToolOutput::ok(
            "Warning: workdir \"../x\" is unavailable; using \"/workspace\".\n\nout\nerr\n\n(Command exited with code 3)"
        )
    );

    // Handed off after yieldMs; its output arrives when it ends.
    let out = fx.exec(&reg, json!({"command": "sleep 1; echo late", "yieldMs": 100}), &calm);
    let id = session_id(&out);
    assert!(out.text.starts_with(&format!("Command still running (session {id}, in the sandbox).")), "{out:?}");
    let write = process::tool(&reg, "main", &json!({"action": "write", "sessionId": id, "data": "x"}));
    assert!(write.is_error && write.text.contains("only available for commands run on the host"), "{write:?}");
    assert_eq!(poll_until_ended(&reg, &id), "late\n\nProcess exited with code 0.");

    // process kill stops it (and its children) in the container.
    let out = fx.exec(&reg, json!({"command": "sleep 1001 & sleep 1002", "background": true}), &calm);
    let id = session_id(&out);
    // It starts on a thread of its own: wait until both sleeps run.
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let list = fx.processes();
        if list.contains("sleep 1001") && list.contains("sleep 1002") {
            break;
        }
        assert!(Instant::now() < until, "the command did not start:\n{list}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let kill = process::tool(&reg, "main", &json!({"action": "kill", "sessionId": id}));
    assert_eq!(kill, ToolOutput::ok(format!("Killed session {id}.")));
    let poll = poll_until_ended(&reg, &id);
    assert!(poll.starts_with("(no new output)\n\nCommand was killed by process kill."), "{poll}");
    fx.wait_gone("sleep 100");

    // Killed before it has started in the container: the kill is repeated.
    let out = fx.exec(&reg, json!({"command": "sleep 1004", "background": true}), &calm);
    let id = session_id(&out);
    let kill = process::tool(&reg, "main", &json!({"action": "kill", "sessionId": id}));
    assert_eq!(kill, ToolOutput::ok(format!("Killed session {id}.")));
    fx.wait_gone("sleep 1004");

    // An abort returns at once; the command is stopped in the background.
    let abort = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&abort);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        setter.store(true, Ordering::SeqCst);
    });
    let started = Instant::now();
    let out = fx.exec(&reg, json!({"command": "sleep 1003", "yieldMs": 60000}), &abort);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(out.is_error && out.text.starts_with("Command aborted. It was running in the sandbox"), "{out:?}");
    let id = out.text.split("background session ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    let poll = poll_until_ended(&reg, &id);
    assert!(poll.contains("Command was killed because the run was aborted."), "{poll}");
    fx.wait_gone("sleep 1003");
}
