//! Running an `exec` tool command in a sandbox container (reference §3.7):
//! the command line, environment and working folder upstream builds, run
//! through the Engine's exec with output capped per stream and a deadline.
//! On top of upstream, a timeout kills the command's whole process tree, and
//! an exit by SIGKILL is told apart as the out-of-memory killer or a plain
//! signal.
//!
//! # The exec
//!
//! `sh -lc '<prefix><command>'`, no TTY, no stdin, as the container's user,
//! in the container workdir or the mapped `workdir`. The environment is
//! `{PATH: DEFAULT_PATH, HOME: <container workdir>, OPENCLAW_SHELL: exec}`,
//! then `docker.env`, then the call's `env`; the gateway's own environment
//! is never passed. The login shell resets `PATH` from `/etc/profile`, so a
//! `PATH` from the config or the call, with `tools.exec.pathPrepend` in
//! front, travels as `OPENCLAW_PREPEND_PATH` and the command is prefixed
//! with [`PATH_PREFIX`], as upstream does.
//!
//! # Timeouts
//!
//! Every exec carries a unique marker, `OPENCLAW_EXEC_ID=<uuid>`, which its
//! children inherit (also those that `setsid` out of its session). When the
//! deadline passes, a second short exec kills every process whose
//! `/proc/<pid>/environ` holds the marker, pass after pass until none is
//! left (a fork bomb keeps making new ones). An exec joins the container's
//! cgroup without a fork there, so it starts even at the pids limit; the
//! script then uses only `sh` builtins, so it never needs a fork itself
//! (its exec is retried should the engine fail to start it).
//! It runs as the container's user, not as root: with `capDrop: ["ALL"]` the
//! container's root has no `CAP_KILL` or `CAP_SYS_PTRACE` and may neither
//! read another user's `environ` nor signal its processes, while the same
//! user may do both. A process that drops the marker on purpose (`env -i`)
//! escapes this kill; it stays subject to the container's limits.
//!
//! Background processes outlive a command that ends in time, as upstream's
//! do (the Engine ends the exec stream about 2 s after the exec's own
//! process exits, even while they hold its output). One exception keeps a
//! detached fork bomb from leaving the container unusable: when the
//! command's stderr shows failed forks and the container then uses 90 % of
//! its pids limit or more, its marked processes are killed the same way.
//!
//! # Out of memory
//!
//! Exit code 137 after no timeout of ours is SIGKILL, from the kernel's OOM
//! killer or from someone's `kill -9`. The container's `oom_kill` counter
//! (`memory.events` under cgroup v2, `memory/memory.oom_control` under v1)
//! is read by a follow-up exec and compared with the value seen at the last
//! check, kept in `<state>/sandbox/oom/<container id>` (0 when missing: a new
//! container's counter starts at 0). So the warm exec path stays at one Engine
//! exec, also for a fresh `openclaw sandbox exec` process. An OOM kill no
//! check saw (one that did not end an exec with 137) can make a later plain
//! SIGKILL read as an OOM kill.
//!
//! Not here: the tool's schema, background runs (`yieldMs`, `background`),
//! PTYs, approvals (`security`, `ask`), and exec on the host.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::crypto;
use crate::docker::{self, Docker, ExecLimits, ExecSpec};
use crate::sandbox::{Manager, Sandbox, lease};
use crate::workspace::{Access, Root};

/// The exec tool's default timeout (reference §7: 1800 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// Output kept per stream by default.
pub const DEFAULT_OUTPUT_CAP: usize = 200 * 1024;
/// The `PATH` every sandboxed exec starts with.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The variable that marks every process of one exec.
pub const MARKER_VAR: &str = "OPENCLAW_EXEC_ID";
/// Carries the wanted `PATH` past the login shell's `/etc/profile`.
pub const PREPEND_VAR: &str = "OPENCLAW_PREPEND_PATH";
/// Put before the command when [`PREPEND_VAR`] is set (upstream's words).
pub const PATH_PREFIX: &str = "export PATH=\"${OPENCLAW_PREPEND_PATH}:$PATH\"; unset OPENCLAW_PREPEND_PATH; ";

/// How long the kill after a timeout keeps trying to get its exec started.
const KILL_BUDGET: Duration = Duration::from_secs(15);
/// Bounds of the helper execs (the kill and the OOM counter).
const HELPER_LIMITS: ExecLimits = ExecLimits { output_cap: 4096, deadline: Duration::from_secs(10) };
/// How long to wait for the Engine to record an exit code after the stream ended.
const EXIT_CODE_GRACE: Duration = Duration::from_secs(2);
/// The longest `workdir` quoted in a warning.
const SHOWN_WORKDIR_CHARS: usize = 200;

/// Kills every process whose environment holds `$1=$2`, except PID 1 and
/// itself, until a pass finds none; prints `done` then.
/// Only builtins: `read` drops the NULs of `environ`, and the marker is
/// unique enough to be matched as a substring.
const KILL_SCRIPT: &str = r#"m="$1=$2"; n=0
while [ "$n" -lt 100 ]; do
  n=$((n + 1)); hit=
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = 1 ] && continue
    [ "$p" = "$$" ] && continue
    while IFS= read -r e || [ -n "$e" ]; do
      case "$e" in *"$m"*) kill -9 "$p" 2>/dev/null; hit=1; break;; esac
    done 2>/dev/null < "$d/environ"
  done
  [ -z "$hit" ] && { echo done; exit 0; }
done
exit 1"#;

/// Prints `pids <current> <max>` for the container's pids cgroup (v2, else
/// v1), with builtins only.
const PIDS_SCRIPT: &str = r#"c=/sys/fs/cgroup; [ -r "$c/pids.current" ] || c=$c/pids
read -r n < "$c/pids.current" && read -r m < "$c/pids.max" && echo "pids $n $m""#;

/// What a shell or runtime says when a fork fails at the pids limit.
const FORK_FAILURES: [&str; 2] = ["Resource temporarily unavailable", "Cannot fork"];

/// Prints `oom_kill <n>` and `limit <bytes|max>` for the container's memory
/// cgroup (v2, else v1), with builtins only.
const OOM_SCRIPT: &str = r#"c=/sys/fs/cgroup
if [ -r "$c/memory.events" ]; then f=$c/memory.events; l=$c/memory.max
else f=$c/memory/memory.oom_control; l=$c/memory/memory.limit_in_bytes; fi
while read -r k v; do [ "$k" = oom_kill ] && echo "oom_kill $v"; done < "$f"
read -r v < "$l" && echo "limit $v""#;

/// One command to run.
#[derive(Debug, Clone)]
pub struct ExecRequest<'a> {
    pub command: &'a str,
    /// Relative to the workspace, or absolute under the container workdir
    /// (`/workspace/x`) or the host workspace folder.
    pub workdir: Option<&'a str>,
    /// The call's variables, over the config's `docker.env`.
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    /// Bytes kept per stream.
    pub output_cap: usize,
}

/// How a command went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// `None` when the Engine did not report one.
    pub exit_code: Option<i64>,
    /// UTF-8 (lossy), ending with a marker line when truncated.
    pub stdout: String,
    pub stderr: String,
    /// Either stream went past the cap.
    pub truncated: bool,
    pub timed_out: bool,
    pub killed_by_oom: bool,
    /// Lines to show before the output (the unavailable-workdir warning).
    pub warnings: Vec<String>,
    /// Lines to show after the output: how the command was stopped
    /// (timeout, OOM kill, signal).
    pub notes: Vec<String>,
    pub duration: Duration,
}

/// Why a command could not be run. Each message names the fix.
#[derive(Debug)]
pub enum Error {
    /// An environment variable from the config or the call is unusable.
    BadEnv { key: String, from: &'static str, reason: &'static str },
    /// No random marker could be made.
    Marker(io::Error),
    /// The lease on the container could not be taken.
    Lease { name: String, source: io::Error },
    /// The container no longer exists.
    Gone { name: String },
    /// The container exists but cannot run commands (stopped or paused).
    NotRunning { name: String, message: String },
    /// An Engine call failed (boxed: the Engine error is large).
    Docker { name: String, op: &'static str, source: Box<docker::Error> },
}

impl<'a> ExecRequest<'a> {
    /// `command` with the defaults: container workdir, no extra variables,
    /// [`DEFAULT_TIMEOUT`], [`DEFAULT_OUTPUT_CAP`].
    pub fn new(command: &'a str) -> ExecRequest<'a> {
        ExecRequest {
            command,
            workdir: None,
            env: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
            output_cap: DEFAULT_OUTPUT_CAP,
        }
    }
}

/// Runs `req` in `sandbox` (see the module doc), holding a lease on the
/// container for the whole call. `path_prepend` is `tools.exec.pathPrepend`.
pub fn run(
    manager: &Manager,
    sandbox: &Sandbox,
    state_dir: &Path,
    req: &ExecRequest<'_>,
    path_prepend: &[String],
) -> Result<ExecOutcome, Error> {
    let started = Instant::now();
    let marker = crypto::uuid_v4().map_err(Error::Marker)?;
    let (env, prefixed) =
        build_env(&sandbox.config.docker.env, &req.env, path_prepend, &sandbox.container_workdir, &marker)?;
    let (workdir, warning) = map_workdir(&sandbox.workspace_dir, &sandbox.container_workdir, req.workdir);
    let script = if prefixed { format!("{PATH_PREFIX}{}", req.command) } else { req.command.to_string() };
    let spec =
        ExecSpec { cmd: vec!["sh".into(), "-lc".into(), script], env, workdir: Some(workdir), ..ExecSpec::default() };

    let _lease = lease::acquire(state_dir, &sandbox.name)
        .map_err(|source| Error::Lease { name: sandbox.name.clone(), source })?;
    let docker = manager.docker();
    let container = sandbox.container_id.as_str();
    let exec_id = docker.exec_create(container, &spec).map_err(|e| exec_error(sandbox, "start a command in", e))?;
    let limits = ExecLimits { output_cap: req.output_cap, deadline: req.timeout };
    let (output, timed_out) = match docker.exec_start(&exec_id, false, None, limits) {
        Ok(output) => (output, false),
        Err(docker::Error::Timeout { partial, .. }) => (partial.map(|p| *p).unwrap_or_default(), true),
        Err(e) => return Err(exec_error(sandbox, "run a command in", e)),
    };

    let mut notes = Vec::new();
    if timed_out {
        log::info!("sandbox {}: exec timed out after {} s; killing its processes", sandbox.name, secs(req.timeout));
        notes.push(format!("Command timed out: killed after {} s.", secs(req.timeout)));
        if let Err(e) = kill_marked(docker, container, &marker) {
            log::warn!("sandbox {}: {e}", sandbox.name);
            notes.push(restart_after_failed_kill(docker, sandbox, &e));
        }
    }
    let stderr = output_text(&output.stderr, output.stderr_truncated, req.output_cap);
    if !timed_out && FORK_FAILURES.iter().any(|f| stderr.contains(f)) && pids_nearly_full(docker, container) {
        log::info!("sandbox {}: a command's processes fill the pids limit; killing them", sandbox.name);
        notes.push(match kill_marked(docker, container, &marker) {
            Ok(()) => {
                "The command's remaining processes filled the container's process limit and were killed.".to_string()
            }
            Err(e) => {
                log::warn!("sandbox {}: {e}", sandbox.name);
                restart_after_failed_kill(docker, sandbox, &e)
            }
        });
    }
    let exit_code = exit_code(docker, &exec_id).unwrap_or_else(|e| {
        log::warn!("sandbox {}: cannot read the exit code of an exec: {e}", sandbox.name);
        None
    });
    let mut killed_by_oom = false;
    if exit_code == Some(137) && !timed_out {
        match oom_check(docker, container, state_dir) {
            Some(Oom { killed: true, limit }) => {
                killed_by_oom = true;
                notes.push(format!(
                    "Command was killed by the out-of-memory killer (memory limit {}).",
                    limit_text(limit)
                ));
            }
            Some(_) => notes.push("Command was killed by signal 9 (SIGKILL).".to_string()),
            None => notes.push(
                "Command was killed by signal 9 (SIGKILL); whether by the out-of-memory killer could not be read."
                    .to_string(),
            ),
        }
    }
    let cap = req.output_cap;
    Ok(ExecOutcome {
        exit_code,
        stdout: output_text(&output.stdout, output.stdout_truncated, cap),
        stderr,
        truncated: output.truncated(),
        timed_out,
        killed_by_oom,
        warnings: warning.into_iter().collect(),
        notes,
        duration: started.elapsed(),
    })
}

/// True for a usable variable name: letters, digits and `_`, not starting
/// with a digit (so never `=` or NUL).
pub fn valid_env_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------
// Private helpers.

/// The exec's `KEY=value` list, and whether the command needs
/// [`PATH_PREFIX`].
fn build_env(
    config_env: &BTreeMap<String, String>,
    call_env: &BTreeMap<String, String>,
    path_prepend: &[String],
    home: &str,
    marker: &str,
) -> Result<(Vec<String>, bool), Error> {
    check_env(config_env, "in agents.defaults.sandbox.docker.env")?;
    check_env(call_env, "in the exec call's env")?;
    let mut env: BTreeMap<&str, &str> =
        BTreeMap::from([("PATH", DEFAULT_PATH), ("HOME", home), ("OPENCLAW_SHELL", "exec")]);
    env.extend(config_env.iter().chain(call_env).map(|(k, v)| (k.as_str(), v.as_str())));
    let supplied = call_env.get("PATH").or_else(|| config_env.get("PATH")).map(String::as_str);
    let parts: Vec<&str> = path_prepend.iter().map(String::as_str).chain(supplied).filter(|p| !p.is_empty()).collect();
    let prepend = parts.join(":");
    let prefixed = !prepend.is_empty();
    if prefixed {
        env.insert("PATH", DEFAULT_PATH);
        env.insert(PREPEND_VAR, &prepend);
    }
    env.insert(MARKER_VAR, marker);
    Ok((env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(), prefixed))
}

fn check_env(env: &BTreeMap<String, String>, from: &'static str) -> Result<(), Error> {
    for (key, value) in env {
        let reason = if key.contains('=') {
            "contains '='"
        } else if key.contains('\0') {
            "contains a NUL byte"
        } else if !valid_env_name(key) {
            "is not a valid name"
        } else if value.contains('\0') {
            "has a value with a NUL byte"
        } else {
            continue;
        };
        return Err(Error::BadEnv { key: key.clone(), from, reason });
    }
    Ok(())
}

/// The container folder to run in, and the warning when the requested one
/// is unavailable (upstream's words).
fn map_workdir(host_root: &Path, container_dir: &str, workdir: Option<&str>) -> (String, Option<String>) {
    let Some(wanted) = workdir.filter(|w| !w.trim().is_empty()) else {
        return (container_dir.to_string(), None);
    };
    match container_path(host_root, container_dir, wanted) {
        Some(dir) => (dir, None),
        None => {
            let shown: String = wanted.chars().take(SHOWN_WORKDIR_CHARS).collect();
            let shown = if shown.len() < wanted.len() { format!("{shown}…") } else { shown };
            (
                container_dir.to_string(),
                Some(format!("Warning: workdir \"{shown}\" is unavailable; using \"{container_dir}\".")),
            )
        }
    }
}

/// `wanted` as a folder under the container workdir, if it is an existing
/// folder inside the host workspace.
fn container_path(host_root: &Path, container_dir: &str, wanted: &str) -> Option<String> {
    let root = Root::open(host_root, Access::ReadOnly, Some(container_dir)).ok()?;
    let host = root.resolve(wanted).ok()?;
    if !host.is_dir() {
        return None;
    }
    let rel = host.strip_prefix(root.path()).ok()?.to_str()?;
    if rel.is_empty() {
        return Some(container_dir.to_string());
    }
    Some(format!("{}/{rel}", container_dir.trim_end_matches('/')))
}

fn exec_error(sandbox: &Sandbox, op: &'static str, e: docker::Error) -> Error {
    let name = sandbox.name.clone();
    match e {
        docker::Error::NoSuchContainer { .. } => Error::Gone { name },
        docker::Error::Engine { status: 409, message } => Error::NotRunning { name, message },
        e => Error::Docker { name, op, source: Box::new(e) },
    }
}

/// Waits briefly for the Engine to record the exec's exit code.
fn exit_code(docker: &Docker, exec_id: &str) -> Result<Option<i64>, docker::Error> {
    let until = Instant::now() + EXIT_CODE_GRACE;
    loop {
        let info = docker.exec_inspect(exec_id)?;
        if !info.running {
            return Ok(info.exit_code);
        }
        if Instant::now() >= until {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last resort when a command's processes cannot be killed one by one
/// (a fork bomb can keep the pids limit so full that no exec starts): kill the
/// container's init, which takes every process with it, and start the
/// container again, so the sandbox stays usable. Its tmpfs folders are emptied;
/// the workspace is kept. Returns the note for the caller.
fn restart_after_failed_kill(docker: &Docker, sandbox: &Sandbox, why: &str) -> String {
    let name = &sandbox.name;
    log::warn!("sandbox {name}: restarting the container to stop a command's processes");
    let restarted = docker
        .container_kill(&sandbox.container_id, "KILL")
        .or_else(|e| if e.is_not_found() { Err(e) } else { Ok(()) })
        .and_then(|()| docker.container_wait(&sandbox.container_id, Duration::from_secs(10)).map(|_| ()))
        .and_then(|()| docker.container_start(&sandbox.container_id));
    match restarted {
        Ok(()) => format!(
            "The command's processes could not be stopped one by one ({why}); the sandbox container was restarted to stop them (its /tmp was emptied, the workspace is kept)."
        ),
        Err(e) => format!("Warning: the command's processes could not be stopped ({why}), and restarting the container failed: {e}."),
    }
}

/// Kills the processes of one [`run`] (marked `OPENCLAW_EXEC_ID=<marker>`).
fn kill_marked(docker: &Docker, container: &str, marker: &str) -> Result<(), String> {
    kill_by_env(docker, container, "OPENCLAW_EXEC_ID", marker)
}

/// Kills every process in `container` whose environment holds `var=value`
/// (the agent's `exec` marks its commands this way too), retrying while the
/// kill cannot start or runs out of passes, for at most [`KILL_BUDGET`], then
/// waits for the container's process count to go down.
pub fn kill_by_env(docker: &Docker, container: &str, var: &str, value: &str) -> Result<(), String> {
    let spec = ExecSpec {
        cmd: ["sh", "-c", KILL_SCRIPT, "openclaw-kill", var, value].map(String::from).to_vec(),
        ..ExecSpec::default()
    };
    let until = Instant::now() + KILL_BUDGET;
    loop {
        let last = match docker.exec_run(container, &spec, None, HELPER_LIMITS) {
            Ok(r) if r.exit_code == Some(0) && r.output.stdout.starts_with(b"done") => {
                // Killed processes hold their pids until the container's
                // init reaps them; wait for that, so the next exec can fork.
                // Until the count is below half the limit, or the budget ends.
                let busy = || pids_reading(docker, container).map_or(true, |r| r.is_some_and(|(n, max)| n * 2 >= max));
                while busy() {
                    if Instant::now() >= until {
                        return Err("the container's process count did not go down after its processes were killed".into());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                return Ok(());
            }
            Ok(r) => {
                let (out, err) = (String::from_utf8_lossy(&r.output.stdout), String::from_utf8_lossy(&r.output.stderr));
                format!("exit code {:?}: {}", r.exit_code, format!("{out}{err}").trim())
            }
            Err(e) if e.is_not_found() || e.is_unreachable() => {
                return Err(format!("cannot stop the command's processes: {e}"));
            }
            Err(e) => e.to_string(),
        };
        if Instant::now() >= until {
            return Err(format!(
                "not every process of the command could be stopped within {} s ({last})",
                secs(KILL_BUDGET)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// True when the container uses 90 % or more of its pids limit.
fn pids_nearly_full(docker: &Docker, container: &str) -> bool {
    pids_reading(docker, container).is_ok_and(|r| r.is_some_and(|(current, max)| current * 10 >= max * 9))
}

/// The container's `(current, max)` pids; `Ok(None)` when it has no limit or
/// the count cannot be read, `Err` when the reading exec itself could not run
/// (which at the limit means it could not fork).
fn pids_reading(docker: &Docker, container: &str) -> Result<Option<(u64, u64)>, ()> {
    let spec = ExecSpec { cmd: ["sh", "-c", PIDS_SCRIPT].map(String::from).to_vec(), ..ExecSpec::default() };
    match docker.exec_run(container, &spec, None, HELPER_LIMITS) {
        Ok(r) if r.exit_code == Some(0) => Ok(parse_pids(&String::from_utf8_lossy(&r.output.stdout))),
        Ok(_) => Err(()),
        Err(e) => {
            log::debug!("cannot read the pids count of {container}: {e}");
            Err(())
        }
    }
}

/// Parses [`PIDS_SCRIPT`]'s output; `None` also when there is no limit.
fn parse_pids(out: &str) -> Option<(u64, u64)> {
    let mut words = out.lines().find_map(|l| l.strip_prefix("pids "))?.split_whitespace();
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

/// The OOM counter check: whether it rose since the last reading, and the
/// memory limit in bytes (`None` when unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Oom {
    killed: bool,
    limit: Option<u64>,
}

/// Where the last `oom_kill` count seen for a container is kept. Container
/// ids are hex, so the id is a safe file name.
fn oom_file(state_dir: &Path, container: &str) -> std::path::PathBuf {
    state_dir.join("sandbox").join("oom").join(container)
}

/// Compares the counter with the last one seen (0 if none) and records the
/// new one; `None` when the counter cannot be read.
fn oom_check(docker: &Docker, container: &str, state_dir: &Path) -> Option<Oom> {
    let (count, limit) = read_oom(docker, container)?;
    let file = oom_file(state_dir, container);
    let before: u64 = std::fs::read_to_string(&file).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    if let Err(e) = crate::fsutil::write_atomic(&file, count.to_string().as_bytes()) {
        log::debug!("cannot record the OOM count of {container}: {e}");
    }
    Some(Oom { killed: count > before, limit })
}

fn read_oom(docker: &Docker, container: &str) -> Option<(u64, Option<u64>)> {
    let spec = ExecSpec { cmd: ["sh", "-c", OOM_SCRIPT].map(String::from).to_vec(), ..ExecSpec::default() };
    match docker.exec_run(container, &spec, None, HELPER_LIMITS) {
        Ok(r) => parse_oom(&String::from_utf8_lossy(&r.output.stdout)),
        Err(e) => {
            log::debug!("cannot read the OOM counter of {container}: {e}");
            None
        }
    }
}

/// Parses [`OOM_SCRIPT`]'s output: the count, and the limit (`None` for
/// `max` or v1's "unlimited", a number near `i64::MAX`).
fn parse_oom(out: &str) -> Option<(u64, Option<u64>)> {
    let field = |name: &str| out.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')).map(str::trim);
    let count = field("oom_kill")?.parse().ok()?;
    let limit = field("limit").and_then(|l| l.parse::<u64>().ok()).filter(|&l| l < 1 << 62);
    Some((count, limit))
}

fn limit_text(limit: Option<u64>) -> String {
    limit.map_or_else(|| "none".to_string(), bytes_text)
}

/// `n` bytes in the largest binary unit that divides it: `200 KiB`, `1 GiB`.
fn bytes_text(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    match UNITS.iter().find(|(size, _)| n >= *size && n.is_multiple_of(*size)) {
        Some((size, unit)) => format!("{} {unit}", n / size),
        None => format!("{n} bytes"),
    }
}

/// Captured bytes as text, with a marker line when the cap cut them (the
/// client discards the rest without counting it).
fn output_text(bytes: &[u8], truncated: bool, cap: usize) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if truncated {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("[output truncated: the command wrote more than the {} cap]", bytes_text(cap as u64)));
    }
    text
}

/// Seconds, with a decimal only when needed.
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 { d.as_secs().to_string() } else { format!("{:.1}", d.as_secs_f64()) }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadEnv { key, from, reason } => write!(
                f,
                "environment variable {key:?} {from} {reason}: use letters, digits and _ \
                 (not starting with a digit), and no NUL bytes in values"
            ),
            Error::Marker(_) => f.write_str("cannot make an id for the sandbox exec (reading /dev/urandom failed)"),
            Error::Lease { name, .. } => write!(
                f,
                "cannot take the lease on sandbox container {name} (<state>/sandbox/leases): \
                 make the state folder writable by this user"
            ),
            Error::Gone { name } => write!(
                f,
                "sandbox container {name} no longer exists (removed outside openclaw?); \
                 it will be recreated on next use: run the command again"
            ),
            Error::NotRunning { name, message } => write!(
                f,
                "sandbox container {name} cannot run commands now ({message}); \
                 a stopped container is started again on next use, a paused one needs `docker unpause {name}`"
            ),
            Error::Docker { name, op, source } if source.is_unreachable() => write!(
                f,
                "sandboxed exec needs the Docker engine, which cannot be reached (while trying to {op} {name}); \
                 start or fix it, or set agents.defaults.sandbox.mode to \"off\""
            ),
            Error::Docker { name, op, .. } => write!(f, "cannot {op} sandbox container {name}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Marker(e) | Error::Lease { source: e, .. } => Some(e),
            Error::Docker { source, .. } => Some(source.as_ref()),
            Error::BadEnv { .. } | Error::Gone { .. } | Error::NotRunning { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn env_of(list: &[String]) -> BTreeMap<&str, &str> {
        list.iter().map(|kv| kv.split_once('=').unwrap()).collect()
    }

    #[test]
    fn env_is_base_then_config_then_call_with_the_marker() {
        let config = map(&[("A", "config"), ("B", "config")]);
        let call = map(&[("B", "call"), ("HOME", "/elsewhere")]);
        let (list, prefixed) = build_env(&config, &call, &[], "/workspace", "m-1").unwrap();
        assert!(!prefixed);
        let expected = BTreeMap::from([
            ("A", "config"),
            ("B", "call"),
            ("HOME", "/elsewhere"),
            ("OPENCLAW_EXEC_ID", "m-1"),
            ("OPENCLAW_SHELL", "exec"),
            ("PATH", DEFAULT_PATH),
        ]);
        assert_eq!(env_of(&list), expected);
        // The marker cannot be overridden by the call.
        let (list, _) = build_env(&map(&[]), &map(&[("OPENCLAW_EXEC_ID", "x")]), &[], "/w", "m-2").unwrap();
        assert_eq!(env_of(&list)["OPENCLAW_EXEC_ID"], "m-2");
    }

    #[test]
    fn path_goes_through_the_prepend_variable() {
        let prepend = ["/opt/a".to_string(), String::new(), "/opt/b".to_string()];
        let (list, prefixed) = build_env(&map(&[]), &map(&[]), &prepend, "/w", "m").unwrap();
        assert!(prefixed);
        assert_eq!(env_of(&list)[PREPEND_VAR], "/opt/a:/opt/b");
        assert_eq!(env_of(&list)["PATH"], DEFAULT_PATH);

        let config = map(&[("PATH", "/cfg")]);
        let (list, prefixed) = build_env(&config, &map(&[]), &prepend[..1], "/w", "m").unwrap();
        assert!(prefixed);
        assert_eq!(env_of(&list)[PREPEND_VAR], "/opt/a:/cfg");
        assert_eq!(env_of(&list)["PATH"], DEFAULT_PATH, "the supplied PATH is not passed as PATH");
        let (list, _) = build_env(&config, &map(&[("PATH", "/call")]), &[], "/w", "m").unwrap();
        assert_eq!(env_of(&list)[PREPEND_VAR], "/call", "the call's PATH wins over the config's");

        let (list, prefixed) = build_env(&map(&[("PATH", "")]), &map(&[]), &[], "/w", "m").unwrap();
        assert!(!prefixed, "an empty PATH is no PATH");
        assert!(!env_of(&list).contains_key(PREPEND_VAR));
    }

    #[test]
    fn bad_env_keys_are_refused_with_their_source() {
        for key in ["", "1X", "A B", "A=B", "A\0", "Ä", "-x"] {
            let err = build_env(&map(&[]), &map(&[(key, "v")]), &[], "/w", "m").unwrap_err();
            assert!(matches!(err, Error::BadEnv { from: "in the exec call's env", .. }), "{key:?}: {err:?}");
        }
        let err = build_env(&map(&[("A=B", "v")]), &map(&[]), &[], "/w", "m").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable \"A=B\" in agents.defaults.sandbox.docker.env contains '=': use letters, \
             digits and _ (not starting with a digit), and no NUL bytes in values"
        );
        let err = build_env(&map(&[]), &map(&[("OK", "a\0b")]), &[], "/w", "m").unwrap_err();
        assert!(err.to_string().contains("has a value with a NUL byte"), "{err}");
        for key in ["A", "_", "a_1", "PATH"] {
            assert!(valid_env_name(key), "{key}");
        }
    }

    #[test]
    fn workdir_maps_into_the_container_or_warns() {
        let dir = std::env::temp_dir().join(format!("openclaw-exec-wd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ws/sub/deeper")).unwrap();
        std::fs::write(dir.join("ws/file"), "x").unwrap();
        std::os::unix::fs::symlink(dir.join("ws/sub"), dir.join("ws/link")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("ws/out")).unwrap();
        let ws = dir.join("ws");
        let ok = |w: &str| map_workdir(&ws, "/workspace", Some(w));
        assert_eq!(map_workdir(&ws, "/workspace", None), ("/workspace".to_string(), None));
        assert_eq!(ok(" "), ("/workspace".to_string(), None), "blank means no workdir");
        assert_eq!(ok("sub"), ("/workspace/sub".to_string(), None));
        assert_eq!(ok("sub/deeper/.."), ("/workspace/sub".to_string(), None));
        assert_eq!(ok("/workspace/sub/deeper"), ("/workspace/sub/deeper".to_string(), None));
        assert_eq!(ok("."), ("/workspace".to_string(), None));
        assert_eq!(ok("link"), ("/workspace/sub".to_string(), None), "a symlink inside is followed");
        assert_eq!(ok(ws.join("sub").to_str().unwrap()), ("/workspace/sub".to_string(), None));
        for bad in ["../..", "/etc", "out", "file", "missing", "~/x", "a\0b"] {
            let (used, warning) = ok(bad);
            assert_eq!(used, "/workspace", "{bad}");
            assert_eq!(warning, Some(format!("Warning: workdir \"{bad}\" is unavailable; using \"/workspace\".")));
        }
        let long = "x".repeat(5000);
        let warning = ok(&long).1.unwrap();
        assert!(warning.len() < 300 && warning.contains("x…\""), "{warning}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn oom_readings_parse() {
        let v1 = "oom_kill 3\nlimit 134217728\n";
        assert_eq!(parse_oom(v1), Some((3, Some(128 << 20))));
        assert_eq!(parse_oom("oom_kill 0\nlimit 9223372036854771712\n"), Some((0, None)), "v1 unlimited");
        assert_eq!(parse_oom("oom_kill 1\nlimit max\n"), Some((1, None)), "v2 unlimited");
        assert_eq!(parse_oom("oom_kill 1\n"), Some((1, None)));
        assert_eq!(parse_oom("cat: no such file\n"), None);
        assert_eq!(parse_oom("oom_kill_disable 0\n"), None);
    }

    #[test]
    fn pids_readings_parse() {
        assert_eq!(parse_pids("pids 250 256\n"), Some((250, 256)));
        assert_eq!(parse_pids("pids 3 max\n"), None, "no limit");
        assert_eq!(parse_pids("sh: cannot open\n"), None);
    }

    #[test]
    fn sizes_and_markers_read_well() {
        assert_eq!(bytes_text(200 * 1024), "200 KiB");
        assert_eq!(bytes_text(128 << 20), "128 MiB");
        assert_eq!(bytes_text(1 << 30), "1 GiB");
        assert_eq!(bytes_text(1000), "1000 bytes");
        assert_eq!(limit_text(None), "none");
        assert_eq!(output_text(b"abc", false, 3), "abc");
        assert_eq!(
            output_text(b"abc", true, 3),
            "abc\n[output truncated: the command wrote more than the 3 bytes cap]"
        );
        assert_eq!(output_text(b"ab\xff", false, 3), "ab\u{fffd}");
        assert_eq!(secs(Duration::from_secs(1800)), "1800");
        assert_eq!(secs(Duration::from_millis(2500)), "2.5");
    }

    #[test]
    fn errors_name_the_fix() {
        let gone = Error::Gone { name: "openclaw-sbx-x".into() }.to_string();
        assert!(gone.contains("recreated on next use"), "{gone}");
        let down = Error::Docker {
            name: "n".into(),
            op: "run a command in",
            source: Box::new(docker::Error::SocketMissing { path: "/var/run/docker.sock".into() }),
        };
        assert!(down.to_string().contains("cannot be reached"), "{down}");
        assert!(std::error::Error::source(&down).is_some());
    }
}
