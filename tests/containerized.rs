//! The containerized gateway's host-side pieces: `openclaw gateway probe`
//! (the image's health check) against a real gateway process, and the
//! refusals of `docker-setup.sh` for bad input.
//!
//! The setup tests drive the real script with a fake `docker` (and
//! `docker-compose`) on `PATH`: they cover only what the script must refuse
//! before it touches an engine. The whole flow against the real engine is
//! `scripts/e2e/onboard-docker.sh`.

use crate::util::{GatewayProc, Home, TempDir, free_port};

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
    assert!(out.stderr.contains("Gateway not healthy") && out.stderr.contains("not reachable"), "{}", out.stderr);

    // A peer that accepts and never answers: the deadline ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/healthz", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let out = home.run(&["gateway", "probe", "--url", &url, "--timeout", "300"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("timeout after 300 ms"), "{}", out.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let out = home.run(&["gateway", "probe", "--url", "ftp://127.0.0.1:1"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("invalid gateway URL"), "{}", out.stderr);
}
