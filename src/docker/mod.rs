//! The Docker Engine API client: the only code in the project that speaks to
//! the Engine. It owns the typed calls (ping, version, image inspect,
//! container create/start/stop/kill/remove/inspect/list/wait, exec with a
//! hijacked stream, archive put/get), the API version negotiation, and the
//! one error type those calls return.
//!
//! Layers, bottom up: `transport.rs` finds and connects the Unix socket and
//! bounds every read and write by the call's deadline; `http.rs` builds
//! request bytes and parses responses (its doc lists the HTTP subset);
//! `stream.rs` splits the exec stream into stdout and stderr; `wire.rs` holds
//! the Engine's PascalCase JSON, which never leaves this module; [`tar`] is a
//! small ustar writer and reader for the archive calls. Everything public
//! here is a domain type: callers (`sandbox`, `prune`, `doctor`) never see
//! the Engine's JSON.
//!
//! What it deliberately does not do: pull or build images, retry, keep
//! connections alive, stream logs or events, speak TCP/TLS, or decide policy
//! (which knobs a sandbox gets is the sandbox module's business). A call is
//! one connection with `Connection: close`, bounded by a deadline
//! ([`Timeouts`]), and logs one `debug` line with method, path, status and
//! elapsed time (never bodies).
//!
//! Version negotiation: the first versioned call on a [`Docker`] handle (and
//! its clones) asks `GET /version` and caches the answer; later calls use the
//! path prefix `/v<min(engine ApiVersion, 1.43)>`. Only `ApiVersion` and
//! `MinAPIVersion` are read, which Docker and Podman both send; an engine
//! that sends no `ApiVersion` is spoken to without a prefix.

mod http;
pub mod own;
mod stream;
pub mod tar;
mod transport;
mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use self::http::{Body, ConnectionMode, HttpError};
use self::own::OwnHint;
use self::stream::{Demux, StreamError};
use self::transport::{Conn, ConnectError};

/// The newest Engine API version this client speaks.
pub const MAX_API_VERSION: ApiVersion = ApiVersion { major: 1, minor: 43 };
/// The oldest Engine API version this client accepts (Docker 17.12; exec
/// `WorkingDir` needs it).
pub const MIN_API_VERSION: ApiVersion = ApiVersion { major: 1, minor: 35 };

/// The largest JSON response body read from the Engine (a long container
/// list is the biggest one in practice).
const MAX_JSON_BODY: usize = 16 * 1024 * 1024;
/// How long `exec_run` waits for the Engine to record an exit code after
/// the exec stream ended.
const EXIT_CODE_GRACE: Duration = Duration::from_secs(2);

/// A handle on one Docker (or Podman) engine.
///
/// Cloning is cheap: an `Arc` (socket path and the cached version) plus the
/// [`Timeouts`], which are per handle so [`Docker::with_timeout`] can give
/// one call a different deadline while sharing the cache.
#[derive(Debug, Clone)]
pub struct Docker {
    inner: Arc<Inner>,
    timeouts: Timeouts,
}

/// The deadlines of a handle's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The most a connect to the socket may take (capped by the call's).
    pub connect: Duration,
    /// The overall deadline of one call: connect, request, whole response.
    pub call: Duration,
    /// The overall deadline of [`Docker::ping`].
    pub ping: Duration,
}

/// An Engine API version such as `1.41`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u16,
    pub minor: u16,
}

/// What `GET /version` says about the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion {
    /// The engine's own version (`20.10.24+dfsg1`, or Podman's `4.3.1`).
    pub version: String,
    /// The newest API version the engine speaks (empty if it did not say).
    pub api_version: String,
    pub min_api_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
}

/// What `image_inspect` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub repo_tags: Vec<String>,
    /// RFC 3339 creation time, when the engine reports one.
    pub created: Option<String>,
    /// `Config.User` (empty: root).
    pub user: String,
    pub working_dir: String,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// Everything a new container gets. The sandbox module fills it; `wire.rs`
/// maps it onto the Engine's `Config` and `HostConfig`. `None`, empty and
/// `false` mean "not sent" (the Engine's default applies), except `init`
/// and `auto_remove`, which are always sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSpec {
    pub image: String,
    /// `Cmd`; empty keeps the image's.
    pub cmd: Vec<String>,
    /// `KEY=value` strings.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub hostname: Option<String>,
    /// `HostConfig.NetworkMode` (`none`, `bridge`, a network name).
    pub network_mode: Option<String>,
    /// `HostConfig.ReadonlyRootfs`.
    pub read_only_root: bool,
    /// `HostConfig.Tmpfs`: mount point to options (`rw,size=64m,mode=1777`).
    pub tmpfs: BTreeMap<String, String>,
    /// `HostConfig.CapDrop` (`ALL`).
    pub cap_drop: Vec<String>,
    /// `HostConfig.SecurityOpt` (`no-new-privileges`, `seccomp=<JSON
    /// profile text>`, `apparmor=<profile>`).
    pub security_opt: Vec<String>,
    pub pids_limit: Option<i64>,
    /// Bytes.
    pub memory: Option<i64>,
    /// Bytes of memory plus swap; `-1` is unlimited swap.
    pub memory_swap: Option<i64>,
    /// CPUs in units of 10^-9.
    pub nano_cpus: Option<i64>,
    pub ulimits: Vec<Ulimit>,
    pub dns: Vec<String>,
    /// `host:ip` strings.
    pub extra_hosts: Vec<String>,
    /// `src:dst[:ro]` strings, passed through unchanged.
    pub binds: Vec<String>,
    /// `HostConfig.Init`: run an init as PID 1 that reaps zombies.
    pub init: bool,
    pub auto_remove: bool,
}

/// One resource limit (`nofile`, `nproc`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// What `container_inspect` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// The name without the Engine's leading `/`.
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// `Config.Image`: the image as the creator named it.
    pub image: String,
    /// `Config.User`.
    pub user: String,
    pub labels: BTreeMap<String, String>,
    pub running: bool,
    /// `created`, `running`, `exited`, … as the engine says.
    pub status: String,
    pub exit_code: i64,
    pub oom_killed: bool,
    /// The host PID of the container's PID 1 (0 when not running).
    pub pid: i64,
    /// RFC 3339; the zero time `0001-01-01T00:00:00Z` when never started.
    pub started_at: String,
    pub finished_at: String,
    pub mounts: Vec<Mount>,
    pub host_config: HostConfigInfo,
}

/// A mount as inspect reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, …
    pub kind: String,
    /// The host path (binds) or volume path.
    pub source: String,
    pub destination: String,
    pub rw: bool,
}

/// The applied `HostConfig`, read back by inspect (the same knobs as
/// [`CreateSpec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfigInfo {
    pub network_mode: String,
    pub read_only_root: bool,
    pub tmpfs: BTreeMap<String, String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    /// `None` when unlimited.
    pub pids_limit: Option<i64>,
    /// 0 when unlimited.
    pub memory: i64,
    pub memory_swap: i64,
    pub nano_cpus: i64,
    pub ulimits: Vec<Ulimit>,
    pub dns: Vec<String>,
    pub extra_hosts: Vec<String>,
    pub binds: Vec<String>,
    /// `None` when the engine default applies.
    pub init: Option<bool>,
    pub auto_remove: bool,
}

/// One element of `container_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSummary {
    pub id: String,
    /// Names without the leading `/`.
    pub names: Vec<String>,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// `running`, `exited`, `created`, …
    pub state: String,
    /// Human text such as `Up 2 minutes`.
    pub status: String,
    /// Unix seconds.
    pub created: i64,
}

/// A command to run in a running container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    /// `KEY=value` strings added to the container's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// With a TTY, stdout and stderr arrive merged as raw bytes (all stdout).
    pub tty: bool,
    /// Whether the process gets a stdin; `exec_start` must then be given
    /// `Some(bytes)` so the stream is closed after them.
    pub attach_stdin: bool,
}

/// Bounds of one exec stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLimits {
    /// Bytes kept per stream; the rest is read and discarded.
    pub output_cap: usize,
    /// The overall deadline, from the start request to the stream's end.
    pub deadline: Duration,
}

/// What an exec wrote, up to the cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// More stdout was written than the cap kept.
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

/// What `exec_inspect` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecInfo {
    /// `None` while running.
    pub exit_code: Option<i64>,
    pub running: bool,
    pub pid: i64,
}

/// What `exec_run` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    pub output: ExecOutput,
    /// `None` if the engine still reported the process running after its
    /// output ended (it closed its streams but kept going).
    pub exit_code: Option<i64>,
}

/// Everything a Docker call can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `DOCKER_HOST` names something this client does not speak.
    BadHost {
        host: String,
        reason: &'static str,
    },
    /// The socket file does not exist: no engine, or a different path.
    SocketMissing {
        path: PathBuf,
    },
    /// The socket exists but this process may not connect to it.
    PermissionDenied {
        path: PathBuf,
        socket_uid: Option<u32>,
        socket_gid: Option<u32>,
        /// The socket group's name, if `/etc/group` knows it.
        socket_group: Option<String>,
        uid: u32,
        gid: u32,
        /// Supplementary groups, from `/proc/self/status`.
        groups: Vec<u32>,
    },
    /// The socket exists but nothing accepts (connection refused) or the
    /// connect failed otherwise.
    NotAnswering {
        path: PathBuf,
        cause: io::Error,
    },
    /// A deadline passed. For an exec stream, `partial` holds the output
    /// collected until then.
    Timeout {
        op: String,
        after: Duration,
        partial: Option<Box<ExecOutput>>,
    },
    /// The engine answered with an error status; `message` is its JSON
    /// `message` (or the body text).
    Engine {
        status: u16,
        message: String,
    },
    NoSuchImage {
        image: String,
    },
    NoSuchContainer {
        container: String,
    },
    /// A response (head or body) went past a cap.
    TooLarge {
        what: &'static str,
        limit: u64,
    },
    /// The engine's answer was not what the API promises.
    Protocol(String),
    /// The connection failed mid-call.
    Io {
        op: String,
        source: io::Error,
    },
}

// ---------------------------------------------------------------------------
// The handle and its calls.

#[derive(Debug)]
struct Inner {
    socket: PathBuf,
    negotiated: OnceLock<Negotiated>,
    own_hint: OwnHint,
    /// `own_container`'s answer, once found.
    own: OnceLock<Option<Arc<ContainerInfo>>>,
}

#[derive(Debug, Clone)]
struct Negotiated {
    engine: EngineVersion,
    /// `/v1.41`, or empty when the engine did not say.
    prefix: String,
}

/// What a 404 from a call means.
#[derive(Debug, Clone, Copy)]
enum NotFound<'a> {
    /// The named container is missing (container calls).
    Container(&'a str),
    /// The named image is missing (image calls).
    Image(&'a str),
    /// The container, or something named in the request (a path in it, the
    /// image or network of a create): decided by the engine's message.
    Mentioned { container: Option<&'a str>, image: Option<&'a str> },
    /// Nothing to map: an `Engine` error.
    Plain,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts { connect: Duration::from_secs(5), call: Duration::from_secs(30), ping: Duration::from_secs(5) }
    }
}

impl Default for ExecLimits {
    fn default() -> ExecLimits {
        ExecLimits { output_cap: 1024 * 1024, deadline: Duration::from_secs(60) }
    }
}

impl ExecOutput {
    /// True when either stream went past the cap.
    pub fn truncated(&self) -> bool {
        self.stdout_truncated || self.stderr_truncated
    }
}

impl ApiVersion {
    /// Parses `1.41`.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (major, minor) = s.trim().split_once('.')?;
        Some(ApiVersion { major: major.parse().ok()?, minor: minor.parse().ok()? })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Docker {
    /// A handle on the engine at the Unix socket `socket`, with default
    /// [`Timeouts`]. Nothing is connected until the first call.
    pub fn new(socket: impl Into<PathBuf>) -> Docker {
        Docker::with_hint(socket.into(), OwnHint::Detect)
    }

    /// A handle like [`Docker::new`] that finds this process's container
    /// as `hint` says (see [`Docker::own_container`]).
    pub fn with_hint(socket: PathBuf, own_hint: OwnHint) -> Docker {
        let inner = Inner { socket, negotiated: OnceLock::new(), own_hint, own: OnceLock::new() };
        Docker { inner: Arc::new(inner), timeouts: Timeouts::default() }
    }

    /// A handle for a `DOCKER_HOST` value (`None` or empty: the default
    /// `/var/run/docker.sock`). Only `unix:///path` is supported.
    pub fn from_docker_host(host: Option<&str>) -> Result<Docker, Error> {
        Ok(Docker::new(transport::socket_from_docker_host(host)?))
    }

    /// [`Docker::from_docker_host`] with `DOCKER_HOST` from `env` (the
    /// process environment as a map, so tests can pass their own), and the
    /// [`own::OVERRIDE_VAR`] hint for [`Docker::own_container`].
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Docker, Error> {
        let socket = transport::socket_from_docker_host(env.get("DOCKER_HOST").map(String::as_str))?;
        Ok(Docker::with_hint(socket, OwnHint::from_value(env.get(own::OVERRIDE_VAR).map(String::as_str))))
    }

    /// The same engine (and version cache) with other deadlines.
    pub fn with_timeouts(&self, timeouts: Timeouts) -> Docker {
        Docker { inner: Arc::clone(&self.inner), timeouts }
    }

    /// The same engine with another overall deadline per call, e.g.
    /// `docker.with_timeout(Duration::from_secs(5)).container_inspect(id)`.
    pub fn with_timeout(&self, call: Duration) -> Docker {
        self.with_timeouts(Timeouts { call, ..self.timeouts })
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The socket path this handle connects to.
    pub fn socket_path(&self) -> &Path {
        &self.inner.socket
    }

    /// `GET /_ping` (unversioned), within `Timeouts::ping`.
    pub fn ping(&self) -> Result<(), Error> {
        let (status, body) = self.send("GET", "/_ping", Body::Empty, false, self.timeouts.ping, 4096)?;
        check(status, &body, NotFound::Plain)
    }

    /// The engine's version, from the cached negotiation.
    pub fn version(&self) -> Result<EngineVersion, Error> {
        Ok(self.negotiated()?.engine.clone())
    }

    /// The API version calls use: `min(engine, MAX_API_VERSION)`; `None` if
    /// the engine did not say (calls then go unversioned).
    pub fn api_version(&self) -> Result<Option<ApiVersion>, Error> {
        Ok(self.negotiated()?.prefix.strip_prefix("/v").and_then(ApiVersion::parse))
    }

    /// `GET /images/{name}/json`. A missing image is `NoSuchImage`.
    pub fn image_inspect(&self, image: &str) -> Result<ImageInfo, Error> {
        let path = format!("/images/{}/json", http::encode_path(image, b"/:@"));
        let body = self.call("GET", &path, Body::Empty, NotFound::Image(image))?;
        Ok(parse_json::<wire::ImageBody>(&body, &path)?.into_domain())
    }

    /// `POST /containers/create?name=…`; returns the new container's id.
    /// A missing image is `NoSuchImage` (nothing is pulled). Engine warnings
    /// are logged at `warn`.
    pub fn container_create(&self, name: &str, spec: &CreateSpec) -> Result<String, Error> {
        let path = format!("/containers/create{}", http::query(&[("name", name)]));
        let json = to_json(&wire::CreateBody::new(spec))?;
        let nf = NotFound::Mentioned { container: None, image: Some(&spec.image) };
        let body = self.call("POST", &path, Body::Json(&json), nf)?;
        let created: wire::IdBody = parse_json(&body, &path)?;
        for warning in created.warnings.unwrap_or_default().iter().filter(|w| !w.is_empty()) {
            log::warn!("docker: creating container {name}: engine warning: {warning}");
        }
        created.id.filter(|id| !id.is_empty()).ok_or_else(|| Error::Protocol(format!("{path}: no Id in the answer")))
    }

    /// `POST /containers/{id}/start`. Starting a running container is not an
    /// error.
    pub fn container_start(&self, container: &str) -> Result<(), Error> {
        let path = format!("/containers/{}/start", encode_id(container));
        self.call("POST", &path, Body::Empty, NotFound::Container(container)).map(drop)
    }

    /// `POST /containers/{id}/stop?t=…`: SIGTERM, then SIGKILL after
    /// `grace` (whole seconds, rounded up). The call's deadline is the
    /// handle's plus `grace`. Stopping a stopped container is not an error.
    pub fn container_stop(&self, container: &str, grace: Duration) -> Result<(), Error> {
        let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let path = format!("/containers/{}/stop{}", encode_id(container), http::query(&[("t", &secs.to_string())]));
        let slow = self.with_timeout(self.timeouts.call + Duration::from_secs(secs));
        slow.call("POST", &path, Body::Empty, NotFound::Container(container)).map(drop)
    }

    /// `POST /containers/{id}/kill?signal=…` (`SIGKILL`, `TERM`, `9`, …).
    pub fn container_kill(&self, container: &str, signal: &str) -> Result<(), Error> {
        let path = format!("/containers/{}/kill{}", encode_id(container), http::query(&[("signal", signal)]));
        self.call("POST", &path, Body::Empty, NotFound::Container(container)).map(drop)
    }

    /// `DELETE /containers/{id}?force=…&v=1`: removes the container and its
    /// anonymous volumes; `force` kills it first if it runs.
    pub fn container_remove(&self, container: &str, force: bool) -> Result<(), Error> {
        let force = if force { "1" } else { "0" };
        let path = format!("/containers/{}{}", encode_id(container), http::query(&[("force", force), ("v", "1")]));
        self.call("DELETE", &path, Body::Empty, NotFound::Container(container)).map(drop)
    }

    /// `GET /containers/{id}/json`.
    pub fn container_inspect(&self, container: &str) -> Result<ContainerInfo, Error> {
        let path = format!("/containers/{}/json", encode_id(container));
        let body = self.call("GET", &path, Body::Empty, NotFound::Container(container))?;
        Ok(parse_json::<wire::ContainerBody>(&body, &path)?.into_domain())
    }

    /// The container this process runs in, as this engine sees it (for
    /// Docker-out-of-Docker: its mounts say where our paths live on the
    /// host), or `None` when the process runs on the host or in a container
    /// this engine does not run. Found as [`own`] describes, once per handle
    /// (and its clones): a container's mounts never change while it runs.
    /// A failed search is not remembered.
    pub fn own_container(&self) -> Result<Option<Arc<ContainerInfo>>, Error> {
        if let Some(found) = self.inner.own.get() {
            return Ok(found.clone());
        }
        let found = match &self.inner.own_hint {
            OwnHint::Host => None,
            OwnHint::Named(name) => Some(self.container_inspect(name)?),
            OwnHint::Detect => {
                let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
                let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
                self.find_own(&own::candidates(&mountinfo, &hostname))?
            }
        };
        match &found {
            Some(c) => log::info!(
                "docker: this process runs in container {} ({}) with {} mount(s); bind sources are given to the engine as host paths",
                short_id(&c.id),
                c.name,
                c.mounts.len()
            ),
            None => log::debug!("docker: this process does not run in a container of this engine"),
        }
        Ok(self.inner.own.get_or_init(|| found.map(Arc::new)).clone())
    }

    /// The first candidate id the engine knows as a container whose id
    /// starts with it.
    fn find_own(&self, candidates: &[String]) -> Result<Option<ContainerInfo>, Error> {
        for id in candidates {
            match self.container_inspect(id) {
                Ok(info) if info.id.starts_with(id.as_str()) => return Ok(Some(info)),
                Ok(info) => log::debug!("docker: {id} names another container ({}); not this process's", short_id(&info.id)),
                Err(e) if e.is_unreachable() || matches!(e, Error::Timeout { .. }) => return Err(e),
                Err(e) => log::debug!("docker: container {id} is not on this engine: {e}"),
            }
        }
        if let Some(id) = candidates.first() {
            log::info!(
                "docker: this process seems to run in container {}, which the engine at {} does not run; bind sources \
                 are given as they are (set {}=<id or name> if that is wrong)",
                short_id(id),
                self.inner.socket.display(),
                own::OVERRIDE_VAR
            );
        }
        Ok(None)
    }

    /// `GET /containers/json`: running containers, or all with `all`,
    /// carrying every label filter (`key` or `key=value`).
    pub fn container_list(&self, all: bool, labels: &[&str]) -> Result<Vec<ContainerSummary>, Error> {
        let mut pairs = vec![("all", if all { "1" } else { "0" })];
        let filters;
        if !labels.is_empty() {
            filters = serde_json::json!({ "label": labels }).to_string();
            pairs.push(("filters", &filters));
        }
        let path = format!("/containers/json{}", http::query(&pairs));
        let body = self.call("GET", &path, Body::Empty, NotFound::Plain)?;
        let list: Vec<wire::SummaryBody> = parse_json(&body, &path)?;
        Ok(list.into_iter().map(wire::SummaryBody::into_domain).collect())
    }

    /// `POST /containers/{id}/wait`: blocks until the container is not
    /// running (at most `timeout`) and returns its exit code.
    pub fn container_wait(&self, container: &str, timeout: Duration) -> Result<i64, Error> {
        let path = format!("/containers/{}/wait", encode_id(container));
        let body = self.with_timeout(timeout).call("POST", &path, Body::Empty, NotFound::Container(container))?;
        let waited: wire::WaitBody = parse_json(&body, &path)?;
        if let Some(message) = waited.error.and_then(|e| e.message).filter(|m| !m.is_empty()) {
            return Err(Error::Engine { status: 200, message });
        }
        waited.status_code.ok_or_else(|| Error::Protocol(format!("{path}: no StatusCode in the answer")))
    }

    /// `POST /containers/{id}/exec`; returns the exec id. stdout and stderr
    /// are always attached.
    pub fn exec_create(&self, container: &str, spec: &ExecSpec) -> Result<String, Error> {
        self.exec_create_inner(container, spec, spec.attach_stdin)
    }

    /// `POST /exec/{id}/start`, hijacking the connection: writes `stdin` (if
    /// `Some`, then closes our sending side so the process reads end of
    /// file), and collects stdout and stderr up to `limits.output_cap` each
    /// until the engine closes the stream. Pass `tty` as the exec was
    /// created. When `limits.deadline` passes first, the error is `Timeout`
    /// with the output so far in `partial`; the process keeps running in the
    /// container (remove or kill the container to stop it).
    pub fn exec_start(
        &self,
        exec_id: &str,
        tty: bool,
        stdin: Option<&[u8]>,
        limits: ExecLimits,
    ) -> Result<ExecOutput, Error> {
        let prefix = self.negotiated()?.prefix.clone();
        let path = format!("/exec/{}/start", encode_id(exec_id));
        let op = format!("POST {path}");
        let started = Instant::now();
        let deadline = started + limits.deadline;
        let after = limits.deadline;
        let json = to_json(&wire::ExecStartBody { detach: false, tty })?;
        let request =
            http::build_request("POST", &format!("{prefix}{path}"), ConnectionMode::UpgradeTcp, Body::Json(&json))
                .map_err(|e| http_error(e, &op, after))?;
        let mut conn = self.connect(deadline, after)?;
        conn.write_all(&request).map_err(|e| io_error(e, &op, after))?;
        let writer = match stdin {
            Some(_) => Some(conn.try_clone().map_err(|e| io_error(e, &op, after))?),
            None => None,
        };
        let mut reader = BufReader::new(conn);
        let head = http::read_final_head(&mut reader).map_err(|e| http_error(e, &op, after))?;
        if head.status != 101 && head.status != 200 {
            let body = http::read_body(&mut reader, &head, MAX_JSON_BODY).unwrap_or_default();
            log_call(&op, head.status, started);
            return Err(status_error(head.status, &body, NotFound::Plain));
        }
        let mut demux = Demux::new(tty, limits.output_cap);
        let pumped = std::thread::scope(|scope| {
            let feeder = writer.map(|mut w| {
                let bytes = stdin.unwrap_or_default();
                scope.spawn(move || {
                    let written = w.write_all(bytes).and_then(|()| w.shutdown_write());
                    if let Err(e) = written {
                        log::debug!("docker exec {exec_id}: writing stdin stopped: {e}");
                    }
                })
            });
            let pumped = stream::pump(&mut reader, &mut demux);
            if let Some(feeder) = feeder {
                let _ = feeder.join();
            }
            pumped
        });
        log_call(&op, head.status, started);
        match pumped {
            Ok(()) => Ok(demux.into_output()),
            Err(StreamError::Io(e)) if transport::is_timeout(&e) => {
                Err(Error::Timeout { op, after, partial: Some(Box::new(demux.into_output())) })
            }
            Err(StreamError::Io(e)) => Err(Error::Io { op, source: e }),
            Err(e @ StreamError::BadFrame { .. }) => Err(Error::Protocol(format!("{op}: {e}"))),
        }
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecInfo, Error> {
        let path = format!("/exec/{}/json", encode_id(exec_id));
        let body = self.call("GET", &path, Body::Empty, NotFound::Plain)?;
        Ok(parse_json::<wire::ExecBody>(&body, &path)?.into_domain())
    }

    /// Create, start and inspect in one: runs `spec` in `container` with
    /// `stdin` (a process gets a stdin when `stdin` is `Some` or
    /// `spec.attach_stdin` is set), all within `limits.deadline`, and returns
    /// the output and exit code. A deadline that passes is `Timeout` with
    /// the partial output, as for [`Docker::exec_start`].
    pub fn exec_run(
        &self,
        container: &str,
        spec: &ExecSpec,
        stdin: Option<&[u8]>,
        limits: ExecLimits,
    ) -> Result<ExecResult, Error> {
        let started = Instant::now();
        let left = || limits.deadline.saturating_sub(started.elapsed());
        let bounded = self.with_timeout(self.timeouts.call.min(limits.deadline));
        let attach = spec.attach_stdin || stdin.is_some();
        let id = bounded.exec_create_inner(container, spec, attach)?;
        let stdin = attach.then(|| stdin.unwrap_or_default());
        let output = match self.exec_start(&id, spec.tty, stdin, ExecLimits { deadline: left(), ..limits }) {
            Err(Error::Timeout { partial, .. }) => {
                return Err(Error::Timeout { op: format!("exec in {container}"), after: limits.deadline, partial });
            }
            other => other?,
        };
        // The stream ends when the process closes its output; the engine
        // records the exit code a moment later.
        let poll_until = Instant::now() + EXIT_CODE_GRACE.min(left());
        let mut info = bounded.exec_inspect(&id)?;
        while info.running && Instant::now() < poll_until {
            std::thread::sleep(Duration::from_millis(10));
            info = bounded.exec_inspect(&id)?;
        }
        let exit_code = if info.running { None } else { info.exit_code };
        Ok(ExecResult { output, exit_code })
    }

    /// `PUT /containers/{id}/archive?path=…`: extracts the tar archive
    /// `tar` into the existing directory `dir` of the container. A missing
    /// container is `NoSuchContainer`; a missing directory or a read-only
    /// root file system is an `Engine` error.
    pub fn archive_put(&self, container: &str, dir: &str, tar: &[u8]) -> Result<(), Error> {
        let path = format!("/containers/{}/archive{}", encode_id(container), http::query(&[("path", dir)]));
        let nf = NotFound::Mentioned { container: Some(container), image: None };
        self.call("PUT", &path, Body::Tar(tar), nf).map(drop)
    }

    /// `GET /containers/{id}/archive?path=…`: the file or directory at
    /// `path` as a tar archive of at most `max_bytes` (more is `TooLarge`).
    /// Read it with [`tar::read_files`].
    pub fn archive_get(&self, container: &str, path: &str, max_bytes: usize) -> Result<Vec<u8>, Error> {
        let target = format!("/containers/{}/archive{}", encode_id(container), http::query(&[("path", path)]));
        let nf = NotFound::Mentioned { container: Some(container), image: None };
        let (status, body) = self.send("GET", &target, Body::Empty, true, self.timeouts.call, max_bytes)?;
        check(status, &body, nf)?;
        Ok(body)
    }

    // -----------------------------------------------------------------------
    // Plumbing.

    fn exec_create_inner(&self, container: &str, spec: &ExecSpec, attach_stdin: bool) -> Result<String, Error> {
        let path = format!("/containers/{}/exec", encode_id(container));
        let json = to_json(&wire::ExecCreateBody::new(spec, attach_stdin))?;
        let body = self.call("POST", &path, Body::Json(&json), NotFound::Container(container))?;
        let created: wire::IdBody = parse_json(&body, &path)?;
        created.id.filter(|id| !id.is_empty()).ok_or_else(|| Error::Protocol(format!("{path}: no Id in the answer")))
    }

    /// The cached version negotiation, done on first use.
    fn negotiated(&self) -> Result<&Negotiated, Error> {
        if let Some(n) = self.inner.negotiated.get() {
            return Ok(n);
        }
        let (status, body) = self.send("GET", "/version", Body::Empty, false, self.timeouts.call, MAX_JSON_BODY)?;
        check(status, &body, NotFound::Plain)?;
        let engine = parse_json::<wire::VersionBody>(&body, "/version")?.into_domain();
        let negotiated = negotiate(engine)?;
        log::debug!(
            "docker: engine {} speaks API {:?}; using {:?}",
            negotiated.engine.version,
            negotiated.engine.api_version,
            negotiated.prefix
        );
        Ok(self.inner.negotiated.get_or_init(|| negotiated))
    }

    /// A versioned call within the handle's deadline; returns the body of a
    /// successful answer and maps error statuses.
    fn call(&self, method: &'static str, path: &str, body: Body<'_>, nf: NotFound<'_>) -> Result<Vec<u8>, Error> {
        let (status, body) = self.send(method, path, body, true, self.timeouts.call, MAX_JSON_BODY)?;
        check(status, &body, nf)?;
        Ok(body)
    }

    /// One request on one connection: connect, write, read the whole
    /// answer, all by one deadline `timeout` from now. `path` is unversioned;
    /// `versioned` adds the negotiated prefix.
    fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Body<'_>,
        versioned: bool,
        timeout: Duration,
        max_body: usize,
    ) -> Result<(u16, Vec<u8>), Error> {
        let prefix = if versioned { self.negotiated()?.prefix.as_str() } else { "" };
        let op = format!("{method} {path}");
        let started = Instant::now();
        let request = http::build_request(method, &format!("{prefix}{path}"), ConnectionMode::Close, body)
            .map_err(|e| http_error(e, &op, timeout))?;
        let result = self.exchange(&request, started + timeout, timeout, max_body).map_err(|e| match e {
            Exchange::Connect(e) => e,
            Exchange::Http(e) => http_error(e, &op, timeout),
        });
        match &result {
            Ok((status, _)) => log_call(&op, *status, started),
            Err(e) => log::debug!("docker {op} -> failed after {} ms: {e}", started.elapsed().as_millis()),
        }
        result
    }

    fn exchange(
        &self,
        request: &[u8],
        deadline: Instant,
        timeout: Duration,
        max_body: usize,
    ) -> Result<(u16, Vec<u8>), Exchange> {
        let mut conn = self.connect(deadline, timeout).map_err(Exchange::Connect)?;
        conn.write_all(request).map_err(|e| Exchange::Http(HttpError::Io(e)))?;
        let mut reader = BufReader::new(conn);
        let (head, body) = http::read_response(&mut reader, max_body).map_err(Exchange::Http)?;
        Ok((head.status, body))
    }

    fn connect(&self, deadline: Instant, timeout: Duration) -> Result<Conn, Error> {
        let socket = &self.inner.socket;
        Conn::connect(socket, self.timeouts.connect, deadline).map_err(|e| match e {
            ConnectError::TimedOut => Error::Timeout {
                op: format!("connect to {}", socket.display()),
                after: self.timeouts.connect.min(timeout),
                partial: None,
            },
            ConnectError::Failed(e) => transport::classify_connect_error(socket, e),
        })
    }
}

/// How `exchange` failed: before HTTP (already classified) or during it.
enum Exchange {
    Connect(Error),
    Http(HttpError),
}

// ---------------------------------------------------------------------------
// Errors.

impl Error {
    /// True for `NoSuchImage` and `NoSuchContainer`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NoSuchImage { .. } | Error::NoSuchContainer { .. })
    }

    /// True when the engine could not be reached at all (missing socket,
    /// permission, refused, bad `DOCKER_HOST`).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::BadHost { .. }
                | Error::SocketMissing { .. }
                | Error::PermissionDenied { .. }
                | Error::NotAnswering { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadHost { host, reason } => write!(f, "DOCKER_HOST={host} cannot be used: {reason}"),
            Error::SocketMissing { path } => write!(
                f,
                "the Docker socket {} does not exist: is the Docker engine installed and running? \
                 (set DOCKER_HOST=unix:///path/to/docker.sock if it listens elsewhere)",
                path.display()
            ),
            Error::PermissionDenied { path, socket_uid, socket_gid, socket_group, uid, gid, groups } => {
                let id = |v: &Option<u32>| v.map_or_else(|| "unknown".to_string(), |v| v.to_string());
                let group = match (socket_group, socket_gid) {
                    (Some(name), Some(g)) => format!("{name} (gid {g})"),
                    (_, g) => format!("gid {}", id(g)),
                };
                let list = if groups.is_empty() {
                    "none".to_string()
                } else {
                    groups.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                };
                write!(
                    f,
                    "permission denied on the Docker socket {}: it is owned by uid {}, group {group}; \
                     this process runs as uid {uid}, gid {gid} with supplementary groups {list}. ",
                    path.display(),
                    id(socket_uid),
                )?;
                let fix_group = socket_group.clone().or_else(|| socket_gid.map(|g| g.to_string()));
                match fix_group {
                    Some(g) => write!(
                        f,
                        "Fix: add the user to the socket's group (`sudo usermod -aG {g} $USER`, then log in again) \
                         or run as root"
                    )?,
                    None => f.write_str("Fix: add the user to the socket's group or run as root")?,
                }
                if socket_gid.is_some_and(|g| g == *gid || groups.contains(&g)) {
                    f.write_str(
                        " (this process is already in that group: check the socket's mode with `ls -l` \
                         and any SELinux/AppArmor policy)",
                    )?;
                }
                Ok(())
            }
            Error::NotAnswering { path, .. } => write!(
                f,
                "the Docker engine at {} is not answering: is dockerd (or `podman system service`) running?",
                path.display()
            ),
            Error::Timeout { op, after, partial } => {
                write!(f, "Docker call {op} timed out after {after:?}")?;
                if let Some(out) = partial {
                    write!(f, " ({} bytes of stdout and {} of stderr collected)", out.stdout.len(), out.stderr.len())?;
                }
                Ok(())
            }
            Error::Engine { status, message } => write!(f, "the Docker engine answered HTTP {status}: {message}"),
            Error::NoSuchImage { image } => write!(
                f,
                "image {image} is not present on the Docker engine (images are never pulled automatically; \
                 build or pull it first)"
            ),
            Error::NoSuchContainer { container } => write!(f, "no such container: {container}"),
            Error::TooLarge { what, limit } => {
                write!(f, "{what} from the Docker engine exceeds the limit of {limit} bytes")
            }
            Error::Protocol(message) => write!(f, "unexpected answer from the Docker engine: {message}"),
            Error::Io { op, .. } => write!(f, "the connection to the Docker engine failed during {op}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::NotAnswering { cause, .. } => Some(cause),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Private helpers.

/// Picks the API version to speak from the engine's answer.
fn negotiate(engine: EngineVersion) -> Result<Negotiated, Error> {
    if engine.api_version.trim().is_empty() {
        return Ok(Negotiated { engine, prefix: String::new() });
    }
    let theirs = ApiVersion::parse(&engine.api_version)
        .ok_or_else(|| Error::Protocol(format!("GET /version: unreadable ApiVersion {:?}", engine.api_version)))?;
    if theirs < MIN_API_VERSION {
        return Err(Error::Protocol(format!(
            "the engine speaks API {theirs}, older than the {MIN_API_VERSION} this client needs; upgrade Docker"
        )));
    }
    let chosen = theirs.min(MAX_API_VERSION);
    if let Some(min) = ApiVersion::parse(&engine.min_api_version).filter(|&m| m > chosen) {
        return Err(Error::Protocol(format!(
            "the engine needs API {min} or newer, but this client speaks at most {MAX_API_VERSION}"
        )));
    }
    Ok(Negotiated { engine, prefix: format!("/v{chosen}") })
}

/// Ok for a success status (and 304, "already in that state"), else the
/// error the status and body describe.
fn check(status: u16, body: &[u8], nf: NotFound<'_>) -> Result<(), Error> {
    if (200..300).contains(&status) || status == 304 {
        return Ok(());
    }
    Err(status_error(status, body, nf))
}

fn status_error(status: u16, body: &[u8], nf: NotFound<'_>) -> Error {
    let message = engine_message(status, body);
    if status == 404 {
        let lower = message.to_ascii_lowercase();
        let says_container = lower.contains("no such container") || lower.contains("no container with");
        let says_image = lower.contains("no such image") || lower.contains("image not known");
        match nf {
            NotFound::Container(c) => return Error::NoSuchContainer { container: c.to_string() },
            NotFound::Image(i) => return Error::NoSuchImage { image: i.to_string() },
            NotFound::Mentioned { container: Some(c), .. } if says_container => {
                return Error::NoSuchContainer { container: c.to_string() };
            }
            NotFound::Mentioned { image: Some(i), .. } if says_image => {
                return Error::NoSuchImage { image: i.to_string() };
            }
            NotFound::Mentioned { .. } | NotFound::Plain => {}
        }
    }
    Error::Engine { status, message }
}

/// The engine's `message`, else the body as text (shortened), else a
/// generic text for the status.
fn engine_message(status: u16, body: &[u8]) -> String {
    if let Ok(wire::ErrorBody { message: Some(m) }) = serde_json::from_slice::<wire::ErrorBody>(body)
        && !m.trim().is_empty()
    {
        return m.trim().to_string();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!("HTTP {status} with an empty body");
    }
    text.chars().take(500).collect()
}

fn parse_json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Protocol(format!("{what}: unreadable JSON: {e}")))
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Protocol(format!("could not encode a request: {e}")))
}

/// A container name or id, or an exec id, as one path segment.
/// The first 12 characters of a container id, as `docker ps` shows it.
fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn encode_id(id: &str) -> String {
    http::encode_path(id, b"")
}

fn http_error(e: HttpError, op: &str, after: Duration) -> Error {
    match e {
        HttpError::Io(e) => io_error(e, op, after),
        HttpError::Malformed(m) => Error::Protocol(format!("{op}: {m}")),
        HttpError::TooLarge { what, limit } => Error::TooLarge { what, limit },
    }
}

fn io_error(e: io::Error, op: &str, after: Duration) -> Error {
    if transport::is_timeout(&e) {
        Error::Timeout { op: op.to_string(), after, partial: None }
    } else {
        Error::Io { op: op.to_string(), source: e }
    }
}

fn log_call(op: &str, status: u16, started: Instant) {
    log::debug!("docker {op} -> {status} ({} ms)", started.elapsed().as_millis());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn engine(api: &str, min: &str) -> EngineVersion {
        EngineVersion {
            version: "20.10.24".into(),
            api_version: api.into(),
            min_api_version: min.into(),
            os: "linux".into(),
            arch: "amd64".into(),
            kernel_version: String::new(),
        }
    }

    #[test]
    fn negotiates_the_lower_version() {
        assert_eq!(negotiate(engine("1.41", "1.12")).unwrap().prefix, "/v1.41");
        assert_eq!(negotiate(engine("1.45", "1.24")).unwrap().prefix, "/v1.43");
        assert_eq!(negotiate(engine("1.43", "")).unwrap().prefix, "/v1.43");
        assert_eq!(negotiate(engine("", "")).unwrap().prefix, "");
        assert!(matches!(negotiate(engine("1.30", "1.12")), Err(Error::Protocol(m)) if m.contains("older")));
        assert!(matches!(negotiate(engine("1.50", "1.44")), Err(Error::Protocol(m)) if m.contains("1.44")));
        assert!(matches!(negotiate(engine("one", "")), Err(Error::Protocol(_))));
        assert_eq!(ApiVersion::parse(" 1.9 "), Some(ApiVersion { major: 1, minor: 9 }));
        assert!(ApiVersion { major: 1, minor: 9 } < ApiVersion { major: 1, minor: 41 });
        assert_eq!(MAX_API_VERSION.to_string(), "1.43");
    }

    #[test]
    fn maps_error_statuses() {
        let missing = br#"{"message":"No such container: abc"}"#;
        assert!(check(200, b"", NotFound::Plain).is_ok());
        assert!(check(304, b"", NotFound::Container("x")).is_ok());
        assert!(matches!(
            check(404, missing, NotFound::Container("abc")),
            Err(Error::NoSuchContainer { container }) if container == "abc"
        ));
        assert!(matches!(
            check(404, br#"{"message":"No such image: x:y"}"#, NotFound::Image("x:y")),
            Err(Error::NoSuchImage { image }) if image == "x:y"
        ));
        let create = NotFound::Mentioned { container: None, image: Some("img") };
        assert!(matches!(check(404, br#"{"message":"No such image: img"}"#, create), Err(Error::NoSuchImage { .. })));
        // Podman's wording.
        let podman = br#"{"cause":"image not known","message":"img: image not known","response":404}"#;
        assert!(matches!(check(404, podman, create), Err(Error::NoSuchImage { .. })));
        // A create 404 about something else stays an Engine error.
        assert!(matches!(
            check(404, br#"{"message":"network foo not found"}"#, create),
            Err(Error::Engine { status: 404, message }) if message == "network foo not found"
        ));
        let archive = NotFound::Mentioned { container: Some("c"), image: None };
        assert!(matches!(check(404, missing, archive), Err(Error::NoSuchContainer { .. })));
        assert!(matches!(
            check(404, br#"{"message":"Could not find the file /nope in container c"}"#, archive),
            Err(Error::Engine { status: 404, .. })
        ));
        assert!(matches!(
            check(500, br#"{"message":"boom"}"#, NotFound::Plain),
            Err(Error::Engine { status: 500, message }) if message == "boom"
        ));
        assert!(matches!(
            check(502, b"  plain text  ", NotFound::Plain),
            Err(Error::Engine { status: 502, message }) if message == "plain text"
        ));
        assert!(matches!(
            check(503, b"", NotFound::Plain),
            Err(Error::Engine { status: 503, message }) if message.contains("empty body")
        ));
    }

    #[test]
    fn permission_denied_display_names_socket_owner_groups_and_fix() {
        let e = Error::PermissionDenied {
            path: "/var/run/docker.sock".into(),
            socket_uid: Some(0),
            socket_gid: Some(998),
            socket_group: Some("docker".into()),
            uid: 1000,
            gid: 1000,
            groups: vec![24, 27],
        };
        let text = e.to_string();
        assert_eq!(
            text,
            "permission denied on the Docker socket /var/run/docker.sock: it is owned by uid 0, group docker \
             (gid 998); this process runs as uid 1000, gid 1000 with supplementary groups 24, 27. Fix: add the \
             user to the socket's group (`sudo usermod -aG docker $USER`, then log in again) or run as root"
        );
        assert!(e.is_unreachable());

        let e = Error::PermissionDenied {
            path: "/run/podman.sock".into(),
            socket_uid: None,
            socket_gid: Some(5),
            socket_group: None,
            uid: 1000,
            gid: 5,
            groups: vec![],
        };
        let text = e.to_string();
        assert!(text.contains("owned by uid unknown, group gid 5"), "{text}");
        assert!(text.contains("supplementary groups none"), "{text}");
        assert!(text.contains("usermod -aG 5 $USER"), "{text}");
        assert!(text.contains("already in that group"), "{text}");
    }

    #[test]
    fn display_texts() {
        let cases: Vec<(Error, &str)> = vec![
            (
                Error::SocketMissing { path: "/var/run/docker.sock".into() },
                "the Docker socket /var/run/docker.sock does not exist: is the Docker engine installed and running? \
                 (set DOCKER_HOST=unix:///path/to/docker.sock if it listens elsewhere)",
            ),
            (
                Error::NotAnswering {
                    path: "/s.sock".into(),
                    cause: io::Error::from(io::ErrorKind::ConnectionRefused),
                },
                "the Docker engine at /s.sock is not answering: is dockerd (or `podman system service`) running?",
            ),
            (
                Error::Timeout { op: "GET /_ping".into(), after: Duration::from_millis(1500), partial: None },
                "Docker call GET /_ping timed out after 1.5s",
            ),
            (
                Error::Timeout {
                    op: "exec in c".into(),
                    after: Duration::from_secs(1),
                    partial: Some(Box::new(ExecOutput { stdout: b"ab".to_vec(), ..ExecOutput::default() })),
                },
                "Docker call exec in c timed out after 1s (2 bytes of stdout and 0 of stderr collected)",
            ),
            (
                Error::Engine { status: 409, message: "Conflict. The container name is in use".into() },
                "the Docker engine answered HTTP 409: Conflict. The container name is in use",
            ),
            (
                Error::NoSuchImage { image: "openclaw-sandbox:bookworm-slim".into() },
                "image openclaw-sandbox:bookworm-slim is not present on the Docker engine (images are never pulled \
                 automatically; build or pull it first)",
            ),
            (Error::NoSuchContainer { container: "x".into() }, "no such container: x"),
            (
                Error::TooLarge { what: "response body", limit: 10 },
                "response body from the Docker engine exceeds the limit of 10 bytes",
            ),
            (Error::Protocol("GET /x: bad".into()), "unexpected answer from the Docker engine: GET /x: bad"),
            (
                Error::BadHost { host: "tcp://h:2375".into(), reason: "no" },
                "DOCKER_HOST=tcp://h:2375 cannot be used: no",
            ),
            (
                Error::Io { op: "GET /x".into(), source: io::Error::from(io::ErrorKind::ConnectionReset) },
                "the connection to the Docker engine failed during GET /x",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn sources_chain_the_cause() {
        let e = Error::NotAnswering { path: "/s".into(), cause: io::Error::from(io::ErrorKind::ConnectionRefused) };
        assert_eq!(e.source().unwrap().to_string(), io::Error::from(io::ErrorKind::ConnectionRefused).to_string());
        assert!(Error::NoSuchContainer { container: "x".into() }.source().is_none());
        assert!(Error::NoSuchContainer { container: "x".into() }.is_not_found());
    }

    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<Error>() <= 128, "{}", std::mem::size_of::<Error>());
    }

    #[test]
    fn handles_are_cheap_and_share_the_cache() {
        let d = Docker::new("/nonexistent.sock");
        let fast = d.with_timeout(Duration::from_millis(10));
        assert!(Arc::ptr_eq(&d.inner, &fast.inner));
        assert_eq!(fast.timeouts().call, Duration::from_millis(10));
        assert_eq!(fast.timeouts().ping, Timeouts::default().ping);
        assert_eq!(d.socket_path(), Path::new("/nonexistent.sock"));
        assert!(matches!(d.ping(), Err(Error::SocketMissing { .. })));
        assert!(matches!(Docker::from_docker_host(Some("tcp://x:1")), Err(Error::BadHost { .. })));
        let env = BTreeMap::from([("DOCKER_HOST".to_string(), "unix:///run/podman/podman.sock".to_string())]);
        assert_eq!(Docker::from_env(&env).unwrap().socket_path(), Path::new("/run/podman/podman.sock"));
        assert_eq!(Docker::from_env(&BTreeMap::new()).unwrap().socket_path(), Path::new("/var/run/docker.sock"));
    }
}
