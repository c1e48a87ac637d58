//! The gateway seen from another host: a network namespace of the test's
//! own (`util::Netns`) reaches a gateway bound to `lan` through a veth pair.

use std::process::Command;

use crate::util::{GatewayProc, Home, Netns, output};

const TOKEN: &str = "net0123456789abcdef0123456789abcdef0123";

/// One IP opening many idle sockets gets the per-IP cap and an immediate
/// 503 for the rest; a client already connected (and the host itself) is
/// still served meanwhile.
#[test]
fn per_ip_cap_refuses_the_excess_and_others_stay_served() {
    let ns = Netns::new();
    let mut h = Home::new("gw-net-cap");
    h.write_config(&format!("{{ gateway: {{ mode: 'local', auth: {{ token: '{TOKEN}' }} }} }}"));
    h.set_env("OPENCLAW_GATEWAY_MAX_CONNECTIONS_PER_IP", "20");
    let gw = GatewayProc::start(&h, &["--bind", "lan"]);
    let script = format!(
        r#"
import socket, time
socks, refused, held = [], 0, 0
for _ in range(300):
    s = socket.create_connection(("{ip}", {port}), timeout=5)
    socks.append(s)
time.sleep(0.5)
for s in socks:
    s.settimeout(0.2)
    try:
        data = s.recv(64)
        if data.startswith(b"HTTP/1.1 503"):
            refused += 1
        else:
            held += 1
    except socket.timeout:
        held += 1
print(refused, held, flush=True)
time.sleep(3)
"#,
        ip = ns.host_ip,
        port = gw.port
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 in the namespace");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let counts: Vec<u32> = line.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert_eq!(counts, [280, 20], "refused/held from one IP with a cap of 20: {line}");
    // While that IP sits at its cap, the host is served.
    let mut c = h.command(&["health"]);
    c.env("OPENCLAW_GATEWAY_PORT", gw.port.to_string());
    let o = output(c);
    assert_eq!(o.code, 0, "{}", o.all());
    let _ = child.wait();
}
