//! Runs a parsed command: the wiring between the CLI and the modules that do
//! the work. Each command returns its exit code; errors are printed here.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::{Args, Command, ConfigCommand, SandboxCommand};
use crate::config::{self, edit};
use crate::docker::Docker;
use crate::paths::{Env, Paths};
use crate::sandbox::cli as sandbox_cli;
use crate::{companion, doctor, gateway};

/// Exit code for runtime failures and invalid config (upstream uses 1 for both).
pub const FAILURE: u8 = 1;
/// Exit code for command-line usage errors.
pub const USAGE: u8 = 2;

pub fn run(args: Args, env: Env) -> ExitCode {
    let paths = match Paths::resolve(&env, args.profile.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let cwd = std::env::current_dir().ok();
    match args.command {
        Command::Help(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("openclaw {} ({})", crate::VERSION, crate::GIT_COMMIT);
            ExitCode::SUCCESS
        }
        Command::Config(cmd) => run_config(cmd, &paths, &env, cwd.as_deref()),
        Command::Doctor { json, fix } => doctor::run(&paths, &env, cwd.as_deref(), json, fix),
        Command::Sandbox(cmd) => run_sandbox(cmd, &paths, &env, cwd.as_deref()),
        Command::Gateway(opts) => match gateway::run(opts, paths, env, cwd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(FAILURE)
            }
        },
        Command::GatewayService(action) => crate::service::run(action, &paths, &env, args.profile.as_deref(), cwd.as_deref()),
        Command::Agent { conn, message, session, agent, timeout_s } => {
            companion::agent(&paths, &env, cwd.as_deref(), &conn, &message, session.as_deref(), agent.as_deref(), timeout_s)
        }
        Command::GatewayProbe { url, timeout_ms } => companion::probe(&paths, &env, cwd.as_deref(), url.as_deref(), timeout_ms),
        Command::Health { conn, verbose } => companion::health(&paths, &env, cwd.as_deref(), &conn, verbose),
        Command::Status { conn } => companion::status(&paths, &env, cwd.as_deref(), &conn),
        Command::Dashboard { no_open } => companion::dashboard(&paths, &env, cwd.as_deref(), no_open),
        Command::Devices { conn, cmd } => companion::devices(&paths, &env, cwd.as_deref(), &conn, &cmd),
        Command::Channels(cmd) => crate::channels::cli::run(&paths, &env, cwd.as_deref(), &cmd),
        Command::Pairing(cmd) => crate::channels::cli::pairing(&paths, &cmd),
        Command::Onboard(mut opts) => {
            opts.profile = args.profile.clone();
            crate::onboard::run(*opts, &paths, &env, cwd.as_deref())
        }
    }
}

/// Prints an error and its causes, and returns the failure exit code.
pub fn fail(e: &dyn std::error::Error) -> ExitCode {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        msg.push_str(&format!("\n  caused by: {c}"));
        cause = c.source();
    }
    eprintln!("{msg}");
    ExitCode::from(FAILURE)
}

fn run_config(cmd: ConfigCommand, paths: &Paths, env: &Env, cwd: Option<&Path>) -> ExitCode {
    match cmd {
        ConfigCommand::File => {
            println!("{}", paths.config_path.display());
            ExitCode::SUCCESS
        }
        ConfigCommand::Validate { json } => validate(paths, env, cwd, json),
        ConfigCommand::Get { path, json } => {
            let loaded = match config::load(paths, env, cwd) {
                Ok(l) => l,
                Err(e) => return fail(&e),
            };
            match edit::get(&loaded.raw, &path) {
                Ok(Value::String(s)) if !json => println!("{s}"),
                Ok(v) => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
                Err(e) => return fail(&e),
            }
            ExitCode::SUCCESS
        }
        ConfigCommand::Set { path, value, strict_json } => {
            let value = match edit::parse_cli_value(&value, strict_json) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(USAGE);
                }
            };
            modify(paths, env, cwd, |root| edit::set(root, &path, value).map(|_| format!("Updated {path}.")))
        }
        ConfigCommand::Unset { path } => modify(paths, env, cwd, |root| edit::unset(root, &path).map(|_| format!("Removed {path}."))),
    }
}

/// `sandbox list|recreate|explain`: no gateway needed, the config, the
/// registry and the engine are used directly.
fn run_sandbox(cmd: SandboxCommand, paths: &Paths, env: &Env, cwd: Option<&Path>) -> ExitCode {
    let loaded = match config::load(paths, env, cwd) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let config = &loaded.config;
    let state_dir = paths.state_dir.as_path();
    // As upstream, an unusable engine reads as "no containers" (logged).
    let docker = Docker::from_env(&loaded.env)
        .inspect_err(|e| log::debug!("sandbox: no Docker handle: {e}"))
        .ok();
    let mut out = std::io::stdout().lock();
    let result = match cmd {
        SandboxCommand::List { browser, json } => sandbox_cli::list(config, state_dir, docker.as_ref(), browser, json, &mut out),
        SandboxCommand::Recreate { all, session, agent, browser, force } => {
            let opts = sandbox_cli::RecreateOptions { all, session, agent, browser, force };
            let stdin = std::io::stdin();
            let input_is_terminal = stdin.is_terminal();
            let mut input = stdin.lock();
            let mut err = std::io::stderr().lock();
            let mut io = sandbox_cli::Io { input: &mut input, input_is_terminal, out: &mut out, err: &mut err };
            sandbox_cli::recreate(config, state_dir, docker.as_ref(), &opts, &mut io)
        }
        SandboxCommand::Explain { session, agent, json } => {
            sandbox_cli::run_explain(config, session.as_deref(), agent.as_deref(), json, &mut out)
        }
        SandboxCommand::Exec { session, agent, json, timeout_secs, workdir, command } => {
            let opts = sandbox_cli::ExecOptions { session, agent, json, timeout_secs, workdir, command };
            let mut err = std::io::stderr().lock();
            sandbox_cli::run_exec(config, paths, docker.as_ref(), &opts, &mut out, &mut err)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e),
    }
}

fn validate(paths: &Paths, env: &Env, cwd: Option<&Path>, json: bool) -> ExitCode {
    let result = config::load(paths, env, cwd);
    let file = paths.config_path.display().to_string();
    if json {
        let out = match &result {
            Ok(l) => json!({
                "valid": true,
                "path": file,
                "exists": l.exists,
                "warnings": l.warnings.iter().map(problem_json).collect::<Vec<_>>(),
            }),
            Err(e) => json!({
                "valid": false,
                "path": file,
                "error": e.to_string(),
                "problems": e.problems().iter().map(problem_json).collect::<Vec<_>>(),
            }),
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return if result.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(FAILURE) };
    }
    match result {
        Ok(l) => {
            print_warnings(&l);
            if l.exists {
                println!("Config valid: {file}");
            } else {
                println!("Config valid: {file} (no file; defaults apply)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

pub fn problem_json(p: &config::Problem) -> Value {
    let mut v = json!({"path": p.path, "message": p.message});
    if let Some(at) = &p.at {
        v["file"] = json!(at.file.display().to_string());
        v["line"] = json!(at.pos.line);
        v["column"] = json!(at.pos.column);
    }
    v
}

pub fn print_warnings(l: &config::Loaded) {
    let mut err = std::io::stderr().lock();
    for w in &l.warnings {
        let _ = writeln!(err, "Warning: {}", w.render(&l.path));
    }
}

/// Reads the main config file as written (no includes, no substitution),
/// applies `change`, validates the result, keeps a `.bak` and writes atomically.
fn modify(paths: &Paths, env: &Env, cwd: Option<&Path>, change: impl FnOnce(&mut Value) -> Result<String, edit::Error>) -> ExitCode {
    match config::write::update(paths, env, cwd, change) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e @ (config::write::Error::NotJson5 { .. } | config::write::Error::Invalid(_))) => {
            eprintln!("{e}");
            ExitCode::from(FAILURE)
        }
        Err(e) => fail(&e),
    }
}
