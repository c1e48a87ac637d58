//! The Docker client end to end: fault cases against a fake engine on a Unix
//! socket in a temporary directory, and the real engine.
//!
//! The real-engine tests always run (the project's test script starts an
//! engine first) and fail with a clear message when none answers; with
//! `OPENCLAW_SKIP_DOCKER_TESTS=1` they print a loud SKIPPED line instead.
//! Every container they create is named `openclaw-test-dockerclient-<pid>-…`
//! and removed by a guard even when an assertion fails. They never pull:
//! only the local `debian:bookworm-slim` image is used.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use openclaw::docker::tar::{self as dtar, ReadLimits, TarWriter};
use openclaw::docker::{
    ApiVersion, CreateSpec, Docker, Error, ExecLimits, ExecSpec, MAX_API_VERSION, Timeouts, Ulimit,
};

const IMAGE: &str = "debian:bookworm-slim";
const NAME_PREFIX: &str = "openclaw-test-dockerclient-";
const VERSION_141: &str = r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64","KernelVersion":"6.1.0"}"#;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------
// Helpers: a temporary directory and a fake engine.

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("openclaw-dockertest-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fake engine: a `UnixListener` whose connections each get a thread
/// that reads one request and hands it to `handler`. It stops accepting by
/// itself after ten seconds.
struct FakeEngine {
    _dir: TempDir,
    socket: PathBuf,
    /// Request lines (`GET /v1.41/… HTTP/1.1`) in arrival order.
    requests: mpsc::Receiver<String>,
}

/// One request as the fake engine read it.
struct FakeRequest {
    line: String,
    body: Vec<u8>,
}

impl FakeEngine {
    fn start<F>(tag: &str, handler: F) -> FakeEngine
    where
        F: Fn(&FakeRequest, &mut BufReader<UnixStream>) + Send + Sync + 'static,
    {
        let dir = TempDir::new(tag);
        let socket = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&socket).expect("bind fake engine");
        listener.set_nonblocking(true).unwrap();
        let (tx, requests) = mpsc::channel();
        let handler = std::sync::Arc::new(handler);
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let tx = tx.clone();
                        let handler = handler.clone();
                        std::thread::spawn(move || {
                            stream.set_nonblocking(false).unwrap();
                            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                            let mut reader = BufReader::new(stream);
                            if let Some(req) = read_request(&mut reader) {
                                let _ = tx.send(req.line.clone());
                                handler(&req, &mut reader);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeEngine { _dir: dir, socket, requests }
    }

    fn docker(&self) -> Docker {
        Docker::new(&self.socket)
    }

    fn seen(&self) -> Vec<String> {
        self.requests.try_iter().collect()
    }
}

fn read_request(r: &mut BufReader<UnixStream>) -> Option<FakeRequest> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    Some(FakeRequest { line: line.trim_end().to_string(), body })
}

fn respond(r: &mut BufReader<UnixStream>, status: &str, body: &str) {
    let text =
        format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let _ = r.get_mut().write_all(text.as_bytes());
}

fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn quick(docker: &Docker) -> Docker {
    docker.with_timeouts(Timeouts {
        connect: Duration::from_secs(1),
        call: Duration::from_millis(300),
        ping: Duration::from_millis(300),
    })
}

// ---------------------------------------------------------------------------
// Faults.

#[test]
fn fault_socket_missing() {
    let dir = TempDir::new("missing");
    let socket = dir.path().join("docker.sock");
    let docker = Docker::new(&socket);
    for result in [docker.ping().map(drop), docker.version().map(drop), docker.container_inspect("x").map(drop)] {
        match result {
            Err(e @ Error::SocketMissing { .. }) => {
                assert!(e.to_string().contains(&socket.display().to_string()), "{e}");
            }
            other => panic!("expected SocketMissing, got {other:?}"),
        }
    }
}

#[test]
fn fault_nobody_listening() {
    let dir = TempDir::new("refused");
    // A socket file left behind by a dead engine, and a plain file.
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let plain = dir.path().join("plain.sock");
    std::fs::write(&plain, b"").unwrap();
    for socket in [stale, plain] {
        match Docker::new(&socket).ping() {
            Err(e @ Error::NotAnswering { .. }) => {
                assert!(e.to_string().contains("not answering"), "{e}");
                assert!(std::error::Error::source(&e).is_some());
            }
            other => panic!("{}: expected NotAnswering, got {other:?}", socket.display()),
        }
    }
}

#[test]
fn fault_engine_never_replies() {
    let engine = FakeEngine::start("silent", |_, _| std::thread::sleep(Duration::from_secs(3)));
    let docker = quick(&engine.docker());
    let started = Instant::now();
    match docker.ping() {
        Err(Error::Timeout { op, after, partial: None }) => {
            assert_eq!(op, "GET /_ping");
            assert_eq!(after, Duration::from_millis(300));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    // A versioned call times out in the negotiation.
    match docker.container_inspect("abc") {
        Err(Error::Timeout { op, .. }) => assert_eq!(op, "GET /version"),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[test]
fn fault_engine_replies_garbage() {
    let engine = FakeEngine::start("garbage", |req, r| {
        let reply: &[u8] = match req.line.split(' ').nth(1).unwrap_or("") {
            "/_ping" => b"\x00\xffnot http at all\r\n\r\n",
            "/version" => b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{\"Api\":[}",
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
        };
        let _ = r.get_mut().write_all(reply);
    });
    let docker = quick(&engine.docker());
    for result in [docker.ping().map(drop), docker.version().map(drop)] {
        match result {
            Err(Error::Protocol(m)) => assert!(!m.is_empty()),
            other => panic!("expected Protocol, got {other:?}"),
        }
    }
}

#[test]
fn fault_truncated_body_and_oversize_head() {
    let engine = FakeEngine::start("truncated", |req, r| {
        let reply = if req.line.contains("/_ping") {
            format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "a".repeat(100_000))
        } else {
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly a few".to_string()
        };
        let _ = r.get_mut().write_all(reply.as_bytes());
    });
    let docker = quick(&engine.docker());
    assert!(matches!(docker.ping(), Err(Error::TooLarge { what: "response head", .. })), "{:?}", docker.ping());
    assert!(matches!(docker.version(), Err(Error::Protocol(m)) if m.contains("truncated")));
}

#[test]
fn fault_engine_error_status() {
    let engine = FakeEngine::start("error", |req, r| {
        if req.line.starts_with("GET /version ") {
            respond(r, "200 OK", VERSION_141);
        } else if req.line.contains("/start") {
            respond(r, "500 Internal Server Error", r#"{"message":"driver failed programming external connectivity"}"#);
        } else {
            respond(r, "404 Not Found", r#"{"message":"No such container: gone"}"#);
        }
    });
    let docker = quick(&engine.docker());
    match docker.container_start("c1") {
        Err(e @ Error::Engine { status: 500, .. }) => {
            assert!(e.to_string().contains("driver failed programming external connectivity"), "{e}");
        }
        other => panic!("expected Engine, got {other:?}"),
    }
    assert!(
        matches!(docker.container_inspect("gone"), Err(Error::NoSuchContainer { container }) if container == "gone")
    );
    assert!(matches!(docker.image_inspect("nope:1"), Err(Error::NoSuchImage { image }) if image == "nope:1"));
}

#[test]
fn negotiates_and_caches_the_api_version() {
    // An engine newer than us: calls go to /v1.43, /version is asked once,
    // and a chunked inspect answer is decoded.
    let engine = FakeEngine::start("negotiate", |req, r| {
        if req.line.starts_with("GET /version ") {
            respond(r, "200 OK", r#"{"Version":"27.0.0","ApiVersion":"1.46","MinAPIVersion":"1.24"}"#);
        } else {
            let body = r#"{"Id":"abc","Name":"/web","State":{"Running":true,"Pid":7},"Config":{"Image":"img"}}"#;
            let (a, b) = body.split_at(10);
            let text = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                a.len(),
                b.len()
            );
            let _ = r.get_mut().write_all(text.as_bytes());
        }
    });
    let docker = engine.docker();
    let clone = docker.with_timeout(Duration::from_secs(5));
    let info = docker.container_inspect("abc").unwrap();
    assert_eq!((info.id.as_str(), info.name.as_str(), info.running, info.pid), ("abc", "web", true, 7));
    clone.container_inspect("abc").unwrap();
    assert_eq!(docker.api_version().unwrap(), Some(MAX_API_VERSION));
    assert_eq!(docker.version().unwrap().version, "27.0.0");
    let seen = engine.seen();
    assert_eq!(
        seen,
        vec![
            "GET /version HTTP/1.1",
            "GET /v1.43/containers/abc/json HTTP/1.1",
            "GET /v1.43/containers/abc/json HTTP/1.1",
        ]
    );

    // Podman's compatible API: no KernelVersion, extra Components, a
    // Podman version string.
    let podman = FakeEngine::start("podman", |req, r| {
        if req.line.starts_with("GET /version ") {
            respond(
                r,
                "200 OK",
                r#"{"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine","Version":"4.3.1"}],"Version":"4.3.1","ApiVersion":"1.41","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}"#,
            );
        } else {
            respond(
                r,
                "200 OK",
                r#"[{"Id":"p1","Names":["/sbx"],"Image":"img","Labels":{"openclaw.sandbox":"1"},"State":"running","Created":1700000000}]"#,
            );
        }
    });
    let docker = podman.docker();
    let list = docker.container_list(true, &["openclaw.sandbox=1"]).unwrap();
    assert_eq!(list[0].names, vec!["sbx"]);
    assert_eq!(list[0].labels.get("openclaw.sandbox").map(String::as_str), Some("1"));
    assert_eq!(docker.api_version().unwrap(), Some(ApiVersion { major: 1, minor: 41 }));
    let seen = podman.seen();
    assert_eq!(
        seen[1],
        "GET /v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22openclaw.sandbox%3D1%22%5D%7D HTTP/1.1"
    );
}

#[test]
fn exec_stream_through_a_fake_engine() {
    // The fake answers 101, reads stdin until we close our side, then
    // echoes it back as stdout after a stderr frame.
    let engine = FakeEngine::start("exec", |req, r| {
        if req.line.starts_with("GET /version ") {
            return respond(r, "200 OK", VERSION_141);
        }
        assert_eq!(req.body, br#"{"Detach":false,"Tty":false}"#);
        let _ = r.get_mut().write_all(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
        let mut stdin = Vec::new();
        r.read_to_end(&mut stdin).unwrap();
        let mut out = frame(2, b"warning\n");
        out.extend(frame(1, &stdin));
        let stream = r.get_mut();
        // Frames split over writes with pauses, as a real stream may be.
        for piece in out.chunks(5) {
            let _ = stream.write_all(piece);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let docker = engine.docker();
    let limits = ExecLimits { output_cap: 1024, deadline: Duration::from_secs(5) };
    let out = docker.exec_start("e1", false, Some(b"piped input"), limits).unwrap();
    assert_eq!(out.stdout, b"piped input");
    assert_eq!(out.stderr, b"warning\n");
    assert!(!out.truncated());
    assert_eq!(engine.seen().last().unwrap(), "POST /v1.41/exec/e1/start HTTP/1.1");
}

// ---------------------------------------------------------------------------
// The real engine.

/// The engine from `DOCKER_HOST`, or `None` (after a loud line) when
/// `OPENCLAW_SKIP_DOCKER_TESTS=1`. Panics with the reason when it does not
/// answer.
fn real_engine(test: &str) -> Option<Docker> {
    if std::env::var("OPENCLAW_SKIP_DOCKER_TESTS").as_deref() == Ok("1") {
        eprintln!("!!!!! {test}: SKIPPED (OPENCLAW_SKIP_DOCKER_TESTS=1) !!!!!");
        return None;
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let docker = Docker::from_env(&env).unwrap_or_else(|e| panic!("{test}: {e}"));
    if let Err(e) = docker.ping() {
        panic!(
            "{test}: these tests need a running Docker engine and none answers: {e}\n\
             Start one (scripts/ensure-docker.sh), or set OPENCLAW_SKIP_DOCKER_TESTS=1 to skip them."
        );
    }
    Some(docker)
}

/// Force-removes its container on drop, even when the test failed.
struct Guard {
    docker: Docker,
    name: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self.docker.container_remove(&self.name, true) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => eprintln!("LEAKED test container {}: {e}", self.name),
        }
    }
}

/// This process's container name prefix.
fn run_prefix() -> String {
    format!("{NAME_PREFIX}{}-", std::process::id())
}

fn unique_name(tag: &str) -> String {
    format!("{}{tag}-{}", run_prefix(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

fn sh(script: &str) -> ExecSpec {
    ExecSpec { cmd: vec!["sh".into(), "-c".into(), script.into()], ..ExecSpec::default() }
}

const LIMITS: ExecLimits = ExecLimits { output_cap: 64 * 1024, deadline: Duration::from_secs(20) };

#[test]
fn real_engine_ping_version_and_images() {
    let Some(docker) = real_engine("real_engine_ping_version_and_images") else { return };
    let version = docker.version().unwrap();
    let theirs = ApiVersion::parse(&version.api_version).expect("engine reports ApiVersion");
    assert!(theirs >= ApiVersion { major: 1, minor: 41 }, "{version:?}");
    assert_eq!(docker.api_version().unwrap(), Some(theirs.min(MAX_API_VERSION)));
    assert!(!version.version.is_empty() && !version.os.is_empty(), "{version:?}");

    let image = docker.image_inspect(IMAGE).unwrap();
    assert!(image.id.starts_with("sha256:"), "{image:?}");
    assert!(image.repo_tags.iter().any(|t| t == IMAGE), "{image:?}");

    match docker.image_inspect("openclaw-test-no-such-image:never") {
        Err(Error::NoSuchImage { image }) => assert_eq!(image, "openclaw-test-no-such-image:never"),
        other => panic!("expected NoSuchImage, got {other:?}"),
    }
}

#[test]
fn real_engine_container_lifecycle() {
    let Some(docker) = real_engine("real_engine_container_lifecycle") else { return };
    let data = TempDir::new("bind");
    let run_label = format!("{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));

    // Create with the hardening knobs.
    let name = unique_name("knobs");
    let spec = CreateSpec {
        image: IMAGE.into(),
        cmd: vec!["sleep".into(), "infinity".into()],
        env: vec!["FOO=bar".into()],
        labels: BTreeMap::from([
            ("openclaw.test".to_string(), "dockerclient".to_string()),
            ("openclaw.test.run".to_string(), run_label.clone()),
        ]),
        hostname: Some("sbx-test".into()),
        network_mode: Some("none".into()),
        read_only_root: true,
        tmpfs: BTreeMap::from([("/tmp".to_string(), "rw,nosuid,size=16m,mode=1777".to_string())]),
        cap_drop: vec!["ALL".into()],
        security_opt: vec!["no-new-privileges".into()],
        pids_limit: Some(64),
        memory: Some(64 << 20),
        memory_swap: Some(128 << 20),
        nano_cpus: Some(500_000_000),
        ulimits: vec![Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 }],
        dns: vec!["192.0.2.53".into()],
        extra_hosts: vec!["example.test:192.0.2.1".into()],
        binds: vec![format!("{}:/data", data.path().display())],
        init: true,
        ..CreateSpec::default()
    };
    let id = docker.container_create(&name, &spec).unwrap();
    let guard = Guard { docker: docker.clone(), name: name.clone() };
    assert!(id.len() >= 12, "{id}");

    // The same name again is a conflict; a missing image is NoSuchImage.
    assert!(matches!(docker.container_create(&name, &spec), Err(Error::Engine { status: 409, .. })));
    let missing = CreateSpec { image: "openclaw-test-no-such-image:never".into(), ..spec.clone() };
    let missing_name = unique_name("noimage");
    let _missing_guard = Guard { docker: docker.clone(), name: missing_name.clone() };
    assert!(matches!(docker.container_create(&missing_name, &missing), Err(Error::NoSuchImage { .. })));

    docker.container_start(&id).unwrap();
    docker.container_start(&id).unwrap(); // already running: not an error

    // Inspect shows what was applied.
    let info = docker.container_inspect(&name).unwrap();
    assert_eq!(info.id, id);
    assert_eq!(info.name, name);
    assert_eq!(info.image, IMAGE);
    assert!(info.running && info.pid > 0, "{info:?}");
    assert_eq!(info.status, "running");
    assert_eq!(info.labels.get("openclaw.test.run"), Some(&run_label));
    let hc = &info.host_config;
    assert!(hc.read_only_root);
    assert_eq!(hc.network_mode, "none");
    assert_eq!(hc.tmpfs.get("/tmp").map(String::as_str), Some("rw,nosuid,size=16m,mode=1777"));
    assert_eq!(hc.cap_drop, vec!["ALL"]);
    assert_eq!(hc.security_opt, vec!["no-new-privileges"]);
    assert_eq!(hc.pids_limit, Some(64));
    assert_eq!(hc.memory, 64 << 20);
    assert_eq!(hc.memory_swap, 128 << 20);
    assert_eq!(hc.nano_cpus, 500_000_000);
    assert_eq!(hc.ulimits, vec![Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 }]);
    assert_eq!(hc.dns, vec!["192.0.2.53"]);
    assert_eq!(hc.extra_hosts, vec!["example.test:192.0.2.1"]);
    assert_eq!(hc.init, Some(true));
    assert!(!hc.auto_remove);
    let mount = info.mounts.iter().find(|m| m.destination == "/data").expect("bind mount listed");
    assert_eq!((mount.source.as_str(), mount.rw, mount.kind.as_str()), (data.path().to_str().unwrap(), true, "bind"));

    // Exec: stdout and stderr apart, exit code.
    let r = docker.exec_run(&id, &sh("echo out; echo err >&2; exit 3"), None, LIMITS).unwrap();
    assert_eq!(r.output.stdout, b"out\n");
    assert_eq!(r.output.stderr, b"err\n");
    assert_eq!(r.exit_code, Some(3));

    // Exec: environment, working directory, user; the limits are live.
    let spec_env = ExecSpec {
        env: vec!["EXTRA=1".into()],
        workdir: Some("/tmp".into()),
        user: Some("65534:65534".into()),
        ..sh(
            "echo $FOO$EXTRA; pwd; id -u; hostname; touch /tmp/ok && echo tmpfs-ok; touch /rootfile 2>/dev/null || echo ro-ok",
        )
    };
    let r = docker.exec_run(&id, &spec_env, None, LIMITS).unwrap();
    assert_eq!(String::from_utf8_lossy(&r.output.stdout), "bar1\n/tmp\n65534\nsbx-test\ntmpfs-ok\nro-ok\n");
    assert_eq!(r.exit_code, Some(0));

    // Exec with stdin, small and larger than a socket buffer.
    let r = docker
        .exec_run(&id, &ExecSpec { cmd: vec!["cat".into()], ..ExecSpec::default() }, Some(b"hello via stdin\n"), LIMITS)
        .unwrap();
    assert_eq!(r.output.stdout, b"hello via stdin\n");
    assert_eq!(r.exit_code, Some(0));
    let big = vec![b'x'; 300_000];
    let r = docker.exec_run(&id, &sh("wc -c"), Some(&big), LIMITS).unwrap();
    assert_eq!(String::from_utf8_lossy(&r.output.stdout).trim(), "300000");

    // Exec output cap: reading goes on, the excess is dropped and reported.
    let capped = ExecLimits { output_cap: 1000, ..LIMITS };
    let r = docker.exec_run(&id, &sh("head -c 100000 /dev/zero; echo done >&2"), None, capped).unwrap();
    assert_eq!(r.output.stdout.len(), 1000);
    assert!(r.output.stdout_truncated && !r.output.stderr_truncated);
    assert_eq!(r.output.stderr, b"done\n");
    assert_eq!(r.exit_code, Some(0));

    // Exec with a TTY: one raw stream.
    let tty = ExecSpec { tty: true, ..sh("echo a; echo b >&2") };
    let r = docker.exec_run(&id, &tty, None, LIMITS).unwrap();
    assert_eq!(String::from_utf8_lossy(&r.output.stdout).replace("\r\n", "\n"), "a\nb\n");
    assert!(r.output.stderr.is_empty());

    // Exec deadline: a timeout, quickly, with the output so far.
    let started = Instant::now();
    let short = ExecLimits { output_cap: 1024, deadline: Duration::from_secs(1) };
    match docker.exec_run(&id, &sh("echo started; sleep 30"), None, short) {
        Err(Error::Timeout { after, partial: Some(out), .. }) => {
            assert_eq!(after, Duration::from_secs(1));
            assert_eq!(out.stdout, b"started\n");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());

    // Archive: put a tree into the bind mount, get a file back.
    let mut tar = TarWriter::new();
    tar.add_file("hello.txt", 0o644, 1_700_000_000, b"hello archive\n").unwrap();
    tar.add_dir("sub", 0o755, 1_700_000_000).unwrap();
    tar.add_file("sub/nested.txt", 0o600, 1_700_000_000, b"nested").unwrap();
    docker.archive_put(&id, "/data", &tar.finish()).unwrap();
    assert_eq!(std::fs::read(data.path().join("sub/nested.txt")).unwrap(), b"nested");
    let got = docker.archive_get(&id, "/data/hello.txt", 1 << 20).unwrap();
    let limits = ReadLimits { max_entries: 10, max_file: 1 << 20, max_total: 1 << 20 };
    let files = dtar::read_files(&got, &limits).unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!((files[0].path.as_str(), files[0].data.as_slice()), ("hello.txt", &b"hello archive\n"[..]));
    assert_eq!(files[0].mode & 0o777, 0o644);
    let tree = dtar::read_files(&docker.archive_get(&id, "/data/sub", 1 << 20).unwrap(), &limits).unwrap();
    assert_eq!(tree.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), vec!["sub/nested.txt"]);
    assert!(matches!(docker.archive_get(&id, "/data/hello.txt", 100), Err(Error::TooLarge { .. })));
    assert!(matches!(docker.archive_get(&id, "/data/missing", 1 << 20), Err(Error::Engine { status: 404, .. })));
    // The root file system is read-only.
    assert!(matches!(docker.archive_put(&id, "/", &TarWriter::new().finish()), Err(Error::Engine { .. })));

    // List by label.
    let label = format!("openclaw.test.run={run_label}");
    let listed = docker.container_list(false, &["openclaw.test=dockerclient", &label]).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].id.as_str(), listed[0].names[0].as_str(), listed[0].state.as_str()),
        (id.as_str(), name.as_str(), "running")
    );
    assert!(docker.container_list(true, &["openclaw.test.run=no-such-run"]).unwrap().is_empty());

    // Stop (the init forwards SIGTERM, so this is quick), wait, inspect.
    docker.container_stop(&id, Duration::from_secs(5)).unwrap();
    docker.container_stop(&id, Duration::from_secs(5)).unwrap(); // already stopped: not an error
    let code = docker.container_wait(&id, Duration::from_secs(10)).unwrap();
    let info = docker.container_inspect(&id).unwrap();
    assert!(!info.running);
    assert_eq!(info.exit_code, code);
    assert!(matches!(docker.exec_create(&id, &sh("true")), Err(Error::Engine { status: 409, .. })));

    // Remove; afterwards the container is gone for every call.
    docker.container_remove(&id, true).unwrap();
    assert!(matches!(docker.container_inspect(&id), Err(Error::NoSuchContainer { .. })));
    assert!(matches!(docker.exec_create(&id, &sh("true")), Err(Error::NoSuchContainer { .. })));
    assert!(matches!(docker.archive_get(&id, "/", 1024), Err(Error::NoSuchContainer { .. })));
    assert!(matches!(docker.container_remove(&id, true), Err(Error::NoSuchContainer { .. })));
    drop(guard);

    // Kill and wait on a second, plain container.
    let plain_name = unique_name("plain");
    let plain =
        CreateSpec { image: IMAGE.into(), cmd: vec!["sleep".into(), "infinity".into()], ..CreateSpec::default() };
    let plain_id = docker.container_create(&plain_name, &plain).unwrap();
    let plain_guard = Guard { docker: docker.clone(), name: plain_name.clone() };
    docker.container_start(&plain_id).unwrap();
    docker.container_kill(&plain_id, "SIGKILL").unwrap();
    assert_eq!(docker.container_wait(&plain_id, Duration::from_secs(10)).unwrap(), 137);
    let info = docker.container_inspect(&plain_id).unwrap();
    assert_eq!((info.running, info.exit_code, info.oom_killed), (false, 137, false));
    assert!(matches!(docker.container_kill(&plain_id, "SIGKILL"), Err(Error::Engine { status: 409, .. })));
    drop(plain_guard);

    // Nothing of this run is left.
    let prefix = run_prefix();
    let left: Vec<String> = docker
        .container_list(true, &[])
        .unwrap()
        .into_iter()
        .flat_map(|c| c.names)
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "containers left behind: {left:?}");
}
