//! The gateway: HTTP and WebSocket on one port, token auth, device pairing,
//! the RPC methods and the embedded Control UI.
//!
//! Threads: the caller's thread waits for SIGTERM/SIGINT; `gateway-accept`
//! accepts connections and gives each its own named thread (`http-<n>`, which
//! also runs the WebSocket after an upgrade) within a global and a per-IP cap;
//! `config-watch` reloads `openclaw.json` when it changes; `tick` sends the
//! `tick` event and pings; the sandbox prune thread (`prune.rs`) runs
//! when Docker answers. Shared state lives in [`Gateway`]; the config is an
//! `Arc` swapped whole on reload, so a request sees one consistent config.

pub mod ws;
pub mod http;
pub mod devices;
pub mod ratelimit;
pub mod startup;
pub mod logbuf;
pub mod ui;
pub mod client;
pub mod callback;
mod server;
mod session;
mod methods;
mod chat;
mod api;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::config::model::{AuthMode, Bind, Config};
use crate::config::{self, Loaded};
use crate::docker::Docker;
use crate::paths::{Env, Paths};
use startup::{Auth, AuthPlan, Opts};

pub const PROTOCOL_VERSION: u64 = 3;

/// Timeouts and caps. Tests shorten them through `OPENCLAW_GATEWAY_TEST_*`
/// variables (documented in ARCHITECTURE.md); users have no reason to.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub handshake: Duration,
    pub idle: Duration,
    pub tick: Duration,
    pub max_connections: usize,
    pub max_per_ip: usize,
    pub max_payload: usize,
    pub reload_poll: Duration,
}

impl Tuning {
    fn from_env(env: &Env) -> Tuning {
        let ms = |k: &str, d: u64| Duration::from_millis(env.get(k).and_then(|v| v.parse().ok()).unwrap_or(d));
        let n = |k: &str, d: usize| env.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
        Tuning {
            handshake: ms("OPENCLAW_GATEWAY_TEST_HANDSHAKE_MS", 10_000),
            idle: ms("OPENCLAW_GATEWAY_TEST_IDLE_MS", 90_000),
            tick: ms("OPENCLAW_GATEWAY_TEST_TICK_MS", 30_000),
            max_connections: n("OPENCLAW_GATEWAY_MAX_CONNECTIONS", 1024),
            max_per_ip: n("OPENCLAW_GATEWAY_MAX_CONNECTIONS_PER_IP", 128),
            max_payload: 512 * 1024,
            reload_poll: ms("OPENCLAW_GATEWAY_TEST_RELOAD_MS", 1000),
        }
    }
}

/// What the current config says, swapped whole on reload.
pub struct Live {
    pub config: Arc<Config>,
    /// The environment the config was loaded with (process env + `.env`).
    pub env: Env,
    pub auth: Auth,
    pub exists: bool,
    stamp: Option<Stamp>,
}

#[derive(Debug, Clone, PartialEq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    ino: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| Stamp { modified: m.modified().ok(), len: m.len(), ino: m.ino() })
}

/// One open WebSocket, as the rest of the gateway sees it.
pub struct Peer {
    pub id: u64,
    pub ip: IpAddr,
    pub client_id: String,
    pub client_mode: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub device_id: Option<String>,
    /// SHA-256 of the shared secret this socket authenticated with; a
    /// reload that changes the secret closes it.
    pub shared_auth: Option<[u8; 32]>,
    pub connected_ms: u64,
    writer: Mutex<TcpStream>,
    closed: AtomicBool,
}

impl Peer {
    /// Sends one text frame.
    pub fn send(&self, text: &str) -> bool {
        self.send_frame(&ws::Message::Text(text.to_string()))
    }

    /// Sends one frame; on failure the socket is shut down (a stuck reader
    /// must not hold a broadcaster).
    pub fn send_frame(&self, msg: &ws::Message) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let frame = ws::encode_message(ws::Role::Server, msg);
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if w.write_all(&frame).is_err() {
            self.closed.store(true, Ordering::Relaxed);
            let _ = w.shutdown(Shutdown::Both);
            return false;
        }
        true
    }

    /// Sends a close frame and shuts the socket down, which ends its reader.
    pub fn close(&self, code: u16, reason: &str) {
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        let frame = ws::encode_message(ws::Role::Server, &ws::Message::Close(Some((code, reason.to_string()))));
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let _ = w.write_all(&frame);
        let _ = w.shutdown(Shutdown::Both);
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        has_scope(&self.scopes, scope)
    }
}

/// `operator.admin` implies every scope; `operator.write` implies read.
pub fn has_scope(scopes: &[String], scope: &str) -> bool {
    scopes.iter().any(|s| s == scope || s == "operator.admin" || (scope == "operator.read" && s == "operator.write"))
}

pub struct Gateway {
    pub paths: Paths,
    /// The process environment (the config's `.env` files are added per load).
    pub env: Env,
    pub cwd: Option<PathBuf>,
    pub opts: Opts,
    pub port: u16,
    pub bind: Bind,
    pub local_addr: SocketAddr,
    pub started: Instant,
    pub started_ms: u64,
    pub tuning: Tuning,
    live: RwLock<Arc<Live>>,
    pub limiter: ratelimit::AuthLimiter,
    pub devices: devices::Store,
    peers: Mutex<BTreeMap<u64, Arc<Peer>>>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
    next_id: AtomicU64,
    seq: AtomicU64,
    pub shutting_down: AtomicBool,
    pub docker: Option<Docker>,
    /// The agent runtime: turns, their events, background commands.
    pub agent: Arc<crate::agent::runtime::Runtime>,
    /// The chat channels (Telegram, Discord bots) feeding the agent.
    pub channels: crate::channels::Manager,
    pub idempotency: chat::Idempotency,
}

pub use crate::now_ms;

#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

fn rate_policy(config: &Config) -> ratelimit::Policy {
    let r = config.gateway.auth.rate_limit;
    ratelimit::Policy {
        max_attempts: r.max_attempts,
        window: Duration::from_millis(r.window_ms),
        lockout: Duration::from_millis(r.lockout_ms),
    }
}

/// `openclaw gateway`: checks, binds, serves until SIGTERM/SIGINT.
pub fn run(opts: Opts, paths: Paths, env: Env, cwd: Option<PathBuf>) -> Result<(), StartError> {
    // Before any thread exists, so every thread inherits the mask.
    let signals = crate::sys::block_termination().map_err(|e| StartError(format!("cannot set up signal handling: {e}")))?;
    let fail = |m: String| StartError(m);

    let loaded = config::load(&paths, &env, cwd.as_deref()).map_err(|e| fail(e.to_string()))?;
    for w in &loaded.warnings {
        log::warn!("{}", w.render(&paths.config_path));
    }
    startup::mode_guard(loaded.exists, &loaded.config, opts.allow_unconfigured).map_err(fail)?;
    let port = startup::port(&opts, &env, &loaded.config).map_err(fail)?;
    let bind = startup::bind(&opts, &loaded.config).map_err(fail)?;
    let fib = std::fs::read_to_string("/proc/net/fib_trie").ok();
    let (host, warning) = startup::bind_host(bind, loaded.config.gateway.custom_bind_host.as_deref(), fib.as_deref());
    if let Some(w) = warning {
        log::warn!("{w}");
    }
    let plan = startup::auth(&opts, &loaded.env, &loaded.config, host.is_loopback(), startup::bind_name(bind)).map_err(fail)?;
    let (auth, generated) = match plan {
        AuthPlan::Ready(a) => (a, None),
        AuthPlan::Generate => {
            let token = crate::crypto::random_hex_token(32).map_err(|e| fail(format!("cannot generate a token: {e}")))?;
            config::write::update(&paths, &env, cwd.as_deref(), |root| {
                config::edit::set(root, "gateway.auth.token", Value::String(token.clone()))
            })
            .map_err(|e| fail(format!("cannot save the generated gateway token: {e}")))?;
            (Auth { mode: AuthMode::Token, secret: Some(token.clone()) }, Some(token))
        }
    };
    crate::fsutil::ensure_private_dir(&paths.state_dir).map_err(|e| fail(format!("cannot create {}: {e}", paths.state_dir.display())))?;

    let listener = listen(host, bind, port)?;
    let local_addr = listener.local_addr().map_err(|e| fail(e.to_string()))?;
    let docker = Docker::from_env(&loaded.env).ok();
    let tuning = Tuning::from_env(&env);
    let limiter = ratelimit::AuthLimiter::new(rate_policy(&loaded.config));
    let config_for_agent = Arc::new(loaded.config);
    let agent = Arc::new(crate::agent::runtime::Runtime::new(paths.clone(), Arc::clone(&config_for_agent), loaded.env.clone(), docker.clone()));
    let live = Live {
        config: Arc::clone(&config_for_agent),
        env: loaded.env,
        auth,
        exists: true,
        stamp: stamp(&paths.config_path),
    };
    let gw = Arc::new(Gateway {
        devices: devices::Store::new(&paths.state_dir),
        paths,
        env,
        cwd,
        opts,
        port: local_addr.port(),
        bind,
        local_addr,
        started: Instant::now(),
        started_ms: now_ms(),
        tuning,
        live: RwLock::new(Arc::new(live)),
        limiter,
        peers: Mutex::new(BTreeMap::new()),
        per_ip: Mutex::new(HashMap::new()),
        open: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
        seq: AtomicU64::new(1),
        shutting_down: AtomicBool::new(false),
        channels: crate::channels::Manager::new(Arc::new(crate::channels::Hub::new(Arc::clone(&agent), Arc::clone(&config_for_agent)))),
        agent,
        idempotency: chat::Idempotency::default(),
        docker,
    });

    let accept = {
        let gw = Arc::clone(&gw);
        thread::Builder::new().name("gateway-accept".into()).spawn(move || server::accept_loop(gw, listener))
    }
    .map_err(|e| fail(format!("cannot start the accept thread: {e}")))?;
    gw.channels.apply(&gw.config(), &gw.live().env);
    spawn_named("config-watch", {
        let gw = Arc::clone(&gw);
        move || watch_config(gw)
    });
    spawn_named("tick", {
        let gw = Arc::clone(&gw);
        move || tick_loop(gw)
    });
    // Prune only where there can be sandboxes: some agent sandboxes, or
    // the registry remembers containers from an earlier config.
    let config = gw.config();
    let sandboxing = config.agent_ids().iter().any(|id| config.sandbox_for(id).mode != crate::config::sandbox::SandboxMode::Off)
        || gw.paths.state_dir.join("sandbox").join("containers.json").exists();
    let prune = gw.docker.clone().filter(|_| sandboxing).and_then(|docker| {
        let gw2 = Arc::clone(&gw);
        crate::prune::PruneThread::start(docker, move || (*gw2.config()).clone(), gw.paths.clone(), crate::prune::interval_from_env(&gw.env))
            .inspect_err(|e| log::warn!("sandbox prune thread not started: {e}"))
            .ok()
    });

    let shown_host = if host.is_unspecified() { "0.0.0.0".to_string() } else { host.to_string() };
    println!("listening on ws://{shown_host}:{} (PID {})", gw.port, std::process::id());
    if let Some(token) = generated {
        println!(
            "Generated a gateway token and saved it as gateway.auth.token in {}.\nDashboard URL: http://127.0.0.1:{}{}/#token={token}",
            gw.paths.config_path.display(),
            gw.port,
            gw.config().gateway.control_ui.base_path
        );
    } else {
        println!("Dashboard: run `openclaw dashboard` for a URL with the token.");
    }
    let _ = io::stdout().flush();
    log::info!("gateway started: bind {} ({}), auth {}", startup::bind_name(bind), local_addr, auth_label(&gw.live().auth));

    let sig = signals.wait();
    log::info!("{} received: shutting down", crate::sys::signal_name(sig));
    shutdown(&gw);
    if let Some(p) = prune {
        // The prune thread stops after the container in hand; don't wait
        // past the 2 s budget for a slow engine.
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            p.stop();
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(Duration::from_millis(1200));
    }
    let _ = accept.join();
    log::info!("gateway stopped");
    Ok(())
}

fn auth_label(a: &Auth) -> &'static str {
    match a.mode {
        AuthMode::Token => "token",
        AuthMode::Password => "password",
        AuthMode::None => "none",
        AuthMode::TrustedProxy => "trusted-proxy",
    }
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = thread::Builder::new().name(name.into()).spawn(f) {
        log::error!("cannot start thread {name}: {e}");
    }
}

fn listen(host: IpAddr, bind: Bind, port: u16) -> Result<TcpListener, StartError> {
    let attempt = |ip: IpAddr| TcpListener::bind(SocketAddr::new(ip, port));
    let result = match attempt(host) {
        // Upstream: loopback/auto fall back to 0.0.0.0 only when 127.0.0.1
        // cannot be bound at all (not when the port is taken).
        Err(e) if matches!(bind, Bind::Loopback | Bind::Auto) && e.kind() == io::ErrorKind::AddrNotAvailable => {
            log::warn!("cannot bind 127.0.0.1 ({e}); binding 0.0.0.0");
            attempt(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        }
        r => r,
    };
    result.map_err(|e| {
        let mut msg = format!("Gateway failed to start: cannot listen on {host}:{port}: {e}\nIf the gateway is supervised, stop it with: openclaw gateway stop");
        if e.kind() == io::ErrorKind::AddrInUse {
            msg.push_str(&format!(
                "\nPort {port} is already in use. Is another gateway running? Check with `openclaw health`, find the process with `ss -ltnp 'sport = :{port}'`, or pick another port with --port."
            ));
        } else if e.kind() == io::ErrorKind::PermissionDenied {
            msg.push_str(&format!("\nPorts below 1024 need privileges; use a port such as {}.", startup::DEFAULT_PORT));
        }
        StartError(msg)
    })
}

impl Gateway {
    pub fn live(&self) -> Arc<Live> {
        Arc::clone(&self.live.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.live().config)
    }

    /// Takes a connection slot for `ip`; `None` when a cap is reached.
    /// Loopback counts only against the global cap: behind a reverse proxy
    /// on the same host every client arrives from 127.0.0.1.
    fn take_slot(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.tuning.max_connections {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        if !ip.is_loopback() {
            let mut m = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            let n = m.entry(ip).or_insert(0);
            if *n >= self.tuning.max_per_ip {
                drop(m);
                self.open.fetch_sub(1, Ordering::SeqCst);
                return None;
            }
            *n += 1;
        }
        Some(Slot { gw: Arc::clone(self), ip })
    }

    pub fn connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    pub fn peer_count(&self) -> usize {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn add_peer(&self, peer: Arc<Peer>) {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).insert(peer.id, peer);
    }

    fn remove_peer(&self, id: u64) {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    fn peers(&self) -> Vec<Arc<Peer>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Sends an event to every connected peer that `want` selects.
    pub fn broadcast(&self, event: &str, payload: Value, want: impl Fn(&Peer) -> bool) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        let text = json!({"type": "event", "event": event, "payload": payload, "seq": seq}).to_string();
        for p in self.peers() {
            if want(&p) {
                p.send(&text);
            }
        }
    }

    /// Closes the sockets of a device (removed, or its token revoked).
    pub fn close_device(&self, device_id: &str, role: Option<&str>, reason: &str) {
        for p in self.peers() {
            if p.device_id.as_deref() == Some(device_id) && role.is_none_or(|r| r == p.role) {
                p.close(1008, reason);
            }
        }
    }

    /// Loads the config again and swaps it in; closes sockets that
    /// authenticated with a shared secret that is no longer valid.
    pub fn reload(&self) -> Result<(), String> {
        let loaded = config::load(&self.paths, &self.env, self.cwd.as_deref()).map_err(|e| e.to_string())?;
        self.apply(loaded)
    }

    pub(crate) fn apply(&self, loaded: Loaded) -> Result<(), String> {
        let old = self.live();
        let loopback = self.local_addr.ip().is_loopback();
        let plan = startup::auth(&self.opts, &loaded.env, &loaded.config, loopback, startup::bind_name(self.bind))?;
        let auth = match plan {
            AuthPlan::Ready(a) => a,
            // The token was removed from the file: keep the one in use
            // rather than open the gateway or generate behind the user's back.
            AuthPlan::Generate => old.auth.clone(),
        };
        self.limiter.set_policy(rate_policy(&loaded.config));
        let changed_secret = auth != old.auth;
        let config = Arc::new(loaded.config);
        self.agent.set_config(Arc::clone(&config), loaded.env.clone());
        self.channels.apply(&config, &loaded.env);
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Live {
            config,
            env: loaded.env,
            auth: auth.clone(),
            exists: loaded.exists,
            stamp: stamp(&self.paths.config_path),
        });
        if changed_secret {
            let fingerprint = auth.secret.as_ref().map(|s| crate::crypto::sha256(s.as_bytes()));
            for p in self.peers() {
                if p.shared_auth.is_some() && p.shared_auth != fingerprint {
                    p.close(1008, "unauthorized: gateway token changed (reconnect with the new token)");
                }
            }
            log::info!("gateway auth changed: sockets using the old secret were closed");
        }
        Ok(())
    }

    /// The host the gateway reports (`hello-ok.server.host`).
    pub fn hostname(&self) -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
    }
}

/// A connection slot, released when dropped.
pub struct Slot {
    gw: Arc<Gateway>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gw.open.fetch_sub(1, Ordering::SeqCst);
        if !self.ip.is_loopback() {
            let mut m = self.gw.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.ip);
                }
            }
        }
    }
}

fn watch_config(gw: Arc<Gateway>) {
    while !gw.shutting_down.load(Ordering::SeqCst) {
        thread::sleep(gw.tuning.reload_poll);
        let now = stamp(&gw.paths.config_path);
        if now == gw.live().stamp {
            continue;
        }
        match gw.reload() {
            Ok(()) => log::info!("config reloaded from {}", gw.paths.config_path.display()),
            Err(e) => {
                log::error!("config reload failed; keeping the previous config:\n{e}");
                // Remember the stamp so the error is logged once per change.
                let mut w = gw.live.write().unwrap_or_else(|e| e.into_inner());
                let l = &**w;
                *w = Arc::new(Live { config: Arc::clone(&l.config), env: l.env.clone(), auth: l.auth.clone(), exists: l.exists, stamp: now });
            }
        }
    }
}

fn tick_loop(gw: Arc<Gateway>) {
    while !gw.shutting_down.load(Ordering::SeqCst) {
        let step = Duration::from_millis(200).min(gw.tuning.tick);
        let mut waited = Duration::ZERO;
        while waited < gw.tuning.tick && !gw.shutting_down.load(Ordering::SeqCst) {
            thread::sleep(step);
            waited += step;
        }
        if gw.shutting_down.load(Ordering::SeqCst) {
            break;
        }
        gw.broadcast("tick", json!({"ts": now_ms()}), |_| true);
        for p in gw.peers() {
            p.send_frame(&ws::Message::Ping(Vec::new()));
        }
    }
}

/// Stops accepting, tells every socket, and closes them (1001).
fn shutdown(gw: &Arc<Gateway>) {
    gw.shutting_down.store(true, Ordering::SeqCst);
    gw.agent.shutdown();
    gw.channels.shutdown();
    gw.broadcast("shutdown", json!({"reason": "gateway stopping"}), |_| true);
    for p in gw.peers() {
        p.close(1001, "gateway stopping");
    }
    // Wake the accept thread with a connection of our own.
    let mut wake = gw.local_addr;
    if wake.ip().is_unspecified() {
        wake.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let _ = TcpStream::connect_timeout(&wake, Duration::from_millis(500));
}
