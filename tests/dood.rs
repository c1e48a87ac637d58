//! Docker-out-of-Docker end to end: the freshly built `openclaw` runs in a
//! container (`debian:bookworm-slim`, the binary bind-mounted read-only) with
//! the engine's socket mounted, and makes a sandbox from there with
//! `openclaw sandbox exec`. The sandbox must get host paths as bind
//! sources: a file written in the sandbox shows up in the host folder that
//! was mounted into the openclaw container. Without that mount, the
//! sandbox is refused with a message naming the path and the fix.
//!
//! Like the other Docker tests, these always run (a loud SKIPPED line under
//! `OPENCLAW_SKIP_DOCKER_TESTS=1`), never pull, and name every container
//! `openclaw-test-dood-<pid>-<n>-…` (the outer one and, through
//! `docker.containerPrefix`, the sandboxes it makes); a guard removes them
//! all when the test ends, also when it fails.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openclaw::docker::{CreateSpec, Docker, ExecLimits, ExecSpec};

use crate::util::{PrefixGuard, TempDir};

const BASE: &str = "debian:bookworm-slim";
const SANDBOX_IMAGE: &str = "openclaw-sandbox:bookworm-slim";
/// Where the openclaw container keeps its state, as in docker-compose.yml.
const STATE_IN_CONTAINER: &str = "/home/node/.openclaw";
const LIMITS: ExecLimits = ExecLimits { output_cap: 256 * 1024, deadline: Duration::from_secs(120) };

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's world: host folders, a name prefix, the engine and the guard.
struct Fixture {
    dir: TempDir,
    prefix: String,
    docker: Docker,
    _guard: PrefixGuard,
}

/// What a command in the openclaw container printed.
struct Run {
    code: Option<i64>,
    stdout: String,
    stderr: String,
}

impl Fixture {
    fn new(test: &str) -> Option<Fixture> {
        let docker = crate::util::engine(test, &[BASE, SANDBOX_IMAGE])?;
        let prefix = format!("openclaw-test-dood-{}-{}-", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let _guard = PrefixGuard { docker: docker.clone(), prefixes: vec![prefix.clone()] };
        Some(Fixture { dir: TempDir::new("dood"), prefix, docker, _guard })
    }

    /// The config that makes every session's sandbox with this test's prefix.
    fn config(&self, binds: &[&str]) -> String {
        serde_json::json!({
            "agents": { "defaults": { "sandbox": {
                "mode": "all",
                "scope": "session",
                "docker": { "containerPrefix": format!("{}sbx-", self.prefix), "binds": binds },
            } } }
        })
        .to_string()
    }

    /// Starts the openclaw container (`sleep infinity`) with the binary, the
    /// engine's socket and `mounts` (host path, container path).
    fn start_openclaw_container(&self, mounts: &[(&Path, &str)]) -> String {
        let binary = env!("CARGO_BIN_EXE_openclaw");
        let mut binds = vec![
            format!("{binary}:/usr/local/bin/openclaw:ro"),
            format!("{}:/var/run/docker.sock", self.docker.socket_path().display()),
        ];
        binds.extend(mounts.iter().map(|(host, inside)| format!("{}:{inside}", host.display())));
        let spec = CreateSpec {
            image: BASE.into(),
            cmd: vec!["sleep".into(), "infinity".into()],
            env: vec!["HOME=/home/node".into(), "RUST_LOG=openclaw=info".into()],
            network_mode: Some("none".into()),
            binds,
            init: true,
            ..CreateSpec::default()
        };
        let name = format!("{}openclaw", self.prefix);
        let id = self.docker.container_create(&name, &spec).unwrap_or_else(|e| panic!("create {name}: {e}"));
        self.docker.container_start(&id).unwrap_or_else(|e| panic!("start {name}: {e}"));
        id
    }

    fn run(&self, container: &str, cmd: &[&str]) -> Run {
        let spec = ExecSpec { cmd: cmd.iter().map(|s| s.to_string()).collect(), ..ExecSpec::default() };
        let result = self.docker.exec_run(container, &spec, None, LIMITS).unwrap_or_else(|e| panic!("exec {cmd:?}: {e}"));
        Run {
            code: result.exit_code,
            stdout: String::from_utf8_lossy(&result.output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&result.output.stderr).into_owned(),
        }
    }

    /// The sandbox containers this test's openclaw made.
    fn sandboxes(&self) -> Vec<String> {
        let sbx = format!("{}sbx-", self.prefix);
        let list = self.docker.container_list(true, &["openclaw.sandbox=1"]).expect("list containers");
        list.into_iter().flat_map(|c| c.names).filter(|n| n.trim_start_matches('/').starts_with(&sbx)).collect()
    }

    /// A host folder of this test with permissions `mode`.
    fn host_dir(&self, name: &str, mode: u32) -> PathBuf {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
        dir
    }
}

/// The one file called `name` under `dir` (any depth).
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if entry.file_type().is_ok_and(|t| t.is_dir())
            && let Some(found) = find_file(&path, name)
        {
            return Some(found);
        }
    }
    None
}

#[test]
fn sandbox_from_a_container_gets_host_paths() {
    let Some(fx) = Fixture::new("sandbox_from_a_container_gets_host_paths") else { return };
    // The state folder as openclaw makes it; a project folder the sandbox's
    // user (uid 1000) may read.
    let state = fx.host_dir("state", 0o700);
    let projects = fx.host_dir("projects", 0o755);
    std::fs::write(projects.join("input.txt"), "from the host\n").unwrap();
    std::fs::write(state.join("openclaw.json"), fx.config(&["/projects:/projects:ro"])).unwrap();
    let id = fx.start_openclaw_container(&[(&state, STATE_IN_CONTAINER), (&projects, "/projects")]);

    let script = "cat /projects/input.txt && echo written in the sandbox > /workspace/dood.txt && pwd";
    let run = fx.run(&id, &["openclaw", "sandbox", "exec", "--session", "agent:main:dood", "--", "sh", "-c", script]);
    assert_eq!(run.code, Some(0), "sandbox exec failed\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "from the host\n/workspace\n", "stderr: {}", run.stderr);
    assert!(run.stderr.contains("bind sources are given to the engine as host paths"), "{}", run.stderr);

    // The sandbox wrote into the host folder behind the openclaw container's mount.
    let written = find_file(&state.join("sandboxes"), "dood.txt").expect("dood.txt under the host state folder's sandboxes/");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "written in the sandbox\n");

    // And the engine was given host paths.
    let sandboxes = fx.sandboxes();
    assert_eq!(sandboxes.len(), 1, "{sandboxes:?}");
    let info = fx.docker.container_inspect(&sandboxes[0]).unwrap();
    let workspace = written.parent().unwrap();
    assert_eq!(
        info.host_config.binds,
        vec![format!("{}:/workspace:rw", workspace.display()), format!("{}:/projects:ro", projects.display())]
    );

    // A second exec reuses the sandbox: the hash over host paths is stable.
    let run = fx.run(&id, &["openclaw", "sandbox", "exec", "--session", "agent:main:dood", "--", "cat", "dood.txt"]);
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "written in the sandbox\n"), "stderr: {}", run.stderr);
    assert_eq!(fx.sandboxes(), sandboxes);

    // doctor says where the sandbox folders are on the host.
    let doctor = fx.run(&id, &["openclaw", "doctor"]);
    let expected = format!("the sandbox workspace root {STATE_IN_CONTAINER}/sandboxes is {}/sandboxes on the Docker host", state.display());
    assert!(doctor.stdout.contains(&expected), "{expected:?} missing from:\n{}{}", doctor.stdout, doctor.stderr);
}

#[test]
fn a_state_folder_inside_the_container_is_refused() {
    let Some(fx) = Fixture::new("a_state_folder_inside_the_container_is_refused") else { return };
    let id = fx.start_openclaw_container(&[]);
    let write_config = format!("mkdir -p {STATE_IN_CONTAINER} && printf '%s' '{}' > {STATE_IN_CONTAINER}/openclaw.json", fx.config(&[]));
    let run = fx.run(&id, &["sh", "-c", &write_config]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    let run = fx.run(&id, &["openclaw", "sandbox", "exec", "--session", "agent:main:dood", "--", "true"]);
    assert_eq!(run.code, Some(1), "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    for needle in [
        "the sandbox workspace /home/node/.openclaw/sandboxes/agent-main-dood-",
        "has no path on the Docker host",
        "is not on a mount from the host",
        "docker-compose.yml",
        "agents.defaults.sandbox.workspaceRoot",
    ] {
        assert!(run.stderr.contains(needle), "{needle:?} missing from:\n{}", run.stderr);
    }
    assert!(fx.sandboxes().is_empty(), "nothing is created: {:?}", fx.sandboxes());

    // doctor finds the same problem before any sandbox is tried.
    let doctor = fx.run(&id, &["openclaw", "doctor"]);
    assert_eq!(doctor.code, Some(1), "{}{}", doctor.stdout, doctor.stderr);
    assert!(doctor.stdout.contains("the sandbox workspace root /home/node/.openclaw/sandboxes has no path on the Docker host"), "{}", doctor.stdout);
}
