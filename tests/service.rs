//! `openclaw gateway install|uninstall|start|stop|restart|status` through the
//! built binary. The unit goes to a temporary folder
//! (`OPENCLAW_SYSTEMD_UNIT_DIR`) and systemd is never touched: either
//! `OPENCLAW_SYSTEMCTL=none` (the "systemd is not running" path) or a small
//! script standing in for `systemctl` that records its arguments, so the
//! calls can be checked. `status` probes a real gateway. The written unit is
//! checked with `systemd-analyze verify` where that program exists.
//!
//! As root the commands write a system unit (`User=` the state folder's
//! owner); otherwise a user unit (`systemctl --user`): the checks follow.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{GatewayProc, Home};

const TOKEN: &str = "service-test-token-0123456789abcdef";

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:").map(|r| r.split_whitespace().nth(1) == Some("0"))))
        .unwrap_or(false)
}

/// A home whose service commands write their unit under it.
fn home(tag: &str, systemctl: &str) -> (Home, PathBuf) {
    let mut h = Home::new(tag);
    let units = h.dir.join("units");
    h.set_env("OPENCLAW_SYSTEMD_UNIT_DIR", &units.to_string_lossy());
    h.set_env("OPENCLAW_SYSTEMCTL", systemctl);
    h.set_env("USER", "tester");
    (h, units.join("openclaw-gateway.service"))
}

fn config(sandbox_mode: &str) -> String {
    format!("{{ gateway: {{ mode: 'local', auth: {{ token: '{TOKEN}' }} }}, agents: {{ defaults: {{ sandbox: {{ mode: '{sandbox_mode}' }} }} }} }}")
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// `systemd-analyze verify` on the unit, where the program exists.
fn verify(unit: &Path) {
    let Ok(out) = Command::new("systemd-analyze").arg("verify").arg(unit).output() else {
        eprintln!("systemd-analyze is not installed; the unit's syntax is not verified");
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains(&*unit.to_string_lossy()), "systemd-analyze verify:\n{stderr}");
}

#[test]
fn install_without_systemd_writes_a_hardened_unit() {
    let (h, unit) = home("svc-install", "none");
    h.write_config(&config("all"));
    let out = h.run(&["gateway", "install", "--port", "19123"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(&format!("Wrote {}", unit.display())), "{}", out.all());
    assert!(out.stdout.contains("systemd is not running here"), "{}", out.all());
    let enable = if is_root() { "systemctl enable --now openclaw-gateway.service" } else { "systemctl --user enable --now openclaw-gateway.service" };
    assert!(out.stdout.contains(enable), "{}", out.all());

    let text = std::fs::read_to_string(&unit).unwrap();
    assert_eq!(std::fs::metadata(&unit).unwrap().permissions().mode() & 0o777, 0o644);
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_openclaw")).unwrap();
    let state = h.state();
    for line in [
        format!("ExecStart={} gateway --port 19123", exe.display()),
        format!("WorkingDirectory={}", state.display()),
        format!("ReadWritePaths={}", state.display()),
        "NoNewPrivileges=yes".into(),
        "ProtectSystem=strict".into(),
        "ProtectHome=tmpfs".into(),
        "Restart=always".into(),
    ] {
        assert!(has_line(&text, &line), "{line:?} missing from:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("MemoryMax=")), "{text}");
    assert!(!text.contains("PrivateTmp"), "the test's state folder is in /tmp:\n{text}");
    assert!(!text.contains(TOKEN), "no secrets in the unit");
    if is_root() {
        // A system unit for root's own state: no group needed, the state
        // folder is not root's default, so it is named.
        assert!(has_line(&text, "User=root") && has_line(&text, "WantedBy=multi-user.target"), "{text}");
        assert!(has_line(&text, &format!("Environment=\"OPENCLAW_STATE_DIR={}\"", state.display())), "{text}");
        assert!(!text.contains("SupplementaryGroups"), "root needs no docker group:\n{text}");
    } else {
        assert!(has_line(&text, "WantedBy=default.target") && !text.contains("User="), "{text}");
        assert!(!text.contains("OPENCLAW_STATE_DIR"), "the user's default state folder:\n{text}");
    }
    verify(&unit);

    // Same again: up to date. Another port: refused without --force.
    let again = h.run(&["gateway", "install", "--port", "19123"]);
    assert!(again.code == 0 && again.stdout.contains("is up to date"), "{}", again.all());
    let other = h.run(&["gateway", "install", "--port", "19124"]);
    assert_eq!(other.code, 1, "{}", other.all());
    assert!(other.stderr.contains("already exists and differs") && other.stderr.contains("--force"), "{}", other.all());
    assert!(has_line(&std::fs::read_to_string(&unit).unwrap(), &format!("ExecStart={} gateway --port 19123", exe.display())));
    let forced = h.run(&["gateway", "install", "--port", "19124", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.all());
    assert!(std::fs::read_to_string(&unit).unwrap().contains("gateway --port 19124"));

    // Without systemd, start/stop say so; uninstall still removes the unit.
    let start = h.run(&["gateway", "start"]);
    assert_eq!(start.code, 1);
    assert!(start.stderr.contains("systemd is not running here"), "{}", start.all());
    let removed = h.run(&["gateway", "uninstall"]);
    assert_eq!(removed.code, 0, "{}", removed.all());
    assert!(!unit.exists());
    let twice = h.run(&["gateway", "uninstall"]);
    assert!(twice.code == 0 && twice.stdout.contains("is not installed"), "{}", twice.all());
    let stop = h.run(&["gateway", "stop"]);
    assert_eq!(stop.code, 1);
    assert!(stop.stderr.contains("is not installed") && stop.stderr.contains("openclaw gateway install"), "{}", stop.all());
}

#[test]
fn docker_group_only_for_a_sandboxing_service_user() {
    if !is_root() {
        eprintln!("docker_group_only_for_a_sandboxing_service_user: needs root (a system unit for another user); checked by unit tests");
        return;
    }
    let (h, unit) = home("svc-group", "none");
    let state = h.state();
    // The state folder belongs to `daemon` (uid 1 on Debian; systemd calls
    // `nobody` unsafe): the system unit runs as that user.
    std::os::unix::fs::chown(&state, Some(1), Some(1)).unwrap();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let owner = openclaw::service::name_for_id(&passwd, 1).unwrap_or_else(|| "1".into());
    h.write_config(&config("non-main"));
    let out = h.run(&["gateway", "install"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(has_line(&text, &format!("User={owner}")), "{text}");
    assert!(text.contains(" gateway --port 18789\n"), "the default port:\n{text}");
    let socket = Path::new("/var/run/docker.sock");
    if let Ok(meta) = std::fs::metadata(socket) {
        let gid = std::os::unix::fs::MetadataExt::gid(&meta);
        let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
        let name = openclaw::service::name_for_id(&groups, gid).unwrap_or_else(|| gid.to_string());
        assert!(has_line(&text, &format!("SupplementaryGroups={name}")), "{text}");
        assert!(has_line(&text, "After=docker.service"), "{text}");
    }
    verify(&unit);

    h.write_config(&config("off"));
    let out = h.run(&["gateway", "install", "--force"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(!text.contains("SupplementaryGroups") && !text.contains("docker.service"), "no sandboxing, no docker group:\n{text}");
}

#[test]
fn systemctl_calls_and_status() {
    let dir = crate::util::TempDir::new("svc-systemctl");
    let log = dir.join("calls.log");
    let fake = dir.join("systemctl");
    // Records each call; `show` answers like systemd does.
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$*\" >> {log}\ncase \"$*\" in *show*) printf 'ActiveState=active\\nSubState=running\\nMainPID=4242\\nUnitFileState=enabled\\n';; esac\nexit 0\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (h, unit) = home("svc-calls", &fake.to_string_lossy());
    h.write_config(&config("off"));
    let gw = GatewayProc::start(&h, &[]);
    let port = gw.port.to_string();
    let user = if is_root() { "" } else { "--user " };
    let calls = || std::fs::read_to_string(&log).unwrap_or_default();

    let out = h.run(&["gateway", "install", "--port", &port]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Installed and started openclaw-gateway.service"), "{}", out.all());
    assert_eq!(calls(), format!("{user}daemon-reload\n{user}enable --now openclaw-gateway.service\n"));

    let status = h.run(&["gateway", "status"]);
    assert_eq!(status.code, 0, "{}", status.all());
    assert!(status.stdout.contains("systemd: active (running), pid 4242, enabled"), "{}", status.all());
    assert!(status.stdout.contains(&format!("Gateway: http://127.0.0.1:{port}/healthz answered in")), "{}", status.all());
    assert!(status.stdout.contains("healthy (HTTP 200)"), "{}", status.all());
    let json: serde_json::Value = serde_json::from_str(&h.run(&["gateway", "status", "--json"]).stdout).unwrap();
    assert_eq!(json["gateway"]["ok"], true);
    assert_eq!(json["service"]["installed"], true);
    assert_eq!(json["service"]["unit"]["MainPID"], "4242");
    assert_eq!(json["service"]["unitPath"], unit.display().to_string());

    std::fs::remove_file(&log).unwrap();
    for verb in ["stop", "start", "restart"] {
        let out = h.run(&["gateway", verb]);
        assert_eq!(out.code, 0, "{verb}: {}", out.all());
    }
    assert_eq!(
        calls(),
        format!("{user}stop openclaw-gateway.service\n{user}start openclaw-gateway.service\n{user}restart openclaw-gateway.service\n")
    );

    // The gateway gone: status says so and fails.
    drop(gw);
    let status = h.run(&["gateway", "status"]);
    assert_eq!(status.code, 1, "{}", status.all());
    assert!(status.stdout.contains("did not answer"), "{}", status.all());

    std::fs::remove_file(&log).unwrap();
    let out = h.run(&["gateway", "uninstall"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(calls(), format!("{user}disable --now openclaw-gateway.service\n{user}daemon-reload\n"));
    assert!(!unit.exists());
}

#[test]
fn onboard_install_daemon_installs_the_same_unit() {
    let (h, unit) = home("svc-onboard", "none");
    let out = h.run(&[
        "onboard", "--non-interactive", "--accept-risk", "--mode", "local", "--gateway-port", "19321", "--auth-choice", "skip",
        "--skip-channels", "--skip-health", "--install-daemon",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let text = std::fs::read_to_string(&unit).unwrap_or_else(|e| panic!("no unit at {} ({e}): {}", unit.display(), out.all()));
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_openclaw")).unwrap();
    assert!(has_line(&text, &format!("ExecStart={} gateway --port 19321", exe.display())), "{text}");
    assert!(has_line(&text, "NoNewPrivileges=yes"), "{text}");
    verify(&unit);
}
