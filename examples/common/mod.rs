//! Helpers the benchmark examples share (`#[path]`-included; not an example
//! of its own).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Resident memory of `pid` in KiB (`VmRSS`), 0 when unreadable.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The `p` quantile (0–1) of an ascending list.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Median and p95 of `v`.
pub fn median_p95(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (percentile(&v, 0.5), percentile(&v, 0.95))
}

/// Starts `openclaw gateway --port <port> <args>` with `OPENCLAW_STATE_DIR`
/// and the extra environment, waits for its ready line and drains its
/// stdout so it never blocks.
pub fn start_gateway(bin: &str, state: &str, port: u16, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut c = Command::new(bin);
    c.args(["gateway", "--port", &port.to_string()]).args(args).env("OPENCLAW_STATE_DIR", state).env("RUST_LOG", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    let mut gw = c.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start the gateway");
    let mut line = String::new();
    BufReader::new(gw.stdout.as_mut().expect("piped")).read_line(&mut line).expect("the ready line");
    let out = gw.stdout.take().expect("piped");
    std::thread::spawn(move || for _ in BufReader::new(out).lines() {});
    gw
}
