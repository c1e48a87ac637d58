//! Gateway figures for `scripts/bench-gateway.sh` (a benchmark, not a test):
//! start-up to the first `200` on `/healthz`, resident memory idle and after
//! 1,000 health RPCs, and WebSocket RPC round trips with 50 concurrent
//! clients. Usage: bench_gateway <openclaw binary> <state dir> <port>.

#[path = "common/mod.rs"]
mod common;
use common::{percentile, rss_kib};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use openclaw::gateway::client::{Client, Options};
use serde_json::json;

const TOKEN: &str = "bench0123456789abcdef0123456789abcdef";

fn start(bin: &str, state: &str, port: u16) -> Child {
    Command::new(bin)
        .args(["gateway", "--allow-unconfigured", "--port", &port.to_string(), "--token", TOKEN])
        .env("OPENCLAW_STATE_DIR", state)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the gateway")
}

fn stop(mut c: Child) {
    let _ = Command::new("kill").arg(c.id().to_string()).status();
    let _ = c.wait();
}

fn healthz(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

/// A WebSocket client on the production client code.
fn connect(port: u16) -> Client {
    let opts = Options {
        url: format!("ws://127.0.0.1:{port}"),
        token: Some(TOKEN.into()),
        password: None,
        timeout: Duration::from_secs(30),
        scopes: vec!["operator.read".into()],
        device: None,
    };
    Client::connect(&opts).expect("connect")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bin, state, port) = (&args[1], &args[2], args[3].parse::<u16>().unwrap());
    let idle_secs: u64 = std::env::var("BENCH_IDLE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);

    // Start-up: spawn to the first 200 on /healthz, median of 15.
    let mut starts = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let c = start(bin, state, port);
        while !healthz(port) {
            std::thread::sleep(Duration::from_micros(200));
        }
        starts.push(t.elapsed().as_secs_f64() * 1000.0);
        stop(c);
    }
    starts.sort_by(f64::total_cmp);
    println!("start to first 200 on /healthz   median {:7.2} ms   (min {:.2}, max {:.2})", percentile(&starts, 0.5), starts[0], starts[starts.len() - 1]);

    let mut child = start(bin, state, port);
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let pid = child.id();
    println!("RSS right after start              {:7.2} MiB", rss_kib(pid) as f64 / 1024.0);
    std::thread::sleep(Duration::from_secs(idle_secs));
    println!("RSS after {idle_secs:>3} s idle               {:7.2} MiB", rss_kib(pid) as f64 / 1024.0);

    let mut w = connect(port);
    let t = Instant::now();
    for _ in 0..1000 {
        w.call("health", json!({})).expect("health");
    }
    let one = t.elapsed();
    println!("1,000 health RPCs on one socket    {:7.2} ms total ({:.1} µs each)", one.as_secs_f64() * 1000.0, one.as_secs_f64() * 1e6 / 1000.0);
    println!("RSS after 1,000 health RPCs        {:7.2} MiB", rss_kib(pid) as f64 / 1024.0);
    drop(w);

    // 50 concurrent clients, 200 RPCs each.
    let clients = 50;
    let per = 200;
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let b = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut w = connect(port);
                b.wait();
                let mut lat = Vec::with_capacity(per);
                for _ in 0..per {
                    let t = Instant::now();
                    w.call("health", json!({})).expect("health");
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<f64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort_by(f64::total_cmp);
    println!("WS health RPC, 50 clients x 200    p50 {:6.3} ms   p99 {:6.3} ms   max {:6.3} ms", percentile(&all, 0.5), percentile(&all, 0.99), all[all.len() - 1]);
    println!("RSS with 50 clients served         {:7.2} MiB", rss_kib(pid) as f64 / 1024.0);
    stop(child);
}
