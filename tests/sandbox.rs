//! The sandbox manager against the real engine: naming and labels, the
//! hardening as seen from inside the container and by inspect, the config
//! hash and hot-window rule, `setupCommand`, the workspace modes,
//! concurrent ensures and the missing-image error.
//!
//! Like the Docker client tests, these always run (with a loud SKIPPED line
//! under `OPENCLAW_SKIP_DOCKER_TESTS=1`) and never pull: they use the local
//! `openclaw-sandbox:bookworm-slim` image. Each test has its own state
//! folder and its own container prefix `openclaw-test-sbx-<pid>-<n>-`, so
//! real sandboxes are never touched, and a guard removes every container
//! with that prefix when the test ends, also when it fails.
//!
//! Two paths the real engine cannot be made to take on cue, a create that
//! loses a race with another process and a container that dies right after
//! its start, are played by a small fake engine on a Unix socket instead.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use openclaw::config::Config;
use openclaw::config::sandbox::Scope;
use openclaw::docker::{ContainerInfo, Docker, ExecLimits, ExecSpec};
use openclaw::paths::{Env, Paths};
use openclaw::sandbox::registry::Entry;
use openclaw::sandbox::{self, Error, Manager, Sandbox};

use crate::util::{Home, PrefixGuard};

const IMAGE: &str = "openclaw-sandbox:bookworm-slim";
const LIMITS: ExecLimits = ExecLimits { output_cap: 64 * 1024, deadline: Duration::from_secs(20) };

static COUNTER: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------
// Helpers.

/// One test's world: a home with a state folder, a container prefix, the
/// engine, and the guard that removes the prefix's containers.
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
        let home = Home::new("sbx");
        let prefix = format!("openclaw-test-sbx-{}-{}-", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let manager = Manager::new(docker.clone(), paths(&home));
        let _guard = PrefixGuard { docker: docker.clone(), prefixes: vec![prefix.clone()] };
        Some(Fixture { home, prefix, docker, manager, _guard })
    }

    /// Writes `openclaw.json` with `agents.defaults.sandbox` = `sandbox`
    /// (the container prefix is added) and loads it.
    fn config(&self, sandbox: serde_json::Value) -> Config {
        self.config_with_prefix(&self.prefix, sandbox)
    }

    fn config_with_prefix(&self, prefix: &str, mut sandbox: serde_json::Value) -> Config {
        let docker = sandbox.as_object_mut().unwrap().entry("docker").or_insert_with(|| serde_json::json!({}));
        docker["containerPrefix"] = prefix.into();
        let text = serde_json::json!({ "agents": { "defaults": { "sandbox": sandbox } } });
        self.home.write_config(&serde_json::to_string_pretty(&text).unwrap());
        let env = Env::new();
        openclaw::config::load(&paths(&self.home), &env, None).unwrap_or_else(|e| panic!("{e}")).config
    }

    fn ensure(&self, config: &Config, session_key: &str) -> Sandbox {
        self.manager.ensure(config, session_key).unwrap_or_else(|e| panic!("ensure {session_key}: {e} ({e:?})"))
    }

    fn inspect(&self, sandbox: &Sandbox) -> ContainerInfo {
        self.docker.container_inspect(&sandbox.name).unwrap()
    }

    /// Runs `script` with `sh -c` in the sandbox; stdout, stderr, exit code.
    fn sh(&self, sandbox: &Sandbox, script: &str) -> (String, String, Option<i64>) {
        let spec = ExecSpec { cmd: vec!["sh".into(), "-c".into(), script.into()], ..ExecSpec::default() };
        let r = self.docker.exec_run(&sandbox.container_id, &spec, None, LIMITS).unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (text(&r.output.stdout), text(&r.output.stderr), r.exit_code)
    }

    /// Names of the containers with this test's prefix.
    fn containers(&self) -> Vec<String> {
        let list = self.docker.container_list(true, &[]).unwrap();
        list.into_iter().flat_map(|c| c.names).filter(|n| n.starts_with(&self.prefix)).collect()
    }
}

fn paths(home: &Home) -> Paths {
    home.paths()
}

/// Captures warnings logged by the crate, so the hot-window warning can be
/// checked word for word. Installed once for the whole test binary.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn && m.target().starts_with("openclaw")
    }

    fn log(&self, r: &log::Record<'_>) {
        let text = r.args().to_string();
        if self.enabled(r.metadata()) && text.starts_with("Sandbox config changed") {
            self.0.lock().unwrap().push(text);
        }
    }

    fn flush(&self) {}
}

/// The capturing logger, or `None` when something else installed a logger
/// first (the wording is then only checked through the pure function).
fn captured_warnings() -> Option<&'static Capture> {
    static CAPTURE: OnceLock<Option<&'static Capture>> = OnceLock::new();
    *CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).ok()?;
        log::set_max_level(log::LevelFilter::Warn);
        Some(capture)
    })
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn sandbox_is_named_labelled_and_hardened() {
    let Some(fx) = Fixture::new("sandbox_is_named_labelled_and_hardened") else { return };
    let config = fx.config(serde_json::json!({ "mode": "all" }));
    let sbx = fx.ensure(&config, "agent:main:main");

    // Name, labels, registry.
    assert_eq!(sbx.name, format!("{}agent-main-f331f052", fx.prefix));
    assert_eq!(sbx.scope_key, "agent:main");
    assert_eq!(sbx.container_workdir, "/workspace");
    assert!(!sbx.config_outdated);
    let info = fx.inspect(&sbx);
    assert!(info.running, "{info:?}");
    assert_eq!(info.image, IMAGE);
    assert_eq!(info.labels.get("openclaw.sandbox").map(String::as_str), Some("1"));
    assert_eq!(info.labels.get("openclaw.sessionKey").map(String::as_str), Some("agent:main"));
    let created: u64 = info.labels["openclaw.createdAtMs"].parse().expect("createdAtMs is a number");
    let hash = &info.labels["openclaw.configHash"];
    assert!(hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");
    let entry = fx.manager.registry().get(&sbx.name).unwrap().expect("registry entry");
    assert_eq!(entry.session_key, "agent:main");
    assert_eq!(entry.config_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(entry.created_at_ms, Some(created));
    assert_eq!(entry.image.as_deref(), Some(IMAGE));

    // From inside: user, capabilities, no-new-privileges, network, file systems, init.
    let (out, _, code) = fx.sh(&sbx, "id -u");
    assert_eq!((out.as_str(), code), ("1000\n", Some(0)));
    let (out, _, _) = fx.sh(&sbx, "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status");
    let status: BTreeMap<&str, &str> =
        out.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim(), v.trim())).collect();
    assert_eq!(status.get("CapEff"), Some(&"0000000000000000"), "{out}");
    assert_eq!(status.get("CapBnd"), Some(&"0000000000000000"), "capDrop ALL empties the bounding set: {out}");
    assert_eq!(status.get("NoNewPrivs"), Some(&"1"), "{out}");
    let (out, _, _) = fx.sh(&sbx, "ls /sys/class/net");
    assert_eq!(out, "lo\n", "network none: only loopback");
    let (_, _, code) = fx.sh(&sbx, "touch /x");
    assert_ne!(code, Some(0), "writing / fails");
    // The user's own home would be writable, but the root file system is read-only.
    let (_, err, code) = fx.sh(&sbx, "touch /home/sandbox/x");
    assert_ne!(code, Some(0));
    assert!(err.contains("Read-only file system"), "{err}");
    let (out, err, code) = fx.sh(&sbx, "touch /tmp/x /var/tmp/x && df -k /tmp | tail -1");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.split_whitespace().nth(1), Some("65536"), "/tmp is capped at 64 MiB: {out}");
    let (out, _, _) = fx.sh(&sbx, "cat /proc/1/comm");
    assert_eq!(out, "docker-init\n", "PID 1 is the engine's init");

    // What the engine applied.
    let hc = &info.host_config;
    assert_eq!(hc.pids_limit, Some(256));
    assert_eq!(hc.memory, 1 << 30);
    assert_eq!(hc.memory_swap, 2 << 30);
    assert_eq!(hc.nano_cpus, 1_000_000_000);
    assert_eq!(hc.init, Some(true));
    assert!(hc.read_only_root);
    assert_eq!(hc.network_mode, "none");
    assert_eq!(hc.cap_drop, vec!["ALL"]);
    assert!(hc.security_opt.iter().any(|o| o == "no-new-privileges"), "{:?}", hc.security_opt);
    for dir in ["/tmp", "/var/tmp", "/run"] {
        assert_eq!(hc.tmpfs.get(dir).map(String::as_str), Some("rw,nosuid,nodev,size=64m"), "{dir}");
    }

    // The workspace folder exists, private, and is what /workspace shows.
    let ws = fx.home.state().join("sandboxes").join("agent-main-f331f052");
    assert_eq!(sbx.workspace_dir, ws);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&ws).unwrap().permissions()) & 0o777;
    assert_eq!(mode, 0o700);

    // A second ensure reuses the container; a stopped one is started again.
    let again = fx.ensure(&config, "agent:main:telegram:group:1");
    assert_eq!(again.container_id, sbx.container_id, "agent scope: one container per agent");
    fx.docker.container_kill(&sbx.name, "SIGKILL").unwrap();
    fx.docker.container_wait(&sbx.name, Duration::from_secs(10)).unwrap();
    let restarted = fx.ensure(&config, "agent:main:main");
    assert_eq!(restarted.container_id, sbx.container_id);
    assert!(fx.inspect(&restarted).running);
    assert_eq!(fx.containers().len(), 1);
}

#[test]
fn config_change_recreates_idle_and_keeps_hot() {
    let Some(fx) = Fixture::new("config_change_recreates_idle_and_keeps_hot") else { return };
    let capture = captured_warnings();
    let first = fx.config(serde_json::json!({ "mode": "all", "scope": "session" }));
    let key = "agent:main:telegram:dm:42";
    let sbx = fx.ensure(&first, key);
    let old_hash = fx.inspect(&sbx).labels["openclaw.configHash"].clone();

    // Changed config, container just used: kept, with the hint.
    let changed = fx.config(serde_json::json!({ "mode": "all", "scope": "session", "docker": { "env": { "FOO": "1" } } }));
    let hot = fx.ensure(&changed, key);
    assert_eq!(hot.container_id, sbx.container_id, "a hot container is kept");
    assert!(hot.config_outdated);
    let entry = fx.manager.registry().get(&sbx.name).unwrap().unwrap();
    assert_eq!(entry.config_hash.as_deref(), Some(old_hash.as_str()), "a kept container keeps its old hash");
    let message = sandbox::config_changed_message(&sbx.name, Scope::Session, key);
    assert_eq!(
        message,
        format!("Sandbox config changed for {} (recently used). Recreate to apply: openclaw sandbox recreate --session {key}", sbx.name)
    );
    match capture {
        Some(c) => assert!(c.0.lock().unwrap().contains(&message), "the warning was logged word for word"),
        None => eprintln!("another logger is installed; the warning's wording is checked without it"),
    }
    let (out, _, _) = fx.sh(&hot, "echo ${FOO:-unset}");
    assert_eq!(out, "unset\n", "the kept container still runs the old config");

    // Idle for more than five minutes: recreated with the new config.
    let idle = Entry { last_used_at_ms: entry.last_used_at_ms - 6 * 60 * 1000, ..entry };
    fx.manager.registry().upsert(idle).unwrap();
    let fresh = fx.ensure(&changed, key);
    assert_ne!(fresh.container_id, sbx.container_id, "an idle outdated container is recreated");
    assert!(!fresh.config_outdated);
    let new_hash = fx.inspect(&fresh).labels["openclaw.configHash"].clone();
    assert_ne!(new_hash, old_hash);
    assert_eq!(fx.manager.registry().get(&sbx.name).unwrap().unwrap().config_hash, Some(new_hash));
    let (out, _, _) = fx.sh(&fresh, "echo ${FOO:-unset}");
    assert_eq!(out, "1\n");
    assert_eq!(fx.containers().len(), 1);
}

#[test]
fn setup_command_runs_once_and_failure_removes_the_container() {
    let Some(fx) = Fixture::new("setup_command_runs_once_and_failure_removes_the_container") else { return };
    let config = fx.config(serde_json::json!({
        "mode": "all",
        "docker": { "setupCommand": "echo ran >> /tmp/setup.log" }
    }));
    let sbx = fx.ensure(&config, "agent:main:main");
    let again = fx.ensure(&config, "agent:main:main");
    assert_eq!(again.container_id, sbx.container_id);
    let (out, _, _) = fx.sh(&sbx, "cat /tmp/setup.log");
    assert_eq!(out, "ran\n", "setupCommand runs once per container");

    let failing = fx.config_with_prefix(
        &format!("{}fail-", fx.prefix),
        serde_json::json!({ "mode": "all", "docker": { "setupCommand": "echo nope; echo bad >&2; exit 3" } }),
    );
    match fx.manager.ensure(&failing, "agent:main:main") {
        Err(Error::SetupFailed { name, exit_code, output, .. }) => {
            assert_eq!(exit_code, Some(3));
            assert!(output.contains("nope") && output.contains("bad"), "{output}");
            assert!(fx.docker.container_inspect(&name).unwrap_err().is_not_found(), "the failed container is removed");
        }
        other => panic!("expected SetupFailed, got {other:?}"),
    }
}

#[test]
fn workspace_modes_mount_the_right_folders() {
    let Some(fx) = Fixture::new("workspace_modes_mount_the_right_folders") else { return };
    let agent_ws = fx.home.state().join("workspace");
    let sandbox_ws = fx.home.state().join("sandboxes").join("agent-main-f331f052");
    let mounts = |mode: &str| -> BTreeMap<String, (String, bool)> {
        let config = fx.config_with_prefix(
            &format!("{}{mode}-", fx.prefix),
            serde_json::json!({ "mode": "all", "workspaceAccess": mode }),
        );
        let sbx = fx.ensure(&config, "agent:main:main");
        fx.inspect(&sbx)
            .mounts
            .into_iter()
            .filter(|m| m.kind == "bind")
            .map(|m| (m.destination, (m.source, m.rw)))
            .collect()
    };
    let s = |p: &std::path::Path| p.to_string_lossy().into_owned();
    assert_eq!(mounts("none"), BTreeMap::from([("/workspace".to_string(), (s(&sandbox_ws), true))]));
    assert_eq!(
        mounts("ro"),
        BTreeMap::from([
            ("/workspace".to_string(), (s(&sandbox_ws), true)),
            ("/agent".to_string(), (s(&agent_ws), false)),
        ])
    );
    assert_eq!(mounts("rw"), BTreeMap::from([("/workspace".to_string(), (s(&agent_ws), true))]));
    assert!(agent_ws.is_dir(), "the mounted agent workspace is created, not left to the engine");
}

#[test]
fn concurrent_ensures_make_one_container() {
    let Some(fx) = Fixture::new("concurrent_ensures_make_one_container") else { return };
    let config = fx.config(serde_json::json!({ "mode": "all" }));
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (fx, config) = (&fx, &config);
                s.spawn(move || fx.ensure(config, &format!("agent:main:thread-{i}")).container_id)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert_eq!(fx.containers().len(), 1);
    assert_eq!(fx.manager.registry().entries().unwrap().len(), 1);
}

#[test]
fn missing_image_is_an_error_naming_the_image() {
    let Some(fx) = Fixture::new("missing_image_is_an_error_naming_the_image") else { return };
    let config = fx.config(serde_json::json!({ "mode": "all", "docker": { "image": "openclaw-test-no-such-image:never" } }));
    let err = fx.manager.ensure(&config, "agent:main:main").unwrap_err();
    assert!(matches!(err, Error::ImageMissing { .. }), "{err:?}");
    assert_eq!(err.to_string(), "Sandbox image not found: openclaw-test-no-such-image:never. Build or pull it first.");
    assert!(fx.containers().is_empty(), "nothing is created, and no other image is used");
}

#[test]
fn seccomp_profile_file_is_read_and_applied() {
    let Some(fx) = Fixture::new("seccomp_profile_file_is_read_and_applied") else { return };
    let profile = fx.home.dir.join("seccomp.json");
    let denied = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#;
    std::fs::write(&profile, denied).unwrap();
    let config = fx.config(serde_json::json!({
        "mode": "all",
        "docker": { "seccompProfile": profile.to_string_lossy() }
    }));
    let sbx = fx.ensure(&config, "agent:main:main");
    let (_, err, code) = fx.sh(&sbx, "mkdir /tmp/d");
    assert_ne!(code, Some(0), "the profile's rule applies");
    assert!(err.contains("Operation not permitted"), "{err}");
    let (_, _, code) = fx.sh(&sbx, "touch /tmp/f");
    assert_eq!(code, Some(0), "everything else is allowed by this profile");

    std::fs::remove_file(&profile).unwrap();
    let other = fx.config_with_prefix(
        &format!("{}gone-", fx.prefix),
        serde_json::json!({ "mode": "all", "docker": { "seccompProfile": profile.to_string_lossy() } }),
    );
    let err = fx.manager.ensure(&other, "agent:main:main").unwrap_err().to_string();
    assert!(err.contains(&profile.display().to_string()), "{err}");
    assert!(err.contains("agents.defaults.sandbox.docker.seccompProfile"), "{err}");
}

/// A fake engine on a Unix socket: one request per connection, answered by
/// `answer(request, earlier requests)` where a request is `METHOD /path`.
/// `GET /version` (API 1.41) and image inspects are answered for it. It
/// stops accepting after ten seconds.
struct FakeEngine {
    socket: std::path::PathBuf,
    seen: std::sync::Arc<Mutex<Vec<String>>>,
}

impl FakeEngine {
    fn start<F>(home: &Home, answer: F) -> FakeEngine
    where
        F: Fn(&str, &[String]) -> (&'static str, String) + Send + 'static,
    {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::os::unix::net::UnixListener;
        use std::time::Instant;

        let socket = home.dir.join("engine.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let seen = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
        let engine_seen = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut r = BufReader::new(stream);
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let mut length = 0;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h.trim_end().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap();
                    }
                }
                r.read_exact(&mut vec![0; length]).unwrap();
                let request = line.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                let earlier = engine_seen.lock().unwrap().clone();
                engine_seen.lock().unwrap().push(request.clone());
                let (status, body) = match request.as_str() {
                    "GET /version" => ("200 OK", r#"{"Version":"24.0.0","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#.to_string()),
                    l if l.starts_with("GET /v1.41/images/") => ("200 OK", format!(r#"{{"Id":"sha256:1","RepoTags":["{IMAGE}"]}}"#)),
                    l => answer(l, &earlier),
                };
                let text =
                    format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                let _ = r.get_mut().write_all(text.as_bytes());
            }
        });
        FakeEngine { socket, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A home whose config sandboxes everything with `prefix`, and the config.
fn fake_home(tag: &str, prefix: &str) -> (Home, Config) {
    let home = Home::new(tag);
    let text = serde_json::json!({
        "agents": { "defaults": { "sandbox": { "mode": "all", "docker": { "containerPrefix": prefix } } } }
    });
    home.write_config(&text.to_string());
    let config = openclaw::config::load(&paths(&home), &Env::new(), None).unwrap().config;
    (home, config)
}

fn not_found() -> (&'static str, String) {
    ("404 Not Found", r#"{"message":"No such container"}"#.to_string())
}

fn unexpected() -> (&'static str, String) {
    ("500 Internal Server Error", r#"{"message":"unexpected in this test"}"#.to_string())
}

/// A create that loses a race with another process (the Engine answers 409)
/// inspects and uses the winner's container. Another process cannot be
/// raced deterministically against the real engine, so a fake engine plays
/// the race: the container is missing at the first inspect and exists when
/// the create arrives.
#[test]
fn create_that_loses_a_race_uses_the_winner() {
    let prefix = "openclaw-test-sbx-race-";
    let (home, config) = fake_home("sbx-race", prefix);
    let cfg = config.sandbox_for("main");
    let workspace = home.state().join("sandboxes").join("agent-main-f331f052");
    let hash = sandbox::hash::config_hash(&cfg.docker, cfg.workspace_access, &workspace, &config.workspace_for("main"), None);
    let name = format!("{prefix}agent-main-f331f052");
    let winner = serde_json::json!({
        "Id": "winner0123456789", "Name": format!("/{name}"),
        "Config": { "Image": IMAGE, "Labels": { "openclaw.sandbox": "1", "openclaw.configHash": hash, "openclaw.createdAtMs": "5" } },
        "State": { "Running": true, "Status": "running", "Pid": 42 }
    })
    .to_string();
    let engine = FakeEngine::start(&home, move |request, earlier| {
        let raced = earlier.iter().any(|l| l.starts_with("POST /v1.41/containers/create"));
        match request {
            l if l.starts_with("GET /v1.41/containers/") && !raced => not_found(),
            l if l.starts_with("GET /v1.41/containers/") => ("200 OK", winner.clone()),
            l if l.starts_with("POST /v1.41/containers/create") => {
                ("409 Conflict", r#"{"message":"Conflict. The container name is already in use"}"#.to_string())
            }
            _ => unexpected(),
        }
    });

    let manager = Manager::new(Docker::new(&engine.socket), paths(&home));
    let sbx = manager.ensure(&config, "agent:main:main").unwrap_or_else(|e| panic!("{e} ({e:?})"));
    assert_eq!(sbx.container_id, "winner0123456789");
    assert!(!sbx.config_outdated);
    let inspect = format!("GET /v1.41/containers/{name}/json");
    assert_eq!(
        engine.seen(),
        vec![
            "GET /version".to_string(),
            format!("GET /v1.41/images/{IMAGE}/json"),
            inspect.clone(),
            format!("POST /v1.41/containers/create?name={name}"),
            inspect,
        ],
        "no start and no setup for the winner's container"
    );
    let entry = manager.registry().get(&name).unwrap().unwrap();
    assert_eq!((entry.created_at_ms, entry.config_hash.as_deref()), (Some(5), Some(hash.as_str())));
}

/// A container that is not running right after its start (its command
/// died at once) is removed, and the error carries its exit code. A real
/// container cannot be made to die reliably before the inspect that
/// follows the start, so the fake engine reports it.
#[test]
fn container_that_dies_at_start_is_removed_and_reported() {
    let prefix = "openclaw-test-sbx-dies-";
    let (home, config) = fake_home("sbx-dies", prefix);
    let name = format!("{prefix}agent-main-f331f052");
    let engine = FakeEngine::start(&home, move |request, earlier| {
        let created = earlier.iter().any(|l| l.starts_with("POST /v1.41/containers/create"));
        match request {
            l if l.starts_with("GET /v1.41/containers/") && !created => not_found(),
            l if l.starts_with("GET /v1.41/containers/") => (
                "200 OK",
                r#"{"Id":"dead0123456789","State":{"Running":false,"Status":"exited","ExitCode":127,"OOMKilled":false}}"#.to_string(),
            ),
            l if l.starts_with("POST /v1.41/containers/create") => ("201 Created", r#"{"Id":"dead0123456789","Warnings":[]}"#.to_string()),
            "POST /v1.41/containers/dead0123456789/start" => ("204 No Content", String::new()),
            l if l.starts_with("DELETE /v1.41/containers/dead0123456789") => ("204 No Content", String::new()),
            _ => unexpected(),
        }
    });

    let manager = Manager::new(Docker::new(&engine.socket), paths(&home));
    match manager.ensure(&config, "agent:main:main") {
        Err(err @ Error::NotRunning { exit_code: 127, .. }) => {
            let text = err.to_string();
            assert!(text.contains(&name) && text.contains("exit code 127") && text.contains("removed"), "{text}");
        }
        other => panic!("expected NotRunning with exit code 127, got {other:?}"),
    }
    let seen = engine.seen();
    assert!(seen.last().is_some_and(|l| l.starts_with("DELETE /v1.41/containers/dead0123456789?force=1")), "{seen:?}");
    assert_eq!(manager.registry().get(&name).unwrap(), None, "a failed sandbox is not recorded");
}

/// The seed document's full `agents.defaults.sandbox` example. As written it
/// cannot start (its seccomp path is a placeholder, and its `setupCommand`
/// needs egress, a writable root and root): both are refused with messages
/// that say so. With a real seccomp file, no AppArmor profile on hosts
/// without AppArmor, and a `setupCommand` that fits the sandbox, every knob
/// shows up in the created container.
#[test]
fn seed_example_applies_every_knob() {
    let Some(fx) = Fixture::new("seed_example_applies_every_knob") else { return };
    let text = std::fs::read_to_string(format!("{}/tests/fixtures/seed-sandbox-full.json5", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let seed: serde_json::Value = json5::from_str(&text).unwrap();
    let mut sandbox = seed["agents"]["defaults"]["sandbox"].clone();

    // As written: the seccomp placeholder is named.
    let config = fx.config(sandbox.clone());
    let err = fx.manager.ensure(&config, "agent:main:work").unwrap_err().to_string();
    assert!(err.contains("/path/to/seccomp.json"), "{err}");
    assert!(fx.containers().is_empty(), "nothing is left behind: {:?}", fx.containers());

    // A real seccomp profile: allow everything but reboot.
    let profile = fx.home.dir.join("seccomp.json");
    std::fs::write(&profile, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["reboot"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
    sandbox["docker"]["seccompProfile"] = profile.to_string_lossy().into_owned().into();
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y");
    if !apparmor {
        sandbox["docker"].as_object_mut().unwrap().remove("apparmorProfile");
    }

    // The seed's apt-get setupCommand fails, and the message says what it needs.
    let config = fx.config(sandbox.clone());
    let err = fx.manager.ensure(&config, "agent:main:work").unwrap_err().to_string();
    assert!(err.contains("setupCommand failed"), "{err}");
    assert!(err.contains("network egress") && err.contains("a writable root") && err.contains("the root user"), "{err}");
    assert!(fx.containers().is_empty(), "the failed container was removed: {:?}", fx.containers());

    // A setupCommand that fits the sandbox: every knob is applied.
    sandbox["docker"]["setupCommand"] = "echo ready > /tmp/setup-done".into();
    let config = fx.config(sandbox);
    let sbx = fx.ensure(&config, "agent:main:work");
    let info = fx.inspect(&sbx);
    let hc = &info.host_config;
    assert_eq!(info.image, IMAGE);
    assert_eq!(info.user, "1000:1000");
    assert!(info.labels.contains_key("openclaw.configHash"), "{:?}", info.labels);
    assert!(hc.read_only_root);
    assert_eq!(hc.network_mode, "none");
    assert_eq!(hc.cap_drop, vec!["ALL".to_string()]);
    let mut tmpfs: Vec<&str> = hc.tmpfs.keys().map(String::as_str).collect();
    tmpfs.sort();
    assert_eq!(tmpfs, ["/run", "/tmp", "/var/tmp"]);
    assert!(hc.tmpfs.values().all(|o| o.contains("size=")), "{:?}", hc.tmpfs);
    assert_eq!(hc.pids_limit, Some(256));
    assert_eq!(hc.memory, 1 << 30);
    assert_eq!(hc.memory_swap, 2 << 30);
    assert_eq!(hc.nano_cpus, 1_000_000_000);
    let ulimit = |name: &str| hc.ulimits.iter().find(|u| u.name == name).map(|u| (u.soft, u.hard));
    assert_eq!(ulimit("nofile"), Some((1024, 2048)));
    assert_eq!(ulimit("nproc"), Some((256, 256)));
    assert!(hc.security_opt.iter().any(|o| o == "no-new-privileges"), "{:?}", hc.security_opt);
    assert!(hc.security_opt.iter().any(|o| o.starts_with("seccomp=") && o.contains("SCMP_ACT_ERRNO")), "{:?}", hc.security_opt);
    if apparmor {
        assert!(hc.security_opt.iter().any(|o| o == "apparmor=openclaw-sandbox"), "{:?}", hc.security_opt);
    }
    assert_eq!(hc.dns, ["1.1.1.1", "8.8.8.8"]);
    assert_eq!(hc.extra_hosts, ["internal.service:10.0.0.5"]);
    assert_eq!(hc.init, Some(true));
    // From inside: the environment, the user and the setupCommand's mark.
    let (out, _, code) = fx.sh(&sbx, "tr '\\0' '\\n' < /proc/1/environ | grep '^LANG='; id -u; cat /tmp/setup-done");
    assert_eq!(code, Some(0));
    assert_eq!(out, "LANG=C.UTF-8\n1000\nready\n");
}

/// A new sandbox workspace gets the agent's bootstrap files it lacks, owned
/// by the container's user; files it already has are not overwritten.
#[test]
fn new_sandbox_workspace_is_seeded_from_the_agent_workspace() {
    let Some(fx) = Fixture::new("new_sandbox_workspace_is_seeded_from_the_agent_workspace") else { return };
    let config = fx.config(serde_json::json!({ "mode": "all", "scope": "session" }));
    let agent_ws = config.workspace_for("main");
    std::fs::create_dir_all(&agent_ws).unwrap();
    std::fs::write(agent_ws.join("AGENTS.md"), "# agents\n").unwrap();
    std::fs::write(agent_ws.join("SOUL.md"), "soul from agent\n").unwrap();
    std::fs::write(agent_ws.join("NOT-SEEDED.md"), "x").unwrap();
    let sandbox_dir = config.sandbox_for("main").workspace_root.join(openclaw::sandbox::keys::slug("agent:main:s1"));
    std::fs::create_dir_all(&sandbox_dir).unwrap();
    std::fs::write(sandbox_dir.join("SOUL.md"), "kept\n").unwrap();
    let sbx = fx.ensure(&config, "agent:main:s1");
    let (out, err, code) = fx.sh(&sbx, "cd /workspace && stat -c '%n %u' AGENTS.md && cat AGENTS.md SOUL.md && ls");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("AGENTS.md 1000\n# agents\nkept\n"), "{out}");
    assert!(!out.contains("NOT-SEEDED"), "{out}");
}
