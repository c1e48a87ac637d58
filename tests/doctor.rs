//! `openclaw doctor` against the real Docker Engine and against broken setups.

use std::os::unix::fs::PermissionsExt;

use crate::util::{Home, skip_docker_tests};

#[test]
fn reports_the_real_engine() {
    if skip_docker_tests() {
        return;
    }
    let home = Home::new("doctor-engine");
    let out = home.run(&["doctor"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("✓ docker   Docker Engine "), "{}", out.stdout);
    assert!(out.stdout.contains("(API 1."), "{}", out.stdout);
    assert!(out.stdout.contains("/var/run/docker.sock"), "{}", out.stdout);

    let out = home.run(&["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    let docker = v["checks"].as_array().unwrap().iter().find(|c| c["id"] == "docker").unwrap();
    assert_eq!(docker["status"], "ok");
}

#[test]
fn missing_sandbox_image_is_an_error_naming_the_setup_script() {
    if skip_docker_tests() {
        return;
    }
    let home = Home::new("doctor-image");
    home.write_config("{ agents: { defaults: { sandbox: { mode: 'all', docker: { image: 'openclaw-sandbox:bookworm-slim' } } }, list: [ { id: 'other', sandbox: { docker: { image: 'openclaw-test-no-such-image:none' } } } ] } }");
    let out = home.run(&["doctor"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("openclaw-test-no-such-image:none not found"), "{}", out.stdout);
    assert!(out.stdout.contains("build or pull openclaw-test-no-such-image:none"), "{}", out.stdout);
}

#[test]
fn missing_socket_names_the_path_and_the_fix() {
    let mut home = Home::new("doctor-nosock");
    home.set_env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let out = home.run(&["doctor"]);
    assert_eq!(out.code, 0, "sandboxing is off, so a missing engine is only a warning: {}", out.all());
    assert!(out.stdout.contains("! docker"), "{}", out.stdout);
    assert!(out.stdout.contains("/nonexistent/docker.sock"), "{}", out.stdout);
    assert!(out.stdout.contains("fix: install and start Docker"), "{}", out.stdout);

    home.write_config("{ agents: { defaults: { sandbox: { mode: 'non-main' } } } }");
    let out = home.run(&["doctor"]);
    assert_eq!(out.code, 1, "sandboxing is on: {}", out.all());
    assert!(out.stdout.contains("✗ docker"), "{}", out.stdout);
}

#[test]
fn engine_that_never_answers_times_out() {
    let mut home = Home::new("doctor-hang");
    let sock = home.dir.join("hang.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // Accept and hold connections without ever replying.
    let _t = std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().take(4) {
            held.push(c);
        }
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    home.set_env("DOCKER_HOST", &format!("unix://{}", sock.display()));
    home.write_config("{ agents: { defaults: { sandbox: { mode: 'all' } } } }");
    let started = std::time::Instant::now();
    let out = home.run(&["doctor"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "doctor must not hang");
    assert!(out.stdout.contains("✗ docker"), "{}", out.stdout);
}

#[test]
fn loose_state_permissions_are_reported_and_fixed() {
    let home = Home::new("doctor-perms");
    std::fs::set_permissions(home.state(), std::fs::Permissions::from_mode(0o755)).unwrap();
    home.write_config("{}");
    std::fs::set_permissions(home.config_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut h = home;
    h.set_env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let out = h.run(&["doctor"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("has mode 0755"), "{}", out.stdout);
    assert!(out.stdout.contains("has mode 0644"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("fix: chmod 700 {}", h.state().display())), "{}", out.stdout);

    let out = h.run(&["doctor", "--fix"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(std::fs::metadata(h.state()).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(h.config_path()).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn fix_drops_unknown_keys_and_keeps_a_backup() {
    let mut home = Home::new("doctor-fix");
    home.set_env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let text = "{ gateway: { mode: 'local', colour: 'blue' }, agents: { defaults: { sandbox: { docker: { privilged: true } } } } }";
    home.write_config(text);
    let out = home.run(&["doctor"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("gateway.colour: Unrecognized key"), "{}", out.stdout);
    let out = home.run(&["doctor", "--fix"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("removed unrecognized keys"), "{}", out.stdout);
    assert_eq!(std::fs::read_to_string(home.state().join("openclaw.json.bak")).unwrap(), text);
    assert_eq!(home.run(&["config", "get", "gateway.mode"]).stdout, "local\n");
}

#[test]
fn invalid_config_is_reported_with_the_rest_still_checked() {
    let mut home = Home::new("doctor-invalid");
    home.set_env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    home.write_config("{ gateway: { port: 'x' } }");
    let out = home.run(&["doctor", "--json"]);
    assert_eq!(out.code, 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let ids: Vec<&str> = v["checks"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"config") && ids.contains(&"state") && ids.contains(&"docker"), "{ids:?}");
}

#[test]
fn socket_permission_denied_names_owner_group_and_our_ids() {
    if skip_docker_tests() {
        return;
    }
    let home = Home::new("doctor-perm-denied");
    std::fs::set_permissions(home.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    home.write_config("{ agents: { defaults: { sandbox: { mode: 'all' } } } }");
    std::fs::set_permissions(home.config_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(home.state(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The engine's socket is root:docker 0660; an unprivileged user outside
    // that group must get a message that says so and how to fix it.
    let c = home.command(&["doctor"]);
    let mut wrapped = std::process::Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(c.get_program()).args(c.get_args());
    wrapped.env_clear().envs(c.get_envs().filter_map(|(k, v)| Some((k, v?)))).current_dir("/");
    let out = crate::util::output(wrapped);
    assert_eq!(out.code, 1, "{}", out.all());
    let text = out.stdout;
    assert!(text.contains("✗ docker"), "{text}");
    assert!(text.contains("/var/run/docker.sock"), "{text}");
    assert!(text.to_lowercase().contains("permission denied"), "{text}");
    assert!(text.contains("65534"), "names our uid: {text}");
    assert!(text.contains("docker") && text.contains("usermod"), "names the group and the fix: {text}");
}
