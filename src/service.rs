//! `openclaw gateway install|uninstall|start|stop|restart|status`: the
//! gateway as a systemd service, for the bare-binary install.
//!
//! **System or user unit.** Run as root, `install` writes a system unit,
//! `/etc/systemd/system/openclaw-gateway.service` (managed with plain
//! `systemctl`); anyone else gets a user unit,
//! `~/.config/systemd/user/openclaw-gateway.service` (`systemctl --user`),
//! which is what upstream installs. A non-default `--profile` adds
//! `-<profile>` to the name. A system unit runs as the owner of the state
//! folder (`User=`), so `sudo OPENCLAW_STATE_DIR=/home/me/.openclaw openclaw
//! gateway install` serves that user's state as that user.
//!
//! **The unit** ([`unit_text`]): `ExecStart` is this binary with `gateway
//! --port <port>`; `OPENCLAW_STATE_DIR`, `OPENCLAW_CONFIG_PATH` and
//! `DOCKER_HOST` are set only when they differ from what the service would
//! find by itself. Hardening: `NoNewPrivileges`, `ProtectSystem=strict`,
//! `ProtectHome=tmpfs` with the state folder bound back in and listed as the
//! only `ReadWritePaths` (plus an agent workspace or sandbox root configured
//! outside it, and the config file's folder), `PrivateTmp` (unless one of
//! those lies in `/tmp`), kernel and
//! cgroup protection, `UMask=0077`, `MemoryHigh`/`MemoryMax` (half of the
//! host's memory, at least 256 MiB: the cap covers the gateway and the host
//! `exec` commands it runs; sandbox containers live in Docker's cgroups),
//! and `Restart=always` after 5 s. The socket's group (`docker`) is added
//! with `SupplementaryGroups=` only when some agent is sandboxed and the
//! unit is a system unit for a user other than root (a user manager cannot
//! change groups: a user unit has the groups of its user's login).
//!
//! **systemctl** runs as a subprocess with the terminal's stdio. Where
//! systemd is not running (no `/run/systemd/system`), `install` still writes
//! the unit and says how to enable it, and the other commands say that
//! systemd is missing. `OPENCLAW_SYSTEMD_UNIT_DIR` (the unit folder) and
//! `OPENCLAW_SYSTEMCTL` (the program to run, or `none` for "systemd is not
//! running") exist for packagers and tests.
//!
//! `status` reports the unit (installed, active state, main PID, enabled)
//! and probes the gateway's `/healthz` itself, so it works without systemd.

use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::sandbox::SandboxMode;
use crate::config::{self, Config};
use crate::gateway::startup;
use crate::paths::{Env, Paths};

/// What the user asked of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Install { port: Option<String>, force: bool },
    Uninstall,
    Start,
    Stop,
    Restart,
    Status { json: bool },
}

/// Which systemd instance manages the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/etc/systemd/system`, `systemctl`: installed by root.
    System,
    /// `~/.config/systemd/user`, `systemctl --user`: everyone else.
    User,
}

/// Everything the unit file says, decided (see [`plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSpec {
    pub scope: Scope,
    /// The binary `ExecStart` runs.
    pub exe: PathBuf,
    pub port: u16,
    /// The working directory and first writable path.
    pub state_dir: PathBuf,
    /// `Environment=` entries.
    pub env: Vec<(String, String)>,
    /// `User=` (system units).
    pub user: Option<String>,
    /// `SupplementaryGroups=`: the Docker socket's group.
    pub docker_group: Option<String>,
    /// Other folders the gateway writes (`ReadWritePaths=`, and bound back
    /// in when under a home folder).
    pub writable: Vec<PathBuf>,
    /// Paths under a home folder the service must read (`BindReadOnlyPaths=`).
    pub readable: Vec<PathBuf>,
    pub memory_max_mib: u64,
    /// Some agent is sandboxed: order the unit after `docker.service`.
    pub sandboxing: bool,
}

/// The systemd unit text for `spec`, or why a path cannot be written into
/// one (systemd splits these settings at spaces and would read quotes and
/// backslashes as syntax).
pub fn unit_text(spec: &UnitSpec) -> Result<String, String> {
    let mut paths = vec![&spec.exe, &spec.state_dir];
    paths.extend(&spec.writable);
    paths.extend(&spec.readable);
    for p in paths {
        check_unit_path(p)?;
    }
    for (k, v) in &spec.env {
        if v.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
            return Err(format!("{k}={v:?} cannot be written into a systemd unit (quotes, backslashes or control characters)"));
        }
    }
    let mut writable: Vec<&Path> = vec![&spec.state_dir];
    writable.extend(spec.writable.iter().map(PathBuf::as_path).filter(|p| !p.starts_with(&spec.state_dir)));
    let mut bound: Vec<&Path> = writable.iter().copied().filter(|p| under_home(p)).collect();
    bound.dedup();
    let list = |ps: &[&Path]| ps.iter().map(|p| escape(&p.to_string_lossy())).collect::<Vec<_>>().join(" ");

    let mut t = String::new();
    let _ = writeln!(t, "# Written by `openclaw gateway install` (openclaw {}). Run it again with --force", crate::VERSION);
    let _ = writeln!(t, "# after changing the port, the state folder or the sandbox mode; put local");
    let _ = writeln!(t, "# changes in `systemctl{} edit <this unit>`.", if spec.scope == Scope::User { " --user" } else { "" });
    t.push_str("[Unit]\nDescription=OpenClaw gateway\n");
    t.push_str("After=network-online.target\nWants=network-online.target\n");
    if spec.sandboxing && spec.scope == Scope::System {
        t.push_str("After=docker.service\n");
    }
    t.push_str("\n[Service]\nType=simple\n");
    let exe = escape(&spec.exe.to_string_lossy()).replace('$', "$$");
    let _ = writeln!(t, "ExecStart={exe} gateway --port {}", spec.port);
    let _ = writeln!(t, "WorkingDirectory={}", escape(&spec.state_dir.to_string_lossy()));
    for (k, v) in &spec.env {
        let _ = writeln!(t, "Environment=\"{k}={}\"", escape(v));
    }
    if let Some(user) = &spec.user {
        let _ = writeln!(t, "User={}", escape(user));
    }
    if let Some(group) = &spec.docker_group {
        let _ = writeln!(t, "SupplementaryGroups={}", escape(group));
    }
    t.push_str("Restart=always\nRestartSec=5\nTimeoutStopSec=15\n");
    let _ = writeln!(t, "MemoryHigh={}M\nMemoryMax={}M", spec.memory_max_mib * 3 / 4, spec.memory_max_mib);
    t.push_str("NoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=tmpfs\n");
    if !bound.is_empty() {
        let _ = writeln!(t, "BindPaths={}", list(&bound));
    }
    let _ = writeln!(t, "ReadWritePaths={}", list(&writable));
    let readable: Vec<&Path> = spec.readable.iter().map(PathBuf::as_path).collect();
    if !readable.is_empty() {
        let _ = writeln!(t, "BindReadOnlyPaths={}", list(&readable));
    }
    // A private /tmp would hide a state folder that lives in the real one.
    if !writable.iter().any(|p| p.starts_with("/tmp") || p.starts_with("/var/tmp")) {
        t.push_str("PrivateTmp=yes\n");
    }
    t.push_str("ProtectKernelTunables=yes\nProtectKernelModules=yes\nProtectControlGroups=yes\n");
    t.push_str("RestrictSUIDSGID=yes\nLockPersonality=yes\nUMask=0077\n");
    let target = if spec.scope == Scope::System { "multi-user.target" } else { "default.target" };
    let _ = writeln!(t, "\n[Install]\nWantedBy={target}");
    Ok(t)
}

/// The memory cap for a host with `mem_total_kib` of memory: half of it, at
/// least 256 MiB (4 GiB when the total is unknown).
pub fn memory_max_mib(mem_total_kib: Option<u64>) -> u64 {
    mem_total_kib.map_or(4096, |kib| (kib / 1024 / 2).max(256))
}

/// The unit's name: `openclaw-gateway[-<profile>].service`.
pub fn unit_name(profile: Option<&str>) -> String {
    match profile {
        Some(p) if p != "default" => format!("openclaw-gateway-{p}.service"),
        _ => "openclaw-gateway.service".to_string(),
    }
}

/// Where the unit file goes: `OPENCLAW_SYSTEMD_UNIT_DIR`, else the system
/// or user unit folder.
pub fn unit_dir(scope: Scope, env: &Env, home: &Path) -> PathBuf {
    if let Some(dir) = env.get("OPENCLAW_SYSTEMD_UNIT_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match scope {
        Scope::System => PathBuf::from("/etc/systemd/system"),
        Scope::User => match env.get("XDG_CONFIG_HOME").filter(|d| d.starts_with('/')) {
            Some(config) => Path::new(config).join("systemd/user"),
            None => home.join(".config/systemd/user"),
        },
    }
}

/// The name for `id` in an `/etc/passwd` or `/etc/group` text (`name:x:id:…`).
pub fn name_for_id(etc_file: &str, id: u32) -> Option<String> {
    etc_file.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == id).then(|| name.to_string())
    })
}

/// Runs a service command; the exit code says how it went.
pub fn run(action: Action, paths: &Paths, env: &Env, profile: Option<&str>, cwd: Option<&Path>) -> ExitCode {
    let ctx = Context::new(paths, env, profile);
    let result = match action {
        Action::Install { port, force } => install(&ctx, cwd, port.as_deref(), force),
        Action::Uninstall => uninstall(&ctx),
        Action::Start => control(&ctx, "start"),
        Action::Stop => control(&ctx, "stop"),
        Action::Restart => control(&ctx, "restart"),
        Action::Status { json } => status(&ctx, cwd, json),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(crate::app::FAILURE)
        }
    }
}

// ---------------------------------------------------------------------------
// The commands.

/// What every command works with.
struct Context<'a> {
    paths: &'a Paths,
    env: &'a Env,
    scope: Scope,
    name: String,
    unit_path: PathBuf,
    /// `None`: systemd is not running here.
    systemctl: Option<String>,
}

impl<'a> Context<'a> {
    fn new(paths: &'a Paths, env: &'a Env, profile: Option<&str>) -> Context<'a> {
        let scope = if effective_uid() == Some(0) { Scope::System } else { Scope::User };
        let name = unit_name(profile);
        let unit_path = unit_dir(scope, env, &paths.home).join(&name);
        let systemctl = match env.get("OPENCLAW_SYSTEMCTL").map(String::as_str) {
            Some("none") => None,
            Some(program) if !program.is_empty() => Some(program.to_string()),
            _ => Path::new("/run/systemd/system").is_dir().then(|| "systemctl".to_string()),
        };
        Context { paths, env, scope, name, unit_path, systemctl }
    }

    /// `systemctl [--user] <args…>` with the terminal's stdio; its exit code.
    fn systemctl(&self, args: &[&str]) -> Result<u8, String> {
        let Some(program) = &self.systemctl else { return Err(self.no_systemd()) };
        let status = Command::new(program)
            .args(self.user_flag())
            .args(args)
            .status()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        Ok(status.code().map_or(1, |c| u8::try_from(c.clamp(0, 255)).unwrap_or(1)))
    }

    fn user_flag(&self) -> &'static [&'static str] {
        if self.scope == Scope::User { &["--user"] } else { &[] }
    }

    /// The command line a person would type for `args`.
    fn command_line(&self, args: &str) -> String {
        format!("systemctl{} {args}", if self.scope == Scope::User { " --user" } else { "" })
    }

    fn no_systemd(&self) -> String {
        format!(
            "systemd is not running here (no /run/systemd/system), so {} cannot be managed; run the gateway \
             directly (openclaw gateway), or use a host where systemd runs",
            self.name
        )
    }

    fn not_installed(&self) -> String {
        format!("{} is not installed ({} does not exist); run: openclaw gateway install", self.name, self.unit_path.display())
    }
}

fn install(ctx: &Context<'_>, cwd: Option<&Path>, port: Option<&str>, force: bool) -> Result<u8, String> {
    let loaded = config::load(ctx.paths, ctx.env, cwd).map_err(|e| format!("{e}\nFix the config first (openclaw config validate)."))?;
    let opts = startup::Opts { port: port.map(str::to_string), ..startup::Opts::default() };
    let port = startup::port(&opts, &loaded.env, &loaded.config)?;
    crate::fsutil::ensure_private_dir(&ctx.paths.state_dir)
        .map_err(|e| format!("cannot create the state folder {}: {e}", ctx.paths.state_dir.display()))?;
    let spec = plan(ctx, &loaded.config, &loaded.env, port)?;
    let text = unit_text(&spec)?;
    create_writable(&spec)?;
    let existing = std::fs::read_to_string(&ctx.unit_path).ok();
    let changed = existing.as_deref() != Some(text.as_str());
    if existing.is_some() && changed && !force {
        return Err(format!(
            "{} already exists and differs from what this install would write; pass --force to replace it",
            ctx.unit_path.display()
        ));
    }
    if changed {
        crate::fsutil::write_atomic(&ctx.unit_path, text.as_bytes())
            .and_then(|()| std::fs::set_permissions(&ctx.unit_path, std::fs::Permissions::from_mode(0o644)))
            .map_err(|e| format!("cannot write {}: {e}", ctx.unit_path.display()))?;
        println!("Wrote {} (port {port}).", ctx.unit_path.display());
    } else {
        println!("{} is up to date (port {port}).", ctx.unit_path.display());
    }
    for warning in install_warnings(ctx, &loaded, &spec) {
        eprintln!("Warning: {warning}");
    }
    if ctx.systemctl.is_none() {
        println!(
            "systemd is not running here (no /run/systemd/system), so the service was not enabled. On a host with \
             systemd, enable and start it with:\n  {} && {}",
            ctx.command_line("daemon-reload"),
            ctx.command_line(&format!("enable --now {}", ctx.name))
        );
        return Ok(0);
    }
    let steps: [&[&str]; 2] = [&["daemon-reload"], &["enable", "--now", &ctx.name]];
    for args in steps {
        let code = ctx.systemctl(args)?;
        if code != 0 {
            return Err(format!("{} failed (exit code {code})", ctx.command_line(&args.join(" "))));
        }
    }
    if changed && existing.is_some() {
        ctx.systemctl(&["restart", &ctx.name])?;
    }
    println!("Installed and started {}. Check it with: openclaw gateway status", ctx.name);
    Ok(0)
}

fn uninstall(ctx: &Context<'_>) -> Result<u8, String> {
    if !ctx.unit_path.exists() {
        println!("{} is not installed ({} does not exist).", ctx.name, ctx.unit_path.display());
        return Ok(0);
    }
    if ctx.systemctl.is_some() {
        ctx.systemctl(&["disable", "--now", &ctx.name])?;
    }
    std::fs::remove_file(&ctx.unit_path).map_err(|e| format!("cannot remove {}: {e}", ctx.unit_path.display()))?;
    if ctx.systemctl.is_some() {
        ctx.systemctl(&["daemon-reload"])?;
    }
    println!("Removed {}.", ctx.unit_path.display());
    Ok(0)
}

fn control(ctx: &Context<'_>, verb: &str) -> Result<u8, String> {
    if !ctx.unit_path.exists() {
        return Err(ctx.not_installed());
    }
    ctx.systemctl(&[verb, &ctx.name])
}

fn status(ctx: &Context<'_>, cwd: Option<&Path>, json_out: bool) -> Result<u8, String> {
    let installed = std::fs::read_to_string(&ctx.unit_path).ok();
    let loaded = config::load(ctx.paths, ctx.env, cwd).ok();
    let port = installed.as_deref().and_then(port_in_unit).or_else(|| {
        let l = loaded.as_ref()?;
        startup::port(&startup::Opts::default(), &l.env, &l.config).ok()
    });
    let port = port.unwrap_or(startup::DEFAULT_PORT);
    let host = probe_host(loaded.as_ref().map(|l| &l.config));
    let unit = match (&ctx.systemctl, &installed) {
        (Some(program), Some(_)) => Some(show(program, ctx.user_flag(), &ctx.name)),
        _ => None,
    };
    let probe = probe_healthz(&host, port);
    let healthy = probe.get("ok").and_then(Value::as_bool) == Some(true);
    let service = json!({
        "name": ctx.name,
        "scope": if ctx.scope == Scope::System { "system" } else { "user" },
        "unitPath": ctx.unit_path.display().to_string(),
        "installed": installed.is_some(),
        "systemd": ctx.systemctl.is_some(),
        "unit": unit,
    });
    if json_out {
        let out = json!({ "service": service, "gateway": probe });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print!("{}", format_status(&service, &probe));
    }
    Ok(if healthy { 0 } else { 1 })
}

/// The human form of `status`.
pub fn format_status(service: &Value, gateway: &Value) -> String {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut t = String::new();
    let installed = service.get("installed").and_then(Value::as_bool) == Some(true);
    let _ = writeln!(t, "Service: {} ({} unit)", s(service, "name"), s(service, "scope"));
    let _ = writeln!(t, "Unit file: {} ({})", s(service, "unitPath"), if installed { "installed" } else { "not installed" });
    let systemd = match service.get("unit") {
        Some(u) if u.is_object() => {
            let mut line = format!("{} ({})", s(u, "ActiveState"), s(u, "SubState"));
            if let Some(pid) = u.get("MainPID").and_then(Value::as_str).filter(|p| *p != "0") {
                let _ = write!(line, ", pid {pid}");
            }
            let enabled = s(u, "UnitFileState");
            if !enabled.is_empty() {
                let _ = write!(line, ", {enabled}");
            }
            if let Some(e) = u.get("error").and_then(Value::as_str) {
                line = format!("unknown ({e})");
            }
            line
        }
        _ if service.get("systemd").and_then(Value::as_bool) != Some(true) => "not running on this host".to_string(),
        _ => "-".to_string(),
    };
    let _ = writeln!(t, "systemd: {systemd}");
    let url = s(gateway, "url");
    match gateway.get("error").and_then(Value::as_str) {
        Some(e) => {
            let _ = writeln!(t, "Gateway: {url} did not answer: {e}");
        }
        None => {
            let ok = gateway.get("ok").and_then(Value::as_bool) == Some(true);
            let ms = gateway.get("ms").and_then(Value::as_u64).unwrap_or(0);
            let verdict = if ok { "healthy" } else { "unhealthy" };
            let _ = writeln!(t, "Gateway: {url} answered in {ms} ms: {verdict} (HTTP {})", gateway.get("httpStatus").unwrap_or(&Value::Null));
        }
    }
    t
}

/// The port in a unit's `ExecStart=… gateway --port N`.
pub fn port_in_unit(text: &str) -> Option<u16> {
    let exec = text.lines().find_map(|l| l.strip_prefix("ExecStart="))?;
    let mut words = exec.split_whitespace();
    words.by_ref().find(|w| *w == "--port")?;
    words.next()?.parse().ok()
}

// ---------------------------------------------------------------------------
// Deciding the unit.

/// The unit for this host, state folder and config.
fn plan(ctx: &Context<'_>, config: &Config, env: &Env, port: u16) -> Result<UnitSpec, String> {
    let paths = ctx.paths;
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| format!("cannot tell where this openclaw binary is: {e}"))?;
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let owner = std::fs::metadata(&paths.state_dir).map(|m| m.uid()).unwrap_or(0);
    // A system unit runs as the state folder's owner; a user unit as its user.
    let (user, service_home) = match ctx.scope {
        Scope::System => {
            let name = name_for_id(&passwd, owner).unwrap_or_else(|| owner.to_string());
            let home = home_for_id(&passwd, owner).unwrap_or_else(|| paths.home.clone());
            (Some(name), home)
        }
        Scope::User => (None, paths.home.clone()),
    };
    let mut unit_env = Vec::new();
    if paths.state_dir != service_home.join(".openclaw") {
        unit_env.push(("OPENCLAW_STATE_DIR".to_string(), paths.state_dir.to_string_lossy().into_owned()));
    }
    if paths.config_path != paths.state_dir.join("openclaw.json") {
        unit_env.push(("OPENCLAW_CONFIG_PATH".to_string(), paths.config_path.to_string_lossy().into_owned()));
    }
    let docker_host = env.get("DOCKER_HOST").filter(|h| !h.is_empty());
    if let Some(host) = docker_host {
        unit_env.push(("DOCKER_HOST".to_string(), host.clone()));
    }
    let sandboxing = config.agent_ids().iter().any(|id| config.sandbox_for(id).mode != SandboxMode::Off);
    let socket = crate::docker::Docker::from_env(env).map(|d| d.socket_path().to_path_buf()).ok();
    let docker_group = match (ctx.scope, sandboxing, &socket) {
        (Scope::System, true, Some(socket)) if owner != 0 => {
            let gid = std::fs::metadata(socket).map(|m| m.gid()).ok();
            let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
            // systemd takes a gid where /etc/group has no name for it.
            gid.map(|g| name_for_id(&groups, g).unwrap_or_else(|| g.to_string()))
        }
        _ => None,
    };
    let mut writable = Vec::new();
    let config_dir = paths.config_path.parent().map(Path::to_path_buf).unwrap_or_else(|| paths.state_dir.clone());
    writable.push(config_dir);
    for id in config.agent_ids() {
        let s = config.sandbox_for(&id);
        writable.push(config.workspace_for(&id));
        if s.mode != SandboxMode::Off {
            writable.push(s.workspace_root);
        }
    }
    if let Some(socket) = socket.filter(|s| sandboxing && under_home(s)) {
        writable.push(socket);
    }
    writable.retain(|p| !p.starts_with(&paths.state_dir));
    writable.sort();
    writable.dedup();
    let readable = if under_home(&exe) { vec![exe.clone()] } else { Vec::new() };
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_total = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse().ok());
    Ok(UnitSpec {
        scope: ctx.scope,
        exe,
        port,
        state_dir: paths.state_dir.clone(),
        env: unit_env,
        user,
        docker_group,
        writable,
        readable,
        memory_max_mib: memory_max_mib(mem_total),
        sandboxing,
    })
}

/// What the user should know after an install.
fn install_warnings(ctx: &Context<'_>, loaded: &config::Loaded, spec: &UnitSpec) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = startup::mode_guard(loaded.exists, &loaded.config, false) {
        out.push(format!("the service will not start yet: {e}"));
    }
    if ctx.scope == Scope::User {
        let user = ctx.env.get("USER").cloned().unwrap_or_else(|| "$USER".into());
        if !Path::new("/var/lib/systemd/linger").join(&user).exists() {
            out.push(format!("a user service stops when you log out; keep it running with: sudo loginctl enable-linger {user}"));
        }
        if spec.sandboxing
            && let Ok(docker) = crate::docker::Docker::from_env(ctx.env)
            && let Err(e) = std::os::unix::net::UnixStream::connect(docker.socket_path())
            && e.kind() == io::ErrorKind::PermissionDenied
        {
            out.push(format!(
                "sandboxing is on but this user may not use {}; add it to the socket's group (sudo usermod -aG docker {user}) and log in again",
                docker.socket_path().display()
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Private helpers.

/// Creates the writable folders the unit names that do not exist yet (0700,
/// given to the state folder's owner): systemd refuses to start a unit whose
/// `ReadWritePaths=` or `BindPaths=` are missing, and the service could not
/// create them under the read-only file system.
fn create_writable(spec: &UnitSpec) -> Result<(), String> {
    let owner = std::fs::metadata(&spec.state_dir).map(|m| (m.uid(), m.gid())).ok();
    for dir in spec.writable.iter().filter(|d| !d.exists()) {
        crate::fsutil::ensure_private_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if let Some((uid, gid)) = owner
            && effective_uid() == Some(0)
        {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|e| format!("cannot give {} to uid {uid}: {e}", dir.display()))?;
        }
    }
    Ok(())
}

/// `systemctl show` of the unit's state, as a JSON object of its properties
/// (or `{error}`).
fn show(program: &str, user_flag: &[&str], name: &str) -> Value {
    let props = "ActiveState,SubState,MainPID,UnitFileState,NRestarts";
    let out = Command::new(program).args(user_flag).args(["show", name, "--property", props]).output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let map: serde_json::Map<String, Value> = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            Value::Object(map)
        }
        Ok(o) => json!({ "error": String::from_utf8_lossy(&o.stderr).trim().to_string() }),
        Err(e) => json!({ "error": format!("cannot run {program}: {e}") }),
    }
}

/// Where to reach the gateway: the address it binds, or loopback for the
/// wildcard binds.
pub fn probe_host(config: Option<&Config>) -> String {
    let Some(config) = config else { return "127.0.0.1".into() };
    let fib_trie = std::fs::read_to_string("/proc/net/fib_trie").ok();
    let bind = config.gateway.bind;
    let (ip, _) = startup::bind_host(bind, config.gateway.custom_bind_host.as_deref(), fib_trie.as_deref());
    if ip.is_unspecified() { "127.0.0.1".into() } else { ip.to_string() }
}

/// `GET /healthz` within 3 s: `{url, ok, status, httpStatus, ms}` or
/// `{url, ok: false, error}`.
fn probe_healthz(host: &str, port: u16) -> Value {
    probe_url(&format!("http://{host}:{port}/healthz"), Duration::from_secs(3))
}

/// `GET url` (plain HTTP, no proxy, no redirects) within `timeout`, as
/// [`probe_healthz`]; also `openclaw gateway probe`, the image's health check.
pub fn probe_url(url: &str, timeout: Duration) -> Value {
    let config = crate::http_config().proxy(None).timeout_global(Some(timeout)).build();
    let agent = ureq::Agent::new_with_config(config);
    let started = Instant::now();
    match agent.get(url).call() {
        Ok(mut response) => {
            let http_status = response.status().as_u16();
            let body = response.body_mut().with_config().limit(64 * 1024).read_to_string().unwrap_or_default();
            let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let ok = http_status == 200 && parsed.get("ok").and_then(Value::as_bool) != Some(false);
            json!({
                "url": url,
                "ok": ok,
                "httpStatus": http_status,
                "status": parsed.get("status").cloned().unwrap_or(Value::Null),
                "ms": started.elapsed().as_millis() as u64,
            })
        }
        Err(e) => json!({ "url": url, "ok": false, "error": e.to_string() }),
    }
}

/// The effective uid, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// The home folder of `uid` in an `/etc/passwd` text.
fn home_for_id(passwd: &str, uid: u32) -> Option<PathBuf> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 5 && f[2].parse::<u32>().ok()? == uid).then(|| PathBuf::from(f[5]))
    })
}

/// True under the folders `ProtectHome=` hides.
fn under_home(p: &Path) -> bool {
    ["/home", "/root", "/run/user"].iter().any(|h| p.starts_with(h))
}

/// Refuses what a unit line cannot hold: relative paths, whitespace, quotes,
/// backslashes and control characters.
fn check_unit_path(p: &Path) -> Result<(), String> {
    let s = p.to_string_lossy();
    if !p.is_absolute() || s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\')) {
        return Err(format!(
            "the path {s:?} cannot be written into a systemd unit (it must be absolute, without spaces, quotes or \
             backslashes); move it, or set OPENCLAW_STATE_DIR to a plain path"
        ));
    }
    Ok(())
}

/// Escapes systemd's specifier character.
fn escape(s: &str) -> String {
    s.replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> UnitSpec {
        UnitSpec {
            scope: Scope::System,
            exe: "/usr/local/bin/openclaw".into(),
            port: 18789,
            state_dir: "/home/deploy/.openclaw".into(),
            env: vec![],
            user: Some("deploy".into()),
            docker_group: None,
            writable: vec![],
            readable: vec![],
            memory_max_mib: 1024,
            sandboxing: false,
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn a_hardened_system_unit() {
        let text = unit_text(&spec()).unwrap();
        let l = lines(&text);
        for line in [
            "[Unit]",
            "After=network-online.target",
            "[Service]",
            "ExecStart=/usr/local/bin/openclaw gateway --port 18789",
            "WorkingDirectory=/home/deploy/.openclaw",
            "User=deploy",
            "Restart=always",
            "RestartSec=5",
            "MemoryHigh=768M",
            "MemoryMax=1024M",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=tmpfs",
            "BindPaths=/home/deploy/.openclaw",
            "ReadWritePaths=/home/deploy/.openclaw",
            "PrivateTmp=yes",
            "ProtectKernelTunables=yes",
            "ProtectControlGroups=yes",
            "UMask=0077",
            "[Install]",
            "WantedBy=multi-user.target",
        ] {
            assert!(l.contains(&line), "{line:?} missing from:\n{text}");
        }
        assert!(!text.contains("SupplementaryGroups"), "no docker group without sandboxing:\n{text}");
        assert!(!text.contains("Environment="), "defaults need no environment:\n{text}");
        assert!(!text.contains("docker.service"));
        assert!(!text.contains("BindReadOnlyPaths"));
    }

    #[test]
    fn docker_group_only_when_sandboxing() {
        let mut s = spec();
        s.sandboxing = true;
        s.docker_group = Some("docker".into());
        let text = unit_text(&s).unwrap();
        assert!(lines(&text).contains(&"SupplementaryGroups=docker"), "{text}");
        assert!(lines(&text).contains(&"After=docker.service"), "{text}");
        s.sandboxing = false;
        s.docker_group = None;
        assert!(!unit_text(&s).unwrap().contains("SupplementaryGroups"));
    }

    #[test]
    fn a_user_unit() {
        let mut s = spec();
        s.scope = Scope::User;
        s.user = None;
        s.sandboxing = true;
        s.exe = "/home/deploy/.local/bin/openclaw".into();
        s.readable = vec![s.exe.clone()];
        let text = unit_text(&s).unwrap();
        let l = lines(&text);
        assert!(l.contains(&"WantedBy=default.target"), "{text}");
        assert!(l.contains(&"BindReadOnlyPaths=/home/deploy/.local/bin/openclaw"), "a binary under the home stays visible:\n{text}");
        assert!(!text.contains("User=") && !text.contains("SupplementaryGroups") && !text.contains("docker.service"), "{text}");
        assert!(text.contains("systemctl --user edit"), "{text}");
    }

    #[test]
    fn environment_and_writable_paths() {
        let mut s = spec();
        s.state_dir = "/srv/openclaw".into();
        s.env = vec![
            ("OPENCLAW_STATE_DIR".into(), "/srv/openclaw".into()),
            ("DOCKER_HOST".into(), "unix:///run/user/1000/docker.sock".into()),
        ];
        s.writable = vec!["/home/deploy/projects".into(), "/srv/openclaw/workspace".into(), "/var/lib/oc-ws".into()];
        let text = unit_text(&s).unwrap();
        let l = lines(&text);
        assert!(l.contains(&"Environment=\"OPENCLAW_STATE_DIR=/srv/openclaw\""), "{text}");
        assert!(l.contains(&"Environment=\"DOCKER_HOST=unix:///run/user/1000/docker.sock\""), "{text}");
        assert!(l.contains(&"ReadWritePaths=/srv/openclaw /home/deploy/projects /var/lib/oc-ws"), "{text}");
        assert!(l.contains(&"BindPaths=/home/deploy/projects"), "only folders under a home are bound back:\n{text}");
        assert!(l.contains(&"PrivateTmp=yes"));
        s.writable.push("/tmp/oc-scratch".into());
        let text = unit_text(&s).unwrap();
        assert!(!text.contains("PrivateTmp"), "a private /tmp would hide /tmp/oc-scratch:\n{text}");
    }

    #[test]
    fn unit_syntax_is_escaped_or_refused() {
        let mut s = spec();
        s.exe = "/opt/100%/$bin/openclaw".into();
        let text = unit_text(&s).unwrap();
        assert!(text.contains("ExecStart=/opt/100%%/$$bin/openclaw gateway"), "{text}");
        for bad in ["/opt/my tools/openclaw", "/opt/a\"b", "/opt/a\\b", "relative/openclaw", "/opt/a\nExecStartPre=/bin/sh"] {
            s.exe = bad.into();
            let err = unit_text(&s).unwrap_err();
            assert!(err.contains("cannot be written into a systemd unit"), "{bad}: {err}");
        }
        let mut s = spec();
        s.env = vec![("OPENCLAW_CONFIG_PATH".into(), "/a\"\nUser=root".into())];
        assert!(unit_text(&s).is_err());
    }

    #[test]
    fn memory_cap_is_half_the_host() {
        assert_eq!(memory_max_mib(Some(2 * 1024 * 1024)), 1024);
        assert_eq!(memory_max_mib(Some(512 * 1024)), 256);
        assert_eq!(memory_max_mib(Some(256 * 1024)), 256, "at least 256 MiB");
        assert_eq!(memory_max_mib(None), 4096);
    }

    #[test]
    fn names_and_folders() {
        assert_eq!(unit_name(None), "openclaw-gateway.service");
        assert_eq!(unit_name(Some("default")), "openclaw-gateway.service");
        assert_eq!(unit_name(Some("work")), "openclaw-gateway-work.service");
        let home = Path::new("/home/me");
        let env = Env::new();
        assert_eq!(unit_dir(Scope::System, &env, home), Path::new("/etc/systemd/system"));
        assert_eq!(unit_dir(Scope::User, &env, home), Path::new("/home/me/.config/systemd/user"));
        let env = Env::from([("XDG_CONFIG_HOME".to_string(), "/cfg".to_string())]);
        assert_eq!(unit_dir(Scope::User, &env, home), Path::new("/cfg/systemd/user"));
        let env = Env::from([("OPENCLAW_SYSTEMD_UNIT_DIR".to_string(), "/tmp/units".to_string())]);
        assert_eq!(unit_dir(Scope::System, &env, home), Path::new("/tmp/units"));
    }

    #[test]
    fn etc_files() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\ndeploy:x:1000:1000:,,,:/home/deploy:/bin/bash\nbroken\n";
        assert_eq!(name_for_id(passwd, 1000).as_deref(), Some("deploy"));
        assert_eq!(name_for_id(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_for_id(passwd, 5), None);
        assert_eq!(home_for_id(passwd, 1000), Some(PathBuf::from("/home/deploy")));
        assert_eq!(name_for_id("docker:x:998:deploy\n", 998).as_deref(), Some("docker"));
    }

    #[test]
    fn port_from_the_unit() {
        assert_eq!(port_in_unit("[Service]\nExecStart=/usr/bin/openclaw gateway --port 19001\n"), Some(19001));
        assert_eq!(port_in_unit("ExecStart=/usr/bin/openclaw gateway\n"), None);
        assert_eq!(port_in_unit(&unit_text(&spec()).unwrap()), Some(18789));
    }

    #[test]
    fn status_text() {
        let service = json!({"name": "openclaw-gateway.service", "scope": "user", "unitPath": "/u/openclaw-gateway.service",
            "installed": true, "systemd": true,
            "unit": {"ActiveState": "active", "SubState": "running", "MainPID": "42", "UnitFileState": "enabled"}});
        let gateway = json!({"url": "http://127.0.0.1:18789/healthz", "ok": true, "httpStatus": 200, "status": "live", "ms": 3});
        assert_eq!(
            format_status(&service, &gateway),
            "Service: openclaw-gateway.service (user unit)\nUnit file: /u/openclaw-gateway.service (installed)\n\
             systemd: active (running), pid 42, enabled\nGateway: http://127.0.0.1:18789/healthz answered in 3 ms: healthy (HTTP 200)\n"
        );
        let service = json!({"name": "n", "scope": "system", "unitPath": "/p", "installed": false, "systemd": false, "unit": null});
        let gateway = json!({"url": "http://127.0.0.1:1/healthz", "ok": false, "error": "connection refused"});
        let text = format_status(&service, &gateway);
        assert!(text.contains("(not installed)") && text.contains("systemd: not running on this host"), "{text}");
        assert!(text.contains("did not answer: connection refused"), "{text}");
    }
}
