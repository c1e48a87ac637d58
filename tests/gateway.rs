//! The gateway end to end: the real binary on a real loopback port, spoken
//! to over raw sockets (HTTP written by hand, WebSocket through the
//! library's codec), plus the CLI companions against it. No Docker.
//!
//! Each test starts its own gateway (`Gateway::start`) in its own `Home` on
//! a free port; dropping it stops the process (SIGTERM, then SIGKILL) and
//! fails the test if the gateway's log shows a panic.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use openclaw::crypto::{hex, random_bytes, sha256};
use openclaw::gateway::ws::{self, Decoder, Message, Opcode, Role, check_response, client_request, encode_frame, encode_message, head_len};
use serde_json::{Value, json};

use crate::util::{Home, Output, free_port, output};

const TOKEN: &str = "9c1e7f0a2b4d6e8f1a3c5e7b9d0f2a4c6e8b1d3f5a7c9e0b2d4f6a8c1e3b5d7f";
const NEW_TOKEN: &str = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988";
const ADMIN_SCOPES: &[&str] = &["operator.admin", "operator.read", "operator.write", "operator.pairing"];
const REMOTE: (&str, &str) = ("X-Forwarded-For", "203.0.113.7");
const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- helpers

fn config_with_token(token: &str, extra_gateway: &str) -> String {
    format!("{{\n  gateway: {{\n    mode: 'local',\n    auth: {{ token: '{token}' }},\n{extra_gateway}  }},\n}}\n")
}

/// A home with `gateway.mode: local` and [`TOKEN`], no Docker, fast reloads.
fn home(tag: &str) -> Home {
    let mut h = Home::new(tag);
    h.write_config(&config_with_token(TOKEN, ""));
    h.set_env("DOCKER_HOST", "unix:///nonexistent/openclaw-gateway-test.sock");
    h.set_env("OPENCLAW_GATEWAY_TEST_RELOAD_MS", "100");
    h
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid} failed");
}

/// A running `openclaw gateway`.
struct Gateway<'a> {
    home: &'a Home,
    child: Child,
    port: u16,
    token: String,
    /// What it printed on stdout up to the ready line.
    stdout: String,
    out_path: PathBuf,
    err_path: PathBuf,
}

impl<'a> Gateway<'a> {
    /// Starts the gateway on a free port with `args`, and waits for
    /// `listening on ws://127.0.0.1:<port> (PID <pid>)`.
    fn start(home: &'a Home, args: &[&str]) -> Gateway<'a> {
        static RUN: AtomicUsize = AtomicUsize::new(0);
        for attempt in 0..3 {
            let port = free_port();
            let n = RUN.fetch_add(1, Ordering::Relaxed);
            let out_path = home.dir.join(&format!("gateway-{n}.out"));
            let err_path = home.dir.join(&format!("gateway-{n}.err"));
            let mut cmd = home.command(&[&["gateway", "--port", &port.to_string()], args].concat());
            cmd.stdout(std::fs::File::create(&out_path).unwrap()).stderr(std::fs::File::create(&err_path).unwrap());
            let mut child = cmd.spawn().expect("start openclaw gateway");
            let ready = format!("listening on ws://127.0.0.1:{port} (PID {})", child.id());
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
                if stdout.contains(&ready) {
                    // The rest of the startup lines are printed right after.
                    std::thread::sleep(Duration::from_millis(20));
                    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
                    let token = stdout
                        .split("#token=")
                        .nth(1)
                        .map(|rest| rest.lines().next().unwrap_or("").to_string())
                        .unwrap_or_else(|| TOKEN.to_string());
                    return Gateway { home, child, port, token, stdout, out_path, err_path };
                }
                if let Some(status) = child.try_wait().unwrap() {
                    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
                    if stderr.contains("already in use") && attempt < 2 {
                        break; // another test took the port meanwhile
                    }
                    panic!("the gateway exited ({status}) before it was ready:\nstdout:\n{stdout}\nstderr:\n{stderr}");
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the gateway was not ready within 20 s:\nstdout:\n{stdout}\nstderr:\n{}", std::fs::read_to_string(&err_path).unwrap_or_default());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        unreachable!("no free port after 3 attempts")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The gateway's log (stderr) so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.err_path).unwrap_or_default()
    }

    /// Everything it printed on stdout so far.
    fn stdout_now(&self) -> String {
        std::fs::read_to_string(&self.out_path).unwrap_or_default()
    }

    /// Waits for the process to exit; `None` if it is still running.
    fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM and wait (up to 5 s); the exit code.
    fn stop(&mut self) -> i32 {
        signal(self.pid(), "TERM");
        self.wait_exit(WAIT).expect("the gateway did not stop within 5 s of SIGTERM").code().unwrap_or(-1)
    }

    /// Runs the CLI against this gateway (same home; port through the env).
    fn cli(&self, args: &[&str]) -> Output {
        let mut c = self.home.command(args);
        c.env("OPENCLAW_GATEWAY_PORT", self.port.to_string());
        output(c)
    }

    fn ws(&self, headers: &[(&str, &str)]) -> Result<Ws, Resp> {
        Ws::open(self.port, "/", headers)
    }

    /// An open socket that got `connect.challenge` (panics on a refusal).
    fn open(&self) -> Ws {
        self.ws(&[]).unwrap_or_else(|r| panic!("upgrade refused: {}", r.head))
    }

    /// A socket past `hello-ok` with the gateway token and admin scopes, no
    /// device (allowed: local direct).
    fn operator(&self) -> Ws {
        let mut w = self.open();
        let r = w.connect(params(Some(&self.token)));
        assert_eq!(r["ok"], true, "{r}");
        w
    }

    fn get(&self, path: &str) -> Resp {
        self.request(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", self.port).as_bytes())
    }

    fn request(&self, raw: &[u8]) -> Resp {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(raw).unwrap();
        read_resp(&mut s, &mut Vec::new())
    }

    /// Sends `raw` from another thread (ignoring write errors: the gateway
    /// may answer and close before reading it all) and reads the answer.
    fn request_lossy(&self, raw: Vec<u8>) -> (Resp, Duration) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut w = s.try_clone().unwrap();
        let started = Instant::now();
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(&raw);
        });
        let resp = read_resp(&mut s, &mut Vec::new());
        let took = started.elapsed();
        drop(s);
        let _ = writer.join();
        (resp, took)
    }
}

impl Drop for Gateway<'_> {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
            if self.wait_exit(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        let log = self.log();
        if !std::thread::panicking() && log.contains("panicked") {
            panic!("the gateway panicked:\n{log}");
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
struct Resp {
    status: u16,
    head: String,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Reads one response (head, then `Content-Length` bytes of body, or to EOF).
/// `buf` holds bytes already read.
fn read_resp(s: &mut TcpStream, buf: &mut Vec<u8>) -> Resp {
    let mut chunk = [0u8; 8192];
    let n = loop {
        if let Some(n) = head_len(buf) {
            break n;
        }
        match s.read(&mut chunk) {
            Ok(0) => panic!("connection closed before a response head; got {:?}", String::from_utf8_lossy(buf)),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("no response head ({e}); got {:?}", String::from_utf8_lossy(buf)),
        }
    };
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad status line: {head}"));
    let mut resp = Resp { status, head, body: String::new() };
    let want = resp.header("content-length").and_then(|v| v.parse::<usize>().ok());
    let mut body = buf[n..].to_vec();
    while want.is_none_or(|w| body.len() < w) {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => body.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    resp.body = String::from_utf8_lossy(&body).into_owned();
    resp
}

/// A device identity: 32 random bytes, id = hex SHA-256 of them.
struct Device {
    id: String,
    secret: String,
}

impl Device {
    fn new() -> Device {
        let b = random_bytes::<32>().unwrap();
        Device { id: hex(&sha256(&b)), secret: hex(&b) }
    }

    fn json(&self) -> Value {
        json!({"id": self.id, "secret": self.secret})
    }
}

/// `connect` params as the CLI sends them (client id "cli"), admin scopes.
fn params(token: Option<&str>) -> Value {
    json!({
        "minProtocol": 3,
        "maxProtocol": 3,
        "client": {"id": "cli", "displayName": "gateway test", "version": "1", "platform": "linux", "mode": "cli"},
        "role": "operator",
        "scopes": ADMIN_SCOPES,
        "auth": match token { Some(t) => json!({"token": t}), None => json!({}) },
    })
}

fn with_device(mut p: Value, d: &Device) -> Value {
    p["device"] = d.json();
    p
}

/// A test WebSocket client.
struct Ws {
    s: TcpStream,
    dec: Decoder,
    challenge: Value,
    next_id: u64,
}

impl Ws {
    /// The upgrade and the `connect.challenge`; `Err` with the HTTP answer
    /// when the gateway refuses the upgrade.
    fn open(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<Ws, Resp> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let (key, req) = client_request(&format!("127.0.0.1:{port}"), path, headers).unwrap();
        s.write_all(&req).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let n = loop {
            if let Some(n) = head_len(&buf) {
                break n;
            }
            let k = s.read(&mut chunk).unwrap_or_else(|e| panic!("no upgrade answer: {e}; got {:?}", String::from_utf8_lossy(&buf)));
            assert!(k > 0, "closed before an upgrade answer; got {:?}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..k]);
        };
        if check_response(&buf[..n], &key).is_err() {
            return Err(read_resp(&mut s, &mut buf));
        }
        let mut dec = Decoder::new(Role::Client, ws::Limits { max_frame: 16 << 20, max_message: 16 << 20 });
        dec.feed(&buf[n..]);
        let mut w = Ws { s, dec, challenge: Value::Null, next_id: 1 };
        let c = w.json();
        assert_eq!(c["event"], "connect.challenge", "{c}");
        w.challenge = c;
        Ok(w)
    }

    /// The next message within `timeout`; `None` on timeout. EOF reads as a
    /// Close with code 1006.
    fn recv(&mut self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 16384];
        loop {
            match self.dec.next_message() {
                Ok(Some(m)) => return Some(m),
                Ok(None) => {}
                Err(e) => panic!("the gateway broke the protocol: {e}"),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.s.set_read_timeout(Some(left)).unwrap();
            match self.s.read(&mut chunk) {
                Ok(0) => return Some(Message::Close(Some((1006, "EOF".into())))),
                Ok(k) => self.dec.feed(&chunk[..k]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(Message::Close(Some((1006, "reset".into())))),
            }
        }
    }

    /// The next JSON text frame (pings answered, pongs skipped).
    fn json(&mut self) -> Value {
        loop {
            match self.recv(WAIT) {
                Some(Message::Text(t)) => return serde_json::from_str(&t).unwrap(),
                Some(Message::Ping(p)) => self.send(&Message::Pong(p)),
                Some(Message::Pong(_)) => {}
                Some(m) => panic!("expected a text frame, got {m:?}"),
                None => panic!("no frame within {WAIT:?}"),
            }
        }
    }

    fn send(&mut self, m: &Message) {
        let _ = self.s.write_all(&encode_message(Role::Client, m));
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.s.write_all(bytes);
    }

    fn text(&mut self, v: &Value) {
        self.send(&Message::Text(v.to_string()));
    }

    /// The `res` frame with `id`, skipping events.
    fn res(&mut self, id: &str) -> Value {
        loop {
            let v = self.json();
            if v["type"] == "res" && v["id"] == id {
                return v;
            }
        }
    }

    /// Sends `connect` and returns its `res` frame.
    fn connect(&mut self, params: Value) -> Value {
        self.text(&json!({"type": "req", "id": "connect", "method": "connect", "params": params}));
        self.res("connect")
    }

    /// Calls a method; the whole `res` frame.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = format!("r{}", self.next_id);
        self.next_id += 1;
        self.text(&json!({"type": "req", "id": id, "method": method, "params": params}));
        self.res(&id)
    }

    /// Calls a method that must succeed; its payload.
    fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert_eq!(r["ok"], true, "{method}: {r}");
        r["payload"].clone()
    }

    /// Reads until the gateway closes: (code, reason); 1006 when the
    /// connection ended without a Close frame. Text frames are skipped.
    fn closed_within(&mut self, within: Duration) -> (u16, String) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Some(Message::Close(c)) => return c.unwrap_or((1005, String::new())),
                Some(_) => {}
                None => panic!("the gateway did not close the socket within {within:?}"),
            }
        }
    }

    fn closed(&mut self) -> (u16, String) {
        self.closed_within(WAIT)
    }
}

fn error_of(r: &Value) -> (&str, &str) {
    assert_eq!(r["ok"], false, "expected a refusal: {r}");
    (r["error"]["code"].as_str().unwrap_or(""), r["error"]["message"].as_str().unwrap_or(""))
}

/// Connect refused with `message`, then closed with `code` and the same reason.
fn assert_refused(w: &mut Ws, r: &Value, code: u16, message: &str) {
    let (_, m) = error_of(r);
    assert_eq!(m, message, "{r}");
    let (c, reason) = w.closed();
    assert_eq!((c, reason.as_str()), (code, message));
}

fn read_json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn write_atomically(path: PathBuf, text: &str) {
    let tmp = path.with_extension("test-tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

fn threads(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok()).unwrap()
}

/// Waits until the gateway is back to `n` threads (connection threads end).
fn assert_threads_back_to(pid: u32, n: u64) {
    let deadline = Instant::now() + WAIT;
    while threads(pid) > n {
        assert!(Instant::now() < deadline, "thread leak: {} threads, {n} before", threads(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap()
}

// ---------------------------------------------------------------- startup

#[test]
fn startup_refusals_use_upstream_texts() {
    let home = Home::new("gw-refuse");
    let port = free_port().to_string();
    let out = home.run(&["gateway", "--port", &port]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("Missing config. Run `openclaw setup` or set gateway.mode=local (or pass --allow-unconfigured)."), "{}", out.all());

    home.write_config(&format!("{{ gateway: {{ mode: 'remote', auth: {{ token: '{TOKEN}' }} }} }}"));
    let out = home.run(&["gateway", "--port", &port]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("Gateway start blocked: set gateway.mode=local (current: remote) or pass --allow-unconfigured."), "{}", out.all());

    home.write_config("{ gateway: { mode: 'local' } }");
    let out = home.run(&["gateway", "--port", &port, "--bind", "lan"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("Refusing to bind gateway to lan without auth."), "{}", out.all());
    assert!(out.stderr.contains("OPENCLAW_GATEWAY_TOKEN"), "{}", out.all());

    home.write_config(&config_with_token(TOKEN, ""));
    for bad in ["0", "x", "70000", "-1"] {
        let out = home.run(&["gateway", "--port", bad]);
        assert_eq!(out.code, 1, "--port {bad}: {}", out.all());
        assert!(out.stderr.contains("Invalid port"), "--port {bad}: {}", out.all());
    }
    let out = home.run(&["gateway", "--port", &port, "--bind", "everywhere"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("Invalid --bind (use \"loopback\", \"lan\", \"tailnet\", \"auto\", or \"custom\")"), "{}", out.all());
    let out = home.run(&["gateway", "--port", &port, "--auth", "magic"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("Invalid --auth (use \"token\" or \"password\")"), "{}", out.all());
}

#[test]
fn placeholder_tokens_are_refused_on_lan_and_the_config_is_left_alone() {
    let home = Home::new("gw-placeholder");
    let port = free_port().to_string();
    for token in ["", "undefined", "__OPENCLAW_REDACTED__"] {
        let text = format!("// keep this comment\n{{ gateway: {{ mode: 'local', bind: 'lan', auth: {{ token: '{token}' }} }} }}\n");
        home.write_config(&text);
        let started = Instant::now();
        let out = home.run(&["gateway", "--port", &port]);
        assert_eq!(out.code, 1, "token {token:?}: {}", out.all());
        assert!(out.stderr.contains("Refusing"), "token {token:?}: {}", out.all());
        assert!(!out.stdout.contains("listening on"), "token {token:?}: {}", out.all());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(std::fs::read_to_string(home.config_path()).unwrap(), text, "token {token:?}: the config was rewritten");
        // The same through the flag.
        let out = home.run(&["gateway", "--port", &port, "--bind", "lan", "--token", token]);
        assert_eq!(out.code, 1, "--token {token:?}: {}", out.all());
        assert!(out.stderr.contains("Refusing"), "--token {token:?}: {}", out.all());
        assert_eq!(std::fs::read_to_string(home.config_path()).unwrap(), text);
    }
}

#[test]
fn a_port_in_use_fails_the_start() {
    let home = home("gw-inuse");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = home.run(&["gateway", "--port", &port]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("Gateway failed to start"), "{}", out.all());
    assert!(out.stderr.contains("already in use"), "{}", out.all());
    assert!(out.stderr.contains("If the gateway is supervised, stop it with: openclaw gateway stop"), "{}", out.all());
}

#[test]
fn unconfigured_start_generates_a_token_once() {
    let mut home = Home::new("gw-generate");
    home.set_env("DOCKER_HOST", "unix:///nonexistent/openclaw-gateway-test.sock");
    let token = {
        let gw = Gateway::start(&home, &["--allow-unconfigured"]);
        let line = format!("Dashboard URL: http://127.0.0.1:{}/#token=", gw.port);
        assert!(gw.stdout.contains(&line), "{}", gw.stdout);
        assert_eq!(gw.token.len(), 64, "a 32-byte hex token: {:?}", gw.token);
        assert!(gw.token.bytes().all(|b| b.is_ascii_hexdigit()));
        let saved = read_json_config(&home);
        assert_eq!(saved["gateway"]["auth"]["token"], gw.token.as_str());
        let mode = std::fs::metadata(home.config_path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The generated token is the one in force.
        let mut w = gw.open();
        assert_eq!(w.connect(params(Some(&gw.token)))["ok"], true);
        assert!(!gw.log().contains(&gw.token), "the token must not reach the log");
        gw.token.clone()
    };
    let mut gw = Gateway::start(&home, &["--allow-unconfigured"]);
    assert!(!gw.stdout.contains("#token="), "printed once only: {}", gw.stdout);
    assert!(!gw.stdout.contains(&token), "{}", gw.stdout);
    assert_eq!(read_json_config(&home)["gateway"]["auth"]["token"], token.as_str(), "kept, not regenerated");
    let mut w = gw.open();
    assert_eq!(w.connect(params(Some(&token)))["ok"], true);
    drop(w);
    assert_eq!(gw.stop(), 0);
    assert!(!gw.stdout_now().contains(&token));
}

fn read_json_config(home: &Home) -> Value {
    let text = std::fs::read_to_string(home.config_path()).unwrap();
    json5::from_str(&text).unwrap()
}

#[test]
fn sigterm_and_sigint_stop_the_gateway_and_close_sockets_1001() {
    for sig in ["TERM", "INT"] {
        let home = home("gw-signal");
        let mut gw = Gateway::start(&home, &[]);
        let mut w = gw.operator();
        let mut pending = gw.open(); // not yet past the handshake
        let started = Instant::now();
        signal(gw.pid(), sig);
        let mut saw_shutdown = false;
        let close = loop {
            match w.recv(Duration::from_secs(2)) {
                Some(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    saw_shutdown |= v["event"] == "shutdown";
                }
                Some(Message::Close(c)) => break c.unwrap(),
                Some(_) => {}
                None => panic!("SIG{sig}: no close within 2 s"),
            }
        };
        assert_eq!(close.0, 1001, "SIG{sig}: {close:?}");
        assert!(saw_shutdown, "SIG{sig}: a shutdown event comes before the close");
        let status = gw.wait_exit(Duration::from_secs(2)).unwrap_or_else(|| panic!("SIG{sig}: still running after 2 s"));
        assert_eq!(status.code(), Some(0), "SIG{sig}: {status}\n{}", gw.log());
        assert!(started.elapsed() < Duration::from_millis(2500));
        // The socket still in its handshake ends too.
        let (code, _) = pending.closed_within(Duration::from_secs(2));
        assert!(code == 1001 || code == 1006, "SIG{sig}: {code}");
        assert!(gw.log().contains("shutting down"), "{}", gw.log());
    }
}

// ---------------------------------------------------------------- HTTP

#[test]
fn probes_answer_without_auth_and_say_nothing_else() {
    let home = home("gw-probes");
    let gw = Gateway::start(&home, &[]);
    for path in ["/healthz", "/readyz", "/health", "/ready"] {
        let r = gw.get(path);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["ok", "status"], "{path}: {v}");
        assert_eq!(v["ok"], true);
        assert!(r.header("content-type").unwrap().starts_with("application/json"), "{r:?}");
    }
    let r = gw.request(format!("POST /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", gw.port).as_bytes());
    assert_eq!(r.status, 405, "{r:?}");
    // Keep-alive: two requests on one connection.
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let req = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", gw.port);
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_resp(&mut s, &mut buf).status, 200);
    s.write_all(req.as_bytes()).unwrap();
    assert_eq!(read_resp(&mut s, &mut Vec::new()).status, 200);
}

#[test]
fn control_ui_is_served_with_security_headers_and_nothing_from_disk() {
    let home = home("gw-ui");
    let gw = Gateway::start(&home, &[]);
    let r = gw.get("/");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-type").unwrap().starts_with("text/html"), "{r:?}");
    let csp = r.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src"), "{csp}");
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert!(!r.body.contains(TOKEN));
    let r = gw.get("/app.js");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-type").unwrap().contains("javascript"), "{r:?}");
    assert!(!r.body.is_empty() && !r.body.contains(TOKEN));
    assert_eq!(gw.get("/no-such-page").status, 404);
    for path in ["/../etc/passwd", "/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd", "/app.js/../../etc/passwd", "//etc/passwd"] {
        let r = gw.get(path);
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert!(!r.body.contains("root:"), "{path}: {}", r.body);
    }
}

#[test]
fn tokens_in_the_query_are_refused_and_never_logged() {
    let home = home("gw-query");
    let gw = Gateway::start(&home, &["--verbose"]);
    for path in [format!("/?token={TOKEN}"), format!("/healthz?token={TOKEN}"), format!("/app.js?x=1&token={TOKEN}"), format!("/nothing?password={TOKEN}")] {
        let r = gw.get(&path);
        assert_eq!(r.status, 400, "{path}: {r:?}");
        assert!(!r.body.contains(TOKEN), "{path}: {}", r.body);
        assert!(r.body.contains("#token="), "{path}: the answer says what to do instead: {}", r.body);
    }
    // A token in the upgrade URL is not a credential either.
    let mut w = Ws::open(gw.port, &format!("/?token={TOKEN}"), &[]).unwrap();
    let r = w.connect(params(None));
    assert_refused(&mut w, &r, 1008, "unauthorized: gateway token missing (set gateway.remote.token to match gateway.auth.token)");
    std::thread::sleep(Duration::from_millis(100));
    let log = gw.log();
    assert!(!log.contains(TOKEN), "the token reached the log:\n{log}");
    assert!(!log.contains(&TOKEN[..16]), "part of the token reached the log:\n{log}");
}

#[test]
fn a_foreign_host_header_is_misdirected() {
    let home = home("gw-host");
    let gw = Gateway::start(&home, &[]);
    let r = gw.request(b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 421, "{r:?}");
    let r = gw.request(format!("GET /healthz HTTP/1.1\r\nHost: evil.example:{}\r\nConnection: close\r\n\r\n", gw.port).as_bytes());
    assert_eq!(r.status, 421, "{r:?}");
    // The same for an upgrade.
    let r = gw.request(
        b"GET / HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(r.status, 421, "{r:?}");
    let r = gw.request(format!("GET / HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n", gw.port).as_bytes());
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn adversarial_framing_is_refused() {
    let home = home("gw-framing");
    let gw = Gateway::start(&home, &[]);
    let host = format!("Host: 127.0.0.1:{}\r\n", gw.port);

    // A huge declared body with one byte sent: 413 at once.
    let (r, took) = gw.request_lossy(format!("POST / HTTP/1.1\r\n{host}Content-Length: 10000000000\r\n\r\nx").into_bytes());
    assert_eq!(r.status, 413, "{r:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (r, _) = gw.request_lossy(format!("GET /healthz HTTP/1.1\r\n{host}Content-Length: 10000000000\r\n\r\nx").into_bytes());
    assert_eq!(r.status, 413, "{r:?}");

    // Smuggling shapes.
    let (r, _) = gw.request_lossy(format!("POST / HTTP/1.1\r\n{host}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").into_bytes());
    assert_eq!(r.status, 400, "{r:?}");
    let (r, _) = gw.request_lossy(format!("POST / HTTP/1.1\r\n{host}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!").into_bytes());
    assert_eq!(r.status, 400, "{r:?}");

    // Heads too large.
    let long = format!("GET / HTTP/1.1\r\n{host}X-Long: {}\r\n\r\n", "a".repeat(100 * 1024));
    let (r, _) = gw.request_lossy(long.into_bytes());
    assert_eq!(r.status, 431, "{r:?}");
    let mut many = format!("GET / HTTP/1.1\r\n{host}");
    for i in 0..10_000 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let (r, _) = gw.request_lossy(many.into_bytes());
    assert_eq!(r.status, 431, "{r:?}");

    // A chunked body past the 1 MiB cap.
    let mut chunked = format!("POST /nothing HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n").into_bytes();
    let piece = vec![b'z'; 64 * 1024];
    for _ in 0..24 {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(&piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (r, _) = gw.request_lossy(chunked);
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.header("connection").as_deref(), Some("close"), "{r:?}");

    // Still serving.
    assert_eq!(gw.get("/healthz").status, 200);
}

#[test]
fn slowloris_drippers_do_not_starve_real_requests() {
    let home = home("gw-slowloris");
    let gw = Gateway::start(&home, &[]);
    let line = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Drip: ", gw.port);
    let mut drippers: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(("127.0.0.1", gw.port)).unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    for s in &mut drippers {
        s.write_all(&line.as_bytes()[..1]).unwrap();
    }
    let clones: Vec<TcpStream> = drippers.iter().map(|s| s.try_clone().unwrap()).collect();
    let drip = {
        let stop = Arc::clone(&stop);
        let line = line.clone();
        std::thread::spawn(move || {
            let mut clones = clones;
            let mut at = 1;
            while !stop.load(Ordering::Relaxed) {
                for s in &mut clones {
                    let _ = s.write_all(&[*line.as_bytes().get(at).unwrap_or(&b'x')]);
                }
                at += 1;
                for _ in 0..10 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
    };
    let until = Instant::now() + Duration::from_secs(3);
    let mut asked = 0;
    while Instant::now() < until {
        let started = Instant::now();
        let r = gw.get("/healthz");
        let took = started.elapsed();
        assert_eq!(r.status, 200);
        assert!(took < Duration::from_secs(1), "GET /healthz took {took:?} with 200 drippers connected");
        asked += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(asked >= 5);
    // Still dripping, they are cut off at the 10 s head deadline (counted
    // from their first byte), not kept forever.
    let first_byte = until - Duration::from_secs(3);
    for s in &mut drippers {
        let left = (first_byte + Duration::from_secs(13)).saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        s.set_read_timeout(Some(left)).unwrap();
        let mut b = [0u8; 512];
        match s.read(&mut b) {
            Ok(_) => {} // EOF, or a 408 before it
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!("a dripper was still connected 13 s after its first byte"),
            Err(_) => {} // reset
        }
    }
    assert!(first_byte.elapsed() >= Duration::from_secs(9), "closed before the deadline: {:?}", first_byte.elapsed());
    stop.store(true, Ordering::Relaxed);
    drip.join().unwrap();
    drop(drippers);
}

// ---------------------------------------------------------------- WebSocket

#[test]
fn handshake_happy_path() {
    let home = home("gw-hello");
    let gw = Gateway::start(&home, &[]);
    let mut w = gw.open();
    let nonce = w.challenge["payload"]["nonce"].as_str().unwrap();
    assert!(nonce.len() >= 16, "{}", w.challenge);
    assert!(w.challenge["payload"]["ts"].is_u64());
    let r = w.connect(params(Some(TOKEN)));
    assert_eq!(r["ok"], true, "{r}");
    let hello = &r["payload"];
    assert_eq!(hello["type"], "hello-ok");
    assert_eq!(hello["protocol"], 3);
    let methods: Vec<&str> = hello["features"]["methods"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(methods.contains(&"health") && methods.contains(&"config.get"), "{methods:?}");
    assert_eq!(hello["policy"]["maxPayload"], 524288);
    assert!(hello["server"]["connId"].is_string());
    assert!(hello["snapshot"]["health"]["ok"] == true);
    assert!(hello.get("auth").is_none(), "no device, no device token: {hello}");
    let h = w.ok("health", json!({}));
    assert_eq!(h["ok"], true);
    // A second challenge per socket is a fresh nonce.
    let other = gw.open();
    assert_ne!(other.challenge["payload"]["nonce"], w.challenge["payload"]["nonce"]);
}

#[test]
fn the_first_frame_must_be_a_connect_request() {
    let home = home("gw-first");
    let gw = Gateway::start(&home, &[]);
    let baseline = threads(gw.pid());

    let mut w = gw.open();
    w.text(&json!({"type": "req", "id": "1", "method": "health", "params": {}}));
    let r = w.res("1");
    assert_eq!(error_of(&r), ("INVALID_REQUEST", "invalid handshake: first request must be connect"));
    assert_eq!(w.closed(), (1008, "invalid handshake: first request must be connect".to_string()));

    let mut w = gw.open();
    w.send(&Message::Text("{not json".into()));
    assert_eq!(w.closed(), (1008, "invalid request frame".to_string()));

    let mut w = gw.open();
    w.text(&json!({"type": "event", "event": "connect"}));
    assert_eq!(w.closed(), (1008, "invalid request frame".to_string()));

    let mut w = gw.open();
    w.send(&Message::Binary(b"{\"type\":\"req\"}".to_vec()));
    assert_eq!(w.closed().0, 1008);

    let mut w = gw.open();
    let r = w.connect(json!({"minProtocol": 3}));
    let (code, msg) = error_of(&r);
    assert_eq!(code, "INVALID_REQUEST");
    assert!(msg.starts_with("invalid connect params: "), "{msg}");
    assert_eq!(w.closed(), (1008, msg.to_string()));

    // Frames that break the protocol.
    let mut w = gw.open();
    let mut bad = Vec::new();
    encode_frame(&mut bad, true, Opcode::Text, &[0xff, 0xfe], Some([1, 2, 3, 4]));
    w.send_raw(&bad);
    assert_eq!(w.closed().0, 1007, "text that is not UTF-8");
    let mut w = gw.open();
    let mut unmasked = Vec::new();
    encode_frame(&mut unmasked, true, Opcode::Text, b"{}", None);
    w.send_raw(&unmasked);
    assert_eq!(w.closed().0, 1002, "an unmasked client frame");

    // Nothing above hurt the gateway, and every connection thread ended.
    gw.operator().ok("health", json!({}));
    assert_threads_back_to(gw.pid(), baseline);
}

#[test]
fn no_connect_within_the_handshake_timeout_closes_1008() {
    let mut home = home("gw-hs-timeout");
    home.set_env("OPENCLAW_GATEWAY_TEST_HANDSHAKE_MS", "300");
    let gw = Gateway::start(&home, &[]);
    let mut w = gw.open();
    let started = Instant::now();
    let (code, _) = w.closed_within(Duration::from_secs(3));
    assert_eq!(code, 1008);
    assert!(started.elapsed() >= Duration::from_millis(200), "{:?}", started.elapsed());
    // A ping does not extend the handshake.
    let mut w = gw.open();
    w.send(&Message::Ping(b"p".to_vec()));
    let (code, _) = w.closed_within(Duration::from_secs(3));
    assert_eq!(code, 1008);
}

#[test]
fn protocol_mismatch_closes_1002() {
    let home = home("gw-proto");
    let gw = Gateway::start(&home, &[]);
    let mut w = gw.open();
    let mut p = params(Some(TOKEN));
    p["minProtocol"] = json!(2);
    p["maxProtocol"] = json!(2);
    let r = w.connect(p);
    assert_eq!(error_of(&r), ("INVALID_REQUEST", "protocol mismatch"));
    assert_eq!(r["error"]["details"]["expectedProtocol"], 3);
    assert_eq!(w.closed(), (1002, "protocol mismatch".to_string()));
    // A range that includes 3 is fine.
    let mut w = gw.open();
    let mut p = params(Some(TOKEN));
    p["minProtocol"] = json!(2);
    p["maxProtocol"] = json!(4);
    assert_eq!(w.connect(p)["ok"], true);
}

#[test]
fn an_invalid_role_closes_1008() {
    let home = home("gw-role");
    let gw = Gateway::start(&home, &[]);
    let mut w = gw.open();
    let mut p = params(Some(TOKEN));
    p["role"] = json!("superuser");
    let r = w.connect(p);
    assert_refused(&mut w, &r, 1008, "invalid role");
}

#[test]
fn missing_and_wrong_tokens_are_refused_with_the_right_hint() {
    let home = home("gw-auth");
    let gw = Gateway::start(&home, &[]);
    let cli_hint = "set gateway.remote.token to match gateway.auth.token";
    let ui_hint = "open the dashboard URL and paste the token in Control UI settings";

    let mut w = gw.open();
    let r = w.connect(params(None));
    assert_eq!(error_of(&r).0, "INVALID_REQUEST");
    assert_refused(&mut w, &r, 1008, &format!("unauthorized: gateway token missing ({cli_hint})"));

    let mut w = gw.open();
    let r = w.connect(params(Some("wrong-token-0123456789")));
    assert_refused(&mut w, &r, 1008, &format!("unauthorized: gateway token mismatch ({cli_hint})"));

    let mut ui = params(Some("wrong-token-0123456789"));
    ui["client"] = json!({"id": "openclaw-control-ui", "displayName": "Control UI", "version": "1", "platform": "web", "mode": "webchat"});
    let mut w = gw.open();
    let r = w.connect(ui.clone());
    assert_refused(&mut w, &r, 1008, &format!("unauthorized: gateway token mismatch ({ui_hint})"));

    ui["auth"] = json!({});
    let mut w = gw.open();
    let r = w.connect(ui);
    assert_refused(&mut w, &r, 1008, &format!("unauthorized: gateway token missing ({ui_hint})"));

    // Near misses: a prefix, trailing whitespace, a trailing NUL.
    for near in [&TOKEN[..63], &format!("{TOKEN} ")[..], &format!("{TOKEN}\n")[..], &format!("{TOKEN}\0")[..]] {
        let mut w = gw.open();
        let r = w.connect(params(Some(near)));
        assert_refused(&mut w, &r, 1008, &format!("unauthorized: gateway token mismatch ({cli_hint})"));
    }
    assert!(!gw.log().contains(TOKEN));
}

#[test]
fn oversize_frames_close_1009_without_buffering() {
    let home = home("gw-oversize");
    let gw = Gateway::start(&home, &[]);
    let before = rss_kib(gw.pid());

    // A 64 MiB frame announced in the header, before and after connect.
    let huge_header = |first: u8| {
        let mut b = vec![first, 0x80 | 127];
        b.extend_from_slice(&(64u64 << 20).to_be_bytes());
        b.extend_from_slice(&[1, 2, 3, 4]);
        b.extend_from_slice(&[0u8; 4096]);
        b
    };
    let mut w = gw.open();
    w.send_raw(&huge_header(0x81));
    assert_eq!(w.closed().0, 1009);
    let mut w = gw.operator();
    w.send_raw(&huge_header(0x82));
    assert_eq!(w.closed().0, 1009);

    // Actually streaming 2 MiB of one frame: refused from the header on.
    let mut w = gw.operator();
    let mut frame = Vec::new();
    encode_frame(&mut frame, true, Opcode::Text, &vec![b'a'; 2 << 20], Some([9, 8, 7, 6]));
    let mut writer = w.s.try_clone().unwrap();
    let t = std::thread::spawn(move || {
        let _ = writer.write_all(&frame);
    });
    assert_eq!(w.closed().0, 1009);
    drop(w);
    let _ = t.join();

    // A fragmented message over 512 KiB in total.
    let mut w = gw.operator();
    let mut frames = Vec::new();
    encode_frame(&mut frames, false, Opcode::Text, &vec![b'a'; 300 * 1024], Some([1, 2, 3, 4]));
    encode_frame(&mut frames, true, Opcode::Continuation, &vec![b'b'; 300 * 1024], Some([1, 2, 3, 4]));
    let mut writer = w.s.try_clone().unwrap();
    let t = std::thread::spawn(move || {
        let _ = writer.write_all(&frames);
    });
    assert_eq!(w.closed().0, 1009);
    drop(w);
    let _ = t.join();

    // A message just under the cap is fine (and answered).
    let mut w = gw.operator();
    let pad = "x".repeat(500 * 1024);
    let r = w.call("health", json!({"pad": pad}));
    assert_eq!(r["ok"], true);

    let after = rss_kib(gw.pid());
    assert!(after < before + 48 * 1024, "RSS grew from {before} KiB to {after} KiB");
}

#[test]
fn ping_is_answered_with_pong() {
    let home = home("gw-ping");
    let gw = Gateway::start(&home, &[]);
    let mut w = gw.operator();
    w.send(&Message::Ping(b"hello?".to_vec()));
    loop {
        match w.recv(WAIT).expect("no pong") {
            Message::Pong(p) => {
                assert_eq!(p, b"hello?");
                break;
            }
            Message::Text(_) => {}
            m => panic!("{m:?}"),
        }
    }
    // Before connect too.
    let mut w = gw.open();
    w.send(&Message::Ping(b"early".to_vec()));
    assert_eq!(w.recv(WAIT), Some(Message::Pong(b"early".to_vec())));
}

#[test]
fn an_idle_socket_is_closed() {
    let mut home = home("gw-idle");
    home.set_env("OPENCLAW_GATEWAY_TEST_IDLE_MS", "500");
    let gw = Gateway::start(&home, &[]);
    let mut w = gw.operator();
    let started = Instant::now();
    let (code, reason) = w.closed_within(Duration::from_secs(4));
    assert_eq!(code, 1001, "{reason}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    // Traffic keeps a socket alive.
    let mut w = gw.operator();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(250));
        w.ok("health", json!({}));
    }
}

#[test]
fn origins_are_checked_before_the_upgrade() {
    let home = home("gw-origin");
    home.write_config(&config_with_token(TOKEN, "    controlUi: { allowedOrigins: ['https://control.example'] },\n"));
    let gw = Gateway::start(&home, &[]);
    let own = format!("http://127.0.0.1:{}", gw.port);
    let other_port = format!("http://127.0.0.1:{}", gw.port.wrapping_add(1).max(1));
    for bad in ["https://evil.example", "null", "http://evil.example", other_port.as_str(), "file://", "https://control.example.evil"] {
        let r = gw.ws(&[("Origin", bad)]).err().unwrap_or_else(|| panic!("origin {bad} was let in"));
        assert_eq!(r.status, 403, "{bad}: {r:?}");
        assert!(r.body.contains("origin not allowed"), "{bad}: {}", r.body);
    }
    for good in [own.as_str(), "https://control.example"] {
        let mut w = gw.ws(&[("Origin", good)]).unwrap_or_else(|r| panic!("origin {good} refused: {r:?}"));
        assert_eq!(w.connect(params(Some(TOKEN)))["ok"], true, "{good}");
    }
}

#[test]
fn the_connection_cap_refuses_the_excess_and_keeps_sessions_served() {
    let mut home = home("gw-cap");
    home.set_env("OPENCLAW_GATEWAY_MAX_CONNECTIONS", "8");
    let gw = Gateway::start(&home, &[]);
    let mut session = gw.operator();
    let baseline = threads(gw.pid());
    // 12 more connections for 7 free slots: the last 5 get a 503 at once,
    // the others are held open waiting for a request.
    let conns: Vec<TcpStream> = (0..12).map(|_| TcpStream::connect(("127.0.0.1", gw.port)).unwrap()).collect();
    let mut answers: Vec<Option<String>> = vec![None; conns.len()];
    let deadline = Instant::now() + WAIT;
    while answers.iter().filter(|a| a.is_some()).count() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        for (s, a) in conns.iter().zip(answers.iter_mut()).filter(|(_, a)| a.is_none()) {
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 256];
            match (&*s).read(&mut b) {
                Ok(n) => *a = Some(String::from_utf8_lossy(&b[..n]).into_owned()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => *a = Some(format!("error: {e}")),
            }
        }
    }
    let refused: Vec<&String> = answers.iter().flatten().collect();
    assert_eq!(refused.len(), 5, "8 slots: the session plus 7 idle sockets; answers: {answers:?}");
    for r in &refused {
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    }
    assert!(answers[..7].iter().all(Option::is_none), "the first 7 are the ones held: {answers:?}");
    let idle = conns;
    assert!(threads(gw.pid()) <= baseline + 7);
    // The established session is still served.
    session.ok("health", json!({}));
    // Slots come back when the idle sockets go.
    drop(idle);
    assert_threads_back_to(gw.pid(), baseline);
    assert_eq!(gw.get("/healthz").status, 200);
    session.ok("health", json!({}));
}

// ---------------------------------------------------------------- rate limiting

#[test]
fn failed_auth_from_a_browser_origin_is_locked_out() {
    let home = home("gw-lockout");
    let gw = Gateway::start(&home, &[]);
    let origin = format!("http://127.0.0.1:{}", gw.port);
    for i in 0..10 {
        let mut w = gw.ws(&[("Origin", &origin)]).unwrap_or_else(|r| panic!("attempt {i} refused early: {r:?}"));
        let r = w.connect(params(Some("wrong-token-0123456789")));
        assert!(error_of(&r).1.starts_with("unauthorized: gateway token mismatch"), "attempt {i}: {r}");
        assert_eq!(w.closed().0, 1008);
    }
    let r = gw.ws(&[("Origin", &origin)]).err().expect("the 11th upgrade is refused");
    assert_eq!(r.status, 429, "{r:?}");
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry >= 1, "{retry}");
    // Even the right token is refused while locked out.
    assert_eq!(gw.ws(&[("Origin", &origin)]).err().map(|r| r.status), Some(429));
    // Loopback without an Origin is exempt (default) and still works.
    let mut w = gw.open();
    assert_eq!(w.connect(params(Some(TOKEN)))["ok"], true);
}

#[test]
fn a_successful_auth_resets_the_failure_count() {
    let home = home("gw-reset");
    let gw = Gateway::start(&home, &[]);
    let origin = format!("http://127.0.0.1:{}", gw.port);
    let attempt = |token: &str| -> bool {
        let mut w = gw.ws(&[("Origin", &origin)]).unwrap_or_else(|r| panic!("refused before the handshake: {r:?}"));
        w.connect(params(Some(token)))["ok"] == true
    };
    for _ in 0..7 {
        assert!(!attempt("wrong-token-0123456789"));
    }
    assert!(attempt(TOKEN));
    for _ in 0..7 {
        assert!(!attempt("wrong-token-0123456789"));
    }
    assert!(attempt(TOKEN), "14 failures in all, but never 10 in a row");
}

// ---------------------------------------------------------------- hot reload

#[test]
fn token_rotation_by_hot_reload_closes_old_sockets() {
    let home = home("gw-rotate-token");
    let gw = Gateway::start(&home, &[]);
    let mut old = gw.operator();
    write_atomically(home.config_path(), &config_with_token(NEW_TOKEN, ""));
    let started = Instant::now();
    let (code, reason) = old.closed_within(Duration::from_secs(3));
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.starts_with("unauthorized"), "{reason}");
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());

    let mut w = gw.open();
    let r = w.connect(params(Some(TOKEN)));
    assert!(error_of(&r).1.starts_with("unauthorized: gateway token mismatch"), "{r}");
    let mut w = gw.open();
    assert_eq!(w.connect(params(Some(NEW_TOKEN)))["ok"], true);
    // The CLI reads the new token from the config too.
    let out = gw.cli(&["health"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!gw.log().contains(NEW_TOKEN) && !gw.log().contains(TOKEN));
}

#[test]
fn an_invalid_config_edit_does_not_stop_the_gateway() {
    let home = home("gw-bad-edit");
    let gw = Gateway::start(&home, &[]);
    let mut kept = gw.operator();
    write_atomically(home.config_path(), "{ gateway: { mode: 'local', auth: { token: 'x' } }, /* unterminated");
    let deadline = Instant::now() + WAIT;
    while !gw.log().contains("config reload failed") {
        assert!(Instant::now() < deadline, "no reload error logged:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    kept.ok("health", json!({}));
    assert_eq!(gw.get("/healthz").status, 200);
    let mut w = gw.open();
    assert_eq!(w.connect(params(Some(TOKEN)))["ok"], true, "the token in force is still the old one");
    // A fix afterwards is picked up.
    write_atomically(home.config_path(), &config_with_token(NEW_TOKEN, ""));
    let (code, _) = kept.closed_within(Duration::from_secs(3));
    assert_eq!(code, 1008);
    let mut w = gw.open();
    assert_eq!(w.connect(params(Some(NEW_TOKEN)))["ok"], true);
}

// ---------------------------------------------------------------- pairing

fn pending_json(home: &Home) -> Value {
    let p = home.state().join("devices").join("pending.json");
    if p.exists() { read_json(p) } else { json!({}) }
}

fn paired_json(home: &Home) -> Value {
    let p = home.state().join("devices").join("paired.json");
    if p.exists() { read_json(p) } else { json!({}) }
}

/// A non-local connect for `dev` that must be held for pairing: the requestId.
fn held_for_pairing(gw: &Gateway, p: Value) -> String {
    let mut w = gw.ws(&[REMOTE]).unwrap();
    let r = w.connect(p);
    assert_eq!(error_of(&r), ("NOT_PAIRED", "pairing required"), "{r}");
    let d = &r["error"]["details"];
    assert_eq!(d["code"], "PAIRING_REQUIRED", "{r}");
    assert_eq!(w.closed(), (1008, "pairing required".to_string()));
    d["requestId"].as_str().unwrap().to_string()
}

#[test]
fn remote_device_pairing_end_to_end() {
    let home = home("gw-pairing");
    let gw = Gateway::start(&home, &[]);
    let dev = Device::new();
    let connect_remote = |p: Value| {
        let mut w = gw.ws(&[REMOTE]).unwrap();
        let r = w.connect(p);
        (w, r)
    };

    // Held, then superseded by a second attempt.
    let req1 = held_for_pairing(&gw, with_device(params(Some(TOKEN)), &dev));
    let pending = pending_json(&home);
    assert_eq!(pending[&req1]["deviceId"], dev.id.as_str(), "{pending}");
    // An untrusted proxy header makes the client non-local; it does not
    // choose the address that is recorded.
    assert_eq!(pending[&req1]["remoteIp"], "127.0.0.1", "{pending}");
    let mode = std::fs::metadata(home.state().join("devices/pending.json")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A retry of the same request keeps its id (the approve command a person
    // is typing stays valid)...
    let again = held_for_pairing(&gw, with_device(params(Some(TOKEN)), &dev));
    assert_eq!(req1, again);
    // ...a changed request (other scopes) supersedes it: new id, old gone.
    let mut changed = with_device(params(Some(TOKEN)), &dev);
    changed["scopes"] = json!(["operator.read", "operator.pairing"]);
    let req2 = held_for_pairing(&gw, changed);
    assert_ne!(req1, req2);
    let pending = pending_json(&home);
    assert!(pending.get(&req1).is_none() && pending.get(&req2).is_some(), "{pending}");
    assert_eq!(pending.as_object().unwrap().len(), 1, "{pending}");
    // Back to the admin request before approval.
    let req2 = held_for_pairing(&gw, with_device(params(Some(TOKEN)), &dev));
    assert!(pending_json(&home).get(&req2).is_some());
    assert!(!std::fs::read_to_string(home.state().join("devices/pending.json")).unwrap().contains(&dev.secret), "the secret is never stored");

    // The CLI sees and approves it.
    let out = gw.cli(&["devices", "list"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(&req2) && out.stdout.contains(&dev.id[..12]), "{}", out.stdout);
    let out = gw.cli(&["devices", "list", "--json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["pending"][0]["requestId"], req2.as_str(), "{v}");
    let out = gw.cli(&["devices", "approve", &req2]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(pending_json(&home).get(&req2).is_none());
    assert!(paired_json(&home).get(&dev.id).is_some());

    // Now it connects and gets a device token.
    let (_w, r) = connect_remote(with_device(params(Some(TOKEN)), &dev));
    assert_eq!(r["ok"], true, "{r}");
    let t1 = r["payload"]["auth"]["deviceToken"].as_str().expect("a device token").to_string();
    assert_eq!(r["payload"]["auth"]["role"], "operator");
    assert!(!t1.is_empty() && t1 != TOKEN);

    // The device token replaces the gateway token.
    let mut p = with_device(params(None), &dev);
    p["auth"] = json!({"deviceToken": t1});
    let (mut open, r) = connect_remote(p.clone());
    assert_eq!(r["ok"], true, "{r}");
    open.ok("health", json!({}));
    // ...and works given as auth.token as well.
    let (_w, r) = connect_remote(with_device(params(Some(&t1)), &dev));
    assert_eq!(r["ok"], true, "{r}");
    // Another device cannot use it.
    let mut stranger = with_device(params(None), &Device::new());
    stranger["auth"] = json!({"deviceToken": t1});
    let (_w, r) = connect_remote(stranger);
    assert_eq!(r["ok"], false, "{r}");

    // Rotate: a new token, the old one fails, open sockets of that role close.
    let out = gw.cli(&["devices", "rotate", "--device", &dev.id, "--role", "operator"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let rotated: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    let t2 = rotated["token"].as_str().unwrap().to_string();
    assert_ne!(t1, t2);
    assert_eq!(rotated["deviceId"], dev.id.as_str());
    assert_eq!(open.closed().0, 1008);
    let (mut w, r) = connect_remote(p.clone());
    assert_refused(&mut w, &r, 1008, "unauthorized: device token mismatch (rotate/reissue device token)");
    p["auth"] = json!({"deviceToken": t2});
    let (_w, r) = connect_remote(p.clone());
    assert_eq!(r["ok"], true, "{r}");

    // Revoke: the token stops working.
    let out = gw.cli(&["devices", "revoke", "--device", &dev.id, "--role", "operator"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let (_w, r) = connect_remote(p.clone());
    assert_eq!(r["ok"], false, "{r}");

    // With the gateway token it needs pairing again; reject that.
    let req3 = held_for_pairing(&gw, with_device(params(Some(TOKEN)), &dev));
    let out = gw.cli(&["devices", "reject", &req3]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(pending_json(&home).get(&req3).is_none());
    let out = gw.cli(&["devices", "approve", &req3]);
    assert_eq!(out.code, 1, "a rejected request cannot be approved: {}", out.all());

    // Pair again, connect, then remove: the open socket closes.
    let req4 = held_for_pairing(&gw, with_device(params(Some(TOKEN)), &dev));
    let out = gw.cli(&["devices", "approve", "--latest"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(&req4), "{}", out.stdout);
    let (mut open, r) = connect_remote(with_device(params(Some(TOKEN)), &dev));
    assert_eq!(r["ok"], true, "{r}");
    let t4 = r["payload"]["auth"]["deviceToken"].as_str().unwrap().to_string();
    let out = gw.cli(&["devices", "remove", &dev.id]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(open.closed().0, 1008);
    assert!(paired_json(&home).get(&dev.id).is_none());
    p["auth"] = json!({"deviceToken": t4});
    let (_w, r) = connect_remote(p);
    assert_eq!(r["ok"], false, "a removed device's token is void: {r}");
    // The device tokens never reach the log.
    let log = gw.log();
    for t in [&t1, &t2, &t4] {
        assert!(!log.contains(t.as_str()), "a device token reached the log");
    }
}

#[test]
fn an_unpaired_device_gets_no_admin_scope_before_approval() {
    let home = home("gw-unpaired-admin");
    let gw = Gateway::start(&home, &[]);
    let mut admin = gw.operator();
    let dev = Device::new();
    let mut w = gw.ws(&[REMOTE]).unwrap();
    let r = w.connect(with_device(params(Some(TOKEN)), &dev));
    assert_eq!(error_of(&r).0, "NOT_PAIRED", "{r}");
    let request_id = r["error"]["details"]["requestId"].as_str().unwrap().to_string();
    // Whatever it sends next goes nowhere: the socket is closed.
    w.text(&json!({"type": "req", "id": "x", "method": "config.get", "params": {}}));
    loop {
        match w.recv(WAIT).expect("closed") {
            Message::Close(_) => break,
            Message::Text(t) => assert!(!t.contains("\"raw\""), "config leaked: {t}"),
            _ => {}
        }
    }
    // The operator hears about the request and approves it over RPC.
    let ev = loop {
        let v = admin.json();
        if v["event"] == "device.pair.requested" {
            break v;
        }
    };
    assert_eq!(ev["payload"]["requestId"], request_id.as_str(), "{ev}");
    let list = admin.ok("device.pair.list", json!({}));
    assert!(!list.to_string().contains(&dev.secret));
    admin.ok("device.pair.approve", json!({"requestId": request_id}));
    let mut w = gw.ws(&[REMOTE]).unwrap();
    assert_eq!(w.connect(with_device(params(Some(TOKEN)), &dev))["ok"], true);
    let cfg = w.ok("config.get", json!({}));
    assert!(cfg["raw"].as_str().unwrap().contains("gateway"));

    // Approved for read only, asking for admin later: a scope upgrade.
    let reader = Device::new();
    let mut p = with_device(params(Some(TOKEN)), &reader);
    p["scopes"] = json!(["operator.read"]);
    let id = held_for_pairing(&gw, p.clone());
    admin.ok("device.pair.approve", json!({"requestId": id}));
    let mut w = gw.ws(&[REMOTE]).unwrap();
    assert_eq!(w.connect(p.clone())["ok"], true);
    let r = w.call("config.get", json!({}));
    assert_eq!(error_of(&r).1, "missing scope: operator.admin");
    p["scopes"] = json!(ADMIN_SCOPES);
    let mut w = gw.ws(&[REMOTE]).unwrap();
    let r = w.connect(p);
    assert_eq!(error_of(&r).0, "NOT_PAIRED", "{r}");
    assert_eq!(r["error"]["details"]["reason"], "scope-upgrade", "{r}");
}

#[test]
fn a_remote_client_without_device_identity_is_refused() {
    let home = home("gw-no-identity");
    let gw = Gateway::start(&home, &[]);
    let mut w = gw.ws(&[REMOTE]).unwrap();
    let r = w.connect(params(Some(TOKEN)));
    assert_eq!(error_of(&r), ("NOT_PAIRED", "device identity required"));
    assert_eq!(w.closed(), (1008, "device identity required".to_string()));
    // A device whose id is not the hash of its secret.
    let mut w = gw.ws(&[REMOTE]).unwrap();
    let d = Device::new();
    let r = w.connect(with_device(params(Some(TOKEN)), &Device { id: Device::new().id, secret: d.secret }));
    assert_refused(&mut w, &r, 1008, "device identity mismatch");
}

#[test]
fn a_local_direct_device_is_paired_silently() {
    let home = home("gw-local-pair");
    let gw = Gateway::start(&home, &[]);
    let dev = Device::new();
    let mut w = gw.open();
    let r = w.connect(with_device(params(Some(TOKEN)), &dev));
    assert_eq!(r["ok"], true, "{r}");
    let token = r["payload"]["auth"]["deviceToken"].as_str().expect("device token");
    assert!(!token.is_empty());
    assert!(paired_json(&home).get(&dev.id).is_some());
    assert_eq!(pending_json(&home), json!({}));
    // The same device through a proxy header is remote: its token still
    // works (it is paired), no new request is made.
    let mut w = gw.ws(&[REMOTE]).unwrap();
    assert_eq!(w.connect(with_device(params(Some(TOKEN)), &dev))["ok"], true);
    assert_eq!(pending_json(&home), json!({}));
}

// ---------------------------------------------------------------- methods

#[test]
fn read_methods_return_their_shapes() {
    let home = home("gw-methods");
    let gw = Gateway::start(&home, &[]);
    let mut w = gw.operator();
    let h = w.ok("health", json!({}));
    assert_eq!(h["ok"], true);
    assert_eq!(h["defaultAgentId"], "main");
    assert_eq!(h["agents"][0]["agentId"], "main");
    assert_eq!(h["agents"][0]["isDefault"], true);

    let s = w.ok("status", json!({}));
    assert_eq!(s["gateway"]["port"], gw.port);
    assert_eq!(s["gateway"]["pid"], gw.pid());
    assert_eq!(s["gateway"]["bind"], "loopback");
    assert!(s["gateway"]["uptimeMs"].is_u64());
    assert_eq!(s["health"]["ok"], true);

    let l = w.ok("logs.tail", json!({}));
    let lines = l["lines"].as_array().unwrap();
    assert!(!lines.is_empty(), "{l}");
    assert!(lines.iter().any(|x| x.as_str().unwrap().contains("gateway started")), "{l}");
    let cursor = l["cursor"].as_u64().unwrap();
    let again = w.ok("logs.tail", json!({"cursor": cursor}));
    assert!(again["cursor"].as_u64().unwrap() >= cursor);
    assert!(again["lines"].as_array().unwrap().len() < lines.len() + 5, "{again}");

    let sl = w.ok("sessions.list", json!({}));
    assert_eq!(sl["count"], 0);
    assert_eq!(sl["sessions"], json!([]));
    let cs = w.ok("channels.status", json!({}));
    assert_eq!(cs["channels"], json!({}));
    assert_eq!(cs["channelOrder"], json!(["telegram", "discord"]));
    assert_eq!(cs["channelAccounts"], json!({}), "no channel configured: {cs}");
    let ex = w.ok("sandbox.explain", json!({}));
    assert_eq!(ex["agentId"], "main", "{ex}");
    assert_eq!(ex["sandbox"]["mode"], "off", "{ex}");

    let r = w.call("no.such.method", json!({}));
    let (code, msg) = error_of(&r);
    assert_eq!(code, "INVALID_REQUEST");
    assert!(msg.contains("no.such.method"), "{msg}");
    let r = w.call("health", json!([1, 2]));
    assert_eq!(error_of(&r).0, "INVALID_REQUEST");
    // A bad frame after the handshake is an error, not a disconnect.
    w.send(&Message::Text("{oops".into()));
    let v = w.json();
    assert_eq!(v["ok"], false, "{v}");
    w.ok("health", json!({}));
}

#[test]
fn a_read_only_connection_cannot_read_the_config() {
    let home = home("gw-readonly");
    let gw = Gateway::start(&home, &[]);
    let mut w = gw.open();
    let mut p = params(Some(TOKEN));
    p["scopes"] = json!(["operator.read"]);
    assert_eq!(w.connect(p)["ok"], true);
    w.ok("health", json!({}));
    let r = w.call("config.get", json!({}));
    assert_eq!(error_of(&r).1, "missing scope: operator.admin");
    let r = w.call("config.set", json!({"raw": "{}"}));
    assert_eq!(error_of(&r).1, "missing scope: operator.admin");
    let r = w.call("device.pair.list", json!({}));
    assert_eq!(error_of(&r).1, "missing scope: operator.pairing");
    // A pairing-scoped caller cannot hand out more than it holds.
    let dev = Device::new();
    let mut d = gw.open();
    assert_eq!(d.connect(with_device(params(Some(TOKEN)), &dev))["ok"], true, "paired silently (local)");
    let mut pairing = gw.open();
    let mut p = params(Some(TOKEN));
    p["scopes"] = json!(["operator.pairing"]);
    assert_eq!(pairing.connect(p)["ok"], true);
    let r = pairing.call("device.token.rotate", json!({"deviceId": dev.id, "role": "operator", "scopes": ["operator.admin"]}));
    let (code, msg) = error_of(&r);
    assert_eq!(code, "INVALID_REQUEST");
    assert!(msg.contains("operator.admin"), "{msg}");
    assert_eq!(d.ok("health", json!({}))["ok"], true, "the device's socket is untouched");
    let r = pairing.call("device.token.rotate", json!({"deviceId": dev.id, "role": "operator", "scopes": ["operator.pairing"]}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["scopes"], json!(["operator.pairing"]), "{r}");

    // No scopes at all: not even health.
    let mut w = gw.open();
    let mut p = params(Some(TOKEN));
    p["scopes"] = json!([]);
    assert_eq!(w.connect(p)["ok"], true);
    assert_eq!(error_of(&w.call("health", json!({}))).1, "missing scope: operator.read");
}

#[test]
fn config_set_validates_writes_and_applies() {
    let home = home("gw-config-set");
    let gw = Gateway::start(&home, &[]);
    let mut w = gw.operator();
    let original = std::fs::read_to_string(home.config_path()).unwrap();
    let got = w.ok("config.get", json!({}));
    assert_eq!(got["raw"], original.as_str());
    assert_eq!(got["exists"], true);
    assert_eq!(got["valid"], true);
    let hash = got["hash"].as_str().unwrap().to_string();

    // Invalid: refused with positions, nothing written.
    let bad = format!("{{\n  gateway: {{\n    mode: 'local',\n    auth: {{ token: '{TOKEN}' }},\n    bogusKey: 1,\n  }},\n}}\n");
    let r = w.call("config.set", json!({"raw": bad, "baseHash": hash}));
    assert_eq!(error_of(&r), ("INVALID_REQUEST", "Config invalid"), "{r}");
    let problems = r["error"]["details"]["problems"].as_array().unwrap();
    assert!(!problems.is_empty(), "{r}");
    let p = &problems[0];
    assert!(p["path"].as_str().unwrap().contains("bogusKey"), "{p}");
    assert_eq!(p["line"], 5, "{p}");
    assert!(p["column"].is_u64(), "{p}");
    let r = w.call("config.set", json!({"raw": "{ gateway: { mode: 'local' /* unterminated", "baseHash": hash}));
    assert_eq!(error_of(&r).1, "Config invalid", "{r}");
    let p = &r["error"]["details"]["problems"][0];
    assert!(p["line"].is_u64() && p["column"].is_u64(), "{r}");
    assert_eq!(std::fs::read_to_string(home.config_path()).unwrap(), original, "left byte-identical");
    assert!(!home.state().join("openclaw.json.bak").exists());

    // Valid, with the right base hash: written (0600, .bak kept) and live.
    let new = config_with_token(TOKEN, "    controlUi: { allowedOrigins: ['https://ops.example'] },\n");
    assert_eq!(gw.ws(&[("Origin", "https://ops.example")]).err().map(|r| r.status), Some(403));
    let set = w.ok("config.set", json!({"raw": new, "baseHash": hash}));
    assert_ne!(set["hash"], hash.as_str());
    assert_eq!(std::fs::read_to_string(home.config_path()).unwrap(), new);
    let mode = std::fs::metadata(home.config_path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read_to_string(home.state().join("openclaw.json.bak")).unwrap(), original);
    let mut o = gw.ws(&[("Origin", "https://ops.example")]).unwrap_or_else(|r| panic!("not applied live: {r:?}"));
    assert_eq!(o.connect(params(Some(TOKEN)))["ok"], true);
    // The socket that made the change (same token) stays open.
    assert_eq!(w.ok("config.get", json!({}))["raw"], new.as_str());

    // A stale base hash is refused.
    let r = w.call("config.set", json!({"raw": original, "baseHash": hash}));
    let (code, msg) = error_of(&r);
    assert_eq!(code, "INVALID_REQUEST");
    assert!(msg.starts_with("config changed since it was read"), "{msg}");
    assert_eq!(std::fs::read_to_string(home.config_path()).unwrap(), new);
}

// ---------------------------------------------------------------- CLI companions

#[test]
fn health_cli_against_a_running_gateway() {
    let home = home("gw-health-cli");
    let gw = Gateway::start(&home, &[]);
    let out = gw.cli(&["health"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Agents: main (default)"), "{}", out.stdout);
    assert!(out.stdout.contains("Session store (main): "), "{}", out.stdout);
    let out = gw.cli(&["health", "--json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(v["ok"], true);
    assert_eq!(v["defaultAgentId"], "main");
    let out = gw.cli(&["health", "--token", "wrong-token-0123456789"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.all().contains("unauthorized: gateway token mismatch"), "{}", out.all());
    let out = gw.cli(&["health", "--verbose"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Gateway connection:"), "{}", out.stdout);
    assert!(!out.all().contains(TOKEN));
}

#[test]
fn health_cli_against_a_stopped_gateway_fails_fast() {
    let mut home = home("gw-health-down");
    home.set_env("OPENCLAW_GATEWAY_PORT", &free_port().to_string());
    let started = Instant::now();
    let out = home.run(&["health"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("not reachable"), "{}", out.all());
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let out = home.run(&["status"]);
    assert_eq!(out.code, 0, "status reports an unreachable gateway, it does not fail: {}", out.all());
    assert!(out.stdout.contains("not reachable"), "{}", out.stdout);
}

#[test]
fn status_and_dashboard_cli() {
    let home = home("gw-status-cli");
    let gw = Gateway::start(&home, &[]);
    let out = gw.cli(&["status"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(&format!("Gateway: ws://127.0.0.1:{} (reachable", gw.port)), "{}", out.stdout);
    assert!(out.stdout.contains("Agents: main (default)"), "{}", out.stdout);
    let out = gw.cli(&["status", "--json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(v["gateway"]["reachable"], true);
    assert_eq!(v["gateway"]["status"]["port"], gw.port);

    let out = gw.cli(&["dashboard", "--no-open"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(&format!("Dashboard URL: http://127.0.0.1:{}/#token={TOKEN}\n", gw.port)), "{}", out.stdout);
    assert!(out.stdout.contains("Browser launch disabled (--no-open). Use the URL above."), "{}", out.stdout);
    assert!(!out.stdout.contains("?token="), "{}", out.stdout);
}
