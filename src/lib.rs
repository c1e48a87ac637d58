//! openclaw: a small, synchronous re-implementation of the OpenClaw gateway.
//!
//! The binary (`src/main.rs`) is thin: it parses the command line with
//! [`cli`], sets up logging, and hands the parsed command to the module that
//! owns it. Everything else lives here so the integration tests in `tests/`
//! can reach it. `ARCHITECTURE.md` has the codemap and the invariants.
//!
//! # Log levels
//!
//! Logging goes through the `log` macros only; `env_logger` is set up once in
//! `main` and reads `RUST_LOG` (default `info` for this crate, `warn` for the
//! rest).
//!
//! - `error`: something failed that a user or operator must act on (a sandbox
//!   could not be created, a state file could not be written).
//! - `warn`: something is off but work goes on (an ignored config section, a
//!   recreate that was postponed, a torn transcript line that was dropped).
//! - `info`: one line per event an operator wants in the journal (listening,
//!   a container created or pruned, a config reload).
//! - `debug`: the steps behind an `info` line (engine calls with their status
//!   and time, config resolution).
//! - `trace`: wire-level detail (request lines, frame headers), never bodies
//!   that may carry secrets.
//!
//! Secrets (gateway tokens, passwords, API keys, device secrets) are never
//! logged at any level: values that may hold one are printed through
//! [`config::Redacted`], and HTTP headers are logged from an allow-list.

#![deny(unsafe_code)]

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// At most `max` characters of `s`, with an ellipsis when cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// The settings every outgoing HTTP client shares (model providers, OAuth,
/// chat platforms, health probes): statuses are answers, not errors, no
/// redirects are followed, and we say who we are. Callers add their
/// deadline, buffer sizes or user agent and `build()`.
pub fn http_config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("openclaw/{VERSION}"))
}

pub mod cli;
pub mod app;
pub mod paths;
pub mod config;
pub mod fsutil;
pub mod workspace;
pub mod doctor;
pub mod docker;
pub mod sandbox;
pub mod prune;
pub mod crypto;
pub mod gateway;
pub mod sys;
pub mod companion;
pub mod service;
pub mod agent;
pub mod channels;
pub mod auth;
pub mod onboard;

/// The crate version and the git commit it was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_COMMIT: &str = env!("OPENCLAW_GIT_COMMIT");
