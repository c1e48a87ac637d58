//! The containerized gateway's host-side pieces: `openclaw gateway probe`
//! (the image's health check) against a real gateway process, and the
//! refusals of `docker-setup.sh` for bad input.
//!
//! The setup tests drive the real script with a fake `docker` (and
//! `docker-compose`) on `PATH`: they cover only what the script must refuse
//! before it touches an engine. The whole flow against the real engine is
//! `scripts/e2e/onboard-docker.sh`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{GatewayProc, Home, Output, TempDir, free_port, output};

#[test]
fn probe_answers_zero_for_a_live_gateway() {
    let home = Home::new("probe-live");
    let gw = GatewayProc::start(&home, &["--allow-unconfigured"]);
    let port = gw.port.to_string();

    // Found through OPENCLAW_GATEWAY_PORT, as inside the image.
    let mut h = Home { dir: TempDir::new("probe-live-cli"), env: vec![("OPENCLAW_GATEWAY_PORT".into(), port.clone())] };
    std::fs::create_dir_all(h.state()).unwrap();
    let out = h.run(&["gateway", "probe"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(&format!("http://127.0.0.1:{port}/healthz answered 200")), "{}", out.stdout);

    // Through gateway.port in the config, no environment.
    h.env.clear();
    h.write_config(&format!("{{ gateway: {{ port: {port}, bind: \"lan\" }} }}"));
    let out = h.run(&["gateway", "probe"]);
    assert_eq!(out.code, 0, "{}", out.all());

    // An explicit URL: a ws:// URL means its /healthz; another path is taken as given.
    let out = h.run(&["gateway", "probe", "--url", &format!("ws://127.0.0.1:{port}")]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = h.run(&["gateway", "probe", "--url", &format!("http://127.0.0.1:{port}/no-such-page")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("answered HTTP 404"), "{}", out.stderr);
}

#[test]
fn probe_fails_clearly_when_nothing_answers() {
    let home = Home::new("probe-dead");
    let port = free_port();
    let out = home.run(&["gateway", "probe", "--url", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("Gateway not healthy") && out.stderr.contains("Connection refused"), "{}", out.stderr);

    // A peer that accepts and never answers: the deadline ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/healthz", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let out = home.run(&["gateway", "probe", "--url", &url, "--timeout", "300"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("Gateway not healthy") && out.stderr.contains("timeout"), "{}", out.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let out = home.run(&["gateway", "probe", "--url", "ftp://127.0.0.1:1"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("invalid URL"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// docker-setup.sh refusals, with fake docker and docker-compose programs.

/// The fake `docker`: logs each call to `$FAKE_LOG`; `compose version`
/// succeeds only with `FAKE_COMPOSE_V2=1`; `version` (the engine check)
/// fails with `$FAKE_ENGINE_ERROR` when set. Anything else is a call the
/// script must not make before its checks passed: exit 99.
const FAKE_DOCKER: &str = r#"#!/bin/sh
echo "docker $*" >> "$FAKE_LOG"
case "$1 $2" in
  "compose version")
    [ "${FAKE_COMPOSE_V2:-}" = 1 ] && { echo "Docker Compose version v2.29.0"; exit 0; }
    echo "docker: unknown command: docker compose" >&2; exit 1 ;;
  "version --format")
    [ -n "${FAKE_ENGINE_ERROR:-}" ] && { echo "$FAKE_ENGINE_ERROR" >&2; exit 1; }
    echo 20.10.24; exit 0 ;;
esac
echo "fake docker: unexpected call: $*" >&2
exit 99
"#;

const FAKE_COMPOSE_V1: &str = r#"#!/bin/sh
echo "docker-compose $*" >> "$FAKE_LOG"
[ "$1" = version ] && { echo "docker-compose version 1.29.2"; exit 0; }
echo "fake docker-compose: unexpected call: $*" >&2
exit 99
"#;

/// A copy of docker-setup.sh in a folder of its own (the script works on
/// the folder it lives in), a `PATH` that has every usual program except
/// docker and docker-compose, plus the fakes a test installs.
struct Setup {
    dir: TempDir,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let dir = TempDir::new(tag);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-setup.sh");
        std::fs::create_dir_all(dir.join("repo")).unwrap();
        std::fs::copy(script, dir.join("repo/docker-setup.sh")).unwrap();
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("home")).unwrap();
        for folder in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            let Ok(entries) = std::fs::read_dir(folder) else { continue };
            for e in entries.flatten() {
                let name = e.file_name();
                let link = dir.join("bin").join(&name);
                if name.to_string_lossy().starts_with("docker") || link.symlink_metadata().is_ok() {
                    continue;
                }
                let _ = std::os::unix::fs::symlink(e.path(), link);
            }
        }
        Setup { dir }
    }

    fn fake(&self, name: &str, script: &str) {
        let path = self.dir.join("bin").join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Both fakes: compose v2 answers, the engine answers.
    fn with_docker(tag: &str) -> Setup {
        let s = Setup::new(tag);
        s.fake("docker", FAKE_DOCKER);
        s
    }

    fn run(&self, env: &[(&str, &str)]) -> Output {
        let mut c = Command::new("bash");
        c.arg(self.dir.join("repo/docker-setup.sh"))
            .env_clear()
            .env("PATH", self.dir.join("bin"))
            .env("HOME", self.dir.join("home"))
            .env("FAKE_LOG", self.dir.join("calls.log"))
            .env("FAKE_COMPOSE_V2", "1")
            .current_dir(self.dir.join("repo"))
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        output(c)
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("calls.log")).unwrap_or_default()
    }

    /// Refused with `message`, exit 1, before building, running or writing anything.
    fn refuses(&self, env: &[(&str, &str)], message: &str) {
        let out = self.run(env);
        assert_eq!(out.code, 1, "{env:?}: {}", out.all());
        assert!(out.stderr.contains(message), "{env:?}: expected {message:?} in:\n{}", out.stderr);
        assert!(!out.stderr.contains("unexpected call"), "{env:?}: {}", out.stderr);
        for made in ["repo/docker-compose.extra.yml", "repo/docker-compose.sandbox.yml", "home/.openclaw"] {
            assert!(!self.dir.join(made).exists(), "{env:?}: {made} was written");
        }
    }
}

#[test]
fn setup_needs_docker_and_compose() {
    let s = Setup::new("setup-nodocker");
    s.refuses(&[], "ERROR: Missing dependency: docker");

    let s = Setup::with_docker("setup-nocompose");
    s.refuses(&[("FAKE_COMPOSE_V2", "0")], "ERROR: Docker Compose not available (try: docker compose version)");

    // docker-compose (v1) is taken when the plugin is missing.
    s.fake("docker-compose", FAKE_COMPOSE_V1);
    s.refuses(&[("FAKE_COMPOSE_V2", "0"), ("OPENCLAW_EXTRA_MOUNTS", "/only-a-source")], "Invalid mount format");
    assert!(s.calls().contains("docker-compose version"), "{}", s.calls());

    // An engine that does not answer, or refuses this user.
    s.refuses(&[("FAKE_ENGINE_ERROR", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")], "Start it (sudo systemctl start docker)");
    s.refuses(
        &[("FAKE_ENGINE_ERROR", "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock")],
        "sudo usermod -aG docker",
    );
}

#[test]
fn setup_refuses_malformed_mounts() {
    let s = Setup::with_docker("setup-mounts");
    for (mounts, bad) in [
        ("/host/only", "/host/only"),
        ("/a b:/c", "/a b:/c"),
        ("/a:/b:ro:z", "/a:/b:ro:z"),
        (":/b", ":/b"),
        ("/a:", "/a:"),
        ("/ok:/ok:ro,  , /second", "/second"),
    ] {
        s.refuses(&[("OPENCLAW_EXTRA_MOUNTS", mounts)], &format!("Invalid mount format '{bad}'. Expected source:target[:options] without spaces."));
    }
    s.refuses(&[("OPENCLAW_EXTRA_MOUNTS", "/a:relative")], "the target 'relative' must be an absolute path");
    s.refuses(&[("OPENCLAW_EXTRA_MOUNTS", "/a$HOME:/b")], "no $, quotes or backslashes");
}

#[test]
fn setup_refuses_bad_names_and_values() {
    let s = Setup::with_docker("setup-values");
    s.refuses(&[("OPENCLAW_HOME_VOLUME", "vols/home")], "OPENCLAW_HOME_VOLUME must be a named volume, not a path: 'vols/home'");
    s.refuses(&[("OPENCLAW_HOME_VOLUME", "my home")], "OPENCLAW_HOME_VOLUME must be a volume name");
    s.refuses(&[("OPENCLAW_HOME_VOLUME", "-dash")], "OPENCLAW_HOME_VOLUME must be a volume name");
    let spaced = s.dir.join("my config");
    s.refuses(&[("OPENCLAW_CONFIG_DIR", spaced.to_str().unwrap())], "OPENCLAW_CONFIG_DIR must not contain spaces");
    assert!(!spaced.exists());
    s.refuses(&[("OPENCLAW_WORKSPACE_DIR", "/tmp/work\tspace")], "OPENCLAW_WORKSPACE_DIR must not contain spaces");
    s.refuses(&[("OPENCLAW_GATEWAY_PORT", "http")], "OPENCLAW_GATEWAY_PORT must be a port number");
    s.refuses(&[("OPENCLAW_BRIDGE_PORT", "70000")], "OPENCLAW_BRIDGE_PORT must be a port number");
    s.refuses(&[("OPENCLAW_GATEWAY_PORT", "18790")], "must differ");
    s.refuses(&[("OPENCLAW_GATEWAY_BIND", "0.0.0.0")], "OPENCLAW_GATEWAY_BIND must be loopback, lan, tailnet, auto or custom");
    s.refuses(&[("OPENCLAW_DOCKER_APT_PACKAGES", "ffmpeg; rm -rf /")], "'ffmpeg;' is not a Debian package name");
    s.refuses(&[("OPENCLAW_IMAGE", "openclaw local")], "OPENCLAW_IMAGE is not an image name");
}

#[test]
fn setup_refuses_an_unusable_socket_for_the_sandbox() {
    let s = Setup::with_docker("setup-socket");
    let plain = s.dir.join("not-a-socket");
    std::fs::write(&plain, "").unwrap();
    fn on(sock: &Path) -> Vec<(&'static str, &str)> {
        vec![("OPENCLAW_SANDBOX", "yes"), ("OPENCLAW_DOCKER_SOCKET", sock.to_str().unwrap())]
    }
    s.refuses(&on(&plain), "is not a socket (set OPENCLAW_DOCKER_SOCKET). Nothing was changed.");
    s.refuses(&on(&s.dir.join("missing.sock")), "is not a socket");
    s.refuses(&[("OPENCLAW_SANDBOX", "1"), ("DOCKER_HOST", "tcp://10.0.0.1:2375")], "Set OPENCLAW_DOCKER_SOCKET");

    let sock = s.dir.join("engine.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.refuses(&on(&sock), "has mode 600");
    s.refuses(&on(&sock), "sudo chmod 660");

    // A group-usable socket passes; the (fake) engine check is next.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o660)).unwrap();
    let mut env = on(&sock);
    env.push(("FAKE_ENGINE_ERROR", "no engine here"));
    s.refuses(&env, "Cannot talk to the Docker Engine: no engine here");
    // Off unless truthy.
    s.refuses(&[("OPENCLAW_SANDBOX", "0"), ("OPENCLAW_DOCKER_SOCKET", "/nowhere"), ("FAKE_ENGINE_ERROR", "x")], "Cannot talk to the Docker Engine");
}

#[test]
fn setup_refusal_leaves_an_existing_env_file_alone() {
    let s = Setup::with_docker("setup-envfile");
    let env_file = s.dir.join("repo/.env");
    let text = "# mine\nOTHER=1\nOPENCLAW_GATEWAY_TOKEN=abc\n";
    std::fs::write(&env_file, text).unwrap();
    s.refuses(&[("OPENCLAW_HOME_VOLUME", "a/b")], "named volume");
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), text);
}
