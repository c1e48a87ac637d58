//! The agent loop and the state it shares across turns.
//!
//! [`Runtime::run_turn`] is the loop: it takes the session's lock (one turn
//! per session at a time; a second one waits), appends the user message to
//! the transcript (fsynced before anything else happens), resolves the model
//! plan and the tool policy, and then alternates model calls and tool calls
//! for at most [`MAX_STEPS`] model calls and until the turn's deadline. Every
//! assistant message and tool result is appended (fsynced) as it happens, so a
//! crash mid-turn leaves a valid transcript with everything up to that point;
//! a tool call whose result never got written is answered with an
//! "interrupted" result the next time the history is read.
//!
//! Events ([`Event`]) go to the caller's sink as they happen: text deltas,
//! tool start/result, then exactly one of final, error or aborted.
//!
//! Where tools run is decided once per turn by the policy: a sandboxed session
//! gets its container (ensured on the first tool that needs it) and every
//! `exec` and file tool goes there — never to the host, whatever fails.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::policy::{self, Effective};
use super::provider::{self, Endpoint, Message, Role, ToolCall, ToolSpec};
use super::sessions::{self, Store, Usage};
use super::{ToolOutput, bootstrap, exec, models, patch, process, tools};
use crate::config::Config;
use crate::config::sandbox::WorkspaceAccess;
use crate::docker::Docker;
use crate::paths::{Env, Paths};
use crate::sandbox::{Manager, Sandbox, keys};
use crate::workspace::{self, Root};
use crate::{now_ms, shorten as short};

/// Model calls per turn, at most.
pub const MAX_STEPS: usize = 32;
/// The turn deadline when `agents.defaults.timeoutSeconds` is not set (upstream's 600 s).
pub const DEFAULT_TURN_TIMEOUT: Duration = Duration::from_secs(600);
/// Messages of history sent to the model, at most (older ones stay in the transcript).
pub const MAX_HISTORY_MESSAGES: usize = 400;
/// The longest user message accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The largest attachment accepted (upstream's `MEDIA_MAX_BYTES`: 5 MB).
pub const MEDIA_MAX_BYTES: u64 = 5 * 1024 * 1024;
/// Tool result text kept in the transcript and sent to the model, at most.
const MAX_TOOL_RESULT_BYTES: usize = 256 * 1024;
/// The text answered for a tool call whose result was never recorded.
const INTERRUPTED: &str = "Tool call was interrupted before it returned a result (the gateway stopped mid-turn).";

/// What a turn tells its caller as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// New reply text (a piece, not the whole text).
    Delta(String),
    ToolStart { id: String, name: String, args: Value },
    ToolResult { id: String, name: String, output: ToolOutput },
    Final { text: String, usage: Usage, stop_reason: String },
    Error(String),
    Aborted,
}

/// One turn, running or about to.
#[derive(Debug)]
pub struct Run {
    pub run_id: String,
    pub session_key: String,
    pub abort: AtomicBool,
    pub started_ms: u64,
    /// Files the message came with, saved under `<state>/media/inbound/`.
    pub media: Vec<PathBuf>,
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Final { text: String, usage: Usage },
    Error(String),
    Aborted,
}

impl Outcome {
    /// The final text, or the error text.
    pub fn text(&self) -> String {
        match self {
            Outcome::Final { text, .. } => text.clone(),
            Outcome::Error(e) => e.clone(),
            Outcome::Aborted => "aborted".to_string(),
        }
    }
}

/// Why a turn could not start.
#[derive(Debug, Clone, PartialEq)]
pub enum StartError {
    BadRequest(String),
    Unavailable(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::BadRequest(m) | StartError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// Where a turn's events go.
pub type Sink = Box<dyn Fn(&Run, Event) + Send>;

/// Shared by every turn in a process (the gateway has one).
pub struct Runtime {
    paths: Paths,
    current: RwLock<(Arc<Config>, Arc<Env>)>,
    docker: Option<Docker>,
    processes: process::Registry,
    runs: Mutex<BTreeMap<String, Arc<Run>>>,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    seeded: Mutex<HashSet<PathBuf>>,
    /// Model and tool time of the turns so far, for the benchmark's "own share".
    pub timing: Timing,
}

/// Cumulative time spent waiting on models and tools, in microseconds.
#[derive(Debug, Default)]
pub struct Timing {
    pub model_us: AtomicU64,
    pub tool_us: AtomicU64,
    pub turns: AtomicU64,
}

/// Per-turn state of the tool side.
struct ToolCx<'a> {
    config: &'a Config,
    env: &'a Env,
    agent_id: &'a str,
    session_key: &'a str,
    policy: &'a Effective,
    workspace: PathBuf,
    sandbox: Option<Sandbox>,
    manager: Option<Manager>,
    depth: usize,
}

impl Runtime {
    pub fn new(paths: Paths, config: Arc<Config>, env: Env, docker: Option<Docker>) -> Runtime {
        Runtime {
            paths,
            current: RwLock::new((config, Arc::new(env))),
            docker,
            processes: process::Registry::new(),
            runs: Mutex::new(BTreeMap::new()),
            locks: Mutex::new(HashMap::new()),
            seeded: Mutex::new(HashSet::new()),
            timing: Timing::default(),
        }
    }

    /// A reloaded config (and the environment it was loaded with) for the
    /// turns that start from now on.
    pub fn set_config(&self, config: Arc<Config>, env: Env) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (config, Arc::new(env));
    }

    fn snapshot(&self) -> (Arc<Config>, Arc<Env>) {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn processes(&self) -> &process::Registry {
        &self.processes
    }

    /// The default agent's main session key.
    pub fn default_session_key(&self) -> String {
        let (config, _) = self.snapshot();
        keys::main_session_key(&config, &config.default_agent_id())
    }

    /// A checked session key (blank: the default agent's main session).
    pub fn session_key(&self, given: Option<&str>) -> Result<String, StartError> {
        let key = given.map(str::trim).filter(|k| !k.is_empty()).map(str::to_string);
        let key = key.unwrap_or_else(|| self.default_session_key());
        sessions::check_key(&key).map_err(|e| StartError::BadRequest(format!("invalid sessionKey: {e}")))?;
        Ok(key)
    }

    /// Registers a turn for `session_key` (not started yet).
    pub fn new_run(&self, session_key: &str) -> Result<Arc<Run>, StartError> {
        self.new_run_with_media(session_key, Vec::new())
    }

    /// [`Runtime::new_run`] for a message with attached files (see [`Runtime::save_media`]).
    pub fn new_run_with_media(&self, session_key: &str, media: Vec<PathBuf>) -> Result<Arc<Run>, StartError> {
        let run_id = crate::crypto::uuid_v4().map_err(|e| StartError::Unavailable(format!("cannot make a run id: {e}")))?;
        let run = Arc::new(Run {
            run_id: run_id.clone(),
            session_key: session_key.to_string(),
            abort: AtomicBool::new(false),
            started_ms: now_ms(),
            media,
        });
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).insert(run_id, Arc::clone(&run));
        Ok(run)
    }

    /// Runs `run` on its own thread; `sink` gets its events.
    pub fn spawn(
        self: &Arc<Self>,
        run: Arc<Run>,
        message: String,
        timeout: Option<Duration>,
        sink: Sink,
    ) -> Result<(), StartError> {
        let rt = Arc::clone(self);
        std::thread::Builder::new()
            .name("agent-turn".into())
            .spawn(move || {
                rt.run_turn(&run, &message, timeout, &*sink);
            })
            .map(|_| ())
            .map_err(|e| StartError::Unavailable(format!("cannot start the turn: {e}")))
    }

    /// Sets the abort flag of the runs of `session_key` (or just `run_id`).
    /// Returns the run ids flagged.
    pub fn abort(&self, session_key: Option<&str>, run_id: Option<&str>) -> Vec<String> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.values()
            .filter(|r| run_id.is_none_or(|id| r.run_id == id) && session_key.is_none_or(|k| r.session_key == k))
            .map(|r| {
                r.abort.store(true, Ordering::SeqCst);
                r.run_id.clone()
            })
            .collect()
    }

    /// Every registered run (running or waiting for its session).
    pub fn active_runs(&self) -> Vec<Arc<Run>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// The first active run of `session_key`.
    pub fn active_run(&self, session_key: &str) -> Option<String> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.values().filter(|r| r.session_key == session_key).min_by_key(|r| r.started_ms).map(|r| r.run_id.clone())
    }

    /// The gateway's folder for received files.
    pub fn media_dir(&self) -> PathBuf {
        self.paths.state_dir.join("media").join("inbound")
    }

    /// Saves an attachment under [`Runtime::media_dir`] (0600) as
    /// `<stem>-<8 hex><ext>`; the name is reduced to safe characters.
    pub fn save_media(&self, file_name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
        if bytes.len() as u64 > MEDIA_MAX_BYTES {
            return Err(format!("attachment {file_name:?} is larger than {MEDIA_MAX_BYTES} bytes"));
        }
        let base = Path::new(file_name).file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let (stem, ext) = match base.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
            _ => (base, String::new()),
        };
        let safe = |t: &str, n: usize| -> String {
            t.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).take(n).collect()
        };
        let ext = if ext.is_empty() { ext } else { format!(".{}", safe(&ext[1..], 15)) };
        let nonce = crate::crypto::random_hex_token(4).map_err(|e| e.to_string())?;
        let dir = self.media_dir();
        crate::fsutil::ensure_private_dir(&self.paths.state_dir.join("media")).map_err(|e| e.to_string())?;
        crate::fsutil::ensure_private_dir(&dir).map_err(|e| e.to_string())?;
        let path = dir.join(format!("{}-{nonce}{ext}", safe(stem, 64)));
        crate::fsutil::write_atomic(&path, bytes).map_err(|e| format!("cannot save attachment {file_name:?}: {e}"))?;
        Ok(path)
    }

    /// Aborts every turn and stops background commands (gateway shutdown).
    pub fn shutdown(&self) {
        self.abort(None, None);
        self.processes.kill_all();
    }

    fn store_for(&self, config: &Config, session_key: &str) -> (String, Store) {
        let agent_id = keys::agent_id_from_session_key(session_key, &config.default_agent_id());
        let store = Store::new(&self.paths.state_dir, &agent_id).with_cwd(config.workspace_for(&agent_id).display().to_string());
        (agent_id, store)
    }

    /// The session's id and its last `limit` messages (oldest first).
    pub fn history(&self, session_key: &str, limit: usize) -> Result<(Option<String>, Vec<Value>), String> {
        let (config, _) = self.snapshot();
        let (_, store) = self.store_for(&config, session_key);
        let Some(entry) = store.entry(session_key).map_err(|e| e.to_string())? else { return Ok((None, Vec::new())) };
        let loaded = store.load(&entry.session_id).map_err(|e| e.to_string())?;
        let mut messages: Vec<Value> = loaded
            .entries
            .into_iter()
            .filter(|e| e.get("type").and_then(Value::as_str) == Some("message"))
            .filter_map(|mut e| e.get_mut("message").map(Value::take))
            .collect();
        let skip = messages.len().saturating_sub(limit);
        messages.drain(..skip);
        Ok((Some(entry.session_id), messages))
    }

    /// `sessions.reset`: a new session id; the old transcript is archived.
    pub fn reset(&self, session_key: &str) -> Result<sessions::Entry, String> {
        let (config, _) = self.snapshot();
        let (_, store) = self.store_for(&config, session_key);
        let lock = self.session_lock(session_key);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        store.reset(session_key, now_ms()).map_err(|e| e.to_string())
    }

    fn session_lock(&self, key: &str) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the locks nobody holds or waits on, so the map stays small.
        if locks.len() > 256 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        Arc::clone(locks.entry(key.to_string()).or_default())
    }

    /// One turn (see the module doc). `timeout` overrides the configured deadline.
    pub fn run_turn(self: &Arc<Self>, run: &Run, message: &str, timeout: Option<Duration>, sink: &dyn Fn(&Run, Event)) -> Outcome {
        let outcome = self.turn(run, message, timeout, sink, 0);
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).remove(&run.run_id);
        // `turn` sent the final event itself (before its metadata write).
        match &outcome {
            Outcome::Final { .. } => {}
            Outcome::Error(e) => sink(run, Event::Error(e.clone())),
            Outcome::Aborted => sink(run, Event::Aborted),
        }
        self.timing.turns.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    fn turn(self: &Arc<Self>, run: &Run, message: &str, timeout: Option<Duration>, sink: &dyn Fn(&Run, Event), depth: usize) -> Outcome {
        let started = Instant::now();
        let (config, env) = self.snapshot();
        let key = run.session_key.as_str();
        if message.trim().is_empty() {
            return Outcome::Error("message is empty".to_string());
        }
        if message.len() > MAX_MESSAGE_BYTES {
            return Outcome::Error(format!("message is too long ({} bytes; at most {MAX_MESSAGE_BYTES})", message.len()));
        }
        if let Err(e) = sessions::check_key(key) {
            return Outcome::Error(format!("invalid session key: {e}"));
        }
        let lock = self.session_lock(key);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        if run.abort.load(Ordering::SeqCst) {
            return Outcome::Aborted;
        }
        let deadline = started
            + timeout.unwrap_or_else(|| {
                config.agents.defaults.timeout_seconds.map(Duration::from_secs).unwrap_or(DEFAULT_TURN_TIMEOUT)
            });
        let (agent_id, store) = self.store_for(&config, key);
        let workspace = config.workspace_for(&agent_id);
        self.seed_once(&workspace, config.agents.defaults.skip_bootstrap);

        let fail = |m: String| Outcome::Error(m);
        let entry = match store.ensure(key, now_ms()) {
            Ok(e) => e,
            Err(e) => return fail(format!("cannot open the session: {e}")),
        };
        let sid = entry.session_id.clone();
        let mut history = match store.load(&sid) {
            Ok(loaded) => {
                if loaded.dropped_tail {
                    log::warn!("session {key}: the transcript's torn last line was dropped");
                }
                to_messages(&loaded.entries)
            }
            Err(e) => return fail(format!("cannot read the session transcript: {e}")),
        };
        let mut staged_sandbox: Option<(Manager, Sandbox)> = None;
        let message = if run.media.is_empty() {
            message.to_string()
        } else {
            let main = keys::main_session_key(&config, &agent_id);
            let shown: Vec<String> = if keys::is_sandboxed(config.sandbox_for(&agent_id).mode, key, &main) {
                // Reference §3.9: copied into the sandbox workspace, named relative to it.
                match self.ensure_sandbox(&config, key, &agent_id) {
                    Ok((m, sb)) => {
                        let paths = stage_media(&sb.workspace_dir, &self.media_dir(), &run.media, MEDIA_MAX_BYTES);
                        staged_sandbox = Some((m, sb));
                        paths
                    }
                    Err(e) => {
                        log::warn!("session {key}: attachments not staged: {e}");
                        Vec::new()
                    }
                }
            } else {
                run.media.iter().map(|p| p.display().to_string()).collect()
            };
            if shown.is_empty() {
                message.to_string()
            } else {
                format!("{message}\n\n[media attached: {}]", shown.join(", "))
            }
        };
        let message = message.as_str();
        let user = json!({"role": "user", "content": [{"type": "text", "text": message}], "timestamp": now_ms()});
        if let Err(e) = store.append_message(&sid, user) {
            return fail(format!("cannot save the message: {e}"));
        }
        history.push(Message::user(message));

        let plan = models::plan(&config, &env, &agent_id);
        if plan.endpoints.is_empty() {
            let text = if plan.problems.is_empty() {
                models::not_configured_message()
            } else {
                format!("No usable model: {}", plan.problems.join("; "))
            };
            append_error(&store, &sid, &text);
            return fail(text);
        }
        for p in &plan.problems {
            log::warn!("agent {agent_id}: {p}");
        }
        let effective = policy::resolve(&config, &agent_id, &plan.endpoints[0].provider, key);
        let offered = effective.offered();
        let specs: Vec<ToolSpec> = offered.iter().filter_map(|t| tools::spec(t)).collect();
        let sandbox_cfg = config.sandbox_for(&agent_id);
        let sandboxed = effective.sandboxed();
        let shown = if sandboxed { sandbox_cfg.docker.workdir.clone() } else { workspace.display().to_string() };
        let facts = bootstrap::PromptFacts {
            agent_id: &agent_id,
            session_key: key,
            workspace_shown: &shown,
            sandboxed,
            read_only: sandboxed && sandbox_cfg.workspace_access == WorkspaceAccess::Ro,
            tools: &offered,
            now_iso: &sessions::iso(now_ms()),
        };
        let system = bootstrap::system_prompt(&workspace, &facts);
        let mut cx = ToolCx {
            config: &config,
            env: &env,
            agent_id: &agent_id,
            session_key: key,
            policy: &effective,
            workspace,
            sandbox: staged_sandbox.as_ref().map(|(_, sb)| sb.clone()),
            manager: staged_sandbox.map(|(m, _)| m),
            depth,
        };

        let mut usage = Usage::default();
        let mut endpoint_at = 0usize;
        for _step in 0..MAX_STEPS {
            if run.abort.load(Ordering::SeqCst) {
                return Outcome::Aborted;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                let text = "The turn took longer than its deadline (agents.defaults.timeoutSeconds) and was stopped.".to_string();
                append_error(&store, &sid, &text);
                return fail(text);
            };
            let mut partial = String::new();
            let req = provider::Request { system: &system, messages: &history, tools: &specs, max_tokens: 0 };
            let t0 = Instant::now();
            let result = loop {
                let ep: &Endpoint = &plan.endpoints[endpoint_at];
                let limits = provider::Limits { deadline: left.saturating_sub(t0.elapsed()), ..provider::Limits::default() };
                let mut delivered = false;
                let r = provider::stream(ep, &req, &limits, &run.abort, &mut |ev| {
                    if let provider::Event::TextDelta(t) = ev {
                        delivered = true;
                        partial.push_str(t);
                        sink(run, Event::Delta(t.clone()));
                    }
                });
                match r {
                    Err(e) if !delivered && e.should_fall_back() && endpoint_at + 1 < plan.endpoints.len() => {
                        log::warn!(
                            "agent {agent_id}: {}/{} failed ({e}); falling back to {}/{}",
                            ep.provider,
                            ep.model,
                            plan.endpoints[endpoint_at + 1].provider,
                            plan.endpoints[endpoint_at + 1].model
                        );
                        endpoint_at += 1;
                    }
                    other => break other,
                }
            };
            self.timing.model_us.fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
            let ep = &plan.endpoints[endpoint_at];
            let reply = match result {
                Ok(r) => r,
                Err(provider::Error::Aborted) => {
                    if !partial.is_empty() {
                        let m = assistant_json(ep, &partial, &[], Usage::default(), "aborted", None);
                        let _ = store.append_message(&sid, m);
                    }
                    return Outcome::Aborted;
                }
                Err(e) => {
                    let text = format!("{}/{}: {e}", ep.provider, ep.model);
                    append_error(&store, &sid, &text);
                    return fail(text);
                }
            };
            usage.input += reply.input_tokens;
            usage.output += reply.output_tokens;
            let stop = if reply.tool_calls.is_empty() { "stop" } else { "toolUse" };
            let step_usage = Usage { input: reply.input_tokens, output: reply.output_tokens };
            let m = assistant_json(ep, &reply.text, &reply.tool_calls, step_usage, stop, None);
            if let Err(e) = store.append_message(&sid, m) {
                return fail(format!("cannot save the reply: {e}"));
            }
            history.push(Message::assistant(reply.text.clone(), reply.tool_calls.clone()));
            if reply.tool_calls.is_empty() {
                // The reply is durable in the transcript: answer first, then
                // update the session's metadata (still under its lock).
                sink(run, Event::Final { text: reply.text.clone(), usage, stop_reason: "stop".to_string() });
                if let Err(e) = store.touch(key, now_ms(), usage) {
                    log::warn!("session {key}: cannot update sessions.json: {e}");
                }
                return Outcome::Final { text: reply.text, usage };
            }
            for call in &reply.tool_calls {
                let output = if run.abort.load(Ordering::SeqCst) {
                    ToolOutput::error("Tool call skipped: the turn was aborted.")
                } else {
                    sink(run, Event::ToolStart { id: call.id.clone(), name: call.name.clone(), args: call.arguments.clone() });
                    let t1 = Instant::now();
                    let out = self.call_tool(&mut cx, run, &call.name, &call.arguments);
                    self.timing.tool_us.fetch_add(t1.elapsed().as_micros() as u64, Ordering::Relaxed);
                    let out = cap_output(out);
                    sink(run, Event::ToolResult { id: call.id.clone(), name: call.name.clone(), output: out.clone() });
                    out
                };
                let m = json!({"role": "toolResult", "toolCallId": call.id, "toolName": call.name,
                    "content": [{"type": "text", "text": output.text}], "isError": output.is_error, "timestamp": now_ms()});
                if let Err(e) = store.append_message(&sid, m) {
                    return fail(format!("cannot save a tool result: {e}"));
                }
                history.push(Message::tool_result(call.id.clone(), output.text, output.is_error));
            }
        }
        let text = format!("The agent stopped after {MAX_STEPS} model calls without a final answer.");
        append_error(&store, &sid, &text);
        fail(text)
    }

    fn seed_once(&self, workspace: &Path, skip: bool) {
        let mut seeded = self.seeded.lock().unwrap_or_else(|e| e.into_inner());
        if seeded.contains(workspace) {
            return;
        }
        match bootstrap::seed(workspace, skip) {
            Ok(files) if !files.is_empty() => log::info!("workspace {}: created {}", workspace.display(), files.join(", ")),
            Ok(_) => {}
            Err(e) => log::warn!("workspace {}: cannot seed the bootstrap files: {e}", workspace.display()),
        }
        seeded.insert(workspace.to_path_buf());
    }

    /// One tool call through the policy.
    fn call_tool(self: &Arc<Self>, cx: &mut ToolCx<'_>, run: &Run, name: &str, args: &Value) -> ToolOutput {
        let name = crate::sandbox::policy::normalize_tool_name(name);
        if let Err(message) = cx.policy.check(&name) {
            return ToolOutput::error(message);
        }
        match name.as_str() {
            "exec" => {
                let target = match self.exec_target(cx) {
                    Ok(t) => t,
                    Err(e) => return ToolOutput::error(e),
                };
                let settings = exec::Settings::from_config(&cx.config.tools.exec);
                exec::tool(&self.processes, cx.agent_id, target, &settings, args, &run.abort)
            }
            "process" => process::tool(&self.processes, cx.agent_id, args),
            "read" | "write" | "edit" | "apply_patch" => self.with_root(cx, |root| {
                if name == "apply_patch" { patch::tool(root, args) } else { tools::file_tool(&name, root, args) }
            }),
            "sessions_list" => self.sessions_list(cx, args),
            "sessions_history" => self.sessions_history(cx, args),
            "sessions_send" => self.sessions_send(cx, args),
            "sessions_spawn" => self.sessions_spawn(cx, args),
            "session_status" => self.session_status(cx, args),
            other => ToolOutput::error(format!("Tool \"{other}\" not found.")),
        }
    }

    /// The session's sandbox, ensured on first use within the turn.
    fn sandbox(&self, cx: &mut ToolCx<'_>) -> Result<(Manager, Sandbox), String> {
        if let (Some(m), Some(s)) = (&cx.manager, &cx.sandbox) {
            return Ok((m.clone(), s.clone()));
        }
        let (manager, sandbox) = self.ensure_sandbox(cx.config, cx.session_key, cx.agent_id)?;
        cx.manager = Some(manager.clone());
        cx.sandbox = Some(sandbox.clone());
        Ok((manager, sandbox))
    }

    fn ensure_sandbox(&self, config: &Config, session_key: &str, agent_id: &str) -> Result<(Manager, Sandbox), String> {
        let Some(docker) = self.docker.clone() else {
            return Err(format!(
                "This session runs its tools in a Docker sandbox (agents.defaults.sandbox.mode={}), but the Docker \
                 Engine is not reachable. Start Docker (or set DOCKER_HOST), or set agents.defaults.sandbox.mode=off.",
                config.sandbox_for(agent_id).mode.as_str()
            ));
        };
        let manager = Manager::new(docker, self.paths.clone());
        let sandbox = manager.ensure(config, session_key).map_err(|e| format!("Sandbox unavailable: {e}"))?;
        Ok((manager, sandbox))
    }

    fn exec_target(&self, cx: &mut ToolCx<'_>) -> Result<exec::Target, String> {
        if cx.policy.sandboxed() {
            let (manager, sandbox) = self.sandbox(cx)?;
            return Ok(exec::Target::Sandbox { manager, sandbox, state_dir: self.paths.state_dir.clone() });
        }
        let env: BTreeMap<String, String> = cx.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(exec::Target::Host { workdir: cx.workspace.clone(), env })
    }

    fn with_root(&self, cx: &mut ToolCx<'_>, f: impl FnOnce(&Root) -> ToolOutput) -> ToolOutput {
        if cx.policy.sandboxed() {
            let (manager, sandbox) = match self.sandbox(cx) {
                Ok(s) => s,
                Err(e) => return ToolOutput::error(e),
            };
            return match manager.files(&sandbox) {
                Ok(files) => f(&files.root),
                Err(e) => ToolOutput::error(e.to_string()),
            };
        }
        match Root::open(&cx.workspace, workspace::Access::ReadWrite, None) {
            Ok(root) => f(&root),
            Err(e) => ToolOutput::error(e.to_string()),
        }
    }

    // -- session tools ----------------------------------------------------

    /// A session key argument of the same agent (another agent's sessions are off limits).
    fn own_key(&self, cx: &ToolCx<'_>, args: &Value) -> Result<String, ToolOutput> {
        let Some(key) = tools::str_arg(args, &["sessionKey", "key"]).map(str::trim).filter(|k| !k.is_empty()) else {
            return Err(ToolOutput::error("\"sessionKey\" is required (a string)"));
        };
        let key = if key == "main" { keys::main_session_key(cx.config, cx.agent_id) } else { key.to_string() };
        if let Err(e) = sessions::check_key(&key) {
            return Err(ToolOutput::error(format!("invalid sessionKey: {e}")));
        }
        let owner = keys::agent_id_from_session_key(&key, &cx.config.default_agent_id());
        if owner != cx.agent_id {
            return Err(ToolOutput::error(format!(
                "session {key} belongs to agent \"{owner}\"; this agent (\"{}\") can only reach its own sessions",
                cx.agent_id
            )));
        }
        Ok(key)
    }

    fn sessions_list(&self, cx: &ToolCx<'_>, args: &Value) -> ToolOutput {
        let list = match Store::new(&self.paths.state_dir, cx.agent_id).list() {
            Ok(l) => l,
            Err(e) => return ToolOutput::error(e.to_string()),
        };
        let limit = tools::uint_arg(args, "limit").unwrap_or(50).clamp(1, 500) as usize;
        let active = tools::uint_arg(args, "activeMinutes").map(|m| now_ms().saturating_sub(m * 60_000));
        let kinds: Vec<&str> = args.get("kinds").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let main = keys::main_session_key(cx.config, cx.agent_id);
        let rows: Vec<Value> = list
            .into_iter()
            .filter(|(_, e)| active.is_none_or(|since| e.updated_at >= since))
            .filter(|(k, _)| kinds.is_empty() || kinds.contains(&session_kind(k, &main)))
            .take(limit)
            .map(|(k, e)| json!({"key": k, "kind": session_kind(&k, &main), "sessionId": e.session_id,
                "updatedAt": e.updated_at, "chatType": e.chat_type, "totalTokens": e.total_tokens}))
            .collect();
        ToolOutput::ok(pretty(&json!({"count": rows.len(), "sessions": rows})))
    }

    fn sessions_history(&self, cx: &ToolCx<'_>, args: &Value) -> ToolOutput {
        let key = match self.own_key(cx, args) {
            Ok(k) => k,
            Err(e) => return e,
        };
        let limit = tools::uint_arg(args, "limit").unwrap_or(20).clamp(1, 200) as usize;
        let include_tools = args.get("includeTools").and_then(Value::as_bool).unwrap_or(false);
        match self.history(&key, if include_tools { limit } else { limit * 4 }) {
            Ok((_, messages)) => {
                let mut shown: Vec<Value> = messages
                    .into_iter()
                    .filter(|m| include_tools || m.get("role").and_then(Value::as_str) != Some("toolResult"))
                    .map(|m| brief_message(&m, include_tools))
                    .collect();
                let skip = shown.len().saturating_sub(limit);
                shown.drain(..skip);
                ToolOutput::ok(pretty(&json!({"sessionKey": key, "messages": shown})))
            }
            Err(e) => ToolOutput::error(e),
        }
    }

    fn sessions_send(self: &Arc<Self>, cx: &ToolCx<'_>, args: &Value) -> ToolOutput {
        let key = match self.own_key(cx, args) {
            Ok(k) => k,
            Err(e) => return e,
        };
        if key == cx.session_key {
            return ToolOutput::error("sessions_send: that is this session; send to a different session key");
        }
        if cx.depth >= 2 {
            return ToolOutput::error("sessions_send: too many nested session messages (at most 2 levels)");
        }
        let Some(message) = tools::str_arg(args, &["message", "text"]).filter(|m| !m.trim().is_empty()) else {
            return ToolOutput::error("sessions_send: \"message\" is required (a string)");
        };
        let wait = tools::uint_arg(args, "timeoutSeconds").unwrap_or(120).min(600);
        let (run_id, rx) = match self.start_nested(&key, message, cx.depth + 1) {
            Ok(x) => x,
            Err(e) => return ToolOutput::error(format!("sessions_send: cannot start the turn: {e}")),
        };
        if wait == 0 {
            return ToolOutput::ok(pretty(&json!({"status": "accepted", "runId": run_id, "sessionKey": key})));
        }
        match rx.recv_timeout(Duration::from_secs(wait)) {
            Ok(Outcome::Final { text, .. }) => ToolOutput::ok(pretty(&json!({"status": "ok", "runId": run_id, "sessionKey": key, "reply": text}))),
            Ok(Outcome::Error(e)) => ToolOutput::error(format!("sessions_send: the session's turn failed: {e}")),
            Ok(Outcome::Aborted) => ToolOutput::error("sessions_send: the session's turn was aborted"),
            Err(_) => ToolOutput::ok(pretty(&json!({"status": "timeout", "runId": run_id, "sessionKey": key,
                "note": format!("no reply within {wait} s; the turn keeps running")}))),
        }
    }

    fn sessions_spawn(self: &Arc<Self>, cx: &ToolCx<'_>, args: &Value) -> ToolOutput {
        let Some(task) = tools::str_arg(args, &["task"]).filter(|t| !t.trim().is_empty()) else {
            return ToolOutput::error("sessions_spawn: \"task\" is required (a string)");
        };
        if cx.depth >= 2 {
            return ToolOutput::error("sessions_spawn: sub-agents cannot spawn further sub-agents here");
        }
        let agent = tools::str_arg(args, &["agentId"]).map(crate::config::model::normalize_agent_id);
        let agent = agent.unwrap_or_else(|| cx.agent_id.to_string());
        if agent != cx.agent_id && cx.config.agent(&agent).is_none() {
            return ToolOutput::error(format!("sessions_spawn: unknown agent \"{agent}\" (see agents.list)"));
        }
        let uuid = match crate::crypto::uuid_v4() {
            Ok(u) => u,
            Err(e) => return ToolOutput::error(format!("sessions_spawn: {e}")),
        };
        let child = format!("agent:{agent}:subagent:{uuid}");
        let run_id = match self.start_nested(&child, task, cx.depth + 1) {
            Ok((run_id, _)) => run_id,
            Err(e) => return ToolOutput::error(format!("sessions_spawn: cannot start the sub-agent: {e}")),
        };
        let label = tools::str_arg(args, &["label"]).unwrap_or("");
        ToolOutput::ok(pretty(&json!({"status": "accepted", "runId": run_id, "childSessionKey": child, "label": label})))
    }

    /// Starts a turn of `session_key` from a session tool, on its own thread;
    /// its outcome arrives on the receiver (and is logged).
    fn start_nested(
        self: &Arc<Self>,
        session_key: &str,
        message: &str,
        depth: usize,
    ) -> Result<(String, std::sync::mpsc::Receiver<Outcome>), String> {
        let run = self.new_run(session_key).map_err(|e| e.to_string())?;
        let run_id = run.run_id.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let rt = Arc::clone(self);
        let message = message.to_string();
        let spawned = std::thread::Builder::new().name("agent-nested".into()).spawn(move || {
            let outcome = rt.turn(&run, &message, None, &|_, _| {}, depth);
            rt.runs.lock().unwrap_or_else(|e| e.into_inner()).remove(&run.run_id);
            log::info!("nested turn in {} finished: {}", run.session_key, short(&outcome.text(), 200));
            let _ = tx.send(outcome);
        });
        if let Err(e) = spawned {
            self.runs.lock().unwrap_or_else(|e| e.into_inner()).remove(&run_id);
            return Err(e.to_string());
        }
        Ok((run_id, rx))
    }

    fn session_status(&self, cx: &ToolCx<'_>, args: &Value) -> ToolOutput {
        let key = if args.get("sessionKey").is_some() {
            match self.own_key(cx, args) {
                Ok(k) => k,
                Err(e) => return e,
            }
        } else {
            cx.session_key.to_string()
        };
        let (_, store) = self.store_for(cx.config, &key);
        let entry = match store.entry(&key) {
            Ok(e) => e,
            Err(e) => return ToolOutput::error(e.to_string()),
        };
        let refs = models::refs_for(cx.config, cx.env, cx.agent_id);
        let mode = cx.config.sandbox_for(cx.agent_id).mode;
        let main = keys::main_session_key(cx.config, cx.agent_id);
        let mut lines = vec![format!("Session: {key}"), format!("Agent: {}", cx.agent_id)];
        lines.push(format!("Model: {}", refs.first().map(String::as_str).unwrap_or("(none configured)")));
        match entry {
            Some(e) => {
                lines.push(format!("Session id: {}", e.session_id));
                lines.push(format!("Updated: {}", sessions::iso(e.updated_at)));
                lines.push(format!("Tokens: {} in / {} out ({} total)", e.input_tokens, e.output_tokens, e.total_tokens));
            }
            None => lines.push("No messages yet.".to_string()),
        }
        let sandboxed = keys::is_sandboxed(mode, &key, &main);
        lines.push(format!("Sandbox: {} (mode={})", if sandboxed { "yes" } else { "no" }, mode.as_str()));
        if let Some(run) = self.active_run(&key) {
            lines.push(format!("Running: {run}"));
        }
        ToolOutput::ok(lines.join("\n"))
    }

    /// `POST /tools/invoke`: one tool call outside a model turn, through the
    /// same policy as a turn of `session_key` (the provider stage uses the
    /// agent's primary model's provider).
    pub fn invoke_tool(self: &Arc<Self>, session_key: &str, tool: &str, args: &Value) -> Result<ToolOutput, String> {
        let (config, env) = self.snapshot();
        let agent_id = keys::agent_id_from_session_key(session_key, &config.default_agent_id());
        let provider = models::refs_for(&config, &env, &agent_id).first().map(|r| models::split_ref(r).0).unwrap_or_default();
        let effective = policy::resolve(&config, &agent_id, &provider, session_key);
        let name = crate::sandbox::policy::normalize_tool_name(tool);
        effective.check(&name)?;
        let workspace = config.workspace_for(&agent_id);
        self.seed_once(&workspace, config.agents.defaults.skip_bootstrap);
        let mut cx = ToolCx {
            config: &config,
            env: &env,
            agent_id: &agent_id,
            session_key,
            policy: &effective,
            workspace,
            sandbox: None,
            manager: None,
            depth: 1,
        };
        let run = self.new_run(session_key).map_err(|e| e.to_string())?;
        let out = self.call_tool(&mut cx, &run, &name, args);
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).remove(&run.run_id);
        Ok(cap_output(out))
    }
}

// ---------------------------------------------------------------------------
// Transcript ⇄ model messages.

/// The transcript's messages as model messages; tool calls without a recorded
/// result get an "interrupted" one, failed turns' error notes are left out,
/// and the oldest messages beyond [`MAX_HISTORY_MESSAGES`] are dropped at a
/// user message boundary.
pub fn to_messages(entries: &[Value]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    let mut open: Vec<(String, bool)> = Vec::new(); // pending tool call ids, answered?
    let close_open = |out: &mut Vec<Message>, open: &mut Vec<(String, bool)>| {
        for (id, answered) in open.drain(..) {
            if !answered {
                out.push(Message::tool_result(id, INTERRUPTED, true));
            }
        }
    };
    for e in entries {
        if e.get("type").and_then(Value::as_str) != Some("message") {
            continue;
        }
        let Some(m) = e.get("message") else { continue };
        let text = text_of(m);
        match m.get("role").and_then(Value::as_str) {
            Some("user") => {
                close_open(&mut out, &mut open);
                out.push(Message::user(text));
            }
            Some("assistant") => {
                close_open(&mut out, &mut open);
                if m.get("stopReason").and_then(Value::as_str) == Some("error") {
                    continue;
                }
                let calls: Vec<ToolCall> = m
                    .get("content")
                    .and_then(Value::as_array)
                    .map(|blocks| {
                        blocks
                            .iter()
                            .filter(|b| b.get("type").and_then(Value::as_str) == Some("toolCall"))
                            .filter_map(|b| {
                                Some(ToolCall {
                                    id: b.get("id")?.as_str()?.to_string(),
                                    name: b.get("name")?.as_str()?.to_string(),
                                    arguments: b.get("arguments").cloned().unwrap_or_else(|| json!({})),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if text.is_empty() && calls.is_empty() {
                    continue;
                }
                open = calls.iter().map(|c| (c.id.clone(), false)).collect();
                out.push(Message::assistant(text, calls));
            }
            Some("toolResult") => {
                let id = m.get("toolCallId").and_then(Value::as_str).unwrap_or_default();
                let Some(slot) = open.iter_mut().find(|(o, answered)| o == id && !answered) else { continue };
                slot.1 = true;
                let is_error = m.get("isError").and_then(Value::as_bool).unwrap_or(false);
                out.push(Message::tool_result(id, text, is_error));
            }
            _ => {}
        }
    }
    close_open(&mut out, &mut open);
    if out.len() > MAX_HISTORY_MESSAGES {
        let mut cut = out.len() - MAX_HISTORY_MESSAGES;
        while cut < out.len() && out[cut].role != Role::User {
            cut += 1;
        }
        out.drain(..cut);
    }
    out
}

/// The text blocks of a transcript message, joined.
fn text_of(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn assistant_json(ep: &Endpoint, text: &str, calls: &[ToolCall], usage: Usage, stop: &str, error: Option<&str>) -> Value {
    let mut content: Vec<Value> = Vec::new();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    content.extend(calls.iter().map(|c| json!({"type": "toolCall", "id": c.id, "name": c.name, "arguments": c.arguments})));
    let mut m = json!({"role": "assistant", "content": content, "api": ep.api.as_str(), "provider": ep.provider,
        "model": ep.model, "usage": {"input": usage.input, "output": usage.output, "totalTokens": usage.input + usage.output},
        "stopReason": stop, "timestamp": now_ms()});
    if let Some(e) = error {
        m["errorMessage"] = json!(e);
    }
    m
}

/// Records a failed turn in the transcript (shown in the history, never sent to a model).
fn append_error(store: &Store, sid: &str, text: &str) {
    let m = json!({"role": "assistant", "content": [{"type": "text", "text": text}], "stopReason": "error",
        "errorMessage": text, "timestamp": now_ms()});
    if let Err(e) = store.append_message(sid, m) {
        log::warn!("cannot record a failed turn in session {sid}: {e}");
    }
}

fn cap_output(mut out: ToolOutput) -> ToolOutput {
    if out.text.len() > MAX_TOOL_RESULT_BYTES {
        let mut at = MAX_TOOL_RESULT_BYTES;
        while !out.text.is_char_boundary(at) {
            at -= 1;
        }
        let total = out.text.len();
        out.text.truncate(at);
        out.text.push_str(&format!("\n[output truncated: {total} bytes, the first {at} shown]"));
    }
    out
}

fn session_kind(key: &str, main: &str) -> &'static str {
    if key == main {
        "main"
    } else if key.starts_with("cron:") || key.contains(":cron:") {
        "cron"
    } else if key.starts_with("hook:") || key.contains(":hook:") {
        "hook"
    } else if key.contains(":group:") || key.contains(":channel:") {
        "group"
    } else if key.contains(":node:") {
        "node"
    } else {
        "other"
    }
}

/// A message for `sessions_history`: role, text (cut), tool calls by name.
fn brief_message(m: &Value, include_tools: bool) -> Value {
    let mut v = json!({"role": m.get("role").cloned().unwrap_or(Value::Null), "text": short(&text_of(m), 4000)});
    if include_tools {
        if let Some(calls) = m.get("content").and_then(Value::as_array) {
            let names: Vec<&str> = calls
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("toolCall"))
                .filter_map(|b| b.get("name").and_then(Value::as_str))
                .collect();
            if !names.is_empty() {
                v["toolCalls"] = json!(names);
            }
        }
        if let Some(n) = m.get("toolName") {
            v["toolName"] = n.clone();
        }
    }
    v
}


fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}



/// Copies inbound media of a sandboxed session into its sandbox workspace
/// (reference §3.9): each file that lies inside `media_dir` is copied (at most
/// `max_bytes`) to `media/inbound/<stem>-<8 hex><ext>` and its new relative path
/// returned in place of the old one; other paths are dropped with a warning.
pub fn stage_media(sandbox_workspace: &Path, media_dir: &Path, files: &[PathBuf], max_bytes: u64) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(media_root) = media_dir.canonicalize() else { return out };
    let dest_dir = sandbox_workspace.join("media").join("inbound");
    for f in files {
        let Ok(real) = f.canonicalize() else {
            log::warn!("inbound media {}: not found; skipped", f.display());
            continue;
        };
        if !real.starts_with(&media_root) {
            log::warn!("inbound media {}: outside {}; skipped", f.display(), media_dir.display());
            continue;
        }
        let Ok(meta) = std::fs::metadata(&real) else { continue };
        if !meta.is_file() || meta.len() > max_bytes {
            log::warn!("inbound media {}: not a file or larger than {max_bytes} bytes; skipped", f.display());
            continue;
        }
        let stem: String = real
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("file")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .take(64)
            .collect();
        let ext: String = real.extension().and_then(|e| e.to_str()).map(|e| format!(".{e}")).unwrap_or_default();
        let ext: String = ext.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').take(16).collect();
        let nonce = crate::crypto::random_hex_token(4).unwrap_or_else(|_| "00000000".into());
        // What we create belongs to the workspace's owner (the sandbox user).
        let owner = std::fs::metadata(sandbox_workspace).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.uid(), m.gid())
        });
        let give = |p: &Path| -> std::io::Result<()> {
            match owner {
                Some((u, g)) => std::os::unix::fs::chown(p, Some(u), Some(g)),
                None => Ok(()),
            }
        };
        if let Err(e) = crate::fsutil::ensure_private_dir(&dest_dir).and_then(|()| {
            give(&sandbox_workspace.join("media"))?;
            give(&dest_dir)?;
            let mut name = format!("{stem}-{nonce}{ext}");
            let mut n = 1;
            while dest_dir.join(&name).exists() {
                name = format!("{stem}-{nonce}-{n}{ext}");
                n += 1;
            }
            let bytes = std::fs::read(&real)?;
            crate::fsutil::write_atomic(&dest_dir.join(&name), &bytes)?;
            give(&dest_dir.join(&name))?;
            out.push(format!("media/inbound/{name}"));
            Ok(())
        }) {
            log::warn!("inbound media {}: cannot copy into the sandbox workspace: {e}", f.display());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(m: Value) -> Value {
        json!({"type": "message", "id": "x", "message": m})
    }

    #[test]
    fn history_repairs_interrupted_tool_calls_and_skips_errors() {
        let entries = vec![
            msg(json!({"role": "user", "content": [{"type": "text", "text": "hi"}]})),
            msg(json!({"role": "assistant", "content": [{"type": "toolCall", "id": "c1", "name": "exec", "arguments": {"command": "ls"}}]})),
            // crash here: no tool result
            msg(json!({"role": "user", "content": [{"type": "text", "text": "again"}]})),
            msg(json!({"role": "assistant", "content": [{"type": "text", "text": "boom"}], "stopReason": "error"})),
            msg(json!({"role": "toolResult", "toolCallId": "zz", "content": [{"type": "text", "text": "stray"}]})),
        ];
        let m = to_messages(&entries);
        assert_eq!(m.len(), 4, "{m:?}");
        assert_eq!(m[2].role, Role::Tool);
        assert!(m[2].is_error && m[2].text.contains("interrupted"));
        assert_eq!(m[3].text, "again");
    }

    #[test]
    fn history_is_bounded_at_a_user_boundary() {
        let mut entries = Vec::new();
        for i in 0..(MAX_HISTORY_MESSAGES + 10) {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            entries.push(msg(json!({"role": role, "content": [{"type": "text", "text": format!("m{i}")}]})));
        }
        let m = to_messages(&entries);
        assert!(m.len() <= MAX_HISTORY_MESSAGES);
        assert_eq!(m[0].role, Role::User);
    }

    #[test]
    fn media_is_staged_only_from_the_media_dir() {
        let base = std::env::temp_dir().join(format!("openclaw-media-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let media = base.join("media");
        std::fs::create_dir_all(&media).unwrap();
        std::fs::write(media.join("photo one.jpg"), b"jpg").unwrap();
        std::fs::write(base.join("secret.txt"), b"no").unwrap();
        let ws = base.join("ws");
        let got = stage_media(&ws, &media, &[media.join("photo one.jpg"), base.join("secret.txt"), media.join("../secret.txt")], 1024);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("media/inbound/photo_one-") && got[0].ends_with(".jpg"));
        assert_eq!(std::fs::read(ws.join(&got[0])).unwrap(), b"jpg");
        let _ = std::fs::remove_dir_all(&base);
    }
}
