//! Shared test helpers: a temporary folder that removes itself, and a way to
//! run the built `openclaw` binary with a clean, controlled environment.

use std::path::{Path, PathBuf};
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
