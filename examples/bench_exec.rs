//! Times the library's sandbox exec path inside one running process, as the
//! gateway pays it per tool call: `Manager::ensure` of a warm sandbox plus
//! `sandbox::exec::run` of `true`. Used by scripts/bench-sandbox.sh.
//!
//! Usage: bench_exec <runs> <session-key>   (HOME selects the state folder)

use std::time::Instant;

use openclaw::docker::Docker;
use openclaw::paths::{Paths, process_env};
use openclaw::sandbox::{Manager, exec};

fn main() {
    env_logger::init();
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(30);
    let session = args.next().unwrap_or_else(|| "agent:main:bench".into());
    let env = process_env();
    let paths = Paths::resolve(&env, None).expect("paths");
    let loaded = openclaw::config::load(&paths, &env, None).expect("config");
    let docker = Docker::from_env(&loaded.env).expect("docker");
    let manager = Manager::new(docker, paths.clone());
    let req = exec::ExecRequest::new("true");
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let sandbox = manager.ensure(&loaded.config, &session).expect("ensure");
        let out = exec::run(&manager, &sandbox, &paths.state_dir, &req, &[]).expect("exec");
        assert_eq!(out.exit_code, Some(0));
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!("{:.1}", times[times.len() / 2]);
}
