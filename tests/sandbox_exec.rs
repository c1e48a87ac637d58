//! Tool commands in a sandbox against the real engine: output, exit codes,
//! the environment (config, call, never the host's), `PATH` prepending under
//! a login shell, workdir mapping and its warning, the output cap, timeouts
//! that kill `setsid` grandchildren and fork bombs, the OOM report, the
//! tmpfs, network and privilege limits, leases, and the workspace folder
//! handed to the container's user.
//!
//! Like the other Docker tests these always run (a loud SKIPPED line under
//! `OPENCLAW_SKIP_DOCKER_TESTS=1`), never pull, use one container per test,
//! each with its own prefix `openclaw-test-sbx-exec-<pid>-<n>-`, and a guard
//! removes every container with that prefix when the test ends, also when it
//! fails. Nothing here enables a network.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openclaw::docker::Docker;
use openclaw::paths::{Env, Paths};
use openclaw::sandbox::exec::{self, Error, ExecOutcome, ExecRequest};
use openclaw::sandbox::{Manager, Sandbox, lease};

use crate::util::{Home, PrefixGuard};

const IMAGE: &str = "openclaw-sandbox:bookworm-slim";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------
// Helpers.

/// One test's world: a home, a container prefix, the engine, and the guard.
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
        let docker = crate::util::engine(test, &[IMAGE])?;
        let home = Home::new("sbx-exec");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("openclaw-test-sbx-exec-{}-{n}-", std::process::id());
        let manager = Manager::new(docker.clone(), paths(&home));
        let _guard = PrefixGuard { docker: docker.clone(), prefixes: vec![prefix.clone()] };
        Some(Fixture { home, prefix, docker, manager, _guard })
    }

    /// A sandbox for `agent:main:main` with `agents.defaults.sandbox` =
    /// `sandbox` (mode `all`, this test's prefix added).
    fn sandbox(&self, mut sandbox: serde_json::Value) -> Sandbox {
        sandbox["mode"] = "all".into();
        let docker = sandbox.as_object_mut().unwrap().entry("docker").or_insert_with(|| serde_json::json!({}));
        docker["containerPrefix"] = self.prefix.clone().into();
        let text = serde_json::json!({ "agents": { "defaults": { "sandbox": sandbox } } });
        self.home.write_config(&serde_json::to_string_pretty(&text).unwrap());
        let config =
            openclaw::config::load(&paths(&self.home), &Env::new(), None).unwrap_or_else(|e| panic!("{e}")).config;
        self.manager.ensure(&config, "agent:main:main").unwrap_or_else(|e| panic!("ensure: {e} ({e:?})"))
    }

    fn try_run(&self, sbx: &Sandbox, req: &ExecRequest<'_>, path_prepend: &[String]) -> Result<ExecOutcome, Error> {
        exec::run(&self.manager, sbx, &self.home.state(), req, path_prepend)
    }

    fn run(&self, sbx: &Sandbox, req: &ExecRequest<'_>) -> ExecOutcome {
        self.try_run(sbx, req, &[]).unwrap_or_else(|e| panic!("exec {:?}: {e} ({e:?})", req.command))
    }

    /// Runs `command` with a 20 s timeout and the defaults otherwise.
    fn sh(&self, sbx: &Sandbox, command: &str) -> ExecOutcome {
        self.run(sbx, &ExecRequest { timeout: Duration::from_secs(20), ..ExecRequest::new(command) })
    }
}

fn paths(home: &Home) -> Paths {
    home.paths()
}

fn env_map(text: &str) -> BTreeMap<&str, &str> {
    text.lines().filter_map(|l| l.split_once('=')).collect()
}

/// The command lines of every process in the container, one per line.
const PROCESSES: &str = r#"for p in /proc/[0-9]*; do tr '\0' ' ' < "$p/cmdline" 2>/dev/null; echo; done"#;

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn exec_output_env_path_workdir_cap_and_limits() {
    let Some(fx) = Fixture::new("exec_output_env_path_workdir_cap_and_limits") else { return };
    let sbx = fx.sandbox(serde_json::json!({
        "workspaceAccess": "none",
        "docker": { "env": { "FROM_CONFIG": "c", "SHARED": "config" } },
    }));

    // The workspace folder belongs to the container's user (uid 1000), so
    // /workspace is usable in a fresh sandbox.
    let out = fx.sh(&sbx, "id -u && touch /workspace/x && echo made");
    assert_eq!((out.stdout.as_str(), out.exit_code), ("1000\nmade\n", Some(0)), "{out:?}");
    assert!(sbx.workspace_dir.join("x").is_file());
    let meta = std::fs::metadata(&sbx.workspace_dir).unwrap();
    assert_eq!((std::os::unix::fs::MetadataExt::uid(&meta), std::os::unix::fs::MetadataExt::gid(&meta)), (1000, 1000));

    // stdout, stderr and the exit code, apart.
    let out = fx.sh(&sbx, "echo out; echo err >&2; exit 3");
    assert_eq!((out.stdout.as_str(), out.stderr.as_str(), out.exit_code), ("out\n", "err\n", Some(3)));
    assert!(!out.truncated && !out.timed_out && !out.killed_by_oom);
    assert!(out.warnings.is_empty() && out.notes.is_empty(), "{out:?}");

    // Environment: base, then config, then call; nothing from this process.
    let env = BTreeMap::from([("FROM_CALL".to_string(), "x".to_string()), ("SHARED".to_string(), "call".to_string())]);
    let out = fx.run(&sbx, &ExecRequest { env, ..ExecRequest::new("env") });
    let inside = env_map(&out.stdout);
    assert_eq!(inside.get("FROM_CONFIG"), Some(&"c"), "{}", out.stdout);
    assert_eq!(inside.get("FROM_CALL"), Some(&"x"));
    assert_eq!(inside.get("SHARED"), Some(&"call"), "the call wins over the config");
    assert_eq!(inside.get("HOME"), Some(&"/workspace"));
    assert_eq!(inside.get("OPENCLAW_SHELL"), Some(&"exec"));
    assert_eq!(inside.get("OPENCLAW_EXEC_ID").map(|v| v.len()), Some(36), "the per-exec marker");
    assert!(!inside.contains_key("OPENCLAW_PREPEND_PATH"));
    let shared_names = ["PATH", "HOME", "HOSTNAME", "PWD", "SHLVL", "OLDPWD", "_", "TERM", "LANG", "DEBIAN_FRONTEND"];
    let host: Vec<(String, String)> = std::env::vars().filter(|(k, _)| !shared_names.contains(&k.as_str())).collect();
    assert!(!host.is_empty(), "the test process has variables of its own (cargo sets CARGO_*)");
    for (k, v) in &host {
        assert_ne!(inside.get(k.as_str()), Some(&v.as_str()), "the host's {k} leaked into the sandbox");
    }

    // PATH: pathPrepend and the call's PATH survive the login shell.
    let bin = sbx.workspace_dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("hello"), "#!/bin/sh\necho \"hello from $0\"\n").unwrap();
    std::fs::set_permissions(bin.join("hello"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let env = BTreeMap::from([("PATH".to_string(), "/call/bin".to_string())]);
    let req = ExecRequest { env, ..ExecRequest::new("echo \"$PATH\"; hello; echo \"${OPENCLAW_PREPEND_PATH-unset}\"") };
    let out = fx.try_run(&sbx, &req, &["/workspace/bin".to_string()]).unwrap();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert!(lines[0].starts_with("/workspace/bin:/call/bin:") && lines[0].contains(":/usr/bin"), "{}", lines[0]);
    assert_eq!(&lines[1..], ["hello from /workspace/bin/hello", "unset"]);
    let out = fx.sh(&sbx, "echo \"$PATH\"; command -v hello || echo none");
    assert!(!out.stdout.contains("/workspace/bin") && out.stdout.ends_with("none\n"), "{}", out.stdout);

    // Workdir: mapped inside the workspace, upstream's warning otherwise.
    std::fs::create_dir_all(sbx.workspace_dir.join("sub")).unwrap();
    for wd in ["sub", "/workspace/sub", "sub/../sub"] {
        let out = fx.run(&sbx, &ExecRequest { workdir: Some(wd), ..ExecRequest::new("pwd") });
        assert_eq!((out.stdout.as_str(), out.warnings.len()), ("/workspace/sub\n", 0), "{wd}");
    }
    for wd in ["../..", "/etc", "missing"] {
        let out = fx.run(&sbx, &ExecRequest { workdir: Some(wd), ..ExecRequest::new("pwd") });
        assert_eq!(out.stdout, "/workspace\n", "{wd}");
        assert_eq!(out.warnings, [format!("Warning: workdir \"{wd}\" is unavailable; using \"/workspace\".")]);
    }

    // Output past the cap is dropped as it streams, and marked.
    let cap = 64 * 1024;
    let req = ExecRequest { output_cap: cap, ..ExecRequest::new("head -c 5000000 /dev/zero | base64") };
    let out = fx.run(&sbx, &req);
    assert_eq!(out.exit_code, Some(0));
    assert!(out.truncated);
    assert!(
        out.stdout.ends_with("\n[output truncated: the command wrote more than the 64 KiB cap]"),
        "{}",
        &out.stdout[cap - 100..]
    );
    assert!(out.stdout.len() < cap + 100, "{}", out.stdout.len());

    // Limits: the tmpfs fills up, no network, no mounts, no user namespaces.
    let out = fx.sh(&sbx, "head -c 10G /dev/zero > /tmp/big; r=$?; rm -f /tmp/big; exit $r");
    assert_ne!(out.exit_code, Some(0));
    assert!(out.stderr.contains("No space left on device"), "{out:?}");
    let out = fx.sh(&sbx, "curl -sS --max-time 3 http://1.1.1.1");
    assert_ne!(out.exit_code, Some(0), "{out:?}");
    let out = fx.sh(&sbx, "mount -t tmpfs none /mnt");
    assert_ne!(out.exit_code, Some(0), "{out:?}");
    let out = fx.sh(&sbx, "unshare -r true");
    assert_ne!(out.exit_code, Some(0), "{out:?}");

    // A lease is held for the whole exec.
    let state = fx.home.state();
    std::thread::scope(|s| {
        let running = s.spawn(|| fx.sh(&sbx, "sleep 2"));
        std::thread::sleep(Duration::from_millis(700));
        let removal = lease::try_removal(&state, &sbx.name).unwrap();
        assert!(removal.is_none(), "removal is refused while the exec runs");
        assert_eq!(running.join().unwrap().exit_code, Some(0));
    });
    assert!(lease::try_removal(&state, &sbx.name).unwrap().is_some(), "the lease ends with the exec");

    // Bad variable names are refused before anything runs.
    for key in ["BAD KEY", "A=B", "NUL\0", ""] {
        let env = BTreeMap::from([(key.to_string(), "v".to_string())]);
        let err = fx.try_run(&sbx, &ExecRequest { env, ..ExecRequest::new("true") }, &[]).unwrap_err();
        assert!(matches!(err, Error::BadEnv { .. }), "{key:?}: {err:?}");
    }

    // A container removed behind our back: a clear error, recreated on next use.
    fx.docker.container_remove(&sbx.container_id, true).unwrap();
    let err = fx.try_run(&sbx, &ExecRequest::new("true"), &[]).unwrap_err();
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    assert!(err.to_string().contains("recreated on next use"), "{err}");
}

#[test]
fn timeout_kills_setsid_grandchildren_and_fork_bombs() {
    let Some(fx) = Fixture::new("timeout_kills_setsid_grandchildren_and_fork_bombs") else { return };
    let sbx = fx.sandbox(serde_json::json!({}));

    let req = ExecRequest {
        timeout: Duration::from_secs(2),
        ..ExecRequest::new("echo before; setsid sleep 1000 & sleep 1000")
    };
    let out = fx.run(&sbx, &req);
    assert!(out.timed_out, "{out:?}");
    assert_eq!(out.stdout, "before\n", "output until the timeout is kept");
    assert_eq!(out.notes, ["Command timed out: killed after 2 s."]);
    assert!(out.duration >= Duration::from_secs(2) && out.duration < Duration::from_secs(15), "{:?}", out.duration);
    let left = fx.sh(&sbx, PROCESSES);
    assert!(!left.stdout.contains("sleep 1000"), "both sleeps are gone:\n{}", left.stdout);
    assert!(left.stdout.contains("sleep infinity"), "the container's own process lives:\n{}", left.stdout);

    // A fork bomb (`:` is no function name for dash, so it runs in bash).
    // Its first process returns at once, and the Engine ends the exec stream
    // about 2 s later, before the timeout; the bomb, left filling the pids
    // limit, is killed then.
    let req = ExecRequest { timeout: Duration::from_secs(5), ..ExecRequest::new("bash -c ':(){ :|:& };:'") };
    let out = fx.run(&sbx, &req);
    assert!(out.stderr.contains("fork: retry: Resource temporarily unavailable"), "the pids limit stopped it: {out:?}");
    assert!(!out.timed_out, "{out:?}");
    // Killed one by one, or, when the bomb keeps every exec from starting,
    // by restarting the container.
    assert_eq!(out.notes.len(), 1, "{out:?}");
    assert!(
        out.notes[0] == "The command's remaining processes filled the container's process limit and were killed."
            || out.notes[0].contains("the sandbox container was restarted to stop them"),
        "{out:?}"
    );
    let after = fx.sh(&sbx, &format!("echo ok; {PROCESSES} | grep -c '^bash'"));
    assert_eq!((after.stdout.as_str(), after.exit_code), ("ok\n0\n", Some(1)), "usable, nothing left: {after:?}");

    // The same bomb while a `sleep` started first keeps the exec alive: the
    // timeout kills the lot.
    let req = ExecRequest {
        timeout: Duration::from_secs(5),
        ..ExecRequest::new("sleep 1000 & bash -c ':(){ :|:& };:'; wait")
    };
    let out = fx.run(&sbx, &req);
    assert!(out.timed_out, "{out:?}");
    assert!(out.stderr.contains("Resource temporarily unavailable"), "the pids limit stopped it: {out:?}");
    assert_eq!(out.notes[0], "Command timed out: killed after 5 s.", "{out:?}");
    assert!(out.notes.len() == 1 || out.notes[1].contains("the sandbox container was restarted"), "every process was stopped: {out:?}");
    let after = fx.sh(&sbx, &format!("echo ok; {PROCESSES} | grep -c -e '^bash' -e '^sleep 1000'"));
    assert_eq!((after.stdout.as_str(), after.exit_code), ("ok\n0\n", Some(1)), "usable, nothing left: {after:?}");
}

#[test]
fn memory_hog_is_reported_as_an_oom_kill() {
    let Some(fx) = Fixture::new("memory_hog_is_reported_as_an_oom_kill") else { return };
    let sbx = fx.sandbox(serde_json::json!({ "docker": { "memory": "128m", "memorySwap": "128m" } }));

    let out = fx.sh(&sbx, "python3 -c \"x=bytearray(2*1024**3)\"");
    assert_eq!(out.exit_code, Some(137), "{out:?}");
    assert!(out.killed_by_oom && !out.timed_out, "{out:?}");
    assert_eq!(out.notes, ["Command was killed by the out-of-memory killer (memory limit 128 MiB)."]);

    // A SIGKILL from elsewhere is not mistaken for one.
    let out = fx.sh(&sbx, "kill -9 $$");
    assert_eq!(out.exit_code, Some(137), "{out:?}");
    assert!(!out.killed_by_oom, "{out:?}");
    assert_eq!(out.notes, ["Command was killed by signal 9 (SIGKILL)."]);
    assert_eq!(fx.sh(&sbx, "echo ok").stdout, "ok\n");
}

#[test]
fn file_operations_are_rooted_leased_and_refused_under_ro() {
    let Some(fx) = Fixture::new("file_operations_are_rooted_leased_and_refused_under_ro") else { return };
    let sbx = fx.sandbox(serde_json::json!({}));
    let files = fx.manager.files(&sbx).unwrap();
    files.root.write("/workspace/notes/a.txt", "from the host\n").unwrap();
    assert_eq!(fx.sh(&sbx, "cat /workspace/notes/a.txt").stdout, "from the host\n");
    // The sandbox plants a symlink to a host path; file tools refuse it.
    fx.sh(&sbx, "ln -s /etc/passwd /workspace/evil");
    assert!(files.root.read("evil", None, None, 4096).unwrap_err().to_string().starts_with("Path escapes sandbox root"));
    assert!(files.root.write("../../escape.txt", "x").is_err());
    assert!(lease::try_removal(&fx.home.state(), &sbx.name).unwrap().is_none(), "leased while the handle lives");
    drop(files);
    assert!(lease::try_removal(&fx.home.state(), &sbx.name).unwrap().is_some());

    let sbx = fx.sandbox(serde_json::json!({ "workspaceAccess": "ro" }));
    let files = fx.manager.files(&sbx).unwrap();
    let err = files.root.write("b.txt", "x").unwrap_err().to_string();
    assert!(err.contains("workspaceAccess"), "{err}");
}
