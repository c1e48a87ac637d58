//! The prune pass and the prune thread against the real engine: idle and
//! age pruning, limits switched off, leased containers skipped, orphans
//! adopted (and foreign ones left alone), vanished containers dropped from
//! the registry, scratch workspace folders removed while agent workspaces
//! and the shared root stay, and the thread's timed loop and prompt stop.
//!
//! Like the sandbox tests, these always run (with a loud SKIPPED line under
//! `OPENCLAW_SKIP_DOCKER_TESTS=1`) and never pull: they use the local
//! `openclaw-sandbox:bookworm-slim` image. Each test has its own state
//! folder and its own container prefixes, and a guard force-removes every
//! container carrying them when the test ends, also when it fails. A pass
//! lists every labelled container on the engine, so these tests also show
//! that other tests' (and real) sandboxes are left alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openclaw::config::Config;
use openclaw::config::sandbox::Scope;
use openclaw::docker::{CreateSpec, Docker};
use openclaw::paths::{Env, Paths};
use openclaw::prune::{self, PruneThread, Reason, Report};
use openclaw::sandbox::registry::{Entry, Registry};
use openclaw::sandbox::{Manager, Sandbox, keys, lease};

use crate::util::{Home, PrefixGuard};

const IMAGE: &str = "openclaw-sandbox:bookworm-slim";
const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------
// Helpers.

/// One test's world: a home with a state folder, our container prefix, a
/// foreign prefix (another state folder's, as far as prune can tell), the
/// engine, and the guard that removes both prefixes' containers.
struct Fixture {
    home: Home,
    prefix: String,
    foreign_prefix: String,
    docker: Docker,
    manager: Manager,
    _guard: PrefixGuard,
}

impl Fixture {
    /// `None` (after a loud line) under `OPENCLAW_SKIP_DOCKER_TESTS=1`.
    fn new(test: &str) -> Option<Fixture> {
        let docker = crate::util::engine(test, &[IMAGE])?;
        let home = Home::new("prune");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("openclaw-test-sbx-{}-p{n}-", std::process::id());
        let foreign_prefix = format!("openclaw-test-sbxf-{}-p{n}-", std::process::id());
        let manager = Manager::new(docker.clone(), paths(&home));
        let _guard = PrefixGuard { docker: docker.clone(), prefixes: vec![prefix.clone(), foreign_prefix.clone()] };
        Some(Fixture { home, prefix, foreign_prefix, docker, manager, _guard })
    }

    fn paths(&self) -> Paths {
        paths(&self.home)
    }

    /// Writes `openclaw.json` with `agents.defaults.sandbox` = `sandbox`
    /// (mode `all` and our container prefix added) and loads it.
    fn config(&self, mut sandbox: serde_json::Value) -> Config {
        let obj = sandbox.as_object_mut().unwrap();
        obj.insert("mode".into(), "all".into());
        let docker = obj.entry("docker").or_insert_with(|| serde_json::json!({}));
        docker["containerPrefix"] = self.prefix.clone().into();
        let text = serde_json::json!({ "agents": { "defaults": { "sandbox": sandbox } } });
        self.home.write_config(&serde_json::to_string_pretty(&text).unwrap());
        openclaw::config::load(&self.paths(), &Env::new(), None).unwrap_or_else(|e| panic!("{e}")).config
    }

    fn ensure(&self, config: &Config, session_key: &str) -> Sandbox {
        self.manager.ensure(config, session_key).unwrap_or_else(|e| panic!("ensure {session_key}: {e} ({e:?})"))
    }

    fn registry(&self) -> Registry {
        self.manager.registry()
    }

    fn entry(&self, name: &str) -> Option<Entry> {
        self.registry().get(name).unwrap()
    }

    /// Moves the registry times of `name` into the past.
    fn backdate(&self, name: &str, last_used_at_ms: u64, created_at_ms: Option<u64>) {
        let mut entry = self.entry(name).expect("registry entry");
        entry.last_used_at_ms = last_used_at_ms;
        entry.created_at_ms = created_at_ms.or(entry.created_at_ms);
        self.registry().upsert(entry).unwrap();
    }

    fn exists(&self, name: &str) -> bool {
        match self.docker.container_inspect(name) {
            Ok(_) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => panic!("inspect {name}: {e}"),
        }
    }

    fn prune(&self, config: &Config, now_ms: u64) -> Report {
        let report = prune::prune_once(&self.docker, config, &self.paths(), now_ms);
        assert!(report.errors.is_empty(), "{report:?}");
        report
    }

    fn sandboxes_root(&self) -> PathBuf {
        self.home.state().join("sandboxes")
    }

    /// Creates (without starting) a labelled container the registry does
    /// not know, with `mount` bound at `/workspace`.
    fn create_orphan(&self, name: &str, scope_key: &str, created_at_ms: u64, mount: &Path) {
        self.create_labelled(name, scope_key, created_at_ms, mount, &[]);
    }

    fn create_labelled(&self, name: &str, scope_key: &str, created_at_ms: u64, mount: &Path, extra: &[(&str, &str)]) {
        std::fs::create_dir_all(mount).unwrap();
        let mut labels = BTreeMap::from([
            ("openclaw.sandbox".to_string(), "1".to_string()),
            ("openclaw.sessionKey".to_string(), scope_key.to_string()),
            ("openclaw.createdAtMs".to_string(), created_at_ms.to_string()),
            ("openclaw.configHash".to_string(), "feedface".to_string()),
        ]);
        labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let spec = CreateSpec {
            image: IMAGE.to_string(),
            cmd: vec!["sleep".into(), "infinity".into()],
            labels,
            network_mode: Some("none".into()),
            binds: vec![format!("{}:/workspace", mount.display())],
            init: true,
            ..CreateSpec::default()
        };
        self.docker.container_create(name, &spec).unwrap_or_else(|e| panic!("create {name}: {e}"));
    }
}

fn paths(home: &Home) -> Paths {
    home.paths()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The names of this process's threads (as the kernel keeps them, at most
/// 15 bytes).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect()
}

fn removed(report: &Report) -> Vec<(&str, Reason)> {
    report.removed.iter().map(|(n, r)| (n.as_str(), *r)).collect()
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn idle_sandbox_is_pruned_with_its_scratch_folder() {
    let Some(fx) = Fixture::new("idle_sandbox_is_pruned_with_its_scratch_folder") else { return };
    let config = fx.config(serde_json::json!({ "scope": "session", "prune": { "idleHours": 1, "maxAgeDays": 0 } }));
    let stale = fx.ensure(&config, "agent:main:telegram:dm:1");
    let fresh = fx.ensure(&config, "agent:main:telegram:dm:2");
    std::fs::write(stale.workspace_dir.join("notes.txt"), "scratch").unwrap();
    let agent_ws = config.workspace_for("main");
    std::fs::create_dir_all(&agent_ws).unwrap();
    std::fs::write(agent_ws.join("AGENTS.md"), "keep me").unwrap();

    // Nothing is idle yet.
    let now = now_ms();
    assert_eq!(fx.prune(&config, now), Report::default());

    fx.backdate(&stale.name, now - 2 * HOUR, None);
    let report = fx.prune(&config, now);
    assert_eq!(removed(&report), vec![(stale.name.as_str(), Reason::Idle)], "{report:?}");
    assert!(report.skipped_leased.is_empty() && report.adopted.is_empty() && report.dropped.is_empty());
    assert!(!fx.exists(&stale.name));
    assert_eq!(fx.entry(&stale.name), None);
    assert!(fx.exists(&fresh.name) && fx.entry(&fresh.name).is_some());

    // The pruned session's scratch folder is gone; the other session's, the
    // root and the agent workspace stay.
    let root = fx.sandboxes_root();
    assert_eq!(stale.workspace_dir, keys::sandbox_workspace_dir(&root, Scope::Session, "agent:main:telegram:dm:1"));
    assert!(!stale.workspace_dir.exists(), "{}", stale.workspace_dir.display());
    assert!(fresh.workspace_dir.is_dir());
    assert!(root.is_dir());
    assert_eq!(std::fs::read_to_string(agent_ws.join("AGENTS.md")).unwrap(), "keep me");
    // The lock file of the removed container is forgotten.
    assert!(!fx.home.state().join(format!("sandbox/leases/{}.lock", stale.name)).exists());
}

#[test]
fn old_sandbox_is_pruned_by_age() {
    let Some(fx) = Fixture::new("old_sandbox_is_pruned_by_age") else { return };
    let config = fx.config(serde_json::json!({ "prune": { "idleHours": 0, "maxAgeDays": 1 } }));
    let sbx = fx.ensure(&config, "agent:main:main");
    assert_eq!(sbx.scope_key, "agent:main");
    let now = now_ms();
    // Unused for a long time, but idle pruning is off.
    fx.backdate(&sbx.name, now - 30 * DAY, None);
    assert_eq!(fx.prune(&config, now), Report::default());
    assert!(fx.exists(&sbx.name));

    fx.backdate(&sbx.name, now, Some(now - 2 * DAY));
    let report = fx.prune(&config, now);
    assert_eq!(removed(&report), vec![(sbx.name.as_str(), Reason::Age)]);
    assert!(!fx.exists(&sbx.name));
    assert!(!sbx.workspace_dir.exists(), "the agent scope's scratch folder goes too");
    assert!(fx.sandboxes_root().is_dir());
}

#[test]
fn nothing_is_pruned_with_both_limits_off_and_shared_root_stays() {
    let Some(fx) = Fixture::new("nothing_is_pruned_with_both_limits_off_and_shared_root_stays") else { return };
    let off = fx.config(serde_json::json!({ "scope": "shared", "prune": { "idleHours": 0, "maxAgeDays": 0 } }));
    let sbx = fx.ensure(&off, "agent:main:main");
    assert_eq!(sbx.scope_key, "shared");
    assert_eq!(sbx.workspace_dir, fx.sandboxes_root());
    std::fs::write(fx.sandboxes_root().join("shared.txt"), "shared").unwrap();
    fx.backdate(&sbx.name, 0, Some(0));
    assert_eq!(fx.prune(&off, now_ms() + 3650 * DAY), Report::default());
    assert!(fx.exists(&sbx.name));

    // With idle pruning on, the shared container goes but its folder (the
    // whole root) stays.
    let on = fx.config(serde_json::json!({ "scope": "shared", "prune": { "idleHours": 1, "maxAgeDays": 0 } }));
    let report = fx.prune(&on, now_ms());
    assert_eq!(removed(&report), vec![(sbx.name.as_str(), Reason::Idle)]);
    assert!(!fx.exists(&sbx.name));
    assert_eq!(std::fs::read_to_string(fx.sandboxes_root().join("shared.txt")).unwrap(), "shared");
}

#[test]
fn leased_sandbox_is_skipped_until_released() {
    let Some(fx) = Fixture::new("leased_sandbox_is_skipped_until_released") else { return };
    let config = fx.config(serde_json::json!({ "scope": "session", "prune": { "idleHours": 1, "maxAgeDays": 1 } }));
    let sbx = fx.ensure(&config, "agent:main:discord:7");
    let now = now_ms();
    fx.backdate(&sbx.name, now - 2 * HOUR, Some(now - 2 * DAY));

    let held = lease::acquire(&fx.home.state(), &sbx.name).unwrap();
    let report = fx.prune(&config, now);
    assert_eq!(report.skipped_leased, vec![sbx.name.clone()]);
    assert!(report.removed.is_empty());
    assert!(fx.exists(&sbx.name) && fx.entry(&sbx.name).is_some());
    assert!(sbx.workspace_dir.is_dir());

    drop(held);
    let report = fx.prune(&config, now);
    assert_eq!(removed(&report), vec![(sbx.name.as_str(), Reason::Idle)]);
    assert!(report.skipped_leased.is_empty());
    assert!(!fx.exists(&sbx.name));
}

#[test]
fn orphan_is_adopted_then_pruned_and_foreign_containers_are_left_alone() {
    let Some(fx) = Fixture::new("orphan_is_adopted_then_pruned_and_foreign_containers_are_left_alone") else { return };
    let off = fx.config(serde_json::json!({ "scope": "session", "prune": { "idleHours": 0, "maxAgeDays": 0 } }));
    let now = now_ms();
    let root = fx.sandboxes_root();
    let key = "agent:main:whatsapp:9";
    let slug = keys::slug(key);
    let orphan = format!("{}{slug}", fx.prefix);
    let scratch = root.join(&slug);
    fx.create_orphan(&orphan, key, now - 2 * DAY, &scratch);
    // Another state folder's: a foreign prefix, though it mounts our folder.
    let foreign = format!("{}{slug}", fx.foreign_prefix);
    fx.create_orphan(&foreign, key, now - 2 * DAY, &scratch);
    // Our prefix, but it mounts another state folder's workspace.
    let elsewhere = crate::util::TempDir::new("prune-elsewhere");
    let stranger = format!("{}stranger-00000000", fx.prefix);
    fx.create_orphan(&stranger, key, now - 2 * DAY, &elsewhere.join("sandboxes/x"));
    // Our prefix and folder, but a browser container (upstream's label).
    let browser = format!("{}browser-{slug}", fx.prefix);
    fx.create_labelled(&browser, key, now - 2 * DAY, &scratch, &[("openclaw.sandboxBrowser", "1")]);

    // Limits off: adopted, not pruned.
    let report = fx.prune(&off, now);
    assert_eq!(report.adopted, vec![orphan.clone()], "{report:?}");
    assert!(report.removed.is_empty());
    let entry = fx.entry(&orphan).expect("adopted");
    assert_eq!(
        entry,
        Entry {
            container_name: orphan.clone(),
            session_key: key.to_string(),
            created_at_ms: Some(now - 2 * DAY),
            last_used_at_ms: now - 2 * DAY,
            image: Some(IMAGE.to_string()),
            config_hash: Some("feedface".to_string()),
        }
    );
    assert_eq!(fx.entry(&foreign), None);
    assert_eq!(fx.entry(&stranger), None);
    assert_eq!(fx.entry(&browser), None);

    // Limits on: the adopted orphan goes with its folder; the others stay.
    let on = fx.config(serde_json::json!({ "scope": "session", "prune": { "idleHours": 1 } }));
    let report = fx.prune(&on, now);
    assert!(report.adopted.is_empty());
    assert_eq!(removed(&report), vec![(orphan.as_str(), Reason::Idle)]);
    assert!(!fx.exists(&orphan));
    assert!(!scratch.exists());
    assert!(fx.exists(&foreign) && fx.exists(&stranger) && fx.exists(&browser));
    assert!(elsewhere.join("sandboxes/x").is_dir());
}

#[test]
fn entries_of_vanished_containers_are_dropped() {
    let Some(fx) = Fixture::new("entries_of_vanished_containers_are_dropped") else { return };
    let config = fx.config(serde_json::json!({ "scope": "session", "prune": { "idleHours": 1, "maxAgeDays": 1 } }));
    let sbx = fx.ensure(&config, "agent:main:gone");
    fx.docker.container_remove(&sbx.name, true).unwrap();
    let never = format!("{}never-00000000", fx.prefix);
    let now = now_ms();
    fx.registry()
        .upsert(Entry {
            container_name: never.clone(),
            session_key: "agent:main:never".into(),
            created_at_ms: Some(now),
            last_used_at_ms: now,
            image: Some(IMAGE.into()),
            config_hash: None,
        })
        .unwrap();

    let report = fx.prune(&config, now);
    let mut dropped = report.dropped.clone();
    dropped.sort();
    let mut expected = vec![sbx.name.clone(), never.clone()];
    expected.sort();
    assert_eq!(dropped, expected, "{report:?}");
    assert!(report.removed.is_empty());
    assert!(fx.registry().entries().unwrap().is_empty());
}

#[test]
fn thread_prunes_on_its_interval_and_stops_promptly() {
    let Some(fx) = Fixture::new("thread_prunes_on_its_interval_and_stops_promptly") else { return };
    let config = fx.config(serde_json::json!({ "scope": "session", "prune": { "idleHours": 1, "maxAgeDays": 0 } }));
    let sbx = fx.ensure(&config, "agent:main:thread");

    let shared = config.clone();
    let thread = PruneThread::start(fx.docker.clone(), move || shared.clone(), fx.paths(), Duration::from_millis(200))
        .expect("spawn the prune thread");
    // The thread names itself once it runs, so look for a moment.
    let named = Instant::now() + Duration::from_secs(2);
    loop {
        let names = thread_names();
        if names.iter().any(|n| n == prune::THREAD_NAME) {
            break;
        }
        assert!(Instant::now() < named, "no thread named {}: {names:?}", prune::THREAD_NAME);
        std::thread::sleep(Duration::from_millis(10));
    }

    // Recently used: the start-up pass and the next ones keep it.
    std::thread::sleep(Duration::from_millis(500));
    assert!(fx.exists(&sbx.name));

    fx.backdate(&sbx.name, now_ms() - 2 * HOUR, None);
    let deadline = Instant::now() + Duration::from_secs(5);
    // The container goes first, its registry entry right after.
    while fx.exists(&sbx.name) || fx.entry(&sbx.name).is_some() {
        assert!(Instant::now() < deadline, "the thread did not prune {} within 5 s", sbx.name);
        std::thread::sleep(Duration::from_millis(50));
    }

    let started = Instant::now();
    thread.stop();
    assert!(started.elapsed() < Duration::from_secs(1), "stop took {:?}", started.elapsed());
}
