use std::process::ExitCode;

use openclaw::{app, cli, paths};

fn main() -> ExitCode {
    let args = match cli::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("openclaw: {e}\nRun 'openclaw --help' for usage.");
            return ExitCode::from(app::USAGE);
        }
    };
    // The gateway logs its events (info); other commands only problems.
    let default_filter = match &args.command {
        cli::Command::Gateway(o) if o.verbose => "openclaw=debug,warn",
        cli::Command::Gateway(_) => "openclaw=info,warn",
        _ => "warn",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
        // Their debug and trace lines show request URLs and raw requests, with
        // bot tokens in the URLs (Telegram) and keys in headers.
        .filter_module("ureq", log::LevelFilter::Info)
        .filter_module("ureq_proto", log::LevelFilter::Info)
        .target(env_logger::Target::Pipe(Box::new(openclaw::gateway::logbuf::Tee)))
        .init();
    app::run(args, paths::process_env())
}
