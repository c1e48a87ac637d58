//! Background commands of the `exec` tool and the agent's `process` tool
//! (reference §7): the in-memory [`Registry`] of exec sessions, and the
//! actions `list`, `poll`, `log`, `write`, `kill`, `clear` and `remove`.
//!
//! # Sessions
//!
//! Every `exec` call becomes a session here while it runs, also one the
//! caller waits for, so that the per-agent cap covers everything the agent
//! has running. A session is *visible* to the `process` tool only once
//! `exec` has handed it off (after `yieldMs`, with `background: true`, or
//! when a sandboxed command is aborted); a command that ends in time is
//! forgotten by `exec` once its result is built. Sessions belong to the
//! agent (`owner`) that started them: another agent's session is reported as
//! unknown, exactly like a missing one.
//!
//! A host command runs as `/bin/sh` in a process group of its own, stdout
//! and stderr on one pipe (so they interleave as written), stdin on a pipe
//! kept open for `write`. Two plain threads follow it: one reads the output
//! into the session's ring, one reaps the shell and kills the group when the
//! timeout passes. The reaping thread polls (`try_wait`, naps growing to
//! 100 ms, woken at once when the output ends) instead of blocking in
//! `wait`, so that the shell is reaped only under the session's lock: the
//! group is therefore never signalled after its id could have been reused.
//! A session counts as ended when the shell has exited and its output has
//! ended, or 200 ms after the exit when a background child (`sleep 100 &`)
//! still holds the output open; such children outlive the command, as
//! upstream's do, and what they write still lands in the ring. Children that
//! leave the group (`setsid`, `setpgid`) escape a kill.
//!
//! A sandboxed command is an *external* session: `exec` runs it through
//! `sandbox::exec::run` on a thread and hands the outcome in when it ends, so
//! its output appears all at once, and it has no stdin.
//!
//! # Bounds
//!
//! At most [`MAX_SESSIONS_PER_OWNER`] sessions per agent: when full, the
//! oldest ended one is dropped; when all are running, `exec` refuses. Each
//! session keeps the last `output_cap` bytes of output (a ring: older bytes
//! are dropped and counted, and every view says so). Ended sessions are
//! dropped by [`Registry::sweep`] once `cleanupMs` has passed. A `write` runs
//! on its own thread so a command that does not read cannot block the tool.
//!
//! Not here: PTYs (`send-keys`, `submit`, `paste`), exit notifications
//! (`notifyOnExit`), and persistence: sessions live in memory only.

use std::collections::{BTreeMap, VecDeque};
use std::io::{PipeReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::agent::ToolOutput;
use crate::agent::provider::ToolSpec;
use crate::crypto;
use crate::sys;

/// Sessions one agent may hold at once (running or ended, not yet swept).
pub const MAX_SESSIONS_PER_OWNER: usize = 64;
/// Lines `log` shows when given neither `offset` nor `limit` (upstream's).
pub const DEFAULT_LOG_LINES: usize = 200;

/// The actions, as named in the schema and in errors.
const ACTIONS: &str = "list, poll, log, write, kill, clear, remove";
/// The follow-up hint upstream puts in a backgrounded result.
const FOLLOW_UP: &str = "Use process (list/poll/log/write/kill/clear/remove) for follow-up.";
/// Bytes read from a command's output at a time.
const READ_CHUNK: usize = 64 * 1024;
/// How long an ended command's output may stay open (held by a background
/// child) before the session counts as ended anyway.
const OUTPUT_GRACE: Duration = Duration::from_millis(200);
/// The longest nap of the reaping thread between two `try_wait`s.
const MAX_NAP: Duration = Duration::from_millis(100);
/// The longest a waiter sleeps before looking at the abort flag again.
const ABORT_CHECK: Duration = Duration::from_millis(50);
/// How long `kill` waits to see a host command end.
const KILL_WAIT: Duration = Duration::from_secs(2);
/// How long `kill` waits to see a sandboxed command end after a kill, and
/// how many kills it tries.
const EXTERNAL_KILL_WAIT: Duration = Duration::from_secs(3);
const EXTERNAL_KILL_TRIES: usize = 3;
/// How long `write` waits for the command to take the data.
const WRITE_WAIT: Duration = Duration::from_secs(2);
/// Lines and bytes of output a "still running" result shows.
const TAIL_LINES: usize = 20;
const TAIL_BYTES: usize = 4096;
/// The longest command and session id quoted back.
const SHOWN_COMMAND_CHARS: usize = 120;
const SHOWN_ID_CHARS: usize = 64;

/// The exec sessions of every agent. Cheap to clone (one `Arc`); `Send` and
/// `Sync`, so the agent loops of all channels can share one.
#[derive(Clone, Default)]
pub struct Registry {
    sessions: Arc<Mutex<BTreeMap<String, Arc<Session>>>>,
}

/// One command started by `exec` (see the module doc).
pub(crate) struct Session {
    id: String,
    owner: String,
    command: String,
    /// The shell's pid, which is also its process group; `None` in a sandbox.
    pid: Option<u32>,
    started: Instant,
    timeout: Duration,
    cleanup: Duration,
    control: Control,
    state: Mutex<State>,
    changed: Condvar,
}

/// What a new session is given.
pub(crate) struct Start<'a> {
    pub owner: &'a str,
    pub command: &'a str,
    pub output_cap: usize,
    pub timeout: Duration,
    pub cleanup: Duration,
    /// Lines shown before the output (an unavailable workdir, no PTY).
    pub warnings: Vec<String>,
}

/// How an external (sandboxed) command ended, as handed to
/// [`Session::finish`].
pub(crate) struct Ending {
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    /// Lines shown before the output.
    pub warnings: Vec<String>,
    /// Lines shown after it: how the command was stopped.
    pub notes: Vec<String>,
    /// The command could not be run at all.
    pub error: Option<String>,
}

/// Stops an external command's processes; `Err` says why it could not.
pub(crate) type Killer = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What [`Session::wait`] saw first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    Ended,
    Deadline,
    Aborted,
}

/// Why a session was killed, for the texts: "Command was killed <reason>."
pub(crate) const KILLED_BY_TOOL: &str = "by process kill";
pub(crate) const KILLED_BY_REMOVE: &str = "by process remove";
pub(crate) const KILLED_BY_ABORT: &str = "because the run was aborted";
const KILLED_AT_SHUTDOWN: &str = "at gateway shutdown";

enum Control {
    Host { stdin: Mutex<Stdin> },
    External { kill: Killer },
}

enum Stdin {
    Open(ChildStdin),
    /// A `write` thread holds the pipe.
    Busy,
    Closed,
}

struct State {
    /// The host shell until it is reaped.
    child: Option<Child>,
    ring: Ring,
    output_open: bool,
    /// `None` while running.
    exit: Option<Exit>,
    ended_at: Option<Instant>,
    killed: Option<&'static str>,
    timed_out: bool,
    visible: bool,
    /// Where the last `poll` stopped, as an offset into all output.
    poll_offset: u64,
    warnings: Vec<String>,
    notes: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exit {
    code: Option<i64>,
    signal: Option<i32>,
}

/// The last `cap` bytes of a stream, and how many came in all.
#[derive(Debug)]
struct Ring {
    buf: VecDeque<u8>,
    cap: usize,
    total: u64,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Drops sessions that ended `cleanupMs` or more before `now`.
    pub fn sweep(&self, now: Instant) {
        lock(&self.sessions).retain(|_, s| !s.expired(now));
    }

    /// Kills every running host command's process group (gateway shutdown).
    /// Sandboxed commands are left to their timeout: stopping them takes an
    /// Engine call each, too slow for a shutdown.
    pub fn kill_all(&self) {
        let sessions: Vec<Arc<Session>> = lock(&self.sessions).values().cloned().collect();
        for s in sessions.iter().filter(|s| matches!(s.control, Control::Host { .. })) {
            if let Err(e) = s.kill(KILLED_AT_SHUTDOWN) {
                log::debug!("exec session {}: {e}", s.id);
            }
        }
    }

    /// Starts `cmd` (a `/bin/sh` command line with its folder and
    /// environment set) as a host session: its own process group, stdout and
    /// stderr on one pipe, stdin piped. The registry stays locked from the
    /// room check to the insert, so the per-agent cap holds.
    pub(crate) fn start_host(&self, start: Start<'_>, mut cmd: Command) -> Result<Arc<Session>, String> {
        let mut sessions = lock(&self.sessions);
        make_room(&mut sessions, start.owner)?;
        let (reader, writer) = std::io::pipe().map_err(|e| format!("exec: cannot make a pipe: {e}"))?;
        let writer2 = writer.try_clone().map_err(|e| format!("exec: cannot make a pipe: {e}"))?;
        cmd.stdin(Stdio::piped()).stdout(writer2).stderr(writer).process_group(0);
        let spawned = cmd.spawn();
        // The command holds our copies of the pipe's writing end; they must be
        // closed for the output to ever end.
        drop(cmd);
        let mut child = spawned.map_err(|e| format!("exec: cannot start /bin/sh: {e}"))?;
        let stdin = child.stdin.take();
        let pid = child.id();
        let session = Arc::new(Session {
            id: new_id(&sessions),
            owner: start.owner.to_string(),
            command: start.command.to_string(),
            pid: Some(pid),
            started: Instant::now(),
            timeout: start.timeout,
            cleanup: start.cleanup,
            control: Control::Host { stdin: Mutex::new(stdin.map_or(Stdin::Closed, Stdin::Open)) },
            state: Mutex::new(State::new(Some(child), start.output_cap, start.warnings)),
            changed: Condvar::new(),
        });
        let threads = spawn_thread("exec-output", {
            let s = Arc::clone(&session);
            move || s.read_output(reader)
        })
        .and_then(|()| {
            spawn_thread("exec-wait", {
                let s = Arc::clone(&session);
                move || s.supervise()
            })
        });
        if let Err(e) = threads {
            let mut st = session.lock();
            if let Some(mut child) = st.child.take() {
                let _ = kill_pgid(pid);
                let _ = child.wait();
            }
            return Err(format!("exec: cannot start a thread to follow the command: {e}"));
        }
        log::debug!("exec session {} started: pid {pid}", session.id);
        sessions.insert(session.id.clone(), Arc::clone(&session));
        Ok(session)
    }

    /// Registers an external (sandboxed) command that the caller runs and
    /// ends with [`Session::finish`]; `kill` stops its processes.
    pub(crate) fn start_external(&self, start: Start<'_>, kill: Killer) -> Result<Arc<Session>, String> {
        let mut sessions = lock(&self.sessions);
        make_room(&mut sessions, start.owner)?;
        let session = Arc::new(Session {
            id: new_id(&sessions),
            owner: start.owner.to_string(),
            command: start.command.to_string(),
            pid: None,
            started: Instant::now(),
            timeout: start.timeout,
            cleanup: start.cleanup,
            control: Control::External { kill },
            state: Mutex::new(State::new(None, start.output_cap, start.warnings)),
            changed: Condvar::new(),
        });
        sessions.insert(session.id.clone(), Arc::clone(&session));
        Ok(session)
    }

    /// Drops a session from the registry (it may be gone already).
    pub(crate) fn forget(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// `owner`'s visible session `id`.
    fn find(&self, owner: &str, id: &str) -> Option<Arc<Session>> {
        let s = lock(&self.sessions).get(id).cloned()?;
        let visible = s.owner == owner && s.lock().visible;
        visible.then_some(s)
    }

    /// `owner`'s visible sessions, newest first.
    fn visible(&self, owner: &str) -> Vec<Arc<Session>> {
        let mut list: Vec<Arc<Session>> =
            lock(&self.sessions).values().filter(|s| s.owner == owner && s.lock().visible).cloned().collect();
        list.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| a.id.cmp(&b.id)));
        list
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("sessions", &lock(&self.sessions).len()).finish()
    }
}

/// The `process` tool's schema.
pub fn spec() -> ToolSpec {
    ToolSpec {
        name: "process".to_string(),
        description: "Manage background exec sessions of this agent: list them, poll one for new output and its \
                      status, read its log, write to its stdin, kill it, or clear/remove it."
            .to_string(),
        parameters: json!({
            "type": "object",
            "properties": {
                "action": {
                    "type": "string",
                    "enum": ["list", "poll", "log", "write", "kill", "clear", "remove"],
                    "description": "list: all sessions; poll: output since the last poll and the status; log: \
                                    lines of the output kept; write: send data to stdin; kill: stop the command \
                                    and its children; clear: forget an ended session; remove: kill if running, \
                                    then forget."
                },
                "sessionId": { "type": "string", "description": "The session, as exec or list gave it (all actions but list)." },
                "data": { "type": "string", "description": "write: the text to send to the command's stdin." },
                "eof": { "type": "boolean", "description": "write: close stdin after the data." },
                "offset": { "type": "number", "description": "log: the first line to show, counting from 0." },
                "limit": { "type": "number", "description": "log: how many lines (default: the last 200)." }
            },
            "required": ["action"]
        }),
    }
}

/// Runs one `process` call for the agent `owner`. Never panics; a bad
/// argument is an error naming it.
pub fn tool(reg: &Registry, owner: &str, args: &Value) -> ToolOutput {
    reg.sweep(Instant::now());
    match run_action(reg, owner, args) {
        Ok(text) => ToolOutput::ok(text),
        Err(text) => ToolOutput::error(text),
    }
}

fn run_action(reg: &Registry, owner: &str, args: &Value) -> Result<String, String> {
    if !args.is_object() {
        return Err("process: the arguments must be an object with an \"action\"".to_string());
    }
    let action = string_arg(args, "process", "action")?
        .ok_or_else(|| format!("process: \"action\" is required (one of {ACTIONS})"))?;
    match action {
        "list" => return Ok(list_text(&reg.visible(owner), Instant::now())),
        "poll" | "log" | "write" | "kill" | "clear" | "remove" => {}
        "send-keys" | "submit" | "paste" => {
            return Err(format!(
                "process: \"{action}\" needs a terminal (pty), which commands here do not get; use write to send text to stdin"
            ));
        }
        other => return Err(format!("process: unknown action \"{}\" (use one of {ACTIONS})", shown(other, 40))),
    }
    let id = string_arg(args, "process", "sessionId")?
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| format!("process: \"sessionId\" is required for {action} (a string; list shows them)"))?;
    let session = reg.find(owner, id).ok_or_else(|| {
        format!(
            "process: no session \"{}\" (it may have been removed or swept; list shows this agent's sessions)",
            shown(id, SHOWN_ID_CHARS)
        )
    })?;
    match action {
        "poll" => Ok(session.poll()),
        "log" => {
            let offset = count_arg(args, "offset")?;
            let limit = count_arg(args, "limit")?;
            Ok(session.log(offset, limit))
        }
        "write" => {
            let data = string_arg(args, "process", "data")?;
            let eof = bool_arg(args, "process", "eof")?.unwrap_or(false);
            if data.is_none() && !eof {
                return Err("process: \"data\" is required for write (a string), unless \"eof\" is true".to_string());
            }
            session.write_stdin(data.unwrap_or("").as_bytes().to_vec(), eof)
        }
        "kill" => session.kill_and_wait(KILLED_BY_TOOL).map(|()| session.kill_report()),
        "clear" => {
            if session.is_running() {
                return Err(format!("process: session {} is still running; use kill or remove", session.id));
            }
            reg.forget(&session.id);
            Ok(format!("Cleared session {}.", session.id))
        }
        _ => {
            let note = if session.is_running() {
                match session.kill_and_wait(KILLED_BY_REMOVE) {
                    Ok(()) => " Its command was killed.".to_string(),
                    Err(e) => format!(" {e}"),
                }
            } else {
                String::new()
            };
            reg.forget(&session.id);
            Ok(format!("Removed session {}.{note}", session.id))
        }
    }
}

impl Session {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// True for a sandboxed command (no pid, no stdin).
    pub(crate) fn is_external(&self) -> bool {
        matches!(self.control, Control::External { .. })
    }

    /// Waits until the command has ended, `until` has passed or `abort` is
    /// set, whichever comes first (the flag is read at least every 50 ms).
    pub(crate) fn wait(&self, until: Instant, abort: &AtomicBool) -> Waited {
        let mut st = self.lock();
        loop {
            let now = Instant::now();
            if st.ended(now) {
                return Waited::Ended;
            }
            if abort.load(Ordering::SeqCst) {
                return Waited::Aborted;
            }
            if now >= until {
                return Waited::Deadline;
            }
            let mut nap = ABORT_CHECK.min(until - now);
            if let Some(t) = st.ended_at {
                nap = nap.min((t + OUTPUT_GRACE).saturating_duration_since(now)).max(Duration::from_millis(1));
            }
            st = self.changed.wait_timeout(st, nap).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Makes the session visible to the `process` tool.
    pub(crate) fn hand_off(&self) {
        self.lock().visible = true;
    }

    /// Adds an external command's output (stdout, then stderr) and how it
    /// ended.
    pub(crate) fn finish(&self, output: &[&str], ending: Ending) {
        let mut st = self.lock();
        let mut first = true;
        for part in output.iter().filter(|p| !p.is_empty()) {
            if !first && !st.ring.ends_with_newline() {
                st.ring.push(b"\n");
            }
            st.ring.push(part.as_bytes());
            first = false;
        }
        st.output_open = false;
        st.exit = Some(Exit { code: ending.exit_code, signal: None });
        st.ended_at = Some(Instant::now());
        st.timed_out = ending.timed_out;
        st.warnings.extend(ending.warnings);
        st.notes = ending.notes;
        st.error = ending.error;
        drop(st);
        self.changed.notify_all();
    }

    /// The tool result of an ended command: warnings, the output (or
    /// `(no output)`), then how it ended; an error after a timeout, a kill or
    /// a failure to run. A non-zero exit is a result, not an error (the model
    /// reads the code), as upstream's `completed` status with an exit code.
    pub(crate) fn result(&self) -> ToolOutput {
        let st = self.lock();
        let mut text = warnings_text(&st.warnings);
        let body = st.ring.text_with_marker();
        text.push_str(if body.is_empty() && st.error.is_none() { "(no output)" } else { &body });
        let ends = self.end_lines(&st, false);
        if !ends.is_empty() {
            if !text.is_empty() {
                text.truncate(text.trim_end_matches('\n').len());
                text.push_str("\n\n");
            }
            text.push_str(&ends.join("\n"));
        }
        let failed = st.error.is_some() || st.timed_out || st.killed.is_some();
        ToolOutput { text, is_error: failed }
    }

    /// The result of a command handed to the background: upstream's "still
    /// running" line, the status and id, and the end of the output so far.
    pub(crate) fn running_text(&self) -> String {
        let st = self.lock();
        let mut text = warnings_text(&st.warnings);
        text.push_str(&format!("Command still running (session {}, {}). {FOLLOW_UP}\n", self.id, self.place()));
        text.push_str(&format!("status: running\nsessionId: {}\n", self.id));
        if self.pid.is_none() {
            text.push_str("Output: a sandboxed command's output arrives when it ends (process poll).");
            return text;
        }
        let (tail, cut) = st.ring.tail(TAIL_LINES, TAIL_BYTES);
        if tail.is_empty() {
            text.push_str("No output yet.");
        } else if cut {
            text.push_str(&format!("Output so far (the end):\n{tail}"));
        } else {
            text.push_str(&format!("Output so far:\n{tail}"));
        }
        text
    }

    /// Output since the last poll, then the status.
    fn poll(&self) -> String {
        let mut st = self.lock();
        let (lost, bytes) = st.ring.since(st.poll_offset);
        // Leave an unfinished UTF-8 character for the next poll while more
        // output may come.
        let keep = if st.output_open { incomplete_tail(&bytes) } else { 0 };
        let taken = &bytes[..bytes.len() - keep];
        st.poll_offset += lost + taken.len() as u64;
        let mut text = String::new();
        if lost > 0 {
            text.push_str(&format!(
                "[{} of output were dropped before this poll (the kept output is capped)]\n",
                size_text(lost)
            ));
        }
        let new = lossy(taken, lost > 0);
        let new = new.strip_suffix('\n').unwrap_or(&new);
        text.push_str(if new.is_empty() { "(no new output)" } else { new });
        text.push_str("\n\n");
        if st.exit.is_none() {
            text.push_str(if self.pid.is_some() {
                "Process still running."
            } else {
                "Process still running in the sandbox (its output arrives when it ends)."
            });
        } else {
            text.push_str(&self.end_lines(&st, true).join("\n"));
        }
        text
    }

    /// Lines `offset..offset+limit` of the kept output (from 0); with only a
    /// limit, the last `limit` lines; with neither, the last 200.
    fn log(&self, offset: Option<usize>, limit: Option<usize>) -> String {
        let st = self.lock();
        let dropped = st.ring.dropped();
        let all = lossy(&st.ring.bytes(), dropped > 0);
        drop(st);
        let mut lines: Vec<&str> = all.split('\n').collect();
        if lines.last() == Some(&"") {
            lines.pop();
        }
        let total = lines.len();
        let (start, end) = match (offset, limit) {
            (Some(o), l) => (o.min(total), l.map_or(total, |l| o.saturating_add(l).min(total))),
            (None, Some(l)) => (total - l.min(total), total),
            (None, None) => (total - DEFAULT_LOG_LINES.min(total), total),
        };
        let mut text = String::new();
        if dropped > 0 {
            text.push_str(&format!(
                "[the first {} of output were dropped (the kept output is capped); lines count from what is kept]\n",
                size_text(dropped)
            ));
        }
        if total == 0 {
            text.push_str("(no output recorded)");
            return text;
        }
        if start == end {
            text.push_str(&format!("(no lines at offset {start}: the kept output has {total})"));
            return text;
        }
        text.push_str(&lines[start..end].join("\n"));
        if offset.is_none() && limit.is_none() && start > 0 {
            text.push_str(&format!(
                "\n\n[showing the last {} of {total} lines; pass offset and limit to page]",
                end - start
            ));
        } else if start > 0 || end < total {
            text.push_str(&format!("\n\n[lines {start}..{end} of {total}]"));
        }
        text
    }

    /// Sends `data` to the command's stdin (and closes it after, with `eof`)
    /// from a thread; waits up to 2 s for the command to take it.
    fn write_stdin(self: &Arc<Self>, data: Vec<u8>, eof: bool) -> Result<String, String> {
        let Control::Host { stdin } = &self.control else {
            return Err(format!(
                "process: session {} runs in the sandbox; stdin is only available for commands run on the host",
                self.id
            ));
        };
        if !self.is_running() {
            return Err(format!("process: session {} has ended; its stdin is closed", self.id));
        }
        let taken = std::mem::replace(&mut *lock(stdin), Stdin::Busy);
        let mut pipe = match taken {
            Stdin::Open(pipe) => pipe,
            Stdin::Busy => {
                return Err(format!(
                    "process: an earlier write to session {} is still waiting for the command to read it",
                    self.id
                ));
            }
            Stdin::Closed => {
                *lock(stdin) = Stdin::Closed;
                return Err(format!("process: the stdin of session {} is closed", self.id));
            }
        };
        let n = data.len();
        if n == 0 {
            drop(pipe);
            *lock(stdin) = Stdin::Closed;
            return Ok(format!("Closed the stdin of session {}.", self.id));
        }
        let (tx, rx) = mpsc::channel();
        let session = Arc::clone(self);
        let spawned = spawn_thread("exec-stdin", move || {
            let written = pipe.write_all(&data).and_then(|()| pipe.flush());
            let next = if written.is_ok() && !eof { Stdin::Open(pipe) } else { Stdin::Closed };
            if let Control::Host { stdin } = &session.control {
                *lock(stdin) = next;
            }
            let _ = tx.send(written);
        });
        if let Err(e) = spawned {
            *lock(stdin) = Stdin::Closed;
            return Err(format!("process: cannot start a thread to write to session {}: {e}", self.id));
        }
        let closed = if eof { " and closed its stdin" } else { "" };
        match rx.recv_timeout(WRITE_WAIT) {
            Ok(Ok(())) => Ok(format!("Wrote {n} bytes to session {}{closed}.", self.id)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(format!(
                "process: session {} no longer reads its stdin (closed by the command); the data was not all delivered",
                self.id
            )),
            Ok(Err(e)) => Err(format!("process: cannot write to session {}: {e}", self.id)),
            Err(_) => Ok(format!(
                "Writing {n} bytes to session {}: the command has not read them all within {} s; the rest is \
                 delivered as it reads{}, and further writes wait until then.",
                self.id,
                WRITE_WAIT.as_secs(),
                if eof { " (stdin is closed after)" } else { "" }
            )),
        }
    }

    /// Kills the command and waits a little for it to end.
    fn kill_and_wait(&self, reason: &'static str) -> Result<(), String> {
        self.kill(reason)?;
        if self.pid.is_some() {
            self.wait(Instant::now() + KILL_WAIT, &AtomicBool::new(false));
        }
        Ok(())
    }

    fn kill_report(&self) -> String {
        if self.is_running() {
            format!("Sent SIGKILL to session {}; it has not ended yet (poll shows when it does).", self.id)
        } else {
            format!("Killed session {}.", self.id)
        }
    }

    /// Stops a running command: SIGKILL to a host command's whole process
    /// group; for an external one, its killer, again while it has not ended
    /// (up to 3 times, 3 s apart). `Err` when it is not running or cannot be
    /// stopped.
    pub(crate) fn kill(&self, reason: &'static str) -> Result<(), String> {
        match &self.control {
            Control::Host { .. } => {
                let mut st = self.lock();
                if st.exit.is_some() {
                    return Err(format!("process: session {} is not running ({})", self.id, status(&st)));
                }
                if st.child.is_some()
                    && let Some(pid) = self.pid
                    && let Err(e) = kill_pgid(pid)
                {
                    return Err(format!("process: cannot kill session {}: {e}", self.id));
                }
                st.killed.get_or_insert(reason);
                drop(st);
                self.changed.notify_all();
                Ok(())
            }
            Control::External { kill } => {
                if !self.is_running() {
                    return Err(format!("process: session {} is not running ({})", self.id, status(&self.lock())));
                }
                // The command may not have started in the container yet (it
                // is started from a thread): kill again while it goes on.
                let never = AtomicBool::new(false);
                for _ in 0..EXTERNAL_KILL_TRIES {
                    kill().map_err(|e| {
                        let left = self.timeout.saturating_sub(self.started.elapsed());
                        format!(
                            "process: cannot stop session {} in the sandbox ({e}); it keeps running until its \
                             timeout (in {} s)",
                            self.id,
                            left.as_secs()
                        )
                    })?;
                    self.lock().killed.get_or_insert(reason);
                    self.changed.notify_all();
                    if self.wait(Instant::now() + EXTERNAL_KILL_WAIT, &never) == Waited::Ended {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    fn is_running(&self) -> bool {
        self.lock().exit.is_none()
    }

    fn expired(&self, now: Instant) -> bool {
        let st = self.lock();
        st.exit.is_some() && st.ended_at.and_then(|t| t.checked_add(self.cleanup)).is_some_and(|t| t <= now)
    }

    fn place(&self) -> String {
        self.pid.map_or_else(|| "in the sandbox".to_string(), |p| format!("pid {p}"))
    }

    /// How an ended command ended, one sentence a line; `poll` words them as
    /// the process's status, a result only says what is not a plain success.
    fn end_lines(&self, st: &State, poll: bool) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(e) = &st.error {
            lines.push(format!("exec failed: {e}"));
        }
        if let Some(reason) = st.killed {
            lines.push(format!("Command was killed {reason}."));
        } else if st.timed_out && self.pid.is_some() {
            lines.push(format!(
                "Command timed out after {} s; it was killed with its process group.",
                secs_text(self.timeout)
            ));
        }
        lines.extend(st.notes.iter().cloned());
        if st.killed.is_some() || st.timed_out || st.error.is_some() {
            return lines;
        }
        match st.exit {
            Some(Exit { signal: Some(sig), .. }) => lines.push(format!("Command was killed by {}.", signal_text(sig))),
            Some(Exit { code: Some(0), .. }) if poll => lines.push("Process exited with code 0.".to_string()),
            Some(Exit { code: Some(0), .. }) => {}
            Some(Exit { code: Some(code), .. }) if poll => lines.push(format!("Process exited with code {code}.")),
            Some(Exit { code: Some(code), .. }) => lines.push(format!("(Command exited with code {code})")),
            Some(Exit { code: None, .. }) => lines.push("(The command's exit code could not be read)".to_string()),
            None => {}
        }
        lines
    }

    /// The output thread: the pipe into the ring until it ends.
    fn read_output(&self, mut pipe: PipeReader) {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.lock().ring.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("exec session {}: reading output failed: {e}", self.id);
                    break;
                }
            }
        }
        self.lock().output_open = false;
        self.changed.notify_all();
    }

    /// The reaping thread (see the module doc): reaps the shell under the
    /// lock and kills the group once the timeout has passed.
    fn supervise(&self) {
        let deadline = self.started.checked_add(self.timeout);
        let mut nap = Duration::from_millis(1);
        let mut st = self.lock();
        while let Some(child) = st.child.as_mut() {
            let exit = match child.try_wait() {
                Ok(None) => None,
                Ok(Some(status)) => Some(exit_of(status)),
                Err(e) => {
                    log::warn!("exec session {}: cannot wait for the command: {e}", self.id);
                    Some(Exit { code: None, signal: None })
                }
            };
            if let Some(exit) = exit {
                st.child = None;
                st.exit = Some(exit);
                st.ended_at = Some(Instant::now());
                break;
            }
            let now = Instant::now();
            let mut wait = nap;
            if !st.timed_out
                && let Some(deadline) = deadline
            {
                if now >= deadline {
                    log::info!(
                        "exec session {}: timed out after {} s; killing its process group",
                        self.id,
                        secs_text(self.timeout)
                    );
                    st.timed_out = true;
                    if let Some(pid) = self.pid
                        && let Err(e) = kill_pgid(pid)
                    {
                        log::warn!("exec session {}: cannot kill its process group: {e}", self.id);
                    }
                    nap = Duration::from_millis(1);
                    continue;
                }
                wait = wait.min(deadline - now);
            }
            st = self.changed.wait_timeout(st, wait).unwrap_or_else(PoisonError::into_inner).0;
            nap = (nap * 2).min(MAX_NAP);
        }
        drop(st);
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl State {
    fn new(child: Option<Child>, cap: usize, warnings: Vec<String>) -> State {
        State {
            output_open: child.is_some(),
            child,
            ring: Ring::new(cap),
            exit: None,
            ended_at: None,
            killed: None,
            timed_out: false,
            visible: false,
            poll_offset: 0,
            warnings,
            notes: Vec::new(),
            error: None,
        }
    }

    /// Exited, and the output ended or had its grace.
    fn ended(&self, now: Instant) -> bool {
        self.exit.is_some() && (!self.output_open || self.ended_at.is_some_and(|t| now >= t + OUTPUT_GRACE))
    }
}

impl Ring {
    fn new(cap: usize) -> Ring {
        Ring { buf: VecDeque::new(), cap, total: 0 }
    }

    fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        if data.len() >= self.cap {
            self.buf.clear();
            self.buf.extend(&data[data.len() - self.cap..]);
            return;
        }
        let over = (self.buf.len() + data.len()).saturating_sub(self.cap);
        self.buf.drain(..over);
        self.buf.extend(data);
    }

    /// Bytes pushed but no longer kept.
    fn dropped(&self) -> u64 {
        self.total - self.buf.len() as u64
    }

    fn bytes(&self) -> Vec<u8> {
        self.buf.iter().copied().collect()
    }

    fn ends_with_newline(&self) -> bool {
        self.buf.back().is_none_or(|&b| b == b'\n')
    }

    /// The bytes from `offset` (counted over all output) on, and how many
    /// bytes from `offset` on are no longer kept.
    fn since(&self, offset: u64) -> (u64, Vec<u8>) {
        let start = self.dropped();
        let from = offset.clamp(start, self.total);
        let skip = usize::try_from(from - start).unwrap_or(usize::MAX);
        (from - offset.min(from), self.buf.iter().skip(skip).copied().collect())
    }

    /// All kept output as text, after a marker line when some was dropped.
    fn text_with_marker(&self) -> String {
        let dropped = self.dropped();
        let text = lossy(&self.bytes(), dropped > 0);
        if dropped == 0 {
            return text;
        }
        format!(
            "[output truncated: the first {} were dropped; the last {} follow]\n{text}",
            size_text(dropped),
            size_text(self.cap as u64)
        )
    }

    /// The last `lines` lines, at most `max_bytes`, and whether that cut
    /// anything.
    fn tail(&self, lines: usize, max_bytes: usize) -> (String, bool) {
        let skip = self.buf.len().saturating_sub(max_bytes);
        let bytes: Vec<u8> = self.buf.iter().skip(skip).copied().collect();
        let text = lossy(&bytes, skip > 0 || self.dropped() > 0);
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        let all: Vec<&str> = trimmed.split('\n').collect();
        let from = all.len().saturating_sub(lines);
        (all[from..].join("\n"), skip > 0 || self.dropped() > 0 || from > 0)
    }
}

// ---------------------------------------------------------------------------
// Private helpers.

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new().name(name.to_string()).spawn(f).map(|_| ())
}

/// SIGKILL to the process group led by `pid`; a group already gone is fine.
fn kill_pgid(pid: u32) -> std::io::Result<()> {
    let pgid = i32::try_from(pid).map_err(|_| std::io::Error::other(format!("pid {pid} out of range")))?;
    match sys::kill_group(pgid, sys::SIGKILL) {
        Err(e) if e.raw_os_error() == Some(3) => Ok(()), // ESRCH
        other => other,
    }
}

/// Room for one more session of `owner`: drops its oldest ended session
/// when it has [`MAX_SESSIONS_PER_OWNER`]; refuses when all are running.
fn make_room(sessions: &mut BTreeMap<String, Arc<Session>>, owner: &str) -> Result<(), String> {
    let mine: Vec<&Arc<Session>> = sessions.values().filter(|s| s.owner == owner).collect();
    if mine.len() < MAX_SESSIONS_PER_OWNER {
        return Ok(());
    }
    let oldest = mine
        .iter()
        .filter_map(|s| {
            let st = s.lock();
            st.exit.is_some().then(|| (st.ended_at, s.id.clone()))
        })
        .min();
    match oldest {
        Some((_, id)) => {
            sessions.remove(&id);
            Ok(())
        }
        None => Err(format!(
            "exec: this agent already has {MAX_SESSIONS_PER_OWNER} commands running; stop some with process kill \
             or remove before starting another"
        )),
    }
}

/// A short random session id not in use (a counter if randomness fails).
fn new_id(sessions: &BTreeMap<String, Arc<Session>>) -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(1);
    loop {
        let id =
            crypto::random_hex_token(4).unwrap_or_else(|_| format!("s{}", FALLBACK.fetch_add(1, Ordering::Relaxed)));
        if !sessions.contains_key(&id) {
            return id;
        }
    }
}

fn exit_of(status: ExitStatus) -> Exit {
    Exit { code: status.code().map(i64::from), signal: status.signal() }
}

fn status(st: &State) -> &'static str {
    match st.exit {
        None => "running",
        Some(_) if st.killed.is_some() => "killed",
        Some(_) if st.error.is_some() || st.timed_out => "failed",
        Some(Exit { code: Some(0), signal: None }) => "completed",
        Some(_) => "failed",
    }
}

/// One line per session: id, status, runtime, where, exit, command.
fn list_text(sessions: &[Arc<Session>], now: Instant) -> String {
    if sessions.is_empty() {
        return "No running or recent sessions.".to_string();
    }
    let lines: Vec<String> = sessions
        .iter()
        .map(|s| {
            let st = s.lock();
            let runtime = st.ended_at.unwrap_or(now).saturating_duration_since(s.started);
            let exit = match st.exit {
                Some(Exit { signal: Some(sig), .. }) => format!(" signal {sig}"),
                Some(Exit { code: Some(code), .. }) => format!(" exit {code}"),
                _ => String::new(),
            };
            format!(
                "{} {:<9} {:>7}  {}{exit} :: {}",
                s.id,
                status(&st),
                duration_text(runtime),
                s.place(),
                shown(&s.command, SHOWN_COMMAND_CHARS)
            )
        })
        .collect();
    lines.join("\n")
}

fn warnings_text(warnings: &[String]) -> String {
    if warnings.is_empty() { String::new() } else { format!("{}\n\n", warnings.join("\n")) }
}

/// Bytes as text; with `cut`, up to three leading UTF-8 continuation bytes
/// (the rest of a character whose start was dropped) are skipped.
fn lossy(bytes: &[u8], cut: bool) -> String {
    let skip = if cut { bytes.iter().take(3).take_while(|&&b| b & 0xC0 == 0x80).count() } else { 0 };
    String::from_utf8_lossy(&bytes[skip..]).into_owned()
}

/// How many bytes at the end of `bytes` begin a UTF-8 character that is not
/// complete yet.
fn incomplete_tail(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => bytes.len() - e.valid_up_to(),
        _ => 0,
    }
}

/// `s` on one line, cut to `max` characters.
fn shown(s: &str, max: usize) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max + 1).collect();
    if one_line.chars().count() > max {
        format!("{}…", one_line.chars().take(max).collect::<String>())
    } else {
        one_line
    }
}

/// `n` bytes for people: `812 bytes`, `200 KiB`, `4.8 MiB`.
fn size_text(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    match UNITS.iter().find(|(size, _)| n >= *size) {
        Some((size, unit)) if n.is_multiple_of(*size) => format!("{} {unit}", n / size),
        Some((size, unit)) => format!("{:.1} {unit}", n as f64 / *size as f64),
        None if n == 1 => "1 byte".to_string(),
        None => format!("{n} bytes"),
    }
}

/// Seconds, with a decimal only when needed.
fn secs_text(d: Duration) -> String {
    if d.subsec_millis() == 0 { d.as_secs().to_string() } else { format!("{:.1}", d.as_secs_f64()) }
}

/// `850ms`, `12s`, `3m05s`, `2h04m`.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.subsec_millis()),
        1..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

fn signal_text(sig: i32) -> String {
    let name = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    format!("signal {sig} ({name})")
}

/// A string argument; `Ok(None)` when absent or null.
pub(crate) fn string_arg<'a>(args: &'a Value, tool: &str, name: &str) -> Result<Option<&'a str>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{tool}: \"{name}\" must be a string, not {}", kind(other))),
    }
}

/// A boolean argument (also `"true"`/`"false"`); `Ok(None)` when absent.
pub(crate) fn bool_arg(args: &Value, tool: &str, name: &str) -> Result<Option<bool>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(other) => Err(format!("{tool}: \"{name}\" must be true or false, not {}", kind(other))),
    }
}

/// A non-negative number argument (also as a numeric string); `Ok(None)`
/// when absent.
pub(crate) fn number_arg(args: &Value, tool: &str, name: &str) -> Result<Option<f64>, String> {
    let bad = |v: &Value| format!("{tool}: \"{name}\" must be a number of 0 or more, not {}", kind(v));
    let n = match args.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(v @ Value::Number(n)) => n.as_f64().ok_or_else(|| bad(v))?,
        Some(v @ Value::String(s)) => s.trim().parse::<f64>().map_err(|_| bad(v))?,
        Some(v) => return Err(bad(v)),
    };
    if !n.is_finite() || n < 0.0 {
        return Err(format!("{tool}: \"{name}\" must be a number of 0 or more, not {n}"));
    }
    Ok(Some(n))
}

fn count_arg(args: &Value, name: &str) -> Result<Option<usize>, String> {
    Ok(number_arg(args, "process", name)?.map(|n| if n >= usize::MAX as f64 { usize::MAX } else { n as usize }))
}

/// What a JSON value is, for errors (never the value itself, which may be large).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external(reg: &Registry, owner: &str) -> Arc<Session> {
        let start = Start {
            owner,
            command: "make",
            output_cap: 1 << 20,
            timeout: Duration::from_secs(60),
            cleanup: Duration::from_secs(60),
            warnings: Vec::new(),
        };
        reg.start_external(start, Box::new(|| Err("no engine here".to_string()))).unwrap()
    }

    fn ended(code: i64) -> Ending {
        Ending { exit_code: Some(code), timed_out: false, warnings: Vec::new(), notes: Vec::new(), error: None }
    }

    #[test]
    fn ring_keeps_the_last_bytes_and_counts_the_rest() {
        let mut r = Ring::new(5);
        r.push(b"abc");
        assert_eq!((r.bytes(), r.dropped()), (b"abc".to_vec(), 0));
        r.push(b"defg");
        assert_eq!((r.bytes(), r.dropped(), r.total), (b"cdefg".to_vec(), 2, 7));
        r.push(b"0123456789");
        assert_eq!((r.bytes(), r.dropped()), (b"56789".to_vec(), 12));
        assert_eq!(r.since(0), (12, b"56789".to_vec()));
        assert_eq!(r.since(14), (0, b"789".to_vec()));
        assert_eq!(r.since(17), (0, Vec::new()));
        assert_eq!(r.since(99), (0, Vec::new()));
        assert!(
            r.text_with_marker()
                .starts_with("[output truncated: the first 12 bytes were dropped; the last 5 bytes follow]\n56789")
        );

        let mut zero = Ring::new(0);
        zero.push(b"lost");
        assert_eq!((zero.bytes(), zero.dropped()), (Vec::new(), 4));
    }

    #[test]
    fn text_views_handle_cut_characters() {
        assert_eq!(lossy("é".as_bytes(), false), "é");
        assert_eq!(lossy(&"é!".as_bytes()[1..], true), "!");
        assert_eq!(incomplete_tail(&"aé".as_bytes()[..2]), 1);
        assert_eq!(incomplete_tail(b"ab"), 0);
        assert_eq!(incomplete_tail(b"a\xff"), 0, "invalid is not incomplete");
        let mut r = Ring::new(1000);
        r.push(b"1\n2\n3\n4\n");
        assert_eq!(r.tail(2, 100), ("3\n4".to_string(), true));
        assert_eq!(r.tail(10, 100), ("1\n2\n3\n4".to_string(), false));
        assert_eq!(r.tail(10, 4), ("3\n4".to_string(), true));
    }

    #[test]
    fn small_texts_read_well() {
        assert_eq!(size_text(1), "1 byte");
        assert_eq!(size_text(812), "812 bytes");
        assert_eq!(size_text(200 * 1024), "200 KiB");
        assert_eq!(size_text(5_000_000), "4.8 MiB");
        assert_eq!(duration_text(Duration::from_millis(850)), "850ms");
        assert_eq!(duration_text(Duration::from_secs(185)), "3m05s");
        assert_eq!(duration_text(Duration::from_secs(7440)), "2h04m");
        assert_eq!(signal_text(9), "signal 9 (SIGKILL)");
        assert_eq!(signal_text(40), "signal 40");
        assert_eq!(shown("a\nb", 10), "a b");
        assert_eq!(shown(&"x".repeat(200), 5), "xxxxx…");
        assert_eq!(secs_text(Duration::from_millis(1500)), "1.5");
    }

    #[test]
    fn external_sessions_poll_log_and_end() {
        let reg = Registry::new();
        let s = external(&reg, "main");
        let poll = json!({"action": "poll", "sessionId": s.id()});
        let text = tool(&reg, "main", &poll);
        assert!(text.is_error && text.text.contains("no session"), "not visible yet: {text:?}");
        s.hand_off();
        let text = tool(&reg, "main", &poll);
        assert_eq!(
            text.text,
            "(no new output)\n\nProcess still running in the sandbox (its output arrives when it ends)."
        );
        let text = tool(&reg, "main", &json!({"action": "write", "sessionId": s.id(), "data": "x"}));
        assert!(text.is_error && text.text.contains("only available for commands run on the host"), "{text:?}");
        let text = tool(&reg, "main", &json!({"action": "kill", "sessionId": s.id()}));
        assert!(text.is_error && text.text.contains("keeps running until its timeout"), "{text:?}");

        let lines: String = (0..250).map(|i| format!("line {i}\n")).collect();
        s.finish(&[&lines, "oops"], ended(2));
        let text = tool(&reg, "main", &poll).text;
        assert!(
            text.starts_with("line 0\n") && text.ends_with("line 249\noops\n\nProcess exited with code 2."),
            "{text}"
        );
        assert_eq!(tool(&reg, "main", &poll).text, "(no new output)\n\nProcess exited with code 2.");

        let log = tool(&reg, "main", &json!({"action": "log", "sessionId": s.id()})).text;
        assert!(
            log.starts_with("line 51\n")
                && log.ends_with("oops\n\n[showing the last 200 of 251 lines; pass offset and limit to page]"),
            "{log}"
        );
        let log = tool(&reg, "main", &json!({"action": "log", "sessionId": s.id(), "offset": 2, "limit": 2})).text;
        assert_eq!(log, "line 2\nline 3\n\n[lines 2..4 of 251]");
        let log = tool(&reg, "main", &json!({"action": "log", "sessionId": s.id(), "limit": "1"})).text;
        assert_eq!(log, "oops\n\n[lines 250..251 of 251]");

        let list = tool(&reg, "main", &json!({"action": "list"})).text;
        assert!(
            list.starts_with(&format!("{} failed ", s.id())) && list.ends_with("in the sandbox exit 2 :: make"),
            "{list}"
        );
        assert_eq!(tool(&reg, "other", &json!({"action": "list"})).text, "No running or recent sessions.");

        let r = s.result();
        assert!(!r.is_error && r.text.ends_with("oops\n\n(Command exited with code 2)"), "{r:?}");

        assert_eq!(
            tool(&reg, "main", &json!({"action": "clear", "sessionId": s.id()})).text,
            format!("Cleared session {}.", s.id())
        );
        assert!(tool(&reg, "main", &poll).is_error);
    }

    #[test]
    fn sessions_are_swept_after_cleanup_and_capped_per_owner() {
        let reg = Registry::new();
        let s = external(&reg, "a");
        s.hand_off();
        reg.sweep(Instant::now() + Duration::from_secs(3600));
        assert!(reg.find("a", s.id()).is_some(), "running sessions are never swept");
        s.finish(&[], ended(0));
        reg.sweep(Instant::now() + Duration::from_secs(59));
        assert!(reg.find("a", s.id()).is_some());
        reg.sweep(Instant::now() + Duration::from_secs(61));
        assert!(reg.find("a", s.id()).is_none());

        let first = external(&reg, "a");
        first.finish(&[], ended(0));
        let _running: Vec<_> = (1..MAX_SESSIONS_PER_OWNER).map(|_| external(&reg, "a")).collect();
        // Full: the ended one makes room, then nothing does.
        let _one_more = external(&reg, "a");
        assert!(lock(&reg.sessions).get(first.id()).is_none());
        let start = Start {
            owner: "a",
            command: "x",
            output_cap: 1,
            timeout: Duration::from_secs(1),
            cleanup: Duration::from_secs(1),
            warnings: Vec::new(),
        };
        let err = reg.start_external(start, Box::new(|| Ok(()))).err().unwrap();
        assert!(err.contains("already has 64 commands running"), "{err}");
        // Another agent is not affected.
        external(&reg, "b");
    }

    #[test]
    fn bad_arguments_name_the_parameter() {
        let reg = Registry::new();
        let cases = [
            (json!(null), "the arguments must be an object"),
            (json!({}), "\"action\" is required"),
            (json!({"action": 3}), "\"action\" must be a string, not a number"),
            (json!({"action": "dance"}), "unknown action \"dance\""),
            (json!({"action": "send-keys", "sessionId": "x"}), "needs a terminal"),
            (json!({"action": "poll"}), "\"sessionId\" is required for poll"),
            (json!({"action": "poll", "sessionId": " "}), "\"sessionId\" is required for poll"),
            (json!({"action": "kill", "sessionId": "nope"}), "no session \"nope\""),
        ];
        for (args, want) in cases {
            let out = tool(&reg, "main", &args);
            assert!(out.is_error && out.text.contains(want), "{args}: {out:?}");
        }
        let s = external(&reg, "main");
        s.hand_off();
        let cases = [
            (json!({"action": "log", "sessionId": s.id(), "offset": -1}), "\"offset\" must be a number of 0 or more"),
            (
                json!({"action": "log", "sessionId": s.id(), "limit": "ten"}),
                "\"limit\" must be a number of 0 or more, not a string",
            ),
            (json!({"action": "write", "sessionId": s.id()}), "\"data\" is required for write"),
            (json!({"action": "write", "sessionId": s.id(), "data": 5}), "\"data\" must be a string"),
            (
                json!({"action": "write", "sessionId": s.id(), "data": "x", "eof": "maybe"}),
                "\"eof\" must be true or false",
            ),
        ];
        for (args, want) in cases {
            let out = tool(&reg, "main", &args);
            assert!(out.is_error && out.text.contains(want), "{args}: {out:?}");
        }
        assert_eq!(spec().name, "process");
        assert_eq!(spec().parameters["required"], json!(["action"]));
    }
}
