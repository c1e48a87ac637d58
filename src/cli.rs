//! The command line: one lexopt loop per command, producing [`Args`].
//!
//! Parsing only; running a command is `app`'s job. Every command answers
//! `--help` with its own text. Usage errors are returned as `lexopt::Error`
//! and end the process with exit code 2.

use std::ffi::OsString;

use lexopt::prelude::*;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// `--profile <name>`: state in `~/.openclaw-<name>`.
    pub profile: Option<String>,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print this help text and exit 0.
    Help(&'static str),
    Version,
    Config(ConfigCommand),
    Doctor { json: bool, fix: bool },
    Sandbox(SandboxCommand),
    Gateway(crate::gateway::startup::Opts),
    /// `gateway probe`: GET /healthz, for health checks.
    GatewayProbe { url: Option<String>, timeout_ms: Option<u64> },
    /// `gateway install|uninstall|start|stop|restart|status`: the systemd service.
    GatewayService(crate::service::Action),
    /// `health`, `status`, `devices …`: one connection to the running gateway.
    Health { conn: Remote, verbose: bool },
    Status { conn: Remote },
    Dashboard { no_open: bool },
    Devices { conn: Remote, cmd: DevicesCommand },
    /// `agent --message TEXT`: one turn through the running gateway.
    Agent { conn: Remote, message: String, session: Option<String>, agent: Option<String>, timeout_s: u64 },
    /// Boxed: the flags are many.
    Onboard(Box<crate::onboard::Opts>),
    Channels(ChannelsCommand),
    Pairing(PairingCommand),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChannelsCommand {
    Add { channel: String, token: Option<String>, token_file: Option<String>, use_env: bool, account: Option<String> },
    Remove { channel: String, account: Option<String>, delete: bool },
    List { json: bool },
    /// Through the gateway when it runs (`conn`), from the config otherwise.
    Status { conn: Remote, probe: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub enum PairingCommand {
    List { channel: Option<String>, json: bool },
    Approve { channel: String, code: String },
}

/// How a companion command reaches the gateway.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remote {
    pub url: Option<String>,
    pub token: Option<String>,
    pub password: Option<String>,
    pub timeout_ms: Option<u64>,
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DevicesCommand {
    List,
    Approve { request_id: Option<String>, latest: bool },
    Reject { request_id: String },
    Remove { device_id: String },
    Rotate { device_id: String, role: String, scopes: Vec<String> },
    Revoke { device_id: String, role: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum SandboxCommand {
    List { browser: bool, json: bool },
    Recreate { all: bool, session: Option<String>, agent: Option<String>, browser: bool, force: bool },
    Explain { session: Option<String>, agent: Option<String>, json: bool },
    /// Not in upstream: ensure a scope's sandbox as a tool call would and run
    /// one command in it as the `exec` tool would.
    Exec {
        session: Option<String>,
        agent: Option<String>,
        json: bool,
        timeout_secs: Option<u64>,
        workdir: Option<String>,
        command: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfigCommand {
    Get { path: String, json: bool },
    Set { path: String, value: String, strict_json: bool },
    Unset { path: String },
    File,
    Validate { json: bool },
}

pub const HELP: &str = "\
openclaw — a small, fast OpenClaw gateway

Usage: openclaw [--profile <name>] <command> [options]

Commands:
  config     Read, change and validate openclaw.json
  doctor     Check the config, state folder and Docker, and say how to fix problems
  gateway    Run the gateway (HTTP, WebSocket and the Control UI on port 18789)
  health     Ask the running gateway for its health
  status     Summarize the running gateway, agents and sessions
  dashboard  Print the Control UI URL (with the token) and open it
  devices    List, approve and reject device pairing requests; rotate device tokens
  sandbox    List, recreate and explain agent sandbox containers
  agent      Send one message to an agent through the running gateway and print the reply
  channels   Add, list, check and remove Telegram and Discord bots
  pairing    List and approve chat senders waiting for access (DM pairing codes)
  onboard    Set up the gateway, workspace and model (questions, or flags for scripts)

Global options:
  --profile <name>   Use the state folder ~/.openclaw-<name>
  -V, --version      Print the version and the commit it was built from
  -h, --help         Print help (also after any command)

Environment:
  OPENCLAW_STATE_DIR    State folder (default ~/.openclaw)
  OPENCLAW_CONFIG_PATH  Config file (default <state>/openclaw.json)
  OPENCLAW_GATEWAY_PORT, OPENCLAW_GATEWAY_TOKEN, OPENCLAW_GATEWAY_PASSWORD
                        Gateway port and credentials (flags win, then these, then the config)
  DOCKER_HOST           Docker Engine socket (default unix:///var/run/docker.sock)
  OPENCLAW_CONTAINER    The container openclaw runs in, when it talks to the host's engine
                        (default: detected; none: sandbox bind paths are sent as they are)
  RUST_LOG              Log filter (e.g. debug, openclaw=trace)
";

const CONFIG_HELP: &str = "\
Usage: openclaw config <get|set|unset|file|validate> [options]

  get <path> [--json]              Print the value at a dotted path (e.g. gateway.port)
  set <path> <value> [--strict-json]
                                   Set a value (JSON5, else taken as a string); the file is
                                   validated first, a .bak of the old file is kept, and the
                                   write is atomic
  unset <path>                     Remove a key (same safety as set)
  file                             Print the path of the active config file
  validate [--json]                Check the config; exit 0 when valid, 1 when not

Paths use dots and [n] for list items: agents.list[0].sandbox.mode
";

const DOCTOR_HELP: &str = "\
Usage: openclaw doctor [--json] [--fix]

Checks the config, the state folder's permissions, the Docker Engine (socket, permissions,
version) and the sandbox image, and prints a fix for each problem. Exit code 0 only when
nothing is wrong.

  --json   Print the report as JSON
  --fix    Repair what can be repaired safely: drop unrecognized config keys (the old
           file is kept as openclaw.json.bak) and tighten state folder permissions
";

const SANDBOX_HELP: &str = "\
Usage: openclaw sandbox <list|recreate|explain|exec> [options]

  list [--browser] [--json]
        List sandbox containers with status, image match, age and idle time
  recreate (--all | --session <key> | --agent <id>) [--browser] [--force]
        Remove containers so they are recreated with the current config on next use
  explain [--session <key>] [--agent <id>] [--json]
        Show the effective sandbox mode, scope, workspace access and tool policy
  exec [--session <key> | --agent <id>] [--workdir <dir>] [--timeout <secs>] [--json] [--] <command>...
        Ensure that scope's sandbox exactly as a tool call would, run the command in it
        exactly as the exec tool would (sh -lc), print its output and exit with its exit
        code (124 after a timeout). Runs in the sandbox even when the sandbox mode would
        run this session's tools on the host. Not in upstream OpenClaw.

Works without a running gateway: it talks to the Docker Engine and the registry directly.
";

const GATEWAY_HELP: &str = "\
Usage: openclaw gateway [run] [options]

Serves the gateway: WebSocket RPC, the Control UI and /healthz on one port. Stops cleanly
on SIGTERM or SIGINT; reloads openclaw.json when it changes.

  --port <port>            Port (default: OPENCLAW_GATEWAY_PORT, gateway.port, 18789)
  --bind <mode>            loopback | lan | tailnet | auto | custom (default gateway.bind,
                           else loopback; anything but loopback needs a token or password)
  --token <token>          Shared token (also OPENCLAW_GATEWAY_TOKEN, gateway.auth.token)
  --password <password>    Shared password (also OPENCLAW_GATEWAY_PASSWORD)
  --auth <mode>            token | password
  --allow-unconfigured     Start without gateway.mode=local in the config
  --verbose                Debug logging (RUST_LOG overrides)

With no token anywhere and a loopback bind, a token is generated, saved as
gateway.auth.token and printed once with the dashboard URL.

As a systemd service: openclaw gateway install|uninstall|start|stop|restart|status
(see openclaw gateway install --help).

Usage: openclaw gateway probe [--url <url>] [--timeout <ms>]

Asks the local gateway's /healthz (no credentials needed); exit code 0 when it answers
200, 1 otherwise. The image's health check.

  --url <url>              Probe this URL instead (http:// or ws://; default path /healthz)
  --timeout <ms>           Give up after this long (default 3000)
";

const REMOTE_OPTIONS: &str = "\
  --url <ws://host:port>   Gateway URL (default ws://127.0.0.1:<port>, or gateway.remote.url
                           when gateway.mode is remote); needs --token or --password
  --token <token>          Gateway token (default OPENCLAW_GATEWAY_TOKEN, then the config)
  --password <password>    Gateway password
  --timeout <ms>           Give up after this long (default 10000)
  --json                   Print JSON
";

const HEALTH_HELP: &str = "\
Usage: openclaw health [--json] [--timeout <ms>] [--token <t>] [--url <url>] [--verbose]

Asks the running gateway for its health. Exit code 0 when the gateway answered, 1 when it
is unreachable, refuses the credentials or does not answer in time.

  --verbose, --debug       Also print how the gateway was reached
";

const AGENT_HELP: &str = "\
Usage: openclaw agent --message <text> [--session <key>] [--agent <id>] [--timeout <seconds>] [--json]
                      [--token <t> | --password <p>] [--url <url>]

Runs one agent turn through the running gateway: the reply streams to stdout, tool calls are
listed on stderr. The session defaults to the agent's main session (agent:<id>:main); the agent
defaults to the default agent. Exit code 0 when the agent answered, 1 when the turn failed (the
reason is printed), was aborted or the gateway is unreachable.

  -m, --message <text>     The message (required)
  --session <key>          Session key, e.g. agent:main:main or agent:main:work
  --agent <id>             Agent id (its main session), when --session is not given
  --timeout <seconds>      Give up waiting after this long (default 600)
  --json                   Print {runId, sessionKey, status, text, toolCalls, usage} instead
";

const STATUS_HELP: &str = "\
Usage: openclaw status [--json] [--timeout <ms>] [--token <t>] [--url <url>]

Summarizes the gateway (reachable or not), agents, sandbox modes and session stores.
";

const DASHBOARD_HELP: &str = "\
Usage: openclaw dashboard [--no-open]

Prints the Control UI URL with the gateway token in the URL fragment (#token=…, which the
browser never sends to a server) and opens it in a browser.

  --no-open    Only print the URL
";

const DEVICES_HELP: &str = "\
Usage: openclaw devices <command> [options]

  list                                   Pending pairing requests and paired devices
  approve [<requestId>] [--latest]       Approve a request (no id: the most recent one)
  reject <requestId>                     Reject a request
  remove <deviceId>                      Forget a paired device and close its connections
  rotate --device <id> --role <role> [--scope <scope>]...
                                         Issue a new device token (printed as JSON)
  revoke --device <id> --role <role>     Revoke a device token

Options for every command:
";

/// Parses the process's arguments.
pub fn parse() -> Result<Args, lexopt::Error> {
    parse_from(std::env::args_os())
}

/// Parses `args`, whose first item is the program name.
pub fn parse_from<I>(args: I) -> Result<Args, lexopt::Error>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut p = lexopt::Parser::from_iter(args);
    let mut profile = None;
    loop {
        let Some(arg) = p.next()? else {
            return Ok(Args { profile, command: Command::Help(HELP) });
        };
        match arg {
            Long("profile") => profile = Some(p.value()?.string()?),
            Short('V') | Long("version") => return Ok(Args { profile, command: Command::Version }),
            Short('h') | Long("help") => return Ok(Args { profile, command: Command::Help(HELP) }),
            Value(cmd) => {
                let cmd = cmd.string()?;
                let command = match cmd.as_str() {
                    "config" => parse_config(&mut p)?,
                    "doctor" => parse_doctor(&mut p)?,
                    "sandbox" => parse_sandbox(&mut p)?,
                    "gateway" => parse_gateway(&mut p)?,
                    "health" => parse_health(&mut p)?,
                    "status" => parse_status(&mut p)?,
                    "agent" => parse_agent(&mut p)?,
                    "dashboard" => parse_dashboard(&mut p)?,
                    "devices" => parse_devices(&mut p)?,
                    "channels" => parse_channels(&mut p)?,
                    "pairing" => parse_pairing(&mut p)?,
                    "onboard" => parse_onboard(&mut p)?,
                    "help" => Command::Help(HELP),
                    other => return Err(format!("unknown command '{other}' (see 'openclaw --help')").into()),
                };
                return Ok(Args { profile, command });
            }
            _ => return Err(arg.unexpected()),
        }
    }
}

fn parse_config(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut positional: Vec<String> = Vec::new();
    let (mut json, mut strict_json) = (false, false);
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(CONFIG_HELP)),
            Long("json") => json = true,
            Long("strict-json") => strict_json = true,
            Value(v) => positional.push(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let mut rest = positional.into_iter();
    let sub = rest.next().ok_or("missing config command: get, set, unset, file or validate")?;
    let mut need = |what: &str| rest.next().ok_or_else(|| lexopt::Error::from(format!("config {sub}: missing {what}")));
    let cmd = match sub.as_str() {
        "get" => ConfigCommand::Get { path: need("<path>")?, json },
        "set" => ConfigCommand::Set { path: need("<path>")?, value: need("<value>")?, strict_json },
        "unset" => ConfigCommand::Unset { path: need("<path>")? },
        "file" => ConfigCommand::File,
        "validate" => ConfigCommand::Validate { json },
        other => return Err(format!("unknown config command '{other}': use get, set, unset, file or validate").into()),
    };
    if let Some(extra) = rest.next() {
        return Err(format!("unexpected argument '{extra}'").into());
    }
    Ok(Command::Config(cmd))
}

fn parse_doctor(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let (mut json, mut fix) = (false, false);
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(DOCTOR_HELP)),
            Long("json") => json = true,
            Long("fix") | Long("repair") => fix = true,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Doctor { json, fix })
}

fn parse_sandbox(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut sub: Option<String> = None;
    let (mut all, mut browser, mut force, mut json) = (false, false, false, false);
    let (mut session, mut agent, mut workdir, mut timeout_secs) = (None, None, None, None);
    let mut command: Vec<String> = Vec::new();
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(SANDBOX_HELP)),
            Long("workdir") if sub.as_deref() == Some("exec") => workdir = Some(p.value()?.string()?),
            Long("timeout") if sub.as_deref() == Some("exec") => timeout_secs = Some(p.value()?.parse()?),
            Value(v) if sub.as_deref() == Some("exec") => {
                // The command starts here; everything after it is the command's own.
                command.push(v.string()?);
                for rest in p.raw_args()? {
                    command.push(rest.into_string().map_err(|_| "command arguments must be valid UTF-8")?);
                }
            }
            Long("all") => all = true,
            Long("browser") => browser = true,
            Long("force") => force = true,
            Long("json") => json = true,
            Long("session") => session = Some(p.value()?.string()?),
            Long("agent") => agent = Some(p.value()?.string()?),
            Value(v) if sub.is_none() => sub = Some(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let sub = sub.ok_or("missing sandbox command: list, recreate, explain or exec")?;
    // Every option is read above; each subcommand refuses the ones it has no use for.
    let given = [("--all", all), ("--browser", browser), ("--force", force), ("--json", json), ("--session", session.is_some()), ("--agent", agent.is_some())];
    let accepted: &[&str] = match sub.as_str() {
        "list" => &["--browser", "--json"],
        "recreate" => &["--all", "--session", "--agent", "--browser", "--force"],
        "explain" => &["--session", "--agent", "--json"],
        "exec" => &["--session", "--agent", "--json"],
        _ => &[],
    };
    if let Some((flag, _)) = given.iter().find(|(flag, on)| *on && !accepted.is_empty() && !accepted.contains(flag)) {
        return Err(format!("sandbox {sub}: unexpected option '{flag}' (see 'openclaw sandbox --help')").into());
    }
    let cmd = match sub.as_str() {
        "list" => SandboxCommand::List { browser, json },
        "recreate" => SandboxCommand::Recreate { all, session, agent, browser, force },
        "explain" => SandboxCommand::Explain { session, agent, json },
        "exec" => {
            if command.is_empty() {
                return Err("sandbox exec: missing the command to run (e.g. openclaw sandbox exec --session agent:main:x -- id)".into());
            }
            if session.is_some() && agent.is_some() {
                return Err("sandbox exec: give --session or --agent, not both".into());
            }
            SandboxCommand::Exec { session, agent, json, timeout_secs, workdir, command }
        }
        other => return Err(format!("unknown sandbox command '{other}': use list, recreate, explain or exec").into()),
    };
    Ok(Command::Sandbox(cmd))
}

fn parse_gateway(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut o = crate::gateway::startup::Opts::default();
    let mut seen_run = false;
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(GATEWAY_HELP)),
            Long("port") => o.port = Some(p.value()?.string()?),
            Long("bind") => o.bind = Some(p.value()?.string()?),
            Long("token") => o.token = Some(p.value()?.string()?),
            Long("password") => o.password = Some(p.value()?.string()?),
            Long("auth") => o.auth = Some(p.value()?.string()?),
            Long("allow-unconfigured") => o.allow_unconfigured = true,
            Long("verbose") => o.verbose = true,
            Value(v) if !seen_run && v == "run" => seen_run = true,
            Value(v) if !seen_run && v == "probe" => return parse_gateway_probe(p),
            Value(v) if !seen_run && o == Default::default() && SERVICE_COMMANDS.iter().any(|c| v == *c) => {
                return parse_gateway_service(p, v.string()?);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Gateway(o))
}

fn parse_gateway_probe(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let (mut url, mut timeout_ms) = (None, None);
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(GATEWAY_HELP)),
            Long("url") => url = Some(p.value()?.string()?),
            Long("timeout") => timeout_ms = Some(p.value()?.parse::<u64>().map_err(|_| "--timeout needs a number of milliseconds, e.g. 3000")?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::GatewayProbe { url, timeout_ms })
}

/// The `gateway` subcommands that manage the systemd service.
const SERVICE_COMMANDS: &[&str] = &["install", "uninstall", "start", "stop", "restart", "status"];

/// `gateway install [--port N] [--force] | uninstall | start | stop |
/// restart | status [--json]`.
fn parse_gateway_service(p: &mut lexopt::Parser, sub: String) -> Result<Command, lexopt::Error> {
    use crate::service::Action;
    let (mut port, mut force, mut json) = (None, false, false);
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(GATEWAY_SERVICE_HELP)),
            Long("port") if sub == "install" => port = Some(p.value()?.string()?),
            Long("force") if sub == "install" => force = true,
            Long("json") if sub == "status" => json = true,
            _ => return Err(arg.unexpected()),
        }
    }
    let action = match sub.as_str() {
        "install" => Action::Install { port, force },
        "uninstall" => Action::Uninstall,
        "start" => Action::Start,
        "stop" => Action::Stop,
        "restart" => Action::Restart,
        // "status": parse_gateway only passes SERVICE_COMMANDS.
        _ => Action::Status { json },
    };
    Ok(Command::GatewayService(action))
}

const GATEWAY_SERVICE_HELP: &str = "\
Usage: openclaw gateway <install|uninstall|start|stop|restart|status> [options]

Runs the gateway as a systemd service. As root: a system unit,
/etc/systemd/system/openclaw-gateway.service, running as the owner of the state folder.
Otherwise: a user unit, ~/.config/systemd/user/openclaw-gateway.service (systemctl --user;
keep it running after logout with: sudo loginctl enable-linger $USER).

  install [--port <port>] [--force]
                 Write a hardened unit (read-only system, writes only to the state folder,
                 a memory limit, restart on failure), then enable and start it. --force
                 replaces a unit that differs. Without systemd the unit is still written.
  uninstall      Stop and disable the service and remove the unit
  start | stop | restart
                 systemctl start/stop/restart the service
  status [--json]
                 The unit's state and a probe of the gateway's /healthz; exit code 0 only
                 when the gateway answers healthy
";

const REMOTE_FLAGS: &[&str] = &["url", "token", "password", "timeout", "json"];

/// Sets the remote-connection option `name` (one of [`REMOTE_FLAGS`]).
fn remote_arg(p: &mut lexopt::Parser, name: &str, r: &mut Remote) -> Result<(), lexopt::Error> {
    match name {
        "url" => r.url = Some(p.value()?.string()?),
        "token" => r.token = Some(p.value()?.string()?),
        "password" => r.password = Some(p.value()?.string()?),
        "timeout" => r.timeout_ms = Some(p.value()?.parse()?),
        _ => r.json = true,
    }
    Ok(())
}

fn parse_health(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut conn = Remote::default();
    let mut verbose = false;
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(help_with_remote(HEALTH_HELP))),
            Long("verbose") | Long("debug") => verbose = true,
            Long(name) if REMOTE_FLAGS.contains(&name) => {
                let name = name.to_string();
                remote_arg(p, &name, &mut conn)?;
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Health { conn, verbose })
}

fn parse_agent(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut conn = Remote::default();
    let (mut message, mut session, mut agent, mut timeout_s) = (None, None, None, 600u64);
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(AGENT_HELP)),
            Short('m') | Long("message") => message = Some(p.value()?.string()?),
            Long("session") | Long("session-key") => session = Some(p.value()?.string()?),
            Long("agent") => agent = Some(p.value()?.string()?),
            Long("timeout") => {
                let v = p.value()?.string()?;
                timeout_s = v.parse().ok().filter(|s| *s > 0).ok_or_else(|| lexopt::Error::Custom(
                    format!("invalid --timeout {v:?}: give a number of seconds, e.g. 600").into(),
                ))?;
            }
            Long(name) if REMOTE_FLAGS.contains(&name) => {
                let name = name.to_string();
                remote_arg(p, &name, &mut conn)?;
            }
            _ => return Err(arg.unexpected()),
        }
    }
    let message = message
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| lexopt::Error::Custom("agent needs --message <text> (see openclaw agent --help)".into()))?;
    Ok(Command::Agent { conn, message, session, agent, timeout_s })
}

fn parse_status(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut conn = Remote::default();
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(help_with_remote(STATUS_HELP))),
            Long(name) if REMOTE_FLAGS.contains(&name) => {
                let name = name.to_string();
                remote_arg(p, &name, &mut conn)?;
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Status { conn })
}

fn parse_dashboard(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut no_open = false;
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(DASHBOARD_HELP)),
            Long("no-open") => no_open = true,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Dashboard { no_open })
}

fn parse_devices(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut conn = Remote::default();
    let mut positional: Vec<String> = Vec::new();
    let (mut latest, mut device, mut role, mut scopes) = (false, None, None, Vec::new());
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(help_with_remote(DEVICES_HELP))),
            Long("latest") => latest = true,
            Long("device") => device = Some(p.value()?.string()?),
            Long("role") => role = Some(p.value()?.string()?),
            Long("scope") => scopes.push(p.value()?.string()?),
            Long(name) if REMOTE_FLAGS.contains(&name) => {
                let name = name.to_string();
                remote_arg(p, &name, &mut conn)?;
            }
            Value(v) => positional.push(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let mut rest = positional.into_iter();
    let sub = rest.next().unwrap_or_else(|| "list".to_string());
    let arg1 = rest.next();
    if let Some(extra) = rest.next() {
        return Err(format!("devices {sub}: unexpected argument '{extra}'").into());
    }
    let need = |v: Option<String>, what: &str| v.ok_or_else(|| lexopt::Error::from(format!("devices {sub}: missing {what}")));
    let cmd = match sub.as_str() {
        "list" => DevicesCommand::List,
        "approve" => DevicesCommand::Approve { request_id: arg1.clone(), latest },
        "reject" => DevicesCommand::Reject { request_id: need(arg1.clone(), "<requestId>")? },
        "remove" => DevicesCommand::Remove { device_id: need(arg1.clone().or(device.clone()), "<deviceId>")? },
        "rotate" => DevicesCommand::Rotate { device_id: need(device.clone(), "--device <id>")?, role: need(role.clone(), "--role <role>")?, scopes: scopes.clone() },
        "revoke" => DevicesCommand::Revoke { device_id: need(device.clone(), "--device <id>")?, role: need(role.clone(), "--role <role>")? },
        other => return Err(format!("unknown devices command '{other}': use list, approve, reject, remove, rotate or revoke").into()),
    };
    if latest && !matches!(cmd, DevicesCommand::Approve { request_id: None, .. }) {
        return Err("--latest goes with 'devices approve' and no request id".into());
    }
    if arg1.is_some() && matches!(cmd, DevicesCommand::List | DevicesCommand::Rotate { .. } | DevicesCommand::Revoke { .. }) {
        return Err(format!("devices {sub}: unexpected argument").into());
    }
    Ok(Command::Devices { conn, cmd })
}

const CHANNELS_HELP: &str = "\
Usage: openclaw channels <add|list|status|remove> [options]

  add --channel telegram|discord (--token <token> | --token-file <path> | --use-env) [--account <id>]
        Save a bot token in openclaw.json (channels.telegram.botToken, channels.discord.token,
        or channels.<channel>.accounts.<id>); --use-env reads TELEGRAM_BOT_TOKEN /
        DISCORD_BOT_TOKEN instead. A running gateway connects it without a restart.
  list [--json]
        Configured accounts and where their tokens come from
  status [--probe] [--json] [--timeout <ms>] [--token <t>] [--url <url>]
        Connection state, last error and pending pairing requests, from the running gateway
        (from the config when it is not running); --probe also checks each token live
  remove --channel <channel> [--account <id>] [--delete]
        Disable an account (--delete removes its settings)
";

const PAIRING_HELP: &str = "\
Usage: openclaw pairing <list|approve> [options]

  list [<channel>] [--json]       Pending requests (codes expire after one hour)
  approve <channel> <code>        Let that sender talk to the agent

Unknown senders of a direct message get an 8-character code and their message is not
processed (dmPolicy \"pairing\", the default). State: ~/.openclaw/credentials/.
";

fn parse_channels(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut conn = Remote::default();
    let mut sub: Option<String> = None;
    let (mut channel, mut token, mut token_file, mut account) = (None, None, None, None);
    let (mut use_env, mut delete, mut probe) = (false, false, false);
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(CHANNELS_HELP)),
            Long("channel") => channel = Some(p.value()?.string()?),
            Long("token") if sub.as_deref() == Some("add") => token = Some(p.value()?.string()?),
            Long("token-file") => token_file = Some(p.value()?.string()?),
            Long("use-env") => use_env = true,
            Long("account") => account = Some(p.value()?.string()?),
            Long("delete") => delete = true,
            Long("probe") => probe = true,
            Long(name) if REMOTE_FLAGS.contains(&name) => {
                let name = name.to_string();
                remote_arg(p, &name, &mut conn)?;
            }
            Value(v) if sub.is_none() => sub = Some(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let sub = sub.unwrap_or_else(|| "list".to_string());
    let need_channel = || channel.clone().ok_or_else(|| lexopt::Error::from(format!("channels {sub}: missing --channel telegram|discord")));
    let cmd = match sub.as_str() {
        "add" => ChannelsCommand::Add { channel: need_channel()?, token, token_file, use_env, account },
        "remove" => ChannelsCommand::Remove { channel: need_channel()?, account, delete },
        "list" => ChannelsCommand::List { json: conn.json },
        "status" => ChannelsCommand::Status { conn, probe },
        other => return Err(format!("unknown channels command '{other}': use add, list, status or remove").into()),
    };
    Ok(Command::Channels(cmd))
}

fn parse_pairing(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut json = false;
    let mut positional: Vec<String> = Vec::new();
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(PAIRING_HELP)),
            Long("json") => json = true,
            Value(v) => positional.push(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let mut rest = positional.into_iter();
    let sub = rest.next().unwrap_or_else(|| "list".to_string());
    let (a, b, extra) = (rest.next(), rest.next(), rest.next());
    if let Some(x) = extra {
        return Err(format!("pairing {sub}: unexpected argument '{x}'").into());
    }
    let cmd = match sub.as_str() {
        "list" if b.is_none() => PairingCommand::List { channel: a, json },
        "approve" => match (a, b) {
            (Some(channel), Some(code)) => PairingCommand::Approve { channel, code },
            _ => return Err("usage: openclaw pairing approve <channel> <code>".into()),
        },
        "list" => return Err("usage: openclaw pairing list [<channel>] [--json]".into()),
        other => return Err(format!("unknown pairing command '{other}': use list or approve").into()),
    };
    Ok(Command::Pairing(cmd))
}

const ONBOARD_HELP: &str = "\
Usage: openclaw onboard [options]

Sets up openclaw: the workspace, the model and its credentials, the gateway (port, bind,
auth token) and chat channels, then writes openclaw.json (validated, atomic, .bak kept;
an existing gateway token is reused). Asks questions on the terminal unless
--non-interactive is given.

  --non-interactive          No questions; needs --accept-risk
  --accept-risk              Acknowledge that an agent with tools is powerful and risky
  --flow <flow>              quickstart (defaults) | manual (ask everything)
  --mode <mode>              local (this machine runs the gateway) | remote (client settings only)
  --remote-url <ws://…>      Remote gateway URL (--mode remote)
  --remote-token <token>     Remote gateway token
  --reset                    Move the config, credentials and sessions aside first
  --reset-scope <scope>      config | config+creds+sessions (default) | full (also the workspace)
  --workspace <dir>          Agent workspace (default ~/.openclaw/workspace)
  --gateway-port <port>      Gateway port (default: the config's, else 18789)
  --gateway-bind <mode>      loopback | lan | tailnet | auto | custom
  --gateway-auth <mode>      token | password
  --gateway-token <token>    Use this gateway token (replaces the config's)
  --gateway-password <pw>    Gateway password (password auth)
  --auth-choice <choice>     skip | openai-api-key | anthropic-api-key | openai-codex |
                             custom-api-key | ollama
  --openai-api-key <key>     OpenAI API key (else OPENAI_API_KEY)
  --anthropic-api-key <key>  Anthropic API key (else ANTHROPIC_API_KEY)
  --custom-base-url <url>    Custom provider URL (also the Ollama URL)
  --custom-model-id <id>     Custom provider model (also the Ollama model)
  --custom-api-key <key>     Custom provider key (else CUSTOM_API_KEY)
  --custom-compatibility <c> openai (default) | anthropic
  --custom-provider-id <id>  Provider id for the custom provider (default custom)
  --secret-input-mode <m>    plaintext (default) | ref (save a reference to the key's
                             environment variable instead of the key)
  --skip-channels, --skip-skills, --skip-ui, --skip-health
                             Skip those steps (non-interactive runs otherwise wait up to
                             15 s for the gateway to answer a health check)
  --install-daemon           Install the gateway as a systemd service (as `openclaw gateway
                             install`; not in a container)
  --skip-daemon, --no-install-daemon
                             Do not set up a service
  --json                     Print a JSON summary (progress goes to stderr)

OpenAI Codex (--auth-choice openai-codex) signs in with a browser. The browser is sent back
to http://localhost:1455/auth/callback; when that page cannot load (headless, Docker),
paste the full URL from the browser's address bar into the terminal.
";

fn parse_onboard(p: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut o = crate::onboard::Opts::default();
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(ONBOARD_HELP)),
            Long(name) if crate::onboard::Opts::SWITCHES.contains(&name) => {
                let name = name.to_string();
                o.switch(&name);
            }
            Long(name) if crate::onboard::Opts::VALUES.contains(&name) => {
                let name = name.to_string();
                let value = p.value()?.string()?;
                o.set(&name, value);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Onboard(Box::new(o)))
}

/// A command's help followed by the shared connection options.
fn help_with_remote(text: &'static str) -> &'static str {
    // Leaked once per --help invocation: a process that prints help exits.
    Box::leak(format!("{text}{}{REMOTE_OPTIONS}", if text.ends_with(":\n") { "" } else { "\nOptions:\n" }).into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_from(std::iter::once("openclaw").chain(args.iter().copied())).map_err(|e| e.to_string())
    }

    #[test]
    fn commands() {
        assert_eq!(parse(&["--version"]).unwrap().command, Command::Version);
        assert_eq!(parse(&[]).unwrap().command, Command::Help(HELP));
        let a = parse(&["--profile", "work", "config", "set", "gateway.port", "19000"]).unwrap();
        assert_eq!(a.profile.as_deref(), Some("work"));
        assert_eq!(
            a.command,
            Command::Config(ConfigCommand::Set { path: "gateway.port".into(), value: "19000".into(), strict_json: false })
        );
        assert_eq!(parse(&["config", "get", "x", "--json"]).unwrap().command, Command::Config(ConfigCommand::Get { path: "x".into(), json: true }));
        assert_eq!(parse(&["doctor", "--json"]).unwrap().command, Command::Doctor { json: true, fix: false });
        assert_eq!(parse(&["config", "--help"]).unwrap().command, Command::Help(CONFIG_HELP));
        assert_eq!(parse(&["doctor", "-h"]).unwrap().command, Command::Help(DOCTOR_HELP));
    }

    #[test]
    fn sandbox_commands() {
        assert_eq!(
            parse(&["sandbox", "recreate", "--agent", "work", "--force"]).unwrap().command,
            Command::Sandbox(SandboxCommand::Recreate { all: false, session: None, agent: Some("work".into()), browser: false, force: true })
        );
        assert_eq!(parse(&["sandbox", "list", "--json"]).unwrap().command, Command::Sandbox(SandboxCommand::List { browser: false, json: true }));
        assert_eq!(
            parse(&["sandbox", "explain", "--session", "agent:main:x", "--json"]).unwrap().command,
            Command::Sandbox(SandboxCommand::Explain { session: Some("agent:main:x".into()), agent: None, json: true })
        );
        assert_eq!(
            parse(&["sandbox", "recreate", "--all", "--browser"]).unwrap().command,
            Command::Sandbox(SandboxCommand::Recreate { all: true, session: None, agent: None, browser: true, force: false })
        );
        assert_eq!(parse(&["sandbox", "--help"]).unwrap().command, Command::Help(SANDBOX_HELP));
        assert_eq!(parse(&["sandbox", "list", "-h"]).unwrap().command, Command::Help(SANDBOX_HELP));
        assert!(parse(&["sandbox", "frob"]).unwrap_err().contains("unknown sandbox command"));
        assert!(parse(&["sandbox"]).unwrap_err().contains("missing sandbox command"));
        assert!(parse(&["sandbox", "list", "--force"]).unwrap_err().contains("unexpected option '--force'"));
        assert!(parse(&["sandbox", "explain", "--all"]).unwrap_err().contains("unexpected option '--all'"));
        assert!(parse(&["sandbox", "recreate", "--json"]).unwrap_err().contains("unexpected option '--json'"));
        assert!(parse(&["sandbox", "list", "extra"]).is_err());
        assert!(parse(&["sandbox", "recreate", "--session"]).is_err(), "--session needs a value");
    }

    #[test]
    fn sandbox_exec_takes_the_rest_as_the_command() {
        assert_eq!(
            parse(&["sandbox", "exec", "--session", "agent:main:x", "--timeout", "5", "--", "sh", "-c", "echo --json"]).unwrap().command,
            Command::Sandbox(SandboxCommand::Exec {
                session: Some("agent:main:x".into()),
                agent: None,
                json: false,
                timeout_secs: Some(5),
                workdir: None,
                command: vec!["sh".into(), "-c".into(), "echo --json".into()],
            })
        );
        assert!(matches!(
            parse(&["sandbox", "exec", "--agent", "work", "id", "-u"]).unwrap().command,
            Command::Sandbox(SandboxCommand::Exec { command, .. }) if command == ["id", "-u"]
        ));
        assert!(parse(&["sandbox", "exec"]).unwrap_err().contains("missing the command"));
        assert!(parse(&["sandbox", "exec", "--session", "a", "--agent", "b", "--", "id"]).unwrap_err().contains("not both"));
        assert!(parse(&["sandbox", "list", "--timeout", "3"]).is_err());
    }

    #[test]
    fn gateway_and_companions() {
        let Command::Gateway(o) = parse(&["gateway", "run", "--port", "19000", "--bind", "lan", "--token", "t", "--allow-unconfigured"]).unwrap().command else {
            panic!()
        };
        assert_eq!((o.port.as_deref(), o.bind.as_deref(), o.token.as_deref(), o.allow_unconfigured), (Some("19000"), Some("lan"), Some("t"), true));
        assert!(parse(&["gateway", "--frob"]).is_err());
        assert_eq!(parse(&["gateway", "probe"]).unwrap().command, Command::GatewayProbe { url: None, timeout_ms: None });
        assert_eq!(
            parse(&["gateway", "probe", "--url", "http://127.0.0.1:1/readyz", "--timeout", "500"]).unwrap().command,
            Command::GatewayProbe { url: Some("http://127.0.0.1:1/readyz".into()), timeout_ms: Some(500) }
        );
        assert!(parse(&["gateway", "probe", "--timeout", "soon"]).unwrap_err().contains("milliseconds"));
        assert!(parse(&["gateway", "probe", "--port", "1"]).is_err());
        assert_eq!(
            parse(&["health", "--json", "--timeout", "500", "--token", "x"]).unwrap().command,
            Command::Health { conn: Remote { token: Some("x".into()), timeout_ms: Some(500), json: true, ..Remote::default() }, verbose: false }
        );
        assert_eq!(parse(&["dashboard", "--no-open"]).unwrap().command, Command::Dashboard { no_open: true });
        assert_eq!(
            parse(&["devices", "approve", "--latest"]).unwrap().command,
            Command::Devices { conn: Remote::default(), cmd: DevicesCommand::Approve { request_id: None, latest: true } }
        );
        assert!(matches!(parse(&["devices"]).unwrap().command, Command::Devices { cmd: DevicesCommand::List, .. }));
        assert!(matches!(
            parse(&["devices", "rotate", "--device", "d", "--role", "operator", "--scope", "operator.read"]).unwrap().command,
            Command::Devices { cmd: DevicesCommand::Rotate { scopes, .. }, .. } if scopes == ["operator.read"]
        ));
        assert!(parse(&["devices", "reject"]).unwrap_err().contains("missing <requestId>"));
        assert!(parse(&["devices", "approve", "abc", "--latest"]).is_err());
        assert!(parse(&["health", "--timeout", "soon"]).is_err());
    }

    #[test]
    fn gateway_service_commands() {
        use crate::service::Action;
        let service = |args: &[&str]| match parse(args).unwrap().command {
            Command::GatewayService(a) => a,
            other => panic!("{args:?} gave {other:?}"),
        };
        assert_eq!(service(&["gateway", "install"]), Action::Install { port: None, force: false });
        assert_eq!(service(&["gateway", "install", "--port", "19001", "--force"]), Action::Install { port: Some("19001".into()), force: true });
        assert_eq!(service(&["gateway", "uninstall"]), Action::Uninstall);
        assert_eq!(service(&["gateway", "start"]), Action::Start);
        assert_eq!(service(&["gateway", "stop"]), Action::Stop);
        assert_eq!(service(&["gateway", "restart"]), Action::Restart);
        assert_eq!(service(&["gateway", "status"]), Action::Status { json: false });
        assert_eq!(service(&["gateway", "status", "--json"]), Action::Status { json: true });
        assert_eq!(parse(&["--profile", "work", "gateway", "stop"]).unwrap().profile.as_deref(), Some("work"));
        assert_eq!(parse(&["gateway", "install", "--help"]).unwrap().command, Command::Help(GATEWAY_SERVICE_HELP));
        assert!(parse(&["gateway", "status", "--force"]).is_err(), "--force is install's");
        assert!(parse(&["gateway", "start", "--port", "1"]).is_err(), "--port is install's");
        assert!(parse(&["gateway", "install", "--json"]).is_err());
        assert!(parse(&["gateway", "install", "extra"]).is_err());
        assert!(parse(&["gateway", "install", "--port"]).is_err(), "--port needs a value");
        assert!(parse(&["gateway", "frob"]).is_err());
        assert!(parse(&["gateway", "--port", "1", "install"]).is_err(), "flags of the server do not go with a service command");
        assert!(matches!(parse(&["gateway", "run", "--port", "1"]).unwrap().command, Command::Gateway(_)));
    }

    #[test]
    fn onboard_flags() {
        let Command::Onboard(o) = parse(&["onboard", "--non-interactive", "--accept-risk", "--mode", "local", "--gateway-token", "t", "--no-install-daemon"]).unwrap().command else {
            panic!()
        };
        assert!(o.non_interactive && o.accept_risk && o.skip_daemon);
        assert_eq!((o.mode.as_deref(), o.gateway_token.as_deref()), (Some("local"), Some("t")));
        assert_eq!(parse(&["onboard", "-h"]).unwrap().command, Command::Help(ONBOARD_HELP));
        let Command::Onboard(o) = parse(&["onboard", "--install-daemon"]).unwrap().command else { panic!() };
        assert!(o.install_daemon && !o.skip_daemon);
        assert!(parse(&["onboard", "--mode"]).is_err(), "--mode needs a value");
        assert!(parse(&["onboard", "extra"]).is_err());
    }

    #[test]
    fn usage_errors() {
        assert!(parse(&["frobnicate"]).unwrap_err().contains("unknown command"));
        assert!(parse(&["config"]).unwrap_err().contains("missing config command"));
        assert!(parse(&["config", "set", "a"]).unwrap_err().contains("missing <value>"));
        assert!(parse(&["config", "get", "a", "b"]).unwrap_err().contains("unexpected argument"));
        assert!(parse(&["doctor", "--bogus"]).is_err());
    }
}
