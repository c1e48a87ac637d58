//! The fake model server as a program, for the Control UI browser test and the
//! benchmark scripts: `cargo run --example fake_model -- [--port N] [--api-key KEY]`
//! prints `listening on http://127.0.0.1:<port>` and serves until killed. OpenAI
//! clients use `http://127.0.0.1:<port>/v1` as `baseUrl`, Anthropic clients
//! `http://127.0.0.1:<port>`. The commands it understands are listed in
//! `tests/fake_model.rs`.

// The test helpers (`requests`, `count`, …) are unused here.
#[path = "../tests/fake_model.rs"]
#[allow(dead_code)]
mod fake_model;

use std::io::Write;

const USAGE: &str = "usage: fake_model [--port N] [--api-key KEY]\n\
    Serves a deterministic fake of the OpenAI Chat Completions and Anthropic Messages APIs\n\
    on 127.0.0.1 (port 0, the default: a free one). With --api-key, calls must carry KEY.";

fn main() {
    let mut port = 0u16;
    let mut key = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        match name.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            "--port" => match inline.or_else(|| args.next()).and_then(|v| v.parse().ok()) {
                Some(p) => port = p,
                None => fail("--port needs a number 0-65535"),
            },
            "--api-key" => match inline.or_else(|| args.next()) {
                Some(k) => key = Some(k),
                None => fail("--api-key needs a value"),
            },
            _ => fail(&format!("unknown argument {arg:?}")),
        }
    }
    let server = match fake_model::FakeModel::start_on(port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake_model: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    server.require_key(key.as_deref());
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on http://127.0.0.1:{}", server.port());
    let _ = out.flush();
    loop {
        std::thread::park();
    }
}

fn fail(message: &str) -> ! {
    eprintln!("fake_model: {message}\n{USAGE}");
    std::process::exit(2);
}
