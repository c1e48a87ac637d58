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
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    app::run(args, paths::process_env())
}
