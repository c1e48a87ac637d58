//! The agent's `exec` tool (reference §7): a shell command on the gateway
//! host or in the session's sandbox container, waited for up to `yieldMs`
//! and then handed to the background (see `agent::process`).
//!
//! # On the host
//!
//! `/bin/sh -lc <command>` in a process group of its own, in the agent's
//! folder or the call's `workdir` inside it (otherwise upstream's warning
//! `Warning: workdir "<x>" is unavailable; using "<folder>".`). The
//! environment is the gateway's (the map the caller passes; never read
//! here), then the call's `env`, plus `OPENCLAW_SHELL=exec`. The login shell
//! resets `PATH` from `/etc/profile`, so, exactly as in a sandbox, the shell
//! starts with the standard `PATH` while the wanted one
//! (`tools.exec.pathPrepend` in front of the call's or the gateway's) travels
//! as `OPENCLAW_PREPEND_PATH`, and the command is prefixed with
//! `sandbox::exec::PATH_PREFIX`: the command sees the wanted folders first,
//! then the profile's.
//!
//! stdout and stderr share one pipe, so they interleave as written. The
//! output kept is the last `output_cap` bytes (the first line says how much
//! was dropped before them), read in 64 KiB chunks: a command that writes
//! gigabytes costs no memory beyond the cap. When `timeout` passes, the
//! whole process group gets SIGKILL, children and grandchildren included
//! (not those that left the group with `setsid`).
//!
//! Signals: the gateway blocks SIGTERM and SIGINT in all its threads
//! (`sys`), and a blocked mask survives `exec`. `std::process::Command`
//! empties the child's mask and puts SIGPIPE back to its default before the
//! program starts (both with `posix_spawn` and with fork/exec), so commands
//! start with no signal blocked and `timeout 1 sleep 5` or `kill` work as
//! usual; no `pre_exec` (which would need `unsafe`) is used. A test checks
//! `SigBlk` of a command started from a thread with the signals blocked.
//!
//! # In a sandbox
//!
//! Through `sandbox::exec::run` (workdir mapping, environment, caps, timeout
//! kill, OOM notes), on a thread, since it cannot be interrupted. Its output
//! (stdout, then stderr, `output_cap / 2` each) arrives when it ends. Each
//! such command also carries `OPENCLAW_EXEC_SESSION=<uuid>`, so `process
//! kill` and an abort can stop its processes with the sandbox's own
//! `kill_by_env` (the kill its timeout uses), repeated while the command has not ended
//! (it may not have started yet). If that exec cannot run, the command keeps
//! running until its timeout, and the tool says so. On abort the call returns at once and the command
//! becomes a background session while it is being stopped.
//!
//! # Results
//!
//! Warnings, then the output (or `(no output)`), then a blank line and how
//! it ended when that is not a plain success: `(Command exited with code
//! N)`, `Command was killed by signal 9 (SIGKILL).`, `Command timed out after
//! N s; it was killed with its process group.`, the sandbox's notes. A
//! timeout, an abort or a failure to run is an error result; a non-zero exit
//! is not. A command still running after `yieldMs` (default
//! `tools.exec.backgroundMs`, kept within 10 ms..120 s as upstream) or
//! started with `background: true` returns upstream's `Command still running
//! (session <id>, pid <pid>). Use process (list/poll/log/write/kill/clear/remove)
//! for follow-up.`, then `status: running`, `sessionId: <id>` and the end of
//! the output so far.
//!
//! Not here: `pty`, `host`/`node`/`elevated` routing (the caller picks the
//! [`Target`]), approvals (`security`, `ask`) and exit notifications.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::agent::ToolOutput;
use crate::agent::process::{self, Ending, Killer, Registry, Session, Start, Waited};
use crate::agent::provider::ToolSpec;
use crate::config::model::ExecSettings;
use crate::crypto;
use crate::docker::Docker;
use crate::sandbox::exec::{self as sandbox_exec, ExecRequest, PATH_PREFIX, PREPEND_VAR, valid_env_name};
use crate::sandbox::{Manager, Sandbox};
use crate::workspace::{Access, Root};

/// `tools.exec.backgroundMs` when unset (reference §7).
pub const DEFAULT_BACKGROUND_MS: u64 = 10_000;
/// `tools.exec.timeoutSec` when unset.
pub const DEFAULT_TIMEOUT_SEC: u64 = 1800;
/// `tools.exec.cleanupMs` when unset.
pub const DEFAULT_CLEANUP_MS: u64 = 1_800_000;
/// The bounds upstream keeps `yieldMs` within.
pub const MIN_YIELD_MS: u64 = 10;
pub const MAX_YIELD_MS: u64 = 120_000;
/// The longest `timeout` a call may ask for (7 days, as `timeoutSec`).
pub const MAX_TIMEOUT_SEC: u64 = 604_800;
/// The variable that marks every process of one sandboxed exec session.
pub const SESSION_MARKER_VAR: &str = "OPENCLAW_EXEC_SESSION";

/// Where a command runs.
// Made once per call and moved into it, never stored: boxing the large
// variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Target {
    /// On the gateway host: `workdir` is the agent's folder (a call's
    /// `workdir` must stay inside it), `env` the gateway's environment.
    Host { workdir: PathBuf, env: BTreeMap<String, String> },
    /// In the session's sandbox container.
    Sandbox { manager: Manager, sandbox: Sandbox, state_dir: PathBuf },
}

/// `tools.exec.*` with the defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub background_ms: u64,
    pub timeout_sec: u64,
    pub cleanup_ms: u64,
    pub path_prepend: Vec<String>,
    /// Output bytes kept per command (the sandbox keeps half per stream).
    pub output_cap: usize,
}

impl Settings {
    pub fn from_config(cfg: &ExecSettings) -> Settings {
        Settings {
            background_ms: cfg.background_ms.unwrap_or(DEFAULT_BACKGROUND_MS),
            timeout_sec: cfg.timeout_sec.unwrap_or(DEFAULT_TIMEOUT_SEC),
            cleanup_ms: cfg.cleanup_ms.unwrap_or(DEFAULT_CLEANUP_MS),
            path_prepend: cfg.path_prepend.clone(),
            output_cap: sandbox_exec::DEFAULT_OUTPUT_CAP,
        }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::from_config(&ExecSettings::default())
    }
}

/// The `exec` tool's schema.
pub fn spec() -> ToolSpec {
    ToolSpec {
        name: "exec".to_string(),
        description: "Run a shell command (sh -lc) in the workspace. Output is stdout and stderr together. A command \
                      still running after yieldMs (default 10000) moves to the background and the result gives its \
                      sessionId; follow it up with the process tool."
            .to_string(),
        parameters: json!({
            "type": "object",
            "properties": {
                "command": { "type": "string", "description": "The shell command to run." },
                "workdir": { "type": "string", "description": "Working folder, relative to the workspace (it must stay inside it)." },
                "env": {
                    "type": "object",
                    "additionalProperties": { "type": "string" },
                    "description": "Extra environment variables for the command."
                },
                "yieldMs": { "type": "number", "description": "Milliseconds to wait before moving the command to the background (default 10000)." },
                "background": { "type": "boolean", "description": "Move the command to the background at once." },
                "timeout": { "type": "number", "description": "Seconds after which the command and its children are killed (default 1800)." }
            },
            "required": ["command"]
        }),
    }
}

/// Runs one `exec` call for the agent `owner` (see the module doc). Returns
/// when the command ends, after `yieldMs`, or soon after `abort` is set.
/// Never panics; a bad argument is an error naming it.
pub fn tool(
    processes: &Registry,
    owner: &str,
    target: Target,
    settings: &Settings,
    args: &Value,
    abort: &AtomicBool,
) -> ToolOutput {
    let call = match Call::parse(args) {
        Ok(call) => call,
        Err(e) => return ToolOutput::error(e),
    };
    if abort.load(Ordering::SeqCst) {
        return ToolOutput::error("Command aborted before it started.");
    }
    processes.sweep(Instant::now());
    let timeout = call.timeout.unwrap_or_else(|| Duration::from_secs(settings.timeout_sec.clamp(1, MAX_TIMEOUT_SEC)));
    let mut warnings = Vec::new();
    if call.pty {
        warnings.push("Warning: pty is not supported; the command runs without a terminal.".to_string());
    }
    let start = Start {
        owner,
        command: &call.command,
        output_cap: settings.output_cap,
        timeout,
        cleanup: Duration::from_millis(settings.cleanup_ms),
        warnings,
    };
    let started = match target {
        Target::Host { workdir, env } => start_host(processes, start, &workdir, &env, settings, &call),
        Target::Sandbox { manager, sandbox, state_dir } => {
            start_sandbox(processes, start, manager, sandbox, state_dir, settings, &call)
        }
    };
    let session = match started {
        Ok(session) => session,
        Err(e) => return ToolOutput::error(e),
    };
    if call.background {
        session.hand_off();
        return ToolOutput::ok(session.running_text());
    }
    let yield_ms =
        call.yield_ms.filter(|&ms| ms > 0).unwrap_or(settings.background_ms).clamp(MIN_YIELD_MS, MAX_YIELD_MS);
    let until = Instant::now() + Duration::from_millis(yield_ms);
    match session.wait(until, abort) {
        Waited::Ended => {
            let result = session.result();
            processes.forget(session.id());
            result
        }
        Waited::Deadline => {
            session.hand_off();
            ToolOutput::ok(session.running_text())
        }
        Waited::Aborted => aborted(processes, &session),
    }
}

// ---------------------------------------------------------------------------
// Private helpers.

/// One call's arguments, checked.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    command: String,
    workdir: Option<String>,
    env: BTreeMap<String, String>,
    yield_ms: Option<u64>,
    background: bool,
    timeout: Option<Duration>,
    pty: bool,
}

impl Call {
    fn parse(args: &Value) -> Result<Call, String> {
        if !args.is_object() {
            return Err("exec: the arguments must be an object with a \"command\"".to_string());
        }
        let command = match process::string_arg(args, "exec", "command") {
            Ok(Some(c)) => c,
            Ok(None) | Err(_) => return Err("exec: \"command\" is required (a string)".to_string()),
        };
        if command.trim().is_empty() {
            return Err("exec: \"command\" is empty; give the shell command to run".to_string());
        }
        if command.contains('\0') {
            return Err("exec: \"command\" contains a NUL byte".to_string());
        }
        let workdir = process::string_arg(args, "exec", "workdir")?.map(str::to_string);
        let env = match args.get("env") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => {
                let mut env = BTreeMap::new();
                for (key, value) in map {
                    let Value::String(value) = value else {
                        return Err(format!("exec: \"env\" values must be strings; {} is not", shown_key(key)));
                    };
                    if !valid_env_name(key) {
                        return Err(format!(
                            "exec: \"env\" has {}, which is not a variable name (letters, digits and _, not starting \
                             with a digit)",
                            shown_key(key)
                        ));
                    }
                    if value.contains('\0') {
                        return Err(format!("exec: \"env\" value of {} contains a NUL byte", shown_key(key)));
                    }
                    env.insert(key.clone(), value.clone());
                }
                env
            }
            Some(_) => return Err("exec: \"env\" must be an object of strings".to_string()),
        };
        let yield_ms = process::number_arg(args, "exec", "yieldMs")?.map(|ms| ms.min(u64::MAX as f64) as u64);
        let timeout = match process::number_arg(args, "exec", "timeout")? {
            Some(secs) if secs > 0.0 => Some(Duration::from_secs_f64(secs.min(MAX_TIMEOUT_SEC as f64))),
            _ => None,
        };
        Ok(Call {
            command: command.to_string(),
            workdir,
            env,
            yield_ms,
            background: process::bool_arg(args, "exec", "background")?.unwrap_or(false),
            timeout,
            pty: process::bool_arg(args, "exec", "pty")?.unwrap_or(false),
        })
    }
}

fn start_host(
    processes: &Registry,
    mut start: Start<'_>,
    workdir: &Path,
    env: &BTreeMap<String, String>,
    settings: &Settings,
    call: &Call,
) -> Result<Arc<Session>, String> {
    let root = Root::open(workdir, Access::ReadOnly, None)
        .map_err(|e| format!("exec: the working folder {} is unavailable: {e}", workdir.display()))?;
    let (cwd, warning) = host_workdir(&root, call.workdir.as_deref());
    start.warnings.extend(warning);
    let (vars, script) = host_env(env, &call.env, &settings.path_prepend, &call.command);
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-lc").arg(script).env_clear().envs(&vars).current_dir(cwd);
    processes.start_host(start, cmd)
}

/// The folder to run in, and upstream's warning when the wanted one is not
/// an existing folder inside the root.
fn host_workdir(root: &Root, wanted: Option<&str>) -> (PathBuf, Option<String>) {
    let Some(wanted) = wanted.filter(|w| !w.trim().is_empty()) else {
        return (root.path().to_path_buf(), None);
    };
    match root.resolve(wanted) {
        Ok(dir) if dir.is_dir() => (dir, None),
        _ => {
            let shown: String = wanted.chars().take(200).collect();
            let shown = if shown.len() < wanted.len() { format!("{shown}…") } else { shown };
            let warning = format!("Warning: workdir \"{shown}\" is unavailable; using \"{}\".", root.path().display());
            (root.path().to_path_buf(), Some(warning))
        }
    }
}

/// The host command's environment and script (see the module doc).
fn host_env(
    base: &BTreeMap<String, String>,
    call: &BTreeMap<String, String>,
    path_prepend: &[String],
    command: &str,
) -> (BTreeMap<String, String>, String) {
    let mut vars = base.clone();
    vars.extend(call.iter().map(|(k, v)| (k.clone(), v.clone())));
    vars.insert("OPENCLAW_SHELL".to_string(), "exec".to_string());
    vars.remove(PREPEND_VAR);
    let supplied = vars.get("PATH").map(String::as_str);
    let parts: Vec<&str> = path_prepend.iter().map(String::as_str).chain(supplied).filter(|p| !p.is_empty()).collect();
    let path = parts.join(":");
    if path.is_empty() {
        return (vars, command.to_string());
    }
    // The shell starts with the standard folders, so `/etc/profile` finds
    // `id` and friends whatever the wanted `PATH` holds.
    vars.insert("PATH".to_string(), sandbox_exec::DEFAULT_PATH.to_string());
    vars.insert(PREPEND_VAR.to_string(), path);
    (vars, format!("{PATH_PREFIX}{command}"))
}

fn start_sandbox(
    processes: &Registry,
    mut start: Start<'_>,
    manager: Manager,
    sandbox: Sandbox,
    state_dir: PathBuf,
    settings: &Settings,
    call: &Call,
) -> Result<Arc<Session>, String> {
    let marker = crypto::uuid_v4().map_err(|e| format!("exec: cannot make an id for the command: {e}"))?;
    let killer: Killer = {
        let docker = manager.docker().clone();
        let container = sandbox.container_id.clone();
        let marker = marker.clone();
        Box::new(move || kill_in_sandbox(&docker, &container, &marker))
    };
    // Room for the marker lines the sandbox adds to each capped stream.
    let per_stream = settings.output_cap / 2;
    start.output_cap = settings.output_cap.saturating_add(1024);
    let timeout = start.timeout;
    let session = processes.start_external(start, killer)?;
    let mut env = call.env.clone();
    env.insert(SESSION_MARKER_VAR.to_string(), marker);
    let (command, workdir, path_prepend) = (call.command.clone(), call.workdir.clone(), settings.path_prepend.clone());
    let ending = Arc::clone(&session);
    let spawned = std::thread::Builder::new().name("exec-sandbox".to_string()).spawn(move || {
        let req = ExecRequest { command: &command, workdir: workdir.as_deref(), env, timeout, output_cap: per_stream };
        let run = || sandbox_exec::run(&manager, &sandbox, &state_dir, &req, &path_prepend);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(Ok(out)) => ending.finish(
                &[&out.stdout, &out.stderr],
                Ending {
                    exit_code: out.exit_code,
                    timed_out: out.timed_out,
                    warnings: out.warnings,
                    notes: out.notes,
                    error: None,
                },
            ),
            Ok(Err(e)) => ending.finish(&[], failed(error_chain(&e))),
            Err(_) => ending.finish(&[], failed("the sandbox exec failed unexpectedly (a bug; see the log)".into())),
        }
    });
    if let Err(e) = spawned {
        processes.forget(session.id());
        return Err(format!("exec: cannot start a thread for the sandboxed command: {e}"));
    }
    Ok(session)
}

fn failed(error: String) -> Ending {
    Ending { exit_code: None, timed_out: false, warnings: Vec::new(), notes: Vec::new(), error: Some(error) }
}

/// An error's message and its causes, as the CLI prints them.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Kills the processes of the sandboxed command marked `marker`.
fn kill_in_sandbox(docker: &Docker, container: &str, marker: &str) -> Result<(), String> {
    sandbox_exec::kill_by_env(docker, container, SESSION_MARKER_VAR, marker)
}

/// The call was aborted: a host command is killed with its group; a
/// sandboxed one becomes a background session while it is stopped.
fn aborted(processes: &Registry, session: &Arc<Session>) -> ToolOutput {
    if !session.is_external() {
        if let Err(e) = session.kill(process::KILLED_BY_ABORT) {
            log::debug!("exec session {}: {e}", session.id());
        }
        let never = AtomicBool::new(false);
        session.wait(Instant::now() + Duration::from_secs(2), &never);
        let result = session.result();
        processes.forget(session.id());
        return ToolOutput::error(format!("Command aborted.\n\n{}", result.text));
    }
    session.hand_off();
    let stopping = Arc::clone(session);
    let spawned = std::thread::Builder::new().name("exec-abort".to_string()).spawn(move || {
        if let Err(e) = stopping.kill(process::KILLED_BY_ABORT) {
            log::warn!("exec session {}: {e}", stopping.id());
        }
    });
    let how = match spawned {
        Ok(_) => "its processes in the sandbox are being stopped",
        Err(_) => "it could not be stopped and keeps running until its timeout",
    };
    ToolOutput::error(format!(
        "Command aborted. It was running in the sandbox, where it cannot be interrupted at once: {how}. It stays \
         as background session {} meanwhile (process poll shows how it ended).",
        session.id()
    ))
}

fn shown_key(key: &str) -> String {
    let shown: String = key.chars().take(60).collect();
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static DIRS: AtomicUsize = AtomicUsize::new(0);

    /// A scratch folder, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Dir {
            let n = DIRS.fetch_add(1, Ordering::SeqCst);
            let dir = std::env::temp_dir().join(format!("openclaw-agent-exec-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn gateway_env(dir: &Path) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("PATH".to_string(), "/usr/local/bin:/usr/bin:/bin".to_string()),
            ("HOME".to_string(), dir.display().to_string()),
            ("FROM_GATEWAY".to_string(), "gw".to_string()),
        ])
    }

    fn host(dir: &Dir) -> Target {
        Target::Host { workdir: dir.0.clone(), env: gateway_env(&dir.0) }
    }

    fn run(reg: &Registry, owner: &str, dir: &Dir, args: Value) -> ToolOutput {
        tool(reg, owner, host(dir), &Settings::default(), &args, &AtomicBool::new(false))
    }

    fn process(reg: &Registry, owner: &str, args: Value) -> ToolOutput {
        process::tool(reg, owner, &args)
    }

    /// The session id in a "still running" result.
    fn session_id(out: &ToolOutput) -> String {
        let line = out.text.lines().find_map(|l| l.strip_prefix("sessionId: ")).unwrap_or_else(|| panic!("{out:?}"));
        line.to_string()
    }

    /// Polls until the session has ended; returns everything polled.
    fn poll_until_ended(reg: &Registry, owner: &str, id: &str) -> String {
        let mut all = String::new();
        for _ in 0..200 {
            let out = process(reg, owner, json!({"action": "poll", "sessionId": id}));
            assert!(!out.is_error, "{out:?}");
            all.push_str(&out.text);
            all.push('\n');
            if !out.text.ends_with("Process still running.") {
                return all;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("session {id} did not end: {all}");
    }

    /// Processes whose process group is `pgid`, not counting zombies.
    fn live_in_group(pgid: &str) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // pid (comm) state ppid pgrp …; comm may hold spaces.
            let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
            let fields: Vec<&str> = rest.split(' ').collect();
            if fields.get(2) == Some(&pgid) && fields.first() != Some(&"Z") {
                found.push(stat);
            }
        }
        found
    }

    #[test]
    fn host_output_exit_codes_and_stderr() {
        let (reg, dir) = (Registry::new(), Dir::new());
        let out = run(&reg, "main", &dir, json!({"command": "echo hello"}));
        assert_eq!(out, ToolOutput::ok("hello\n"));
        let out = run(&reg, "main", &dir, json!({"command": "true"}));
        assert_eq!(out, ToolOutput::ok("(no output)"));
        let out = run(&reg, "main", &dir, json!({"command": "echo out; echo err >&2; echo out2; exit 3"}));
        assert_eq!(out, ToolOutput::ok("out\nerr\nout2\n\n(Command exited with code 3)"));
        let out = run(&reg, "main", &dir, json!({"command": "kill -9 $$"}));
        assert_eq!(out, ToolOutput::ok("(no output)\n\nCommand was killed by signal 9 (SIGKILL)."));
        assert_eq!(format!("{reg:?}"), "Registry { sessions: 0 }", "ended commands are forgotten");

        // A background child that keeps the output open does not hold the
        // result back.
        let started = Instant::now();
        let out = run(&reg, "main", &dir, json!({"command": "echo hi; sleep 5 &"}));
        assert_eq!(out, ToolOutput::ok("hi\n"));
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn host_workdir_stays_inside_and_warns() {
        let (reg, dir) = (Registry::new(), Dir::new());
        let root = std::fs::canonicalize(&dir.0).unwrap();
        let out = run(&reg, "main", &dir, json!({"command": "pwd"}));
        assert_eq!(out.text, format!("{}\n", root.display()));
        let out = run(&reg, "main", &dir, json!({"command": "pwd", "workdir": "sub"}));
        assert_eq!(out.text, format!("{}\n", root.join("sub").display()));
        for bad in ["../..", "/etc", "missing", "~"] {
            let out = run(&reg, "main", &dir, json!({"command": "pwd", "workdir": bad}));
            let want = format!("Warning: workdir \"{bad}\" is unavailable; using \"{0}\".\n\n{0}\n", root.display());
            assert_eq!(out, ToolOutput::ok(want), "{bad}");
        }
        let gone = Target::Host { workdir: dir.0.join("nope"), env: BTreeMap::new() };
        let out = tool(&reg, "main", gone, &Settings::default(), &json!({"command": "pwd"}), &AtomicBool::new(false));
        assert!(out.is_error && out.text.starts_with("exec: the working folder "), "{out:?}");
    }

    #[test]
    fn host_environment_is_the_gateways_the_calls_and_the_prepended_path() {
        let (reg, dir) = (Registry::new(), Dir::new());
        let settings = Settings { path_prepend: vec!["/opt/first".to_string()], ..Settings::default() };
        let args = json!({
            "command": "echo \"$FROM_GATEWAY $FROM_CALL $OPENCLAW_SHELL\"; echo \"$PATH\"; env | grep -c '^CARGO' || true",
            "env": {"FROM_CALL": "call"}
        });
        let out = tool(&reg, "main", host(&dir), &settings, &args, &AtomicBool::new(false));
        let lines: Vec<&str> = out.text.lines().collect();
        assert_eq!(lines[0], "gw call exec", "{out:?}");
        assert!(lines[1].starts_with("/opt/first:/usr/local/bin:/usr/bin:/bin"), "{out:?}");
        assert_eq!(lines[2], "0", "nothing from the test process's own environment");

        let args = json!({"command": "echo \"$PATH\"", "env": {"PATH": "/call/bin"}});
        let out = tool(&reg, "main", host(&dir), &settings, &args, &AtomicBool::new(false));
        assert!(out.text.starts_with("/opt/first:/call/bin:"), "{out:?}");
    }

    #[test]
    fn host_commands_start_with_no_signal_blocked() {
        let dir = Dir::new();
        // Like the gateway: SIGTERM and SIGINT blocked in the calling thread.
        let out = std::thread::spawn(move || {
            let _signals = crate::sys::block_termination().unwrap();
            let reg = Registry::new();
            let out = run(&reg, "main", &dir, json!({"command": "grep -E '^Sig(Blk|Ign)' /proc/self/status"}));
            let inner = run(&reg, "main", &dir, json!({"command": "timeout 0.2 sleep 5; echo \"code $?\""}));
            (out, inner)
        })
        .join()
        .unwrap();
        assert!(out.0.text.contains("SigBlk:\t0000000000000000"), "{:?}", out.0);
        // SIGINT, SIGPIPE (ignored by Rust programs) and SIGTERM are not ignored.
        let ignored = out.0.text.lines().find_map(|l| l.strip_prefix("SigIgn:\t")).unwrap();
        let ignored = u64::from_str_radix(ignored, 16).unwrap();
        for sig in [2, 13, 15] {
            assert_eq!(ignored & (1 << (sig - 1)), 0, "signal {sig} ignored: {:?}", out.0);
        }
        assert_eq!(out.1.text, "code 124\n", "timeout(1) can stop its child");
    }

    #[test]
    fn host_timeout_kills_the_whole_group() {
        let (reg, dir) = (Registry::new(), Dir::new());
        let started = Instant::now();
        let out = run(&reg, "main", &dir, json!({"command": "echo $$; sleep 100 & sleep 100", "timeout": 0.5}));
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(out.is_error, "{out:?}");
        let pgid = out.text.lines().next().unwrap().to_string();
        assert_eq!(out.text, format!("{pgid}\n\nCommand timed out after 0.5 s; it was killed with its process group."));
        let mut left = live_in_group(&pgid);
        for _ in 0..40 {
            if left.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            left = live_in_group(&pgid);
        }
        assert!(left.is_empty(), "still alive in group {pgid}: {left:?}");
    }

    #[test]
    fn host_output_is_capped_with_a_marker() {
        let (reg, dir) = (Registry::new(), Dir::new());
        let out = run(&reg, "main", &dir, json!({"command": "head -c 5000000 /dev/zero | tr '\\0' a; echo; echo end"}));
        assert!(!out.is_error);
        let (first, rest) = out.text.split_once('\n').unwrap();
        assert_eq!(first, "[output truncated: the first 4.6 MiB were dropped; the last 200 KiB follow]");
        assert_eq!(rest.len(), 200 * 1024);
        assert!(rest.ends_with("aaaa\nend\n"));

        let small = Settings { output_cap: 10, ..Settings::default() };
        let args = json!({"command": "seq 1 100"});
        let out = tool(&reg, "main", host(&dir), &small, &args, &AtomicBool::new(false));
        assert_eq!(
            out.text,
            "[output truncated: the first 282 bytes were dropped; the last 10 bytes follow]\n98\n99\n100\n"
        );
    }

    #[test]
    fn yield_hands_off_to_process_poll_log_write_kill_remove() {
        let (reg, dir) = (Registry::new(), Dir::new());
        let out =
            run(&reg, "main", &dir, json!({"command": "echo start; read x; echo \"got $x\"; exit 4", "yieldMs": 300}));
        assert!(!out.is_error, "{out:?}");
        let id = session_id(&out);
        assert!(out.text.starts_with(&format!("Command still running (session {id}, pid ")), "{out:?}");
        assert!(
            out.text
                .contains(". Use process (list/poll/log/write/kill/clear/remove) for follow-up.\nstatus: running\n")
        );
        assert!(out.text.ends_with("Output so far:\nstart"), "{out:?}");

        let list = process(&reg, "main", json!({"action": "list"})).text;
        assert!(list.starts_with(&format!("{id} running ")) && list.contains(":: echo start; read x;"), "{list}");
        let poll = process(&reg, "main", json!({"action": "poll", "sessionId": id})).text;
        assert_eq!(poll, "start\n\nProcess still running.");
        let poll = process(&reg, "main", json!({"action": "poll", "sessionId": id})).text;
        assert_eq!(poll, "(no new output)\n\nProcess still running.");

        let wrote = process(&reg, "main", json!({"action": "write", "sessionId": id, "data": "hello\n"}));
        assert_eq!(wrote, ToolOutput::ok(format!("Wrote 6 bytes to session {id}.")));
        let polled = poll_until_ended(&reg, "main", &id);
        assert!(polled.contains("got hello\n") && polled.ends_with("Process exited with code 4.\n"), "{polled}");
        let log = process(&reg, "main", json!({"action": "log", "sessionId": id})).text;
        assert_eq!(log, "start\ngot hello");
        let list = process(&reg, "main", json!({"action": "list"})).text;
        assert!(list.starts_with(&format!("{id} failed ")) && list.contains(" exit 4 :: "), "{list}");
        let write = process(&reg, "main", json!({"action": "write", "sessionId": id, "data": "x"}));
        assert!(write.is_error && write.text.contains("has ended"), "{write:?}");
        let kill = process(&reg, "main", json!({"action": "kill", "sessionId": id}));
        assert!(kill.is_error && kill.text.contains("is not running (failed)"), "{kill:?}");

        // A second one: killed, then removed.
        let out = run(&reg, "main", &dir, json!({"command": "sleep 100 & sleep 100", "yieldMs": 50}));
        let id2 = session_id(&out);
        assert!(out.text.ends_with("No output yet."), "{out:?}");
        let clear = process(&reg, "main", json!({"action": "clear", "sessionId": id2}));
        assert!(clear.is_error && clear.text.contains("still running"), "{clear:?}");
        let kill = process(&reg, "main", json!({"action": "kill", "sessionId": id2}));
        assert_eq!(kill, ToolOutput::ok(format!("Killed session {id2}.")));
        let poll = process(&reg, "main", json!({"action": "poll", "sessionId": id2})).text;
        assert_eq!(poll, "(no new output)\n\nCommand was killed by process kill.");
        let list = process(&reg, "main", json!({"action": "list"})).text;
        assert!(list.starts_with(&format!("{id2} killed ")), "{list}");

        let out = run(&reg, "main", &dir, json!({"command": "sleep 100", "yieldMs": 20}));
        let id3 = session_id(&out);
        let removed = process(&reg, "main", json!({"action": "remove", "sessionId": id3}));
        assert_eq!(removed, ToolOutput::ok(format!("Removed session {id3}. Its command was killed.")));
        assert!(process(&reg, "main", json!({"action": "poll", "sessionId": id3})).is_error);
        let removed = process(&reg, "main", json!({"action": "remove", "sessionId": id}));
        assert_eq!(removed, ToolOutput::ok(format!("Removed session {id}.")));
        assert_eq!(
            process(&reg, "main", json!({"action": "clear", "sessionId": id2})).text,
            format!("Cleared session {id2}.")
        );
        assert_eq!(process(&reg, "main", json!({"action": "list"})).text, "No running or recent sessions.");
    }

    #[test]
    fn stdin_eof_and_a_command_that_does_not_read() {
        let (reg, dir) = (Registry::new(), Dir::new());
        let out = run(&reg, "main", &dir, json!({"command": "wc -c", "background": true}));
        let id = session_id(&out);
        let wrote = process(&reg, "main", json!({"action": "write", "sessionId": id, "data": "abc", "eof": true}));
        assert_eq!(wrote.text, format!("Wrote 3 bytes to session {id} and closed its stdin."));
        let polled = poll_until_ended(&reg, "main", &id);
        assert!(polled.contains("3\n") && polled.ends_with("Process exited with code 0.\n"), "{polled}");

        // Never reads: the write returns anyway, and a second one is refused.
        let out = run(&reg, "main", &dir, json!({"command": "sleep 100", "background": true}));
        let id = session_id(&out);
        let big = "x".repeat(1 << 20);
        let started = Instant::now();
        let wrote = process(&reg, "main", json!({"action": "write", "sessionId": id, "data": big}));
        assert!(!wrote.is_error && wrote.text.contains("has not read them all"), "{wrote:?}");
        assert!(started.elapsed() < Duration::from_secs(4));
        let again = process(&reg, "main", json!({"action": "write", "sessionId": id, "data": "y"}));
        assert!(again.is_error && again.text.contains("still waiting"), "{again:?}");
        process(&reg, "main", json!({"action": "remove", "sessionId": id}));

        // Gateway shutdown kills what still runs.
        let out = run(&reg, "main", &dir, json!({"command": "sleep 100", "background": true}));
        let id = session_id(&out);
        reg.kill_all();
        let polled = poll_until_ended(&reg, "main", &id);
        assert!(polled.ends_with("Command was killed at gateway shutdown.\n"), "{polled}");
    }

    #[test]
    fn background_starts_at_once_and_owners_are_isolated() {
        let (reg, dir) = (Registry::new(), Dir::new());
        let started = Instant::now();
        let out = run(&reg, "alice", &dir, json!({"command": "sleep 1.5; echo done", "background": true}));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        let id = session_id(&out);
        assert_eq!(process(&reg, "bob", json!({"action": "list"})).text, "No running or recent sessions.");
        for action in ["poll", "log", "kill", "remove", "clear"] {
            let out = process(&reg, "bob", json!({"action": action, "sessionId": id, "data": "x"}));
            assert!(out.is_error && out.text.contains("no session"), "{action}: {out:?}");
        }
        let polled = poll_until_ended(&reg, "alice", &id);
        assert!(polled.contains("done\n"), "{polled}");
        // Swept once cleanupMs has passed.
        reg.sweep(Instant::now() + Duration::from_millis(DEFAULT_CLEANUP_MS + 1000));
        assert!(process(&reg, "alice", json!({"action": "poll", "sessionId": id})).is_error);
    }

    #[test]
    fn abort_stops_the_wait_and_the_command() {
        let (reg, dir) = (Registry::new(), Dir::new());
        let abort = Arc::new(AtomicBool::new(false));
        let setter = Arc::clone(&abort);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            setter.store(true, Ordering::SeqCst);
        });
        let started = Instant::now();
        let args = json!({"command": "echo $$; echo before; sleep 100", "yieldMs": 60_000});
        let out = tool(&reg, "main", host(&dir), &Settings::default(), &args, &abort);
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        assert!(out.is_error && out.text.starts_with("Command aborted.\n\n"), "{out:?}");
        assert!(out.text.contains("before\n") && out.text.ends_with("Command was killed because the run was aborted."));
        let pgid = out.text.lines().nth(2).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(live_in_group(pgid).is_empty());
        assert_eq!(format!("{reg:?}"), "Registry { sessions: 0 }");

        let out = tool(&reg, "main", host(&dir), &Settings::default(), &json!({"command": "echo"}), &abort);
        assert_eq!(out, ToolOutput::error("Command aborted before it started."));
    }

    #[test]
    fn bad_arguments_name_the_parameter() {
        let (reg, dir) = (Registry::new(), Dir::new());
        let cases = [
            (json!("ls"), "the arguments must be an object"),
            (json!({}), "exec: \"command\" is required (a string)"),
            (json!({"command": 5}), "exec: \"command\" is required (a string)"),
            (json!({"command": "  "}), "\"command\" is empty"),
            (json!({"command": "a\u{0}b"}), "\"command\" contains a NUL byte"),
            (json!({"command": "ls", "workdir": 1}), "\"workdir\" must be a string"),
            (json!({"command": "ls", "env": "A=1"}), "\"env\" must be an object of strings"),
            (json!({"command": "ls", "env": {"A": 1}}), "\"env\" values must be strings; \"A\" is not"),
            (json!({"command": "ls", "env": {"A=B": "1"}}), "\"env\" has \"A=B\", which is not a variable name"),
            (json!({"command": "ls", "env": {"A": "x\u{0}"}}), "contains a NUL byte"),
            (json!({"command": "ls", "yieldMs": -5}), "\"yieldMs\" must be a number of 0 or more"),
            (json!({"command": "ls", "timeout": "soon"}), "\"timeout\" must be a number of 0 or more, not a string"),
            (json!({"command": "ls", "background": "yes"}), "\"background\" must be true or false"),
        ];
        for (args, want) in cases {
            let out = run(&reg, "main", &dir, args.clone());
            assert!(out.is_error && out.text.contains(want), "{args}: {out:?}");
        }
        // Lenient where it is harmless: numbers as strings, pty ignored with a warning.
        let out = run(&reg, "main", &dir, json!({"command": "echo ok", "timeout": "30", "yieldMs": 0, "pty": true}));
        assert_eq!(out, ToolOutput::ok("Warning: pty is not supported; the command runs without a terminal.\n\nok\n"));
        assert_eq!(spec().name, "exec");
        assert_eq!(spec().parameters["required"], json!(["command"]));
    }

    #[test]
    fn settings_come_from_the_config_with_defaults() {
        let s = Settings::default();
        assert_eq!((s.background_ms, s.timeout_sec, s.cleanup_ms), (10_000, 1800, 1_800_000));
        assert_eq!(s.output_cap, sandbox_exec::DEFAULT_OUTPUT_CAP);
        let cfg = ExecSettings {
            background_ms: Some(5),
            timeout_sec: Some(60),
            cleanup_ms: Some(1000),
            path_prepend: vec!["/x".into()],
            ..ExecSettings::default()
        };
        let s = Settings::from_config(&cfg);
        assert_eq!(
            (s.background_ms, s.timeout_sec, s.cleanup_ms, s.path_prepend),
            (5, 60, 1000, vec!["/x".to_string()])
        );
    }

    #[test]
    fn host_env_carries_the_path_past_the_login_shell() {
        let base =
            BTreeMap::from([("PATH".to_string(), "/b".to_string()), (PREPEND_VAR.to_string(), "evil".to_string())]);
        let (vars, script) = host_env(&base, &BTreeMap::new(), &["/p".to_string(), String::new()], "ls");
        assert_eq!(script, format!("{PATH_PREFIX}ls"));
        assert_eq!((vars["PATH"].as_str(), vars[PREPEND_VAR].as_str()), (sandbox_exec::DEFAULT_PATH, "/p:/b"));
        let (vars, script) = host_env(&BTreeMap::new(), &BTreeMap::new(), &[], "ls");
        assert_eq!(script, "ls");
        assert!(!vars.contains_key(PREPEND_VAR) && !vars.contains_key("PATH"));
    }
}
