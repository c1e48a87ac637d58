//! Shared test helpers: a temporary folder that removes itself, and a way to
//! run the built `openclaw` binary with a clean, controlled environment.

use std::path::{Path, PathBuf};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A folder under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "openclaw-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run of the binary printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A home folder with `.openclaw` inside it, and a way to run the binary
/// against it with nothing from the test process's environment leaking in.
pub struct Home {
    pub dir: TempDir,
    pub env: Vec<(String, String)>,
}

impl Home {
    pub fn new(tag: &str) -> Home {
        let dir = TempDir::new(tag);
        std::fs::create_dir_all(dir.join(".openclaw")).unwrap();
        // As openclaw itself creates it.
        std::fs::set_permissions(dir.join(".openclaw"), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        Home { dir, env: Vec::new() }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.join(".openclaw")
    }

    pub fn config_path(&self) -> PathBuf {
        self.state().join("openclaw.json")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        self.env.push((k.to_string(), v.to_string()));
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_openclaw"));
        c.args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// The state paths the binary resolves for this home.
    pub fn paths(&self) -> openclaw::paths::Paths {
        let env = openclaw::paths::Env::from([("HOME".to_string(), self.dir.path().to_string_lossy().into_owned())]);
        openclaw::paths::Paths::resolve(&env, None).unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        output(self.command(args))
    }
}

pub fn output(mut c: Command) -> Output {
    let out = c.output().expect("run openclaw");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The engine for a Docker test: `None` after a loud line under
/// `OPENCLAW_SKIP_DOCKER_TESTS=1`; otherwise it must answer and have
/// `images` (never pulled), or the test fails saying how to fix it.
pub fn engine(test: &str, images: &[&str]) -> Option<openclaw::docker::Docker> {
    if skip_docker_tests() {
        eprintln!("!!!!! {test}: SKIPPED !!!!!");
        return None;
    }
    let env: openclaw::paths::Env = std::env::vars().collect();
    let docker = openclaw::docker::Docker::from_env(&env).unwrap_or_else(|e| panic!("{test}: {e}"));
    if let Err(e) = docker.ping() {
        panic!(
            "{test}: these tests need a running Docker engine and none answers: {e}\n\
             Start one (scripts/ensure-docker.sh), or set OPENCLAW_SKIP_DOCKER_TESTS=1 to skip them."
        );
    }
    for image in images {
        if let Err(e) = docker.image_inspect(image) {
            panic!("{test}: the image {image} is needed (tests never pull): {e}\nBuild it with scripts/sandbox-setup.sh.");
        }
    }
    Some(docker)
}

/// Force-removes, on drop, every container whose name starts with one of
/// `prefixes`, so a Docker test leaves nothing behind even when it fails.
pub struct PrefixGuard {
    pub docker: openclaw::docker::Docker,
    pub prefixes: Vec<String>,
}

impl Drop for PrefixGuard {
    fn drop(&mut self) {
        let list = match self.docker.container_list(true, &[]) {
            Ok(list) => list,
            Err(e) => return eprintln!("cannot list containers to clean up {:?}: {e}", self.prefixes),
        };
        // Engine names may start with '/'.
        let ours = |n: &String| self.prefixes.iter().any(|p| n.trim_start_matches('/').starts_with(p.as_str()));
        for c in list.iter().filter(|c| c.names.iter().any(ours)) {
            match self.docker.container_remove(&c.id, true) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => eprintln!("LEAKED test container {:?}: {e}", c.names),
            }
        }
    }
}

/// Docker tests run unless this is set; the README's test command never sets it.
pub fn skip_docker_tests() -> bool {
    if std::env::var("OPENCLAW_SKIP_DOCKER_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED (OPENCLAW_SKIP_DOCKER_TESTS=1): this test needs a Docker Engine");
        return true;
    }
    false
}

/// A network namespace joined to the host by a veth pair: the host end has
/// `host_ip`, the namespace end `ns_ip`. Removed on drop.
pub struct Netns {
    pub name: String,
    pub host_ip: String,
}

impl Netns {
    pub fn new() -> Netns {
        // Unique per test process and per namespace in it.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = (std::process::id() % 10_000) * 10 + N.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 10;
        let name = format!("ocui{id}");
        let (a, b) = (format!("ocu{id}a"), format!("ocu{id}b"));
        let net = 16 + (id % 200);
        let host_ip = format!("10.213.{net}.1");
        let ns_ip = format!("10.213.{net}.2");
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        let run = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip (iproute2) is needed");
            assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["netns", "add", &name]);
        let ns = Netns { name: name.clone(), host_ip: host_ip.clone() };
        run(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        run(&["link", "set", &b, "netns", &name]);
        run(&["addr", "add", &format!("{host_ip}/30"), "dev", &a]);
        run(&["link", "set", &a, "up"]);
        run(&["netns", "exec", &name, "ip", "addr", "add", &format!("{ns_ip}/30"), "dev", &b]);
        run(&["netns", "exec", &name, "ip", "link", "set", &b, "up"]);
        run(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it the pair.
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}


pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `openclaw gateway`, stopped (SIGTERM) on drop.
pub struct GatewayProc {
    pub child: std::process::Child,
    pub port: u16,
}

impl GatewayProc {
    /// Starts `openclaw gateway --port <free port> <args>` in `home` and
    /// waits for its ready line.
    pub fn start(home: &Home, args: &[&str]) -> GatewayProc {
        let port = free_port();
        let mut cmd = home.command(&[&["gateway", "--port", &port.to_string()][..], args].concat());
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("start the gateway");
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
        assert!(first.starts_with("listening on ws://"), "gateway did not start: {first:?}");
        // Drain stdout so the gateway never blocks on a full pipe.
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || for _ in std::io::BufReader::new(out).lines() {});
        GatewayProc { child, port }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GatewayProc {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

